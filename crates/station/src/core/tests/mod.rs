//! The core's release rule on both sides of a commit: nothing that depends on a write is
//! released before the write is committed, and when a commit fails, answers say so while
//! acknowledgements are withheld (so transports keep what they hold).

use parley_channels::{Signal, Via};
use parley_proto::seal::EpochSecret;
use parley_proto::{ContactCard, Identity, Precedence, StationId};
use parley_relay_wire::witness::WitnessAnswer;
use parley_store::Store;
use rand_core::SeedableRng as _;

use super::{AckId, Command, Input, Mode, Output, RequestId, Station};
use crate::api::{ErrorClass, Reply};
use crate::home::Config;
use crate::node::{commit_all, load};

mod checkpoints;
mod intake;
mod keys;
mod pins;

const NOW_MS: u64 = 1_800_000_000_000;

/// A station core over an in-memory store.
fn station(name: &str, seed: u8) -> (Station, Store) {
    let config = Config::new(name.into(), "en".into(), "127.0.0.1:9".into());
    station_with(&config, seed)
}

/// A station core over an in-memory store, configured as `config` says.
fn station_with(config: &Config, seed: u8) -> (Station, Store) {
    let name = config.name.as_str();
    let identity = Identity::from_secret(&[seed; 32]);
    let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([seed; 32]));
    let mut store = Store::open_in_memory().expect("opens");
    store
        .init_station(name, "en", identity.id().0, &epoch, NOW_MS)
        .expect("initialises");
    // The endpoint's generator is seeded apart from the first key's, as a station's are.
    let loaded = load(&store, identity, config, [!seed; 32]).expect("loads");
    let core = Station::new(NOW_MS, loaded, Mode::Daemon).expect("builds");
    (core, store)
}

/// Pins the station of `card` at `core` (`peer add`), committed; then, when `up`, brings its
/// direct channel up.
fn pin(core: &mut Station, store: &mut Store, (card, bytes): &(ContactCard, Vec<u8>), up: bool) {
    let command = Command::PeerAdd {
        card: card.to_text(bytes),
        fingerprint: card.fingerprint().to_string(),
        address: None,
    };
    core.handle(
        NOW_MS,
        Input::Command {
            id: RequestId(1),
            command,
        },
    );
    commit_all(core, store).expect("commits");
    while core.poll_output().is_some() {}
    if up {
        let via = Via::Direct(card.identity);
        let signal = Signal::Connected { rtt_us: Some(500) };
        core.handle(NOW_MS, Input::Health { via, signal });
        commit_all(core, store).expect("commits");
        while core.poll_output().is_some() {}
    }
}

/// Alpha's identity, as [`paired_alpha`] made it.
fn alpha_identity() -> Identity {
    Identity::from_secret(&[1; 32])
}

/// Alpha's core started again at `now_ms` from its store, as a daemon's is.
fn alpha_again(store: &Store, now_ms: u64) -> Station {
    let config = Config::new("Alpha".into(), "en".into(), "127.0.0.1:9".into());
    let loaded = load(store, alpha_identity(), &config, [!1; 32]).expect("loads");
    Station::new(now_ms, loaded, Mode::Daemon).expect("builds")
}

/// Alpha, paired with Bravo and committed, its direct channel up; and Bravo's id.
fn paired_alpha() -> (Station, Store, StationId) {
    let (mut alpha, mut store) = station("Alpha", 1);
    let (bravo, _) = station("Bravo", 2);
    let card = bravo.card();
    pin(&mut alpha, &mut store, &card, true);
    (alpha, store, card.0.identity)
}

fn send(core: &mut Station, id: u64) {
    send_at(core, (NOW_MS, "Bravo"), id);
}

fn send_at(core: &mut Station, (now_ms, peer): (u64, &str), id: u64) {
    let command = Command::Send {
        peer: peer.into(),
        precedence: Precedence::Flash,
        text: "hello".into(),
        exercise: false,
        translations: Default::default(),
        operator: None,
    };
    core.handle(
        now_ms,
        Input::Command {
            id: RequestId(id),
            command,
        },
    );
}

fn outputs(core: &mut Station) -> Vec<Output> {
    std::iter::from_fn(|| core.poll_output()).collect()
}

#[test]
fn nothing_leaves_before_its_commit() {
    let (mut alpha, mut store, _) = paired_alpha();
    while alpha.poll_transmit(NOW_MS).is_some() {}
    commit_all(&mut alpha, &mut store).expect("commits");
    send(&mut alpha, 7);
    let batch = Input::Batch {
        via: Via::Relay(0),
        frames: Vec::new(),
        ack: AckId(9),
    };
    alpha.handle(NOW_MS, batch);
    assert!(
        outputs(&mut alpha).is_empty(),
        "no answer before the commit"
    );
    assert!(
        alpha.poll_transmit(NOW_MS).is_none(),
        "no frame before the commit"
    );
    let commit = alpha.poll_commit().expect("the send writes");
    assert!(alpha.poll_commit().is_none(), "one commit at a time");
    assert!(
        alpha.poll_transmit(NOW_MS).is_none(),
        "nor while it is under way"
    );
    store
        .commit_batch(&commit.admin, &commit.ops)
        .expect("commits");
    alpha.commit_done(Ok(()));
    let released = outputs(&mut alpha);
    assert!(released.iter().any(|o| matches!(
        o,
        Output::Reply {
            id: RequestId(7),
            result: Ok(Reply::Sent(_))
        }
    )));
    assert!(released.iter().any(|o| matches!(
        o,
        Output::Ack {
            ack: AckId(9),
            result: Ok(parley_channels::Disposal::Delete)
        }
    )));
    assert!(
        alpha.poll_transmit(NOW_MS).is_some(),
        "the message leaves now"
    );
}

#[test]
fn a_failed_commit_answers_with_the_failure_withholds_acknowledgements_and_stops_the_core() {
    let (mut alpha, _store, _) = paired_alpha();
    while alpha.poll_transmit(NOW_MS).is_some() {}
    let pending = alpha.poll_commit();
    if pending.is_some() {
        alpha.commit_done(Ok(()));
    }
    send(&mut alpha, 7);
    let bundle = Input::Bundle {
        via: Via::Folder(0),
        name: "junk.parley-bundle".into(),
        bytes: b"not even a bundle".to_vec(),
        ack: AckId(3),
    };
    alpha.handle(NOW_MS, bundle);
    alpha.poll_commit().expect("the send writes");
    alpha.commit_done(Err("disk full".into()));
    let released = outputs(&mut alpha);
    assert_eq!(released.len(), 1, "the answer alone: {released:?}");
    match &released[0] {
        Output::Reply {
            id: RequestId(7),
            result: Err(error),
        } => {
            assert_eq!(error.class, ErrorClass::Local);
            assert!(error.message.contains("disk full"), "{error}");
            assert!(
                error.message.contains("nothing of this was stored"),
                "{error}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(alpha.failed(), Some("disk full"));
    send(&mut alpha, 8);
    assert!(
        alpha.poll_commit().is_none(),
        "a failed core commits nothing more"
    );
    assert!(alpha.poll_transmit(NOW_MS).is_none(), "and sends nothing");
}

/// The request id [`request`] asks under, apart from the ones tests send under.
const REQUEST_ID: RequestId = RequestId(u64::MAX);

/// The reply to `command` at `core` at `now_ms`, once what it wrote is committed (other
/// outputs, earlier replies among them, are dropped).
fn request(
    core: &mut Station,
    store: &mut Store,
    now_ms: u64,
    command: Command,
) -> Result<Reply, crate::api::ApiError> {
    core.handle(
        now_ms,
        Input::Command {
            id: REQUEST_ID,
            command,
        },
    );
    commit_all(core, store).expect("commits");
    outputs(core)
        .into_iter()
        .find_map(|output| match output {
            Output::Reply { id, result } if id == REQUEST_ID => Some(result),
            _ => None,
        })
        .expect("a reply")
}

fn status(core: &mut Station, store: &mut Store) -> crate::api::StatusReport {
    match request(core, store, NOW_MS, Command::Status) {
        Ok(Reply::Status(report)) => *report,
        other => panic!("{other:?}"),
    }
}

/// The status counts the messages of the record by precedence and state, and a daemon's
/// carries the latency histograms (empty until receipts and answers come).
#[test]
fn status_counts_messages_by_precedence_and_state() {
    let (mut alpha, mut store, _) = paired_alpha();
    for id in [7, 8] {
        send(&mut alpha, id);
        commit_all(&mut alpha, &mut store).expect("commits");
    }
    let report = status(&mut alpha, &mut store);
    let flash = &report.messages[0];
    assert_eq!(flash.precedence, Precedence::Flash);
    assert_eq!(flash.sent.unreceipted, 2);
    assert_eq!(flash.sent.delivered + flash.received.unanswered, 0);
    let counted: u64 = report.messages[1..]
        .iter()
        .map(|of| of.sent.unreceipted + of.received.unanswered)
        .sum();
    assert_eq!(counted, 0, "nothing of the other precedences");
    let latencies = report.latencies.expect("a daemon's core");
    assert!(
        latencies
            .precedences
            .iter()
            .all(|of| of.receipt.count() + of.understood.count() == 0)
    );
    assert!(report.alarms.kinds.is_empty());
}

/// The record that a frame went out on a kind of channel for the first time is never a commit
/// of its own right after the frame left: it goes with the next commit, or on its own once it
/// has waited [`TRANSMISSION_RECORD_WAIT_MS`].
#[test]
fn a_first_transmission_is_recorded_with_the_next_commit_or_after_its_wait() {
    use parley_proto::{ChannelKind, StoreOp};
    use parley_store::DeliveryState;

    use crate::limits::TRANSMISSION_RECORD_WAIT_MS;

    let records = |ops: &[StoreOp]| {
        (ops.iter())
            .filter(|op| matches!(op, StoreOp::MarkTransmitted { .. }))
            .count()
    };
    let (mut alpha, mut store, bravo) = paired_alpha();
    let state = |store: &Store, seq: u64| {
        let states = store.outbox_states(&bravo).expect("reads");
        let row = states.iter().find(|row| row.seq == seq).expect("queued");
        (row.state, row.sent_on.clone())
    };
    // The pairing's key announcement (seq 1) leaves; its record waits, and nothing is to
    // commit at once.
    assert!(alpha.poll_transmit(NOW_MS).is_some());
    while alpha.poll_transmit(NOW_MS).is_some() {}
    assert_eq!(alpha.waiting_records(), 1);
    assert_eq!(alpha.uncommitted_writes(), 0);
    assert!(alpha.poll_commit().is_none(), "no commit of its own");
    let due_ms = NOW_MS + TRANSMISSION_RECORD_WAIT_MS;
    assert_eq!(alpha.pending.records_due_ms(), Some(due_ms));
    assert!(
        alpha.poll_timeout().is_some_and(|at_ms| at_ms <= due_ms),
        "the core runs again when the record has waited enough"
    );
    assert_eq!(state(&store, 1), (DeliveryState::Queued, Vec::new()));
    // A batch of outputs alone (a reply that writes nothing) leaves it waiting: no
    // transaction is made for it.
    alpha.handle(
        NOW_MS,
        Input::Command {
            id: RequestId(6),
            command: Command::Status,
        },
    );
    let commit = alpha.poll_commit().expect("the reply's batch");
    assert!(commit.is_empty(), "no write in a reply's batch");
    alpha.commit_done(Ok(()));
    assert_eq!(alpha.waiting_records(), 1);
    while alpha.poll_output().is_some() {}

    // A message's commit takes the record with it.
    send(&mut alpha, 7);
    let commit = alpha.poll_commit().expect("the send writes");
    assert_eq!(records(&commit.ops), 1, "the record goes with the message");
    assert_eq!(alpha.waiting_records(), 0);
    store
        .commit_batch(&commit.admin, &commit.ops)
        .expect("commits");
    alpha.commit_done(Ok(()));
    let sent = (DeliveryState::Sent, vec![ChannelKind::Direct]);
    assert_eq!(state(&store, 1), sent);

    // The message leaves; with nothing else to commit, its record goes on its own once it
    // has waited, not before.
    while alpha.poll_output().is_some() {}
    let left_ms = NOW_MS + 10;
    while alpha.poll_transmit(left_ms).is_some() {}
    assert_eq!(alpha.waiting_records(), 1);
    let due_ms = left_ms + TRANSMISSION_RECORD_WAIT_MS;
    alpha.handle_timeout(due_ms - 1);
    assert!(alpha.poll_commit().is_none(), "not before its wait");
    alpha.handle_timeout(due_ms);
    let commit = alpha.poll_commit().expect("the record, on its own");
    assert_eq!((records(&commit.ops), commit.ops.len()), (1, 1));
    store
        .commit_batch(&commit.admin, &commit.ops)
        .expect("commits");
    alpha.commit_done(Ok(()));
    assert_eq!(state(&store, 2), sent);
    assert_eq!(alpha.waiting_records(), 0);

    // A record waiting at a clean stop is committed with what the stop commits.
    let stop_ms = due_ms + 10;
    send_at(&mut alpha, (stop_ms, "Bravo"), 8);
    commit_all(&mut alpha, &mut store).expect("commits");
    while alpha.poll_output().is_some() {}
    while alpha.poll_transmit(stop_ms).is_some() {}
    assert_eq!(alpha.waiting_records(), 1);
    alpha.release_records();
    commit_all(&mut alpha, &mut store).expect("commits");
    assert_eq!(state(&store, 3), sent);
}

/// Alpha and Bravo's cores paired with each other, both committed, direct channels up.
fn paired_both() -> ((Station, Store), (Station, Store)) {
    let (mut alpha, mut alpha_store) = station("Alpha", 1);
    let (mut bravo, mut bravo_store) = station("Bravo", 2);
    let (alpha_card, bravo_card) = (alpha.card(), bravo.card());
    pin(&mut alpha, &mut alpha_store, &bravo_card, true);
    pin(&mut bravo, &mut bravo_store, &alpha_card, true);
    ((alpha, alpha_store), (bravo, bravo_store))
}

/// Every envelope `core` puts on the wire at `now_ms`, after committing what it wrote.
fn envelopes_out(core: &mut Station, store: &mut Store, now_ms: u64) -> Vec<Vec<u8>> {
    commit_all(core, store).expect("commits");
    while core.poll_output().is_some() {}
    std::iter::from_fn(|| core.poll_transmit(now_ms))
        .map(|transmit| transmit.frame.to_vec())
        .filter(|frame| frame.first() == Some(&parley_proto::frame::TAG_ENVELOPE))
        .collect()
}

/// Appends `body` to `core`'s log of the link with `peer` as the station itself would, past
/// the core's own rules (so a test can make it lie).
fn write_as_station(core: &mut Station, peer: &StationId, body: parley_proto::Body) {
    core.endpoint
        .append(NOW_MS, peer, Precedence::Routine, body)
        .expect("appends");
    core.collect(NOW_MS);
}

fn open_alarms(core: &mut Station, store: &mut Store, kind: &str) -> usize {
    commit_all(core, store).expect("commits");
    while core.poll_output().is_some() {}
    let alarms = store.alarms(false).expect("reads");
    alarms.iter().filter(|a| a.kind.name() == kind).count()
}

/// A peer whose entries are refused for its clock raises an alarm that only a new entry of
/// it, accepted, clears: a copy of one held already (another channel, a replay) proves
/// nothing about its clock now.
#[test]
fn only_a_new_entry_clears_a_clock_skew_alarm() {
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let from_bravo = Via::Direct(bravo.endpoint().identity().id());
    let deliver = |alpha: &mut Station, now_ms: u64, bytes: &[u8]| {
        let via = from_bravo;
        let bytes = bytes.to_vec();
        alpha.handle(now_ms, Input::Frame { via, bytes });
    };
    // Bravo's pairing entry reaches Alpha in time, and stays held.
    let first = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    assert!(!first.is_empty());
    for frame in &first {
        deliver(&mut alpha, NOW_MS, frame);
    }
    // Bravo's clock runs an hour ahead: its next entry is refused, and alarmed.
    let ahead_ms = NOW_MS + 3_600_000;
    send_at(&mut bravo, (ahead_ms, "Alpha"), 2);
    let skewed = envelopes_out(&mut bravo, &mut bravo_store, ahead_ms)
        .into_iter()
        .find(|frame| !first.contains(frame))
        .expect("the new entry goes out");
    deliver(&mut alpha, NOW_MS, &skewed);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "clock_skew"), 1);
    // A copy of the entry held already is dropped as a duplicate: the alarm stays.
    deliver(&mut alpha, NOW_MS + 1, &first[0]);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "clock_skew"), 1);
    // An hour on, the same entry is in time: accepted, and the alarm clears.
    deliver(&mut alpha, ahead_ms, &skewed);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "clock_skew"), 0);
}

/// Bravo's envelope `frame` signed again as sealed to key `key_id`, which Alpha does not hold.
fn sealed_to_unknown_key(bravo: &Station, frame: &[u8], key_id: [u8; 8]) -> Vec<u8> {
    let Ok(parley_proto::frame::Frame::Envelope(body)) = parley_proto::frame::Frame::parse(frame)
    else {
        panic!("Bravo's frame is an envelope");
    };
    let envelope = parley_proto::envelope::Envelope::peek(body)
        .and_then(|unverified| unverified.check_signature())
        .expect("Bravo signed it");
    let sealed = parley_proto::seal::Sealed {
        key_id: parley_proto::EpochKeyId(key_id),
        encapsulated: envelope.encapsulated.clone(),
        ciphertext: envelope.ciphertext.clone(),
    };
    let signed = parley_proto::envelope::Envelope::sign(
        bravo.identity(),
        envelope.link,
        envelope.to,
        envelope.seq,
        envelope.entry_id,
        sealed,
    );
    parley_proto::frame::Frame::encode(parley_proto::frame::TAG_ENVELOPE, &signed)
}

/// The unknown-key alarm clears once an envelope of the peer is accepted, so a later envelope
/// sealed to a key not held raises a new one, not silence behind the first.
#[test]
fn an_unknown_key_alarm_clears_once_an_envelope_is_accepted() {
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let via = Via::Direct(bravo.endpoint().identity().id());
    let first = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    let forged = sealed_to_unknown_key(&bravo, &first[0], [1; 8]);
    alpha.handle(NOW_MS, Input::Frame { via, bytes: forged });
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        1
    );
    for frame in &first {
        let bytes = frame.clone();
        alpha.handle(NOW_MS, Input::Frame { via, bytes });
    }
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        0
    );
    send_at(&mut bravo, (NOW_MS, "Alpha"), 2);
    let next = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS)
        .into_iter()
        .find(|frame| !first.contains(frame))
        .expect("the new entry goes out");
    let forged = sealed_to_unknown_key(&bravo, &next, [2; 8]);
    alpha.handle(NOW_MS, Input::Frame { via, bytes: forged });
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        1
    );
    assert_eq!(alpha_store.alarms(true).expect("reads").len(), 2);
}

/// Bravo's envelopes out now, and that of a message it sends after them.
fn first_and_later(bravo: &mut Station, store: &mut Store) -> (Vec<Vec<u8>>, Vec<u8>) {
    let first = envelopes_out(bravo, store, NOW_MS);
    send_at(bravo, (NOW_MS, "Alpha"), 2);
    let later = envelopes_out(bravo, store, NOW_MS)
        .into_iter()
        .find(|frame| !first.contains(frame))
        .expect("the new entry goes out");
    (first, later)
}

/// An entry refused for a key not held keeps its alarm open while later entries of the peer
/// are accepted (held above it): that entry cannot be read, and a later one says nothing of
/// it. The alarm clears once the entry itself is stored.
#[test]
fn an_unknown_key_alarm_stays_open_until_its_entry_is_stored() {
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let via = Via::Direct(bravo.endpoint().identity().id());
    let (first, later) = first_and_later(&mut bravo, &mut bravo_store);
    let forged = sealed_to_unknown_key(&bravo, &first[0], [1; 8]);
    alpha.handle(NOW_MS, Input::Frame { via, bytes: forged });
    alpha.handle(NOW_MS, Input::Frame { via, bytes: later });
    assert_eq!(
        alpha
            .endpoint()
            .link(&bravo.identity().id())
            .map(|link| link.in_pending()),
        Some(1),
        "the later entry is held above the one refused"
    );
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        1,
        "a later entry accepted does not clear it"
    );
    for frame in &first {
        let bytes = frame.clone();
        alpha.handle(NOW_MS, Input::Frame { via, bytes });
    }
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        0
    );
    let alarms = alpha_store.alarms(true).expect("reads");
    assert_eq!(alarms.len(), 1, "raised once: {alarms:?}");
    assert!(
        alarms[0].detail.contains("from entry 1 of its log"),
        "{alarms:?}"
    );
}

/// An `unknown_epoch_key` alarm open when the daemon starts again waits, in the same way, for
/// the entry it was raised for, named in its detail: here one above a gap, so the entries
/// below it, accepted first, do not clear it.
#[test]
fn an_unknown_key_alarm_open_at_a_start_waits_for_its_entry() {
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let via = Via::Direct(bravo.endpoint().identity().id());
    let (first, later) = first_and_later(&mut bravo, &mut bravo_store);
    let forged = sealed_to_unknown_key(&bravo, &later, [1; 8]);
    alpha.handle(NOW_MS, Input::Frame { via, bytes: forged });
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        1
    );
    drop(alpha);
    let mut alpha = alpha_again(&alpha_store, NOW_MS);
    for frame in &first {
        let bytes = frame.clone();
        alpha.handle(NOW_MS, Input::Frame { via, bytes });
    }
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        1,
        "the entries below it accepted do not clear it"
    );
    alpha.handle(NOW_MS, Input::Frame { via, bytes: later });
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        0
    );
}

/// Entries refused out of order (a later one first, then an earlier one by another channel)
/// keep the alarm open after a start until both are stored: its detail names only the first
/// refused, the later.
#[test]
fn an_unknown_key_alarm_open_at_a_start_waits_for_entries_refused_below_its_own() {
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let via = Via::Direct(bravo.endpoint().identity().id());
    let (first, later) = first_and_later(&mut bravo, &mut bravo_store);
    for frame in [&later, &first[0]] {
        let forged = sealed_to_unknown_key(&bravo, frame, [1; 8]);
        alpha.handle(NOW_MS, Input::Frame { via, bytes: forged });
    }
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        1
    );
    drop(alpha);
    let mut alpha = alpha_again(&alpha_store, NOW_MS);
    alpha.handle(NOW_MS, Input::Frame { via, bytes: later });
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        1,
        "the earlier entry refused is still missing"
    );
    for frame in &first {
        let bytes = frame.clone();
        alpha.handle(NOW_MS, Input::Frame { via, bytes });
    }
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        0
    );
}

/// A peer that pinned a card whose epoch key this station does not hold (here: a key it never
/// made, as if erased long ago) seals its entries to it: each is refused unread, and the
/// refusal is an alarm naming the key, raised once however many copies come, and once per
/// peer whatever keys they name.
#[test]
fn entries_sealed_to_a_key_not_held_raise_an_alarm() {
    let (mut alpha, mut alpha_store) = station("Alpha", 1);
    let (mut bravo, mut bravo_store) = station("Bravo", 2);
    // Alpha's card as printed with a key Alpha no longer holds.
    let (mut card, _) = alpha.card();
    let gone = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([9; 32]));
    card.epoch_key_id = gone.id();
    card.epoch_public = gone.public_bytes().to_vec();
    let bytes = card.sign(alpha.identity());
    pin(&mut alpha, &mut alpha_store, &bravo.card(), true);
    pin(&mut bravo, &mut bravo_store, &(card, bytes), true);
    let frames = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    assert!(!frames.is_empty(), "Bravo's pairing entry goes out");
    let via = Via::Direct(bravo.identity().id());
    for _ in 0..2 {
        for frame in &frames {
            let bytes = frame.clone();
            alpha.handle(NOW_MS, Input::Frame { via, bytes });
        }
    }
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        1
    );
    let alarm = alpha_store
        .alarms(false)
        .expect("reads")
        .pop()
        .expect("one");
    assert_eq!(alarm.subject, "epoch keys");
    assert!(
        alarm.detail.contains(&gone.id().to_string()),
        "the key is named: {}",
        alarm.detail
    );
    assert!(
        alarm.detail.contains("restore the latest copy"),
        "{}",
        alarm.detail
    );
    // The key an envelope names is 8 bytes the peer signs: envelopes naming ever new keys,
    // at a seq that never advances, raise no further alarm (one per peer), so a peer cannot
    // fill the alarm table and the hook with them.
    for n in 0..20u8 {
        let bytes = sealed_to_unknown_key(&bravo, &frames[0], [n; 8]);
        alpha.handle(NOW_MS, Input::Frame { via, bytes });
    }
    assert_eq!(
        open_alarms(&mut alpha, &mut alpha_store, "unknown_epoch_key"),
        1
    );
    assert_eq!(alpha_store.alarms(false).expect("reads").len(), 1);
    assert_eq!(
        alpha
            .endpoint()
            .link(&bravo.identity().id())
            .expect("paired")
            .in_head(),
        0
    );
}

/// A message and its cancellation that come together, past the message's deadline (a station
/// back after it passed, the peer's envelopes taken in one turn of its loop), are taken
/// together: the message is withdrawn as it comes and raises no alarm, as a restart reading
/// the record in order raises none. Handled one at a time, the deadline passes between them.
#[test]
fn a_message_and_its_cancellation_taken_together_raise_no_alarm() {
    use crate::api::Reply;
    for together in [true, false] {
        let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
        let alpha_id = alpha.identity.id();
        send(&mut alpha, 7);
        commit_all(&mut alpha, &mut alpha_store).expect("commits");
        let sent = outputs(&mut alpha)
            .into_iter()
            .find_map(|output| match output {
                Output::Reply {
                    result: Ok(Reply::Sent(sent)),
                    ..
                } => Some(sent.id),
                _ => None,
            });
        let mut frames = envelopes_out(&mut alpha, &mut alpha_store, NOW_MS);
        let command = Command::Cancel {
            id: sent.expect("sent").to_hex(),
            reason: "sensor fault".into(),
            operator: None,
        };
        let input = Input::Command {
            id: RequestId(8),
            command,
        };
        alpha.handle(NOW_MS, input);
        frames.extend(envelopes_out(&mut alpha, &mut alpha_store, NOW_MS));
        assert!(frames.len() >= 2, "the message and its cancellation apart");
        // Past the FLASH objective for an answer (10 min) when they come.
        let late_ms = NOW_MS + 11 * 60_000;
        let inputs = frames.into_iter().map(|bytes| Input::Frame {
            via: Via::Direct(alpha_id),
            bytes,
        });
        if together {
            bravo.handle_turn(late_ms, inputs);
        } else {
            inputs.for_each(|input| bravo.handle(late_ms, input));
        }
        bravo.handle_timeout(late_ms);
        commit_all(&mut bravo, &mut bravo_store).expect("commits");
        let alarms = bravo_store.alarms(true).expect("reads");
        let overdue = alarms
            .iter()
            .filter(|alarm| alarm.kind.name() == "understood_overdue")
            .count();
        assert_eq!(overdue, usize::from(!together), "together: {together}");
    }
}

/// A deadline that passed while the station was stopped fires when it starts: its warning,
/// then its alarm, as while it runs, which says how long was allowed.
#[test]
fn a_deadline_passed_while_stopped_warns_before_it_alarms() {
    use crate::api::Event;
    let (mut alpha, mut store, _) = paired_alpha();
    send(&mut alpha, 7);
    commit_all(&mut alpha, &mut store).expect("commits");
    let sent = outputs(&mut alpha)
        .into_iter()
        .find_map(|output| match output {
            Output::Reply {
                result: Ok(Reply::Sent(sent)),
                ..
            } => Some(sent.id.to_string()),
            _ => None,
        })
        .expect("sent");
    drop(alpha);
    // Started again past both of the FLASH message's deadlines.
    let later_ms = NOW_MS + 60 * 60_000;
    let mut alpha = alpha_again(&store, later_ms);
    alpha.handle_timeout(later_ms);
    commit_all(&mut alpha, &mut store).expect("commits");
    let outputs = outputs(&mut alpha);
    let order: Vec<&str> = outputs
        .iter()
        .filter_map(|output| match output {
            Output::Event(Event::DeadlineWarning { id, .. }) if id.to_string() == sent => {
                Some("warning")
            }
            Output::Event(Event::Alarm { alarm, .. }) if alarm.subject == sent => Some("alarm"),
            _ => None,
        })
        .collect();
    // The receipt's and the answer's: each alarm has had a warning before it.
    assert_eq!(order.len(), 4, "{order:?}");
    for (index, _) in order
        .iter()
        .enumerate()
        .filter(|(_, kind)| **kind == "alarm")
    {
        let (warnings, alarms) = order[..index].iter().fold((0, 0), |(w, a), kind| {
            if *kind == "warning" {
                (w + 1, a)
            } else {
                (w, a + 1)
            }
        });
        assert!(warnings > alarms, "{order:?}");
    }
    // Each alarm says how long has passed and how long was allowed.
    let details: Vec<&str> = (outputs.iter())
        .filter_map(|output| match output {
            Output::Event(Event::Alarm { alarm, .. }) if alarm.subject == sent => {
                Some(alarm.detail.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        details,
        [
            "FLASH message seq 2 not receipted after 3600 s (60 s allowed)",
            "FLASH message seq 2 not answered after 3600 s (600 s allowed)"
        ]
    );
}

/// A bundle of many frames that are all refused (a peer's, signed, with junk in it) gives
/// the reasons of the first [`IMPORT_REASONS_MAX`] and counts the rest: the answer stays
/// within the API's line, which a client reads no further than.
#[test]
fn an_import_names_the_first_refusals_and_counts_them_all() {
    use crate::limits::{API_LINE_SIZE_MAX_BYTES, IMPORT_REASONS_MAX};
    use parley_proto::{Bundle, LinkId};

    let ((mut alpha, mut alpha_store), (bravo, _)) = paired_both();
    let (alpha_id, bravo_id) = (alpha.identity.id(), bravo.identity.id());
    let bundle_of = |count: usize| {
        Bundle {
            link: LinkId::between(&bravo_id, &alpha_id),
            from: bravo_id,
            to: alpha_id,
            created_ms: NOW_MS,
            // An unknown frame tag, and a long frame so that each reason is long.
            frames: (0..count).map(|_| vec![0x7f; 2_048]).collect(),
        }
        .sign(&bravo.identity)
    };
    for count in [IMPORT_REASONS_MAX, IMPORT_REASONS_MAX + 1, 20_000] {
        let command = Command::Import {
            bytes: bundle_of(count),
            salvage: false,
        };
        let reply = request(&mut alpha, &mut alpha_store, NOW_MS, command);
        let Ok(Reply::Imported(imported)) = &reply else {
            panic!("unexpected {reply:?}");
        };
        assert_eq!(imported.frames, count);
        assert_eq!(imported.rejected_total, count as u64);
        assert_eq!(imported.rejected.len(), count.min(IMPORT_REASONS_MAX));
        assert!(
            imported.rejected[0].starts_with("frame 0: "),
            "{imported:?}"
        );
        let line = crate::api::encode_answer(&Ok(reply.clone().expect("imported")));
        assert!(line.len() < API_LINE_SIZE_MAX_BYTES / 16, "{}", line.len());
    }
}

/// A peer's proposal that a stored record reads as valid but the rules for a new codebook
/// refuse (two choice values reading the same) cannot be accepted, and nothing is written.
#[test]
fn a_proposal_the_rules_for_a_new_codebook_refuse_cannot_be_accepted() {
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let example = include_str!("../../../../../examples/codebook.toml");
    let source = example.replace(
        "label.en = \"intercontinental ballistic missile (ICBM)\"",
        "label.en = \"submarine-launched ballistic missile (SLBM)\"",
    );
    assert!(parley_codebook::Codebook::parse_stored(&source).is_ok());
    let hash = parley_proto::CodebookHash::of(source.as_bytes());
    let alpha_id = alpha.identity().id();
    write_as_station(
        &mut bravo,
        &alpha_id,
        parley_proto::Body::CodebookProposal { source },
    );
    let via = Via::Direct(bravo.identity().id());
    for bytes in envelopes_out(&mut bravo, &mut bravo_store, NOW_MS) {
        alpha.handle(NOW_MS, Input::Frame { via, bytes });
    }
    commit_all(&mut alpha, &mut alpha_store).expect("commits");
    let head = |alpha: &Station| {
        alpha
            .endpoint()
            .link(&bravo.identity().id())
            .map(|l| l.out_seq())
    };
    let before = head(&alpha);
    let accept = Command::CodebookAccept {
        peer: "Bravo".into(),
        hash: Some(hash),
        operator: "Ana".into(),
    };
    match request(&mut alpha, &mut alpha_store, NOW_MS, accept) {
        Err(error) => assert!(error.message.contains("reads the same"), "{error:?}"),
        Ok(reply) => panic!("accepted: {reply:?}"),
    }
    assert_eq!(head(&alpha), before, "nothing was written");
}
