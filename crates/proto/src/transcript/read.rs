//! The reading rules of docs/formats.md §8.1: lines, their bounds and encoding, the JSON of the
//! header and of the object lines, and base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Fault, TRANSCRIPT_FORMAT, TRANSCRIPT_LINE_SIZE_MAX_BYTES};
use crate::id::LinkId;

/// The lines of a file: split at every `\n`; a `\n` at the very end starts no further line.
pub(super) fn lines(input: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    let none = input.is_empty();
    body.split(|b| *b == b'\n')
        .filter(move |_| !none)
        .enumerate()
        .map(|(i, line)| (i + 1, line))
}

/// Rules 3 and 4: the line's length, then its encoding.
pub(super) fn text(line: &[u8]) -> Result<&str, Fault> {
    if line.len() > TRANSCRIPT_LINE_SIZE_MAX_BYTES {
        return Err(Fault::LineTooLong);
    }
    std::str::from_utf8(line).map_err(|_| Fault::NotUtf8)
}

/// The header as read (rule 6).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderJson {
    format: String,
    version: u64,
    link: String,
    exported_ms: u64,
}

/// A checked header.
pub(super) struct Header {
    pub(super) link: LinkId,
    pub(super) exported_ms: u64,
}

/// Line 1: H1, H2, H3.
pub(super) fn header(text: &str) -> Result<Header, Fault> {
    let json: HeaderJson =
        serde_json::from_str(text).map_err(|error| Fault::NotHeader(error.to_string()))?;
    if json.format != TRANSCRIPT_FORMAT || json.version != 1 {
        return Err(Fault::UnknownFormat);
    }
    let lowercase_hex = json.link.len() == 32
        && json
            .link
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let link = lowercase_hex
        .then(|| hex::decode(&json.link).ok())
        .flatten()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
        .ok_or(Fault::HeaderLink)?;
    Ok(Header {
        link: LinkId(link),
        exported_ms: json.exported_ms,
    })
}

/// Which object a later line holds (rule 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Card,
    Entry,
    Receipt,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum LineJson {
    Card(String),
    Entry(String),
    Receipt(String),
}

/// A later line: O1.
pub(super) fn object(text: &str) -> Result<(Kind, String), Fault> {
    let json: LineJson =
        serde_json::from_str(text).map_err(|error| Fault::NotLine(error.to_string()))?;
    Ok(match json {
        LineJson::Card(value) => (Kind::Card, value),
        LineJson::Entry(value) => (Kind::Entry, value),
        LineJson::Receipt(value) => (Kind::Receipt, value),
    })
}

/// Rule 8: O8.
pub(super) fn base64(value: &str) -> Result<Vec<u8>, Fault> {
    BASE64.decode(value).map_err(|_| Fault::NotBase64)
}
