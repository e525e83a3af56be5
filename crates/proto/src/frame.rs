//! Frames: the unit every channel moves. One tag byte, then an envelope or a receipt.

use crate::error::Rejection;
use crate::limits::FRAME_SIZE_MAX_BYTES;

/// Tag of a frame carrying an envelope.
pub const TAG_ENVELOPE: u8 = 1;
/// Tag of a frame carrying a receipt.
pub const TAG_RECEIPT: u8 = 2;

/// A frame split into its kind and body.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An envelope.
    Envelope(&'a [u8]),
    /// A receipt.
    Receipt(&'a [u8]),
}

impl<'a> Frame<'a> {
    /// Splits a frame. Empty, oversized or unknown frames are rejected.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Rejection> {
        if bytes.len() > FRAME_SIZE_MAX_BYTES {
            return Err(Rejection::Decode(crate::DecodeError::TooLarge {
                what: "frame",
                len: bytes.len(),
                max: FRAME_SIZE_MAX_BYTES,
            }));
        }
        match bytes.split_first() {
            Some((&TAG_ENVELOPE, body)) => Ok(Frame::Envelope(body)),
            Some((&TAG_RECEIPT, body)) => Ok(Frame::Receipt(body)),
            Some((&tag, _)) => Err(Rejection::UnknownFrame(tag)),
            None => Err(Rejection::UnknownFrame(0)),
        }
    }

    /// Builds frame bytes.
    pub fn encode(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 1);
        out.push(tag);
        out.extend_from_slice(body);
        out
    }
}
