//! The watch's invariants at quiescence, read from each station's store: deadlines met (by an
//! answer or a cancellation) or overdue once, alarms raised exactly when due (expected tests
//! by the schedule governing then), every alarm announced kept, and each live watch equal to
//! one loaded from its store.

use std::collections::{BTreeMap, BTreeSet};

use parley_proto::{Body, EntryId, SignedEntry, TestSchedule};

use parley_station::codebooks::{LinkCodebooks, Proposal};
use parley_station::core::{CheckpointItem, CheckpointReport, CosignedItem};
use parley_station::core::{Mode, Station as Core};
use parley_station::node::load;

use crate::world::{NAMES, Outcome, World, sim_settings};

/// What station `i`'s store says of the watch on its link.
pub(super) struct WatchRecord {
    /// Own messages and tests: the entry.
    pub own: Vec<SignedEntry>,
    /// The peer's messages and tests, with when they arrived.
    pub peer: Vec<(SignedEntry, u64)>,
    /// Answers by id answered: (whether by this station, when written, when stored here).
    pub answers: BTreeMap<(bool, EntryId), (u64, u64)>,
    /// Cancellations by id cancelled, likewise.
    pub cancels: BTreeMap<(bool, EntryId), (u64, u64)>,
    /// Own overdue entries, by id they name: how many, and when the first was written (when
    /// the deadline was found missed).
    pub overdue: BTreeMap<EntryId, (u64, u64)>,
    /// Every alarm about the peer, cleared ones too.
    pub alarms: Vec<parley_store::AlarmRow>,
    /// The peer's schedules of tests, in order: the schedule, its entry's time (the anchor of
    /// its due times) and when it arrived.
    pub schedules: Vec<(TestSchedule, u64, u64)>,
}

pub(super) fn watch_record(world: &World, (i, j): (usize, usize)) -> Outcome<WatchRecord> {
    let (station, peer) = (&world.stations[i], world.id(j));
    let me = station.identity.id();
    let record = station
        .store
        .link_record(&peer)
        .map_err(|e| e.to_string())?;
    let mut watch = WatchRecord {
        own: Vec::new(),
        peer: Vec::new(),
        answers: BTreeMap::new(),
        cancels: BTreeMap::new(),
        overdue: BTreeMap::new(),
        alarms: Vec::new(),
        schedules: Vec::new(),
    };
    for kept in record.entries {
        let entry = kept.entry.entry();
        let mine = entry.author == me;
        // Messages (free text, coded or notices) and tests await an answer.
        let awaited =
            entry.body.message_exercise().is_some() || matches!(entry.body, Body::Test { .. });
        match &entry.body {
            _ if awaited && mine => watch.own.push(kept.entry.clone()),
            _ if awaited => {
                watch
                    .peer
                    .push((kept.entry.clone(), kept.received_ms.unwrap_or(0)));
            }
            Body::Understood { of, .. } | Body::Clarify { of, .. } => {
                let stored_ms = kept.received_ms.unwrap_or(entry.time_ms);
                watch
                    .answers
                    .entry((mine, *of))
                    .or_insert((entry.time_ms, stored_ms));
            }
            Body::Cancel { of, .. } => {
                let stored_ms = kept.received_ms.unwrap_or(entry.time_ms);
                watch
                    .cancels
                    .entry((mine, *of))
                    .or_insert((entry.time_ms, stored_ms));
            }
            Body::Overdue { of, .. } if mine => {
                let (count, first_ms) = watch.overdue.entry(*of).or_insert((0, entry.time_ms));
                *count += 1;
                *first_ms = (*first_ms).min(entry.time_ms);
            }
            Body::Schedule(schedule) if !mine => watch.schedules.push((
                schedule.clone(),
                entry.time_ms,
                kept.received_ms.unwrap_or(entry.time_ms),
            )),
            _ => {}
        }
    }
    watch.alarms = station
        .store
        .alarms(true)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|alarm| alarm.peer == peer)
        .collect();
    Ok(watch)
}

/// Whether something that came at `at_ms` beat `due_ms`: `None` when they are equal (the
/// watch may have run either first).
fn in_time(at_ms: Option<u64>, due_ms: u64) -> Option<bool> {
    match at_ms {
        Some(at) if at == due_ms => None,
        Some(at) => Some(at < due_ms),
        None => Some(false),
    }
}

/// The watch's invariants for station `i`'s link with `j`: every message and test is answered
/// (or a message cancelled) before its deadline, or has exactly one overdue entry and one
/// alarm; nothing answered in time is alarmed; the receiver is alarmed exactly when it
/// answered late, and never answers after the cancellation came; an expected test is alarmed
/// exactly when it did not come (while the station was up to see it), for a due time of the
/// schedule governing then.
pub(super) fn watch(world: &World, (i, j): (usize, usize)) -> Outcome {
    use parley_store::AlarmKind;
    let name = format!("{} (link with {})", NAMES[i], NAMES[j]);
    let station = &world.stations[i];
    let record = watch_record(world, (i, j))?;
    let objectives = &station.config().objectives;
    let alarms_of = |kind: AlarmKind, subject: &str| {
        record
            .alarms
            .iter()
            .filter(|alarm| alarm.kind == kind && alarm.subject == subject)
            .count()
    };
    for entry in &record.own {
        let fields = entry.entry();
        let (kind, due_ms) = match fields.body {
            Body::Test {
                answer_within_ms, ..
            } => (AlarmKind::TestMissed, fields.time_ms + answer_within_ms),
            _ => (
                AlarmKind::UnderstoodOverdue,
                fields.time_ms + objectives.of(fields.precedence).understood_s * 1_000,
            ),
        };
        let id = entry.id();
        // The deadline ends with the peer's answer stored here, or this station's cancellation.
        let answered = [
            record
                .answers
                .get(&(false, id))
                .map(|(_, stored_ms)| *stored_ms),
            record
                .cancels
                .get(&(true, id))
                .map(|(written_ms, _)| *written_ms),
        ]
        .into_iter()
        .flatten()
        .min();
        let (overdue, found_ms) = record.overdue.get(&id).copied().unwrap_or((0, 0));
        let alarms = alarms_of(kind, &id.to_string());
        // A test missed while the alarm of an earlier one is open raises none: one alarm per
        // absence of the peer's answers.
        let covered = kind == AlarmKind::TestMissed
            && overdue == 1
            && record.alarms.iter().any(|alarm| {
                alarm.kind == kind
                    && alarm.subject != id.to_string()
                    && alarm.raised_ms <= found_ms
                    && alarm.cleared_ms.is_none_or(|cleared| cleared >= found_ms)
            });
        let alarmed = alarms as u64 == overdue || (covered && alarms == 0);
        let expected = match in_time(answered, due_ms) {
            Some(true) => overdue == 0 && alarms == 0,
            Some(false) => overdue == 1 && alarmed,
            None => overdue <= 1 && alarmed,
        };
        if !expected {
            return Err(format!(
                "{name}: seq {} due at {due_ms}, answer stored at {answered:?}: {overdue} overdue \
                 entries and {alarms} {kind} alarms",
                fields.seq
            ));
        }
    }
    test_missed_cleared(&name, &record)?;
    for (entry, stored_ms) in &record.peer {
        let fields = entry.entry();
        if fields.body.message_exercise().is_none() {
            continue;
        }
        let id = entry.id();
        let due_ms = fields.time_ms + objectives.of(fields.precedence).understood_s * 1_000;
        let (answer, cancel) = (
            record
                .answers
                .get(&(true, id))
                .map(|(written_ms, _)| *written_ms),
            record
                .cancels
                .get(&(false, id))
                .map(|(_, stored_ms)| *stored_ms),
        );
        if let (Some(answered), Some(cancelled)) = (answer, cancel)
            && answered > cancelled
        {
            return Err(format!(
                "{name}: the peer's seq {} answered at {answered}, after its cancellation was \
                 stored at {cancelled}",
                fields.seq
            ));
        }
        // The deadline ends with this station's answer, or the sender's cancellation stored.
        let answered = answer.into_iter().chain(cancel).min();
        let alarms = alarms_of(AlarmKind::UnderstoodOverdue, &id.to_string());
        let expected = match (cancel, in_time(answered, due_ms)) {
            // Withdrawn before it came (stored above a gap): never awaited here.
            (Some(cancelled), _) if cancelled < *stored_ms => alarms == 0,
            (Some(cancelled), _) if cancelled == *stored_ms => alarms <= 1,
            (_, Some(true)) => alarms == 0,
            (_, Some(false)) => alarms == 1,
            (_, None) => alarms <= 1,
        };
        if !expected {
            return Err(format!(
                "{name}: the peer's seq {} stored at {stored_ms}, due at {due_ms}, answered or \
                 cancelled here at {answered:?}: \
                 {alarms} understood_overdue alarms",
                fields.seq
            ));
        }
    }
    // An expected test is alarmed only for a due time of the schedule governing then, and
    // only when no test of the peer's came in time.
    for alarm in &record.alarms {
        let subject = &alarm.subject;
        if alarm.kind != AlarmKind::ExpectedTestNotReceived {
            continue;
        }
        let due_ms: u64 = subject
            .parse()
            .map_err(|_| format!("{name}: subject {subject:?}"))?;
        // A due time of a schedule while it governed (the last one before its arrival too:
        // a restart checks that one again).
        let scheduled = governing(&record.schedules, world.clock(i)).find(|g| {
            let (schedule, anchor_ms) = (g.schedule, g.anchor_ms);
            due_ms >= anchor_ms
                && schedule.next_due_ms(anchor_ms, due_ms - 1) == Some(due_ms)
                && (schedule.next_due_ms(anchor_ms, due_ms)).is_some_and(|next| next > g.from_ms)
                && due_ms < g.until_ms + schedule.answer_within_ms
        });
        let Some(scheduled) = scheduled else {
            return Err(format!(
                "{name}: a test due at {due_ms} was alarmed as not received, and no schedule of \
                 the peer's governing then has it"
            ));
        };
        let came = first_test_came_ms(&record, due_ms)
            .is_some_and(|came_ms| came_ms < due_ms + scheduled.schedule.answer_within_ms);
        if came {
            return Err(format!(
                "{name}: the test due at {due_ms} came in time, yet was alarmed as not received"
            ));
        }
    }
    expected_tests_alarmed(&name, &record, &station.down, world.clock(i))
}

/// Each `test_missed` alarm (one per absence of the peer's answers to this station's tests)
/// is cleared exactly when the first answer to its test, or to an own test written after it
/// was raised, is stored; one still open has no such answer; and while the latest test missed
/// is unanswered, and no later one answered, one is open.
fn test_missed_cleared(name: &str, record: &WatchRecord) -> Outcome {
    use parley_store::AlarmKind;
    for alarm in (record.alarms.iter()).filter(|alarm| alarm.kind == AlarmKind::TestMissed) {
        let ending = (record.own.iter())
            .filter(|entry| matches!(entry.entry().body, Body::Test { .. }))
            .filter(|entry| {
                entry.id().to_string() == alarm.subject || entry.entry().time_ms >= alarm.raised_ms
            })
            .filter_map(|entry| record.answers.get(&(false, entry.id())))
            .map(|(_, stored_ms)| *stored_ms)
            .filter(|stored_ms| *stored_ms >= alarm.raised_ms)
            .min();
        if alarm.cleared_ms != ending {
            return Err(format!(
                "{name}: test_missed alarm {} ({}) raised at {} was cleared at {:?}, but the \
                 first answer that ends it was stored at {ending:?}",
                alarm.id, alarm.subject, alarm.raised_ms, alarm.cleared_ms
            ));
        }
    }
    // The latest own test missed and unanswered, with no later one answered: its absence
    // goes on, and an alarm is open for it (its own, or one raised before it).
    let tests: Vec<&SignedEntry> = (record.own.iter())
        .filter(|entry| matches!(entry.entry().body, Body::Test { .. }))
        .collect();
    let answered = |entry: &SignedEntry| record.answers.contains_key(&(false, entry.id()));
    let latest_missed = (tests.iter())
        .filter(|entry| record.overdue.contains_key(&entry.id()) && !answered(entry))
        .filter(|entry| !record.cancels.contains_key(&(true, entry.id())))
        .max_by_key(|entry| entry.entry().seq);
    if let Some(missed) = latest_missed {
        let later_answered = (tests.iter())
            .any(|entry| entry.entry().time_ms > missed.entry().time_ms && answered(entry));
        let open = (record.alarms.iter())
            .any(|alarm| alarm.kind == AlarmKind::TestMissed && alarm.cleared_ms.is_none());
        if !later_answered && !open {
            return Err(format!(
                "{name}: own test seq {} was missed and is unanswered, yet no test_missed alarm \
                 is open",
                missed.entry().seq
            ));
        }
    }
    Ok(())
}

/// Every alarm station `i`'s core announced is in its store, as announced: durable across
/// crashes.
pub(super) fn alarms_kept(world: &World, i: usize) -> Outcome {
    let station = &world.stations[i];
    let kept = station.store.alarms(true).map_err(|e| e.to_string())?;
    for (id, kind, peer, subject) in &station.raised {
        let peer = world.index_named(peer).map(|j| world.id(j));
        if !kept.iter().any(|alarm| {
            alarm.id == *id
                && alarm.kind == *kind
                && Some(alarm.peer) == peer
                && alarm.subject == *subject
        }) {
            return Err(format!(
                "{}: alarm {id} ({kind} {subject}) was announced, not kept",
                NAMES[i]
            ));
        }
    }
    Ok(())
}

/// A schedule of the peer's tests while it governed.
struct Governing<'a> {
    schedule: &'a TestSchedule,
    /// When it began (its entry's time: the anchor of its due times).
    anchor_ms: u64,
    /// From its arrival until a later one of the peer's arrived (or the run ended).
    from_ms: u64,
    until_ms: u64,
}

/// The peer's schedules (`schedules`, in its log's order) that governed at some time: each
/// from its arrival until a later one of the peer's arrives. One that arrived after a later
/// one (above a gap) never governs. `end_ms`: when the run ended.
fn governing(
    schedules: &[(TestSchedule, u64, u64)],
    end_ms: u64,
) -> impl Iterator<Item = Governing<'_>> {
    (schedules.iter().enumerate())
        .map(move |(n, (schedule, anchor_ms, received_ms))| {
            let until_ms = (schedules[n + 1..].iter())
                .map(|(_, _, received_ms)| *received_ms)
                .min()
                .unwrap_or(end_ms);
            Governing {
                schedule,
                anchor_ms: *anchor_ms,
                from_ms: *received_ms,
                until_ms,
            }
        })
        .filter(|g| g.from_ms < g.until_ms)
}

/// When the first test of the peer's written at `due_ms` or later arrived.
fn first_test_came_ms(record: &WatchRecord, due_ms: u64) -> Option<u64> {
    (record.peer.iter())
        .filter(|(entry, _)| {
            matches!(entry.entry().body, Body::Test { .. }) && entry.entry().time_ms >= due_ms
        })
        .map(|(_, received_ms)| *received_ms)
        .min()
}

/// A test the peer's schedule announced that did not come, while the station was up from its
/// due time until the time allowed had passed (`down`: when it was not), is alarmed
/// (a partitioned or crashed peer). `end_ms`: when the run ended.
pub(super) fn expected_tests_alarmed(
    name: &str,
    record: &WatchRecord,
    down: &[(u64, u64)],
    end_ms: u64,
) -> Outcome {
    for governed in governing(&record.schedules, end_ms) {
        let (schedule, mut after_ms) = (governed.schedule, governed.from_ms);
        while let Some(due_ms) = schedule.next_due_ms(governed.anchor_ms, after_ms) {
            let checked_ms = due_ms + schedule.answer_within_ms;
            if checked_ms >= governed.until_ms {
                break;
            }
            after_ms = due_ms;
            let watched = !down
                .iter()
                .any(|(from_ms, to_ms)| *from_ms <= checked_ms && *to_ms >= due_ms);
            let first_came_ms = first_test_came_ms(record, due_ms);
            let missed = first_came_ms.is_none_or(|came_ms| came_ms > checked_ms);
            let subject = due_ms.to_string();
            // Alarmed for this due time, or by the alarm of an earlier one still open when
            // this one was checked: one alarm per absence.
            let alarmed = record.alarms.iter().any(|alarm| {
                alarm.kind == parley_store::AlarmKind::ExpectedTestNotReceived
                    && (alarm.subject == subject
                        || (alarm.raised_ms <= checked_ms
                            && alarm.cleared_ms.is_none_or(|cleared| cleared >= checked_ms)))
            });
            if watched && missed && !alarmed {
                return Err(format!(
                    "{name}: no test of the peer's came for {due_ms} (first at \
                     {first_came_ms:?}), yet no expected_test_not_received alarm"
                ));
            }
        }
    }
    Ok(())
}

/// Station `i`'s live watch knows every message and test as a watch loaded from its store
/// knows it (answered, cancelled, and by whom and when), holds each peer's latest schedule of
/// tests, and, once the loaded one has run the
/// duties due, holds as many deadlines: the order entries were stored in changes nothing that
/// a restart would not see.
pub(super) fn watch_as_loaded(world: &World, i: usize) -> Outcome {
    let (station, name) = (&world.stations[i], NAMES[i]);
    let Some(live) = &station.core else {
        return Err(format!("{name} is down at quiescence"));
    };
    let loaded = load(
        &station.store,
        station.identity.clone(),
        station.config(),
        [0; 32],
    )
    .map(|loaded| sim_settings(loaded, world.config.intake_tight))
    .map_err(|e| format!("{name} cannot load from its store: {e}"))?;
    let now_ms = world.clock(i);
    let mut fresh = Core::new(now_ms, loaded, Mode::Daemon)
        .map_err(|e| format!("{name} cannot start from its store: {e}"))?;
    // Before its first tick, which may issue a checkpoint on the cadence.
    for peer in world.peer_ids(i) {
        let report = |core: &Core| {
            core.checkpoint_report(&peer.key_fingerprint().to_string())
                .map_err(|e| format!("{name} cannot show its checkpoints: {e}"))
        };
        if let Some(difference) = checkpoints_differ(&report(live)?, &report(&fresh)?) {
            return Err(format!(
                "{name}'s live core and a core loaded from its store show the checkpoints of its \
                 link with {} differently: {difference}",
                peer.short()
            ));
        }
    }
    // Deadlines past already fire at the first tick (their alarms and entries are held).
    fresh.handle_timeout(now_ms);
    let known = |core: &Core| {
        (core.watch().matching("").into_iter())
            .map(|(id, known)| (id, known.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (live_known, loaded_known) = (known(live), known(&fresh));
    if let Some((id, held)) = live_known
        .iter()
        .find(|(id, held)| loaded_known.get(*id) != Some(*held))
    {
        return Err(format!(
            "{name}'s live watch holds {id} as {held:?}, a watch loaded from its store as {:?}",
            loaded_known.get(id)
        ));
    }
    for peer in world.peer_ids(i) {
        let (held, loaded) = (
            live.watch().peer_schedule(&peer),
            fresh.watch().peer_schedule(&peer),
        );
        if held != loaded {
            return Err(format!(
                "{name}'s live watch holds the peer's schedule of tests as {held:?}, a watch \
                 loaded from its store as {loaded:?}"
            ));
        }
        if let Some(difference) = codebooks_differ(live.codebooks(&peer), fresh.codebooks(&peer)) {
            return Err(format!(
                "{name}'s live core and a core loaded from its store hold the codebooks of its \
                 link with {} differently: {difference}",
                peer.short()
            ));
        }
    }
    if live_known.len() != loaded_known.len()
        || live.deadlines_pending() != fresh.deadlines_pending()
    {
        return Err(format!(
            "{name}'s live watch knows {} entries with {} deadlines, a watch loaded from its \
             store {} with {}",
            live_known.len(),
            live.deadlines_pending(),
            loaded_known.len(),
            fresh.deadlines_pending()
        ));
    }
    Ok(())
}

/// How two cores' codebooks of one link differ, briefly (the first proposal that does), if
/// they do.
fn codebooks_differ(held: &LinkCodebooks, loaded: &LinkCodebooks) -> Option<String> {
    if held == loaded {
        return None;
    }
    let brief = |proposal: Option<&Proposal>| match proposal {
        None => "not proposed".to_owned(),
        Some(p) => format!(
            "proposed by {} in {:?} ({}), accepted here by {:?} at seq {:?}, by the peer by {:?} \
             at seq {:?}",
            if p.by_peer {
                "the peer"
            } else {
                "this station"
            },
            p.id,
            match &p.codebook {
                Ok(book) => format!("version {}", book.version()),
                Err(error) => format!("not a codebook: {error}"),
            },
            p.accepted_by_us,
            p.accepted_at_seq_us,
            p.accepted_by_peer,
            p.accepted_at_seq_peer,
        ),
    };
    let hashes: BTreeSet<_> = (held.proposals().chain(loaded.proposals()))
        .map(|(hash, _)| *hash)
        .collect();
    Some(
        hashes
            .iter()
            .find(|hash| held.get(hash) != loaded.get(hash))
            .map_or_else(
                || "the acceptances read before their proposal differ".to_owned(),
                |hash| {
                    format!(
                        "codebook {hash:?} is {} live, {} loaded",
                        brief(held.get(hash)),
                        brief(loaded.get(hash))
                    )
                },
            ),
    )
}

/// How two cores' reports of one link's checkpoints differ, briefly (the first part that
/// does), if they do. Why a witness's last submission failed is known only to the core that
/// submitted it, and not compared.
fn checkpoints_differ(held: &CheckpointReport, loaded: &CheckpointReport) -> Option<String> {
    let latest = |c: &Option<CheckpointItem>| {
        c.as_ref().map(|c| {
            format!(
                "size {} in seq {} at {} ms (ML-DSA: {})",
                c.size, c.seq, c.at_ms, c.post_quantum
            )
        })
    };
    let cosigned = |c: &Option<CosignedItem>| {
        c.as_ref().map(|c| {
            format!(
                "size {} by {} at {} s (ML-DSA: {})",
                c.size, c.cosigner, c.time_s, c.post_quantum
            )
        })
    };
    for (log, a, b) in [
        ("its own log", &held.own, &loaded.own),
        ("the peer's log", &held.peer_log, &loaded.peer_log),
    ] {
        if a.size != b.size {
            return Some(format!(
                "{log} holds {} entries live, {} loaded",
                a.size, b.size
            ));
        }
        if a.latest != b.latest {
            let (a, b) = (latest(&a.latest), latest(&b.latest));
            return Some(format!(
                "the latest checkpoint of {log} is {a:?} live, {b:?} loaded"
            ));
        }
        if a.cosigned != b.cosigned {
            let (a, b) = (cosigned(&a.cosigned), cosigned(&b.cosigned));
            return Some(format!(
                "the latest cosigned checkpoint of {log} is {a:?} live, {b:?} loaded"
            ));
        }
    }
    let witnesses = |report: &CheckpointReport| {
        (report.witnesses.iter())
            .map(|w| {
                (
                    w.witness.clone(),
                    w.holds,
                    w.cosigned.as_ref().map(|c| (c.size, c.time_s)),
                )
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (witnesses(held), witnesses(loaded));
    (a != b).then(|| {
        format!(
            "the witnesses (name, size held, cosigned size and time) are {a:?} live, {b:?} loaded"
        )
    })
}
