//! Seeded simulation runs. `PARLEY_SIM_SEEDS=<n>` sets how many seeds (default 1000);
//! `PARLEY_SIM_SEED=<seed>` replays one seed:
//! `PARLEY_SIM_SEED=<seed> cargo test --release -p parley-sim --test seeds`.

use parley_sim::{SimConfig, SimFailure, SimReport, run};

/// How many seeds run when none is named.
const SEEDS_DEFAULT: u64 = 1000;
/// Seeds of the swarm test (each picks its own faults).
const SWARM_SEEDS: u64 = 200;
/// Seeds beyond the default range that once failed, run in every build: 708,590 had the world
/// ask an operator to accept a codebook on the core's head before its commit, which a crash
/// then took back (ARCHITECTURE.md, the watch's simulation); 2,235 had a receipt older than
/// one that marked an entry delivered taken for a loss (its freshness was measured against the
/// receipt kept, whose time can move back, not the newest); 2,459 had a station started after
/// a due time of the peer's tests check it a while after its start instead of at once, and
/// take the peer's next scheduled test, come by then, for the one missed; 6,364 had the world
/// draft a coded message on a codebook agreed by an acceptance its core held but had not yet
/// made durable, which a crash before the message was sent took back; 7,100 had a station
/// raise `expected_test_not_received` and crash before its commit, and its restart check only
/// the latest due time, so that the test missed while it watched was never alarmed.
const SEEDS_THAT_FAILED: &[u64] = &[708_590, 2_235, 2_459, 6_364, 7_100];

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

fn seeds() -> Vec<u64> {
    match env_u64("PARLEY_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("PARLEY_SIM_SEEDS").unwrap_or(SEEDS_DEFAULT)).collect(),
    }
}

/// Runs `seeds` under `config` on every core, each seed alone on one thread (so as it would
/// run alone), and returns the outcomes in the order of `seeds`.
fn run_all(config: &SimConfig, seeds: &[u64]) -> Vec<Result<SimReport, SimFailure>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let outcomes: Vec<Mutex<Option<_>>> = seeds.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(seeds.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(index) else {
                        return;
                    };
                    let outcome = run(seed, config);
                    *outcomes[index].lock().expect("no worker panics") = Some(outcome);
                }
            });
        }
    });
    outcomes
        .into_iter()
        .map(|slot| {
            let outcome = slot.into_inner().expect("no worker panics");
            outcome.expect("every seed ran")
        })
        .collect()
}

/// Runs `seeds` under `config` and checks each outcome: `expect_failure` says whether every
/// run must fail (fault injection) or every run must pass. Returns the passing reports.
fn check(config: &SimConfig, seeds: &[u64], expect_failure: bool) -> Vec<SimReport> {
    let mut reports = Vec::new();
    let mut wrong: Vec<String> = Vec::new();
    for (&seed, outcome) in seeds.iter().zip(run_all(config, seeds)) {
        match (outcome, expect_failure) {
            (Ok(report), false) => reports.push(report),
            (Err(failure), true) => check_failure_names_its_seed(&failure, seed),
            (Ok(report), true) => {
                wrong.push(format!("seed {seed} passed but must fail: {report:?}"))
            }
            (Err(failure), false) => wrong.push(failure.to_string()),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} seeds went wrong:\n{}\nreplay one with: \
         PARLEY_SIM_SEED=<seed> cargo test --release -p parley-sim --test seeds",
        wrong.len(),
        seeds.len(),
        wrong.join("\n")
    );
    reports
}

fn check_failure_names_its_seed(failure: &SimFailure, seed: u64) {
    let shown = failure.to_string();
    assert_eq!(failure.seed, seed);
    assert!(
        shown.contains(&format!("PARLEY_SIM_SEED={seed} cargo test")),
        "{shown}"
    );
}

#[test]
fn every_seed_keeps_every_invariant() {
    let seeds = seeds();
    let reports = check(&SimConfig::default(), &seeds, false);
    let total = |field: fn(&SimReport) -> u64| reports.iter().map(field).sum::<u64>();
    eprintln!(
        "{} seeds: {} messages, {} frames sent, {} dropped, {} duplicated, {} crashes \
         ({} commits lost, {} durable but unacknowledged), {} partitions, {} attacks \
         ({} rejected), {} simulated s; {} answers, {} alarms ({} tests missed, {} tests not \
         received)",
        reports.len(),
        total(|r| r.messages_accepted),
        total(|r| r.frames_sent),
        total(|r| r.frames_dropped),
        total(|r| r.frames_duplicated),
        total(|r| r.crashes),
        total(|r| r.commits_lost),
        total(|r| r.commits_unacknowledged),
        total(|r| r.partitions),
        total(|r| r.attacks),
        total(|r| r.attacks_rejected),
        total(|r| r.simulated_ms) / 1000,
        total(|r| r.answers),
        total(|r| r.alarms_raised),
        total(|r| r.tests_missed),
        total(|r| r.tests_not_received),
    );
}

#[test]
fn seeds_that_once_failed_pass() {
    check(&SimConfig::default(), SEEDS_THAT_FAILED, false);
}

#[test]
fn a_seed_replays_identically() {
    let config = SimConfig::default();
    for seed in [7, 1_000_003] {
        let first = check(&config, &[seed], false);
        let second = check(&config, &[seed], false);
        assert_eq!(first, second, "seed {seed} is not deterministic");
    }
    let lossy = SimConfig {
        lossy_disk: true,
        ..config
    };
    assert_eq!(run(11, &lossy), run(11, &lossy), "a failure replays too");
}

#[test]
fn the_faults_are_exercised() {
    let reports = check(&SimConfig::default(), &(0..20).collect::<Vec<_>>(), false);
    let total = |field: fn(&SimReport) -> u64| reports.iter().map(field).sum::<u64>();
    for (what, count) in [
        ("dropped frames", total(|r| r.frames_dropped)),
        ("duplicated frames", total(|r| r.frames_duplicated)),
        ("retransmissions", total(|r| r.retransmissions)),
        ("duplicates dropped", total(|r| r.duplicates_dropped)),
        ("entries held out of order", total(|r| r.held_out_of_order)),
        ("crashes", total(|r| r.crashes)),
        ("clean stops", total(|r| r.clean_stops)),
        ("commits lost to crashes", total(|r| r.commits_lost)),
        ("commits torn", total(|r| r.commits_torn)),
        (
            "commits durable but unacknowledged",
            total(|r| r.commits_unacknowledged),
        ),
        ("partitions", total(|r| r.partitions)),
        ("reboots with a wrong clock", total(|r| r.clock_jumps)),
        (
            "starts with a clock beyond the limit",
            total(|r| r.clock_starts_beyond),
        ),
        (
            "envelopes refused for clock skew",
            total(|r| r.clock_skew_refusals),
        ),
        (
            "envelopes refused over intake",
            total(|r| r.intake_refusals),
        ),
        ("relay store losses", total(|r| r.relay_store_losses)),
        ("courier bundles", total(|r| r.bundles_carried)),
        ("courier bundles carried twice", total(|r| r.bundles_twice)),
        ("courier bundles carried last", total(|r| r.bundles_late)),
        (
            "envelopes first received by courier",
            total(|r| r.courier_envelopes_new),
        ),
        (
            "envelopes by courier already held",
            total(|r| r.courier_duplicates),
        ),
        ("rejected attacks", total(|r| r.attacks_rejected)),
        (
            "equivocations kept as evidence",
            total(|r| r.equivocations_kept),
        ),
        ("forks kept as evidence", total(|r| r.forks_kept)),
        ("operators' answers", total(|r| r.answers)),
        ("messages cancelled", total(|r| r.cancellations)),
        (
            "answers refused, cancelled first",
            total(|r| r.answers_refused_cancelled),
        ),
        ("codebooks proposed", total(|r| r.codebooks_proposed)),
        ("codebooks agreed", total(|r| r.codebooks_agreed)),
        ("coded messages", total(|r| r.coded_messages)),
        ("schedules of tests changed", total(|r| r.schedules_changed)),
        ("alarms", total(|r| r.alarms_raised)),
        ("scheduled tests missed", total(|r| r.tests_missed)),
        (
            "scheduled tests not received",
            total(|r| r.tests_not_received),
        ),
        ("cosigned checkpoints", total(|r| r.entries_cosigned)),
        ("epoch keys made", total(|r| r.epoch_keys_made)),
        ("epoch keys erased", total(|r| r.epoch_keys_erased)),
        (
            "entries sealed again to a peer's new key",
            total(|r| r.entries_rekeyed),
        ),
    ] {
        assert!(count > 0, "20 seeds produced no {what}");
    }
    assert!(
        reports.iter().any(|r| r.links > 1),
        "20 seeds had no world of several stations"
    );
}

/// Swarm testing: each seed picks its own faults; the seeds pass, their combinations vary,
/// and few have every fault on at once.
#[test]
fn swarm_seeds_pick_their_faults_and_pass() {
    let swarm = SimConfig {
        swarm: true,
        ..SimConfig::default()
    };
    let seeds: Vec<u64> = (0..SWARM_SEEDS).collect();
    let reports = check(&swarm, &seeds, false);
    let all_on = (1u64 << parley_sim::FAULTS.len()) - 1;
    let combinations: std::collections::BTreeSet<u64> = reports.iter().map(|r| r.faults).collect();
    assert!(
        combinations.len() as u64 > SWARM_SEEDS / 2,
        "{} combinations of faults in {SWARM_SEEDS} seeds",
        combinations.len()
    );
    let every_fault = reports.iter().filter(|r| r.faults == all_on).count() as u64;
    assert!(
        every_fault < SWARM_SEEDS / 10,
        "{every_fault} seeds had every fault on"
    );
    for (index, name) in parley_sim::FAULTS.iter().enumerate() {
        assert!(
            reports.iter().any(|r| r.faults >> index & 1 == 0)
                && reports.iter().any(|r| r.faults >> index & 1 == 1),
            "{name} is on in some seeds and off in others"
        );
    }
}

#[test]
fn a_quiet_network_also_passes() {
    let quiet = SimConfig {
        loss_per_mille: 0,
        duplicate_per_mille: 0,
        late_per_mille: 0,
        partitions: false,
        crashes: false,
        clock_jumps: false,
        attacks: false,
        relay_channel: false,
        ..SimConfig::default()
    };
    let reports = check(&quiet, &[1, 2, 3], false);
    assert!(
        reports
            .iter()
            .all(|r| r.frames_dropped == 0 && r.crashes == 0)
    );
}

#[test]
fn a_disk_that_loses_a_committed_send_is_caught() {
    let lossy = SimConfig {
        lossy_disk: true,
        ..SimConfig::default()
    };
    check(&lossy, &(0..10).collect::<Vec<_>>(), true);
    let quiet_but_lossy = SimConfig {
        crashes: false,
        partitions: false,
        attacks: false,
        ..lossy
    };
    check(&quiet_but_lossy, &[0, 1, 2], true);
}

/// Cores that erase a superseded epoch key as soon as its retention passes (shorter here than
/// a frame may take) refuse envelopes still sealed to it: caught wherever a peer's entry was
/// still on its way (19 of the first 20 seeds).
#[test]
fn a_core_that_erases_keys_early_is_caught() {
    let hasty = SimConfig {
        erase_keys_early: true,
        ..SimConfig::default()
    };
    let caught: Vec<SimFailure> = (0..20).filter_map(|seed| run(seed, &hasty).err()).collect();
    for failure in &caught {
        assert!(
            failure.reason.contains("unknown_epoch_key"),
            "seed {} failed for another reason: {failure}",
            failure.seed
        );
    }
    assert!(
        caught.len() >= 10,
        "only {} seeds of 20 caught the early erasure",
        caught.len()
    );
}

/// Cores that erase a superseded epoch key once one peer has read a newer one, though another
/// may still seal to it: with one peer the rule is the right one, so no world of two stations
/// catches it, and a world of several does (within the first 20 such seeds).
#[test]
fn a_core_that_erases_keys_for_one_peer_of_several_is_caught() {
    let hasty = SimConfig {
        erase_keys_for_one_peer: true,
        ..SimConfig::default()
    };
    let pair = SimConfig {
        several_stations_per_mille: 0,
        ..hasty.clone()
    };
    check(&pair, &[0, 1, 2], false);
    let several = SimConfig {
        several_stations_per_mille: 1_000,
        ..hasty
    };
    let caught = (0..20).find_map(|seed| run(seed, &several).err());
    let failure = caught.expect("a world of several stations catches the erasure");
    assert!(
        failure.reason.contains("unknown_epoch_key"),
        "seed {} failed for another reason: {failure}",
        failure.seed
    );
}

#[test]
fn a_core_that_answers_before_committing_is_caught() {
    let hasty = SimConfig {
        answer_before_commit: true,
        ..SimConfig::default()
    };
    let seeds: Vec<u64> = (0..10).collect();
    check(&hasty, &seeds, true);
    for seed in seeds {
        let failure = run(seed, &hasty).expect_err("caught");
        assert!(
            failure.reason.contains("before it was durable"),
            "seed {seed} failed for another reason: {failure}"
        );
    }
}
