//! The inversions' input: an mre-data set (from a file or in memory), its mask and its
//! first-harmonic wave field, from the highest data level present.
//!
//! Data levels: `/wave` is used directly; otherwise `/phase` (unwrapped per offset, first
//! harmonic over the offsets divided by ξ), `/images` (their phase) or `/kspace` (centred
//! inverse FFT; with `/kspace_negative` the phase difference of the two MEG polarities
//! removes the background phase; coils are combined by the phase difference to the first
//! offset).

use std::path::Path;

use mre_inverse::Measurements;
use mre_io::crop::{crop5, crop_data, Crop};
use mre_io::data::MreData;
use mre_io::hdf5::read_mre_data;
use mre_solver::recon::{kspace_to_images, phase_to_wave};
use ndarray::{Array3, Array5};
use num_complex::Complex64;

use crate::error::{ErrorKind, PipelineError, Result};

/// Phase unwrapping for `/phase`, `/images` and `/kspace` data (`mre_solver::recon::Unwrap`;
/// the default of `mre-sim invert` is [`Unwrap::Laplacian`]; its names in
/// [`mre_inverse::options`]).
pub use mre_solver::recon::Unwrap;

/// `source: dataset: problem` as invalid input.
fn invalid(source: &str, dataset: &str, e: mre_solver::error::SolverError) -> PipelineError {
    PipelineError::invalid(format!("{source}: {dataset}: {}", crate::error::chain(&e)))
}

/// An mre-data set ready to invert.
#[derive(Debug, Clone)]
pub struct WaveInput {
    /// Where the data came from (a file path or a description), for messages and provenance.
    pub source: String,
    /// The data.
    pub data: MreData,
    /// Voxels to invert (`/mask`, or every voxel).
    pub mask: Array3<bool>,
    /// First-harmonic complex displacement `[nf, ncomp, nz, ny, nx]`, m.
    pub wave: Array5<Complex64>,
    /// The data level the wave was taken from: `/wave`, `/phase`, `/images` or `/kspace`.
    pub level: &'static str,
}

impl WaveInput {
    /// Read an mre-data file and take its wave field.
    pub fn read(path: &Path, unwrap: Unwrap) -> Result<Self> {
        let data = read_mre_data(path).map_err(|e| PipelineError::from_error(ErrorKind::InvalidInput, &e))?;
        Self::from_data(path.display().to_string(), data, unwrap)
    }

    /// Take the wave field of `data` (named `source` in messages and provenance).
    pub fn from_data(source: String, data: MreData, unwrap: Unwrap) -> Result<Self> {
        let mask = data.mask.as_ref().map_or_else(|| Array3::from_elem(spatial_shape(&data), true), |m| m.mapv(|v| v != 0));
        if !mask.iter().any(|&m| m) {
            return Err(PipelineError::invalid(format!("{source}: dataset /mask selects no voxel; nothing to invert")));
        }
        let (wave, level) = wave_field(&source, &data, &mask, unwrap)?;
        Ok(Self { source, data, mask, wave, level })
    }
}

impl WaveInput {
    /// The input cut to the box `crop` (see [`Crop`]): the wave is taken from the whole data
    /// first (unwrapping and k-space reconstruction see the whole grid), then the wave, the
    /// mask and every spatial dataset are cut.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] when the box does not lie in the grid or its mask is empty.
    pub fn cropped(&self, crop: &Crop) -> Result<Self> {
        let shape = self.shape();
        let bad = |e: String| PipelineError::invalid(format!("{}: {e}", self.source));
        let ranges = crop.ranges(shape).map_err(bad)?;
        let data = crop_data(&self.data, &ranges);
        let [z, y, x] = ranges.clone();
        let mask = self.mask.slice(ndarray::s![z, y, x]).to_owned();
        if !mask.iter().any(|&m| m) {
            return Err(bad(format!("--crop {crop}: the mask selects no voxel in the box; nothing to invert")));
        }
        Ok(Self { source: self.source.clone(), data, mask, wave: crop5(&self.wave, ranges), level: self.level })
    }

    /// The grid `[nz, ny, nx]`.
    pub fn shape(&self) -> [usize; 3] {
        let s = self.mask.shape();
        [s[0], s[1], s[2]]
    }

    /// The wave field of `m` (e.g. from [`mre_inverse::synthetic`] or a study's own
    /// preprocessing) with region `labels`, as the data level `/wave` of an mre-data set
    /// named `source`. Its images, if any, are not carried over.
    pub fn from_measurements(source: &str, m: &Measurements, labels: Option<Array3<u16>>) -> Result<Self> {
        let nf = m.frequencies_hz.len();
        let components = match m.n_components() {
            1 => "z",
            2 => "xy",
            _ => "xyz",
        }
        .to_string();
        let data = MreData {
            frequencies_hz: m.frequencies_hz.clone(),
            voxel_size_m: m.grid.voxel_size_m,
            density_kg_m3: m.density_kg_m3,
            components,
            encoding_efficiency_rad_per_m: vec![0.0; nf],
            encoding_phase_rad: vec![0.0; nf],
            wave: Some(m.wave.clone()),
            mask: Some(m.mask.mapv(u8::from)),
            labels,
            noise_std: m.noise_std.clone(),
            ..MreData::default()
        };
        Self::from_data(source.to_string(), data, Unwrap::Laplacian)
    }
}

fn spatial_shape(d: &MreData) -> (usize, usize, usize) {
    let sh: &[usize] = if let Some(w) = &d.wave {
        w.shape()
    } else if let Some(p) = &d.phase {
        p.shape()
    } else if let Some(i) = &d.images {
        i.shape()
    } else if let Some(k) = &d.kspace {
        k.shape()
    } else {
        &[1, 1, 1]
    };
    let n = sh.len();
    (sh[n - 3], sh[n - 2], sh[n - 1])
}

/// The first-harmonic complex displacement `[nf, ncomp, nz, ny, nx]` from
/// the highest-level data present, and the name of the level used.
fn wave_field(source: &str, d: &MreData, mask: &Array3<bool>, unwrap: Unwrap) -> Result<(Array5<Complex64>, &'static str)> {
    if let Some(w) = &d.wave {
        return Ok((w.clone(), "/wave"));
    }
    let xi: Vec<Complex64> =
        d.encoding_efficiency_rad_per_m.iter().zip(&d.encoding_phase_rad).map(|(&m, &a)| Complex64::from_polar(m, a)).collect();
    if let Some(x) = xi.iter().find(|x| x.norm() == 0.0) {
        return Err(PipelineError::invalid(format!(
            "{source}: attribute encoding_efficiency_rad_per_m of /acquisition contains {}; a non-zero value per frequency is needed to convert phase to displacement",
            x.norm()
        )));
    }
    if let Some(p) = &d.phase {
        return Ok((phase_to_wave(p, mask, &xi, unwrap).map_err(|e| invalid(source, "/phase", e))?, "/phase"));
    }
    if let Some(i) = &d.images {
        return Ok((phase_to_wave(&i.mapv(|c| c.arg()), mask, &xi, unwrap).map_err(|e| invalid(source, "/images", e))?, "/images"));
    }
    if let Some(k) = &d.kspace {
        let images = kspace_to_images(k, d.kspace_negative.as_ref()).map_err(|e| invalid(source, "/kspace", e))?;
        return Ok((phase_to_wave(&images.mapv(|c| c.arg()), mask, &xi, unwrap).map_err(|e| invalid(source, "/kspace", e))?, "/kspace"));
    }
    Err(PipelineError::invalid(format!("{source}: no /wave, /phase, /images or /kspace to invert")))
}
