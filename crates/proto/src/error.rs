//! Errors, split as rustls does: what a hostile or broken peer sent ([`Rejection`], counted and
//! logged by the driver), what could not be decoded ([`DecodeError`]), and what an operator asked
//! for that cannot be done ([`SendError`]).

use thiserror::Error;

/// Why bytes could not be decoded into a parley object. Nothing is stored for them.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input exceeds the limit for its kind.
    #[error("{what} is {len} bytes, over the limit of {max} bytes")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The bytes are not well-formed CBOR.
    #[error("{what} is not valid CBOR: {detail}")]
    Cbor {
        /// What was being decoded.
        what: &'static str,
        /// The parser's account.
        detail: String,
    },
    /// The CBOR holds more items than any parley object ([`crate::cbor::DECODE_ITEMS_MAX`]).
    #[error("{what} holds more than {max} CBOR items, more than any parley object")]
    TooManyItems {
        /// What was being decoded.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// The CBOR is valid but not in deterministic (canonical) form, or has trailing bytes.
    #[error("{what} is not in deterministic CBOR encoding")]
    NonCanonical {
        /// What was being decoded.
        what: &'static str,
    },
    /// A field is missing, of the wrong type or of the wrong length.
    #[error("{what}: field {field} is malformed")]
    Field {
        /// What was being decoded.
        what: &'static str,
        /// The field's name as in docs/formats.md.
        field: &'static str,
    },
    /// A format version this build does not know.
    #[error("{what} has format version {version}, which this build does not read")]
    Version {
        /// What was being decoded.
        what: &'static str,
        /// The version found.
        version: u64,
    },
    /// The COSE structure is wrong: algorithm, content type or headers.
    #[error("{what}: COSE_Sign1 structure is wrong: {detail}")]
    Cose {
        /// What was being decoded.
        what: &'static str,
        /// Which part.
        detail: &'static str,
    },
    /// The signature does not verify under the expected key.
    #[error("{what}: signature does not verify")]
    BadSignature {
        /// What was being verified.
        what: &'static str,
    },
    /// Bytes kept beside their id no longer hash to it: they changed since they were stored.
    #[error("{what}: the bytes no longer hash to their stored id")]
    IdMismatch {
        /// What was being decoded.
        what: &'static str,
    },
    /// The armoured text form is broken.
    #[error("{what}: {detail}")]
    Armor {
        /// What was being decoded.
        what: &'static str,
        /// What is wrong.
        detail: &'static str,
    },
}

/// Why an envelope or receipt from a channel was refused. The driver counts each and logs it;
/// none of them changes stored state.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Undecodable or badly signed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Signed by (or claiming to be from) a station that is not pinned.
    #[error("sender {0} is not a pinned peer")]
    UnknownSender(String),
    /// Addressed to another station or link.
    #[error("addressed to another station or link")]
    Misaddressed,
    /// The peer's entry `seq` is sealed to an epoch key this station does not hold.
    #[error("entry {seq} is sealed to unknown epoch key {key}")]
    UnknownEpochKey {
        /// The key's id, as the envelope names it.
        key: String,
        /// The entry's seq in the peer's log.
        seq: u64,
    },
    /// The ciphertext does not open.
    #[error("ciphertext does not open")]
    Decrypt,
    /// The entry inside does not match its envelope header.
    #[error("entry does not match its envelope header: {0}")]
    HeaderMismatch(&'static str),
    /// Too far ahead of the contiguous head; the sender will retransmit.
    #[error("seq {seq} is beyond the reorder window (head {head})")]
    OutOfWindow {
        /// The entry's seq.
        seq: u64,
        /// The contiguous head.
        head: u64,
    },
    /// The same author and seq with a different entry: kept as evidence, never accepted.
    #[error("equivocation: seq {seq} already held with a different entry")]
    Equivocation {
        /// The seq signed twice.
        seq: u64,
    },
    /// The entry's previous-hash does not continue the author's chain.
    #[error("fork: seq {seq} does not continue the author's chain")]
    Fork {
        /// The seq whose prev hash is wrong.
        seq: u64,
    },
    /// A receipt that names entries never sent, or a head that differs from ours.
    #[error("receipt is inconsistent with our log: {0}")]
    BadReceipt(&'static str),
    /// The entry's `seen` names no entry this station wrote on the link.
    #[error("entry names as seen an entry this station never wrote")]
    UnknownSeen,
    /// Entry time too far in the future.
    #[error("entry time is {ahead_ms} ms ahead of this station's clock")]
    ClockSkew {
        /// How far ahead.
        ahead_ms: u64,
    },
    /// The peer has used up what this station takes from it (its intake allowance): the
    /// entry is not opened or stored, and waits with the peer, which sends it again.
    #[error(
        "the peer has sent more than this station takes from one peer ({burst_bytes} bytes at once, {per_day_bytes} a day); its entry of {bytes} bytes waits with the peer and fits in {wait_ms} ms"
    )]
    OverIntake {
        /// The size of the entry as sealed (its bytes and the AEAD's tag).
        bytes: usize,
        /// How long until it fits, in milliseconds.
        wait_ms: u64,
        /// The burst of the allowance.
        burst_bytes: u64,
        /// The daily rate of the allowance.
        per_day_bytes: u64,
    },
    /// A frame with an unknown tag.
    #[error("unknown frame tag {0}")]
    UnknownFrame(u8),
}

impl Rejection {
    /// A short stable name for counters and logs.
    pub fn counter_name(&self) -> &'static str {
        match self {
            Rejection::Decode(DecodeError::BadSignature { .. }) => "bad_signature",
            Rejection::Decode(DecodeError::TooLarge { .. }) => "oversized",
            Rejection::Decode(_) => "malformed",
            Rejection::UnknownSender(_) => "unknown_sender",
            Rejection::Misaddressed => "misaddressed",
            Rejection::UnknownEpochKey { .. } => "unknown_epoch_key",
            Rejection::Decrypt => "decrypt_failed",
            Rejection::HeaderMismatch(_) => "header_mismatch",
            Rejection::OutOfWindow { .. } => "out_of_window",
            Rejection::Equivocation { .. } => "equivocation",
            Rejection::Fork { .. } => "fork",
            Rejection::BadReceipt(_) => "bad_receipt",
            Rejection::UnknownSeen => "unknown_seen",
            Rejection::ClockSkew { .. } => "clock_skew",
            Rejection::OverIntake { .. } => "over_intake",
            Rejection::UnknownFrame(_) => "unknown_frame",
        }
    }
}

/// Why `send` refused a message. Nothing was stored.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The whole entry, signed, is longer than [`crate::limits::ENTRY_SIZE_MAX_BYTES`].
    #[error(
        "the entry would be {len} bytes signed, over the limit of {max} bytes; shorten the text, its translations or its values; nothing was stored"
    )]
    EntryTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The text is longer than [`crate::limits::TEXT_SIZE_MAX_BYTES`].
    #[error(
        "text is {len} bytes, over the limit of {max} bytes; shorten it or split it into several messages"
    )]
    TextTooLarge {
        /// The text's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The text is empty.
    #[error("text is empty")]
    TextEmpty,
    /// The outbox already holds [`crate::limits::OUTBOX_DEPTH_MAX`] unreceipted entries.
    #[error(
        "outbox holds {depth} unreceipted entries, the limit; wait for the peer to receipt some"
    )]
    OutboxFull {
        /// Current depth.
        depth: usize,
    },
    /// The language tag is too long.
    #[error("language tag is over {max} bytes")]
    LangTooLarge {
        /// The limit.
        max: usize,
    },
    /// The entry would not decode at the peer (a field out of its bounds).
    #[error("the entry would not decode: {0}")]
    Malformed(DecodeError),
    /// The peer signed a receipt of own entries beyond the own log: this store lacks entries
    /// this station wrote (put back to an older copy), and the next would fork the log.
    #[error(
        "the peer holds this station's log up to seq {peer_holds}, but this store ends at seq {written}: the store was put back to an older copy (or the identity key is in other hands). Nothing more is written to this peer, so that its log does not fork, until the lost entries are taken back from a transcript (`parley transcript recover`); see `parley run` in docs/cli.md"
    )]
    LogBehind {
        /// The highest own seq the peer's receipt covers.
        peer_holds: u64,
        /// The own log's last seq here.
        written: u64,
    },
    /// The peer signed a receipt naming another entry at an own seq than this store holds:
    /// the store was put back to an older copy and wrote entries since, forking the log.
    #[error(
        "the peer holds another entry of this station's log at seq {seq} than this store: the store was put back to an older copy and wrote entries since, forking the log (or the peer's receipt is false, or the identity key is in other hands). Nothing more is written to this peer; see `parley run` in docs/cli.md"
    )]
    LogForked {
        /// The own seq the peer's receipt names another entry at.
        seq: u64,
    },
}

/// Why own entries this store lost were not taken back ([`crate::Endpoint::recover`]).
/// Nothing was stored.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoverError {
    /// The own log forked: this store wrote other entries at seqs the peer holds. Those
    /// cannot be taken back over the ones this store signed since.
    #[error(
        "this station's log of the link forked at seq {seq}: this store wrote other entries at seqs the peer holds, and they cannot be taken back; nothing was stored"
    )]
    Forked {
        /// The lowest own seq the peer holds another entry at.
        seq: u64,
    },
    /// An entry does not continue the own log (a seq, a link, an author or a `prev` that is
    /// not the next).
    #[error(
        "own entry seq {seq} does not continue this store's log of the link, which ends at seq {written}; nothing was stored"
    )]
    Discontinuous {
        /// Its seq.
        seq: u64,
        /// The own log's last seq here.
        written: u64,
    },
}

impl SendError {
    /// Whether the link takes no more entries (this store was put back to an older copy),
    /// rather than refusing this one for now or for what it is.
    pub fn closes_link(&self) -> bool {
        matches!(
            self,
            SendError::LogBehind { .. } | SendError::LogForked { .. }
        )
    }
}
