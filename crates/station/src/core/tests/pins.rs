//! A peer's version 2 card replacing its version 1 pin in place (formats.md §6, migration).

use parley_proto::Fingerprint;

use super::*;
use crate::api::ApiError;

/// `peer add` of `card` with `fingerprint` at `core`, committed; its reply.
fn peer_add(
    core: &mut Station,
    store: &mut Store,
    (card, bytes): &(ContactCard, Vec<u8>),
    fingerprint: Fingerprint,
) -> Result<Reply, ApiError> {
    let command = Command::PeerAdd {
        card: card.to_text(bytes),
        fingerprint: fingerprint.to_string(),
        address: None,
    };
    request(core, store, NOW_MS, command)
}

/// Bravo's card as `change` leaves it, signed by Bravo.
fn bravo_card(change: impl FnOnce(&mut ContactCard)) -> (ContactCard, Vec<u8>) {
    let (bravo, _) = station("Bravo", 2);
    let (mut card, _) = bravo.card();
    change(&mut card);
    let bytes = card.sign(&Identity::from_secret(&[2; 32]));
    (card, bytes)
}

/// Refused with a message containing `want`, and the pin unchanged.
fn refused(result: Result<Reply, ApiError>, want: &str) {
    let error = result.expect_err("refused");
    assert!(error.message.contains(want), "{}", error.message);
}

#[test]
fn a_version_2_card_replaces_a_version_1_pin_in_place() {
    let (mut alpha, mut store) = station("Alpha", 1);
    let v1 = bravo_card(|card| card.pq_key = None);
    pin(&mut alpha, &mut store, &v1, true);
    let bravo = v1.0.identity;
    assert_eq!(alpha.peers()[&bravo].pq_key, None);
    let v2 = bravo_card(|_| {});
    assert!(v2.0.pq_key.is_some());

    // Refused, nothing changed: another fingerprint, another name, another epoch key while
    // Bravo has announced none in its log, a version 1 card again.
    let stranger = Identity::from_secret(&[9; 32]).id();
    let wrong = Fingerprint::of(&stranger, None);
    refused(peer_add(&mut alpha, &mut store, &v2, wrong), "fingerprint");
    let renamed = bravo_card(|card| card.name = "Bravo Two".into());
    let fingerprint = renamed.0.fingerprint();
    refused(
        peer_add(&mut alpha, &mut store, &renamed, fingerprint),
        "keeps its name",
    );
    let other_key = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([77; 32]));
    let rekeyed = bravo_card(|card| {
        card.epoch_key_id = other_key.id();
        card.epoch_public = other_key.public_bytes().to_vec();
    });
    let fingerprint = rekeyed.0.fingerprint();
    refused(
        peer_add(&mut alpha, &mut store, &rekeyed, fingerprint),
        "has announced none",
    );
    refused(
        peer_add(&mut alpha, &mut store, &v1, v1.0.fingerprint()),
        "already paired",
    );
    assert_eq!(alpha.peers()[&bravo].pq_key, None);
    assert_eq!(store.peers().expect("reads")[0].card, v1.0);

    // The fingerprint checked at pairing is enough: the card is signed by the key pinned.
    let reply = peer_add(&mut alpha, &mut store, &v2, v1.0.fingerprint()).expect("replaced");
    let Reply::Paired(paired) = reply else {
        panic!("{reply:?}");
    };
    assert_eq!(paired.fingerprint, v2.0.fingerprint());
    assert_eq!(paired.replaced, Some(v1.0.fingerprint()));
    assert_eq!(alpha.peers()[&bravo].pq_key, v2.0.pq_key);
    assert_eq!(alpha.peers()[&bravo].fingerprint, v2.0.fingerprint());
    // Stored, and the store still checks (the key sealed to is the pinned card's).
    assert_eq!(store.peers().expect("reads")[0].card, v2.0);
    store.check().expect("the store checks");
    // A version 2 pin is not replaced again.
    refused(
        peer_add(&mut alpha, &mut store, &v2, v2.0.fingerprint()),
        "already paired",
    );
}

/// Once the peer has announced an epoch key in its log, the key sealed to is the
/// announcement's, and the card replacing the pin may carry another.
#[test]
fn once_the_peer_announced_a_key_the_new_card_may_carry_another() {
    let (mut alpha, mut alpha_store) = station("Alpha", 1);
    let (mut bravo, mut bravo_store) = station("Bravo", 2);
    let v1 = bravo_card(|card| card.pq_key = None);
    let bravo_id = v1.0.identity;
    pin(&mut alpha, &mut alpha_store, &v1, true);
    let alpha_card = alpha.card();
    pin(&mut bravo, &mut bravo_store, &alpha_card, true);
    let link = |alpha: &Station| {
        alpha
            .endpoint()
            .link(&bravo_id)
            .expect("a link")
            .peer_epoch_announced()
    };
    assert!(!link(&alpha));
    // Bravo's first entry, the announcement of its key, reaches Alpha.
    for bytes in envelopes_out(&mut bravo, &mut bravo_store, NOW_MS) {
        let via = Via::Direct(bravo_id);
        alpha.handle(NOW_MS, Input::Frame { via, bytes });
    }
    commit_all(&mut alpha, &mut alpha_store).expect("commits");
    assert!(link(&alpha));
    let other_key = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([77; 32]));
    let rekeyed = bravo_card(|card| {
        card.epoch_key_id = other_key.id();
        card.epoch_public = other_key.public_bytes().to_vec();
    });
    let reply = peer_add(&mut alpha, &mut alpha_store, &rekeyed, v1.0.fingerprint());
    assert!(matches!(reply, Ok(Reply::Paired(_))), "{reply:?}");
    assert_eq!(alpha_store.peers().expect("reads")[0].card, rekeyed.0);
    alpha_store.check().expect("the store checks");
}
