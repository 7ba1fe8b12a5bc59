//! Vector test data from the Navier solver on a 2× finer grid (no inverse crime): plane strain
//! ([`PlaneStrainInclusion`]) and 3-D ([`SphereInclusion`]).

use mre_solver::model::phantom::Grid;
use mre_solver::wave::{Boundary, Medium, NavierSolver, VectorDirichlet, VectorProblem};
use ndarray::{Array3, Array5};
use num_complex::Complex64;

use crate::error::Result;
use crate::synthetic::{add_noise, inclusion_data, Generated};

/// A 2-D cylindrical inclusion in a homogeneous background (plane strain, one slice), hit by
/// a plane shear wave along x (a line actuator left of the field of view moving along y, as
/// in the P–SV scattering problem of Pao & Mow): the inclusion scatters shear and
/// compressional waves, so both in-plane components carry signal. The field is solved with
/// [`NavierSolver`] on a grid twice as fine with absorbing layers around it, and each data
/// voxel is the mean of the centre displacements of its 2×2 fine voxels, so the data do not
/// come from the discretisation an inversion on the data grid uses.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaneStrainInclusion {
    /// Data voxels per side (square `n × n` field of view, one slice).
    pub n: usize,
    /// Data voxel size, m.
    pub voxel_m: f64,
    /// Frequencies, Hz.
    pub frequencies_hz: Vec<f64>,
    /// Background `(G' Pa, G'' Pa)`.
    pub background_pa: (f64, f64),
    /// Inclusion `(G' Pa, G'' Pa)`.
    pub inclusion_pa: (f64, f64),
    /// Inclusion radius, m (centred in the field of view).
    pub radius_m: f64,
    /// Bulk modulus K (Pa), the same everywhere (> 2G'/3 in both materials).
    pub bulk_modulus_pa: f64,
    /// Density, kg/m³.
    pub density_kg_m3: f64,
    /// Signal-to-noise ratio: RMS |u| over the grid and both components / noise σ (per
    /// frequency); `None`: noise-free.
    pub snr: Option<f64>,
    /// Noise seed.
    pub seed: u64,
}

impl PlaneStrainInclusion {
    /// The bulk modulus giving Poisson ratio `nu` to a material of shear modulus `g_pa`:
    /// `K = G · 2(1 + ν) / (3(1 − 2ν))`, Pa.
    pub fn bulk_for_poisson(g_pa: f64, nu: f64) -> f64 {
        g_pa * 2.0 * (1.0 + nu) / (3.0 * (1.0 - 2.0 * nu))
    }

    /// The data (components `"xy"`: `wave[:, 0]` is `u_x`, `wave[:, 1]` is `u_y`; the noise
    /// level is not stored), the label map (1 background, 2 inclusion: data-voxel centre inside
    /// the radius) and the true moduli on the data grid.
    pub fn generate(&self) -> Result<Generated> {
        let n = self.n;
        let pml = 12;
        let margin = pml + 2;
        let nf = 2 * n + 2 * margin;
        let hf = self.voxel_m / 2.0;
        let fine = Grid::new([1, nf, nf], [hf; 3])?;
        // Fine voxel i's centre relative to the field of view's centre.
        let centre = margin as f64 + n as f64 - 0.5;
        let fpos = |i: usize| (i as f64 - centre) * hf;
        let inside = |y: usize, x: usize| fpos(x).hypot(fpos(y)) < self.radius_m;
        let mut medium = Medium::homogeneous(fine.clone(), self.background_pa.0, self.background_pa.1, self.density_kg_m3);
        for y in 0..nf {
            for x in 0..nf {
                if inside(y, x) {
                    medium.storage_modulus_pa[[0, y, x]] = self.inclusion_pa.0;
                    medium.loss_modulus_pa[[0, y, x]] = self.inclusion_pa.1;
                }
            }
        }
        let amplitude = 1e-5;
        let drive = VectorDirichlet::from_fn(
            &fine,
            |i| i[2] == pml,
            |_| [Complex64::new(0.0, 0.0), Complex64::new(amplitude, 0.0), Complex64::new(0.0, 0.0)],
        );
        let mut wave = Array5::zeros((self.frequencies_hz.len(), 2, 1, n, n));
        for (f, &hz) in self.frequencies_hz.iter().enumerate() {
            let p = VectorProblem {
                medium: &medium,
                bulk_modulus_pa: self.bulk_modulus_pa.into(),
                omega_rad_per_s: 2.0 * std::f64::consts::PI * hz,
                boundary: Boundary::absorbing(pml),
                dirichlet: Some(drive.clone()),
            };
            let zero = Array3::zeros((1, nf, nf));
            let u = NavierSolver::new(&p)?.solve(&[zero.clone(), zero.clone(), zero])?;
            for (c, axis) in [2usize, 1].into_iter().enumerate() {
                for y in 0..n {
                    for x in 0..n {
                        let (fy, fx) = (margin + 2 * y, margin + 2 * x);
                        let s = u[axis][[0, fy, fx]] + u[axis][[0, fy + 1, fx]] + u[axis][[0, fy, fx + 1]] + u[axis][[0, fy + 1, fx + 1]];
                        wave[[f, c, 0, y, x]] = s / 4.0;
                    }
                }
            }
        }
        add_noise(&mut wave, self.snr, self.seed);
        let c = (n as f64 - 1.0) / 2.0;
        let pos = |i: usize| (i as f64 - c) * self.voxel_m;
        let labels = Array3::from_shape_fn((1, n, n), |(_, y, x)| if pos(x).hypot(pos(y)) < self.radius_m { 2u16 } else { 1 });
        let grid = Grid::new([1, n, n], [self.voxel_m; 3])?;
        Ok(inclusion_data(grid, &self.frequencies_hz, self.density_kg_m3, wave, labels, self.background_pa, self.inclusion_pa))
    }
}

/// The 3-D analogue of [`PlaneStrainInclusion`]: a spherical inclusion in a homogeneous
/// background, three displacement components, solved with [`NavierSolver`] on a grid twice as
/// fine and averaged over each data voxel's 2×2×2 fine voxels (no inverse crime). The fine
/// box's outer voxel layer is driven with a plane shear wave along x polarised along y
/// (`u_y = A e^{−ikx}`, `k` the background's complex shear wavenumber); the inclusion scatters
/// shear and compressional waves, which the box's walls reflect (a valid solution of the Navier
/// equation all the same: the inversion prescribes the measured boundary). Sizes are kept small
/// by the direct solve of the fine grid (`(2n)³` voxels; 20³ takes about 1 GB).
#[derive(Debug, Clone, PartialEq)]
pub struct SphereInclusion {
    /// Data voxels per side (cubic `n³` field of view).
    pub n: usize,
    /// Data voxel size, m.
    pub voxel_m: f64,
    /// Frequencies, Hz.
    pub frequencies_hz: Vec<f64>,
    /// Background `(G' Pa, G'' Pa)`.
    pub background_pa: (f64, f64),
    /// Inclusion `(G' Pa, G'' Pa)`.
    pub inclusion_pa: (f64, f64),
    /// Inclusion radius, m (centred in the field of view).
    pub radius_m: f64,
    /// Bulk modulus K (Pa), the same everywhere.
    pub bulk_modulus_pa: f64,
    /// Density, kg/m³.
    pub density_kg_m3: f64,
    /// Signal-to-noise ratio: RMS |u| over the grid and the three components / noise σ (per
    /// frequency); `None`: noise-free.
    pub snr: Option<f64>,
    /// Noise seed.
    pub seed: u64,
}

impl SphereInclusion {
    /// Component letters of the wave array's component axis (mre-data `components`):
    /// `wave[:, 0]` is `u_x`, `wave[:, 1]` is `u_y`, `wave[:, 2]` is `u_z`.
    pub const COMPONENTS: &'static str = "xyz";

    /// The data (components [`SphereInclusion::COMPONENTS`]; the noise level is not stored), the
    /// label map (1 background, 2 inclusion: data-voxel centre inside the radius) and the true
    /// moduli on the data grid.
    pub fn generate(&self) -> Result<Generated> {
        let n = self.n;
        let nf = 2 * n;
        let hf = self.voxel_m / 2.0;
        let fine = Grid::new([nf; 3], [hf; 3])?;
        let centre = n as f64 - 0.5;
        let fpos = |i: usize| (i as f64 - centre) * hf;
        let mut medium = Medium::homogeneous(fine.clone(), self.background_pa.0, self.background_pa.1, self.density_kg_m3);
        for ((z, y, x), g) in medium.storage_modulus_pa.indexed_iter_mut() {
            if (fpos(z).powi(2) + fpos(y).powi(2) + fpos(x).powi(2)).sqrt() < self.radius_m {
                *g = self.inclusion_pa.0;
                medium.loss_modulus_pa[[z, y, x]] = self.inclusion_pa.1;
            }
        }
        let amplitude = 1e-5;
        let g_b = Complex64::new(self.background_pa.0, self.background_pa.1);
        let outer = |i: [usize; 3]| i.iter().any(|&k| k == 0 || k == nf - 1);
        let mut wave = Array5::zeros((self.frequencies_hz.len(), 3, n, n, n));
        for (f, &hz) in self.frequencies_hz.iter().enumerate() {
            let omega = 2.0 * std::f64::consts::PI * hz;
            let k = omega * (self.density_kg_m3 / g_b).sqrt();
            let drive = VectorDirichlet::from_fn(&fine, outer, |i| {
                let u = (Complex64::new(0.0, -1.0) * k * fpos(i[2])).exp() * amplitude;
                [Complex64::new(0.0, 0.0), u, Complex64::new(0.0, 0.0)]
            });
            let p = VectorProblem {
                medium: &medium,
                bulk_modulus_pa: self.bulk_modulus_pa.into(),
                omega_rad_per_s: omega,
                boundary: Boundary::free(),
                dirichlet: Some(drive),
            };
            let zero = Array3::zeros((nf, nf, nf));
            let u = NavierSolver::new(&p)?.solve(&[zero.clone(), zero.clone(), zero])?;
            for (c, axis) in [2usize, 1, 0].into_iter().enumerate() {
                for ((z, y, x), w) in wave.slice_mut(ndarray::s![f, c, .., .., ..]).indexed_iter_mut() {
                    let mut s = Complex64::new(0.0, 0.0);
                    for (dz, dy, dx) in (0..8).map(|b| (b >> 2, (b >> 1) & 1, b & 1)) {
                        s += u[axis][[2 * z + dz, 2 * y + dy, 2 * x + dx]];
                    }
                    *w = s / 8.0;
                }
            }
        }
        add_noise(&mut wave, self.snr, self.seed);
        let c = (n as f64 - 1.0) / 2.0;
        let pos = |i: usize| (i as f64 - c) * self.voxel_m;
        let labels = Array3::from_shape_fn((n, n, n), |(z, y, x)| {
            if (pos(z).powi(2) + pos(y).powi(2) + pos(x).powi(2)).sqrt() < self.radius_m {
                2u16
            } else {
                1
            }
        });
        let grid = Grid::new([n; 3], [self.voxel_m; 3])?;
        Ok(inclusion_data(grid, &self.frequencies_hz, self.density_kg_m3, wave, labels, self.background_pa, self.inclusion_pa))
    }
}
