//! The link's timer table: every deadline the link keeps, in one ordered set keyed by due time
//! and an enum of what the timer is for. Retransmission is the only kind today; deadlines of
//! answers and checkpoints join it as kinds of their own.

use std::collections::BTreeSet;

use super::channels::ChannelId;

/// What a timer is for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) enum TimerKind {
    /// Send own entry `seq` on `channel` (again).
    Retransmit {
        /// The own entry.
        seq: u64,
        /// The channel.
        channel: ChannelId,
    },
}

/// Timers by due time (UTC ms), then kind: ties fire in a fixed order.
#[derive(Default)]
pub(super) struct Timers {
    due: BTreeSet<(u64, TimerKind)>,
}

impl Timers {
    /// Arms a timer. The caller cancels the previous arming of the same kind, if any.
    pub(super) fn arm(&mut self, due_ms: u64, kind: TimerKind) {
        self.due.insert((due_ms, kind));
    }

    /// Disarms a timer armed for `due_ms`.
    pub(super) fn cancel(&mut self, due_ms: u64, kind: TimerKind) {
        self.due.remove(&(due_ms, kind));
    }

    /// The earliest due time.
    pub(super) fn next_due(&self) -> Option<u64> {
        self.due.first().map(|(due_ms, _)| *due_ms)
    }

    /// Removes and returns the earliest timer due at or before `now_ms`.
    pub(super) fn pop_due(&mut self, now_ms: u64) -> Option<TimerKind> {
        let (due_ms, _) = self.due.first()?;
        if *due_ms > now_ms {
            return None;
        }
        self.due.pop_first().map(|(_, kind)| kind)
    }
}
