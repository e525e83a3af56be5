//! What goes in and out of the station core: inputs (commands, frames, health), the commits
//! it hands out, and the outputs it releases once they are durable.

use std::collections::BTreeMap;
use std::sync::Arc;

use parley_channels::{Disposal, Signal, Via, WitnessAt};
use parley_proto::{ChannelId, ChannelKind, CodebookHash, Precedence, StationId, StoreOp};
use parley_relay_wire::witness::WitnessAnswer;
use parley_store::AdminOp;

use super::Content;
use super::witnesses::WitnessSubmit;
use crate::api::{ApiError, Event, Reply};

/// An operator's command, with the files it needs already read ([`crate::api::edge`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send a message.
    Send {
        /// Peer name or fingerprint.
        peer: String,
        /// Precedence.
        precedence: Precedence,
        /// The text.
        text: String,
        /// Marked EXERCISE.
        exercise: bool,
        /// The sender's own translations, by language.
        translations: BTreeMap<String, String>,
        /// Who writes it; `None` for a script or the station itself.
        operator: Option<String>,
    },
    /// Send a coded message or a formatted notice from the agreed codebook.
    SendContent {
        /// Peer name or fingerprint.
        peer: String,
        /// Precedence.
        precedence: Precedence,
        /// The code or form, with what the operator gave for it.
        content: Content,
        /// Marked EXERCISE.
        exercise: bool,
        /// Who writes it; `None` for a script or the station itself.
        operator: Option<String>,
    },
    /// Propose a codebook to a peer.
    CodebookPropose {
        /// Peer name or fingerprint.
        peer: String,
        /// Its TOML source.
        source: String,
        /// Who writes it; `None` for a script or the station itself.
        operator: Option<String>,
    },
    /// Accept a codebook a peer proposed.
    CodebookAccept {
        /// Peer name or fingerprint.
        peer: String,
        /// Which; when `None`, the one waiting (refused when none or several wait).
        hash: Option<CodebookHash>,
        /// Who accepts.
        operator: String,
    },
    /// Translate a message.
    Translate {
        /// Its id or a unique prefix (hex).
        id: String,
        /// The translation's language.
        lang: String,
        /// The translation.
        text: String,
        /// Who translated it.
        operator: String,
    },
    /// Answer a peer's message or operator test: understood.
    Understood {
        /// Its id or a unique prefix (hex).
        id: String,
        /// The message restated.
        restatement: Option<String>,
        /// Who answers.
        operator: String,
    },
    /// Answer a peer's message with a question.
    Clarify {
        /// Its id or a unique prefix (hex).
        id: String,
        /// The question.
        question: String,
        /// Who asks.
        operator: String,
    },
    /// Withdraw an own message.
    Cancel {
        /// Its id or a unique prefix (hex).
        id: String,
        /// Why.
        reason: String,
        /// Who writes it; `None` for a script or the station itself.
        operator: Option<String>,
    },
    /// Send a test now.
    Test {
        /// Peer name or fingerprint.
        peer: String,
        /// Who writes it; `None` for a script or the station itself.
        operator: Option<String>,
    },
    /// Acknowledge an alarm.
    AlarmAck {
        /// Its number.
        id: u64,
        /// A note.
        note: Option<String>,
        /// Who acknowledges.
        operator: String,
    },
    /// Pin a peer from its card.
    PeerAdd {
        /// Armoured card text.
        card: String,
        /// Fingerprint confirmed out of band.
        fingerprint: String,
        /// Direct address overriding the card's.
        address: Option<String>,
    },
    /// Add a relay or courier channel.
    ChannelAdd {
        /// Peer name or fingerprint.
        peer: String,
        /// `relay` or `courier`.
        kind: ChannelKind,
        /// Relay URL or drop folder.
        target: String,
        /// The relay's armoured card.
        card: Option<String>,
        /// The relay's fingerprint.
        fingerprint: Option<String>,
    },
    /// Build a courier bundle for a peer (the caller writes it).
    Export {
        /// Peer name or fingerprint.
        peer: String,
    },
    /// Import a courier bundle's bytes.
    Import {
        /// The bundle.
        bytes: Vec<u8>,
        /// Keep frames that verify on their own when the bundle's signature fails.
        salvage: bool,
    },
    /// Sign a checkpoint of this station's log of a link now.
    CheckpointIssue {
        /// Peer name or fingerprint.
        peer: String,
        /// Who asked; `None` for a script.
        operator: Option<String>,
    },
    /// What this station knows of a link's checkpoints.
    CheckpointShow {
        /// Peer name or fingerprint.
        peer: String,
    },
    /// Make a new epoch key current and announce it.
    KeyRotate,
    /// Compare a verified transcript with this station's record of the link.
    TranscriptCheck {
        /// The file as read (for the evidence of a contradiction).
        file: Arc<Vec<u8>>,
        /// What `transcript::verify` made of it.
        transcript: Box<parley_proto::transcript::VerifiedTranscript>,
    },
    /// Take back own entries this store lost from a verified transcript.
    TranscriptRecover {
        /// The file as read (for the entries' signed bytes).
        file: Arc<Vec<u8>>,
        /// What `transcript::verify` made of it.
        transcript: Box<parley_proto::transcript::VerifiedTranscript>,
    },
    /// The status report.
    Status,
}

/// Names an operator request until its answer is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Names something a transport waits to hear is committed (a relay batch, a folder's bundle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AckId(pub u64);

/// What reaches the core.
#[derive(Debug)]
pub enum Input {
    /// An operator command; answered by an [`Output::Reply`] after the commit it needs.
    Command {
        /// Names the answer.
        id: RequestId,
        /// The command.
        command: Command,
    },
    /// A frame from a transport.
    Frame {
        /// The transport.
        via: Via,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Frames fetched together (a relay mailbox); acknowledged after their commit.
    Batch {
        /// The transport.
        via: Via,
        /// The frames.
        frames: Vec<Vec<u8>>,
        /// Names the acknowledgement.
        ack: AckId,
    },
    /// A bundle from a drop folder; acknowledged (or refused) after its commit.
    Bundle {
        /// The folder.
        via: Via,
        /// The file's name in the folder.
        name: String,
        /// The bundle's bytes.
        bytes: Vec<u8>,
        /// Names the acknowledgement.
        ack: AckId,
    },
    /// A transport's health.
    Health {
        /// The transport.
        via: Via,
        /// What it saw.
        signal: Signal,
    },
    /// A relay confirmed storing frames for `peer`.
    Stored {
        /// The relay.
        via: Via,
        /// The recipient.
        peer: StationId,
        /// Envelopes among them.
        envelopes: u64,
        /// Receipts among them.
        receipts: u64,
    },
    /// A relay refused to store frames for `peer`.
    DepositRefused {
        /// The relay.
        via: Via,
        /// The recipient.
        peer: StationId,
        /// Why, as the relay said.
        reason: String,
    },
    /// A frame over the frame limit arrived on a transport and was refused unread.
    Oversized {
        /// The transport.
        via: Via,
    },
    /// A file in a drop folder was refused unread.
    FileRefused {
        /// The folder.
        via: Via,
        /// The file's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A pinned peer dialled us.
    Dialled {
        /// The peer.
        peer: StationId,
    },
    /// A witness (a relay, or a stock witness) answered the submission of this station's
    /// checkpoint at `size` of its log of the link with `peer`, or could not be reached about
    /// it.
    Witnessed {
        /// The witness.
        at: WitnessAt,
        /// The link's peer.
        peer: StationId,
        /// The checkpoint's size.
        size: u64,
        /// The answer, or why there is none.
        answer: Result<WitnessAnswer, String>,
        /// The witness's own latest checkpoint of the log, when it disagreed (unchecked).
        held: Option<String>,
    },
    /// The alarm hook ran for alarm `id`'s change of rank `rank`
    /// ([`parley_store::AlarmRow::change_rank`]), or there is no hook to run: recorded, so
    /// that a restart does not run it again.
    AlarmHooked {
        /// The alarm.
        id: u64,
        /// The rank of the change.
        rank: u32,
    },
}

/// A transport to start (the daemon does; the simulator wires its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// Pin a peer on the direct channel and, if it has an address, dial it.
    Direct {
        /// The peer.
        peer: StationId,
        /// Its direct address, if any.
        address: Option<String>,
    },
    /// A relay's tasks.
    Relay {
        /// Its number.
        via: Via,
        /// Its URL.
        url: String,
        /// Its pinned identity.
        relay: StationId,
    },
    /// A drop folder's thread.
    Folder {
        /// Its number.
        via: Via,
        /// The folder.
        dir: String,
    },
}

/// What the core releases.
#[derive(Debug)]
pub enum Output {
    /// The answer to an operator command.
    Reply {
        /// The request.
        id: RequestId,
        /// Its answer.
        result: Result<Reply, ApiError>,
    },
    /// What a transport waited for: its batch or bundle is committed, or refused.
    Ack {
        /// The acknowledgement.
        ack: AckId,
        /// Why it was refused, if it was; for a bundle, what becomes of its file (a batch's
        /// is always [`Disposal::Delete`]: the relay may forget it).
        result: Result<Disposal, String>,
    },
    /// Something for subscribers.
    Event(Event),
    /// A transport to start.
    Start(Start),
    /// A peer dialled us: replace our outgoing connection to it.
    Kick(StationId),
    /// A checkpoint for a witness (a relay, or a stock witness); hand it over and report with
    /// [`super::Station::submitted`].
    Witness(WitnessSubmit),
    /// Own entries to seal again: the peer lost them (its store put back to an older copy),
    /// or they are outstanding and the peer announced a new epoch key. Read their signed bytes
    /// from the store ([`parley_store::Store::own_entries`]) and hand them to
    /// [`super::Station::reseal`], which sends them again.
    Reseal {
        /// The peer.
        peer: StationId,
        /// The seqs of the own entries, ascending.
        seqs: Vec<u64>,
        /// Whether the peer lost them (else they are sealed again to its new key).
        lost: bool,
    },
}

/// A frame to put on a transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The transport.
    pub via: Via,
    /// The peer it is for.
    pub peer: StationId,
    /// The frame.
    pub frame: Arc<[u8]>,
    pub(super) channel: ChannelId,
}

/// Durable changes to commit in one transaction, administrative ones first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Commit {
    /// Pairings and new channels.
    pub admin: Vec<AdminOp>,
    /// The protocol's ops.
    pub ops: Vec<StoreOp>,
}

impl Commit {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.admin.is_empty() && self.ops.is_empty()
    }
}

/// What the I/O layer counted, for status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// Incoming direct handshakes refused.
    pub handshakes_rejected: u64,
    /// Unasked frames dropped because the input queue was full.
    pub frames_dropped: u64,
    /// Reports (relay batches, bundles, health) that found the input queue full and waited.
    pub reports_waited: u64,
    /// Operator requests that found the request queue full and waited.
    pub requests_waited: u64,
    /// Most reports the input queue holds.
    pub inputs_max: u64,
    /// Most API connections served at once.
    pub api_clients_max: u64,
    /// API connections refused because that many were open.
    pub api_clients_refused: u64,
    /// CPU time the driver spent committing to the store, in microseconds.
    pub commit_cpu_us: u64,
    /// The store's checkpoints, and the CPU time of its checkpoint thread.
    pub checkpoints: parley_store::CheckpointCounts,
}
