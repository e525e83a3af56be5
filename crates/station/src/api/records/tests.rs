//! How records read a link's entries: answers and cancellations on the right sides,
//! codebook agreement, and what a coded message or notice shows.

use parley_proto::{Entry, Identity, LinkId};

use super::*;

/// Entries of one link between `us` and `peer`, each log chained by seq.
struct Logs {
    us: Identity,
    peer: Identity,
    entries: Vec<KeptEntry>,
}

impl Logs {
    fn new() -> Self {
        Self {
            us: Identity::from_secret(&[1; 32]),
            peer: Identity::from_secret(&[2; 32]),
            entries: Vec::new(),
        }
    }

    fn write(&mut self, by_peer: bool, body: Body) -> EntryId {
        self.write_by(by_peer, None, body)
    }

    /// Writes an entry whose header names `operator`, having seen every entry of the other
    /// side written so far.
    fn write_by(&mut self, by_peer: bool, operator: Option<&str>, body: Body) -> EntryId {
        let author = if by_peer { &self.peer } else { &self.us };
        let mine: Vec<&SignedEntry> = self
            .entries
            .iter()
            .map(|kept| &kept.entry)
            .filter(|entry| entry.entry().author == author.id())
            .collect();
        let seen = (self.entries.iter().rev())
            .find(|kept| kept.entry.entry().author != author.id())
            .map_or(EntryId::NONE, |kept| kept.entry.id());
        let entry = Entry {
            link: LinkId::between(&self.us.id(), &self.peer.id()),
            author: author.id(),
            seq: mine.len() as u64 + 1,
            prev: mine.last().map_or(EntryId::NONE, |entry| entry.id()),
            seen,
            time_ms: 1_000 + self.entries.len() as u64,
            precedence: Precedence::Flash,
            body,
            operator: operator.map(str::to_owned),
        }
        .sign(author);
        let id = entry.id();
        self.entries.push(KeptEntry {
            entry,
            received_ms: by_peer.then_some(2_000),
        });
        id
    }
}

fn message() -> Body {
    Body::Message {
        text: "hold fire".into(),
        lang: "en".into(),
        exercise: false,
        translations: Vec::new(),
    }
}

/// A peer cannot answer its own message, withdraw ours or report ours overdue: such
/// entries stay in the record and change nothing shown.
#[test]
fn only_the_right_side_answers_withdraws_or_reports() {
    let mut logs = Logs::new();
    let ours = logs.write(false, message());
    let theirs = logs.write(true, message());
    // The peer "answers" its own message and "withdraws" and "reports" ours.
    logs.write(
        true,
        Body::Understood {
            of: theirs,
            operator: "Mallory".into(),
            restatement: String::new(),
        },
    );
    logs.write(
        true,
        Body::Cancel {
            of: ours,
            reason: "forged".into(),
        },
    );
    logs.write(
        true,
        Body::Overdue {
            of: ours,
            objective: parley_proto::Objective::Understood,
            due_ms: 1,
            receipted_ms: None,
        },
    );
    let peer = logs.peer.id();
    let record = |entries: &[KeptEntry]| LinkRecord {
        entries: entries.to_vec(),
        delivered_ms: BTreeMap::new(),
        own_key_announcements: Vec::new(),
        key_announcement_seqs: BTreeMap::new(),
    };
    let thread = Thread::of(record(&logs.entries), &peer);
    assert!(thread.answer(theirs, true).is_none());
    assert_eq!(thread.cancelled(ours, false), (None, None));
    assert!(!thread.overdue(ours, false));

    // The right sides: the peer answers ours, we answer and report on theirs... and
    // the peer withdraws its own.
    logs.write(
        true,
        Body::Clarify {
            of: ours,
            operator: "Ana".into(),
            question: "which ridge?".into(),
        },
    );
    logs.write(
        false,
        Body::Understood {
            of: theirs,
            operator: "Ben".into(),
            restatement: String::new(),
        },
    );
    logs.write_by(
        true,
        Some("Boris"),
        Body::Cancel {
            of: theirs,
            reason: "sent in error".into(),
        },
    );
    let thread = Thread::of(record(&logs.entries), &peer);
    assert_eq!(
        thread.answer(ours, false).map(|a| a.by.as_str()),
        Some("Ana")
    );
    assert_eq!(
        thread.answer(theirs, true).map(|a| a.by.as_str()),
        Some("Ben")
    );
    assert_eq!(
        thread.cancelled(theirs, true),
        (Some("sent in error".into()), Some("Boris".into()))
    );
    assert_eq!(thread.cancelled(ours, false), (None, None));
}

/// A coded message or notice shows only from a codebook agreed on the link: one naming a
/// codebook never proposed, or only proposed, is kept and flagged, never rendered; one that
/// breaks its form's rule is rendered and flagged.
#[test]
fn coded_content_is_flagged_unless_its_codebook_is_agreed_and_it_checks() {
    use parley_proto::{CodebookHash, Value};
    let source = include_str!("../../../../../examples/codebook.toml");
    let hash = CodebookHash::of(source.as_bytes());
    let coded = |codebook| Body::Coded {
        codebook,
        code: 3,
        params: Vec::new(),
        exercise: false,
    };
    let mut logs = Logs::new();
    let peer = logs.peer.id();
    let stranger = logs.write(true, coded(CodebookHash([9; 32])));
    logs.write(
        true,
        Body::CodebookProposal {
            source: source.into(),
        },
    );
    let early = logs.write(true, coded(hash));
    let shown = |logs: &Logs, id: EntryId| {
        let record = LinkRecord {
            entries: logs.entries.clone(),
            delivered_ms: BTreeMap::new(),
            own_key_announcements: Vec::new(),
            key_announcement_seqs: BTreeMap::new(),
        };
        let thread = Thread::of(record, &peer);
        let (entry, by_peer, _) = thread
            .items
            .iter()
            .find(|(entry, ..)| entry.id() == id)
            .expect("kept");
        thread.contents(entry, (*by_peer, None), "ru")
    };
    for (id, why) in [(stranger, "never proposed"), (early, "never agreed")] {
        let contents = shown(&logs, id);
        assert_eq!(contents.kind, ItemKind::Coded);
        assert!(contents.shown.rendered.is_empty());
        let invalid = contents.shown.invalid.expect("flagged");
        assert!(invalid.contains(why), "{invalid}");
        assert!(!contents.text.contains("incident"), "{}", contents.text);
    }
    // This station accepts: the codebook is agreed. The message written before stays flagged
    // (its author could not know the codebook agreed), now rendered; one written after the
    // acceptance reached its author is valid.
    logs.write(
        false,
        Body::CodebookAccept {
            codebook: hash,
            operator: "Boris".into(),
        },
    );
    let contents = shown(&logs, early);
    let invalid = contents.shown.invalid.expect("flagged");
    assert!(invalid.contains("only after it was written"), "{invalid}");
    assert!(contents.shown.rendered["en"].starts_with("An incident"));
    let after = logs.write(true, coded(hash));
    let contents = shown(&logs, after);
    assert_eq!(contents.shown.invalid, None);
    assert_eq!(contents.lang, "ru");
    assert!(contents.text.starts_with("Проводится расследование"));
    assert!(contents.shown.rendered["en"].starts_with("An incident"));
    // A launch notice one hour ahead breaks the 24-hour rule: rendered, and flagged.
    let point = parley_proto::Point {
        lat_e6: 62_900_000,
        lon_e6: 40_500_000,
    };
    let area_of = |centre| Value::Circle {
        centre,
        radius_m: 30_000,
    };
    let area = area_of(point);
    let notice = logs.write(
        true,
        Body::Notice {
            codebook: hash,
            form: "missile_launch".into(),
            fields: vec![
                ("impact_area".into(), area.clone()),
                ("launch_area".into(), area),
                ("missile_class".into(), Value::Choice("icbm".into())),
                ("planned_launch".into(), Value::Time(3_600_000)),
            ],
            exercise: false,
        },
    );
    let contents = shown(&logs, notice);
    let invalid = contents.shown.invalid.expect("flagged");
    // In time by the sender's clock, but arriving with less than 24 h to go: flagged.
    let hour_ms = 3_600_000;
    let timely = logs.write(
        true,
        Body::Notice {
            codebook: hash,
            form: "missile_launch".into(),
            fields: vec![
                ("impact_area".into(), area_of(point)),
                ("launch_area".into(), area_of(point)),
                ("missile_class".into(), Value::Choice("icbm".into())),
                ("planned_launch".into(), Value::Time(48 * hour_ms)),
            ],
            exercise: false,
        },
    );
    let record = LinkRecord {
        entries: logs.entries.clone(),
        delivered_ms: BTreeMap::new(),
        own_key_announcements: Vec::new(),
        key_announcement_seqs: BTreeMap::new(),
    };
    let thread = Thread::of(record, &peer);
    let (entry, ..) = thread
        .items
        .iter()
        .find(|(entry, ..)| entry.id() == timely)
        .expect("kept");
    let on_time = thread.contents(entry, (true, Some(2 * hour_ms)), "ru");
    assert_eq!(on_time.shown.invalid, None);
    let late = thread.contents(entry, (true, Some(30 * hour_ms)), "ru");
    let why = late.shown.invalid.expect("flagged");
    assert!(why.contains("arrived too late"), "{why}");
    assert!(
        invalid.contains("planned_launch") && invalid.contains("24"),
        "{invalid}"
    );
    assert!(
        contents.text.starts_with("Уведомление"),
        "{}",
        contents.text
    );
}

/// An entry's `seen` may name the other side's key announcement, which the record of a link
/// leaves out: a coded message written after both sides agreed its codebook is still valid.
#[test]
fn a_coded_message_that_saw_a_key_announcement_is_valid() {
    use parley_proto::CodebookHash;
    use parley_proto::seal::EpochSecret;
    use rand_chacha::rand_core::SeedableRng;
    let source = include_str!("../../../../../examples/codebook.toml");
    let hash = CodebookHash::of(source.as_bytes());
    let mut logs = Logs::new();
    let peer = logs.peer.id();
    logs.write(
        true,
        Body::CodebookProposal {
            source: source.into(),
        },
    );
    logs.write(
        false,
        Body::CodebookAccept {
            codebook: hash,
            operator: "Boris".into(),
        },
    );
    let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([3; 32]));
    let announcement = logs.write(
        false,
        Body::KeyAnnouncement {
            key_id: epoch.id(),
            public: epoch.public_bytes().to_vec(),
        },
    );
    let coded = logs.write(
        true,
        Body::Coded {
            codebook: hash,
            code: 3,
            params: Vec::new(),
            exercise: false,
        },
    );
    // The store's record of the link, as `Store::link_record` gives it.
    let (announcements, entries): (Vec<KeptEntry>, Vec<KeptEntry>) = (logs.entries.iter())
        .cloned()
        .partition(|kept| kept.entry.id() == announcement);
    let record = LinkRecord {
        entries,
        delivered_ms: BTreeMap::new(),
        own_key_announcements: Vec::new(),
        key_announcement_seqs: (announcements.iter())
            .map(|kept| (kept.entry.id(), kept.entry.entry().seq))
            .collect(),
    };
    let thread = Thread::of(record, &peer);
    let (entry, ..) = thread
        .items
        .iter()
        .find(|(entry, ..)| entry.id() == coded)
        .expect("kept");
    let contents = thread.contents(entry, (true, None), "en");
    assert_eq!(contents.shown.invalid, None);
    assert!(
        contents.text.starts_with("An incident"),
        "{}",
        contents.text
    );
}
