//! C2SP signed notes (`c2sp.org/signed-note`) with Ed25519 signatures, and the checkpoints
//! they carry (`c2sp.org/tlog-checkpoint`).
//!
//! A note is its text (UTF-8, ending in a newline), a blank line, then one line per
//! signature: `— <key name> <base64(key id ‖ signature)>`. The key id is the first four bytes
//! of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key); 0x01 names Ed25519, which signs the text's
//! bytes. A checkpoint's text is the log's origin, its size in decimal and its root hash in
//! base64, a line each, then optional extension lines.
//!
//! A cosignature (`c2sp.org/tlog-cosignature`, version 1) is one more signature line, by the
//! cosigner, whose key id uses type byte 0x04 and whose bytes are the key id, the time in
//! seconds (8 bytes, big-endian) and an Ed25519 signature over `cosignature/v1`, `time <t>`
//! (a line each) and the checkpoint's text. One station key can both sign its own checkpoints
//! (0x01) and cosign its peer's (0x04): the two messages cannot be taken for each other, nor
//! for the COSE structures the key signs entries with (those begin with a CBOR array header,
//! never a printable character).
//!
//! The same specification's ML-DSA-44 cosignature has key id type byte 0x06; its bytes are the
//! key id, the time (8 bytes, big-endian) and an ML-DSA-44 signature (FIPS 204, empty context)
//! over the binary `subtree/v1` message: the label `subtree/v1\n\0`, the cosigner's name and
//! the log's origin (each with a one-byte length), the time, the subtree's start (0 for a
//! checkpoint) and end (the size), and the root hash. Extension lines are not signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use super::Hash;
use crate::pq::{PQ_SIGNATURE_BYTES, PqPublicKey, PqSigningKey};

/// The signature type byte of Ed25519 in a key id and a verifier key.
const ED25519: u8 = 0x01;
/// The signature type byte of a timestamped Ed25519 cosignature (`c2sp.org/tlog-cosignature`).
const COSIGNATURE_V1: u8 = 0x04;
/// The signature type byte of a timestamped ML-DSA-44 (sub)tree cosignature.
const SUBTREE_V1: u8 = 0x06;
/// The label that begins the message an ML-DSA-44 cosignature signs.
const SUBTREE_V1_LABEL: &[u8; 12] = b"subtree/v1\n\0";
/// The FIPS 204 context of an ML-DSA-44 cosignature: empty.
const SUBTREE_V1_CONTEXT: &[u8] = b"";
/// The first line of the message a cosignature signs, before its time and the checkpoint.
const COSIGNATURE_V1_HEADER: &str = "cosignature/v1\n";
/// Bytes of a cosignature's timestamp (big-endian seconds since the epoch).
const TIMESTAMP_BYTES: usize = 8;
/// The latest time a cosignature may carry: 2^63 - 1 seconds.
const TIMESTAMP_MAX_S: u64 = i64::MAX as u64;
/// What begins a signature line: an em dash and a space.
const SIGNATURE_LINE_START: &str = "\u{2014} ";
/// The most bytes of a note read (text and signatures): parley's own bound on what it reads.
pub const NOTE_SIZE_MAX_BYTES: usize = 1_000_000;
/// The most signature lines a note may carry (as Go's `sumdb/note` bounds them).
pub const NOTE_SIGNATURES_MAX: usize = 100;
/// The most bytes of a key name this station signs under (a checkpoint origin's bound in
/// `c2sp.org/tlog-cosignature`); others' names are only read.
pub const KEY_NAME_SIZE_MAX_BYTES: usize = 255;

/// Why a note or a checkpoint was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Not a well-formed note: the reason.
    #[error("not a signed note: {0}")]
    Malformed(&'static str),
    /// No signature by the expected key.
    #[error("the note has no signature by {0}")]
    Unsigned(String),
    /// A signature by the expected key that does not verify.
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
    /// Not a well-formed checkpoint: the reason.
    #[error("not a checkpoint: {0}")]
    NotACheckpoint(&'static str),
}

/// Whether `name` can name a key in a note: not empty, no white space, no character below
/// U+0020 and no `+` (which separates a verifier key's parts).
fn readable_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(|c| c.is_whitespace() || c < ' ')
}

/// Whether this station may sign under `name`: a readable key name of at most
/// [`KEY_NAME_SIZE_MAX_BYTES`].
pub fn valid_key_name(name: &str) -> bool {
    readable_key_name(name) && name.len() <= KEY_NAME_SIZE_MAX_BYTES
}

/// The key id of Ed25519 key `public` under `name`.
pub fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, ED25519, public.as_bytes())
}

/// The key id of Ed25519 key `public` cosigning under `name`: the same key as a cosigner has
/// another id, as the signature type byte differs.
pub fn cosigner_key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, COSIGNATURE_V1, public.as_bytes())
}

/// The key id of an ML-DSA-44 key `public` cosigning under `name` (type 0x06).
pub fn pq_cosigner_key_id(name: &str, public: &PqPublicKey) -> [u8; 4] {
    typed_key_id(name, SUBTREE_V1, public.as_bytes())
}

fn typed_key_id(name: &str, signature_type: u8, public: &[u8]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([signature_type])
        .chain_update(public)
        .finalize();
    digest[..4].try_into().expect("four bytes")
}

/// The verifier key in its text form, `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>`,
/// as C2SP tools take it.
pub fn verifier_key(name: &str, public: &VerifyingKey) -> String {
    typed_verifier_key(name, ED25519, public.as_bytes())
}

/// The cosigner's verifier key in its text form, with signature type 0x04.
pub fn cosigner_verifier_key(name: &str, public: &VerifyingKey) -> String {
    typed_verifier_key(name, COSIGNATURE_V1, public.as_bytes())
}

fn typed_verifier_key(name: &str, signature_type: u8, public: &[u8]) -> String {
    let mut typed = vec![signature_type];
    typed.extend_from_slice(public);
    format!(
        "{name}+{}+{}",
        hex::encode(typed_key_id(name, signature_type, public)),
        BASE64.encode(typed)
    )
}

/// Reads a cosigner's verifier key in its text form, `<name>+<key id, 8 hex>+<base64(0x04 ‖
/// public key)>` (`c2sp.org/tlog-cosignature`: how a witness publishes its key). The name must
/// be one this station may sign under ([`valid_key_name`]), the type `cosignature/v1` (0x04),
/// the key id the one the name and key give, and the key a canonical Ed25519 point not of
/// small order.
pub fn parse_cosigner_verifier_key(vkey: &str) -> Result<(String, VerifyingKey), NoteError> {
    // The key's base64 may hold `+`: the name and the id end at the first two.
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::Malformed(
            "a verifier key is <name>+<key id>+<key>, three parts",
        ));
    };
    if !valid_key_name(name) {
        return Err(NoteError::Malformed(
            "a verifier key's name is empty, over 255 bytes, or holds a space or a control character",
        ));
    }
    let typed = BASE64
        .decode(key)
        .map_err(|_| NoteError::Malformed("a verifier key's key is not base64"))?;
    let (&signature_type, public) = typed
        .split_first()
        .ok_or(NoteError::Malformed("a verifier key's key is empty"))?;
    if signature_type != COSIGNATURE_V1 {
        return Err(NoteError::Malformed(
            "a verifier key is not of a cosignature/v1 (type 0x04) Ed25519 key",
        ));
    }
    let public: [u8; 32] = public
        .try_into()
        .map_err(|_| NoteError::Malformed("a verifier key's Ed25519 key is not 32 bytes"))?;
    if hex::decode(id).ok().as_deref() != Some(&typed_key_id(name, signature_type, &public)[..]) {
        return Err(NoteError::Malformed(
            "a verifier key's key id is not the one its name and key give",
        ));
    }
    crate::ed25519::strict_key(&public)
        .map(|key| (name.to_owned(), key))
        .ok_or(NoteError::Malformed(
            "a verifier key's Ed25519 key is not a canonical point of large order",
        ))
}

/// `text` (which must end in a newline) signed by `key` under `name`, as a note with that one
/// signature.
pub fn sign(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    check_text(text)?;
    if !valid_key_name(name) {
        return Err(NoteError::Malformed(
            "the key name is empty, too long or has a space or +",
        ));
    }
    Ok(format!("{text}\n{}", signature_line(text, name, key)))
}

/// A signature line by `key` under `name` over `text`, ending in a newline: what a cosigner
/// adds to a note.
pub fn signature_line(text: &str, name: &str, key: &SigningKey) -> String {
    let mut signed = key_id(name, &key.verifying_key()).to_vec();
    signed.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
    line(name, &signed)
}

/// A signature line under `name` carrying `signed` (the key id, then the signature's bytes),
/// ending in a newline.
pub fn line(name: &str, signed: &[u8]) -> String {
    format!("{SIGNATURE_LINE_START}{name} {}\n", BASE64.encode(signed))
}

/// The bytes a signature line carries (key id, then signature), if it is one.
pub fn line_bytes(line: &str) -> Option<Vec<u8>> {
    let rest = line
        .strip_suffix('\n')?
        .strip_prefix(SIGNATURE_LINE_START)?;
    let (_, signed) = rest.split_once(' ')?;
    BASE64.decode(signed).ok()
}

/// A cosignature line (`c2sp.org/tlog-cosignature`, version 1) by `key` under `name` over the
/// checkpoint `text` at `timestamp_s` (seconds since the epoch), ending in a newline: what a
/// cosigner adds to the checkpoint's note.
pub fn cosignature_line(
    text: &str,
    name: &str,
    key: &SigningKey,
    timestamp_s: u64,
) -> Result<String, NoteError> {
    check_text(text)?;
    if !valid_key_name(name) {
        return Err(NoteError::Malformed(
            "the key name is empty, too long or has a space or +",
        ));
    }
    if timestamp_s > TIMESTAMP_MAX_S {
        return Err(NoteError::Malformed("the time is past 2^63 - 1 seconds"));
    }
    let mut signed = cosigner_key_id(name, &key.verifying_key()).to_vec();
    signed.extend_from_slice(&timestamp_s.to_be_bytes());
    let message = cosigned_message(text, timestamp_s);
    signed.extend_from_slice(&key.sign(message.as_bytes()).to_bytes());
    Ok(line(name, &signed))
}

/// What a version-1 cosignature at `timestamp_s` over checkpoint `text` signs.
fn cosigned_message(text: &str, timestamp_s: u64) -> String {
    format!("{COSIGNATURE_V1_HEADER}time {timestamp_s}\n{text}")
}

/// The text of `note` once a signature by `public` under `name` verifies on it (strict
/// Ed25519). Signatures by other keys are not checked; a note that is not well formed, or
/// with no such signature, or two by that key, or one by that key of the wrong length, is
/// refused.
pub fn open<'a>(note: &'a str, name: &str, public: &VerifyingKey) -> Result<&'a str, NoteError> {
    let (text, signatures) = split(note)?;
    let signed = only_signature(signatures, name, key_id(name, public))?;
    verify(public, text.as_bytes(), &signed[4..], name)?;
    Ok(text)
}

/// The text of `note` and the time (seconds since the epoch) of its cosignature by `public`
/// under `name`, once that cosignature verifies (strict Ed25519), as [`open`] does for a
/// signature.
pub fn open_cosigned<'a>(
    note: &'a str,
    name: &str,
    public: &VerifyingKey,
) -> Result<(&'a str, u64), NoteError> {
    let (text, signatures) = split(note)?;
    let signed = only_signature(signatures, name, cosigner_key_id(name, public))?;
    let (timestamp, signature) = signed[4..]
        .split_first_chunk::<TIMESTAMP_BYTES>()
        .ok_or_else(|| NoteError::BadSignature(name.to_owned()))?;
    let timestamp_s = u64::from_be_bytes(*timestamp);
    if timestamp_s > TIMESTAMP_MAX_S {
        return Err(NoteError::BadSignature(name.to_owned()));
    }
    let message = cosigned_message(text, timestamp_s);
    verify(public, message.as_bytes(), signature, name)?;
    Ok((text, timestamp_s))
}

/// The one signature line under `name` with key id `id`: none, or two, is refused.
fn only_signature(
    signatures: Vec<SignatureLine<'_>>,
    name: &str,
    id: [u8; 4],
) -> Result<Vec<u8>, NoteError> {
    let mut found = None;
    for (line_name, signed) in signatures {
        if line_name != name || signed[..4] != id {
            continue;
        }
        if found.is_some() {
            return Err(NoteError::Malformed("two signatures by the same key"));
        }
        found = Some(signed);
    }
    found.ok_or_else(|| NoteError::Unsigned(name.to_owned()))
}

/// Ed25519 verification (parley's rule, [`crate::ed25519`]) of `signature` on `message`; `name` names the key in the error.
fn verify(
    public: &VerifyingKey,
    message: &[u8],
    signature: &[u8],
    name: &str,
) -> Result<(), NoteError> {
    let signature =
        Signature::from_slice(signature).map_err(|_| NoteError::BadSignature(name.to_owned()))?;
    crate::ed25519::verify(public, message, &signature)
        .map_err(|_| NoteError::BadSignature(name.to_owned()))
}

/// An ML-DSA-44 cosignature line (`c2sp.org/tlog-cosignature`, `subtree/v1`) by `key` under
/// `name` over `checkpoint` at `timestamp_s` (0: no statement that it is the largest tree the
/// cosigner saw), ending in a newline.
pub fn pq_cosignature_line(
    checkpoint: &Checkpoint,
    name: &str,
    key: &PqSigningKey,
    timestamp_s: u64,
) -> Result<String, NoteError> {
    let message = subtree_message(name, timestamp_s, checkpoint)?;
    let mut signed = pq_cosigner_key_id(name, key.public()).to_vec();
    signed.extend_from_slice(&timestamp_s.to_be_bytes());
    signed.extend_from_slice(&key.sign(&message, SUBTREE_V1_CONTEXT)[..]);
    Ok(line(name, &signed))
}

/// The checkpoint `note` states and the time of its ML-DSA-44 cosignature by `public` under
/// `name`, once that cosignature verifies. Other signatures are not checked; none by that key,
/// or two, or one of the wrong length, is refused.
pub fn open_pq_cosigned(
    note: &str,
    name: &str,
    public: &PqPublicKey,
) -> Result<(Checkpoint, u64), NoteError> {
    let (text, signatures) = split(note)?;
    let checkpoint = Checkpoint::parse(text)?;
    let signed = only_signature(signatures, name, pq_cosigner_key_id(name, public))?;
    let bad = || NoteError::BadSignature(name.to_owned());
    let (timestamp, signature) = signed[4..]
        .split_first_chunk::<TIMESTAMP_BYTES>()
        .ok_or_else(bad)?;
    let timestamp_s = u64::from_be_bytes(*timestamp);
    if signature.len() != PQ_SIGNATURE_BYTES {
        return Err(bad());
    }
    let message = subtree_message(name, timestamp_s, &checkpoint).map_err(|_| bad())?;
    if !public.verify(&message, SUBTREE_V1_CONTEXT, signature) {
        return Err(bad());
    }
    Ok((checkpoint, timestamp_s))
}

/// The `subtree/v1` message an ML-DSA-44 cosignature by `name` at `timestamp_s` of a
/// checkpoint signs (start 0, end its size).
fn subtree_message(
    name: &str,
    timestamp_s: u64,
    checkpoint: &Checkpoint,
) -> Result<Vec<u8>, NoteError> {
    if !valid_key_name(name) {
        return Err(NoteError::Malformed(
            "the key name is empty, too long or has a space or +",
        ));
    }
    if timestamp_s > TIMESTAMP_MAX_S {
        return Err(NoteError::Malformed("the time is past 2^63 - 1 seconds"));
    }
    let origin = checkpoint.origin.as_bytes();
    let origin_len = u8::try_from(origin.len())
        .ok()
        .filter(|len| *len > 0)
        .ok_or(NoteError::NotACheckpoint(
            "the origin is empty or longer than 255 bytes",
        ))?;
    let name_len = u8::try_from(name.len()).expect("a valid key name is at most 255 bytes");
    let mut message = Vec::with_capacity(12 + 1 + name.len() + 8 + 1 + origin.len() + 8 + 8 + 32);
    message.extend_from_slice(SUBTREE_V1_LABEL);
    message.push(name_len);
    message.extend_from_slice(name.as_bytes());
    message.extend_from_slice(&timestamp_s.to_be_bytes());
    message.push(origin_len);
    message.extend_from_slice(origin);
    message.extend_from_slice(&0u64.to_be_bytes());
    message.extend_from_slice(&checkpoint.size.to_be_bytes());
    message.extend_from_slice(&checkpoint.root);
    Ok(message)
}

/// The text of `note` (its lines before the blank line, each ending in a newline) once the
/// note is well formed (`c2sp.org/signed-note`: size, characters, the blank line, each
/// signature line's form); no signature is checked.
pub fn text(note: &str) -> Result<&str, NoteError> {
    split(note).map(|(text, _)| text)
}

/// A signature line of a note: its key name, and its bytes (key id, then signature).
type SignatureLine<'a> = (&'a str, Vec<u8>);

/// A note's text and its signature lines, checked for form.
fn split(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    if note.len() > NOTE_SIZE_MAX_BYTES {
        return Err(NoteError::Malformed("over the size limit"));
    }
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed(
            "a control character other than a newline",
        ));
    }
    let at = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&note[..=at], &note[at + 2..]);
    check_text(text)?;
    if !signatures.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the last signature line does not end in a newline",
        ));
    }
    let lines: Vec<&str> = signatures[..signatures.len() - 1].split('\n').collect();
    if lines.len() > NOTE_SIGNATURES_MAX {
        return Err(NoteError::Malformed("too many signatures"));
    }
    lines
        .into_iter()
        .map(|line| {
            let rest = line
                .strip_prefix(SIGNATURE_LINE_START)
                .ok_or(NoteError::Malformed(
                    "a signature line does not begin with an em dash",
                ))?;
            let (name, signed) = rest
                .split_once(' ')
                .ok_or(NoteError::Malformed("a signature line has no signature"))?;
            if !readable_key_name(name) {
                return Err(NoteError::Malformed(
                    "a signature line's key name is not valid",
                ));
            }
            let signed = BASE64
                .decode(signed)
                .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
            if signed.len() < 5 {
                return Err(NoteError::Malformed("a signature is too short"));
            }
            Ok((name, signed))
        })
        .collect::<Result<_, _>>()
        .map(|signatures| (text, signatures))
}

/// A note's text: ending in a newline, no character below U+0020 but newlines.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text does not end in a newline"));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed("the text holds a control character"));
    }
    Ok(())
}

/// A log's tree head as a checkpoint states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique name.
    pub origin: String,
    /// How many leaves.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint's text, the body of its note: origin, size and root, a line each. An
    /// origin that is empty or holds a newline or another control character is refused.
    pub fn text(&self) -> Result<String, NoteError> {
        if self.origin.is_empty() || self.origin.chars().any(|c| c < ' ') {
            return Err(NoteError::NotACheckpoint(
                "the origin is empty or holds a control character",
            ));
        }
        Ok(format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        ))
    }

    /// Reads a checkpoint's text; extension lines after the root are allowed and ignored.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        check_text(text).map_err(|_| NoteError::NotACheckpoint("the text is not a note's"))?;
        let mut lines = text[..text.len() - 1].split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(NoteError::NotACheckpoint("the origin is empty"));
        }
        let size = lines
            .next()
            .filter(|size| size == &"0" || (!size.starts_with('0') && !size.is_empty()))
            .filter(|size| size.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|size| size.parse().ok())
            .ok_or(NoteError::NotACheckpoint(
                "the size is not a decimal number",
            ))?;
        let root = lines
            .next()
            .and_then(|root| BASE64.decode(root).ok())
            .and_then(|root| Hash::try_from(root).ok())
            .ok_or(NoteError::NotACheckpoint(
                "the root is not a base64 SHA-256 hash",
            ))?;
        if lines.any(str::is_empty) {
            return Err(NoteError::NotACheckpoint("an extension line is empty"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}
