//! Trees against RFC 6962's published roots and every proof of small trees; notes against the
//! signed-note specification's example.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;

use super::note::{self, Checkpoint, NoteError};
use super::*;

/// The leaves of the test tree of RFC 6962's reference implementation
/// (`merkle_tree_test.cc`), as hex.
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// That test's roots of the trees of the first 1 to 8 of those leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
        .collect()
}

#[test]
fn roots_are_rfc_6962s() {
    let leaves: Vec<Hash> = LEAVES
        .iter()
        .map(|data| leaf_hash(&hex::decode(data).unwrap()))
        .collect();
    for (n, expected) in ROOTS.iter().enumerate() {
        assert_eq!(
            hex::encode(root(&leaves[..=n])),
            *expected,
            "{} leaves",
            n + 1
        );
    }
    assert_eq!(
        hex::encode(root(&[])),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "the empty tree's root is SHA-256 of nothing"
    );
}

#[test]
fn every_leaf_of_every_small_tree_is_proven_included_and_nothing_else_is() {
    for n in 1..=33 {
        let leaves = leaves(n);
        let root = root(&leaves);
        for index in 0..n {
            let proof = inclusion_proof(&leaves, index).unwrap();
            let (i, size) = (index as u64, n as u64);
            assert!(
                verify_inclusion(&leaves[index], i, size, &proof, &root),
                "{index} of {n}"
            );
            // Another leaf, place or root, or any hash of the proof changed: refused. (A size
            // alone is not bound by a path: a checkpoint states size and root together.)
            let other = leaf_hash(b"not in the log");
            assert!(!verify_inclusion(&other, i, size, &proof, &root));
            assert!(!verify_inclusion(
                &leaves[index],
                i + 1,
                size,
                &proof,
                &root
            ));
            assert!(!verify_inclusion(&leaves[index], i, size, &proof, &other));
            for at in 0..proof.len() {
                let mut bent = proof.clone();
                bent[at][0] ^= 1;
                assert!(!verify_inclusion(&leaves[index], i, size, &bent, &root));
            }
            let mut longer = proof.clone();
            longer.push(other);
            assert!(!verify_inclusion(&leaves[index], i, size, &longer, &root));
        }
        assert_eq!(inclusion_proof(&leaves, n), None);
    }
}

#[test]
fn every_prefix_of_every_small_tree_is_proven_consistent_and_nothing_else_is() {
    for n in 1..=33 {
        let leaves = leaves(n);
        let new_root = root(&leaves);
        for m in 1..=n {
            let old_root = root(&leaves[..m]);
            let proof = consistency_proof(&leaves, m).unwrap();
            let (old, new) = (m as u64, n as u64);
            assert!(
                verify_consistency((old, &old_root), (new, &new_root), &proof),
                "{m} in {n}"
            );
            let other = leaf_hash(b"another history");
            assert!(!verify_consistency((old, &other), (new, &new_root), &proof));
            assert!(!verify_consistency((old, &old_root), (new, &other), &proof));
            if m < n {
                assert!(!verify_consistency(
                    (old + 1, &old_root),
                    (new, &new_root),
                    &proof
                ));
                assert!(!verify_consistency((old, &old_root), (new, &new_root), &[]));
            }
            for at in 0..proof.len() {
                let mut bent = proof.clone();
                bent[at][31] ^= 1;
                assert!(!verify_consistency(
                    (old, &old_root),
                    (new, &new_root),
                    &bent
                ));
            }
        }
        // A history rewritten under the same size is consistent with nothing it replaced.
        let mut forked = leaves.clone();
        forked[n / 2] = leaf_hash(b"rewritten");
        let forked_root = root(&forked);
        for m in (n / 2 + 1)..n {
            let proof = consistency_proof(&forked, m).unwrap();
            let old_root = root(&leaves[..m]);
            assert!(!verify_consistency(
                (m as u64, &old_root),
                (n as u64, &forked_root),
                &proof
            ));
        }
        assert_eq!(consistency_proof(&leaves, 0), None);
        assert_eq!(consistency_proof(&leaves, n + 1), None);
    }
    let empty = root(&[]);
    assert!(verify_consistency((0, &empty), (5, &root(&leaves(5))), &[]));
    assert!(!verify_consistency(
        (0, &leaf_hash(b"x")),
        (5, &root(&leaves(5))),
        &[]
    ));
    assert!(!verify_consistency(
        (5, &root(&leaves(5))),
        (4, &root(&leaves(4))),
        &[]
    ));
}

/// The example of the signed-note specification (and of Go's `sumdb/note`): PeterNeumann's
/// key, its verifier key and the note it signs.
const EXAMPLE_PRIVATE_KEY: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const EXAMPLE_VERIFIER_KEY: &str =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const EXAMPLE_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                            then you don't know what your problem is.\n";
const EXAMPLE_NOTE_SIGNATURE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

/// The bytes of the first signature line of `note` (key id, then signature).
fn key_line_bytes(note: &str) -> Vec<u8> {
    let line = note
        .lines()
        .find(|line| line.starts_with('\u{2014}'))
        .unwrap();
    BASE64.decode(line.rsplit_once(' ').unwrap().1).unwrap()
}

fn example_key() -> SigningKey {
    let typed = BASE64.decode(EXAMPLE_PRIVATE_KEY).unwrap();
    assert_eq!(typed[0], 0x01, "an Ed25519 key");
    SigningKey::from_bytes(&typed[1..].try_into().unwrap())
}

#[test]
fn notes_are_signed_exactly_as_the_specification_shows() {
    let key = example_key();
    assert_eq!(
        note::verifier_key("PeterNeumann", &key.verifying_key()),
        EXAMPLE_VERIFIER_KEY
    );
    let signed = note::sign(EXAMPLE_TEXT, "PeterNeumann", &key).unwrap();
    assert_eq!(signed, format!("{EXAMPLE_TEXT}\n{EXAMPLE_NOTE_SIGNATURE}"));
    assert_eq!(
        note::open(&signed, "PeterNeumann", &key.verifying_key()),
        Ok(EXAMPLE_TEXT)
    );
    // Its text, read without a key; a note out of form is refused as such.
    assert_eq!(note::text(&signed), Ok(EXAMPLE_TEXT));
    for bad in [
        EXAMPLE_TEXT.to_owned(),
        format!("{EXAMPLE_TEXT}\n— x\n"),
        format!("{EXAMPLE_TEXT}\n"),
    ] {
        assert!(
            matches!(note::text(&bad), Err(NoteError::Malformed(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn a_note_is_refused_unless_the_expected_key_signed_exactly_its_text() {
    let key = example_key();
    let public = key.verifying_key();
    let other = SigningKey::from_bytes(&[9; 32]);
    let signed = note::sign(EXAMPLE_TEXT, "PeterNeumann", &key).unwrap();
    // Cosigned: the peer's line added; each key finds its own.
    let cosigned = format!(
        "{signed}{}",
        note::signature_line(EXAMPLE_TEXT, "Bravo", &other)
    );
    assert_eq!(
        note::open(&cosigned, "PeterNeumann", &public),
        Ok(EXAMPLE_TEXT)
    );
    assert_eq!(
        note::open(&cosigned, "Bravo", &other.verifying_key()),
        Ok(EXAMPLE_TEXT)
    );
    assert_eq!(
        note::open(&signed, "Bravo", &other.verifying_key()),
        Err(NoteError::Unsigned("Bravo".into()))
    );
    let changed = signed.replacen("problem", "question", 1);
    assert_eq!(
        note::open(&changed, "PeterNeumann", &public),
        Err(NoteError::BadSignature("PeterNeumann".into()))
    );
    let twice = format!("{signed}{EXAMPLE_NOTE_SIGNATURE}");
    assert!(matches!(
        note::open(&twice, "PeterNeumann", &public),
        Err(NoteError::Malformed(_))
    ));
    for broken in [
        EXAMPLE_TEXT.to_owned(),
        signed.trim_end().to_owned(),
        signed.replace('\u{2014}', "-"),
        signed.replace("PeterNeumann x08", "PeterNeumann  x08"),
        format!("{EXAMPLE_TEXT}\n\u{2014} PeterNeumann !!!\n"),
        format!("bell\u{7}\n\n{EXAMPLE_NOTE_SIGNATURE}"),
        "x".repeat(note::NOTE_SIZE_MAX_BYTES + 1),
    ] {
        assert!(
            matches!(
                note::open(&broken, "PeterNeumann", &public),
                Err(NoteError::Malformed(_))
            ),
            "{broken:?}"
        );
    }
    // A line by the expected key that is not a whole signature is a bad signature, even
    // beside a good one.
    let short = &key_line_bytes(&signed)[..4 + 32];
    let truncated = format!("{signed}\u{2014} PeterNeumann {}\n", BASE64.encode(short));
    assert_eq!(
        note::open(&truncated, "PeterNeumann", &public),
        Err(NoteError::Malformed("two signatures by the same key"))
    );
    let alone = format!(
        "{EXAMPLE_TEXT}\n\u{2014} PeterNeumann {}\n",
        BASE64.encode(short)
    );
    assert_eq!(
        note::open(&alone, "PeterNeumann", &public),
        Err(NoteError::BadSignature("PeterNeumann".into()))
    );
    // Another key's name, however long, is only read; a control character anywhere is not.
    let long = "n".repeat(note::KEY_NAME_SIZE_MAX_BYTES + 1);
    let foreign = format!("{signed}\u{2014} {long} AAAAAAA=\n");
    assert_eq!(
        note::open(&foreign, "PeterNeumann", &public),
        Ok(EXAMPLE_TEXT)
    );
    let controlled = format!("{signed}\u{2014} Other\u{1} AAAAAAA=\n");
    assert!(matches!(
        note::open(&controlled, "PeterNeumann", &public),
        Err(NoteError::Malformed(_))
    ));
    assert!(note::sign(EXAMPLE_TEXT, &long, &key).is_err());
    assert!(note::sign("no newline", "PeterNeumann", &key).is_err());
    assert!(note::sign(EXAMPLE_TEXT, "Peter Neumann", &key).is_err());
    assert!(note::sign(EXAMPLE_TEXT, "Peter+Neumann", &key).is_err());
}

#[test]
fn checkpoints_read_back_as_written_and_refuse_what_is_not_one() {
    let checkpoint = Checkpoint {
        origin: "parley.link/0123456789abcdef/Alpha".into(),
        size: 42,
        root: root(&leaves(42)),
    };
    let text = checkpoint.text().unwrap();
    assert_eq!(text.lines().count(), 3);
    assert_eq!(Checkpoint::parse(&text), Ok(checkpoint.clone()));
    let extended = format!("{text}extension\n");
    assert_eq!(Checkpoint::parse(&extended), Ok(checkpoint.clone()));
    let key = SigningKey::from_bytes(&[3; 32]);
    let signed = note::sign(&text, "Alpha", &key).unwrap();
    let opened = note::open(&signed, "Alpha", &key.verifying_key()).unwrap();
    assert_eq!(Checkpoint::parse(opened), Ok(checkpoint));
    let root = BASE64.encode([7u8; 32]);
    for bad in [
        format!("\n42\n{root}\n"),
        format!("origin\n042\n{root}\n"),
        format!("origin\n-1\n{root}\n"),
        format!("origin\n4 2\n{root}\n"),
        format!("origin\n18446744073709551616\n{root}\n"),
        "origin\n42\nAAAA\n".to_owned(),
        "origin\n42\n".to_owned(),
        format!("origin\n42\n{root}"),
        format!("origin\n42\n{root}\n\n"),
    ] {
        assert!(
            matches!(Checkpoint::parse(&bad), Err(NoteError::NotACheckpoint(_))),
            "{bad:?}"
        );
    }
    assert!(Checkpoint::parse(&format!("origin\n0\n{root}\n")).is_ok());
    for origin in ["", "two\nlines", "bell\u{7}"] {
        let bad = Checkpoint {
            origin: origin.into(),
            size: 1,
            root: [0; 32],
        };
        assert!(bad.text().is_err(), "{origin:?}");
    }
}

/// The checkpoint the cosignature tests sign: `example.org/log` at size 7.
fn example_log_checkpoint() -> Checkpoint {
    Checkpoint {
        origin: "example.org/log".into(),
        size: 7,
        root: root(&leaves(7)),
    }
}

/// The ML-DSA-44 cosignature (`subtree/v1`): its bytes as the specification lays them out, and
/// refused by another key, another name, a bent byte, a second line by the same key, or a
/// time past 2^63 - 1.
#[test]
fn an_ml_dsa_cosignature_verifies_only_by_its_key_under_its_name_over_its_checkpoint() {
    let log = SigningKey::from_bytes(&[1; 32]);
    let cosigner = crate::pq::PqSigningKey::from_identity_seed(&[2; 32]);
    let public = cosigner.public();
    let checkpoint = example_log_checkpoint();
    let text = checkpoint.text().unwrap();
    let signed = note::sign(&text, "example.org/log", &log).unwrap();
    let line =
        note::pq_cosignature_line(&checkpoint, "example.org/w", &cosigner, 1_679_315_147).unwrap();
    let cosigned = format!("{signed}{line}");
    assert_eq!(
        note::open_pq_cosigned(&cosigned, "example.org/w", public),
        Ok((checkpoint.clone(), 1_679_315_147))
    );
    assert_eq!(
        note::open(&cosigned, "example.org/log", &log.verifying_key()),
        Ok(text.as_str()),
        "the log's own signature still verifies beside it"
    );
    // Bytes: key id with type 0x06 over the 1312-byte key, the time big-endian, 2420 bytes.
    let bytes = BASE64
        .decode(line.trim_end().rsplit_once(' ').unwrap().1)
        .unwrap();
    assert_eq!(bytes.len(), 4 + 8 + 2420);
    let mut typed = b"example.org/w\n\x06".to_vec();
    typed.extend_from_slice(public.as_bytes());
    assert_eq!(bytes[..4], crate::id::sha256(&[&typed])[..4]);
    assert_eq!(
        bytes[..4],
        note::pq_cosigner_key_id("example.org/w", public)
    );
    assert_eq!(bytes[4..12], 1_679_315_147u64.to_be_bytes());
    // The message: label, name and origin each with a one-byte length, time, start 0, end
    // the size, then the root.
    let mut message = b"subtree/v1\n\0".to_vec();
    message.push(13);
    message.extend_from_slice(b"example.org/w");
    message.extend_from_slice(&1_679_315_147u64.to_be_bytes());
    message.push(15);
    message.extend_from_slice(b"example.org/log");
    message.extend_from_slice(&0u64.to_be_bytes());
    message.extend_from_slice(&7u64.to_be_bytes());
    message.extend_from_slice(&checkpoint.root);
    assert!(
        public.verify(&message, b"", &bytes[12..]),
        "FIPS 204, empty context"
    );

    let unsigned = |name: &str| Err(NoteError::Unsigned(name.into()));
    let other = crate::pq::PqSigningKey::from_identity_seed(&[3; 32]);
    assert_eq!(
        note::open_pq_cosigned(&cosigned, "example.org/w", other.public()),
        unsigned("example.org/w")
    );
    assert_eq!(
        note::open_pq_cosigned(&cosigned, "example.org/v", public),
        unsigned("example.org/v")
    );
    let bad = |name: &str| Err(NoteError::BadSignature(name.into()));
    for at in [4, 11, 12, 2000, 4 + 8 + 2419] {
        let mut bent = bytes.clone();
        bent[at] ^= 1;
        let note = format!("{signed}\u{2014} example.org/w {}\n", BASE64.encode(&bent));
        let expected = if at < 4 {
            unsigned("example.org/w")
        } else {
            bad("example.org/w")
        };
        assert_eq!(
            note::open_pq_cosigned(&note, "example.org/w", public),
            expected,
            "{at}"
        );
    }
    let short = format!(
        "{signed}\u{2014} example.org/w {}\n",
        BASE64.encode(&bytes[..bytes.len() - 1])
    );
    assert_eq!(
        note::open_pq_cosigned(&short, "example.org/w", public),
        bad("example.org/w")
    );
    let other_root = Checkpoint {
        root: [0; 32],
        ..checkpoint.clone()
    };
    let moved = format!(
        "{}\n{}",
        other_root.text().unwrap(),
        &cosigned[cosigned.find("\n\n").unwrap() + 2..]
    );
    assert_eq!(
        note::open_pq_cosigned(&moved, "example.org/w", public),
        bad("example.org/w")
    );
    assert_eq!(
        note::open_pq_cosigned(&format!("{cosigned}{line}"), "example.org/w", public),
        Err(NoteError::Malformed("two signatures by the same key"))
    );
    assert!(note::pq_cosignature_line(&checkpoint, "example.org/w", &cosigner, 1 << 63).is_err());
    assert!(note::pq_cosignature_line(&checkpoint, "example org", &cosigner, 0).is_err());
}

#[test]
fn a_cosignature_verifies_only_by_its_key_as_a_cosigner_at_its_time_over_its_text() {
    let log = SigningKey::from_bytes(&[1; 32]);
    let witness = SigningKey::from_bytes(&[2; 32]);
    let checkpoint = example_log_checkpoint();
    let text = checkpoint.text().unwrap();
    let signed = note::sign(&text, "example.org/log", &log).unwrap();
    let line = note::cosignature_line(&text, "example.org/w", &witness, 1_679_315_147).unwrap();
    let cosigned = format!("{signed}{line}");
    let public = witness.verifying_key();
    assert_eq!(
        note::open_cosigned(&cosigned, "example.org/w", &public),
        Ok((text.as_str(), 1_679_315_147))
    );
    // The log's own signature still verifies beside it.
    assert_eq!(
        note::open(&cosigned, "example.org/log", &log.verifying_key()),
        Ok(text.as_str())
    );
    // Bytes: key id with type 0x04, the time big-endian, a 64-byte signature.
    let bytes = BASE64
        .decode(line.trim_end().rsplit_once(' ').unwrap().1)
        .unwrap();
    assert_eq!(bytes.len(), 4 + 8 + 64);
    assert_eq!(bytes[..4], note::cosigner_key_id("example.org/w", &public));
    assert_eq!(bytes[4..12], 1_679_315_147u64.to_be_bytes());
    assert_ne!(
        note::cosigner_key_id("example.org/w", &public),
        note::key_id("example.org/w", &public)
    );
    let vkey = note::cosigner_verifier_key("example.org/w", &public);
    let typed = BASE64.decode(vkey.rsplit('+').next().unwrap()).unwrap();
    assert_eq!((typed[0], &typed[1..]), (0x04, &public.as_bytes()[..]));

    // A cosignature is not a plain signature, nor the other way round.
    assert_eq!(
        note::open(&cosigned, "example.org/w", &public),
        Err(NoteError::Unsigned("example.org/w".into()))
    );
    assert_eq!(
        note::open_cosigned(&signed, "example.org/log", &log.verifying_key()),
        Err(NoteError::Unsigned("example.org/log".into()))
    );
    // Another key, another time, another text: refused.
    let other = SigningKey::from_bytes(&[3; 32]).verifying_key();
    assert_eq!(
        note::open_cosigned(&cosigned, "example.org/w", &other),
        Err(NoteError::Unsigned("example.org/w".into()))
    );
    let mut later = bytes.clone();
    later[11] ^= 1;
    let moved = format!("{signed}\u{2014} example.org/w {}\n", BASE64.encode(&later));
    assert_eq!(
        note::open_cosigned(&moved, "example.org/w", &public),
        Err(NoteError::BadSignature("example.org/w".into()))
    );
    let grown = Checkpoint {
        size: 8,
        root: root(&leaves(8)),
        ..checkpoint
    };
    let grown_text = grown.text().unwrap();
    let transplanted = format!(
        "{}{line}",
        note::sign(&grown_text, "example.org/log", &log).unwrap()
    );
    assert_eq!(
        note::open_cosigned(&transplanted, "example.org/w", &public),
        Err(NoteError::BadSignature("example.org/w".into()))
    );
    // Too short to hold a time and a signature, and a time past 2^63 - 1.
    let short = format!(
        "{signed}\u{2014} example.org/w {}\n",
        BASE64.encode(&bytes[..40])
    );
    assert_eq!(
        note::open_cosigned(&short, "example.org/w", &public),
        Err(NoteError::BadSignature("example.org/w".into()))
    );
    assert!(note::cosignature_line(&text, "example.org/w", &witness, 1 << 63).is_err());
    assert!(note::cosignature_line(&text, "example.org/w", &witness, (1 << 63) - 1).is_ok());
}

#[test]
fn a_growing_tree_gives_the_root_of_every_prefix_as_rfc_6962_computes_it() {
    let all = leaves(70);
    let mut tree = Tree::default();
    assert_eq!(tree.root_at(0), Some(root(&[])));
    assert_eq!(tree.root_at(1), None);
    for (n, leaf) in all.iter().enumerate() {
        tree.push(*leaf);
        assert_eq!(tree.len(), n as u64 + 1);
        for size in 0..=tree.len() {
            assert_eq!(
                tree.root_at(size),
                Some(root(&all[..size as usize])),
                "size {size} of {}",
                tree.len()
            );
        }
        assert_eq!(tree.root_at(tree.len() + 1), None);
        assert_eq!(tree.leaf(n as u64), Some(*leaf));
        assert_eq!(tree.leaf(n as u64 + 1), None);
    }
    assert_eq!(Tree::of(&all), tree);
    assert_eq!(tree.root(), root(&all));
}

#[test]
fn a_grown_tree_proves_consistency_as_the_leaves_do() {
    let all = leaves(70);
    let tree = Tree::of(&all);
    for size in 0..=all.len() as u64 {
        for old in 0..=size {
            let proof = tree.consistency_proof(old, size);
            let expected =
                consistency_proof(&all[..size as usize], old as usize).filter(|_| old < size);
            assert_eq!(proof, expected, "{old} to {size}");
            if let Some(proof) = proof {
                let (old_root, new_root) =
                    (root(&all[..old as usize]), root(&all[..size as usize]));
                assert!(verify_consistency(
                    (old, &old_root),
                    (size, &new_root),
                    &proof
                ));
            }
        }
    }
    assert_eq!(tree.consistency_proof(3, 71), None);
}

#[test]
fn a_witness_cosignature_reads_from_its_line_and_never_passes_for_a_station_s() {
    use super::head::{Cosignature, SignedHead, Witness, WitnessCosignature};
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
    use super::head::Witness;
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
                &super::head::witness(&Identity::from_secret(&[8; 32]).id()),
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
    use super::head::{SignedHead, Witness, WitnessCosignature};
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
    use super::head::{Cosignature, PqHeadSignature, SignedHead, cosigner};
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
