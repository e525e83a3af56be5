//! The queries one transaction of the store is made of: a station's status, a deposit into a
//! mailbox with its quotas, and the sizes those quotas are checked against.

use super::*;

pub(super) fn fingerprint(station: &StationId) -> String {
    station.key_fingerprint().to_string()
}

pub(super) fn status_in(
    conn: &Connection,
    station: &StationId,
) -> Result<StationStatus, StoreError> {
    let revoked = conn
        .prepare_cached("SELECT revoked_ms FROM stations WHERE id = ?1")?
        .query_row([&station.0], |row| row.get::<_, Option<i64>>(0))
        .optional()?;
    Ok(match revoked {
        None => StationStatus::Unknown,
        Some(None) => StationStatus::Admitted,
        Some(Some(_)) => StationStatus::Revoked,
    })
}

/// Stores `frames` from `sender` in `recipient`'s mailbox if the recipient is admitted, the
/// sender's new frames fit its share and the mailbox's quota; else writes nothing and says why.
pub(super) fn deposit_in(
    tx: &Connection,
    sender: &StationId,
    recipient: &StationId,
    frames: &[Vec<u8>],
    quota: Quota,
    now_ms: u64,
    retention_ms: u64,
) -> Result<Result<DepositOutcome, DepositRefusal>, StoreError> {
    if status_in(tx, recipient)? != StationStatus::Admitted {
        return Ok(Err(DepositRefusal::RecipientNotAdmitted(fingerprint(
            recipient,
        ))));
    }
    let cutoff = retention_cutoff(now_ms, retention_ms);
    let mut new: Vec<(&[u8], [u8; 32])> = Vec::new();
    let mut duplicates = 0;
    for frame in frames {
        let hash = sha256(&[frame]);
        let held: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM items
             WHERE recipient = ?1 AND hash = ?2 AND deposited_ms >= ?3)",
            )?
            .query_row(params![recipient.0, hash, cutoff], |row| row.get(0))?;
        if held || new.iter().any(|(_, h)| *h == hash) {
            duplicates += 1;
        } else {
            new.push((frame, hash));
        }
    }
    let new_items = new.len() as u64;
    let new_bytes: u64 = new.iter().map(|(frame, _)| frame.len() as u64).sum();
    // The sender's share first: a sender over it is told about its own frames only.
    let share = share_size_in(tx, recipient, sender, cutoff)?;
    if share.items + new_items > quota.share_items_max
        || share.bytes + new_bytes > quota.share_bytes_max
    {
        return Ok(Err(DepositRefusal::ShareFull {
            new_items,
            new_bytes,
            items_max: quota.share_items_max,
            bytes_max: quota.share_bytes_max,
        }));
    }
    let size = mailbox_size_in(tx, recipient, cutoff)?;
    if size.items + new_items > quota.items_max || size.bytes + new_bytes > quota.bytes_max {
        return Ok(Err(DepositRefusal::MailboxFull));
    }
    // Decided: from here on, writes. An expired copy of a frame makes way for it.
    for (frame, hash) in &new {
        tx.prepare_cached("DELETE FROM items WHERE recipient = ?1 AND hash = ?2")?
            .execute(params![recipient.0, hash])?;
        tx.prepare_cached(
            "INSERT INTO items (recipient, sender, hash, frame, deposited_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            recipient.0,
            sender.0,
            hash,
            frame,
            to_sql_u64(now_ms)
        ])?;
    }
    Ok(Ok(DepositOutcome {
        stored: new_items,
        duplicates,
    }))
}

/// Forgets the correspondents a station addressed least recently beyond a number: run at every
/// deposit.
pub(super) const FORGET_CORRESPONDENTS: &str = "DELETE FROM correspondents \
    WHERE station = ?1 AND addressed NOT IN (SELECT addressed FROM correspondents \
    WHERE station = ?1 ORDER BY last_ms DESC, addressed LIMIT ?2)";

/// Remembers that `station` addressed `addressed` at `now_ms`, and forgets the recipients it
/// addressed least recently beyond [`CORRESPONDENTS_PER_STATION_MAX`].
pub(super) fn record_correspondent(
    tx: &Connection,
    station: &StationId,
    addressed: &StationId,
    now_ms: u64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO correspondents (station, addressed, last_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (station, addressed) DO UPDATE
         SET last_ms = max(last_ms, excluded.last_ms)",
    )?
    .execute(params![station.0, addressed.0, to_sql_u64(now_ms)])?;
    tx.prepare_cached(FORGET_CORRESPONDENTS)?.execute(params![
        station.0,
        to_sql_u64(CORRESPONDENTS_PER_STATION_MAX)
    ])?;
    Ok(())
}

pub(super) fn addressed_in(
    conn: &Connection,
    station: &StationId,
    addressed: &StationId,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM correspondents WHERE station = ?1 AND addressed = ?2)",
        )?
        .query_row(params![station.0, addressed.0], |row| row.get(0))?)
}

pub(super) fn share_size_in(
    conn: &Connection,
    recipient: &StationId,
    sender: &StationId,
    cutoff: i64,
) -> Result<MailboxSize, StoreError> {
    let (items, bytes): (i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(length(frame)), 0) FROM items
         WHERE recipient = ?1 AND sender = ?2 AND deposited_ms >= ?3",
        )?
        .query_row(params![recipient.0, sender.0, cutoff], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok(MailboxSize {
        items: from_sql_u64(items, "item count")?,
        bytes: from_sql_u64(bytes, "share size")?,
    })
}

pub(super) fn mailbox_size_in(
    conn: &Connection,
    recipient: &StationId,
    cutoff: i64,
) -> Result<MailboxSize, StoreError> {
    let (items, bytes): (i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(length(frame)), 0) FROM items
         WHERE recipient = ?1 AND deposited_ms >= ?2",
        )?
        .query_row(params![recipient.0, cutoff], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok(MailboxSize {
        items: from_sql_u64(items, "item count")?,
        bytes: from_sql_u64(bytes, "mailbox size")?,
    })
}
