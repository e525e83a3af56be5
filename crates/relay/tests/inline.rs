//! A small request is checked on the async worker serving it, a larger one on the blocking
//! pool (`parley_relay::limits::INLINE_BODY_SIZE_MAX_BYTES`, `INLINE_FRAME_CHECKS_MAX`): a real
//! relay checks both alike, on each side of each bound. A frame whose signature fails refuses
//! the deposit whole, a body that is not the signed one or not a deposit is refused, and none
//! changes anything stored; the same deposits, untouched, are stored. Requests admitted at once
//! on both workers check admission on the reading connection when the other holds its own.

mod common;

use common::{Relay, arcs, assert_raw, assert_refused, frame, frame_of_size, tampered, within};
use parley_proto::{Identity, StationId};
use parley_relay::Limits;
use parley_relay::limits::{INLINE_BODY_SIZE_MAX_BYTES, INLINE_FRAME_CHECKS_MAX};
use parley_relay_wire::wire;
use tokio::task::JoinSet;

/// A frame whose deposit alone is a body of exactly `size` bytes.
fn frame_for_body(author: &Identity, to: &StationId, size: usize) -> Vec<u8> {
    let overhead = wire::encode_deposit(&[&frame_of_size(author, to, size)]).len() - size;
    let frame = frame_of_size(author, to, size - overhead);
    assert_eq!(wire::encode_deposit(&[&frame]).len(), size);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_are_verified_alike_on_either_side_of_the_inline_count() {
    let relay = Relay::start(Limits::default()).await;
    let alpha = relay.client(&relay.alpha);
    let (a, b) = (&relay.alpha.identity, relay.bravo.id());
    let mut seq = 0;
    for count in [INLINE_FRAME_CHECKS_MAX, INLINE_FRAME_CHECKS_MAX + 1] {
        let frames: Vec<Vec<u8>> = (0..count)
            .map(|_| {
                seq += 1;
                frame(a, &b, seq)
            })
            .collect();
        let last = count - 1;
        let mut bad = frames.clone();
        bad[last] = tampered(bad[last].clone());
        let before = relay.snapshot();
        assert_refused(
            within(alpha.deposit(&b, &arcs(&bad))).await,
            422,
            &format!("frame {last} refused: envelope: signature does not verify"),
        );
        assert_eq!(relay.snapshot().1, before.1, "{count} frames, one bad");
        within(alpha.deposit(&b, &arcs(&frames)))
            .await
            .expect("stored");
        assert_eq!(relay.snapshot().1.items, before.1.items + count as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_checked_alike_on_either_side_of_the_inline_size() {
    let relay = Relay::start(Limits::default()).await;
    let alpha = relay.client(&relay.alpha);
    let (a, b) = (&relay.alpha.identity, relay.bravo.id());
    let target = format!("/v1/mailboxes/{b}");
    for size in [INLINE_BODY_SIZE_MAX_BYTES, INLINE_BODY_SIZE_MAX_BYTES + 1] {
        let good = frame_for_body(a, &b, size);
        let before = relay.snapshot();
        // A body that is not the signed one, of the same length.
        let body = wire::encode_deposit(&[&good]);
        let headers = relay.sign(a, "POST", &target, &body);
        assert_raw(
            relay.raw("POST", &target, &headers, &tampered(body)).await,
            401,
            "does not match its parley-body-sha256 header",
        );
        // A body that is the signed one, but no deposit.
        let junk = vec![0xff; size];
        let headers = relay.sign(a, "POST", &target, &junk);
        assert_raw(
            relay.raw("POST", &target, &headers, &junk).await,
            400,
            "body is malformed",
        );
        assert_refused(
            within(alpha.deposit(&b, &arcs(&[tampered(good.clone())]))).await,
            422,
            "frame 0 refused: envelope: signature does not verify",
        );
        assert_eq!(relay.snapshot().1, before.1, "a body of {size} bytes");
        within(alpha.deposit(&b, &arcs(&[good])))
            .await
            .expect("stored");
        assert_eq!(relay.snapshot().1.items, before.1.items + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_admitted_at_once_are_all_admitted() {
    let relay = Relay::start(Limits::default()).await;
    let before = relay.snapshot();
    let mut pings = JoinSet::new();
    for station in [&relay.alpha, &relay.bravo] {
        for _ in 0..CONCURRENT_PINGS_PER_STATION {
            let client = relay.client(station);
            pings.spawn(async move { client.ping().await });
        }
    }
    let answered = within(pings.join_all()).await;
    assert!(answered.iter().all(Result::is_ok), "{answered:?}");
    // Each request's nonce is recorded once, whichever connection checked it.
    assert_eq!(
        relay.snapshot().2,
        before.2 + 2 * CONCURRENT_PINGS_PER_STATION as u64
    );
}

/// Pings each station sends at once: within its burst of requests.
const CONCURRENT_PINGS_PER_STATION: usize = 40;
