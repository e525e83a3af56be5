//! Checkpoints of the link logs (docs/formats.md §3.5). Per link the core keeps the Merkle
//! trees of both logs; it signs a checkpoint of its own log on the cadence or when asked,
//! checks each of the peer's against the peer's entries delivered here and cosigns it, and
//! checks the peer's cosignatures of its own. A checkpoint that disagrees with the entries
//! delivered, or whose signature does not verify, raises a `split_view` alarm whose detail
//! holds the signed note; the entry that carried it stays in the record as evidence.

use std::collections::{BTreeMap, BTreeSet};

use parley_proto::tlog::head::{
    Cosignature, PqHeadSignature, SignedHead, Witness, WitnessCosignature, origin,
};
use parley_proto::tlog::{self, Hash, Tree};
use parley_proto::{Body, PqPublicKey, Precedence, SignedEntry, StationId, StoreOp};
use parley_store::{AlarmKind, KeptEntry, LinkLeaves};
use serde::{Deserialize, Serialize};

use super::Station;
use super::witnesses::{WitnessItem, WitnessLog};
use crate::api::Sent;
use crate::error::StationError;
use crate::limits::CHECKPOINT_WAIT_MS_MAX;

/// How often a station signs a checkpoint of its log of each link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointSettings {
    /// After this many new entries (checkpoints and cosignatures do not count).
    pub every_entries: u64,
    /// Or this long after the last checkpoint, once any new entry was written, in ms.
    pub every_ms: u64,
    /// The stock witnesses every checkpoint also goes to, besides the link's relays.
    pub witnesses: Vec<Witness>,
}

/// A checkpoint as an entry carried it.
#[derive(Clone, Debug)]
pub(super) struct Carried {
    /// The head, with the author's Ed25519 signature.
    pub(super) head: SignedHead,
    /// The seq of the entry.
    seq: u64,
    /// The time of the entry that carries it, UTC ms (by its author's clock).
    at_ms: u64,
    /// The author's ML-DSA-44 signature of it, if the entry carried one.
    pq: Option<PqHeadSignature>,
}

impl Carried {
    /// The checkpoint `head` with `pq` as the entry of `seq` carried it, at `at_ms`.
    fn new(head: SignedHead, pq: &Option<PqHeadSignature>, seq: u64, at_ms: u64) -> Self {
        Self {
            head,
            seq,
            at_ms,
            pq: pq.clone(),
        }
    }

    /// Its C2SP note as its entry signed it: the author's Ed25519 line, then its ML-DSA-44
    /// line when it carries one and the author's key `pq_key` is known.
    fn note(
        &self,
        (author, other): (&StationId, &StationId),
        pq_key: Option<&PqPublicKey>,
    ) -> String {
        let pq_line = self
            .pq
            .as_ref()
            .zip(pq_key)
            .map(|(pq, key)| pq.line(author, key));
        self.head.note(author, other) + pq_line.as_deref().unwrap_or_default()
    }

    /// Whether its ML-DSA-44 signature verifies under the author's key `pq_key`. A checkpoint
    /// of the peer accepted while the peer's pin had no such key carries a line nobody checked
    /// when it came: it counts only once it verifies under the key pinned since.
    fn post_quantum(&self, names: (&StationId, &StationId), pq_key: Option<&PqPublicKey>) -> bool {
        self.pq
            .as_ref()
            .zip(pq_key)
            .is_some_and(|(pq, key)| pq.verify(&self.head, names, key).is_ok())
    }
}

/// One link's logs as checkpoints see them.
#[derive(Clone, Debug, Default)]
pub(super) struct LinkLogs {
    /// The tree of this station's log, seq 1 upward.
    pub(super) own: Tree,
    /// Own entries since the last own checkpoint that count for the cadence.
    own_new: u64,
    /// When the cadence's clock started: the last own checkpoint (or attempt), or the first
    /// counted entry when there is none.
    since_ms: Option<u64>,
    /// When the entry cadence asked for a checkpoint not written yet. A daemon writes it in
    /// its next turn that writes nothing else, or with other writes once it has waited
    /// [`CHECKPOINT_WAIT_MS_MAX`]: never in the batch of the entry that asked for it, whose
    /// commit, frame and receipt it would otherwise delay by its signatures and the peer's
    /// cosignature. A command on a stopped station, which has no later turn, writes it at
    /// once.
    pub(super) asked_ms: Option<u64>,
    /// The latest own checkpoint.
    pub(super) own_latest: Option<Carried>,
    /// The peer's largest cosignature of an own checkpoint that checked out.
    own_cosigned: Option<Cosignature>,
    /// The peer's cosignatures of this station's log not checked yet, by the seq of the entry
    /// carrying each: each is checked once the peer's log is delivered up to it, in seq order,
    /// so that whether one needs an ML-DSA-44 signature (one did before it) depends neither on
    /// the order they arrived in nor on a restart.
    own_cosigned_waiting: BTreeMap<u64, Cosignature>,
    /// The seq of the first cosignature in the peer's log that carries an ML-DSA-44
    /// signature: every later one must carry one.
    own_cosigned_pq_from: Option<u64>,
    /// The tree of the peer's log as delivered (up to the link's in-head: never an entry held
    /// beyond a gap, nor one that does not continue the chain), seq 1 upward.
    peer: Tree,
    /// The leaves of the peer's entries stored but not delivered yet, by seq.
    peer_held: BTreeMap<u64, Hash>,
    /// The peer's checkpoints not checked yet (not all their entries delivered), by size and
    /// the seq of the entry carrying each.
    peer_waiting: BTreeMap<(u64, u64), Carried>,
    /// The peer's largest checkpoint checked and found good.
    peer_latest: Option<Carried>,
    /// The seq of the first checkpoint in the peer's log that carries an ML-DSA-44 signature:
    /// every later one must carry one (formats.md §3.5, the rule K1 applies to transcripts).
    /// A pin replaced by a version 2 card in place leaves the peer's earlier checkpoints
    /// without one, and they stay good.
    peer_pq_from: Option<u64>,
    /// The witnesses' cosignatures of the peer's checkpoints the peer appended, whose
    /// signatures verify but whose entries are not all delivered yet, by size and the seq of
    /// the entry carrying each.
    peer_witnessed_waiting: BTreeMap<(u64, u64), WitnessCosignature>,
    /// This station's latest cosignature of the peer's log.
    pub(super) peer_cosigned: Option<Cosignature>,
    /// The witnesses of this station's log.
    pub(super) witnesses: BTreeMap<Witness, WitnessLog>,
}

impl LinkLogs {
    /// The leaf of every entry of this station's log, by seq.
    pub(super) fn own_leaves(&self) -> impl Iterator<Item = (u64, Hash)> + '_ {
        (0..self.own.len()).filter_map(|index| Some((index + 1, self.own.leaf(index)?)))
    }

    /// The leaf of every entry of the peer's log stored here, by seq: those delivered, then
    /// those held beyond a gap.
    pub(super) fn peer_leaves(&self) -> impl Iterator<Item = (u64, Hash)> + '_ {
        (0..self.peer.len())
            .filter_map(|index| Some((index + 1, self.peer.leaf(index)?)))
            .chain(self.peer_held.iter().map(|(seq, leaf)| (*seq, *leaf)))
    }

    /// A link's logs from its leaves, the peer's in-head and its record (both authors'
    /// entries but key announcements, by author then seq), as the store holds them.
    pub(super) fn load(
        own_id: &StationId,
        (leaves, in_head): (LinkLeaves, u64),
        entries: &[KeptEntry],
        now_ms: u64,
    ) -> Self {
        let mut logs = LinkLogs {
            own: Tree::of(&leaves.own),
            peer_held: leaves.peer,
            ..LinkLogs::default()
        };
        logs.deliver_peer(in_head);
        // The cadence counts own entries after the last checkpoint but checkpoints and
        // cosignatures (the record lacks key announcements: they are counted from the size).
        let mut last_checkpoint_seq = 0;
        let mut not_counted = 0;
        for kept in entries {
            let entry = kept.entry.entry();
            let time_ms = entry.time_ms.min(now_ms);
            let own = entry.author == *own_id;
            match (&entry.body, own) {
                (Body::Checkpoint(head, pq), true) => {
                    logs.own_latest = Some(Carried::new(*head, pq, entry.seq, time_ms));
                    logs.since_ms = Some(time_ms);
                    last_checkpoint_seq = entry.seq;
                    not_counted = 0;
                }
                (Body::Cosigned(cosigned), true) => {
                    logs.peer_cosigned = Some(cosigned.clone());
                    not_counted += 1;
                }
                (Body::Witnessed(by), true) => {
                    logs.witnessed(by);
                    not_counted += 1;
                }
                (Body::Checkpoint(head, pq), false) => {
                    logs.wait(Carried::new(*head, pq, entry.seq, entry.time_ms));
                }
                (Body::Cosigned(cosigned), false) => {
                    logs.own_cosigned_waiting
                        .insert(entry.seq, cosigned.clone());
                }
                // Checked again (an alarm already raised is not raised twice): one stored
                // beyond a gap before a restart is checked once its entries are delivered.
                (Body::Witnessed(by), false) if by.verify(&entry.author, own_id).is_ok() => {
                    let key = (by.head.size, entry.seq);
                    logs.peer_witnessed_waiting.insert(key, by.clone());
                }
                (_, true) if entry.seq > last_checkpoint_seq => {
                    logs.since_ms.get_or_insert(time_ms);
                }
                _ => {}
            }
        }
        logs.own_new = (logs.own.len() - last_checkpoint_seq).saturating_sub(not_counted);
        if logs.own_new > 0 {
            logs.since_ms.get_or_insert(now_ms);
        }
        // Those delivered and up to the size cosigned were checked when they were delivered:
        // the one cosigned is the latest found good.
        if let Some(cosigned) = logs.peer_cosigned.clone() {
            let size = cosigned.head.size;
            let delivered = logs.peer.len();
            let checked: Vec<(u64, u64)> = (logs.peer_waiting.range(..=(size, u64::MAX)))
                .map(|(k, _)| *k)
                .filter(|(_, seq)| *seq <= delivered)
                .collect();
            for key in checked {
                let carried = logs.peer_waiting.remove(&key).expect("listed");
                if carried.head == cosigned.head {
                    logs.peer_latest = Some(carried);
                }
            }
        }
        logs
    }

    /// The peer's checkpoint `carried` waits until its entries are delivered.
    fn wait(&mut self, carried: Carried) {
        if carried.pq.is_some() {
            let from = self
                .peer_pq_from
                .map_or(carried.seq, |from| from.min(carried.seq));
            self.peer_pq_from = Some(from);
        }
        let key = (carried.head.size, carried.seq);
        self.peer_waiting.insert(key, carried);
    }

    /// A witness's cosignature of this station's log was appended: the witness holds at
    /// least that much of it.
    fn witnessed(&mut self, by: &WitnessCosignature) {
        let w = self.witnesses.entry(by.witness.clone()).or_default();
        w.witnessed(by);
    }

    fn count_new(&mut self, at_ms: u64) {
        self.own_new += 1;
        self.since_ms.get_or_insert(at_ms);
    }

    /// The peer's entries up to `in_head` are delivered: their leaves join the tree.
    fn deliver_peer(&mut self, in_head: u64) {
        while self.peer.len() < in_head {
            let Some(leaf) = self.peer_held.remove(&(self.peer.len() + 1)) else {
                // Delivered but not stored: the store and the link disagree; stop here
                // rather than build a tree of the wrong entries.
                break;
            };
            self.peer.push(leaf);
        }
    }

    /// When the cadence next asks for a checkpoint by time, if any new entry waits.
    fn due_ms(&self, every_ms: u64) -> Option<u64> {
        (self.own_new > 0)
            .then_some(self.since_ms)
            .flatten()
            .map(|since| since.saturating_add(every_ms))
    }

    /// Whether a checkpoint is to be written at `now_ms`: by time, or because the entry
    /// cadence asked for one and this turn writes nothing else (`quiet`) or it waited long
    /// enough.
    fn due_at(&self, now_ms: u64, every_ms: u64, quiet: bool) -> bool {
        let asked = self.asked_ms.is_some_and(|asked_ms| {
            quiet || now_ms >= asked_ms.saturating_add(CHECKPOINT_WAIT_MS_MAX)
        });
        asked || self.due_ms(every_ms).is_some_and(|due| due <= now_ms)
    }
}

/// What a station knows of one link's checkpoints, for `parley checkpoint show`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointReport {
    /// The peer's name.
    pub peer: String,
    /// This station's log of the link.
    pub own: LogCheckpoints,
    /// The peer's log of the link, as this station holds it.
    pub peer_log: LogCheckpoints,
    /// The witnesses of this station's log (the relays of the link's channels).
    pub witnesses: Vec<WitnessItem>,
}

/// One log's checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCheckpoints {
    /// The log's origin (and the key name its checkpoints are signed under).
    pub origin: String,
    /// Entries of the log held (without a gap).
    pub size: u64,
    /// The latest checkpoint of the log (checked, for the peer's log).
    pub latest: Option<CheckpointItem>,
    /// The latest checkpoint of the log cosigned (by the peer for this station's log, by this
    /// station for the peer's), with the cosigned note.
    pub cosigned: Option<CosignedItem>,
}

/// A checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointItem {
    /// Entries it covers.
    pub size: u64,
    /// Their Merkle root, base64 as in the note.
    pub root: String,
    /// Seq of the entry that carries it.
    pub seq: u64,
    /// When it was signed (the entry's time), UTC ms.
    pub at_ms: u64,
    /// Whether it is signed with the author's ML-DSA-44 key too: its note carries that
    /// cosignature line, and it verifies under the key pinned for the author.
    pub post_quantum: bool,
    /// The C2SP signed note.
    pub note: String,
}

/// A cosigned checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignedItem {
    /// Entries it covers.
    pub size: u64,
    /// Their Merkle root, base64.
    pub root: String,
    /// The cosigner's key name.
    pub cosigner: String,
    /// When it was cosigned, seconds since the epoch.
    pub time_s: u64,
    /// Whether the cosignature carries the cosigner's ML-DSA-44 signature and it verifies
    /// under the cosigner's key (this station's, or the peer's pinned one).
    pub post_quantum: bool,
    /// The C2SP note signed by the log's author and cosigned (with the cosigner's ML-DSA-44
    /// line when it carries one and its key is known).
    pub note: String,
}

fn base64(root: &Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(root)
}

impl Station {
    /// Loads every link's logs (at start), then checks what waited: the peer's checkpoints
    /// not cosigned yet, and the peer's cosignatures of this station's log.
    pub(super) fn load_checkpoints(&mut self, now_ms: u64, logs: Vec<(StationId, LinkLogs)>) {
        self.logs = logs.into_iter().collect();
        let every = self.settings.checkpoints.every_entries;
        for logs in self.logs.values_mut() {
            // The entry cadence asked before the stop, and the checkpoint was not written.
            if logs.own_new >= every {
                logs.asked_ms = Some(now_ms);
            }
        }
        let peers: Vec<StationId> = self.logs.keys().copied().collect();
        for peer in peers {
            self.check_waiting(now_ms, peer);
            // A checkpoint written before a stop may not have reached every witness.
            self.submit_to_witnesses(now_ms, peer);
        }
    }

    /// Feeds checkpoints what the endpoint just wrote; signs a checkpoint where the cadence
    /// asks for one, checks and cosigns the peer's.
    pub(super) fn checkpoint_writes(&mut self, now_ms: u64, writes: &[StoreOp]) {
        let own_id = self.identity.id();
        let mut touched = BTreeSet::new();
        for op in writes {
            match op {
                StoreOp::AppendOwn { peer, entry, .. } => {
                    self.own_entry(now_ms, *peer, entry);
                    touched.insert(*peer);
                }
                StoreOp::StorePeerEntry { peer, entry, .. } => {
                    self.peer_entry(now_ms, &own_id, *peer, entry);
                    touched.insert(*peer);
                }
                StoreOp::AdvanceInHead { peer, upto } => {
                    self.logs.entry(*peer).or_default().deliver_peer(*upto);
                    touched.insert(*peer);
                }
                _ => {}
            }
        }
        let every = self.settings.checkpoints.every_entries;
        let live = self.live();
        for peer in touched {
            self.check_waiting(now_ms, peer);
            let Some(logs) = self.logs.get_mut(&peer) else {
                continue;
            };
            if logs.own_new < every {
                continue;
            }
            if live {
                logs.asked_ms.get_or_insert(now_ms);
            } else {
                // A command on a stopped station has no later turn: its one commit carries
                // the checkpoint, and no frame leaves before the daemon starts anyway.
                self.checkpoint_now(now_ms, peer);
            }
        }
    }

    fn own_entry(&mut self, now_ms: u64, peer: StationId, entry: &SignedEntry) {
        let logs = self.logs.entry(peer).or_default();
        logs.own.push(tlog::leaf_hash(entry.bytes()));
        let e = entry.entry();
        debug_assert_eq!(logs.own.len(), e.seq, "own leaves follow own seqs");
        match &e.body {
            Body::Checkpoint(head, pq) => {
                logs.own_latest = Some(Carried::new(*head, pq, e.seq, now_ms));
                logs.own_new = 0;
                logs.since_ms = Some(now_ms);
                logs.asked_ms = None;
                self.submit_to_witnesses(now_ms, peer);
            }
            Body::Cosigned(cosigned) => logs.peer_cosigned = Some(cosigned.clone()),
            Body::Witnessed(by) => logs.witnessed(by),
            _ => logs.count_new(now_ms),
        }
    }

    fn peer_entry(
        &mut self,
        now_ms: u64,
        own_id: &StationId,
        peer: StationId,
        entry: &SignedEntry,
    ) {
        let e = entry.entry();
        let logs = self.logs.entry(peer).or_default();
        if e.seq > logs.peer.len() {
            logs.peer_held.insert(e.seq, tlog::leaf_hash(entry.bytes()));
        }
        match &e.body {
            // Dated by its entry, as a restart loads it.
            Body::Checkpoint(head, pq) => {
                logs.wait(Carried::new(*head, pq, e.seq, e.time_ms));
            }
            Body::Cosigned(cosigned) => {
                logs.own_cosigned_waiting.insert(e.seq, cosigned.clone());
            }
            Body::Witnessed(by) => match by.verify(&peer, own_id) {
                Err(error) => {
                    let subject = format!("witnessed at seq {}", e.seq);
                    let detail = format!(
                        "a witness's cosignature of the peer's log: {error}:\n{}",
                        by.note(&peer, own_id)
                    );
                    self.split_view(now_ms, peer, subject, detail);
                }
                // Its root is checked against the peer's entries once they are delivered.
                Ok(()) => {
                    let key = (by.head.size, e.seq);
                    logs.peer_witnessed_waiting.insert(key, by.clone());
                }
            },
            _ => {}
        }
    }

    /// Checks the peer's cosignatures of this station's log whose entries are delivered, in
    /// seq order.
    fn check_delivered_cosignatures(&mut self, now_ms: u64, peer: StationId) {
        let own_id = self.identity.id();
        let Some(logs) = self.logs.get_mut(&peer) else {
            return;
        };
        let later = logs.own_cosigned_waiting.split_off(&(logs.peer.len() + 1));
        let delivered = std::mem::replace(&mut logs.own_cosigned_waiting, later);
        for (seq, cosigned) in delivered {
            self.check_cosignature(now_ms, &own_id, (peer, seq), &cosigned);
        }
    }

    /// The peer cosigned a checkpoint of this station's log (in its entry `seq`): it must
    /// verify and name this log's root at its size.
    fn check_cosignature(
        &mut self,
        now_ms: u64,
        own_id: &StationId,
        (peer, seq): (StationId, u64),
        cosigned: &Cosignature,
    ) {
        let pq_key = self.peers.get(&peer).and_then(|p| p.pq_key.clone());
        let logs = self.logs.entry(peer).or_default();
        let size = cosigned.head.size;
        // Once the peer's log holds a cosignature signed with both its keys, every later one
        // must be (as its checkpoints, formats.md §3.5).
        let required = logs.own_cosigned_pq_from.is_some_and(|from| from < seq);
        if cosigned.pq.is_some() {
            let from = logs.own_cosigned_pq_from.map_or(seq, |from| from.min(seq));
            logs.own_cosigned_pq_from = Some(from);
        }
        let signed = cosigned.verify_both((own_id, &peer), (pq_key.as_ref(), required));
        let fault = match signed {
            Err(_) if required && cosigned.pq.is_none() => Some(format!(
                "a cosignature of this station's log without the peer's ML-DSA-44 signature, \
                 which its cosignatures carry since seq {}",
                logs.own_cosigned_pq_from.unwrap_or_default()
            )),
            Err(error) => Some(format!("a cosignature of this station's log: {error}")),
            Ok(()) if size > logs.own.len() => Some(format!(
                "a cosignature of this station's log at size {size}, which is only {} long",
                logs.own.len()
            )),
            Ok(()) if logs.own.root_at(size) != Some(cosigned.head.root) => Some(format!(
                "a cosignature of this station's log at size {size} names another root"
            )),
            Ok(()) => None,
        };
        match fault {
            Some(detail) => {
                let note = cosigned.note((own_id, &peer), pq_key.as_ref());
                let subject = format!("cosignature at seq {seq}");
                self.split_view(now_ms, peer, subject, format!("{detail}:\n{note}"));
            }
            None if (logs.own_cosigned.as_ref()).is_none_or(|c| c.head.size < size) => {
                logs.own_cosigned = Some(cosigned.clone());
            }
            None => {}
        }
    }

    /// Checks the peer's checkpoints whose own entries are delivered, and cosigns the largest
    /// good one not cosigned yet.
    fn check_waiting(&mut self, now_ms: u64, peer: StationId) {
        self.check_delivered_cosignatures(now_ms, peer);
        let own_id = self.identity.id();
        let pq_key = self.peers.get(&peer).and_then(|p| p.pq_key.clone());
        let Some(logs) = self.logs.get_mut(&peer) else {
            return;
        };
        let held = logs.peer.len();
        // Ready once its own entry is delivered, not only those it covers: every entry before
        // it has then been seen, so whether an earlier checkpoint carried the peer's ML-DSA-44
        // signature (which makes one required) does not depend on the order they came in.
        let ready: Vec<(u64, u64)> = (logs.peer_waiting.keys())
            .filter(|(_, seq)| *seq <= held)
            .copied()
            .collect();
        let mut faults = Vec::new();
        let mut to_cosign = None;
        for key in ready {
            let carried = logs.peer_waiting.remove(&key).expect("listed");
            let (head, seq) = (carried.head, carried.seq);
            let size = head.size;
            // Once the peer's log holds a checkpoint signed with both its keys, every later
            // one must be.
            let required = logs.peer_pq_from.is_some_and(|from| from < seq);
            let signed = head.verify_both(
                (&peer, &own_id),
                carried.pq.as_ref(),
                (pq_key.as_ref(), required),
            );
            let fault = match signed {
                Err(error) => Some(format!("a checkpoint of the peer's log: {error}")),
                Ok(()) if logs.peer.root_at(size) != Some(head.root) => Some(format!(
                    "the peer's checkpoint at size {size} names another root than its entries \
                     delivered here"
                )),
                Ok(()) => None,
            };
            match fault {
                Some(detail) => {
                    // The evidence is the note as the entry signed it, both signature lines.
                    let note = carried.note((&peer, &own_id), pq_key.as_ref());
                    faults.push((format!("checkpoint at seq {seq}"), detail, note));
                }
                None => {
                    if logs
                        .peer_latest
                        .as_ref()
                        .is_none_or(|latest| latest.head.size <= size)
                    {
                        logs.peer_latest = Some(carried);
                    }
                    let cosigned = logs.peer_cosigned.as_ref().map_or(0, |c| c.head.size);
                    if size > cosigned && to_cosign.is_none_or(|h: SignedHead| h.size < size) {
                        to_cosign = Some(head);
                    }
                }
            }
        }
        // A witness's cosignature the peer appended holds the peer's signed head: a root other
        // than its log's is a history the peer showed the witness and not this station.
        let witnessed: Vec<(u64, u64)> = logs
            .peer_witnessed_waiting
            .range(..=(held, u64::MAX))
            .map(|(key, _)| *key)
            .collect();
        for (size, seq) in witnessed {
            let by = logs
                .peer_witnessed_waiting
                .remove(&(size, seq))
                .expect("listed");
            if logs.peer.root_at(size) != Some(by.head.root) {
                let detail = format!(
                    "a witness cosigned the peer's checkpoint at size {size}, which names another \
                     root than the peer's entries delivered here: the peer showed the witness \
                     another history"
                );
                let subject = format!("witnessed at seq {seq}");
                faults.push((subject, detail, by.note(&peer, &own_id)));
            }
        }
        for (subject, detail, note) in faults {
            self.split_view(now_ms, peer, subject, format!("{detail}:\n{note}"));
        }
        if let Some(head) = to_cosign {
            let cosignature = Cosignature::sign(&self.identity, &peer, head, now_ms / 1_000);
            if let Err(error) = self.endpoint.append(
                now_ms,
                &peer,
                Precedence::Routine,
                Body::Cosigned(cosignature),
            ) {
                tracing::error!(peer = %self.peer_name(&peer), %error, "could not cosign the peer's checkpoint");
            }
        }
    }

    fn split_view(&mut self, now_ms: u64, peer: StationId, subject: String, detail: String) {
        tracing::error!(peer = %self.peer_name(&peer), %subject, "ALARM: a checkpoint disagrees with the log");
        self.watch
            .misbehaviour(now_ms, peer, AlarmKind::SplitView, subject, detail);
    }

    /// Signs a checkpoint of this station's whole log of the link with `peer` and appends it.
    /// A refusal (the outbox is full) is logged, and the cadence waits its time before it
    /// tries again.
    fn checkpoint_now(&mut self, now_ms: u64, peer: StationId) {
        if let Err(error) = self.write_checkpoint(now_ms, peer, None) {
            tracing::error!(peer = %self.peer_name(&peer), %error, "could not write a checkpoint");
            if let Some(logs) = self.logs.get_mut(&peer) {
                logs.since_ms = Some(now_ms);
                logs.asked_ms = None;
            }
        }
    }

    fn write_checkpoint(
        &mut self,
        now_ms: u64,
        peer: StationId,
        operator: Option<&str>,
    ) -> Result<Sent, StationError> {
        let Some(own) = self
            .logs
            .get(&peer)
            .map(|l| &l.own)
            .filter(|own| !own.is_empty())
        else {
            return Err(StationError::Invalid(
                "the link has no entry yet; nothing was stored".into(),
            ));
        };
        let head = SignedHead::sign(&self.identity, &peer, own.len(), own.root());
        let pq = PqHeadSignature::sign(&self.identity, &peer, &head);
        self.write(
            now_ms,
            peer,
            Precedence::Routine,
            Body::Checkpoint(head, Some(pq)),
            operator,
        )
    }

    /// `checkpoint issue`: a checkpoint of this station's log of the link now.
    pub(super) fn issue_checkpoint(
        &mut self,
        now_ms: u64,
        peer: &str,
        operator: Option<&str>,
    ) -> Result<Sent, StationError> {
        let peer = self.resolve_peer(peer)?;
        self.write_checkpoint(now_ms, peer, operator)
    }

    /// Signs the checkpoints the cadence asks for: by time, and those the entry cadence asked
    /// for when nothing else is written in this turn (or they waited long enough).
    pub(super) fn checkpoint_timers(&mut self, now_ms: u64) {
        let every_ms = self.settings.checkpoints.every_ms;
        let quiet = !self.pending.has_writes();
        let due: Vec<StationId> = self
            .logs
            .iter()
            .filter(|(_, logs)| logs.due_at(now_ms, every_ms, quiet))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            self.checkpoint_now(now_ms, peer);
        }
    }

    /// When the cadence next asks for a checkpoint: at once when the entry cadence asked for
    /// one, else by time.
    pub(super) fn next_checkpoint_ms(&self) -> Option<u64> {
        let every_ms = self.settings.checkpoints.every_ms;
        (self.logs.values())
            .flat_map(|l| [l.asked_ms, l.due_ms(every_ms)])
            .flatten()
            .min()
    }

    /// The largest size of this station's log of the link with `peer` the peer cosigned, and
    /// of the peer's log this station cosigned (0 for none).
    pub fn cosigned_upto(&self, peer: &StationId) -> (u64, u64) {
        self.logs.get(peer).map_or((0, 0), |logs| {
            (
                logs.own_cosigned.as_ref().map_or(0, |c| c.head.size),
                logs.peer_cosigned.as_ref().map_or(0, |c| c.head.size),
            )
        })
    }

    /// `checkpoint show`: the link with `peer` (a name or fingerprint).
    pub fn checkpoint_report(&self, peer: &str) -> Result<CheckpointReport, StationError> {
        let peer_id = self.resolve_peer(peer)?;
        let own_id = self.identity.id();
        let logs = self.logs.get(&peer_id).cloned().unwrap_or_default();
        let own_pq = self.identity.pq().public().clone();
        let peer_pq = self.peers.get(&peer_id).and_then(|p| p.pq_key.clone());
        let item = |carried: Carried, author, other, key: Option<&PqPublicKey>| CheckpointItem {
            size: carried.head.size,
            root: base64(&carried.head.root),
            seq: carried.seq,
            at_ms: carried.at_ms,
            post_quantum: carried.post_quantum((author, other), key),
            note: carried.note((author, other), key),
        };
        let cosigned = |c: Cosignature, author, cosigner: &StationId, key: Option<&PqPublicKey>| {
            CosignedItem {
                size: c.head.size,
                root: base64(&c.head.root),
                cosigner: tlog::head::cosigner(cosigner),
                time_s: c.time_s,
                post_quantum: key.is_some_and(|key| c.verify_pq((author, cosigner), key).is_ok()),
                note: c.note((author, cosigner), key),
            }
        };
        Ok(CheckpointReport {
            peer: self.peer_name(&peer_id),
            own: LogCheckpoints {
                origin: origin(&own_id, &peer_id),
                size: logs.own.len(),
                latest: logs
                    .own_latest
                    .map(|l| item(l, &own_id, &peer_id, Some(&own_pq))),
                cosigned: (logs.own_cosigned)
                    .map(|c| cosigned(c, &own_id, &peer_id, peer_pq.as_ref())),
            },
            peer_log: LogCheckpoints {
                origin: origin(&peer_id, &own_id),
                size: logs.peer.len(),
                latest: logs
                    .peer_latest
                    .map(|l| item(l, &peer_id, &own_id, peer_pq.as_ref())),
                cosigned: (logs.peer_cosigned)
                    .map(|c| cosigned(c, &peer_id, &own_id, Some(&own_pq))),
            },
            witnesses: self.witness_report(&peer_id),
        })
    }
}
