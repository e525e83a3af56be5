//! The alarm hook: a command the site configures (`[alarms] hook`) to wire a pager, a siren or
//! a phone tree. It runs on every alarm raised, escalated or cleared, with the alarm as one
//! line of JSON on its standard input (the `watch --json` form of the event) and the
//! essentials in its environment. Hooks run on [`HOOK_WORKERS`] threads of their own, each
//! with a queue of [`HOOK_QUEUE_MAX`]: the changes of one alarm go to one worker, so its hook
//! runs see them in order, and different alarms run side by side. A run is bounded in time
//! (its whole process group killed after [`HOOK_RUN_MS_MAX`]); a hook that fails or hangs is
//! logged. One peer's alarms have at most [`HOOK_RUNS_PER_PEER_MAX`] runs queued or running:
//! their further changes wait, in order, and start as that peer's runs end, so a flood of one
//! peer's alarms cannot hold up another's. A change waiting is replaced by a later change of
//! the same alarm; past [`HOOK_WAITING_PER_PEER_MAX`] waiting the oldest is dropped (logged);
//! the next run for that peer counts both (`PARLEY_ALARM_HELD_BACK`). A full queue drops a run
//! too (logged). Nothing waits for a hook.
//!
//! Each run that succeeds (exit 0) is reported to the driver ([`Hooked`]), which records it in
//! the store with the alarm: a change whose hook did not run (made while no daemon ran, queued
//! at a crash or a stop, or still failing at a stop) runs when the daemon next starts
//! ([`Hooks::resume`]). A run that fails runs again after [`HOOK_RETRY_MS_MIN`], the wait
//! doubling up to [`HOOK_RETRY_MS_MAX`], for as long as no later change of the alarm came.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError as ReportError;

use crate::api::records::AlarmState;
use crate::api::{AlarmEvent, AlarmItem, Event};
use crate::error::StationError;
use crate::limits::{
    HOOK_QUEUE_MAX, HOOK_REPORTS_MAX, HOOK_RESUMED_MAX, HOOK_RETRIES_MAX, HOOK_RETRY_MS_MAX,
    HOOK_RETRY_MS_MIN, HOOK_RUN_MS_MAX, HOOK_RUNS_PER_PEER_MAX, HOOK_WAITING_PER_PEER_MAX,
    HOOK_WORKERS,
};

/// A dropped run report is logged the first time and then once in this many.
const REPORTS_DROPPED_LOG_EVERY: u64 = 1_024;

/// How often a running hook is looked at, in milliseconds.
const HOOK_POLL_MS: u64 = 20;

/// The hook ran for alarm `id`'s change of rank `rank` ([`AlarmItem::change_rank`]), or no
/// hook is configured to run for it: for the store, so that a restart does not run it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hooked {
    /// The alarm.
    pub(super) id: u64,
    /// The rank of the change.
    pub(super) rank: u32,
}

/// One run of the hook.
struct Job {
    /// The alarm's number.
    id: u64,
    change: &'static str,
    /// The rank of the change: a run of a lower rank than a change of the same alarm since
    /// is stale.
    rank: u32,
    /// 1 for the first run of the change by this daemon, one more at each retry.
    attempt: u32,
    /// Whether the change was made before this daemon started.
    resumed: bool,
    /// The peer whose alarm it is.
    peer: String,
    /// The event as one line of JSON.
    line: Vec<u8>,
    /// The environment but `PARLEY_ALARM_HELD_BACK`, set when the run is queued.
    environment: [(&'static str, String); 4],
    /// Changes of the peer's alarms that ran no hook before this run was queued.
    held_back: u64,
}

/// One peer's hook runs.
#[derive(Default)]
struct PeerRuns {
    /// Queued or running.
    runs: usize,
    /// Waiting for one of those to end, oldest first; one per alarm.
    waiting: VecDeque<Job>,
    /// Changes that ran no hook since the last run queued for the peer.
    held_back: u64,
}

/// What the daemon's thread and the workers share: a queue per worker (empty when no hook is
/// configured), each peer's runs, by name, the highest rank handed over of each alarm changed
/// since the start (a few bytes per alarm), the runs waiting to be tried again, and where runs
/// that succeeded are reported.
struct Shared {
    queues: Vec<SyncSender<Job>>,
    runs: Mutex<HashMap<String, PeerRuns>>,
    latest: Mutex<HashMap<u64, u32>>,
    retries: Arc<Retries>,
    hooked: Sender<Hooked>,
    /// Runs reported as done that found the driver's queue full (logged, not recorded: their
    /// changes run again at the next start).
    reports_dropped: AtomicU64,
}

impl Shared {
    fn new(queues: Vec<SyncSender<Job>>, hooked: Sender<Hooked>) -> Self {
        Self {
            queues,
            runs: Mutex::default(),
            latest: Mutex::default(),
            retries: Arc::default(),
            hooked,
            reports_dropped: AtomicU64::new(0),
        }
    }

    /// Reports the run of alarm `id`'s change of rank `rank` as done, for the store. Never
    /// waits (the driver itself reports changes when no hook is configured): with
    /// [`HOOK_REPORTS_MAX`] reports waiting, it is dropped and counted, and the change runs
    /// again at the next start. A driver gone means the daemon stops: the same.
    fn report(&self, id: u64, rank: u32) {
        if let Err(ReportError::Full(_)) = self.hooked.try_send(Hooked { id, rank }) {
            let dropped = 1 + (self.reports_dropped).fetch_add(1, Ordering::Relaxed);
            if dropped == 1 || dropped.is_multiple_of(REPORTS_DROPPED_LOG_EVERY) {
                tracing::warn!(
                    id,
                    dropped,
                    "alarm hook run not recorded: {HOOK_REPORTS_MAX} reports already wait for \
                     the driver; its change runs again at the next start"
                );
            }
        }
    }

    /// Hands over a change (not a retry): runs of lower ranks of the alarm are stale now.
    fn hand_over(&self, job: Job) {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let rank = latest.entry(job.id).or_insert(job.rank);
        *rank = (*rank).max(job.rank);
        drop(latest);
        self.submit(job);
    }

    /// Whether a later change of `job`'s alarm was handed over since.
    fn stale(&self, job: &Job) -> bool {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        latest.get(&job.id).is_some_and(|rank| *rank > job.rank)
    }

    /// A retry taken off a worker's queue was overtaken by a later change: it ends unrun, and
    /// the changes it carried as held back go to the peer's next run.
    fn dropped_stale(&self, job: &Job) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.entry(job.peer.clone()).or_default().held_back += job.held_back;
        drop(runs);
        self.ended(&job.peer);
    }

    /// `job` ran and succeeded: reported for the store.
    fn succeeded(&self, job: &Job) {
        self.report(job.id, job.rank);
    }

    /// `job` ran and failed: it is tried again later.
    fn failed(&self, mut job: Job, error: &str, program: &Path) {
        let doublings = job.attempt.saturating_sub(1).min(16);
        let wait_ms = (HOOK_RETRY_MS_MIN << doublings).min(HOOK_RETRY_MS_MAX);
        tracing::error!(
            id = job.id,
            change = job.change,
            program = %program.display(),
            "alarm hook failed: {error}; attempt {}, the next in {wait_ms} ms",
            job.attempt
        );
        job.attempt = job.attempt.saturating_add(1);
        self.retries
            .schedule(Instant::now() + Duration::from_millis(wait_ms), job);
    }

    /// Queues `job` for its peer, or has it wait while the peer has its most runs.
    fn submit(&self, job: Job) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let peer = runs.entry(job.peer.clone()).or_default();
        if peer.runs < HOOK_RUNS_PER_PEER_MAX {
            peer.runs += 1;
            let job = Job {
                held_back: std::mem::take(&mut peer.held_back),
                ..job
            };
            drop(runs);
            self.queue(job);
            return;
        }
        // A later change of an alarm replaces its change waiting, in that one's place (and a
        // retry of an earlier change, which is stale, is dropped).
        if let Some(waiting) = peer.waiting.iter_mut().find(|w| w.id == job.id) {
            if job.rank >= waiting.rank {
                *waiting = job;
                peer.held_back += 1;
            }
            return;
        }
        if peer.waiting.len() >= HOOK_WAITING_PER_PEER_MAX {
            let dropped = peer.waiting.pop_front().expect("the limit is above 0");
            peer.held_back += 1;
            tracing::error!(
                id = dropped.id,
                change = dropped.change,
                "alarm hook not run: {HOOK_WAITING_PER_PEER_MAX} changes of this peer's \
                 alarms already wait; the next run says how many ran none"
            );
        }
        peer.waiting.push_back(job);
    }

    /// Puts a run counted for its peer on its worker's queue; one that cannot be queued ends
    /// at once.
    fn queue(&self, job: Job) {
        // usize is at least 32 bits here; the remainder fits whatever it is.
        let worker = &self.queues[(job.id % self.queues.len() as u64) as usize];
        let (job, why) = match worker.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(job)) => (
                job,
                format!("{HOOK_QUEUE_MAX} runs already wait for its worker"),
            ),
            Err(TrySendError::Disconnected(job)) => (job, "its worker stopped".to_owned()),
        };
        tracing::error!(
            id = job.id,
            change = job.change,
            "alarm hook not run: {why}"
        );
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.entry(job.peer.clone()).or_default().held_back += 1 + job.held_back;
        drop(runs);
        self.ended(&job.peer);
    }

    /// A run for `peer`'s alarms ended (or was never queued): the change waiting longest for
    /// that peer, if any, takes its place.
    fn ended(&self, peer: &str) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(runs_of) = runs.get_mut(peer) else {
            return;
        };
        runs_of.runs = runs_of.runs.saturating_sub(1);
        let Some(next) = runs_of.waiting.pop_front() else {
            return;
        };
        drop(runs);
        self.submit(next);
    }
}

/// The hooks running, by process group, and whether the daemon is stopping: then every
/// one is killed, and none starts.
#[derive(Default)]
struct Running {
    groups: Mutex<(bool, std::collections::HashSet<i32>)>,
}

impl Running {
    /// Records a hook started as the leader of process group `group`; false (and the hook
    /// is to be killed) when the daemon is stopping.
    fn started(&self, group: i32) -> bool {
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        groups.1.insert(group);
        !groups.0
    }

    fn ended(&self, group: i32) {
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        groups.1.remove(&group);
    }

    fn stopping(&self) -> bool {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// The daemon stops: every hook running is killed with its process group.
    fn stop(&self) {
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        groups.0 = true;
        for group in groups.1.drain() {
            if let Some(pid) = rustix::process::Pid::from_raw(group) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// Runs waiting to be tried again, by when they fall due (and the order they were scheduled).
type Due = BTreeMap<(Instant, u64), Job>;

/// Runs that failed, waiting to be tried again; and whether the daemon stops.
#[derive(Default)]
struct Retries {
    due: Mutex<(bool, Due)>,
    changed: Condvar,
    scheduled: AtomicU64,
}

impl Retries {
    fn schedule(&self, at: Instant, job: Job) {
        let order = (self.scheduled).fetch_add(1, Ordering::Relaxed);
        let mut due = self.due.lock().unwrap_or_else(PoisonError::into_inner);
        if due.1.len() >= HOOK_RETRIES_MAX {
            tracing::error!(
                id = job.id,
                change = job.change,
                "alarm hook not tried again: {HOOK_RETRIES_MAX} failed runs already wait to be; \
                 it runs when the daemon next starts"
            );
            return;
        }
        due.1.insert((at, order), job);
        self.changed.notify_one();
    }

    fn stop(&self) {
        self.due.lock().unwrap_or_else(PoisonError::into_inner).0 = true;
        self.changed.notify_one();
    }

    /// The next run due, once it is; `None` once the daemon stops.
    fn next(&self) -> Option<Job> {
        let mut due = self.due.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if due.0 {
                return None;
            }
            let now = Instant::now();
            let wait = match due.1.first_key_value() {
                Some(((at, _), _)) if *at <= now => {
                    return due.1.pop_first().map(|(_, job)| job);
                }
                Some(((at, _), _)) => *at - now,
                None => Duration::from_secs(3_600),
            };
            due = (self.changed)
                .wait_timeout(due, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Hands each run over as it falls due, unless stale, until the daemon stops.
    fn run(&self, shared: &Weak<Shared>) {
        while let Some(job) = self.next() {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if !shared.stale(&job) {
                shared.submit(job);
            }
        }
    }
}

/// Runs the alarm hook, if one is configured.
pub(super) struct Hooks {
    shared: Arc<Shared>,
    running: Arc<Running>,
}

impl Drop for Hooks {
    /// Hooks do not outlive the daemon: those running are killed, those queued or waiting to
    /// be tried again never run (the store keeps their changes for the next start).
    fn drop(&mut self) {
        self.running.stop();
        self.shared.retries.stop();
    }
}

impl Hooks {
    /// Starts the workers for the hook `program` (none: alarms run nothing, and each change
    /// is reported to `hooked` at once, as dealt with).
    pub(super) fn new(program: Option<PathBuf>, hooked: Sender<Hooked>) -> Self {
        let running = Arc::new(Running::default());
        let Some(program) = program else {
            let shared = Arc::new(Shared::new(Vec::new(), hooked));
            return Self { shared, running };
        };
        let program = Arc::new(program);
        let (queues, jobs): (Vec<SyncSender<Job>>, Vec<Receiver<Job>>) = (0..HOOK_WORKERS)
            .map(|_| mpsc::sync_channel::<Job>(HOOK_QUEUE_MAX))
            .unzip();
        let shared = Arc::new(Shared::new(queues, hooked));
        let retries = shared.retries.clone();
        let retry_shared = Arc::downgrade(&shared);
        let started = std::thread::Builder::new()
            .name("parley-hook-retry".into())
            .spawn(move || retries.run(&retry_shared));
        if let Err(error) = started {
            tracing::error!(
                "alarm hook retries not started: {error}; a failed run waits for the next start"
            );
        }
        for (n, jobs) in jobs.into_iter().enumerate() {
            let program = program.clone();
            let running = running.clone();
            // Weak: once the daemon drops its hooks, the queues close and the workers end.
            let worker_shared = Arc::downgrade(&shared);
            let started = std::thread::Builder::new()
                .name(format!("parley-hook-{n}"))
                .spawn(move || {
                    for job in jobs {
                        if running.stopping() {
                            continue;
                        }
                        // A retry that a later change of its alarm overtook while it waited
                        // (that change runs instead, or ran).
                        if job.attempt > 1
                            && let Some(shared) = worker_shared.upgrade()
                            && shared.stale(&job)
                        {
                            shared.dropped_stale(&job);
                            continue;
                        }
                        let limit = Duration::from_millis(HOOK_RUN_MS_MAX);
                        let environment: Vec<(&str, String)> = (job.environment.iter())
                            .cloned()
                            .chain([
                                ("PARLEY_ALARM_HELD_BACK", job.held_back.to_string()),
                                ("PARLEY_ALARM_ATTEMPT", job.attempt.to_string()),
                                ("PARLEY_ALARM_RESUMED", u8::from(job.resumed).to_string()),
                            ])
                            .collect();
                        let ran = run(&program, &job.line, &environment, limit, &running);
                        let Some(shared) = worker_shared.upgrade() else {
                            continue;
                        };
                        let peer = job.peer.clone();
                        match ran {
                            Ok(()) => shared.succeeded(&job),
                            Err(_) if running.stopping() => {}
                            Err(error) => shared.failed(job, &error, &program),
                        }
                        shared.ended(&peer);
                    }
                });
            // A worker that did not start leaves its queue closed: its runs are logged as
            // not run.
            if let Err(error) = started {
                tracing::error!("alarm hook worker not started: {error}");
            }
        }
        Self { shared, running }
    }

    /// Hands `event` to the hook if it is an alarm raised, escalated or cleared.
    pub(super) fn on_event(&self, event: &Event) {
        self.hand_over(event, false);
    }

    /// Hands the hook the last change of each alarm of `unhooked` (newest first), whose hook
    /// did not run: made while no daemon ran, or before a crash or a stop. Only the newest
    /// [`HOOK_RESUMED_MAX`] run; the others are reported as dealt with, and logged.
    pub(super) fn resume(&self, unhooked: Vec<AlarmItem>) {
        let total = unhooked.len();
        for (n, alarm) in unhooked.into_iter().enumerate() {
            if n >= HOOK_RESUMED_MAX {
                self.shared.report(alarm.id, alarm.change_rank());
                continue;
            }
            let change = match (alarm.state, alarm.level) {
                (AlarmState::Cleared, _) => AlarmEvent::Cleared,
                (_, 1) => AlarmEvent::Raised,
                _ => AlarmEvent::Escalated,
            };
            self.hand_over(&Event::Alarm { change, alarm }, true);
        }
        if total > HOOK_RESUMED_MAX && !self.shared.queues.is_empty() {
            tracing::error!(
                "alarm hook not run for {} older alarm changes made while no daemon ran: \
                 only the newest {HOOK_RESUMED_MAX} run; `parley alarms --all` lists them all",
                total - HOOK_RESUMED_MAX
            );
        }
    }

    fn hand_over(&self, event: &Event, resumed: bool) {
        let Event::Alarm { change, alarm } = event else {
            return;
        };
        if *change == AlarmEvent::Acknowledged {
            return;
        }
        let rank = alarm.change_rank();
        if self.shared.queues.is_empty() {
            // Nothing to run: dealt with.
            self.shared.report(alarm.id, rank);
            return;
        }
        let mut line = serde_json::to_vec(event).expect("events serialise");
        line.push(b'\n');
        self.shared.hand_over(Job {
            id: alarm.id,
            change: change.name(),
            rank,
            attempt: 1,
            resumed,
            peer: alarm.peer.clone(),
            line,
            environment: [
                ("PARLEY_ALARM_ID", alarm.id.to_string()),
                ("PARLEY_ALARM_CHANGE", change.name().to_owned()),
                ("PARLEY_ALARM_KIND", alarm.kind.name().to_owned()),
                ("PARLEY_ALARM_LEVEL", alarm.level.to_string()),
            ],
            held_back: 0,
        });
    }
}

/// Refuses a hook that cannot run, so that a site learns it when the daemon starts, not at
/// the first alarm: it must be an executable regular file (a link to one is followed).
pub(super) fn check(program: &Path) -> Result<(), StationError> {
    let refuse = |why: String| {
        StationError::Config(format!(
            "alarms.hook = {:?} cannot be run: {why}; fix parley.toml",
            program.display()
        ))
    };
    let metadata = std::fs::metadata(program).map_err(|e| refuse(e.to_string()))?;
    if !metadata.is_file() {
        return Err(refuse("it is not a regular file".into()));
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err(refuse("it is not executable".into()));
    }
    Ok(())
}

/// Runs `program` with `input` on its standard input, within `limit`: past it, the hook's
/// process group is killed (the shell and whatever it started).
fn run(
    program: &Path,
    input: &[u8],
    environment: &[(&str, String)],
    limit: Duration,
    running: &Running,
) -> Result<(), String> {
    let mut child = Command::new(program)
        .envs(environment.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|error| format!("cannot start it: {error}"))?;
    // The hook leads its own group (`process_group(0)`): its id is the group's.
    let group = child.id() as i32;
    let result = if running.started(group) {
        watch(&mut child, input, limit)
    } else {
        kill(&mut child);
        Err("the daemon is stopping".to_owned())
    };
    running.ended(group);
    result
}

/// Feeds a hook started as `child` its input and waits for it, within `limit`.
fn watch(child: &mut Child, input: &[u8], limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    // Written from a thread of its own: a hook that does not read its input blocks only that
    // thread, until the hook exits or is killed.
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        let writer = std::thread::Builder::new()
            .name("parley-hook-input".into())
            .spawn(move || {
                let _ = stdin.write_all(&input);
            });
        if let Err(error) = writer {
            kill(child);
            return Err(format!("no thread to write its input: {error}"));
        }
    }
    loop {
        match exited(child) {
            Ok(true) => {
                // What it left running goes with it: nothing it started outlives it, nor
                // escapes its time or the kill at a stop. Killed before the hook is reaped,
                // while its group's id cannot yet be another's.
                kill_group(child);
                return match child.wait() {
                    Ok(status) if status.success() => Ok(()),
                    Ok(status) => Err(format!("it exited with {status}")),
                    Err(error) => Err(format!("waiting for it: {error}")),
                };
            }
            Ok(false) if Instant::now() >= deadline => {
                kill(child);
                return Err(format!(
                    "it ran for over {} ms and was killed",
                    limit.as_millis()
                ));
            }
            Ok(false) => std::thread::sleep(Duration::from_millis(HOOK_POLL_MS)),
            Err(error) => {
                kill(child);
                return Err(format!("waiting for it: {error}"));
            }
        }
    }
}

/// Whether the hook `child` has exited, leaving it to be reaped (`WNOWAIT`).
fn exited(child: &Child) -> std::io::Result<bool> {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    let pid = rustix::process::Pid::from_child(child);
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    Ok(waitid(WaitId::Pid(pid), options)?.is_some())
}

/// Kills the hook's process group and reaps the hook.
fn kill(child: &mut Child) {
    kill_group(child);
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills the process group the hook `child` leads (`process_group(0)`: its id is the
/// group's), the hook too if it still runs.
fn kill_group(child: &Child) {
    let group = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
}

#[cfg(test)]
mod tests;
