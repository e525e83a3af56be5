//! The link state machine between two endpoints, checked against tables: a whole pairing step by
//! step through losses, a channel outage and restarts; every kind of frame a link must accept
//! or refuse; and the retransmission schedule of each channel kind.

mod harness;

use harness::{CHANNEL, Pair};
use parley_proto::frame::{Frame, TAG_ENVELOPE, TAG_RECEIPT};
use parley_proto::limits::{
    DIRECT_RETRANSMIT_MS_MAX, ENTRY_FUTURE_SKEW_MS_MAX, ENVELOPE_SIZE_MAX_BYTES, RECEIPT_EXTRA_MAX,
    REORDER_WINDOW_MAX_ENTRIES, RESEAL_ENTRIES_MAX, TEXT_SIZE_MAX_BYTES,
};
use parley_proto::receipt::Receipt;
use parley_proto::{
    ChannelKind, Endpoint, EntryId, EvidenceKind, FrameKind, Identity, IntakeLimit, LinkId,
    LinkSnapshot, Precedence, RecoverError, SignedEntry, StationId, StoreOp,
};

/// What one side of the link must look like, live and in its snapshot.
#[derive(Debug)]
struct Expect {
    out_seq: u64,
    /// Unreceipted own entries: (seq, transmitted).
    outbox: &'static [(u64, bool)],
    receipt_upto: u64,
    in_head: u64,
    pending: &'static [u64],
}

/// Checks one side, live link and snapshot, against `expect`.
fn check_side(pair: &Pair, side: usize, step: &str, expect: &Expect) {
    let peer = pair.peer_of(side);
    let own = pair.sides[side].id();
    let link = pair.sides[side].endpoint.link(&peer).expect("paired");
    let live = (
        link.out_seq(),
        link.outbox_depth(),
        link.peer_receipt_upto(),
        link.in_head(),
        link.in_pending(),
    );
    let expected = (
        expect.out_seq,
        expect.outbox.len(),
        expect.receipt_upto,
        expect.in_head,
        expect.pending.len(),
    );
    assert_eq!(live, expected, "{step}: side {side}, live link");
    for (seq, _) in expect.outbox {
        assert!(link.is_outstanding(*seq), "{step}: side {side}, seq {seq}");
    }

    let snapshot = pair.snapshot(side);
    let own_ids: Vec<EntryId> = (1..=expect.out_seq).map(|seq| pair.id(own, seq)).collect();
    assert_eq!(snapshot.out_ids, own_ids, "{step}: side {side}, out_ids");
    let outbox: Vec<(u64, bool)> = snapshot
        .outbox
        .iter()
        .map(|item| (item.seq, item.transmitted))
        .collect();
    assert_eq!(outbox, expect.outbox, "{step}: side {side}, outbox");
    for item in &snapshot.outbox {
        assert_eq!(item.entry_id, pair.id(own, item.seq), "{step}: outbox id");
        assert_eq!(
            pair.frames.get(&item.frame),
            Some(&(own, item.seq)),
            "{step}: frame"
        );
    }
    assert_eq!(
        snapshot.peer_receipt_upto, expect.receipt_upto,
        "{step}: side {side}, receipt"
    );
    let in_ids: Vec<EntryId> = (1..=expect.in_head).map(|seq| pair.id(peer, seq)).collect();
    assert_eq!(snapshot.in_ids, in_ids, "{step}: side {side}, in_ids");
    let pending: Vec<u64> = snapshot.in_pending.iter().map(|p| p.seq).collect();
    assert_eq!(pending, expect.pending, "{step}: side {side}, pending");
    for item in &snapshot.in_pending {
        assert_eq!(item.entry_id, pair.id(peer, item.seq), "{step}: pending id");
        assert_eq!(
            item.prev,
            pair.id(peer, item.seq - 1),
            "{step}: pending prev"
        );
    }
    let peer_epoch = pair.sides[1 - side].keyring.current().public_bytes();
    assert_eq!(snapshot.peer_epoch_public, peer_epoch, "{step}: epoch key");
    assert_eq!(snapshot.evidence_count, 0, "{step}: evidence");
}

type Step = (&'static str, fn(&mut Pair), Expect, Expect);

const STEPS: &[Step] = &[
    (
        "paired: both key announcements delivered and receipted",
        |pair| {
            pair.pair();
            pair.pump();
        },
        Expect {
            out_seq: 1,
            outbox: &[],
            receipt_upto: 1,
            in_head: 1,
            pending: &[],
        },
        Expect {
            out_seq: 1,
            outbox: &[],
            receipt_upto: 1,
            in_head: 1,
            pending: &[],
        },
    ),
    (
        "alpha sends three, the second is lost once: bravo holds seq 4 above its head",
        |pair| {
            assert_eq!(pair.send(0, "one"), 2);
            let alpha = pair.sides[0].id();
            pair.lose_once.insert((alpha, 3));
            pair.send(0, "two");
            pair.send(0, "three");
            pair.pump();
        },
        Expect {
            out_seq: 4,
            outbox: &[(3, true)],
            receipt_upto: 2,
            in_head: 1,
            pending: &[],
        },
        Expect {
            out_seq: 1,
            outbox: &[],
            receipt_upto: 1,
            in_head: 2,
            pending: &[4],
        },
    ),
    (
        "alpha's channel goes down: its new message stays queued, bravo's reply unreceipted",
        |pair| {
            pair.set_up(0, false);
            pair.send(0, "four");
            pair.send(1, "reply");
            pair.pump();
        },
        Expect {
            out_seq: 5,
            outbox: &[(3, true), (5, false)],
            receipt_upto: 2,
            in_head: 2,
            pending: &[],
        },
        Expect {
            out_seq: 2,
            outbox: &[(2, true)],
            receipt_upto: 1,
            in_head: 2,
            pending: &[4],
        },
    ),
    (
        "both restart from their snapshots alone; nothing changes",
        |pair| {
            pair.restart(0);
            pair.restart(1);
        },
        Expect {
            out_seq: 5,
            outbox: &[(3, true), (5, false)],
            receipt_upto: 2,
            in_head: 2,
            pending: &[],
        },
        Expect {
            out_seq: 2,
            outbox: &[(2, true)],
            receipt_upto: 1,
            in_head: 2,
            pending: &[4],
        },
    ),
    (
        "the rebuilt links resend, deliver and receipt everything",
        |pair| pair.pump(),
        Expect {
            out_seq: 5,
            outbox: &[],
            receipt_upto: 5,
            in_head: 2,
            pending: &[],
        },
        Expect {
            out_seq: 2,
            outbox: &[],
            receipt_upto: 2,
            in_head: 5,
            pending: &[],
        },
    ),
    (
        "the rebuilt link continues its log at the next seq",
        |pair| {
            assert_eq!(pair.send(0, "five"), 6);
            pair.pump();
        },
        Expect {
            out_seq: 6,
            outbox: &[],
            receipt_upto: 6,
            in_head: 2,
            pending: &[],
        },
        Expect {
            out_seq: 2,
            outbox: &[],
            receipt_upto: 2,
            in_head: 6,
            pending: &[],
        },
    ),
    (
        "a second restart reads the same state",
        |pair| {
            pair.restart(0);
            pair.restart(1);
            pair.pump();
        },
        Expect {
            out_seq: 6,
            outbox: &[],
            receipt_upto: 6,
            in_head: 2,
            pending: &[],
        },
        Expect {
            out_seq: 2,
            outbox: &[],
            receipt_upto: 2,
            in_head: 6,
            pending: &[],
        },
    ),
];

#[test]
fn a_pairing_survives_losses_outages_and_restarts_step_by_step() {
    let mut pair = Pair::new();
    for (step, action, alpha, bravo) in STEPS {
        action(&mut pair);
        check_side(&pair, 0, step, alpha);
        check_side(&pair, 1, step, bravo);
    }
}

/// An endpoint holding Alpha's keys whose log with Bravo is `written` entries of made-up ids:
/// what it sends next claims to be Alpha's seq `written + 1`, with a `prev` Bravo never saw.
fn alpha_clone(pair: &Pair, written: u64, seed: u8) -> Endpoint {
    let alpha = &pair.sides[0];
    let mut clone = Endpoint::new(alpha.identity.clone(), alpha.keyring.clone(), [seed; 32]);
    let snapshot = LinkSnapshot {
        out_ids: (0..written)
            .map(|i| EntryId([(i % 251) as u8 + 1; 32]))
            .collect(),
        peer_receipt_upto: written,
        peer_epoch_public: pair.sides[1].keyring.current().public_bytes().to_vec(),
        ..LinkSnapshot::default()
    };
    clone
        .load_link(pair.sides[1].id(), snapshot)
        .expect("Bravo's key is valid");
    clone
}

/// An endpoint holding Alpha's keys and Alpha's real log with Bravo, but believing it has read
/// a Bravo entry `seen` that Bravo never wrote: its next entry continues Alpha's chain and
/// names `seen`.
fn alpha_clone_seeing(pair: &Pair, seen: EntryId, seed: u8) -> Endpoint {
    let alpha = &pair.sides[0];
    let mut clone = Endpoint::new(alpha.identity.clone(), alpha.keyring.clone(), [seed; 32]);
    let mut snapshot = pair.snapshot(0);
    snapshot.in_ids = vec![seen];
    snapshot.in_pending.clear();
    clone
        .load_link(pair.sides[1].id(), snapshot)
        .expect("Alpha's own snapshot");
    clone
}

/// The frame `clone` sends for a message written at `now_ms`.
fn clone_frame(clone: &mut Endpoint, bravo: StationId, now_ms: u64) -> Vec<u8> {
    clone
        .send_message(
            now_ms,
            &bravo,
            Precedence::Flash,
            ("stand down", "en"),
            false,
        )
        .expect("within limits");
    clone.take_writes();
    let link = clone.link_mut(&bravo).expect("loaded");
    link.add_channel(CHANNEL, ChannelKind::Direct);
    link.set_channel_up(now_ms, CHANNEL, true);
    clone.handle_timeout(now_ms);
    // The envelope (a clone that holds peer entries sends its receipt too).
    std::iter::from_fn(|| clone.poll_transmit())
        .map(|(_, transmit)| transmit.frame.to_vec())
        .find(|frame| frame.first() == Some(&TAG_ENVELOPE))
        .expect("the message sent on the channel")
}

/// A receipt for Alpha signed by `signer`, claiming `upto` with `head`, addressed to `to`.
fn receipt(pair: &Pair, signer: &Identity, to: StationId, upto: u64, head: EntryId) -> Vec<u8> {
    let receipt = Receipt {
        link: LinkId::between(&signer.id(), &to),
        from: signer.id(),
        to,
        upto,
        head,
        extra: Vec::new(),
        time_ms: pair.now_ms,
    };
    Frame::encode(TAG_RECEIPT, &receipt.sign(signer))
}

/// What handing one frame to a side must do.
struct Outcome {
    /// Accepted as this kind (and whether a duplicate), or refused with this counter name.
    result: Result<(FrameKind, bool), &'static str>,
    /// Names of the store ops written, in order.
    writes: &'static [&'static str],
    /// The alarm raised, if any.
    alarm: Option<EvidenceKind>,
}

fn op_name(op: &StoreOp) -> &'static str {
    match op {
        StoreOp::AppendOwn { .. } => "append_own",
        StoreOp::MarkTransmitted { .. } => "mark_transmitted",
        StoreOp::StorePeerEntry { .. } => "store_peer_entry",
        StoreOp::AdvanceInHead { .. } => "advance_in_head",
        StoreOp::MarkDelivered { .. } => "mark_delivered",
        StoreOp::Redeliver { .. } => "redeliver",
        StoreOp::LogBehind { .. } => "log_behind",
        StoreOp::LogForked { .. } => "log_forked",
        StoreOp::LogCaughtUp { .. } => "log_caught_up",
        StoreOp::Resealed { .. } => "resealed",
        StoreOp::PeerEpochKey { .. } => "peer_epoch_key",
        StoreOp::Evidence { .. } => "evidence",
    }
}

/// Pairs Alpha and Bravo, has `frame` make a frame, hands it to side `to` and checks the outcome.
fn check(name: &str, to: usize, frame: impl FnOnce(&mut Pair) -> Vec<u8>, expect: Outcome) {
    let mut pair = Pair::paired();
    let bytes = frame(&mut pair);
    let peer = pair.peer_of(to);
    let endpoint = &mut pair.sides[to].endpoint;
    let before = endpoint.link(&peer).expect("paired").snapshot();
    let result = endpoint.handle_frame(pair.now_ms, &bytes);
    let writes = endpoint.take_writes();
    let alarm = std::iter::from_fn(|| endpoint.poll_event()).find_map(|event| match event {
        parley_proto::Event::Alarm { kind, .. } => Some(kind),
        _ => None,
    });
    let got = result
        .as_ref()
        .map(|accepted| (accepted.kind, accepted.duplicate))
        .map_err(|refused| refused.rejection.counter_name());
    assert_eq!(got, expect.result, "{name}: result {result:?}");
    let names: Vec<&str> = writes.iter().map(op_name).collect();
    assert_eq!(names, expect.writes, "{name}: writes");
    assert_eq!(alarm, expect.alarm, "{name}: alarm");
    if result.is_err() && expect.alarm.is_none() && expect.writes.is_empty() {
        let after = endpoint.link(&peer).expect("paired").snapshot();
        assert_eq!(after, before, "{name}: a refusal changes nothing");
    }
}

#[test]
fn every_kind_of_frame_is_accepted_or_refused_as_it_must_be() {
    let refused = |reason| Outcome {
        result: Err(reason),
        writes: &[],
        alarm: None,
    };
    check(
        "a new message",
        1,
        |pair| {
            pair.send(0, "hello");
            pair.transmits(0).remove(0).frame.to_vec()
        },
        Outcome {
            result: Ok((FrameKind::Envelope, false)),
            writes: &["store_peer_entry", "advance_in_head"],
            alarm: None,
        },
    );
    check(
        "an envelope already held: dropped before decryption, nothing stored",
        1,
        |pair| first_envelope_sent(pair, 0),
        Outcome {
            result: Ok((FrameKind::Envelope, true)),
            writes: &[],
            alarm: None,
        },
    );
    check(
        "a receipt covering a new message",
        0,
        |pair| {
            pair.send(0, "hello");
            let frame = pair.transmits(0).remove(0).frame;
            pair.deliver(1, &frame).expect("accepted");
            pair.transmits(1).remove(0).frame.to_vec()
        },
        Outcome {
            result: Ok((FrameKind::Receipt, false)),
            writes: &["mark_delivered"],
            alarm: None,
        },
    );
    check(
        "a second signed entry for a held seq is an equivocation, kept as evidence",
        1,
        |pair| {
            let bravo = pair.sides[1].id();
            let mut clone = alpha_clone(pair, 0, 9);
            clone_frame(&mut clone, bravo, pair.now_ms)
        },
        Outcome {
            result: Err("equivocation"),
            writes: &["evidence"],
            alarm: Some(EvidenceKind::Equivocation),
        },
    );
    check(
        "the next seq naming a prev that is not held is a fork",
        1,
        |pair| {
            let bravo = pair.sides[1].id();
            let mut clone = alpha_clone(pair, 1, 9);
            clone_frame(&mut clone, bravo, pair.now_ms)
        },
        Outcome {
            result: Err("fork"),
            writes: &["evidence"],
            alarm: Some(EvidenceKind::Fork),
        },
    );
    check(
        "the last seq inside the reorder window is held",
        1,
        |pair| {
            let bravo = pair.sides[1].id();
            let mut clone = alpha_clone(pair, REORDER_WINDOW_MAX_ENTRIES, 9);
            clone_frame(&mut clone, bravo, pair.now_ms)
        },
        Outcome {
            result: Ok((FrameKind::Envelope, false)),
            writes: &["store_peer_entry"],
            alarm: None,
        },
    );
    check(
        "one past the reorder window is refused; the sender will retransmit",
        1,
        |pair| {
            let bravo = pair.sides[1].id();
            let mut clone = alpha_clone(pair, REORDER_WINDOW_MAX_ENTRIES + 1, 9);
            clone_frame(&mut clone, bravo, pair.now_ms)
        },
        refused("out_of_window"),
    );
    check(
        "an entry dated exactly the skew limit ahead is accepted",
        1,
        |pair| {
            pair.send(0, "first");
            pair.pump();
            let bravo = pair.sides[1].id();
            let mut clone = alpha_clone(pair, REORDER_WINDOW_MAX_ENTRIES - 1, 9);
            clone_frame(&mut clone, bravo, pair.now_ms + ENTRY_FUTURE_SKEW_MS_MAX)
        },
        Outcome {
            result: Ok((FrameKind::Envelope, false)),
            writes: &["store_peer_entry"],
            alarm: None,
        },
    );
    check(
        "an entry dated one millisecond beyond the skew limit is refused",
        1,
        |pair| {
            pair.send(0, "first");
            pair.pump();
            let bravo = pair.sides[1].id();
            let mut clone = alpha_clone(pair, REORDER_WINDOW_MAX_ENTRIES - 1, 9);
            clone_frame(
                &mut clone,
                bravo,
                pair.now_ms + ENTRY_FUTURE_SKEW_MS_MAX + 1,
            )
        },
        refused("clock_skew"),
    );
    check(
        "an entry naming as seen an entry Bravo never wrote is refused",
        1,
        |pair| {
            let bravo = pair.sides[1].id();
            let mut clone = alpha_clone_seeing(pair, EntryId([8; 32]), 9);
            clone_frame(&mut clone, bravo, pair.now_ms)
        },
        refused("unknown_seen"),
    );
    check(
        "an entry naming as seen Bravo's own entry is accepted",
        1,
        |pair| {
            let bravo = pair.sides[1].id();
            let seen = pair.id(bravo, 1);
            let mut clone = alpha_clone_seeing(pair, seen, 9);
            clone_frame(&mut clone, bravo, pair.now_ms)
        },
        Outcome {
            result: Ok((FrameKind::Envelope, false)),
            writes: &["store_peer_entry", "advance_in_head"],
            alarm: None,
        },
    );
    check(
        "a receipt covering entries never written is refused, and no more is written",
        0,
        |pair| {
            let (bravo, alpha) = (pair.sides[1].identity.clone(), pair.sides[0].id());
            let head = pair.id(alpha, 1);
            receipt(pair, &bravo, alpha, 2, head)
        },
        Outcome {
            result: Err("bad_receipt"),
            writes: &["log_behind"],
            alarm: None,
        },
    );
    check(
        "a receipt naming another head than ours is evidence, and no more is written",
        0,
        |pair| {
            let (bravo, alpha) = (pair.sides[1].identity.clone(), pair.sides[0].id());
            receipt(pair, &bravo, alpha, 1, EntryId([7; 32]))
        },
        Outcome {
            result: Err("bad_receipt"),
            writes: &["evidence", "log_forked"],
            alarm: Some(EvidenceKind::BadReceipt),
        },
    );
    check(
        "a receipt addressed to another station is refused",
        0,
        |pair| {
            let bravo = pair.sides[1].identity.clone();
            let stranger = Identity::from_secret(&[42; 32]).id();
            // Signed by Bravo for a stranger: the signature holds, the address does not.
            receipt(pair, &bravo, stranger, 1, EntryId([3; 32]))
        },
        refused("misaddressed"),
    );
    check(
        "a frame from a station nobody pinned is refused before its signature is checked",
        1,
        |pair| {
            let mallory = Identity::from_secret(&[66; 32]);
            let bravo = pair.sides[1].id();
            receipt(pair, &mallory, bravo, 0, EntryId::NONE)
        },
        refused("unknown_sender"),
    );
    check(
        "a held envelope with a bit flipped fails its signature",
        1,
        |pair| {
            let mut frame = first_envelope_sent(pair, 0);
            let middle = frame.len() / 2;
            frame[middle] ^= 1;
            frame
        },
        refused("bad_signature"),
    );
    check(
        "an empty frame has no tag",
        1,
        |_| Vec::new(),
        refused("unknown_frame"),
    );
    check(
        "an unknown tag is refused",
        1,
        |_| vec![9, 1, 2, 3],
        refused("unknown_frame"),
    );
}

#[test]
fn retransmission_backs_off_per_channel_kind_and_restarts_when_a_channel_returns() {
    for kind in ChannelKind::ALL {
        let (first_ms, max_ms) = kind.retransmit_ms();
        let mut pair = Pair::paired();
        let bravo = pair.sides[1].id();
        let link = pair.sides[0].endpoint.link_mut(&bravo).expect("paired");
        let other = parley_proto::ChannelId(2);
        link.add_channel(other, kind);
        link.set_channel_up(pair.now_ms, CHANNEL, false);
        link.set_channel_up(pair.now_ms, other, true);
        pair.send(0, "never answered");
        // A channel coming up also gets a receipt: count envelopes.
        let envelopes = |pair: &mut Pair| {
            let transmits = pair.transmits(0);
            transmits
                .iter()
                .filter(|t| t.frame[0] == TAG_ENVELOPE)
                .count()
        };
        assert_eq!(envelopes(&mut pair), 1, "{kind:?}: sent at once");
        // Each resend waits twice as long as the one before, up to the maximum.
        let mut interval = first_ms;
        for attempt in 1..=25 {
            pair.advance(interval - 1);
            assert_eq!(envelopes(&mut pair), 0, "{kind:?}: attempt {attempt} early");
            pair.advance(1);
            assert_eq!(envelopes(&mut pair), 1, "{kind:?}: attempt {attempt}");
            interval = (interval * 2).min(max_ms);
        }
        assert_eq!(
            interval, max_ms,
            "{kind:?}: the backoff reached its maximum"
        );
        // The channel going down and up again resends at once.
        let link = pair.sides[0].endpoint.link_mut(&bravo).expect("paired");
        link.set_channel_up(pair.now_ms, other, false);
        link.set_channel_up(pair.now_ms, other, true);
        assert_eq!(envelopes(&mut pair), 1, "{kind:?}: resent when back up");
        let link = pair.sides[0].endpoint.link(&bravo).expect("paired");
        assert!(link.counters().retransmissions >= 25);
    }
}

#[test]
fn time_never_goes_backwards() {
    let mut pair = Pair::paired();
    let bravo = pair.sides[1].id();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let now = pair.now_ms;
        pair.sides[0].endpoint.send_message(
            now - 1,
            &bravo,
            Precedence::Flash,
            ("late", "en"),
            false,
        )
    }));
    assert!(
        result.is_err(),
        "an earlier time than already seen is a bug"
    );
}

/// `good` with its last byte (in its signature) changed is refused by `endpoint` as a bad
/// signature: a copy that differs is checked.
fn refuse_changed_copy(endpoint: &mut Endpoint, now_ms: u64, good: &[u8]) {
    let mut changed = good.to_vec();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    let refused = endpoint
        .handle_frame(now_ms, &changed)
        .expect_err("a changed byte");
    assert_eq!(refused.rejection.counter_name(), "bad_signature");
}

/// The copy of a receipt already verified (the same bytes on another channel, or again) is
/// taken without a second signature check; a receipt differing in any byte is checked.
#[test]
fn a_receipt_already_verified_is_not_checked_again() {
    let mut pair = Pair::paired();
    let (bravo, alpha) = (pair.sides[1].identity.clone(), pair.sides[0].id());
    let head = pair.id(alpha, 1);
    // Later than the pairing's own receipt, so not the same bytes as that one.
    pair.now_ms += 1;
    let good = receipt(&pair, &bravo, alpha, 1, head);
    let now = pair.now_ms;
    let endpoint = &mut pair.sides[0].endpoint;
    let skipped = endpoint.receipt_checks_skipped();
    for copy in 0..3 {
        let accepted = endpoint.handle_frame(now, &good).expect("accepted");
        assert_eq!(accepted.kind, FrameKind::Receipt);
        assert_eq!(endpoint.receipt_checks_skipped(), skipped + copy);
    }
    refuse_changed_copy(endpoint, now, &good);
    assert_eq!(endpoint.receipt_checks_skipped(), skipped + 2);
    // The good one is still the one remembered.
    endpoint.handle_frame(now, &good).expect("accepted");
    assert_eq!(endpoint.receipt_checks_skipped(), skipped + 3);
}

/// The own entries `side` was told its peer lost.
fn lost_told(pair: &mut Pair, side: usize) -> Vec<u64> {
    let endpoint = &mut pair.sides[side].endpoint;
    std::iter::from_fn(|| endpoint.poll_event())
        .filter_map(|event| match event {
            parley_proto::Event::Lost { seqs, .. } => Some(seqs),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Bravo's store put back to a copy older than three of Alpha's messages it receipted: its
/// first receipt after the restore, signed later than the one Alpha kept, holds less. Alpha
/// asks its store for the three, seals them again, and Bravo ends up holding Alpha's whole
/// log. A receipt that holds less but is older (out of order on a channel), before the
/// restore or after a restart of Alpha, asks nothing.
#[test]
fn entries_a_restored_peer_lost_are_sealed_and_sent_again() {
    let mut pair = Pair::paired();
    let alpha = pair.sides[0].id();
    let backup = pair.snapshot(1);
    pair.advance(1_000);
    let early = receipt(
        &pair,
        &pair.sides[1].identity.clone(),
        alpha,
        1,
        pair.id(alpha, 1),
    );
    pair.advance(1_000);
    for text in ["one", "two", "three"] {
        pair.send(0, text);
    }
    pair.pump();
    assert_eq!(pair.snapshot(0).peer_receipt_upto, 4);
    assert!(pair.snapshot(0).outbox.is_empty());
    let covering_all = last_receipt_sent(&pair, 1);

    // A receipt older than the one kept asks nothing, before and after a restart of Alpha.
    lost_told(&mut pair, 0);
    pair.deliver(0, &early)
        .expect("an older receipt is accepted");
    assert_eq!(lost_told(&mut pair, 0), Vec::<u64>::new());
    pair.restart(0);
    pair.deliver(0, &early)
        .expect("an older receipt is accepted");
    assert_eq!(lost_told(&mut pair, 0), Vec::<u64>::new());

    pair.advance(1_000);
    pair.restore(1, backup);
    assert_eq!(
        pair.snapshot(1).in_ids.len(),
        1,
        "Bravo holds only the announcement"
    );
    // Bravo's channel came up: its receipt goes out and says it holds seq 1 only.
    let showing_loss = receipts_sent(&mut pair, 1);
    for frame in &showing_loss {
        pair.deliver(0, frame).expect("accepted");
    }
    let lost = lost_told(&mut pair, 0);
    assert_eq!(lost, [2, 3, 4]);
    let entries = pair.own_entries(0, &lost);
    let now = pair.now_ms;
    let bravo = pair.sides[1].id();
    pair.sides[0].endpoint.reseal(now, &bravo, &entries);
    pair.commit(0);
    let redelivered = pair.sides[0]
        .committed
        .iter()
        .rev()
        .find_map(|op| match op {
            StoreOp::Redeliver { frames, upto, .. } => Some((frames.len(), *upto)),
            _ => None,
        });
    assert_eq!(redelivered, Some((3, 1)));
    let snapshot = pair.snapshot(0);
    assert_eq!(snapshot.peer_receipt_upto, 1);
    assert_eq!(
        snapshot
            .outbox
            .iter()
            .map(|item| item.seq)
            .collect::<Vec<_>>(),
        [2, 3, 4]
    );
    // Asked once: the receipt that showed the loss, again, asks nothing more, and a second
    // answer does nothing.
    for frame in &showing_loss {
        pair.deliver(0, frame).expect("accepted");
    }
    assert_eq!(lost_told(&mut pair, 0), Vec::<u64>::new());
    pair.sides[0].endpoint.reseal(now, &bravo, &entries);
    assert!(pair.sides[0].endpoint.take_writes().is_empty());
    // The receipt that covered everything, replayed (by a relay, or late on a channel), was
    // signed before the loss: it takes back nothing, before or after a restart of Alpha.
    for restarted in [false, true] {
        if restarted {
            pair.restart(0);
        }
        pair.deliver(0, &covering_all).expect("accepted");
        let outstanding: Vec<u64> = pair.snapshot(0).outbox.iter().map(|i| i.seq).collect();
        assert_eq!(outstanding, [2, 3, 4], "restarted: {restarted}");
    }

    pair.pump();
    let bravo_view = pair.snapshot(1);
    let alpha_ids: Vec<EntryId> = (1..=4).map(|seq| pair.id(alpha, seq)).collect();
    assert_eq!(
        bravo_view.in_ids, alpha_ids,
        "Bravo holds Alpha's whole log again"
    );
    let alpha_view = pair.snapshot(0);
    assert_eq!(alpha_view.peer_receipt_upto, 4);
    assert!(alpha_view.outbox.is_empty());
    assert_eq!(lost_told(&mut pair, 0), Vec::<u64>::new());
}

/// Bravo's store put back to an older copy while its clock ran far ahead: its receipt, dated
/// beyond the skew limit, shows no loss (taken for one, its time would be the floor, and every
/// receipt after its clock was set right would be taken for nothing for a year). Its receipt
/// once its clock is right asks for the lost entries, which then reach it. One dated exactly
/// at the limit shows the loss.
#[test]
fn a_receipt_dated_beyond_the_skew_limit_shows_no_loss() {
    const YEAR_MS: u64 = 365 * 24 * 3_600_000;
    for (ahead, shows) in [
        (ENTRY_FUTURE_SKEW_MS_MAX, true),
        (ENTRY_FUTURE_SKEW_MS_MAX + 1, false),
        (YEAR_MS, false),
    ] {
        let mut pair = Pair::paired();
        let (alpha, bravo) = (pair.sides[0].id(), pair.sides[1].identity.clone());
        let backup = pair.snapshot(1);
        pair.advance(1_000);
        for text in ["one", "two"] {
            pair.send(0, text);
        }
        pair.pump();
        pair.advance(1_000);
        pair.restore(1, backup.clone());
        receipts_sent(&mut pair, 1);
        lost_told(&mut pair, 0);
        // Signed by Bravo's clock `ahead` of Alpha's: it holds the announcement only.
        let now = pair.now_ms;
        pair.now_ms = now + ahead;
        let ahead_of_time = receipt(&pair, &bravo, alpha, 1, pair.id(alpha, 1));
        pair.now_ms = now;
        pair.deliver(0, &ahead_of_time).expect("accepted");
        let lost = lost_told(&mut pair, 0);
        if shows {
            assert_eq!(lost, [2, 3], "ahead {ahead}");
            continue;
        }
        assert_eq!(lost, Vec::<u64>::new(), "ahead {ahead}");
        // Its clock set right, Bravo's next receipt shows the loss, and the entries come.
        pair.advance(1_000);
        pair.restart(1);
        for frame in receipts_sent(&mut pair, 1) {
            pair.deliver(0, &frame).expect("accepted");
        }
        let lost = lost_told(&mut pair, 0);
        assert_eq!(lost, [2, 3], "ahead {ahead}");
        let entries = pair.own_entries(0, &lost);
        let (now, peer) = (pair.now_ms, pair.sides[1].id());
        pair.sides[0].endpoint.reseal(now, &peer, &entries);
        pair.commit(0);
        pair.pump();
        assert_eq!(pair.snapshot(1).in_ids.len(), 3, "ahead {ahead}");
        assert!(pair.snapshot(0).outbox.is_empty(), "ahead {ahead}");
    }
}

/// An entry held above a gap names a prev that the entry filling the gap does not have: a
/// fork, recorded once, however many of the peer's entries arrive after it.
#[test]
fn a_held_entry_that_does_not_continue_the_chain_is_recorded_once() {
    let mut pair = Pair::paired();
    let bravo = pair.sides[1].id();
    // Seq 3 from a clone that believes seq 2 is another entry: held above the gap.
    let mut forked = alpha_clone(&pair, 2, 9);
    let frame = clone_frame(&mut forked, bravo, pair.now_ms);
    pair.deliver(1, &frame).expect("held above the gap");
    // The real seq 2 fills the gap; then more entries arrive above the fork.
    let second = pair.send(0, "one");
    assert_eq!(second, 2);
    for transmit in pair.transmits(0) {
        pair.deliver(1, &transmit.frame).expect("accepted");
    }
    for (written, seed) in [(3, 10), (4, 11), (5, 12)] {
        let mut later = alpha_clone(&pair, written, seed);
        let frame = clone_frame(&mut later, bravo, pair.now_ms);
        pair.deliver(1, &frame).expect("held above the fork");
    }
    let forks: Vec<u64> = pair.sides[1]
        .committed
        .iter()
        .filter_map(|op| match op {
            StoreOp::Evidence {
                kind: EvidenceKind::Fork,
                seq,
                ..
            } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(forks, [3]);
}

/// Bravo's store put back to a copy older than three of Alpha's messages, as a fourth is on
/// its way: its receipt holds the fourth and lacks the three. Alpha asks its store for them,
/// which gives none back (a failed read), or crashes before it commits them sealed again:
/// the same receipt, which Bravo sends again as long as it holds no more, asks again, and
/// once they are sealed again, asks nothing more.
#[test]
fn a_loss_not_sealed_again_is_asked_again_by_the_same_receipt() {
    let mut pair = Pair::paired();
    let bravo = pair.sides[1].id();
    let backup = pair.snapshot(1);
    pair.advance(1_000);
    for text in ["one", "two", "three"] {
        pair.send(0, text);
    }
    pair.pump();
    pair.advance(1_000);
    pair.send(0, "four");
    let fourth: Vec<Vec<u8>> = pair
        .transmits(0)
        .into_iter()
        .map(|transmit| transmit.frame.to_vec())
        .collect();
    pair.advance(1_000);
    pair.restore(1, backup);
    // Its receipt as its channel came up is lost on the way; the fourth message arrives.
    receipts_sent(&mut pair, 1);
    for frame in &fourth {
        pair.deliver(1, frame).expect("accepted");
    }
    let showing_loss = receipts_sent(&mut pair, 1);
    assert!(!showing_loss.is_empty());
    lost_told(&mut pair, 0);
    for frame in &showing_loss {
        pair.deliver(0, frame).expect("accepted");
    }
    assert_eq!(lost_told(&mut pair, 0), [2, 3, 4]);
    assert!(
        pair.snapshot(0).outbox.is_empty(),
        "the fourth is receipted"
    );
    let now = pair.now_ms;
    // The store gives none of them back: the same receipt asks again.
    pair.sides[0].endpoint.reseal(now, &bravo, &[]);
    pair.commit(0);
    for frame in &showing_loss {
        pair.deliver(0, frame).expect("accepted");
    }
    assert_eq!(lost_told(&mut pair, 0), [2, 3, 4], "asked again");
    // A crash before they are sealed again: after the restart, the same.
    pair.restart(0);
    for frame in &showing_loss {
        pair.deliver(0, frame).expect("accepted");
    }
    assert_eq!(
        lost_told(&mut pair, 0),
        [2, 3, 4],
        "asked again after a restart"
    );
    let entries = pair.own_entries(0, &[2, 3, 4]);
    pair.sides[0].endpoint.reseal(now, &bravo, &entries);
    pair.commit(0);
    for frame in &showing_loss {
        pair.deliver(0, frame).expect("accepted");
    }
    assert_eq!(lost_told(&mut pair, 0), Vec::<u64>::new(), "sealed again");
    pair.pump();
    assert_eq!(
        pair.snapshot(1).in_ids.len(),
        5,
        "Bravo holds Alpha's whole log"
    );
    assert!(pair.snapshot(0).outbox.is_empty());
}

/// Bravo's store put back to a copy older than an entry it wrote: Alpha's receipt covers a
/// seq Bravo's log does not hold. Bravo refuses the receipt, says so once (`Behind`), keeps
/// that in its store, and writes nothing more to Alpha (a second entry at that seq), also
/// after a restart.
#[test]
fn a_store_behind_its_own_log_writes_nothing_more() {
    let mut pair = Pair::paired();
    let backup = pair.snapshot(1);
    pair.advance(1_000);
    pair.send(1, "written after the copy");
    pair.pump();
    let covering = last_receipt_sent(&pair, 0);
    pair.advance(1_000);
    pair.restore(1, backup);
    for _ in 0..2 {
        assert!(
            pair.deliver(1, &covering).is_err(),
            "a receipt beyond the log"
        );
    }
    let endpoint = &mut pair.sides[1].endpoint;
    let told: Vec<(u64, u64)> = std::iter::from_fn(|| endpoint.poll_event())
        .filter_map(|event| match event {
            parley_proto::Event::Behind {
                peer_holds,
                written,
                ..
            } => Some((peer_holds, written)),
            _ => None,
        })
        .collect();
    assert_eq!(told, [(2, 1)], "told once");
    assert_eq!(pair.snapshot(1).own_log_behind, 2, "kept in the store");
    // Refused now, and after a restart (from the store) before any receipt comes again.
    refuses_new_entries(&mut pair, |error| {
        matches!(
            error,
            parley_proto::SendError::LogBehind {
                peer_holds: 2,
                written: 1
            }
        )
    });
}

/// Bravo's own entries `seqs` as it signed them (before its store lost them).
fn signed_own(pair: &Pair, seqs: &[u64]) -> Vec<SignedEntry> {
    let bravo = pair.sides[1].id();
    (pair.own_entries(1, seqs).into_iter())
        .map(|(_, bytes)| SignedEntry::decode_verified(&bytes, &bravo).expect("signed by Bravo"))
        .collect()
}

/// Bravo writes two entries, Alpha one that reads the first, and Bravo's store is put back to
/// a copy older than all three; with Alpha's receipt of Bravo's two.
fn behind_two_own_entries() -> (Pair, Vec<u8>) {
    let mut pair = Pair::paired();
    let backup = pair.snapshot(1);
    pair.advance(1_000);
    pair.send(1, "lost one");
    pair.pump();
    pair.send(0, "read the lost one");
    pair.pump();
    pair.send(1, "lost two");
    pair.pump();
    let covering = last_receipt_sent(&pair, 0);
    pair.advance(1_000);
    pair.restore(1, backup);
    (pair, covering)
}

/// Bravo's two entries and Alpha's that read the first, taken back in one go: Alpha's waits
/// for the own entry it saw, and is stored right after it, before the second.
#[test]
fn a_peer_entry_taken_back_waits_for_the_own_entry_it_saw() {
    let (mut pair, covering) = behind_two_own_entries();
    let (now, alpha) = (pair.now_ms, pair.sides[0].id());
    let own = signed_own(&pair, &[2, 3]);
    let theirs = (pair.own_entries(0, &[2]).into_iter())
        .map(|(_, bytes)| SignedEntry::decode_verified(&bytes, &alpha).expect("Alpha's"))
        .collect();
    let Ok(Frame::Receipt(receipt)) = Frame::parse(&covering) else {
        panic!("a receipt frame");
    };
    let endpoint = &mut pair.sides[1].endpoint;
    let recovered = endpoint.recover(now, &alpha, (own, theirs), Some(receipt));
    assert_eq!(recovered, Ok(parley_proto::Recovered { own: 2, theirs: 1 }));
    let order: Vec<(bool, u64)> = (endpoint.take_writes().iter())
        .filter_map(|op| match op {
            StoreOp::AppendOwn { entry, .. } => Some((true, entry.entry().seq)),
            StoreOp::StorePeerEntry { entry, .. } => Some((false, entry.entry().seq)),
            _ => None,
        })
        .collect();
    assert_eq!(order, [(true, 2), (false, 2), (true, 3)]);
}

/// Bravo's store put back to a copy older than two entries it wrote and one of Alpha's that
/// read the first, then given them back as a copy of Alpha's holds them (a transcript):
/// entries that do not continue its log are refused with nothing written; the first alone
/// leaves the link closed; the second, with Alpha's entry and receipt, opens it again,
/// delivered at once, Alpha's entry stored before the one of Bravo's that read it. Bravo
/// then writes again, and Alpha takes the entry in order, with no evidence.
#[test]
fn a_store_behind_its_own_log_takes_back_what_it_lost_and_writes_again() {
    let (mut pair, covering) = behind_two_own_entries();
    assert!(pair.deliver(1, &covering).is_err(), "beyond the log");
    pair.commit(1);
    let lost = signed_own(&pair, &[2, 3]);
    let (now, alpha) = (pair.now_ms, pair.sides[0].id());
    let out_of_order = [
        vec![lost[1].clone()],
        vec![lost[1].clone(), lost[0].clone()],
    ];
    for entries in out_of_order {
        let refused = pair.sides[1]
            .endpoint
            .recover(now, &alpha, (entries, Vec::new()), None);
        assert_eq!(
            refused,
            Err(RecoverError::Discontinuous { seq: 3, written: 1 })
        );
        assert!(pair.sides[1].endpoint.take_writes().is_empty());
    }
    let endpoint = &mut pair.sides[1].endpoint;
    assert_eq!(
        endpoint.recover(now, &alpha, (vec![lost[0].clone()], Vec::new()), None),
        Ok(parley_proto::Recovered { own: 1, theirs: 0 })
    );
    let link = endpoint.link(&alpha).expect("paired");
    assert!(link.closed().is_some(), "Alpha holds more");
    pair.commit(1);
    let Ok(Frame::Receipt(receipt)) = Frame::parse(&covering) else {
        panic!("a receipt frame");
    };
    let own = vec![lost[1].clone()];
    let theirs = (pair.own_entries(0, &[2]).into_iter())
        .map(|(_, bytes)| SignedEntry::decode_verified(&bytes, &alpha).expect("Alpha's"))
        .collect();
    let endpoint = &mut pair.sides[1].endpoint;
    let recovered = endpoint.recover(now, &alpha, (own, theirs), Some(receipt));
    assert_eq!(recovered, Ok(parley_proto::Recovered { own: 1, theirs: 1 }));
    let before = pair.sides[1].committed.len();
    pair.commit(1);
    let writes = &pair.sides[1].committed[before..];
    let position = |wanted: fn(&StoreOp) -> bool| writes.iter().position(wanted);
    let stored = position(|op| matches!(op, StoreOp::StorePeerEntry { .. }));
    let appended = position(|op| matches!(op, StoreOp::AppendOwn { .. }));
    assert!(stored.is_some() && stored < appended, "{writes:?}");
    assert!(
        writes.contains(&StoreOp::LogCaughtUp { peer: alpha }),
        "{writes:?}"
    );
    assert!(
        (writes.iter()).any(|op| matches!(op, StoreOp::MarkDelivered { upto: 3, .. })),
        "Alpha's receipt applied"
    );
    pair.restart(1);
    let snapshot = pair.snapshot(1);
    assert_eq!((snapshot.own_log_behind, snapshot.outbox.len()), (0, 0));
    let link = pair.sides[1].endpoint.link(&alpha).expect("paired");
    assert_eq!(
        (link.closed(), link.out_seq(), link.in_head()),
        (None, 3, 2)
    );
    assert_eq!(pair.send(1, "written after"), 4);
    pair.pump();
    assert_eq!(pair.snapshot(0).in_ids.len(), 4, "Alpha took it in order");
    let evidence = (pair.sides[0].committed.iter())
        .filter(|op| matches!(op, StoreOp::Evidence { .. }))
        .count();
    assert_eq!(evidence, 0, "Alpha saw nothing amiss");
    assert!(pair.snapshot(1).outbox.is_empty(), "receipted");
}

/// Hands everything `from` transmits now to its peer; returns how each frame was taken.
fn hand_over(pair: &mut Pair, from: usize) -> Vec<Result<FrameKind, &'static str>> {
    (pair.transmits(from).into_iter())
        .map(|transmit| {
            (pair.deliver(1 - from, &transmit.frame))
                .map(|accepted| accepted.kind)
                .map_err(|refused| refused.rejection.counter_name())
        })
        .collect()
}

/// Bravo, which lacks Alpha's entries since the pairing (its store put back to an older
/// copy, say), takes them from a transcript, checked as entries from a channel are: one dated
/// further ahead of Bravo's clock than the skew allowed ends those taken, nothing of it or
/// after it stored; taken again once the clock has caught up, the rest continue the log: the
/// one Bravo held above the gap meanwhile is not stored twice, nor ends those after it.
#[test]
fn the_peers_entries_from_a_transcript_are_checked_as_from_a_channel() {
    let mut pair = Pair::paired();
    let (before_skew, alpha) = (pair.now_ms, pair.sides[0].id());
    pair.send(0, "taken back");
    pair.advance(ENTRY_FUTURE_SKEW_MS_MAX + 1);
    pair.send(0, "dated too far ahead of Bravo's clock");
    let theirs: Vec<SignedEntry> = (pair.own_entries(0, &[2, 3]).into_iter())
        .map(|(_, bytes)| SignedEntry::decode_verified(&bytes, &alpha).expect("Alpha's"))
        .collect();
    let stored = |pair: &mut Pair| -> Vec<u64> {
        let before = pair.sides[1].committed.len();
        pair.commit(1);
        (pair.sides[1].committed[before..].iter())
            .filter_map(|op| match op {
                StoreOp::StorePeerEntry { entry, .. } => Some(entry.entry().seq),
                _ => None,
            })
            .collect()
    };
    let endpoint = &mut pair.sides[1].endpoint;
    let skewed = endpoint.recover(before_skew, &alpha, (Vec::new(), theirs.clone()), None);
    assert_eq!(skewed, Ok(parley_proto::Recovered { own: 0, theirs: 1 }));
    assert_eq!(stored(&mut pair), [2]);
    let in_head = |pair: &Pair| {
        pair.sides[1]
            .endpoint
            .link(&alpha)
            .expect("paired")
            .in_head()
    };
    assert_eq!(in_head(&pair), 2);
    assert_eq!(pair.send(0, "held above the gap"), 4);
    let frames = pair.transmits(0);
    let fourth = (frames.iter())
        .find(|transmit| pair.frames.get(transmit.frame.as_ref()) == Some(&(alpha, 4)))
        .expect("the fourth entry sent");
    pair.deliver(1, &fourth.frame).expect("held");
    let held: Vec<u64> = (pair.snapshot(1).in_pending.iter())
        .map(|item| item.seq)
        .collect();
    assert_eq!(held, [4], "above the gap");
    assert_eq!(pair.send(0, "after the one held"), 5);
    let theirs = (pair.own_entries(0, &[2, 3, 4, 5]).into_iter())
        .map(|(_, bytes)| SignedEntry::decode_verified(&bytes, &alpha).expect("Alpha's"))
        .collect();
    let now = pair.now_ms;
    let endpoint = &mut pair.sides[1].endpoint;
    let rest = endpoint.recover(now, &alpha, (Vec::new(), theirs), None);
    assert_eq!(rest, Ok(parley_proto::Recovered { own: 0, theirs: 2 }));
    assert_eq!(stored(&mut pair), [3, 5], "the fourth was held");
    assert_eq!(in_head(&pair), 5);
}

/// The peer's entries taken from a transcript are charged against its intake allowance, as
/// on a channel: the peer made the file, and must not fill this station's disk with it. One
/// that does not fit ends those taken; the rest wait for the allowance, as on a channel.
#[test]
fn the_peers_entries_from_a_transcript_are_charged_against_its_allowance() {
    let mut pair = Pair::paired();
    let alpha = pair.sides[0].id();
    // Four entries at the text limit: three fit the smallest allowance there is, the fourth
    // not.
    let large = "x".repeat(TEXT_SIZE_MAX_BYTES);
    for seq in 2..=5 {
        assert_eq!(pair.send(0, &large), seq);
    }
    let theirs: Vec<SignedEntry> = (pair.own_entries(0, &[2, 3, 4, 5]).into_iter())
        .map(|(_, bytes)| SignedEntry::decode_verified(&bytes, &alpha).expect("Alpha's"))
        .collect();
    let smallest = IntakeLimit {
        burst_bytes: ENVELOPE_SIZE_MAX_BYTES as u64,
        per_day_bytes: ENVELOPE_SIZE_MAX_BYTES as u64,
    };
    let now = pair.now_ms;
    let link = pair.sides[1].endpoint.link_mut(&alpha).expect("paired");
    link.set_intake_limit(smallest);
    let taken = pair.sides[1]
        .endpoint
        .recover(now, &alpha, (Vec::new(), theirs.clone()), None);
    assert_eq!(taken, Ok(parley_proto::Recovered { own: 0, theirs: 3 }));
    let link = pair.sides[1].endpoint.link(&alpha).expect("paired");
    assert_eq!(link.in_head(), 4);
    assert_eq!(link.intake_refused_ms(), Some(now));
    // A day later the allowance holds the last.
    let later = now + 24 * 3_600_000;
    let taken = pair.sides[1]
        .endpoint
        .recover(later, &alpha, (Vec::new(), theirs), None);
    assert_eq!(taken, Ok(parley_proto::Recovered { own: 0, theirs: 1 }));
    let link = pair.sides[1].endpoint.link(&alpha).expect("paired");
    assert_eq!(link.in_head(), 5);
}

/// The rounds of own entries Alpha asked its store for, to seal again to Bravo's new key.
fn rekey_asked(pair: &mut Pair) -> Vec<Vec<u64>> {
    let endpoint = &mut pair.sides[0].endpoint;
    std::iter::from_fn(|| endpoint.poll_event())
        .filter_map(|event| match event {
            parley_proto::Event::Rekey { seqs, .. } => Some(seqs),
            _ => None,
        })
        .collect()
}

/// Alpha sends `count` messages sealed to a new epoch key of Bravo's, and Bravo loses the key
/// (its store put back to a copy older than it; what Bravo then makes of Alpha's frames is
/// returned), takes its own log back and announces its current key again, which Alpha reads.
fn sealed_to_a_lost_key(count: u64) -> (Pair, Vec<Result<FrameKind, &'static str>>) {
    let mut pair = Pair::paired();
    let backup = pair.snapshot(1);
    let (now, alpha) = (pair.now_ms, pair.sides[0].id());
    let _ = pair.sides[1].endpoint.rotate_epoch(now);
    pair.commit(1);
    pair.pump();
    for n in 0..count {
        pair.send(0, &format!("message {n}, sealed to a key about to be lost"));
    }
    pair.restore(1, backup);
    let taken = hand_over(&mut pair, 0);
    let lost = signed_own(&pair, &[2]);
    let endpoint = &mut pair.sides[1].endpoint;
    let recovered = endpoint.recover(now, &alpha, (lost, Vec::new()), None);
    assert_eq!(recovered, Ok(parley_proto::Recovered { own: 1, theirs: 0 }));
    let announced = endpoint.announce_epoch(now, &alpha).map(|(seq, _)| seq);
    assert_eq!(announced, Ok(3));
    pair.commit(1);
    hand_over(&mut pair, 1);
    (pair, taken)
}

/// Bravo's store put back to a copy older than an epoch key it announced, the key lost with
/// it: Alpha's message sealed to that key does not open there. Once Bravo has its log back
/// and announces its current key again, Alpha seals the outstanding message again to it
/// (asked of its store a round at a time; a round the store could not read is asked again a
/// minute later), and Bravo takes it at its next retransmission.
#[test]
fn outstanding_entries_are_sealed_again_to_a_key_announced_again() {
    let (mut pair, taken) = sealed_to_a_lost_key(1);
    assert!(taken.contains(&Err("unknown_epoch_key")), "{taken:?}");
    let (now, alpha, bravo) = (pair.now_ms, pair.sides[0].id(), pair.sides[1].id());
    assert_eq!(
        rekey_asked(&mut pair),
        [vec![2]],
        "asked once, for the outstanding message"
    );
    // A round the store could not read is asked again, a minute later.
    pair.sides[0].endpoint.rekey(now, &bravo, &[]);
    assert_eq!(rekey_asked(&mut pair), Vec::<Vec<u64>>::new());
    pair.advance(60_000);
    hand_over(&mut pair, 0);
    assert_eq!(rekey_asked(&mut pair), [vec![2]], "asked again");
    // Not kept in the store: a restart finds it anew, from the frames' keys.
    pair.restart(0);
    hand_over(&mut pair, 0);
    assert_eq!(rekey_asked(&mut pair), [vec![2]], "asked after a restart");
    let entries = pair.own_entries(0, &[2]);
    pair.sides[0].endpoint.rekey(pair.now_ms, &bravo, &entries);
    let before = pair.sides[0].committed.len();
    pair.commit(0);
    let resealed = (pair.sides[0].committed[before..].iter())
        .any(|op| matches!(op, StoreOp::Resealed { frames, .. } if frames[0].0 == 2));
    assert!(resealed, "the store keeps the new frame");
    assert_eq!(rekey_asked(&mut pair), Vec::<Vec<u64>>::new(), "all done");
    // Sent again in place of the old frame at its next retransmission.
    pair.advance(DIRECT_RETRANSMIT_MS_MAX);
    let taken = hand_over(&mut pair, 0);
    assert!(taken.contains(&Ok(FrameKind::Envelope)), "{taken:?}");
    let link = pair.sides[1].endpoint.link(&alpha).expect("paired");
    assert_eq!(link.in_head(), 2, "Bravo took it");
}

/// Bravo announces two new keys one after the other while Alpha has messages outstanding,
/// sealed to the key before: Alpha asks its store for them once, not once for each key, and
/// the answer seals them to the newest, which Bravo opens.
#[test]
fn keys_adopted_while_a_round_is_asked_ask_the_store_once() {
    let mut pair = Pair::paired();
    let bravo = pair.sides[1].id();
    for n in 0..3 {
        pair.send(0, &format!("message {n}, sealed to the key before"));
    }
    for _ in 0..2 {
        let now = pair.now_ms;
        let _ = pair.sides[1].endpoint.rotate_epoch(now);
        pair.commit(1);
    }
    for transmit in pair.transmits(1) {
        let _ = pair.deliver(0, &transmit.frame);
    }
    assert_eq!(rekey_asked(&mut pair), [vec![2, 3, 4]], "asked once");
    let entries = pair.own_entries(0, &[2, 3, 4]);
    pair.sides[0].endpoint.rekey(pair.now_ms, &bravo, &entries);
    assert_eq!(
        rekey_asked(&mut pair),
        Vec::<Vec<u64>>::new(),
        "all sealed to the newest"
    );
    pair.pump();
    let alpha = pair.sides[0].id();
    let link = pair.sides[1].endpoint.link(&alpha).expect("paired");
    assert_eq!(link.in_head(), 4, "Bravo took them");
}

/// More outstanding entries to seal again than a round holds, the first of the first round
/// unreadable in Alpha's store: the rounds go on past it, each after the last, and only the
/// entry not sealed again is asked for again, a minute later.
#[test]
fn rounds_of_entries_to_seal_again_go_on_past_one_the_store_could_not_read() {
    let sent = RESEAL_ENTRIES_MAX as u64 + 2;
    let (mut pair, _) = sealed_to_a_lost_key(sent);
    let (now, bravo) = (pair.now_ms, pair.sides[1].id());
    let first: Vec<u64> = (2..2 + RESEAL_ENTRIES_MAX as u64).collect();
    assert_eq!(rekey_asked(&mut pair), std::slice::from_ref(&first));
    let mut entries = pair.own_entries(0, &first);
    entries[0].1 = b"not the entry".to_vec();
    pair.sides[0].endpoint.rekey(now, &bravo, &entries);
    let second = vec![2 + RESEAL_ENTRIES_MAX as u64, 1 + sent];
    assert_eq!(
        rekey_asked(&mut pair),
        std::slice::from_ref(&second),
        "the next at once"
    );
    let entries = pair.own_entries(0, &second);
    pair.sides[0].endpoint.rekey(now, &bravo, &entries);
    assert_eq!(rekey_asked(&mut pair), Vec::<Vec<u64>>::new());
    pair.commit(0);
    pair.advance(59_999);
    hand_over(&mut pair, 0);
    assert_eq!(rekey_asked(&mut pair), Vec::<Vec<u64>>::new(), "not yet");
    pair.advance(1);
    hand_over(&mut pair, 0);
    assert_eq!(rekey_asked(&mut pair), [vec![2]], "the one left");
    let entries = pair.own_entries(0, &[2]);
    pair.sides[0].endpoint.rekey(pair.now_ms, &bravo, &entries);
    assert_eq!(rekey_asked(&mut pair), Vec::<Vec<u64>>::new(), "all done");
    pair.advance(60_000);
    hand_over(&mut pair, 0);
    assert_eq!(
        rekey_asked(&mut pair),
        Vec::<Vec<u64>>::new(),
        "nothing left"
    );
}

/// Bravo refuses a new entry to Alpha as `expected` says, writing nothing, now and after a
/// restart from its snapshot.
fn refuses_new_entries(pair: &mut Pair, expected: impl Fn(&parley_proto::SendError) -> bool) {
    for restarted in [false, true] {
        if restarted {
            pair.restart(1);
        }
        let (now, alpha) = (pair.now_ms, pair.sides[0].id());
        let refused = pair.sides[1].endpoint.send_message(
            now,
            &alpha,
            Precedence::Flash,
            ("would fork", "en"),
            false,
        );
        assert!(
            refused.as_ref().is_err_and(&expected),
            "restarted {restarted}: {refused:?}"
        );
        assert!(pair.sides[1].endpoint.take_writes().is_empty());
    }
}

/// Bravo's store put back to a copy older than an entry it wrote, and Bravo writes another
/// entry at that seq before Alpha's receipt of the first comes: the receipt names another
/// entry at a seq Bravo wrote. Bravo keeps it as evidence, says so once (`Forked`), keeps that
/// in its snapshot, and writes nothing more to Alpha (its log forked: Alpha refuses what
/// follows it), also after a restart; nor sends again what Alpha refuses.
#[test]
fn a_store_that_forked_its_own_log_writes_nothing_more() {
    let mut pair = Pair::paired();
    let backup = pair.snapshot(1);
    pair.advance(1_000);
    let first = pair.send(1, "written after the copy");
    pair.pump();
    let covering = last_receipt_sent(&pair, 0);
    pair.advance(1_000);
    pair.restore(1, backup);
    assert_eq!(pair.send(1, "written again at that seq"), first);
    for _ in 0..2 {
        assert!(
            pair.deliver(1, &covering).is_err(),
            "a receipt naming another entry"
        );
    }
    let endpoint = &mut pair.sides[1].endpoint;
    let told: Vec<u64> = std::iter::from_fn(|| endpoint.poll_event())
        .filter_map(|event| match event {
            parley_proto::Event::Forked { seq, .. } => Some(seq),
            _ => None,
        })
        .collect();
    assert_eq!(told, [first], "told once");
    let evidence = pair.sides[1]
        .committed
        .iter()
        .filter(|op| matches!(op, StoreOp::Evidence { .. }))
        .count();
    assert_eq!(evidence, 1, "the receipt kept once, not at each repeat");
    assert_eq!(pair.snapshot(1).own_log_forked, first, "in the snapshot");
    // What the peer refuses is not sent again, on any channel or in a bundle.
    pair.advance(3_600_000);
    let envelopes = pair
        .transmits(1)
        .into_iter()
        .filter(|transmit| matches!(Frame::parse(&transmit.frame), Ok(Frame::Envelope(_))))
        .count();
    assert_eq!(envelopes, 0, "nothing sent again");
    let alpha = pair.sides[0].id();
    let link = pair.sides[1].endpoint.link(&alpha).expect("paired");
    assert_eq!(link.unreceipted_frames().count(), 0, "nothing bundled");
    refuses_new_entries(
        &mut pair,
        |error| matches!(error, parley_proto::SendError::LogForked { seq } if *seq == first),
    );
    // What it lost cannot be taken back over what it wrote since.
    let lost = signed_own(&pair, &[first]);
    let (now, alpha) = (pair.now_ms, pair.sides[0].id());
    let refused = (pair.sides[1].endpoint).recover(now, &alpha, (lost, Vec::new()), None);
    assert_eq!(refused, Err(RecoverError::Forked { seq: first }));
    assert!(pair.sides[1].endpoint.take_writes().is_empty());
}

/// A log that forked, then shown behind too (Alpha holds more of the lost entries than Bravo
/// wrote again): it stays known as forked, and no `Behind` is told, which would say the log
/// did not fork.
#[test]
fn a_forked_log_stays_forked_when_a_receipt_also_reaches_beyond_it() {
    let mut pair = Pair::paired();
    let backup = pair.snapshot(1);
    pair.advance(1_000);
    let first = pair.send(1, "lost one");
    pair.pump();
    let covering_first = last_receipt_sent(&pair, 0);
    pair.send(1, "lost two");
    pair.pump();
    let covering_both = last_receipt_sent(&pair, 0);
    pair.advance(1_000);
    pair.restore(1, backup);
    assert_eq!(pair.send(1, "written again"), first);
    for receipt in [&covering_first, &covering_both] {
        assert!(pair.deliver(1, receipt).is_err());
    }
    let endpoint = &mut pair.sides[1].endpoint;
    let told: Vec<&str> = std::iter::from_fn(|| endpoint.poll_event())
        .filter_map(|event| match event {
            parley_proto::Event::Forked { .. } => Some("forked"),
            parley_proto::Event::Behind { .. } => Some("behind"),
            _ => None,
        })
        .collect();
    assert_eq!(told, ["forked"]);
    let alpha = pair.sides[0].id();
    let link = pair.sides[1].endpoint.link(&alpha).expect("paired");
    assert_eq!(
        link.closed(),
        Some(parley_proto::link::Closed::Forked { seq: first })
    );
}

/// The first envelope `side` put on the wire (its key announcement, when paired).
fn first_envelope_sent(pair: &Pair, side: usize) -> Vec<u8> {
    pair.wire
        .iter()
        .filter(|(from, _)| *from == side)
        .map(|(_, transmit)| transmit.frame.to_vec())
        .find(|frame| matches!(Frame::parse(frame), Ok(Frame::Envelope(_))))
        .expect("an envelope was sent")
}

/// The last receipt `side` put on the wire.
fn last_receipt_sent(pair: &Pair, side: usize) -> Vec<u8> {
    pair.wire
        .iter()
        .rev()
        .filter(|(from, _)| *from == side)
        .map(|(_, transmit)| transmit.frame.to_vec())
        .find(|frame| matches!(Frame::parse(frame), Ok(Frame::Receipt(_))))
        .expect("a receipt was sent")
}

/// Runs the wire until it is quiet, sealing again at `side` whatever its peer lost; returns
/// how many entries each round asked for.
fn pump_resealing(pair: &mut Pair, side: usize) -> Vec<usize> {
    let mut rounds = Vec::new();
    loop {
        pair.pump();
        let lost = lost_told(pair, side);
        if lost.is_empty() {
            return rounds;
        }
        rounds.push(lost.len());
        let entries = pair.own_entries(side, &lost);
        let (now, peer) = (pair.now_ms, pair.peer_of(side));
        pair.sides[side].endpoint.reseal(now, &peer, &entries);
        pair.commit(side);
    }
}

/// Alpha sends `count` messages and Bravo receipts them; Bravo's store goes back to a copy
/// from before them, and its receipt shows Alpha the loss; Alpha seals the first round again.
/// Returns the pair and the seqs of that round.
fn restored_after_sending(count: usize) -> (Pair, Vec<u64>) {
    let mut pair = Pair::paired();
    let backup = pair.snapshot(1);
    pair.advance(1_000);
    for i in 0..count {
        pair.send(0, &format!("message {i}"));
    }
    pair.pump();
    pair.advance(1_000);
    pair.restore(1, backup);
    for frame in receipts_sent(&mut pair, 1) {
        pair.deliver(0, &frame).expect("accepted");
    }
    let first = lost_told(&mut pair, 0);
    let (now, bravo) = (pair.now_ms, pair.sides[1].id());
    let entries = pair.own_entries(0, &first);
    pair.sides[0].endpoint.reseal(now, &bravo, &entries);
    pair.commit(0);
    (pair, first)
}

/// More entries lost than one round seals again: the next round is asked for once the peer
/// receipted the last (not before), and the peer ends up with the whole log.
#[test]
fn a_peer_that_lost_many_entries_gets_them_a_round_at_a_time() {
    let count = RESEAL_ENTRIES_MAX + 10;
    let (mut pair, first) = restored_after_sending(count);
    assert_eq!(first.len(), RESEAL_ENTRIES_MAX);
    let alpha = pair.sides[0].id();
    // While that round is outstanding, a later receipt that still lacks the rest asks
    // nothing: a peer gets no more than it has taken.
    pair.advance(1);
    let bravo_identity = pair.sides[1].identity.clone();
    let again = receipt(&pair, &bravo_identity, alpha, 1, pair.id(alpha, 1));
    pair.deliver(0, &again).expect("accepted");
    assert_eq!(lost_told(&mut pair, 0), Vec::<u64>::new());
    assert_eq!(pump_resealing(&mut pair, 0), [10]);
    let alpha_ids: Vec<EntryId> = (1..=count as u64 + 1)
        .map(|seq| pair.id(alpha, seq))
        .collect();
    assert_eq!(pair.snapshot(1).in_ids, alpha_ids);
    assert!(pair.snapshot(0).outbox.is_empty());
}

/// The receipt of a round of entries sent again may be signed in the very millisecond of the
/// receipt that showed the loss: it still asks for the next round.
#[test]
fn the_next_round_is_asked_for_by_a_receipt_of_the_same_millisecond() {
    let (mut pair, first) = restored_after_sending(RESEAL_ENTRIES_MAX + 3);
    assert_eq!(first.len(), RESEAL_ENTRIES_MAX);
    // No time passes: every receipt from here on is signed in the loss's millisecond.
    assert_eq!(pump_resealing(&mut pair, 0), [3]);
    assert!(pair.snapshot(0).outbox.is_empty());
}

/// Once a loss was answered, receipts signed in one millisecond still come out of order (one
/// on the direct channel, one late from a relay): the one that holds less, second, delivers
/// nothing and shows no loss. Only a receipt of an entry sent again may share the latest's
/// millisecond and show one (the next round, asked for that fast).
#[test]
fn after_a_loss_an_older_receipt_of_the_same_millisecond_shows_none() {
    let (mut pair, first) = restored_after_sending(1);
    assert_eq!(first, [2]);
    assert_eq!(pump_resealing(&mut pair, 0), Vec::<usize>::new());
    assert_eq!(pair.snapshot(0).peer_receipt_upto, 2, "recovered");

    pair.advance(1_000);
    let alpha = pair.sides[0].id();
    pair.send(0, "three");
    pair.send(0, "four");
    pair.transmits(0);
    let bravo_identity = pair.sides[1].identity.clone();
    let older = receipt(&pair, &bravo_identity, alpha, 3, pair.id(alpha, 3));
    let newer = receipt(&pair, &bravo_identity, alpha, 4, pair.id(alpha, 4));
    pair.deliver(0, &newer).expect("accepted");
    pair.deliver(0, &older).expect("accepted");
    assert_eq!(lost_told(&mut pair, 0), Vec::<u64>::new());
    assert!(pair.snapshot(0).outbox.is_empty());
}

/// A receipt lists at most `RECEIPT_EXTRA_MAX` seqs above its bound, the lowest: one more
/// held below them pushes the highest off the list. The receipt that follows is later and
/// lacks that seq, which the peer still holds: no loss.
#[test]
fn a_seq_pushed_off_a_full_extra_list_is_not_taken_for_lost() {
    let mut pair = Pair::paired();
    let alpha = pair.sides[0].id();
    pair.advance(1_000);
    pair.lose_once.insert((alpha, 2));
    pair.lose_once.insert((alpha, 4));
    for i in 0..RECEIPT_EXTRA_MAX + 4 {
        pair.send(0, &format!("message {i}"));
    }
    pair.pump();
    let above = RECEIPT_EXTRA_MAX as u64 + 3;
    assert_eq!(
        pair.snapshot(0)
            .outbox
            .iter()
            .map(|i| i.seq)
            .collect::<Vec<_>>(),
        [2, 4, above + 1, above + 2],
        "3 and 5…{above} receipted in the extra list"
    );
    // Seq 4 comes again, 2 is lost again: Bravo's extra list becomes 3, 4, 5 … (above - 1).
    pair.advance(60_000);
    pair.lose_once.insert((alpha, 2));
    pair.pump();
    assert_eq!(lost_told(&mut pair, 0), Vec::<u64>::new());
    assert_eq!(pair.snapshot(0).outbox[0].seq, 2);
}

/// The receipts `side` transmits now.
fn receipts_sent(pair: &mut Pair, side: usize) -> Vec<Vec<u8>> {
    pair.transmits(side)
        .into_iter()
        .map(|transmit| transmit.frame.to_vec())
        .filter(|frame| matches!(Frame::parse(frame), Ok(Frame::Receipt(_))))
        .collect()
}

/// A duplicate is answered with the receipt last signed, unchanged, while it covers everything
/// held (the peer then takes it without a check); an entry more gets a new one, and so does
/// a restart (which starts with none).
#[test]
fn a_duplicate_is_answered_with_the_last_receipt_while_nothing_more_is_held() {
    let mut pair = Pair::paired();
    pair.send(0, "one");
    let first = pair.transmits(0).remove(0).frame.to_vec();
    pair.deliver(1, &first).expect("accepted");
    let receipt = receipts_sent(&mut pair, 1);
    assert_eq!(receipt.len(), 1, "one receipt on the one channel");
    for _ in 0..2 {
        pair.advance(1_000);
        let again = pair.deliver(1, &first).expect("a duplicate");
        assert!(again.duplicate);
        assert_eq!(receipts_sent(&mut pair, 1), receipt, "the same bytes again");
    }
    let skipped = pair.sides[0].endpoint.receipt_checks_skipped();
    pair.deliver(0, &receipt[0]).expect("accepted");
    pair.deliver(0, &receipt[0]).expect("accepted");
    assert_eq!(pair.sides[0].endpoint.receipt_checks_skipped(), skipped + 1);

    pair.send(0, "two");
    let second = pair.transmits(0).remove(0).frame.to_vec();
    pair.deliver(1, &second).expect("accepted");
    let newer = receipts_sent(&mut pair, 1);
    assert_eq!(newer.len(), 1);
    assert_ne!(newer, receipt, "two entries held: a new receipt");

    pair.restart(1);
    pair.advance(1_000);
    pair.deliver(1, &second).expect("a duplicate");
    let restarted = receipts_sent(&mut pair, 1);
    assert_eq!(restarted.len(), 1);
    assert_ne!(
        restarted, newer,
        "signed anew, at its time, after a restart"
    );
}

/// Held out of order, the receipt says what is held above the gap (`extra`): a duplicate of a
/// held entry gets the last receipt again, and one more entry held above the gap, with the
/// same `upto`, gets a new one.
#[test]
fn an_entry_more_held_above_a_gap_gets_a_new_receipt() {
    let mut pair = Pair::paired();
    let frames: Vec<Vec<u8>> = ["one", "two", "three"]
        .into_iter()
        .map(|text| {
            pair.send(0, text);
            pair.transmits(0).remove(0).frame.to_vec()
        })
        .collect();
    pair.deliver(1, &frames[1]).expect("held above the gap");
    let receipt = receipts_sent(&mut pair, 1);
    assert_eq!(receipt.len(), 1);
    pair.advance(1_000);
    assert!(pair.deliver(1, &frames[1]).expect("a duplicate").duplicate);
    assert_eq!(receipts_sent(&mut pair, 1), receipt, "the same bytes again");
    pair.advance(1_000);
    pair.deliver(1, &frames[2]).expect("held above the gap");
    let newer = receipts_sent(&mut pair, 1);
    assert_eq!(newer.len(), 1);
    assert_ne!(
        newer, receipt,
        "seqs 2 and 3 held, not 2 alone: a new receipt"
    );
}

/// The copy of an envelope already verified (the same bytes from another channel, a
/// retransmission, a relay or a bundle delivering it again) is taken as a duplicate without a
/// second signature check; a copy differing in any byte is checked, and refused.
#[test]
fn an_envelope_already_verified_is_not_checked_again() {
    let mut pair = Pair::paired();
    pair.send(0, "hello");
    let good = pair.transmits(0).remove(0).frame.to_vec();
    let now = pair.now_ms;
    let endpoint = &mut pair.sides[1].endpoint;
    let skipped = endpoint.envelope_checks_skipped();
    let first = endpoint.handle_frame(now, &good).expect("accepted");
    assert_eq!((first.kind, first.duplicate), (FrameKind::Envelope, false));
    assert_eq!(endpoint.envelope_checks_skipped(), skipped);
    for copy in 1..=2 {
        let again = endpoint.handle_frame(now, &good).expect("accepted");
        assert_eq!((again.kind, again.duplicate), (FrameKind::Envelope, true));
        assert_eq!(endpoint.envelope_checks_skipped(), skipped + copy);
    }
    refuse_changed_copy(endpoint, now, &good);
    assert_eq!(endpoint.envelope_checks_skipped(), skipped + 2);
}

/// Envelopes whose signatures were checked as one batch are taken without a check alone,
/// each exactly as if it had been checked alone; a batch holding one bad signature covers
/// nothing, and the bad one is refused when it is handled while the others are accepted.
#[test]
fn envelopes_checked_as_a_batch_are_taken_as_if_checked_alone() {
    for spoiled in [None, Some(2)] {
        let (mut pair, frames) = pair_with_frames(5);
        let mut frames = frames;
        if let Some(bad) = spoiled {
            let last = frames[bad].len() - 1;
            frames[bad][last] ^= 1;
        }
        let now = pair.now_ms;
        let endpoint = &mut pair.sides[1].endpoint;
        let covered = endpoint.preverify(frames.iter().map(Vec::as_slice));
        let expected = if spoiled.is_some() { 0 } else { frames.len() };
        assert_eq!(covered, expected);
        for (i, frame) in frames.iter().enumerate() {
            let outcome = endpoint.handle_frame(now, frame);
            if spoiled == Some(i) {
                let refused = outcome.expect_err("a changed byte");
                assert_eq!(refused.rejection.counter_name(), "bad_signature");
            } else {
                let accepted = outcome.expect("accepted");
                assert_eq!(
                    (accepted.kind, accepted.duplicate),
                    (FrameKind::Envelope, false)
                );
            }
        }
        // Counted as they are taken; each entry's signature was in the batch too.
        assert_eq!(endpoint.envelope_checks_batched(), expected as u64);
        assert_eq!(endpoint.entry_checks_batched(), expected as u64);
        assert_eq!(endpoint.envelope_checks_skipped(), 0, "none was a copy");
        // Now known: a second batch of the same frames has nothing to cover.
        assert_eq!(endpoint.preverify(frames.iter().map(Vec::as_slice)), 0);
    }
}

/// An envelope rightly signed by the peer around an entry whose own signature is bad: the
/// envelopes' batch covers all five, the entries' batch covers none, and that entry is refused
/// as badly signed when its envelope is handled, exactly as alone, while the others are
/// accepted.
#[test]
fn an_entry_badly_signed_inside_a_good_envelope_spoils_the_entries_batch_and_is_refused() {
    use parley_proto::envelope::Envelope;
    use parley_proto::seal::{PeerEpochKey, SealParties, Sealer};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng as _;

    let (mut pair, mut frames) = pair_with_frames(5);
    let (alpha, bravo) = (&pair.sides[0].identity, pair.sides[1].id());
    // Alpha's third envelope, opened with Bravo's key; its entry's signature bent; sealed
    // again to Bravo's key and signed by Alpha.
    let (genuine, mut entry) = opened_by_bravo(&pair, &frames[2]);
    let parties = SealParties {
        link: genuine.link,
        from: alpha.id(),
        to: bravo,
    };
    *entry.last_mut().expect("signed bytes") ^= 1;
    let id = EntryId::of(&entry);
    let bravo_key = pair.sides[1].keyring.current().public_bytes().to_vec();
    let sealed = Sealer::seal(
        &mut None,
        &mut ChaCha20Rng::from_seed([5; 32]),
        pair.now_ms,
        &parties,
        &PeerEpochKey::from_bytes(&bravo_key).expect("Bravo's key"),
        genuine.seq,
        &id,
        &entry,
    );
    let envelope = Envelope::sign(alpha, genuine.link, bravo, genuine.seq, id, sealed);
    frames[2] = Frame::encode(TAG_ENVELOPE, &envelope);

    let now = pair.now_ms;
    let endpoint = &mut pair.sides[1].endpoint;
    assert_eq!(endpoint.preverify(frames.iter().map(Vec::as_slice)), 5);
    for (i, frame) in frames.iter().enumerate() {
        let outcome = endpoint.handle_frame(now, frame);
        if i == 2 {
            let refused = outcome.expect_err("a bent entry signature");
            assert_eq!(refused.rejection.counter_name(), "bad_signature");
        } else {
            assert!(!outcome.expect("accepted").duplicate);
        }
    }
    assert_eq!(
        (
            endpoint.envelope_checks_batched(),
            endpoint.entry_checks_batched()
        ),
        (5, 0),
        "every envelope taken on the batch, every entry checked alone"
    );
}

/// A batch checked while another's frames wait (a relay batch inside a round of the daemon's
/// loop) keeps the first one's; the digests kept are bounded, and frames beyond the bound are
/// left to be checked alone.
#[test]
fn batches_nest_and_the_envelopes_kept_are_bounded() {
    let (mut pair, frames) = pair_with_frames(6);
    let now = pair.now_ms;
    let endpoint = &mut pair.sides[1].endpoint;
    let (first, second) = frames.split_at(3);
    assert_eq!(
        endpoint.preverify_within(first.iter().map(Vec::as_slice), (5, usize::MAX)),
        3
    );
    // Two of room left: only two of the second three are gathered.
    assert_eq!(
        endpoint.preverify_within(second.iter().map(Vec::as_slice), (5, usize::MAX)),
        2
    );
    // At the bound: nothing more is gathered.
    assert_eq!(
        endpoint.preverify_within(second.iter().map(Vec::as_slice), (5, usize::MAX)),
        0
    );
    for frame in &frames {
        endpoint.handle_frame(now, frame).expect("accepted");
    }
    assert_eq!(
        endpoint.envelope_checks_batched(),
        5,
        "the sixth was checked alone"
    );
}

/// Entries checked in a batch are kept as they were opened, so their frames' handling opens
/// none of them again, up to a bound in bytes; beyond it only their ids are kept, and those
/// are opened again (their signatures not checked again). Every one is taken either way.
#[test]
fn entries_checked_in_a_batch_are_opened_once_within_their_bound() {
    use parley_proto::entry::SignedEntry;

    let entry_bytes = |pair: &Pair, frame: &[u8]| {
        let (envelope, plaintext) = opened_by_bravo(pair, frame);
        SignedEntry::decode_stored(&plaintext, &envelope.entry_id)
            .expect("an entry")
            .bytes()
            .len()
    };
    // Checks `frames` as one batch keeping at most `bound` bytes of entries, then hands
    // each to Bravo: every one is taken new.
    let batch_then_handle = |pair: &mut Pair, frames: &[Vec<u8>], bound: usize| {
        let now = pair.now_ms;
        let endpoint = &mut pair.sides[1].endpoint;
        let covered = endpoint.preverify_within(frames.iter().map(Vec::as_slice), (16, bound));
        assert_eq!(covered, frames.len());
        for frame in frames {
            let accepted = endpoint.handle_frame(now, frame).expect("accepted");
            assert!(!accepted.duplicate);
        }
    };
    for (kept, opened_again) in [(4, 0), (3, 1)] {
        let (mut pair, frames) = pair_with_frames(4);
        let sizes: Vec<usize> = frames.iter().map(|f| entry_bytes(&pair, f)).collect();
        let bound: usize = sizes[..kept].iter().sum();
        batch_then_handle(&mut pair, &frames, bound);
        let endpoint = &pair.sides[1].endpoint;
        assert_eq!(endpoint.entry_checks_batched(), 4, "all four in the batch");
        assert_eq!(
            endpoint.entries_opened_again(),
            opened_again,
            "{kept} kept whole within {bound} bytes"
        );
        // Handled, they left the bound whole: the next batch has it all again.
        let more = frames_sent(&mut pair, 4);
        batch_then_handle(&mut pair, &more, bound);
        let endpoint = &pair.sides[1].endpoint;
        assert_eq!(endpoint.entries_opened_again(), 2 * opened_again);
    }
}

/// Alpha's envelope in `frame`, and the signed entry inside as Bravo's key opens it.
fn opened_by_bravo(pair: &Pair, frame: &[u8]) -> (parley_proto::envelope::Envelope, Vec<u8>) {
    use parley_proto::envelope::Envelope;
    use parley_proto::seal::{Opener, SealParties};

    let Ok(Frame::Envelope(raw)) = Frame::parse(frame) else {
        panic!("an envelope frame");
    };
    let envelope = Envelope::peek(raw)
        .expect("parses")
        .check_signature()
        .expect("Alpha's");
    let parties = SealParties {
        link: envelope.link,
        from: envelope.from,
        to: envelope.to,
    };
    let plaintext = Opener::default()
        .open(
            &pair.sides[1].keyring,
            &parties,
            &envelope.key_id,
            &envelope.encapsulated,
            envelope.seq,
            &envelope.entry_id,
            &envelope.ciphertext,
        )
        .expect("opens");
    (envelope, plaintext)
}

/// A paired pair, and the frames of `count` messages Alpha sent, one envelope each.
fn pair_with_frames(count: usize) -> (Pair, Vec<Vec<u8>>) {
    let mut pair = Pair::paired();
    let frames = frames_sent(&mut pair, count);
    (pair, frames)
}

/// The frames of `count` more messages Alpha sends, one envelope each.
fn frames_sent(pair: &mut Pair, count: usize) -> Vec<Vec<u8>> {
    for i in 0..count {
        pair.send(0, &format!("message {i}"));
    }
    let frames: Vec<Vec<u8>> = (pair.transmits(0).into_iter())
        .map(|t| t.frame.to_vec())
        .collect();
    assert_eq!(frames.len(), count, "one envelope per message");
    frames
}

/// Every field within its bound can still add up to more than one entry may hold: such an
/// entry is refused before anything is kept or queued, and the link goes on.
#[test]
fn an_entry_over_the_entry_limit_is_refused_before_it_is_kept() {
    use parley_proto::limits::{ENTRY_SIZE_MAX_BYTES, TEXT_SIZE_MAX_BYTES, TRANSLATIONS_MAX};
    use parley_proto::{Body, Precedence, SendError, Translation};
    let mut pair = Pair::paired();
    let bravo = pair.sides[1].id();
    let text = "x".repeat(TEXT_SIZE_MAX_BYTES);
    let body = |translations: usize| Body::Message {
        text: text.clone(),
        lang: "en".into(),
        exercise: false,
        translations: (0..translations)
            .map(|i| Translation {
                lang: format!("l{i}"),
                text: text.clone(),
            })
            .collect(),
    };
    let now_ms = pair.now_ms;
    let endpoint = &mut pair.sides[0].endpoint;
    // Three full texts fit (about 48 KiB); four do not.
    let (seq, _) = endpoint
        .append(now_ms, &bravo, Precedence::Routine, body(2))
        .expect("fits");
    let refused = endpoint.append(now_ms, &bravo, Precedence::Routine, body(TRANSLATIONS_MAX));
    assert!(
        matches!(refused, Err(SendError::EntryTooLarge { len, max }) if len > max && max == ENTRY_SIZE_MAX_BYTES),
        "{refused:?}"
    );
    let written = endpoint.take_writes();
    assert_eq!(written.len(), 1, "only the entry that fits is kept");
    assert_eq!(pair.send(0, "the link goes on"), seq + 1);
}

/// A peer's epoch key announcements take effect in the order of its log: the later of two
/// that arrive in reverse order stays in use, across a restart, and what is sealed to it
/// opens after the peer has erased the key before it.
#[test]
fn epoch_keys_take_effect_in_the_order_of_the_announcing_log() {
    let mut pair = Pair::paired();
    let (alpha, bravo) = (pair.sides[0].id(), pair.sides[1].id());
    let first = pair.sides[1].endpoint.keyring().current().id();
    let (second, full) = pair.sides[1].endpoint.rotate_epoch(pair.now_ms);
    assert!(full.is_empty(), "the outbox has room");
    let (third, _) = pair.sides[1].endpoint.rotate_epoch(pair.now_ms);
    let (second, third) = (second.id(), third.id());
    let held: Vec<_> = pair.sides[1]
        .endpoint
        .keyring()
        .keys()
        .map(|k| k.id())
        .collect();
    assert_eq!(
        held,
        [third, second, first],
        "the newest first, the old ones held"
    );

    let mut frames: Vec<Vec<u8>> = pair
        .transmits(1)
        .into_iter()
        .filter(|t| t.frame[0] == TAG_ENVELOPE)
        .map(|t| t.frame.to_vec())
        .collect();
    assert_eq!(frames.len(), 2, "both announcements go out");
    frames.reverse();
    for frame in &frames {
        pair.deliver(0, frame)
            .expect("announcements are accepted in any order");
    }
    let sealing_to = |pair: &Pair| {
        let link = pair.sides[0].endpoint.link(&bravo).expect("paired");
        link.peer_epoch_id()
    };
    assert_eq!(sealing_to(&pair), third, "the later announcement wins");
    let snapshot = pair.snapshot(0);
    assert_eq!(
        snapshot.peer_epoch_seq,
        pair.sides[1].endpoint.link(&alpha).unwrap().out_seq()
    );
    pair.restart(0);
    assert_eq!(sealing_to(&pair), third, "and stays after a restart");

    assert!(pair.sides[1].endpoint.erase_epoch(&first));
    assert!(pair.sides[1].endpoint.erase_epoch(&second));
    assert!(!pair.sides[1].endpoint.erase_epoch(&second), "erased once");
    pair.send(0, "sealed to the third key");
    pair.pump();
    let link = pair.sides[1].endpoint.link(&alpha).expect("paired");
    assert_eq!(
        link.in_head(),
        pair.sides[0].endpoint.link(&bravo).unwrap().out_seq()
    );
    assert!(
        link.counters().rejected.is_empty(),
        "{:?}",
        link.counters().rejected
    );
}

/// An envelope sealed to an epoch key the receiver no longer holds is refused, by name, and
/// changes nothing: the reason a station keeps a superseded key until its peer has moved on.
#[test]
fn an_envelope_sealed_to_an_erased_key_is_refused() {
    let mut pair = Pair::paired();
    let (alpha, bravo) = (pair.sides[0].id(), pair.sides[1].id());
    let first = pair.sides[1].endpoint.keyring().current().id();
    pair.sides[1].endpoint.rotate_epoch(pair.now_ms);
    pair.commit(1);
    // Alpha writes before reading the announcement: sealed to the first key.
    pair.set_up(0, false);
    pair.send(0, "sealed to the first key");
    assert!(pair.sides[1].endpoint.erase_epoch(&first));
    let before = pair.snapshot(1);
    pair.set_up(0, true);
    let frame = pair
        .transmits(0)
        .into_iter()
        .find(|t| t.frame[0] == TAG_ENVELOPE)
        .expect("the message goes out");
    let refused = pair.deliver(1, &frame.frame).expect_err("its key is gone");
    assert!(refused.to_string().contains("epoch key"), "{refused}");
    assert_eq!(pair.snapshot(1), before, "nothing changed");
    let link = pair.sides[1].endpoint.link(&alpha).expect("paired");
    assert_eq!(link.counters().rejected.get("unknown_epoch_key"), Some(&1));
    let _ = bravo;
}

/// An entry opened for a batch check and kept until its frame is handled is refused all the
/// same if the key it was sealed to is erased in between, as it would be opened again.
#[test]
fn an_entry_kept_from_a_batch_is_refused_once_its_key_is_erased() {
    let mut pair = Pair::paired();
    let alpha = pair.sides[0].id();
    let first = pair.sides[1].endpoint.keyring().current().id();
    pair.sides[1].endpoint.rotate_epoch(pair.now_ms);
    pair.commit(1);
    pair.set_up(0, false);
    pair.send(0, "sealed to the first key");
    pair.send(0, "and this one too");
    pair.set_up(0, true);
    let frames: Vec<Vec<u8>> = (pair.transmits(0).into_iter())
        .filter(|t| t.frame[0] == TAG_ENVELOPE)
        .map(|t| t.frame.to_vec())
        .collect();
    assert_eq!(frames.len(), 2);
    let endpoint = &mut pair.sides[1].endpoint;
    assert_eq!(endpoint.preverify(frames.iter().map(Vec::as_slice)), 2);
    assert!(endpoint.erase_epoch(&first));
    let now = pair.now_ms;
    for frame in &frames {
        let refused = endpoint
            .handle_frame(now, frame)
            .expect_err("its key is gone");
        assert_eq!(refused.rejection.counter_name(), "unknown_epoch_key");
    }
    let link = endpoint.link(&alpha).expect("paired");
    assert_eq!(link.counters().rejected.get("unknown_epoch_key"), Some(&2));
}
