//! The watch on its own: which answers count.

use parley_proto::{Entry, Identity, LinkId};
use parley_store::LinkRecord;

use super::*;

struct Link {
    us: Identity,
    peer: Identity,
    written: [Vec<SignedEntry>; 2],
}

impl Link {
    fn new() -> Self {
        Self {
            us: Identity::from_secret(&[1; 32]),
            peer: Identity::from_secret(&[2; 32]),
            written: [Vec::new(), Vec::new()],
        }
    }

    /// The next entry of our log (`by_peer` false) or the peer's, written at 1,000 ms.
    fn write(&mut self, by_peer: bool, body: Body) -> SignedEntry {
        self.write_at(by_peer, 1_000, body)
    }

    /// The next entry of our log (`by_peer` false) or the peer's, written at `time_ms`.
    fn write_at(&mut self, by_peer: bool, time_ms: u64, body: Body) -> SignedEntry {
        let author = if by_peer { &self.peer } else { &self.us };
        let log = &mut self.written[usize::from(by_peer)];
        let entry = Entry {
            link: LinkId::between(&self.us.id(), &self.peer.id()),
            author: author.id(),
            seq: log.len() as u64 + 1,
            prev: log.last().map_or(EntryId::NONE, SignedEntry::id),
            seen: EntryId::NONE,
            time_ms,
            precedence: Precedence::Flash,
            body,
            operator: None,
        }
        .sign(author);
        log.push(entry.clone());
        entry
    }
}

/// The watch's settings in these tests: the default objectives, no tests scheduled.
fn settings() -> WatchSettings {
    WatchSettings {
        objectives: Objectives::default(),
        escalate_after_ms: 300_000,
        channel_down_after_ms: 60_000,
        tests: BTreeMap::new(),
    }
}

fn understood(of: EntryId) -> Body {
    Body::Understood {
        of,
        operator: "Ana".into(),
        restatement: String::new(),
    }
}

/// Only the first answer to an entry of the other side counts: the core announces those
/// alone.
#[test]
fn only_the_first_answer_from_the_other_side_counts() {
    let mut link = Link::new();
    let settings = settings();
    let mut watch = Watch::new(settings, Vec::new(), 0, true);
    let peer = link.peer.id();
    let record = LinkRecord {
        entries: Vec::new(),
        delivered_ms: BTreeMap::new(),
        own_key_announcements: Vec::new(),
        key_announcement_seqs: BTreeMap::new(),
    };
    watch.load(1_000, peer, link.us.id(), record);
    let message = Body::Message {
        text: "hold fire".into(),
        lang: "en".into(),
        exercise: false,
        translations: Vec::new(),
    };
    let ours = link.write(false, message);
    assert!(!watch.own_entry(1_000, peer, &ours));
    // We cannot answer our own message; the peer's first answer counts, its second not.
    let self_answer = link.write(false, understood(ours.id()));
    assert!(!watch.own_entry(1_001, peer, &self_answer));
    let first = link.write(true, understood(ours.id()));
    assert!(watch.peer_entry(1_002, peer, &first));
    let second = link.write(true, understood(ours.id()));
    assert!(!watch.peer_entry(1_003, peer, &second));
    // Nor does an answer naming nothing known, or the same entry stored twice.
    let stray = link.write(true, understood(EntryId([9; 32])));
    assert!(!watch.peer_entry(1_004, peer, &stray));
    assert!(!watch.peer_entry(1_005, peer, &first));
    // Two answers to another message, the later in the peer's log arriving first: it
    // counts (the deadline ends), and the earlier, when it comes, is the answer kept, as
    // the record shows it.
    let again = link.write(
        false,
        Body::Message {
            text: "and the valley?".into(),
            lang: "en".into(),
            exercise: false,
            translations: Vec::new(),
        },
    );
    assert!(!watch.own_entry(1_006, peer, &again));
    let earlier = link.write(true, understood(again.id()));
    let later = link.write(true, understood(again.id()));
    let kept_seq = |watch: &Watch| watch.known[&again.id()].answer.as_ref().map(|a| a.seq);
    assert!(watch.peer_entry(1_007, peer, &later));
    assert!(!watch.peer_entry(1_008, peer, &earlier));
    assert_eq!(kept_seq(&watch), Some(earlier.entry().seq));
    // A later one never replaces it.
    assert!(!watch.peer_entry(1_009, peer, &later));
    assert_eq!(kept_seq(&watch), Some(earlier.entry().seq));
}

/// Each message's latency is counted once, at its first receipt and at the peer's answer,
/// and a record replayed at start counts nothing (the histograms are since the start).
#[test]
fn latencies_count_each_message_once_and_never_a_replayed_record() {
    let mut link = Link::new();
    let settings = settings();
    let mut watch = Watch::new(settings.clone(), Vec::new(), 0, true);
    let (peer, us) = (link.peer.id(), link.us.id());
    watch.load(1_000, peer, us, LinkRecord::default());
    let message = Body::Message {
        text: "hold fire".into(),
        lang: "en".into(),
        exercise: false,
        translations: Vec::new(),
    };
    let ours = link.write(false, message.clone());
    watch.own_entry(1_000, peer, &ours);
    let theirs = link.write(true, message);
    watch.peer_entry(1_100, peer, &theirs);
    watch.receipted(1_300, peer, 1, &[]);
    watch.receipted(1_900, peer, 1, &[]);
    let answer = link.write(true, understood(ours.id()));
    assert!(watch.peer_entry(61_000, peer, &answer));
    // Our answer to the peer's message is not a latency of ours.
    let ours_answer = link.write(false, understood(theirs.id()));
    assert!(watch.own_entry(62_000, peer, &ours_answer));
    let flash = &watch.latencies().precedences[0];
    assert_eq!(flash.precedence, Precedence::Flash);
    assert_eq!((flash.receipt.count(), flash.receipt.sum_ms), (1, 300));
    assert_eq!(
        (flash.understood.count(), flash.understood.sum_ms),
        (1, 60_000)
    );
    // The same record loaded at a start.
    let mut restarted = Watch::new(settings, Vec::new(), 0, true);
    let kept = |entry: &SignedEntry, received_ms| parley_store::KeptEntry {
        entry: entry.clone(),
        received_ms,
    };
    let record = LinkRecord {
        entries: vec![
            kept(&ours, None),
            kept(&ours_answer, None),
            kept(&theirs, Some(1_100)),
            kept(&answer, Some(61_000)),
        ],
        delivered_ms: BTreeMap::from([(1, 1_300)]),
        own_key_announcements: Vec::new(),
        key_announcement_seqs: BTreeMap::new(),
    };
    restarted.load(70_000, peer, us, record);
    let counts: Vec<u64> = restarted
        .latencies()
        .precedences
        .iter()
        .flat_map(|of| [of.receipt.count(), of.understood.count()])
        .collect();
    assert_eq!(counts, vec![0; 8]);
    assert_eq!(restarted.messages().count(), 2, "both messages, both sides");
}

/// A receipt that comes after its deadline clears the `receipt_overdue` alarm, also once the
/// answer deadline has passed too; the `understood_overdue` alarm stays until an answer.
#[test]
fn a_late_receipt_clears_the_receipt_alarm() {
    let mut link = Link::new();
    let flash = settings().objectives.of(Precedence::Flash);
    let mut watch = loaded_watch(&link);
    let peer = link.peer.id();
    let receipt_only = link.write(false, message("receipt late"));
    let both = link.write(false, message("receipt and answer late"));
    watch.own_entry(1_000, peer, &receipt_only);
    watch.own_entry(1_000, peer, &both);
    let open = |watch: &Watch, kind: AlarmKind, id: EntryId| {
        watch
            .alarms
            .open()
            .any(|alarm| alarm.kind == kind && alarm.subject == id.to_string())
    };
    // Past the receipt deadline only: the first's receipt is late, its answer still awaited.
    let receipt_due = 1_000 + flash.receipt_s * 1_000;
    watch.tick(receipt_due);
    assert!(open(&watch, AlarmKind::ReceiptOverdue, receipt_only.id()));
    watch.receipted(receipt_due + 1, peer, 1, &[]);
    assert!(!open(&watch, AlarmKind::ReceiptOverdue, receipt_only.id()));
    // Past the answer deadline too: the second's receipt still clears its receipt alarm.
    watch.tick(1_000 + flash.understood_s * 1_000);
    assert!(open(&watch, AlarmKind::ReceiptOverdue, both.id()));
    assert!(open(&watch, AlarmKind::UnderstoodOverdue, both.id()));
    watch.receipted(1_000 + flash.understood_s * 1_000 + 1, peer, 2, &[]);
    assert!(!open(&watch, AlarmKind::ReceiptOverdue, both.id()));
    assert!(open(&watch, AlarmKind::UnderstoodOverdue, both.id()));
    let cleared = watch
        .take()
        .0
        .into_iter()
        .filter(|update| update.event == alarms::AlarmEvent::Cleared)
        .count();
    assert_eq!(cleared, 2);
}

/// Each own message awaiting its answer keeps the time of the first receipt that covered it,
/// whatever came after: later bounds, a bound repeated, a lower bound, a seq listed as extra
/// above a gap. The answer deadline's overdue entry says so.
#[test]
fn each_message_keeps_the_time_of_its_first_receipt() {
    let mut link = Link::new();
    let flash = settings().objectives.of(Precedence::Flash);
    let mut watch = loaded_watch(&link);
    let peer = link.peer.id();
    for text in ["one", "two", "three", "four", "five"] {
        let sent = link.write(false, message(text));
        watch.own_entry(1_000, peer, &sent);
    }
    // Both while the receipt deadlines run and after they passed (then only the answer's
    // deadline holds a message).
    watch.receipted(2_000, peer, 1, &[]);
    let late = 1_000 + flash.receipt_s * 1_000;
    watch.tick(late);
    watch.receipted(late + 1_000, peer, 3, &[5]);
    watch.receipted(late + 2_000, peer, 3, &[]);
    watch.receipted(late + 3_000, peer, 2, &[]);
    watch.receipted(late + 4_000, peer, 5, &[]);
    watch.tick(1_000 + flash.understood_s * 1_000);
    let receipted: Vec<Option<u64>> = watch
        .take()
        .1
        .into_iter()
        .filter_map(|append| match append.body {
            Body::Overdue { receipted_ms, .. } => Some(receipted_ms),
            _ => None,
        })
        .collect();
    assert_eq!(
        receipted,
        [
            Some(2_000),
            Some(late + 1_000),
            Some(late + 1_000),
            Some(late + 4_000),
            Some(late + 1_000)
        ]
    );
}

/// A live watch of `link`, with the default objectives, loaded empty at 1,000 ms.
fn loaded_watch(link: &Link) -> Watch {
    let mut watch = Watch::new(settings(), Vec::new(), 0, true);
    watch.load(1_000, link.peer.id(), link.us.id(), LinkRecord::default());
    watch
}

fn message(text: &str) -> Body {
    Body::Message {
        text: text.into(),
        lang: "en".into(),
        exercise: false,
        translations: Vec::new(),
    }
}

fn cancel(of: EntryId) -> Body {
    Body::Cancel {
        of,
        reason: "sent in error".into(),
    }
}

/// A cancellation stored before the message it withdraws (the message held back on its
/// channel, the cancellation above the gap) still withdraws it when it comes: no deadline,
/// no alarm, nothing to answer — as a restart would read the record.
#[test]
fn a_cancellation_stored_before_its_message_withdraws_it() {
    let mut link = Link::new();
    let mut watch = loaded_watch(&link);
    let peer = link.peer.id();
    let theirs = link.write(true, message("hold fire"));
    let cancellation = link.write(true, cancel(theirs.id()));
    // A cancellation by the wrong side, stored early, withdraws nothing.
    let ours = link.write(false, message("and the valley?"));
    let not_theirs = link.write(true, cancel(ours.id()));

    assert!(!watch.peer_entry(1_001, peer, &cancellation));
    assert!(!watch.peer_entry(1_001, peer, &not_theirs));
    assert!(!watch.peer_entry(1_002, peer, &theirs));
    assert!(!watch.own_entry(1_002, peer, &ours));
    assert!(
        watch
            .known(&theirs.id())
            .is_some_and(|known| known.cancelled)
    );
    assert!(
        watch
            .known(&ours.id())
            .is_some_and(|known| !known.cancelled)
    );
    let flash = Objectives::default().of(Precedence::Flash);
    watch.tick(1_000 + flash.understood_s * 1_000);
    let overdue: Vec<String> = watch
        .alarms
        .open()
        .filter(|alarm| alarm.kind == AlarmKind::UnderstoodOverdue)
        .map(|alarm| alarm.subject.clone())
        .collect();
    assert_eq!(overdue, [ours.id().to_string()]);
}

/// Cancellations naming messages not come yet are kept up to [`EARLY_CANCELLATIONS_MAX`] per
/// link; one more lets go of the one with the lowest seq.
#[test]
fn early_cancellations_are_kept_up_to_their_bound() {
    for naming_nothing in [EARLY_CANCELLATIONS_MAX - 1, EARLY_CANCELLATIONS_MAX] {
        let mut link = Link::new();
        let mut watch = loaded_watch(&link);
        let peer = link.peer.id();
        let theirs = link.write(true, message("hold fire"));
        watch.peer_entry(1_001, peer, &link.write(true, cancel(theirs.id())));
        for k in 0..naming_nothing {
            let mut id = [0xee; 32];
            id[..8].copy_from_slice(&(k as u64).to_be_bytes());
            watch.peer_entry(1_001, peer, &link.write(true, cancel(EntryId(id))));
        }
        watch.peer_entry(1_002, peer, &theirs);
        let cancelled = watch.known(&theirs.id()).is_some_and(|k| k.cancelled);
        assert_eq!(
            cancelled,
            naming_nothing < EARLY_CANCELLATIONS_MAX,
            "{naming_nothing} kept after it"
        );
    }
}

/// A test every minute, answered by the machine within 5 s.
/// How many alarms of `kind` `watch` holds open.
fn open_of(watch: &Watch, kind: AlarmKind) -> usize {
    (watch.alarms.open())
        .filter(|alarm| alarm.kind == kind)
        .count()
}

fn every_minute() -> TestSchedule {
    TestSchedule {
        times_min: Vec::new(),
        every_ms: 60_000,
        answer: Some(TestAnswer::Machine),
        answer_within_ms: 5_000,
    }
}

/// The peer's schedule of tests is its latest in its log, whatever order its entries are
/// stored in (a later one may come first, above a gap), as a restart reading the record in
/// order finds it.
#[test]
fn the_peers_latest_schedule_governs_in_whatever_order_it_came() {
    let mut link = Link::new();
    let mut watch = loaded_watch(&link);
    let peer = link.peer.id();
    let every_minute = every_minute();
    let none = TestSchedule {
        times_min: Vec::new(),
        every_ms: 0,
        answer: None,
        answer_within_ms: 0,
    };
    let first = link.write(true, Body::Schedule(every_minute));
    let second = link.write(true, Body::Schedule(none));
    watch.peer_entry(1_001, peer, &second);
    watch.peer_entry(1_002, peer, &first);
    watch.tick(1_000 + 10 * 60_000);
    let expected = watch
        .alarms
        .open()
        .filter(|alarm| alarm.kind == AlarmKind::ExpectedTestNotReceived)
        .count();
    assert_eq!(expected, 0, "the schedule of no tests is the latest");
}

/// A peer whose scheduled tests stop raises one `expected_test_not_received` alarm for the
/// whole absence, not one per test missed; a test that arrives clears it, and the next
/// absence raises a new one.
#[test]
fn one_alarm_per_absence_of_the_peer_s_tests() {
    let mut link = Link::new();
    let mut watch = loaded_watch(&link);
    let peer = link.peer.id();
    let every_minute = every_minute();
    let schedule = link.write(true, Body::Schedule(every_minute));
    watch.peer_entry(1_001, peer, &schedule);
    let expected = |watch: &Watch| open_of(watch, AlarmKind::ExpectedTestNotReceived);
    // Ten minutes of silence, the watch running each minute: one alarm.
    for minute in 1..=10 {
        watch.tick(1_000 + minute * 60_000 + 5_001);
    }
    assert_eq!(expected(&watch), 1);
    // A test arrives: the alarm clears.
    let test = link.write(
        true,
        Body::Test {
            answer: TestAnswer::Machine,
            answer_within_ms: 5_000,
        },
    );
    watch.peer_entry(1_000 + 10 * 60_000 + 6_000, peer, &test);
    watch.tick(1_000 + 10 * 60_000 + 6_001);
    assert_eq!(expected(&watch), 0);
    // Silence again: a new alarm.
    for minute in 11..=13 {
        watch.tick(1_000 + minute * 60_000 + 5_001);
    }
    assert_eq!(expected(&watch), 1);
    // The peer announces it tests no more: the absence is over, and nothing more is expected.
    let none = TestSchedule::default();
    let ended = link.write(true, Body::Schedule(none));
    watch.peer_entry(1_000 + 13 * 60_000 + 6_000, peer, &ended);
    assert_eq!(
        expected(&watch),
        0,
        "cleared by the peer's schedule of no tests"
    );
    watch.tick(1_000 + 60 * 60_000);
    assert_eq!(expected(&watch), 0);
}

/// A peer that stops answering this station's tests raises one `test_missed` alarm for the
/// whole absence, while every test missed still gets its signed overdue entry; an answer to
/// the first alone leaves the absence alarmed, on the latest test missed; an answer to a
/// later test clears it, and the next absence raises a new one.
#[test]
fn one_alarm_per_absence_of_answers_to_own_tests() {
    let mut link = Link::new();
    let mut watch = loaded_watch(&link);
    let peer = link.peer.id();
    let test = || Body::Test {
        answer: TestAnswer::Machine,
        answer_within_ms: 5_000,
    };
    let missed = |watch: &Watch| open_of(watch, AlarmKind::TestMissed);
    let mut tests = Vec::new();
    for minute in 0..3 {
        let at_ms = 1_000 + minute * 60_000;
        let own = link.write_at(false, at_ms, test());
        watch.own_entry(at_ms, peer, &own);
        watch.tick(at_ms + 5_001);
        tests.push(own);
    }
    assert_eq!(missed(&watch), 1, "one alarm for three tests missed");
    let (_, appends, _) = watch.take();
    let overdue = (appends.iter())
        .filter(|append| matches!(append.body, Body::Overdue { .. }))
        .count();
    assert_eq!(overdue, 3, "each test missed is signed overdue");
    // The peer answers the first only: the two later are still missed, and the latest is
    // alarmed now.
    let first = link.write(true, understood(tests[0].id()));
    watch.peer_entry(190_000, peer, &first);
    let open: Vec<String> = (watch.alarms.open())
        .filter(|alarm| alarm.kind == AlarmKind::TestMissed)
        .map(|alarm| alarm.subject.clone())
        .collect();
    assert_eq!(open, [tests[2].id().to_string()]);
    // The peer answers the latest: the absence is over.
    let answer = link.write(true, understood(tests[2].id()));
    watch.peer_entry(200_000, peer, &answer);
    assert_eq!(missed(&watch), 0);
    // Away again: a new alarm.
    let own = link.write_at(false, 300_000, test());
    watch.own_entry(300_000, peer, &own);
    watch.tick(305_001);
    assert_eq!(missed(&watch), 1);
}

/// An answer to a test written before a `test_missed` alarm was raised (here one that came
/// before the earlier test's time ran out) does not clear it, live or read again at a start.
#[test]
fn an_answer_to_a_test_written_before_the_alarm_clears_nothing() {
    let mut link = Link::new();
    let mut watch = loaded_watch(&link);
    let peer = link.peer.id();
    let test = |answer_within_ms| Body::Test {
        answer: TestAnswer::Operator,
        answer_within_ms,
    };
    let slow = link.write_at(false, 1_000, test(60_000));
    watch.own_entry(1_000, peer, &slow);
    let quick = link.write_at(false, 2_000, test(5_000));
    watch.own_entry(2_000, peer, &quick);
    let answer = link.write_at(true, 3_000, understood(quick.id()));
    watch.peer_entry(3_000, peer, &answer);
    watch.tick(61_001);
    let missed = |watch: &Watch| open_of(watch, AlarmKind::TestMissed);
    assert_eq!(missed(&watch), 1, "the slow test is missed");
    // The same record loaded at a start keeps the alarm open.
    let open: Vec<AlarmRow> = watch.alarms.open().cloned().collect();
    let mut restarted = Watch::new(settings(), open, 1, true);
    let kept = |entry: &SignedEntry, received_ms| parley_store::KeptEntry {
        entry: entry.clone(),
        received_ms,
    };
    let record = LinkRecord {
        entries: vec![
            kept(&slow, None),
            kept(&quick, None),
            kept(&answer, Some(3_000)),
        ],
        ..LinkRecord::default()
    };
    restarted.load(70_000, peer, link.us.id(), record);
    assert_eq!(missed(&restarted), 1, "still open after a start");
}

/// A station that checked a due time of the peer's tests and stopped before the check was
/// durable (its latest stored time before the check's) checks it again when it starts, not
/// only the latest due time: the test missed while it watched is alarmed.
#[test]
fn a_check_of_the_peer_s_test_lost_with_a_stop_is_done_again() {
    let mut link = Link::new();
    let peer = link.peer.id();
    let schedule = link.write(true, Body::Schedule(every_minute()));
    let on_time = link.write_at(
        true,
        61_000,
        Body::Test {
            answer: TestAnswer::Machine,
            answer_within_ms: 5_000,
        },
    );
    let kept = |entry: &SignedEntry, received_ms| parley_store::KeptEntry {
        entry: entry.clone(),
        received_ms: Some(received_ms),
    };
    let record = || LinkRecord {
        entries: vec![kept(&schedule, 1_001), kept(&on_time, 61_500)],
        ..LinkRecord::default()
    };
    // The test due at 121,000 never came; its check at 126,000 was lost with a stop at
    // 126,001; the station starts again at 184,000, past the next due time.
    let started_ms = 184_000;
    let expected = |watch: &Watch| open_of(watch, AlarmKind::ExpectedTestNotReceived);
    for (stored_until_ms, alarmed) in [(125_000, 1), (126_000, 0)] {
        let mut watch = Watch::new(settings(), Vec::new(), 0, true).stored_until(stored_until_ms);
        watch.load(started_ms, peer, link.us.id(), record());
        watch.tick(started_ms);
        assert_eq!(
            expected(&watch),
            alarmed,
            "stored until {stored_until_ms}: {:?}",
            watch.alarms.open().collect::<Vec<_>>()
        );
    }
}

/// After a clean stop, a due time whose time allowed ended while the station was stopped is not
/// checked (it did not watch it, and the peer's test may wait on a channel); the next is, as
/// ever. After a crash, or for a due time checked before the stop, nothing is skipped.
#[test]
fn after_a_clean_stop_a_start_skips_the_due_times_it_did_not_watch() {
    let mut link = Link::new();
    let peer = link.peer.id();
    let schedule = link.write(true, Body::Schedule(every_minute()));
    let record = || LinkRecord {
        entries: vec![parley_store::KeptEntry {
            entry: schedule.clone(),
            received_ms: Some(1_001),
        }],
        ..LinkRecord::default()
    };
    // Due at 61,000, checked at 66,000; the station stopped at 50,000 (or 66,000) and starts
    // at 90,000. The next due time is 121,000, checked at 126,000.
    let started_ms = 90_000;
    let expected = |watch: &Watch| open_of(watch, AlarmKind::ExpectedTestNotReceived);
    let start = |stopped_ms| {
        let mut watch = Watch::new(settings(), Vec::new(), 0, true)
            .stored_until(1_001)
            .stopped_at(stopped_ms);
        watch.load(started_ms, peer, link.us.id(), record());
        watch.tick(started_ms);
        watch
    };
    for (stopped_ms, skipped) in [(Some(50_000), true), (Some(66_000), false), (None, false)] {
        let mut watch = start(stopped_ms);
        assert_eq!(
            expected(&watch),
            usize::from(!skipped),
            "stopped {stopped_ms:?}"
        );
        if skipped {
            watch.tick(125_999);
            assert_eq!(expected(&watch), 0);
            watch.tick(126_000);
            assert_eq!(expected(&watch), 1, "the next due time is checked as ever");
        }
    }
    // A store written after the stop it records is taken for a crash: nothing is skipped.
    let mut watch = Watch::new(settings(), Vec::new(), 0, true)
        .stored_until(60_000)
        .stopped_at(Some(50_000));
    watch.load(started_ms, peer, link.us.id(), record());
    watch.tick(started_ms);
    assert_eq!(expected(&watch), 1);
}

/// The peer's operator tests whose time runs out while this station does not answer raise one
/// `understood_overdue` alarm, not one each; an answer to its test moves it to the latest test
/// still unanswered past its time, the peer withdrawing that one moves it again, and the
/// peer's messages keep an alarm each.
#[test]
fn one_alarm_for_the_peer_s_tests_awaiting_an_answer() {
    let mut link = Link::new();
    let mut watch = loaded_watch(&link);
    let peer = link.peer.id();
    let test = || Body::Test {
        answer: TestAnswer::Operator,
        answer_within_ms: 5_000,
    };
    let overdue = |watch: &Watch| {
        (watch.alarms.open())
            .filter(|alarm| alarm.kind == AlarmKind::UnderstoodOverdue)
            .map(|alarm| alarm.subject.clone())
            .collect::<Vec<_>>()
    };
    let mut tests = Vec::new();
    for minute in 0..4 {
        let at_ms = 1_000 + minute * 60_000;
        let theirs = link.write_at(true, at_ms, test());
        watch.peer_entry(at_ms, peer, &theirs);
        watch.tick(at_ms + 5_001);
        tests.push(theirs);
    }
    assert_eq!(overdue(&watch), [tests[0].id().to_string()], "one for four");
    // The same record loaded at a start holds the later tests back again.
    let open: Vec<AlarmRow> = watch.alarms.open().cloned().collect();
    let mut restarted = Watch::new(settings(), open, 1, true);
    let record = LinkRecord {
        entries: (tests.iter())
            .map(|entry| parley_store::KeptEntry {
                entry: entry.clone(),
                received_ms: Some(1_000),
            })
            .collect(),
        ..LinkRecord::default()
    };
    restarted.load(240_000, peer, link.us.id(), record);
    restarted.tick(240_000);
    restarted.tick(240_001);
    assert_eq!(overdue(&restarted), [tests[0].id().to_string()]);
    let answer = link.write(false, understood(tests[0].id()));
    restarted.own_entry(245_000, peer, &answer);
    assert_eq!(overdue(&restarted), [tests[3].id().to_string()]);
    // Live, the same.
    // Answering the alarm's test moves the alarm to the latest still unanswered.
    watch.own_entry(250_000, peer, &answer);
    assert_eq!(overdue(&watch), [tests[3].id().to_string()]);
    // The peer withdraws that one: the next latest.
    let cancel = link.write(
        true,
        Body::Cancel {
            of: tests[3].id(),
            reason: String::new(),
        },
    );
    watch.peer_entry(260_000, peer, &cancel);
    assert_eq!(overdue(&watch), [tests[2].id().to_string()]);
    // A message of the peer left unanswered has its own alarm.
    let hello = Body::Message {
        text: "hello".into(),
        lang: "en".into(),
        exercise: false,
        translations: Vec::new(),
    };
    let message = link.write_at(true, 270_000, hello);
    watch.peer_entry(270_000, peer, &message);
    watch.tick(270_000 + 3_600_000);
    assert_eq!(overdue(&watch).len(), 2);
    // Answering the rest ends the tests' alarm.
    for of in [tests[1].id(), tests[2].id()] {
        let answer = link.write(false, understood(of));
        watch.own_entry(3_900_000, peer, &answer);
    }
    assert_eq!(overdue(&watch), [message.id().to_string()]);
}
