//! Entries: the records of a station's append-only log for a link.
//!
//! Payload (deterministic CBOR array, signed as COSE_Sign1 `application/parley-entry`):
//! `[1, link, author, seq, prev, seen, time_ms, precedence, kind, body]` — see docs/formats.md.

use ciborium::Value;

use crate::cbor::{self, Fields};
use crate::cose::{self, CONTENT_TYPE_ENTRY, Unverified};
use crate::error::DecodeError;
use crate::id::{EntryId, EpochKeyId, Identity, LinkId, StationId};
use crate::limits::{ENTRY_SIZE_MAX_BYTES, LANG_SIZE_MAX_BYTES, TEXT_SIZE_MAX_BYTES};
use crate::seal::{EPOCH_PUBLIC_KEY_BYTES, PeerEpochKey};

/// Handling precedence, highest first, with the time objective of each.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Precedence {
    /// Handle within 6 hours.
    Routine = 1,
    /// Handle within 3 hours.
    Priority = 2,
    /// Handle within 30 minutes.
    Immediate = 3,
    /// Handle within 10 minutes.
    Flash = 4,
}

impl Precedence {
    /// All levels, highest first.
    pub const ALL: [Precedence; 4] = [
        Precedence::Flash,
        Precedence::Immediate,
        Precedence::Priority,
        Precedence::Routine,
    ];

    /// Lower-case name as used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Precedence::Routine => "routine",
            Precedence::Priority => "priority",
            Precedence::Immediate => "immediate",
            Precedence::Flash => "flash",
        }
    }

    /// Parses a lower- or upper-case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The wire code.
    pub fn code(self) -> u64 {
        self as u64
    }

    /// From the wire code.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// Time objective for handling, in milliseconds.
    pub fn objective_ms(self) -> u64 {
        match self {
            Precedence::Flash => 10 * 60_000,
            Precedence::Immediate => 30 * 60_000,
            Precedence::Priority => 3 * 3_600_000,
            Precedence::Routine => 6 * 3_600_000,
        }
    }
}

impl serde::Serialize for Precedence {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Precedence {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown precedence {name:?}; use flash, immediate, priority or routine"
            ))
        })
    }
}

/// What an entry says.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Body {
    /// An operator's message in the sender's language.
    Message {
        /// The text, at most [`TEXT_SIZE_MAX_BYTES`].
        text: String,
        /// BCP 47 language tag of the text.
        lang: String,
    },
    /// The author's current epoch (KEM) key for receiving.
    KeyAnnouncement {
        /// Id of the key.
        key_id: EpochKeyId,
        /// Encoded X-Wing public key.
        public: Vec<u8>,
    },
}

/// The kind code of a body.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Kind {
    /// [`Body::Message`].
    Message = 1,
    /// [`Body::KeyAnnouncement`].
    KeyAnnouncement = 2,
}

impl Kind {
    /// Lower-case name for JSON and the timeline.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::KeyAnnouncement => "key_announcement",
        }
    }

    /// From the wire code.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(Kind::Message),
            2 => Some(Kind::KeyAnnouncement),
            _ => None,
        }
    }
}

impl Body {
    /// This body's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Message { .. } => Kind::Message,
            Body::KeyAnnouncement { .. } => Kind::KeyAnnouncement,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Body::Message { text, lang } => Value::Array(vec![cbor::text(text), cbor::text(lang)]),
            Body::KeyAnnouncement { key_id, public } => {
                Value::Array(vec![cbor::bytes(&key_id.0), cbor::bytes(public)])
            }
        }
    }

    fn from_value(kind: Kind, value: Value) -> Result<Self, DecodeError> {
        let mut fields = Fields::array(value, "entry", 2, "body")?;
        match kind {
            Kind::Message => Ok(Body::Message {
                text: fields.text("body.text", TEXT_SIZE_MAX_BYTES)?,
                lang: fields.text("body.lang", LANG_SIZE_MAX_BYTES)?,
            }),
            Kind::KeyAnnouncement => {
                let key_id = EpochKeyId(fields.fixed("body.key_id")?);
                let public = fields.bytes("body.public", EPOCH_PUBLIC_KEY_BYTES)?;
                // The same check as a card's key (FIPS 203 §7.2 for the ML-KEM part): an
                // announced key is the one the peer will seal to.
                let valid = public.len() == EPOCH_PUBLIC_KEY_BYTES
                    && EpochKeyId::of(&public) == key_id
                    && PeerEpochKey::from_bytes(&public).is_ok();
                if !valid {
                    return Err(DecodeError::Field {
                        what: "entry",
                        field: "body.public",
                    });
                }
                Ok(Body::KeyAnnouncement { key_id, public })
            }
        }
    }
}

/// One log record, before signing.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// The link this log belongs to.
    pub link: LinkId,
    /// The station that wrote it.
    pub author: StationId,
    /// 1, 2, 3… without gaps, per author per link.
    pub seq: u64,
    /// Id of the author's entry `seq - 1`, or [`EntryId::NONE`] for seq 1.
    pub prev: EntryId,
    /// Latest contiguous entry id the author held from the peer, or [`EntryId::NONE`].
    pub seen: EntryId,
    /// UTC time of writing, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Handling precedence.
    pub precedence: Precedence,
    /// Contents.
    pub body: Body,
}

impl Entry {
    fn to_value(&self) -> Value {
        Value::Array(vec![
            cbor::uint(1),
            cbor::bytes(&self.link.0),
            cbor::bytes(&self.author.0),
            cbor::uint(self.seq),
            cbor::bytes(&self.prev.0),
            cbor::bytes(&self.seen.0),
            cbor::uint(self.time_ms),
            cbor::uint(self.precedence.code()),
            cbor::uint(self.body.kind() as u64),
            self.body.to_value(),
        ])
    }

    fn from_payload(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut f = Fields::versioned(cbor::decode(payload, "entry")?, "entry", 10)?;
        let link = LinkId(f.fixed("link")?);
        let author = StationId(f.fixed("author")?);
        let seq = f.uint("seq")?;
        let prev = EntryId(f.fixed("prev")?);
        let seen = EntryId(f.fixed("seen")?);
        let time_ms = f.uint("time_ms")?;
        let malformed = |field| DecodeError::Field {
            what: "entry",
            field,
        };
        let precedence =
            Precedence::from_code(f.uint("precedence")?).ok_or(malformed("precedence"))?;
        let kind = Kind::from_code(f.uint("kind")?).ok_or(malformed("kind"))?;
        let body = Body::from_value(kind, f.value("body")?)?;
        if seq == 0 || (seq == 1) != (prev == EntryId::NONE) {
            return Err(malformed("seq"));
        }
        Ok(Entry {
            link,
            author,
            seq,
            prev,
            seen,
            time_ms,
            precedence,
            body,
        })
    }

    /// Signs the entry as its author.
    pub fn sign(self, author: &Identity) -> SignedEntry {
        assert_eq!(author.id(), self.author, "an entry is signed by its author");
        let bytes = cose::sign(author, CONTENT_TYPE_ENTRY, cbor::encode(&self.to_value()));
        SignedEntry {
            id: EntryId::of(&bytes),
            entry: self,
            bytes,
        }
    }
}

/// An entry with its signed bytes and id. Only built by signing or by verifying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedEntry {
    entry: Entry,
    bytes: Vec<u8>,
    id: EntryId,
}

impl SignedEntry {
    /// Decodes signed bytes and verifies them under the author's key. The author is read from
    /// the payload and must equal `author`.
    pub fn decode_verified(bytes: &[u8], author: &StationId) -> Result<Self, DecodeError> {
        let unverified =
            Unverified::parse(bytes, "entry", CONTENT_TYPE_ENTRY, ENTRY_SIZE_MAX_BYTES)?;
        let payload = unverified.verify(&author.verifying_key()?)?;
        let entry = Entry::from_payload(&payload)?;
        if entry.author != *author {
            return Err(DecodeError::Field {
                what: "entry",
                field: "author",
            });
        }
        Ok(Self {
            entry,
            bytes: bytes.to_vec(),
            id: EntryId::of(bytes),
        })
    }

    /// Reads the author named inside signed bytes without verifying (to pick the key).
    pub fn author_unverified(bytes: &[u8]) -> Result<StationId, DecodeError> {
        let unverified =
            Unverified::parse(bytes, "entry", CONTENT_TYPE_ENTRY, ENTRY_SIZE_MAX_BYTES)?;
        Ok(Entry::from_payload(unverified.payload_unverified())?.author)
    }

    /// The entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The signed bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The id (SHA-256 of the signed bytes).
    pub fn id(&self) -> EntryId {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(author: &Identity, seq: u64, prev: EntryId, text: &str) -> Entry {
        Entry {
            link: LinkId([9; 16]),
            author: author.id(),
            seq,
            prev,
            seen: EntryId::NONE,
            time_ms: 1_700_000_000_000,
            precedence: Precedence::Flash,
            body: Body::Message {
                text: text.into(),
                lang: "en".into(),
            },
        }
    }

    #[test]
    fn entries_round_trip_and_refuse_tampering() {
        let alice = Identity::from_secret(&[1; 32]);
        let signed = message(&alice, 1, EntryId::NONE, "hello").sign(&alice);
        let back = SignedEntry::decode_verified(signed.bytes(), &alice.id()).unwrap();
        assert_eq!(back, signed);
        assert_eq!(
            SignedEntry::author_unverified(signed.bytes()).unwrap(),
            alice.id()
        );

        let bob = Identity::from_secret(&[2; 32]);
        assert!(SignedEntry::decode_verified(signed.bytes(), &bob.id()).is_err());
        for i in 0..signed.bytes().len() {
            let mut flipped = signed.bytes().to_vec();
            flipped[i] ^= 0x10;
            assert!(
                SignedEntry::decode_verified(&flipped, &alice.id()).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn text_limit_holds_on_both_sides() {
        let alice = Identity::from_secret(&[1; 32]);
        let at_limit = "x".repeat(TEXT_SIZE_MAX_BYTES);
        let signed = message(&alice, 1, EntryId::NONE, &at_limit).sign(&alice);
        assert!(SignedEntry::decode_verified(signed.bytes(), &alice.id()).is_ok());
        let over = "x".repeat(TEXT_SIZE_MAX_BYTES + 1);
        let signed = message(&alice, 1, EntryId::NONE, &over).sign(&alice);
        assert!(SignedEntry::decode_verified(signed.bytes(), &alice.id()).is_err());
    }

    #[test]
    fn an_announced_key_passes_the_same_check_as_a_card_key() {
        let alice = Identity::from_secret(&[1; 32]);
        let announce = |public: Vec<u8>| Entry {
            body: Body::KeyAnnouncement {
                key_id: EpochKeyId::of(&public),
                public,
            },
            ..message(&alice, 1, EntryId::NONE, "")
        };
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_seed([7; 32]);
        let good = crate::seal::EpochSecret::generate(&mut rng)
            .public_bytes()
            .to_vec();
        let signed = announce(good.clone()).sign(&alice);
        assert!(SignedEntry::decode_verified(signed.bytes(), &alice.id()).is_ok());
        // Coefficients of 4095, above the ML-KEM modulus 3329: the right length and a
        // matching id, but not an encapsulation key (FIPS 203 §7.2 modulus check).
        let mut over_modulus = good;
        over_modulus[..1184].fill(0xff);
        let refused = DecodeError::Field {
            what: "entry",
            field: "body.public",
        };
        let signed = announce(over_modulus.clone()).sign(&alice);
        assert_eq!(
            SignedEntry::decode_verified(signed.bytes(), &alice.id()),
            Err(refused)
        );
        assert!(
            PeerEpochKey::from_bytes(&over_modulus).is_err(),
            "as a card's key"
        );
    }

    #[test]
    fn seq_one_has_no_prev_and_later_seqs_have_one() {
        let alice = Identity::from_secret(&[1; 32]);
        let bad = message(&alice, 2, EntryId::NONE, "x").sign(&alice);
        assert!(SignedEntry::decode_verified(bad.bytes(), &alice.id()).is_err());
        let bad = message(&alice, 1, EntryId([1; 32]), "x").sign(&alice);
        assert!(SignedEntry::decode_verified(bad.bytes(), &alice.id()).is_err());
        let good = message(&alice, 2, EntryId([1; 32]), "x").sign(&alice);
        assert!(SignedEntry::decode_verified(good.bytes(), &alice.id()).is_ok());
    }
}
