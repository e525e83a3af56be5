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

/// `n` leaves, each the hash of a distinct entry.
pub(super) fn leaves(n: usize) -> Vec<Hash> {
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
