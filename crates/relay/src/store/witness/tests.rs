//! The witness's records: checkpoints move forward only, the one held submitted again is
//! cosigned without a write, the witness signs only once it decides to cosign, conflicts are
//! kept with both notes up to their author's bound and counted past it, and each station's
//! logs are bounded.

use std::cell::Cell;

use parley_proto::Identity;
use parley_proto::tlog::{self, head::SignedHead};

use super::*;
use crate::witness;

const NOW_MS: u64 = 1_700_000_000_000;

fn identity(seed: u8) -> Identity {
    Identity::from_secret(&[seed; 32])
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| tlog::leaf_hash(&i.to_be_bytes())).collect()
}

/// A store with stations 1 (alpha) and 2 (bravo) admitted.
fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut store = Store::open(&dir.path().join("relay.sqlite")).expect("store opens");
    for (seed, name) in [(1, "alpha"), (2, "bravo")] {
        store
            .admit(&StationRow {
                id: identity(seed).id(),
                name: name.into(),
                card: vec![seed],
                admitted_ms: NOW_MS,
                revoked_ms: None,
            })
            .expect("admits");
    }
    (dir, store)
}

/// Alpha's checkpoint of its log with `peer` at `size` (root `root`), submitted from
/// `old_size` with the proof from it over [`leaves`].
fn submission_to(peer: StationId, old_size: u64, size: u64, root: Hash) -> Submission {
    let alpha = identity(1);
    let note = SignedHead::sign(&alpha, &peer, size, root).note(&alpha.id(), &peer);
    let proof = match old_size {
        0 => Vec::new(),
        old => tlog::consistency_proof(&leaves(size), old as usize).unwrap_or_default(),
    };
    let body = parley_relay_wire::witness::AddCheckpoint {
        old_size,
        proof,
        checkpoint: note,
    }
    .encode();
    witness::read(body.as_bytes())
        .and_then(|unverified| unverified.verify(StationStatus::Admitted))
        .expect("verified")
}

fn submission(old_size: u64, size: u64) -> Submission {
    submission_to(identity(2).id(), old_size, size, tlog::root(&leaves(size)))
}

/// The "cosignature" of a submission at `now_ms`: a signature line that marks the time.
fn marker(now_ms: u64) -> String {
    parley_proto::tlog::note::line("witness", &now_ms.to_be_bytes())
}

/// Submits `submission` to the writer's transaction, "cosigned" with [`marker`], at `now_ms`.
fn submit(store: &mut Store, submission: &Submission, now_ms: u64) -> WitnessOutcome {
    store
        .witness(submission, now_ms, |_| Ok(marker(now_ms)))
        .expect("the store writes")
}

/// What [`submit`] answers when it stores the checkpoint at `now_ms`.
fn stored(now_ms: u64) -> WitnessOutcome {
    WitnessOutcome::Cosigned {
        cosignature: marker(now_ms),
        stored: true,
    }
}

/// The rows SQLite has changed on the store's connection since it opened.
fn changes(store: &Store) -> u64 {
    store.conn.total_changes()
}

fn held(store: &Store) -> (u64, Hash, u64) {
    let logs = store.witnessed_logs().expect("reads");
    assert_eq!(logs.len(), 1);
    (logs[0].size, logs[0].root, logs[0].conflicts_seen)
}

#[test]
fn checkpoints_move_forward_and_are_served_by_their_origin_hash() {
    let (_dir, mut store) = store();
    assert_eq!(store.witnessed_logs().expect("reads"), vec![]);
    let first = submission(0, 3);
    assert_eq!(submit(&mut store, &first, NOW_MS), stored(NOW_MS));
    let origin_hash = sha256(&[first.origin().as_bytes()]);
    let log = store
        .witnessed_log(&origin_hash)
        .expect("reads")
        .expect("held");
    assert_eq!(
        log,
        WitnessedLog {
            origin: first.origin().to_owned(),
            author: identity(1).id(),
            size: 3,
            root: first.root(),
            note: format!("{}{}", first.note(), marker(NOW_MS)),
            cosigned_ms: NOW_MS,
            conflicts_seen: 0,
        }
    );
    assert_eq!(store.witnessed_log(&[0; 32]).expect("reads"), None);
    // Stale: the size held is answered, nothing changes.
    let stale = submit(&mut store, &submission(0, 5), NOW_MS + 1);
    assert_eq!(
        stale,
        WitnessOutcome::Refused(WitnessRefusal::StaleOldSize {
            old_size: 0,
            held: 3
        })
    );
    assert_eq!(held(&store), (3, first.root(), 0));
    let second = submission(3, 5);
    assert_eq!(submit(&mut store, &second, NOW_MS + 2), stored(NOW_MS + 2));
    assert_eq!(held(&store), (5, second.root(), 0));
    assert_eq!(
        store
            .witnessed_log(&origin_hash)
            .expect("reads")
            .map(|log| log.cosigned_ms),
        Some(NOW_MS + 2)
    );
    // The same checkpoint again is cosigned again, afresh, and nothing is written: what is
    // held (and served) keeps its first cosignature.
    let before = (store.witnessed_logs().expect("reads"), changes(&store));
    assert_eq!(
        submit(&mut store, &submission(5, 5), NOW_MS + 3),
        WitnessOutcome::Cosigned {
            cosignature: marker(NOW_MS + 3),
            stored: false
        }
    );
    assert_eq!(
        (store.witnessed_logs().expect("reads"), changes(&store)),
        before
    );
    assert_eq!(store.witness_conflicts().expect("reads"), vec![]);
}

#[test]
fn a_decision_on_what_is_held_settles_replays_and_refusals_without_writing() {
    let (_dir, mut store) = store();
    let read_only = |store: &Store, submission: &Submission| {
        store
            .witness_read_only(submission, |_| Ok(marker(NOW_MS)))
            .expect("reads")
    };
    // Nothing held: a first checkpoint is for the writer; a stale one is refused here.
    assert_eq!(read_only(&store, &submission(0, 3)), None);
    assert_eq!(
        read_only(&store, &submission(3, 5)),
        Some(WitnessOutcome::Refused(WitnessRefusal::StaleOldSize {
            old_size: 3,
            held: 0
        }))
    );
    assert_eq!(
        submit(&mut store, &submission(0, 3), NOW_MS),
        stored(NOW_MS)
    );
    let before = (store.witnessed_logs().expect("reads"), changes(&store));
    let bravo = identity(2).id();
    for (submitted, expect) in [
        // The checkpoint held again: cosigned, nothing to store.
        (
            submission(3, 3),
            Some(WitnessOutcome::Cosigned {
                cosignature: marker(NOW_MS),
                stored: false,
            }),
        ),
        // Stale (409): refused here.
        (
            submission(0, 5),
            Some(WitnessOutcome::Refused(WitnessRefusal::StaleOldSize {
                old_size: 0,
                held: 3,
            })),
        ),
        // The next checkpoint, or a conflict to keep: for the writer.
        (submission(3, 5), None),
        (submission_to(bravo, 3, 3, [7; 32]), None),
        (submission_to(bravo, 3, 5, [7; 32]), None),
    ] {
        assert_eq!(read_only(&store, &submitted), expect);
    }
    assert_eq!(
        (store.witnessed_logs().expect("reads"), changes(&store)),
        before,
        "nothing written"
    );
    store.revoke("alpha", NOW_MS).expect("revokes");
    let revoked = read_only(&store, &submission(3, 3));
    assert!(
        matches!(&revoked, Some(WitnessOutcome::Refused(refusal)) if refusal.status().as_u16() == 404),
        "{revoked:?}"
    );
}

#[test]
fn the_witness_signs_only_once_it_decides_to_cosign() {
    let (_dir, mut store) = store();
    let bravo = identity(2).id();
    assert_eq!(
        submit(&mut store, &submission(0, 3), NOW_MS),
        stored(NOW_MS)
    );
    let signed = Cell::new(0);
    let cosign = |_: &str| {
        signed.set(signed.get() + 1);
        Ok(marker(NOW_MS))
    };
    // 409s and conflicts, decided on what is held or in the transaction: never signed.
    for refused in [
        submission(0, 5),
        submission(5, 5),
        submission_to(bravo, 3, 3, [7; 32]),
        submission_to(bravo, 3, 5, [7; 32]),
    ] {
        let outcome = store.witness(&refused, NOW_MS, cosign).expect("writes");
        assert!(
            !matches!(outcome, WitnessOutcome::Cosigned { .. }),
            "{outcome:?}"
        );
        let decided = store.witness_read_only(&refused, cosign).expect("reads");
        assert!(
            !matches!(decided, Some(WitnessOutcome::Cosigned { .. })),
            "{decided:?}"
        );
    }
    assert_eq!(signed.get(), 0, "a refusal was signed");
    // Once for the checkpoint held again, once for the next one stored.
    let again = store.witness_read_only(&submission(3, 3), cosign);
    assert!(matches!(again, Ok(Some(WitnessOutcome::Cosigned { .. }))));
    let next = store.witness(&submission(3, 5), NOW_MS, cosign);
    assert!(matches!(
        next,
        Ok(WitnessOutcome::Cosigned { stored: true, .. })
    ));
    assert_eq!(signed.get(), 2);
    // A cosignature that cannot be made stores nothing.
    let failed = store.witness(&submission(5, 7), NOW_MS, |_| {
        Err(WitnessRefusal::CannotCosign("no key".into()))
    });
    assert!(
        matches!(&failed, Ok(WitnessOutcome::Refused(refusal)) if refusal.status().as_u16() == 500),
        "{failed:?}"
    );
    assert_eq!(held(&store).0, 5);
}

#[test]
fn conflicts_keep_both_notes_up_to_their_authors_bound_once_each_and_are_counted_past_it() {
    let (_dir, mut store) = store();
    let (bravo, charlie) = (identity(2).id(), identity(3).id());
    let first = submission(0, 3);
    assert_eq!(submit(&mut store, &first, NOW_MS), stored(NOW_MS));
    let other_log = submission_to(charlie, 0, 3, tlog::root(&leaves(3)));
    assert_eq!(submit(&mut store, &other_log, NOW_MS), stored(NOW_MS));
    let held_note = store
        .witnessed_log(&sha256(&[first.origin().as_bytes()]))
        .expect("reads")
        .expect("held")
        .note;
    let evidence = |outcome: WitnessOutcome| match outcome {
        WitnessOutcome::Conflict { refusal, evidence } => {
            // Another root at the size held is a 409, a proof that does not verify a 422.
            let expected = match &refusal {
                WitnessRefusal::Conflict {
                    reason: ConflictReason::SameSizeDifferentRoot,
                    ..
                } => 409,
                _ => 422,
            };
            assert_eq!(refusal.status().as_u16(), expected, "{refusal}");
            evidence
        }
        other => panic!("a conflict: {other:?}"),
    };
    // Another tree of size 3, then trees of size 5 without a valid proof from it.
    let forked = submission_to(bravo, 3, 3, [7; 32]);
    assert_eq!(
        evidence(submit(&mut store, &forked, NOW_MS + 1)),
        Evidence::Kept
    );
    // The same checkpoint again, with a proof or without: counted, kept once.
    assert_eq!(
        evidence(submit(&mut store, &forked, NOW_MS + 2)),
        Evidence::KeptBefore
    );
    // The author's bound for bad proofs covers all its logs: half on each.
    let half = WITNESS_CONFLICTS_PER_STATION_MAX / 2;
    for n in 1..=WITNESS_CONFLICTS_PER_STATION_MAX {
        let peer = if n < half { bravo } else { charlie };
        let root = [u8::try_from(n).expect("small"); 32];
        let outcome = submit(&mut store, &submission_to(peer, 3, 5, root), NOW_MS + 2 + n);
        assert_eq!(evidence(outcome), Evidence::Kept, "{n}");
    }
    for peer in [bravo, charlie] {
        let past = submit(
            &mut store,
            &submission_to(peer, 3, 5, [0xee; 32]),
            NOW_MS + 100,
        );
        assert_eq!(evidence(past), Evidence::OverBound);
    }
    // Bad proofs, which anyone holding the author's checkpoints can send, never take the
    // place of another root at the size held: only the author signs that.
    let charlie_s = submission_to(charlie, 3, 3, [8; 32]);
    assert_eq!(
        evidence(submit(&mut store, &charlie_s, NOW_MS + 101)),
        Evidence::Kept
    );
    // The checkpoints held did not move; every conflict was counted.
    let logs = store.witnessed_logs().expect("reads");
    let seen: u64 = logs.iter().map(|log| log.conflicts_seen).sum();
    assert_eq!(seen, WITNESS_CONFLICTS_PER_STATION_MAX + 5);
    assert!(
        logs.iter()
            .all(|log| (log.size, log.root) == (3, first.root()))
    );
    let conflicts = store.witness_conflicts().expect("reads");
    assert_eq!(
        conflicts.len() as u64,
        WITNESS_CONFLICTS_PER_STATION_MAX + 2
    );
    assert_eq!(
        conflicts[0],
        WitnessConflict {
            origin: first.origin().to_owned(),
            reason: ConflictReason::SameSizeDifferentRoot,
            held_note: held_note.clone(),
            new_note: forked.note().to_owned(),
            old_size: 3,
            proof: vec![],
            seen_ms: NOW_MS + 1,
        }
    );
    assert_eq!(conflicts[1].reason, ConflictReason::InconsistentProof);
    assert_eq!(
        conflicts[1].proof,
        submission_to(bravo, 3, 5, [1; 32]).proof()
    );
    assert!(
        conflicts
            .iter()
            .filter(|conflict| conflict.origin == first.origin())
            .all(|conflict| conflict.held_note == held_note)
    );
    // Another station's conflicts are kept within its own bound.
    store
        .admit(&StationRow {
            id: identity(4).id(),
            name: "delta".into(),
            card: vec![4],
            admitted_ms: NOW_MS,
            revoked_ms: None,
        })
        .expect("admits");
    let delta_first = delta_submission(0, 3, tlog::root(&leaves(3)));
    assert_eq!(submit(&mut store, &delta_first, NOW_MS), stored(NOW_MS));
    let delta_fork = delta_submission(3, 3, [7; 32]);
    assert_eq!(
        evidence(submit(&mut store, &delta_fork, NOW_MS)),
        Evidence::Kept
    );
    // The genuine next checkpoint is still cosigned.
    assert_eq!(
        submit(&mut store, &submission(3, 5), NOW_MS + 200),
        stored(NOW_MS + 200)
    );
}

/// Delta's checkpoint of its log with Alpha at `size` (root `root`), from `old_size`.
fn delta_submission(old_size: u64, size: u64, root: Hash) -> Submission {
    let (delta, alpha) = (identity(4), identity(1).id());
    let note = SignedHead::sign(&delta, &alpha, size, root).note(&delta.id(), &alpha);
    let body = parley_relay_wire::witness::AddCheckpoint {
        old_size,
        proof: vec![],
        checkpoint: note,
    }
    .encode();
    witness::read(body.as_bytes())
        .and_then(|unverified| unverified.verify(StationStatus::Admitted))
        .expect("verified")
}

#[test]
fn an_author_revoked_since_its_checkpoint_was_read_is_refused_in_the_transaction() {
    let (_dir, mut store) = store();
    let first = submission(0, 3);
    store.revoke("alpha", NOW_MS).expect("revokes");
    let outcome = submit(&mut store, &first, NOW_MS);
    assert!(
        matches!(&outcome, WitnessOutcome::Refused(refusal) if refusal.status().as_u16() == 404),
        "{outcome:?}"
    );
    assert_eq!(store.witnessed_logs().expect("reads"), vec![]);
}

#[test]
fn a_station_has_at_most_its_bound_of_logs_witnessed() {
    let (_dir, mut store) = store();
    let peer = |n: u64| {
        let mut id = [0xaa; 32];
        id[..8].copy_from_slice(&n.to_be_bytes());
        StationId(id)
    };
    let first_of = |n: u64| submission_to(peer(n), 0, 1, tlog::root(&leaves(1)));
    store.begin_group().expect("a group starts");
    for n in 0..WITNESS_LOGS_PER_STATION_MAX {
        assert_eq!(submit(&mut store, &first_of(n), NOW_MS), stored(NOW_MS));
    }
    store.commit_group().expect("commits");
    let over = submit(&mut store, &first_of(WITNESS_LOGS_PER_STATION_MAX), NOW_MS);
    assert_eq!(
        over,
        WitnessOutcome::Refused(WitnessRefusal::TooManyLogs {
            max: WITNESS_LOGS_PER_STATION_MAX
        })
    );
    // The logs held go on.
    let next = submission_to(peer(0), 1, 2, tlog::root(&leaves(2)));
    assert_eq!(submit(&mut store, &next, NOW_MS), stored(NOW_MS));
    assert_eq!(
        store.witnessed_logs().expect("reads").len() as u64,
        WITNESS_LOGS_PER_STATION_MAX
    );
}

#[test]
fn a_version_2_store_gains_the_witness_and_keeps_its_stations() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("relay.sqlite");
    {
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(super::super::schema::SCHEMA_V1)
            .and_then(|()| conn.execute_batch(super::super::schema::SCHEMA_V2))
            .expect("creates version 2");
        conn.pragma_update(None, "user_version", 2)
            .expect("sets version");
        conn.execute(
            "INSERT INTO stations (id, name, card, admitted_ms) VALUES (?1, 'alpha', x'01', 0)",
            [identity(1).id().0],
        )
        .expect("a station");
    }
    let mut store = Store::open(&path).expect("migrates");
    assert_eq!(
        submit(&mut store, &submission(0, 1), NOW_MS),
        stored(NOW_MS)
    );
    let version: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("reads");
    assert_eq!(version, SCHEMA_VERSION);
    drop(store);
    let conn = Connection::open(&path).expect("opens");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("sets version");
    drop(conn);
    let newer = Store::open(&path).map(drop);
    assert!(
        matches!(&newer, Err(StoreError::Corrupt(why))
            if why.contains(&format!("schema version {}", SCHEMA_VERSION + 1))),
        "{newer:?}"
    );
}
