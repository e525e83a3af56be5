//! The process exit codes, one per class of error (docs/cli.md has the table), each produced by
//! a real command. Code 6 (`stopping`) needs a daemon stopping under a command: `api.rs`
//! produces it with `watch` following a daemon that stops.

mod common;

use std::process::Command;

use common::{exe, paired};
use parley_testkit::harness::StationProcess;

/// Exit codes as documented.
const OK: i32 = 0;
const LOCAL: i32 = 1;
const USAGE: i32 = 2;
const OPERATOR: i32 = 3;
const REFUSED: i32 = 4;
const UNREACHABLE: i32 = 5;

fn code_of(station: &StationProcess, args: &[&str]) -> i32 {
    station
        .cli(args)
        .expect("runs")
        .status
        .code()
        .expect("exited")
}

fn bare(args: &[&str]) -> i32 {
    Command::new(exe())
        .args(args)
        .env_remove("PARLEY_HOME")
        .output()
        .expect("runs")
        .status
        .code()
        .expect("exited")
}

#[test]
fn every_class_of_error_has_its_exit_code() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, bravo) = paired(root.path());

    assert_eq!(bare(&["--version"]), OK);
    assert_eq!(bare(&["--help"]), OK);
    assert_eq!(code_of(&alpha, &["send", "Bravo", "hello"]), OK);

    assert_eq!(bare(&["frobnicate"]), USAGE);
    assert_eq!(bare(&["send"]), USAGE);
    assert_eq!(
        code_of(&alpha, &["send", "Bravo", "--precedence", "urgent", "x"]),
        USAGE
    );

    // Operator errors, with the daemon stopped and running alike.
    for running in [false, true] {
        if running {
            alpha.start().unwrap();
        }
        assert_eq!(code_of(&alpha, &["send", "Nobody", "hello"]), OPERATOR);
        assert_eq!(code_of(&alpha, &["send", "Bravo", ""]), OPERATOR);
        let card = bravo.card_file(root.path()).unwrap();
        let card = card.to_str().unwrap();
        assert_eq!(
            code_of(&alpha, &["peer", "add", card, "--fingerprint", "not-hex"]),
            OPERATOR
        );
        // Refused by the verifier: a card that is not the fingerprint's.
        let wrong = alpha.fingerprint().unwrap();
        assert_eq!(
            code_of(&alpha, &["peer", "add", card, "--fingerprint", &wrong]),
            REFUSED
        );
        let garbage = root.path().join("garbage.bundle");
        std::fs::write(&garbage, b"not a bundle").unwrap();
        assert_eq!(
            code_of(&alpha, &["courier", "import", garbage.to_str().unwrap()]),
            REFUSED
        );
        // A path that names no regular file is the operator's error, as for every file a
        // command reads; only a bundle read and refused is the peer's.
        let link = root.path().join("link.bundle");
        let fifo = root.path().join("fifo.bundle");
        if !running {
            std::os::unix::fs::symlink(&garbage, &link).unwrap();
            common::mkfifo(&fifo);
        }
        for named in [&link, &fifo, &root.path().to_path_buf()] {
            let named = named.to_str().unwrap();
            assert_eq!(
                code_of(&alpha, &["courier", "import", named]),
                OPERATOR,
                "{named}"
            );
            assert_eq!(
                code_of(&alpha, &["codebook", "propose", "Bravo", named]),
                OPERATOR,
                "{named}"
            );
        }
    }
    alpha.stop().unwrap();

    // A transcript that does not verify.
    let transcript = root.path().join("t.txt");
    alpha.export_transcript("Bravo", &transcript).unwrap();
    let text = std::fs::read_to_string(&transcript).unwrap();
    std::fs::write(
        &transcript,
        text.replacen("\"entry\":\"", "\"entry\":\"A", 1),
    )
    .unwrap();
    assert_eq!(
        bare(&["transcript", "verify", transcript.to_str().unwrap()]),
        REFUSED
    );

    // Local failures: a file that cannot be written, a configuration that does not read.
    let nowhere = root.path().join("no/such/dir/x.bundle");
    assert_eq!(
        code_of(
            &alpha,
            &[
                "courier",
                "export",
                "Bravo",
                "--out",
                nowhere.to_str().unwrap()
            ]
        ),
        LOCAL
    );
    let config = alpha.home.join("parley.toml");
    let saved = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{saved}\nunknown = 1\n")).unwrap();
    assert_eq!(code_of(&alpha, &["status"]), LOCAL);
    std::fs::write(&config, saved).unwrap();

    // The station lock held as by a daemon, but no daemon answering.
    let home = parley_station::Home::new(&alpha.home);
    let lock = home.try_lock().unwrap().expect("free");
    assert_eq!(code_of(&alpha, &["send", "Bravo", "hello"]), UNREACHABLE);
    assert_eq!(code_of(&alpha, &["status"]), UNREACHABLE);
    drop(lock);
    assert_eq!(code_of(&alpha, &["status"]), OK);

    // The relay's own commands follow the same table.
    let relay = root.path().join("relay");
    assert_eq!(
        bare(&[
            "--home",
            relay.to_str().unwrap(),
            "relay",
            "init",
            "--name",
            "R"
        ]),
        OK
    );
    assert_eq!(
        bare(&["--home", relay.to_str().unwrap(), "relay", "revoke", "Zulu"]),
        OPERATOR
    );
    let card = bravo.card_file(root.path()).unwrap();
    assert_eq!(
        bare(&[
            "--home",
            relay.to_str().unwrap(),
            "relay",
            "admit",
            card.to_str().unwrap(),
            "--fingerprint",
            &alpha.fingerprint().unwrap(),
        ]),
        REFUSED
    );
    let empty = root.path().join("empty");
    assert_eq!(
        bare(&["--home", empty.to_str().unwrap(), "relay", "fingerprint"]),
        OPERATOR
    );
}

/// A reader that closed standard output ends the command quietly with the code of a command
/// ended by SIGPIPE: no panic, no backtrace.
#[test]
fn a_closed_output_ends_the_command_quietly() {
    const OUTPUT_CLOSED: i32 = 141;
    let root = tempfile::tempdir().unwrap();
    let (alpha, _bravo) = paired(root.path());
    // Printed with `println!` and written with `write!`.
    for args in [&["peer", "list"][..], &["audit"], &["audit", "--json"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(exe())
            .arg("--home")
            .arg(&alpha.home)
            .args(args)
            .env_remove("PARLEY_HOME")
            .stdout(writer)
            .output()
            .unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(OUTPUT_CLOSED),
            "{args:?}: {error}"
        );
        assert!(error.is_empty(), "{args:?}: {error}");
    }
}

/// Another command holding the station lock for a moment on a stopped station is no daemon:
/// a command waits for the lock (as `parley run` does) instead of failing as unreachable.
#[test]
fn a_command_waits_for_the_lock_another_command_holds_for_a_moment() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, _bravo) = paired(root.path());
    let lock = std::fs::File::options()
        .write(true)
        .open(alpha.home.join("daemon.lock"))
        .unwrap();
    lock.lock().unwrap();
    let held = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(400));
        drop(lock);
    });
    assert_eq!(code_of(&alpha, &["send", "Bravo", "while locked"]), OK);
    assert_eq!(code_of(&alpha, &["status"]), OK);
    held.join().unwrap();
    assert_eq!(code_of(&alpha, &["send", "Bravo", "after"]), OK);
}
