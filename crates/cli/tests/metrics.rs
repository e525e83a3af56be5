//! Metrics with real processes: two stations and a relay, each serving `/metrics` over real
//! HTTP. The text parses as valid Prometheus text, and the message, frame and latency
//! counters of the stations and the relay's deposit counters move when messages flow. A
//! metrics port in use refuses `parley run`.

mod common;

use std::time::Duration;

use common::console::{free_address, http, scrape, serve_metrics};
use common::{exe, paired};
use parley_metrics::text::Exposition;
use parley_station::home::MetricsConfig;
use parley_testkit::harness::{RelayProcess, StationProcess, wait_until};

/// How long a test waits for traffic to show in the metrics.
const FLOW_TIMEOUT: Duration = Duration::from_secs(60);

fn messages(metrics: &Exposition, direction: &str) -> f64 {
    metrics.sum("parley_station_messages", &[("direction", direction)])
}

fn flash(metrics: &Exposition, name: &str) -> f64 {
    metrics.sum(name, &[("precedence", "flash")])
}

#[test]
fn metrics_of_two_stations_and_a_relay_move_when_messages_flow() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    let mut relay = RelayProcess::init(exe(), root.path(), "Relay").expect("init relay");
    relay.metrics = Some(free_address());
    for station in [&alpha, &bravo] {
        relay.admit(station, root.path()).expect("admit");
        station.fast_heartbeats().expect("configure");
    }
    alpha
        .add_relay("Bravo", &relay, root.path())
        .expect("relay");
    bravo
        .add_relay("Alpha", &relay, root.path())
        .expect("relay");
    let (alpha_metrics, bravo_metrics) = (serve_metrics(&alpha), serve_metrics(&bravo));
    relay.start().expect("relay starts");
    alpha.start().expect("Alpha starts");
    bravo.start().expect("Bravo starts");
    let relay_metrics = relay.metrics.expect("set above");

    // Only GET /metrics is served.
    assert_eq!(http(alpha_metrics, "GET", "/", None, "").status, 404);
    assert_eq!(
        http(alpha_metrics, "POST", "/metrics", None, "").status,
        405
    );
    assert_eq!(
        http(relay_metrics, "GET", "/v1/health", None, "").status,
        404
    );

    let up = wait_until(FLOW_TIMEOUT, || {
        [(&alpha, "Bravo"), (&bravo, "Alpha")]
            .iter()
            .all(|(station, peer)| {
                ["direct", "relay"]
                    .iter()
                    .all(|kind| station.channel_state(peer, kind).as_deref() == Some("up"))
            })
    });
    assert!(up, "every channel comes up");
    let before = scrape(alpha_metrics);
    assert_eq!(messages(&before, "sent"), 0.0);
    assert_eq!(
        flash(&before, "parley_station_receipt_latency_seconds_count"),
        0.0
    );
    let state = [("peer", "Bravo"), ("channel", "direct"), ("state", "up")];
    assert_eq!(
        before.value("parley_station_channel_state", &state),
        Some(1.0)
    );
    let relay_before = scrape(relay_metrics);
    let deposits_before = relay_before
        .value("parley_relay_deposits_stored_total", &[])
        .expect("the deposit counter");

    let first = alpha
        .ok(&[
            "send",
            "Bravo",
            "--precedence",
            "flash",
            "hold fire at the ridge",
        ])
        .expect("send");
    alpha
        .ok(&["send", "Bravo", "--precedence", "flash", "and at the river"])
        .expect("send");
    bravo
        .ok(&[
            "send",
            "Alpha",
            "--precedence",
            "routine",
            "understood, holding",
        ])
        .expect("send");
    // Bravo's operator answers the first; Alpha sees the receipts and the answer.
    let stored = wait_until(FLOW_TIMEOUT, || {
        let metrics = scrape(bravo_metrics);
        messages(&metrics, "received") == 2.0
    });
    assert!(stored, "Bravo holds both of Alpha's messages");
    bravo
        .ok(&["understood", first.trim(), "--operator", "Ana"])
        .expect("understood");
    let flowed = wait_until(FLOW_TIMEOUT, || {
        let metrics = scrape(alpha_metrics);
        flash(&metrics, "parley_station_receipt_latency_seconds_count") == 2.0
            && flash(&metrics, "parley_station_understood_latency_seconds_count") == 1.0
    });
    let after = scrape(alpha_metrics);
    assert!(
        flowed,
        "Alpha's latencies count the receipts and the answer"
    );
    let sent = |state: &str| {
        let labels = [
            ("direction", "sent"),
            ("precedence", "flash"),
            ("state", state),
        ];
        after.value("parley_station_messages", &labels)
    };
    assert_eq!(
        (sent("understood"), sent("delivered")),
        (Some(1.0), Some(1.0))
    );
    let received = [
        ("direction", "received"),
        ("precedence", "routine"),
        ("state", "unanswered"),
    ];
    let routine_waiting = wait_until(FLOW_TIMEOUT, || {
        scrape(alpha_metrics).value("parley_station_messages", &received) == Some(1.0)
    });
    assert!(routine_waiting, "Bravo's message awaits Alpha's answer");
    let bravo_peer = [("peer", "Bravo")];
    let frames =
        |metrics: &Exposition| metrics.sum("parley_station_channel_frames_sent_total", &bravo_peer);
    assert!(frames(&after) > frames(&before), "frames went out");
    assert!(after.value("parley_station_frames_transmitted_total", &bravo_peer) > Some(0.0));
    assert!(flash(&after, "parley_station_receipt_latency_seconds_sum") > 0.0);
    assert!(
        after
            .value("parley_station_outbox_depth", &bravo_peer)
            .is_some()
    );

    // The relay carried deposits (both stations send on every channel that is up).
    let deposited = wait_until(FLOW_TIMEOUT, || {
        scrape(relay_metrics)
            .value("parley_relay_deposits_stored_total", &[])
            .is_some_and(|deposits| deposits > deposits_before)
    });
    assert!(deposited, "the relay's deposit counter moves");
    let relay_after = scrape(relay_metrics);
    let deposit_requests = relay_after.value(
        "parley_relay_request_duration_seconds_count",
        &[("endpoint", "deposit")],
    );
    assert!(deposit_requests > Some(0.0), "deposits were timed");
    assert_eq!(
        relay_after.value("parley_relay_stations", &[("state", "admitted")]),
        Some(2.0)
    );
    let stored_at_relay =
        scrape(alpha_metrics).sum("parley_station_relay_frames_stored_total", &bravo_peer);
    assert!(
        stored_at_relay > 0.0,
        "Alpha saw the relay store its frames"
    );
}

#[test]
fn a_metrics_port_in_use_refuses_run() {
    let root = tempfile::tempdir().unwrap();
    let station = StationProcess::init(exe(), root.path(), "Charlie", "en").expect("init");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = taken.local_addr().expect("address");
    station
        .configure(|config| {
            config.metrics = Some(MetricsConfig {
                listen: address.to_string(),
            });
        })
        .expect("configure");
    let output = station.cli(&["run"]).expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen for metrics on {address}")),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was started"), "{stderr}");
    // A bad address is refused too, naming the key.
    station
        .configure(|config| {
            config.metrics = Some(MetricsConfig {
                listen: "metrics.example:9464".into(),
            });
        })
        .expect("configure");
    let output = station.cli(&["run"]).expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("metrics.listen = \"metrics.example:9464\" is not IP:PORT"),
        "{stderr}"
    );
    drop(taken);
}
