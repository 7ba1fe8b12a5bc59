//! Time-harmonic viscoelastic scalar wave solver.
//!
//! Solves `∇·(G* ∇u) + ρ ω² u = f` on the voxel grid of a [`Grid`], with the
//! complex shear modulus `G* = G' + iG''` (Pa), density `ρ` (kg/m³), angular
//! frequency `ω` (rad/s), source density `f` (force per volume, N/m³) and the
//! complex displacement amplitude `u` (m).
//!
//! # Conventions
//! - Time dependence `u(x, t) = Re{U(x) e^{iωt}}` (see `docs/physics.md`): an
//!   outgoing wave looks like `e^{−ikx}` with `k = ω √(ρ/G*)`, `Im k ≤ 0`.
//! - Unknowns sit at voxel centres (cell-centred finite volumes), array axes
//!   `[z, y, x]`. An axis with a single voxel (`nz = 1` for 2-D, or `ny`/`nx`
//!   = 1) has no derivative along it: the problem is 2-D (or 1-D).
//! - Finite volumes ([`Scheme`]): the second-order 5-point (2-D) / 7-point (3-D)
//!   stencil, or by default the compact fourth-order scheme (below). The face
//!   coefficient between two voxels is the harmonic mean
//!   `2 G_a G_b / (G_a + G_b)` of their complex moduli, which keeps the flux
//!   `G* ∂u/∂n` continuous at material interfaces.
//! - Faces of the grid (the outer faces of the boundary voxels, half a voxel
//!   beyond their centres) are [`FaceCondition::Free`] (zero normal flux),
//!   [`FaceCondition::Fixed`] (`u = 0` on the face) or
//!   [`FaceCondition::Absorbing`] (a PML inside the grid, then `u = 0`).
//! - A [`Dirichlet`] region prescribes `u` on any set of voxels (actuator,
//!   measured boundary data); its rows are `u_v = g_v`.
//!
//! # PML
//! Complex coordinate stretching `∂/∂ξ → (1/s(ξ)) ∂/∂ξ` in the outer
//! `pml_voxels` of each absorbing face, with
//! `s(ξ) = 1 + σ(ξ)/(iω) = 1 − i α_max (d/L)²`: `d` is the depth into the layer
//! (0 at its inner edge, `L = pml_voxels · h` at the grid face). The sign is
//! the one for `e^{iωt}`: in stretched coordinates the outgoing wave becomes
//! `e^{−ik x̃}` with `x̃ = x − i∫α`, whose modulus decays as
//! `exp(−Re k ∫α dξ)`. `α_max` = [`Boundary::pml_strength`] is dimensionless
//! (`σ/ω`, independent of ω and of the medium), so the theoretical round-trip
//! normal reflection of the continuous layer is
//! `R = exp(−2 Re(k) L α_max / 3) = exp(−4π α_max (L/λ) / 3)`: it depends
//! only on the layer thickness in wavelengths. See [`pml_strength_for`].
//! The stretched equation is multiplied by `S = s_z s_y s_x`, which gives the
//! complex-symmetric form
//! `Σ_a ∂_a ( G* S/s_a² ∂_a u ) + S ρ ω² u = S f`, discretised with the same
//! harmonic-mean faces; the matrix is complex symmetric (`A = Aᵀ`), hence
//! reciprocal.
//!
//! # Accuracy
//! [`Scheme::Standard`] is second order in the voxel size. In a homogeneous
//! region its discrete plane wave along an axis is `e^{−i k_h x}` with
//! `k_h = (2/h) asin(kh/2)`: the wavelength is short by `(kh)²/24` and the
//! attenuation too large by about `(Re k h)²/8`, i.e. 1.7 % and 5 % at 10
//! voxels per wavelength (measured with 10 % loss).
//!
//! [`Scheme::Compact`] (the default) removes the leading error in
//! homogeneous regions, in every direction: it is the compact ("Mehrstellen")
//! fourth-order scheme written in flux form. Using the equation itself,
//! `G ∂⁴u/∂x_d⁴ = −ρω² ∂²u/∂x_d² − G Σ_{e≠d} ∂²∂²u/∂x_d²∂x_e²`, so the
//! truncation error of the standard stencil is cancelled by
//! - a mass correction along each axis, `ρω² (1/12) δ_d² u` (a coupling
//!   `ρω²/12` per face, with the arithmetic mean of `S ρ` of the two voxels);
//! - a cross-derivative correction on every plaquette (the 2×2 voxels around
//!   an edge) of each pair of axes, `W (δ_d δ_e u)²`-form with
//!   `W = G_P (h_d² + h_e²) / (12 h_d² h_e²)`, `G_P` the harmonic mean of the
//!   four moduli (stretched sizes `s h` and the volume stretch `S` in the PML).
//!
//! Both keep the matrix complex symmetric and the row sums of the couplings
//! zero; 9-point in 2-D, 19-point in 3-D. Clamped faces use the ghost value
//! `−u` for the corrections too; free faces need none. Measured (tests): with
//! 10 % loss at 10 voxels per wavelength the wavelength error is 3e-4 along
//! an axis and 5e-5 along the diagonal, the attenuation error 1.7e-3 and
//! 1e-5; errors fall 16-fold per halving of h (fourth order) in homogeneous
//! media. At material interfaces the scheme stays second order (staircased
//! interfaces dominate there: the Bessel-series cylinder errors are 1.06 %,
//! 0.62 %, 0.17 % at 64², 128², 256² against 1.48 %, 0.69 %, 0.19 % for the
//! standard scheme). The LU of the compact matrix costs about as much as the
//! standard one (the nested-dissection separators are the same).

pub mod analytic;
#[cfg(feature = "bench")]
mod bench;
mod cost;
mod driven;
mod face;
mod gradient;
mod iterative;
mod krylov;
mod multigrid;
mod navier;
#[cfg(feature = "bench")]
mod navier_bench;
mod operator;
mod ordering;
mod pml;
mod solver;
mod stencil;

use ndarray::Array3;
use num_complex::Complex64;

use crate::error::{Result, SolverError};
use crate::model::phantom::{Grid, Phantom};

#[cfg(feature = "bench")]
pub use bench::{bench_helmholtz_2d, bench_helmholtz_3d, bench_helmholtz_3d_iterative};
pub use cost::SolveCost;
pub use driven::{DrivenWave, WaveEquation};
pub use face::{Face, ParseFaceError, Side};
pub use gradient::{misfit_gradient, scattered_field_source, MisfitGradient};
pub use iterative::{
    IterativeOptions, IterativeSolver, KrylovMethod, SolveStats, SolverChoice, WaveSolver, AUTO_DIRECT_MAX_VOXELS_3D, IDRS_SHADOW_DIMENSION,
};
pub use multigrid::{Prolongation, Smoother};
pub use navier::{
    AffineNavierOperator, BulkModulus, NavierFields, NavierOperator, NavierSolver, TermKind, VectorDirichlet, VectorProblem,
    VoxelDerivatives,
};
pub use navier::{
    NavierIterative, NavierWaveSolver, AUTO_NAVIER_DIRECT_MAX_VOXELS_3D, DEFAULT_NAVIER_INNER_ITERATIONS,
    DEFAULT_NAVIER_INNER_ITERATIONS_WITHOUT_PML,
};
#[cfg(feature = "bench")]
pub use navier_bench::bench_navier_3d;
#[cfg(feature = "bench")]
pub use navier_bench::{bench_navier_3d_iterative, bench_navier_3d_iterative_with, BenchBoundary, IterativeBench};
pub use operator::WaveOperator;
pub use pml::{pml_strength_for, PML_PROFILE_ORDER};
pub use solver::{solve_frequencies, ScalarSolver};

/// Default [`Boundary::pml_strength`] `α_max` (dimensionless). Theoretical round-trip
/// reflection `exp(−4π·8 (L/λ)/3)`: 5e-8 for a layer half a wavelength thick. Measured
/// (normal incidence, discretisation included): below 4e-3 for layers of 10 voxels or more
/// between 6 and 60 voxels per wavelength (2e-4 for 10 voxels at 15 voxels per wavelength).
pub const DEFAULT_PML_STRENGTH: f64 = 8.0;

/// Mechanical properties on a voxel grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Medium {
    /// The voxel grid (shape `[nz, ny, nx]`, voxel size in m).
    pub grid: Grid,
    /// Storage modulus G' per voxel, Pa (> 0).
    pub storage_modulus_pa: Array3<f64>,
    /// Loss modulus G'' per voxel, Pa (≥ 0).
    pub loss_modulus_pa: Array3<f64>,
    /// Mass density ρ per voxel, kg/m³ (> 0).
    pub density_kg_m3: Array3<f64>,
}

impl Medium {
    /// A homogeneous medium: G' = `storage_pa`, G'' = `loss_pa` (Pa), ρ = `density` (kg/m³).
    pub fn homogeneous(grid: Grid, storage_pa: f64, loss_pa: f64, density: f64) -> Self {
        let sh = (grid.shape[0], grid.shape[1], grid.shape[2]);
        Self {
            grid,
            storage_modulus_pa: Array3::from_elem(sh, storage_pa),
            loss_modulus_pa: Array3::from_elem(sh, loss_pa),
            density_kg_m3: Array3::from_elem(sh, density),
        }
    }

    /// The mechanical properties of a phantom's tissues. Every voxel must have
    /// tissue (label ≠ 0): the wave equation has no meaning in empty voxels.
    pub fn from_phantom(p: &Phantom) -> Result<Self> {
        p.validate()?;
        let empty = p.labels.iter().filter(|&&l| l == 0).count();
        if empty > 0 {
            return Err(SolverError::invalid(
                "phantom label map",
                format!("{empty} voxels without tissue (label 0)"),
                "tissue in every voxel for the wave solver",
            ));
        }
        let m = Self {
            grid: p.grid.clone(),
            storage_modulus_pa: p.property_map(|t| t.storage_modulus_pa),
            loss_modulus_pa: p.property_map(|t| t.loss_modulus_pa),
            density_kg_m3: p.property_map(|t| t.density_kg_m3),
        };
        m.validate()?;
        Ok(m)
    }

    /// Check shapes against the grid and the ranges: G' > 0, G'' ≥ 0, ρ > 0, all finite.
    pub fn validate(&self) -> Result<()> {
        let sh = self.grid.shape;
        type Check<'a> = (&'a str, &'a Array3<f64>, fn(f64) -> bool, &'a str);
        let checks: [Check; 3] = [
            ("storage_modulus_pa", &self.storage_modulus_pa, |v| v > 0.0, "a positive modulus in Pa"),
            ("loss_modulus_pa", &self.loss_modulus_pa, |v| v >= 0.0, "a non-negative modulus in Pa"),
            ("density_kg_m3", &self.density_kg_m3, |v| v > 0.0, "a positive density in kg/m³"),
        ];
        for (name, a, ok, expected) in checks {
            if a.shape() != sh {
                return Err(SolverError::Shape(format!("medium {name} has shape {:?}, the grid is {sh:?}", a.shape())));
            }
            if let Some((idx, &v)) = a.indexed_iter().find(|(_, &v)| !(ok(v) && v.is_finite())) {
                return Err(SolverError::invalid(format!("medium {name}[{:?}]", [idx.0, idx.1, idx.2]), v, expected));
            }
        }
        Ok(())
    }

    /// Complex modulus `G* = G' + iG''` per voxel, Pa.
    pub fn complex_modulus(&self) -> Array3<Complex64> {
        let mut g = self.storage_modulus_pa.mapv(|v| Complex64::new(v, 0.0));
        g.zip_mut_with(&self.loss_modulus_pa, |g, &l| g.im = l);
        g
    }
}

/// Condition on one outer face of the grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaceCondition {
    /// Traction-free: zero normal flux `G* ∂u/∂n = 0`.
    Free,
    /// Clamped: `u = 0` on the face (half a voxel beyond the boundary voxel centres).
    Fixed,
    /// Perfectly matched layer in the outer [`Boundary::pml_voxels`] voxels, then `u = 0` on the face.
    Absorbing,
}

/// Conditions on the six outer faces of the grid and the PML parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Boundary {
    /// Condition per face: `faces[axis][side]`, axis in `[z, y, x]` order, side 0 = low index, 1 = high index.
    /// Faces of axes with a single voxel are ignored (no derivative along them).
    pub faces: [[FaceCondition; 2]; 3],
    /// Thickness of the PML of every absorbing face, voxels (at most half the voxels along that axis).
    pub pml_voxels: usize,
    /// Peak stretching `α_max = σ_max/ω` (dimensionless, ≥ 0) of the quadratic PML profile
    /// `s = 1 − i α_max (d/L)²`. Theoretical round-trip reflection `exp(−4π α_max (L/λ)/3)`;
    /// see [`pml_strength_for`] and [`DEFAULT_PML_STRENGTH`].
    pub pml_strength: f64,
}

impl Boundary {
    /// PML of `pml_voxels` voxels on every face (the default strength).
    pub fn absorbing(pml_voxels: usize) -> Self {
        Self { faces: [[FaceCondition::Absorbing; 2]; 3], pml_voxels, pml_strength: DEFAULT_PML_STRENGTH }
    }

    /// Every face traction-free.
    pub fn free() -> Self {
        Self { faces: [[FaceCondition::Free; 2]; 3], pml_voxels: 0, pml_strength: DEFAULT_PML_STRENGTH }
    }

    /// Every face clamped (`u = 0`).
    pub fn fixed() -> Self {
        Self { faces: [[FaceCondition::Fixed; 2]; 3], pml_voxels: 0, pml_strength: DEFAULT_PML_STRENGTH }
    }

    /// This boundary with face `side` (0 = low, 1 = high) of `axis` (`[z, y, x]` order) set to `condition`.
    ///
    /// # Panics
    /// If `axis > 2` or `side > 1`.
    pub fn with_face(mut self, axis: usize, side: usize, condition: FaceCondition) -> Self {
        self.faces[axis][side] = condition;
        self
    }

    /// Check the PML parameters against a grid: `pml_strength` finite and ≥ 0; along every axis with
    /// more than one voxel and an absorbing face, the layer is at most half the grid.
    pub fn validate(&self, grid: &Grid) -> Result<()> {
        if !(self.pml_strength >= 0.0 && self.pml_strength.is_finite()) {
            return Err(SolverError::invalid("pml_strength", self.pml_strength, "a finite, non-negative number"));
        }
        for (a, &n) in grid.shape.iter().enumerate() {
            let absorbing = self.faces[a].contains(&FaceCondition::Absorbing);
            if n > 1 && absorbing && 2 * self.pml_voxels > n {
                return Err(SolverError::invalid(
                    "pml_voxels",
                    self.pml_voxels,
                    format!("at most half the {n} voxels along absorbing axis {}", ["z", "y", "x"][a]),
                ));
            }
        }
        Ok(())
    }
}

impl Default for Boundary {
    /// A 10-voxel PML on every face.
    fn default() -> Self {
        Self::absorbing(10)
    }
}

/// Prescribed displacement on a set of voxels (an actuator, or measured boundary values for inversion).
#[derive(Clone, Debug)]
pub struct Dirichlet {
    /// Voxels where `u` is prescribed, shape `[nz, ny, nx]`.
    pub mask: Array3<bool>,
    /// The prescribed complex amplitude (m) where `mask` is true (ignored elsewhere), shape `[nz, ny, nx]`.
    pub values: Array3<Complex64>,
}

impl Dirichlet {
    /// Prescribe `value` on the plane of voxels with index `index` along `axis` (`[z, y, x]` order),
    /// e.g. the `x`-low column of a 2-D grid: `Dirichlet::plane(&grid, 2, 0, 1e-6.into())`.
    ///
    /// # Panics
    /// If `axis > 2` or `index` is outside the grid.
    pub fn plane(grid: &Grid, axis: usize, index: usize, value: Complex64) -> Self {
        assert!(axis < 3 && index < grid.shape[axis], "plane {index} of axis {axis} is outside the grid {:?}", grid.shape);
        let sh = (grid.shape[0], grid.shape[1], grid.shape[2]);
        let mask = Array3::from_shape_fn(sh, |(z, y, x)| [z, y, x][axis] == index);
        let values = mask.mapv(|m| if m { value } else { Complex64::new(0.0, 0.0) });
        Self { mask, values }
    }

    /// Check shapes against the grid and that every prescribed value is finite.
    pub fn validate(&self, grid: &Grid) -> Result<()> {
        let sh = grid.shape;
        for (name, shape) in [("mask", self.mask.shape()), ("values", self.values.shape())] {
            if shape != sh {
                return Err(SolverError::Shape(format!("Dirichlet {name} has shape {shape:?}, the grid is {sh:?}")));
            }
        }
        if let Some((idx, v)) =
            self.values.indexed_iter().zip(self.mask.iter()).find_map(|((i, v), &m)| (m && !finite(*v)).then_some((i, v)))
        {
            return Err(SolverError::invalid(
                format!("Dirichlet value [{}, {}, {}]", idx.0, idx.1, idx.2),
                v,
                "a finite displacement in m",
            ));
        }
        Ok(())
    }
}

/// Spatial discretisation of the scalar operator (see the module docs, "Accuracy").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scheme {
    /// Second-order finite volumes: the 5-point (2-D) / 7-point (3-D) stencil.
    Standard,
    /// Compact fourth-order scheme in homogeneous regions (9-point in 2-D, 19-point in 3-D):
    /// the standard stencil plus a mass correction along the axes and a cross-derivative
    /// correction on the plaquettes of each pair of axes; second order at interfaces.
    #[default]
    Compact,
}

/// One time-harmonic problem: medium, frequency, boundary and prescribed values.
#[derive(Clone, Debug)]
pub struct ScalarProblem<'a> {
    /// The medium (and grid).
    pub medium: &'a Medium,
    /// Angular frequency ω, rad/s (> 0).
    pub omega_rad_per_s: f64,
    /// Outer face conditions and PML.
    pub boundary: Boundary,
    /// Prescribed `u` on a set of voxels, if any.
    pub dirichlet: Option<Dirichlet>,
    /// Spatial discretisation.
    pub scheme: Scheme,
}

impl<'a> ScalarProblem<'a> {
    /// The problem of `medium` at angular frequency `omega_rad_per_s` (rad/s) with `boundary`,
    /// no Dirichlet data and the default [`Scheme`].
    pub fn new(medium: &'a Medium, omega_rad_per_s: f64, boundary: Boundary) -> Self {
        Self { medium, omega_rad_per_s, boundary, dirichlet: None, scheme: Scheme::default() }
    }

    /// The same problem with prescribed values `dirichlet`.
    pub fn with_dirichlet(self, dirichlet: Dirichlet) -> Self {
        Self { dirichlet: Some(dirichlet), ..self }
    }

    /// The same problem with the discretisation `scheme`.
    pub fn with_scheme(self, scheme: Scheme) -> Self {
        Self { scheme, ..self }
    }

    /// Check the medium, ω, the boundary and the Dirichlet data.
    pub fn validate(&self) -> Result<()> {
        self.medium.validate()?;
        let w = self.omega_rad_per_s;
        if !(w > 0.0 && w.is_finite()) {
            return Err(SolverError::invalid("omega_rad_per_s", w, "a positive angular frequency in rad/s"));
        }
        self.boundary.validate(&self.medium.grid)?;
        if let Some(d) = &self.dirichlet {
            d.validate(&self.medium.grid)?;
        }
        Ok(())
    }
}

pub(crate) fn finite(z: Complex64) -> bool {
    z.re.is_finite() && z.im.is_finite()
}

/// Check that a field has the grid's shape and finite entries.
pub(crate) fn check_field(name: &str, f: &Array3<Complex64>, grid: &Grid) -> Result<()> {
    if f.shape() != grid.shape {
        return Err(SolverError::Shape(format!("{name} has shape {:?}, the grid is {:?}", f.shape(), grid.shape)));
    }
    if let Some((idx, v)) = f.indexed_iter().find(|(_, v)| !finite(**v)) {
        return Err(SolverError::invalid(format!("{name}[{}, {}, {}]", idx.0, idx.1, idx.2), v, "a finite complex number"));
    }
    Ok(())
}
