//! Writing an [`MreData`] as an mre-data v1 file, atomically.

use std::mem::size_of;
use std::path::Path;

use ::hdf5::plist::group_create::AttrCreationOrder;
use ::hdf5::{File, Group, H5Type};
use mre_solver::files;
pub(crate) use mre_solver::files::exists;
use ndarray::{ArrayBase, Data, Dimension};

use super::attrs::Loc;
use super::validate::validate;
use super::{h5err, rfc3339_utc_now, H5Error, FORMAT_NAME, FORMAT_VERSION};
use crate::data::{MreData, Provenance};

/// Datasets larger than this are chunked and compressed; smaller ones are
/// stored contiguously.
const COMPRESS_ABOVE_BYTES: usize = 1 << 20;
/// Target size of one chunk (at most; HDF5's default chunk cache is 1 MiB).
const CHUNK_TARGET_BYTES: usize = 1 << 20;
/// gzip level of compressed datasets.
const GZIP_LEVEL: u8 = 4;

/// Standard `/provenance` attribute names; `extra` keys may not reuse them.
pub(crate) const PROVENANCE_KEYS: [&str; 8] = ["tool", "version", "config", "created", "threads", "ranks", "seed", "wall_time_s"];

/// Writes `data` to `path` as an mre-data v1 HDF5 file.
///
/// Every `Some` dataset of `data` is written (see `docs/mre-data-format.md`);
/// arrays above 1 MiB are chunked and gzip-compressed (level 4, with
/// shuffle) when the HDF5 library has deflate. An empty
/// `provenance.created` is filled with the current UTC time.
///
/// The file is written under a temporary name in the same directory
/// (`.<name>.tmp-<random>`), closed, and renamed to `path`, so `path` never
/// holds a partial file; the temporary file is removed on any error.
///
/// # Errors
///
/// * [`H5Error::Exists`] if `path` exists and `force` is false (checked
///   before any work; a file appearing at `path` while writing is not
///   overwritten either);
/// * a shape, value or provenance problem in `data` (checked before any file
///   is created), e.g. `/wave` axes disagreeing with `frequencies_hz`;
/// * HDF5 or file-system errors, naming the dataset or attribute.
pub fn write_mre_data(path: &Path, data: &MreData, force: bool) -> Result<(), H5Error> {
    if !force && exists(path) {
        return Err(H5Error::Exists { path: path.to_path_buf() });
    }
    validate(path, data)?;
    check_provenance(path, &data.provenance)?;

    write_new_file(path, force, |file| write_contents(path, file, data))
}

/// Creates an HDF5 file under a fresh temporary name next to `path`, fills it with
/// `contents`, flushes and closes it, and moves it to `path` ([`mre_solver::files::write_new`]:
/// without `force` an existing `path` is never replaced). The temporary file is removed on any error.
pub(crate) fn write_new_file(path: &Path, force: bool, contents: impl FnOnce(&File) -> Result<(), H5Error>) -> Result<(), H5Error> {
    files::write_new(path, force, |tmp| {
        // The temporary file exists (empty): create truncates it.
        // Without the advisory lock, as [`super::read::open_unlocked`] explains.
        let file = File::with_options()
            .with_fapl(|p| p.file_locking(false))
            .create(tmp)
            .map_err(|e| h5err(path, format!("cannot create temporary file {}", tmp.display()), e))?;
        contents(&file)?;
        file.flush().and_then(|()| file.close()).map_err(|e| h5err(path, "cannot flush and close the file", e))
    })
}

/// Rejects provenance that cannot be stored unambiguously.
fn check_provenance(path: &Path, p: &Provenance) -> Result<(), H5Error> {
    for (i, (key, _)) in p.extra.iter().enumerate() {
        let problem = if key.is_empty() {
            Some("has an empty extra key".to_string())
        } else if PROVENANCE_KEYS.contains(&key.as_str()) {
            Some(format!("extra key {key:?} clashes with a standard provenance attribute"))
        } else if p.extra[..i].iter().any(|(k, _)| k == key) {
            Some(format!("extra key {key:?} appears twice"))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(H5Error::Invalid { path: path.to_path_buf(), object: "group /provenance".into(), problem });
        }
    }
    Ok(())
}

/// Writes all groups, attributes and datasets into the open `file`.
fn write_contents(path: &Path, file: &File, data: &MreData) -> Result<(), H5Error> {
    let root = Loc { path, loc: file, name: "/" };
    root.write_str("format", FORMAT_NAME)?;
    root.write_scalar("version", FORMAT_VERSION)?;

    let acq = create_group(path, file, "acquisition", false)?;
    let a = Loc { path, loc: &acq, name: "/acquisition" };
    a.write_f64_array("frequencies_hz", &data.frequencies_hz)?;
    a.write_f64_array("voxel_size_m", &data.voxel_size_m)?;
    a.write_f64("density_kg_m3", data.density_kg_m3)?;
    a.write_str("components", &data.components)?;
    if !data.encoding_efficiency_rad_per_m.is_empty() {
        a.write_f64_array("encoding_efficiency_rad_per_m", &data.encoding_efficiency_rad_per_m)?;
    }
    if !data.encoding_phase_rad.is_empty() {
        a.write_f64_array("encoding_phase_rad", &data.encoding_phase_rad)?;
    }

    let root_g: &Group = file;
    if let Some(x) = &data.wave {
        write_array(path, root_g, "", "wave", x)?;
    }
    if let Some(x) = &data.phase {
        write_array(path, root_g, "", "phase", x)?;
    }
    if let Some(x) = &data.images {
        write_array(path, root_g, "", "images", x)?;
    }
    if let Some(x) = &data.kspace {
        write_array(path, root_g, "", "kspace", x)?;
    }
    if let Some(x) = &data.kspace_negative {
        write_array(path, root_g, "", "kspace_negative", x)?;
    }
    if let Some(x) = &data.magnitude {
        write_array(path, root_g, "", "magnitude", x)?;
    }
    if let Some(x) = &data.mask {
        write_array(path, root_g, "", "mask", x)?;
    }
    if let Some(x) = &data.labels {
        write_array(path, root_g, "", "labels", x)?;
    }
    if let Some(s) = &data.noise_std {
        let written = if let [one] = s.as_slice() {
            file.new_dataset::<f64>().shape(()).create("noise_std").and_then(|d| d.write_scalar(one))
        } else {
            file.new_dataset_builder().with_data(ndarray::ArrayView1::from(s.as_slice())).create("noise_std").map(drop)
        };
        written.map_err(|e| h5err(path, "cannot write dataset /noise_std", e))?;
    }
    if let Some(gt) = &data.ground_truth {
        let g = create_group(path, file, "ground_truth", false)?;
        let prefix = "/ground_truth/";
        write_array(path, &g, prefix, "storage_modulus_pa", &gt.storage_modulus_pa)?;
        write_array(path, &g, prefix, "loss_modulus_pa", &gt.loss_modulus_pa)?;
    }
    write_provenance(path, file, &data.provenance)
}

/// Creates group `/name`; with `ordered`, attribute creation order is
/// tracked and indexed so that it can be read back in order.
pub(crate) fn create_group(path: &Path, file: &File, name: &str, ordered: bool) -> Result<Group, H5Error> {
    let builder = file.create_group_builder();
    let builder = if ordered { builder.with_gcpl(|p| p.attr_creation_order(AttrCreationOrder::Indexed)) } else { builder };
    builder.create(name).map_err(|e| h5err(path, format!("cannot create group /{name}"), e))
}

fn write_provenance(path: &Path, file: &File, p: &Provenance) -> Result<(), H5Error> {
    let g = create_group(path, file, "provenance", true)?;
    let l = Loc { path, loc: &g, name: "/provenance" };
    l.write_str("tool", &p.tool)?;
    l.write_str("version", &p.version)?;
    l.write_str("config", &p.config_toml)?;
    if p.created.is_empty() {
        l.write_str("created", &rfc3339_utc_now())?;
    } else {
        l.write_str("created", &p.created)?;
    }
    l.write_scalar("threads", p.threads as u64)?;
    l.write_scalar("ranks", p.ranks as u64)?;
    l.write_scalar("seed", p.seed)?;
    l.write_f64("wall_time_s", p.wall_time_s)?;
    for (key, value) in &p.extra {
        l.write_str(key, value)?;
    }
    Ok(())
}

/// Chunk shape of at most [`CHUNK_TARGET_BYTES`] for an array of `shape`:
/// whole trailing (spatial) extents where possible, leading axes split first.
fn chunk_shape(shape: &[usize], elem_bytes: usize) -> Vec<usize> {
    let mut chunk: Vec<usize> = shape.iter().map(|&n| n.max(1)).collect();
    for i in 0..chunk.len() {
        let bytes: usize = chunk.iter().product::<usize>() * elem_bytes;
        if bytes <= CHUNK_TARGET_BYTES {
            break;
        }
        let rest = bytes / chunk[i];
        // Split axis i into equal pieces that fit the target.
        let fit = (CHUNK_TARGET_BYTES / rest).clamp(1, chunk[i]);
        chunk[i] = chunk[i].div_ceil(chunk[i].div_ceil(fit));
    }
    chunk
}

/// Writes array `a` as dataset `name` of group `g` (whose path prefix for
/// messages is `prefix`, e.g. `"/ground_truth/"`; `""` for the root).
pub(crate) fn write_array<T, S, D>(path: &Path, g: &Group, prefix: &str, name: &str, a: &ArrayBase<S, D>) -> Result<(), H5Error>
where
    T: H5Type + Clone,
    S: Data<Elem = T>,
    D: Dimension,
{
    let a = a.as_standard_layout();
    let bytes = a.len() * size_of::<T>();
    let builder = g.new_dataset_builder().with_data(a.view());
    let builder = if bytes > COMPRESS_ABOVE_BYTES && ::hdf5::filters::deflate_available() {
        builder.chunk(chunk_shape(a.shape(), size_of::<T>())).shuffle().deflate(GZIP_LEVEL)
    } else {
        builder
    };
    let object = if prefix.is_empty() { format!("/{name}") } else { format!("{prefix}{name}") };
    builder.create(name).map(drop).map_err(|e| h5err(path, format!("cannot write dataset {object}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_stay_below_target() {
        let shape = [3, 3, 1, 8, 128, 128]; // f64: 3 MiB
        let c = chunk_shape(&shape, 8);
        assert_eq!(c, vec![1, 1, 1, 8, 128, 128]);
        let shape = [2, 1, 1, 1, 512, 512, 512]; // complex: 4 GiB
        let c = chunk_shape(&shape, 16);
        assert_eq!(c, vec![1, 1, 1, 1, 1, 128, 512]);
        // 8 slices of 96 × 96 complex (1.2 MB) → two chunks of 4 slices.
        assert_eq!(chunk_shape(&[1, 1, 8, 96, 96], 16), vec![1, 1, 4, 96, 96]);
        assert!(c.iter().product::<usize>() * 16 <= CHUNK_TARGET_BYTES);
        let small = chunk_shape(&[4, 4], 8);
        assert_eq!(small, vec![4, 4]);
    }
}
