//! The watch's timers: at most one per (link, slot), kept in due order, so finding what is due
//! costs a look at the first timer, never a scan of every message.

use std::collections::{BTreeMap, BTreeSet};

use parley_proto::StationId;

/// What a timer is for, within one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Slot {
    /// The receipt deadline of an own message (by seq).
    SentReceipt(u64),
    /// The answer deadline of an own message or test (by seq).
    SentAnswer(u64),
    /// The answer deadline of a peer's message or operator test (by seq).
    Received(u64),
    /// This station's next scheduled test.
    OwnTest,
    /// The check that the peer's next scheduled test came.
    PeerTest,
    /// A channel down too long (by the core's channel id).
    Channel(u64),
    /// The link without a channel up too long.
    Link,
}

/// Timers in due order.
#[derive(Debug, Default)]
pub(super) struct Timers {
    armed: BTreeMap<(StationId, Slot), u64>,
    queue: BTreeSet<(u64, StationId, Slot)>,
}

impl Timers {
    /// Sets the timer of `slot` to `due_ms`, replacing any.
    pub(super) fn arm(&mut self, peer: StationId, slot: Slot, due_ms: u64) {
        self.disarm(peer, slot);
        self.armed.insert((peer, slot), due_ms);
        self.queue.insert((due_ms, peer, slot));
    }

    /// Removes the timer of `slot`, if set.
    pub(super) fn disarm(&mut self, peer: StationId, slot: Slot) {
        if let Some(due_ms) = self.armed.remove(&(peer, slot)) {
            self.queue.remove(&(due_ms, peer, slot));
        }
    }

    /// When the first timer is due.
    pub(super) fn next_ms(&self) -> Option<u64> {
        self.queue.first().map(|(due_ms, _, _)| *due_ms)
    }

    /// Takes the first timer due at `now_ms`, if any.
    pub(super) fn pop_due(&mut self, now_ms: u64) -> Option<(StationId, Slot)> {
        let &(due_ms, peer, slot) = self.queue.first()?;
        if due_ms > now_ms {
            return None;
        }
        self.queue.pop_first();
        self.armed.remove(&(peer, slot));
        Some((peer, slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: StationId = StationId([1; 32]);

    #[test]
    fn timers_come_due_in_order_and_rearming_replaces() {
        let mut timers = Timers::default();
        timers.arm(PEER, Slot::SentAnswer(2), 30);
        timers.arm(PEER, Slot::SentReceipt(2), 10);
        timers.arm(PEER, Slot::Link, 20);
        timers.arm(PEER, Slot::SentReceipt(2), 25);
        assert_eq!(timers.next_ms(), Some(20));
        assert_eq!(timers.pop_due(19), None);
        assert_eq!(timers.pop_due(30), Some((PEER, Slot::Link)));
        timers.disarm(PEER, Slot::SentReceipt(2));
        assert_eq!(timers.pop_due(30), Some((PEER, Slot::SentAnswer(2))));
        assert_eq!(timers.pop_due(u64::MAX), None);
        assert_eq!(timers.next_ms(), None);
    }
}
