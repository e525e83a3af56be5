//! Entries: signing, every kind's encoding, and what decoding refuses.

use super::*;
use crate::id::{CodebookHash, EpochKeyId};
use crate::limits::{
    TEST_ANSWER_WITHIN_MS_MAX, TEST_EVERY_MS_MAX, TEST_EVERY_MS_MIN, TEST_TIMES_MAX,
    TEXT_SIZE_MAX_BYTES,
};
use crate::seal::PeerEpochKey;

fn message(author: &Identity, seq: u64, prev: EntryId, text: &str) -> Entry {
    Entry {
        link: LinkId([9; 16]),
        author: author.id(),
        seq,
        prev,
        seen: EntryId::NONE,
        time_ms: 1_700_000_000_000,
        precedence: Precedence::Flash,
        body: Body::Message {
            text: text.into(),
            lang: "en".into(),
            exercise: false,
            translations: Vec::new(),
        },
        operator: None,
    }
}

#[test]
fn entries_round_trip_and_refuse_tampering() {
    let alice = Identity::from_secret(&[1; 32]);
    let signed = message(&alice, 1, EntryId::NONE, "hello").sign(&alice);
    let back = SignedEntry::decode_verified(signed.bytes(), &alice.id()).unwrap();
    assert_eq!(back, signed);
    assert_eq!(
        SignedEntry::author_unverified(signed.bytes()).unwrap(),
        alice.id()
    );

    let bob = Identity::from_secret(&[2; 32]);
    assert!(SignedEntry::decode_verified(signed.bytes(), &bob.id()).is_err());
    for i in 0..signed.bytes().len() {
        let mut flipped = signed.bytes().to_vec();
        flipped[i] ^= 0x10;
        assert!(
            SignedEntry::decode_verified(&flipped, &alice.id()).is_err(),
            "byte {i}"
        );
    }
}

fn with_body(author: &Identity, body: Body) -> Entry {
    Entry {
        body,
        ..message(author, 2, EntryId([1; 32]), "x")
    }
}

/// Each kind round-trips, and each bound holds on both sides.
#[test]
fn every_kind_round_trips_within_its_bounds() {
    let alice = Identity::from_secret(&[1; 32]);
    let of = EntryId([7; 32]);
    let longest = "x".repeat(TEXT_SIZE_MAX_BYTES);
    let peer = Identity::from_secret(&[2; 32]).id();
    let head = crate::tlog::head::SignedHead::sign(&alice, &peer, 1, [3; 32]);
    let pq = crate::tlog::head::PqHeadSignature::sign(&alice, &peer, &head);
    let schedule = |times_min: Vec<u16>, every_ms, answer, answer_within_ms| {
        Body::Schedule(TestSchedule {
            times_min,
            every_ms,
            answer,
            answer_within_ms,
        })
    };
    let cases: Vec<(Body, bool)> = vec![
        (
            Body::Message {
                text: "drill".into(),
                lang: "en".into(),
                exercise: true,
                translations: Vec::new(),
            },
            true,
        ),
        (
            Body::Understood {
                of,
                operator: "Ana".into(),
                restatement: longest.clone(),
            },
            true,
        ),
        (
            Body::Understood {
                of,
                operator: String::new(),
                restatement: String::new(),
            },
            true,
        ),
        (
            Body::Understood {
                of,
                operator: "A\u{202e}na".into(),
                restatement: String::new(),
            },
            false,
        ),
        (
            Body::Understood {
                of,
                operator: "x".repeat(NAME_SIZE_MAX_BYTES + 1),
                restatement: String::new(),
            },
            false,
        ),
        (
            Body::Understood {
                of,
                operator: "Ana".into(),
                restatement: longest.clone() + "x",
            },
            false,
        ),
        (
            Body::Clarify {
                of,
                operator: "Ana".into(),
                question: "which one?".into(),
            },
            true,
        ),
        (
            Body::Clarify {
                of,
                operator: "Ana".into(),
                question: String::new(),
            },
            false,
        ),
        (
            Body::Clarify {
                of,
                operator: String::new(),
                question: "?".into(),
            },
            false,
        ),
        (
            Body::Overdue {
                of,
                objective: Objective::Understood,
                due_ms: 9,
                receipted_ms: Some(5),
            },
            true,
        ),
        (
            Body::Overdue {
                of,
                objective: Objective::TestAnswer,
                due_ms: 9,
                receipted_ms: None,
            },
            true,
        ),
        (
            Body::Cancel {
                of,
                reason: String::new(),
            },
            true,
        ),
        (
            Body::Test {
                answer: TestAnswer::Operator,
                answer_within_ms: TEST_ANSWER_WITHIN_MS_MAX,
            },
            true,
        ),
        (
            Body::Test {
                answer: TestAnswer::Machine,
                answer_within_ms: TEST_ANSWER_WITHIN_MS_MAX + 1,
            },
            false,
        ),
        (
            Body::Test {
                answer: TestAnswer::Machine,
                answer_within_ms: 0,
            },
            false,
        ),
        (
            schedule(vec![540, 1_020], 0, Some(TestAnswer::Operator), 600_000),
            true,
        ),
        (
            schedule(vec![], TEST_EVERY_MS_MIN, Some(TestAnswer::Machine), 1),
            true,
        ),
        (
            schedule(vec![], TEST_EVERY_MS_MIN - 1, Some(TestAnswer::Machine), 1),
            false,
        ),
        (
            schedule(vec![], TEST_EVERY_MS_MAX + 1, Some(TestAnswer::Machine), 1),
            false,
        ),
        (schedule(vec![], 0, None, 0), true),
        (schedule(vec![], 0, Some(TestAnswer::Machine), 1), false),
        (
            schedule(vec![1_020, 540], 0, Some(TestAnswer::Operator), 1),
            false,
        ),
        (
            schedule(vec![540, 540], 0, Some(TestAnswer::Operator), 1),
            false,
        ),
        (
            schedule(vec![1_440], 0, Some(TestAnswer::Operator), 1),
            false,
        ),
        (
            schedule(vec![540], 60_000, Some(TestAnswer::Operator), 1),
            false,
        ),
        (
            schedule(
                (0..TEST_TIMES_MAX as u16).collect(),
                0,
                Some(TestAnswer::Operator),
                1,
            ),
            true,
        ),
        (
            schedule(
                (0..=TEST_TIMES_MAX as u16).collect(),
                0,
                Some(TestAnswer::Operator),
                1,
            ),
            false,
        ),
        // A checkpoint with its post-quantum signature, and one without (a station before
        // it had the key).
        (Body::Checkpoint(head, Some(pq)), true),
        (Body::Checkpoint(head, None), true),
        // A cosignature with the cosigner's post-quantum signature, and one without.
        (
            Body::Cosigned(crate::tlog::head::Cosignature::sign(
                &alice,
                &peer,
                head,
                1_700_000_000,
            )),
            true,
        ),
        (
            Body::Cosigned(crate::tlog::head::Cosignature::sign_classical(
                &alice,
                &peer,
                head,
                1_700_000_000,
            )),
            true,
        ),
    ];
    for (body, valid) in cases {
        assert_eq!(body.check().is_ok(), valid, "{body:?}");
        let signed = with_body(&alice, body.clone()).sign(&alice);
        let decoded = SignedEntry::decode_verified(signed.bytes(), &alice.id());
        assert_eq!(decoded.is_ok(), valid, "{body:?}");
        if valid {
            assert_eq!(decoded.unwrap().entry().body, body);
        }
    }
}

#[test]
fn an_overdue_entry_never_reports_a_missed_receipt() {
    let alice = Identity::from_secret(&[1; 32]);
    let body = Body::Overdue {
        of: EntryId([7; 32]),
        objective: Objective::Receipt,
        due_ms: 9,
        receipted_ms: None,
    };
    assert!(body.check().is_err());
    let signed = with_body(&alice, body).sign(&alice);
    assert!(SignedEntry::decode_verified(signed.bytes(), &alice.id()).is_err());
}

#[test]
fn a_message_has_one_encoding_with_or_without_the_exercise_mark() {
    let plain = Body::Message {
        text: "x".into(),
        lang: "en".into(),
        exercise: false,
        translations: Vec::new(),
    };
    let Value::Array(mut items) = plain.to_value() else {
        unreachable!()
    };
    assert_eq!(items.len(), 2, "no flags when there is none");
    items.push(cbor::uint(0));
    assert!(Body::from_value(Kind::Message, Value::Array(items.clone())).is_err());
    items[2] = cbor::uint(2);
    assert!(Body::from_value(Kind::Message, Value::Array(items)).is_err());
}

#[test]
fn schedules_give_their_next_due_time() {
    const DAY_MS: u64 = 24 * 3_600_000;
    let daily = TestSchedule {
        times_min: vec![540, 1_020],
        every_ms: 0,
        answer: Some(TestAnswer::Operator),
        answer_within_ms: 1,
    };
    let day = 20_000 * DAY_MS;
    assert_eq!(daily.next_due_ms(0, day), Some(day + 540 * 60_000));
    assert_eq!(
        daily.next_due_ms(0, day + 540 * 60_000),
        Some(day + 1_020 * 60_000)
    );
    assert_eq!(
        daily.next_due_ms(0, day + 1_020 * 60_000),
        Some(day + DAY_MS + 540 * 60_000)
    );
    // Asked from before the schedule began (a restart checking back from its last record):
    // no due time before it. Begun at 09:05, the first is 17:00, not 09:00; begun at 09:00
    // exactly, 17:00 too (strictly after).
    let began = day + 545 * 60_000;
    let before = day + 500 * 60_000;
    assert_eq!(daily.next_due_ms(began, before), Some(day + 1_020 * 60_000));
    let at_nine = day + 540 * 60_000;
    assert_eq!(
        daily.next_due_ms(at_nine, before),
        Some(day + 1_020 * 60_000)
    );
    assert_eq!(daily.next_due_ms(at_nine - 1, before), Some(at_nine));
    let every = TestSchedule {
        times_min: vec![],
        every_ms: 5_000,
        answer: Some(TestAnswer::Machine),
        answer_within_ms: 1,
    };
    assert_eq!(every.next_due_ms(1_000, 1_000), Some(6_000));
    assert_eq!(every.next_due_ms(1_000, 5_999), Some(6_000));
    assert_eq!(every.next_due_ms(1_000, 6_000), Some(11_000));
    assert_eq!(TestSchedule::default().next_due_ms(0, 0), None);
}

#[test]
fn a_stored_entry_decodes_only_while_its_bytes_hash_to_its_id() {
    let alice = Identity::from_secret(&[1; 32]);
    let signed = message(&alice, 1, EntryId::NONE, "hello").sign(&alice);
    let back = SignedEntry::decode_stored(signed.bytes(), &signed.id()).unwrap();
    assert_eq!(back, signed);
    for i in 0..signed.bytes().len() {
        let mut flipped = signed.bytes().to_vec();
        flipped[i] ^= 0x01;
        assert_eq!(
            SignedEntry::decode_stored(&flipped, &signed.id()),
            Err(DecodeError::IdMismatch { what: "entry" }),
            "byte {i}"
        );
    }
}

#[test]
fn text_limit_holds_on_both_sides() {
    let alice = Identity::from_secret(&[1; 32]);
    let at_limit = "x".repeat(TEXT_SIZE_MAX_BYTES);
    let signed = message(&alice, 1, EntryId::NONE, &at_limit).sign(&alice);
    assert!(SignedEntry::decode_verified(signed.bytes(), &alice.id()).is_ok());
    let over = "x".repeat(TEXT_SIZE_MAX_BYTES + 1);
    let signed = message(&alice, 1, EntryId::NONE, &over).sign(&alice);
    assert!(SignedEntry::decode_verified(signed.bytes(), &alice.id()).is_err());
}

#[test]
fn an_announced_key_passes_the_same_check_as_a_card_key() {
    let alice = Identity::from_secret(&[1; 32]);
    let announce = |public: Vec<u8>| Entry {
        body: Body::KeyAnnouncement {
            key_id: EpochKeyId::of(&public),
            public,
        },
        ..message(&alice, 1, EntryId::NONE, "")
    };
    let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_seed([7; 32]);
    let good = crate::seal::EpochSecret::generate(&mut rng)
        .public_bytes()
        .to_vec();
    let signed = announce(good.clone()).sign(&alice);
    assert!(SignedEntry::decode_verified(signed.bytes(), &alice.id()).is_ok());
    // Coefficients of 4095, above the ML-KEM modulus 3329: the right length and a
    // matching id, but not an encapsulation key (FIPS 203 §7.2 modulus check).
    let mut over_modulus = good;
    over_modulus[..1184].fill(0xff);
    let refused = DecodeError::Field {
        what: "entry",
        field: "body.public",
    };
    let signed = announce(over_modulus.clone()).sign(&alice);
    assert_eq!(
        SignedEntry::decode_verified(signed.bytes(), &alice.id()),
        Err(refused)
    );
    assert!(
        PeerEpochKey::from_bytes(&over_modulus).is_err(),
        "as a card's key"
    );
}

#[test]
fn seq_one_has_no_prev_and_later_seqs_have_one() {
    let alice = Identity::from_secret(&[1; 32]);
    let bad = message(&alice, 2, EntryId::NONE, "x").sign(&alice);
    assert!(SignedEntry::decode_verified(bad.bytes(), &alice.id()).is_err());
    let bad = message(&alice, 1, EntryId([1; 32]), "x").sign(&alice);
    assert!(SignedEntry::decode_verified(bad.bytes(), &alice.id()).is_err());
    let good = message(&alice, 2, EntryId([1; 32]), "x").sign(&alice);
    assert!(SignedEntry::decode_verified(good.bytes(), &alice.id()).is_ok());
}

/// The codebook kinds and translations: each round-trips, and each bound holds on both sides.
#[test]
fn codebook_kinds_and_translations_round_trip_within_their_bounds() {
    use crate::limits::{CODEBOOK_SIZE_MAX_BYTES, PARAM_NAME_SIZE_MAX_BYTES, TRANSLATIONS_MAX};
    use crate::value::Value as Typed;
    let alice = Identity::from_secret(&[1; 32]);
    let hash = CodebookHash([3; 32]);
    let translation = |lang: &str, text: &str| Translation {
        lang: lang.into(),
        text: text.into(),
    };
    let message = |translations: Vec<Translation>| Body::Message {
        text: "hold".into(),
        lang: "en".into(),
        exercise: false,
        translations,
    };
    let coded = |params: Vec<(String, Typed)>, exercise| Body::Coded {
        codebook: hash,
        code: 3,
        params,
        exercise,
    };
    let notice = |form: &str| Body::Notice {
        codebook: hash,
        form: form.into(),
        fields: vec![("launch".into(), Typed::Time(1_800_000_000_000))],
        exercise: false,
    };
    let many: Vec<Translation> = (0..=TRANSLATIONS_MAX)
        .map(|i| translation(&format!("l{i:02}"), "t"))
        .collect();
    let cases: Vec<(Body, bool)> = vec![
        (message(vec![translation("ru", "стоп")]), true),
        (message(many[..TRANSLATIONS_MAX].to_vec()), true),
        (message(many.clone()), false),
        (message(vec![translation("en", "own language")]), false),
        (message(vec![translation("ru", "")]), false),
        (message(vec![translation("ru", " \t\u{3000}")]), false),
        (message(vec![translation("r u", "bad tag")]), false),
        (
            message(vec![translation("ru", "b"), translation("de", "a")]),
            false,
        ),
        (coded(Vec::new(), false), true),
        (coded(vec![("time".into(), Typed::Integer(-1))], true), true),
        (
            coded(
                vec![
                    ("b".into(), Typed::Integer(1)),
                    ("a".into(), Typed::Integer(1)),
                ],
                false,
            ),
            false,
        ),
        (notice("missile_launch"), true),
        (notice(&"f".repeat(PARAM_NAME_SIZE_MAX_BYTES)), true),
        (notice(&"f".repeat(PARAM_NAME_SIZE_MAX_BYTES + 1)), false),
        (notice("Missile"), false),
        (
            Body::CodebookProposal {
                source: "x".repeat(CODEBOOK_SIZE_MAX_BYTES),
            },
            true,
        ),
        (
            Body::CodebookProposal {
                source: "x".repeat(CODEBOOK_SIZE_MAX_BYTES + 1),
            },
            false,
        ),
        (
            Body::CodebookAccept {
                codebook: hash,
                operator: "Ana".into(),
            },
            true,
        ),
        (
            Body::CodebookAccept {
                codebook: hash,
                operator: String::new(),
            },
            false,
        ),
        (
            Body::Translate {
                of: EntryId([7; 32]),
                lang: "ru".into(),
                text: "понято".into(),
                operator: "Boris".into(),
            },
            true,
        ),
        (
            Body::Translate {
                of: EntryId([7; 32]),
                lang: "ru".into(),
                text: String::new(),
                operator: "Boris".into(),
            },
            false,
        ),
        (
            Body::Translate {
                of: EntryId([7; 32]),
                lang: "ru".into(),
                text: "  \n".into(),
                operator: "Boris".into(),
            },
            false,
        ),
    ];
    for (body, valid) in cases {
        assert_eq!(body.check().is_ok(), valid, "{body:?}");
        let signed = with_body(&alice, body.clone()).sign(&alice);
        let back = SignedEntry::decode_verified(signed.bytes(), &alice.id());
        if valid {
            assert_eq!(back.expect("decodes").entry().body, body);
        } else {
            assert!(back.is_err(), "{body:?}");
        }
    }
}

/// A message's flags are 0 only when translations follow them; a coded message's flags are
/// present only when set.
#[test]
fn flags_have_one_encoding_with_translations_and_codes() {
    let with_translation = Body::Message {
        text: "x".into(),
        lang: "en".into(),
        exercise: false,
        translations: vec![Translation {
            lang: "ru".into(),
            text: "х".into(),
        }],
    };
    let Value::Array(items) = with_translation.to_value() else {
        unreachable!()
    };
    assert_eq!(items.len(), 4);
    assert_eq!(items[2], cbor::uint(0));
    let mut empty = items.clone();
    empty[3] = Value::Array(Vec::new());
    assert!(Body::from_value(Kind::Message, Value::Array(empty)).is_err());
    let coded = Body::Coded {
        codebook: CodebookHash([1; 32]),
        code: 1,
        params: Vec::new(),
        exercise: false,
    };
    let Value::Array(mut items) = coded.to_value() else {
        unreachable!()
    };
    assert_eq!(items.len(), 3);
    items.push(cbor::uint(0));
    assert!(Body::from_value(Kind::Coded, Value::Array(items)).is_err());
}

/// The header names who wrote an entry whose body does not; one entry names one operator.
#[test]
fn the_header_names_the_operator_once() {
    let alice = Identity::from_secret(&[1; 32]);
    let by = |operator: Option<&str>, body: Body| Entry {
        operator: operator.map(str::to_owned),
        ..with_body(&alice, body)
    };
    let text = |text: &str| Body::Message {
        text: text.into(),
        lang: "en".into(),
        exercise: false,
        translations: Vec::new(),
    };
    // Without an operator the payload keeps its ten items (what older stations wrote).
    let plain = by(None, text("x")).sign(&alice);
    let back = SignedEntry::decode_verified(plain.bytes(), &alice.id()).unwrap();
    assert_eq!(back.entry().operator(), None);
    let signed = by(Some("Ana"), text("x")).sign(&alice);
    assert!(signed.bytes().len() > plain.bytes().len());
    let back = SignedEntry::decode_verified(signed.bytes(), &alice.id()).unwrap();
    assert_eq!(back, signed);
    assert_eq!(back.entry().operator(), Some("Ana"));
    // A body naming its operator answers for the header's.
    let understood = Body::Understood {
        of: EntryId([7; 32]),
        operator: "Boris".into(),
        restatement: String::new(),
    };
    assert_eq!(by(None, understood.clone()).operator(), Some("Boris"));
    // Refused on decoding: a name breaking the name rule, an empty one, one too long, and a
    // second name on a body that has one.
    let longest = "n".repeat(NAME_SIZE_MAX_BYTES);
    let signed = by(Some(&longest), text("x")).sign(&alice);
    let back = SignedEntry::decode_verified(signed.bytes(), &alice.id()).unwrap();
    assert_eq!(back.entry().operator(), Some(longest.as_str()));
    for (operator, body) in [
        ("", text("x")),
        ("Ana\u{202e}", text("x")),
        (&*format!("{longest}n"), text("x")),
        ("Ana", understood),
    ] {
        let entry = by(Some(operator), body);
        let refused = DecodeError::Field {
            what: "entry",
            field: "operator",
        };
        assert_eq!(entry.check_operator(), Err(refused.clone()), "{operator:?}");
        let signed = entry.sign(&alice);
        let error = SignedEntry::decode_verified(signed.bytes(), &alice.id()).unwrap_err();
        assert_eq!(error, refused, "{operator:?}");
        assert!(SignedEntry::decode_stored(signed.bytes(), &signed.id()).is_err());
    }
}

/// A witness's cosignature names its witness by key alone when it is a relay's name, and
/// carries the name of a stock witness: one encoding each, and a name that could not be shown
/// as written (not printable ASCII, too long) is refused.
#[test]
fn a_witnessed_entry_carries_a_stock_witness_s_name_and_only_it() {
    use crate::tlog::head::{SignedHead, Witness, WitnessCosignature};
    use crate::tlog::note::KEY_NAME_SIZE_MAX_BYTES;

    let (alpha, bravo, key) = (
        Identity::from_secret(&[1; 32]),
        Identity::from_secret(&[2; 32]),
        Identity::from_secret(&[3; 32]),
    );
    let (a, b) = (alpha.id(), bravo.id());
    let head = SignedHead::sign(&alpha, &b, 1, [7; 32]);
    let relay = WitnessCosignature::sign(&key, (&a, &b), head, 1_800_000_000);
    let named = |name: &str| Witness {
        name: name.into(),
        key: key.id(),
    };
    let stock = WitnessCosignature::sign_as(
        &key,
        named("witness.example/w1"),
        (&a, &b),
        head,
        1_800_000_000,
    );
    let items = |body: &Body| match body.to_value() {
        Value::Array(items) => items,
        _ => unreachable!(),
    };
    assert_eq!(items(&Body::Witnessed(relay.clone())).len(), 6);
    assert_eq!(items(&Body::Witnessed(stock.clone())).len(), 7);
    for body in [Body::Witnessed(relay.clone()), Body::Witnessed(stock)] {
        let signed = with_body(&alpha, body.clone()).sign(&alpha);
        let decoded = SignedEntry::decode_verified(signed.bytes(), &a).unwrap();
        assert_eq!(decoded.entry().body, body);
    }
    // The name at its limit reads; one byte over, a relay's name spelt out, or a name that is
    // not printable ASCII does not.
    let with_name = |name: &str| {
        let mut items = items(&Body::Witnessed(relay.clone()));
        items.push(cbor::text(name));
        Body::from_value(Kind::Witnessed, Value::Array(items))
    };
    let longest = "n".repeat(KEY_NAME_SIZE_MAX_BYTES);
    assert!(with_name(&longest).is_ok());
    for bad in [
        format!("{longest}n"),
        crate::tlog::head::witness(&key.id()),
        "t\u{e9}moin".to_owned(),
        "w\u{202e}1".to_owned(),
        "a b".to_owned(),
        String::new(),
        // parley's own names, in any case, for another key or a station.
        crate::tlog::head::witness(&alpha.id()),
        crate::tlog::head::witness(&key.id()).to_uppercase(),
        crate::tlog::head::cosigner(&key.id()),
        "Parley.example".to_owned(),
    ] {
        assert!(with_name(&bad).is_err(), "{bad:?}");
    }
}
