//! The simulated disk: what one station has durably committed, with the semantics the SQLite
//! store gives the same [`StoreOp`]s, and the [`LinkSnapshot`] a restart is rebuilt from.
//!
//! A commit applies a whole batch in order (one transaction). What `parley-store` refuses is an
//! error here too: an own entry that does not continue the own log, a mark for an own entry
//! never written, a second row for a peer seq, a head that skips an entry not held. Stricter
//! than the store, a head that does not move forward is an error: it would mean a delivery
//! repeated.

use std::collections::BTreeMap;

use parley_proto::{EntryId, LinkSnapshot, OutboxItem, PendingItem, SignedEntry, StoreOp};

/// An own entry as stored.
pub(crate) struct OwnRecord {
    pub entry: SignedEntry,
    pub frame: Vec<u8>,
    pub transmitted: bool,
    /// Covered by a stored receipt (its `upto` or its `extra` list).
    pub receipted: bool,
}

/// One station's durable state for its single link.
pub(crate) struct Disk {
    /// Own entries by seq.
    pub own: BTreeMap<u64, OwnRecord>,
    pub peer_receipt_upto: u64,
    /// Verified peer entries by seq: delivered (up to the head) and held above it.
    pub peer_entries: BTreeMap<u64, SignedEntry>,
    /// The peer's contiguous head: entries up to it are delivered.
    pub in_head: u64,
    /// Every peer seq in the order it was delivered (head advances), for the "once" check.
    pub delivered_log: Vec<u64>,
    pub peer_epoch_public: Vec<u8>,
    /// Evidence records: kind and seq.
    pub evidence: Vec<(parley_proto::EvidenceKind, u64)>,
}

impl Disk {
    /// The disk right after pairing: the peer's epoch key from its pinned card, nothing else.
    pub fn paired(peer_epoch_public: Vec<u8>) -> Self {
        Self {
            own: BTreeMap::new(),
            peer_receipt_upto: 0,
            peer_entries: BTreeMap::new(),
            in_head: 0,
            delivered_log: Vec::new(),
            peer_epoch_public,
            evidence: Vec::new(),
        }
    }

    /// Commits one batch.
    pub fn commit(&mut self, ops: Vec<StoreOp>) -> Result<(), String> {
        ops.into_iter().try_for_each(|op| self.apply(op))
    }

    fn apply(&mut self, op: StoreOp) -> Result<(), String> {
        match op {
            StoreOp::AppendOwn { entry, frame, .. } => {
                let (seq, prev) = (entry.entry().seq, entry.entry().prev);
                let last = self.own.last_key_value();
                let (last_seq, last_id) =
                    last.map_or((0, EntryId::NONE), |(s, r)| (*s, r.entry.id()));
                if seq != last_seq + 1 || prev != last_id {
                    return Err(format!(
                        "AppendOwn seq {seq} does not continue the own log at {last_seq}"
                    ));
                }
                let record = OwnRecord {
                    entry,
                    frame,
                    transmitted: false,
                    receipted: false,
                };
                self.own.insert(seq, record);
            }
            StoreOp::MarkTransmitted { seq, .. } => match self.own.get_mut(&seq) {
                Some(record) => record.transmitted = true,
                None => return Err(format!("MarkTransmitted for own seq {seq}, never written")),
            },
            StoreOp::StorePeerEntry { entry, .. } => {
                let seq = entry.entry().seq;
                if self.peer_entries.contains_key(&seq) {
                    return Err(format!("StorePeerEntry for peer seq {seq}, already held"));
                }
                self.peer_entries.insert(seq, entry);
            }
            StoreOp::AdvanceInHead { upto, .. } => self.advance_in_head(upto)?,
            StoreOp::MarkDelivered { upto, extra, .. } => {
                for (seq, record) in self.own.iter_mut() {
                    if *seq <= upto || extra.contains(seq) {
                        record.receipted = true;
                    }
                }
                self.peer_receipt_upto = self.peer_receipt_upto.max(upto);
            }
            StoreOp::PeerEpochKey { public, .. } => self.peer_epoch_public = public,
            StoreOp::Evidence { kind, seq, .. } => self.evidence.push((kind, seq)),
        }
        Ok(())
    }

    fn advance_in_head(&mut self, upto: u64) -> Result<(), String> {
        if upto <= self.in_head {
            return Err(format!(
                "AdvanceInHead to {upto} does not move the head (at {}): delivered twice",
                self.in_head
            ));
        }
        for seq in self.in_head + 1..=upto {
            if !self.peer_entries.contains_key(&seq) {
                return Err(format!(
                    "AdvanceInHead to {upto} skips peer seq {seq}, not held"
                ));
            }
            self.delivered_log.push(seq);
        }
        self.in_head = upto;
        Ok(())
    }

    /// Own entries not yet covered by a receipt.
    pub fn outbox_depth(&self) -> usize {
        self.own.values().filter(|r| !r.receipted).count()
    }

    /// What a restarted link is rebuilt from.
    pub fn snapshot(&self) -> LinkSnapshot {
        let outbox = self
            .own
            .iter()
            .filter(|(_, record)| !record.receipted)
            .map(|(seq, record)| OutboxItem {
                seq: *seq,
                entry_id: record.entry.id(),
                frame: record.frame.clone(),
                transmitted: record.transmitted,
            })
            .collect();
        let in_pending = self
            .peer_entries
            .range(self.in_head + 1..)
            .map(|(seq, entry)| PendingItem {
                seq: *seq,
                entry_id: entry.id(),
                prev: entry.entry().prev,
            })
            .collect();
        LinkSnapshot {
            out_ids: self.own.values().map(|r| r.entry.id()).collect(),
            outbox,
            peer_receipt_upto: self.peer_receipt_upto,
            in_ids: self.in_ids(),
            in_pending,
            peer_epoch_public: self.peer_epoch_public.clone(),
            evidence_count: self.evidence.len() as u64,
        }
    }

    /// Ids of the delivered peer entries, index `seq - 1`.
    pub fn in_ids(&self) -> Vec<EntryId> {
        self.peer_entries
            .range(..=self.in_head)
            .map(|(_, entry)| entry.id())
            .collect()
    }
}
