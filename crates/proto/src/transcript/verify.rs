//! Verification of one transcript file: docs/formats.md §8.2, check by check in its order.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use super::read::{self, Header, Kind};
use super::{
    EntryAt, Fault, KindCounts, Proven, StationLog, TRANSCRIPT_RECEIPTS_MAX,
    TRANSCRIPT_SIZE_MAX_BYTES, TranscriptError, VerifiedTranscript, Witnessed,
};
use crate::card::ContactCard;
use crate::ed25519::Batch;
use crate::entry::{Body, SignedEntry};
use crate::id::{EntryId, LinkId, StationId};
use crate::pq::PqPublicKey;
use crate::receipt::Receipt;
use crate::tlog::head::{Cosignature, PqHeadSignature, SignedHead, WitnessCosignature};
use crate::tlog::{self, Hash, Tree};

/// Verifies every signature, chain link, `seen` and receipt of a transcript, and that its
/// parts are where they belong. Stops at the first fault and names it.
pub fn verify(input: &[u8]) -> Result<VerifiedTranscript, TranscriptError> {
    verify_within(input, TRANSCRIPT_SIZE_MAX_BYTES)
}

/// [`verify`] with the file size limit handed in, so tests can reach both sides of it.
pub(super) fn verify_within(
    input: &[u8],
    size_max_bytes: usize,
) -> Result<VerifiedTranscript, TranscriptError> {
    let at = |line: usize, fault: Fault| TranscriptError {
        line,
        entry: None,
        fault,
    };
    if input.len() > size_max_bytes {
        let (len, max) = (input.len(), size_max_bytes);
        return Err(at(1, Fault::FileTooLarge { len, max }));
    }
    let mut lines = read::lines(input);
    let (_, first) = lines.next().ok_or_else(|| at(1, Fault::Empty))?;
    let header = read::text(first)
        .and_then(read::header)
        .map_err(|fault| at(1, fault))?;
    let mut file = File::new(header);
    let mut last = 1;
    for (number, raw) in lines {
        last = number;
        // Where the line is in the input, for reading its entry again (`signed_entry`).
        let start = raw.as_ptr() as usize - input.as_ptr() as usize;
        if let Err(fault) = file.line(number, raw, start..start + raw.len()) {
            // An entry above whose signature is still to be checked comes first.
            file.check_signatures()?;
            return Err(fault);
        }
    }
    file.check_signatures()?;
    file.finish(last)
}

/// Entry signatures checked together (E4, `ed25519::Batch`): about half the cost of checking
/// each alone.
pub(super) const ENTRY_SIGNATURES_PER_BATCH: usize = 128;

/// Entries whose signatures wait in a batch, with what names each in an error.
#[derive(Default)]
struct Unchecked {
    batch: Batch,
    entries: Vec<(usize, EntryAt, Vec<u8>, StationId)>,
}

/// A station as read so far.
struct Station {
    identity: StationId,
    pq_key: Option<PqPublicKey>,
    name: String,
    card: Vec<u8>,
    ids: Vec<EntryId>,
    /// The Merkle leaf of each entry, in seq order.
    leaves: Vec<Hash>,
    /// Where in the input each entry's line is, in seq order.
    spans: Vec<Range<usize>>,
    kinds: KindCounts,
    receipted_upto: Option<u64>,
    receipt: Option<Vec<u8>>,
    /// Its checkpoints of its own log, and cosignatures of the other's, where they are.
    checkpoints: Vec<(Place, SignedHead, Option<PqHeadSignature>)>,
    cosignatures: Vec<(Place, Cosignature)>,
    /// Witnesses' cosignatures of its checkpoints, where they are.
    witnessed: Vec<(Place, WitnessCosignature)>,
}

/// Where an entry is: its line, its index among the entries and its seq.
#[derive(Clone, Copy)]
struct Place {
    line: usize,
    index: usize,
    seq: u64,
}

/// An entry kept for the `seen` check at the end of the entries.
struct Seen {
    line: usize,
    index: usize,
    author: usize,
    seq: u64,
    seen: EntryId,
}

/// The file as read so far.
struct File {
    header: Header,
    /// Card 1 (the exporter), then card 2.
    stations: Vec<Station>,
    /// Card slot of the author of the last entry.
    last_author: Option<usize>,
    entries: usize,
    seen: Vec<Seen>,
    receipts: usize,
    unchecked: Unchecked,
}

impl File {
    fn new(header: Header) -> Self {
        Self {
            header,
            stations: Vec::new(),
            last_author: None,
            entries: 0,
            seen: Vec::new(),
            receipts: 0,
            unchecked: Unchecked::default(),
        }
    }

    /// Checks the entry signatures waiting in the batch; when the batch fails, checks each
    /// alone and names the first bad one, as E3 would have named it read alone.
    fn check_signatures(&mut self) -> Result<(), TranscriptError> {
        let Unchecked { batch, entries } = std::mem::take(&mut self.unchecked);
        if batch.verify().is_ok() {
            return Ok(());
        }
        for (line, entry_at, bytes, author) in entries {
            if let Err(error) = SignedEntry::decode_verified(&bytes, &author) {
                return Err(TranscriptError {
                    line,
                    entry: Some(entry_at),
                    fault: Fault::Entry(error),
                });
            }
        }
        Ok(())
    }

    /// Every later line: L1, L2, O1–O8, then the object's own checks.
    fn line(
        &mut self,
        number: usize,
        raw: &[u8],
        span: Range<usize>,
    ) -> Result<(), TranscriptError> {
        let at = |fault| TranscriptError {
            line: number,
            entry: None,
            fault,
        };
        let (kind, value) = read::text(raw).and_then(read::object).map_err(at)?;
        let both_cards = self.stations.len() == 2;
        match kind {
            Kind::Card if both_cards || self.entries > 0 || self.receipts > 0 => {
                return Err(at(Fault::CardsFirst));
            }
            Kind::Entry if !both_cards => return Err(at(Fault::EntryBeforeCards)),
            Kind::Entry if self.receipts > 0 => return Err(at(Fault::EntryAfterReceipt)),
            Kind::Receipt if !both_cards => return Err(at(Fault::ReceiptBeforeCards)),
            Kind::Receipt if self.receipts == 0 => {
                self.check_signatures()?;
                self.check_seen()?;
            }
            Kind::Receipt if self.receipts == TRANSCRIPT_RECEIPTS_MAX => {
                return Err(at(Fault::TooManyReceipts));
            }
            _ => {}
        }
        if kind == Kind::Entry {
            // Counted before anything can fail, so the label names this line.
            self.entries += 1;
        }
        let bytes = read::base64(&value).map_err(at)?;
        match kind {
            Kind::Card => self.card(bytes).map_err(at),
            Kind::Entry => self.entry((number, span), &bytes),
            Kind::Receipt => self.receipt(&bytes).map_err(at),
        }
    }

    fn link(&self) -> LinkId {
        self.header.link
    }

    fn slot(&self, id: &StationId) -> Option<usize> {
        self.stations.iter().position(|s| s.identity == *id)
    }

    /// C1–C3.
    fn card(&mut self, bytes: Vec<u8>) -> Result<(), Fault> {
        let card = ContactCard::decode_verified(&bytes).map_err(Fault::Card)?;
        if self.slot(&card.identity).is_some() {
            return Err(Fault::SameStation);
        }
        self.stations.push(Station {
            identity: card.identity,
            pq_key: card.pq_key,
            name: card.name,
            card: bytes,
            ids: Vec::new(),
            leaves: Vec::new(),
            spans: Vec::new(),
            kinds: KindCounts::default(),
            receipted_upto: None,
            receipt: None,
            checkpoints: Vec::new(),
            cosignatures: Vec::new(),
            witnessed: Vec::new(),
        });
        if let [first, second] = &self.stations[..]
            && LinkId::between(&first.identity, &second.identity) != self.link()
        {
            return Err(Fault::CardsNotOfLink);
        }
        Ok(())
    }

    /// E1–E7.
    fn entry(
        &mut self,
        (number, span): (usize, Range<usize>),
        bytes: &[u8],
    ) -> Result<(), TranscriptError> {
        let mut entry_at = EntryAt {
            index: self.entries,
            author: None,
        };
        let fail = |entry_at: &EntryAt, fault| TranscriptError {
            line: number,
            entry: Some(entry_at.clone()),
            fault,
        };
        let author =
            SignedEntry::author_unverified(bytes).map_err(|e| fail(&entry_at, Fault::Entry(e)))?;
        let slot = self
            .slot(&author)
            .ok_or_else(|| fail(&entry_at, Fault::AuthorUnknown))?;
        let needs = self.stations[slot].ids.len() as u64 + 1;
        entry_at.author = Some((self.stations[slot].name.clone(), needs));
        if let Some(last) = self.last_author
            && self.stations[last].identity > author
        {
            let name = self.stations[slot].name.clone();
            let other = self.stations[last].name.clone();
            return Err(fail(&entry_at, Fault::AuthorOrder { name, other }));
        }
        let signed = SignedEntry::decode_in(bytes, &author, &mut self.unchecked.batch)
            .map_err(|e| fail(&entry_at, Fault::Entry(e)))?;
        let unchecked = &mut self.unchecked.entries;
        unchecked.push((number, entry_at.clone(), bytes.to_vec(), author));
        if unchecked.len() == ENTRY_SIGNATURES_PER_BATCH {
            self.check_signatures()?;
        }
        let entry = signed.entry();
        if entry.link != self.link() {
            return Err(fail(&entry_at, Fault::EntryLink));
        }
        if entry.seq != needs {
            let seq = entry.seq;
            return Err(fail(&entry_at, Fault::Seq { seq, needs }));
        }
        let station = &mut self.stations[slot];
        if entry.prev != station.ids.last().copied().unwrap_or(EntryId::NONE) {
            return Err(fail(&entry_at, Fault::Prev));
        }
        station.ids.push(signed.id());
        station.leaves.push(tlog::leaf_hash(bytes));
        station.spans.push(span);
        station.kinds.add(entry.body.kind());
        let place = Place {
            line: number,
            index: self.entries,
            seq: needs,
        };
        match &entry.body {
            Body::Checkpoint(head, pq) => station.checkpoints.push((place, *head, pq.clone())),
            Body::Cosigned(cosigned) => station.cosignatures.push((place, cosigned.clone())),
            Body::Witnessed(witnessed) => station.witnessed.push((place, witnessed.clone())),
            _ => {}
        }
        self.last_author = Some(slot);
        self.seen.push(Seen {
            line: number,
            index: self.entries,
            author: slot,
            seq: needs,
            seen: entry.seen,
        });
        Ok(())
    }

    /// S1, once, at the end of the entries.
    fn check_seen(&mut self) -> Result<(), TranscriptError> {
        let sets: Vec<BTreeSet<EntryId>> = self
            .stations
            .iter()
            .map(|s| s.ids.iter().copied().collect())
            .collect();
        for seen in std::mem::take(&mut self.seen) {
            let other = 1 - seen.author;
            if seen.seen != EntryId::NONE && !sets[other].contains(&seen.seen) {
                let author = &self.stations[seen.author];
                return Err(TranscriptError {
                    line: seen.line,
                    entry: Some(EntryAt {
                        index: seen.index,
                        author: Some((author.name.clone(), seen.seq)),
                    }),
                    fault: Fault::Seen {
                        other: self.stations[other].name.clone(),
                    },
                });
            }
        }
        Ok(())
    }

    /// P1–P12.
    fn receipt(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        self.receipts += 1;
        let signer = Receipt::peek_from(bytes).map_err(Fault::Receipt)?;
        let signer_slot = self.slot(&signer).ok_or(Fault::ReceiptSigner)?;
        let expected = self.receipts - 1;
        if signer_slot != expected {
            let name = self.stations[expected].name.clone();
            let other = self.stations[signer_slot].name.clone();
            return Err(match self.receipts {
                1 => Fault::FirstReceipt { name, other },
                _ => Fault::SecondReceipt { name, other },
            });
        }
        let receipt = Receipt::decode_verified(bytes, &signer).map_err(Fault::Receipt)?;
        if receipt.link != self.link() || receipt.to == receipt.from {
            return Err(Fault::ReceiptLink);
        }
        let to = self.slot(&receipt.to).ok_or(Fault::ReceiptTo)?;
        let station = &mut self.stations[to];
        let (name, len) = (station.name.clone(), station.ids.len() as u64);
        let upto = receipt.upto;
        if upto > len {
            return Err(Fault::ReceiptUpto { name, upto, len });
        }
        if upto > 0 && station.ids[upto as usize - 1] != receipt.head {
            return Err(Fault::ReceiptHead { name, upto });
        }
        if let Some(&seq) = receipt.extra.iter().find(|seq| **seq > len) {
            return Err(Fault::ReceiptExtra { name, seq, len });
        }
        if self.receipts == 1 {
            if upto != len {
                return Err(Fault::ExporterReceiptPartial { name, upto, len });
            }
            let exported_ms = self.header.exported_ms;
            if receipt.time_ms != exported_ms {
                let time_ms = receipt.time_ms;
                return Err(Fault::ExporterReceiptTime {
                    time_ms,
                    exported_ms,
                });
            }
        }
        station.receipted_upto = Some(upto);
        station.receipt = Some(bytes.to_vec());
        Ok(())
    }

    /// K1–K7 for the checkpoints in `slot`'s log, its cosignatures of the other's and the
    /// witnesses' of its own. Returns the largest size of `slot`'s log the other station
    /// cosigned, and when, and the largest each witness cosigned.
    fn check_checkpoints(
        &self,
        slot: usize,
    ) -> Result<(Option<Proven>, Vec<Witnessed>), TranscriptError> {
        let (station, other) = (&self.stations[slot], &self.stations[1 - slot]);
        // Built once: a file of many checkpoints costs O(log n) hashes for each.
        let (own_tree, other_tree) = (Tree::of(&station.leaves), Tree::of(&other.leaves));
        let (name, other_name) = (station.name.clone(), other.name.clone());
        let other_identity = other.identity;
        let fail = |place: &Place, fault| TranscriptError {
            line: place.line,
            entry: Some(EntryAt {
                index: place.index,
                author: Some((station.name.clone(), place.seq)),
            }),
            fault,
        };
        // K1: the Ed25519 signature, and the ML-DSA-44 one when the card has that key — on
        // every checkpoint from the first that carries one (those before were written before
        // the station had the key, and the later ones' roots cover their entries).
        let mut pq_required = false;
        for (place, head, pq) in &station.checkpoints {
            let size = head.size;
            pq_required |= pq.is_some();
            let signed = head.verify_both(
                (&station.identity, &other.identity),
                pq.as_ref(),
                (station.pq_key.as_ref(), pq_required),
            );
            if signed.is_err() {
                let name = name.clone();
                return Err(fail(place, Fault::CheckpointSignature { name, size }));
            }
            // A checkpoint covers only entries before it (§3.5), all in the file.
            if own_tree.root_at(size) != Some(head.root) {
                let name = name.clone();
                return Err(fail(place, Fault::CheckpointRoot { name, size }));
            }
        }
        // K3: both Ed25519 signatures, and the cosigner's ML-DSA-44 one when its card has that
        // key — on every cosignature from the first that carries one, as K1.
        let mut pq_required = false;
        for (place, cosigned) in &station.cosignatures {
            let size = cosigned.head.size;
            let (name, other) = (name.clone(), other_name.clone());
            pq_required |= cosigned.pq.is_some();
            let signed = cosigned.verify_both(
                (&other_identity, &station.identity),
                (station.pq_key.as_ref(), pq_required),
            );
            if signed.is_err() {
                return Err(fail(
                    place,
                    Fault::CosignatureSignature { name, other, size },
                ));
            }
            let len = other_tree.len();
            if size > len {
                return Err(fail(
                    place,
                    Fault::CosignedCut {
                        name,
                        other,
                        size,
                        len,
                    },
                ));
            }
            if other_tree.root_at(size) != Some(cosigned.head.root) {
                return Err(fail(place, Fault::CosignedRoot { name, other, size }));
            }
        }
        let mut witnessed: Vec<Witnessed> = Vec::new();
        // Where each witness is in `witnessed`: a file may name a new witness in every entry.
        let mut places: HashMap<StationId, usize> = HashMap::new();
        for (place, by) in &station.witnessed {
            let (size, witness) = (by.head.size, &by.witness);
            let name = name.clone();
            if by.verify(&station.identity, &other.identity).is_err() {
                return Err(fail(place, Fault::WitnessSignature { name, size }));
            }
            // Within the file: a witness's cosignature follows the checkpoint (§3.5).
            if own_tree.root_at(size) != Some(by.head.root) {
                return Err(fail(place, Fault::WitnessRoot { name, size }));
            }
            // By key: a cosignature does not sign its name, so one key is one witness.
            match places.entry(witness.key) {
                Entry::Occupied(at) if witnessed[*at.get()].size >= size => {}
                Entry::Occupied(at) => witnessed[*at.get()] = Witnessed::of(by),
                Entry::Vacant(at) => {
                    at.insert(witnessed.len());
                    witnessed.push(Witnessed::of(by));
                }
            }
        }
        // What the other station cosigned of this log (its cosignatures are verified as this
        // one's are, K3, before any is taken: a post-quantum signature present was checked).
        let proven = other
            .cosignatures
            .iter()
            .map(|(_, c)| c)
            .max_by_key(|c| c.head.size)
            .map(|c| Proven {
                size: c.head.size,
                time_s: c.time_s,
                post_quantum: c.pq.is_some() && other.pq_key.is_some(),
            });
        Ok((proven, witnessed))
    }

    /// Z1, S1, Z2, then K1–K7.
    fn finish(mut self, last: usize) -> Result<VerifiedTranscript, TranscriptError> {
        let at = |fault| TranscriptError {
            line: last,
            entry: None,
            fault,
        };
        if self.stations.len() < 2 {
            return Err(at(Fault::CardsMissing));
        }
        if self.receipts == 0 {
            self.check_seen()?;
            return Err(at(Fault::ExporterReceiptMissing));
        }
        let proven = [self.check_checkpoints(0)?, self.check_checkpoints(1)?];
        let stations: Vec<StationLog> = self
            .stations
            .into_iter()
            .zip(proven)
            .map(|(s, (proven, witnessed))| StationLog {
                identity: s.identity,
                pq_key: s.pq_key,
                name: s.name,
                card: s.card,
                ids: s.ids,
                leaves: s.leaves,
                spans: s.spans,
                kinds: s.kinds,
                receipted_upto: s.receipted_upto,
                receipt: s.receipt,
                proven,
                witnessed,
            })
            .collect();
        Ok(VerifiedTranscript {
            link: self.header.link,
            exported_ms: self.header.exported_ms,
            stations: stations.try_into().expect("a third card is refused (O2)"),
        })
    }
}
