//! The operator API as scripts see it: the socket protocol (strict requests, classed errors, a
//! bounded number of connections), the event stream, and the JSON outputs whose fields scripts
//! depend on.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{await_all_delivered, exe, paired};
use parley_station::limits::API_ANSWER_WRITE_MS_MAX;
use parley_testkit::harness::{StationProcess, wait_until};
use serde_json::Value;

/// Most API connections a daemon serves at once (`API_CLIENTS_MAX`).
const API_CLIENTS_MAX: usize = 64;

fn token(station: &StationProcess) -> String {
    std::fs::read_to_string(station.home.join("api.token")).expect("token")
}

/// Sends raw request lines on one connection and returns the answers.
fn raw(station: &StationProcess, lines: &[String]) -> Vec<Value> {
    let stream = UnixStream::connect(station.home.join("api.sock")).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    lines
        .iter()
        .map(|line| {
            writer.write_all(line.as_bytes()).expect("writes");
            writer.write_all(b"\n").expect("writes");
            let mut answer = String::new();
            reader.read_line(&mut answer).expect("an answer");
            serde_json::from_str(&answer).expect("JSON")
        })
        .collect()
}

/// `parley watch --json` following `station`'s daemon, its output and errors piped.
fn watch_json(station: &StationProcess) -> std::process::Child {
    Command::new(exe())
        .arg("--home")
        .arg(&station.home)
        .args(["watch", "--json"])
        .env_remove("PARLEY_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits up to 20 s for `watch` to exit (then kills it): its exit code and what it wrote to
/// its standard error.
fn exit_of(watch: &mut std::process::Child) -> (Option<i32>, String) {
    let mut ended = None;
    let exited = wait_until(Duration::from_secs(20), || {
        ended = watch.try_wait().unwrap();
        ended.is_some()
    });
    if !exited {
        let _ = watch.kill();
    }
    let mut stderr = String::new();
    watch
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (ended.and_then(|status| status.code()), stderr)
}

/// Asserts `value` is an object holding every key of `keys`.
fn has_fields(value: &Value, keys: &[&str], what: &str) {
    for key in keys {
        assert!(value.get(key).is_some(), "{what} lacks {key}: {value:#}");
    }
}

#[test]
fn requests_are_strict_errors_are_classed_and_connections_are_bounded() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, _bravo) = paired(root.path());
    alpha.start().unwrap();
    let token = token(&alpha);
    let answers = raw(
        &alpha,
        &[
            format!(r#"{{"token":"{token}","op":"status","verbose":true}}"#),
            format!(r#"{{"token":"{token}","op":"courier_import","path":"relative.bundle"}}"#),
            r#"{"token":"wrong","op":"status"}"#.to_owned(),
            format!(
                r#"{{"token":"{token}","op":"send","peer":"Nobody","precedence":"flash","text":"x"}}"#
            ),
            format!(r#"{{"token":"{token}","op":"status"}}"#),
        ],
    );
    for (answer, expect) in answers.iter().zip([
        "unknown field `verbose`",
        "not an absolute path",
        "wrong API token",
        "unknown peer",
    ]) {
        assert_eq!(answer["ok"], false, "{answer}");
        assert_eq!(answer["class"], "operator", "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(expect),
            "{answer}"
        );
    }
    assert_eq!(answers[4]["ok"], true);
    assert_eq!(answers[4]["kind"], "status");
    assert_eq!(answers[4]["result"]["daemon"], "running");

    // Every connection the daemon serves at once is taken: one more is refused and counted.
    // (The daemon first sees the connection above close.)
    std::thread::sleep(Duration::from_millis(500));
    let held: Vec<UnixStream> = (0..API_CLIENTS_MAX)
        .map(|_| UnixStream::connect(alpha.home.join("api.sock")).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = UnixStream::connect(alpha.home.join("api.sock")).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    BufReader::new(refused).read_line(&mut answer).unwrap();
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["ok"], false);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("connections are open"),
        "{answer}"
    );
    // Connections that send nothing are closed once the daemon has waited long enough for
    // their request (`API_REQUEST_WAIT_MS_MAX`), each told why: the operators are not locked
    // out, though every one of them is still open on this side.
    let status = parley_testkit::harness::wait_until(Duration::from_secs(10), || {
        alpha
            .json(&["status"])
            .is_ok_and(|s| s["queues"]["api_clients_refused"].as_u64() >= Some(1))
    });
    assert!(status, "served again, and the refusal is counted");
    for stream in held {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).unwrap();
        assert!(answer.contains("no request within"), "{answer}");
    }

    // Subscribers that hang up free their places at once, though no event comes (Bravo is
    // not running): a quiet station is not locked out by watchers that went away.
    let subscribe = format!(r#"{{"token":"{token}","op":"subscribe"}}"#);
    let watchers: Vec<UnixStream> = (0..API_CLIENTS_MAX)
        .map(|_| {
            let mut stream = UnixStream::connect(alpha.home.join("api.sock")).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            writeln!(stream, "{subscribe}").unwrap();
            let mut answer = String::new();
            BufReader::new(stream.try_clone().unwrap())
                .read_line(&mut answer)
                .unwrap();
            assert!(answer.contains("subscribed"), "{answer}");
            stream
        })
        .collect();
    let refused_before = alpha.json(&["status"]);
    assert!(refused_before.is_err(), "every place is a watcher's");
    drop(watchers);
    let served = wait_until(Duration::from_secs(5), || {
        alpha
            .json(&["status"])
            .is_ok_and(|status| status["daemon"] == "running")
    });
    assert!(served, "served once the watchers left");
    alpha.stop().unwrap();
}

/// A client that sends requests and reads none of the answers is closed once one has waited
/// `API_ANSWER_WRITE_MS_MAX` to be taken: it does not hold its place for good.
#[test]
fn a_client_that_takes_no_answers_is_closed() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, _bravo) = paired(root.path());
    alpha.start().unwrap();
    let request = format!("{{\"token\":\"{}\",\"op\":\"status\"}}\n", token(&alpha));
    const SENT: usize = 1_000;
    let mut stream = UnixStream::connect(alpha.home.join("api.sock")).unwrap();
    // Far more answers than the socket's buffers hold; the requests themselves (60 KB) fit,
    // and if they did not, the write ends when the daemon closes.
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = stream.write_all(request.repeat(SENT).as_bytes());
    std::thread::sleep(Duration::from_millis(API_ANSWER_WRITE_MS_MAX + 3_000));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut taken = Vec::new();
    // Closed by the daemon: the end, or a reset (requests it did not read were left). Not
    // this side's read timeout.
    let ended = stream.read_to_end(&mut taken);
    let closed = match &ended {
        Ok(_) => true,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "closed by the daemon: {ended:?}");
    let answers = taken.split(|byte| *byte == b'\n').count();
    assert!(answers < SENT, "{answers} answers");
    alpha.stop().unwrap();
}

/// A subscriber that stops reading is closed once an event has waited
/// `API_ANSWER_WRITE_MS_MAX` to be taken: it does not hold its place for good. `watch` says
/// so (exit code 1), not that the daemon stopped.
#[test]
fn a_subscriber_that_stops_reading_is_closed() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    // Its output is not read (a paused terminal): once the pipe is full, `watch` reads no
    // more events.
    let mut watch = watch_json(&bravo);
    // Far more events (each message stored, then delivered) than the pipe and the socket's
    // buffers hold, one line written at a time.
    const SENT: usize = 3_000;
    let send = format!(
        r#"{{"token":"{}","op":"send","peer":"Bravo","precedence":"routine","text":"x"}}"#,
        token(&alpha)
    );
    let answers = raw(&alpha, &vec![send; SENT]);
    assert!(answers.iter().all(|answer| answer["ok"] == true));
    await_all_delivered(&alpha, &bravo);
    std::thread::sleep(Duration::from_millis(API_ANSWER_WRITE_MS_MAX + 3_000));
    // Read now: what was buffered, then the end, told as the daemon's.
    let mut taken = String::new();
    watch
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut taken)
        .unwrap();
    let (ended, stderr) = exit_of(&mut watch);
    assert_eq!(ended, Some(1), "{stderr}");
    assert!(
        stderr.contains("the daemon ended this subscription: an event was not taken within"),
        "{stderr}"
    );
    assert!(
        taken.lines().count() < 2 * SENT,
        "some events were not taken"
    );
    // Its place is free again, and the daemon still runs.
    assert_eq!(bravo.json(&["status"]).unwrap()["daemon"], "running");
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}

#[test]
fn watch_streams_events_once_they_are_durable() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    bravo.start().unwrap();
    let mut watch = watch_json(&bravo);
    let (lines, events) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    alpha.start().unwrap();
    let id = alpha
        .ok(&["send", "Bravo", "--precedence", "flash", "watched"])
        .unwrap();
    await_all_delivered(&alpha, &bravo);
    let mut seen = Vec::new();
    let mut stored = None;
    while let Ok(line) = events.recv_timeout(Duration::from_secs(20)) {
        let event: Value = serde_json::from_str(&line).expect("one JSON event per line");
        seen.push(event["event"].as_str().unwrap_or_default().to_owned());
        if event["event"] == "message_stored" {
            stored = Some(event);
            break;
        }
    }
    let stored = stored.unwrap_or_else(|| panic!("no message_stored among {seen:?}"));
    assert_eq!(stored["peer"], "Alpha");
    assert_eq!(stored["precedence"], "flash");
    assert_eq!(stored["id"], id.trim());
    assert!(seen.iter().any(|e| e == "channel_state"), "{seen:?}");
    // The daemon followed stops: `watch` says so and exits with the stopping code, 6.
    bravo.stop().unwrap();
    let (ended, stderr) = exit_of(&mut watch);
    assert_eq!(ended, Some(6), "{stderr}");
    assert!(
        stderr.contains("error: the daemon stopped; no more events"),
        "{stderr}"
    );
    // With no daemon there is nothing to watch: the daemon is unreachable (exit code 5).
    alpha.stop().unwrap();
    let none = bravo.cli(&["watch"]).unwrap();
    assert_eq!(none.status.code(), Some(5));
}

#[test]
fn json_outputs_keep_every_field_scripts_read() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    let station = ["name", "lang", "listen", "fingerprint"];
    let peer = [
        "name",
        "fingerprint",
        "channels",
        "out_seq",
        "outbox_depth",
        "peer_receipt_upto",
        "in_head",
        "in_pending",
    ];
    let stopped = alpha.json(&["status"]).unwrap();
    has_fields(
        &stopped,
        &["station", "daemon", "peers", "alarms"],
        "stopped status",
    );
    has_fields(&stopped["station"], &station, "station");
    has_fields(&stopped["peers"][0], &peer, "stopped peer");
    has_fields(
        &stopped["peers"][0]["channels"][0],
        &["kind", "target", "state"],
        "channel",
    );
    has_fields(
        &stopped["alarms"],
        &["total", "open", "acknowledged", "recent"],
        "alarms",
    );

    alpha.start().unwrap();
    bravo.start().unwrap();
    alpha.ok(&["send", "Bravo", "fields"]).unwrap();
    await_all_delivered(&alpha, &bravo);
    let live = alpha.json(&["status"]).unwrap();
    has_fields(
        &live,
        &[
            "station", "daemon", "now_ms", "uptime_s", "peers", "rejected", "queues", "alarms",
        ],
        "live status",
    );
    has_fields(&live["peers"][0], &peer, "live peer");
    has_fields(&live["peers"][0], &["intake_available_bytes"], "live peer");
    assert!(
        stopped["peers"][0].get("intake_available_bytes").is_none(),
        "it grows with time: a stopped station's status would change by the second"
    );
    has_fields(
        &live["peers"][0]["counters"],
        &[
            "envelopes_accepted",
            "duplicates_dropped",
            "receipts_accepted",
            "frames_transmitted",
            "retransmissions",
            "rejected",
            "alarms",
        ],
        "peer counters",
    );
    let channel = &live["peers"][0]["channels"][0];
    has_fields(
        channel,
        &[
            "kind",
            "target",
            "state",
            "since_ms",
            "rtt_ms",
            "changes",
            "last_error",
            "transitions",
            "counters",
        ],
        "live channel",
    );
    has_fields(
        &channel["counters"],
        &[
            "envelopes_sent",
            "receipts_sent",
            "envelopes_received",
            "receipts_received",
            "duplicates_dropped",
            "rejected",
            "queue_full",
            "envelopes_stored_at_relay",
            "receipts_stored_at_relay",
            "deposits_refused",
        ],
        "channel counters",
    );
    has_fields(
        &live["rejected"],
        &["frames", "handshakes", "cards"],
        "rejected",
    );
    has_fields(
        &live["queues"],
        &[
            "inputs_max",
            "frames_dropped",
            "reports_waited",
            "requests_waited",
            "api_clients_max",
            "api_clients_refused",
        ],
        "queues",
    );
    has_fields(
        &bravo.inbox().unwrap()[0],
        &[
            "id",
            "from",
            "from_fingerprint",
            "seq",
            "precedence",
            "lang",
            "text",
            "kind",
            "exercise",
            "answer_by",
            "sent_at",
            "received_at",
            "understood_due_ms",
            "answer",
            "cancelled",
        ],
        "inbox",
    );
    has_fields(
        &alpha.outbox().unwrap()[0],
        &[
            "id",
            "to",
            "to_fingerprint",
            "seq",
            "precedence",
            "text",
            "created_at",
            "state",
            "delivered_at",
            "kind",
            "exercise",
            "answer_by",
            "receipt_due_ms",
            "understood_due_ms",
            "restatement",
            "question",
            "answered_by",
            "answered_at_ms",
            "overdue",
            "cancelled",
        ],
        "outbox",
    );
    has_fields(
        &alpha.json(&["peer", "list"]).unwrap()[0],
        &["name", "fingerprint", "address", "lang", "added_ms"],
        "peer list",
    );
    let channels = alpha.json(&["channel", "list"]).unwrap();
    has_fields(
        &channels[0],
        &["peer", "kind", "target", "state"],
        "channel list",
    );
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}
