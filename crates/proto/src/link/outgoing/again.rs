//! What a peer's or this station's store put back to an older copy asks of the own log: own
//! entries the peer lost, sealed again ([`Outgoing::reseal`]); own entries this store lost,
//! taken back from a transcript ([`Outgoing::recover`]); and own entries sealed again to the
//! peer's new epoch key, which it may have announced because it lost the one before
//! ([`Outgoing::rekey`]).

use rand_chacha::ChaCha20Rng;

use super::{Lost, Outgoing};
use crate::entry::SignedEntry;
use crate::envelope::Envelope;
use crate::error::RecoverError;
use crate::frame::Frame;
use crate::id::{EntryId, EpochKeyId, Identity, LinkId, StationId};
use crate::limits::{OUTBOX_DEPTH_MAX, RECEIPT_EXTRA_MAX, RESEAL_ENTRIES_MAX};
use crate::link::Effects;
use crate::link::channels::ChannelId;
use crate::link::timers::Timers;
use crate::receipt::Receipt;
use crate::store_op::StoreOp;

/// How long after a pass over the outbox that left entries to seal again the store could not
/// read they are asked for again, in milliseconds.
const REKEY_RETRY_MS: u64 = 60_000;

/// The id of the epoch key an own frame (tag and envelope) is sealed to, if it reads as one.
pub(super) fn sealed_to(frame: &[u8]) -> Option<EpochKeyId> {
    match Frame::parse(frame) {
        Ok(Frame::Envelope(bytes)) => Envelope::peek(bytes).ok().map(|e| e.claimed_key_id()),
        _ => None,
    }
}

impl Outgoing {
    /// The peer's epoch key just changed: outstanding own entries are sealed to one before it,
    /// which the peer may no longer hold (lost with its store: it announced a key again after
    /// a restore), so each is sealed again to the new key ([`Outgoing::ask_rekey`]). The peer
    /// drops a copy of one it already holds before opening it.
    pub(in crate::link) fn rekey_outstanding(&mut self, now_ms: u64, fx: &mut Effects) {
        // A pass starts again from the first entry. A round already asked is not asked again:
        // its answer seals what it holds to the key in use by then, and asks for the next
        // round from the start (so many keys adopted at once, from a transcript or a batch of
        // frames, ask the store once, not once each).
        self.rekey_pending = true;
        self.rekey_from = 0;
        self.rekey_retry_ms = 0;
        self.ask_rekey(now_ms, fx);
    }

    /// Asks the store for the next round of outstanding own entries sealed to a key of the
    /// peer's other than the one in use, at most [`RESEAL_ENTRIES_MAX`], each after the last
    /// round's ([`crate::Event::Rekey`], answered by [`Outgoing::rekey`]): once one is pending
    /// and none is asked. A pass over the outbox that leaves some (the store could not read
    /// them) passes again after [`REKEY_RETRY_MS`], so that a damaged store is not asked again
    /// and again, nor holds up the entries after those it could not read.
    pub(in crate::link) fn ask_rekey(&mut self, now_ms: u64, fx: &mut Effects) {
        if !self.rekey_pending || self.rekey_asked || now_ms < self.rekey_retry_ms {
            return;
        }
        let current = self.peer_epoch.id();
        let stale = |entry: &super::Unreceipted| entry.key != current;
        let seqs: Vec<u64> = (self.outbox.range(self.rekey_from..))
            .filter(|(_, entry)| stale(entry))
            .map(|(seq, _)| *seq)
            .take(RESEAL_ENTRIES_MAX)
            .collect();
        let Some(last) = seqs.last() else {
            self.rekey_from = 0;
            if self.outbox.values().any(stale) {
                self.rekey_retry_ms = now_ms.saturating_add(REKEY_RETRY_MS);
            } else {
                self.rekey_pending = false;
            }
            return;
        };
        self.rekey_from = last + 1;
        self.rekey_asked = true;
        fx.events.push_back(crate::link::Event::Rekey {
            peer: fx.peer,
            seqs,
        });
    }

    /// Whether `entries`, own entries this store lost (an older copy was put back), each
    /// signed by this station (the caller verified them under its key), continue the own log
    /// from its end, and (if there are any) the log has not forked: [`Outgoing::recover`]
    /// takes them back.
    pub(in crate::link) fn check_recoverable(
        &self,
        me: &Identity,
        link: LinkId,
        entries: &[SignedEntry],
    ) -> Result<(), RecoverError> {
        if let Some(seq) = self.forked.filter(|_| !entries.is_empty()) {
            return Err(RecoverError::Forked { seq });
        }
        let written = self.seq();
        let mut prev = self.ids.last().copied().unwrap_or(EntryId::NONE);
        for (seq, entry) in (written + 1..).zip(entries) {
            let fields = entry.entry();
            let continues = fields.seq == seq
                && fields.prev == prev
                && fields.link == link
                && fields.author == me.id();
            if !continues {
                let seq = fields.seq;
                return Err(RecoverError::Discontinuous { seq, written });
            }
            prev = entry.id();
        }
        Ok(())
    }

    /// Takes back own entry `entry`, checked by [`Outgoing::check_recoverable`] with those
    /// before it: sealed anew to the peer's epoch key and queued on every channel in `up`, as
    /// if just written. The peer holds it, drops it as a duplicate and receipts it (the
    /// caller's receipt of it usually does at once, which is why the outbox's bound is not
    /// applied: while the log is behind, no receipt of the peer's can make room). Once the
    /// log reaches as far as the peer's receipts covered it, the link takes new entries
    /// again.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::link) fn recover(
        &mut self,
        me: &Identity,
        (link, peer): (LinkId, StationId),
        now_ms: u64,
        rng: &mut ChaCha20Rng,
        entry: SignedEntry,
        timers: &mut Timers,
        up: &[ChannelId],
        fx: &mut Effects,
    ) {
        debug_assert_eq!(
            entry.entry().seq,
            self.seq() + 1,
            "checked to continue the log"
        );
        let up = up.iter().copied();
        self.push_own(me, (link, peer), (now_ms, rng), entry, timers, up, fx);
        if self
            .behind
            .is_some_and(|peer_holds| self.seq() >= peer_holds)
        {
            self.behind = None;
            fx.writes.push(StoreOp::LogCaughtUp { peer });
        }
    }

    /// Notes the own entries a receipt signed after every one that marked entries delivered
    /// (`receipt`, already applied)
    /// shows the peer no longer holds, though an earlier receipt covered them: the peer's
    /// store went back to an older copy. Its holdings only grow otherwise, so a receipt that
    /// holds less is either older (out of order on some channel, or from a clock since set
    /// back: not asked about) or signed after a loss. A receipt whose `extra` is full speaks
    /// for no seq above its last. The lost entries are asked of the store (at most
    /// [`RESEAL_ENTRIES_MAX`] at a time, no more than the outbox has room for, and none while
    /// one sealed again at the last loss is outstanding) to be sealed again
    /// ([`Outgoing::reseal`]). A receipt taken for fresh that is not (a clock run ahead, then
    /// set back) only has entries the peer holds sent again, which it drops as duplicates.
    /// Returns whether it asked.
    pub(in crate::link) fn note_lost(
        &mut self,
        receipt: &Receipt,
        raw: &[u8],
        now_ms: u64,
        fx: &mut Effects,
    ) -> bool {
        let resealing = self
            .resealed
            .iter()
            .any(|seq| self.outbox.contains_key(seq));
        if self.lost.is_some() || resealing {
            return false;
        }
        let room = OUTBOX_DEPTH_MAX
            .saturating_sub(self.outbox.len())
            .min(RESEAL_ENTRIES_MAX);
        let seqs = self.lost_seqs(receipt, room);
        if seqs.is_empty() {
            return false;
        }
        fx.events.push_back(crate::link::Event::Lost {
            peer: fx.peer,
            seqs: seqs.clone(),
        });
        self.lost = Some(Lost {
            seqs,
            receipt: raw.to_vec(),
            upto: receipt.upto,
            time_ms: receipt.time_ms,
            received_ms: now_ms,
        });
        true
    }

    /// The first `most` own entries that `receipt` lacks though an earlier receipt covered
    /// them. A receipt whose `extra` is full speaks for no seq above its last.
    fn lost_seqs(&self, receipt: &Receipt, most: usize) -> Vec<u64> {
        let speaks_for = match receipt.extra.last() {
            Some(last) if receipt.extra.len() >= RECEIPT_EXTRA_MAX => *last,
            _ => u64::MAX,
        };
        // Every own entry above the receipt's bound that is not outstanding was receipted:
        // those up to the bound kept, and those receipted above it.
        (receipt.upto + 1..=self.receipt_upto)
            .chain(self.delivered_above.range(receipt.upto + 1..).copied())
            .take_while(|seq| *seq <= speaks_for)
            .filter(|seq| receipt.extra.binary_search(seq).is_err())
            .take(most)
            .collect()
    }

    /// Seals again the own entries the peer lost (`entries`: each seq asked for by
    /// [`Outgoing::note_lost`] and its signed bytes, as stored), queues them on every channel
    /// in `up`, and keeps the receipt that showed the loss. Entries not asked for, already
    /// outstanding, or whose bytes are not the entry of that seq are left out. Nothing
    /// happens when nothing was asked.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::link) fn reseal(
        &mut self,
        me: &Identity,
        (link, peer): (LinkId, StationId),
        now_ms: u64,
        rng: &mut ChaCha20Rng,
        entries: &[(u64, Vec<u8>)],
        timers: &mut Timers,
        up: &[ChannelId],
        fx: &mut Effects,
    ) {
        let Some(lost) = self.lost.take() else {
            return;
        };
        let mut frames = Vec::new();
        for (seq, bytes) in entries {
            let Some(id) = seq
                .checked_sub(1)
                .and_then(|index| self.ids.get(usize::try_from(index).ok()?))
                .copied()
            else {
                continue;
            };
            if !lost.seqs.contains(seq) || self.outbox.contains_key(seq) || EntryId::of(bytes) != id
            {
                continue;
            }
            let frame = self.queue_sealed(
                me,
                (link, peer),
                (now_ms, &mut *rng),
                (*seq, id, bytes),
                timers,
                up.iter().copied(),
            );
            frames.push((*seq, frame));
        }
        if frames.is_empty() {
            // The store gave none of them back (a failed read, or a damaged store): nothing
            // changes, and the next fresh receipt asks again.
            return;
        }
        fx.counters.entries_resent += frames.len() as u64;
        // Those between the new bound and the old not sealed again (held by the peer, or
        // beyond this round) are now receipted above the bound.
        for seq in lost.upto + 1..=self.receipt_upto {
            if !self.outbox.contains_key(&seq) {
                self.delivered_above.insert(seq);
            }
        }
        self.resealed = frames.iter().map(|(seq, _)| *seq).collect();
        for seq in &self.resealed {
            self.delivered_above.remove(seq);
        }
        self.receipt_upto = lost.upto;
        self.receipt_newest_ms = self.receipt_newest_ms.max(lost.time_ms);
        self.receipt_floor_ms = lost.time_ms;
        fx.writes.push(StoreOp::Redeliver {
            peer,
            frames,
            receipt: lost.receipt,
            upto: lost.upto,
            received_ms: lost.received_ms,
        });
    }

    /// Answers a round [`Outgoing::ask_rekey`] asked for: seals again each entry of `entries`
    /// (seq and signed bytes, as stored) still outstanding and sealed to a key of the peer's
    /// other than the one in use, in place: the next retransmission on each channel, when its
    /// timer comes, carries the new frame (an ordinary rotation sends nothing sooner; the key
    /// before still opens it). Entries the store could not read (missing, or other bytes than
    /// the entry's) stay as they are until the next pass. Then asks for the next round.
    pub(in crate::link) fn rekey(
        &mut self,
        me: &Identity,
        (link, peer): (LinkId, StationId),
        (now_ms, rng): (u64, &mut ChaCha20Rng),
        entries: &[(u64, Vec<u8>)],
        fx: &mut Effects,
    ) {
        self.rekey_asked = false;
        let current = self.peer_epoch.id();
        let mut frames = Vec::new();
        for (seq, bytes) in entries {
            let Some(stale) = (self.outbox.get(seq)).filter(|entry| entry.key != current) else {
                continue;
            };
            let id = stale.entry_id;
            if EntryId::of(bytes) != id {
                continue;
            }
            let frame = self.seal(me, (link, peer), (now_ms, &mut *rng), (*seq, id, bytes));
            let entry = self.outbox.get_mut(seq).expect("outstanding");
            entry.frame = frame.clone().into();
            entry.key = current;
            frames.push((*seq, frame));
        }
        if !frames.is_empty() {
            fx.writes.push(StoreOp::Resealed { peer, frames });
        }
        self.ask_rekey(now_ms, fx);
    }
}
