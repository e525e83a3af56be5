//! A link's state as the protocol resumes from it ([`LinkSnapshot`]): both logs, checked to
//! chain from seq 1, the outbox, what is kept of the peer's receipts and its epoch key.

use parley_proto::{EntryId, Kind, LinkSnapshot, OutboxItem, PendingItem, SignedEntry, StationId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::convert::{entry_id, from_sql};
use crate::error::{SqlContext, StoreError};
use crate::rows::DeliveryState;

use super::{peer_by_id, query};

/// One entry of a log, as needed to rebuild a link.
struct LogRow {
    seq: u64,
    entry_id: EntryId,
    prev: EntryId,
}

fn log(
    connection: &Connection,
    peer: &StationId,
    author: &StationId,
) -> Result<Vec<LogRow>, StoreError> {
    query(
        connection,
        "SELECT seq, entry_id, prev FROM entries WHERE peer = ?1 AND author = ?2 ORDER BY seq",
        params![peer.0, author.0],
        "reading a log",
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Vec<u8>>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        },
        |(seq, id, prev)| {
            Ok(LogRow {
                seq: from_sql(seq, "an entry seq")?,
                entry_id: entry_id(id, "an entry id")?,
                prev: entry_id(prev, "an entry's prev")?,
            })
        },
    )
}

/// The ids of `rows`, which must be seqs 1, 2, 3… with each `prev` naming its predecessor.
fn chain(rows: &[LogRow], what: &str) -> Result<Vec<EntryId>, StoreError> {
    let mut ids: Vec<EntryId> = Vec::with_capacity(rows.len());
    for row in rows {
        let expected_seq = ids.len() as u64 + 1;
        if row.seq != expected_seq {
            return Err(StoreError::Corrupt(format!(
                "{what} holds seq {} where seq {expected_seq} belongs: entries are missing",
                row.seq
            )));
        }
        let expected_prev = ids.last().copied().unwrap_or(EntryId::NONE);
        if row.prev != expected_prev {
            return Err(StoreError::Corrupt(format!(
                "{what} seq {} names prev {} but the stored seq {} is {}",
                row.seq,
                row.prev,
                row.seq - 1,
                expected_prev
            )));
        }
        ids.push(row.entry_id);
    }
    Ok(ids)
}

/// A peer's link-level columns.
pub(crate) struct PeerLink {
    epoch_public: Vec<u8>,
    in_head: u64,
    receipt_upto: u64,
}

pub(crate) fn peer_link(connection: &Connection, peer: &StationId) -> Result<PeerLink, StoreError> {
    let raw: Option<(Vec<u8>, i64, i64)> = connection
        .prepare_cached(
            "SELECT epoch_public, in_head, latest_receipt_upto FROM peers WHERE id = ?1",
        )
        .and_then(|mut statement| {
            statement
                .query_row([peer.0], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .optional()
        })
        .context("reading a peer's link state")?;
    let (epoch_public, in_head, receipt_upto) =
        raw.ok_or_else(|| StoreError::UnknownPeer(peer.to_string()))?;
    Ok(PeerLink {
        epoch_public,
        in_head: from_sql(in_head, "a peer's in-head")?,
        receipt_upto: from_sql(receipt_upto, "a peer's receipt bound")?,
    })
}

/// The latest time the peer signed into a receipt that marked own entries delivered, the
/// time it signed into the last that showed it lost entries (the floor), the highest own seq
/// one covered beyond the own log, and the lowest own seq at which one named another entry
/// than this store holds; 0: none.
pub(crate) fn receipts_state(
    connection: &Connection,
    peer: &StationId,
) -> Result<ReceiptsState, StoreError> {
    let (newest, floor, behind, forked): (i64, i64, i64, i64) = connection
        .prepare_cached(
            "SELECT receipt_newest_ms, receipt_floor_ms, log_behind, log_forked FROM peers \
             WHERE id = ?1",
        )
        .and_then(|mut statement| {
            statement.query_row([peer.0], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
        })
        .context("reading the times of a peer's receipts")?;
    Ok(ReceiptsState {
        newest_ms: from_sql(newest, "a peer's newest receipt time")?,
        floor_ms: from_sql(floor, "a peer's receipt floor")?,
        behind: from_sql(behind, "the own seq a peer holds beyond the own log")?,
        forked: from_sql(forked, "the own seq a peer holds another entry at")?,
    })
}

/// What [`receipts_state`] reads of a peer.
pub(crate) struct ReceiptsState {
    pub newest_ms: u64,
    pub floor_ms: u64,
    pub behind: u64,
    pub forked: u64,
}

/// The seq of the peer's latest key announcement held: the one whose key is in use, as
/// announcements take effect in seq order (0: none, the key of its card). Read backwards from
/// the peer's latest entry: announcements are rare, so the walk is short when keys rotate.
/// The key the store keeps for sealing (`stored`, bookkeeping no signature covers) must be
/// the one that announcement (or the pinned card) signed: a changed byte there would have
/// the station seal to a key nobody holds.
fn peer_epoch_seq(
    connection: &Connection,
    peer: &StationId,
    stored: &[u8],
) -> Result<u64, StoreError> {
    let latest: Option<(i64, Vec<u8>, Vec<u8>)> = connection
        .prepare_cached(
            "SELECT seq, entry_id, signed FROM entries \
             WHERE peer = ?1 AND author = ?1 AND kind = ?2 ORDER BY seq DESC LIMIT 1",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![peer.0, Kind::KeyAnnouncement as i64], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
        })
        .context("reading the peer's latest key announcement")?;
    let (seq, signed) = match latest {
        Some((seq, id, signed)) => {
            let id = entry_id(id, "an entry id")?;
            let entry = SignedEntry::decode_stored(&signed, &id).map_err(|error| {
                StoreError::Corrupt(format!("the entry {id} is damaged: {error}"))
            })?;
            let parley_proto::Body::KeyAnnouncement { public, .. } = &entry.entry().body else {
                return Err(StoreError::Corrupt(format!(
                    "the entry {id} is stored as a key announcement but is not one"
                )));
            };
            (from_sql(seq, "a key announcement's seq")?, public.clone())
        }
        None => {
            let card = peer_by_id(connection, peer)?
                .ok_or_else(|| StoreError::UnknownPeer(peer.short()))?
                .card;
            (0, card.epoch_public)
        }
    };
    if signed != stored {
        return Err(StoreError::Corrupt(format!(
            "the epoch key kept for sealing to peer {} is not the one it announced",
            peer.short()
        )));
    }
    Ok(seq)
}

fn undelivered(
    connection: &Connection,
    peer: &StationId,
    out_ids: &[EntryId],
    receipt_upto: u64,
) -> Result<Vec<OutboxItem>, StoreError> {
    query(
        connection,
        "SELECT seq, frame, state FROM outbox WHERE peer = ?1 AND state != 'delivered' \
         ORDER BY seq",
        [peer.0],
        "reading the outbox",
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Option<Vec<u8>>>(1)?,
                row.get::<_, String>(2)?,
            ))
        },
        |(seq, frame, state)| {
            let seq = from_sql(seq, "an outbox seq")?;
            let entry_id = seq
                .checked_sub(1)
                .and_then(|index| usize::try_from(index).ok())
                .and_then(|index| out_ids.get(index))
                .copied()
                .ok_or_else(|| StoreError::Corrupt(format!("outbox seq {seq} has no own entry")))?;
            if seq <= receipt_upto {
                return Err(StoreError::Corrupt(format!(
                    "outbox seq {seq} is not delivered although the peer receipted up to \
                     {receipt_upto}"
                )));
            }
            let frame = frame
                .ok_or_else(|| StoreError::Corrupt(format!("outbox seq {seq} has no frame")))?;
            let transmitted = match DeliveryState::parse(&state) {
                Some(DeliveryState::Queued) => false,
                Some(DeliveryState::Sent) => true,
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "outbox seq {seq} has state {state:?}"
                    )));
                }
            };
            Ok(OutboxItem {
                seq,
                entry_id,
                frame,
                transmitted,
            })
        },
    )
}

fn evidence_count(connection: &Connection, peer: &StationId) -> Result<u64, StoreError> {
    let count: i64 = connection
        .prepare_cached("SELECT count(*) FROM evidence WHERE peer = ?1")
        .and_then(|mut statement| statement.query_row([peer.0], |row| row.get(0)))
        .context("counting evidence")?;
    from_sql(count, "an evidence count")
}

/// Everything a link needs to resume, checked for contiguity on both logs.
pub(crate) fn link_snapshot(
    connection: &Connection,
    own: &StationId,
    peer: &StationId,
) -> Result<LinkSnapshot, StoreError> {
    let link = peer_link(connection, peer)?;
    let out_ids = chain(&log(connection, peer, own)?, "the own log")?;
    if link.receipt_upto > out_ids.len() as u64 {
        return Err(StoreError::Corrupt(format!(
            "the peer receipted up to seq {} but the own log ends at seq {}",
            link.receipt_upto,
            out_ids.len()
        )));
    }
    let peer_log = log(connection, peer, peer)?;
    let head = usize::try_from(link.in_head)
        .ok()
        .filter(|head| *head <= peer_log.len())
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the in-head is {} but only {} peer entries are held",
                link.in_head,
                peer_log.len()
            ))
        })?;
    let in_ids = chain(&peer_log[..head], "the peer's log")?;
    let in_pending = peer_log[head..]
        .iter()
        .map(|row| PendingItem {
            seq: row.seq,
            entry_id: row.entry_id,
            prev: row.prev,
        })
        .collect();
    let peer_epoch_seq = peer_epoch_seq(connection, peer, &link.epoch_public)?;
    let receipts = receipts_state(connection, peer)?;
    Ok(LinkSnapshot {
        outbox: undelivered(connection, peer, &out_ids, link.receipt_upto)?,
        out_ids,
        peer_receipt_upto: link.receipt_upto,
        peer_receipt_newest_ms: receipts.newest_ms,
        peer_receipt_floor_ms: receipts.floor_ms,
        own_log_behind: receipts.behind,
        own_log_forked: receipts.forked,
        in_ids,
        in_pending,
        peer_epoch_public: link.epoch_public,
        peer_epoch_seq,
        evidence_count: evidence_count(connection, peer)?,
    })
}
