//! The alarm hook across a crash: a change whose hook did not succeed before the daemon was
//! killed runs when it starts again, marked resumed, and once it has run, never again.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use common::paired;
use common::watch::{WATCH_TIMEOUT, send, short_objectives};
use parley_testkit::harness::wait_until;

/// A hook that notes each run in `tries`, and fails unless `allow` exists; if it does, it
/// notes the run in `ran` too. Each line: `<id> <change> a<attempt> r<resumed>`.
fn hook(root: &Path) -> std::path::PathBuf {
    let script = root.join("hook.sh");
    let line =
        "$PARLEY_ALARM_ID $PARLEY_ALARM_CHANGE a$PARLEY_ALARM_ATTEMPT r$PARLEY_ALARM_RESUMED";
    let body = format!(
        "#!/bin/sh\ncd {root}\necho \"{line}\" >> tries\n[ -e allow ] || exit 1\n\
         echo \"{line}\" >> ran\n",
        root = root.display()
    );
    std::fs::write(&script, body).expect("write hook");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

#[test]
fn a_change_whose_hook_did_not_run_before_a_crash_runs_at_the_next_start_and_only_then() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, _bravo) = paired(root.path());
    let script = hook(root.path());
    short_objectives(&alpha);
    alpha
        .configure(|config| {
            config.alarms.hook = Some(script.display().to_string());
            // One change per alarm: raised.
            config.alarms.escalate_after_s = 3_600;
        })
        .unwrap();
    alpha.start().unwrap();
    // Bravo never runs: the FLASH is not receipted in time.
    send(&alpha, "Bravo", &["--precedence", "flash", "are you there"]);
    let (tries, ran) = (root.path().join("tries"), root.path().join("ran"));
    assert!(
        wait_until(WATCH_TIMEOUT, || !lines(&tries).is_empty()),
        "the hook ran"
    );
    alpha.kill9().unwrap();
    let failed: Vec<String> = lines(&tries);
    assert!(
        failed.iter().all(|l| l.ends_with(" raised a1 r0")),
        "{failed:?}"
    );
    assert!(lines(&ran).is_empty());

    std::fs::write(root.path().join("allow"), b"").unwrap();
    alpha.start().unwrap();
    let resumed: Vec<String> = failed.iter().map(|l| l.replace(" r0", " r1")).collect();
    let all_ran = wait_until(WATCH_TIMEOUT, || {
        let ran = lines(&ran);
        resumed.iter().all(|line| ran.contains(line))
    });
    assert!(all_ran, "resumed {resumed:?}, ran {:?}", lines(&ran));
    // The hook exits after its line and the daemon records that: give it the time.
    std::thread::sleep(Duration::from_secs(2));

    // Recorded as run: another start does not run them again.
    alpha.stop().unwrap();
    alpha.start().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    alpha.stop().unwrap();
    let ran = lines(&ran);
    for line in &resumed {
        assert_eq!(ran.iter().filter(|l| *l == line).count(), 1, "{ran:?}");
    }
    assert!(
        ran.iter()
            .all(|l| !l.ends_with(" r1") || resumed.contains(l)),
        "{ran:?}"
    );
}
