//! Reading and writing mre-data v1 HDF5 files (`docs/mre-data-format.md`).
//!
//! * [`write_mre_data`] writes every present dataset of an [`MreData`]
//!   atomically (temporary file in the same directory, then rename:
//!   [`mre_solver::files::write_new`]).
//! * [`read_mre_data`] reads the layout back, also accepting files made by
//!   other tools (h5py, MATLAB v7.3): complex compounds with members `r`/`i`
//!   or `real`/`imag` in float64 or float32, integer or float attributes,
//!   fixed- or variable-length strings.
//! * [`write_mre_result`] / [`read_mre_result`] write and read inversion
//!   results (mre-result v1).
//! * [`read_labels`] reads an integer label map from any HDF5 file.
//!
//! Every error is an [`H5Error`] whose message names the file, the dataset or
//! attribute, and what was expected. Every array is read through one checked helper that
//! compares its declared size with the memory budget ([`mre_solver::limits`]) and, for
//! contiguous storage, with the file length before anything is allocated.
//!
//! Inside this module the HDF5 crate is always spelled `::hdf5`, because this
//! module itself is called `hdf5`.
//!
//! [`MreData`]: crate::data::MreData

mod attrs;
pub(crate) mod checked;
mod complex;
mod matlab;
mod read;
pub(crate) use read::open_unlocked;
mod result;
mod time;
mod validate;
mod write;

use std::path::{Path, PathBuf};

use mre_solver::files::FileError;

pub use matlab::{read_matlab_array, MatlabArray};
pub use read::{read_labels, read_mre_data};
pub use result::{read_mre_result, write_mre_result, MreResult, RegionSummary, ResultProvenance, RESULT_FORMAT_NAME};
pub use time::{rfc3339_utc, rfc3339_utc_now};
pub use write::write_mre_data;
pub(crate) use write::{exists, write_new_file};

/// Value of the root attribute `format` of an mre-data file.
pub const FORMAT_NAME: &str = "mre-data";
/// Value of the root attribute `version` this module writes and reads.
pub const FORMAT_VERSION: i64 = 1;
/// Density used when `/acquisition` has no `density_kg_m3` attribute, kg/m³.
pub const DEFAULT_DENSITY_KG_M3: f64 = 1000.0;

/// Error reading or writing an mre-data HDF5 file.
///
/// Messages are self-contained (they include the underlying HDF5 or OS error
/// text) and always start with the file path, e.g.
/// `data.h5: dataset /wave has shape [1, 1, 64, 64], expected 5 axes [nf, ncomp, nz, ny, nx]`.
#[derive(Debug, thiserror::Error)]
pub enum H5Error {
    /// The output file exists and overwriting was not requested.
    #[error("{}: file already exists; use --force to overwrite it", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },

    /// A file-system operation failed.
    #[error("{}: cannot {action}: {cause}", path.display())]
    Io {
        /// File the operation was about.
        path: PathBuf,
        /// What was attempted, e.g. `rename the temporary file into place`.
        action: String,
        /// The OS error.
        cause: std::io::Error,
    },

    /// The HDF5 library reported an error.
    #[error("{}: {object}: {cause}", path.display())]
    Hdf5 {
        /// The HDF5 file.
        path: PathBuf,
        /// The object and operation, e.g. `cannot read dataset /wave`.
        object: String,
        /// The HDF5 error.
        cause: ::hdf5::Error,
    },

    /// A required dataset, group or attribute is absent.
    #[error("{}: {object} is missing; {expected}", path.display())]
    Missing {
        /// The HDF5 file.
        path: PathBuf,
        /// The missing object, e.g. `attribute frequencies_hz of /acquisition`.
        object: String,
        /// Why it is needed / what should be there.
        expected: String,
    },

    /// A dataset or attribute has the wrong number of axes or axis lengths.
    #[error("{}: {object} has shape {shape:?}, expected {expected}", path.display())]
    Shape {
        /// The HDF5 file.
        path: PathBuf,
        /// The offending dataset or attribute.
        object: String,
        /// Its actual shape.
        shape: Vec<usize>,
        /// The expected shape, with axis names.
        expected: String,
    },

    /// A dataset or attribute has an unsupported data type.
    #[error("{}: {object} has type {found}, expected {expected}", path.display())]
    Type {
        /// The HDF5 file.
        path: PathBuf,
        /// The offending dataset or attribute.
        object: String,
        /// The stored type.
        found: String,
        /// The accepted types.
        expected: String,
    },

    /// A dataset or attribute declares more data than the memory budget allows (or than the
    /// address space holds); nothing was read.
    #[error("{}: {limit}", path.display())]
    Limit {
        /// The HDF5 file.
        path: PathBuf,
        /// The size check that failed; its message names the dataset and its shape (not a
        /// `source`, so that the message is printed once).
        limit: mre_solver::limits::LimitError,
    },

    /// A value is out of range, not finite, or otherwise invalid.
    #[error("{}: {object} {problem}", path.display())]
    Invalid {
        /// The HDF5 file.
        path: PathBuf,
        /// The offending dataset or attribute.
        object: String,
        /// What is wrong, phrased to follow the object name.
        problem: String,
    },
}

impl H5Error {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            H5Error::Exists { path }
            | H5Error::Io { path, .. }
            | H5Error::Hdf5 { path, .. }
            | H5Error::Missing { path, .. }
            | H5Error::Shape { path, .. }
            | H5Error::Type { path, .. }
            | H5Error::Limit { path, .. }
            | H5Error::Invalid { path, .. } => path,
        }
    }
}

impl From<FileError> for H5Error {
    /// [`FileError::Exists`] stays [`H5Error::Exists`] (the CLI's "output exists" exit code).
    fn from(e: FileError) -> Self {
        match e {
            FileError::Exists { path } => H5Error::Exists { path },
            FileError::Io { path, action, source } => H5Error::Io { path, action, cause: source },
            FileError::NotAFile { path } => H5Error::Invalid { path, object: "output path".into(), problem: "does not name a file".into() },
            other => H5Error::Io {
                path: other.path().to_path_buf(),
                action: "write the file".into(),
                cause: std::io::Error::other(other.to_string()),
            },
        }
    }
}

/// Builds an [`H5Error::Hdf5`] from a path, an object description and an HDF5 error.
pub(crate) fn h5err(path: &Path, object: impl Into<String>, cause: ::hdf5::Error) -> H5Error {
    H5Error::Hdf5 { path: path.to_path_buf(), object: object.into(), cause }
}

/// Human-readable name of attribute `name` of the object at `loc` (`"/"`, `"/acquisition"`).
pub(crate) fn attr_object(loc: &str, name: &str) -> String {
    if loc == "/" {
        format!("root attribute {name}")
    } else {
        format!("attribute {name} of {loc}")
    }
}
