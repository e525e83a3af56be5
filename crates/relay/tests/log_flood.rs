//! Attack: junk requests, each refused, wrote one warning line each to the relay's log, so a
//! misbehaving admitted station or an unadmitted client could flood it. Now each kind of
//! warning is logged at most once per interval, and the others are counted into the next line
//! or a summary line. This test captures the relay's log (a process-wide subscriber, hence a
//! test binary of its own) during a flood of junk and counts the lines.

mod common;

use std::time::{Duration, Instant};

use common::{Captured, Relay, Station};
use parley_relay::Limits;
use parley_relay::limits::{WARNING_INTERVAL_MS, WARNING_SUMMARY_CHECK_MS};

/// The `suppressed=N` field of a log line.
fn suppressed(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("suppressed="))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no suppressed count in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_is_counted_not_logged_line_by_line() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let relay = Relay::start(Limits::default()).await;
    let started = Instant::now();
    let mut junk = 0u64;
    // Unsigned requests (401), each on a new connection.
    for _ in 0..200 {
        let (status, _) = relay.raw("GET", "/v1/ping", &Vec::new(), b"").await;
        assert_eq!(status, 401);
        junk += 1;
    }
    // Signed by a station never admitted (403).
    let stranger = Station::new("Stranger", 9);
    for _ in 0..200 {
        let headers = relay.sign(&stranger.identity, "GET", "/v1/ping", b"");
        let (status, _) = relay.raw("GET", "/v1/ping", &headers, b"").await;
        assert_eq!(status, 403);
        junk += 1;
    }
    // Malformed deposits by an admitted station (400), then over its rate (429).
    let target = format!("/v1/mailboxes/{}", relay.bravo.id());
    for _ in 0..150 {
        let headers = relay.sign(&relay.alpha.identity, "POST", &target, b"\x82\x01");
        let (status, _) = relay.raw("POST", &target, &headers, b"\x82\x01").await;
        assert!(matches!(status, 400 | 429), "{status}");
        junk += 1;
    }
    let flood = started.elapsed();
    let refused: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|line| line.contains("request refused"))
        .collect();
    eprintln!(
        "{junk} junk requests in {flood:?} wrote {} 'request refused' lines:\n{}",
        refused.len(),
        refused.join("\n")
    );
    // Four kinds (401, 403, 400, 429): at most one line each per interval.
    let intervals = flood.as_millis() as u64 / WARNING_INTERVAL_MS + 1;
    assert!(refused.len() as u64 <= 4 * intervals, "{}", refused.len());

    // Once the interval has passed, summary lines count what was not logged.
    let summaries_due = WARNING_INTERVAL_MS + WARNING_SUMMARY_CHECK_MS + 500;
    tokio::time::sleep(Duration::from_millis(summaries_due)).await;
    let summaries: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|line| line.contains("were not logged"))
        .collect();
    eprintln!(
        "then {} summary lines:\n{}",
        summaries.len(),
        summaries.join("\n")
    );
    let refused: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|line| line.contains("request refused"))
        .collect();
    let counted: u64 = refused.len() as u64
        + refused.iter().map(|line| suppressed(line)).sum::<u64>()
        + summaries.iter().map(|line| suppressed(line)).sum::<u64>();
    assert_eq!(counted, junk, "every refusal is counted once");
    // The relay still serves a genuine request.
    let answer = relay.raw("GET", "/v1/health", &Vec::new(), b"").await;
    assert_eq!(answer, (200, "ok".to_owned()));
}
