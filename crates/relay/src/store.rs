//! The relay's SQLite store (`relay.sqlite`): admitted stations, mailboxes, the nonce registry
//! and, when the relay is a witness, the checkpoints it cosigned (`store/witness.rs`). WAL mode
//! and `synchronous=FULL`, so every committed transaction is on disk (fsync) when `commit`
//! returns; the schema is migrated by `user_version` (`store/schema.rs`).
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
//! - A checkpoint the witness cosigns is stored in the same transaction that compares it with
//!   the one held, so two submissions can never both pass against the same old checkpoint.
//!
//! Several processes may open the store at once (the CLI admits while `serve` runs): writers
//! wait up to [`BUSY_TIMEOUT_MS`] for each other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parley_proto::id::sha256;
use parley_proto::{ContactCard, DecodeError, Fingerprint, StationId};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OptionalExtension as _, TransactionBehavior, params};

use parley_relay_wire::auth::NONCE_BYTES;

use crate::limits::CORRESPONDENTS_PER_STATION_MAX;

mod error;
mod queries;
mod savepoint;
mod schema;
mod witness;
pub use self::error::{DepositRefusal, StoreError};
use self::queries::*;
use self::savepoint::Savepoint;
pub use self::witness::{Evidence, WitnessConflict, WitnessOutcome, WitnessedLog};

/// Schema version written to `user_version`.
pub const SCHEMA_VERSION: i64 = 6;
/// How many prepared statements the connection keeps cached: every statement a deposit, a
/// fetch or a delete runs fits, so those never parse SQL again.
pub const PREPARED_STATEMENTS_CACHED_MAX: usize = 64;

/// Longest a writer waits for another process's transaction, in milliseconds.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;

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

impl StationRow {
    /// Its fingerprint, as its card gives it: the card is verified again (it was when it was
    /// admitted), and one that no longer verifies is an error, never another fingerprint.
    pub fn fingerprint(&self) -> Result<Fingerprint, DecodeError> {
        ContactCard::decode_verified(&self.card).map(|card| card.fingerprint())
    }
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

/// How much one fetch answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchBounds {
    /// Most items.
    pub items_max: usize,
    /// Most frame bytes, after the first item (which is always answered).
    pub bytes_max: usize,
}

/// What [`Store::begin_fetch`] did and found.
pub struct FetchStart {
    /// Items the fetch acknowledged, now deleted.
    pub acknowledged: u64,
    /// The mailbox's oldest items left, within the fetch's bounds.
    pub items: Vec<StoredItem>,
    /// Whether more items wait beyond them.
    pub more: bool,
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

/// Quotas of one mailbox, and of each sender's frames in it; of each sender's frames across
/// every mailbox, and of the relay's; and the free space the relay keeps on its disk.
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
    /// Most frame bytes of one sender across every mailbox.
    pub sender_bytes_max: u64,
    /// Most frame bytes the relay holds.
    pub relay_bytes_max: u64,
    /// Free bytes a deposit must leave on the store's file system.
    pub disk_free_min_bytes: u64,
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
    /// Nonces older than they are kept (`NONCE_KEEP_MS`).
    pub nonces: u64,
}

/// The relay store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// The store's file, whose file system's free space a deposit must leave.
    path: PathBuf,
    /// Whether a group transaction is open ([`Store::begin_group`]): each request then runs
    /// in a savepoint of it, and is durable only once the group commits.
    in_group: bool,
    /// Every nonce whose timestamp is below this was purged by the last purge
    /// ([`Store::purge`]): a request of such a time is refused ([`StoreError::TooLate`]), since
    /// its replay would find no nonce. A request is admitted only within the clock skew window, but may reach the store
    /// long after (a slot waited for, a slow body, the writer's queue). Kept in memory: a
    /// request admitted before a restart does not reach the store after it.
    nonces_purged_below_ms: u64,
}

/// `value` as a bound in a query: one above what SQLite holds is the largest it holds, which
/// bounds the same rows. Never for a value stored: [`exact_sql_u64`].
fn to_sql_u64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `value` to store, exactly: one above what SQLite holds is refused, never cut down (a
/// witness holding a smaller size than it cosigned would let its log roll back).
fn exact_sql_u64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)).into())
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

/// What [`Store::authorised`] does inside its transaction: records the nonce (a replay is
/// refused), re-checks the station, then runs `action`.
fn authorised_in<T>(
    conn: &Connection,
    nonce: &NonceRecord,
    action: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let inserted = conn
        .prepare_cached("INSERT INTO nonces (station, nonce, timestamp_ms) VALUES (?1, ?2, ?3)")?
        .execute(params![
            nonce.station.0,
            nonce.nonce,
            to_sql_u64(nonce.timestamp_ms)
        ]);
    match inserted {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(error, _))
            if error.code == ErrorCode::ConstraintViolation =>
        {
            return Err(StoreError::Replayed);
        }
        Err(error) => return Err(error.into()),
    }
    match status_in(conn, &nonce.station)? {
        StationStatus::Admitted => action(conn),
        StationStatus::Revoked => Err(StoreError::Revoked(fingerprint(&nonce.station))),
        StationStatus::Unknown => Err(StoreError::NotAdmitted(fingerprint(&nonce.station))),
    }
}

/// [`Store::fetch`] on `conn`.
fn items_in(
    conn: &Connection,
    recipient: &StationId,
    now_ms: u64,
    retention_ms: u64,
    bounds: FetchBounds,
) -> Result<(Vec<StoredItem>, bool), StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, frame FROM items INDEXED BY items_by_recipient
         WHERE recipient = ?1 AND deposited_ms >= ?2 ORDER BY id LIMIT ?3",
    )?;
    let limit = to_sql_u64(bounds.items_max as u64 + 1);
    let mut rows = statement.query(params![
        recipient.0,
        retention_cutoff(now_ms, retention_ms),
        limit
    ])?;
    let mut items = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        let frame: Vec<u8> = row.get(1)?;
        let full = items.len() == bounds.items_max
            || (!items.is_empty() && bytes + frame.len() > bounds.bytes_max);
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

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS_CACHED_MAX);
        // Planned once: without SQLite's query planner stability guarantee, a statement whose
        // plan looked at a bound value is planned again once its bindings are cleared, which
        // rusqlite does each time it takes a cached statement back (store/tests.rs): a tenth of
        // the writer thread's time in `bench relay`'s profile.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
            in_group: false,
            nonces_purged_below_ms: 0,
        };
        schema::migrate(&mut store.conn)?;
        // Statement journals in memory, in small chunks, set after the migrations (an index
        // built over the items is sorted where SQLite may spill it to a file). With temporary
        // files allowed, SQLite gives each request's savepoint a journal in memory that may
        // spill to a file, and allocates it 64 KiB at a time: freed at the savepoint's
        // release, that chunk had glibc give the writer's heap back to the kernel and fault it
        // in again at every request (page faults a fifth of the writer thread's time in
        // `bench relay`'s profile). What a request writes, and so its journal, is bounded (a
        // deposit's frames, a fetch's page), and so is what the other queries sort (a
        // station's correspondents; the admitted stations, for the operator's list).
        store.conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(store)
    }

    /// Records the relay's creation time and its (unused) epoch public key, once.
    pub fn init_relay(&mut self, created_ms: u64, epoch_public: &[u8]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO relay (singleton, created_ms, epoch_public) VALUES (1, ?1, ?2)",
            )?
            .execute(params![to_sql_u64(created_ms), epoch_public])?;
        Ok(())
    }

    /// The relay's creation time and epoch public key, if initialised.
    pub fn relay(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let row = self
            .conn
            .prepare_cached("SELECT created_ms, epoch_public FROM relay WHERE singleton = 1")?
            .query_row([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
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
            .prepare_cached("SELECT name, revoked_ms FROM stations WHERE id = ?1")?
            .query_row([&station.id.0], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?))
            })
            .optional()?;
        if let Some((name, None)) = existing {
            // The station being admitted, whose card the caller verified; the store's own
            // tests admit rows without a card, named by their key.
            let fingerprint = station
                .fingerprint()
                .unwrap_or_else(|_| station.id.key_fingerprint());
            return Err(StoreError::AlreadyAdmitted {
                fingerprint: fingerprint.to_string(),
                name,
            });
        }
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM stations \
             WHERE name = ?1 AND id != ?2 AND revoked_ms IS NULL)",
            params![station.name, station.id.0],
            |row| row.get(0),
        )?;
        if taken {
            return Err(StoreError::NameTaken(station.name.clone()));
        }
        tx.prepare_cached(
            "INSERT INTO stations (id, name, card, admitted_ms, revoked_ms)
             VALUES (?1, ?2, ?3, ?4, NULL)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, card = excluded.card,
                 admitted_ms = excluded.admitted_ms, revoked_ms = NULL",
        )?
        .execute(params![
            station.id.0,
            station.name,
            station.card,
            to_sql_u64(station.admitted_ms)
        ])?;
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
        // The station admitted under the name, else (the name held by revoked ones only) any.
        let (id, revoked) = tx
            .query_row(
                "SELECT id, revoked_ms FROM stations WHERE name = ?1 \
                 ORDER BY revoked_ms IS NOT NULL LIMIT 1",
                [name],
                |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Option<i64>>(1)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchStation(name.to_owned()))?;
        if revoked.is_some() {
            return Err(StoreError::AlreadyRevoked(name.to_owned()));
        }
        let id = station_id(id)?;
        tx.prepare_cached("UPDATE stations SET revoked_ms = ?2 WHERE id = ?1")?
            .execute(params![id.0, to_sql_u64(now_ms)])?;
        let deleted = tx
            .prepare_cached("DELETE FROM items WHERE recipient = ?1")?
            .execute([&id.0])?;
        tx.commit()?;
        Ok((id, deleted as u64))
    }

    /// Free bytes for the store: on its file system, as an unprivileged process may use them,
    /// and the free pages inside its file, which SQLite reuses before it grows the file
    /// (frames fetched and deleted leave them; nothing gives them back to the file system).
    fn disk_free_bytes(&self) -> Result<u64, StoreError> {
        let stat = rustix::fs::statvfs(&self.path)
            .map_err(|error| StoreError::FreeSpace(error.to_string()))?;
        let (pages, page_size): (i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT freelist_count, page_size FROM pragma_freelist_count, pragma_page_size",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let free_pages = from_sql_u64(pages, "free pages")?
            .saturating_mul(from_sql_u64(page_size, "page size")?);
        Ok(stat
            .f_bavail
            .saturating_mul(stat.f_frsize)
            .saturating_add(free_pages))
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
        let seen: bool = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM nonces WHERE station = ?1 AND nonce = ?2)",
            )?
            .query_row(params![nonce.station.0, nonce.nonce], |row| row.get(0))?;
        Ok((status, seen))
    }

    /// Opens a group transaction: until [`Store::commit_group`], each request
    /// ([`Store::record_request`], [`Store::deposit`], [`Store::begin_fetch`],
    /// [`Store::delete`]) runs in a savepoint of it, so that one request's failure rolls back
    /// only that request, and all are made durable by one commit (one fsync): group commit.
    pub fn begin_group(&mut self) -> Result<(), StoreError> {
        assert!(!self.in_group, "groups do not nest");
        if !self.conn.is_autocommit() {
            // A group whose commit and then rollback both failed left its transaction open
            // (none of its requests was answered as done): ended here, so that one such
            // failure does not make every later group fail to begin.
            tracing::warn!("a failed group's transaction was still open; rolling it back");
            savepoint::run(&self.conn, "ROLLBACK")?;
        }
        savepoint::run(&self.conn, "BEGIN IMMEDIATE")?;
        self.in_group = true;
        Ok(())
    }

    /// Commits the group transaction [`Store::begin_group`] opened: every request of the group
    /// is durable when this returns `Ok`. On an error the whole group is rolled back: none of
    /// its requests happened.
    pub fn commit_group(&mut self) -> Result<(), StoreError> {
        assert!(self.in_group, "a group is open");
        self.in_group = false;
        if let Err(error) = savepoint::run(&self.conn, "COMMIT") {
            if !self.conn.is_autocommit() {
                let _ = savepoint::run(&self.conn, "ROLLBACK");
            }
            return Err(error.into());
        }
        Ok(())
    }

    /// Runs `action` for an authenticated request in one transaction (a savepoint of the
    /// group's, in a group) that first records its nonce and re-checks that the station is
    /// admitted. Commits on success and on refusals (recording the nonce, and whatever records
    /// of the request `action` wrote; `action` must not change a mailbox before it has decided
    /// to proceed), rolls back on failures and replays.
    fn authorised<T>(
        &mut self,
        nonce: &NonceRecord,
        action: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if nonce.timestamp_ms < self.nonces_purged_below_ms {
            return Err(StoreError::TooLate);
        }
        let kept = |outcome: &Result<T, StoreError>| match outcome {
            Ok(_) => true,
            Err(StoreError::Replayed) => false,
            Err(error) => error.is_refusal(),
        };
        if self.in_group {
            // A failure SQLite answers by rolling back the whole transaction (a full disk, an
            // I/O error) ends the group: what follows must not commit on its own.
            if self.conn.is_autocommit() {
                return Err(StoreError::GroupAborted);
            }
            let savepoint = Savepoint::open(&self.conn)?;
            let outcome = authorised_in(&savepoint, nonce, action);
            if kept(&outcome) {
                savepoint.release()?;
            }
            return outcome;
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = authorised_in(&tx, nonce, action);
        if kept(&outcome) {
            tx.commit()?;
        }
        outcome
    }

    /// Runs `action` in one transaction (a savepoint of the group's, in a group): kept if it
    /// returns `Ok`, rolled back if not. For requests that carry no nonce (the witness's).
    fn transaction<T>(
        &mut self,
        action: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.in_group {
            // As in `authorised`: a group SQLite rolled back must not commit piecemeal.
            if self.conn.is_autocommit() {
                return Err(StoreError::GroupAborted);
            }
            let savepoint = Savepoint::open(&self.conn)?;
            let outcome = action(&savepoint)?;
            savepoint.release()?;
            return Ok(outcome);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = action(&tx)?;
        tx.commit()?;
        Ok(outcome)
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
        let at = DepositAt {
            now_ms,
            retention_ms,
            disk_free_bytes: self.disk_free_bytes()?,
        };
        self.authorised(nonce, |tx| {
            record_correspondent(tx, &sender, recipient, now_ms)?;
            let disclosed = addressed_in(tx, recipient, &sender)?;
            let outcome = deposit_in(tx, &sender, recipient, frames, quota, at, disclosed)?;
            Ok(DepositReport { outcome, disclosed })
        })
    }

    /// Starts a fetch by `nonce.station`: records the request, deletes the items of its
    /// mailbox it acknowledges (every id up to `ack`; 0: none), and the expired ones, then
    /// reads what is left as [`Store::fetch`] does, in the same transaction: the items are
    /// answered only once it commits.
    pub fn begin_fetch(
        &mut self,
        nonce: &NonceRecord,
        ack: u64,
        now_ms: u64,
        retention_ms: u64,
        bounds: FetchBounds,
    ) -> Result<FetchStart, StoreError> {
        self.authorised(nonce, |tx| {
            let me = nonce.station.0;
            let acknowledged = tx
                .prepare_cached("DELETE FROM items WHERE recipient = ?1 AND id <= ?2")?
                .execute(params![me, to_sql_u64(ack)])?;
            // Sought by recipient and age: before that index, it read every item of the
            // mailbox (6.5 ms a fetch at 100,000).
            tx.prepare_cached(
                "DELETE FROM items INDEXED BY items_by_recipient_age \
                 WHERE recipient = ?1 AND deposited_ms < ?2",
            )?
            .execute(params![me, retention_cutoff(now_ms, retention_ms)])?;
            let (items, more) = items_in(tx, &nonce.station, now_ms, retention_ms, bounds)?;
            Ok(FetchStart {
                acknowledged: acknowledged as u64,
                items,
                more,
            })
        })
    }

    /// Up to `bounds.items_max` unexpired items of `recipient`'s mailbox in id order,
    /// stopping before `bounds.bytes_max` frame bytes (the first item is always included);
    /// and whether more wait.
    pub fn fetch(
        &self,
        recipient: &StationId,
        now_ms: u64,
        retention_ms: u64,
        bounds: FetchBounds,
    ) -> Result<(Vec<StoredItem>, bool), StoreError> {
        items_in(&self.conn, recipient, now_ms, retention_ms, bounds)
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
            let mut deleted = tx
                .prepare_cached("DELETE FROM items WHERE recipient = ?1 AND id <= ?2")?
                .execute(params![me, to_sql_u64(upto)])?;
            let mut one =
                tx.prepare_cached("DELETE FROM items WHERE recipient = ?1 AND id = ?2")?;
            for id in ids {
                deleted += one.execute(params![me, to_sql_u64(*id)])?;
            }
            Ok(deleted as u64)
        })
    }

    /// Deletes items past retention and nonces whose timestamp is more than `nonce_keep_ms`
    /// old (the relay keeps them [`crate::limits::NONCE_KEEP_MS`]).
    pub fn purge(
        &mut self,
        now_ms: u64,
        retention_ms: u64,
        nonce_keep_ms: u64,
    ) -> Result<Purged, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let items = tx
            .prepare_cached("DELETE FROM items WHERE deposited_ms < ?1")?
            .execute([retention_cutoff(now_ms, retention_ms)])?;
        let nonces_below_ms = now_ms.saturating_sub(nonce_keep_ms);
        let nonces = tx
            .prepare_cached("DELETE FROM nonces WHERE timestamp_ms < ?1")?
            .execute([to_sql_u64(nonces_below_ms)])?;
        tx.commit()?;
        // Follows the clock as the purge does: a clock that ran ahead and was set back must
        // not have every request refused until real time catches up.
        self.nonces_purged_below_ms = nonces_below_ms;
        Ok(Purged {
            items: items as u64,
            nonces: nonces as u64,
        })
    }

    /// Items and bytes stored for `recipient`, expired ones included until purged.
    pub fn mailbox_size(&self, recipient: &StationId) -> Result<MailboxSize, StoreError> {
        mailbox_size_in(&self.conn, recipient, WHOLE_MAILBOX)
    }

    /// Items and bytes stored for `recipient` by `sender`, expired ones included until purged.
    pub fn share_size(
        &self,
        recipient: &StationId,
        sender: &StationId,
    ) -> Result<MailboxSize, StoreError> {
        mailbox_size_in(&self.conn, recipient, &sender.0)
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
        let (admitted, revoked): (i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT COALESCE(SUM(revoked_ms IS NULL), 0), \
                 COALESCE(SUM(revoked_ms IS NOT NULL), 0) FROM stations",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        // The frames and bytes held are kept by triggers in the relay's row of `held`, the
        // mailboxes read from the recipients' index: no frame is read.
        let (mailboxes, items, bytes): (i64, i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT (SELECT COUNT(DISTINCT recipient) FROM items INDEXED BY items_by_recipient),
                        COALESCE((SELECT items FROM held WHERE sender = X''), 0),
                        COALESCE((SELECT bytes FROM held WHERE sender = X''), 0)",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
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
            .prepare_cached("SELECT COUNT(*) FROM nonces")?
            .query_row([], |row| row.get(0))?;
        from_sql_u64(count, "nonce count")
    }
}

#[cfg(test)]
mod held_tests;
#[cfg(test)]
mod tests;
