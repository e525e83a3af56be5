//! Two exports of one link, one from each side: docs/formats.md §8.5; and keys pinned by
//! fingerprint, §8.6.

use super::{StationLog, VerifiedTranscript};
use crate::card::ContactCard;
use crate::id::{EntryId, Fingerprint, LinkId, StationId};

/// Why two verified transcripts do not agree (docs/formats.md §8.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Disagreement {
    /// D1.
    #[error("they are transcripts of different links")]
    Links,
    /// D2.
    #[error("both were exported by {name}; verify one export from each side")]
    SameExporter {
        /// The exporter of both.
        name: String,
    },
    /// D3.
    #[error("they hold different cards for {name} ({fingerprint})")]
    Cards {
        /// The station, named from the first file.
        name: String,
        /// Its fingerprint.
        fingerprint: Fingerprint,
    },
    /// D4.
    #[error("they hold different entries of {name} at seq {seq}")]
    Entries {
        /// The author, named from the first file.
        name: String,
        /// The lowest seq at which they differ.
        seq: u64,
    },
}

/// Why two exports do not make one record: a pinned key that is not theirs, or a
/// disagreement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// K1.
    #[error(transparent)]
    NotPinned(#[from] NotPinned),
    /// D1–D4.
    #[error(transparent)]
    Disagree(#[from] Disagreement),
}

/// A pinned fingerprint that is neither station's (docs/formats.md §8.6, K1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no station of the transcript has the expected fingerprint {expected}")]
pub struct NotPinned {
    /// The fingerprint expected.
    pub expected: Fingerprint,
}

/// Checks that every pinned fingerprint is one of the transcript's two stations.
pub fn check_pins(transcript: &VerifiedTranscript, pins: &[Fingerprint]) -> Result<(), NotPinned> {
    pinned_in(&[transcript], pins)
}

/// Checks that every pinned fingerprint names a station of one of `transcripts`.
fn pinned_in(transcripts: &[&VerifiedTranscript], pins: &[Fingerprint]) -> Result<(), NotPinned> {
    let named = |pin: &Fingerprint| {
        transcripts
            .iter()
            .any(|transcript| transcript.stations.iter().any(|station| station.is(pin)))
    };
    match pins.iter().find(|pin| !named(pin)) {
        Some(expected) => Err(NotPinned {
            expected: *expected,
        }),
        None => Ok(()),
    }
}

/// One station's log as two agreeing exports show it together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreedLog {
    /// Its identity key.
    pub identity: StationId,
    /// Its ML-DSA-44 key, if either file holds its version 2 card.
    pub pq_key: Option<crate::pq::PqPublicKey>,
    /// Name from its card (the same card in both files).
    pub name: String,
    /// Ids of its entries, the longer of the two files' (the other holds a prefix).
    pub ids: Vec<EntryId>,
    /// Its entries in the first file and in the second.
    pub held: [u64; 2],
    /// The highest seq of this log the other station is proven to have held: its own export's
    /// receipt of this log, or its receipt in this station's export, whichever is higher.
    pub acknowledged: u64,
}

impl AgreedLog {
    /// Its fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.identity, self.pq_key.as_ref())
    }

    /// Id of its last entry ([`EntryId::NONE`] if none).
    pub fn head(&self) -> EntryId {
        self.ids.last().copied().unwrap_or(EntryId::NONE)
    }
}

/// Two exports that agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// The link.
    pub link: LinkId,
    /// The exporter of the first file, then the exporter of the second.
    pub stations: [AgreedLog; 2],
}

/// Checks two verified exports in the order of docs/formats.md §8.5 and §8.6: D1, the pinned
/// fingerprints (K1), then D2–D4.
pub fn compare(
    a: &VerifiedTranscript,
    b: &VerifiedTranscript,
    pins: &[Fingerprint],
) -> Result<Agreement, CompareError> {
    if a.link != b.link {
        return Err(Disagreement::Links.into());
    }
    // A station's card may differ between the files in its post-quantum key (a peer pinned
    // its version 1 card): a pin names it if it names it in either.
    pinned_in(&[a, b], pins)?;
    Ok(agree(a, b)?)
}

/// Whether two signed cards of one station agree (D3): byte for byte, or in everything but
/// the epoch key, which rotates (docs/formats.md §3.6) — a station's export holds its card
/// with its current key, its peer's the card it pinned — and but the post-quantum key when
/// one of the two is a version 1 card (a peer pinned it before the station's cards were
/// version 2, §6).
fn same_card(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let (Ok(a), Ok(b)) = (
        ContactCard::decode_verified(a),
        ContactCard::decode_verified(b),
    ) else {
        return false;
    };
    let pq_key = match (&a.pq_key, &b.pq_key) {
        (Some(_), Some(_)) => a.pq_key.clone(),
        _ => b.pq_key.clone(),
    };
    let rekeyed = ContactCard {
        epoch_key_id: b.epoch_key_id,
        epoch_public: b.epoch_public.clone(),
        pq_key,
        ..a
    };
    rekeyed == b
}

/// D2–D4 between two exports of one link.
fn agree(a: &VerifiedTranscript, b: &VerifiedTranscript) -> Result<Agreement, Disagreement> {
    let identity = a.exporter().identity;
    if b.exporter().identity == identity {
        let name = a.exporter().name.clone();
        return Err(Disagreement::SameExporter { name });
    }
    // The same link and different exporters: b's exporter is a's peer, and the other way.
    let pairs = [(a.exporter(), b.peer()), (a.peer(), b.exporter())];
    for (in_a, in_b) in pairs {
        if in_a.identity != in_b.identity || !same_card(&in_a.card, &in_b.card) {
            return Err(Disagreement::Cards {
                name: in_a.name.clone(),
                fingerprint: in_a.fingerprint(),
            });
        }
    }
    for (in_a, in_b) in pairs {
        if let Some(seq) = first_difference(&in_a.ids, &in_b.ids) {
            let name = in_a.name.clone();
            return Err(Disagreement::Entries { name, seq });
        }
    }
    let agreed = |in_a: &StationLog, in_b: &StationLog, own_first: bool| {
        let (own, others) = if own_first { (a, b) } else { (b, a) };
        // The other station's export covers this log exactly as it held it (P11); this
        // station's export holds the other's latest receipt of it, if any.
        let by_export = others.peer().entries();
        let by_receipt = own.exporter().receipted_upto.unwrap_or(0);
        let ids = if in_a.ids.len() >= in_b.ids.len() {
            &in_a.ids
        } else {
            &in_b.ids
        };
        AgreedLog {
            identity: in_a.identity,
            pq_key: in_a.pq_key.clone().or_else(|| in_b.pq_key.clone()),
            name: in_a.name.clone(),
            ids: ids.clone(),
            held: [in_a.entries(), in_b.entries()],
            acknowledged: by_export.max(by_receipt),
        }
    };
    Ok(Agreement {
        link: a.link,
        stations: [
            agreed(a.exporter(), b.peer(), true),
            agreed(a.peer(), b.exporter(), false),
        ],
    })
}

/// The lowest seq (1-based) at which two logs both hold an entry and differ.
fn first_difference(a: &[EntryId], b: &[EntryId]) -> Option<u64> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .map(|index| index as u64 + 1)
}
