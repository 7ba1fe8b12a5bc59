//! Complex datasets: HDF5 compounds with members `r`/`i` (h5py, and what
//! `num_complex::Complex64` maps to) or `real`/`imag` (MATLAB v7.3).
//!
//! HDF5 converts compound members by *name*: reading a `real`/`imag`
//! compound as `Complex64` (members `r`/`i`) matches no member and silently
//! returns zeros. The member names are therefore detected from the stored
//! datatype and the data read into a struct with the same names; the member
//! precision (float32 or float64) is converted by HDF5.

use std::path::Path;

use ::hdf5::types::TypeDescriptor;
use ::hdf5::{Dataset, H5Type};
use ndarray::ArrayD;
use num_complex::Complex64;

use super::checked;
use super::H5Error;

/// MATLAB-style complex value (compound members `real`, `imag`).
#[derive(H5Type, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct RealImag {
    real: f64,
    imag: f64,
}

/// Member naming of a stored complex compound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ComplexNames {
    /// Members `r`, `i` (h5py, hdf5-metno `Complex64`).
    RI,
    /// Members `real`, `imag` (MATLAB v7.3).
    RealImag,
}

/// The complex member naming of `desc`, if it is a compound of exactly two
/// floating-point members named `r`/`i` or `real`/`imag`.
pub(crate) fn complex_names(desc: &TypeDescriptor) -> Option<ComplexNames> {
    let TypeDescriptor::Compound(ct) = desc else {
        return None;
    };
    if ct.fields.len() != 2 || !ct.fields.iter().all(|f| matches!(f.ty, TypeDescriptor::Float(_))) {
        return None;
    }
    let mut names: Vec<&str> = ct.fields.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    match names.as_slice() {
        ["i", "r"] => Some(ComplexNames::RI),
        ["imag", "real"] => Some(ComplexNames::RealImag),
        _ => None,
    }
}

/// Describes a stored type for error messages; compounds list their members.
pub(crate) fn describe_type(desc: &TypeDescriptor) -> String {
    match desc {
        TypeDescriptor::Compound(ct) => {
            let members: Vec<String> = ct.fields.iter().map(|f| format!("{}: {}", f.name, f.ty)).collect();
            format!("compound {{{}}}", members.join(", "))
        }
        other => other.to_string(),
    }
}

/// The accepted complex types, for error messages.
pub(crate) const COMPLEX_EXPECTED: &str = "a complex compound {r, i} or {real, imag} with float64 or float32 members";

/// Reads a complex dataset whose type descriptor is `desc` (already
/// fetched by the caller) into an array of `Complex64`, in storage shape.
pub(crate) fn read_complex(path: &Path, object: &str, ds: &Dataset, desc: &TypeDescriptor) -> Result<ArrayD<Complex64>, H5Error> {
    let names = complex_names(desc).ok_or_else(|| H5Error::Type {
        path: path.to_path_buf(),
        object: object.to_string(),
        found: describe_type(desc),
        expected: COMPLEX_EXPECTED.into(),
    })?;
    match names {
        ComplexNames::RI => checked::read_dyn::<Complex64>(path, ds, object),
        ComplexNames::RealImag => {
            // The conversion below holds both arrays for a moment.
            checked::check(path, ds, object, 2 * std::mem::size_of::<Complex64>())?;
            Ok(checked::read_dyn::<RealImag>(path, ds, object)?.mapv_into_any(|c| Complex64::new(c.real, c.imag)))
        }
    }
}
