//! The relay's metrics over real HTTP: valid Prometheus text whose deposit counters, bytes
//! held and request latencies move as stations deposit, fetch and delete; a metrics address
//! in use refuses the start.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Relay, arcs, frame, scrape, within};
use parley_relay::{Limits, RelayServer, ServeError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposits_move_the_counters_and_the_bytes_held() {
    let mut relay = Relay::start(Limits::default()).await;
    let metrics = relay.restart_with_metrics().await;
    let before = scrape(metrics).await;
    assert_eq!(
        before.value("parley_relay_deposits_stored_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        before.value("parley_relay_stations", &[("state", "admitted")]),
        Some(2.0)
    );
    assert_eq!(before.value("parley_relay_held_bytes", &[]), Some(0.0));

    let (alpha, bravo) = (relay.client(&relay.alpha), relay.client(&relay.bravo));
    let sent = vec![
        frame(&relay.alpha.identity, &relay.bravo.id(), 1),
        frame(&relay.alpha.identity, &relay.bravo.id(), 2),
    ];
    let bytes: usize = sent.iter().map(Vec::len).sum();
    within(alpha.deposit(&relay.bravo.id(), &arcs(&sent)))
        .await
        .expect("deposit is stored");
    // A frame for Alpha's mailbox signed by Alpha, deposited by Bravo: refused.
    let forged = frame(&relay.alpha.identity, &relay.alpha.id(), 1);
    let refused = within(bravo.deposit(&relay.alpha.id(), &arcs(&[forged]))).await;
    assert!(refused.is_err(), "{refused:?}");

    let after = scrape(metrics).await;
    assert_eq!(
        after.value("parley_relay_deposits_stored_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        after.value("parley_relay_frames_stored_total", &[]),
        Some(2.0)
    );
    let refused = [("reason", "frames_refused")];
    assert_eq!(
        after.value("parley_relay_deposits_refused_total", &refused),
        Some(1.0)
    );
    assert_eq!(after.value("parley_relay_mailboxes", &[]), Some(1.0));
    assert_eq!(after.value("parley_relay_held_frames", &[]), Some(2.0));
    assert_eq!(
        after.value("parley_relay_held_bytes", &[]),
        Some(bytes as f64)
    );
    let deposits = [("endpoint", "deposit")];
    let count = "parley_relay_request_duration_seconds_count";
    assert_eq!(after.value(count, &deposits), Some(2.0));

    // Fetched and deleted: nothing held, and the fetch and delete were timed.
    let fetched = within(bravo.fetch(Duration::ZERO)).await.expect("fetches");
    let ids: Vec<u64> = fetched.iter().map(|item| item.id).collect();
    within(bravo.delete(&ids)).await.expect("deletes");
    let emptied = scrape(metrics).await;
    assert_eq!(emptied.value("parley_relay_held_bytes", &[]), Some(0.0));
    assert_eq!(emptied.value("parley_relay_mailboxes", &[]), Some(0.0));
    for endpoint in ["fetch", "delete"] {
        assert_eq!(
            emptied.value(count, &[("endpoint", endpoint)]),
            Some(1.0),
            "{endpoint}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_address_in_use_refuses_the_start() {
    let mut relay = Relay::start(Limits::default()).await;
    let metrics = relay.restart_with_metrics().await;
    let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
    let refused = RelayServer::start_with_metrics(&relay.home, localhost, Some(metrics)).await;
    match refused {
        Err(error @ ServeError::Metrics(_)) => {
            let message = error.to_string();
            assert!(message.contains(&metrics.to_string()), "{message}");
            assert!(message.contains("in use"), "{message}");
        }
        other => panic!("expected a metrics bind error, got {other:?}"),
    }
}
