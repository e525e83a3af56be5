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
/// (so they are warned about once), and those that are no whole bundle yet (so each is timed
/// from when it was first seen); beyond it the first in name order are forgotten. Bundles
/// waiting to be read again (their frames refused for now) are never forgotten: beyond it, a
/// new one is deleted as if all of it were held.
pub const FOLDER_SKIPPED_NAMES_MAX: usize = 1024;
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
        let mut names: Vec<OsString> = fs::read_dir(&self.dir)?
            .filter_map(|entry| Some(entry.ok()?.file_name()))
            .filter(|name| {
                let name = name.as_bytes();
                name.ends_with(BUNDLE_SUFFIX.as_bytes())
                    && name
                        .windows(addressed.len())
                        .any(|part| part == addressed.as_bytes())
            })
            .filter(|name| !self.skipped.contains(name))
            .collect();
        names.sort();
        self.settling
            .retain(|name, _| names.binary_search(name).is_ok());
        self.later
            .retain(|name, _| names.binary_search(name).is_ok());
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
                    if self.settling.len() >= FOLDER_SKIPPED_NAMES_MAX {
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
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A folder seen as a mount point counts as present only while something is mounted
    /// there; one never seen so is a plain folder. Real file systems: `/proc` is a mount point
    /// on every Linux system, a temporary folder is not.
    #[test]
    fn a_mount_point_left_empty_is_absent() {
        let plain = tempfile::tempdir().expect("a directory");
        assert!(!is_mount_point(plain.path()).expect("reads"));
        assert!(is_mount_point(Path::new("/proc")).expect("reads"));
        assert!(!check_mounted(plain.path(), false).expect("a plain folder"));
        assert!(check_mounted(Path::new("/proc"), false).expect("mounted"));
        assert!(check_mounted(Path::new("/proc"), true).expect("still mounted"));
        let error = check_mounted(plain.path(), true).expect_err("was mounted, is no more");
        assert!(error.to_string().contains("nothing is mounted"), "{error}");
    }

    /// Reports of a folder, until `enough` says so or 10 s pass; the station's side answers
    /// each bundle with `import`, given the bundle's name and bytes (all of it held).
    fn watch(
        reports: &mut tokio::sync::mpsc::Receiver<Report>,
        mut import: impl FnMut(&str, &[u8]),
        enough: impl FnMut(&[Report]) -> bool,
    ) -> Vec<Report> {
        let import = |name: &str, bytes: &[u8]| {
            import(name, bytes);
            Disposal::Delete
        };
        watch_disposing(reports, import, enough)
    }

    /// [`watch`], the station's side answering each bundle as `import` says.
    fn watch_disposing(
        reports: &mut tokio::sync::mpsc::Receiver<Report>,
        mut import: impl FnMut(&str, &[u8]) -> Disposal,
        mut enough: impl FnMut(&[Report]) -> bool,
    ) -> Vec<Report> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while !enough(&seen) && Instant::now() < deadline {
            match reports.try_recv() {
                Ok(Report::Bundle {
                    via,
                    name,
                    bytes,
                    done,
                }) => {
                    let _ = done.send(Ok(import(&name, &bytes)));
                    let (done, _) = oneshot::channel();
                    seen.push(Report::Bundle {
                        via,
                        name,
                        bytes,
                        done,
                    });
                }
                Ok(report) => seen.push(report),
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
        seen
    }

    fn imported(seen: &[Report]) -> Vec<Vec<u8>> {
        seen.iter()
            .filter_map(|report| match report {
                Report::Bundle { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }

    /// The name of the peer's bundle `n` to this station.
    fn name(n: u64) -> String {
        let (me, peer) = (
            Identity::from_secret(&[1; 32]),
            Identity::from_secret(&[2; 32]),
        );
        bundle_file_name(&peer.id(), &me.id(), 7, n)
    }

    /// A bundle from the peer to this station carrying `text` as its one frame.
    fn bundle(text: &str) -> Vec<u8> {
        let (me, peer) = (
            Identity::from_secret(&[1; 32]),
            Identity::from_secret(&[2; 32]),
        );
        Bundle {
            link: LinkId::between(&peer.id(), &me.id()),
            from: peer.id(),
            to: me.id(),
            created_ms: 7,
            frames: vec![text.as_bytes().to_vec()],
        }
        .sign(&peer)
    }

    /// This station's folder thread on `dir`, scanning every 20 ms: its queue's sending side
    /// (the thread runs while it is kept) and the reports it sends the station.
    fn started(dir: &Path) -> (FolderSender, tokio::sync::mpsc::Receiver<Report>) {
        started_settling(dir, Duration::from_millis(FOLDER_SETTLE_MS))
    }

    /// [`started`], with files that are no whole bundle handed over once unchanged for
    /// `settle`.
    fn started_settling(
        dir: &Path,
        settle: Duration,
    ) -> (FolderSender, tokio::sync::mpsc::Receiver<Report>) {
        let read_again = Duration::from_millis(FOLDER_READ_AGAIN_MS);
        started_timed(dir, (settle, read_again))
    }

    /// [`started`], with its waits as given.
    fn started_timed(
        dir: &Path,
        (settle, read_again): (Duration, Duration),
    ) -> (FolderSender, tokio::sync::mpsc::Receiver<Report>) {
        let (inbound, reports) = Inbound::new(64, 1 << 20);
        let me = Identity::from_secret(&[1; 32]);
        let scan = Duration::from_millis(20);
        let timing = Timing {
            scan,
            settle,
            read_again,
        };
        let sender = start_timed(Via::Folder(0), (dir.into(), me), timing, inbound).unwrap();
        (sender, reports)
    }

    fn scans(seen: &[Report]) -> usize {
        seen.iter()
            .filter(|report| matches!(report, Report::Health { .. }))
            .count()
    }

    #[test]
    fn a_bundle_not_deleted_or_not_read_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let [first, second, third] = ["first", "second", "third"].map(bundle);
        for (n, bytes) in [(1, &first), (2, &second), (3, &third)] {
            fs::write(dir.path().join(name(n)), bytes).unwrap();
        }
        let (_sender, mut reports) = started(dir.path());
        let seen = watch(
            &mut reports,
            |_, bytes| {
                if bytes == first {
                    // Imported, then cannot be deleted: a directory now stands in its place.
                    let path = dir.path().join(name(1));
                    fs::remove_file(&path).unwrap();
                    fs::create_dir(&path).unwrap();
                    fs::write(path.join("kept"), "").unwrap();
                    // And the second is gone before it is read (a drive pulled, a file
                    // replaced): the operating system's failure, not the file's.
                    fs::remove_file(dir.path().join(name(2))).unwrap();
                }
            },
            |seen| scans(seen) >= 10,
        );
        assert_eq!(imported(&seen), [first, third]);
        for report in &seen {
            assert!(
                !matches!(
                    report,
                    Report::FileRefused { .. }
                        | Report::Health {
                            signal: Signal::Unavailable { .. },
                            ..
                        }
                ),
                "{report:?}"
            );
        }
        assert!(dir.path().join(name(1)).is_dir(), "nothing set aside");
        assert!(!dir.path().join(name(3)).exists(), "imported and deleted");
    }

    /// A bundle still being copied in (written under its final name, as `cp` or a file manager
    /// does) is left in place while it keeps changing, and read once whole; nothing is set
    /// aside.
    #[test]
    fn a_bundle_being_copied_in_is_read_once_whole() {
        const SETTLE: Duration = Duration::from_secs(2);
        let dir = tempfile::tempdir().unwrap();
        let whole = bundle(&"x".repeat(4096));
        let path = dir.path().join(name(1));
        let (_sender, mut reports) = started_settling(dir.path(), SETTLE);
        // Copied in slowly: a part every two scans, for three times the settle time.
        let mut copied = 1;
        let began = Instant::now();
        let mut seen = Vec::new();
        while began.elapsed() < 3 * SETTLE {
            fs::write(&path, &whole[..copied]).unwrap();
            copied += 1;
            seen.extend(watch(&mut reports, |_, _| {}, |seen| scans(seen) >= 2));
        }
        assert!(imported(&seen).is_empty(), "{seen:?}");
        fs::write(&path, &whole).unwrap();
        let seen = watch(&mut reports, |_, _| {}, |seen| !imported(seen).is_empty());
        assert_eq!(imported(&seen), [whole]);
        // Deleted once imported, and nothing set aside.
        let emptied = (0..500).any(|_| {
            thread::sleep(Duration::from_millis(10));
            fs::read_dir(dir.path()).unwrap().count() == 0
        });
        assert!(emptied, "imported, deleted, nothing set aside");
    }

    /// A file that is no bundle is handed to the station (which refuses it) only once the
    /// folder's thread has seen it unchanged for the settle time.
    #[test]
    fn a_file_that_stays_no_bundle_is_handed_over_once_settled() {
        const SETTLE: Duration = Duration::from_millis(500);
        let dir = tempfile::tempdir().unwrap();
        let began = Instant::now();
        fs::write(dir.path().join(name(1)), b"not a bundle").unwrap();
        let (_sender, mut reports) = started_settling(dir.path(), SETTLE);
        let seen = watch(&mut reports, |_, _| {}, |seen| !imported(seen).is_empty());
        assert_eq!(imported(&seen), [b"not a bundle".to_vec()]);
        let waited = began.elapsed();
        assert!(waited >= SETTLE, "{waited:?}");
    }

    /// A bundle some of whose frames were refused for now is kept and read again once its
    /// wait is over, not at every scan; once all of it is held, it is deleted.
    #[test]
    fn a_bundle_with_frames_refused_for_now_is_read_again_later() {
        const READ_AGAIN: Duration = Duration::from_millis(500);
        let dir = tempfile::tempdir().unwrap();
        let whole = bundle("over the intake allowance, for now");
        fs::write(dir.path().join(name(1)), &whole).unwrap();
        let settle = Duration::from_millis(FOLDER_SETTLE_MS);
        let (_sender, mut reports) = started_timed(dir.path(), (settle, READ_AGAIN));
        let mut reads = Vec::new();
        let mut disposal = |_: &str, _: &[u8]| {
            reads.push(Instant::now());
            match reads.len() {
                1 => Disposal::ReadAgainLater,
                _ => Disposal::Delete,
            }
        };
        let seen = watch_disposing(&mut reports, &mut disposal, |seen| {
            imported(seen).len() >= 2
        });
        assert_eq!(imported(&seen), [whole.clone(), whole]);
        let waited = reads[1] - reads[0];
        assert!(waited >= READ_AGAIN, "read again after {waited:?}");
        let emptied = (0..500).any(|_| {
            thread::sleep(Duration::from_millis(10));
            fs::read_dir(dir.path()).unwrap().count() == 0
        });
        assert!(emptied, "deleted once all of it is held");
    }

    #[test]
    fn a_socket_is_set_aside_as_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let name = name(1);
        let _socket = UnixListener::bind(dir.path().join(&name)).unwrap();
        let (_sender, mut reports) = started(dir.path());
        let refused = |report: &Report| matches!(report, Report::FileRefused { .. });
        let seen = watch(&mut reports, |_, _| {}, |seen| seen.iter().any(refused));
        let reason = seen.iter().find_map(|report| match report {
            Report::FileRefused { reason, .. } => Some(reason.clone()),
            _ => None,
        });
        assert!(
            reason.as_deref().is_some_and(|r| r.contains("is a socket")),
            "{reason:?}"
        );
        assert!(dir.path().join(format!("{name}{REJECTED_SUFFIX}")).exists());
    }
}
