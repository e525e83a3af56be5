//! The rule on signatures an honest signer never makes: small-order components, encodings
//! that are not canonical, S out of range; and batches agreeing with single checks on each.
//! Wycheproof's cases and the small-order keys are in `tests/known_answers.rs`.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use ed25519_dalek::{Signer as _, SigningKey};

use super::*;

/// A signature made by hand, so that its R, and the key, can carry what an honest signer's
/// never do.
struct Forge {
    secret: Scalar,
    key: EdwardsPoint,
}

impl Forge {
    /// A signer with secret scalar `secret` whose published key is `[secret]B + torsion`.
    fn new(secret: u64, torsion: EdwardsPoint) -> Self {
        let secret = Scalar::from(secret);
        Self {
            secret,
            key: ED25519_BASEPOINT_POINT * secret + torsion,
        }
    }

    fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from_bytes(self.key.compress().as_bytes()).expect("a point")
    }

    /// Signs with nonce `nonce`, adding `torsion` to R: S = r + k·a, so the cofactorless
    /// equation misses by the torsion of R and k times that of the key, and the cofactored
    /// one holds.
    fn sign(&self, message: &[u8], nonce: u64, torsion: EdwardsPoint) -> Signature {
        let r = Scalar::from(nonce);
        let big_r = (ED25519_BASEPOINT_POINT * r + torsion).compress();
        let mut hash = Sha512::new();
        hash.update(big_r.as_bytes());
        hash.update(self.key.compress().as_bytes());
        hash.update(message);
        let mut wide = [0; 64];
        wide.copy_from_slice(&hash.finalize());
        let k = Scalar::from_bytes_mod_order_wide(&wide);
        Signature::from_components(big_r.to_bytes(), (r + k * self.secret).to_bytes())
    }
}

/// Whether a batch of `signed` agrees with checking each alone.
fn batch_of(signed: &[(VerifyingKey, Vec<u8>, Signature)]) -> Result<(), BadSignature> {
    let mut batch = Batch::new();
    for (key, message, signature) in signed {
        batch.push(key, message, signature)?;
    }
    batch.verify()
}

fn honest(count: usize, keys: usize) -> Vec<(VerifyingKey, Vec<u8>, Signature)> {
    let signers: Vec<SigningKey> = (0..keys)
        .map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32]))
        .collect();
    (0..count)
        .map(|i| {
            let signer = &signers[i % keys];
            let message = format!("entry {i}").into_bytes();
            let signature = signer.sign(&message);
            (signer.verifying_key(), message, signature)
        })
        .collect()
}

#[test]
fn honest_signatures_are_accepted_alone_and_in_batches_of_any_size() {
    for (count, keys) in [(1, 1), (2, 1), (3, 2), (64, 2), (65, 5)] {
        let signed = honest(count, keys);
        for (key, message, signature) in &signed {
            assert_eq!(verify(key, message, signature), Ok(()));
            assert!(key.verify_strict(message, signature).is_ok());
        }
        assert_eq!(
            batch_of(&signed),
            Ok(()),
            "{count} signatures by {keys} keys"
        );
    }
    assert_eq!(Batch::new().verify(), Ok(()), "an empty batch");
}

#[test]
fn one_bad_signature_fails_its_batch_wherever_it_is() {
    let signed = honest(64, 3);
    for bad in [0, 31, 63] {
        // Another message, another signature, another key.
        for spoil in 0..3 {
            let mut spoiled = signed.clone();
            match spoil {
                0 => spoiled[bad].1.push(b'!'),
                1 => spoiled[bad].2 = signed[(bad + 1) % 64].2,
                _ => spoiled[bad].0 = SigningKey::from_bytes(&[99; 32]).verifying_key(),
            }
            let (key, message, signature) = &spoiled[bad];
            assert_eq!(
                verify(key, message, signature),
                Err(BadSignature),
                "at {bad}, spoil {spoil}"
            );
            assert_eq!(
                batch_of(&spoiled),
                Err(BadSignature),
                "at {bad}, spoil {spoil}"
            );
        }
    }
}

/// A small-order component in R: the cofactorless equation (`verify_strict`) refuses the
/// signature, the cofactored one accepts it, and a batch says the same as the single check
/// however it is made up. ed25519-dalek's cofactorless `verify_batch` does not: for some
/// batches it accepts what its single check refuses, which is why parley does not use it.
#[test]
fn a_small_order_component_in_r_is_judged_alike_alone_and_in_any_batch() {
    let forge = Forge::new(0x1234_5678, EdwardsPoint::default());
    let key = forge.verifying_key();
    let order_two = EIGHT_TORSION[4];
    let mut dalek_disagrees = false;
    for i in 0..32u64 {
        let message = format!("torsion {i}").into_bytes();
        let signature = forge.sign(&message, 1000 + i, order_two);
        assert!(key.verify_strict(&message, &signature).is_err());
        assert_eq!(verify(&key, &message, &signature), Ok(()));
        let mut signed = honest(7, 2);
        signed.push((key, message.clone(), signature));
        assert_eq!(batch_of(&signed), Ok(()));
        let messages: Vec<&[u8]> = signed.iter().map(|s| &s.1[..]).collect();
        let signatures: Vec<Signature> = signed.iter().map(|s| s.2).collect();
        let keys: Vec<VerifyingKey> = signed.iter().map(|s| s.0).collect();
        dalek_disagrees |= ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
    }
    assert!(
        dalek_disagrees,
        "the cofactorless batch never accepted what its single check refuses"
    );
}

/// A key with a small-order component (mixed order, not small order itself) is a key; its
/// signatures are judged by the cofactored equation, alone and in batches alike.
#[test]
fn a_key_of_mixed_order_is_judged_alike_alone_and_in_batches() {
    for torsion in &EIGHT_TORSION[1..] {
        let forge = Forge::new(0x0bad_cafe, *torsion);
        let key = forge.verifying_key();
        assert!(!key.is_weak());
        for i in 0..8u64 {
            let message = format!("mixed {i}").into_bytes();
            let signature = forge.sign(&message, 77 + i, EdwardsPoint::default());
            assert_eq!(verify(&key, &message, &signature), Ok(()));
            let mut signed = honest(3, 1);
            signed.push((key, message, signature));
            assert_eq!(batch_of(&signed), Ok(()));
        }
    }
}

#[test]
fn small_order_r_is_refused_even_where_the_equation_holds() {
    // R a point of small order and S = k·a: [8][S]B = [8][k]A holds, as [8]R vanishes.
    let forge = Forge::new(99, EdwardsPoint::default());
    let key = forge.verifying_key();
    for torsion in &EIGHT_TORSION {
        let r_bytes = torsion.compress().to_bytes();
        let mut hash = Sha512::new();
        hash.update(r_bytes);
        hash.update(key.as_bytes());
        hash.update(b"m");
        let mut wide = [0; 64];
        wide.copy_from_slice(&hash.finalize());
        let s = Scalar::from_bytes_mod_order_wide(&wide) * forge.secret;
        let signature = Signature::from_components(r_bytes, s.to_bytes());
        assert_eq!(verify(&key, b"m", &signature), Err(BadSignature));
        assert_eq!(Batch::new().push(&key, b"m", &signature), Err(BadSignature));
    }
}

#[test]
fn s_is_accepted_below_the_group_order_and_refused_from_it() {
    let (key, message, signature) = honest(1, 1).remove(0);
    let s = Scalar::from_canonical_bytes(*signature.s_bytes()).unwrap();
    // The same S plus ℓ: the same value mod ℓ, the encoding not canonical.
    let ell = (Scalar::ZERO - Scalar::ONE).to_bytes();
    let mut wide = [0u16; 33];
    for (i, (a, b)) in s.to_bytes().iter().zip(ell.iter()).enumerate() {
        wide[i] += u16::from(*a) + u16::from(*b) + if i == 0 { 1 } else { 0 };
        wide[i + 1] = wide[i] >> 8;
        wide[i] &= 0xff;
    }
    let plus_ell: [u8; 32] = std::array::from_fn(|i| wide[i] as u8);
    assert_eq!(wide[32], 0, "S + ℓ fits 256 bits");
    let malleated = Signature::from_components(*signature.r_bytes(), plus_ell);
    assert_eq!(verify(&key, &message, &signature), Ok(()));
    assert_eq!(verify(&key, &message, &malleated), Err(BadSignature));
    assert_eq!(
        Batch::new().push(&key, &message, &malleated),
        Err(BadSignature)
    );
    // ℓ − 1, the largest canonical S, passes the encoding check (the equation then fails).
    let largest = Signature::from_components(*signature.r_bytes(), ell);
    assert!(Batch::new().push(&key, &message, &largest).is_ok());
}

#[test]
fn encodings_are_canonical_exactly_below_p() {
    // The 19 values from p to 2²⁵⁵ − 1, with either sign bit, are not canonical; p − 1 and
    // 0 are.
    for extra in 0..19u8 {
        let mut encoding = P;
        encoding[0] += extra;
        assert!(!canonical(&encoding), "p + {extra}");
        encoding[31] |= 0x80;
        assert!(!canonical(&encoding), "p + {extra}, sign bit set");
    }
    let mut below = P;
    below[0] -= 1;
    assert!(canonical(&below));
    assert!(canonical(&[0; 32]));
    // A canonical encoding is one that decoding then encoding gives back.
    let decoded = non_canonical_points();
    assert!(!decoded.is_empty(), "some non-canonical encoding decodes");
    for (encoding, point) in decoded {
        assert_ne!(point.compress().to_bytes(), encoding);
    }
}

/// The non-canonical encodings (y from p up, either sign bit) that decode, with their point.
fn non_canonical_points() -> Vec<([u8; 32], EdwardsPoint)> {
    (0..19u8)
        .flat_map(|y| [(y, 0), (y, 0x80)])
        .filter_map(|(y, sign)| {
            let mut encoding = P;
            encoding[0] = encoding[0].wrapping_add(y);
            encoding[31] |= sign;
            let point = CompressedEdwardsY(encoding).decompress()?;
            Some((encoding, point))
        })
        .collect()
}

#[test]
fn keys_and_r_with_non_canonical_encodings_are_refused() {
    let (key, message, signature) = honest(1, 1).remove(0);
    // Encodings that decode to a point not of small order, so that only the encoding check
    // can refuse them.
    let large: Vec<[u8; 32]> = non_canonical_points()
        .into_iter()
        .filter(|(_, point)| !point.is_small_order())
        .map(|(encoding, _)| encoding)
        .collect();
    assert!(
        !large.is_empty(),
        "no non-canonical encoding of a point of large order"
    );
    // The honest signature checked alone first: a check alone looks among the remembered
    // before it applies the encoding rules, and must still refuse each of these.
    assert_eq!(verify(&key, &message, &signature), Ok(()));
    for encoding in large {
        // Pushing checks encodings only: a refusal here is the encoding check's.
        let as_r = Signature::from_components(encoding, *signature.s_bytes());
        assert_eq!(Batch::new().push(&key, &message, &as_r), Err(BadSignature));
        assert_eq!(verify(&key, &message, &as_r), Err(BadSignature));
        let as_key = VerifyingKey::from_bytes(&encoding).expect("a point");
        assert_eq!(
            Batch::new().push(&as_key, &message, &signature),
            Err(BadSignature)
        );
        assert_eq!(verify(&as_key, &message, &signature), Err(BadSignature));
    }
}

/// Tests run in parallel and share what is remembered: another test's signature may take a
/// slot in between, so a check that must see one remembered tries again.
const REMEMBER_TRIES: usize = 100;

#[test]
fn a_signature_accepted_alone_is_remembered_and_nothing_else_passes_for_it() {
    let signer = SigningKey::from_bytes(&[0x5a; 32]);
    let key = signer.verifying_key();
    let message = b"remembered once accepted".to_vec();
    let signature = signer.sign(&message);
    // Another message whose signature would take the same slot: only the whole of what the
    // equation reads may answer for it.
    let slot = |message: &[u8]| {
        let item = Item::new(&key, message, &signature).expect("well-formed");
        item.remembered().slot
    };
    let collider = (0u32..)
        .map(|i| format!("collides {i}").into_bytes())
        .find(|other| slot(other) == slot(&message))
        .expect("some message shares the slot");
    let other_signer = SigningKey::from_bytes(&[0x5b; 32]);
    let remembered = (0..REMEMBER_TRIES).any(|_| {
        assert_eq!(verify(&key, &message, &signature), Ok(()));
        assert_eq!(verify(&key, &collider, &signature), Err(BadSignature));
        assert_eq!(
            verify(&other_signer.verifying_key(), &message, &signature),
            Err(BadSignature)
        );
        is_remembered(&key, &message, &signature)
    });
    assert!(remembered, "an accepted signature is remembered");
    assert!(!is_remembered(&key, &collider, &signature));
}

#[test]
fn a_refused_signature_is_never_remembered() {
    let signer = SigningKey::from_bytes(&[0x5c; 32]);
    let key = signer.verifying_key();
    let signature = signer.sign(b"what was signed");
    for _ in 0..2 {
        assert_eq!(verify(&key, b"what was not", &signature), Err(BadSignature));
        assert!(!is_remembered(&key, b"what was not", &signature));
    }
}

#[test]
fn a_batch_accepts_a_remembered_signature_by_its_equation_alone() {
    // Remembering is for signatures checked alone: a batch of several computes its sum over
    // every signature, so a bad one beside a remembered one still fails it.
    let signed = honest(3, 2);
    // Signed by a key no other test uses: nothing else checks these alone.
    let signer = SigningKey::from_bytes(&[0x7e; 32]);
    let fresh: Vec<_> = (0..4)
        .map(|i| {
            let message = format!("batched {i}").into_bytes();
            (
                signer.verifying_key(),
                message.clone(),
                signer.sign(&message),
            )
        })
        .collect();
    assert_eq!(batch_of(&fresh), Ok(()));
    for (key, message, signature) in &fresh {
        assert!(
            !is_remembered(key, message, signature),
            "only a check alone remembers"
        );
    }
    for (key, message, signature) in &signed {
        assert_eq!(verify(key, message, signature), Ok(()));
    }
    assert_eq!(batch_of(&signed), Ok(()));
    let mut tampered = signed.clone();
    tampered[2].1.push(b'!');
    assert_eq!(batch_of(&tampered), Err(BadSignature));
}
