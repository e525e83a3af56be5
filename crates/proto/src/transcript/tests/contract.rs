//! docs/formats.md §8 is the contract: every error text it lists is produced by the code, from
//! a transcript built to trigger it, and every error the code produced here is listed. The
//! matches below are exhaustive, so a new kind of error does not compile until it has its
//! text here; the test then fails until the document lists it and a case produces it.

use std::collections::BTreeSet;

use super::*;
use crate::error::DecodeError;
use crate::tlog::head::{SignedHead, origin};
use crate::transcript::verify::verify_within;

const FORMATS_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/formats.md");

/// Every error text of §8: the last cell of each row of every table whose last column is
/// "error text", when that cell is one code span.
fn documented() -> BTreeSet<String> {
    let text = std::fs::read_to_string(FORMATS_MD).expect("docs/formats.md is readable");
    let start = text.find("\n## 8. ").expect("formats.md has §8");
    let end = text.find("\n## 9. ").expect("formats.md has §9");
    let mut texts = BTreeSet::new();
    let mut table: Option<bool> = None;
    for line in text[start..end].lines() {
        if !line.starts_with('|') {
            table = None;
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let last = *cells.last().expect("split yields a cell");
        let Some(errors) = table else {
            table = Some(last == "error text");
            continue;
        };
        let separator = cells.iter().all(|c| c.chars().all(|ch| ch == '-'));
        let code_span = last.len() > 2
            && last.starts_with('`')
            && last.ends_with('`')
            && last.matches('`').count() == 2;
        if errors && !separator && code_span {
            texts.insert(last.trim_matches('`').to_owned());
        }
    }
    texts
}

/// Whether `text` is `template` with each `<placeholder>` standing for some non-empty text.
fn matches(template: &str, text: &str) -> bool {
    let Some(open) = template.find('<') else {
        return template == text;
    };
    let close = open + template[open..].find('>').expect("a placeholder closes");
    let (literal, rest) = (&template[..open], &template[close + 1..]);
    let Some(after) = text.strip_prefix(literal) else {
        return false;
    };
    (1..=after.len())
        .filter(|n| after.is_char_boundary(*n))
        .any(|n| matches(rest, &after[n..]))
}

/// The document's text for each kind of fault, and the decode error inside, if any.
fn fault_template(fault: &Fault) -> (&'static str, Option<&DecodeError>) {
    let text = match fault {
        Fault::FileTooLarge { .. } => "the file is <len> bytes, over the limit of <max> bytes",
        Fault::Empty => "the file is empty",
        Fault::LineTooLong => "line is too long",
        Fault::NotUtf8 => "line is not UTF-8 text",
        Fault::NotHeader(_) => "not a transcript header: <detail>",
        Fault::UnknownFormat => "unknown format or version",
        Fault::HeaderLink => "the header's link is not 32 lowercase hex digits",
        Fault::NotLine(_) => "not a transcript line: <detail>",
        Fault::CardsFirst => "cards must be the two lines after the header",
        Fault::EntryBeforeCards => "entry before both cards",
        Fault::EntryAfterReceipt => "entry after a receipt",
        Fault::ReceiptBeforeCards => "receipt before both cards",
        Fault::TooManyReceipts => "more than two receipts",
        Fault::NotBase64 => "not valid base64",
        Fault::Card(error) => return ("card: <error>", Some(error)),
        Fault::SameStation => "both cards are of the same station",
        Fault::CardsNotOfLink => "the cards do not belong to the link in the header",
        Fault::Entry(error) => return ("<error>", Some(error)),
        Fault::AuthorUnknown => "author is neither station of the link",
        Fault::AuthorOrder { .. } => {
            "<name>'s entries must all come before <other>'s (lower station id first)"
        }
        Fault::EntryLink => "entry belongs to another link",
        Fault::Seq { .. } => "seq is <seq>, the chain needs <S>",
        Fault::Prev => "prev hash does not match the previous entry",
        Fault::Seen { .. } => "seen names no entry of <other> in the file",
        Fault::Receipt(error) => return ("receipt: <error>", Some(error)),
        Fault::ReceiptSigner => "receipt signer is neither station",
        Fault::FirstReceipt { .. } => {
            "the first receipt must be the exporter's (<name>), it is signed by <other>"
        }
        Fault::SecondReceipt { .. } => {
            "the second receipt must be the peer's (<name>), it is signed by <other>"
        }
        Fault::ReceiptLink => "receipt is not for this link",
        Fault::ReceiptTo => "receipt names an unknown station",
        Fault::ReceiptUpto { .. } => {
            "receipt does not match the receipted log: it covers <upto> entries of <name>, the file holds <len>"
        }
        Fault::ReceiptHead { .. } => {
            "receipt does not match the receipted log: its head is not <name>'s entry <upto>"
        }
        Fault::ReceiptExtra { .. } => {
            "receipt does not match the receipted log: it lists <name>'s seq <seq>, the file holds <len>"
        }
        Fault::ExporterReceiptPartial { .. } => {
            "the exporter's receipt covers <upto> of <name>'s <len> entries, not all"
        }
        Fault::ExporterReceiptTime { .. } => {
            "the exporter's receipt is dated <time_ms>, the header says <exported_ms>"
        }
        Fault::CardsMissing => "the two cards are missing",
        Fault::ExporterReceiptMissing => "the exporter's receipt is missing",
        Fault::CheckpointSignature { .. } => "<name>'s checkpoint at size <size> does not verify",
        Fault::CheckpointRoot { .. } => {
            "<name>'s checkpoint at size <size> names another root than its entries in the file"
        }
        Fault::CosignatureSignature { .. } => {
            "<name>'s cosignature of <other>'s log at size <size> does not verify"
        }
        Fault::CosignedCut { .. } => {
            "<other>'s log is cut: <name> cosigned it at size <size>, the file holds <len> entries"
        }
        Fault::CosignedRoot { .. } => {
            "<name>'s cosignature of <other>'s log at size <size> names another root than its entries in the file"
        }
        Fault::WitnessSignature { .. } => {
            "a witness's cosignature of <name>'s checkpoint at size <size> does not verify"
        }
        Fault::WitnessRoot { .. } => {
            "a witness's cosignature of <name>'s checkpoint at size <size> names another root than its entries in the file"
        }
    };
    (text, None)
}

fn decode_template(error: &DecodeError) -> &'static str {
    match error {
        DecodeError::TooLarge { .. } => "<object> is <len> bytes, over the limit of <max> bytes",
        DecodeError::Cbor { .. } => "<object> is not valid CBOR: <detail>",
        DecodeError::NonCanonical { .. } => "<object> is not in deterministic CBOR encoding",
        DecodeError::Field { .. } => "<object>: field <field> is malformed",
        DecodeError::Version { .. } => {
            "<object> has format version <v>, which this build does not read"
        }
        DecodeError::Cose { .. } => "<object>: COSE_Sign1 structure is wrong: <detail>",
        DecodeError::BadSignature { .. } => "<object>: signature does not verify",
        // Card armour is not part of a transcript: never produced here, not in §8.
        DecodeError::Armor { .. } => "(armour)",
        // Every object of a transcript is refused over its size limit first, and each limit
        // is fewer bytes than the most items a decoding reads.
        DecodeError::TooManyItems { .. } => "(too many items)",
        // Only a store re-reading its own entries checks them against a kept id.
        DecodeError::IdMismatch { .. } => "(stored id)",
    }
}

fn disagreement_template(disagreement: &Disagreement) -> &'static str {
    match disagreement {
        Disagreement::Links => "they are transcripts of different links",
        Disagreement::SameExporter { .. } => {
            "both were exported by <name>; verify one export from each side"
        }
        Disagreement::Cards { .. } => "they hold different cards for <name> (<fingerprint>)",
        Disagreement::Entries { .. } => "they hold different entries of <name> at seq <seq>",
    }
}

const NOT_PINNED: &str = "no station of the transcript has the expected fingerprint <fingerprint>";

/// The document's text for each way a checkpoint does not vouch for a file (§8.8).
fn checkpoint_template(error: &CheckpointError) -> &'static str {
    match error {
        CheckpointError::Origin => "the checkpoint's origin is neither station's log of this link",
        CheckpointError::Note(_) => "the checkpoint: <error>",
        CheckpointError::Cut { .. } => {
            "<name>'s log is cut: the checkpoint has size <size>, the file holds <len> entries"
        }
        CheckpointError::Root { .. } => {
            "<name>'s log in the file has another root at size <size> than the checkpoint: it showed two histories"
        }
    }
}

/// What a case produced.
enum Outcome {
    File(TranscriptError),
    Compare(Disagreement),
    Pin(NotPinned),
    Checkpoint(CheckpointError),
}

impl Outcome {
    /// Each (template, text) the outcome shows: its own, and a decode error's inside.
    fn texts(&self) -> Vec<(&'static str, String)> {
        match self {
            Outcome::File(error) => {
                let (template, inner) = fault_template(&error.fault);
                let mut texts = vec![(template, error.fault.to_string())];
                texts.extend(inner.map(|e| (decode_template(e), e.to_string())));
                texts
            }
            Outcome::Compare(d) => vec![(disagreement_template(d), d.to_string())],
            Outcome::Pin(p) => vec![(NOT_PINNED, p.to_string())],
            Outcome::Checkpoint(c) => vec![(checkpoint_template(c), c.to_string())],
        }
    }
}

fn fails(lines: Lines) -> Outcome {
    Outcome::File(lines.verify().expect_err("the case must fail"))
}

fn fails_bytes(bytes: &[u8]) -> Outcome {
    Outcome::File(verify(bytes).expect_err("the case must fail"))
}

/// A third station, outside the link.
fn charlie() -> Identity {
    Identity::from_secret(&[3; 32])
}

fn signed_by(identity: &Identity, mut entry: Entry) -> Vec<u8> {
    entry.author = identity.id();
    entry.sign(identity).bytes().to_vec()
}

/// A transcript that produces each error of §8.
fn cases() -> Vec<Outcome> {
    let history = History::standard();
    let file = history.alpha_export();
    let receipt_1 = file.find("receipt", 2);
    let first_entry = file.find("entry", 2);
    let a4 = file.entry_line(&history, Who::Alpha, 4);
    let (a2, a3) = (
        file.entry_line(&history, Who::Alpha, 2),
        file.entry_line(&history, Who::Alpha, 3),
    );
    let message = |text: &str| Body::Message {
        text: text.into(),
        lang: "en".into(),
        exercise: false,
        translations: Vec::new(),
    };
    let entry_line = |bytes: &[u8]| line("entry", bytes);
    let receipt_line = |bytes: &[u8]| line("receipt", bytes);
    let mut flipped_card = history.alpha.card.clone();
    *flipped_card.last_mut().expect("a card") ^= 1;
    let mut flipped_entry = history.alpha.log[3].bytes().to_vec();
    *flipped_entry.last_mut().expect("an entry") ^= 1;
    let mut flipped_receipt = history.receipt(Who::Bravo, 3, 1);
    *flipped_receipt.last_mut().expect("a receipt") ^= 1;
    let next_alpha = history.next(Who::Alpha, 3, message("next"));
    let receipt = |from: &Identity, to: StationId, link: LinkId, upto: u64, head: EntryId| {
        Receipt {
            link,
            from: from.id(),
            to,
            upto,
            head,
            extra: vec![],
            time_ms: 1,
        }
        .sign(from)
    };
    let (alpha_id, bravo_id) = (history.alpha.identity.id(), history.bravo.identity.id());
    let bravo = &history.bravo.identity;
    let mut non_utf8 = file.text().into_bytes();
    non_utf8.splice(0..0, [b' ', 0xff]);
    let first = history.first();
    let last_of_first = file.entry_line(&history, first, history.author(first).log.len() as u64);
    let mut dangling = History::standard();
    let mut entry = dangling.next(Who::Bravo, 0, message("where?"));
    entry.seen = EntryId([7; 32]);
    dangling.append(Who::Bravo, entry);
    let version_2 = {
        let mut fields = vec![crate::cbor::uint(0); 10];
        fields[0] = crate::cbor::uint(2);
        let payload = crate::cbor::encode(&ciborium::Value::Array(fields));
        cose::sign(&history.alpha.identity, CONTENT_TYPE_ENTRY, payload)
    };
    let seq_0 = {
        let mut entry = history.next(Who::Alpha, 0, message("zero"));
        entry.seq = 0;
        entry.prev = EntryId([1; 32]);
        entry.sign(&history.alpha.identity).bytes().to_vec()
    };
    let too_large = {
        let mut entry = history.next(Who::Alpha, 0, message(""));
        entry.body = message(&"x".repeat(crate::limits::TEXT_SIZE_MAX_BYTES));
        let mut bytes = entry.sign(&history.alpha.identity).bytes().to_vec();
        bytes.resize(crate::limits::ENTRY_SIZE_MAX_BYTES + 1, 0);
        bytes
    };
    let with_extra = {
        let mut receipt = Receipt::decode_verified(&history.receipt(Who::Bravo, 3, 1), &bravo_id)
            .expect("a receipt");
        receipt.extra = vec![9];
        receipt.sign(bravo)
    };
    let alpha = file.verify().expect("verifies");
    let mut renamed = History::standard();
    renamed.bravo.card = card(&renamed.bravo.identity, "Bravo 2", 9);
    let mut forked = History::standard();
    forked.bravo.log.truncate(2);
    forked.say(Who::Bravo, 3, "other");
    let mut elsewhere = History::standard();
    elsewhere.bravo = Author {
        card: card(&charlie(), "Charlie", 10),
        identity: charlie(),
        log: Vec::new(),
    };
    elsewhere.link = LinkId::between(&alpha_id, &charlie().id());
    elsewhere.alpha.log.clear();
    // Checkpoints and cosignatures in the file (K1–K7), and notes against it (N1–N4).
    let with = |build: &dyn Fn(&mut History)| {
        let mut history = History::standard();
        build(&mut history);
        history
    };
    let bad_signature = with(&|h| {
        let mut head = h.head(Who::Alpha, 2, None);
        head.signature = [0; 64];
        h.checkpoint(Who::Alpha, head);
    });
    let bad_root = with(&|h| {
        let head = h.head(Who::Alpha, 2, Some([9; 32]));
        h.checkpoint(Who::Alpha, head);
    });
    let bad_cosignature = with(&|h| {
        let head = h.head(Who::Alpha, 2, None);
        h.cosign(Who::Bravo, head);
        let Some(Body::Cosigned(mut cosigned)) = h.bravo.log.last().map(|e| e.entry().body.clone())
        else {
            unreachable!("just cosigned")
        };
        cosigned.signature = [0; 64];
        h.bravo.log.pop();
        let entry = h.next(Who::Bravo, 0, Body::Cosigned(cosigned));
        h.append(Who::Bravo, entry);
    });
    let cut_below_cosigned = with(&|h| {
        let head = h.head(Who::Alpha, 4, None);
        h.cosign(Who::Bravo, head);
        h.alpha.log.truncate(3);
    });
    let cosigned_other_root = with(&|h| {
        let head = h.head(Who::Alpha, 2, Some([9; 32]));
        h.cosign(Who::Bravo, head);
    });
    let bad_witness = with(&|h| {
        let head = h.head(Who::Alpha, 2, None);
        h.checkpoint(Who::Alpha, head);
        h.witnessed(Who::Alpha, head, &charlie());
        let Some(Body::Witnessed(mut by)) = h.alpha.log.last().map(|e| e.entry().body.clone())
        else {
            unreachable!("just witnessed")
        };
        by.signature = [0; 64];
        h.alpha.log.pop();
        let entry = h.next(Who::Alpha, 0, Body::Witnessed(by));
        h.append(Who::Alpha, entry);
    });
    let witnessed_other_root = with(&|h| {
        let head = h.head(Who::Alpha, 2, Some([9; 32]));
        h.witnessed(Who::Alpha, head, &charlie());
    });
    let in_file = |history: &History| {
        fails(history.export(Who::Alpha, history.bravo.log.len() as u64, Some(3)))
    };
    let note_against = |note: String| {
        Outcome::Checkpoint(check_checkpoint(&alpha, &note).expect_err("it does not vouch"))
    };
    let alpha_note = |size: u64, root: Option<crate::tlog::Hash>| {
        let head = history.head(Who::Alpha, size.min(4), root);
        let head = SignedHead::sign(&history.alpha.identity, &bravo_id, size, head.root);
        head.note(&alpha_id, &bravo_id)
    };
    let charlie_note = {
        let head = SignedHead::sign(&charlie(), &bravo_id, 2, [1; 32]);
        let text = head.text(&alpha_id, &bravo_id);
        crate::tlog::note::sign(
            &text,
            &origin(&alpha_id, &bravo_id),
            charlie().signing_key(),
        )
        .expect("a note")
    };
    let compared = |other: Lines| {
        let other = other.verify().expect("verifies");
        match compare(&alpha, &other, &[]).expect_err("they disagree") {
            CompareError::Disagree(disagreement) => Outcome::Compare(disagreement),
            CompareError::NotPinned(not_pinned) => Outcome::Pin(not_pinned),
        }
    };
    vec![
        // The whole file and every line.
        Outcome::File(verify_within(b"{}\n", 2).expect_err("over")),
        fails_bytes(b""),
        fails(
            file.clone()
                .replace(2, " ".repeat(TRANSCRIPT_LINE_SIZE_MAX_BYTES + 1)),
        ),
        fails_bytes(&non_utf8),
        // Line 1.
        fails(file.clone().replace(1, "{}".into())),
        fails(
            file.clone()
                .replace(1, file.0[0].replace("\"version\":1", "\"version\":2")),
        ),
        fails(
            file.clone()
                .replace(1, file.0[0].replace("\"link\":\"", "\"link\":\"X")),
        ),
        // Later lines, before their object is decoded.
        fails(file.clone().replace(2, "[]".into())),
        fails(file.clone().insert(4, file.0[1].clone())),
        fails(
            file.clone()
                .remove(3)
                .insert(3, file.0[first_entry - 1].clone()),
        ),
        fails(file.clone().push(file.0[first_entry - 1].clone())),
        fails(
            file.clone()
                .remove(3)
                .insert(3, file.0[receipt_1 - 1].clone()),
        ),
        fails(file.clone().push(file.0[receipt_1].clone())),
        fails(file.clone().replace(2, "{\"card\":\"!\"}".into())),
        // Cards.
        fails(file.clone().replace(2, line("card", &flipped_card))),
        fails(file.clone().replace(3, file.0[1].clone())),
        fails(
            file.clone()
                .replace(3, line("card", &card(&charlie(), "Charlie", 10))),
        ),
        // Entries, and the decode errors inside them.
        fails(file.clone().replace(a4, entry_line(&too_large))),
        fails(file.clone().replace(a4, entry_line(b"\xff\xff"))),
        fails(file.clone().replace(
            a4,
            entry_line(&reencoded_entry(
                &history.alpha.identity,
                &history.alpha.log[3],
            )),
        )),
        fails(file.clone().replace(a4, entry_line(&seq_0))),
        fails(file.clone().replace(a4, entry_line(&version_2))),
        fails(
            file.clone()
                .replace(a4, entry_line(&history.receipt(Who::Alpha, 3, 1))),
        ),
        fails(file.clone().replace(a4, entry_line(&flipped_entry))),
        fails(
            file.clone()
                .insert(a4, entry_line(&signed_by(&charlie(), next_alpha.clone()))),
        ),
        fails(file.clone().swap(last_of_first, last_of_first + 1)),
        fails(file.clone().push(String::new()).replace(a4, {
            let mut other_link = next_alpha.clone();
            other_link.seq = 4;
            other_link.prev = history.alpha.log[2].id();
            other_link.link = LinkId([5; 16]);
            entry_line(&signed_by(&history.alpha.identity, other_link))
        })),
        fails(file.clone().swap(a2, a3)),
        fails(file.clone().replace(a4, {
            let mut wrong_prev = next_alpha.clone();
            wrong_prev.seq = 4;
            wrong_prev.prev = EntryId([6; 32]);
            entry_line(&signed_by(&history.alpha.identity, wrong_prev))
        })),
        // The end of the entries.
        fails(dangling.export(Who::Alpha, 4, Some(3))),
        // Receipts.
        fails(file.clone().replace(receipt_1, receipt_line(b"\x00\x01"))),
        fails(file.clone().replace(
            receipt_1 + 1,
            receipt_line(&receipt(
                &charlie(),
                alpha_id,
                history.link,
                0,
                EntryId::NONE,
            )),
        )),
        fails(file.clone().swap(receipt_1, receipt_1 + 1)),
        fails(file.clone().replace(
            receipt_1 + 1,
            receipt_line(&history.receipt(Who::Alpha, 3, 1)),
        )),
        fails(
            file.clone()
                .replace(receipt_1 + 1, receipt_line(&flipped_receipt)),
        ),
        fails(file.clone().replace(
            receipt_1 + 1,
            receipt_line(&receipt(bravo, alpha_id, LinkId([5; 16]), 0, EntryId::NONE)),
        )),
        fails(file.clone().replace(
            receipt_1 + 1,
            receipt_line(&receipt(
                bravo,
                charlie().id(),
                history.link,
                0,
                EntryId::NONE,
            )),
        )),
        fails(file.clone().replace(
            receipt_1 + 1,
            receipt_line(&receipt(bravo, alpha_id, history.link, 5, EntryId([6; 32]))),
        )),
        fails(file.clone().replace(
            receipt_1 + 1,
            receipt_line(&receipt(bravo, alpha_id, history.link, 3, EntryId([6; 32]))),
        )),
        fails(
            file.clone()
                .replace(receipt_1 + 1, receipt_line(&with_extra)),
        ),
        fails(file.clone().replace(
            receipt_1,
            receipt_line(&history.receipt(Who::Alpha, 2, EXPORTED_MS)),
        )),
        fails(
            file.clone()
                .replace(receipt_1, receipt_line(&history.receipt(Who::Alpha, 3, 1))),
        ),
        // The end of the file.
        fails(Lines(file.0[..2].to_vec())),
        fails(Lines(file.0[..receipt_1 - 1].to_vec())),
        // Two exports.
        compared(elsewhere.export(Who::Bravo, 0, None)),
        compared(history.export(Who::Alpha, 3, Some(1))),
        compared(renamed.export(Who::Bravo, 4, Some(3))),
        compared(forked.export(Who::Bravo, 3, Some(2))),
        // Pinned keys.
        Outcome::Pin(check_pins(&alpha, &[charlie().fingerprint()]).expect_err("not pinned")),
        // Checkpoints in the file.
        in_file(&bad_signature),
        in_file(&bad_root),
        in_file(&bad_cosignature),
        in_file(&cut_below_cosigned),
        in_file(&cosigned_other_root),
        in_file(&bad_witness),
        in_file(&witnessed_other_root),
        // A checkpoint obtained apart.
        note_against(
            SignedHead::sign(&charlie(), &alpha_id, 1, [1; 32]).note(&charlie().id(), &alpha_id),
        ),
        note_against(charlie_note),
        note_against(alpha_note(9, None)),
        note_against(alpha_note(2, Some([9; 32]))),
    ]
}

#[test]
fn every_error_in_the_document_is_produced_and_every_error_produced_is_in_it() {
    let documented = documented();
    assert!(
        documented.len() >= 40,
        "only {} texts found in §8",
        documented.len()
    );
    let mut produced = BTreeSet::new();
    for outcome in cases() {
        for (template, text) in outcome.texts() {
            assert!(
                documented.contains(template),
                "produced but not in docs/formats.md §8: {template:?} ({text})"
            );
            assert!(matches(template, &text), "{text:?} is not {template:?}");
            produced.insert(template.to_owned());
        }
    }
    let missing: Vec<&String> = documented.difference(&produced).collect();
    assert!(
        missing.is_empty(),
        "in §8 but produced by no case: {missing:?}"
    );
}

#[test]
fn the_placeholder_matcher_is_strict_about_literal_text() {
    for (template, text, expect) in [
        (
            "seq is <seq>, the chain needs <S>",
            "seq is 3, the chain needs 2",
            true,
        ),
        (
            "seq is <seq>, the chain needs <S>",
            "seq is 3, the chain needs ",
            false,
        ),
        (
            "seq is <seq>, the chain needs <S>",
            "seq is 3 the chain needs 2",
            false,
        ),
        ("<error>", "entry: signature does not verify", true),
        ("the file is empty", "the file is empty.", false),
        ("card: <error>", "card: card: field name is malformed", true),
    ] {
        assert_eq!(matches(template, text), expect, "{template:?} {text:?}");
    }
}
