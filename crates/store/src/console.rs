//! The console's database, `console.sqlite`, beside the station's store: operator accounts and
//! the append-only audit log of what each operator did.
//!
//! Why a second file: the station's store has one writer (the daemon, or one CLI command under
//! the station lock) and is checked whole at every open; accounts and the audit log are written
//! by the CLI (`parley operator add`) while a daemon runs, and by the console inside the daemon
//! process. Here SQLite's own locking with a busy timeout ([`BUSY_TIMEOUT_MS`]) is the only
//! coordination, and nothing in it is protocol state the core depends on.
//!
//! Architecture invariants:
//! - The audit log is append-only: triggers refuse every `UPDATE` and `DELETE` of its rows, and
//!   ids (`AUTOINCREMENT`) are never reused. Removing an operator removes the account, never
//!   what the operator did. (This guards against mistakes in code, not against someone who can
//!   write the file: the file is the owner's alone, mode 0600.)
//! - An account change and its audit row are written in one transaction, or neither is.
//! - The store knows no password: it keeps the PHC string the station's `accounts` module made,
//!   and never hashes or compares.
//! - No time is read here: every timestamp comes in with the call.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::convert::{from_sql, to_sql};
use crate::error::{SqlContext, StoreError};
use crate::read::query;
use crate::schema;

/// Most operator accounts one station keeps, in accounts.
pub const OPERATORS_MAX: usize = 256;
/// Longest PHC string (the password hash with its algorithm, parameters and salt), in bytes.
pub const PASSWORD_PHC_SIZE_MAX_BYTES: usize = 512;
/// Longest `detail` of an audit row, as JSON text, in bytes.
pub const AUDIT_DETAIL_SIZE_MAX_BYTES: usize = 64 * 1024;
/// Longest `outcome` of an audit row (`ok`, or the error the operator was shown), in bytes.
pub const AUDIT_OUTCOME_SIZE_MAX_BYTES: usize = 4 * 1024;
/// Most audit rows one read returns, in rows; read further pages with
/// [`AuditQuery::after_id`].
pub const AUDIT_PAGE_ROWS_MAX: usize = 1_000;
/// The outcome of an action that succeeded.
pub const AUDIT_OUTCOME_OK: &str = "ok";

/// Version 1: operator accounts and the append-only audit log.
const CONSOLE_MIGRATION_1: &str = "
CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    password_phc  TEXT NOT NULL CHECK (length(password_phc) > 0),
    lang          TEXT NOT NULL CHECK (length(lang) > 0),
    created_ms    INTEGER NOT NULL CHECK (created_ms >= 0)
) STRICT;

CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms     INTEGER NOT NULL CHECK (at_ms >= 0),
    operator  TEXT NOT NULL CHECK (length(operator) > 0),
    source    TEXT NOT NULL CHECK (source IN ('cli', 'console')),
    action    TEXT NOT NULL CHECK (length(action) > 0),
    detail    TEXT NOT NULL CHECK (json_valid(detail) AND json_type(detail) = 'object'),
    outcome   TEXT NOT NULL CHECK (length(outcome) > 0)
) STRICT;
CREATE INDEX audit_by_operator ON audit (operator, id);
CREATE INDEX audit_by_time ON audit (at_ms, id);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: its rows are never changed');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: its rows are never deleted');
END;
";

/// Every migration of `console.sqlite`, in order; index `i` brings version `i` to `i + 1`.
const CONSOLE_MIGRATIONS: &[&str] = &[CONSOLE_MIGRATION_1];

/// The schema version of `console.sqlite` this build writes and reads.
pub const CONSOLE_SCHEMA_VERSION: u32 = CONSOLE_MIGRATIONS.len() as u32;

/// Where an audited action came from: a closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuditSource {
    /// A `parley` command.
    Cli,
    /// The web console.
    Console,
}

impl AuditSource {
    /// Every source.
    pub const ALL: [AuditSource; 2] = [AuditSource::Cli, AuditSource::Console];

    /// The stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            AuditSource::Cli => "cli",
            AuditSource::Console => "console",
        }
    }

    /// The source with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.name() == name)
    }
}

parley_proto::serde_by_name!(AuditSource, "audit source", "it is cli or console");

/// What an operator did: a closed set. A new action is a new variant (and a line in
/// docs/cli.md); a build that does not know an action stored by a newer one reports the log
/// as unreadable rather than guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuditAction {
    /// Sent a message, a coded message or a notice.
    Send,
    /// Answered a peer's message: understood.
    Understood,
    /// Answered a peer's message with a question.
    Clarify,
    /// Cancelled one of the station's messages.
    Cancel,
    /// Acknowledged an alarm.
    AlarmAck,
    /// Accepted a codebook the peer proposed.
    CodebookAccept,
    /// Created an operator account.
    OperatorAdd,
    /// Removed an operator account.
    OperatorRemove,
    /// Logged in to the console (or tried to: the outcome says).
    Login,
    /// Logged out of the console.
    Logout,
    /// Downloaded a link's transcript from the console: the record of everything said.
    TranscriptExport,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 11] = [
        AuditAction::Send,
        AuditAction::Understood,
        AuditAction::Clarify,
        AuditAction::Cancel,
        AuditAction::AlarmAck,
        AuditAction::CodebookAccept,
        AuditAction::OperatorAdd,
        AuditAction::OperatorRemove,
        AuditAction::Login,
        AuditAction::Logout,
        AuditAction::TranscriptExport,
    ];

    /// The stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            AuditAction::Send => "send",
            AuditAction::Understood => "understood",
            AuditAction::Clarify => "clarify",
            AuditAction::Cancel => "cancel",
            AuditAction::AlarmAck => "alarm_ack",
            AuditAction::CodebookAccept => "codebook_accept",
            AuditAction::OperatorAdd => "operator_add",
            AuditAction::OperatorRemove => "operator_remove",
            AuditAction::Login => "login",
            AuditAction::Logout => "logout",
            AuditAction::TranscriptExport => "transcript_export",
        }
    }

    /// The action with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.name() == name)
    }
}

parley_proto::serde_by_name!(
    AuditAction,
    "audit action",
    "see docs/cli.md for the actions"
);

/// One operator account. Serialised (for `operator list --json`) without its password hash.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct OperatorRow {
    /// The login name; follows the name rule (`parley_proto::names::check_name`).
    pub name: String,
    /// The password's Argon2id hash as a PHC string; never shown.
    #[serde(skip_serializing)]
    pub password_phc: String,
    /// The console's interface language for this operator.
    pub lang: String,
    /// When the account was created, UTC ms.
    pub created_ms: u64,
}

impl std::fmt::Debug for OperatorRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorRow")
            .field("name", &self.name)
            .field("password_phc", &"<hidden>")
            .field("lang", &self.lang)
            .field("created_ms", &self.created_ms)
            .finish()
    }
}

/// An audit row to append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the action was taken, UTC ms.
    pub at_ms: u64,
    /// Who took it (an operator name; it follows the name rule).
    pub operator: String,
    /// Where it came from.
    pub source: AuditSource,
    /// What it was.
    pub action: AuditAction,
    /// Its particulars (the peer, the message id, the alarm, …): a JSON object.
    pub detail: serde_json::Value,
    /// [`AUDIT_OUTCOME_OK`], or the error the operator was shown.
    pub outcome: String,
}

/// An audit row as stored: its id and what was appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// Its number, from 1, in the order rows were appended; never reused.
    pub id: u64,
    /// The row.
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// Which audit rows to read: those after `after_id` (0 for the first page), at or after
/// `since_ms`, by `operator`, at most `limit` of them, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditQuery<'a> {
    /// Only rows with a greater id: the last id of the previous page, or 0.
    pub after_id: u64,
    /// Only rows at or after this time, UTC ms.
    pub since_ms: Option<u64>,
    /// Only rows of this operator.
    pub operator: Option<&'a str>,
    /// At most this many rows, at most [`AUDIT_PAGE_ROWS_MAX`].
    pub limit: usize,
}

impl Default for AuditQuery<'_> {
    fn default() -> Self {
        AuditQuery {
            after_id: 0,
            since_ms: None,
            operator: None,
            limit: AUDIT_PAGE_ROWS_MAX,
        }
    }
}

/// The console's database: operator accounts and the audit log.
pub struct ConsoleDb {
    connection: Connection,
    read_only: bool,
}

impl std::fmt::Debug for ConsoleDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleDb")
            .field("path", &self.connection.path())
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl ConsoleDb {
    /// Opens `console.sqlite` at `path` for writing, creating it (mode 0600, so neither it nor
    /// the journal files SQLite gives the same mode are ever readable by others) if needed:
    /// WAL journal, `synchronous=FULL`, a [`BUSY_TIMEOUT_MS`] busy timeout, every missing
    /// migration applied, then SQLite's quick check. A file from a newer build is
    /// [`StoreError::SchemaTooNew`], refused before anything is changed. Several processes may
    /// hold it open for writing at once; each write waits for the others' locks.
    ///
    /// [`BUSY_TIMEOUT_MS`]: crate::BUSY_TIMEOUT_MS
    pub fn open(path: &Path) -> Result<ConsoleDb, StoreError> {
        create_private(path)?;
        let db = ConsoleDb {
            connection: schema::open_writer_with(path, CONSOLE_MIGRATIONS)?,
            read_only: false,
        };
        db.quick_check()?;
        Ok(db)
    }

    /// Opens an existing `console.sqlite` for reading while others may write it. The schema
    /// must be exactly [`CONSOLE_SCHEMA_VERSION`]; writes return [`StoreError::ReadOnly`].
    pub fn open_read_only(path: &Path) -> Result<ConsoleDb, StoreError> {
        let db = ConsoleDb {
            connection: schema::open_reader_with(path, CONSOLE_MIGRATIONS)?,
            read_only: true,
        };
        db.quick_check()?;
        Ok(db)
    }

    /// SQLite's quick check (pages and records, not indexes against tables): a damaged file is
    /// [`StoreError::Corrupt`], refused before anything is served.
    fn quick_check(&self) -> Result<(), StoreError> {
        let found: Vec<String> = query(
            &self.connection,
            "PRAGMA quick_check(1)",
            [],
            "checking console.sqlite",
            |row| row.get(0),
            Ok,
        )?;
        match found.as_slice() {
            [ok] if ok == "ok" => Ok(()),
            other => Err(StoreError::Corrupt(format!(
                "console.sqlite fails SQLite's quick check: {}",
                other.join("; ")
            ))),
        }
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            Err(StoreError::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Creates the account `operator` and appends `audit` (its record), in one transaction.
    /// A name already taken is [`StoreError::OperatorExists`]; [`OPERATORS_MAX`] accounts
    /// already is [`StoreError::OperatorsFull`]; either way nothing is written.
    pub fn add_operator(
        &mut self,
        operator: &OperatorRow,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.writable()?;
        check_operator(operator)?;
        let audit = CheckedAudit::new(audit)?;
        let created = to_sql(operator.created_ms, "creation time")?;
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting to add an operator; nothing was stored")?;
        let context = "adding an operator; nothing was stored";
        if operator_by_name(&tx, &operator.name)?.is_some() {
            return Err(StoreError::OperatorExists(operator.name.clone()));
        }
        let count: i64 = tx
            .query_row("SELECT count(*) FROM operators", [], |row| row.get(0))
            .context(context)?;
        if from_sql(count, "the number of operators")? >= OPERATORS_MAX as u64 {
            return Err(StoreError::OperatorsFull { max: OPERATORS_MAX });
        }
        tx.execute(
            "INSERT INTO operators (name, password_phc, lang, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![operator.name, operator.password_phc, operator.lang, created],
        )
        .context(context)?;
        audit.insert(&tx)?;
        tx.commit().context(context)
    }

    /// Removes the account `name` and appends `audit` (its record), in one transaction. The
    /// operator's audit rows stay. No such account is [`StoreError::UnknownOperator`], and
    /// nothing is written.
    pub fn remove_operator(&mut self, name: &str, audit: &AuditRecord) -> Result<(), StoreError> {
        self.writable()?;
        let audit = CheckedAudit::new(audit)?;
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting to remove an operator; nothing was changed")?;
        let context = "removing an operator; nothing was changed";
        let removed = tx
            .execute("DELETE FROM operators WHERE name = ?1", params![name])
            .context(context)?;
        if removed == 0 {
            return Err(StoreError::UnknownOperator(name.to_owned()));
        }
        audit.insert(&tx)?;
        tx.commit().context(context)
    }

    /// Appends one audit row; returns its id.
    pub fn append_audit(&mut self, audit: &AuditRecord) -> Result<u64, StoreError> {
        self.writable()?;
        let audit = CheckedAudit::new(audit)?;
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting to append to the audit log; nothing was stored")?;
        let id = audit.insert(&tx)?;
        tx.commit()
            .context("appending to the audit log; nothing was stored")?;
        Ok(id)
    }

    /// Every operator account, by name.
    pub fn operators(&self) -> Result<Vec<OperatorRow>, StoreError> {
        query(
            &self.connection,
            "SELECT name, password_phc, lang, created_ms FROM operators ORDER BY name",
            [],
            "reading the operators",
            raw_operator,
            decode_operator,
        )
    }

    /// The account `name`, if there is one.
    pub fn operator(&self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        operator_by_name(&self.connection, name)
    }

    /// One page of audit rows, oldest first (by id); see [`AuditQuery`]. A `limit` above
    /// [`AUDIT_PAGE_ROWS_MAX`] is a caller bug ([`StoreError::InvalidOp`]).
    pub fn audit(&self, wanted: &AuditQuery<'_>) -> Result<Vec<AuditRow>, StoreError> {
        if wanted.limit > AUDIT_PAGE_ROWS_MAX {
            return Err(StoreError::InvalidOp(format!(
                "an audit page of {} rows is over the limit of {AUDIT_PAGE_ROWS_MAX}",
                wanted.limit
            )));
        }
        let since = wanted
            .since_ms
            .map(|ms| to_sql(ms, "the start time"))
            .transpose()?;
        query(
            &self.connection,
            "SELECT id, at_ms, operator, source, action, detail, outcome FROM audit \
             WHERE id > ?1 AND (?2 IS NULL OR at_ms >= ?2) AND (?3 IS NULL OR operator = ?3) \
             ORDER BY id LIMIT ?4",
            params![
                to_sql(wanted.after_id, "the audit id")?,
                since,
                wanted.operator,
                to_sql(wanted.limit as u64, "the page size")?
            ],
            "reading the audit log",
            |row| {
                Ok(RawAudit {
                    id: row.get(0)?,
                    at_ms: row.get(1)?,
                    operator: row.get(2)?,
                    source: row.get(3)?,
                    action: row.get(4)?,
                    detail: row.get(5)?,
                    outcome: row.get(6)?,
                })
            },
            decode_audit,
        )
    }

    #[cfg(test)]
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }
}

/// Creates the file empty with mode 0600 if it does not exist; an existing file is left as it
/// is (the station refuses a home whose files others can read: `Home::check_private`).
fn create_private(path: &Path) -> Result<(), StoreError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::File {
            context: format!("creating {}; nothing was written", path.display()),
            source,
        }),
    }
}

fn check_operator(operator: &OperatorRow) -> Result<(), StoreError> {
    crate::check_name(&operator.name, "operator name")?;
    crate::check_lang(&operator.lang)?;
    let phc = operator.password_phc.len();
    if !operator.password_phc.starts_with('$') || phc > PASSWORD_PHC_SIZE_MAX_BYTES {
        return Err(StoreError::InvalidOp(format!(
            "the password hash must be a PHC string of at most {PASSWORD_PHC_SIZE_MAX_BYTES} \
             bytes (got {phc} bytes)"
        )));
    }
    Ok(())
}

/// An audit record checked against the schema's limits, its detail as JSON text.
struct CheckedAudit<'a> {
    record: &'a AuditRecord,
    at_ms: i64,
    detail: String,
}

impl<'a> CheckedAudit<'a> {
    fn new(record: &'a AuditRecord) -> Result<Self, StoreError> {
        crate::check_name(&record.operator, "operator name of the audit row")?;
        if !record.detail.is_object() {
            return Err(StoreError::InvalidOp(
                "the detail of an audit row must be a JSON object".into(),
            ));
        }
        let detail = record.detail.to_string();
        if detail.len() > AUDIT_DETAIL_SIZE_MAX_BYTES {
            return Err(StoreError::InvalidOp(format!(
                "the detail of an audit row is {} bytes, over the limit of \
                 {AUDIT_DETAIL_SIZE_MAX_BYTES}",
                detail.len()
            )));
        }
        let outcome = record.outcome.len();
        if record.outcome.is_empty() || outcome > AUDIT_OUTCOME_SIZE_MAX_BYTES {
            return Err(StoreError::InvalidOp(format!(
                "the outcome of an audit row must be 1 to {AUDIT_OUTCOME_SIZE_MAX_BYTES} bytes \
                 (got {outcome})"
            )));
        }
        Ok(CheckedAudit {
            record,
            at_ms: to_sql(record.at_ms, "the audit time")?,
            detail,
        })
    }

    /// Inserts the row in the open transaction; returns its id.
    fn insert(&self, connection: &Connection) -> Result<u64, StoreError> {
        let context = "appending to the audit log; nothing was stored";
        connection
            .execute(
                "INSERT INTO audit (at_ms, operator, source, action, detail, outcome) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    self.at_ms,
                    self.record.operator,
                    self.record.source.name(),
                    self.record.action.name(),
                    self.detail,
                    self.record.outcome
                ],
            )
            .context(context)?;
        from_sql(connection.last_insert_rowid(), "the audit id")
    }
}

type RawOperator = (String, String, String, i64);

fn raw_operator(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawOperator> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn decode_operator(
    (name, password_phc, lang, created_ms): RawOperator,
) -> Result<OperatorRow, StoreError> {
    Ok(OperatorRow {
        created_ms: from_sql(created_ms, "an operator's creation time")?,
        name,
        password_phc,
        lang,
    })
}

fn operator_by_name(
    connection: &Connection,
    name: &str,
) -> Result<Option<OperatorRow>, StoreError> {
    connection
        .prepare_cached(
            "SELECT name, password_phc, lang, created_ms FROM operators WHERE name = ?1",
        )
        .and_then(|mut statement| statement.query_row([name], raw_operator).optional())
        .context("reading an operator")?
        .map(decode_operator)
        .transpose()
}

struct RawAudit {
    id: i64,
    at_ms: i64,
    operator: String,
    source: String,
    action: String,
    detail: String,
    outcome: String,
}

fn decode_audit(raw: RawAudit) -> Result<AuditRow, StoreError> {
    let id = from_sql(raw.id, "an audit id")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("audit row {id} has {what}"));
    let source = AuditSource::parse(&raw.source)
        .ok_or_else(|| corrupt(&format!("an unknown source {:?}", raw.source)))?;
    let action = AuditAction::parse(&raw.action).ok_or_else(|| {
        corrupt(&format!(
            "an action this build does not know ({:?}); run a newer parley build",
            raw.action
        ))
    })?;
    let detail: serde_json::Value =
        serde_json::from_str(&raw.detail).map_err(|_| corrupt("a detail that is not JSON"))?;
    Ok(AuditRow {
        id,
        record: AuditRecord {
            at_ms: from_sql(raw.at_ms, "an audit time")?,
            operator: raw.operator,
            source,
            action,
            detail,
            outcome: raw.outcome,
        },
    })
}
