//! Two endpoints and the wire between them, driven as a station driver drives one: every write
//! taken and "committed" (kept in a log per side) before anything is transmitted. A restart
//! rebuilds a side's endpoint from its links' snapshots alone, as a station does from its store.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use parley_proto::seal::EpochSecret;
use parley_proto::{
    Accepted, ChannelId, ChannelKind, Endpoint, EntryId, Identity, Keyring, LinkSnapshot,
    Precedence, Refused, StationId, StoreOp, Transmit,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

/// The one channel of every link in the harness.
pub const CHANNEL: ChannelId = ChannelId(1);
/// The harness's clock at the start, UTC ms.
pub const START_MS: u64 = 1_700_000_000_000;

/// One station: its keys and protocol state, and every op it committed.
pub struct Side {
    pub identity: Identity,
    pub keyring: Keyring,
    pub endpoint: Endpoint,
    pub committed: Vec<StoreOp>,
    restarts: u8,
}

impl Side {
    fn new(seed: u8) -> Self {
        let identity = Identity::from_secret(&[seed; 32]);
        let epoch = EpochSecret::generate(&mut ChaCha20Rng::from_seed([seed; 32]));
        let keyring = Keyring::new(epoch);
        Self {
            endpoint: Endpoint::new(identity.clone(), keyring.clone(), [seed; 32]),
            identity,
            keyring,
            committed: Vec::new(),
            restarts: 0,
        }
    }

    pub fn id(&self) -> StationId {
        self.identity.id()
    }
}

/// Two stations and the wire between them.
pub struct Pair {
    pub sides: [Side; 2],
    pub now_ms: u64,
    /// Own entries (author, seq) whose next transmission is lost.
    pub lose_once: BTreeSet<(StationId, u64)>,
    /// Every envelope frame written: its author and seq.
    pub frames: BTreeMap<Vec<u8>, (StationId, u64)>,
    /// Ids of every entry written, by author and seq.
    pub ids: BTreeMap<(StationId, u64), EntryId>,
    /// Every frame put on the wire, by the side that sent it.
    pub wire: Vec<(usize, Transmit)>,
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}

impl Pair {
    /// Alpha (side 0) and Bravo (side 1), not yet paired.
    pub fn new() -> Self {
        Pair {
            sides: [Side::new(1), Side::new(2)],
            now_ms: START_MS,
            lose_once: BTreeSet::new(),
            frames: BTreeMap::new(),
            ids: BTreeMap::new(),
            wire: Vec::new(),
        }
    }

    /// Alpha and Bravo paired both ways, their key announcements delivered and receipted.
    pub fn paired() -> Self {
        let mut pair = Self::new();
        pair.pair();
        pair.pump();
        pair
    }

    pub fn peer_of(&self, side: usize) -> StationId {
        self.sides[1 - side].id()
    }

    /// Commits what `side`'s endpoint wrote, remembering frames and ids.
    pub fn commit(&mut self, side: usize) {
        let ops = self.sides[side].endpoint.take_writes();
        for op in &ops {
            if let StoreOp::AppendOwn { entry, frame, .. } = op {
                let key = (entry.entry().author, entry.entry().seq);
                self.frames.insert(frame.clone(), key);
                self.ids.insert(key, entry.id());
            }
        }
        self.sides[side].committed.extend(ops);
    }

    /// Pairs both ways (each side writes its key announcement) with the channel up.
    pub fn pair(&mut self) {
        for side in 0..2 {
            let peer = self.peer_of(side);
            let peer_public = self.sides[1 - side]
                .keyring
                .current()
                .public_bytes()
                .to_vec();
            self.sides[side]
                .endpoint
                .pair(self.now_ms, peer, peer_public)
                .expect("the card's epoch key is valid");
            self.commit(side);
            self.add_channel(side);
        }
    }

    fn add_channel(&mut self, side: usize) {
        let (peer, now_ms) = (self.peer_of(side), self.now_ms);
        let link = self.sides[side].endpoint.link_mut(&peer).expect("paired");
        link.add_channel(CHANNEL, ChannelKind::Direct);
        link.set_channel_up(now_ms, CHANNEL, true);
    }

    /// Sets `side`'s channel up or down.
    pub fn set_up(&mut self, side: usize, up: bool) {
        let (peer, now_ms) = (self.peer_of(side), self.now_ms);
        let link = self.sides[side].endpoint.link_mut(&peer).expect("paired");
        link.set_channel_up(now_ms, CHANNEL, up);
    }

    /// `side` sends a message, committed at once.
    pub fn send(&mut self, side: usize, text: &str) -> u64 {
        let (peer, now_ms) = (self.peer_of(side), self.now_ms);
        let (seq, _) = self.sides[side]
            .endpoint
            .send_message(now_ms, &peer, Precedence::Immediate, (text, "en"), false)
            .expect("the message is within limits");
        self.commit(side);
        seq
    }

    /// Hands `frame` to `side` and commits what it wrote.
    pub fn deliver(&mut self, side: usize, frame: &[u8]) -> Result<Accepted, Refused> {
        let result = self.sides[side].endpoint.handle_frame(self.now_ms, frame);
        self.commit(side);
        result
    }

    /// Runs `side`'s timers and returns what it transmits (after committing what it wrote
    /// before, as a driver must).
    pub fn transmits(&mut self, side: usize) -> Vec<Transmit> {
        self.commit(side);
        self.sides[side].endpoint.handle_timeout(self.now_ms);
        let mut out = Vec::new();
        while let Some((_, transmit)) = self.sides[side].endpoint.poll_transmit() {
            out.push(transmit);
        }
        self.commit(side);
        out
    }

    /// Runs timers and moves frames both ways until the wire is quiet.
    pub fn pump(&mut self) {
        for _round in 0..100 {
            let mut moved = false;
            for side in 0..2 {
                for transmit in self.transmits(side) {
                    moved = true;
                    self.wire.push((side, transmit.clone()));
                    let written = self.frames.get(transmit.frame.as_ref()).copied();
                    if written.is_some_and(|key| self.lose_once.remove(&key)) {
                        continue;
                    }
                    self.deliver(1 - side, &transmit.frame)
                        .expect("frames between paired stations are accepted");
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the wire did not go quiet within 100 rounds");
    }

    /// Advances the clock.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// Rebuilds `side`'s endpoint from its link's snapshot alone (everything it wrote is
    /// committed), with the channel registered again and up.
    pub fn restart(&mut self, side: usize) {
        self.commit(side);
        let snapshot = self.snapshot(side);
        self.restore(side, snapshot.clone());
        assert_eq!(self.snapshot(side), snapshot, "a snapshot round-trips");
    }

    /// Rebuilds `side`'s endpoint from `snapshot` (its store put back to that copy), with the
    /// channel registered again and up.
    pub fn restore(&mut self, side: usize, snapshot: LinkSnapshot) {
        let peer = self.peer_of(side);
        let this = &mut self.sides[side];
        this.restarts += 1;
        let seed = [50 + this.restarts; 32];
        let mut endpoint = Endpoint::new(this.identity.clone(), this.keyring.clone(), seed);
        endpoint
            .load_link(peer, snapshot)
            .expect("the snapshot's epoch key is valid");
        this.endpoint = endpoint;
        self.add_channel(side);
    }

    /// `side`'s live link snapshot.
    pub fn snapshot(&self, side: usize) -> LinkSnapshot {
        self.sides[side]
            .endpoint
            .link(&self.peer_of(side))
            .expect("paired")
            .snapshot()
    }

    /// The signed bytes of `side`'s own entries `seqs`, as its store would give them.
    pub fn own_entries(&self, side: usize, seqs: &[u64]) -> Vec<(u64, Vec<u8>)> {
        let own = &self.sides[side];
        seqs.iter()
            .filter_map(|seq| {
                own.committed.iter().find_map(|op| match op {
                    StoreOp::AppendOwn { entry, .. } if entry.entry().seq == *seq => {
                        Some((*seq, entry.bytes().to_vec()))
                    }
                    _ => None,
                })
            })
            .collect()
    }

    /// The id `author` wrote at `seq`.
    pub fn id(&self, author: StationId, seq: u64) -> EntryId {
        self.ids[&(author, seq)]
    }
}
