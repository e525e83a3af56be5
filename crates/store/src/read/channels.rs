//! Reading the relay and courier channels: each row checked as every read is, a relay's
//! pinned card verified and naming the relay's key.

use parley_proto::ContactCard;
use rusqlite::Connection;

use super::query;
use crate::convert::{from_sql, station_id};
use crate::error::StoreError;
use crate::rows::{ChannelKindRow, ChannelRow};

type RawChannel = (
    i64,
    Vec<u8>,
    String,
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    i64,
);

/// Every relay and courier channel, oldest first.
pub(crate) fn channels(connection: &Connection) -> Result<Vec<ChannelRow>, StoreError> {
    query(
        connection,
        "SELECT id, peer, kind, target, relay_id, relay_card, added_ms FROM channels ORDER BY id",
        [],
        "reading channels",
        |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            ))
        },
        decode_channel,
    )
}

fn decode_channel(
    (id, peer, kind, target, relay_id, relay_card, added_ms): RawChannel,
) -> Result<ChannelRow, StoreError> {
    let kind = match (kind.as_str(), relay_id, relay_card) {
        ("relay", Some(relay), Some(card_bytes)) => {
            let relay = station_id(relay, "a relay id")?;
            let card = ContactCard::decode_verified(&card_bytes).map_err(|error| {
                StoreError::Corrupt(format!(
                    "the pinned card of relay {target} does not verify: {error}"
                ))
            })?;
            if card.identity != relay {
                return Err(StoreError::Corrupt(format!(
                    "the pinned card of relay {target} names another key"
                )));
            }
            ChannelKindRow::Relay { relay, card_bytes }
        }
        ("courier", None, None) => ChannelKindRow::Courier,
        (other, ..) => {
            return Err(StoreError::Corrupt(format!(
                "channel {id} has kind {other:?} with inconsistent relay columns"
            )));
        }
    };
    Ok(ChannelRow {
        id,
        peer: station_id(peer, "a channel's peer")?,
        kind,
        target,
        added_ms: from_sql(added_ms, "a channel's time")?,
    })
}
