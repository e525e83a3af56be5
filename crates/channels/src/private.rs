//! Directories that hold one owner's secrets: a station's or a relay's home.
//!
//! Whoever owns a directory can rename, remove and replace every file in it, whatever the
//! files' own modes: the identity key, the store, and the configuration that names programs
//! to run (a station's alarm hooks). So a home must be the running user's own, and `init` must
//! not take over a directory someone else made first (a name in `/tmp` another user chose
//! before the administrator did), nor restrict a directory others use (`/tmp` itself).

use std::fs;
use std::os::unix::fs::MetadataExt as _;
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
    /// It already holds files (the first few named).
    #[error(
        "{path} is not empty (it holds {names}): it would be closed to everyone else; give the \
         path of a new or empty directory"
    )]
    NotEmpty {
        /// The directory.
        path: String,
        /// The first few names in it.
        names: String,
    },
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

/// How many names a [`PrivateDirError::NotEmpty`] shows.
const NAMES_SHOWN_MAX: usize = 3;

/// Creates `dir` (and its missing parents) with mode 0700, or takes an existing directory that
/// is empty (but for `lost+found`, which a file system of its own holds) and the running
/// user's own, and restricts it to 0700. Anything else is refused with nothing changed. The
/// directory is checked and restricted through one handle on it, opened without following a
/// link: what another user puts at the path meanwhile is never taken for it.
pub fn create_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    use rustix::fs::{Mode, OFlags};
    let shown = dir.display().to_string();
    let io = |what: &'static str| {
        let path = shown.clone();
        move |source: std::io::Error| PrivateDirError::Io { what, path, source }
    };
    if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io("creating the parents of"))?;
    }
    match fs::create_dir(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(io("creating")(error));
        }
        _ => {}
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let handle = rustix::fs::open(dir, flags, Mode::empty()).map_err(|errno| match errno {
        rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP => {
            PrivateDirError::NotDirectory(shown.clone())
        }
        errno => io("opening")(errno.into()),
    })?;
    let stat = rustix::fs::fstat(&handle).map_err(|errno| io("reading")(errno.into()))?;
    owned_by_me(dir, stat.st_uid)?;
    let mut names = Vec::new();
    let entries =
        rustix::fs::Dir::read_from(&handle).map_err(|errno| io("reading")(errno.into()))?;
    for entry in entries {
        let entry = entry.map_err(|errno| io("reading")(errno.into()))?;
        let name = entry.file_name().to_string_lossy();
        if !matches!(name.as_ref(), "." | ".." | "lost+found") {
            names.push(format!("{name:?}"));
        }
    }
    if !names.is_empty() {
        names.sort();
        let more = names.len() > NAMES_SHOWN_MAX;
        names.truncate(NAMES_SHOWN_MAX);
        let names = names.join(", ") + if more { ", …" } else { "" };
        return Err(PrivateDirError::NotEmpty { path: shown, names });
    }
    rustix::fs::fchmod(&handle, Mode::from_raw_mode(0o700))
        .map_err(|errno| io("restricting")(errno.into()))
}

/// Refuses `metadata` (of `path`, read without following a link) when another user owns it.
pub fn check_own(path: &Path, metadata: &fs::Metadata) -> Result<(), PrivateDirError> {
    owned_by_me(path, metadata.uid())
}

fn owned_by_me(path: &Path, owner: u32) -> Result<(), PrivateDirError> {
    let me = rustix::process::geteuid().as_raw();
    if owner != me {
        return Err(PrivateDirError::NotOwn {
            path: path.display().to_string(),
            owner,
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
            matches!(&refused, Err(PrivateDirError::NotEmpty { names, .. }) if names == "\"someone's\""),
            "{refused:?}"
        );
        assert_eq!(mode(&used), 0o1777);
        // A file system's own lost+found does not count.
        let volume = scratch.path().join("volume");
        fs::create_dir_all(volume.join("lost+found")).expect("made");
        create_private_dir(&volume).expect("taken");
        assert_eq!(mode(&volume), 0o700);
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
