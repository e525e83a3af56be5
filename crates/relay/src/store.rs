//! The relay's SQLite store (`relay.sqlite`): admitted stations, mailboxes and the nonce
//! registry. WAL mode and `synchronous=FULL`, so every committed transaction is on disk (fsync)
//! when `commit` returns; the schema is migrated by `user_version`.
//!
//! Guarantees:
//! - Every operation a station requests runs in one `IMMEDIATE` transaction that first records
//!   the request's nonce. A nonce seen before refuses the request and changes nothing. A
//!   refusal after that (over quota, recipient not admitted, …) commits the nonce (and, for a
//!   deposit, the correspondent record below) alone, so the same signed request can never run
//!   later; no refusal changes a mailbox.
//! - A deposit checks everything (admission, the sender's share of the mailbox, the mailbox's
//!   quota, duplicates) before it writes any frame.
//! - Correspondents: every deposit that reaches the store records that its sender addressed
//!   its recipient (at most [`CORRESPONDENTS_PER_STATION_MAX`] recipients per sender, the
//!   least recently addressed forgotten first). [`DepositReport::disclosed`] says whether the
//!   recipient has addressed the sender; only then may the sender be told what happened to its
//!   deposit (the server's rule), so a station learns nothing about a station that never
//!   addressed it, not even whether it is admitted.
//! - Items past the retention time are gone: every read filters them out, and purges delete
//!   them.
//! - Revoking a station deletes its mailbox and keeps its row (with `revoked_ms`) as a record.
//!
//! Several processes may open the store at once (the CLI admits while `serve` runs): writers
//! wait up to [`BUSY_TIMEOUT_MS`] for each other.

use std::path::Path;
use std::time::Duration;

use parley_proto::StationId;
use parley_proto::id::sha256;
use rusqlite::{
    Connection, ErrorCode, OptionalExtension as _, Transaction, TransactionBehavior, params,
};

use parley_relay_wire::auth::NONCE_BYTES;

use crate::limits::CORRESPONDENTS_PER_STATION_MAX;

/// Schema version written to `user_version`.
pub const SCHEMA_VERSION: i64 = 2;
/// Longest a writer waits for another process's transaction, in milliseconds.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;

const SCHEMA_V1: &str = "
CREATE TABLE relay (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    created_ms INTEGER NOT NULL,
    epoch_public BLOB NOT NULL
);
CREATE TABLE stations (
    id BLOB PRIMARY KEY CHECK (length(id) = 32),
    name TEXT NOT NULL UNIQUE,
    card BLOB NOT NULL,
    admitted_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient BLOB NOT NULL,
    sender BLOB NOT NULL,
    hash BLOB NOT NULL,
    frame BLOB NOT NULL,
    deposited_ms INTEGER NOT NULL,
    UNIQUE (recipient, hash)
);
CREATE INDEX items_by_recipient ON items (recipient, id);
CREATE INDEX items_by_age ON items (deposited_ms);
CREATE TABLE nonces (
    station BLOB NOT NULL,
    nonce BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (station, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_by_time ON nonces (timestamp_ms);
";

/// Version 2: each sender's share of a mailbox is counted (by an index), and who addressed
/// whom is remembered.
const SCHEMA_V2: &str = "
CREATE INDEX items_by_sender ON items (recipient, sender, deposited_ms);
CREATE TABLE correspondents (
    station BLOB NOT NULL,
    addressed BLOB NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (station, addressed)
) WITHOUT ROWID;
CREATE INDEX correspondents_by_age ON correspondents (station, last_ms);
";

/// Why a store operation failed. The variants before [`StoreError::Sqlite`] are refusals:
/// the request was understood and declined, and no mailbox changed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request's nonce was already used: a replay.
    #[error("nonce already used: this request was replayed; nothing was done")]
    Replayed,
    /// The requesting station is not admitted.
    #[error("station {0} is not admitted at this relay")]
    NotAdmitted(String),
    /// The requesting station was revoked.
    #[error("station {0} has been revoked at this relay")]
    Revoked(String),
    /// Admitting a station that is already admitted.
    #[error("station {fingerprint} is already admitted as {name}; nothing was changed")]
    AlreadyAdmitted {
        /// Its fingerprint.
        fingerprint: String,
        /// The name it is admitted under.
        name: String,
    },
    /// Another station already has this name.
    #[error(
        "another station is already admitted as {0}; nothing was changed; ask the station to \
         pick another name in its card, or revoke the other one"
    )]
    NameTaken(String),
    /// No station by that name.
    #[error("no station named {0} is admitted here; see `parley relay list`")]
    NoSuchStation(String),
    /// The station was revoked already.
    #[error("station {0} is already revoked")]
    AlreadyRevoked(String),
    /// SQLite failed; the transaction was rolled back.
    #[error("relay store error: {0}; nothing was changed")]
    Sqlite(#[from] rusqlite::Error),
    /// The store holds something this build cannot read.
    #[error("relay store is corrupt or from a newer build: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the error is a refusal (the request was declined) rather than a failure.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, StoreError::Sqlite(_) | StoreError::Corrupt(_))
    }
}

/// Why a deposit stored nothing. Each text says only what the depositor may know: its own
/// deposit, its own share and the relay's settings, never what the recipient's mailbox holds.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DepositRefusal {
    /// The recipient is not admitted, or was revoked.
    #[error(
        "recipient {0} is not admitted at this relay, or was revoked; nothing was stored; \
         reach it another way"
    )]
    RecipientNotAdmitted(String),
    /// The sender's frames would take more than its share of the recipient's mailbox.
    #[error(
        "this deposit ({new_items} frames, {new_bytes} bytes) would take your frames in the \
         recipient's mailbox over your share of it ({items_max} frames, {bytes_max} bytes); \
         nothing was stored; the recipient has not fetched your earlier frames yet: retry later"
    )]
    ShareFull {
        /// New (non-duplicate) frames in the deposit.
        new_items: u64,
        /// Bytes of the new frames.
        new_bytes: u64,
        /// Most frames of one sender in one mailbox.
        items_max: u64,
        /// Most frame bytes of one sender in one mailbox.
        bytes_max: u64,
    },
    /// The recipient's mailbox has no room, though the sender is within its share.
    #[error(
        "the recipient's mailbox is full; nothing was stored; it has not fetched its frames \
         yet: retry later"
    )]
    MailboxFull,
}

/// An admitted (or revoked) station.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StationRow {
    /// Its identity.
    pub id: StationId,
    /// Its name, from its card; unique among stations.
    pub name: String,
    /// Its signed card, as admitted.
    pub card: Vec<u8>,
    /// When it was admitted, milliseconds since the Unix epoch.
    pub admitted_ms: u64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<u64>,
}

/// Whether a station may use the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StationStatus {
    /// Admitted and not revoked.
    Admitted,
    /// Admitted once, then revoked.
    Revoked,
    /// Never admitted.
    Unknown,
}

/// The nonce of an authenticated request, recorded to refuse its replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceRecord {
    /// The requesting station.
    pub station: StationId,
    /// The nonce.
    pub nonce: [u8; NONCE_BYTES],
    /// The request's timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// A stored frame.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// Relay-assigned id; ids increase and are never reused.
    pub id: u64,
    /// The frame as deposited.
    pub frame: Vec<u8>,
}

impl std::fmt::Debug for StoredItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredItem")
            .field("id", &self.id)
            .field("frame_len", &self.frame.len())
            .finish()
    }
}

/// What a deposit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepositOutcome {
    /// Frames stored.
    pub stored: u64,
    /// Frames already in the mailbox (or repeated in the deposit), not stored again.
    pub duplicates: u64,
}

/// What a deposit did, and whether its sender may be told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepositReport {
    /// Stored (all of it), or refused (none of it).
    pub outcome: Result<DepositOutcome, DepositRefusal>,
    /// Whether the recipient has addressed the sender through this relay (deposited, or tried
    /// to, into the sender's mailbox): only then may the sender learn the outcome.
    pub disclosed: bool,
}

/// Quotas of one mailbox, and of each sender's frames in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Most items.
    pub items_max: u64,
    /// Most frame bytes.
    pub bytes_max: u64,
    /// Most items of one sender.
    pub share_items_max: u64,
    /// Most frame bytes of one sender.
    pub share_bytes_max: u64,
}

/// Items and bytes in one mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MailboxSize {
    /// Items.
    pub items: u64,
    /// Frame bytes.
    pub bytes: u64,
}

/// What the relay holds as a whole, for its metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Totals {
    /// Stations admitted and not revoked.
    pub stations_admitted: u64,
    /// Stations revoked.
    pub stations_revoked: u64,
    /// Mailboxes holding at least one frame.
    pub mailboxes: u64,
    /// Frames held, expired ones included until purged.
    pub items: u64,
    /// Frame bytes held, expired ones included until purged.
    pub bytes: u64,
}

/// What a purge deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Purged {
    /// Items past the retention time.
    pub items: u64,
    /// Nonces older than the skew window.
    pub nonces: u64,
}

/// The relay store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn to_sql_u64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative {what}")))
}

fn station_id(bytes: Vec<u8>) -> Result<StationId, StoreError> {
    bytes
        .try_into()
        .map(StationId)
        .map_err(|_| StoreError::Corrupt("a station id is not 32 bytes".into()))
}

/// Oldest `deposited_ms` still within retention at `now_ms`.
fn retention_cutoff(now_ms: u64, retention_ms: u64) -> i64 {
    to_sql_u64(now_ms.saturating_sub(retention_ms))
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        let mut store = Self { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        match version {
            0 => {
                tx.execute_batch(SCHEMA_V1)?;
                tx.execute_batch(SCHEMA_V2)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            1 => {
                tx.execute_batch(SCHEMA_V2)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            SCHEMA_VERSION => {}
            newer => {
                return Err(StoreError::Corrupt(format!(
                    "schema version {newer}, this build reads {SCHEMA_VERSION}"
                )));
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the relay's creation time and its (unused) epoch public key, once.
    pub fn init_relay(&mut self, created_ms: u64, epoch_public: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO relay (singleton, created_ms, epoch_public) VALUES (1, ?1, ?2)",
            params![to_sql_u64(created_ms), epoch_public],
        )?;
        Ok(())
    }

    /// The relay's creation time and epoch public key, if initialised.
    pub fn relay(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT created_ms, epoch_public FROM relay WHERE singleton = 1",
                [],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?;
        row.map(|(created, public)| Ok((from_sql_u64(created, "created_ms")?, public)))
            .transpose()
    }

    /// Admits a station, or re-admits a revoked one with its new card.
    pub fn admit(&mut self, station: &StationRow) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = tx
            .query_row(
                "SELECT name, revoked_ms FROM stations WHERE id = ?1",
                [&station.id.0],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?)),
            )
            .optional()?;
        if let Some((name, None)) = existing {
            return Err(StoreError::AlreadyAdmitted {
                fingerprint: station.id.fingerprint().to_string(),
                name,
            });
        }
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM stations WHERE name = ?1 AND id != ?2)",
            params![station.name, station.id.0],
            |row| row.get(0),
        )?;
        if taken {
            return Err(StoreError::NameTaken(station.name.clone()));
        }
        tx.execute(
            "INSERT INTO stations (id, name, card, admitted_ms, revoked_ms)
             VALUES (?1, ?2, ?3, ?4, NULL)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, card = excluded.card,
                 admitted_ms = excluded.admitted_ms, revoked_ms = NULL",
            params![
                station.id.0,
                station.name,
                station.card,
                to_sql_u64(station.admitted_ms)
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every station ever admitted, by name.
    pub fn stations(&self) -> Result<Vec<StationRow>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT id, name, card, admitted_ms, revoked_ms FROM stations ORDER BY name",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Vec<u8>>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, Option<i64>>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (id, name, card, admitted_ms, revoked_ms) = row?;
            Ok(StationRow {
                id: station_id(id)?,
                name,
                card,
                admitted_ms: from_sql_u64(admitted_ms, "admitted_ms")?,
                revoked_ms: revoked_ms
                    .map(|ms| from_sql_u64(ms, "revoked_ms"))
                    .transpose()?,
            })
        })
        .collect()
    }

    /// Revokes the station named `name` and deletes its mailbox; returns the station and how
    /// many items were deleted.
    pub fn revoke(&mut self, name: &str, now_ms: u64) -> Result<(StationId, u64), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (id, revoked) = tx
            .query_row(
                "SELECT id, revoked_ms FROM stations WHERE name = ?1",
                [name],
                |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Option<i64>>(1)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchStation(name.to_owned()))?;
        if revoked.is_some() {
            return Err(StoreError::AlreadyRevoked(name.to_owned()));
        }
        let id = station_id(id)?;
        tx.execute(
            "UPDATE stations SET revoked_ms = ?2 WHERE id = ?1",
            params![id.0, to_sql_u64(now_ms)],
        )?;
        let deleted = tx.execute("DELETE FROM items WHERE recipient = ?1", [&id.0])?;
        tx.commit()?;
        Ok((id, deleted as u64))
    }

    /// Whether `station` may use the relay.
    pub fn station_status(&self, station: &StationId) -> Result<StationStatus, StoreError> {
        status_in(&self.conn, station)
    }

    /// Whether the requesting station may use the relay, and whether the request's nonce was
    /// used already. A read: the authoritative check is the insert in the request's
    /// transaction; this one lets a replay be refused before it costs the station rate budget.
    pub fn check_request(&self, nonce: &NonceRecord) -> Result<(StationStatus, bool), StoreError> {
        let status = status_in(&self.conn, &nonce.station)?;
        let seen: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM nonces WHERE station = ?1 AND nonce = ?2)",
            params![nonce.station.0, nonce.nonce],
            |row| row.get(0),
        )?;
        Ok((status, seen))
    }

    /// Runs `action` for an authenticated request in one transaction that first records its
    /// nonce and re-checks that the station is admitted. Commits on success and on refusals
    /// (recording the nonce, and whatever records of the request `action` wrote; `action` must
    /// not change a mailbox before it has decided to proceed), rolls back on failures.
    fn authorised<T>(
        &mut self,
        nonce: &NonceRecord,
        action: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO nonces (station, nonce, timestamp_ms) VALUES (?1, ?2, ?3)",
            params![nonce.station.0, nonce.nonce, to_sql_u64(nonce.timestamp_ms)],
        );
        match inserted {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == ErrorCode::ConstraintViolation =>
            {
                return Err(StoreError::Replayed);
            }
            Err(error) => return Err(error.into()),
        }
        let outcome = match status_in(&tx, &nonce.station)? {
            StationStatus::Admitted => action(&tx),
            StationStatus::Revoked => Err(StoreError::Revoked(fingerprint(&nonce.station))),
            StationStatus::Unknown => Err(StoreError::NotAdmitted(fingerprint(&nonce.station))),
        };
        match outcome {
            Err(error) if !error.is_refusal() => Err(error),
            outcome => {
                tx.commit()?;
                outcome
            }
        }
    }

    /// Records a request that does nothing else (ping).
    pub fn record_request(&mut self, nonce: &NonceRecord) -> Result<(), StoreError> {
        self.authorised(nonce, |_| Ok(()))
    }

    /// Deposits `frames` (already verified) from `nonce.station` into `recipient`'s mailbox:
    /// all or nothing. Frames already in the mailbox, or repeated, are counted as duplicates.
    /// Records that the sender addressed the recipient, whatever the outcome. A refusal of the
    /// deposit (recipient, share, quota) is in the report, not an error: the nonce and that
    /// record are committed with it.
    pub fn deposit(
        &mut self,
        nonce: &NonceRecord,
        recipient: &StationId,
        frames: &[Vec<u8>],
        quota: Quota,
        now_ms: u64,
        retention_ms: u64,
    ) -> Result<DepositReport, StoreError> {
        let sender = nonce.station;
        self.authorised(nonce, |tx| {
            record_correspondent(tx, &sender, recipient, now_ms)?;
            let disclosed = addressed_in(tx, recipient, &sender)?;
            let outcome = deposit_in(tx, &sender, recipient, frames, quota, now_ms, retention_ms)?;
            Ok(DepositReport { outcome, disclosed })
        })
    }

    /// Starts a fetch by `nonce.station`: records the request and deletes the expired items
    /// of its mailbox.
    pub fn begin_fetch(
        &mut self,
        nonce: &NonceRecord,
        now_ms: u64,
        retention_ms: u64,
    ) -> Result<(), StoreError> {
        self.authorised(nonce, |tx| {
            tx.execute(
                "DELETE FROM items WHERE recipient = ?1 AND deposited_ms < ?2",
                params![nonce.station.0, retention_cutoff(now_ms, retention_ms)],
            )?;
            Ok(())
        })
    }

    /// Up to `items_max` unexpired items of `recipient`'s mailbox in id order, stopping before
    /// `bytes_max` frame bytes (the first item is always included); and whether more wait.
    pub fn fetch(
        &self,
        recipient: &StationId,
        now_ms: u64,
        retention_ms: u64,
        items_max: usize,
        bytes_max: usize,
    ) -> Result<(Vec<StoredItem>, bool), StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, frame FROM items WHERE recipient = ?1 AND deposited_ms >= ?2
             ORDER BY id LIMIT ?3",
        )?;
        let limit = to_sql_u64(items_max as u64 + 1);
        let mut rows = statement.query(params![
            recipient.0,
            retention_cutoff(now_ms, retention_ms),
            limit
        ])?;
        let mut items = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = rows.next()? {
            let frame: Vec<u8> = row.get(1)?;
            let full =
                items.len() == items_max || (!items.is_empty() && bytes + frame.len() > bytes_max);
            if full {
                return Ok((items, true));
            }
            bytes += frame.len();
            items.push(StoredItem {
                id: from_sql_u64(row.get(0)?, "item id")?,
                frame,
            });
        }
        Ok((items, false))
    }

    /// Deletes items of `nonce.station`'s own mailbox: every id up to `upto` and each of
    /// `ids`. Ids of other mailboxes are untouched. Returns how many were deleted.
    pub fn delete(
        &mut self,
        nonce: &NonceRecord,
        upto: u64,
        ids: &[u64],
    ) -> Result<u64, StoreError> {
        self.authorised(nonce, |tx| {
            let me = nonce.station.0;
            let mut deleted = tx.execute(
                "DELETE FROM items WHERE recipient = ?1 AND id <= ?2",
                params![me, to_sql_u64(upto)],
            )?;
            let mut one =
                tx.prepare_cached("DELETE FROM items WHERE recipient = ?1 AND id = ?2")?;
            for id in ids {
                deleted += one.execute(params![me, to_sql_u64(*id)])?;
            }
            Ok(deleted as u64)
        })
    }

    /// Deletes items past retention and nonces whose timestamp is more than `skew_ms` old.
    pub fn purge(
        &mut self,
        now_ms: u64,
        retention_ms: u64,
        skew_ms: u64,
    ) -> Result<Purged, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let items = tx.execute(
            "DELETE FROM items WHERE deposited_ms < ?1",
            [retention_cutoff(now_ms, retention_ms)],
        )?;
        let nonces = tx.execute(
            "DELETE FROM nonces WHERE timestamp_ms < ?1",
            [to_sql_u64(now_ms.saturating_sub(skew_ms))],
        )?;
        tx.commit()?;
        Ok(Purged {
            items: items as u64,
            nonces: nonces as u64,
        })
    }

    /// Items and bytes stored for `recipient`, expired ones included until purged.
    pub fn mailbox_size(&self, recipient: &StationId) -> Result<MailboxSize, StoreError> {
        mailbox_size_in(&self.conn, recipient, 0)
    }

    /// Items and bytes stored for `recipient` by `sender`, expired ones included until purged.
    pub fn share_size(
        &self,
        recipient: &StationId,
        sender: &StationId,
    ) -> Result<MailboxSize, StoreError> {
        share_size_in(&self.conn, recipient, sender, 0)
    }

    /// Whether `station` has addressed `other` through this relay (remembered).
    pub fn has_addressed(
        &self,
        station: &StationId,
        other: &StationId,
    ) -> Result<bool, StoreError> {
        addressed_in(&self.conn, station, other)
    }

    /// What the relay holds as a whole: stations, mailboxes holding frames, frames and
    /// their bytes (one pass over the items).
    pub fn totals(&self) -> Result<Totals, StoreError> {
        let (admitted, revoked): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(revoked_ms IS NULL), 0), COALESCE(SUM(revoked_ms IS NOT NULL), 0)
             FROM stations",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let (mailboxes, items, bytes): (i64, i64, i64) = self.conn.query_row(
            "SELECT COUNT(DISTINCT recipient), COUNT(*), COALESCE(SUM(length(frame)), 0)
             FROM items",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        Ok(Totals {
            stations_admitted: from_sql_u64(admitted, "station count")?,
            stations_revoked: from_sql_u64(revoked, "station count")?,
            mailboxes: from_sql_u64(mailboxes, "mailbox count")?,
            items: from_sql_u64(items, "item count")?,
            bytes: from_sql_u64(bytes, "bytes held")?,
        })
    }

    /// Nonces remembered.
    pub fn nonce_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM nonces", [], |row| row.get(0))?;
        from_sql_u64(count, "nonce count")
    }
}

fn fingerprint(station: &StationId) -> String {
    station.fingerprint().to_string()
}

fn status_in(conn: &Connection, station: &StationId) -> Result<StationStatus, StoreError> {
    let revoked = conn
        .query_row(
            "SELECT revoked_ms FROM stations WHERE id = ?1",
            [&station.0],
            |row| row.get::<_, Option<i64>>(0),
        )
        .optional()?;
    Ok(match revoked {
        None => StationStatus::Unknown,
        Some(None) => StationStatus::Admitted,
        Some(Some(_)) => StationStatus::Revoked,
    })
}

/// Stores `frames` from `sender` in `recipient`'s mailbox if the recipient is admitted, the
/// sender's new frames fit its share and the mailbox's quota; else writes nothing and says why.
fn deposit_in(
    tx: &Transaction<'_>,
    sender: &StationId,
    recipient: &StationId,
    frames: &[Vec<u8>],
    quota: Quota,
    now_ms: u64,
    retention_ms: u64,
) -> Result<Result<DepositOutcome, DepositRefusal>, StoreError> {
    if status_in(tx, recipient)? != StationStatus::Admitted {
        return Ok(Err(DepositRefusal::RecipientNotAdmitted(fingerprint(
            recipient,
        ))));
    }
    let cutoff = retention_cutoff(now_ms, retention_ms);
    let mut new: Vec<(&[u8], [u8; 32])> = Vec::new();
    let mut duplicates = 0;
    for frame in frames {
        let hash = sha256(&[frame]);
        let held: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM items
             WHERE recipient = ?1 AND hash = ?2 AND deposited_ms >= ?3)",
            params![recipient.0, hash, cutoff],
            |row| row.get(0),
        )?;
        if held || new.iter().any(|(_, h)| *h == hash) {
            duplicates += 1;
        } else {
            new.push((frame, hash));
        }
    }
    let new_items = new.len() as u64;
    let new_bytes: u64 = new.iter().map(|(frame, _)| frame.len() as u64).sum();
    // The sender's share first: a sender over it is told about its own frames only.
    let share = share_size_in(tx, recipient, sender, cutoff)?;
    if share.items + new_items > quota.share_items_max
        || share.bytes + new_bytes > quota.share_bytes_max
    {
        return Ok(Err(DepositRefusal::ShareFull {
            new_items,
            new_bytes,
            items_max: quota.share_items_max,
            bytes_max: quota.share_bytes_max,
        }));
    }
    let size = mailbox_size_in(tx, recipient, cutoff)?;
    if size.items + new_items > quota.items_max || size.bytes + new_bytes > quota.bytes_max {
        return Ok(Err(DepositRefusal::MailboxFull));
    }
    // Decided: from here on, writes. An expired copy of a frame makes way for it.
    for (frame, hash) in &new {
        tx.execute(
            "DELETE FROM items WHERE recipient = ?1 AND hash = ?2",
            params![recipient.0, hash],
        )?;
        tx.execute(
            "INSERT INTO items (recipient, sender, hash, frame, deposited_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![recipient.0, sender.0, hash, frame, to_sql_u64(now_ms)],
        )?;
    }
    Ok(Ok(DepositOutcome {
        stored: new_items,
        duplicates,
    }))
}

/// Remembers that `station` addressed `addressed` at `now_ms`, and forgets the recipients it
/// addressed least recently beyond [`CORRESPONDENTS_PER_STATION_MAX`].
fn record_correspondent(
    tx: &Transaction<'_>,
    station: &StationId,
    addressed: &StationId,
    now_ms: u64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO correspondents (station, addressed, last_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (station, addressed) DO UPDATE
         SET last_ms = max(last_ms, excluded.last_ms)",
        params![station.0, addressed.0, to_sql_u64(now_ms)],
    )?;
    tx.execute(
        "DELETE FROM correspondents WHERE station = ?1 AND addressed NOT IN (
             SELECT addressed FROM correspondents WHERE station = ?1
             ORDER BY last_ms DESC, addressed LIMIT ?2)",
        params![station.0, to_sql_u64(CORRESPONDENTS_PER_STATION_MAX)],
    )?;
    Ok(())
}

fn addressed_in(
    conn: &Connection,
    station: &StationId,
    addressed: &StationId,
) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM correspondents WHERE station = ?1 AND addressed = ?2)",
        params![station.0, addressed.0],
        |row| row.get(0),
    )?)
}

fn share_size_in(
    conn: &Connection,
    recipient: &StationId,
    sender: &StationId,
    cutoff: i64,
) -> Result<MailboxSize, StoreError> {
    let (items, bytes): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(length(frame)), 0) FROM items
         WHERE recipient = ?1 AND sender = ?2 AND deposited_ms >= ?3",
        params![recipient.0, sender.0, cutoff],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(MailboxSize {
        items: from_sql_u64(items, "item count")?,
        bytes: from_sql_u64(bytes, "share size")?,
    })
}

fn mailbox_size_in(
    conn: &Connection,
    recipient: &StationId,
    cutoff: i64,
) -> Result<MailboxSize, StoreError> {
    let (items, bytes): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(length(frame)), 0) FROM items
         WHERE recipient = ?1 AND deposited_ms >= ?2",
        params![recipient.0, cutoff],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(MailboxSize {
        items: from_sql_u64(items, "item count")?,
        bytes: from_sql_u64(bytes, "mailbox size")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_proto::Identity;

    const NOW_MS: u64 = 1_700_000_000_000;
    const DAY_MS: u64 = 86_400_000;
    const QUOTA: Quota = Quota {
        items_max: 3,
        bytes_max: 10,
        share_items_max: 3,
        share_bytes_max: 10,
    };

    fn id(seed: u8) -> StationId {
        Identity::from_secret(&[seed; 32]).id()
    }

    fn row(seed: u8, name: &str) -> StationRow {
        StationRow {
            id: id(seed),
            name: name.into(),
            card: vec![seed],
            admitted_ms: NOW_MS,
            revoked_ms: None,
        }
    }

    fn nonce(seed: u8, n: u8) -> NonceRecord {
        NonceRecord {
            station: id(seed),
            nonce: [n; NONCE_BYTES],
            timestamp_ms: NOW_MS,
        }
    }

    /// A store in a temporary directory with stations 1 (alpha) and 2 (bravo) admitted.
    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = Store::open(&dir.path().join("relay.sqlite")).expect("store opens");
        store.admit(&row(1, "alpha")).expect("admits alpha");
        store.admit(&row(2, "bravo")).expect("admits bravo");
        (dir, store)
    }

    /// Alpha deposits `frames` to Bravo with nonce `n`: the outcome, or the store's error.
    fn deposit(
        store: &mut Store,
        n: u8,
        frames: &[&[u8]],
    ) -> Result<Result<DepositOutcome, DepositRefusal>, StoreError> {
        deposit_with(store, 1, 2, n, frames, QUOTA).map(|report| report.outcome)
    }

    fn deposit_with(
        store: &mut Store,
        from: u8,
        to: u8,
        n: u8,
        frames: &[&[u8]],
        quota: Quota,
    ) -> Result<DepositReport, StoreError> {
        let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
        store.deposit(&nonce(from, n), &id(to), &frames, quota, NOW_MS, DAY_MS)
    }

    fn held(store: &Store) -> Vec<Vec<u8>> {
        let (items, _) = store
            .fetch(&id(2), NOW_MS, DAY_MS, 100, 1000)
            .expect("fetch reads");
        items.into_iter().map(|item| item.frame).collect()
    }

    #[test]
    fn totals_count_stations_mailboxes_frames_and_bytes() {
        let (_dir, mut store) = store();
        let empty = Totals {
            stations_admitted: 2,
            ..Totals::default()
        };
        assert_eq!(store.totals().expect("reads"), empty);
        deposit(&mut store, 1, &[b"aaaa", b"bb"])
            .expect("runs")
            .expect("stored");
        deposit_with(&mut store, 2, 1, 2, &[b"c"], QUOTA).expect("runs");
        store.admit(&row(3, "charlie")).expect("admits charlie");
        store.revoke("charlie", NOW_MS).expect("revokes charlie");
        let totals = store.totals().expect("reads");
        assert_eq!(
            totals,
            Totals {
                stations_admitted: 2,
                stations_revoked: 1,
                mailboxes: 2,
                items: 3,
                bytes: 7,
            }
        );
    }

    #[test]
    fn quota_is_checked_on_both_sides_and_duplicates_are_free() {
        let (_dir, mut store) = store();
        let outcome = deposit(&mut store, 1, &[b"aaaa", b"bbbb"]).expect("runs");
        assert_eq!(
            outcome,
            Ok(DepositOutcome {
                stored: 2,
                duplicates: 0
            })
        );
        // 8 bytes held; 3 more would be 11 > 10.
        let refused = deposit(&mut store, 2, &[b"ccc"]).expect("runs");
        assert!(
            matches!(refused, Err(DepositRefusal::ShareFull { .. })),
            "{refused:?}"
        );
        assert_eq!(held(&store), [b"aaaa".to_vec(), b"bbbb".to_vec()]);
        // Exactly at the byte quota, with a duplicate that costs nothing.
        let outcome = deposit(&mut store, 3, &[b"cc", b"aaaa", b"cc"]).expect("runs");
        assert_eq!(
            outcome,
            Ok(DepositOutcome {
                stored: 1,
                duplicates: 2
            })
        );
        // Three items: the item quota is reached too.
        let refused = deposit(&mut store, 4, &[b""]).expect("runs");
        assert!(
            matches!(refused, Err(DepositRefusal::ShareFull { new_items: 1, .. })),
            "{refused:?}"
        );
        assert_eq!(store.mailbox_size(&id(2)).expect("reads").bytes, 10);
    }

    #[test]
    fn nonces_are_single_use_even_when_the_request_is_refused() {
        let (_dir, mut store) = store();
        let refused = deposit(&mut store, 1, &[b"far too large for the quota"]);
        assert!(
            matches!(refused, Ok(Err(DepositRefusal::ShareFull { .. }))),
            "{refused:?}"
        );
        let replayed = deposit(&mut store, 1, &[b"small"]);
        assert!(
            matches!(replayed, Err(StoreError::Replayed)),
            "{replayed:?}"
        );
        assert!(held(&store).is_empty());
        assert_eq!(store.nonce_count().expect("reads"), 1);
    }

    #[test]
    fn revoked_and_unknown_stations_are_refused_and_revoking_empties_the_mailbox() {
        let (_dir, mut store) = store();
        deposit(&mut store, 1, &[b"x"])
            .expect("runs")
            .expect("deposits");
        assert_eq!(store.revoke("bravo", NOW_MS).expect("revokes"), (id(2), 1));
        assert_eq!(
            store.station_status(&id(2)).expect("reads"),
            StationStatus::Revoked
        );
        let refused = deposit(&mut store, 2, &[b"y"]);
        assert!(
            matches!(refused, Ok(Err(DepositRefusal::RecipientNotAdmitted(_)))),
            "{refused:?}"
        );
        let refused = store.record_request(&nonce(2, 1));
        assert!(
            matches!(refused, Err(StoreError::Revoked(_))),
            "{refused:?}"
        );
        let refused = store.record_request(&nonce(3, 1));
        assert!(
            matches!(refused, Err(StoreError::NotAdmitted(_))),
            "{refused:?}"
        );
        assert!(matches!(
            store.revoke("bravo", NOW_MS),
            Err(StoreError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            store.revoke("zulu", NOW_MS),
            Err(StoreError::NoSuchStation(_))
        ));
        // Re-admission under a new name is allowed; a taken name or a second admission is not.
        assert!(matches!(
            store.admit(&row(3, "alpha")),
            Err(StoreError::NameTaken(_))
        ));
        assert!(matches!(
            store.admit(&row(1, "alpha")),
            Err(StoreError::AlreadyAdmitted { .. })
        ));
        store.admit(&row(2, "bravo-2")).expect("re-admits");
        assert_eq!(
            store.station_status(&id(2)).expect("reads"),
            StationStatus::Admitted
        );
        assert!(held(&store).is_empty());
    }

    #[test]
    fn fetch_pages_by_items_and_bytes_and_delete_touches_only_own_items() {
        let (_dir, mut store) = store();
        let quota = Quota {
            items_max: 100,
            bytes_max: 1000,
            share_items_max: 100,
            share_bytes_max: 1000,
        };
        let frames: Vec<Vec<u8>> = (0..5).map(|n| vec![n; 4]).collect();
        store
            .deposit(&nonce(1, 1), &id(2), &frames, quota, NOW_MS, DAY_MS)
            .expect("runs")
            .outcome
            .expect("deposits");
        let (items, more) = store.fetch(&id(2), NOW_MS, DAY_MS, 2, 1000).expect("reads");
        assert_eq!((items.len(), more), (2, true));
        let (items, more) = store.fetch(&id(2), NOW_MS, DAY_MS, 5, 1000).expect("reads");
        assert_eq!((items.len(), more), (5, false));
        let (items, more) = store.fetch(&id(2), NOW_MS, DAY_MS, 5, 9).expect("reads");
        assert_eq!((items.len(), more), (2, true));
        let (items, more) = store.fetch(&id(2), NOW_MS, DAY_MS, 5, 1).expect("reads");
        assert_eq!((items.len(), more), (1, true), "the first item always fits");
        let ids: Vec<u64> = store
            .fetch(&id(2), NOW_MS, DAY_MS, 5, 1000)
            .expect("reads")
            .0
            .iter()
            .map(|item| item.id)
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        // Alpha cannot delete Bravo's items.
        assert_eq!(store.delete(&nonce(1, 2), u64::MAX, &ids).expect("runs"), 0);
        assert_eq!(held(&store).len(), 5);
        assert_eq!(
            store.delete(&nonce(2, 1), ids[1], &[ids[3]]).expect("runs"),
            3
        );
        assert_eq!(held(&store), [frames[2].clone(), frames[4].clone()]);
    }

    #[test]
    fn retention_hides_then_purges_items_and_old_nonces_are_pruned() {
        let (_dir, mut store) = store();
        deposit(&mut store, 1, &[b"old"])
            .expect("runs")
            .expect("deposits");
        let later = NOW_MS + DAY_MS;
        assert_eq!(
            store
                .fetch(&id(2), later, DAY_MS, 10, 100)
                .expect("reads")
                .0
                .len(),
            1
        );
        let expired = later + 1;
        assert!(
            store
                .fetch(&id(2), expired, DAY_MS, 10, 100)
                .expect("reads")
                .0
                .is_empty()
        );
        assert_eq!(store.mailbox_size(&id(2)).expect("reads").items, 1);
        let purged = store.purge(expired, DAY_MS, 1000).expect("purges");
        assert_eq!(
            purged,
            Purged {
                items: 1,
                nonces: 1
            }
        );
        assert_eq!(store.mailbox_size(&id(2)).expect("reads").items, 0);
        // Within the skew window a nonce stays.
        store.record_request(&nonce(1, 9)).expect("records");
        assert_eq!(
            store
                .purge(NOW_MS + 1000, DAY_MS, 1000)
                .expect("purges")
                .nonces,
            0
        );
        assert_eq!(
            store
                .purge(NOW_MS + 1001, DAY_MS, 1000)
                .expect("purges")
                .nonces,
            1
        );
    }

    #[test]
    fn an_expired_copy_does_not_count_as_a_duplicate() {
        let (_dir, mut store) = store();
        deposit(&mut store, 1, &[b"same"])
            .expect("runs")
            .expect("deposits");
        let expired = NOW_MS + DAY_MS + 1;
        let frames = vec![b"same".to_vec()];
        let outcome = store
            .deposit(&nonce(1, 2), &id(2), &frames, QUOTA, expired, DAY_MS)
            .expect("runs")
            .outcome;
        assert_eq!(
            outcome,
            Ok(DepositOutcome {
                stored: 1,
                duplicates: 0
            })
        );
        assert_eq!(
            store
                .fetch(&id(2), expired, DAY_MS, 10, 100)
                .expect("reads")
                .0
                .len(),
            1
        );
    }

    #[test]
    fn each_sender_is_held_to_its_share_and_the_mailbox_to_its_quota() {
        let (_dir, mut store) = store();
        store.admit(&row(3, "charlie")).expect("admits charlie");
        store.admit(&row(4, "delta")).expect("admits delta");
        let quota = Quota {
            items_max: 4,
            bytes_max: 1000,
            share_items_max: 2,
            share_bytes_max: 1000,
        };
        let outcome = |report: Result<DepositReport, StoreError>| report.expect("runs").outcome;
        let stored = |stored| {
            Ok(DepositOutcome {
                stored,
                duplicates: 0,
            })
        };
        // Alpha up to its share of Bravo's mailbox, and one frame over it.
        let two: [&[u8]; 2] = [b"a1", b"a2"];
        assert_eq!(
            outcome(deposit_with(&mut store, 1, 2, 1, &two, quota)),
            stored(2)
        );
        let over = outcome(deposit_with(&mut store, 1, 2, 2, &[b"a3"], quota));
        assert_eq!(
            over,
            Err(DepositRefusal::ShareFull {
                new_items: 1,
                new_bytes: 2,
                items_max: 2,
                bytes_max: 1000
            })
        );
        // Charlie's share is its own: Alpha's frames take none of it.
        let two: [&[u8]; 2] = [b"c1", b"c2"];
        assert_eq!(
            outcome(deposit_with(&mut store, 3, 2, 1, &two, quota)),
            stored(2)
        );
        // Delta is within its share, but the mailbox is full.
        let full = outcome(deposit_with(&mut store, 4, 2, 1, &[b"d1"], quota));
        assert_eq!(full, Err(DepositRefusal::MailboxFull));
        // The byte share counts too, exactly at it and one byte over.
        let bytes = Quota {
            share_bytes_max: 4,
            ..quota
        };
        let (_dir, mut store) = self::store();
        assert_eq!(
            outcome(deposit_with(&mut store, 1, 2, 1, &[b"abcd"], bytes)),
            stored(1)
        );
        let over = outcome(deposit_with(&mut store, 1, 2, 2, &[b"e"], bytes));
        assert!(
            matches!(over, Err(DepositRefusal::ShareFull { .. })),
            "{over:?}"
        );
        assert_eq!(store.share_size(&id(2), &id(1)).expect("reads").bytes, 4);
    }

    #[test]
    fn a_deposit_is_disclosed_only_once_the_recipient_has_addressed_the_sender() {
        let (_dir, mut store) = store();
        let report = deposit_with(&mut store, 1, 2, 1, &[b"x"], QUOTA).expect("runs");
        assert!(!report.disclosed, "Bravo has not addressed Alpha");
        assert!(store.has_addressed(&id(1), &id(2)).expect("reads"));
        assert!(!store.has_addressed(&id(2), &id(1)).expect("reads"));
        // A refused deposit records the address too (Bravo's share of Alpha's mailbox is 0).
        let nothing = Quota {
            share_items_max: 0,
            ..QUOTA
        };
        let report = deposit_with(&mut store, 2, 1, 1, &[b"y"], nothing).expect("runs");
        assert!(report.disclosed, "Alpha addressed Bravo first");
        assert!(matches!(
            report.outcome,
            Err(DepositRefusal::ShareFull { .. })
        ));
        let report = deposit_with(&mut store, 1, 2, 2, &[b"z"], QUOTA).expect("runs");
        assert!(report.disclosed);
        // An unknown recipient: recorded, not disclosed, nothing stored.
        let report = deposit_with(&mut store, 1, 9, 3, &[b"w"], QUOTA).expect("runs");
        assert!(!report.disclosed);
        assert!(matches!(
            report.outcome,
            Err(DepositRefusal::RecipientNotAdmitted(_))
        ));
        assert_eq!(store.mailbox_size(&id(9)).expect("reads").items, 0);
    }

    #[test]
    fn a_station_remembers_at_most_its_bound_of_correspondents() {
        let (_dir, mut store) = store();
        let max = CORRESPONDENTS_PER_STATION_MAX;
        let tx = store.conn.transaction().expect("begins");
        let other = |n: u64| StationId(sha256(&[&n.to_be_bytes()]));
        for n in 0..=max {
            record_correspondent(&tx, &id(1), &other(n), NOW_MS + n).expect("records");
        }
        // The one addressed least recently is forgotten; the bound holds.
        assert!(!addressed_in(&tx, &id(1), &other(0)).expect("reads"));
        assert!(addressed_in(&tx, &id(1), &other(1)).expect("reads"));
        assert!(addressed_in(&tx, &id(1), &other(max)).expect("reads"));
        let count: i64 = tx
            .query_row("SELECT COUNT(*) FROM correspondents", [], |row| row.get(0))
            .expect("counts");
        assert_eq!(count as u64, max);
        // Addressing one again makes it the most recent.
        record_correspondent(&tx, &id(1), &other(1), NOW_MS + max + 1).expect("records");
        record_correspondent(&tx, &id(1), &other(max + 1), NOW_MS + max + 2).expect("records");
        assert!(addressed_in(&tx, &id(1), &other(1)).expect("reads"));
        assert!(!addressed_in(&tx, &id(1), &other(2)).expect("reads"));
    }

    #[test]
    fn a_version_1_store_is_migrated() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("relay.sqlite");
        {
            let conn = Connection::open(&path).expect("opens");
            conn.execute_batch(SCHEMA_V1).expect("creates version 1");
            conn.pragma_update(None, "user_version", 1)
                .expect("sets version");
        }
        let mut store = Store::open(&path).expect("migrates");
        store.admit(&row(1, "alpha")).expect("admits");
        store.admit(&row(2, "bravo")).expect("admits");
        assert!(deposit(&mut store, 1, &[b"x"]).expect("runs").is_ok());
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("reads");
        assert_eq!(version, SCHEMA_VERSION);
    }
}
