//! The store's schema, one script per version, and its migration: a store at version `n` runs
//! the scripts of the versions after `n` in one transaction and records the latest version in
//! `user_version`. A store from a newer build is refused, never changed.

use rusqlite::{Connection, TransactionBehavior};

use super::{SCHEMA_VERSION, StoreError};

/// Version 1: the relay, its stations, their mailboxes and the nonces of their requests.
pub(super) const SCHEMA_V1: &str = "
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
pub(super) const SCHEMA_V2: &str = "
CREATE INDEX items_by_sender ON items (recipient, sender, deposited_ms);
CREATE TABLE correspondents (
    station BLOB NOT NULL,
    addressed BLOB NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (station, addressed)
) WITHOUT ROWID;
CREATE INDEX correspondents_by_age ON correspondents (station, last_ms);
";

/// Version 4: a name is unique among the stations admitted, not among every station ever
/// admitted: a station revoked keeps its row (and its name, in `parley relay list`) while a
/// station with a new key is admitted under that name.
pub(super) const SCHEMA_V4: &str = "
CREATE TABLE stations_v4 (
    id BLOB PRIMARY KEY CHECK (length(id) = 32),
    name TEXT NOT NULL,
    card BLOB NOT NULL,
    admitted_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
INSERT INTO stations_v4 (id, name, card, admitted_ms, revoked_ms)
    SELECT id, name, card, admitted_ms, revoked_ms FROM stations;
DROP TABLE stations;
ALTER TABLE stations_v4 RENAME TO stations;
CREATE UNIQUE INDEX stations_admitted_by_name ON stations (name) WHERE revoked_ms IS NULL;
";

/// Version 5: the items and frame bytes each sender holds across every mailbox, kept by
/// triggers in the transaction that changes `items`, and their sum under the empty sender
/// (`HELD_TOTAL`): one row read tells whether a deposit fits the sender's total and the
/// relay's, where a sum over the items would read every one.
pub(super) const SCHEMA_V5: &str = "
CREATE TABLE held (
    sender BLOB PRIMARY KEY,
    items INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO held (sender, items, bytes)
    SELECT sender, count(*), sum(length(frame)) FROM items GROUP BY sender;
INSERT INTO held (sender, items, bytes)
    SELECT X'', count(*), coalesce(sum(length(frame)), 0) FROM items;
CREATE TRIGGER held_on_insert AFTER INSERT ON items BEGIN
    INSERT INTO held (sender, items, bytes) VALUES (NEW.sender, 1, length(NEW.frame))
        ON CONFLICT (sender) DO UPDATE SET items = items + 1, bytes = bytes + excluded.bytes;
    UPDATE held SET items = items + 1, bytes = bytes + length(NEW.frame) WHERE sender = X'';
END;
CREATE TRIGGER held_on_delete AFTER DELETE ON items BEGIN
    UPDATE held SET items = items - 1, bytes = bytes - length(OLD.frame)
        WHERE sender IN (OLD.sender, X'');
    DELETE FROM held WHERE sender = OLD.sender AND items = 0;
END;
";

/// Version 6: the items and frame bytes of each mailbox, and of each sender's share of it, kept
/// by triggers in the transaction that changes `items` (the whole mailbox under the empty
/// sender): a deposit reads two rows to know whether it fits, where a sum over the mailbox
/// read every item in it (about 190 ms at 100,000 items, in the writer that serves every
/// station). The index that sum used gives way to one by recipient and age, which a fetch's
/// deletion of its expired items seeks.
pub(super) const SCHEMA_V6: &str = "
DROP INDEX items_by_sender;
CREATE INDEX items_by_recipient_age ON items (recipient, deposited_ms);
CREATE TABLE mailboxes (
    recipient BLOB NOT NULL,
    sender BLOB NOT NULL,
    items INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (recipient, sender)
) WITHOUT ROWID;
INSERT INTO mailboxes (recipient, sender, items, bytes)
    SELECT recipient, sender, count(*), sum(length(frame)) FROM items GROUP BY recipient, sender;
INSERT INTO mailboxes (recipient, sender, items, bytes)
    SELECT recipient, X'', count(*), sum(length(frame)) FROM items GROUP BY recipient;
CREATE TRIGGER mailboxes_on_insert AFTER INSERT ON items BEGIN
    INSERT INTO mailboxes (recipient, sender, items, bytes)
        VALUES (NEW.recipient, NEW.sender, 1, length(NEW.frame)), (NEW.recipient, X'', 1, length(NEW.frame))
        ON CONFLICT (recipient, sender) DO UPDATE SET items = items + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER mailboxes_on_delete AFTER DELETE ON items BEGIN
    UPDATE mailboxes SET items = items - 1, bytes = bytes - length(OLD.frame)
        WHERE recipient = OLD.recipient AND sender IN (OLD.sender, X'');
    DELETE FROM mailboxes
        WHERE recipient = OLD.recipient AND sender IN (OLD.sender, X'') AND items = 0;
END;
";

/// The script of each version, the first one's first: a store at version `n` runs those from
/// index `n` on.
const MIGRATIONS: [&str; 6] = [
    SCHEMA_V1,
    SCHEMA_V2,
    super::witness::SCHEMA_V3,
    SCHEMA_V4,
    SCHEMA_V5,
    SCHEMA_V6,
];
const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// Brings the store on `conn` to [`SCHEMA_VERSION`].
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let from = usize::try_from(version)
        .ok()
        .filter(|from| *from <= MIGRATIONS.len())
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "schema version {version}, this build reads {SCHEMA_VERSION}"
            ))
        })?;
    if from == MIGRATIONS.len() {
        return Ok(());
    }
    for script in &MIGRATIONS[from..] {
        tx.execute_batch(script)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}
