//! A whole pairing between two real `Endpoint`s, every `StoreOp` committed, the stores reopened
//! and the links rebuilt from their snapshots, checked step by step against one table.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use parley_proto::receipt::Receipt;
use parley_proto::{
    ChannelId, ChannelKind, Endpoint, EntryId, Keyring, LinkSnapshot, Precedence, SignedEntry,
    StationId, StoreOp,
};
use tempfile::TempDir;

use super::fixture::{Station, initialised, temp_path};
use crate::{DeliveryState, Store};

const CHANNEL: ChannelId = ChannelId(1);

/// One station in the test: its keys, protocol state and store.
struct Side {
    station: Station,
    endpoint: Endpoint,
    store: Store,
    path: PathBuf,
    _dir: TempDir,
}

/// Two stations and the wire between them.
struct Net {
    sides: [Side; 2],
    now_ms: u64,
    /// Own entries (author, seq) whose next transmission is lost.
    lose_once: BTreeSet<(StationId, u64)>,
    /// Every envelope frame written, by frame bytes: its author and seq.
    frames: HashMap<Vec<u8>, (StationId, u64)>,
    /// Ids of every entry written, by author and seq.
    ids: HashMap<(StationId, u64), EntryId>,
}

fn endpoint(station: &Station, epoch: parley_proto::EpochSecret, seed: u8) -> Endpoint {
    Endpoint::new(station.identity.clone(), Keyring::new(epoch), [seed; 32])
}

impl Net {
    fn new() -> Self {
        let make = |seed: u8, name: &str| {
            let station = Station::new(seed, name);
            let (dir, path) = temp_path();
            let store = initialised(&path, &station);
            Side {
                endpoint: endpoint(&station, station.epoch.clone(), seed),
                station,
                store,
                path,
                _dir: dir,
            }
        };
        Net {
            sides: [make(1, "Alpha"), make(2, "Bravo")],
            now_ms: 1_700_000_000_000,
            lose_once: BTreeSet::new(),
            frames: HashMap::new(),
            ids: HashMap::new(),
        }
    }

    fn peer_of(&self, side: usize) -> StationId {
        self.sides[1 - side].station.id()
    }

    /// Commits what `side`'s endpoint wrote, remembering frames and ids.
    fn commit(&mut self, side: usize) {
        let ops = self.sides[side].endpoint.take_writes();
        for op in &ops {
            if let StoreOp::AppendOwn { entry, frame, .. } = op {
                let key = (entry.entry().author, entry.entry().seq);
                self.frames.insert(frame.clone(), key);
                self.ids.insert(key, entry.id());
            }
        }
        self.sides[side].store.commit(&ops).expect("ops commit");
    }

    /// Pairs both ways, storing each peer and its first entry in one commit.
    fn pair(&mut self) {
        for side in 0..2 {
            let peer = self.peer_of(side);
            let peer_public = self.sides[1 - side].station.epoch.public_bytes().to_vec();
            self.sides[side]
                .endpoint
                .pair(self.now_ms, peer, peer_public)
                .expect("the card's epoch key is valid");
            let ops = self.sides[side].endpoint.take_writes();
            for op in &ops {
                if let StoreOp::AppendOwn { entry, frame, .. } = op {
                    let key = (entry.entry().author, entry.entry().seq);
                    self.frames.insert(frame.clone(), key);
                    self.ids.insert(key, entry.id());
                }
            }
            let (this, other) = split(&mut self.sides, side);
            this.store
                .commit_with_peer(Some(other.station.as_new_peer()), &ops)
                .expect("pairing commits");
            self.add_channel(side);
        }
    }

    fn add_channel(&mut self, side: usize) {
        let peer = self.peer_of(side);
        let link = self.sides[side].endpoint.link_mut(&peer).expect("paired");
        link.add_channel(CHANNEL, ChannelKind::Direct);
        link.set_channel_up(self.now_ms, CHANNEL, true);
    }

    fn set_up(&mut self, side: usize, up: bool) {
        let peer = self.peer_of(side);
        let now_ms = self.now_ms;
        let link = self.sides[side].endpoint.link_mut(&peer).expect("paired");
        link.set_channel_up(now_ms, CHANNEL, up);
    }

    fn send(&mut self, side: usize, text: &str) -> u64 {
        let peer = self.peer_of(side);
        let now_ms = self.now_ms;
        let (seq, _) = self.sides[side]
            .endpoint
            .send_message(now_ms, &peer, Precedence::Immediate, (text, "en"), false)
            .expect("the message is within limits");
        self.commit(side);
        seq
    }

    /// Runs timers and moves frames both ways until the wire is quiet, committing before every
    /// transmit as a driver must.
    fn pump(&mut self) {
        for _round in 0..100 {
            let mut moved = false;
            for side in 0..2 {
                self.commit(side);
                self.sides[side].endpoint.handle_timeout(self.now_ms);
                self.commit(side);
                while let Some((_, transmit)) = self.sides[side].endpoint.poll_transmit() {
                    moved = true;
                    let written = self.frames.get(transmit.frame.as_ref()).copied();
                    if written.is_some_and(|key| self.lose_once.remove(&key)) {
                        continue;
                    }
                    let other = &mut self.sides[1 - side];
                    other
                        .endpoint
                        .handle_frame(self.now_ms, &transmit.frame)
                        .expect("frames between paired stations are accepted");
                    self.commit(1 - side);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the wire did not go quiet within 100 rounds");
    }

    /// Drops both endpoints and stores, reopens the stores and rebuilds the endpoints from
    /// what is stored alone: epoch keys and link snapshots.
    fn restart(&mut self) {
        for side in 0..2 {
            let peer = self.peer_of(side);
            let before = self.sides[side].store.link_snapshot(&peer).expect("reads");
            let path = self.sides[side].path.clone();
            // The old handle closes as it is replaced (`open.rs` tests a reopen after a drop).
            self.sides[side].store = Store::open(&path).expect("reopens");
            let store = &self.sides[side].store;
            assert_eq!(store.link_snapshot(&peer).expect("reads"), before);
            let mut epochs = store.epoch_keys().expect("epoch keys read");
            let current = epochs.remove(0).key;
            let seed = 50 + u8::try_from(side).expect("two sides");
            let mut endpoint = endpoint(&self.sides[side].station, current, seed);
            endpoint
                .load_link(peer, store.link_snapshot(&peer).expect("reads"))
                .expect("the stored epoch key is valid");
            self.sides[side].endpoint = endpoint;
            self.add_channel(side);
        }
    }

    fn snapshot(&self, side: usize) -> LinkSnapshot {
        self.sides[side]
            .store
            .link_snapshot(&self.peer_of(side))
            .expect("the snapshot reads")
    }
}

fn split(sides: &mut [Side; 2], side: usize) -> (&mut Side, &mut Side) {
    let [a, b] = sides;
    if side == 0 { (a, b) } else { (b, a) }
}

/// The store's snapshot of each side's link is exactly what its live link would be rebuilt
/// from, before and after the store is reopened.
fn check(net: &mut Net, step: &str) {
    for side in 0..2 {
        let peer = net.peer_of(side);
        let live = net.sides[side]
            .endpoint
            .link(&peer)
            .expect("paired")
            .snapshot();
        assert_eq!(net.snapshot(side), live, "{step}: side {side}");
        let path = net.sides[side].path.clone();
        net.sides[side].store = Store::open(&path).expect("reopens");
        assert_eq!(net.snapshot(side), live, "{step}: side {side}, reopened");
    }
}

type Step = (&'static str, fn(&mut Net));

const STEPS: &[Step] = &[
    (
        "paired: both key announcements delivered and receipted",
        |net| {
            net.pair();
            net.pump();
        },
    ),
    ("alpha sends three, the second is lost once", |net| {
        net.send(0, "one");
        let alpha = net.sides[0].station.id();
        net.lose_once.insert((alpha, 3));
        net.send(0, "two");
        net.send(0, "three");
        net.pump();
    }),
    ("alpha's channel goes down; both send", |net| {
        net.set_up(0, false);
        net.send(0, "four");
        net.send(1, "reply");
        net.pump();
    }),
    ("both restart from disk alone", |net| net.restart()),
    (
        "the rebuilt links resend, deliver and receipt everything",
        |net| net.pump(),
    ),
    ("the rebuilt link continues its log", |net| {
        assert_eq!(net.send(0, "five"), 6);
        net.pump();
    }),
];

#[test]
fn the_stored_link_is_the_live_link_step_by_step() {
    let mut net = Net::new();
    for (step, action) in STEPS {
        action(&mut net);
        check(&mut net, step);
    }
    check_reads_after_pairing(&net);
}

/// The operator-facing reads agree with what was sent.
fn check_reads_after_pairing(net: &Net) {
    let (alpha, bravo) = (net.sides[0].station.id(), net.sides[1].station.id());
    let bravo_store = &net.sides[1].store;
    let inbox = bravo_store.inbox(Some(&alpha)).expect("inbox reads");
    let texts: Vec<(&str, u64)> = inbox.iter().map(|m| (m.text.as_str(), m.seq)).collect();
    assert_eq!(
        texts,
        [
            ("one", 2),
            ("two", 3),
            ("three", 4),
            ("four", 5),
            ("five", 6)
        ]
    );
    assert!(
        inbox
            .iter()
            .all(|m| m.from == alpha && m.peer_name == "Alpha")
    );
    assert_eq!(inbox, bravo_store.inbox(None).expect("inbox reads"));

    let alpha_store = &net.sides[0].store;
    let outbox = alpha_store.outbox(Some(&bravo)).expect("outbox reads");
    assert_eq!(outbox.len(), 5, "key announcements are not messages");
    for row in &outbox {
        assert_eq!(row.state, DeliveryState::Delivered, "seq {}", row.seq);
        assert!(row.delivered_ms.is_some());
        assert_eq!(row.entry_id, net.ids[&(alpha, row.seq)]);
        assert_eq!((row.to, row.peer_name.as_str()), (bravo, "Bravo"));
    }
    let counts = bravo_store.counts(&alpha).expect("counts read");
    assert_eq!((counts.outbox_depth, counts.inbox_count), (0, 5));

    let entries = alpha_store.entries(&bravo).expect("entries read");
    assert_eq!(entries.len(), 6 + 2);
    for stored in &entries {
        let entry = SignedEntry::decode_verified(&stored.signed, &stored.author)
            .expect("stored entries verify under their author's key");
        assert_eq!(entry.entry().seq, stored.seq);
        assert_eq!(entry.id(), net.ids[&(stored.author, stored.seq)]);
    }
    let mut order: Vec<(StationId, u64)> = entries.iter().map(|e| (e.author, e.seq)).collect();
    order.sort();
    assert_eq!(
        order,
        entries
            .iter()
            .map(|e| (e.author, e.seq))
            .collect::<Vec<_>>()
    );

    // A link's record leaves the key announcements out, and gives every one's seq by id (an
    // entry's `seen` may name one) and the keys this station announced.
    let record = alpha_store.link_record(&bravo).expect("the record reads");
    let announced: BTreeMap<EntryId, u64> = [alpha, bravo]
        .iter()
        .map(|author| (net.ids[&(*author, 1)], 1))
        .collect();
    assert_eq!(record.key_announcement_seqs, announced);
    assert_eq!(record.own_key_announcements.len(), 1);
    assert_eq!(record.own_key_announcements[0].0, 1);
    assert_eq!(record.entries.len(), entries.len() - 2);
    assert!(
        (record.entries.iter()).all(|kept| !announced.contains_key(&kept.entry.id())),
        "no key announcement among the record's entries"
    );

    let receipt = alpha_store
        .latest_receipts(&bravo)
        .expect("reads")
        .expect("bravo receipted");
    let receipt = Receipt::decode_verified(&receipt, &bravo).expect("the stored receipt verifies");
    assert_eq!(receipt.upto, 6);
    assert!(alpha_store.evidence(None).expect("reads").is_empty());
}

/// A version 1 pin is replaced by the same station's version 2 card, and the store refuses
/// every other replacement on its own, storing nothing: a pin already version 2, a card by
/// another name, another epoch key while the peer has announced none, bytes that are not the
/// card's.
#[test]
fn only_a_version_1_pin_is_replaced_by_its_version_2_card() {
    use crate::AdminOp;
    use parley_proto::ContactCard;
    let (_dir, path) = temp_path();
    let alpha = Station::new(1, "Alpha");
    let mut store = initialised(&path, &alpha);
    let bravo = Station::new(2, "Bravo");
    let signed = |change: &dyn Fn(&mut ContactCard)| {
        let mut card = bravo.card.clone();
        change(&mut card);
        let bytes = card.sign(&bravo.identity);
        (card, bytes)
    };
    let (v1, v1_bytes) = signed(&|card| card.pq_key = None);
    let peer = crate::NewPeer {
        card: &v1,
        card_bytes: &v1_bytes,
        ..bravo.as_new_peer()
    };
    store.commit_with_peer(Some(peer), &[]).expect("pairs");
    let upgrade = |(card, card_bytes): (ContactCard, Vec<u8>)| AdminOp::UpgradePeerCard {
        card: Box::new(card),
        card_bytes,
    };
    let other_key = parley_proto::EpochSecret::from_secret_bytes(&[42; 32]).expect("a seed");
    let refusals = [
        (
            upgrade(signed(&|card| card.name = "Bravo Two".into())),
            "names the station otherwise",
        ),
        (
            upgrade(signed(&|card| {
                card.epoch_key_id = other_key.id();
                card.epoch_public = other_key.public_bytes().to_vec();
            })),
            "announced none",
        ),
        (
            upgrade((v1.clone(), v1_bytes.clone())),
            "only a version 1 pin",
        ),
        (
            upgrade((bravo.card.clone(), v1_bytes.clone())),
            "decode to a different card",
        ),
    ];
    for (op, want) in refusals {
        let error = store.commit_batch(&[op], &[]).expect_err("refused");
        assert!(error.to_string().contains(want), "{error}");
        assert_eq!(store.peers().expect("reads")[0].card, v1);
    }
    let v2 = (bravo.card.clone(), bravo.card_bytes.clone());
    store
        .commit_batch(&[upgrade(v2.clone())], &[])
        .expect("replaced");
    assert_eq!(store.peers().expect("reads")[0].card, bravo.card);
    store.check().expect("checks");
    let again = store
        .commit_batch(&[upgrade(v2)], &[])
        .expect_err("refused");
    assert!(
        again.to_string().contains("only a version 1 pin"),
        "{again}"
    );
}
