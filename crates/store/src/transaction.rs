//! Transactions begun and ended with statements from the connection's cache.
//!
//! rusqlite's `Transaction` runs `BEGIN` and `COMMIT` as batches, which SQLite parses and plans
//! anew each time: about a sixth of a commit's time in the simulator's profile. The
//! store begins and ends a transaction several times per turn, so it keeps those statements
//! prepared, as it does its queries.

use std::ops::Deref;

use rusqlite::Connection;

/// How a transaction takes its lock.
#[derive(Clone, Copy)]
pub(crate) enum Begin {
    /// The write lock at once (`BEGIN IMMEDIATE`): a writer never finds itself unable to
    /// write halfway through.
    Immediate,
    /// No lock until the first read (`BEGIN`): a read transaction, one state of the store for
    /// several queries.
    Deferred,
}

/// An open transaction on a connection: rolled back when dropped unless committed. It derefs
/// to the connection, so the functions that take `&Connection` run inside it.
pub(crate) struct Transaction<'c> {
    connection: &'c Connection,
}

impl<'c> Transaction<'c> {
    /// Begins a transaction.
    pub(crate) fn begin(connection: &'c Connection, begin: Begin) -> rusqlite::Result<Self> {
        let sql = match begin {
            Begin::Immediate => "BEGIN IMMEDIATE",
            Begin::Deferred => "BEGIN",
        };
        connection.prepare_cached(sql)?.execute([])?;
        Ok(Transaction { connection })
    }

    /// Commits. On an error the transaction, if SQLite left it open, is rolled back.
    pub(crate) fn commit(self) -> rusqlite::Result<()> {
        self.connection.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // Committed, or ended by SQLite itself (some errors roll back on their own).
        if self.connection.is_autocommit() {
            return;
        }
        let rolled_back = self
            .connection
            .prepare_cached("ROLLBACK")
            .and_then(|mut statement| statement.execute([]));
        if let Err(error) = rolled_back {
            tracing::error!(%error, "rolling back a transaction failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Begin, Transaction};
    use rusqlite::Connection;

    fn rows(connection: &Connection) -> i64 {
        connection
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("counts")
    }

    #[test]
    fn a_transaction_dropped_uncommitted_is_rolled_back_and_the_next_begins() {
        let connection = Connection::open_in_memory().expect("opens");
        connection
            .execute("CREATE TABLE t (x)", [])
            .expect("creates");
        for begin in [Begin::Immediate, Begin::Deferred] {
            let tx = Transaction::begin(&connection, begin).expect("begins");
            tx.execute("INSERT INTO t VALUES (1)", []).expect("inserts");
            drop(tx);
            assert!(connection.is_autocommit(), "the transaction ended");
            assert_eq!(rows(&connection), 0, "rolled back");
        }
        let tx = Transaction::begin(&connection, Begin::Immediate).expect("begins");
        tx.execute("INSERT INTO t VALUES (1)", []).expect("inserts");
        tx.commit().expect("commits");
        assert_eq!(rows(&connection), 1, "committed");
    }

    #[test]
    fn a_failed_commit_leaves_no_transaction_open() {
        let connection = Connection::open_in_memory().expect("opens");
        connection
            .execute_batch(
                "PRAGMA foreign_keys = ON; CREATE TABLE p (id PRIMARY KEY); \
                 CREATE TABLE c (p REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .expect("creates");
        let tx = Transaction::begin(&connection, Begin::Immediate).expect("begins");
        tx.execute("INSERT INTO c VALUES (7)", [])
            .expect("deferred check");
        assert!(
            tx.commit().is_err(),
            "the deferred foreign key fails at commit"
        );
        assert!(connection.is_autocommit(), "rolled back when dropped");
        assert_eq!(
            connection
                .query_row("SELECT count(*) FROM c", [], |row| row.get::<_, i64>(0))
                .expect("counts"),
            0
        );
        Transaction::begin(&connection, Begin::Immediate)
            .expect("a new transaction begins")
            .commit()
            .expect("commits");
    }
}
