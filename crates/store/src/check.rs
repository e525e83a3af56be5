//! The store's check of everything it holds, made when a station opens it: a torn page, a
//! flipped bit or a file restored from the wrong backup must stop the station with a clear
//! message, never be served as data.
//!
//! SQLite's own `integrity_check` finds pages that no longer form valid b-trees, records that
//! no longer decode and indexes that disagree with their tables (a damaged index would
//! otherwise make a query silently miss rows); it cannot see a changed byte inside a value.
//! So every signed object is checked as well:
//!
//! - each entry's signed bytes must hash to its stored id, decode, and agree with every
//!   column read from them (author, seq, prev, seen, time, kind, precedence, text, language,
//!   subject, exercise);
//!   each log must be contiguous up to its delivered head with every entry naming its
//!   predecessor's id, and the signature of the head is verified, which through the chain of
//!   ids covers every entry below it; an entry held above the head (after a gap, or after a
//!   fork the peer made) is verified by itself;
//! - each pinned card must verify and name its peer (as every read of a peer checks);
//! - each kept receipt must verify under its peer's key and match its stored bound;
//! - each undelivered outbox frame must be an envelope this station signed for that seq and
//!   entry id.
//!
//! The cost is SQLite's check, one SHA-256 and one CBOR decode per entry, and a few signature
//! checks per link: about 20 µs per entry on the project's machine (3,000 entries of 1 KiB,
//! a 14 MB store: 55 ms).

use parley_proto::envelope::Envelope;
use parley_proto::frame::Frame;
use parley_proto::receipt::Receipt;
use parley_proto::{EntryId, SignedEntry, StationId};
use rusqlite::Connection;

use crate::apply::Derived;
use crate::convert::{entry_id, from_sql};
use crate::error::{SqlContext, StoreError};
use crate::read;

/// Most problems `integrity_check` reports that are quoted in the error.
pub const INTEGRITY_CHECK_REPORTED_MAX: usize = 5;

/// What the check covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckSummary {
    /// Links checked.
    pub links: u64,
    /// Entries checked against their ids.
    pub entries: u64,
    /// Signatures verified (log heads, entries above a gap, receipts, outbox frames).
    pub signatures: u64,
}

/// Checks the whole store; the first problem found is a [`StoreError::Corrupt`].
pub(crate) fn check(connection: &Connection) -> Result<CheckSummary, StoreError> {
    integrity_check(connection)?;
    let mut summary = CheckSummary::default();
    let Some(station) = read::station(connection)? else {
        return Ok(summary);
    };
    read::epoch_keys(connection)?;
    let own = station.identity;
    for peer in read::peers(connection)? {
        summary.links += 1;
        let in_head = peer.in_head;
        let own_ids = check_log(connection, &peer.id, &own, u64::MAX, &mut summary)?;
        check_log(connection, &peer.id, &peer.id, in_head, &mut summary)?;
        check_receipt(connection, &peer.id, &mut summary)?;
        check_receipts_state(connection, &peer.id, &peer.name, own_ids.len())?;
        check_outbox(connection, &peer.id, &own, &own_ids, &mut summary)?;
        // Every outbox row reads as `outbox` shows it (its state, delivery time and kinds of
        // channel), so a store that opens serves every command.
        read::outbox_states(connection, &peer.id)?;
    }
    Ok(summary)
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// SQLite's structural check of every page.
fn integrity_check(connection: &Connection) -> Result<(), StoreError> {
    let mut statement = connection
        .prepare("PRAGMA integrity_check")
        .context("checking the database file")?;
    let found = statement
        .query_map([], |row| row.get::<_, String>(0))
        .context("checking the database file")?
        .take(INTEGRITY_CHECK_REPORTED_MAX)
        .collect::<Result<Vec<_>, _>>()
        .context("checking the database file")?;
    if found.len() == 1 && found[0] == "ok" {
        return Ok(());
    }
    Err(corrupt(format!(
        "SQLite's check of the database file found: {}",
        found.join("; ")
    )))
}

/// One stored entry row, raw.
struct EntryRow {
    seq: i64,
    entry_id: Vec<u8>,
    prev: Vec<u8>,
    seen: Vec<u8>,
    time_ms: i64,
    kind: i64,
    precedence: i64,
    text: Option<String>,
    lang: Option<String>,
    signed: Vec<u8>,
    subject: Option<Vec<u8>>,
    exercise: bool,
}

/// Checks the log of `author` on the link with `peer`, a chain up to `contiguous_upto`
/// (entries held above it may follow gaps and forks); returns the ids of its chain, by seq.
fn check_log(
    connection: &Connection,
    peer: &StationId,
    author: &StationId,
    contiguous_upto: u64,
    summary: &mut CheckSummary,
) -> Result<Vec<EntryId>, StoreError> {
    let context = "checking a log";
    let mut statement = connection
        .prepare(
            "SELECT seq, entry_id, prev, seen, time_ms, kind, precedence, text, lang, signed, \
             subject, exercise FROM entries WHERE peer = ?1 AND author = ?2 ORDER BY seq",
        )
        .context(context)?;
    let rows = statement
        .query_map([peer.0, author.0], |row| {
            Ok(EntryRow {
                seq: row.get(0)?,
                entry_id: row.get(1)?,
                prev: row.get(2)?,
                seen: row.get(3)?,
                time_ms: row.get(4)?,
                kind: row.get(5)?,
                precedence: row.get(6)?,
                text: row.get(7)?,
                lang: row.get(8)?,
                signed: row.get(9)?,
                subject: row.get(10)?,
                exercise: row.get(11)?,
            })
        })
        .context(context)?;
    let who = author.short();
    let mut ids: Vec<EntryId> = Vec::new();
    // The last entry of the contiguous part.
    let mut head: Option<SignedEntry> = None;
    for row in rows {
        let row = row.context(context)?;
        let seq = from_sql(row.seq, "an entry seq")?;
        let what = format!("the entry seq {seq} by {who}");
        let id = entry_id(row.entry_id.clone(), "an entry id")?;
        let entry = SignedEntry::decode_stored(&row.signed, &id)
            .map_err(|error| corrupt(format!("{what} is damaged: {error}")))?;
        check_columns(&what, author, seq, &entry, &row)?;
        summary.entries += 1;
        if seq > contiguous_upto {
            // Held above the head: nothing below vouches for it, so its own signature does.
            // Held entries need not chain, to the head or to each other: a peer put back to an
            // older copy of its store signs a seq again (the link records that fork).
            verify_signature(&what, &row.signed, author)?;
            summary.signatures += 1;
            continue;
        }
        let belongs = ids.len() as u64 + 1;
        if seq != belongs {
            return Err(corrupt(format!(
                "the log of {who} holds seq {seq} where seq {belongs} belongs: entries are missing"
            )));
        }
        let prev = ids.last().copied().unwrap_or(EntryId::NONE);
        if entry.entry().prev != prev {
            return Err(corrupt(format!(
                "{what} names prev {} but the stored seq {} is {prev}",
                entry.entry().prev,
                seq - 1
            )));
        }
        ids.push(id);
        head = Some(entry);
    }
    if let Some(head) = head {
        let what = format!("the entry seq {} by {who}", head.entry().seq);
        verify_signature(&what, head.bytes(), author)?;
        summary.signatures += 1;
    }
    Ok(ids)
}

fn verify_signature(what: &str, signed: &[u8], author: &StationId) -> Result<(), StoreError> {
    SignedEntry::decode_verified(signed, author)
        .map(|_| ())
        .map_err(|error| corrupt(format!("{what} is damaged: {error}")))
}

/// The columns of an entry row must say what its signed bytes say.
fn check_columns(
    what: &str,
    author: &StationId,
    seq: u64,
    entry: &SignedEntry,
    row: &EntryRow,
) -> Result<(), StoreError> {
    let fields = entry.entry();
    let Derived {
        text,
        lang,
        exercise,
        subject,
    } = Derived::of(&fields.body);
    let agree = fields.author == *author
        && fields.seq == seq
        && fields.prev.0.as_slice() == row.prev.as_slice()
        && fields.seen.0.as_slice() == row.seen.as_slice()
        && i64::try_from(fields.time_ms).ok() == Some(row.time_ms)
        && fields.body.kind() as i64 == row.kind
        && fields.precedence as i64 == row.precedence
        && text == row.text.as_deref()
        && lang == row.lang.as_deref()
        && subject.as_ref().map(<[u8; 32]>::as_slice) == row.subject.as_deref()
        && exercise == row.exercise;
    if agree {
        Ok(())
    } else {
        Err(corrupt(format!(
            "{what}: the stored columns differ from its signed bytes"
        )))
    }
}

/// The peer's kept receipt must verify and match the bound stored beside it.
fn check_receipt(
    connection: &Connection,
    peer: &StationId,
    summary: &mut CheckSummary,
) -> Result<(), StoreError> {
    let (bytes, upto): (Option<Vec<u8>>, i64) = connection
        .query_row(
            "SELECT latest_receipt, latest_receipt_upto FROM peers WHERE id = ?1",
            [peer.0],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .context("checking a kept receipt")?;
    let upto = from_sql(upto, "a receipt bound")?;
    let Some(bytes) = bytes else {
        return Ok(());
    };
    let receipt = Receipt::decode_verified(&bytes, peer).map_err(|error| {
        corrupt(format!(
            "the receipt kept from {} is damaged: {error}",
            peer.short()
        ))
    })?;
    summary.signatures += 1;
    if receipt.upto != upto {
        return Err(corrupt(format!(
            "the receipt kept from {} covers seq {} but its stored bound is {upto}",
            peer.short(),
            receipt.upto
        )));
    }
    Ok(())
}

/// What the store keeps of the peer's receipts beside the latest: the floor is a time the
/// newest reached (both are receipt times, the newest raised with the floor), and the own
/// seq the peer is noted to hold beyond the own log lies beyond it (`own_last`), since
/// nothing is appended once it is noted, and the own seq it is noted to hold another entry at
/// lies within it. A changed byte would otherwise have receipts ignored,
/// or the link fenced, without a word.
fn check_receipts_state(
    connection: &Connection,
    peer: &StationId,
    name: &str,
    own_last: usize,
) -> Result<(), StoreError> {
    let read::ReceiptsState {
        newest_ms,
        floor_ms,
        behind,
        forked,
    } = read::receipts_state(connection, peer)?;
    if floor_ms > newest_ms {
        return Err(corrupt(format!(
            "peer \"{name}\": the floor of its receipts ({floor_ms} ms) is after the newest one \
             taken ({newest_ms} ms)"
        )));
    }
    if behind != 0 && usize::try_from(behind).is_ok_and(|behind| behind <= own_last) {
        return Err(corrupt(format!(
            "peer \"{name}\" is noted to hold own seq {behind} beyond this store's log, which \
             ends at seq {own_last}"
        )));
    }
    if usize::try_from(forked).map_or(true, |forked| forked > own_last) {
        return Err(corrupt(format!(
            "peer \"{name}\" is noted to hold another entry at own seq {forked}, beyond this \
             store's log, which ends at seq {own_last}"
        )));
    }
    Ok(())
}

/// Every undelivered outbox frame must be an envelope this station signed for that entry.
fn check_outbox(
    connection: &Connection,
    peer: &StationId,
    own: &StationId,
    own_ids: &[EntryId],
    summary: &mut CheckSummary,
) -> Result<(), StoreError> {
    let context = "checking the outbox";
    let mut statement = connection
        .prepare("SELECT seq, frame FROM outbox WHERE peer = ?1 AND state != 'delivered'")
        .context(context)?;
    let rows = statement
        .query_map([peer.0], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<Vec<u8>>>(1)?))
        })
        .context(context)?;
    for row in rows {
        let (seq, frame) = row.context(context)?;
        let seq = from_sql(seq, "an outbox seq")?;
        let what = format!("the outbox frame of seq {seq}");
        let frame = frame.ok_or_else(|| corrupt(format!("{what} is missing")))?;
        let envelope = match Frame::parse(&frame) {
            Ok(Frame::Envelope(body)) => Envelope::peek(body)
                .and_then(|envelope| envelope.check_signature())
                .map_err(|error| corrupt(format!("{what} is damaged: {error}")))?,
            Ok(Frame::Receipt(_)) => return Err(corrupt(format!("{what} is a receipt"))),
            Err(error) => return Err(corrupt(format!("{what} is damaged: {error}"))),
        };
        summary.signatures += 1;
        let expected_id = seq
            .checked_sub(1)
            .and_then(|index| usize::try_from(index).ok())
            .and_then(|index| own_ids.get(index));
        if envelope.from != *own
            || envelope.to != *peer
            || envelope.seq != seq
            || Some(&envelope.entry_id) != expected_id
        {
            return Err(corrupt(format!(
                "{what} is not this station's envelope of that entry"
            )));
        }
    }
    Ok(())
}
