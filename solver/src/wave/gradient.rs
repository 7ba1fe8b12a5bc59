//! Adjoint misfit gradient and the scattered-field source.

use ndarray::Array3;
use num_complex::Complex64;

use super::solver::ScalarSolver;
use super::stencil::{for_each_voxel, harmonic_mean4_d, harmonic_mean_da, Stencil};
use super::{check_field, Boundary, Medium, ScalarProblem, Scheme};
use crate::error::{Result, SolverError};

/// Misfit `J` of a forward solution and its gradient with respect to every voxel's moduli.
#[derive(Debug, Clone)]
pub struct MisfitGradient {
    /// `J = ½ Σ_{v in mask} |u_v − d_v|²`, m².
    pub misfit: f64,
    /// `∂J/∂G'_v` per voxel, m²/Pa (J units per Pa).
    pub storage: Array3<f64>,
    /// `∂J/∂G''_v` per voxel, m²/Pa.
    pub loss: Array3<f64>,
    /// The forward solution `u`, m.
    pub field: Array3<Complex64>,
}

/// `J = ½ Σ_{v in mask} |u_v − d_v|²` for the solution `u` of `p` with `source`, and its
/// gradient with respect to G' and G'' of every voxel, by one forward and one adjoint solve.
///
/// With `K(G*) u = S f` on free voxels (Dirichlet values fixed), `μ = K⁻ᴴ r`,
/// `r = mask·(u − d)` on free voxels: `dJ = −Re Σ_i conj(μ_i) (dK u)_i`. Each face coefficient
/// depends holomorphically on `G* = G' + iG''`, so with `c_v = Σ_i conj(μ_i) (∂K/∂G*_v u)_i`:
/// `∂J/∂G'_v = −Re c_v` and `∂J/∂G''_v = Im c_v`. The PML stretching does not depend on the moduli.
/// Dirichlet voxels are fixed: their moduli enter only through the faces they share with free voxels.
pub fn misfit_gradient(
    p: &ScalarProblem,
    source: &Array3<Complex64>,
    observed: &Array3<Complex64>,
    mask: &Array3<bool>,
) -> Result<MisfitGradient> {
    let grid = &p.medium.grid;
    check_field("observed", observed, grid)?;
    if mask.shape() != grid.shape {
        return Err(SolverError::Shape(format!("misfit mask has shape {:?}, the grid is {:?}", mask.shape(), grid.shape)));
    }
    let solver = ScalarSolver::new(p)?;
    let field = solver.solve(source)?;
    let mut misfit = 0.0;
    let mut residual = Array3::zeros(field.raw_dim());
    for (((r, &m), &u), &d) in residual.iter_mut().zip(mask).zip(&field).zip(observed) {
        if m {
            *r = u - d;
            misfit += 0.5 * r.norm_sqr();
        }
    }
    let (storage, loss) = solver.modulus_gradient(p.medium, &field, &residual)?;
    Ok(MisfitGradient { misfit, storage, loss, field })
}

impl ScalarSolver {
    /// Gradient of a real objective `J(u)` of this solver's solution `u` with respect to every
    /// voxel's G' and G'' (Pa), by one adjoint solve with the existing factorisation.
    ///
    /// `medium` must be the one this solver was factorised for, `field` its solution `u`, and
    /// `dj_du` the derivative of `J` with respect to `u` in the sense
    /// `dJ = Re Σ_i conj(dj_du_i) du_i` (for `J = ½ Σ |u − d|²` it is the residual `u − d`).
    /// Entries at Dirichlet voxels are ignored (their values are fixed). Returns
    /// `(∂J/∂G', ∂J/∂G'')` per voxel, in units of `J` per Pa.
    ///
    /// With `K(G*) u = S f` on free voxels, `μ = K⁻ᴴ dj_du`: `dJ = −Re Σ_i conj(μ_i) (dK u)_i`.
    /// Each face coefficient depends holomorphically on `G* = G' + iG''`, so with
    /// `c_v = Σ_i conj(μ_i) (∂K/∂G*_v u)_i`: `∂J/∂G'_v = −Re c_v` and `∂J/∂G''_v = Im c_v`. The PML
    /// stretching does not depend on the moduli; Dirichlet voxels' moduli enter only through
    /// the faces they share with free voxels.
    pub fn modulus_gradient(
        &self,
        medium: &Medium,
        field: &Array3<Complex64>,
        dj_du: &Array3<Complex64>,
    ) -> Result<(Array3<f64>, Array3<f64>)> {
        let grid = self.grid();
        check_field("field", field, grid)?;
        check_field("objective derivative", dj_du, grid)?;
        if medium.grid.shape != grid.shape {
            return Err(SolverError::Shape(format!("medium has shape {:?}, the solver's grid is {:?}", medium.grid.shape, grid.shape)));
        }
        let u: Vec<Complex64> = field.iter().copied().collect();
        let fixed = |i: usize| self.dirichlet_mask().is_some_and(|m| m[i]);
        let mut mu: Vec<Complex64> = dj_du.iter().enumerate().map(|(i, &r)| if fixed(i) { Complex64::new(0.0, 0.0) } else { r }).collect();
        self.lu_solve_in_place(&mut mu, true)?;
        let c = modulus_sensitivity(self.stencil(), &medium.complex_modulus(), &u, &mu);
        let sh = (grid.shape[0], grid.shape[1], grid.shape[2]);
        let storage = Array3::from_shape_vec(sh, c.iter().map(|c| -c.re).collect()).expect("length matches the grid");
        let loss = Array3::from_shape_vec(sh, c.iter().map(|c| c.im).collect()).expect("length matches the grid");
        Ok((storage, loss))
    }
}

impl ScalarSolver {
    /// `∂u/∂G*_v` (m/Pa, holomorphic in `G* = G' + iG''`) of this solver's solution `field` for
    /// each voxel `v` of `voxels` (linear C-order indices): the change of the prediction when one
    /// voxel's complex modulus changes, Dirichlet values fixed. `medium` must be the one this
    /// solver was factorised for. With `K(G*) u = S f` on free voxels,
    /// `∂u/∂G*_v = −K⁻¹ (∂K/∂G*_v u)` (zero at Dirichlet voxels).
    ///
    /// `∂K/∂G*_v u` is supported on the 3×3(×3) neighbourhood of `v`; it is read off
    /// `modulus_sensitivity` with `μ` the indicator of one residue class of the voxel index
    /// modulo 3 per axis (each neighbourhood holds one voxel of each class): 9 (2-D) or 27 (3-D)
    /// sensitivity sweeps, then one solve per voxel.
    pub fn modulus_derivative(&self, medium: &Medium, field: &Array3<Complex64>, voxels: &[usize]) -> Result<Vec<Array3<Complex64>>> {
        let grid = self.grid();
        check_field("field", field, grid)?;
        if medium.grid.shape != grid.shape {
            return Err(SolverError::Shape(format!("medium has shape {:?}, the solver's grid is {:?}", medium.grid.shape, grid.shape)));
        }
        let st = self.stencil();
        let n = st.shape.iter().product::<usize>();
        if let Some(&v) = voxels.iter().find(|&&v| v >= n) {
            return Err(SolverError::Shape(format!("voxel index {v} outside a grid of {n} voxels")));
        }
        let u: Vec<Complex64> = field.iter().copied().collect();
        let g = medium.complex_modulus();
        let index = |i: usize| [i / (st.shape[1] * st.shape[2]), (i / st.shape[2]) % st.shape[1], i % st.shape[2]];
        let class = |idx: [usize; 3]| idx.map(|k| k % 3);
        let classes: Vec<[usize; 3]> =
            (0..27).map(|c| [c / 9, (c / 3) % 3, c % 3]).filter(|c| (0..3).all(|a| st.active[a] || c[a] == 0)).collect();
        // rows[k]: (row i, (∂K/∂G*_v u)_i) for voxel voxels[k].
        let mut rows: Vec<Vec<(usize, Complex64)>> = vec![Vec::new(); voxels.len()];
        for cl in &classes {
            let mu: Vec<Complex64> = (0..n).map(|i| Complex64::new(f64::from(u8::from(class(index(i)) == *cl)), 0.0)).collect();
            let c = modulus_sensitivity(st, &g, &u, &mu);
            for (k, &v) in voxels.iter().enumerate() {
                let iv = index(v);
                // The voxel of v's neighbourhood in class `cl`, if inside the grid.
                let mut row = [0usize; 3];
                let mut inside = true;
                for a in 0..3 {
                    let lo = iv[a].saturating_sub(usize::from(st.active[a]));
                    let hi = if st.active[a] { (iv[a] + 1).min(st.shape[a] - 1) } else { iv[a] };
                    match (lo..=hi).find(|&x| x % 3 == cl[a]) {
                        Some(x) => row[a] = x,
                        None => inside = false,
                    }
                }
                if inside {
                    let i = (row[0] * st.shape[1] + row[1]) * st.shape[2] + row[2];
                    if c[v] != Complex64::new(0.0, 0.0) {
                        rows[k].push((i, c[v]));
                    }
                }
            }
        }
        let fixed = |i: usize| self.dirichlet_mask().is_some_and(|m| m[i]);
        use rayon::prelude::*;
        rows.par_iter()
            .map(|r| {
                let mut b = vec![Complex64::new(0.0, 0.0); n];
                for &(i, v) in r {
                    if !fixed(i) {
                        b[i] = -v;
                    }
                }
                self.lu_solve_in_place(&mut b, false)?;
                Ok(self.to_array(b))
            })
            .collect()
    }
}

/// `c_v = Σ_i conj(μ_i) (∂K/∂G*_v u)_i` for every voxel `v` (see [`ScalarSolver::modulus_gradient`]).
pub(crate) fn modulus_sensitivity(st: &Stencil, moduli: &Array3<Complex64>, u: &[Complex64], mu: &[Complex64]) -> Vec<Complex64> {
    let g: Vec<Complex64> = moduli.iter().copied().collect();
    let mut c = vec![Complex64::new(0.0, 0.0); u.len()];
    for_each_voxel(st.shape, |i, idx| {
        for a in (0..3).filter(|&a| st.active[a]) {
            let k = idx[a];
            if k + 1 < st.shape[a] {
                // Face (i, j): row i gets T (u_j − u_i), row j gets T (u_i − u_j).
                let j = i + st.strides[a];
                let w = st.face_weight(a, idx, k + 1);
                let q = (mu[i].conj() - mu[j].conj()) * (u[j] - u[i]) * w;
                c[i] += harmonic_mean_da(g[i], g[j]) * q;
                c[j] += harmonic_mean_da(g[j], g[i]) * q;
            }
            // Clamped outer faces: row i gets −2 G_i w u_i.
            for (side, f) in [(0, 0), (1, k + 1)] {
                let outer = if side == 0 { k == 0 } else { k + 1 == st.shape[a] };
                if outer && st.clamped[a][side] {
                    c[i] -= 2.0 * st.face_weight(a, idx, f) * mu[i].conj() * u[i];
                }
            }
        }
    });
    if st.scheme == Scheme::Compact {
        // Plaquettes `W v vᵀ` with `W = hm4(G) · geometry`: `c_k += ∂W/∂G_k (v·conj μ)(v·u)`.
        let v = [1.0, -1.0, -1.0, 1.0];
        for (d, e) in [(0, 1), (0, 2), (1, 2)] {
            if !(st.active[d] && st.active[e]) {
                continue;
            }
            st.plaquettes_of(d, e, |p| {
                let gs = p.voxels.map(|i| g[i]);
                let (mut vm, mut vu) = (Complex64::new(0.0, 0.0), Complex64::new(0.0, 0.0));
                for (k, &i) in p.voxels.iter().enumerate() {
                    vm += v[k] * mu[i].conj();
                    vu += v[k] * u[i];
                }
                for (k, &i) in p.voxels.iter().enumerate() {
                    c[i] += harmonic_mean4_d(gs, k) * p.geometry * vm * vu;
                }
            });
            // Ghost plaquettes at clamped faces: `2 W (e_a − e_b)(e_a − e_b)ᵀ`, `W = hm(G_a, G_b) · geometry`.
            st.ghost_plaquettes_of(d, e, |p| {
                let [a, b] = p.voxels;
                let q = 2.0 * p.geometry * (mu[a].conj() - mu[b].conj()) * (u[a] - u[b]);
                c[a] += harmonic_mean_da(g[a], g[b]) * q;
                c[b] += harmonic_mean_da(g[b], g[a]) * q;
            });
        }
    }
    c
}

/// Source of the scattered field: `−[(L(G*, ρ) − L(G_b, ρ_b)) u_inc]` with the interior operator of
/// `scheme` (no PML, free outer faces), where `L u = ∇·(G*∇u) + ρω²u` and `u_inc` is a solution in
/// the homogeneous background (`background_modulus` G_b in Pa, `background_density` ρ_b in kg/m³,
/// `omega` in rad/s). Solve `A u_s = source` with absorbing faces and the same `scheme`; the total
/// field is `u_inc + u_s`. The source vanishes wherever the medium (and, for the compact scheme,
/// its neighbourhood) equals the background, which must be the case near the outer faces and
/// inside the PML.
///
/// # Panics
/// If `incident` does not have the grid's shape.
pub fn scattered_field_source(
    medium: &Medium,
    background_modulus: Complex64,
    background_density: f64,
    omega: f64,
    incident: &Array3<Complex64>,
    scheme: Scheme,
) -> Array3<Complex64> {
    let shape = medium.grid.shape;
    assert_eq!(incident.shape(), shape, "incident field shape does not match the grid");
    let background = Medium::homogeneous(medium.grid.clone(), background_modulus.re, background_modulus.im, background_density);
    let w2 = Complex64::new(omega * omega, 0.0);
    let u: Vec<Complex64> = incident.iter().copied().collect();
    let (mut lu, mut lb) = (vec![Complex64::new(0.0, 0.0); u.len()], vec![Complex64::new(0.0, 0.0); u.len()]);
    Stencil::assemble(medium, w2, &Boundary::free(), scheme).apply(&u, &mut lu);
    Stencil::assemble(&background, w2, &Boundary::free(), scheme).apply(&u, &mut lb);
    let out = lu.iter().zip(&lb).map(|(a, b)| b - a).collect();
    Array3::from_shape_vec((shape[0], shape[1], shape[2]), out).expect("length matches the grid")
}
