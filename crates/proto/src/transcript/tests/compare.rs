//! Two exports, one from each side (docs/formats.md §8.5), and pinned keys (§8.6).

use super::*;

fn verified(lines: &Lines) -> VerifiedTranscript {
    lines.verify().expect("verifies on its own")
}

#[test]
fn two_exports_of_one_history_agree_and_show_what_each_side_held() {
    let history = History::standard();
    // Alpha exported after Bravo had receipted three of its four entries; Bravo exported
    // holding Alpha's first three, and with Alpha's receipt of its first two.
    let alpha = verified(&history.alpha_export());
    let bravo = verified(&history.export(Who::Bravo, 3, Some(2)));
    let agreement = compare(&alpha, &bravo, &[]).unwrap();
    let [a, b] = &agreement.stations;
    assert_eq!((a.name.as_str(), a.held, a.ids.len()), ("Alpha", [4, 3], 4));
    assert_eq!(a.acknowledged, 3, "Bravo's receipt in Alpha's export");
    assert_eq!((b.name.as_str(), b.held, b.ids.len()), ("Bravo", [3, 3], 3));
    assert_eq!(b.acknowledged, 3, "Alpha's export covers Bravo's log");
    assert_eq!(a.head(), history.alpha.log[3].id());
    // Either order.
    let reversed = compare(&bravo, &alpha, &[]).unwrap();
    assert_eq!(reversed.stations[0].name, "Bravo");
    assert_eq!(reversed.stations[1].acknowledged, 3);
}

#[test]
fn the_other_sides_export_restores_a_tail_cut_from_one() {
    // Bravo acknowledged all of Alpha's log; Alpha's file is cut after entry 3 with Bravo's
    // receipt. On its own it verifies (attacks.rs); Bravo's export still holds entry 4.
    let history = History::standard();
    let file = history.export(Who::Alpha, 3, Some(4));
    let a4 = file.entry_line(&history, Who::Alpha, 4);
    let cut = verified(&file.clone().remove(file.find("receipt", 2) + 1).remove(a4));
    let bravo = verified(&history.export(Who::Bravo, 4, Some(3)));
    let agreement = compare(&cut, &bravo, &[]).unwrap();
    let alpha_log = &agreement.stations[0];
    assert_eq!(alpha_log.held, [3, 4]);
    assert_eq!(alpha_log.ids.len(), 4);
    assert_eq!(alpha_log.acknowledged, 4);
}

#[test]
fn two_exports_that_disagree_are_named() {
    let history = History::standard();
    let alpha = verified(&history.alpha_export());
    let check = |a: &VerifiedTranscript, b: &VerifiedTranscript, want: &str| {
        let got = compare(a, b, &[]).unwrap_err().to_string();
        assert_eq!(got, want);
    };
    // D2: the same side twice.
    let earlier = verified(&history.export(Who::Alpha, 3, Some(1)));
    check(
        &alpha,
        &earlier,
        "both were exported by Alpha; verify one export from each side",
    );
    // D1: another link (Alpha with a third station).
    let mut elsewhere = History::standard();
    let charlie = Identity::from_secret(&[3; 32]);
    elsewhere.bravo = Author {
        card: card(&charlie, "Charlie", 10),
        identity: charlie,
        log: Vec::new(),
    };
    elsewhere.link = LinkId::between(
        &elsewhere.alpha.identity.id(),
        &elsewhere.bravo.identity.id(),
    );
    elsewhere.alpha.log.clear();
    elsewhere.announce(Who::Alpha, 0);
    let other_link = verified(&elsewhere.export(Who::Bravo, 1, None));
    check(
        &alpha,
        &other_link,
        "they are transcripts of different links",
    );
    // Bravo's card with another epoch key (Bravo rotated it since Alpha pinned the card)
    // agrees: the key rotates.
    let mut rekeyed = History::standard();
    rekeyed.bravo.card = card(&rekeyed.bravo.identity, "Bravo", 77);
    assert_ne!(rekeyed.bravo.card, history.bravo.card);
    let bravo_rekeyed = verified(&rekeyed.export(Who::Bravo, 4, Some(3)));
    compare(&alpha, &bravo_rekeyed, &[]).expect("a rotated epoch key is no disagreement");
    // D3: Bravo's card as Alpha pinned it differs from Bravo's card now.
    let mut renamed = History::standard();
    renamed.bravo.card = card(&renamed.bravo.identity, "Bravo 2", 9);
    let bravo_renamed = verified(&renamed.export(Who::Bravo, 4, Some(3)));
    let fingerprint = history.bravo.identity.fingerprint();
    check(
        &alpha,
        &bravo_renamed,
        &format!("they hold different cards for Bravo ({fingerprint})"),
    );
    // D4: Bravo's third entry differs (Bravo signed two different third entries).
    let mut forked = History::standard();
    forked.bravo.log.truncate(2);
    forked.say(Who::Bravo, 3, "understood, and more");
    let bravo_forked = verified(&forked.export(Who::Bravo, 3, Some(2)));
    check(
        &alpha,
        &bravo_forked,
        "they hold different entries of Bravo at seq 3",
    );
}

#[test]
fn pinned_fingerprints_must_be_the_transcripts_stations() {
    let history = History::standard();
    let alpha = verified(&history.alpha_export());
    let pins = |ids: &[&Identity]| ids.iter().map(|i| i.fingerprint()).collect::<Vec<_>>();
    let (a, b) = (&history.alpha.identity, &history.bravo.identity);
    assert_eq!(check_pins(&alpha, &pins(&[a])), Ok(()));
    // A station's key fingerprint (what a peer pinned from its version 1 card knows) pins it.
    assert_eq!(check_pins(&alpha, &[a.id().key_fingerprint()]), Ok(()));
    assert_eq!(check_pins(&alpha, &pins(&[b, a])), Ok(()));
    assert_eq!(check_pins(&alpha, &[]), Ok(()));
    // Two exports: checked after their links (D1), before the rest.
    let bravo = verified(&history.export(Who::Bravo, 3, Some(2)));
    assert!(compare(&alpha, &bravo, &pins(&[a, b])).is_ok());
    let stranger = &Identity::from_secret(&[4; 32]);
    assert_eq!(
        compare(&alpha, &alpha, &pins(&[stranger])),
        Err(CompareError::NotPinned(NotPinned {
            expected: stranger.fingerprint()
        }))
    );
    let error = check_pins(&alpha, &pins(&[a, stranger])).unwrap_err();
    assert_eq!(error.expected, stranger.fingerprint());
    assert_eq!(
        error.to_string(),
        format!(
            "no station of the transcript has the expected fingerprint {}",
            stranger.fingerprint()
        )
    );
}

/// A checkpoint note vouches for two exports when it vouches for either (§8.8): Bravo's,
/// holding less of Alpha's log, is forgiven its cut; a size beyond both, or another root where
/// an export holds the log to its size, fails the pair.
#[test]
fn a_note_vouches_for_a_pair_when_it_vouches_for_either_export() {
    let history = History::standard();
    let alpha = verified(&history.alpha_export());
    let bravo = verified(&history.export(Who::Bravo, 3, Some(2)));
    let (alpha_id, bravo_id) = (history.alpha.identity.id(), history.bravo.identity.id());
    let note = |size: u64, root: Option<crate::tlog::Hash>| {
        let head = history.head(Who::Alpha, size.min(4), root);
        SignedHead::sign(&history.alpha.identity, &bravo_id, size, head.root)
            .note(&alpha_id, &bravo_id)
    };
    let proofs = check_checkpoint_pair([&alpha, &bravo], &note(4, None)).expect("vouches");
    assert!(matches!(proofs, [Some(proof), None] if proof.size == 4));
    let proofs = check_checkpoint_pair([&bravo, &alpha], &note(3, None)).expect("vouches");
    assert!(matches!(proofs, [Some(_), Some(_)]));
    let beyond = check_checkpoint_pair([&alpha, &bravo], &note(5, None));
    assert!(
        matches!(beyond, Err(CheckpointError::Cut { size: 5, .. })),
        "{beyond:?}"
    );
    let other_root = check_checkpoint_pair([&bravo, &alpha], &note(4, Some([9; 32])));
    assert!(
        matches!(other_root, Err(CheckpointError::Root { .. })),
        "{other_root:?}"
    );
}
