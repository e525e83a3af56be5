//! The simulated world: two stations, or three to five each paired with every other, their
//! channels (a direct one for each link, one relay for all), a clock and an event queue.
//!
//! Each station is the production station core (`parley_station::core::Station`) over the
//! production store (`parley_store::Store`, in memory, or in files when the seed tears
//! writes: see `disk`): the simulator feeds the core inputs,
//! takes its commits and applies them to the store after 0–2 simulated ms, and delivers its
//! transmits over simulated channels. Operators send through the core's command path, pairing
//! and the relay channel included. While a commit is in flight the core goes on handling
//! inputs, whose effects ride the next commit; only when nothing is uncommitted does it hand
//! out frames. A crash drops the core with everything uncommitted; the commit in flight is lost
//! (on a disk in files, half the time torn in SQLite's log) or, just as likely, durable but
//! never acknowledged. A `send` counts as accepted when the
//! core answers it, and the answer must name an entry already on the store's disk.
//!
//! Parts: `setup` (the world from its seed), `network` (the simulated channels, the relay's
//! store lost), `courier` (bundles carried by hand), `commits` (commits, crashes and restarts),
//! `clocks` (each station's clock, wrong after a reboot), `disk` (memory or files that tear),
//! `frames` (frames handed to a station, checked), `outputs` (what the cores release,
//! checked), `operators` (sends, answers, cancellations, new keys), `codebooks` (proposed,
//! accepted, used), `adversary` (attacks), `swarm` (faults per seed); here the event loop.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::Arc;

mod adversary;
mod clocks;
mod codebooks;
mod commits;
mod courier;
mod disk;
mod frames;
mod network;
mod operators;
mod outputs;
mod setup;
mod swarm;

use parley_channels::{Signal, Via};
use parley_proto::limits::TEXT_SIZE_MAX_BYTES;
use parley_proto::seal::EpochSecret;
use parley_proto::{
    ChannelKind, ContactCard, EntryId, EvidenceKind, Identity, Precedence, StationId, StoreOp,
    TestAnswer,
};
use parley_station::api::{AlarmEvent, Event as StationEvent, Reply};
use parley_station::core::{
    Command, Commit, Fault, Input, KeySettings, Loaded, Mode, Output, RequestId, Station as Core,
    Transmit,
};
use parley_station::home::Config;
use parley_station::node::load;
use parley_station::watch_config::TestConfig;
use parley_store::{AlarmKind, Store};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use self::adversary::{ATTACK_GAP_MS, Attack};
use self::courier::Carry;
use self::disk::Disk;
use self::frames::{clock_skew_refusals, intake_refusals};
use self::operators::{Act, Draft};
use crate::{SimConfig, SimReport};

/// An invariant broken, in words.
pub(crate) type Outcome<T = ()> = Result<T, String>;

/// Station names in messages, by index: at most this many stations in a world.
pub(crate) const NAMES: [&str; 5] = ["A", "B", "C", "D", "E"];

/// Simulated UTC time at pairing, in milliseconds.
const START_MS: u64 = 1_750_000_000_000;
/// Longest a commit (fsync) takes, in milliseconds.
const COMMIT_MS_MAX: u64 = 2;
/// How long an operator waits before retrying a send a crash swallowed, in milliseconds.
const SEND_RETRY_MS: u64 = 1_000;
/// Longest text of an ordinary (not near-limit) message, in bytes.
const TEXT_SHORT_BYTES_MAX: u64 = 300;
/// How long a tight intake allowance takes to grow back whole, in milliseconds.
const TIGHT_INTAKE_REFILL_MS: u64 = 60_000;
/// Chance that a message is near the text limit in a seed of tight intake allowances, per
/// mille at least: enough for the allowance to run out.
const TIGHT_LARGE_PER_MILLE: u64 = 333;
/// What the draw of tight intake allowances is salted with: it comes from a generator of its
/// own, so a seed's world is otherwise what it was before the draw existed.
const INTAKE_DRAW_SALT: u64 = 0x1a7a_ce00_1a7a_ce00;
/// One-way delay of the direct channel, in milliseconds (least, most).
const DIRECT_DELAY_MS: (u64, u64) = (1, 40);
/// One-way delay of the relay channel, in milliseconds (least, most).
const RELAY_DELAY_MS: (u64, u64) = (100, 3_000);
/// Extra delay of a late (reordered) frame, in milliseconds.
const LATE_EXTRA_MS_MAX: u64 = 10_000;
/// How long a channel stays up between partitions, in milliseconds (least, most).
const CHANNEL_UP_MS: (u64, u64) = (5_000, 60_000);
/// How long a partition lasts, in milliseconds (least, most).
const CHANNEL_DOWN_MS: (u64, u64) = (500, 30_000);
/// Chance that an outage is silent (a blackhole the stations are not told of), per mille.
const SILENT_OUTAGE_PER_MILLE: u64 = 300;
/// Time from a restart to the next planned crash, in milliseconds (least, most).
const CRASH_GAP_MS: (u64, u64) = (5_000, 40_000);
/// How long a crashed station stays down, in milliseconds (least, most).
const DOWNTIME_MS: (u64, u64) = (50, 5_000);
/// Chance that a planned crash is a clean stop instead (the daemon stopped by a signal, then
/// started again), per mille.
const CLEAN_STOP_PER_MILLE: u64 = 250;
/// Longest the workload phase may last, in simulated milliseconds.
const WORKLOAD_MS_MAX: u64 = 24 * 3_600_000;
/// Most events one run may process before it is declared stuck.
const EVENTS_MAX: u64 = 5_000_000;
/// The lowest own seq station A's lossy disk drops (the second message at the earliest; seq 1
/// announces the key): the first entry from it on in a commit the station acknowledges.
const LOSSY_DISK_SEQ: u64 = 3;
/// Longest an operator takes to answer a message, in milliseconds (some answer after the
/// deadline).
const ANSWER_DELAY_MS_MAX: u64 = 60_000;
/// Chance that an operator never answers a message, per mille.
const NEVER_ANSWERED_PER_MILLE: u64 = 100;
/// Chance that an operator answers with a question rather than understood, per mille.
const CLARIFY_PER_MILLE: u64 = 100;
/// Chance that an operator withdraws a message `send` accepted, per mille.
const CANCEL_PER_MILLE: u64 = 100;
/// Longest an operator takes to withdraw a message, in milliseconds: before it is delivered,
/// answered or overdue, or after.
const CANCEL_DELAY_MS_MAX: u64 = 90_000;
/// Station A's scheduled tests to B: every so often, answered by B's station within so long,
/// in milliseconds.
const TEST_EVERY_MS: u64 = 15_000;
/// How many times at most A's administrator changes its schedule of tests in a run (none to
/// this many, at random times within so long of the start, in milliseconds: two close
/// together can arrive in either order).
const RESCHEDULES_MAX: u64 = 3;
const RESCHEDULE_WITHIN_MS: u64 = 60_000;
/// How long an administrator waits to restart a station that is down or still committing,
/// in milliseconds.
const RESTART_RETRY_MS: u64 = 50;
/// How many new entries each station's checkpoint cadence waits for: a seed's few messages
/// make several checkpoints, each cosigned.
const CHECKPOINT_EVERY_ENTRIES: u64 = 8;
pub(crate) const TEST_ANSWER_WITHIN_MS: u64 = 5_000;
/// Each station's operator makes a new epoch key this many times in a run, at random times
/// within [`KEY_ROTATE_WITHIN_MS`].
const KEY_ROTATIONS_PER_STATION: u64 = 2;
const KEY_ROTATE_WITHIN_MS: u64 = 90_000;
/// How long a station keeps a superseded epoch key at least: shorter than a frame may take on
/// the simulated channels, so only the erasure rule (the peer has read a newer key) keeps
/// late envelopes openable.
const KEY_RETAIN_MS: u64 = 5_000;
/// Besides the operators, each station's daemon makes a new key this often.
const KEY_ROTATE_EVERY_MS: u64 = 45_000;

/// The simulated relay's URL, as every station stores it.
const RELAY_URL: &str = "https://relay.sim:7400";

/// The run's only source of randomness.
pub(crate) struct Dice(pub(crate) ChaCha20Rng);

impl Dice {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "a die needs at least one face");
        self.0.next_u64() % n
    }

    pub(crate) fn between(&mut self, (least, most): (u64, u64)) -> u64 {
        least + self.below(most - least + 1)
    }

    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    pub(crate) fn seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.0.fill_bytes(&mut seed);
        seed
    }
}

#[derive(Hash)]
enum Event {
    Deliver {
        from: usize,
        to: usize,
        channel: usize,
        generation: u64,
        frame: Arc<[u8]>,
    },
    Send {
        station: usize,
    },
    CommitDone {
        station: usize,
        incarnation: u64,
    },
    Wake {
        station: usize,
        incarnation: u64,
    },
    Crash {
        station: usize,
        planned: bool,
    },
    Restart {
        station: usize,
    },
    Toggle {
        channel: usize,
    },
    Attack,
    /// Station `station`'s operator answers a message or withdraws one.
    Act {
        station: usize,
        act: Act,
    },
    /// Station `station`'s operator makes a new epoch key.
    Rotate {
        station: usize,
    },
    /// The relay loses its store.
    RelayLoss,
    /// A's administrator gives it a new schedule of tests to B and restarts it.
    Reschedule,
    /// Station `station`'s host reboots with its wall clock wrong, or (`right`) its operator
    /// sets the clock right.
    Clock {
        station: usize,
        right: bool,
    },
    /// Station `station`'s operator exports a courier bundle for the peer (routinely, or
    /// because of an alarm).
    Export {
        station: usize,
        peer: usize,
        routine: bool,
    },
    /// Station `station`'s operator imports a courier bundle from `from`.
    Import {
        station: usize,
        from: usize,
        bundle: Arc<[u8]>,
    },
}

/// A message `send` accepted.
pub(crate) struct Accepted {
    pub seq: u64,
    pub id: EntryId,
    pub precedence: Precedence,
    /// The text drafted; a coded message is sent instead when `code` is set.
    pub text: String,
    pub code: Option<u64>,
}

/// Whether an alarm of `kind` accuses the peer of misbehaviour: never raised between honest
/// stations, whatever the network does.
fn accuses(kind: AlarmKind) -> bool {
    matches!(
        kind,
        AlarmKind::Equivocation
            | AlarmKind::Fork
            | AlarmKind::BadReceipt
            | AlarmKind::ClockSkew
            | AlarmKind::SplitView
            | AlarmKind::UnknownEpochKey
            | AlarmKind::OverIntake
    )
}

impl Station {
    /// The station's configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }
}

pub(crate) struct Station {
    pub identity: Identity,
    /// The station's epoch public key (what peers seal to).
    pub epoch_public: Vec<u8>,
    config: Config,
    /// The production core; `None` while crashed.
    pub core: Option<Core>,
    /// The production store: what survives a crash.
    pub store: Store,
    /// Where the store lives: in memory, or in files a crash can tear.
    disk: Disk,
    /// Bumped at each crash; events of an older incarnation are ignored.
    incarnation: u64,
    /// The commit under way.
    commit: Option<Commit>,
    wake_at: Option<u64>,
    /// Its links, by the peer's index.
    pub links: BTreeMap<usize, LinkLog>,
    planned_crash: bool,
    /// After a clean stop: the first time a due test of a peer's was to be checked after it.
    stopped_check_ms: Option<u64>,
    draft: Option<Draft>,
    /// The send request in the core, not yet answered.
    asked: Option<RequestId>,
    next_request: u64,
    /// Operators' acts asked of the core and not yet answered.
    acting: BTreeMap<RequestId, Act>,
    /// Courier commands asked of the core and not yet answered.
    couriering: BTreeMap<RequestId, Carry>,
    /// Alarms the core announced raised: id, kind, peer and subject (each must be durable).
    pub raised: Vec<(u64, AlarmKind, String, String)>,
    /// When it was down, by its own clock: from a crash to the restart (`u64::MAX` while
    /// still down).
    pub down: Vec<(u64, u64)>,
    /// How far its wall clock is off, in milliseconds (read at each start).
    wall_offset_ms: i64,
    /// Its core's clock minus the simulated time, in milliseconds: fixed at each start.
    skew_ms: i64,
    /// Whether its clock ever started behind where it was before (a wall clock set back, or
    /// set right after running ahead): a receipt it signed earlier may then look later than
    /// one it signed since.
    clock_went_back: bool,
    /// Envelopes it refused for clock skew, rightly, by peer, less the `clock_skew` alarms
    /// about that peer announced since: each such alarm must follow such a refusal (and an
    /// alarm is announced only once the commit after its refusal is done).
    skew_refused: BTreeMap<usize, u64>,
    /// Contradictions of a peer's log (equivocations, forks) the adversary made with the
    /// peer's key that it refused and kept as evidence: the peer, the seq and the alarm it
    /// raises. That alarm about that seq is excused.
    contradicted: BTreeSet<(usize, u64, AlarmKind)>,
}

/// What the world saw of one station's link with one peer.
#[derive(Default)]
pub(crate) struct LinkLog {
    /// Highest `Delivered` head seen in this incarnation.
    delivered_head: u64,
    /// Every peer seq in the order the store's in-head passed it, across crashes.
    pub delivered_log: Vec<u64>,
    /// Own seqs up to which a committed receipt was checked against the peer's store.
    receipt_backed_upto: u64,
    /// The messages to the peer `send` accepted.
    pub accepted: Vec<Accepted>,
    /// The time each own entry to the peer was written at, by seq, as committed (a torn
    /// commit's taken back).
    written_ms: BTreeMap<u64, u64>,
}

impl Station {
    /// Messages `send` accepted, to every peer.
    pub(crate) fn sent(&self) -> usize {
        self.links.values().map(|link| link.accepted.len()).sum()
    }
}

struct Channel {
    kind: ChannelKind,
    /// The two stations of a direct channel; `None` for the relay, which every station uses.
    ends: Option<(usize, usize)>,
    /// Whether frames get through.
    up: bool,
    /// Whether the stations were told it is up; a silent outage (blackhole) leaves them
    /// believing it is.
    announced_up: bool,
    /// Bumped when the channel goes down: frames of an older generation are lost.
    generation: u64,
    delay_ms: (u64, u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Sends, loss, partitions, crashes and attacks.
    Workload,
    /// Every station up, every channel up, no more crashes or attacks (loss goes on).
    Heal { since_ms: u64 },
}

pub(crate) struct World {
    /// This seed's configuration: the run's, with each fault on or off and its strength
    /// picked by the seed under swarm testing.
    pub config: SimConfig,
    pub(crate) dice: Dice,
    now_ms: u64,
    queue: BTreeMap<(u64, u64), Event>,
    next_event: u64,
    pub stations: Vec<Station>,
    channels: Vec<Channel>,
    pub(crate) phase: Phase,
    pub(crate) mallory: Identity,
    /// Frames seen on the wire, for the adversary: from, to, the frame.
    pub(crate) replay_pool: Vec<(usize, usize, Arc<[u8]>)>,
    /// Contradictions the adversary made with a station's key: what they are evidence of
    /// (an equivocation, a fork), author, holder, seq and the id of the entry made. Evidence
    /// may be of these alone.
    pub(crate) contradictions: BTreeSet<(EvidenceKind, usize, usize, u64, EntryId)>,
    lossy_disk_dropped: bool,
    /// Operators' acts (answers, cancellations) scheduled or asked and not yet acknowledged.
    acts_pending: u64,
    /// Codebooks proposed or planned, every link.
    books: Vec<codebooks::Book>,
    /// Courier bundles on their way or being imported.
    bundles_in_transit: u64,
    /// Courier bundles held until everything else is done: from, to, the bundle.
    late_bundles: Vec<(usize, usize, Arc<[u8]>)>,
    pub report: SimReport,
    /// Every event processed, with its time, hashed in order: the run's trace.
    trace: DefaultHasher,
}

/// A relay's signed card, for the relay channel every station adds to each link.
fn relay_card(relay: &Identity, dice: &mut Dice) -> (String, String) {
    let epoch = EpochSecret::generate(&mut dice.0);
    let card = ContactCard {
        name: "Relay".into(),
        identity: relay.id(),
        epoch_key_id: epoch.id(),
        epoch_public: epoch.public_bytes().to_vec(),
        addresses: vec![RELAY_URL.into()],
        lang: "en".into(),
        created_ms: START_MS,
        pq_key: Some(relay.pq().public().clone()),
    };
    let signed = card.sign(relay);
    (card.to_text(&signed), relay.fingerprint().to_string())
}

impl World {
    /// Takes station `i`'s core away (a crash, or a restart on a new configuration), keeping
    /// what its links counted.
    fn retire_core(&mut self, i: usize) {
        if let Some(core) = self.stations[i].core.take() {
            self.count_links(i, &core);
        }
    }

    /// Adds what station `i`'s links counted in `core`'s lifetime to the report.
    fn count_links(&mut self, i: usize, core: &Core) {
        for peer in self.peer_ids(i) {
            if let Some(link) = core.endpoint().link(&peer) {
                let counters = link.counters();
                self.report.retransmissions += counters.retransmissions;
                self.report.duplicates_dropped += counters.duplicates_dropped;
                self.report.clock_skew_refusals += clock_skew_refusals(core, &peer);
                self.report.intake_refusals += intake_refusals(core, &peer);
            }
            self.report.entries_cosigned += core.cosigned_upto(&peer).1;
        }
    }

    /// Counts the epoch keys station `i` made (each announced once at least, on every link)
    /// and erased.
    fn count_keys(&mut self, i: usize) -> Outcome {
        let station = &self.stations[i];
        let mut announced = Vec::new();
        for peer in self.peer_ids(i) {
            let record = station
                .store
                .link_record(&peer)
                .map_err(|e| e.to_string())?;
            announced.extend(record.own_key_announcements.iter().map(|(_, key)| *key));
        }
        announced.sort_unstable();
        announced.dedup();
        let held = station.store.epoch_keys().map_err(|e| e.to_string())?.len();
        let made = announced.len().saturating_sub(1) as u64;
        self.report.epoch_keys_made += made;
        self.report.epoch_keys_erased += (made + 1).saturating_sub(held as u64);
        Ok(())
    }

    pub fn simulated_ms(&self) -> u64 {
        self.now_ms - START_MS
    }

    /// The hash of every event processed so far, with its time, in order.
    pub fn trace(&self) -> u64 {
        self.trace.finish()
    }

    /// Runs the workload, heals, runs to quiescence and checks the final state.
    pub fn run(&mut self) -> Outcome {
        for i in 0..self.stations.len() {
            self.flush(i)?;
            let gap = self.dice.below(self.config.send_gap_ms_max + 1);
            self.push(gap, Event::Send { station: i });
            self.plan_crash(i);
            self.plan_clock_jump(i);
            self.plan_courier(i);
            for _ in 0..KEY_ROTATIONS_PER_STATION {
                let at_ms = self.dice.below(KEY_ROTATE_WITHIN_MS + 1);
                self.push(at_ms, Event::Rotate { station: i });
            }
        }
        if self.config.partitions {
            for channel in 0..self.channels.len() {
                let up_ms = self.dice.between(CHANNEL_UP_MS);
                self.push(up_ms, Event::Toggle { channel });
            }
        }
        if self.config.attacks {
            let gap = self.dice.between(ATTACK_GAP_MS);
            self.push(gap, Event::Attack);
        }
        self.plan_relay_loss();
        self.plan_codebooks();
        let reschedules = if self.config.watch {
            self.dice.below(RESCHEDULES_MAX + 1)
        } else {
            0
        };
        for _ in 0..reschedules {
            let at_ms = self.dice.below(RESCHEDULE_WITHIN_MS + 1);
            self.push(at_ms, Event::Reschedule);
        }
        self.maybe_heal()?; // a workload of no messages is done at once
        loop {
            if matches!(self.phase, Phase::Heal { .. }) && self.quiescent() {
                if self.release_late_bundles() {
                    continue;
                }
                for i in 0..self.stations.len() {
                    if let Some(core) = self.stations[i].core.take() {
                        self.count_links(i, &core);
                        self.stations[i].core = Some(core);
                    }
                    self.count_keys(i)?;
                }
                return crate::check::final_state(self);
            }
            let Some(((at_ms, _), event)) = self.queue.pop_first() else {
                return Err(format!(
                    "nothing left to do but not quiescent: {}",
                    self.status()
                ));
            };
            let deadline_ms = match self.phase {
                Phase::Workload => START_MS + WORKLOAD_MS_MAX,
                Phase::Heal { since_ms } => since_ms + self.config.quiescence_ms_max,
            };
            if at_ms > deadline_ms {
                return Err(format!("no quiescence by the deadline: {}", self.status()));
            }
            self.report.events += 1;
            if self.report.events > EVENTS_MAX {
                return Err(format!("over {EVENTS_MAX} events: {}", self.status()));
            }
            assert!(at_ms >= self.now_ms, "the clock never goes backwards");
            self.now_ms = at_ms;
            at_ms.hash(&mut self.trace);
            event.hash(&mut self.trace);
            self.step(event)?;
        }
    }

    fn push(&mut self, after_ms: u64, event: Event) {
        self.next_event += 1;
        self.queue
            .insert((self.now_ms + after_ms, self.next_event), event);
    }

    /// Station `j`'s identity.
    pub(crate) fn id(&self, j: usize) -> StationId {
        self.stations[j].identity.id()
    }

    /// The index of the station with identity `id`.
    pub(crate) fn index_of(&self, id: &StationId) -> Option<usize> {
        self.stations.iter().position(|s| s.identity.id() == *id)
    }

    /// The index of the station called `name`.
    pub(crate) fn index_named(&self, name: &str) -> Option<usize> {
        NAMES[..self.stations.len()].iter().position(|n| *n == name)
    }

    /// Station `i`'s peers (every other station), by index.
    pub(crate) fn peers(&self, i: usize) -> impl Iterator<Item = usize> + use<> {
        (0..self.stations.len()).filter(move |j| *j != i)
    }

    /// Station `i`'s peers' identities.
    pub(crate) fn peer_ids(&self, i: usize) -> Vec<StationId> {
        self.peers(i).map(|j| self.id(j)).collect()
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn step(&mut self, event: Event) -> Outcome {
        match event {
            Event::Deliver {
                from,
                to,
                channel,
                generation,
                frame,
            } => {
                let live = &self.channels[channel];
                if !live.up || live.generation != generation {
                    self.report.frames_dropped += 1;
                    return Ok(());
                }
                self.report.frames_delivered += 1;
                self.frame(to, channel, &frame, (from, None))
            }
            Event::Send { station } => self.send(station),
            Event::CommitDone {
                station,
                incarnation,
            } if self.stations[station].incarnation == incarnation => self.commit_done(station),
            Event::CommitDone { .. } => Ok(()),
            Event::Wake {
                station,
                incarnation,
            } => self.wake(station, incarnation),
            Event::Crash { station, planned } => self.crash(station, planned),
            Event::Restart { station } => self.restart(station),
            Event::Toggle { channel } => self.toggle(channel),
            Event::Attack => self.attack(),
            Event::Act { station, act } => self.act(station, act),
            Event::Rotate { station } => self.rotate(station),
            Event::RelayLoss => self.relay_loss(),
            Event::Reschedule => self.reschedule(),
            Event::Clock {
                station,
                right: false,
            } => self.clock_jump(station),
            Event::Clock {
                station,
                right: true,
            } => self.set_clock_right(station),
            Event::Export {
                station,
                peer,
                routine,
            } => self.export(station, peer, routine),
            Event::Import {
                station,
                from,
                bundle,
            } => self.import(station, from, bundle),
        }
    }

    /// After an input: takes what the core released, then commits (or, with nothing to
    /// commit, transmits) unless a commit is in flight.
    fn after_input(&mut self, i: usize) -> Outcome {
        self.drain_outputs(i)?;
        if self.stations[i].commit.is_some() {
            return Ok(());
        }
        self.flush(i)
    }

    /// Puts the core's frames on the wire, then commits what that wrote or schedules the
    /// core's next timer. Only called when nothing is in flight.
    fn pump(&mut self, i: usize) -> Outcome {
        let now_ms = self.clock(i);
        let mut transmits = Vec::new();
        let Some(core) = self.stations[i].core.as_mut() else {
            return Ok(());
        };
        while let Some(transmit) = core.poll_transmit(now_ms) {
            core.transmitted(&transmit, true);
            transmits.push(transmit);
        }
        let deadline = core.poll_timeout();
        self.drain_outputs(i)?;
        for transmit in transmits {
            self.transmit(i, transmit);
        }
        if self.stations[i]
            .core
            .as_ref()
            .is_some_and(|core| core.uncommitted_writes() > 0)
        {
            return self.flush(i);
        }
        // The first transmission of an entry is recorded after it left, with the next commit
        // or at the core's timeout; losing that record to a crash merely resends the frame.
        let Some(due_ms) = deadline.map(|d| d.max(now_ms)) else {
            return Ok(());
        };
        let station = &mut self.stations[i];
        if station.wake_at.is_none_or(|w| due_ms < w) {
            station.wake_at = Some(due_ms);
            let incarnation = station.incarnation;
            let wake = Event::Wake {
                station: i,
                incarnation,
            };
            self.push(due_ms - now_ms, wake);
        }
        Ok(())
    }

    fn wake(&mut self, i: usize, incarnation: u64) -> Outcome {
        let now_ms = self.clock(i);
        let station = &mut self.stations[i];
        let current = station.incarnation == incarnation && station.core.is_some();
        if !current || station.wake_at != Some(now_ms) {
            return Ok(());
        }
        station.wake_at = None;
        if let Some(core) = station.core.as_mut() {
            core.handle_timeout(now_ms);
        }
        self.drain_outputs(i)?;
        if self.stations[i].commit.is_some() {
            return Ok(()); // the commit's completion flushes, then pumps
        }
        self.flush(i)
    }

    /// Every accepted message receipted and every entry delivered, nothing in flight at a
    /// station.
    fn quiescent(&self) -> bool {
        if self.acts_pending > 0 || self.bundles_in_transit > 0 {
            return false;
        }
        (0..self.stations.len()).all(|i| {
            let station = &self.stations[i];
            let Some(core) = &station.core else {
                return false;
            };
            let idle = station.commit.is_none()
                && station.couriering.is_empty()
                && core.deadlines_pending() == 0
                && core.uncommitted_writes() == 0
                && core.waiting_records() == 0;
            idle && self.peers(i).all(|j| {
                let Some(peer_core) = &self.stations[j].core else {
                    return false;
                };
                let link = core.endpoint().link(&self.id(j)).expect("paired");
                let peer_link = peer_core.endpoint().link(&self.id(i)).expect("paired");
                link.outbox_depth() == 0
                    && peer_link.in_head() == link.out_seq()
                    && peer_link.in_pending() == 0
            })
        })
    }

    fn status(&self) -> String {
        let describe = |i: usize| {
            let station = &self.stations[i];
            let links: Vec<String> = self
                .peers(i)
                .map(|j| {
                    let link = station
                        .core
                        .as_ref()
                        .and_then(|core| core.endpoint().link(&self.id(j)));
                    format!(
                        "to {} accepted={} written={:?} unreceipted={:?}",
                        NAMES[j],
                        station.links[&j].accepted.len(),
                        link.map(|l| l.out_seq()),
                        link.map(|l| l.outbox_depth()),
                    )
                })
                .collect();
            format!(
                "{} up={} {}",
                NAMES[i],
                station.core.is_some(),
                links.join(", ")
            )
        };
        let stations: Vec<String> = (0..self.stations.len()).map(describe).collect();
        stations.join("; ")
    }
}

/// Breaks a core as the run's configuration asks, to show the checks catch it.
pub(crate) fn inject_faults(config: &SimConfig, core: &mut Core) {
    if config.answer_before_commit {
        core.inject_fault(Fault::AnswerBeforeCommit);
    }
    if config.erase_keys_early {
        core.inject_fault(Fault::EraseKeysEarly);
    }
    if config.erase_keys_for_one_peer {
        core.inject_fault(Fault::EraseKeysForOnePeer);
    }
}

/// The simulator's settings on a loaded station: a key rotation by the schedule every
/// [`KEY_ROTATE_EVERY_MS`] besides the operators' ([`Event::Rotate`]), and a retention
/// shorter than the channels' delays; with `intake_tight`, the smallest intake allowance a
/// peer can have, growing back in [`TIGHT_INTAKE_REFILL_MS`].
pub(crate) fn sim_settings(mut loaded: Loaded, intake_tight: bool) -> Loaded {
    loaded.settings.keys = KeySettings {
        rotate_every_ms: Some(KEY_ROTATE_EVERY_MS),
        retain_ms: KEY_RETAIN_MS,
    };
    if intake_tight {
        let burst_bytes = parley_proto::limits::ENVELOPE_SIZE_MAX_BYTES as u64;
        loaded.settings.intake = parley_proto::IntakeLimit {
            burst_bytes,
            per_day_bytes: burst_bytes * (24 * 3_600_000 / TIGHT_INTAKE_REFILL_MS),
        };
    }
    loaded
}
