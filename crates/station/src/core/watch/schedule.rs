//! Scheduled tests: this station's, sent on the schedule it announced to the peer, and the
//! peer's, expected on the schedule the peer announced, with machine tests answered by the
//! station itself.

use parley_proto::{Body, EntryId, Precedence, StationId, TestAnswer, TestSchedule};
use parley_store::AlarmKind;

use super::timers::Slot;
use super::{Append, Awaited, Watch};

impl Watch {
    /// Appends a schedule entry when this station's configured schedule for `peer` differs
    /// from the one last announced; otherwise plans the next test.
    pub(super) fn announce_schedule(&mut self, now_ms: u64, peer: StationId) {
        let configured = self.settings.tests.get(&peer).cloned().unwrap_or_default();
        let link = self.links.get_mut(&peer).expect("loaded");
        let announced = link.own_schedule.as_ref().map(|(schedule, _)| schedule);
        if announced.unwrap_or(&TestSchedule::default()) == &configured {
            self.arm_own_test(now_ms, peer);
            return;
        }
        self.appends.push_back(Append {
            peer,
            precedence: Precedence::Routine,
            body: Body::Schedule(configured),
        });
    }

    /// Answers every machine test of the peer that has no answer yet.
    pub(super) fn answer_machine_tests(&mut self, peer: StationId) {
        let unanswered: Vec<EntryId> = self
            .known
            .iter()
            .filter(|(_, known)| {
                known.peer == peer
                    && !known.own
                    && known.awaited == Awaited::Test(TestAnswer::Machine)
                    && known.answer.is_none()
            })
            .map(|(id, _)| *id)
            .collect();
        for of in unanswered {
            self.appends.push_back(machine_answer(peer, of));
        }
    }

    /// Plans this station's next test on the link, per its announced schedule.
    pub(super) fn arm_own_test(&mut self, now_ms: u64, peer: StationId) {
        let link = self.links.get(&peer).expect("loaded");
        match link
            .own_schedule
            .as_ref()
            .and_then(|(schedule, anchor_ms)| schedule.next_due_ms(*anchor_ms, now_ms))
        {
            Some(due_ms) => self.timers.arm(peer, Slot::OwnTest, due_ms),
            None => self.timers.disarm(peer, Slot::OwnTest),
        }
    }

    /// Plans the check that the peer's next scheduled test came.
    pub(super) fn arm_peer_test(&mut self, peer: StationId) {
        let link = self.links.get(&peer).expect("loaded");
        match (&link.peer_schedule, link.next_expected_ms) {
            (Some((schedule, _)), Some(due_ms)) => {
                self.timers
                    .arm(peer, Slot::PeerTest, due_ms + schedule.answer_within_ms);
            }
            _ => self.timers.disarm(peer, Slot::PeerTest),
        }
    }

    /// At a start after a clean stop, a due time of the peer's tests whose time allowed ended
    /// while the station was stopped is not checked: the station did not watch it, and a test
    /// the peer wrote on time may be waiting at a relay or at the peer (checked at once, it
    /// raised an alarm that cleared seconds later, at every restart across a due time). The
    /// next due time is checked as ever: a peer still silent is alarmed then. One whose check
    /// fell before the stop was done before it. After a crash nothing is skipped: the station
    /// may have checked and lost the alarm with the crash.
    pub(super) fn skip_unwatched(&mut self, now_ms: u64, peer: StationId) {
        let Some(stopped_ms) = self.stopped_ms else {
            return;
        };
        let link = self.links.get_mut(&peer).expect("loaded");
        if let (Some((schedule, anchor_ms)), Some(due_ms)) =
            (&link.peer_schedule, link.next_expected_ms)
        {
            let within_ms = schedule.answer_within_ms;
            let check_ms = due_ms + within_ms;
            if check_ms > stopped_ms && check_ms <= now_ms {
                link.next_expected_ms =
                    schedule.next_due_ms(*anchor_ms, now_ms.saturating_sub(within_ms));
            }
        }
    }

    /// This station's scheduled test is due: send it and plan the next.
    pub(super) fn own_test_due(&mut self, now_ms: u64, peer: StationId) {
        let link = self.links.get(&peer).expect("timers are for loaded links");
        if let Some((schedule, _)) = &link.own_schedule
            && let Some(answer) = schedule.answer
        {
            self.appends.push_back(Append {
                peer,
                precedence: Precedence::Routine,
                body: Body::Test {
                    answer,
                    answer_within_ms: schedule.answer_within_ms,
                },
            });
        }
        self.arm_own_test(now_ms, peer);
    }

    /// The time allowed for the peer's scheduled test has passed: did it come?
    pub(super) fn peer_test_due(&mut self, now_ms: u64, peer: StationId) {
        let link = self
            .links
            .get_mut(&peer)
            .expect("timers are for loaded links");
        let (Some((schedule, anchor_ms)), Some(due_ms)) =
            (&link.peer_schedule, link.next_expected_ms)
        else {
            return;
        };
        let grace_ms = schedule.answer_within_ms;
        // One alarm per absence: while one is open, later tests missed raise no other (a
        // peer silent for a day would raise one per due time, each paging and escalating).
        let open = self
            .alarms
            .open()
            .any(|alarm| alarm.kind == AlarmKind::ExpectedTestNotReceived && alarm.peer == peer);
        if link.last_peer_test_ms < due_ms && !open {
            let detail = format!(
                "the test the peer's schedule announced for {due_ms} (UTC ms) did not arrive \
                 within {} s; tests missed after it raise no other alarm until one arrives",
                grace_ms / 1_000
            );
            let condition = (AlarmKind::ExpectedTestNotReceived, peer, due_ms.to_string());
            self.updates
                .extend(self.alarms.raise(now_ms, condition, detail));
        }
        // After a long absence only the latest due time is checked, not every one missed.
        let skip_to = due_ms.max(now_ms.saturating_sub(grace_ms).saturating_sub(1));
        link.next_expected_ms = schedule.next_due_ms(*anchor_ms, skip_to);
        self.arm_peer_test(peer);
    }
}

/// The station's own answer to a machine test.
pub(super) fn machine_answer(peer: StationId, of: EntryId) -> Append {
    Append {
        peer,
        precedence: Precedence::Routine,
        body: Body::Understood {
            of,
            operator: String::new(),
            restatement: String::new(),
        },
    }
}

/// The latest due time of `schedule` (begun at `anchor_ms`) at or before `at_ms`.
pub(super) fn last_due_ms(schedule: &TestSchedule, anchor_ms: u64, at_ms: u64) -> Option<u64> {
    const DAY_MS: u64 = 24 * 3_600_000;
    if at_ms < anchor_ms {
        return None;
    }
    // The due times after a point a day (or an interval) before, up to `at_ms`.
    let span_ms = if schedule.every_ms > 0 {
        schedule.every_ms
    } else {
        DAY_MS
    };
    let mut due = schedule.next_due_ms(anchor_ms, at_ms.saturating_sub(span_ms).max(anchor_ms))?;
    if due > at_ms {
        return None;
    }
    while let Some(next) = schedule
        .next_due_ms(anchor_ms, due)
        .filter(|next| *next <= at_ms)
    {
        due = next;
    }
    Some(due)
}
