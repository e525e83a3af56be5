//! Sealing entries to the peer's epoch key: HPKE (RFC 9180) base mode with the X-Wing hybrid
//! KEM (X25519 + ML-KEM-768), HKDF-SHA256 and ChaCha20-Poly1305.
//!
//! One HPKE encapsulation may serve up to [`SEAL_REUSE_ENVELOPES_MAX`] envelopes within
//! [`SEAL_REUSE_MS_MAX`]: each envelope's AEAD key comes from the HPKE secret-export interface
//! (RFC 9180 §5.3) with the envelope's seq and entry id as exporter context, and every envelope
//! carries the encapsulated key. So each envelope still opens on its own, in any order, after any
//! restart, with nothing but the epoch private key — while the KEM (the costly part) runs once
//! per batch rather than once per message. The receiver caches decapsulations.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use chacha20poly1305::aead::Aead as _;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hpke::kem::XWing;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;

use crate::error::{DecodeError, Rejection};
use crate::id::{EntryId, EpochKeyId, LinkId, StationId, sha256};
use crate::limits::{
    OPEN_CACHE_CONTEXTS_MAX, PEER_EPOCH_KEYS_REMEMBERED_MAX, SEAL_REUSE_ENVELOPES_MAX,
    SEAL_REUSE_MS_MAX,
};

type Kdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// Length of an encoded X-Wing public key, in bytes.
pub const EPOCH_PUBLIC_KEY_BYTES: usize = 1216;
/// Bytes ChaCha20-Poly1305 adds to what it seals (its tag): an envelope's ciphertext is the
/// entry and this.
pub const SEAL_TAG_BYTES: usize =
    <<ChaCha20Poly1305 as chacha20poly1305::aead::AeadCore>::TagSize as chacha20poly1305::aead::array::typenum::Unsigned>::USIZE;
/// Length of an encoded X-Wing private key (its seed), in bytes.
pub const EPOCH_SECRET_KEY_BYTES: usize = 32;
/// Length of an X-Wing encapsulated key, in bytes.
pub const ENCAPSULATED_KEY_BYTES: usize = 1120;

/// One of this station's epoch key pairs.
#[derive(Clone)]
pub struct EpochSecret {
    id: EpochKeyId,
    secret: <XWing as hpke::Kem>::PrivateKey,
    public: Vec<u8>,
}

impl EpochSecret {
    /// Generates a fresh key pair.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut ikm = [0u8; 32];
        rng.fill_bytes(&mut ikm);
        let (secret, _) = XWing::derive_keypair(&ikm);
        Self::from_secret(secret)
    }

    fn from_secret(secret: <XWing as hpke::Kem>::PrivateKey) -> Self {
        let public = XWing::sk_to_pk(&secret).to_bytes().to_vec();
        Self {
            id: EpochKeyId::of(&public),
            secret,
            public,
        }
    }

    /// Restores a key pair from its stored secret.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let secret = <XWing as hpke::Kem>::PrivateKey::from_bytes(bytes).map_err(|_| {
            DecodeError::Field {
                what: "epoch key",
                field: "secret",
            }
        })?;
        Ok(Self::from_secret(secret))
    }

    /// The secret, for the store.
    pub fn secret_bytes(&self) -> Vec<u8> {
        self.secret.to_bytes().to_vec()
    }

    /// The key's id.
    pub fn id(&self) -> EpochKeyId {
        self.id
    }

    /// The encoded public key, for cards and key announcements.
    pub fn public_bytes(&self) -> &[u8] {
        &self.public
    }
}

/// Two key pairs are the same when their public keys are (the id is the public key's hash).
impl PartialEq for EpochSecret {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.public == other.public
    }
}

impl Eq for EpochSecret {}

impl std::fmt::Debug for EpochSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EpochSecret({})", self.id)
    }
}

/// This station's epoch keys: the current one and those retained for late envelopes.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<EpochSecret>,
}

impl Keyring {
    /// A keyring whose current key is `current`.
    pub fn new(current: EpochSecret) -> Self {
        Self {
            keys: vec![current],
        }
    }

    /// A keyring of `current` and the older keys still retained, in any order.
    pub fn with_retained(current: EpochSecret, retained: Vec<EpochSecret>) -> Self {
        let mut keys = vec![current];
        for key in retained {
            if keys.iter().all(|k| k.id != key.id) {
                keys.push(key);
            }
        }
        Self { keys }
    }

    /// The key announced to peers.
    pub fn current(&self) -> &EpochSecret {
        &self.keys[0]
    }

    /// The key with this id, if held.
    pub fn get(&self, id: &EpochKeyId) -> Option<&EpochSecret> {
        self.keys.iter().find(|k| k.id == *id)
    }

    /// Every key held, the current one first.
    pub fn keys(&self) -> impl Iterator<Item = &EpochSecret> {
        self.keys.iter()
    }

    /// Makes `key` the current key; the previous ones stay held.
    pub fn rotate(&mut self, key: EpochSecret) {
        assert!(self.get(&key.id).is_none(), "a new epoch key is new");
        self.keys.insert(0, key);
    }

    /// Forgets a retained key; the current key is never erased. Returns whether it was held.
    pub fn erase(&mut self, id: &EpochKeyId) -> bool {
        assert_ne!(
            self.current().id,
            *id,
            "the current epoch key is never erased"
        );
        let before = self.keys.len();
        self.keys.retain(|k| k.id != *id);
        self.keys.len() < before
    }
}

/// A peer's epoch public key, validated.
#[derive(Clone, Debug)]
pub struct PeerEpochKey {
    id: EpochKeyId,
    public: <XWing as hpke::Kem>::PublicKey,
}

/// The last peer epoch keys validated, with their bytes, each in the slot its id chooses.
/// Validating a key decodes its ML-KEM part and checks it (FIPS 203 §7.2), and the same keys
/// come again and again: in each key announcement decoded (a stored log is decoded at every
/// start, the store's check included), in each card read, in each link set up. A key is taken
/// from here only for the very bytes it was validated from, and only keys that validated are
/// remembered.
struct KeyMemo {
    slots: Mutex<[Option<ValidatedKey>; PEER_EPOCH_KEYS_REMEMBERED_MAX]>,
}

/// A key and the bytes it was validated from.
type ValidatedKey = (Box<[u8]>, PeerEpochKey);

/// The process's validated keys.
static REMEMBERED_KEYS: KeyMemo = KeyMemo::new();

impl KeyMemo {
    const fn new() -> Self {
        Self {
            slots: Mutex::new([const { None }; PEER_EPOCH_KEYS_REMEMBERED_MAX]),
        }
    }

    /// The key these bytes make, validated now or remembered from before.
    fn validated(&self, bytes: &[u8]) -> Result<PeerEpochKey, DecodeError> {
        let id = EpochKeyId::of(bytes);
        let (slot, remembered) = self.remembered(bytes, &id);
        if let Some(key) = remembered {
            return Ok(key);
        }
        let public =
            <XWing as hpke::Kem>::PublicKey::from_bytes(bytes).map_err(|_| DecodeError::Field {
                what: "epoch key",
                field: "public",
            })?;
        let key = PeerEpochKey { id, public };
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)[slot] =
            Some((bytes.into(), key.clone()));
        Ok(key)
    }

    /// The slot of these bytes, and the key they made if it is remembered.
    fn remembered(&self, bytes: &[u8], id: &EpochKeyId) -> (usize, Option<PeerEpochKey>) {
        let slot = usize::from(id.0[0]) % PEER_EPOCH_KEYS_REMEMBERED_MAX;
        let remembered = self.slots.lock().unwrap_or_else(PoisonError::into_inner)[slot]
            .as_ref()
            .filter(|(validated, _)| **validated == *bytes)
            .map(|(_, key)| key.clone());
        (slot, remembered)
    }
}

impl PeerEpochKey {
    /// Validates an encoded X-Wing public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        REMEMBERED_KEYS.validated(bytes)
    }

    /// The key's id.
    pub fn id(&self) -> EpochKeyId {
        self.id
    }
}

/// What a link seals with: an encapsulation to the peer's key, reused within bounds.
pub struct Sealer {
    context: hpke::aead::AeadCtxS<HpkeAead, Kdf, XWing>,
    encapsulated: Vec<u8>,
    key_id: EpochKeyId,
    uses: u32,
    created_ms: u64,
}

/// What identifies the parties of a sealed envelope, bound into the HPKE `info`.
#[derive(Clone, Copy, Debug)]
pub struct SealParties {
    /// The link.
    pub link: LinkId,
    /// Sender.
    pub from: StationId,
    /// Recipient.
    pub to: StationId,
}

fn hpke_info(parties: &SealParties, key_id: &EpochKeyId) -> Vec<u8> {
    [
        b"parley/1 seal".as_slice(),
        &parties.link.0,
        &parties.from.0,
        &parties.to.0,
        &key_id.0,
    ]
    .concat()
}

fn envelope_key(
    export: impl FnOnce(&[u8], &mut [u8]) -> Result<(), hpke::HpkeError>,
    seq: u64,
    entry_id: &EntryId,
) -> ChaCha20Poly1305 {
    let context = [
        b"parley/1 envelope".as_slice(),
        &seq.to_be_bytes(),
        &entry_id.0,
    ]
    .concat();
    let mut key = [0u8; 32];
    export(&context, &mut key).expect("32 bytes is within HPKE's export limit");
    ChaCha20Poly1305::new_from_slice(&key).expect("the key is 32 bytes")
}

/// Sealed output: the encapsulated key, the key id, and the ciphertext.
pub struct Sealed {
    /// The epoch key sealed to.
    pub key_id: EpochKeyId,
    /// The HPKE encapsulated key.
    pub encapsulated: Vec<u8>,
    /// ChaCha20-Poly1305 ciphertext with tag.
    pub ciphertext: Vec<u8>,
}

impl Sealer {
    /// Seals `plaintext` (a signed entry) for `peer_key`, reusing the current encapsulation when
    /// it is for the same key and within bounds.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        slot: &mut Option<Sealer>,
        rng: &mut impl CryptoRng,
        now_ms: u64,
        parties: &SealParties,
        peer_key: &PeerEpochKey,
        seq: u64,
        entry_id: &EntryId,
        plaintext: &[u8],
    ) -> Sealed {
        let reusable = slot.as_ref().is_some_and(|s| {
            s.key_id == peer_key.id
                && s.uses < SEAL_REUSE_ENVELOPES_MAX
                && now_ms.saturating_sub(s.created_ms) < SEAL_REUSE_MS_MAX
        });
        if !reusable {
            let info = hpke_info(parties, &peer_key.id);
            let (encapsulated, context) = hpke::setup_sender_with_rng::<HpkeAead, Kdf, XWing>(
                &OpModeS::Base,
                &peer_key.public,
                &info,
                rng,
            )
            .expect("X-Wing encapsulation to a validated key cannot fail");
            *slot = Some(Sealer {
                context,
                encapsulated: encapsulated.to_bytes().to_vec(),
                key_id: peer_key.id,
                uses: 0,
                created_ms: now_ms,
            });
        }
        let sealer = slot.as_mut().expect("set above");
        sealer.uses += 1;
        let cipher = envelope_key(|c, out| sealer.context.export(c, out), seq, entry_id);
        let ciphertext = cipher
            .encrypt(&Nonce::default(), plaintext)
            .expect("plaintext within limits encrypts");
        Sealed {
            key_id: sealer.key_id,
            encapsulated: sealer.encapsulated.clone(),
            ciphertext,
        }
    }
}

/// Opens envelopes, caching decapsulations by encapsulated key.
#[derive(Default)]
pub struct Opener {
    /// Decapsulations by (key, sender, encapsulated key) hashed, with the key's id.
    cache: VecDeque<([u8; 32], EpochKeyId, OpenContext)>,
}

/// A receiver's HPKE context, from one decapsulation.
type OpenContext = hpke::aead::AeadCtxR<HpkeAead, Kdf, XWing>;

impl Opener {
    /// Drops every decapsulation made with the key `id` (it is being erased).
    pub fn forget(&mut self, id: &EpochKeyId) {
        self.cache.retain(|(_, key, _)| key != id);
    }

    /// Opens a sealed entry. Any failure is a [`Rejection`]; a decapsulation that failed is
    /// not cached (one that succeeded is, even if the ciphertext then fails to open).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &mut self,
        keyring: &Keyring,
        parties: &SealParties,
        key_id: &EpochKeyId,
        encapsulated: &[u8],
        seq: u64,
        entry_id: &EntryId,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, Rejection> {
        let secret = keyring
            .get(key_id)
            .ok_or_else(|| Rejection::UnknownEpochKey {
                key: key_id.to_string(),
                seq,
            })?;
        let cache_key = sha256(&[&key_id.0, &parties.from.0, encapsulated]);
        let position = match self.cache.iter().position(|(k, _, _)| *k == cache_key) {
            Some(position) => position,
            None => {
                let encapped = <XWing as hpke::Kem>::EncappedKey::from_bytes(encapsulated)
                    .map_err(|_| Rejection::Decrypt)?;
                let context = hpke::setup_receiver::<HpkeAead, Kdf, XWing>(
                    &OpModeR::Base,
                    &secret.secret,
                    &encapped,
                    &hpke_info(parties, key_id),
                )
                .map_err(|_| Rejection::Decrypt)?;
                if self.cache.len() >= OPEN_CACHE_CONTEXTS_MAX {
                    self.cache.pop_front();
                }
                self.cache.push_back((cache_key, *key_id, context));
                self.cache.len() - 1
            }
        };
        let context = &self.cache[position].2;
        let cipher = envelope_key(|c, out| context.export(c, out), seq, entry_id);
        cipher
            .decrypt(&Nonce::default(), ciphertext)
            .map_err(|_| Rejection::Decrypt)
    }
}

#[cfg(test)]
mod tests;
