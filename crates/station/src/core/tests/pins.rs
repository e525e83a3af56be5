//! Pinning a peer: names that could pass for another's are refused, and a peer's version 2
//! card replaces its version 1 pin in place (formats.md §6, migration).

use parley_proto::Fingerprint;

use super::*;
use crate::api::ApiError;
use crate::error::StationError;

/// `peer add` of `card` with `fingerprint` (and `address`) at `core`, committed; its reply.
fn peer_add(
    (core, store): (&mut Station, &mut Store),
    (card, bytes): &(ContactCard, Vec<u8>),
    fingerprint: Fingerprint,
    address: Option<&str>,
) -> Result<Reply, ApiError> {
    let command = Command::PeerAdd {
        card: card.to_text(bytes),
        fingerprint: fingerprint.to_string(),
        address: address.map(str::to_owned),
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

/// Refused with a message containing `want`, and the pin at `core` and in `store` still
/// `pinned`.
fn refused(
    (core, store): (&mut Station, &mut Store),
    (card, fingerprint): (&(ContactCard, Vec<u8>), Fingerprint),
    address: Option<&str>,
    (want, pinned): (&str, &ContactCard),
) {
    let error =
        peer_add((&mut *core, &mut *store), card, fingerprint, address).expect_err("refused");
    assert!(error.message.contains(want), "{}", error.message);
    assert_eq!(
        core.peers()[&pinned.identity].fingerprint,
        pinned.fingerprint()
    );
    assert_eq!(store.peers().expect("reads")[0].card, *pinned);
}

/// An address the operator gives with `peer add` must be one (`IP:PORT`, `quic://` allowed):
/// anything else is refused and nothing is pinned.
#[test]
fn an_address_given_with_the_card_must_be_an_address() {
    let (mut alpha, mut store) = station("Alpha", 1);
    let card = station("Bravo", 2).0.card();
    let fingerprint = card.0.fingerprint();
    for bad in [
        "garbage",
        "localhost:7300",
        "1.2.3.4:5\u{1b}]0;x\u{7}",
        "127.0.0.1",
        "",
    ] {
        let error =
            peer_add((&mut alpha, &mut store), &card, fingerprint, Some(bad)).expect_err("refused");
        assert!(
            error.message.contains("the address given")
                && error.message.contains("nothing was pinned"),
            "{bad:?}: {}",
            error.message
        );
        assert!(store.peers().expect("reads").is_empty(), "{bad:?}");
    }
    peer_add(
        (&mut alpha, &mut store),
        &card,
        fingerprint,
        Some("quic://127.0.0.1:7301"),
    )
    .expect("pinned");
    assert_eq!(
        store.peers().expect("reads")[0].address.as_deref(),
        Some("quic://127.0.0.1:7301")
    );
}

/// A card whose name holds an invisible character, or differs from a paired peer's only in
/// case, is refused (it could pass for that peer), and nothing is pinned; a plain name is.
#[test]
fn a_name_that_could_pass_for_another_is_not_pinned() {
    let (mut alpha, mut store, _) = paired_alpha();
    let bravo_fingerprint = bravo_card(|_| ()).0.fingerprint().to_string();
    for (name, want) in [
        ("Bravo\u{200B}", "invisible character"),
        ("Br\u{AD}avo", "invisible character"),
        ("Bravo\u{E0041}", "invisible character"),
        ("BRAVO", "another peer is already named \"Bravo\""),
        (&bravo_fingerprint, "reads as a fingerprint"),
    ] {
        let card = station(name, 3).0.card();
        let fingerprint = card.0.fingerprint();
        let error =
            peer_add((&mut alpha, &mut store), &card, fingerprint, None).expect_err("refused");
        assert!(error.message.contains(want), "{name:?}: {}", error.message);
        assert_eq!(alpha.peers().len(), 1, "{name:?}");
        assert_eq!(store.peers().expect("reads").len(), 1, "{name:?}");
    }
    let card = station("Charlie", 3).0.card();
    let fingerprint = card.0.fingerprint();
    peer_add((&mut alpha, &mut store), &card, fingerprint, None).expect("pinned");
    assert_eq!(store.peers().expect("reads").len(), 2);
}

/// A fingerprint names the peer whose it is before a peer so named (one pinned before names
/// that read as fingerprints were refused), whatever their order; a name names its peer.
#[test]
fn a_fingerprint_names_its_peer_before_a_name_does() {
    let (alpha, mallory) = (Fingerprint([1; 16]), Fingerprint([2; 16]));
    let dressed = alpha.to_string();
    let named = [
        ("mallory", dressed.as_str(), [mallory; 2]),
        ("alpha", "Alpha", [alpha; 2]),
    ];
    for peers in [named, [named[1], named[0]]] {
        let found = |given: &str| crate::core::find_peer(peers, given).expect("found");
        assert_eq!(found(&dressed), "alpha");
        assert_eq!(found("Alpha"), "alpha");
        assert_eq!(found(&mallory.to_string()), "mallory");
    }
    let unknown = crate::core::find_peer(named, &Fingerprint([3; 16]).to_string());
    assert!(matches!(unknown, Err(StationError::UnknownPeer(_))));
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

    // Refused, nothing changed: another fingerprint, an address, another name, another
    // epoch key while Bravo has announced none in its log, a version 1 card again.
    let at = (&mut alpha, &mut store);
    let stranger = Identity::from_secret(&[9; 32]).id();
    let wrong = Fingerprint::of(&stranger, None);
    refused(at, (&v2, wrong), None, ("fingerprint mismatch", &v1.0));
    let at = (&mut alpha, &mut store);
    let given = (&v2, v1.0.fingerprint());
    refused(at, given, Some("127.0.0.1:9"), ("keeps its address", &v1.0));
    let renamed = bravo_card(|card| card.name = "Bravo Two".into());
    let at = (&mut alpha, &mut store);
    let given = (&renamed, renamed.0.fingerprint());
    refused(at, given, None, ("keeps its name", &v1.0));
    let other_key = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([77; 32]));
    let rekeyed = bravo_card(|card| {
        card.epoch_key_id = other_key.id();
        card.epoch_public = other_key.public_bytes().to_vec();
    });
    let at = (&mut alpha, &mut store);
    let given = (&rekeyed, rekeyed.0.fingerprint());
    refused(at, given, None, ("has announced none", &v1.0));
    let at = (&mut alpha, &mut store);
    refused(
        at,
        (&v1, v1.0.fingerprint()),
        None,
        ("already paired", &v1.0),
    );
    assert_eq!(alpha.peers()[&bravo].pq_key, None);

    // The fingerprint checked at pairing is enough: the card is signed by the key pinned.
    let reply =
        peer_add((&mut alpha, &mut store), &v2, v1.0.fingerprint(), None).expect("replaced");
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
    // Named as before: by name, by the fingerprint pinned first (a version 1 card's is its
    // key fingerprint), and by the new card's; a stranger's fingerprint names nobody.
    assert_eq!(v1.0.fingerprint(), bravo.key_fingerprint());
    for name in [
        "Bravo".to_owned(),
        v1.0.fingerprint().to_string(),
        v2.0.fingerprint().to_string(),
    ] {
        assert_eq!(alpha.resolve_peer(&name).expect("names Bravo"), bravo);
    }
    assert!(alpha.resolve_peer(&wrong.to_string()).is_err());
    // A version 2 pin is not replaced again.
    let at = (&mut alpha, &mut store);
    refused(
        at,
        (&v2, v2.0.fingerprint()),
        None,
        ("already paired", &v2.0),
    );
}

/// A station's core and its store.
type Side = (Station, Store);

/// Alpha and Bravo paired both ways, Alpha's pin of Bravo its version 1 card (also given).
fn paired_under_v1() -> (Side, Side, (ContactCard, Vec<u8>)) {
    let (mut alpha, mut alpha_store) = station("Alpha", 1);
    let (mut bravo, mut bravo_store) = station("Bravo", 2);
    let v1 = bravo_card(|card| card.pq_key = None);
    pin(&mut alpha, &mut alpha_store, &v1, true);
    pin(&mut bravo, &mut bravo_store, &alpha.card(), true);
    ((alpha, alpha_store), (bravo, bravo_store), v1)
}

/// Once the peer has announced an epoch key in its log, the key sealed to is the
/// announcement's, and the card replacing the pin may carry another.
#[test]
fn once_the_peer_announced_a_key_the_new_card_may_carry_another() {
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store), v1) = paired_under_v1();
    let bravo_id = v1.0.identity;
    let link = |alpha: &Station| {
        alpha
            .endpoint()
            .link(&bravo_id)
            .expect("a link")
            .peer_epoch_announced()
    };
    assert!(!link(&alpha));
    // Bravo's first entry, the announcement of its key, reaches Alpha, and the card comes in
    // the same commit: the store reads the announcement the core read.
    for bytes in envelopes_out(&mut bravo, &mut bravo_store, NOW_MS) {
        let via = Via::Direct(bravo_id);
        alpha.handle(NOW_MS, Input::Frame { via, bytes });
    }
    assert!(link(&alpha));
    let other_key = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([77; 32]));
    let rekeyed = bravo_card(|card| {
        card.epoch_key_id = other_key.id();
        card.epoch_public = other_key.public_bytes().to_vec();
    });
    let reply = peer_add(
        (&mut alpha, &mut alpha_store),
        &rekeyed,
        v1.0.fingerprint(),
        None,
    );
    assert!(matches!(reply, Ok(Reply::Paired(_))), "{reply:?}");
    assert_eq!(alpha_store.peers().expect("reads")[0].card, rekeyed.0);
    alpha_store.check().expect("the store checks");
}

/// Bravo's latest checkpoint as `checkpoint show Bravo` at `core` shows it.
fn bravo_latest(core: &mut Station, store: &mut Store) -> crate::core::CheckpointItem {
    let show = Command::CheckpointShow {
        peer: "Bravo".into(),
    };
    match request(core, store, NOW_MS, show) {
        Ok(Reply::Checkpoints(report)) => report.peer_log.latest.expect("a checkpoint"),
        other => panic!("{other:?}"),
    }
}

/// A checkpoint of the peer accepted while its pin had no ML-DSA-44 key carries a line nobody
/// checked: `checkpoint show` calls it post-quantum only once it verifies under the key of the
/// card that replaced the pin.
#[test]
fn a_checkpoint_taken_under_a_version_1_pin_is_post_quantum_only_if_its_line_verifies() {
    use parley_proto::Body;
    use parley_proto::tlog::head::{PqHeadSignature, SignedHead};

    let ((alpha, alpha_store), (mut bravo, mut bravo_store), v1) = paired_under_v1();
    let (alpha_id, bravo_id) = (alpha.identity.id(), v1.0.identity);
    for text in ["one", "two"] {
        let body = Body::Message {
            text: text.into(),
            lang: "en".into(),
            exercise: false,
            translations: Vec::new(),
        };
        write_as_station(&mut bravo, &alpha_id, body);
    }
    // Bravo's checkpoint at `size` of its log, with the ML-DSA-44 signature of the head at
    // `pq_size`, delivered to Alpha; then what Alpha shows of Bravo's latest checkpoint.
    let mut checkpoint = |size: u64, pq_size: u64, alpha: &mut Side| {
        let tree = &bravo.logs[&alpha_id].own;
        let head = SignedHead::sign(
            &bravo.identity,
            &alpha_id,
            size,
            tree.root_at(size).unwrap(),
        );
        let pq_root = tree.root_at(pq_size).unwrap();
        let pq_head = SignedHead::sign(&bravo.identity, &alpha_id, pq_size, pq_root);
        let pq = PqHeadSignature::sign(&bravo.identity, &alpha_id, &pq_head);
        write_as_station(&mut bravo, &alpha_id, Body::Checkpoint(head, Some(pq)));
        let (alpha, alpha_store) = (&mut alpha.0, &mut alpha.1);
        for bytes in envelopes_out(&mut bravo, &mut bravo_store, NOW_MS) {
            let via = Via::Direct(bravo_id);
            alpha.handle(NOW_MS, Input::Frame { via, bytes });
        }
        bravo_latest(alpha, alpha_store)
    };
    let mut alpha = (alpha, alpha_store);
    // Under the version 1 pin the line is not checked: one signing another head is taken.
    let latest = checkpoint(1, 2, &mut alpha);
    assert_eq!((latest.size, latest.post_quantum), (1, false));
    let v2 = bravo_card(|_| {});
    let replaced = peer_add((&mut alpha.0, &mut alpha.1), &v2, v1.0.fingerprint(), None);
    assert!(matches!(replaced, Ok(Reply::Paired(_))), "{replaced:?}");
    // Now the key is known, and the line does not verify under it.
    let latest = bravo_latest(&mut alpha.0, &mut alpha.1);
    assert_eq!((latest.size, latest.post_quantum), (1, false));
    assert!(latest.note.contains("parley.station/"), "the line is kept");
    // A checkpoint whose line verifies is post-quantum.
    let latest = checkpoint(3, 3, &mut alpha);
    assert_eq!((latest.size, latest.post_quantum), (3, true));
    assert_eq!(open_alarms(&mut alpha.0, &mut alpha.1, "split_view"), 0);
}
