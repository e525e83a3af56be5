//! Deterministic CBOR (RFC 8949 §4.2) for every parley payload.
//!
//! Payloads are CBOR arrays with a fixed field order, so the encoding is deterministic by
//! construction; decoding re-encodes and compares, which refuses non-canonical forms and
//! trailing bytes, so one logical object has exactly one byte string (and one hash).

use ciborium::Value;

use crate::error::DecodeError;

/// Encodes a value. Writing to a `Vec` cannot fail.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("writing CBOR into a Vec cannot fail");
    out
}

/// Decodes one value that must span exactly `bytes` in deterministic encoding.
pub fn decode(bytes: &[u8], what: &'static str) -> Result<Value, DecodeError> {
    let value: Value = ciborium::from_reader(bytes).map_err(|error| DecodeError::Cbor {
        what,
        detail: describe(&error),
    })?;
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}

/// Why `bytes` are not CBOR, in words (the decoder's own account is its debug form).
fn describe(error: &ciborium::de::Error<std::io::Error>) -> String {
    use ciborium::de::Error;
    match error {
        // Read from a slice, the only failure is running out of bytes.
        Error::Io(_) => "it ends before its value does".to_owned(),
        Error::Syntax(offset) => format!("malformed at byte {offset}"),
        Error::Semantic(Some(offset), why) => format!("{why} at byte {offset}"),
        Error::Semantic(None, why) => why.clone(),
        Error::RecursionLimitExceeded => "nested too deeply".to_owned(),
    }
}

/// Builds a byte-string value.
pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// Builds an unsigned-integer value.
pub fn uint(n: u64) -> Value {
    Value::Integer(n.into())
}

/// Builds a text value.
pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// Reads the fields of a fixed-shape CBOR array in order.
pub struct Fields {
    items: std::vec::IntoIter<Value>,
    what: &'static str,
}

impl Fields {
    /// Opens `value` as an array of exactly `len` items whose first item is format version 1.
    pub fn versioned(value: Value, what: &'static str, len: usize) -> Result<Self, DecodeError> {
        Self::with_version(value, what, 1, len)
    }

    /// Opens `value` as an array of exactly `len` items whose first is `version`.
    pub fn with_version(
        value: Value,
        what: &'static str,
        version: u64,
        len: usize,
    ) -> Result<Self, DecodeError> {
        let mut fields = Self::array(value, what, len, "payload")?;
        let found = fields.uint("version")?;
        if found != version {
            return Err(DecodeError::Version {
                what,
                version: found,
            });
        }
        Ok(fields)
    }

    /// Opens `value` as an array of exactly `len` items.
    pub fn array(
        value: Value,
        what: &'static str,
        len: usize,
        field: &'static str,
    ) -> Result<Self, DecodeError> {
        match value {
            Value::Array(items) if items.len() == len => Ok(Self {
                items: items.into_iter(),
                what,
            }),
            _ => Err(DecodeError::Field { what, field }),
        }
    }

    fn next(&mut self, field: &'static str) -> Result<Value, DecodeError> {
        self.items.next().ok_or(DecodeError::Field {
            what: self.what,
            field,
        })
    }

    fn malformed(&self, field: &'static str) -> DecodeError {
        DecodeError::Field {
            what: self.what,
            field,
        }
    }

    /// Next item as an unsigned integer.
    pub fn uint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        match self.next(field)? {
            Value::Integer(n) => u64::try_from(n).map_err(|_| self.malformed(field)),
            _ => Err(self.malformed(field)),
        }
    }

    /// Next item as a byte string of at most `max` bytes.
    pub fn bytes(&mut self, field: &'static str, max: usize) -> Result<Vec<u8>, DecodeError> {
        match self.next(field)? {
            Value::Bytes(b) if b.len() <= max => Ok(b),
            _ => Err(self.malformed(field)),
        }
    }

    /// Next item as a byte string of exactly `N` bytes.
    pub fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let b = self.bytes(field, N)?;
        b.try_into().map_err(|_| self.malformed(field))
    }

    /// Next item as UTF-8 text of at most `max` bytes.
    pub fn text(&mut self, field: &'static str, max: usize) -> Result<String, DecodeError> {
        match self.next(field)? {
            Value::Text(s) if s.len() <= max => Ok(s),
            _ => Err(self.malformed(field)),
        }
    }

    /// Next item as an array of at most `max` items.
    pub fn list(&mut self, field: &'static str, max: usize) -> Result<Vec<Value>, DecodeError> {
        match self.next(field)? {
            Value::Array(items) if items.len() <= max => Ok(items),
            _ => Err(self.malformed(field)),
        }
    }

    /// Next item, whatever it is.
    pub fn value(&mut self, field: &'static str) -> Result<Value, DecodeError> {
        self.next(field)
    }

    /// Name of the object being decoded, for errors.
    pub fn what(&self) -> &'static str {
        self.what
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], expect: Result<(), &str>) {
        let got = decode(bytes, "test").map(|_| ()).map_err(|e| e.to_string());
        match (got, expect) {
            (Ok(()), Ok(())) => {}
            (Err(got), Err(want)) => assert!(got.contains(want), "{got} lacks {want}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn decode_accepts_only_canonical_single_items() {
        check(&[0x82, 0x01, 0x02], Ok(()));
        // 1 encoded in two bytes instead of one: not deterministic.
        check(&[0x18, 0x01], Err("deterministic"));
        // Trailing byte after a complete item.
        check(&[0x01, 0x01], Err("deterministic"));
        // Truncated array.
        check(&[0x82, 0x01], Err("not valid CBOR"));
        check(&[], Err("not valid CBOR"));
        for (bytes, detail) in [
            (&[][..], "it ends before its value does"),
            (&[0x82, 0x01][..], "it ends before its value does"),
            (&[0xff][..], "invalid type: break, expected non-break"),
            (&[0x1c][..], "malformed at byte 0"),
        ] {
            let error = decode(bytes, "thing").expect_err("refused");
            assert_eq!(
                error.to_string(),
                format!("thing is not valid CBOR: {detail}")
            );
        }
    }
}
