//! The watch of one link: its deadlines, schedules of tests, channels, and the peer's
//! cancellations that came before their messages.

use std::collections::BTreeMap;

use parley_proto::{EntryId, Objective, Precedence, StationId, TestSchedule};

use super::EARLY_CANCELLATIONS_MAX;
use super::items::Awaited;
use super::timers::Slot;

/// A deadline being watched: an own message or test (receipt, answer), or a peer's (our
/// answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Deadline {
    pub(super) id: EntryId,
    pub(super) precedence: Precedence,
    pub(super) awaited: Awaited,
    pub(super) created_ms: u64,
    pub(super) due_ms: u64,
    pub(super) objective: Objective,
    pub(super) warned: bool,
}

impl Deadline {
    pub(super) fn warn_at_ms(&self) -> u64 {
        self.created_ms + self.due_ms.saturating_sub(self.created_ms) / 2
    }

    pub(super) fn next_ms(&self) -> u64 {
        if self.warned {
            self.due_ms
        } else {
            self.warn_at_ms()
        }
    }
}

/// A channel's state, for channel-down and link-down alarms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ChannelWatch {
    pub(super) label: String,
    pub(super) down_since_ms: Option<u64>,
}

/// The watch of one link.
#[derive(Debug, Default)]
pub(super) struct LinkWatch {
    /// Own messages by seq: receipt deadlines.
    pub(super) sent_receipt: BTreeMap<u64, Deadline>,
    /// Own messages and tests by seq: answer deadlines.
    pub(super) sent_answer: BTreeMap<u64, Deadline>,
    /// When each own seq was receipted, while its answer is still awaited.
    pub(super) receipted_ms: BTreeMap<u64, u64>,
    /// The highest cumulative bound of the peer's receipts applied since the watch was
    /// loaded: each own seq at or below it still awaiting its answer has its time in
    /// `receipted_ms` already, and no seq is written at or below it later (a receipt beyond
    /// the own log is refused before it reaches the watch). A receipt then looks only at the
    /// awaited seqs above it, not at every message still awaiting its answer.
    pub(super) receipt_upto: u64,
    /// The peer's messages and operator tests awaiting this station's answer, by seq.
    pub(super) received: BTreeMap<u64, Deadline>,
    /// This station's schedule as last announced, with when it began.
    pub(super) own_schedule: Option<(TestSchedule, u64)>,
    /// The peer's schedule as announced last in its log, with when it began.
    pub(super) peer_schedule: Option<(TestSchedule, u64)>,
    /// The seq of the peer's entry that announced `peer_schedule` (0: none).
    pub(super) peer_schedule_seq: u64,
    /// The due time of the peer's tests to check next.
    pub(super) next_expected_ms: Option<u64>,
    /// The time of the newest test the peer sent.
    pub(super) last_peer_test_ms: u64,
    /// The peer's cancellations stored before the message they name: the seq of the
    /// cancellation, by the message's id (applied when the message is stored, so the order
    /// entries are stored in does not matter).
    pub(super) cancelled_early: BTreeMap<EntryId, u64>,
    /// Channels by the core's id.
    pub(super) channels: BTreeMap<u64, ChannelWatch>,
    /// The peer's operator tests whose time ran out while the alarm of an earlier one was
    /// open, so they raised none, and still unanswered: by seq (`awaiting.rs`).
    pub(super) tests_held_back: BTreeMap<u64, EntryId>,
}

impl LinkWatch {
    /// Keeps the peer's cancellation (at `seq`) of a message `of` not come yet, up to
    /// [`EARLY_CANCELLATIONS_MAX`]: past it, the one with the lowest seq goes.
    pub(super) fn cancel_early(&mut self, peer: StationId, of: EntryId, seq: u64) {
        if self.cancelled_early.len() >= EARLY_CANCELLATIONS_MAX
            && !self.cancelled_early.contains_key(&of)
        {
            let lowest = (self.cancelled_early.iter())
                .min_by_key(|(_, seq)| **seq)
                .map(|(id, seq)| (*id, *seq));
            match lowest {
                Some((id, lowest)) if lowest < seq => {
                    self.cancelled_early.remove(&id);
                    tracing::warn!(peer = %peer.short(), of = %id, "a cancellation of a message that has not come was let go: over {EARLY_CANCELLATIONS_MAX} kept for this link");
                }
                _ => {
                    tracing::warn!(peer = %peer.short(), %of, "a cancellation of a message that has not come was not kept: over {EARLY_CANCELLATIONS_MAX} kept for this link");
                    return;
                }
            }
        }
        let kept = self.cancelled_early.entry(of).or_insert(seq);
        *kept = (*kept).min(seq);
    }

    /// When the link as a whole has been without a usable channel since, if it has.
    pub(super) fn down_since_ms(&self) -> Option<u64> {
        if self.channels.is_empty() {
            return None;
        }
        self.channels
            .values()
            .map(|channel| channel.down_since_ms)
            .try_fold(0, |latest: u64, since| since.map(|since| latest.max(since)))
    }

    pub(super) fn deadlines(&mut self, slot: Slot) -> Option<(&mut BTreeMap<u64, Deadline>, u64)> {
        match slot {
            Slot::SentReceipt(seq) => Some((&mut self.sent_receipt, seq)),
            Slot::SentAnswer(seq) => Some((&mut self.sent_answer, seq)),
            Slot::Received(seq) => Some((&mut self.received, seq)),
            _ => None,
        }
    }
}
