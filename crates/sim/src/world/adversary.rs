//! The adversary: frames that are tampered with, reflected, replayed, or signed by Mallory, a
//! station nobody pinned, sometimes with the pinned peer's id written over hers; and envelopes
//! signed with a pinned peer's own key that contradict what the station holds of its log (the
//! key in other hands, or the peer gone rogue): another entry at a seq held, or a next entry
//! that does not continue the log held, each to be kept as evidence.

use parley_proto::envelope::Envelope;
use parley_proto::frame::{Frame, TAG_ENVELOPE, TAG_RECEIPT};
use parley_proto::receipt::Receipt;
use parley_proto::seal::{PeerEpochKey, SealParties, Sealer};
use parley_proto::{Body, Entry, EntryId, EvidenceKind, Identity, LinkId, Precedence, SignedEntry};

use super::{Event, Outcome, Phase, World};

/// Time between two injected frames, in milliseconds (least, most).
pub(super) const ATTACK_GAP_MS: (u64, u64) = (1_000, 10_000);
/// Frames remembered for the adversary to tamper with or replay.
const REPLAY_POOL_FRAMES_MAX: usize = 64;

/// What the adversary injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Attack {
    /// A seen frame with one bit flipped.
    BitFlip,
    /// A seen frame cut short.
    Truncate,
    /// A seen frame sent back to its author.
    Reflect,
    /// An envelope or receipt from Mallory, a station nobody pinned.
    Unpinned,
    /// The same, with the pinned peer's id written over Mallory's.
    ForgedSender,
    /// A seen frame again, much later: authentic, so accepted as a duplicate or late arrival.
    Replay,
    /// An envelope signed with the pinned peer's own key for a seq the station holds, naming
    /// another entry: refused as an equivocation, its signed bytes kept as evidence.
    Equivocate,
    /// An envelope signed with the pinned peer's own key for the seq after the last the
    /// station holds in order, whose entry names another predecessor than that one: it opens,
    /// and is refused as a fork, its signed bytes kept as evidence.
    Fork,
}

impl World {
    /// Remembers a frame on the wire, from one station to another, for later tampering and
    /// replay.
    pub(super) fn remember(&mut self, (from, to): (usize, usize), frame: &std::sync::Arc<[u8]>) {
        if !self.config.attacks {
            return;
        }
        if self.replay_pool.len() < REPLAY_POOL_FRAMES_MAX {
            self.replay_pool.push((from, to, frame.clone()));
        } else {
            let slot = self.dice.below(REPLAY_POOL_FRAMES_MAX as u64) as usize;
            self.replay_pool[slot] = (from, to, frame.clone());
        }
    }

    /// Injects one hostile frame at a station, as if it came off a channel.
    pub(super) fn attack(&mut self) -> Outcome {
        if self.phase != Phase::Workload {
            return Ok(());
        }
        let gap = self.dice.between(ATTACK_GAP_MS);
        self.push(gap, Event::Attack);
        const ATTACKS: [Attack; 8] = [
            Attack::BitFlip,
            Attack::Truncate,
            Attack::Reflect,
            Attack::Replay,
            Attack::Unpinned,
            Attack::ForgedSender,
            Attack::Equivocate,
            Attack::Fork,
        ];
        let mut attack = ATTACKS[self.dice.below(ATTACKS.len() as u64) as usize];
        let seen = self.replay_pool.len() as u64;
        if seen == 0 {
            attack = Attack::Unpinned;
        }
        // At station `to`, claiming to come from station `from`.
        let (from, to, bytes) = match attack {
            Attack::Unpinned | Attack::ForgedSender | Attack::Equivocate | Attack::Fork => {
                let to = self.dice.below(self.stations.len() as u64) as usize;
                let peers: Vec<usize> = self.peers(to).collect();
                let from = peers[self.dice.below(peers.len() as u64) as usize];
                let contradiction = match attack {
                    Attack::Equivocate => self.equivocation((from, to)),
                    Attack::Fork => self.fork((from, to)),
                    _ => None,
                };
                if let Some(frame) = contradiction {
                    self.report.attacks += 1;
                    let channel = self.attack_channel(to, from);
                    return self.frame(to, channel, &frame, (from, Some(attack)));
                }
                if matches!(attack, Attack::Equivocate | Attack::Fork) {
                    // `to` is down, or holds nothing of `from`'s log yet: Mallory's instead.
                    attack = Attack::Unpinned;
                }
                let frame = if self.dice.chance(500) {
                    self.mallory_envelope((from, to), attack)
                } else {
                    self.mallory_receipt((from, to), attack)
                };
                (from, to, frame)
            }
            Attack::BitFlip | Attack::Truncate | Attack::Reflect | Attack::Replay => {
                let (from, to, frame) = self.replay_pool[self.dice.below(seen) as usize].clone();
                let mut bytes = frame.to_vec();
                let len = bytes.len() as u64;
                match attack {
                    Attack::BitFlip => {
                        bytes[self.dice.below(len) as usize] ^= 1 << self.dice.below(8)
                    }
                    Attack::Truncate => bytes.truncate(self.dice.below(len) as usize),
                    _ => {}
                }
                match attack {
                    // Back to its author, as if from the one it was for.
                    Attack::Reflect => (to, from, bytes),
                    _ => (from, to, bytes),
                }
            }
        };
        self.report.attacks += 1;
        let channel = self.attack_channel(to, from);
        self.frame(to, channel, &bytes, (from, Some(attack)))
    }

    /// For [`Attack::ForgedSender`], writes station `from`'s id over Mallory's in a frame she
    /// signed: the claimed sender is then pinned, and only the signature gives the forgery away.
    fn forge_sender(&self, from: usize, frame: &mut [u8]) {
        let (mallory, peer) = (self.mallory.id(), self.id(from));
        let at = frame
            .windows(32)
            .position(|w| w == mallory.0)
            .expect("a signed frame names its signer");
        frame[at..at + 32].copy_from_slice(&peer.0);
    }

    /// An envelope signed by Mallory, sealed to `to`'s real epoch key; as a forgery it names
    /// the real link and `to`'s peer `from` as its sender.
    fn mallory_envelope(&mut self, (from, to): (usize, usize), attack: Attack) -> Vec<u8> {
        let (target, peer, mallory) = (self.id(to), self.id(from), self.mallory.id());
        let forged = attack == Attack::ForgedSender;
        let link = LinkId::between(if forged { &peer } else { &mallory }, &target);
        let body = Body::Message {
            text: "stand down".into(),
            lang: "en".into(),
            exercise: false,
            translations: Vec::new(),
        };
        let entry = Entry {
            link,
            author: mallory,
            seq: 1,
            prev: EntryId::NONE,
            seen: EntryId::NONE,
            time_ms: self.now_ms(),
            precedence: Precedence::Flash,
            body,
            operator: None,
        }
        .sign(&self.mallory);
        let public = self.stations[to].epoch_public.clone();
        let mut frame = self.envelope_of(&self.mallory.clone(), (to, &public), &entry);
        if forged {
            self.forge_sender(from, &mut frame);
        }
        frame
    }

    /// For [`Attack::Equivocate`], an envelope of `from`'s to `to`, signed with `from`'s own
    /// key, for a seq of `from`'s log that `to` holds, naming an entry of other text: none
    /// while `to` is down or holds none of that log.
    fn equivocation(&mut self, (from, to): (usize, usize)) -> Option<Vec<u8>> {
        let author = self.id(from);
        let held = (self.stations[to].core.as_ref())
            .and_then(|core| core.endpoint().link(&author))
            .map_or(0, |link| link.in_head());
        if held == 0 {
            return None;
        }
        let seq = 1 + self.dice.below(held);
        // Refused on its header, before anything is opened: what it is sealed to is moot.
        let public = self.stations[to].epoch_public.clone();
        let made = (EvidenceKind::Equivocation, from, to, seq);
        Some(self.contradiction(made, (EntryId::NONE, self.now_ms()), &public))
    }

    /// For [`Attack::Fork`], an envelope of `from`'s to `to`, signed with `from`'s own key,
    /// for the seq after the last of `from`'s log that `to` holds in order, naming another
    /// predecessor: sealed to `to`'s current epoch key and dated by `to`'s clock, so that it
    /// opens and only its place in the chain is wrong. None while `to` is down or holds
    /// nothing of `from`'s log yet.
    fn fork(&mut self, (from, to): (usize, usize)) -> Option<Vec<u8>> {
        let author = self.id(from);
        let core = self.stations[to].core.as_ref()?;
        // A log's first entry is its key announcement, refused as malformed otherwise.
        let head = core.endpoint().link(&author)?.in_head();
        if head == 0 {
            return None;
        }
        let public = core.endpoint().keyring().current().public_bytes().to_vec();
        let made = (EvidenceKind::Fork, from, to, head + 1);
        Some(self.contradiction(made, (EntryId([0xf0; 32]), self.clock(to)), &public))
    }

    /// An envelope of `from`'s to `to` for `seq`, signed with `from`'s own key, whose entry
    /// names `prev` and is dated `time_ms`, sealed to `to`'s epoch key `public`; remembered
    /// as a contradiction of the `kind` made.
    fn contradiction(
        &mut self,
        (kind, from, to, seq): (EvidenceKind, usize, usize, u64),
        (prev, time_ms): (EntryId, u64),
        public: &[u8],
    ) -> Vec<u8> {
        let (author, target) = (self.id(from), self.id(to));
        let body = Body::Message {
            text: "what was never said".into(),
            lang: "en".into(),
            exercise: false,
            translations: Vec::new(),
        };
        let identity = self.stations[from].identity.clone();
        let entry = Entry {
            link: LinkId::between(&author, &target),
            author,
            seq,
            prev,
            seen: EntryId::NONE,
            time_ms,
            precedence: Precedence::Flash,
            body,
            operator: None,
        }
        .sign(&identity);
        let frame = self.envelope_of(&identity, (to, public), &entry);
        self.contradictions
            .insert((kind, from, to, seq, entry.id()));
        frame
    }

    /// An envelope frame `signer` signs around `entry` (its own, on its link with station
    /// `to`), sealed to `to`'s epoch key `public`.
    fn envelope_of(
        &mut self,
        signer: &Identity,
        (to, public): (usize, &[u8]),
        entry: &SignedEntry,
    ) -> Vec<u8> {
        let (link, target) = (entry.entry().link, self.id(to));
        let key = PeerEpochKey::from_bytes(public).expect("a station's own key is valid");
        let parties = SealParties {
            link,
            from: signer.id(),
            to: target,
        };
        let (now_ms, id, seq) = (self.now_ms(), entry.id(), entry.entry().seq);
        let rng = &mut self.dice.0;
        let sealed = Sealer::seal(
            &mut None,
            rng,
            now_ms,
            &parties,
            &key,
            seq,
            &id,
            entry.bytes(),
        );
        let envelope = Envelope::sign(signer, link, target, seq, id, sealed);
        Frame::encode(TAG_ENVELOPE, &envelope)
    }

    /// A receipt signed by Mallory; as a forgery it claims, for `to`'s peer `from`, to hold
    /// all of `to`'s log to it — accepted, it would empty that outbox and lose every
    /// unreceipted message.
    fn mallory_receipt(&self, (from, to): (usize, usize), attack: Attack) -> Vec<u8> {
        let (target, peer, mallory) = (self.id(to), self.id(from), self.mallory.id());
        let forged = attack == Attack::ForgedSender;
        let own = self.stations[to]
            .store
            .link_snapshot(&peer)
            .map(|snapshot| snapshot.out_ids)
            .unwrap_or_default();
        let receipt = Receipt {
            link: LinkId::between(if forged { &peer } else { &mallory }, &target),
            from: mallory,
            to: target,
            upto: own.len() as u64,
            head: own.last().copied().unwrap_or(EntryId::NONE),
            extra: Vec::new(),
            time_ms: self.now_ms(),
        };
        let mut frame = Frame::encode(TAG_RECEIPT, &receipt.sign(&self.mallory));
        if forged {
            self.forge_sender(from, &mut frame);
        }
        frame
    }
}
