//! The simulated world: two stations, their channels, a clock and an event queue.
//!
//! Each station is driven the way the station daemon drives its endpoint, with group commit:
//! after every `handle_frame` or `send_message` the store ops are taken and queued; a commit
//! takes 0–2 simulated ms, and what arrives meanwhile is handled at once and rides the next
//! commit. Only when nothing taken is uncommitted does the station run `handle_timeout` and put
//! transmits on the wire. A crash drops the endpoint and the queued ops; the commit in flight
//! is lost or, just as likely, durable but never acknowledged. A `send` counts as accepted when
//! the commit that carries it completes.

use std::collections::BTreeMap;
use std::sync::Arc;

mod adversary;

use parley_proto::limits::TEXT_SIZE_MAX_BYTES;
use parley_proto::{
    ChannelId, ChannelKind, Endpoint, EntryId, EpochSecret, Event as ProtoEvent, Identity, Keyring,
    Precedence, StationId, StoreOp, Transmit,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use self::adversary::{ATTACK_GAP_MS, Attack};
use crate::disk::Disk;
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
/// Chance that an outage is silent (a blackhole the endpoints are not told of), per mille.
const SILENT_OUTAGE_PER_MILLE: u64 = 300;
/// Time from a restart to the next planned crash, in milliseconds (least, most).
const CRASH_GAP_MS: (u64, u64) = (5_000, 40_000);
/// How long a crashed station stays down, in milliseconds (least, most).
const DOWNTIME_MS: (u64, u64) = (50, 5_000);
/// Longest the workload phase may last, in simulated milliseconds.
const WORKLOAD_MS_MAX: u64 = 24 * 3_600_000;
/// Most events one run may process before it is declared stuck.
const EVENTS_MAX: u64 = 5_000_000;
/// The own seq station A's lossy disk drops (the second message; seq 1 announces the key).
const LOSSY_DISK_SEQ: u64 = 3;

/// The run's only source of randomness.
struct Dice(ChaCha20Rng);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "a die needs at least one face");
        self.0.next_u64() % n
    }

    fn between(&mut self, (least, most): (u64, u64)) -> u64 {
        least + self.below(most - least + 1)
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.0.fill_bytes(&mut seed);
        seed
    }
}

/// Work for a station.
enum Input {
    Send,
    /// A frame off the network, or injected by the adversary.
    Frame {
        bytes: Arc<[u8]>,
        attack: Option<Attack>,
    },
}

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
}

/// A message `send` accepted.
pub(crate) struct Accepted {
    pub seq: u64,
    pub id: EntryId,
    pub precedence: Precedence,
    pub text: String,
}

/// The message an operator is sending (kept until accepted, so a crash makes them retry it).
struct Draft {
    precedence: Precedence,
    text: String,
}

/// One batch of store ops, and the sends it makes accepted.
#[derive(Default)]
struct Batch {
    ops: Vec<StoreOp>,
    accepted: Vec<Accepted>,
}

pub(crate) struct Station {
    pub identity: Identity,
    keyring: Keyring,
    /// `None` while crashed.
    pub endpoint: Option<Endpoint>,
    pub disk: Disk,
    /// Bumped at each crash; events of an older incarnation are ignored.
    incarnation: u64,
    /// The batch being committed.
    commit: Option<Batch>,
    /// Ops taken while a commit is in flight: the next batch. Empty when no commit is.
    queued: Batch,
    wake_at: Option<u64>,
    /// Highest `Delivered` head seen in this incarnation.
    delivered_head: u64,
    planned_crash: bool,
    draft: Option<Draft>,
    pub accepted: Vec<Accepted>,
}

struct Channel {
    kind: ChannelKind,
    /// Whether frames get through.
    up: bool,
    /// Whether the endpoints were told it is up; a silent outage (blackhole) leaves them
    /// believing it is.
    announced_up: bool,
    /// Bumped when the channel goes down: frames of an older generation are lost.
    generation: u64,
    delay_ms: (u64, u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sends, loss, partitions, crashes and attacks.
    Workload,
    /// Every station up, every channel up, no more crashes or attacks (loss goes on).
    Heal { since_ms: u64 },
}

pub(crate) struct World<'c> {
    pub config: &'c SimConfig,
    dice: Dice,
    now_ms: u64,
    queue: BTreeMap<(u64, u64), Event>,
    next_event: u64,
    pub stations: [Station; 2],
    channels: Vec<Channel>,
    phase: Phase,
    mallory: Identity,
    replay_pool: Vec<(usize, Arc<[u8]>)>,
    lossy_disk_dropped: bool,
    pub report: SimReport,
}

/// What a rejected frame must leave unchanged in memory: out seq, outbox depth, in head,
/// pending count and receipt bound.
fn link_view(endpoint: &Endpoint, peer: &StationId) -> [u64; 5] {
    let link = endpoint.link(peer).expect("stations are paired at start");
    [
        link.out_seq(),
        link.outbox_depth() as u64,
        link.in_head(),
        link.in_pending() as u64,
        link.peer_receipt_upto(),
    ]
}

impl<'c> World<'c> {
    /// Creates both stations from the seed and pairs them (committed at once, no crash).
    pub fn new(seed: u64, config: &'c SimConfig) -> Outcome<Self> {
        let mut dice = Dice(ChaCha20Rng::seed_from_u64(seed));
        let identities = [0, 1].map(|_| Identity::from_secret(&dice.seed()));
        let keyrings = [0, 1].map(|_| Keyring::new(EpochSecret::generate(&mut dice.0)));
        let mallory = Identity::from_secret(&dice.seed());
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
        let mut stations = Vec::new();
        for i in 0..2 {
            let peer = identities[1 - i].id();
            let peer_public = keyrings[1 - i].current().public_bytes().to_vec();
            let mut endpoint =
                Endpoint::new(identities[i].clone(), keyrings[i].clone(), dice.seed());
            endpoint
                .pair(START_MS, peer, peer_public.clone())
                .map_err(|e| format!("{} cannot pair: {e}", NAMES[i]))?;
            let link = endpoint.link_mut(&peer).expect("paired above");
            for (c, channel) in channels.iter().enumerate() {
                let id = ChannelId(c as u16);
                link.add_channel(id, channel.kind);
                link.set_channel_up(START_MS, id, true);
            }
            let mut disk = Disk::paired(peer_public);
            disk.commit(endpoint.take_writes())?;
            stations.push(Station {
                identity: identities[i].clone(),
                keyring: keyrings[i].clone(),
                endpoint: Some(endpoint),
                disk,
                incarnation: 0,
                commit: None,
                queued: Batch::default(),
                wake_at: None,
                delivered_head: 0,
                planned_crash: false,
                draft: None,
                accepted: Vec::new(),
            });
        }
        Ok(Self {
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
            report: SimReport::default(),
        })
    }

    pub fn simulated_ms(&self) -> u64 {
        self.now_ms - START_MS
    }

    /// Runs the workload, heals, runs to quiescence and checks the final state.
    pub fn run(&mut self) -> Outcome {
        for i in 0..2 {
            self.pump(i)?;
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
            self.step(event)?;
        }
    }

    fn push(&mut self, after_ms: u64, event: Event) {
        self.next_event += 1;
        self.queue
            .insert((self.now_ms + after_ms, self.next_event), event);
    }

    fn peer_id(&self, i: usize) -> StationId {
        self.stations[1 - i].identity.id()
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
                let (bytes, attack) = (frame, None);
                self.input(to, Input::Frame { bytes, attack })
            }
            Event::Send { station } => self.input(station, Input::Send),
            Event::CommitDone {
                station,
                incarnation,
            } if self.stations[station].incarnation == incarnation => self.commit_done(station),
            Event::Wake {
                station,
                incarnation,
            } => self.wake(station, incarnation),
            Event::Crash { station, planned } => self.crash(station, planned),
            Event::Restart { station } => self.restart(station),
            Event::Toggle { channel } => self.toggle(channel),
            Event::Attack => self.attack(),
            Event::CommitDone { .. } => Ok(()),
        }
    }

    /// Hands work to a live station; a crashed one loses frames and has its sends retried.
    fn input(&mut self, i: usize, input: Input) -> Outcome {
        match input {
            _ if self.stations[i].endpoint.is_some() => match input {
                Input::Send => self.send(i),
                Input::Frame { bytes, attack } => self.frame(i, &bytes, attack),
            },
            Input::Send => {
                self.push(SEND_RETRY_MS, Event::Send { station: i });
                Ok(())
            }
            Input::Frame { attack, .. } => {
                self.report.frames_dropped += u64::from(attack.is_none());
                Ok(())
            }
        }
    }

    fn send(&mut self, i: usize) -> Outcome {
        if self.stations[i].accepted.len() >= self.config.messages_per_station {
            return Ok(());
        }
        if self.stations[i].draft.is_none() {
            self.stations[i].draft = Some(self.draft());
        }
        let (now_ms, peer) = (self.now_ms, self.peer_id(i));
        let station = &mut self.stations[i];
        let draft = station.draft.as_ref().expect("drafted above");
        let endpoint = station.endpoint.as_mut().expect("only live stations send");
        let (seq, id) = endpoint
            .send_message(now_ms, &peer, draft.precedence, &draft.text, "en")
            .map_err(|e| format!("{} refused a valid message: {e}", NAMES[i]))?;
        let accepted = Accepted {
            seq,
            id,
            precedence: draft.precedence,
            text: draft.text.clone(),
        };
        let ops = endpoint.take_writes();
        self.drain_events(i)?;
        self.enqueue(i, ops, Some(accepted))
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

    /// Hands a frame to the endpoint. Authentic frames (replays too) must be accepted; tampered
    /// and forged ones rejected without a store op or a change to the link's state.
    fn frame(&mut self, i: usize, bytes: &[u8], attack: Option<Attack>) -> Outcome {
        let (now_ms, peer) = (self.now_ms, self.peer_id(i));
        let endpoint = self.stations[i]
            .endpoint
            .as_mut()
            .expect("only live stations");
        let before = link_view(endpoint, &peer);
        let result = endpoint.handle_frame(now_ms, bytes);
        let after = link_view(endpoint, &peer);
        let ops = endpoint.take_writes();
        self.drain_events(i)?;
        let name = NAMES[i];
        let forged = attack.filter(|a| *a != Attack::Replay);
        match (result, forged) {
            (Ok(from), Some(attack)) => {
                return Err(format!(
                    "{name} accepted a {attack:?} frame claiming {from:?}"
                ));
            }
            (Ok(accepted), _) if accepted.peer != peer => {
                let from = accepted.peer;
                return Err(format!(
                    "{name} accepted a frame from {from:?}, not its peer"
                ));
            }
            (Ok(_), _) => {}
            (Err(rejection), Some(attack)) => {
                self.report.attacks_rejected += 1;
                if !ops.is_empty() || before != after {
                    return Err(format!(
                        "{name} rejected a {attack:?} frame ({rejection}) but changed state: \
                         {} store ops, link {before:?} -> {after:?}",
                        ops.len()
                    ));
                }
            }
            (Err(rejection), None) => {
                return Err(format!(
                    "{name} rejected an authentic frame ({attack:?}): {rejection}"
                ));
            }
        }
        self.enqueue(i, ops, None)
    }

    /// Checks the endpoint's events: heads only grow, and honest runs raise no alarm.
    fn drain_events(&mut self, i: usize) -> Outcome {
        let station = &mut self.stations[i];
        let endpoint = station.endpoint.as_mut().expect("only live stations");
        while let Some(event) = endpoint.poll_event() {
            match event {
                ProtoEvent::Delivered { upto, .. } if upto <= station.delivered_head => {
                    return Err(format!(
                        "{} delivered up to {upto} after already delivering up to {}",
                        NAMES[i], station.delivered_head
                    ));
                }
                ProtoEvent::Delivered { upto, .. } => station.delivered_head = upto,
                ProtoEvent::Alarm { kind, seq, .. } => {
                    return Err(format!("{} raised a {kind} alarm at seq {seq}", NAMES[i]));
                }
                ProtoEvent::Receipted { .. } => {}
            }
        }
        Ok(())
    }

    /// Queues ops for the next commit, and starts it unless one is in flight.
    fn enqueue(&mut self, i: usize, ops: Vec<StoreOp>, accepted: Option<Accepted>) -> Outcome {
        let station = &mut self.stations[i];
        station.queued.ops.extend(ops);
        station.queued.accepted.extend(accepted);
        if station.commit.is_some() {
            return Ok(());
        }
        self.flush(i)
    }

    /// Starts committing the queued batch; the station transmits nothing until it completes,
    /// and a crash may come first and lose it. With nothing queued, runs the timers instead.
    fn flush(&mut self, i: usize) -> Outcome {
        let batch = std::mem::take(&mut self.stations[i].queued);
        if batch.ops.is_empty() {
            assert!(batch.accepted.is_empty(), "an accepted send always writes");
            return self.pump(i);
        }
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
        station.commit = Some(batch);
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
        self.write_disk(i, commit.ops)?;
        for accepted in commit.accepted {
            self.stations[i].accepted.push(accepted);
            self.stations[i].draft = None;
            self.report.messages_accepted += 1;
            if self.stations[i].accepted.len() < self.config.messages_per_station {
                let gap = self.dice.below(self.config.send_gap_ms_max + 1);
                self.push(gap, Event::Send { station: i });
            }
        }
        self.flush(i)?;
        self.maybe_heal()
    }

    /// Applies a batch to the disk, after checking the receipts in it are backed.
    fn write_disk(&mut self, i: usize, mut ops: Vec<StoreOp>) -> Outcome {
        if self.config.lossy_disk && i == 0 && !self.lossy_disk_dropped {
            let lost = ops.iter().position(|op| {
                matches!(op, StoreOp::AppendOwn { entry, .. } if entry.entry().seq == LOSSY_DISK_SEQ)
            });
            if let Some(index) = lost {
                ops.remove(index);
                self.lossy_disk_dropped = true;
            }
        }
        for op in &ops {
            if let StoreOp::MarkDelivered { upto, extra, .. } = op {
                self.check_receipt_backed(i, *upto, extra)?;
            }
        }
        let name = NAMES[i];
        let disk = &mut self.stations[i].disk;
        disk.commit(ops).map_err(|e| format!("{name}'s disk: {e}"))
    }

    /// A receipt may only cover entries the receiver has durably stored (persist before
    /// acknowledging); checked against the receiver's disk when the sender commits it.
    fn check_receipt_backed(&self, i: usize, upto: u64, extra: &[u64]) -> Outcome {
        let (own, holder) = (&self.stations[i].disk, &self.stations[1 - i].disk);
        for seq in (1..=upto).chain(extra.iter().copied()) {
            let written = own.own.get(&seq).map(|r| r.entry.id());
            let held = holder.peer_entries.get(&seq).map(|e| e.id());
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

    /// Runs the endpoint's timers and puts its transmits on the wire; commits what that wrote.
    /// Only called when every op taken from the endpoint is committed.
    fn pump(&mut self, i: usize) -> Outcome {
        let station = &self.stations[i];
        assert!(station.commit.is_none() && station.queued.ops.is_empty());
        let now_ms = self.now_ms;
        let endpoint = self.stations[i]
            .endpoint
            .as_mut()
            .expect("only live stations");
        endpoint.handle_timeout(now_ms);
        let mut transmits = Vec::new();
        while let Some((_, transmit)) = endpoint.poll_transmit() {
            transmits.push(transmit);
        }
        let ops = endpoint.take_writes();
        let deadline = endpoint.poll_timeout();
        self.drain_events(i)?;
        for transmit in transmits {
            self.transmit(i, transmit);
        }
        if !ops.is_empty() {
            // MarkTransmitted only; losing it to a crash merely resends the frame.
            return self.enqueue(i, ops, None);
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
        let current = station.incarnation == incarnation && station.endpoint.is_some();
        if !current || station.wake_at != Some(self.now_ms) {
            return Ok(());
        }
        station.wake_at = None;
        if station.commit.is_some() || !station.queued.ops.is_empty() {
            return Ok(()); // the commit's completion flushes, then pumps
        }
        self.pump(i)
    }

    fn transmit(&mut self, from: usize, transmit: Transmit) {
        let to = 1 - from;
        let index = usize::from(transmit.channel.0);
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

    /// Drops the endpoint and the queued ops. The commit in flight is lost, or half the time
    /// reaches the disk just before the crash, too late to tell the operator their send was
    /// accepted: they retry it, and the log holds the message twice (at-least-once).
    fn crash(&mut self, i: usize, planned: bool) -> Outcome {
        let station = &mut self.stations[i];
        if planned {
            station.planned_crash = false;
        }
        if self.phase != Phase::Workload || station.endpoint.is_none() {
            return Ok(());
        }
        station.endpoint = None;
        let queued = std::mem::take(&mut station.queued);
        let mut lost_send = !queued.accepted.is_empty();
        if let Some(commit) = station.commit.take() {
            lost_send |= !commit.accepted.is_empty();
            if self.dice.chance(500) {
                self.report.commits_unacknowledged += 1;
                self.write_disk(i, commit.ops)?;
            } else {
                self.report.commits_lost += 1;
            }
        }
        let station = &mut self.stations[i];
        station.incarnation += 1;
        station.wake_at = None;
        self.report.crashes += 1;
        let downtime_ms = self.dice.between(DOWNTIME_MS);
        self.push(downtime_ms, Event::Restart { station: i });
        if lost_send {
            self.push(downtime_ms, Event::Send { station: i });
        }
        Ok(())
    }

    /// Rebuilds the endpoint from the disk, with a fresh generator seed from the run's dice.
    fn restart(&mut self, i: usize) -> Outcome {
        if self.stations[i].endpoint.is_some() {
            return Ok(());
        }
        let (now_ms, peer, seed) = (self.now_ms, self.peer_id(i), self.dice.seed());
        let station = &mut self.stations[i];
        let mut endpoint = Endpoint::new(station.identity.clone(), station.keyring.clone(), seed);
        endpoint
            .load_link(peer, station.disk.snapshot())
            .map_err(|e| format!("{} cannot load its link from disk: {e}", NAMES[i]))?;
        let link = endpoint.link_mut(&peer).expect("loaded above");
        for (c, channel) in self.channels.iter().enumerate() {
            let id = ChannelId(c as u16);
            link.add_channel(id, channel.kind);
            if channel.announced_up {
                link.set_channel_up(now_ms, id, true);
            }
        }
        station.delivered_head = station.disk.in_head;
        station.endpoint = Some(endpoint);
        self.plan_crash(i);
        self.pump(i)
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

    /// Sets a channel up or down on the wire, and at both live endpoints if `announce`.
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
            let (now_ms, peer) = (self.now_ms, self.peer_id(i));
            let station = &mut self.stations[i];
            let Some(endpoint) = station.endpoint.as_mut() else {
                continue;
            };
            let link = endpoint.link_mut(&peer).expect("paired at start");
            link.set_channel_up(now_ms, ChannelId(channel as u16), up);
            if up && station.commit.is_none() && station.queued.ops.is_empty() {
                self.pump(i)?;
            }
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

    /// Every accepted message receipted and every entry delivered, nothing in flight at a station.
    fn quiescent(&self) -> bool {
        (0..2).all(|i| {
            let (station, peer) = (&self.stations[i], &self.stations[1 - i]);
            let written = station.disk.own.len() as u64;
            station.endpoint.is_some()
                && station.commit.is_none()
                && station.disk.outbox_depth() == 0
                && peer.disk.in_head == written
                && peer.disk.peer_entries.len() as u64 == written
        })
    }

    fn status(&self) -> String {
        let describe = |i: usize| {
            let (station, peer) = (&self.stations[i], &self.stations[1 - i]);
            format!(
                "{} up={} accepted={} written={} unreceipted={} held by peer={}",
                NAMES[i],
                station.endpoint.is_some(),
                station.accepted.len(),
                station.disk.own.len(),
                station.disk.outbox_depth(),
                peer.disk.in_head
            )
        };
        format!("{}; {}", describe(0), describe(1))
    }
}
