//! The drop-folder courier channel: a thread per folder (a shared mount or a removable drive)
//! that, every scan interval, checks the folder is there, writes one signed bundle per peer
//! with the frames queued since the last scan, and hands every bundle addressed to this
//! station to the driver, deleting it once its contents are committed (or setting it aside as
//! `.rejected` when it is refused).
//!
//! Files are written under a dot-name, synced, then renamed, so a reader never sees half a
//! bundle; names are `parley-FROM-to-TO-MS-N.bundle` with the stations' short fingerprints.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use parley_proto::limits::{BUNDLE_FRAMES_MAX, BUNDLE_SIZE_MAX_BYTES};
use parley_proto::{Bundle, Identity, LinkId, StationId};
use tokio::sync::oneshot;

use super::{Input, Via};
use crate::clock::utc_now_ms;

/// Most frames queued for one folder between scans before new ones are dropped (the protocol
/// resends them when the channel comes back).
pub const FOLDER_QUEUE_FRAMES_MAX: usize = BUNDLE_FRAMES_MAX;
/// Suffix of bundle files.
pub const BUNDLE_SUFFIX: &str = ".bundle";
/// Suffix given to a bundle the station refused.
pub const REJECTED_SUFFIX: &str = ".rejected";

/// Frames for one folder: (recipient, frame).
pub(super) type FolderQueue = std_mpsc::SyncSender<(StationId, Arc<[u8]>)>;

/// Starts the thread of folder number `index` and returns the queue it writes from.
pub(super) fn spawn(
    index: usize,
    dir: PathBuf,
    me: Identity,
    scan_interval: Duration,
    inputs: std_mpsc::Sender<Input>,
) -> std::io::Result<FolderQueue> {
    let (queue, frames) = std_mpsc::sync_channel(FOLDER_QUEUE_FRAMES_MAX);
    let folder = Folder {
        via: Via::Folder(index),
        dir,
        me,
        inputs,
        written: 0,
    };
    thread::Builder::new()
        .name(format!("parley-folder-{index}"))
        .spawn(move || folder.run(&frames, scan_interval))?;
    Ok(queue)
}

/// Name of a bundle file from `from` to `to`: `parley-FROM-to-TO-MS-N.bundle`, the stations
/// named by their fingerprints without dashes.
pub fn bundle_file_name(from: &StationId, to: &StationId, created_ms: u64, n: u64) -> String {
    format!(
        "parley-{}-to-{}-{created_ms}-{n}{BUNDLE_SUFFIX}",
        compact_fingerprint(from),
        compact_fingerprint(to)
    )
}

fn compact_fingerprint(station: &StationId) -> String {
    station.fingerprint().to_string().replace('-', "")
}

struct Folder {
    via: Via,
    dir: PathBuf,
    me: Identity,
    inputs: std_mpsc::Sender<Input>,
    written: u64,
}

impl Folder {
    fn run(mut self, frames: &std_mpsc::Receiver<(StationId, Arc<[u8]>)>, scan: Duration) {
        let mut queued: BTreeMap<StationId, Vec<Arc<[u8]>>> = BTreeMap::new();
        let mut next_scan = Instant::now();
        loop {
            let wait = next_scan.saturating_duration_since(Instant::now());
            match frames.recv_timeout(wait) {
                Ok((to, frame)) => {
                    queued.entry(to).or_default().push(frame);
                    continue;
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
            next_scan = Instant::now() + scan;
            let result = self.scan(&mut queued);
            if let Err(error) = &result {
                // Frames for an absent folder are dropped; the protocol resends them all when
                // the channel comes back up.
                queued.clear();
                tracing::debug!(dir = %self.dir.display(), %error, "drop folder unusable");
            }
            let input = Input::Heartbeat {
                via: self.via,
                result: result.map(|()| 0).map_err(|e| e.to_string()),
            };
            if self.inputs.send(input).is_err() {
                return;
            }
        }
    }

    fn scan(&mut self, queued: &mut BTreeMap<StationId, Vec<Arc<[u8]>>>) -> std::io::Result<()> {
        if !fs::metadata(&self.dir)?.is_dir() {
            return Err(std::io::Error::other("not a directory"));
        }
        for (to, frames) in std::mem::take(queued) {
            self.write_bundles(&to, frames)?;
        }
        self.read_bundles()
    }

    fn write_bundles(&mut self, to: &StationId, frames: Vec<Arc<[u8]>>) -> std::io::Result<()> {
        let mut chunk: Vec<Vec<u8>> = Vec::new();
        let mut size = 0;
        for frame in frames {
            let full = chunk.len() == BUNDLE_FRAMES_MAX
                || Bundle::size_bound(chunk.len() + 1, size + frame.len()) > BUNDLE_SIZE_MAX_BYTES;
            if full {
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
        let created_ms = utc_now_ms();
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
        write_atomically(&self.dir, &name, &bytes)
    }

    fn read_bundles(&self) -> std::io::Result<()> {
        let addressed = format!("-to-{}-", compact_fingerprint(&self.me.id()));
        let mut names: Vec<String> = fs::read_dir(&self.dir)?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(BUNDLE_SUFFIX) && name.contains(&addressed))
            .collect();
        names.sort();
        for name in names {
            let path = self.dir.join(&name);
            let bytes = match read_bounded(&path) {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "bundle unreadable; set aside");
                    set_aside(&path);
                    continue;
                }
            };
            let (done, imported) = oneshot::channel();
            let input = Input::Import {
                bytes,
                salvage: false,
                via: Some(self.via),
                done,
            };
            if self.inputs.send(input).is_err() {
                return Ok(());
            }
            match imported.blocking_recv() {
                Ok(Ok(_)) => fs::remove_file(&path)?,
                Ok(Err(error)) => {
                    tracing::warn!(file = %path.display(), %error, "bundle refused; set aside");
                    set_aside(&path);
                }
                // The driver stopped before committing: leave the file for the next run.
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let len = fs::metadata(path)?.len();
    if len > BUNDLE_SIZE_MAX_BYTES as u64 {
        return Err(std::io::Error::other(format!(
            "{len} bytes, over the bundle limit of {BUNDLE_SIZE_MAX_BYTES}"
        )));
    }
    fs::read(path)
}

fn set_aside(path: &Path) {
    let mut rejected = path.as_os_str().to_owned();
    rejected.push(REJECTED_SUFFIX);
    if let Err(error) = fs::rename(path, &rejected) {
        tracing::warn!(file = %path.display(), %error, "cannot set a refused bundle aside");
    }
}

/// Writes `dir/name` so that it appears whole or not at all: a dot-file, synced, renamed,
/// and the directory synced.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    fs::File::open(dir)?.sync_all()
}
