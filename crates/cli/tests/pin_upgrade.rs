//! A peer pinned from its version 1 card is upgraded in place by `peer add` of its version 2
//! card, with the fingerprint checked when it was paired: real processes and the real key
//! file.

mod common;

use common::exe;
use parley_proto::{ContactCard, Identity};
use parley_testkit::harness::StationProcess;

/// The fingerprint `peer list --json` shows for the one peer of `station`.
fn listed_fingerprint(station: &StationProcess) -> String {
    let peers = station.json(&["peer", "list"]).expect("peer list");
    peers[0]["fingerprint"]
        .as_str()
        .expect("a fingerprint")
        .to_owned()
}

#[test]
fn a_version_1_pin_is_replaced_by_the_version_2_card_in_place() {
    let root = tempfile::tempdir().expect("tempdir");
    let alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").expect("init Alpha");
    let bravo = StationProcess::init(exe(), root.path(), "Bravo", "en").expect("init Bravo");
    // Bravo's card as a build before post-quantum keys issued it: the same card without the
    // ML-DSA-44 key, signed by Bravo's identity key.
    let (v2, _) = ContactCard::from_text(&bravo.ok(&["card"]).expect("card")).expect("a card");
    let secret: [u8; 32] = std::fs::read(bravo.home.join("identity.key"))
        .expect("the key file")
        .try_into()
        .expect("32 bytes");
    let v1 = ContactCard {
        pq_key: None,
        ..v2.clone()
    };
    let v1_text = v1.to_text(&v1.sign(&Identity::from_secret(&secret)));
    let v1_path = root.path().join("bravo-v1.card");
    std::fs::write(&v1_path, v1_text).expect("write");
    let v2_path = bravo.card_file(root.path()).expect("card file");
    let (v1_fp, v2_fp) = (v1.fingerprint().to_string(), v2.fingerprint().to_string());
    assert_ne!(v1_fp, v2_fp);

    let add = |path: &std::path::Path, fingerprint: &str| {
        alpha
            .cli(&[
                "peer",
                "add",
                path.to_str().expect("UTF-8"),
                "--fingerprint",
                fingerprint,
            ])
            .expect("runs")
    };
    let paired = add(&v1_path, &v1_fp);
    assert!(paired.status.success(), "{paired:?}");
    assert_eq!(listed_fingerprint(&alpha), v1_fp);

    // The version 2 card, with the fingerprint checked at pairing.
    let replaced = add(&v2_path, &v1_fp);
    let stdout = String::from_utf8_lossy(&replaced.stdout);
    assert!(replaced.status.success(), "{replaced:?}");
    assert!(
        stdout.contains("\"Bravo\": its version 2 card (with its post-quantum key) replaces")
            && stdout.contains(&format!("fingerprint {v2_fp} (was {v1_fp})")),
        "{stdout}"
    );
    assert_eq!(listed_fingerprint(&alpha), v2_fp);

    // Once version 2, a pin is not replaced again: already paired, exit 3, nothing changed.
    for (path, fingerprint) in [(&v2_path, &v2_fp), (&v1_path, &v1_fp)] {
        let again = add(path, fingerprint);
        assert_eq!(again.status.code(), Some(3), "{again:?}");
        assert!(
            String::from_utf8_lossy(&again.stderr).contains("already paired"),
            "{again:?}"
        );
    }
    assert_eq!(listed_fingerprint(&alpha), v2_fp);
}
