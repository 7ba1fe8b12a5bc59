//! Inversion results: the mre-result v1 layout (end of
//! `docs/mre-data-format.md`).
//!
//! * [`write_mre_result`] writes an [`MreResult`] atomically (temporary
//!   file, then rename) and never overwrites without `force`, exactly as
//!   [`write_mre_data`](super::write_mre_data).
//! * [`read_mre_result`] reads it back.
//!
//! `/regions` is an HDF5 compound table whose members are named as in the
//! contract (`label`, `storage_mean_pa`, …, `rhat`, `ess`), so h5py reads it
//! as a structured array: `f["regions"]["storage_mean_pa"]`.

use std::path::Path;

use ::hdf5::{File, Group, H5Type};
use ndarray::{Array1, Array3, Array5, Ix3, Ix5};
use num_complex::Complex64;

use super::attrs::Loc;
use super::checked;
use super::read::{descriptor, open, optional, read_complex_array, read_real_array};
use super::validate::{MAP_AXES, WAVE_AXES};
use super::write::{create_group, exists, write_array, write_new_file};
use super::{h5err, rfc3339_utc_now, H5Error, FORMAT_VERSION};

/// Value of the root attribute `format` of an inversion result.
pub const RESULT_FORMAT_NAME: &str = "mre-result";

/// Summary of one labelled region (one row of `/regions`). Statistics that a
/// method does not provide (e.g. `rhat`, `ess` of classic inversions) are NaN.
#[derive(H5Type, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct RegionSummary {
    /// Region label (as in `/labels` of the data; 1 = the whole mask when the data have no labels).
    pub label: u16,
    /// Mean G' over the region, Pa.
    pub storage_mean_pa: f64,
    /// Standard deviation of G' (posterior, or spatial for classic methods), Pa.
    pub storage_std_pa: f64,
    /// 5 % quantile of G', Pa.
    pub storage_q05_pa: f64,
    /// 95 % quantile of G', Pa.
    pub storage_q95_pa: f64,
    /// Mean G'' over the region, Pa.
    pub loss_mean_pa: f64,
    /// Standard deviation of G'', Pa.
    pub loss_std_pa: f64,
    /// 5 % quantile of G'', Pa.
    pub loss_q05_pa: f64,
    /// 95 % quantile of G'', Pa.
    pub loss_q95_pa: f64,
    /// Split-R̂ convergence diagnostic (NaN when not sampled).
    pub rhat: f64,
    /// Effective sample size (NaN when not sampled).
    pub ess: f64,
}

/// `/provenance` of a result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultProvenance {
    /// Tool name (`mre-sim`).
    pub tool: String,
    /// Tool version.
    pub version: String,
    /// Inversion method, e.g. `ahi`, `mdev`.
    pub method: String,
    /// Iterations (0 for direct methods).
    pub iterations: u64,
    /// Wall time of the inversion, s.
    pub wall_time_s: f64,
    /// The mre-data file that was inverted.
    pub source_data: String,
    /// Creation time, RFC 3339 UTC (filled in when empty on writing).
    pub created: String,
    /// Further key/value attributes (filter, data level used, …).
    pub extra: Vec<(String, String)>,
}

/// Standard attribute names of a result's `/provenance`.
const RESULT_PROVENANCE_KEYS: [&str; 7] = ["tool", "version", "method", "iterations", "wall_time_s", "source_data", "created"];

/// An mre-result v1 file in memory. Every map is `[nz, ny, nx]`, NaN outside
/// the mask.
#[derive(Debug, Clone, Default)]
pub struct MreResult {
    /// `/storage_modulus_pa`: G' (posterior mean for Bayesian methods), Pa.
    pub storage_modulus_pa: Array3<f64>,
    /// `/loss_modulus_pa`: G'', Pa.
    pub loss_modulus_pa: Array3<f64>,
    /// `/abs_modulus_pa`: |G*|, Pa (mre-sim extension).
    pub abs_modulus_pa: Option<Array3<f64>>,
    /// `/phase_angle_rad`: arg G* = atan2(G'', G'), rad (mre-sim extension).
    pub phase_angle_rad: Option<Array3<f64>>,
    /// `/storage_modulus_std_pa`.
    pub storage_modulus_std_pa: Option<Array3<f64>>,
    /// `/loss_modulus_std_pa`.
    pub loss_modulus_std_pa: Option<Array3<f64>>,
    /// `/storage_modulus_q05_pa`.
    pub storage_modulus_q05_pa: Option<Array3<f64>>,
    /// `/storage_modulus_q95_pa`.
    pub storage_modulus_q95_pa: Option<Array3<f64>>,
    /// `/regions`, one row per label.
    pub regions: Vec<RegionSummary>,
    /// `/samples` `[nchains, ndraws, nparams]`.
    pub samples: Option<Array3<f64>>,
    /// `/residual_z` `[nf, ncomp, nz, ny, nx]`: the standardised residual of the model check,
    /// `(d − u(θ̂)) / σ̂` (complex, NaN outside the checked voxels; Bayesian results).
    pub residual_z: Option<Array5<Complex64>>,
    /// `/provenance`.
    pub provenance: ResultProvenance,
}

impl MreResult {
    /// Every `[nz, ny, nx]` map present: G', G'', then |G*|, the phase angle, the std of G'
    /// and G'' and the 5 and 95 % quantiles of G'.
    pub fn maps_mut(&mut self) -> impl Iterator<Item = &mut Array3<f64>> {
        [Some(&mut self.storage_modulus_pa), Some(&mut self.loss_modulus_pa)]
            .into_iter()
            .chain([
                self.abs_modulus_pa.as_mut(),
                self.phase_angle_rad.as_mut(),
                self.storage_modulus_std_pa.as_mut(),
                self.loss_modulus_std_pa.as_mut(),
                self.storage_modulus_q05_pa.as_mut(),
                self.storage_modulus_q95_pa.as_mut(),
            ])
            .flatten()
    }

    /// The optional `[nz, ny, nx]` maps with their dataset names.
    fn optional_maps(&self) -> [(&'static str, Option<&Array3<f64>>); 6] {
        [
            ("abs_modulus_pa", self.abs_modulus_pa.as_ref()),
            ("phase_angle_rad", self.phase_angle_rad.as_ref()),
            ("storage_modulus_std_pa", self.storage_modulus_std_pa.as_ref()),
            ("loss_modulus_std_pa", self.loss_modulus_std_pa.as_ref()),
            ("storage_modulus_q05_pa", self.storage_modulus_q05_pa.as_ref()),
            ("storage_modulus_q95_pa", self.storage_modulus_q95_pa.as_ref()),
        ]
    }
}

/// Checks that every map has the shape of `/storage_modulus_pa` and that the
/// extra provenance keys are usable.
fn validate_result(path: &Path, r: &MreResult) -> Result<(), H5Error> {
    let reference = r.storage_modulus_pa.shape();
    if reference.contains(&0) {
        return Err(H5Error::Shape {
            path: path.to_path_buf(),
            object: "dataset /storage_modulus_pa".into(),
            shape: reference.to_vec(),
            expected: "non-empty axes [nz, ny, nx]".into(),
        });
    }
    let mut maps = vec![("loss_modulus_pa", Some(&r.loss_modulus_pa))];
    maps.extend(r.optional_maps());
    for (name, m) in maps {
        if let Some(m) = m {
            if m.shape() != reference {
                return Err(H5Error::Shape {
                    path: path.to_path_buf(),
                    object: format!("dataset /{name}"),
                    shape: m.shape().to_vec(),
                    expected: format!("[nz, ny, nx] = {reference:?} as /storage_modulus_pa"),
                });
            }
        }
    }
    if let Some(z) = &r.residual_z {
        if &z.shape()[2..] != reference {
            return Err(H5Error::Shape {
                path: path.to_path_buf(),
                object: "dataset /residual_z".into(),
                shape: z.shape().to_vec(),
                expected: format!("[nf, ncomp, nz, ny, nx] with [nz, ny, nx] = {reference:?} as /storage_modulus_pa"),
            });
        }
    }
    for (i, (key, _)) in r.provenance.extra.iter().enumerate() {
        if key.is_empty() || RESULT_PROVENANCE_KEYS.contains(&key.as_str()) || r.provenance.extra[..i].iter().any(|(k, _)| k == key) {
            return Err(H5Error::Invalid {
                path: path.to_path_buf(),
                object: "group /provenance".into(),
                problem: format!("extra key {key:?} is empty, repeated or clashes with a standard attribute"),
            });
        }
    }
    Ok(())
}

/// Writes `result` to `path` as an mre-result v1 file.
///
/// Written under a temporary name in the same directory and renamed into
/// place; `path` never holds a partial file.
///
/// # Errors
///
/// [`H5Error::Exists`] if `path` exists and `force` is false; a shape error
/// if a map differs in shape from `/storage_modulus_pa`; HDF5 or
/// file-system errors naming the dataset.
pub fn write_mre_result(path: &Path, result: &MreResult, force: bool) -> Result<(), H5Error> {
    if !force && exists(path) {
        return Err(H5Error::Exists { path: path.to_path_buf() });
    }
    validate_result(path, result)?;
    write_new_file(path, force, |file| write_contents(path, file, result))
}

fn write_contents(path: &Path, file: &File, r: &MreResult) -> Result<(), H5Error> {
    let root = Loc { path, loc: file, name: "/" };
    root.write_str("format", RESULT_FORMAT_NAME)?;
    root.write_scalar("version", FORMAT_VERSION)?;
    let g: &Group = file;
    write_array(path, g, "", "storage_modulus_pa", &r.storage_modulus_pa)?;
    write_array(path, g, "", "loss_modulus_pa", &r.loss_modulus_pa)?;
    for (name, m) in r.optional_maps() {
        if let Some(m) = m {
            write_array(path, g, "", name, m)?;
        }
    }
    // An empty table is still written (shape [0]) so that readers find it.
    write_array(path, g, "", "regions", &Array1::from(r.regions.clone()))?;
    if let Some(s) = &r.samples {
        write_array(path, g, "", "samples", s)?;
    }
    if let Some(z) = &r.residual_z {
        write_array(path, g, "", "residual_z", z)?;
    }
    let pg = create_group(path, file, "provenance", true)?;
    let p = &r.provenance;
    let l = Loc { path, loc: &pg, name: "/provenance" };
    l.write_str("tool", &p.tool)?;
    l.write_str("version", &p.version)?;
    l.write_str("method", &p.method)?;
    l.write_scalar("iterations", p.iterations)?;
    l.write_f64("wall_time_s", p.wall_time_s)?;
    l.write_str("source_data", &p.source_data)?;
    l.write_str("created", &if p.created.is_empty() { rfc3339_utc_now() } else { p.created.clone() })?;
    for (key, value) in &p.extra {
        l.write_str(key, value)?;
    }
    Ok(())
}

/// Reads an mre-result v1 file.
///
/// # Errors
///
/// An [`H5Error`] naming the file and dataset when the file is not
/// `format = "mre-result"` version 1, lacks `/storage_modulus_pa` or
/// `/loss_modulus_pa`, or has a dataset of the wrong shape or type.
pub fn read_mre_result(path: &Path) -> Result<MreResult, H5Error> {
    let file = open(path)?;
    let root = Loc { path, loc: &file, name: "/" };
    let format = root.string_required("format", "expected format = \"mre-result\"")?;
    if format != RESULT_FORMAT_NAME {
        return Err(H5Error::Invalid {
            path: path.to_path_buf(),
            object: "root attribute format".into(),
            problem: format!("is {format:?}, expected {RESULT_FORMAT_NAME:?}"),
        });
    }
    let version = root.i64_scalar("version")?;
    if version != Some(FORMAT_VERSION) {
        return Err(H5Error::Invalid {
            path: path.to_path_buf(),
            object: "root attribute version".into(),
            problem: format!("is {version:?}; this reader supports version {FORMAT_VERSION}"),
        });
    }
    let g: &Group = &file;
    let map = |name: &str| -> Result<Option<Array3<f64>>, H5Error> {
        let full = format!("/{name}");
        optional(path, g, &full)?.map(|ds| read_real_array::<Ix3>(path, &ds, &full, MAP_AXES)).transpose()
    };
    let required = |name: &str| -> Result<Array3<f64>, H5Error> {
        map(name)?.ok_or_else(|| H5Error::Missing {
            path: path.to_path_buf(),
            object: format!("dataset /{name}"),
            expected: "expected a float64 map [nz, ny, nx]".into(),
        })
    };
    let regions = match optional(path, g, "/regions")? {
        None => Vec::new(),
        Some(ds) => {
            let desc = descriptor(path, &ds, "/regions")?;
            checked::read_raw::<RegionSummary>(path, &ds, "dataset /regions").map_err(|e| match e {
                H5Error::Hdf5 { cause, .. } => h5err(
                    path,
                    format!("cannot read dataset /regions (type {desc}; expected the compound table of the mre-result format)"),
                    cause,
                ),
                e => e,
            })?
        }
    };
    let samples = optional(path, g, "/samples")?.map(|ds| read_real_array::<Ix3>(path, &ds, "/samples", &[])).transpose()?;
    let residual_z =
        optional(path, g, "/residual_z")?.map(|ds| read_complex_array::<Ix5>(path, &ds, "/residual_z", WAVE_AXES)).transpose()?;
    let provenance = read_result_provenance(path, &file)?;
    let result = MreResult {
        storage_modulus_pa: required("storage_modulus_pa")?,
        loss_modulus_pa: required("loss_modulus_pa")?,
        abs_modulus_pa: map("abs_modulus_pa")?,
        phase_angle_rad: map("phase_angle_rad")?,
        storage_modulus_std_pa: map("storage_modulus_std_pa")?,
        loss_modulus_std_pa: map("loss_modulus_std_pa")?,
        storage_modulus_q05_pa: map("storage_modulus_q05_pa")?,
        storage_modulus_q95_pa: map("storage_modulus_q95_pa")?,
        regions,
        samples,
        residual_z,
        provenance,
    };
    validate_result(path, &result)?;
    Ok(result)
}

fn read_result_provenance(path: &Path, file: &File) -> Result<ResultProvenance, H5Error> {
    if !file.link_exists("provenance") {
        return Ok(ResultProvenance::default());
    }
    let g = file.group("provenance").map_err(|e| h5err(path, "cannot open group /provenance", e))?;
    let l = Loc { path, loc: &g, name: "/provenance" };
    let text = |name: &str| -> Result<String, H5Error> { Ok(l.as_text(name)?.unwrap_or_default()) };
    let number = |name: &str| -> Result<f64, H5Error> {
        let s = text(name)?;
        if s.is_empty() {
            return Ok(0.0);
        }
        s.trim().parse().map_err(|_| H5Error::Invalid {
            path: path.to_path_buf(),
            object: format!("attribute {name} of /provenance"),
            problem: format!("is {s:?}; expected a number"),
        })
    };
    let names = g.attr_names().map_err(|e| h5err(path, "cannot list the attributes of /provenance", e))?;
    let mut extra = Vec::new();
    for name in names.iter().filter(|n| !RESULT_PROVENANCE_KEYS.contains(&n.as_str())) {
        if let Some(v) = l.as_text(name)? {
            extra.push((name.clone(), v));
        }
    }
    Ok(ResultProvenance {
        tool: text("tool")?,
        version: text("version")?,
        method: text("method")?,
        iterations: number("iterations")? as u64,
        wall_time_s: number("wall_time_s")?,
        source_data: text("source_data")?,
        created: text("created")?,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> MreResult {
        let g1 = Array3::from_shape_fn((2, 3, 4), |(z, y, x)| 1000.0 + (z * 100 + y * 10 + x) as f64);
        let mut g2 = g1.mapv(|v| v / 10.0);
        g2[[0, 0, 0]] = f64::NAN;
        let row = |label: u16, m: f64| RegionSummary {
            label,
            storage_mean_pa: m,
            storage_std_pa: 1.0,
            storage_q05_pa: m - 2.0,
            storage_q95_pa: m + 2.0,
            loss_mean_pa: m / 10.0,
            loss_std_pa: 0.1,
            loss_q05_pa: m / 10.0 - 0.2,
            loss_q95_pa: m / 10.0 + 0.2,
            rhat: f64::NAN,
            ess: 400.0,
        };
        MreResult {
            abs_modulus_pa: Some(g1.mapv(|v| v * 1.01)),
            phase_angle_rad: Some(g1.mapv(|_| 0.1)),
            storage_modulus_q05_pa: Some(g1.mapv(|v| v - 5.0)),
            storage_modulus_pa: g1,
            loss_modulus_pa: g2,
            regions: vec![row(1, 3000.0), row(7, 5000.0)],
            samples: Some(Array3::from_shape_fn((2, 5, 3), |(c, d, p)| (c * 100 + d * 10 + p) as f64)),
            residual_z: Some(Array5::from_shape_fn((2, 1, 2, 3, 4), |(f, _, z, y, x)| {
                if x == 0 {
                    Complex64::new(f64::NAN, f64::NAN)
                } else {
                    Complex64::new((f * 7 + z + y) as f64 * 0.1, -(x as f64))
                }
            })),
            provenance: ResultProvenance {
                tool: "mre-sim".into(),
                version: "0.1.0".into(),
                method: "ahi".into(),
                iterations: 3,
                wall_time_s: 0.25,
                source_data: "data.h5".into(),
                created: "2026-01-01T00:00:00Z".into(),
                extra: vec![("filter".into(), "none".into())],
            },
            ..MreResult::default()
        }
    }

    fn same(a: &Array3<f64>, b: &Array3<f64>) -> bool {
        a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
    }

    #[test]
    fn result_round_trips_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.h5");
        let r = example();
        write_mre_result(&path, &r, false).unwrap();
        let back = read_mre_result(&path).unwrap();
        assert!(same(&r.storage_modulus_pa, &back.storage_modulus_pa));
        assert!(same(&r.loss_modulus_pa, &back.loss_modulus_pa));
        assert!(same(r.abs_modulus_pa.as_ref().unwrap(), back.abs_modulus_pa.as_ref().unwrap()));
        assert!(same(r.storage_modulus_q05_pa.as_ref().unwrap(), back.storage_modulus_q05_pa.as_ref().unwrap()));
        assert!(back.storage_modulus_std_pa.is_none() && back.storage_modulus_q95_pa.is_none());
        assert_eq!(back.samples, r.samples);
        let (z, zb) = (r.residual_z.as_ref().unwrap(), back.residual_z.as_ref().unwrap());
        assert!(z.shape() == zb.shape() && z.iter().zip(zb).all(|(a, b)| a == b || (a.re.is_nan() && b.re.is_nan())));
        assert_eq!(back.regions.len(), 2);
        assert_eq!(back.regions[1].label, 7);
        assert_eq!(back.regions[1].storage_q95_pa, 5002.0);
        assert!(back.regions[0].rhat.is_nan());
        assert_eq!(back.provenance, r.provenance);

        // Compound member names as in the contract (what h5py shows).
        let f = File::open(&path).unwrap();
        let desc = f.dataset("regions").unwrap().dtype().unwrap().to_descriptor().unwrap();
        let ::hdf5::types::TypeDescriptor::Compound(ct) = desc else { panic!("regions is not a compound") };
        let names: Vec<&str> = ct.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "label",
                "storage_mean_pa",
                "storage_std_pa",
                "storage_q05_pa",
                "storage_q95_pa",
                "loss_mean_pa",
                "loss_std_pa",
                "loss_q05_pa",
                "loss_q95_pa",
                "rhat",
                "ess"
            ]
        );
        drop(f);

        let err = write_mre_result(&path, &r, false).unwrap_err();
        assert!(matches!(err, H5Error::Exists { .. }), "{err}");
        write_mre_result(&path, &r, true).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn mismatched_maps_are_rejected_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.h5");
        let mut r = example();
        r.loss_modulus_pa = Array3::zeros((1, 3, 4));
        let err = write_mre_result(&path, &r, false).unwrap_err().to_string();
        assert!(err.contains("/loss_modulus_pa"), "{err}");
        let mut r = example();
        r.residual_z = Some(Array5::zeros((1, 1, 2, 3, 5)));
        let err = write_mre_result(&path, &r, false).unwrap_err().to_string();
        assert!(err.contains("/residual_z"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn data_files_are_not_results() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.h5");
        let f = File::create(&path).unwrap();
        Loc { path: &path, loc: &f, name: "/" }.write_str("format", "mre-data").unwrap();
        drop(f);
        let err = read_mre_result(&path).unwrap_err().to_string();
        assert!(err.contains("mre-result"), "{err}");
    }
}
