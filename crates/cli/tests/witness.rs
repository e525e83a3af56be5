//! A relay as a witness of the stations' logs (docs/formats.md §3.5, docs/relay-api.md
//! "Witness"), with real processes: each checkpoint is submitted to the relay, which checks it
//! consistent with the last it cosigned and cosigns it; the cosignature is recorded in the
//! station's log, shown by `checkpoint show` and proven by `transcript verify`. A relay that
//! lost its store is brought up to date through a `409`; one that holds another history of a
//! station's log, signed with its key, makes that station raise a `split_view` alarm.

mod common;

use std::time::Duration;

use common::{Net, await_channel, exe};
use parley_proto::tlog::head::{SignedHead, witness};
use parley_proto::tlog::{self, note};
use parley_proto::{Identity, StationId};
use parley_relay_wire::witness::{AddCheckpoint, WitnessAnswer};
use parley_testkit::harness::{StationProcess, wait_until};
use serde_json::Value;

/// A checkpoint after every few entries, so a handful of messages makes several.
const EVERY_ENTRIES: u64 = 3;

fn show(station: &StationProcess, peer: &str) -> Value {
    station
        .json(&["checkpoint", "show", peer])
        .expect("checkpoint show")
}

/// Waits until the witness of `station`'s log has cosigned `size` or more; returns it.
fn await_witnessed(station: &StationProcess, peer: &str, size: u64) -> Value {
    let mut report = Value::Null;
    let done = wait_until(Duration::from_secs(30), || {
        report = show(station, peer);
        report["witnesses"][0]["cosigned"]["size"].as_u64() >= Some(size)
    });
    assert!(done, "not witnessed up to {size}: {report:#}");
    report["witnesses"][0].clone()
}

fn relay_id(net: &Net) -> StationId {
    parley_relay::RelayHome::new(&net.relay.home)
        .identity()
        .expect("the relay's identity")
        .id()
}

fn station_identity(station: &StationProcess) -> Identity {
    parley_station::home::Home::new(&station.home)
        .identity()
        .expect("the station's identity")
}

/// A network whose relay serves as a witness, with checkpoints every few entries; started.
fn witnessed_net(root: &std::path::Path) -> Net {
    let mut net = Net::new(root);
    net.relay.witness = true;
    for station in [&net.alpha, &net.bravo] {
        station
            .configure(|config| config.checkpoints.every_entries = EVERY_ENTRIES)
            .unwrap();
    }
    net.start_all();
    await_channel(&net.alpha, "Bravo", "relay", "up");
    net
}

#[test]
fn a_witness_relay_cosigns_every_checkpoint_and_a_transcript_proves_it() {
    let root = tempfile::tempdir().unwrap();
    let mut net = witnessed_net(root.path());
    let relay = relay_id(&net);
    let (alpha_id, bravo_id) = (
        station_identity(&net.alpha).id(),
        station_identity(&net.bravo).id(),
    );
    for i in 0..4 {
        net.alpha
            .ok(&["send", "Bravo", &format!("alpha {i}")])
            .unwrap();
    }

    // The first checkpoint, cosigned by the relay under its key as a C2SP witness.
    let first = await_witnessed(&net.alpha, "Bravo", EVERY_ENTRIES);
    assert_eq!(first["witness"], witness(&relay), "{first:#}");
    assert!(first["error"].is_null(), "{first:#}");
    let cosigned_note = first["cosigned"]["note"].as_str().unwrap();
    let relay_key = relay.verifying_key().unwrap();
    let (text, time_s) =
        note::open_cosigned(cosigned_note, &witness(&relay), &relay_key).expect("it verifies");
    assert!(time_s > 0);
    let alpha_key = alpha_id.verifying_key().unwrap();
    let origin = tlog::head::origin(&alpha_id, &bravo_id);
    assert_eq!(note::open(cosigned_note, &origin, &alpha_key), Ok(text));

    // Later checkpoints go with a consistency proof from the size the witness holds.
    for i in 4..10 {
        net.alpha
            .ok(&["send", "Bravo", &format!("alpha {i}")])
            .unwrap();
    }
    let later = await_witnessed(&net.alpha, "Bravo", 9);
    assert!(later["holds"].as_u64() >= Some(9), "{later:#}");

    // The cosignatures are entries of Alpha's log: a transcript proves them.
    let file = root.path().join("alpha.transcript");
    common::await_all_delivered(&net.alpha, &net.bravo);
    net.alpha.export_transcript("Bravo", &file).unwrap();
    let output = std::process::Command::new(exe())
        .args(["transcript", "verify", file.to_str().unwrap()])
        .env_remove("PARLEY_HOME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let proven = format!("as witness {} cosigned its checkpoint", witness(&relay));
    assert!(stdout.contains(&proven), "{stdout}");

    // A relay that lost its store holds nothing: its 409 says so, and the station submits
    // again from there, with no proof.
    net.relay.kill9().unwrap();
    for file in ["relay.sqlite", "relay.sqlite-wal", "relay.sqlite-shm"] {
        let _ = std::fs::remove_file(net.relay.home.join(file));
    }
    for station in [&net.alpha, &net.bravo] {
        net.relay.admit(station, root.path()).unwrap();
    }
    let held = net.relay.ok(&["witness", "--json"]).unwrap();
    let held: Value = serde_json::from_str(&held).unwrap();
    assert_eq!(
        held["logs"],
        serde_json::json!([]),
        "the store is gone: {held:#}"
    );
    net.relay.start().unwrap();
    let before = later["cosigned"]["size"].as_u64().unwrap();
    for i in 10..14 {
        net.alpha
            .ok(&["send", "Bravo", &format!("alpha {i}")])
            .unwrap();
    }
    let after = await_witnessed(&net.alpha, "Bravo", before + 1);
    assert!(after["error"].is_null(), "{after:#}");
    let status = net.alpha.json(&["status"]).unwrap();
    assert_eq!(status["alarms"]["open"], 0, "{status:#}");
}

/// Waits for `station`'s open `split_view` alarm whose subject starts with `subject`.
fn await_split_view(station: &StationProcess, subject: &str) -> Value {
    let mut alarms = Value::Null;
    let mut found = None;
    let raised = wait_until(Duration::from_secs(30), || {
        alarms = station.json(&["alarms", "--all"]).unwrap();
        found = alarms
            .as_array()
            .unwrap()
            .iter()
            .find(|alarm| {
                alarm["kind"] == "split_view"
                    && alarm["subject"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(subject))
            })
            .cloned();
        found.is_some()
    });
    assert!(raised, "no split_view alarm on {subject:?}: {alarms:#}");
    found.unwrap()
}

#[test]
fn a_witness_holding_another_history_of_a_log_is_an_alarm_at_its_author() {
    let root = tempfile::tempdir().unwrap();
    let net = witnessed_net(root.path());
    let relay = relay_id(&net);
    let (alpha, bravo) = (station_identity(&net.alpha), station_identity(&net.bravo));

    // Someone holding Alpha's key shows the witness a history of Alpha's log longer than the
    // one Alpha wrote; someone holding Bravo's shows it another history of Bravo's first
    // entries. The witness, which saw neither log, cosigns both.
    let forged = |author: &Identity, peer: &Identity, size: u64| AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: SignedHead::sign(author, &peer.id(), size, [7; 32])
            .note(&author.id(), &peer.id()),
    };
    for (author, peer, size) in [(&alpha, &bravo, 1_000), (&bravo, &alpha, EVERY_ENTRIES)] {
        let answer = submit(&net, &forged(author, peer, size));
        assert!(matches!(answer, WitnessAnswer::Cosigned(_)), "{answer:?}");
    }

    // Alpha's first checkpoint meets a witness holding 1,000 entries of its log: a 409 names
    // a size Alpha never reached, and Alpha raises the alarm with its own checkpoint.
    for i in 0..3 {
        net.alpha
            .ok(&["send", "Bravo", &format!("alpha {i}")])
            .unwrap();
    }
    let alarm = await_split_view(&net.alpha, &format!("witness {}", witness(&relay)));
    let detail = alarm["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("at size 1000"), "{alarm:#}");
    assert!(
        detail.contains(&tlog::head::origin(&alpha.id(), &bravo.id())),
        "{alarm:#}"
    );
    // Both signed notes are kept: Alpha's checkpoint, and the witness's, which Alpha's key
    // signed.
    assert!(
        detail.contains("signed with this station's key"),
        "{alarm:#}"
    );
    let (_, held) = detail
        .split_once("The witness's checkpoint:\n")
        .expect("the witness's note");
    let alpha_key = alpha.id().verifying_key().unwrap();
    let origin = tlog::head::origin(&alpha.id(), &bravo.id());
    let text = note::open(held, &origin, &alpha_key).expect("signed with Alpha's key");
    assert!(text.contains("\n1000\n"), "{alarm:#}");
    let report = show(&net.alpha, "Bravo");
    let error = report["witnesses"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("another history"), "{report:#}");
    assert!(report["witnesses"][0]["cosigned"].is_null(), "{report:#}");

    // Bravo's first checkpoint meets a witness holding another root at size 3: its 409, with
    // the witness's checkpoint signed with Bravo's key, is the alarm.
    for i in 0..6 {
        net.bravo
            .ok(&["send", "Alpha", &format!("bravo {i}")])
            .unwrap();
    }
    let alarm = await_split_view(&net.bravo, &format!("witness {}", witness(&relay)));
    let detail = alarm["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("whose root is not this log's"), "{alarm:#}");
}

/// Submits `submission` to the net's relay as its witness.
fn submit(net: &Net, submission: &AddCheckpoint) -> WitnessAnswer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = parley_channels::RelayClient::new(
        &net.relay.url(),
        relay_id(net),
        Identity::from_secret(&[42; 32]),
    )
    .unwrap();
    runtime
        .block_on(client.add_checkpoint(submission))
        .expect("the witness answers")
}
