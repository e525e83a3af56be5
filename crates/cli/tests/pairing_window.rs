//! While only one side has pinned the other (the normal pairing window), the side that has
//! dials a peer that refuses it. It must back off, not flap: a few attempts and one log line
//! per change, and the channel comes up at once when the other side pins it too.

mod common;

use std::time::{Duration, Instant};

use common::{await_channel, exe};
use parley_testkit::harness::StationProcess;

/// How long the one-sided pairing lasts in the test.
const WINDOW: Duration = Duration::from_secs(4);
/// The most dial attempts that window may see: the backoff doubles from 100 ms, so about six;
/// a flapping dialler made thousands.
const ATTEMPTS_MAX: u64 = 15;

#[test]
fn a_refused_dialler_backs_off_and_connects_once_pinned() {
    let root = tempfile::tempdir().unwrap();
    let mut alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").unwrap();
    let mut bravo = StationProcess::init(exe(), root.path(), "Bravo", "en").unwrap();
    alpha.pin(&bravo, root.path()).unwrap();
    alpha.start().unwrap();
    bravo.start().unwrap();
    std::thread::sleep(WINDOW);
    let status = bravo.json(&["status"]).unwrap();
    let refused = status["rejected"]["handshakes"].as_u64().unwrap();
    let log = std::fs::read_to_string(alpha.home.join("daemon-1.log")).unwrap();
    let failures = log.matches("cannot reach the peer").count();
    eprintln!("{refused} handshakes refused in {WINDOW:?}; {failures} failure log lines");
    assert!(refused >= 1, "Alpha tried");
    assert!(
        refused <= ATTEMPTS_MAX,
        "{refused} attempts in {WINDOW:?}: no backoff"
    );
    assert!(
        failures <= 3,
        "one line per change of reason, not per attempt: {failures}"
    );

    let started = Instant::now();
    bravo.pin(&alpha, root.path()).unwrap();
    await_channel(&alpha, "Bravo", "direct", "up");
    await_channel(&bravo, "Alpha", "direct", "up");
    eprintln!(
        "both directions up {:?} after the second pinning",
        started.elapsed()
    );
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}
