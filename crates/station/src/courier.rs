//! Relay and courier channels as the station's core sees them: adding a channel to a link, and
//! writing and reading courier bundles. Used by the daemon and, while no daemon runs, by the CLI.
//!
//! Bundle import policy: a bundle whose structure or signature does not verify is refused
//! whole and nothing is stored — the operator learns at once that the medium was damaged or
//! altered. With `salvage`, the frames of a well-formed bundle whose outer signature fails are
//! each verified on their own (signature, seal, chain) exactly as if they had arrived over the
//! network, and the ones that verify are kept: they are as trustworthy as any frame. A truncated
//! bundle cannot be parsed, so nothing in it can be salvaged.

use std::sync::Arc;

use parley_proto::limits::{BUNDLE_FRAMES_MAX, BUNDLE_SIZE_MAX_BYTES};
use parley_proto::{Bundle, ContactCard, Fingerprint, LinkId, StationId};
use parley_store::ChannelKindRow;
use serde::Serialize;

use crate::error::StationError;
use crate::node::Node;

/// What `courier export` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Exported {
    /// Peer name.
    pub peer: String,
    /// Envelopes in the bundle.
    pub envelopes: usize,
    /// Whether a receipt is in it.
    pub receipt: bool,
    /// Unreceipted envelopes left out because the bundle was full (export again later).
    pub left_out: usize,
    /// Bundle size in bytes.
    pub bytes: usize,
}

/// What `courier import` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Imported {
    /// The peer that wrote the bundle.
    pub peer: String,
    /// Frames in the bundle.
    pub frames: usize,
    /// Envelopes accepted that were new.
    pub envelopes_new: u64,
    /// Envelopes already held (dropped).
    pub duplicates: u64,
    /// Receipts accepted.
    pub receipts: u64,
    /// Frames refused, with the reason of each.
    pub rejected: Vec<String>,
    /// Whether the bundle's own signature failed and the frames were salvaged one by one.
    pub salvaged: bool,
}

/// Checks a relay URL: `https://HOST:PORT`.
pub fn check_relay_url(url: &str) -> Result<(), StationError> {
    let rest = url.strip_prefix("https://").ok_or_else(|| {
        StationError::Invalid(format!(
            "{url:?} is not a relay URL; use https://HOST:PORT (e.g. https://relay.example:7400)"
        ))
    })?;
    let host_port = rest.trim_end_matches('/');
    let valid = !host_port.is_empty()
        && !host_port.contains(['/', '?', '#', '@', ' '])
        && host_port.len() <= parley_proto::limits::ADDRESS_SIZE_MAX_BYTES;
    if !valid {
        return Err(StationError::Invalid(format!(
            "{url:?} is not a relay URL; use https://HOST:PORT with no path"
        )));
    }
    Ok(())
}

impl Node {
    /// Adds a relay channel to the link with `peer`, after checking the relay's card against
    /// the fingerprint its operator gave out of band. Returns the stored channel's row id.
    pub fn add_relay_channel(
        &mut self,
        now_ms: u64,
        peer: &str,
        url: &str,
        card_text: &str,
        fingerprint: &str,
    ) -> Result<i64, StationError> {
        let peer = self.resolve_peer(peer)?;
        check_relay_url(url)?;
        let given = Fingerprint::parse(fingerprint).ok_or_else(|| {
            StationError::Invalid(format!(
                "{fingerprint:?} is not a fingerprint (32 hex digits, as `parley relay fingerprint` prints it); nothing was added"
            ))
        })?;
        let (card, card_bytes) =
            ContactCard::from_text(card_text).map_err(|e| StationError::Card(e.to_string()))?;
        if card.identity.fingerprint() != given {
            return Err(StationError::FingerprintMismatch {
                card: card.identity.fingerprint().to_string(),
                given: given.to_string(),
            });
        }
        if card.identity == self.identity().id() || self.peers().contains_key(&card.identity) {
            return Err(StationError::Card(
                "this is a station's card, not a relay's".into(),
            ));
        }
        let kind = ChannelKindRow::Relay {
            relay: card.identity,
            card_bytes,
        };
        Ok(self.store_mut().add_channel(&peer, &kind, url, now_ms)?)
    }

    /// Adds a courier drop folder to the link with `peer`. The folder must exist and be a
    /// directory now; later, while it is missing (a drive unplugged), the channel is down.
    pub fn add_courier_channel(
        &mut self,
        now_ms: u64,
        peer: &str,
        dir: &str,
    ) -> Result<i64, StationError> {
        let peer = self.resolve_peer(peer)?;
        let path = std::path::Path::new(dir);
        if !path.is_absolute() {
            return Err(StationError::Invalid(format!(
                "{dir:?} is not an absolute path; a drop folder is named absolutely so the daemon finds it from anywhere"
            )));
        }
        if !path.is_dir() {
            return Err(StationError::Invalid(format!(
                "{dir} is not a directory; mount the drive or create the folder first"
            )));
        }
        Ok(self
            .store_mut()
            .add_channel(&peer, &ChannelKindRow::Courier, dir, now_ms)?)
    }

    /// Writes a signed bundle of every envelope `peer` has not receipted (as many as fit) and
    /// a fresh receipt for everything held from it.
    pub fn export_bundle(
        &self,
        now_ms: u64,
        peer: &str,
    ) -> Result<(Vec<u8>, Exported), StationError> {
        let peer_id = self.resolve_peer(peer)?;
        let link = self
            .endpoint()
            .link(&peer_id)
            .ok_or_else(|| StationError::UnknownPeer(peer.to_owned()))?;
        let receipt = link.receipt_frame(now_ms);
        let mut frames: Vec<Arc<[u8]>> = receipt.iter().cloned().collect();
        let mut size: usize = frames.iter().map(|f| f.len()).sum();
        let mut left_out = 0;
        for frame in link.unreceipted_frames() {
            let fits = frames.len() < BUNDLE_FRAMES_MAX
                && Bundle::size_bound(frames.len() + 1, size + frame.len())
                    <= BUNDLE_SIZE_MAX_BYTES;
            if fits {
                size += frame.len();
                frames.push(frame.clone());
            } else {
                left_out += 1;
            }
        }
        let bytes = self.bundle_of(
            now_ms,
            &peer_id,
            frames.iter().map(|f| f.to_vec()).collect(),
        );
        let exported = Exported {
            peer: self.peers()[&peer_id].name.clone(),
            envelopes: frames.len() - usize::from(receipt.is_some()),
            receipt: receipt.is_some(),
            left_out,
            bytes: bytes.len(),
        };
        Ok((bytes, exported))
    }

    /// Signs `frames` as a bundle for `peer`.
    pub fn bundle_of(&self, now_ms: u64, peer: &StationId, frames: Vec<Vec<u8>>) -> Vec<u8> {
        let me = self.identity();
        Bundle {
            link: LinkId::between(&me.id(), peer),
            from: me.id(),
            to: *peer,
            created_ms: now_ms,
            frames,
        }
        .sign(me)
    }

    /// Feeds every frame of a bundle to the protocol without committing (the caller commits,
    /// then reports). Refuses, changing nothing, a bundle that is not for this station, not
    /// from a paired peer, or whose signature fails (unless `salvage`; see the module docs).
    pub fn import_bundle_uncommitted(
        &mut self,
        now_ms: u64,
        bytes: &[u8],
        salvage: bool,
    ) -> Result<Imported, StationError> {
        let refused = |why: String| StationError::Bundle(format!("{why}; nothing was imported"));
        let unverified = Bundle::peek(bytes)
            .map_err(|e| refused(format!("the bundle is damaged or not a bundle ({e})")))?;
        let from = unverified.claimed_from();
        if unverified.claimed_to() != self.identity().id() {
            return Err(refused("the bundle is for another station".into()));
        }
        let Some(info) = self.peers().get(&from) else {
            return Err(refused(format!(
                "the bundle is from {}, which is not a paired peer",
                from.fingerprint()
            )));
        };
        let peer = info.name.clone();
        let (frames, salvaged) = match unverified.verify() {
            Ok(bundle) => (bundle.frames, false),
            Err(error) if salvage => {
                tracing::warn!(%error, "bundle signature failed; salvaging frame by frame");
                let again = Bundle::peek(bytes)
                    .map_err(|e| refused(format!("the bundle is damaged ({e})")))?;
                (again.salvage(), true)
            }
            Err(error) => {
                return Err(refused(format!(
                    "the bundle's signature does not verify ({error}): it was altered or damaged in transit. \
                     `parley courier import --salvage` keeps the frames that verify on their own"
                )));
            }
        };
        let before = self.link_totals(&from);
        let mut imported = Imported {
            peer,
            frames: frames.len(),
            salvaged,
            ..Imported::default()
        };
        for (index, frame) in frames.iter().enumerate() {
            if let Err(rejection) = self.endpoint_mut().handle_frame(now_ms, frame) {
                imported
                    .rejected
                    .push(format!("frame {index}: {rejection}"));
            }
        }
        let after = self.link_totals(&from);
        imported.envelopes_new = after.0 - before.0;
        imported.duplicates = after.1 - before.1;
        imported.receipts = after.2 - before.2;
        Ok(imported)
    }

    /// (envelopes accepted, duplicates dropped, receipts accepted) of the link with `peer`.
    pub fn link_totals(&self, peer: &StationId) -> (u64, u64, u64) {
        self.endpoint()
            .link(peer)
            .map(|link| {
                let c = link.counters();
                (
                    c.envelopes_accepted,
                    c.duplicates_dropped,
                    c.receipts_accepted,
                )
            })
            .unwrap_or_default()
    }
}

/// Writes a bundle to `out` whole or not at all (temporary file, sync, rename).
pub fn write_bundle_file(out: &std::path::Path, bytes: &[u8]) -> Result<(), StationError> {
    let (dir, name) = match (out.parent(), out.file_name().and_then(|n| n.to_str())) {
        (Some(dir), Some(name)) => (
            if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            },
            name,
        ),
        _ => {
            return Err(StationError::Invalid(format!(
                "{} is not a file path",
                out.display()
            )));
        }
    };
    crate::daemon::write_atomically(dir, name, bytes)
        .map_err(|e| StationError::io("writing the bundle", e))
}

/// Reads a bundle file, refusing one over [`BUNDLE_SIZE_MAX_BYTES`] before reading it.
pub fn read_bundle_file(path: &std::path::Path) -> Result<Vec<u8>, StationError> {
    let len = std::fs::metadata(path)
        .map_err(|e| StationError::io("reading the bundle", e))?
        .len();
    if len > BUNDLE_SIZE_MAX_BYTES as u64 {
        return Err(StationError::Bundle(format!(
            "{} is {len} bytes, over the bundle limit of {BUNDLE_SIZE_MAX_BYTES}; nothing was imported",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| StationError::io("reading the bundle", e))
}
