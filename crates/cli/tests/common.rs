//! Shared setup for the integration tests: two real stations, paired.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use parley::harness::{StationProcess, wait_until};

/// Longest a test waits for all messages to be receipted, in seconds.
pub const DELIVERY_TIMEOUT_S: u64 = 120;

pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_parley"))
}

pub fn paired(root: &Path) -> (StationProcess, StationProcess) {
    let alpha = StationProcess::init(exe(), root, "Alpha", "en").expect("init Alpha");
    let bravo = StationProcess::init(exe(), root, "Bravo", "fr").expect("init Bravo");
    alpha.pin(&bravo, root).expect("Alpha pins Bravo");
    bravo.pin(&alpha, root).expect("Bravo pins Alpha");
    (alpha, bravo)
}

pub fn await_all_delivered(a: &StationProcess, b: &StationProcess) {
    let done = wait_until(Duration::from_secs(DELIVERY_TIMEOUT_S), || {
        a.all_delivered() && b.all_delivered()
    });
    assert!(
        done,
        "not everything was receipted within {DELIVERY_TIMEOUT_S} s"
    );
}

/// Texts of `inbox --json` from `from`, in the order shown.
pub fn inbox_texts(station: &StationProcess, from: &str) -> Vec<String> {
    station
        .inbox()
        .expect("inbox")
        .iter()
        .filter(|m| m["from"] == from)
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect()
}
