//! Errors and warnings of the Pulseq reader, writer and timeline conversion.

use std::path::PathBuf;

/// A Pulseq file could not be read, written or converted.
///
/// Parse errors carry the file name, the 1-based line, the section (`[RF]`,
/// `extension LABELSET`, …) and what was expected there.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PulseqError {
    /// The text breaks the format at a known place.
    #[error("{file}:{line}: in {section}: {message}")]
    Parse {
        /// File name (or the source name given to [`crate::pulseq::parse_str`]).
        file: String,
        /// 1-based line number.
        line: usize,
        /// Section the line belongs to, e.g. `[RF]`; `(top)` before the first one.
        section: String,
        /// What was expected and what was found.
        message: String,
    },
    /// The sequence is inconsistent as a whole (no single line to blame).
    #[error("{file}: {message}")]
    Invalid {
        /// File or source name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The output exists and overwriting was not asked for.
    #[error("{path} already exists (pass force = true to overwrite it)")]
    Exists {
        /// The path.
        path: PathBuf,
    },
}

/// Something suspicious but not fatal found while reading a file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PulseqWarning {
    /// The MD5 in `[SIGNATURE]` does not match the text before it.
    #[error("{file}: signature mismatch: [SIGNATURE] says md5 {stored}, the file text hashes to {computed} (edited or truncated?)")]
    SignatureMismatch {
        /// File name.
        file: String,
        /// Hash stored in the file.
        stored: String,
        /// Hash of the text before `[SIGNATURE]`.
        computed: String,
    },
    /// A signature of a type other than md5 (not checked).
    #[error("{file}: signature of type {kind:?} not checked (only md5 is)")]
    UncheckedSignature {
        /// File name.
        file: String,
        /// The `Type` field.
        kind: String,
    },
    /// An extension this reader does not interpret; its rows are kept verbatim.
    #[error("{file}:{line}: unknown extension {name:?} kept verbatim but ignored by the timeline")]
    UnknownExtension {
        /// File name.
        file: String,
        /// Line of the `extension NAME ID` header.
        line: usize,
        /// Extension name.
        name: String,
    },
    /// A label name outside the Pulseq list; kept, ignored by the timeline.
    #[error("{file}:{line}: unknown label {name:?} kept but ignored by the timeline")]
    UnknownLabel {
        /// File name.
        file: String,
        /// Line.
        line: usize,
        /// Label name.
        name: String,
    },
    /// A raster definition is missing; the pypulseq default is used.
    #[error("{file}: no {key} in [DEFINITIONS]; using {default_s} s")]
    MissingRaster {
        /// File name.
        file: String,
        /// Definition key.
        key: String,
        /// Default used, s.
        default_s: f64,
    },
    /// `TotalDuration` disagrees with the sum of the block durations.
    #[error("{file}: TotalDuration is {stated_s} s but the blocks add up to {blocks_s} s (truncated or edited file?)")]
    DurationMismatch {
        /// File name.
        file: String,
        /// `TotalDuration` definition, s.
        stated_s: f64,
        /// Sum of block durations, s.
        blocks_s: f64,
    },
    /// Fields absent before format 1.5 were filled in as pypulseq does.
    #[error("{file}: format {version}: {what}")]
    Upgraded {
        /// File name.
        file: String,
        /// File format version.
        version: String,
        /// What was inferred.
        what: String,
    },
}

impl From<mre_solver::files::FileError> for PulseqError {
    /// [`FileError::Exists`](mre_solver::files::FileError::Exists) stays [`PulseqError::Exists`].
    fn from(e: mre_solver::files::FileError) -> Self {
        use mre_solver::files::FileError;
        match e {
            FileError::Exists { path } => PulseqError::Exists { path },
            FileError::Io { path, source, .. } => PulseqError::Io { path, source },
            other => PulseqError::Io {
                path: other.path().to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
            },
        }
    }
}

pub(crate) fn io_error(path: impl Into<PathBuf>, source: std::io::Error) -> PulseqError {
    PulseqError::Io { path: path.into(), source }
}
