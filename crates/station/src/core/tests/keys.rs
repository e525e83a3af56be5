//! Epoch keys: rotated on demand and on the schedule, held while the peer may seal to them,
//! erased once it has moved past them.

use super::*;

fn rotate(core: &mut Station, store: &mut Store, now_ms: u64) -> crate::api::KeyRotated {
    match request(core, store, now_ms, Command::KeyRotate) {
        Ok(Reply::KeyRotated(rotated)) => rotated,
        other => panic!("{other:?}"),
    }
}

/// A superseded epoch key stays while the peer may still seal to it, past its retention, and
/// is erased (in memory and in the store) once an entry the peer wrote after reading the new
/// key is delivered in order; the messages sealed to either key are all delivered.
#[test]
fn a_superseded_epoch_key_is_erased_once_the_peer_has_moved_past_it() {
    const DAY_MS: u64 = 24 * 3_600_000;
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store)) = paired_both();
    let (alpha_id, bravo_id) = (alpha.identity().id(), bravo.identity().id());
    let deliver = |core: &mut Station, store: &mut Store, from: StationId, now_ms, frame: &[u8]| {
        let input = Input::Frame {
            via: Via::Direct(from),
            bytes: frame.to_vec(),
        };
        core.handle(now_ms, input);
        commit_all(core, store).expect("commits");
        core.handle_timeout(now_ms);
        commit_all(core, store).expect("commits");
    };
    for frame in envelopes_out(&mut alpha, &mut alpha_store, NOW_MS) {
        deliver(&mut bravo, &mut bravo_store, alpha_id, NOW_MS, &frame);
    }
    let old = bravo.endpoint().keyring().current().id();
    let rotated = rotate(&mut bravo, &mut bravo_store, NOW_MS);
    assert_eq!(rotated.announced_to, ["Alpha"]);
    let announcement = envelopes_out(&mut bravo, &mut bravo_store, NOW_MS);

    // Alpha writes before it reads the new key: sealed to the old one.
    send_at(&mut alpha, (NOW_MS, "Bravo"), 2);
    let sealed_to_old = envelopes_out(&mut alpha, &mut alpha_store, NOW_MS);
    let keys = |core: &mut Station, store: &mut Store| {
        let report = status(core, store);
        let keys: Vec<(bool, Vec<String>)> = report
            .epoch_keys
            .iter()
            .map(|k| (k.current, k.needed_by.clone()))
            .collect();
        keys
    };
    let later = NOW_MS + 15 * DAY_MS;
    bravo.handle_timeout(later);
    commit_all(&mut bravo, &mut bravo_store).expect("commits");
    assert_eq!(
        keys(&mut bravo, &mut bravo_store),
        [(true, vec![]), (false, vec!["Alpha".to_owned()])],
        "past its retention, the old key is held for Alpha"
    );

    // Alpha reads the new key and writes again; that entry, alone, is held above a gap.
    for frame in &announcement {
        deliver(&mut alpha, &mut alpha_store, bravo_id, later, frame);
    }
    send_at(&mut alpha, (later, "Bravo"), 3);
    let sealed_to_new: Vec<Vec<u8>> = envelopes_out(&mut alpha, &mut alpha_store, later)
        .into_iter()
        .filter(|frame| !sealed_to_old.contains(frame))
        .collect();
    for frame in &sealed_to_new {
        deliver(&mut bravo, &mut bravo_store, alpha_id, later, frame);
    }
    assert_eq!(bravo_store.epoch_keys().expect("reads").len(), 2, "a gap");
    assert!(bravo.endpoint().keyring().get(&old).is_some());

    // The entry sealed to the old key arrives: delivered, and the old key goes at the next
    // look a delivery asks for.
    for frame in &sealed_to_old {
        deliver(&mut bravo, &mut bravo_store, alpha_id, later, frame);
    }
    assert!(bravo.endpoint().keyring().get(&old).is_some(), "not yet");
    bravo.handle_timeout(later + crate::limits::KEY_DELIVERY_RECHECK_MS);
    commit_all(&mut bravo, &mut bravo_store).expect("commits");
    let link = bravo.endpoint().link(&alpha_id).expect("paired");
    assert_eq!(
        link.in_head(),
        alpha.endpoint().link(&bravo_id).unwrap().out_seq()
    );
    assert!(link.counters().rejected.is_empty());
    assert!(bravo.endpoint().keyring().get(&old).is_none(), "erased");
    let stored = bravo_store.epoch_keys().expect("reads");
    assert_eq!(stored.len(), 1);
    assert_eq!(keys(&mut bravo, &mut bravo_store), [(true, vec![])]);
}

/// The daemon's schedule makes a new key once per period, announced once on each link.
#[test]
fn a_scheduled_rotation_announces_the_new_key_once() {
    let ((mut alpha, mut alpha_store), _) = paired_both();
    let period_ms = 60_000;
    alpha.keys.settings.rotate_every_ms = Some(period_ms);
    let bravo_id = *alpha.peers().keys().next().expect("paired");
    let written = |alpha: &Station| alpha.endpoint().link(&bravo_id).unwrap().out_seq();
    let before = written(&alpha);
    for now_ms in [NOW_MS + period_ms, NOW_MS + period_ms + 1] {
        alpha.handle_timeout(now_ms);
        commit_all(&mut alpha, &mut alpha_store).expect("commits");
    }
    assert_eq!(written(&alpha), before + 1, "one announcement");
    assert_eq!(alpha_store.epoch_keys().expect("reads").len(), 2);
    let record = alpha_store.link_record(&bravo_id).expect("reads");
    let announced: Vec<_> = record
        .own_key_announcements
        .iter()
        .map(|(_, k)| *k)
        .collect();
    assert_eq!(
        announced.last(),
        Some(&alpha.endpoint().keyring().current().id())
    );
    assert_eq!(announced.len(), 2, "the pairing's and the rotation's");
}

/// A peer that pairs after a rotation, from a card printed before it, seals its first entries
/// to the superseded key: the key is held for it and those entries open.
#[test]
fn a_key_is_held_for_a_peer_paired_from_a_card_printed_before_the_rotation() {
    let (mut alpha, mut alpha_store) = station("Alpha", 1);
    let (mut bravo, mut bravo_store) = station("Bravo", 2);
    let stale_card = bravo.card();
    let rotated = rotate(&mut bravo, &mut bravo_store, NOW_MS);
    assert!(rotated.announced_to.is_empty(), "no peer yet");
    let alpha_card = alpha.card();
    pin(&mut alpha, &mut alpha_store, &stale_card, false);
    pin(&mut bravo, &mut bravo_store, &alpha_card, false);
    let report = status(&mut bravo, &mut bravo_store);
    assert_eq!(report.epoch_keys.len(), 2);
    assert_eq!(report.epoch_keys[1].needed_by, ["Alpha"]);
    let later = NOW_MS + 20 * 24 * 3_600_000; // past the retention, before the next rotation
    bravo.handle_timeout(later);
    commit_all(&mut bravo, &mut bravo_store).expect("commits");
    assert_eq!(
        bravo_store.epoch_keys().expect("reads").len(),
        2,
        "held past retention"
    );
    // Alpha's pairing entry, sealed to the key of the card it pinned, opens.
    let alpha_id = alpha.identity().id();
    let via = Via::Direct(bravo.identity().id());
    let signal = Signal::Connected { rtt_us: Some(500) };
    alpha.handle(later, Input::Health { via, signal });
    for frame in envelopes_out(&mut alpha, &mut alpha_store, later) {
        let input = Input::Frame {
            via: Via::Direct(alpha_id),
            bytes: frame,
        };
        bravo.handle(later, input);
    }
    commit_all(&mut bravo, &mut bravo_store).expect("commits");
    let link = bravo.endpoint().link(&alpha_id).expect("paired");
    let written = alpha
        .endpoint()
        .link(&bravo.identity().id())
        .unwrap()
        .out_seq();
    assert_eq!(link.in_head(), written, "all of Alpha's entries open");
    assert!(
        link.counters().rejected.is_empty(),
        "{:?}",
        link.counters().rejected
    );
}
