//! The write-ahead log's checkpoints, off the writer's path.
//!
//! A commit appends its pages to the log and syncs the log; a checkpoint copies the log's pages
//! into the database file and syncs that file, after which the next commit writes the log from
//! its start again. SQLite runs a checkpoint inside the commit that takes the log past 1,000
//! pages, so that commit also waits for the copy and a second sync. A daemon's store instead
//! hands its checkpoints to a thread of their own ([`Store::checkpoint_in_background`]) with its
//! own connection, and its commits only append and sync the log.
//!
//! What a commit guarantees is unchanged: a checkpoint only copies what is already durable in
//! the log. The log is reused from its start by the first commit after a checkpoint that
//! copied all of it, which needs a pause between commits: under commits back to back (or
//! checkpoints slower than commits) the thread's checkpoints copy most of the log but never all
//! of it. So from [`CHECKPOINT_WRITER_PAGES`] the writer checkpoints itself, as SQLite would
//! from 1,000, after the thread's checkpoint in progress, copying only what that one left; the
//! next commit reuses the log. That is the log's bound, except where SQLite's own has none: a
//! reader in the middle of a transaction keeps any checkpoint from reusing the log, which grows
//! until the reader ends. Readers see nothing of it.
//!
//! [`Store::checkpoint_in_background`]: crate::Store::checkpoint_in_background

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, MAIN_DB};

use crate::error::{SqlContext, StoreError};

/// Pages in the write-ahead log after a commit from which the background thread is asked to
/// checkpoint, in pages (of 4 KiB): SQLite's own default for the checkpoint it runs inside a
/// commit.
pub const CHECKPOINT_AFTER_PAGES: i32 = 1_000;

/// Pages in the write-ahead log after a commit from which the writer checkpoints itself, in
/// pages: the bound on the log (62.5 MiB of pages) when the background thread cannot finish
/// (commits back to back) or cannot keep up. Under sustained load the writer then syncs
/// the database once per this many pages, not once per [`CHECKPOINT_AFTER_PAGES`]: at four
/// times fewer pages the benchmark's throughput gained nothing.
pub const CHECKPOINT_WRITER_PAGES: i32 = 16 * CHECKPOINT_AFTER_PAGES;

/// The most of its write-ahead log file a store keeps once the log is reused, in bytes: the
/// log's bound, [`CHECKPOINT_WRITER_PAGES`] frames (a page and its 24-byte header each) after
/// the file's 32-byte header. SQLite writes the log over from its start after a checkpoint
/// rather than appending, and a sync of written-over pages is the cheaper one, so a file within
/// the bound is kept whole (a limit of 8 MiB, which cut the file back after each burst, made
/// the benchmark's throughput about 3 % lower). A file that grew past it, because a reader held
/// the log, is cut back to it by the first commit that reuses the log, instead of keeping that
/// growth for as long as the store is open.
pub const LOG_FILE_KEPT_MAX_BYTES: i64 = 32 + CHECKPOINT_WRITER_PAGES as i64 * (4_096 + 24);

/// What the checkpoints of a store did since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointCounts {
    /// Checkpoints the background thread ran.
    pub background: u64,
    /// Checkpoints the writer ran itself, the log past [`CHECKPOINT_WRITER_PAGES`].
    pub by_writer: u64,
    /// CPU time of the background thread, in microseconds.
    pub background_cpu_us: u64,
    /// Pages in the write-ahead log after the latest commit.
    pub log_pages: u64,
}

#[derive(Debug, Default)]
struct Counters {
    background: AtomicU64,
    by_writer: AtomicU64,
    background_cpu_us: AtomicU64,
    log_pages: AtomicU64,
    /// Whether the writer's latest checkpoint failed (a failure is logged once per run).
    writer_failing: AtomicBool,
}

/// The background thread of one store, and what the writer's log hook shares with it.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    /// The thread, which hands its connection back when it ends.
    thread: Option<JoinHandle<Connection>>,
    counters: Arc<Counters>,
    /// Held by whoever checkpoints: the background thread, and the writer when it empties
    /// the log after an erasure (which must not find the thread in the middle of one).
    running: Arc<Mutex<()>>,
}

impl Checkpointer {
    /// Starts the thread with its own connection to the database at `path`, and sets `writer`'s
    /// log hook to wake it (which turns SQLite's checkpoint inside the commit off).
    pub(crate) fn start(writer: &mut Connection, path: &Path) -> Result<Self, StoreError> {
        let connection = crate::schema::open_checkpointer(path)?;
        let counters = Arc::new(Counters::default());
        let running = Arc::new(Mutex::new(()));
        let (wake, woken) = sync_channel::<()>(1);
        let thread = {
            let counters = Arc::clone(&counters);
            let running = Arc::clone(&running);
            std::thread::Builder::new()
                .name("parley-checkpoint".into())
                .spawn(move || {
                    let mut failing = false;
                    // Ends when the writer's connection (and its hook, the only sender) is gone.
                    while woken.recv().is_ok() {
                        let held = running.lock().unwrap_or_else(PoisonError::into_inner);
                        let result = passive(&connection);
                        drop(held);
                        counters
                            .background_cpu_us
                            .store(thread_cpu_us(), Ordering::Relaxed);
                        match result {
                            Ok(_) => {
                                counters.background.fetch_add(1, Ordering::Relaxed);
                                if std::mem::take(&mut failing) {
                                    tracing::info!("checkpoints of the store's write-ahead log succeed again");
                                }
                            }
                            // Once per run of failures: the next commit past the threshold
                            // asks again, and the writer checkpoints at its bound.
                            Err(error) if !failing => {
                                failing = true;
                                tracing::warn!(%error, "a checkpoint of the store's write-ahead log failed; it is tried again after each commit past {CHECKPOINT_AFTER_PAGES} pages");
                            }
                            Err(_) => {}
                        }
                    }
                    // Closed by the drop, after the writer's: the last connection closed
                    // copies the log into the database and removes it.
                    connection
                })
                .map_err(|source| StoreError::File {
                    context: "starting the store's checkpoint thread".into(),
                    source,
                })?
        };
        set_hook(writer, wake, Arc::clone(&counters), Arc::clone(&running))?;
        Ok(Self {
            thread: Some(thread),
            counters,
            running,
        })
    }

    /// What the checkpoints did so far.
    pub(crate) fn counts(&self) -> CheckpointCounts {
        CheckpointCounts {
            background: self.counters.background.load(Ordering::Relaxed),
            by_writer: self.counters.by_writer.load(Ordering::Relaxed),
            background_cpu_us: self.counters.background_cpu_us.load(Ordering::Relaxed),
            log_pages: self.counters.log_pages.load(Ordering::Relaxed),
        }
    }

    /// The writer emptied the log (after an erasure): no page in it any more.
    pub(crate) fn emptied(&self) {
        self.counters.log_pages.store(0, Ordering::Relaxed);
    }

    /// Runs `f` while no background checkpoint runs.
    pub(crate) fn exclusive<T>(&self, f: impl FnOnce() -> T) -> T {
        let _held = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        f()
    }
}

impl Drop for Checkpointer {
    /// Waits for the thread, which ends once the writer's connection closed (the store drops
    /// its connection before its checkpointer), then closes the thread's connection: the last
    /// one, which copies the log into the database and removes it, as the writer's close did
    /// before.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(connection) => drop(connection),
                Err(_panicked) => tracing::warn!("the store's checkpoint thread panicked"),
            }
        }
    }
}

/// Sets `writer`'s log hook: after each commit, past [`CHECKPOINT_AFTER_PAGES`] it wakes the
/// background thread (never waiting: one wake-up pending is enough), past
/// [`CHECKPOINT_WRITER_PAGES`] it checkpoints itself, after the thread's checkpoint in
/// progress if any.
fn set_hook(
    writer: &mut Connection,
    wake: SyncSender<()>,
    counters: Arc<Counters>,
    running: Arc<Mutex<()>>,
) -> Result<(), StoreError> {
    let hook = move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
        let log_pages = u64::try_from(pages).unwrap_or(0);
        counters.log_pages.store(log_pages, Ordering::Relaxed);
        if pages >= CHECKPOINT_WRITER_PAGES {
            by_writer(wal, &running, &counters);
        } else if pages >= CHECKPOINT_AFTER_PAGES
            && let Err(TrySendError::Disconnected(())) = wake.try_send(())
        {
            // The thread is gone (it panicked, and said so): the writer checkpoints as SQLite
            // would.
            by_writer(wal, &running, &counters);
        }
        // The commit is made whatever happened here: an error would report it as failed.
        Ok(())
    };
    writer
        .wal_hook(Some(hook))
        .context("setting the write-ahead log's hook")
}

/// The writer's own checkpoint, in its log hook: after the thread's checkpoint in progress, if
/// any (which never waits for anyone, and the writer holds no transaction here).
fn by_writer(wal: &mut rusqlite::hooks::Wal, running: &Mutex<()>, counters: &Counters) {
    let _held = running.lock().unwrap_or_else(PoisonError::into_inner);
    match wal.checkpoint_v2(CheckpointMode::PASSIVE) {
        Ok(_) => {
            counters.by_writer.fetch_add(1, Ordering::Relaxed);
            counters.writer_failing.store(false, Ordering::Relaxed);
        }
        Err(error) => {
            if !counters.writer_failing.swap(true, Ordering::Relaxed) {
                tracing::warn!(%error, "the writer's checkpoint of the store's write-ahead log failed; it is tried again after each commit past {CHECKPOINT_WRITER_PAGES} pages");
            }
        }
    }
}

/// A checkpoint that waits for no one: it copies what no reader still needs.
fn passive(connection: &Connection) -> rusqlite::Result<(i32, i32)> {
    connection.wal_checkpoint_v2(Some(MAIN_DB), CheckpointMode::PASSIVE)
}

/// CPU time this thread has used, in microseconds.
fn thread_cpu_us() -> u64 {
    let spent = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let seconds = u64::try_from(spent.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(spent.tv_nsec).unwrap_or(0);
    seconds
        .saturating_mul(1_000_000)
        .saturating_add(nanos / 1_000)
}
