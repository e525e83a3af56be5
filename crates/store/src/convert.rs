//! Conversions between protocol values and SQLite columns. Going in, a value SQLite cannot hold
//! is a caller bug ([`StoreError::InvalidOp`]); coming out, a value the protocol cannot hold
//! means the file is damaged ([`StoreError::Corrupt`]). Nothing read from disk is unwrapped.

use parley_proto::{EntryId, Precedence, StationId};

use crate::error::StoreError;

/// A `u64` as SQLite's signed 64-bit integer.
pub(crate) fn to_sql(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::InvalidOp(format!(
            "{what} {value} is larger than the largest integer SQLite stores ({})",
            i64::MAX
        ))
    })
}

/// A stored integer that must not be negative.
pub(crate) fn from_sql(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative ({value})")))
}

fn fixed<const N: usize>(bytes: Vec<u8>, what: &str) -> Result<[u8; N], StoreError> {
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is {len} bytes, not {N}")))
}

/// A stored station id.
pub(crate) fn station_id(bytes: Vec<u8>, what: &str) -> Result<StationId, StoreError> {
    fixed(bytes, what).map(StationId)
}

/// A stored entry id.
pub(crate) fn entry_id(bytes: Vec<u8>, what: &str) -> Result<EntryId, StoreError> {
    fixed(bytes, what).map(EntryId)
}

/// A stored precedence code.
pub(crate) fn precedence(code: i64, what: &str) -> Result<Precedence, StoreError> {
    u64::try_from(code)
        .ok()
        .and_then(Precedence::from_code)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} has unknown precedence code {code}")))
}

/// A text column that must be present (the schema's CHECKs make it so for messages).
pub(crate) fn required_text(text: Option<String>, what: &str) -> Result<String, StoreError> {
    text.ok_or_else(|| StoreError::Corrupt(format!("{what} has no text")))
}
