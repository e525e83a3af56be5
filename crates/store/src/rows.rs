//! What the read side returns: plain rows for the station, the CLI and transcript export.

use std::collections::BTreeMap;

use parley_proto::{
    ChannelKind, ContactCard, EntryId, EpochKeyId, EpochSecret, EvidenceKind, Precedence,
    SignedEntry, StationId,
};

use crate::alarms::{AlarmChange, AlarmRow};

/// This station, as written by [`crate::Store::init_station`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StationRow {
    /// Human name of the station.
    pub name: String,
    /// Working language (BCP 47).
    pub lang: String,
    /// The station's identity (its Ed25519 public key).
    pub identity: StationId,
    /// When the station was initialised (UTC ms).
    pub created_ms: u64,
    /// When its daemon last stopped cleanly, every duty due until then run and committed (UTC
    /// ms); `None` while it runs, after a crash, and before this was kept.
    pub stopped_ms: Option<u64>,
}

/// A paired peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRow {
    /// The peer's identity.
    pub id: StationId,
    /// The local name the operator gave the peer (unique in this store).
    pub name: String,
    /// The peer's contact card as pinned, verified again on every read.
    pub card: ContactCard,
    /// The card's signed bytes as pinned (for transcript export).
    pub card_bytes: Vec<u8>,
    /// Where to reach the peer's direct channel, if set.
    pub address: Option<String>,
    /// When the peer was paired (UTC ms).
    pub added_ms: u64,
    /// The peer's entries up to this seq are held and delivered in order.
    pub in_head: u64,
}

/// A peer to pair with, written by [`crate::Store::commit_with_peer`] together with the ops the
/// pairing produced.
#[derive(Clone, Debug)]
pub struct NewPeer<'a> {
    /// The verified card.
    pub card: &'a ContactCard,
    /// The card's signed bytes; they must decode to `card`.
    pub card_bytes: &'a [u8],
    /// The local name for the peer.
    pub name: &'a str,
    /// Where to reach the peer's direct channel, if known.
    pub address: Option<String>,
    /// When the pairing happened (UTC ms).
    pub added_ms: u64,
}

/// A peer to pair with, owned, as a station's core queues it for its next commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRecord {
    /// The verified card.
    pub card: ContactCard,
    /// The card's signed bytes; they must decode to `card`.
    pub card_bytes: Vec<u8>,
    /// The local name for the peer.
    pub name: String,
    /// Where to reach the peer's direct channel, if known.
    pub address: Option<String>,
    /// When the pairing happened (UTC ms).
    pub added_ms: u64,
}

impl PeerRecord {
    /// The borrowed form the store writes.
    pub fn as_new_peer(&self) -> NewPeer<'_> {
        NewPeer {
            card: &self.card,
            card_bytes: &self.card_bytes,
            name: &self.name,
            address: self.address.clone(),
            added_ms: self.added_ms,
        }
    }
}

/// One of the station's epoch key pairs as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochKeyRow {
    /// The key pair.
    pub key: EpochSecret,
    /// When it was made, UTC ms.
    pub created_ms: u64,
    /// Whether it is the current key (exactly one is).
    pub current: bool,
}

/// A change to a station's administrative records, committed together with the protocol's
/// ops by [`crate::Store::commit_batch`] (before them, so a new peer exists before its link's
/// first entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminOp {
    /// Pair with a peer.
    AddPeer(PeerRecord),
    /// Add a relay or courier channel under the id the station chose (ids only grow).
    AddChannel(ChannelRow),
    /// Raise an alarm under the id the station chose (ids only grow).
    RaiseAlarm(AlarmRow),
    /// Change a raised alarm.
    ChangeAlarm {
        /// The alarm.
        id: u64,
        /// The change.
        change: AlarmChange,
    },
    /// The alarm hook ran for an alarm's change of this rank ([`crate::AlarmRow::change_rank`])
    /// and every change before it.
    HookedAlarm {
        /// The alarm.
        id: u64,
        /// The rank of the change.
        rank: u32,
    },
    /// Make a new epoch key current; the previous ones stay (retained for late envelopes).
    AddEpochKey {
        /// The key pair (boxed: it is large, and rare among the ops).
        key: Box<EpochSecret>,
        /// When it was made, UTC ms.
        created_ms: u64,
    },
    /// Erase a retained (not current) epoch key pair.
    EraseEpochKey(EpochKeyId),
    /// Replace a peer's pinned version 1 card by its version 2 card: the same station and
    /// name, signed by the same identity key, now with its post-quantum key (formats.md §6).
    /// The key sealed to does not change: the card's epoch key must be that key unless the
    /// peer has announced one in its log.
    UpgradePeerCard {
        /// The version 2 card.
        card: Box<ContactCard>,
        /// Its signed bytes, as pinned.
        card_bytes: Vec<u8>,
    },
}

impl From<NewPeer<'_>> for AdminOp {
    fn from(peer: NewPeer<'_>) -> Self {
        AdminOp::AddPeer(PeerRecord {
            card: peer.card.clone(),
            card_bytes: peer.card_bytes.to_vec(),
            name: peer.name.to_owned(),
            address: peer.address,
            added_ms: peer.added_ms,
        })
    }
}

/// A delivered message from a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxRow {
    /// The local name of the sender.
    pub peer_name: String,
    /// The sender.
    pub from: StationId,
    /// The entry's seq in the sender's log.
    pub seq: u64,
    /// The entry's id.
    pub entry_id: EntryId,
    /// Handling precedence.
    pub precedence: Precedence,
    /// The text.
    pub text: String,
    /// Its language (BCP 47).
    pub lang: String,
    /// When the sender wrote it, by the sender's clock (UTC ms).
    pub sent_at_ms: u64,
    /// When it arrived here (UTC ms).
    pub received_at_ms: u64,
}

/// Where an own entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Written, not yet put on any channel.
    Queued,
    /// Put on a channel at least once, not yet receipted.
    Sent,
    /// Receipted by the peer.
    Delivered,
}

impl DeliveryState {
    /// The lower-case name, as stored and shown: `queued`, `sent` or `delivered`.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            DeliveryState::Queued,
            DeliveryState::Sent,
            DeliveryState::Delivered,
        ]
        .into_iter()
        .find(|state| state.name() == name)
    }
}

/// Where one own entry stands, as its outbox row says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxState {
    /// Its seq.
    pub seq: u64,
    /// Queued, sent or delivered.
    pub state: DeliveryState,
    /// When the covering receipt arrived, UTC ms.
    pub delivered_ms: Option<u64>,
    /// The kinds of channel it went out on, in [`ChannelKind::ALL`] order (empty for what a
    /// station before schema version 4 sent).
    pub sent_on: Vec<ChannelKind>,
}

/// An own message to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    /// The local name of the recipient.
    pub peer_name: String,
    /// The recipient.
    pub to: StationId,
    /// The entry's seq in this station's log for the link.
    pub seq: u64,
    /// The entry's id.
    pub entry_id: EntryId,
    /// Handling precedence.
    pub precedence: Precedence,
    /// The text.
    pub text: String,
    /// Its language (BCP 47).
    pub lang: String,
    /// When it was written (UTC ms).
    pub created_ms: u64,
    /// Where it stands.
    pub state: DeliveryState,
    /// When the peer's receipt for it arrived (UTC ms), once delivered.
    pub delivered_ms: Option<u64>,
}

/// A record of misbehaviour by a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceRow {
    /// Ascending record number.
    pub id: u64,
    /// The peer implicated.
    pub peer: StationId,
    /// Its local name.
    pub peer_name: String,
    /// What it proves.
    pub kind: EvidenceKind,
    /// The seq concerned.
    pub seq: u64,
    /// Human account.
    pub detail: String,
    /// The signed bytes that prove it.
    pub bytes: Vec<u8>,
    /// When it was seen (UTC ms).
    pub time_ms: u64,
}

/// One stored entry of a link, either author, for transcript export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// Who wrote it: this station or the peer.
    pub author: StationId,
    /// Its seq in the author's log.
    pub seq: u64,
    /// The signed (COSE_Sign1) bytes, verifiable with the author's key.
    pub signed: Vec<u8>,
}

/// Everything a transcript of one link is made of, read as one state of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptRecord {
    /// The peer, with its pinned card.
    pub peer: PeerRow,
    /// The link's snapshot.
    pub snapshot: parley_proto::LinkSnapshot,
    /// Every entry of both logs up to the peer's in-head, by author then seq.
    pub entries: Vec<StoredEntry>,
    /// The peer's latest receipt of own entries, if any.
    pub latest_receipt: Option<Vec<u8>>,
}

/// How much is waiting on a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounts {
    /// Own entries (any kind) not yet receipted by the peer.
    pub outbox_depth: u64,
    /// The peer's messages delivered here in order.
    pub inbox_count: u64,
}

/// A relay or courier channel of a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelRow {
    /// Row id, stable for the life of the store.
    pub id: i64,
    /// The peer of the link.
    pub peer: StationId,
    /// What kind of channel.
    pub kind: ChannelKindRow,
    /// The relay's URL, or the courier drop folder.
    pub target: String,
    /// When it was added (UTC ms).
    pub added_ms: u64,
}

/// The kind of a stored channel, with what it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelKindRow {
    /// A relay: its pinned identity and its verified card's signed bytes.
    Relay {
        /// The relay's identity key.
        relay: StationId,
        /// The relay's card as pinned.
        card_bytes: Vec<u8>,
    },
    /// A courier drop folder.
    Courier,
}

impl ChannelKindRow {
    /// The kind's name as stored and shown: `relay` or `courier`.
    pub fn name(&self) -> &'static str {
        match self {
            ChannelKindRow::Relay { .. } => "relay",
            ChannelKindRow::Courier => "courier",
        }
    }
}

/// An entry as kept, with when it arrived (peer entries only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptEntry {
    /// The entry.
    pub entry: SignedEntry,
    /// When it arrived, UTC ms; `None` for own entries.
    pub received_ms: Option<u64>,
}

/// What the watch and speed-of-service figures are built from: every entry of a link but key
/// announcements (both authors, by author then seq), and when the peer's receipts covered
/// each own entry (by seq).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkRecord {
    /// The entries.
    pub entries: Vec<KeptEntry>,
    /// Own seq to the time its covering receipt arrived, UTC ms; for one sent again after
    /// the peer lost it, the time the first did.
    pub delivered_ms: BTreeMap<u64, u64>,
    /// This station's key announcements on the link: (seq, key id), by seq.
    pub own_key_announcements: Vec<(u64, parley_proto::EpochKeyId)>,
    /// Every key announcement of the link, either side's: its seq, by entry id. `entries`
    /// leaves them out, and an entry's `seen` may name one.
    pub key_announcement_seqs: BTreeMap<EntryId, u64>,
}

/// The Merkle leaf hashes of a link's two logs, for checkpoints: each an entry's signed bytes
/// hashed as an RFC 6962 leaf, by seq.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkLeaves {
    /// This station's log, seq 1 upward (its log has no gaps).
    pub own: Vec<parley_proto::tlog::Hash>,
    /// The peer's entries this station holds, by seq: gaps where entries arrived out of order.
    pub peer: BTreeMap<u64, parley_proto::tlog::Hash>,
}
