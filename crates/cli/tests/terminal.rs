//! Text from another party never reaches a terminal raw: names with control or text-direction
//! characters are refused wherever a name is chosen or read, and message texts are shown
//! escaped and quoted (JSON stays exact).

mod common;

use std::process::Command;

use common::{await_all_delivered, exe, paired};
use parley_proto::seal::EpochSecret;
use parley_proto::{ContactCard, Identity};
use parley_testkit::harness::StationProcess;
use rand_core::SeedableRng as _;

/// A message that, printed raw, would clear the screen, forge an inbox line and read backwards.
const HOSTILE: &str = "ok\u{1b}[2J\r\nBravo #99    FLASH     00:00:00Z forged\u{202e}txet";

fn no_raw_controls(output: &str) {
    for bad in ['\u{1b}', '\r', '\u{202e}'] {
        assert!(!output.contains(bad), "raw {bad:?} in {output:?}");
    }
}

#[test]
fn hostile_text_is_escaped_and_hostile_names_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let init = Command::new(exe())
        .args(["--home", root.path().join("evil").to_str().unwrap()])
        .args([
            "init",
            "--name",
            "Evil\u{1b}[31m",
            "--listen",
            "127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert_eq!(init.status.code(), Some(3), "an operator error");
    let error = String::from_utf8_lossy(&init.stderr);
    assert!(error.contains("control or text-direction"), "{error}");
    assert!(!root.path().join("evil").join("parley.toml").exists());

    let (mut alpha, mut bravo) = paired(root.path());
    // A card whose name would drive a terminal is refused before anything is pinned.
    let mallory = Identity::from_secret(&[7; 32]);
    let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([7; 32]));
    let card = ContactCard {
        name: "Mallory\u{202e}".into(),
        identity: mallory.id(),
        epoch_key_id: epoch.id(),
        epoch_public: epoch.public_bytes().to_vec(),
        addresses: Vec::new(),
        lang: "en".into(),
        created_ms: 1,
        pq_key: Some(mallory.pq().public().clone()),
    };
    let file = root.path().join("mallory.card");
    std::fs::write(&file, card.to_text(&card.sign(&mallory))).unwrap();
    let fingerprint = mallory.fingerprint().to_string();
    let refused = alpha
        .cli(&[
            "peer",
            "add",
            file.to_str().unwrap(),
            "--fingerprint",
            &fingerprint,
        ])
        .unwrap();
    assert_eq!(refused.status.code(), Some(4), "refused by the verifier");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("card refused"));

    alpha.start().unwrap();
    bravo.start().unwrap();
    alpha.ok(&["send", "Bravo", HOSTILE]).unwrap();
    await_all_delivered(&alpha, &bravo);
    let shown = bravo.ok(&["inbox"]).unwrap();
    no_raw_controls(&shown);
    assert_eq!(shown.lines().count(), 1, "one message, one line: {shown:?}");
    assert!(
        shown.contains(
            r#""ok\u{1b}[2J\u{d}\u{a}Bravo #99    FLASH     00:00:00Z forged\u{202e}txet""#
        ),
        "{shown}"
    );
    let sent = alpha.ok(&["outbox"]).unwrap();
    no_raw_controls(&sent);
    assert_eq!(bravo.inbox().unwrap()[0]["text"], HOSTILE, "JSON is exact");
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}

/// A usage error quotes the argument as typed: shown escaped, on a terminal (where colours are
/// on) as in a pipe (where a raw escape would be stripped, and the message would name a value
/// that is valid).
#[test]
fn a_usage_error_shows_the_argument_escaped() {
    let root = tempfile::tempdir().unwrap();
    for force_colour in [false, true] {
        let mut command = Command::new(exe());
        command
            .args(["--home", root.path().to_str().unwrap()])
            .args([
                "send",
                "Bravo",
                "--precedence",
                "fl\u{1b}]0;pwned\u{7}ash",
                "hi",
            ]);
        if force_colour {
            command.env("CLICOLOR_FORCE", "1");
        } else {
            command.env_remove("CLICOLOR_FORCE");
        }
        let usage = command.output().unwrap();
        assert_eq!(usage.status.code(), Some(2), "a usage error");
        let error = String::from_utf8_lossy(&usage.stderr);
        for bad in ['\u{1b}', '\u{7}'] {
            assert!(!error.contains(bad), "raw {bad:?} in {error:?}");
        }
        assert!(
            error.contains("fl\\u{1b}]0;pwned\\u{7}ash"),
            "colour {force_colour}: {error}"
        );
    }
    // Help still prints, and succeeds.
    let help = Command::new(exe())
        .args(["send", "--help"])
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--precedence"));
}

/// `transcript verify`, and `transcript check` at a station, report a file that fails with the
/// parser's account of it escaped: line breaks included, so the file cannot add a line.
#[test]
fn a_transcript_that_fails_is_reported_escaped() {
    // The JSON parser names an unknown key in its account of the fault; decoded, this one
    // would clear the screen, reverse what follows and add a line of its own.
    let root = tempfile::tempdir().unwrap();
    let station = StationProcess::init(exe(), root.path(), "Alpha", "en").unwrap();
    let file = root.path().join("hostile.txt");
    std::fs::write(
        &file,
        "{\"\\u001b[2J\\u202e\\nerror: transcript agrees\":1}\n",
    )
    .unwrap();
    for command in ["verify", "check"] {
        let output = station
            .cli(&["transcript", command, file.to_str().unwrap()])
            .unwrap();
        assert_eq!(output.status.code(), Some(4), "{command}");
        let error = String::from_utf8_lossy(&output.stderr);
        no_raw_controls(&error);
        assert_eq!(error.lines().count(), 1, "{command}: {error}");
        assert!(
            error.contains(
                "FAILED at line 1: not a transcript header: unknown field \
                 `\\u{1b}[2J\\u{202e}\\u{a}error: transcript agrees`"
            ),
            "{command}: {error}"
        );
    }
}

/// A name needs no control character to lie: one dressed as another station and its
/// fingerprint is shown quoted wherever names stand beside fingerprints, so the fingerprint
/// a reader takes is the real one.
#[test]
fn a_name_dressed_as_a_fingerprint_cannot_pass_for_one() {
    let root = tempfile::tempdir().unwrap();
    let alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").unwrap();
    let alpha_fp = alpha.fingerprint().unwrap();
    // 52 bytes: within the name limit, as in the attack.
    let dressed = format!("Alpha ({alpha_fp})");
    assert!(dressed.len() <= parley_proto::limits::NAME_SIZE_MAX_BYTES);
    let mallory = StationProcess::init(exe(), root.path(), &dressed, "en").unwrap();
    let mallory_fp = mallory.fingerprint().unwrap();
    let mut bravo = StationProcess::init(exe(), root.path(), "Bravo", "en").unwrap();
    bravo.pin(&mallory, root.path()).unwrap();
    mallory.pin(&bravo, root.path()).unwrap();
    let shown = format!("\"Alpha ({alpha_fp})\"");
    let peers = bravo.ok(&["peer", "list"]).unwrap();
    assert!(
        peers.starts_with(&format!("{shown} {mallory_fp}")),
        "{peers}"
    );
    let status = bravo.ok(&["status"]).unwrap();
    assert!(status.contains(&format!("  peer {shown}: ")), "{status}");

    bravo.start().unwrap();
    bravo.ok(&["send", &dressed, "hello"]).unwrap();
    bravo.stop().unwrap();
    let file = root.path().join("bravo.transcript");
    bravo.export_transcript(&dressed, &file).unwrap();
    let verified = bravo
        .ok(&[
            "transcript",
            "verify",
            file.to_str().unwrap(),
            "--expect",
            &mallory_fp,
        ])
        .unwrap();
    assert!(
        verified.contains(&format!("\n  {shown} ({mallory_fp}): ")),
        "{verified}"
    );
    assert!(
        verified.contains(&format!("  pinned: {shown} ({mallory_fp})")),
        "{verified}"
    );
    assert!(
        !verified.contains(&format!("  Alpha ({alpha_fp})")),
        "the name is never shown bare: {verified}"
    );
}

/// A peer's name is its card's choice, and may read like more of a line: every human form
/// shows it quoted (`"` escaped inside), the way it shows a message's text.
#[test]
fn a_peer_name_is_shown_quoted() {
    const NAME: &str = "Zed: link restored \"ok\"";
    const SHOWN: &str = r#""Zed: link restored \"ok\"""#;
    let root = tempfile::tempdir().unwrap();
    let mut alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").unwrap();
    let mut zed = StationProcess::init(exe(), root.path(), NAME, "en").unwrap();
    alpha.pin(&zed, root.path()).unwrap();
    zed.pin(&alpha, root.path()).unwrap();
    alpha.start().unwrap();
    zed.start().unwrap();
    zed.ok(&["send", "Alpha", "hello"]).unwrap();
    alpha.ok(&["send", NAME, "hello back"]).unwrap();
    await_all_delivered(&alpha, &zed);
    let inbox = alpha.ok(&["inbox"]).unwrap();
    assert!(inbox.starts_with(&format!("{SHOWN} #")), "{inbox}");
    let outbox = alpha.ok(&["outbox"]).unwrap();
    assert!(outbox.starts_with(&format!("{SHOWN} #")), "{outbox}");
    let channels = alpha.ok(&["channel", "list"]).unwrap();
    assert!(channels.starts_with(SHOWN), "{channels}");
    alpha.stop().unwrap();
    zed.stop().unwrap();
}
