//! The endpoint: this station's identity and epoch keys, and one [`Link`] per pinned peer.
//! It authenticates every frame before any link sees it: a frame whose signer is not pinned
//! is rejected and counted here.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};

use crate::entry::{Body, Precedence, SignedEntry};
use crate::envelope::Envelope;
use crate::error::{DecodeError, RecoverError, Rejection, SendError};
use crate::frame::Frame;
use crate::id::{EntryId, EpochKeyId, Identity, StationId, sha256};
use crate::link::{BatchChecked, Delivery, Event, Link, Recovered, Transmit};
use crate::receipt::{Receipt, VerifiedReceipt};
use crate::seal::{EpochSecret, Keyring};
use crate::store_op::{LinkSnapshot, StoreOp};

/// What a frame carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// An envelope (a sealed entry).
    Envelope,
    /// A receipt.
    Receipt,
}

/// Envelopes per peer whose digests are kept once their signatures verified, so that a copy
/// of the same bytes (from another channel, a retransmission, a relay or a courier bundle
/// delivering it again) is not verified again: about 64 KiB per peer (each digest is kept
/// in an order queue and a set).
pub const VERIFIED_ENVELOPES_REMEMBERED_MAX: usize = 1024;

/// Digests of envelopes checked in a batch and not yet handled that the endpoint keeps: the
/// frames of one round of a daemon's loop with a relay batch in it fit; frames beyond it (of
/// a larger courier bundle) are checked alone.
pub const PREVERIFIED_ENVELOPES_MAX: usize = 16_384;

/// Bytes of the entries opened and checked in a batch that the endpoint keeps until their
/// frames are handled, so that each is opened and decoded once: the entries of one round of a
/// daemon's loop fit. Beyond it only an entry's id is kept, and its frame's handling opens
/// and decodes it again (without checking its signature again). Counted as signed bytes; an
/// entry kept also holds its decoded fields, up to as much again in memory.
pub const PREVERIFIED_ENTRY_BYTES_MAX: usize = 16 << 20;

/// The digests of the last [`VERIFIED_ENVELOPES_REMEMBERED_MAX`] envelopes of one peer whose
/// signatures verified, oldest first out.
#[derive(Default)]
struct VerifiedDigests {
    order: VecDeque<[u8; 32]>,
    held: HashSet<[u8; 32]>,
}

impl VerifiedDigests {
    fn contains(&self, digest: &[u8; 32]) -> bool {
        self.held.contains(digest)
    }

    fn insert(&mut self, digest: [u8; 32]) {
        if !self.held.insert(digest) {
            return;
        }
        self.order.push_back(digest);
        if self.order.len() > VERIFIED_ENVELOPES_REMEMBERED_MAX {
            let oldest = self.order.pop_front().expect("longer than the bound");
            self.held.remove(&oldest);
        }
    }
}

/// A frame the endpoint accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The pinned peer it came from (its signature verified).
    pub peer: StationId,
    /// What it carried.
    pub kind: FrameKind,
    /// An envelope already held, dropped before decryption.
    pub duplicate: bool,
}

/// A frame the endpoint refused. Nothing was stored but evidence, when the refusal is an
/// equivocation or a fork.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The station the frame claims to come from, when it could be read (unverified: use it
    /// only to count the refusal against the right channel).
    pub claimed: Option<StationId>,
    /// What the frame claimed to carry, when its tag could be read.
    pub kind: Option<FrameKind>,
    /// Why.
    pub rejection: Rejection,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.rejection.fmt(f)
    }
}

/// This station's protocol state.
pub struct Endpoint {
    me: Identity,
    keyring: Keyring,
    rng: ChaCha20Rng,
    links: BTreeMap<StationId, Link>,
    unattributed_rejections: BTreeMap<&'static str, u64>,
    /// The latest `now_ms` seen: time never goes backwards.
    now_ms: u64,
    /// Per peer, the last receipt whose signature verified, as received: the same bytes again
    /// (the copy on another channel, a retransmission) need no second check.
    verified_receipts: BTreeMap<StationId, (Vec<u8>, VerifiedReceipt)>,
    /// Receipts taken as the byte-identical copy of one already verified.
    receipt_checks_skipped: u64,
    /// Per peer, the digests of the last envelopes whose signatures verified.
    verified_envelopes: BTreeMap<StationId, VerifiedDigests>,
    /// Envelopes taken as the byte-identical copy of one already verified.
    envelope_checks_skipped: u64,
    /// Digests of envelopes whose signatures [`Endpoint::preverify`] checked as a batch, not
    /// yet handled (each leaves when its frame is handled), each with the entry it seals when
    /// that entry's signature was in the batch too.
    preverified: HashMap<[u8; 32], Option<BatchChecked>>,
    /// Bytes of the entries kept whole in `preverified`.
    preverified_entry_bytes: usize,
    /// Envelope signatures checked in batches.
    envelope_checks_batched: u64,
    /// Entry signatures checked in batches.
    entry_checks_batched: u64,
    /// Entries checked in batches and opened again (only their ids kept).
    entries_opened_again: u64,
}

impl Endpoint {
    /// A new endpoint. `seed` feeds HPKE encapsulation randomness: from the OS in a station,
    /// from the run's seed in the simulation.
    pub fn new(me: Identity, keyring: Keyring, seed: [u8; 32]) -> Self {
        Self {
            me,
            keyring,
            rng: ChaCha20Rng::from_seed(seed),
            links: BTreeMap::new(),
            unattributed_rejections: BTreeMap::new(),
            now_ms: 0,
            verified_receipts: BTreeMap::new(),
            receipt_checks_skipped: 0,
            verified_envelopes: BTreeMap::new(),
            envelope_checks_skipped: 0,
            preverified: HashMap::new(),
            preverified_entry_bytes: 0,
            envelope_checks_batched: 0,
            entry_checks_batched: 0,
            entries_opened_again: 0,
        }
    }

    /// Checks the signatures of the envelopes among `frames` (from pinned peers, not known
    /// already) as one batch ([`crate::ed25519::Batch`]), so that [`Endpoint::handle_frame`]
    /// takes each of them, when it comes, without checking it alone; then, once that batch
    /// verified, opens each envelope its link would open and checks the signatures of the
    /// entries inside as a second batch, so that each entry is then only decoded. A frame's
    /// outcome is not decided here: a failed batch leaves each signature it held to be checked
    /// alone as its frame is handled, with the same outcome as if this had not been called.
    /// Only the envelopes' digests are kept, with their entries, each until its frame is
    /// handled (at most [`PREVERIFIED_ENVELOPES_MAX`], and [`PREVERIFIED_ENTRY_BYTES_MAX`] of
    /// entries, beyond which only their ids; calls nest, as a relay batch taken in the
    /// driver's round does). Nothing is opened before its envelope's signature verified,
    /// so a forged frame costs what it cost checked alone. Returns how many envelope
    /// signatures the batch covered (0 when fewer than two could be gathered, or it failed).
    pub fn preverify<'a>(&mut self, frames: impl IntoIterator<Item = &'a [u8]>) -> usize {
        self.preverify_within(
            frames,
            (PREVERIFIED_ENVELOPES_MAX, PREVERIFIED_ENTRY_BYTES_MAX),
        )
    }

    /// [`Endpoint::preverify`] with the bound handed in, so tests can reach both sides of it.
    #[doc(hidden)]
    pub fn preverify_within<'a>(
        &mut self,
        frames: impl IntoIterator<Item = &'a [u8]>,
        (kept_max, entry_bytes_max): (usize, usize),
    ) -> usize {
        let room = kept_max.saturating_sub(self.preverified.len());
        let frames: Vec<&[u8]> = frames.into_iter().take(room).collect();
        if frames.len() < 2 {
            return 0;
        }
        let mut batch = crate::ed25519::Batch::new();
        let mut gathered: Vec<([u8; 32], Envelope)> = Vec::new();
        let mut digests = HashSet::new();
        for bytes in frames {
            let Ok(Frame::Envelope(raw)) = Frame::parse(bytes) else {
                continue;
            };
            let Ok(unverified) = Envelope::peek(raw) else {
                continue;
            };
            let from = unverified.claimed_from();
            let digest = sha256(&[raw]);
            let known = self
                .verified_envelopes
                .get(&from)
                .is_some_and(|known| known.contains(&digest));
            let held = digests.contains(&digest) || self.preverified.contains_key(&digest);
            if known || held || !self.links.contains_key(&from) {
                continue;
            }
            if let Ok(envelope) = unverified.gather(&mut batch) {
                digests.insert(digest);
                gathered.push((digest, envelope));
            }
        }
        if gathered.len() < 2 || batch.verify().is_err() {
            return 0;
        }
        // Each envelope is its sender's: open those their links would open.
        let mut entries = crate::ed25519::Batch::new();
        let opened: Vec<([u8; 32], Option<SignedEntry>)> = gathered
            .iter()
            .map(|(digest, envelope)| {
                let link = self.links.get_mut(&envelope.from).expect("gathered above");
                (*digest, link.preopen(&self.keyring, envelope, &mut entries))
            })
            .collect();
        let entries_good = entries.verify().is_ok();
        let covered = opened.len();
        for (digest, entry) in opened {
            let checked = entry.filter(|_| entries_good).map(|entry| {
                let bytes = entry.bytes().len();
                if self.preverified_entry_bytes + bytes <= entry_bytes_max {
                    self.preverified_entry_bytes += bytes;
                    BatchChecked::Entry(Box::new(entry))
                } else {
                    BatchChecked::Id(entry.id())
                }
            });
            // Never held already (gathered above only when not), but kept balanced if it were.
            if let Some(Some(BatchChecked::Entry(replaced))) =
                self.preverified.insert(digest, checked)
            {
                self.preverified_entry_bytes -= replaced.bytes().len();
            }
        }
        covered
    }

    /// Takes what [`Endpoint::preverify`] checked of the envelope of `digest`, if it did.
    fn take_preverified(&mut self, digest: &[u8; 32]) -> Option<Option<BatchChecked>> {
        let checked = self.preverified.remove(digest)?;
        if let Some(BatchChecked::Entry(entry)) = &checked {
            self.preverified_entry_bytes -= entry.bytes().len();
        }
        Some(checked)
    }

    /// Entries taken on a signature checked in a batch ([`Endpoint::preverify`]), with the
    /// envelope that sealed them.
    pub fn entry_checks_batched(&self) -> u64 {
        self.entry_checks_batched
    }

    /// Entries checked in a batch ([`Endpoint::preverify`]) that were opened and decoded
    /// again when their frames were handled, because only their ids were kept
    /// ([`PREVERIFIED_ENTRY_BYTES_MAX`]).
    pub fn entries_opened_again(&self) -> u64 {
        self.entries_opened_again
    }

    /// Envelopes taken on a signature checked in a batch ([`Endpoint::preverify`]).
    pub fn envelope_checks_batched(&self) -> u64 {
        self.envelope_checks_batched
    }

    /// Receipts that were the byte-identical copy of one already verified, whose signature
    /// was therefore not checked again.
    pub fn receipt_checks_skipped(&self) -> u64 {
        self.receipt_checks_skipped
    }

    /// Envelopes that were the byte-identical copy of one already verified, whose signature
    /// was therefore not checked again.
    pub fn envelope_checks_skipped(&self) -> u64 {
        self.envelope_checks_skipped
    }

    /// Asserts that `now_ms` is not before any time this endpoint was given.
    fn tick(&mut self, now_ms: u64) {
        assert!(
            now_ms >= self.now_ms,
            "time went backwards: {now_ms} ms after {} ms",
            self.now_ms
        );
        self.now_ms = now_ms;
    }

    /// This station's identity.
    pub fn identity(&self) -> &Identity {
        &self.me
    }

    /// This station's epoch keys.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Makes a new epoch key current and announces it on every link, in each link's log
    /// order; returns the key, for the caller to store with the entries, and the peers where
    /// the announcement was refused, with why: the outbox is full (announce there later with
    /// [`Endpoint::announce_epoch`]), or the link takes no more entries. The previous
    /// keys stay held: the peers seal to them until they read the announcement.
    pub fn rotate_epoch(&mut self, now_ms: u64) -> (EpochSecret, Vec<(StationId, SendError)>) {
        self.tick(now_ms);
        let key = EpochSecret::generate(&mut self.rng);
        // The generator's state could make the key again: reseeded from its own output, the
        // state that made it is gone, and erasing the key later erases it for good.
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        self.rng = ChaCha20Rng::from_seed(seed);
        self.keyring.rotate(key.clone());
        let peers: Vec<StationId> = self.links.keys().copied().collect();
        let refused = peers
            .into_iter()
            .filter_map(|peer| Some((peer, self.announce_epoch(now_ms, &peer).err()?)))
            .collect();
        (key, refused)
    }

    /// Announces the current epoch key on the link with `peer` (a new entry). `peer` is
    /// paired.
    pub fn announce_epoch(
        &mut self,
        now_ms: u64,
        peer: &StationId,
    ) -> Result<(u64, EntryId), SendError> {
        self.tick(now_ms);
        let current = self.keyring.current();
        let body = Body::KeyAnnouncement {
            key_id: current.id(),
            public: current.public_bytes().to_vec(),
        };
        let link = self
            .links
            .get_mut(peer)
            .expect("an epoch key is announced to a paired peer");
        link.append(now_ms, &mut self.rng, Precedence::Routine, body)
    }

    /// Forgets a retained epoch key: what was sealed to it no longer opens here. Returns
    /// whether it was held. The current key is never erased.
    pub fn erase_epoch(&mut self, id: &EpochKeyId) -> bool {
        for link in self.links.values_mut() {
            link.forget_epoch(id);
        }
        self.keyring.erase(id)
    }

    /// Loads a link from its snapshot.
    pub fn load_link(
        &mut self,
        peer: StationId,
        snapshot: LinkSnapshot,
    ) -> Result<(), DecodeError> {
        let link = Link::new(self.me.clone(), peer, snapshot)?;
        self.links.insert(peer, link);
        Ok(())
    }

    /// Pairs with a new peer: creates its link and writes the first entry, the announcement of
    /// this station's current epoch key.
    pub fn pair(
        &mut self,
        now_ms: u64,
        peer: StationId,
        peer_epoch_public: Vec<u8>,
    ) -> Result<(), DecodeError> {
        self.tick(now_ms);
        assert!(!self.links.contains_key(&peer), "peer is already paired");
        let snapshot = LinkSnapshot {
            peer_epoch_public,
            ..LinkSnapshot::default()
        };
        let mut link = Link::new(self.me.clone(), peer, snapshot)?;
        let current = self.keyring.current();
        let body = Body::KeyAnnouncement {
            key_id: current.id(),
            public: current.public_bytes().to_vec(),
        };
        link.append(now_ms, &mut self.rng, Precedence::Routine, body)
            .expect("a new link's outbox is empty");
        self.links.insert(peer, link);
        Ok(())
    }

    /// Seals again own entries `peer` lost ([`crate::Event::Lost`]), read from the store:
    /// each seq asked for and its signed bytes. A peer not paired is ignored.
    pub fn reseal(&mut self, now_ms: u64, peer: &StationId, entries: &[(u64, Vec<u8>)]) {
        self.tick(now_ms);
        if let Some(link) = self.links.get_mut(peer) {
            link.reseal(now_ms, &mut self.rng, entries);
        }
    }

    /// Takes back own entries this store lost to an older copy, and the peer's it lacks, from
    /// a transcript of the link (docs/cli.md, `transcript recover`): `own` are this station's,
    /// verified under its key, continuing the own log from its end; `theirs` the peer's,
    /// verified under the peer's, from the contiguous head on ([`Link::recover`]).
    /// `receipt`, a signed receipt of the peer's of the own entries from the same file, is
    /// then applied as one arriving on a channel would be: what it covers is delivered.
    /// Refused, it changes nothing: the entries go out again, and the peer receipts them.
    /// `peer` is paired.
    pub fn recover(
        &mut self,
        now_ms: u64,
        peer: &StationId,
        (own, theirs): (Vec<SignedEntry>, Vec<SignedEntry>),
        receipt: Option<&[u8]>,
    ) -> Result<Recovered, RecoverError> {
        self.tick(now_ms);
        let link = self
            .links
            .get_mut(peer)
            .expect("entries are recovered for a paired peer");
        let recovered = link.recover(now_ms, &mut self.rng, own, theirs)?;
        if let Some(raw) = receipt
            && let Ok(verified) = Receipt::verified(raw, peer)
        {
            // A refusal is counted as one on a channel would be, and changes nothing.
            let _ = link.handle_receipt(now_ms, verified, raw);
        }
        Ok(recovered)
    }

    /// Seals again outstanding own entries to `peer`'s epoch key in use
    /// ([`crate::Event::Rekey`]), read from the store: each seq asked for and its signed bytes
    /// (none: the store could not read them). A peer not paired is ignored.
    pub fn rekey(&mut self, now_ms: u64, peer: &StationId, entries: &[(u64, Vec<u8>)]) {
        self.tick(now_ms);
        if let Some(link) = self.links.get_mut(peer) {
            link.rekey(now_ms, &mut self.rng, entries);
        }
    }

    /// The link with `peer`.
    pub fn link(&self, peer: &StationId) -> Option<&Link> {
        self.links.get(peer)
    }

    /// The link with `peer`, mutably.
    pub fn link_mut(&mut self, peer: &StationId) -> Option<&mut Link> {
        self.links.get_mut(peer)
    }

    /// All links.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.links.values()
    }

    /// Rejections of frames whose signer is not pinned or could not be read.
    pub fn unattributed_rejections(&self) -> &BTreeMap<&'static str, u64> {
        &self.unattributed_rejections
    }

    /// Sends an operator's message to `peer`. The caller checked that the peer is paired.
    pub fn send_message(
        &mut self,
        now_ms: u64,
        peer: &StationId,
        precedence: Precedence,
        (text, lang): (&str, &str),
        exercise: bool,
    ) -> Result<(u64, EntryId), SendError> {
        self.tick(now_ms);
        let link = self
            .links
            .get_mut(peer)
            .expect("send_message is called for paired peers only");
        link.send_message(now_ms, &mut self.rng, precedence, (text, lang), exercise)
    }

    /// Appends an entry of any kind to the log of the link with `peer`, sealed and queued on
    /// every channel. The caller checked that the peer is paired.
    pub fn append(
        &mut self,
        now_ms: u64,
        peer: &StationId,
        precedence: Precedence,
        body: Body,
    ) -> Result<(u64, EntryId), SendError> {
        self.append_by(now_ms, peer, None, precedence, body)
    }

    /// Appends an entry an operator wrote, their name in its header ([`Link::append_by`]).
    pub fn append_by(
        &mut self,
        now_ms: u64,
        peer: &StationId,
        operator: Option<String>,
        precedence: Precedence,
        body: Body,
    ) -> Result<(u64, EntryId), SendError> {
        self.tick(now_ms);
        let link = self
            .links
            .get_mut(peer)
            .expect("append is called for paired peers only");
        link.append_by(now_ms, &mut self.rng, operator, precedence, body)
    }

    fn unattributed(
        &mut self,
        claimed: Option<StationId>,
        kind: Option<FrameKind>,
        rejection: Rejection,
    ) -> Refused {
        *self
            .unattributed_rejections
            .entry(rejection.counter_name())
            .or_default() += 1;
        Refused {
            claimed,
            kind,
            rejection,
        }
    }

    /// Handles a frame from any channel: authenticates it against the pinned keys, then hands
    /// it to its link.
    pub fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> Result<Accepted, Refused> {
        self.tick(now_ms);
        match Frame::parse(bytes) {
            Ok(Frame::Envelope(raw)) => self.handle_envelope(now_ms, raw),
            Ok(Frame::Receipt(raw)) => self.handle_receipt(now_ms, raw),
            Err(rejection) => Err(self.unattributed(None, None, rejection)),
        }
    }

    fn handle_envelope(&mut self, now_ms: u64, raw: &[u8]) -> Result<Accepted, Refused> {
        let kind = Some(FrameKind::Envelope);
        let unverified = match Envelope::peek(raw) {
            Ok(unverified) => unverified,
            Err(error) => return Err(self.unattributed(None, kind, error.into())),
        };
        let from = unverified.claimed_from();
        let claimed = Some(from);
        if !self.links.contains_key(&from) {
            let rejection = Rejection::UnknownSender(from.short());
            return Err(self.unattributed(claimed, kind, rejection));
        }
        let digest = sha256(&[raw]);
        let known =
            (self.verified_envelopes.get(&from)).is_some_and(|known| known.contains(&digest));
        let mut entry_checked = None;
        let envelope = if known {
            self.envelope_checks_skipped += 1;
            unverified.verified_before()
        } else if let Some(entry) = self.take_preverified(&digest) {
            self.envelope_checks_batched += 1;
            entry_checked = entry;
            unverified.verified_before()
        } else {
            match unverified.verify() {
                Ok(envelope) => envelope,
                Err(error) => return Err(self.unattributed(claimed, kind, error.into())),
            }
        };
        if !known {
            self.verified_envelopes
                .entry(from)
                .or_default()
                .insert(digest);
        }
        let batched = entry_checked.is_some();
        let by_id = matches!(entry_checked, Some(BatchChecked::Id(_)));
        let link = self.links.get_mut(&from).expect("checked above");
        match link.handle_envelope(now_ms, &self.keyring, (&envelope, entry_checked), raw) {
            Ok(delivery) => {
                let duplicate = delivery == Delivery::Duplicate;
                self.entry_checks_batched += u64::from(batched && !duplicate);
                self.entries_opened_again += u64::from(by_id && !duplicate);
                Ok(Accepted {
                    peer: from,
                    kind: FrameKind::Envelope,
                    duplicate,
                })
            }
            Err(rejection) => Err(Refused {
                claimed,
                kind,
                rejection,
            }),
        }
    }

    fn handle_receipt(&mut self, now_ms: u64, raw: &[u8]) -> Result<Accepted, Refused> {
        let kind = Some(FrameKind::Receipt);
        let from = match Receipt::peek_from(raw) {
            Ok(from) => from,
            Err(error) => return Err(self.unattributed(None, kind, error.into())),
        };
        let claimed = Some(from);
        if !self.links.contains_key(&from) {
            let rejection = Rejection::UnknownSender(from.short());
            return Err(self.unattributed(claimed, kind, rejection));
        }
        let receipt = match self.verified_receipts.get(&from) {
            Some((bytes, verified)) if bytes.as_slice() == raw => {
                self.receipt_checks_skipped += 1;
                verified.clone()
            }
            _ => match Receipt::verified(raw, &from) {
                Ok(receipt) => {
                    let kept = (raw.to_vec(), receipt.clone());
                    self.verified_receipts.insert(from, kept);
                    receipt
                }
                Err(error) => return Err(self.unattributed(claimed, kind, error.into())),
            },
        };
        let link = self.links.get_mut(&from).expect("checked above");
        match link.handle_receipt(now_ms, receipt, raw) {
            Ok(()) => Ok(Accepted {
                peer: from,
                kind: FrameKind::Receipt,
                duplicate: false,
            }),
            Err(rejection) => Err(Refused {
                claimed,
                kind,
                rejection,
            }),
        }
    }

    /// Takes every link's durable changes. Commit them before transmitting.
    pub fn take_writes(&mut self) -> Vec<StoreOp> {
        let mut writes = Vec::new();
        for link in self.links.values_mut() {
            link.take_writes(&mut writes);
        }
        writes
    }

    /// Runs every link's timers.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.tick(now_ms);
        for link in self.links.values_mut() {
            link.handle_timeout(now_ms);
        }
    }

    /// Next frame to transmit, with the peer it is for.
    pub fn poll_transmit(&mut self) -> Option<(StationId, Transmit)> {
        self.links
            .values_mut()
            .find_map(|link| link.poll_transmit().map(|t| (link.peer(), t)))
    }

    /// Earliest deadline of any link.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.links.values().filter_map(Link::poll_timeout).min()
    }

    /// Next event of any link.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.links.values_mut().find_map(Link::poll_event)
    }
}

#[cfg(test)]
mod tests {
    use super::{VERIFIED_ENVELOPES_REMEMBERED_MAX, VerifiedDigests};

    fn digest(n: usize) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
        bytes
    }

    /// Up to the bound every digest is kept; one more forgets the oldest, and only it.
    #[test]
    fn verified_digests_keep_the_last_ones_up_to_their_bound() {
        let mut known = VerifiedDigests::default();
        for n in 0..VERIFIED_ENVELOPES_REMEMBERED_MAX {
            known.insert(digest(n));
        }
        known.insert(digest(0));
        assert!((0..VERIFIED_ENVELOPES_REMEMBERED_MAX).all(|n| known.contains(&digest(n))));
        assert_eq!(known.order.len(), VERIFIED_ENVELOPES_REMEMBERED_MAX);
        known.insert(digest(VERIFIED_ENVELOPES_REMEMBERED_MAX));
        assert!(!known.contains(&digest(0)));
        assert!((1..=VERIFIED_ENVELOPES_REMEMBERED_MAX).all(|n| known.contains(&digest(n))));
        assert_eq!(known.order.len(), VERIFIED_ENVELOPES_REMEMBERED_MAX);
        assert_eq!(known.held.len(), VERIFIED_ENVELOPES_REMEMBERED_MAX);
    }
}
