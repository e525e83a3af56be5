//! This station's side of a link: its own log, the outbox of entries the peer has not yet
//! receipted with each one's retransmission state per channel, sealing, and the peer's receipts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rand_chacha::ChaCha20Rng;

use super::Effects;
use super::channels::{ChannelId, ChannelKind};
use super::timers::{TimerKind, Timers};
use crate::entry::{Body, Entry, Precedence, SignedEntry};
use crate::envelope::Envelope;
use crate::error::{Rejection, SendError};
use crate::evidence::EvidenceKind;
use crate::frame::{Frame, TAG_ENVELOPE};
use crate::id::{EntryId, EpochKeyId, Identity, LinkId, StationId};
use crate::limits::{ENTRY_FUTURE_SKEW_MS_MAX, ENTRY_SIZE_MAX_BYTES, OUTBOX_DEPTH_MAX};
use crate::receipt::{Receipt, VerifiedReceipt};
use crate::seal::{PeerEpochKey, SealParties, Sealer};
use crate::store_op::{LinkSnapshot, OutboxItem, StoreOp};

mod again;
use again::sealed_to;

/// The retransmission state of one unreceipted entry on one channel.
struct ChannelTimer {
    channel: ChannelId,
    due_ms: u64,
    attempts: u32,
}

/// An own entry the peer has not receipted.
struct Unreceipted {
    entry_id: EntryId,
    frame: Arc<[u8]>,
    /// The id of the peer's epoch key `frame` is sealed to.
    key: EpochKeyId,
    transmitted: bool,
    /// The kinds of channel it went out on since this station started (bits of
    /// [`ChannelKind::bit`]); each first is recorded.
    sent_on: u8,
    timers: Vec<ChannelTimer>,
}

/// A frame due on a channel now.
pub(super) struct Due {
    pub(super) frame: Arc<[u8]>,
    /// Its first transmission on a channel of this kind (since this station started): record
    /// that it left, and by which kind of path.
    pub(super) first_on_kind: bool,
    /// Not its first on this channel.
    pub(super) retransmission: bool,
}

/// The own log and outbox.
pub(super) struct Outgoing {
    peer_epoch: PeerEpochKey,
    peer_epoch_public: Vec<u8>,
    /// The seq of the peer's announcement of `peer_epoch` (0: its card's).
    peer_epoch_seq: u64,
    sealer: Option<Sealer>,
    ids: Vec<EntryId>,
    /// The seq of each of `ids`: whether the peer's entry names one this station wrote is
    /// asked of every entry the peer sends, and an authenticated peer may name the oldest (a
    /// search of the log for each of its entries).
    seqs: HashMap<EntryId, u64>,
    outbox: BTreeMap<u64, Unreceipted>,
    receipt_upto: u64,
    /// The latest time signed into a receipt that marked own entries delivered: a receipt
    /// signed later that lacks one of them shows the peer lost it.
    receipt_newest_ms: u64,
    /// The time signed into the receipt that last showed a loss: receipts signed before it
    /// tell what the peer held before it lost entries, and are taken for nothing.
    receipt_floor_ms: u64,
    /// Own entries above `receipt_upto` the peer receipted (in receipts' `extra`): the seqs
    /// from `receipt_upto + 1` to the log's end not in `outbox`, kept as they change so that a
    /// receipt need not walk a long outbox to find them (`restore` derives them so).
    delivered_above: BTreeSet<u64>,
    /// Own entries the peer lost, asked of the store to be sealed again.
    lost: Option<Lost>,
    /// The seqs sealed again at the last loss: no more are asked for while one of them is
    /// outstanding.
    resealed: Vec<u64>,
    /// Whether outstanding own entries may be sealed to a key of the peer's before the one in
    /// use: they are sealed again to it ([`Outgoing::ask_rekey`]), a round at a time.
    rekey_pending: bool,
    /// A round of them is asked of the store and not answered yet.
    rekey_asked: bool,
    /// The lowest seq the next round may ask for: each round asks for those after the last,
    /// so that a pass over the outbox reads it once, past entries the store could not read.
    rekey_from: u64,
    /// After a pass that left entries the store could not read, when to pass again, UTC ms.
    rekey_retry_ms: u64,
    /// The highest own seq a receipt of the peer covered beyond the own log: the store lost
    /// entries this station wrote, and nothing more is appended (it would fork the log).
    behind: Option<u64>,
    /// The lowest own seq at which a receipt of the peer named another entry than this log
    /// holds: the store wrote entries after it was put back to an older copy, and nothing more
    /// is appended (the peer refuses what forks the log it holds).
    forked: Option<u64>,
}

/// Why a link's log takes no more entries: this store was put back to an older copy, and the
/// peer holds what it lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The peer holds own entries up to `peer_holds`, beyond this store's log (`written`).
    Behind {
        /// The highest own seq a receipt of the peer covered.
        peer_holds: u64,
        /// The own log's last seq here.
        written: u64,
    },
    /// The peer holds another entry at own seq `seq` than this store.
    Forked {
        /// The lowest such seq a receipt of the peer named.
        seq: u64,
    },
}

impl From<Closed> for SendError {
    fn from(closed: Closed) -> Self {
        match closed {
            Closed::Behind {
                peer_holds,
                written,
            } => SendError::LogBehind {
                peer_holds,
                written,
            },
            Closed::Forked { seq } => SendError::LogForked { seq },
        }
    }
}

/// Own entries a fresh receipt showed the peer no longer holds, and that receipt.
struct Lost {
    seqs: Vec<u64>,
    receipt: Vec<u8>,
    upto: u64,
    time_ms: u64,
    received_ms: u64,
}

impl Outgoing {
    /// From the snapshot's own-side fields, already checked by `Link::new`.
    pub(super) fn restore(
        snapshot_ids: Vec<EntryId>,
        outbox: Vec<OutboxItem>,
        (receipt_upto, receipt_newest_ms, receipt_floor_ms, behind, forked): (
            u64,
            u64,
            u64,
            u64,
            u64,
        ),
        (peer_epoch_public, peer_epoch_seq): (Vec<u8>, u64),
    ) -> Result<Self, crate::DecodeError> {
        let peer_epoch = PeerEpochKey::from_bytes(&peer_epoch_public)?;
        let outbox = outbox
            .into_iter()
            .map(|item| {
                // A frame that does not read as an envelope is left as it is (sealed to the
                // key in use, as far as this knows): the store's check refuses such a store.
                let key = sealed_to(&item.frame).unwrap_or(peer_epoch.id());
                let unreceipted = Unreceipted {
                    entry_id: item.entry_id,
                    frame: item.frame.into(),
                    key,
                    transmitted: item.transmitted,
                    sent_on: 0,
                    timers: Vec::new(),
                };
                (item.seq, unreceipted)
            })
            .collect::<BTreeMap<u64, Unreceipted>>();
        let written = snapshot_ids.len() as u64;
        let seqs = (1..)
            .zip(&snapshot_ids)
            .map(|(seq, id)| (*id, seq))
            .collect();
        let delivered_above = (receipt_upto + 1..=written)
            .filter(|seq| !outbox.contains_key(seq))
            .collect();
        Ok(Self {
            peer_epoch,
            peer_epoch_public,
            peer_epoch_seq,
            sealer: None,
            ids: snapshot_ids,
            seqs,
            outbox,
            receipt_upto,
            receipt_newest_ms,
            receipt_floor_ms,
            delivered_above,
            lost: None,
            resealed: Vec::new(),
            // Sealing again after a key changed is not kept in the store: found anew here.
            rekey_pending: true,
            rekey_asked: false,
            rekey_from: 0,
            rekey_retry_ms: 0,
            behind: (behind > 0).then_some(behind),
            forked: (forked > 0).then_some(forked),
        })
    }

    /// The seq of the last own entry.
    pub(super) fn seq(&self) -> u64 {
        self.ids.len() as u64
    }

    /// Whether this station wrote the entry `id` on this link.
    pub(super) fn wrote(&self, id: &EntryId) -> bool {
        self.seqs.contains_key(id)
    }

    /// The seq of own entry `id`.
    pub(super) fn seq_of(&self, id: &EntryId) -> Option<u64> {
        self.seqs.get(id).copied()
    }

    /// Unreceipted own entries.
    pub(super) fn depth(&self) -> usize {
        self.outbox.len()
    }

    /// Why nothing more is appended, if so: the refusal [`Outgoing::append`] gives (this store
    /// was put back to an older copy, and the peer holds entries it lacks or another entry).
    pub(super) fn closed(&self) -> Option<Closed> {
        // A fork first: once this log forked, "so that it does not fork" no longer holds.
        match (self.forked, self.behind) {
            (Some(seq), _) => Some(Closed::Forked { seq }),
            (None, Some(peer_holds)) => Some(Closed::Behind {
                peer_holds,
                written: self.seq(),
            }),
            (None, None) => None,
        }
    }

    /// The peer's highest cumulative receipt.
    pub(super) fn receipt_upto(&self) -> u64 {
        self.receipt_upto
    }

    /// Whether own entry `seq` is unreceipted.
    pub(super) fn is_outstanding(&self, seq: u64) -> bool {
        self.outbox.contains_key(&seq)
    }

    /// Frames of every unreceipted own entry, in seq order.
    pub(super) fn unreceipted_frames(&self) -> impl Iterator<Item = &Arc<[u8]>> {
        // Not once the log forked: the peer refuses them, each as new evidence.
        let forked = self.forked.is_some();
        self.outbox
            .values()
            .filter(move |_| !forked)
            .map(|entry| &entry.frame)
    }

    /// Adopts the epoch key the peer announced in its entry `seq`, if that entry is later in
    /// its log than the announcement of the key in use: announcements take effect in seq order,
    /// so an older one that arrives late never replaces a newer key (whose predecessor the
    /// peer may have erased). Returns whether the key changed.
    pub(super) fn adopt_peer_key(&mut self, public: &[u8], seq: u64) -> bool {
        if seq <= self.peer_epoch_seq {
            return false;
        }
        let Ok(key) = PeerEpochKey::from_bytes(public) else {
            return false;
        };
        self.peer_epoch_seq = seq;
        // By its bytes, as the store compares them: an id is 8 bytes of a hash, and a peer can
        // find two keys with one id. Taken as no change, the new key would be in effect in the
        // store's record but not in the key kept for sealing, and the store's check would
        // refuse to open.
        if public == self.peer_epoch_public.as_slice() {
            return false;
        }
        self.peer_epoch = key;
        self.peer_epoch_public = public.to_vec();
        // The encapsulation kept is for the key before, which may share the new one's id.
        self.sealer = None;
        true
    }

    /// The id of the peer's epoch key entries are sealed to now.
    pub(super) fn peer_epoch_id(&self) -> crate::id::EpochKeyId {
        self.peer_epoch.id()
    }

    /// The bytes of the peer's epoch key entries are sealed to now.
    pub(super) fn peer_epoch_public(&self) -> &[u8] {
        &self.peer_epoch_public
    }

    /// Whether the key sealed to came from an announcement in the peer's log (not its card).
    pub(super) fn peer_epoch_announced(&self) -> bool {
        self.peer_epoch_seq > 0
    }

    /// Signs, seals and queues a new own entry on every channel in `up`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn append(
        &mut self,
        me: &Identity,
        (link, peer): (LinkId, StationId),
        seen: EntryId,
        now_ms: u64,
        rng: &mut ChaCha20Rng,
        (precedence, body, operator): (Precedence, Body, Option<String>),
        timers: &mut Timers,
        up: impl Iterator<Item = ChannelId>,
        fx: &mut Effects,
    ) -> Result<(u64, EntryId), SendError> {
        if let Some(closed) = self.closed() {
            return Err(closed.into());
        }
        if self.outbox.len() >= OUTBOX_DEPTH_MAX {
            return Err(SendError::OutboxFull {
                depth: self.outbox.len(),
            });
        }
        let seq = self.seq() + 1;
        let entry = Entry {
            link,
            author: me.id(),
            seq,
            prev: self.ids.last().copied().unwrap_or(EntryId::NONE),
            seen,
            time_ms: now_ms,
            precedence,
            body,
            operator,
        };
        entry.check_operator().map_err(SendError::Malformed)?;
        let entry = entry.sign(me);
        // Each field within its bound can still add up to more than one entry may hold (a
        // long text with translations, many long values): refused before anything is kept,
        // as the peer would refuse it for ever and hold up the link behind it.
        if entry.bytes().len() > ENTRY_SIZE_MAX_BYTES {
            return Err(SendError::EntryTooLarge {
                len: entry.bytes().len(),
                max: ENTRY_SIZE_MAX_BYTES,
            });
        }
        let id = entry.id();
        self.push_own(me, (link, peer), (now_ms, rng), entry, timers, up, fx);
        Ok((seq, id))
    }

    /// Appends own entry `entry`, the next of the log, sealed and queued on every channel in
    /// `up`.
    #[allow(clippy::too_many_arguments)]
    fn push_own(
        &mut self,
        me: &Identity,
        (link, peer): (LinkId, StationId),
        (now_ms, rng): (u64, &mut ChaCha20Rng),
        entry: SignedEntry,
        timers: &mut Timers,
        up: impl Iterator<Item = ChannelId>,
        fx: &mut Effects,
    ) {
        let (seq, id) = (entry.entry().seq, entry.id());
        debug_assert_eq!(seq, self.seq() + 1, "the next of the log");
        let frame = self.queue_sealed(
            me,
            (link, peer),
            (now_ms, rng),
            (seq, id, entry.bytes()),
            timers,
            up,
        );
        self.ids.push(id);
        self.seqs.insert(id, seq);
        fx.writes.push(StoreOp::AppendOwn { peer, entry, frame });
    }

    /// Seals own entry `seq` (`id`, its signed `bytes`) to the peer's epoch key in a signed
    /// envelope, puts it in the outbox and schedules it on every channel in `up`; returns its
    /// frame.
    fn queue_sealed(
        &mut self,
        me: &Identity,
        (link, peer): (LinkId, StationId),
        (now_ms, rng): (u64, &mut ChaCha20Rng),
        (seq, id, bytes): (u64, EntryId, &[u8]),
        timers: &mut Timers,
        up: impl Iterator<Item = ChannelId>,
    ) -> Vec<u8> {
        let frame = self.seal(me, (link, peer), (now_ms, rng), (seq, id, bytes));
        let unreceipted = Unreceipted {
            entry_id: id,
            frame: frame.clone().into(),
            key: self.peer_epoch.id(),
            transmitted: false,
            sent_on: 0,
            timers: Vec::new(),
        };
        self.outbox.insert(seq, unreceipted);
        for channel in up {
            self.schedule(timers, seq, channel, now_ms, 0);
        }
        frame
    }

    /// Own entry `seq` (`id`, its signed `bytes`) sealed to the peer's epoch key in a signed
    /// envelope: its frame.
    fn seal(
        &mut self,
        me: &Identity,
        (link, peer): (LinkId, StationId),
        (now_ms, rng): (u64, &mut ChaCha20Rng),
        (seq, id, bytes): (u64, EntryId, &[u8]),
    ) -> Vec<u8> {
        let parties = SealParties {
            link,
            from: me.id(),
            to: peer,
        };
        let sealed = Sealer::seal(
            &mut self.sealer,
            rng,
            now_ms,
            &parties,
            &self.peer_epoch,
            seq,
            &id,
            bytes,
        );
        let envelope = Envelope::sign(me, link, peer, seq, id, sealed);
        Frame::encode(TAG_ENVELOPE, &envelope)
    }

    /// Schedules every unreceipted entry on `channel` at once (it just came up).
    pub(super) fn schedule_all(&mut self, timers: &mut Timers, channel: ChannelId, now_ms: u64) {
        let seqs: Vec<u64> = self.outbox.keys().copied().collect();
        for seq in seqs {
            self.schedule(timers, seq, channel, now_ms, 0);
        }
    }

    fn schedule(
        &mut self,
        timers: &mut Timers,
        seq: u64,
        channel: ChannelId,
        due_ms: u64,
        attempts: u32,
    ) {
        let Some(entry) = self.outbox.get_mut(&seq) else {
            return;
        };
        let kind = TimerKind::Retransmit { seq, channel };
        match entry.timers.iter_mut().find(|t| t.channel == channel) {
            Some(timer) => {
                timers.cancel(timer.due_ms, kind);
                timer.due_ms = due_ms;
                timer.attempts = attempts;
            }
            None => entry.timers.push(ChannelTimer {
                channel,
                due_ms,
                attempts,
            }),
        }
        timers.arm(due_ms, kind);
    }

    /// A retransmission timer of `seq` on `channel` fired: returns the frame to send and
    /// rearms the timer with backoff, or drops the timer when the channel is down (its coming
    /// back reschedules everything) or the log forked.
    pub(super) fn fire(
        &mut self,
        timers: &mut Timers,
        now_ms: u64,
        (seq, channel): (u64, ChannelId),
        (kind, up): (ChannelKind, bool),
    ) -> Option<Due> {
        let entry = self.outbox.get_mut(&seq)?;
        let index = entry.timers.iter().position(|t| t.channel == channel)?;
        // Once the log forked, nothing is sent again: the peer refuses what this store wrote
        // since its copy, each time as new evidence, and cannot receipt what it holds.
        if !up || self.forked.is_some() {
            entry.timers.swap_remove(index);
            return None;
        }
        let (interval_min, interval_max) = kind.retransmit_ms();
        let timer = &mut entry.timers[index];
        let retransmission = timer.attempts > 0;
        let interval = interval_min
            .saturating_mul(1u64 << timer.attempts.min(20))
            .min(interval_max);
        timer.attempts = timer.attempts.saturating_add(1);
        timer.due_ms = now_ms + interval;
        timers.arm(timer.due_ms, TimerKind::Retransmit { seq, channel });
        let first_on_kind = entry.sent_on & kind.bit() == 0;
        entry.sent_on |= kind.bit();
        entry.transmitted = true;
        Some(Due {
            frame: entry.frame.clone(),
            first_on_kind,
            retransmission,
        })
    }

    /// Applies a verified receipt from the peer: every own entry it covers leaves the outbox.
    pub(super) fn accept_receipt(
        &mut self,
        timers: &mut Timers,
        now_ms: u64,
        receipt: VerifiedReceipt,
        raw: &[u8],
        fx: &mut Effects,
    ) -> Result<(), Rejection> {
        let receipt = receipt.receipt();
        let written = self.seq();
        let covers = receipt.extra.last().copied().unwrap_or(0).max(receipt.upto);
        if covers > written {
            // Signed by the peer: it holds entries signed with this station's key that this
            // store lacks (or says so: a peer can stop its own link, nothing more).
            if self.behind.is_none_or(|held| covers > held) {
                self.behind = Some(covers);
                fx.writes.push(StoreOp::LogBehind {
                    peer: fx.peer,
                    peer_holds: covers,
                });
                // Once the log is known to have forked, being behind as well is no news.
                if self.forked.is_none() {
                    fx.events.push_back(super::Event::Behind {
                        peer: fx.peer,
                        peer_holds: covers,
                        written,
                    });
                }
            }
            return Err(Rejection::BadReceipt("it covers entries never written"));
        }
        if receipt.upto > 0 {
            let ours = self.ids[(receipt.upto - 1) as usize];
            if ours != receipt.head && self.forked.is_some_and(|seq| seq <= receipt.upto) {
                // Kept already, at this seq or below: the peer sends its receipt again with
                // every entry of this log it refuses, and one record is proof enough.
                return Err(Rejection::BadReceipt("its head differs from our log"));
            }
            if ours != receipt.head {
                // Either the peer signed a false receipt, or this store was put back to an
                // older copy and wrote entries since, before the peer's receipt came: its log
                // forked (cli.md, `run`). The evidence cannot tell which; the detail says both.
                let detail = format!(
                    "peer holds {} at seq {}, we wrote {}: the peer's receipt is false, or this \
                     store was put back to an older copy and wrote entries since, forking its \
                     log (docs/cli.md, parley run)",
                    receipt.head.to_hex(),
                    receipt.upto,
                    ours.to_hex()
                );
                fx.evidence(now_ms, EvidenceKind::BadReceipt, receipt.upto, detail, raw);
                // Either way the link's log cannot go on here: what this station appends
                // next is refused there (`equivocation`, `fork`), and, if it was restored, the
                // peer's next entries name entries this store lacks. As when a receipt
                // reaches beyond the log, nothing more is appended.
                if self.forked.is_none_or(|seq| receipt.upto < seq) {
                    self.forked = Some(receipt.upto);
                    fx.writes.push(StoreOp::LogForked {
                        peer: fx.peer,
                        seq: receipt.upto,
                    });
                    fx.events.push_back(super::Event::Forked {
                        peer: fx.peer,
                        seq: receipt.upto,
                    });
                }
                return Err(Rejection::BadReceipt("its head differs from our log"));
            }
        }
        if receipt.time_ms < self.receipt_floor_ms {
            // Signed before the peer lost entries: what it held then is no guide to now.
            return Ok(());
        }
        fx.counters.receipts_accepted += 1;
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
        // Dated further ahead of this station's clock than an entry may be (a peer whose
        // clock ran ahead): what it covers is held all the same, but it shows no loss. Taken
        // for one, its time would become the floor, and every receipt signed after the
        // peer's clock was set right would be taken for nothing until that time came.
        let dated = receipt.time_ms <= now_ms.saturating_add(ENTRY_FUTURE_SKEW_MS_MAX);
        // Signed after every receipt that marked something; or in the same millisecond as
        // the latest, delivering an entry sealed again (the loss's next round is asked for by
        // the receipt of the last, which can come that fast). Another of that millisecond may
        // be older than the latest, out of order on a channel.
        let fresh = dated
            && (receipt.time_ms > self.receipt_newest_ms
                || (receipt.time_ms == self.receipt_newest_ms
                    && newly.iter().any(|seq| self.resealed.contains(seq))));
        let marked = (!newly.is_empty())
            .then(|| self.mark_delivered(timers, now_ms, (receipt, raw), &newly, fx));
        let asked = fresh && self.note_lost(receipt, raw, now_ms, fx);
        // A receipt that asks for lost entries becomes the newest only once they are sealed
        // again ([`Outgoing::reseal`]): until then (a failed read of the store, a crash before
        // that commit) the same receipt, which the peer sends again while it can hold no more,
        // asks again.
        if let Some(op) = marked
            && !asked
        {
            self.receipt_newest_ms = self.receipt_newest_ms.max(receipt.time_ms);
            if let Some(StoreOp::MarkDelivered { newest_ms, .. }) = fx.writes.get_mut(op) {
                *newest_ms = self.receipt_newest_ms;
            }
        }
        Ok(())
    }

    /// Takes `newly` (outstanding own entries `receipt` covers) out of the outbox; returns
    /// the index of its write among `fx`'s, which keeps the newest as it is (the caller
    /// raises it).
    fn mark_delivered(
        &mut self,
        timers: &mut Timers,
        now_ms: u64,
        (receipt, raw): (&Receipt, &[u8]),
        newly: &[u64],
        fx: &mut Effects,
    ) -> usize {
        for seq in newly {
            if let Some(entry) = self.outbox.remove(seq) {
                for timer in entry.timers {
                    let channel = timer.channel;
                    timers.cancel(timer.due_ms, TimerKind::Retransmit { seq: *seq, channel });
                }
            }
        }
        self.receipt_upto = self.receipt_upto.max(receipt.upto);
        self.delivered_above.extend(newly.iter().copied());
        self.delivered_above = self.delivered_above.split_off(&(self.receipt_upto + 1));
        fx.writes.push(StoreOp::MarkDelivered {
            peer: fx.peer,
            upto: receipt.upto,
            extra: receipt.extra.clone(),
            receipt: raw.to_vec(),
            newest_ms: self.receipt_newest_ms,
            received_ms: now_ms,
        });
        fx.events.push_back(super::Event::Receipted {
            peer: fx.peer,
            upto: receipt.upto,
            newly: newly.len(),
        });
        fx.writes.len() - 1
    }

    /// The own-side fields of the link's snapshot.
    pub(super) fn snapshot_into(&self, snapshot: &mut LinkSnapshot) {
        snapshot.out_ids = self.ids.clone();
        snapshot.outbox = self
            .outbox
            .iter()
            .map(|(seq, entry)| OutboxItem {
                seq: *seq,
                entry_id: entry.entry_id,
                frame: entry.frame.to_vec(),
                transmitted: entry.transmitted,
            })
            .collect();
        snapshot.peer_receipt_upto = self.receipt_upto;
        snapshot.peer_receipt_newest_ms = self.receipt_newest_ms;
        snapshot.peer_receipt_floor_ms = self.receipt_floor_ms;
        snapshot.own_log_behind = self.behind.unwrap_or(0);
        snapshot.own_log_forked = self.forked.unwrap_or(0);
        snapshot.peer_epoch_public = self.peer_epoch_public.clone();
        snapshot.peer_epoch_seq = self.peer_epoch_seq;
    }
}
