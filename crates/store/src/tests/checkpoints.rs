//! The write-ahead log's checkpoints: a daemon's store runs them in a thread of its own from
//! [`CHECKPOINT_AFTER_PAGES`], and the writer runs them itself only from
//! [`CHECKPOINT_WRITER_PAGES`], the log's bound.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parley_proto::{SignedEntry, StoreOp};

use super::fixture::{Station, chain, frame_sized, initialised, temp_path};
use crate::{
    CHECKPOINT_AFTER_PAGES, CHECKPOINT_WRITER_PAGES, CheckpointCounts, LOG_FILE_KEPT_MAX_BYTES,
    Store, StoreError,
};

/// The database's page size, in bytes (SQLite's default).
const PAGE_BYTES: u64 = 4_096;

/// Each appended entry's outbox frame's ciphertext, in bytes: a dozen pages of overflow, so
/// that the log grows quickly.
const FRAME_BYTES: usize = 12 * 4_096;

/// Entries committed together.
const BATCH: usize = 8;

/// A paired store at `path` with its own log for Bravo signed ahead, nothing appended yet.
struct Writer {
    store: Store,
    alpha: Station,
    bravo: Station,
    own: Vec<SignedEntry>,
    next: usize,
}

impl Writer {
    fn new(path: &Path, entries: u64) -> Self {
        let alpha = Station::new(1, "Alpha");
        let bravo = Station::new(2, "Bravo");
        let own = chain(&alpha, &bravo.id(), entries);
        let mut store = initialised(path, &alpha);
        store
            .commit_with_peer(Some(bravo.as_new_peer()), &[])
            .expect("paired");
        Writer {
            store,
            alpha,
            bravo,
            own,
            next: 0,
        }
    }

    /// Commits the next batch of entries; returns the frames the log then holds, as long as
    /// it was never emptied (SQLite reuses the file from its start after a checkpoint).
    fn commit_batch(&mut self, wal: &Path) -> u64 {
        let ops: Vec<StoreOp> = self.own[self.next..self.next + BATCH]
            .iter()
            .map(|entry| StoreOp::AppendOwn {
                peer: self.bravo.id(),
                entry: entry.clone(),
                frame: frame_sized(&self.alpha, &self.bravo, entry, FRAME_BYTES),
            })
            .collect();
        self.next += BATCH;
        self.store.commit(&ops).expect("committed");
        frames_in(wal)
    }
}

/// The write-ahead log beside the database at `path`.
fn wal_of(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Frames the log file holds: a 32-byte header, then frames of a 24-byte header and a page.
fn frames_in(wal: &Path) -> u64 {
    let bytes = std::fs::metadata(wal).map_or(0, |meta| meta.len());
    bytes.saturating_sub(32) / (24 + PAGE_BYTES)
}

/// Waits up to ten seconds for `done` to hold of the store's counts.
fn wait_for(store: &Store, done: impl Fn(CheckpointCounts) -> bool) -> CheckpointCounts {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts = store.checkpoint_counts();
        if done(counts) || Instant::now() > deadline {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn threshold(pages: i32) -> u64 {
    u64::try_from(pages).expect("positive")
}

#[test]
fn the_checkpoint_thread_runs_from_its_threshold_and_the_writer_only_from_its_bound() {
    let (_dir, path) = temp_path();
    let wal = wal_of(&path);
    let entries = 2 * threshold(CHECKPOINT_WRITER_PAGES) / 12;
    let mut writer = Writer::new(&path, entries);
    writer
        .store
        .checkpoint_in_background()
        .expect("the thread starts");
    writer.store.checkpoint_in_background().expect("idempotent");
    let batch_pages = u64::try_from(BATCH * FRAME_BYTES).expect("small") / PAGE_BYTES;

    // Below the threshold: no checkpoint at all, by anyone.
    let mut frames = 0;
    while frames < threshold(CHECKPOINT_AFTER_PAGES) {
        let counts = writer.store.checkpoint_counts();
        assert_eq!(counts.background + counts.by_writer, 0, "{frames} frames");
        assert_eq!(counts.log_pages, frames);
        frames = writer.commit_batch(&wal);
    }
    // The commit that took the log to the threshold woke the thread, whose checkpoint had
    // the whole log to itself: the next commit writes the log from its start.
    let counts = wait_for(&writer.store, |counts| counts.background >= 1);
    assert!(counts.background >= 1, "{counts:?}");
    assert_eq!(counts.by_writer, 0, "{counts:?}");
    let grown = frames_in(&wal);
    writer.commit_batch(&wal);
    let counts = writer.store.checkpoint_counts();
    assert!(
        counts.log_pages < 2 * batch_pages,
        "the log was reused: {counts:?}"
    );
    assert_eq!(counts.by_writer, 0, "{counts:?}");
    // Within the limit, its file is kept whole, to be written over rather than appended to.
    assert!(grown >= threshold(CHECKPOINT_AFTER_PAGES), "{grown} frames");
    assert_eq!(frames_in(&wal), grown, "not cut back");

    // Commits back to back: the thread's checkpoints run beside them, and the writer's only
    // at its bound, in the very commit that reached it; the next commit reuses the log.
    let mut most = 0;
    let mut at_bound = 0;
    while writer.next + BATCH <= writer.own.len() {
        let before = writer.store.checkpoint_counts();
        writer.commit_batch(&wal);
        let counts = writer.store.checkpoint_counts();
        most = most.max(counts.log_pages);
        if counts.log_pages >= threshold(CHECKPOINT_WRITER_PAGES) {
            at_bound += 1;
            assert_eq!(counts.by_writer, before.by_writer + 1, "{counts:?}");
        } else {
            assert_eq!(counts.by_writer, before.by_writer, "{counts:?}");
        }
    }
    let written = u64::try_from(writer.own.len() * FRAME_BYTES).expect("small") / PAGE_BYTES;
    assert!(written > threshold(CHECKPOINT_WRITER_PAGES), "{written}");
    assert!(
        most < threshold(CHECKPOINT_WRITER_PAGES) + batch_pages + batch_pages / 4,
        "the log stays bounded: {most} pages at most"
    );
    assert!(
        frames_in(&wal) < threshold(CHECKPOINT_WRITER_PAGES) + batch_pages + batch_pages / 4,
        "the log's file too"
    );
    let counts = writer.store.checkpoint_counts();
    assert!(counts.background >= 2, "{counts:?}");
    assert_eq!(counts.by_writer, at_bound, "{counts:?}");

    // Dropping the store ends the thread (the drop waits for it) and closes its connection
    // last, which copies the log into the database and removes it.
    let committed = u64::try_from(writer.next).expect("small");
    drop(writer);
    assert!(!wal.exists(), "the log is gone with the last connection");
    let store = Store::open(&path).expect("reopens");
    let counts = store.counts(&Station::new(2, "Bravo").id()).expect("reads");
    assert_eq!(
        counts.outbox_depth, committed,
        "every entry committed is stored"
    );
}

#[test]
fn a_reader_keeps_the_log_from_being_reused_until_it_ends() {
    let (_dir, path) = temp_path();
    let wal = wal_of(&path);
    let entries = threshold(CHECKPOINT_WRITER_PAGES) / 12 + 64;
    let mut writer = Writer::new(&path, entries);
    writer
        .store
        .checkpoint_in_background()
        .expect("the thread starts");
    // A reader in the middle of a transaction: no checkpoint can reuse the log while it
    // reads, so the log grows whatever the thread does.
    let reader = rusqlite::Connection::open(&path).expect("a reader opens");
    reader.execute_batch("BEGIN").expect("begins");
    let _: i64 = reader
        .query_row("SELECT count(*) FROM entries", [], |row| row.get(0))
        .expect("reads");

    let mut frames = 0;
    while frames < threshold(CHECKPOINT_WRITER_PAGES) {
        let counts = writer.store.checkpoint_counts();
        assert_eq!(counts.by_writer, 0, "{frames} frames: {counts:?}");
        frames = writer.commit_batch(&wal);
    }
    // The commit that reached the bound checkpointed, and so does each one after it, while
    // the log grows past the bound.
    assert_eq!(writer.store.checkpoint_counts().by_writer, 1);
    writer.commit_batch(&wal);
    let counts = writer.store.checkpoint_counts();
    assert_eq!(counts.by_writer, 2, "{counts:?}");
    assert!(
        counts.log_pages > threshold(CHECKPOINT_WRITER_PAGES),
        "{counts:?}"
    );
    assert!(counts.background >= 1, "{counts:?}");

    let grown = std::fs::metadata(&wal).expect("the log").len();
    assert!(
        grown > LOG_FILE_KEPT_MAX_BYTES.unsigned_abs(),
        "{grown} bytes"
    );

    // Once the reader ends, the next commit's checkpoint copies the whole log and the one
    // after reuses it, cutting its file back to the limit.
    reader.execute_batch("COMMIT").expect("ends");
    writer.commit_batch(&wal);
    writer.commit_batch(&wal);
    let counts = writer.store.checkpoint_counts();
    assert!(
        counts.log_pages < threshold(CHECKPOINT_AFTER_PAGES),
        "{counts:?}"
    );
    let kept = std::fs::metadata(&wal).expect("the log").len();
    assert!(
        kept <= LOG_FILE_KEPT_MAX_BYTES.unsigned_abs(),
        "{kept} bytes"
    );
}

#[test]
fn only_a_writable_store_on_disk_checkpoints_in_background() {
    let mut memory = Store::open_in_memory().expect("opens");
    let refused = memory.checkpoint_in_background();
    assert!(
        matches!(&refused, Err(StoreError::InvalidOp(why)) if why.contains("in memory")),
        "{refused:?}"
    );
    let (_dir, path) = temp_path();
    drop(initialised(&path, &Station::new(1, "Alpha")));
    let mut reader = Store::open_read_only(&path).expect("opens");
    let refused = reader.checkpoint_in_background();
    assert!(matches!(refused, Err(StoreError::ReadOnly)), "{refused:?}");
    assert_eq!(reader.checkpoint_counts(), CheckpointCounts::default());
}
