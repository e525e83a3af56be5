//! A drop folder (a shared mount or a removable drive): a thread per folder that, every scan
//! interval, checks the folder is there and safe, writes one signed bundle per peer with the
//! frames queued since the last scan, and hands every bundle addressed to this station to the
//! station, deleting it once its contents are committed, or setting it aside as `.rejected`
//! when it is refused. A file that is not a regular file within the size limit is set aside
//! without being read, and reported.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use parley_proto::limits::{BUNDLE_FRAMES_MAX, BUNDLE_SIZE_MAX_BYTES};
use parley_proto::{Bundle, Identity, LinkId, StationId};
use tokio::sync::oneshot;

use super::{BUNDLE_SUFFIX, FileError, REJECTED_SUFFIX, bundle_file_name, compact_fingerprint};
use crate::report::{Disposal, Inbound, Report, Signal, Via};

/// Most frames a folder holds between two scans, besides those waiting in its queue; beyond
/// it the station's queue fills and it counts what it cannot hand over (the protocol resends).
pub const FOLDER_QUEUE_FRAMES_MAX: usize = BUNDLE_FRAMES_MAX;
/// Most names a folder remembers of each kind: refused but impossible to set aside, or
/// imported but impossible to delete (so they are not read again every scan), and unreadable
/// (so they are warned about once); beyond it the first in name order are forgotten. Those
/// that are no whole bundle yet (each timed from when it was first seen) are remembered up to
/// [`FOLDER_SCAN_NAMES_MAX`], as many as a scan takes. Bundles
/// waiting to be read again (their frames refused for now) are never forgotten: beyond it, a
/// new one is deleted as if all of it were held.
pub const FOLDER_SKIPPED_NAMES_MAX: usize = 1024;
/// Most bundle names addressed to this station one scan takes, the first in name order (the
/// oldest of each sender first); the rest wait for the next scans. Whoever can write to the
/// folder can make any number of names, and the scan must not hold them all.
pub const FOLDER_SCAN_NAMES_MAX: usize = 4 * FOLDER_SKIPPED_NAMES_MAX;
/// Most `.rejected` names tried for one file before giving up on renaming it.
const SET_ASIDE_TRIES_MAX: u32 = 16;
/// A file that is not (yet) a whole bundle is left in place until the folder's thread has seen
/// it unchanged (inode, size, modification and change times) for this long, in milliseconds
/// of its own monotonic clock: it may still be being copied in (`cp`, a file manager, `mv`
/// from another drive all write under the final name). Then it is handed over, and refused.
/// The file's times are only compared, never read as times: a drive's or a server's clock
/// may be anything.
pub const FOLDER_SETTLE_MS: u64 = 5_000;
/// A bundle imported with frames refused for now (over the peer's intake allowance, from a
/// clock ahead) is read again after this long, in milliseconds, rather than deleted: those
/// frames would otherwise wait for the peer's resend on this channel, a day or more away.
pub const FOLDER_READ_AGAIN_MS: u64 = 60_000;
/// Most times such a bundle is read again (an hour at [`FOLDER_READ_AGAIN_MS`]); then it is
/// deleted, and what it still holds waits for the peer's resend.
pub const FOLDER_READ_AGAIN_TRIES_MAX: u32 = 60;

/// The station's side of a folder's thread: frames to write, with their recipients.
#[derive(Clone, Debug)]
pub struct FolderSender {
    frames: std_mpsc::SyncSender<(StationId, Arc<[u8]>)>,
}

impl FolderSender {
    /// Queues a frame for the next bundle to `to`; false when the queue is full or the thread
    /// has ended (the protocol resends it).
    pub fn try_send(&self, to: StationId, frame: Arc<[u8]>) -> bool {
        self.frames.try_send((to, frame)).is_ok()
    }
}

/// Starts the thread of folder `via` at `dir`, scanning every `scan_interval`; its queue holds
/// at most one bundle's worth of frames.
pub fn start(
    via: Via,
    dir: PathBuf,
    me: Identity,
    scan_interval: Duration,
    inbound: Inbound,
) -> std::io::Result<FolderSender> {
    let timing = Timing {
        scan: scan_interval,
        settle: Duration::from_millis(FOLDER_SETTLE_MS),
        read_again: Duration::from_millis(FOLDER_READ_AGAIN_MS),
    };
    start_timed(via, (dir, me), timing, inbound)
}

/// [`start`], with its waits as `timing` says.
fn start_timed(
    via: Via,
    (dir, me): (PathBuf, Identity),
    timing: Timing,
    inbound: Inbound,
) -> std::io::Result<FolderSender> {
    let (frames, queue) = std_mpsc::sync_channel(BUNDLE_FRAMES_MAX);
    let folder = Folder {
        via,
        dir,
        me,
        inbound,
        written: 0,
        skipped: BTreeSet::new(),
        unreadable: BTreeSet::new(),
        timing,
        settling: BTreeMap::new(),
        later: BTreeMap::new(),
        seen_mounted: false,
    };
    let name = match via {
        Via::Folder(index) => format!("parley-folder-{index}"),
        _ => "parley-folder".to_owned(),
    };
    thread::Builder::new()
        .name(name)
        .spawn(move || folder.run(&queue))?;
    Ok(FolderSender { frames })
}

struct Folder {
    via: Via,
    dir: PathBuf,
    me: Identity,
    inbound: Inbound,
    written: u64,
    /// Files refused that could not be set aside, and bundles imported that could not be
    /// deleted: never read again while the thread runs.
    skipped: BTreeSet<OsString>,
    /// Files the operating system failed to read (a flaky drive, a file removed meanwhile):
    /// left where they are and read again at every scan, but warned about once.
    unreadable: BTreeSet<OsString>,
    /// How often it scans, and waits.
    timing: Timing,
    /// Files that are no whole bundle (yet): how each was when first seen so, and since when.
    settling: BTreeMap<OsString, (Stamp, Instant)>,
    /// Bundles imported with frames refused for now: when each is read again, and how many
    /// times it was read so.
    later: BTreeMap<OsString, (Instant, u32)>,
    /// Whether the folder has been seen as a mount point (a drive mounted there) while this
    /// thread ran: from then on it counts as present only while one is mounted there.
    seen_mounted: bool,
}

/// How often a folder's thread scans, and how long it waits before taking a file further.
#[derive(Clone, Copy, Debug)]
struct Timing {
    /// Between scans.
    scan: Duration,
    /// How long a file that is no whole bundle must stay unchanged before it is handed over
    /// ([`FOLDER_SETTLE_MS`]).
    settle: Duration,
    /// How long a bundle with frames refused for now waits before it is read again
    /// ([`FOLDER_READ_AGAIN_MS`]).
    read_again: Duration,
}

/// What tells a file changed: its inode, size, and modification and change times.
type Stamp = (u64, u64, (i64, i64), (i64, i64));

/// The [`Stamp`] of the file at `path` (not followed), if it can be read.
fn stamp_of(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = fs::symlink_metadata(path).ok()?;
    Some((
        m.ino(),
        m.len(),
        (m.mtime(), m.mtime_nsec()),
        (m.ctime(), m.ctime_nsec()),
    ))
}

/// Why a drop folder may not be used now.
fn check_folder(dir: &Path) -> std::io::Result<()> {
    // The folder is named by its real path (`channel add` resolves it): a path that now leads
    // elsewhere through a symbolic link (a directory on the way replaced by one, on a drive or
    // by another user) would take bundles, reads and renames anywhere it points.
    let real = fs::canonicalize(dir)?;
    if real != dir {
        return Err(std::io::Error::other(format!(
            "the folder's path now leads to {} through a symbolic link, which is not followed \
             (a directory on the way was replaced by a link); add the folder by its real path",
            real.display()
        )));
    }
    let metadata = fs::metadata(dir)?;
    if !metadata.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    let mode = metadata.permissions().mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(std::io::Error::other(
            "the folder is writable by every user and has no sticky bit, so anyone could \
             replace or remove bundles in it; make it writable only by the stations' users \
             (or set the sticky bit)",
        ));
    }
    Ok(())
}

/// Whether `dir` is a mount point: on another file system than its parent.
fn is_mount_point(dir: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    Ok(fs::metadata(dir)?.dev() != fs::metadata(dir.join(".."))?.dev())
}

/// Whether `dir`, a folder seen as a mount point before if `seen_mounted`, is one now; an
/// error when it was and is no more. A drive's mount point left empty once the drive is
/// removed (or before it is mounted again) is a plain folder on the disk beneath: bundles
/// written there reach nobody, and the channel would show up while the drive is gone.
fn check_mounted(dir: &Path, seen_mounted: bool) -> std::io::Result<bool> {
    match (is_mount_point(dir)?, seen_mounted) {
        (false, true) => Err(std::io::Error::other(
            "nothing is mounted on the folder any more (was the drive removed?): it was a \
             mount point when this station saw it first, and bundles are not written to the \
             disk beneath",
        )),
        (mounted, _) => Ok(mounted),
    }
}

impl Folder {
    fn run(mut self, frames: &std_mpsc::Receiver<(StationId, Arc<[u8]>)>) {
        let scan = self.timing.scan;
        let mut queued: BTreeMap<StationId, Vec<Arc<[u8]>>> = BTreeMap::new();
        let mut queued_frames = 0;
        let mut next_scan = Instant::now();
        loop {
            let now = Instant::now();
            if now < next_scan {
                if queued_frames < FOLDER_QUEUE_FRAMES_MAX {
                    match frames.recv_timeout(next_scan - now) {
                        Ok((to, frame)) => {
                            queued.entry(to).or_default().push(frame);
                            queued_frames += 1;
                            continue;
                        }
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                } else {
                    // Full until the scan writes it out; meanwhile the station's queue fills
                    // and it counts the frames it cannot hand over.
                    thread::sleep(next_scan - now);
                }
            }
            // Scans happen when due, however fast frames arrive.
            next_scan = Instant::now() + scan;
            queued_frames = 0;
            let signal = match self.scan(&mut queued) {
                Ok(true) => Signal::Present,
                Ok(false) => return,
                Err(error) => {
                    // Frames for an absent folder are dropped; the protocol resends them all
                    // when the channel comes back up.
                    queued.clear();
                    tracing::debug!(dir = %self.dir.display(), %error, "drop folder unusable");
                    Signal::Unavailable {
                        reason: error.to_string(),
                    }
                }
            };
            let report = Report::Health {
                via: self.via,
                signal,
            };
            if !self.inbound.send_blocking(report) {
                return;
            }
        }
    }

    /// One scan; `Ok(false)` once the station has stopped.
    fn scan(&mut self, queued: &mut BTreeMap<StationId, Vec<Arc<[u8]>>>) -> std::io::Result<bool> {
        check_folder(&self.dir)?;
        self.seen_mounted = check_mounted(&self.dir, self.seen_mounted)?;
        let mut written = Ok(());
        for (to, frames) in std::mem::take(queued) {
            if written.is_ok() {
                written = self.write_bundles(&to, frames);
            }
        }
        // What arrived is read even when nothing can be written (a full disk, a drive
        // write-protected): the channel is then reported unusable, after.
        if !self.read_bundles()? {
            return Ok(false);
        }
        written.map(|()| true)
    }

    fn write_bundles(&mut self, to: &StationId, frames: Vec<Arc<[u8]>>) -> std::io::Result<()> {
        let mut chunk: Vec<Vec<u8>> = Vec::new();
        let mut size = 0;
        for frame in frames {
            if !Bundle::fits(chunk.len(), size, frame.len()) {
                self.write_bundle(to, std::mem::take(&mut chunk))?;
                size = 0;
            }
            size += frame.len();
            chunk.push(frame.to_vec());
        }
        if !chunk.is_empty() {
            self.write_bundle(to, chunk)?;
        }
        Ok(())
    }

    fn write_bundle(&mut self, to: &StationId, frames: Vec<Vec<u8>>) -> std::io::Result<()> {
        let me = self.me.id();
        let created_ms = crate::utc_now_ms();
        let bytes = Bundle {
            link: LinkId::between(&me, to),
            from: me,
            to: *to,
            created_ms,
            frames,
        }
        .sign(&self.me);
        self.written += 1;
        let name = bundle_file_name(&me, to, created_ms, self.written);
        super::write_atomically(&self.dir, &name, &bytes)
    }

    /// Hands every bundle addressed to this station to the station, one at a time; `Ok(false)`
    /// once the station has stopped. A file addressed to it that it will not read (not a
    /// regular file, too large, a name that is not UTF-8, which no station writes) is set aside
    /// and reported.
    fn read_bundles(&mut self) -> std::io::Result<bool> {
        let addressed = format!("-to-{}-", compact_fingerprint(&self.me.id()));
        let listed = fs::read_dir(&self.dir)?
            .filter_map(|entry| Some(entry.ok()?.file_name()))
            .filter(|name| {
                let name = name.as_bytes();
                name.ends_with(BUNDLE_SUFFIX.as_bytes())
                    && name
                        .windows(addressed.len())
                        .any(|part| part == addressed.as_bytes())
            })
            .filter(|name| !self.skipped.contains(name));
        let mut first = BTreeSet::new();
        let mut every = true;
        for name in listed {
            first.insert(name);
            if first.len() > FOLDER_SCAN_NAMES_MAX {
                first.pop_last();
                every = false;
            }
        }
        let mut names: Vec<OsString> = first.into_iter().collect();
        // What is known of a name gone from the folder is forgotten; of one merely past this
        // scan's names, kept (a count of reads forgotten would let a bundle be read for ever):
        // every name up to the last taken was listed.
        let last = names.last().cloned();
        let gone = |name: &OsString| {
            names.binary_search(name).is_err() && (every || Some(name) < last.as_ref())
        };
        // A file settling is timed only while a scan takes its name: one past the cutoff is
        // timed again when it comes back (only its setting aside is put off), and the names
        // timed stay those of the scan, never crowding its own out.
        self.settling
            .retain(|name, _| names.binary_search(name).is_ok());
        self.later.retain(|name, _| !gone(name));
        let now = Instant::now();
        names.retain(|name| self.later.get(name).is_none_or(|(next, _)| *next <= now));
        for name in names {
            let path = self.dir.join(&name);
            let read = match name.to_str() {
                Some(_) => match super::read_bounded(&path, BUNDLE_SIZE_MAX_BYTES) {
                    // Not the file's doing (a flaky drive, a file removed meanwhile): it is
                    // left for the next scan. A permission lasts: refused, and reported.
                    Err(FileError::Io { source, .. })
                        if source.kind() != std::io::ErrorKind::PermissionDenied =>
                    {
                        if remember(&mut self.unreadable, &name) {
                            tracing::warn!(file = %path.display(), error = %source, "cannot read a bundle; it is left in place and tried again at every scan");
                        }
                        continue;
                    }
                    read => read.map_err(|e| e.to_string()),
                },
                None => Err(format!(
                    "{} is named in bytes that are not UTF-8, as no station names a bundle",
                    super::shown(&path)
                )),
            };
            if let Ok(bytes) = &read
                && Bundle::peek(bytes).is_err()
                && !self.settled(&name, &path)
            {
                continue;
            }
            self.settling.remove(&name);
            self.unreadable.remove(&name);
            let bytes = match read {
                Ok(bytes) => bytes,
                Err(reason) => {
                    // Whoever can write to the folder names its files: the log's writer escapes
                    // them, as it does every line (cli `output.rs`).
                    tracing::warn!(file = %path.display(), %reason, "not a bundle this station will read; set aside");
                    self.set_aside(&name);
                    let refused = Report::FileRefused {
                        via: self.via,
                        name: name.to_string_lossy().into_owned(),
                        reason,
                    };
                    if !self.inbound.send_blocking(refused) {
                        return Ok(false);
                    }
                    continue;
                }
            };
            let (done, imported) = oneshot::channel();
            let report = Report::Bundle {
                via: self.via,
                name: name.to_string_lossy().into_owned(),
                bytes,
                done,
            };
            if !self.inbound.send_blocking(report) {
                return Ok(false);
            }
            let tries = self.later.get(&name).map(|(_, tries)| *tries);
            // A new name finds no room once as many wait: it is deleted as before, and no
            // count is ever forgotten (a bundle would be read again without end).
            let room = tries.is_some() || self.later.len() < FOLDER_SKIPPED_NAMES_MAX;
            let tries = tries.unwrap_or(0);
            match imported.blocking_recv() {
                Ok(Ok(Disposal::ReadAgainLater)) if room && tries < FOLDER_READ_AGAIN_TRIES_MAX => {
                    tracing::info!(file = %path.display(), "bundle imported, some of its frames refused for now; it is read again later");
                    let next = Instant::now() + self.timing.read_again;
                    self.later.insert(name, (next, tries + 1));
                }
                Ok(Ok(disposal)) => {
                    if disposal == Disposal::ReadAgainLater {
                        tracing::warn!(file = %path.display(), tries, "bundle still has frames refused for now, but is not read again; deleted, and those frames wait for the peer's resend");
                    }
                    self.later.remove(&name);
                    if let Err(error) = fs::remove_file(&path) {
                        // Committed, but left (a write-protected drive, a file not this
                        // station's to delete): its frames are all held now, so it is not read
                        // again, and the bundles after it still are.
                        tracing::warn!(file = %path.display(), %error, "bundle imported but not deleted; it is not read again while the station runs");
                        remember(&mut self.skipped, &name);
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(file = %path.display(), %error, "bundle refused; set aside");
                    self.later.remove(&name);
                    self.set_aside(&name);
                }
                // The station stopped before committing: leave the file for the next run.
                Err(_) => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Whether the file `name` at `path`, which is no whole bundle, has been seen unchanged for
    /// [`Timing::settle`]; if not, it is left in place (it may still be being copied in).
    fn settled(&mut self, name: &OsStr, path: &Path) -> bool {
        let Some(stamp) = stamp_of(path) else {
            return true;
        };
        let now = Instant::now();
        match self.settling.get(name) {
            Some((seen, since)) if *seen == stamp => {
                now.duration_since(*since) >= self.timing.settle
            }
            seen => {
                if seen.is_none() {
                    tracing::info!(file = %path.display(), "not a whole bundle yet; it is left in place while it may still be being copied in");
                    // As many as a scan takes: junk that sorts first must settle and be set
                    // aside, not be forgotten before its time and fill every scan for good.
                    if self.settling.len() >= FOLDER_SCAN_NAMES_MAX {
                        self.settling.pop_first();
                    }
                }
                self.settling.insert(name.to_os_string(), (stamp, now));
                false
            }
        }
    }

    /// Renames a refused file (never following it) to a free `.rejected` name; if none can be
    /// taken, remembers not to read it again.
    fn set_aside(&mut self, name: &OsStr) {
        let from = self.dir.join(name);
        for attempt in 0..SET_ASIDE_TRIES_MAX {
            let mut aside = name.to_os_string();
            match attempt {
                0 => aside.push(REJECTED_SUFFIX),
                n => aside.push(format!("{REJECTED_SUFFIX}-{n}")),
            }
            let to = self.dir.join(aside);
            if fs::symlink_metadata(&to).is_ok() {
                continue;
            }
            match fs::rename(&from, &to) {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(file = %from.display(), %error, "cannot set a refused file aside; it will not be read again");
                    break;
                }
            }
        }
        remember(&mut self.skipped, name);
    }
}

/// Adds `name` to `names`, forgetting the first if it holds [`FOLDER_SKIPPED_NAMES_MAX`];
/// whether it was not there before.
fn remember(names: &mut BTreeSet<OsString>, name: &OsStr) -> bool {
    if names.contains(name) {
        return false;
    }
    if names.len() >= FOLDER_SKIPPED_NAMES_MAX {
        names.pop_first();
    }
    names.insert(name.to_os_string())
}

#[cfg(test)]
mod tests;
