//! Courier bundles and drop folders with real processes: a watched folder carries traffic
//! both ways with no network path; damaged, truncated and misaddressed bundles are refused
//! (or salvaged frame by frame when asked) and change nothing else.

mod common;

use std::time::Duration;

use common::{
    await_all_delivered, await_channel, await_inbox, inbox_texts, paired, paired_without_direct,
    send_all, texts,
};
use parley_testkit::harness::wait_until;

/// A flipped bit in the middle of the bundle (inside a frame, so the structure still parses).
fn flip_middle_bit(bytes: &mut [u8]) {
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
}

#[test]
fn a_shared_drop_folder_carries_traffic_both_ways() {
    let root = tempfile::tempdir().expect("tempdir");
    let (mut alpha, mut bravo) = paired_without_direct(root.path());
    let drop = root.path().join("drop");
    std::fs::create_dir(&drop).expect("drop folder");
    let drop_text = drop.to_str().expect("UTF-8");
    alpha.fast_heartbeats().expect("configure");
    bravo.fast_heartbeats().expect("configure");
    // Alpha adds the folder while stopped (straight to its store)…
    alpha
        .ok(&["channel", "add", "Bravo", "courier", drop_text])
        .expect("add the drop folder");
    // Relative and missing folders are refused.
    let missing = alpha
        .cli(&["channel", "add", "Bravo", "courier", "/nonexistent/drop"])
        .expect("run");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not a directory"));
    let again = alpha
        .cli(&["channel", "add", "Bravo", "courier", drop_text])
        .expect("run");
    assert!(!again.status.success(), "the same folder twice is refused");

    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    // …Bravo while running (through its daemon, which starts the folder at once).
    bravo
        .ok(&["channel", "add", "Alpha", "courier", drop_text])
        .expect("add the drop folder to a running station");
    let twice = bravo
        .cli(&["channel", "add", "Alpha", "courier", drop_text])
        .expect("run");
    assert!(!twice.status.success(), "the same folder twice is refused");
    await_channel(&alpha, "Bravo", "courier", "up");
    await_channel(&bravo, "Alpha", "courier", "up");
    let listed = alpha.json(&["channel", "list"]).expect("channel list");
    assert!(
        listed
            .as_array()
            .expect("array")
            .iter()
            .any(|c| c["kind"] == "courier" && c["target"] == drop_text && c["state"] == "up"),
        "{listed}"
    );
    let there = texts("folder", 0..30);
    let back = texts("retour", 0..10);
    send_all(&alpha, "Bravo", &there);
    send_all(&bravo, "Alpha", &back);
    await_inbox(&bravo, "Alpha", &there);
    await_inbox(&alpha, "Bravo", &back);
    await_all_delivered(&alpha, &bravo);
    // Every bundle addressed to a station was consumed (none left over, none set aside).
    let consumed = wait_until(Duration::from_secs(10), || {
        std::fs::read_dir(&drop)
            .expect("read drop")
            .filter_map(|e| e.ok())
            .all(|e| !e.file_name().to_string_lossy().ends_with(".bundle"))
    });
    assert!(consumed, "bundles left in the drop folder");

    // A damaged bundle dropped in is set aside and changes nothing.
    let mut damaged = std::fs::read(export(&alpha, root.path(), "Bravo")).expect("read");
    flip_middle_bit(&mut damaged);
    let name = format!(
        "parley-{}-to-{}-1-1.bundle",
        compact_fingerprint(&alpha),
        compact_fingerprint(&bravo)
    );
    std::fs::write(drop.join(&name), &damaged).expect("drop damaged");
    // A flipped bit still parses: refused for its signature, at once (a file that does not
    // parse waits `FOLDER_SETTLE_MS` first).
    let set_aside = wait_until(Duration::from_secs(30), || {
        drop.join(format!("{name}.rejected")).exists()
    });
    assert!(set_aside, "a damaged bundle must be set aside");
    assert_eq!(inbox_texts(&bravo, "Alpha"), there);
    alpha.stop().expect("stop");
    bravo.stop().expect("stop");
}

fn compact_fingerprint(station: &parley_testkit::harness::StationProcess) -> String {
    station
        .key_fingerprint()
        .expect("key fingerprint")
        .replace('-', "")
}

fn export(
    station: &parley_testkit::harness::StationProcess,
    dir: &std::path::Path,
    peer: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("export-{}.bundle", station.name));
    station
        .ok(&[
            "courier",
            "export",
            peer,
            "--out",
            path.to_str().expect("UTF-8"),
        ])
        .expect("export");
    path
}

#[test]
fn damaged_truncated_and_misaddressed_bundles_are_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let (alpha, bravo) = paired(root.path());
    let all = texts("m", 0..10);
    // Offline: the commands work on stopped stations under the station lock.
    send_all(&alpha, "Bravo", &all);
    let good = export(&alpha, root.path(), "Bravo");
    let bytes = std::fs::read(&good).expect("read");

    // A flipped bit: refused whole by default, nothing stored.
    let mut damaged = bytes.clone();
    flip_middle_bit(&mut damaged);
    let damaged_path = root.path().join("damaged.bundle");
    std::fs::write(&damaged_path, &damaged).expect("write");
    let damaged_text = damaged_path.to_str().expect("UTF-8");
    let refused = bravo
        .cli(&["courier", "import", damaged_text])
        .expect("run");
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("signature does not verify") && error.contains("nothing was imported"),
        "{error}"
    );
    assert!(inbox_texts(&bravo, "Alpha").is_empty());

    // With --salvage: every frame that verifies on its own is kept, the damaged one refused.
    let salvaged = bravo
        .ok(&["courier", "import", "--salvage", damaged_text])
        .expect("salvage");
    assert!(salvaged.contains("1 refused"), "{salvaged}");
    assert!(salvaged.contains("signature failed"), "{salvaged}");
    let kept = inbox_texts(&bravo, "Alpha");
    assert!(
        kept.len() < all.len(),
        "the damaged frame cannot be delivered"
    );
    assert!(kept.iter().all(|t| all.contains(t)));

    // Truncated: refused, nothing more stored.
    let truncated_path = root.path().join("truncated.bundle");
    std::fs::write(&truncated_path, &bytes[..bytes.len() - 100]).expect("write");
    let truncated = bravo
        .cli(&["courier", "import", truncated_path.to_str().expect("UTF-8")])
        .expect("run");
    assert!(!truncated.status.success());
    assert!(String::from_utf8_lossy(&truncated.stderr).contains("damaged or not a bundle"));
    assert_eq!(inbox_texts(&bravo, "Alpha"), kept);

    // Addressed to another station: Alpha importing its own export.
    let wrong = alpha
        .cli(&["courier", "import", good.to_str().expect("UTF-8")])
        .expect("run");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("for another station"));

    // The intact bundle completes the rest, and importing it twice changes nothing.
    bravo
        .ok(&["courier", "import", good.to_str().expect("UTF-8")])
        .expect("import");
    assert_eq!(inbox_texts(&bravo, "Alpha"), all);
    let twice = bravo
        .ok(&["courier", "import", good.to_str().expect("UTF-8")])
        .expect("import twice");
    assert!(twice.contains("0 new envelope(s)"), "{twice}");
    assert_eq!(inbox_texts(&bravo, "Alpha"), all);
}
