//! A station's disk. Without torn writes, the production store in memory: a commit is all or
//! nothing, so a crash keeps or loses it whole. With torn writes, the production store in files
//! on a RAM disk: a crash in the middle of a commit leaves what SQLite had written of it to its
//! write-ahead log cut short or with a changed byte, as a power loss would (the log's index,
//! in shared memory, is lost with the power), and the station restarts from those files.
//! SQLite's log checksums must drop the torn commit whole: the store reopens, passes its own
//! check and holds exactly what it held before the commit.

use std::path::{Path, PathBuf};

use parley_proto::StationId;
use parley_store::Store;
use tempfile::TempDir;

use super::{Dice, Outcome};

/// The store's file name in its directory.
const STORE_FILE: &str = "store.sqlite";
/// Size of the header of SQLite's write-ahead log, in bytes.
const WAL_HEADER_BYTES: usize = 32;
/// Where the salt in that header begins, in bytes; the log starts over with a new salt.
const WAL_SALT_AT: usize = 16;
/// Where the files of a torn-writes disk go: a RAM disk when there is one.
const RAM_DISK: &str = "/dev/shm";

/// Where a station's store lives.
pub(crate) enum Disk {
    /// In memory: commits are whole or lost.
    Memory,
    /// In files, which a crash can leave torn.
    Files(TempDir),
}

/// How a commit a crash interrupted was torn.
pub(crate) enum Tear {
    /// The log ends this many bytes into the commit (0: none of it was written).
    Cut(usize),
    /// Every byte of the commit was written, but the one at this offset into it changed.
    Flip(usize),
}

/// What a store holds of its link with `peer`, compared before and after a torn commit.
#[derive(PartialEq, Eq, Debug)]
struct Held {
    snapshot: parley_proto::LinkSnapshot,
    entries: Vec<parley_store::StoredEntry>,
    alarms: Vec<parley_store::AlarmRow>,
    check: parley_store::CheckSummary,
}

impl Held {
    fn of(store: &Store, peer: &StationId) -> Outcome<Self> {
        let failed = |e: parley_store::StoreError| e.to_string();
        Ok(Self {
            snapshot: store.link_snapshot(peer).map_err(failed)?,
            entries: store.entries(peer).map_err(failed)?,
            alarms: store.alarms(true).map_err(failed)?,
            check: store.check().map_err(failed)?,
        })
    }
}

impl Disk {
    /// A fresh store: in files when `torn_writes`, else in memory.
    pub fn open(torn_writes: bool) -> Outcome<(Store, Self)> {
        if !torn_writes {
            let store = Store::open_in_memory().map_err(|e| e.to_string())?;
            return Ok((store, Disk::Memory));
        }
        let dir = scratch_dir()?;
        let store = Store::open(&dir.path().join(STORE_FILE)).map_err(|e| e.to_string())?;
        Ok((store, Disk::Files(dir)))
    }

    /// Whether a crash can tear a commit on this disk.
    pub fn tears(&self) -> bool {
        matches!(self, Disk::Files(_))
    }

    /// The write-ahead log as it is now (empty when there is none).
    fn log(&self) -> Vec<u8> {
        match self {
            Disk::Memory => Vec::new(),
            Disk::Files(dir) => std::fs::read(wal_path(dir.path())).unwrap_or_default(),
        }
    }
}

/// What a disk held before a commit a crash will tear.
pub(crate) struct BeforeCommit {
    held: Held,
    log: Vec<u8>,
}

impl Disk {
    /// What `store` on this disk holds now, before a commit a crash will tear.
    pub fn before_commit(&self, store: &Store, peer: &StationId) -> Outcome<BeforeCommit> {
        Ok(BeforeCommit {
            held: Held::of(store, peer)?,
            log: self.log(),
        })
    }

    /// The commit written since `before` is torn as a crash in its middle would leave it,
    /// and the files are reopened as a restarting station opens them. Returns the store and
    /// disk the station restarts from, or `None` when the log began again during the commit
    /// (a checkpoint), so that no part of it can be torn: then the commit is whole on disk.
    pub fn tear(
        &self,
        before: BeforeCommit,
        peer: &StationId,
        dice: &mut Dice,
    ) -> Outcome<Option<(Store, Disk)>> {
        let Disk::Files(dir) = self else {
            return Err("only a disk in files can be torn".into());
        };
        let after = self.log();
        let log = &before.log;
        let same_log = log.len() >= WAL_HEADER_BYTES
            && after.len() > log.len()
            && log[WAL_SALT_AT..WAL_HEADER_BYTES] == after[WAL_SALT_AT..WAL_HEADER_BYTES];
        if !same_log {
            return Ok(None);
        }
        let written = (after.len() - log.len()) as u64;
        let tear = match dice.chance(500) {
            true => Tear::Cut(dice.between((0, written - 1)) as usize),
            false => Tear::Flip(dice.between((0, written - 1)) as usize),
        };
        let mut torn = after;
        match tear {
            Tear::Cut(at) => torn.truncate(log.len() + at),
            Tear::Flip(at) => torn[log.len() + at] ^= 0x01,
        }
        // The files as the power left them: the database as it was, the log torn, no index.
        let restarted = scratch_dir()?;
        std::fs::copy(
            dir.path().join(STORE_FILE),
            restarted.path().join(STORE_FILE),
        )
        .map_err(|e| format!("copying the store's file: {e}"))?;
        std::fs::write(wal_path(restarted.path()), torn)
            .map_err(|e| format!("writing the torn log: {e}"))?;
        let reopened = Store::open(&restarted.path().join(STORE_FILE)).map_err(|e| {
            format!("a commit torn by a crash left a store that does not open: {e}")
        })?;
        let found = Held::of(&reopened, peer)?;
        if found != before.held {
            return Err(format!(
                "a commit torn by a crash was not dropped whole: the store held {:?} before it \
                 and {found:?} after",
                before.held
            ));
        }
        Ok(Some((reopened, Disk::Files(restarted))))
    }
}

fn wal_path(dir: &Path) -> PathBuf {
    dir.join(format!("{STORE_FILE}-wal"))
}

fn scratch_dir() -> Outcome<TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("parley-sim-");
    match Path::new(RAM_DISK).is_dir() {
        true => builder.tempdir_in(RAM_DISK),
        false => builder.tempdir(),
    }
    .map_err(|e| format!("creating a directory for a simulated disk: {e}"))
}
