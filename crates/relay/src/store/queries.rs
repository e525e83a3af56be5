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

/// Stores `frames` from `sender` in `recipient`'s mailbox if the sender's new frames fit what
/// it and the relay may hold and the disk's free space, the recipient is admitted, and they
/// fit the sender's share and the mailbox's quota; else writes nothing and says why.
/// `disclosed`: whether the recipient has addressed the sender, who may then learn what the
/// recipient's mailbox holds (see [`over_held`] for what it may learn otherwise).
pub(super) fn deposit_in(
    tx: &Connection,
    sender: &StationId,
    recipient: &StationId,
    frames: &[Vec<u8>],
    quota: Quota,
    at: DepositAt,
    disclosed: bool,
) -> Result<Result<DepositOutcome, DepositRefusal>, StoreError> {
    let DepositAt {
        now_ms,
        retention_ms,
        disk_free_bytes,
    } = at;
    let cutoff = retention_cutoff(now_ms, retention_ms);
    let mut new: Vec<(&[u8], [u8; 32])> = Vec::new();
    let mut distinct: Vec<[u8; 32]> = Vec::new();
    let (mut duplicates, mut distinct_bytes) = (0, 0);
    for frame in frames {
        let hash = sha256(&[frame]);
        if distinct.contains(&hash) {
            duplicates += 1;
            continue;
        }
        distinct.push(hash);
        distinct_bytes += frame.len() as u64;
        let held: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM items
             WHERE recipient = ?1 AND hash = ?2 AND deposited_ms >= ?3)",
            )?
            .query_row(params![recipient.0, hash, cutoff], |row| row.get(0))?;
        if held {
            duplicates += 1;
        } else {
            // An expired copy makes way for it now, before the quotas are read, which count
            // what is held until it is deleted: the frame sent again, once expired, must not
            // be counted twice (deleted even if the deposit is refused: it is expired).
            tx.prepare_cached("DELETE FROM items WHERE recipient = ?1 AND hash = ?2")?
                .execute(params![recipient.0, hash])?;
            new.push((frame, hash));
        }
    }
    let new_items = new.len() as u64;
    let new_bytes: u64 = new.iter().map(|(frame, _)| frame.len() as u64).sum();
    let not_admitted = (status_in(tx, recipient)? != StationStatus::Admitted)
        .then(|| DepositRefusal::RecipientNotAdmitted(fingerprint(recipient)));
    // A sender the recipient has addressed may learn what its mailbox holds: its frames
    // already held there are free, and the recipient's status comes first. Any other is
    // told only of what it and the relay hold (whatever the recipient, so first), counting
    // every frame it sent: which of them the mailbox holds stays unsaid.
    if disclosed && let Some(refusal) = not_admitted.clone() {
        return Ok(Err(refusal));
    }
    let own_bytes = if disclosed { new_bytes } else { distinct_bytes };
    if let Some(refusal) = over_held(tx, sender, own_bytes, quota, disk_free_bytes)? {
        return Ok(Err(refusal));
    }
    if let Some(refusal) = not_admitted {
        return Ok(Err(refusal));
    }
    // The sender's share first: a sender over it is told about its own frames only.
    // Expired frames count until they are purged (at most `PURGE_INTERVAL_MS_MAX` after they
    // expire, and when their recipient fetches), as in what the sender and the relay hold.
    let share = mailbox_size_in(tx, recipient, &sender.0)?;
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
    let size = mailbox_size_in(tx, recipient, WHOLE_MAILBOX)?;
    if size.items + new_items > quota.items_max || size.bytes + new_bytes > quota.bytes_max {
        return Ok(Err(DepositRefusal::MailboxFull));
    }
    // Decided: from here on, writes.
    for (frame, hash) in &new {
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

/// When and where a deposit is stored: its time, the retention of frames, and the free space
/// on the store's file system.
#[derive(Clone, Copy, Debug)]
pub(super) struct DepositAt {
    pub now_ms: u64,
    pub retention_ms: u64,
    pub disk_free_bytes: u64,
}

/// Why `new_bytes` more of `sender`'s frames may not be stored whatever their recipient: they
/// would take the sender's frames across every mailbox, or the relay's, over their bounds, or
/// leave the disk less free space than the relay keeps. Nothing new is always within them.
///
/// What a sender may learn so: what it holds counts its frames stored for recipients that
/// have not addressed it, so a sender that fills its own bound may tell, from when a deposit
/// is refused, whether such frames were stored (the recipient is admitted) and when they were
/// fetched (docs/relay-api.md §4). It has to deposit up to its bound to learn it.
fn over_held(
    tx: &Connection,
    sender: &StationId,
    new_bytes: u64,
    quota: Quota,
    disk_free_bytes: u64,
) -> Result<Option<DepositRefusal>, StoreError> {
    if new_bytes == 0 {
        return Ok(None);
    }
    if held_bytes_in(tx, &sender.0)?.saturating_add(new_bytes) > quota.sender_bytes_max {
        return Ok(Some(DepositRefusal::SenderFull {
            new_bytes,
            bytes_max: quota.sender_bytes_max,
        }));
    }
    if held_bytes_in(tx, HELD_TOTAL)?.saturating_add(new_bytes) > quota.relay_bytes_max {
        return Ok(Some(DepositRefusal::RelayFull {
            bytes_max: quota.relay_bytes_max,
        }));
    }
    if disk_free_bytes < quota.disk_free_min_bytes.saturating_add(new_bytes) {
        return Ok(Some(DepositRefusal::DiskFull {
            free_min: quota.disk_free_min_bytes,
        }));
    }
    Ok(None)
}

/// The `held` row that counts every sender's frames (schema version 5).
pub(super) const HELD_TOTAL: &[u8] = b"";

/// Frame bytes held for `sender` (a station's id, or [`HELD_TOTAL`]) in every mailbox,
/// expired ones included until purged.
pub(super) fn held_bytes_in(conn: &Connection, sender: &[u8]) -> Result<u64, StoreError> {
    let bytes: Option<i64> = conn
        .prepare_cached("SELECT bytes FROM held WHERE sender = ?1")?
        .query_row([sender], |row| row.get(0))
        .optional()?;
    from_sql_u64(bytes.unwrap_or(0), "bytes held")
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

/// The sender under which `mailboxes` counts a whole mailbox.
pub(super) const WHOLE_MAILBOX: &[u8] = b"";

/// Items and frame bytes held in `recipient`'s mailbox, from `sender` (or, for
/// [`WHOLE_MAILBOX`], from all), expired ones included until purged: as the `mailboxes` table
/// counts them.
pub(super) fn mailbox_size_in(
    conn: &Connection,
    recipient: &StationId,
    sender: &[u8],
) -> Result<MailboxSize, StoreError> {
    let counted: Option<(i64, i64)> = conn
        .prepare_cached("SELECT items, bytes FROM mailboxes WHERE recipient = ?1 AND sender = ?2")?
        .query_row(params![recipient.0, sender], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let (items, bytes) = counted.unwrap_or((0, 0));
    Ok(MailboxSize {
        items: from_sql_u64(items, "item count")?,
        bytes: from_sql_u64(bytes, "mailbox size")?,
    })
}
