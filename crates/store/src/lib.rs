//! parley's SQLite persistence of one station: its identity record and epoch keys, its paired
//! peers, and for every link both logs, the outbox, receipts and evidence.
//!
//! Architecture invariants:
//! - The store knows no protocol logic. It applies the [`StoreOp`]s a link produced and rebuilds
//!   the [`LinkSnapshot`] the link resumes from; it never decides what to send or accept.
//! - One writer: [`Store::commit`] applies a whole batch of ops in one immediate transaction
//!   (the group commit; the caller batches), and is durable when it returns (WAL journal,
//!   `synchronous=FULL`: SQLite syncs the log at every commit, with `fdatasync(2)`). Readers in other processes use
//!   [`Store::open_read_only`]; WAL lets them read while the writer writes.
//! - Checks on both sides of the disk: before writing, an op must agree with what is stored
//!   (an own entry continues the own log, the in-head only moves over held entries, …); after
//!   reading, logs must be contiguous from seq 1 and every value must decode. Neither side
//!   trusts the other.
//! - No time is read and no randomness drawn here: every timestamp comes in with the call.
//! - The Ed25519 identity secret is not stored here (it lives in its own 0600 file); the
//!   epoch (KEM) secrets are.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alarms;
mod apply;
mod check;
mod checkpoint;
pub mod console;
mod convert;
mod error;
mod read;
mod records;
mod rows;
mod schema;
mod transaction;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use parley_proto::limits::{LANG_SIZE_MAX_BYTES, NAME_SIZE_MAX_BYTES};
use parley_proto::{ContactCard, EpochSecret, LinkSnapshot, StationId, StoreOp};
use rusqlite::{Connection, params};

use crate::transaction::{Begin, Transaction};

pub use alarms::{Acknowledgement, AlarmChange, AlarmKind, AlarmRow, CLEARED_RANK, change_rank};
pub use check::{CheckSummary, INTEGRITY_CHECK_REPORTED_MAX};
pub use checkpoint::{
    CHECKPOINT_AFTER_PAGES, CHECKPOINT_WRITER_PAGES, CheckpointCounts, LOG_FILE_KEPT_MAX_BYTES,
};
pub use console::{
    AUDIT_DETAIL_SIZE_MAX_BYTES, AUDIT_OUTCOME_OK, AUDIT_OUTCOME_SIZE_MAX_BYTES,
    AUDIT_PAGE_ROWS_MAX, AuditAction, AuditQuery, AuditRecord, AuditRow, AuditSource,
    CONSOLE_SCHEMA_VERSION, ConsoleDb, OPERATORS_MAX, OperatorRow, PASSWORD_PHC_SIZE_MAX_BYTES,
};
pub use error::StoreError;
pub use rows::{
    AdminOp, ChannelKindRow, ChannelRow, DeliveryState, EpochKeyRow, EvidenceRow, InboxRow,
    KeptEntry, LinkCounts, LinkLeaves, LinkRecord, NewPeer, OutboxRow, OutboxState, PeerRecord,
    PeerRow, StationRow, StoredEntry, TranscriptRecord,
};
pub use schema::{
    BUSY_TIMEOUT_MS, PREPARED_STATEMENTS_CACHED_MAX, SCHEMA_VERSION, WRITER_CACHE_KIB,
};

use convert::to_sql;
use error::SqlContext;

/// One station's database.
pub struct Store {
    connection: Connection,
    read_only: bool,
    /// This station's identity, once known (read lazily: a store may be opened before init).
    own: Option<StationId>,
    /// The database file of a writer on disk.
    path: Option<PathBuf>,
    /// The checkpoint thread, once started. Dropped after `connection`, whose log hook holds
    /// the thread's wake-up: the thread then ends, and dropping this waits for it.
    checkpointer: Option<checkpoint::Checkpointer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.connection.path())
            .field("read_only", &self.read_only)
            .field("own", &self.own)
            .finish()
    }
}

impl Store {
    /// Opens the database at `path` for writing, creating it if needed: WAL journal,
    /// `synchronous=FULL`, foreign keys on, a [`BUSY_TIMEOUT_MS`] busy timeout, and every
    /// missing migration applied. A database from a newer build is refused with
    /// [`StoreError::SchemaTooNew`] before anything is changed. Everything it holds is then
    /// checked ([`Self::check`]): a damaged store is refused, never served.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::checked_writer(schema::open_writer(path)?, path)
    }

    /// Opens the store of an existing station for writing, as [`Self::open`] does, except that
    /// a database holding no schema at all (an empty file, one replaced) is refused with
    /// [`StoreError::NoStore`] and left as it is, where [`Self::open`] would make an empty
    /// store of it. For every open but the one that creates the station.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        Self::checked_writer(schema::open_existing_writer(path)?, path)
    }

    fn checked_writer(connection: Connection, path: &Path) -> Result<Store, StoreError> {
        let mut store = Self::with_connection(connection, false)?;
        store.check()?;
        store.path = Some(path.to_owned());
        Ok(store)
    }

    /// Opens a fresh store in memory: the same schema, checks and transactions as on disk, and
    /// no durability. A commit is still all or nothing, so dropping the handle between two
    /// commits is exactly a crash of a station whose disk kept what it committed. For the
    /// deterministic simulation.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::with_connection(schema::open_memory()?, false)
    }

    /// Opens an existing database for reading while another process may write it. The schema
    /// must be exactly [`SCHEMA_VERSION`]; writes return [`StoreError::ReadOnly`]. Checked as
    /// [`Self::open`] is.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let store = Self::with_connection(schema::open_reader(path)?, true)?;
        store.check()?;
        Ok(store)
    }

    fn with_connection(connection: Connection, read_only: bool) -> Result<Store, StoreError> {
        let own = read::station(&connection)?.map(|station| station.identity);
        Ok(Store {
            connection,
            read_only,
            own,
            path: None,
            checkpointer: None,
        })
    }

    /// Moves the write-ahead log's checkpoints to a thread of their own, so that a commit only
    /// appends to the log and syncs it (the `checkpoint` module says how the log stays
    /// bounded). For a daemon's store on disk; a second call changes nothing.
    pub fn checkpoint_in_background(&mut self) -> Result<(), StoreError> {
        self.writable()?;
        if self.checkpointer.is_some() {
            return Ok(());
        }
        let Some(path) = &self.path else {
            return Err(StoreError::InvalidOp(
                "a store in memory has no write-ahead log to checkpoint".into(),
            ));
        };
        let checkpointer = checkpoint::Checkpointer::start(&mut self.connection, path)?;
        self.checkpointer = Some(checkpointer);
        Ok(())
    }

    /// What the background checkpoints did so far (all zero without them).
    pub fn checkpoint_counts(&self) -> CheckpointCounts {
        self.checkpointer
            .as_ref()
            .map(checkpoint::Checkpointer::counts)
            .unwrap_or_default()
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            Err(StoreError::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// A link's record for the watch and speed-of-service figures, read consistently.
    pub fn link_record(&self, peer: &StationId) -> Result<LinkRecord, StoreError> {
        self.consistent(|connection| records::link_record(connection, peer))
    }

    /// The Merkle leaves of both logs of the link with `peer` (every entry, key announcements
    /// included), for checkpoints. An entry whose bytes no longer hash to its id is refused as
    /// corrupt.
    pub fn link_leaves(&self, peer: &StationId) -> Result<LinkLeaves, StoreError> {
        self.consistent(|connection| records::link_leaves(connection, peer))
    }

    /// Where each own entry of the link with `peer` stands, by seq: state, and when its covering
    /// receipt arrived.
    pub fn outbox_states(&self, peer: &StationId) -> Result<Vec<OutboxState>, StoreError> {
        read::outbox_states(&self.connection, peer)
    }

    /// The highest alarm id ever used, 0 if none.
    pub fn alarm_id_max(&self) -> Result<u64, StoreError> {
        alarms::id_max(&self.connection)
    }

    /// Alarms, newest first: every one with `all`, else those not cleared.
    pub fn alarms(&self, all: bool) -> Result<Vec<AlarmRow>, StoreError> {
        alarms::read(&self.connection, all)
    }

    /// The alarms whose last change the alarm hook has not run for (raised, escalated or
    /// cleared while no daemon ran, or before a crash or a stop), newest first.
    pub fn alarms_unhooked(&self) -> Result<Vec<AlarmRow>, StoreError> {
        alarms::unhooked(&self.connection)
    }

    /// Checks everything the store holds (SQLite's integrity check, then every entry against its
    /// id and its log's chain, every kept signature): the first damage found is a
    /// [`StoreError::Corrupt`] naming it. A station runs it when it opens its store.
    pub fn check(&self) -> Result<CheckSummary, StoreError> {
        self.consistent(check::check)
    }

    /// This station's identity, reading it if this handle has not seen it yet.
    fn own_identity(&mut self) -> Result<StationId, StoreError> {
        if let Some(own) = self.own {
            return Ok(own);
        }
        let own = read::station(&self.connection)?
            .ok_or(StoreError::NotInitialised)?
            .identity;
        self.own = Some(own);
        Ok(own)
    }

    /// Like [`Self::own_identity`] for `&self` readers (no caching).
    fn own_identity_read(&self) -> Result<StationId, StoreError> {
        match self.own {
            Some(own) => Ok(own),
            None => Ok(read::station(&self.connection)?
                .ok_or(StoreError::NotInitialised)?
                .identity),
        }
    }

    /// Writes the station record and its first (current) epoch key, once. `identity_public` is
    /// the station's Ed25519 public key; its secret is kept elsewhere, never here.
    pub fn init_station(
        &mut self,
        name: &str,
        lang: &str,
        identity_public: [u8; 32],
        epoch: &EpochSecret,
        created_ms: u64,
    ) -> Result<(), StoreError> {
        self.writable()?;
        check_name(name, "station name")?;
        check_lang(lang)?;
        let identity = StationId(identity_public);
        identity.verifying_key().map_err(|_| {
            StoreError::InvalidOp("the identity is not a valid Ed25519 public key".into())
        })?;
        let created = to_sql(created_ms, "creation time")?;
        let tx = Transaction::begin(&self.connection, Begin::Immediate)
            .context("starting to initialise the station; nothing was stored")?;
        if read::station(&tx)?.is_some() {
            return Err(StoreError::AlreadyInitialised);
        }
        let context = "initialising the station; nothing was stored";
        tx.execute(
            "INSERT INTO station (singleton, name, lang, identity, created_ms) \
             VALUES (1, ?1, ?2, ?3, ?4)",
            params![name, lang, identity.0, created],
        )
        .context(context)?;
        tx.execute(
            "INSERT INTO epoch_keys (key_id, secret, public, created_ms, current) \
             VALUES (?1, ?2, ?3, ?4, 1)",
            params![
                epoch.id().0,
                epoch.secret_bytes(),
                epoch.public_bytes(),
                created
            ],
        )
        .context(context)?;
        tx.commit().context(context)?;
        self.own = Some(identity);
        Ok(())
    }

    /// Records that the daemon stopped cleanly at `stopped_ms`, every duty due until then run
    /// and committed (`Some`), or that it runs (`None`, as it starts: a crash leaves it so).
    /// Its own transaction, durable when this returns.
    pub fn set_stopped(&mut self, stopped_ms: Option<u64>) -> Result<(), StoreError> {
        self.writable()?;
        let stopped = stopped_ms
            .map(|ms| to_sql(ms, "the time the daemon stopped"))
            .transpose()?;
        self.connection
            .execute("UPDATE station SET stopped_ms = ?1", params![stopped])
            .context("recording whether the daemon runs")?;
        Ok(())
    }

    /// This station's record, or `None` before [`Store::init_station`].
    pub fn station(&self) -> Result<Option<StationRow>, StoreError> {
        read::station(&self.connection)
    }

    /// The station's epoch key pairs: the current one first, then older ones newest first.
    pub fn epoch_keys(&self) -> Result<Vec<EpochKeyRow>, StoreError> {
        read::epoch_keys(&self.connection)
    }

    /// Pairs with a peer without any ops; see [`Store::commit_with_peer`] to store the pairing
    /// together with the ops `Endpoint::pair` produced (the first entry), which is what a
    /// station should do.
    pub fn add_peer(
        &mut self,
        card: &ContactCard,
        card_bytes: &[u8],
        name: &str,
        address: Option<String>,
        added_ms: u64,
    ) -> Result<(), StoreError> {
        let peer = NewPeer {
            card,
            card_bytes,
            name,
            address,
            added_ms,
        };
        self.commit_with_peer(Some(peer), &[])
    }

    /// Applies every op of `ops` in one transaction: all of them are stored, durably, when this
    /// returns `Ok`, and none of them when it returns an error. This is the group commit: the
    /// caller batches the ops of many calls into one commit.
    pub fn commit(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        self.commit_with_peer(None, ops)
    }

    /// Like [`Store::commit`], first adding `peer` in the same transaction. Pairing uses this so
    /// that the peer and its link's first entry (from `Endpoint::pair`) exist together or not at
    /// all. The card bytes must decode to the card; the identity and the name must be new
    /// ([`StoreError::PeerExists`] otherwise).
    pub fn commit_with_peer(
        &mut self,
        peer: Option<NewPeer<'_>>,
        ops: &[StoreOp],
    ) -> Result<(), StoreError> {
        let admin: Vec<AdminOp> = peer.into_iter().map(AdminOp::from).collect();
        self.commit_batch(&admin, ops)
    }

    /// The group commit of a station: every administrative change of `admin` (pairings, new
    /// channels), then every op of `ops`, then the pins replaced (whose check reads the key
    /// announcements `ops` may store), in one transaction. All of it is stored, durably,
    /// when this returns `Ok`, and none of it when it returns an error.
    pub fn commit_batch(&mut self, admin: &[AdminOp], ops: &[StoreOp]) -> Result<(), StoreError> {
        self.writable()?;
        let own = self.own_identity()?;
        for op in admin {
            match op {
                AdminOp::AddPeer(peer) => check_new_peer(&own, &peer.as_new_peer())?,
                AdminOp::UpgradePeerCard { card, card_bytes } => {
                    check_card_bytes(card, card_bytes, "upgraded peer")?;
                }
                _ => {}
            }
        }
        let tx = Transaction::begin(&self.connection, Begin::Immediate)
            .context("starting a commit; nothing was stored")?;
        for op in admin {
            match op {
                AdminOp::AddPeer(peer) => apply::insert_peer(&tx, &peer.as_new_peer())?,
                AdminOp::AddChannel(row) => apply::insert_channel(&tx, row)?,
                AdminOp::RaiseAlarm(alarm) => alarms::insert(&tx, alarm)?,
                AdminOp::ChangeAlarm { id, change } => alarms::change(&tx, *id, change)?,
                AdminOp::HookedAlarm { id, rank } => alarms::hooked(&tx, *id, *rank)?,
                AdminOp::AddEpochKey { key, created_ms } => {
                    apply::add_epoch_key(&tx, key, *created_ms)?;
                }
                AdminOp::EraseEpochKey(id) => apply::erase_epoch_key(&tx, id)?,
                // After the ops: a key announcement the core read in this batch is stored.
                AdminOp::UpgradePeerCard { .. } => {}
            }
        }
        for op in ops {
            apply::apply(&tx, &own, op)?;
        }
        for op in admin {
            if let AdminOp::UpgradePeerCard { card, card_bytes } = op {
                apply::upgrade_peer_card(&tx, card, card_bytes)?;
            }
        }
        // Dropping `tx` on any error above rolls the whole batch back.
        tx.commit().with_context(|| {
            format!(
                "committing {} ops and {} changes; none of them was stored",
                ops.len(),
                admin.len()
            )
        })?;
        if admin
            .iter()
            .any(|op| matches!(op, AdminOp::EraseEpochKey(_)))
        {
            self.truncate_log();
        }
        Ok(())
    }

    /// Copies the write-ahead log into the database and empties it, so that the bytes an
    /// erasure overwrote in the database are not still in the log's older frames. It does not
    /// wait for readers (the driver must not stall): a reader in the middle of a transaction
    /// keeps the log from being emptied, and then the old frames stay until the log is next
    /// emptied (logged, not an error: the erasure itself is committed). With the checkpoint
    /// thread, it does wait for that thread's checkpoint in progress, if any (which waits for
    /// no one): the two would otherwise make each other busy.
    fn truncate_log(&self) {
        let truncate = || {
            let no_wait = self.connection.busy_timeout(std::time::Duration::ZERO);
            no_wait.and_then(|()| {
                self.connection
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                        row.get::<_, i64>(0)
                    })
            })
        };
        // Not in the middle of the checkpoint thread's own (which would make this one busy).
        let result = match &self.checkpointer {
            Some(checkpointer) => checkpointer.exclusive(truncate),
            None => truncate(),
        };
        if let Err(error) = schema::set_busy_timeout(&self.connection) {
            tracing::warn!(%error, "restoring the busy timeout failed");
        }
        match result {
            Ok(0) => {
                if let Some(checkpointer) = &self.checkpointer {
                    checkpointer.emptied();
                }
            }
            Ok(_) => tracing::warn!(
                "the write-ahead log could not be emptied after an epoch key was erased (a reader holds it); the key's old bytes stay in it until a later checkpoint"
            ),
            Err(error) => {
                tracing::warn!(%error, "emptying the write-ahead log after an epoch key was erased failed")
            }
        }
    }

    /// Adds a relay or courier channel to the link with `peer` under the next free id, at
    /// once; returns its id. The same kind and target twice for one peer is
    /// [`StoreError::ChannelExists`].
    pub fn add_channel(
        &mut self,
        peer: &StationId,
        kind: &ChannelKindRow,
        target: &str,
        added_ms: u64,
    ) -> Result<i64, StoreError> {
        let id = read::channels(&self.connection)?
            .iter()
            .map(|c| c.id)
            .max()
            .unwrap_or(0)
            + 1;
        let row = ChannelRow {
            id,
            peer: *peer,
            kind: kind.clone(),
            target: target.to_owned(),
            added_ms,
        };
        self.commit_batch(&[AdminOp::AddChannel(row)], &[])?;
        Ok(id)
    }

    /// Every relay and courier channel, in the order they were added.
    pub fn channels(&self) -> Result<Vec<ChannelRow>, StoreError> {
        read::channels(&self.connection)
    }

    /// Every paired peer, by name.
    pub fn peers(&self) -> Result<Vec<PeerRow>, StoreError> {
        read::peers(&self.connection)
    }

    /// The peer with this local name, if paired.
    pub fn peer_by_name(&self, name: &str) -> Result<Option<PeerRow>, StoreError> {
        read::peer_by_name(&self.connection, name)
    }

    /// The peer with this identity, if paired.
    pub fn peer_by_id(&self, id: &StationId) -> Result<Option<PeerRow>, StoreError> {
        read::peer_by_id(&self.connection, id)
    }

    /// What the link with `peer` resumes from: both logs (checked contiguous from seq 1, each
    /// entry naming its predecessor), the unreceipted outbox with frames, entries held above the
    /// in-head, the peer's highest receipt bound, its epoch key, and the evidence count.
    /// A gap or a broken chain is [`StoreError::Corrupt`].
    pub fn link_snapshot(&self, peer: &StationId) -> Result<LinkSnapshot, StoreError> {
        let own = self.own_identity_read()?;
        self.consistent(|connection| read::link_snapshot(connection, &own, peer))
    }

    /// Delivered messages from `peer` (or from every peer), per sender in seq order.
    pub fn inbox(&self, peer: Option<&StationId>) -> Result<Vec<InboxRow>, StoreError> {
        read::inbox(&self.connection, peer)
    }

    /// Own messages to `peer` (or to every peer) with their delivery state, per recipient in
    /// seq order. Key announcements are not messages and are left out.
    pub fn outbox(&self, peer: Option<&StationId>) -> Result<Vec<OutboxRow>, StoreError> {
        read::outbox(&self.connection, &self.own_identity_read()?, peer)
    }

    /// The entries of the link with `peer` for transcript export, by author then seq: every own
    /// entry, and the peer's entries up to its in-head (entries held above the head are not
    /// delivered yet and may follow a gap, so they are left out). Both logs are checked
    /// contiguous from seq 1.
    pub fn entries(&self, peer: &StationId) -> Result<Vec<StoredEntry>, StoreError> {
        self.consistent(|connection| read::entries(connection, peer))
    }

    /// The signed bytes of own entries `seqs` of the link with `peer` (those a peer lost, to
    /// be sealed again), in the order asked; a seq not written is left out.
    pub fn own_entries(
        &self,
        peer: &StationId,
        seqs: &[u64],
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        read::own_entries(&self.connection, &self.own_identity_read()?, peer, seqs)
    }

    /// Everything a transcript of the link with `peer` is made of, read as one state of the
    /// store even while a daemon commits: the peer's row (with its pinned card), the link's
    /// snapshot, every entry of both logs up to the peer's in-head, and the peer's latest
    /// receipt.
    pub fn transcript(&self, peer: &StationId) -> Result<TranscriptRecord, StoreError> {
        let own = self.own_identity_read()?;
        self.consistent(|connection| {
            Ok(TranscriptRecord {
                peer: read::peer_by_id(connection, peer)?
                    .ok_or_else(|| StoreError::UnknownPeer(peer.short()))?,
                snapshot: read::link_snapshot(connection, &own, peer)?,
                entries: read::entries(connection, peer)?,
                latest_receipt: read::latest_receipt(connection, peer)?,
            })
        })
    }

    /// The peer's latest receipt of own entries (the one with the highest cumulative bound), as
    /// the signed bytes it sent, or `None` if it has receipted nothing yet.
    pub fn latest_receipts(&self, peer: &StationId) -> Result<Option<Vec<u8>>, StoreError> {
        read::latest_receipt(&self.connection, peer)
    }

    /// Evidence of misbehaviour by `peer` (or by every peer), oldest first.
    pub fn evidence(&self, peer: Option<&StationId>) -> Result<Vec<EvidenceRow>, StoreError> {
        read::evidence(&self.connection, peer)
    }

    /// The id of `author`'s entry at `seq` on the link with `peer`, if it is stored (delivered
    /// or held above the head).
    pub fn entry_id_at(
        &self,
        peer: &StationId,
        author: &StationId,
        seq: u64,
    ) -> Result<Option<parley_proto::EntryId>, StoreError> {
        read::entry_id_at(&self.connection, peer, author, seq)
    }

    /// The latest time anything stored was written at, UTC ms: a station's clock starts no
    /// earlier, so its log never goes back in time even if the wall clock did.
    pub fn latest_time_ms(&self) -> Result<u64, StoreError> {
        read::latest_time_ms(&self.connection)
    }

    /// Unreceipted own entries and delivered peer messages on the link with `peer`.
    pub fn counts(&self, peer: &StationId) -> Result<LinkCounts, StoreError> {
        self.consistent(|connection| read::counts(connection, peer))
    }

    /// Runs `read` in one read transaction, so the several queries it makes see one state of
    /// the store, even while another process commits (WAL keeps that state for the reader).
    fn consistent<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx =
            Transaction::begin(&self.connection, Begin::Deferred).context("starting a read")?;
        let value = read(&tx)?;
        tx.commit().context("ending a read")?;
        Ok(value)
    }
}

fn check_name(name: &str, what: &str) -> Result<(), StoreError> {
    parley_proto::names::check_name(name).map_err(|why| {
        StoreError::InvalidOp(format!(
            "the {what} {name:?} {why}: it must be 1 to {NAME_SIZE_MAX_BYTES} bytes, not blank, without control or text-direction characters"
        ))
    })
}

fn check_lang(lang: &str) -> Result<(), StoreError> {
    if lang.is_empty() || lang.len() > LANG_SIZE_MAX_BYTES {
        return Err(StoreError::InvalidOp(format!(
            "the language tag must be 1 to {LANG_SIZE_MAX_BYTES} bytes, got {lang:?}"
        )));
    }
    Ok(())
}

/// Checks a new peer before writing it: its card bytes are the card, and it is not us.
fn check_new_peer(own: &StationId, peer: &NewPeer<'_>) -> Result<(), StoreError> {
    check_name(peer.name, "peer name")?;
    check_card_bytes(peer.card, peer.card_bytes, "new peer")?;
    if peer.card.identity == *own {
        return Err(StoreError::InvalidOp(
            "the new peer's card is this station's own card".into(),
        ));
    }
    Ok(())
}

/// The card bytes of a peer (`whose`) must verify and decode to the card given beside them.
fn check_card_bytes(card: &ContactCard, bytes: &[u8], whose: &str) -> Result<(), StoreError> {
    let decoded = ContactCard::decode_verified(bytes).map_err(|error| {
        StoreError::InvalidOp(format!(
            "the card bytes of the {whose} do not verify: {error}"
        ))
    })?;
    if decoded != *card {
        return Err(StoreError::InvalidOp(format!(
            "the card bytes of the {whose} decode to a different card"
        )));
    }
    Ok(())
}
