//! Applying [`StoreOp`]s inside the commit's transaction.
//!
//! Before writing, each op is checked against what is stored (the other side of the boundary is
//! checked on read, in `read.rs`): an own entry must continue the own log (next seq, `prev` =
//! the last id), a peer entry must be authored by that peer on this link, the in-head only moves
//! forward over entries that are held. A failed check is [`StoreError::InvalidOp`] and the
//! caller's transaction, dropped uncommitted, rolls the whole batch back.

use parley_proto::limits::RECEIPT_EXTRA_MAX;
use parley_proto::receipt::Receipt;
use parley_proto::{
    Body, ChannelKind, ContactCard, EntryId, EpochKeyId, EpochSecret, Kind, LinkId, SignedEntry,
    StationId, StoreOp,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::convert::{entry_id, from_sql, to_sql};
use crate::error::{SqlContext, StoreError};
use crate::rows::{ChannelKindRow, ChannelRow, NewPeer};

/// Applies one op. `own` is this station's identity.
pub(crate) fn apply(tx: &Connection, own: &StationId, op: &StoreOp) -> Result<(), StoreError> {
    match op {
        StoreOp::AppendOwn { peer, entry, frame } => append_own(tx, own, peer, entry, frame),
        StoreOp::MarkTransmitted { peer, seq, channel } => {
            mark_transmitted(tx, peer, *seq, *channel)
        }
        StoreOp::StorePeerEntry {
            peer,
            entry,
            received_ms,
        } => store_peer_entry(tx, own, peer, entry, *received_ms),
        StoreOp::AdvanceInHead { peer, upto } => advance_in_head(tx, peer, *upto),
        StoreOp::MarkDelivered {
            peer,
            upto,
            extra,
            receipt,
            newest_ms,
            received_ms,
        } => mark_delivered(
            tx,
            peer,
            (*upto, extra),
            receipt,
            (*newest_ms, *received_ms),
        ),
        StoreOp::Redeliver {
            peer,
            frames,
            receipt,
            upto,
            received_ms,
        } => redeliver(tx, peer, frames, receipt, (*upto, *received_ms)),
        StoreOp::Resealed { peer, frames } => resealed(tx, peer, frames),
        StoreOp::LogBehind { peer, peer_holds } => log_behind(tx, own, peer, *peer_holds),
        StoreOp::LogForked { peer, seq } => log_forked(tx, own, peer, *seq),
        StoreOp::LogCaughtUp { peer } => log_caught_up(tx, own, peer),
        StoreOp::PeerEpochKey { peer, public } => peer_epoch_key(tx, peer, public),
        StoreOp::Evidence {
            peer,
            kind,
            seq,
            detail,
            bytes,
            time_ms,
        } => {
            require_peer(tx, peer)?;
            let seq = to_sql(*seq, "evidence seq")?;
            let time_ms = to_sql(*time_ms, "evidence time")?;
            tx.prepare_cached(
                "INSERT INTO evidence (peer, kind, seq, detail, bytes, time_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut statement| {
                statement.execute(params![peer.0, kind.name(), seq, detail, bytes, time_ms])
            })
            .with_context(|| format!("storing {kind} evidence against {peer}"))?;
            Ok(())
        }
    }
}

/// [`AdminOp::UpgradePeerCard`](crate::AdminOp::UpgradePeerCard): the pinned card must be
/// version 1 and of the same station and name; unless the peer announced a key in its log,
/// the new card's epoch key must be the one sealed to (its pinned card's).
pub(crate) fn upgrade_peer_card(
    tx: &Connection,
    card: &ContactCard,
    card_bytes: &[u8],
) -> Result<(), StoreError> {
    let id = card.identity;
    let pinned = crate::read::peer_by_id(tx, &id)?
        .ok_or_else(|| StoreError::UnknownPeer(id.short()))?
        .card;
    let refuse = |why: &str| {
        Err(StoreError::InvalidOp(format!(
            "the pinned card of \"{}\" cannot be replaced: {why}",
            pinned.name
        )))
    };
    if pinned.pq_key.is_some() || card.pq_key.is_none() {
        return refuse("only a version 1 pin is replaced, by a version 2 card");
    }
    if card.name != pinned.name {
        return refuse("the new card names the station otherwise");
    }
    let announced: Option<i64> = tx
        .prepare_cached(
            "SELECT seq FROM entries WHERE peer = ?1 AND author = ?1 AND kind = ?2 LIMIT 1",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![id.0, Kind::KeyAnnouncement as i64], |row| {
                    row.get(0)
                })
                .optional()
        })
        .context("looking for the peer's key announcements")?;
    if announced.is_none() && card.epoch_public != pinned.epoch_public {
        return refuse("its epoch key differs and the peer has announced none in its log yet");
    }
    tx.prepare_cached("UPDATE peers SET card = ?2 WHERE id = ?1")
        .and_then(|mut statement| statement.execute(params![id.0, card_bytes]))
        .with_context(|| format!("replacing the pinned card of \"{}\"", pinned.name))?;
    Ok(())
}

/// Inserts the peer row; the identity and the name must both be new.
pub(crate) fn insert_peer(tx: &Connection, peer: &NewPeer<'_>) -> Result<(), StoreError> {
    let id = peer.card.identity;
    let existing: Option<(Vec<u8>, String)> = tx
        .prepare_cached("SELECT id, name FROM peers WHERE id = ?1 OR name = ?2 LIMIT 1")
        .and_then(|mut statement| {
            statement
                .query_row(params![id.0, peer.name], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
        })
        .context("looking for an existing pairing")?;
    if let Some((existing_id, existing_name)) = existing {
        let detail = if existing_id == id.0 {
            format!(
                "station {} is already paired as \"{existing_name}\"",
                peer.card.fingerprint()
            )
        } else {
            format!("a peer named \"{existing_name}\" is already paired")
        };
        return Err(StoreError::PeerExists(detail));
    }
    let added_ms = to_sql(peer.added_ms, "pairing time")?;
    tx.prepare_cached(
        "INSERT INTO peers (id, name, card, epoch_public, address, added_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            id.0,
            peer.name,
            peer.card_bytes,
            peer.card.epoch_public,
            peer.address,
            added_ms,
        ])
    })
    .with_context(|| format!("adding peer \"{}\"; nothing was stored", peer.name))?;
    Ok(())
}

/// Inserts a relay or courier channel row with its chosen id. The peer must be paired (in
/// this transaction or before); the id must be new, as must the peer, kind and target together.
pub(crate) fn insert_channel(tx: &Connection, row: &ChannelRow) -> Result<(), StoreError> {
    require_peer(tx, &row.peer)?;
    let duplicate = tx
        .prepare_cached("SELECT 1 FROM channels WHERE peer = ?1 AND kind = ?2 AND target = ?3")
        .and_then(|mut statement| {
            statement.exists(params![row.peer.0, row.kind.name(), row.target])
        })
        .context("looking for the same channel")?;
    if duplicate {
        return Err(StoreError::ChannelExists(format!(
            "the link already has the {} channel {}",
            row.kind.name(),
            row.target
        )));
    }
    let (relay_id, relay_card) = match &row.kind {
        ChannelKindRow::Relay { relay, card_bytes } => {
            (Some(relay.0.to_vec()), Some(card_bytes.clone()))
        }
        ChannelKindRow::Courier => (None, None),
    };
    let added_ms = to_sql(row.added_ms, "a channel's time")?;
    tx.prepare_cached(
        "INSERT INTO channels (id, peer, kind, target, relay_id, relay_card, added_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            row.id,
            row.peer.0,
            row.kind.name(),
            row.target,
            relay_id,
            relay_card,
            added_ms,
        ])
    })
    .with_context(|| format!("adding channel {}; nothing was stored", row.id))?;
    Ok(())
}

fn require_peer(tx: &Connection, peer: &StationId) -> Result<(), StoreError> {
    let found = tx
        .prepare_cached("SELECT 1 FROM peers WHERE id = ?1")
        .and_then(|mut statement| statement.exists([peer.0]))
        .context("looking up a peer")?;
    if found {
        Ok(())
    } else {
        Err(StoreError::UnknownPeer(peer.to_string()))
    }
}

fn check_link(own: &StationId, peer: &StationId, entry: &SignedEntry) -> Result<(), StoreError> {
    let link = LinkId::between(own, peer);
    if entry.entry().link == link {
        Ok(())
    } else {
        Err(StoreError::InvalidOp(format!(
            "entry seq {} by {} belongs to link {:?}, not to the link with {peer}",
            entry.entry().seq,
            entry.entry().author,
            entry.entry().link,
        )))
    }
}

/// The end of a log: run for every entry appended or stored.
pub(crate) const LAST_ENTRY: &str = "SELECT seq, entry_id FROM entries \
    WHERE peer = ?1 AND author = ?2 ORDER BY seq DESC LIMIT 1";

/// The last stored seq and id of `author`'s log on the link with `peer`: `(0, NONE)` if empty.
fn last_entry(
    tx: &Connection,
    peer: &StationId,
    author: &StationId,
) -> Result<(u64, EntryId), StoreError> {
    let last: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(LAST_ENTRY)
        .and_then(|mut statement| {
            statement
                .query_row(params![peer.0, author.0], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
        })
        .context("reading the end of a log")?;
    match last {
        None => Ok((0, EntryId::NONE)),
        Some((seq, id)) => Ok((
            from_sql(seq, "stored seq")?,
            entry_id(id, "stored entry id")?,
        )),
    }
}

/// The columns an entry's row holds beside its signed bytes, read from its body: what
/// `insert_entry` writes, and what the store's check compares the stored ones with.
pub(crate) struct Derived<'a> {
    pub(crate) text: Option<&'a str>,
    pub(crate) lang: Option<&'a str>,
    pub(crate) exercise: bool,
    /// The entry it answers, withdraws or reports on.
    pub(crate) subject: Option<[u8; 32]>,
}

impl<'a> Derived<'a> {
    pub(crate) fn of(body: &'a Body) -> Self {
        let (text, lang) = match body {
            Body::Message { text, lang, .. } => (Some(text.as_str()), Some(lang.as_str())),
            _ => (None, None),
        };
        let exercise = body.message_exercise().unwrap_or(false);
        Self {
            text,
            lang,
            exercise,
            subject: body.subject().map(|id| id.0),
        }
    }
}

fn insert_entry(
    tx: &Connection,
    peer: &StationId,
    entry: &SignedEntry,
    received_ms: Option<u64>,
) -> Result<(), StoreError> {
    let fields = entry.entry();
    let Derived {
        text,
        lang,
        exercise,
        subject,
    } = Derived::of(&fields.body);
    let received_ms = received_ms
        .map(|ms| to_sql(ms, "receive time"))
        .transpose()?;
    let seq = to_sql(fields.seq, "seq")?;
    let time_ms = to_sql(fields.time_ms, "entry time")?;
    tx.prepare_cached(
        "INSERT INTO entries (peer, author, seq, entry_id, prev, seen, time_ms, kind, \
         precedence, text, lang, signed, received_ms, subject, exercise) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            peer.0,
            fields.author.0,
            seq,
            entry.id().0,
            fields.prev.0,
            fields.seen.0,
            time_ms,
            fields.body.kind() as i64,
            fields.precedence as i64,
            text,
            lang,
            entry.bytes(),
            received_ms,
            subject,
            exercise,
        ])
    })
    .with_context(|| {
        format!(
            "storing entry seq {} by {} on the link with {peer}; the whole batch was rolled back",
            fields.seq,
            fields.author.short(),
        )
    })?;
    Ok(())
}

fn append_own(
    tx: &Connection,
    own: &StationId,
    peer: &StationId,
    entry: &SignedEntry,
    frame: &[u8],
) -> Result<(), StoreError> {
    let fields = entry.entry();
    if fields.author != *own {
        return Err(StoreError::InvalidOp(format!(
            "an own entry for {peer} is authored by {}, not by this station {own}",
            fields.author
        )));
    }
    check_link(own, peer, entry)?;
    require_peer(tx, peer)?;
    let (last_seq, last_id) = last_entry(tx, peer, own)?;
    if fields.seq != last_seq + 1 || fields.prev != last_id {
        return Err(StoreError::InvalidOp(format!(
            "own entry seq {} (prev {}) does not continue the stored log for {peer}, \
             which ends at seq {last_seq} ({})",
            fields.seq, fields.prev, last_id
        )));
    }
    insert_entry(tx, peer, entry, None)?;
    let seq = to_sql(fields.seq, "seq")?;
    tx.prepare_cached("INSERT INTO outbox (peer, seq, frame, state) VALUES (?1, ?2, ?3, 'queued')")
        .and_then(|mut statement| statement.execute(params![peer.0, seq, frame]))
        .with_context(|| format!("queueing own entry seq {} for {peer}", fields.seq))?;
    Ok(())
}

fn mark_transmitted(
    tx: &Connection,
    peer: &StationId,
    seq: u64,
    channel: ChannelKind,
) -> Result<(), StoreError> {
    let seq_sql = to_sql(seq, "seq")?;
    // Queued becomes sent (never a downgrade of delivered); the kind joins the set.
    let changed = tx
        .prepare_cached(
            "UPDATE outbox SET sent_on = sent_on | ?3, \
             state = CASE state WHEN 'queued' THEN 'sent' ELSE state END \
             WHERE peer = ?1 AND seq = ?2",
        )
        .and_then(|mut statement| statement.execute(params![peer.0, seq_sql, channel.bit()]))
        .with_context(|| format!("marking own entry seq {seq} for {peer} as sent"))?;
    if changed > 0 {
        Ok(())
    } else {
        Err(StoreError::InvalidOp(format!(
            "marking own entry seq {seq} for {peer} as sent, but it was never written"
        )))
    }
}

fn store_peer_entry(
    tx: &Connection,
    own: &StationId,
    peer: &StationId,
    entry: &SignedEntry,
    received_ms: u64,
) -> Result<(), StoreError> {
    if entry.entry().author != *peer {
        return Err(StoreError::InvalidOp(format!(
            "a peer entry on the link with {peer} is authored by {}",
            entry.entry().author
        )));
    }
    check_link(own, peer, entry)?;
    require_peer(tx, peer)?;
    insert_entry(tx, peer, entry, Some(received_ms))
}

fn advance_in_head(tx: &Connection, peer: &StationId, upto: u64) -> Result<(), StoreError> {
    let head: Option<i64> = tx
        .prepare_cached("SELECT in_head FROM peers WHERE id = ?1")
        .and_then(|mut statement| statement.query_row([peer.0], |row| row.get(0)).optional())
        .context("reading a peer's in-head")?;
    let old = from_sql(
        head.ok_or_else(|| StoreError::UnknownPeer(peer.to_string()))?,
        "in-head",
    )?;
    if upto <= old {
        return Err(StoreError::InvalidOp(format!(
            "advancing the in-head of {peer} from {old} to {upto} does not move it forward: \
             entries would be delivered twice"
        )));
    }
    let upto_sql = to_sql(upto, "in-head")?;
    let old_sql = to_sql(old, "in-head")?;
    let held: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM entries WHERE peer = ?1 AND author = ?1 \
             AND seq > ?2 AND seq <= ?3",
        )
        .and_then(|mut statement| {
            statement.query_row(params![peer.0, old_sql, upto_sql], |row| row.get(0))
        })
        .context("counting held peer entries")?;
    if from_sql(held, "entry count")? != upto - old {
        return Err(StoreError::InvalidOp(format!(
            "advancing the in-head of {peer} from {old} to {upto}, \
             but only {held} of those entries are held"
        )));
    }
    tx.prepare_cached("UPDATE peers SET in_head = ?2 WHERE id = ?1")
        .and_then(|mut statement| statement.execute(params![peer.0, upto_sql]))
        .with_context(|| format!("advancing the in-head of {peer} to {upto}"))?;
    Ok(())
}

fn mark_delivered(
    tx: &Connection,
    peer: &StationId,
    (upto, extra): (u64, &[u64]),
    receipt: &[u8],
    (newest_ms, received_ms): (u64, u64),
) -> Result<(), StoreError> {
    require_peer(tx, peer)?;
    if extra.len() > RECEIPT_EXTRA_MAX {
        return Err(StoreError::InvalidOp(format!(
            "a receipt from {peer} lists {} extra seqs, over the limit of {RECEIPT_EXTRA_MAX}",
            extra.len()
        )));
    }
    let upto_sql = to_sql(upto, "receipt upto")?;
    let received_sql = to_sql(received_ms, "receipt time")?;
    let context = || format!("marking own entries for {peer} as delivered");
    tx.prepare_cached(
        "UPDATE outbox SET state = 'delivered', frame = NULL, delivered_ms = ?3 \
         WHERE peer = ?1 AND seq <= ?2 AND state != 'delivered'",
    )
    .and_then(|mut statement| statement.execute(params![peer.0, upto_sql, received_sql]))
    .with_context(context)?;
    for seq in extra {
        let seq_sql = to_sql(*seq, "receipt extra seq")?;
        tx.prepare_cached(
            "UPDATE outbox SET state = 'delivered', frame = NULL, delivered_ms = ?3 \
             WHERE peer = ?1 AND seq = ?2 AND state != 'delivered'",
        )
        .and_then(|mut statement| statement.execute(params![peer.0, seq_sql, received_sql]))
        .with_context(context)?;
    }
    // Keep the receipt with the highest cumulative bound; a later one with an equal bound
    // (more extras, newer time) supersedes it.
    tx.prepare_cached(
        "UPDATE peers SET latest_receipt = ?2, latest_receipt_upto = ?3, latest_receipt_ms = ?4 \
         WHERE id = ?1 AND latest_receipt_upto <= ?3",
    )
    .and_then(|mut statement| statement.execute(params![peer.0, receipt, upto_sql, received_sql]))
    .with_context(|| format!("storing the latest receipt from {peer}"))?;
    let newest_sql = to_sql(newest_ms, "receipt signing time")?;
    tx.prepare_cached(
        "UPDATE peers SET receipt_newest_ms = max(receipt_newest_ms, ?2) WHERE id = ?1",
    )
    .and_then(|mut statement| statement.execute(params![peer.0, newest_sql]))
    .with_context(|| format!("noting the newest receipt from {peer}"))?;
    Ok(())
}

/// [`StoreOp::Resealed`]: each entry must be outstanding (queued or sent); its frame is
/// replaced, its state kept.
fn resealed(
    tx: &Connection,
    peer: &StationId,
    frames: &[(u64, Vec<u8>)],
) -> Result<(), StoreError> {
    require_peer(tx, peer)?;
    for (seq, frame) in frames {
        let seq_sql = to_sql(*seq, "seq")?;
        let changed = tx
            .prepare_cached(
                "UPDATE outbox SET frame = ?3 WHERE peer = ?1 AND seq = ?2 AND state != 'delivered'",
            )
            .and_then(|mut statement| statement.execute(params![peer.0, seq_sql, frame]))
            .with_context(|| format!("sealing own entry seq {seq} for {peer} again"))?;
        if changed != 1 {
            return Err(StoreError::InvalidOp(format!(
                "own entry seq {seq} for {peer} is sealed again, but it is not outstanding"
            )));
        }
    }
    Ok(())
}

/// [`StoreOp::Redeliver`]: each entry must be delivered now and lie above the new bound; it
/// becomes queued with its new frame, keeping when it was first delivered, and `receipt` is
/// kept with its bound (which lowers it).
fn redeliver(
    tx: &Connection,
    peer: &StationId,
    frames: &[(u64, Vec<u8>)],
    receipt: &[u8],
    (upto, received_ms): (u64, u64),
) -> Result<(), StoreError> {
    require_peer(tx, peer)?;
    let upto_sql = to_sql(upto, "receipt upto")?;
    let received_sql = to_sql(received_ms, "receipt time")?;
    for (seq, frame) in frames {
        if *seq <= upto {
            return Err(StoreError::InvalidOp(format!(
                "own entry {seq} for {peer} is sent again, but the receipt kept covers it"
            )));
        }
        let seq_sql = to_sql(*seq, "an outbox seq")?;
        let changed = tx
            .prepare_cached(
                "UPDATE outbox SET state = 'queued', frame = ?3, delivered_ms = NULL, \
                 delivered_before_ms = coalesce(delivered_before_ms, delivered_ms) \
                 WHERE peer = ?1 AND seq = ?2 AND state = 'delivered'",
            )
            .and_then(|mut statement| statement.execute(params![peer.0, seq_sql, frame]))
            .with_context(|| format!("queueing own entry {seq} for {peer} again"))?;
        if changed != 1 {
            return Err(StoreError::InvalidOp(format!(
                "own entry {seq} for {peer} is sent again, but it is not delivered"
            )));
        }
    }
    let signed_ms = Receipt::decode_verified(receipt, peer)
        .map_err(|error| {
            StoreError::InvalidOp(format!(
                "the receipt from {peer} that lacks own entries does not verify: {error}"
            ))
        })?
        .time_ms;
    if signed_ms < floor_ms(tx, peer)? {
        return Err(StoreError::InvalidOp(format!(
            "the receipt from {peer} that lacks own entries is older than the last such receipt"
        )));
    }
    let signed_sql = to_sql(signed_ms, "receipt signing time")?;
    tx.prepare_cached(
        "UPDATE peers SET latest_receipt = ?2, latest_receipt_upto = ?3, latest_receipt_ms = ?4, \
         receipt_floor_ms = ?5, receipt_newest_ms = max(receipt_newest_ms, ?5) WHERE id = ?1",
    )
    .and_then(|mut statement| {
        statement.execute(params![peer.0, receipt, upto_sql, received_sql, signed_sql])
    })
    .with_context(|| format!("keeping the receipt from {peer} that lacks own entries"))?;
    Ok(())
}

/// [`StoreOp::LogBehind`]: the seq must lie beyond the own log; the highest is kept.
fn log_behind(
    tx: &Connection,
    own: &StationId,
    peer: &StationId,
    peer_holds: u64,
) -> Result<(), StoreError> {
    require_peer(tx, peer)?;
    let (last_seq, _) = last_entry(tx, peer, own)?;
    if peer_holds <= last_seq {
        return Err(StoreError::InvalidOp(format!(
            "{peer} holds own entries up to seq {peer_holds}, within the own log (seq {last_seq})"
        )));
    }
    let held_sql = to_sql(peer_holds, "an own seq")?;
    tx.prepare_cached("UPDATE peers SET log_behind = max(log_behind, ?2) WHERE id = ?1")
        .and_then(|mut statement| statement.execute(params![peer.0, held_sql]))
        .with_context(|| format!("noting that {peer} holds own entries this store lacks"))?;
    Ok(())
}

/// [`StoreOp::LogCaughtUp`]: the own log must reach as far as the peer was noted to hold it;
/// the note goes.
fn log_caught_up(tx: &Connection, own: &StationId, peer: &StationId) -> Result<(), StoreError> {
    require_peer(tx, peer)?;
    let (last_seq, _) = last_entry(tx, peer, own)?;
    let behind: i64 = tx
        .prepare_cached("SELECT log_behind FROM peers WHERE id = ?1")
        .and_then(|mut statement| statement.query_row([peer.0], |row| row.get(0)))
        .with_context(|| format!("reading how far {peer} holds the own log"))?;
    let behind: u64 = from_sql(behind, "the own seq a peer holds beyond the own log")?;
    if behind > last_seq {
        return Err(StoreError::InvalidOp(format!(
            "{peer} holds own entries up to seq {behind}, beyond the own log (seq {last_seq})"
        )));
    }
    tx.prepare_cached("UPDATE peers SET log_behind = 0 WHERE id = ?1")
        .and_then(|mut statement| statement.execute([peer.0]))
        .with_context(|| format!("noting that the own log holds what {peer} holds"))?;
    Ok(())
}

/// [`StoreOp::LogForked`]: the seq must lie within the own log; the lowest is kept.
fn log_forked(
    tx: &Connection,
    own: &StationId,
    peer: &StationId,
    seq: u64,
) -> Result<(), StoreError> {
    require_peer(tx, peer)?;
    let (last_seq, _) = last_entry(tx, peer, own)?;
    if seq == 0 || seq > last_seq {
        return Err(StoreError::InvalidOp(format!(
            "{peer} holds another own entry at seq {seq}, outside the own log (1 to {last_seq})"
        )));
    }
    let seq_sql = to_sql(seq, "an own seq")?;
    tx.prepare_cached(
        "UPDATE peers SET log_forked = CASE WHEN log_forked = 0 THEN ?2 \
         ELSE min(log_forked, ?2) END WHERE id = ?1",
    )
    .and_then(|mut statement| statement.execute(params![peer.0, seq_sql]))
    .with_context(|| format!("noting that {peer} holds another own entry than this store"))?;
    Ok(())
}

/// The time signed into the last receipt from `peer` that showed it lost entries (0: none).
fn floor_ms(tx: &Connection, peer: &StationId) -> Result<u64, StoreError> {
    let floor: i64 = tx
        .prepare_cached("SELECT receipt_floor_ms FROM peers WHERE id = ?1")
        .and_then(|mut statement| statement.query_row([peer.0], |row| row.get(0)))
        .with_context(|| format!("reading the receipt floor of {peer}"))?;
    from_sql(floor, "a peer's receipt floor")
}

fn peer_epoch_key(tx: &Connection, peer: &StationId, public: &[u8]) -> Result<(), StoreError> {
    let changed = tx
        .prepare_cached("UPDATE peers SET epoch_public = ?2 WHERE id = ?1")
        .and_then(|mut statement| statement.execute(params![peer.0, public]))
        .with_context(|| format!("storing the epoch key of {peer}"))?;
    if changed == 0 {
        return Err(StoreError::UnknownPeer(peer.to_string()));
    }
    Ok(())
}

/// Makes `key` the current epoch key; the previous one stays, no longer current.
pub(crate) fn add_epoch_key(
    tx: &Connection,
    key: &EpochSecret,
    created_ms: u64,
) -> Result<(), StoreError> {
    let shown = key.id();
    let context = || format!("storing the new epoch key {shown}");
    tx.execute("UPDATE epoch_keys SET current = 0 WHERE current = 1", [])
        .with_context(context)?;
    tx.execute(
        "INSERT INTO epoch_keys (key_id, secret, public, created_ms, current) \
         VALUES (?1, ?2, ?3, ?4, 1)",
        params![
            key.id().0,
            key.secret_bytes(),
            key.public_bytes(),
            to_sql(created_ms, "an epoch key's creation time")?
        ],
    )
    .with_context(context)?;
    Ok(())
}

/// Erases a retained epoch key pair. The current key is refused. The writer runs with
/// `secure_delete` on, so SQLite overwrites the deleted bytes in the database; the commit then
/// empties the write-ahead log ([`crate::Store::commit_batch`]).
pub(crate) fn erase_epoch_key(tx: &Connection, id: &EpochKeyId) -> Result<(), StoreError> {
    let context = || format!("erasing the epoch key {id}");
    let erased = tx
        .execute(
            "DELETE FROM epoch_keys WHERE key_id = ?1 AND current = 0",
            [id.0],
        )
        .with_context(context)?;
    if erased != 1 {
        return Err(StoreError::InvalidOp(format!(
            "the epoch key {id} is not a retained key of this station"
        )));
    }
    Ok(())
}
