//! One `test_missed` alarm per absence of the peer's answers to this station's tests: while
//! one is open, a later test missed raises no other; an answer to its test, or to a test
//! written after it was raised, ends it; and an absence that goes on after its test was
//! answered is alarmed again on the latest test still missed.

use parley_proto::StationId;
use parley_store::AlarmKind;

use super::{Awaited, Watch, subject};

impl Watch {
    /// Whether a `test_missed` alarm is open for `peer`: an absence already alarmed.
    pub(super) fn absence_alarmed(&self, peer: StationId) -> bool {
        (self.alarms.open()).any(|alarm| alarm.kind == AlarmKind::TestMissed && alarm.peer == peer)
    }

    /// The peer answered a test this station wrote at `written_ms`: an absence of its answers
    /// alarmed before then (once, for the first test it missed) is over, and that alarm clears
    /// (the overdue entries stay). An answer to a test written before the alarm, such as one
    /// that came before the alarm's test was missed, read again at a start, clears nothing.
    /// Returns whether one was open.
    pub(super) fn tests_answered_again(
        &mut self,
        now_ms: u64,
        peer: StationId,
        written_ms: u64,
    ) -> bool {
        let ended: Vec<String> = (self.alarms.open())
            .filter(|alarm| alarm.kind == AlarmKind::TestMissed && alarm.peer == peer)
            .filter(|alarm| alarm.raised_ms <= written_ms)
            .map(|alarm| alarm.subject.clone())
            .collect();
        let any = !ended.is_empty();
        for subject in ended {
            let condition = (AlarmKind::TestMissed, peer, subject);
            self.updates.extend(self.alarms.clear(now_ms, &condition));
        }
        any
    }

    /// The `test_missed` alarm of an absence cleared with the answer to a test written at
    /// `answered_ms`, but tests written after it were missed (their time ran out while it was
    /// open, so they raised none) and are still unanswered: the absence goes on, and an
    /// alarm is raised for the latest of them.
    pub(super) fn still_missed(&mut self, now_ms: u64, peer: StationId, answered_ms: u64) {
        let Some(link) = self.links.get(&peer) else {
            return;
        };
        let latest = (self.known.iter())
            .filter(|(_, known)| {
                known.peer == peer
                    && known.own
                    && matches!(known.awaited, Awaited::Test(_))
                    && known.answer.is_none()
                    && !known.cancelled
                    && known.time_ms > answered_ms
                    && !link.sent_answer.contains_key(&known.seq)
            })
            .max_by_key(|(_, known)| known.seq)
            .map(|(id, known)| (*id, known.seq, known.awaited));
        let Some((id, seq, Awaited::Test(answer))) = latest else {
            return;
        };
        if self.absence_alarmed(peer) {
            return;
        }
        let detail = format!(
            "{} test seq {seq} not answered in time: missed while the alarm of an earlier test \
             was open, which an answer to that one cleared",
            answer.name()
        );
        let raised = self
            .alarms
            .raise(now_ms, (AlarmKind::TestMissed, peer, subject(&id)), detail);
        self.updates.extend(raised);
    }
}
