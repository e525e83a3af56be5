//! A station's disk. Without torn writes, the production store in memory: a commit is all or
//! nothing, so a crash keeps or loses it whole. With torn writes, the production store in files
//! on a RAM disk: a crash in the middle of a commit leaves what SQLite had written of it to its
//! write-ahead log cut short or with a changed byte, as a power loss would (the log's index,
//! in shared memory, is lost with the power), and the station restarts from those files.
//! SQLite's log checksums must drop the torn commit whole: the store reopens, passes its own
//! check and holds exactly what it held before the commit.

use std::ops::Range;
use std::path::{Path, PathBuf};

use parley_proto::StationId;
use parley_store::Store;
use tempfile::TempDir;

use super::{Dice, Outcome};

/// The store's file name in its directory.
const STORE_FILE: &str = "store.sqlite";
/// Size of the header of SQLite's write-ahead log, in bytes.
const WAL_HEADER_BYTES: usize = 32;
/// Where the salt lies in that header, in bytes; the log starts over with a new salt, and
/// each frame's header repeats the salt of the log it belongs to.
const WAL_SALT: Range<usize> = 16..24;
/// Where the salt lies in a frame's header.
const FRAME_SALT: Range<usize> = 8..16;
/// Where a frame's header says the database's size in pages: not zero only in the last frame
/// of a commit.
const FRAME_COMMIT_SIZE: Range<usize> = 4..8;
/// Where the log's header gives its page size.
const WAL_PAGE_SIZE: Range<usize> = 8..12;
/// Size of the header in front of each page in that log, in bytes.
const WAL_FRAME_HEADER_BYTES: usize = 24;
/// Where the files of a torn-writes disk go: a RAM disk when there is one.
const RAM_DISK: &str = "/dev/shm";

/// Where a station's store lives.
pub(crate) enum Disk {
    /// In memory: commits are whole or lost.
    Memory,
    /// In files, which a crash can leave torn.
    Files(TempDir),
}

/// What a store holds of its links with `peers`, compared before and after a torn commit.
#[derive(PartialEq, Eq, Debug)]
struct Held {
    links: Vec<(parley_proto::LinkSnapshot, Vec<parley_store::StoredEntry>)>,
    alarms: Vec<parley_store::AlarmRow>,
    check: parley_store::CheckSummary,
}

impl Held {
    fn of(store: &Store, peers: &[StationId]) -> Outcome<Self> {
        let failed = |e: parley_store::StoreError| e.to_string();
        let link = |peer| -> Outcome<_> {
            Ok((
                store.link_snapshot(peer).map_err(failed)?,
                store.entries(peer).map_err(failed)?,
            ))
        };
        Ok(Self {
            links: peers.iter().map(link).collect::<Outcome<_>>()?,
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
}

/// What a disk held before a commit a crash will tear.
pub(crate) struct BeforeCommit {
    held: Held,
    /// The database file: a checkpoint at the end of the commit may copy the commit into it,
    /// which a power loss in the middle of the commit never lets happen.
    database: Vec<u8>,
    log: Vec<u8>,
}

impl Disk {
    /// What `store` on this disk holds now, before a commit a crash will tear.
    pub fn before_commit(&self, store: &Store, peers: &[StationId]) -> Outcome<BeforeCommit> {
        let Disk::Files(dir) = self else {
            return Err("only a disk in files can be torn".into());
        };
        Ok(BeforeCommit {
            held: Held::of(store, peers)?,
            database: std::fs::read(dir.path().join(STORE_FILE))
                .map_err(|e| format!("reading the store's file: {e}"))?,
            log: read_log(dir.path()),
        })
    }

    /// The commit written since `before` is torn as a crash in its middle would leave it,
    /// and the files are reopened as a restarting station opens them. Returns the store and
    /// disk the station restarts from, or `None` when the commit wrote no frame to the log or
    /// the tear left every byte of it as written.
    pub fn tear(
        &self,
        before: BeforeCommit,
        peers: &[StationId],
        dice: &mut Dice,
    ) -> Outcome<Option<(Store, Disk)>> {
        let Disk::Files(dir) = self else {
            return Err("only a disk in files can be torn".into());
        };
        let after = read_log(dir.path());
        let Some(written) = commit_frames(&before.log, &after) else {
            return Ok(None);
        };
        let length = (written.end - written.start) as u64;
        // The log as the power left it: the commit's bytes up to where the write stopped,
        // and past it what the file held before; or all of them with one byte changed.
        let mut torn = after.clone();
        match dice.chance(500) {
            true => {
                let stop = written.start + dice.between((0, length - 1)) as usize;
                torn.truncate(stop);
                torn.extend_from_slice(before.log.get(stop..).unwrap_or_default());
            }
            false => torn[written.start + dice.between((0, length - 1)) as usize] ^= 0x01,
        }
        // A write cut short where the bytes left from before are the ones it was writing (a
        // page rewritten in the slot of a stale copy of itself) tears nothing: the commit is
        // whole, and durable.
        if torn.get(written.clone()) == after.get(written.clone()) {
            return Ok(None);
        }
        // The files as the power left them: the database as it was, the log torn, no index.
        let restarted = scratch_dir()?;
        std::fs::write(restarted.path().join(STORE_FILE), &before.database)
            .map_err(|e| format!("writing the store's file: {e}"))?;
        std::fs::write(wal_path(restarted.path()), torn)
            .map_err(|e| format!("writing the torn log: {e}"))?;
        let reopened = Store::open(&restarted.path().join(STORE_FILE)).map_err(|e| {
            format!("a commit torn by a crash left a store that does not open: {e}")
        })?;
        let found = Held::of(&reopened, peers)?;
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

/// Where the frames of the last commit lie in the log `after`, given the log `before` it:
/// from the end of the frames `before` holds under the same salt (or the log's start, when
/// the log began again under a new salt) to the end of the last commit frame of `after`.
/// `None` when the commit wrote no frame.
fn commit_frames(before: &[u8], after: &[u8]) -> Option<Range<usize>> {
    let header = after.get(..WAL_HEADER_BYTES)?;
    let salt = &header[WAL_SALT];
    let page = u32::from_be_bytes(header[WAL_PAGE_SIZE].try_into().expect("four bytes")) as usize;
    let start = match before.get(WAL_SALT) {
        Some(old) if old == salt => committed_end(before, salt, page),
        _ => WAL_HEADER_BYTES,
    };
    let end = committed_end(after, salt, page);
    (end > start).then_some(start..end)
}

/// The end of the last commit frame in `log` under `salt`: frames follow the header, each a
/// header of its own (page number, database size — not zero only in a commit's last frame —
/// and the log's salt) and a page; the first frame under another salt is stale, left from
/// before the log began again.
fn committed_end(log: &[u8], salt: &[u8], page: usize) -> usize {
    let frame = WAL_FRAME_HEADER_BYTES + page;
    let mut at = WAL_HEADER_BYTES;
    let mut end = WAL_HEADER_BYTES;
    while let Some(header) = log.get(at..at + WAL_FRAME_HEADER_BYTES) {
        if at + frame > log.len() || &header[FRAME_SALT] != salt {
            break;
        }
        if header[FRAME_COMMIT_SIZE] != [0; 4] {
            end = at + frame;
        }
        at += frame;
    }
    end
}

/// The write-ahead log in `dir` (empty when there is none).
fn read_log(dir: &Path) -> Vec<u8> {
    std::fs::read(wal_path(dir)).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A page size small enough to write logs by hand.
    const PAGE: usize = 4;

    fn header(salt: u8) -> Vec<u8> {
        let mut header = vec![0; WAL_HEADER_BYTES];
        header[WAL_PAGE_SIZE].copy_from_slice(&(PAGE as u32).to_be_bytes());
        header[WAL_SALT].fill(salt);
        header
    }

    /// A frame under `salt`; `commit` marks a commit's last frame.
    fn frame(salt: u8, commit: bool) -> Vec<u8> {
        let mut frame = vec![0; WAL_FRAME_HEADER_BYTES + PAGE];
        if commit {
            frame[FRAME_COMMIT_SIZE].copy_from_slice(&7u32.to_be_bytes());
        }
        frame[FRAME_SALT].fill(salt);
        frame
    }

    fn log(salt: u8, frames: &[(u8, bool)]) -> Vec<u8> {
        let mut log = header(salt);
        for &(salt, commit) in frames {
            log.extend(frame(salt, commit));
        }
        log
    }

    #[test]
    fn a_commit_appended_to_the_log_lies_after_the_frames_before_it() {
        let size = WAL_FRAME_HEADER_BYTES + PAGE;
        let before = log(1, &[(1, true)]);
        let after = log(1, &[(1, true), (1, false), (1, true)]);
        let start = WAL_HEADER_BYTES + size;
        assert_eq!(
            commit_frames(&before, &after),
            Some(start..start + 2 * size)
        );
    }

    #[test]
    fn a_commit_that_begins_the_log_again_lies_at_its_start_over_stale_frames() {
        let size = WAL_FRAME_HEADER_BYTES + PAGE;
        let before = log(1, &[(1, false), (1, true), (1, true)]);
        // The new salt's commit overwrote the first two frames; the third is stale.
        let after = log(2, &[(2, false), (2, true), (1, true)]);
        assert_eq!(
            commit_frames(&before, &after),
            Some(WAL_HEADER_BYTES..WAL_HEADER_BYTES + 2 * size)
        );
    }

    #[test]
    fn frames_past_the_last_commit_are_not_the_commit() {
        let before = log(1, &[(1, true)]);
        // Frames written but no commit frame yet: nothing committed.
        let after = log(1, &[(1, true), (1, false)]);
        assert_eq!(commit_frames(&before, &after), None);
        assert_eq!(commit_frames(&before, &before), None);
        assert_eq!(commit_frames(&[], &[]), None);
    }
}
