//! The station core, free of I/O: the protocol endpoint, the paired peers, the table of every
//! channel of every link with its health and counters, operator commands, and the rule that
//! makes "nothing accepted is ever lost" hold: **everything an answer, an acknowledgement or
//! an event depends on is committed before it is released, and nothing is transmitted while
//! anything is uncommitted** (but the records of frames already sent, which may wait for the
//! next commit: `Pending`).
//!
//! Driven like quinn-proto's `Connection`: the caller feeds [`Input`]s with [`Station::handle`],
//! takes the durable changes with [`Station::poll_commit`], commits them (fsync) and reports
//! the outcome with [`Station::commit_done`]; only then are the outputs of that batch released
//! ([`Station::poll_output`]) and frames handed out ([`Station::poll_transmit`]). The daemon
//! drives one with real sockets and SQLite; a CLI command on a stopped station drives one for
//! a single command; the simulator drives the very same code with simulated channels, clock and
//! crashes. Time comes in as `now_ms` (UTC milliseconds, never going backwards); nothing here
//! reads a clock, a socket or a file.
//!
//! Parts: `io` (what goes in and out: inputs, the `Command`s operators' requests become,
//! outputs), [`channels`] (the channel table and the transports behind it), [`health`] (up,
//! degraded, down), `commands` (what operators ask), `coded` (coded messages and notices),
//! `courier` (bundles), `status` (the one status report), [`watch`] and `watching` (deadlines,
//! alarms, scheduled tests), `checkpoints` (signed checkpoints of both logs, cosigned),
//! `witnesses` (this station's checkpoints submitted to the relays as witnesses), `transports`
//! (what the transports report, and the channels on them).
//! Refusals are logged here, at most once per reason per
//! `REFUSAL_LOG_INTERVAL_MS` (`LogLimit`, shared with the channels).

pub mod channels;
mod checkpoints;
mod coded;
mod commands;
mod courier;
pub mod health;
mod intake;
mod io;
mod keys;
mod peers;
mod status;
#[cfg(test)]
mod tests;
mod transcripts;
mod transports;
pub mod watch;
mod watching;
mod witnesses;

pub use checkpoints::{
    CheckpointItem, CheckpointReport, CheckpointSettings, CosignedItem, LogCheckpoints,
};
pub use coded::Content;
pub use io::{AckId, Command, Commit, Input, IoCounters, Output, RequestId, Start, Transmit};
pub use keys::{EpochKeyStatus, KeySettings};
pub(crate) use peers::find_peer;
pub use witnesses::{WitnessCosigned, WitnessItem, WitnessSubmit};

use std::collections::{BTreeMap, VecDeque};

use parley_channels::log_limit::LogLimit;
use parley_channels::{Disposal, Via};
use parley_proto::{
    ContactCard, Endpoint, Event as ProtoEvent, Fingerprint, Identity, IntakeLimit, Keyring,
    LinkSnapshot, PqPublicKey, StationId, StoreOp,
};
use parley_store::{AdminOp, AlarmRow, ChannelRow, EpochKeyRow, LinkLeaves, LinkRecord, PeerRow};

use self::channels::ChannelTable;
use self::checkpoints::LinkLogs;
use self::keys::Keys;
use self::watch::{Watch, WatchSettings};
use crate::api::{AlarmItem, ApiError, ErrorClass, Event};
use crate::codebooks::LinkCodebooks;
use crate::error::StationError;
use crate::limits::TRANSMISSION_RECORD_WAIT_MS;

/// Once per this long, at most, a kind of refusal is logged, in milliseconds; the ones in
/// between are counted and summed up in the next line, so junk from a peer or a stranger
/// cannot flood the log.
pub const REFUSAL_LOG_INTERVAL_MS: u64 = 10_000;

/// What a station is configured as, for the core: what its card says and its health rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Station name.
    pub name: String,
    /// Working language (BCP 47).
    pub lang: String,
    /// Direct-channel listen address, advertised in the card.
    pub listen: String,
    /// A round trip slower than this makes a channel degraded, in milliseconds.
    pub degraded_rtt_ms: u64,
    /// Objectives, alarms and tests.
    pub watch: WatchSettings,
    /// Checkpoint cadence.
    pub checkpoints: CheckpointSettings,
    /// Epoch key rotation and retention.
    pub keys: KeySettings,
    /// What each peer may make this station store (`[intake]`).
    pub intake: IntakeLimit,
}

/// Everything a station core is built from: what the store holds, read by the caller.
pub struct Loaded {
    /// This station's identity.
    pub identity: Identity,
    /// Its configuration.
    pub settings: Settings,
    /// When the station was created, UTC ms (in its card).
    pub created_ms: u64,
    /// The epoch key pairs, the current one first.
    pub epochs: Vec<EpochKeyRow>,
    /// Every paired peer with its link's snapshot.
    pub peers: Vec<(PeerRow, LinkSnapshot)>,
    /// Every relay and courier channel.
    pub channels: Vec<ChannelRow>,
    /// Every link's record, for the watch.
    pub records: Vec<(StationId, LinkRecord)>,
    /// Every link's Merkle leaves, both logs, for checkpoints.
    pub leaves: Vec<(StationId, LinkLeaves)>,
    /// The alarms not cleared.
    pub alarms: Vec<AlarmRow>,
    /// The highest alarm id ever used.
    pub alarm_id_max: u64,
    /// The latest time the store holds, UTC ms: what the station did after it was lost, or
    /// never done, when it stopped.
    pub stored_until_ms: u64,
    /// When the daemon last stopped cleanly, every duty due until then done and committed
    /// (`None` after a crash, or while it runs).
    pub stopped_ms: Option<u64>,
    /// Seed of the endpoint's generator: from the OS in a station, from the run in a simulation.
    pub seed: [u8; 32],
}

/// Whether a daemon drives the core (and its status is live).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The daemon: channels run.
    Daemon,
    /// A CLI command on a stopped station: no channel runs.
    Offline,
}

/// A deliberately broken variant of the core, for proving that the simulator's checks can
/// fail. Never set outside tests of the checker.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer operator commands as soon as they are handled, before their commit.
    AnswerBeforeCommit,
    /// Erase superseded epoch keys once their retention has passed, whether or not a peer
    /// may still seal to them.
    EraseKeysEarly,
    /// Erase a superseded epoch key once any one peer has read a newer one, though another
    /// peer may still seal to it.
    EraseKeysForOnePeer,
}

/// A paired peer as the core knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Name from its card.
    pub name: String,
    /// Its fingerprint, as its pinned card gives it.
    pub fingerprint: Fingerprint,
    /// Its ML-DSA-44 key, if its pinned card is version 2: its checkpoints must carry a
    /// signature by it.
    pub pq_key: Option<PqPublicKey>,
    /// Direct-channel address, if any.
    pub address: Option<String>,
}

impl Peer {
    /// The peer pinned by `card`.
    fn of(card: &ContactCard, address: Option<String>) -> Self {
        Self {
            name: card.name.clone(),
            fingerprint: card.fingerprint(),
            pq_key: card.pq_key.clone(),
            address,
        }
    }
}

/// Outputs, admin ops and alarms waiting for a commit, and records that may wait for one.
#[derive(Default)]
struct Pending {
    admin: Vec<AdminOp>,
    ops: Vec<StoreOp>,
    outputs: Vec<Output>,
    /// Records of a frame's first transmission on a kind of channel
    /// ([`StoreOp::MarkTransmitted`]): they go with the next commit, or on their own
    /// [`TRANSMISSION_RECORD_WAIT_MS`] after the first of them waited. None needs a commit at
    /// once: the frame has left, and a crash that loses its record only sends it again. Each
    /// once took a commit of its own right after the frame left, whose sync met the peer's
    /// commit of that frame on the disk.
    records: Vec<StoreOp>,
    /// When the first record waiting was made.
    records_since_ms: Option<u64>,
}

impl Pending {
    /// Nothing waits that needs a commit now (records may).
    fn is_empty(&self) -> bool {
        self.admin.is_empty() && self.ops.is_empty() && self.outputs.is_empty()
    }

    fn has_writes(&self) -> bool {
        !self.admin.is_empty() || !self.ops.is_empty()
    }

    /// Takes `writes`, the records among them to wait.
    fn take(&mut self, now_ms: u64, writes: Vec<StoreOp>) {
        for op in writes {
            if matches!(op, StoreOp::MarkTransmitted { .. }) {
                self.records_since_ms.get_or_insert(now_ms);
                self.records.push(op);
            } else {
                self.ops.push(op);
            }
        }
    }

    /// When the records waiting must be committed on their own.
    fn records_due_ms(&self) -> Option<u64> {
        (self.records_since_ms).map(|since_ms| since_ms.saturating_add(TRANSMISSION_RECORD_WAIT_MS))
    }

    /// The records waiting join the writes to commit.
    fn release_records(&mut self) {
        self.ops.append(&mut self.records);
        self.records_since_ms = None;
    }
}

/// A commit under way: what it releases when it is durable.
struct InFlight {
    outputs: Vec<Output>,
}

/// The refusal counter a frame refused unread for its size goes under, as the protocol's own.
const OVERSIZED: &str = "oversized";

/// The station core.
pub struct Station {
    mode: Mode,
    identity: Identity,
    settings: Settings,
    created_ms: u64,
    started_ms: u64,
    endpoint: Endpoint,
    peers: BTreeMap<StationId, Peer>,
    table: ChannelTable,
    pending: Pending,
    in_flight: Option<InFlight>,
    ready: VecDeque<Output>,
    transmits: VecDeque<Transmit>,
    watch: Watch,
    /// Each link's codebooks.
    codebooks: BTreeMap<StationId, LinkCodebooks>,
    /// Each link's logs as checkpoints see them.
    logs: BTreeMap<StationId, LinkLogs>,
    /// The epoch keys and what each link has read of them.
    keys: Keys,
    /// Frames refused by a transport before any parsing (oversized), by reason.
    transport_refusals: BTreeMap<&'static str, u64>,
    cards_rejected: u64,
    io: IoCounters,
    refusal_log: LogLimit<&'static str>,
    failed: Option<String>,
    fault: Option<Fault>,
}

impl Station {
    /// Builds the core from what the store holds, at `now_ms`. Every transport it needs is
    /// released at once as an [`Output::Start`].
    pub fn new(now_ms: u64, loaded: Loaded, mode: Mode) -> Result<Self, StationError> {
        let Loaded {
            identity,
            settings,
            created_ms,
            epochs,
            peers,
            channels,
            records,
            leaves,
            alarms,
            alarm_id_max,
            stored_until_ms,
            stopped_ms,
            seed,
        } = loaded;
        let watch = Watch::new(
            settings.watch.clone(),
            alarms,
            alarm_id_max,
            mode == Mode::Daemon,
        )
        .stored_until(stored_until_ms)
        .stopped_at(stopped_ms);
        let keys = Keys::new(settings.keys, &epochs);
        let mut epochs = epochs.into_iter().map(|row| row.key);
        let current = epochs.next().expect("Keys::new checked the current key");
        let keyring = Keyring::with_retained(current, epochs.collect());
        let mut endpoint = Endpoint::new(identity.clone(), keyring, seed);
        let mut known = BTreeMap::new();
        for (row, snapshot) in peers {
            endpoint.load_link(row.id, snapshot).map_err(|e| {
                // The link was stored after it decoded: the store changed under it.
                let detail = format!("peer {}'s link: {e}", row.name);
                StationError::Store(parley_store::StoreError::Corrupt(detail))
            })?;
            let link = endpoint.link_mut(&row.id).expect("loaded above");
            link.set_intake_limit(settings.intake);
            known.insert(row.id, Peer::of(&row.card, row.address));
        }
        let mut station = Self {
            mode,
            identity,
            settings,
            created_ms,
            started_ms: now_ms,
            endpoint,
            peers: known,
            table: ChannelTable::default(),
            pending: Pending::default(),
            in_flight: None,
            ready: VecDeque::new(),
            transmits: VecDeque::new(),
            watch,
            codebooks: BTreeMap::new(),
            logs: BTreeMap::new(),
            keys,
            transport_refusals: BTreeMap::new(),
            cards_rejected: 0,
            io: IoCounters::default(),
            refusal_log: LogLimit::new(REFUSAL_LOG_INTERVAL_MS),
            failed: None,
            fault: None,
        };
        let peers: Vec<StationId> = station.peers.keys().copied().collect();
        for peer in peers {
            let start = station.add_direct(now_ms, peer);
            station.ready.push_back(Output::Start(start));
        }
        for row in channels {
            if let Some(start) = station.add_stored(now_ms, &row) {
                station.ready.push_back(Output::Start(start));
            }
        }
        let own = station.identity.id();
        let mut leaves: BTreeMap<StationId, LinkLeaves> = leaves.into_iter().collect();
        let mut logs = Vec::new();
        for (peer, record) in records {
            if let Some(link) = station.endpoint.link_mut(&peer) {
                intake::charge_recent(link, &record, &peer, now_ms);
            }
            let entries = record.entries.iter().map(|kept| &kept.entry);
            station
                .codebooks
                .insert(peer, LinkCodebooks::of(entries, &peer));
            let in_head = station.endpoint.link(&peer).map_or(0, |l| l.in_head());
            station.keys.load_link(
                peer,
                &record.own_key_announcements,
                &record.entries,
                in_head,
            );
            let link_leaves = leaves.remove(&peer).unwrap_or_default();
            logs.push((
                peer,
                LinkLogs::load(&own, (link_leaves, in_head), &record.entries, now_ms),
            ));
            station.watch.load(now_ms, peer, own, record);
            if let Some(link) = station.endpoint.link(&peer) {
                let first_missing = (in_head + 1..).find(|seq| !link.holds_peer_entry(*seq));
                let first_missing = first_missing.expect("the peer's entries held are bounded");
                station.watch.unopened_before(peer, first_missing);
            }
        }
        station.load_checkpoints(now_ms, logs);
        station.intake_after_restart(now_ms);
        station.keys.recheck_at(now_ms);
        station.collect(now_ms);
        Ok(station)
    }

    /// Breaks the core on purpose (see [`Fault`]).
    #[doc(hidden)]
    pub fn inject_fault(&mut self, fault: Fault) {
        self.fault = Some(fault);
    }

    /// This station's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// This station's configuration.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The protocol endpoint (read only).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Paired peers.
    pub fn peers(&self) -> &BTreeMap<StationId, Peer> {
        &self.peers
    }

    /// This station's contact card: its fields and signed bytes. Deterministic for a given
    /// key set and configuration.
    pub fn card(&self) -> (ContactCard, Vec<u8>) {
        let epoch = self.endpoint.keyring().current();
        let listen = &self.settings.listen;
        let card = ContactCard {
            name: self.settings.name.clone(),
            identity: self.identity.id(),
            epoch_key_id: epoch.id(),
            epoch_public: epoch.public_bytes().to_vec(),
            addresses: vec![format!(
                "quic://{}",
                listen.strip_prefix("quic://").unwrap_or(listen)
            )],
            lang: self.settings.lang.clone(),
            created_ms: self.created_ms,
            pq_key: Some(self.identity.pq().public().clone()),
        };
        let bytes = card.sign(&self.identity);
        (card, bytes)
    }

    fn peer_name(&self, peer: &StationId) -> String {
        self.peers
            .get(peer)
            .map_or_else(|| peer.short(), |p| p.name.clone())
    }

    /// The API form of a stored alarm, its peer named.
    pub fn alarm_item(&self, row: AlarmRow) -> AlarmItem {
        let peer = self.peer_name(&row.peer);
        AlarmItem::new(row, peer)
    }

    /// Records what the I/O layer counted, for status.
    pub fn note_io(&mut self, io: IoCounters) {
        self.io = io;
    }

    /// Handles one input. Its effects are released after the next commit.
    pub fn handle(&mut self, now_ms: u64, input: Input) {
        self.catch_up(now_ms);
        self.apply(now_ms, input);
    }

    /// Handles inputs that came together (a turn of the daemon's loop takes what waited):
    /// the duties due run once before them, none between them, so that what came together is
    /// taken together. A message and its cancellation that come at once, past the message's
    /// deadline, withdraw it as it comes, as a restart reading the record in order does; taken
    /// one at a time, the deadline would raise its alarm in between. Effects are released
    /// after the next commit.
    pub fn handle_turn(&mut self, now_ms: u64, inputs: impl IntoIterator<Item = Input>) {
        self.catch_up(now_ms);
        for input in inputs {
            self.apply(now_ms, input);
        }
    }

    fn apply(&mut self, now_ms: u64, input: Input) {
        match input {
            Input::Command { id, command } => {
                let result = self
                    .execute(now_ms, command)
                    .map_err(|error| ApiError::from(&error));
                self.collect(now_ms);
                let reply = Output::Reply { id, result };
                match self.fault {
                    Some(Fault::AnswerBeforeCommit) => self.ready.push_back(reply),
                    _ => self.pending.outputs.push(reply),
                }
            }
            Input::Frame { via, bytes } => {
                let _ = self.receive(now_ms, Some(via), &bytes);
            }
            Input::Batch { via, frames, ack } => {
                self.preverify(frames.iter().map(Vec::as_slice));
                for bytes in &frames {
                    let _ = self.receive(now_ms, Some(via), bytes);
                }
                self.pending.outputs.push(Output::Ack {
                    ack,
                    result: Ok(Disposal::Delete),
                });
            }
            Input::Bundle {
                via,
                name,
                bytes,
                ack,
            } => {
                let result = self
                    .import(now_ms, &bytes, false, Some(via))
                    .map(|imported| match imported.refused_for_now {
                        0 => Disposal::Delete,
                        _ => Disposal::ReadAgainLater,
                    })
                    .map_err(|error| error.to_string());
                if let Err(why) = &result {
                    self.file_refused(via, &name, why);
                }
                self.pending.outputs.push(Output::Ack { ack, result });
            }
            Input::Health { via, signal } => self.health(now_ms, via, &signal),
            Input::Stored {
                via,
                peer,
                envelopes,
                receipts,
            } => {
                if let Some(channel) = self.table.find_mut(&peer, via) {
                    channel.counters.envelopes_stored_at_relay += envelopes;
                    channel.counters.receipts_stored_at_relay += receipts;
                }
                self.deposit_outcome(now_ms, via, peer, None);
            }
            Input::DepositRefused { via, peer, reason } => {
                self.deposit_outcome(now_ms, via, peer, Some(&reason));
            }
            Input::Oversized { via } => {
                let reason = OVERSIZED;
                *self.transport_refusals.entry(reason).or_default() += 1;
                if let Via::Direct(peer) = via
                    && let Some(channel) = self.table.find_mut(&peer, via)
                {
                    channel.counters.rejected += 1;
                }
                self.log_refusal(now_ms, reason, &"a frame over the limit");
            }
            Input::FileRefused { via, name, reason } => self.file_refused(via, &name, &reason),
            Input::Dialled { peer } => self.ready.push_back(Output::Kick(peer)),
            Input::Witnessed {
                at,
                peer,
                size,
                answer,
                held,
            } => self.witness_answer(now_ms, (at, peer, size), answer, held),
            Input::AlarmHooked { id, rank } => {
                self.pending.admin.push(AdminOp::HookedAlarm { id, rank });
            }
        }
        self.collect(now_ms);
    }

    /// Seals again the own entries [`Output::Reseal`] asked for (`lost` as it said): `entries`
    /// holds each seq and its signed bytes from the store (none if it could not read them).
    pub fn reseal(
        &mut self,
        now_ms: u64,
        peer: &StationId,
        entries: &[(u64, Vec<u8>)],
        lost: bool,
    ) {
        if lost {
            self.endpoint.reseal(now_ms, peer, entries);
        } else {
            self.endpoint.rekey(now_ms, peer, entries);
        }
        self.collect(now_ms);
    }

    /// Moves what the endpoint wrote and raised into the pending batch.
    fn collect(&mut self, now_ms: u64) {
        // The watch may ask for entries, whose writes it hears of in turn: machine answers and
        // overdue evidence write nothing that asks for more, so this ends.
        // Checkpoints append at once (a checkpoint the cadence asks for, a cosignature): their
        // writes are taken on the next round. Neither asks for more.
        loop {
            let writes = self.endpoint.take_writes();
            let wrote = !writes.is_empty();
            self.watch_writes(now_ms, &writes);
            self.checkpoint_writes(now_ms, &writes);
            self.key_writes(&writes);
            self.pending.take(now_ms, writes);
            let appends = self.watch_effects();
            if appends.is_empty() && !wrote {
                break;
            }
            for append in appends {
                self.append_for_watch(now_ms, append);
            }
        }
        // An alarm the events raise is taken by another round (it asks for nothing more).
        let mut raised = false;
        while let Some(event) = self.endpoint.poll_event() {
            let event = match event {
                ProtoEvent::Delivered { peer, upto } => Event::Delivered {
                    peer: self.peer_name(&peer),
                    upto,
                },
                ProtoEvent::Receipted { peer, upto, newly } => Event::Receipted {
                    peer: self.peer_name(&peer),
                    upto,
                    newly: newly as u64,
                },
                ProtoEvent::Lost { peer, seqs } => {
                    let (first, last) = (seqs[0], seqs[seqs.len() - 1]);
                    tracing::warn!(peer = %self.peer_name(&peer), count = seqs.len(), first, last, "the peer no longer holds own entries it receipted (its store was put back to an older copy?): sending them again");
                    let lost = true;
                    self.pending
                        .outputs
                        .push(Output::Reseal { peer, seqs, lost });
                    continue;
                }
                ProtoEvent::Rekey { peer, seqs } => {
                    tracing::info!(peer = %self.peer_name(&peer), count = seqs.len(), "the peer announced a new epoch key: outstanding entries sealed to the one before are sealed again to it");
                    let lost = false;
                    self.pending
                        .outputs
                        .push(Output::Reseal { peer, seqs, lost });
                    continue;
                }
                ProtoEvent::Behind {
                    peer,
                    peer_holds,
                    written,
                } => {
                    let name = self.peer_name(&peer);
                    tracing::error!(peer = %name, peer_holds, written, "the peer holds own entries this store lacks: nothing more is written to it");
                    let detail = format!(
                        "{name:?} signed a receipt of this station's log up to seq {peer_holds}, \
                         but this store ends at seq {written}: the store was put back to an older \
                         copy, or the identity key is in other hands. Nothing more is written to \
                         {name:?}, so that the log does not fork; see `parley run` in docs/cli.md"
                    );
                    let subject = format!("own seq {}", written + 1);
                    self.watch.misbehaviour(
                        now_ms,
                        peer,
                        parley_store::AlarmKind::SplitView,
                        subject,
                        detail,
                    );
                    raised = true;
                    continue;
                }
                ProtoEvent::Forked { peer, seq } => {
                    let name = self.peer_name(&peer);
                    tracing::error!(peer = %name, seq, "the peer holds another own entry at a seq this store wrote: nothing more is written to it");
                    let detail = format!(
                        "{name:?} signed a receipt naming another entry of this station's log at \
                         seq {seq} than this store holds: the store was put back to an older \
                         copy and wrote entries since, forking its log (or the receipt is false, \
                         or the identity key is in other hands; the receipt is kept as \
                         `bad_receipt` evidence). Nothing more is written to {name:?}; see \
                         `parley run` in docs/cli.md"
                    );
                    self.watch.misbehaviour(
                        now_ms,
                        peer,
                        parley_store::AlarmKind::SplitView,
                        format!("own seq {seq}"),
                        detail,
                    );
                    raised = true;
                    continue;
                }
                ProtoEvent::Alarm { peer, kind, seq } => {
                    // The evidence op, when stored, is announced with its detail at commit.
                    tracing::error!(peer = %self.peer_name(&peer), kind = kind.name(), seq, at_ms = now_ms, "ALARM: evidence of misbehaviour");
                    continue;
                }
            };
            self.pending.outputs.push(Output::Event(event));
        }
        if raised {
            self.collect(now_ms);
        }
    }

    /// The durable changes made since the last commit, or `None` while a commit is under way
    /// or there is nothing to release. Commit them, then call [`Station::commit_done`].
    pub fn poll_commit(&mut self) -> Option<Commit> {
        if self.in_flight.is_some() || self.pending.is_empty() || self.failed.is_some() {
            return None;
        }
        // The records waiting go too, when the batch writes anyway (a batch of outputs alone
        // is released without a transaction).
        if self.pending.has_writes() {
            self.pending.release_records();
        }
        let admin = std::mem::take(&mut self.pending.admin);
        let ops = std::mem::take(&mut self.pending.ops);
        let mut outputs = std::mem::take(&mut self.pending.outputs);
        for op in &ops {
            if let StoreOp::StorePeerEntry {
                peer,
                entry,
                received_ms,
            } = op
                && let Some(exercise) = entry.entry().body.message_exercise()
            {
                outputs.push(Output::Event(Event::MessageStored {
                    peer: self.peer_name(peer),
                    seq: entry.entry().seq,
                    id: entry.id(),
                    precedence: entry.entry().precedence,
                    exercise,
                    at_ms: *received_ms,
                }));
            }
        }
        self.in_flight = Some(InFlight { outputs });
        Some(Commit { admin, ops })
    }

    /// Reports how the commit from [`Station::poll_commit`] went. On success its outputs are
    /// released; on failure every answer waiting on it says the store failed, nothing else is
    /// released (no acknowledgement: transports keep what they hold), and the core refuses to
    /// go on (the station must stop: what it holds in memory is ahead of its disk).
    pub fn commit_done(&mut self, result: Result<(), String>) {
        let in_flight = self
            .in_flight
            .take()
            .expect("commit_done follows poll_commit");
        match result {
            Ok(()) => self.ready.extend(in_flight.outputs),
            Err(why) => {
                // Answers say the store failed. Acknowledgements are withheld: a transport that
                // hears nothing keeps what it holds (a relay's items, a folder's bundle) for the
                // next run; an event or a start would report what did not happen.
                for output in in_flight.outputs {
                    if let Output::Reply { id, .. } = output {
                        let failed = format!(
                            "the store failed, nothing of this was stored, and the station stops: {why}"
                        );
                        self.ready.push_back(Output::Reply {
                            id,
                            result: Err(ApiError::new(ErrorClass::Local, failed)),
                        });
                    }
                }
                self.failed = Some(why);
            }
        }
    }

    /// Writes handled but not yet taken by [`Station::poll_commit`], but for the records of
    /// first transmissions waiting ([`Station::waiting_records`]).
    pub fn uncommitted_writes(&self) -> usize {
        self.pending.admin.len() + self.pending.ops.len()
    }

    /// Records of first transmissions waiting for a commit to go with (at most
    /// [`TRANSMISSION_RECORD_WAIT_MS`]).
    pub fn waiting_records(&self) -> usize {
        self.pending.records.len()
    }

    /// Makes the records of first transmissions waiting part of the next commit (a clean
    /// stop commits them, as anything handled).
    pub fn release_records(&mut self) {
        self.pending.release_records();
    }

    /// Why the core stopped, if a commit failed.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// The next released output.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.ready.pop_front()
    }

    /// The next frame to put on a transport, running the protocol's timers when nothing is
    /// queued. `None` while anything is uncommitted: nothing leaves before the state it
    /// reports is on disk. (A frame's first transmission is recorded after it left; losing
    /// that record to a crash only resends the frame.)
    pub fn poll_transmit(&mut self, now_ms: u64) -> Option<Transmit> {
        if self.transmits.is_empty() {
            if self.in_flight.is_some() || self.pending.has_writes() || self.failed.is_some() {
                return None;
            }
            self.endpoint.handle_timeout(now_ms);
            while let Some((peer, transmit)) = self.endpoint.poll_transmit() {
                let Some(channel) = self.table.get(transmit.channel) else {
                    continue;
                };
                self.transmits.push_back(Transmit {
                    via: channel.via,
                    peer,
                    frame: transmit.frame,
                    channel: transmit.channel,
                });
            }
            self.collect(now_ms);
        }
        self.transmits.pop_front()
    }

    /// Counts a frame from [`Station::poll_transmit`] on its channel: handed to the transport,
    /// or not (its queue was full; the protocol resends it).
    pub fn transmitted(&mut self, transmit: &Transmit, handed_over: bool) {
        let Some(channel) = self.table.get_mut(transmit.channel) else {
            return;
        };
        let counters = &mut channel.counters;
        match (handed_over, transmit.frame.first()) {
            (false, _) => counters.queue_full += 1,
            (true, Some(&parley_proto::frame::TAG_ENVELOPE)) => counters.envelopes_sent += 1,
            (true, _) => counters.receipts_sent += 1,
        }
    }

    /// When the core next needs to run, UTC ms: now if anything waits to be committed or
    /// released, else the protocol's next timer.
    pub fn poll_timeout(&self) -> Option<u64> {
        if !self.pending.is_empty() || !self.ready.is_empty() {
            return Some(0);
        }
        [
            self.endpoint.poll_timeout(),
            self.watch.next_due_ms(),
            self.next_checkpoint_ms(),
            self.next_witness_ms(),
            self.next_key_ms(),
            self.next_intake_ms(),
            self.pending.records_due_ms(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
