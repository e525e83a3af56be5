//! parley's Merkle trees, checkpoints and cosignatures checked by the reference implementation:
//! Go's `golang.org/x/mod/sumdb/note` and `sumdb/tlog` (`tests/reference/tlog.go`), run with
//! Debian's `golang-go` and `golang-golang-x-mod-dev` (`.ci/go-deps` installs them). Without
//! them the test skips, except under `CI`, where it fails.

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use parley_proto::Identity;
use parley_proto::tlog::head::{self, Cosignature, PqHeadSignature, SignedHead};
use parley_proto::tlog::note::{self, Checkpoint};
use parley_proto::tlog::{self, Hash};
use serde_json::json;

#[path = "../../testkit/src/go.rs"]
mod go;

/// Leaves in the tree the cases are drawn from.
const LEAVES: usize = 40;

fn b64(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| BASE64.encode(h)).collect()
}

/// A proof with one byte changed, which must no longer prove anything.
fn bent(proof: &[Hash]) -> Option<Vec<Hash>> {
    let mut proof = proof.to_vec();
    proof.first_mut()?[0] ^= 1;
    Some(proof)
}

#[test]
fn go_reference_packages_agree_with_parleys_trees_proofs_checkpoints_and_cosignatures() {
    if !go::go_is_there() {
        return;
    }
    let data: Vec<Vec<u8>> = (0..LEAVES)
        .map(|i| format!("entry {i}").repeat(i % 5 + 1).into_bytes())
        .collect();
    let leaves: Vec<Hash> = data.iter().map(|d| tlog::leaf_hash(d)).collect();
    let roots: Vec<Hash> = (1..=LEAVES).map(|n| tlog::root(&leaves[..n])).collect();

    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for size in 1..=LEAVES {
        for index in (0..size).step_by(3) {
            let proof = tlog::inclusion_proof(&leaves[..size], index).unwrap();
            inclusion
                .push(json!({"index": index, "size": size, "proof": b64(&proof), "valid": true}));
            if let Some(bad) = bent(&proof) {
                inclusion.push(
                    json!({"index": index, "size": size, "proof": b64(&bad), "valid": false}),
                );
            }
        }
        for old in (1..=size).step_by(2) {
            let proof = tlog::consistency_proof(&leaves[..size], old).unwrap();
            consistency
                .push(json!({"old": old, "size": size, "proof": b64(&proof), "valid": true}));
            if let Some(bad) = bent(&proof) {
                consistency
                    .push(json!({"old": old, "size": size, "proof": b64(&bad), "valid": false}));
            }
        }
    }

    let log = SigningKey::from_bytes(&[7; 32]);
    let witness = SigningKey::from_bytes(&[9; 32]);
    let origin = "parley.example/alpha-bravo";
    let cosigner = "parley.example/bravo";
    let mut notes = Vec::new();
    let mut bad_notes = Vec::new();
    for size in [1, 2, 7, 16, 33, LEAVES] {
        let text = Checkpoint {
            origin: origin.into(),
            size: size as u64,
            root: roots[size - 1],
        }
        .text()
        .unwrap();
        let signed = note::sign(&text, origin, &log).unwrap();
        let time = 1_700_000_000 + size as u64;
        let line = note::cosignature_line(&text, cosigner, &witness, time).unwrap();
        let cosigned = format!("{signed}{line}");
        // parley reads back what it wrote, as Go will.
        assert_eq!(
            note::open(&cosigned, origin, &log.verifying_key()),
            Ok(text.as_str())
        );
        assert_eq!(
            note::open_cosigned(&cosigned, cosigner, &witness.verifying_key()),
            Ok((text.as_str(), time))
        );
        // Another time under the same signature, or another size under the same cosignature.
        bad_notes.push(cosigned.replacen(&line, &retimed(&line), 1));
        bad_notes.push(cosigned.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1));
        notes.push(cosigned);
    }

    // A station's checkpoints as it writes them, each with its ML-DSA-44 line; the last
    // carries the line of another size's head, which Go reads but whose message it builds
    // from this note, so the signature must not verify over it.
    let station = Identity::from_secret(&[11; 32]);
    let (author, peer) = (station.id(), Identity::from_secret(&[12; 32]).id());
    let pq_key = station.pq().public();
    let station_note = |size: usize, pq_size: usize| {
        let head = SignedHead::sign(&station, &peer, size as u64, roots[size - 1]);
        let pq_head = SignedHead::sign(&station, &peer, pq_size as u64, roots[pq_size - 1]);
        let pq = PqHeadSignature::sign(&station, &peer, &pq_head);
        let text = head.text(&author, &peer);
        let line = note::cosignature_line(&text, cosigner, &witness, 1_700_000_000).unwrap();
        let signed = format!(
            "{}{}{line}",
            head.note(&author, &peer),
            pq.line(&author, pq_key)
        );
        // parley reads its own line back.
        let read = note::open_pq_cosigned(&signed, &head::cosigner(&author), pq_key);
        assert_eq!(read.is_ok(), size == pq_size, "{read:?}");
        signed
    };
    let station_notes: Vec<String> = [(1, 1), (5, 5), (16, 16), (LEAVES, LEAVES), (5, 16)]
        .into_iter()
        .map(|(size, pq_size)| station_note(size, pq_size))
        .collect();

    // The other station's checkpoints as the station cosigns them, with both its keys at the
    // cosignature's time; the last carries the ML-DSA-44 cosignature of another size's head.
    let other = Identity::from_secret(&[12; 32]);
    let cosigned_note = |size: usize, pq_size: usize| {
        let time_s = 1_700_000_000 + size as u64;
        let head = SignedHead::sign(&other, &author, size as u64, roots[size - 1]);
        let pq_head = SignedHead::sign(&other, &author, pq_size as u64, roots[pq_size - 1]);
        let mut cosigned = Cosignature::sign(&station, &peer, head, time_s);
        cosigned.pq = Cosignature::sign(&station, &peer, pq_head, time_s).pq;
        let signed = cosigned.note((&peer, &author), Some(pq_key));
        let read = note::open_pq_cosigned(&signed, &head::cosigner(&author), pq_key);
        assert_eq!(
            read.map(|(_, t)| t).ok(),
            (size == pq_size).then_some(time_s)
        );
        signed
    };
    let cosigned_notes: Vec<String> = [(1, 1), (7, 7), (LEAVES, LEAVES), (7, 16)]
        .into_iter()
        .map(|(size, pq_size)| cosigned_note(size, pq_size))
        .collect();

    let cases = json!({
        "log_verifier_key": note::verifier_key(origin, &log.verifying_key()),
        "cosigner_name": cosigner,
        "cosigner_public": BASE64.encode(witness.verifying_key().as_bytes()),
        "notes": notes,
        "bad_notes": bad_notes,
        "leaves": data.iter().map(|d| BASE64.encode(d)).collect::<Vec<_>>(),
        "roots": b64(&roots),
        "inclusion": inclusion,
        "consistency": consistency,
        "station_verifier_key": note::verifier_key(
            &head::origin(&author, &peer),
            &author.verifying_key().unwrap()
        ),
        "subtree_name": head::cosigner(&author),
        "subtree_public": BASE64.encode(pq_key.as_bytes()),
        "station_notes": station_notes,
        "station_public": BASE64.encode(author.0),
        "cosigned_verifier_key": note::verifier_key(
            &head::origin(&peer, &author),
            &peer.verifying_key().unwrap()
        ),
        "cosigned_notes": cosigned_notes,
    });
    let out = run_reference(&cases.to_string());
    assert!(
        out.status.success(),
        "Go disagrees:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let said = text(&out.stdout);
    let (subtrees, agreed) = said.trim_end().rsplit_once('\n').unwrap_or(("", &said));
    assert!(agreed.starts_with("agreed:"), "{said}");
    // Each ML-DSA-44 signature Go read, over the message Go built from its note: all but the
    // last note's of each kind (its line is of another size) verify under the station's key.
    let verified = |kind: &str| -> Vec<bool> {
        (subtrees.lines())
            .filter(|line| line.starts_with(&format!("{kind} ")))
            .enumerate()
            .map(|(i, line)| {
                let fields: Vec<&str> = line.split(' ').collect();
                assert_eq!(fields[..2], [kind, &i.to_string()], "{said}");
                let message = BASE64.decode(fields[2]).unwrap();
                let signature = BASE64.decode(fields[3]).unwrap();
                pq_key.verify(&message, b"", &signature)
            })
            .collect()
    };
    for (kind, notes) in [
        ("subtree", station_notes.len()),
        ("cosigned", cosigned_notes.len()),
    ] {
        let mut expected = vec![true; notes];
        *expected.last_mut().unwrap() = false;
        assert_eq!(
            verified(kind),
            expected,
            "which ML-DSA-44 signatures of the {kind} notes verify over the messages Go built"
        );
    }
    eprintln!("{agreed}");
}

/// A cosignature line whose time is one second later (the signature left as it was).
fn retimed(line: &str) -> String {
    let (head, encoded) = line.trim_end().rsplit_once(' ').unwrap();
    let mut bytes = BASE64.decode(encoded).unwrap();
    bytes[11] ^= 1;
    format!("{head} {}\n", BASE64.encode(bytes))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run_reference(input: &str) -> std::process::Output {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tlog.go");
    let cache = std::env::temp_dir().join(format!("parley-gocache-{}", std::process::id()));
    let mut child = go::go(&cache)
        .arg("run")
        .arg(&program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("go runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&cache);
    out
}
