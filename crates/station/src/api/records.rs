//! What `inbox`, `outbox` and `peer list` show: typed records read from the store (read-only,
//! beside a running daemon), built here once for the CLI's text and its `--json`.

use parley_proto::{EntryId, Fingerprint, Precedence};
use parley_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::StationError;

/// A message received and delivered in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    /// Entry id.
    pub id: EntryId,
    /// Sender's peer name.
    pub from: String,
    /// Sender's fingerprint.
    pub from_fingerprint: Fingerprint,
    /// Seq in the sender's log.
    pub seq: u64,
    /// Precedence.
    pub precedence: Precedence,
    /// The message's language tag, as set by the sender.
    pub lang: String,
    /// The message.
    pub text: String,
    /// When the sender wrote it, UTC ms, by the sender's clock.
    pub sent_at: u64,
    /// When this station stored it, UTC ms.
    pub received_at: u64,
}

/// A message this station sent, with where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Entry id (what `send` printed).
    pub id: EntryId,
    /// Recipient's peer name.
    pub to: String,
    /// Recipient's fingerprint.
    pub to_fingerprint: Fingerprint,
    /// Seq in this station's log for the link.
    pub seq: u64,
    /// Precedence.
    pub precedence: Precedence,
    /// The message.
    pub text: String,
    /// When it was written, UTC ms.
    pub created_at: u64,
    /// Where it stands.
    pub state: DeliveryState,
    /// When the covering receipt arrived, UTC ms; null until delivered.
    pub delivered_at: Option<u64>,
}

/// Where a sent message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Stored, not yet put on any channel.
    Queued,
    /// Put on a channel at least once, not yet receipted.
    Sent,
    /// The peer's signed receipt covers it: it is on the peer's disk.
    Delivered,
}

impl DeliveryState {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
        }
    }
}

impl From<parley_store::DeliveryState> for DeliveryState {
    fn from(state: parley_store::DeliveryState) -> Self {
        match state {
            parley_store::DeliveryState::Queued => DeliveryState::Queued,
            parley_store::DeliveryState::Sent => DeliveryState::Sent,
            parley_store::DeliveryState::Delivered => DeliveryState::Delivered,
        }
    }
}

/// A paired peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerItem {
    /// The peer's name (from its card; unique among peers).
    pub name: String,
    /// The peer's fingerprint.
    pub fingerprint: Fingerprint,
    /// Direct-channel address dialled, if any.
    pub address: Option<String>,
    /// The peer's working language, from its card.
    pub lang: String,
    /// When the peer was paired, UTC ms.
    pub added_ms: u64,
}

/// Every delivered message, per sender in seq order.
pub fn inbox(store: &Store) -> Result<Vec<InboxItem>, StationError> {
    Ok(store
        .inbox(None)?
        .into_iter()
        .map(|row| InboxItem {
            id: row.entry_id,
            from: row.peer_name,
            from_fingerprint: row.from.fingerprint(),
            seq: row.seq,
            precedence: row.precedence,
            lang: row.lang,
            text: row.text,
            sent_at: row.sent_at_ms,
            received_at: row.received_at_ms,
        })
        .collect())
}

/// Every sent message, per recipient in seq order.
pub fn outbox(store: &Store) -> Result<Vec<OutboxItem>, StationError> {
    Ok(store
        .outbox(None)?
        .into_iter()
        .map(|row| OutboxItem {
            id: row.entry_id,
            to: row.peer_name,
            to_fingerprint: row.to.fingerprint(),
            seq: row.seq,
            precedence: row.precedence,
            text: row.text,
            created_at: row.created_ms,
            state: row.state.into(),
            delivered_at: row.delivered_ms,
        })
        .collect())
}

/// Every paired peer, by name.
pub fn peers(store: &Store) -> Result<Vec<PeerItem>, StationError> {
    Ok(store
        .peers()?
        .into_iter()
        .map(|row| PeerItem {
            name: row.name,
            fingerprint: row.id.fingerprint(),
            address: row.address,
            lang: row.card.lang,
            added_ms: row.added_ms,
        })
        .collect())
}
