//! Bad input from operators, files and the network: each refused with a clear error, counted
//! where it came from the network, and never changing what is stored.

mod common;

use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{exe, paired};
use parley_channels::{DirectConfig, DirectEndpoint, DirectError, PinnedKeys};
use parley_proto::limits::{ENVELOPE_SIZE_MAX_BYTES, TEXT_SIZE_MAX_BYTES};
use parley_proto::seal::EpochSecret;
use parley_proto::{ChannelId, ChannelKind, ContactCard, Endpoint, Identity, Keyring};
use parley_testkit::harness::{StationProcess, wait_until};
use rand_core::SeedableRng as _;
use serde_json::Value;

fn stderr_of(station: &StationProcess, args: &[&str]) -> String {
    let output = station.cli(args).expect("run parley");
    assert!(!output.status.success(), "parley {args:?} must fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn wrong_fingerprint_or_forged_card_pins_nothing() {
    let root = tempfile::tempdir().unwrap();
    let alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").unwrap();
    let bravo = StationProcess::init(exe(), root.path(), "Bravo", "en").unwrap();
    let card = bravo.card_file(root.path()).unwrap();
    let card = card.to_str().unwrap();
    let wrong = alpha.fingerprint().unwrap();
    let error = stderr_of(&alpha, &["peer", "add", card, "--fingerprint", &wrong]);
    assert!(error.contains("fingerprint mismatch"), "{error}");
    let error = stderr_of(&alpha, &["peer", "add", card, "--fingerprint", "not-hex"]);
    assert!(error.contains("is not a fingerprint"), "{error}");

    // A card whose body was altered no longer verifies under the key it names.
    let text = std::fs::read_to_string(card).unwrap();
    let forged = root.path().join("forged.card");
    std::fs::write(&forged, common::forged_card_text(&text)).unwrap();
    let fingerprint = bravo.fingerprint().unwrap();
    let error = stderr_of(
        &alpha,
        &[
            "peer",
            "add",
            forged.to_str().unwrap(),
            "--fingerprint",
            &fingerprint,
        ],
    );
    assert!(error.contains("card refused"), "{error}");
    let truncated = root.path().join("truncated.card");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let error = stderr_of(
        &alpha,
        &[
            "peer",
            "add",
            truncated.to_str().unwrap(),
            "--fingerprint",
            &fingerprint,
        ],
    );
    assert!(error.contains("card refused"), "{error}");
    assert_eq!(alpha.json(&["peer", "list"]).unwrap(), Value::Array(vec![]));

    // The right fingerprint pins; a second time is refused.
    alpha
        .ok(&["peer", "add", card, "--fingerprint", &fingerprint])
        .unwrap();
    let error = stderr_of(
        &alpha,
        &["peer", "add", card, "--fingerprint", &fingerprint],
    );
    assert!(error.contains("already paired"), "{error}");
    assert_eq!(
        alpha
            .json(&["peer", "list"])
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn operator_errors_are_clear_and_store_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, _bravo) = paired(root.path());
    for running in [false, true] {
        if running {
            alpha.start().unwrap();
        }
        let before = alpha.outbox().unwrap().len();
        let over = "x".repeat(TEXT_SIZE_MAX_BYTES + 1);
        let error = stderr_of(&alpha, &["send", "Bravo", &over]);
        assert!(error.contains("over the limit"), "{error}");
        let error = stderr_of(&alpha, &["send", "Nobody", "hello"]);
        assert!(error.contains("unknown peer"), "{error}");
        let error = stderr_of(&alpha, &["send", "Bravo", ""]);
        assert!(error.contains("empty"), "{error}");
        assert_eq!(alpha.outbox().unwrap().len(), before, "nothing stored");
        let at_limit = "y".repeat(TEXT_SIZE_MAX_BYTES);
        alpha.ok(&["send", "Bravo", &at_limit]).unwrap();
        assert_eq!(alpha.outbox().unwrap().len(), before + 1);
    }
    alpha.stop().unwrap();
}

/// `courier export` and `transcript export` write a new file, or replace an earlier export of
/// their kind; anything else at the path (the station's key, store or lock, an empty file, a
/// FIFO, a device, a directory, a symbolic link, any other file) is refused before anything is exported and left
/// as it was. What they write is readable by its owner only.
#[test]
fn exports_replace_only_earlier_exports_and_are_private() {
    use std::os::unix::fs::PermissionsExt as _;

    let root = tempfile::tempdir().unwrap();
    let (alpha, _bravo) = paired(root.path());
    alpha.ok(&["send", "Bravo", "for the record"]).unwrap();
    let dir = root.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let fifo = dir.join("fifo");
    common::mkfifo(&fifo);
    let other = dir.join("notes.txt");
    std::fs::write(&other, "an operator's notes").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&other, &link).unwrap();
    let key = alpha.home.join("identity.key");
    let store = alpha.home.join("store.sqlite");
    // The station's lock, empty, as the daemon holds it (replaced, a second writer could
    // take the store beside the daemon).
    let lock = alpha.home.join("daemon.lock");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&lock)
        .unwrap();
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let (key_before, store_len) = (
        std::fs::read(&key).unwrap(),
        std::fs::metadata(&store).unwrap().len(),
    );
    for kind in ["courier", "transcript"] {
        let export = |out: &std::path::Path| {
            alpha
                .cli(&[kind, "export", "Bravo", "--out", out.to_str().unwrap()])
                .unwrap()
        };
        for (target, expected) in [
            (key.as_path(), "is not a"),
            (store.as_path(), "is not a"),
            (lock.as_path(), "is an empty file"),
            (empty.as_path(), "mktemp -d"),
            (other.as_path(), "is not a"),
            (fifo.as_path(), "FIFO"),
            (Path::new("/dev/null"), "device"),
            (dir.as_path(), "directory"),
            (link.as_path(), "symbolic link"),
        ] {
            let output = export(target);
            let error = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(3),
                "{kind} export to {target:?}: {error}"
            );
            assert!(
                error.contains(expected) && error.contains("nothing was exported"),
                "{error}"
            );
        }
        let fresh = dir.join(format!("{kind}.out"));
        for round in ["new", "replacing the earlier one"] {
            let output = export(&fresh);
            assert!(
                output.status.success(),
                "{kind} export, {round}: {output:?}"
            );
            let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{kind} export, {round}");
        }
        // The path named back is escaped: a terminal control in it is shown, not obeyed.
        let hostile = dir.join(format!("{kind}\u{1b}[31mred\u{7}"));
        let output = export(&hostile);
        assert!(output.status.success(), "{output:?}");
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(
            !said.contains('\u{1b}') && !said.contains('\u{7}'),
            "{said:?}"
        );
    }
    assert_eq!(std::fs::read(&key).unwrap(), key_before);
    assert_eq!(std::fs::metadata(&store).unwrap().len(), store_len);
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        "an operator's notes"
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    alpha.ok(&["status"]).unwrap();
}

/// On a medium both stations write to, `courier export` replaces only a bundle its own station
/// wrote: the peer's bundle under that name, not yet imported, is left as it is, and so is one
/// that begins as a bundle but cannot be read whole (still being copied).
#[test]
fn a_courier_export_leaves_the_peer_s_bundle_in_place() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, bravo) = paired(root.path());
    bravo.ok(&["send", "Alpha", "for Alpha"]).unwrap();
    let medium = root.path().join("medium");
    std::fs::create_dir(&medium).unwrap();
    let shared = medium.join("hotline.bundle");
    let export = |station: &StationProcess, peer: &str| {
        station
            .cli(&["courier", "export", peer, "--out", shared.to_str().unwrap()])
            .unwrap()
    };
    assert!(export(&bravo, "Alpha").status.success());
    let bravo_s = std::fs::read(&shared).unwrap();
    let output = export(&alpha, "Bravo");
    let error = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{error}");
    assert!(
        error.contains("written by another station") && error.contains("nothing was exported"),
        "{error}"
    );
    assert_eq!(std::fs::read(&shared).unwrap(), bravo_s, "left as it was");
    // Half of it, as a copy in progress leaves it.
    std::fs::write(&shared, &bravo_s[..bravo_s.len() / 2]).unwrap();
    let error = String::from_utf8_lossy(&export(&alpha, "Bravo").stderr).into_owned();
    assert!(error.contains("cannot be read whole as one"), "{error}");
    assert_eq!(
        std::fs::read(&shared).unwrap(),
        bravo_s[..bravo_s.len() / 2]
    );
    // Once the peer's bundle is imported and gone, Alpha's own earlier bundle is replaced.
    std::fs::write(&shared, &bravo_s).unwrap();
    alpha
        .ok(&["courier", "import", shared.to_str().unwrap()])
        .unwrap();
    std::fs::remove_file(&shared).unwrap();
    for round in ["new", "replacing its own"] {
        let output = export(&alpha, "Bravo");
        assert!(output.status.success(), "{round}: {output:?}");
    }
    assert_ne!(std::fs::read(&shared).unwrap(), bravo_s);
}

/// `transcript export` replaces only a transcript its own station exported of the same link:
/// the peer's export under that name (perhaps the only copy of a record lost here, which
/// `transcript recover` would take back) is left as it is, and so is one cut short.
#[test]
fn a_transcript_export_leaves_the_peer_s_transcript_in_place() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, bravo) = paired(root.path());
    alpha.ok(&["send", "Bravo", "for the record"]).unwrap();
    let shared = root.path().join("hotline.transcript");
    let export = |station: &StationProcess, peer: &str| {
        station
            .cli(&[
                "transcript",
                "export",
                peer,
                "--out",
                shared.to_str().unwrap(),
            ])
            .unwrap()
    };
    assert!(export(&bravo, "Alpha").status.success());
    let bravo_s = std::fs::read(&shared).unwrap();
    let cut = bravo_s
        .split(|b| *b == b'\n')
        .take(2)
        .collect::<Vec<_>>()
        .join(&b'\n');
    for (held, expected) in [
        (&bravo_s, "holds a transcript written by another station"),
        (&cut, "holds a transcript that cannot be read whole as one"),
    ] {
        std::fs::write(&shared, held).unwrap();
        let output = export(&alpha, "Bravo");
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{error}");
        assert!(
            error.contains(expected) && error.contains("nothing was exported"),
            "{error}"
        );
        assert_eq!(&std::fs::read(&shared).unwrap(), held, "left as it was");
    }
    // Its own station's export of the link is replaced.
    std::fs::write(&shared, &bravo_s).unwrap();
    let output = export(&bravo, "Alpha");
    assert!(output.status.success(), "{output:?}");
}

/// The files of a station's home are read as hostile files are: a FIFO or a device in place
/// of the key or the configuration is refused at once (it hung, or was read without end), a
/// name edited into the configuration is held to the name rule, and a directory that holds no
/// station is named as such, with nothing created in it.
#[test]
fn a_home_s_files_are_read_as_hostile_files() {
    let root = tempfile::tempdir().unwrap();
    let alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").unwrap();
    let fails = |args: &[&str], want: &str| {
        let output = alpha.cli(args).unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && error.contains(want),
            "{args:?}: {error}"
        );
        assert!(!error.contains('\u{1b}'), "escaped: {error}");
    };
    for file in ["identity.key", "parley.toml"] {
        let path = alpha.home.join(file);
        let kept = root.path().join(file);
        std::fs::rename(&path, &kept).unwrap();
        common::mkfifo(&path);
        fails(&["card"], "is a FIFO, not a regular file");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        fails(&["card"], "is a symbolic link");
        std::fs::remove_file(&path).unwrap();
        std::fs::rename(&kept, &path).unwrap();
    }
    let config = alpha.home.join("parley.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let edited = text.replace("name = \"Alpha\"", "name = \"Alpha\\u001b[31m\"");
    assert_ne!(edited, text);
    std::fs::write(&config, edited).unwrap();
    fails(&["card"], "the station name holds a control");
    std::fs::write(&config, text).unwrap();
    alpha.ok(&["card"]).unwrap();

    let elsewhere = root.path().join("empty");
    std::fs::create_dir(&elsewhere).unwrap();
    let nowhere = elsewhere.to_str().unwrap();
    for args in [&["send", "Bravo", "hi"][..], &["status"], &["fingerprint"]] {
        let output = std::process::Command::new(exe())
            .args(["--home", nowhere])
            .args(args)
            .output()
            .unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {error}");
        assert!(error.contains("no station in"), "{error}");
    }
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing created"
    );
    let invisible = std::process::Command::new(exe())
        .args(["--home", nowhere, "init", "--name", "Alpha\u{200b}"])
        .output()
        .unwrap();
    assert_eq!(invisible.status.code(), Some(3));
    let error = String::from_utf8_lossy(&invisible.stderr);
    assert!(error.contains("invisible character"), "{error}");
}

/// A home is the running user's own: `init` takes a new directory or an empty one of the
/// user's, never one another user made first (its owner could replace the configuration that
/// names the programs alarms run) nor one that holds files (`chmod` would close `/tmp` to
/// everyone), for a station and a relay alike; and a station whose configuration another user
/// owns, or another group or everyone can write, is not opened. Each refused with nothing
/// changed. Giving a file away needs root; elsewhere those steps are skipped.
#[test]
fn a_home_is_the_running_user_s_own() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    let root = tempfile::tempdir().unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let init = |home: &Path, relay: bool| {
        let home = home.to_str().unwrap();
        let args: &[&str] = if relay {
            &["relay", "--home", home, "init", "--name", "Relay"]
        } else {
            &["--home", home, "init", "--name", "Alpha"]
        };
        let output = std::process::Command::new(exe())
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("someone's"), b"x").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    for relay in [false, true] {
        let (code, error) = init(&shared, relay);
        assert_eq!(code, Some(3), "{error}");
        assert!(error.contains("is not empty"), "{error}");
        assert_eq!(mode(&shared), 0o1777, "left open to all");
        assert_eq!(
            std::fs::read_dir(&shared).unwrap().count(),
            1,
            "nothing created"
        );
    }
    // A configuration others can write is refused; one its owner's own group can write (as a
    // umask of 002 leaves it) is not.
    let alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").unwrap();
    let config = alpha.home.join("parley.toml");
    let set_mode = |mode: u32| {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    // A local failure, as a home others can read is (exit code 1).
    let refused = |want: &str| {
        let output = alpha.cli(&["key", "rotate"]).unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{error}");
        assert!(error.contains(want), "{error}");
    };
    set_mode(0o646);
    refused("can change this station's configuration");
    set_mode(0o664);
    alpha.ok(&["key", "rotate"]).unwrap();
    let root_runs = std::fs::metadata(root.path()).unwrap().uid() == 0;
    if !root_runs {
        eprintln!("skipped: giving a directory or a file to another user needs root");
        return;
    }
    // Another group's write, another user's file.
    let nobody = 65_534;
    std::os::unix::fs::chown(&config, None, Some(nobody)).unwrap();
    refused("can change this station's configuration");
    std::os::unix::fs::chown(&config, Some(nobody), Some(0)).unwrap();
    refused("belongs to user 65534");
    std::os::unix::fs::chown(&config, Some(0), None).unwrap();
    alpha.ok(&["key", "rotate"]).unwrap();
    let theirs = root.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(nobody), Some(nobody)).unwrap();
    for relay in [false, true] {
        let (code, error) = init(&theirs, relay);
        assert_eq!(code, Some(3), "{error}");
        assert!(error.contains("belongs to user 65534"), "{error}");
        assert_eq!(
            std::fs::read_dir(&theirs).unwrap().count(),
            0,
            "nothing created"
        );
        assert_eq!(std::fs::metadata(&theirs).unwrap().uid(), nobody);
    }
}

/// A relay reads a card to admit, and its own files, as hostile files: a FIFO or a device is
/// refused at once (`relay admit` of a FIFO hung); its store is its owner's alone.
#[test]
fn a_relay_s_files_are_read_as_hostile_files() {
    use std::os::unix::fs::PermissionsExt as _;

    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("relay");
    let relay = |args: &[&str]| {
        std::process::Command::new(exe())
            .args(["relay", "--home", home.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    assert!(relay(&["init", "--name", "Relay"]).status.success());
    let mode = std::fs::metadata(home.join("relay.sqlite"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "relay.sqlite is {mode:o}");
    let fifo = root.path().join("card.fifo");
    common::mkfifo(&fifo);
    for (card, want) in [(fifo.to_str().unwrap(), "FIFO"), ("/dev/zero", "device")] {
        let output = relay(&["admit", card, "--fingerprint", "00"]);
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{error}");
        assert!(error.contains(want), "{error}");
    }
    let config = home.join("relay.toml");
    std::fs::remove_file(&config).unwrap();
    common::mkfifo(&config);
    let output = relay(&["serve", "--listen", "127.0.0.1:0"]);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && error.contains("is a FIFO"),
        "{error}"
    );
}

#[test]
fn corrupted_transcript_fails_naming_the_first_bad_entry() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, _bravo) = paired(root.path());
    for i in 0..5 {
        alpha.ok(&["send", "Bravo", &format!("note {i}")]).unwrap();
    }
    let file = root.path().join("t.txt");
    alpha.export_transcript("Bravo", &file).unwrap();
    alpha
        .ok(&["transcript", "verify", file.to_str().unwrap()])
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Line 6 is Alpha's entry 3 (header, two cards, then Alpha's entries).
    let mut bad = lines[5].to_owned();
    let at = bad.len() - 20;
    let flipped = if &bad[at..at + 1] == "A" { "B" } else { "A" };
    bad.replace_range(at..at + 1, flipped);
    let mut corrupted = lines.clone();
    corrupted[5] = &bad;
    std::fs::write(&file, corrupted.join("\n")).unwrap();
    let error = stderr_of(&alpha, &["transcript", "verify", file.to_str().unwrap()]);
    assert!(
        error.contains("line 6 (entry 3: author Alpha seq 3)"),
        "{error}"
    );
    let mut reordered = lines.clone();
    reordered.swap(4, 5);
    std::fs::write(&file, reordered.join("\n")).unwrap();
    let error = stderr_of(&alpha, &["transcript", "verify", file.to_str().unwrap()]);
    assert!(error.contains("line 5 (entry 2"), "{error}");
    std::fs::write(&file, &text[..text.len() / 3]).unwrap();
    assert!(
        !alpha
            .cli(&["transcript", "verify", file.to_str().unwrap()])
            .unwrap()
            .status
            .success()
    );
}

/// A frame that Alpha's identity would send to Bravo: Alpha's key announcement made afresh,
/// so it is seq 1 again with a different id.
fn fresh_frame(identity: &Identity, bravo_card: &ContactCard, seed: u8) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([seed; 32]);
    let keyring = Keyring::new(EpochSecret::generate(&mut rng));
    let mut endpoint = Endpoint::new(identity.clone(), keyring, [seed; 32]);
    let now = parley_station::clock::utc_now_ms();
    endpoint
        .pair(now, bravo_card.identity, bravo_card.epoch_public.clone())
        .unwrap();
    let link = endpoint.link_mut(&bravo_card.identity).unwrap();
    link.add_channel(ChannelId(0), ChannelKind::Direct);
    link.set_channel_up(now, ChannelId(0), true);
    endpoint.take_writes();
    endpoint.handle_timeout(now);
    // Its first envelope (the key announcement); a receipt of nothing goes first.
    std::iter::from_fn(|| endpoint.poll_transmit())
        .map(|(_, transmit)| transmit.frame.to_vec())
        .find(|frame| frame.first() == Some(&parley_proto::frame::TAG_ENVELOPE))
        .unwrap()
}

fn bravo_counts(bravo: &StationProcess) -> (Value, Value) {
    let status = bravo.json(&["status"]).unwrap();
    (status["rejected"].clone(), status["alarms"].clone())
}

#[test]
fn hostile_frames_are_rejected_counted_and_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    alpha.ok(&["send", "Bravo", "genuine"]).unwrap();
    common::await_all_delivered(&alpha, &bravo);
    alpha.stop().unwrap();
    let inbox_before = bravo.inbox().unwrap();

    let alpha_identity = parley_station::Home::new(&alpha.home).identity().unwrap();
    let bravo_card_text = bravo.ok(&["card"]).unwrap();
    let (bravo_card, _) = ContactCard::from_text(&bravo_card_text).unwrap();
    let mallory = Identity::from_secret(&[66; 32]);
    let genuine_shape = fresh_frame(&alpha_identity, &bravo_card, 1);
    let mut flipped = genuine_shape.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let truncated = genuine_shape[..genuine_shape.len() - 100].to_vec();
    let mut oversized = vec![1u8];
    oversized.resize(ENVELOPE_SIZE_MAX_BYTES + 2, 0);
    let unpinned = fresh_frame(&mallory, &bravo_card, 2);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // A hostile peer's endpoint, free to send frames a station must refuse.
        let config = DirectConfig {
            frame_size_max_bytes: 2 * ENVELOPE_SIZE_MAX_BYTES,
            ..DirectConfig::default()
        };
        let any = "127.0.0.1:0".parse().unwrap();
        let as_alpha = Arc::new(
            DirectEndpoint::bind(
                alpha_identity.signing_key(),
                any,
                PinnedKeys::default(),
                &config,
            )
            .unwrap(),
        );
        let connection = as_alpha
            .connect(bravo.listen, bravo_card.identity.0)
            .await
            .unwrap();
        // A frame over the limit stops the stream it came on: it goes on one of its own.
        let mut stopped = connection.open_sender().await.unwrap();
        // Bravo may stop the stream on reading the length, before the rest is written.
        match stopped.send(&oversized).await {
            Ok(()) | Err(DirectError::StreamWrite(_)) => {}
            Err(error) => panic!("sending the oversized frame: {error}"),
        }
        let _ = stopped.finish();
        let mut sender = connection.open_sender().await.unwrap();
        let empty = Vec::new();
        for frame in [&flipped, &truncated, &unpinned, &empty, &genuine_shape] {
            sender.send(frame).await.unwrap();
        }
        sender.finish().unwrap();
        // An unpinned station cannot even complete a connection.
        let as_mallory =
            DirectEndpoint::bind(mallory.signing_key(), any, PinnedKeys::default(), &config)
                .unwrap();
        if let Ok(connection) = as_mallory
            .connect(bravo.listen, bravo_card.identity.0)
            .await
        {
            let _ = tokio::time::timeout(Duration::from_secs(5), connection.closed()).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    });

    let counted = wait_until(Duration::from_secs(10), || {
        let (rejected, alarms) = bravo_counts(&bravo);
        let frames = &rejected["frames"];
        frames["bad_signature"] == 1
            && frames["malformed"] == 1
            && frames["oversized"] == 1
            && frames["unknown_sender"] == 1
            && frames["unknown_frame"] == 1
            && rejected["handshakes"].as_u64() >= Some(1)
            && alarms["open"] == 1
    });
    let status = bravo.json(&["status"]).unwrap();
    assert!(counted, "rejections not counted as expected: {status:#}");
    let alarm = &status["alarms"]["recent"][0];
    assert_eq!(alarm["kind"], "equivocation");
    // The fields a status alarm had before alarms had a life: the seq of the evidence and
    // when it was seen; and how much evidence was found.
    assert_eq!(alarm["subject"], format!("seq {}", alarm["seq"]));
    assert!(alarm["seq"].as_u64().is_some(), "{alarm:#}");
    assert_eq!(alarm["time_ms"], alarm["raised_at_ms"]);
    assert_eq!(
        status["alarms"]["total"], 1,
        "one piece of evidence: {status:#}"
    );
    assert_eq!(
        status["peers"][0]["counters"]["rejected"]["equivocation"],
        1
    );
    assert_eq!(
        bravo.inbox().unwrap(),
        inbox_before,
        "nothing stored from hostile frames"
    );
    bravo.stop().unwrap();
    // The alarm is durable: visible with the daemon stopped.
    let status = bravo.json(&["status"]).unwrap();
    assert_eq!(status["alarms"]["open"], 1);
    let alarms = bravo.json(&["alarms"]).unwrap();
    assert_eq!(alarms[0]["kind"], "equivocation");
    assert_eq!(alarms[0]["state"], "open");
}

/// A `daemon.lock` that is not a regular file is refused at once, with what to do, and nothing
/// is written: a FIFO (opening it would block every command), a symbolic link (followed, it
/// would create a file where it points).
#[test]
fn a_lock_that_is_not_a_regular_file_is_refused_at_once() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, _bravo) = paired(root.path());
    let lock = alpha.home.join("daemon.lock");
    let _ = std::fs::remove_file(&lock);
    let elsewhere = root.path().join("made-by-the-lock");
    let fifo = |lock: &Path| common::mkfifo(lock);
    let link = |lock: &Path| std::os::unix::fs::symlink(&elsewhere, lock).unwrap();
    for make in [&fifo as &dyn Fn(&Path), &link] {
        make(&lock);
        let started = std::time::Instant::now();
        let output = alpha.cli(&["send", "Bravo", "through a bad lock"]).unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(
            error.contains("cannot be used as the station's lock") && error.contains("remove it"),
            "{error}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(!elsewhere.exists(), "nothing made where the link points");
        std::fs::remove_file(&lock).unwrap();
    }
    let outbox = alpha.json(&["outbox"]).unwrap();
    let sent = outbox.as_array().map_or(0, Vec::len);
    alpha.ok(&["send", "Bravo", "through a good lock"]).unwrap();
    let outbox = alpha.json(&["outbox"]).unwrap();
    assert_eq!(
        outbox.as_array().map_or(0, Vec::len),
        sent + 1,
        "nothing sent before"
    );
}
