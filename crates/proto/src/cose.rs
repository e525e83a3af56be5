//! COSE_Sign1 (RFC 9052) with EdDSA (Ed25519) for every signed parley object.
//!
//! The protected header carries exactly the algorithm and a content type naming the object
//! (`application/parley-entry`, …), so a signature over one kind can never be passed off as
//! another. The unprotected header is empty and the payload is attached. The object is encoded
//! tagged (CBOR tag 18), and decoding refuses anything that does not re-encode byte for byte.

use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana,
};
use ed25519_dalek::{Signature, VerifyingKey};

use crate::cbor;
use crate::error::DecodeError;
use crate::id::Identity;

/// Content type of entries.
pub const CONTENT_TYPE_ENTRY: &str = "application/parley-entry";
/// Content type of envelopes.
pub const CONTENT_TYPE_ENVELOPE: &str = "application/parley-envelope";
/// Content type of receipts.
pub const CONTENT_TYPE_RECEIPT: &str = "application/parley-receipt";
/// Content type of contact cards.
pub const CONTENT_TYPE_CARD: &str = "application/parley-card";
/// Content type of courier bundles.
pub const CONTENT_TYPE_BUNDLE: &str = "application/parley-bundle";
/// Content type of transcript exports.
pub const CONTENT_TYPE_TRANSCRIPT: &str = "application/parley-transcript";

/// Signs `payload` as a tagged COSE_Sign1 of `content_type`.
pub fn sign(identity: &Identity, content_type: &str, payload: Vec<u8>) -> Vec<u8> {
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .content_type(content_type.to_owned())
        .build();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(b"", |to_be_signed| identity.sign(to_be_signed).to_vec())
        .build()
        .to_tagged_vec()
        .expect("encoding a COSE_Sign1 we built cannot fail")
}

/// Signs `payload` as [`sign`] does, but with `protected` as the protected header's bytes:
/// what a signer could send to give one object a second encoding (and a second id).
#[cfg(test)]
pub(crate) fn sign_with_protected_bytes(
    identity: &Identity,
    content_type: &str,
    protected: Vec<u8>,
    payload: Vec<u8>,
) -> Vec<u8> {
    let header = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .content_type(content_type.to_owned())
        .build();
    let mut sign1 = CoseSign1Builder::new().payload(payload).build();
    sign1.protected = coset::ProtectedHeader {
        original_data: Some(protected),
        header,
    };
    sign1.signature = identity.sign(&sign1.tbs_data(b"")).to_vec();
    sign1
        .to_tagged_vec()
        .expect("encoding a COSE_Sign1 we built cannot fail")
}

/// The protected header of `content_type` with its two parameters in the wrong order (3, then
/// 1): valid CBOR with the same contents as parley's, but not its deterministic encoding.
#[cfg(test)]
pub(crate) fn protected_reordered(content_type: &str) -> Vec<u8> {
    let mut bytes = vec![0xa2, 0x03];
    let len = u8::try_from(content_type.len()).expect("a content type is short");
    match len {
        0..=23 => bytes.push(0x60 + len),
        _ => bytes.extend([0x78, len]),
    }
    bytes.extend(content_type.as_bytes());
    bytes.extend([0x01, 0x27]);
    bytes
}

/// Why a COSE_Sign1 that ends within its payload is refused: ciborium's words for it.
const CUT_SHORT: &str = "it ends before its value does";

/// Why a COSE_Sign1 over [`cbor::CIBORIUM_INPUT_SIZE_MAX_BYTES`] is refused when
/// [`Unverified::parse_canonical`] does not read it.
const NOT_AS_WRITTEN: &str = "not in the form parley writes (tag 18, the protected header of its content type, an empty unprotected header, the payload attached, a 64-byte signature)";

/// A COSE_Sign1 whose structure is checked but whose signature is not yet verified.
/// The payload is reachable only through [`Unverified::verify`] (or [`Unverified::verify_in`],
/// trusted once its batch verifies) or, for routing decisions that
/// precede verification (finding which pinned key to verify with), [`Unverified::payload_unverified`].
pub struct Unverified {
    sign1: CoseSign1,
    what: &'static str,
}

impl Unverified {
    /// Parses `bytes` as a tagged COSE_Sign1 with EdDSA and the given content type.
    pub fn parse(
        bytes: &[u8],
        what: &'static str,
        content_type: &str,
        size_max_bytes: usize,
    ) -> Result<Self, DecodeError> {
        if bytes.len() > size_max_bytes {
            return Err(DecodeError::TooLarge {
                what,
                len: bytes.len(),
                max: size_max_bytes,
            });
        }
        match Self::parse_canonical(bytes, content_type) {
            Some(sign1) => Ok(Self { sign1, what }),
            // coset's reader allocates about 32 bytes an encoded byte and has no bound of its
            // own: a large object not in the form parley writes is refused unread.
            None if bytes.len() > cbor::CIBORIUM_INPUT_SIZE_MAX_BYTES => {
                Err(if Self::cut_short(bytes) {
                    DecodeError::Cbor {
                        what,
                        detail: CUT_SHORT.to_owned(),
                    }
                } else {
                    DecodeError::Cose {
                        what,
                        detail: NOT_AS_WRITTEN,
                    }
                })
            }
            None => Self::parse_by_coset(bytes, what, content_type),
        }
    }

    /// Whether `bytes` begin as [`sign`] writes, but end within the payload: a file copied
    /// in part (a drive pulled too soon), refused as not valid CBOR, as coset refuses it.
    fn cut_short(bytes: &[u8]) -> bool {
        bytes
            .strip_prefix(&[0xd2, 0x84])
            .and_then(cbor::split_byte_string)
            .and_then(|(_, rest)| rest.strip_prefix(&[0xa0]))
            .is_some_and(cbor::byte_string_cut_short)
    }

    /// [`Unverified::parse`] by coset's reader, then the comparison with the object encoded
    /// again.
    fn parse_by_coset(
        bytes: &[u8],
        what: &'static str,
        content_type: &str,
    ) -> Result<Self, DecodeError> {
        let sign1 = CoseSign1::from_tagged_slice(bytes).map_err(|error| DecodeError::Cbor {
            what,
            detail: error.to_string(),
        })?;
        let cose_error = |detail| DecodeError::Cose { what, detail };
        let header = &sign1.protected.header;
        if header.alg != Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA)) {
            return Err(cose_error("algorithm is not EdDSA"));
        }
        if header.content_type != Some(coset::ContentType::Text(content_type.to_owned())) {
            return Err(cose_error("content type is not the expected one"));
        }
        let expected_protected_fields = Self::expected_header(content_type);
        if *header != expected_protected_fields || !sign1.unprotected.is_empty() {
            return Err(cose_error("unexpected header parameters"));
        }
        if sign1.payload.is_none() {
            return Err(cose_error("payload is detached"));
        }
        if sign1.signature.len() != 64 {
            return Err(cose_error("signature is not 64 bytes"));
        }
        // Re-encoded from its contents, the protected header too: coset would otherwise keep
        // the received bytes, and a signer could give one object several encodings (and ids).
        let mut canonical = sign1.clone();
        canonical.protected.original_data = None;
        let reencoded = canonical
            .to_tagged_vec()
            .map_err(|_| cose_error("does not re-encode"))?;
        if reencoded != bytes {
            return Err(DecodeError::NonCanonical { what });
        }
        Ok(Self { sign1, what })
    }

    /// The COSE_Sign1 in `bytes` if they are exactly what [`sign`] writes for `content_type`
    /// (tag 18; the protected header of [`Unverified::expected_header`] in its deterministic
    /// encoding; an empty unprotected header; the payload attached; a 64-byte signature):
    /// what coset would read from them, and what [`Unverified::parse`] would then accept,
    /// without reading them through coset and encoding them again. Anything else is `None`,
    /// for `parse` to decide and explain.
    fn parse_canonical(bytes: &[u8], content_type: &str) -> Option<CoseSign1> {
        let header = Self::expected_header(content_type);
        let protected_bytes = CborSerializable::to_vec(header.clone()).ok()?;
        // Tag 18 (COSE_Sign1), then an array of 4.
        let rest = bytes.strip_prefix(&[0xd2, 0x84])?;
        let (protected_bytes_read, rest) = cbor::split_byte_string(rest)?;
        if protected_bytes_read != protected_bytes {
            return None;
        }
        // The unprotected header: an empty map.
        let rest = rest.strip_prefix(&[0xa0])?;
        let (payload, rest) = cbor::split_byte_string(rest)?;
        // The signature: a byte string of 64 bytes, the last item.
        let signature = rest.strip_prefix(&[0x58, 0x40])?;
        if signature.len() != 64 {
            return None;
        }
        Some(CoseSign1 {
            protected: coset::ProtectedHeader {
                original_data: Some(protected_bytes),
                header,
            },
            unprotected: coset::Header::default(),
            payload: Some(payload.to_vec()),
            signature: signature.to_vec(),
        })
    }

    fn expected_header(content_type: &str) -> coset::Header {
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .content_type(content_type.to_owned())
            .build()
    }

    /// The payload before verification: only for choosing the key to verify with.
    pub fn payload_unverified(&self) -> &[u8] {
        self.sign1.payload.as_deref().unwrap_or_default()
    }

    /// Verifies the signature (parley's Ed25519 rule, [`crate::ed25519`]) and returns the payload.
    pub fn verify(self, key: &VerifyingKey) -> Result<Vec<u8>, DecodeError> {
        let what = self.what;
        self.sign1
            .verify_signature(b"", |signature, to_be_signed| {
                let signature = Signature::from_slice(signature).map_err(|_| ())?;
                crate::ed25519::verify(key, to_be_signed, &signature).map_err(|_| ())
            })
            .map_err(|()| DecodeError::BadSignature { what })?;
        Ok(self.sign1.payload.unwrap_or_default())
    }

    /// Gathers the signature into `batch` instead of checking it now, and returns the
    /// payload, which is not to be trusted until `batch` verifies. A signature whose encoding
    /// already breaks the rule is refused here.
    pub fn verify_in(
        self,
        key: &VerifyingKey,
        batch: &mut crate::ed25519::Batch,
    ) -> Result<Vec<u8>, DecodeError> {
        let what = self.what;
        let signature = Signature::from_slice(&self.sign1.signature)
            .map_err(|_| DecodeError::BadSignature { what })?;
        batch
            .push(key, &self.sign1.tbs_data(b""), &signature)
            .map_err(|_| DecodeError::BadSignature { what })?;
        Ok(self.sign1.payload.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_objects_verify_only_under_their_key_and_type() {
        let alice = Identity::from_secret(&[1; 32]);
        let bob = Identity::from_secret(&[2; 32]);
        let bytes = sign(&alice, CONTENT_TYPE_ENTRY, b"hello".to_vec());
        let key = alice.id().verifying_key().unwrap();
        let parsed = Unverified::parse(&bytes, "entry", CONTENT_TYPE_ENTRY, 1024).unwrap();
        assert_eq!(parsed.verify(&key).unwrap(), b"hello");

        let other = bob.id().verifying_key().unwrap();
        let parsed = Unverified::parse(&bytes, "entry", CONTENT_TYPE_ENTRY, 1024).unwrap();
        assert!(matches!(
            parsed.verify(&other),
            Err(DecodeError::BadSignature { .. })
        ));

        assert!(matches!(
            Unverified::parse(&bytes, "receipt", CONTENT_TYPE_RECEIPT, 1024),
            Err(DecodeError::Cose { .. })
        ));
        assert!(matches!(
            Unverified::parse(&bytes, "entry", CONTENT_TYPE_ENTRY, bytes.len() - 1),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(Unverified::parse(&bytes, "entry", CONTENT_TYPE_ENTRY, bytes.len()).is_ok());

        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let parsed = Unverified::parse(&flipped, "entry", CONTENT_TYPE_ENTRY, 1024).unwrap();
        assert!(parsed.verify(&key).is_err());
    }

    #[test]
    fn only_objects_up_to_their_bound_are_left_to_coset() {
        // parley's form but for a parameter in the unprotected header, `len` bytes in all.
        let object = |len: usize| {
            let build = |payload: usize| {
                CoseSign1Builder::new()
                    .protected(Unverified::expected_header(CONTENT_TYPE_BUNDLE))
                    .unprotected(HeaderBuilder::new().key_id(b"k".to_vec()).build())
                    .payload(vec![7; payload])
                    .signature(vec![0; 64])
                    .build()
                    .to_tagged_vec()
                    .unwrap()
            };
            let fixed = build(60_000).len() - 60_000;
            let bytes = build(len - fixed);
            assert_eq!(bytes.len(), len);
            bytes
        };
        let parse = |bytes: &[u8]| {
            Unverified::parse(bytes, "bundle", CONTENT_TYPE_BUNDLE, usize::MAX).map(|_| ())
        };
        let refused = |detail| {
            Err(DecodeError::Cose {
                what: "bundle",
                detail,
            })
        };
        assert_eq!(
            parse(&object(cbor::CIBORIUM_INPUT_SIZE_MAX_BYTES)),
            refused("unexpected header parameters")
        );
        assert_eq!(
            parse(&object(cbor::CIBORIUM_INPUT_SIZE_MAX_BYTES + 1)),
            refused(NOT_AS_WRITTEN)
        );
        // One written as parley writes it, cut short, is told as such at both sizes.
        let whole = sign(
            &Identity::from_secret(&[1; 32]),
            CONTENT_TYPE_BUNDLE,
            vec![7; 2 * cbor::CIBORIUM_INPUT_SIZE_MAX_BYTES],
        );
        for len in [
            cbor::CIBORIUM_INPUT_SIZE_MAX_BYTES,
            cbor::CIBORIUM_INPUT_SIZE_MAX_BYTES + 1,
        ] {
            // coset's words below the bound, ciborium's above it.
            let cut = parse(&whole[..len]);
            let told =
                |detail: &str| len <= cbor::CIBORIUM_INPUT_SIZE_MAX_BYTES || detail == CUT_SHORT;
            assert!(
                matches!(&cut, Err(DecodeError::Cbor { detail, .. }) if told(detail)),
                "{len}: {cut:?}"
            );
        }
    }

    /// What `parse` answers for `bytes`: coset's answer, and the short way's only where it
    /// equals coset's; above coset's bound, a refusal where the short way reads nothing.
    /// Returns whether the short way read them.
    fn agree(bytes: &[u8], content_type: &str) -> bool {
        let by_coset = Unverified::parse_by_coset(bytes, "thing", content_type);
        let short = Unverified::parse_canonical(bytes, content_type);
        if let Some(sign1) = &short {
            assert_eq!(
                by_coset.as_ref().map(|parsed| &parsed.sign1).ok(),
                Some(sign1)
            );
        }
        let parsed = Unverified::parse(bytes, "thing", content_type, usize::MAX);
        if short.is_none() && bytes.len() > cbor::CIBORIUM_INPUT_SIZE_MAX_BYTES {
            let refused = DecodeError::Cose {
                what: "thing",
                detail: NOT_AS_WRITTEN,
            };
            assert_eq!(parsed.err(), Some(refused));
            return false;
        }
        assert_eq!(
            parsed.map(|parsed| parsed.sign1),
            by_coset.map(|parsed| parsed.sign1)
        );
        short.is_some()
    }

    #[test]
    fn the_short_way_reads_exactly_what_coset_accepts_and_reads_it_the_same() {
        let alice = Identity::from_secret(&[1; 32]);
        let (mut short, mut left) = (0, 0);
        let mut count = |read: bool| if read { short += 1 } else { left += 1 };
        // Payload lengths at both sides of each width of a byte string's length.
        for len in [0, 23, 24, 255, 256, 65_535, 65_536] {
            let bytes = sign(&alice, CONTENT_TYPE_ENTRY, vec![0x5a; len]);
            count(agree(&bytes, CONTENT_TYPE_ENTRY));
            count(agree(&bytes, CONTENT_TYPE_RECEIPT));
            for at in (0..bytes.len()).step_by(1 + bytes.len() / 97) {
                for damage in 0..4 {
                    let mut damaged = bytes.clone();
                    match damage {
                        0 => damaged[at] ^= 0x01,
                        1 => damaged[at] = 0xff,
                        2 => damaged.truncate(at),
                        _ => damaged.insert(at, 0x00),
                    }
                    count(agree(&damaged, CONTENT_TYPE_ENTRY));
                }
            }
            let mut longer = bytes.clone();
            longer.push(0);
            count(agree(&longer, CONTENT_TYPE_ENTRY));
        }
        let reordered = sign_with_protected_bytes(
            &alice,
            CONTENT_TYPE_ENTRY,
            protected_reordered(CONTENT_TYPE_ENTRY),
            b"hello".to_vec(),
        );
        count(agree(&reordered, CONTENT_TYPE_ENTRY));
        // A byte string's length in more bytes than it needs, the protected header's or the
        // payload's: another encoding of the same object, refused.
        let canonical = sign(&alice, CONTENT_TYPE_ENTRY, vec![0x5a; 23]);
        let protected = CborSerializable::to_vec(Unverified::expected_header(CONTENT_TYPE_ENTRY))
            .expect("encodes");
        let protected_len = u8::try_from(protected.len()).expect("short");
        assert_eq!(canonical[2..4], [0x58, protected_len]);
        let payload_at = 4 + protected.len() + 1;
        assert_eq!(canonical[payload_at], 0x57);
        for (at, len, longer) in [
            (2, 2, vec![0x59, 0x00, protected_len]),
            (payload_at, 1, vec![0x58, 0x17]),
        ] {
            let mut bytes = canonical.clone();
            bytes.splice(at..at + len, longer);
            assert!(!agree(&bytes, CONTENT_TYPE_ENTRY));
            assert!(Unverified::parse(&bytes, "entry", CONTENT_TYPE_ENTRY, usize::MAX).is_err());
        }
        assert!(short >= 7 && left > 500, "{short} / {left}");
    }

    #[test]
    fn a_protected_header_in_another_encoding_is_refused() {
        let alice = Identity::from_secret(&[1; 32]);
        let key = alice.id().verifying_key().unwrap();
        let canonical = sign(&alice, CONTENT_TYPE_ENTRY, b"hello".to_vec());
        let long_length = {
            // The content type's length in two bytes where one would do.
            let mut bytes = vec![0xa2, 0x01, 0x27, 0x03, 0x79, 0x00];
            bytes.push(CONTENT_TYPE_ENTRY.len() as u8);
            bytes.extend(CONTENT_TYPE_ENTRY.as_bytes());
            bytes
        };
        for protected in [protected_reordered(CONTENT_TYPE_ENTRY), long_length] {
            let other = sign_with_protected_bytes(
                &alice,
                CONTENT_TYPE_ENTRY,
                protected.clone(),
                b"hello".to_vec(),
            );
            assert_ne!(other, canonical, "a second encoding of the same object");
            // The signature over the other encoding is good: only its encoding is wrong.
            let sign1 = CoseSign1::from_tagged_slice(&other).unwrap();
            assert_eq!(
                sign1.protected.original_data.as_deref(),
                Some(&protected[..])
            );
            sign1
                .verify_signature(b"", |signature, data| {
                    let signature = Signature::from_slice(signature).map_err(|_| ())?;
                    crate::ed25519::verify(&key, data, &signature).map_err(|_| ())
                })
                .unwrap();
            assert_eq!(
                sign1.protected.header,
                Unverified::expected_header(CONTENT_TYPE_ENTRY)
            );
            assert!(matches!(
                Unverified::parse(&other, "entry", CONTENT_TYPE_ENTRY, 1024),
                Err(DecodeError::NonCanonical { what: "entry" })
            ));
        }
        assert!(Unverified::parse(&canonical, "entry", CONTENT_TYPE_ENTRY, 1024).is_ok());
    }
}
