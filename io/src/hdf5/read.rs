//! Reading mre-data v1 files and label maps.

use std::fs;
use std::path::Path;

use ::hdf5::plist::group_create::AttrCreationOrder;
use ::hdf5::types::TypeDescriptor;
use ::hdf5::{Dataset, File, Group, IndexType, IterationOrder};
use ndarray::{Array, Array3, ArrayD, Axis, Dimension, Ix3, Ix5, Ix6, IxDyn};
use num_complex::Complex64;

use super::attrs::{is_numeric, Loc};
use super::checked;
use super::complex::{describe_type, read_complex};
use super::validate::{ndim_error, validate, KSPACE_AXES, MAP_AXES, PHASE_AXES, WAVE_AXES};
use super::write::PROVENANCE_KEYS;
use super::{h5err, H5Error, DEFAULT_DENSITY_KG_M3, FORMAT_NAME, FORMAT_VERSION};
use crate::data::{GroundTruth, MreData, Provenance};

/// Reads an mre-data v1 file (see `docs/mre-data-format.md`).
///
/// Accepted beyond what [`write_mre_data`](super::write_mre_data) writes:
/// complex compounds named `r`/`i` or `real`/`imag` with float64 or float32
/// members; attributes stored as any integer or float type; fixed- or
/// variable-length strings; `/mask` stored as bool, any integer or float
/// type (non-zero means tissue); `/labels` stored as any integer type, also
/// 2-D `[ny, nx]`; `/noise_std` as a scalar or one value per frequency
/// (`[nf]`, also `[1]`).
///
/// Absent optional items: `density_kg_m3` → 1000, `encoding_phase_rad` →
/// zeros (one per frequency), `encoding_efficiency_rad_per_m` → empty,
/// datasets → `None`, `/provenance` → default.
///
/// # Errors
///
/// An [`H5Error`] naming the file and the dataset or attribute when the file
/// cannot be opened, is not `format = "mre-data"` version 1, lacks required
/// acquisition attributes, has a dataset of the wrong type or with axes that
/// disagree (`nf` with `frequencies_hz`, `ncomp` with `components`, spatial
/// axes between datasets), has zero, negative or non-finite frequencies, or
/// has NaN/inf in `/wave`, `/phase`, `/images`, `/kspace` or `/noise_std`.
pub fn read_mre_data(path: &Path) -> Result<MreData, H5Error> {
    let file = open(path)?;
    check_format(path, &file)?;

    // --- /acquisition -------------------------------------------------------
    if !file.link_exists("acquisition") {
        return Err(H5Error::Missing {
            path: path.to_path_buf(),
            object: "group /acquisition".into(),
            expected: "it holds frequencies_hz, voxel_size_m and components".into(),
        });
    }
    let acq = file.group("acquisition").map_err(|e| h5err(path, "cannot open group /acquisition", e))?;
    let a = Loc { path, loc: &acq, name: "/acquisition" };
    let frequencies_hz = a.f64_vec_required("frequencies_hz", "expected the vibration frequencies in Hz (float64[nf])")?;
    let voxel = a.f64_vec_required("voxel_size_m", "expected the voxel size (dz, dy, dx) in metres (float64[3])")?;
    let voxel_size_m: [f64; 3] = voxel.as_slice().try_into().map_err(|_| H5Error::Shape {
        path: path.to_path_buf(),
        object: "attribute voxel_size_m of /acquisition".into(),
        shape: vec![voxel.len()],
        expected: "[3] = (dz, dy, dx)".into(),
    })?;
    let density_kg_m3 = a.f64_scalar("density_kg_m3")?.unwrap_or(DEFAULT_DENSITY_KG_M3);
    let components = a.string_required("components", "expected the encoded motion components, e.g. \"z\" or \"xyz\"")?;
    let encoding_efficiency_rad_per_m = a.f64_vec("encoding_efficiency_rad_per_m")?.unwrap_or_default();
    let encoding_phase_rad = a.f64_vec("encoding_phase_rad")?.unwrap_or_else(|| vec![0.0; frequencies_hz.len()]);

    // --- datasets -------------------------------------------------------------
    let root: &Group = &file;
    check_total(path, root)?;
    let wave = optional(path, root, "/wave")?.map(|ds| read_complex_array::<Ix5>(path, &ds, "/wave", WAVE_AXES)).transpose()?;
    let phase = optional(path, root, "/phase")?.map(|ds| read_real_array::<Ix6>(path, &ds, "/phase", PHASE_AXES)).transpose()?;
    let images = optional(path, root, "/images")?.map(|ds| read_complex_array::<Ix6>(path, &ds, "/images", PHASE_AXES)).transpose()?;
    let kspace = optional(path, root, "/kspace")?.map(|ds| read_complex_array::<IxDyn>(path, &ds, "/kspace", KSPACE_AXES)).transpose()?;
    let kspace_negative = optional(path, root, "/kspace_negative")?
        .map(|ds| read_complex_array::<IxDyn>(path, &ds, "/kspace_negative", KSPACE_AXES))
        .transpose()?;
    let magnitude = optional(path, root, "/magnitude")?.map(|ds| read_real_array::<Ix3>(path, &ds, "/magnitude", MAP_AXES)).transpose()?;
    let mask = optional(path, root, "/mask")?.map(|ds| read_mask(path, &ds, "/mask")).transpose()?;
    let labels = optional(path, root, "/labels")?.map(|ds| read_label_map(path, &ds, "/labels")).transpose()?;
    let noise_std = optional(path, root, "/noise_std")?.map(|ds| read_noise_std(path, &ds, frequencies_hz.len())).transpose()?;
    let ground_truth = read_ground_truth(path, &file)?;
    let provenance = read_provenance(path, &file)?;

    let data = MreData {
        frequencies_hz,
        voxel_size_m,
        density_kg_m3,
        components,
        encoding_efficiency_rad_per_m,
        encoding_phase_rad,
        wave,
        phase,
        images,
        kspace,
        kspace_negative,
        magnitude,
        mask,
        labels,
        noise_std,
        ground_truth,
        provenance,
    };
    validate(path, &data)?;
    Ok(data)
}

/// Reads an integer label map from dataset `dataset` (e.g. `"/labels"` or
/// `"/segmentation/regions"`) of any HDF5 file (no mre-data attributes are
/// required).
///
/// Accepts any integer (or bool) stored type; values must lie in
/// `0..=65535`. A 2-D `[ny, nx]` map is returned as `[1, ny, nx]`.
///
/// # Errors
///
/// An [`H5Error`] naming the file and dataset if it is missing, is not of an
/// integer type, has other than 2 or 3 axes, or holds a negative value or a
/// value above 65535.
pub fn read_labels(path: &Path, dataset: &str) -> Result<Array3<u16>, H5Error> {
    let file = open(path)?;
    let name = if dataset.starts_with('/') { dataset.to_string() } else { format!("/{dataset}") };
    let ds = optional(path, &file, &name)?.ok_or_else(|| H5Error::Missing {
        path: path.to_path_buf(),
        object: format!("dataset {name}"),
        expected: "expected an integer label map [nz, ny, nx] or [ny, nx]".into(),
    })?;
    read_label_map(path, &ds, &name)
}

// ------------------------------------------------------------------ helpers --

/// Opens `path` read-only, with an OS error if it does not exist.
pub(crate) fn open(path: &Path) -> Result<File, H5Error> {
    fs::metadata(path).map_err(|cause| H5Error::Io { path: path.to_path_buf(), action: "open the file".into(), cause })?;
    open_unlocked(path).map_err(|e| h5err(path, "cannot open as an HDF5 file", e))
}

/// Opens `path` read-only without HDF5's advisory file lock.
///
/// Every file this crate writes appears under its final name only when complete (written to
/// a temporary name and renamed), so a reader never sees a half-written file and the lock
/// protects nothing here. It does harm: `flock` fails on many cluster file systems (Lustre,
/// NFS without lock daemons), and a lock taken while writing is inherited by any process
/// spawned meanwhile, so a file just written cannot be opened until that child exits.
pub(crate) fn open_unlocked(path: &Path) -> hdf5::Result<File> {
    File::with_options().with_fapl(|p| p.file_locking(false)).open(path)
}

/// The datasets of an mre-data file and the bytes per element they are read into.
const DATASETS: [(&str, u64); 11] = [
    ("/wave", 16),
    ("/phase", 8),
    ("/images", 16),
    ("/kspace", 16),
    ("/kspace_negative", 16),
    ("/magnitude", 8),
    ("/mask", 8),
    ("/labels", 8),
    ("/noise_std", 8),
    ("/ground_truth/storage_modulus_pa", 8),
    ("/ground_truth/loss_modulus_pa", 8),
];

/// Checks that the datasets present, together, fit in the memory budget (each one is also
/// checked alone when it is read).
fn check_total(path: &Path, root: &Group) -> Result<(), H5Error> {
    let mut total: u128 = 0;
    let mut parts = Vec::new();
    for (name, bytes) in DATASETS {
        if let Some(ds) = optional(path, root, name)? {
            // Alone first, so that one oversized dataset is named with its shape.
            let n = checked::check(path, &ds, &format!("dataset {name}"), bytes as usize)?;
            total = total.saturating_add(n as u128 * u128::from(bytes));
            parts.push(name);
        }
    }
    mre_solver::limits::check_memory(&format!("reading datasets {} together", parts.join(", ")), total)
        .map_err(|limit| H5Error::Limit { path: path.to_path_buf(), limit })
}

/// Checks the root attributes `format = "mre-data"` and `version = 1`.
fn check_format(path: &Path, file: &File) -> Result<(), H5Error> {
    let root = Loc { path, loc: file, name: "/" };
    let format = root.string_required("format", "expected format = \"mre-data\"; this does not look like an mre-data file")?;
    if format != FORMAT_NAME {
        let hint = if format == "mre-result" { " (this is an inversion result, not MRE data)" } else { "" };
        return Err(H5Error::Invalid {
            path: path.to_path_buf(),
            object: "root attribute format".into(),
            problem: format!("is {format:?}, expected {FORMAT_NAME:?}{hint}"),
        });
    }
    let version = root.i64_scalar("version")?.ok_or_else(|| H5Error::Missing {
        path: path.to_path_buf(),
        object: "root attribute version".into(),
        expected: format!("expected version = {FORMAT_VERSION}"),
    })?;
    if version != FORMAT_VERSION {
        return Err(H5Error::Invalid {
            path: path.to_path_buf(),
            object: "root attribute version".into(),
            problem: format!("is {version}; this reader supports version {FORMAT_VERSION}"),
        });
    }
    Ok(())
}

/// Opens dataset `name` (absolute, e.g. `/ground_truth/loss_modulus_pa`) if
/// it exists.
pub(crate) fn optional(path: &Path, g: &Group, name: &str) -> Result<Option<Dataset>, H5Error> {
    // Check every prefix: H5Lexists fails on a missing intermediate group.
    let mut prefix = String::new();
    for part in name.split('/').filter(|p| !p.is_empty()) {
        prefix.push('/');
        prefix.push_str(part);
        if !g.link_exists(&prefix) {
            return Ok(None);
        }
    }
    g.dataset(name).map(Some).map_err(|e| h5err(path, format!("cannot open dataset {name}"), e))
}

pub(crate) fn descriptor(path: &Path, ds: &Dataset, name: &str) -> Result<TypeDescriptor, H5Error> {
    ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| h5err(path, format!("cannot read the type of dataset {name}"), e))
}

/// Converts a dynamic array whose rank was already checked.
fn fix_rank<T, D: Dimension>(path: &Path, name: &str, a: ArrayD<T>) -> Result<Array<T, D>, H5Error> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<D>().map_err(|e| H5Error::Shape {
        path: path.to_path_buf(),
        object: format!("dataset {name}"),
        shape,
        expected: format!("{} axes ({e})", D::NDIM.unwrap_or(0)),
    })
}

/// Reads a real-valued dataset with axes `lead` + `[nz, ny, nx]` as `f64`.
pub(crate) fn read_real_array<D: Dimension>(path: &Path, ds: &Dataset, name: &str, lead: &[&str]) -> Result<Array<f64, D>, H5Error> {
    let object = format!("dataset {name}");
    let shape = ds.shape();
    if shape.len() != lead.len() + 3 {
        return Err(ndim_error(path, &object, &shape, lead));
    }
    let desc = descriptor(path, ds, name)?;
    if !is_numeric(&desc) {
        return Err(H5Error::Type {
            path: path.to_path_buf(),
            object,
            found: describe_type(&desc),
            expected: "float64 (or another real number type)".into(),
        });
    }
    let a = checked::read_dyn::<f64>(path, ds, &object)?;
    fix_rank(path, name, a)
}

/// Reads a complex dataset with axes `lead` + `[nz, ny, nx]`.
pub(crate) fn read_complex_array<D: Dimension>(
    path: &Path,
    ds: &Dataset,
    name: &str,
    lead: &[&str],
) -> Result<Array<Complex64, D>, H5Error> {
    let object = format!("dataset {name}");
    let shape = ds.shape();
    if shape.len() != lead.len() + 3 {
        return Err(ndim_error(path, &object, &shape, lead));
    }
    let desc = descriptor(path, ds, name)?;
    let a = read_complex(path, &object, ds, &desc)?;
    fix_rank(path, name, a)
}

/// Reads a `[nz, ny, nx]` (or `[ny, nx]` if `allow_2d`) map of integer
/// type (or, with `allow_float`, any real type) as `f64` values.
fn read_integer_map(path: &Path, ds: &Dataset, name: &str, allow_float: bool) -> Result<Array3<f64>, H5Error> {
    let object = format!("dataset {name}");
    let shape = ds.shape();
    if !(shape.len() == 3 || shape.len() == 2) {
        return Err(H5Error::Shape {
            path: path.to_path_buf(),
            object,
            shape,
            expected: "3 axes [nz, ny, nx] (or 2 axes [ny, nx])".into(),
        });
    }
    let desc = descriptor(path, ds, name)?;
    let a: ArrayD<f64> = match desc {
        TypeDescriptor::Boolean => checked::read_dyn::<bool>(path, ds, &object)?.mapv(|b| f64::from(u8::from(b))),
        // Exact for |v| < 2^53; larger values are rejected later anyway.
        TypeDescriptor::Integer(_) => checked::read_dyn::<i64>(path, ds, &object)?.mapv(|v| v as f64),
        TypeDescriptor::Unsigned(_) => checked::read_dyn::<u64>(path, ds, &object)?.mapv(|v| v as f64),
        TypeDescriptor::Float(_) if allow_float => checked::read_dyn::<f64>(path, ds, &object)?,
        other => {
            return Err(H5Error::Type {
                path: path.to_path_buf(),
                object,
                found: describe_type(&other),
                expected: if allow_float {
                    "an integer, bool or float type".into()
                } else {
                    "an integer type (uint8, uint16, uint32, int32, int64, ...)".into()
                },
            })
        }
    };
    let a = if a.ndim() == 2 { a.insert_axis(Axis(0)) } else { a };
    fix_rank(path, name, a)
}

/// Reads a label map, checking that every value fits in `u16`.
fn read_label_map(path: &Path, ds: &Dataset, name: &str) -> Result<Array3<u16>, H5Error> {
    let a = read_integer_map(path, ds, name, false)?;
    if let Some(((z, y, x), v)) = a.indexed_iter().find(|(_, &v)| !(0.0..=f64::from(u16::MAX)).contains(&v)) {
        return Err(H5Error::Invalid {
            path: path.to_path_buf(),
            object: format!("dataset {name}"),
            problem: format!("contains label {v} at index [{z}, {y}, {x}]; labels must be in 0..=65535"),
        });
    }
    // Every value is an integer in range, so the cast is exact.
    Ok(a.mapv(|v| v as u16))
}

/// Reads a mask; any non-zero value means tissue (stored as 1).
fn read_mask(path: &Path, ds: &Dataset, name: &str) -> Result<Array3<u8>, H5Error> {
    let a = read_integer_map(path, ds, name, true)?;
    if let Some(((z, y, x), _)) = a.indexed_iter().find(|(_, v)| v.is_nan()) {
        return Err(H5Error::Invalid {
            path: path.to_path_buf(),
            object: format!("dataset {name}"),
            problem: format!("contains NaN at index [{z}, {y}, {x}]; expected 0 or 1"),
        });
    }
    Ok(a.mapv(|v| u8::from(v != 0.0)))
}

/// Reads `/noise_std`: a scalar (one value), or one value per frequency.
fn read_noise_std(path: &Path, ds: &Dataset, nf: usize) -> Result<Vec<f64>, H5Error> {
    let name = "/noise_std";
    let object = format!("dataset {name}");
    let shape = checked::shape(path, ds, &object)?;
    let n = checked::element_count(path, ds, &object)?;
    if shape.len() > 1 || (n != 1 && n != nf) {
        return Err(H5Error::Shape {
            path: path.to_path_buf(),
            object: format!("dataset {name}"),
            shape,
            expected: format!("a scalar or [nf] with nf = {nf}"),
        });
    }
    let desc = descriptor(path, ds, name)?;
    if !is_numeric(&desc) {
        return Err(H5Error::Type {
            path: path.to_path_buf(),
            object: format!("dataset {name}"),
            found: describe_type(&desc),
            expected: "float64".into(),
        });
    }
    // Values are checked (finite, non-negative) by validation.
    checked::read_raw::<f64>(path, ds, &object)
}

fn read_ground_truth(path: &Path, file: &File) -> Result<Option<GroundTruth>, H5Error> {
    if !file.link_exists("ground_truth") {
        return Ok(None);
    }
    let mut maps = Vec::with_capacity(2);
    for name in ["/ground_truth/storage_modulus_pa", "/ground_truth/loss_modulus_pa"] {
        let ds = optional(path, file, name)?.ok_or_else(|| H5Error::Missing {
            path: path.to_path_buf(),
            object: format!("dataset {name}"),
            expected: "/ground_truth needs both storage_modulus_pa and loss_modulus_pa".into(),
        })?;
        maps.push(read_real_array::<Ix3>(path, &ds, name, MAP_AXES)?);
    }
    let loss_modulus_pa = maps.pop().expect("two maps were read");
    let storage_modulus_pa = maps.pop().expect("two maps were read");
    Ok(Some(GroundTruth { storage_modulus_pa, loss_modulus_pa }))
}

fn read_provenance(path: &Path, file: &File) -> Result<Provenance, H5Error> {
    if !file.link_exists("provenance") {
        return Ok(Provenance::default());
    }
    let g = file.group("provenance").map_err(|e| h5err(path, "cannot open group /provenance", e))?;
    let l = Loc { path, loc: &g, name: "/provenance" };
    let text = |name: &str| -> Result<String, H5Error> { Ok(l.as_text(name)?.unwrap_or_default()) };
    // Keep the writer's attribute order when it was recorded.
    let ordered = g.create_plist().is_ok_and(|p| p.attr_creation_order() != AttrCreationOrder::Untracked);
    let index = if ordered { IndexType::CreationOrder } else { IndexType::Name };
    let names =
        g.attr_names_by(index, IterationOrder::Increasing).map_err(|e| h5err(path, "cannot list the attributes of /provenance", e))?;
    let mut extra = Vec::new();
    for name in names.iter().filter(|n| !PROVENANCE_KEYS.contains(&n.as_str())) {
        match l.as_text(name)? {
            Some(v) => extra.push((name.clone(), v)),
            None => tracing::debug!("{}: skipping non-scalar attribute {name} of /provenance", path.display()),
        }
    }

    Ok(Provenance {
        tool: text("tool")?,
        version: text("version")?,
        config_toml: text("config")?,
        created: text("created")?,
        threads: parse_provenance(path, "threads", &text("threads")?, "a thread count")?,
        ranks: parse_provenance(path, "ranks", &text("ranks")?, "a rank count")?,
        seed: parse_provenance(path, "seed", &text("seed")?, "an unsigned integer seed")?,
        wall_time_s: parse_provenance(path, "wall_time_s", &text("wall_time_s")?, "seconds")?,
        extra,
    })
}

/// Parses the text of provenance attribute `name` (empty → default).
fn parse_provenance<T>(path: &Path, name: &str, s: &str, what: &str) -> Result<T, H5Error>
where
    T: std::str::FromStr + Default,
{
    if s.is_empty() {
        return Ok(T::default());
    }
    s.trim().parse().map_err(|_| H5Error::Invalid {
        path: path.to_path_buf(),
        object: format!("attribute {name} of /provenance"),
        problem: format!("is {s:?}; expected {what}"),
    })
}
