//! Transcript export: a self-contained text file that anyone holding it can verify offline,
//! with nothing but this format and Ed25519/SHA-256/CBOR/COSE implementations.
//!
//! One JSON object per line (docs/formats.md §8 is the contract, error texts included):
//! ```text
//! {"format":"parley-transcript","version":1,"link":"<hex>","exported_ms":<ms>}
//! {"card":"<base64 of a signed contact card>"}   two lines: the exporter, then the peer
//! {"entry":"<base64 of a signed entry>"}          every entry of both logs, lower station id first
//! {"receipt":"<base64 of a signed receipt>"}      the exporter's receipt, then the peer's (if any)
//! ```
//!
//! The facade holds the file's types; `read` the reading rules (lines, JSON, base64),
//! `verify` the one-file algorithm, `compare` the agreement of two exports and pinned keys.

mod checkpoint;
mod compare;
mod read;
mod verify;

#[cfg(test)]
mod tests;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::entry::Kind;
use crate::error::DecodeError;
use crate::id::{EntryId, Fingerprint, LinkId, StationId};

pub use checkpoint::{CheckpointError, CheckpointProof, check_checkpoint, check_checkpoint_pair};
pub use compare::{
    AgreedLog, Agreement, CompareError, Disagreement, NotPinned, check_pins, compare,
};
pub use verify::verify;

/// Format name on the header line.
pub const TRANSCRIPT_FORMAT: &str = "parley-transcript";
/// How every transcript begins (its first line's first member), to tell one from other files.
pub const TRANSCRIPT_FIRST_BYTES: &str = "{\"format\":\"parley-transcript\"";

/// Whether `first` (a file's first bytes) begins as every transcript does.
pub fn looks_like_transcript(first: &[u8]) -> bool {
    first.starts_with(TRANSCRIPT_FIRST_BYTES.as_bytes())
}
/// Largest transcript file read, in bytes: a log of two hundred thousand entries at the entry
/// size limit fits several times over.
pub const TRANSCRIPT_SIZE_MAX_BYTES: usize = 1024 * 1024 * 1024;
/// Longest line accepted, in bytes before its `\n` (a base64 entry at the size limit, with
/// room).
pub const TRANSCRIPT_LINE_SIZE_MAX_BYTES: usize = 128 * 1024;
/// Most receipt lines: the exporter's, then the peer's.
pub const TRANSCRIPT_RECEIPTS_MAX: usize = 2;
/// Most bytes of a transcript's beginning that hold its header and both cards: three lines at
/// the line size limit, each with its `\n`.
pub const TRANSCRIPT_ENDS_BYTES_MAX: usize = 3 * (TRANSCRIPT_LINE_SIZE_MAX_BYTES + 1);

/// The exporter of a transcript and its peer, read from `first`, the file's beginning (at
/// least its first [`TRANSCRIPT_ENDS_BYTES_MAX`] bytes, or all of it): a header, then two
/// cards, each card's signature checked. None when it does not begin so. Only that is read:
/// it tells an export what it may replace (`parley transcript export`), it verifies nothing
/// of the record.
pub fn exported_by(first: &[u8]) -> Option<(StationId, StationId)> {
    let mut lines = read::lines(first).map(|(_, line)| read::text(line).ok());
    read::header(lines.next()??).ok()?;
    let mut card = || {
        let (kind, value) = read::object(lines.next()??).ok()?;
        let bytes = (kind == read::Kind::Card).then(|| read::base64(&value).ok())??;
        Some(
            crate::card::ContactCard::decode_verified(&bytes)
                .ok()?
                .identity,
        )
    };
    Some((card()?, card()?))
}

/// What an exporter hands in.
pub struct TranscriptParts<'a> {
    /// The link.
    pub link: LinkId,
    /// Export time (UTC ms); also the `time_ms` of the exporter's receipt.
    pub exported_ms: u64,
    /// Signed cards: exporter first, then peer.
    pub cards: [&'a [u8]; 2],
    /// Signed entries: every entry of the station with the lower id in seq order, then the
    /// other station's.
    pub entries: Vec<Vec<u8>>,
    /// Signed receipts: the exporter's of the peer's log, then the peer's latest, if any.
    pub receipts: Vec<Vec<u8>>,
}

/// Writes a transcript.
pub fn export(parts: &TranscriptParts<'_>) -> String {
    assert!(parts.receipts.len() <= TRANSCRIPT_RECEIPTS_MAX);
    let mut out = format!(
        "{{\"format\":\"{TRANSCRIPT_FORMAT}\",\"version\":1,\"link\":\"{}\",\"exported_ms\":{}}}\n",
        hex::encode(parts.link.0),
        parts.exported_ms
    );
    let mut line = |key: &str, bytes: &[u8]| {
        out.push_str(&format!("{{\"{key}\":\"{}\"}}\n", BASE64.encode(bytes)));
    };
    for card in parts.cards {
        line("card", card);
    }
    for entry in &parts.entries {
        line("entry", entry);
    }
    for receipt in &parts.receipts {
        line("receipt", receipt);
    }
    out
}

/// The signed bytes of entry `seq` of `log`, from the file `input` that [`verify`] made `log`
/// of (the evidence a station keeps when the file contradicts its own record); `None` when
/// the log has no such entry or `input` is another file. Only that entry's line is read again.
pub fn signed_entry(input: &[u8], log: &StationLog, seq: u64) -> Option<Vec<u8>> {
    let index = usize::try_from(seq.checked_sub(1)?).ok()?;
    let raw = input.get(log.spans.get(index)?.clone())?;
    let (kind, value) = read::text(raw).and_then(read::object).ok()?;
    let bytes = read::base64(&value).ok()?;
    (kind == read::Kind::Entry && crate::tlog::leaf_hash(&bytes) == log.leaves[index])
        .then_some(bytes)
}

/// Where and why verification of one file failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {fault}", entry.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
pub struct TranscriptError {
    /// 1-based line number.
    pub line: usize,
    /// The entry concerned, when it is one.
    pub entry: Option<EntryAt>,
    /// What is wrong.
    pub fault: Fault,
}

/// An entry line named in an error: `entry K`, or `entry K: author NAME seq S` once its
/// author is known (S is the seq the author's chain needs there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryAt {
    /// Entry lines counted from the top of the file, 1-based.
    pub index: usize,
    /// The author's card name and the seq its chain needs, once known.
    pub author: Option<(String, u64)>,
}

impl fmt::Display for EntryAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}", self.index)?;
        match &self.author {
            Some((name, seq)) => write!(f, ": author {name} seq {seq}"),
            None => Ok(()),
        }
    }
}

/// Every way a transcript file fails, one variant per error text of docs/formats.md §8.2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// F1.
    #[error("the file is {len} bytes, over the limit of {max} bytes")]
    FileTooLarge {
        /// The file's length.
        len: usize,
        /// [`TRANSCRIPT_SIZE_MAX_BYTES`].
        max: usize,
    },
    /// F2.
    #[error("the file is empty")]
    Empty,
    /// L1.
    #[error("line is too long")]
    LineTooLong,
    /// L2.
    #[error("line is not UTF-8 text")]
    NotUtf8,
    /// H1; the JSON parser's account.
    #[error("not a transcript header: {0}")]
    NotHeader(String),
    /// H2.
    #[error("unknown format or version")]
    UnknownFormat,
    /// H3.
    #[error("the header's link is not 32 lowercase hex digits")]
    HeaderLink,
    /// O1; the JSON parser's account.
    #[error("not a transcript line: {0}")]
    NotLine(String),
    /// O2.
    #[error("cards must be the two lines after the header")]
    CardsFirst,
    /// O3.
    #[error("entry before both cards")]
    EntryBeforeCards,
    /// O4.
    #[error("entry after a receipt")]
    EntryAfterReceipt,
    /// O5.
    #[error("receipt before both cards")]
    ReceiptBeforeCards,
    /// O7.
    #[error("more than two receipts")]
    TooManyReceipts,
    /// O8.
    #[error("not valid base64")]
    NotBase64,
    /// C1.
    #[error("card: {0}")]
    Card(DecodeError),
    /// C2.
    #[error("both cards are of the same station")]
    SameStation,
    /// C3.
    #[error("the cards do not belong to the link in the header")]
    CardsNotOfLink,
    /// E1, E4.
    #[error("{0}")]
    Entry(DecodeError),
    /// E2.
    #[error("author is neither station of the link")]
    AuthorUnknown,
    /// E3.
    #[error("{name}'s entries must all come before {other}'s (lower station id first)")]
    AuthorOrder {
        /// The author of this entry (the lower id).
        name: String,
        /// The station whose entries came first.
        other: String,
    },
    /// E5.
    #[error("entry belongs to another link")]
    EntryLink,
    /// E6.
    #[error("seq is {seq}, the chain needs {needs}")]
    Seq {
        /// The entry's seq.
        seq: u64,
        /// The seq its author's chain needs.
        needs: u64,
    },
    /// E7.
    #[error("prev hash does not match the previous entry")]
    Prev,
    /// S1.
    #[error("seen names no entry of {other} in the file")]
    Seen {
        /// The other station's name.
        other: String,
    },
    /// P1, P5.
    #[error("receipt: {0}")]
    Receipt(DecodeError),
    /// P2.
    #[error("receipt signer is neither station")]
    ReceiptSigner,
    /// P3.
    #[error("the first receipt must be the exporter's ({name}), it is signed by {other}")]
    FirstReceipt {
        /// The exporter.
        name: String,
        /// The signer.
        other: String,
    },
    /// P4.
    #[error("the second receipt must be the peer's ({name}), it is signed by {other}")]
    SecondReceipt {
        /// The peer.
        name: String,
        /// The signer.
        other: String,
    },
    /// P6.
    #[error("receipt is not for this link")]
    ReceiptLink,
    /// P7.
    #[error("receipt names an unknown station")]
    ReceiptTo,
    /// P8.
    #[error(
        "receipt does not match the receipted log: it covers {upto} entries of {name}, the file holds {len}"
    )]
    ReceiptUpto {
        /// The receipted station.
        name: String,
        /// The receipt's `upto`.
        upto: u64,
        /// Entries of that station in the file.
        len: u64,
    },
    /// P9.
    #[error("receipt does not match the receipted log: its head is not {name}'s entry {upto}")]
    ReceiptHead {
        /// The receipted station.
        name: String,
        /// The receipt's `upto`.
        upto: u64,
    },
    /// P10.
    #[error(
        "receipt does not match the receipted log: it lists {name}'s seq {seq}, the file holds {len}"
    )]
    ReceiptExtra {
        /// The receipted station.
        name: String,
        /// The seq listed in `extra`.
        seq: u64,
        /// Entries of that station in the file.
        len: u64,
    },
    /// P11.
    #[error("the exporter's receipt covers {upto} of {name}'s {len} entries, not all")]
    ExporterReceiptPartial {
        /// The peer.
        name: String,
        /// The receipt's `upto`.
        upto: u64,
        /// The peer's entries in the file.
        len: u64,
    },
    /// P12.
    #[error("the exporter's receipt is dated {time_ms}, the header says {exported_ms}")]
    ExporterReceiptTime {
        /// The receipt's `time_ms`.
        time_ms: u64,
        /// The header's `exported_ms`.
        exported_ms: u64,
    },
    /// Z1.
    #[error("the two cards are missing")]
    CardsMissing,
    /// Z2.
    #[error("the exporter's receipt is missing")]
    ExporterReceiptMissing,
    /// K1.
    #[error("{name}'s checkpoint at size {size} does not verify")]
    CheckpointSignature {
        /// The log's author.
        name: String,
        /// The checkpoint's size.
        size: u64,
    },
    /// K2.
    #[error("{name}'s checkpoint at size {size} names another root than its entries in the file")]
    CheckpointRoot {
        /// The log's author.
        name: String,
        /// The checkpoint's size.
        size: u64,
    },
    /// K3.
    #[error("{name}'s cosignature of {other}'s log at size {size} does not verify")]
    CosignatureSignature {
        /// The cosigner.
        name: String,
        /// The log's author.
        other: String,
        /// The checkpoint's size.
        size: u64,
    },
    /// K4.
    #[error(
        "{other}'s log is cut: {name} cosigned it at size {size}, the file holds {len} entries"
    )]
    CosignedCut {
        /// The cosigner.
        name: String,
        /// The log's author.
        other: String,
        /// The checkpoint's size.
        size: u64,
        /// Entries of the log in the file.
        len: u64,
    },
    /// K5.
    #[error(
        "{name}'s cosignature of {other}'s log at size {size} names another root than its entries in the file"
    )]
    CosignedRoot {
        /// The cosigner.
        name: String,
        /// The log's author.
        other: String,
        /// The checkpoint's size.
        size: u64,
    },
    /// K6.
    #[error("a witness's cosignature of {name}'s checkpoint at size {size} does not verify")]
    WitnessSignature {
        /// The log's author.
        name: String,
        /// The checkpoint's size.
        size: u64,
    },
    /// K7.
    #[error(
        "a witness's cosignature of {name}'s checkpoint at size {size} names another root than its entries in the file"
    )]
    WitnessRoot {
        /// The log's author.
        name: String,
        /// The checkpoint's size.
        size: u64,
    },
}

/// How far the other station's cosignature proves a log complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proven {
    /// The first `size` entries: the file holds them, and they have the cosigned root.
    pub size: u64,
    /// When it was cosigned, seconds since the epoch.
    pub time_s: u64,
    /// Whether the cosignature carries the cosigner's ML-DSA-44 signature, verified with the
    /// key of its version 2 card: else only Ed25519 signs the claim, which a quantum adversary
    /// could forge.
    pub post_quantum: bool,
}

/// How far a witness's cosignature proves a log complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    /// The witness: a relay's identity key, cosigning as `parley.witness/<key hex>`, or a
    /// stock witness's name and key (the name is untrusted text).
    pub witness: crate::tlog::head::Witness,
    /// The first `size` entries: the file holds them, and they have the cosigned root.
    pub size: u64,
    /// When it was cosigned, seconds since the epoch.
    pub time_s: u64,
}

impl Witnessed {
    pub(super) fn of(cosignature: &crate::tlog::head::WitnessCosignature) -> Self {
        Self {
            witness: cosignature.witness.clone(),
            size: cosignature.head.size,
            time_s: cosignature.time_s,
        }
    }
}

/// One station's part of a verified transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationLog {
    /// Its identity key.
    pub identity: StationId,
    /// Its ML-DSA-44 key, if its card is version 2.
    pub pq_key: Option<crate::pq::PqPublicKey>,
    /// Name from its card, as signed (untrusted text: escape it before display).
    pub name: String,
    /// Its signed card as the file holds it.
    pub card: Vec<u8>,
    /// Ids of its entries in the file, in seq order.
    pub ids: Vec<EntryId>,
    /// The Merkle leaf hash of each of its entries, in seq order (docs/formats.md §3.5).
    pub leaves: Vec<crate::tlog::Hash>,
    /// Where in the file each of its entries' lines is (byte offsets, without the `\n`), in
    /// seq order.
    pub spans: Vec<std::ops::Range<usize>>,
    /// The largest checkpoint of its log the other station cosigned in the file, if any.
    pub proven: Option<Proven>,
    /// The largest checkpoint of its log each witness cosigned in the file, in the order the
    /// witnesses first appear.
    pub witnessed: Vec<Witnessed>,
    /// How many of its entries are of each kind.
    pub kinds: KindCounts,
    /// How far the other station's receipt in the file covers this log, if there is one.
    pub receipted_upto: Option<u64>,
    /// That receipt, as the other station signed it.
    pub receipt: Option<Vec<u8>>,
}

/// Entries counted by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindCounts([u64; Kind::ALL.len()]);

impl KindCounts {
    /// Counts one entry of `kind`.
    pub fn add(&mut self, kind: Kind) {
        self.0[Self::index(kind)] += 1;
    }

    /// Entries of `kind`.
    pub fn of(&self, kind: Kind) -> u64 {
        self.0[Self::index(kind)]
    }

    /// Every kind with at least one entry, in code order.
    pub fn present(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        Kind::ALL
            .into_iter()
            .map(|kind| (kind, self.of(kind)))
            .filter(|(_, count)| *count > 0)
    }

    fn index(kind: Kind) -> usize {
        Kind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is in Kind::ALL")
    }
}

impl StationLog {
    /// Entries of its log in the file.
    pub fn entries(&self) -> u64 {
        self.ids.len() as u64
    }

    /// Id of its last entry in the file ([`EntryId::NONE`] if none).
    pub fn head(&self) -> EntryId {
        self.ids.last().copied().unwrap_or(EntryId::NONE)
    }

    /// Its fingerprint, as its card in the file gives it.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.identity, self.pq_key.as_ref())
    }

    /// Whether `pin` names it: its card's fingerprint, or its Ed25519 key's (version 1).
    pub fn is(&self, pin: &Fingerprint) -> bool {
        self.fingerprint() == *pin || self.identity.key_fingerprint() == *pin
    }
}

/// A verified transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTranscript {
    /// The link.
    pub link: LinkId,
    /// Export time, as the exporter signed it in its receipt.
    pub exported_ms: u64,
    /// The exporter (card 1, signer of receipt 1), then the peer.
    pub stations: [StationLog; 2],
}

impl VerifiedTranscript {
    /// The exporter.
    pub fn exporter(&self) -> &StationLog {
        &self.stations[0]
    }

    /// The peer.
    pub fn peer(&self) -> &StationLog {
        &self.stations[1]
    }

    /// The exporter's entries the peer acknowledged in the file (its receipt's `upto`, 0
    /// without one): the exporter's log is proven complete up to here and no further.
    pub fn exporter_acknowledged(&self) -> u64 {
        self.exporter().receipted_upto.unwrap_or(0)
    }
}
