//! Directories that hold one owner's secrets: a station's or a relay's home.
//!
//! Whoever owns a directory can rename, remove and replace every file in it, whatever the
//! files' own modes: the identity key, the store, and the configuration that names programs
//! to run (a station's alarm hooks). So a home must be the running user's own, and `init` must
//! not take over a directory someone else made first (a name in `/tmp` another user chose
//! before the administrator did), nor restrict a directory others use (`/tmp` itself).

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

/// Why a directory cannot hold secrets.
#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    /// The path exists and is not a directory (or is a symbolic link).
    #[error("{0} exists and is not a directory; give the path of a new or empty directory")]
    NotDirectory(String),
    /// Another user owns it.
    #[error(
        "{path} belongs to user {owner}, not to this user ({me}), and its owner can replace it \
         and what it holds"
    )]
    NotOwn {
        /// The directory.
        path: String,
        /// Its owner's uid.
        owner: u32,
        /// The running user's uid.
        me: u32,
    },
    /// It already holds files.
    #[error(
        "{0} is not empty: it would be closed to everyone else; give the path of a new or \
         empty directory"
    )]
    NotEmpty(String),
    /// Creating, reading or restricting it failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The directory.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Creates `dir` (and its missing parents) with mode 0700, or takes an existing directory that
/// is empty and the running user's own, and restricts it to 0700. Anything else is refused with
/// nothing changed.
pub fn create_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    let shown = dir.display().to_string();
    let io = |what: &'static str| {
        let path = shown.clone();
        move |source| PrivateDirError::Io { what, path, source }
    };
    match fs::symlink_metadata(dir) {
        Ok(metadata) if !metadata.is_dir() => {
            return Err(PrivateDirError::NotDirectory(shown));
        }
        Ok(metadata) => {
            check_own(dir, &metadata)?;
            if fs::read_dir(dir).map_err(io("reading"))?.next().is_some() {
                return Err(PrivateDirError::NotEmpty(shown));
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io("creating"))?;
        }
        Err(error) => return Err(io("reading")(error)),
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io("restricting"))
}

/// Refuses `metadata` (of `path`, read without following a link) when another user owns it.
pub fn check_own(path: &Path, metadata: &fs::Metadata) -> Result<(), PrivateDirError> {
    let me = rustix::process::geteuid().as_raw();
    if metadata.uid() != me {
        return Err(PrivateDirError::NotOwn {
            path: path.display().to_string(),
            owner: metadata.uid(),
            me,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_new_or_empty_own_directory_is_made_private_and_anything_else_is_left_as_it_is() {
        let scratch = tempfile::tempdir().expect("a scratch directory");
        let mode = |path: &Path| fs::metadata(path).expect("exists").permissions().mode() & 0o7777;
        // New, with its parents.
        let new = scratch.path().join("a/b/home");
        create_private_dir(&new).expect("created");
        assert_eq!(mode(&new), 0o700);
        // Empty and open to all: restricted.
        let empty = scratch.path().join("empty");
        fs::create_dir(&empty).expect("made");
        fs::set_permissions(&empty, fs::Permissions::from_mode(0o1777)).expect("opened");
        create_private_dir(&empty).expect("taken");
        assert_eq!(mode(&empty), 0o700);
        // Holding a file (as /tmp does): refused, its mode unchanged.
        let used = scratch.path().join("used");
        fs::create_dir(&used).expect("made");
        fs::write(used.join("someone's"), b"x").expect("written");
        fs::set_permissions(&used, fs::Permissions::from_mode(0o1777)).expect("opened");
        let refused = create_private_dir(&used);
        assert!(
            matches!(refused, Err(PrivateDirError::NotEmpty(_))),
            "{refused:?}"
        );
        assert_eq!(mode(&used), 0o1777);
        // A file, and a link to a directory: refused.
        let file = scratch.path().join("file");
        fs::write(&file, b"x").expect("written");
        let link = scratch.path().join("link");
        std::os::unix::fs::symlink(&empty, &link).expect("linked");
        for path in [&file, &link] {
            let refused = create_private_dir(path);
            assert!(
                matches!(refused, Err(PrivateDirError::NotDirectory(_))),
                "{refused:?}"
            );
        }
    }

    /// Only root can give a directory away; elsewhere this test has nothing to show.
    #[test]
    fn a_directory_another_user_owns_is_refused_unchanged() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: giving a directory to another user needs root");
            return;
        }
        let scratch = tempfile::tempdir().expect("a scratch directory");
        let theirs = scratch.path().join("theirs");
        fs::create_dir(&theirs).expect("made");
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).expect("set");
        std::os::unix::fs::chown(&theirs, Some(65_534), Some(65_534)).expect("given away");
        let refused = create_private_dir(&theirs);
        assert!(
            matches!(refused, Err(PrivateDirError::NotOwn { owner: 65_534, .. })),
            "{refused:?}"
        );
        let mode = fs::metadata(&theirs).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}
