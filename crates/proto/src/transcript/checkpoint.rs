//! A checkpoint obtained apart from a transcript (from the peer, a witness, a colleague) as
//! the reference for its completeness (docs/formats.md §8.8): the log it names must be in the
//! file up to its size, with its root.

use super::VerifiedTranscript;
use crate::tlog::head::{cosigner, origin};
use crate::tlog::note::{self, Checkpoint, NoteError};
use crate::tlog::root;

/// What an independent checkpoint proves of a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointProof {
    /// Whose log: 0 for the exporter's, 1 for the peer's (card order).
    pub station: usize,
    /// Its first `size` entries are in the file, with the checkpoint's root.
    pub size: u64,
    /// When the other station of the link cosigned the checkpoint, if it did (seconds).
    pub cosigned_s: Option<u64>,
}

/// Why a checkpoint does not vouch for a transcript.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Its origin names neither log of the file's link.
    #[error("the checkpoint's origin is neither station's log of this link")]
    Origin,
    /// Not a signed checkpoint of that log.
    #[error("the checkpoint: {0}")]
    Note(NoteError),
    /// The file holds fewer entries of the log than the checkpoint.
    #[error("{name}'s log is cut: the checkpoint has size {size}, the file holds {len} entries")]
    Cut {
        /// The log's author.
        name: String,
        /// The checkpoint's size.
        size: u64,
        /// Entries of the log in the file.
        len: u64,
    },
    /// The file's entries have another root at the checkpoint's size: two histories.
    #[error(
        "{name}'s log in the file has another root at size {size} than the checkpoint: it showed two histories"
    )]
    Root {
        /// The log's author.
        name: String,
        /// The checkpoint's size.
        size: u64,
    },
}

/// Checks the signed checkpoint note `text` against `transcript`: it must be signed by the
/// author of the log its origin names (one of the file's two stations, its log of this link),
/// and the file must hold that log up to the checkpoint's size with the checkpoint's root.
pub fn check_checkpoint(
    transcript: &VerifiedTranscript,
    text: &str,
) -> Result<CheckpointProof, CheckpointError> {
    let first = text.split('\n').next().unwrap_or_default();
    let ids = [
        transcript.stations[0].identity,
        transcript.stations[1].identity,
    ];
    let station = (0..2)
        .find(|&i| origin(&ids[i], &ids[1 - i]) == first)
        .ok_or(CheckpointError::Origin)?;
    let (author, other) = (ids[station], ids[1 - station]);
    let key = |id: &crate::id::StationId| {
        id.verifying_key()
            .map_err(|_| CheckpointError::Note(NoteError::Malformed("a key is not Ed25519")))
    };
    let body = note::open(text, first, &key(&author)?).map_err(CheckpointError::Note)?;
    let checkpoint = Checkpoint::parse(body).map_err(CheckpointError::Note)?;
    let log = &transcript.stations[station];
    // Every signature first (N2), then the sizes and roots (N3, N4): a note is never taken
    // as vouching, nor refused only for a cut, before all its lines this file can check
    // verify. The author's post-quantum signature, when the note carries one by the key of
    // its card, must verify.
    pq_line_holds(text, &author, log.pq_key.as_ref())?;
    // The other station's cosignature, when the note carries one, must verify; so must its
    // post-quantum cosignature, when it carries one by the key of that station's card.
    let cosigned_s = match note::open_cosigned(text, &cosigner(&other), &key(&other)?) {
        Ok((_, time_s)) => Some(time_s),
        Err(NoteError::Unsigned(_)) => None,
        Err(error) => return Err(CheckpointError::Note(error)),
    };
    pq_line_holds(
        text,
        &other,
        transcript.stations[1 - station].pq_key.as_ref(),
    )?;
    let len = log.leaves.len() as u64;
    let size = checkpoint.size;
    if size > len {
        let name = log.name.clone();
        return Err(CheckpointError::Cut { name, size, len });
    }
    if root(&log.leaves[..size as usize]) != checkpoint.root {
        let name = log.name.clone();
        return Err(CheckpointError::Root { name, size });
    }
    Ok(CheckpointProof {
        station,
        size,
        cosigned_s,
    })
}

/// Checks the signed checkpoint note `text` against two exports of one link that agree
/// (`compare`): it vouches for the pair when it vouches for either. One may hold less of the
/// note's log (its station had not received the rest when it exported), and the two agree
/// wherever both hold an entry; any other fault in either (§8.8 N1, N2, N4), or a size
/// beyond both (N3), fails the pair. The proof for each export it vouches for.
pub fn check_checkpoint_pair(
    pair: [&VerifiedTranscript; 2],
    text: &str,
) -> Result<[Option<CheckpointProof>; 2], CheckpointError> {
    let [first, second] = pair.map(|transcript| check_checkpoint(transcript, text));
    match (first, second) {
        (Err(error), _) | (_, Err(error)) if !matches!(error, CheckpointError::Cut { .. }) => {
            Err(error)
        }
        (Err(cut), Err(_)) => Err(cut),
        (first, second) => Ok([first.ok(), second.ok()]),
    }
}

/// The ML-DSA-44 line of `signer` in the note `text`, by the key of its version 2 card
/// (`pq_key`), verifies when the note carries one.
fn pq_line_holds(
    text: &str,
    signer: &crate::id::StationId,
    pq_key: Option<&crate::pq::PqPublicKey>,
) -> Result<(), CheckpointError> {
    let Some(pq_key) = pq_key else {
        return Ok(());
    };
    match note::open_pq_cosigned(text, &cosigner(signer), pq_key) {
        Ok(_) | Err(NoteError::Unsigned(_)) => Ok(()),
        Err(error) => Err(CheckpointError::Note(error)),
    }
}
