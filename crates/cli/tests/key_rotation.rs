//! Epoch key rotation with real processes over the slowest channel, bundles carried by hand:
//! messages sealed to the old key before the peer read the new one, and bundles that arrive
//! late and out of order, all open; the old key is held while the peer may still need it;
//! a rotation through a running daemon; the identity key's rotation refused, changing nothing.

mod common;

use std::path::{Path, PathBuf};

use common::{inbox_texts, paired_without_direct, send_all, texts};
use parley_testkit::harness::StationProcess;
use serde_json::Value;

fn export(station: &StationProcess, dir: &Path, peer: &str, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = path.to_str().expect("UTF-8");
    station
        .ok(&["courier", "export", peer, "--out", out])
        .expect("export");
    path
}

/// Imports a bundle, none of whose frames may be refused; returns how many envelopes were new.
fn import(station: &StationProcess, bundle: &Path) -> u64 {
    let path = bundle.to_str().expect("UTF-8");
    let imported = station.ok(&["courier", "import", path]).expect("import");
    assert!(imported.contains(", 0 refused"), "{imported}");
    let new = imported
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok());
    new.unwrap_or_else(|| panic!("no count of new envelopes in {imported:?}"))
}

/// Each epoch key `status` shows: (id, current, peers that still need it).
fn keys(station: &StationProcess) -> Vec<(String, bool, Vec<String>)> {
    let status = station.json(&["status"]).expect("status");
    status["epoch_keys"]
        .as_array()
        .expect("epoch_keys")
        .iter()
        .map(|key| {
            let needed = key["needed_by"].as_array().cloned().unwrap_or_default();
            (
                key["key_id"].as_str().expect("key_id").to_owned(),
                key["current"].as_bool().expect("current"),
                needed
                    .iter()
                    .map(|name| name.as_str().expect("a name").to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn sealing_to(station: &StationProcess, peer: &str) -> String {
    let status = station.json(&["status"]).expect("status");
    let peers = status["peers"].as_array().expect("peers");
    let peer = peers.iter().find(|p| p["name"] == peer).expect("the peer");
    peer["peer_epoch_key"]
        .as_str()
        .expect("a key id")
        .to_owned()
}

#[test]
fn epoch_keys_rotate_while_bundles_travel_and_nothing_is_lost() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let (alpha, mut bravo) = paired_without_direct(dir);
    // Each reads the other's pairing entry (its key announcement).
    import(&bravo, &export(&alpha, dir, "Bravo", "a0.bundle"));
    import(&alpha, &export(&bravo, dir, "Alpha", "b0.bundle"));
    let first = keys(&bravo);
    assert_eq!(first.len(), 1);
    assert_eq!(sealing_to(&alpha, "Bravo"), first[0].0);

    // Alpha writes, sealed to Bravo's first key; the bundle is on a slow road.
    let before = texts("before", 0..3);
    send_all(&alpha, "Bravo", &before);
    let slow = export(&alpha, dir, "Bravo", "a1-slow.bundle");

    // Bravo makes a new key, with no daemon running.
    let rotated: Value = bravo.json(&["key", "rotate"]).expect("rotate");
    let second = rotated["key_id"].as_str().expect("key_id").to_owned();
    assert_eq!(rotated["announced_to"], serde_json::json!(["Alpha"]));
    assert_ne!(second, first[0].0);
    let text = bravo.ok(&["status"]).expect("status");
    assert!(
        text.contains(&format!("epoch key {second}: current")),
        "{text}"
    );
    assert!(text.contains("still needed by \"Alpha\""), "{text}");
    assert_eq!(
        keys(&bravo),
        [
            (second.clone(), true, vec![]),
            (first[0].0.clone(), false, vec!["Alpha".to_owned()])
        ]
    );

    // Alpha reads the announcement and writes again: sealed to the new key.
    import(&alpha, &export(&bravo, dir, "Alpha", "b1.bundle"));
    assert_eq!(sealing_to(&alpha, "Bravo"), second);
    let after = texts("after", 0..3);
    send_all(&alpha, "Bravo", &after);
    let fast = export(&alpha, dir, "Bravo", "a2.bundle");

    // The later bundle (both generations of envelopes) arrives first, the slow one after.
    assert_eq!(import(&bravo, &fast), 6);
    assert_eq!(
        import(&bravo, &slow),
        0,
        "every envelope of it is held already"
    );
    let mut all = before.clone();
    all.extend(after);
    assert_eq!(inbox_texts(&bravo, "Alpha"), all);
    // Alpha has moved past the old key: nothing needs it (it goes once retained long enough).
    assert_eq!(
        keys(&bravo),
        [
            (second.clone(), true, vec![]),
            (first[0].0.clone(), false, vec![])
        ]
    );

    // Through a running daemon: a third key, announced; the identity's rotation refused.
    bravo.start().expect("start Bravo");
    let rotated = bravo
        .json(&["key", "rotate"])
        .expect("rotate through the daemon");
    let third = rotated["key_id"].as_str().expect("key_id").to_owned();
    assert_eq!(keys(&bravo)[0], (third.clone(), true, vec![]));
    let refused = bravo.cli(&["key", "rotate", "--identity"]).expect("runs");
    assert_eq!(refused.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not available") && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert_eq!(keys(&bravo).len(), 3, "nothing changed");
    bravo.stop().expect("stop Bravo");

    // Alpha reads the third key; what it writes next opens at Bravo.
    import(&alpha, &export(&bravo, dir, "Alpha", "b2.bundle"));
    assert_eq!(sealing_to(&alpha, "Bravo"), third);
    send_all(&alpha, "Bravo", &texts("third", 0..2));
    import(&bravo, &export(&alpha, dir, "Bravo", "a3.bundle"));
    assert_eq!(inbox_texts(&bravo, "Alpha").len(), all.len() + 2);

    // Both transcripts verify, each against the other.
    let (a_file, b_file) = (dir.join("alpha.transcript"), dir.join("bravo.transcript"));
    alpha.export_transcript("Bravo", &a_file).expect("export");
    bravo.export_transcript("Alpha", &b_file).expect("export");
    let (a_text, b_text) = (a_file.to_str().unwrap(), b_file.to_str().unwrap());
    let fingerprints = [alpha.fingerprint().unwrap(), bravo.fingerprint().unwrap()];
    alpha
        .ok(&[
            "transcript",
            "verify",
            a_text,
            b_text,
            "--expect",
            &fingerprints[0],
            "--expect",
            &fingerprints[1],
        ])
        .expect("the transcripts verify and agree");
}
