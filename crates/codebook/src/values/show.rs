//! Values shown: rendered for reading (language-neutral, never free text except a text
//! value itself), written back in operator syntax, and as JSON. None of these panics on any
//! value, in range or not.

use parley_proto::value::{Point, Value};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::scaled_text;
use crate::schema::{FieldType, text_in};

/// A value rendered for a field of type `kind` in `lang`, or `None` if the value does not fit
/// the type (another type, a choice key not offered, a time no calendar here can show).
pub(crate) fn render_value(kind: &FieldType, value: &Value, lang: &str) -> Option<String> {
    match (kind, value) {
        (FieldType::Text { .. }, Value::Text(text)) => Some(text.clone()),
        (FieldType::Integer { .. }, Value::Integer(n)) => Some(n.to_string()),
        (FieldType::Choice { values }, Value::Choice(key)) => {
            let value = values.iter().find(|value| value.key == *key)?;
            text_in(&value.labels, lang).map(str::to_owned)
        }
        (FieldType::Datetime, Value::Time(ms)) => render_time(*ms),
        (FieldType::Duration { .. }, Value::Duration(s)) => Some(render_duration(*s)),
        (FieldType::Coordinates, Value::Point(point)) => Some(render_point(point)),
        (FieldType::Area, Value::Circle { centre, radius_m }) => Some(format!(
            "{} r = {} km",
            render_point(centre),
            scaled_text((*radius_m).into(), 3)
        )),
        (FieldType::Area, Value::Polygon(points)) => {
            let points: Vec<String> = points.iter().map(render_point).collect();
            Some(points.join(" – "))
        }
        _ => None,
    }
}

fn utc(ms: u64) -> Option<OffsetDateTime> {
    let seconds = i64::try_from(ms / 1000).ok()?;
    let time = OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    let nanos = u32::try_from(ms % 1000).ok()? * 1_000_000;
    time.replace_nanosecond(nanos).ok()
}

/// `2026-12-03 10:00 UTC`, with `:SS` when the seconds are not zero.
pub(crate) fn render_time(ms: u64) -> Option<String> {
    let time = utc(ms)?;
    let mut text = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute()
    );
    if time.second() != 0 {
        text.push_str(&format!(":{:02}", time.second()));
    }
    text.push_str(" UTC");
    Some(text)
}

/// `1 d 2 h 30 min 15 s`, units that are zero left out; `0 s` for nothing.
fn render_duration(seconds: u64) -> String {
    let parts = duration_parts(seconds);
    let names = ["d", "h", "min", "s"];
    let shown: Vec<String> = parts
        .iter()
        .zip(names)
        .filter(|(count, _)| **count != 0)
        .map(|(count, name)| format!("{count} {name}"))
        .collect();
    if shown.is_empty() {
        "0 s".into()
    } else {
        shown.join(" ")
    }
}

fn duration_parts(seconds: u64) -> [u64; 4] {
    [
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    ]
}

/// A duration in operator syntax: `1d2h30m15s`, zero units left out; `0s` for nothing.
pub(crate) fn duration_input(seconds: u64) -> String {
    let parts = duration_parts(seconds);
    let shown: String = parts
        .iter()
        .zip(['d', 'h', 'm', 's'])
        .filter(|(count, _)| **count != 0)
        .map(|(count, unit)| format!("{count}{unit}"))
        .collect();
    if shown.is_empty() { "0s".into() } else { shown }
}

/// `55.755800°N 37.617300°E`.
fn render_point(point: &Point) -> String {
    let degrees = |e6: i32, positive: char, negative: char| {
        let e6 = i64::from(e6);
        let hemisphere = if e6 < 0 { negative } else { positive };
        let magnitude = e6.unsigned_abs();
        format!(
            "{}.{:06}°{hemisphere}",
            magnitude / 1_000_000,
            magnitude % 1_000_000
        )
    };
    format!(
        "{} {}",
        degrees(point.lat_e6, 'N', 'S'),
        degrees(point.lon_e6, 'E', 'W')
    )
}

fn point_input(point: &Point) -> String {
    format!(
        "{},{}",
        scaled_text(point.lat_e6.into(), 6),
        scaled_text(point.lon_e6.into(), 6)
    )
}

/// A value in the operator syntax that parses back to it (docs/codebook.md, "Values"): text
/// as it is, `-12`, a choice's key, `2026-12-03T10:00:00Z`, `1h30m`, `55.7558,37.6173`,
/// `55.7558,37.6173/50`, `1,2;3,4;5,6`. A time beyond 9999 (which no codebook accepts) is
/// written as its milliseconds.
pub fn input_text(value: &Value) -> String {
    match value {
        Value::Text(text) | Value::Choice(text) => text.clone(),
        Value::Integer(n) => n.to_string(),
        Value::Time(ms) => time_rfc3339(*ms).unwrap_or_else(|| ms.to_string()),
        Value::Duration(s) => duration_input(*s),
        Value::Point(point) => point_input(point),
        Value::Circle { centre, radius_m } => format!(
            "{}/{}",
            point_input(centre),
            scaled_text((*radius_m).into(), 3)
        ),
        Value::Polygon(points) => {
            let points: Vec<String> = points.iter().map(point_input).collect();
            points.join(";")
        }
    }
}

fn time_rfc3339(ms: u64) -> Option<String> {
    utc(ms)?.format(&Rfc3339).ok()
}

fn point_json(point: &Point) -> serde_json::Value {
    json!({
        "lat": f64::from(point.lat_e6) / 1e6,
        "lon": f64::from(point.lon_e6) / 1e6,
    })
}

/// The JSON form of a value, for the operator API and exports:
///
/// | type | JSON |
/// | --- | --- |
/// | text | `"…"` |
/// | integer | `-12` |
/// | choice | `"key"` |
/// | datetime | `"2026-12-03T10:00:00Z"` (RFC 3339, UTC; `null` beyond 9999) |
/// | duration | `{"seconds": 5400}` |
/// | coordinates | `{"lat": 55.7558, "lon": 37.6173}` |
/// | area | `{"centre": {"lat": …, "lon": …}, "radius_km": 50.0}` or `{"polygon": [{"lat": …, "lon": …}, …]}` |
pub fn value_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Text(text) | Value::Choice(text) => json!(text),
        Value::Integer(n) => json!(n),
        Value::Time(ms) => time_rfc3339(*ms).map_or(serde_json::Value::Null, |text| json!(text)),
        Value::Duration(s) => json!({ "seconds": s }),
        Value::Point(point) => point_json(point),
        Value::Circle { centre, radius_m } => json!({
            "centre": point_json(centre),
            // Exact to the metre: radii are at most 2e7 m, far inside f64's exact integers.
            "radius_km": *radius_m as f64 / 1e3,
        }),
        Value::Polygon(points) => {
            let points: Vec<serde_json::Value> = points.iter().map(point_json).collect();
            json!({ "polygon": points })
        }
    }
}
