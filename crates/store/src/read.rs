//! Queries. Everything read is checked before it is handed out: ids have their length, integers
//! their sign, cards their signature, and a link's logs are contiguous from seq 1 with each
//! entry naming its predecessor (the read side of the checks `apply.rs` makes before writing).

use parley_proto::{ChannelKind, ContactCard, EntryId, EpochSecret, EvidenceKind, StationId};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::convert::{entry_id, from_sql, precedence, required_text, station_id, to_sql};
use crate::error::{SqlContext, StoreError};
use crate::rows::{
    DeliveryState, EpochKeyRow, EvidenceRow, InboxRow, LinkCounts, OutboxRow, OutboxState, PeerRow,
    StationRow, StoredEntry,
};

mod channels;
mod link;

pub(crate) use self::channels::channels;
pub(crate) use self::link::{ReceiptsState, link_snapshot, peer_link, receipts_state};

/// Runs `sql` (prepared and cached) and decodes each row; SQLite errors carry `context`.
pub(crate) fn query<T, Raw>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    context: &str,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<Raw>,
    mut decode: impl FnMut(Raw) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = connection.prepare_cached(sql).context(context)?;
    let rows = statement.query_map(params, read).context(context)?;
    let mut out = Vec::new();
    for raw in rows {
        out.push(decode(raw.context(context)?)?);
    }
    Ok(out)
}

/// This station's row, if initialised.
pub(crate) fn station(connection: &Connection) -> Result<Option<StationRow>, StoreError> {
    type Raw = (String, String, Vec<u8>, i64, Option<i64>);
    let raw: Option<Raw> = connection
        .prepare_cached("SELECT name, lang, identity, created_ms, stopped_ms FROM station")
        .and_then(|mut statement| statement.query_row([], |row| Raw::try_from(row)).optional())
        .context("reading the station record")?;
    raw.map(|(name, lang, identity, created_ms, stopped_ms)| {
        Ok(StationRow {
            name,
            lang,
            identity: station_id(identity, "the station identity")?,
            created_ms: from_sql(created_ms, "the station creation time")?,
            stopped_ms: stopped_ms
                .map(|ms| from_sql(ms, "when the daemon last stopped"))
                .transpose()?,
        })
    })
    .transpose()
}

/// The station's epoch keys, current first, then newest first: in the order they were
/// stored, whatever their times say (the wall clock may have stepped back between two). The
/// current key is the last stored and is never deleted, so no rowid is reused, and parley
/// never vacuums the store.
pub(crate) fn epoch_keys(connection: &Connection) -> Result<Vec<EpochKeyRow>, StoreError> {
    query(
        connection,
        "SELECT key_id, secret, public, created_ms, current FROM epoch_keys \
         ORDER BY current DESC, rowid DESC",
        [],
        "reading the epoch keys",
        |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, Vec<u8>>(1)?,
                row.get::<_, Vec<u8>>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
            ))
        },
        |(key_id, secret, public, created_ms, current)| {
            let shown = hex_short(&key_id);
            let key = EpochSecret::from_secret_bytes(&secret).map_err(|error| {
                StoreError::Corrupt(format!("epoch key {shown} does not decode: {error}"))
            })?;
            if key.id().0.as_slice() != key_id || key.public_bytes() != public {
                return Err(StoreError::Corrupt(format!(
                    "epoch key {shown}: the stored secret does not match its id or public key"
                )));
            }
            Ok(EpochKeyRow {
                key,
                created_ms: from_sql(created_ms, "an epoch key's creation time")?,
                current: current == 1,
            })
        },
    )
}

fn hex_short(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

const PEER_COLUMNS: &str = "SELECT id, name, card, address, added_ms, in_head FROM peers";

type RawPeer = (Vec<u8>, String, Vec<u8>, Option<String>, i64, i64);

fn read_peer(row: &Row<'_>) -> rusqlite::Result<RawPeer> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn decode_peer(
    (id, name, card, address, added_ms, in_head): RawPeer,
) -> Result<PeerRow, StoreError> {
    let id = station_id(id, "a peer id")?;
    let card_bytes = card;
    let card = ContactCard::decode_verified(&card_bytes).map_err(|error| {
        StoreError::Corrupt(format!(
            "the pinned card of peer \"{name}\" does not verify: {error}"
        ))
    })?;
    if card.identity != id {
        return Err(StoreError::Corrupt(format!(
            "the pinned card of peer \"{name}\" names another station"
        )));
    }
    Ok(PeerRow {
        id,
        card,
        card_bytes,
        address,
        added_ms: from_sql(added_ms, "a peer's pairing time")?,
        in_head: from_sql(in_head, "a peer's in-head")?,
        name,
    })
}

/// Every paired peer, by name.
pub(crate) fn peers(connection: &Connection) -> Result<Vec<PeerRow>, StoreError> {
    let sql = format!("{PEER_COLUMNS} ORDER BY name");
    query(
        connection,
        &sql,
        [],
        "reading peers",
        read_peer,
        decode_peer,
    )
}

/// The peer with this local name.
pub(crate) fn peer_by_name(
    connection: &Connection,
    name: &str,
) -> Result<Option<PeerRow>, StoreError> {
    let sql = format!("{PEER_COLUMNS} WHERE name = ?1");
    let rows = query(
        connection,
        &sql,
        [name],
        "looking up a peer by name",
        read_peer,
        decode_peer,
    )?;
    Ok(rows.into_iter().next())
}

/// The peer with this identity.
pub(crate) fn peer_by_id(
    connection: &Connection,
    id: &StationId,
) -> Result<Option<PeerRow>, StoreError> {
    let sql = format!("{PEER_COLUMNS} WHERE id = ?1");
    let rows = query(
        connection,
        &sql,
        [id.0],
        "looking up a peer by id",
        read_peer,
        decode_peer,
    )?;
    Ok(rows.into_iter().next())
}

/// The signed bytes of own entries `seqs` of the link with `peer`, in the order asked; a seq
/// not written is left out.
pub(crate) fn own_entries(
    connection: &Connection,
    own: &StationId,
    peer: &StationId,
    seqs: &[u64],
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let mut found = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let seq_sql = to_sql(*seq, "an entry seq")?;
        let signed: Option<Vec<u8>> = connection
            .prepare_cached(
                "SELECT signed FROM entries WHERE peer = ?1 AND author = ?2 AND seq = ?3",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![peer.0, own.0, seq_sql], |row| row.get(0))
                    .optional()
            })
            .context("reading own entries to send again")?;
        if let Some(signed) = signed {
            found.push((*seq, signed));
        }
    }
    Ok(found)
}

/// Appends ` AND {column} = ?n` when filtering by peer; the peer is the last parameter.
fn peer_filter(sql: &str, column: &str, peer: Option<&StationId>, index: usize) -> String {
    match peer {
        Some(_) => format!("{sql} AND {column} = ?{index}"),
        None => sql.to_owned(),
    }
}

/// Delivered peer messages, per sender (by name) in seq order.
pub(crate) fn inbox(
    connection: &Connection,
    peer: Option<&StationId>,
) -> Result<Vec<InboxRow>, StoreError> {
    let base = "SELECT p.name, e.author, e.seq, e.entry_id, e.precedence, e.text, e.lang, \
                e.time_ms, e.received_ms \
                FROM entries e JOIN peers p ON p.id = e.peer \
                WHERE e.author = e.peer AND e.kind = 1 AND e.seq <= p.in_head";
    let sql = peer_filter(base, "e.peer", peer, 1) + " ORDER BY p.name, e.seq";
    type Raw = (
        String,
        Vec<u8>,
        i64,
        Vec<u8>,
        i64,
        Option<String>,
        Option<String>,
        i64,
        Option<i64>,
    );
    query(
        connection,
        &sql,
        params_from_iter(peer.map(|p| p.0)),
        "reading the inbox",
        |row| -> rusqlite::Result<Raw> {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
            ))
        },
        |(peer_name, from, seq, id, prec, text, lang, time_ms, received_ms)| {
            let what = "an inbox message";
            Ok(InboxRow {
                from: station_id(from, what)?,
                seq: from_sql(seq, what)?,
                entry_id: entry_id(id, what)?,
                precedence: precedence(prec, what)?,
                text: required_text(text, what)?,
                lang: required_text(lang, what)?,
                sent_at_ms: from_sql(time_ms, what)?,
                received_at_ms: from_sql(
                    received_ms.ok_or_else(|| {
                        StoreError::Corrupt(format!("{what} has no receive time"))
                    })?,
                    what,
                )?,
                peer_name,
            })
        },
    )
}

/// Own messages, per recipient (by name) in seq order.
pub(crate) fn outbox(
    connection: &Connection,
    own: &StationId,
    peer: Option<&StationId>,
) -> Result<Vec<OutboxRow>, StoreError> {
    let base = "SELECT p.name, e.peer, e.seq, e.entry_id, e.precedence, e.text, e.lang, \
                e.time_ms, o.state, o.delivered_ms \
                FROM entries e JOIN peers p ON p.id = e.peer \
                JOIN outbox o ON o.peer = e.peer AND o.seq = e.seq \
                WHERE e.author = ?1 AND e.kind = 1";
    let sql = peer_filter(base, "e.peer", peer, 2) + " ORDER BY p.name, e.seq";
    type Raw = (
        String,
        Vec<u8>,
        i64,
        Vec<u8>,
        i64,
        Option<String>,
        Option<String>,
        i64,
        String,
        Option<i64>,
    );
    let params = std::iter::once(own.0).chain(peer.map(|p| p.0));
    query(
        connection,
        &sql,
        params_from_iter(params),
        "reading the outbox",
        |row| -> rusqlite::Result<Raw> {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
            ))
        },
        |(peer_name, to, seq, id, prec, text, lang, time_ms, state, delivered_ms)| {
            let what = "an outbox message";
            Ok(OutboxRow {
                to: station_id(to, what)?,
                seq: from_sql(seq, what)?,
                entry_id: entry_id(id, what)?,
                precedence: precedence(prec, what)?,
                text: required_text(text, what)?,
                lang: required_text(lang, what)?,
                created_ms: from_sql(time_ms, what)?,
                state: DeliveryState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("{what} has state {state:?}")))?,
                delivered_ms: delivered_ms.map(|ms| from_sql(ms, what)).transpose()?,
                peer_name,
            })
        },
    )
}

/// Both logs of a link for export, by author then seq: every own entry, and the peer's entries
/// up to the in-head (entries held above it are not delivered and may follow a gap). Each log
/// is checked contiguous from seq 1, as a transcript verifier requires.
pub(crate) fn entries(
    connection: &Connection,
    peer: &StationId,
) -> Result<Vec<StoredEntry>, StoreError> {
    peer_link(connection, peer)?;
    let mut previous: Option<(StationId, u64)> = None;
    query(
        connection,
        "SELECT e.author, e.seq, e.signed FROM entries e JOIN peers p ON p.id = e.peer \
         WHERE e.peer = ?1 AND (e.author != e.peer OR e.seq <= p.in_head) \
         ORDER BY e.author, e.seq",
        [peer.0],
        "reading a link's entries",
        |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        },
        |(author, seq, signed)| {
            let author = station_id(author, "an entry author")?;
            let seq = from_sql(seq, "an entry seq")?;
            let expected = match previous {
                Some((last_author, last_seq)) if last_author == author => last_seq + 1,
                _ => 1,
            };
            if seq != expected {
                return Err(StoreError::Corrupt(format!(
                    "the log of {} holds seq {seq} where seq {expected} belongs: \
                     entries are missing",
                    author.short()
                )));
            }
            previous = Some((author, seq));
            Ok(StoredEntry {
                author,
                seq,
                signed,
            })
        },
    )
}

/// The peer's latest receipt (highest cumulative bound), as signed bytes.
pub(crate) fn latest_receipt(
    connection: &Connection,
    peer: &StationId,
) -> Result<Option<Vec<u8>>, StoreError> {
    let raw: Option<Option<Vec<u8>>> = connection
        .prepare_cached("SELECT latest_receipt FROM peers WHERE id = ?1")
        .and_then(|mut statement| statement.query_row([peer.0], |row| row.get(0)).optional())
        .context("reading a peer's latest receipt")?;
    raw.ok_or_else(|| StoreError::UnknownPeer(peer.to_string()))
}

/// Evidence records, oldest first.
pub(crate) fn evidence(
    connection: &Connection,
    peer: Option<&StationId>,
) -> Result<Vec<EvidenceRow>, StoreError> {
    let base = "SELECT v.id, v.peer, p.name, v.kind, v.seq, v.detail, v.bytes, v.time_ms \
                FROM evidence v JOIN peers p ON p.id = v.peer WHERE 1";
    let sql = peer_filter(base, "v.peer", peer, 1) + " ORDER BY v.id";
    type Raw = (i64, Vec<u8>, String, String, i64, String, Vec<u8>, i64);
    query(
        connection,
        &sql,
        params_from_iter(peer.map(|p| p.0)),
        "reading evidence",
        |row| -> rusqlite::Result<Raw> {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
            ))
        },
        |(id, peer, peer_name, kind, seq, detail, bytes, time_ms)| {
            let what = "an evidence record";
            Ok(EvidenceRow {
                id: from_sql(id, what)?,
                peer: station_id(peer, what)?,
                peer_name,
                kind: EvidenceKind::parse(&kind).ok_or_else(|| {
                    StoreError::Corrupt(format!("{what} has the unknown kind {kind:?}"))
                })?,
                seq: from_sql(seq, what)?,
                detail,
                bytes,
                time_ms: from_sql(time_ms, what)?,
            })
        },
    )
}

/// Unreceipted own entries and delivered peer messages on one link.
pub(crate) fn counts(connection: &Connection, peer: &StationId) -> Result<LinkCounts, StoreError> {
    peer_link(connection, peer)?;
    let outbox_depth: i64 = connection
        .prepare_cached("SELECT count(*) FROM outbox WHERE peer = ?1 AND state != 'delivered'")
        .and_then(|mut statement| statement.query_row([peer.0], |row| row.get(0)))
        .context("counting the outbox")?;
    let inbox_count: i64 = connection
        .prepare_cached(
            "SELECT count(*) FROM entries e JOIN peers p ON p.id = e.peer \
             WHERE e.peer = ?1 AND e.author = ?1 AND e.kind = 1 AND e.seq <= p.in_head",
        )
        .and_then(|mut statement| statement.query_row([peer.0], |row| row.get(0)))
        .context("counting the inbox")?;
    Ok(LinkCounts {
        outbox_depth: from_sql(outbox_depth, "an outbox count")?,
        inbox_count: from_sql(inbox_count, "an inbox count")?,
    })
}

/// The latest time anything stored was written at, UTC ms (0 for an empty store): every time
/// column of the store's tables.
pub(crate) fn latest_time_ms(connection: &Connection) -> Result<u64, StoreError> {
    let latest: Option<i64> = connection
        .prepare_cached(
            "SELECT max(t) FROM ( \
               SELECT max(time_ms) AS t FROM entries WHERE received_ms IS NULL \
               UNION ALL SELECT max(received_ms) FROM entries \
               UNION ALL SELECT max(delivered_ms) FROM outbox \
               UNION ALL SELECT max(time_ms) FROM evidence \
               UNION ALL SELECT max(added_ms) FROM peers \
               UNION ALL SELECT max(latest_receipt_ms) FROM peers \
               UNION ALL SELECT max(added_ms) FROM channels \
               UNION ALL SELECT max(created_ms) FROM station \
               UNION ALL SELECT max(created_ms) FROM epoch_keys \
               UNION ALL SELECT max(max(raised_ms, coalesce(escalated_ms, 0), \
                   coalesce(acknowledged_ms, 0), coalesce(cleared_ms, 0))) FROM alarms)",
        )
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .context("reading the latest stored time")?;
    latest.map_or(Ok(0), |ms| from_sql(ms, "a stored time"))
}

/// The id of `author`'s entry at `seq` on the link with `peer`, if it is stored.
pub(crate) fn entry_id_at(
    connection: &Connection,
    peer: &StationId,
    author: &StationId,
    seq: u64,
) -> Result<Option<EntryId>, StoreError> {
    let seq = to_sql(seq, "a seq")?;
    let id: Option<Vec<u8>> = connection
        .prepare_cached("SELECT entry_id FROM entries WHERE peer = ?1 AND author = ?2 AND seq = ?3")
        .and_then(|mut statement| {
            statement
                .query_row(params![peer.0, author.0, seq], |row| row.get(0))
                .optional()
        })
        .context("reading an entry id")?;
    id.map(|id| entry_id(id, "an entry id")).transpose()
}

/// Where each own entry of a link stands in the outbox, by seq: its state, and when its
/// covering receipt arrived.
pub(crate) fn outbox_states(
    connection: &Connection,
    peer: &StationId,
) -> Result<Vec<OutboxState>, StoreError> {
    query(
        connection,
        "SELECT seq, state, delivered_ms, sent_on FROM outbox WHERE peer = ?1 ORDER BY seq",
        [peer.0],
        "reading the outbox",
        |row| -> rusqlite::Result<(i64, String, Option<i64>, i64)> {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        },
        |(seq, state, delivered_ms, sent_on)| {
            let what = "an outbox row";
            Ok(OutboxState {
                seq: from_sql(seq, what)?,
                state: DeliveryState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("{what} has state {state:?}")))?,
                delivered_ms: delivered_ms.map(|ms| from_sql(ms, what)).transpose()?,
                sent_on: {
                    let all = ChannelKind::ALL.iter().map(|kind| i64::from(kind.bit()));
                    if sent_on & !all.sum::<i64>() != 0 {
                        return Err(StoreError::Corrupt(format!(
                            "{what} has channel kinds {sent_on}"
                        )));
                    }
                    ChannelKind::ALL
                        .into_iter()
                        .filter(|kind| sent_on & i64::from(kind.bit()) != 0)
                        .collect()
                },
            })
        },
    )
}
