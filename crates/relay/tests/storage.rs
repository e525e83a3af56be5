//! What one station may have held at a relay, in every mailbox together, what the relay holds
//! as a whole, and the free space it keeps on its disk: each bounded on both sides, and a
//! refusal for them told to the depositor whatever its recipient (not a 202), since it says
//! nothing of the recipient.

mod common;

use common::{Relay, arcs, assert_refused, frame_of_size, within};
use parley_relay::Limits;
use parley_relay::limits::FRAME_SIZE_MAX_BYTES;

const LARGEST: u64 = FRAME_SIZE_MAX_BYTES as u64;

/// Frame bytes the relay holds, every mailbox together.
fn held(relay: &Relay) -> u64 {
    relay.store().totals().expect("reads").bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_station_s_frames_in_every_mailbox_are_bounded() {
    let relay = Relay::start(Limits {
        sender_size_max_bytes: 2 * LARGEST,
        ..Limits::default()
    })
    .await;
    let charlie = relay.admit("Charlie", 3);
    let alpha = relay.client(&relay.alpha);
    let a = &relay.alpha.identity;
    let (b, c) = (relay.bravo.id(), charlie.id());
    // Nobody has addressed Alpha: its deposits are answered 202 whatever happens to them,
    // but for what Alpha itself holds.
    within(alpha.deposit(&b, &arcs(&[frame_of_size(a, &b, FRAME_SIZE_MAX_BYTES)])))
        .await
        .expect("a mailbox");
    within(alpha.deposit(&c, &arcs(&[frame_of_size(a, &c, FRAME_SIZE_MAX_BYTES)])))
        .await
        .expect("exactly what one station may have held");
    assert_eq!(held(&relay), 2 * LARGEST);
    let one_more = arcs(&[frame_of_size(a, &c, 4_000)]);
    assert_refused(
        within(alpha.deposit(&c, &one_more)).await,
        507,
        &format!(
            "over the most one station may have held ({} bytes)",
            2 * LARGEST
        ),
    );
    assert_eq!(held(&relay), 2 * LARGEST, "a refusal stores nothing");
    // Another station is not held back by Alpha's frames.
    let bravo = relay.client(&relay.bravo);
    let to_alpha = frame_of_size(&relay.bravo.identity, &relay.alpha.id(), 4_000);
    within(bravo.deposit(&relay.alpha.id(), &arcs(&[to_alpha])))
        .await
        .expect("Bravo's own");
    assert_eq!(held(&relay), 2 * LARGEST + 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_s_frames_are_bounded() {
    let relay = Relay::start(Limits {
        relay_size_max_bytes: LARGEST + 4_000,
        ..Limits::default()
    })
    .await;
    let (a, b) = (&relay.alpha, &relay.bravo);
    let alpha = relay.client(a);
    within(alpha.deposit(
        &b.id(),
        &arcs(&[frame_of_size(&a.identity, &b.id(), FRAME_SIZE_MAX_BYTES)]),
    ))
    .await
    .expect("a frame");
    let bravo = relay.client(b);
    within(bravo.deposit(
        &a.id(),
        &arcs(&[frame_of_size(&b.identity, &a.id(), 4_000)]),
    ))
    .await
    .expect("exactly what the relay holds");
    assert_eq!(held(&relay), LARGEST + 4_000);
    assert_refused(
        within(bravo.deposit(
            &a.id(),
            &arcs(&[frame_of_size(&b.identity, &a.id(), 4_001)]),
        ))
        .await,
        507,
        &format!(
            "the relay holds as many frame bytes as it may ({})",
            LARGEST + 4_000
        ),
    );
    assert_eq!(held(&relay), LARGEST + 4_000, "a refusal stores nothing");
}

/// A reserve larger than any disk refuses every deposit of a new frame, with a reason, while
/// fetches and deletes go on; the bound's other side (a deposit leaving exactly the reserve)
/// is tested in the store, which is given the free space there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_that_would_leave_less_than_the_reserve_free_is_refused() {
    let relay = Relay::start(Limits {
        disk_free_min_bytes: i64::MAX as u64,
        ..Limits::default()
    })
    .await;
    let (a, b) = (&relay.alpha, &relay.bravo);
    let alpha = relay.client(a);
    assert_refused(
        within(alpha.deposit(
            &b.id(),
            &arcs(&[frame_of_size(&a.identity, &b.id(), 4_000)]),
        ))
        .await,
        507,
        "the relay's disk is nearly full",
    );
    assert_eq!(held(&relay), 0, "a refusal stores nothing");
    let fetched = within(relay.client(b).fetch(std::time::Duration::ZERO))
        .await
        .expect("fetches");
    assert!(fetched.is_empty());
}
