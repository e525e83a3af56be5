//! Naming a peer: a `PEER` argument is a peer's fingerprint or its name, and a fingerprint
//! decides.

use parley_proto::{Fingerprint, StationId};

use super::Station;
use crate::error::StationError;

impl Station {
    /// Finds a peer by fingerprint (its card's, or its key's: version 1) or name.
    pub fn resolve_peer(&self, name_or_fingerprint: &str) -> Result<StationId, StationError> {
        find_peer(
            self.peers.iter().map(|(id, peer)| {
                (
                    *id,
                    peer.name.as_str(),
                    [peer.fingerprint, id.key_fingerprint()],
                )
            }),
            name_or_fingerprint,
        )
    }
}

/// The peer `given` names among `peers` (each with its name and fingerprints): the one whose
/// fingerprint it is, else the one so named. A fingerprint decides over a name: a name is the
/// peer's own choice, and one pinned before names reading as fingerprints were refused could
/// read as another peer's.
pub(crate) fn find_peer<'a, T>(
    peers: impl IntoIterator<Item = (T, &'a str, [Fingerprint; 2])>,
    given: &str,
) -> Result<T, StationError> {
    let fingerprint = Fingerprint::parse(given);
    let mut named = None;
    for (peer, name, fingerprints) in peers {
        if fingerprint.is_some_and(|fp| fingerprints.contains(&fp)) {
            return Ok(peer);
        }
        if named.is_none() && name == given {
            named = Some(peer);
        }
    }
    named.ok_or_else(|| StationError::UnknownPeer(given.to_owned()))
}
