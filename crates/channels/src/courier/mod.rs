//! The courier channel: signed bundles of frames in files, carried on removable media or left
//! in a shared drop folder ([`folder`]).
//!
//! Files from such places are hostile. A bundle is read only from a regular file opened without
//! following a symbolic link and without blocking (a FIFO or a device is refused before a byte
//! is read), its type and size checked on the open descriptor, and read with a hard cap. A
//! bundle is written under a fresh unpredictable name created exclusively (a planted symbolic
//! link is never followed), synced, then renamed into place, so a reader never sees half a
//! bundle and nobody can make the station write anywhere else.

pub mod folder;

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

use parley_proto::Bundle;
use parley_proto::StationId;
use parley_proto::limits::BUNDLE_SIZE_MAX_BYTES;
use parley_proto::names::escaped;

/// Suffix of bundle files.
pub const BUNDLE_SUFFIX: &str = ".bundle";
/// Suffix given to a bundle the station refused, or a file it would not read.
pub const REJECTED_SUFFIX: &str = ".rejected";

/// Why a file could not be read as a bundle. Nothing was read past the check that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The path is a symbolic link; it is never followed.
    #[error("{0} is a symbolic link, which is never followed")]
    Symlink(String),
    /// Not a regular file (a directory, FIFO, socket or device).
    #[error("{path} is a {kind}, not a regular file")]
    NotRegular {
        /// The file.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// Over the size limit.
    #[error("{path} is over the limit of {max} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit in bytes.
        max: usize,
    },
    /// An export would replace a file that is not an earlier export of its kind.
    #[error(
        "{path} exists and is not {what}; it is left as it is: give the name of a new file, \
         or of {what} to replace"
    )]
    NotAnExport {
        /// The file.
        path: String,
        /// What an export may replace ("a courier bundle", "a transcript").
        what: &'static str,
    },
    /// An export would replace an export of its kind written by another station (such as the
    /// peer's bundle on the same medium, not yet imported), or one that cannot be read whole.
    #[error(
        "{path} holds {what} {by}; it is left as it is: give the name of a new file, or of \
         one of this station's own to replace"
    )]
    OtherAuthor {
        /// The file.
        path: String,
        /// What an export may replace ("a courier bundle").
        what: &'static str,
        /// Whose it is, as the message says it.
        by: String,
    },
    /// An export would replace an empty file: not an earlier export, and perhaps a lock or a
    /// database's log, which must keep its place.
    #[error(
        "{path} is an empty file, not {what}; it is left as it is (an empty file may be a \
         station's lock or a database's log): give the name of a new file, such as one in a \
         directory made by `mktemp -d`"
    )]
    EmptyTarget {
        /// The file.
        path: String,
        /// What an export may replace ("a courier bundle", "a transcript").
        what: &'static str,
    },
    /// The operating system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's account.
        source: std::io::Error,
    },
}

impl FileError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        FileError::Io {
            path: shown(path),
            source,
        }
    }
}

/// A path as an error names it. Whoever wrote the medium or the shared folder chose the name:
/// a newline in it must not start a forged line of the message, nor a control drive the
/// terminal, so every such character is escaped ([`escaped`]).
pub fn shown(path: &Path) -> String {
    escaped(&path.display().to_string())
}

fn kind_of(file_type: fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// Opens a regular file to read, without following a symbolic link and without blocking on
/// a FIFO or device. Its type is checked before the open (opening a device or a FIFO has
/// effects of its own: a watchdog starts, a writer waiting on the FIFO is let go) and again on
/// the open descriptor (the name may have been replaced in between).
fn open_regular(path: &Path) -> Result<fs::File, FileError> {
    if let Ok(metadata) = fs::symlink_metadata(path) {
        let file_type = metadata.file_type();
        if file_type.is_symlink() {
            return Err(FileError::Symlink(shown(path)));
        }
        if !file_type.is_file() {
            return Err(FileError::NotRegular {
                path: shown(path),
                kind: kind_of(file_type),
            });
        }
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ELOOP) => FileError::Symlink(shown(path)),
            // A socket cannot be opened at all: told by its type, as a FIFO or device is,
            // rather than taken for a failure of the operating system.
            _ => match fs::symlink_metadata(path) {
                Ok(metadata) if !metadata.file_type().is_file() => FileError::NotRegular {
                    path: shown(path),
                    kind: kind_of(metadata.file_type()),
                },
                _ => FileError::io(path, error),
            },
        })?;
    let metadata = file
        .metadata()
        .map_err(|error| FileError::io(path, error))?;
    if !metadata.file_type().is_file() {
        return Err(FileError::NotRegular {
            path: shown(path),
            kind: kind_of(metadata.file_type()),
        });
    }
    Ok(file)
}

/// Reads a regular file of at most `max` bytes, without following a symbolic link and without
/// blocking on a FIFO or device: the type and size are checked on the open descriptor, and at
/// most `max + 1` bytes are ever read (a file growing while it is read is refused too).
pub fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, FileError> {
    let file = open_regular(path)?;
    let metadata = file
        .metadata()
        .map_err(|error| FileError::io(path, error))?;
    if metadata.len() > max as u64 {
        return Err(FileError::TooLarge {
            path: shown(path),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| FileError::io(path, error))?;
    if bytes.len() > max {
        return Err(FileError::TooLarge {
            path: shown(path),
            max,
        });
    }
    Ok(bytes)
}

/// Writes `dir/name` so that it appears whole or not at all: a temporary file under a fresh
/// random name, created exclusively (never through a planted link), written, synced, renamed
/// into place, and the directory synced.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::Builder::new()
        .prefix(".parley-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(dir.join(name)).map_err(|error| error.error)?;
    open_dir(dir)?.sync_all()
}

/// Opens a directory to sync it: refused, without blocking, if the name is no longer one (a
/// FIFO put in its place would hang a plain open).
fn open_dir(dir: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(dir)
}

/// Most bytes of an existing file read to tell whether an export may replace it.
pub const EXPORT_SNIFF_BYTES: usize = 64;

/// A kind of export file, and how to tell an earlier one from any other file.
#[derive(Clone, Copy, Debug)]
pub struct ExportKind {
    /// What it is, for messages ("a courier bundle").
    pub what: &'static str,
    /// Whether a file's first bytes (up to [`EXPORT_SNIFF_BYTES`]) begin as one does.
    pub earlier: fn(&[u8]) -> bool,
    /// The station that wrote one and the station it is for, read from its first
    /// `ends_bytes_max` bytes: an export replaces only its own station's to the same peer.
    /// None from it when they cannot be read there.
    pub ends: EndsOf,
    /// Most bytes of a file read to find who wrote it and for whom.
    pub ends_bytes_max: usize,
}

/// Reads who wrote an export and for whom from its beginning (None: they cannot be read).
pub type EndsOf = fn(&[u8]) -> Option<(StationId, StationId)>;

impl ExportKind {
    /// A courier bundle: a tagged COSE_Sign1 whose protected header names the bundle's
    /// content type.
    /// One replaces only a bundle its own station wrote to the same peer: on a medium both
    /// stations write to, the peer's bundle under that name may not have been imported yet,
    /// and one to another peer holds frames the new one does not.
    pub const BUNDLE: ExportKind = ExportKind {
        what: "a courier bundle",
        earlier: looks_like_bundle,
        ends: bundle_ends,
        ends_bytes_max: BUNDLE_SIZE_MAX_BYTES,
    };
    /// A transcript (formats.md §8). One replaces only a transcript its own station exported
    /// of the link with the same peer: the peer's export, or one of another link, may be the
    /// only copy of a record (`transcript recover` takes a lost log back from it).
    pub const TRANSCRIPT: ExportKind = ExportKind {
        what: "a transcript",
        earlier: parley_proto::transcript::looks_like_transcript,
        ends: parley_proto::transcript::exported_by,
        ends_bytes_max: parley_proto::transcript::TRANSCRIPT_ENDS_BYTES_MAX,
    };
}

/// The stations a bundle claims to be from and for (its signature unchecked: it only decides
/// what an export may replace), if the bundle can be read whole.
fn bundle_ends(bytes: &[u8]) -> Option<(StationId, StationId)> {
    Bundle::peek(bytes)
        .ok()
        .map(|bundle| (bundle.claimed_from(), bundle.claimed_to()))
}

fn looks_like_bundle(first: &[u8]) -> bool {
    let content_type = parley_proto::cose::CONTENT_TYPE_BUNDLE.as_bytes();
    first.first() == Some(&0xd2) && first.windows(content_type.len()).any(|w| w == content_type)
}

/// What is at an export's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportTarget {
    /// Nothing: the export creates the file, and never replaces one made meanwhile.
    New,
    /// An earlier export of its kind, which the export replaces.
    Earlier,
}

/// Checks that an export of `kind` may be written to `out`: nothing is there, or an earlier
/// export of its kind (a regular file, not a symbolic link, that begins as one does), which it
/// replaces. Anything else is refused and left as it is: a device, a FIFO, a directory, a
/// link, a station's key, store or lock (`daemon.lock`, empty: an empty file is not an export),
/// any other file. Checked
/// before anything is exported, and again by [`write_export_file`] just before it writes.
pub fn check_export_target(out: &Path, kind: ExportKind) -> Result<ExportTarget, FileError> {
    let metadata = match fs::symlink_metadata(out) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(ExportTarget::New),
        Err(error) => return Err(FileError::io(out, error)),
    };
    if metadata.file_type().is_symlink() {
        return Err(FileError::Symlink(shown(out)));
    }
    let first = read_first(out, EXPORT_SNIFF_BYTES)?;
    if first.is_empty() {
        Err(FileError::EmptyTarget {
            path: shown(out),
            what: kind.what,
        })
    } else if (kind.earlier)(&first) {
        Ok(ExportTarget::Earlier)
    } else {
        Err(FileError::NotAnExport {
            path: shown(out),
            what: kind.what,
        })
    }
}

/// The first bytes (at most `max`) of a regular file, opened as [`read_bounded`] opens one.
fn read_first(path: &Path, max: usize) -> Result<Vec<u8>, FileError> {
    let file = open_regular(path)?;
    let len = file.metadata().map_or(0, |metadata| metadata.len());
    let mut first = Vec::with_capacity(max.min(usize::try_from(len).unwrap_or(max)));
    file.take(max as u64)
        .read_to_end(&mut first)
        .map_err(|error| FileError::io(path, error))?;
    Ok(first)
}

/// Writes an export of `kind` to the file `out`, whole or not at all, readable by its owner
/// only: a temporary file beside it, written and synced, then checked again
/// ([`check_export_target`]) and renamed into place — without replacing anything when the
/// path was free, so a file made there meanwhile is left as it is.
pub fn write_export_file(out: &Path, kind: ExportKind, bytes: &[u8]) -> Result<(), FileError> {
    let io = |error| FileError::io(out, error);
    if out.file_name().is_none() {
        return Err(io(std::io::Error::other("not a file path")));
    }
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".parley-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    match check_export_target(out, kind)? {
        ExportTarget::New => file.persist_noclobber(out),
        ExportTarget::Earlier => {
            check_same_ends(out, kind, (kind.ends)(bytes))?;
            file.persist(out)
        }
    }
    .map_err(|error| io(error.error))?;
    open_dir(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Checks that the earlier export at `out`, read as far as `kind` tells who wrote it, was
/// written by the same station for the same peer as the new one (`new`: who writes it and
/// for whom). Checked by [`write_export_file`] just before the rename (a file put there in
/// between, by another station writing to the same name at that instant, is replaced), and
/// may be checked before an export is made, so that one refused is not made for nothing.
pub fn check_same_ends(
    out: &Path,
    kind: ExportKind,
    new: Option<(StationId, StationId)>,
) -> Result<(), FileError> {
    let held = match read_first(out, kind.ends_bytes_max) {
        Ok(held) => (kind.ends)(&held),
        Err(FileError::Io { source, .. }) => return Err(FileError::io(out, source)),
        Err(_) => None,
    };
    let by = match (held, new) {
        (Some(held), Some(new)) if held == new => return Ok(()),
        (Some((from, _)), Some((me, _))) if from != me => {
            format!("written by another station ({})", from.key_fingerprint())
        }
        (Some((_, to)), _) => format!(
            "written by this station for another peer ({})",
            to.key_fingerprint()
        ),
        (None, _) => "that cannot be read whole as one (perhaps still being copied)".to_owned(),
    };
    Err(FileError::OtherAuthor {
        path: shown(out),
        what: kind.what,
        by,
    })
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

/// A station's fingerprint without dashes, as in bundle file names.
pub fn compact_fingerprint(station: &StationId) -> String {
    station.key_fingerprint().to_string().replace('-', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    use parley_proto::{Identity, LinkId};

    /// An empty bundle from `from` to `to`, signed.
    fn bundle(from: &Identity, to: &Identity, created_ms: u64) -> Vec<u8> {
        Bundle {
            link: LinkId::between(&from.id(), &to.id()),
            from: from.id(),
            to: to.id(),
            created_ms,
            frames: Vec::new(),
        }
        .sign(from)
    }

    /// A bundle replaces only an earlier one from the same station to the same peer.
    #[test]
    fn a_bundle_replaces_only_its_own_station_s_to_the_same_peer() {
        let [a, b, c] = [1, 2, 3].map(|seed| Identity::from_secret(&[seed; 32]));
        let dir = tempfile::tempdir().expect("temporary directory");
        let out = dir.path().join("shared.bundle");
        let kind = ExportKind::BUNDLE;
        write_export_file(&out, kind, &bundle(&b, &a, 1)).expect("a new file");
        let error = write_export_file(&out, kind, &bundle(&a, &b, 2)).expect_err("the peer's");
        assert!(
            error.to_string().contains("written by another station"),
            "{error}"
        );
        fs::write(&out, bundle(&a, &c, 3)).expect("written");
        let error = write_export_file(&out, kind, &bundle(&a, &b, 4)).expect_err("another peer's");
        assert!(error.to_string().contains("for another peer"), "{error}");
        assert_eq!(
            fs::read(&out).expect("reads"),
            bundle(&a, &c, 3),
            "left as it was"
        );
        write_export_file(&out, kind, &bundle(&a, &c, 5)).expect("its own, replaced");
        assert_eq!(fs::read(&out).expect("reads"), bundle(&a, &c, 5));
    }

    #[test]
    fn an_export_never_replaces_a_file_made_after_its_check() {
        let [a, b] = [1, 2].map(|seed| Identity::from_secret(&[seed; 32]));
        let dir = tempfile::tempdir().expect("temporary directory");
        let out = dir.path().join("out.bundle");
        let kind = ExportKind::BUNDLE;
        assert_eq!(
            check_export_target(&out, kind).expect("free"),
            ExportTarget::New
        );
        fs::write(&out, b"an operator's notes").expect("written meanwhile");
        let error = write_export_file(&out, kind, &bundle(&a, &b, 1)).expect_err("refused");
        assert!(matches!(error, FileError::NotAnExport { .. }), "{error}");
        assert_eq!(fs::read(&out).expect("kept"), b"an operator's notes");
        // An earlier export is replaced; an empty file (a station's lock) is not one, and the
        // error says what to do instead.
        fs::write(&out, b"").expect("written");
        let error = write_export_file(&out, kind, &bundle(&a, &b, 2)).expect_err("refused");
        assert!(matches!(error, FileError::EmptyTarget { .. }), "{error}");
        assert!(error.to_string().contains("mktemp -d"), "{error}");
        assert_eq!(fs::read(&out).expect("kept"), b"");
        fs::write(&out, bundle(&a, &b, 3)).expect("written");
        write_export_file(&out, kind, &bundle(&a, &b, 4)).expect("replaced");
        assert_eq!(fs::read(&out).expect("reads"), bundle(&a, &b, 4));
        let leftovers = fs::read_dir(dir.path()).expect("lists").count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = |name: &str| dir.path().join(name);
        fs::write(path("small"), b"abc").expect("written");
        assert_eq!(read_bounded(&path("small"), 3).expect("reads"), b"abc");
        let over = read_bounded(&path("small"), 2).expect_err("over the limit");
        assert!(matches!(over, FileError::TooLarge { max: 2, .. }), "{over}");
        std::os::unix::fs::symlink(path("small"), path("link")).expect("linked");
        let link = read_bounded(&path("link"), 3).expect_err("a link");
        assert!(matches!(link, FileError::Symlink(_)), "{link}");
        std::os::unix::fs::symlink("/dev/zero", path("zero")).expect("linked");
        assert!(matches!(
            read_bounded(&path("zero"), 3),
            Err(FileError::Symlink(_))
        ));
        // mkfifo(1) keeps this crate free of unsafe code.
        let made = std::process::Command::new("mkfifo")
            .arg(path("fifo"))
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let refused = read_bounded(&path("fifo"), 3).expect_err("a FIFO");
        assert!(
            matches!(refused, FileError::NotRegular { kind: "FIFO", .. }),
            "{refused}"
        );
        let directory = read_bounded(dir.path(), 3).expect_err("a directory");
        assert!(
            matches!(
                directory,
                FileError::NotRegular {
                    kind: "directory",
                    ..
                }
            ),
            "{directory}"
        );
        let device = read_bounded(Path::new("/dev/zero"), 3).expect_err("a device");
        assert!(
            matches!(device, FileError::NotRegular { kind: "device", .. }),
            "{device}"
        );
    }

    /// A FIFO is refused before it is opened: a writer waiting for a reader to open it is not
    /// let go (nor told when the folder is scanned).
    #[test]
    fn a_fifo_is_refused_unopened() {
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().expect("temporary directory");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        // The writer blocks in its open until a reader opens the FIFO; `opening` appears
        // just before.
        let opening = dir.path().join("opening");
        let mut writer = std::process::Command::new("sh")
            .arg("-c")
            .arg("touch \"$1\"; echo x > \"$0\"")
            .arg(&fifo)
            .arg(&opening)
            .spawn()
            .expect("sh runs");
        // Until the writer waits in its open of the FIFO (its kernel wait channel says so
        // where the kernel shows it; else a while after it said it would open).
        let wchan = format!("/proc/{}/wchan", writer.id());
        let waits = || {
            fs::read_to_string(&wchan)
                .is_ok_and(|at| at.contains("wait_for_partner") || at.contains("fifo"))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(opening.exists() && waits()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        let refused = read_bounded(&fifo, 3).expect_err("a FIFO");
        assert!(matches!(
            refused,
            FileError::NotRegular { kind: "FIFO", .. }
        ));
        std::thread::sleep(Duration::from_millis(300));
        let waiting = writer.try_wait().expect("polls").is_none();
        if waiting {
            // Let it go: a reader opens the FIFO.
            assert_eq!(fs::read(&fifo).expect("reads"), b"x\n");
        }
        writer.wait().expect("ends");
        assert!(waiting, "the writer was let go by the refusal");
    }

    #[test]
    fn an_atomic_write_never_follows_a_planted_link() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").expect("written");
        // Links planted under every name a predictable writer might use.
        for name in [".out.tmp", ".parley-out.tmp", "out.tmp"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).expect("linked");
        }
        write_atomically(dir.path(), "out", b"bundle").expect("writes");
        assert_eq!(fs::read(dir.path().join("out")).expect("reads"), b"bundle");
        assert_eq!(fs::read(&victim).expect("reads"), b"precious");
        // A link at the final name is replaced, not written through.
        std::os::unix::fs::symlink(&victim, dir.path().join("final")).expect("linked");
        write_atomically(dir.path(), "final", b"bundle").expect("writes");
        assert_eq!(fs::read(&victim).expect("reads"), b"precious");
        assert!(
            !fs::symlink_metadata(dir.path().join("final"))
                .expect("exists")
                .file_type()
                .is_symlink()
        );
    }
}
