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
//!
//! **Without assembly for region moduli.** When the snapshots' moduli are constant on a few
//! classes of voxels (the regions of a regions posterior: voxels are grouped by their moduli
//! across all snapshots), the operator is the sum of fixed terms with coefficients from the
//! classes' `G*` and the bulk modulus ([`AffineNavierOperator`]). Each term is projected on the
//! basis once; a reduced solve then forms `Vᴴ K(θ) V` and `Vᴴ K(θ) g` from the projected terms,
//! without assembling the operator (the same Galerkin system up to rounding). Moduli that are
//! not constant on the classes take the assembling path.

use std::collections::HashMap;

use faer::linalg::solvers::Solve;
use faer::Mat;
use mre_solver::wave::{AffineNavierOperator, Medium, NavierFields, NavierOperator};
use ndarray::Array3;
use num_complex::Complex64;
use rayon::prelude::*;

use crate::error::{InverseError, Result};
use crate::forward::{FieldObjective, ForwardModel, Moduli, ModuliGradient};
use crate::navier::NavierForward;
use crate::reduced::{add_combination, extend_basis, galerkin_adjoint, galerkin_solve, snapshot_moduli, ReducedModel};

/// Most voxel classes for the decomposition of the operator (more: the assembling path).
const MAX_CLASSES: usize = 64;

/// The Galerkin reduced model of a [`NavierForward`] (see the module documentation).
pub struct ReducedNavierForward<'a> {
    full: &'a NavierForward,
    /// Free unknowns of the operator (ascending).
    free: Vec<usize>,
    /// Pressure unit of the basis vectors, Pa.
    pressure_scale: f64,
    /// The operator of the first snapshot: the layout, the prescribed unknowns and the
    /// sensitivity of the gradient (these do not depend on the moduli).
    op: NavierOperator,
    /// `[f]`: orthonormal basis vectors on the free unknowns.
    bases: Vec<Vec<Vec<Complex64>>>,
    /// `[f]`: the prescribed boundary values `g` on every unknown.
    prescribed: Vec<Vec<Complex64>>,
    /// `[f]`: the projected terms, when the snapshots' moduli are constant on voxel classes.
    affine: Option<Vec<ProjectedTerms>>,
    snapshots: usize,
}

/// The terms of the operator projected on one frequency's basis.
struct ProjectedTerms {
    op: AffineNavierOperator,
    /// `Vᴴ A_t V`.
    matrices: Vec<Mat<Complex64>>,
    /// `Vᴴ A_t g`.
    rhs: Vec<Vec<Complex64>>,
}

impl std::fmt::Debug for ReducedNavierForward<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReducedNavierForward")
            .field("free_unknowns", &self.free.len())
            .field("basis_sizes", &self.basis_sizes())
            .field("affine_terms", &self.affine.as_ref().map(|a| a.iter().map(|p| p.op.n_terms()).collect::<Vec<_>>()))
            .finish()
    }
}

/// One reduced solution: what the adjoint needs.
struct Solution {
    medium: Medium,
    bulk_modulus_pa: f64,
    fields: NavierFields,
    /// The Galerkin matrix `Vᴴ K V`.
    matrix: Mat<Complex64>,
}

/// Classes of voxels with equal moduli in every snapshot (None: more than [`MAX_CLASSES`]).
fn voxel_classes(snapshots: &[Moduli]) -> Option<Array3<usize>> {
    let first = snapshots.first()?;
    let mut index: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut classes = Array3::zeros(first.storage_pa.raw_dim());
    for (idx, c) in classes.indexed_iter_mut() {
        let key: Vec<u64> = snapshots.iter().flat_map(|m| [m.storage_pa[idx].to_bits(), m.loss_pa[idx].to_bits()]).collect();
        let n = index.len();
        *c = *index.entry(key).or_insert(n);
        if index.len() > MAX_CLASSES {
            return None;
        }
    }
    Some(classes)
}

/// The terms of `op` projected on the orthonormal `basis` over the `free` unknowns, and on the
/// prescribed values `g`.
fn project(op: AffineNavierOperator, basis: &[Vec<Complex64>], free: &[usize], g: &[Complex64]) -> ProjectedTerms {
    let n = op.len();
    let m = basis.len();
    let mut position = vec![usize::MAX; n];
    free.iter().enumerate().for_each(|(k, &i)| position[i] = k);
    let full = |v: &[Complex64]| {
        let mut x = vec![Complex64::new(0.0, 0.0); n];
        free.iter().zip(v).for_each(|(&i, &val)| x[i] = val);
        x
    };
    let vectors: Vec<Vec<Complex64>> = basis.iter().map(|v| full(v)).collect();
    let mut matrices = Vec::with_capacity(op.n_terms());
    let mut rhs = Vec::with_capacity(op.n_terms());
    for t in 0..op.n_terms() {
        let rows: Vec<(usize, usize)> =
            op.term_rows(t).into_iter().filter(|&r| position[r] != usize::MAX).map(|r| (r, position[r])).collect();
        // `Σ_rows conj(V_i[row]) y[row]` for y = A_t x.
        let project_vector = |x: &[Complex64]| {
            let mut y = vec![Complex64::new(0.0, 0.0); n];
            op.apply_term_add(t, x, &mut y);
            (0..m).map(|i| rows.iter().map(|&(r, k)| basis[i][k].conj() * y[r]).sum::<Complex64>()).collect::<Vec<_>>()
        };
        let mut a = Mat::<Complex64>::zeros(m, m);
        for (j, x) in vectors.iter().enumerate() {
            for (i, v) in project_vector(x).into_iter().enumerate() {
                a[(i, j)] = v;
            }
        }
        matrices.push(a);
        rhs.push(project_vector(g));
    }
    ProjectedTerms { op, matrices, rhs }
}

impl<'a> ReducedNavierForward<'a> {
    /// Build the bases from full solves at `snapshots` (moduli maps, with the bulk modulus
    /// when it is a parameter).
    pub fn build(full: &'a NavierForward, snapshots: &[Moduli]) -> Result<Self> {
        let first = snapshots.first().ok_or_else(|| InverseError::invalid("reduced model", "no snapshots", "at least one snapshot"))?;
        let pressure_scale = full.pressure_scale(first);
        // The free unknowns do not depend on the moduli: take them from the first snapshot.
        let medium = full.medium(first)?;
        let k = full.bulk_modulus_of(first);
        let op = NavierOperator::new(&full.problem(&medium, k, 0), pressure_scale)?;
        let free: Vec<usize> = op.fixed().iter().enumerate().filter(|(_, &f)| !f).map(|(i, _)| i).collect();
        let prescribed = (0..full.n_frequencies()).map(|f| op.prescribed(full.faces(f))).collect::<std::result::Result<Vec<_>, _>>()?;
        let classes = voxel_classes(snapshots);
        let built = (0..full.n_frequencies())
            .into_par_iter()
            .map(|f| {
                let mut basis = Vec::new();
                for m in snapshots {
                    let (fields, _) = full.solve_fields(f, m)?;
                    let x = op.unknowns(&fields);
                    extend_basis(&mut basis, free.iter().map(|&i| x[i]).collect());
                }
                let terms = match &classes {
                    Some(c) => {
                        let affine = AffineNavierOperator::new(&full.problem(&medium, k, f), pressure_scale, c)?;
                        Some(project(affine, &basis, &free, &prescribed[f]))
                    }
                    None => None,
                };
                Ok((basis, terms))
            })
            .collect::<Result<Vec<_>>>()?;
        let (bases, terms): (Vec<_>, Vec<_>) = built.into_iter().unzip();
        let affine = terms.into_iter().collect::<Option<Vec<_>>>();
        Ok(Self { full, free, pressure_scale, op, bases, prescribed, affine, snapshots: snapshots.len() })
    }

    /// Whether reduced solves use the projected terms (the snapshots' moduli are constant on
    /// at most 64 voxel classes) rather than assembling the operator.
    pub fn decomposed(&self) -> bool {
        self.affine.is_some()
    }

    /// This model with the projected terms dropped: every reduced solve assembles the
    /// operator (the same Galerkin system; for comparisons and benchmarks).
    pub fn assembling(mut self) -> Self {
        self.affine = None;
        self
    }

    /// The reduced model around a Laplace approximation: snapshots at
    /// [`crate::bayes::snapshot_points`] two standard deviations out.
    pub fn around(full: &'a NavierForward, param: &dyn crate::param::Parameterisation, laplace: &crate::laplace::Laplace) -> Result<Self> {
        let moduli = snapshot_moduli(param, laplace);
        let r = Self::build(full, &moduli)?;
        tracing::info!(snapshots = moduli.len(), basis = ?r.basis_sizes(), decomposed = r.decomposed(), "reduced Navier model");
        Ok(r)
    }

    fn solve(&self, f: usize, moduli: &Moduli) -> Result<Solution> {
        let medium = self.full.medium(moduli)?;
        let k = self.full.bulk_modulus_of(moduli);
        let p = self.full.problem(&medium, k, f);
        let g = self.prescribed[f].clone();
        let projected = self.affine.as_ref().map(|a| &a[f]);
        let (sol, matrix) = match projected.and_then(|a| a.op.class_moduli(&medium).map(|gc| (a, gc))) {
            Some((a, gc)) => {
                p.validate()?;
                let c = a.op.coefficients(&gc, k);
                let m = self.bases[f].len();
                let mut matrix = Mat::<Complex64>::zeros(m, m);
                let mut b = Mat::<Complex64>::zeros(m, 1);
                for (t, &ct) in c.iter().enumerate() {
                    let at = &a.matrices[t];
                    for j in 0..m {
                        for i in 0..m {
                            matrix[(i, j)] += ct * at[(i, j)];
                        }
                    }
                    for i in 0..m {
                        b[(i, 0)] -= ct * a.rhs[t][i];
                    }
                }
                let coef = matrix.partial_piv_lu().solve(&b);
                let mut sol = g;
                add_combination(&self.bases[f], &self.free, &coef, &mut sol);
                (sol, matrix)
            }
            None => {
                let op = NavierOperator::new(&p, self.pressure_scale)?;
                galerkin_solve(&self.bases[f], &self.free, g, |x, y| op.apply(x, y))
            }
        };
        if sol.iter().any(|v| !(v.re.is_finite() && v.im.is_finite())) {
            return Err(InverseError::NonFinite(format!("reduced Navier solution of frequency {f} is not finite")));
        }
        let fields = self.op.fields(&sol);
        Ok(Solution { medium, bulk_modulus_pa: k, fields, matrix })
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
        let Solution { medium, bulk_modulus_pa: k, fields, matrix } = self.solve(f, moduli)?;
        let op = &self.op;
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
