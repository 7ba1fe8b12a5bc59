//! `mre-sim import IN.mat --dataset NAME --layout wave|phase ...` as a library call: converts a
//! MATLAB v7.3 (HDF5) array in the MDEV layout into an mre-data v1 file.
//!
//! MATLAB layout (as MATLAB's `size` reports it):
//! * `--layout phase`: `(rows, cols, slices, time steps, components, frequencies)`,
//!   real wrapped phase (→ `/phase`) or complex MR images (→ `/images`);
//! * `--layout wave`: `(rows, cols, slices, components, frequencies)`,
//!   complex first-harmonic displacement in metres (→ `/wave`).
//!
//! MATLAB writes column-major, so in HDF5 (h5py, `h5dump`) the dims appear
//! reversed, e.g. `[f, c, t, slices, cols, rows]`; trailing singleton dims
//! may be missing. Both are undone by `mre_io::hdf5::read_matlab_array`.
//! Spatial axes become `[nz, ny, nx]` with nz = slices, ny = rows, nx = cols.
//! The optional mask is `(rows, cols, slices)` in MATLAB.

use std::path::{Path, PathBuf};

use mre_io::data::{MreData, Provenance};
use mre_io::hdf5::{read_matlab_array, write_mre_data, H5Error, MatlabArray};
use ndarray::{Array3, Ix3, Ix5, Ix6};

use crate::error::{ErrorKind, PipelineError, Result};

mre_inverse::choice_enum! {
    /// What the imported array holds.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Layout {
        /// Complex displacement (rows, cols, slices, components, frequencies), m.
        Wave => ("wave", "complex displacement (rows, cols, slices, components, frequencies), m"),
        /// Wrapped phase (real, rad) or complex images (rows, cols, slices, time steps,
        /// components, frequencies).
        Phase => ("phase", "wrapped phase (real, rad) or complex images (rows, cols, slices, time steps, components, frequencies)"),
    }
}

/// What to import and how to describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// Input: a MATLAB v7.3 file (HDF5), or a NIfTI phase image (`.nii`, `.nii.gz`) with axes
    /// (x = columns, y = rows, z = slices, offsets[, components[, frequencies]]).
    pub input: PathBuf,
    /// Name of the array (HDF5 dataset) in a MATLAB input (not used for NIfTI).
    pub dataset: Option<String>,
    /// What the array holds and its axis order.
    pub layout: Layout,
    /// Vibration frequencies, Hz (one per frequency of the array).
    pub frequencies_hz: Vec<f64>,
    /// Voxel size (dz, dy, dx), mm: slice thickness, row spacing, column spacing.
    pub voxel_size_mm: Vec<f64>,
    /// Encoding efficiency ξ per frequency, rad/m (needed with [`Layout::Phase`]).
    pub encoding_efficiency_rad_per_m: Vec<f64>,
    /// Encoded motion components, one letter per component of the array.
    pub components: String,
    /// Tissue density, kg/m³.
    pub density_kg_m3: f64,
    /// Name of a mask array (rows, cols, slices) in the input; non-zero = tissue.
    pub mask_dataset: Option<String>,
}

/// Whether `p` names a NIfTI file (`.nii` or `.nii.gz`).
fn is_nifti(p: &Path) -> bool {
    let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// A NIfTI phase volume (x, y, z, offsets[, components[, frequencies]]), scaled by the
/// header's `scl_slope`/`scl_inter`, as a real array in the MATLAB axis order of the
/// phase layout: (rows = y, cols = x, slices = z, offsets, components, frequencies).
fn read_nifti_phase(path: &Path) -> Result<MatlabArray> {
    use nifti::{IntoNdArray, NiftiObject, ReaderOptions};
    let fail = |e: &dyn std::fmt::Display| PipelineError::invalid(format!("{}: cannot read the NIfTI volume: {e}", path.display()));
    let obj = ReaderOptions::new().read_file(path).map_err(|e| fail(&e))?;
    let mut a = obj.into_volume().into_ndarray::<f64>().map_err(|e| fail(&e))?;
    if a.ndim() < 3 || a.ndim() > 6 {
        return Err(PipelineError::invalid(format!(
            "{}: the NIfTI volume has {} dimensions {:?}; expected x, y, z, offsets[, components[, frequencies]]",
            path.display(),
            a.ndim(),
            a.shape()
        )));
    }
    while a.ndim() < 6 {
        let n = a.ndim();
        a.insert_axis_inplace(ndarray::Axis(n));
    }
    a.swap_axes(0, 1);
    Ok(MatlabArray::Real(a))
}

fn invalid(e: impl std::error::Error + 'static) -> PipelineError {
    PipelineError::from_error(ErrorKind::InvalidInput, &e)
}

/// The mre-data set of `args` (a MATLAB or NIfTI array with its description).
pub fn import(args: &ImportOptions) -> Result<MreData> {
    let input = &args.input;
    let voxel: [f64; 3] =
        args.voxel_size_mm.as_slice().try_into().map_err(|_| {
            PipelineError::invalid(format!("--voxel-size-mm needs three values dz,dy,dx (got {})", args.voxel_size_mm.len()))
        })?;
    let mut data = MreData {
        frequencies_hz: args.frequencies_hz.clone(),
        voxel_size_m: voxel.map(|v| v * 1e-3),
        density_kg_m3: args.density_kg_m3,
        components: args.components.clone(),
        encoding_efficiency_rad_per_m: args.encoding_efficiency_rad_per_m.clone(),
        provenance: Provenance {
            tool: "mre-sim".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            created: crate::simulate::rfc3339_now(),
            threads: 1,
            ranks: 1,
            extra: vec![
                ("imported_from".into(), input.display().to_string()),
                ("imported_dataset".into(), args.dataset.clone().unwrap_or_else(|| "NIfTI volume".into())),
                ("imported_layout".into(), format!("{:?}", args.layout).to_lowercase()),
            ],
            ..Provenance::default()
        },
        ..MreData::default()
    };
    data.encoding_phase_rad = vec![0.0; data.frequencies_hz.len()];

    let (names, order): (&[&str], &[usize]) = match args.layout {
        // MATLAB (rows, cols, slices, c, f) → [f, c, slices, rows, cols]
        Layout::Wave => (&["rows", "cols", "slices", "components", "frequencies"], &[4, 3, 2, 0, 1]),
        // MATLAB (rows, cols, slices, t, c, f) → [f, c, t, slices, rows, cols]
        Layout::Phase => (&["rows", "cols", "slices", "time steps", "components", "frequencies"], &[5, 4, 3, 2, 0, 1]),
    };
    let array = if is_nifti(input) {
        if args.layout != Layout::Phase {
            return Err(PipelineError::invalid(format!("{}: NIfTI input holds phase images: use --layout phase", input.display())));
        }
        read_nifti_phase(input)?
    } else {
        let name = args
            .dataset
            .as_deref()
            .ok_or_else(|| PipelineError::invalid(format!("{}: --dataset NAME is required for MATLAB files", input.display())))?;
        read_matlab_array(input, name, names).map_err(invalid)?
    };
    let shape = array.shape().to_vec();
    let (nf, nc) = (shape[names.len() - 1], shape[names.len() - 2]);
    if nf != data.frequencies_hz.len() {
        return Err(PipelineError::invalid(format!(
            "{}: dataset /{} has {nf} frequencies (MATLAB size {shape:?}, last axis) but --frequencies-hz gives {}",
            input.display(),
            args.dataset.as_deref().unwrap_or("(NIfTI volume)").trim_start_matches('/'),
            data.frequencies_hz.len()
        )));
    }
    if nc != data.components.chars().count() {
        return Err(PipelineError::invalid(format!(
            "{}: dataset /{} has {nc} components (MATLAB size {shape:?}) but --components is {:?}",
            input.display(),
            args.dataset.as_deref().unwrap_or("(NIfTI volume)").trim_start_matches('/'),
            data.components
        )));
    }
    let not_wave = || {
        PipelineError::invalid(format!(
            "{}: dataset /{} is real; --layout wave needs a complex array",
            input.display(),
            args.dataset.as_deref().unwrap_or("")
        ))
    };
    match (args.layout, array) {
        (Layout::Wave, MatlabArray::Complex(a)) => {
            data.wave =
                Some(a.permuted_axes(order.to_vec()).as_standard_layout().into_owned().into_dimensionality::<Ix5>().map_err(invalid)?)
        }
        (Layout::Wave, MatlabArray::Real(_)) => return Err(not_wave()),
        (Layout::Phase, MatlabArray::Real(a)) => {
            data.phase =
                Some(a.permuted_axes(order.to_vec()).as_standard_layout().into_owned().into_dimensionality::<Ix6>().map_err(invalid)?)
        }
        (Layout::Phase, MatlabArray::Complex(a)) => {
            data.images =
                Some(a.permuted_axes(order.to_vec()).as_standard_layout().into_owned().into_dimensionality::<Ix6>().map_err(invalid)?)
        }
    }
    if let Some(m) = &args.mask_dataset {
        let name = m.as_str();
        let MatlabArray::Real(a) = read_matlab_array(input, name, &["rows", "cols", "slices"]).map_err(invalid)? else {
            return Err(PipelineError::invalid(format!(
                "{}: mask dataset /{name} is complex; expected a real or logical array",
                input.display()
            )));
        };
        let a: Array3<f64> =
            a.permuted_axes(vec![2, 0, 1]).as_standard_layout().into_owned().into_dimensionality::<Ix3>().map_err(invalid)?;
        data.mask = Some(a.mapv(|v| u8::from(v != 0.0)));
    }
    Ok(data)
}

/// `mre-sim import`: the mre-data set of `args` written to `output` (an existing file only
/// with `force`).
pub fn import_file(args: &ImportOptions, output: &Path, force: bool) -> Result<()> {
    crate::invert::check_output(output, force)?;
    let data = import(args)?;
    write_mre_data(output, &data, force).map_err(|e| match e {
        H5Error::Exists { .. } => PipelineError::from_error(ErrorKind::OutputExists, &e),
        // Everything else reported before writing is a problem of the input or options.
        e @ (H5Error::Shape { .. } | H5Error::Invalid { .. } | H5Error::Missing { .. }) => invalid(e),
        e => PipelineError::from_error(ErrorKind::Failure, &e),
    })
}
