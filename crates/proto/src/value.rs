//! Typed values of a coded message's parameters and a formatted notice's fields.
//!
//! A value travels as what it is — an integer, a UTC instant, a point in microdegrees — never
//! as free text a translator could change. Each is a CBOR array `[tag, …]` (docs/formats.md
//! §3.2); decoding checks every range that does not depend on a codebook (a latitude within
//! ±90°, a radius above zero), and the codebook checks the rest against the field's type.

use ciborium::Value as Cbor;

use crate::cbor::{self, Fields};
use crate::error::DecodeError;
use crate::limits::{
    AREA_RADIUS_M_MAX, PARAM_NAME_SIZE_MAX_BYTES, PARAMS_MAX, POLYGON_POINTS_MAX,
    POLYGON_POINTS_MIN, TEXT_SIZE_MAX_BYTES,
};

/// Largest latitude magnitude, in microdegrees.
pub const LAT_E6_MAX: i32 = 90_000_000;
/// Largest longitude magnitude, in microdegrees.
pub const LON_E6_MAX: i32 = 180_000_000;

/// A point on the Earth (WGS 84), in millionths of a degree; north and east are positive.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Point {
    /// Latitude, −90° to 90°, in microdegrees.
    pub lat_e6: i32,
    /// Longitude, −180° to 180°, in microdegrees.
    pub lon_e6: i32,
}

impl Point {
    /// Whether the latitude and longitude are within their ranges.
    pub fn is_valid(&self) -> bool {
        // `unsigned_abs`: the magnitude of i32::MIN does not fit an i32.
        self.lat_e6.unsigned_abs() <= LAT_E6_MAX.unsigned_abs()
            && self.lon_e6.unsigned_abs() <= LON_E6_MAX.unsigned_abs()
    }
}

/// One typed value.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub enum Value {
    /// Text (tag 1).
    Text(String),
    /// A signed integer (tag 2).
    Integer(i64),
    /// One of a choice's values, by its key (tag 3).
    Choice(String),
    /// A UTC instant in milliseconds since the Unix epoch (tag 4).
    Time(u64),
    /// A duration in seconds (tag 5).
    Duration(u64),
    /// A point (tag 6).
    Point(Point),
    /// An area: a circle of `radius_m` metres around `centre` (tag 7).
    Circle {
        /// Centre.
        centre: Point,
        /// Radius in metres, above zero.
        radius_m: u64,
    },
    /// An area: a polygon, its vertices in order, not closed (tag 8).
    Polygon(Vec<Point>),
}

/// Tags of the encoding, in the order of [`Value`]'s variants.
mod tag {
    pub const TEXT: u64 = 1;
    pub const INTEGER: u64 = 2;
    pub const CHOICE: u64 = 3;
    pub const TIME: u64 = 4;
    pub const DURATION: u64 = 5;
    pub const POINT: u64 = 6;
    pub const CIRCLE: u64 = 7;
    pub const POLYGON: u64 = 8;
}

impl Value {
    /// The name of the value's type, as in a codebook (`text`, `integer`, …; a circle and a
    /// polygon are both `area`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Text(_) => "text",
            Value::Integer(_) => "integer",
            Value::Choice(_) => "choice",
            Value::Time(_) => "datetime",
            Value::Duration(_) => "duration",
            Value::Point(_) => "coordinates",
            Value::Circle { .. } | Value::Polygon(_) => "area",
        }
    }

    /// The CBOR form.
    pub fn to_cbor(&self) -> Cbor {
        let int = |n: i32| Cbor::Integer(n.into());
        let point = |p: &Point| [int(p.lat_e6), int(p.lon_e6)];
        let items = match self {
            Value::Text(text) => vec![cbor::uint(tag::TEXT), cbor::text(text)],
            Value::Integer(n) => vec![cbor::uint(tag::INTEGER), Cbor::Integer((*n).into())],
            Value::Choice(key) => vec![cbor::uint(tag::CHOICE), cbor::text(key)],
            Value::Time(ms) => vec![cbor::uint(tag::TIME), cbor::uint(*ms)],
            Value::Duration(s) => vec![cbor::uint(tag::DURATION), cbor::uint(*s)],
            Value::Point(p) => [vec![cbor::uint(tag::POINT)], point(p).to_vec()].concat(),
            Value::Circle { centre, radius_m } => [
                vec![cbor::uint(tag::CIRCLE)],
                point(centre).to_vec(),
                vec![cbor::uint(*radius_m)],
            ]
            .concat(),
            Value::Polygon(points) => vec![
                cbor::uint(tag::POLYGON),
                Cbor::Array(
                    points
                        .iter()
                        .map(|p| Cbor::Array(point(p).to_vec()))
                        .collect(),
                ),
            ],
        };
        Cbor::Array(items)
    }

    /// Decodes the CBOR form, checking every codebook-independent range.
    pub fn from_cbor(value: Cbor, field: &'static str) -> Result<Self, DecodeError> {
        let malformed = || DecodeError::Field {
            what: "entry",
            field,
        };
        let Cbor::Array(items) = value else {
            return Err(malformed());
        };
        let Some(Cbor::Integer(code)) = items.first() else {
            return Err(malformed());
        };
        let code = u64::try_from(*code).map_err(|_| malformed())?;
        let len = items.len();
        let mut fields = Fields::array(Cbor::Array(items), "entry", len, field)?;
        fields.uint(field)?;
        let expected = match code {
            tag::TEXT | tag::INTEGER | tag::CHOICE | tag::TIME | tag::DURATION | tag::POLYGON => 2,
            tag::POINT => 3,
            tag::CIRCLE => 4,
            _ => return Err(malformed()),
        };
        if len != expected {
            return Err(malformed());
        }
        let value = match code {
            tag::TEXT => Value::Text(fields.text(field, TEXT_SIZE_MAX_BYTES)?),
            tag::INTEGER => match fields.value(field)? {
                Cbor::Integer(n) => Value::Integer(i64::try_from(n).map_err(|_| malformed())?),
                _ => return Err(malformed()),
            },
            tag::CHOICE => Value::Choice(fields.text(field, PARAM_NAME_SIZE_MAX_BYTES)?),
            tag::TIME => Value::Time(fields.uint(field)?),
            tag::DURATION => Value::Duration(fields.uint(field)?),
            tag::POINT => Value::Point(point(&mut fields, field)?),
            tag::CIRCLE => {
                let centre = point(&mut fields, field)?;
                let radius_m = fields.uint(field)?;
                if !(1..=AREA_RADIUS_M_MAX).contains(&radius_m) {
                    return Err(malformed());
                }
                Value::Circle { centre, radius_m }
            }
            _ => {
                let items = fields.list(field, POLYGON_POINTS_MAX)?;
                if items.len() < POLYGON_POINTS_MIN {
                    return Err(malformed());
                }
                let points = items
                    .into_iter()
                    .map(|item| point(&mut Fields::array(item, "entry", 2, field)?, field))
                    .collect::<Result<Vec<_>, _>>()?;
                Value::Polygon(points)
            }
        };
        Ok(value)
    }
}

fn point(fields: &mut Fields, field: &'static str) -> Result<Point, DecodeError> {
    let mut coordinate = || match fields.value(field)? {
        Cbor::Integer(n) => i32::try_from(n).map_err(|_| DecodeError::Field {
            what: "entry",
            field,
        }),
        _ => Err(DecodeError::Field {
            what: "entry",
            field,
        }),
    };
    let point = Point {
        lat_e6: coordinate()?,
        lon_e6: coordinate()?,
    };
    if !point.is_valid() {
        return Err(DecodeError::Field {
            what: "entry",
            field,
        });
    }
    Ok(point)
}

/// Whether `name` is a parameter, field, form or choice key: 1 to
/// [`PARAM_NAME_SIZE_MAX_BYTES`] of `a-z`, `0-9` and `_`, starting with a letter.
pub fn is_param_name(name: &str) -> bool {
    (1..=PARAM_NAME_SIZE_MAX_BYTES).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Named values in canonical form: names strictly increasing, so each set has one encoding.
pub type Params = Vec<(String, Value)>;

/// Encodes named values as `[[name, value], …]`.
pub fn params_to_cbor(params: &Params) -> Cbor {
    Cbor::Array(
        params
            .iter()
            .map(|(name, value)| Cbor::Array(vec![cbor::text(name), value.to_cbor()]))
            .collect(),
    )
}

/// Decodes named values: at most [`PARAMS_MAX`], each name valid, names strictly increasing.
pub fn params_from_cbor(fields: &mut Fields, field: &'static str) -> Result<Params, DecodeError> {
    let mut params: Params = Vec::new();
    for item in fields.list(field, PARAMS_MAX)? {
        let mut pair = Fields::array(item, "entry", 2, field)?;
        let name = pair.text(field, PARAM_NAME_SIZE_MAX_BYTES)?;
        let increasing = params.last().is_none_or(|(last, _)| *last < name);
        if !is_param_name(&name) || !increasing {
            return Err(DecodeError::Field {
                what: "entry",
                field,
            });
        }
        let value = Value::from_cbor(pair.value(field)?, field)?;
        params.push((name, value));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &Value) -> Result<Value, DecodeError> {
        let bytes = cbor::encode(&value.to_cbor());
        Value::from_cbor(cbor::decode(&bytes, "entry")?, "body.value")
    }

    #[test]
    fn every_type_round_trips() {
        let centre = Point {
            lat_e6: -LAT_E6_MAX,
            lon_e6: LON_E6_MAX,
        };
        for value in [
            Value::Text("x".repeat(TEXT_SIZE_MAX_BYTES)),
            Value::Integer(i64::MIN),
            Value::Choice("alpha_2".into()),
            Value::Time(1_800_000_000_000),
            Value::Duration(0),
            Value::Point(centre),
            Value::Circle {
                centre,
                radius_m: AREA_RADIUS_M_MAX,
            },
            Value::Polygon(vec![centre; POLYGON_POINTS_MAX]),
            Value::Polygon(vec![centre; POLYGON_POINTS_MIN]),
        ] {
            assert_eq!(round_trip(&value).as_ref(), Ok(&value));
        }
    }

    #[test]
    fn out_of_range_values_do_not_decode() {
        let beyond = |lat_e6, lon_e6| Value::Point(Point { lat_e6, lon_e6 });
        let origin = Point {
            lat_e6: 0,
            lon_e6: 0,
        };
        for value in [
            Value::Text("x".repeat(TEXT_SIZE_MAX_BYTES + 1)),
            beyond(LAT_E6_MAX + 1, 0),
            beyond(0, -LON_E6_MAX - 1),
            beyond(i32::MIN, 0),
            beyond(0, i32::MIN),
            Value::Circle {
                centre: origin,
                radius_m: 0,
            },
            Value::Circle {
                centre: origin,
                radius_m: AREA_RADIUS_M_MAX + 1,
            },
            Value::Polygon(vec![origin; POLYGON_POINTS_MIN - 1]),
            Value::Polygon(vec![origin; POLYGON_POINTS_MAX + 1]),
        ] {
            assert!(round_trip(&value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn params_must_be_named_well_and_in_order() {
        let one = |name: &str| (name.to_owned(), Value::Integer(1));
        let decode = |params: &Params| {
            let bytes = cbor::encode(&Cbor::Array(vec![params_to_cbor(params)]));
            let value = cbor::decode(&bytes, "entry").expect("canonical");
            params_from_cbor(&mut Fields::array(value, "entry", 1, "p")?, "p")
        };
        assert!(decode(&vec![one("a"), one("b")]).is_ok());
        assert!(decode(&vec![one("b"), one("a")]).is_err());
        assert!(decode(&vec![one("a"), one("a")]).is_err());
        assert!(decode(&vec![one("A")]).is_err());
        assert!(decode(&vec![one("1a")]).is_err());
        assert!(decode(&vec![one(&"a".repeat(PARAM_NAME_SIZE_MAX_BYTES))]).is_ok());
        assert!(decode(&vec![one(&"a".repeat(PARAM_NAME_SIZE_MAX_BYTES + 1))]).is_err());
        let many: Params = (0..=PARAMS_MAX).map(|i| one(&format!("p{i:03}"))).collect();
        assert!(decode(&many[..PARAMS_MAX].to_vec()).is_ok());
        assert!(decode(&many).is_err());
    }
}
