//! Shared by the watch's tests: short objectives, scheduled tests, alarms as `alarms --json`
//! lists them, the outbox row of one message, and a running daemon's events as `parley watch
//! --json` prints them.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parley_testkit::harness::{StationProcess, wait_until};
use serde_json::Value;

use super::exe;

/// Objectives short enough for a test, in seconds: receipt, understood.
pub const RECEIPT_S: u64 = 2;
pub const UNDERSTOOD_S: u64 = 4;
/// How long a test waits for something the watch does on its own.
pub const WATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Short FLASH objectives and a fast escalation on `station`.
pub fn short_objectives(station: &StationProcess) {
    station
        .configure(|config| {
            config.objectives.flash.receipt_s = RECEIPT_S;
            config.objectives.flash.understood_s = UNDERSTOOD_S;
            config.alarms.escalate_after_s = 2;
        })
        .expect("configure");
}

/// Has `station` test its link with `peer` every `every_s` seconds, answered by `answer`
/// within `answer_within_s`.
pub fn schedule_tests(
    station: &StationProcess,
    peer: &str,
    every_s: u64,
    answer: parley_proto::TestAnswer,
    answer_within_s: u64,
) {
    station
        .configure(|config| {
            config.tests = vec![parley_station::watch_config::TestConfig {
                peer: peer.into(),
                at: Vec::new(),
                every_s: Some(every_s),
                answer,
                answer_within_s,
            }];
        })
        .expect("configure");
}

/// The alarms of `station` (`all`: cleared ones too).
pub fn alarms(station: &StationProcess, all: bool) -> Vec<Value> {
    let args: &[&str] = if all {
        &["alarms", "--all"]
    } else {
        &["alarms"]
    };
    station
        .json(args)
        .expect("alarms")
        .as_array()
        .expect("array")
        .clone()
}

/// Waits until `station` has an alarm of `kind` matching `check`; returns it.
pub fn await_alarm(station: &StationProcess, kind: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut found = None;
    let seen = wait_until(WATCH_TIMEOUT, || {
        found = alarms(station, true)
            .into_iter()
            .find(|alarm| alarm["kind"] == kind && check(alarm));
        found.is_some()
    });
    assert!(
        seen,
        "{} has no {kind} alarm as expected: {:#?}",
        station.name,
        alarms(station, true)
    );
    found.expect("found")
}

/// `send PEER args…` on `station`; the new message's id.
pub fn send(station: &StationProcess, peer: &str, args: &[&str]) -> String {
    let mut all = vec!["send", peer];
    all.extend_from_slice(args);
    station.ok(&all).expect("send").trim().to_owned()
}

/// The outbox row of `id` on `station`.
pub fn outbox_item(station: &StationProcess, id: &str) -> Value {
    station
        .outbox()
        .expect("outbox")
        .into_iter()
        .find(|item| item["id"] == id)
        .expect("in the outbox")
}

/// `parley watch --json` following a running daemon: its events, one JSON object each, in
/// the order printed. Killed when dropped.
pub struct Events {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every event read so far.
    pub seen: Vec<Value>,
}

impl Events {
    /// Follows `station`'s daemon.
    pub fn follow(station: &StationProcess) -> Self {
        let mut child = Command::new(exe())
            .arg("--home")
            .arg(&station.home)
            .args(["watch", "--json"])
            .env_remove("PARLEY_HOME")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("parley watch");
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads events until one matches `check` (returning its index in `seen`), or `timeout`
    /// passes.
    pub fn until(&mut self, timeout: Duration, check: impl Fn(&Value) -> bool) -> Option<usize> {
        if let Some(index) = self.seen.iter().position(&check) {
            return Some(index);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            let event: Value = serde_json::from_str(&line).expect("one JSON event per line");
            self.seen.push(event);
            if check(self.seen.last().expect("pushed")) {
                return Some(self.seen.len() - 1);
            }
        }
    }

    /// As [`Events::until`], failing the test when no event matches within
    /// [`WATCH_TIMEOUT`].
    pub fn await_event(&mut self, what: &str, check: impl Fn(&Value) -> bool) -> usize {
        match self.until(WATCH_TIMEOUT, check) {
            Some(index) => index,
            None => panic!("no event {what} among {:#?}", self.seen),
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
