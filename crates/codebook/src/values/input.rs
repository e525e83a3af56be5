//! Operator input to typed values (the syntax is documented in docs/codebook.md, "Values").
//! Only the shape is judged here; the bounds are [`super::check_value`]'s, except where a
//! value could not be represented at all (it then gets the same check's message).

use parley_proto::limits::POLYGON_POINTS_MIN;
use parley_proto::value::{Point, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{check_duration, check_point, check_radius_m, check_vertex_count, vertex_out_of_range};
use crate::error::UseErrorKind;
use crate::limits::{DEGREE_DECIMALS_MAX, RADIUS_KM_DECIMALS_MAX};
use crate::schema::FieldType;

/// Parses operator input for a field of type `kind`. The value is not yet checked against
/// the field's bounds.
pub(crate) fn parse_input(kind: &FieldType, text: &str) -> Result<Value, UseErrorKind> {
    match kind {
        FieldType::Text { .. } => Ok(Value::Text(text.to_owned())),
        FieldType::Integer { min, max } => parse_integer(text, *min, *max).map(Value::Integer),
        FieldType::Choice { .. } => Ok(Value::Choice(text.to_owned())),
        FieldType::Datetime => parse_time(text).map(Value::Time),
        FieldType::Duration { min_s, max_s } => {
            parse_duration(text, *min_s, *max_s).map(Value::Duration)
        }
        FieldType::Coordinates => parse_point(text).map(Value::Point),
        FieldType::Area => parse_area(text),
    }
}

fn malformed(text: &str, what: &str) -> UseErrorKind {
    UseErrorKind::Malformed(format!("{text:?} is not {what}"))
}

/// `[+-]digits`; a number beyond i64 is out of the field's range.
fn parse_integer(text: &str, min: i64, max: i64) -> Result<i64, UseErrorKind> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            text,
            "an integer (decimal digits, e.g. -12 or 40)",
        ));
    }
    text.parse::<i64>().map_err(|_| {
        // Only digits beyond i64 fail here: out of the field's range whatever its bounds.
        super::integer_out_of_range(text, min, max)
    })
}

/// RFC 3339 with `Z` or an offset, whole seconds, from 1970 on; UTC milliseconds.
fn parse_time(text: &str) -> Result<u64, UseErrorKind> {
    let what = "an RFC 3339 time (e.g. 2026-12-03T10:00:00Z or 2026-12-03T13:00:00+03:00)";
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| malformed(text, what))?;
    if time.nanosecond() != 0 {
        let message = format!("{text:?} has a fraction of a second; give whole seconds");
        return Err(UseErrorKind::Malformed(message));
    }
    let seconds = u64::try_from(time.unix_timestamp()).map_err(|_| {
        UseErrorKind::OutOfRange(format!("{text:?} is before 1970-01-01T00:00:00Z"))
    })?;
    // Years end at 9999, far below u64 milliseconds; the check bounds the rest.
    Ok(seconds.saturating_mul(1000))
}

/// `1d2h30m15s`: each unit at most once, in that order, at least one.
fn parse_duration(text: &str, min_s: u64, max_s: u64) -> Result<u64, UseErrorKind> {
    let what = "a duration (e.g. 90s, 15m, 2h, 1d or 1h30m)";
    let units = [('d', 86_400u128), ('h', 3_600), ('m', 60), ('s', 1)];
    let mut rest = text;
    let mut total: u128 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit = rest[digits..].chars().next();
        let position = units[next_unit..]
            .iter()
            .position(|&(u, _)| Some(u) == unit);
        let (Some(position), 1..) = (position, digits) else {
            return Err(malformed(text, what));
        };
        let (_, seconds) = units[next_unit + position];
        // Saturating: a number this long is out of range whatever it is.
        let count = rest[..digits].parse::<u128>().unwrap_or(u128::MAX);
        total = total.saturating_add(count.saturating_mul(seconds));
        next_unit += position + 1;
        rest = &rest[digits + 1..];
    }
    if text.is_empty() {
        return Err(malformed(text, what));
    }
    // Saturating again: beyond u64 is beyond any field's bounds.
    let total = u64::try_from(total).unwrap_or(u64::MAX);
    check_duration(total.into(), min_s, max_s, text)?;
    Ok(total)
}

/// `[+-]digits[.digits]` with at most `decimals` decimals, times 10^decimals. Saturates far
/// beyond any bound instead of overflowing.
fn parse_scaled(text: &str, decimals: usize) -> Option<Result<i128, usize>> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || unsigned.ends_with('.') {
        return None;
    }
    if fraction.len() > decimals {
        return Some(Err(fraction.len()));
    }
    let mut value: i128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        value = value
            .saturating_mul(10)
            .saturating_add(i128::from(b - b'0'));
    }
    for _ in fraction.len()..decimals {
        value = value.saturating_mul(10);
    }
    Some(Ok(if negative { -value } else { value }))
}

/// `LAT,LON` in decimal degrees, at most 6 decimals; spaces around either are ignored.
fn parse_point(text: &str) -> Result<Point, UseErrorKind> {
    let what = "coordinates: LAT,LON in decimal degrees, e.g. 55.7558,37.6173";
    let Some((lat, lon)) = text.split_once(',') else {
        return Err(malformed(text, what));
    };
    let degrees = |part: &str| match parse_scaled(part.trim(), DEGREE_DECIMALS_MAX) {
        Some(Ok(value)) => Ok(value),
        Some(Err(decimals)) => Err(UseErrorKind::Malformed(format!(
            "{part:?} has {decimals} decimals; at most {DEGREE_DECIMALS_MAX} (a microdegree)"
        ))),
        None => Err(malformed(text, what)),
    };
    let (lat_e6, lon_e6) = (degrees(lat)?, degrees(lon)?);
    check_point(lat_e6, lon_e6)?;
    // Within ±180° once checked, so within i32.
    let (Ok(lat_e6), Ok(lon_e6)) = (i32::try_from(lat_e6), i32::try_from(lon_e6)) else {
        return Err(malformed(text, what));
    };
    Ok(Point { lat_e6, lon_e6 })
}

/// A circle `LAT,LON/RADIUS_KM` or a polygon `LAT,LON;LAT,LON;LAT,LON`.
fn parse_area(text: &str) -> Result<Value, UseErrorKind> {
    if let Some((centre, radius)) = text.split_once('/') {
        let centre = parse_point(centre)?;
        let radius_m = match parse_scaled(radius.trim(), RADIUS_KM_DECIMALS_MAX) {
            Some(Ok(value)) => value,
            Some(Err(decimals)) => {
                return Err(UseErrorKind::Malformed(format!(
                    "radius {radius:?} has {decimals} decimals; at most {RADIUS_KM_DECIMALS_MAX} (a metre)"
                )));
            }
            None => return Err(malformed(radius, "a radius in kilometres, e.g. 50 or 12.5")),
        };
        check_radius_m(radius_m)?;
        // Above zero once checked.
        let Ok(radius_m) = u64::try_from(radius_m) else {
            return Err(malformed(radius, "a radius in kilometres, e.g. 50 or 12.5"));
        };
        return Ok(Value::Circle { centre, radius_m });
    }
    let count = text.split(';').count();
    if count < POLYGON_POINTS_MIN && !text.contains(';') {
        let what = "an area: a circle LAT,LON/RADIUS_KM or a polygon LAT,LON;LAT,LON;LAT,LON";
        return Err(malformed(text, what));
    }
    check_vertex_count(count)?;
    let vertex = |(index, point): (usize, &str)| {
        parse_point(point).map_err(|kind| match kind {
            UseErrorKind::OutOfRange(message) => vertex_out_of_range(index, message),
            UseErrorKind::Malformed(message) => {
                UseErrorKind::Malformed(format!("vertex {}: {message}", index + 1))
            }
            other => other,
        })
    };
    let points = text
        .split(';')
        .enumerate()
        .map(vertex)
        .collect::<Result<_, _>>()?;
    Ok(Value::Polygon(points))
}
