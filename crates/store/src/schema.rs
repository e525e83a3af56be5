//! The schema and its migrations, applied in order by `PRAGMA user_version`.
//!
//! Migration `n` (1-based) brings a database from version `n - 1` to `n`. A migration is never
//! edited once released; a change to the schema is a new migration appended to [`MIGRATIONS`].

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::checkpoint::LOG_FILE_KEPT_MAX_BYTES;
use crate::error::{SqlContext, StoreError};

/// How long a connection waits for another connection's lock before failing, in milliseconds.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;

/// The writer's page cache, in KiB (SQLite's default is 2,000). A large batch's changed pages
/// stay in memory until its commit instead of spilling into the write-ahead log early (and
/// again at the commit).
pub const WRITER_CACHE_KIB: i64 = 8_192;

/// How many prepared statements a connection keeps cached, in statements. Every statement the
/// store uses fits, so a commit never re-parses SQL.
pub const PREPARED_STATEMENTS_CACHED_MAX: usize = 64;

/// Version 1: station, epoch keys, peers, both logs of every link, outbox, evidence.
///
/// Invariants the CHECKs hold: an entry has `received_ms` exactly when its author is the peer
/// (it came in); a message has text and language, other kinds have neither; an outbox row keeps
/// its frame exactly until it is delivered, and has `delivered_ms` exactly when delivered.
const MIGRATION_1: &str = "
CREATE TABLE station (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    name        TEXT NOT NULL,
    lang        TEXT NOT NULL,
    identity    BLOB NOT NULL CHECK (length(identity) = 32),
    created_ms  INTEGER NOT NULL CHECK (created_ms >= 0)
) STRICT;

CREATE TABLE epoch_keys (
    key_id      BLOB PRIMARY KEY CHECK (length(key_id) = 8),
    secret      BLOB NOT NULL,
    public      BLOB NOT NULL,
    created_ms  INTEGER NOT NULL CHECK (created_ms >= 0),
    current     INTEGER NOT NULL CHECK (current IN (0, 1))
) STRICT;
CREATE UNIQUE INDEX epoch_keys_one_current ON epoch_keys (current) WHERE current = 1;

CREATE TABLE peers (
    id                  BLOB PRIMARY KEY CHECK (length(id) = 32),
    name                TEXT NOT NULL UNIQUE,
    card                BLOB NOT NULL,
    epoch_public        BLOB NOT NULL,
    address             TEXT,
    in_head             INTEGER NOT NULL DEFAULT 0 CHECK (in_head >= 0),
    added_ms            INTEGER NOT NULL CHECK (added_ms >= 0),
    latest_receipt      BLOB,
    latest_receipt_upto INTEGER NOT NULL DEFAULT 0 CHECK (latest_receipt_upto >= 0),
    latest_receipt_ms   INTEGER,
    CHECK ((latest_receipt IS NULL) = (latest_receipt_ms IS NULL))
) STRICT;

CREATE TABLE entries (
    peer        BLOB NOT NULL REFERENCES peers (id),
    author      BLOB NOT NULL CHECK (length(author) = 32),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    entry_id    BLOB NOT NULL CHECK (length(entry_id) = 32),
    prev        BLOB NOT NULL CHECK (length(prev) = 32),
    seen        BLOB NOT NULL CHECK (length(seen) = 32),
    time_ms     INTEGER NOT NULL CHECK (time_ms >= 0),
    kind        INTEGER NOT NULL,
    precedence  INTEGER NOT NULL,
    text        TEXT,
    lang        TEXT,
    signed      BLOB NOT NULL,
    received_ms INTEGER,
    PRIMARY KEY (peer, author, seq),
    CHECK ((kind = 1) = (text IS NOT NULL) AND (text IS NULL) = (lang IS NULL)),
    CHECK ((author = peer) = (received_ms IS NOT NULL))
) STRICT;
CREATE INDEX entries_messages ON entries (peer, author, seq) WHERE kind = 1;

CREATE TABLE outbox (
    peer         BLOB NOT NULL REFERENCES peers (id),
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    frame        BLOB,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'delivered')),
    delivered_ms INTEGER,
    PRIMARY KEY (peer, seq),
    CHECK ((state = 'delivered') = (frame IS NULL)),
    CHECK ((state = 'delivered') = (delivered_ms IS NOT NULL))
) STRICT;
CREATE INDEX outbox_undelivered ON outbox (peer, seq) WHERE state != 'delivered';

CREATE TABLE evidence (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    peer    BLOB NOT NULL REFERENCES peers (id),
    kind    TEXT NOT NULL,
    seq     INTEGER NOT NULL CHECK (seq >= 0),
    detail  TEXT NOT NULL,
    bytes   BLOB NOT NULL,
    time_ms INTEGER NOT NULL CHECK (time_ms >= 0)
) STRICT;
CREATE INDEX evidence_by_peer ON evidence (peer, id);
";

/// Version 2: the relay and courier channels of each link (the direct channel is the peer's
/// address). A relay channel keeps the relay's pinned identity and its verified card.
const MIGRATION_2: &str = "
CREATE TABLE channels (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    peer        BLOB NOT NULL REFERENCES peers (id),
    kind        TEXT NOT NULL CHECK (kind IN ('relay', 'courier')),
    target      TEXT NOT NULL CHECK (length(target) > 0),
    relay_id    BLOB CHECK (relay_id IS NULL OR length(relay_id) = 32),
    relay_card  BLOB,
    added_ms    INTEGER NOT NULL CHECK (added_ms >= 0),
    UNIQUE (peer, kind, target),
    CHECK ((kind = 'relay') = (relay_id IS NOT NULL)),
    CHECK ((relay_id IS NULL) = (relay_card IS NULL))
) STRICT;
";

/// Version 3: the watch. Each entry keeps the entry it answers, withdraws or reports on
/// (`subject`: understood, clarify, overdue, cancel) and whether a message is an exercise;
/// alarms are kept with their life (raised, escalated, acknowledged, cleared). An alarm's
/// condition is open at most once at a time.
const MIGRATION_3: &str = "
ALTER TABLE entries ADD COLUMN subject BLOB CHECK (subject IS NULL OR length(subject) = 32);
ALTER TABLE entries ADD COLUMN exercise INTEGER NOT NULL DEFAULT 0 CHECK (exercise IN (0, 1));
CREATE INDEX entries_by_subject ON entries (peer, subject) WHERE subject IS NOT NULL;
CREATE TABLE alarms (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    peer            BLOB NOT NULL REFERENCES peers (id),
    subject         TEXT NOT NULL,
    detail          TEXT NOT NULL,
    level           INTEGER NOT NULL CHECK (level >= 1),
    raised_ms       INTEGER NOT NULL CHECK (raised_ms >= 0),
    escalated_ms    INTEGER CHECK (escalated_ms >= raised_ms),
    acknowledged_ms INTEGER CHECK (acknowledged_ms >= raised_ms),
    acknowledged_by TEXT,
    note            TEXT,
    cleared_ms      INTEGER CHECK (cleared_ms >= raised_ms),
    CHECK ((acknowledged_ms IS NULL) = (acknowledged_by IS NULL)),
    CHECK (note IS NULL OR acknowledged_ms IS NOT NULL)
) STRICT;
CREATE UNIQUE INDEX alarms_open_once ON alarms (kind, peer, subject) WHERE cleared_ms IS NULL;
";

/// Version 4: the kinds of channel each own entry went out on (bits: 1 direct, 2 relay,
/// 4 courier; 0 for what earlier versions sent, unknown).
const MIGRATION_4: &str = "
ALTER TABLE outbox ADD COLUMN sent_on INTEGER NOT NULL DEFAULT 0 CHECK (sent_on BETWEEN 0 AND 7);
";

/// Version 5: the last change of each alarm that the alarm hook was run for (its rank,
/// `AlarmRow::change_rank`; 0 for none), so that a change made while no daemon ran, or lost to
/// a crash before its hook ran, runs it when the daemon next starts. The alarms of earlier
/// versions are taken as run.
const MIGRATION_5: &str = "
ALTER TABLE alarms ADD COLUMN hooked INTEGER NOT NULL DEFAULT 0 CHECK (hooked >= 0);
UPDATE alarms SET hooked = CASE WHEN cleared_ms IS NULL THEN level ELSE 4294967295 END;
";

/// Version 6, for each peer (formats.md §5): the latest time it signed into a receipt that
/// marked own entries delivered (0 for none, and for what earlier versions took), and the time
/// it signed into the last receipt that showed it lost own entries (its store put back to an
/// older copy; 0 for none), before which receipts are taken for nothing; and the highest own
/// seq a receipt of it covered beyond the own log (this store put back to an older copy; 0 for
/// none), after which nothing more is appended to it.
const MIGRATION_6: &str = "
ALTER TABLE peers ADD COLUMN receipt_newest_ms INTEGER NOT NULL DEFAULT 0 CHECK (receipt_newest_ms >= 0);
ALTER TABLE peers ADD COLUMN receipt_floor_ms INTEGER NOT NULL DEFAULT 0 CHECK (receipt_floor_ms >= 0);
ALTER TABLE peers ADD COLUMN log_behind INTEGER NOT NULL DEFAULT 0 CHECK (log_behind >= 0);
";

/// Version 7: for an own entry the peer lost and that is sent again (formats.md §5), when a
/// receipt had first covered it (NULL otherwise): it was receipted in time, which a restart's
/// watch must know as the running one does.
const MIGRATION_7: &str = "
ALTER TABLE outbox ADD COLUMN delivered_before_ms INTEGER CHECK (delivered_before_ms >= 0);
";

/// Version 8: when the daemon last stopped cleanly, having run every duty due until then and
/// committed (NULL while it runs, after a crash, and for what earlier versions left): a start
/// knows which of the watch's checks the stop left undone.
const MIGRATION_8: &str = "
ALTER TABLE station ADD COLUMN stopped_ms INTEGER CHECK (stopped_ms >= 0);
";

/// Version 9, for each peer (formats.md §5): the lowest own seq at which a receipt of it named
/// another entry than this store holds (this store put back to an older copy wrote entries
/// since, forking its log; 0 for none), after which nothing more is appended to it.
const MIGRATION_9: &str = "
ALTER TABLE peers ADD COLUMN log_forked INTEGER NOT NULL DEFAULT 0 CHECK (log_forked >= 0);
";

/// Every migration, in order; index `i` brings version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
    MIGRATION_6,
    MIGRATION_7,
    MIGRATION_8,
    MIGRATION_9,
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The version a list of migrations brings a database to.
fn version_of(migrations: &[&str]) -> u32 {
    u32::try_from(migrations.len()).expect("the migration list is short")
}

pub(crate) fn set_busy_timeout(connection: &Connection) -> Result<(), StoreError> {
    connection
        .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
        .context("setting the busy timeout")?;
    Ok(())
}

/// Sets up every connection the store opens: the busy timeout, the cache of prepared
/// statements, and SQLite's query planner stability guarantee. Without the guarantee, SQLite
/// marks a statement whose plan looked at a bound value (its guess of how selective a
/// `column = ?` is asks whether the value is 0 or 1) to be planned again once its bindings
/// are cleared, and rusqlite clears a cached statement's bindings each time it takes it back:
/// such statements were planned again at every use, the end of a log, read for each entry
/// appended or stored, among them (in the simulator's profile a quarter of a commit's time, 4 %
/// of a seed's). With it, a cached statement is planned once. No query here needs a bound
/// value to choose its plan: the partial indexes' conditions are all matched by literals, and
/// the only queries on `kind` bind a key announcement's, which no partial index covers.
pub(crate) fn configure(connection: &Connection) -> Result<(), StoreError> {
    set_busy_timeout(connection)?;
    connection.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS_CACHED_MAX);
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .context("turning on the query planner stability guarantee")?;
    Ok(())
}

fn user_version(connection: &Connection) -> Result<u32, StoreError> {
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context("reading the schema version")?;
    u32::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("schema version {version} is out of range")))
}

/// Opens (creating if needed) a database for writing, sets it up and migrates it.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    open_writer_with(path, MIGRATIONS)
}

/// Opens (creating if needed) a database of the schema `migrations` builds for writing: WAL,
/// `synchronous=FULL`, foreign keys, `secure_delete`, the busy timeout, the log file kept
/// within [`LOG_FILE_KEPT_MAX_BYTES`], every missing migration applied.
pub(crate) fn open_writer_with(path: &Path, migrations: &[&str]) -> Result<Connection, StoreError> {
    let version = version_of(migrations);
    let shown = path.display();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {shown}; nothing was changed"))?;
    configure(&connection)?;
    // Refuse a newer schema before touching anything, journal mode included.
    let found = user_version(&connection)?;
    if found > version {
        return Err(StoreError::SchemaTooNew {
            found,
            known: version,
        });
    }
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .with_context(|| format!("switching {shown} to WAL journal mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::JournalMode { found: mode });
    }
    // FULL: in WAL mode every commit fsyncs the log, so a returned commit survives power loss.
    connection
        .pragma_update(None, "synchronous", "FULL")
        .context("setting synchronous=FULL")?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .context("enabling foreign keys")?;
    // Deleted rows and freed pages are overwritten with zeros, so an erased epoch key (or a
    // removed operator's password hash) is not left in the file: not in the page it lived
    // in, nor in a page that held it before a split.
    connection
        .pragma_update(None, "secure_delete", "ON")
        .context("enabling secure_delete")?;
    connection
        .pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .context("setting the page cache's size")?;
    connection
        .pragma_update(None, "journal_size_limit", LOG_FILE_KEPT_MAX_BYTES)
        .context("limiting the write-ahead log file kept")?;
    migrate(&mut connection, migrations)?;
    Ok(connection)
}

/// Opens the connection of a writer's checkpoint thread to its database, already set up by the
/// writer: it only checkpoints, with the writer's `synchronous=FULL` (the database file is
/// synced before the log is reused).
pub(crate) fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {} to checkpoint it", path.display()))?;
    configure(&connection)?;
    connection
        .pragma_update(None, "synchronous", "FULL")
        .context("setting synchronous=FULL")?;
    Ok(connection)
}

/// Opens a fresh database in memory: the same schema, checks and transactions as on disk, with
/// no durability at all. For the deterministic simulation, whose "disk" is what committed.
pub(crate) fn open_memory() -> Result<Connection, StoreError> {
    let mut connection = Connection::open_in_memory().context("opening a store in memory")?;
    configure(&connection)?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .context("enabling foreign keys")?;
    migrate(&mut connection, MIGRATIONS)?;
    Ok(connection)
}

/// Opens an existing database for reading only; it must be at this build's schema version.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    open_reader_with(path, MIGRATIONS).map_err(|error| match error {
        StoreError::SchemaTooOld { found: 0, .. } => no_store(path),
        other => other,
    })
}

/// Opens an existing station's database for writing, as [`open_writer`] does, but refuses one
/// that holds no schema at all ([`StoreError::NoStore`]) before changing anything: migrating
/// it would make an empty store of what was a station's.
pub(crate) fn open_existing_writer(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {}; nothing was changed", path.display()))?;
    configure(&connection)?;
    if user_version(&connection)? == 0 {
        return Err(no_store(path));
    }
    drop(connection);
    open_writer(path)
}

fn no_store(path: &Path) -> StoreError {
    StoreError::NoStore {
        path: path.display().to_string(),
    }
}

/// Opens an existing database of the schema `migrations` builds for reading only; it must be
/// at exactly that version.
pub(crate) fn open_reader_with(path: &Path, migrations: &[&str]) -> Result<Connection, StoreError> {
    let version = version_of(migrations);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {} read-only", path.display()))?;
    configure(&connection)?;
    connection
        .pragma_update(None, "query_only", "ON")
        .context("making the connection query-only")?;
    let found = user_version(&connection)?;
    if found > version {
        return Err(StoreError::SchemaTooNew {
            found,
            known: version,
        });
    }
    if found < version {
        return Err(StoreError::SchemaTooOld {
            found,
            known: version,
        });
    }
    Ok(connection)
}

/// Applies every migration the database lacks, each in its own immediate transaction. The
/// version is re-read inside the transaction, so two processes opening at once migrate once.
fn migrate(connection: &mut Connection, migrations: &[&str]) -> Result<(), StoreError> {
    let version = version_of(migrations);
    for (index, sql) in migrations.iter().enumerate() {
        let target = u32::try_from(index + 1).expect("the migration list is short");
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting a schema migration")?;
        let found = user_version(&tx)?;
        if found > version {
            return Err(StoreError::SchemaTooNew {
                found,
                known: version,
            });
        }
        if found >= target {
            continue;
        }
        let context = || format!("migrating the schema to version {target}; it was rolled back");
        tx.execute_batch(sql).with_context(context)?;
        tx.pragma_update(None, "user_version", target)
            .with_context(context)?;
        tx.commit().with_context(context)?;
    }
    Ok(())
}
