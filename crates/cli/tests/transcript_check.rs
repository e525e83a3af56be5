//! `parley transcript check FILE` with real stations (docs/cli.md): a transcript compared with
//! the station's own record of the link. The stations' forks are real: a copy of a station's
//! home taken earlier writes another entry at a seq the original also wrote, and exports it,
//! as a station put back to an old copy of its disk would. The peer's log forked raises an
//! `equivocation` alarm, the station's own a `split_view` alarm, each holding the file's entry;
//! an agreeing file, one not of the station's links, one that does not verify and one that
//! cannot be read change nothing.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::{await_all_delivered, exe, outcome, paired, path};
use parley_proto::{Body, SignedEntry, StationId};
use parley_store::Store;
use parley_testkit::harness::StationProcess;
use serde_json::Value;

/// Runs `transcript check file --json` at `station`; its exit code, stdout and stderr.
fn check(station: &StationProcess, file: &Path) -> (i32, String, String) {
    let output = station
        .cli(&["transcript", "check", path(file), "--json"])
        .expect("runs");
    outcome(output)
}

fn alarms(station: &StationProcess) -> Vec<Value> {
    station
        .json(&["alarms", "--all"])
        .expect("alarms")
        .as_array()
        .expect("a list")
        .clone()
}

/// The signed entry that `alarm`'s detail keeps as evidence (its last line), as `author`
/// signed it: its seq and its message's text.
fn evidence(alarm: &Value, author: &StationId) -> (Vec<u8>, u64, String) {
    let detail = alarm["detail"].as_str().expect("a detail");
    let line = detail.lines().last().expect("the entry's line");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .expect("base64 of the entry");
    let signed = SignedEntry::decode_verified(&bytes, author).expect("signed by the author");
    let Body::Message { text, .. } = &signed.entry().body else {
        panic!("not a message: {:?}", signed.entry().body);
    };
    (bytes.clone(), signed.entry().seq, text.clone())
}

/// The evidence rows `station`'s store holds: kind, seq, bytes.
fn evidence_rows(station: &StationProcess) -> Vec<(String, u64, Vec<u8>)> {
    let home = parley_station::home::Home::new(&station.home);
    let store = Store::open_read_only(&home.store_path()).expect("the store");
    store
        .evidence(None)
        .expect("evidence")
        .into_iter()
        .map(|row| (row.kind.name().to_owned(), row.seq, row.bytes))
        .collect()
}

fn identity(station: &StationProcess) -> StationId {
    parley_station::home::Home::new(&station.home)
        .identity()
        .expect("the identity")
        .id()
}

/// `station`'s export of the link with `peer`, at `root/name`.
fn exported(station: &StationProcess, peer: &str, root: &Path, name: &str) -> PathBuf {
    let file = root.join(name);
    station.export_transcript(peer, &file).expect("exports");
    file
}

#[test]
fn a_transcript_that_contradicts_the_record_raises_an_alarm_with_the_entry() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let (mut alpha, mut bravo) = paired(root);
    alpha.start().unwrap();
    bravo.start().unwrap();
    for i in 0..2 {
        alpha.ok(&["send", "Bravo", &format!("alpha {i}")]).unwrap();
        bravo.ok(&["send", "Alpha", &format!("bravo {i}")]).unwrap();
    }
    await_all_delivered(&alpha, &bravo);
    alpha.stop().unwrap();
    bravo.stop().unwrap();
    // Copies of both disks as they are now; each will write another entry at the seq its
    // original writes next.
    let bravo_old = bravo.copy_to(&root.join("bravo-old")).unwrap();
    let alpha_old = alpha.copy_to(&root.join("alpha-old")).unwrap();
    let entries_now = |station: &StationProcess, peer: &str| {
        let report = station.json(&["checkpoint", "show", peer]).unwrap();
        report["own"]["size"].as_u64().expect("own size")
    };
    let (alpha_next, bravo_next) = (
        entries_now(&alpha_old, "Bravo") + 1,
        entries_now(&bravo_old, "Alpha") + 1,
    );
    alpha.start().unwrap();
    bravo.start().unwrap();
    bravo.ok(&["send", "Alpha", "the real third"]).unwrap();
    alpha.ok(&["send", "Bravo", "the real third"]).unwrap();
    await_all_delivered(&alpha, &bravo);
    // Bravo's genuine export agrees, through the daemon.
    let genuine = exported(&bravo, "Alpha", root, "genuine.txt");
    let (code, out, err) = check(&alpha, &genuine);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["peer"], "Bravo");
    assert_eq!(report["exporter"], "peer");
    for log in ["own", "peer_log"] {
        // Either side may hold entries the other has not yet (a cosignature in flight).
        let log = &report[log];
        let both = log["in_file"].as_u64().min(log["held"].as_u64());
        assert!(both >= Some(3), "{report:#}");
        assert_eq!(log["agreed"].as_u64(), both, "{report:#}");
        assert!(log.get("differs_at").is_none(), "{report:#}");
    }
    let human = alpha.ok(&["transcript", "check", path(&genuine)]).unwrap();
    assert!(
        human.starts_with("transcript agrees with this station's record of the link with \"Bravo\" (exported by \"Bravo\")"),
        "{human}"
    );
    let before = alarms(&alpha).len();

    // Bravo's old disk writes another entry where the real third message is, and exports it.
    bravo_old
        .ok(&["send", "Alpha", "another third, never sent"])
        .unwrap();
    let forked = exported(&bravo_old, "Alpha", root, "forked.txt");
    let (code, out, err) = check(&alpha, &forked);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains("transcript check FAILED: the file contradicts this station's record of the link with \"Bravo\": the peer's log at seq"),
        "{err}"
    );
    let report: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["peer_log"]["differs_at"], bravo_next, "{report:#}");
    assert_eq!(report["peer_log"]["agreed"], bravo_next - 1);
    assert!(report["own"].get("differs_at").is_none(), "{report:#}");
    let id = report["peer_log"]["alarm"].as_u64().expect("an alarm");
    let all = alarms(&alpha);
    assert_eq!(all.len(), before + 1, "one alarm: {all:#?}");
    let alarm = all.iter().find(|a| a["id"] == id).expect("the alarm");
    assert_eq!(alarm["kind"], "equivocation");
    assert_eq!(alarm["subject"], format!("seq {bravo_next}"));
    let (entry, seq, text) = evidence(alarm, &identity(&bravo));
    assert_eq!(
        (seq, text.as_str()),
        (bravo_next, "another third, never sent"),
        "the alarm keeps the forked entry, signed by Bravo"
    );
    assert_eq!(
        evidence_rows(&alpha),
        [("equivocation".to_owned(), bravo_next, entry)],
        "and so does an evidence row"
    );
    let human = alpha.cli(&["transcript", "check", path(&forked)]).unwrap();
    assert_eq!(human.status.code(), Some(4));
    let shown = String::from_utf8_lossy(&human.stdout);
    assert!(
        shown
            .starts_with("transcript CONTRADICTS this station's record of the link with \"Bravo\"")
            && shown.contains(&format!("another entry at seq {bravo_next}: alarm {id}")),
        "{shown}"
    );
    // Checked again: the same alarm, no second one.
    let (code, out, _) = check(&alpha, &forked);
    assert_eq!(code, 4);
    let again: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again["peer_log"]["alarm"], id);
    assert_eq!(alarms(&alpha).len(), before + 1);
    assert_eq!(evidence_rows(&alpha).len(), 1, "nor a second evidence row");
    alpha.stop().unwrap();

    // Alpha's old disk does the same with Alpha's own log; Alpha, stopped, checks its export.
    alpha_old
        .ok(&["send", "Bravo", "another third of Alpha's"])
        .unwrap();
    let own_forked = exported(&alpha_old, "Bravo", root, "own-forked.txt");
    let (code, out, err) = check(&alpha, &own_forked);
    assert_eq!(code, 4, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["exporter"], "this_station");
    let seq = report["own"]["differs_at"].as_u64().expect("a seq");
    assert_eq!(seq, alpha_next, "{report:#}");
    assert!(report["peer_log"].get("differs_at").is_none(), "{report:#}");
    let id = report["own"]["alarm"].as_u64().expect("an alarm");
    let alarm = alarms(&alpha)
        .into_iter()
        .find(|a| a["id"] == id)
        .expect("stored");
    assert_eq!(alarm["kind"], "split_view");
    assert_eq!(alarm["subject"], format!("own seq {seq}"));
    let (_, seq, text) = evidence(&alarm, &identity(&alpha));
    assert_eq!(
        (seq, text.as_str()),
        (alpha_next, "another third of Alpha's")
    );
    assert_eq!(
        evidence_rows(&alpha).len(),
        1,
        "no evidence row of its own log"
    );
    bravo.stop().unwrap();
}

#[test]
fn a_transcript_not_of_the_record_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let (alpha, bravo) = paired(root);
    let charlie = StationProcess::init(exe(), root, "Charlie", "en").expect("init Charlie");
    charlie.pin(&bravo, root).unwrap();
    charlie.pin(&alpha, root).unwrap();
    let unchanged = |station: &StationProcess| {
        (
            alarms(station).len(),
            station.json(&["outbox"]).unwrap(),
            station.json(&["checkpoint", "show", "Bravo"]).unwrap(),
        )
    };
    let before = unchanged(&alpha);

    // The link between Charlie and Bravo: Alpha is neither.
    let theirs = exported(&charlie, "Bravo", root, "charlie-bravo.txt");
    let (code, _, err) = check(&alpha, &theirs);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("this station is neither; nothing was checked or stored"),
        "{err}"
    );
    // Charlie pinned Alpha, but Alpha never pinned Charlie.
    let unpinned = exported(&charlie, "Alpha", root, "charlie-alpha.txt");
    let (code, _, err) = check(&alpha, &unpinned);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("\"Charlie\"") && err.contains("is not a pinned peer of this station"),
        "{err}"
    );
    // A byte changed in Bravo's export: it does not verify.
    let genuine = exported(&bravo, "Alpha", root, "bravo.txt");
    let (code, out, err) = check(&alpha, &genuine);
    assert_eq!(code, 0, "{out}{err}");
    let mut bytes = std::fs::read(&genuine).unwrap();
    let at = bytes.len() - 20;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let bent = root.join("bent.txt");
    std::fs::write(&bent, bytes).unwrap();
    let (code, _, err) = check(&alpha, &bent);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("transcript verification FAILED at line")
            && err.contains("nothing was checked or stored"),
        "{err}"
    );
    // A FIFO and a missing file are refused unread.
    let fifo = root.join("fifo.txt");
    common::mkfifo(&fifo);
    let (code, _, err) = check(&alpha, &fifo);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("transcript not read"), "{err}");
    let (code, _, err) = check(&alpha, &root.join("missing.txt"));
    assert_eq!(code, 3, "{err}");
    assert_eq!(unchanged(&alpha), before, "nothing changed");
}
