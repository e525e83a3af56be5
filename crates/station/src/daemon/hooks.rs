//! The alarm hook: a command the site configures (`[alarms] hook`) to wire a pager, a siren or
//! a phone tree. It runs on every alarm raised, escalated or cleared, with the alarm as one
//! line of JSON on its standard input (the `watch --json` form of the event) and the
//! essentials in its environment. It runs on a thread of its own, bounded in number and in
//! time: a hook that fails, hangs or floods is logged and never holds the station up.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::api::{AlarmEvent, Event};
use crate::error::StationError;
use crate::limits::{HOOK_RUN_MS_MAX, HOOKS_RUNNING_MAX};

/// How often a running hook is looked at, in milliseconds.
const HOOK_POLL_MS: u64 = 20;

/// Runs the alarm hook, if one is configured.
pub(super) struct Hooks {
    program: Option<PathBuf>,
    running: Arc<AtomicUsize>,
}

impl Hooks {
    /// The hook `program` (none: alarms run nothing).
    pub(super) fn new(program: Option<PathBuf>) -> Self {
        Self {
            program,
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs the hook for `event` if it is an alarm raised, escalated or cleared.
    pub(super) fn on_event(&self, event: &Event) {
        let (Some(program), Event::Alarm { change, alarm }) = (&self.program, event) else {
            return;
        };
        if *change == AlarmEvent::Acknowledged {
            return;
        }
        if self.running.fetch_add(1, Ordering::AcqRel) >= HOOKS_RUNNING_MAX {
            self.running.fetch_sub(1, Ordering::AcqRel);
            tracing::error!(
                id = alarm.id,
                change = change.name(),
                "alarm hook not run: {HOOKS_RUNNING_MAX} hooks are still running"
            );
            return;
        }
        let mut line = serde_json::to_vec(event).expect("events serialise");
        line.push(b'\n');
        let environment = [
            ("PARLEY_ALARM_ID", alarm.id.to_string()),
            ("PARLEY_ALARM_CHANGE", change.name().to_owned()),
            ("PARLEY_ALARM_KIND", alarm.kind.name().to_owned()),
            ("PARLEY_ALARM_LEVEL", alarm.level.to_string()),
        ];
        let (program, running, id) = (program.clone(), self.running.clone(), alarm.id);
        let spawned = std::thread::Builder::new()
            .name("parley-hook".into())
            .spawn(move || {
                if let Err(error) = run(&program, &line, &environment) {
                    tracing::error!(id, program = %program.display(), "alarm hook failed: {error}");
                }
                running.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(error) = spawned {
            self.running.fetch_sub(1, Ordering::AcqRel);
            tracing::error!(id, "alarm hook not run: no thread: {error}");
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

/// Runs `program` with `input` on its standard input, within [`HOOK_RUN_MS_MAX`].
fn run(program: &PathBuf, input: &[u8], environment: &[(&str, String)]) -> Result<(), String> {
    let mut child = Command::new(program)
        .envs(environment.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot start it: {error}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input is its own business.
        let _ = stdin.write_all(input);
    }
    let deadline = Instant::now() + Duration::from_millis(HOOK_RUN_MS_MAX);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("it exited with {status}")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "it ran for over {HOOK_RUN_MS_MAX} ms and was killed"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(HOOK_POLL_MS)),
            Err(error) => return Err(format!("waiting for it: {error}")),
        }
    }
}
