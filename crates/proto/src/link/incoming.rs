//! The peer's side of a link: its entries as they arrive, deduplicated before decryption, held
//! within a reorder window until the chain is contiguous, delivered in order, and the evidence
//! of an equivocation or a fork.

use std::collections::BTreeMap;

use super::Effects;
use super::intake::{Intake, IntakeLimit};
use crate::entry::{Body, SignedEntry};
use crate::envelope::{Envelope, VerifiedEnvelope};
use crate::error::{DecodeError, Rejection};
use crate::evidence::EvidenceKind;
use crate::id::{EntryId, LinkId, StationId};
use crate::limits::{ENTRY_FUTURE_SKEW_MS_MAX, REORDER_WINDOW_MAX_ENTRIES};
use crate::seal::{Keyring, Opener, SealParties};
use crate::store_op::{LinkSnapshot, PendingItem, StoreOp};

/// What the detail of an `equivocation` or `fork` says of its causes: an operator reading it
/// on a bad night must not take the peer for a liar when its disk failed.
const FORKED_WHY: &str = "the peer signed two versions of its log, parting at or before this \
     seq: its store was put back to an older copy and wrote entries since, or its identity key \
     is in other hands (docs/cli.md, parley run)";

/// A peer entry held above the contiguous head.
struct Held {
    entry_id: EntryId,
    prev: EntryId,
}

/// An entry whose signature [`crate::Endpoint::preverify`] checked in a batch with its
/// envelope's.
#[derive(Debug)]
pub(crate) enum BatchChecked {
    /// The entry as it was opened then.
    Entry(Box<SignedEntry>),
    /// Only its id (the entries kept whole were at their bound): the envelope is opened
    /// again, and the bytes must be the ones checked.
    Id(EntryId),
}

/// What became of an envelope that was not refused.
pub(super) enum Arrival {
    /// A new entry, stored. `key` is the epoch key it announces with the entry's seq, if it is
    /// an announcement.
    New { key: Option<(u64, Vec<u8>)> },
    /// An entry already held: dropped before decryption.
    Duplicate,
}

/// The peer's log as held here.
pub(super) struct Incoming {
    opener: Opener,
    ids: Vec<EntryId>,
    held: BTreeMap<u64, Held>,
    receipt_due: bool,
    intake: Intake,
    /// The lowest seq refused for the allowance and not held since, with its size as sealed:
    /// the allowance is kept for it (entries above it are taken only with room for both),
    /// so small entries sent after a large one cannot spend all that grows back.
    intake_blocked: Option<(u64, u64)>,
    /// When an entry was last refused for the allowance, UTC ms.
    intake_refused_ms: Option<u64>,
    /// The held seq last recorded as not continuing the chain: recorded once, not again at
    /// every later arrival (which would spend the link's evidence records on one fork).
    fork_told: Option<u64>,
}

impl Incoming {
    /// From the snapshot's peer-side fields, already checked by `Link::new`.
    pub(super) fn restore(ids: Vec<EntryId>, pending: Vec<PendingItem>) -> Self {
        let held = pending
            .into_iter()
            .map(|p| {
                let held = Held {
                    entry_id: p.entry_id,
                    prev: p.prev,
                };
                (p.seq, held)
            })
            .collect();
        Self {
            opener: Opener::default(),
            ids,
            held,
            receipt_due: false,
            intake: Intake::new(IntakeLimit::default()),
            intake_blocked: None,
            intake_refused_ms: None,
            fork_told: None,
        }
    }

    /// The bytes the intake allowance takes at `now_ms`.
    pub(super) fn intake_available_bytes(&self, now_ms: u64) -> u64 {
        self.intake.available_bytes(now_ms)
    }

    /// Counts an entry as refused for the allowance at `at_ms`.
    pub(super) fn note_intake_refused(&mut self, at_ms: u64) {
        self.intake_refused_ms = Some(self.intake_refused_ms.unwrap_or(0).max(at_ms));
    }

    /// The intake allowance's limit.
    pub(super) fn intake_limit(&self) -> IntakeLimit {
        self.intake.limit()
    }

    /// When an entry was last refused for the allowance, UTC ms (since the link was loaded).
    pub(super) fn intake_refused_ms(&self) -> Option<u64> {
        self.intake_refused_ms
    }

    /// When the intake allowance will hold `bytes`, UTC ms.
    pub(super) fn intake_holds_at_ms(&self, bytes: u64) -> u64 {
        self.intake.holds_at_ms(bytes)
    }

    /// Changes the intake allowance's limit, keeping what was spent.
    pub(super) fn set_intake_limit(&mut self, limit: IntakeLimit) {
        self.intake.set_limit(limit);
    }

    /// Counts `bytes` the peer made this station store before the link was loaded against
    /// its allowance.
    pub(super) fn spend_intake(&mut self, now_ms: u64, bytes: u64) {
        self.intake.spend(now_ms, bytes);
    }

    /// Forgets what was decapsulated with the epoch key `id` (it is being erased).
    pub(super) fn forget_key(&mut self, id: &crate::id::EpochKeyId) {
        self.opener.forget(id);
    }

    /// The contiguous head.
    pub(super) fn head(&self) -> u64 {
        self.ids.len() as u64
    }

    /// The id of the last delivered entry.
    pub(super) fn head_id(&self) -> EntryId {
        self.ids.last().copied().unwrap_or(EntryId::NONE)
    }

    /// Entries held above the head.
    pub(super) fn held(&self) -> usize {
        self.held.len()
    }

    /// Whether the peer's entry `seq` is stored: delivered, or held above the head.
    pub(super) fn holds(&self, seq: u64) -> bool {
        seq <= self.head() || self.held.contains_key(&seq)
    }

    /// Seqs held above the head, ascending.
    pub(super) fn held_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.held.keys().copied()
    }

    /// Asks for a receipt at the next timeout.
    pub(super) fn want_receipt(&mut self) {
        self.receipt_due = true;
    }

    /// Whether a receipt is due; clears the flag.
    pub(super) fn take_receipt_due(&mut self) -> bool {
        std::mem::take(&mut self.receipt_due)
    }

    /// Whether a receipt is due.
    pub(super) fn receipt_due(&self) -> bool {
        self.receipt_due
    }

    /// The id held for a peer seq, delivered or above the head.
    fn held_id(&self, seq: u64) -> Option<EntryId> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.ids
            .get(index)
            .copied()
            .or_else(|| self.held.get(&seq).map(|held| held.entry_id))
    }

    /// The bytes of the allowance kept for an entry refused below `seq`, if any.
    fn intake_reserved(&self, seq: u64) -> usize {
        match self.intake_blocked {
            Some((blocked, bytes)) if seq > blocked => bytes as usize,
            _ => 0,
        }
    }

    /// Whether [`Incoming::accept`] would open an envelope of this link at `seq`: it is not
    /// the seq of an entry held, and it is within the window (the allowance is checked
    /// apart).
    fn would_open(&self, seq: u64) -> bool {
        self.held_id(seq).is_none() && seq <= self.head() + REORDER_WINDOW_MAX_ENTRIES
    }

    /// Opens `envelope` (the peer's: its signature verified) as [`Incoming::accept`] would,
    /// when it would, and gathers its entry's signature into `batch`: the id of the entry,
    /// to be trusted only once `batch` verifies. Nothing else changes but the opener's cache
    /// of decapsulations, which `accept` would fill with the same envelope.
    pub(super) fn preopen(
        &mut self,
        (link, me, peer): (LinkId, StationId, StationId),
        keyring: &Keyring,
        envelope: &Envelope,
        batch: &mut crate::ed25519::Batch,
    ) -> Option<SignedEntry> {
        let addressed = envelope.link == link && envelope.to == me && envelope.from == peer;
        if !addressed || !self.would_open(envelope.seq) {
            return None;
        }
        // An entry that may be over the allowance is left to `accept`, which refuses it
        // unopened if it is.
        let needed = envelope.ciphertext.len() + self.intake_reserved(envelope.seq);
        if !self.intake.fitted(needed) {
            return None;
        }
        let plaintext = self.open((link, me, peer), keyring, envelope).ok()?;
        let entry = SignedEntry::decode_in(&plaintext, &peer, batch).ok()?;
        (entry.id() == envelope.entry_id).then_some(entry)
    }

    fn open(
        &mut self,
        (link, me, peer): (LinkId, StationId, StationId),
        keyring: &Keyring,
        envelope: &Envelope,
    ) -> Result<Vec<u8>, Rejection> {
        let parties = SealParties {
            link,
            from: peer,
            to: me,
        };
        self.opener.open(
            keyring,
            &parties,
            &envelope.key_id,
            &envelope.encapsulated,
            envelope.seq,
            &envelope.entry_id,
            &envelope.ciphertext,
        )
    }

    /// Accepts an envelope from the peer, authenticated by the endpoint: dedupes before
    /// decrypting, then opens, verifies the entry and its place in the chain, and stores it.
    /// An entry whose signature was checked in a batch with the envelope's (`preverified`) is
    /// taken as it was opened then, or, when only its id was kept, opened again and only
    /// decoded: the bytes must be the ones checked. `wrote` tells whether this station wrote
    /// an entry: the only ones the peer can have seen.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn accept(
        &mut self,
        (link, me, peer): (LinkId, StationId, StationId),
        now_ms: u64,
        keyring: &Keyring,
        (envelope, preverified): (&VerifiedEnvelope, Option<BatchChecked>),
        raw: &[u8],
        wrote: impl Fn(&EntryId) -> bool,
        fx: &mut Effects,
    ) -> Result<Arrival, Rejection> {
        let envelope = envelope.envelope();
        if envelope.link != link || envelope.to != me || envelope.from != peer {
            return Err(Rejection::Misaddressed);
        }
        let seq = envelope.seq;
        if let Some(held) = self.held_id(seq) {
            if held == envelope.entry_id {
                fx.counters.duplicates_dropped += 1;
                self.receipt_due = true;
                return Ok(Arrival::Duplicate);
            }
            let detail = format!(
                "seq {seq} held as {} but also signed as {}: {FORKED_WHY}",
                held.to_hex(),
                envelope.entry_id.to_hex()
            );
            fx.evidence(now_ms, EvidenceKind::Equivocation, seq, detail, raw);
            return Err(Rejection::Equivocation { seq });
        }
        let head = self.head();
        if seq > head + REORDER_WINDOW_MAX_ENTRIES {
            return Err(Rejection::OutOfWindow { seq, head });
        }
        // Before opening: an entry over the allowance costs this station nothing more. It
        // is charged as sealed: what is stored, and the AEAD's tag. One above an entry
        // refused for the allowance needs room for both.
        let sealed = envelope.ciphertext.len();
        let reserved = self.intake_reserved(seq);
        if let Err(wait_ms) = self.intake.check(now_ms, sealed.saturating_add(reserved)) {
            if self.intake_blocked.is_none_or(|(blocked, _)| seq < blocked) {
                self.intake_blocked = Some((seq, sealed as u64));
            }
            return Err(self.over_intake(now_ms, sealed, wait_ms));
        }
        let entry = match preverified {
            // Opened from this envelope, its signature checked under the peer's key; refused,
            // as opening it again would be, if its epoch key was erased since.
            Some(BatchChecked::Entry(entry)) => {
                if keyring.get(&envelope.key_id).is_none() {
                    return Err(Rejection::UnknownEpochKey {
                        key: envelope.key_id.to_string(),
                        seq,
                    });
                }
                *entry
            }
            // The bytes checked (an id is its bytes' hash): they verified under the peer's
            // key and named the peer as author.
            Some(BatchChecked::Id(id)) => {
                let plaintext = self.open((link, me, peer), keyring, envelope)?;
                let entry = SignedEntry::decode_stored(&plaintext, &id)?;
                if entry.entry().author != peer {
                    let field = "author";
                    return Err(DecodeError::Field {
                        what: "entry",
                        field,
                    }
                    .into());
                }
                entry
            }
            None => {
                let plaintext = self.open((link, me, peer), keyring, envelope)?;
                SignedEntry::decode_verified(&plaintext, &peer)?
            }
        };
        if entry.id() != envelope.entry_id {
            return Err(Rejection::HeaderMismatch("entry id"));
        }
        if entry.entry().seq != seq || entry.entry().link != link {
            return Err(Rejection::HeaderMismatch("seq or link"));
        }
        // What the peer had read of our log: nothing, or one of our entries. Anything else
        // is a statement no transcript could verify (docs/formats.md §8.2, S1).
        let seen = entry.entry().seen;
        if seen != EntryId::NONE && !wrote(&seen) {
            return Err(Rejection::UnknownSeen);
        }
        let ahead_ms = entry.entry().time_ms.saturating_sub(now_ms);
        if ahead_ms > ENTRY_FUTURE_SKEW_MS_MAX {
            return Err(Rejection::ClockSkew { ahead_ms });
        }
        let prev = entry.entry().prev;
        if seq == head + 1 && prev != self.head_id() {
            let detail = format!(
                "seq {seq} names prev {} which is not held: {FORKED_WHY}",
                prev.to_hex()
            );
            fx.evidence(now_ms, EvidenceKind::Fork, seq, detail, raw);
            return Err(Rejection::Fork { seq });
        }
        fx.counters.envelopes_accepted += 1;
        self.intake.spend(now_ms, sealed as u64);
        if self
            .intake_blocked
            .is_some_and(|(blocked, _)| blocked == seq)
        {
            self.intake_blocked = None;
        }
        Ok(Arrival::New {
            key: self.hold(now_ms, entry, fx),
        })
    }

    /// Takes the peer's next entry after the contiguous head from a transcript (`entry`,
    /// verified under the peer's key), as [`Incoming::accept`] takes one opened from an
    /// envelope: its `prev` the head's, its `seen` an entry this station wrote, its time not
    /// ahead of this station's clock, and within the peer's intake allowance, charged as it
    /// would be sealed (the peer made the file: it must not fill this station's disk either;
    /// and it is charged as an entry the peer sends again after a restore is, so that a
    /// restart charges what it stored alike). One already held (delivered, or held above a gap
    /// that the entries before it filled) is a duplicate.
    pub(super) fn take(
        &mut self,
        (link, now_ms): (LinkId, u64),
        entry: SignedEntry,
        wrote: impl Fn(&EntryId) -> bool,
        fx: &mut Effects,
    ) -> Result<Arrival, Rejection> {
        let fields = entry.entry();
        let seq = fields.seq;
        if fields.link == link && self.held_id(seq) == Some(entry.id()) {
            return Ok(Arrival::Duplicate);
        }
        if fields.link != link || seq != self.head() + 1 {
            return Err(Rejection::HeaderMismatch("seq or link"));
        }
        if self.held_id(seq).is_some() || fields.prev != self.head_id() {
            return Err(Rejection::Fork { seq });
        }
        if fields.seen != EntryId::NONE && !wrote(&fields.seen) {
            return Err(Rejection::UnknownSeen);
        }
        let ahead_ms = fields.time_ms.saturating_sub(now_ms);
        if ahead_ms > ENTRY_FUTURE_SKEW_MS_MAX {
            return Err(Rejection::ClockSkew { ahead_ms });
        }
        let sealed = IntakeLimit::charge_of(entry.bytes().len());
        if let Err(wait_ms) = self.intake.check(now_ms, sealed) {
            return Err(self.over_intake(now_ms, sealed, wait_ms));
        }
        self.intake.spend(now_ms, sealed as u64);
        // What was kept for this entry, refused for the allowance on a channel, is free.
        if self
            .intake_blocked
            .is_some_and(|(blocked, _)| blocked <= seq)
        {
            self.intake_blocked = None;
        }
        Ok(Arrival::New {
            key: self.hold(now_ms, entry, fx),
        })
    }

    /// The refusal of an entry of `bytes` over the allowance at `now_ms`, which holds it in
    /// `wait_ms`; counted as refused then.
    fn over_intake(&mut self, now_ms: u64, bytes: usize, wait_ms: u64) -> Rejection {
        self.intake_refused_ms = Some(now_ms);
        let limit = self.intake.limit();
        Rejection::OverIntake {
            bytes,
            wait_ms,
            burst_bytes: limit.burst_bytes,
            per_day_bytes: limit.per_day_bytes,
        }
    }

    /// Stores a checked entry of the peer's and delivers what now continues the chain;
    /// returns the epoch key it announces, with its seq.
    fn hold(
        &mut self,
        now_ms: u64,
        entry: SignedEntry,
        fx: &mut Effects,
    ) -> Option<(u64, Vec<u8>)> {
        let (seq, prev) = (entry.entry().seq, entry.entry().prev);
        let key = match &entry.entry().body {
            Body::KeyAnnouncement { public, .. } => Some((seq, public.clone())),
            _ => None,
        };
        let held = Held {
            entry_id: entry.id(),
            prev,
        };
        self.held.insert(seq, held);
        fx.writes.push(StoreOp::StorePeerEntry {
            peer: fx.peer,
            entry,
            received_ms: now_ms,
        });
        self.promote(now_ms, fx);
        self.receipt_due = true;
        key
    }

    /// Moves held entries that now continue the chain into the delivered log.
    fn promote(&mut self, now_ms: u64, fx: &mut Effects) {
        let before = self.head();
        loop {
            let (head, head_id) = (self.head(), self.head_id());
            let Some(next) = self.held.first_entry() else {
                break;
            };
            if *next.key() != head + 1 {
                break;
            }
            if next.get().prev != head_id {
                let seq = *next.key();
                if self.fork_told != Some(seq) {
                    self.fork_told = Some(seq);
                    let detail =
                        format!("held seq {seq} does not continue the chain: {FORKED_WHY}");
                    let id = next.get().entry_id;
                    fx.evidence(now_ms, EvidenceKind::Fork, seq, detail, &id.0);
                }
                break;
            }
            let held = next.remove();
            self.ids.push(held.entry_id);
        }
        let after = self.head();
        if after > before {
            fx.writes.push(StoreOp::AdvanceInHead {
                peer: fx.peer,
                upto: after,
            });
            fx.events.push_back(super::Event::Delivered {
                peer: fx.peer,
                upto: after,
            });
        }
    }

    /// The peer-side fields of the link's snapshot.
    pub(super) fn snapshot_into(&self, snapshot: &mut LinkSnapshot) {
        snapshot.in_ids = self.ids.clone();
        snapshot.in_pending = self
            .held
            .iter()
            .map(|(seq, held)| PendingItem {
                seq: *seq,
                entry_id: held.entry_id,
                prev: held.prev,
            })
            .collect();
    }
}
