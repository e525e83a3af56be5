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

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::api::{AlarmEvent, Event};
use crate::error::StationError;
use crate::limits::{
    HOOK_QUEUE_MAX, HOOK_RUN_MS_MAX, HOOK_RUNS_PER_PEER_MAX, HOOK_WAITING_PER_PEER_MAX,
    HOOK_WORKERS,
};

/// How often a running hook is looked at, in milliseconds.
const HOOK_POLL_MS: u64 = 20;

/// One run of the hook.
struct Job {
    /// The alarm's number.
    id: u64,
    change: &'static str,
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
/// configured), and each peer's runs, by name.
#[derive(Default)]
struct Shared {
    queues: Vec<SyncSender<Job>>,
    runs: Mutex<HashMap<String, PeerRuns>>,
}

impl Shared {
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
        // A later change of an alarm replaces its change waiting, in that one's place.
        if let Some(waiting) = peer.waiting.iter_mut().find(|w| w.id == job.id) {
            *waiting = job;
            peer.held_back += 1;
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

/// Runs the alarm hook, if one is configured.
pub(super) struct Hooks {
    shared: Arc<Shared>,
    running: Arc<Running>,
}

impl Drop for Hooks {
    /// Hooks do not outlive the daemon: those running are killed, those queued never run.
    fn drop(&mut self) {
        self.running.stop();
    }
}

impl Hooks {
    /// Starts the workers for the hook `program` (none: alarms run nothing).
    pub(super) fn new(program: Option<PathBuf>) -> Self {
        let running = Arc::new(Running::default());
        let Some(program) = program else {
            let shared = Arc::new(Shared::default());
            return Self { shared, running };
        };
        let program = Arc::new(program);
        let (queues, jobs): (Vec<SyncSender<Job>>, Vec<Receiver<Job>>) = (0..HOOK_WORKERS)
            .map(|_| mpsc::sync_channel::<Job>(HOOK_QUEUE_MAX))
            .unzip();
        let shared = Arc::new(Shared {
            queues,
            runs: Mutex::default(),
        });
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
                        let limit = Duration::from_millis(HOOK_RUN_MS_MAX);
                        let held_back = ("PARLEY_ALARM_HELD_BACK", job.held_back.to_string());
                        let environment: Vec<(&str, String)> =
                            job.environment.iter().cloned().chain([held_back]).collect();
                        let ran = run(&program, &job.line, &environment, limit, &running);
                        if let Err(error) = ran {
                            tracing::error!(
                                id = job.id,
                                change = job.change,
                                program = %program.display(),
                                "alarm hook failed: {error}"
                            );
                        }
                        if let Some(shared) = worker_shared.upgrade() {
                            shared.ended(&job.peer);
                        }
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
        let Event::Alarm { change, alarm } = event else {
            return;
        };
        if self.shared.queues.is_empty() || *change == AlarmEvent::Acknowledged {
            return;
        }
        let mut line = serde_json::to_vec(event).expect("events serialise");
        line.push(b'\n');
        self.shared.submit(Job {
            id: alarm.id,
            change: change.name(),
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
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("it exited with {status}")),
            Ok(None) if Instant::now() >= deadline => {
                kill(child);
                return Err(format!(
                    "it ran for over {} ms and was killed",
                    limit.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(HOOK_POLL_MS)),
            Err(error) => {
                kill(child);
                return Err(format!("waiting for it: {error}"));
            }
        }
    }
}

/// Kills the hook's process group and reaps the hook.
fn kill(child: &mut Child) {
    // The hook leads its own group (`process_group(0)`): its id is the group's.
    let group = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("hook.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A hook that never reads its input (larger than a pipe holds) and never ends is killed
    /// on time, with whatever it started.
    #[test]
    fn a_hook_that_hangs_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let program = script(
            dir.path(),
            &format!("sleep 60 & echo $! > {}; sleep 60", pids.display()),
        );
        let input = vec![b'x'; 4 << 20];
        let started = Instant::now();
        let outcome = run(
            &program,
            &input,
            &[],
            Duration::from_millis(500),
            &Running::default(),
        );
        let waited = started.elapsed();
        assert!(
            outcome.as_ref().is_err_and(|e| e.contains("was killed")),
            "{outcome:?}"
        );
        assert!(waited < Duration::from_secs(5), "killed after {waited:?}");
        let child: i32 = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone(child), "the hook's own child {child} still runs");
    }

    /// Whether process `pid` is gone within 5 s: killed, it is reaped by init soon after;
    /// until then it is a zombie.
    fn gone(pid: i32) -> bool {
        (0..250).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| stat.split(' ').nth(2).map(str::to_owned));
            std::thread::sleep(Duration::from_millis(20));
            !matches!(state, Ok(Some(s)) if s != "Z")
        })
    }

    fn alarm(id: u64, peer: &str, change: AlarmEvent) -> Event {
        let alarm = crate::api::AlarmItem {
            id,
            kind: parley_store::AlarmKind::UnderstoodOverdue,
            peer: peer.into(),
            subject: format!("{id}"),
            detail: String::new(),
            state: crate::api::records::AlarmState::Open,
            level: 1,
            raised_at_ms: 0,
            escalated_at_ms: None,
            acknowledged_at_ms: None,
            acknowledged_by: None,
            note: None,
            cleared_at_ms: None,
        };
        Event::Alarm { change, alarm }
    }

    /// Hooks whose every run first runs `before`, then writes one line to the file returned:
    /// `"peer":"<name>" <id> <change> <held back>`.
    fn recording(dir: &Path, before: &str) -> (Hooks, PathBuf) {
        let out = dir.join("out");
        let body = format!(
            r#"{before}; peer=$(grep -o '"peer":"[A-Za-z]*"'); echo "$peer $PARLEY_ALARM_ID $PARLEY_ALARM_CHANGE $PARLEY_ALARM_HELD_BACK" >> {}"#,
            out.display()
        );
        (Hooks::new(Some(script(dir, &body))), out)
    }

    /// What the hook wrote, one line per run.
    fn lines(out: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        text.lines().map(str::to_owned).collect()
    }

    /// Waits until `done` holds of the lines written, at most 30 s.
    fn wait_for(out: &Path, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let started = Instant::now();
        loop {
            let lines = lines(out);
            if done(&lines) {
                return lines;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{lines:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn of(lines: &[String], peer: &str) -> usize {
        let prefix = format!("\"peer\":\"{peer}\" ");
        lines.iter().filter(|l| l.starts_with(&prefix)).count()
    }

    /// A peer whose alarms come by the hundred has at most `HOOK_RUNS_PER_PEER_MAX` runs
    /// queued or running: another peer's alarm runs after a few of them, not after all; every
    /// one of the flood's changes still runs in the end, but for one replaced while it waited
    /// by a later change of the same alarm, which the next run counts as held back.
    #[test]
    fn one_peer_s_flood_of_alarms_does_not_hold_up_another_s() {
        const FLOOD: u64 = 120;
        let dir = tempfile::tempdir().unwrap();
        let (hooks, out) = recording(dir.path(), "sleep 0.3");
        for id in 1..=FLOOD {
            hooks.on_event(&alarm(id, "Flood", AlarmEvent::Raised));
        }
        hooks.on_event(&alarm(FLOOD, "Flood", AlarmEvent::Escalated));
        let started = Instant::now();
        hooks.on_event(&alarm(FLOOD + 1, "Bravo", AlarmEvent::Raised));
        wait_for(&out, |lines| of(lines, "Bravo") == 1);
        // Behind about two of the flood's runs on its worker (0.3 s each), not fifteen.
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        let lines = wait_for(&out, |lines| of(lines, "Flood") == FLOOD as usize);
        let last = format!("\"peer\":\"Flood\" {FLOOD} ");
        let last: Vec<&String> = lines.iter().filter(|l| l.starts_with(&last)).collect();
        assert_eq!(last.len(), 1, "{last:?}");
        assert!(last[0].contains(" escalated "), "{last:?}");
        let held_back: u64 = (lines.iter())
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(held_back, 1, "{lines:?}");
    }

    /// Both sides of `HOOK_WAITING_PER_PEER_MAX`: with every run held up, that many changes
    /// wait and run once the runs go on; one more drops the oldest waiting, and the next run
    /// queued says so.
    #[test]
    fn at_most_so_many_changes_wait_for_one_peer() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let hold = format!("while [ ! -e {} ]; do sleep 0.05; done", go.display());
        let (hooks, out) = recording(dir.path(), &hold);
        let running = HOOK_RUNS_PER_PEER_MAX as u64;
        let waiting = HOOK_WAITING_PER_PEER_MAX as u64;
        for id in 1..=running + waiting {
            hooks.on_event(&alarm(id, "Flood", AlarmEvent::Raised));
        }
        let peer_waiting = |hooks: &Hooks| {
            let runs = hooks.shared.runs.lock().unwrap();
            runs.get("Flood").map_or(0, |peer| peer.waiting.len())
        };
        assert_eq!(peer_waiting(&hooks), HOOK_WAITING_PER_PEER_MAX);
        hooks.on_event(&alarm(running + waiting + 1, "Flood", AlarmEvent::Raised));
        assert_eq!(peer_waiting(&hooks), HOOK_WAITING_PER_PEER_MAX);
        std::fs::write(&go, b"").unwrap();
        let total = (running + waiting) as usize;
        let lines = wait_for(&out, |lines| lines.len() == total);
        let dropped = format!("\"peer\":\"Flood\" {} ", running + 1);
        assert!(
            !lines.iter().any(|l| l.starts_with(&dropped)),
            "the oldest waiting"
        );
        let held_back: Vec<&String> = lines.iter().filter(|l| !l.ends_with(" 0")).collect();
        assert_eq!(held_back.len(), 1, "{held_back:?}");
        assert!(held_back[0].ends_with(" 1"), "{held_back:?}");
    }

    /// Hooks do not outlive the daemon: dropped, its hooks kill the ones running, with what
    /// they started, and run none of those queued.
    #[test]
    fn a_hook_running_when_the_daemon_stops_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let hold = format!("sleep 60 & echo $! >> {}; wait", pids.display());
        let (hooks, out) = recording(dir.path(), &hold);
        for id in 1..=(HOOK_WORKERS as u64 + 1) {
            hooks.on_event(&alarm(id, "Bravo", AlarmEvent::Raised));
        }
        let started = Instant::now();
        let children = loop {
            let text = std::fs::read_to_string(&pids).unwrap_or_default();
            let children: Vec<i32> = text.lines().filter_map(|l| l.parse().ok()).collect();
            if children.len() == HOOK_WORKERS {
                break children;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{children:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(hooks);
        for child in children {
            assert!(gone(child), "the hook's child {child} still runs");
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(lines(&out).is_empty(), "no run went on: {:?}", lines(&out));
        let text = std::fs::read_to_string(&pids).unwrap_or_default();
        assert_eq!(text.lines().count(), HOOK_WORKERS, "no queued run started");
    }

    #[test]
    fn a_hook_gets_its_input_and_its_exit_status_counts() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let program = script(
            dir.path(),
            &format!("cat > {}; test \"$PARLEY_ALARM_ID\" = 7", out.display()),
        );
        let environment = [("PARLEY_ALARM_ID", "7".to_owned())];
        let ten_s = Duration::from_secs(10);
        let running = Running::default();
        run(&program, b"{}\n", &environment, ten_s, &running).expect("runs");
        assert_eq!(std::fs::read(&out).unwrap(), b"{}\n");
        let other = [("PARLEY_ALARM_ID", "8".to_owned())];
        let failed = run(&program, b"{}\n", &other, ten_s, &running);
        assert!(failed.is_err_and(|e| e.contains("exited with")));
    }
}
