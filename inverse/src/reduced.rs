//! Reduced-basis surrogate of the wave forward model.
//!
//! Over the width of a region posterior the predicted fields `u(θ)` of each frequency and
//! component stay in a low-dimensional space. Snapshots `u(θ_j)` (full solves at the MAP and
//! around it along the Laplace axes) span a basis `V` of the predicted voxels; the reduced
//! model solves the Galerkin projection of the same discrete equations,
//! `(Vᴴ K(θ) V) a = −Vᴴ K(θ) g` (`g`: the prescribed boundary values), with the operator
//! `K(θ)` assembled but never factorised, and `u = g + V a`. Its adjoint is the Galerkin
//! adjoint, so gradients are exact for the reduced model. Cost per evaluation: one assembly,
//! `m` operator products and an `m × m` solve (`m` snapshots) instead of a sparse LU.
//! The error is measured, not assumed: [`crate::bayes::infer_reduced`] compares reduced and
//! full log densities at posterior draws and reports the largest difference.

use faer::linalg::solvers::Solve;
use faer::Mat;
use ndarray::Array3;
use num_complex::Complex64;
use rayon::prelude::*;

use crate::error::{InverseError, Result};
use crate::forward::{FieldObjective, ForwardModel, Moduli, ModuliGradient, WaveForward};

/// Relative norm below which a snapshot adds nothing new to the basis.
const NEW_DIRECTION_TOLERANCE: f64 = 1e-11;

/// A reduced solution of one frequency: the medium and operator it was assembled for, the
/// fields per component and the Galerkin matrix per component (for the adjoint).
struct ReducedSolution {
    medium: mre_solver::wave::Medium,
    op: mre_solver::wave::WaveOperator,
    fields: Vec<Array3<Complex64>>,
    matrices: Vec<Mat<Complex64>>,
}

/// The Galerkin reduced model of a [`WaveForward`] (see the module documentation).
pub struct ReducedWaveForward<'a> {
    full: &'a WaveForward,
    /// Predicted (free) voxels, C order.
    free: Vec<usize>,
    /// `[f][c]`: orthonormal basis vectors on the free voxels.
    bases: Vec<Vec<Vec<Vec<Complex64>>>>,
    snapshots: usize,
}

impl std::fmt::Debug for ReducedWaveForward<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReducedWaveForward").field("free_voxels", &self.free.len()).field("basis_sizes", &self.basis_sizes()).finish()
    }
}

pub(crate) fn dot(a: &[Complex64], b: &[Complex64]) -> Complex64 {
    a.iter().zip(b).map(|(x, y)| x.conj() * y).sum()
}

/// Append the part of `v` orthogonal to the orthonormal `basis` (modified Gram–Schmidt,
/// twice), normalised, unless it is below [`NEW_DIRECTION_TOLERANCE`] of `v`.
pub(crate) fn extend_basis(basis: &mut Vec<Vec<Complex64>>, mut v: Vec<Complex64>) {
    let norm0 = dot(&v, &v).re.sqrt();
    for _ in 0..2 {
        for b in basis.iter() {
            let p = dot(b, &v);
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= p * y);
        }
    }
    let norm = dot(&v, &v).re.sqrt();
    if norm > NEW_DIRECTION_TOLERANCE * norm0 && norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
        basis.push(v);
    }
}

/// The Galerkin solution `x = g + V a`, `(Vᴴ K V) a = −Vᴴ K g`, of the operator `apply`
/// (`y = K x` on every unknown) with the orthonormal `basis` on the `free` unknowns and the
/// prescribed values `g` (0 at the free unknowns); also the Galerkin matrix `A = Vᴴ K V`
/// for [`galerkin_adjoint`].
pub(crate) fn galerkin_solve(
    basis: &[Vec<Complex64>],
    free: &[usize],
    g: Vec<Complex64>,
    apply: impl Fn(&[Complex64], &mut [Complex64]),
) -> (Vec<Complex64>, Mat<Complex64>) {
    let n = g.len();
    let m = basis.len();
    let mut y = vec![Complex64::new(0.0, 0.0); n];
    apply(&g, &mut y);
    let kg: Vec<Complex64> = free.iter().map(|&i| y[i]).collect();
    let mut x = vec![Complex64::new(0.0, 0.0); n];
    let mut a = Mat::<Complex64>::zeros(m, m);
    for (j, v) in basis.iter().enumerate() {
        free.iter().zip(v).for_each(|(&i, &val)| x[i] = val);
        apply(&x, &mut y);
        let w: Vec<Complex64> = free.iter().map(|&i| y[i]).collect();
        for (i, vi) in basis.iter().enumerate() {
            a[(i, j)] = dot(vi, &w);
        }
    }
    let b = Mat::<Complex64>::from_fn(m, 1, |i, _| -dot(&basis[i], &kg));
    let coef = a.partial_piv_lu().solve(&b);
    let mut sol = g;
    add_combination(basis, free, &coef, &mut sol);
    (sol, a)
}

/// The Galerkin adjoint `μ = V β`, `Aᴴ β = Vᴴ r_F`, of [`galerkin_solve`]'s matrix `a` for
/// the adjoint right-hand side `r` (every unknown; its free entries are used).
pub(crate) fn galerkin_adjoint(basis: &[Vec<Complex64>], free: &[usize], a: &Mat<Complex64>, r: &[Complex64]) -> Vec<Complex64> {
    let r_f: Vec<Complex64> = free.iter().map(|&i| r[i]).collect();
    let rhs = Mat::<Complex64>::from_fn(basis.len(), 1, |i, _| dot(&basis[i], &r_f));
    let beta = a.adjoint().to_owned().partial_piv_lu().solve(&rhs);
    let mut mu = vec![Complex64::new(0.0, 0.0); r.len()];
    add_combination(basis, free, &beta, &mut mu);
    mu
}

/// The moduli at the snapshot points of a reduced model around `laplace`
/// ([`crate::bayes::snapshot_points`] two standard deviations out).
pub(crate) fn snapshot_moduli(param: &dyn crate::param::Parameterisation, laplace: &crate::laplace::Laplace) -> Vec<Moduli> {
    crate::bayes::snapshot_points(laplace, 2.0).iter().map(|p| param.moduli(p)).collect()
}

/// `out[free] += Σ_j coef_j V_j`.
pub(crate) fn add_combination(basis: &[Vec<Complex64>], free: &[usize], coef: &Mat<Complex64>, out: &mut [Complex64]) {
    for (j, v) in basis.iter().enumerate() {
        let c = coef[(j, 0)];
        free.iter().zip(v).for_each(|(&i, &val)| out[i] += c * val);
    }
}

/// A reduced-basis surrogate of a full forward model: what the check of the draws reports.
pub trait ReducedModel: ForwardModel {
    /// Number of snapshots (full solves per frequency) the bases were built from.
    fn snapshots(&self) -> usize;
    /// Basis size per frequency and basis (one per component for the scalar model, one
    /// joint basis for the Navier model).
    fn basis_sizes(&self) -> Vec<Vec<usize>>;
}

impl ReducedModel for ReducedWaveForward<'_> {
    fn snapshots(&self) -> usize {
        self.snapshots
    }
    fn basis_sizes(&self) -> Vec<Vec<usize>> {
        self.bases.iter().map(|b| b.iter().map(Vec::len).collect()).collect()
    }
}

impl<'a> ReducedWaveForward<'a> {
    /// Build the bases from full solves at `snapshots` (moduli maps).
    pub fn build(full: &'a WaveForward, snapshots: &[Moduli]) -> Result<Self> {
        if snapshots.is_empty() {
            return Err(InverseError::invalid("reduced model", "no snapshots", "at least one snapshot"));
        }
        let free: Vec<usize> = full.predicted().iter().enumerate().filter(|(_, &b)| b).map(|(i, _)| i).collect();
        let nf = full.n_frequencies();
        let nc = full.n_components();
        let bases = (0..nf)
            .into_par_iter()
            .map(|f| {
                let mut basis: Vec<Vec<Vec<Complex64>>> = vec![Vec::new(); nc];
                for m in snapshots {
                    let fields = full.predict(f, m)?;
                    for (c, u) in fields.iter().enumerate() {
                        let u = u.as_slice().expect("standard layout");
                        extend_basis(&mut basis[c], free.iter().map(|&i| u[i]).collect());
                    }
                }
                Ok(basis)
            })
            .collect::<Result<_>>()?;
        Ok(Self { full, free, bases, snapshots: snapshots.len() })
    }

    /// The reduced model around a Laplace approximation: snapshots at
    /// [`crate::bayes::snapshot_points`] two standard deviations out.
    pub fn around(full: &'a WaveForward, param: &dyn crate::param::Parameterisation, laplace: &crate::laplace::Laplace) -> Result<Self> {
        let moduli = snapshot_moduli(param, laplace);
        let r = Self::build(full, &moduli)?;
        tracing::info!(snapshots = moduli.len(), basis = ?r.basis_sizes(), "reduced model");
        Ok(r)
    }

    /// Reduced solution of frequency `f` for `moduli`: fields per component and, per
    /// component, the factorised Galerkin matrix for the adjoint.
    fn solve(&self, f: usize, moduli: &Moduli) -> Result<ReducedSolution> {
        let (medium, op) = self.full.operator(f, moduli)?;
        let n = op.len();
        let mut fields = Vec::new();
        let mut matrices = Vec::new();
        let mut is_free = vec![false; n];
        self.free.iter().for_each(|&i| is_free[i] = true);
        for (c, basis) in self.bases[f].iter().enumerate() {
            let gfull: Vec<Complex64> = self
                .full
                .boundary_values(f, c)
                .iter()
                .enumerate()
                .map(|(i, &v)| if is_free[i] { Complex64::new(0.0, 0.0) } else { v })
                .collect();
            let (u, a) = galerkin_solve(basis, &self.free, gfull, |x, y| op.apply(x, y));
            if u.iter().any(|v| !(v.re.is_finite() && v.im.is_finite())) {
                return Err(InverseError::NonFinite(format!("reduced solution of frequency {f} is not finite")));
            }
            let s = self.full.grid().shape;
            fields.push(Array3::from_shape_vec((s[0], s[1], s[2]), u).expect("one value per voxel"));
            matrices.push(a);
        }
        Ok(ReducedSolution { medium, op, fields, matrices })
    }
}

impl ForwardModel for ReducedWaveForward<'_> {
    fn grid(&self) -> &mre_solver::model::phantom::Grid {
        self.full.grid()
    }
    fn n_frequencies(&self) -> usize {
        self.full.n_frequencies()
    }
    fn n_components(&self) -> usize {
        self.full.n_components()
    }
    fn predict(&self, f: usize, moduli: &Moduli) -> Result<Vec<Array3<Complex64>>> {
        Ok(self.solve(f, moduli)?.fields)
    }
    fn objective_gradient(&self, f: usize, moduli: &Moduli, objective: &FieldObjective<'_>) -> Result<(f64, ModuliGradient)> {
        let ReducedSolution { medium, op, fields, matrices } = self.solve(f, moduli)?;
        let (value, dj_du) = objective(f, &fields);
        let mut grad = ModuliGradient::zeros(self.full.grid().shape);
        for (((u, r), a), basis) in fields.iter().zip(&dj_du).zip(&matrices).zip(&self.bases[f]) {
            // Galerkin adjoint: Aᴴ β = Vᴴ r_F, μ = V β.
            let mu = galerkin_adjoint(basis, &self.free, a, r.as_slice().expect("standard layout"));
            let (storage, loss) = op.modulus_sensitivity(&medium, u.as_slice().expect("standard layout"), &mu)?;
            grad.add(&ModuliGradient::moduli(storage, loss));
        }
        Ok((value, grad))
    }
    fn predicted(&self) -> &Array3<bool> {
        self.full.predicted()
    }
}
