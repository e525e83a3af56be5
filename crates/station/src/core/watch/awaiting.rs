//! One `understood_overdue` alarm per peer for the peer's operator tests awaiting this
//! station's answer past their time: while one is open, a later test of the peer whose time
//! runs out raises no other (a peer testing every minute through a night with nobody at this
//! desk would otherwise raise one alarm per test, each paging and escalating, and bury the
//! alarms that matter); it is held back instead. An answer to the alarm's test, or the peer
//! withdrawing it, clears it; if tests were held back and are still unanswered, the alarm is
//! raised again on the latest of them. Each test stays listed as awaiting an answer
//! (`inbox --pending`), and the peer's own messages keep an alarm each.

use parley_proto::{EntryId, StationId};
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

    /// The time of the peer's test `id`, at `seq`, ran out while the alarm of an earlier one
    /// was open: it raises none now.
    pub(super) fn hold_back(&mut self, peer: StationId, seq: u64, id: EntryId) {
        let link = self.links.entry(peer).or_default();
        link.tests_held_back.insert(seq, id);
    }

    /// The peer's test at `seq` was answered or withdrawn, and its alarm, if open, cleared
    /// (`loading`: read again at a start, when every test still unanswered has its deadline
    /// again, and none is held back yet). If no alarm for the peer's tests is open now, the
    /// latest test held back is alarmed.
    pub(super) fn test_awaited_no_more(
        &mut self,
        now_ms: u64,
        peer: StationId,
        seq: u64,
        loading: bool,
    ) {
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        link.tests_held_back.remove(&seq);
        if loading || self.peer_tests_alarmed(peer) {
            return;
        }
        let link = self.links.get_mut(&peer).expect("found above");
        let Some((seq, id)) = link.tests_held_back.pop_last() else {
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
