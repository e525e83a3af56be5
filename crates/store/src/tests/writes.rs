//! Commits: a batch is stored whole or not at all, ops that contradict the stored log are
//! refused, and the outbox and receipts follow transmits and receipts.

use std::collections::BTreeMap;

use parley_proto::receipt::Receipt;
use parley_proto::{ChannelKind, EntryId, EvidenceKind, LinkId, SignedEntry, StationId, StoreOp};

use super::fixture::{Station, chain, entry, initialised, temp_path};
use crate::{DeliveryState, LinkCounts, Store, StoreError, StoredEntry};

/// Alpha's store, paired with Bravo; Charlie is not paired.
struct Ctx {
    alpha: Station,
    bravo: Station,
    charlie: Station,
    /// Alpha's log for Bravo, seqs 1…4; 1 and 2 are stored.
    own: Vec<SignedEntry>,
    /// Bravo's log for Alpha, seqs 1…3; 1 and 2 are stored and delivered.
    theirs: Vec<SignedEntry>,
}

impl Ctx {
    fn new() -> Self {
        let alpha = Station::new(1, "Alpha");
        let bravo = Station::new(2, "Bravo");
        let own = chain(&alpha, &bravo.id(), 4);
        // Bravo's third entry announces a new epoch key (Charlie's, as any valid key does).
        let charlie = Station::new(3, "Charlie");
        let mut theirs = chain(&bravo, &alpha.id(), 2);
        let mut announcement = theirs[1].entry().clone();
        announcement.seq = 3;
        announcement.prev = theirs[1].id();
        announcement.body = parley_proto::Body::KeyAnnouncement {
            key_id: charlie.epoch.id(),
            public: charlie.epoch.public_bytes().to_vec(),
        };
        theirs.push(announcement.sign(&bravo.identity));
        Ctx {
            charlie,
            alpha,
            bravo,
            own,
            theirs,
        }
    }

    fn b(&self) -> StationId {
        self.bravo.id()
    }

    fn append(&self, index: usize) -> StoreOp {
        StoreOp::AppendOwn {
            peer: self.b(),
            entry: self.own[index].clone(),
            frame: vec![1, u8::try_from(index).expect("small")],
        }
    }

    fn store_theirs(&self, entry: SignedEntry) -> StoreOp {
        StoreOp::StorePeerEntry {
            peer: self.b(),
            entry,
            received_ms: 20_000,
        }
    }

    /// A store with the paired state described on [`Ctx`].
    fn store(&self) -> (tempfile::TempDir, Store) {
        let (dir, path) = temp_path();
        let mut store = initialised(&path, &self.alpha);
        let ops = [
            self.append(0),
            self.append(1),
            self.store_theirs(self.theirs[0].clone()),
            self.store_theirs(self.theirs[1].clone()),
            StoreOp::AdvanceInHead {
                peer: self.b(),
                upto: 2,
            },
        ];
        store
            .commit_with_peer(Some(self.bravo.as_new_peer()), &ops)
            .expect("the base state commits");
        (dir, store)
    }

    /// Valid ops touching every table, run before the bad op of each refused batch.
    fn valid_prefix(&self) -> Vec<StoreOp> {
        vec![
            self.append(2),
            self.store_theirs(self.theirs[2].clone()),
            StoreOp::AdvanceInHead {
                peer: self.b(),
                upto: 3,
            },
            StoreOp::MarkTransmitted {
                peer: self.b(),
                seq: 1,
                channel: ChannelKind::Direct,
            },
            StoreOp::MarkDelivered {
                peer: self.b(),
                upto: 1,
                extra: vec![],
                receipt: receipt(self, 1, &[], 30_000),
                newest_ms: 30_000,
                received_ms: 30_000,
            },
            StoreOp::PeerEpochKey {
                peer: self.b(),
                public: self.charlie.epoch.public_bytes().to_vec(),
            },
            StoreOp::Evidence {
                peer: self.b(),
                kind: EvidenceKind::Fork,
                seq: 2,
                detail: "test".into(),
                bytes: vec![9; 4],
                time_ms: 40_000,
            },
        ]
    }
}

/// Everything a reader can see of the link with Bravo.
type Dump = (
    parley_proto::LinkSnapshot,
    Vec<StoredEntry>,
    usize,
    LinkCounts,
    Option<Vec<u8>>,
    usize,
);

fn dump(store: &Store, peer: &StationId) -> Dump {
    (
        store.link_snapshot(peer).expect("reads"),
        store.entries(peer).expect("reads"),
        store.evidence(None).expect("reads").len(),
        store.counts(peer).expect("reads"),
        store.latest_receipts(peer).expect("reads"),
        store.peers().expect("reads").len(),
    )
}

fn is_invalid(error: &StoreError) -> bool {
    matches!(error, StoreError::InvalidOp(_))
}

fn is_unique_violation(error: &StoreError) -> bool {
    matches!(error, StoreError::Sqlite { source, .. } if source.to_string().contains("UNIQUE"))
}

fn is_unknown_peer(error: &StoreError) -> bool {
    matches!(error, StoreError::UnknownPeer(_))
}

type Refused = (&'static str, fn(&Ctx) -> StoreOp, fn(&StoreError) -> bool);

const REFUSED: &[Refused] = &[
    (
        "a second peer entry with a held seq",
        |c| c.store_theirs(entry(&c.bravo, &c.alpha.id(), 1, EntryId::NONE, "again")),
        is_unique_violation,
    ),
    (
        "an own entry skipping a seq",
        |c| StoreOp::AppendOwn {
            peer: c.b(),
            entry: entry(&c.alpha, &c.b(), 5, c.own[3].id(), "gap"),
            frame: vec![1],
        },
        is_invalid,
    ),
    (
        "an own entry naming the wrong prev",
        |c| StoreOp::AppendOwn {
            peer: c.b(),
            entry: entry(&c.alpha, &c.b(), 4, EntryId([7; 32]), "fork"),
            frame: vec![1],
        },
        is_invalid,
    ),
    (
        "an own entry authored by the peer",
        |c| StoreOp::AppendOwn {
            peer: c.b(),
            entry: entry(&c.bravo, &c.alpha.id(), 4, c.theirs[2].id(), "x"),
            frame: vec![1],
        },
        is_invalid,
    ),
    (
        "a peer entry authored by this station",
        |c| c.store_theirs(c.own[3].clone()),
        is_invalid,
    ),
    (
        "a peer entry of another link",
        |c| c.store_theirs(entry(&c.bravo, &c.charlie.id(), 4, c.theirs[2].id(), "x")),
        is_invalid,
    ),
    (
        "an in-head beyond the held entries",
        |c| StoreOp::AdvanceInHead {
            peer: c.b(),
            upto: 5,
        },
        is_invalid,
    ),
    (
        "an in-head that does not move (a delivery repeated)",
        |c| StoreOp::AdvanceInHead {
            peer: c.b(),
            upto: 3,
        },
        is_invalid,
    ),
    (
        "an in-head moving back",
        |c| StoreOp::AdvanceInHead {
            peer: c.b(),
            upto: 1,
        },
        is_invalid,
    ),
    (
        "a transmit of an entry never written",
        |c| StoreOp::MarkTransmitted {
            peer: c.b(),
            seq: 9,
            channel: ChannelKind::Direct,
        },
        is_invalid,
    ),
    (
        "a seq SQLite cannot hold",
        |c| StoreOp::MarkTransmitted {
            peer: c.b(),
            seq: u64::MAX,
            channel: ChannelKind::Direct,
        },
        is_invalid,
    ),
    (
        "evidence against a station that is not paired",
        |c| StoreOp::Evidence {
            peer: c.charlie.id(),
            kind: EvidenceKind::Fork,
            seq: 1,
            detail: "x".into(),
            bytes: vec![],
            time_ms: 1,
        },
        is_unknown_peer,
    ),
    (
        "a new epoch key for a station that is not paired",
        |c| StoreOp::PeerEpochKey {
            peer: c.charlie.id(),
            public: vec![1],
        },
        is_unknown_peer,
    ),
];

/// A cached statement is planned once (SQLite's query planner stability guarantee, set on
/// every connection the store opens). Without it, the query for the end of a log, whose plan
/// looked at its bound values, was planned again at each use once rusqlite had cleared its
/// bindings on taking it back into the cache: once or twice a commit.
#[test]
fn the_end_of_a_log_is_not_planned_again_at_each_use() {
    let ctx = Ctx::new();
    let (_dir, mut store) = ctx.store();
    // Alternate the two logs, as a link does.
    for ops in [
        vec![ctx.append(2)],
        vec![ctx.store_theirs(ctx.theirs[2].clone())],
        vec![ctx.append(3)],
    ] {
        store.commit(&ops).expect("commits");
    }
    let statement = store
        .connection
        .prepare_cached(crate::apply::LAST_ENTRY)
        .expect("cached");
    // The statement the commits ran, not a fresh one.
    assert!(statement.get_status(rusqlite::StatementStatus::Run) >= 3);
    let planned_again = statement.get_status(rusqlite::StatementStatus::RePrepare);
    assert_eq!(planned_again, 0, "planned again");
}

#[test]
fn a_refused_op_rolls_back_its_whole_batch() {
    let ctx = Ctx::new();
    for (name, bad_op, expected) in REFUSED {
        let (_dir, mut store) = ctx.store();
        let before = dump(&store, &ctx.b());
        let mut ops = ctx.valid_prefix();
        ops.push(bad_op(&ctx));
        let error = store.commit(&ops).expect_err(name);
        assert!(expected(&error), "{name}: unexpected error {error}");
        assert_eq!(
            dump(&store, &ctx.b()),
            before,
            "{name}: part of the batch was stored"
        );
    }
    // The prefix alone commits and changes what a reader sees, so the rollbacks above were real.
    let (_dir, mut store) = ctx.store();
    let before = dump(&store, &ctx.b());
    store
        .commit(&ctx.valid_prefix())
        .expect("the prefix commits");
    assert_ne!(dump(&store, &ctx.b()), before);
}

#[test]
fn a_refused_pairing_stores_neither_the_peer_nor_its_ops() {
    let ctx = Ctx::new();
    let (_dir, mut store) = ctx.store();
    let before = dump(&store, &ctx.b());
    let renamed = crate::NewPeer {
        name: "Bravo again",
        ..ctx.bravo.as_new_peer()
    };
    let same_name_other_station = crate::NewPeer {
        name: "Bravo",
        ..ctx.charlie.as_new_peer()
    };
    let wrong_bytes = crate::NewPeer {
        card_bytes: &ctx.bravo.card_bytes,
        ..ctx.charlie.as_new_peer()
    };
    type Case<'a> = (crate::NewPeer<'a>, fn(&StoreError) -> bool);
    let cases: [Case<'_>; 3] = [
        (
            renamed,
            |e| matches!(e, StoreError::PeerExists(m) if m.contains("already paired as")),
        ),
        (
            same_name_other_station,
            |e| matches!(e, StoreError::PeerExists(m) if m.contains("named \"Bravo\"")),
        ),
        (wrong_bytes, is_invalid),
    ];
    for (peer, expected) in cases {
        let name = peer.name;
        let error = store
            .commit_with_peer(Some(peer), &ctx.valid_prefix())
            .expect_err(name);
        assert!(expected(&error), "{name}: unexpected error {error}");
        assert_eq!(dump(&store, &ctx.b()), before, "{name}");
        assert!(
            store
                .peer_by_id(&ctx.charlie.id())
                .expect("reads")
                .is_none()
        );
    }
}

/// After these batches, the outbox of seqs 1…4 is in these states with these delivery times,
/// the receipt kept is the one signed at this time, and its bound is this.
type Delivery = (
    &'static str,
    fn(&Ctx) -> Vec<Vec<StoreOp>>,
    [(DeliveryState, Option<u64>); 4],
    Option<u64>,
    u64,
);

fn transmitted(c: &Ctx, seq: u64) -> StoreOp {
    transmitted_on(c, seq, ChannelKind::Direct)
}

fn transmitted_on(c: &Ctx, seq: u64, channel: ChannelKind) -> StoreOp {
    StoreOp::MarkTransmitted {
        peer: c.b(),
        seq,
        channel,
    }
}

/// Bravo's receipt of Alpha's entries up to `upto` and `extra`, signed at `signed_ms`.
fn receipt(c: &Ctx, upto: u64, extra: &[u64], signed_ms: u64) -> Vec<u8> {
    let head = match upto {
        0 => EntryId::NONE,
        seq => c.own[usize::try_from(seq - 1).expect("small")].id(),
    };
    Receipt {
        link: LinkId::between(&c.bravo.id(), &c.alpha.id()),
        from: c.bravo.id(),
        to: c.alpha.id(),
        upto,
        head,
        extra: extra.to_vec(),
        time_ms: signed_ms,
    }
    .sign(&c.bravo.identity)
}

fn delivered(c: &Ctx, upto: u64, extra: &[u64], signed_ms: u64, received_ms: u64) -> StoreOp {
    StoreOp::MarkDelivered {
        peer: c.b(),
        upto,
        extra: extra.to_vec(),
        receipt: receipt(c, upto, extra, signed_ms),
        newest_ms: signed_ms,
        received_ms,
    }
}

/// Bravo lost seqs `seqs`: they are queued again with a new frame, and its receipt of `upto`
/// signed at `signed_ms` is kept.
fn redelivered(c: &Ctx, seqs: &[u64], upto: u64, signed_ms: u64) -> StoreOp {
    StoreOp::Redeliver {
        peer: c.b(),
        frames: seqs.iter().map(|seq| (*seq, vec![7, 7])).collect(),
        receipt: receipt(c, upto, &[], signed_ms),
        upto,
        received_ms: 90,
    }
}

const QUEUED: (DeliveryState, Option<u64>) = (DeliveryState::Queued, None);
const SENT: (DeliveryState, Option<u64>) = (DeliveryState::Sent, None);
const fn at(ms: u64) -> (DeliveryState, Option<u64>) {
    (DeliveryState::Delivered, Some(ms))
}

const DELIVERIES: &[Delivery] = &[
    ("nothing happened", |_| vec![], [QUEUED; 4], None, 0),
    (
        "a transmit marks sent",
        |c| vec![vec![transmitted(c, 2)]],
        [QUEUED, SENT, QUEUED, QUEUED],
        None,
        0,
    ),
    (
        "a receipt delivers up to its bound",
        |c| {
            vec![vec![
                transmitted(c, 1),
                transmitted(c, 2),
                delivered(c, 2, &[], 5, 50),
            ]]
        },
        [at(50), at(50), QUEUED, QUEUED],
        Some(5),
        2,
    ),
    (
        "a receipt's extra seqs are delivered too",
        |c| vec![vec![delivered(c, 1, &[3], 6, 60)]],
        [at(60), QUEUED, at(60), QUEUED],
        Some(6),
        1,
    ),
    (
        "a transmit after delivery does not downgrade it",
        |c| vec![vec![delivered(c, 2, &[], 5, 50)], vec![transmitted(c, 1)]],
        [at(50), at(50), QUEUED, QUEUED],
        Some(5),
        2,
    ),
    (
        "an older receipt neither re-dates deliveries nor replaces the latest",
        |c| {
            vec![
                vec![delivered(c, 3, &[], 7, 70)],
                vec![delivered(c, 1, &[4], 3, 80)],
            ]
        },
        [at(70), at(70), at(70), at(80)],
        Some(7),
        3,
    ),
    (
        "a receipt with an equal bound replaces the stored one",
        |c| {
            vec![
                vec![delivered(c, 2, &[], 5, 50)],
                vec![delivered(c, 2, &[4], 6, 60)],
            ]
        },
        [at(50), at(50), QUEUED, at(60)],
        Some(6),
        2,
    ),
    (
        "entries the peer lost are queued again and its receipt that holds less is kept",
        |c| {
            vec![
                vec![transmitted(c, 1), delivered(c, 3, &[], 7, 70)],
                vec![redelivered(c, &[2, 3], 1, 9)],
            ]
        },
        [at(70), QUEUED, QUEUED, QUEUED],
        Some(9),
        1,
    ),
];

#[test]
fn the_outbox_follows_transmits_and_receipts() {
    let ctx = Ctx::new();
    for (name, batches, states, receipt_signed_ms, receipt_upto) in DELIVERIES {
        let (_dir, mut store) = ctx.store();
        store
            .commit(&[ctx.append(2), ctx.append(3)])
            .expect("seqs 3 and 4 append");
        for batch in batches(&ctx) {
            store.commit(&batch).expect(name);
        }
        let rows = store.outbox(Some(&ctx.b())).expect("reads");
        let found: Vec<(DeliveryState, Option<u64>)> = rows
            .iter()
            .map(|row| (row.state, row.delivered_ms))
            .collect();
        assert_eq!(found, states, "{name}");
        let kept = store
            .latest_receipts(&ctx.b())
            .expect("reads")
            .map(|bytes| {
                Receipt::decode_verified(&bytes, &ctx.b())
                    .expect("a receipt Bravo signed")
                    .time_ms
            });
        assert_eq!(kept, *receipt_signed_ms, "{name}");
        let snapshot = store.link_snapshot(&ctx.b()).expect("reads");
        assert_eq!(snapshot.peer_receipt_upto, *receipt_upto, "{name}");
        assert_eq!(
            snapshot.peer_receipt_newest_ms,
            receipt_signed_ms.unwrap_or(0),
            "{name}"
        );
        let undelivered: Vec<(u64, bool)> = states
            .iter()
            .zip(1..)
            .filter(|((state, _), _)| *state != DeliveryState::Delivered)
            .map(|((state, _), seq)| (seq, *state == DeliveryState::Sent))
            .collect();
        let restored: Vec<(u64, bool)> = snapshot
            .outbox
            .iter()
            .map(|item| (item.seq, item.transmitted))
            .collect();
        assert_eq!(restored, undelivered, "{name}");
    }
}

/// An entry sent again after the peer lost it is not delivered, and keeps, for the watch a
/// restart loads, when its first receipt came: it was receipted in time. Receipted again, or
/// lost again, it keeps the first time, as the running watch does.
#[test]
fn an_entry_sent_again_keeps_when_it_was_first_receipted() {
    let ctx = Ctx::new();
    let (_dir, mut store) = ctx.store();
    store
        .commit(&[ctx.append(2), delivered(&ctx, 3, &[], 7, 70)])
        .expect("seq 3 appends, 1 to 3 are delivered");
    store
        .commit(&[redelivered(&ctx, &[2, 3], 1, 9)])
        .expect("a loss");
    let record = |store: &Store| store.link_record(&ctx.b()).expect("reads").delivered_ms;
    assert_eq!(record(&store), BTreeMap::from([(1, 70), (2, 70), (3, 70)]));
    store
        .commit(&[delivered(&ctx, 3, &[], 10, 100)])
        .expect("receipted again");
    assert_eq!(record(&store), BTreeMap::from([(1, 70), (2, 70), (3, 70)]));
    store
        .commit(&[redelivered(&ctx, &[3], 2, 11)])
        .expect("lost again");
    assert_eq!(record(&store), BTreeMap::from([(1, 70), (2, 70), (3, 70)]));
}

/// Entries put back in the outbox must be delivered and above the receipt kept with them;
/// otherwise the whole batch is refused and nothing changes.
#[test]
fn entries_are_queued_again_only_when_delivered_and_above_the_receipt_kept() {
    let ctx = Ctx::new();
    // (case, the seq sent again, the bound of the receipt kept with it, the refusal)
    let cases = [
        (
            "covered by the receipt kept",
            2,
            2,
            "the receipt kept covers it",
        ),
        ("not delivered", 3, 1, "it is not delivered"),
    ];
    for (name, seq, upto, why) in cases {
        let (_dir, mut store) = ctx.store();
        store
            .commit(&[ctx.append(2), delivered(&ctx, 2, &[], 7, 70)])
            .expect("seq 3 appends, 1 and 2 are delivered");
        let before = store.outbox(Some(&ctx.b())).expect("reads");
        match store.commit(&[redelivered(&ctx, &[seq], upto, 9)]) {
            Err(StoreError::InvalidOp(message)) => {
                assert!(message.contains(why), "{name}: {message}")
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(
            store.outbox(Some(&ctx.b())).expect("reads"),
            before,
            "{name}"
        );
        assert_eq!(
            store
                .link_snapshot(&ctx.b())
                .expect("reads")
                .peer_receipt_upto,
            2
        );
    }
}

/// The lowest own seq at which the peer holds another entry than the store is kept, from
/// within the own log only (seq 0 and one beyond its last are refused and change nothing), and
/// reads back in the link's snapshot.
#[test]
fn a_fork_is_kept_at_its_lowest_seq_within_the_own_log() {
    let ctx = Ctx::new();
    let (_dir, mut store) = ctx.store();
    store.commit(&[ctx.append(2)]).expect("seq 3 appends");
    let forked = |store: &Store| {
        let snapshot = store.link_snapshot(&ctx.b()).expect("reads");
        (snapshot.out_ids.len() as u64, snapshot.own_log_forked)
    };
    assert_eq!(forked(&store), (3, 0));
    let fork = |seq| StoreOp::LogForked { peer: ctx.b(), seq };
    for seq in [0, 4] {
        match store.commit(&[fork(seq)]) {
            Err(StoreError::InvalidOp(message)) => {
                assert!(
                    message.contains("outside the own log (1 to 3)"),
                    "{message}"
                )
            }
            other => panic!("seq {seq}: {other:?}"),
        }
        assert_eq!(forked(&store), (3, 0), "seq {seq} changed nothing");
    }
    for (seq, kept) in [(3, 3), (2, 2), (3, 2), (1, 1)] {
        store.commit(&[fork(seq)]).expect("within the own log");
        assert_eq!(forked(&store), (3, kept), "after seq {seq}");
    }
}

/// Outstanding entries sealed again keep their state with their new frames; a delivered one
/// among them refuses the batch, which changes nothing.
#[test]
fn entries_sealed_again_replace_the_frames_of_outstanding_ones_only() {
    let ctx = Ctx::new();
    let (_dir, mut store) = ctx.store();
    store
        .commit(&[ctx.append(2), delivered(&ctx, 2, &[], 7, 70)])
        .expect("seq 3 appends, 1 and 2 are delivered");
    let frames = |store: &Store| -> Vec<(u64, Vec<u8>)> {
        let snapshot = store.link_snapshot(&ctx.b()).expect("reads");
        (snapshot.outbox.iter())
            .map(|item| (item.seq, item.frame.clone()))
            .collect()
    };
    assert_eq!(frames(&store), [(3, vec![1, 2])]);
    let resealed = |seqs: &[u64]| StoreOp::Resealed {
        peer: ctx.b(),
        frames: seqs.iter().map(|seq| (*seq, vec![9, 9])).collect(),
    };
    match store.commit(&[resealed(&[3, 2])]) {
        Err(StoreError::InvalidOp(message)) => assert!(
            message.contains("seq 2") && message.contains("not outstanding"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(frames(&store), [(3, vec![1, 2])], "nothing changed");
    store.commit(&[resealed(&[3])]).expect("outstanding");
    assert_eq!(frames(&store), [(3, vec![9, 9])]);
}

/// A log noted behind takes new entries again once it reaches as far as the peer holds it:
/// short of that, the note stays (refused, nothing changed); at it, in the same batch as the
/// entries taken back, it goes.
#[test]
fn a_log_caught_up_only_once_it_reaches_what_the_peer_holds() {
    let ctx = Ctx::new();
    let (_dir, mut store) = ctx.store();
    store.commit(&[ctx.append(2)]).expect("seq 3 appends");
    let behind = |store: &Store| {
        let snapshot = store.link_snapshot(&ctx.b()).expect("reads");
        (snapshot.out_ids.len() as u64, snapshot.own_log_behind)
    };
    let held = StoreOp::LogBehind {
        peer: ctx.b(),
        peer_holds: 4,
    };
    store.commit(&[held]).expect("beyond the own log");
    let caught_up = StoreOp::LogCaughtUp { peer: ctx.b() };
    match store.commit(std::slice::from_ref(&caught_up)) {
        Err(StoreError::InvalidOp(message)) => assert!(
            message.contains("up to seq 4, beyond the own log (seq 3)"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(behind(&store), (3, 4), "nothing changed");
    store
        .commit(&[ctx.append(3), caught_up])
        .expect("as far as the peer holds");
    assert_eq!(behind(&store), (4, 0));
}

/// The newest time is the latest signed into any receipt that marked entries delivered, not
/// that of the receipt kept (the highest bound: here signed earlier, by a clock set back). A
/// loss kept sets it and the floor to its receipt's time; a loss shown by a receipt signed
/// before the floor is refused and changes nothing. A store of version 5 has neither: it
/// opens at the current version with both 0, its kept receipt and bound unchanged.
#[test]
fn receipt_times_follow_receipts_and_losses_and_migrate_to_none() {
    let ctx = Ctx::new();
    let (dir, mut store) = ctx.store();
    store
        .commit(&[ctx.append(2), delivered(&ctx, 2, &[], 7, 70)])
        .expect("seq 3 appends, 1 and 2 are delivered");
    store
        .commit(&[delivered(&ctx, 3, &[], 5, 75)])
        .expect("3 is delivered");
    let times = |store: &Store| {
        let snapshot = store.link_snapshot(&ctx.b()).expect("reads");
        (
            snapshot.peer_receipt_upto,
            snapshot.peer_receipt_newest_ms,
            snapshot.peer_receipt_floor_ms,
        )
    };
    assert_eq!(times(&store), (3, 7, 0));
    drop(store);
    let path = dir.path().join("station.sqlite");
    let raw = rusqlite::Connection::open(&path).expect("opens");
    raw.execute_batch(
        "ALTER TABLE peers DROP COLUMN receipt_newest_ms; \
         ALTER TABLE peers DROP COLUMN receipt_floor_ms; \
         ALTER TABLE peers DROP COLUMN log_behind; \
         ALTER TABLE outbox DROP COLUMN delivered_before_ms; \
         ALTER TABLE station DROP COLUMN stopped_ms; ALTER TABLE peers DROP COLUMN log_forked; PRAGMA user_version = 5;",
    )
    .expect("back to version 5");
    drop(raw);
    let mut store = Store::open(&path).expect("migrates");
    assert_eq!(times(&store), (3, 0, 0));

    store
        .commit(&[redelivered(&ctx, &[3], 2, 9)])
        .expect("a loss");
    assert_eq!(times(&store), (2, 9, 9));
    match store.commit(&[redelivered(&ctx, &[2], 1, 8)]) {
        Err(StoreError::InvalidOp(message)) => {
            assert!(
                message.contains("older than the last such receipt"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(times(&store), (2, 9, 9));
}

/// A store of schema version 3, with an entry sent and one queued, opens at version 4: the
/// outbox keeps its states, and what it sent shows no kind of channel (not known then).
#[test]
fn a_version_3_outbox_migrates_with_its_states() {
    let ctx = Ctx::new();
    let (dir, mut store) = ctx.store();
    store.commit(&[transmitted(&ctx, 1)]).expect("commits");
    drop(store);
    let path = dir.path().join("station.sqlite");
    assert!(path.exists(), "the fixture's store is {}", path.display());
    let raw = rusqlite::Connection::open(&path).expect("opens");
    raw.execute_batch(
        "ALTER TABLE outbox DROP COLUMN sent_on; ALTER TABLE alarms DROP COLUMN hooked; \
         ALTER TABLE peers DROP COLUMN receipt_newest_ms; \
         ALTER TABLE peers DROP COLUMN receipt_floor_ms; \
         ALTER TABLE peers DROP COLUMN log_behind; \
         ALTER TABLE outbox DROP COLUMN delivered_before_ms; \
         ALTER TABLE station DROP COLUMN stopped_ms; ALTER TABLE peers DROP COLUMN log_forked; PRAGMA user_version = 3;",
    )
    .expect("back to version 3");
    drop(raw);
    // Migrated as any open does (the fixture's frames are not envelopes, which a whole
    // `Store::open` would refuse), then read as the outbox is.
    let migrated = crate::schema::open_writer(&path).expect("migrates");
    let rows: Vec<(u64, DeliveryState, Vec<ChannelKind>)> =
        crate::read::outbox_states(&migrated, &ctx.b())
            .expect("reads")
            .into_iter()
            .map(|row| (row.seq, row.state, row.sent_on))
            .collect();
    assert_eq!(
        rows,
        vec![
            (1, DeliveryState::Sent, vec![]),
            (2, DeliveryState::Queued, vec![]),
        ]
    );
}

/// Kinds of channel beyond the three (a changed byte) are refused as corrupt, not shown.
#[test]
fn unknown_channel_kinds_in_the_outbox_are_corrupt() {
    let ctx = Ctx::new();
    let (dir, store) = ctx.store();
    drop(store);
    let path = dir.path().join("station.sqlite");
    let raw = rusqlite::Connection::open(&path).expect("opens");
    raw.execute_batch(
        "PRAGMA ignore_check_constraints = 1; UPDATE outbox SET sent_on = 8 WHERE seq = 1;",
    )
    .expect("changes a byte's worth");
    let error = crate::read::outbox_states(&raw, &ctx.b()).expect_err("refused");
    assert!(
        matches!(&error, StoreError::Corrupt(why) if why.contains("channel kinds 8")),
        "{error:?}"
    );
    raw.execute_batch("UPDATE outbox SET sent_on = 7 WHERE seq = 1;")
        .expect("every kind");
    let rows = crate::read::outbox_states(&raw, &ctx.b()).expect("reads");
    assert_eq!(rows[0].sent_on, ChannelKind::ALL.to_vec());
}

/// Each kind of channel an entry went out on is kept once, a repeat (after a restart) changes
/// nothing, and a delivered entry keeps them.
#[test]
fn the_outbox_keeps_the_kinds_of_channel_each_entry_went_out_on() {
    use ChannelKind::{Courier, Direct, Relay};
    let ctx = Ctx::new();
    let (_dir, mut store) = ctx.store();
    let kinds = |store: &Store| -> Vec<(u64, DeliveryState, Vec<ChannelKind>)> {
        store
            .outbox_states(&ctx.b())
            .expect("reads")
            .into_iter()
            .map(|row| (row.seq, row.state, row.sent_on))
            .collect()
    };
    assert!(kinds(&store).iter().all(|(_, _, on)| on.is_empty()));
    store
        .commit(&[
            transmitted_on(&ctx, 1, Relay),
            transmitted_on(&ctx, 1, Direct),
            transmitted_on(&ctx, 2, Courier),
        ])
        .expect("commits");
    store
        .commit(&[
            transmitted_on(&ctx, 1, Relay),
            delivered(&ctx, 1, &[], 5, 50),
        ])
        .expect("a repeat commits");
    assert_eq!(
        kinds(&store),
        vec![
            (1, DeliveryState::Delivered, vec![Direct, Relay]),
            (2, DeliveryState::Sent, vec![Courier]),
        ]
    );
}

#[test]
fn evidence_and_peer_epoch_keys_are_kept() {
    let ctx = Ctx::new();
    let (_dir, mut store) = ctx.store();
    let new_key = ctx.charlie.epoch.public_bytes().to_vec();
    store.commit(&ctx.valid_prefix()).expect("commits");
    let snapshot = store.link_snapshot(&ctx.b()).expect("reads");
    assert_eq!(snapshot.peer_epoch_public, new_key);
    assert_eq!(snapshot.evidence_count, 1);
    let evidence = store.evidence(Some(&ctx.b())).expect("reads");
    assert_eq!(evidence.len(), 1);
    let record = &evidence[0];
    assert_eq!(
        (
            record.kind.name(),
            record.seq,
            record.peer_name.as_str(),
            record.time_ms
        ),
        ("fork", 2, "Bravo", 40_000)
    );
    assert_eq!(record.bytes, vec![9; 4]);
    assert!(
        store
            .evidence(Some(&ctx.charlie.id()))
            .expect("reads")
            .is_empty()
    );
}

/// When the daemon last stopped cleanly is kept until it runs again; a store of version 7
/// opens at the current version knowing of no clean stop.
#[test]
fn a_clean_stop_is_kept_until_the_daemon_runs_and_migrates_to_none() {
    let ctx = Ctx::new();
    let (dir, mut store) = ctx.store();
    let stopped = |store: &Store| {
        store
            .station()
            .expect("reads")
            .expect("a station")
            .stopped_ms
    };
    assert_eq!(stopped(&store), None);
    store.set_stopped(Some(5_000)).expect("a clean stop");
    assert_eq!(stopped(&store), Some(5_000));
    store.set_stopped(None).expect("running");
    assert_eq!(stopped(&store), None);
    store
        .set_stopped(Some(u64::MAX))
        .expect_err("over SQLite's range");
    store.set_stopped(Some(6_000)).expect("a clean stop");
    drop(store);
    let path = dir.path().join("station.sqlite");
    let raw = rusqlite::Connection::open(&path).expect("opens");
    raw.execute_batch("ALTER TABLE station DROP COLUMN stopped_ms; ALTER TABLE peers DROP COLUMN log_forked; PRAGMA user_version = 7;")
        .expect("back to version 7");
    drop(raw);
    // Migrated as any open does (the fixture's frames are not envelopes, which a whole
    // `Store::open` would refuse), then read as the station is.
    let migrated = crate::schema::open_writer(&path).expect("migrates");
    let station = crate::read::station(&migrated).expect("reads");
    assert_eq!(station.expect("a station").stopped_ms, None);
}
