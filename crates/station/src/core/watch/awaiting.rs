//! One `understood_overdue` alarm per peer for the peer's operator tests awaiting this
//! station's answer past their time: while one is open, a later test of the peer whose time
//! runs out raises no other (a peer testing every minute through a night with nobody at this
//! desk would otherwise raise one alarm per test, each paging and escalating, and bury the
//! alarms that matter). An answer to the alarm's test, or the peer withdrawing it, clears it;
//! if later tests of the peer are still unanswered past their time, the alarm is raised again
//! on the latest of them. Each test stays listed as awaiting an answer (`inbox --pending`), and
//! the peer's own messages keep an alarm each.

use parley_proto::{EntryId, StationId, TestAnswer};
use parley_store::AlarmKind;

use super::{Awaited, Watch, subject};

impl Watch {
    /// Whether an `understood_overdue` alarm is open for a test of `peer`.
    pub(super) fn peer_tests_alarmed(&self, peer: StationId) -> bool {
        (self.alarms.open()).any(|alarm| {
            alarm.kind == AlarmKind::UnderstoodOverdue
                && alarm.peer == peer
                && EntryId::from_hex(&alarm.subject)
                    .and_then(|id| self.known.get(&id))
                    .is_some_and(|known| !known.own && matches!(known.awaited, Awaited::Test(_)))
        })
    }

    /// A test of `peer` was answered or withdrawn, and its alarm, if open, cleared: if later
    /// tests of the peer are past their time and still unanswered (their time ran out while
    /// an alarm was open, so they raised none), an alarm is raised for the latest of them.
    pub(super) fn still_awaited(&mut self, now_ms: u64, peer: StationId) {
        if self.peer_tests_alarmed(peer) {
            return;
        }
        let Some(link) = self.links.get(&peer) else {
            return;
        };
        let latest = (self.known.iter())
            .filter(|(_, known)| {
                known.peer == peer
                    && !known.own
                    && known.awaited == Awaited::Test(TestAnswer::Operator)
                    && known.answer.is_none()
                    && !known.cancelled
                    && !link.received.contains_key(&known.seq)
            })
            .max_by_key(|(_, known)| known.seq)
            .map(|(id, known)| (*id, known.seq));
        let Some((id, seq)) = latest else {
            return;
        };
        let detail = format!(
            "operator test seq {seq} from the peer has awaited this station's answer past its \
             time: its time ran out while the alarm of an earlier test was open"
        );
        let raised = (self.alarms).raise(
            now_ms,
            (AlarmKind::UnderstoodOverdue, peer, subject(&id)),
            detail,
        );
        self.updates.extend(raised);
    }
}
