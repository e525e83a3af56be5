//! Reading a damaged database: the read side finds what the write side would never have
//! written, and says what is wrong instead of handing a broken state to the protocol.

use parley_proto::cose::{self, CONTENT_TYPE_ENTRY, Unverified};
use parley_proto::{EntryId, StationId, StoreOp};
use rusqlite::Connection;

use super::fixture::{Station, chain, entry, frame, initialised, temp_path};
use crate::{Store, StoreError};

/// Alpha's store, paired with Bravo: own seqs 1…3 (none delivered), Bravo's seqs 1, 2, 3 held
/// and delivered (in-head 3), and seq 5 held above the head.
fn damaged_store(tamper: &str) -> (tempfile::TempDir, Store, StationId) {
    let alpha = Station::new(1, "Alpha");
    let bravo = Station::new(2, "Bravo");
    let (dir, path) = temp_path();
    let mut store = initialised(&path, &alpha);
    let mut ops: Vec<StoreOp> = chain(&alpha, &bravo.id(), 3)
        .into_iter()
        .map(|entry| StoreOp::AppendOwn {
            peer: bravo.id(),
            frame: frame(&alpha, &bravo, &entry),
            entry,
        })
        .collect();
    let theirs = chain(&bravo, &alpha.id(), 5);
    for index in [0, 1, 2, 4] {
        ops.push(StoreOp::StorePeerEntry {
            peer: bravo.id(),
            entry: theirs[index].clone(),
            received_ms: 1,
        });
    }
    ops.push(StoreOp::AdvanceInHead {
        peer: bravo.id(),
        upto: 3,
    });
    store
        .commit_with_peer(Some(bravo.as_new_peer()), &ops)
        .expect("commits");
    let raw = Connection::open(&path).expect("raw open");
    let sql = tamper
        .replace("$OWN", &format!("X'{}'", alpha.id()))
        .replace("$PEER", &format!("X'{}'", bravo.id()));
    raw.execute_batch(&sql).expect("the tampering applies");
    (dir, store, bravo.id())
}

type Read = fn(&Store, &StationId) -> Result<(), StoreError>;

fn snapshot(store: &Store, peer: &StationId) -> Result<(), StoreError> {
    store.link_snapshot(peer).map(drop)
}

fn peers(store: &Store, _: &StationId) -> Result<(), StoreError> {
    store.peers().map(drop)
}

fn entries(store: &Store, peer: &StationId) -> Result<(), StoreError> {
    store.entries(peer).map(drop)
}

fn epoch_keys(store: &Store, _: &StationId) -> Result<(), StoreError> {
    store.epoch_keys().map(drop)
}

fn whole(store: &Store, _: &StationId) -> Result<(), StoreError> {
    store.check().map(drop)
}

/// Tampering SQL (`$OWN`, `$PEER` name the stations), the read, and the start of what the
/// corruption report must say (`None`: the read still succeeds).
const CASES: &[(&str, Read, Option<&str>)] = &[
    ("SELECT 1", snapshot, None),
    (
        "DELETE FROM entries WHERE author = $OWN AND seq = 2",
        snapshot,
        Some("the own log holds seq 3 where seq 2 belongs"),
    ),
    (
        "DELETE FROM entries WHERE author = $OWN AND seq = 1",
        snapshot,
        Some("the own log holds seq 2 where seq 1 belongs"),
    ),
    (
        // The last own entry going missing leaves its outbox row without an entry.
        "DELETE FROM entries WHERE author = $OWN AND seq = 3",
        snapshot,
        Some("outbox seq 3 has no own entry"),
    ),
    (
        "DELETE FROM entries WHERE author = $PEER AND seq = 2",
        snapshot,
        Some("the peer's log holds seq 3 where seq 2 belongs"),
    ),
    (
        // Above the head, gaps are normal: that is what pending means.
        "DELETE FROM entries WHERE author = $PEER AND seq = 5",
        snapshot,
        None,
    ),
    ("SELECT 1", entries, None),
    (
        "DELETE FROM entries WHERE author = $OWN AND seq = 2",
        entries,
        Some("the log of "),
    ),
    (
        "DELETE FROM entries WHERE author = $PEER AND seq = 1",
        entries,
        Some("the log of "),
    ),
    (
        "UPDATE peers SET in_head = 9",
        snapshot,
        Some("the in-head is 9 but only 4 peer entries are held"),
    ),
    (
        "UPDATE peers SET in_head = 4",
        snapshot,
        Some("the peer's log holds seq 5 where seq 4 belongs"),
    ),
    (
        "UPDATE entries SET prev = zeroblob(32) WHERE author = $OWN AND seq = 3",
        snapshot,
        Some("the own log seq 3 names prev"),
    ),
    (
        "UPDATE peers SET latest_receipt_upto = 7",
        snapshot,
        Some("the peer receipted up to seq 7 but the own log ends at seq 3"),
    ),
    (
        "UPDATE peers SET latest_receipt_upto = 2",
        snapshot,
        Some("outbox seq 1 is not delivered although the peer receipted up to 2"),
    ),
    (
        "UPDATE peers SET card = X'00'",
        peers,
        Some("the pinned card of peer \"Bravo\" does not verify"),
    ),
    (
        "UPDATE epoch_keys SET secret = zeroblob(32)",
        epoch_keys,
        Some("epoch key"),
    ),
    // The whole store's check, which opening a file makes.
    ("SELECT 1", whole, None),
    (
        "UPDATE entries SET text = 'forged' WHERE author = $PEER AND seq = 2",
        whole,
        Some("the entry seq 2 by "),
    ),
    (
        "UPDATE entries SET time_ms = time_ms + 1 WHERE author = $OWN AND seq = 1",
        whole,
        Some("the entry seq 1 by "),
    ),
    (
        "UPDATE entries SET signed = CAST(signed || X'00' AS BLOB) WHERE author = $PEER AND seq = 1",
        whole,
        Some("the entry seq 1 by "),
    ),
    (
        "UPDATE entries SET entry_id = zeroblob(32) WHERE author = $OWN AND seq = 3",
        whole,
        Some("the entry seq 3 by "),
    ),
    (
        "UPDATE outbox SET frame = X'01' WHERE seq = 2",
        whole,
        Some("the outbox frame of seq 2 is damaged"),
    ),
    (
        "UPDATE outbox SET frame = (SELECT frame FROM outbox WHERE seq = 1) WHERE seq = 2",
        whole,
        Some("the outbox frame of seq 2 is not this station's envelope of that entry"),
    ),
    (
        "UPDATE peers SET card = X'00'",
        whole,
        Some("the pinned card of peer \"Bravo\" does not verify"),
    ),
    // The fence names a seq beyond the own log (3 entries), or none.
    ("UPDATE peers SET log_behind = 4", whole, None),
    (
        "UPDATE peers SET log_behind = 3",
        whole,
        Some(
            "peer \"Bravo\" is noted to hold own seq 3 beyond this store's log, which ends at seq 3",
        ),
    ),
    // The fork names a seq within the own log (3 entries), or none.
    ("UPDATE peers SET log_forked = 3", whole, None),
    (
        "UPDATE peers SET log_forked = 4",
        whole,
        Some(
            "peer \"Bravo\" is noted to hold another entry at own seq 4, beyond this store's log, which ends at seq 3",
        ),
    ),
    // The floor is a receipt time the newest one reached.
    (
        "UPDATE peers SET receipt_floor_ms = 5, receipt_newest_ms = 5",
        whole,
        None,
    ),
    (
        "UPDATE peers SET receipt_floor_ms = 5, receipt_newest_ms = 4",
        whole,
        Some(
            "peer \"Bravo\": the floor of its receipts (5 ms) is after the newest one taken (4 ms)",
        ),
    ),
];

fn check(tamper: &str, read: Read, expect: Option<&str>) {
    let (_dir, store, peer) = damaged_store(tamper);
    match (read(&store, &peer), expect) {
        (Ok(()), None) => {}
        (Err(StoreError::Corrupt(detail)), Some(start)) => {
            assert!(detail.starts_with(start), "{tamper}: reported {detail:?}");
        }
        (outcome, _) => panic!("{tamper}: expected {expect:?}, got {outcome:?}"),
    }
}

#[test]
fn damage_is_reported_as_corruption() {
    for (tamper, read, expect) in CASES {
        check(tamper, *read, *expect);
    }
}

/// An entry whose bytes hash to its stored id and agree with its columns, but which another
/// key signed: the check verifies the signature of each log's last contiguous entry (seq 3,
/// which vouches for those below) and of each entry held above a gap (seq 5).
#[test]
fn an_entry_signed_by_another_key_is_found_at_the_head_and_above_a_gap() {
    let (alpha, bravo) = (Station::new(1, "Alpha"), Station::new(2, "Bravo"));
    let theirs = chain(&bravo, &alpha.id(), 5);
    for seq in [3, 5] {
        let genuine = &theirs[seq - 1];
        let payload = Unverified::parse(genuine.bytes(), "entry", CONTENT_TYPE_ENTRY, 4096)
            .expect("parses")
            .payload_unverified()
            .to_vec();
        let forged = cose::sign(&alpha.identity, CONTENT_TYPE_ENTRY, payload);
        let tamper = format!(
            "UPDATE entries SET signed = X'{}', entry_id = X'{}' \
             WHERE author = $PEER AND seq = {seq}",
            hex::encode(&forged),
            EntryId::of(&forged)
        );
        let expect = format!("the entry seq {seq} by {} is damaged", bravo.id().short());
        check(&tamper, whole, Some(&expect));
    }
}

/// Entries held above the delivered head need not chain: a peer put back to an older copy of
/// its store signs a seq again while what it signed before stays held (the link records the
/// fork and promotes nothing past it). Each is vouched for by its own signature, and the store
/// still opens: a fork a peer made is evidence, not damage to this disk.
#[test]
fn held_entries_that_do_not_chain_are_checked_by_their_signatures() {
    let (alpha, bravo) = (Station::new(1, "Alpha"), Station::new(2, "Bravo"));
    let (_dir, path) = temp_path();
    let mut store = initialised(&path, &alpha);
    let theirs = chain(&bravo, &alpha.id(), 3);
    let elsewhere = EntryId([7; 32]);
    let mut ops: Vec<StoreOp> = theirs
        .iter()
        .cloned()
        .chain([
            // Right above the head, naming another seq 3.
            entry(&bravo, &alpha.id(), 4, elsewhere, "a fork"),
            // Above a gap, one after the other, the second not naming the first.
            entry(&bravo, &alpha.id(), 6, elsewhere, "held"),
            entry(&bravo, &alpha.id(), 7, elsewhere, "held too"),
        ])
        .map(|entry| StoreOp::StorePeerEntry {
            peer: bravo.id(),
            entry,
            received_ms: 1,
        })
        .collect();
    ops.push(StoreOp::AdvanceInHead {
        peer: bravo.id(),
        upto: 3,
    });
    store
        .commit_with_peer(Some(bravo.as_new_peer()), &ops)
        .expect("commits");
    drop(store);
    // Opening checks the whole store, as every start does.
    let store = Store::open(&path).expect("a peer's fork is no corruption");
    assert_eq!(store.check().expect("checks").entries, 6);
    let snapshot = store.link_snapshot(&bravo.id()).expect("the link reads");
    let pending: Vec<u64> = snapshot.in_pending.iter().map(|held| held.seq).collect();
    assert_eq!(pending, [4, 6, 7]);
    drop(store);

    // One of them signed by another key is still found.
    let raw = Connection::open(&path).expect("raw open");
    let signed: Vec<u8> = raw
        .query_row(
            "SELECT signed FROM entries WHERE seq = 7 AND author = ?1",
            [bravo.id().0],
            |row| row.get(0),
        )
        .expect("reads");
    let payload = Unverified::parse(&signed, "entry", CONTENT_TYPE_ENTRY, 4096)
        .expect("parses")
        .payload_unverified()
        .to_vec();
    let forged = cose::sign(&alpha.identity, CONTENT_TYPE_ENTRY, payload);
    raw.execute(
        "UPDATE entries SET signed = ?1, entry_id = ?2 WHERE seq = 7 AND author = ?3",
        (&forged, EntryId::of(&forged).0, bravo.id().0),
    )
    .expect("tampers");
    let error = Store::open(&path).expect_err("the forged entry is found");
    let expect = format!("the entry seq 7 by {} is damaged", bravo.id().short());
    assert!(error.to_string().contains(&expect), "{error}");
}

#[test]
fn an_export_holds_the_own_log_and_the_delivered_peer_log() {
    let (_dir, store, peer) = damaged_store("SELECT 1");
    let exported: Vec<(bool, u64)> = store
        .entries(&peer)
        .expect("reads")
        .iter()
        .map(|stored| (stored.author == peer, stored.seq))
        .collect();
    // By author (the lower id first), then seq.
    let peer_first = peer < Station::new(1, "Alpha").id();
    let expected: Vec<(bool, u64)> = [peer_first, !peer_first]
        .into_iter()
        .flat_map(|is_peer| (1..=3).map(move |seq| (is_peer, seq)))
        .collect();
    assert_eq!(
        exported, expected,
        "seq 5, held above the head, is not exported"
    );
}
