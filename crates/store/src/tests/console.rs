//! `console.sqlite`: its schema and file, accounts, the append-only audit log and its reads.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde_json::json;
use tempfile::TempDir;

use crate::{
    AUDIT_DETAIL_SIZE_MAX_BYTES, AUDIT_OUTCOME_OK, AUDIT_OUTCOME_SIZE_MAX_BYTES,
    AUDIT_PAGE_ROWS_MAX, AuditAction, AuditQuery, AuditRecord, AuditSource, CONSOLE_SCHEMA_VERSION,
    ConsoleDb, OPERATORS_MAX, OperatorRow, StoreError,
};

/// A PHC string of the shape the station's accounts module writes (its hash is not checked
/// here: the store never hashes).
const PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

fn temp_console() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let path = dir.path().join("console.sqlite");
    (dir, path)
}

fn operator(name: &str, created_ms: u64) -> OperatorRow {
    OperatorRow {
        name: name.to_owned(),
        password_phc: PHC.to_owned(),
        lang: "en".to_owned(),
        created_ms,
    }
}

fn record(at_ms: u64, by: &str, action: AuditAction, outcome: &str) -> AuditRecord {
    AuditRecord {
        at_ms,
        operator: by.to_owned(),
        source: AuditSource::Cli,
        action,
        detail: json!({"name": "someone"}),
        outcome: outcome.to_owned(),
    }
}

fn all_audit(db: &ConsoleDb) -> Vec<crate::AuditRow> {
    db.audit(&AuditQuery::default())
        .expect("the audit log reads")
}

fn pragma(connection: &Connection, name: &str) -> String {
    connection
        .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
        .map(|value| match value {
            rusqlite::types::Value::Integer(n) => n.to_string(),
            rusqlite::types::Value::Text(text) => text,
            other => format!("{other:?}"),
        })
        .expect("the pragma reads")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_new_console_db_is_private_in_wal_with_full_sync_at_its_schema_version() {
    let (_dir, path) = temp_console();
    let db = ConsoleDb::open(&path).expect("opens");
    let found: Vec<String> = [
        "journal_mode",
        "synchronous",
        "user_version",
        "busy_timeout",
    ]
    .iter()
    .map(|name| pragma(db.connection(), name))
    .collect();
    assert_eq!(
        found,
        [
            "wal",
            "2",
            &CONSOLE_SCHEMA_VERSION.to_string(),
            &crate::BUSY_TIMEOUT_MS.to_string()
        ]
    );
    assert_eq!(mode(&path), 0o600);
    // The journal files SQLite made take the database's mode.
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    assert_eq!(mode(&wal), 0o600);
    // Reopening (and reading beside a writer) works and keeps the schema.
    drop(ConsoleDb::open(&path).expect("reopens"));
    let reader = ConsoleDb::open_read_only(&path).expect("a reader opens beside the writer");
    assert_eq!(reader.operators().expect("reads"), []);
}

#[test]
fn console_schema_versions_are_checked_on_open() {
    type Open = fn(&Path) -> Result<ConsoleDb, StoreError>;
    let cases: &[(&str, Open, u32, &str)] = &[
        (
            "writer, current",
            ConsoleDb::open,
            CONSOLE_SCHEMA_VERSION,
            "ok",
        ),
        (
            "writer, newer",
            ConsoleDb::open,
            CONSOLE_SCHEMA_VERSION + 1,
            "too new",
        ),
        (
            "reader, current",
            ConsoleDb::open_read_only,
            CONSOLE_SCHEMA_VERSION,
            "ok",
        ),
        (
            "reader, newer",
            ConsoleDb::open_read_only,
            CONSOLE_SCHEMA_VERSION + 1,
            "too new",
        ),
        ("reader, older", ConsoleDb::open_read_only, 0, "too old"),
    ];
    for (name, open, version, expect) in cases {
        let (_dir, path) = temp_console();
        if *version >= CONSOLE_SCHEMA_VERSION {
            drop(ConsoleDb::open(&path).expect("a new database opens"));
        } else {
            drop(Connection::open(&path).expect("an empty database"));
        }
        let raw = Connection::open(&path).expect("raw open");
        raw.pragma_update(None, "user_version", version)
            .expect("sets");
        drop(raw);
        let outcome = match open(&path) {
            Ok(_) => "ok",
            Err(StoreError::SchemaTooNew { found, known }) => {
                assert_eq!((found, known), (*version, CONSOLE_SCHEMA_VERSION), "{name}");
                "too new"
            }
            Err(StoreError::SchemaTooOld { found, known }) => {
                assert_eq!((found, known), (*version, CONSOLE_SCHEMA_VERSION), "{name}");
                "too old"
            }
            Err(other) => panic!("{name}: unexpected error {other}"),
        };
        assert_eq!(outcome, *expect, "{name}");
    }
}

#[test]
fn the_audit_log_refuses_update_and_delete() {
    let (_dir, path) = temp_console();
    let mut db = ConsoleDb::open(&path).expect("opens");
    db.append_audit(&record(1_000, "alice", AuditAction::Send, AUDIT_OUTCOME_OK))
        .expect("appends");
    let before = all_audit(&db);
    // Straight SQL, as a bug or a careless tool would write it, from another connection too.
    let raw = Connection::open(&path).expect("raw open");
    for sql in [
        "UPDATE audit SET outcome = 'forged'",
        "UPDATE audit SET operator = 'mallory' WHERE id = 1",
        "DELETE FROM audit",
        "DELETE FROM audit WHERE id = 1",
    ] {
        let error = raw.execute(sql, []).expect_err(sql).to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    assert_eq!(all_audit(&db), before, "nothing changed");
    // Ids are never reused, even past the last row.
    let next = db
        .append_audit(&record(
            2_000,
            "alice",
            AuditAction::Cancel,
            AUDIT_OUTCOME_OK,
        ))
        .expect("appends");
    assert_eq!(next, 2);
}

#[test]
fn adding_and_removing_operators_is_audited_and_removal_keeps_the_audit() {
    let (_dir, path) = temp_console();
    let mut db = ConsoleDb::open(&path).expect("opens");
    let alice = operator("alice", 10);
    db.add_operator(
        &alice,
        &record(10, "root", AuditAction::OperatorAdd, AUDIT_OUTCOME_OK),
    )
    .expect("adds");
    db.append_audit(&record(20, "alice", AuditAction::Send, AUDIT_OUTCOME_OK))
        .expect("appends");
    assert_eq!(db.operators().expect("reads"), std::slice::from_ref(&alice));
    assert_eq!(db.operator("alice").expect("reads"), Some(alice.clone()));
    assert_eq!(db.operator("bob").expect("reads"), None);

    // A duplicate is refused and writes nothing, not even its audit row.
    let error = db
        .add_operator(
            &operator("alice", 30),
            &record(30, "root", AuditAction::OperatorAdd, AUDIT_OUTCOME_OK),
        )
        .expect_err("a duplicate");
    assert!(matches!(error, StoreError::OperatorExists(ref name) if name == "alice"));
    assert_eq!(db.operator("alice").expect("reads"), Some(alice));
    assert_eq!(all_audit(&db).len(), 2);

    db.remove_operator(
        "alice",
        &record(40, "root", AuditAction::OperatorRemove, AUDIT_OUTCOME_OK),
    )
    .expect("removes");
    assert_eq!(db.operators().expect("reads"), []);
    let error = db
        .remove_operator(
            "alice",
            &record(50, "root", AuditAction::OperatorRemove, AUDIT_OUTCOME_OK),
        )
        .expect_err("gone");
    assert!(matches!(error, StoreError::UnknownOperator(ref name) if name == "alice"));
    let rows = all_audit(&db);
    let summary: Vec<(u64, &str, AuditAction)> = rows
        .iter()
        .map(|row| (row.id, row.record.operator.as_str(), row.record.action))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "root", AuditAction::OperatorAdd),
            (2, "alice", AuditAction::Send),
            (3, "root", AuditAction::OperatorRemove),
        ],
        "the removed operator's own row is kept"
    );
    // A read-only handle reads and refuses to write.
    let mut reader = ConsoleDb::open_read_only(&path).expect("opens");
    assert_eq!(all_audit(&reader), rows);
    assert!(matches!(
        reader.append_audit(&record(60, "root", AuditAction::Send, AUDIT_OUTCOME_OK)),
        Err(StoreError::ReadOnly)
    ));
}

#[test]
fn operator_accounts_are_bounded() {
    let (_dir, path) = temp_console();
    let mut db = ConsoleDb::open(&path).expect("opens");
    // Filled in one transaction (the limit, not the fsyncs, is under test).
    {
        let tx = db.connection().unchecked_transaction().expect("begins");
        for n in 0..OPERATORS_MAX - 1 {
            tx.execute(
                "INSERT INTO operators (name, password_phc, lang, created_ms) VALUES (?1, ?2, 'en', 0)",
                rusqlite::params![format!("op{n}"), PHC],
            )
            .expect("inserts");
        }
        tx.commit().expect("commits");
    }
    let audit = record(1, "root", AuditAction::OperatorAdd, AUDIT_OUTCOME_OK);
    db.add_operator(&operator("last", 1), &audit)
        .expect("the last account within the limit");
    let error = db
        .add_operator(&operator("one-more", 1), &audit)
        .expect_err("over the limit");
    assert!(matches!(
        error,
        StoreError::OperatorsFull { max: OPERATORS_MAX }
    ));
    assert_eq!(db.operators().expect("reads").len(), OPERATORS_MAX);
    assert_eq!(all_audit(&db).len(), 1, "the refused one left no row");
}

/// What a write of an account or an audit row with one change says: "ok" or its error.
fn check_write(change: impl Fn(&mut OperatorRow, &mut AuditRecord), expect: &str) {
    let (_dir, path) = temp_console();
    let mut db = ConsoleDb::open(&path).expect("opens");
    let mut row = operator("alice", 1);
    let mut audit = record(1, "root", AuditAction::OperatorAdd, AUDIT_OUTCOME_OK);
    change(&mut row, &mut audit);
    let outcome = match db.add_operator(&row, &audit) {
        Ok(()) => "ok".to_owned(),
        Err(StoreError::InvalidOp(why)) => why,
        Err(other) => panic!("unexpected error {other}"),
    };
    assert!(
        outcome.contains(expect),
        "{outcome:?} should contain {expect:?}"
    );
    if expect != "ok" {
        assert_eq!(db.operators().expect("reads"), [], "nothing was written");
        assert_eq!(all_audit(&db), []);
    }
}

#[test]
fn accounts_and_audit_rows_are_checked_before_writing() {
    let detail_of = |bytes: usize| {
        // `{"x":"…"}` is 8 bytes around the string.
        json!({ "x": "y".repeat(bytes - 8) })
    };
    check_write(|_, _| {}, "ok");
    check_write(|row, _| row.name = " ".into(), "blank");
    check_write(|row, _| row.name = "a\u{202e}b".into(), "control");
    check_write(|row, _| row.lang = String::new(), "language tag");
    check_write(|row, _| row.password_phc = "plain".into(), "PHC");
    check_write(
        |row, _| row.password_phc = format!("${}", "x".repeat(crate::PASSWORD_PHC_SIZE_MAX_BYTES)),
        "PHC",
    );
    check_write(|_, audit| audit.operator = String::new(), "blank");
    check_write(
        |_, audit| audit.detail = json!(["not", "an", "object"]),
        "JSON object",
    );
    check_write(
        |_, audit| audit.detail = detail_of(AUDIT_DETAIL_SIZE_MAX_BYTES),
        "ok",
    );
    check_write(
        |_, audit| audit.detail = detail_of(AUDIT_DETAIL_SIZE_MAX_BYTES + 1),
        "over the limit",
    );
    check_write(|_, audit| audit.outcome = String::new(), "outcome");
    check_write(
        |_, audit| audit.outcome = "e".repeat(AUDIT_OUTCOME_SIZE_MAX_BYTES),
        "ok",
    );
    check_write(
        |_, audit| audit.outcome = "e".repeat(AUDIT_OUTCOME_SIZE_MAX_BYTES + 1),
        "outcome",
    );
}

#[test]
fn audit_reads_filter_by_time_and_operator_and_page_by_id() {
    let (_dir, path) = temp_console();
    let mut db = ConsoleDb::open(&path).expect("opens");
    for (at, by) in [(100, "alice"), (200, "bob"), (300, "alice"), (400, "bob")] {
        db.append_audit(&record(at, by, AuditAction::Understood, AUDIT_OUTCOME_OK))
            .expect("appends");
    }
    let ids = |query: AuditQuery<'_>| -> Vec<u64> {
        db.audit(&query)
            .expect("reads")
            .iter()
            .map(|row| row.id)
            .collect()
    };
    let all = AuditQuery::default();
    assert_eq!(ids(all), [1, 2, 3, 4]);
    assert_eq!(
        ids(AuditQuery {
            since_ms: Some(200),
            ..all
        }),
        [2, 3, 4]
    );
    assert_eq!(
        ids(AuditQuery {
            since_ms: Some(201),
            ..all
        }),
        [3, 4]
    );
    assert_eq!(
        ids(AuditQuery {
            operator: Some("alice"),
            ..all
        }),
        [1, 3]
    );
    assert_eq!(
        ids(AuditQuery {
            operator: Some("bob"),
            since_ms: Some(300),
            ..all
        }),
        [4]
    );
    assert_eq!(ids(AuditQuery { limit: 2, ..all }), [1, 2]);
    assert_eq!(
        ids(AuditQuery {
            after_id: 2,
            limit: 2,
            ..all
        }),
        [3, 4]
    );
    assert_eq!(ids(AuditQuery { after_id: 4, ..all }), Vec::<u64>::new());
    // The page bound, both sides.
    assert_eq!(
        ids(AuditQuery {
            limit: AUDIT_PAGE_ROWS_MAX,
            ..all
        }),
        [1, 2, 3, 4]
    );
    assert!(matches!(
        db.audit(&AuditQuery {
            limit: AUDIT_PAGE_ROWS_MAX + 1,
            ..all
        }),
        Err(StoreError::InvalidOp(_))
    ));
}

#[test]
fn an_audit_row_this_build_cannot_read_is_corrupt_not_guessed() {
    let (_dir, path) = temp_console();
    let db = ConsoleDb::open(&path).expect("opens");
    db.connection()
        .execute(
            "INSERT INTO audit (at_ms, operator, source, action, detail, outcome) \
             VALUES (1, 'alice', 'cli', 'launch', '{}', 'ok')",
            [],
        )
        .expect("inserts");
    let error = db
        .audit(&AuditQuery::default())
        .expect_err("unknown action");
    assert!(
        matches!(&error, StoreError::Corrupt(why) if why.contains("\"launch\"")),
        "{error}"
    );
    // The schema itself refuses a detail that is not a JSON object and an unknown source.
    for (source, detail) in [("cli", "[1]"), ("cli", "not json"), ("mail", "{}")] {
        let refused = db.connection().execute(
            "INSERT INTO audit (at_ms, operator, source, action, detail, outcome) \
             VALUES (1, 'alice', ?1, 'send', ?2, 'ok')",
            [source, detail],
        );
        assert!(refused.is_err(), "{source} {detail}");
    }
}

#[test]
fn an_operator_row_never_shows_its_password_hash() {
    let row = operator("alice", 5);
    let json = serde_json::to_value(&row).expect("serialises");
    assert_eq!(
        json,
        json!({"name": "alice", "lang": "en", "created_ms": 5})
    );
    assert!(!format!("{row:?}").contains("argon2"));
    let audit = crate::AuditRow {
        id: 7,
        record: record(9, "alice", AuditAction::AlarmAck, "refused"),
    };
    assert_eq!(
        serde_json::to_value(&audit).expect("serialises"),
        json!({
            "id": 7, "at_ms": 9, "operator": "alice", "source": "cli", "action": "alarm_ack",
            "detail": {"name": "someone"}, "outcome": "refused"
        })
    );
}
