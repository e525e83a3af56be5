//! Opening: pragmas, migrations, schema versions, read-only readers, station setup.

use rusqlite::Connection;

use super::fixture::{Station, chain, frame, initialised, temp_path};
use crate::{SCHEMA_VERSION, Store, StoreError};

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

#[test]
fn a_writer_runs_in_wal_with_full_sync_and_foreign_keys() {
    let (_dir, path) = temp_path();
    let store = Store::open(&path).expect("opens");
    let found: Vec<String> = [
        "journal_mode",
        "synchronous",
        "foreign_keys",
        "user_version",
    ]
    .iter()
    .map(|name| pragma(&store.connection, name))
    .collect();
    assert_eq!(found, ["wal", "2", "1", &SCHEMA_VERSION.to_string()]);
    let busy = pragma(&store.connection, "busy_timeout");
    assert_eq!(busy, crate::BUSY_TIMEOUT_MS.to_string());
    assert_eq!(pragma(&store.connection, "secure_delete"), "1");
    // Negative: a size in KiB, not pages.
    let cache = pragma(&store.connection, "cache_size");
    assert_eq!(cache, (-crate::WRITER_CACHE_KIB).to_string());
}

/// Opens a store at a database whose `user_version` was set to `version` beforehand.
type VersionCase = (
    &'static str,
    fn(&std::path::Path) -> Result<Store, StoreError>,
    u32,
    &'static str,
);

const VERSIONS: &[VersionCase] = &[
    ("writer, current", Store::open, SCHEMA_VERSION, "ok"),
    ("writer, newer", Store::open, SCHEMA_VERSION + 1, "too new"),
    ("writer, far newer", Store::open, 1_000, "too new"),
    (
        "reader, current",
        Store::open_read_only,
        SCHEMA_VERSION,
        "ok",
    ),
    (
        "reader, newer",
        Store::open_read_only,
        SCHEMA_VERSION + 1,
        "too new",
    ),
    ("reader, older", Store::open_read_only, 1, "too old"),
    ("reader, empty", Store::open_read_only, 0, "no store"),
    (
        "writer of a station, current",
        Store::open_existing,
        SCHEMA_VERSION,
        "ok",
    ),
    (
        "writer of a station, empty",
        Store::open_existing,
        0,
        "no store",
    ),
    (
        "writer of a station, newer",
        Store::open_existing,
        SCHEMA_VERSION + 1,
        "too new",
    ),
];

#[test]
fn schema_versions_are_checked_on_open() {
    for (name, open, version, expect) in VERSIONS {
        let (_dir, path) = temp_path();
        if *version >= 1 {
            drop(Store::open(&path).expect("a new store opens"));
        }
        let raw = Connection::open(&path).expect("raw open");
        raw.pragma_update(None, "user_version", version)
            .expect("sets");
        drop(raw);
        let outcome = match open(&path) {
            Ok(_) => "ok",
            Err(StoreError::SchemaTooNew { found, known }) => {
                assert_eq!((found, known), (*version, SCHEMA_VERSION), "{name}");
                "too new"
            }
            Err(StoreError::SchemaTooOld { found, known }) => {
                assert_eq!((found, known), (*version, SCHEMA_VERSION), "{name}");
                "too old"
            }
            Err(StoreError::NoStore { path: shown }) => {
                assert_eq!(shown, path.display().to_string(), "{name}");
                "no store"
            }
            Err(other) => panic!("{name}: unexpected error {other}"),
        };
        assert_eq!(outcome, *expect, "{name}");
        // A refused open changes nothing, the version included (a writer's open migrates).
        let raw = Connection::open(&path).expect("raw open");
        let now = if outcome == "ok" {
            SCHEMA_VERSION
        } else {
            *version
        };
        assert_eq!(pragma(&raw, "user_version"), now.to_string(), "{name}");
    }
}

#[test]
fn the_error_for_a_newer_schema_says_what_to_do() {
    let error = StoreError::SchemaTooNew { found: 7, known: 1 };
    let shown = error.to_string();
    assert!(
        shown.contains("version 7") && shown.contains("(1)"),
        "{shown}"
    );
    assert!(
        shown.contains("nothing was changed") && shown.contains("newer parley"),
        "{shown}"
    );
}

#[test]
fn reopening_after_drop_keeps_everything() {
    let alpha = Station::new(1, "Alpha");
    let bravo = Station::new(2, "Bravo");
    let (_dir, path) = temp_path();
    let ops: Vec<_> = chain(&alpha, &bravo.id(), 3)
        .into_iter()
        .map(|entry| parley_proto::StoreOp::AppendOwn {
            peer: bravo.id(),
            frame: frame(&alpha, &bravo, &entry),
            entry,
        })
        .collect();
    let mut store = initialised(&path, &alpha);
    store
        .commit_with_peer(Some(bravo.as_new_peer()), &ops)
        .expect("commits");
    let snapshot = store.link_snapshot(&bravo.id()).expect("reads");
    let peers = store.peers().expect("reads");
    let station = store.station().expect("reads");
    drop(store);

    let store = Store::open(&path).expect("reopens");
    assert_eq!(store.link_snapshot(&bravo.id()).expect("reads"), snapshot);
    assert_eq!(snapshot.out_ids.len(), 3);
    assert_eq!(store.peers().expect("reads"), peers);
    assert_eq!(store.station().expect("reads"), station);
    let row = store.peer_by_name("Bravo").expect("reads").expect("paired");
    assert_eq!(row.card, bravo.card);
    assert_eq!(row.address.as_deref(), Some("quic://127.0.0.1:7302"));
    assert_eq!(store.peer_by_id(&bravo.id()).expect("reads"), Some(row));
    assert_eq!(store.peer_by_name("Nobody").expect("reads"), None);
}

#[test]
fn a_reader_sees_the_writers_commits_and_cannot_write() {
    let alpha = Station::new(1, "Alpha");
    let bravo = Station::new(2, "Bravo");
    let (_dir, path) = temp_path();
    let mut writer = initialised(&path, &alpha);
    writer
        .add_peer(&bravo.card, &bravo.card_bytes, "Bravo", None, 5)
        .expect("pairs");
    let mut reader = Store::open_read_only(&path).expect("a reader opens");
    assert_eq!(
        reader
            .link_snapshot(&bravo.id())
            .expect("reads")
            .out_ids
            .len(),
        0
    );

    let entries = chain(&alpha, &bravo.id(), 2);
    for (index, entry) in entries.into_iter().enumerate() {
        let op = parley_proto::StoreOp::AppendOwn {
            peer: bravo.id(),
            entry,
            frame: vec![7],
        };
        writer
            .commit(&[op])
            .expect("commits while a reader is open");
        let seen = reader.link_snapshot(&bravo.id()).expect("reads");
        assert_eq!(seen.out_ids.len(), index + 1);
    }
    assert!(matches!(reader.commit(&[]), Err(StoreError::ReadOnly)));
    assert!(matches!(
        reader.init_station("X", "en", alpha.id().0, &alpha.epoch, 1),
        Err(StoreError::ReadOnly)
    ));
    let (_other, missing) = temp_path();
    assert!(matches!(
        Store::open_read_only(&missing),
        Err(StoreError::Sqlite { .. })
    ));
}

#[test]
fn a_station_is_initialised_once_and_keeps_its_epoch_key() {
    let alpha = Station::new(1, "Alpha");
    let bravo = Station::new(2, "Bravo");
    let (_dir, path) = temp_path();
    let mut store = Store::open(&path).expect("opens");
    assert_eq!(store.station().expect("reads"), None);
    assert!(matches!(store.commit(&[]), Err(StoreError::NotInitialised)));
    assert!(matches!(
        store.add_peer(&bravo.card, &bravo.card_bytes, "Bravo", None, 5),
        Err(StoreError::NotInitialised)
    ));
    assert!(matches!(
        store.link_snapshot(&bravo.id()),
        Err(StoreError::NotInitialised)
    ));

    store
        .init_station("Alpha", "en", alpha.id().0, &alpha.epoch, 1_000)
        .expect("initialises");
    let again = store.init_station("Alpha", "en", alpha.id().0, &alpha.epoch, 2_000);
    assert!(matches!(again, Err(StoreError::AlreadyInitialised)));
    let station = store.station().expect("reads").expect("initialised");
    assert_eq!(
        (
            station.name.as_str(),
            station.lang.as_str(),
            station.identity,
            station.created_ms
        ),
        ("Alpha", "en", alpha.id(), 1_000)
    );
    let epochs = store.epoch_keys().expect("reads");
    assert_eq!(epochs.len(), 1);
    assert_eq!(epochs[0].key.public_bytes(), alpha.epoch.public_bytes());
    assert_eq!(epochs[0].key.secret_bytes(), alpha.epoch.secret_bytes());
    assert_eq!((epochs[0].created_ms, epochs[0].current), (1_000, true));

    assert!(matches!(
        store.add_peer(&alpha.card, &alpha.card_bytes, "Self", None, 5),
        Err(StoreError::InvalidOp(_))
    ));
    assert!(matches!(
        store.link_snapshot(&bravo.id()),
        Err(StoreError::UnknownPeer(_))
    ));
    store
        .add_peer(&bravo.card, &bravo.card_bytes, "Bravo", None, 5)
        .expect("pairs");
    let twice = store.add_peer(&bravo.card, &bravo.card_bytes, "Bravo 2", None, 6);
    assert!(matches!(twice, Err(StoreError::PeerExists(_))));
    let snapshot = store.link_snapshot(&bravo.id()).expect("reads");
    assert_eq!(snapshot.peer_epoch_public, bravo.epoch.public_bytes());
    assert_eq!(
        store.counts(&bravo.id()).expect("reads"),
        crate::LinkCounts::default()
    );
}

/// A new epoch key becomes the only current one and the old one stays; a retained key is
/// erased with its bytes overwritten in the database file; the current key and an unknown one
/// are refused, and a refused batch stores nothing. The store checkpoints in the background, as
/// a daemon's does (erasures happen there).
#[test]
fn epoch_keys_rotate_and_retained_ones_are_erased_from_the_file() {
    use parley_proto::EpochSecret;

    use crate::AdminOp;

    let (_dir, path) = temp_path();
    let alpha = Station::new(1, "Alpha");
    let mut store = initialised(&path, &alpha);
    store.checkpoint_in_background().expect("the thread starts");
    let second = EpochSecret::from_secret_bytes(&[0x5a; 32]).expect("a seed");
    store
        .commit_batch(
            &[AdminOp::AddEpochKey {
                key: Box::new(second.clone()),
                created_ms: 2_000,
            }],
            &[],
        )
        .expect("stored");
    let held: Vec<_> = store
        .epoch_keys()
        .expect("reads")
        .into_iter()
        .map(|row| (row.key.id(), row.created_ms, row.current))
        .collect();
    assert_eq!(
        held,
        [(second.id(), 2_000, true), (alpha.epoch.id(), 1_000, false)]
    );

    for (what, id) in [
        ("the current key", second.id()),
        ("an unknown key", parley_proto::EpochKeyId([7; 8])),
    ] {
        let refused = store.commit_batch(&[AdminOp::EraseEpochKey(id)], &[]);
        assert!(
            matches!(&refused, Err(StoreError::InvalidOp(why)) if why.contains("not a retained key")),
            "{what}: {refused:?}"
        );
        assert_eq!(store.epoch_keys().expect("reads").len(), 2, "{what}");
    }

    // Six more keys: their rows split the table's pages, copying older secrets around.
    let mut keys = vec![alpha.epoch.clone(), second];
    for seed in 0..6u8 {
        let key = EpochSecret::from_secret_bytes(&[0x70 + seed; 32]).expect("a seed");
        let created_ms = 3_000 + u64::from(seed);
        let add = AdminOp::AddEpochKey {
            key: Box::new(key.clone()),
            created_ms,
        };
        store.commit_batch(&[add], &[]).expect("stored");
        keys.push(key);
    }
    let (erased, kept) = keys.split_at(6);
    let erase: Vec<AdminOp> = erased
        .iter()
        .map(|key| AdminOp::EraseEpochKey(key.id()))
        .collect();
    store.commit_batch(&erase, &[]).expect("erased");
    assert_eq!(
        store.checkpoint_counts().log_pages,
        0,
        "the log was emptied"
    );
    let held: Vec<_> = store.epoch_keys().expect("reads");
    let held: Vec<_> = held.iter().map(|row| row.key.id()).collect();
    assert_eq!(held, [kept[1].id(), kept[0].id()], "current first");
    // Neither the database nor its write-ahead log holds an erased secret any more, in any
    // page (the writer runs with secure_delete, and the commit emptied the log); the search
    // does find the keys still held.
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let mut bytes = std::fs::read(&path).expect("reads");
    bytes.extend(std::fs::read(&wal).unwrap_or_default());
    let holds = |key: &EpochSecret| {
        let secret = key.secret_bytes();
        bytes.windows(secret.len()).any(|w| w == secret.as_slice())
    };
    for (index, key) in erased.iter().enumerate() {
        assert!(!holds(key), "erased secret {index} is still in the files");
    }
    assert!(kept.iter().all(holds), "the search finds the keys held");
    assert_eq!(pragma(&store.connection, "secure_delete"), "1");
}

/// The daemon's clock never starts before the latest time the store holds, so that nothing it
/// writes is dated before what it wrote earlier: an alarm's clearing before its raising would
/// break the alarm's own CHECK, and refuse the commit that carries it.
#[test]
fn the_latest_time_counts_alarms_and_epoch_keys() {
    use crate::{AdminOp, AlarmChange};
    let alpha = Station::new(1, "Alpha");
    let bravo = Station::new(2, "Bravo");
    let (_dir, path) = temp_path();
    let mut store = initialised(&path, &alpha);
    store
        .add_peer(&bravo.card, &bravo.card_bytes, "Bravo", None, 5)
        .expect("pairs");
    assert_eq!(store.latest_time_ms().expect("reads"), 1_000);
    // Raised at 2,000.
    let alarm = super::alarms::alarm(1, &bravo);
    let steps = [
        (AdminOp::RaiseAlarm(alarm), 2_000),
        (
            AdminOp::ChangeAlarm {
                id: 1,
                change: AlarmChange::Escalate {
                    level: 2,
                    at_ms: 3_000,
                },
            },
            3_000,
        ),
        (
            AdminOp::ChangeAlarm {
                id: 1,
                change: AlarmChange::Acknowledge(crate::Acknowledgement {
                    at_ms: 4_000,
                    by: "op".into(),
                    note: None,
                }),
            },
            4_000,
        ),
        (
            AdminOp::ChangeAlarm {
                id: 1,
                change: AlarmChange::Clear { at_ms: 5_000 },
            },
            5_000,
        ),
        (
            AdminOp::AddEpochKey {
                key: Box::new(Station::new(3, "Charlie").epoch),
                created_ms: 6_000,
            },
            6_000,
        ),
    ];
    for (op, latest_ms) in steps {
        store.commit_batch(&[op], &[]).expect("commits");
        assert_eq!(store.latest_time_ms().expect("reads"), latest_ms);
    }
}
