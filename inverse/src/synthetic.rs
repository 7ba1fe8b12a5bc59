//! Synthetic data sets with closed-form solutions, for tests, benchmarks and studies.

use mre_solver::model::phantom::Grid;
use mre_solver::rng::uniform01;
use mre_solver::wave::analytic::CylinderScattering;
use ndarray::{Array3, Array5};
use num_complex::Complex64;

use crate::data::Measurements;
use crate::error::Result;

/// Circular complex Gaussian noise sample with `E|n|² = 1`, keyed by (seed, index).
pub fn complex_normal(seed: u64, index: u64) -> Complex64 {
    let u1 = uniform01(seed, index, 0x6e6f_6973_6531).max(f64::MIN_POSITIVE);
    let u2 = uniform01(seed, index, 0x6e6f_6973_6532);
    Complex64::from_polar((-u1.ln()).sqrt(), 2.0 * std::f64::consts::PI * u2)
}

/// Standard normal sample keyed by (seed, index).
pub fn standard_normal(seed: u64, index: u64) -> f64 {
    let u1 = uniform01(seed, index, 0x6e6f_726d_316c).max(f64::MIN_POSITIVE);
    let u2 = uniform01(seed, index, 0x6e6f_726d_326c);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A 2-D cylindrical inclusion in a homogeneous background, hit by a plane shear wave along x:
/// the exact Bessel-series field ([`CylinderScattering`]) sampled at voxel centres.
#[derive(Debug, Clone, PartialEq)]
pub struct BesselInclusion {
    /// Voxels per side (square `n × n` grid, one slice).
    pub n: usize,
    /// Voxel size, m.
    pub voxel_m: f64,
    /// Frequencies, Hz.
    pub frequencies_hz: Vec<f64>,
    /// Background `(G' Pa, G'' Pa)`.
    pub background_pa: (f64, f64),
    /// Inclusion `(G' Pa, G'' Pa)`.
    pub inclusion_pa: (f64, f64),
    /// Inclusion radius, m (centred in the grid).
    pub radius_m: f64,
    /// Density, kg/m³.
    pub density_kg_m3: f64,
    /// Signal-to-noise ratio: RMS |u| over the grid / noise σ (per frequency); `None`: noise-free.
    pub snr: Option<f64>,
    /// Noise seed.
    pub seed: u64,
}

impl Default for BesselInclusion {
    /// 128² voxels of 1.5 mm, 50/75/100 Hz, background 3 kPa + 0.6 kPa i, inclusion
    /// 6 kPa + 1.2 kPa i of radius 30 mm, SNR 20.
    fn default() -> Self {
        Self {
            n: 128,
            voxel_m: 1.5e-3,
            frequencies_hz: vec![50.0, 75.0, 100.0],
            background_pa: (3000.0, 600.0),
            inclusion_pa: (6000.0, 1200.0),
            radius_m: 0.03,
            density_kg_m3: 1000.0,
            snr: Some(20.0),
            seed: 1,
        }
    }
}

/// What [`BesselInclusion::generate`] returns: the data, the label map and the true moduli
/// `(G', G'')`, Pa.
pub type Generated = (Measurements, Array3<u16>, (Array3<f64>, Array3<f64>));

impl BesselInclusion {
    /// The data (wave likelihood; the noise level is not stored), the label map
    /// (1 background, 2 inclusion, voxel centre inside the radius) and the true moduli.
    pub fn generate(&self) -> Result<Generated> {
        let n = self.n;
        let grid = Grid::new([1, n, n], [self.voxel_m; 3])?;
        let c = (n as f64 - 1.0) / 2.0;
        let pos = |i: usize| (i as f64 - c) * self.voxel_m;
        let labels = Array3::from_shape_fn((1, n, n), |(_, y, x)| if pos(x).hypot(pos(y)) < self.radius_m { 2u16 } else { 1 });
        let mut wave = Array5::zeros((self.frequencies_hz.len(), 1, 1, n, n));
        for (f, &hz) in self.frequencies_hz.iter().enumerate() {
            let rho = self.density_kg_m3;
            let s = CylinderScattering::new(
                2.0 * std::f64::consts::PI * hz,
                (self.background_pa.0, self.background_pa.1, rho),
                (self.inclusion_pa.0, self.inclusion_pa.1, rho),
                self.radius_m,
            );
            let mut field = Array3::from_shape_fn((1, n, n), |(_, y, x)| s.total(pos(x), pos(y)) * 1e-5);
            if let Some(snr) = self.snr {
                let rms = (field.iter().map(|u| u.norm_sqr()).sum::<f64>() / field.len() as f64).sqrt();
                let sigma = rms / snr;
                for (i, u) in field.iter_mut().enumerate() {
                    *u += complex_normal(self.seed, (f * n * n + i) as u64) * sigma;
                }
            }
            wave.slice_mut(ndarray::s![f, 0, .., .., ..]).assign(&field);
        }
        let storage = labels.mapv(|l| if l == 2 { self.inclusion_pa.0 } else { self.background_pa.0 });
        let loss = labels.mapv(|l| if l == 2 { self.inclusion_pa.1 } else { self.background_pa.1 });
        let data = Measurements {
            grid,
            frequencies_hz: self.frequencies_hz.clone(),
            density_kg_m3: self.density_kg_m3,
            wave,
            mask: Array3::from_elem((1, n, n), true),
            noise_std: None,
            images: None,
        };
        Ok((data, labels, (storage, loss)))
    }
}
