//! Contact cards: what two stations exchange to pair, self-signed by the station's identity key.
//! An operator pins a card only after comparing its fingerprint out of band.
//!
//! Payload (COSE_Sign1 `application/parley-card`):
//! `[1, name, identity_key, epoch_key_id, epoch_public_key, [address…], lang, created_ms]`.
//! Text form: `-----BEGIN PARLEY CARD-----`, base64 lines, `-----END PARLEY CARD-----`; lines
//! beginning with `#` are comments for people and are not signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ciborium::Value;

use crate::cbor::{self, Fields};
use crate::cose::{self, CONTENT_TYPE_CARD, Unverified};
use crate::error::DecodeError;
use crate::id::{EpochKeyId, Identity, StationId};
use crate::limits::{
    ADDRESS_SIZE_MAX_BYTES, CARD_ADDRESSES_MAX, CARD_SIZE_MAX_BYTES, LANG_SIZE_MAX_BYTES,
    NAME_SIZE_MAX_BYTES,
};
use crate::seal::{EPOCH_PUBLIC_KEY_BYTES, PeerEpochKey};

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
}

impl ContactCard {
    /// Signs the card; `identity` must be the card's identity.
    pub fn sign(&self, identity: &Identity) -> Vec<u8> {
        assert_eq!(
            identity.id(),
            self.identity,
            "a card is signed by its own key"
        );
        let payload = Value::Array(vec![
            cbor::uint(1),
            cbor::text(&self.name),
            cbor::bytes(&self.identity.0),
            cbor::bytes(&self.epoch_key_id.0),
            cbor::bytes(&self.epoch_public),
            Value::Array(self.addresses.iter().map(|a| cbor::text(a)).collect()),
            cbor::text(&self.lang),
            cbor::uint(self.created_ms),
        ]);
        cose::sign(identity, CONTENT_TYPE_CARD, cbor::encode(&payload))
    }

    /// Decodes a card and verifies that it is signed by the identity key it names and that its
    /// epoch key is a valid X-Wing key with the id it claims.
    pub fn decode_verified(bytes: &[u8]) -> Result<Self, DecodeError> {
        let cose = Unverified::parse(bytes, "card", CONTENT_TYPE_CARD, CARD_SIZE_MAX_BYTES)?;
        let claimed = Self::from_payload(cose.payload_unverified())?;
        cose.verify(&claimed.identity.verifying_key()?)?;
        let key = PeerEpochKey::from_bytes(&claimed.epoch_public)?;
        if key.id() != claimed.epoch_key_id {
            return Err(DecodeError::Field {
                what: "card",
                field: "epoch_key_id",
            });
        }
        Ok(claimed)
    }

    fn from_payload(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut f = Fields::versioned(cbor::decode(payload, "card")?, "card", 8)?;
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
        if crate::names::check_name(&name).is_err() {
            return Err(DecodeError::Field {
                what: "card",
                field: "name",
            });
        }
        Ok(ContactCard {
            name,
            identity,
            epoch_key_id,
            epoch_public,
            addresses,
            lang,
            created_ms,
        })
    }

    /// Armours signed card bytes as pasteable text with a comment naming the fingerprint.
    pub fn to_text(&self, signed: &[u8]) -> String {
        let encoded = BASE64.encode(signed);
        let mut out = format!(
            "# parley contact card: {}\n# fingerprint: {}\n{ARMOR_BEGIN}\n",
            self.name,
            self.identity.fingerprint()
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
        }
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
