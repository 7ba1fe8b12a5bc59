//! The assembled Navier operator without a factorisation: matrix–vector products for
//! projection (reduced-basis) models of the inversion.
//!
//! The unknowns are those of [`NavierSolver`] (`u_z`, `u_y`, `u_x` on their face arrays, then
//! one pressure per voxel) with the pressures in units of a caller-chosen scale `s` (Pa per
//! unit), so that vectors of operators assembled for different moduli — whose internal
//! pressure scalings differ — can be combined: `x = [u; p/s]` and the operator applied is
//! `E K E` with `K` the full operator of the problem (every unknown an equation, no Dirichlet
//! substitution, complex symmetric) and `E = diag(1, s/s_K)`, `s_K` the operator's own
//! scaling. `E K E` is complex symmetric too and `xᵀ (E K E) y` equals the solver's bilinear
//! form of the fields of `x` and `y`, so [`NavierOperator::modulus_sensitivity`] of fields
//! converted with [`NavierOperator::fields`] is its derivative with respect to `G*`.

use ndarray::Array3;
use num_complex::Complex64;

use super::{assemble, fixed_unknowns, for_each_pos, Assembly, NavierFields, VectorProblem, AXIS};
use crate::error::{Result, SolverError};

const ZERO: Complex64 = Complex64::new(0.0, 0.0);

/// The assembled operator of a [`VectorProblem`] in pressure units of a chosen scale (see the
/// module documentation of `wave::navier_operator`).
pub struct NavierOperator {
    asm: Assembly,
    fixed: Vec<bool>,
    /// `s / s_K` on the pressure unknowns.
    ratio: f64,
    scale: f64,
}

impl std::fmt::Debug for NavierOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NavierOperator").field("unknowns", &self.len()).field("pressure_scale", &self.scale).finish_non_exhaustive()
    }
}

impl NavierOperator {
    /// Assemble `p` with pressures in units of `pressure_scale` Pa (positive, finite).
    pub fn new(p: &VectorProblem, pressure_scale: f64) -> Result<Self> {
        p.validate()?;
        if !(pressure_scale.is_finite() && pressure_scale > 0.0) {
            return Err(SolverError::invalid("pressure scale", pressure_scale, "a positive, finite scale in Pa"));
        }
        let asm = assemble(p);
        let (fixed, _) = fixed_unknowns(&asm, &p.boundary, p.dirichlet.as_ref());
        let ratio = pressure_scale / asm.pressure_scale;
        Ok(Self { asm, fixed, ratio, scale: pressure_scale })
    }

    /// Number of unknowns (faces and pressures, prescribed ones included).
    pub fn len(&self) -> usize {
        self.asm.layout.len
    }

    /// Never true (a grid has at least one voxel).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Which unknowns are prescribed (Dirichlet faces, clamped faces, pressures of voxels
    /// whose faces are all prescribed); the same as the solver's for the same problem.
    pub fn fixed(&self) -> &[bool] {
        &self.fixed
    }

    /// `y = E K E x` (see the module documentation).
    pub fn apply(&self, x: &[Complex64], y: &mut [Complex64]) {
        let np = self.asm.layout.offset[3];
        let mut xs = x.to_vec();
        xs[np..].iter_mut().for_each(|v| *v *= self.ratio);
        let r = self.asm.full.matvec(&self.asm.full_values, &xs);
        y.copy_from_slice(&r);
        y[np..].iter_mut().for_each(|v| *v *= self.ratio);
    }

    /// The unknowns of `fields` (pressures divided by the scale).
    pub fn unknowns(&self, fields: &NavierFields) -> Vec<Complex64> {
        super::flatten(&self.asm.layout, fields, self.scale)
    }

    /// The fields of the unknowns `x` (pressures in Pa).
    pub fn fields(&self, x: &[Complex64]) -> NavierFields {
        let lay = &self.asm.layout;
        let faces = [0, 1, 2].map(|a| {
            let c = lay.comp[a];
            Array3::from_shape_vec((c[0], c[1], c[2]), x[lay.offset[a]..lay.offset[a + 1]].to_vec()).expect("length matches the face array")
        });
        let s = lay.shape;
        let p = x[lay.offset[3]..].iter().map(|q| q * self.scale).collect();
        NavierFields { faces, pressure_pa: Array3::from_shape_vec((s[0], s[1], s[2]), p).expect("length matches the grid") }
    }

    /// The vector with `faces[a]` (m, shapes of [`NavierFields::faces`]) at the prescribed
    /// displacement unknowns and 0 elsewhere (prescribed pressures too, as
    /// [`super::NavierSolver::solve_fields_with_face_values`] returns them).
    pub fn prescribed(&self, faces: &[Array3<Complex64>; 3]) -> Result<Vec<Complex64>> {
        let lay = &self.asm.layout;
        let mut g = vec![ZERO; lay.len];
        for (a, fa) in faces.iter().enumerate() {
            if fa.shape() != lay.comp[a] {
                return Err(SolverError::Shape(format!(
                    "face values u_{} have shape {:?}, expected {:?}",
                    AXIS[a],
                    fa.shape(),
                    lay.comp[a]
                )));
            }
            for_each_pos(lay.comp[a], |pos| {
                let i = lay.u(a, pos);
                if self.fixed[i] {
                    g[i] = fa[pos];
                }
            });
        }
        Ok(g)
    }

    /// `Cᵀ r` on the free displacement unknowns (0 elsewhere): the transpose of the map from
    /// the unknowns to the centre displacement of [`NavierFields::centres`], applied to `r`
    /// (`[z, y, x]` per voxel). With `r = ∂J/∂u` it is the adjoint right-hand side.
    pub fn centre_transpose(&self, r: &[Array3<Complex64>; 3]) -> Vec<Complex64> {
        let mut y = self.asm.layout.centre_transpose(r);
        y.iter_mut().zip(&self.fixed).filter(|(_, &f)| f).for_each(|(v, _)| *v = ZERO);
        y
    }

    /// [`super::NavierSolver::modulus_sensitivity`] with this operator: `c_v = wᵀ (∂K/∂G*_v) u` for
    /// the fields `u`, `w` of the problem `p` this operator was assembled for.
    pub fn modulus_sensitivity(&self, p: &VectorProblem, u: &NavierFields, w: &NavierFields) -> Result<Array3<Complex64>> {
        super::modulus_sensitivity(&self.asm, p, u, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::phantom::Grid;
    use crate::wave::{Boundary, Medium, NavierSolver, VectorDirichlet};

    /// The operator's residual of the direct solver's solution vanishes on the free unknowns,
    /// for any pressure scale, and `E K E` is complex symmetric.
    #[test]
    fn direct_solution_is_a_null_vector_of_the_free_rows() {
        let grid = Grid::new([1, 9, 8], [1e-3, 2e-3, 2e-3]).unwrap();
        let mut m = Medium::homogeneous(grid.clone(), 3e3, 3e2, 1e3);
        m.storage_modulus_pa[[0, 4, 4]] = 9e3;
        let d = VectorDirichlet::from_fn(
            &grid,
            |i| i[1] == 0 || i[1] == 8 || i[2] == 0 || i[2] == 7,
            |i| [Complex64::new(0.0, 0.0), Complex64::new(1e-6 * i[2] as f64, 0.0), Complex64::new(0.0, 1e-6 * i[1] as f64)],
        );
        let p = VectorProblem {
            medium: &m,
            bulk_modulus_pa: 5e4.into(),
            omega_rad_per_s: 400.0,
            boundary: Boundary::free(),
            dirichlet: Some(d),
        };
        let solver = NavierSolver::new(&p).unwrap();
        let zero = Array3::zeros((1, 9, 8));
        let fields = solver.solve_fields(&[zero.clone(), zero.clone(), zero]).unwrap();
        for scale in [1.0, 1e3] {
            let op = NavierOperator::new(&p, scale).unwrap();
            let x = op.unknowns(&fields);
            let mut y = vec![ZERO; x.len()];
            op.apply(&x, &mut y);
            let scale_of_terms = x.iter().map(|v| v.norm()).fold(0.0, f64::max) * 1e3;
            for (i, (&yi, &f)) in y.iter().zip(op.fixed()).enumerate() {
                if !f {
                    assert!(yi.norm() < 1e-9 * scale_of_terms, "row {i}: {yi}");
                }
            }
            let back = op.fields(&x);
            assert!((&back.pressure_pa - &fields.pressure_pa)
                .iter()
                .all(|v| v.norm() <= 1e-12 * (1.0 + fields.pressure_pa[[0, 4, 4]].norm())));
            // Symmetry: aᵀ K b = bᵀ K a for two arbitrary vectors.
            let a: Vec<Complex64> = (0..x.len()).map(|i| Complex64::new((i % 7) as f64, (i % 3) as f64)).collect();
            let b: Vec<Complex64> = (0..x.len()).map(|i| Complex64::new((i % 5) as f64 - 2.0, 1.0)).collect();
            let (mut ka, mut kb) = (vec![ZERO; x.len()], vec![ZERO; x.len()]);
            op.apply(&a, &mut ka);
            op.apply(&b, &mut kb);
            let ab: Complex64 = b.iter().zip(&ka).map(|(u, v)| u * v).sum();
            let ba: Complex64 = a.iter().zip(&kb).map(|(u, v)| u * v).sum();
            assert!((ab - ba).norm() <= 1e-12 * ab.norm());
        }
    }
}
