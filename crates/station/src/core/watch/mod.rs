//! The watch: what people on watch at both ends must not miss. Deadlines of every message and
//! test, on the side that sent it (receipt, then an answer) and on the side that must answer;
//! scheduled tests, sent on time and expected from the peer; channels and links down for too
//! long; and the alarms all of these raise, escalate and clear.
//!
//! Free of I/O and of the endpoint: the core feeds it what was written and what happened, and
//! takes from it the entries to append (overdue evidence, tests, schedules, machine answers),
//! the alarm changes to store and announce, and the warnings to announce. Its state is rebuilt
//! at start from the store (each link's record and the alarms not cleared), so nothing of it
//! needs writing beyond the entries and alarms it asks for.

mod absence;
pub mod alarms;
mod awaiting;
mod due;
mod items;
pub mod latency;
mod link;
mod schedule;
mod timers;
mod unopened;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use parley_proto::{
    Body, EntryId, Objective, Precedence, SignedEntry, StationId, TestAnswer, TestSchedule,
};
use parley_store::{AlarmKind, AlarmRow, LinkRecord};

pub use self::items::{Answer, Append, Awaited, Known, Warning};
pub use self::unopened::{UNKNOWN_EPOCH_KEY_SUBJECT, UNOPENED_FROM};

use self::alarms::{AlarmBook, AlarmUpdate};
use self::latency::{Latencies, Until};
use self::link::{ChannelWatch, Deadline, LinkWatch};
use self::schedule::{last_due_ms, machine_answer};
use self::timers::{Slot, Timers};
use crate::watch_config::Objectives;

/// Most of a peer's cancellations kept, per link, whose message has not come yet. A message
/// held back on its channel while its cancellation came (stored above the gap) is within the
/// link's reorder window, so its cancellation is among the latest; at this bound the one
/// with the lowest seq, naming a message that should have come long ago, is let go (logged).
pub const EARLY_CANCELLATIONS_MAX: usize = 4_096;

/// What the watch is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchSettings {
    /// Receipt and understood objectives per precedence.
    pub objectives: Objectives,
    /// An unacknowledged alarm escalates after this long, in milliseconds.
    pub escalate_after_ms: u64,
    /// A channel down (or a link without a channel up) this long is alarmed, in milliseconds.
    pub channel_down_after_ms: u64,
    /// This station's test schedule per peer.
    pub tests: BTreeMap<StationId, TestSchedule>,
}

/// The watch of every link, and the alarms.
pub struct Watch {
    settings: WatchSettings,
    links: BTreeMap<StationId, LinkWatch>,
    known: BTreeMap<EntryId, Known>,
    /// The alarms not cleared.
    pub alarms: AlarmBook,
    /// Whether time-driven duties run (a daemon), or only commands (a CLI command offline).
    live: bool,
    timers: Timers,
    updates: Vec<AlarmUpdate>,
    appends: VecDeque<Append>,
    warnings: Vec<Warning>,
    /// How long the peers took with this station's messages, since this watch began.
    latencies: Latencies,
    /// The latest time the store held when this watch was loaded, UTC ms.
    stored_until_ms: u64,
    /// When the daemon last stopped cleanly, if nothing was stored after it.
    stopped_ms: Option<u64>,
    /// Per peer, while its `unknown_epoch_key` alarm is open, the seqs from the lowest to the
    /// highest refused for an epoch key this station does not hold (the lowest moving up as
    /// entries are found stored): the alarm clears once every one is stored, not when a later
    /// entry is (a refused one could never be read while the alarm said all was well).
    unopened: BTreeMap<StationId, (u64, u64)>,
}

/// The subject (alarm condition) naming an entry.
fn subject(id: &EntryId) -> String {
    id.to_string()
}

impl Watch {
    /// An empty watch holding the alarms not cleared (`open`) and ids used up to `id_max`.
    pub fn new(settings: WatchSettings, open: Vec<AlarmRow>, id_max: u64, live: bool) -> Self {
        let alarms = AlarmBook::new(open, id_max, settings.escalate_after_ms);
        Self {
            settings,
            links: BTreeMap::new(),
            known: BTreeMap::new(),
            alarms,
            live,
            timers: Timers::default(),
            updates: Vec::new(),
            appends: VecDeque::new(),
            warnings: Vec::new(),
            latencies: Latencies::default(),
            stored_until_ms: 0,
            stopped_ms: None,
            unopened: BTreeMap::new(),
        }
    }

    /// The watch of a store whose daemon stopped cleanly at `stopped_ms`, every duty due until
    /// then run and committed (`None`: it crashed, or this is not known).
    pub fn stopped_at(mut self, stopped_ms: Option<u64>) -> Self {
        self.stopped_ms = stopped_ms.filter(|ms| *ms >= self.stored_until_ms);
        self
    }

    /// The watch of a store whose latest time is `stored_until_ms`: a check of the peer's
    /// tests due after it may have been done and lost with the stop (its alarm not yet
    /// committed), so [`Watch::load`] does it again.
    pub fn stored_until(mut self, stored_until_ms: u64) -> Self {
        self.stored_until_ms = stored_until_ms;
        self
    }

    /// Loads a link from its record at `now_ms`. A live watch announces this station's test
    /// schedule if it changed, and answers machine tests left unanswered.
    pub fn load(&mut self, now_ms: u64, peer: StationId, own: StationId, record: LinkRecord) {
        self.links.entry(peer).or_default();
        let (own_entries, peer_entries): (Vec<_>, Vec<_>) = record
            .entries
            .into_iter()
            .partition(|kept| kept.entry.entry().author == own);
        // Messages and tests first, then what answers, withdraws or reports on them.
        for kept in own_entries.iter().chain(&peer_entries) {
            let mine = kept.entry.entry().author == own;
            self.note_awaited(peer, &kept.entry, mine);
        }
        for (seq, delivered_ms) in &record.delivered_ms {
            self.receipt_in(peer, *seq, *delivered_ms);
        }
        for kept in own_entries.iter().chain(&peer_entries) {
            let mine = kept.entry.entry().author == own;
            let _ = self.note_reply(now_ms, peer, &kept.entry, mine, true);
        }
        let link = self.links.get_mut(&peer).expect("inserted above");
        if let Some((schedule, anchor_ms)) = &link.peer_schedule {
            // Check again the first due time whose check was not done before the latest time
            // the store holds (the station stopped before it, or before its alarm's commit),
            // then the latest one: the station may have been down when it came.
            let unchecked = schedule
                .next_due_ms(
                    *anchor_ms,
                    self.stored_until_ms
                        .saturating_sub(schedule.answer_within_ms),
                )
                .filter(|due_ms| *due_ms <= now_ms);
            link.next_expected_ms = unchecked
                .or_else(|| last_due_ms(schedule, *anchor_ms, now_ms))
                .or_else(|| schedule.next_due_ms(*anchor_ms, now_ms));
        }
        self.skip_unwatched(now_ms, peer);
        self.arm_peer_test(peer);
        if self.live {
            self.announce_schedule(now_ms, peer);
            self.answer_machine_tests(peer);
        }
    }

    /// Registers a message or test of either side, with its deadlines.
    fn note_awaited(&mut self, peer: StationId, entry: &SignedEntry, own: bool) {
        let fields = entry.entry();
        let (awaited, answer_within_ms) = match &fields.body {
            body if body.message_exercise().is_some() => (Awaited::Message, None),
            Body::Test {
                answer,
                answer_within_ms,
            } => (Awaited::Test(*answer), Some(*answer_within_ms)),
            _ => return,
        };
        self.known.insert(
            entry.id(),
            Known {
                peer,
                own,
                seq: fields.seq,
                awaited,
                precedence: fields.precedence,
                time_ms: fields.time_ms,
                answer: None,
                cancelled: false,
            },
        );
        let objective = self.settings.objectives.of(fields.precedence);
        let deadline = |objective, due_ms| Deadline {
            id: entry.id(),
            precedence: fields.precedence,
            awaited,
            created_ms: fields.time_ms,
            due_ms,
            objective,
            warned: false,
        };
        let answer = match answer_within_ms {
            None => deadline(
                Objective::Understood,
                fields.time_ms + objective.understood_s * 1_000,
            ),
            Some(within_ms) => deadline(Objective::TestAnswer, fields.time_ms + within_ms),
        };
        let seq = fields.seq;
        if own {
            if awaited == Awaited::Message {
                let receipt_due_ms = fields.time_ms + objective.receipt_s * 1_000;
                let receipt = deadline(Objective::Receipt, receipt_due_ms);
                self.watch_deadline(peer, Slot::SentReceipt(seq), receipt);
            }
            self.watch_deadline(peer, Slot::SentAnswer(seq), answer);
        } else if awaited != Awaited::Test(TestAnswer::Machine) {
            self.watch_deadline(peer, Slot::Received(seq), answer);
        }
    }

    fn watch_deadline(&mut self, peer: StationId, slot: Slot, deadline: Deadline) {
        self.timers.arm(peer, slot, deadline.next_ms());
        let link = self.links.entry(peer).or_default();
        let (deadlines, seq) = link.deadlines(slot).expect("a deadline slot");
        deadlines.insert(seq, deadline);
    }

    fn unwatch_deadline(&mut self, peer: StationId, slot: Slot) -> Option<Deadline> {
        self.timers.disarm(peer, slot);
        let link = self.links.get_mut(&peer)?;
        let (deadlines, seq) = link.deadlines(slot).expect("a deadline slot");
        deadlines.remove(&seq)
    }

    /// The receipt of own seq `seq` came at `at_ms`. Returns the entry whose receipt
    /// deadline it ended, and, the first time a message is receipted, its precedence and
    /// time (for its latency).
    fn receipt_in(
        &mut self,
        peer: StationId,
        seq: u64,
        at_ms: u64,
    ) -> (Option<EntryId>, Option<(Precedence, u64)>) {
        let receipt = self.unwatch_deadline(peer, Slot::SentReceipt(seq));
        let Some(link) = self.links.get_mut(&peer) else {
            return (None, None);
        };
        // Still awaiting its answer: receipted now if it was not before.
        let answer_first = link
            .sent_answer
            .get(&seq)
            .filter(|_| !link.receipted_ms.contains_key(&seq));
        let first = receipt
            .as_ref()
            .or(answer_first)
            .filter(|deadline| deadline.awaited == Awaited::Message)
            .map(|deadline| (deadline.precedence, deadline.created_ms));
        if link.sent_answer.contains_key(&seq) {
            link.receipted_ms.entry(seq).or_insert(at_ms);
        }
        (receipt.map(|deadline| deadline.id), first)
    }

    /// Applies an entry that answers, withdraws, reports on or schedules others, or is a test;
    /// returns whether it was an answer that counted (the first, to an entry of the other
    /// side). `loading`: replayed from the store at start (nothing to clear or answer yet).
    fn note_reply(
        &mut self,
        now_ms: u64,
        peer: StationId,
        entry: &SignedEntry,
        own: bool,
        loading: bool,
    ) -> bool {
        let fields = entry.entry();
        match &fields.body {
            Body::Understood { of, operator, .. } | Body::Clarify { of, operator, .. } => {
                let answer = Answer {
                    understood: matches!(fields.body, Body::Understood { .. }),
                    operator: operator.clone(),
                    time_ms: fields.time_ms,
                    seq: fields.seq,
                };
                return self.answered(now_ms, peer, *of, answer, (own, loading));
            }
            Body::Cancel { of, .. } => self.cancelled(now_ms, peer, *of, (own, fields.seq)),
            Body::Overdue { of, .. } if own => {
                if let Some(seq) = self.own_seq(peer, of) {
                    self.unwatch_deadline(peer, Slot::SentAnswer(seq));
                    let link = self.links.get_mut(&peer).expect("known links are loaded");
                    link.receipted_ms.remove(&seq);
                }
            }
            Body::Schedule(schedule) => {
                let link = self.links.entry(peer).or_default();
                let anchored = Some((schedule.clone(), fields.time_ms));
                if own {
                    link.own_schedule = anchored;
                    self.arm_own_test(now_ms, peer);
                } else if fields.seq > link.peer_schedule_seq {
                    // A later schedule stored first (above a gap) stays: the latest governs.
                    link.peer_schedule_seq = fields.seq;
                    link.peer_schedule = anchored;
                    link.next_expected_ms = schedule.next_due_ms(fields.time_ms, now_ms);
                    self.arm_peer_test(peer);
                    // A schedule of no tests ends an absence of the peer's tests alarmed under
                    // the one before: no test will come to clear it.
                    if schedule.is_empty() && !loading {
                        let cleared = self.alarms.clear_kind(
                            now_ms,
                            AlarmKind::ExpectedTestNotReceived,
                            peer,
                        );
                        self.updates.extend(cleared);
                    }
                }
            }
            Body::Test { answer, .. } if !own => {
                let link = self.links.entry(peer).or_default();
                link.last_peer_test_ms = link.last_peer_test_ms.max(fields.time_ms);
                if !loading {
                    let cleared =
                        self.alarms
                            .clear_kind(now_ms, AlarmKind::ExpectedTestNotReceived, peer);
                    self.updates.extend(cleared);
                    if *answer == TestAnswer::Machine {
                        self.appends.push_back(machine_answer(peer, entry.id()));
                    }
                }
            }
            _ => {}
        }
        false
    }

    /// The seq of an own message or test of the link.
    fn own_seq(&self, peer: StationId, id: &EntryId) -> Option<u64> {
        self.known
            .get(id)
            .filter(|known| known.peer == peer && known.own)
            .map(|known| known.seq)
    }

    /// Returns whether the answer counted.
    fn answered(
        &mut self,
        now_ms: u64,
        peer: StationId,
        of: EntryId,
        answer: Answer,
        (by_us, loading): (bool, bool),
    ) -> bool {
        let Some(known) = self.known.get_mut(&of) else {
            tracing::warn!(peer = %peer.short(), %of, "an answer names no message of the link; kept in the record, ignored");
            return false;
        };
        // Only the recipient answers: our answers are to the peer's entries and the peer's to
        // ours. The first answer counts: the first in its author's log, whichever arrived
        // first (a later answer held above a gap may arrive before an earlier one).
        if known.peer != peer || known.own == by_us {
            return false;
        }
        if let Some(kept) = &known.answer {
            if answer.seq < kept.seq {
                known.answer = Some(answer);
            }
            return false;
        }
        known.answer = Some(answer);
        let (seq, own, awaited) = (known.seq, known.own, known.awaited);
        if own && awaited == Awaited::Message && !loading {
            let (precedence, sent_ms) = (known.precedence, known.time_ms);
            self.latencies
                .observe(precedence, Until::Answer, sent_ms, now_ms);
        }
        let kind = if own {
            self.unwatch_deadline(peer, Slot::SentAnswer(seq));
            let link = self.links.get_mut(&peer).expect("known links are loaded");
            link.receipted_ms.remove(&seq);
            match awaited {
                Awaited::Message => AlarmKind::UnderstoodOverdue,
                Awaited::Test(_) => {
                    let written_ms = self.known.get(&of).map_or(0, |known| known.time_ms);
                    let condition = (AlarmKind::TestMissed, peer, subject(&of));
                    let cleared = self.alarms.clear(now_ms, &condition);
                    let ended =
                        cleared.is_some() | self.tests_answered_again(now_ms, peer, written_ms);
                    self.updates.extend(cleared);
                    if ended {
                        self.still_missed(now_ms, peer, written_ms);
                    }
                    AlarmKind::TestMissed
                }
            }
        } else {
            self.unwatch_deadline(peer, Slot::Received(seq));
            AlarmKind::UnderstoodOverdue
        };
        self.updates
            .extend(self.alarms.clear(now_ms, &(kind, peer, subject(&of))));
        if !own && matches!(awaited, Awaited::Test(_)) {
            self.test_awaited_no_more(now_ms, peer, seq, loading);
        }
        true
    }

    /// A cancellation of `of` by this station (`by_us`) or the peer, at `seq` in its log.
    fn cancelled(&mut self, now_ms: u64, peer: StationId, of: EntryId, (by_us, seq): (bool, u64)) {
        let Some(known) = self.known.get_mut(&of) else {
            // The peer's message may still come: held back on its channel.
            if !by_us {
                self.links
                    .entry(peer)
                    .or_default()
                    .cancel_early(peer, of, seq);
            }
            return;
        };
        // Only its author withdraws a message.
        if known.peer != peer || known.own != by_us {
            return;
        }
        known.cancelled = true;
        let (seq, test) = (known.seq, matches!(known.awaited, Awaited::Test(_)));
        if by_us {
            self.unwatch_deadline(peer, Slot::SentReceipt(seq));
            self.unwatch_deadline(peer, Slot::SentAnswer(seq));
            let link = self.links.get_mut(&peer).expect("known links are loaded");
            link.receipted_ms.remove(&seq);
        } else {
            self.unwatch_deadline(peer, Slot::Received(seq));
        }
        for kind in [AlarmKind::ReceiptOverdue, AlarmKind::UnderstoodOverdue] {
            self.updates
                .extend(self.alarms.clear(now_ms, &(kind, peer, subject(&of))));
        }
        if !by_us && test {
            self.test_awaited_no_more(now_ms, peer, seq, false);
        }
    }

    /// This station wrote `entry` on the link with `peer`.
    /// Returns whether it is an answer that counted.
    pub fn own_entry(&mut self, now_ms: u64, peer: StationId, entry: &SignedEntry) -> bool {
        self.note_awaited(peer, entry, true);
        self.note_reply(now_ms, peer, entry, true, false)
    }

    /// A verified entry of `peer` is stored.
    /// Returns whether it is an answer that counted.
    pub fn peer_entry(&mut self, now_ms: u64, peer: StationId, entry: &SignedEntry) -> bool {
        if self.known.contains_key(&entry.id()) {
            return false;
        }
        self.note_awaited(peer, entry, false);
        let id = entry.id();
        let link = self.links.entry(peer).or_default();
        if self.known.contains_key(&id)
            && let Some(seq) = link.cancelled_early.remove(&id)
        {
            self.cancelled(now_ms, peer, id, (false, seq));
        }
        self.note_reply(now_ms, peer, entry, false, false)
    }

    /// The peer's receipt covers the own entries up to `upto`, and `extra`.
    pub fn receipted(&mut self, now_ms: u64, peer: StationId, upto: u64, extra: &[u64]) {
        let Some(link) = self.links.get(&peer) else {
            return;
        };
        let newly_covered = link
            .sent_answer
            .range((Bound::Excluded(link.receipt_upto), Bound::Unbounded))
            .take_while(|(seq, _)| **seq <= upto);
        let covered: Vec<u64> = link
            .sent_receipt
            .range(..=upto)
            .map(|(seq, _)| *seq)
            .chain(newly_covered.map(|(seq, _)| *seq))
            .chain(extra.iter().copied())
            .collect();
        if let Some(link) = self.links.get_mut(&peer) {
            link.receipt_upto = link.receipt_upto.max(upto);
        }
        for seq in covered {
            let (ended, first) = self.receipt_in(peer, seq, now_ms);
            if let Some((precedence, sent_ms)) = first {
                self.latencies
                    .observe(precedence, Until::Receipt, sent_ms, now_ms);
            }
            if let Some(id) = ended {
                let condition = (AlarmKind::ReceiptOverdue, peer, subject(&id));
                self.updates.extend(self.alarms.clear(now_ms, &condition));
            }
        }
        // A receipt after its deadline: the deadline is watched no longer, but its alarm is
        // still open.
        let late: Vec<String> = self
            .alarms
            .open()
            .filter(|alarm| alarm.kind == AlarmKind::ReceiptOverdue && alarm.peer == peer)
            .filter(|alarm| {
                EntryId::from_hex(&alarm.subject)
                    .and_then(|id| self.known.get(&id))
                    .is_some_and(|known| {
                        known.own
                            && known.peer == peer
                            && (known.seq <= upto || extra.contains(&known.seq))
                    })
            })
            .map(|alarm| alarm.subject.clone())
            .collect();
        for subject in late {
            let condition = (AlarmKind::ReceiptOverdue, peer, subject);
            self.updates.extend(self.alarms.clear(now_ms, &condition));
        }
    }

    /// A channel (the core's id `channel`, shown as `label`) of the link with `peer` is usable
    /// or not.
    pub fn channel(
        &mut self,
        now_ms: u64,
        peer: StationId,
        channel: u64,
        label: String,
        usable: bool,
    ) {
        let after_ms = self.settings.channel_down_after_ms;
        let link = self.links.entry(peer).or_default();
        let watched = link.channels.entry(channel).or_insert(ChannelWatch {
            label: label.clone(),
            down_since_ms: None,
        });
        if usable {
            watched.down_since_ms = None;
            self.timers.disarm(peer, Slot::Channel(channel));
            for condition in [
                (AlarmKind::ChannelDown, peer, label),
                (AlarmKind::LinkDown, peer, "link".to_owned()),
            ] {
                self.updates.extend(self.alarms.clear(now_ms, &condition));
            }
        } else if watched.down_since_ms.is_none() {
            watched.down_since_ms = Some(now_ms);
            self.timers
                .arm(peer, Slot::Channel(channel), now_ms + after_ms);
        }
        match link.down_since_ms() {
            Some(since_ms) => self.timers.arm(peer, Slot::Link, since_ms + after_ms),
            None => self.timers.disarm(peer, Slot::Link),
        }
    }

    /// A relay refuses deposits for `peer` (`Some(reason)`), or stored one (`None`).
    pub fn deposits(&mut self, now_ms: u64, peer: StationId, relay: String, refusal: Option<&str>) {
        let condition = (AlarmKind::RelayRefusingDeposits, peer, relay);
        let update = match refusal {
            Some(reason) => {
                let detail = format!("the relay {} refuses deposits: {reason}", condition.2);
                self.alarms.raise(now_ms, condition, detail)
            }
            None => self.alarms.clear(now_ms, &condition),
        };
        self.updates.extend(update);
    }

    /// The number of the alarm open for `kind` on `peer` about `subject`, if one is.
    pub fn open_alarm(&self, kind: AlarmKind, peer: StationId, subject: String) -> Option<u64> {
        self.alarms.id_of(&(kind, peer, subject))
    }

    /// Evidence of misbehaviour by `peer` was stored, or its clock was found too far ahead.
    /// Returns the number of the alarm open for it: raised now, or open already.
    pub fn misbehaviour(
        &mut self,
        now_ms: u64,
        peer: StationId,
        kind: AlarmKind,
        subject: String,
        detail: String,
    ) -> Option<u64> {
        let condition = (kind, peer, subject);
        if let Some(id) = self.alarms.id_of(&condition) {
            return Some(id);
        }
        self.updates
            .extend(self.alarms.raise(now_ms, condition.clone(), detail));
        self.alarms.id_of(&condition)
    }

    /// The condition `(kind, peer, subject)` no longer holds: its alarm, if open, clears.
    pub fn cleared(&mut self, now_ms: u64, (kind, peer, subject): (AlarmKind, StationId, &str)) {
        let condition = (kind, peer, subject.to_owned());
        self.updates.extend(self.alarms.clear(now_ms, &condition));
    }

    /// An operator acknowledges alarm `id`; returns it as it now is.
    pub fn acknowledge(
        &mut self,
        now_ms: u64,
        id: u64,
        by: String,
        note: Option<String>,
    ) -> Result<AlarmRow, alarms::AcknowledgeError> {
        let update = self.alarms.acknowledge(now_ms, id, by, note)?;
        let alarm = update.alarm.clone();
        self.updates.push(update);
        Ok(alarm)
    }

    /// The schedule of tests `peer` announced last in its log, with when it began.
    pub fn peer_schedule(&self, peer: &StationId) -> Option<&(TestSchedule, u64)> {
        self.links.get(peer)?.peer_schedule.as_ref()
    }

    /// This station's configured test schedule for `peer`.
    pub fn schedule_of(&self, peer: &StationId) -> Option<&TestSchedule> {
        self.settings.tests.get(peer)
    }

    /// A message or test by id.
    pub fn known(&self, id: &EntryId) -> Option<&Known> {
        self.known.get(id)
    }

    /// Every message of either side (not tests), as the record holds them.
    pub fn messages(&self) -> impl Iterator<Item = &Known> {
        self.known
            .values()
            .filter(|known| known.awaited == Awaited::Message)
    }

    /// How long the peers took with this station's messages, since this watch began.
    pub fn latencies(&self) -> &Latencies {
        &self.latencies
    }

    /// Every message or test whose id starts with the hex digits `prefix`.
    pub fn matching(&self, prefix: &str) -> Vec<(EntryId, &Known)> {
        let prefix = prefix.to_ascii_lowercase();
        self.known
            .iter()
            .filter(|(id, _)| id.to_string().starts_with(&prefix))
            .map(|(id, known)| (*id, known))
            .collect()
    }

    /// Runs every duty due at `now_ms`: warnings at half a deadline, alarms and overdue
    /// evidence at its end, tests due, tests expected and not come, channels and links down
    /// too long, escalations.
    pub fn tick(&mut self, now_ms: u64) {
        if !self.live {
            return;
        }
        while let Some((peer, slot)) = self.timers.pop_due(now_ms) {
            match slot {
                Slot::SentReceipt(_) | Slot::SentAnswer(_) | Slot::Received(_) => {
                    self.deadline_due(now_ms, peer, slot);
                }
                Slot::OwnTest => self.own_test_due(now_ms, peer),
                Slot::PeerTest => self.peer_test_due(now_ms, peer),
                Slot::Channel(channel) => self.channel_down(now_ms, peer, channel),
                Slot::Link => {
                    let detail = "no channel of the link has been up for longer than allowed";
                    let condition = (AlarmKind::LinkDown, peer, "link".to_owned());
                    let raised = self.alarms.raise(now_ms, condition, detail.into());
                    self.updates.extend(raised);
                }
            }
        }
        let escalated = self.alarms.tick(now_ms);
        self.updates.extend(escalated);
    }

    /// When the next duty is due (`None`: nothing timed is pending, or the watch is not live).
    pub fn next_due_ms(&self) -> Option<u64> {
        if !self.live {
            return None;
        }
        [self.timers.next_ms(), self.alarms.next_due_ms()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Deadlines still watched (receipts and answers, both sides), all links.
    pub fn deadlines_pending(&self) -> usize {
        self.links
            .values()
            .map(|link| link.sent_receipt.len() + link.sent_answer.len() + link.received.len())
            .sum()
    }

    /// What the watch produced since last asked: alarm changes, entries to append, warnings.
    pub fn take(&mut self) -> (Vec<AlarmUpdate>, Vec<Append>, Vec<Warning>) {
        // A machine answer asked for a peer's test that this station's answer followed in the
        // same batch (both taken back from a transcript) is written no more: it would be a
        // second answer.
        let answered_by_us = |of: &EntryId| {
            (self.known.get(of)).is_some_and(|known| !known.own && known.answer.is_some())
        };
        let appends = (self.appends.drain(..))
            .filter(|append| !matches!(&append.body, Body::Understood { of, operator, .. } if operator.is_empty() && answered_by_us(of)))
            .collect();
        (
            std::mem::take(&mut self.updates),
            appends,
            std::mem::take(&mut self.warnings),
        )
    }
}

#[cfg(test)]
mod tests;
