//! Writes seed corpora: for the `entry` target one validly signed entry of every kind, for the
//! `transcript` target a small transcript that verifies, and a valid signed envelope, receipt,
//! card (binary and armoured) and bundle for their targets, so the fuzzer starts inside the
//! decoders instead of having to find COSE, CBOR and the transcript's lines by itself.
//!
//!   cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus

use parley_proto::card::ContactCard;
use parley_proto::envelope::Envelope;
use parley_proto::frame::{Frame, TAG_ENVELOPE, TAG_RECEIPT};
use parley_proto::receipt::Receipt;
use parley_proto::seal::Sealed;
use parley_proto::transcript::{TranscriptParts, export, verify};
use parley_proto::{
    Body, Bundle, CodebookHash, Entry, EntryId, EpochKeyId, EpochSecret, Identity, LinkId,
    Objective, Point, Precedence, SignedEntry, TestAnswer, TestSchedule, Translation, Value,
};

const TIME_MS: u64 = 1_750_000_000_000;

fn main() -> std::io::Result<()> {
    let corpus = std::env::args()
        .nth(1)
        .expect("usage: seeds DIR (the corpus folder, fuzz/corpus)");
    let dir = format!("{corpus}/entry");
    std::fs::create_dir_all(&dir)?;
    let author = Identity::from_secret(&[1; 32]);
    let peer = Identity::from_secret(&[2; 32]);
    let of = EntryId([9; 32]);
    let epoch = EpochSecret::from_secret_bytes(&[3; 32]).expect("any 32 bytes are an X-Wing seed");
    let public = epoch.public_bytes().to_vec();
    let codebook = CodebookHash([7; 32]);
    let bodies = [
        (
            "message",
            Body::Message {
                text: "hold fire".into(),
                lang: "en".into(),
                exercise: false,
                translations: Vec::new(),
            },
        ),
        (
            "exercise",
            Body::Message {
                text: "drill".into(),
                lang: "en".into(),
                exercise: true,
                translations: Vec::new(),
            },
        ),
        (
            "translated",
            Body::Message {
                text: "hold fire".into(),
                lang: "en".into(),
                exercise: false,
                translations: vec![Translation {
                    lang: "ru".into(),
                    text: "прекратить огонь".into(),
                }],
            },
        ),
        (
            "coded",
            Body::Coded {
                codebook,
                code: 3,
                // In name order, as the canonical form requires.
                params: vec![
                    ("at".into(), Value::Time(TIME_MS)),
                    ("count".into(), Value::Integer(2)),
                    ("why".into(), Value::Choice("exercise".into())),
                ],
                exercise: false,
            },
        ),
        (
            "notice",
            Body::Notice {
                codebook,
                form: "launch".into(),
                fields: vec![
                    (
                        "area".into(),
                        Value::Circle {
                            centre: Point {
                                lat_e6: 55_750_000,
                                lon_e6: 37_620_000,
                            },
                            radius_m: 10_000,
                        },
                    ),
                    ("note".into(), Value::Text("test flight".into())),
                    ("window".into(), Value::Duration(3_600)),
                ],
                exercise: true,
            },
        ),
        (
            "codebook_proposal",
            Body::CodebookProposal {
                source: "version = 1\n".into(),
            },
        ),
        (
            "codebook_accept",
            Body::CodebookAccept {
                codebook,
                operator: "Ana".into(),
            },
        ),
        (
            "translate",
            Body::Translate {
                of,
                lang: "ru".into(),
                text: "прекратить огонь".into(),
                operator: "Ana".into(),
            },
        ),
        (
            "key_announcement",
            Body::KeyAnnouncement {
                key_id: EpochKeyId::of(&public),
                public: public.clone(),
            },
        ),
        (
            "understood",
            Body::Understood {
                of,
                operator: "Ana".into(),
                restatement: "they hold fire".into(),
            },
        ),
        (
            "clarify",
            Body::Clarify {
                of,
                operator: "Ana".into(),
                question: "which ridge?".into(),
            },
        ),
        (
            "overdue",
            Body::Overdue {
                of,
                objective: Objective::Understood,
                due_ms: 1_000,
                receipted_ms: Some(500),
            },
        ),
        (
            "cancel",
            Body::Cancel {
                of,
                reason: "sensor fault".into(),
            },
        ),
        (
            "test",
            Body::Test {
                answer: TestAnswer::Machine,
                answer_within_ms: 60_000,
            },
        ),
        (
            "schedule",
            Body::Schedule(TestSchedule {
                times_min: vec![540, 1020],
                every_ms: 0,
                answer: Some(TestAnswer::Operator),
                answer_within_ms: 600_000,
            }),
        ),
    ];
    for (name, body) in bodies {
        // Who wrote it, where the body does not already name an operator.
        let operator = body.operator().is_none().then(|| "Boris".to_owned());
        let entry = Entry {
            link: LinkId::between(&author.id(), &peer.id()),
            author: author.id(),
            seq: 1,
            prev: EntryId::NONE,
            seen: EntryId::NONE,
            time_ms: TIME_MS,
            precedence: Precedence::Flash,
            operator,
            body,
        }
        .sign(&author);
        if let Err(error) = SignedEntry::decode_verified(entry.bytes(), &author.id()) {
            panic!("the {name} seed does not decode: {error}");
        }
        std::fs::write(format!("{dir}/seed-{name}"), entry.bytes())?;
    }
    let dir = format!("{corpus}/transcript");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        format!("{dir}/seed-two-logs"),
        transcript(&author, &peer, &public),
    )?;
    signed_frames(&corpus, &author, &peer, &public)
}

/// A valid envelope, receipt, card (binary and armoured) and bundle, each in its target's
/// corpus. The envelope's sealed part is filler: its target checks the signature, not the
/// contents.
fn signed_frames(
    corpus: &str,
    a: &Identity,
    b: &Identity,
    epoch_public: &[u8],
) -> std::io::Result<()> {
    let link = LinkId::between(&a.id(), &b.id());
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = format!("{corpus}/{target}");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(format!("{dir}/seed-{name}"), bytes)
    };
    let envelope = Envelope::sign(
        a,
        link,
        b.id(),
        1,
        EntryId([9; 32]),
        Sealed {
            key_id: EpochKeyId::of(epoch_public),
            encapsulated: vec![0x11; 1_120],
            ciphertext: vec![0x22; 200],
        },
    );
    let peeked = Envelope::peek(&envelope).expect("the seed envelope parses");
    assert!(
        peeked.check_signature().is_ok(),
        "the seed envelope verifies"
    );
    write("envelope", "signed", &envelope)?;
    let receipt = Receipt {
        link,
        from: b.id(),
        to: a.id(),
        upto: 1,
        head: EntryId([9; 32]),
        extra: vec![3, 4],
        time_ms: TIME_MS,
    }
    .sign(b);
    Receipt::decode_verified(&receipt, &b.id()).expect("the seed receipt verifies");
    write("receipt", "signed", &receipt)?;
    let card = ContactCard {
        name: "Alpha".into(),
        identity: a.id(),
        epoch_key_id: EpochKeyId::of(epoch_public),
        epoch_public: epoch_public.to_vec(),
        addresses: vec!["quic://127.0.0.1:7300".into()],
        lang: "en".into(),
        created_ms: TIME_MS,
        pq_key: Some(a.pq().public().clone()),
    };
    let signed_card = card.sign(a);
    ContactCard::decode_verified(&signed_card).expect("the seed card verifies");
    let armoured = card.to_text(&signed_card);
    ContactCard::from_text(&armoured).expect("the armoured seed card reads");
    write("card", "signed", &signed_card)?;
    write("card", "armoured", armoured.as_bytes())?;
    let bundle = Bundle {
        link,
        from: a.id(),
        to: b.id(),
        created_ms: TIME_MS,
        frames: vec![
            Frame::encode(TAG_ENVELOPE, &envelope),
            Frame::encode(TAG_RECEIPT, &receipt),
        ],
    }
    .sign(a);
    let peeked = Bundle::peek(&bundle).expect("the seed bundle parses");
    assert!(peeked.verify().is_ok(), "the seed bundle verifies");
    write("bundle", "signed", &bundle)
}

/// A transcript of a link where `a` sent a message and `b` answered it, exported by `a`.
fn transcript(a: &Identity, b: &Identity, epoch_public: &[u8]) -> String {
    let link = LinkId::between(&a.id(), &b.id());
    let card = |who: &Identity, name: &str| {
        ContactCard {
            name: name.into(),
            identity: who.id(),
            epoch_key_id: EpochKeyId::of(epoch_public),
            epoch_public: epoch_public.to_vec(),
            addresses: Vec::new(),
            lang: "en".into(),
            created_ms: TIME_MS,
            pq_key: Some(who.pq().public().clone()),
        }
        .sign(who)
    };
    let entry = |who: &Identity, seen: EntryId, body: Body| -> SignedEntry {
        Entry {
            link,
            author: who.id(),
            seq: 1,
            prev: EntryId::NONE,
            seen,
            time_ms: TIME_MS,
            precedence: Precedence::Flash,
            operator: None,
            body,
        }
        .sign(who)
    };
    let message = entry(
        a,
        EntryId::NONE,
        Body::Message {
            text: "hold fire".into(),
            lang: "en".into(),
            exercise: false,
            translations: Vec::new(),
        },
    );
    let answer = entry(
        b,
        message.id(),
        Body::Understood {
            of: message.id(),
            operator: "Ana".into(),
            restatement: "they hold fire".into(),
        },
    );
    let receipt = |holder: &Identity, of: &Identity, held: &SignedEntry| {
        Receipt {
            link,
            from: holder.id(),
            to: of.id(),
            upto: 1,
            head: held.id(),
            extra: Vec::new(),
            time_ms: TIME_MS,
        }
        .sign(holder)
    };
    let mut entries = vec![message.clone(), answer.clone()];
    entries.sort_by_key(|e| e.entry().author);
    let (card_a, card_b) = (card(a, "Alpha"), card(b, "Bravo"));
    let text = export(&TranscriptParts {
        link,
        exported_ms: TIME_MS,
        cards: [&card_a, &card_b],
        entries: entries.iter().map(|e| e.bytes().to_vec()).collect(),
        receipts: vec![receipt(a, b, &answer), receipt(b, a, &message)],
    });
    verify(text.as_bytes()).expect("the seed transcript verifies");
    text
}
