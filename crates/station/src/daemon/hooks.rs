//! The alarm hook: a command the site configures (`[alarms] hook`) to wire a pager, a siren or
//! a phone tree. It runs on every alarm raised, escalated or cleared, with the alarm as one
//! line of JSON on its standard input (the `watch --json` form of the event) and the
//! essentials in its environment. Hooks run on [`HOOK_WORKERS`] threads of their own, each
//! with a queue of [`HOOK_QUEUE_MAX`]: the changes of one alarm go to one worker, so its hook
//! runs see them in order, and different alarms run side by side. A run is bounded in time
//! (its whole process group killed after [`HOOK_RUN_MS_MAX`]); a hook that fails or hangs is
//! logged. One peer's alarms have at most [`HOOK_RUNS_PER_PEER_MAX`] runs waiting or running:
//! the changes beyond run no hook and are counted, and the next run for that peer says how
//! many (`PARLEY_ALARM_HELD_BACK`), so a flood of one peer's alarms cannot hold up another's.
//! A full queue drops a run too (logged). Nothing waits for a hook.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::api::{AlarmEvent, Event};
use crate::error::StationError;
use crate::limits::{HOOK_QUEUE_MAX, HOOK_RUN_MS_MAX, HOOK_RUNS_PER_PEER_MAX, HOOK_WORKERS};

/// How often a running hook is looked at, in milliseconds.
const HOOK_POLL_MS: u64 = 20;

/// One run of the hook.
struct Job {
    id: u64,
    change: &'static str,
    /// The peer whose alarm it is.
    peer: String,
    /// The event as one line of JSON.
    line: Vec<u8>,
    environment: [(&'static str, String); 5],
}

/// One peer's hook runs.
#[derive(Default)]
struct PeerRuns {
    /// Waiting or running.
    runs: usize,
    /// Changes that ran no hook since the last run that reported them.
    held_back: u64,
}

/// Each peer's runs, by name: shared by the daemon's thread and the workers.
type Runs = Arc<Mutex<HashMap<String, PeerRuns>>>;

/// Runs the alarm hook, if one is configured.
pub(super) struct Hooks {
    /// One queue per worker; empty when no hook is configured.
    workers: Vec<SyncSender<Job>>,
    runs: Runs,
}

impl Hooks {
    /// Starts the workers for the hook `program` (none: alarms run nothing).
    pub(super) fn new(program: Option<PathBuf>) -> Self {
        let runs = Runs::default();
        let Some(program) = program else {
            let workers = Vec::new();
            return Self { workers, runs };
        };
        let program = Arc::new(program);
        let mut workers = Vec::new();
        for n in 0..HOOK_WORKERS {
            let (queue, jobs) = mpsc::sync_channel::<Job>(HOOK_QUEUE_MAX);
            let program = program.clone();
            let runs = runs.clone();
            let started = std::thread::Builder::new()
                .name(format!("parley-hook-{n}"))
                .spawn(move || {
                    for job in jobs {
                        let limit = Duration::from_millis(HOOK_RUN_MS_MAX);
                        if let Err(error) = run(&program, &job.line, &job.environment, limit) {
                            tracing::error!(
                                id = job.id,
                                change = job.change,
                                program = %program.display(),
                                "alarm hook failed: {error}"
                            );
                        }
                        finished(&runs, &job.peer);
                    }
                });
            match started {
                Ok(_) => workers.push(queue),
                Err(error) => tracing::error!("alarm hook worker not started: {error}"),
            }
        }
        Self { workers, runs }
    }

    /// Hands `event` to the hook if it is an alarm raised, escalated or cleared.
    pub(super) fn on_event(&self, event: &Event) {
        let Event::Alarm { change, alarm } = event else {
            return;
        };
        if self.workers.is_empty() || *change == AlarmEvent::Acknowledged {
            return;
        }
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let peer = runs.entry(alarm.peer.clone()).or_default();
        if peer.runs >= HOOK_RUNS_PER_PEER_MAX {
            peer.held_back += 1;
            // Logged once per run held up: at most once per run that ends.
            if peer.held_back == 1 {
                tracing::warn!(
                    id = alarm.id,
                    change = change.name(),
                    "alarm hook not run: {HOOK_RUNS_PER_PEER_MAX} runs for this peer's alarms \
                     already wait or run; the next run says how many were held back"
                );
            }
            return;
        }
        let held_back = std::mem::take(&mut peer.held_back);
        peer.runs += 1;
        drop(runs);
        let mut line = serde_json::to_vec(event).expect("events serialise");
        line.push(b'\n');
        let job = Job {
            id: alarm.id,
            change: change.name(),
            peer: alarm.peer.clone(),
            line,
            environment: [
                ("PARLEY_ALARM_ID", alarm.id.to_string()),
                ("PARLEY_ALARM_CHANGE", change.name().to_owned()),
                ("PARLEY_ALARM_KIND", alarm.kind.name().to_owned()),
                ("PARLEY_ALARM_LEVEL", alarm.level.to_string()),
                ("PARLEY_ALARM_HELD_BACK", held_back.to_string()),
            ],
        };
        // usize is at least 32 bits here; the remainder fits whatever it is.
        let worker = &self.workers[(alarm.id % self.workers.len() as u64) as usize];
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
        // Not run: its place is free again, and what it would have reported is not lost.
        finished(&self.runs, &job.peer);
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.entry(job.peer).or_default().held_back += held_back + 1;
    }
}

/// A run for `peer`'s alarms ended (or was never queued): its place is free.
fn finished(runs: &Runs, peer: &str) {
    let mut runs = runs.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(peer) = runs.get_mut(peer) {
        peer.runs = peer.runs.saturating_sub(1);
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
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut child = Command::new(program)
        .envs(environment.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|error| format!("cannot start it: {error}"))?;
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
            kill(&mut child);
            return Err(format!("no thread to write its input: {error}"));
        }
    }
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("it exited with {status}")),
            Ok(None) if Instant::now() >= deadline => {
                kill(&mut child);
                return Err(format!(
                    "it ran for over {} ms and was killed",
                    limit.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(HOOK_POLL_MS)),
            Err(error) => {
                kill(&mut child);
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
        let outcome = run(&program, &input, &[], Duration::from_millis(500));
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
        // Killed, it is reaped by init soon after; until then it is a zombie or gone.
        let gone = (0..100).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{child}/stat"))
                .map(|stat| stat.split(' ').nth(2).map(str::to_owned));
            std::thread::sleep(Duration::from_millis(20));
            !matches!(state, Ok(Some(s)) if s != "Z")
        });
        assert!(gone, "the hook's own child {child} still runs");
    }

    fn raised(id: u64, peer: &str) -> Event {
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
        let change = AlarmEvent::Raised;
        Event::Alarm { change, alarm }
    }

    /// What the hook wrote: one line per run, `"peer":"<name>" <id> <held back>`.
    fn lines(out: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        text.lines().map(str::to_owned).collect()
    }

    /// A peer whose alarms come by the hundred has at most `HOOK_RUNS_PER_PEER_MAX` runs
    /// waiting or running: another peer's alarm runs after a few of them, not after all, and
    /// the flooding peer's next run says how many of its changes ran no hook.
    #[test]
    fn one_peer_s_flood_of_alarms_does_not_hold_up_another_s() {
        const FLOOD: u64 = 200;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // Each run writes the peer's name as the event's JSON has it, its id and what it
        // says was held back.
        let body = format!(
            r#"peer=$(grep -o '"peer":"[A-Za-z]*"'); echo "$peer $PARLEY_ALARM_ID $PARLEY_ALARM_HELD_BACK" >> {}; sleep 0.2"#,
            out.display()
        );
        let hooks = Hooks::new(Some(script(dir.path(), &body)));
        for id in 1..=FLOOD {
            hooks.on_event(&raised(id, "Flood"));
        }
        let started = Instant::now();
        hooks.on_event(&raised(FLOOD + 1, "Bravo"));
        let ran = |peer: &str| {
            let prefix = format!("\"peer\":\"{peer}\" ");
            lines(&out)
                .iter()
                .filter(|l| l.starts_with(&prefix))
                .count()
        };
        while ran("Bravo") == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{:?}",
                lines(&out)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Behind about two of the flood's runs on its worker (each 0.2 s), not 25.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        while hooks
            .runs
            .lock()
            .unwrap()
            .values()
            .any(|peer| peer.runs > 0)
        {
            assert!(started.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(ran("Flood"), HOOK_RUNS_PER_PEER_MAX);
        // The flood over, its next alarm runs, and says what ran no hook.
        hooks.on_event(&raised(FLOOD + 2, "Flood"));
        let held_back = FLOOD - HOOK_RUNS_PER_PEER_MAX as u64;
        let expected = format!("\"peer\":\"Flood\" {} {held_back}", FLOOD + 2);
        while !lines(&out).contains(&expected) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{:?}",
                lines(&out)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            lines(&out)
                .iter()
                .all(|l| l == &expected || l.ends_with(" 0"))
        );
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
        run(&program, b"{}\n", &environment, Duration::from_secs(10)).expect("runs");
        assert_eq!(std::fs::read(&out).unwrap(), b"{}\n");
        let other = [("PARLEY_ALARM_ID", "8".to_owned())];
        let failed = run(&program, b"{}\n", &other, Duration::from_secs(10));
        assert!(failed.is_err_and(|e| e.contains("exited with")));
    }
}
