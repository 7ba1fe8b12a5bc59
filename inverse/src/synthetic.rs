//! Synthetic data sets with closed-form solutions, for tests, benchmarks and studies.

use mre_solver::model::phantom::Grid;
use mre_solver::rng::uniform01;
use mre_solver::wave::analytic::{CylinderScattering, ElasticCylinderScattering, ElasticMedium};
use ndarray::{Array3, Array5};
use num_complex::Complex64;

use crate::data::Measurements;
use crate::error::{InverseError, Result};

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

/// Adds circular complex Gaussian noise to every frequency of `wave` (`[f, c, z, y, x]`), when
/// `snr` is given: `σ` = RMS `|u|` over the frequency's components and voxels divided by the
/// SNR, sample `f · (values per frequency) + i` of `seed` for the frequency's `i`-th value in C
/// order (the noise of every generator here).
pub(crate) fn add_noise(wave: &mut Array5<Complex64>, snr: Option<f64>, seed: u64) {
    let Some(snr) = snr else { return };
    for (f, mut slice) in wave.outer_iter_mut().enumerate() {
        let len = slice.len();
        let rms = (slice.iter().map(|u| u.norm_sqr()).sum::<f64>() / len as f64).sqrt();
        let sigma = rms / snr;
        for (i, u) in slice.iter_mut().enumerate() {
            *u += complex_normal(seed, (f * len + i) as u64) * sigma;
        }
    }
}

/// The data of an inclusion generator: the measurements on `grid` (every voxel in the mask,
/// noise level not stored) and the true moduli of `labels` (1 background, 2 inclusion; each
/// `(G', G'')` in Pa).
pub(crate) fn inclusion_data(
    grid: Grid,
    frequencies_hz: &[f64],
    density_kg_m3: f64,
    wave: Array5<Complex64>,
    labels: Array3<u16>,
    background_pa: (f64, f64),
    inclusion_pa: (f64, f64),
) -> Generated {
    let storage = labels.mapv(|l| if l == 2 { inclusion_pa.0 } else { background_pa.0 });
    let loss = labels.mapv(|l| if l == 2 { inclusion_pa.1 } else { background_pa.1 });
    let s = grid.shape;
    let data = Measurements {
        grid,
        frequencies_hz: frequencies_hz.to_vec(),
        density_kg_m3,
        wave,
        mask: Array3::from_elem((s[0], s[1], s[2]), true),
        noise_std: None,
        images: None,
    };
    (data, labels, (storage, loss))
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
            let field = Array3::from_shape_fn((1, n, n), |(_, y, x)| s.total(pos(x), pos(y)) * 1e-5);
            wave.slice_mut(ndarray::s![f, 0, .., .., ..]).assign(&field);
        }
        add_noise(&mut wave, self.snr, self.seed);
        Ok(inclusion_data(grid, &self.frequencies_hz, self.density_kg_m3, wave, labels, self.background_pa, self.inclusion_pa))
    }
}

/// The vector analogue of [`BesselInclusion`]: a 2-D cylindrical inclusion in a homogeneous
/// background hit by a plane shear (SV) wave along x polarised along y, in plane strain, so that
/// mode conversion at the inclusion makes compressional waves — the exact P–SV series
/// ([`ElasticCylinderScattering`], Pao & Mow) sampled at voxel centres, both in-plane
/// components.
///
/// Compressibility: one bulk modulus `K = 2G'_b(1 + ν)/(3(1 − 2ν))` from the background's
/// storage modulus `G'_b` and [`PsvInclusion::poisson_ratio`], the same `K` in the inclusion —
/// the medium `mre_solver::wave::NavierSolver` builds from that `K` (`λ = K − 2G*/3` per voxel).
///
/// The wave array is `[frequency, component, 1, n, n]` with the components in the order of
/// [`PsvInclusion::COMPONENTS`] (`"xy"`: component 0 is `u_x`, component 1 is `u_y`), as the
/// mre-data `/acquisition` attribute `components` names them. Labels and noise follow
/// [`BesselInclusion`]: label 1 background, 2 inclusion (voxel centre inside the radius); noise
/// circular complex Gaussian with `σ` = RMS `|u|` over the grid **and both components** of a
/// frequency divided by the SNR, independent per frequency, component and voxel (sample index
/// `(f·2 + c)·n² + voxel`).
#[derive(Debug, Clone, PartialEq)]
pub struct PsvInclusion {
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
    /// Density, kg/m³ (both media).
    pub density_kg_m3: f64,
    /// Poisson ratio `ν` of the background (in `(0, 0.5)`), which sets the one bulk modulus.
    pub poisson_ratio: f64,
    /// Signal-to-noise ratio: RMS |u| over the grid and both components / noise σ (per
    /// frequency); `None`: noise-free.
    pub snr: Option<f64>,
    /// Noise seed.
    pub seed: u64,
}

impl Default for PsvInclusion {
    /// [`BesselInclusion::default`]'s geometry and moduli (128² voxels of 1.5 mm, 50/75/100 Hz,
    /// background 3 kPa + 0.6 kPa i, inclusion 6 kPa + 1.2 kPa i of radius 30 mm, SNR 20) with
    /// `ν = 0.3`.
    fn default() -> Self {
        let b = BesselInclusion::default();
        Self {
            n: b.n,
            voxel_m: b.voxel_m,
            frequencies_hz: b.frequencies_hz,
            background_pa: b.background_pa,
            inclusion_pa: b.inclusion_pa,
            radius_m: b.radius_m,
            density_kg_m3: b.density_kg_m3,
            poisson_ratio: 0.3,
            snr: b.snr,
            seed: b.seed,
        }
    }
}

impl PsvInclusion {
    /// Component letters of the wave array's component axis (mre-data `components`).
    pub const COMPONENTS: &'static str = "xy";

    /// The bulk modulus `K = 2G'_b(1 + ν)/(3(1 − 2ν))`, Pa.
    pub fn bulk_modulus_pa(&self) -> f64 {
        let nu = self.poisson_ratio;
        2.0 * self.background_pa.0 * (1.0 + nu) / (3.0 * (1.0 - 2.0 * nu))
    }

    /// The background and inclusion media of the series (one bulk modulus). Errors name the
    /// invalid parameter (ν outside `(0, 0.5)`, `K ≤ 2G'/3` in the inclusion, …).
    pub fn media(&self) -> Result<(ElasticMedium, ElasticMedium)> {
        let rho = self.density_kg_m3;
        let bg = ElasticMedium::with_poisson_ratio(self.background_pa.0, self.background_pa.1, self.poisson_ratio, rho)?;
        let incl = ElasticMedium::new(self.inclusion_pa.0, self.inclusion_pa.1, bg.bulk_modulus_pa, rho);
        incl.validate("inclusion")?;
        Ok((bg, incl))
    }

    /// The data (wave likelihood, two components `"xy"`; the noise level is not stored), the
    /// label map (1 background, 2 inclusion) and the true moduli.
    pub fn generate(&self) -> Result<Generated> {
        let n = self.n;
        let grid = Grid::new([1, n, n], [self.voxel_m; 3])?;
        let (bg, incl) = self.media()?;
        let c = (n as f64 - 1.0) / 2.0;
        let pos = |i: usize| (i as f64 - c) * self.voxel_m;
        let labels = Array3::from_shape_fn((1, n, n), |(_, y, x)| if pos(x).hypot(pos(y)) < self.radius_m { 2u16 } else { 1 });
        let mut wave = Array5::zeros((self.frequencies_hz.len(), 2, 1, n, n));
        for (f, &hz) in self.frequencies_hz.iter().enumerate() {
            let s = ElasticCylinderScattering::new(2.0 * std::f64::consts::PI * hz, bg, incl, self.radius_m)?;
            if s.series_tail() > 1e-12 {
                return Err(InverseError::invalid(
                    "PsvInclusion frequencies_hz",
                    format!("{hz} Hz (the P–SV series did not converge: relative tail {:e})", s.series_tail()),
                    "a frequency at which the series converges (|k a| up to ~150)",
                ));
            }
            let u = Array3::from_shape_fn((1, n, n), |(_, y, x)| s.displacement(pos(x), pos(y)));
            // [u_y, u_x] from the series → components "xy".
            let fields = [u.mapv(|v| v[1] * 1e-5), u.mapv(|v| v[0] * 1e-5)];
            for (comp, field) in fields.iter().enumerate() {
                wave.slice_mut(ndarray::s![f, comp, .., .., ..]).assign(field);
            }
        }
        add_noise(&mut wave, self.snr, self.seed);
        Ok(inclusion_data(grid, &self.frequencies_hz, self.density_kg_m3, wave, labels, self.background_pa, self.inclusion_pa))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(nu: f64, snr: Option<f64>) -> PsvInclusion {
        PsvInclusion {
            n: 24,
            voxel_m: 2e-3,
            frequencies_hz: vec![60.0, 90.0],
            radius_m: 0.012,
            poisson_ratio: nu,
            snr,
            ..Default::default()
        }
    }

    #[test]
    fn psv_data_are_the_series_with_components_x_then_y() {
        let spec = small(0.3, None);
        let (m, labels, (storage, _)) = spec.generate().unwrap();
        assert_eq!(m.wave.shape(), &[2, 2, 1, 24, 24]);
        assert_eq!(m.n_components(), PsvInclusion::COMPONENTS.len());
        let (bg, incl) = spec.media().unwrap();
        let s = ElasticCylinderScattering::new(2.0 * std::f64::consts::PI * 90.0, bg, incl, 0.012).unwrap();
        for (y, x) in [(0usize, 0usize), (11, 12), (5, 17), (23, 3)] {
            let u = s.displacement((x as f64 - 11.5) * 2e-3, (y as f64 - 11.5) * 2e-3);
            assert_eq!(m.wave[[1, 0, 0, y, x]], u[1] * 1e-5, "component 0 is u_x");
            assert_eq!(m.wave[[1, 1, 0, y, x]], u[0] * 1e-5, "component 1 is u_y");
        }
        // The incident wave is polarised along y: far from the inclusion u_y dominates, but
        // scattering puts energy into u_x (which a scalar model of one component cannot explain).
        let rms = |c: usize| (m.wave.slice(ndarray::s![0, c, .., .., ..]).iter().map(|u| u.norm_sqr()).sum::<f64>() / 576.0).sqrt();
        assert!(rms(1) > rms(0) && rms(0) > 0.05 * rms(1), "u_x {} vs u_y {}", rms(0), rms(1));
        let inside = labels.iter().filter(|&&l| l == 2).count();
        assert!((inside as f64 - std::f64::consts::PI * 36.0).abs() < 12.0, "{inside} inclusion voxels");
        assert_eq!(storage.iter().filter(|&&g| g == spec.inclusion_pa.0).count(), inside);
    }

    #[test]
    fn psv_noise_has_the_requested_snr_and_depends_on_the_seed() {
        for nu in [0.3, 0.4999] {
            let clean = small(nu, None).generate().unwrap().0.wave;
            let noisy = small(nu, Some(30.0)).generate().unwrap().0.wave;
            let other = PsvInclusion { seed: 2, ..small(nu, Some(30.0)) }.generate().unwrap().0.wave;
            for f in 0..2 {
                let sl = |w: &Array5<Complex64>| w.slice(ndarray::s![f, .., .., .., ..]).to_owned();
                let (c, n) = (sl(&clean), sl(&noisy));
                let signal = (c.iter().map(|u| u.norm_sqr()).sum::<f64>() / c.len() as f64).sqrt();
                let noise = (c.iter().zip(&n).map(|(a, b)| (a - b).norm_sqr()).sum::<f64>() / c.len() as f64).sqrt();
                // 1152 complex samples: the RMS of the noise is within ~5 % of σ.
                assert!((signal / noise / 30.0 - 1.0).abs() < 0.1, "ν = {nu}, f = {f}: SNR {}", signal / noise);
            }
            assert_ne!(noisy, other);
        }
    }

    #[test]
    fn psv_invalid_parameters_are_errors() {
        for nu in [0.5, 0.0, -0.1] {
            assert!(small(nu, None).generate().is_err(), "ν = {nu}");
        }
        // ν = 0.1: K = 2.44 kPa < 2·6 kPa/3 in the inclusion.
        let err = small(0.1, None).generate().unwrap_err().to_string();
        assert!(err.contains("inclusion bulk_modulus_pa"), "{err}");
    }
}
