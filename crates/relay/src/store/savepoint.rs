//! The group's transaction and each request's savepoint, begun and ended with statements from
//! the connection's cache.
//!
//! rusqlite runs `BEGIN`, `COMMIT`, `SAVEPOINT` and `RELEASE` as batches, which SQLite parses
//! anew each time. The writer runs two of them for every request of a group: a small cost
//! (under 1 % of the writer thread in `bench relay`'s profile), paid by every request on the
//! one thread every request waits for.

use std::ops::Deref;

use rusqlite::Connection;

/// Runs one cached statement that returns no rows.
pub(super) fn run(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// A request's savepoint inside the group's transaction: rolled back when dropped unless
/// released. It derefs to the connection, so the functions that take `&Connection` run
/// inside it.
pub(super) struct Savepoint<'c> {
    connection: &'c Connection,
    open: bool,
}

impl<'c> Savepoint<'c> {
    /// Opens a savepoint; the connection must be in a transaction (a savepoint outside one
    /// would begin and commit a transaction of its own).
    pub(super) fn open(connection: &'c Connection) -> rusqlite::Result<Self> {
        debug_assert!(!connection.is_autocommit(), "a savepoint inside a group");
        run(connection, "SAVEPOINT request")?;
        Ok(Savepoint {
            connection,
            open: true,
        })
    }

    /// Keeps what was done since the savepoint, in the enclosing transaction.
    pub(super) fn release(mut self) -> rusqlite::Result<()> {
        run(self.connection, "RELEASE request")?;
        self.open = false;
        Ok(())
    }
}

impl Deref for Savepoint<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        // Nothing to undo once SQLite itself ended the transaction (a full disk, an I/O
        // error): the savepoint went with it.
        if !self.open || self.connection.is_autocommit() {
            return;
        }
        let undone = run(self.connection, "ROLLBACK TO request")
            .and_then(|()| run(self.connection, "RELEASE request"));
        if let Err(error) = undone {
            // The request's writes may still be in the group: end the group whole, so that
            // nothing of the request is committed (the group's other requests fail with it, as
            // after a rollback SQLite made itself).
            tracing::error!(%error, "rolling back a request's savepoint failed; rolling back its group");
            if let Err(error) = run(self.connection, "ROLLBACK") {
                tracing::error!(%error, "rolling back the group failed");
            }
        }
    }
}
