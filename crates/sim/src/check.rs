//! The invariants checked at quiescence, on the durable state of every station (what an
//! operator would see after a restart, read from each station's store), for each direction of
//! each link.

use std::collections::BTreeMap;

use parley_proto::ed25519::Batch;
use parley_proto::envelope::Envelope;
use parley_proto::frame::Frame;
use parley_proto::{Body, EntryId, EvidenceKind, LinkId, LinkSnapshot, SignedEntry, StationId};
use parley_store::Store;

use crate::world::{NAMES, Outcome, World};

mod shown;
mod watch;

use self::shown::{displays, shown_alike};
use self::watch::{alarms_kept, watch, watch_as_loaded};

/// An own entry as stored.
pub(crate) struct OwnRecord {
    pub entry: SignedEntry,
    /// Covered by a stored receipt.
    pub receipted: bool,
}

/// One station's durable state of its link, read from its store.
pub(crate) struct View {
    /// Own entries by seq.
    pub own: BTreeMap<u64, OwnRecord>,
    /// The peer's entries delivered, by seq.
    pub peer_entries: BTreeMap<u64, SignedEntry>,
    /// The peer's entries held above the head.
    pub held_above: u64,
    /// The peer's contiguous head.
    pub in_head: u64,
    /// Every peer seq in the order the in-head passed it.
    pub delivered_log: Vec<u64>,
    /// Evidence records: kind, seq and the signed bytes that prove it.
    pub evidence: Vec<(EvidenceKind, u64, Vec<u8>)>,
    /// The store's snapshot of the link.
    pub snapshot: LinkSnapshot,
}

fn read_view(
    store: &Store,
    me: StationId,
    peer: StationId,
    delivered_log: &[u64],
) -> Outcome<View> {
    let snapshot = store.link_snapshot(&peer).map_err(|e| e.to_string())?;
    let mut own = BTreeMap::new();
    let mut peer_entries = BTreeMap::new();
    let rows = store.entries(&peer).map_err(|e| e.to_string())?;
    // The one signature check of the checker: `direction` relies on it, and requires only
    // that the author it names is the pinned one. Checked as one batch; when it fails, or an
    // entry does not decode, each alone up to it names the first that does not verify.
    let first_failure = |upto: usize| {
        rows[..upto].iter().find_map(|stored| {
            let error = SignedEntry::decode_verified(&stored.signed, &stored.author).err()?;
            let (who, seq, author) = (me.short(), stored.seq, stored.author.short());
            Some(format!(
                "{who}'s stored entry seq {seq} of {author} does not verify: {error}"
            ))
        })
    };
    let mut batch = Batch::new();
    let mut entries = Vec::with_capacity(rows.len());
    for (index, stored) in rows.iter().enumerate() {
        match SignedEntry::decode_in(&stored.signed, &stored.author, &mut batch) {
            Ok(entry) => entries.push(entry),
            Err(error) => {
                return Err(first_failure(index + 1)
                    .unwrap_or_else(|| format!("a stored entry does not decode: {error}")));
            }
        }
    }
    if batch.verify().is_err() {
        return Err(first_failure(rows.len())
            .unwrap_or_else(|| "a batch of stored entries failed that each alone passed".into()));
    }
    for (stored, entry) in rows.iter().zip(entries) {
        if stored.author == me {
            let receipted = !snapshot.outbox.iter().any(|item| item.seq == stored.seq);
            own.insert(stored.seq, OwnRecord { entry, receipted });
        } else {
            peer_entries.insert(stored.seq, entry);
        }
    }
    let evidence = store
        .evidence(Some(&peer))
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|row| (row.kind, row.seq, row.bytes))
        .collect();
    Ok(View {
        own,
        peer_entries,
        held_above: snapshot.in_pending.len() as u64,
        in_head: snapshot.in_ids.len() as u64,
        delivered_log: delivered_log.to_vec(),
        evidence,
        snapshot,
    })
}

/// Each station's view of each of its links, by (station, peer).
pub(crate) type Views = BTreeMap<(usize, usize), View>;

/// Reads every station's views of its links from its store.
pub(crate) fn read_views(world: &World) -> Outcome<Views> {
    let mut views = Views::new();
    for (i, station) in world.stations.iter().enumerate() {
        for (j, link) in &station.links {
            let view = read_view(
                &station.store,
                world.id(i),
                world.id(*j),
                &link.delivered_log,
            )?;
            views.insert((i, *j), view);
        }
    }
    Ok(views)
}

/// Checks every direction of every link; the first broken invariant is the failure.
pub(crate) fn final_state(world: &World) -> Outcome {
    let views = read_views(world)?;
    check_views(world, &views)
}

/// Checks each station's sends, every direction of every link on `views`, then the watch's
/// record of each link at each station (in every seed: where nobody answers, each message
/// must be overdue once), and that every alarm announced was kept.
pub(crate) fn check_views(world: &World, views: &Views) -> Outcome {
    let quota = world.config.messages_per_station;
    for (i, station) in world.stations.iter().enumerate() {
        if station.sent() != quota {
            return Err(format!(
                "{}: {} of {quota} sends accepted",
                NAMES[i],
                station.sent()
            ));
        }
    }
    views
        .keys()
        .try_for_each(|link| direction(world, views, *link))?;
    (0..world.stations.len()).try_for_each(|i| watch_as_loaded(world, i))?;
    views.keys().try_for_each(|link| watch(world, *link))?;
    let displays = displays(world)?;
    views
        .keys()
        .try_for_each(|link| shown_alike(&displays, *link))?;
    (0..world.stations.len()).try_for_each(|i| alarms_kept(world, i))
}

/// The entry `bytes` (an envelope, or its frame) names, if it is signed by `author` for `seq`.
fn signed_for(bytes: &[u8], (author, seq): (&StationId, u64)) -> Option<EntryId> {
    let envelope = match Frame::parse(bytes) {
        Ok(Frame::Envelope(envelope)) => envelope,
        _ => bytes,
    };
    let envelope = Envelope::peek(envelope)
        .and_then(|e| e.check_signature())
        .ok()?;
    let signed = envelope.from == *author && envelope.seq == seq;
    signed.then_some(envelope.entry_id)
}

/// Station `i` as author, its peer `j` as holder.
fn direction(world: &World, views: &Views, (i, j): (usize, usize)) -> Outcome {
    let (author, holder) = (&world.stations[i], &world.stations[j]);
    let (written_view, held_view) = (&views[&(i, j)], &views[&(j, i)]);
    let accepted = &author.links[&j].accepted;
    let arrow = format!("{}->{}", NAMES[i], NAMES[j]);
    let author_id = author.identity.id();
    let link = LinkId::between(&author_id, &holder.identity.id());

    // The log holds every send accepted, in order, after the key announcement at seq 1,
    // perhaps with retries of sends whose commit was durable but not acknowledged.
    let written = written_view.own.len() as u64;
    if written_view.own.keys().copied().ne(1..=written) {
        return Err(format!("{arrow}: own log is not seqs 1..={written}"));
    }
    let mut last_seq = 1;
    for accepted in accepted {
        let (seq, stored) = (accepted.seq, written_view.own.get(&accepted.seq));
        if seq <= last_seq || stored.map(|r| r.entry.id()) != Some(accepted.id) {
            return Err(format!(
                "{arrow}: accepted seq {seq} is not in the own log in order"
            ));
        }
        last_seq = seq;
    }

    // The author's outbox is empty: everything it wrote was receipted.
    let unreceipted: Vec<u64> = written_view
        .own
        .iter()
        .filter(|(_, r)| !r.receipted)
        .map(|(s, _)| *s)
        .collect();
    if !unreceipted.is_empty() {
        return Err(format!("{arrow}: never receipted: seqs {unreceipted:?}"));
    }

    // Both transcripts agree: the holder delivered exactly the author's log, each seq once.
    let own_ids: Vec<EntryId> = written_view.own.values().map(|r| r.entry.id()).collect();
    let held = held_view.peer_entries.len() as u64 + held_view.held_above;
    let held_ids: Vec<EntryId> = held_view
        .peer_entries
        .values()
        .map(SignedEntry::id)
        .collect();
    if held_view.in_head != written || held != written || held_ids != own_ids {
        return Err(format!(
            "{arrow}: transcripts differ: {written} written, {held} held, head {}",
            held_view.in_head
        ));
    }
    if held_view.delivered_log.iter().copied().ne(1..=written) {
        return Err(format!(
            "{arrow}: delivered log is {:?}",
            held_view.delivered_log
        ));
    }

    // Every held entry verifies under the author's pinned key and continues the chain. (Each
    // verified under the key its entry names when the view was read: it must name this one.)
    let mut prev = EntryId::NONE;
    for (seq, verified) in &held_view.peer_entries {
        let entry = verified.entry();
        if entry.author != author_id {
            return Err(format!(
                "{arrow}: held seq {seq} does not verify under the author's pinned key"
            ));
        }
        if entry.seq != *seq || entry.link != link || entry.prev != prev {
            return Err(format!(
                "{arrow}: held seq {seq} is not the author's entry {seq}"
            ));
        }
        prev = verified.id();
    }

    // Every checkpoint of the author's log the holder cosigned is the author's, and names the
    // root of the author's log at its size: every cosigned checkpoint is a prefix of the one
    // log, so every two are consistent.
    let tree = parley_proto::tlog::Tree::of(
        &written_view
            .own
            .values()
            .map(|r| parley_proto::tlog::leaf_hash(r.entry.bytes()))
            .collect::<Vec<_>>(),
    );
    for record in held_view.own.values() {
        if let Body::Cosigned(cosigned) = &record.entry.entry().body {
            let size = cosigned.head.size;
            let holder_id = holder.identity.id();
            if cosigned.verify(&author_id, &holder_id).is_err()
                || tree.root_at(size) != Some(cosigned.head.root)
            {
                return Err(format!(
                    "{arrow}: a cosigned checkpoint at size {size} is not the author's log"
                ));
            }
        }
    }

    // Each accepted message arrived as sent: same id, text and precedence.
    for accepted in accepted {
        let seq = accepted.seq;
        let stored = &held_view.peer_entries[&seq];
        let same_text = match &stored.entry().body {
            Body::Message { text, .. } => accepted.code.is_none() && *text == accepted.text,
            Body::Coded { code, .. } => accepted.code == Some(*code),
            _ => false,
        };
        if stored.id() != accepted.id
            || !same_text
            || stored.entry().precedence != accepted.precedence
        {
            return Err(format!(
                "{arrow}: seq {seq} held is not the message accepted"
            ));
        }
    }

    // Evidence only of contradictions the adversary made with the author's key (an
    // equivocation, a fork), each a proof of one: an envelope the author signed for that seq,
    // naming another entry than the one held. Honest stations leave none.
    for (kind, seq, bytes) in &held_view.evidence {
        let held = held_view.peer_entries.get(seq).map(SignedEntry::id);
        // An equivocation names another entry than the one held; a fork may be at a seq the
        // author never came to write.
        let contradicts = |named: EntryId| match kind {
            EvidenceKind::Fork => held != Some(named),
            _ => held.is_some_and(|held| held != named),
        };
        let proves = signed_for(bytes, (&author_id, *seq)).is_some_and(|named| {
            contradicts(named) && (world.contradictions).contains(&(*kind, i, j, *seq, named))
        });
        if !proves {
            return Err(format!(
                "{arrow}: evidence recorded: {kind:?} at seq {seq}, which no contradiction \
                 made"
            ));
        }
    }

    // The live cores agree with their stores, field for field.
    let (Some(author_core), Some(holder_core)) = (&author.core, &holder.core) else {
        return Err(format!("{arrow}: a station is down at quiescence"));
    };
    let out = author_core
        .endpoint()
        .link(&holder.identity.id())
        .expect("paired");
    let into = holder_core.endpoint().link(&author_id).expect("paired");
    if out.snapshot() != written_view.snapshot || into.snapshot() != held_view.snapshot {
        return Err(format!("{arrow}: a core's memory differs from its store"));
    }
    // The epoch keys the holder can open with are the ones its store keeps, current first.
    let live: Vec<_> = holder_core
        .endpoint()
        .keyring()
        .keys()
        .map(|k| k.id())
        .collect();
    let stored = holder.store.epoch_keys().map_err(|e| e.to_string())?;
    let stored: Vec<_> = stored.iter().map(|row| row.key.id()).collect();
    let sorted = |keys: &[parley_proto::EpochKeyId]| {
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys
    };
    if live.first() != stored.first() || sorted(&live) != sorted(&stored) {
        return Err(format!(
            "{arrow}: the keys in memory ({live:?}) are not the stored ones ({stored:?})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::watch::{expected_tests_alarmed, watch_record};
    use super::*;
    use crate::SimConfig;

    /// A world of two stations, A (0) and B (1): the views of A's link with B and of B's.
    const AB: (usize, usize) = (0, 1);
    const BA: (usize, usize) = (1, 0);

    /// Runs seed 5 (two stations) to quiescence, breaks the state read from the stores with
    /// `corrupt`, and expects the final check to fail with a reason containing `expect`.
    fn check(corrupt: fn(&mut World, &mut Views), expect: &str) {
        let config = SimConfig {
            several_stations_per_mille: 0,
            ..SimConfig::default()
        };
        let mut world = World::new(5, &config).expect("pairs");
        world.run().expect("seed 5 passes untouched");
        let mut views = read_views(&world).expect("reads");
        corrupt(&mut world, &mut views);
        let reason = check_views(&world, &views).expect_err("the corruption must be caught");
        assert!(
            reason.contains(expect),
            "{reason:?} does not mention {expect:?}"
        );
    }

    /// Expected tests that did not come while the station watched are alarmed; without those
    /// alarms the check fails. The seed is the first of a few whose run has such a test (which
    /// seeds do depends on every detail of a run, so it is searched, not fixed).
    #[test]
    fn a_missing_expected_test_alarm_is_caught() {
        let config = SimConfig {
            several_stations_per_mille: 0,
            ..SimConfig::default()
        };
        let caught = (0..SEEDS_SEARCHED).find_map(|seed| {
            let mut world = World::new(seed, &config).expect("pairs");
            world.run().expect("the seed passes untouched");
            let (down, end_ms) = (&world.stations[1].down, world.clock(1));
            let mut record = watch_record(&world, BA).expect("reads");
            expected_tests_alarmed("B", &record, down, end_ms).expect("untouched");
            record
                .alarms
                .retain(|alarm| alarm.kind != parley_store::AlarmKind::ExpectedTestNotReceived);
            expected_tests_alarmed("B", &record, down, end_ms).err()
        });
        let reason = caught.expect("some seed has an expected test missed while watched");
        assert!(
            reason.contains("no expected_test_not_received alarm"),
            "{reason}"
        );
    }

    /// With several stations, each link is checked in each direction: a break in the link of
    /// the third station with the first is caught, and so is a message put on another link.
    #[test]
    fn several_stations_are_checked_link_by_link() {
        let config = SimConfig {
            several_stations_per_mille: 1_000,
            ..SimConfig::default()
        };
        let mut world = World::new(3, &config).expect("pairs");
        assert!(world.stations.len() >= 3, "several stations");
        world.run().expect("seed 3 passes untouched");
        let views = read_views(&world).expect("reads");
        assert_eq!(
            views.len(),
            world.stations.len() * (world.stations.len() - 1)
        );
        let mut broken = read_views(&world).expect("reads");
        broken
            .get_mut(&(2, 0))
            .expect("C's link with A")
            .own
            .pop_last();
        let reason = check_views(&world, &broken).expect_err("caught");
        assert!(reason.contains("C->A"), "{reason}");
        let links = &mut world.stations[2].links;
        let moved = links.get_mut(&0).expect("A").accepted.pop().expect("sent");
        links.get_mut(&1).expect("B").accepted.push(moved);
        let reason = check_views(&world, &views).expect_err("caught");
        assert!(reason.contains("C->B"), "{reason}");
    }

    /// Seeds tried for a run with an expected test missed while the station watched.
    const SEEDS_SEARCHED: u64 = 32;

    #[test]
    fn each_final_invariant_can_fail() {
        fn accepted(w: &mut World) -> &mut Vec<crate::world::Accepted> {
            &mut w.stations[0].links.get_mut(&1).expect("B").accepted
        }
        check(|w, _| drop(accepted(w).pop()), "sends accepted");
        check(
            |w, _| accepted(w)[3].text.push('!'),
            "not the message accepted",
        );
        check(
            |_, v| drop(v.get_mut(&AB).expect("A").own.remove(&5)),
            "own log is not",
        );
        check(|w, _| accepted(w).swap(2, 3), "not in the own log in order");
        check(
            |_, v| {
                let own = &mut v.get_mut(&BA).expect("B").own;
                own.get_mut(&4).expect("written").receipted = false
            },
            "never receipted",
        );
        check(
            |_, v| {
                let view = v.get_mut(&BA).expect("B");
                view.peer_entries.pop_last();
                view.in_head -= 1;
            },
            "transcripts differ",
        );
        check(
            |_, v| v.get_mut(&BA).expect("B").delivered_log.push(2),
            "delivered log",
        );
        check(
            |_, v| {
                let view = v.get_mut(&AB).expect("A");
                view.evidence.push((EvidenceKind::Fork, 2, Vec::new()))
            },
            "evidence recorded",
        );
        // Of an equivocation made, but not proving it.
        check(
            |w, v| {
                (w.contradictions).insert((EvidenceKind::Equivocation, 1, 0, 1, EntryId::NONE));
                let view = v.get_mut(&AB).expect("A");
                view.evidence
                    .push((EvidenceKind::Equivocation, 1, Vec::new()))
            },
            "evidence recorded",
        );
        // B's key announcement put in place of A's on both sides: the logs agree, the
        // signature does not.
        check(
            |_, v| {
                let forged = v[&BA].own[&1].entry.clone();
                let a = v.get_mut(&AB).expect("A");
                a.own.get_mut(&1).expect("written").entry = forged.clone();
                let b = v.get_mut(&BA).expect("B");
                b.peer_entries.insert(1, forged);
            },
            "does not verify",
        );
        // B's cosignature of A's log made to name another root, signed by both as if honest.
        check(
            |w, v| {
                use parley_proto::tlog::head::{Cosignature, SignedHead};
                let (a, b) = (&w.stations[0].identity, &w.stations[1].identity);
                let record = v
                    .get_mut(&BA)
                    .expect("B")
                    .own
                    .values_mut()
                    .find(|r| matches!(r.entry.entry().body, Body::Cosigned(_)))
                    .expect("B cosigned a checkpoint of A's log");
                let mut entry = record.entry.entry().clone();
                let Body::Cosigned(honest) = entry.body else {
                    unreachable!("found above")
                };
                let head = SignedHead::sign(a, &b.id(), honest.head.size, [9; 32]);
                entry.body = Body::Cosigned(Cosignature::sign(b, &a.id(), head, honest.time_s));
                record.entry = entry.sign(b);
            },
            "is not the author's log",
        );
        check(
            |_, v| v.get_mut(&AB).expect("A").snapshot.peer_receipt_upto -= 1,
            "memory differs from its store",
        );
        check(
            |w, _| {
                let alarm = (
                    u64::MAX,
                    parley_store::AlarmKind::ChannelDown,
                    "B".into(),
                    "nowhere".into(),
                );
                w.stations[0].raised.push(alarm);
            },
            "was announced, not kept",
        );
        // An alarm for a message answered in time.
        check(
            |w, _| {
                let record = watch_record(w, AB).expect("reads");
                let answered = record
                    .own
                    .iter()
                    .find(|entry| {
                        matches!(entry.entry().body, Body::Message { .. })
                            && !record.overdue.contains_key(&entry.id())
                    })
                    .expect("a message answered in time");
                let alarm = parley_store::AlarmRow {
                    id: 1_000_000,
                    kind: parley_store::AlarmKind::UnderstoodOverdue,
                    peer: w.id(1),
                    subject: answered.id().to_string(),
                    detail: "forged".into(),
                    level: 1,
                    raised_ms: 1,
                    escalated_ms: None,
                    acknowledged: None,
                    cleared_ms: None,
                };
                let raise = parley_store::AdminOp::RaiseAlarm(alarm);
                w.stations[0]
                    .store
                    .commit_batch(&[raise], &[])
                    .expect("stores");
            },
            "understood_overdue alarms",
        );
    }
}
