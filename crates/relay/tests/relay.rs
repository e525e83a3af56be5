//! The relay end to end: a real server on 127.0.0.1 with real TLS and SQLite, real Ed25519
//! stations and genuine signed frames. Every refusal is checked to change nothing stored, and
//! every limit is checked on both sides.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{
    Relay, Station, arcs, assert_raw, assert_refused, frame, frame_of_size, receipt_frame,
    tampered, within,
};
use parley_channels::{RelayClient, RelayError};
use parley_proto::seal::EpochSecret;
use parley_proto::{ChannelId, ChannelKind, Endpoint, Identity, Keyring};
use parley_relay::limits::{
    DEPOSIT_FRAMES_MAX, FRAME_SIZE_MAX_BYTES, MAILBOX_ITEMS_MAX, REQUEST_CLOCK_SKEW_MS_MAX,
    deposit_body_size_max_bytes,
};
use parley_relay::server::now_ms;
use parley_relay::{Limits, RelayHome, RelayServer};
use parley_relay_wire::auth::{HEADER_BODY_SHA256, HEADER_NONCE, HEADER_SIGNATURE, HEADER_STATION};
use parley_relay_wire::wire::{self, DeleteRequest};
use rand_core::SeedableRng as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposit_fetch_delete_and_ping() {
    let relay = Relay::start(Limits::default()).await;
    let (alpha, bravo) = (relay.client(&relay.alpha), relay.client(&relay.bravo));
    let sent = vec![
        frame(&relay.alpha.identity, &relay.bravo.id(), 1),
        receipt_frame(&relay.alpha.identity, &relay.bravo.id()),
        frame(&relay.alpha.identity, &relay.bravo.id(), 2),
    ];
    within(alpha.deposit(&relay.bravo.id(), &arcs(&sent)))
        .await
        .expect("deposit is stored");
    // A retransmission costs nothing: it is recognised as a duplicate.
    within(alpha.deposit(&relay.bravo.id(), &arcs(&sent[..1])))
        .await
        .expect("retransmission is accepted");
    assert_eq!(relay.snapshot().1.items, 3);

    let fetched = within(bravo.fetch(Duration::ZERO)).await.expect("fetches");
    let frames: Vec<Vec<u8>> = fetched.iter().map(|item| item.frame.clone()).collect();
    assert_eq!(frames, sent);
    assert!(fetched.windows(2).all(|pair| pair[0].id < pair[1].id));
    // Alpha's own mailbox is empty: nobody fetches another station's mailbox.
    assert!(
        within(alpha.fetch(Duration::ZERO))
            .await
            .expect("fetches")
            .is_empty()
    );

    let ids: Vec<u64> = fetched.iter().map(|item| item.id).collect();
    within(bravo.delete(&ids[..2])).await.expect("deletes");
    let left = within(bravo.fetch(Duration::ZERO)).await.expect("fetches");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, ids[2]);
    within(bravo.delete_upto(ids[2])).await.expect("deletes");
    assert!(
        within(bravo.fetch(Duration::ZERO))
            .await
            .expect("fetches")
            .is_empty()
    );

    let rtt = within(alpha.ping()).await.expect("ping answers");
    assert!(rtt < Duration::from_secs(5), "{rtt:?}");
    let health = relay.raw("GET", "/v1/health", &Vec::new(), b"").await;
    assert_eq!(health, (200, "ok".to_owned()));
}

/// The ids of the items `client`'s mailbox holds, as a fetch that waits for none returns them.
async fn ids_held(client: &RelayClient) -> Vec<u64> {
    within(client.fetch(Duration::ZERO))
        .await
        .expect("fetches")
        .iter()
        .map(|item| item.id)
        .collect()
}

/// A fetch acknowledges what the last one fetched: every item of the station's own mailbox up
/// to the id it names goes, and nothing of another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_acknowledges_the_items_up_to_an_id() {
    let relay = Relay::start(Limits::default()).await;
    let (alpha, bravo) = (relay.client(&relay.alpha), relay.client(&relay.bravo));
    let to_bravo: Vec<Vec<u8>> = (1..=3)
        .map(|seq| frame(&relay.alpha.identity, &relay.bravo.id(), seq))
        .collect();
    within(alpha.deposit(&relay.bravo.id(), &arcs(&to_bravo)))
        .await
        .expect("deposit is stored");
    let to_alpha = vec![frame(&relay.bravo.identity, &relay.alpha.id(), 1)];
    within(bravo.deposit(&relay.alpha.id(), &arcs(&to_alpha)))
        .await
        .expect("deposit is stored");
    let ids = ids_held(&bravo).await;
    assert_eq!(ids.len(), 3);

    // Alpha acknowledges everything there could be: only its own mailbox's item goes.
    let alphas = within(alpha.fetch_acknowledging(Duration::ZERO, u64::MAX))
        .await
        .expect("fetches");
    assert!(alphas.is_empty(), "its own item went before the fetch");
    assert_eq!(relay.snapshot().1.items, 3, "Bravo's items stay");

    // Up to one below an id keeps it; up to the id takes it.
    let left = within(bravo.fetch_acknowledging(Duration::ZERO, ids[1] - 1))
        .await
        .expect("fetches");
    assert_eq!(
        left.iter().map(|item| item.id).collect::<Vec<_>>(),
        ids[1..]
    );
    let left = within(bravo.fetch_acknowledging(Duration::ZERO, ids[1]))
        .await
        .expect("fetches");
    assert_eq!(
        left.iter().map(|item| item.id).collect::<Vec<_>>(),
        ids[2..]
    );
    assert_eq!(left[0].frame, to_bravo[2]);
    // A long poll that acknowledges the last item waits on an empty mailbox.
    let started = std::time::Instant::now();
    let none = within(bravo.fetch_acknowledging(Duration::from_millis(300), ids[2]))
        .await
        .expect("fetches");
    assert!(none.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(relay.snapshot().1.items, 0);
}

/// A frame an `Endpoint` produces (a real sealed key announcement) crosses the relay and is
/// accepted by the recipient's `Endpoint`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_protocol_frames_cross_the_relay() {
    let relay = Relay::start(Limits::default()).await;
    let endpoint = |me: &Identity, seed: u8| {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([seed; 32]);
        Endpoint::new(
            me.clone(),
            Keyring::new(EpochSecret::generate(&mut rng)),
            [seed; 32],
        )
    };
    let mut alpha = endpoint(&relay.alpha.identity, 1);
    let mut bravo = endpoint(&relay.bravo.identity, 2);
    let now = now_ms();
    let alpha_epoch = alpha.keyring().current().public_bytes().to_vec();
    let bravo_epoch = bravo.keyring().current().public_bytes().to_vec();
    alpha
        .pair(now, relay.bravo.id(), bravo_epoch)
        .expect("pairs");
    bravo
        .pair(now, relay.alpha.id(), alpha_epoch)
        .expect("pairs");
    let link = alpha.link_mut(&relay.bravo.id()).expect("paired");
    link.add_channel(ChannelId(0), ChannelKind::Relay);
    link.set_channel_up(now, ChannelId(0), true);
    alpha.take_writes();
    alpha.handle_timeout(now);
    // The key announcement (a receipt of nothing goes before it).
    let (to, transmit) = std::iter::from_fn(|| alpha.poll_transmit())
        .find(|(_, transmit)| transmit.frame.first() == Some(&parley_proto::frame::TAG_ENVELOPE))
        .expect("the announcement is sent");
    assert_eq!(to, relay.bravo.id());

    within(
        relay
            .client(&relay.alpha)
            .deposit(&to, std::slice::from_ref(&transmit.frame)),
    )
    .await
    .expect("deposit is stored");
    let fetched = within(relay.client(&relay.bravo).fetch(Duration::ZERO))
        .await
        .expect("fetches");
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].frame, transmit.frame.to_vec());
    assert_eq!(
        bravo.handle_frame(now, &fetched[0].frame),
        Ok(parley_proto::Accepted {
            peer: relay.alpha.id(),
            kind: parley_proto::FrameKind::Envelope,
            duplicate: false,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_waits_at_most_the_limit() {
    let wait_max = Duration::from_millis(400);
    let relay = Relay::start(Limits {
        fetch_wait_ms_max: 400,
        ..Limits::default()
    })
    .await;
    let bravo = relay.client(&relay.bravo);
    // Nothing arrives: a long wait is cut to the limit, a shorter one is honoured.
    let started = Instant::now();
    assert!(
        within(bravo.fetch(Duration::from_secs(30)))
            .await
            .expect("fetches")
            .is_empty()
    );
    let waited = started.elapsed();
    assert!(
        waited >= wait_max && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    let started = Instant::now();
    assert!(
        within(bravo.fetch(Duration::from_millis(100)))
            .await
            .expect("fetches")
            .is_empty()
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < wait_max,
        "{waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_wakes_on_deposit() {
    let relay = Relay::start(Limits {
        fetch_wait_ms_max: 15_000,
        ..Limits::default()
    })
    .await;
    let (alpha, bravo) = (relay.client(&relay.alpha), relay.client(&relay.bravo));
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let fetched = bravo.fetch(Duration::from_secs(15)).await;
        (fetched, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = vec![frame(&relay.alpha.identity, &relay.bravo.id(), 1)];
    within(alpha.deposit(&relay.bravo.id(), &arcs(&sent)))
        .await
        .expect("deposit is stored");
    let (fetched, waited) = within(waiting).await.expect("fetch task ends");
    let fetched = fetched.expect("fetches");
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].frame, sent[0]);
    // Woken by the deposit, not by the end of its 15 s wait.
    assert!(waited < Duration::from_secs(10), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_refusals_change_nothing() {
    let relay = Relay::start(Limits::default()).await;
    let alpha = &relay.alpha.identity;
    let target = format!("/v1/mailboxes/{}", relay.bravo.id());
    let body = wire::encode_deposit(&[frame(alpha, &relay.bravo.id(), 1)]);
    let before = relay.snapshot();

    let answer = relay.raw("POST", &target, &Vec::new(), &body).await;
    assert_raw(answer, 401, "missing header parley-station");
    let mut headers = relay.sign(alpha, "POST", &target, &body);
    headers.retain(|(name, _)| name != HEADER_SIGNATURE);
    assert_raw(
        relay.raw("POST", &target, &headers, &body).await,
        401,
        "missing header parley-signature",
    );

    // A signature by another key, one over another body, one for another relay.
    let mut forged = relay.sign(&relay.bravo.identity, "POST", &target, &body);
    forged.retain(|(name, _)| name != HEADER_STATION);
    forged.push((HEADER_STATION.to_owned(), alpha.id().to_string()));
    assert_raw(
        relay.raw("POST", &target, &forged, &body).await,
        401,
        "signature does not verify",
    );
    // Signed over another body: the signature verifies (over the hash the headers declare),
    // the body sent is not the signed one.
    let other_body = relay.sign(alpha, "POST", &target, b"other");
    assert_raw(
        relay.raw("POST", &target, &other_body, &body).await,
        401,
        "does not match its parley-body-sha256 header",
    );
    let mut unhashed = relay.sign(alpha, "POST", &target, &body);
    unhashed.retain(|(name, _)| name != HEADER_BODY_SHA256);
    assert_raw(
        relay.raw("POST", &target, &unhashed, &body).await,
        401,
        "missing header parley-body-sha256",
    );
    let other_target = relay.sign(alpha, "POST", "/v1/mailbox/delete", &body);
    assert_raw(
        relay.raw("POST", &target, &other_target, &body).await,
        401,
        "signature does not verify",
    );

    // Timestamps beyond the skew limit either way; within it the request is accepted (below).
    let skew = REQUEST_CLOCK_SKEW_MS_MAX;
    for timestamp_ms in [now_ms() - skew - 10_000, now_ms() + skew + 10_000] {
        let headers = relay.sign_at(alpha, "POST", &target, &body, timestamp_ms);
        assert_raw(
            relay.raw("POST", &target, &headers, &body).await,
            401,
            "away from the relay's clock",
        );
    }

    // A station that was never admitted.
    let charlie = Station::new("Charlie", 3);
    let headers = relay.sign(&charlie.identity, "GET", "/v1/ping", b"");
    assert_raw(
        relay.raw("GET", "/v1/ping", &headers, b"").await,
        403,
        "is not admitted",
    );
    assert_eq!(
        relay.snapshot(),
        before,
        "no refusal changes anything stored"
    );

    // Within the skew limit (either way) the same deposit is accepted (202: Bravo has not
    // addressed Alpha, so the relay does not say more).
    let early = relay.sign_at(alpha, "POST", &target, &body, now_ms() - skew + 10_000);
    assert_eq!(relay.raw("POST", &target, &early, &body).await.0, 202);
    let late_body = wire::encode_deposit(&[frame(alpha, &relay.bravo.id(), 2)]);
    let late = relay.sign_at(alpha, "POST", &target, &late_body, now_ms() + skew - 10_000);
    assert_eq!(relay.raw("POST", &target, &late, &late_body).await.0, 202);
    assert_eq!(relay.snapshot().1.items, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_request_is_refused_even_after_a_restart() {
    let mut relay = Relay::start(Limits::default()).await;
    let target = format!("/v1/mailboxes/{}", relay.bravo.id());
    let body = wire::encode_deposit(&[frame(&relay.alpha.identity, &relay.bravo.id(), 1)]);
    let headers = relay.sign(&relay.alpha.identity, "POST", &target, &body);
    assert_eq!(relay.raw("POST", &target, &headers, &body).await.0, 202);
    // The bravo mailbox now holds one item; take it out so a replay would be visible.
    let bravo = relay.client(&relay.bravo);
    let ids = ids_held(&bravo).await;
    within(bravo.delete(&ids)).await.expect("deletes");
    let before = relay.snapshot();

    assert_raw(
        relay.raw("POST", &target, &headers, &body).await,
        401,
        "replayed",
    );
    assert_eq!(relay.snapshot(), before);

    relay.restart().await;
    assert_raw(
        relay.raw("POST", &target, &headers, &body).await,
        401,
        "replayed",
    );
    assert_eq!(relay.snapshot(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_station_is_refused_at_once_and_its_mailbox_deleted() {
    let relay = Relay::start(Limits::default()).await;
    // Bravo has addressed Alpha, so Alpha is told what becomes of its deposits to Bravo.
    relay.introduce(&relay.alpha, &relay.bravo).await;
    let (alpha, bravo) = (relay.client(&relay.alpha), relay.client(&relay.bravo));
    let sent = vec![frame(&relay.alpha.identity, &relay.bravo.id(), 1)];
    within(alpha.deposit(&relay.bravo.id(), &arcs(&sent)))
        .await
        .expect("deposit is stored");
    within(bravo.ping())
        .await
        .expect("admitted station is served");

    // Revoked through the home, as `parley relay revoke` does, while the server runs.
    assert_eq!(relay.home.revoke("Bravo", now_ms()).expect("revokes"), 1);
    assert_refused(within(bravo.ping()).await, 403, "has been revoked");
    assert_refused(
        within(bravo.fetch(Duration::ZERO)).await,
        403,
        "has been revoked",
    );
    assert_refused(
        within(alpha.deposit(&relay.bravo.id(), &arcs(&sent))).await,
        404,
        "is not admitted at this relay, or was revoked",
    );
    let (_, bravo_mailbox, _) = relay.snapshot();
    assert_eq!(bravo_mailbox.items, 0);

    // Admitted while the server runs: served at once.
    let charlie = Station::new("Charlie", 3);
    let charlie_client = relay.client(&charlie);
    assert_refused(within(charlie_client.ping()).await, 403, "is not admitted");
    relay
        .home
        .admit(&charlie.card_text(), &charlie.fingerprint(), now_ms())
        .expect("admits");
    within(charlie_client.ping())
        .await
        .expect("admitted station is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_mailbox_can_be_neither_fetched_nor_deleted() {
    let relay = Relay::start(Limits::default()).await;
    let (alpha, bravo) = (relay.client(&relay.alpha), relay.client(&relay.bravo));
    let sent = vec![
        frame(&relay.alpha.identity, &relay.bravo.id(), 1),
        frame(&relay.alpha.identity, &relay.bravo.id(), 2),
    ];
    within(alpha.deposit(&relay.bravo.id(), &arcs(&sent)))
        .await
        .expect("deposit is stored");
    let ids = ids_held(&bravo).await;
    assert_eq!(ids.len(), 2);

    // Alpha names Bravo's ids, and everything up to the largest: nothing of Bravo's goes.
    within(alpha.delete(&ids))
        .await
        .expect("the request itself is valid");
    within(alpha.delete_upto(u64::MAX))
        .await
        .expect("the request itself is valid");
    assert!(
        within(alpha.fetch(Duration::ZERO))
            .await
            .expect("fetches")
            .is_empty()
    );
    assert_eq!(relay.snapshot().1.items, 2);
    // The fetch path names no mailbox: there is no way to ask for another one.
    let headers = relay.sign(&relay.alpha.identity, "GET", "/v1/mailboxes/x", b"");
    assert_raw(
        relay.raw("GET", "/v1/mailboxes/x", &headers, b"").await,
        405,
        "method not allowed",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_fail_verification_refuse_the_whole_deposit() {
    let relay = Relay::start(Limits::default()).await;
    let alpha = relay.client(&relay.alpha);
    let (a, b) = (&relay.alpha.identity, relay.bravo.id());
    let charlie = Station::new("Charlie", 3);
    let good = frame(a, &b, 1);
    let bad = tampered(frame(a, &b, 2));
    let cases: Vec<(Vec<Vec<u8>>, u16, &str)> = vec![
        (
            vec![good.clone(), frame(&charlie.identity, &b, 1)],
            422,
            "frame 1 refused: envelope is from station",
        ),
        (
            vec![frame(a, &charlie.id(), 1)],
            422,
            "frame 0 refused: envelope is addressed to station",
        ),
        (
            vec![good.clone(), bad],
            422,
            "frame 1 refused: envelope: signature does not verify",
        ),
        (
            vec![receipt_frame(&charlie.identity, &b)],
            422,
            "frame 0 refused: receipt is from station",
        ),
        (
            vec![receipt_frame(a, &charlie.id())],
            422,
            "frame 0 refused: receipt is addressed to station",
        ),
        (
            vec![vec![9, 1, 2]],
            422,
            "frame 0 refused: unknown frame tag 9",
        ),
        (vec![Vec::new()], 422, "frame 0 refused: unknown frame tag"),
        (
            vec![good.clone(), frame_of_size(a, &b, FRAME_SIZE_MAX_BYTES + 1)],
            413,
            "frame 1 is 65538 bytes, over the limit of 65537 bytes",
        ),
    ];
    let before = relay.snapshot();
    for (frames, status, reason) in cases {
        assert_refused(
            within(alpha.deposit(&b, &arcs(&frames))).await,
            status,
            reason,
        );
        assert_eq!(relay.snapshot().1, before.1, "refused: {reason}");
    }
    // A station never admitted has never addressed Alpha: the deposit is answered like any
    // deposit to such a station (202, saying nothing; see tests/hostile.rs), and nothing is
    // stored.
    within(alpha.deposit(&charlie.id(), &arcs(&[frame(a, &charlie.id(), 1)])))
        .await
        .expect("answered without saying what happened");
    let charlie_mailbox = relay.store().mailbox_size(&charlie.id()).expect("reads");
    assert_eq!(charlie_mailbox.items, 0);
    let target = format!("/v1/mailboxes/{b}");
    let headers = relay.sign(a, "POST", &target, b"\x82\x01");
    assert_raw(
        relay.raw("POST", &target, &headers, b"\x82\x01").await,
        400,
        "body is malformed",
    );
    let headers = relay.sign(
        a,
        "POST",
        "/v1/mailboxes/ABC",
        &wire::encode_deposit(&[&good]),
    );
    assert_raw(
        relay
            .raw(
                "POST",
                "/v1/mailboxes/ABC",
                &headers,
                &wire::encode_deposit(&[&good]),
            )
            .await,
        400,
        "not a station id",
    );
    assert_eq!(relay.snapshot().1, before.1);

    // The largest frame the protocol allows is accepted.
    let largest = frame_of_size(a, &b, FRAME_SIZE_MAX_BYTES);
    within(alpha.deposit(&b, &arcs(&[largest])))
        .await
        .expect("largest frame is stored");
    assert_eq!(relay.snapshot().1.items, before.1.items + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposit_frame_count_and_body_size_are_bounded() {
    // The least a relay may be set to: what a client deposits at once.
    let most = DEPOSIT_FRAMES_MAX;
    let relay = Relay::start(Limits {
        deposit_frames_max: most,
        ..Limits::default()
    })
    .await;
    let alpha = relay.client(&relay.alpha);
    let (a, b) = (&relay.alpha.identity, relay.bravo.id());
    let frames: Vec<Vec<u8>> = (1..=most as u64 + 1).map(|seq| frame(a, &b, seq)).collect();
    assert_refused(
        within(alpha.deposit(&b, &arcs(&frames))).await,
        413,
        &format!("{} frames, over the limit of {most}", most + 1),
    );
    assert_eq!(relay.snapshot().1.items, 0);
    within(alpha.deposit(&b, &arcs(&frames[..most])))
        .await
        .expect("as many frames as the limit are accepted");
    assert_eq!(relay.snapshot().1.items, most as u64);

    // A body of exactly the limit is read (and refused as malformed); one byte more is not.
    let target = format!("/v1/mailboxes/{b}");
    let limit = deposit_body_size_max_bytes(most);
    let at_limit = vec![0xff; limit];
    let headers = relay.sign(a, "POST", &target, &at_limit);
    assert_raw(
        relay.raw("POST", &target, &headers, &at_limit).await,
        400,
        "malformed",
    );
    let over = vec![0xff; limit + 1];
    let headers = relay.sign(a, "POST", &target, &over);
    assert_raw(
        relay.raw("POST", &target, &headers, &over).await,
        413,
        &format!("request body is over the limit of {limit} bytes"),
    );
    assert_eq!(relay.snapshot().1.items, most as u64);
}

/// Each sender's share of a mailbox and the mailbox's own quota, in items and in bytes, each
/// exactly at the limit and one over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_and_sender_quotas_are_enforced_on_both_sides() {
    // A mailbox of 4 items; each sender's share is 2.
    let items = Limits {
        mailbox_items_max: 4,
        mailbox_share_percent: 50,
        ..Limits::default()
    };
    let frames = |relay: &Relay, station: &Station| -> Vec<Vec<u8>> {
        (1..=3)
            .map(|seq| frame(&station.identity, &relay.bravo.id(), seq))
            .collect()
    };
    check_quotas(items, frames, "over your share of it (2 frames").await;

    // A mailbox of two frames of the largest size; each sender's share is one.
    let bytes = Limits {
        mailbox_size_max_bytes: 2 * FRAME_SIZE_MAX_BYTES as u64,
        mailbox_share_percent: 50,
        ..Limits::default()
    };
    let frames = |relay: &Relay, station: &Station| -> Vec<Vec<u8>> {
        let b = relay.bravo.id();
        let largest = frame_of_size(&station.identity, &b, FRAME_SIZE_MAX_BYTES);
        vec![
            largest,
            frame(&station.identity, &b, 2),
            frame(&station.identity, &b, 3),
        ]
    };
    let share = format!(
        "over your share of it ({} frames, {FRAME_SIZE_MAX_BYTES} bytes)",
        MAILBOX_ITEMS_MAX / 2
    );
    check_quotas(bytes, frames, &share).await;
}

/// With `limits` whose share is two of `frames` (or one of the largest size, and the mailbox
/// two shares): Alpha fills its share and is refused one more; Charlie fills its share, and
/// the mailbox; Delta, within its share, is refused for the full mailbox. Every refusal
/// stores nothing.
async fn check_quotas(
    limits: Limits,
    frames: impl Fn(&Relay, &Station) -> Vec<Vec<u8>>,
    share_refusal: &str,
) {
    let relay = Relay::start(limits).await;
    let charlie = relay.admit("Charlie", 3);
    let delta = relay.admit("Delta", 4);
    for sender in [&relay.alpha, &charlie, &delta] {
        relay.introduce(sender, &relay.bravo).await;
    }
    let b = relay.bravo.id();
    let share_of = |frames: &[Vec<u8>]| {
        let one_largest = frames[0].len() == FRAME_SIZE_MAX_BYTES;
        if one_largest { 1 } else { 2 }
    };
    let alpha = relay.client(&relay.alpha);
    let sent = frames(&relay, &relay.alpha);
    let share = share_of(&sent);
    within(alpha.deposit(&b, &arcs(&sent[..share])))
        .await
        .expect("exactly its share");
    let before = relay.snapshot().1;
    assert_refused(
        within(alpha.deposit(&b, &arcs(&sent[share..share + 1]))).await,
        507,
        share_refusal,
    );
    assert_eq!(relay.snapshot().1, before, "a refusal stores nothing");
    // Retransmissions of held frames do not count against the share.
    within(alpha.deposit(&b, &arcs(&sent[..share])))
        .await
        .expect("duplicates are free");
    let sent = frames(&relay, &charlie);
    within(relay.client(&charlie).deposit(&b, &arcs(&sent[..share])))
        .await
        .expect("its own share, which fills the mailbox exactly");
    let full = relay.snapshot().1;
    let sent = frames(&relay, &delta);
    assert_refused(
        within(
            relay
                .client(&delta)
                .deposit(&b, &arcs(&sent[share..share + 1])),
        )
        .await,
        507,
        "the recipient's mailbox is full",
    );
    assert_eq!(relay.snapshot().1, full, "a refusal stores nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rate_is_limited_per_station() {
    let relay = Relay::start(Limits {
        request_rate_per_second_max: 1,
        request_burst_max: 3,
        ..Limits::default()
    })
    .await;
    let (alpha, bravo) = (relay.client(&relay.alpha), relay.client(&relay.bravo));
    // Replays are refused before they cost the station any of its budget.
    let headers = relay.sign(&relay.alpha.identity, "GET", "/v1/ping", b"");
    assert_eq!(relay.raw("GET", "/v1/ping", &headers, b"").await.0, 200);
    for _ in 0..5 {
        assert_raw(
            relay.raw("GET", "/v1/ping", &headers, b"").await,
            401,
            "replayed",
        );
    }
    for _ in 0..2 {
        within(alpha.ping()).await.expect("within the burst");
    }
    let limited = within(alpha.ping()).await;
    let retry_after_ms = match limited {
        Err(RelayError::RateLimited { retry_after_ms }) => retry_after_ms,
        other => panic!("expected RateLimited, got {other:?}"),
    };
    assert!((1..=1_000).contains(&retry_after_ms), "{retry_after_ms}");
    let headers = relay.sign(&relay.alpha.identity, "GET", "/v1/ping", b"");
    let (status, body) = relay.raw("GET", "/v1/ping", &headers, b"").await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("[retry-after: 1]"), "{body}");
    // Another station has its own budget.
    within(bravo.ping())
        .await
        .expect("another station is not limited");
    tokio::time::sleep(Duration::from_millis(retry_after_ms + 1_100)).await;
    within(alpha.ping()).await.expect("the budget refills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_items_are_hidden_then_purged() {
    let relay = Relay::start(Limits {
        retention_ms: 600,
        ..Limits::default()
    })
    .await;
    let (alpha, bravo) = (relay.client(&relay.alpha), relay.client(&relay.bravo));
    let sent = vec![frame(&relay.alpha.identity, &relay.bravo.id(), 1)];
    within(alpha.deposit(&relay.bravo.id(), &arcs(&sent)))
        .await
        .expect("deposit is stored");
    assert_eq!(
        within(bravo.fetch(Duration::ZERO))
            .await
            .expect("fetches")
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        within(bravo.fetch(Duration::ZERO))
            .await
            .expect("fetches")
            .is_empty()
    );
    // The periodic purge (every 150 ms here) deletes it from the store too.
    within(async {
        while relay.snapshot().1.items > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_answers_are_paged_by_the_item_limit() {
    let relay = Relay::start(Limits {
        fetch_items_max: 2,
        ..Limits::default()
    })
    .await;
    let bravo = relay.client(&relay.bravo);
    let sent = relay.alpha_deposits_to_bravo(3).await;
    let first = within(bravo.fetch(Duration::ZERO)).await.expect("fetches");
    assert_eq!(first.len(), 2);
    within(bravo.delete_upto(first[1].id))
        .await
        .expect("deletes");
    let second = within(bravo.fetch(Duration::ZERO)).await.expect("fetches");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].frame, sent[2]);
}

/// A fetch's `bytes_max` bounds the frame bytes of its answer, on both sides, and the first
/// frame is answered whatever its size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_answers_are_bounded_by_the_bytes_asked_for() {
    let relay = Relay::start(Limits::default()).await;
    let bravo = relay.client(&relay.bravo);
    let sent = relay.alpha_deposits_to_bravo(3).await;
    let two = (sent[0].len() + sent[1].len()) as u64;
    for (bytes_max, count) in [(0, 3), (two, 2), (two - 1, 1), (1, 1)] {
        let fetched = within(bravo.fetch_bounded(Duration::ZERO, 0, bytes_max))
            .await
            .expect("fetches");
        assert_eq!(fetched.len(), count, "bytes_max {bytes_max}");
        assert_eq!(fetched[0].frame, sent[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_a_relay_with_another_key() {
    let relay = Relay::start(Limits::default()).await;
    let impostor = Identity::from_secret(&[0x42; 32]);
    let client = RelayClient::new(
        &relay.server().url(),
        impostor.id(),
        relay.alpha.identity.clone(),
    )
    .expect("valid URL");
    let before = relay.snapshot();
    match within(client.ping()).await {
        Err(RelayError::Transport(why)) => assert!(why.contains("certificate"), "{why}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert_eq!(relay.snapshot(), before);

    // A second relay (another identity) on the URL the client pinned the first one for.
    let other_dir = tempfile::tempdir().expect("temporary directory");
    let other_home = RelayHome::new(other_dir.path());
    other_home
        .init("Other Relay", now_ms())
        .expect("initialises");
    let other = RelayServer::start(&other_home, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("starts");
    let misdirected =
        RelayClient::new(&other.url(), relay.id, relay.alpha.identity.clone()).expect("valid URL");
    assert!(matches!(
        within(misdirected.fetch(Duration::ZERO)).await,
        Err(RelayError::Transport(_))
    ));
    let unreachable = RelayClient::new(
        "https://127.0.0.1:1",
        relay.id,
        relay.alpha.identity.clone(),
    )
    .expect("valid URL");
    assert!(matches!(
        within(unreachable.ping()).await,
        Err(RelayError::Transport(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoints_and_bad_delete_bodies_get_json_refusals() {
    let relay = Relay::start(Limits::default()).await;
    let a = &relay.alpha.identity;
    let headers = relay.sign(a, "GET", "/v2/anything", b"");
    assert_raw(
        relay.raw("GET", "/v2/anything", &headers, b"").await,
        404,
        "no such endpoint",
    );
    let body = b"not cbor";
    let headers = relay.sign(a, "POST", "/v1/mailbox/delete", body);
    assert_raw(
        relay
            .raw("POST", "/v1/mailbox/delete", &headers, body)
            .await,
        400,
        "body is malformed",
    );
    let too_many = wire::encode_delete(&DeleteRequest {
        upto: 0,
        ids: vec![1; parley_relay::limits::DELETE_IDS_MAX + 1],
    });
    let headers = relay.sign(a, "POST", "/v1/mailbox/delete", &too_many);
    assert_raw(
        relay
            .raw("POST", "/v1/mailbox/delete", &headers, &too_many)
            .await,
        413,
        "over the limit",
    );
    let headers = relay.sign(a, "GET", "/v1/mailbox?wait=1", b"");
    assert_raw(
        relay.raw("GET", "/v1/mailbox?wait=1", &headers, b"").await,
        400,
        "the parameters are wait_ms=<milliseconds>, ack=<id> and bytes_max=<bytes>, each at most once",
    );
    let headers = relay.sign(a, "GET", "/v1/mailbox?ack=1&ack=2", b"");
    assert_raw(
        relay
            .raw("GET", "/v1/mailbox?ack=1&ack=2", &headers, b"")
            .await,
        400,
        "each at most once",
    );
    let headers = relay.sign(a, "GET", "/v1/mailbox?ack=-1", b"");
    assert_raw(
        relay.raw("GET", "/v1/mailbox?ack=-1", &headers, b"").await,
        400,
        "not a decimal number",
    );
    let headers = relay.sign(a, "GET", "/v1/ping", b"x");
    assert_raw(
        relay.raw("GET", "/v1/ping", &headers, b"x").await,
        413,
        "over the limit of 0 bytes",
    );
    let mut headers = relay.sign(a, "GET", "/v1/ping", b"");
    headers.retain(|(name, _)| name != HEADER_NONCE);
    headers.push((HEADER_NONCE.to_owned(), "XYZ".to_owned()));
    assert_raw(
        relay.raw("GET", "/v1/ping", &headers, b"").await,
        401,
        "malformed header parley-nonce",
    );
}

/// Heartbeats reuse pooled connections; the relay closes idle ones after
/// `HEADER_READ_TIMEOUT_MS`, and the client never sends on a connection being closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_survive_idle_connections_being_closed() {
    let relay = Relay::start(Limits::default()).await;
    let alpha = relay.client(&relay.alpha);
    for pause_ms in [0, 4_900, 10_100] {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        within(alpha.ping())
            .await
            .expect("ping answers after an idle pause");
    }
}

/// Forwards each connection to `target`, passing at most `rate` bytes a second each way: a
/// slow link.
async fn throttled(target: SocketAddr, rate: usize) -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        rate: usize,
    ) {
        let mut buffer = vec![0u8; (rate / 20).max(1)];
        while let Ok(read @ 1..) = from.read(&mut buffer).await {
            if to.write_all(&buffer[..read]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis((read * 1000 / rate) as u64)).await;
        }
        let _ = to.shutdown().await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let (client_read, client_write) = client.into_split();
            let (upstream_read, upstream_write) = upstream.into_split();
            tokio::spawn(pump(client_read, upstream_write, rate));
            tokio::spawn(pump(upstream_read, client_write, rate));
        }
    });
    addr
}

/// A client of `relay` signing as `station`, through a link of `rate` bytes a second each way,
/// with a request timeout of `timeout`.
async fn over_slow_link(
    relay: &Relay,
    station: &Identity,
    rate: usize,
    timeout: Duration,
) -> RelayClient {
    let target: SocketAddr = (relay.server().url())
        .trim_start_matches("https://")
        .parse()
        .expect("the relay's address");
    let url = format!("https://{}", throttled(target, rate).await);
    RelayClient::new(&url, relay.id, station.clone())
        .expect("valid URL")
        .with_request_timeout(timeout)
}

/// The relay tasks of a station over `client` (polling every 100 ms): the sender of its frames
/// and its reports.
fn relay_task(
    client: RelayClient,
) -> (
    parley_channels::relay::task::RelaySender,
    tokio::sync::mpsc::Receiver<parley_channels::Report>,
) {
    use parley_channels::relay::task::{RelayTiming, start};
    let (inbound, reports) = parley_channels::Inbound::new(64, 1 << 20);
    let timing = RelayTiming {
        heartbeat_interval: Duration::from_secs(60),
        poll_wait: Duration::from_millis(100),
    };
    let handle = tokio::runtime::Handle::current();
    let via = parley_channels::Via::Relay(0);
    (start(&handle, via, client, timing, 64, inbound), reports)
}

/// A fetch answer larger than a slow downlink carries within the request timeout still
/// arrives: its body's deadline grows with each byte read, at the slowest rate an answer may
/// come (`ANSWER_RATE_MIN_BYTES_PER_SECOND`). An answer slower than that is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_answer_arrives_over_a_slow_downlink_and_a_trickle_is_cut_off() {
    use parley_channels::relay::ANSWER_RATE_MIN_BYTES_PER_SECOND;
    let relay = Relay::start(Limits::default()).await;
    let alpha = relay.client(&relay.alpha);
    let to = relay.bravo.id();
    let frames: Vec<Vec<u8>> = (0..16)
        .map(|less| frame_of_size(&relay.alpha.identity, &to, FRAME_SIZE_MAX_BYTES - less))
        .collect();
    for deposit in frames.chunks(8) {
        within(alpha.deposit(&to, &arcs(deposit)))
            .await
            .expect("stored");
    }
    let over = |rate, timeout| over_slow_link(&relay, &relay.bravo.identity, rate, timeout);
    // About 1 MiB at 16 times the slowest rate: some 4 s, four times the timeout.
    let rate = 16 * ANSWER_RATE_MIN_BYTES_PER_SECOND as usize;
    let timeout = Duration::from_secs(1);
    let slow = over(rate, timeout).await;
    let started = Instant::now();
    let fetched = within(slow.fetch(Duration::ZERO))
        .await
        .expect("the whole answer arrives");
    assert!(started.elapsed() > 2 * timeout, "{:?}", started.elapsed());
    assert_eq!(fetched.len(), frames.len());
    assert!(
        fetched
            .iter()
            .zip(&frames)
            .all(|(got, sent)| got.frame == *sent)
    );
    // At half the slowest rate the head (in a TLS record of up to 16 KiB: some 2 s) arrives
    // in time, and the body is cut off once its deadline, growing half as fast as time
    // passes, is reached: at about twice the timeout.
    let timeout = Duration::from_secs(5);
    let trickle = over(ANSWER_RATE_MIN_BYTES_PER_SECOND as usize / 2, timeout).await;
    let started = Instant::now();
    match within(trickle.fetch(Duration::ZERO)).await {
        Err(RelayError::Stalled { read_bytes, .. }) => assert!(read_bytes > 0),
        other => panic!("a trickle is cut off, not {other:?}"),
    }
    let took = started.elapsed();
    assert!(took > timeout && took < 3 * timeout, "{took:?}");
}

/// Over a downlink too slow for a whole answer to arrive in time, the station's fetches ask
/// for smaller answers (`bytes_max`) and the mailbox drains, in order; without that the same
/// answer was asked for and cut off again and again, and nothing came through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_drains_over_a_downlink_too_slow_for_whole_answers() {
    use parley_channels::Report;
    use parley_channels::relay::ANSWER_RATE_MIN_BYTES_PER_SECOND;
    let relay = Relay::start(Limits::default()).await;
    let to = relay.bravo.id();
    let frames: Vec<Vec<u8>> = (0..16)
        .map(|less| frame_of_size(&relay.alpha.identity, &to, 4_096 - less))
        .collect();
    within(relay.client(&relay.alpha).deposit(&to, &arcs(&frames)))
        .await
        .expect("stored");
    // At half the slowest rate an answer may come, with a request timeout of 3 s: the whole
    // answer (64 KiB, some 8 s) is cut off after about 6 s.
    let rate = ANSWER_RATE_MIN_BYTES_PER_SECOND as usize / 2;
    let timeout = Duration::from_secs(3);
    let slow = over_slow_link(&relay, &relay.bravo.identity, rate, timeout).await;
    let whole = within(slow.fetch(Duration::ZERO)).await;
    assert!(
        matches!(whole, Err(RelayError::Stalled { .. })),
        "{whole:?}"
    );
    let (_sender, mut reports) = relay_task(slow);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < frames.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, reports.recv()).await {
            Ok(Some(Report::Batch { frames, done, .. })) => {
                got.extend(frames);
                let _ = done.send(());
            }
            Ok(Some(_)) => {}
            other => panic!(
                "{} of {} frames came, then {other:?}",
                got.len(),
                frames.len()
            ),
        }
    }
    got.dedup();
    assert_eq!(got, frames, "every frame, once, in order");
}

/// Over an uplink too slow for a whole deposit's body to reach the relay in the time it
/// allows (`body_read_timeout_ms`), the station deposits less at once and every frame is
/// stored; without that, the same deposit was cut off again and again, then refused.
#[tokio::test(flavor = "current_thread")]
async fn frames_are_deposited_over_an_uplink_too_slow_for_whole_deposits() {
    use parley_channels::Report;
    use parley_channels::relay::REQUEST_TIMEOUT_MS;
    use parley_relay::limits::BODY_READ_RATE_MIN_BYTES_PER_SECOND;
    let relay = Relay::start(Limits::default()).await;
    let to = relay.bravo.id();
    // 40 frames of 4 KiB at a quarter of the slowest rate a relay allows: some 10 s for the
    // whole body, where the relay allows it 5 s and 2.5 s more for its size.
    let frames: Vec<Vec<u8>> = (0..40)
        .map(|less| frame_of_size(&relay.alpha.identity, &to, 4_096 - less))
        .collect();
    let rate = BODY_READ_RATE_MIN_BYTES_PER_SECOND as usize / 4;
    let timeout = Duration::from_millis(REQUEST_TIMEOUT_MS);
    let slow = over_slow_link(&relay, &relay.alpha.identity, rate, timeout).await;
    let (sender, mut reports) = relay_task(slow);
    // Queued before the task first runs (one thread): one batch of 40.
    for frame in &frames {
        assert!(sender.try_send(to, frame.clone().into()));
    }
    let mut stored = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored < frames.len() as u64 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, reports.recv()).await {
            Ok(Some(Report::Stored { envelopes, .. })) => stored += envelopes,
            Ok(Some(Report::DepositRefused { reason, .. })) => panic!("refused: {reason}"),
            Ok(Some(_)) => {}
            other => panic!("{stored} of {} frames stored, then {other:?}", frames.len()),
        }
    }
    let held = within(relay.client(&relay.bravo).fetch(Duration::ZERO))
        .await
        .expect("fetches");
    let held: Vec<Vec<u8>> = held.into_iter().map(|item| item.frame).collect();
    assert_eq!(held, frames, "every frame, once, in order");
}

/// A recipient's frames cut into several deposits (`DEPOSIT_BATCH_SIZE_MAX_BYTES`) go in
/// order, and once one is refused the later ones wait for the station's resend: none is
/// stored ahead of the frames refused.
#[tokio::test(flavor = "current_thread")]
async fn after_a_refused_deposit_the_recipient_s_later_frames_wait() {
    use parley_channels::relay::task::{RelayTiming, start};
    use parley_channels::{Inbound, Report, Via};
    // Bravo's mailbox holds 1 MB: of 30 frames of about the largest size, the first deposit
    // (25 of them, some 1.6 MB) is refused, and the second (5, some 0.33 MB) would fit.
    let relay = Relay::start(Limits {
        mailbox_size_max_bytes: 1_000_000,
        mailbox_share_percent: 100,
        ..Limits::default()
    })
    .await;
    relay.introduce(&relay.alpha, &relay.bravo).await;
    let to = relay.bravo.id();
    let frames: Vec<Vec<u8>> = (0..30)
        .map(|less| frame_of_size(&relay.alpha.identity, &to, FRAME_SIZE_MAX_BYTES - less))
        .collect();
    let (inbound, mut reports) = Inbound::new(64, 1 << 20);
    let timing = RelayTiming {
        heartbeat_interval: Duration::from_secs(60),
        poll_wait: Duration::from_millis(100),
    };
    let handle = tokio::runtime::Handle::current();
    let client = relay.client(&relay.alpha);
    let sender = start(&handle, Via::Relay(0), client, timing, 64, inbound);
    // Queued before the task first runs (one thread): one batch of 30.
    for frame in &frames {
        assert!(sender.try_send(to, frame.clone().into()));
    }
    let mut outcomes = Vec::new();
    let quiet = Duration::from_secs(2);
    while let Ok(Some(report)) = tokio::time::timeout(quiet, reports.recv()).await {
        match report {
            Report::Stored { envelopes, .. } => outcomes.push(Some(envelopes)),
            Report::DepositRefused { reason, .. } => {
                assert!(reason.contains("507"), "{reason}");
                outcomes.push(None);
            }
            _ => {}
        }
    }
    assert_eq!(
        outcomes,
        vec![None],
        "refused, and nothing deposited after it"
    );
    assert_eq!(relay.snapshot().1.items, 0);
}
