//! Files from shared folders and removable media are hostile: a link to `/dev/zero`, a FIFO, a
//! link to a private file, links planted where a writer might put its temporary files. None of
//! them stops, blocks or fools a station; each is set aside unread and reported.

mod common;

use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{await_channel, await_inbox, exe, mkfifo, paired_without_direct, send_all, texts};
use parley_testkit::harness::{StationProcess, wait_until};

/// Longest a command given a hostile file may take, in seconds: it must never block.
const HOSTILE_COMMAND_TIMEOUT_S: u64 = 10;

/// The bundle name `from` writes for `to`, as drop folders expect it.
fn bundle_name(from: &StationProcess, to: &StationProcess, n: u32) -> String {
    let compact = |s: &StationProcess| {
        s.key_fingerprint()
            .expect("key fingerprint")
            .replace('-', "")
    };
    format!("parley-{}-to-{}-1-{n}.bundle", compact(from), compact(to))
}

/// Runs `parley --home HOME args` and returns its exit code, failing if it takes too long.
fn exit_code_within(station: &StationProcess, args: &[&str]) -> i32 {
    let mut child = Command::new(exe())
        .arg("--home")
        .arg(&station.home)
        .args(args)
        .env_remove("PARLEY_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runs");
    let mut code = None;
    let finished = wait_until(Duration::from_secs(HOSTILE_COMMAND_TIMEOUT_S), || {
        code = child.try_wait().expect("waits").map(|status| status.code());
        code.is_some()
    });
    if !finished {
        let _ = child.kill();
        panic!("parley {args:?} did not finish within {HOSTILE_COMMAND_TIMEOUT_S} s");
    }
    code.flatten().expect("exited")
}

fn courier_counter(station: &StationProcess, field: &str) -> serde_json::Value {
    let status = station.json(&["status"]).expect("status");
    status["peers"][0]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["kind"] == "courier")
        .map(|c| match field {
            "last_refused_file" => c[field].clone(),
            _ => c["counters"][field].clone(),
        })
        .unwrap_or_default()
}

#[test]
fn a_drop_folder_full_of_traps_leaves_the_station_running_and_reports_them() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired_without_direct(root.path());
    let drop = root.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    let drop_text = drop.to_str().unwrap();
    for (station, peer) in [(&alpha, "Bravo"), (&bravo, "Alpha")] {
        station.fast_heartbeats().unwrap();
        station
            .ok(&["channel", "add", peer, "courier", drop_text])
            .unwrap();
    }
    // A private file outside the folder, and a victim for planted links.
    let secret = root.path().join("secret");
    std::fs::write(&secret, b"the crown jewels").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let victim = root.path().join("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    // Traps under names Bravo reads: a link to a device, a FIFO, a link to the secret.
    let zero = drop.join(bundle_name(&alpha, &bravo, 1));
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = drop.join(bundle_name(&alpha, &bravo, 2));
    mkfifo(&fifo);
    let private = drop.join(bundle_name(&alpha, &bravo, 3));
    std::os::unix::fs::symlink(&secret, &private).unwrap();
    // A name that would colour the operator's terminal, were it logged raw.
    let coloured = bundle_name(&alpha, &bravo, 4).replace(".bundle", "\u{1b}[31m.bundle");
    let coloured = drop.join(coloured);
    mkfifo(&coloured);
    // A name in bytes that are not UTF-8 (no station names a bundle so): set aside unread.
    let mut unreadable = bundle_name(&alpha, &bravo, 5)
        .replace(".bundle", "")
        .into_bytes();
    unreadable.extend_from_slice(b"\xff\xfe.bundle");
    let unreadable = drop.join(std::ffi::OsString::from_vec(unreadable));
    std::fs::write(&unreadable, b"a bundle it would be").unwrap();
    // A regular file under a name Bravo reads, that is no bundle: read, refused by the station,
    // and named in the report (read last: its name sorts after the others).
    let junk_name = bundle_name(&alpha, &bravo, 9);
    std::fs::write(drop.join(&junk_name), b"not a bundle at all").unwrap();
    // Links planted where a writer with predictable names would put its temporary files.
    for n in 1..=20 {
        let name = bundle_name(&alpha, &bravo, n);
        for planted in [format!(".{name}.tmp"), format!("{name}.tmp")] {
            std::os::unix::fs::symlink(&victim, drop.join(planted)).unwrap();
        }
    }

    alpha.start().unwrap();
    bravo.start().unwrap();
    await_channel(&bravo, "Alpha", "courier", "up");
    let refused = wait_until(Duration::from_secs(20), || {
        courier_counter(&bravo, "files_refused").as_u64() >= Some(6)
    });
    assert!(refused, "the five traps and the junk are reported");
    let log = std::fs::read_to_string(bravo.home.join("daemon-1.log")).unwrap();
    assert!(log.contains("[31m.bundle"), "the fourth is logged");
    assert!(!log.contains('\u{1b}'), "and escaped: {log}");
    let last = courier_counter(&bravo, "last_refused_file");
    assert!(
        last.as_str()
            .is_some_and(|s| s.starts_with(&format!("{junk_name}: "))),
        "{last}"
    );
    // Each trap was set aside without being followed or read.
    for trap in [&zero, &fifo, &private, &coloured, &unreadable] {
        let mut aside = trap.as_os_str().to_owned();
        aside.push(".rejected");
        let aside = std::path::PathBuf::from(aside);
        let metadata = std::fs::symlink_metadata(&aside).expect("set aside");
        assert_eq!(
            metadata.is_file(),
            trap == &unreadable,
            "{} is still what it was",
            aside.display()
        );
        assert!(std::fs::symlink_metadata(trap).is_err());
    }
    // Traffic flows through the same folder, and nothing outside it was touched.
    let sent = texts("through the folder", 0..5);
    send_all(&alpha, "Bravo", &sent);
    await_inbox(&bravo, "Alpha", &sent);
    assert_eq!(std::fs::read(&secret).unwrap(), b"the crown jewels");
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
    assert!(bravo.is_running() && alpha.is_running());
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}

/// A drop folder reached through a symbolic link, or with `..` in its path, is the folder it
/// resolves to: adding it again is refused, and the channel names the resolved folder.
#[test]
fn a_drop_folder_reached_by_another_path_is_one_channel() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, _bravo) = paired_without_direct(root.path());
    let real = std::fs::canonicalize(root.path()).unwrap();
    let drop = real.join("drop");
    std::fs::create_dir(&drop).unwrap();
    let link = real.join("droplink");
    std::os::unix::fs::symlink(&drop, &link).unwrap();
    let dotted = real.join("alpha").join("..").join("drop");
    alpha
        .ok(&["channel", "add", "Bravo", "courier", link.to_str().unwrap()])
        .unwrap();
    for again in [&drop, &dotted] {
        let output = alpha
            .cli(&[
                "channel",
                "add",
                "Bravo",
                "courier",
                again.to_str().unwrap(),
            ])
            .unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{error}");
        assert!(error.contains("already has the courier channel"), "{error}");
    }
    let list = alpha.json(&["channel", "list"]).unwrap();
    let shown = list.to_string();
    assert!(shown.contains(drop.to_str().unwrap()), "{shown}");
    assert!(!shown.contains("droplink"), "{shown}");
}

/// A refused bundle whose `.rejected` name is taken goes to the next free name; one that finds
/// every name taken stays where it is, and neither is read again at the next scans.
#[test]
fn a_refused_bundle_whose_rejected_name_is_taken_is_read_once() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, mut bravo) = paired_without_direct(root.path());
    let drop = root.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    bravo.fast_heartbeats().unwrap();
    bravo
        .ok(&["channel", "add", "Alpha", "courier", drop.to_str().unwrap()])
        .unwrap();
    let aside = |name: &str, n: u32| match n {
        0 => format!("{name}.rejected"),
        n => format!("{name}.rejected-{n}"),
    };
    // Two damaged bundles: the first finds two names taken, the second all sixteen.
    let first = bundle_name(&alpha, &bravo, 1);
    let second = bundle_name(&alpha, &bravo, 2);
    for (name, taken) in [(&first, 2), (&second, 16)] {
        std::fs::write(drop.join(name), b"not a bundle").unwrap();
        for n in 0..taken {
            std::fs::write(drop.join(aside(name, n)), b"set aside earlier").unwrap();
        }
    }
    bravo.start().unwrap();
    let log = bravo.home.join("daemon-1.log");
    let refusals = |name: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("bundle refused; set aside") && line.contains(name))
            .count()
    };
    let refused = wait_until(Duration::from_secs(20), || {
        refusals(&first) == 1 && refusals(&second) == 1
    });
    assert!(refused, "both are refused");
    // Ten scans later, each was still read only once.
    std::thread::sleep(Duration::from_millis(2_000));
    assert_eq!(refusals(&first), 1, "the first is read once");
    assert_eq!(refusals(&second), 1, "the second is read once");
    assert_eq!(
        std::fs::read(drop.join(aside(&first, 2))).unwrap(),
        b"not a bundle",
        "the first went to the next free name"
    );
    for n in 0..2 {
        assert_eq!(
            std::fs::read(drop.join(aside(&first, n))).unwrap(),
            b"set aside earlier",
            "what was set aside earlier is kept"
        );
    }
    assert!(std::fs::symlink_metadata(drop.join(&first)).is_err());
    assert_eq!(
        std::fs::read(drop.join(&second)).unwrap(),
        b"not a bundle",
        "with every name taken, the second stays where it is"
    );
    bravo.stop().unwrap();
}

#[test]
fn courier_import_and_transcript_verify_refuse_what_is_not_a_regular_file_at_once() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, _bravo) = paired_without_direct(root.path());
    let fifo = root.path().join("bundle.fifo");
    mkfifo(&fifo);
    let zero = root.path().join("zero.bundle");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for running in [false, true] {
        if running {
            alpha.start().unwrap();
        }
        // The operator's error (exit code 3), as for `transcript verify` below: what was
        // named is not a file to read, whoever put it there.
        for path in [&fifo, &zero] {
            let path = path.to_str().unwrap();
            assert_eq!(exit_code_within(&alpha, &["courier", "import", path]), 3);
        }
        assert_eq!(
            exit_code_within(&alpha, &["courier", "import", "/dev/zero"]),
            3
        );
        // The station was not held: it answers at once.
        assert_eq!(exit_code_within(&alpha, &["status"]), 0);
        // Whoever wrote the medium chose the name: a line break in it is shown escaped, and
        // starts no line of the error that could pass for the command's own words.
        let forged = root
            .path()
            .join("x\nfrom Alpha: 3 new envelope(s), 0 refused\n.bundle");
        mkfifo(&forged);
        let output = alpha
            .cli(&["courier", "import", forged.to_str().unwrap()])
            .unwrap();
        let error = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(3), "{error}");
        assert!(
            error
                .contains("x\\u{a}from Alpha: 3 new envelope(s), 0 refused\\u{a}.bundle is a FIFO"),
            "{error}"
        );
        assert!(
            !error.lines().any(|line| line.starts_with("from")),
            "{error}"
        );
        std::fs::remove_file(&forged).unwrap();
    }
    alpha.stop().unwrap();
    assert_eq!(
        exit_code_within(&alpha, &["transcript", "verify", "/dev/zero"]),
        3
    );
    let fifo = fifo.to_str().unwrap();
    assert_eq!(exit_code_within(&alpha, &["transcript", "verify", fifo]), 3);
    // With no daemon, nothing was left holding the station: it starts.
    alpha.start().unwrap();
    alpha.stop().unwrap();
}

#[test]
fn a_drop_folder_anyone_can_replace_files_in_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, _bravo) = paired_without_direct(root.path());
    let drop = root.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    alpha.fast_heartbeats().unwrap();
    alpha
        .ok(&["channel", "add", "Bravo", "courier", drop.to_str().unwrap()])
        .unwrap();
    std::fs::set_permissions(&drop, std::fs::Permissions::from_mode(0o777)).unwrap();
    alpha.start().unwrap();
    let reason = wait_until(Duration::from_secs(20), || {
        let status = alpha.json(&["status"]).unwrap();
        let channel = status["peers"][0]["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "courier")
            .cloned()
            .unwrap();
        channel["state"] == "down"
            && channel["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("sticky bit"))
    });
    assert!(
        reason,
        "a world-writable folder is refused, with the reason"
    );
    // The sticky bit makes it safe: only a file's owner may replace or remove it.
    std::fs::set_permissions(&drop, std::fs::Permissions::from_mode(0o1777)).unwrap();
    await_channel(&alpha, "Bravo", "courier", "up");
    alpha.stop().unwrap();
}

/// A drop folder replaced by a symbolic link while the station runs (a drive's directory, or
/// another user's doing) is not followed: the channel goes down with the reason, nothing more
/// is written where the link points, and the folder put back is used again.
#[test]
fn a_drop_folder_replaced_by_a_link_is_not_followed() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, _bravo) = paired_without_direct(root.path());
    let real = std::fs::canonicalize(root.path()).unwrap();
    let (drop, kept, elsewhere) = (real.join("drop"), real.join("kept"), real.join("elsewhere"));
    std::fs::create_dir(&drop).unwrap();
    std::fs::create_dir(&elsewhere).unwrap();
    alpha.fast_heartbeats().unwrap();
    alpha
        .ok(&["channel", "add", "Bravo", "courier", drop.to_str().unwrap()])
        .unwrap();
    alpha.start().unwrap();
    await_channel(&alpha, "Bravo", "courier", "up");
    std::fs::rename(&drop, &kept).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &drop).unwrap();
    let down = wait_until(Duration::from_secs(20), || {
        let status = alpha.json(&["status"]).unwrap();
        let channels = status["peers"][0]["channels"].as_array().unwrap().clone();
        channels.iter().any(|c| {
            c["kind"] == "courier"
                && c["state"] == "down"
                && c["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("through a symbolic link"))
        })
    });
    assert!(down, "the link is not followed, and the reason shown");
    // A scan under way when the link was put in place may have written there; none after.
    let before = std::fs::read_dir(&elsewhere).unwrap().count();
    alpha
        .ok(&["send", "Bravo", "not through the link"])
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let written = std::fs::read_dir(&elsewhere).unwrap().count();
    assert_eq!(written, before, "nothing written where the link points");
    std::fs::remove_file(&drop).unwrap();
    std::fs::rename(&kept, &drop).unwrap();
    await_channel(&alpha, "Bravo", "courier", "up");
    let bundled = wait_until(Duration::from_secs(20), || {
        std::fs::read_dir(&drop).unwrap().count() > 0
    });
    assert!(bundled, "the message goes out in the folder put back");
    alpha.stop().unwrap();
}

#[test]
fn a_station_whose_secrets_others_can_read_refuses_to_run() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, _bravo) = paired_without_direct(root.path());
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let store = alpha.home.join("store.sqlite");
    assert_eq!(mode(&store), 0o600, "the store is created private");
    assert_eq!(mode(&alpha.home.join("identity.key")), 0o600);
    assert_eq!(mode(&alpha.home), 0o700);
    alpha.start().unwrap();
    for journal in ["store.sqlite-wal", "store.sqlite-shm"] {
        let path = alpha.home.join(journal);
        assert_eq!(mode(&path), 0o600, "{journal}");
    }
    alpha.stop().unwrap();

    for (path, open) in [(store.clone(), 0o644), (alpha.home.clone(), 0o755)] {
        let private = mode(&path);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(open)).unwrap();
        let output = alpha.cli(&["run"]).unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", path.display());
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(
            error.contains("chmod") && error.contains("other users"),
            "{error}"
        );
        let send = alpha.cli(&["send", "Bravo", "x"]).unwrap();
        assert_eq!(send.status.code(), Some(1));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(private)).unwrap();
    }
    alpha.start().unwrap();
    alpha.stop().unwrap();
}

/// A station whose store was emptied (truncated, replaced by an empty file) is refused as
/// such, whether a command reads it or would write it, and the file is left as it is: a
/// writer does not make a new, empty store of it.
#[test]
fn an_emptied_store_is_refused_as_such_and_left_as_it_is() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, _bravo) = paired_without_direct(root.path());
    let store = alpha.home.join("store.sqlite");
    std::fs::write(&store, b"").unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(alpha.home.join(format!("store.sqlite{suffix}")));
    }
    for args in [&["status"][..], &["send", "Bravo", "hello"], &["run"]] {
        let output = alpha.cli(args).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr.contains("holds no parley store"),
            "{args:?}: {stderr}"
        );
        assert_eq!(std::fs::metadata(&store).unwrap().len(), 0, "{args:?}");
    }
}
