//! Reduced-basis surrogate of the Navier forward model ([`NavierForward`]), the vector
//! counterpart of [`crate::reduced::ReducedWaveForward`].
//!
//! The displacement components and the pressure are coupled, so there is one basis per
//! frequency over all free unknowns of the MAC grid (faces of every component and the
//! pressures), spanned by full solutions at the snapshot points. The pressures are stored in
//! units of one reference scale (mean `|G*|` over the smallest voxel size, from the first
//! snapshot), because the solver's own pressure scaling changes with the moduli
//! ([`mre_solver::wave::NavierOperator`]). The reduced model solves the Galerkin projection
//! `(Vᴴ K(θ) V) a = −Vᴴ K(θ) g` of the same discrete equations (`g`: the prescribed faces of
//! the measured boundary) with the operator `K(θ)` assembled, never factorised, and
//! `x = g + V a`; its gradient is the Galerkin adjoint (`μ = V A⁻ᴴ Vᴴ Cᵀ ∂J/∂u`) through the
//! solver's modulus sensitivity and, with an inferred bulk modulus, the same `∂J/∂K` as the
//! full model. Exact for the reduced model; its difference from the full one is measured at
//! posterior draws ([`crate::bayes::check_reduced`]).

use faer::Mat;
use mre_solver::wave::{Medium, NavierFields, NavierOperator};
use ndarray::Array3;
use num_complex::Complex64;
use rayon::prelude::*;

use crate::error::{InverseError, Result};
use crate::forward::{FieldObjective, ForwardModel, Moduli, ModuliGradient};
use crate::navier::NavierForward;
use crate::reduced::{extend_basis, galerkin_adjoint, galerkin_solve, ReducedModel};

/// The Galerkin reduced model of a [`NavierForward`] (see the module documentation).
pub struct ReducedNavierForward<'a> {
    full: &'a NavierForward,
    /// Free unknowns of the operator (ascending).
    free: Vec<usize>,
    /// Pressure unit of the basis vectors, Pa.
    pressure_scale: f64,
    /// `[f]`: orthonormal basis vectors on the free unknowns.
    bases: Vec<Vec<Vec<Complex64>>>,
    snapshots: usize,
}

impl std::fmt::Debug for ReducedNavierForward<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReducedNavierForward").field("free_unknowns", &self.free.len()).field("basis_sizes", &self.basis_sizes()).finish()
    }
}

/// One reduced solution: what the adjoint needs.
struct Solution {
    medium: Medium,
    bulk_modulus_pa: f64,
    op: NavierOperator,
    fields: NavierFields,
    /// The Galerkin matrix `Vᴴ K V`.
    matrix: Mat<Complex64>,
}

impl<'a> ReducedNavierForward<'a> {
    /// Build the bases from full solves at `snapshots` (moduli maps, with the bulk modulus
    /// when it is a parameter).
    pub fn build(full: &'a NavierForward, snapshots: &[Moduli]) -> Result<Self> {
        let first = snapshots.first().ok_or_else(|| InverseError::invalid("reduced model", "no snapshots", "at least one snapshot"))?;
        let h = full.grid().voxel_size_m;
        let shape = full.grid().shape;
        let h_min = (0..3).filter(|&a| shape[a] > 1).map(|a| h[a]).fold(f64::INFINITY, f64::min);
        let g_mean = first.storage_pa.iter().zip(&first.loss_pa).map(|(g, l)| g.hypot(*l)).sum::<f64>() / first.storage_pa.len() as f64;
        let pressure_scale = g_mean / h_min;
        // The free unknowns do not depend on the moduli: take them from the first snapshot.
        let medium = full.medium(first)?;
        let op = NavierOperator::new(&full.problem(&medium, full.bulk_modulus_of(first), 0), pressure_scale)?;
        let free: Vec<usize> = op.fixed().iter().enumerate().filter(|(_, &f)| !f).map(|(i, _)| i).collect();
        let bases = (0..full.n_frequencies())
            .into_par_iter()
            .map(|f| {
                let mut basis = Vec::new();
                for m in snapshots {
                    let (fields, _) = full.solve_fields(f, m)?;
                    let x = op.unknowns(&fields);
                    extend_basis(&mut basis, free.iter().map(|&i| x[i]).collect());
                }
                Ok(basis)
            })
            .collect::<Result<_>>()?;
        Ok(Self { full, free, pressure_scale, bases, snapshots: snapshots.len() })
    }

    /// The reduced model around a Laplace approximation: snapshots at
    /// [`crate::bayes::snapshot_points`] two standard deviations out.
    pub fn around(full: &'a NavierForward, param: &dyn crate::param::Parameterisation, laplace: &crate::laplace::Laplace) -> Result<Self> {
        let points = crate::bayes::snapshot_points(laplace, 2.0);
        let moduli: Vec<Moduli> = points.iter().map(|p| param.moduli(p)).collect();
        let r = Self::build(full, &moduli)?;
        tracing::info!(snapshots = points.len(), basis = ?r.basis_sizes(), "reduced Navier model");
        Ok(r)
    }

    fn solve(&self, f: usize, moduli: &Moduli) -> Result<Solution> {
        let medium = self.full.medium(moduli)?;
        let k = self.full.bulk_modulus_of(moduli);
        let op = NavierOperator::new(&self.full.problem(&medium, k, f), self.pressure_scale)?;
        let g = op.prescribed(self.full.faces(f))?;
        let (sol, matrix) = galerkin_solve(&self.bases[f], &self.free, g, |x, y| op.apply(x, y));
        if sol.iter().any(|v| !(v.re.is_finite() && v.im.is_finite())) {
            return Err(InverseError::NonFinite(format!("reduced Navier solution of frequency {f} is not finite")));
        }
        let fields = op.fields(&sol);
        Ok(Solution { medium, bulk_modulus_pa: k, op, fields, matrix })
    }
}

impl ReducedModel for ReducedNavierForward<'_> {
    fn snapshots(&self) -> usize {
        self.snapshots
    }
    fn basis_sizes(&self) -> Vec<Vec<usize>> {
        self.bases.iter().map(|b| vec![b.len()]).collect()
    }
}

impl ForwardModel for ReducedNavierForward<'_> {
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
        Ok(self.full.components(&self.solve(f, moduli)?.fields))
    }
    fn objective_gradient(&self, f: usize, moduli: &Moduli, objective: &FieldObjective<'_>) -> Result<(f64, ModuliGradient)> {
        let Solution { medium, bulk_modulus_pa: k, op, fields, matrix } = self.solve(f, moduli)?;
        let (value, dj_du) = objective(f, &self.full.components(&fields));
        let s = self.full.grid().shape;
        let mut rhs = [0, 1, 2].map(|_| Array3::zeros((s[0], s[1], s[2])));
        for (&a, r) in self.full.axes().iter().zip(&dj_du) {
            rhs[a] += r;
        }
        let r = op.centre_transpose(&rhs);
        // The conjugated adjoint μ̄ = conj(V β).
        let mut mu = galerkin_adjoint(&self.bases[f], &self.free, &matrix, &r);
        mu.iter_mut().for_each(|v| *v = v.conj());
        let w = op.fields(&mu);
        let p = self.full.problem(&medium, k, f);
        let c = op.modulus_sensitivity(&p, &fields, &w)?;
        let bulk_modulus = match moduli.bulk_modulus_pa {
            Some(_) => self.full.bulk_gradient(&medium, k, &fields, &w),
            None => 0.0,
        };
        Ok((value, ModuliGradient { storage: c.mapv(|c| -c.re), loss: c.mapv(|c| c.im), bulk_modulus }))
    }
    fn predicted(&self) -> &Array3<bool> {
        self.full.predicted()
    }
}
