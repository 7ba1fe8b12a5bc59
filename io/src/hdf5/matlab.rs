//! Arrays from MATLAB v7.3 `.mat` files (which are HDF5 files).
//!
//! MATLAB stores arrays column-major and HDF5 is row-major, so an array that
//! MATLAB calls `(rows, cols, slices, t, c, f)` appears in HDF5 (h5py,
//! `h5dump`) with its dimensions reversed: `[f, c, t, slices, cols, rows]`.
//! MATLAB also drops trailing singleton dimensions, so a single-frequency,
//! single-component array is stored with fewer axes. [`read_matlab_array`]
//! undoes both: it returns the array with its axes in MATLAB order, padded
//! with trailing length-1 axes to the requested rank.
//!
//! Complex arrays are compounds with members `real`/`imag` (also `r`/`i`),
//! float64 or float32; real arrays may be any integer or float type.

use std::path::Path;

use ndarray::{ArrayD, Axis};
use num_complex::Complex64;

use super::attrs::is_numeric;
use super::checked;
use super::complex::{complex_names, describe_type, read_complex};
use super::read::{descriptor, open, optional};
use super::H5Error;

/// A real or complex array with axes in MATLAB order.
#[derive(Debug, Clone)]
pub enum MatlabArray {
    /// Real values (any integer or float stored type).
    Real(ArrayD<f64>),
    /// Complex values.
    Complex(ArrayD<Complex64>),
}

impl MatlabArray {
    /// The shape in MATLAB order.
    pub fn shape(&self) -> &[usize] {
        match self {
            MatlabArray::Real(a) => a.shape(),
            MatlabArray::Complex(a) => a.shape(),
        }
    }
}

/// Reads dataset `dataset` of the MATLAB v7.3 file `path` with its axes in
/// MATLAB order (the HDF5 dims reversed), padded with trailing length-1 axes
/// to `ndim` axes. `axis_names` (length `ndim`) names the axes in messages.
///
/// # Errors
///
/// An [`H5Error`] naming the file and dataset if it is missing, has more
/// than `ndim` non-trailing-singleton axes, or is neither numeric nor a
/// complex compound.
pub fn read_matlab_array(path: &Path, dataset: &str, axis_names: &[&str]) -> Result<MatlabArray, H5Error> {
    let ndim = axis_names.len();
    let file = open(path)?;
    let name = if dataset.starts_with('/') { dataset.to_string() } else { format!("/{dataset}") };
    let expected_shape = format!("MATLAB size ({})", axis_names.join(", "));
    let ds = optional(path, &file, &name)?.ok_or_else(|| H5Error::Missing {
        path: path.to_path_buf(),
        object: format!("dataset {name}"),
        expected: format!("expected a real or complex array of {expected_shape}"),
    })?;
    let object = format!("dataset {name}");
    let h5_shape = ds.shape();
    let matlab_shape: Vec<usize> = h5_shape.iter().rev().copied().collect();
    // MATLAB drops trailing singleton axes only; more axes than expected are
    // acceptable only if the extra ones have length 1.
    if matlab_shape.len() > ndim && matlab_shape[ndim..].iter().any(|&n| n != 1) {
        return Err(H5Error::Shape {
            path: path.to_path_buf(),
            object,
            shape: matlab_shape,
            expected: format!("{expected_shape} (shape shown in MATLAB order, i.e. the HDF5 dims reversed)"),
        });
    }
    let desc = descriptor(path, &ds, &name)?;
    if complex_names(&desc).is_some() {
        Ok(MatlabArray::Complex(to_matlab_order(read_complex(path, &object, &ds, &desc)?, ndim)))
    } else if is_numeric(&desc) {
        Ok(MatlabArray::Real(to_matlab_order(checked::read_dyn::<f64>(path, &ds, &object)?, ndim)))
    } else {
        Err(H5Error::Type {
            path: path.to_path_buf(),
            object,
            found: describe_type(&desc),
            expected: "a numeric array or a complex compound {real, imag}".into(),
        })
    }
}

/// Reverses the axes of an array read from HDF5 and pads or trims trailing
/// length-1 axes to `ndim`, in standard (C) layout.
fn to_matlab_order<T: Clone>(a: ArrayD<T>, ndim: usize) -> ArrayD<T> {
    let mut a = a.reversed_axes();
    while a.ndim() > ndim {
        let last = Axis(a.ndim() - 1);
        a = a.index_axis_move(last, 0);
    }
    while a.ndim() < ndim {
        let end = Axis(a.ndim());
        a = a.insert_axis(end);
    }
    a.as_standard_layout().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    #[test]
    fn axes_are_reversed_and_padded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.mat");
        // MATLAB (rows=2, cols=3, slices=1) with a dropped trailing singleton:
        // HDF5 stores [cols, rows] = [3, 2], value = 10·row + col.
        let h5 = Array::from_shape_fn((3, 2), |(c, r)| (10 * r + c) as f64);
        let f = ::hdf5::File::create(&path).unwrap();
        f.new_dataset_builder().with_data(&h5).create("a").unwrap();
        drop(f);
        let MatlabArray::Real(a) = read_matlab_array(&path, "a", &["rows", "cols", "slices", "t"]).unwrap() else { panic!("real") };
        assert_eq!(a.shape(), [2, 3, 1, 1]);
        assert_eq!(a[[1, 2, 0, 0]], 12.0);
        let err = read_matlab_array(&path, "b", &["rows"]).unwrap_err().to_string();
        assert!(err.contains("dataset /b") && err.contains("rows"), "{err}");
        let err = read_matlab_array(&path, "a", &["rows"]).unwrap_err().to_string();
        assert!(err.contains("[2, 3]") && err.contains("MATLAB size (rows)"), "{err}");
    }
}
