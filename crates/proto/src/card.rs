//! Contact cards: what two stations exchange to pair, self-signed by the station's identity key.
//! An operator pins a card only after comparing its fingerprint out of band.
//!
//! Payload (COSE_Sign1 `application/parley-card`), version 2:
//! `[2, name, identity_key, epoch_key_id, epoch_public_key, [address…], lang, created_ms,
//! pq_key, pq_signature]`: the station's ML-DSA-44 key, and its signature (context
//! [`PQ_CONTEXT`]) over the CBOR array of the first nine fields. Both keys sign the card, so
//! neither alone can forge one, and the fingerprint covers both (docs/formats.md §6).
//! Version 1 (the first eight fields, no post-quantum key) is still read.
//! Text form: `-----BEGIN PARLEY CARD-----`, base64 lines, `-----END PARLEY CARD-----`; lines
//! beginning with `#` are comments for people and are not signed.

use std::cell::RefCell;
use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ciborium::Value;

use crate::cbor::{self, Fields};
use crate::cose::{self, CONTENT_TYPE_CARD, Unverified};
use crate::error::DecodeError;
use crate::id::{EpochKeyId, Fingerprint, Identity, StationId, sha256};
use crate::limits::{
    ADDRESS_SIZE_MAX_BYTES, CARD_ADDRESSES_MAX, CARD_SIZE_MAX_BYTES, LANG_SIZE_MAX_BYTES,
    NAME_SIZE_MAX_BYTES,
};
use crate::pq::{PQ_PUBLIC_KEY_BYTES, PQ_SIGNATURE_BYTES, PqPublicKey};
use crate::seal::{EPOCH_PUBLIC_KEY_BYTES, PeerEpochKey};

/// Most cards a thread remembers as verified ([`ContactCard::decode_verified`]); one more
/// takes the place of another.
pub const VERIFIED_CARDS_MAX: usize = 64;

thread_local! {
    /// SHA-256 of the cards whose signatures this thread has verified.
    static VERIFIED_CARDS: RefCell<HashSet<[u8; 32]>> = RefCell::new(HashSet::new());
}

/// How many verified cards this thread remembers now.
#[cfg(test)]
fn verified_cards_held() -> usize {
    VERIFIED_CARDS.with_borrow(HashSet::len)
}

/// The FIPS 204 context of a card's ML-DSA-44 signature.
pub const PQ_CONTEXT: &[u8] = b"parley card v2";

const ARMOR_BEGIN: &str = "-----BEGIN PARLEY CARD-----";
const ARMOR_END: &str = "-----END PARLEY CARD-----";
/// Longest armoured card text accepted, in bytes.
pub const CARD_TEXT_SIZE_MAX_BYTES: usize = CARD_SIZE_MAX_BYTES * 2;

/// A station's contact card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactCard {
    /// Human name of the station.
    pub name: String,
    /// Identity (Ed25519) key.
    pub identity: StationId,
    /// Current epoch key id.
    pub epoch_key_id: EpochKeyId,
    /// Current epoch (X-Wing) public key.
    pub epoch_public: Vec<u8>,
    /// Where the station's direct channel listens, e.g. `quic://127.0.0.1:7300`.
    pub addresses: Vec<String>,
    /// Working language of the station (BCP 47).
    pub lang: String,
    /// UTC time of issue, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// The station's ML-DSA-44 key: present on a version 2 card, absent on a version 1 card.
    pub pq_key: Option<PqPublicKey>,
}

impl ContactCard {
    /// Signs the card with both of `identity`'s keys, which must be the card's: version 2
    /// with a post-quantum key, version 1 (Ed25519 only) without one.
    pub fn sign(&self, identity: &Identity) -> Vec<u8> {
        assert_eq!(
            identity.id(),
            self.identity,
            "a card is signed by its own key"
        );
        let mut fields = self.v1_fields();
        if let Some(pq_key) = &self.pq_key {
            assert_eq!(
                pq_key,
                identity.pq().public(),
                "a card is signed by its own key"
            );
            fields[0] = cbor::uint(2);
            fields.push(cbor::bytes(pq_key.as_bytes()));
            let signed = cbor::encode(&Value::Array(fields.clone()));
            fields.push(cbor::bytes(&identity.pq().sign(&signed, PQ_CONTEXT)[..]));
        }
        cose::sign(
            identity,
            CONTENT_TYPE_CARD,
            cbor::encode(&Value::Array(fields)),
        )
    }

    /// The payload's fields of a version 1 card.
    fn v1_fields(&self) -> Vec<Value> {
        vec![
            cbor::uint(1),
            cbor::text(&self.name),
            cbor::bytes(&self.identity.0),
            cbor::bytes(&self.epoch_key_id.0),
            cbor::bytes(&self.epoch_public),
            Value::Array(self.addresses.iter().map(|a| cbor::text(a)).collect()),
            cbor::text(&self.lang),
            cbor::uint(self.created_ms),
        ]
    }

    /// The card's fingerprint: version 2 over both keys on a version 2 card, version 1 over
    /// the Ed25519 key on a version 1 card.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.identity, self.pq_key.as_ref())
    }

    /// Decodes a card and verifies that it is signed by the identity key it names (and, on a
    /// version 2 card, by the ML-DSA-44 key it names) and that its epoch key is a valid X-Wing
    /// key with the id it claims.
    ///
    /// A station reads its pinned cards over and over (every read of its peers), so each thread
    /// remembers the SHA-256 of up to [`VERIFIED_CARDS_MAX`] cards whose signatures held and
    /// checks the signatures of those bytes only once: the same bytes verify the same way.
    /// Everything else (the epoch key and its id) is checked on every read.
    pub fn decode_verified(bytes: &[u8]) -> Result<Self, DecodeError> {
        let cose = Unverified::parse(bytes, "card", CONTENT_TYPE_CARD, CARD_SIZE_MAX_BYTES)?;
        let (claimed, pq_signature) = Self::from_payload(cose.payload_unverified())?;
        let digest = sha256(&[bytes]);
        let verified = VERIFIED_CARDS.with_borrow(|cards| cards.contains(&digest));
        if !verified {
            claimed.verify_signatures(cose, pq_signature)?;
        }
        let key = PeerEpochKey::from_bytes(&claimed.epoch_public)?;
        if key.id() != claimed.epoch_key_id {
            return Err(DecodeError::Field {
                what: "card",
                field: "epoch_key_id",
            });
        }
        if !verified {
            VERIFIED_CARDS.with_borrow_mut(|cards| {
                // One more card makes room by forgetting one other (only verified ones get
                // here), so a station with more peers than that still finds most.
                if cards.len() >= VERIFIED_CARDS_MAX
                    && let Some(other) = cards.iter().next().copied()
                {
                    cards.remove(&other);
                }
                cards.insert(digest);
            });
        }
        Ok(claimed)
    }

    /// Checks that the card is signed by the identity key it names and, on a version 2 card,
    /// by the ML-DSA-44 key it names.
    fn verify_signatures(
        &self,
        cose: Unverified,
        pq_signature: Option<[u8; PQ_SIGNATURE_BYTES]>,
    ) -> Result<(), DecodeError> {
        cose.verify(&self.identity.verifying_key()?)?;
        match (&self.pq_key, pq_signature) {
            (None, None) => {}
            (Some(pq_key), Some(pq_signature)) => {
                let mut fields = self.v1_fields();
                fields[0] = cbor::uint(2);
                fields.push(cbor::bytes(pq_key.as_bytes()));
                let signed = cbor::encode(&Value::Array(fields));
                if !pq_key.verify(&signed, PQ_CONTEXT, &pq_signature[..]) {
                    return Err(DecodeError::BadSignature { what: "card" });
                }
            }
            // A version 2 card has both, a version 1 card neither.
            _ => {
                return Err(DecodeError::Field {
                    what: "card",
                    field: "pq_signature",
                });
            }
        }
        Ok(())
    }

    /// The card's fields, and the ML-DSA-44 signature a version 2 card carries (unchecked).
    fn from_payload(
        payload: &[u8],
    ) -> Result<(Self, Option<[u8; PQ_SIGNATURE_BYTES]>), DecodeError> {
        let value = cbor::decode(payload, "card")?;
        let version = match &value {
            Value::Array(fields) => fields
                .first()
                .and_then(|v| v.as_integer())
                .and_then(|v| u64::try_from(v).ok()),
            _ => None,
        };
        let mut f = match version {
            Some(2) => Fields::with_version(value, "card", 2, 10)?,
            Some(version @ (0 | 3..)) => {
                return Err(DecodeError::Version {
                    what: "card",
                    version,
                });
            }
            _ => Fields::versioned(value, "card", 8)?,
        };
        let name = f.text("name", NAME_SIZE_MAX_BYTES)?;
        let identity = StationId(f.fixed("identity_key")?);
        let epoch_key_id = EpochKeyId(f.fixed("epoch_key_id")?);
        let epoch_public = f.bytes("epoch_public_key", EPOCH_PUBLIC_KEY_BYTES)?;
        let mut addresses = Vec::new();
        for value in f.list("addresses", CARD_ADDRESSES_MAX)? {
            match value {
                Value::Text(a) if a.len() <= ADDRESS_SIZE_MAX_BYTES => addresses.push(a),
                _ => {
                    return Err(DecodeError::Field {
                        what: "card",
                        field: "addresses",
                    });
                }
            }
        }
        let lang = f.text("lang", LANG_SIZE_MAX_BYTES)?;
        let created_ms = f.uint("created_ms")?;
        let (pq_key, pq_signature) = if version == Some(2) {
            let key = f.bytes("pq_key", PQ_PUBLIC_KEY_BYTES)?;
            let key = PqPublicKey::from_bytes(&key).ok_or(DecodeError::Field {
                what: "card",
                field: "pq_key",
            })?;
            (
                Some(key),
                Some(f.fixed::<PQ_SIGNATURE_BYTES>("pq_signature")?),
            )
        } else {
            (None, None)
        };
        if crate::names::check_name(&name).is_err() {
            return Err(DecodeError::Field {
                what: "card",
                field: "name",
            });
        }
        let card = ContactCard {
            name,
            identity,
            epoch_key_id,
            epoch_public,
            addresses,
            lang,
            created_ms,
            pq_key,
        };
        Ok((card, pq_signature))
    }

    /// Armours signed card bytes as pasteable text with a comment naming the fingerprint.
    pub fn to_text(&self, signed: &[u8]) -> String {
        let encoded = BASE64.encode(signed);
        let mut out = format!(
            "# parley contact card: {}\n# fingerprint: {}\n{ARMOR_BEGIN}\n",
            self.name,
            self.fingerprint()
        );
        for chunk in encoded.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str(ARMOR_END);
        out.push('\n');
        out
    }

    /// Reads the signed bytes out of armoured text.
    pub fn bytes_from_text(text: &str) -> Result<Vec<u8>, DecodeError> {
        let armor = |detail| DecodeError::Armor {
            what: "card",
            detail,
        };
        if text.len() > CARD_TEXT_SIZE_MAX_BYTES {
            return Err(DecodeError::TooLarge {
                what: "card text",
                len: text.len(),
                max: CARD_TEXT_SIZE_MAX_BYTES,
            });
        }
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let begin = lines
            .iter()
            .position(|l| *l == ARMOR_BEGIN)
            .ok_or(armor("no BEGIN PARLEY CARD line"))?;
        let end = lines
            .iter()
            .position(|l| *l == ARMOR_END)
            .ok_or(armor("no END PARLEY CARD line; is the card truncated?"))?;
        if end <= begin {
            return Err(armor("END line comes before BEGIN line"));
        }
        BASE64
            .decode(lines[begin + 1..end].concat())
            .map_err(|_| armor("body is not valid base64"))
    }

    /// Parses and verifies armoured card text.
    pub fn from_text(text: &str) -> Result<(Self, Vec<u8>), DecodeError> {
        let bytes = Self::bytes_from_text(text)?;
        Ok((Self::decode_verified(&bytes)?, bytes))
    }

    /// The epoch key as a sealing key.
    pub fn epoch_key(&self) -> Result<PeerEpochKey, DecodeError> {
        PeerEpochKey::from_bytes(&self.epoch_public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::EpochSecret;
    use rand_core::SeedableRng;

    fn card(identity: &Identity) -> ContactCard {
        let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([5; 32]));
        ContactCard {
            name: "Alpha".into(),
            identity: identity.id(),
            epoch_key_id: epoch.id(),
            epoch_public: epoch.public_bytes().to_vec(),
            addresses: vec!["quic://127.0.0.1:7300".into()],
            lang: "en".into(),
            created_ms: 1,
            pq_key: Some(identity.pq().public().clone()),
        }
    }

    #[test]
    fn a_version_2_card_is_signed_by_both_keys_and_its_fingerprint_covers_both() {
        let alice = Identity::from_secret(&[1; 32]);
        let card = card(&alice);
        assert_eq!(
            ContactCard::decode_verified(&card.sign(&alice)),
            Ok(card.clone())
        );
        assert_eq!(card.fingerprint(), alice.fingerprint());
        assert_ne!(card.fingerprint(), alice.id().key_fingerprint());
        let other = Identity::from_secret(&[2; 32]);
        assert_ne!(
            card.fingerprint(),
            Fingerprint::of(&alice.id(), Some(other.pq().public())),
            "another post-quantum key is another fingerprint"
        );

        // The same card in version 1 still reads, under its Ed25519 key's fingerprint.
        let v1 = ContactCard {
            pq_key: None,
            ..card.clone()
        };
        let read = ContactCard::decode_verified(&v1.sign(&alice)).unwrap();
        assert_eq!(read.pq_key, None);
        assert_eq!(read.fingerprint(), alice.id().key_fingerprint());

        // A good Ed25519 signature over a post-quantum signature that is not the named key's
        // over these fields is refused.
        let mut fields = card.v1_fields();
        fields[0] = cbor::uint(2);
        fields.push(cbor::bytes(alice.pq().public().as_bytes()));
        let signed = cbor::encode(&Value::Array(fields.clone()));
        let mut wrong = fields.clone();
        wrong.push(cbor::bytes(&other.pq().sign(&signed, PQ_CONTEXT)[..]));
        let forged = cose::sign(
            &alice,
            CONTENT_TYPE_CARD,
            cbor::encode(&Value::Array(wrong)),
        );
        assert_eq!(
            ContactCard::decode_verified(&forged),
            Err(DecodeError::BadSignature { what: "card" })
        );
        // Nor is a version 2 card with no post-quantum signature, nor a version 3 card.
        let unsigned = cose::sign(
            &alice,
            CONTENT_TYPE_CARD,
            cbor::encode(&Value::Array(fields.clone())),
        );
        assert_eq!(
            ContactCard::decode_verified(&unsigned),
            Err(DecodeError::Field {
                what: "card",
                field: "payload"
            })
        );
        fields[0] = cbor::uint(3);
        fields.push(cbor::bytes(&alice.pq().sign(&signed, PQ_CONTEXT)[..]));
        let v3 = cose::sign(
            &alice,
            CONTENT_TYPE_CARD,
            cbor::encode(&Value::Array(fields.clone())),
        );
        assert!(matches!(
            ContactCard::decode_verified(&v3),
            Err(DecodeError::Version { version: 3, .. })
        ));
        // Version 0 is read first too, whatever the length: said as a version, not a field.
        fields[0] = cbor::uint(0);
        let v0 = cose::sign(
            &alice,
            CONTENT_TYPE_CARD,
            cbor::encode(&Value::Array(fields)),
        );
        assert!(matches!(
            ContactCard::decode_verified(&v0),
            Err(DecodeError::Version { version: 0, .. })
        ));
    }

    #[test]
    fn a_card_s_signatures_are_checked_once_per_thread_and_a_changed_byte_is_checked_afresh() {
        let alice = Identity::from_secret(&[1; 32]);
        let bytes = card(&alice).sign(&alice);
        // A fresh thread: the cache starts empty.
        std::thread::spawn(move || {
            assert_eq!(verified_cards_held(), 0);
            assert!(ContactCard::decode_verified(&bytes).is_ok());
            assert_eq!(verified_cards_held(), 1);
            assert!(ContactCard::decode_verified(&bytes).is_ok());
            assert_eq!(
                verified_cards_held(),
                1,
                "the same bytes are remembered once"
            );
            // The last byte is in the Ed25519 signature: once verified, bytes that differ
            // anywhere are still refused.
            let mut bent = bytes.clone();
            *bent.last_mut().expect("a card is not empty") ^= 1;
            assert_eq!(
                ContactCard::decode_verified(&bent),
                Err(DecodeError::BadSignature { what: "card" })
            );
            assert_eq!(verified_cards_held(), 1, "a refused card is not remembered");
            // More distinct cards than the bound: each new one takes another's place.
            for n in 0..VERIFIED_CARDS_MAX {
                let other = Identity::from_secret(&[u8::try_from(n).expect("small") + 2; 32]);
                assert!(ContactCard::decode_verified(&card(&other).sign(&other)).is_ok());
            }
            assert_eq!(verified_cards_held(), VERIFIED_CARDS_MAX, "bounded");
        })
        .join()
        .expect("the thread ends");
    }

    #[test]
    fn the_largest_version_2_card_fits_the_limit() {
        let alice = Identity::from_secret(&[1; 32]);
        let card = ContactCard {
            name: "A".repeat(NAME_SIZE_MAX_BYTES),
            addresses: vec!["q".repeat(ADDRESS_SIZE_MAX_BYTES); CARD_ADDRESSES_MAX],
            lang: "e".repeat(LANG_SIZE_MAX_BYTES),
            created_ms: u64::MAX,
            ..card(&alice)
        };
        let signed = card.sign(&alice);
        assert!(signed.len() <= CARD_SIZE_MAX_BYTES, "{}", signed.len());
        assert_eq!(ContactCard::decode_verified(&signed), Ok(card.clone()));
        let text = card.to_text(&signed);
        assert!(text.len() <= CARD_TEXT_SIZE_MAX_BYTES, "{}", text.len());
    }

    #[test]
    fn a_card_whose_name_could_forge_a_display_is_refused() {
        let alice = Identity::from_secret(&[1; 32]);
        for name in ["Al\u{1b}[2Jpha", "Alpha\r\nBravo", "ahplA\u{202e}", " "] {
            let mut card = card(&alice);
            card.name = name.into();
            let refused = ContactCard::decode_verified(&card.sign(&alice));
            assert_eq!(
                refused,
                Err(DecodeError::Field {
                    what: "card",
                    field: "name"
                }),
                "{name:?}"
            );
        }
    }

    #[test]
    fn cards_round_trip_through_text_and_refuse_forgery() {
        let alice = Identity::from_secret(&[1; 32]);
        let card = card(&alice);
        let signed = card.sign(&alice);
        let text = card.to_text(&signed);
        let (back, bytes) = ContactCard::from_text(&text).unwrap();
        assert_eq!(back, card);
        assert_eq!(bytes, signed);

        // A card naming Alice's key but signed by Mallory is refused.
        let mallory = Identity::from_secret(&[6; 32]);
        let mut forged = card.clone();
        forged.identity = mallory.id();
        forged.pq_key = Some(mallory.pq().public().clone());
        let mut forged_bytes = forged.sign(&mallory);
        // Swap Mallory's key back to Alice's inside the payload: signature no longer matches.
        let at = forged_bytes
            .windows(32)
            .position(|w| w == mallory.id().0)
            .unwrap();
        forged_bytes[at..at + 32].copy_from_slice(&alice.id().0);
        assert!(matches!(
            ContactCard::decode_verified(&forged_bytes),
            Err(DecodeError::BadSignature { .. })
        ));

        let truncated = &text[..text.len() - 30];
        assert!(ContactCard::from_text(truncated).is_err());
    }
}
