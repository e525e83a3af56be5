//! The per-peer link state machine, split the way quinn splits its `connection/`: this facade
//! holds the state the parts share and the public API; [`outgoing`] is the own log and outbox
//! (sealing, retransmission per channel, the peer's receipts), [`incoming`] the peer's log
//! (dedupe before decryption, the reorder window, in-order delivery, equivocation and fork
//! evidence), [`timers`] the table of every deadline by kind, [`channels`] the paths it sends on.
//!
//! Driven like quinn-proto: `send_message`/`handle_envelope`/`handle_receipt`/`handle_timeout`
//! take `now_ms`; the driver then takes [`StoreOp`]s with [`Link::take_writes`], commits them,
//! and only then pulls [`Transmit`]s with [`Link::poll_transmit`] and the next deadline with
//! [`Link::poll_timeout`]. `now_ms` is UTC milliseconds from a clock that never goes backwards.

mod again;
mod channels;
mod incoming;
mod intake;
mod outgoing;
mod timers;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand_chacha::ChaCha20Rng;

pub use self::again::Recovered;
use self::channels::Channels;
pub use self::channels::{ChannelId, ChannelKind};
pub(crate) use self::incoming::BatchChecked;
use self::incoming::{Arrival, Incoming};
pub use self::intake::IntakeLimit;
pub use self::outgoing::Closed;
use self::outgoing::Outgoing;
use self::timers::{TimerKind, Timers};
use crate::entry::{Body, Precedence, SignedEntry};
use crate::envelope::{Envelope, VerifiedEnvelope};
use crate::error::{Rejection, SendError};
use crate::evidence::EvidenceKind;
use crate::frame::{Frame, TAG_RECEIPT};
use crate::id::{EntryId, EpochKeyId, Identity, LinkId, StationId};
use crate::limits::{
    EVIDENCE_PER_LINK_MAX, LANG_SIZE_MAX_BYTES, RECEIPT_EXTRA_MAX, REORDER_WINDOW_MAX_ENTRIES,
    TEXT_SIZE_MAX_BYTES,
};
use crate::receipt::{Receipt, VerifiedReceipt};
use crate::seal::Keyring;
use crate::store_op::{LinkSnapshot, StoreOp};

/// Bytes to put on one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Which channel.
    pub channel: ChannelId,
    /// The frame.
    pub frame: Arc<[u8]>,
}

/// Something the operators or the log should hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Peer entries up to `upto` are now delivered in order.
    Delivered {
        /// The peer.
        peer: StationId,
        /// New contiguous head.
        upto: u64,
    },
    /// The peer receipted own entries up to `upto` (and perhaps others).
    Receipted {
        /// The peer.
        peer: StationId,
        /// Cumulative bound.
        upto: u64,
        /// How many entries this receipt newly covered.
        newly: usize,
    },
    /// A receipt signed after the one kept lacks own entries an earlier one covered: the
    /// peer lost them (its store put back to an older copy). Read them from the store and hand
    /// them to [`Link::reseal`].
    Lost {
        /// The peer.
        peer: StationId,
        /// The seqs of the own entries to seal again, ascending.
        seqs: Vec<u64>,
    },
    /// The peer announced a new epoch key while own entries sealed to the one before were
    /// outstanding: they are sealed again to the new key (the peer may have lost the old one
    /// with its store, and would never open them). Read them from the store and hand them to
    /// [`Link::rekey`], always (with none when the store could not read them): no other round
    /// is asked until this one is answered, and the next is asked by the answer.
    Rekey {
        /// The peer.
        peer: StationId,
        /// The seqs of the own entries to seal again, ascending.
        seqs: Vec<u64>,
    },
    /// The peer signed a receipt of own entries beyond the own log: this store lacks entries
    /// this station wrote (put back to an older copy, or the key is in other hands). Nothing
    /// more is appended to this link's log, which would fork it.
    Behind {
        /// The peer.
        peer: StationId,
        /// The highest own seq its receipt covers.
        peer_holds: u64,
        /// The own log's last seq here.
        written: u64,
    },
    /// The peer signed a receipt naming another entry at an own seq than this store holds:
    /// the store was put back to an older copy and wrote entries since (or the receipt is
    /// false). Nothing more is appended to this link's log.
    Forked {
        /// The peer.
        peer: StationId,
        /// The own seq the receipt names another entry at.
        seq: u64,
    },
    /// Evidence of misbehaviour was recorded.
    Alarm {
        /// The peer implicated.
        peer: StationId,
        /// What the evidence proves.
        kind: EvidenceKind,
        /// The seq concerned.
        seq: u64,
    },
}

/// Counters of one link, since the link was loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Envelopes accepted (new entries stored).
    pub envelopes_accepted: u64,
    /// Envelopes dropped as duplicates of held entries.
    pub duplicates_dropped: u64,
    /// Receipts accepted.
    pub receipts_accepted: u64,
    /// Frames transmitted (envelopes and receipts, all channels).
    pub frames_transmitted: u64,
    /// Envelope retransmissions (second and later sends on a channel).
    pub retransmissions: u64,
    /// Own entries sealed and sent again because the peer lost them.
    pub entries_resent: u64,
    /// Rejections by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Alarms raised (equivocation, fork, inconsistent receipt).
    pub alarms: u64,
}

/// What a call owes the driver: durable changes, events and counts. The parts of the link
/// record into it; the facade hands it out.
struct Effects {
    peer: StationId,
    writes: Vec<StoreOp>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    counters: LinkCounters,
    evidence_count: u64,
}

impl Effects {
    /// Raises an alarm and, below [`EVIDENCE_PER_LINK_MAX`] records, stores the evidence.
    fn evidence(
        &mut self,
        now_ms: u64,
        kind: EvidenceKind,
        seq: u64,
        detail: String,
        bytes: &[u8],
    ) {
        self.counters.alarms += 1;
        self.events.push_back(Event::Alarm {
            peer: self.peer,
            kind,
            seq,
        });
        if self.evidence_count < EVIDENCE_PER_LINK_MAX {
            self.evidence_count += 1;
            self.writes.push(StoreOp::Evidence {
                peer: self.peer,
                kind,
                seq,
                detail,
                bytes: bytes.to_vec(),
                time_ms: now_ms,
            });
        }
    }

    fn transmit(&mut self, channel: ChannelId, frame: Arc<[u8]>) {
        self.counters.frames_transmitted += 1;
        self.transmits.push_back(Transmit { channel, frame });
    }
}

/// How an envelope the link accepted was handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A new entry, stored.
    New,
    /// Already held: dropped before decryption.
    Duplicate,
}

/// The state machine of one link (this station and one peer).
pub struct Link {
    me: Identity,
    peer: StationId,
    link_id: LinkId,
    channels: Channels,
    outgoing: Outgoing,
    incoming: Incoming,
    timers: Timers,
    fx: Effects,
    /// The last receipt signed and what it covers (`upto`, `extra`): sent again as it is
    /// while nothing more is held, so that answering a duplicate costs no signature here
    /// and, the bytes being the same, no check at the peer.
    last_receipt: Option<(u64, Vec<u64>, Arc<[u8]>)>,
}

/// Asserts what any snapshot the store produces holds; a snapshot that breaks it is a bug in
/// the store or a corrupt disk the store failed to notice, never something to run on.
fn assert_snapshot(snapshot: &LinkSnapshot) {
    let written = snapshot.out_ids.len() as u64;
    assert!(
        snapshot.peer_receipt_upto <= written,
        "snapshot: receipt bound {} beyond the own log ({written})",
        snapshot.peer_receipt_upto
    );
    let mut last = snapshot.peer_receipt_upto;
    for item in &snapshot.outbox {
        assert!(
            item.seq > last && item.seq <= written,
            "snapshot: outbox seq {} out of order, receipted or never written",
            item.seq
        );
        assert_eq!(
            item.entry_id,
            snapshot.out_ids[(item.seq - 1) as usize],
            "snapshot: outbox seq {} is not the own entry of that seq",
            item.seq
        );
        last = item.seq;
    }
    let head = snapshot.in_ids.len() as u64;
    let mut last = head;
    for item in &snapshot.in_pending {
        assert!(
            item.seq > last && item.seq <= head + REORDER_WINDOW_MAX_ENTRIES,
            "snapshot: held peer seq {} out of order or outside the window",
            item.seq
        );
        last = item.seq;
    }
    assert!(
        snapshot.evidence_count <= EVIDENCE_PER_LINK_MAX,
        "snapshot: more evidence records than the limit"
    );
}

impl Link {
    /// Rebuilds a link from its snapshot. An empty snapshot (but for the peer's epoch key from
    /// its card) is a new pairing. Panics on a snapshot that breaks its invariants.
    pub fn new(
        me: Identity,
        peer: StationId,
        snapshot: LinkSnapshot,
    ) -> Result<Self, crate::DecodeError> {
        assert_snapshot(&snapshot);
        let LinkSnapshot {
            out_ids,
            outbox,
            peer_receipt_upto,
            peer_receipt_newest_ms,
            peer_receipt_floor_ms,
            own_log_behind,
            own_log_forked,
            in_ids,
            in_pending,
            peer_epoch_public,
            peer_epoch_seq,
            evidence_count,
        } = snapshot;
        let outgoing = Outgoing::restore(
            out_ids,
            outbox,
            (
                peer_receipt_upto,
                peer_receipt_newest_ms,
                peer_receipt_floor_ms,
                own_log_behind,
                own_log_forked,
            ),
            (peer_epoch_public, peer_epoch_seq),
        )?;
        let link_id = LinkId::between(&me.id(), &peer);
        Ok(Self {
            me,
            peer,
            link_id,
            channels: Channels::default(),
            outgoing,
            incoming: Incoming::restore(in_ids, in_pending),
            timers: Timers::default(),
            fx: Effects {
                peer,
                writes: Vec::new(),
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                counters: LinkCounters::default(),
                evidence_count,
            },
            last_receipt: None,
        })
    }

    /// The peer.
    pub fn peer(&self) -> StationId {
        self.peer
    }

    /// The link id.
    pub fn link_id(&self) -> LinkId {
        self.link_id
    }

    /// Own entries written so far (the seq of the last one).
    pub fn out_seq(&self) -> u64 {
        self.outgoing.seq()
    }

    /// Unreceipted own entries.
    pub fn outbox_depth(&self) -> usize {
        self.outgoing.depth()
    }

    /// Peer entries delivered in order (the contiguous head).
    pub fn in_head(&self) -> u64 {
        self.incoming.head()
    }

    /// The seq of own entry `id` on this link, if this station wrote it (searched from the
    /// newest).
    pub fn own_seq_of(&self, id: &EntryId) -> Option<u64> {
        self.outgoing.seq_of(id)
    }

    /// Forgets everything derived from this station's epoch key `id` (it is being erased).
    pub(crate) fn forget_epoch(&mut self, id: &EpochKeyId) {
        self.incoming.forget_key(id);
    }

    /// The id of the peer's epoch key this station seals to now.
    pub fn peer_epoch_id(&self) -> EpochKeyId {
        self.outgoing.peer_epoch_id()
    }

    /// The bytes of the peer's epoch key this station seals to now.
    pub fn peer_epoch_public(&self) -> &[u8] {
        self.outgoing.peer_epoch_public()
    }

    /// Whether the key sealed to came from an announcement in the peer's log, rather than
    /// from its pinned card.
    pub fn peer_epoch_announced(&self) -> bool {
        self.outgoing.peer_epoch_announced()
    }

    /// Whether the peer's entry `seq` is stored here: delivered, or held above the head.
    pub fn holds_peer_entry(&self, seq: u64) -> bool {
        self.incoming.holds(seq)
    }

    /// Peer entries held above the head.
    pub fn in_pending(&self) -> usize {
        self.incoming.held()
    }

    /// Bytes of the peer's entries, as sealed, its intake allowance takes at `now_ms`.
    pub fn intake_available_bytes(&self, now_ms: u64) -> u64 {
        self.incoming.intake_available_bytes(now_ms)
    }

    /// When an entry of the peer was last refused for its intake allowance, UTC ms (since
    /// the link was loaded).
    pub fn intake_refused_ms(&self) -> Option<u64> {
        self.incoming.intake_refused_ms()
    }

    /// Counts an entry of the peer as refused for its intake allowance at `at_ms` (one was,
    /// before a restart).
    pub fn note_intake_refused(&mut self, at_ms: u64) {
        self.incoming.note_intake_refused(at_ms);
    }

    /// The peer's intake limit.
    pub fn intake_limit(&self) -> IntakeLimit {
        self.incoming.intake_limit()
    }

    /// When the peer's intake allowance will hold `bytes` again, UTC ms (a time already past
    /// when it does).
    pub fn intake_holds_at_ms(&self, bytes: u64) -> u64 {
        self.incoming.intake_holds_at_ms(bytes)
    }

    /// Sets the peer's intake allowance, keeping what the peer spent of it.
    pub fn set_intake_limit(&mut self, limit: IntakeLimit) {
        self.incoming.set_intake_limit(limit);
    }

    /// Counts `bytes` of the peer's entries stored before this link was loaded (by a run
    /// before a restart) against its intake allowance, as spent at `at_ms` (entries are
    /// charged in the order they came).
    pub fn spend_intake(&mut self, at_ms: u64, bytes: u64) {
        self.incoming.spend_intake(at_ms, bytes);
    }

    /// The highest cumulative receipt from the peer.
    pub fn peer_receipt_upto(&self) -> u64 {
        self.outgoing.receipt_upto()
    }

    /// Why nothing more is appended to this link's log, if so (this store was put back to an
    /// older copy): the refusal a new entry gets.
    pub fn closed(&self) -> Option<Closed> {
        self.outgoing.closed()
    }

    /// Records evidence of the peer's misbehaviour found apart from the channels (a
    /// transcript that contradicts the entries held): an alarm event and, below the per-link
    /// limit, an evidence row holding `bytes`, as an equivocation on a channel records them.
    pub fn record_evidence(
        &mut self,
        now_ms: u64,
        (kind, seq): (EvidenceKind, u64),
        detail: String,
        bytes: &[u8],
    ) {
        self.fx.evidence(now_ms, kind, seq, detail, bytes);
    }

    /// Counters.
    pub fn counters(&self) -> &LinkCounters {
        &self.fx.counters
    }

    /// What the link would be rebuilt from if everything it wrote were committed: the same
    /// value the store's snapshot must give after those commits.
    pub fn snapshot(&self) -> LinkSnapshot {
        let mut snapshot = LinkSnapshot {
            evidence_count: self.fx.evidence_count,
            ..LinkSnapshot::default()
        };
        self.outgoing.snapshot_into(&mut snapshot);
        self.incoming.snapshot_into(&mut snapshot);
        snapshot
    }

    /// Registers a channel of this link (initially down).
    pub fn add_channel(&mut self, id: ChannelId, kind: ChannelKind) {
        self.channels.add(id, kind);
    }

    /// Marks a channel up or down. A channel coming up gets every unreceipted entry at once,
    /// and a receipt, of nothing when nothing was received: a store put back to a copy that
    /// holds nothing from the peer says so, and the peer sends again what it had receipted.
    pub fn set_channel_up(&mut self, now_ms: u64, id: ChannelId, up: bool) {
        if self.channels.set_up(id, up) != Some(true) {
            return;
        }
        self.outgoing.schedule_all(&mut self.timers, id, now_ms);
        self.incoming.want_receipt();
    }

    /// Whether any channel is up.
    pub fn any_channel_up(&self) -> bool {
        self.channels.up().next().is_some()
    }

    /// Appends an operator's message to the log, sealed and queued on every channel.
    pub fn send_message(
        &mut self,
        now_ms: u64,
        rng: &mut ChaCha20Rng,
        precedence: Precedence,
        (text, lang): (&str, &str),
        exercise: bool,
    ) -> Result<(u64, EntryId), SendError> {
        check_message_text(text, lang)?;
        let body = Body::Message {
            text: text.to_owned(),
            lang: lang.to_owned(),
            exercise,
            translations: Vec::new(),
        };
        self.append(now_ms, rng, precedence, body)
    }

    /// Appends an entry of any kind to the own log. A body the peer could not decode (a field
    /// out of its bounds) is refused.
    pub fn append(
        &mut self,
        now_ms: u64,
        rng: &mut ChaCha20Rng,
        precedence: Precedence,
        body: Body,
    ) -> Result<(u64, EntryId), SendError> {
        self.append_by(now_ms, rng, None, precedence, body)
    }

    /// Appends an entry an operator wrote, their name in the entry's header (`None`: the
    /// station wrote it on its own, or the body names the operator). A malformed name, or
    /// one on a body that names its operator itself, is refused.
    pub fn append_by(
        &mut self,
        now_ms: u64,
        rng: &mut ChaCha20Rng,
        operator: Option<String>,
        precedence: Precedence,
        body: Body,
    ) -> Result<(u64, EntryId), SendError> {
        body.check().map_err(SendError::Malformed)?;
        self.outgoing.append(
            &self.me,
            (self.link_id, self.peer),
            self.incoming.head_id(),
            now_ms,
            rng,
            (precedence, body, operator),
            &mut self.timers,
            self.channels.up(),
            &mut self.fx,
        )
    }

    /// Seals to the epoch key the peer announced in its entry `seq`, if it is later than the
    /// one in use.
    fn adopt_announced(&mut self, now_ms: u64, key: Option<(u64, Vec<u8>)>) {
        if let Some((seq, public)) = key
            && self.outgoing.adopt_peer_key(&public, seq)
        {
            self.fx.writes.push(StoreOp::PeerEpochKey {
                peer: self.peer,
                public,
            });
            self.outgoing.rekey_outstanding(now_ms, &mut self.fx);
        }
    }

    fn reject(&mut self, rejection: Rejection) -> Rejection {
        *self
            .fx
            .counters
            .rejected
            .entry(rejection.counter_name())
            .or_default() += 1;
        rejection
    }

    /// Opens an envelope of this link whose signature verified (in the endpoint's
    /// [`crate::Endpoint::preverify`]) and gathers its entry's signature into `batch`, when
    /// [`Link::handle_envelope`] would open it: the entry gathered, not to be trusted before
    /// `batch` verifies.
    pub(crate) fn preopen(
        &mut self,
        keyring: &Keyring,
        envelope: &Envelope,
        batch: &mut crate::ed25519::Batch,
    ) -> Option<SignedEntry> {
        let parties = (self.link_id, self.me.id(), self.peer);
        self.incoming.preopen(parties, keyring, envelope, batch)
    }

    /// Handles an envelope from the peer whose signature the endpoint has verified.
    pub(crate) fn handle_envelope(
        &mut self,
        now_ms: u64,
        keyring: &Keyring,
        envelope: (&VerifiedEnvelope, Option<BatchChecked>),
        raw: &[u8],
    ) -> Result<Delivery, Rejection> {
        let parties = (self.link_id, self.me.id(), self.peer);
        let outgoing = &self.outgoing;
        let arrival = self.incoming.accept(
            parties,
            now_ms,
            keyring,
            envelope,
            raw,
            |id| outgoing.wrote(id),
            &mut self.fx,
        );
        match arrival {
            Ok(Arrival::Duplicate) => Ok(Delivery::Duplicate),
            Ok(Arrival::New { key }) => {
                self.adopt_announced(now_ms, key);
                Ok(Delivery::New)
            }
            Err(rejection) => Err(self.reject(rejection)),
        }
    }

    /// Handles a receipt from the peer whose signature the endpoint has verified.
    pub(crate) fn handle_receipt(
        &mut self,
        now_ms: u64,
        receipt: VerifiedReceipt,
        raw: &[u8],
    ) -> Result<(), Rejection> {
        let r = receipt.receipt();
        if r.link != self.link_id || r.to != self.me.id() || r.from != self.peer {
            return Err(self.reject(Rejection::Misaddressed));
        }
        let result =
            self.outgoing
                .accept_receipt(&mut self.timers, now_ms, receipt, raw, &mut self.fx);
        result.map_err(|rejection| self.reject(rejection))
    }

    /// Takes the durable changes made since the last call. Commit them before transmitting.
    pub fn take_writes(&mut self, into: &mut Vec<StoreOp>) {
        into.append(&mut self.fx.writes);
    }

    /// Next event for logs and operators.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.fx.events.pop_front()
    }

    /// When [`Link::handle_timeout`] should next run, if anything is scheduled.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.incoming.receipt_due() || !self.fx.transmits.is_empty() {
            return Some(0);
        }
        self.timers.next_due()
    }

    /// Moves due retransmissions and a due receipt into the transmit queue.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        assert!(
            self.fx.writes.is_empty(),
            "writes must be committed before anything is transmitted"
        );
        if self.incoming.take_receipt_due() {
            let frame = self.signed_receipt(now_ms);
            let up: Vec<ChannelId> = self.channels.up().collect();
            for channel in up {
                self.fx.transmit(channel, frame.clone());
            }
        }
        while let Some(timer) = self.timers.pop_due(now_ms) {
            match timer {
                TimerKind::Retransmit { seq, channel } => self.retransmit(now_ms, seq, channel),
            }
        }
        // Entries still sealed to a key of the peer's before the one in use (found at a
        // restart, or left by a round the store could not read) are asked for again.
        self.outgoing.ask_rekey(now_ms, &mut self.fx);
    }

    fn retransmit(&mut self, now_ms: u64, seq: u64, channel: ChannelId) {
        let Some(state) = self.channels.get(channel) else {
            return;
        };
        let Some(due) = self
            .outgoing
            .fire(&mut self.timers, now_ms, (seq, channel), state)
        else {
            return;
        };
        if due.retransmission {
            self.fx.counters.retransmissions += 1;
        }
        if due.first_on_kind {
            self.fx.writes.push(StoreOp::MarkTransmitted {
                peer: self.peer,
                seq,
                channel: state.0,
            });
        }
        self.fx.transmit(channel, due.frame);
    }

    /// Frames of every own entry the peer has not receipted, in seq order (for a courier
    /// bundle, which carries everything outstanding regardless of channel timers).
    pub fn unreceipted_frames(&self) -> impl Iterator<Item = &Arc<[u8]>> {
        self.outgoing.unreceipted_frames()
    }

    /// A freshly signed receipt frame for everything held from the peer (of nothing, when
    /// nothing was received: a store put back to a copy that holds nothing from the peer says
    /// so).
    pub fn receipt_frame(&self, now_ms: u64) -> Arc<[u8]> {
        self.new_receipt(now_ms).1
    }

    /// A receipt of everything held now: the last one signed if it covers the same (its time
    /// then says since when this has been held), else a new one dated `now_ms`.
    fn signed_receipt(&mut self, now_ms: u64) -> Arc<[u8]> {
        let upto = self.incoming.head();
        let extra = self.incoming.held_seqs().take(RECEIPT_EXTRA_MAX);
        if let Some((last_upto, last_extra, frame)) = &self.last_receipt
            && *last_upto == upto
            && last_extra.iter().copied().eq(extra)
        {
            return frame.clone();
        }
        let (receipt, frame) = self.new_receipt(now_ms);
        self.last_receipt = Some((receipt.upto, receipt.extra, frame.clone()));
        frame
    }

    /// A receipt of everything held now, dated `now_ms`, and its frame.
    fn new_receipt(&self, now_ms: u64) -> (Receipt, Arc<[u8]>) {
        let receipt = Receipt {
            link: self.link_id,
            from: self.me.id(),
            to: self.peer,
            upto: self.incoming.head(),
            head: self.incoming.head_id(),
            extra: self.incoming.held_seqs().take(RECEIPT_EXTRA_MAX).collect(),
            time_ms: now_ms,
        };
        let frame = Frame::encode(TAG_RECEIPT, &receipt.sign(&self.me)).into();
        (receipt, frame)
    }

    /// Next frame to put on a channel. Call after [`Link::handle_timeout`].
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.fx.transmits.pop_front()
    }

    /// Whether an own entry is still unreceipted.
    pub fn is_outstanding(&self, seq: u64) -> bool {
        self.outgoing.is_outstanding(seq)
    }
}

/// Whether a message's text and language are within their bounds, with an error naming which
/// is not (the entry's own decoder would only say the body is malformed).
pub fn check_message_text(text: &str, lang: &str) -> Result<(), SendError> {
    if text.is_empty() {
        return Err(SendError::TextEmpty);
    }
    if text.len() > TEXT_SIZE_MAX_BYTES {
        return Err(SendError::TextTooLarge {
            len: text.len(),
            max: TEXT_SIZE_MAX_BYTES,
        });
    }
    if lang.len() > LANG_SIZE_MAX_BYTES {
        return Err(SendError::LangTooLarge {
            max: LANG_SIZE_MAX_BYTES,
        });
    }
    Ok(())
}
