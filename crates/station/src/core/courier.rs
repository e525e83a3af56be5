//! Courier bundles as the core sees them: built from every envelope the peer has not receipted
//! and a fresh receipt, and imported frame by frame exactly as if the frames had come over the
//! network. Files are the caller's (`api::edge`, the drop-folder thread).
//!
//! Import policy: a bundle whose structure or signature does not verify is refused whole and
//! nothing is stored — the operator learns at once that the medium was damaged or altered.
//! With `salvage`, the frames of a well-formed bundle whose outer signature fails are each
//! verified on their own (signature, seal, chain) exactly as if they had arrived over the
//! network, and the ones that verify are kept: they are as trustworthy as any frame. A
//! truncated bundle cannot be parsed, so nothing in it can be salvaged.

use std::sync::Arc;

use parley_channels::Via;
use parley_proto::endpoint::FrameKind;
use parley_proto::{Bundle, LinkId, Rejection};

use super::Station;
use crate::api::{Exported, Imported};
use crate::error::StationError;
use crate::limits::IMPORT_REASONS_MAX;

impl Station {
    /// A signed bundle of every envelope `peer` has not receipted (as many as fit) and a fresh
    /// receipt for everything held from it. Changes nothing.
    pub(super) fn export(&self, now_ms: u64, peer: &str) -> Result<Exported, StationError> {
        let peer_id = self.resolve_peer(peer)?;
        let link = self
            .endpoint
            .link(&peer_id)
            .ok_or_else(|| StationError::UnknownPeer(peer.to_owned()))?;
        let mut frames: Vec<Arc<[u8]>> = vec![link.receipt_frame(now_ms)];
        let mut size: usize = frames.iter().map(|f| f.len()).sum();
        let mut left_out = 0;
        for frame in link.unreceipted_frames() {
            if Bundle::fits(frames.len(), size, frame.len()) {
                size += frame.len();
                frames.push(frame.clone());
            } else {
                left_out += 1;
            }
        }
        let me = self.identity.id();
        let bundle = Bundle {
            link: LinkId::between(&me, &peer_id),
            from: me,
            to: peer_id,
            created_ms: now_ms,
            frames: frames.iter().map(|f| f.to_vec()).collect(),
        }
        .sign(&self.identity);
        Ok(Exported {
            peer: self.peers[&peer_id].name.clone(),
            envelopes: frames.len() - 1,
            receipt: true,
            left_out,
            bytes: bundle.len(),
            bundle,
        })
    }

    /// Feeds every frame of a bundle to the protocol (counted on the folder's channel when it
    /// came through one). Refuses, changing nothing, a bundle that is not for this station, not
    /// from a paired peer, or whose signature fails (unless `salvage`; see the module docs).
    pub(super) fn import(
        &mut self,
        now_ms: u64,
        bytes: &[u8],
        salvage: bool,
        via: Option<Via>,
    ) -> Result<Imported, StationError> {
        let refused = |why: String| StationError::Bundle(format!("{why}; nothing was imported"));
        let unverified = Bundle::peek(bytes)
            .map_err(|e| refused(format!("the bundle is damaged or not a bundle ({e})")))?;
        let from = unverified.claimed_from();
        if unverified.claimed_to() != self.identity.id() {
            return Err(refused("the bundle is for another station".into()));
        }
        let Some(peer) = self.peers.get(&from) else {
            return Err(refused(format!(
                "the bundle is from {}, which is not a paired peer",
                from.key_fingerprint()
            )));
        };
        let peer = peer.name.clone();
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
        let mut imported = Imported {
            peer,
            frames: frames.len(),
            salvaged,
            ..Imported::default()
        };
        self.preverify(frames.iter().map(|frame| &frame[..]));
        for (index, frame) in frames.iter().enumerate() {
            match self.receive(now_ms, via, frame) {
                Ok(accepted) => match (accepted.kind, accepted.duplicate) {
                    (FrameKind::Envelope, false) => imported.envelopes_new += 1,
                    (FrameKind::Envelope, true) => imported.duplicates += 1,
                    (FrameKind::Receipt, _) => imported.receipts += 1,
                },
                Err(refusal) => {
                    imported.rejected_total += 1;
                    // What mends with time: the allowance grows back, the clock catches up,
                    // the window moves on as earlier entries come (an earlier bundle held
                    // back by the allowance, another channel).
                    let mends = matches!(
                        refusal.rejection,
                        Rejection::OverIntake { .. }
                            | Rejection::ClockSkew { .. }
                            | Rejection::OutOfWindow { .. }
                    );
                    imported.refused_for_now += u64::from(mends);
                    if imported.rejected.len() < IMPORT_REASONS_MAX {
                        imported.rejected.push(format!("frame {index}: {refusal}"));
                    }
                }
            }
        }
        tracing::info!(
            peer = %imported.peer,
            new = imported.envelopes_new,
            duplicates = imported.duplicates,
            receipts = imported.receipts,
            rejected = imported.rejected_total,
            "bundle imported"
        );
        Ok(imported)
    }
}
