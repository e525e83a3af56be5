//! A link's whole record as the core loads it at start: every entry (for the watch and the
//! codebooks) with delivery times, and both logs' Merkle leaves (for checkpoints).

use std::collections::BTreeMap;

use parley_proto::{Body, EntryId, EpochKeyId, Kind, SignedEntry, StationId};
use rusqlite::{Connection, params};

use crate::convert::{entry_id, from_sql};
use crate::error::StoreError;
use crate::read::{peer_link, query};
use crate::rows::{KeptEntry, LinkLeaves, LinkRecord};

/// Every entry of a link but key announcements, both authors, by author then seq, decoded
/// from the bytes kept (which must still hash to their ids), with when each peer entry
/// arrived; when the peer's receipts covered each own entry; and the key announcements' seqs
/// by id and this station's keys they announced.
pub(crate) fn link_record(
    connection: &Connection,
    peer: &StationId,
) -> Result<LinkRecord, StoreError> {
    peer_link(connection, peer)?;
    let entries = query(
        connection,
        "SELECT entry_id, signed, received_ms FROM entries \
         WHERE peer = ?1 AND kind != ?2 ORDER BY author, seq",
        params![peer.0, Kind::KeyAnnouncement as i64],
        "reading a link's record",
        |row| -> rusqlite::Result<(Vec<u8>, Vec<u8>, Option<i64>)> {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        },
        |(id, signed, received_ms)| {
            let id = entry_id(id, "an entry id")?;
            let entry = SignedEntry::decode_stored(&signed, &id).map_err(|error| {
                StoreError::Corrupt(format!("the entry {id} is damaged: {error}"))
            })?;
            let received_ms = received_ms
                .map(|ms| from_sql(ms, "a receive time"))
                .transpose()?;
            Ok(KeptEntry { entry, received_ms })
        },
    )?;
    let delivered = query(
        connection,
        "SELECT seq, coalesce(delivered_before_ms, delivered_ms) FROM outbox \
         WHERE peer = ?1 AND coalesce(delivered_before_ms, delivered_ms) IS NOT NULL",
        [peer.0],
        "reading delivery times",
        |row| -> rusqlite::Result<(i64, i64)> { Ok((row.get(0)?, row.get(1)?)) },
        |(seq, ms)| {
            Ok((
                from_sql(seq, "an outbox seq")?,
                from_sql(ms, "a delivery time")?,
            ))
        },
    )?;
    let (own_key_announcements, key_announcement_seqs) = key_announcements(connection, peer)?;
    Ok(LinkRecord {
        entries,
        delivered_ms: delivered.into_iter().collect(),
        own_key_announcements,
        key_announcement_seqs,
    })
}

/// The key announcements of a link: this station's, as (seq, key) by seq; and every one's
/// seq, either side's, by entry id.
type Announcements = (Vec<(u64, EpochKeyId)>, BTreeMap<EntryId, u64>);

fn key_announcements(
    connection: &Connection,
    peer: &StationId,
) -> Result<Announcements, StoreError> {
    let rows = query(
        connection,
        "SELECT author = ?1, seq, entry_id, signed FROM entries \
         WHERE peer = ?1 AND kind = ?2 ORDER BY seq",
        params![peer.0, Kind::KeyAnnouncement as i64],
        "reading the key announcements",
        |row| -> rusqlite::Result<(bool, i64, Vec<u8>, Vec<u8>)> {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        },
        |(by_peer, seq, id, signed)| {
            let (seq, id) = (from_sql(seq, "an entry seq")?, entry_id(id, "an entry id")?);
            if by_peer {
                return Ok((seq, id, None));
            }
            let entry = SignedEntry::decode_stored(&signed, &id).map_err(|error| {
                StoreError::Corrupt(format!("the entry {id} is damaged: {error}"))
            })?;
            match entry.entry().body {
                Body::KeyAnnouncement { key_id, .. } => Ok((seq, id, Some(key_id))),
                _ => Err(StoreError::Corrupt(format!(
                    "the entry {id} is stored as a key announcement but is not one"
                ))),
            }
        },
    )?;
    let own = (rows.iter())
        .filter_map(|(seq, _, key)| key.map(|key| (*seq, key)))
        .collect();
    let seqs = rows.into_iter().map(|(seq, id, _)| (id, seq)).collect();
    Ok((own, seqs))
}

pub(crate) fn link_leaves(
    connection: &Connection,
    peer: &StationId,
) -> Result<LinkLeaves, StoreError> {
    peer_link(connection, peer)?;
    let rows = query(
        connection,
        "SELECT author = peer, seq, entry_id, signed FROM entries \
         WHERE peer = ?1 ORDER BY author = peer, seq",
        [peer.0],
        "reading a link's leaves",
        |row| -> rusqlite::Result<(bool, i64, Vec<u8>, Vec<u8>)> {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        },
        |(theirs, seq, id, signed)| {
            let id = entry_id(id, "an entry id")?;
            if EntryId::of(&signed) != id {
                return Err(StoreError::Corrupt(format!(
                    "the entry {id} is damaged: its bytes no longer hash to its id"
                )));
            }
            let seq: u64 = from_sql(seq, "a seq")?;
            Ok((theirs, seq, parley_proto::tlog::leaf_hash(&signed)))
        },
    )?;
    let mut leaves = LinkLeaves::default();
    for (theirs, seq, leaf) in rows {
        if theirs {
            leaves.peer.insert(seq, leaf);
        } else if seq == leaves.own.len() as u64 + 1 {
            leaves.own.push(leaf);
        } else {
            return Err(StoreError::Corrupt(format!(
                "the link's own log has a gap before seq {seq}"
            )));
        }
    }
    Ok(leaves)
}
