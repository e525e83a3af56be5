//! `parley bench --json` runs end to end and reports its floor beside its figures. (What the
//! figures are is measured by running it, not asserted here.)

use std::process::{Command, Output};

use serde_json::Value;

/// `parley` with `args`, run to its end.
fn parley(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .output()
        .expect("runs")
}

/// The report of `parley bench` with `args` (`--json` added), which must succeed.
fn report(args: &[&str]) -> Value {
    let output = parley(&[args, &["--json"]].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn the_bench_reports_its_figures_and_the_floor_measured_beside_them() {
    let report = report(&["bench", "--messages", "50", "--latency-messages", "20"]);
    assert_eq!(report["latency"]["messages"], 20);
    assert_eq!(report["throughput"]["messages"], 50);
    let cpu = &report["throughput"]["cpu"];
    let part = |name: &str| cpu[name].as_f64().unwrap_or(-1.0);
    for name in [
        "total_us",
        "storage_us",
        "network_us",
        "crypto_us",
        "other_us",
    ] {
        assert!(part(name) >= 0.0, "{name}: {cpu}");
    }
    assert!(part("total_us") > 0.0 && part("storage_us") > 0.0, "{cpu}");
    // How many arrive together, to be checked as a batch, is the run's timing.
    for name in ["envelopes_batched_share", "entries_batched_share"] {
        let share = cpu[name].as_f64().expect("a share");
        assert!((0.0..=1.0).contains(&share), "{name}: {cpu}");
    }
    let floor = &report["floor"];
    for spread in ["fsync", "loopback_round_trip"] {
        assert!(floor[spread]["p50_us"].as_f64() > Some(0.0), "{floor}");
        assert!(floor[spread]["p99_us"].as_f64() >= floor[spread]["p50_us"].as_f64());
    }
    let ops: Vec<&str> = floor["crypto"]
        .as_array()
        .expect("crypto")
        .iter()
        .filter_map(|op| op["op"].as_str())
        .collect();
    for op in [
        "sign",
        "verify",
        "seal",
        "open",
        "Ed25519 batch verify per signature",
        "Merkle leaf hashed and added to a log's tree",
        "checkpoint at the default cadence (signed, checked, cosigned, the cosignature and a witness's checked), per entry",
    ] {
        assert!(ops.contains(&op), "{ops:?}");
    }
    let floor_us = floor["floor_us"].as_f64().expect("floor");
    let p50_us = report["latency"]["p50_us"].as_f64().expect("p50");
    let ratio = report["latency"]["p50_over_floor"].as_f64().expect("ratio");
    assert!(floor_us > 0.0);
    assert!(
        (ratio - p50_us / floor_us).abs() < 1e-6,
        "{ratio} vs {p50_us} / {floor_us}"
    );
}

#[test]
fn the_idle_bench_reports_each_process_and_the_traffic() {
    let report = report(&["bench", "idle", "--seconds", "1"]);
    assert!(report["seconds"].as_f64() >= Some(1.0), "{report}");
    assert_eq!(
        report["channels"],
        serde_json::json!(["direct", "relay", "courier"])
    );
    let processes = report["processes"].as_array().expect("processes");
    let names: Vec<&str> = processes
        .iter()
        .filter_map(|p| p["process"].as_str())
        .collect();
    assert_eq!(names, ["Alpha", "Bravo", "relay"]);
    for process in processes {
        assert!(process["cpu_percent"].as_f64() >= Some(0.0), "{process}");
        assert!(process["rss_mib"].as_f64() > Some(0.0), "{process}");
        assert!(process["peak_rss_mib"].as_f64() >= process["rss_mib"].as_f64());
    }
    assert!(
        report["loopback_bytes_per_hour"].as_f64() > Some(0.0),
        "{report}"
    );
    assert!(
        report["stations_within_objective"].is_null(),
        "no verdict from a second's ticks: {report}"
    );
    // The window's bounds, both sides.
    for (seconds, code) in [("0", 2), ("86401", 2)] {
        let refused = parley(&["bench", "idle", "--seconds", seconds]);
        assert_eq!(refused.status.code(), Some(code), "--seconds {seconds}");
    }
}

#[test]
fn a_relay_gone_dark_is_cut_and_the_direct_path_still_measured() {
    let report = report(&[
        "bench",
        "--channels",
        "direct,relay",
        "--blackhole",
        "relay",
        "--messages",
        "50",
        "--latency-messages",
        "20",
    ]);
    assert_eq!(report["relay_blackholed"], true);
    assert_eq!(report["direct_blackholed"], false);
    assert_eq!(report["throughput"]["messages"], 50);
    assert!(report["latency"]["p50_us"].as_u64() > Some(0), "{report}");
    // A cut relay needs the relay, and another channel to measure.
    for channels in ["direct", "relay"] {
        let refused = parley(&["bench", "--channels", channels, "--blackhole", "relay"]);
        assert!(!refused.status.success(), "--channels {channels}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("--blackhole relay needs"),
            "--channels {channels}"
        );
    }
}

/// `bench relay` runs a relay process and its stations end to end: every deposit answered as
/// stored reaches its recipient, and the relay's figures are read; a count of stations, a
/// window, a rate or a size outside its bounds is refused before anything runs.
#[test]
fn the_relay_bench_stores_and_delivers_every_deposit() {
    let report = report(&[
        "bench",
        "relay",
        "--stations",
        "3",
        "--seconds",
        "2",
        "--rate",
        "30",
        "--size",
        "100",
    ]);
    assert_eq!(report["stations"], 3);
    let deposits = report["deposits"].as_u64().expect("deposits");
    assert!(deposits >= 30, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["refused"], serde_json::json!({}), "{report}");
    assert_eq!(report["undelivered"], 0, "{report}");
    for spread in ["deposit_latency", "delivery_latency"] {
        let p50 = report[spread]["p50_us"].as_u64().expect("p50");
        assert!(
            p50 > 0 && report[spread]["p99_us"].as_u64() >= Some(p50),
            "{report}"
        );
    }
    let relay = &report["relay"];
    assert!(relay["cpu_percent"].as_f64() > Some(0.0), "{relay}");
    assert!(relay["rss_idle_mib"].as_f64() > Some(1.0), "{relay}");
    assert_eq!(report["objective_met"], Value::Null);

    for (flag, refused, accepted) in [
        ("--stations", "1", "2"),
        ("--stations", "2001", "2000"),
        ("--seconds", "0", "1"),
        ("--seconds", "3601", "3600"),
        ("--rate", "0", "1"),
        ("--rate", "1000001", "1000000"),
        ("--size", "0", "1"),
        ("--size", "16385", "16384"),
    ] {
        let output = parley(&["bench", "relay", flag, refused]);
        assert_eq!(output.status.code(), Some(2), "{flag} {refused}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{flag} {refused}: {stderr}");
        // The bound itself is accepted (checked without running: --help after it).
        let output = parley(&["bench", "relay", flag, accepted, "--help"]);
        assert!(output.status.success(), "{flag} {accepted}");
    }
}
