//! The facilitator's side: `parley relay init/fingerprint/card/admit/list/revoke` run as real
//! processes, and the relay home they act on. Every refused command changes nothing.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

use common::exe;
use parley_proto::ContactCard;
use parley_relay::RelayHome;
use parley_relay::server::now_ms;
use parley_testkit::harness::StationProcess;

fn relay(home: &Path, args: &[&str]) -> Output {
    std::process::Command::new(exe())
        .arg("--home")
        .arg(home)
        .arg("relay")
        .args(args)
        .env_remove("PARLEY_HOME")
        .output()
        .expect("runs parley")
}

fn ok(home: &Path, args: &[&str]) -> String {
    let output = relay(home, args);
    assert!(
        output.status.success(),
        "relay {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn error_of(home: &Path, args: &[&str]) -> String {
    let output = relay(home, args);
    assert!(!output.status.success(), "relay {args:?} must fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn names(home: &RelayHome) -> Vec<(String, bool)> {
    home.list()
        .expect("lists")
        .into_iter()
        .map(|(station, _)| (station.name, station.revoked_ms.is_some()))
        .collect()
}

#[test]
fn init_creates_a_private_home_with_a_verifiable_card() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("relay");
    ok(&root, &["init", "--name", "UN Relay"]);
    let home = RelayHome::new(&root);
    let mode = |file: &str| {
        std::fs::metadata(root.join(file))
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700);
    assert_eq!(mode("identity.key"), 0o600);

    let (card, signed) = home.card().expect("card is made");
    let text = card.to_text(&signed);
    let (parsed, _) = ContactCard::from_text(&text).expect("the card verifies");
    let identity = home.identity().expect("identity reads");
    assert_eq!(parsed.identity, identity.id());
    assert_eq!(parsed.name, "UN Relay");
    assert_eq!(parsed.lang, "en");
    assert!(text.contains(&identity.fingerprint().to_string()));
    // The card is stable: the same bytes every time.
    assert_eq!(home.card().expect("card is made").1, signed);
    let fingerprint = ok(&root, &["fingerprint"]);
    assert_eq!(fingerprint.trim(), identity.fingerprint().to_string());
    assert_eq!(ok(&root, &["card"]), text);

    let error = error_of(&root, &["init", "--name", "Again"]);
    assert!(error.contains("already holds a relay"), "{error}");
    assert_eq!(home.identity().expect("unchanged").id(), identity.id());
    // What an init stopped part way leaves (the store, before the key and relay.toml) is
    // named, and neither taken over nor replaced.
    let part_way = dir.path().join("part-way");
    std::fs::create_dir(&part_way).expect("created");
    std::fs::copy(root.join("relay.sqlite"), part_way.join("relay.sqlite")).expect("copied");
    let error = error_of(&part_way, &["init", "--name", "Again"]);
    assert!(
        error.contains("holds relay.sqlite but no whole relay")
            && error.contains("stopped part way"),
        "{error}"
    );
    let left: Vec<_> = std::fs::read_dir(&part_way).expect("lists").collect();
    assert_eq!(left.len(), 1, "nothing was changed");
    let error = error_of(&dir.path().join("blank"), &["init", "--name", " "]);
    assert!(error.contains("not blank"), "{error}");
    let error = error_of(&dir.path().join("nothing"), &["fingerprint"]);
    assert!(error.contains("is not a relay home"), "{error}");
}

#[test]
fn admission_checks_card_and_fingerprint_and_revocation_is_recorded() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("relay");
    ok(&root, &["init", "--name", "Relay"]);
    let home = RelayHome::new(&root);
    let alpha = StationProcess::init(exe(), dir.path(), "Alpha", "en").expect("init");
    let card = alpha.card_file(dir.path()).expect("card");
    let card = card.to_str().expect("UTF-8 path");
    let text = std::fs::read_to_string(card).expect("card reads");
    let alpha_fp = alpha.fingerprint().expect("fingerprint");
    let admit = |card: &str, fingerprint: &str| {
        relay(&root, &["admit", card, "--fingerprint", fingerprint])
    };
    let stderr = |output: Output| {
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };

    let other_root = dir.path().join("other");
    let other = StationProcess::init(exe(), &other_root, "Other", "en").expect("init");
    let error = stderr(admit(card, &other.fingerprint().expect("fingerprint")));
    assert!(error.contains("fingerprint mismatch"), "{error}");
    let error = stderr(admit(card, "not-hex"));
    assert!(error.contains("is not a fingerprint"), "{error}");
    let truncated = dir.path().join("truncated.card");
    std::fs::write(&truncated, &text[..text.len() / 2]).expect("written");
    let error = stderr(admit(truncated.to_str().expect("UTF-8"), &alpha_fp));
    assert!(error.contains("card refused"), "{error}");
    // One base64 character changed: the signature no longer verifies.
    let forged = dir.path().join("forged.card");
    std::fs::write(&forged, common::forged_card_text(&text)).expect("written");
    let error = stderr(admit(forged.to_str().expect("UTF-8"), &alpha_fp));
    assert!(error.contains("card refused"), "{error}");
    assert!(names(&home).is_empty(), "nothing was admitted");

    assert!(admit(card, &alpha_fp).status.success(), "admits");
    assert_eq!(names(&home), [("Alpha".to_owned(), false)]);
    let error = stderr(admit(card, &alpha_fp));
    assert!(error.contains("already admitted"), "{error}");
    let impostor_root = dir.path().join("impostor");
    let impostor = StationProcess::init(exe(), &impostor_root, "Alpha", "en").expect("init");
    let impostor_card = impostor.card_file(&impostor_root).expect("card");
    let error = stderr(admit(
        impostor_card.to_str().expect("UTF-8"),
        &impostor.fingerprint().expect("fingerprint"),
    ));
    assert!(error.contains("already admitted as Alpha"), "{error}");
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&root, &["list", "--json"])).expect("JSON");
    assert_eq!(listed[0]["name"], "Alpha");
    assert_eq!(listed[0]["fingerprint"], alpha_fp);
    assert!(ok(&root, &["list"]).contains("Alpha"));

    ok(&root, &["revoke", "Alpha"]);
    assert_eq!(names(&home), [("Alpha".to_owned(), true)]);
    let error = error_of(&root, &["revoke", "Alpha"]);
    assert!(error.contains("already revoked"), "{error}");
    let error = error_of(&root, &["revoke", "Zulu"]);
    assert!(error.contains("no station named Zulu"), "{error}");
    // A revoked station may be admitted again.
    home.admit(&text, &alpha_fp, now_ms()).expect("re-admits");
    assert_eq!(names(&home), [("Alpha".to_owned(), false)]);

    // A card damaged in the store is not listed under another fingerprint: the store is
    // corrupt (exit 1), in text and in JSON.
    let store = rusqlite::Connection::open(root.join("relay.sqlite")).expect("opens");
    let mut card: Vec<u8> = store
        .query_row("SELECT card FROM stations", [], |row| row.get(0))
        .expect("one card");
    *card.last_mut().expect("a card") ^= 1;
    store
        .execute("UPDATE stations SET card = ?1", [card])
        .expect("updates");
    drop(store);
    for args in [&["list"][..], &["list", "--json"]] {
        let output = relay(&root, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(
            error.contains("corrupt") && error.contains("\"Alpha\""),
            "{error}"
        );
    }
}

#[test]
fn relay_toml_is_validated() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let home = RelayHome::new(dir.path());
    home.init("Relay", now_ms()).expect("initialises");
    let config = std::fs::read_to_string(home.path("relay.toml")).expect("reads");
    let check = |text: &str, expect: &str| {
        std::fs::write(home.path("relay.toml"), text).expect("writes");
        let error = home.config().expect_err("invalid config").to_string();
        assert!(error.contains(expect), "{error} lacks {expect}");
    };
    check(&format!("{config}\nunknown = 1\n"), "unknown field");
    check(
        &config.replace("deposit_frames_max = 64", "deposit_frames_max = 0"),
        "deposit_frames_max = 0 is outside",
    );
    check(
        &config.replace("urls = []", "urls = [\"http://plain\"]"),
        "must start with https://",
    );
    std::fs::write(
        home.path("relay.toml"),
        config.replace("urls = []", "urls = [\"https://relay.example:7400\"]"),
    )
    .expect("writes");
    let (card, _) = home.card().expect("card is made");
    assert_eq!(card.addresses, ["https://relay.example:7400"]);
}
