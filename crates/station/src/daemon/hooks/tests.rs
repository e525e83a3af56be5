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

/// A hook that exits leaving something running in the background: what it left is killed
/// with it, and its exit status counts.
#[test]
fn what_a_hook_leaves_running_ends_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let program = script(
        dir.path(),
        &format!("sleep 60 & echo $! > {}; exit 0", pids.display()),
    );
    let ten_s = Duration::from_secs(10);
    let outcome = run(&program, b"{}\n", &[], ten_s, &Running::default());
    assert_eq!(outcome, Ok(()));
    let child: i32 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        gone(child),
        "the hook's background child {child} still runs"
    );
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
    let alarm = item(id, peer, change);
    Event::Alarm { change, alarm }
}

/// Alarm `id` of `peer` as it is after `change`.
fn item(id: u64, peer: &str, change: AlarmEvent) -> AlarmItem {
    let (state, level) = match change {
        AlarmEvent::Raised => (AlarmState::Open, 1),
        AlarmEvent::Escalated => (AlarmState::Open, 2),
        AlarmEvent::Acknowledged => (AlarmState::Acknowledged, 1),
        AlarmEvent::Cleared => (AlarmState::Cleared, 1),
    };
    crate::api::AlarmItem {
        id,
        kind: parley_store::AlarmKind::UnderstoodOverdue,
        peer: peer.into(),
        subject: format!("{id}"),
        detail: String::new(),
        state,
        level,
        raised_at_ms: 0,
        escalated_at_ms: None,
        acknowledged_at_ms: None,
        acknowledged_by: None,
        note: None,
        cleared_at_ms: None,
    }
}

/// Hooks whose every run first runs `before`, then writes one line to the file returned:
/// `"peer":"<name>" <id> <change> a<attempt> r<resumed> <held back>`.
fn recording(dir: &Path, before: &str) -> (Hooks, PathBuf) {
    let (hooks, out, _) = recording_reported(dir, before);
    (hooks, out)
}

/// As [`recording`], with what the hooks report as run.
fn recording_reported(
    dir: &Path,
    before: &str,
) -> (Hooks, PathBuf, tokio::sync::mpsc::Receiver<Hooked>) {
    let out = dir.join("out");
    let body = format!(
        r#"{before}; peer=$(grep -o '"peer":"[A-Za-z]*"'); echo "$peer $PARLEY_ALARM_ID $PARLEY_ALARM_CHANGE a$PARLEY_ALARM_ATTEMPT r$PARLEY_ALARM_RESUMED $PARLEY_ALARM_HELD_BACK" >> {}"#,
        out.display()
    );
    let (hooked, reported) = tokio::sync::mpsc::channel(HOOK_REPORTS_MAX);
    (Hooks::new(Some(script(dir, &body)), hooked), out, reported)
}

/// What the hooks reported as run, waiting `wait` for more.
fn reported(reported: &mut tokio::sync::mpsc::Receiver<Hooked>, wait: Duration) -> Vec<(u64, u32)> {
    std::thread::sleep(wait);
    let mut all = Vec::new();
    while let Ok(Hooked { id, rank }) = reported.try_recv() {
        all.push((id, rank));
    }
    all
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

/// A run that fails is tried again after `HOOK_RETRY_MS_MIN` and reported only once it
/// succeeds; a retry of a change is dropped once a later change of the alarm came.
#[test]
fn a_failed_run_is_tried_again_until_it_succeeds_unless_a_later_change_came() {
    let dir = tempfile::tempdir().unwrap();
    let tries = dir.path().join("tries");
    // Alarm 1 fails its first attempt; alarm 2's raising always fails.
    let before = format!(
        "echo $PARLEY_ALARM_ID >> {tries}; \
         if [ \"$PARLEY_ALARM_ID $PARLEY_ALARM_ATTEMPT\" = '1 1' ]; then exit 1; fi; \
         if [ \"$PARLEY_ALARM_ID $PARLEY_ALARM_CHANGE\" = '2 raised' ]; then exit 1; fi",
        tries = tries.display()
    );
    let (hooks, out, mut hooked) = recording_reported(dir.path(), &before);
    hooks.on_event(&alarm(1, "Bravo", AlarmEvent::Raised));
    hooks.on_event(&alarm(2, "Bravo", AlarmEvent::Raised));
    wait_for(&tries, |tried| tried.len() == 2);
    assert_eq!(reported(&mut hooked, Duration::from_millis(300)), []);
    assert!(lines(&out).is_empty());
    // Alarm 2 escalates before its raising is tried again: the retry is stale.
    hooks.on_event(&alarm(2, "Bravo", AlarmEvent::Escalated));
    let ran = wait_for(&out, |lines| lines.len() == 2);
    assert!(
        ran.contains(&"\"peer\":\"Bravo\" 2 escalated a1 r0 0".to_owned()),
        "{ran:?}"
    );
    assert!(
        ran.contains(&"\"peer\":\"Bravo\" 1 raised a2 r0 0".to_owned()),
        "{ran:?}"
    );
    let wait = Duration::from_millis(HOOK_RETRY_MS_MIN + 1_000);
    let mut runs = reported(&mut hooked, wait);
    runs.sort_unstable();
    assert_eq!(runs, [(1, 1), (2, 2)]);
    assert_eq!(lines(&out).len(), 2, "{:?}", lines(&out));
    let tried = std::fs::read_to_string(&tries).unwrap();
    assert_eq!(tried.lines().filter(|l| *l == "2").count(), 2, "{tried}");
}

/// At a start, the last change of each alarm whose hook did not run runs, marked resumed:
/// the newest `HOOK_RESUMED_MAX`; older ones are reported as dealt with, unrun.
#[test]
fn changes_made_while_no_daemon_ran_run_at_the_start_the_newest_alarms_only() {
    let dir = tempfile::tempdir().unwrap();
    let (hooks, out, mut hooked) = recording_reported(dir.path(), "true");
    let total = HOOK_RESUMED_MAX as u64 + 2;
    let unhooked: Vec<AlarmItem> = (1..=total)
        .rev()
        .map(|id| match id % 3 {
            0 => item(id, "Bravo", AlarmEvent::Raised),
            1 => item(id, "Bravo", AlarmEvent::Escalated),
            _ => item(id, "Bravo", AlarmEvent::Cleared),
        })
        .collect();
    hooks.resume(unhooked);
    let lines = wait_for(&out, |lines| lines.len() == HOOK_RESUMED_MAX);
    assert!(lines.iter().all(|l| l.ends_with(" a1 r1 0")), "{lines:?}");
    for (id, change) in [
        (total, "raised"),
        (total - 1, "cleared"),
        (total - 2, "escalated"),
    ] {
        let line = format!("\"peer\":\"Bravo\" {id} {change} ");
        assert!(
            lines.iter().any(|l| l.starts_with(&line)),
            "{line}: {lines:?}"
        );
    }
    for id in [1, 2] {
        let line = format!("\"peer\":\"Bravo\" {id} ");
        assert!(
            !lines.iter().any(|l| l.starts_with(&line)),
            "{id} is older: {lines:?}"
        );
    }
    let runs = reported(&mut hooked, Duration::from_millis(300));
    assert_eq!(runs.len(), total as usize);
    assert!(runs.contains(&(2, parley_store::CLEARED_RANK)) && runs.contains(&(1, 2)));
}

/// With no hook configured, every change is reported as dealt with at once.
#[test]
fn without_a_hook_every_change_is_dealt_with_at_once() {
    let (hooked, mut reported_to) = tokio::sync::mpsc::channel(HOOK_REPORTS_MAX);
    let hooks = Hooks::new(None, hooked);
    hooks.on_event(&alarm(4, "Bravo", AlarmEvent::Escalated));
    hooks.on_event(&alarm(4, "Bravo", AlarmEvent::Acknowledged));
    hooks.resume(vec![item(3, "Bravo", AlarmEvent::Cleared)]);
    assert_eq!(
        reported(&mut reported_to, Duration::ZERO),
        [(4, 2), (3, parley_store::CLEARED_RANK)]
    );
}

/// A retry already on its worker's queue when a later change of its alarm comes is dropped by
/// the worker, not run after it, and its peer's runs are all ended.
#[test]
fn a_retry_overtaken_on_its_worker_s_queue_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    // Alarm 1's raising fails its first try (a second would succeed, and show);
    // alarm 1 + HOOK_WORKERS, on the same worker, waits for `go`.
    let busy = 1 + HOOK_WORKERS as u64;
    let before = format!(
        "if [ \"$PARLEY_ALARM_ID $PARLEY_ALARM_CHANGE $PARLEY_ALARM_ATTEMPT\" = '1 raised 1' ]; \
         then exit 1; fi; \
         if [ \"$PARLEY_ALARM_ID\" = {busy} ]; then while [ ! -e {go} ]; do sleep 0.05; done; fi",
        go = go.display()
    );
    let (hooks, out, _hooked) = recording_reported(dir.path(), &before);
    hooks.on_event(&alarm(1, "Bravo", AlarmEvent::Raised));
    std::thread::sleep(Duration::from_millis(300));
    hooks.on_event(&alarm(busy, "Bravo", AlarmEvent::Raised));
    // The retry falls due and is queued behind the busy run; then the alarm escalates.
    std::thread::sleep(Duration::from_millis(HOOK_RETRY_MS_MIN + 700));
    hooks.on_event(&alarm(1, "Bravo", AlarmEvent::Escalated));
    std::fs::write(&go, b"").unwrap();
    let ran = wait_for(&out, |lines| lines.len() == 2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&out), ran, "nothing ran after: {ran:?}");
    assert!(
        ran.contains(&"\"peer\":\"Bravo\" 1 escalated a1 r0 0".to_owned()),
        "{ran:?}"
    );
    assert!(ran.iter().all(|l| !l.contains(" raised a2")), "{ran:?}");
    let runs = hooks.shared.runs.lock().unwrap();
    assert_eq!(runs.get("Bravo").map(|peer| peer.runs), Some(0));
}

/// Both sides of `HOOK_REPORTS_MAX`: that many runs reported wait for the driver; one more is
/// dropped and counted, never waited for (the driver reports from its own thread).
#[test]
fn at_most_so_many_reports_wait_for_the_driver() {
    let (hooked, mut reported_to) = tokio::sync::mpsc::channel(HOOK_REPORTS_MAX);
    let hooks = Hooks::new(None, hooked);
    for id in 1..=HOOK_REPORTS_MAX as u64 + 1 {
        hooks.on_event(&alarm(id, "Bravo", AlarmEvent::Raised));
    }
    let dropped = &hooks.shared.reports_dropped;
    assert_eq!(dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
    let waiting = reported(&mut reported_to, Duration::ZERO);
    assert_eq!(waiting.len(), HOOK_REPORTS_MAX);
    assert_eq!(waiting.last(), Some(&(HOOK_REPORTS_MAX as u64, 1)));
}
