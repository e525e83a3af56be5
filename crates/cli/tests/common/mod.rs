//! Shared setup for the integration tests: two real stations, paired.
#![allow(dead_code)]

pub mod console;
pub mod watch;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use parley_testkit::harness::{RelayProcess, StationProcess, wait_until};
use parley_testkit::proxy::UdpProxy;

/// Longest a test waits for all messages to be receipted, in seconds.
pub const DELIVERY_TIMEOUT_S: u64 = 120;

pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_parley"))
}

/// Makes a FIFO at `path`: a file that would block whoever opens it to read.
pub fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
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

/// Two paired stations whose direct channels each go through a UDP proxy that can cut them,
/// a relay both are admitted to and both use, and fast heartbeats. Nothing is started.
pub struct Net {
    pub alpha: StationProcess,
    pub bravo: StationProcess,
    pub relay: RelayProcess,
    /// Carries Bravo → Alpha direct traffic.
    pub to_alpha: UdpProxy,
    /// Carries Alpha → Bravo direct traffic.
    pub to_bravo: UdpProxy,
}

impl Net {
    pub fn new(root: &Path) -> Self {
        let alpha = StationProcess::init(exe(), root, "Alpha", "en").expect("init Alpha");
        let bravo = StationProcess::init(exe(), root, "Bravo", "fr").expect("init Bravo");
        let to_alpha = UdpProxy::start(alpha.listen).expect("proxy to Alpha");
        let to_bravo = UdpProxy::start(bravo.listen).expect("proxy to Bravo");
        alpha
            .pin_at(&bravo, &to_bravo.addr().to_string(), root)
            .expect("Alpha pins Bravo");
        bravo
            .pin_at(&alpha, &to_alpha.addr().to_string(), root)
            .expect("Bravo pins Alpha");
        let relay = RelayProcess::init(exe(), root, "Relay").expect("init relay");
        for station in [&alpha, &bravo] {
            relay.admit(station, root).expect("admit");
            station.fast_heartbeats().expect("configure");
        }
        alpha
            .add_relay("Bravo", &relay, root)
            .expect("Alpha adds the relay");
        bravo
            .add_relay("Alpha", &relay, root)
            .expect("Bravo adds the relay");
        Net {
            alpha,
            bravo,
            relay,
            to_alpha,
            to_bravo,
        }
    }

    /// Cuts (or restores) the direct path both ways.
    pub fn cut_direct(&self, cut: bool) {
        self.to_alpha.set_blackhole(cut);
        self.to_bravo.set_blackhole(cut);
    }

    pub fn start_all(&mut self) {
        self.relay.start().expect("start relay");
        self.alpha.start().expect("start Alpha");
        self.bravo.start().expect("start Bravo");
    }
}

/// Waits until `station`'s `kind` channel to `peer` is in `state`.
pub fn await_channel(station: &StationProcess, peer: &str, kind: &str, state: &str) {
    let reached = wait_until(Duration::from_secs(30), || {
        station.channel_state(peer, kind).as_deref() == Some(state)
    });
    assert!(
        reached,
        "{}'s {kind} channel to {peer} is {:?}, not {state}",
        station.name,
        station.channel_state(peer, kind)
    );
}

/// Sends `texts` from `from` to `to` (peer name).
pub fn send_all(from: &StationProcess, to: &str, texts: &[String]) {
    for text in texts {
        from.ok(&["send", to, text]).expect("send");
    }
}

/// `count` texts with a prefix.
pub fn texts(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix} {i:04}")).collect()
}

/// Waits until `station` has received exactly `expected` from `from`, in order.
pub fn await_inbox(station: &StationProcess, from: &str, expected: &[String]) {
    let done = wait_until(Duration::from_secs(DELIVERY_TIMEOUT_S), || {
        inbox_texts(station, from).len() >= expected.len()
    });
    assert!(done, "{} did not receive everything", station.name);
    assert_eq!(
        inbox_texts(station, from),
        expected,
        "exactly once, in order"
    );
}

/// A counter of `station`'s `kind` channel to its first peer, from live status.
pub fn channel_counter(station: &StationProcess, kind: &str, counter: &str) -> u64 {
    station
        .json(&["status"])
        .ok()
        .and_then(|s| {
            s["peers"][0]["channels"]
                .as_array()?
                .iter()
                .find(|c| c["kind"] == kind)
                .and_then(|c| c["counters"][counter].as_u64())
        })
        .unwrap_or(0)
}

/// Two paired stations whose direct addresses lead nowhere (a port nothing listens on), so
/// only the channels a test adds carry traffic.
pub fn paired_without_direct(root: &Path) -> (StationProcess, StationProcess) {
    let alpha = StationProcess::init(exe(), root, "Alpha", "en").expect("init Alpha");
    let bravo = StationProcess::init(exe(), root, "Bravo", "fr").expect("init Bravo");
    let nowhere = format!(
        "127.0.0.1:{}",
        parley_testkit::harness::free_udp_port().expect("port")
    );
    alpha
        .pin_at(&bravo, &nowhere, root)
        .expect("Alpha pins Bravo");
    bravo
        .pin_at(&alpha, &nowhere, root)
        .expect("Bravo pins Alpha");
    (alpha, bravo)
}

/// Waits until `station` has handed at least `envelopes` envelopes and `receipts` receipts to
/// its relay channel and the relay has confirmed storing every frame handed to it.
pub fn await_relay_caught_up(station: &StationProcess, envelopes: u64, receipts: u64) {
    let caught_up = wait_until(Duration::from_secs(30), || {
        let count = |counter| channel_counter(station, "relay", counter);
        let (envelopes_sent, receipts_sent) = (count("envelopes_sent"), count("receipts_sent"));
        envelopes_sent >= envelopes
            && receipts_sent >= receipts
            && count("envelopes_stored_at_relay") >= envelopes_sent
            && count("receipts_stored_at_relay") >= receipts_sent
    });
    assert!(
        caught_up,
        "{}'s relay did not confirm storing what it was handed",
        station.name
    );
}

/// A card's text with one base64 character of its body changed: it no longer verifies under
/// the key it names.
pub fn forged_card_text(text: &str) -> String {
    let line = text.lines().nth(3).expect("a body line");
    let altered: String = line
        .chars()
        .enumerate()
        .map(|(i, c)| match (i, c) {
            (40, 'Q') => 'R',
            (40, _) => 'Q',
            _ => c,
        })
        .collect();
    text.replace(line, &altered)
}

/// Alpha proposes the example codebook (examples/codebook.toml) to Bravo; Bravo's operator
/// Boris accepts it; returns once Alpha holds it as current. Its hash.
pub fn agree_example_codebook(alpha: &StationProcess, bravo: &StationProcess) -> String {
    const SEEN_TIMEOUT: Duration = Duration::from_secs(30);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/codebook.toml");
    let out = alpha
        .ok(&[
            "codebook",
            "propose",
            "Bravo",
            file.to_str().expect("UTF-8"),
        ])
        .expect("propose");
    let hash = out.trim().rsplit(' ').next().expect("hash").to_owned();
    assert_eq!(hash.len(), 64, "{out}");
    let proposed = wait_until(SEEN_TIMEOUT, || {
        bravo
            .json(&["codebook", "show", "Alpha"])
            .is_ok_and(|report| report.to_string().contains(&hash))
    });
    assert!(proposed, "Bravo never saw the proposal {hash}");
    bravo
        .ok(&["codebook", "accept", "Alpha", &hash, "--operator", "Boris"])
        .expect("accept");
    let agreed = wait_until(SEEN_TIMEOUT, || {
        alpha
            .json(&["codebook", "show", "Bravo"])
            .is_ok_and(|report| report["current"] == hash.as_str())
    });
    assert!(agreed, "Alpha never saw Bravo accept {hash}");
    hash
}

/// A finished command's exit code, stdout and stderr (lossy UTF-8).
pub fn outcome(output: Output) -> (i32, String, String) {
    (
        output.status.code().expect("exited"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `file` as a command-line argument.
pub fn path(file: &Path) -> &str {
    file.to_str().expect("UTF-8 path")
}
