//! Relay and courier channels: stored, listed, refused twice, refused for unknown peers, and
//! checked on the way back out.

use super::fixture::{Station, initialised, temp_path};
use crate::{ChannelKindRow, StoreError};

#[test]
fn channels_are_stored_listed_and_not_duplicated() {
    let (_dir, path) = temp_path();
    let alice = Station::new(1, "alice");
    let bob = Station::new(2, "bob");
    let relay = Station::new(3, "relay");
    let mut store = initialised(&path, &alice);
    let relay_kind = ChannelKindRow::Relay {
        relay: relay.id(),
        card_bytes: relay.card_bytes.clone(),
    };
    // Unknown peer: refused, nothing stored.
    assert!(matches!(
        store.add_channel(&bob.id(), &relay_kind, "https://127.0.0.1:7400", 10),
        Err(StoreError::UnknownPeer(_))
    ));
    assert!(store.channels().unwrap().is_empty());

    store
        .add_peer(&bob.card, &bob.card_bytes, "bob", None, 5)
        .unwrap();
    let first = store
        .add_channel(&bob.id(), &relay_kind, "https://127.0.0.1:7400", 10)
        .unwrap();
    let second = store
        .add_channel(&bob.id(), &ChannelKindRow::Courier, "/media/usb", 11)
        .unwrap();
    assert!(second > first);
    assert!(matches!(
        store.add_channel(&bob.id(), &ChannelKindRow::Courier, "/media/usb", 12),
        Err(StoreError::ChannelExists(_))
    ));
    let channels = store.channels().unwrap();
    assert_eq!(channels.len(), 2);
    assert_eq!(channels[0].kind, relay_kind);
    assert_eq!(channels[0].target, "https://127.0.0.1:7400");
    assert_eq!(channels[1].kind, ChannelKindRow::Courier);
    assert_eq!(channels[1].added_ms, 11);
}

#[test]
fn a_tampered_relay_card_is_reported_corrupt() {
    let (_dir, path) = temp_path();
    let alice = Station::new(1, "alice");
    let bob = Station::new(2, "bob");
    let relay = Station::new(3, "relay");
    let mut store = initialised(&path, &alice);
    store
        .add_peer(&bob.card, &bob.card_bytes, "bob", None, 5)
        .unwrap();
    let kind = ChannelKindRow::Relay {
        relay: relay.id(),
        card_bytes: relay.card_bytes.clone(),
    };
    store
        .add_channel(&bob.id(), &kind, "https://r", 10)
        .unwrap();
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE channels SET relay_card = ?1",
        [bob.card_bytes.as_slice()],
    )
    .unwrap();
    drop(raw);
    let store = crate::Store::open(&path).unwrap();
    assert!(matches!(store.channels(), Err(StoreError::Corrupt(_))));
}
