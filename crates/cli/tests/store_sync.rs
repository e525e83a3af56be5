//! A station's commits end with `fdatasync(2)` on the store's log, never `fsync(2)`, which
//! would also write each commit's new modification time through the file system's journal
//! (ARCHITECTURE.md, store: `.cargo/config.toml` builds SQLite with `HAVE_FDATASYNC`).
//! `parley init` runs under strace; the test says it is skipped where strace is missing
//! (`.ci/run` installs it) or may not trace (ptrace denied).

mod common;

use std::process::Command;

use common::exe;

/// The store's write-ahead log, as strace names a descriptor open on it (`-y`).
const STORE_LOG: &str = "store.sqlite-wal>";

#[test]
fn commits_sync_the_store_s_log_with_fdatasync() {
    let strace_runs = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !strace_runs {
        eprintln!("skipped: strace is not installed (.ci/run installs it) or may not trace here");
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let home = root.path().join("alpha");
    let trace = root.path().join("syncs.txt");
    let status = Command::new("strace")
        .args(["-f", "-y", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(exe())
        .arg("--home")
        .arg(&home)
        .args(["init", "--name", "Alpha", "--lang", "en"])
        .args(["--listen", "127.0.0.1:9"])
        .status()
        .expect("runs strace");
    assert!(status.success(), "parley init under strace: {status}");
    let trace = std::fs::read_to_string(&trace).expect("reads the trace");
    let syncs = |call: &str| {
        (trace.lines())
            .filter(|line| line.contains(&format!("{call}(")) && line.contains(STORE_LOG))
            .count()
    };
    assert!(
        syncs("fdatasync") > 0,
        "no commit synced the store's log with fdatasync:\n{trace}"
    );
    assert_eq!(
        syncs("fsync"),
        0,
        "a commit synced the store's log with fsync:\n{trace}"
    );
}
