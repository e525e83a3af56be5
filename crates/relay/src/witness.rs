//! The relay as a witness of the stations' link logs (`c2sp.org/tlog-witness`), free of I/O:
//! reading an `add-checkpoint` request, checking it in the specified order, and deciding what
//! it does to the checkpoint the witness holds for its log. The server carries the decisions
//! out (`server/witness.rs`); the store keeps each log's latest cosigned checkpoint and the
//! evidence of conflicts, and takes the decision on what it holds (`store/witness.rs`).
//!
//! The witness trusts, for the origin `parley.link/<author>/<peer>` (a link log,
//! [`head::origin`]), exactly one key: the author's identity key under that origin as key name,
//! and only while the author is admitted at this relay and not revoked. The checks, in order,
//! each with the status the specification gives it:
//!
//! 1. the body is an `add-checkpoint` request whose checkpoint is a well-formed signed note
//!    with a checkpoint's text of at most [`WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES`] — 400
//!    ([`read`]);
//! 2. a signature by the key of the origin's author is there and verifies (signatures by other
//!    keys are ignored; one under the author's name and key id that does not verify refuses the
//!    note) — 403;
//! 3. that author is admitted — 404 (after the signature, so that a forged checkpoint is
//!    refused alike whoever its origin names: a forger learns nothing of whether a station
//!    uses this relay; a genuine checkpoint replayed, which circulate, still tells it);
//! 4. the old size is at most the checkpoint's size — 400 ([`Unverified::verify`] does 2 to
//!    4);
//!
//! then, against the checkpoint the witness holds for the log ([`decide`]):
//!
//! 5. the old size is the size of the latest checkpoint cosigned for the log, 0 if none — 409,
//!    with that size;
//! 6. (no rule of its own: a checkpoint of size 0 whose root is not the empty tree's is one of
//!    the size held, 0 if none, with another root — step 8's 409, as the specification says);
//! 7. from old size 0 the proof is empty — 422;
//! 8. at equal sizes the roots are equal (else a conflict) and the proof is empty — 422;
//! 9. otherwise the consistency proof from the held checkpoint verifies (else a conflict) — 422.
//!
//! A checkpoint that passes them all is cosigned, and only then: the one held submitted again
//! (the same text) afresh, with nothing written ([`Cosign::Again`]); any other once stored as
//! the log's latest, the decision taken again in the transaction that stores it
//! ([`Cosign::Store`]).
//!
//! A conflict is a checkpoint validly signed by the log's author that the witness cannot
//! reconcile with the one it holds, which the store keeps. Another root at the size held is
//! evidence of a fork by itself: the author signed two trees of one size. A larger tree whose
//! consistency proof does not verify is not: the fork may be there, or only a bad proof, which
//! anyone holding a checkpoint the author signed can send.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::StatusCode;
use parley_proto::StationId;
use parley_proto::tlog::head::{self, ORIGIN_PREFIX};
use parley_proto::tlog::note::{self, Checkpoint, NoteError};
use parley_proto::tlog::{self, Hash};
use parley_relay_wire::witness::AddCheckpoint;

use crate::limits::{WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES, WITNESS_LOG_SIZE_MAX};
use crate::store::StationStatus;

pub use parley_relay_wire::witness::name;

#[cfg(test)]
mod tests;

/// Why the witness did not cosign a checkpoint. Each text says what was wrong and that nothing
/// was cosigned; none repeats text from the request but an origin checked to be a link log's.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WitnessRefusal {
    /// Not an `add-checkpoint` request carrying a checkpoint as a signed note (400).
    #[error("the request is malformed: {0}; nothing was cosigned")]
    Malformed(String),
    /// The origin names no log this witness cosigns (404).
    #[error(
        "{0}; this witness cosigns only the link logs (origin parley.link/<author key hex>/<peer \
         key hex>) of stations admitted at this relay; nothing was cosigned"
    )]
    UnknownOrigin(String),
    /// No signature by the log's key verifies on the checkpoint (403).
    #[error("{0}; nothing was cosigned")]
    Unsigned(String),
    /// The old size is above the checkpoint's size (400).
    #[error("the old size {old_size} is above the checkpoint's size {size}; nothing was cosigned")]
    OldSizeAboveSize {
        /// The old size of the request.
        old_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// Old size 0 with a consistency proof (422).
    #[error(
        "the old size is 0 but the request carries {lines} consistency proof lines: the empty \
         tree needs no proof; nothing was cosigned"
    )]
    ProofFromEmptyTree {
        /// Proof lines sent.
        lines: usize,
    },
    /// The old size is not the size of the checkpoint the witness holds (409).
    #[error(
        "the old size {old_size} is not the size of the latest checkpoint this witness \
         cosigned for the log, {held}; nothing was cosigned; send a proof from size {held}"
    )]
    StaleOldSize {
        /// The old size of the request.
        old_size: u64,
        /// The size of the checkpoint held (0 if none).
        held: u64,
    },
    /// The checkpoint's size is the old size, but a proof came with it (422).
    #[error(
        "the checkpoint's size is the old size, so the consistency proof must be empty, but \
         it has {lines} lines; nothing was cosigned"
    )]
    ProofBetweenEqualSizes {
        /// Proof lines sent.
        lines: usize,
    },
    /// The checkpoint, validly signed, cannot be reconciled with the one held (422).
    #[error("{}", conflict_text(.reason, .held, .size))]
    Conflict {
        /// Why not.
        reason: ConflictReason,
        /// The size of the checkpoint held.
        held: u64,
        /// The size of the checkpoint submitted.
        size: u64,
    },
    /// The author has as many witnessed logs as the witness keeps per station (507).
    #[error(
        "this witness already holds checkpoints of {max} logs of this log's author, the most \
         it keeps per station; nothing was cosigned; ask the relay's operator"
    )]
    TooManyLogs {
        /// [`crate::limits::WITNESS_LOGS_PER_STATION_MAX`].
        max: u64,
    },
    /// The witness could not make its cosignature (500): a failure of the relay.
    #[error("the witness could not cosign: {0}; nothing was cosigned; retry later")]
    CannotCosign(String),
}

fn conflict_text(reason: &ConflictReason, held: &u64, size: &u64) -> String {
    match reason {
        ConflictReason::SameSizeDifferentRoot => format!(
            "the checkpoint has the size of the latest one this witness cosigned for the log \
             ({size}) but another root: its author signed two different trees of that size; \
             nothing was cosigned: this is evidence of a fork, reported to the relay's operator"
        ),
        ConflictReason::InconsistentProof => format!(
            "the consistency proof from the latest checkpoint this witness cosigned for the log \
             (size {held}) to this one (size {size}) does not verify: a fork, or a bad proof; \
             nothing was cosigned, and it is reported to the relay's operator; if the log did \
             not fork, send a correct proof from size {held}"
        ),
    }
}

impl WitnessRefusal {
    /// The HTTP status `c2sp.org/tlog-witness` gives it (507 for the witness's own bound).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) | Self::OldSizeAboveSize { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownOrigin(_) => StatusCode::NOT_FOUND,
            Self::Unsigned(_) => StatusCode::FORBIDDEN,
            Self::StaleOldSize { .. }
            | Self::Conflict {
                reason: ConflictReason::SameSizeDifferentRoot,
                ..
            } => StatusCode::CONFLICT,
            Self::ProofFromEmptyTree { .. }
            | Self::ProofBetweenEqualSizes { .. }
            | Self::Conflict { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyLogs { .. } => StatusCode::INSUFFICIENT_STORAGE,
            Self::CannotCosign(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Why a checkpoint signed by a log's author cannot be reconciled with the one the witness
/// holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConflictReason {
    /// The same size, another root: two signed trees of one size, proof of a fork by itself.
    SameSizeDifferentRoot,
    /// A larger tree whose consistency proof from the one held does not verify: a fork, or a
    /// bad proof (the two checkpoints alone do not say which, and anyone holding a checkpoint
    /// the author signed can send one with a bad proof).
    InconsistentProof,
}

impl ConflictReason {
    /// Every reason.
    pub const ALL: [ConflictReason; 2] = [
        ConflictReason::SameSizeDifferentRoot,
        ConflictReason::InconsistentProof,
    ];

    /// Its name in the store, the metrics and `--json`.
    pub fn name(self) -> &'static str {
        match self {
            ConflictReason::SameSizeDifferentRoot => "same_size_different_root",
            ConflictReason::InconsistentProof => "inconsistent_proof",
        }
    }

    /// The reason named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.name() == name)
    }
}

/// A request whose form is checked, its checkpoint not yet verified.
#[derive(Clone, Debug)]
pub struct Unverified {
    request: AddCheckpoint,
    checkpoint: Checkpoint,
    author: StationId,
}

/// Reads an `add-checkpoint` body: the request's form, the note's form, a checkpoint's text
/// within [`WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES`], and an origin that names a link log.
pub fn read(body: &[u8]) -> Result<Unverified, WitnessRefusal> {
    let request =
        AddCheckpoint::parse(body).map_err(|error| WitnessRefusal::Malformed(error.to_string()))?;
    let text = note_text(&request.checkpoint)?;
    if text.len() > WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES {
        return Err(WitnessRefusal::Malformed(format!(
            "the checkpoint's text is {} bytes, over this witness's limit of {} bytes",
            text.len(),
            WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES
        )));
    }
    let checkpoint = Checkpoint::parse(text)
        .map_err(|error| WitnessRefusal::Malformed(format!("the checkpoint is {error}")))?;
    for (what, size) in [
        ("the checkpoint's size", checkpoint.size),
        ("the old size", request.old_size),
    ] {
        if size > WITNESS_LOG_SIZE_MAX {
            return Err(WitnessRefusal::Malformed(format!(
                "{what} {size} is over {WITNESS_LOG_SIZE_MAX}, the largest log this witness holds"
            )));
        }
    }
    let (author, _) = link_of(&checkpoint.origin).ok_or_else(|| {
        WitnessRefusal::UnknownOrigin("the checkpoint's origin names no link log".to_owned())
    })?;
    Ok(Unverified {
        request,
        checkpoint,
        author,
    })
}

/// The author and the peer of the link log named `origin`, if it is written exactly as
/// [`head::origin`] writes one (lowercase hex) and names two stations (none links to itself).
pub fn link_of(origin: &str) -> Option<(StationId, StationId)> {
    let rest = origin.strip_prefix(ORIGIN_PREFIX)?;
    let (author, peer) = rest.split_once('/')?;
    let id = |text: &str| {
        let mut id = [0u8; 32];
        hex::decode_to_slice(text, &mut id).ok()?;
        Some(StationId(id))
    };
    let (author, peer) = (id(author)?, id(peer)?);
    (author != peer && head::origin(&author, &peer) == origin).then_some((author, peer))
}

/// The text of a well-formed signed note, its signatures unchecked.
fn note_text(checkpoint_note: &str) -> Result<&str, WitnessRefusal> {
    note::text(checkpoint_note).map_err(|error| {
        let why = match error {
            NoteError::Malformed(why) => why.to_owned(),
            other => other.to_string(),
        };
        WitnessRefusal::Malformed(format!("the checkpoint is not a signed note: {why}"))
    })
}

impl Unverified {
    /// The station whose key the checkpoint must be signed by.
    pub fn author(&self) -> StationId {
        self.author
    }

    /// The checkpoint's origin: a link log's.
    pub fn origin(&self) -> &str {
        &self.checkpoint.origin
    }

    /// Checks the checkpoint against its author's key, then whether the author is admitted
    /// (`author`), then that the old size is at most its size: the checks that need nothing
    /// the witness holds.
    pub fn verify(self, author: StationStatus) -> Result<Submission, WitnessRefusal> {
        let origin = &self.checkpoint.origin;
        let unknown = || {
            WitnessRefusal::UnknownOrigin(format!(
                "the author of log {origin}, station {}, is not admitted at this relay",
                self.author.key_fingerprint()
            ))
        };
        let key = self.author.verifying_key().map_err(|_| unknown())?;
        let note = &self.request.checkpoint;
        let text = note::open(note, origin, &key).map_err(|error| match error {
            NoteError::Unsigned(_) => WitnessRefusal::Unsigned(format!(
                "the checkpoint carries no signature by the key of log {origin}"
            )),
            NoteError::BadSignature(_) => WitnessRefusal::Unsigned(format!(
                "the signature by the key of log {origin} does not verify"
            )),
            NoteError::Malformed(why) => WitnessRefusal::Unsigned(format!(
                "the signatures by the key of log {origin} cannot be checked: {why}"
            )),
            NoteError::NotACheckpoint(why) => {
                WitnessRefusal::Malformed(format!("the checkpoint is not one: {why}"))
            }
        })?;
        // Admission only once the author's signature verifies: a forged checkpoint is refused
        // alike (403) whoever its origin names, so a forger learns nothing of whether that
        // station uses this relay.
        if author != StationStatus::Admitted {
            return Err(unknown());
        }
        let kept = author_signed(note, text, origin, note::key_id(origin, &key))?;
        let (old_size, size) = (self.request.old_size, self.checkpoint.size);
        if old_size > size {
            return Err(WitnessRefusal::OldSizeAboveSize { old_size, size });
        }
        Ok(Submission {
            note: kept,
            text: text.to_owned(),
            author: self.author,
            old_size,
            proof: self.request.proof,
            checkpoint: self.checkpoint,
        })
    }
}

/// What the witness keeps of `note`, whose text is `text` and which verified under `name`
/// with key id `id`: the text and that one signature line, every other signature dropped.
/// The line is looked for again here, apart from the verification: if it is not found, the
/// checkpoint is refused (403), never kept without it.
fn author_signed(
    note: &str,
    text: &str,
    name: &str,
    id: [u8; 4],
) -> Result<String, WitnessRefusal> {
    let signatures = note
        .strip_prefix(text)
        .and_then(|rest| rest.strip_prefix('\n'))
        .unwrap_or_default();
    let line = signatures.split_inclusive('\n').find(|line| {
        let named = line
            .strip_prefix("\u{2014} ")
            .and_then(|rest| rest.split_once(' '))
            .is_some_and(|(line_name, _)| line_name == name);
        named && note::line_bytes(line).is_some_and(|signed| signed.get(..4) == Some(&id[..]))
    });
    match line {
        Some(line) => Ok(format!("{text}\n{line}")),
        None => Err(WitnessRefusal::Unsigned(format!(
            "the checkpoint carries no signature line by the key of log {name}"
        ))),
    }
}

/// A checkpoint its log's author signed, with the request's old size and proof, checked as far
/// as it can be alone. Made only by [`Unverified::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    checkpoint: Checkpoint,
    author: StationId,
    old_size: u64,
    proof: Vec<Hash>,
    text: String,
    note: String,
}

impl Submission {
    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.checkpoint.origin
    }

    /// The log's author.
    pub fn author(&self) -> StationId {
        self.author
    }

    /// The checkpoint's size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    /// The checkpoint's root.
    pub fn root(&self) -> Hash {
        self.checkpoint.root
    }

    /// The size the client believes the witness holds.
    pub fn old_size(&self) -> u64 {
        self.old_size
    }

    /// The consistency proof from the old size to the checkpoint's.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The checkpoint's text: what a cosignature signs.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The checkpoint as a signed note with its author's signature only (any other signature
    /// of the request dropped): what the witness keeps.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// The note with the witness's `cosignature` line added: what the witness serves.
    pub fn cosigned_note(&self, cosignature: &str) -> String {
        format!("{}{cosignature}", self.note)
    }
}

/// What the witness does with a submission that passed every check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cosign {
    /// The checkpoint held, submitted again (the same text): cosigned afresh, with nothing
    /// written, so a replay costs the witness a signature and no write.
    Again,
    /// A checkpoint the log moves to (the first, one the proof shows to extend the one held,
    /// or the tree held in another text): stored as the log's latest, then cosigned.
    Store,
}

/// The latest checkpoint the witness cosigned for a log, as [`decide`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held<'a> {
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// Its text: what the witness cosigned.
    pub text: &'a str,
}

/// Whether the witness may cosign `submission`, given the latest checkpoint it holds for the
/// log (`None`: none): checks 5 to 9, in order. Taken on what the store holds, and again in
/// the transaction that stores the outcome, so the checkpoint held cannot change in between.
pub fn decide(held: Option<Held<'_>>, submission: &Submission) -> Result<Cosign, WitnessRefusal> {
    let empty_root = tlog::root(&[]);
    let (held_size, held_root) = held.map_or((0, empty_root), |held| (held.size, held.root));
    let (old_size, size, root) = (submission.old_size, submission.size(), submission.root());
    let proof = &submission.proof;
    if old_size != held_size {
        return Err(WitnessRefusal::StaleOldSize {
            old_size,
            held: held_size,
        });
    }
    if old_size == 0 && !proof.is_empty() {
        return Err(WitnessRefusal::ProofFromEmptyTree { lines: proof.len() });
    }
    let conflict = |reason| WitnessRefusal::Conflict {
        reason,
        held: held_size,
        size,
    };
    if size == held_size {
        if root != held_root {
            return Err(conflict(ConflictReason::SameSizeDifferentRoot));
        }
        if !proof.is_empty() {
            return Err(WitnessRefusal::ProofBetweenEqualSizes { lines: proof.len() });
        }
        let again = held.is_some_and(|held| held.text == submission.text());
        return Ok(if again { Cosign::Again } else { Cosign::Store });
    }
    if !tlog::verify_consistency((held_size, &held_root), (size, &root), proof) {
        return Err(conflict(ConflictReason::InconsistentProof));
    }
    Ok(Cosign::Store)
}

/// A hash as checkpoints and proofs write it: standard base64.
pub fn encode_hash(hash: &Hash) -> String {
    BASE64.encode(hash)
}
