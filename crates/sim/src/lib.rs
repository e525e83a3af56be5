//! parley's deterministic simulation: two stations, or in some seeds three to five each paired
//! with every other — each the production station core
//! (`parley_station::core::Station`) over the production store (`parley_store::Store`, in
//! memory, or in files where a crash tears the commit in flight) — over a simulated network:
//! loss, duplication, reordering, delay and partitions on a direct and a relay channel, a relay
//! that loses its store, and courier bundles that operators carry by hand (some twice, some
//! only once everything else is done); crashes that lose whatever was not committed, and clean
//! stops that lose nothing (the daemon stopped by a signal, its stop recorded); hosts
//! that reboot with their wall clocks wrong, within the skew limit or beyond it; an adversary
//! that injects tampered, forged and replayed frames; short time objectives, alarm timings
//! and checkpoint cadence in every seed; and the watch: operators who answer each message
//! after a random delay (understood or a question, some never) and withdraw some of their own
//! at random times (`cancel`), agree codebooks (proposed by one side, accepted by the other)
//! and send coded messages from them, and scheduled tests that a partition or a crash makes
//! missed, their schedule changed by an administrator now and then.
//! At quiescence every message and test was answered or cancelled in time or carries exactly
//! one overdue entry and one alarm, receivers are alarmed exactly when they answered late,
//! and every alarm announced is kept. The simulator copies no production logic: pairing,
//! sending, health, commit-before-answer and commit-before-transmit are the station's own.
//!
//! One seeded ChaCha20 generator and a simulated clock drive everything, so a failing run
//! replays exactly from its seed:
//! `PARLEY_SIM_SEED=<seed> cargo test --release -p parley-sim --test seeds`.
//!
//! Architecture invariants: no threads, no real time, no OS randomness, and nothing iterated
//! whose order depends on a random state (`BTreeMap`, never `HashMap`). A store changes only
//! through the commits its core hands out, applied the way the daemon applies them: all of a
//! batch or nothing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod check;
mod world;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a run does. [`SimConfig::default`] is the configuration the seed tests run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Messages each station gets accepted by `send` before the network is healed.
    pub messages_per_station: usize,
    /// Longest pause between two sends of one station, in milliseconds (0: all in a burst).
    pub send_gap_ms_max: u64,
    /// Whether a relay-kind channel runs beside the direct one (exercises multi-channel dedupe).
    pub relay_channel: bool,
    /// Chance that a frame is lost, per mille.
    pub loss_per_mille: u64,
    /// Chance that a frame arrives twice, per mille.
    pub duplicate_per_mille: u64,
    /// Chance that a frame is held back far longer than its channel's usual delay, per mille.
    pub late_per_mille: u64,
    /// Whether channels go down for a while (both directions, frames in flight lost).
    pub partitions: bool,
    /// Whether stations crash at random times and restart from their disks (a quarter of
    /// the planned crashes are clean stops instead).
    pub crashes: bool,
    /// Chance that a station crashes while a commit is in flight, per mille of commits.
    pub crash_in_commit_per_mille: u64,
    /// Chance, per mille of seeds, that the stations keep their stores in files, where a
    /// crash in the middle of a commit can leave it torn in SQLite's log (cut short or with a
    /// changed byte) and the station restarts from those files; otherwise in memory, where
    /// such a commit is lost whole. Needs `crashes`. (Files cost a seed about three times
    /// the time of memory, so not every seed has them.)
    pub torn_writes_per_mille: u64,
    /// Whether the adversary injects tampered, forged and replayed frames.
    pub attacks: bool,
    /// Chance that a message's text is within 64 bytes of the text limit, per mille.
    pub large_text_per_mille: u64,
    /// How long after healing the run may take to have every message receipted, simulated ms.
    pub quiescence_ms_max: u64,
    /// Whether the relay now and then loses its store: every frame it held is gone, and the
    /// stations, told nothing, find out only from what is never receipted. Needs
    /// `relay_channel`.
    pub relay_store_loss: bool,
    /// Whether operators carry courier bundles by hand (`courier export`, `courier import`):
    /// each arrives a second to a minute later, some twice, and some only once everything else
    /// is done (every key they were sealed to long superseded).
    pub courier: bool,
    /// Whether stations' hosts reboot with their wall clocks wrong (within the limit an entry
    /// may be ahead of its receiver's clock, or beyond it, forward or back), set right when
    /// the network heals.
    pub clock_jumps: bool,
    /// Chance, per mille of seeds, that the world has three to five stations, each paired with
    /// every other (one relay serves them all), rather than two: stations with several peers.
    pub several_stations_per_mille: u64,
    /// Chance, per mille of seeds, that every station takes little from each peer: an intake
    /// allowance of the smallest burst (the largest envelope) growing back in a minute, and
    /// a third of messages near the text limit, so that entries are refused for
    /// `over_intake` and must still all come in.
    pub tight_intake_per_mille: u64,
    /// Set on a seed's own configuration when it drew tight allowances.
    #[doc(hidden)]
    pub intake_tight: bool,
    /// Whether the watch is exercised: operators who answer each message after a random delay
    /// (or never), withdraw some, agree codebooks and send coded messages, and scheduled tests
    /// from A to B. (Time objectives are short in every seed,
    /// so that every deadline of a seed passes within minutes, simulated; without operators
    /// every message is overdue, once.)
    pub watch: bool,
    /// Swarm testing: each seed keeps each fault on here only half the time, and scales each
    /// rate by a quarter to twice, so that rare combinations get explored.
    pub swarm: bool,
    /// Fault injection for the simulation's own tests: station A's disk silently drops one
    /// committed `AppendOwn`. A run with it set must fail; it proves the checker can.
    pub lossy_disk: bool,
    /// Fault injection for the simulation's own tests: both station cores answer operators
    /// before committing what the answer reports. A run with it set must fail.
    pub answer_before_commit: bool,
    /// Fault injection for the simulation's own tests: both station cores erase superseded
    /// epoch keys once retained, whether or not the peer may still seal to them. A run with
    /// it set must fail.
    pub erase_keys_early: bool,
    /// Fault injection for the simulation's own tests: every station core erases a superseded
    /// epoch key once one peer has read a newer one, though another may still seal to it. Only
    /// a world of several stations can catch it.
    pub erase_keys_for_one_peer: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            messages_per_station: 30,
            send_gap_ms_max: 3_000,
            relay_channel: true,
            loss_per_mille: 100,
            duplicate_per_mille: 50,
            late_per_mille: 50,
            partitions: true,
            crashes: true,
            crash_in_commit_per_mille: 20,
            torn_writes_per_mille: 250,
            attacks: true,
            large_text_per_mille: 20,
            quiescence_ms_max: 24 * 3_600_000,
            relay_store_loss: true,
            courier: true,
            clock_jumps: true,
            several_stations_per_mille: 300,
            tight_intake_per_mille: 200,
            intake_tight: false,
            watch: true,
            swarm: false,
            lossy_disk: false,
            answer_before_commit: false,
            erase_keys_early: false,
            erase_keys_for_one_peer: false,
        }
    }
}

/// The faults (and optional parts of the world) a run can have, by the name the simulator
/// command takes: `--faults loss,crashes,…`.
pub const FAULTS: [&str; 15] = [
    "loss",
    "duplicate",
    "late",
    "partitions",
    "crashes",
    "attacks",
    "relay",
    "watch",
    "large",
    "torn-writes",
    "relay-loss",
    "courier",
    "clock-jumps",
    "stations",
    "intake",
];

impl SimConfig {
    /// The default configuration with only the faults named in `names` (from [`FAULTS`])
    /// on, each as strong as by default; an unknown name is refused.
    pub fn with_faults(names: &[&str]) -> Result<Self, String> {
        let on = Self::default();
        let mut config = Self {
            loss_per_mille: 0,
            duplicate_per_mille: 0,
            late_per_mille: 0,
            partitions: false,
            crashes: false,
            crash_in_commit_per_mille: 0,
            torn_writes_per_mille: 0,
            attacks: false,
            relay_channel: false,
            relay_store_loss: false,
            courier: false,
            clock_jumps: false,
            several_stations_per_mille: 0,
            tight_intake_per_mille: 0,
            watch: false,
            large_text_per_mille: 0,
            ..Self::default()
        };
        for name in names {
            match *name {
                "loss" => config.loss_per_mille = on.loss_per_mille,
                "duplicate" => config.duplicate_per_mille = on.duplicate_per_mille,
                "late" => config.late_per_mille = on.late_per_mille,
                "partitions" => config.partitions = true,
                "crashes" => {
                    config.crashes = true;
                    config.crash_in_commit_per_mille = on.crash_in_commit_per_mille;
                }
                "attacks" => config.attacks = true,
                "relay" => config.relay_channel = true,
                "relay-loss" => {
                    config.relay_channel = true;
                    config.relay_store_loss = true;
                }
                "courier" => config.courier = true,
                "clock-jumps" => config.clock_jumps = true,
                "stations" => config.several_stations_per_mille = on.several_stations_per_mille,
                "intake" => config.tight_intake_per_mille = on.tight_intake_per_mille,
                "watch" => config.watch = true,
                "large" => config.large_text_per_mille = on.large_text_per_mille,
                "torn-writes" => config.torn_writes_per_mille = on.torn_writes_per_mille,
                other => {
                    return Err(format!(
                        "no fault is called {other:?}; the faults are {}",
                        FAULTS.join(", ")
                    ));
                }
            }
        }
        Ok(config)
    }
}

/// What a successful run did. Two runs of one seed and config give equal reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimReport {
    /// The run's seed.
    pub seed: u64,
    /// Links between the world's stations (1 with two stations, up to 10 with five).
    pub links: u64,
    /// Messages accepted by `send` (their store ops committed), every station.
    pub messages_accepted: u64,
    /// Frames the endpoints transmitted, all channels.
    pub frames_sent: u64,
    /// Frames handed to an endpoint (duplicates included, attacks excluded).
    pub frames_delivered: u64,
    /// Frames lost: on the wire, by a partition, or at a crashed station.
    pub frames_dropped: u64,
    /// Frames the network duplicated.
    pub frames_duplicated: u64,
    /// Station crashes.
    pub crashes: u64,
    /// Clean stops of a station's daemon (a signal), each followed by a start.
    pub clean_stops: u64,
    /// Of them, those across the time a peer's scheduled test was to be checked.
    pub clean_stops_across_tests: u64,
    /// Commits lost because their station crashed before they completed.
    pub commits_lost: u64,
    /// Commits that reached the disk as their station crashed, before it could acknowledge them.
    pub commits_unacknowledged: u64,
    /// Commits a crash left torn in the store's log, dropped whole when the station restarted.
    pub commits_torn: u64,
    /// Times a channel went down.
    pub partitions: u64,
    /// Frames the adversary injected.
    pub attacks: u64,
    /// Injected tampered or forged frames that were rejected (replays are accepted as duplicates).
    pub attacks_rejected: u64,
    /// Equivocations made with a station's own key (the adversary holding it) that the
    /// station refused and kept as evidence.
    pub equivocations_kept: u64,
    /// Entries signed with a station's own key (the adversary holding it) that do not continue
    /// the log the peer holds, which the peer refused and kept as evidence of a fork.
    pub forks_kept: u64,
    /// Simulation events processed.
    pub events: u64,
    /// Simulated time from pairing to quiescence, in milliseconds.
    pub simulated_ms: u64,
    /// Messages answered by an operator (understood or clarify), every station.
    pub answers: u64,
    /// Messages withdrawn by their senders' operators (`cancel`), every station.
    pub cancellations: u64,
    /// Answers refused because the sender's cancellation had come first.
    pub answers_refused_cancelled: u64,
    /// Codebooks proposed by an operator, every link.
    pub codebooks_proposed: u64,
    /// Codebooks accepted by the other side's operator (agreed).
    pub codebooks_agreed: u64,
    /// Coded messages `send` accepted.
    pub coded_messages: u64,
    /// Times A's administrator changed its schedule of tests to B (and restarted it).
    pub schedules_changed: u64,
    /// Alarms raised, every station, all kinds.
    pub alarms_raised: u64,
    /// Scheduled tests not answered in time (`test_missed` alarms).
    pub tests_missed: u64,
    /// Scheduled tests expected and not received (`expected_test_not_received` alarms).
    pub tests_not_received: u64,
    /// Entries under the largest checkpoint each station cosigned of the other's log.
    pub entries_cosigned: u64,
    /// Epoch keys the stations made after pairing (operators rotated).
    pub epoch_keys_made: u64,
    /// Superseded epoch keys the stations erased.
    pub epoch_keys_erased: u64,
    /// Which of [`FAULTS`] were on in this seed, as bits in that order (under swarm testing
    /// the seed picks them).
    pub faults: u64,
    /// Times the relay lost its store.
    pub relay_store_losses: u64,
    /// Courier bundles imported (copies included).
    pub bundles_carried: u64,
    /// Courier bundles imported twice.
    pub bundles_twice: u64,
    /// Courier bundles held until everything else was done.
    pub bundles_late: u64,
    /// Envelopes first received from a courier bundle.
    pub courier_envelopes_new: u64,
    /// Envelopes in courier bundles already held.
    pub courier_duplicates: u64,
    /// Reboots with a wrong wall clock.
    pub clock_jumps: u64,
    /// Starts whose clock came up more than the limit off the right time (a wall clock set
    /// forward that far; one set back starts no earlier than the store's latest time).
    pub clock_starts_beyond: u64,
    /// Envelopes refused because their entry's time was too far ahead of the receiver's clock.
    pub clock_skew_refusals: u64,
    /// Envelopes refused because their sender had used up its intake allowance.
    pub intake_refusals: u64,
    /// Envelopes and receipts the stations sent again (retransmission timers, channels back).
    pub retransmissions: u64,
    /// Envelopes the stations dropped as already held.
    pub duplicates_dropped: u64,
    /// Peer entries stored above a gap, held until it filled.
    pub held_out_of_order: u64,
    /// Own entries sealed and sent again for a loss a receipt seemed to show (only after the
    /// peer's clock went back: no store is put back to an older copy here).
    pub entries_resealed: u64,
    /// Outstanding own entries sealed again to a peer's new epoch key.
    pub entries_rekeyed: u64,
    /// Hash of every event the run processed, with its simulated time, in order: equal
    /// traces, equal runs.
    pub trace: u64,
}

impl SimReport {
    /// What the run exercised, by name: the faults, and what the stations did about them.
    pub fn counters(&self) -> [(&'static str, u64); 47] {
        [
            ("links", self.links),
            ("messages accepted", self.messages_accepted),
            ("frames sent", self.frames_sent),
            ("frames delivered", self.frames_delivered),
            ("frames dropped", self.frames_dropped),
            ("frames duplicated", self.frames_duplicated),
            ("retransmissions", self.retransmissions),
            ("duplicates dropped", self.duplicates_dropped),
            ("entries held out of order", self.held_out_of_order),
            (
                "entries sent again, a loss seemingly shown",
                self.entries_resealed,
            ),
            (
                "entries sealed again to a peer's new key",
                self.entries_rekeyed,
            ),
            ("partitions", self.partitions),
            ("relay store losses", self.relay_store_losses),
            ("courier bundles carried", self.bundles_carried),
            ("courier bundles carried twice", self.bundles_twice),
            ("courier bundles carried last", self.bundles_late),
            ("envelopes first by courier", self.courier_envelopes_new),
            ("envelopes by courier already held", self.courier_duplicates),
            ("crashes", self.crashes),
            ("clean stops", self.clean_stops),
            (
                "clean stops across a test's check",
                self.clean_stops_across_tests,
            ),
            ("reboots with a wrong clock", self.clock_jumps),
            ("starts, clock beyond the limit", self.clock_starts_beyond),
            ("envelopes refused for clock skew", self.clock_skew_refusals),
            ("envelopes refused over intake", self.intake_refusals),
            ("commits lost to crashes", self.commits_lost),
            (
                "commits durable, unacknowledged",
                self.commits_unacknowledged,
            ),
            ("commits torn, dropped whole", self.commits_torn),
            ("attacks", self.attacks),
            ("attacks rejected", self.attacks_rejected),
            ("equivocations kept as evidence", self.equivocations_kept),
            ("forks kept as evidence", self.forks_kept),
            ("operators' answers", self.answers),
            ("messages cancelled", self.cancellations),
            (
                "answers refused, cancelled first",
                self.answers_refused_cancelled,
            ),
            ("codebooks proposed", self.codebooks_proposed),
            ("codebooks agreed", self.codebooks_agreed),
            ("coded messages", self.coded_messages),
            ("schedules of tests changed", self.schedules_changed),
            ("alarms raised", self.alarms_raised),
            ("scheduled tests missed", self.tests_missed),
            ("scheduled tests not received", self.tests_not_received),
            ("entries under cosigned checkpoints", self.entries_cosigned),
            ("epoch keys made", self.epoch_keys_made),
            ("epoch keys erased", self.epoch_keys_erased),
            ("events", self.events),
            ("simulated ms", self.simulated_ms),
        ]
    }
}

/// The invariants every run checks, as the simulator's summary lists them.
pub const INVARIANTS: [&str; 21] = [
    "every send answer names an entry already durable (commit before answer)",
    "a receipt covers only what the receiver durably holds (commit before transmit)",
    "heads only grow",
    "every store a crash leaves passes the store's own check",
    "a commit a crash tore is dropped whole: the store reopens holding what it held before",
    "nothing accepted is lost, nothing delivered twice, each sender's order kept",
    "both stations of every link hold transcripts that agree and verify",
    "no tampered or forged frame is accepted or changes state",
    "every live core equals its store, its watch included (answers, cancellations, the peer's schedule of tests), its codebooks and its checkpoints: what a restart would load from it",
    "an honest pair raises no accusing alarm",
    "every checkpoint cosigned is the author's log at its size, so every two are consistent",
    "every message and test is answered or cancelled in time, or has one overdue entry and one alarm",
    "a receiver is alarmed exactly when it answered late and the cancellation, if any, came late",
    "no message is answered once its cancellation reached the receiver",
    "both ends show every message alike: its text, a coded message rendered from an agreed codebook and valid, its cancellation",
    "an expected test is alarmed exactly when it did not come while the station watched, and only for a due time of the schedule governing then",
    "every alarm announced is in the store",
    "no envelope fails to open for want of the epoch key it was sealed to (keys rotate and are erased)",
    "every frame of an authentic courier bundle is accepted, new or already held, however late",
    "no receipt is taken for a loss of entries unless its signer's clock went back",
    "an authentic envelope is refused for clock skew, and the alarm raised, only while its sender has an entry not yet accepted dated more than the limit ahead",
];

/// A run that broke an invariant (or in which the protocol core panicked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFailure {
    /// The run's seed.
    pub seed: u64,
    /// Simulated time since pairing when the failure was seen, in milliseconds.
    pub simulated_ms: u64,
    /// What went wrong.
    pub reason: String,
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation seed {} failed at {} simulated ms: {}\n  replay (default config): \
             PARLEY_SIM_SEED={} cargo test --release -p parley-sim --test seeds",
            self.seed, self.simulated_ms, self.reason, self.seed
        )
    }
}

impl std::error::Error for SimFailure {}

/// Runs one seeded simulation to quiescence and checks every invariant.
///
/// A panic inside the protocol core is caught and reported as a failure of this seed.
pub fn run(seed: u64, config: &SimConfig) -> Result<SimReport, SimFailure> {
    let mut world = None;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let built = world.insert(world::World::new(seed, config)?);
        built.run()
    }));
    let (simulated_ms, trace, report) = world
        .map(|w| (w.simulated_ms(), w.trace(), w.report.clone()))
        .unwrap_or_default();
    let failure = |reason| SimFailure {
        seed,
        simulated_ms,
        reason,
    };
    match outcome {
        Ok(Ok(())) => Ok(SimReport {
            seed,
            simulated_ms,
            trace,
            ..report
        }),
        Ok(Err(reason)) => Err(failure(reason)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(failure(format!("panicked: {message}")))
        }
    }
}
