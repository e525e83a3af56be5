//! Forged transcripts: each attack on one file, refused at the line that gives it away, or (the
//! one a single file cannot see) verified without claiming more than the file proves.

use super::*;

#[test]
fn an_export_as_a_station_writes_it_verifies_and_names_its_exporter() {
    let history = History::standard();
    let verified = history.alpha_export().verify().unwrap();
    assert_eq!(verified.exporter().name, "Alpha");
    assert_eq!(verified.exporter().entries(), 4);
    assert_eq!(verified.exporter().receipted_upto, Some(3));
    assert_eq!(verified.exporter_acknowledged(), 3);
    assert_eq!(verified.peer().name, "Bravo");
    assert_eq!(verified.peer().entries(), 3);
    assert_eq!(verified.peer().receipted_upto, Some(3));
    assert_eq!(verified.exported_ms, EXPORTED_MS);
    let bravo = history.export(Who::Bravo, 4, Some(3)).verify().unwrap();
    assert_eq!(bravo.exporter().name, "Bravo");
    // Nothing receipted by the peer yet: one receipt, nothing of the exporter acknowledged.
    let mut history = History::empty();
    history.announce(Who::Alpha, 0);
    let early = history.export(Who::Alpha, 0, None).verify().unwrap();
    assert_eq!(early.exporter_acknowledged(), 0);
    assert_eq!(early.peer().entries(), 0);
}

#[test]
fn a_tail_cut_with_the_receipt_that_covers_it_is_refused_where_a_signature_covers_it() {
    let history = History::standard();
    let file = history.alpha_export();
    let (receipt_1, b3) = (
        file.find("receipt", 2),
        file.entry_line(&history, Who::Bravo, 3),
    );
    let a4 = file.entry_line(&history, Who::Alpha, 4);
    // The peer's last entry and the exporter's receipt, which covers it: Alpha's last entry
    // still names it as seen.
    let cut = file.clone().remove(receipt_1).remove(b3);
    let a4_after = if b3 < a4 { a4 - 1 } else { a4 };
    check(
        "peer's tail and the exporter's receipt",
        &cut,
        Err((a4_after, "seen names no entry of Bravo in the file")),
    );
    // Both tails, so no seen dangles: the peer's receipt is left first, and it is not the
    // exporter's.
    let cut = file
        .clone()
        .remove(receipt_1)
        .remove(a4.max(b3))
        .remove(a4.min(b3));
    check(
        "both tails and the exporter's receipt",
        &cut,
        Err((
            receipt_1 - 2,
            "the first receipt must be the exporter's (Alpha), it is signed by Bravo",
        )),
    );
}

#[test]
fn a_file_with_its_receipts_dropped_is_refused() {
    let file = History::standard().alpha_export();
    let receipt_1 = file.find("receipt", 2);
    let cut = file.clone().remove(receipt_1 + 1).remove(receipt_1);
    let last = cut.count();
    check(
        "no receipts",
        &cut,
        Err((last, "the exporter's receipt is missing")),
    );
    let peer_only = file.remove(receipt_1);
    check(
        "only the peer's receipt",
        &peer_only,
        Err((
            receipt_1,
            "the first receipt must be the exporter's (Alpha)",
        )),
    );
}

#[test]
fn the_exporters_own_tail_cut_with_the_peers_receipt_verifies_but_is_not_claimed() {
    // Bravo has acknowledged all four of Alpha's entries. Cut Alpha's fourth and Bravo's
    // receipt: nothing in one file can show it, so the result claims none of Alpha's log as
    // acknowledged; Bravo's own export shows what it held (compare.rs).
    let history = History::standard();
    let file = history.export(Who::Alpha, 3, Some(4));
    let a4 = file.entry_line(&history, Who::Alpha, 4);
    let cut = file.clone().remove(file.find("receipt", 2) + 1).remove(a4);
    let verified = cut.verify().unwrap();
    assert_eq!(verified.exporter().entries(), 3);
    assert_eq!(verified.exporter_acknowledged(), 0);
    assert_eq!(verified.exporter().receipted_upto, None);
    // Once the peer has written after seeing the cut entry, its `seen` gives the cut away.
    let mut history = History::standard();
    history.say(Who::Bravo, 4, "noted");
    let file = history.export(Who::Alpha, 4, Some(4));
    let a4 = file.entry_line(&history, Who::Alpha, 4);
    let b4 = file.entry_line(&history, Who::Bravo, 4);
    let cut = file.clone().remove(file.find("receipt", 2) + 1).remove(a4);
    let b4_after = if a4 < b4 { b4 - 1 } else { b4 };
    check(
        "exporter's tail under a seen",
        &cut,
        Err((
            b4_after,
            "author Bravo seq 4): seen names no entry of Alpha",
        )),
    );
    // And a later seq in the peer's receipt gives a cut away too.
    let mut history = History::standard();
    history.say(Who::Alpha, 3, "one more");
    let receipt = Receipt {
        link: history.link,
        from: history.bravo.identity.id(),
        to: history.alpha.identity.id(),
        upto: 3,
        head: history.alpha.log[2].id(),
        extra: vec![5],
        time_ms: 3,
    };
    let file = history.export(Who::Alpha, 3, None);
    let with_extra = file
        .clone()
        .push(line("receipt", &receipt.sign(&history.bravo.identity)));
    assert!(with_extra.verify().is_ok());
    let (a4, a5) = (
        file.entry_line(&history, Who::Alpha, 4),
        file.entry_line(&history, Who::Alpha, 5),
    );
    let cut = with_extra.remove(a5).remove(a4);
    check(
        "exporter's tail under an extra seq",
        &cut,
        Err((cut.count(), "it lists Alpha's seq 5, the file holds 3")),
    );
}

#[test]
fn swapped_cards_or_receipts_cannot_name_another_exporter() {
    let file = History::standard().alpha_export();
    let receipt_1 = file.find("receipt", 2);
    let swapped = file.clone().swap(2, 3);
    check(
        "cards swapped",
        &swapped,
        Err((
            receipt_1,
            "the first receipt must be the exporter's (Bravo), it is signed by Alpha",
        )),
    );
    let receipts = file.clone().swap(receipt_1, receipt_1 + 1);
    check(
        "receipts swapped",
        &receipts,
        Err((
            receipt_1,
            "the first receipt must be the exporter's (Alpha), it is signed by Bravo",
        )),
    );
    // Both: Bravo's receipt does not cover Alpha's whole log, as an exporter's must.
    let both = swapped.swap(receipt_1, receipt_1 + 1);
    check(
        "cards and receipts swapped",
        &both,
        Err((
            receipt_1,
            "the exporter's receipt covers 3 of Alpha's 4 entries, not all",
        )),
    );
    // An export time that is not the exporter's.
    let header = file.0[0].replace(&EXPORTED_MS.to_string(), "1700000099999");
    check(
        "export time changed",
        &file.replace(1, header),
        Err((
            receipt_1,
            &format!(
                "the exporter's receipt is dated {EXPORTED_MS}, the header says 1700000099999"
            ),
        )),
    );
}

#[test]
fn reordered_or_interleaved_entries_are_refused() {
    let history = History::standard();
    let file = history.alpha_export();
    let (a2, a3) = (
        file.entry_line(&history, Who::Alpha, 2),
        file.entry_line(&history, Who::Alpha, 3),
    );
    check(
        "two entries of one log swapped",
        &file.clone().swap(a2, a3),
        Err((a2, "seq is 3, the chain needs 2")),
    );
    // The second station's first entry moved up one line, between the first's last two.
    let first = history.first();
    let (first_name, second_name) = match first {
        Who::Alpha => ("Alpha", "Bravo"),
        Who::Bravo => ("Bravo", "Alpha"),
    };
    let last_of_first = file.entry_line(&history, first, history.author(first).log.len() as u64);
    let interleaved = file.clone().swap(last_of_first, last_of_first + 1);
    check(
        "entries interleaved",
        &interleaved,
        Err((
            last_of_first + 1,
            &format!(
                "{first_name}'s entries must all come before {second_name}'s (lower station id first)"
            ),
        )),
    );
    // The whole second log before the first.
    let entries = file.find("entry", 2);
    let receipt_1 = file.find("receipt", 2);
    let mut lines = file.0.clone();
    let first_len = history.author(first).log.len();
    let (head, tail) = lines[entries - 1..receipt_1 - 1].split_at(first_len);
    let reordered: Vec<String> = tail.iter().chain(head).cloned().collect();
    lines.splice(entries - 1..receipt_1 - 1, reordered);
    let second_len = (receipt_1 - entries) - first_len;
    check(
        "logs in the wrong order",
        &Lines(lines),
        Err((entries + second_len, "must all come before")),
    );
}

#[test]
fn an_extra_receipt_is_refused() {
    let history = History::standard();
    let file = history.alpha_export();
    let receipt_1 = file.find("receipt", 2);
    let third = line("receipt", &history.receipt(Who::Bravo, 2, 9));
    check(
        "a third receipt",
        &file.clone().push(third),
        Err((receipt_1 + 2, "more than two receipts")),
    );
    let second_from_exporter = line("receipt", &history.receipt(Who::Alpha, 3, 9));
    check(
        "a second receipt of the exporter",
        &file.clone().replace(receipt_1 + 1, second_from_exporter),
        Err((
            receipt_1 + 1,
            "the second receipt must be the peer's (Bravo), it is signed by Alpha",
        )),
    );
    // An entry after the receipts.
    let late = file.0[file.find("entry", 2) - 1].clone();
    check(
        "an entry after the receipts",
        &file.push(late),
        Err((receipt_1 + 2, "entry after a receipt")),
    );
}

#[test]
fn a_seen_that_names_no_entry_of_the_other_station_is_refused() {
    for (what, seen) in [("nowhere", Some(EntryId([7; 32]))), ("its own entry", None)] {
        let mut history = History::standard();
        let mut entry = history.next(
            Who::Bravo,
            0,
            Body::Message {
                text: "where?".into(),
                lang: "en".into(),
                exercise: false,
                translations: Vec::new(),
            },
        );
        entry.seen = seen.unwrap_or_else(|| history.bravo.log[0].id());
        history.append(Who::Bravo, entry);
        let file = history.export(Who::Alpha, 4, Some(3));
        let b4 = file.entry_line(&history, Who::Bravo, 4);
        check(
            what,
            &file,
            Err((
                b4,
                "author Bravo seq 4): seen names no entry of Alpha in the file",
            )),
        );
    }
}

#[test]
fn an_entry_with_its_protected_header_encoded_otherwise_is_refused() {
    // The same entry signed under another encoding of the same header contents: a second id
    // for one entry. Alpha's last entry is covered by no receipt and named by no seen, so
    // only the encoding can give it away.
    let history = History::standard();
    let file = history.alpha_export();
    let a4 = file.entry_line(&history, Who::Alpha, 4);
    let other = reencoded_entry(&history.alpha.identity, &history.alpha.log[3]);
    assert_ne!(EntryId::of(&other), history.alpha.log[3].id());
    let forged = file.replace(a4, line("entry", &other));
    check(
        "protected header reordered",
        &forged,
        Err((a4, "entry is not in deterministic CBOR encoding")),
    );
}

#[test]
fn an_announced_key_that_fails_the_ml_kem_check_is_refused() {
    let mut history = History::empty();
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
    let mut public = EpochSecret::generate(&mut rng).public_bytes().to_vec();
    public[..1184].fill(0xff);
    let body = Body::KeyAnnouncement {
        key_id: crate::id::EpochKeyId::of(&public),
        public,
    };
    let entry = history.next(Who::Alpha, 0, body);
    history.append(Who::Alpha, entry);
    let file = history.export(Who::Alpha, 0, None);
    check(
        "announced key over the modulus",
        &file,
        Err((4, "(entry 1): entry: field body.public is malformed")),
    );
}

#[test]
fn a_version_2_station_signs_each_checkpoint_with_both_keys_from_its_first_that_does() {
    let k1 = |history: &History, size| {
        let file = history.export(Who::Alpha, history.bravo.log.len() as u64, Some(3));
        let error = file.verify().expect_err("refused");
        assert!(
            matches!(&error.fault, Fault::CheckpointSignature { name, size: s } if name == "Alpha" && *s == size),
            "{error}"
        );
    };
    // Written before the station had its post-quantum key: Ed25519 alone. Its export, which
    // holds its version 2 card now, still verifies: the later checkpoint covers those entries.
    let mut history = History::standard();
    let head = history.head(Who::Alpha, 2, None);
    history.checkpoint_signed(Who::Alpha, head, None);
    let head = history.head(Who::Alpha, 4, None);
    history.checkpoint(Who::Alpha, head);
    let file = history.export(Who::Alpha, history.bravo.log.len() as u64, Some(3));
    assert!(file.verify().is_ok());

    // After one that carries it, one without it is refused (K1)…
    let mut without = history.clone();
    let head = without.head(Who::Alpha, 5, None);
    without.checkpoint_signed(Who::Alpha, head, None);
    k1(&without, 5);
    // …and so is one whose post-quantum signature is of another head.
    let mut other = history.clone();
    let head = other.head(Who::Alpha, 5, None);
    let bravo_id = other.bravo.identity.id();
    let elsewhere = other.head(Who::Alpha, 3, None);
    let pq = PqHeadSignature::sign(&other.alpha.identity, &bravo_id, &elsewhere);
    other.checkpoint_signed(Who::Alpha, head, Some(pq));
    k1(&other, 5);
}

#[test]
fn a_version_2_station_cosigns_with_both_keys_from_its_first_cosignature_that_does() {
    use crate::tlog::head::Cosignature;
    let k3 = |history: &History, size| {
        let file = history.export(Who::Alpha, history.bravo.log.len() as u64, Some(3));
        let error = file.verify().expect_err("refused");
        assert!(
            matches!(&error.fault, Fault::CosignatureSignature { name, size: s, .. } if name == "Bravo" && *s == size),
            "{error}"
        );
    };
    let classical = |history: &History, head| {
        let alpha_id = history.alpha.identity.id();
        Cosignature::sign_classical(&history.bravo.identity, &alpha_id, head, 1_700_000_000)
    };
    // Cosigned before Bravo had its post-quantum key (Ed25519 alone), then with both. What
    // Bravo's latest cosignature proves of Alpha's log says whether it is post-quantum.
    let mut history = History::standard();
    let head = history.head(Who::Alpha, 2, None);
    history.checkpoint(Who::Alpha, head);
    history.cosign_as(Who::Bravo, classical(&history, head));
    let proven = |history: &History| {
        let file = history.export(Who::Alpha, history.bravo.log.len() as u64, Some(3));
        let verified = file.verify().expect("verifies");
        verified.exporter().proven.expect("cosigned")
    };
    let classical_only = proven(&history);
    assert_eq!(
        (classical_only.size, classical_only.post_quantum),
        (2, false)
    );
    let head = history.head(Who::Alpha, 4, None);
    history.checkpoint(Who::Alpha, head);
    history.cosign(Who::Bravo, head);
    let both = proven(&history);
    assert_eq!((both.size, both.post_quantum), (4, true));

    // After one that carries it, one without it is refused (K3)…
    let mut without = history.clone();
    let later = without.head(Who::Alpha, 5, None);
    without.checkpoint(Who::Alpha, later);
    without.cosign_as(Who::Bravo, classical(&without, later));
    k3(&without, 5);
    // …and so is one whose post-quantum signature is of another head.
    let mut other = history.clone();
    let later = other.head(Who::Alpha, 5, None);
    other.checkpoint(Who::Alpha, later);
    let alpha_id = other.alpha.identity.id();
    let mut cosigned = Cosignature::sign(&other.bravo.identity, &alpha_id, later, 1_700_000_000);
    cosigned.pq = Cosignature::sign(&other.bravo.identity, &alpha_id, head, 1_700_000_000).pq;
    other.cosign_as(Who::Bravo, cosigned);
    k3(&other, 5);
}

/// Entry signatures are checked in batches of `ENTRY_SIGNATURES_PER_BATCH`: a bad one is
/// named at its own line wherever it falls (first, last or next after a batch, the last entry
/// of the file), and before a fault of a later line.
#[test]
fn a_bad_signature_is_named_at_its_own_line_wherever_its_batch_ends() {
    use crate::transcript::verify::ENTRY_SIGNATURES_PER_BATCH as BATCH;
    let mut history = History::empty();
    history.announce(Who::Alpha, 0);
    history.announce(Who::Bravo, 0);
    for i in 0..2 * BATCH + 10 {
        history.say(Who::Alpha, 1, &format!("report {i}"));
    }
    let alpha = history.author(Who::Alpha).log.len();
    let file = history.export(Who::Alpha, 1, None);
    assert!(file.verify().is_ok());
    let first = file.find("entry", 1);
    let entries = alpha + 1;
    for index in [
        1,
        BATCH - 1,
        BATCH,
        BATCH + 1,
        2 * BATCH,
        2 * BATCH + 1,
        entries,
    ] {
        let number = first + index - 1;
        let spoiled = {
            let text = &file.0[number - 1];
            let value = &text[10..text.len() - 2];
            let mut bytes = BASE64.decode(value).expect("base64");
            *bytes.last_mut().expect("bytes") ^= 1;
            line("entry", &bytes)
        };
        let bad = file.clone().replace(number, spoiled);
        let name = format!("entry {index} of {entries}");
        check(&name, &bad, Err((number, "signature does not verify")));
        // A later line's fault (the next entry removed: the one after it skips a seq) does
        // not hide it, though its batch is not full yet (2 × BATCH + 1).
        if index + 2 <= entries {
            let later = bad.remove(number + 1);
            check(&name, &later, Err((number, "signature does not verify")));
        }
    }
}
