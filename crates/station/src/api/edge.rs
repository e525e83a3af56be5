//! The file work around a request, which the station core never does: reading a bundle to
//! import or a transcript to check (as hostile input: regular files only, no link followed,
//! never blocking, bounded; a transcript is verified here, off the core),
//! checking a drop folder exists, writing an exported bundle. [`perform`] wraps the core's
//! execution of a request in it, for both callers: the daemon's API server (off the driver
//! thread) and a CLI command working on a stopped station.

use std::io::ErrorKind;
use std::path::Path;

use parley_channels::courier::{self, ExportKind, FileError};
use parley_proto::ChannelKind;
use parley_proto::limits::BUNDLE_SIZE_MAX_BYTES;
use parley_proto::transcript::{self, TRANSCRIPT_SIZE_MAX_BYTES};

use super::{ApiError, ErrorClass, Reply, Request};
use crate::core::{Command, Content};

fn absolute(path: &Path, what: &str) -> Result<(), ApiError> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(ApiError::operator(format!(
            "{what} {} is not an absolute path; nothing was done",
            path.display()
        )))
    }
}

/// Runs `request`: prepares the command (reading any file it needs), has `execute` run it,
/// then finishes (writing any file it produced). `subscribe` is not a command: the daemon's
/// server serves it.
pub fn perform(
    request: Request,
    execute: impl FnOnce(Command) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let command = match request {
        Request::Send {
            peer,
            precedence,
            text,
            exercise,
            translations,
            operator,
        } => Command::Send {
            peer,
            precedence,
            text,
            exercise,
            translations,
            operator,
        },
        Request::SendCode {
            peer,
            precedence,
            code,
            params,
            exercise,
            operator,
        } => Command::SendContent {
            peer,
            precedence,
            content: Content::Coded { code, params },
            exercise,
            operator,
        },
        Request::Notice {
            peer,
            precedence,
            form,
            fields,
            exercise,
            operator,
        } => Command::SendContent {
            peer,
            precedence,
            content: Content::Notice { form, fields },
            exercise,
            operator,
        },
        Request::CodebookPropose {
            peer,
            source,
            operator,
        } => Command::CodebookPropose {
            peer,
            source,
            operator,
        },
        Request::CodebookAccept {
            peer,
            hash,
            operator,
        } => Command::CodebookAccept {
            peer,
            hash,
            operator,
        },
        Request::Translate {
            id,
            lang,
            text,
            operator,
        } => Command::Translate {
            id,
            lang,
            text,
            operator,
        },
        Request::Understood {
            id,
            restatement,
            operator,
        } => Command::Understood {
            id,
            restatement,
            operator,
        },
        Request::Clarify {
            id,
            question,
            operator,
        } => Command::Clarify {
            id,
            question,
            operator,
        },
        Request::Cancel {
            id,
            reason,
            operator,
        } => Command::Cancel {
            id,
            reason,
            operator,
        },
        Request::Test { peer, operator } => Command::Test { peer, operator },
        Request::AlarmAck { id, note, operator } => Command::AlarmAck { id, note, operator },
        Request::PeerAdd {
            card,
            fingerprint,
            address,
        } => Command::PeerAdd {
            card,
            fingerprint,
            address,
        },
        Request::ChannelAdd {
            peer,
            kind,
            target,
            card,
            fingerprint,
        } => {
            let target = match kind {
                ChannelKind::Courier => drop_folder(Path::new(&target))?,
                _ => target,
            };
            Command::ChannelAdd {
                peer,
                kind,
                target,
                card,
                fingerprint,
            }
        }
        Request::CourierExport { peer, out } => {
            absolute(&out, "the output file")?;
            // One export at a time: a bundle (up to `BUNDLE_SIZE_MAX_BYTES`) is made whole in
            // the daemon and the earlier one it replaces read whole, and exports sent at once
            // must not each hold them.
            let _one = EXPORTS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            courier::check_export_target(&out, ExportKind::BUNDLE).map_err(export_refused)?;
            let reply = execute(Command::Export { peer })?;
            return write_export(&out, reply);
        }
        Request::CourierImport { path, salvage } => {
            absolute(&path, "the bundle")?;
            // One import at a time: a bundle (up to `BUNDLE_SIZE_MAX_BYTES`) is read whole,
            // and imports sent at once must not each hold one in the daemon.
            let _one = IMPORTS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let bytes = courier::read_bounded(&path, BUNDLE_SIZE_MAX_BYTES).map_err(|error| {
                ApiError::new(
                    read_refused_class(&error),
                    format!("bundle refused: {error}; nothing was imported"),
                )
            })?;
            return execute(Command::Import { bytes, salvage });
        }
        Request::CheckpointIssue { peer, operator } => Command::CheckpointIssue { peer, operator },
        Request::CheckpointShow { peer } => Command::CheckpointShow { peer },
        Request::KeyRotate { identity: true } => {
            return Err(ApiError::operator(
                "rotating the identity key is not available in this version; nothing was changed (the epoch key rotates with `parley key rotate`)",
            ));
        }
        Request::KeyRotate { identity: false } => Command::KeyRotate,
        Request::TranscriptCheck { path } => {
            // Held until the check is done: the file stays in memory until then.
            let (_one, file, transcript) = read_transcript(&path, "checked")?;
            return execute(Command::TranscriptCheck { file, transcript });
        }
        Request::TranscriptRecover { path } => {
            let (_one, file, transcript) = read_transcript(&path, "recovered")?;
            return execute(Command::TranscriptRecover { file, transcript });
        }
        Request::Status => Command::Status,
        Request::Subscribe => {
            return Err(ApiError::operator(
                "subscribe streams a running daemon's events; start the daemon with `parley run`",
            ));
        }
    };
    execute(command)
}

/// Held while the daemon reads, verifies and checks a transcript (`transcript check`,
/// `transcript recover`).
static TRANSCRIPT_CHECKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A transcript read from `path` and verified, for a command that then compares it with this
/// station's record (`nothing` says what was not done if it cannot be: "checked",
/// "recovered"), with the lock that keeps it the only one in memory: hold it until the
/// command is done. The file is shared, not copied: it may be large.
#[allow(clippy::type_complexity)]
fn read_transcript(
    path: &std::path::Path,
    nothing: &str,
) -> Result<
    (
        std::sync::MutexGuard<'static, ()>,
        std::sync::Arc<Vec<u8>>,
        Box<parley_proto::transcript::VerifiedTranscript>,
    ),
    ApiError,
> {
    absolute(path, "the transcript")?;
    // One at a time: a transcript (up to `TRANSCRIPT_SIZE_MAX_BYTES`) is read whole, and
    // commands sent at once must not each hold one in the daemon.
    let one = TRANSCRIPT_CHECKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let file = courier::read_bounded(path, TRANSCRIPT_SIZE_MAX_BYTES).map_err(|error| {
        ApiError::new(
            read_refused_class(&error),
            format!("transcript not read: {error}; nothing was {nothing}"),
        )
    })?;
    // The account may quote the file (a key of a line the parser did not expect): escaped,
    // line breaks included, so it cannot add a line of its own.
    let transcript = transcript::verify(&file).map_err(|error| {
        ApiError::new(
            ErrorClass::Peer,
            format!(
                "transcript verification FAILED at {}; nothing was {nothing} or stored \
                 (`parley transcript verify` gives the same account)",
                parley_proto::names::escaped(&error.to_string())
            ),
        )
    })?;
    Ok((one, std::sync::Arc::new(file), Box::new(transcript)))
}

/// Held while the daemon reads and imports a bundle (`courier import`).
static IMPORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held while the daemon makes and writes a bundle (`courier export`).
static EXPORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The drop folder `dir` as the channel keeps it: absolute, an existing directory, and
/// resolved (links and `..` followed), so that one folder reached by two paths is one channel.
fn drop_folder(dir: &Path) -> Result<String, ApiError> {
    absolute(dir, "the drop folder")?;
    if !dir.is_dir() {
        return Err(ApiError::operator(format!(
            "{} is not a directory; mount the drive or create the folder first; nothing was added",
            dir.display()
        )));
    }
    let resolved = std::fs::canonicalize(dir).map_err(|error| {
        ApiError::operator(format!(
            "{} cannot be resolved: {error}; nothing was added",
            dir.display()
        ))
    })?;
    resolved.into_os_string().into_string().map_err(|_| {
        ApiError::operator(format!(
            "{} resolves to a path that is not UTF-8; nothing was added",
            dir.display()
        ))
    })
}

fn write_export(out: &Path, reply: Reply) -> Result<Reply, ApiError> {
    let Reply::Exported(mut exported) = reply else {
        return Ok(reply);
    };
    let bundle = std::mem::take(&mut exported.bundle);
    courier::write_export_file(out, ExportKind::BUNDLE, &bundle).map_err(export_refused)?;
    Ok(Reply::Exported(exported))
}

/// Whose error a file not read is: the operator's when the path names nothing, or something
/// other than a regular file within the size limit (a link, a FIFO, a directory, a device: what
/// was named is not what the command reads, whoever put it there); the file system's when it
/// failed to read one. Only what is read and fails verification is the peer's.
fn read_refused_class(error: &FileError) -> ErrorClass {
    match error {
        FileError::Io { source, .. } if source.kind() != ErrorKind::NotFound => ErrorClass::Local,
        _ => ErrorClass::Operator,
    }
}

/// An export not written: the file system's failure, or what is at the path (refused).
pub fn export_refused(error: FileError) -> ApiError {
    let class = match error {
        FileError::Io { .. } => ErrorClass::Local,
        _ => ErrorClass::Operator,
    };
    ApiError::new(class, format!("{error}; nothing was exported"))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// Imports sent at once are read one after the other: a bundle is read whole, and each
    /// would otherwise hold one in the daemon.
    #[test]
    fn one_import_is_read_at_a_time() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("a.bundle");
        std::fs::write(&path, b"a bundle").expect("writes");
        let request = Request::CourierImport {
            path: path.clone(),
            salvage: false,
        };
        let held = IMPORTS.lock().expect("not poisoned");
        let (read, imported) = mpsc::sync_channel(1);
        let other = std::thread::spawn(move || {
            perform(request, |command| {
                let Command::Import { bytes, .. } = command else {
                    panic!("unexpected {command:?}");
                };
                read.send(bytes).expect("sends");
                Err(ApiError::operator("done"))
            })
        });
        let waited = imported.recv_timeout(Duration::from_millis(300));
        assert!(waited.is_err(), "read while another import holds its place");
        drop(held);
        let bytes = imported
            .recv_timeout(Duration::from_secs(10))
            .expect("read once the place is free");
        assert_eq!(bytes, b"a bundle");
        assert!(other.join().expect("joins").is_err());
    }

    /// Exports asked at once are made one after the other: each holds a whole bundle, and
    /// the earlier one it replaces, in the daemon.
    #[test]
    fn one_export_is_made_at_a_time() {
        let dir = tempfile::tempdir().expect("a directory");
        let request = Request::CourierExport {
            peer: "Bravo".into(),
            out: dir.path().join("b.bundle"),
        };
        let held = EXPORTS.lock().expect("not poisoned");
        let (made, exported) = mpsc::sync_channel(1);
        let other = std::thread::spawn(move || {
            perform(request, |command| {
                let Command::Export { peer } = command else {
                    panic!("unexpected {command:?}");
                };
                made.send(peer).expect("sends");
                Err(ApiError::operator("done"))
            })
        });
        let waited = exported.recv_timeout(Duration::from_millis(300));
        assert!(waited.is_err(), "made while another export holds its place");
        drop(held);
        let peer = exported
            .recv_timeout(Duration::from_secs(10))
            .expect("made once the place is free");
        assert_eq!(peer, "Bravo");
        assert!(other.join().expect("joins").is_err());
    }
}
