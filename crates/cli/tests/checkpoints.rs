//! Checkpoints with real stations (docs/formats.md §3.5): each station signs checkpoints of its
//! log on the cadence and on demand, the peer checks and cosigns them, `checkpoint show` and
//! `status` report them, and a transcript is verified against the cosignatures it holds and
//! against a checkpoint obtained from the other station.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{await_all_delivered, exe, outcome, paired, path};
use parley_proto::tlog::note;
use parley_testkit::harness::{StationProcess, wait_until};
use serde_json::Value;

/// A checkpoint after every few entries, so a handful of messages makes several.
const EVERY_ENTRIES: u64 = 3;

fn show(station: &StationProcess, peer: &str) -> Value {
    station
        .json(&["checkpoint", "show", peer])
        .expect("checkpoint show")
}

/// Waits until `station`'s own log of the link is cosigned by the peer at `size` or more;
/// returns the report.
fn await_cosigned(station: &StationProcess, peer: &str, size: u64) -> Value {
    let mut report = Value::Null;
    let done = wait_until(Duration::from_secs(20), || {
        report = show(station, peer);
        report["own"]["cosigned"]["size"].as_u64() >= Some(size)
    });
    assert!(done, "not cosigned up to {size}: {report:#}");
    report
}

/// Runs `transcript verify` with `args`; returns the exit code and both outputs.
fn verify(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(exe())
        .args(["transcript", "verify"])
        .args(args)
        .env_remove("PARLEY_HOME")
        .output()
        .expect("runs");
    outcome(output)
}

#[test]
fn checkpoints_are_cosigned_shown_and_prove_what_a_transcript_holds() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    for station in [&alpha, &bravo] {
        station
            .configure(|config| config.checkpoints.every_entries = EVERY_ENTRIES)
            .unwrap();
    }
    alpha.start().unwrap();
    bravo.start().unwrap();
    for i in 0..4 {
        alpha.ok(&["send", "Bravo", &format!("alpha {i}")]).unwrap();
    }
    bravo.ok(&["send", "Alpha", "bravo 0"]).unwrap();

    // Alpha's log: its key announcement and four messages; a checkpoint after three entries,
    // which Bravo checks against the entries it holds and cosigns.
    let report = await_cosigned(&alpha, "Bravo", EVERY_ENTRIES);
    let own = &report["own"];
    let latest = own["latest"]["size"].as_u64().unwrap();
    assert!(latest >= EVERY_ENTRIES, "{report:#}");
    let origin = own["origin"].as_str().unwrap();
    assert!(origin.starts_with("parley.link/"), "{origin}");
    let cosigned = &own["cosigned"];
    assert_eq!(cosigned["cosigner"].as_str().unwrap().len(), 15 + 64);
    // The note: the checkpoint's text, Alpha's signature and Bravo's cosignature, as C2SP
    // says; Alpha's key verifies the first, Bravo's the second.
    let text = cosigned["note"].as_str().unwrap();
    let alpha_key = key_of(&alpha);
    let bravo_key = key_of(&bravo);
    let body = note::open(text, origin, &alpha_key).expect("Alpha signed it");
    assert!(
        body.starts_with(&format!("{origin}\n{}\n", cosigned["size"])),
        "{body}"
    );
    let cosigner = cosigned["cosigner"].as_str().unwrap();
    let (_, time_s) = note::open_cosigned(text, cosigner, &bravo_key).expect("Bravo cosigned it");
    assert_eq!(Some(time_s), cosigned["time_s"].as_u64());
    // Bravo shows the same checkpoint from its side: Alpha's log, cosigned by itself.
    let from_bravo = show(&bravo, "Alpha");
    assert_eq!(from_bravo["peer_log"]["origin"], own["origin"]);
    assert!(from_bravo["peer_log"]["cosigned"]["size"].as_u64() >= cosigned["size"].as_u64());

    // Everything delivered, then one export of Alpha's.
    await_all_delivered(&alpha, &bravo);
    let early = root.path().join("early.txt");
    alpha.export_transcript("Bravo", &early).unwrap();
    let early_len = transcript_len(&early, "Alpha");
    let bravo_early = root.path().join("bravo-early.txt");
    bravo.export_transcript("Alpha", &bravo_early).unwrap();

    // Two more messages, then a checkpoint on demand: Bravo cosigns the whole log.
    alpha.ok(&["send", "Bravo", "late 0"]).unwrap();
    alpha.ok(&["send", "Bravo", "late 1"]).unwrap();
    let id = alpha.ok(&["checkpoint", "issue", "Bravo"]).unwrap();
    assert_eq!(id.trim().len(), 64, "{id}");
    let out_seq = |station: &StationProcess| {
        station.json(&["status"]).unwrap()["peers"][0]["out_seq"]
            .as_u64()
            .unwrap()
    };
    // The checkpoint covers every entry before it.
    let size = out_seq(&alpha) - 1;
    assert!(size > early_len, "{size} {early_len}");
    let report = await_cosigned(&alpha, "Bravo", size);
    assert_eq!(report["own"]["latest"]["size"].as_u64(), Some(size));
    let status = alpha.json(&["status"]).unwrap();
    assert!(
        status["peers"][0]["cosigned_upto"].as_u64() >= Some(size),
        "{status:#}"
    );
    let status = bravo.json(&["status"]).unwrap();
    assert!(
        status["peers"][0]["peer_cosigned_upto"].as_u64() >= Some(size),
        "{status:#}"
    );
    // The checkpoint as Bravo holds it, cosigned: the reference an auditor obtains from Bravo.
    let note_file = root.path().join("alpha.checkpoint");
    let note_text = show(&bravo, "Alpha")["peer_log"]["cosigned"]["note"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(&note_file, &note_text).unwrap();
    await_all_delivered(&alpha, &bravo);
    alpha.stop().unwrap();
    bravo.stop().unwrap();

    // Stopped stations answer `checkpoint show` from their stores alike.
    assert_eq!(
        show(&bravo, "Alpha")["peer_log"]["cosigned"]["note"],
        note_text.as_str()
    );
    let text_report = bravo.ok(&["checkpoint", "show", "Alpha"]).unwrap();
    assert!(text_report.contains("\"Alpha\"'s log: "), "{text_report}");
    assert!(
        text_report.contains("cosigned by this station: size "),
        "{text_report}"
    );

    // A full export: proven up to the cosigned size by the file itself, and held up to the
    // checkpoint Bravo gave.
    let full = root.path().join("full.txt");
    alpha.export_transcript("Bravo", &full).unwrap();
    let (code, out, err) = verify(&[path(&full), "--checkpoint", path(&note_file)]);
    assert_eq!(code, 0, "{out}{err}");
    let proven = format!(
        "  proven: \"Alpha\"'s log holds at least entries 1 to {size} as \"Bravo\" cosigned its checkpoint at "
    );
    // At a time with its date: the file is evidence, read on any later day.
    let at = out.find(&proven).map(|at| &out[at + proven.len()..]);
    let dated = at.is_some_and(|at| {
        at.len() > 20
            && at.as_bytes()[4] == b'-'
            && at.as_bytes()[10] == b'T'
            && at.as_bytes()[19] == b'Z'
    });
    assert!(dated, "{out}");
    assert!(
        out.contains(&format!(
            "\"Alpha\"'s log is in the file up to entry {size} with the root \"Alpha\" signed, cosigned by \"Bravo\" at "
        )),
        "{out}"
    );
    // The earlier export lacks what Bravo's checkpoint vouches for: a copy that stops short
    // (or was cut) no longer passes as complete.
    let (code, _, err) = verify(&[path(&early), "--checkpoint", path(&note_file)]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains(&format!(
            "transcript verification FAILED: checkpoint {}: Alpha's log is cut: the checkpoint has size {size}, the file holds {early_len} entries",
            path(&note_file)
        )),
        "{err}"
    );
    // Alone, it still verifies: it claims nothing beyond what it holds.
    let (code, out, _) = verify(&[path(&early)]);
    assert_eq!(code, 0, "{out}");
    // Two exports: the note vouches for the pair when either holds Alpha's log to its size
    // (Bravo's, made before the last messages, holds less of it, as Bravo had received);
    // when neither does, the log is cut.
    let alpha_fp = alpha.fingerprint().unwrap();
    let pair = |first: &Path| {
        verify(&[
            path(first),
            path(&bravo_early),
            "--expect",
            alpha_fp.trim(),
            "--checkpoint",
            path(&note_file),
        ])
    };
    let (code, out, err) = pair(&full);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("transcripts agree"), "{out}");
    assert!(
        out.contains(&format!(
            "\"Alpha\"'s log is in the file up to entry {size}"
        )),
        "{out}"
    );
    let (code, _, err) = pair(&early);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("Alpha's log is cut"), "{err}");

    // A checkpoint of another link, a damaged one, and no file: refused, each for its reason.
    let other = root.path().join("other.checkpoint");
    std::fs::write(&other, note_text.replace("parley.link/", "parley.link/0")).unwrap();
    let (code, _, err) = verify(&[path(&full), "--checkpoint", path(&other)]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("the checkpoint's origin is neither station's log of this link"),
        "{err}"
    );
    let bent = root.path().join("bent.checkpoint");
    let mut lines: Vec<&str> = note_text.lines().collect();
    let size_line = format!("{}", size - 1);
    lines[1] = &size_line;
    std::fs::write(&bent, lines.join("\n") + "\n").unwrap();
    let (code, _, err) = verify(&[path(&full), "--checkpoint", path(&bent)]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("the checkpoint: the signature by parley.link/"),
        "{err}"
    );
    // Bravo's post-quantum cosignature changed by one character: refused like its Ed25519 one.
    // The origin is `parley.link/<Alpha's key>/<Bravo's key>`.
    let bravo_key = note_text
        .lines()
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let pq_line = (note_text.lines())
        .filter(|line| line.starts_with('\u{2014}') && !line.contains("parley.link/"))
        .filter(|line| line.contains(bravo_key))
        .max_by_key(|line| line.len())
        .expect("Bravo's cosignature lines");
    assert!(pq_line.len() > 1_000, "the ML-DSA-44 line: {pq_line}");
    let at = pq_line.len() - 100;
    let flipped = if &pq_line[at..=at] == "A" { "B" } else { "A" };
    let bent_pq = root.path().join("bent-pq.checkpoint");
    let changed = format!("{}{flipped}{}", &pq_line[..at], &pq_line[at + 1..]);
    std::fs::write(&bent_pq, note_text.replace(pq_line, &changed)).unwrap();
    let (code, _, err) = verify(&[path(&full), "--checkpoint", path(&bent_pq)]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("does not verify"), "{err}");
    // Every signature before the size: against a file that holds less of the log, such a note
    // fails for its signature, not for the cut (which two files may forgive, §8.8).
    let (code, _, err) = verify(&[path(&early), "--checkpoint", path(&bent_pq)]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("does not verify") && !err.contains("is cut"),
        "{err}"
    );
    let missing = root.path().join("missing.checkpoint");
    let (code, _, err) = verify(&[path(&full), "--checkpoint", path(&missing)]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot read the checkpoint"), "{err}");
}

/// The Ed25519 key in `station`'s card (its identity).
fn key_of(station: &StationProcess) -> ed25519_dalek::VerifyingKey {
    let card = station.card_file(&station.home).unwrap();
    let text = std::fs::read_to_string(card).unwrap();
    let (card, _) = parley_proto::ContactCard::from_text(&text).expect("a card");
    card.identity.verifying_key().unwrap()
}

/// Entries of `name`'s log in the transcript `file`.
fn transcript_len(file: &Path, name: &str) -> u64 {
    let verified = parley_proto::transcript::verify(&std::fs::read(file).unwrap()).unwrap();
    verified
        .stations
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.ids.len() as u64)
        .unwrap()
}
