//! The codebooks of a link as its record holds them: proposed by either side, accepted by the
//! other, *agreed* once both sides have (a proposal counts as its proposer's acceptance). Of
//! the agreed codebooks the highest version is current: new coded messages and notices use
//! it, and every older agreed one still renders the messages that name it.
//!
//! The core keeps one of these per link (to check what is sent) and the displays build one
//! from the store (to show and render what was received): one set of rules for both.

use std::collections::BTreeMap;

use parley_codebook::Codebook;
use parley_proto::{Body, CodebookHash, EntryId, SignedEntry, StationId};
use serde::{Deserialize, Serialize};

/// Most codebooks read from each side of one link; that side's later proposals are kept in
/// the record and shown, never parsed or agreed (each costs a parse whenever the link is
/// loaded or listed). Counted per side, so a peer's proposals never push this station's out.
/// Within a side they are counted in the order noted: seq order from the store, as received
/// live (a peer entry held above a gap is noted when it arrives), so past the bound which of
/// a peer's own proposals are read may differ after a restart.
pub const PROPOSALS_PER_LINK_MAX: usize = 64;

/// One codebook proposed on a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The proposal entry.
    pub id: EntryId,
    /// Whether the peer proposed it.
    pub by_peer: bool,
    /// When it was proposed, UTC ms by the proposer's clock.
    pub at_ms: u64,
    /// The codebook, or why it is not one (a peer may propose anything; it is kept, shown
    /// and never agreed).
    pub codebook: Result<Codebook, String>,
    /// Who at this station accepted it, when it did (the proposer's side accepts by
    /// proposing: an empty name).
    pub accepted_by_us: Option<String>,
    /// Who at the peer accepted it, when it did.
    pub accepted_by_peer: Option<String>,
    /// The seq of this station's entry that accepted it (its proposal, if it proposed it);
    /// the lowest, when there are several.
    pub accepted_at_seq_us: Option<u64>,
    /// The seq of the peer's entry that accepted it, likewise.
    pub accepted_at_seq_peer: Option<u64>,
}

/// Where an entry stands in its link: who wrote it, its seq, and the seq of the other side's
/// entry it names as `seen`. What it could know of the link's codebooks follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsOf {
    /// The peer wrote it.
    pub by_peer: bool,
    /// Its seq.
    pub seq: u64,
    /// The seq of the latest entry of the other side its author held in order (0: none).
    pub seen: u64,
}

impl Proposal {
    /// Accepted by both sides, and a valid codebook.
    pub fn agreed(&self) -> bool {
        self.codebook.is_ok() && self.accepted_by_us.is_some() && self.accepted_by_peer.is_some()
    }

    /// Agreed by what an entry at `as_of` could know: its author's side accepted in an
    /// earlier entry, the other side in an entry its author had seen.
    pub fn agreed_as_of(&self, as_of: AsOf) -> bool {
        let (author, other) = if as_of.by_peer {
            (self.accepted_at_seq_peer, self.accepted_at_seq_us)
        } else {
            (self.accepted_at_seq_us, self.accepted_at_seq_peer)
        };
        self.agreed()
            && author.is_some_and(|seq| seq < as_of.seq)
            && other.is_some_and(|seq| seq <= as_of.seen)
    }

    /// The codebook's version, 0 if it does not parse.
    pub fn version(&self) -> u32 {
        self.codebook.as_ref().map_or(0, Codebook::version)
    }
}

/// Whether a coded message or notice names a codebook this link agreed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Agreed and current.
    Current,
    /// Agreed, since superseded by a newer agreed version.
    Superseded,
    /// Proposed, not agreed by both sides.
    NotAgreed,
    /// Never proposed on this link.
    Unknown,
}

impl Standing {
    /// Every standing.
    pub const ALL: [Standing; 4] = [
        Standing::Current,
        Standing::Superseded,
        Standing::NotAgreed,
        Standing::Unknown,
    ];

    /// The stable name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Standing::Current => "current",
            Standing::Superseded => "superseded",
            Standing::NotAgreed => "not_agreed",
            Standing::Unknown => "unknown",
        }
    }
}

/// A link's codebooks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkCodebooks {
    proposals: BTreeMap<CodebookHash, Proposal>,
    /// Acceptances naming a hash not (yet) proposed, by hash and whether the peer wrote them:
    /// applied when the proposal is read, so the order entries are read in does not matter.
    early: BTreeMap<(CodebookHash, bool), (String, u64)>,
    /// Proposals read (parsed) from this station's side and from the peer's.
    read: [usize; 2],
}

impl LinkCodebooks {
    /// No codebook proposed.
    pub const EMPTY: LinkCodebooks = LinkCodebooks {
        proposals: BTreeMap::new(),
        early: BTreeMap::new(),
        read: [0; 2],
    };

    /// Builds the state from a link's entries, in any order.
    ///
    /// The proposals are read first: an acceptance can only follow the proposal it names
    /// (the proposer's side wrote it before the other side could see it), so read this way
    /// no acceptance waits as an early one, and acceptances of hashes nobody proposed, past
    /// their bound, cannot push out a genuine one. A running station notes each entry as it
    /// is written or stored, where the same holds.
    pub fn of<'a>(entries: impl IntoIterator<Item = &'a SignedEntry>, peer: &StationId) -> Self {
        let (proposals, others): (Vec<&SignedEntry>, Vec<&SignedEntry>) = (entries.into_iter())
            .partition(|entry| matches!(entry.entry().body, Body::CodebookProposal { .. }));
        let mut books = Self::default();
        for entry in proposals.into_iter().chain(others) {
            books.note(entry, entry.entry().author == *peer);
        }
        books
    }

    /// Takes in one entry of the link; `by_peer` says who wrote it. Idempotent.
    pub fn note(&mut self, entry: &SignedEntry, by_peer: bool) {
        let fields = entry.entry();
        match &fields.body {
            Body::CodebookProposal { source } => {
                let hash = CodebookHash::of(source.as_bytes());
                if self.proposals.contains_key(&hash) {
                    // The other side proposed the same bytes too: that is its acceptance.
                    let proposal = self.proposals.get_mut(&hash).expect("checked");
                    accept(proposal, by_peer, String::new(), fields.seq);
                    return;
                }
                let read = &mut self.read[usize::from(by_peer)];
                let codebook = if *read >= PROPOSALS_PER_LINK_MAX {
                    Err(format!(
                        "over the limit of {PROPOSALS_PER_LINK_MAX} codebooks proposed by one side of a link: kept, not read"
                    ))
                } else {
                    *read += 1;
                    // Under the rules it was proposed under: one agreed before a rule added
                    // since stays agreed (`Codebook::parse_stored`).
                    Codebook::parse_stored(source).map_err(|error| error.to_string())
                };
                let mut proposal = Proposal {
                    id: entry.id(),
                    by_peer,
                    at_ms: fields.time_ms,
                    codebook,
                    accepted_by_us: None,
                    accepted_by_peer: None,
                    accepted_at_seq_us: None,
                    accepted_at_seq_peer: None,
                };
                accept(&mut proposal, by_peer, String::new(), fields.seq);
                for side in [false, true] {
                    if let Some((operator, seq)) = self.early.remove(&(hash, side)) {
                        accept(&mut proposal, side, operator, seq);
                    }
                }
                self.proposals.insert(hash, proposal);
            }
            Body::CodebookAccept { codebook, operator } => match self.proposals.get_mut(codebook) {
                Some(proposal) => accept(proposal, by_peer, operator.clone(), fields.seq),
                None if self.early.len() < PROPOSALS_PER_LINK_MAX => {
                    let early = self
                        .early
                        .entry((*codebook, by_peer))
                        .or_insert_with(|| (operator.clone(), fields.seq));
                    if fields.seq < early.1 {
                        *early = (operator.clone(), fields.seq);
                    }
                }
                // Acceptances of hashes nobody proposed, past the bound: they agree nothing.
                None => {}
            },
            _ => {}
        }
    }

    /// The current codebook: the highest version agreed.
    pub fn current(&self) -> Option<(&CodebookHash, &Codebook)> {
        Self::highest(
            self.proposals
                .iter()
                .filter(|(_, proposal)| proposal.agreed()),
        )
    }

    /// The current codebook for a new entry of this station, whose `seen` is `peer_head`
    /// (the peer's entries held in order): the highest version agreed by the peer in one of
    /// those, so the entry names a codebook agreed as of when it is written (an acceptance
    /// held above a gap does not count yet).
    pub fn current_for_new_entry(&self, peer_head: u64) -> Option<(&CodebookHash, &Codebook)> {
        let as_of = AsOf {
            by_peer: false,
            seq: u64::MAX,
            seen: peer_head,
        };
        Self::highest(
            self.proposals
                .iter()
                .filter(|(_, proposal)| proposal.agreed_as_of(as_of)),
        )
    }

    /// The highest version among `agreed`; equal versions by the greater hash.
    fn highest<'a>(
        agreed: impl Iterator<Item = (&'a CodebookHash, &'a Proposal)>,
    ) -> Option<(&'a CodebookHash, &'a Codebook)> {
        agreed
            // Two codebooks agreed with one version (each side accepted the other's before it
            // heard of the other acceptance): the hash decides, the same way on both sides,
            // where the proposer's clock would let it choose.
            .max_by_key(|(hash, proposal)| (proposal.version(), **hash))
            .and_then(|(hash, proposal)| Some((hash, proposal.codebook.as_ref().ok()?)))
    }

    /// A proposal by its hash.
    pub fn get(&self, hash: &CodebookHash) -> Option<&Proposal> {
        self.proposals.get(hash)
    }

    /// Every proposal, by hash.
    pub fn proposals(&self) -> impl Iterator<Item = (&CodebookHash, &Proposal)> {
        self.proposals.iter()
    }

    /// Where the codebook `hash` stands on this link.
    pub fn standing(&self, hash: &CodebookHash) -> Standing {
        match self.proposals.get(hash) {
            None => Standing::Unknown,
            Some(proposal) if !proposal.agreed() => Standing::NotAgreed,
            Some(_) if self.current().is_some_and(|(current, _)| current == hash) => {
                Standing::Current
            }
            Some(_) => Standing::Superseded,
        }
    }

    /// The agreed codebook `hash`, if it is one.
    pub fn agreed(&self, hash: &CodebookHash) -> Option<&Codebook> {
        self.proposals
            .get(hash)
            .filter(|proposal| proposal.agreed())
            .and_then(|proposal| proposal.codebook.as_ref().ok())
    }
}

/// Marks `proposal` accepted by one side in its entry `seq`; the side's earliest acceptance
/// counts (its name and seq), whatever order the entries are read in.
fn accept(proposal: &mut Proposal, by_peer: bool, operator: String, seq: u64) {
    let (name, at) = if by_peer {
        (
            &mut proposal.accepted_by_peer,
            &mut proposal.accepted_at_seq_peer,
        )
    } else {
        (
            &mut proposal.accepted_by_us,
            &mut proposal.accepted_at_seq_us,
        )
    };
    if at.is_none_or(|earlier| seq < earlier) {
        *name = Some(operator);
        *at = Some(seq);
    }
}

/// A field of a code or form, as `codebook show` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldItem {
    /// Its name.
    pub name: String,
    /// Its type (`text`, `integer`, `choice`, `datetime`, `duration`, `coordinates`, `area`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it may be left out.
    pub optional: bool,
    /// Its label by language.
    pub label: BTreeMap<String, String>,
    /// Its least value: an integer's, a duration's in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Its greatest value: an integer's, a duration's in seconds, a text's length in
    /// characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// A choice's values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ChoiceItem>,
}

impl FieldItem {
    /// Its bounds as an operator reads them (`1 to 10`, `60 s to 3600 s`, `at most 200
    /// characters`), or `None` for a type without any.
    pub fn bounds(&self) -> Option<String> {
        match (self.kind.as_str(), self.min, self.max) {
            ("text", _, Some(max)) => Some(format!("at most {max} characters")),
            ("integer", Some(min), Some(max)) => Some(format!("{min} to {max}")),
            ("duration", Some(min), Some(max)) => Some(format!("{min} s to {max} s")),
            _ => None,
        }
    }
}

/// One value of a choice field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceItem {
    /// The key that travels (what `--param NAME=KEY` gives).
    pub key: String,
    /// Its label by language.
    pub label: BTreeMap<String, String>,
}

/// A code, as `codebook show` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeItem {
    /// Its number.
    pub number: u64,
    /// Its text by language, with `{name}` where a parameter goes.
    pub text: BTreeMap<String, String>,
    /// Its parameters.
    pub params: Vec<FieldItem>,
}

/// A form, as `codebook show` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormItem {
    /// Its name.
    pub name: String,
    /// Its title by language.
    pub title: BTreeMap<String, String>,
    /// Its fields.
    pub fields: Vec<FieldItem>,
    /// Its rules, in the codebook's order.
    pub rules: Vec<RuleItem>,
}

/// A rule of a form, as `codebook show` lists it: exactly one of the two conditions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleItem {
    /// The datetime field the rule is about.
    pub field: String,
    /// The field's time is at least this many hours after the notice is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_time_min_h: Option<u64>,
    /// The field's time is strictly after this other field's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// One codebook proposed on a link, as `codebook show` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodebookItem {
    /// Its hash (SHA-256 of its source).
    pub hash: CodebookHash,
    /// `current`, `superseded` or `not_agreed`.
    pub standing: Standing,
    /// Who proposed it: `us` or `peer`.
    pub proposed_by: String,
    /// When, UTC ms by the proposer's clock.
    pub proposed_at_ms: u64,
    /// Who at this station accepted it (empty: this station proposed it).
    pub accepted_by_us: Option<String>,
    /// Who at the peer accepted it (empty: the peer proposed it).
    pub accepted_by_peer: Option<String>,
    /// Why it is not a valid codebook; then the fields below are empty.
    pub error: Option<String>,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: u32,
    /// Its languages.
    pub languages: Vec<String>,
    /// Its codes, by number.
    pub codes: Vec<CodeItem>,
    /// Its forms.
    pub forms: Vec<FormItem>,
}

/// `codebook show`: a link's codebooks, the current one first, then by proposal time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodebookReport {
    /// Peer name.
    pub peer: String,
    /// The current (highest agreed) codebook's hash.
    pub current: Option<CodebookHash>,
    /// Every codebook proposed on the link.
    pub codebooks: Vec<CodebookItem>,
}

impl CodebookReport {
    /// The report of `books`, the link with `peer`.
    pub fn new(peer: String, books: &LinkCodebooks) -> Self {
        let current = books.current().map(|(hash, _)| *hash);
        let mut codebooks: Vec<CodebookItem> = books
            .proposals()
            .map(|(hash, proposal)| item(books, hash, proposal))
            .collect();
        codebooks.sort_by_key(|item| (Some(item.hash) != current, item.proposed_at_ms));
        Self {
            peer,
            current,
            codebooks,
        }
    }
}

fn item(books: &LinkCodebooks, hash: &CodebookHash, proposal: &Proposal) -> CodebookItem {
    let mut item = CodebookItem {
        hash: *hash,
        standing: books.standing(hash),
        proposed_by: if proposal.by_peer { "peer" } else { "us" }.into(),
        proposed_at_ms: proposal.at_ms,
        accepted_by_us: proposal.accepted_by_us.clone(),
        accepted_by_peer: proposal.accepted_by_peer.clone(),
        error: None,
        name: String::new(),
        version: 0,
        languages: Vec::new(),
        codes: Vec::new(),
        forms: Vec::new(),
    };
    let codebook = match &proposal.codebook {
        Ok(codebook) => codebook,
        Err(why) => {
            item.error = Some(why.clone());
            return item;
        }
    };
    // One still waiting for this station's acceptance is held to the rules for a new codebook,
    // as accepting it would be.
    if proposal.accepted_by_us.is_none()
        && let Err(why) = Codebook::parse(codebook.source())
    {
        item.error = Some(why.to_string());
        return item;
    }
    let languages = codebook.languages();
    let by_lang = |text: &dyn Fn(&str) -> Option<String>| {
        languages
            .iter()
            .filter_map(|lang| Some((lang.clone(), text(lang)?)))
            .collect::<BTreeMap<_, _>>()
    };
    let fields = |fields: &[parley_codebook::Field]| {
        fields
            .iter()
            .map(|field| {
                use parley_codebook::FieldType;
                let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                let (min, max, values) = match field.kind() {
                    FieldType::Text { max_chars } => (None, Some(clamp(*max_chars as u64)), vec![]),
                    FieldType::Integer { min, max } => (Some(*min), Some(*max), vec![]),
                    FieldType::Duration { min_s, max_s } => {
                        (Some(clamp(*min_s)), Some(clamp(*max_s)), vec![])
                    }
                    FieldType::Choice { values } => (
                        None,
                        None,
                        values
                            .iter()
                            .map(|value| ChoiceItem {
                                key: value.key().to_owned(),
                                label: by_lang(&|lang| value.label(lang).map(str::to_owned)),
                            })
                            .collect(),
                    ),
                    _ => (None, None, vec![]),
                };
                FieldItem {
                    name: field.name().to_owned(),
                    kind: field.kind().name().to_owned(),
                    optional: field.optional(),
                    label: by_lang(&|lang| field.label(lang).map(str::to_owned)),
                    min,
                    max,
                    values,
                }
            })
            .collect()
    };
    item.name = codebook.name().to_owned();
    item.version = codebook.version();
    item.languages = languages.to_vec();
    item.codes = codebook
        .codes()
        .map(|code| CodeItem {
            number: code.number(),
            text: by_lang(&|lang| code.text(lang).map(str::to_owned)),
            params: fields(code.params()),
        })
        .collect();
    item.forms = codebook
        .forms()
        .map(|form| FormItem {
            name: form.name().to_owned(),
            title: by_lang(&|lang| form.title(lang).map(str::to_owned)),
            fields: fields(form.fields()),
            rules: form
                .rules()
                .iter()
                .filter_map(|rule| match rule {
                    parley_codebook::Rule::LeadTime { field, min_h } => Some(RuleItem {
                        field: field.clone(),
                        lead_time_min_h: Some(*min_h),
                        after: None,
                    }),
                    parley_codebook::Rule::After { field, other } => Some(RuleItem {
                        field: field.clone(),
                        lead_time_min_h: None,
                        after: Some(other.clone()),
                    }),
                    _ => None,
                })
                .collect(),
        })
        .collect();
    item
}

#[cfg(test)]
mod tests {
    use parley_proto::{Entry, Identity, LinkId, Precedence};

    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/codebook.toml");

    fn entry(author: &Identity, seq: u64, body: Body) -> SignedEntry {
        Entry {
            link: LinkId([1; 16]),
            author: author.id(),
            seq,
            prev: if seq == 1 {
                EntryId::NONE
            } else {
                EntryId([seq as u8; 32])
            },
            seen: EntryId::NONE,
            time_ms: 1_000 * seq,
            precedence: Precedence::Routine,
            body,
            operator: None,
        }
        .sign(author)
    }

    fn proposal(source: &str) -> Body {
        Body::CodebookProposal {
            source: source.into(),
        }
    }

    fn acceptance(source: &str, operator: &str) -> Body {
        Body::CodebookAccept {
            codebook: CodebookHash::of(source.as_bytes()),
            operator: operator.into(),
        }
    }

    /// What an entry could know: its author's side accepted in an earlier entry, the other
    /// side in one it had seen; each side's earliest acceptance counts, in any reading order.
    #[test]
    fn agreement_as_of_an_entry_follows_what_its_author_had_seen() {
        let (us, peer) = (
            Identity::from_secret(&[1; 32]),
            Identity::from_secret(&[2; 32]),
        );
        let hash = CodebookHash::of(EXAMPLE.as_bytes());
        let entries = [
            entry(&us, 1, proposal(EXAMPLE)),
            entry(&peer, 3, acceptance(EXAMPLE, "Later")),
            entry(&peer, 2, acceptance(EXAMPLE, "Boris")),
        ];
        for books in [
            LinkCodebooks::of(&entries, &peer.id()),
            LinkCodebooks::of(entries.iter().rev(), &peer.id()),
        ] {
            let proposal = books.get(&hash).expect("proposed");
            assert_eq!(proposal.accepted_by_peer.as_deref(), Some("Boris"));
            assert_eq!(
                (proposal.accepted_at_seq_us, proposal.accepted_at_seq_peer),
                (Some(1), Some(2))
            );
            let at = |by_peer, seq, seen| proposal.agreed_as_of(AsOf { by_peer, seq, seen });
            // The peer's entry 3, having seen our proposal: agreed. Its entry 2 is the
            // acceptance itself; entry 3 without our proposal seen is not.
            assert!(at(true, 3, 1));
            assert!(!at(true, 2, 1));
            assert!(!at(true, 3, 0));
            // Ours: only once the peer's acceptance is among what we hold in order.
            assert!(at(false, 2, 2) && !at(false, 2, 1));
            assert!(books.current_for_new_entry(1).is_none());
            assert_eq!(books.current_for_new_entry(2).map(|(h, _)| *h), Some(hash));
        }
    }

    /// Agreed once both sides accepted, whatever order the entries are read in; the highest
    /// version agreed is current; an invalid proposal is kept and never agreed.
    #[test]
    fn agreement_needs_both_sides_and_does_not_depend_on_reading_order() {
        let (us, peer) = (
            Identity::from_secret(&[1; 32]),
            Identity::from_secret(&[2; 32]),
        );
        let v2 = EXAMPLE.replace("version = 1", "version = 2");
        let (h1, h2) = (
            CodebookHash::of(EXAMPLE.as_bytes()),
            CodebookHash::of(v2.as_bytes()),
        );
        let entries = [
            entry(&us, 1, proposal(EXAMPLE)),
            entry(&peer, 1, acceptance(EXAMPLE, "Boris")),
            entry(&peer, 2, proposal(&v2)),
            entry(&peer, 3, proposal("not = [a codebook")),
        ];
        let forward = LinkCodebooks::of(&entries, &peer.id());
        let backward = LinkCodebooks::of(entries.iter().rev(), &peer.id());
        for books in [&forward, &backward] {
            assert_eq!(books.standing(&h1), Standing::Current);
            assert_eq!(books.standing(&h2), Standing::NotAgreed);
            assert_eq!(
                books.get(&h1).and_then(|p| p.accepted_by_peer.clone()),
                Some("Boris".into())
            );
            assert!(books.proposals().any(|(_, p)| p.codebook.is_err()));
            let waiting = books
                .proposals()
                .filter(|(_, p)| p.accepted_by_us.is_none());
            assert_eq!(waiting.count(), 2, "version 2 and the invalid one");
        }
        // Acceptances of hashes nobody proposed, past the bound on those held, read before
        // the genuine one (the peer's id sorting first, as the store reads by author): the
        // genuine one still counts.
        let junk: Vec<SignedEntry> = (0..=PROPOSALS_PER_LINK_MAX as u64)
            .map(|n| {
                let body = Body::CodebookAccept {
                    codebook: CodebookHash([n as u8; 32]),
                    operator: "Mallory".into(),
                };
                entry(&peer, 10 + n, body)
            })
            .collect();
        let by_author: Vec<&SignedEntry> = (junk.iter())
            .chain([&entries[1], &entries[2], &entries[3], &entries[0]])
            .collect();
        let books = LinkCodebooks::of(by_author, &peer.id());
        assert_eq!(books.standing(&h1), Standing::Current);
        assert_eq!(books.early.len(), PROPOSALS_PER_LINK_MAX, "bounded");
        // Nor do the peer's proposals, past the bound, push out this station's.
        let proposals: Vec<SignedEntry> = (0..=PROPOSALS_PER_LINK_MAX as u64)
            .map(|n| entry(&peer, 100 + n, proposal(&format!("junk = {n}"))))
            .collect();
        let by_author: Vec<&SignedEntry> = (proposals.iter())
            .chain([&entries[1], &entries[2], &entries[3], &entries[0]])
            .collect();
        let books = LinkCodebooks::of(by_author, &peer.id());
        assert_eq!(books.standing(&h1), Standing::Current);
        let unread = (books.proposals())
            .filter(|(_, p)| {
                p.codebook
                    .as_ref()
                    .is_err_and(|e| e.contains("over the limit"))
            })
            .count();
        assert_eq!(
            unread, 3,
            "the peer's last junk, version 2 and the invalid one"
        );
        // We accept version 2: it supersedes version 1.
        let mut books = forward;
        books.note(&entry(&us, 2, acceptance(&v2, "Ana")), false);
        assert_eq!(books.current().map(|(hash, _)| *hash), Some(h2));
        assert_eq!(books.standing(&h1), Standing::Superseded);
        // A peer accepting its own invalid proposal does not make it agreed, nor does our
        // acceptance of a hash never proposed.
        let bad = CodebookHash::of(b"not = [a codebook");
        books.note(
            &entry(&us, 3, acceptance("not = [a codebook", "Ana")),
            false,
        );
        assert_eq!(books.standing(&bad), Standing::NotAgreed);
        assert!(books.agreed(&bad).is_none());
        let stranger = CodebookHash([9; 32]);
        books.note(
            &entry(
                &us,
                4,
                Body::CodebookAccept {
                    codebook: stranger,
                    operator: "Ana".into(),
                },
            ),
            false,
        );
        assert_eq!(books.standing(&stranger), Standing::Unknown);
    }

    /// A codebook agreed under an earlier version's rules stays agreed under a stricter one
    /// (here: two choice values whose English labels read the same), and shows whole; one
    /// still waiting for this station's acceptance that the rules refuse shows as not valid.
    #[test]
    fn a_codebook_agreed_before_a_stricter_rule_stays_agreed() {
        let (us, peer) = (
            Identity::from_secret(&[1; 32]),
            Identity::from_secret(&[2; 32]),
        );
        let older = EXAMPLE.replace(
            "label.en = \"intercontinental ballistic missile (ICBM)\"",
            "label.en = \"submarine-launched ballistic missile (SLBM)\"",
        );
        assert_ne!(older, EXAMPLE);
        assert!(parley_codebook::Codebook::parse(&older).is_err());
        let hash = CodebookHash::of(older.as_bytes());
        let agreed = [
            entry(&us, 1, proposal(&older)),
            entry(&peer, 1, acceptance(&older, "Boris")),
        ];
        let books = LinkCodebooks::of(&agreed, &peer.id());
        assert_eq!(books.standing(&hash), Standing::Current);
        let report = CodebookReport::new("Bravo".into(), &books);
        assert_eq!(report.codebooks[0].error, None);
        assert!(!report.codebooks[0].forms.is_empty());
        // Proposed by the peer and not yet accepted here: held to the rules for a new one.
        let waiting = [entry(&peer, 1, proposal(&older))];
        let books = LinkCodebooks::of(&waiting, &peer.id());
        let report = CodebookReport::new("Bravo".into(), &books);
        let error = report.codebooks[0].error.as_deref().unwrap_or_default();
        assert!(error.contains("reads the same"), "{error}");
    }
}
