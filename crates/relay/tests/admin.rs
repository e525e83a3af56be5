//! The operator's side: `parley relay init/fingerprint/card/admit/list/revoke` through
//! `parley_relay::cli::run` and the home they act on. Every refused command changes nothing.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::Station;
use parley_proto::ContactCard;
use parley_relay::RelayHome;
use parley_relay::cli::{RelayCommand, run};
use parley_relay::server::now_ms;

fn error_of(home: &Path, command: RelayCommand) -> String {
    let outcome = run(home, command.clone());
    match outcome {
        Ok(()) => panic!("{command:?} must fail"),
        Err(error) => format!("{error:#}"),
    }
}

fn admit(home: &Path, card: &Path, fingerprint: &str) -> anyhow::Result<()> {
    run(
        home,
        RelayCommand::Admit {
            file: card.to_path_buf(),
            fingerprint: fingerprint.to_owned(),
        },
    )
}

fn names(home: &RelayHome) -> Vec<(String, bool)> {
    home.list()
        .expect("lists")
        .into_iter()
        .map(|station| (station.name, station.revoked_ms.is_some()))
        .collect()
}

#[test]
fn init_creates_a_private_home_with_a_verifiable_card() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("relay");
    run(
        &root,
        RelayCommand::Init {
            name: "UN Relay".into(),
        },
    )
    .expect("initialises");
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
    assert!(text.contains(&identity.id().fingerprint().to_string()));
    // The card is stable: the same bytes every time.
    assert_eq!(home.card().expect("card is made").1, signed);
    run(&root, RelayCommand::Fingerprint).expect("prints the fingerprint");
    run(&root, RelayCommand::Card).expect("prints the card");

    let error = error_of(
        &root,
        RelayCommand::Init {
            name: "Again".into(),
        },
    );
    assert!(error.contains("already holds a relay"), "{error}");
    assert_eq!(home.identity().expect("unchanged").id(), identity.id());
    let error = error_of(
        &dir.path().join("blank"),
        RelayCommand::Init { name: " ".into() },
    );
    assert!(error.contains("not blank"), "{error}");
    let error = error_of(&dir.path().join("nothing"), RelayCommand::Fingerprint);
    assert!(error.contains("is not a relay home"), "{error}");
}

#[test]
fn admission_checks_card_and_fingerprint_and_revocation_is_recorded() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("relay");
    run(
        &root,
        RelayCommand::Init {
            name: "Relay".into(),
        },
    )
    .expect("initialises");
    let home = RelayHome::new(&root);
    let alpha = Station::new("Alpha", 1);
    let card = dir.path().join("alpha.card");
    let text = alpha.card_text();
    std::fs::write(&card, &text).expect("card written");

    let other = Station::new("Other", 2);
    let error = admit(&root, &card, &other.fingerprint()).expect_err("wrong fingerprint");
    assert!(
        format!("{error:#}").contains("fingerprint mismatch"),
        "{error:#}"
    );
    let error = admit(&root, &card, "not-hex").expect_err("not a fingerprint");
    assert!(
        format!("{error:#}").contains("is not a fingerprint"),
        "{error:#}"
    );
    let truncated = dir.path().join("truncated.card");
    std::fs::write(&truncated, &text[..text.len() / 2]).expect("written");
    let error = admit(&root, &truncated, &alpha.fingerprint()).expect_err("truncated card");
    assert!(format!("{error:#}").contains("card refused"), "{error:#}");
    // One base64 character changed: the signature no longer verifies.
    let line = text.lines().nth(3).expect("a body line");
    let flipped: String = line
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 40 {
                if c == 'Q' { 'R' } else { 'Q' }
            } else {
                c
            }
        })
        .collect();
    let forged = dir.path().join("forged.card");
    std::fs::write(&forged, text.replace(line, &flipped)).expect("written");
    let error = admit(&root, &forged, &alpha.fingerprint()).expect_err("forged card");
    assert!(format!("{error:#}").contains("card refused"), "{error:#}");
    assert!(names(&home).is_empty(), "nothing was admitted");

    admit(&root, &card, &alpha.fingerprint()).expect("admits");
    assert_eq!(names(&home), [("Alpha".to_owned(), false)]);
    let error = admit(&root, &card, &alpha.fingerprint()).expect_err("twice");
    assert!(
        format!("{error:#}").contains("already admitted"),
        "{error:#}"
    );
    let impostor = Station::new("Alpha", 3);
    let impostor_card = dir.path().join("impostor.card");
    std::fs::write(&impostor_card, impostor.card_text()).expect("written");
    let error = admit(&root, &impostor_card, &impostor.fingerprint()).expect_err("name taken");
    assert!(
        format!("{error:#}").contains("already admitted as Alpha"),
        "{error:#}"
    );
    run(&root, RelayCommand::List { json: true }).expect("lists");
    run(&root, RelayCommand::List { json: false }).expect("lists");

    run(
        &root,
        RelayCommand::Revoke {
            name: "Alpha".into(),
        },
    )
    .expect("revokes");
    assert_eq!(names(&home), [("Alpha".to_owned(), true)]);
    let error = error_of(
        &root,
        RelayCommand::Revoke {
            name: "Alpha".into(),
        },
    );
    assert!(error.contains("already revoked"), "{error}");
    let error = error_of(
        &root,
        RelayCommand::Revoke {
            name: "Zulu".into(),
        },
    );
    assert!(error.contains("no station named Zulu"), "{error}");
    // A revoked station may be admitted again.
    home.admit(&text, &alpha.fingerprint(), now_ms())
        .expect("re-admits");
    assert_eq!(names(&home), [("Alpha".to_owned(), false)]);
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
