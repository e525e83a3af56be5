//! Transcripts built the way stations build them, and forged: a two-station history whose
//! exports each side would write, as lines to cut, swap and replace.

mod attacks;
mod compare;
mod contract;
mod reading;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand_core::SeedableRng;

use super::*;
use crate::card::ContactCard;
use crate::cose::{self, CONTENT_TYPE_ENTRY};
use crate::entry::{Body, Entry, Precedence, SignedEntry};
use crate::id::{Identity, LinkId};
use crate::receipt::Receipt;
use crate::seal::EpochSecret;
use crate::tlog::head::{Cosignature, PqHeadSignature, SignedHead, WitnessCosignature};

/// Export time of every export built here (UTC ms).
const EXPORTED_MS: u64 = 1_700_000_100_000;

/// One of the two stations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Alpha,
    Bravo,
}

impl Who {
    fn other(self) -> Who {
        match self {
            Who::Alpha => Who::Bravo,
            Who::Bravo => Who::Alpha,
        }
    }
}

/// A station of the history: its key, card and log.
#[derive(Clone)]
struct Author {
    identity: Identity,
    card: Vec<u8>,
    log: Vec<SignedEntry>,
}

fn card(identity: &Identity, name: &str, seed: u8) -> Vec<u8> {
    let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([seed; 32]));
    ContactCard {
        name: name.into(),
        identity: identity.id(),
        epoch_key_id: epoch.id(),
        epoch_public: epoch.public_bytes().to_vec(),
        addresses: vec![],
        lang: "en".into(),
        created_ms: 1,
        pq_key: Some(identity.pq().public().clone()),
    }
    .sign(identity)
}

/// The logs of both stations on their link.
#[derive(Clone)]
struct History {
    link: LinkId,
    alpha: Author,
    bravo: Author,
}

impl History {
    /// Two stations with empty logs.
    fn empty() -> Self {
        let alpha = Identity::from_secret(&[1; 32]);
        let bravo = Identity::from_secret(&[2; 32]);
        let author = |identity: Identity, name: &str, seed: u8| Author {
            card: card(&identity, name, seed),
            identity,
            log: Vec::new(),
        };
        Self {
            link: LinkId::between(&alpha.id(), &bravo.id()),
            alpha: author(alpha, "Alpha", 8),
            bravo: author(bravo, "Bravo", 9),
        }
    }

    /// Each announces its key, then they talk: Alpha 1–4, Bravo 1–3, every `seen` naming
    /// what the writer held of the other's log.
    fn standard() -> Self {
        let mut history = Self::empty();
        history.announce(Who::Alpha, 0);
        history.announce(Who::Bravo, 0);
        history.say(Who::Alpha, 1, "are you there?");
        history.say(Who::Bravo, 2, "here; go ahead");
        history.say(Who::Alpha, 2, "the road north is closed");
        history.say(Who::Bravo, 3, "understood");
        history.say(Who::Alpha, 3, "we stand by");
        history
    }

    fn author(&self, who: Who) -> &Author {
        match who {
            Who::Alpha => &self.alpha,
            Who::Bravo => &self.bravo,
        }
    }

    fn author_mut(&mut self, who: Who) -> &mut Author {
        match who {
            Who::Alpha => &mut self.alpha,
            Who::Bravo => &mut self.bravo,
        }
    }

    /// The unsigned entry `who` would write next, `seen` naming the other's entry at that
    /// seq (0: none).
    fn next(&self, who: Who, seen: u64, body: Body) -> Entry {
        let author = self.author(who);
        let other = &self.author(who.other()).log;
        Entry {
            link: self.link,
            author: author.identity.id(),
            seq: author.log.len() as u64 + 1,
            prev: author.log.last().map_or(EntryId::NONE, |e| e.id()),
            seen: seen_id(other, seen),
            time_ms: 1_700_000_000_000 + author.log.len() as u64,
            precedence: Precedence::Routine,
            body,
            operator: None,
        }
    }

    fn append(&mut self, who: Who, entry: Entry) {
        let author = self.author_mut(who);
        let signed = entry.sign(&author.identity);
        author.log.push(signed);
    }

    fn announce(&mut self, who: Who, seed: u8) {
        let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([seed; 32]));
        let body = Body::KeyAnnouncement {
            key_id: epoch.id(),
            public: epoch.public_bytes().to_vec(),
        };
        let entry = self.next(who, 0, body);
        self.append(who, entry);
    }

    fn say(&mut self, who: Who, seen: u64, text: &str) {
        let body = Body::Message {
            text: text.into(),
            lang: "en".into(),
            exercise: false,
            translations: Vec::new(),
        };
        let entry = self.next(who, seen, body);
        self.append(who, entry);
    }

    /// `who`'s checkpoint of its own first `size` entries: its true root and a good signature
    /// unless `root` or `signature` say otherwise.
    fn head(&self, who: Who, size: u64, root: Option<crate::tlog::Hash>) -> SignedHead {
        let author = self.author(who);
        let leaves: Vec<_> = author.log[..size as usize]
            .iter()
            .map(|e| crate::tlog::leaf_hash(e.bytes()))
            .collect();
        let root = root.unwrap_or_else(|| crate::tlog::root(&leaves));
        let peer = self.author(who.other()).identity.id();
        SignedHead::sign(&author.identity, &peer, size, root)
    }

    /// Appends `who`'s `checkpoint` entry, signed with both its keys.
    fn checkpoint(&mut self, who: Who, head: SignedHead) {
        let peer = self.author(who.other()).identity.id();
        let pq = PqHeadSignature::sign(&self.author(who).identity, &peer, &head);
        self.checkpoint_signed(who, head, Some(pq));
    }

    /// Appends `who`'s `checkpoint` entry with `pq` as its post-quantum signature.
    fn checkpoint_signed(&mut self, who: Who, head: SignedHead, pq: Option<PqHeadSignature>) {
        let entry = self.next(who, 0, Body::Checkpoint(head, pq));
        self.append(who, entry);
    }

    /// Appends `who`'s `cosigned` entry of the other's checkpoint `head`, signed with both
    /// its keys.
    fn cosign(&mut self, who: Who, head: SignedHead) {
        let author = self.author(who.other()).identity.id();
        let cosigned = Cosignature::sign(&self.author(who).identity, &author, head, 1_700_000_000);
        self.cosign_as(who, cosigned);
    }

    /// Appends `who`'s `cosigned` entry `cosigned`.
    fn cosign_as(&mut self, who: Who, cosigned: Cosignature) {
        let entry = self.next(who, 0, Body::Cosigned(cosigned));
        self.append(who, entry);
    }

    /// Appends `who`'s `witnessed` entry: a witness's cosignature of `who`'s checkpoint
    /// `head`.
    fn witnessed(&mut self, who: Who, head: SignedHead, witness: &Identity) {
        let (author, peer) = (
            self.author(who).identity.id(),
            self.author(who.other()).identity.id(),
        );
        let by = WitnessCosignature::sign(witness, (&author, &peer), head, 1_700_000_000);
        let entry = self.next(who, 0, Body::Witnessed(by));
        self.append(who, entry);
    }

    /// `from`'s receipt of the other's log up to `upto`.
    fn receipt(&self, from: Who, upto: u64, time_ms: u64) -> Vec<u8> {
        let to = &self.author(from.other()).log;
        Receipt {
            link: self.link,
            from: self.author(from).identity.id(),
            to: self.author(from.other()).identity.id(),
            upto,
            head: seen_id(to, upto),
            extra: vec![],
            time_ms,
        }
        .sign(&self.author(from).identity)
    }

    /// The export `exporter` writes while holding the other's log up to `holds`, with the
    /// other's latest receipt covering `receipted` of its own log (none: no receipt yet).
    fn export(&self, exporter: Who, holds: u64, receipted: Option<u64>) -> Lines {
        let peer = exporter.other();
        let mut logs = [
            (exporter, self.author(exporter).log.len() as u64),
            (peer, holds),
        ];
        logs.sort_by_key(|(who, _)| self.author(*who).identity.id());
        let entries = logs
            .iter()
            .flat_map(|(who, len)| {
                self.author(*who).log[..*len as usize]
                    .iter()
                    .map(|e| e.bytes().to_vec())
            })
            .collect();
        let mut receipts = vec![self.receipt(exporter, holds, EXPORTED_MS)];
        receipts.extend(receipted.map(|upto| self.receipt(peer, upto, EXPORTED_MS - 5)));
        let text = export(&TranscriptParts {
            link: self.link,
            exported_ms: EXPORTED_MS,
            cards: [&self.author(exporter).card, &self.author(peer).card],
            entries,
            receipts,
        });
        assert!(
            super::looks_like_transcript(text.as_bytes()),
            "an export begins as every transcript does"
        );
        Lines(text.lines().map(str::to_owned).collect())
    }

    /// Alpha's export of the standard history: Alpha holds all of Bravo's three entries and
    /// Bravo has receipted Alpha's first three of four.
    fn alpha_export(&self) -> Lines {
        self.export(Who::Alpha, 3, Some(3))
    }

    /// Which station's entries come first in a file (the lower id).
    fn first(&self) -> Who {
        if self.alpha.identity.id() < self.bravo.identity.id() {
            Who::Alpha
        } else {
            Who::Bravo
        }
    }
}

/// The id of `log`'s entry at `seq` (zeros for 0).
fn seen_id(log: &[SignedEntry], seq: u64) -> EntryId {
    match seq {
        0 => EntryId::NONE,
        seq => log[seq as usize - 1].id(),
    }
}

/// A transcript as its lines, to forge.
#[derive(Clone, Debug)]
struct Lines(Vec<String>);

impl Lines {
    fn text(&self) -> String {
        self.0.iter().map(|l| format!("{l}\n")).collect()
    }

    fn verify(&self) -> Result<VerifiedTranscript, TranscriptError> {
        verify(self.text().as_bytes())
    }

    /// 1-based line of the first line that holds `key`, at or after `from`.
    fn find(&self, key: &str, from: usize) -> usize {
        let start = from - 1;
        start
            + 1
            + self.0[start..]
                .iter()
                .position(|l| l.starts_with(&format!("{{\"{key}\"")))
                .unwrap_or_else(|| panic!("no {key} line from line {from}"))
    }

    /// 1-based line of an author's entry at `seq` in a file where `history` wrote it.
    fn entry_line(&self, history: &History, who: Who, seq: u64) -> usize {
        let wanted = line("entry", history.author(who).log[seq as usize - 1].bytes());
        1 + self
            .0
            .iter()
            .position(|l| *l == wanted)
            .unwrap_or_else(|| panic!("{who:?} seq {seq} is not in the file"))
    }

    fn remove(mut self, number: usize) -> Self {
        self.0.remove(number - 1);
        self
    }

    fn swap(mut self, a: usize, b: usize) -> Self {
        self.0.swap(a - 1, b - 1);
        self
    }

    fn replace(mut self, number: usize, with: String) -> Self {
        self.0[number - 1] = with;
        self
    }

    fn insert(mut self, number: usize, with: String) -> Self {
        self.0.insert(number - 1, with);
        self
    }

    fn push(mut self, with: String) -> Self {
        self.0.push(with);
        self
    }

    fn count(&self) -> usize {
        self.0.len()
    }
}

/// A transcript line holding `bytes` as `key`.
fn line(key: &str, bytes: &[u8]) -> String {
    format!("{{\"{key}\":\"{}\"}}", BASE64.encode(bytes))
}

/// `signed` re-signed by `author` with a protected header in another encoding of the same
/// contents: the same entry under a second id.
fn reencoded_entry(author: &Identity, signed: &SignedEntry) -> Vec<u8> {
    let sign1 = coset::CoseSign1::from_tagged_slice(signed.bytes()).expect("parley's own");
    let payload = sign1.payload.expect("attached");
    cose::sign_with_protected_bytes(
        author,
        CONTENT_TYPE_ENTRY,
        cose::protected_reordered(CONTENT_TYPE_ENTRY),
        payload,
    )
}

use coset::TaggedCborSerializable as _;

/// What a test expects of a file: it verifies, or fails at a line with a text containing this.
fn check(name: &str, lines: &Lines, expect: Result<(), (usize, &str)>) {
    match (lines.verify(), expect) {
        (Ok(_), Ok(())) => {}
        (Err(got), Err((line, want))) => {
            assert_eq!(got.line, line, "{name}: {got}");
            assert!(got.to_string().contains(want), "{name}: {got} lacks {want}");
        }
        (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
    }
}
