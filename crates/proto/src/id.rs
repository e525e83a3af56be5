//! Identities and hashes: who a station is, how an operator reads its fingerprint aloud, and
//! the ids of links, entries and epoch keys.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::DecodeError;
use crate::pq::{PqPublicKey, PqSigningKey};

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Most decoded keys a thread keeps for [`StationId::verifying_key`]; one more starts over.
pub const DECODED_KEYS_MAX: usize = 64;

thread_local! {
    /// Keys decoded on this thread, by their bytes.
    static DECODED_KEYS: RefCell<HashMap<[u8; 32], VerifyingKey>> = RefCell::new(HashMap::new());
}

/// How many decoded keys this thread keeps now.
#[cfg(test)]
pub(crate) fn decoded_keys_held() -> usize {
    DECODED_KEYS.with_borrow(HashMap::len)
}

/// A station's identity: its raw 32-byte Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StationId(pub [u8; 32]);

impl StationId {
    /// The fingerprint of this Ed25519 key alone (version 1): a version 1 card's fingerprint,
    /// and the short name of a station's key in logs and file names. A station's fingerprint,
    /// as operators compare it, is its card's ([`Fingerprint::of`]).
    pub fn key_fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self, None)
    }

    /// The Ed25519 key, or an error if the bytes are not a valid point.
    ///
    /// Decoding a key decompresses a point (a square root in the field), about as costly as a
    /// fifth of a verification; a station checks a handful of keys over and over (its peers',
    /// its relays'), so each thread keeps the last [`DECODED_KEYS_MAX`] it decoded.
    pub fn verifying_key(&self) -> Result<VerifyingKey, DecodeError> {
        if let Some(key) = DECODED_KEYS.with_borrow(|keys| keys.get(&self.0).copied()) {
            return Ok(key);
        }
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| DecodeError::Field {
            what: "station id",
            field: "identity key",
        })?;
        DECODED_KEYS.with_borrow_mut(|keys| {
            // Many distinct keys (a flood of forged ids) start the cache over, bounded.
            if keys.len() >= DECODED_KEYS_MAX {
                keys.clear();
            }
            keys.insert(self.0, key);
        });
        Ok(key)
    }

    /// Short hex form for logs (first 8 bytes).
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl fmt::Debug for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StationId({})", self.short())
    }
}

impl fmt::Display for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// 128 bits of SHA-256 over a station's public signing keys, shown as eight groups of four hex
/// digits (`3f2a-9c01-…`), short enough to read aloud over a telephone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Fingerprint(pub [u8; 16]);

impl Fingerprint {
    /// The fingerprint of a station with Ed25519 key `identity` and ML-DSA-44 key `pq`:
    /// version 2 over both keys when it has one (its card is version 2), version 1 over the
    /// Ed25519 key alone when not (docs/formats.md §6).
    pub fn of(identity: &StationId, pq: Option<&PqPublicKey>) -> Self {
        let digest = match pq {
            Some(pq) => sha256(&[b"parley fingerprint v2", &identity.0, pq.as_bytes()]),
            None => sha256(&[b"parley fingerprint v1", &identity.0]),
        };
        let mut fp = [0u8; 16];
        fp.copy_from_slice(&digest[..16]);
        Fingerprint(fp)
    }

    /// Parses the displayed form; separators (`-`, `:`, spaces) and case are ignored.
    pub fn parse(text: &str) -> Option<Self> {
        let digits: String = text
            .chars()
            .filter(|c| !matches!(c, '-' | ':' | ' '))
            .collect();
        let bytes = hex::decode(digits.to_ascii_lowercase()).ok()?;
        bytes.try_into().ok().map(Fingerprint)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = hex::encode(self.0);
        let groups: Vec<&str> = (0..8).map(|i| &hex[i * 4..i * 4 + 4]).collect();
        f.write_str(&groups.join("-"))
    }
}

/// The id of the link between two stations: the same on both sides.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub [u8; 16]);

impl LinkId {
    /// Derives the link id from the two stations' ids, independent of order.
    pub fn between(a: &StationId, b: &StationId) -> Self {
        let (low, high) = if a.0 <= b.0 { (a, b) } else { (b, a) };
        let digest = sha256(&[b"parley link v1", &low.0, &high.0]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        LinkId(id)
    }
}

impl fmt::Debug for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkId({})", hex::encode(self.0))
    }
}

/// The id of an entry: SHA-256 of its signed (COSE_Sign1) bytes. All zeros means "none".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EntryId(pub [u8; 32]);

impl EntryId {
    /// The id meaning "no entry" (the `prev` of seq 1, the `seen` before anything was seen).
    pub const NONE: EntryId = EntryId([0u8; 32]);

    /// Hashes signed entry bytes.
    pub fn of(signed: &[u8]) -> Self {
        EntryId(sha256(&[signed]))
    }

    /// Full hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut id = [0u8; 32];
        hex::decode_to_slice(text, &mut id).ok()?;
        Some(EntryId(id))
    }
}

/// The id of a codebook: SHA-256 of its TOML source bytes, exactly as proposed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CodebookHash(pub [u8; 32]);

impl CodebookHash {
    /// Hashes a codebook's source.
    pub fn of(source: &[u8]) -> Self {
        CodebookHash(sha256(&[source]))
    }

    /// Full hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(text, &mut hash).ok()?;
        Some(CodebookHash(hash))
    }
}

impl fmt::Debug for CodebookHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodebookHash({})", hex::encode(&self.0[..8]))
    }
}

impl fmt::Display for CodebookHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", hex::encode(&self.0[..8]))
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The id of an epoch (KEM) key: the first 8 bytes of SHA-256 over its public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct EpochKeyId(pub [u8; 8]);

impl EpochKeyId {
    /// Derives the id of an encoded X-Wing public key.
    pub fn of(public: &[u8]) -> Self {
        let digest = sha256(&[b"parley epoch key v1", public]);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        EpochKeyId(id)
    }
}

impl fmt::Display for EpochKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Implements serde for a type by its text form: `Display` out, `$parse` in (an `Option`), so
/// JSON at the operator API shows ids exactly as the CLI prints them. These are the JSON forms
/// only; wire and disk formats are explicit CBOR and never go through serde.
macro_rules! serde_as_text {
    ($type:ty, $parse:expr, $expected:literal) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(concat!("{:?} is not ", $expected), text))
                })
            }
        }
    };
}

serde_as_text!(EntryId, EntryId::from_hex, "an entry id (64 hex digits)");
serde_as_text!(
    CodebookHash,
    CodebookHash::from_hex,
    "a codebook hash (64 hex digits)"
);
serde_as_text!(
    Fingerprint,
    Fingerprint::parse,
    "a fingerprint (32 hex digits)"
);

/// This station's signing identity. Its secret never leaves this type except through
/// [`Identity::secret_bytes`], used only to write the key file.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
    pq: PqSigningKey,
}

impl Identity {
    /// Builds the identity from its 32-byte secret seed: the Ed25519 key, and the ML-DSA-44
    /// key derived from the same seed.
    pub fn from_secret(seed: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
            pq: PqSigningKey::from_identity_seed(seed),
        }
    }

    /// The 32-byte secret seed, for the key file.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// This station's id.
    pub fn id(&self) -> StationId {
        StationId(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message` (Ed25519, deterministic).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The underlying key, for TLS certificates.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The post-quantum (ML-DSA-44) signing key.
    pub fn pq(&self) -> &PqSigningKey {
        &self.pq
    }

    /// This station's fingerprint: over both of its public keys (version 2).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.id(), Some(self.pq.public()))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.id().short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_round_trips_and_ignores_separators_and_case() {
        let fp = Identity::from_secret(&[7; 32]).fingerprint();
        let shown = fp.to_string();
        assert_eq!(shown.len(), 39);
        assert_eq!(Fingerprint::parse(&shown), Some(fp));
        assert_eq!(
            Fingerprint::parse(&shown.replace('-', "").to_uppercase()),
            Some(fp)
        );
        assert_eq!(Fingerprint::parse(&shown[..38]), None);
        assert_eq!(Fingerprint::parse("zz"), None);
    }

    #[test]
    fn link_id_is_symmetric_and_distinct_per_pair() {
        let a = Identity::from_secret(&[1; 32]).id();
        let b = Identity::from_secret(&[2; 32]).id();
        let c = Identity::from_secret(&[3; 32]).id();
        assert_eq!(LinkId::between(&a, &b), LinkId::between(&b, &a));
        assert_ne!(LinkId::between(&a, &b), LinkId::between(&a, &c));
    }

    /// Decoded keys are kept up to their bound and the cache starts over one past it; what a
    /// key decodes to, or that it does not decode, never depends on the cache.
    #[test]
    fn decoded_keys_are_kept_within_their_bound_and_decode_the_same() {
        let keys: Vec<StationId> = (0..=DECODED_KEYS_MAX as u8)
            .map(|seed| Identity::from_secret(&[seed; 32]).id())
            .collect();
        let held_before = decoded_keys_held();
        assert!(held_before <= DECODED_KEYS_MAX);
        for (n, id) in keys.iter().enumerate() {
            let expected = VerifyingKey::from_bytes(&id.0).unwrap();
            assert_eq!(id.verifying_key().unwrap(), expected);
            // Again, from the cache.
            assert_eq!(id.verifying_key().unwrap(), expected);
            assert!(decoded_keys_held() <= DECODED_KEYS_MAX, "after {n}");
        }
        // The last of DECODED_KEYS_MAX + 1 distinct keys started the cache over.
        assert!(decoded_keys_held() < DECODED_KEYS_MAX);
        // A point that does not decode is refused every time, and not kept.
        let bad = (0..=255u8)
            .map(|first| {
                let mut bytes = [0; 32];
                bytes[0] = first;
                bytes
            })
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .expect("some y has no point");
        let held = decoded_keys_held();
        for _ in 0..2 {
            assert!(StationId(bad).verifying_key().is_err());
        }
        assert_eq!(decoded_keys_held(), held);
    }
}
