//! Entries: the records of a station's append-only log for a link.
//!
//! Payload (deterministic CBOR array, signed as COSE_Sign1 `application/parley-entry`):
//! `[1, link, author, seq, prev, seen, time_ms, precedence, kind, body]`, or with an eleventh
//! item `operator` when an operator wrote an entry whose body does not name one — see
//! docs/formats.md.

use ciborium::Value;

use crate::cbor::{self, Fields};
use crate::cose::{self, CONTENT_TYPE_ENTRY, Unverified};
use crate::error::DecodeError;
use crate::id::{EntryId, Identity, LinkId, StationId};
use crate::limits::{ENTRY_SIZE_MAX_BYTES, NAME_SIZE_MAX_BYTES};
use crate::names::check_name;
use crate::tlog::head::WitnessCosignature;

mod body;
mod watch;

pub use body::{Body, Kind, Translation, is_lang_tag};
pub use watch::{Objective, TestAnswer, TestSchedule};

/// Handling precedence, highest first, with the time objective of each.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Precedence {
    /// Handle within 6 hours.
    Routine = 1,
    /// Handle within 3 hours.
    Priority = 2,
    /// Handle within 30 minutes.
    Immediate = 3,
    /// Handle within 10 minutes.
    Flash = 4,
}

impl Precedence {
    /// All levels, highest first.
    pub const ALL: [Precedence; 4] = [
        Precedence::Flash,
        Precedence::Immediate,
        Precedence::Priority,
        Precedence::Routine,
    ];

    /// Lower-case name as used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Precedence::Routine => "routine",
            Precedence::Priority => "priority",
            Precedence::Immediate => "immediate",
            Precedence::Flash => "flash",
        }
    }

    /// Parses a lower- or upper-case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The wire code.
    pub fn code(self) -> u64 {
        self as u64
    }

    /// From the wire code.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// Time objective for handling, in milliseconds.
    pub fn objective_ms(self) -> u64 {
        match self {
            Precedence::Flash => 10 * 60_000,
            Precedence::Immediate => 30 * 60_000,
            Precedence::Priority => 3 * 3_600_000,
            Precedence::Routine => 6 * 3_600_000,
        }
    }
}

crate::serde_by_name!(
    Precedence,
    "precedence",
    "use flash, immediate, priority or routine"
);

/// The header's operator: absent, or a name on a body that names no operator itself.
fn check_header_operator(body: &Body, operator: Option<&str>) -> Result<(), DecodeError> {
    match operator {
        Some(name) if body.operator().is_some() || check_name(name).is_err() => {
            Err(DecodeError::Field {
                what: "entry",
                field: "operator",
            })
        }
        _ => Ok(()),
    }
}

/// One log record, before signing.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// The link this log belongs to.
    pub link: LinkId,
    /// The station that wrote it.
    pub author: StationId,
    /// 1, 2, 3… without gaps, per author per link.
    pub seq: u64,
    /// Id of the author's entry `seq - 1`, or [`EntryId::NONE`] for seq 1.
    pub prev: EntryId,
    /// Latest contiguous entry id the author held from the peer, or [`EntryId::NONE`].
    pub seen: EntryId,
    /// UTC time of writing, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Handling precedence.
    pub precedence: Precedence,
    /// Contents.
    pub body: Body,
    /// The operator at the author's station who wrote it, for a body that does not name one
    /// itself (a message, a cancellation, a proposal, a test); `None` when the station wrote
    /// it on its own or the body names the operator.
    pub operator: Option<String>,
}

impl Entry {
    /// Who at the author's station wrote this entry: the operator its header or its body names.
    pub fn operator(&self) -> Option<&str> {
        self.operator
            .as_deref()
            .or_else(|| self.body.operator())
            .filter(|name| !name.is_empty())
    }

    fn to_value(&self) -> Value {
        let mut items = vec![
            cbor::uint(1),
            cbor::bytes(&self.link.0),
            cbor::bytes(&self.author.0),
            cbor::uint(self.seq),
            cbor::bytes(&self.prev.0),
            cbor::bytes(&self.seen.0),
            cbor::uint(self.time_ms),
            cbor::uint(self.precedence.code()),
            cbor::uint(self.body.kind() as u64),
            self.body.to_value(),
        ];
        if let Some(operator) = &self.operator {
            items.push(cbor::text(operator));
        }
        Value::Array(items)
    }

    fn from_payload(payload: &[u8]) -> Result<Self, DecodeError> {
        let value = cbor::decode(payload, "entry")?;
        let arity = match &value {
            Value::Array(items) if items.len() == 11 => 11,
            _ => 10,
        };
        let mut f = Fields::versioned(value, "entry", arity)?;
        let link = LinkId(f.fixed("link")?);
        let author = StationId(f.fixed("author")?);
        let seq = f.uint("seq")?;
        let prev = EntryId(f.fixed("prev")?);
        let seen = EntryId(f.fixed("seen")?);
        let time_ms = f.uint("time_ms")?;
        let malformed = |field| DecodeError::Field {
            what: "entry",
            field,
        };
        let precedence =
            Precedence::from_code(f.uint("precedence")?).ok_or(malformed("precedence"))?;
        let kind = Kind::from_code(f.uint("kind")?).ok_or(malformed("kind"))?;
        let body = Body::from_value(kind, f.value("body")?)?;
        if seq == 0 || (seq == 1) != (prev == EntryId::NONE) {
            return Err(malformed("seq"));
        }
        // A checkpoint (and a witness's cosignature of one) covers only the entries its
        // author wrote before it.
        if let Body::Checkpoint(head, _) | Body::Witnessed(WitnessCosignature { head, .. }) = &body
            && head.size >= seq
        {
            return Err(malformed("body.size"));
        }
        let operator = match arity {
            11 => Some(f.text("operator", NAME_SIZE_MAX_BYTES)?),
            _ => None,
        };
        check_header_operator(&body, operator.as_deref())?;
        Ok(Entry {
            link,
            author,
            seq,
            prev,
            seen,
            time_ms,
            precedence,
            body,
            operator,
        })
    }

    /// Whether the header's operator is well formed: a name, and only on a body that does
    /// not name its operator itself (one entry names one operator, once).
    pub fn check_operator(&self) -> Result<(), DecodeError> {
        check_header_operator(&self.body, self.operator.as_deref())
    }

    /// Signs the entry as its author.
    pub fn sign(self, author: &Identity) -> SignedEntry {
        assert_eq!(author.id(), self.author, "an entry is signed by its author");
        let bytes = cose::sign(author, CONTENT_TYPE_ENTRY, cbor::encode(&self.to_value()));
        SignedEntry {
            id: EntryId::of(&bytes),
            entry: self,
            bytes,
        }
    }
}

/// An entry with its signed bytes and id. Only built by signing or by verifying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedEntry {
    entry: Entry,
    bytes: Vec<u8>,
    id: EntryId,
}

impl SignedEntry {
    /// Decodes signed bytes and verifies them under the author's key. The author is read from
    /// the payload and must equal `author`.
    pub fn decode_verified(bytes: &[u8], author: &StationId) -> Result<Self, DecodeError> {
        let mut batch = crate::ed25519::Batch::new();
        let entry = Self::decode_in(bytes, author, &mut batch)?;
        batch
            .verify()
            .map_err(|_| DecodeError::BadSignature { what: "entry" })?;
        Ok(entry)
    }

    /// As [`SignedEntry::decode_verified`], but the signature is gathered into `batch`: the
    /// entry is not to be trusted until `batch` verifies. An entry that fails to decode has
    /// its signature checked at once, so that a damaged entry is called badly signed, as
    /// [`SignedEntry::decode_verified`] calls it.
    pub fn decode_in(
        bytes: &[u8],
        author: &StationId,
        batch: &mut crate::ed25519::Batch,
    ) -> Result<Self, DecodeError> {
        let unverified =
            Unverified::parse(bytes, "entry", CONTENT_TYPE_ENTRY, ENTRY_SIZE_MAX_BYTES)?;
        let mut own = crate::ed25519::Batch::new();
        let payload = unverified.verify_in(&author.verifying_key()?, &mut own)?;
        let entry = match Entry::from_payload(&payload) {
            Ok(entry) if entry.author == *author => entry,
            decoded => {
                own.verify()
                    .map_err(|_| DecodeError::BadSignature { what: "entry" })?;
                decoded?;
                return Err(DecodeError::Field {
                    what: "entry",
                    field: "author",
                });
            }
        };
        batch.append(own);
        Ok(Self {
            entry,
            bytes: bytes.to_vec(),
            id: EntryId::of(bytes),
        })
    }

    /// Decodes bytes this station verified before it stored them, beside their id. The id
    /// stands in for the signature: the bytes must still hash to it, so any change to them
    /// since (a flipped bit, a torn page) is refused. Whoever checks a whole stored log this way
    /// verifies the signature of its last entry with [`Self::decode_verified`]: each entry
    /// names its predecessor's id, so that one signature covers the chain below it.
    pub fn decode_stored(bytes: &[u8], id: &EntryId) -> Result<Self, DecodeError> {
        if EntryId::of(bytes) != *id {
            return Err(DecodeError::IdMismatch { what: "entry" });
        }
        let unverified =
            Unverified::parse(bytes, "entry", CONTENT_TYPE_ENTRY, ENTRY_SIZE_MAX_BYTES)?;
        let entry = Entry::from_payload(unverified.payload_unverified())?;
        Ok(Self {
            entry,
            bytes: bytes.to_vec(),
            id: *id,
        })
    }

    /// Reads the author named inside signed bytes without verifying (to pick the key).
    pub fn author_unverified(bytes: &[u8]) -> Result<StationId, DecodeError> {
        let unverified =
            Unverified::parse(bytes, "entry", CONTENT_TYPE_ENTRY, ENTRY_SIZE_MAX_BYTES)?;
        Ok(Entry::from_payload(unverified.payload_unverified())?.author)
    }

    /// The entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The signed bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The id (SHA-256 of the signed bytes).
    pub fn id(&self) -> EntryId {
        self.id
    }
}

#[cfg(test)]
mod tests;
