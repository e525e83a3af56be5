//! parley's one rule for Ed25519 signatures, the same for a signature checked alone
//! ([`verify`]) and for many checked at once ([`Batch`]), so that no signature is accepted by
//! one and refused by the other (formats.md §1.1). A signature (R, S) by key A over message M
//! is accepted when
//!
//! 1. S is canonical (S < ℓ);
//! 2. the encodings of A and R are canonical (their y below p) and neither point is of small
//!    order;
//! 3. the cofactored equation of RFC 8032 §5.1.7 holds: `[8][S]B = [8]R + [8][k]A`, with
//!    `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
//!
//! Why cofactored: a batch checks `Σ zᵢ·(Rᵢ + [kᵢ]Aᵢ − [Sᵢ]B) = 0` for coefficients zᵢ drawn
//! for the batch. Multiplied by 8 every term lies in the group of prime order ℓ, and a batch
//! holding a signature that fails passes only if the coefficients hit one value in 2¹²⁸.
//! Without the factor 8, a signer in bad faith can put a small-order component in R, making a
//! signature the cofactorless equation refuses alone but a batch accepts whenever its zᵢ is a
//! multiple of that component's order (half the batches for order 2). ed25519-dalek's
//! `verify_batch` is cofactorless, so it does not agree with any single check; the ZIP-215
//! crate that does (ed25519-zebra) accepts non-canonical encodings and small-order keys and
//! depends on an older curve25519-dalek. Hence this module: the two equations written out over
//! curve25519-dalek's variable-time multi-scalar multiplication.
//!
//! Every signature `verify_strict` (ed25519-dalek) accepts under a canonical key is accepted
//! here (multiply its equation by 8). The only ones accepted here that it refuses have an R
//! or a key with a small-order component, which no honest signer's have. Checks run in
//! variable time: everything checked is public.
//!
//! The batch's coefficients are derived from everything it holds (a hash of each R, A, S and
//! k), so verification stays deterministic, as everything in this crate is; a signer cannot
//! steer them without changing what it signs, and any change draws new ones: a forger's
//! chance is 2⁻¹²⁸ per batch it tries, offline.
//!
//! A signature checked alone and accepted is remembered ([`REMEMBERED_SLOTS`] of them, the
//! last accepted in each slot): the same signature checked again is then accepted for one
//! SHA-512 and a compare, where the equation costs a double-base scalar multiplication. A
//! process checks the same signatures again routinely: a receipt or a checkpoint that came
//! over several channels, a checkpoint's head checked with each of its cosignatures, a
//! transcript checked twice. The cache is the process's and empty at start. What is
//! remembered is the whole of what the equation reads (A, R, S and k = SHA-512(R ‖ A ‖ M)),
//! so a remembered signature is one the equation accepts, whatever asks; a refused one is
//! never remembered, and slots only choose what is forgotten. A signature checked alone is
//! looked up from its encodings before R is decoded or any encoding rule checked (the key
//! comes decoded): the remembered bytes passed the rules, and the same bytes pass them again.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};
use sha2::{Digest, Sha512};

/// How many accepted signatures are remembered, at 128 bytes each (128 KiB for the
/// process, untouched until used).
pub const REMEMBERED_SLOTS: usize = 1024;

/// The last signature accepted alone in each slot, chosen by its k: A ‖ R ‖ S ‖ k. All zeros
/// is no signature: an all-zero A is of small order, refused before anything is remembered,
/// and a query that reads all zeros would need k = SHA-512(R ‖ A ‖ M) ≡ 0 mod ℓ (a chance of
/// 2⁻²⁵²).
static REMEMBERED: Mutex<[[u8; 128]; REMEMBERED_SLOTS]> = Mutex::new([[0; 128]; REMEMBERED_SLOTS]);

/// A signature this rule refuses. It says no more: which check failed is of no use to anyone
/// but a forger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadSignature;

/// Verifies `signature` by `key` over `message` under parley's rule.
pub fn verify(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), BadSignature> {
    // Looked up from the encodings, before R is decoded or any rule checked: what is
    // remembered passed every check, and the same bytes pass the same checks.
    let a_bytes = key.to_bytes();
    let k = challenge(signature.r_bytes(), &a_bytes, message);
    let remembered = Remembered::of(&a_bytes, signature.r_bytes(), signature.s_bytes(), &k);
    if remembered.known() {
        return Ok(());
    }
    Item::checked(key, signature, k)?.equation()?;
    remembered.keep();
    Ok(())
}

/// k = SHA-512(R ‖ A ‖ M) mod ℓ.
fn challenge(r_bytes: &[u8; 32], a_bytes: &[u8; 32], message: &[u8]) -> Scalar {
    let mut hash = Sha512::new();
    hash.update(r_bytes);
    hash.update(a_bytes);
    hash.update(message);
    let mut wide = [0; 64];
    wide.copy_from_slice(&hash.finalize());
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// What is remembered of a signature once accepted (A ‖ R ‖ S ‖ k), and its slot.
struct Remembered {
    slot: usize,
    bytes: [u8; 128],
}

impl Remembered {
    fn of(a_bytes: &[u8; 32], r_bytes: &[u8; 32], s_bytes: &[u8; 32], k: &Scalar) -> Self {
        let mut bytes = [0; 128];
        bytes[..32].copy_from_slice(a_bytes);
        bytes[32..64].copy_from_slice(r_bytes);
        bytes[64..96].copy_from_slice(s_bytes);
        bytes[96..].copy_from_slice(k.as_bytes());
        let mut low = [0; 8];
        low.copy_from_slice(&k.as_bytes()[..8]);
        // k is a hash: its low bits spread signatures evenly over the slots.
        let slot = (u64::from_le_bytes(low) % REMEMBERED_SLOTS as u64) as usize;
        Self { slot, bytes }
    }

    /// Whether this signature is remembered as accepted.
    fn known(&self) -> bool {
        REMEMBERED.lock().unwrap_or_else(PoisonError::into_inner)[self.slot] == self.bytes
    }

    /// Remembers it, in the place of whatever its slot held: only once accepted.
    fn keep(self) {
        REMEMBERED.lock().unwrap_or_else(PoisonError::into_inner)[self.slot] = self.bytes;
    }
}

/// Signatures gathered to be checked together: one multi-scalar multiplication for all of
/// them, about half the cost of checking each alone at 64 signatures by one key
/// (`parley bench`, `floor.crypto`).
#[derive(Default)]
pub struct Batch {
    items: Vec<Item>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a signature to check. One whose encodings already break the rule (S not
    /// canonical, A or R not canonical or of small order) is refused here, alone.
    pub fn push(
        &mut self,
        key: &VerifyingKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        self.items.push(Item::new(key, message, signature)?);
        Ok(())
    }

    /// Adds every signature `other` holds.
    pub fn append(&mut self, mut other: Batch) {
        self.items.append(&mut other.items);
    }

    /// Whether every signature held is good: exactly when [`verify`] accepts each of them
    /// (up to a chance of 2⁻¹²⁸). An empty batch is good. A failed batch does not say which
    /// signature is bad: check them alone for that.
    pub fn verify(&self) -> Result<(), BadSignature> {
        match &self.items[..] {
            [] => return Ok(()),
            // One alone is cheaper by the basepoint's precomputed table.
            [item] => return item.verify(),
            _ => {}
        }
        let mut rng = ChaCha20Rng::from_seed(self.seed());
        // Σ zᵢRᵢ + Σ (zᵢkᵢ)Aᵢ − (Σ zᵢSᵢ)B, one term per distinct key.
        let mut basepoint = Scalar::ZERO;
        let mut keys: BTreeMap<[u8; 32], (Scalar, EdwardsPoint)> = BTreeMap::new();
        let mut scalars = Vec::with_capacity(self.items.len() + 2);
        let mut points = Vec::with_capacity(self.items.len() + 2);
        for item in &self.items {
            let z = Scalar::from(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
            basepoint -= z * item.s;
            let (sum, _) = keys.entry(item.a_bytes).or_insert((Scalar::ZERO, item.a));
            *sum += z * item.k;
            scalars.push(z);
            points.push(item.r);
        }
        for (sum, a) in keys.into_values() {
            scalars.push(sum);
            points.push(a);
        }
        scalars.push(basepoint);
        points.push(ED25519_BASEPOINT_POINT);
        let sum = EdwardsPoint::vartime_multiscalar_mul(scalars, points);
        if sum.mul_by_cofactor().is_identity() {
            Ok(())
        } else {
            Err(BadSignature)
        }
    }

    /// The seed of the coefficients: a hash of every signature, key and message hash held.
    fn seed(&self) -> [u8; 32] {
        let mut hash = Sha512::new();
        hash.update(b"parley ed25519 batch v1");
        hash.update((self.items.len() as u64).to_le_bytes());
        for item in &self.items {
            hash.update(item.r_bytes);
            hash.update(item.a_bytes);
            hash.update(item.s.as_bytes());
            hash.update(item.k.as_bytes());
        }
        let digest = hash.finalize();
        let mut seed = [0; 32];
        seed.copy_from_slice(&digest[..32]);
        seed
    }
}

/// One signature, its encodings checked and its points decoded.
struct Item {
    a: EdwardsPoint,
    a_bytes: [u8; 32],
    r: EdwardsPoint,
    r_bytes: [u8; 32],
    s: Scalar,
    k: Scalar,
}

impl Item {
    fn new(
        key: &VerifyingKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<Self, BadSignature> {
        let k = challenge(signature.r_bytes(), &key.to_bytes(), message);
        Self::checked(key, signature, k)
    }

    /// The signature with its challenge `k`, once its encodings pass the rule.
    fn checked(key: &VerifyingKey, signature: &Signature, k: Scalar) -> Result<Self, BadSignature> {
        let a_bytes = key.to_bytes();
        let a = key.to_edwards();
        let r_bytes = signature.r_bytes().to_owned();
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes()))
            .ok_or(BadSignature)?;
        let r = CompressedEdwardsY(r_bytes)
            .decompress()
            .ok_or(BadSignature)?;
        if !canonical(&a_bytes) || !canonical(&r_bytes) || a.is_small_order() || r.is_small_order()
        {
            return Err(BadSignature);
        }
        Ok(Self {
            a,
            a_bytes,
            r,
            r_bytes,
            s,
            k,
        })
    }

    /// The cofactored equation for this signature alone, unless it was accepted lately.
    fn verify(&self) -> Result<(), BadSignature> {
        let remembered = self.remembered();
        if remembered.known() {
            return Ok(());
        }
        self.equation()?;
        remembered.keep();
        Ok(())
    }

    /// What is remembered of this signature once accepted.
    fn remembered(&self) -> Remembered {
        Remembered::of(&self.a_bytes, &self.r_bytes, self.s.as_bytes(), &self.k)
    }

    /// The cofactored equation for this signature alone.
    fn equation(&self) -> Result<(), BadSignature> {
        let expected_r =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&self.k, &-self.a, &self.s);
        if (expected_r - self.r).mul_by_cofactor().is_identity() {
            Ok(())
        } else {
            Err(BadSignature)
        }
    }
}

/// Forgets every remembered signature, as a new process starts: for measurements that stand
/// for checks made in two processes (`parley bench`), never needed for correctness.
#[doc(hidden)]
pub fn forget_remembered() {
    REMEMBERED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .fill([0; 128]);
}

/// Whether this signature is remembered as accepted.
#[cfg(test)]
fn is_remembered(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
    Item::new(key, message, signature).is_ok_and(|item| item.remembered().known())
}

/// p = 2²⁵⁵ − 19, little-endian.
const P: [u8; 32] = {
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// `bytes` as a key this rule accepts signatures by: a canonical encoding of a point that is not
/// of small order (a key that fails can sign nothing that verifies).
pub fn strict_key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    (canonical(bytes) && !key.to_edwards().is_small_order()).then_some(key)
}

/// Whether a point's encoding is canonical: its y (the low 255 bits) below p. The sign bit is
/// not judged here: the only points with x = 0 (y = ±1) are of small order, refused anyway.
fn canonical(encoding: &[u8; 32]) -> bool {
    let mut y = *encoding;
    y[31] &= 0x7f;
    // Compare as little-endian numbers, most significant byte first.
    y.iter().rev().lt(P.iter().rev())
}

#[cfg(test)]
mod tests;
