//! The alarm hook: a command the site configures (`[alarms] hook`) to wire a pager, a siren or
//! a phone tree. It runs on every alarm raised, escalated or cleared, with the alarm as one
//! line of JSON on its standard input (the `watch --json` form of the event) and the
//! essentials in its environment. Hooks run on [`HOOK_WORKERS`] threads of their own, each
//! with a queue of [`HOOK_QUEUE_MAX`]: the changes of one alarm go to one worker, so its hook
//! runs see them in order, and different alarms run side by side. A run is bounded in time
//! (its whole process group killed after [`HOOK_RUN_MS_MAX`]); a hook that fails or hangs is
//! logged, and only a full queue drops a run (logged too). Nothing waits for a hook.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use crate::api::{AlarmEvent, Event};
use crate::error::StationError;
use crate::limits::{HOOK_QUEUE_MAX, HOOK_RUN_MS_MAX, HOOK_WORKERS};

/// How often a running hook is looked at, in milliseconds.
const HOOK_POLL_MS: u64 = 20;

/// One run of the hook.
struct Job {
    id: u64,
    change: &'static str,
    /// The event as one line of JSON.
    line: Vec<u8>,
    environment: [(&'static str, String); 4],
}

/// Runs the alarm hook, if one is configured.
pub(super) struct Hooks {
    /// One queue per worker; empty when no hook is configured.
    workers: Vec<SyncSender<Job>>,
}

impl Hooks {
    /// Starts the workers for the hook `program` (none: alarms run nothing).
    pub(super) fn new(program: Option<PathBuf>) -> Self {
        let Some(program) = program else {
            return Self {
                workers: Vec::new(),
            };
        };
        let program = Arc::new(program);
        let mut workers = Vec::new();
        for n in 0..HOOK_WORKERS {
            let (queue, jobs) = mpsc::sync_channel::<Job>(HOOK_QUEUE_MAX);
            let program = program.clone();
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
                    }
                });
            match started {
                Ok(_) => workers.push(queue),
                Err(error) => tracing::error!("alarm hook worker not started: {error}"),
            }
        }
        Self { workers }
    }

    /// Hands `event` to the hook if it is an alarm raised, escalated or cleared.
    pub(super) fn on_event(&self, event: &Event) {
        let Event::Alarm { change, alarm } = event else {
            return;
        };
        if self.workers.is_empty() || *change == AlarmEvent::Acknowledged {
            return;
        }
        let mut line = serde_json::to_vec(event).expect("events serialise");
        line.push(b'\n');
        let job = Job {
            id: alarm.id,
            change: change.name(),
            line,
            environment: [
                ("PARLEY_ALARM_ID", alarm.id.to_string()),
                ("PARLEY_ALARM_CHANGE", change.name().to_owned()),
                ("PARLEY_ALARM_KIND", alarm.kind.name().to_owned()),
                ("PARLEY_ALARM_LEVEL", alarm.level.to_string()),
            ],
        };
        // usize is at least 32 bits here; the remainder fits whatever it is.
        let worker = &self.workers[(alarm.id % self.workers.len() as u64) as usize];
        match worker.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => tracing::error!(
                id = job.id,
                change = job.change,
                "alarm hook not run: {HOOK_QUEUE_MAX} runs already wait for its worker"
            ),
            Err(TrySendError::Disconnected(job)) => tracing::error!(
                id = job.id,
                change = job.change,
                "alarm hook not run: its worker stopped"
            ),
        }
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
