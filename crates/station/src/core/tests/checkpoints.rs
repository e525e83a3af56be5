//! Checkpoints: cosigned only when they agree with the entries held, and submitted to the
//! link's relays as witnesses.

use super::*;
use crate::core::WitnessSubmit;

/// What `core`'s log of the link with `peer` holds of each kind of checkpoint entry: its own
/// checkpoints, and its cosignatures of the peer's.
fn checkpoint_entries(core: &Station, peer: &StationId) -> (u64, u64) {
    let logs = &core.logs[peer];
    (
        logs.own_latest
            .as_ref()
            .map_or(0, |latest| latest.head.size),
        logs.peer_cosigned.as_ref().map_or(0, |c| c.head.size),
    )
}

/// `core`'s only witness of its log of the link with `peer` has no cosignature recorded,
/// and its error is that none in its answer verified.
fn assert_no_cosignature_verified(core: &Station, peer: &StationId) {
    let report = core.witness_report(peer);
    assert!(report[0].cosigned.is_none(), "{report:?}");
    let error = report[0].error.as_deref();
    assert!(error.is_some_and(|e| e.contains("verifies")), "{report:?}");
}

/// An operator of `core` asks for a checkpoint of its log of the link with `peer` now; the
/// envelopes `core` sends once that is committed.
fn checkpoint_issued(core: &mut Station, store: &mut Store, peer: &str) -> Vec<Vec<u8>> {
    let command = Command::CheckpointIssue {
        peer: peer.into(),
        operator: None,
    };
    core.handle(
        NOW_MS,
        Input::Command {
            id: RequestId(2),
            command,
        },
    );
    envelopes_out(core, store, NOW_MS)
}

/// Alpha's core as a restart at `now_ms` loads it from `store`.
fn alpha_restarted(alpha: &Station, store: &Store, now_ms: u64) -> Station {
    let config = Config::new("Alpha".into(), "en".into(), "127.0.0.1:9".into());
    let loaded = load(store, alpha.identity.clone(), &config, [1; 32]).expect("loads");
    Station::new(now_ms, loaded, Mode::Daemon).expect("builds")
}

/// Hands `frames` to `core` as if they came from `from` on the direct channel.
fn deliver_from(core: &mut Station, from: StationId, frames: &[Vec<u8>]) {
    for frame in frames {
        let input = Input::Frame {
            via: Via::Direct(from),
            bytes: frame.clone(),
        };
        core.handle(NOW_MS, input);
    }
}

/// The peer cosigns with both its keys, and `checkpoint show` says so; once its log holds
/// such a cosignature, a later one by Ed25519 alone (which a forger who could break Ed25519
/// could make) raises an alarm and does not count.
#[test]
fn a_cosignature_must_carry_the_peer_s_ml_dsa_signature_once_one_did() {
    use parley_proto::Body;
    use parley_proto::tlog::head::Cosignature;

    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let (alpha_id, bravo_id) = (alpha.identity.id(), bravo.identity.id());
    let frames = checkpoint_issued(&mut alpha, &mut alpha_store, "Bravo");
    deliver_from(&mut bravo, alpha_id, &frames);
    let frames = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    deliver_from(&mut alpha, bravo_id, &frames);
    commit_all(&mut alpha, &mut alpha_store).expect("commits");
    let size = checkpoint_entries(&alpha, &bravo_id).0;
    assert!(size > 0);
    assert_eq!(alpha.cosigned_upto(&bravo_id).0, size, "Bravo cosigned it");
    let report = alpha.checkpoint_report("Bravo").expect("a report");
    let cosigned = report.own.cosigned.expect("cosigned");
    assert!(cosigned.post_quantum, "{cosigned:?}");
    assert_eq!(
        cosigned.note.matches("\u{2014} parley.station/").count(),
        2,
        "Bravo's Ed25519 and ML-DSA-44 lines: {}",
        cosigned.note
    );
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 0);

    let head = (alpha.logs[&bravo_id].own_latest.as_ref())
        .expect("a checkpoint")
        .head;
    let classical = Cosignature::sign_classical(&bravo.identity, &alpha_id, head, NOW_MS / 1_000);
    write_as_station(&mut bravo, &alpha_id, Body::Cosigned(classical));
    let frames = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    deliver_from(&mut alpha, bravo_id, &frames);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 1);
    let alarms = alpha_store.alarms(false).expect("reads");
    assert!(
        alarms[0]
            .detail
            .contains("without the peer's ML-DSA-44 signature"),
        "{}",
        alarms[0].detail
    );
}

/// The peer's checkpoint is dated by the entry that carries it, whenever it is stored: as
/// `checkpoint show` says it before a restart, so it says it after.
#[test]
fn the_peer_s_checkpoint_is_dated_by_its_entry_before_and_after_a_restart() {
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let frames = checkpoint_issued(&mut bravo, &mut bravo_store, "Alpha");
    let stored_ms = NOW_MS + 5_000;
    for frame in &frames {
        let via = Via::Direct(bravo.identity.id());
        alpha.handle(
            stored_ms,
            Input::Frame {
                via,
                bytes: frame.clone(),
            },
        );
    }
    commit_all(&mut alpha, &mut alpha_store).expect("commits");
    let shown = |core: &Station| {
        let report = core.checkpoint_report("Bravo").expect("a report");
        report.peer_log.latest.expect("Bravo's checkpoint, checked")
    };
    let live = shown(&alpha);
    assert_eq!(live.at_ms, NOW_MS, "signed then, stored 5 s later");
    let restarted = alpha_restarted(&alpha, &alpha_store, stored_ms);
    assert_eq!(shown(&restarted), live);
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
    let frames = checkpoint_issued(&mut bravo, &mut bravo_store, "Alpha");
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

    // Bravo pinned from a version 2 card, its log holding a checkpoint signed with ML-DSA-44
    // (seq 3): a later one of the right root that only Ed25519 signs is refused too (a forger
    // who could break Ed25519 could make it).
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
    let mut restarted = alpha_restarted(&alpha, &alpha_store, NOW_MS + 1);
    assert_eq!(checkpoint_entries(&restarted, &bravo_id), (0, 1));
    assert_eq!(restarted.cosigned_upto(&bravo_id), (0, 1));
    assert_eq!(
        open_alarms(&mut restarted, &mut alpha_store, "split_view"),
        5
    );
}

/// The entry cadence's checkpoint never rides in the batch of the entry that asked for it,
/// whose commit, frame and receipt its signatures (and the peer's cosignature) would delay:
/// it is written in the next turn that writes nothing else, or, while every turn writes, once
/// it waited [`CHECKPOINT_WAIT_MS_MAX`]. A restart before it was written asks for it again. A
/// command on a stopped station, which has no later turn, writes it at once.
#[test]
fn the_cadence_s_checkpoint_waits_for_a_turn_that_writes_nothing_else() {
    use crate::limits::CHECKPOINT_WAIT_MS_MAX;

    let (mut alpha, mut store, bravo_id) = paired_alpha();
    alpha.settings.checkpoints.every_entries = 2;
    let settle = |core: &mut Station, store: &mut Store| {
        commit_all(core, store).expect("commits");
        while core.poll_output().is_some() {}
    };
    let own_checkpoint = |core: &Station| checkpoint_entries(core, &bravo_id).0;
    // The receipt of nothing its channel's coming up asked for goes first.
    while alpha.poll_transmit(NOW_MS).is_some() {}
    send(&mut alpha, 10);
    send(&mut alpha, 11);
    settle(&mut alpha, &mut store);
    assert_eq!(own_checkpoint(&alpha), 0, "not in the batch that asked");
    assert_eq!(alpha.poll_timeout(), Some(NOW_MS), "asked: due at once");

    // Restarted before it was written: asked again, and written in a turn of its own.
    let later_ms = NOW_MS + 5;
    let mut config = Config::new("Alpha".into(), "en".into(), "127.0.0.1:9".into());
    config.checkpoints.every_entries = 2;
    let loaded = load(&store, alpha.identity.clone(), &config, [1; 32]).expect("loads");
    let mut restarted = Station::new(later_ms, loaded, Mode::Daemon).expect("builds");
    settle(&mut restarted, &mut store);
    assert_eq!(own_checkpoint(&restarted), 0);
    assert_eq!(restarted.poll_timeout(), Some(later_ms));
    restarted.handle_timeout(later_ms);
    settle(&mut restarted, &mut store);
    let size = own_checkpoint(&restarted);
    assert!(size > 0, "written once nothing else was");
    assert_eq!(restarted.logs[&bravo_id].asked_ms, None);

    // Every turn writes: it waits, up to the limit.
    let asked_ms = later_ms + 1;
    send_at(&mut restarted, (asked_ms, "Bravo"), 12);
    send_at(&mut restarted, (asked_ms, "Bravo"), 13);
    settle(&mut restarted, &mut store);
    assert_eq!(restarted.logs[&bravo_id].asked_ms, Some(asked_ms));
    let busy_ms = asked_ms + CHECKPOINT_WAIT_MS_MAX - 1;
    send_at(&mut restarted, (busy_ms, "Bravo"), 14);
    restarted.handle_timeout(busy_ms);
    settle(&mut restarted, &mut store);
    assert_eq!(own_checkpoint(&restarted), size, "waits while writes go on");
    let waited_ms = asked_ms + CHECKPOINT_WAIT_MS_MAX;
    send_at(&mut restarted, (waited_ms, "Bravo"), 15);
    restarted.handle_timeout(waited_ms);
    settle(&mut restarted, &mut store);
    let waited = own_checkpoint(&restarted);
    assert!(waited > size, "written with the other writes");

    // A command on a stopped station has no later turn: it writes the checkpoint at once.
    drop(restarted);
    let offline_ms = waited_ms + 1;
    let loaded = load(&store, alpha.identity.clone(), &config, [1; 32]).expect("loads");
    let mut offline = Station::new(offline_ms, loaded, Mode::Offline).expect("builds");
    send_at(&mut offline, (offline_ms, "Bravo"), 16);
    send_at(&mut offline, (offline_ms, "Bravo"), 17);
    settle(&mut offline, &mut store);
    assert!(
        own_checkpoint(&offline) > waited,
        "in the command's own commit"
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

/// The submissions `core` released after committing what it wrote, and then a turn that
/// writes nothing else (in which the entry cadence's checkpoint is written).
fn submissions(core: &mut Station, store: &mut Store) -> Vec<WitnessSubmit> {
    commit_all(core, store).expect("commits");
    core.handle_timeout(NOW_MS);
    commit_all(core, store).expect("commits");
    (outputs(core).into_iter())
        .filter_map(|output| match output {
            Output::Witness(submit) => Some(submit),
            _ => None,
        })
        .collect()
}

/// `relay`'s cosignature line, as a witness, of the checkpoint `submit` carries.
fn cosignature_line(relay: &Identity, submit: &WitnessSubmit) -> String {
    let note = &submit.submission.checkpoint;
    let text = format!("{}\n", note.split("\n\n").next().expect("a note"));
    let name = parley_proto::tlog::head::witness(&relay.id());
    parley_proto::tlog::note::cosignature_line(&text, &name, relay.signing_key(), 1_800_000_000)
        .expect("a line")
}

fn answer(core: &mut Station, submit: &WitnessSubmit, answer: Result<WitnessAnswer, String>) {
    answer_showing(core, submit, answer, None);
}

/// As [`answer`], the witness showing `held` as its checkpoint of the log.
fn answer_showing(
    core: &mut Station,
    submit: &WitnessSubmit,
    answer: Result<WitnessAnswer, String>,
    held: Option<String>,
) {
    let input = Input::Witnessed {
        at: submit.at.clone(),
        peer: submit.peer,
        size: submit.size,
        answer,
        held,
    };
    core.handle(NOW_MS, input);
}

/// Whether a cosignature needs the peer's ML-DSA-44 signature depends on the peer's log, not
/// on arrival: one by Ed25519 alone that arrives before the earlier one that carries it is
/// still refused, once both are delivered.
#[test]
fn a_cosignature_arriving_before_an_earlier_post_quantum_one_still_needs_it() {
    use parley_proto::Body;
    use parley_proto::tlog::head::Cosignature;

    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let (alpha_id, bravo_id) = (alpha.identity.id(), bravo.identity.id());
    let frames = checkpoint_issued(&mut alpha, &mut alpha_store, "Bravo");
    deliver_from(&mut bravo, alpha_id, &frames);
    // Bravo cosigns with both keys, then (lying) by Ed25519 alone.
    let first = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    let head = (bravo.logs[&alpha_id].peer_cosigned.as_ref())
        .expect("cosigned")
        .head;
    let classical = Cosignature::sign_classical(&bravo.identity, &alpha_id, head, NOW_MS / 1_000);
    write_as_station(&mut bravo, &alpha_id, Body::Cosigned(classical));
    let second: Vec<Vec<u8>> = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS)
        .into_iter()
        .filter(|frame| !first.contains(frame))
        .collect();
    assert!(!second.is_empty());
    // The later one reaches Alpha first.
    deliver_from(&mut alpha, bravo_id, &second);
    commit_all(&mut alpha, &mut alpha_store).expect("commits");
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 0);
    deliver_from(&mut alpha, bravo_id, &first);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 1);
    let alarms = alpha_store.alarms(false).expect("reads");
    assert!(
        alarms[0]
            .detail
            .contains("without the peer's ML-DSA-44 signature"),
        "{}",
        alarms[0].detail
    );
}

/// Whether a checkpoint needs the peer's ML-DSA-44 signature depends on the peer's log, not
/// on arrival: one by Ed25519 alone that arrives before the earlier one that carries it, its
/// entries all delivered already, is still refused once its own entry is delivered.
#[test]
fn a_checkpoint_arriving_before_an_earlier_post_quantum_one_still_needs_it() {
    use parley_proto::Body;
    use parley_proto::tlog::head::SignedHead;

    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let (alpha_id, bravo_id) = (alpha.identity.id(), bravo.identity.id());
    send_at(&mut bravo, (NOW_MS, "Alpha"), 1);
    let mut seen = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);
    deliver_from(&mut alpha, bravo_id, &seen);
    commit_all(&mut alpha, &mut alpha_store).expect("commits");
    let delivered = bravo.logs[&alpha_id].own.len();
    assert!(delivered > 0);
    let mut new = |frames: Vec<Vec<u8>>| {
        let frames: Vec<Vec<u8>> = (frames.into_iter())
            .filter(|frame| !seen.contains(frame))
            .collect();
        seen.extend(frames.iter().cloned());
        frames
    };
    // Bravo checkpoints its log with both keys, then (lying) the same head by Ed25519 alone.
    let first = new(checkpoint_issued(&mut bravo, &mut bravo_store, "Alpha"));
    let root = bravo.logs[&alpha_id]
        .own
        .root_at(delivered)
        .expect("a root");
    let classical = SignedHead::sign(&bravo.identity, &alpha_id, delivered, root);
    write_as_station(&mut bravo, &alpha_id, Body::Checkpoint(classical, None));
    let second = new(envelopes_out(&mut bravo, &mut bravo_store, NOW_MS));
    assert!(!first.is_empty() && !second.is_empty());
    // The later one reaches Alpha first: what it covers is delivered, its own entry is not.
    deliver_from(&mut alpha, bravo_id, &second);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 0);
    assert_eq!(
        checkpoint_entries(&alpha, &bravo_id).1,
        0,
        "nothing cosigned yet"
    );
    deliver_from(&mut alpha, bravo_id, &first);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 1);
    let alarms = alpha_store.alarms(false).expect("reads");
    assert!(
        alarms[0].detail.contains("no signature by parley.station/"),
        "{}",
        alarms[0].detail
    );
    assert_eq!(
        checkpoint_entries(&alpha, &bravo_id).1,
        delivered,
        "the checkpoint signed with both keys is cosigned"
    );
}

/// A stock witness from the configuration gets every checkpoint of every link, as a relay
/// does; only a cosignature under its own name and key is recorded; having no way to show what
/// it holds, its `409` is followed when the size it names is within the checkpoint, and is its
/// error, with no alarm, when beyond it.
#[test]
fn a_stock_witness_gets_each_checkpoint_and_its_409_is_followed_only_within_it() {
    use parley_channels::WitnessAt;
    use parley_proto::tlog::head::Witness;

    let key = Identity::from_secret(&[5; 32]);
    let stock = Witness::from_verifier_key(&parley_proto::tlog::note::cosigner_verifier_key(
        "witness.example/w1",
        &key.signing_key().verifying_key(),
    ))
    .expect("a verifier key");
    let (mut alpha, mut store, bravo_id) = paired_alpha();
    alpha.settings.checkpoints.every_entries = 2;
    alpha.settings.checkpoints.witnesses = vec![stock.clone()];
    send(&mut alpha, 10);
    send(&mut alpha, 11);
    let first = submissions(&mut alpha, &mut store);
    assert_eq!(first.len(), 1, "one checkpoint, one witness");
    let first = &first[0];
    assert_eq!(first.at, WitnessAt::Stock(stock.clone()));
    let text = format!(
        "{}\n",
        first
            .submission
            .checkpoint
            .split("\n\n")
            .next()
            .expect("a note")
    );
    let line_as = |name: &str| {
        parley_proto::tlog::note::cosignature_line(&text, name, key.signing_key(), 1_800_000_000)
            .expect("a line")
    };
    // The same key's cosignature under a relay's name is not the stock witness's.
    let as_relay = line_as(&parley_proto::tlog::head::witness(&key.id()));
    answer(
        &mut alpha,
        first,
        Ok(WitnessAnswer::Cosigned(vec![as_relay])),
    );
    let report = alpha.witness_report(&bravo_id);
    assert_eq!(report.len(), 1);
    assert!(
        report[0].stock && report[0].cosigned.is_none(),
        "{report:?}"
    );
    assert_eq!(report[0].witness, "witness.example/w1");
    assert_eq!(report[0].verifier_key, stock.verifier_key());
    alpha.handle_timeout(NOW_MS + crate::limits::WITNESS_RETRY_MS);
    assert_eq!(submissions(&mut alpha, &mut store), vec![first.clone()]);
    let line = line_as("witness.example/w1");
    answer(&mut alpha, first, Ok(WitnessAnswer::Cosigned(vec![line])));
    commit_all(&mut alpha, &mut store).expect("commits");
    let report = alpha.witness_report(&bravo_id);
    let cosigned = report[0].cosigned.as_ref().expect("recorded");
    assert_eq!(cosigned.size, first.size);
    assert!(cosigned.note.contains("\u{2014} witness.example/w1 "));

    // A 409 within the checkpoint: submitted again from the size it names.
    send(&mut alpha, 12);
    send(&mut alpha, 13);
    let second = submissions(&mut alpha, &mut store);
    let second = &second[0];
    assert_eq!(second.submission.old_size, first.size);
    answer(&mut alpha, second, Ok(WitnessAnswer::Conflict(1)));
    let resent = submissions(&mut alpha, &mut store);
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].submission.old_size, 1);
    let tree = &alpha.logs[&bravo_id].own;
    let (old, new) = (tree.root_at(1).unwrap(), tree.root_at(second.size).unwrap());
    assert!(parley_proto::tlog::verify_consistency(
        (1, &old),
        (second.size, &new),
        &resent[0].submission.proof
    ));
    // At its own size: the same checkpoint again, from that size with no proof; and again
    // after that failed and its wait passed.
    answer(
        &mut alpha,
        &resent[0],
        Ok(WitnessAnswer::Conflict(second.size)),
    );
    let again = submissions(&mut alpha, &mut store);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].size, second.size);
    assert_eq!(again[0].submission.old_size, second.size);
    assert!(again[0].submission.proof.is_empty());
    answer(&mut alpha, &again[0], Err("connection refused".into()));
    assert!(submissions(&mut alpha, &mut store).is_empty(), "it waits");
    alpha.handle_timeout(NOW_MS + crate::limits::WITNESS_RETRY_MS);
    assert_eq!(submissions(&mut alpha, &mut store), again);
    // Beyond it: the witness's error, no alarm, tried again after the wait.
    answer(
        &mut alpha,
        &again[0],
        Ok(WitnessAnswer::Conflict(second.size + 1)),
    );
    let report = alpha.witness_report(&bravo_id);
    let error = report[0].error.as_deref().expect("an error");
    assert!(error.contains("beyond this checkpoint"), "{error}");
    assert_eq!(open_alarms(&mut alpha, &mut store, "split_view"), 0);
    assert!(submissions(&mut alpha, &mut store).is_empty());
}

/// A stock witness configured with one of the link's stations' keys never has a cosignature
/// recorded: it could pass a station's cosignature off as a witness's.
#[test]
fn a_stock_witness_with_a_station_s_key_has_nothing_recorded() {
    use parley_proto::tlog::head::Witness;

    let (mut alpha, mut store, bravo_id) = paired_alpha();
    let bravo = Identity::from_secret(&[2; 32]);
    assert_eq!(bravo.id(), bravo_id);
    let stock = Witness {
        name: "witness.example/w1".into(),
        key: bravo_id,
    };
    alpha.settings.checkpoints.every_entries = 2;
    alpha.settings.checkpoints.witnesses = vec![stock];
    send(&mut alpha, 10);
    send(&mut alpha, 11);
    let first = submissions(&mut alpha, &mut store);
    let text = format!(
        "{}\n",
        first[0]
            .submission
            .checkpoint
            .split("\n\n")
            .next()
            .expect("a note")
    );
    let line = parley_proto::tlog::note::cosignature_line(
        &text,
        "witness.example/w1",
        bravo.signing_key(),
        1_800_000_000,
    )
    .expect("a line");
    answer(
        &mut alpha,
        &first[0],
        Ok(WitnessAnswer::Cosigned(vec![line])),
    );
    assert_no_cosignature_verified(&alpha, &bravo_id);
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
    assert_no_cosignature_verified(&alpha, &bravo_id);
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

/// A checkpoint only Ed25519 signs, before any of the peer's log carries an ML-DSA-44
/// signature (a peer that wrote it before it had the key, pinned from its version 2 card
/// since), is checked by Ed25519 and cosigned; once one carries it, a later one without it is
/// refused (the other side: `a_checkpoint_is_cosigned_only_when_it_agrees_with_the_entries_held`).
#[test]
fn checkpoints_before_the_first_post_quantum_one_need_no_post_quantum_signature() {
    use parley_proto::Body;
    use parley_proto::tlog::head::SignedHead;

    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let (alpha_id, bravo_id) = (alpha.identity.id(), bravo.identity.id());
    let root = bravo.logs[&alpha_id].own.root_at(1).expect("one entry");
    let classical = SignedHead::sign(&bravo.identity, &alpha_id, 1, root);
    write_as_station(&mut bravo, &alpha_id, Body::Checkpoint(classical, None));
    for bytes in envelopes_out(&mut bravo, &mut bravo_store, NOW_MS) {
        let via = Via::Direct(bravo_id);
        alpha.handle(NOW_MS, Input::Frame { via, bytes });
    }
    commit_all(&mut alpha, &mut alpha_store).expect("commits");
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "split_view"), 0);
    assert_eq!(checkpoint_entries(&alpha, &bravo_id), (0, 1), "cosigned");
}
