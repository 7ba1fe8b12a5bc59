//! The one way this module reads an array (dataset or attribute) out of a user-supplied HDF5
//! file: the declared shape is turned into bytes with overflow-checked arithmetic and compared
//! with the memory budget ([`mre_solver::limits`]) before anything is allocated, and a
//! contiguous dataset whose declared extent lies beyond the end of the file is refused before
//! HDF5 is asked to read it.
//!
//! An HDF5 header can declare any shape: a dataset of 100000 × 100000 complex values fits in a
//! file of a few hundred kB (its storage is never allocated, or is one compressed fill chunk),
//! and reading it would allocate 149 GiB. Every read of this module goes through [`read_dyn`],
//! [`read_raw`] or [`read_attr`], so such a file is refused with a message naming the file and
//! the dataset.

use std::path::Path;

use ::hdf5::{Attribute, Container, Dataset, H5Type};
use mre_solver::limits;
use ndarray::ArrayD;

use super::{h5err, H5Error};

/// The declared shape of `c` (a dataset or attribute, `object` in messages).
pub(crate) fn shape(path: &Path, c: &Container, object: &str) -> Result<Vec<usize>, H5Error> {
    c.get_shape().map_err(|e| h5err(path, format!("cannot read the shape of {object}"), e))
}

/// The number of elements of `c`, refusing a shape whose product overflows.
pub(crate) fn element_count(path: &Path, c: &Container, object: &str) -> Result<usize, H5Error> {
    let shape = shape(path, c, object)?;
    let dims: Vec<u64> = shape.iter().map(|&n| n as u64).collect();
    limits::checked_product(&describe(object, &shape), &dims).map_err(|limit| H5Error::Limit { path: path.to_path_buf(), limit })
}

/// `dataset /wave of shape [1, 1, 1, 100000, 100000]`.
fn describe(object: &str, shape: &[usize]) -> String {
    format!("{object} of shape {shape:?}")
}

/// Checks that `c` (named `object`), read as elements of `element_bytes` bytes, fits in the
/// memory budget; a contiguous dataset must also lie inside the file. Returns the element
/// count.
///
/// # Errors
/// [`H5Error::Limit`] naming the file and object when the array is larger than the budget (or
/// than the address space), [`H5Error::Invalid`] when a contiguous dataset extends past the end
/// of the file.
pub(crate) fn check(path: &Path, c: &Container, object: &str, element_bytes: usize) -> Result<usize, H5Error> {
    let shape = shape(path, c, object)?;
    let dims: Vec<u64> = shape.iter().map(|&n| n as u64).collect();
    let what = describe(object, &shape);
    let n = limits::check_array(&what, &dims, element_bytes as u64).map_err(|limit| H5Error::Limit { path: path.to_path_buf(), limit })?;
    Ok(n)
}

/// For a contiguous dataset whose storage is allocated: its declared extent (elements × stored
/// element size from its address) must end inside the file.
fn check_extent(path: &Path, ds: &Dataset, object: &str, n: usize) -> Result<(), H5Error> {
    let Some(offset) = ds.offset() else {
        // Chunked, compact or never written (read as fill values): nothing to compare.
        return Ok(());
    };
    let stored = ds.dtype().map_err(|e| h5err(path, format!("cannot read the type of {object}"), e))?.size() as u128;
    let end = u128::from(offset) + n as u128 * stored;
    let len = std::fs::metadata(path)
        .map_err(|cause| H5Error::Io { path: path.to_path_buf(), action: "read the file length".into(), cause })?
        .len();
    // A MATLAB v7.3 user block shifts every address by its length, which HDF5 adds for us.
    if end > u128::from(len) {
        return Err(H5Error::Invalid {
            path: path.to_path_buf(),
            object: object.to_string(),
            problem: format!(
                "declares {n} elements of {stored} bytes from byte {offset}, ending at byte {end}, but the file is only {len} bytes long (truncated or corrupt)"
            ),
        });
    }
    Ok(())
}

/// Reads dataset `ds` (named `object`, e.g. `"dataset /wave"`) of `path` as an array of `T` in
/// storage shape, after [`check`] and the file-length check of contiguous storage.
///
/// # Errors
/// As [`check`], and the HDF5 error of the read.
pub(crate) fn read_dyn<T: H5Type>(path: &Path, ds: &Dataset, object: &str) -> Result<ArrayD<T>, H5Error> {
    let n = check(path, ds, object, std::mem::size_of::<T>())?;
    check_extent(path, ds, object, n)?;
    ds.read_dyn::<T>().map_err(|e| h5err(path, format!("cannot read {object}"), e))
}

/// Reads dataset `ds` (named `object`) of `path` as a flat vector of `T` in storage order,
/// checked as by [`read_dyn`].
///
/// # Errors
/// As [`read_dyn`].
pub(crate) fn read_raw<T: H5Type>(path: &Path, ds: &Dataset, object: &str) -> Result<Vec<T>, H5Error> {
    let n = check(path, ds, object, std::mem::size_of::<T>())?;
    check_extent(path, ds, object, n)?;
    ds.read_raw::<T>().map_err(|e| h5err(path, format!("cannot read {object}"), e))
}

/// Reads attribute `a` (named `object`, e.g. `"attribute frequencies_hz of /acquisition"`) of
/// `path` as a flat vector of `T`, after [`check`].
///
/// # Errors
/// As [`check`], and the HDF5 error of the read.
pub(crate) fn read_attr<T: H5Type>(path: &Path, a: &Attribute, object: &str) -> Result<Vec<T>, H5Error> {
    check(path, a, object, std::mem::size_of::<T>())?;
    a.read_raw::<T>().map_err(|e| h5err(path, format!("cannot read {object}"), e))
}
