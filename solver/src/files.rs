//! Atomic file writes: the one implementation behind every file mre-sim writes.
//!
//! * [`write_new`] for outputs (mre-data, mre-result and MRD files, figures, Pulseq files): the
//!   caller writes the contents to a temporary path in the target's directory, which is then
//!   moved into place without replacing an existing file unless `force` is given;
//! * [`write_replace`] for checkpoints: the bytes are written and synced under a temporary
//!   name, then renamed over the previous checkpoint.
//!
//! * [`prepare_new`] before the work: an existing output (also a dangling symbolic link) is
//!   refused, the directory is created and must accept a new file, so a command fails in
//!   seconds instead of after its computation.
//!
//! Either way the target never holds a partial file (a run killed while writing leaves the old
//! file or the new one), and the temporary file is removed on every error.
//!
//! This is not physics, but it lives in mre-solver because that is the lowest crate of the
//! workspace: mre-inverse (checkpoints) and mre-io (outputs) both depend on it and not on each
//! other. It knows no file format, only paths and bytes; built on the `tempfile` crate.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::Builder;

/// A file could not be written.
///
/// Messages start with the target path and include the OS error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The output exists and replacing it was not asked for (`force` false).
    #[error("{}: file already exists", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The path does not end in a file name (e.g. `/` or `..`).
    #[error("{}: does not name a file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The target file (or its directory).
        path: PathBuf,
        /// What was attempted, e.g. `move the temporary file into place`.
        action: String,
        /// The OS error.
        source: io::Error,
    },
}

impl FileError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            FileError::Exists { path } | FileError::NotAFile { path } | FileError::Io { path, .. } => path,
        }
    }

    fn io(path: &Path, action: impl Into<String>, source: io::Error) -> Self {
        FileError::Io { path: path.to_path_buf(), action: action.into(), source }
    }
}

/// Whether anything (file, directory, even a dangling symbolic link) is at `path`.
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Checks, before a computation, that [`write_new`]`(path, force, …)` can succeed, so that a
/// run fails in seconds rather than after its work: nothing is at `path` (not even a dangling
/// symbolic link) unless `force`, `path` is not a directory, its directory exists (created
/// here, with its parents, when missing) and a new file can be created in it (a temporary file
/// is created and removed).
///
/// # Errors
///
/// [`FileError::Exists`] for anything at `path` without `force`, [`FileError::NotAFile`] for
/// a path without a file name or naming a directory, [`FileError::Io`] when the directory
/// cannot be created or does not accept a new file (read-only, no permission, a file in
/// the way).
pub fn prepare_new(path: &Path, force: bool) -> Result<(), FileError> {
    check_free(path, force)?;
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(FileError::NotAFile { path: path.to_path_buf() });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| FileError::io(path, format!("create the directory {}", dir.display()), e))?;
    }
    // Dropping the temporary file removes it.
    temporary(path).map(drop)
}

/// [`FileError::Exists`] when anything (a file, a directory, a dangling symbolic link) is at
/// `path` and `force` is false; nothing is created.
///
/// # Errors
///
/// As said.
pub fn check_free(path: &Path, force: bool) -> Result<(), FileError> {
    if !force && exists(path) {
        return Err(FileError::Exists { path: path.to_path_buf() });
    }
    Ok(())
}

/// Whether `path` is a symbolic link whose target does not exist.
pub fn is_dangling_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) && std::fs::metadata(path).is_err()
}

/// Writes a new output file at `path` through `write`, atomically.
///
/// `write` gets a temporary path in the directory of `path` (an empty file there already,
/// named `.<name>.tmp-<random>` with the extension of `path`, so encoders that go by the
/// extension work; permissions as for [`std::fs::File::create`]) and must leave the complete
/// contents there, flushed and closed. The file is then moved to `path`: without `force` an
/// existing `path` is never replaced (also not one that appears while `write` runs: the move
/// fails instead), with `force` it is. The directory of `path` must exist. Nothing is synced to
/// disk here.
///
/// # Errors
///
/// The error of `write`, or a [`FileError`] converted into `E`: [`FileError::Exists`] if `path`
/// exists and `force` is false (checked before `write` runs, and again by the move),
/// [`FileError::NotAFile`], or [`FileError::Io`] if the temporary file cannot be created or
/// moved. The temporary file is removed on every error.
pub fn write_new<T, E: From<FileError>>(path: &Path, force: bool, write: impl FnOnce(&Path) -> Result<T, E>) -> Result<T, E> {
    check_free(path, force)?;
    let tmp = temporary(path)?.into_temp_path();
    let value = write(&tmp)?;
    let moved = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path).or_else(|e| {
            if e.error.kind() == io::ErrorKind::AlreadyExists || exists(path) {
                Err(e)
            } else {
                // A file system with neither `renameat2` nor hard links: check, then rename.
                e.path.persist(path)
            }
        })
    };
    // On failure the returned `TempPath` is dropped, which removes the temporary file.
    moved.map_err(|e| {
        if !force && (e.error.kind() == io::ErrorKind::AlreadyExists || exists(path)) {
            FileError::Exists { path: path.to_path_buf() }
        } else {
            FileError::io(path, "move the temporary file into place", e.error)
        }
    })?;
    Ok(value)
}

/// Writes `bytes` to `path`, replacing any previous file, atomically: a temporary file in the
/// same directory is written, synced to disk and renamed over `path`. The directory of `path`
/// is created first when it does not exist.
///
/// # Errors
///
/// [`FileError::NotAFile`], or [`FileError::Io`] naming the step that failed (the directory,
/// the temporary file, the write, the sync or the rename); the temporary file is removed.
pub fn write_replace(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| FileError::io(path, format!("create the directory {}", dir.display()), e))?;
    }
    let mut tmp = temporary(path)?;
    tmp.write_all(bytes).and_then(|()| tmp.as_file().sync_all()).map_err(|e| FileError::io(path, "write the temporary file", e))?;
    tmp.persist(path).map_err(|e| FileError::io(path, "move the temporary file into place", e.error))?;
    Ok(())
}

/// A new, empty temporary file next to `target` (removed when dropped).
/// `e` without the path tempfile appends to its messages (`… at path "/d/.x.tmp-Ab12"`): the
/// OS error alone, since the message names the target already.
fn without_path(e: io::Error) -> io::Error {
    // tempfile keeps the OS error inside a private type whose message ends in ` at path "…"`.
    let message = e.to_string();
    match message.rfind(" at path \"") {
        Some(i) => io::Error::new(e.kind(), &message[..i]),
        None => e,
    }
}

fn temporary(target: &Path) -> Result<tempfile::NamedTempFile, FileError> {
    let name = target.file_name().ok_or_else(|| FileError::NotAFile { path: target.to_path_buf() })?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".tmp-");
    let suffix = target.extension().map(|e| {
        let mut s = OsString::from(".");
        s.push(e);
        s
    });
    let mut builder = Builder::new();
    builder.prefix(&prefix).suffix(suffix.as_deref().unwrap_or_default());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // As `File::create`: everyone may read and write, less the umask (tempfile's own default is 0o600).
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir).map_err(|e| FileError::io(target, format!("create a temporary file in {}", dir.display()), without_path(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fresh empty directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mre-solver-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn new_files_are_written_and_keep_the_extension_while_written() {
        let dir = scratch("new");
        let path = dir.join("out.png");
        let seen = write_new(&path, false, |tmp| -> Result<PathBuf, FileError> {
            assert_eq!(tmp.parent(), Some(dir.as_path()));
            assert_eq!(tmp.extension().and_then(|e| e.to_str()), Some("png"));
            fs::write(tmp, b"new").unwrap();
            Ok(tmp.to_path_buf())
        })
        .unwrap();
        assert!(!seen.exists());
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(entries(&dir), ["out.png"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn existing_files_are_kept_without_force_and_replaced_with_it() {
        let dir = scratch("clobber");
        let path = dir.join("out.h5");
        fs::write(&path, b"old").unwrap();
        let mut ran = false;
        let err = write_new(&path, false, |_| -> Result<(), FileError> {
            ran = true;
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, FileError::Exists { .. }) && !ran, "{err}");
        // A file appearing while the contents are written is not replaced either.
        let late = dir.join("late.h5");
        let err = write_new(&late, false, |tmp| -> Result<(), FileError> {
            fs::write(tmp, b"mine").unwrap();
            fs::write(&late, b"theirs").unwrap();
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, FileError::Exists { .. }), "{err}");
        assert_eq!(fs::read(&late).unwrap(), b"theirs");
        assert_eq!(fs::read(&path).unwrap(), b"old");

        write_new(&path, true, |tmp| fs::write(tmp, b"new").map_err(|e| FileError::io(tmp, "write", e))).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(entries(&dir), ["late.h5", "out.h5"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_temporary_file_is_removed_on_error() {
        #[derive(Debug)]
        enum Failed {
            Caller,
            File(FileError),
        }
        impl From<FileError> for Failed {
            fn from(e: FileError) -> Self {
                Failed::File(e)
            }
        }
        let dir = scratch("error");
        let path = dir.join("out.seq");
        let err = write_new(&path, true, |tmp| {
            fs::write(tmp, b"partial").unwrap();
            Err::<(), _>(Failed::Caller)
        })
        .unwrap_err();
        assert!(matches!(err, Failed::Caller));
        assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
        // A missing directory is an error naming the target, not a panic.
        let missing = dir.join("missing").join("out.seq");
        match write_new(&missing, false, |_| Ok::<(), Failed>(())).unwrap_err() {
            Failed::File(e @ FileError::Io { .. }) => assert_eq!(e.path(), missing),
            e => panic!("{e:?}"),
        }
        assert!(matches!(write_new(Path::new("/"), true, |_| Ok::<(), FileError>(())), Err(FileError::NotAFile { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn an_unwritable_directory_is_named_once() {
        // /proc takes no new files, even for root.
        let e = prepare_new(Path::new("/proc/out.h5"), false).unwrap_err().to_string();
        assert!(e.starts_with("/proc/out.h5: cannot create a temporary file in /proc: "), "{e}");
        assert!(!e.contains("at path") && !e.contains(".tmp-"), "{e}");
    }

    #[test]
    fn outputs_are_prepared_before_the_work() {
        let dir = scratch("prepare");
        // A missing directory is created; nothing else is left behind.
        let path = dir.join("new").join("sub").join("out.h5");
        prepare_new(&path, false).unwrap();
        assert!(path.parent().unwrap().is_dir());
        assert!(entries(path.parent().unwrap()).is_empty());
        // An existing file, and a dangling symbolic link, are refused without force.
        let file = dir.join("file.png");
        fs::write(&file, b"old").unwrap();
        assert!(matches!(prepare_new(&file, false), Err(FileError::Exists { .. })));
        prepare_new(&file, true).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"old");
        #[cfg(unix)]
        {
            let link = dir.join("link.h5");
            std::os::unix::fs::symlink(dir.join("missing-target"), &link).unwrap();
            assert!(is_dangling_link(&link) && !is_dangling_link(&file));
            assert!(matches!(prepare_new(&link, false), Err(FileError::Exists { .. })));
        }
        // A directory at the path, and a file where the directory should be.
        assert!(matches!(prepare_new(&dir.join("new"), true), Err(FileError::NotAFile { .. })));
        let e = prepare_new(&file.join("out.h5"), false).unwrap_err();
        assert!(matches!(e, FileError::Io { .. }) && e.to_string().contains("create the directory"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replacing_writes_create_the_directory_and_replace_the_file() {
        let dir = scratch("replace");
        let path = dir.join("not").join("yet").join("state.cbor");
        write_replace(&path, b"first").unwrap();
        write_replace(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(entries(path.parent().unwrap()), ["state.cbor"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn outputs_get_the_permissions_of_a_created_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("mode");
        let plain = dir.join("plain");
        fs::File::create(&plain).unwrap();
        let path = dir.join("atomic");
        write_replace(&path, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&plain));
        fs::remove_dir_all(&dir).unwrap();
    }
}
