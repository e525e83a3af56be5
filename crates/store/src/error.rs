//! The store's errors, split as the conventions ask: the disk or SQLite failed ([`StoreError::Sqlite`]),
//! the stored data contradicts itself ([`StoreError::Corrupt`]), the operator asked for something
//! that cannot be done ([`StoreError::PeerExists`], [`StoreError::UnknownPeer`], …), and the
//! caller handed over a write that contradicts the stored log ([`StoreError::InvalidOp`], a bug).

use thiserror::Error;

/// Why a store operation failed. A failed write never leaves part of its batch behind.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite (or the disk under it) failed.
    #[error("the store's database failed while {context}: {source}")]
    Sqlite {
        /// What the store was doing, and what that means for the data.
        context: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The stored data contradicts itself (a gap in a log, an undecodable row, …).
    #[error(
        "the store is corrupt: {0}; nothing was changed. Restore the database from a backup, \
         or export what is still readable"
    )]
    Corrupt(String),
    /// The identity or the name is already paired.
    #[error("{0}; nothing was changed. Choose another name, or remove the existing pairing first")]
    PeerExists(String),
    /// The channel is already part of the link.
    #[error("{0}; nothing was changed")]
    ChannelExists(String),
    /// The peer named by a request or an op is not paired.
    #[error("no paired peer {0}; nothing was changed. Pair with it first")]
    UnknownPeer(String),
    /// An operator account with this name exists already.
    #[error(
        "an operator named {0:?} exists already; nothing was changed. Choose another name, or \
         remove that account first"
    )]
    OperatorExists(String),
    /// No operator account has this name.
    #[error(
        "no operator named {0:?}; nothing was changed. `parley operator list` shows the accounts"
    )]
    UnknownOperator(String),
    /// The station keeps as many operator accounts as it may.
    #[error(
        "this station has {max} operator accounts, the most it keeps; nothing was changed. \
         Remove an account that is no longer used first"
    )]
    OperatorsFull {
        /// The limit, `OPERATORS_MAX`.
        max: usize,
    },
    /// A file beside the database could not be created or read.
    #[error("{context}: {source}")]
    File {
        /// What the store was doing, and what that means for the data.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An existing station's store holds no schema at all: an empty file, or one that is not
    /// a station's database (truncated, replaced).
    #[error(
        "{path} holds no parley store (schema version 0: an empty file, or not a station's \
         database); nothing was changed. Restore it from a backup of this station: its record \
         is there, and a new store would start the station's record over"
    )]
    NoStore {
        /// The database file.
        path: String,
    },
    /// The database has no station yet.
    #[error(
        "this station is not initialised (the database has no station record); \
         nothing was changed. Run `parley init` first"
    )]
    NotInitialised,
    /// `init_station` on a database that already holds a station.
    #[error(
        "this station is already initialised; nothing was changed. \
         Use another state directory to create a second station"
    )]
    AlreadyInitialised,
    /// The database was written by a newer build.
    #[error(
        "the database has schema version {found}, newer than this build knows ({known}); \
         nothing was changed. Run a newer parley build"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: u32,
        /// Newest version this build knows.
        known: u32,
    },
    /// A read-only open found a schema older than this build's, which only a writer can migrate.
    #[error(
        "the database has schema version {found}, older than this build's ({known}), and a \
         read-only open cannot migrate it; nothing was changed. Start the station once \
         (a read-write open migrates it), then retry"
    )]
    SchemaTooOld {
        /// Version found in the database.
        found: u32,
        /// Version this build uses.
        known: u32,
    },
    /// SQLite would not switch the database to write-ahead logging.
    #[error(
        "the database could not be put in WAL journal mode (it reports `{found}`); nothing was \
         written. Keep the state directory on a local filesystem"
    )]
    JournalMode {
        /// The journal mode SQLite reported.
        found: String,
    },
    /// A write on a store opened with [`crate::Store::open_read_only`].
    #[error("this store was opened read-only; nothing was written. Write through the station")]
    ReadOnly,
    /// A write that contradicts the stored log or the limits of the schema: a bug in the caller.
    #[error(
        "refused a write that contradicts the stored state: {0}; the whole batch was rolled back. \
         This is a bug in the caller"
    )]
    InvalidOp(String),
}

/// Attaches a context to SQLite errors.
pub(crate) trait SqlContext<T> {
    /// Wraps an error with a fixed context.
    fn context(self, context: &str) -> Result<T, StoreError>;
    /// Wraps an error with a context built only on failure.
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn context(self, context: &str) -> Result<T, StoreError> {
        self.map_err(|source| sqlite(context.to_owned(), source))
    }

    fn with_context(self, context: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|source| sqlite(context(), source))
    }
}

/// SQLite's error while doing `context`. A database file SQLite finds damaged (a malformed
/// page, not a database at all) is [`StoreError::Corrupt`]: restoring is the remedy, not
/// retrying.
fn sqlite(context: String, source: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match source.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => StoreError::Corrupt(format!(
            "SQLite found the database file damaged while {context} ({source})"
        )),
        _ => StoreError::Sqlite { context, source },
    }
}
