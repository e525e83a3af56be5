//! A station's post-quantum signing key: ML-DSA-44 (FIPS 204), derived from the identity
//! seed, so the one key file a station keeps holds both of its signing keys.
//!
//! Ed25519 signs every entry (fast, small); ML-DSA-44 signs what covers many entries at once:
//! the station's card (version 2) and each checkpoint of its logs (a `c2sp.org/tlog-cosignature`
//! `subtree/v1` line, see [`crate::tlog::note`]). A future quantum adversary who could forge
//! Ed25519 still could not forge a checkpoint, and so could not rewrite any entry under one.
//!
//! The 32-byte ML-DSA seed ξ is SHA-256 over a fixed label and the identity seed. Signing is
//! FIPS 204's deterministic variant, so a card signed twice is the same bytes.

use std::fmt;
use std::sync::Arc;

use libcrux_ml_dsa::ml_dsa_44::{
    self, MLDSA44Signature, MLDSA44SigningKey, MLDSA44VerificationKey,
};
use zeroize::Zeroize as _;

use crate::id::sha256;

/// Bytes of an ML-DSA-44 public key.
pub const PQ_PUBLIC_KEY_BYTES: usize = 1312;
/// Bytes of an ML-DSA-44 signature.
pub const PQ_SIGNATURE_BYTES: usize = 2420;

/// The label ξ is derived under: one identity seed, one ML-DSA key, for ever.
const SEED_LABEL: &[u8] = b"parley ml-dsa-44 seed v1";

/// FIPS 204's deterministic variant signs with ρ'' = H(K ‖ rnd ‖ μ) from this all-zero `rnd`
/// (Algorithm 2; Algorithm 7, line 7): a card signed twice is the same bytes.
const DETERMINISTIC_RND: [u8; 32] = [0; 32];

/// The encoded ML-DSA-44 secret key; this shared heap copy is erased when dropped (the
/// implementation's transient copies while generating and signing are not).
struct SecretKey(MLDSA44SigningKey);

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.as_ref_mut().zeroize();
    }
}

/// A station's ML-DSA-44 signing key (shared: the encoded secret key is 2,560 bytes).
#[derive(Clone)]
pub struct PqSigningKey {
    key: Arc<SecretKey>,
    public: PqPublicKey,
}

impl PqSigningKey {
    /// The key of the identity whose Ed25519 seed is `identity_seed`.
    pub fn from_identity_seed(identity_seed: &[u8; 32]) -> Self {
        Self::from_xi(&sha256(&[SEED_LABEL, identity_seed]))
    }

    /// The key FIPS 204's ML-DSA.KeyGen_internal makes from the 32-byte seed ξ.
    pub fn from_xi(xi: &[u8; 32]) -> Self {
        let pair = ml_dsa_44::generate_key_pair(*xi);
        let public = PqPublicKey::from_bytes(pair.verification_key.as_ref())
            .expect("an encoded key is 1312 bytes");
        Self {
            key: Arc::new(SecretKey(pair.signing_key)),
            public,
        }
    }

    /// The public key.
    pub fn public(&self) -> &PqPublicKey {
        &self.public
    }

    /// Signs `message` under FIPS 204 context `context` (at most 255 bytes; the deterministic
    /// variant).
    pub fn sign(&self, message: &[u8], context: &[u8]) -> Box<[u8; PQ_SIGNATURE_BYTES]> {
        // Fails only for a longer context, or when FIPS 204's 814 rounds of rejection sampling
        // all reject (a chance of at most 2^-256, Appendix C).
        let signature = ml_dsa_44::sign(&self.key.0, message, context, DETERMINISTIC_RND)
            .expect("a context of at most 255 bytes, and rejection sampling that ends");
        Box::new(*signature.as_ref())
    }
}

impl fmt::Debug for PqSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PqSigningKey({:?})", self.public)
    }
}

/// An ML-DSA-44 public key: its 1312 encoded bytes.
#[derive(Clone)]
pub struct PqPublicKey {
    key: Arc<MLDSA44VerificationKey>,
}

impl PqPublicKey {
    /// Reads an encoded key; `None` unless it is exactly [`PQ_PUBLIC_KEY_BYTES`] (every such
    /// string encodes a key).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; PQ_PUBLIC_KEY_BYTES] = bytes.try_into().ok()?;
        Some(Self {
            key: Arc::new(MLDSA44VerificationKey::new(bytes)),
        })
    }

    /// The encoded key.
    pub fn as_bytes(&self) -> &[u8; PQ_PUBLIC_KEY_BYTES] {
        MLDSA44VerificationKey::as_ref(&self.key)
    }

    /// Whether `signature` is this key's on `message` under context `context`. A signature of
    /// the wrong length, or not well formed, does not verify.
    pub fn verify(&self, message: &[u8], context: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = <[u8; PQ_SIGNATURE_BYTES]>::try_from(signature) else {
            return false;
        };
        ml_dsa_44::verify(
            &self.key,
            message,
            context,
            &MLDSA44Signature::new(signature),
        )
        .is_ok()
    }
}

impl PartialEq for PqPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for PqPublicKey {}

impl fmt::Debug for PqPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PqPublicKey({})",
            hex::encode(&sha256(&[&self.as_bytes()[..]])[..8])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_seeds_and_signs_what_it_verifies() {
        let key = PqSigningKey::from_identity_seed(&[1; 32]);
        assert_eq!(
            key.public(),
            PqSigningKey::from_identity_seed(&[1; 32]).public()
        );
        assert_ne!(
            key.public(),
            PqSigningKey::from_identity_seed(&[2; 32]).public()
        );
        let signature = key.sign(b"message", b"ctx");
        assert_eq!(signature, key.sign(b"message", b"ctx"), "deterministic");
        let public = key.public();
        assert!(public.verify(b"message", b"ctx", &signature[..]));
        assert!(!public.verify(b"message", b"other", &signature[..]));
        assert!(!public.verify(b"massage", b"ctx", &signature[..]));
        assert!(!public.verify(b"message", b"ctx", &signature[1..]));
        let mut bent = signature.clone();
        bent[100] ^= 1;
        assert!(!public.verify(b"message", b"ctx", &bent[..]));
        let other = PqSigningKey::from_identity_seed(&[2; 32]);
        assert!(!other.public().verify(b"message", b"ctx", &signature[..]));
        assert!(PqPublicKey::from_bytes(&public.as_bytes()[1..]).is_none());
        assert_eq!(
            PqPublicKey::from_bytes(public.as_bytes()).as_ref(),
            Some(public)
        );
    }
}
