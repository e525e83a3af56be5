//! What each sender holds across every mailbox, and the relay as a whole (schema version 5),
//! and what each mailbox holds, whole and from each sender (version 6): counted by triggers
//! through every insert and delete, and bounded on both sides.

use super::tests::{DAY_MS, NOW_MS, QUOTA, deposit_with, id, nonce, row, store};
use super::*;

/// A sender (empty: the relay), its items and its frame bytes.
type Held = (Vec<u8>, i64, i64);

/// Each sender's items and bytes, and the relay's (under the empty sender), as the `held`
/// table counts them and as a sum over the items does.
fn counted(store: &Store) -> (Vec<Held>, Vec<Held>) {
    let rows = |sql: &str| -> Vec<Held> {
        let mut statement = store.conn.prepare(sql).expect("prepares");
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .expect("reads")
            .collect::<Result<_, _>>()
            .expect("reads")
    };
    let held = rows("SELECT sender, items, bytes FROM held ORDER BY sender");
    let summed = rows(
        "SELECT X'', count(*), coalesce(sum(length(frame)), 0) FROM items
         UNION ALL
         SELECT sender, count(*), sum(length(frame)) FROM items GROUP BY sender
         ORDER BY 1",
    );
    (held, summed)
}

/// Station `from` deposits `frames` to station `to` in a transaction of their own, with
/// `disk_free_bytes` free on the disk, the recipient having addressed it if `disclosed`.
fn deposit_at(
    store: &mut Store,
    (from, to): (u8, u8),
    frames: &[&[u8]],
    quota: Quota,
    disk_free_bytes: u64,
    disclosed: bool,
) -> Result<DepositOutcome, DepositRefusal> {
    let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
    let at = DepositAt {
        now_ms: NOW_MS,
        retention_ms: DAY_MS,
        disk_free_bytes,
    };
    let tx = store.conn.transaction().expect("begins");
    let outcome = deposit_in(&tx, &id(from), &id(to), &frames, quota, at, disclosed).expect("runs");
    tx.commit().expect("commits");
    outcome
}

/// A recipient, a sender (empty: the whole mailbox), its items and its frame bytes.
type InMailbox = (Vec<u8>, Vec<u8>, i64, i64);

/// Each mailbox's items and bytes, whole and from each sender, as the `mailboxes` table counts
/// them and as a sum over the items does.
fn mailboxes_counted(store: &Store) -> (Vec<InMailbox>, Vec<InMailbox>) {
    let rows = |sql: &str| -> Vec<InMailbox> {
        let mut statement = store.conn.prepare(sql).expect("prepares");
        statement
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .expect("reads")
            .collect::<Result<_, _>>()
            .expect("reads")
    };
    let counted = rows("SELECT recipient, sender, items, bytes FROM mailboxes ORDER BY 1, 2");
    let summed = rows(
        "SELECT recipient, X'', count(*), sum(length(frame)) FROM items GROUP BY recipient
         UNION ALL
         SELECT recipient, sender, count(*), sum(length(frame)) FROM items
             GROUP BY recipient, sender
         ORDER BY 1, 2",
    );
    (counted, summed)
}

fn assert_counted(store: &Store, what: &str) {
    let (held, summed) = counted(store);
    assert_eq!(held, summed, "after {what}");
    let (counted, summed) = mailboxes_counted(store);
    assert_eq!(counted, summed, "mailboxes after {what}");
}

#[test]
fn what_each_sender_holds_follows_every_insert_and_delete() {
    let (_dir, mut store) = store();
    store.admit(&row(3, "charlie")).expect("admits charlie");
    assert_counted(&store, "nothing");
    let quota = Quota {
        items_max: 100,
        bytes_max: 1000,
        share_items_max: 100,
        share_bytes_max: 1000,
        ..QUOTA
    };
    deposit_with(&mut store, 1, 2, 1, &[b"aaaa", b"bb"], quota).expect("deposits");
    deposit_with(&mut store, 1, 3, 2, &[b"ccc", b"aaaa"], quota).expect("deposits");
    deposit_with(&mut store, 2, 1, 1, &[b"d"], quota).expect("deposits");
    // A duplicate and a refused deposit change nothing.
    deposit_with(&mut store, 1, 2, 3, &[b"bb"], quota).expect("deposits");
    assert_counted(&store, "deposits");
    assert_eq!(held_bytes_in(&store.conn, &id(1).0).expect("reads"), 13);
    assert_eq!(held_bytes_in(&store.conn, HELD_TOTAL).expect("reads"), 14);
    // Bravo acknowledges its mailbox; Charlie deletes one frame.
    let start = store
        .begin_fetch(
            &nonce(2, 9),
            u64::MAX >> 1,
            NOW_MS,
            DAY_MS,
            FetchBounds {
                items_max: 10,
                bytes_max: 100,
            },
        )
        .expect("fetches");
    assert!(start.items.is_empty());
    let first = store
        .fetch(
            &id(3),
            NOW_MS,
            DAY_MS,
            FetchBounds {
                items_max: 1,
                bytes_max: 100,
            },
        )
        .expect("reads")
        .0[0]
        .id;
    store.delete(&nonce(3, 1), 0, &[first]).expect("deletes");
    assert_counted(&store, "a fetch's acknowledgement and a delete");
    assert_eq!(held_bytes_in(&store.conn, &id(1).0).expect("reads"), 4);
    // Charlie revoked (its mailbox deleted), then the rest expires and is purged.
    store.revoke("charlie", NOW_MS).expect("revokes");
    assert_counted(&store, "a revocation");
    assert_eq!(held_bytes_in(&store.conn, &id(1).0).expect("reads"), 0);
    store.purge(NOW_MS + 2 * DAY_MS, DAY_MS, 1).expect("purges");
    assert_counted(&store, "a purge");
    let (held, _) = counted(&store);
    assert_eq!(
        held,
        [(Vec::new(), 0, 0)],
        "a sender holding nothing has no row"
    );
    assert_eq!(
        mailboxes_counted(&store).0,
        [],
        "an empty mailbox has no row"
    );
}

/// A sender's frames across every mailbox, the relay's, and the disk's free space, each
/// exactly at its bound and one byte over it; frames already held are free.
#[test]
fn what_a_sender_and_the_relay_hold_and_the_free_space_are_bounded_on_both_sides() {
    let (_dir, mut store) = store();
    store.admit(&row(3, "charlie")).expect("admits charlie");
    let quota = Quota {
        items_max: 100,
        bytes_max: 1000,
        share_items_max: 100,
        share_bytes_max: 1000,
        sender_bytes_max: 10,
        relay_bytes_max: 12,
        disk_free_min_bytes: 100,
    };
    let plenty = 1_000_000;
    let deposit = |store: &mut Store, from: u8, to: u8, frames: &[&[u8]], free: u64| {
        deposit_at(store, (from, to), frames, quota, free, true)
    };
    // Alpha: 6 bytes to Bravo, 4 to Charlie: exactly its 10.
    assert!(deposit(&mut store, 1, 2, &[b"aaaaaa"], plenty).is_ok());
    assert!(deposit(&mut store, 1, 3, &[b"bbbb"], plenty).is_ok());
    assert_eq!(
        deposit(&mut store, 1, 3, &[b"c"], plenty),
        Err(DepositRefusal::SenderFull {
            new_bytes: 1,
            bytes_max: 10
        })
    );
    assert!(
        deposit(&mut store, 1, 3, &[b"bbbb"], plenty).is_ok(),
        "held: free"
    );
    // Bravo: 2 bytes take the relay to exactly its 12; one more is over.
    assert!(deposit(&mut store, 2, 1, &[b"dd"], plenty).is_ok());
    assert_eq!(
        deposit(&mut store, 2, 1, &[b"e"], plenty),
        Err(DepositRefusal::RelayFull { bytes_max: 12 })
    );
    // Free space: the frame's bytes and the reserve exactly, then one byte short.
    store
        .purge(NOW_MS + 2 * DAY_MS, DAY_MS, 1)
        .expect("purges all");
    assert!(deposit(&mut store, 2, 1, &[b"ff"], 102).is_ok());
    assert_eq!(
        deposit(&mut store, 2, 1, &[b"g"], 100),
        Err(DepositRefusal::DiskFull { free_min: 100 })
    );
    assert!(deposit(&mut store, 2, 1, &[b"ff"], 0).is_ok(), "held: free");
    // Told whatever the recipient; a refusal for the recipient is not.
    for refusal in [
        DepositRefusal::SenderFull {
            new_bytes: 1,
            bytes_max: 1,
        },
        DepositRefusal::RelayFull { bytes_max: 1 },
        DepositRefusal::DiskFull { free_min: 1 },
    ] {
        assert!(refusal.is_told_whatever_the_recipient(), "{refusal}");
    }
    assert!(!DepositRefusal::MailboxFull.is_told_whatever_the_recipient());
}

/// A sender its recipient has not addressed learns nothing of the recipient's mailbox: every
/// frame it sends counts against what it may hold, held there or not, and its bounds are
/// checked before the recipient's status. One the recipient has addressed learns both.
#[test]
fn a_sender_not_addressed_learns_nothing_of_the_recipient_from_its_bounds() {
    let (_dir, mut store) = store();
    let quota = Quota {
        items_max: 100,
        bytes_max: 1000,
        share_items_max: 100,
        share_bytes_max: 1000,
        sender_bytes_max: 10,
        ..QUOTA
    };
    let deposit = |store: &mut Store, to: u8, frames: &[&[u8]], disclosed: bool| {
        deposit_at(store, (1, to), frames, quota, u64::MAX, disclosed)
    };
    let sender_full = |new_bytes| {
        Err(DepositRefusal::SenderFull {
            new_bytes,
            bytes_max: 10,
        })
    };
    assert!(deposit(&mut store, 2, &[b"aaaaaa"], false).is_ok());
    // Held at Bravo's, and sent twice: counted once, but counted.
    assert_eq!(
        deposit(&mut store, 2, &[b"aaaaaa", b"aaaaaa"], false),
        sender_full(6)
    );
    assert!(
        deposit(&mut store, 2, &[b"aaaaaa"], true).is_ok(),
        "held: free"
    );
    // Station 9 is not admitted: the bounds first, then the recipient, when not addressed.
    assert_eq!(deposit(&mut store, 9, &[b"bbbbb"], false), sender_full(5));
    let not_admitted = deposit(&mut store, 9, &[b"bbbb"], false);
    assert!(
        matches!(not_admitted, Err(DepositRefusal::RecipientNotAdmitted(_))),
        "{not_admitted:?}"
    );
    let not_admitted = deposit(&mut store, 9, &[b"bbbbb"], true);
    assert!(
        matches!(not_admitted, Err(DepositRefusal::RecipientNotAdmitted(_))),
        "{not_admitted:?}"
    );
}

/// The store reads the free space of its own file system: a reserve larger than any disk
/// refuses every new frame; none refuses none.
#[test]
fn a_deposit_leaves_the_disk_s_reserve_free() {
    let (_dir, mut store) = store();
    let reserve = |disk_free_min_bytes| Quota {
        disk_free_min_bytes,
        ..QUOTA
    };
    let report = deposit_with(&mut store, 1, 2, 1, &[b"x"], reserve(i64::MAX as u64));
    assert_eq!(
        report.expect("runs").outcome,
        Err(DepositRefusal::DiskFull {
            free_min: i64::MAX as u64
        })
    );
    let report = deposit_with(&mut store, 1, 2, 2, &[b"x"], reserve(0));
    assert!(report.expect("runs").outcome.is_ok());
}

/// A version 4 store holding frames counts them as it is migrated.
#[test]
fn a_version_4_store_counts_what_it_holds() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("relay.sqlite");
    {
        let mut store = Store::open(&path).expect("opens");
        store.admit(&row(1, "alpha")).expect("admits");
        store.admit(&row(2, "bravo")).expect("admits");
        deposit_with(&mut store, 1, 2, 1, &[b"aaa", b"bb"], QUOTA).expect("deposits");
        store
            .conn
            .execute_batch(
                "DROP TRIGGER held_on_insert; DROP TRIGGER held_on_delete; DROP TABLE held;
                 DROP TRIGGER mailboxes_on_insert; DROP TRIGGER mailboxes_on_delete;
                 DROP TABLE mailboxes; DROP INDEX items_by_recipient_age;
                 CREATE INDEX items_by_sender ON items (recipient, sender, deposited_ms);
                 PRAGMA user_version = 4;",
            )
            .expect("back to version 4");
    }
    let store = Store::open(&path).expect("migrates");
    assert_counted(&store, "the migration");
    assert_eq!(held_bytes_in(&store.conn, HELD_TOTAL).expect("reads"), 5);
}

/// A version 5 store holding frames counts each mailbox as it is migrated, and a deposit then
/// reads the counts: one over the sender's share of the mailbox is refused.
#[test]
fn a_version_5_store_counts_each_mailbox() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("relay.sqlite");
    let quota = Quota {
        items_max: 100,
        bytes_max: 1000,
        share_items_max: 3,
        share_bytes_max: 1000,
        ..QUOTA
    };
    {
        let mut store = Store::open(&path).expect("opens");
        store.admit(&row(1, "alpha")).expect("admits");
        store.admit(&row(2, "bravo")).expect("admits");
        store.admit(&row(3, "charlie")).expect("admits");
        deposit_with(&mut store, 1, 2, 1, &[b"aaa", b"bb"], quota).expect("deposits");
        deposit_with(&mut store, 3, 2, 1, &[b"c"], quota).expect("deposits");
        deposit_with(&mut store, 1, 3, 2, &[b"dddd"], quota).expect("deposits");
        store
            .conn
            .execute_batch(
                "DROP TRIGGER mailboxes_on_insert; DROP TRIGGER mailboxes_on_delete;
                 DROP TABLE mailboxes; DROP INDEX items_by_recipient_age;
                 CREATE INDEX items_by_sender ON items (recipient, sender, deposited_ms);
                 PRAGMA user_version = 5;",
            )
            .expect("back to version 5");
    }
    let mut store = Store::open(&path).expect("migrates");
    assert_counted(&store, "the migration");
    let size = store.mailbox_size(&id(2)).expect("reads");
    assert_eq!((size.items, size.bytes), (3, 6));
    let share = store.share_size(&id(2), &id(1)).expect("reads");
    assert_eq!((share.items, share.bytes), (2, 5));
    deposit_with(&mut store, 1, 2, 3, &[b"e"], quota).expect("the share's last place");
    assert_eq!(
        deposit_with(&mut store, 1, 2, 4, &[b"f"], quota)
            .expect("runs")
            .outcome,
        Err(DepositRefusal::ShareFull {
            new_items: 1,
            new_bytes: 1,
            items_max: 3,
            bytes_max: 1000,
        })
    );
    assert_counted(&store, "deposits after it");
}

/// A frame deposited again once its copy expired takes that copy's place, not a second one:
/// stored though the sender's share holds one item. A frame not expired still fills the
/// share; and what each mailbox holds follows a fetch that deletes expired items.
#[test]
fn a_frame_deposited_again_once_expired_takes_its_own_place() {
    let (_dir, mut store) = store();
    let quota = Quota {
        items_max: 10,
        bytes_max: 1000,
        share_items_max: 1,
        share_bytes_max: 1000,
        ..QUOTA
    };
    let at = |store: &mut Store, n: u8, frame: &[u8], now_ms: u64| {
        let frames = [frame.to_vec()];
        (store.deposit(&nonce(1, n), &id(2), &frames, quota, now_ms, DAY_MS))
            .expect("runs")
            .outcome
    };
    assert!(at(&mut store, 1, b"same", NOW_MS).is_ok());
    let expired = NOW_MS + DAY_MS + 1;
    assert_eq!(
        at(&mut store, 2, b"same", expired),
        Ok(DepositOutcome {
            stored: 1,
            duplicates: 0
        })
    );
    assert_counted(&store, "a frame deposited again once expired");
    let other = at(&mut store, 3, b"other", expired);
    assert!(
        matches!(other, Err(DepositRefusal::ShareFull { .. })),
        "{other:?}"
    );
    let bounds = FetchBounds {
        items_max: 10,
        bytes_max: 100,
    };
    let start = (store.begin_fetch(&nonce(2, 1), 0, expired + DAY_MS + 1, DAY_MS, bounds))
        .expect("fetches");
    assert!(start.items.is_empty());
    assert_counted(&store, "a fetch that deleted expired items");
    assert_eq!(store.mailbox_size(&id(2)).expect("reads").items, 0);
}
