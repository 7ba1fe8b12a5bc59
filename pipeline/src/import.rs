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
use mre_io::nifti::{read_nifti, NiftiVolume};
use ndarray::{Array3, ArrayD, Ix3, Ix5, Ix6};

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

/// A NIfTI phase volume (x, y, z, offsets[, components[, frequencies]]) (real, or complex
/// images), scaled by the header's `scl_slope`/`scl_inter`, in the MATLAB axis order of the
/// phase layout: (rows = y, cols = x, slices = z, offsets, components, frequencies).
fn read_nifti_phase(path: &Path) -> Result<MatlabArray> {
    let volume = read_nifti(path).map_err(invalid)?;
    let ndim = volume.shape().len();
    if !(3..=6).contains(&ndim) {
        return Err(PipelineError::invalid(format!(
            "{}: NIfTI header field dim[0] = {ndim} (dim {:?}): expected 3 to 6 axes x, y, z, offsets[, components[, frequencies]]",
            path.display(),
            volume.shape()
        )));
    }
    fn to_matlab<T>(mut a: ArrayD<T>) -> ArrayD<T> {
        while a.ndim() < 6 {
            let n = a.ndim();
            a.insert_axis_inplace(ndarray::Axis(n));
        }
        a.swap_axes(0, 1);
        a
    }
    Ok(match volume {
        NiftiVolume::Real(a) => MatlabArray::Real(to_matlab(a)),
        NiftiVolume::Complex(a) => MatlabArray::Complex(to_matlab(a)),
    })
}

/// Checks the command-line description of the data (`--frequencies-hz`, `--voxel-size-mm`,
/// `--components`, `--density-kg-m3`, `--encoding-efficiency-rad-per-m`) before the input is
/// read, naming the option that is wrong.
fn check_options(args: &ImportOptions) -> Result<[f64; 3]> {
    let list = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
    let voxel: [f64; 3] =
        args.voxel_size_mm.as_slice().try_into().ok().filter(|v: &[f64; 3]| v.iter().all(|x| x.is_finite() && *x > 0.0)).ok_or_else(
            || {
                PipelineError::invalid(format!(
                    "--voxel-size-mm {}: expected three positive, finite sizes dz,dy,dx in mm",
                    list(&args.voxel_size_mm)
                ))
            },
        )?;
    let nf = args.frequencies_hz.len();
    if nf == 0 || args.frequencies_hz.iter().any(|f| !(f.is_finite() && *f > 0.0)) {
        return Err(PipelineError::invalid(format!(
            "--frequencies-hz {}: expected one or more positive, finite vibration frequencies in Hz",
            list(&args.frequencies_hz)
        )));
    }
    let c = &args.components;
    if c.is_empty() || !c.chars().all(|l| matches!(l, 'x' | 'y' | 'z')) || c.char_indices().any(|(i, l)| c[..i].contains(l)) {
        return Err(PipelineError::invalid(format!("--components {c:?}: expected distinct letters from \"xyz\", e.g. \"z\" or \"xyz\"")));
    }
    if !(args.density_kg_m3.is_finite() && args.density_kg_m3 > 0.0) {
        return Err(PipelineError::invalid(format!(
            "--density-kg-m3 {}: expected a positive, finite density in kg/m³",
            args.density_kg_m3
        )));
    }
    let xi = &args.encoding_efficiency_rad_per_m;
    if args.layout == Layout::Phase && xi.is_empty() {
        return Err(PipelineError::invalid(format!(
            "--encoding-efficiency-rad-per-m is required with --layout phase (one value per frequency, rad/m; {nf} frequencies)"
        )));
    }
    if xi.iter().any(|x| !x.is_finite() || *x == 0.0) {
        return Err(PipelineError::invalid(format!(
            "--encoding-efficiency-rad-per-m {}: expected non-zero, finite values in rad/m",
            list(xi)
        )));
    }
    Ok(voxel)
}

/// `--encoding-efficiency-rad-per-m` has one value per frequency (checked once the frequency
/// count of the data agrees with `--frequencies-hz`).
fn check_xi_count(args: &ImportOptions) -> Result<()> {
    let (xi, nf) = (&args.encoding_efficiency_rad_per_m, args.frequencies_hz.len());
    if !xi.is_empty() && xi.len() != nf {
        let list = xi.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
        return Err(PipelineError::invalid(format!(
            "--encoding-efficiency-rad-per-m {list}: expected {nf} values, one per frequency of --frequencies-hz (rad/m)"
        )));
    }
    Ok(())
}

/// The first non-finite value of `a` and its index, if any.
fn first_non_finite<T: Copy, F: Fn(T) -> bool>(a: &ArrayD<T>, finite: F) -> Option<(Vec<usize>, T)> {
    a.indexed_iter().find(|(_, &v)| !finite(v)).map(|(i, &v)| (ndarray::Dimension::slice(&i).to_vec(), v))
}

fn invalid(e: impl std::error::Error + 'static) -> PipelineError {
    PipelineError::from_error(ErrorKind::InvalidInput, &e)
}

/// The mre-data set of `args` (a MATLAB or NIfTI array with its description).
///
/// # Errors
/// Invalid input (exit code 2) naming the option that is wrong (`--frequencies-hz`, ...) or the
/// input file and its dataset or NIfTI header field: a malformed option, an unreadable, hostile
/// or inconsistent input (shape, type, non-finite values, a mask of another size).
pub fn import(args: &ImportOptions) -> Result<MreData> {
    let input = &args.input;
    let voxel = check_options(args)?;
    let nifti = is_nifti(input);
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
                ("imported_dataset".into(), if nifti { "NIfTI volume".into() } else { args.dataset.clone().unwrap_or_default() }),
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
    // What the array is called in messages: `dataset /NAME` or `the NIfTI volume`.
    let (array, what) = if nifti {
        if args.layout != Layout::Phase {
            return Err(PipelineError::invalid(format!(
                "--layout wave: {} is a NIfTI file, which holds phase images; use --layout phase",
                input.display()
            )));
        }
        if let Some(m) = &args.mask_dataset {
            return Err(PipelineError::invalid(format!(
                "--mask-dataset {m}: {} is a NIfTI file; a mask dataset can only be read from a MATLAB input",
                input.display()
            )));
        }
        (read_nifti_phase(input)?, "the NIfTI volume".to_string())
    } else {
        let name = args
            .dataset
            .as_deref()
            .ok_or_else(|| PipelineError::invalid(format!("--dataset NAME is required for MATLAB files ({})", input.display())))?;
        (read_matlab_array(input, name, names).map_err(invalid)?, format!("dataset /{}", name.trim_start_matches('/')))
    };
    let shape = array.shape().to_vec();
    let (nf, nc) = (shape[names.len() - 1], shape[names.len() - 2]);
    if nf != data.frequencies_hz.len() {
        return Err(PipelineError::invalid(format!(
            "{}: {what} has {nf} frequencies (MATLAB size {shape:?}, last axis) but --frequencies-hz gives {}",
            input.display(),
            data.frequencies_hz.len()
        )));
    }
    check_xi_count(args)?;
    if nc != data.components.chars().count() {
        return Err(PipelineError::invalid(format!(
            "{}: {what} has {nc} components (MATLAB size {shape:?}) but --components is {:?}",
            input.display(),
            data.components
        )));
    }
    let axes = names.join(", ");
    let non_finite = |index: Vec<usize>, v: String| {
        PipelineError::invalid(format!(
            "{}: {what} contains {v} at index {index:?} (MATLAB order: {axes}); expected finite values",
            input.display()
        ))
    };
    match (args.layout, array) {
        (Layout::Wave, MatlabArray::Complex(a)) => {
            if let Some((i, v)) = first_non_finite(&a, |c| c.is_finite()) {
                return Err(non_finite(i, v.to_string()));
            }
            data.wave =
                Some(a.permuted_axes(order.to_vec()).as_standard_layout().into_owned().into_dimensionality::<Ix5>().map_err(invalid)?)
        }
        (Layout::Wave, MatlabArray::Real(_)) => {
            return Err(PipelineError::invalid(format!("{}: {what} is real; --layout wave needs a complex array", input.display())))
        }
        (Layout::Phase, MatlabArray::Real(a)) => {
            if let Some((i, v)) = first_non_finite(&a, f64::is_finite) {
                return Err(non_finite(i, v.to_string()));
            }
            data.phase =
                Some(a.permuted_axes(order.to_vec()).as_standard_layout().into_owned().into_dimensionality::<Ix6>().map_err(invalid)?)
        }
        (Layout::Phase, MatlabArray::Complex(a)) => {
            if let Some((i, v)) = first_non_finite(&a, |c| c.is_finite()) {
                return Err(non_finite(i, v.to_string()));
            }
            data.images =
                Some(a.permuted_axes(order.to_vec()).as_standard_layout().into_owned().into_dimensionality::<Ix6>().map_err(invalid)?)
        }
    }
    if let Some(m) = &args.mask_dataset {
        let name = m.trim_start_matches('/');
        let MatlabArray::Real(a) = read_matlab_array(input, name, &["rows", "cols", "slices"]).map_err(invalid)? else {
            return Err(PipelineError::invalid(format!(
                "{}: mask dataset /{name} is complex; expected a real or logical array",
                input.display()
            )));
        };
        if a.shape() != &shape[..3] {
            return Err(PipelineError::invalid(format!(
                "{}: mask dataset /{name} has MATLAB size {:?}; expected (rows, cols, slices) = {:?} as in {what}",
                input.display(),
                a.shape(),
                &shape[..3]
            )));
        }
        if let Some((i, v)) = first_non_finite(&a, |v: f64| !v.is_nan()) {
            return Err(PipelineError::invalid(format!(
                "{}: mask dataset /{name} contains {v} at index {i:?} (MATLAB order: rows, cols, slices); expected 0 or 1",
                input.display()
            )));
        }
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
    // The input is valid: create the output's directory (as a run and `invert` do) and check
    // that it takes files.
    crate::outputs::prepare(&[crate::outputs::Output::new(output, "mre-data")], force)?;
    write_mre_data(output, &data, force).map_err(|e| match e {
        H5Error::Exists { .. } => PipelineError::from_error(ErrorKind::OutputExists, &e),
        // Everything else reported before writing is a problem of the input or options.
        e @ (H5Error::Shape { .. } | H5Error::Invalid { .. } | H5Error::Missing { .. }) => invalid(e),
        e => PipelineError::from_error(ErrorKind::Failure, &e),
    })
}
