//! The per-peer link state machine: own log and outbox, retransmission per channel, the peer's
//! log with dedupe, ordering and equivocation detection, and receipts both ways.
//!
//! Driven like quinn-proto: `send_message`/`handle_envelope`/`handle_receipt`/`handle_timeout`
//! take `now_ms`; the driver then takes [`StoreOp`]s with [`Link::take_writes`], commits them,
//! and only then pulls [`Transmit`]s with [`Link::poll_transmit`] and the next deadline with
//! [`Link::poll_timeout`]. `now_ms` is UTC milliseconds from a clock that never goes backwards.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use rand_chacha::ChaCha20Rng;

use crate::entry::{Body, Entry, Precedence, SignedEntry};
use crate::envelope::Envelope;
use crate::error::{Rejection, SendError};
use crate::frame::{Frame, TAG_ENVELOPE, TAG_RECEIPT};
use crate::id::{EntryId, Identity, LinkId, StationId};
use crate::limits::*;
use crate::receipt::Receipt;
use crate::seal::{Keyring, Opener, PeerEpochKey, SealParties, Sealer};
use crate::store_op::{LinkSnapshot, StoreOp};

/// A channel's id, assigned by the driver, unique within an endpoint.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ChannelId(pub u16);

/// What kind of path a channel is; sets its retransmission pace.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ChannelKind {
    /// QUIC between the stations: seconds.
    Direct,
    /// A neutral relay's mailbox: minutes.
    Relay,
    /// Bundle files carried by hand: days.
    Courier,
}

impl ChannelKind {
    /// First and longest retransmission interval, in milliseconds.
    pub fn retransmit_ms(self) -> (u64, u64) {
        match self {
            ChannelKind::Direct => (DIRECT_RETRANSMIT_MS_MIN, DIRECT_RETRANSMIT_MS_MAX),
            ChannelKind::Relay => (RELAY_RETRANSMIT_MS_MIN, RELAY_RETRANSMIT_MS_MAX),
            ChannelKind::Courier => (COURIER_RETRANSMIT_MS_MIN, COURIER_RETRANSMIT_MS_MAX),
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ChannelKind::Direct => "direct",
            ChannelKind::Relay => "relay",
            ChannelKind::Courier => "courier",
        }
    }
}

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
    /// Evidence of misbehaviour was recorded.
    Alarm {
        /// The peer implicated.
        peer: StationId,
        /// `equivocation`, `fork` or `bad_receipt`.
        kind: &'static str,
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
    /// Rejections by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Alarms raised (equivocation, fork, inconsistent receipt).
    pub alarms: u64,
}

struct ChannelState {
    id: ChannelId,
    kind: ChannelKind,
    up: bool,
}

struct ChannelTimer {
    channel: ChannelId,
    due_ms: u64,
    attempts: u32,
}

struct Outgoing {
    frame: Arc<[u8]>,
    transmitted: bool,
    timers: Vec<ChannelTimer>,
}

struct Pending {
    entry_id: EntryId,
    prev: EntryId,
}

/// The state machine of one link (this station and one peer).
pub struct Link {
    me: Identity,
    peer: StationId,
    link_id: LinkId,
    peer_epoch: PeerEpochKey,
    sealer: Option<Sealer>,
    opener: Opener,
    channels: Vec<ChannelState>,
    out_ids: Vec<EntryId>,
    outbox: BTreeMap<u64, Outgoing>,
    peer_receipt_upto: u64,
    timers: BTreeSet<(u64, u64, ChannelId)>,
    in_ids: Vec<EntryId>,
    in_pending: BTreeMap<u64, Pending>,
    receipt_due: bool,
    evidence_count: u64,
    writes: Vec<StoreOp>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    counters: LinkCounters,
}

impl Link {
    /// Rebuilds a link from its snapshot. An empty snapshot is a new pairing.
    pub fn new(
        me: Identity,
        peer: StationId,
        snapshot: LinkSnapshot,
    ) -> Result<Self, crate::DecodeError> {
        let peer_epoch = PeerEpochKey::from_bytes(&snapshot.peer_epoch_public)?;
        let link_id = LinkId::between(&me.id(), &peer);
        let outbox = snapshot
            .outbox
            .into_iter()
            .map(|item| {
                let outgoing = Outgoing {
                    frame: item.frame.into(),
                    transmitted: item.transmitted,
                    timers: Vec::new(),
                };
                (item.seq, outgoing)
            })
            .collect();
        let in_pending = snapshot
            .in_pending
            .into_iter()
            .map(|p| {
                let pending = Pending {
                    entry_id: p.entry_id,
                    prev: p.prev,
                };
                (p.seq, pending)
            })
            .collect();
        Ok(Self {
            me,
            peer,
            link_id,
            peer_epoch,
            sealer: None,
            opener: Opener::default(),
            channels: Vec::new(),
            out_ids: snapshot.out_ids,
            outbox,
            peer_receipt_upto: snapshot.peer_receipt_upto,
            timers: BTreeSet::new(),
            in_ids: snapshot.in_ids,
            in_pending,
            receipt_due: false,
            evidence_count: snapshot.evidence_count,
            writes: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: LinkCounters::default(),
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
        self.out_ids.len() as u64
    }

    /// Unreceipted own entries.
    pub fn outbox_depth(&self) -> usize {
        self.outbox.len()
    }

    /// Peer entries delivered in order (the contiguous head).
    pub fn in_head(&self) -> u64 {
        self.in_ids.len() as u64
    }

    /// Peer entries held above the head.
    pub fn in_pending(&self) -> usize {
        self.in_pending.len()
    }

    /// The highest cumulative receipt from the peer.
    pub fn peer_receipt_upto(&self) -> u64 {
        self.peer_receipt_upto
    }

    /// Counters.
    pub fn counters(&self) -> &LinkCounters {
        &self.counters
    }

    /// Registers a channel of this link (initially down).
    pub fn add_channel(&mut self, id: ChannelId, kind: ChannelKind) {
        assert!(
            self.channels.iter().all(|c| c.id != id),
            "channel ids are unique"
        );
        self.channels.push(ChannelState {
            id,
            kind,
            up: false,
        });
    }

    /// Marks a channel up or down. A channel coming up gets every unreceipted entry at once.
    pub fn set_channel_up(&mut self, now_ms: u64, id: ChannelId, up: bool) {
        let Some(channel) = self.channels.iter_mut().find(|c| c.id == id) else {
            return;
        };
        let was_up = channel.up;
        channel.up = up;
        if up && !was_up {
            let seqs: Vec<u64> = self.outbox.keys().copied().collect();
            for seq in seqs {
                self.schedule(seq, id, now_ms, 0);
            }
            if self.in_head() > 0 || !self.in_pending.is_empty() {
                self.receipt_due = true;
            }
        }
    }

    /// Whether any channel is up.
    pub fn any_channel_up(&self) -> bool {
        self.channels.iter().any(|c| c.up)
    }

    fn schedule(&mut self, seq: u64, channel: ChannelId, due_ms: u64, attempts: u32) {
        let Some(outgoing) = self.outbox.get_mut(&seq) else {
            return;
        };
        match outgoing.timers.iter_mut().find(|t| t.channel == channel) {
            Some(timer) => {
                self.timers.remove(&(timer.due_ms, seq, channel));
                timer.due_ms = due_ms;
                timer.attempts = attempts;
            }
            None => outgoing.timers.push(ChannelTimer {
                channel,
                due_ms,
                attempts,
            }),
        }
        self.timers.insert((due_ms, seq, channel));
    }

    /// Appends an operator's message to the log, sealed and queued on every channel.
    pub fn send_message(
        &mut self,
        now_ms: u64,
        rng: &mut ChaCha20Rng,
        precedence: Precedence,
        text: &str,
        lang: &str,
    ) -> Result<(u64, EntryId), SendError> {
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
        let body = Body::Message {
            text: text.to_owned(),
            lang: lang.to_owned(),
        };
        self.append(now_ms, rng, precedence, body)
    }

    /// Appends an entry of any kind to the own log.
    pub fn append(
        &mut self,
        now_ms: u64,
        rng: &mut ChaCha20Rng,
        precedence: Precedence,
        body: Body,
    ) -> Result<(u64, EntryId), SendError> {
        if self.outbox.len() >= OUTBOX_DEPTH_MAX {
            return Err(SendError::OutboxFull {
                depth: self.outbox.len(),
            });
        }
        let seq = self.out_seq() + 1;
        let entry = Entry {
            link: self.link_id,
            author: self.me.id(),
            seq,
            prev: self.out_ids.last().copied().unwrap_or(EntryId::NONE),
            seen: self.in_ids.last().copied().unwrap_or(EntryId::NONE),
            time_ms: now_ms,
            precedence,
            body,
        }
        .sign(&self.me);
        let id = entry.id();
        let parties = SealParties {
            link: self.link_id,
            from: self.me.id(),
            to: self.peer,
        };
        let sealed = Sealer::seal(
            &mut self.sealer,
            rng,
            now_ms,
            &parties,
            &self.peer_epoch,
            seq,
            &id,
            entry.bytes(),
        );
        let envelope = Envelope::sign(&self.me, self.link_id, self.peer, seq, id, sealed);
        let frame = Frame::encode(TAG_ENVELOPE, &envelope);
        self.out_ids.push(id);
        self.outbox.insert(
            seq,
            Outgoing {
                frame: frame.clone().into(),
                transmitted: false,
                timers: Vec::new(),
            },
        );
        let up: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|c| c.up)
            .map(|c| c.id)
            .collect();
        for channel in up {
            self.schedule(seq, channel, now_ms, 0);
        }
        self.writes.push(StoreOp::AppendOwn {
            peer: self.peer,
            entry,
            frame,
        });
        Ok((seq, id))
    }

    fn reject(&mut self, rejection: Rejection) -> Rejection {
        *self
            .counters
            .rejected
            .entry(rejection.counter_name())
            .or_default() += 1;
        rejection
    }

    fn evidence(
        &mut self,
        now_ms: u64,
        kind: &'static str,
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

    /// The id held for a peer seq, if any.
    fn held_peer_id(&self, seq: u64) -> Option<EntryId> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.in_ids
            .get(index)
            .copied()
            .or_else(|| self.in_pending.get(&seq).map(|p| p.entry_id))
    }

    /// Handles an envelope from the peer whose signature the endpoint has verified.
    pub fn handle_envelope(
        &mut self,
        now_ms: u64,
        keyring: &Keyring,
        envelope: Envelope,
        raw: &[u8],
    ) -> Result<(), Rejection> {
        let result = self.accept_envelope(now_ms, keyring, envelope, raw);
        result.map_err(|rejection| self.reject(rejection))
    }

    fn accept_envelope(
        &mut self,
        now_ms: u64,
        keyring: &Keyring,
        envelope: Envelope,
        raw: &[u8],
    ) -> Result<(), Rejection> {
        if envelope.link != self.link_id
            || envelope.to != self.me.id()
            || envelope.from != self.peer
        {
            return Err(Rejection::Misaddressed);
        }
        let seq = envelope.seq;
        // Dedupe before decrypting.
        if let Some(held) = self.held_peer_id(seq) {
            if held == envelope.entry_id {
                self.counters.duplicates_dropped += 1;
                self.receipt_due = true;
                return Ok(());
            }
            let detail = format!(
                "seq {seq} held as {} but also signed as {}",
                held.to_hex(),
                envelope.entry_id.to_hex()
            );
            self.evidence(now_ms, "equivocation", seq, detail, raw);
            return Err(Rejection::Equivocation { seq });
        }
        let head = self.in_head();
        if seq > head + REORDER_WINDOW_MAX_ENTRIES {
            return Err(Rejection::OutOfWindow { seq, head });
        }
        let parties = SealParties {
            link: self.link_id,
            from: self.peer,
            to: self.me.id(),
        };
        let plaintext = self.opener.open(
            keyring,
            &parties,
            &envelope.key_id,
            &envelope.encapsulated,
            seq,
            &envelope.entry_id,
            &envelope.ciphertext,
        )?;
        let entry = SignedEntry::decode_verified(&plaintext, &self.peer)?;
        if entry.id() != envelope.entry_id {
            return Err(Rejection::HeaderMismatch("entry id"));
        }
        if entry.entry().seq != seq || entry.entry().link != self.link_id {
            return Err(Rejection::HeaderMismatch("seq or link"));
        }
        let ahead_ms = entry.entry().time_ms.saturating_sub(now_ms);
        if ahead_ms > ENTRY_FUTURE_SKEW_MS_MAX {
            return Err(Rejection::ClockSkew { ahead_ms });
        }
        let prev = entry.entry().prev;
        if seq == head + 1 && prev != self.in_ids.last().copied().unwrap_or(EntryId::NONE) {
            let detail = format!("seq {seq} names prev {} which is not held", prev.to_hex());
            self.evidence(now_ms, "fork", seq, detail, raw);
            return Err(Rejection::Fork { seq });
        }
        if let Body::KeyAnnouncement { public, .. } = &entry.entry().body {
            self.adopt_peer_key(public);
        }
        self.counters.envelopes_accepted += 1;
        self.in_pending.insert(
            seq,
            Pending {
                entry_id: entry.id(),
                prev,
            },
        );
        self.writes.push(StoreOp::StorePeerEntry {
            peer: self.peer,
            entry,
            received_ms: now_ms,
        });
        self.promote_pending(now_ms);
        self.receipt_due = true;
        Ok(())
    }

    fn adopt_peer_key(&mut self, public: &[u8]) {
        if let Ok(key) = PeerEpochKey::from_bytes(public)
            && key.id() != self.peer_epoch.id()
        {
            self.peer_epoch = key;
            self.writes.push(StoreOp::PeerEpochKey {
                peer: self.peer,
                public: public.to_vec(),
            });
        }
    }

    /// Moves held entries that now continue the chain into the delivered log.
    fn promote_pending(&mut self, now_ms: u64) {
        let before = self.in_head();
        loop {
            let head = self.in_head();
            let expected_prev = self.in_ids.last().copied().unwrap_or(EntryId::NONE);
            let Some(next) = self.in_pending.first_entry() else {
                break;
            };
            if *next.key() != head + 1 {
                break;
            }
            if next.get().prev != expected_prev {
                let seq = *next.key();
                let detail = format!("held seq {seq} does not continue the chain");
                let id = next.get().entry_id;
                self.evidence(now_ms, "fork", seq, detail, &id.0);
                break;
            }
            let pending = next.remove();
            self.in_ids.push(pending.entry_id);
        }
        let after = self.in_head();
        if after > before {
            self.writes.push(StoreOp::AdvanceInHead {
                peer: self.peer,
                upto: after,
            });
            self.events.push_back(Event::Delivered {
                peer: self.peer,
                upto: after,
            });
        }
    }

    /// Handles a receipt from the peer (signature already verified by the endpoint).
    pub fn handle_receipt(
        &mut self,
        now_ms: u64,
        receipt: Receipt,
        raw: &[u8],
    ) -> Result<(), Rejection> {
        let result = self.accept_receipt(now_ms, receipt, raw);
        result.map_err(|rejection| self.reject(rejection))
    }

    fn accept_receipt(
        &mut self,
        now_ms: u64,
        receipt: Receipt,
        raw: &[u8],
    ) -> Result<(), Rejection> {
        if receipt.link != self.link_id || receipt.to != self.me.id() || receipt.from != self.peer {
            return Err(Rejection::Misaddressed);
        }
        let written = self.out_seq();
        if receipt.upto > written || receipt.extra.last().is_some_and(|s| *s > written) {
            return Err(Rejection::BadReceipt("it covers entries never written"));
        }
        if receipt.upto > 0 && self.out_ids[(receipt.upto - 1) as usize] != receipt.head {
            let detail = format!(
                "peer holds {} at seq {}, we wrote {}",
                receipt.head.to_hex(),
                receipt.upto,
                self.out_ids[(receipt.upto - 1) as usize].to_hex()
            );
            self.evidence(now_ms, "bad_receipt", receipt.upto, detail, raw);
            return Err(Rejection::BadReceipt("its head differs from our log"));
        }
        self.counters.receipts_accepted += 1;
        let mut newly: Vec<u64> = self
            .outbox
            .range(..=receipt.upto)
            .map(|(seq, _)| *seq)
            .collect();
        newly.extend(
            receipt
                .extra
                .iter()
                .filter(|s| self.outbox.contains_key(s))
                .copied(),
        );
        if newly.is_empty() {
            return Ok(());
        }
        for seq in &newly {
            if let Some(outgoing) = self.outbox.remove(seq) {
                for timer in outgoing.timers {
                    self.timers.remove(&(timer.due_ms, *seq, timer.channel));
                }
            }
        }
        self.peer_receipt_upto = self.peer_receipt_upto.max(receipt.upto);
        self.writes.push(StoreOp::MarkDelivered {
            peer: self.peer,
            upto: receipt.upto,
            extra: receipt.extra.clone(),
            receipt: raw.to_vec(),
            received_ms: now_ms,
        });
        self.events.push_back(Event::Receipted {
            peer: self.peer,
            upto: receipt.upto,
            newly: newly.len(),
        });
        Ok(())
    }

    /// Takes the durable changes made since the last call. Commit them before transmitting.
    pub fn take_writes(&mut self, into: &mut Vec<StoreOp>) {
        into.append(&mut self.writes);
    }

    /// Next event for logs and operators.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Link::handle_timeout`] should next run, if anything is scheduled.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.receipt_due || !self.transmits.is_empty() {
            return Some(0);
        }
        self.timers.first().map(|(due, _, _)| *due)
    }

    /// Moves due retransmissions and a due receipt into the transmit queue.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        assert!(
            self.writes.is_empty(),
            "writes must be committed before anything is transmitted"
        );
        if self.receipt_due {
            self.receipt_due = false;
            self.queue_receipt(now_ms);
        }
        while let Some(&(due_ms, seq, channel)) = self.timers.first() {
            if due_ms > now_ms {
                break;
            }
            self.timers.pop_first();
            self.fire(now_ms, seq, channel);
        }
    }

    fn fire(&mut self, now_ms: u64, seq: u64, channel_id: ChannelId) {
        let Some(channel) = self.channels.iter().find(|c| c.id == channel_id) else {
            return;
        };
        let (interval_min, interval_max) = channel.kind.retransmit_ms();
        let up = channel.up;
        let Some(outgoing) = self.outbox.get_mut(&seq) else {
            return;
        };
        let Some(index) = outgoing.timers.iter().position(|t| t.channel == channel_id) else {
            return;
        };
        if !up {
            // Dropped; the channel coming back reschedules everything at once.
            outgoing.timers.swap_remove(index);
            return;
        }
        let timer = &mut outgoing.timers[index];
        if timer.attempts > 0 {
            self.counters.retransmissions += 1;
        }
        let interval = interval_min
            .saturating_mul(1u64 << timer.attempts.min(20))
            .min(interval_max);
        timer.attempts = timer.attempts.saturating_add(1);
        timer.due_ms = now_ms + interval;
        self.timers.insert((timer.due_ms, seq, channel_id));
        if !outgoing.transmitted {
            outgoing.transmitted = true;
            self.writes.push(StoreOp::MarkTransmitted {
                peer: self.peer,
                seq,
            });
        }
        self.counters.frames_transmitted += 1;
        self.transmits.push_back(Transmit {
            channel: channel_id,
            frame: outgoing.frame.clone(),
        });
    }

    /// Frames of every own entry the peer has not receipted, in seq order (for a courier
    /// bundle, which carries everything outstanding regardless of channel timers).
    pub fn unreceipted_frames(&self) -> impl Iterator<Item = &Arc<[u8]>> {
        self.outbox.values().map(|outgoing| &outgoing.frame)
    }

    /// A freshly signed receipt frame for everything held from the peer, or `None` when
    /// nothing has been received yet.
    pub fn receipt_frame(&self, now_ms: u64) -> Option<Arc<[u8]>> {
        (self.in_head() > 0 || !self.in_pending.is_empty()).then(|| self.signed_receipt(now_ms))
    }

    fn signed_receipt(&self, now_ms: u64) -> Arc<[u8]> {
        let upto = self.in_head();
        let receipt = Receipt {
            link: self.link_id,
            from: self.me.id(),
            to: self.peer,
            upto,
            head: self.in_ids.last().copied().unwrap_or(EntryId::NONE),
            extra: self
                .in_pending
                .keys()
                .take(RECEIPT_EXTRA_MAX)
                .copied()
                .collect(),
            time_ms: now_ms,
        };
        Frame::encode(TAG_RECEIPT, &receipt.sign(&self.me)).into()
    }

    fn queue_receipt(&mut self, now_ms: u64) {
        let frame = self.signed_receipt(now_ms);
        for channel in self.channels.iter().filter(|c| c.up) {
            self.counters.frames_transmitted += 1;
            self.transmits.push_back(Transmit {
                channel: channel.id,
                frame: frame.clone(),
            });
        }
    }

    /// Next frame to put on a channel. Call after [`Link::handle_timeout`].
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Whether an own entry is still unreceipted.
    pub fn is_outstanding(&self, seq: u64) -> bool {
        self.outbox.contains_key(&seq)
    }
}
