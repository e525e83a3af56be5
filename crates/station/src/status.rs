//! `parley status`: live from the daemon, or from the store when no daemon runs.

use std::time::Duration;

use parley_proto::StationId;
use parley_store::Store;
use serde_json::{Value, json};

use crate::error::StationError;
use crate::home::Home;
use crate::node::Node;

/// Most recent alarms listed in status.
pub const STATUS_ALARMS_MAX: usize = 20;

fn alarms(store: &Store) -> Result<Value, StationError> {
    let rows = store.evidence(None)?;
    let total = rows.len();
    let recent: Vec<Value> = rows
        .iter()
        .rev()
        .take(STATUS_ALARMS_MAX)
        .map(|row| {
            json!({
                "peer": row.peer_name,
                "kind": row.kind,
                "seq": row.seq,
                "detail": row.detail,
                "time_ms": row.time_ms,
            })
        })
        .collect();
    Ok(json!({ "total": total, "recent": recent }))
}

/// Status of a running daemon.
pub fn live(
    node: &Node,
    channels: &[(StationId, Value)],
    handshakes_rejected: u64,
    cards_rejected: u64,
    now_ms: u64,
    uptime: Duration,
) -> Value {
    let mut peers = Vec::new();
    for (id, info) in node.peers() {
        let Some(link) = node.endpoint().link(id) else {
            continue;
        };
        let counters = link.counters();
        let channels: Vec<&Value> = channels
            .iter()
            .filter(|(peer, _)| peer == id)
            .map(|(_, channel)| channel)
            .collect();
        peers.push(json!({
            "name": info.name,
            "fingerprint": id.fingerprint().to_string(),
            "channels": channels,
            "out_seq": link.out_seq(),
            "outbox_depth": link.outbox_depth(),
            "peer_receipt_upto": link.peer_receipt_upto(),
            "in_head": link.in_head(),
            "in_pending": link.in_pending(),
            "counters": {
                "envelopes_accepted": counters.envelopes_accepted,
                "duplicates_dropped": counters.duplicates_dropped,
                "receipts_accepted": counters.receipts_accepted,
                "frames_transmitted": counters.frames_transmitted,
                "retransmissions": counters.retransmissions,
                "rejected": counters.rejected,
                "alarms": counters.alarms,
            },
        }));
    }
    let identity = node.identity().id();
    json!({
        "station": station_json(node.config(), &identity),
        "daemon": "running",
        "now_ms": now_ms,
        "uptime_s": uptime.as_secs(),
        "peers": peers,
        "rejected": {
            "frames": node.endpoint().unattributed_rejections(),
            "handshakes": handshakes_rejected,
            "cards": cards_rejected,
        },
        "alarms": alarms(node.store()).unwrap_or(Value::Null),
    })
}

fn station_json(config: &crate::home::Config, identity: &StationId) -> Value {
    json!({
        "name": config.name,
        "lang": config.lang,
        "listen": config.listen,
        "fingerprint": identity.fingerprint().to_string(),
    })
}

/// Status read from the store while no daemon runs.
pub fn offline(home: &Home) -> Result<Value, StationError> {
    let config = home.config()?;
    let identity = home.identity()?.id();
    let store = Store::open_read_only(&home.store_path())?;
    let stored = store.channels()?;
    let mut peers = Vec::new();
    for row in store.peers()? {
        let snapshot = store.link_snapshot(&row.id)?;
        let mut channels = vec![json!({
            "kind": "direct",
            "target": row.address,
            "state": "down",
        })];
        channels.extend(stored.iter().filter(|c| c.peer == row.id).map(|c| {
            json!({
                "kind": c.kind.name(),
                "target": c.target,
                "state": "down",
            })
        }));
        peers.push(json!({
            "name": row.name,
            "fingerprint": row.id.fingerprint().to_string(),
            "channels": channels,
            "out_seq": snapshot.out_ids.len(),
            "outbox_depth": snapshot.outbox.len(),
            "peer_receipt_upto": snapshot.peer_receipt_upto,
            "in_head": snapshot.in_ids.len(),
            "in_pending": snapshot.in_pending.len(),
        }));
    }
    Ok(json!({
        "station": station_json(&config, &identity),
        "daemon": "stopped",
        "peers": peers,
        "alarms": alarms(&store)?,
    }))
}
