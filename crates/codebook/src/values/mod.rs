//! Typed values against a field's type: operator input parsed ([`input`]), values checked
//! (here), and values shown ([`show`]: rendering, operator syntax, JSON).
//!
//! There is one check per bound. Parsing operator input only builds a value — calling the
//! same range checks itself where the value could not be represented otherwise (a latitude of
//! 1e12, a radius of -5 km) — and every value, typed or received, then goes through
//! [`check_value`].

mod input;
mod show;

pub(crate) use input::parse_input;
pub use show::{input_text, value_json};
pub(crate) use show::{render_time, render_value};

use parley_proto::limits::{AREA_RADIUS_M_MAX, POLYGON_POINTS_MAX, POLYGON_POINTS_MIN};
use parley_proto::value::{LAT_E6_MAX, LON_E6_MAX, Value};

use crate::error::UseErrorKind;
use crate::limits::DATETIME_MS_MAX;
use crate::schema::{ChoiceValue, FieldType};
use crate::text::{drives_display, is_blank};

/// Checks `value` against the field type `kind`: its type, then its bounds.
pub(crate) fn check_value(kind: &FieldType, value: &Value) -> Result<(), UseErrorKind> {
    match (kind, value) {
        (FieldType::Text { max_chars }, Value::Text(text)) => check_text(text, *max_chars),
        (FieldType::Integer { min, max }, Value::Integer(n)) => {
            check_integer((*n).into(), *min, *max, &n.to_string())
        }
        (FieldType::Choice { values }, Value::Choice(key)) => check_choice(values, key),
        (FieldType::Datetime, Value::Time(ms)) => check_time(*ms),
        (FieldType::Duration { min_s, max_s }, Value::Duration(s)) => {
            check_duration((*s).into(), *min_s, *max_s, &show::duration_input(*s))
        }
        (FieldType::Coordinates, Value::Point(point)) => {
            check_point(point.lat_e6.into(), point.lon_e6.into())
        }
        (FieldType::Area, Value::Circle { centre, radius_m }) => {
            check_point(centre.lat_e6.into(), centre.lon_e6.into())?;
            check_radius_m((*radius_m).into())
        }
        (FieldType::Area, Value::Polygon(points)) => {
            check_vertex_count(points.len())?;
            for (index, point) in points.iter().enumerate() {
                check_point(point.lat_e6.into(), point.lon_e6.into())
                    .map_err(|kind| vertex_out_of_range(index, kind.to_string()))?;
            }
            Ok(())
        }
        _ => Err(UseErrorKind::WrongType {
            expected: kind.name(),
            found: value.type_name(),
        }),
    }
}

/// A vertex's range error, naming the vertex (`index` from 0).
fn vertex_out_of_range(index: usize, message: String) -> UseErrorKind {
    UseErrorKind::OutOfRange(format!("vertex {}: {message}", index + 1))
}

fn check_text(text: &str, max_chars: usize) -> Result<(), UseErrorKind> {
    if is_blank(text) {
        return Err(UseErrorKind::Malformed("the text is empty".into()));
    }
    let chars = text.chars().count();
    if chars > max_chars {
        let message = format!("{chars} characters, over the limit of {max_chars}");
        return Err(UseErrorKind::OutOfRange(message));
    }
    if text.chars().any(drives_display) {
        let message = "the text holds a control or text-direction character".into();
        return Err(UseErrorKind::Malformed(message));
    }
    Ok(())
}

/// `shown` is how the value is written in the message.
fn check_integer(n: i128, min: i64, max: i64, shown: &str) -> Result<(), UseErrorKind> {
    if !(i128::from(min)..=i128::from(max)).contains(&n) {
        return Err(integer_out_of_range(shown, min, max));
    }
    Ok(())
}

fn integer_out_of_range(shown: &str, min: i64, max: i64) -> UseErrorKind {
    UseErrorKind::OutOfRange(format!("{shown} is out of range ({min} to {max})"))
}

fn check_choice(values: &[ChoiceValue], key: &str) -> Result<(), UseErrorKind> {
    if values.iter().any(|value| value.key == key) {
        return Ok(());
    }
    let keys: Vec<&str> = values.iter().map(|value| value.key.as_str()).collect();
    let message = format!("{key:?} is not one of: {}", keys.join(", "));
    Err(UseErrorKind::Malformed(message))
}

fn check_time(ms: u64) -> Result<(), UseErrorKind> {
    if !ms.is_multiple_of(1000) {
        let message = format!("{ms} ms is not a whole second; times are in whole seconds");
        return Err(UseErrorKind::Malformed(message));
    }
    if ms > DATETIME_MS_MAX {
        let message = format!("{ms} ms is after 9999-12-31T23:59:59Z, the latest time");
        return Err(UseErrorKind::OutOfRange(message));
    }
    Ok(())
}

/// `shown` is how the value is written in the message.
fn check_duration(s: u128, min_s: u64, max_s: u64, shown: &str) -> Result<(), UseErrorKind> {
    if !(u128::from(min_s)..=u128::from(max_s)).contains(&s) {
        let min = show::duration_input(min_s);
        let max = show::duration_input(max_s);
        let message = format!("{shown} is out of range ({min} to {max})");
        return Err(UseErrorKind::OutOfRange(message));
    }
    Ok(())
}

/// Checks a point given in microdegrees.
fn check_point(lat_e6: i128, lon_e6: i128) -> Result<(), UseErrorKind> {
    let out = |what: &str, value: i128, max: i32| {
        let shown = scaled_text(value, 6);
        let max = max / 1_000_000;
        UseErrorKind::OutOfRange(format!("{what} {shown} is out of range (-{max} to {max})"))
    };
    if lat_e6.abs() > LAT_E6_MAX.into() {
        return Err(out("latitude", lat_e6, LAT_E6_MAX));
    }
    if lon_e6.abs() > LON_E6_MAX.into() {
        return Err(out("longitude", lon_e6, LON_E6_MAX));
    }
    Ok(())
}

/// Checks a circle's radius given in metres.
fn check_radius_m(radius_m: i128) -> Result<(), UseErrorKind> {
    if !(1..=i128::from(AREA_RADIUS_M_MAX)).contains(&radius_m) {
        let shown = scaled_text(radius_m, 3);
        let max = scaled_text(AREA_RADIUS_M_MAX.into(), 3);
        let message = format!("radius {shown} km is out of range (above 0, up to {max} km)");
        return Err(UseErrorKind::OutOfRange(message));
    }
    Ok(())
}

fn check_vertex_count(count: usize) -> Result<(), UseErrorKind> {
    if !(POLYGON_POINTS_MIN..=POLYGON_POINTS_MAX).contains(&count) {
        let message = format!(
            "a polygon of {count} vertices; a polygon has {POLYGON_POINTS_MIN} to {POLYGON_POINTS_MAX}"
        );
        return Err(UseErrorKind::OutOfRange(message));
    }
    Ok(())
}

/// `value / 10^decimals` in decimal, without trailing zeros: `55_755_800, 6` → `55.7558`.
pub(crate) fn scaled_text(value: i128, decimals: u32) -> String {
    let scale = 10i128.pow(decimals);
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    let scale = scale.unsigned_abs();
    let (whole, fraction) = (magnitude / scale, magnitude % scale);
    if fraction == 0 {
        return format!("{sign}{whole}");
    }
    let width = decimals as usize;
    let fraction = format!("{fraction:0width$}");
    format!("{sign}{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_text_trims() {
        for (value, decimals, expect) in [
            (55_755_800, 6, "55.7558"),
            (91_000_000, 6, "91"),
            (-5, 6, "-0.000005"),
            (0, 6, "0"),
            (-5_000, 3, "-5"),
            (1_500, 3, "1.5"),
            (i128::MIN, 6, "-170141183460469231731687303715884.105728"),
        ] {
            assert_eq!(scaled_text(value, decimals), expect);
        }
    }
}
