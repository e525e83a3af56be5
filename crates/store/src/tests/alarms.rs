//! What the store keeps of the alarm hook's runs: each alarm's last change the hook ran for.

use super::fixture::{Station, initialised, temp_path};
use crate::{AdminOp, AlarmChange, AlarmKind, AlarmRow, CLEARED_RANK, Store};

/// Alarm `id` of `peer`, raised at 2,000 and open.
pub(super) fn alarm(id: u64, peer: &Station) -> AlarmRow {
    AlarmRow {
        id,
        kind: AlarmKind::UnderstoodOverdue,
        peer: peer.id(),
        subject: format!("entry {id}"),
        detail: "not understood in time".into(),
        level: 1,
        raised_ms: 2_000,
        escalated_ms: None,
        acknowledged: None,
        cleared_ms: None,
    }
}

fn unhooked(store: &Store) -> Vec<(u64, u32)> {
    let rows = store.alarms_unhooked().expect("reads");
    rows.iter().map(|a| (a.id, a.change_rank())).collect()
}

fn commit(store: &mut Store, op: AdminOp) {
    store.commit_batch(&[op], &[]).expect("commits");
}

/// A store of Alpha paired with Bravo, with two of Bravo's alarms raised (1 and 2).
fn with_two_alarms() -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let (alpha, bravo) = (Station::new(1, "Alpha"), Station::new(2, "Bravo"));
    let (dir, path) = temp_path();
    let mut store = initialised(&path, &alpha);
    store
        .add_peer(&bravo.card, &bravo.card_bytes, "Bravo", None, 5)
        .expect("pairs");
    commit(&mut store, AdminOp::RaiseAlarm(alarm(1, &bravo)));
    commit(&mut store, AdminOp::RaiseAlarm(alarm(2, &bravo)));
    (dir, path, store)
}

fn hooked(id: u64, rank: u32) -> AdminOp {
    AdminOp::HookedAlarm { id, rank }
}

/// An alarm's change is unhooked until the hook ran for it (or a later one): each change
/// again, an acknowledgement not; a record of an earlier change never undoes a later one.
#[test]
fn each_change_waits_for_its_hook_run() {
    let (_dir, _, mut store) = with_two_alarms();
    assert_eq!(unhooked(&store), [(2, 1), (1, 1)], "newest first");
    commit(&mut store, hooked(1, 1));
    assert_eq!(unhooked(&store), [(2, 1)]);
    let escalate = AlarmChange::Escalate {
        level: 2,
        at_ms: 3_000,
    };
    commit(
        &mut store,
        AdminOp::ChangeAlarm {
            id: 1,
            change: escalate,
        },
    );
    assert_eq!(unhooked(&store), [(2, 1), (1, 2)]);
    let ack = AlarmChange::Acknowledge(crate::Acknowledgement {
        at_ms: 3_500,
        by: "Ana".into(),
        note: None,
    });
    commit(&mut store, AdminOp::ChangeAlarm { id: 2, change: ack });
    assert_eq!(unhooked(&store), [(2, 1), (1, 2)], "no new change");
    commit(&mut store, hooked(1, 2));
    commit(&mut store, hooked(1, 1));
    commit(&mut store, hooked(2, 1));
    assert_eq!(unhooked(&store), []);
    let clear = AlarmChange::Clear { at_ms: 4_000 };
    commit(
        &mut store,
        AdminOp::ChangeAlarm {
            id: 1,
            change: clear,
        },
    );
    assert_eq!(unhooked(&store), [(1, CLEARED_RANK)]);
    // A record for an alarm not stored changes nothing and fails nothing.
    commit(&mut store, hooked(9, 1));
    commit(&mut store, hooked(1, CLEARED_RANK));
    assert_eq!(unhooked(&store), []);
}

/// A store of schema version 4 opens at version 5 with its alarms taken as hooked: a site
/// upgrading is not paged again for every alarm it ever had.
#[test]
fn alarms_of_version_4_are_taken_as_hooked() {
    let (_dir, path, mut store) = with_two_alarms();
    let clear = AlarmChange::Clear { at_ms: 4_000 };
    commit(
        &mut store,
        AdminOp::ChangeAlarm {
            id: 2,
            change: clear,
        },
    );
    drop(store);
    let raw = rusqlite::Connection::open(&path).expect("opens");
    raw.execute_batch(
        "ALTER TABLE alarms DROP COLUMN hooked; ALTER TABLE peers DROP COLUMN receipt_newest_ms; \
         ALTER TABLE peers DROP COLUMN receipt_floor_ms; \
         ALTER TABLE peers DROP COLUMN log_behind; \
         ALTER TABLE outbox DROP COLUMN delivered_before_ms; \
         ALTER TABLE station DROP COLUMN stopped_ms; ALTER TABLE peers DROP COLUMN log_forked; PRAGMA user_version = 4;",
    )
    .expect("back to version 4");
    drop(raw);
    let store = Store::open(&path).expect("migrates");
    assert_eq!(unhooked(&store), []);
    let hooked: Vec<i64> = (store.connection)
        .prepare("SELECT hooked FROM alarms ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(hooked, [1, i64::from(CLEARED_RANK)]);
}
