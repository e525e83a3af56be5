//! What the watch does when a timer it armed falls due: the warning at half a deadline, then
//! its end (an alarm, and for this station's own message or test, a signed overdue entry);
//! and a channel down for longer than allowed.

use parley_proto::{Body, StationId};
use parley_store::AlarmKind;

use super::items::Append;
use super::link::Deadline;
use super::timers::Slot;
use super::{Awaited, Objective, Warning, Watch, subject};

impl Watch {
    /// A deadline's timer: the warning at half of it, or its end.
    pub(super) fn deadline_due(&mut self, now_ms: u64, peer: StationId, slot: Slot) {
        let link = self
            .links
            .get_mut(&peer)
            .expect("timers are for loaded links");
        let (deadlines, seq) = link.deadlines(slot).expect("a deadline slot");
        let Some(deadline) = deadlines.get_mut(&seq) else {
            return;
        };
        if !deadline.warned {
            deadline.warned = true;
            self.warnings.push(Warning {
                peer,
                id: deadline.id,
                objective: deadline.objective,
                own: !matches!(slot, Slot::Received(_)),
                due_ms: deadline.due_ms,
            });
            if deadline.due_ms > now_ms {
                let due_ms = deadline.due_ms;
                self.timers.arm(peer, slot, due_ms);
                return;
            }
        }
        let deadline = deadlines.remove(&seq).expect("found above");
        self.missed(now_ms, peer, slot, deadline);
    }

    /// A deadline passed: an alarm, and for an own message's or test's answer, signed evidence.
    fn missed(&mut self, now_ms: u64, peer: StationId, slot: Slot, deadline: Deadline) {
        let what = match deadline.awaited {
            Awaited::Message => format!("{} message", deadline.precedence.name().to_uppercase()),
            Awaited::Test(answer) => format!("{} test", answer.name()),
        };
        let waited_s = now_ms.saturating_sub(deadline.created_ms) / 1_000;
        // The time allowed, when more has passed (the daemon was stopped at the deadline, or
        // the peer's message came after it).
        let allowed_s = deadline.due_ms.saturating_sub(deadline.created_ms) / 1_000;
        let allowed = if waited_s > allowed_s {
            format!(" ({allowed_s} s allowed)")
        } else {
            String::new()
        };
        let (kind, detail) = match slot {
            Slot::SentReceipt(seq) => (
                AlarmKind::ReceiptOverdue,
                format!("{what} seq {seq} not receipted after {waited_s} s{allowed}"),
            ),
            Slot::SentAnswer(seq) if deadline.objective == Objective::TestAnswer => (
                AlarmKind::TestMissed,
                format!("{what} seq {seq} not answered after {waited_s} s{allowed}"),
            ),
            Slot::SentAnswer(seq) => (
                AlarmKind::UnderstoodOverdue,
                format!("{what} seq {seq} not answered after {waited_s} s{allowed}"),
            ),
            Slot::Received(seq) => (
                AlarmKind::UnderstoodOverdue,
                format!(
                    "{what} seq {seq} from the peer has awaited this station's answer for \
                     {waited_s} s{allowed}"
                ),
            ),
            _ => unreachable!("only deadline slots miss"),
        };
        if let Slot::SentAnswer(seq) = slot {
            let receipted_ms = self
                .links
                .get_mut(&peer)
                .and_then(|link| link.receipted_ms.remove(&seq));
            self.appends.push_back(Append {
                peer,
                precedence: deadline.precedence,
                body: Body::Overdue {
                    of: deadline.id,
                    objective: deadline.objective,
                    due_ms: deadline.due_ms,
                    receipted_ms,
                },
            });
        }
        // One alarm per absence of the peer's answers to tests: while one is open, a later
        // test missed raises no other (a peer away for a day would raise one per test, each
        // paging and escalating); its overdue entry is signed all the same.
        if kind == AlarmKind::TestMissed && self.absence_alarmed(peer) {
            return;
        }
        // One alarm for the peer's tests awaiting this station's answer (`awaiting.rs`).
        if let Slot::Received(seq) = slot
            && matches!(deadline.awaited, Awaited::Test(_))
            && self.peer_tests_alarmed(peer)
        {
            self.hold_back(peer, seq, deadline.id);
            return;
        }
        let raised = self
            .alarms
            .raise(now_ms, (kind, peer, subject(&deadline.id)), detail);
        self.updates.extend(raised);
    }

    pub(super) fn channel_down(&mut self, now_ms: u64, peer: StationId, channel: u64) {
        let link = self.links.get(&peer).expect("timers are for loaded links");
        let Some(watched) = link.channels.get(&channel) else {
            return;
        };
        let since_ms = watched.down_since_ms.unwrap_or(now_ms);
        let detail = format!(
            "the channel {} has been down for {} s",
            watched.label,
            now_ms.saturating_sub(since_ms) / 1_000
        );
        let condition = (AlarmKind::ChannelDown, peer, watched.label.clone());
        self.updates
            .extend(self.alarms.raise(now_ms, condition, detail));
    }
}
