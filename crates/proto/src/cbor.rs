//! Deterministic CBOR (RFC 8949 §4.2) for every parley payload.
//!
//! Payloads are CBOR arrays with a fixed field order, so the encoding is deterministic by
//! construction; decoding refuses non-canonical forms and trailing bytes, so one logical
//! object has exactly one byte string (and one hash).
//!
//! What decoding accepts is defined by ciborium: the value it reads, if encoding that value
//! gives back exactly the bytes read. The items parley's formats are made of (integers, byte
//! and text strings, arrays, booleans and null, in shortest form) are read directly from the
//! slice, checked shortest as they are read ([`Canonical`]), which costs a fraction of
//! ciborium's reader and the re-encoding; anything else, and every refusal, goes through
//! ciborium and the comparison, so the outcome and the error are ciborium's either way (a
//! test compares the two on generated and damaged encodings).

use ciborium::Value;
use ciborium::value::Integer;

use crate::error::DecodeError;

/// Encodes a value. Writing to a `Vec` cannot fail.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("writing CBOR into a Vec cannot fail");
    out
}

/// Decodes one value that must span exactly `bytes` in deterministic encoding.
///
/// A decoded item takes 32 bytes (ciborium's `Value`) where an encoded one can take one, so
/// what a hostile encoding can make this allocate is bounded twice: at most
/// [`DECODE_ITEMS_MAX`] items are read, and only an encoding of at most
/// [`CIBORIUM_INPUT_SIZE_MAX_BYTES`] is left to ciborium (which has no bound of its own).
pub fn decode(bytes: &[u8], what: &'static str) -> Result<Value, DecodeError> {
    match Canonical::read(bytes) {
        Read::Value(value) => Ok(value),
        Read::TooManyItems => Err(DecodeError::TooManyItems {
            what,
            max: DECODE_ITEMS_MAX,
        }),
        Read::Other if bytes.len() <= CIBORIUM_INPUT_SIZE_MAX_BYTES => {
            decode_by_ciborium(bytes, what)
        }
        // Nothing parley writes is read by ciborium alone.
        Read::Other => Err(DecodeError::NonCanonical { what }),
    }
}

/// Most items, of every depth and the outermost included, that one [`decode`] reads; past
/// it the encoding is refused as it is read, before anything more is allocated. Every format
/// holds far fewer: a courier bundle, the largest, [`crate::limits::BUNDLE_FRAMES_MAX`] frames
/// and seven items more; an object of at most this many bytes cannot hold more.
pub const DECODE_ITEMS_MAX: usize = 65_536;

/// Largest encoding that [`decode`] leaves to ciborium, and `cose` to coset, when the
/// canonical reader does not read it: bounds what their readers allocate (about 32 bytes an
/// encoded byte). Everything parley writes is read without them; what they are left is only
/// ever refused (or, a float, a tag or a map, refused by the format after).
pub const CIBORIUM_INPUT_SIZE_MAX_BYTES: usize = 64 * 1024;

/// Nesting that [`Canonical`] reads; anything deeper is left to ciborium (whose own limit is
/// 256), in arrays. parley's formats nest at most 5 deep.
pub const CANONICAL_DEPTH_MAX: usize = 32;

/// Most items [`Canonical`] reserves room for ahead of an array's items, whatever count the
/// array claims: a claim is not believed before its items are read (nested arrays each
/// claiming all that is left would otherwise reserve a kilobyte per input byte and level).
pub const CANONICAL_ARRAY_RESERVED_MAX: usize = 64;

/// A reader of the canonical items parley's formats use, from a slice: it answers only
/// values ciborium reads the same and encodes back to the same bytes, and `None` for
/// anything else (not canonical, not complete, not one of those items, nested deeper than
/// [`CANONICAL_DEPTH_MAX`]), which is then ciborium's to decide.
struct Canonical<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Items begun so far.
    items: usize,
}

/// What [`Canonical::read`] makes of an encoding.
enum Read {
    /// The one value spanning it, made of canonical items only.
    Value(Value),
    /// More than [`DECODE_ITEMS_MAX`] items: refused, and left to no one.
    TooManyItems,
    /// Anything else, ciborium's to decide.
    Other,
}

impl<'a> Canonical<'a> {
    fn read(bytes: &[u8]) -> Read {
        let mut reader = Canonical {
            bytes,
            at: 0,
            items: 0,
        };
        match reader.value(0) {
            Some(value) if reader.at == bytes.len() => Read::Value(value),
            _ if reader.items > DECODE_ITEMS_MAX => Read::TooManyItems,
            _ => Read::Other,
        }
    }

    /// The one value spanning exactly `bytes`, if it is made of canonical items only.
    #[cfg(test)]
    fn value_of(bytes: &[u8]) -> Option<Value> {
        match Self::read(bytes) {
            Read::Value(value) => Some(value),
            Read::TooManyItems | Read::Other => None,
        }
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(len)?;
        let taken = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(taken)
    }

    fn take_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// An item's major type and its argument, which must be in its shortest form (RFC 8949
    /// §4.2.1).
    fn header(&mut self) -> Option<(u8, u64)> {
        let [initial] = self.take_array()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let (argument, least) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(u8::from_be_bytes(self.take_array()?)), 24),
            25 => (u64::from(u16::from_be_bytes(self.take_array()?)), 0x100),
            26 => (u64::from(u32::from_be_bytes(self.take_array()?)), 0x1_0000),
            27 => (u64::from_be_bytes(self.take_array()?), 0x1_0000_0000),
            _ => return None,
        };
        (argument >= least).then_some((major, argument))
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        self.items += 1;
        if self.items > DECODE_ITEMS_MAX {
            return None;
        }
        // Major type 7: false, true and null alone (no floats, no other simple values).
        match self.bytes.get(self.at)? {
            0xf4..=0xf6 => {
                let [simple] = self.take_array()?;
                return Some(match simple {
                    0xf4 => Value::Bool(false),
                    0xf5 => Value::Bool(true),
                    _ => Value::Null,
                });
            }
            0xe0..=0xff => return None,
            _ => {}
        }
        let (major, argument) = self.header()?;
        let len = || usize::try_from(argument).ok();
        Some(match major {
            0 => Value::Integer(argument.into()),
            1 => Value::Integer(Integer::try_from(-1 - i128::from(argument)).ok()?),
            2 => Value::Bytes(self.take(len()?)?.to_vec()),
            3 => Value::Text(std::str::from_utf8(self.take(len()?)?).ok()?.to_owned()),
            4 if depth < CANONICAL_DEPTH_MAX => {
                let count = len()?;
                // Each item takes a byte at least: a count beyond what is left cannot be.
                if count > self.bytes.len() - self.at {
                    return None;
                }
                let mut items = Vec::with_capacity(count.min(CANONICAL_ARRAY_RESERVED_MAX));
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            _ => return None,
        })
    }
}

/// The canonical byte string at the start of `bytes` (shortest header), and what follows it.
pub(crate) fn split_byte_string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut reader = Canonical {
        bytes,
        at: 0,
        items: 0,
    };
    let (2, len) = reader.header()? else {
        return None;
    };
    let content = reader.take(usize::try_from(len).ok()?)?;
    Some((content, &bytes[reader.at..]))
}

/// Whether `bytes` begin with a canonical byte-string header that declares more bytes than
/// follow it: an object cut short.
pub(crate) fn byte_string_cut_short(bytes: &[u8]) -> bool {
    let mut reader = Canonical {
        bytes,
        at: 0,
        items: 0,
    };
    match reader.header() {
        Some((2, len)) => usize::try_from(len).map_or(true, |len| len > bytes.len() - reader.at),
        _ => false,
    }
}

/// [`decode`] by ciborium's reader, then the comparison with the value encoded again.
fn decode_by_ciborium(bytes: &[u8], what: &'static str) -> Result<Value, DecodeError> {
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
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng as _, SeedableRng as _};

    use super::*;

    /// A value of any kind ciborium writes, the canonical items most often.
    fn arbitrary(rng: &mut ChaCha20Rng, depth: usize) -> Value {
        let magnitude = |rng: &mut ChaCha20Rng| match rng.next_u32() % 6 {
            0 => u64::from(rng.next_u32() % 30),
            1 => u64::from(rng.next_u32() % 300),
            2 => u64::from(rng.next_u32() % 70_000),
            3 => u64::from(rng.next_u32()),
            4 => u64::MAX - u64::from(rng.next_u32() % 3),
            _ => rng.next_u64(),
        };
        let len = |rng: &mut ChaCha20Rng| match rng.next_u32() % 8 {
            0 => 300,
            _ => (rng.next_u32() % 30) as usize,
        };
        match rng.next_u32() % if depth < 6 { 12 } else { 9 } {
            0 => Value::Integer(magnitude(rng).into()),
            1 => Value::Integer(Integer::try_from(-1 - i128::from(magnitude(rng))).unwrap()),
            2 => Value::Bytes((0..len(rng)).map(|_| rng.next_u32() as u8).collect()),
            3 => Value::Text("aé𝄞".repeat(len(rng) / 3)),
            4 => Value::Bool(rng.next_u32().is_multiple_of(2)),
            5 => Value::Null,
            // Left to ciborium: a float, a tag, a map.
            6 => Value::Float(f64::from(rng.next_u32() % 1000) / 8.0),
            7 => Value::Tag(100, Box::new(Value::Integer(1.into()))),
            8 => Value::Map(vec![(Value::Integer(1.into()), Value::Null)]),
            _ => Value::Array(
                (0..rng.next_u32() % 5)
                    .map(|_| arbitrary(rng, depth + 1))
                    .collect(),
            ),
        }
    }

    /// Whatever the slice reader answers, ciborium answers the same; and `decode` gives
    /// ciborium's outcome, refusals included.
    fn agree(bytes: &[u8]) -> bool {
        let by_ciborium = decode_by_ciborium(bytes, "test");
        let fast = Canonical::value_of(bytes);
        if let Some(value) = &fast {
            assert_eq!(by_ciborium.as_ref(), Ok(value), "{bytes:02x?}");
        }
        // Compared as encoded: a NaN ciborium reads is not equal to itself.
        let encoded = |result: Result<Value, DecodeError>| result.map(|value| encode(&value));
        assert_eq!(
            encoded(decode(bytes, "test")),
            encoded(by_ciborium),
            "{bytes:02x?}"
        );
        fast.is_some()
    }

    #[test]
    fn the_slice_reader_agrees_with_ciborium_on_generated_and_damaged_encodings() {
        let mut rng = ChaCha20Rng::seed_from_u64(0xcb02);
        let (mut read_fast, mut left) = (0, 0);
        for _ in 0..20_000 {
            let value = arbitrary(&mut rng, 0);
            let bytes = encode(&value);
            assert_eq!(decode(&bytes, "test"), Ok(value));
            let mut damaged = bytes.clone();
            let at = rng.next_u32() as usize % damaged.len();
            match rng.next_u32() % 5 {
                0 => damaged[at] = rng.next_u32() as u8,
                1 => damaged.truncate(at),
                2 => damaged.insert(at, rng.next_u32() as u8),
                3 => damaged.push(rng.next_u32() as u8),
                _ => damaged[at] ^= 1 << (rng.next_u32() % 8),
            }
            for candidate in [&bytes, &damaged] {
                if agree(candidate) {
                    read_fast += 1;
                } else {
                    left += 1;
                }
            }
        }
        let random: Vec<u8> = (0..4096).map(|_| rng.next_u32() as u8).collect();
        for start in 0..random.len() {
            agree(&random[start..(start + 1 + start % 9).min(random.len())]);
        }
        assert!(read_fast > 10_000 && left > 10_000, "{read_fast} / {left}");
    }

    #[test]
    fn every_width_is_read_at_both_sides_of_its_bound_and_only_in_shortest_form() {
        for (bytes, canonical) in [
            (&[0x17][..], true),
            (&[0x18, 0x18], true),
            (&[0x18, 0x17], false),
            (&[0x19, 0x01, 0x00], true),
            (&[0x19, 0x00, 0xff], false),
            (&[0x1a, 0x00, 0x01, 0x00, 0x00], true),
            (&[0x1a, 0x00, 0x00, 0xff, 0xff], false),
            (&[0x1b, 0, 0, 0, 1, 0, 0, 0, 0], true),
            (&[0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], false),
            (
                &[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                true,
            ),
            (&[0x38, 0x17], false),
            (&[0x58, 0x17], false),
            (&[0x78, 0x01, b'a'], false),
            (&[0x62, 0xc3, 0x28], false),
            (&[0x98, 0x01, 0x01], false),
            (&[0xf7], false),
            (&[0xf8, 0x14], false),
            (&[0xf9, 0x3c, 0x00], false),
            (
                &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                false,
            ),
        ] {
            assert_eq!(agree(bytes), canonical, "{bytes:02x?}");
        }
    }

    #[test]
    fn arrays_claiming_what_is_left_reserve_little_and_long_arrays_read_whole() {
        // Nested arrays, each claiming every byte after its header as an item: refused.
        let mut claims = Vec::new();
        for level in 0..CANONICAL_DEPTH_MAX {
            let left = 40 * 1024 - 5 * (level + 1);
            claims.push(0x9a);
            claims.extend(u32::try_from(left).unwrap().to_be_bytes());
        }
        claims.resize(40 * 1024, 0x00);
        assert!(!agree(&claims));
        // Arrays at both sides of the reservation bound read whole.
        for count in [
            CANONICAL_ARRAY_RESERVED_MAX,
            CANONICAL_ARRAY_RESERVED_MAX + 1,
            5_000,
        ] {
            let array = Value::Array(vec![Value::Integer(7.into()); count]);
            let bytes = encode(&array);
            assert!(agree(&bytes));
            assert_eq!(Canonical::value_of(&bytes), Some(array));
        }
    }

    /// The encoding of an array of `len` zeros: `len + 1` items.
    fn zeros(len: usize) -> Vec<u8> {
        encode(&Value::Array(vec![Value::Integer(0.into()); len]))
    }

    #[test]
    fn items_are_read_to_their_bound_and_past_it_refused_unread() {
        // The outermost array is an item too.
        let at_bound = zeros(DECODE_ITEMS_MAX - 1);
        assert!(
            matches!(decode(&at_bound, "test"), Ok(Value::Array(items)) if items.len() == DECODE_ITEMS_MAX - 1)
        );
        let refused = Err(DecodeError::TooManyItems {
            what: "test",
            max: DECODE_ITEMS_MAX,
        });
        assert_eq!(decode(&zeros(DECODE_ITEMS_MAX), "test"), refused);
        // Counted at every depth: an array of two arrays (1 + 2 + a + b items).
        let nested = |a: usize, b: usize| {
            encode(&Value::Array(vec![
                Value::Array(vec![Value::Null; a]),
                Value::Array(vec![Value::Null; b]),
            ]))
        };
        let a = (DECODE_ITEMS_MAX - 3) / 2;
        let b = DECODE_ITEMS_MAX - 3 - a;
        assert!(decode(&nested(a, b), "test").is_ok());
        assert_eq!(decode(&nested(a, b + 1), "test"), refused);
        // Refused unread past the bound: what follows it is never looked at, and no decoder
        // is given the rest (a million items, which ciborium would all read).
        let mut huge = vec![0x9a];
        huge.extend(1_000_000u32.to_be_bytes());
        huge.resize(5 + 1_000_000, 0x00);
        let last = huge.len() - 1;
        huge[last] = 0xf9;
        assert_eq!(decode(&huge, "test"), refused);
    }

    #[test]
    fn only_encodings_up_to_their_bound_are_left_to_ciborium() {
        // A byte string then a float, which only ciborium reads, `len` bytes in all.
        let encoding = |len: usize| {
            let value =
                |bytes: usize| Value::Array(vec![Value::Bytes(vec![7; bytes]), Value::Float(1.0)]);
            let fixed = encode(&value(60_000)).len() - 60_000;
            let bytes = encode(&value(len - fixed));
            assert_eq!(bytes.len(), len);
            (bytes, value(len - fixed))
        };
        let (at_bound, value) = encoding(CIBORIUM_INPUT_SIZE_MAX_BYTES);
        assert_eq!(decode(&at_bound, "test"), Ok(value));
        let (over, _) = encoding(CIBORIUM_INPUT_SIZE_MAX_BYTES + 1);
        assert_eq!(
            decode(&over, "test"),
            Err(DecodeError::NonCanonical { what: "test" })
        );
    }

    #[test]
    fn long_text_is_read_whole_and_invalid_utf8_anywhere_is_left_to_ciborium() {
        // ciborium reads strings in 4,096-byte segments: a character across that boundary.
        let text = format!("{}é{}", "a".repeat(4_095), "b".repeat(5_000));
        let bytes = encode(&Value::Text(text.clone()));
        assert!(agree(&bytes));
        assert_eq!(Canonical::value_of(&bytes), Some(Value::Text(text)));
        let header = bytes.len() - (4_096 + 1 + 5_000);
        for at in [header + 4_095, header + 4_096, bytes.len() - 1] {
            let mut damaged = bytes.clone();
            damaged[at] = 0xff;
            assert!(!agree(&damaged), "invalid UTF-8 at {at}");
            assert!(decode(&damaged, "test").is_err());
        }
    }

    #[test]
    fn nesting_is_read_to_its_bound_and_deeper_left_to_ciborium() {
        let nested = |depth: usize| {
            let mut bytes = vec![0x81; depth - 1];
            bytes.push(0x80);
            bytes
        };
        assert!(agree(&nested(CANONICAL_DEPTH_MAX)));
        let deeper = nested(CANONICAL_DEPTH_MAX + 1);
        assert!(!agree(&deeper));
        assert!(decode(&deeper, "test").is_ok(), "ciborium reads it");
    }

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
