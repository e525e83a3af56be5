//! The status report: one typed value, built in one place (the station core) whether a daemon
//! runs or not, rendered by the CLI and serialised as it is for `--json`. Fields that only a
//! running daemon knows are absent when none runs.

use std::collections::{BTreeMap, VecDeque};

use parley_proto::{ChannelKind, Fingerprint, Precedence};
use parley_store::AlarmKind;
use serde::{Deserialize, Serialize};

use super::records::AlarmItem;
pub use crate::core::EpochKeyStatus;
use crate::core::health::{Health, Transition};
pub use crate::core::watch::latency::{Histogram, Latencies, PrecedenceLatency};

/// Whether a daemon runs for the station.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DaemonState {
    /// Live status from the daemon.
    Running,
    /// Status read from the store.
    Stopped,
}

/// `parley status --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// This station.
    pub station: StationInfo,
    /// Whether a daemon runs.
    pub daemon: DaemonState,
    /// The daemon's clock, UTC ms (running only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now_ms: Option<u64>,
    /// Seconds since the daemon's driver started (running only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
    /// Every paired peer, by name.
    pub peers: Vec<PeerStatus>,
    /// Frames and connections refused that belong to no peer's link (running only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Rejected>,
    /// The daemon's input queues (running only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Queues>,
    /// The alarms not cleared.
    pub alarms: Alarms,
    /// The messages of the record, both sides, per precedence (highest first) and where
    /// each stands.
    #[serde(default)]
    pub messages: Vec<MessageCounts>,
    /// How long the peers took with this station's messages since the daemon started
    /// (running only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latencies: Option<Latencies>,
    /// This station's epoch keys: the current one first, then those retained, newest first.
    #[serde(default)]
    pub epoch_keys: Vec<EpochKeyStatus>,
}

/// The messages of one precedence, by where each stands (tests are not counted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// The precedence.
    pub precedence: Precedence,
    /// This station's messages.
    pub sent: SentCounts,
    /// The peers' messages.
    pub received: ReceivedCounts,
}

/// This station's messages, each counted once, under the first that applies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentCounts {
    /// Withdrawn by this station.
    pub cancelled: u64,
    /// Answered understood by the peer.
    pub understood: u64,
    /// Answered with a question by the peer.
    pub clarify: u64,
    /// Not receipted yet.
    pub unreceipted: u64,
    /// Receipted (on the peer's disk), not answered.
    pub delivered: u64,
}

/// The peers' messages, each counted once, under the first that applies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedCounts {
    /// Withdrawn by the peer.
    pub cancelled: u64,
    /// Answered understood by this station.
    pub understood: u64,
    /// Answered with a question by this station.
    pub clarify: u64,
    /// Awaiting this station's answer.
    pub unanswered: u64,
}

/// This station, as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationInfo {
    /// Station name.
    pub name: String,
    /// Working language.
    pub lang: String,
    /// Direct-channel listen address as configured.
    pub listen: String,
    /// This station's fingerprint (its card's: over both of its keys).
    pub fingerprint: Fingerprint,
    /// Its key fingerprint (of its Ed25519 key alone), which logs and courier file names use.
    pub key_fingerprint: Fingerprint,
}

/// One paired peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Peer name.
    pub name: String,
    /// Peer fingerprint (its pinned card's).
    pub fingerprint: Fingerprint,
    /// Its key fingerprint (of its Ed25519 key alone), which logs and courier file names use.
    pub key_fingerprint: Fingerprint,
    /// Every channel of the link: direct first, then relay and courier channels as added.
    pub channels: Vec<ChannelStatus>,
    /// Own entries written on this link (the seq of the last one).
    pub out_seq: u64,
    /// Own entries not yet receipted.
    pub outbox_depth: u64,
    /// The peer's highest cumulative receipt.
    pub peer_receipt_upto: u64,
    /// Peer entries delivered in order.
    pub in_head: u64,
    /// Peer entries held above the head.
    pub in_pending: u64,
    /// The largest size of this station's log of the link the peer cosigned (0: none yet;
    /// `parley checkpoint show` has the notes).
    #[serde(default)]
    pub cosigned_upto: u64,
    /// The largest size of the peer's log this station cosigned (0: none yet).
    #[serde(default)]
    pub peer_cosigned_upto: u64,
    /// The id (hex) of the peer's epoch key this station seals to.
    #[serde(default)]
    pub peer_epoch_key: String,
    /// Why nothing more is written to the peer, if so: this store was put back to an older
    /// copy, and the peer holds own entries it lacks, or another entry at a seq it wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_closed: Option<LogClosed>,
    /// Bytes of the peer's entries, as sealed, this station takes now before it refuses
    /// more (`[intake]`; docs/cli.md "Intake"). Running only: it grows with time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake_available_bytes: Option<u64>,
    /// Counts since the daemon started (running only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<PeerCounters>,
}

/// Why nothing more is written to a peer ([`PeerStatus::log_closed`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogClosed {
    /// How the peer's receipts showed this store's log lacking.
    pub kind: LogClosedKind,
    /// The own seq concerned.
    pub seq: u64,
    /// What a new entry to the peer is refused with.
    pub reason: String,
}

impl From<parley_proto::link::Closed> for LogClosed {
    fn from(closed: parley_proto::link::Closed) -> Self {
        use parley_proto::link::Closed;
        let (kind, seq) = match closed {
            Closed::Behind { peer_holds, .. } => (LogClosedKind::Behind, peer_holds),
            Closed::Forked { seq } => (LogClosedKind::Forked, seq),
        };
        LogClosed {
            kind,
            seq,
            reason: parley_proto::SendError::from(closed).to_string(),
        }
    }
}

/// How a peer's receipts showed this store's log lacking ([`LogClosed::kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogClosedKind {
    /// The peer holds own entries up to `seq`, beyond this store's log.
    Behind,
    /// The peer holds another entry at own seq `seq` than this store.
    Forked,
}

/// One channel of a link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelStatus {
    /// `direct`, `relay` or `courier`.
    pub kind: ChannelKind,
    /// The direct address dialled, the relay URL, or the drop folder.
    pub target: Option<String>,
    /// `up`, `degraded` or `down` (always `down` when no daemon runs).
    pub state: Health,
    /// What the running daemon knows (absent when none runs).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveChannel>,
}

/// What a running daemon knows of a channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveChannel {
    /// Time of the last state change, or the daemon's start, UTC ms.
    pub since_ms: u64,
    /// Last measured round-trip time, ms; null while down and for courier.
    pub rtt_ms: Option<f64>,
    /// State changes since the daemon started.
    pub changes: u64,
    /// Why the last heartbeat failed, until one succeeds.
    pub last_error: Option<String>,
    /// The most recent state changes, oldest first.
    pub transitions: VecDeque<Transition>,
    /// Per-channel counts since the daemon started.
    pub counters: ChannelCounters,
    /// Why the relay refused our last deposit, while it refuses them (relay only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit_refusal: Option<String>,
    /// The last file the drop folder refused unread, and why (courier only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refused_file: Option<String>,
}

/// Frames counted per channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCounters {
    /// Envelopes handed to the channel.
    pub envelopes_sent: u64,
    /// Receipts handed to the channel.
    pub receipts_sent: u64,
    /// Envelopes that arrived on it and verified (new or duplicate).
    pub envelopes_received: u64,
    /// Receipts that arrived on it and verified.
    pub receipts_received: u64,
    /// Envelopes that arrived on it already held, dropped.
    pub duplicates_dropped: u64,
    /// Frames that arrived on it and were refused.
    pub rejected: u64,
    /// Frames not handed over because the channel's queue was full (resent later).
    pub queue_full: u64,
    /// Envelopes the relay confirmed it stored (relay channels only).
    pub envelopes_stored_at_relay: u64,
    /// Receipts the relay confirmed it stored (relay channels only).
    pub receipts_stored_at_relay: u64,
    /// Deposits the relay refused to store (relay channels only).
    pub deposits_refused: u64,
    /// Files in the drop folder set aside: bundles refused, and files refused unread (not a
    /// regular file, too large) (courier only).
    pub files_refused: u64,
}

/// Counts of one link since the daemon started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerCounters {
    /// Envelopes accepted (new peer entries stored).
    pub envelopes_accepted: u64,
    /// Envelopes dropped as duplicates of held entries.
    pub duplicates_dropped: u64,
    /// Receipts accepted.
    pub receipts_accepted: u64,
    /// Frames put on channels.
    pub frames_transmitted: u64,
    /// Envelope resends.
    pub retransmissions: u64,
    /// Own entries sealed and sent again because the peer no longer held them (its store was
    /// put back to an older copy).
    #[serde(default)]
    pub entries_resent: u64,
    /// Frames from this peer refused by its link, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Alarms raised on this link.
    pub alarms: u64,
}

/// Refusals that belong to no peer's link.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// Frames refused before they could be given to a link, by reason.
    pub frames: BTreeMap<String, u64>,
    /// Incoming direct-channel handshakes refused.
    pub handshakes: u64,
    /// `peer add` requests through the daemon refused for the card.
    pub cards: u64,
}

/// The daemon's input queues.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queues {
    /// Most reports the driver's input queue holds.
    pub inputs_max: u64,
    /// Frames that arrived unasked (direct channel) and were dropped because the input queue
    /// was full; their senders retransmit them.
    pub frames_dropped: u64,
    /// Reports (relay batches, bundles, channel health) that found the input queue full and
    /// waited for room: the transports' backpressure at work.
    #[serde(default)]
    pub reports_waited: u64,
    /// Operator requests (API, console, metrics scrapes) that found the driver's request
    /// queue full and waited for room.
    #[serde(default)]
    pub requests_waited: u64,
    /// Most operator API connections served at once.
    pub api_clients_max: u64,
    /// API connections refused because that many were open.
    pub api_clients_refused: u64,
    /// CPU time the driver spent committing to the store since the daemon started, in
    /// microseconds (the waits for the disk are not CPU time).
    #[serde(default)]
    pub commit_cpu_us: u64,
    /// CPU time the store's checkpoint thread spent copying the write-ahead log into the
    /// database since the daemon started, in microseconds (the commits' share of the storage
    /// work that left their path).
    #[serde(default)]
    pub store_checkpoint_cpu_us: u64,
    /// Checkpoints of the store's write-ahead log run by its checkpoint thread since the
    /// daemon started.
    #[serde(default)]
    pub checkpoints_background: u64,
    /// Checkpoints the driver ran itself, in the commit that took the log past the bound
    /// (commits back to back, or the checkpoint thread lagged), or past 1,000 pages once the
    /// thread is gone, since the daemon started.
    #[serde(default)]
    pub checkpoints_by_writer: u64,
    /// Pages (of 4 KiB) in the store's write-ahead log after the latest commit.
    #[serde(default)]
    pub store_log_pages: u64,
    /// Envelopes taken on a signature checked in a batch (the frames the driver took in one
    /// round, a relay batch, a courier bundle) rather than alone, since the daemon started.
    #[serde(default)]
    pub envelope_checks_batched: u64,
    /// Entries taken on a signature checked in the same batch as their envelope's, since the
    /// daemon started.
    #[serde(default)]
    pub entry_checks_batched: u64,
}

/// The alarms not cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarms {
    /// Raised and not acknowledged.
    pub open: u64,
    /// Acknowledged, their condition going on.
    pub acknowledged: u64,
    /// Evidence of misbehaviour found: the `equivocation`, `fork` and `bad_receipt` alarms,
    /// which never clear (what this count meant before alarms had a life of their own).
    #[serde(default)]
    pub total: u64,
    /// The most recent of them, newest first (at most `STATUS_ALARMS_MAX`).
    pub recent: Vec<RecentAlarm>,
    /// How many of each kind, for the kinds that have any.
    #[serde(default)]
    pub kinds: Vec<AlarmKindCount>,
}

/// An alarm not cleared, as `parley alarms` shows it, with the two fields status reports
/// carried before alarms had a life of their own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentAlarm {
    /// The alarm.
    #[serde(flatten)]
    pub alarm: AlarmItem,
    /// When it was raised, UTC ms (the same as `raised_at_ms`).
    #[serde(default)]
    pub time_ms: u64,
    /// The seq of the peer's log that the evidence concerns (equivocation, fork, bad
    /// receipt); `None` for the kinds about no entry of the peer.
    #[serde(default)]
    pub seq: Option<u64>,
}

impl RecentAlarm {
    /// The status form of `alarm`.
    pub fn new(alarm: AlarmItem) -> Self {
        let seq = match is_evidence(alarm.kind) {
            true => alarm
                .subject
                .strip_prefix("seq ")
                .and_then(|seq| seq.parse().ok()),
            false => None,
        };
        Self {
            time_ms: alarm.raised_at_ms,
            seq,
            alarm,
        }
    }
}

/// Whether alarms of `kind` are evidence of misbehaviour (they never clear).
pub fn is_evidence(kind: AlarmKind) -> bool {
    matches!(
        kind,
        AlarmKind::Equivocation | AlarmKind::Fork | AlarmKind::BadReceipt
    )
}

/// The alarms of one kind not cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmKindCount {
    /// The kind.
    pub kind: AlarmKind,
    /// Raised and not acknowledged.
    pub open: u64,
    /// Acknowledged, their condition going on.
    pub acknowledged: u64,
}
