//! The boundary between the protocol and the disk: what a link asks to have persisted
//! ([`StoreOp`]) and what it is rebuilt from after a restart ([`LinkSnapshot`]).
//!
//! The driver commits every `StoreOp` a call produced (fsync) before it pulls any transmit;
//! that is what makes "persist before you acknowledge" hold for sends and receipts alike.
//! (The station core lets [`StoreOp::MarkTransmitted`], the record of a frame that has left,
//! wait for the next commit.)

use crate::entry::SignedEntry;
use crate::evidence::EvidenceKind;
use crate::id::{EntryId, StationId};
use crate::link::ChannelKind;

/// One durable change. Applied in order, all of a batch in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// This station appended an entry to its log for `peer`, sealed into `frame`.
    AppendOwn {
        /// The peer of the link.
        peer: StationId,
        /// The signed entry.
        entry: SignedEntry,
        /// The frame (tag and envelope) sent on every channel.
        frame: Vec<u8>,
    },
    /// An own entry went out on a channel of `channel`'s kind for the first time (since the
    /// station started: once more after a restart is harmless).
    MarkTransmitted {
        /// The peer of the link.
        peer: StationId,
        /// The entry's seq.
        seq: u64,
        /// The kind of channel.
        channel: ChannelKind,
    },
    /// A verified entry from `peer` is held (possibly ahead of the contiguous head).
    StorePeerEntry {
        /// The author.
        peer: StationId,
        /// The verified signed entry.
        entry: SignedEntry,
        /// When it arrived (UTC ms).
        received_ms: u64,
    },
    /// Every entry of `peer` up to `upto` is held: they are delivered to the operators.
    AdvanceInHead {
        /// The author.
        peer: StationId,
        /// New contiguous head.
        upto: u64,
    },
    /// The peer receipted own entries: all up to `upto`, and `extra`.
    MarkDelivered {
        /// The peer.
        peer: StationId,
        /// Cumulative bound.
        upto: u64,
        /// Out-of-order seqs also held.
        extra: Vec<u64>,
        /// The signed receipt, kept as proof.
        receipt: Vec<u8>,
        /// The latest time the peer signed into a receipt that marked own entries delivered,
        /// this one included unless it shows a loss not yet sealed again (formats.md §5).
        newest_ms: u64,
        /// When it arrived (UTC ms).
        received_ms: u64,
    },
    /// A fresh receipt from the peer lacks own entries an earlier one covered (its store went
    /// back to an older copy): they are outstanding again, sealed anew into `frames`, and the
    /// receipt that showed it is kept in place of the one that covered more.
    Redeliver {
        /// The peer.
        peer: StationId,
        /// Each entry's seq and its new frame (tag and envelope).
        frames: Vec<(u64, Vec<u8>)>,
        /// The signed receipt that lacks them, kept as proof.
        receipt: Vec<u8>,
        /// Its cumulative bound: the peer's receipt bound from now on. Receipts signed before it
        /// are taken for nothing from now on.
        upto: u64,
        /// When it arrived (UTC ms).
        received_ms: u64,
    },
    /// Outstanding own entries sealed again to the peer's new epoch key: each seq's frame is
    /// replaced.
    Resealed {
        /// The peer.
        peer: StationId,
        /// Each entry's seq and its new frame (tag and envelope).
        frames: Vec<(u64, Vec<u8>)>,
    },
    /// The peer signed a receipt of own entries up to `peer_holds`, beyond the own log: this
    /// store lacks entries this station wrote (put back to an older copy), and nothing more
    /// is appended on the link, which would fork the log.
    LogBehind {
        /// The peer.
        peer: StationId,
        /// The highest own seq its receipt covers.
        peer_holds: u64,
    },
    /// The peer signed a receipt that names another entry at `seq` of the own log than this
    /// store holds: this store was put back to an older copy and wrote entries since, forking
    /// its log (or the receipt is false). Nothing more is appended on the link.
    LogForked {
        /// The peer.
        peer: StationId,
        /// The own seq the receipt names another entry at.
        seq: u64,
    },
    /// Own entries this store lacked were taken back ([`StoreOp::AppendOwn`], before this in
    /// the batch): the own log reaches as far as the peer's receipts covered it, and the link
    /// takes new entries again ([`StoreOp::LogBehind`] is over).
    LogCaughtUp {
        /// The peer.
        peer: StationId,
    },
    /// The peer announced a new epoch key; seal to it from now on.
    PeerEpochKey {
        /// The peer.
        peer: StationId,
        /// Encoded public key.
        public: Vec<u8>,
    },
    /// Signed evidence of misbehaviour (equivocation, fork, inconsistent receipt).
    Evidence {
        /// The peer it implicates.
        peer: StationId,
        /// What it proves.
        kind: EvidenceKind,
        /// The seq concerned.
        seq: u64,
        /// Human account.
        detail: String,
        /// The signed bytes that prove it.
        bytes: Vec<u8>,
        /// When it was seen (UTC ms).
        time_ms: u64,
    },
}

/// An own entry not yet receipted, as restored from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxItem {
    /// Its seq.
    pub seq: u64,
    /// Its id.
    pub entry_id: EntryId,
    /// The frame to (re)send.
    pub frame: Vec<u8>,
    /// Whether it has gone out at least once.
    pub transmitted: bool,
}

/// A peer entry held ahead of the contiguous head, as restored from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingItem {
    /// Its seq.
    pub seq: u64,
    /// Its id.
    pub entry_id: EntryId,
    /// Its `prev`.
    pub prev: EntryId,
}

/// Everything a link needs to resume exactly where its last commit left it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkSnapshot {
    /// Ids of own entries, index `seq - 1`.
    pub out_ids: Vec<EntryId>,
    /// Own entries not yet receipted, ascending seq.
    pub outbox: Vec<OutboxItem>,
    /// The peer's highest cumulative receipt.
    pub peer_receipt_upto: u64,
    /// The latest time the peer signed into a receipt that marked own entries delivered (0:
    /// none): a receipt signed later that lacks one of them shows the peer lost it.
    pub peer_receipt_newest_ms: u64,
    /// The time the peer signed into the receipt that last showed it lost entries (0: none):
    /// receipts signed before it are taken for nothing.
    pub peer_receipt_floor_ms: u64,
    /// The highest own seq a receipt of the peer covered beyond the own log (0: none): nothing
    /// more is appended on the link ([`StoreOp::LogBehind`]).
    pub own_log_behind: u64,
    /// The lowest own seq at which a receipt of the peer named another entry than this store
    /// holds (0: none): nothing more is appended on the link ([`StoreOp::LogForked`]).
    pub own_log_forked: u64,
    /// Ids of the peer's contiguous entries, index `seq - 1`.
    pub in_ids: Vec<EntryId>,
    /// Peer entries held above the contiguous head, ascending seq.
    pub in_pending: Vec<PendingItem>,
    /// The peer's current epoch public key (from its card or latest announcement).
    pub peer_epoch_public: Vec<u8>,
    /// The seq of the peer's announcement of that key; 0 for the key of its card.
    pub peer_epoch_seq: u64,
    /// How many evidence records exist for this peer.
    pub evidence_count: u64,
}
