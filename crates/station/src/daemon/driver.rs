//! The driver: the thread that owns the station core and the store, and the only place state
//! changes. Its loop: wait for an input or the core's next timer; take every input that is
//! waiting (up to [`DRIVER_BATCH_INPUTS_MAX`]); feed them to the core; commit what the core
//! wrote in one transaction; release what waited for that commit (answers, acknowledgements to
//! transports, events); hand the core's frames to the transports.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parley_channels::log_limit::LogLimit;
use parley_channels::{FramePermit, Inbound, Report};
use parley_store::Store;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::Call;
use super::hooks::{Hooked, Hooks};
use super::server::ApiServer;
use super::transports::Transports;
use crate::api::{ApiError, Event, Reply};
use crate::clock::{Clock, Wall};
use crate::core::{AckId, Input, IoCounters, Output, RequestId, Station};
use crate::error::StationError;
use crate::limits::{
    CLOCK_WALL_LOG_INTERVAL_MS, DRIVER_BATCH_INPUTS_MAX, DRIVER_IDLE_MS_MAX,
    DRIVER_REPORTS_QUEUE_MAX,
};
use crate::node::commit_all;

/// Where an acknowledgement goes once the core releases it.
enum AckTo {
    /// A relay's fetch loop: the batch may be deleted at the relay.
    Batch(oneshot::Sender<()>),
    /// A drop folder's thread: the bundle may be deleted, read again later, or set aside.
    Bundle(oneshot::Sender<Result<parley_channels::Disposal, String>>),
}

/// An operator request, a transport's report or a hook run's outcome, taken in one round of
/// the loop.
enum Taken {
    Call(Call),
    Report(Report),
    Hooked(Hooked),
}

impl Taken {
    /// The frame it carries, if it is a frame from a transport.
    fn frame(&self) -> Option<&[u8]> {
        match self {
            Taken::Report(Report::Frame { bytes, .. }) => Some(bytes),
            _ => None,
        }
    }
}

/// The driver.
pub(super) struct Driver {
    station: Station,
    store: Store,
    clock: Clock,
    /// Warnings that the wall clock differs from the station's, at most one per interval.
    clock_log: LogLimit<bool>,
    /// Whether the last turn put off judging the transports' silence (its batch was full).
    silence_put_off: bool,
    transports: Transports,
    hooks: Hooks,
    events: broadcast::Sender<Event>,
    inbound: Inbound,
    server: Arc<ApiServer>,
    /// Operator requests that found the request queue full (counted by their senders).
    requests_waited: Arc<AtomicU64>,
    replies: BTreeMap<RequestId, oneshot::Sender<Result<Reply, ApiError>>>,
    acks: BTreeMap<AckId, AckTo>,
    next_id: u64,
    /// CPU time this thread spent committing to the store.
    commit_cpu: Duration,
}

impl Driver {
    pub(super) fn new(
        station: Station,
        store: Store,
        clock: Clock,
        (transports, hooks): (Transports, Hooks),
        events: broadcast::Sender<Event>,
        (inbound, server, requests_waited): (Inbound, Arc<ApiServer>, Arc<AtomicU64>),
    ) -> Self {
        Self {
            station,
            store,
            clock,
            clock_log: LogLimit::new(CLOCK_WALL_LOG_INTERVAL_MS),
            silence_put_off: false,
            transports,
            hooks,
            events,
            inbound,
            server,
            requests_waited,
            replies: BTreeMap::new(),
            acks: BTreeMap::new(),
            next_id: 0,
            commit_cpu: Duration::ZERO,
        }
    }

    /// Runs the loop on this thread until `stop` fires (then commits what is pending) or the
    /// store fails.
    pub(super) fn run(
        mut self,
        (reports, calls, hooked): (
            mpsc::Receiver<Report>,
            mpsc::Receiver<Call>,
            mpsc::Receiver<Hooked>,
        ),
        stop: oneshot::Receiver<()>,
    ) -> Result<(), StationError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| StationError::io("starting the driver's timer", e))?;
        let result = runtime.block_on(self.run_loop(reports, calls, hooked, stop));
        match &result {
            Ok(()) => tracing::info!("driver stopped cleanly"),
            Err(error) => tracing::error!(%error, "driver stopped"),
        }
        result
    }

    async fn run_loop(
        &mut self,
        mut reports: mpsc::Receiver<Report>,
        mut calls: mpsc::Receiver<Call>,
        mut hooked: mpsc::Receiver<Hooked>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<(), StationError> {
        // Running: a crash from here on is not a clean stop (the core loaded the last one).
        self.store.set_stopped(None)?;
        self.flush()?;
        let mut taken = Vec::with_capacity(DRIVER_BATCH_INPUTS_MAX);
        loop {
            self.compare_clocks();
            let wait = self.wait();
            tokio::select! {
                biased;
                _ = &mut stop => {
                    // Hook runs that succeeded are recorded before the last commit, so the
                    // next start does not run them again.
                    self.take_hooked(&mut hooked);
                    self.flush()?;
                    // The records of frames sent until now, waiting or made by a flush, are
                    // committed too (a flush makes records only of frames not sent before:
                    // this ends).
                    while self.station.waiting_records() > 0 {
                        self.station.release_records();
                        self.flush()?;
                    }
                    // The next start knows which checks of the watch this stop left undone:
                    // none due before the last flush (one due in the few milliseconds since
                    // is done at once at the start, as after a crash).
                    let stopped_ms = self.clock.now_ms();
                    self.store.set_stopped(Some(stopped_ms))?;
                    return Ok(());
                }
                Some(call) = calls.recv() => taken.push(Taken::Call(call)),
                Some(report) = reports.recv() => taken.push(Taken::Report(report)),
                Some(outcome) = hooked.recv() => taken.push(Taken::Hooked(outcome)),
                _ = tokio::time::sleep(wait) => {}
            }
            while taken.len() < DRIVER_BATCH_INPUTS_MAX {
                if let Ok(call) = calls.try_recv() {
                    taken.push(Taken::Call(call));
                } else if let Ok(report) = reports.try_recv() {
                    taken.push(Taken::Report(report));
                } else {
                    break;
                }
            }
            // Every hook run reported, whatever else waits: few, and each a page on record.
            self.take_hooked(&mut hooked);
            // The envelope signatures of the frames taken, checked as one batch first.
            self.station
                .preverify(taken.iter().filter_map(Taken::frame));
            // Taken together, as they came: the core runs its due duties once before them,
            // none between them (`Station::handle_turn`). Each frame's share of the inbound
            // budget is returned once the turn has handled it.
            // Reports may still wait behind a full batch: silence is judged on the next, but
            // never put off twice in a row (a flood of frames would put it off for good).
            let judge_silence = taken.len() < DRIVER_BATCH_INPUTS_MAX || self.silence_put_off;
            self.silence_put_off = !judge_silence;
            let mut permits = Vec::new();
            let mut inputs: Vec<Input> = taken
                .drain(..)
                .map(|input| match input {
                    Taken::Call(call) => self.call_input(call),
                    Taken::Report(report) => self.report_input(report, &mut permits),
                    Taken::Hooked(Hooked { id, rank }) => Input::AlarmHooked { id, rank },
                })
                .collect();
            // Transports gone silent (stuck) miss their heartbeats.
            if judge_silence {
                let missed = self.transports.missed().into_iter();
                inputs.extend(missed.map(|(via, signal)| Input::Health { via, signal }));
            }
            self.station.handle_turn(self.clock.now_ms(), inputs);
            drop(permits);
            self.flush()?;
        }
    }

    /// Warns, at most once per [`CLOCK_WALL_LOG_INTERVAL_MS`] each way, while the wall clock
    /// differs from the station's, which does not follow it while it runs.
    fn compare_clocks(&mut self) {
        const MS_PER_MINUTE: u64 = 60_000;
        let skew_max_min = parley_proto::limits::ENTRY_FUTURE_SKEW_MS_MAX / MS_PER_MINUTE;
        match self.clock.against_wall() {
            Wall::InStep => {}
            Wall::Ahead { by_ms } => {
                if self.clock_log.admit_now(true).is_some() {
                    tracing::warn!(
                        by_ms,
                        "the system clock is ahead of the station's clock, which does not follow \
                         it while the daemon runs: peers' entries more than {skew_max_min} \
                         minutes ahead of it are refused; if the system clock is right, restart \
                         the daemon"
                    );
                }
            }
            Wall::Behind { by_ms } => {
                if self.clock_log.admit_now(false).is_some() {
                    tracing::warn!(
                        by_ms,
                        "the system clock is behind the station's clock, which never goes back \
                         (its log holds later times): peers refuse entries more than \
                         {skew_max_min} minutes ahead of their clocks; check the system clock"
                    );
                }
            }
        }
    }

    /// Feeds the core every hook run reported so far.
    fn take_hooked(&mut self, hooked: &mut mpsc::Receiver<Hooked>) {
        while let Ok(outcome) = hooked.try_recv() {
            self.record_hooked(outcome);
        }
    }

    fn record_hooked(&mut self, Hooked { id, rank }: Hooked) {
        let input = Input::AlarmHooked { id, rank };
        self.station.handle(self.clock.now_ms(), input);
    }

    fn wait(&self) -> Duration {
        let now = self.clock.now_ms();
        let due = self
            .station
            .poll_timeout()
            .unwrap_or(now + DRIVER_IDLE_MS_MAX);
        Duration::from_millis(due.saturating_sub(now).min(DRIVER_IDLE_MS_MAX))
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn call_input(&mut self, call: Call) -> Input {
        let id = RequestId(self.next_id());
        self.replies.insert(id, call.reply);
        Input::Command {
            id,
            command: call.command,
        }
    }

    /// The core's input for `report`; a frame's share of the inbound budget goes to
    /// `permits`, to be returned once the frame is handled.
    fn report_input(&mut self, report: Report, permits: &mut Vec<FramePermit>) -> Input {
        match &report {
            // Frames and oversized ones come from the connections the peer opened, not from
            // this station's dial loop, which they would make look alive.
            Report::Health { .. }
            | Report::Dialled { .. }
            | Report::Witnessed { .. }
            | Report::Frame { .. }
            | Report::Oversized { .. } => {}
            Report::Batch { via, .. }
            | Report::Bundle { via, .. }
            | Report::Stored { via, .. }
            | Report::DepositRefused { via, .. }
            | Report::FileRefused { via, .. } => self.transports.touched(*via),
        }
        match report {
            Report::Frame { via, bytes, permit } => {
                permits.extend(permit);
                Input::Frame { via, bytes }
            }
            Report::Batch { via, frames, done } => {
                let ack = AckId(self.next_id());
                self.acks.insert(ack, AckTo::Batch(done));
                Input::Batch { via, frames, ack }
            }
            Report::Bundle {
                via,
                name,
                bytes,
                done,
            } => {
                let ack = AckId(self.next_id());
                self.acks.insert(ack, AckTo::Bundle(done));
                Input::Bundle {
                    via,
                    name,
                    bytes,
                    ack,
                }
            }
            Report::Health { via, signal } => {
                self.transports.heard(via, &signal);
                Input::Health { via, signal }
            }
            Report::Stored {
                via,
                peer,
                envelopes,
                receipts,
            } => Input::Stored {
                via,
                peer,
                envelopes,
                receipts,
            },
            Report::DepositRefused { via, peer, reason } => {
                Input::DepositRefused { via, peer, reason }
            }
            Report::Oversized { via } => Input::Oversized { via },
            Report::FileRefused { via, name, reason } => Input::FileRefused { via, name, reason },
            Report::Dialled { peer } => Input::Dialled { peer },
            Report::Witnessed {
                at,
                peer,
                size,
                answer,
                held,
            } => Input::Witnessed {
                at,
                peer,
                size,
                answer,
                held,
            },
        }
    }

    /// Runs the watch's duties that are due, commits, then releases what waited for the
    /// commit, then transmits.
    fn flush(&mut self) -> Result<(), StationError> {
        self.station.handle_timeout(self.clock.now_ms());
        self.station.note_io(IoCounters {
            handshakes_rejected: self.transports.handshakes_rejected(),
            frames_dropped: self.inbound.dropped(),
            reports_waited: self.inbound.waited(),
            requests_waited: self.requests_waited.load(Ordering::Relaxed),
            inputs_max: DRIVER_REPORTS_QUEUE_MAX as u64,
            api_clients_max: crate::limits::API_CLIENTS_MAX as u64,
            api_clients_refused: self.server.clients_refused(),
            commit_cpu_us: self.commit_cpu.as_micros() as u64,
            checkpoints: self.store.checkpoint_counts(),
        });
        // What the release hands back to the core (entries a peer lost, read from the store)
        // writes again: committed before anything is transmitted.
        let committed = loop {
            let started = thread_cpu();
            let committed = commit_all(&mut self.station, &mut self.store);
            self.commit_cpu += thread_cpu().saturating_sub(started);
            self.release();
            if committed.is_err() || self.station.uncommitted_writes() == 0 {
                break committed;
            }
        };
        if let Err(error) = committed {
            // The core withheld every acknowledgement; dropping them tells their transports
            // nothing was committed: relay items stay at the relay, bundles in their folders.
            self.acks.clear();
            return Err(error.into());
        }
        let now = self.clock.now_ms();
        while let Some(transmit) = self.station.poll_transmit(now) {
            let handed_over = self.transports.send(&transmit);
            self.station.transmitted(&transmit, handed_over);
        }
        Ok(())
    }

    fn release(&mut self) {
        while let Some(output) = self.station.poll_output() {
            match output {
                Output::Reply { id, result } => {
                    if let Some(reply) = self.replies.remove(&id) {
                        let _ = reply.send(result);
                    }
                }
                Output::Ack { ack, result } => match self.acks.remove(&ack) {
                    Some(AckTo::Batch(done)) if result.is_ok() => {
                        let _ = done.send(());
                    }
                    Some(AckTo::Bundle(done)) => {
                        let _ = done.send(result);
                    }
                    _ => {}
                },
                Output::Event(event) => {
                    self.hooks.on_event(&event);
                    // No subscriber is fine.
                    let _ = self.events.send(event);
                }
                Output::Start(start) => self.transports.start(start),
                Output::Kick(peer) => self.transports.kick(&peer),
                Output::Witness(submit) => {
                    let handed_over = self.transports.submit(&submit);
                    self.station
                        .submitted(self.clock.now_ms(), &submit, handed_over);
                }
                Output::Reseal { peer, seqs, lost } => {
                    // Answered with none, nothing changes: for a loss, the peer's next receipt
                    // asks again; for a new key, the link asks again a minute later.
                    let entries = self
                        .store
                        .own_entries(&peer, &seqs)
                        .unwrap_or_else(|error| {
                            tracing::error!(%error, "could not read own entries to seal again");
                            Vec::new()
                        });
                    let now_ms = self.clock.now_ms();
                    self.station.reseal(now_ms, &peer, &entries, lost);
                }
            }
        }
    }
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let spent = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(spent.tv_sec).unwrap_or(0),
        u32::try_from(spent.tv_nsec).unwrap_or(0),
    )
}
