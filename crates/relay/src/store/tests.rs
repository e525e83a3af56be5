use super::schema::SCHEMA_V1;
use super::*;
use parley_proto::Identity;

pub(super) const NOW_MS: u64 = 1_700_000_000_000;
pub(super) const DAY_MS: u64 = 86_400_000;
pub(super) const QUOTA: Quota = Quota {
    items_max: 3,
    bytes_max: 10,
    share_items_max: 3,
    share_bytes_max: 10,
    sender_bytes_max: u64::MAX,
    relay_bytes_max: u64::MAX,
    disk_free_min_bytes: 0,
};

pub(super) fn id(seed: u8) -> StationId {
    Identity::from_secret(&[seed; 32]).id()
}

pub(super) fn row(seed: u8, name: &str) -> StationRow {
    StationRow {
        id: id(seed),
        name: name.into(),
        card: vec![seed],
        admitted_ms: NOW_MS,
        revoked_ms: None,
    }
}

pub(super) fn nonce(seed: u8, n: u8) -> NonceRecord {
    NonceRecord {
        station: id(seed),
        nonce: [n; NONCE_BYTES],
        timestamp_ms: NOW_MS,
    }
}

/// A store in a temporary directory with stations 1 (alpha) and 2 (bravo) admitted.
fn bounds(items_max: usize, bytes_max: usize) -> FetchBounds {
    FetchBounds {
        items_max,
        bytes_max,
    }
}

pub(super) fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut store = Store::open(&dir.path().join("relay.sqlite")).expect("store opens");
    store.admit(&row(1, "alpha")).expect("admits alpha");
    store.admit(&row(2, "bravo")).expect("admits bravo");
    (dir, store)
}

/// Alpha deposits `frames` to Bravo with nonce `n`: the outcome, or the store's error.
fn deposit(
    store: &mut Store,
    n: u8,
    frames: &[&[u8]],
) -> Result<Result<DepositOutcome, DepositRefusal>, StoreError> {
    deposit_with(store, 1, 2, n, frames, QUOTA).map(|report| report.outcome)
}

pub(super) fn deposit_with(
    store: &mut Store,
    from: u8,
    to: u8,
    n: u8,
    frames: &[&[u8]],
    quota: Quota,
) -> Result<DepositReport, StoreError> {
    let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
    store.deposit(&nonce(from, n), &id(to), &frames, quota, NOW_MS, DAY_MS)
}

fn held(store: &Store) -> Vec<Vec<u8>> {
    let (items, _) = store
        .fetch(&id(2), NOW_MS, DAY_MS, bounds(100, 1000))
        .expect("fetch reads");
    items.into_iter().map(|item| item.frame).collect()
}

#[test]
fn totals_count_stations_mailboxes_frames_and_bytes() {
    let (_dir, mut store) = store();
    let empty = Totals {
        stations_admitted: 2,
        ..Totals::default()
    };
    assert_eq!(store.totals().expect("reads"), empty);
    deposit(&mut store, 1, &[b"aaaa", b"bb"])
        .expect("runs")
        .expect("stored");
    deposit_with(&mut store, 2, 1, 2, &[b"c"], QUOTA).expect("runs");
    store.admit(&row(3, "charlie")).expect("admits charlie");
    store.revoke("charlie", NOW_MS).expect("revokes charlie");
    let totals = store.totals().expect("reads");
    assert_eq!(
        totals,
        Totals {
            stations_admitted: 2,
            stations_revoked: 1,
            mailboxes: 2,
            items: 3,
            bytes: 7,
        }
    );
}

#[test]
fn quota_is_checked_on_both_sides_and_duplicates_are_free() {
    let (_dir, mut store) = store();
    let outcome = deposit(&mut store, 1, &[b"aaaa", b"bbbb"]).expect("runs");
    assert_eq!(
        outcome,
        Ok(DepositOutcome {
            stored: 2,
            duplicates: 0
        })
    );
    // 8 bytes held; 3 more would be 11 > 10.
    let refused = deposit(&mut store, 2, &[b"ccc"]).expect("runs");
    assert!(
        matches!(refused, Err(DepositRefusal::ShareFull { .. })),
        "{refused:?}"
    );
    assert_eq!(held(&store), [b"aaaa".to_vec(), b"bbbb".to_vec()]);
    // Exactly at the byte quota, with a duplicate that costs nothing.
    let outcome = deposit(&mut store, 3, &[b"cc", b"aaaa", b"cc"]).expect("runs");
    assert_eq!(
        outcome,
        Ok(DepositOutcome {
            stored: 1,
            duplicates: 2
        })
    );
    // Three items: the item quota is reached too.
    let refused = deposit(&mut store, 4, &[b""]).expect("runs");
    assert!(
        matches!(refused, Err(DepositRefusal::ShareFull { new_items: 1, .. })),
        "{refused:?}"
    );
    assert_eq!(store.mailbox_size(&id(2)).expect("reads").bytes, 10);
}

#[test]
fn nonces_are_single_use_even_when_the_request_is_refused() {
    let (_dir, mut store) = store();
    let refused = deposit(&mut store, 1, &[b"far too large for the quota"]);
    assert!(
        matches!(refused, Ok(Err(DepositRefusal::ShareFull { .. }))),
        "{refused:?}"
    );
    let replayed = deposit(&mut store, 1, &[b"small"]);
    assert!(
        matches!(replayed, Err(StoreError::Replayed)),
        "{replayed:?}"
    );
    assert!(held(&store).is_empty());
    assert_eq!(store.nonce_count().expect("reads"), 1);
}

#[test]
fn revoked_and_unknown_stations_are_refused_and_revoking_empties_the_mailbox() {
    let (_dir, mut store) = store();
    deposit(&mut store, 1, &[b"x"])
        .expect("runs")
        .expect("deposits");
    assert_eq!(store.revoke("bravo", NOW_MS).expect("revokes"), (id(2), 1));
    assert_eq!(
        store.station_status(&id(2)).expect("reads"),
        StationStatus::Revoked
    );
    let refused = deposit(&mut store, 2, &[b"y"]);
    assert!(
        matches!(refused, Ok(Err(DepositRefusal::RecipientNotAdmitted(_)))),
        "{refused:?}"
    );
    let refused = store.record_request(&nonce(2, 1));
    assert!(
        matches!(refused, Err(StoreError::Revoked(_))),
        "{refused:?}"
    );
    let refused = store.record_request(&nonce(3, 1));
    assert!(
        matches!(refused, Err(StoreError::NotAdmitted(_))),
        "{refused:?}"
    );
    assert!(matches!(
        store.revoke("bravo", NOW_MS),
        Err(StoreError::AlreadyRevoked(_))
    ));
    assert!(matches!(
        store.revoke("zulu", NOW_MS),
        Err(StoreError::NoSuchStation(_))
    ));
    // Re-admission under a new name is allowed; a taken name or a second admission is not.
    assert!(matches!(
        store.admit(&row(3, "alpha")),
        Err(StoreError::NameTaken(_))
    ));
    assert!(matches!(
        store.admit(&row(1, "alpha")),
        Err(StoreError::AlreadyAdmitted { .. })
    ));
    store.admit(&row(2, "bravo-2")).expect("re-admits");
    assert_eq!(
        store.station_status(&id(2)).expect("reads"),
        StationStatus::Admitted
    );
    // A revoked station's name is free for a station with a new key (a station that had to
    // change its key after a compromise); both rows are listed, the revoked one as revoked.
    store.revoke("alpha", NOW_MS).expect("revokes");
    store
        .admit(&row(4, "alpha"))
        .expect("admits a new key under a revoked name");
    let alphas: Vec<(StationId, bool)> = store
        .stations()
        .expect("lists")
        .into_iter()
        .filter(|station| station.name == "alpha")
        .map(|station| (station.id, station.revoked_ms.is_some()))
        .collect();
    assert_eq!(alphas.len(), 2, "{alphas:?}");
    assert!(alphas.contains(&(id(1), true)) && alphas.contains(&(id(4), false)));
    // By its name, the one admitted is revoked; then the name names none admitted.
    assert_eq!(store.revoke("alpha", NOW_MS).expect("revokes").0, id(4));
    assert!(matches!(
        store.revoke("alpha", NOW_MS),
        Err(StoreError::AlreadyRevoked(_))
    ));
    // The old key may come back under it, once no station admitted holds it.
    store
        .admit(&row(1, "alpha"))
        .expect("re-admits the old key");
    assert!(matches!(
        store.admit(&row(4, "alpha")),
        Err(StoreError::NameTaken(_))
    ));
    assert!(held(&store).is_empty());
}

#[test]
fn fetch_pages_by_items_and_bytes_and_delete_touches_only_own_items() {
    let (_dir, mut store) = store();
    let quota = Quota {
        items_max: 100,
        bytes_max: 1000,
        share_items_max: 100,
        share_bytes_max: 1000,
        ..QUOTA
    };
    let frames: Vec<Vec<u8>> = (0..5).map(|n| vec![n; 4]).collect();
    store
        .deposit(&nonce(1, 1), &id(2), &frames, quota, NOW_MS, DAY_MS)
        .expect("runs")
        .outcome
        .expect("deposits");
    let (items, more) = store
        .fetch(&id(2), NOW_MS, DAY_MS, bounds(2, 1000))
        .expect("reads");
    assert_eq!((items.len(), more), (2, true));
    let (items, more) = store
        .fetch(&id(2), NOW_MS, DAY_MS, bounds(5, 1000))
        .expect("reads");
    assert_eq!((items.len(), more), (5, false));
    let (items, more) = store
        .fetch(&id(2), NOW_MS, DAY_MS, bounds(5, 9))
        .expect("reads");
    assert_eq!((items.len(), more), (2, true));
    let (items, more) = store
        .fetch(&id(2), NOW_MS, DAY_MS, bounds(5, 1))
        .expect("reads");
    assert_eq!((items.len(), more), (1, true), "the first item always fits");
    let ids: Vec<u64> = store
        .fetch(&id(2), NOW_MS, DAY_MS, bounds(5, 1000))
        .expect("reads")
        .0
        .iter()
        .map(|item| item.id)
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Alpha cannot delete Bravo's items.
    assert_eq!(store.delete(&nonce(1, 2), u64::MAX, &ids).expect("runs"), 0);
    assert_eq!(held(&store).len(), 5);
    assert_eq!(
        store.delete(&nonce(2, 1), ids[1], &[ids[3]]).expect("runs"),
        3
    );
    assert_eq!(held(&store), [frames[2].clone(), frames[4].clone()]);
    // A fetch acknowledges up to an id of its own mailbox: another's ids never match.
    let rest: Vec<u64> = ids[2..]
        .iter()
        .copied()
        .filter(|id| *id != ids[3])
        .collect();
    assert_eq!(
        store
            .begin_fetch(&nonce(1, 3), u64::MAX, NOW_MS, DAY_MS, bounds(10, 1000))
            .expect("runs")
            .acknowledged,
        0
    );
    assert_eq!(
        store
            .begin_fetch(&nonce(2, 2), rest[0] - 1, NOW_MS, DAY_MS, bounds(10, 1000))
            .expect("runs")
            .acknowledged,
        0
    );
    let start = store
        .begin_fetch(&nonce(2, 3), rest[0], NOW_MS, DAY_MS, bounds(10, 1000))
        .expect("runs");
    assert_eq!(start.acknowledged, 1);
    // It reads what is left after its deletions, in their transaction.
    let read: Vec<_> = start.items.iter().map(|item| item.frame.clone()).collect();
    assert_eq!((read, start.more), (vec![frames[4].clone()], false));
    assert_eq!(held(&store), [frames[4].clone()]);
}

#[test]
fn retention_hides_then_purges_items_and_old_nonces_are_pruned() {
    let (_dir, mut store) = store();
    deposit(&mut store, 1, &[b"old"])
        .expect("runs")
        .expect("deposits");
    let later = NOW_MS + DAY_MS;
    assert_eq!(
        store
            .fetch(&id(2), later, DAY_MS, bounds(10, 100))
            .expect("reads")
            .0
            .len(),
        1
    );
    let expired = later + 1;
    assert!(
        store
            .fetch(&id(2), expired, DAY_MS, bounds(10, 100))
            .expect("reads")
            .0
            .is_empty()
    );
    assert_eq!(store.mailbox_size(&id(2)).expect("reads").items, 1);
    let purged = store.purge(expired, DAY_MS, 1000).expect("purges");
    assert_eq!(
        purged,
        Purged {
            items: 1,
            nonces: 1
        }
    );
    assert_eq!(store.mailbox_size(&id(2)).expect("reads").items, 0);
    // Within the skew window a nonce stays.
    let recent = NonceRecord {
        timestamp_ms: expired,
        ..nonce(1, 9)
    };
    store.record_request(&recent).expect("records");
    assert_eq!(
        store
            .purge(expired + 1000, DAY_MS, 1000)
            .expect("purges")
            .nonces,
        0
    );
    assert_eq!(
        store
            .purge(expired + 1001, DAY_MS, 1000)
            .expect("purges")
            .nonces,
        1
    );
}

/// A fetch deletes the fetcher's expired items, and only those: one deposited at the last
/// millisecond still within retention stays, as do another mailbox's expired ones.
#[test]
fn a_fetch_deletes_its_own_expired_items() {
    let (_dir, mut store) = store();
    deposit(&mut store, 1, &[b"old"])
        .expect("runs")
        .expect("deposits");
    deposit_with(&mut store, 2, 1, 1, &[b"to alpha"], QUOTA)
        .expect("runs")
        .outcome
        .expect("deposits");
    let later = NOW_MS + 1;
    store
        .deposit(
            &nonce(1, 2),
            &id(2),
            &[b"new".to_vec()],
            QUOTA,
            later,
            DAY_MS,
        )
        .expect("runs")
        .outcome
        .expect("deposits");
    let expired = NOW_MS + DAY_MS + 1;
    let start = store
        .begin_fetch(&nonce(2, 3), 0, expired, DAY_MS, bounds(10, 100))
        .expect("fetches");
    let read: Vec<_> = start.items.iter().map(|item| item.frame.clone()).collect();
    assert_eq!(read, [b"new".to_vec()]);
    assert_eq!(
        store.mailbox_size(&id(2)).expect("reads").items,
        1,
        "the old one deleted"
    );
    assert_eq!(
        store.mailbox_size(&id(1)).expect("reads").items,
        1,
        "another's kept"
    );
}

/// A relay's clock stepped back (up to `CLOCK_STEP_BACK_MS_MAX`) takes a request it already
/// took, whose time is again within the skew window, for recent: its nonce was kept, and its
/// replay is refused. Kept for the skew window alone, it was deleted.
#[test]
fn a_replay_after_the_clock_is_stepped_back_finds_its_nonce() {
    use crate::limits::{CLOCK_STEP_BACK_MS_MAX, NONCE_KEEP_MS, REQUEST_CLOCK_SKEW_MS_MAX};
    let past_the_window = NOW_MS + REQUEST_CLOCK_SKEW_MS_MAX + 1;
    let stepped_back = past_the_window - CLOCK_STEP_BACK_MS_MAX;
    for (keep_ms, replay_refused) in [(NONCE_KEEP_MS, true), (REQUEST_CLOCK_SKEW_MS_MAX, false)] {
        let (_dir, mut store) = store();
        store.record_request(&nonce(1, 1)).expect("records");
        store
            .purge(past_the_window, DAY_MS, keep_ms)
            .expect("purges");
        store.purge(stepped_back, DAY_MS, keep_ms).expect("purges");
        let replayed = store.record_request(&nonce(1, 1));
        assert_eq!(
            matches!(replayed, Err(StoreError::Replayed)),
            replay_refused,
            "{keep_ms}: {replayed:?}"
        );
    }
}

/// A request admitted within the skew window may reach the store after its nonce's time was
/// purged (a slot waited for, a slow body): then it is refused, as its replay would not be.
#[test]
fn a_request_older_than_the_nonces_kept_is_refused_unrecorded() {
    let (_dir, mut store) = store();
    store.record_request(&nonce(1, 1)).expect("records");
    let purged = store.purge(NOW_MS + 1001, DAY_MS, 1000).expect("purges");
    assert_eq!(purged.nonces, 1);
    // The same request again, and another of its time: a replay of either would find no
    // nonce now.
    for n in [1, 2] {
        assert!(matches!(
            store.record_request(&nonce(1, n)),
            Err(StoreError::TooLate)
        ));
    }
    // One of the oldest time still kept is taken, once.
    let kept = NonceRecord {
        timestamp_ms: NOW_MS + 1,
        ..nonce(1, 3)
    };
    store.record_request(&kept).expect("within what is kept");
    assert!(matches!(
        store.record_request(&kept),
        Err(StoreError::Replayed)
    ));
    assert_eq!(
        store
            .purge(NOW_MS + 1001, DAY_MS, 1000)
            .expect("purges")
            .nonces,
        0
    );
    // A purge while the relay's clock ran a day ahead, then one after it was set right: the
    // requests of the right time are taken again.
    store.purge(NOW_MS + DAY_MS, DAY_MS, 1000).expect("purges");
    let now = NonceRecord {
        timestamp_ms: NOW_MS + 1001,
        ..nonce(1, 4)
    };
    assert!(matches!(
        store.record_request(&now),
        Err(StoreError::TooLate)
    ));
    store.purge(NOW_MS + 1001, DAY_MS, 1000).expect("purges");
    store.record_request(&now).expect("the clock set right");
}

#[test]
fn an_expired_copy_does_not_count_as_a_duplicate() {
    let (_dir, mut store) = store();
    deposit(&mut store, 1, &[b"same"])
        .expect("runs")
        .expect("deposits");
    let expired = NOW_MS + DAY_MS + 1;
    let frames = vec![b"same".to_vec()];
    let outcome = store
        .deposit(&nonce(1, 2), &id(2), &frames, QUOTA, expired, DAY_MS)
        .expect("runs")
        .outcome;
    assert_eq!(
        outcome,
        Ok(DepositOutcome {
            stored: 1,
            duplicates: 0
        })
    );
    assert_eq!(
        store
            .fetch(&id(2), expired, DAY_MS, bounds(10, 100))
            .expect("reads")
            .0
            .len(),
        1
    );
}

#[test]
fn each_sender_is_held_to_its_share_and_the_mailbox_to_its_quota() {
    let (_dir, mut store) = store();
    store.admit(&row(3, "charlie")).expect("admits charlie");
    store.admit(&row(4, "delta")).expect("admits delta");
    let quota = Quota {
        items_max: 4,
        bytes_max: 1000,
        share_items_max: 2,
        share_bytes_max: 1000,
        ..QUOTA
    };
    let outcome = |report: Result<DepositReport, StoreError>| report.expect("runs").outcome;
    let stored = |stored| {
        Ok(DepositOutcome {
            stored,
            duplicates: 0,
        })
    };
    // Alpha up to its share of Bravo's mailbox, and one frame over it.
    let two: [&[u8]; 2] = [b"a1", b"a2"];
    assert_eq!(
        outcome(deposit_with(&mut store, 1, 2, 1, &two, quota)),
        stored(2)
    );
    let over = outcome(deposit_with(&mut store, 1, 2, 2, &[b"a3"], quota));
    assert_eq!(
        over,
        Err(DepositRefusal::ShareFull {
            new_items: 1,
            new_bytes: 2,
            items_max: 2,
            bytes_max: 1000
        })
    );
    // Charlie's share is its own: Alpha's frames take none of it.
    let two: [&[u8]; 2] = [b"c1", b"c2"];
    assert_eq!(
        outcome(deposit_with(&mut store, 3, 2, 1, &two, quota)),
        stored(2)
    );
    // Delta is within its share, but the mailbox is full.
    let full = outcome(deposit_with(&mut store, 4, 2, 1, &[b"d1"], quota));
    assert_eq!(full, Err(DepositRefusal::MailboxFull));
    // The byte share counts too, exactly at it and one byte over.
    let bytes = Quota {
        share_bytes_max: 4,
        ..quota
    };
    let (_dir, mut store) = self::store();
    assert_eq!(
        outcome(deposit_with(&mut store, 1, 2, 1, &[b"abcd"], bytes)),
        stored(1)
    );
    let over = outcome(deposit_with(&mut store, 1, 2, 2, &[b"e"], bytes));
    assert!(
        matches!(over, Err(DepositRefusal::ShareFull { .. })),
        "{over:?}"
    );
    assert_eq!(store.share_size(&id(2), &id(1)).expect("reads").bytes, 4);
}

#[test]
fn a_deposit_is_disclosed_only_once_the_recipient_has_addressed_the_sender() {
    let (_dir, mut store) = store();
    let report = deposit_with(&mut store, 1, 2, 1, &[b"x"], QUOTA).expect("runs");
    assert!(!report.disclosed, "Bravo has not addressed Alpha");
    assert!(store.has_addressed(&id(1), &id(2)).expect("reads"));
    assert!(!store.has_addressed(&id(2), &id(1)).expect("reads"));
    // A refused deposit records the address too (Bravo's share of Alpha's mailbox is 0).
    let nothing = Quota {
        share_items_max: 0,
        ..QUOTA
    };
    let report = deposit_with(&mut store, 2, 1, 1, &[b"y"], nothing).expect("runs");
    assert!(report.disclosed, "Alpha addressed Bravo first");
    assert!(matches!(
        report.outcome,
        Err(DepositRefusal::ShareFull { .. })
    ));
    let report = deposit_with(&mut store, 1, 2, 2, &[b"z"], QUOTA).expect("runs");
    assert!(report.disclosed);
    // An unknown recipient: recorded, not disclosed, nothing stored.
    let report = deposit_with(&mut store, 1, 9, 3, &[b"w"], QUOTA).expect("runs");
    assert!(!report.disclosed);
    assert!(matches!(
        report.outcome,
        Err(DepositRefusal::RecipientNotAdmitted(_))
    ));
    assert_eq!(store.mailbox_size(&id(9)).expect("reads").items, 0);
}

#[test]
fn a_station_remembers_at_most_its_bound_of_correspondents() {
    let (_dir, mut store) = store();
    let max = CORRESPONDENTS_PER_STATION_MAX;
    let tx = store.conn.transaction().expect("begins");
    let other = |n: u64| StationId(sha256(&[&n.to_be_bytes()]));
    for n in 0..=max {
        record_correspondent(&tx, &id(1), &other(n), NOW_MS + n).expect("records");
    }
    // The one addressed least recently is forgotten; the bound holds.
    assert!(!addressed_in(&tx, &id(1), &other(0)).expect("reads"));
    assert!(addressed_in(&tx, &id(1), &other(1)).expect("reads"));
    assert!(addressed_in(&tx, &id(1), &other(max)).expect("reads"));
    let count: i64 = tx
        .query_row("SELECT COUNT(*) FROM correspondents", [], |row| row.get(0))
        .expect("counts");
    assert_eq!(count as u64, max);
    // Addressing one again makes it the most recent.
    record_correspondent(&tx, &id(1), &other(1), NOW_MS + max + 1).expect("records");
    record_correspondent(&tx, &id(1), &other(max + 1), NOW_MS + max + 2).expect("records");
    assert!(addressed_in(&tx, &id(1), &other(1)).expect("reads"));
    assert!(!addressed_in(&tx, &id(1), &other(2)).expect("reads"));
}

#[test]
fn a_version_1_store_is_migrated() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("relay.sqlite");
    {
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(SCHEMA_V1).expect("creates version 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("sets version");
    }
    let mut store = Store::open(&path).expect("migrates");
    store.admit(&row(1, "alpha")).expect("admits");
    store.admit(&row(2, "bravo")).expect("admits");
    assert!(deposit(&mut store, 1, &[b"x"]).expect("runs").is_ok());
    let version: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("reads");
    assert_eq!(version, SCHEMA_VERSION);
}

/// A version 3 store keeps its stations, admitted and revoked, through version 4, after which
/// a revoked station's name may be taken by a new key, and an admitted one's may not.
#[test]
fn a_version_3_store_keeps_its_stations_and_frees_revoked_names() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("relay.sqlite");
    {
        let conn = Connection::open(&path).expect("opens");
        for script in [
            SCHEMA_V1,
            super::schema::SCHEMA_V2,
            super::witness::SCHEMA_V3,
        ] {
            conn.execute_batch(script).expect("creates version 3");
        }
        conn.pragma_update(None, "user_version", 3)
            .expect("sets version");
        for (seed, name, revoked) in [(1, "alpha", None), (2, "bravo", Some(7_i64))] {
            conn.execute(
                "INSERT INTO stations (id, name, card, admitted_ms, revoked_ms) \
                 VALUES (?1, ?2, x'01', 0, ?3)",
                rusqlite::params![id(seed).0, name, revoked],
            )
            .expect("a station");
        }
    }
    let mut store = Store::open(&path).expect("migrates");
    let rows: Vec<(String, Option<u64>)> = store
        .stations()
        .expect("lists")
        .into_iter()
        .map(|row| (row.name, row.revoked_ms))
        .collect();
    assert_eq!(rows, [("alpha".into(), None), ("bravo".into(), Some(7))]);
    store
        .admit(&row(3, "bravo"))
        .expect("a new key under a revoked name");
    assert!(matches!(
        store.admit(&row(4, "alpha")),
        Err(StoreError::NameTaken(_))
    ));
    // The schema itself refuses two stations admitted under one name.
    let twice = store.conn.execute(
        "INSERT INTO stations (id, name, card, admitted_ms) VALUES (?1, 'alpha', x'01', 0)",
        [id(5).0],
    );
    assert!(twice.is_err(), "{twice:?}");
}

/// A cached statement is planned once (SQLite's query planner stability guarantee). Without
/// it, the statement that forgets a station's oldest correspondents, whose plan looked at its
/// bound values, was planned again at every deposit once rusqlite had cleared its bindings on
/// taking it back into the cache.
#[test]
fn the_statement_forgetting_correspondents_is_not_planned_again_at_each_deposit() {
    let (_dir, mut store) = store();
    store.begin_group().expect("a group starts");
    for n in 1..=3 {
        deposit_with(&mut store, 1, 2, n, &[b"to bravo"], QUOTA).expect("deposits");
        deposit_with(&mut store, 2, 1, n, &[b"to alpha"], QUOTA).expect("deposits");
    }
    store.commit_group().expect("the group commits");
    let statement = store
        .conn
        .prepare_cached(super::queries::FORGET_CORRESPONDENTS)
        .expect("cached");
    // The statement the deposits ran, not a fresh one.
    assert!(statement.get_status(rusqlite::StatementStatus::Run) >= 6);
    let planned_again = statement.get_status(rusqlite::StatementStatus::RePrepare);
    assert_eq!(planned_again, 0, "planned again");
}

/// Temporary storage, statement journals included, is in memory (`temp_store = MEMORY`), so a
/// request's savepoint does not allocate a spillable journal 64 KiB at a time.
#[test]
fn temporary_storage_is_in_memory() {
    let (_dir, store) = store();
    let mode: i64 = store
        .conn
        .pragma_query_value(None, "temp_store", |row| row.get(0))
        .expect("reads");
    assert_eq!(mode, 2, "MEMORY");
}

/// In a group, each request is its own savepoint: a replay and a refusal leave the others
/// alone, a refusal still records its nonce, and nothing is durable before the group commits
/// (a crash before the commit, here the connection closed, leaves none of it).
#[test]
fn a_group_keeps_each_request_to_itself_and_is_durable_only_once_committed() {
    // A deposit, its nonce replayed, one to a station not admitted, another deposit.
    let requests = |store: &mut Store| {
        assert!(matches!(deposit(store, 1, &[b"one"]), Ok(Ok(_))));
        assert!(matches!(
            deposit(store, 1, &[b"again"]),
            Err(StoreError::Replayed)
        ));
        let unknown = deposit_with(store, 1, 9, 2, &[b"x"], QUOTA).map(|r| r.outcome);
        assert!(matches!(
            unknown,
            Ok(Err(DepositRefusal::RecipientNotAdmitted(_)))
        ));
        assert!(matches!(deposit(store, 3, &[b"two"]), Ok(Ok(_))));
    };
    let (dir, mut store) = store();
    let path = dir.path().join("relay.sqlite");
    store.begin_group().expect("a group starts");
    requests(&mut store);
    drop(store);
    let mut store = Store::open(&path).expect("reopens");
    assert!(held(&store).is_empty(), "nothing of an uncommitted group");

    store.begin_group().expect("a group starts");
    requests(&mut store);
    store.commit_group().expect("the group commits");
    drop(store);
    let mut store = Store::open(&path).expect("reopens");
    assert_eq!(held(&store), vec![b"one".to_vec(), b"two".to_vec()]);
    // The refused request's nonce was kept with the group: using it again is a replay.
    let reused = deposit_with(&mut store, 1, 2, 2, &[b"x"], QUOTA);
    assert!(matches!(reused, Err(StoreError::Replayed)));
}

/// A transaction a failed group left open (its commit and its rollback both failed) is rolled
/// back when the next group begins, instead of making it, and every group after, fail.
#[test]
fn a_group_begins_after_one_that_left_its_transaction_open() {
    let (dir, mut store) = store();
    store.begin_group().expect("a group starts");
    assert!(matches!(deposit(&mut store, 1, &[b"lost"]), Ok(Ok(_))));
    // What a group whose commit and rollback failed leaves: its transaction, still open.
    store.in_group = false;
    store.begin_group().expect("the next group starts");
    assert!(matches!(deposit(&mut store, 2, &[b"kept"]), Ok(Ok(_))));
    store.commit_group().expect("the next group commits");
    drop(store);
    let store = Store::open(&dir.path().join("relay.sqlite")).expect("reopens");
    assert_eq!(held(&store), [b"kept".to_vec()], "none of the failed group");
}

/// When SQLite rolls back a group's whole transaction (as it does on a full disk or an I/O
/// error), the requests after it in the group fail instead of committing on their own, and
/// the group's commit fails: none of the group happened.
#[test]
fn a_group_rolled_back_under_it_fails_every_request_after_and_its_commit() {
    let (dir, mut store) = store();
    store.begin_group().expect("a group starts");
    assert!(matches!(deposit(&mut store, 1, &[b"one"]), Ok(Ok(_))));
    store
        .conn
        .execute_batch("ROLLBACK")
        .expect("what SQLite does on such a failure");
    let after = deposit(&mut store, 2, &[b"two"]);
    assert!(matches!(after, Err(StoreError::GroupAborted)), "{after:?}");
    assert!(!StoreError::GroupAborted.is_refusal());
    assert!(store.commit_group().is_err());
    drop(store);
    let store = Store::open(&dir.path().join("relay.sqlite")).expect("reopens");
    assert!(held(&store).is_empty());
}
