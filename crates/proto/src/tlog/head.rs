//! A link log's checkpoints as its entries carry them: the author's signed tree head of its
//! own log ([`SignedHead`], entry kind 14), the peer's cosignature of it ([`Cosignature`],
//! entry kind 15) and a witness's ([`WitnessCosignature`], entry kind 16), each kept compact
//! (sizes, hashes and signatures) and turned into the
//! standard C2SP note (`c2sp.org/tlog-checkpoint`, `c2sp.org/tlog-cosignature`) on demand,
//! for export, a witness or any C2SP verifier (docs/formats.md §3.5).
//!
//! The log of `author` on its link with `peer` is named (its origin, which is also the key
//! name its checkpoints are signed under) `parley.link/<author key hex>/<peer key hex>`; a
//! station cosigns as `parley.station/<its key hex>`. Both keys are the stations' identity
//! keys, so a verifier needs nothing beyond the two cards.

use std::sync::Arc;

use super::Hash;
use super::note::{self, Checkpoint, NoteError};
use crate::id::{Identity, StationId};
use crate::pq::{PQ_SIGNATURE_BYTES, PqPublicKey};

/// What begins the origin of a link log.
pub const ORIGIN_PREFIX: &str = "parley.link/";
/// What begins a station's name as a cosigner.
pub const COSIGNER_PREFIX: &str = "parley.station/";
/// What begins a relay's name as a witness (`c2sp.org/tlog-witness`).
pub const WITNESS_PREFIX: &str = "parley.witness/";

/// The origin (and key name) of `author`'s log of its link with `peer`.
pub fn origin(author: &StationId, peer: &StationId) -> String {
    format!("{ORIGIN_PREFIX}{author}/{peer}")
}

/// The name `station` cosigns under.
pub fn cosigner(station: &StationId) -> String {
    format!("{COSIGNER_PREFIX}{station}")
}

/// The name `relay` cosigns under as a witness.
pub fn witness(relay: &StationId) -> String {
    format!("{WITNESS_PREFIX}{relay}")
}

/// A tree head of the author's log of a link, signed by the author as a C2SP checkpoint.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SignedHead {
    /// How many of the author's entries the tree holds (seq 1 to `size`); at least 1.
    pub size: u64,
    /// The RFC 6962 root of their leaves (each leaf an entry's signed bytes).
    pub root: Hash,
    /// The author's Ed25519 signature of the checkpoint's text, under the log's origin.
    pub signature: [u8; 64],
}

impl SignedHead {
    /// The head of `identity`'s log of its link with `peer` at `size` with `root`, signed.
    pub fn sign(identity: &Identity, peer: &StationId, size: u64, root: Hash) -> Self {
        let text = text(&identity.id(), peer, size, root);
        Self {
            size,
            root,
            signature: identity.sign(text.as_bytes()),
        }
    }

    /// The checkpoint's text (origin, size, root) for `author`'s log of its link with `peer`.
    pub fn text(&self, author: &StationId, peer: &StationId) -> String {
        text(author, peer, self.size, self.root)
    }

    /// The checkpoint as a C2SP signed note, with the author's signature.
    pub fn note(&self, author: &StationId, peer: &StationId) -> String {
        let name = origin(author, peer);
        let mut signed = signing_key_id(author, &name).to_vec();
        signed.extend_from_slice(&self.signature);
        format!(
            "{}\n{}",
            self.text(author, peer),
            note::line(&name, &signed)
        )
    }

    /// Whether `author` signed this head of its log of its link with `peer`.
    pub fn verify(&self, author: &StationId, peer: &StationId) -> Result<(), NoteError> {
        let key = verifying_key(author)?;
        note::open(&self.note(author, peer), &origin(author, peer), &key).map(drop)
    }
}

/// The author's post-quantum signature of its own [`SignedHead`]: an ML-DSA-44 cosignature
/// (`c2sp.org/tlog-cosignature`, `subtree/v1`, time 0) under [`cosigner`]`(author)`. A
/// checkpoint entry carries it beside the Ed25519 signature; one covers every entry under the
/// checkpoint against a forger who could break Ed25519.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PqHeadSignature(pub Arc<[u8; PQ_SIGNATURE_BYTES]>);

impl PqHeadSignature {
    /// `identity`'s signature of `head`, the head of its log of its link with `peer`.
    pub fn sign(identity: &Identity, peer: &StationId, head: &SignedHead) -> Self {
        Self::sign_by(identity, (&identity.id(), peer), head, 0)
    }

    /// `identity`'s ML-DSA-44 cosignature, at `time_s` (0: none), of `head`, the head of
    /// `author`'s log of its link with `peer` (one of the two is `identity`), under
    /// [`cosigner`]`(identity)`.
    fn sign_by(
        identity: &Identity,
        (author, peer): (&StationId, &StationId),
        head: &SignedHead,
        time_s: u64,
    ) -> Self {
        let line = note::pq_cosignature_line(
            &checkpoint(author, peer, head.size, head.root),
            &cosigner(&identity.id()),
            identity.pq(),
            time_s,
        )
        .expect("a checkpoint's origin, a valid name and a time in range");
        let bytes = note::line_bytes(&line).expect("a line just written");
        Self(Arc::new(bytes[12..].try_into().expect("2420 bytes")))
    }

    /// Its signature line on the note of `head` by `author` with key `key`.
    pub fn line(&self, author: &StationId, key: &PqPublicKey) -> String {
        self.line_by(author, key, 0)
    }

    /// Its signature line as `signer`'s, with key `key`, at `time_s`.
    fn line_by(&self, signer: &StationId, key: &PqPublicKey, time_s: u64) -> String {
        let name = cosigner(signer);
        let mut signed = note::pq_cosigner_key_id(&name, key).to_vec();
        signed.extend_from_slice(&time_s.to_be_bytes());
        signed.extend_from_slice(&self.0[..]);
        note::line(&name, &signed)
    }

    /// Whether it is `author`'s signature, by ML-DSA-44 key `key`, of `head` (the head of its
    /// log of its link with `peer`). Only the ML-DSA-44 signature is checked.
    pub fn verify(
        &self,
        head: &SignedHead,
        (author, peer): (&StationId, &StationId),
        key: &PqPublicKey,
    ) -> Result<(), NoteError> {
        self.verify_by(head, (author, peer), (author, key, 0))
    }

    /// Whether it is `signer`'s signature, by ML-DSA-44 key `key` at `time_s`, of `head` (the
    /// head of `author`'s log of its link with `peer`).
    fn verify_by(
        &self,
        head: &SignedHead,
        (author, peer): (&StationId, &StationId),
        (signer, key, time_s): (&StationId, &PqPublicKey, u64),
    ) -> Result<(), NoteError> {
        let note = format!(
            "{}{}",
            head.note(author, peer),
            self.line_by(signer, key, time_s)
        );
        note::open_pq_cosigned(&note, &cosigner(signer), key).map(drop)
    }
}

impl SignedHead {
    /// Whether this head, carried with the post-quantum signature `pq`, is signed as its
    /// author must sign it (docs/formats.md §3.5): by its Ed25519 key, and by its ML-DSA-44
    /// key `pq_key` when the author has one and `pq_required` (else a `pq` present is still
    /// checked).
    pub fn verify_both(
        &self,
        (author, peer): (&StationId, &StationId),
        pq: Option<&PqHeadSignature>,
        (pq_key, pq_required): (Option<&PqPublicKey>, bool),
    ) -> Result<(), NoteError> {
        self.verify(author, peer)?;
        match (pq_key, pq) {
            (Some(key), Some(pq)) => pq.verify(self, (author, peer), key),
            (Some(_), None) if pq_required => Err(NoteError::Unsigned(cosigner(author))),
            _ => Ok(()),
        }
    }
}

/// A station's cosignature of its peer's [`SignedHead`]: it holds that log's first `size`
/// entries and they have that root.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Cosignature {
    /// The head cosigned, with the log author's signature.
    pub head: SignedHead,
    /// When it was cosigned, seconds since the epoch.
    pub time_s: u64,
    /// The cosigner's Ed25519 signature (`cosignature/v1`).
    pub signature: [u8; 64],
    /// The cosigner's ML-DSA-44 signature (`subtree/v1` under [`cosigner`]`(cosigner)` at
    /// `time_s`), when it had that key (formats.md §3.5).
    pub pq: Option<PqHeadSignature>,
}

impl Cosignature {
    /// `identity`'s cosignature, at `time_s`, of `head`, the head of `author`'s log of its link
    /// with `identity`, by both its keys.
    pub fn sign(identity: &Identity, author: &StationId, head: SignedHead, time_s: u64) -> Self {
        let pq = PqHeadSignature::sign_by(identity, (author, &identity.id()), &head, time_s);
        Self {
            pq: Some(pq),
            ..Self::sign_classical(identity, author, head, time_s)
        }
    }

    /// As [`Self::sign`], by the Ed25519 key alone (a station before it had an ML-DSA-44 key).
    pub fn sign_classical(
        identity: &Identity,
        author: &StationId,
        head: SignedHead,
        time_s: u64,
    ) -> Self {
        let text = head.text(author, &identity.id());
        let line = note::cosignature_line(
            &text,
            &cosigner(&identity.id()),
            identity.signing_key(),
            time_s,
        )
        .expect("a checkpoint's text, a valid name and a time in range");
        let bytes = note::line_bytes(&line).expect("a line just written");
        Self {
            head,
            time_s,
            signature: bytes[12..].try_into().expect("64 bytes"),
            pq: None,
        }
    }

    /// The checkpoint of `author`'s log of its link with `cosigner_id` as a C2SP note signed
    /// by the author and cosigned by `cosigner_id`: its Ed25519 line, then its ML-DSA-44 line
    /// when it carries one and the cosigner's key `pq_key` is known.
    pub fn note(
        &self,
        (author, cosigner_id): (&StationId, &StationId),
        pq_key: Option<&PqPublicKey>,
    ) -> String {
        let name = cosigner(cosigner_id);
        let pq_line = (self.pq.as_ref().zip(pq_key))
            .map(|(pq, key)| pq.line_by(cosigner_id, key, self.time_s));
        format!(
            "{}{}{}",
            self.head.note(author, cosigner_id),
            cosignature_line(&name, cosigner_id, self.time_s, &self.signature),
            pq_line.unwrap_or_default()
        )
    }

    /// Whether its ML-DSA-44 signature verifies as `cosigner_id`'s, by key `pq_key`, of the
    /// head of `author`'s log of its link with `cosigner_id`.
    pub fn verify_pq(
        &self,
        (author, cosigner_id): (&StationId, &StationId),
        pq_key: &PqPublicKey,
    ) -> Result<(), NoteError> {
        let pq = (self.pq.as_ref()).ok_or_else(|| NoteError::Unsigned(cosigner(cosigner_id)))?;
        pq.verify_by(
            &self.head,
            (author, cosigner_id),
            (cosigner_id, pq_key, self.time_s),
        )
    }

    /// Whether it is cosigned as its cosigner must cosign (formats.md §3.5): both Ed25519
    /// signatures ([`Self::verify`]), and the ML-DSA-44 one by `pq_key` when the cosigner has
    /// that key and `pq_required`, or when it carries one.
    pub fn verify_both(
        &self,
        (author, cosigner_id): (&StationId, &StationId),
        (pq_key, pq_required): (Option<&PqPublicKey>, bool),
    ) -> Result<(), NoteError> {
        self.verify(author, cosigner_id)?;
        match pq_key {
            Some(key) if pq_required || self.pq.is_some() => {
                self.verify_pq((author, cosigner_id), key)
            }
            _ => Ok(()),
        }
    }

    /// Whether both signatures verify: `author`'s on its head and `cosigner_id`'s cosignature.
    pub fn verify(&self, author: &StationId, cosigner_id: &StationId) -> Result<(), NoteError> {
        self.head.verify(author, cosigner_id)?;
        let key = verifying_key(cosigner_id)?;
        let (_, time_s) = note::open_cosigned(
            &self.note((author, cosigner_id), None),
            &cosigner(cosigner_id),
            &key,
        )?;
        debug_assert_eq!(time_s, self.time_s);
        Ok(())
    }
}

/// A witness as its cosignatures name it: the key name it cosigns under and its Ed25519 key.
/// A relay running as a witness is [`Witness::relay`], `parley.witness/<relay key hex>`; a
/// stock `c2sp.org/tlog-witness` witness has a name of its own, from its verifier key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Witness {
    /// The key name it cosigns under (untrusted text when read from a peer's entry: escape it
    /// before display).
    pub name: Arc<str>,
    /// Its Ed25519 key.
    pub key: StationId,
}

impl Witness {
    /// A relay as a witness: its identity key under [`witness`]`(relay)`.
    pub fn relay(relay: &StationId) -> Self {
        Self {
            name: witness(relay).into(),
            key: *relay,
        }
    }

    /// A witness from its verifier key, `<name>+<key id>+<base64(0x04 ‖ key)>`, as a stock
    /// witness publishes it.
    pub fn from_verifier_key(vkey: &str) -> Result<Self, NoteError> {
        let (name, key) = note::parse_cosigner_verifier_key(vkey)?;
        let witness = Self {
            name: name.into(),
            key: StationId(key.to_bytes()),
        };
        if !witness.is_relay() && !valid_witness_name(&witness.name) {
            return Err(NoteError::Malformed(
                "a witness's name is not printable ASCII, or is in parley's names (parley.…) \
                 without being the relay's own",
            ));
        }
        Ok(witness)
    }

    /// Its verifier key in the text form C2SP tools take.
    pub fn verifier_key(&self) -> String {
        note::cosigner_verifier_key(&self.name, &key_or_identity(&self.key))
    }

    /// Whether it cosigns under the name a relay witnesses under (an entry then leaves the
    /// name out, formats.md §3.5).
    pub fn is_relay(&self) -> bool {
        *self.name == witness(&self.key)
    }

    /// Refuses a witness whose key is one of the link's stations' (Ed25519 cosignatures do not
    /// commit to the cosigner's name, so a station's cosignature must not pass for a
    /// witness's), or whose name a station may not sign under.
    fn check(&self, author: &StationId, peer: &StationId) -> Result<(), NoteError> {
        if self.key == *author || self.key == *peer {
            return Err(NoteError::Malformed(
                "a witness's key is one of the link's stations' keys",
            ));
        }
        if !self.is_relay() && !valid_witness_name(&self.name) {
            return Err(NoteError::Malformed(
                "a witness's name is not a valid key name of printable ASCII outside parley's",
            ));
        }
        Ok(())
    }
}

/// What begins every name parley gives a key (`parley.link/`, `parley.station/`,
/// `parley.witness/`), in any case: no stock witness may take one.
const PARLEY_NAMES: &str = "parley.";

/// Whether `name` may name a stock witness: a key name a station may sign under
/// ([`note::valid_key_name`]) of printable ASCII only, so it shows as it is written wherever
/// the peer's entries are shown, and not in parley's own names (in any case), so no stock
/// witness passes for a relay or a station.
pub fn valid_witness_name(name: &str) -> bool {
    note::valid_key_name(name)
        && name.bytes().all(|b| b.is_ascii_graphic())
        && !(name.get(..PARLEY_NAMES.len()))
            .is_some_and(|start| start.eq_ignore_ascii_case(PARLEY_NAMES))
}

/// A witness's cosignature of the author's [`SignedHead`] (entry kind 16): a
/// `c2sp.org/tlog-witness` witness (a relay, or a stock witness the station was configured
/// with) checked it consistent with every checkpoint of the log it cosigned before, and
/// cosigned it under its name with its key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WitnessCosignature {
    /// The head cosigned, with the log author's signature.
    pub head: SignedHead,
    /// The witness.
    pub witness: Witness,
    /// When it was cosigned, seconds since the epoch (never 0).
    pub time_s: u64,
    /// The witness's Ed25519 signature (`cosignature/v1`).
    pub signature: [u8; 64],
}

impl WitnessCosignature {
    /// `relay`'s cosignature as a witness, at `time_s`, of `head`, the head of `author`'s log
    /// of its link with `peer`: what a relay's answer carries.
    pub fn sign(
        relay: &Identity,
        (author, peer): (&StationId, &StationId),
        head: SignedHead,
        time_s: u64,
    ) -> Self {
        Self::sign_as(
            relay,
            Witness::relay(&relay.id()),
            (author, peer),
            head,
            time_s,
        )
    }

    /// As [`Self::sign`], under `witness`'s name (whose key must be `key`'s).
    pub fn sign_as(
        key: &Identity,
        witness: Witness,
        (author, peer): (&StationId, &StationId),
        head: SignedHead,
        time_s: u64,
    ) -> Self {
        debug_assert_eq!(witness.key, key.id());
        let line = note::cosignature_line(
            &head.text(author, peer),
            &witness.name,
            key.signing_key(),
            time_s,
        )
        .expect("a checkpoint's text, a valid name and a time in range");
        let bytes = note::line_bytes(&line).expect("a line just written");
        Self {
            head,
            witness,
            time_s,
            signature: bytes[12..].try_into().expect("64 bytes"),
        }
    }

    /// Reads the cosignature `line` `witness` answered for `head` (the head of `author`'s log
    /// of its link with `peer`), once it verifies.
    pub fn from_line(
        (author, peer): (&StationId, &StationId),
        head: SignedHead,
        witness: &Witness,
        line: &str,
    ) -> Result<Self, NoteError> {
        witness.check(author, peer)?;
        let note = format!("{}{line}", head.note(author, peer));
        let (_, time_s) = note::open_cosigned(&note, &witness.name, &verifying_key(&witness.key)?)?;
        if time_s == 0 {
            // c2sp.org/tlog-witness: a witness's cosignature never omits its time.
            return Err(NoteError::Malformed(
                "a witness's cosignature carries no time",
            ));
        }
        let bytes = note::line_bytes(line).ok_or(NoteError::Malformed("not a signature line"))?;
        let signature = bytes
            .get(12..)
            .and_then(|signature| <[u8; 64]>::try_from(signature).ok())
            .ok_or(NoteError::Malformed("a cosignature is not 76 bytes"))?;
        Ok(Self {
            head,
            witness: witness.clone(),
            time_s,
            signature,
        })
    }

    /// The checkpoint of `author`'s log of its link with `peer` as a C2SP note signed by the
    /// author and cosigned by the witness.
    pub fn note(&self, author: &StationId, peer: &StationId) -> String {
        format!(
            "{}{}",
            self.head.note(author, peer),
            cosignature_line(
                &self.witness.name,
                &self.witness.key,
                self.time_s,
                &self.signature
            )
        )
    }

    /// Whether both signatures verify: `author`'s on its head and the witness's cosignature,
    /// by a key that is neither station's.
    pub fn verify(&self, author: &StationId, peer: &StationId) -> Result<(), NoteError> {
        self.witness.check(author, peer)?;
        self.head.verify(author, peer)?;
        let key = verifying_key(&self.witness.key)?;
        note::open_cosigned(&self.note(author, peer), &self.witness.name, &key).map(drop)
    }
}

/// The signature line of a version-1 cosignature by `cosigner`'s key under `name`.
fn cosignature_line(name: &str, cosigner: &StationId, time_s: u64, signature: &[u8; 64]) -> String {
    let mut signed = note::cosigner_key_id(name, &key_or_identity(cosigner)).to_vec();
    signed.extend_from_slice(&time_s.to_be_bytes());
    signed.extend_from_slice(signature);
    note::line(name, &signed)
}

fn text(author: &StationId, peer: &StationId, size: u64, root: Hash) -> String {
    checkpoint(author, peer, size, root)
        .text()
        .expect("an origin of hex digits")
}

fn checkpoint(author: &StationId, peer: &StationId, size: u64, root: Hash) -> Checkpoint {
    Checkpoint {
        origin: origin(author, peer),
        size,
        root,
    }
}

fn verifying_key(station: &StationId) -> Result<ed25519_dalek::VerifyingKey, NoteError> {
    station
        .verifying_key()
        .map_err(|_| NoteError::Malformed("a station's key is not an Ed25519 key"))
}

/// The station's key for a key id: a key that is not a valid point still names an id (no
/// signature by it can verify).
fn key_or_identity(station: &StationId) -> ed25519_dalek::VerifyingKey {
    station
        .verifying_key()
        .unwrap_or_else(|_| ed25519_dalek::VerifyingKey::from_bytes(&[0; 32]).expect("a point"))
}

fn signing_key_id(author: &StationId, name: &str) -> [u8; 4] {
    note::key_id(name, &key_or_identity(author))
}

#[cfg(test)]
mod tests;
