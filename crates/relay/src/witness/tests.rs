//! The witness's rules, one data-driven table each: what a request is refused with, in the
//! specified order, and what a verified submission does against the checkpoint held.

use crate::limits::WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES;

use parley_proto::Identity;
use parley_proto::tlog::head::SignedHead;
use parley_relay_wire::witness::AddCheckpoint;

use super::*;

fn identity(seed: u8) -> Identity {
    Identity::from_secret(&[seed; 32])
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| tlog::leaf_hash(&i.to_be_bytes())).collect()
}

fn root(n: u64) -> Hash {
    tlog::root(&leaves(n))
}

/// Alpha's checkpoint of its log with Bravo at `size`, with the root of [`leaves`].
fn note_of(size: u64) -> String {
    let (alpha, bravo) = (identity(1), identity(2).id());
    SignedHead::sign(&alpha, &bravo, size, root(size)).note(&alpha.id(), &bravo)
}

fn origin() -> String {
    head::origin(&identity(1).id(), &identity(2).id())
}

fn body(old_size: u64, proof: Vec<Hash>, checkpoint: &str) -> Vec<u8> {
    AddCheckpoint {
        old_size,
        proof,
        checkpoint: checkpoint.to_owned(),
    }
    .encode()
    .into_bytes()
}

/// `note` with one character of the base64 of its signature by the log's key changed (not in
/// the key id): the same name and key id, a signature that does not verify.
fn bent(note: &str) -> String {
    let at = note
        .rfind(&format!("\u{2014} {} ", origin()))
        .expect("signed")
        + 4
        + origin().len();
    let at = at + 20;
    let mut bytes = note.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII changed")
}

/// Reads and verifies `body` with the author `author`; the status of the refusal, and a part
/// of its text, or `None` if it is verified.
fn check(body: &[u8], author: StationStatus, expect: Option<(u16, &str)>) {
    let got = read(body).and_then(|unverified| unverified.verify(author));
    match (got, expect) {
        (Ok(_), None) => {}
        (Err(refusal), Some((status, text))) => {
            assert_eq!(refusal.status().as_u16(), status, "{refusal}");
            assert!(refusal.to_string().contains(text), "{refusal} lacks {text}");
        }
        (got, expect) => panic!(
            "{:?}: got {got:?}, want {expect:?}",
            String::from_utf8_lossy(body)
        ),
    }
}

#[test]
fn a_request_is_checked_in_the_specified_order() {
    use StationStatus::{Admitted, Revoked, Unknown};
    let good = note_of(3);
    let proof = tlog::consistency_proof(&leaves(3), 2).expect("a proof");
    check(&body(0, vec![], &good), Admitted, None);
    check(&body(2, proof.clone(), &good), Admitted, None);
    check(&body(3, vec![], &good), Admitted, None);
    // 1. The form: 400, before anything else.
    check(b"", Admitted, Some((400, "no old size line")));
    check(b"old 0\n\n", Admitted, Some((400, "no checkpoint")));
    let unsigned = good.split("\n\n").next().expect("text").to_owned() + "\n";
    check(
        &body(0, vec![], &unsigned),
        Admitted,
        Some((400, "not a signed note")),
    );
    let no_em_dash = good.replace('\u{2014}', "-");
    check(
        &body(0, vec![], &no_em_dash),
        Unknown,
        Some((400, "em dash")),
    );
    let control = good.replacen('\n', "\u{7}\n", 1);
    check(
        &body(0, vec![], &control),
        Admitted,
        Some((400, "control character")),
    );
    let not_checkpoint =
        note::sign("just text\n", &origin(), identity(1).signing_key()).expect("signs");
    check(
        &body(0, vec![], &not_checkpoint),
        Admitted,
        Some((400, "not a checkpoint")),
    );
    // A checkpoint's text of at most its bound (padded with an extension line), then over it.
    let padded = |len: usize| {
        let text = format!(
            "{origin}\n3\n{}\n",
            encode_hash(&root(3)),
            origin = origin()
        );
        let text = format!("{text}{}\n", "x".repeat(len - text.len() - 1));
        assert_eq!(text.len(), len);
        note::sign(&text, &origin(), identity(1).signing_key()).expect("signs")
    };
    let at = padded(WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES);
    check(&body(0, vec![], &at), Admitted, None);
    let over = padded(WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES + 1);
    check(
        &body(0, vec![], &over),
        Admitted,
        Some((400, "over this witness's limit of 1024 bytes")),
    );
    // 2. The origin: a link log's, written exactly so (404); its author admitted (404, once
    // the author's signature verifies, below).
    let text = |origin: &str| format!("{origin}\n3\n{}\n", encode_hash(&root(3)));
    let other_log = note::sign(
        &text("example.com/log"),
        "example.com/log",
        identity(1).signing_key(),
    )
    .expect("signs");
    check(
        &body(0, vec![], &other_log),
        Admitted,
        Some((404, "names no link log")),
    );
    let upper = origin()
        .to_uppercase()
        .replace("PARLEY.LINK", "parley.link");
    let uppercase = note::sign(&text(&upper), &upper, identity(1).signing_key()).expect("signs");
    check(
        &body(0, vec![], &uppercase),
        Admitted,
        Some((404, "names no link log")),
    );
    check(
        &body(0, vec![], &good),
        Unknown,
        Some((404, "is not admitted")),
    );
    check(
        &body(0, vec![], &good),
        Revoked,
        Some((404, "is not admitted")),
    );
    check(
        &body(9, vec![], &good),
        Revoked,
        Some((404, "is not admitted")),
    );
    // 3. The author's signature: 403, before the admission, so that a forged checkpoint is
    // refused alike whether its author is admitted or not; others' signatures are ignored.
    let by_another_key =
        note::sign(&text(&origin()), &origin(), identity(3).signing_key()).expect("signs");
    for author in [Admitted, Unknown, Revoked] {
        check(
            &body(0, vec![], &bent(&good)),
            author,
            Some((403, "does not verify")),
        );
        check(
            &body(0, vec![], &by_another_key),
            author,
            Some((403, "no signature by the key")),
        );
    }
    check(
        &body(0, vec![], &by_another_key),
        Admitted,
        Some((403, "no signature by the key")),
    );
    check(
        &body(0, vec![], &bent(&good)),
        Admitted,
        Some((403, "does not verify")),
    );
    check(
        &body(9, vec![], &bent(&good)),
        Admitted,
        Some((403, "does not verify")),
    );
    let twice = format!("{good}{}", good.split("\n\n").nth(1).expect("signature"));
    check(
        &body(0, vec![], &twice),
        Admitted,
        Some((403, "two signatures")),
    );
    let cosigned = format!(
        "{}{}",
        by_another_key,
        good.split("\n\n").nth(1).expect("signature")
    );
    check(&body(0, vec![], &cosigned), Admitted, None);
    // 4. Sizes: 400.
    check(
        &body(4, vec![], &good),
        Admitted,
        Some((400, "old size 4 is above")),
    );
    // The rest needs what the witness holds (decided after 409): a size-0 checkpoint with
    // another root than the empty tree's, and a proof from the empty tree, pass here.
    let (alpha, bravo) = (identity(1), identity(2).id());
    let not_empty = SignedHead::sign(&alpha, &bravo, 0, root(1)).note(&alpha.id(), &bravo);
    check(&body(0, vec![], &not_empty), Admitted, None);
    check(&body(0, proof, &good), Admitted, None);
}

#[test]
fn the_note_kept_is_the_text_and_the_authors_line_or_the_checkpoint_is_refused() {
    let good = note_of(3);
    let text = text_of(&good);
    let alpha = identity(1).id().verifying_key().expect("a key");
    let id = note::key_id(&origin(), &alpha);
    let other = note::signature_line(&text, "another.example/key", identity(7).signing_key());
    let check = |note: &str, name: &str, id: [u8; 4], expect: Result<&str, u16>| {
        let got = author_signed(note, &text, name, id);
        let got = got.as_deref().map_err(|refusal| refusal.status().as_u16());
        assert_eq!(got, expect, "{note:?} under {name}");
    };
    check(&good, &origin(), id, Ok(&good));
    check(
        &format!("{text}\n{other}{}", &good[text.len() + 1..]),
        &origin(),
        id,
        Ok(&good),
    );
    check(&format!("{good}{other}"), &origin(), id, Ok(&good));
    // Were the line not found after all (the two readings of the note disagreeing), the
    // checkpoint is refused, not kept without it, and nothing panics.
    check(&format!("{text}\n{other}"), &origin(), id, Err(403));
    check(&good, &origin(), [0; 4], Err(403));
    check(&good, "another.example/key", id, Err(403));
    check(&text, &origin(), id, Err(403));
    check("", &origin(), id, Err(403));
}

#[test]
fn a_submission_keeps_only_the_authors_signature_and_takes_the_cosignature() {
    let good = note_of(3);
    let extra = note::sign(
        &text_of(&good),
        "another.example/key",
        identity(7).signing_key(),
    )
    .expect("signs");
    let signed_twice = format!("{good}{}", extra.split("\n\n").nth(1).expect("signature"));
    let submission = read(&body(0, vec![], &signed_twice))
        .and_then(|unverified| unverified.verify(StationStatus::Admitted))
        .expect("verified");
    assert_eq!(submission.note(), good);
    assert_eq!(submission.text(), text_of(&good));
    assert_eq!((submission.size(), submission.root()), (3, root(3)));
    assert_eq!(submission.origin(), origin());
    let relay = identity(9);
    let line = note::cosignature_line(
        submission.text(),
        &name(&relay.id()),
        relay.signing_key(),
        7,
    )
    .expect("cosigns");
    let cosigned = submission.cosigned_note(&line);
    let key = relay.id().verifying_key().expect("a key");
    assert_eq!(
        note::open_cosigned(&cosigned, &name(&relay.id()), &key),
        Ok((submission.text(), 7))
    );
}

fn text_of(note: &str) -> String {
    note.split("\n\n").next().expect("text").to_owned() + "\n"
}

/// A verified submission of Alpha's checkpoint at `size` from `old_size` with `proof`.
fn submission(old_size: u64, proof: Vec<Hash>, checkpoint: &str) -> Submission {
    read(&body(old_size, proof, checkpoint))
        .and_then(|unverified| unverified.verify(StationStatus::Admitted))
        .expect("verified")
}

#[test]
fn a_submission_moves_the_log_forward_only_along_a_proof() {
    let proof =
        |from: u64, to: u64| tlog::consistency_proof(&leaves(to), from as usize).expect("proof");
    let texts: Vec<String> = (0..8).map(|size| text_of(&note_of(size))).collect();
    let check = |held: Option<u64>, submitted: Submission, expect: Result<Cosign, _>| {
        let held = held.map(|size| Held {
            size,
            root: root(size),
            text: &texts[size as usize],
        });
        assert_eq!(decide(held, &submitted), expect, "held {held:?}");
    };
    let conflict = |reason, held, size| Err(WitnessRefusal::Conflict { reason, held, size });
    let stale = |old_size, held| Err(WitnessRefusal::StaleOldSize { old_size, held });
    check(None, submission(0, vec![], &note_of(5)), Ok(Cosign::Store));
    check(None, submission(3, proof(3, 5), &note_of(5)), stale(3, 0));
    check(
        Some(3),
        submission(3, proof(3, 5), &note_of(5)),
        Ok(Cosign::Store),
    );
    check(Some(3), submission(0, vec![], &note_of(5)), stale(0, 3));
    check(
        Some(5),
        submission(3, proof(3, 5), &note_of(5)),
        stale(3, 5),
    );
    check(
        Some(3),
        submission(3, proof(3, 5), &note_of(3)),
        Err(WitnessRefusal::ProofBetweenEqualSizes {
            lines: proof(3, 5).len(),
        }),
    );
    // The checkpoint held again: cosigned, nothing to store; the same tree in another text
    // (an extension line) is stored.
    check(
        Some(3),
        submission(3, vec![], &note_of(3)),
        Ok(Cosign::Again),
    );
    let restated = note::sign(
        &format!("{}extension\n", texts[3]),
        &origin(),
        identity(1).signing_key(),
    )
    .expect("signs");
    check(Some(3), submission(3, vec![], &restated), Ok(Cosign::Store));
    // A proof for other trees, or none: the checkpoint cannot be reconciled with the one held.
    check(
        Some(3),
        submission(3, proof(2, 5), &note_of(5)),
        conflict(ConflictReason::InconsistentProof, 3, 5),
    );
    check(
        Some(3),
        submission(3, vec![], &note_of(5)),
        conflict(ConflictReason::InconsistentProof, 3, 5),
    );
    // Another tree of the size held.
    let (alpha, bravo) = (identity(1), identity(2).id());
    let forked = SignedHead::sign(&alpha, &bravo, 3, [7; 32]).note(&alpha.id(), &bravo);
    check(
        Some(3),
        submission(3, vec![], &forked),
        conflict(ConflictReason::SameSizeDifferentRoot, 3, 3),
    );
}

#[test]
fn the_old_size_is_checked_before_the_empty_tree_and_its_proof() {
    let (alpha, bravo) = (identity(1), identity(2).id());
    let empty = SignedHead::sign(&alpha, &bravo, 0, tlog::root(&[])).note(&alpha.id(), &bravo);
    let not_empty = SignedHead::sign(&alpha, &bravo, 0, root(1)).note(&alpha.id(), &bravo);
    let proof = tlog::consistency_proof(&leaves(5), 3).expect("a proof");
    let text = text_of(&note_of(3));
    let held = Some(Held {
        size: 3,
        root: root(3),
        text: &text,
    });
    let empty_text = text_of(&empty);
    let held_empty = Some(Held {
        size: 0,
        root: tlog::root(&[]),
        text: &empty_text,
    });
    let stale = |old_size, held| Err(WitnessRefusal::StaleOldSize { old_size, held });
    for (held, submitted, expect) in [
        // Against a log held at 3, old size 0 is stale (409), whatever else is wrong.
        (held, submission(0, vec![], &not_empty), stale(0, 3)),
        (held, submission(0, proof.clone(), &note_of(5)), stale(0, 3)),
        // Against none (or the empty tree held): another root at size 0 is a conflict at the
        // size held (409), then the 422s.
        (None, submission(0, vec![], &empty), Ok(Cosign::Store)),
        (
            None,
            submission(0, vec![], &not_empty),
            Err(WitnessRefusal::Conflict {
                reason: ConflictReason::SameSizeDifferentRoot,
                held: 0,
                size: 0,
            }),
        ),
        (
            None,
            submission(0, proof.clone(), &note_of(5)),
            Err(WitnessRefusal::ProofFromEmptyTree { lines: proof.len() }),
        ),
        (held_empty, submission(0, vec![], &empty), Ok(Cosign::Again)),
        (
            held_empty,
            submission(0, vec![], &not_empty),
            Err(WitnessRefusal::Conflict {
                reason: ConflictReason::SameSizeDifferentRoot,
                held: 0,
                size: 0,
            }),
        ),
        (
            held_empty,
            submission(0, proof.clone(), &note_of(5)),
            Err(WitnessRefusal::ProofFromEmptyTree { lines: proof.len() }),
        ),
    ] {
        assert_eq!(decide(held, &submitted), expect, "held {held:?}");
    }
}

#[test]
fn a_conflict_says_whether_it_is_evidence_of_a_fork() {
    let fork = WitnessRefusal::Conflict {
        reason: ConflictReason::SameSizeDifferentRoot,
        held: 3,
        size: 3,
    };
    assert!(fork.to_string().contains("evidence of a fork"), "{fork}");
    let bad_proof = WitnessRefusal::Conflict {
        reason: ConflictReason::InconsistentProof,
        held: 3,
        size: 5,
    };
    let text = bad_proof.to_string();
    assert!(
        text.contains("does not verify: a fork, or a bad proof"),
        "{text}"
    );
    assert!(!text.contains("evidence"), "{text}");
    // As c2sp.org/tlog-witness says: another root at the size held is a 409, a proof that
    // does not verify a 422.
    assert_eq!(fork.status().as_u16(), 409);
    assert_eq!(bad_proof.status().as_u16(), 422);
}

#[test]
fn link_logs_are_named_exactly_and_conflicts_by_their_names() {
    let (alpha, bravo) = (identity(1).id(), identity(2).id());
    assert_eq!(link_of(&head::origin(&alpha, &bravo)), Some((alpha, bravo)));
    for bad in [
        String::new(),
        format!("parley.link/{alpha}"),
        format!("parley.link/{alpha}/{bravo}/"),
        format!("parley.link/{alpha}/{bravo}/x"),
        format!("parley.link//{bravo}"),
        format!("parley.station/{alpha}/{bravo}"),
        format!("parley.link/{}/{bravo}", alpha.to_string().to_uppercase()),
        format!("parley.link/{}/{bravo}", &alpha.to_string()[..62]),
        head::origin(&alpha, &alpha),
    ] {
        assert_eq!(link_of(&bad), None, "{bad}");
    }
    for reason in ConflictReason::ALL {
        assert_eq!(ConflictReason::from_name(reason.name()), Some(reason));
    }
    assert_eq!(ConflictReason::from_name("fork"), None);
}

/// Both sides of `WITNESS_LOG_SIZE_MAX`, as the checkpoint's size and as the old size: the
/// largest size the store holds exactly is read; one above is refused as malformed, never cut
/// down to fit (a witness that held a smaller size than it cosigned would cosign a rollback).
#[test]
fn sizes_above_what_the_store_holds_exactly_are_refused() {
    use crate::limits::WITNESS_LOG_SIZE_MAX as MAX;
    let (alpha, bravo) = (identity(1), identity(2).id());
    let note = |size| SignedHead::sign(&alpha, &bravo, size, root(1)).note(&alpha.id(), &bravo);
    assert!(read(&body(0, Vec::new(), &note(MAX))).is_ok());
    assert!(read(&body(MAX, Vec::new(), &note(MAX))).is_ok());
    for (old_size, size, refused) in [
        (
            0,
            MAX + 1,
            format!("the checkpoint's size {} is over {MAX}", MAX + 1),
        ),
        (
            u64::MAX,
            u64::MAX,
            format!("the checkpoint's size {} is over", u64::MAX),
        ),
        (
            MAX + 1,
            MAX,
            format!("the old size {} is over {MAX}", MAX + 1),
        ),
    ] {
        check(
            &body(old_size, Vec::new(), &note(size)),
            StationStatus::Admitted,
            Some((400, &refused)),
        );
    }
}
