//! Complex shifted-Laplacian multigrid V-cycle (Erlangga, Oosterlee & Vuik 2006), the
//! preconditioner of [`super::IterativeSolver`].
//!
//! The preconditioner approximates the inverse of the *shifted* operator, the wave operator
//! with `ω² → ω²(1 − iβ)` (extra damping with the sign of physical loss for `e^{iωt}`), by
//! one V-cycle on a hierarchy built by rediscretisation:
//! - every active axis is coarsened by 2 (an odd axis gets a last coarse voxel with a single
//!   fine child, i.e. the coarse grid is padded by half a coarse voxel); coarsening stops at
//!   [`super::IterativeOptions::coarsest_unknowns`] unknowns or when an active axis would
//!   drop below 3 voxels;
//! - coarse medium: harmonic mean of the children's `G*`, arithmetic mean of `ρ`; coarse PML
//!   `⌈L/2⌉` voxels (same `α_max`, hence the same physical layer); coarse Dirichlet voxels
//!   where any child is Dirichlet (homogeneous: the correction vanishes there);
//! - smoother: damped Jacobi on the shifted operator, the same number of sweeps before and after
//!   the coarse correction;
//! - transfers: cell-centred trilinear prolongation (weights 3/4, 1/4 per axis; constant
//!   extrapolation at the grid ends) or piecewise constant, restriction = the transpose of the
//!   prolongation normalised to an average (weights summing to one per coarse voxel);
//! - coarsest grid: sparse LU ([`ScalarSolver`]) of the shifted coarse operator.
//!
//! Every level uses the standard 7-point stencil whatever the fine scheme: the
//! preconditioner only needs to approximate the operator.
//!
//! Single-threaded and deterministic.

use num_complex::Complex64;

use super::krylov::{gmres, Gmres};
use super::stencil::Stencil;
use super::{Boundary, Dirichlet, FaceCondition, Medium, ScalarProblem, ScalarSolver, Scheme};
use crate::error::Result;
use crate::model::phantom::Grid;

const ZERO: Complex64 = Complex64 { re: 0.0, im: 0.0 };

/// Prolongation of the coarse-grid correction (the restriction is its normalised transpose).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prolongation {
    /// Piecewise constant: every fine voxel takes its parent's value.
    Constant,
    /// Cell-centred trilinear interpolation (weights 3/4 and 1/4 per coarsened axis).
    #[default]
    Trilinear,
}

/// Smoother of the multigrid levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Smoother {
    /// Damped Jacobi (weight [`super::IterativeOptions::jacobi_weight`]); one operator application per sweep.
    #[default]
    Jacobi,
    /// Red-black Gauss–Seidel (checkerboard colouring, exact for the 7-point stencil; weight
    /// [`super::IterativeOptions::jacobi_weight`] as over-/under-relaxation); two operator applications per sweep.
    RedBlack,
}

/// Transfer weights along one axis: fine index → up to two (coarse index, weight) pairs.
#[derive(Debug, Clone)]
struct AxisTransfer {
    /// Per fine index, two (coarse index, weight) pairs (weight 0 = unused).
    weights: Vec<[(usize, f64); 2]>,
    /// Per coarse index, the sum of the weights it receives (for the averaging restriction).
    col_sum: Vec<f64>,
}

impl AxisTransfer {
    fn new(n_fine: usize, coarsened: bool, kind: Prolongation) -> Self {
        let n_coarse = if coarsened { n_fine.div_ceil(2) } else { n_fine };
        let weights: Vec<[(usize, f64); 2]> = (0..n_fine)
            .map(|f| {
                if !coarsened {
                    return [(f, 1.0), (0, 0.0)];
                }
                let c = f / 2;
                let nb = if f % 2 == 0 { c.checked_sub(1) } else { Some(c + 1).filter(|&n| n < n_coarse) };
                match (kind, nb) {
                    (Prolongation::Trilinear, Some(nb)) => [(c, 0.75), (nb, 0.25)],
                    _ => [(c, 1.0), (0, 0.0)],
                }
            })
            .collect();
        let mut col_sum = vec![0.0; n_coarse];
        for w in &weights {
            for &(c, a) in w {
                col_sum[c] += a;
            }
        }
        Self { weights, col_sum }
    }

    fn used(&self, f: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.weights[f].iter().copied().filter(|&(_, w)| w != 0.0)
    }
}

/// Grid transfers between a level and the next coarser one.
#[derive(Debug, Clone)]
struct Transfer {
    fine: [usize; 3],
    coarse: [usize; 3],
    axes: [AxisTransfer; 3],
}

impl Transfer {
    fn new(fine: [usize; 3], coarse: [usize; 3], kind: Prolongation) -> Self {
        let axes = [0, 1, 2].map(|a| AxisTransfer::new(fine[a], coarse[a] != fine[a], kind));
        Self { fine, coarse, axes }
    }

    /// Call `f(fine index, coarse index, weight)` for every pair with a non-zero weight.
    fn for_each(&self, mut f: impl FnMut(usize, usize, f64)) {
        let [_, cy, cx] = self.coarse;
        let mut i = 0;
        for z in 0..self.fine[0] {
            for y in 0..self.fine[1] {
                for x in 0..self.fine[2] {
                    for (kz, wz) in self.axes[0].used(z) {
                        for (ky, wy) in self.axes[1].used(y) {
                            let wzy = wz * wy;
                            let base = (kz * cy + ky) * cx;
                            for (kx, wx) in self.axes[2].used(x) {
                                f(i, base + kx, wzy * wx);
                            }
                        }
                    }
                    i += 1;
                }
            }
        }
    }

    /// `fine += P coarse`.
    fn prolong_add(&self, coarse: &[Complex64], fine: &mut [Complex64]) {
        self.for_each(|i, c, w| fine[i] += coarse[c] * w);
    }

    /// `coarse = R fine`: the transpose of the prolongation, normalised to weighted averages.
    fn restrict(&self, fine: &[Complex64]) -> Vec<Complex64> {
        let mut coarse = vec![ZERO; self.coarse.iter().product()];
        self.for_each(|i, c, w| coarse[c] += fine[i] * w);
        let [_, cy, cx] = self.coarse;
        let s = &self.axes;
        for (c, v) in coarse.iter_mut().enumerate() {
            let (z, y, x) = (c / (cy * cx), (c / cx) % cy, c % cx);
            *v /= s[0].col_sum[z] * s[1].col_sum[y] * s[2].col_sum[x];
        }
        coarse
    }
}

/// One grid level: the shifted operator and its smoother.
#[derive(Debug)]
struct Level {
    stencil: Stencil,
    /// `weight / diag` at free voxels, 0 at Dirichlet voxels.
    inv_diag: Vec<Complex64>,
    /// Checkerboard colour per voxel (`z + y + x` odd), for the red-black smoother.
    black: Vec<bool>,
    /// Dirichlet voxels (the correction is zero there).
    fixed: Option<Vec<bool>>,
    /// Transfer to the next coarser level.
    transfer: Transfer,
}

/// The coarsest grid: LU of the shifted operator divided by `1 − iβ` (see [`Multigrid::new`]).
struct Coarsest {
    solver: ScalarSolver,
    /// Dirichlet voxels (the correction is zero there).
    fixed: Option<Vec<bool>>,
    /// `1/(1 − iβ)`: the LU holds `K_shifted / (1 − iβ)`.
    factor: Complex64,
}

/// A shifted-Laplacian V-cycle: `apply` maps a residual to an approximation of `K_β⁻¹ r`.
pub(crate) struct Multigrid {
    levels: Vec<Level>,
    coarsest: Coarsest,
    sweeps: usize,
    smoother: Smoother,
}

impl std::fmt::Debug for Multigrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multigrid").field("shapes", &self.shapes()).field("sweeps", &self.sweeps).finish_non_exhaustive()
    }
}

/// Parameters of the hierarchy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MultigridParams {
    pub shift: f64,
    pub sweeps: usize,
    pub smoother: Smoother,
    pub jacobi_weight: f64,
    pub prolongation: Prolongation,
    pub coarsest_unknowns: usize,
    pub pml_strength: Option<f64>,
}

/// The shape one level coarser, or None if the grid should not be coarsened further.
fn coarser_shape(shape: [usize; 3], coarsest_unknowns: usize) -> Option<[usize; 3]> {
    let active: Vec<usize> = shape.iter().copied().filter(|&n| n > 1).collect();
    if shape.iter().product::<usize>() <= coarsest_unknowns || active.is_empty() || active.iter().any(|&n| n < 6) {
        return None;
    }
    Some(shape.map(|n| if n > 1 { n.div_ceil(2) } else { 1 }))
}

/// The medium, boundary and Dirichlet mask one level coarser.
fn coarsen(medium: &Medium, boundary: &Boundary, fixed: Option<&[bool]>, coarse: [usize; 3]) -> (Medium, Boundary, Option<Vec<bool>>) {
    let fine = medium.grid.shape;
    let ratio = [0, 1, 2].map(|a| if coarse[a] == fine[a] { 1 } else { 2 });
    let h = [0, 1, 2].map(|a| medium.grid.voxel_size_m[a] * ratio[a] as f64);
    let grid = Grid { shape: coarse, voxel_size_m: h };
    let nc: usize = coarse.iter().product();
    let mut inv_g = vec![ZERO; nc];
    let mut rho = vec![0.0; nc];
    let mut count = vec![0usize; nc];
    let mut cfixed = fixed.map(|_| vec![false; nc]);
    let g = medium.complex_modulus();
    let mut i = 0;
    for z in 0..fine[0] {
        for y in 0..fine[1] {
            for x in 0..fine[2] {
                let c = ((z / ratio[0]) * coarse[1] + y / ratio[1]) * coarse[2] + x / ratio[2];
                inv_g[c] += 1.0 / g[[z, y, x]];
                rho[c] += medium.density_kg_m3[[z, y, x]];
                count[c] += 1;
                if let (Some(cf), Some(ff)) = (cfixed.as_mut(), fixed) {
                    cf[c] |= ff[i];
                }
                i += 1;
            }
        }
    }
    let sh = (coarse[0], coarse[1], coarse[2]);
    let gc: Vec<Complex64> = inv_g.iter().zip(&count).map(|(s, &n)| n as f64 / s).collect();
    let medium = Medium {
        grid,
        storage_modulus_pa: ndarray::Array3::from_shape_vec(sh, gc.iter().map(|g| g.re).collect()).expect("coarse shape"),
        loss_modulus_pa: ndarray::Array3::from_shape_vec(sh, gc.iter().map(|g| g.im.max(0.0)).collect()).expect("coarse shape"),
        density_kg_m3: ndarray::Array3::from_shape_vec(sh, rho.iter().zip(&count).map(|(r, &n)| r / n as f64).collect())
            .expect("coarse shape"),
    };
    // Halve the layer (rounding up), but keep it within half of every absorbing axis.
    let mut pml = boundary.pml_voxels.div_ceil(2);
    for (a, &n) in coarse.iter().enumerate() {
        if n > 1 && boundary.faces[a].contains(&FaceCondition::Absorbing) {
            pml = pml.min(n / 2);
        }
    }
    let boundary = Boundary { pml_voxels: pml, ..boundary.clone() };
    (medium, boundary, cfixed)
}

impl Multigrid {
    /// The hierarchy for problem `p` (validated by the caller) with `params`; `β` is lowered
    /// where needed so that the coarsest shifted medium stays valid (`G' − βG'' > 0`, only
    /// relevant for loss moduli above twice the storage modulus).
    pub fn new(p: &ScalarProblem, params: MultigridParams) -> Result<Self> {
        let max_ratio = p
            .medium
            .storage_modulus_pa
            .iter()
            .zip(&p.medium.loss_modulus_pa)
            .map(|(&s, &l)| if l > 0.0 { s / l } else { f64::INFINITY })
            .fold(f64::INFINITY, f64::min);
        let beta = params.shift.min(0.5 * max_ratio);
        let shift = Complex64::new(1.0, -beta);
        let w2 = p.omega_rad_per_s * p.omega_rad_per_s;
        let mut medium = p.medium.clone();
        let mut boundary = p.boundary.clone();
        if let Some(a) = params.pml_strength {
            boundary.pml_strength = a;
        }
        let mut fixed: Option<Vec<bool>> = p.dirichlet.as_ref().map(|d| d.mask.iter().copied().collect());
        let mut levels = Vec::new();
        while let Some(coarse) = coarser_shape(medium.grid.shape, params.coarsest_unknowns) {
            let stencil = Stencil::assemble(&medium, w2 * shift, &boundary, Scheme::Standard);
            let inv_diag = stencil
                .diag
                .iter()
                .enumerate()
                .map(|(i, &d)| if fixed.as_ref().is_some_and(|m| m[i]) { ZERO } else { params.jacobi_weight / d })
                .collect();
            let transfer = Transfer::new(medium.grid.shape, coarse, params.prolongation);
            let (m, b, f) = coarsen(&medium, &boundary, fixed.as_deref(), coarse);
            let sh = medium.grid.shape;
            let black = match params.smoother {
                Smoother::Jacobi => Vec::new(),
                Smoother::RedBlack => {
                    let mut black = Vec::with_capacity(stencil.len());
                    for z in 0..sh[0] {
                        for y in 0..sh[1] {
                            black.extend((0..sh[2]).map(|x| (z + y + x) % 2 == 1));
                        }
                    }
                    black
                }
            };
            levels.push(Level { stencil, inv_diag, black, fixed: fixed.take(), transfer });
            (medium, boundary, fixed) = (m, b, f);
        }
        // K_shifted = (1 − iβ) K' with K' the operator of G*/(1 − iβ) at the real ω.
        let g = medium.complex_modulus().mapv(|g| g / shift);
        let scaled = Medium { storage_modulus_pa: g.mapv(|g| g.re), loss_modulus_pa: g.mapv(|g| g.im.max(0.0)), ..medium.clone() };
        let coarsest_fixed = fixed.clone();
        let dirichlet = fixed.map(|m| {
            let sh = medium.grid.shape;
            let mask = ndarray::Array3::from_shape_vec((sh[0], sh[1], sh[2]), m).expect("coarse shape");
            let values = mask.mapv(|_| ZERO);
            Dirichlet { mask, values }
        });
        let problem = ScalarProblem { medium: &scaled, omega_rad_per_s: p.omega_rad_per_s, boundary, dirichlet, scheme: Scheme::Standard };
        let solver = ScalarSolver::with_threads(&problem, 1)?;
        Ok(Self {
            levels,
            coarsest: Coarsest { solver, fixed: coarsest_fixed, factor: 1.0 / shift },
            sweeps: params.sweeps,
            smoother: params.smoother,
        })
    }

    /// Grid shapes from fine to coarsest.
    pub fn shapes(&self) -> Vec<[usize; 3]> {
        let mut s: Vec<[usize; 3]> = self.levels.iter().map(|l| l.stencil.shape).collect();
        s.push(self.coarsest.solver.grid().shape);
        s
    }

    /// One V-cycle for `K_β x = r` from `x = 0` (`r` zero at Dirichlet voxels; so is `x`).
    pub fn apply(&self, r: &[Complex64]) -> Result<Vec<Complex64>> {
        self.cycle(0, r.to_vec())
    }

    /// Approximate `K_β⁻¹ r` by `k` iterations of GMRES on the finest shifted operator, right
    /// preconditioned by the V-cycle, from `x = 0` (a non-linear map of `r`: use it inside a
    /// flexible Krylov method). With one level (LU only) or `k ≤ 1` this is [`Multigrid::apply`].
    /// Deterministic for any thread count ([`super::krylov`]).
    pub fn solve_inner(&self, r: &[Complex64], k: usize) -> Result<Vec<Complex64>> {
        let Some(level) = self.levels.first() else {
            return self.apply(r);
        };
        if k <= 1 {
            return self.apply(r);
        }
        let opts = Gmres { restart: k, max_iterations: k, tolerance: 0.0, flexible: true, true_residual: false };
        let op = |x: &[Complex64], y: &mut [Complex64]| {
            level.stencil.apply(x, y);
            level.mask(y);
        };
        Ok(gmres(op, |v| self.apply(v), r, &opts)?.0)
    }

    fn cycle(&self, l: usize, b: Vec<Complex64>) -> Result<Vec<Complex64>> {
        let Some(level) = self.levels.get(l) else {
            let mut x = b;
            self.coarsest.solver.lu_solve_in_place(&mut x, false)?;
            x.iter_mut().for_each(|v| *v *= self.coarsest.factor);
            return Ok(x);
        };
        let n = b.len();
        let mut x = vec![ZERO; n];
        let mut r = b.clone();
        for k in 0..self.sweeps {
            if k > 0 {
                level.residual(&b, &x, &mut r);
            }
            self.smooth(level, &b, &mut x, &mut r, false);
        }
        level.residual(&b, &x, &mut r);
        // The restricted residual must vanish at the coarse Dirichlet voxels (the LU's identity
        // rows would otherwise copy it into the correction).
        let mut rc = level.transfer.restrict(&r);
        let coarse_fixed = match self.levels.get(l + 1) {
            Some(next) => next.fixed.as_deref(),
            None => self.coarsest.fixed.as_deref(),
        };
        if let Some(m) = coarse_fixed {
            for (v, &m) in rc.iter_mut().zip(m) {
                if m {
                    *v = ZERO;
                }
            }
        }
        let coarse = self.cycle(l + 1, rc)?;
        level.transfer.prolong_add(&coarse, &mut x);
        level.mask(&mut x);
        for _ in 0..self.sweeps {
            level.residual(&b, &x, &mut r);
            self.smooth(level, &b, &mut x, &mut r, true);
        }
        Ok(x)
    }

    /// One smoothing sweep given the current residual `r = b − K x` (overwritten). The
    /// red-black sweep visits red then black voxels, or black then red when `reverse`
    /// (symmetric pre/post smoothing).
    fn smooth(&self, level: &Level, b: &[Complex64], x: &mut [Complex64], r: &mut [Complex64], reverse: bool) {
        match self.smoother {
            Smoother::Jacobi => level.jacobi(r, x, None),
            Smoother::RedBlack => {
                level.jacobi(r, x, Some(reverse));
                level.residual(b, x, r);
                level.jacobi(r, x, Some(!reverse));
            }
        }
    }
}

impl Level {
    /// `r = b − K x`, zero at Dirichlet voxels.
    fn residual(&self, b: &[Complex64], x: &[Complex64], r: &mut [Complex64]) {
        self.stencil.apply(x, r);
        for (r, b) in r.iter_mut().zip(b) {
            *r = b - *r;
        }
        self.mask(r);
    }

    /// `x += ω D⁻¹ r` (zero update at Dirichlet voxels), on every voxel or only on the voxels of
    /// one colour (`Some(true)` black).
    fn jacobi(&self, r: &[Complex64], x: &mut [Complex64], colour: Option<bool>) {
        match colour {
            None => {
                for ((x, r), d) in x.iter_mut().zip(r).zip(&self.inv_diag) {
                    *x += r * d;
                }
            }
            Some(c) => {
                for (((x, r), d), &b) in x.iter_mut().zip(r).zip(&self.inv_diag).zip(&self.black) {
                    if b == c {
                        *x += r * d;
                    }
                }
            }
        }
    }

    fn mask(&self, v: &mut [Complex64]) {
        if let Some(m) = &self.fixed {
            for (v, &m) in v.iter_mut().zip(m) {
                if m {
                    *v = ZERO;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restriction_averages_and_prolongation_preserves_constants() {
        for kind in [Prolongation::Constant, Prolongation::Trilinear] {
            for fine in [[1, 7, 6], [5, 4, 9]] {
                let coarse = fine.map(|n: usize| if n > 1 { n.div_ceil(2) } else { 1 });
                let t = Transfer::new(fine, coarse, kind);
                let nf: usize = fine.iter().product();
                let nc: usize = coarse.iter().product();
                let one = Complex64::new(1.0, -2.0);
                let r = t.restrict(&vec![one; nf]);
                assert!(r.iter().all(|v| (v - one).norm() < 1e-14), "{kind:?} {fine:?}");
                let mut p = vec![ZERO; nf];
                t.prolong_add(&vec![one; nc], &mut p);
                assert!(p.iter().all(|v| (v - one).norm() < 1e-14), "{kind:?} {fine:?}");
            }
        }
    }
}
