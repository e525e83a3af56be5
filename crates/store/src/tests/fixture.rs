//! Stations, stores and hand-made entries shared by the test areas.

use std::path::PathBuf;

use parley_proto::envelope::Envelope;
use parley_proto::frame::{Frame, TAG_ENVELOPE};
use parley_proto::seal::{ENCAPSULATED_KEY_BYTES, Sealed};
use parley_proto::{
    Body, ContactCard, Entry, EntryId, EpochSecret, Identity, LinkId, Precedence, SignedEntry,
    StationId,
};
use tempfile::TempDir;

use crate::{NewPeer, Store};

/// A station's keys and card, derived from one byte so every run is the same.
pub(crate) struct Station {
    pub identity: Identity,
    pub epoch: EpochSecret,
    pub card: ContactCard,
    pub card_bytes: Vec<u8>,
}

impl Station {
    pub fn new(seed: u8, name: &str) -> Self {
        let identity = Identity::from_secret(&[seed; 32]);
        let epoch = EpochSecret::from_secret_bytes(&[seed.wrapping_add(100); 32])
            .expect("any 32 bytes are an X-Wing seed");
        let card = ContactCard {
            name: name.into(),
            identity: identity.id(),
            epoch_key_id: epoch.id(),
            epoch_public: epoch.public_bytes().to_vec(),
            addresses: vec![format!("quic://127.0.0.1:{}", 7300 + u16::from(seed))],
            lang: "en".into(),
            created_ms: 1,
            pq_key: Some(identity.pq().public().clone()),
        };
        let card_bytes = card.sign(&identity);
        Self {
            identity,
            epoch,
            card,
            card_bytes,
        }
    }

    pub fn id(&self) -> StationId {
        self.identity.id()
    }

    /// The pairing record another station stores for this one.
    pub fn as_new_peer(&self) -> NewPeer<'_> {
        NewPeer {
            card: &self.card,
            card_bytes: &self.card_bytes,
            name: &self.card.name,
            address: self.card.addresses.first().cloned(),
            added_ms: 5,
        }
    }
}

/// A fresh database path in its own temporary directory (kept alive by the `TempDir`).
pub(crate) fn temp_path() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let path = dir.path().join("station.sqlite");
    (dir, path)
}

/// A store at `path` initialised as `station`.
pub(crate) fn initialised(path: &std::path::Path, station: &Station) -> Store {
    let mut store = Store::open(path).expect("a new store opens");
    store
        .init_station(
            &station.card.name,
            "en",
            station.id().0,
            &station.epoch,
            1_000,
        )
        .expect("a new store initialises");
    store
}

/// Signs an entry by `author` on the link with `other`.
pub(crate) fn entry(
    author: &Station,
    other: &StationId,
    seq: u64,
    prev: EntryId,
    text: &str,
) -> SignedEntry {
    Entry {
        link: LinkId::between(&author.id(), other),
        author: author.id(),
        seq,
        prev,
        seen: EntryId::NONE,
        time_ms: 10_000 + seq,
        precedence: Precedence::Priority,
        body: Body::Message {
            text: text.into(),
            lang: "en".into(),
            exercise: false,
            translations: Vec::new(),
        },
        operator: None,
    }
    .sign(&author.identity)
}

/// The outbox frame of `entry` from `author` to `to`: an envelope `author` signed, whose
/// ciphertext is filler (the store never opens it).
pub(crate) fn frame(author: &Station, to: &Station, entry: &SignedEntry) -> Vec<u8> {
    frame_sized(author, to, entry, 64)
}

/// [`frame`] with `ciphertext_bytes` of filler.
pub(crate) fn frame_sized(
    author: &Station,
    to: &Station,
    entry: &SignedEntry,
    ciphertext_bytes: usize,
) -> Vec<u8> {
    let sealed = Sealed {
        key_id: to.epoch.id(),
        encapsulated: vec![0; ENCAPSULATED_KEY_BYTES],
        ciphertext: vec![0; ciphertext_bytes],
    };
    let envelope = Envelope::sign(
        &author.identity,
        LinkId::between(&author.id(), &to.id()),
        to.id(),
        entry.entry().seq,
        entry.id(),
        sealed,
    );
    Frame::encode(TAG_ENVELOPE, &envelope)
}

/// A chain of `count` message entries by `author` on the link with `other`, seqs 1…count.
pub(crate) fn chain(author: &Station, other: &StationId, count: u64) -> Vec<SignedEntry> {
    let mut entries: Vec<SignedEntry> = Vec::new();
    for seq in 1..=count {
        let prev = entries.last().map_or(EntryId::NONE, SignedEntry::id);
        entries.push(entry(author, other, seq, prev, &format!("message {seq}")));
    }
    entries
}
