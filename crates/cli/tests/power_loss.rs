//! Power loss and damaged files: what a station finds on its disk after the power went out in
//! the middle of a write, after a bit rotted, or in a courier bundle damaged on its way. A
//! torn last commit is dropped whole (SQLite's log checksums) and the station starts from the
//! commit before; a changed byte in anything it holds stops it with a clear message; a changed
//! byte in a bundle refuses the bundle whole. It never serves changed data.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{await_all_delivered, await_inbox, exe, inbox_texts, paired, send_all, texts};
use parley_testkit::harness::StationProcess;

/// Messages on the link before the damage.
const MESSAGES: usize = 12;
/// Positions, spread evenly over a file, at which one byte is changed (each in a fresh copy).
const FLIPS: usize = 40;
/// Size of the header of SQLite's write-ahead log, in bytes.
const WAL_HEADER_BYTES: u64 = 32;
/// Size of the header in front of each page in that log, in bytes.
const WAL_FRAME_HEADER_BYTES: u64 = 24;
/// Exit code of a local failure (docs/cli.md).
const EXIT_LOCAL: i32 = 1;
/// Exit code of a refused input from another party (docs/cli.md).
const EXIT_PEER: i32 = 4;
/// Longest a station with a damaged store may take to refuse to start.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Two stations that exchanged [`MESSAGES`] messages, both running; and the texts.
fn exchanged(root: &Path) -> (StationProcess, StationProcess, Vec<String>) {
    let (mut alpha, mut bravo) = paired(root);
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    let sent = texts("power", 0..MESSAGES);
    send_all(&alpha, "Bravo", &sent);
    await_inbox(&bravo, "Alpha", &sent);
    await_all_delivered(&alpha, &bravo);
    (alpha, bravo, sent)
}

/// Flips one bit of the byte at `at` in the file at `path`.
fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[at as usize] ^= 0x01;
    std::fs::write(path, bytes).expect("write");
}

/// `parley run` on a damaged home must exit on its own with a local failure; returns its
/// standard error.
fn refuses_to_start(station: &StationProcess) -> String {
    let mut daemon = Command::new(exe())
        .arg("--home")
        .arg(&station.home)
        .arg("run")
        .env_remove("PARLEY_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn parley run");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = daemon.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > REFUSAL_TIMEOUT {
            daemon.kill().expect("kill");
            panic!("a station with a damaged store started");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = daemon.wait_with_output().expect("stderr");
    assert_eq!(
        status.code(),
        Some(EXIT_LOCAL),
        "run exits as a local failure"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Where `needle` occurs in `haystack`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<u64> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| *window == needle)
        .map(|(at, _)| at as u64)
        .collect()
}

#[test]
fn a_torn_last_commit_is_dropped_whole_and_the_station_starts_from_the_one_before() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo, sent) = exchanged(root.path());
    // Alpha stays away from the copies; Bravo dies with its last commits in the log.
    alpha.stop().unwrap();
    bravo.kill9().unwrap();
    let wal = bravo.home.join("store.sqlite-wal");
    let wal_len = std::fs::metadata(&wal)
        .expect("kill -9 leaves the log")
        .len();
    let header = std::fs::read(&wal).unwrap();
    let page = u64::from(u32::from_be_bytes(header[8..12].try_into().unwrap()));
    let frame = WAL_FRAME_HEADER_BYTES + page;
    assert!(
        wal_len >= WAL_HEADER_BYTES + 2 * frame,
        "the log holds commits: {wal_len} bytes"
    );
    enum Damage {
        Cut(u64),
        Flip(u64),
    }
    let tears = [
        (
            "cut inside the last page's frame header",
            Damage::Cut(wal_len - frame + 10),
        ),
        (
            "cut halfway through the last page",
            Damage::Cut(wal_len - page / 2),
        ),
        ("cut one byte short", Damage::Cut(wal_len - 1)),
        (
            "a changed byte in the last page",
            Damage::Flip(wal_len - page / 2),
        ),
        (
            "cut after the second page",
            Damage::Cut(WAL_HEADER_BYTES + 2 * frame - 1),
        ),
    ];
    for (i, (what, damage)) in tears.iter().enumerate() {
        let mut copy = bravo
            .copy_to(&root.path().join(format!("torn-{i}")))
            .unwrap();
        // The log's index lives in shared memory: it is lost with the power.
        let _ = std::fs::remove_file(copy.home.join("store.sqlite-shm"));
        let copy_wal = copy.home.join("store.sqlite-wal");
        match *damage {
            Damage::Cut(len) => std::fs::File::options()
                .write(true)
                .open(&copy_wal)
                .and_then(|file| file.set_len(len))
                .unwrap(),
            Damage::Flip(at) => flip(&copy_wal, at),
        }
        copy.start()
            .unwrap_or_else(|error| panic!("{what}: the station must start: {error}"));
        let held = inbox_texts(&copy, "Alpha");
        assert_eq!(held, sent[..held.len()], "{what}: a prefix, in order");
        let transcript = copy.home.join("transcript.txt");
        copy.export_transcript("Alpha", &transcript).unwrap();
        let verified = copy
            .cli(&["transcript", "verify", transcript.to_str().unwrap()])
            .unwrap();
        assert!(verified.status.success(), "{what}: the record verifies");
        copy.stop().unwrap();
        eprintln!(
            "{what}: started holding {} of {} messages",
            held.len(),
            sent.len()
        );
    }
    // Untouched, the log holds everything.
    bravo.start().unwrap();
    assert_eq!(inbox_texts(&bravo, "Alpha"), sent);
}

#[test]
fn a_changed_byte_in_the_store_stops_the_station_or_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo, sent) = exchanged(root.path());
    alpha.stop().unwrap();
    // A clean stop folds the log into the database file.
    bravo.stop().unwrap();
    let store_path = bravo.home.join("store.sqlite");
    let store = std::fs::read(&store_path).unwrap();
    let wal = bravo.home.join("store.sqlite-wal");
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0));
    // What each reading command serves: its JSON, or the refusal's exit code and message.
    const READS: [&str; 4] = ["inbox", "outbox", "peer list", "status"];
    let read =
        |station: &StationProcess, command: &str| -> Result<serde_json::Value, (i32, String)> {
            let mut args: Vec<&str> = command.split(' ').collect();
            args.push("--json");
            let output = station.cli(&args).unwrap();
            if output.status.success() {
                Ok(serde_json::from_slice(&output.stdout).unwrap())
            } else {
                let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
                Err((output.status.code().unwrap_or(-1), stderr))
            }
        };
    let original: Vec<serde_json::Value> = READS
        .iter()
        .map(|command| read(&bravo, command).expect("everything readable"))
        .collect();

    // A message text is kept twice: in its column and inside its signed entry. A changed
    // byte in either is found.
    let text = &sent[MESSAGES / 2];
    let places = occurrences(&store, text.as_bytes());
    assert!(places.len() >= 2, "the text is kept {} times", places.len());
    for (i, at) in places.iter().enumerate() {
        let copy = bravo
            .copy_to(&root.path().join(format!("text-{i}")))
            .unwrap();
        flip(&copy.home.join("store.sqlite"), at + text.len() as u64 / 2);
        let inbox = copy.cli(&["inbox"]).unwrap();
        let stderr = String::from_utf8_lossy(&inbox.stderr);
        assert_eq!(inbox.status.code(), Some(EXIT_LOCAL), "{stderr}");
        assert!(stderr.contains("the store is corrupt"), "{stderr}");
        assert!(inbox.stdout.is_empty(), "nothing is shown");
        let stderr = refuses_to_start(&copy);
        assert!(stderr.contains("the store is corrupt"), "{stderr}");
    }

    // Any byte: the station refuses with a clear message, or the byte was not in use and it
    // serves exactly what it held.
    let (mut refused, mut unchanged) = (0, 0);
    for k in 0..FLIPS {
        let at = (k as u64 * store.len() as u64 + store.len() as u64 / 2) / FLIPS as u64;
        let copy = bravo
            .copy_to(&root.path().join(format!("flip-{k}")))
            .unwrap();
        flip(&copy.home.join("store.sqlite"), at);
        // Each command reads its own part of the store: each serves exactly what it served
        // before, or refuses with a clear message.
        let mut any_refused = false;
        for (command, before) in READS.iter().zip(&original) {
            match read(&copy, command) {
                Ok(served) => assert_eq!(&served, before, "byte {at}: {command}"),
                Err((code, stderr)) => {
                    assert_eq!(code, EXIT_LOCAL, "byte {at}: {command}: {stderr}");
                    assert!(
                        stderr.starts_with("error: ") && stderr.contains("store"),
                        "byte {at}: {command}: {stderr}"
                    );
                    any_refused = true;
                }
            }
        }
        if any_refused {
            refused += 1;
        } else {
            unchanged += 1;
        }
    }
    eprintln!(
        "{FLIPS} changed bytes over {} bytes: {refused} refused, {unchanged} in unused space",
        store.len()
    );
    assert!(refused > 0);
}

#[test]
fn a_changed_byte_anywhere_in_a_bundle_refuses_it_whole() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, bravo) = paired(root.path());
    let sent = texts("carried", 0..MESSAGES);
    // Offline: the commands work on stopped stations.
    send_all(&alpha, "Bravo", &sent);
    let bundle = root.path().join("alpha.bundle");
    let bundle_text = bundle.to_str().unwrap();
    alpha
        .ok(&["courier", "export", "Bravo", "--out", bundle_text])
        .unwrap();
    let bytes = std::fs::read(&bundle).unwrap();
    let damaged = root.path().join("damaged.bundle");
    let damaged_text = damaged.to_str().unwrap();
    for k in 0..FLIPS {
        let at = (k * bytes.len() + bytes.len() / 2) / FLIPS;
        let mut changed = bytes.clone();
        changed[at] ^= 0x01;
        std::fs::write(&damaged, &changed).unwrap();
        let import = bravo.cli(&["courier", "import", damaged_text]).unwrap();
        let stderr = String::from_utf8_lossy(&import.stderr);
        assert_eq!(import.status.code(), Some(EXIT_PEER), "byte {at}: {stderr}");
        assert!(stderr.contains("bundle"), "byte {at}: {stderr}");
    }
    assert!(
        inbox_texts(&bravo, "Alpha").is_empty(),
        "nothing was stored"
    );
    bravo
        .ok(&["courier", "import", bundle_text])
        .expect("the undamaged bundle");
    assert_eq!(inbox_texts(&bravo, "Alpha"), sent);
}
