//! Envelopes: what travels on a channel. A sealed signed entry plus the routing header, all
//! signed by the author so relays and the receiver authenticate before anything is decrypted.
//!
//! Payload (COSE_Sign1 `application/parley-envelope`):
//! `[1, link, from, to, seq, entry_id, epoch_key_id, encapsulated_key, ciphertext]`.

use ciborium::Value;

use crate::cbor::{self, Fields};
use crate::cose::{self, CONTENT_TYPE_ENVELOPE, Unverified};
use crate::error::DecodeError;
use crate::id::{EntryId, EpochKeyId, Identity, LinkId, StationId};
use crate::limits::ENVELOPE_SIZE_MAX_BYTES;
use crate::seal::{ENCAPSULATED_KEY_BYTES, Sealed};

/// A decoded envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The link.
    pub link: LinkId,
    /// Author of the entry inside.
    pub from: StationId,
    /// Recipient.
    pub to: StationId,
    /// The entry's seq.
    pub seq: u64,
    /// The entry's id.
    pub entry_id: EntryId,
    /// The recipient's epoch key sealed to.
    pub key_id: EpochKeyId,
    /// HPKE encapsulated key.
    pub encapsulated: Vec<u8>,
    /// Sealed signed entry.
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// Builds and signs an envelope around sealed output.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        author: &Identity,
        link: LinkId,
        to: StationId,
        seq: u64,
        entry_id: EntryId,
        sealed: Sealed,
    ) -> Vec<u8> {
        let payload = Value::Array(vec![
            cbor::uint(1),
            cbor::bytes(&link.0),
            cbor::bytes(&author.id().0),
            cbor::bytes(&to.0),
            cbor::uint(seq),
            cbor::bytes(&entry_id.0),
            cbor::bytes(&sealed.key_id.0),
            Value::Bytes(sealed.encapsulated),
            Value::Bytes(sealed.ciphertext),
        ]);
        cose::sign(author, CONTENT_TYPE_ENVELOPE, cbor::encode(&payload))
    }

    fn from_payload(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut f = Fields::versioned(cbor::decode(payload, "envelope")?, "envelope", 9)?;
        let envelope = Envelope {
            link: LinkId(f.fixed("link")?),
            from: StationId(f.fixed("from")?),
            to: StationId(f.fixed("to")?),
            seq: f.uint("seq")?,
            entry_id: EntryId(f.fixed("entry_id")?),
            key_id: EpochKeyId(f.fixed("epoch_key_id")?),
            encapsulated: f.bytes("encapsulated_key", ENCAPSULATED_KEY_BYTES)?,
            ciphertext: f.bytes("ciphertext", ENVELOPE_SIZE_MAX_BYTES)?,
        };
        if envelope.encapsulated.len() != ENCAPSULATED_KEY_BYTES {
            return Err(DecodeError::Field {
                what: "envelope",
                field: "encapsulated_key",
            });
        }
        if envelope.seq == 0 {
            return Err(DecodeError::Field {
                what: "envelope",
                field: "seq",
            });
        }
        Ok(envelope)
    }

    /// Parses an envelope's structure and header without verifying its signature, so the
    /// caller can find the pinned key of `from`.
    pub fn peek(bytes: &[u8]) -> Result<UnverifiedEnvelope, DecodeError> {
        let cose = Unverified::parse(
            bytes,
            "envelope",
            CONTENT_TYPE_ENVELOPE,
            ENVELOPE_SIZE_MAX_BYTES,
        )?;
        let envelope = Self::from_payload(cose.payload_unverified())?;
        Ok(UnverifiedEnvelope { cose, envelope })
    }
}

/// An envelope whose header is parsed but whose signature is not yet checked.
pub struct UnverifiedEnvelope {
    cose: Unverified,
    envelope: Envelope,
}

impl UnverifiedEnvelope {
    /// The id of the epoch key it claims to be sealed to (this station's own frames, read
    /// back from its store).
    pub(crate) fn claimed_key_id(&self) -> EpochKeyId {
        self.envelope.key_id
    }

    /// The claimed sender, to look up its pinned key.
    pub fn claimed_from(&self) -> StationId {
        self.envelope.from
    }

    /// Verifies the author's signature with the key of the claimed sender, giving the proof
    /// type a link takes. Only the endpoint calls it, after checking the claimed sender is
    /// pinned.
    pub(crate) fn verify(self) -> Result<VerifiedEnvelope, DecodeError> {
        let envelope = self.check_signature()?;
        Ok(VerifiedEnvelope { envelope })
    }

    /// The proof type for bytes identical to an envelope whose signature already verified
    /// under the key of the sender it names, alone or in a batch (the endpoint keeps their
    /// digests): verifying them again could give no other answer. Only the endpoint calls it,
    /// on a digest match.
    pub(crate) fn verified_before(self) -> VerifiedEnvelope {
        VerifiedEnvelope {
            envelope: self.envelope,
        }
    }

    /// Gathers the author's signature, under the key of the claimed sender, into `batch`: the
    /// endpoint takes the envelope as verified only once `batch` verifies. Returns the
    /// envelope, not to be trusted before then.
    pub(crate) fn gather(self, batch: &mut crate::ed25519::Batch) -> Result<Envelope, DecodeError> {
        let key = self.envelope.from.verifying_key()?;
        self.cose.verify_in(&key, batch)?;
        Ok(self.envelope)
    }

    /// Checks the author's signature with the key of the claimed sender and returns the
    /// decoded envelope: what a relay needs to route it (a relay opens nothing).
    pub fn check_signature(self) -> Result<Envelope, DecodeError> {
        let key = self.envelope.from.verifying_key()?;
        self.cose.verify(&key)?;
        Ok(self.envelope)
    }
}

/// An envelope whose signature verified under the key of the pinned station it names as sender:
/// proof that the header and ciphertext are that station's. Only the endpoint makes one, so a
/// link can never be handed an envelope nobody checked.
pub struct VerifiedEnvelope {
    envelope: Envelope,
}

impl VerifiedEnvelope {
    /// The verified envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
}
