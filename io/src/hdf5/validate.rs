//! Consistency checks of an [`MreData`] against the mre-data v1 contract,
//! shared by the writer (before any file is touched) and the reader (after
//! the datasets are loaded).

use std::path::Path;

use ndarray::{ArrayBase, Data, Dimension};

use super::H5Error;
use crate::data::MreData;

/// Names of the spatial axes, always last.
const SPATIAL: [&str; 3] = ["nz", "ny", "nx"];

/// Leading axes of `/wave`.
pub(crate) const WAVE_AXES: &[&str] = &["nf", "ncomp"];
/// Leading axes of `/phase` and `/images`.
pub(crate) const PHASE_AXES: &[&str] = &["nf", "ncomp", "noffsets"];
/// Leading axes of `/kspace` and `/kspace_negative`.
pub(crate) const KSPACE_AXES: &[&str] = &["nf", "ncomp", "noffsets", "ncoils"];
/// Leading axes of spatial maps (`/magnitude`, `/mask`, ...).
pub(crate) const MAP_AXES: &[&str] = &[];

/// `"nf, ncomp, nz, ny, nx"` for leading axes `lead`.
fn axis_list(lead: &[&str]) -> String {
    lead.iter().chain(SPATIAL.iter()).copied().collect::<Vec<_>>().join(", ")
}

/// The error for a dataset with the wrong number of axes.
pub(crate) fn ndim_error(path: &Path, object: &str, shape: &[usize], lead: &[&str]) -> H5Error {
    H5Error::Shape {
        path: path.to_path_buf(),
        object: object.to_string(),
        shape: shape.to_vec(),
        expected: format!("{} axes [{}]", lead.len() + 3, axis_list(lead)),
    }
}

/// Tracks the axis lengths seen so far, so that every dataset is checked
/// against the first one that fixed an axis.
struct Axes<'a> {
    path: &'a Path,
    nf: usize,
    ncomp: usize,
    components: &'a str,
    noffsets: Option<(usize, &'static str)>,
    ncoils: Option<(usize, &'static str)>,
    spatial: Option<([usize; 3], &'static str)>,
}

impl Axes<'_> {
    fn shape_error(&self, name: &str, shape: &[usize], expected: String) -> H5Error {
        H5Error::Shape { path: self.path.to_path_buf(), object: format!("dataset {name}"), shape: shape.to_vec(), expected }
    }

    /// Checks the shape of dataset `name` (e.g. `/wave`), whose axes are
    /// `lead` followed by `[nz, ny, nx]`.
    fn check(&mut self, name: &'static str, shape: &[usize], lead: &[&str]) -> Result<(), H5Error> {
        if shape.len() != lead.len() + 3 {
            return Err(ndim_error(self.path, &format!("dataset {name}"), shape, lead));
        }
        let mismatch = |this: &Self, detail: String| {
            let expected = if lead.is_empty() { detail } else { format!("[{}] with {detail}", axis_list(lead)) };
            this.shape_error(name, shape, expected)
        };
        for (&axis, &n) in lead.iter().zip(shape) {
            match axis {
                "nf" if n != self.nf => {
                    return Err(mismatch(self, format!("nf = {} (the length of /acquisition frequencies_hz)", self.nf)))
                }
                "ncomp" if n != self.ncomp => {
                    return Err(mismatch(
                        self,
                        format!("ncomp = {} (the letters of /acquisition components {:?})", self.ncomp, self.components),
                    ))
                }
                "noffsets" | "ncoils" => {
                    let slot = if axis == "noffsets" { &mut self.noffsets } else { &mut self.ncoils };
                    match *slot {
                        Some((m, first)) if m != n => return Err(mismatch(self, format!("{axis} = {m} as in {first}"))),
                        None if n == 0 => {
                            return Err(mismatch(self, format!("{axis} at least 1")));
                        }
                        None => *slot = Some((n, name)),
                        Some(_) => {}
                    }
                }
                _ => {}
            }
        }
        let s = &shape[lead.len()..];
        let s = [s[0], s[1], s[2]];
        if s.contains(&0) {
            return Err(mismatch(self, "non-empty spatial axes [nz, ny, nx]".into()));
        }
        match self.spatial {
            Some((reference, first)) if reference != s => Err(mismatch(self, format!("[nz, ny, nx] = {reference:?} as in {first}"))),
            Some(_) => Ok(()),
            None => {
                self.spatial = Some((s, name));
                Ok(())
            }
        }
    }
}

/// Index and value of the first element (in logical C order) of `a` failing `ok`.
fn first_bad<S, D, F>(a: &ArrayBase<S, D>, ok: F) -> Option<(Vec<usize>, S::Elem)>
where
    S: Data,
    S::Elem: Copy,
    D: Dimension,
    F: Fn(S::Elem) -> bool,
{
    let (mut k, v) = a.iter().copied().enumerate().find(|&(_, v)| !ok(v))?;
    let mut index = vec![0; a.ndim()];
    for (i, &n) in index.iter_mut().zip(a.shape()).rev() {
        *i = k % n;
        k /= n;
    }
    Some((index, v))
}

/// Checks `data` against the contract; `path` names the file in messages.
pub(crate) fn validate(path: &Path, data: &MreData) -> Result<(), H5Error> {
    let acq = |attr: &str| format!("attribute {attr} of /acquisition");
    let invalid = |object: String, problem: String| H5Error::Invalid { path: path.to_path_buf(), object, problem };

    // --- /acquisition -----------------------------------------------------
    let nf = data.frequencies_hz.len();
    if nf == 0 {
        return Err(invalid(acq("frequencies_hz"), "is empty; at least one vibration frequency is required".into()));
    }
    if let Some(f) = data.frequencies_hz.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
        return Err(invalid(acq("frequencies_hz"), format!("contains {f}; frequencies must be positive and finite (Hz)")));
    }
    let ncomp = data.components.chars().count();
    let letters_ok = data.components.chars().all(|c| matches!(c, 'x' | 'y' | 'z'))
        && data.components.char_indices().all(|(i, c)| !data.components[..i].contains(c));
    if ncomp == 0 || !letters_ok {
        return Err(invalid(
            acq("components"),
            format!("is {:?}; expected distinct letters from \"xyz\", e.g. \"z\" or \"xyz\"", data.components),
        ));
    }
    if !data.voxel_size_m.iter().all(|v| v.is_finite() && *v > 0.0) {
        return Err(invalid(
            acq("voxel_size_m"),
            format!("is {:?}; expected three positive, finite sizes (dz, dy, dx) in metres", data.voxel_size_m),
        ));
    }
    if !(data.density_kg_m3.is_finite() && data.density_kg_m3 > 0.0) {
        return Err(invalid(acq("density_kg_m3"), format!("is {}; expected a positive, finite density in kg/m³", data.density_kg_m3)));
    }
    for (attr, v) in
        [("encoding_efficiency_rad_per_m", &data.encoding_efficiency_rad_per_m), ("encoding_phase_rad", &data.encoding_phase_rad)]
    {
        if !v.is_empty() && v.len() != nf {
            return Err(H5Error::Shape {
                path: path.to_path_buf(),
                object: acq(attr),
                shape: vec![v.len()],
                expected: format!("[nf] with nf = {nf} (the length of frequencies_hz)"),
            });
        }
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(invalid(acq(attr), format!("contains {x}; expected finite values")));
        }
    }
    if (data.phase.is_some() || data.images.is_some()) && data.encoding_efficiency_rad_per_m.is_empty() {
        return Err(H5Error::Missing {
            path: path.to_path_buf(),
            object: acq("encoding_efficiency_rad_per_m"),
            expected: "it is required with /phase or /images (one value per frequency, rad/m)".into(),
        });
    }

    // --- data ---------------------------------------------------------------
    if data.wave.is_none() && data.phase.is_none() && data.images.is_none() && data.kspace.is_none() {
        return Err(H5Error::Missing {
            path: path.to_path_buf(),
            object: "primary data (/wave, /phase, /images or /kspace)".into(),
            expected: "at least one of them is required".into(),
        });
    }
    if data.kspace_negative.is_some() && data.kspace.is_none() {
        return Err(invalid("dataset /kspace_negative".into(), "is present without /kspace".into()));
    }

    let mut axes = Axes { path, nf, ncomp, components: &data.components, noffsets: None, ncoils: None, spatial: None };
    if let Some(a) = &data.wave {
        axes.check("/wave", a.shape(), WAVE_AXES)?;
    }
    if let Some(a) = &data.phase {
        axes.check("/phase", a.shape(), PHASE_AXES)?;
    }
    if let Some(a) = &data.images {
        axes.check("/images", a.shape(), PHASE_AXES)?;
    }
    if let Some(a) = &data.kspace {
        axes.check("/kspace", a.shape(), KSPACE_AXES)?;
    }
    if let Some(a) = &data.kspace_negative {
        axes.check("/kspace_negative", a.shape(), KSPACE_AXES)?;
    }
    if let Some(a) = &data.magnitude {
        axes.check("/magnitude", a.shape(), MAP_AXES)?;
    }
    if let Some(a) = &data.mask {
        axes.check("/mask", a.shape(), MAP_AXES)?;
    }
    if let Some(a) = &data.labels {
        axes.check("/labels", a.shape(), MAP_AXES)?;
    }
    if let Some(gt) = &data.ground_truth {
        axes.check("/ground_truth/storage_modulus_pa", gt.storage_modulus_pa.shape(), MAP_AXES)?;
        axes.check("/ground_truth/loss_modulus_pa", gt.loss_modulus_pa.shape(), MAP_AXES)?;
    }

    // --- values -------------------------------------------------------------
    if let Some(a) = &data.wave {
        if let Some((index, v)) = first_bad(a, |c| c.re.is_finite() && c.im.is_finite()) {
            return Err(invalid(
                "dataset /wave".into(),
                format!(
                    "contains a non-finite value ({v}) at index {index:?}; \
                     NaN and inf are not allowed in the displacement field"
                ),
            ));
        }
    }
    if let Some(a) = &data.mask {
        if let Some((index, v)) = first_bad(a, |m| m <= 1) {
            return Err(invalid("dataset /mask".into(), format!("contains {v} at index {index:?}; expected 0 or 1")));
        }
    }
    if let Some(a) = &data.phase {
        if let Some((index, v)) = first_bad(a, f64::is_finite) {
            return Err(invalid(
                "dataset /phase".into(),
                format!("contains a non-finite value ({v}) at index {index:?}; NaN and inf are not allowed"),
            ));
        }
    }
    for (name, a) in [
        ("/images", data.images.as_ref().map(|a| a.view().into_dyn())),
        ("/kspace", data.kspace.as_ref().map(|a| a.view())),
        ("/kspace_negative", data.kspace_negative.as_ref().map(|a| a.view())),
    ] {
        if let Some(a) = a {
            if let Some((index, v)) = first_bad(&a, |c| c.re.is_finite() && c.im.is_finite()) {
                return Err(invalid(
                    format!("dataset {name}"),
                    format!("contains a non-finite value ({v}) at index {index:?}; NaN and inf are not allowed"),
                ));
            }
        }
    }
    if let Some(s) = &data.noise_std {
        if s.len() != 1 && s.len() != nf {
            return Err(H5Error::Shape {
                path: path.to_path_buf(),
                object: "dataset /noise_std".into(),
                shape: vec![s.len()],
                expected: format!("a scalar or [nf] with nf = {nf}"),
            });
        }
        if let Some(x) = s.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
            return Err(invalid("dataset /noise_std".into(), format!("contains {x}; expected non-negative, finite values")));
        }
    }
    Ok(())
}
