//! The witness's records: the latest checkpoint it cosigned for each log, and the evidence of
//! conflicts. A submission is decided ([`crate::witness::decide`]) first on what the reading
//! connection sees, writing nothing ([`Store::witness_read_only`]), and, when it is to be
//! stored or its conflict kept, again in the transaction that stores its outcome (a savepoint
//! of the writer's group, [`Store::witness`]), so two submissions never both pass against the
//! same held checkpoint, and a cosignature is answered only once the checkpoint it signs is
//! durable.
//!
//! Guarantees:
//! - The checkpoint held for a log only moves forward along consistency proofs; a refusal
//!   changes it in nothing.
//! - The witness signs only once the decision is to cosign: never for a refusal or a conflict.
//! - The checkpoint held, submitted again, is cosigned afresh without a write: no transaction,
//!   no fsync (what is stored, and served, keeps its first cosignature).
//! - A conflict (a checkpoint its author signed that cannot be reconciled with the one held)
//!   keeps both notes (each the checkpoint's text with the author's signature, and the held
//!   one with the witness's cosignature), the proof sent, the reason and the time: at most
//!   [`WITNESS_CONFLICTS_PER_STATION_MAX`] of each reason per author station over all its
//!   logs, the first ones, each checkpoint once against a held one; the others are only
//!   counted. Bad proofs, which anyone holding the author's checkpoints can send, never take
//!   the place of another root at the size held, which only the author can sign.
//! - A station's logs held are at most [`WITNESS_LOGS_PER_STATION_MAX`].

use parley_proto::tlog::{Hash, note};

use super::*;
use crate::limits::{WITNESS_CONFLICTS_PER_STATION_MAX, WITNESS_LOGS_PER_STATION_MAX};
use crate::witness::{ConflictReason, Cosign, Held, Submission, WitnessRefusal, decide};

/// Version 3: the checkpoints the witness cosigned, and the conflicts it saw.
pub(super) const SCHEMA_V3: &str = "
CREATE TABLE witnessed (
    origin TEXT PRIMARY KEY,
    origin_hash BLOB NOT NULL UNIQUE CHECK (length(origin_hash) = 32),
    author BLOB NOT NULL CHECK (length(author) = 32),
    size INTEGER NOT NULL,
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL,
    cosigned_ms INTEGER NOT NULL,
    conflicts_seen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX witnessed_by_author ON witnessed (author);
CREATE TABLE witness_conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL REFERENCES witnessed (origin),
    reason TEXT NOT NULL,
    held_note TEXT NOT NULL,
    new_note TEXT NOT NULL,
    old_size INTEGER NOT NULL,
    proof BLOB NOT NULL,
    seen_ms INTEGER NOT NULL
);
CREATE INDEX witness_conflicts_by_origin ON witness_conflicts (origin, id);
";

/// The latest checkpoint the witness cosigned for one log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessedLog {
    /// The log's origin (a link log's, checked before it was stored).
    pub origin: String,
    /// The log's author.
    pub author: StationId,
    /// The checkpoint's size.
    pub size: u64,
    /// The checkpoint's root.
    pub root: Hash,
    /// The checkpoint as a signed note: the author's signature and the witness's cosignature.
    pub note: String,
    /// When the witness cosigned it, milliseconds since the Unix epoch.
    pub cosigned_ms: u64,
    /// Conflicts seen for the log, kept or not.
    pub conflicts_seen: u64,
}

/// A checkpoint the log's author signed that the witness could not reconcile with the one it
/// held: another tree of the size held (a fork), or a larger one whose proof did not verify (a
/// fork, or a bad proof).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessConflict {
    /// The log's origin.
    pub origin: String,
    /// Why the two could not be reconciled.
    pub reason: ConflictReason,
    /// The checkpoint the witness held (author's signature and the witness's cosignature).
    pub held_note: String,
    /// The checkpoint submitted (the author's signature only).
    pub new_note: String,
    /// The old size of the request (the held checkpoint's size).
    pub old_size: u64,
    /// The consistency proof of the request.
    pub proof: Vec<Hash>,
    /// When it was submitted, milliseconds since the Unix epoch.
    pub seen_ms: u64,
}

/// What became of a conflict's evidence; the conflict is counted for its log in any case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Kept.
    Kept,
    /// Kept before: the same checkpoint was submitted against the same held one (a replay).
    KeptBefore,
    /// Not kept: its author's logs have [`WITNESS_CONFLICTS_PER_STATION_MAX`] of its reason
    /// kept already.
    OverBound,
}

/// What a submission did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WitnessOutcome {
    /// Cosigned: `cosignature`, the witness's signature line, may be answered. `stored`: the
    /// checkpoint became the log's latest; if not, it was the one held and nothing changed.
    Cosigned {
        /// The witness's cosignature line.
        cosignature: String,
        /// Whether the checkpoint was stored.
        stored: bool,
    },
    /// Refused; nothing was changed.
    Refused(WitnessRefusal),
    /// Refused as irreconcilable with the checkpoint held; counted for the log, and its
    /// evidence kept unless `evidence` says why not.
    Conflict {
        /// The refusal ([`WitnessRefusal::Conflict`]).
        refusal: WitnessRefusal,
        /// What became of its evidence.
        evidence: Evidence,
    },
}

/// The checkpoint held for a log, as stored.
struct HeldRow {
    size: u64,
    root: Hash,
    note: String,
}

impl HeldRow {
    /// As the decision reads it; its note, written by the witness, is checked on the way out.
    fn held(&self) -> Result<Held<'_>, StoreError> {
        let text = note::text(&self.note).map_err(|_| {
            StoreError::Corrupt("a witnessed checkpoint is not a signed note".into())
        })?;
        Ok(Held {
            size: self.size,
            root: self.root,
            text,
        })
    }
}

impl Store {
    /// Decides `submission` on what the store holds and writes nothing: `Some` outcome when
    /// that settles it — the checkpoint held, submitted again, cosigned by `cosign` (given the
    /// checkpoint's text), a refusal that changes nothing (404, 409, 422), or a conflict not
    /// to keep (kept before, or past its author's bound) — `None` when it must be decided again
    /// by [`Store::witness`], to be stored or to keep its conflict. On the reading connection,
    /// so a replay of the checkpoint held, of a stale one or of a conflict never reaches the
    /// writer.
    pub fn witness_read_only(
        &self,
        submission: &Submission,
        cosign: impl FnOnce(&str) -> Result<String, WitnessRefusal>,
    ) -> Result<Option<WitnessOutcome>, StoreError> {
        if let Some(refusal) = not_admitted(&self.conn, submission)? {
            return Ok(Some(WitnessOutcome::Refused(refusal)));
        }
        let held = held_in(&self.conn, submission.origin())?;
        let decision = decide(held.as_ref().map(HeldRow::held).transpose()?, submission);
        Ok(match decision {
            Ok(Cosign::Again) => Some(cosigned_again(cosign(submission.text()))),
            Ok(Cosign::Store) => None,
            // A conflict kept before, sent again, or one past its author's bound: nothing to
            // keep, so answered without the writer (and not counted in `conflicts_seen`).
            Err(refusal @ WitnessRefusal::Conflict { reason, .. }) => {
                not_to_keep(&self.conn, submission, reason)?
                    .map(|evidence| WitnessOutcome::Conflict { refusal, evidence })
            }
            Err(refusal) => Some(WitnessOutcome::Refused(refusal)),
        })
    }

    /// Decides `submission` against the checkpoint held for its log, in one transaction with
    /// its outcome: once the decision is to store it, `cosign` (given the checkpoint's text)
    /// makes the cosignature, and the note with it becomes the log's latest checkpoint; a
    /// conflict's evidence is kept. Re-checks that the author is admitted.
    pub fn witness(
        &mut self,
        submission: &Submission,
        now_ms: u64,
        cosign: impl FnOnce(&str) -> Result<String, WitnessRefusal>,
    ) -> Result<WitnessOutcome, StoreError> {
        self.transaction(|tx| witness_in(tx, submission, now_ms, cosign))
    }

    /// Every log the witness holds a checkpoint of, by origin.
    pub fn witnessed_logs(&self) -> Result<Vec<WitnessedLog>, StoreError> {
        let mut statement = self
            .conn
            .prepare(&format!("{SELECT_LOG} ORDER BY origin"))?;
        let rows = statement.query_map([], log_row)?;
        rows.map(|row| log_of(row?)).collect()
    }

    /// The log whose origin has SHA-256 `origin_hash`, if the witness holds a checkpoint of it.
    pub fn witnessed_log(&self, origin_hash: &Hash) -> Result<Option<WitnessedLog>, StoreError> {
        self.conn
            .query_row(
                &format!("{SELECT_LOG} WHERE origin_hash = ?1"),
                [origin_hash],
                log_row,
            )
            .optional()?
            .map(log_of)
            .transpose()
    }

    /// Every conflict kept, oldest first.
    pub fn witness_conflicts(&self) -> Result<Vec<WitnessConflict>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT origin, reason, held_note, new_note, old_size, proof, seen_ms
             FROM witness_conflicts ORDER BY id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, Vec<u8>>(5)?,
                row.get::<_, i64>(6)?,
            ))
        })?;
        rows.map(|row| {
            let (origin, reason, held_note, new_note, old_size, proof, seen_ms) = row?;
            if proof.len() % 32 != 0 {
                return Err(StoreError::Corrupt(
                    "a conflict's proof is not whole hashes".into(),
                ));
            }
            Ok(WitnessConflict {
                origin,
                reason: ConflictReason::from_name(&reason).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown conflict reason {reason:?}"))
                })?,
                held_note,
                new_note,
                old_size: from_sql_u64(old_size, "old size")?,
                proof: proof
                    .chunks_exact(32)
                    .map(|hash| hash.try_into().expect("32 bytes"))
                    .collect(),
                seen_ms: from_sql_u64(seen_ms, "seen_ms")?,
            })
        })
        .collect()
    }
}

const SELECT_LOG: &str =
    "SELECT origin, author, size, root, note, cosigned_ms, conflicts_seen FROM witnessed";

/// A row of [`SELECT_LOG`], as SQLite holds it.
type LogRow = (String, Vec<u8>, i64, Vec<u8>, String, i64, i64);

fn log_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LogRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn log_of(
    (origin, author, size, root, note, cosigned_ms, conflicts_seen): LogRow,
) -> Result<WitnessedLog, StoreError> {
    Ok(WitnessedLog {
        origin,
        author: station_id(author)?,
        size: from_sql_u64(size, "size")?,
        root: hash(root)?,
        note,
        cosigned_ms: from_sql_u64(cosigned_ms, "cosigned_ms")?,
        conflicts_seen: from_sql_u64(conflicts_seen, "conflict count")?,
    })
}

fn hash(bytes: Vec<u8>) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a witnessed root is not 32 bytes".into()))
}

fn witness_in(
    tx: &Connection,
    submission: &Submission,
    now_ms: u64,
    cosign: impl FnOnce(&str) -> Result<String, WitnessRefusal>,
) -> Result<WitnessOutcome, StoreError> {
    let (origin, author) = (submission.origin(), submission.author());
    if let Some(refusal) = not_admitted(tx, submission)? {
        return Ok(WitnessOutcome::Refused(refusal));
    }
    let held = held_in(tx, origin)?;
    match decide(held.as_ref().map(HeldRow::held).transpose()?, submission) {
        Ok(Cosign::Again) => return Ok(cosigned_again(cosign(submission.text()))),
        Ok(Cosign::Store) => {}
        Err(refusal) => {
            return match (&refusal, held) {
                (WitnessRefusal::Conflict { reason, .. }, Some(held)) => {
                    let evidence = record_conflict(tx, submission, *reason, &held.note, now_ms)?;
                    Ok(WitnessOutcome::Conflict { refusal, evidence })
                }
                _ => Ok(WitnessOutcome::Refused(refusal)),
            };
        }
    }
    if held.is_none() {
        let logs: i64 = tx.query_row(
            "SELECT COUNT(*) FROM witnessed WHERE author = ?1",
            [&author.0],
            |row| row.get(0),
        )?;
        if from_sql_u64(logs, "log count")? >= WITNESS_LOGS_PER_STATION_MAX {
            return Ok(WitnessOutcome::Refused(WitnessRefusal::TooManyLogs {
                max: WITNESS_LOGS_PER_STATION_MAX,
            }));
        }
    }
    let cosignature = match cosign(submission.text()) {
        Ok(cosignature) => cosignature,
        Err(refusal) => return Ok(WitnessOutcome::Refused(refusal)),
    };
    tx.execute(
        "INSERT INTO witnessed (origin, origin_hash, author, size, root, note, cosigned_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,
             note = excluded.note, cosigned_ms = excluded.cosigned_ms",
        params![
            origin,
            sha256(&[origin.as_bytes()]),
            author.0,
            exact_sql_u64(submission.size())?,
            submission.root(),
            submission.cosigned_note(&cosignature),
            to_sql_u64(now_ms)
        ],
    )?;
    Ok(WitnessOutcome::Cosigned {
        cosignature,
        stored: true,
    })
}

/// The outcome of cosigning the checkpoint held again: nothing stored.
fn cosigned_again(cosignature: Result<String, WitnessRefusal>) -> WitnessOutcome {
    match cosignature {
        Ok(cosignature) => WitnessOutcome::Cosigned {
            cosignature,
            stored: false,
        },
        Err(refusal) => WitnessOutcome::Refused(refusal),
    }
}

/// The refusal (404) of a submission whose author is not admitted (any more), if it is not.
fn not_admitted(
    conn: &Connection,
    submission: &Submission,
) -> Result<Option<WitnessRefusal>, StoreError> {
    let author = submission.author();
    if status_in(conn, &author)? == StationStatus::Admitted {
        return Ok(None);
    }
    Ok(Some(WitnessRefusal::UnknownOrigin(format!(
        "the author of log {}, station {}, is not admitted at this relay",
        submission.origin(),
        author.key_fingerprint()
    ))))
}

fn held_in(tx: &Connection, origin: &str) -> Result<Option<HeldRow>, StoreError> {
    let row = tx
        .query_row(
            "SELECT size, root, note FROM witnessed WHERE origin = ?1",
            [origin],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    row.map(|(size, root, note)| {
        Ok(HeldRow {
            size: from_sql_u64(size, "size")?,
            root: hash(root)?,
            note,
        })
    })
    .transpose()
}

/// Why the conflict `submission` makes with the checkpoint held, for `reason`, is not to be
/// kept, if it is not: it was kept before, or its author's logs have
/// [`WITNESS_CONFLICTS_PER_STATION_MAX`] of that reason kept already.
fn not_to_keep(
    conn: &Connection,
    submission: &Submission,
    reason: ConflictReason,
) -> Result<Option<Evidence>, StoreError> {
    let old_size = exact_sql_u64(submission.old_size())?;
    let kept_before: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM witness_conflicts
             WHERE origin = ?1 AND old_size = ?2 AND new_note = ?3)",
        params![submission.origin(), old_size, submission.note()],
        |row| row.get(0),
    )?;
    if kept_before {
        return Ok(Some(Evidence::KeptBefore));
    }
    let kept: i64 = conn.query_row(
        "SELECT COUNT(*) FROM witness_conflicts
         WHERE reason = ?2 AND origin IN (SELECT origin FROM witnessed WHERE author = ?1)",
        params![&submission.author().0, reason.name()],
        |row| row.get(0),
    )?;
    let over = from_sql_u64(kept, "conflict count")? >= WITNESS_CONFLICTS_PER_STATION_MAX;
    Ok(over.then_some(Evidence::OverBound))
}

/// Counts a conflict for the log and keeps its evidence unless the same checkpoint was kept
/// against the same held one before, or its author's logs have
/// [`WITNESS_CONFLICTS_PER_STATION_MAX`] of its reason kept.
fn record_conflict(
    tx: &Connection,
    submission: &Submission,
    reason: ConflictReason,
    held_note: &str,
    now_ms: u64,
) -> Result<Evidence, StoreError> {
    let origin = submission.origin();
    let old_size = exact_sql_u64(submission.old_size())?;
    tx.execute(
        "UPDATE witnessed SET conflicts_seen = conflicts_seen + 1 WHERE origin = ?1",
        [origin],
    )?;
    if let Some(evidence) = not_to_keep(tx, submission, reason)? {
        return Ok(evidence);
    }
    tx.execute(
        "INSERT INTO witness_conflicts
             (origin, reason, held_note, new_note, old_size, proof, seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            origin,
            reason.name(),
            held_note,
            submission.note(),
            old_size,
            submission.proof().concat(),
            to_sql_u64(now_ms)
        ],
    )?;
    Ok(Evidence::Kept)
}

#[cfg(test)]
mod tests;
