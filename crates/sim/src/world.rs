//! The simulated world: two stations, their channels, a clock and an event queue.
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

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::Arc;

mod adversary;
mod disk;
mod swarm;

use parley_channels::{Signal, Via};
use parley_proto::limits::TEXT_SIZE_MAX_BYTES;
use parley_proto::seal::EpochSecret;
use parley_proto::{
    ChannelKind, ContactCard, EntryId, Identity, Precedence, StationId, StoreOp, TestAnswer,
};
use parley_station::api::{AlarmEvent, Event as StationEvent, Reply};
use parley_station::core::{
    Command, Commit, Fault, Input, Mode, Output, RequestId, Station as Core, Transmit,
};
use parley_station::home::Config;
use parley_station::node::load;
use parley_station::watch_config::TestConfig;
use parley_store::{AlarmKind, Store};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use self::adversary::{ATTACK_GAP_MS, Attack};
use self::disk::Disk;
use crate::{SimConfig, SimReport};

/// An invariant broken, in words.
pub(crate) type Outcome<T = ()> = Result<T, String>;

/// Station names in messages, by index.
pub(crate) const NAMES: [&str; 2] = ["A", "B"];

/// Simulated UTC time at pairing, in milliseconds.
const START_MS: u64 = 1_750_000_000_000;
/// Longest a commit (fsync) takes, in milliseconds.
const COMMIT_MS_MAX: u64 = 2;
/// How long an operator waits before retrying a send a crash swallowed, in milliseconds.
const SEND_RETRY_MS: u64 = 1_000;
/// Longest text of an ordinary (not near-limit) message, in bytes.
const TEXT_SHORT_BYTES_MAX: u64 = 300;
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
/// Station A's scheduled tests to B: every so often, answered by B's station within so long,
/// in milliseconds.
const TEST_EVERY_MS: u64 = 15_000;
pub(crate) const TEST_ANSWER_WITHIN_MS: u64 = 5_000;

/// The simulated relay's URL, as both stations store it.
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
    /// Station `station`'s operator answers the peer's message `id`.
    Answer {
        station: usize,
        id: EntryId,
        clarify: bool,
    },
}

/// A message `send` accepted.
pub(crate) struct Accepted {
    pub seq: u64,
    pub id: EntryId,
    pub precedence: Precedence,
    pub text: String,
}

/// Whether an alarm of `kind` accuses the peer of misbehaviour: never raised between honest
/// stations, whatever the network does.
fn accuses(kind: AlarmKind) -> bool {
    matches!(
        kind,
        AlarmKind::Equivocation | AlarmKind::Fork | AlarmKind::BadReceipt | AlarmKind::ClockSkew
    )
}

/// The message an operator is sending (kept until accepted, so a crash makes them retry it).
#[derive(Clone)]
struct Draft {
    precedence: Precedence,
    text: String,
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
    /// Highest `Delivered` head seen in this incarnation.
    delivered_head: u64,
    /// Every peer seq in the order the store's in-head passed it, across crashes.
    pub delivered_log: Vec<u64>,
    planned_crash: bool,
    draft: Option<Draft>,
    /// The send request in the core, not yet answered.
    asked: Option<RequestId>,
    next_request: u64,
    pub accepted: Vec<Accepted>,
    /// Answers asked of the core and not yet answered: the message, and whether a question.
    answering: BTreeMap<RequestId, (EntryId, bool)>,
    /// Alarms the core announced raised: id, kind and subject (each must be durable).
    pub raised: Vec<(u64, AlarmKind, String)>,
    /// When it was down, simulated UTC ms: from a crash to the restart (`u64::MAX` while
    /// still down).
    pub down: Vec<(u64, u64)>,
}

struct Channel {
    kind: ChannelKind,
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
    pub stations: [Station; 2],
    channels: Vec<Channel>,
    pub(crate) phase: Phase,
    pub(crate) mallory: Identity,
    pub(crate) replay_pool: Vec<(usize, Arc<[u8]>)>,
    lossy_disk_dropped: bool,
    /// Operators' answers scheduled or asked and not yet acknowledged.
    answers_pending: u64,
    pub report: SimReport,
    /// Every event processed, with its time, hashed in order: the run's trace.
    trace: DefaultHasher,
}

/// What a rejected frame must leave unchanged in memory: out seq, outbox depth, in head,
/// pending count, receipt bound, and the writes waiting for a commit.
fn link_view(core: &Core, peer: &StationId) -> [u64; 6] {
    let link = core
        .endpoint()
        .link(peer)
        .expect("stations are paired at start");
    [
        link.out_seq(),
        link.outbox_depth() as u64,
        link.in_head(),
        link.in_pending() as u64,
        link.peer_receipt_upto(),
        core.uncommitted_writes() as u64,
    ]
}

/// A relay's signed card, for the relay channel both stations add.
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
    };
    let signed = card.sign(relay);
    (card.to_text(&signed), relay.id().fingerprint().to_string())
}

impl World {
    /// Creates both stations from the seed and pairs them through their cores, adding the
    /// relay channel the same way (committed at once, no crash).
    pub fn new(seed: u64, config: &SimConfig) -> Outcome<Self> {
        let mut dice = Dice(ChaCha20Rng::seed_from_u64(seed));
        let (config, mut faults) = if config.swarm {
            swarm::swarm(config, &mut dice)
        } else {
            (config.clone(), swarm::faults_on(config))
        };
        let torn_writes = config.crashes
            && config.torn_writes_per_mille > 0
            && dice.chance(config.torn_writes_per_mille);
        if torn_writes {
            faults |= 1 << swarm::TORN_WRITES_BIT;
        }
        let mut stations = Vec::new();
        for name in NAMES {
            let identity = Identity::from_secret(&dice.seed());
            let epoch = EpochSecret::generate(&mut dice.0);
            let (mut store, disk) = Disk::open(torn_writes)?;
            store
                .init_station(name, "en", identity.id().0, &epoch, START_MS)
                .map_err(|e| e.to_string())?;
            let config = Config::new(name.into(), "en".into(), "127.0.0.1:9".into());
            let loaded =
                load(&store, identity.clone(), &config, dice.seed()).map_err(|e| e.to_string())?;
            let core = Core::new(START_MS, loaded, Mode::Daemon).map_err(|e| e.to_string())?;
            stations.push(Station {
                epoch_public: epoch.public_bytes().to_vec(),
                identity,
                config,
                core: Some(core),
                store,
                disk,
                incarnation: 0,
                commit: None,
                wake_at: None,
                delivered_head: 0,
                delivered_log: Vec::new(),
                planned_crash: false,
                draft: None,
                asked: None,
                next_request: 0,
                accepted: Vec::new(),
                answering: BTreeMap::new(),
                raised: Vec::new(),
                down: Vec::new(),
            });
        }
        let mallory = Identity::from_secret(&dice.seed());
        let relay = Identity::from_secret(&dice.seed());
        let mut channels = vec![Channel {
            kind: ChannelKind::Direct,
            up: true,
            announced_up: true,
            generation: 0,
            delay_ms: DIRECT_DELAY_MS,
        }];
        if config.relay_channel {
            channels.push(Channel {
                kind: ChannelKind::Relay,
                up: true,
                announced_up: true,
                generation: 0,
                delay_ms: RELAY_DELAY_MS,
            });
        }
        let relay_card = relay_card(&relay, &mut dice);
        let mut world = Self {
            config,
            dice,
            now_ms: START_MS,
            queue: BTreeMap::new(),
            next_event: 0,
            stations: stations.try_into().ok().expect("two stations"),
            channels,
            phase: Phase::Workload,
            mallory,
            replay_pool: Vec::new(),
            lossy_disk_dropped: false,
            answers_pending: 0,
            report: SimReport {
                faults,
                ..SimReport::default()
            },
            trace: DefaultHasher::new(),
        };
        for i in 0..2 {
            world.set_up(i, &relay_card)?;
        }
        if world.config.watch {
            world.configure_watch()?;
        }
        Ok(world)
    }

    /// Pairs station `i` with its peer and adds the relay channel, through the core's
    /// commands, committed at once; then announces the channels up.
    fn set_up(&mut self, i: usize, (relay_card, relay_fp): &(String, String)) -> Outcome {
        let peer = &self.stations[1 - i];
        let (card, bytes) = peer.core.as_ref().expect("up").card();
        let pair = Command::PeerAdd {
            card: card.to_text(&bytes),
            fingerprint: peer.identity.id().fingerprint().to_string(),
            address: None,
        };
        self.set_up_command(i, pair)?;
        if self.config.relay_channel {
            let relay = Command::ChannelAdd {
                peer: NAMES[1 - i].into(),
                kind: ChannelKind::Relay,
                target: RELAY_URL.into(),
                card: Some(relay_card.clone()),
                fingerprint: Some(relay_fp.clone()),
            };
            self.set_up_command(i, relay)?;
        }
        if self.config.answer_before_commit {
            let core = self.stations[i].core.as_mut().expect("up");
            core.inject_fault(Fault::AnswerBeforeCommit);
        }
        self.announce_channels(i);
        Ok(())
    }

    /// Short objectives on both stations and A's tests to B, as an administrator sets them
    /// after pairing; both stations restart on the new configuration.
    fn configure_watch(&mut self) -> Outcome {
        for (i, name) in NAMES.iter().enumerate() {
            let config = &mut self.stations[i].config;
            for (objective, (receipt_s, understood_s)) in [
                (&mut config.objectives.flash, (5, 20)),
                (&mut config.objectives.immediate, (10, 30)),
                (&mut config.objectives.priority, (15, 45)),
                (&mut config.objectives.routine, (20, 60)),
            ] {
                objective.receipt_s = receipt_s;
                objective.understood_s = understood_s;
            }
            config.alarms.escalate_after_s = 30;
            config.alarms.channel_down_after_s = 20;
            if i == 0 {
                config.tests = vec![TestConfig {
                    peer: NAMES[1].into(),
                    at: Vec::new(),
                    every_s: Some(TEST_EVERY_MS / 1_000),
                    answer: TestAnswer::Machine,
                    answer_within_s: TEST_ANSWER_WITHIN_MS / 1_000,
                }];
            }
            config
                .check()
                .map_err(|e| format!("{name} configuration: {e}"))?;
            self.retire_core(i);
            self.restart(i)?;
        }
        Ok(())
    }

    /// Takes station `i`'s core away (a crash, or a restart on a new configuration), keeping
    /// what its link counted.
    fn retire_core(&mut self, i: usize) {
        if let Some(core) = self.stations[i].core.take() {
            self.count_link(i, &core);
        }
    }

    /// Adds what station `i`'s link counted in `core`'s lifetime to the report.
    fn count_link(&mut self, i: usize, core: &Core) {
        if let Some(link) = core.endpoint().link(&self.peer_id(i)) {
            let counters = link.counters();
            self.report.retransmissions += counters.retransmissions;
            self.report.duplicates_dropped += counters.duplicates_dropped;
        }
    }

    fn set_up_command(&mut self, i: usize, command: Command) -> Outcome {
        let now_ms = self.now_ms;
        let station = &mut self.stations[i];
        let core = station.core.as_mut().expect("up");
        core.handle(
            now_ms,
            Input::Command {
                id: RequestId(0),
                command,
            },
        );
        let commit = core.poll_commit().expect("a setup command writes");
        station
            .store
            .commit_batch(&commit.admin, &commit.ops)
            .map_err(|e| format!("{} set-up commit: {e}", NAMES[i]))?;
        core.commit_done(Ok(()));
        while let Some(output) = core.poll_output() {
            if let Output::Reply {
                result: Err(error), ..
            } = output
            {
                return Err(format!("{} set-up refused: {error}", NAMES[i]));
            }
        }
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
        for i in 0..2 {
            self.flush(i)?;
            let gap = self.dice.below(self.config.send_gap_ms_max + 1);
            self.push(gap, Event::Send { station: i });
            self.plan_crash(i);
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
        self.maybe_heal()?; // a workload of no messages is done at once
        loop {
            if matches!(self.phase, Phase::Heal { .. }) && self.quiescent() {
                for i in 0..2 {
                    if let Some(core) = self.stations[i].core.take() {
                        self.count_link(i, &core);
                        self.stations[i].core = Some(core);
                    }
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

    pub(crate) fn peer_id(&self, i: usize) -> StationId {
        self.stations[1 - i].identity.id()
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn step(&mut self, event: Event) -> Outcome {
        match event {
            Event::Deliver {
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
                self.frame(to, channel, &frame, None)
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
            Event::Answer {
                station,
                id,
                clarify,
            } => self.answer(station, id, clarify),
        }
    }

    /// The transport a channel index is, seen from station `i`.
    fn via(&self, i: usize, channel: usize) -> Via {
        match self.channels[channel].kind {
            ChannelKind::Direct => Via::Direct(self.peer_id(i)),
            _ => Via::Relay(0),
        }
    }

    /// The channel the adversary injects on: the relay when there is one (a direct frame comes
    /// only from a QUIC-authenticated peer), else the direct channel.
    pub(crate) fn attack_channel(&self) -> usize {
        self.channels.len() - 1
    }

    /// The channel index of a transmit's transport.
    fn channel_of(transmit: &Transmit) -> usize {
        match transmit.via {
            Via::Direct(_) => 0,
            _ => 1,
        }
    }

    fn send(&mut self, i: usize) -> Outcome {
        let station = &self.stations[i];
        if station.accepted.len() >= self.config.messages_per_station || station.asked.is_some() {
            return Ok(());
        }
        if station.core.is_none() {
            self.push(SEND_RETRY_MS, Event::Send { station: i });
            return Ok(());
        }
        if self.stations[i].draft.is_none() {
            let draft = self.draft();
            self.stations[i].draft = Some(draft);
        }
        let now_ms = self.now_ms;
        let station = &mut self.stations[i];
        let draft = station.draft.clone().expect("drafted above");
        station.next_request += 1;
        let id = RequestId(station.next_request);
        station.asked = Some(id);
        let command = Command::Send {
            peer: NAMES[1 - i].into(),
            precedence: draft.precedence,
            text: draft.text,
            exercise: false,
            translations: Default::default(),
            operator: Some(format!("operator {}", NAMES[i])),
        };
        let core = station.core.as_mut().expect("checked above");
        core.handle(now_ms, Input::Command { id, command });
        self.after_input(i)
    }

    /// An operator answers: through the core's command, as at a real station. A crashed
    /// station's operator waits for it to come back.
    fn answer(&mut self, i: usize, id: EntryId, clarify: bool) -> Outcome {
        let now_ms = self.now_ms;
        let station = &mut self.stations[i];
        let Some(core) = station.core.as_mut() else {
            self.push(
                SEND_RETRY_MS,
                Event::Answer {
                    station: i,
                    id,
                    clarify,
                },
            );
            return Ok(());
        };
        station.next_request += 1;
        let request = RequestId(station.next_request);
        station.answering.insert(request, (id, clarify));
        let (id_text, operator) = (id.to_string(), format!("operator {}", NAMES[i]));
        let command = if clarify {
            Command::Clarify {
                id: id_text,
                question: "which unit?".into(),
                operator,
            }
        } else {
            Command::Understood {
                id: id_text,
                restatement: None,
                operator,
            }
        };
        core.handle(
            now_ms,
            Input::Command {
                id: request,
                command,
            },
        );
        self.after_input(i)
    }

    fn draft(&mut self) -> Draft {
        // One-, two- and three-byte characters, so the text limit is met in UTF-8 bytes.
        const ALPHABET: [char; 8] = ['a', 'e', 'n', 't', ' ', '.', 'ж', '€'];
        let precedence = Precedence::ALL[self.dice.below(4) as usize];
        let len = if self.dice.chance(self.config.large_text_per_mille) {
            TEXT_SIZE_MAX_BYTES - self.dice.below(64) as usize
        } else {
            1 + self.dice.below(TEXT_SHORT_BYTES_MAX) as usize
        };
        let mut text = String::with_capacity(len);
        while text.len() < len {
            let c = ALPHABET[self.dice.below(ALPHABET.len() as u64) as usize];
            text.push(if text.len() + c.len_utf8() <= len {
                c
            } else {
                'x'
            });
        }
        Draft { precedence, text }
    }

    /// Hands a frame to station `i` as if it came off `channel`. Authentic frames (replays
    /// too) must be accepted; tampered and forged ones refused without a write or a change to
    /// the link's state.
    fn frame(&mut self, i: usize, channel: usize, bytes: &[u8], attack: Option<Attack>) -> Outcome {
        let (now_ms, peer, via) = (self.now_ms, self.peer_id(i), self.via(i, channel));
        let Some(core) = self.stations[i].core.as_mut() else {
            self.report.frames_dropped += u64::from(attack.is_none());
            return Ok(());
        };
        // Duties already due run first (as `handle` would), so what follows is the frame's.
        core.catch_up(now_ms);
        let before = link_view(core, &peer);
        let rejected_before = rejections(core, &peer);
        core.handle(
            now_ms,
            Input::Frame {
                via,
                bytes: bytes.to_vec(),
            },
        );
        let after = link_view(core, &peer);
        let refused = rejections(core, &peer) > rejected_before;
        let name = NAMES[i];
        let forged = attack.filter(|a| *a != Attack::Replay);
        match (refused, forged) {
            (false, Some(attack)) => {
                return Err(format!("{name} accepted a {attack:?} frame"));
            }
            (false, None) => {}
            (true, Some(attack)) => {
                self.report.attacks_rejected += 1;
                if before != after {
                    return Err(format!(
                        "{name} rejected a {attack:?} frame but changed state: \
                         link {before:?} -> {after:?}"
                    ));
                }
            }
            (true, None) => {
                return Err(format!("{name} rejected an authentic frame ({attack:?})"));
            }
        }
        self.after_input(i)
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

    /// Checks what the core released: every answer to a send names an entry already durable;
    /// heads only grow; honest runs raise no alarm.
    fn drain_outputs(&mut self, i: usize) -> Outcome {
        let name = NAMES[i];
        let peer = self.peer_id(i);
        loop {
            let station = &mut self.stations[i];
            let Some(core) = station.core.as_mut() else {
                return Ok(());
            };
            let Some(output) = core.poll_output() else {
                return Ok(());
            };
            match output {
                Output::Reply { id, result } if station.answering.contains_key(&id) => {
                    let (of, _) = station.answering.remove(&id).expect("checked");
                    match result {
                        Ok(Reply::Answered(_)) => self.report.answers += 1,
                        // The answer was durable before a crash swallowed its reply.
                        Err(error) if error.message.contains("already") => {}
                        other => {
                            return Err(format!(
                                "{name}'s operator could not answer {of}: {other:?}"
                            ));
                        }
                    }
                    self.answers_pending -= 1;
                }
                Output::Reply { id, result } => {
                    if station.asked != Some(id) {
                        continue;
                    }
                    let sent = match result {
                        Ok(Reply::Sent(sent)) => sent,
                        other => return Err(format!("{name} refused a valid message: {other:?}")),
                    };
                    let me = station.identity.id();
                    let durable = station
                        .store
                        .entry_id_at(&peer, &me, sent.seq)
                        .map_err(|e| e.to_string())?;
                    if durable != Some(sent.id) {
                        return Err(format!(
                            "{name} answered send with seq {} before it was durable",
                            sent.seq
                        ));
                    }
                    let draft = station.draft.take().expect("a send was asked");
                    station.asked = None;
                    station.accepted.push(Accepted {
                        seq: sent.seq,
                        id: sent.id,
                        precedence: draft.precedence,
                        text: draft.text,
                    });
                    self.report.messages_accepted += 1;
                    if self.stations[i].accepted.len() < self.config.messages_per_station {
                        let gap = self.dice.below(self.config.send_gap_ms_max + 1);
                        self.push(gap, Event::Send { station: i });
                    }
                    self.maybe_heal()?;
                }
                Output::Event(StationEvent::Delivered { upto, .. }) => {
                    if upto <= station.delivered_head {
                        return Err(format!(
                            "{name} delivered up to {upto} after already delivering up to {}",
                            station.delivered_head
                        ));
                    }
                    station.delivered_head = upto;
                }
                Output::Event(StationEvent::MessageStored { id, .. }) if self.config.watch => {
                    if !self.dice.chance(NEVER_ANSWERED_PER_MILLE) {
                        let delay_ms = self.dice.below(ANSWER_DELAY_MS_MAX + 1);
                        let clarify = self.dice.chance(CLARIFY_PER_MILLE);
                        self.answers_pending += 1;
                        self.push(
                            delay_ms,
                            Event::Answer {
                                station: i,
                                id,
                                clarify,
                            },
                        );
                    }
                }
                Output::Event(StationEvent::Alarm { change, alarm })
                    if change == AlarmEvent::Raised && !accuses(alarm.kind) =>
                {
                    self.report.alarms_raised += 1;
                    match alarm.kind {
                        AlarmKind::TestMissed => self.report.tests_missed += 1,
                        AlarmKind::ExpectedTestNotReceived => self.report.tests_not_received += 1,
                        _ => {}
                    }
                    station.raised.push((alarm.id, alarm.kind, alarm.subject));
                }
                Output::Event(StationEvent::Alarm { change, alarm })
                    if change == AlarmEvent::Raised && accuses(alarm.kind) =>
                {
                    return Err(format!(
                        "{name} raised a {} alarm: {}",
                        alarm.kind, alarm.detail
                    ));
                }
                Output::Event(_) | Output::Ack { .. } | Output::Start(_) | Output::Kick(_) => {}
            }
        }
    }

    /// Starts committing what the core wrote; the station transmits nothing until it
    /// completes, and a crash may come first and lose it. With nothing to commit, transmits.
    /// With a commit in flight, does nothing: its completion flushes. (What the core released
    /// at a completion can start the next commit before that completion's own flush.)
    fn flush(&mut self, i: usize) -> Outcome {
        if self.stations[i].commit.is_some() {
            return Ok(());
        }
        let Some(commit) = self.stations[i].core.as_mut().and_then(Core::poll_commit) else {
            return self.pump(i);
        };
        let delay_ms = self.dice.between((0, COMMIT_MS_MAX));
        let crash_first = self.config.crashes
            && self.phase == Phase::Workload
            && self.dice.chance(self.config.crash_in_commit_per_mille);
        if crash_first {
            // Queued before the commit's completion, so it wins a tie.
            let crash_ms = self.dice.between((0, delay_ms));
            let crash = Event::Crash {
                station: i,
                planned: false,
            };
            self.push(crash_ms, crash);
        }
        let station = &mut self.stations[i];
        station.commit = Some(commit);
        let incarnation = station.incarnation;
        self.push(
            delay_ms,
            Event::CommitDone {
                station: i,
                incarnation,
            },
        );
        Ok(())
    }

    fn commit_done(&mut self, i: usize) -> Outcome {
        let commit = self.stations[i]
            .commit
            .take()
            .expect("a commit is in flight");
        self.write_disk(i, commit, true)?;
        let core = self.stations[i].core.as_mut().expect("a live station");
        core.commit_done(Ok(()));
        self.drain_outputs(i)?;
        self.flush(i)
    }

    /// Applies a commit to the store, after checking the receipts in it are backed. A lossy
    /// disk drops its op from a commit the station goes on to acknowledge (`acknowledged`).
    fn write_disk(&mut self, i: usize, mut commit: Commit, acknowledged: bool) -> Outcome {
        if self.config.lossy_disk && acknowledged && i == 0 && !self.lossy_disk_dropped {
            let lost = commit.ops.iter().position(|op| {
                matches!(op, StoreOp::AppendOwn { entry, .. } if entry.entry().seq >= LOSSY_DISK_SEQ)
            });
            if let Some(index) = lost {
                commit.ops.remove(index);
                self.lossy_disk_dropped = true;
            }
        }
        let head = self.stations[i].delivered_log.last().copied().unwrap_or(0);
        for op in &commit.ops {
            match op {
                StoreOp::MarkDelivered { upto, extra, .. } => {
                    self.check_receipt_backed(i, *upto, extra)?;
                }
                StoreOp::StorePeerEntry { entry, .. } if entry.entry().seq > head + 1 => {
                    self.report.held_out_of_order += 1;
                }
                _ => {}
            }
        }
        let name = NAMES[i];
        let station = &mut self.stations[i];
        station
            .store
            .commit_batch(&commit.admin, &commit.ops)
            .map_err(|e| format!("{name}'s store refused a commit: {e}"))?;
        for op in &commit.ops {
            if let StoreOp::AdvanceInHead { upto, .. } = op {
                // The log holds every seq the in-head passed, so its last is the head.
                let from = station.delivered_log.last().copied().unwrap_or(0);
                station.delivered_log.extend(from + 1..=*upto);
            }
        }
        Ok(())
    }

    /// Station `i` crashed while writing `commit`: the commit reaches its files torn, and the
    /// station restarts from them, the torn commit dropped whole (which `Disk::tear` checks).
    fn tear(&mut self, i: usize, commit: Commit) -> Outcome {
        let peer = self.peer_id(i);
        let station = &self.stations[i];
        let before = station.disk.before_commit(&station.store, &peer)?;
        let delivered = station.delivered_log.len();
        self.write_disk(i, commit, false)?;
        match self.stations[i].disk.tear(before, &peer, &mut self.dice)? {
            Some((store, disk)) => {
                let station = &mut self.stations[i];
                station.store = store;
                station.disk = disk;
                station.delivered_log.truncate(delivered);
                self.report.commits_torn += 1;
            }
            // The commit wrote no frame to the log: there is nothing to tear.
            None => self.report.commits_unacknowledged += 1,
        }
        Ok(())
    }

    /// A receipt may only cover entries the receiver has durably stored (persist before
    /// acknowledging); checked against the receiver's store when the sender commits it.
    fn check_receipt_backed(&self, i: usize, upto: u64, extra: &[u64]) -> Outcome {
        let (me, peer) = (self.stations[i].identity.id(), self.peer_id(i));
        let (own, holder) = (&self.stations[i].store, &self.stations[1 - i].store);
        for seq in (1..=upto).chain(extra.iter().copied()) {
            let written = own
                .entry_id_at(&peer, &me, seq)
                .map_err(|e| e.to_string())?;
            let held = holder
                .entry_id_at(&me, &me, seq)
                .map_err(|e| e.to_string())?;
            if written.is_none() || held != written {
                return Err(format!(
                    "{} committed a receipt from {} covering seq {seq}: written {written:?}, \
                     durably held {held:?}",
                    NAMES[i],
                    NAMES[1 - i]
                ));
            }
        }
        Ok(())
    }

    /// Puts the core's frames on the wire, then commits what that wrote or schedules the
    /// core's next timer. Only called when nothing is in flight.
    fn pump(&mut self, i: usize) -> Outcome {
        let now_ms = self.now_ms;
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
            // The first transmission of an entry is recorded after it left; losing that record
            // to a crash merely resends the frame.
            return self.flush(i);
        }
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
        let station = &mut self.stations[i];
        let current = station.incarnation == incarnation && station.core.is_some();
        if !current || station.wake_at != Some(self.now_ms) {
            return Ok(());
        }
        station.wake_at = None;
        let now_ms = self.now_ms;
        if let Some(core) = station.core.as_mut() {
            core.handle_timeout(now_ms);
        }
        self.drain_outputs(i)?;
        if self.stations[i].commit.is_some() {
            return Ok(()); // the commit's completion flushes, then pumps
        }
        self.flush(i)
    }

    fn transmit(&mut self, from: usize, transmit: Transmit) {
        let to = 1 - from;
        let index = Self::channel_of(&transmit);
        self.report.frames_sent += 1;
        self.remember(to, &transmit.frame);
        let channel = &self.channels[index];
        let (up, generation, delay_ms) = (channel.up, channel.generation, channel.delay_ms);
        if !up || self.dice.chance(self.config.loss_per_mille) {
            self.report.frames_dropped += 1;
            return;
        }
        let mut copies = 1;
        if self.dice.chance(self.config.duplicate_per_mille) {
            self.report.frames_duplicated += 1;
            copies = 2;
        }
        for _ in 0..copies {
            let mut delay = self.dice.between(delay_ms);
            if self.dice.chance(self.config.late_per_mille) {
                delay += self.dice.between((0, LATE_EXTRA_MS_MAX));
            }
            let frame = transmit.frame.clone();
            let deliver = Event::Deliver {
                to,
                channel: index,
                generation,
                frame,
            };
            self.push(delay, deliver);
        }
    }

    fn plan_crash(&mut self, i: usize) {
        if self.config.crashes && self.phase == Phase::Workload && !self.stations[i].planned_crash {
            self.stations[i].planned_crash = true;
            let gap = self.dice.between(CRASH_GAP_MS);
            let crash = Event::Crash {
                station: i,
                planned: true,
            };
            self.push(gap, crash);
        }
    }

    /// Drops the core with everything uncommitted. The commit in flight is lost, or half the
    /// time reaches the disk just before the crash, too late to tell the operator their send
    /// was accepted: they retry it, and the log holds the message twice (at-least-once).
    fn crash(&mut self, i: usize, planned: bool) -> Outcome {
        let station = &mut self.stations[i];
        if planned {
            station.planned_crash = false;
        }
        if self.phase != Phase::Workload || station.core.is_none() {
            return Ok(());
        }
        self.retire_core(i);
        let station = &mut self.stations[i];
        station.down.push((self.now_ms, u64::MAX));
        let lost_send = station.asked.take().is_some();
        if let Some(commit) = station.commit.take() {
            if self.dice.chance(500) {
                self.report.commits_unacknowledged += 1;
                self.write_disk(i, commit, false)?;
            } else if station.disk.tears() && self.dice.chance(500) {
                self.tear(i, commit)?;
            } else {
                self.report.commits_lost += 1;
            }
        }
        let station = &mut self.stations[i];
        station.incarnation += 1;
        station.wake_at = None;
        let asked: Vec<(EntryId, bool)> = std::mem::take(&mut station.answering)
            .into_values()
            .collect();
        self.report.crashes += 1;
        let downtime_ms = self.dice.between(DOWNTIME_MS);
        self.push(downtime_ms, Event::Restart { station: i });
        // The operator asks again whatever the crash swallowed.
        for (id, clarify) in asked {
            self.push(
                downtime_ms + SEND_RETRY_MS,
                Event::Answer {
                    station: i,
                    id,
                    clarify,
                },
            );
        }
        if lost_send {
            self.push(downtime_ms, Event::Send { station: i });
        }
        Ok(())
    }

    /// Rebuilds the core from the store exactly as a daemon does (the store's check included,
    /// which must pass on every store a crash leaves), with a fresh generator seed from the
    /// run's dice, and tells it which channels are up.
    fn restart(&mut self, i: usize) -> Outcome {
        if self.stations[i].core.is_some() {
            return Ok(());
        }
        let (now_ms, seed, peer) = (self.now_ms, self.dice.seed(), self.peer_id(i));
        let station = &mut self.stations[i];
        if let Some((_, until_ms)) = station.down.last_mut()
            && *until_ms == u64::MAX
        {
            *until_ms = now_ms;
        }
        station
            .store
            .check()
            .map_err(|e| format!("{}'s store fails its check after a crash: {e}", NAMES[i]))?;
        let loaded = load(
            &station.store,
            station.identity.clone(),
            &station.config,
            seed,
        )
        .map_err(|e| format!("{} cannot load from its store: {e}", NAMES[i]))?;
        let mut core = Core::new(now_ms, loaded, Mode::Daemon)
            .map_err(|e| format!("{} cannot restart: {e}", NAMES[i]))?;
        if self.config.answer_before_commit {
            core.inject_fault(Fault::AnswerBeforeCommit);
        }
        station.delivered_head = core.endpoint().link(&peer).map_or(0, |link| link.in_head());
        station.core = Some(core);
        self.announce_channels(i);
        self.plan_crash(i);
        self.after_input(i)
    }

    /// Tells station `i` which channels it should believe are up.
    fn announce_channels(&mut self, i: usize) {
        let now_ms = self.now_ms;
        let vias: Vec<Via> = (0..self.channels.len())
            .filter(|c| self.channels[*c].announced_up)
            .map(|c| self.via(i, c))
            .collect();
        let Some(core) = self.stations[i].core.as_mut() else {
            return;
        };
        for via in vias {
            let signal = Signal::Connected {
                rtt_us: Some(1_000),
            };
            core.handle(now_ms, Input::Health { via, signal });
        }
    }

    fn toggle(&mut self, channel: usize) -> Outcome {
        if self.phase != Phase::Workload {
            return Ok(());
        }
        let up = !self.channels[channel].up;
        let (least, most) = if up { CHANNEL_UP_MS } else { CHANNEL_DOWN_MS };
        let next_ms = self.dice.between((least, most));
        self.push(next_ms, Event::Toggle { channel });
        if !up {
            self.report.partitions += 1;
        }
        let silent = !up && self.dice.chance(SILENT_OUTAGE_PER_MILLE);
        self.set_channel(channel, up, !silent)
    }

    /// Sets a channel up or down on the wire, and at both live stations if `announce`.
    fn set_channel(&mut self, channel: usize, up: bool, announce: bool) -> Outcome {
        let state = &mut self.channels[channel];
        state.up = up;
        if !up {
            state.generation += 1;
        }
        if !announce || state.announced_up == up {
            return Ok(());
        }
        state.announced_up = up;
        for i in 0..2 {
            let (now_ms, via) = (self.now_ms, self.via(i, channel));
            let Some(core) = self.stations[i].core.as_mut() else {
                continue;
            };
            let signal = match up {
                true => Signal::Connected {
                    rtt_us: Some(1_000),
                },
                false => Signal::Lost {
                    reason: "partition".into(),
                },
            };
            core.handle(now_ms, Input::Health { via, signal });
            self.after_input(i)?;
        }
        Ok(())
    }

    fn maybe_heal(&mut self) -> Outcome {
        let quota = self.config.messages_per_station;
        if self.phase != Phase::Workload || self.stations.iter().any(|s| s.accepted.len() < quota) {
            return Ok(());
        }
        self.phase = Phase::Heal {
            since_ms: self.now_ms,
        };
        for channel in 0..self.channels.len() {
            if !self.channels[channel].up || !self.channels[channel].announced_up {
                self.set_channel(channel, true, true)?;
            }
        }
        Ok(())
    }

    /// Every accepted message receipted and every entry delivered, nothing in flight at a
    /// station.
    fn quiescent(&self) -> bool {
        (0..2).all(|i| {
            let (station, peer) = (&self.stations[i], &self.stations[1 - i]);
            let (Some(core), Some(peer_core)) = (&station.core, &peer.core) else {
                return false;
            };
            let link = core.endpoint().link(&peer.identity.id()).expect("paired");
            let peer_link = peer_core
                .endpoint()
                .link(&station.identity.id())
                .expect("paired");
            station.commit.is_none()
                && self.answers_pending == 0
                && core.deadlines_pending() == 0
                && core.uncommitted_writes() == 0
                && link.outbox_depth() == 0
                && peer_link.in_head() == link.out_seq()
                && peer_link.in_pending() == 0
        })
    }

    fn status(&self) -> String {
        let describe = |i: usize| {
            let (station, peer) = (&self.stations[i], &self.stations[1 - i]);
            let link = station
                .core
                .as_ref()
                .and_then(|core| core.endpoint().link(&peer.identity.id()));
            format!(
                "{} up={} accepted={} written={:?} unreceipted={:?}",
                NAMES[i],
                station.core.is_some(),
                station.accepted.len(),
                link.map(|l| l.out_seq()),
                link.map(|l| l.outbox_depth()),
            )
        };
        format!("{}; {}", describe(0), describe(1))
    }
}

/// How many frames from `peer` (or claiming no one) the core has refused so far.
fn rejections(core: &Core, peer: &StationId) -> u64 {
    let link = core.endpoint().link(peer).expect("paired");
    link.counters().rejected.values().sum::<u64>()
        + core
            .endpoint()
            .unattributed_rejections()
            .values()
            .sum::<u64>()
}
