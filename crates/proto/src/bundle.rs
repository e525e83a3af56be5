//! Courier bundles: the frames of one link, signed by the station that wrote them, for carrying
//! on removable media or through a shared folder.
//!
//! Payload (COSE_Sign1 `application/parley-bundle`):
//! `[1, link, from, to, created_ms, [frame…]]`, each frame exactly as it would travel on a
//! network channel (tag byte, then envelope or receipt).
//!
//! Two layers of authentication: the bundle signature proves the whole file is intact and came
//! from `from`; every frame inside is also independently signed (and every envelope sealed), so
//! a frame taken out of a damaged bundle is still verified on its own before it is accepted.
//! [`UnverifiedBundle::verify`] is the normal path; [`UnverifiedBundle::salvage`] yields the
//! frames of a bundle whose outer signature fails, for an operator who chooses to keep what
//! still verifies frame by frame.

use ciborium::Value;

use crate::cbor::{self, Fields};
use crate::cose::{self, CONTENT_TYPE_BUNDLE, Unverified};
use crate::error::DecodeError;
use crate::id::{Identity, LinkId, StationId};
use crate::limits::{BUNDLE_FRAMES_MAX, BUNDLE_SIZE_MAX_BYTES, FRAME_SIZE_MAX_BYTES};

/// A decoded bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The link.
    pub link: LinkId,
    /// The writer (signer).
    pub from: StationId,
    /// The station it is for.
    pub to: StationId,
    /// UTC time of writing, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Frames, each at most [`FRAME_SIZE_MAX_BYTES`].
    pub frames: Vec<Vec<u8>>,
}

impl Bundle {
    /// Signs the bundle as `from`.
    pub fn sign(&self, signer: &Identity) -> Vec<u8> {
        assert_eq!(signer.id(), self.from, "a bundle is signed by its writer");
        assert!(self.frames.len() <= BUNDLE_FRAMES_MAX);
        let payload = Value::Array(vec![
            cbor::uint(1),
            cbor::bytes(&self.link.0),
            cbor::bytes(&self.from.0),
            cbor::bytes(&self.to.0),
            cbor::uint(self.created_ms),
            Value::Array(self.frames.iter().map(|f| cbor::bytes(f)).collect()),
        ]);
        cose::sign(signer, CONTENT_TYPE_BUNDLE, cbor::encode(&payload))
    }

    /// Size of the signed bundle holding `frames` of `frame_bytes` bytes in total, at most
    /// (a bound for deciding how much fits under [`BUNDLE_SIZE_MAX_BYTES`]).
    pub fn size_bound(frames: usize, frame_bytes: usize) -> usize {
        // COSE and payload header: < 256 bytes; each frame's bstr header: <= 5 bytes.
        256 + frame_bytes + frames * 5
    }

    /// Whether a frame of `next` bytes still fits in a bundle already holding `frames` frames
    /// of `frame_bytes` bytes, under both [`BUNDLE_FRAMES_MAX`] and [`BUNDLE_SIZE_MAX_BYTES`].
    pub fn fits(frames: usize, frame_bytes: usize, next: usize) -> bool {
        frames < BUNDLE_FRAMES_MAX
            && Self::size_bound(frames + 1, frame_bytes + next) <= BUNDLE_SIZE_MAX_BYTES
    }

    fn from_payload(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut f = Fields::versioned(cbor::decode(payload, "bundle")?, "bundle", 6)?;
        let link = LinkId(f.fixed("link")?);
        let from = StationId(f.fixed("from")?);
        let to = StationId(f.fixed("to")?);
        let created_ms = f.uint("created_ms")?;
        let mut frames = Vec::new();
        for value in f.list("frames", BUNDLE_FRAMES_MAX)? {
            match value {
                Value::Bytes(frame) if frame.len() <= FRAME_SIZE_MAX_BYTES => frames.push(frame),
                _ => {
                    return Err(DecodeError::Field {
                        what: "bundle",
                        field: "frames",
                    });
                }
            }
        }
        Ok(Self {
            link,
            from,
            to,
            created_ms,
            frames,
        })
    }

    /// Parses a bundle's structure without verifying its signature.
    pub fn peek(bytes: &[u8]) -> Result<UnverifiedBundle, DecodeError> {
        let cose = Unverified::parse(bytes, "bundle", CONTENT_TYPE_BUNDLE, BUNDLE_SIZE_MAX_BYTES)?;
        let bundle = Self::from_payload(cose.payload_unverified())?;
        Ok(UnverifiedBundle { cose, bundle })
    }
}

/// A well-formed bundle whose signature is not yet verified.
pub struct UnverifiedBundle {
    cose: Unverified,
    bundle: Bundle,
}

impl UnverifiedBundle {
    /// The station the bundle claims to come from, to pick the pinned key.
    pub fn claimed_from(&self) -> StationId {
        self.bundle.from
    }

    /// The station the bundle claims to be for.
    pub fn claimed_to(&self) -> StationId {
        self.bundle.to
    }

    /// Verifies the signature under the claimed writer's key.
    pub fn verify(self) -> Result<Bundle, DecodeError> {
        self.cose.verify(&self.bundle.from.verifying_key()?)?;
        Ok(self.bundle)
    }

    /// The frames without the bundle's signature: each must be verified on its own.
    pub fn salvage(self) -> Vec<Vec<u8>> {
        self.bundle.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(frames: Vec<Vec<u8>>) -> (Identity, Bundle) {
        let alice = Identity::from_secret(&[1; 32]);
        let bob = Identity::from_secret(&[2; 32]);
        let bundle = Bundle {
            link: LinkId::between(&alice.id(), &bob.id()),
            from: alice.id(),
            to: bob.id(),
            created_ms: 7,
            frames,
        };
        (alice, bundle)
    }

    #[test]
    fn bundles_round_trip_and_refuse_tampering() {
        let (alice, bundle) = sample(vec![vec![1, 2, 3], vec![2; FRAME_SIZE_MAX_BYTES]]);
        let bytes = bundle.sign(&alice);
        assert!(bytes.len() <= Bundle::size_bound(2, 3 + FRAME_SIZE_MAX_BYTES));
        let peeked = Bundle::peek(&bytes).unwrap();
        assert_eq!(peeked.claimed_from(), alice.id());
        assert_eq!(peeked.verify().unwrap(), bundle);

        // A flipped bit inside a frame: structure intact, signature fails, frames salvageable.
        let mut flipped = bytes.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x01;
        let peeked = Bundle::peek(&flipped).unwrap();
        assert!(matches!(
            peeked.verify(),
            Err(DecodeError::BadSignature { .. })
        ));
        assert_eq!(Bundle::peek(&flipped).unwrap().salvage().len(), 2);

        // Truncated: refused outright.
        assert!(Bundle::peek(&bytes[..bytes.len() - 10]).is_err());
        assert!(Bundle::peek(&[]).is_err());
    }

    #[test]
    fn a_bundle_of_countless_tiny_items_is_refused_as_they_are_read() {
        // Anyone can drop such a file: its items (a byte each, 32 bytes each decoded) are
        // refused past the bound, before the signature or the frames are looked at.
        let (alice, _) = sample(Vec::new());
        let mut payload = vec![0x9a];
        payload.extend(4_000_000u32.to_be_bytes());
        payload.resize(5 + 4_000_000, 0x00);
        let bytes = cose::sign(&alice, CONTENT_TYPE_BUNDLE, payload);
        assert!(matches!(
            Bundle::peek(&bytes),
            Err(DecodeError::TooManyItems { what: "bundle", .. })
        ));
    }

    #[test]
    fn frame_size_limit_holds_on_both_sides() {
        let (alice, bundle) = sample(vec![vec![0; FRAME_SIZE_MAX_BYTES + 1]]);
        let error = Bundle::peek(&bundle.sign(&alice)).err().unwrap();
        assert!(matches!(
            error,
            DecodeError::Field {
                field: "frames",
                ..
            }
        ));
    }

    #[test]
    fn frame_count_limit_holds_on_both_sides() {
        let (alice, bundle) = sample(vec![vec![1]; BUNDLE_FRAMES_MAX]);
        assert!(Bundle::peek(&bundle.sign(&alice)).is_ok());
        // One over: built by hand, since `sign` refuses it.
        let mut items: Vec<Value> = vec![cbor::bytes(&[1]); BUNDLE_FRAMES_MAX + 1];
        let payload = Value::Array(vec![
            cbor::uint(1),
            cbor::bytes(&bundle.link.0),
            cbor::bytes(&bundle.from.0),
            cbor::bytes(&bundle.to.0),
            cbor::uint(1),
            Value::Array(std::mem::take(&mut items)),
        ]);
        let bytes = cose::sign(&alice, CONTENT_TYPE_BUNDLE, cbor::encode(&payload));
        assert!(matches!(
            Bundle::peek(&bytes).err().unwrap(),
            DecodeError::Field {
                field: "frames",
                ..
            }
        ));
    }
}
