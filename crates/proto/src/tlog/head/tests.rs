//! A link log's checkpoint entries: witnesses' and stations' cosignatures as they read from
//! their lines, stock witnesses' verifier keys, and the post-quantum cosignature.

use crate::tlog::note;
use crate::tlog::root;
use crate::tlog::tests::leaves;

#[test]
fn a_witness_cosignature_reads_from_its_line_and_never_passes_for_a_station_s() {
    use super::{Cosignature, SignedHead, Witness, WitnessCosignature};
    use crate::id::Identity;

    let (alpha, bravo, relay) = (
        Identity::from_secret(&[1; 32]),
        Identity::from_secret(&[2; 32]),
        Identity::from_secret(&[3; 32]),
    );
    let (a, b) = (alpha.id(), bravo.id());
    let head = SignedHead::sign(&alpha, &b, 5, root(&leaves(5)));
    let by = WitnessCosignature::sign(&relay, (&a, &b), head, 1_800_000_000);
    assert_eq!(by.verify(&a, &b), Ok(()));
    // Read back from the line a witness answers.
    let note = by.note(&a, &b);
    let line = note.lines().last().map(|line| format!("{line}\n")).unwrap();
    assert_eq!(
        WitnessCosignature::from_line((&a, &b), head, &Witness::relay(&relay.id()), &line),
        Ok(by)
    );
    // Another relay's key, or another head, does not read.
    let other = Identity::from_secret(&[4; 32]).id();
    assert!(WitnessCosignature::from_line((&a, &b), head, &Witness::relay(&other), &line).is_err());
    let longer = SignedHead::sign(&alpha, &b, 6, root(&leaves(6)));
    assert!(
        WitnessCosignature::from_line((&a, &b), longer, &Witness::relay(&relay.id()), &line)
            .is_err()
    );
    // A time of 0 is refused (a witness's cosignature always carries one).
    let untimed = WitnessCosignature::sign(&relay, (&a, &b), head, 0);
    let line = format!("{}\n", untimed.note(&a, &b).lines().last().unwrap());
    assert!(
        WitnessCosignature::from_line((&a, &b), head, &Witness::relay(&relay.id()), &line).is_err()
    );
    // Bravo's cosignature as a station signs the same message under its key: copied into a
    // witness's cosignature naming Bravo's key, it is refused, as is any witness key that is
    // one of the two stations'.
    let cosigned = Cosignature::sign(&bravo, &a, head, 1_800_000_000);
    let copied = WitnessCosignature {
        head,
        witness: Witness::relay(&b),
        time_s: cosigned.time_s,
        signature: cosigned.signature,
    };
    assert!(copied.verify(&a, &b).is_err());
    let by_alpha = WitnessCosignature::sign(&alpha, (&a, &b), head, 1_800_000_000);
    assert!(by_alpha.verify(&a, &b).is_err());
    let line = format!("{}\n", by_alpha.note(&a, &b).lines().last().unwrap());
    assert!(WitnessCosignature::from_line((&a, &b), head, &Witness::relay(&a), &line).is_err());
}

/// A stock witness is named by its verifier key (`c2sp.org/tlog-cosignature`, type 0x04): it
/// reads back as written, and every way a verifier key can be wrong is refused with its reason.
#[test]
fn a_stock_witness_s_verifier_key_reads_and_every_bad_one_is_refused() {
    use super::Witness;
    use super::note::{KEY_NAME_SIZE_MAX_BYTES, cosigner_verifier_key, verifier_key};
    use crate::id::Identity;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    let key = Identity::from_secret(&[7; 32]);
    let public = key.signing_key().verifying_key();
    let vkey = cosigner_verifier_key("witness.example/w1", &public);
    let witness = Witness::from_verifier_key(&vkey).unwrap();
    assert_eq!(&*witness.name, "witness.example/w1");
    assert_eq!(witness.key, key.id());
    assert_eq!(witness.verifier_key(), vkey);
    assert!(!witness.is_relay());
    assert!(Witness::relay(&key.id()).is_relay());
    // A key whose base64 holds a `+` reads: only the first two `+` separate the parts.
    let plus = (0..=255u8)
        .map(|seed| Identity::from_secret(&[seed; 32]))
        .find(|key| {
            let vkey = cosigner_verifier_key("w", &key.signing_key().verifying_key());
            vkey.matches('+').count() > 2
        })
        .expect("a key whose base64 holds a plus");
    let vkey_plus = cosigner_verifier_key("w", &plus.signing_key().verifying_key());
    assert_eq!(
        Witness::from_verifier_key(&vkey_plus).unwrap().key,
        plus.id()
    );
    // A relay's own verifier key names that relay.
    let relay_vkey = Witness::relay(&key.id()).verifier_key();
    assert_eq!(
        Witness::from_verifier_key(&relay_vkey),
        Ok(Witness::relay(&key.id()))
    );
    // The longest name reads; one byte more does not.
    let longest = "n".repeat(KEY_NAME_SIZE_MAX_BYTES);
    let vkey_longest = cosigner_verifier_key(&longest, &public);
    assert_eq!(
        &*Witness::from_verifier_key(&vkey_longest).unwrap().name,
        longest
    );
    let over = cosigner_verifier_key(&format!("{longest}n"), &public);
    let (_, id, typed) = {
        let mut parts = vkey.split('+');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    let small_order = cosigner_verifier_key(
        "w",
        &ed25519_dalek::VerifyingKey::from_bytes(&identity_point).unwrap(),
    );
    for (bad, reason) in [
        (over.as_str(), "over 255 bytes"),
        ("witness.example", "three parts"),
        (&format!("{vkey}+x"), "not base64"),
        (&format!("wrong.name+{id}+{typed}"), "key id is not the one"),
        (&format!("witness.example/w1+{id}+!!"), "not base64"),
        (
            &verifier_key("witness.example/w1", &public),
            "not of a cosignature/v1",
        ),
        (
            &format!(
                "witness.example/w1+{id}+{}",
                BASE64.encode([&[4u8][..], &public.to_bytes()[..31]].concat())
            ),
            "not 32 bytes",
        ),
        (&small_order, "not a canonical point of large order"),
        (
            &cosigner_verifier_key("t\u{e9}moin", &public),
            "not printable ASCII",
        ),
        (&cosigner_verifier_key("a b", &public), "holds a space"),
        (
            &cosigner_verifier_key(
                &super::witness(&Identity::from_secret(&[8; 32]).id()),
                &public,
            ),
            "in parley's names",
        ),
        (
            &cosigner_verifier_key("PARLEY.station/x", &public),
            "in parley's names",
        ),
    ] {
        let error = Witness::from_verifier_key(bad).unwrap_err().to_string();
        assert!(error.contains(reason), "{bad}: {error}");
    }
}

/// A stock witness's cosignature reads from its line under its own name and key, and a
/// relay's line (another name, so another key id) does not read as that witness's.
#[test]
fn a_stock_witness_s_cosignature_reads_under_its_own_name() {
    use super::{SignedHead, Witness, WitnessCosignature};
    use crate::id::Identity;

    let (alpha, bravo, key) = (
        Identity::from_secret(&[1; 32]),
        Identity::from_secret(&[2; 32]),
        Identity::from_secret(&[3; 32]),
    );
    let (a, b) = (alpha.id(), bravo.id());
    let head = SignedHead::sign(&alpha, &b, 5, root(&leaves(5)));
    let stock = Witness {
        name: "witness.example/w1".into(),
        key: key.id(),
    };
    let by = WitnessCosignature::sign_as(&key, stock.clone(), (&a, &b), head, 1_800_000_000);
    assert_eq!(by.verify(&a, &b), Ok(()));
    let note = by.note(&a, &b);
    assert!(note.contains("\n\u{2014} witness.example/w1 "), "{note}");
    let line = format!("{}\n", note.lines().last().unwrap());
    assert_eq!(
        WitnessCosignature::from_line((&a, &b), head, &stock, &line),
        Ok(by.clone())
    );
    let as_relay = WitnessCosignature::sign(&key, (&a, &b), head, 1_800_000_000);
    let relay_line = format!("{}\n", as_relay.note(&a, &b).lines().last().unwrap());
    assert!(WitnessCosignature::from_line((&a, &b), head, &stock, &relay_line).is_err());
    // An Ed25519 cosignature does not commit to its name: renamed, it still verifies under
    // the same key. The key is what is trusted, so every display of a witness's cosignature
    // shows its verifier key, not its name alone.
    let mut renamed = by;
    renamed.witness.name = "witness.example/w2".into();
    assert!(renamed.verify(&a, &b).is_ok());
    renamed.witness.key = alpha.id();
    assert!(renamed.verify(&a, &b).is_err());
}

/// A station's cosignature carries its ML-DSA-44 signature of the checkpoint (`subtree/v1`
/// under its cosigner name, at the cosignature's time): it verifies only by the cosigner's
/// key, at that time, of that head; one without it is refused where one is required; and the
/// author's own ML-DSA-44 signature of the head does not pass for the cosigner's.
#[test]
fn a_cosignature_carries_the_cosigner_s_ml_dsa_signature() {
    use super::{Cosignature, PqHeadSignature, SignedHead, cosigner};
    use crate::id::Identity;

    let (alpha, bravo) = (
        Identity::from_secret(&[1; 32]),
        Identity::from_secret(&[2; 32]),
    );
    let (a, b) = (alpha.id(), bravo.id());
    let head = SignedHead::sign(&alpha, &b, 5, root(&leaves(5)));
    let cosigned = Cosignature::sign(&bravo, &a, head, 1_800_000_000);
    let key = bravo.pq().public();
    assert!(cosigned.pq.is_some());
    assert_eq!(cosigned.verify_pq((&a, &b), key), Ok(()));
    assert_eq!(cosigned.verify_both((&a, &b), (Some(key), true)), Ok(()));
    // Its note carries both lines, each opening by its own key.
    let note = cosigned.note((&a, &b), Some(key));
    let (checkpoint, time_s) = note::open_pq_cosigned(&note, &cosigner(&b), key).unwrap();
    assert_eq!((checkpoint.size, time_s), (5, 1_800_000_000));
    let ed25519 = b.verifying_key().unwrap();
    assert_eq!(
        note::open_cosigned(&note, &cosigner(&b), &ed25519).map(|(_, t)| t),
        Ok(1_800_000_000)
    );
    // Another key, another time or another head: refused.
    assert!(cosigned.verify_pq((&a, &b), alpha.pq().public()).is_err());
    let mut later = cosigned.clone();
    later.time_s += 1;
    assert!(later.verify_pq((&a, &b), key).is_err());
    let mut other_head = cosigned.clone();
    other_head.head = SignedHead::sign(&alpha, &b, 6, root(&leaves(6)));
    assert!(other_head.verify_pq((&a, &b), key).is_err());
    // Without it: refused where required, taken where not, or where the key is not known.
    let classical = Cosignature::sign_classical(&bravo, &a, head, 1_800_000_000);
    assert!(classical.verify_both((&a, &b), (Some(key), true)).is_err());
    assert_eq!(classical.verify_both((&a, &b), (Some(key), false)), Ok(()));
    assert_eq!(classical.verify_both((&a, &b), (None, true)), Ok(()));
    // A bad one is refused even where none is required.
    let mut bent = cosigned.clone();
    bent.pq = Some(PqHeadSignature::sign(&alpha, &b, &head));
    assert!(bent.verify_both((&a, &b), (Some(key), false)).is_err());
    assert!(bent.verify_pq((&a, &b), alpha.pq().public()).is_err());
}
