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

const NOW_MS: u64 = 1_800_000_000_000;

/// A station core over an in-memory store.
fn station(name: &str, seed: u8) -> (Station, Store) {
    let identity = Identity::from_secret(&[seed; 32]);
    let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([seed; 32]));
    let mut store = Store::open_in_memory().expect("opens");
    store
        .init_station(name, "en", identity.id().0, &epoch, NOW_MS)
        .expect("initialises");
    let config = Config::new(name.into(), "en".into(), "127.0.0.1:9".into());
    // The endpoint's generator is seeded apart from the first key's, as a station's are.
    let loaded = load(&store, identity, &config, [!seed; 32]).expect("loads");
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
            result: Ok(())
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

fn status(core: &mut Station, store: &mut Store) -> crate::api::StatusReport {
    core.handle(
        NOW_MS,
        Input::Command {
            id: RequestId(99),
            command: Command::Status,
        },
    );
    commit_all(core, store).expect("commits");
    outputs(core)
        .into_iter()
        .find_map(|output| match output {
            Output::Reply {
                result: Ok(Reply::Status(report)),
                ..
            } => Some(*report),
            _ => None,
        })
        .expect("a status")
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

/// A peer that pinned a card whose epoch key this station does not hold (here: a key it never
/// made, as if erased long ago) seals its entries to it: each is refused unread, and the
/// refusal is an alarm naming the key, raised once however many copies come.
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
    assert_eq!(alarm.subject, format!("epoch key {}", gone.id()));
    assert!(alarm.detail.contains("fresh card"), "{}", alarm.detail);
    assert_eq!(
        alpha
            .endpoint()
            .link(&bravo.identity().id())
            .expect("paired")
            .in_head(),
        0
    );
}

/// What `core`'s log of the link with `peer` holds of each kind of checkpoint entry: its own
/// checkpoints, and its cosignatures of the peer's.
fn checkpoint_entries(core: &Station, peer: &StationId) -> (u64, u64) {
    let logs = &core.logs[peer];
    (
        logs.own_latest
            .as_ref()
            .map_or(0, |latest| latest.head.size),
        logs.peer_cosigned.map_or(0, |c| c.head.size),
    )
}

/// Appends `body` to `core`'s log of the link with `peer` as the station itself would, past
/// the core's own rules (so a test can make it lie).
fn write_as_station(core: &mut Station, peer: &StationId, body: parley_proto::Body) {
    core.endpoint
        .append(NOW_MS, peer, Precedence::Routine, body)
        .expect("appends");
    core.collect(NOW_MS);
}

/// The peer's honest checkpoint is cosigned; one whose root is not the root of the entries
/// held (a split view), though validly signed, raises an alarm and is not cosigned.
#[test]
fn a_checkpoint_is_cosigned_only_when_it_agrees_with_the_entries_held() {
    use parley_proto::Body;
    use parley_proto::tlog::head::{Cosignature, PqHeadSignature, SignedHead, WitnessCosignature};

    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let (alpha_id, bravo_id) = (alpha.identity.id(), bravo.identity.id());
    let deliver = |alpha: &mut Station, frames: &[Vec<u8>]| {
        for frame in frames {
            let via = Via::Direct(bravo_id);
            alpha.handle(
                NOW_MS,
                Input::Frame {
                    via,
                    bytes: frame.clone(),
                },
            );
        }
    };
    let issue = Command::CheckpointIssue {
        peer: "Alpha".into(),
        operator: None,
    };
    bravo.handle(
        NOW_MS,
        Input::Command {
            id: RequestId(2),
            command: issue,
        },
    );
    let frames = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    deliver(&mut alpha, &frames);
    commit_all(&mut alpha, &mut alpha_store).expect("commits");
    assert_eq!(checkpoint_entries(&bravo, &alpha_id), (1, 0));
    assert_eq!(
        checkpoint_entries(&alpha, &bravo_id),
        (0, 1),
        "Alpha cosigned size 1"
    );
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 0);

    // Bravo signs a head of its first two entries with another root, and sends it.
    let lie = SignedHead::sign(&bravo.identity, &alpha_id, 2, [9; 32]);
    let pq = PqHeadSignature::sign(&bravo.identity, &alpha_id, &lie);
    write_as_station(&mut bravo, &alpha_id, Body::Checkpoint(lie, Some(pq)));
    let frames = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    deliver(&mut alpha, &frames);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 1);
    assert_eq!(
        checkpoint_entries(&alpha, &bravo_id),
        (0, 1),
        "not cosigned"
    );
    let alarm = alpha_store.alarms(false).expect("reads");
    let alarm = alarm
        .iter()
        .find(|a| a.kind.name() == "split_view")
        .expect("raised");
    assert_eq!(alarm.subject, "checkpoint at seq 3");
    assert!(alarm.detail.contains("another root"), "{}", alarm.detail);
    assert!(
        alarm.detail.contains("\n\u{2014} parley.link/"),
        "the signed note is kept"
    );

    // Bravo pinned from a version 2 card: a checkpoint of the right root that only Ed25519
    // signs is refused too (a forger who could break Ed25519 could make it).
    let root = bravo.logs[&alpha_id].own.root_at(2).expect("two entries");
    let classical = SignedHead::sign(&bravo.identity, &alpha_id, 2, root);
    write_as_station(&mut bravo, &alpha_id, Body::Checkpoint(classical, None));
    let frames = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    deliver(&mut alpha, &frames);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 2);
    let alarms = alpha_store.alarms(false).expect("reads");
    let unsigned = alarms
        .iter()
        .find(|a| a.subject == "checkpoint at seq 4")
        .expect("raised");
    assert!(
        unsigned.detail.contains("no signature by parley.station/"),
        "{}",
        unsigned.detail
    );
    assert_eq!(
        checkpoint_entries(&alpha, &bravo_id),
        (0, 1),
        "not cosigned"
    );

    // Bravo "cosigns" Alpha's log at a size beyond it, then with another root: each alarmed,
    // neither taken as Alpha's cosigned size.
    let alpha_head = checkpoint_entries(&alpha, &bravo_id);
    assert_eq!(alpha.cosigned_upto(&bravo_id).0, 0);
    for (size, root) in [(9, [1; 32]), (1, [2; 32])] {
        let head = SignedHead::sign(&alpha.identity, &bravo_id, size, root);
        let forged = Cosignature::sign(&bravo.identity, &alpha_id, head, NOW_MS / 1_000);
        write_as_station(&mut bravo, &alpha_id, Body::Cosigned(forged));
    }
    let frames = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    deliver(&mut alpha, &frames);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 4);
    assert_eq!(
        alpha.cosigned_upto(&bravo_id).0,
        0,
        "no forged cosignature counts"
    );
    assert_eq!(checkpoint_entries(&alpha, &bravo_id), alpha_head);

    // Bravo appends a witness's cosignatures of its own checkpoints: one with its log's root
    // raises nothing; one with another root (a history Bravo showed the witness) an alarm
    // holding the witnessed note.
    let witness = Identity::from_secret(&[9; 32]);
    let root = bravo.logs[&alpha_id].own.root_at(2).expect("two entries");
    for root in [root, [8; 32]] {
        let head = SignedHead::sign(&bravo.identity, &alpha_id, 2, root);
        let by = WitnessCosignature::sign(&witness, (&bravo_id, &alpha_id), head, NOW_MS / 1_000);
        write_as_station(&mut bravo, &alpha_id, Body::Witnessed(by));
    }
    let frames = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    deliver(&mut alpha, &frames);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 5);
    let alarms = alpha_store.alarms(false).expect("reads");
    let witnessed: Vec<_> = alarms
        .iter()
        .filter(|a| a.subject.starts_with("witnessed at seq"))
        .collect();
    assert_eq!(witnessed.len(), 1, "{witnessed:?}");
    let other_root_seq = bravo.logs[&alpha_id].own.len();
    assert_eq!(
        witnessed[0].subject,
        format!("witnessed at seq {other_root_seq}"),
        "the one with another root, the last Bravo wrote"
    );
    assert!(
        witnessed[0].detail.contains("another history")
            && witnessed[0].detail.contains("\u{2014} parley.witness/"),
        "{}",
        witnessed[0].detail
    );

    // Restarted from its store, Alpha knows what it cosigned, takes no forged cosignature
    // for real, and raises nothing new.
    let loaded = load(
        &alpha_store,
        alpha.identity.clone(),
        &Config::new("Alpha".into(), "en".into(), "127.0.0.1:9".into()),
        [1; 32],
    )
    .expect("loads");
    let mut restarted = Station::new(NOW_MS + 1, loaded, Mode::Daemon).expect("builds");
    assert_eq!(checkpoint_entries(&restarted, &bravo_id), (0, 1));
    assert_eq!(restarted.cosigned_upto(&bravo_id), (0, 1));
    assert_eq!(
        open_alarms(&mut restarted, &mut alpha_store, "split_view"),
        5
    );
}

/// Alpha with a relay channel to Bravo (the relay `relay`), checkpointing every two entries.
fn alpha_with_relay(relay: &Identity) -> (Station, Store) {
    let (mut alpha, mut store, _) = paired_alpha();
    alpha.settings.checkpoints.every_entries = 2;
    let card = parley_proto::ContactCard {
        name: "Relay".into(),
        identity: relay.id(),
        epoch_key_id: alpha.card().0.epoch_key_id,
        epoch_public: alpha.card().0.epoch_public,
        addresses: vec!["https://127.0.0.1:7400".into()],
        lang: "en".into(),
        created_ms: NOW_MS,
        pq_key: Some(relay.pq().public().clone()),
    };
    let command = Command::ChannelAdd {
        peer: "Bravo".into(),
        kind: parley_proto::ChannelKind::Relay,
        target: "https://127.0.0.1:7400".into(),
        card: Some(card.to_text(&card.sign(relay))),
        fingerprint: Some(relay.fingerprint().to_string()),
    };
    alpha.handle(
        NOW_MS,
        Input::Command {
            id: RequestId(3),
            command,
        },
    );
    commit_all(&mut alpha, &mut store).expect("commits");
    while alpha.poll_output().is_some() {}
    (alpha, store)
}

/// The submissions `core` released after committing what it wrote.
fn submissions(core: &mut Station, store: &mut Store) -> Vec<super::WitnessSubmit> {
    commit_all(core, store).expect("commits");
    (outputs(core).into_iter())
        .filter_map(|output| match output {
            Output::Witness(submit) => Some(submit),
            _ => None,
        })
        .collect()
}

/// `relay`'s cosignature line, as a witness, of the checkpoint `submit` carries.
fn cosignature_line(relay: &Identity, submit: &super::WitnessSubmit) -> String {
    let note = &submit.submission.checkpoint;
    let text = format!("{}\n", note.split("\n\n").next().expect("a note"));
    let name = parley_proto::tlog::head::witness(&relay.id());
    parley_proto::tlog::note::cosignature_line(&text, &name, relay.signing_key(), 1_800_000_000)
        .expect("a line")
}

fn answer(
    core: &mut Station,
    submit: &super::WitnessSubmit,
    answer: Result<WitnessAnswer, String>,
) {
    answer_showing(core, submit, answer, None);
}

/// As [`answer`], the witness showing `held` as its checkpoint of the log.
fn answer_showing(
    core: &mut Station,
    submit: &super::WitnessSubmit,
    answer: Result<WitnessAnswer, String>,
    held: Option<String>,
) {
    let input = Input::Witnessed {
        via: submit.via,
        peer: submit.peer,
        size: submit.size,
        answer,
        held,
    };
    core.handle(NOW_MS, input);
}

/// Each checkpoint goes to the link's relay as a witness after its commit, with a proof from
/// the size the witness holds; a good cosignature becomes an entry, a bad one does not; a 409
/// sends it again from the size named when the witness proves it (0, or its checkpoint of
/// that size signed by this station, with this log's root); a signed checkpoint beyond the
/// log is an alarm, a bare claim is not; a failure is tried again after its wait, a 404 only
/// with the next checkpoint.
#[test]
fn checkpoints_go_to_the_witness_and_only_its_good_cosignatures_are_recorded() {
    use parley_proto::tlog::{self, note};

    let relay = Identity::from_secret(&[3; 32]);
    let (mut alpha, mut store) = alpha_with_relay(&relay);
    let bravo_id = alpha.peers.keys().next().copied().expect("paired");
    let alpha_id = alpha.identity.id();
    let origin = tlog::head::origin(&alpha_id, &bravo_id);
    let key = alpha_id.verifying_key().expect("a key");
    send(&mut alpha, 10);
    send(&mut alpha, 11);
    assert!(
        !outputs(&mut alpha)
            .iter()
            .any(|output| matches!(output, Output::Witness(_))),
        "no submission before the checkpoint is committed"
    );
    let first = submissions(&mut alpha, &mut store);
    assert_eq!(first.len(), 1, "one checkpoint, one relay");
    let first = &first[0];
    assert_eq!(
        (first.submission.old_size, first.submission.proof.len()),
        (0, 0)
    );
    note::open(&first.submission.checkpoint, &origin, &key).expect("Alpha signed it");

    // A cosignature by another key is not recorded; the relay's is, as an entry.
    let forged = cosignature_line(&Identity::from_secret(&[4; 32]), first);
    answer(&mut alpha, first, Ok(WitnessAnswer::Cosigned(vec![forged])));
    let report = alpha.witness_report(&bravo_id);
    assert!(report[0].cosigned.is_none(), "{report:?}");
    assert!(
        report[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("verifies"))
    );
    assert!(
        submissions(&mut alpha, &mut store).is_empty(),
        "it waits its retry"
    );
    alpha.handle_timeout(NOW_MS + crate::limits::WITNESS_RETRY_MS);
    let again = submissions(&mut alpha, &mut store);
    assert_eq!(
        again,
        vec![first.clone()],
        "the same checkpoint, after the wait"
    );
    let line = cosignature_line(&relay, first);
    answer(&mut alpha, first, Ok(WitnessAnswer::Cosigned(vec![line])));
    commit_all(&mut alpha, &mut store).expect("commits");
    let report = alpha.witness_report(&bravo_id);
    let cosigned = report[0].cosigned.as_ref().expect("recorded");
    assert_eq!((cosigned.size, report[0].holds), (first.size, first.size));
    assert!(report[0].error.is_none());

    // The next checkpoint carries a proof from the size the witness holds.
    send(&mut alpha, 12);
    send(&mut alpha, 13);
    let second = submissions(&mut alpha, &mut store);
    let second = &second[0];
    assert_eq!(second.submission.old_size, first.size);
    let tree = &alpha.logs[&bravo_id].own;
    let (old, new) = (
        tree.root_at(first.size).unwrap(),
        tree.root_at(second.size).unwrap(),
    );
    assert!(tlog::verify_consistency(
        (first.size, &old),
        (second.size, &new),
        &second.submission.proof
    ));

    // A witness that lost its store says it holds nothing: submitted again from 0.
    answer(&mut alpha, second, Ok(WitnessAnswer::Conflict(0)));
    let resent = submissions(&mut alpha, &mut store);
    assert_eq!(resent[0].submission.old_size, 0);
    assert!(resent[0].submission.proof.is_empty());
    // One that shows its checkpoint of the first size, signed by Alpha with Alpha's root:
    // submitted again from there.
    let shown = |size: u64, root| {
        parley_proto::tlog::head::SignedHead::sign(&alpha_identity(), &bravo_id, size, root)
            .note(&alpha_id, &bravo_id)
    };
    let at_first = Some(shown(first.size, old));
    let conflict = Ok(WitnessAnswer::Conflict(first.size));
    answer_showing(&mut alpha, &resent[0], conflict, at_first);
    let from_first = submissions(&mut alpha, &mut store);
    assert_eq!(from_first[0].submission.old_size, first.size);
    // A bare claim to hold more than Alpha wrote is that witness's error, not an alarm.
    answer(
        &mut alpha,
        &from_first[0],
        Ok(WitnessAnswer::Conflict(10_000)),
    );
    assert_eq!(open_alarms(&mut alpha, &mut store, "split_view"), 0);
    let report = alpha.witness_report(&bravo_id);
    let error = report[0].error.clone().unwrap_or_default();
    assert!(error.contains("showed no checkpoint"), "{error}");
    // Shown signed with Alpha's key, it is another history of Alpha's log: one alarm.
    alpha.handle_timeout(NOW_MS + crate::limits::WITNESS_RETRY_MS);
    let again = submissions(&mut alpha, &mut store);
    let beyond = Some(shown(10_000, [7; 32]));
    answer_showing(
        &mut alpha,
        &again[0],
        Ok(WitnessAnswer::Conflict(10_000)),
        beyond,
    );
    assert_eq!(open_alarms(&mut alpha, &mut store, "split_view"), 1);
    let report = alpha.witness_report(&bravo_id);
    let error = report[0].error.clone().unwrap_or_default();
    assert!(error.contains("another history"), "{error}");

    // A 404 waits for the next checkpoint, not a timer.
    alpha.handle_timeout(NOW_MS + 2 * crate::limits::WITNESS_RETRY_MS);
    let retried = submissions(&mut alpha, &mut store);
    answer(&mut alpha, &retried[0], Ok(WitnessAnswer::NotWitnessing));
    assert_eq!(alpha.next_witness_ms(), None);
}

/// Alpha's identity, as [`paired_alpha`] made it.
fn alpha_identity() -> Identity {
    Identity::from_secret(&[1; 32])
}

fn rotate(core: &mut Station, store: &mut Store, now_ms: u64) -> crate::api::KeyRotated {
    let command = Command::KeyRotate;
    core.handle(
        now_ms,
        Input::Command {
            id: RequestId(50),
            command,
        },
    );
    commit_all(core, store).expect("commits");
    outputs(core)
        .into_iter()
        .find_map(|output| match output {
            Output::Reply {
                result: Ok(Reply::KeyRotated(rotated)),
                ..
            } => Some(rotated),
            _ => None,
        })
        .expect("rotated")
}

/// A superseded epoch key stays while the peer may still seal to it, past its retention, and
/// is erased (in memory and in the store) once an entry the peer wrote after reading the new
/// key is delivered in order; the messages sealed to either key are all delivered.
#[test]
fn a_superseded_epoch_key_is_erased_once_the_peer_has_moved_past_it() {
    const DAY_MS: u64 = 24 * 3_600_000;
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let (alpha_id, bravo_id) = (alpha.identity().id(), bravo.identity().id());
    let deliver = |core: &mut Station, store: &mut Store, from: StationId, now_ms, frame: &[u8]| {
        let input = Input::Frame {
            via: Via::Direct(from),
            bytes: frame.to_vec(),
        };
        core.handle(now_ms, input);
        commit_all(core, store).expect("commits");
        core.handle_timeout(now_ms);
        commit_all(core, store).expect("commits");
    };
    for frame in envelopes_out(&mut alpha, &mut alpha_store, NOW_MS) {
        deliver(&mut bravo, &mut bravo_store, alpha_id, NOW_MS, &frame);
    }
    let old = bravo.endpoint().keyring().current().id();
    let rotated = rotate(&mut bravo, &mut bravo_store, NOW_MS);
    assert_eq!(rotated.announced_to, ["Alpha"]);
    let announcement = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);

    // Alpha writes before it reads the new key: sealed to the old one.
    send_at(&mut alpha, (NOW_MS, "Bravo"), 2);
    let sealed_to_old = envelopes_out(&mut alpha, &mut alpha_store, NOW_MS);
    let keys = |core: &mut Station, store: &mut Store| {
        let report = status(core, store);
        let keys: Vec<(bool, Vec<String>)> = report
            .epoch_keys
            .iter()
            .map(|k| (k.current, k.needed_by.clone()))
            .collect();
        keys
    };
    let later = NOW_MS + 15 * DAY_MS;
    bravo.handle_timeout(later);
    commit_all(&mut bravo, &mut bravo_store).expect("commits");
    assert_eq!(
        keys(&mut bravo, &mut bravo_store),
        [(true, vec![]), (false, vec!["Alpha".to_owned()])],
        "past its retention, the old key is held for Alpha"
    );

    // Alpha reads the new key and writes again; that entry, alone, is held above a gap.
    for frame in &announcement {
        deliver(&mut alpha, &mut alpha_store, bravo_id, later, frame);
    }
    send_at(&mut alpha, (later, "Bravo"), 3);
    let sealed_to_new: Vec<Vec<u8>> = envelopes_out(&mut alpha, &mut alpha_store, later)
        .into_iter()
        .filter(|frame| !sealed_to_old.contains(frame))
        .collect();
    for frame in &sealed_to_new {
        deliver(&mut bravo, &mut bravo_store, alpha_id, later, frame);
    }
    assert_eq!(bravo_store.epoch_keys().expect("reads").len(), 2, "a gap");
    assert!(bravo.endpoint().keyring().get(&old).is_some());

    // The entry sealed to the old key arrives: delivered, and the old key goes at the next
    // look a delivery asks for.
    for frame in &sealed_to_old {
        deliver(&mut bravo, &mut bravo_store, alpha_id, later, frame);
    }
    assert!(bravo.endpoint().keyring().get(&old).is_some(), "not yet");
    bravo.handle_timeout(later + crate::limits::KEY_DELIVERY_RECHECK_MS);
    commit_all(&mut bravo, &mut bravo_store).expect("commits");
    let link = bravo.endpoint().link(&alpha_id).expect("paired");
    assert_eq!(
        link.in_head(),
        alpha.endpoint().link(&bravo_id).unwrap().out_seq()
    );
    assert!(link.counters().rejected.is_empty());
    assert!(bravo.endpoint().keyring().get(&old).is_none(), "erased");
    let stored = bravo_store.epoch_keys().expect("reads");
    assert_eq!(stored.len(), 1);
    assert_eq!(keys(&mut bravo, &mut bravo_store), [(true, vec![])]);
}

/// The daemon's schedule makes a new key once per period, announced once on each link.
#[test]
fn a_scheduled_rotation_announces_the_new_key_once() {
    let ((mut alpha, mut alpha_store), _) = paired_both();
    let period_ms = 60_000;
    alpha.keys.settings.rotate_every_ms = Some(period_ms);
    let bravo_id = *alpha.peers().keys().next().expect("paired");
    let written = |alpha: &Station| alpha.endpoint().link(&bravo_id).unwrap().out_seq();
    let before = written(&alpha);
    for now_ms in [NOW_MS + period_ms, NOW_MS + period_ms + 1] {
        alpha.handle_timeout(now_ms);
        commit_all(&mut alpha, &mut alpha_store).expect("commits");
    }
    assert_eq!(written(&alpha), before + 1, "one announcement");
    assert_eq!(alpha_store.epoch_keys().expect("reads").len(), 2);
    let record = alpha_store.link_record(&bravo_id).expect("reads");
    let announced: Vec<_> = record
        .own_key_announcements
        .iter()
        .map(|(_, k)| *k)
        .collect();
    assert_eq!(
        announced.last(),
        Some(&alpha.endpoint().keyring().current().id())
    );
    assert_eq!(announced.len(), 2, "the pairing's and the rotation's");
}

/// A peer that pairs after a rotation, from a card printed before it, seals its first entries
/// to the superseded key: the key is held for it and those entries open.
#[test]
fn a_key_is_held_for_a_peer_paired_from_a_card_printed_before_the_rotation() {
    let (mut alpha, mut alpha_store) = station("Alpha", 1);
    let (mut bravo, mut bravo_store) = station("Bravo", 2);
    let stale_card = bravo.card();
    let rotated = rotate(&mut bravo, &mut bravo_store, NOW_MS);
    assert!(rotated.announced_to.is_empty(), "no peer yet");
    let alpha_card = alpha.card();
    pin(&mut alpha, &mut alpha_store, &stale_card, false);
    pin(&mut bravo, &mut bravo_store, &alpha_card, false);
    let report = status(&mut bravo, &mut bravo_store);
    assert_eq!(report.epoch_keys.len(), 2);
    assert_eq!(report.epoch_keys[1].needed_by, ["Alpha"]);
    let later = NOW_MS + 20 * 24 * 3_600_000; // past the retention, before the next rotation
    bravo.handle_timeout(later);
    commit_all(&mut bravo, &mut bravo_store).expect("commits");
    assert_eq!(
        bravo_store.epoch_keys().expect("reads").len(),
        2,
        "held past retention"
    );
    // Alpha's pairing entry, sealed to the key of the card it pinned, opens.
    let alpha_id = alpha.identity().id();
    let via = Via::Direct(bravo.identity().id());
    let signal = Signal::Connected { rtt_us: Some(500) };
    alpha.handle(later, Input::Health { via, signal });
    for frame in envelopes_out(&mut alpha, &mut alpha_store, later) {
        let input = Input::Frame {
            via: Via::Direct(alpha_id),
            bytes: frame,
        };
        bravo.handle(later, input);
    }
    commit_all(&mut bravo, &mut bravo_store).expect("commits");
    let link = bravo.endpoint().link(&alpha_id).expect("paired");
    let written = alpha
        .endpoint()
        .link(&bravo.identity().id())
        .unwrap()
        .out_seq();
    assert_eq!(link.in_head(), written, "all of Alpha's entries open");
    assert!(
        link.counters().rejected.is_empty(),
        "{:?}",
        link.counters().rejected
    );
}
