//! Iterative solver of the scalar wave problem: Krylov iterations preconditioned by a complex
//! shifted-Laplacian multigrid V-cycle (see `multigrid.rs`), for 3-D grids too large for the
//! sparse LU of [`ScalarSolver`].

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::Array3;
use num_complex::Complex64;

use super::krylov;
use super::multigrid::{Multigrid, MultigridParams, Prolongation, Smoother};
use super::stencil::Stencil;
use super::{check_field, ScalarProblem, ScalarSolver};
use crate::error::{Result, SolverError};
use crate::model::phantom::Grid;

const ZERO: Complex64 = Complex64 { re: 0.0, im: 0.0 };

/// Krylov method of [`IterativeSolver`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KrylovMethod {
    /// Right-preconditioned restarted GMRES([`IterativeOptions::restart`]): one V-cycle per
    /// iteration, monotone true residual, `restart + 1` stored vectors.
    #[default]
    Gmres,
    /// Right-preconditioned BiCGStab: two V-cycles per iteration, short recurrences; faster on
    /// the homogeneous benchmark but it stagnates on heterogeneous problems with Dirichlet data.
    BiCgStab,
    /// Right-preconditioned IDR(s) with bi-orthogonalisation, `s` = [`IDRS_SHADOW_DIMENSION`]:
    /// one V-cycle per iteration and `3s + 4` stored vectors, short recurrences like BiCGStab,
    /// iteration counts close to unrestarted GMRES on wave problems.
    Idrs,
}

/// The dimension `s` of the shadow space of [`KrylovMethod::Idrs`].
pub const IDRS_SHADOW_DIMENSION: usize = 4;

/// Parameters of [`IterativeSolver`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IterativeOptions {
    /// Stop when the residual of the linear system, relative to its right-hand side, is at most
    /// this (default 1e-8).
    pub tolerance: f64,
    /// Maximum number of Krylov iterations (preconditioner applications for GMRES) per solve
    /// (default 500); beyond it the solve returns [`SolverError::NotConverged`].
    pub max_iterations: usize,
    /// Shift `β` of the preconditioner: the V-cycle approximates the operator with
    /// `ω² → ω²(1 − iβ)` (default 0.5). Larger shifts make the V-cycle converge better but
    /// approximate the wave operator worse.
    pub shift: f64,
    /// Krylov method (default GMRES).
    pub method: KrylovMethod,
    /// GMRES restart length (default 30).
    pub restart: usize,
    /// Damped Jacobi sweeps before and after each coarse-grid correction (default 2).
    pub smoothing_sweeps: usize,
    /// Smoother (default damped Jacobi).
    pub smoother: Smoother,
    /// Damping (relaxation) weight of the smoother (default 0.7, for Jacobi; use about 1 with
    /// red-black Gauss–Seidel).
    pub jacobi_weight: f64,
    /// Prolongation of the coarse-grid correction (default trilinear).
    pub prolongation: Prolongation,
    /// Coarsening stops at this many unknowns (default 5000); the coarsest level is solved by LU.
    pub coarsest_unknowns: usize,
    /// PML strength `α_max` of the preconditioner's operator (default: that of the problem).
    pub preconditioner_pml_strength: Option<f64>,
}

impl Default for IterativeOptions {
    fn default() -> Self {
        Self {
            tolerance: 1e-8,
            max_iterations: 500,
            shift: 0.5,
            method: KrylovMethod::Gmres,
            restart: 30,
            smoothing_sweeps: 2,
            smoother: Smoother::Jacobi,
            jacobi_weight: 0.7,
            prolongation: Prolongation::Trilinear,
            coarsest_unknowns: 5000,
            preconditioner_pml_strength: None,
        }
    }
}

impl IterativeOptions {
    /// Check the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.tolerance > 0.0 && self.tolerance < 1.0) {
            return Err(SolverError::invalid("tolerance", self.tolerance, "a relative residual in (0, 1)"));
        }
        if self.max_iterations == 0 {
            return Err(SolverError::invalid("max_iterations", 0, "at least 1"));
        }
        if !(self.shift >= 0.0 && self.shift.is_finite()) {
            return Err(SolverError::invalid("shift", self.shift, "a finite, non-negative number (about 0.5)"));
        }
        if self.restart == 0 {
            return Err(SolverError::invalid("restart", 0, "at least 1"));
        }
        if self.smoothing_sweeps == 0 {
            return Err(SolverError::invalid("smoothing_sweeps", 0, "at least 1"));
        }
        if !(self.jacobi_weight > 0.0 && self.jacobi_weight <= 1.5) {
            return Err(SolverError::invalid("jacobi_weight", self.jacobi_weight, "a relaxation weight in (0, 1.5]"));
        }
        if self.coarsest_unknowns == 0 {
            return Err(SolverError::invalid("coarsest_unknowns", 0, "at least 1"));
        }
        Ok(())
    }
}

/// Outcome of one iterative solve.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SolveStats {
    /// Krylov iterations.
    pub iterations: usize,
    /// Preconditioner applications (V-cycles).
    pub preconditioner_applications: usize,
    /// Final relative residual of the linear system.
    pub relative_residual: f64,
}

/// Iterative solver of a [`ScalarProblem`]: the same linear system as [`ScalarSolver`]
/// (`A u = f`, Dirichlet voxels `u = g`), solved by right-preconditioned Krylov iterations.
///
/// The system actually iterated on is the complex-symmetric one `ScalarSolver` factorises:
/// `K_FF u_F = S f_F − K_FD g` on the free voxels `F` (`K` the operator multiplied by the PML
/// volume stretch `S`); the tolerance applies to its residual relative to its right-hand side.
/// The preconditioner is one V-cycle of a complex shifted-Laplacian multigrid
/// (`ω² → ω²(1 − iβ)`, rediscretised on grids coarsened by 2, damped Jacobi smoothing, LU on the
/// coarsest grid). Adjoint solves use `Kᴴ = conj(K)`: `K⁻ᴴ r = conj(K⁻¹ conj(r))`.
///
/// Cost (benchmark problem of `bench_helmholtz_3d_iterative` (feature `bench`), one thread):
/// see the README benchmark section; memory is a few dozen grid-sized complex vectors.
/// Single-threaded and deterministic (the same result on every machine and thread count).
pub struct IterativeSolver {
    grid: Grid,
    stencil: Stencil,
    /// Dirichlet mask and values, flattened in C order.
    dirichlet: Option<(Vec<bool>, Vec<Complex64>)>,
    mg: Multigrid,
    options: IterativeOptions,
    last_iterations: AtomicUsize,
}

impl std::fmt::Debug for IterativeSolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IterativeSolver")
            .field("grid", &self.grid)
            .field("options", &self.options)
            .field("levels", &self.mg.shapes())
            .finish_non_exhaustive()
    }
}

impl IterativeSolver {
    /// Assemble `p` and build its preconditioner with the default [`IterativeOptions`].
    pub fn new(p: &ScalarProblem) -> Result<Self> {
        Self::with_options(p, IterativeOptions::default())
    }

    /// Assemble `p` and build its preconditioner with `options`.
    pub fn with_options(p: &ScalarProblem, options: IterativeOptions) -> Result<Self> {
        p.validate()?;
        options.validate()?;
        let stencil = Stencil::for_problem(p);
        let dirichlet = p.dirichlet.as_ref().map(|d| (d.mask.iter().copied().collect::<Vec<bool>>(), d.values.iter().copied().collect()));
        let params = MultigridParams {
            shift: options.shift,
            sweeps: options.smoothing_sweeps,
            smoother: options.smoother,
            jacobi_weight: options.jacobi_weight,
            prolongation: options.prolongation,
            coarsest_unknowns: options.coarsest_unknowns,
            pml_strength: options.preconditioner_pml_strength,
        };
        let mg = Multigrid::new(p, params)?;
        Ok(Self { grid: p.medium.grid.clone(), stencil, dirichlet, mg, options, last_iterations: AtomicUsize::new(0) })
    }

    /// Number of unknowns (voxels).
    pub fn len(&self) -> usize {
        self.stencil.len()
    }

    /// Never true (a grid has at least one voxel).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The options.
    pub fn options(&self) -> &IterativeOptions {
        &self.options
    }

    /// Grid shapes of the multigrid hierarchy, fine to coarsest.
    pub fn levels(&self) -> Vec<[usize; 3]> {
        self.mg.shapes()
    }

    /// Krylov iterations of the most recent solve (forward or adjoint) of this solver.
    pub fn last_iterations(&self) -> usize {
        self.last_iterations.load(Ordering::Relaxed)
    }

    fn is_fixed(&self, i: usize) -> bool {
        self.dirichlet.as_ref().is_some_and(|(m, _)| m[i])
    }

    /// Solve `A u = f` like [`ScalarSolver::solve`]: `source` is the source density `f`; at
    /// Dirichlet voxels `u` takes the prescribed values and `source` is ignored.
    pub fn solve(&self, source: &Array3<Complex64>) -> Result<Array3<Complex64>> {
        self.solve_with_stats(source).map(|(u, _)| u)
    }

    /// [`IterativeSolver::solve`], with the iteration count and final residual.
    pub fn solve_with_stats(&self, source: &Array3<Complex64>) -> Result<(Array3<Complex64>, SolveStats)> {
        check_field("source", source, &self.grid)?;
        let mut b: Vec<Complex64> = source.iter().zip(&self.stencil.scale).map(|(f, s)| f * s).collect();
        let mut ug = vec![ZERO; self.len()];
        if let Some((mask, g)) = &self.dirichlet {
            for (i, u) in ug.iter_mut().enumerate() {
                if mask[i] {
                    *u = g[i];
                }
            }
            let mut coupling = vec![ZERO; self.len()];
            self.stencil.apply(&ug, &mut coupling);
            for (i, bi) in b.iter_mut().enumerate() {
                *bi = if mask[i] { ZERO } else { *bi - coupling[i] };
            }
        }
        let (x, stats) = self.solve_free(&b)?;
        let u: Vec<Complex64> = x.iter().zip(&ug).enumerate().map(|(i, (x, g))| if self.is_fixed(i) { *g } else { *x }).collect();
        Ok((self.to_array(u), stats))
    }

    /// Solve `Aᴴ λ = rhs` like [`ScalarSolver::solve_adjoint`]: `⟨λ, A u⟩ = ⟨rhs, u⟩` for every `u`
    /// (to the tolerance), with `⟨a, b⟩ = Σ conj(a) b`.
    pub fn solve_adjoint(&self, rhs: &Array3<Complex64>) -> Result<Array3<Complex64>> {
        self.solve_adjoint_with_stats(rhs).map(|(l, _)| l)
    }

    /// [`IterativeSolver::solve_adjoint`], with the iteration count and final residual.
    pub fn solve_adjoint_with_stats(&self, rhs: &Array3<Complex64>) -> Result<(Array3<Complex64>, SolveStats)> {
        check_field("adjoint right-hand side", rhs, &self.grid)?;
        let r: Vec<Complex64> = rhs.iter().copied().collect();
        // As in ScalarSolver: μ = K_FF⁻ᴴ r_F, λ_F = conj(S) μ, λ_D = r_D − (K_DF μ)ᴴ... with K
        // complex symmetric, K_FF⁻ᴴ r = conj(K_FF⁻¹ conj(r)).
        let b: Vec<Complex64> = (0..self.len()).map(|i| if self.is_fixed(i) { ZERO } else { r[i].conj() }).collect();
        let (x, stats) = self.solve_free(&b)?;
        let mu: Vec<Complex64> = x.iter().map(|v| v.conj()).collect();
        let mut lambda: Vec<Complex64> = mu.iter().zip(&self.stencil.scale).map(|(m, s)| m * s.conj()).collect();
        if let Some((mask, _)) = &self.dirichlet {
            // conj(μ) is x (zero at Dirichlet voxels).
            let mut k_mu = vec![ZERO; self.len()];
            self.stencil.apply(&x, &mut k_mu);
            for i in (0..self.len()).filter(|&i| mask[i]) {
                lambda[i] = r[i] - k_mu[i].conj();
            }
        }
        Ok((self.to_array(lambda), stats))
    }

    /// `A u`: the discrete operator at free voxels, `u` itself at Dirichlet voxels (as
    /// [`ScalarSolver::apply`]).
    ///
    /// # Panics
    /// If `u` does not have the grid's shape.
    pub fn apply(&self, u: &Array3<Complex64>) -> Array3<Complex64> {
        assert_eq!(u.shape(), self.grid.shape, "field shape does not match the grid");
        let x: Vec<Complex64> = u.iter().copied().collect();
        let mut y = vec![ZERO; self.len()];
        self.stencil.apply(&x, &mut y);
        for (i, (yi, s)) in y.iter_mut().zip(&self.stencil.scale).enumerate() {
            *yi = if self.is_fixed(i) { x[i] } else { *yi / s };
        }
        self.to_array(y)
    }

    fn to_array(&self, v: Vec<Complex64>) -> Array3<Complex64> {
        let s = self.grid.shape;
        Array3::from_shape_vec((s[0], s[1], s[2]), v).expect("length matches the grid")
    }

    /// `y = K_FF x` for `x` zero at Dirichlet voxels (`y` zero there too).
    fn op(&self, x: &[Complex64], y: &mut [Complex64]) {
        self.stencil.apply(x, y);
        self.mask(y);
    }

    fn mask(&self, v: &mut [Complex64]) {
        if let Some((m, _)) = &self.dirichlet {
            for (v, &m) in v.iter_mut().zip(m) {
                if m {
                    *v = ZERO;
                }
            }
        }
    }

    fn precondition(&self, r: &[Complex64]) -> Result<Vec<Complex64>> {
        let mut z = self.mg.apply(r)?;
        self.mask(&mut z);
        Ok(z)
    }

    /// Solve `K_FF x = b` (`b` zero at Dirichlet voxels) from `x = 0`.
    fn solve_free(&self, b: &[Complex64]) -> Result<(Vec<Complex64>, SolveStats)> {
        let (x, stats) = krylov::solve(|x, y| self.op(x, y), |r| self.precondition(r), b, &self.options, false)?;
        self.last_iterations.store(stats.iterations, Ordering::Relaxed);
        if stats.relative_residual <= self.options.tolerance {
            Ok((x, stats))
        } else {
            Err(SolverError::NotConverged(format!(
                "{:?} reached a relative residual of {:.2e} after {} iterations (tolerance {:.1e}); raise \
                 max_iterations, loosen the tolerance, or use the direct ScalarSolver for this problem \
                 (a lossless medium without absorbing faces near a resonance converges slowly)",
                self.options.method, stats.relative_residual, stats.iterations, self.options.tolerance
            )))
        }
    }
}

/// Grids up to this many voxels are solved directly by [`WaveSolver::auto`] in 3-D (32³).
pub const AUTO_DIRECT_MAX_VOXELS_3D: usize = 32 * 32 * 32;

/// A scalar wave solver of either kind, with the common interface.
// Both variants are large, long-lived objects (one per problem): no point boxing either.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum WaveSolver {
    /// Sparse LU ([`ScalarSolver`]).
    Direct(ScalarSolver),
    /// Shifted-Laplacian preconditioned Krylov ([`IterativeSolver`]).
    Iterative(IterativeSolver),
}

/// Which kind of [`WaveSolver`] to build. The one place that decides between the direct and
/// the iterative solver ([`SolverChoice::is_iterative`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SolverChoice {
    /// Direct for 2-D (and 1-D) grids and 3-D grids up to [`AUTO_DIRECT_MAX_VOXELS_3D`]
    /// voxels, iterative above.
    #[default]
    Auto,
    /// Sparse LU ([`ScalarSolver`]).
    Direct,
    /// Shifted-Laplacian preconditioned GMRES ([`IterativeSolver`]).
    Iterative,
}

impl SolverChoice {
    /// Whether this choice means the iterative solver on `grid`.
    pub fn is_iterative(self, grid: &Grid) -> bool {
        match self {
            Self::Auto => grid.shape.iter().all(|&n| n > 1) && grid.len() > AUTO_DIRECT_MAX_VOXELS_3D,
            Self::Direct => false,
            Self::Iterative => true,
        }
    }
}

impl WaveSolver {
    /// The direct solver for 2-D (and 1-D) grids and 3-D grids up to
    /// [`AUTO_DIRECT_MAX_VOXELS_3D`] voxels, the iterative one (default options) above
    /// ([`SolverChoice::Auto`]; the LU factorisation runs on the current rayon pool).
    pub fn auto(p: &ScalarProblem) -> Result<Self> {
        Self::with_choice(p, SolverChoice::Auto, 0)
    }

    /// The solver `choice` says for `p`'s grid: the iterative one (default options), or the
    /// sparse LU factorised on `direct_threads` threads (0 = the current rayon pool, 1 =
    /// sequential, whose factors and solutions do not depend on the thread count).
    pub fn with_choice(p: &ScalarProblem, choice: SolverChoice, direct_threads: usize) -> Result<Self> {
        if choice.is_iterative(&p.medium.grid) {
            IterativeSolver::new(p).map(Self::Iterative)
        } else {
            ScalarSolver::with_threads(p, direct_threads).map(Self::Direct)
        }
    }

    /// Solve `A u = f` (see [`ScalarSolver::solve`]).
    pub fn solve(&self, source: &Array3<Complex64>) -> Result<Array3<Complex64>> {
        match self {
            Self::Direct(s) => s.solve(source),
            Self::Iterative(s) => s.solve(source),
        }
    }

    /// Solve `Aᴴ λ = rhs` (see [`ScalarSolver::solve_adjoint`]).
    pub fn solve_adjoint(&self, rhs: &Array3<Complex64>) -> Result<Array3<Complex64>> {
        match self {
            Self::Direct(s) => s.solve_adjoint(rhs),
            Self::Iterative(s) => s.solve_adjoint(rhs),
        }
    }

    /// `A u` (see [`ScalarSolver::apply`]).
    pub fn apply(&self, u: &Array3<Complex64>) -> Array3<Complex64> {
        match self {
            Self::Direct(s) => s.apply(u),
            Self::Iterative(s) => s.apply(u),
        }
    }

    /// Number of unknowns.
    pub fn len(&self) -> usize {
        match self {
            Self::Direct(s) => s.len(),
            Self::Iterative(s) => s.len(),
        }
    }

    /// Never true.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        match self {
            Self::Direct(s) => s.grid(),
            Self::Iterative(s) => s.grid(),
        }
    }
}
