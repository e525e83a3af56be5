//! Writes seed corpora: for the `entry` target one validly signed entry of every kind, and for
//! the `transcript` target a small transcript that verifies, so the fuzzer starts inside the
//! decoders instead of having to find COSE, CBOR and the transcript's lines by itself.
//!
//!   cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus

use parley_proto::card::ContactCard;
use parley_proto::receipt::Receipt;
use parley_proto::transcript::{TranscriptParts, export, verify};
use parley_proto::{
    Body, Entry, EntryId, EpochKeyId, EpochSecret, Identity, LinkId, Objective, Precedence,
    SignedEntry, TestAnswer, TestSchedule,
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
    let bodies = [
        (
            "message",
            Body::Message {
                text: "hold fire".into(),
                lang: "en".into(),
                exercise: false,
            },
        ),
        (
            "exercise",
            Body::Message {
                text: "drill".into(),
                lang: "en".into(),
                exercise: true,
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
        let entry = Entry {
            link: LinkId::between(&author.id(), &peer.id()),
            author: author.id(),
            seq: 1,
            prev: EntryId::NONE,
            seen: EntryId::NONE,
            time_ms: TIME_MS,
            precedence: Precedence::Flash,
            body,
        }
        .sign(&author);
        std::fs::write(format!("{dir}/seed-{name}"), entry.bytes())?;
    }
    let dir = format!("{corpus}/transcript");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(format!("{dir}/seed-two-logs"), transcript(&author, &peer, &public))?;
    Ok(())
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
