//! The files a command writes, listed and checked before its computation: an existing one
//! (also a dangling symbolic link) is refused with [`ErrorKind::OutputExists`] unless `force`,
//! a missing directory is created, and a directory that does not accept a new file is
//! [`ErrorKind::InvalidInput`] — in seconds, not after the simulation or the inversion. The
//! files themselves are then written by [`mre_solver::files::write_new`].

use std::path::{Path, PathBuf};

use mre_solver::files::{self, FileError};

use crate::error::{ErrorKind, PipelineError, Result};

/// One file a command will write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Where.
    pub path: PathBuf,
    /// What it is, for messages: e.g. `"mre-data"`, `"figure"`, `"MRD raw data"`.
    pub role: &'static str,
}

impl Output {
    /// `path` as a `role`.
    pub fn new(path: impl Into<PathBuf>, role: &'static str) -> Self {
        Self { path: path.into(), role }
    }
}

/// The error for `output` from the file layer: existing → [`ErrorKind::OutputExists`], any
/// other problem (directory not creatable or not writable, a directory at the path) →
/// [`ErrorKind::InvalidInput`] (the path was chosen by the user).
fn error(output: &Output, e: &FileError) -> PipelineError {
    let Output { path, role } = output;
    match e {
        FileError::Exists { .. } if files::is_dangling_link(path) => PipelineError::exists(format!(
            "{} ({role}) is a symbolic link to a missing file; remove it, use --force to replace it, or --output to write elsewhere",
            path.display()
        )),
        FileError::Exists { .. } => {
            PipelineError::exists(format!("{} ({role}) exists; use --force to overwrite it or --output to write elsewhere", path.display()))
        }
        FileError::NotAFile { .. } if path.is_dir() => {
            PipelineError::invalid(format!("{} ({role}) is a directory; expected the path of a file", path.display()))
        }
        FileError::Io { action, source, .. } => PipelineError::invalid(format!("{} ({role}): cannot {action}: {source}", path.display())),
        other => PipelineError::new(ErrorKind::InvalidInput, format!("{} ({role}): {}", path.display(), crate::error::chain(other))),
    }
}

/// An error unless every output is free (or `force`); nothing is created.
///
/// # Errors
///
/// [`ErrorKind::OutputExists`] naming the first output that exists.
pub fn check_free(outputs: &[Output], force: bool) -> Result<()> {
    for o in outputs {
        files::check_free(&o.path, force).map_err(|e| error(o, &e))?;
    }
    Ok(())
}

/// [`check_free`], then for every output: its directory is created when missing and must
/// accept a new file ([`files::prepare_new`]).
///
/// # Errors
///
/// [`ErrorKind::OutputExists`] as for [`check_free`]; [`ErrorKind::InvalidInput`] naming the
/// output whose directory cannot be created or written, or which names a directory.
pub fn prepare(outputs: &[Output], force: bool) -> Result<()> {
    check_free(outputs, force)?;
    for o in outputs {
        files::prepare_new(&o.path, force).map_err(|e| error(o, &e))?;
    }
    Ok(())
}

/// The directory `path` is in (`.` for a bare file name).
pub fn directory_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_outputs_are_exit_3_and_unwritable_ones_exit_2() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("r-storage-modulus.png");
        std::fs::write(&png, b"old").unwrap();
        let outs = [Output::new(dir.path().join("new/r.h5"), "mre-result"), Output::new(&png, "figure")];
        let e = prepare(&outs, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutputExists);
        assert!(e.to_string().contains("r-storage-modulus.png (figure) exists"), "{e}");
        // Nothing created when an output exists.
        assert!(!dir.path().join("new").exists());
        prepare(&outs, true).unwrap();
        assert!(dir.path().join("new").is_dir());
        assert_eq!(std::fs::read(&png).unwrap(), b"old");
        // A file where a directory should be: invalid input, naming the output.
        let e = prepare(&[Output::new(png.join("r.h5"), "mre-result")], false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("(mre-result)") && e.to_string().contains("create the directory"), "{e}");
    }
}
