//! Measured MRE data as the inversion sees it (no file formats here).

use mre_solver::model::phantom::Grid;
use ndarray::{Array3, Array5, Array6, Axis};
use num_complex::Complex64;

use crate::error::{InverseError, Result};

/// Complex MR images of the motion-encoded acquisitions, for the image likelihood.
#[derive(Debug, Clone)]
pub struct EncodedImages {
    /// `I[f, c, k, z, y, x]`: magnitude × e^{iφ} at mechanical phase offset `θ_k = 2πk/N`,
    /// background phase removed, `φ_k = Re{ξ_f U e^{iθ_k}}` (`docs/mre-data-format.md`).
    pub images: Array6<Complex64>,
    /// Complex encoding efficiency ξ per frequency, rad/m.
    pub encoding_rad_per_m: Vec<Complex64>,
}

/// One MRE data set: first-harmonic displacement fields on a voxel grid, a mask, and
/// optionally the complex images they were reconstructed from.
#[derive(Debug, Clone)]
pub struct Measurements {
    /// The voxel grid (`[nz, ny, nx]`, voxel size in m).
    pub grid: Grid,
    /// Mechanical frequencies, Hz.
    pub frequencies_hz: Vec<f64>,
    /// Tissue density, kg/m³ (1000 for soft tissue).
    pub density_kg_m3: f64,
    /// `U[f, c, z, y, x]`: complex displacement amplitude per frequency and component, m.
    pub wave: Array5<Complex64>,
    /// Voxels with data (true = tissue with a usable measurement).
    pub mask: Array3<bool>,
    /// Known noise standard deviation of the complex wave per frequency (m, `E|n|² = σ²`),
    /// or `None` to infer it.
    pub noise_std: Option<Vec<f64>>,
    /// The complex images, when available (image likelihood).
    pub images: Option<EncodedImages>,
}

impl Measurements {
    /// Number of frequencies.
    pub fn n_frequencies(&self) -> usize {
        self.frequencies_hz.len()
    }

    /// Number of displacement components.
    pub fn n_components(&self) -> usize {
        self.wave.len_of(Axis(1))
    }

    /// The field of frequency `f` and component `c`.
    pub fn field(&self, f: usize, c: usize) -> Array3<Complex64> {
        self.wave.index_axis(Axis(0), f).index_axis(Axis(0), c).to_owned()
    }

    /// Check shapes, finiteness and that there is something to fit. Errors name the
    /// dataset (`/wave`, `/mask`, …) and what was expected.
    pub fn validate(&self) -> Result<()> {
        let s = self.grid.shape;
        let nf = self.frequencies_hz.len();
        if nf == 0 {
            return Err(InverseError::invalid("/frequencies_hz", "no frequencies", "at least one mechanical frequency"));
        }
        if let Some(f) = self.frequencies_hz.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
            return Err(InverseError::invalid("/frequencies_hz", f, "positive frequencies in Hz"));
        }
        if !(self.density_kg_m3.is_finite() && self.density_kg_m3 > 0.0) {
            return Err(InverseError::invalid("density_kg_m3", self.density_kg_m3, "a positive density in kg/m³"));
        }
        let ws = self.wave.shape();
        if ws[0] != nf || ws[2..] != s[..] || ws[1] == 0 {
            return Err(InverseError::invalid(
                "/wave",
                format!("shape {ws:?}"),
                format!("[{nf}, ncomp ≥ 1, {}, {}, {}] (frequencies, components, grid)", s[0], s[1], s[2]),
            ));
        }
        if self.mask.shape() != s {
            return Err(InverseError::invalid("/mask", format!("shape {:?}", self.mask.shape()), format!("the grid shape {s:?}")));
        }
        let masked = self.mask.iter().filter(|&&m| m).count();
        if masked == 0 {
            return Err(InverseError::invalid("/mask", "every voxel is masked out", "some voxels with data (mask = 1)"));
        }
        for f in 0..nf {
            for c in 0..ws[1] {
                let field = self.wave.index_axis(Axis(0), f);
                let field = field.index_axis(Axis(0), c);
                let bad = field.iter().zip(&self.mask).filter(|(u, &m)| m && !(u.re.is_finite() && u.im.is_finite())).count();
                if bad > 0 {
                    return Err(InverseError::invalid(
                        "/wave",
                        format!("{bad} non-finite values (NaN or infinite) inside the mask at frequency {f}, component {c}"),
                        "finite displacements wherever /mask is 1 (mask such voxels out)",
                    ));
                }
            }
        }
        if let Some(n) = &self.noise_std {
            if n.len() != nf || n.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(InverseError::invalid("/noise_std", format!("{n:?}"), format!("{nf} positive values (one per frequency)")));
            }
        }
        if let Some(im) = &self.images {
            let is = im.images.shape();
            if is[0] != nf || is[1] != ws[1] || is[2] < 3 || is[3..] != s[..] {
                return Err(InverseError::invalid(
                    "/images",
                    format!("shape {is:?}"),
                    format!("[{nf}, {}, noffsets ≥ 3, {}, {}, {}]", ws[1], s[0], s[1], s[2]),
                ));
            }
            if im.encoding_rad_per_m.len() != nf || im.encoding_rad_per_m.iter().any(|x| !(x.norm().is_finite() && x.norm() > 0.0)) {
                return Err(InverseError::invalid(
                    "encoding_efficiency_rad_per_m",
                    format!("{:?}", im.encoding_rad_per_m),
                    format!("{nf} non-zero values"),
                ));
            }
            let bad = im.images.outer_iter().flat_map(|a| a.into_iter()).filter(|v| !(v.re.is_finite() && v.im.is_finite())).count();
            if bad > 0 {
                return Err(InverseError::invalid("/images", format!("{bad} non-finite values"), "finite complex images"));
            }
        }
        Ok(())
    }
}
