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

use std::collections::HashMap;

use ndarray::Array3;
use num_complex::Complex64;

use super::{assemble, fixed_unknowns, triplets, Assembly, Layout, NavierFields, Tag, Triplets, VectorProblem};
use crate::error::{Result, SolverError};
use crate::wave::Medium;

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
        check(p, pressure_scale)?;
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
        super::prescribed_face_values(&self.asm.layout, &self.fixed, faces, false)
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
        super::modulus_sensitivity(&self.asm.layout, self.asm.pressure_scale, p, u, w)
    }
}

/// Checks `p` and a pressure unit (Pa).
fn check(p: &VectorProblem, pressure_scale: f64) -> Result<()> {
    p.validate()?;
    if !(pressure_scale.is_finite() && pressure_scale > 0.0) {
        return Err(SolverError::invalid("pressure scale", pressure_scale, "a positive, finite scale in Pa"));
    }
    Ok(())
}

/// The tagged entries of `p`'s operator `E K E` with pressures in units of `pressure_scale` Pa
/// (`p` and the scale checked), and the layout.
fn scaled_entries(p: &VectorProblem, pressure_scale: f64) -> Result<(Layout, Triplets)> {
    check(p, pressure_scale)?;
    let (lay, mut t, _, ps) = triplets(p, true);
    let ratio = pressure_scale / ps;
    let np = lay.offset[3];
    for (i, j, v) in &mut t.entries {
        *v *= ratio.powi(i32::from(*i >= np) + i32::from(*j >= np));
    }
    Ok((lay, t))
}

/// The coefficient of one term of an [`AffineNavierOperator`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TermKind {
    /// 1: the mass at the problem's `ω` and the pressure coupling.
    Constant,
    /// `G*` of the class: normal stresses at the voxel centres of the class and the shear
    /// stress on edges whose voxels all belong to it.
    Shear(usize),
    /// `1/λ` of the class, `λ = K − 2G*/3`: the compliance of its voxels.
    Compliance(usize),
    /// `n / Σ 1/G*` over the classes of the `n` voxels around an edge (ascending, repeated):
    /// the shear stress on edges between classes.
    Edge(Vec<usize>),
}

/// One term: its kind and entries (row, column, value; duplicates allowed).
struct Term {
    kind: TermKind,
    entries: Vec<(usize, usize, Complex64)>,
}

/// The operator `E K E` of [`NavierOperator`] for moduli that are constant on classes of
/// voxels (the regions of an inversion) and a uniform bulk modulus, as a sum of fixed sparse
/// terms `Σ_t c_t(G*, K) A_t` whose coefficients are the classes' `G*`, their `1/λ` and the
/// harmonic means of `G*` on edges between classes ([`TermKind`]). A projection model projects
/// each `A_t` once and then forms its operator for any moduli without assembling.
pub struct AffineNavierOperator {
    len: usize,
    /// Class of each voxel (C order).
    classes: Vec<usize>,
    /// A voxel of each class.
    representative: Vec<usize>,
    terms: Vec<Term>,
}

impl std::fmt::Debug for AffineNavierOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AffineNavierOperator")
            .field("unknowns", &self.len)
            .field("classes", &self.representative.len())
            .field("terms", &self.terms.len())
            .finish_non_exhaustive()
    }
}

impl AffineNavierOperator {
    /// The terms of `p`'s operator with pressures in units of `pressure_scale` Pa, for the
    /// voxel classes `classes` (grid shape; every class from 0 to the largest present). The
    /// moduli of `p` must be constant on every class and its bulk modulus uniform.
    pub fn new(p: &VectorProblem, pressure_scale: f64, classes: &Array3<usize>) -> Result<Self> {
        let (lay, t) = scaled_entries(p, pressure_scale)?;
        let shape = p.medium.grid.shape;
        if classes.shape() != shape {
            return Err(SolverError::Shape(format!("voxel classes have shape {:?}, the grid {shape:?}", classes.shape())));
        }
        let k = p.bulk_modulus_pa.uniform().ok_or_else(|| {
            SolverError::invalid("bulk_modulus_pa", "per voxel", "a uniform bulk modulus for the decomposition by classes")
        })?;
        let classes: Vec<usize> = classes.iter().copied().collect();
        let n_classes = classes.iter().max().map_or(0, |&c| c + 1);
        let mut representative = vec![usize::MAX; n_classes];
        for (v, &c) in classes.iter().enumerate() {
            if representative[c] == usize::MAX {
                representative[c] = v;
            }
        }
        if let Some(c) = representative.iter().position(|&v| v == usize::MAX) {
            return Err(SolverError::invalid("voxel classes", format!("class {c} has no voxel"), "classes numbered 0, 1, … without gaps"));
        }
        let mut op = Self { len: 0, classes, representative, terms: Vec::new() };
        let g = op
            .class_moduli(p.medium)
            .ok_or_else(|| SolverError::invalid("moduli", "not constant on a voxel class", "one G* per class for the decomposition"))?;
        let gv: Vec<Complex64> = p.medium.complex_modulus().iter().copied().collect();

        op.len = lay.len;
        let tags = t.tags.as_deref().expect("tagged triplets");
        let mut index: HashMap<TermKind, usize> = HashMap::new();
        for (&(i, j, v), &tag) in t.entries.iter().zip(tags) {
            let (kind, base) = match tag {
                Tag::Constant => (TermKind::Constant, v),
                Tag::Shear(vx) => (TermKind::Shear(op.classes[vx]), v / gv[vx]),
                Tag::Compliance(vx) => (TermKind::Compliance(op.classes[vx]), v * (k - gv[vx] * (2.0 / 3.0))),
                Tag::Edge(e) => {
                    let (voxels, cnt) = t.edges[e];
                    let mut cs: Vec<usize> = voxels[..cnt].iter().map(|&vx| op.classes[vx]).collect();
                    cs.sort_unstable();
                    let harmonic = cnt as f64 / cs.iter().map(|&c| 1.0 / g[c]).sum::<Complex64>();
                    let kind = if cs.iter().all(|&c| c == cs[0]) { TermKind::Shear(cs[0]) } else { TermKind::Edge(cs) };
                    (kind, v / harmonic)
                }
            };
            let n = index.len();
            let ti = *index.entry(kind.clone()).or_insert(n);
            if ti == op.terms.len() {
                op.terms.push(Term { kind, entries: Vec::new() });
            }
            op.terms[ti].entries.push((i, j, base));
        }
        Ok(op)
    }

    /// Number of unknowns (as [`NavierOperator::len`]).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true (a grid has at least one voxel).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of terms.
    pub fn n_terms(&self) -> usize {
        self.terms.len()
    }

    /// Kind of term `t`.
    pub fn kind(&self, t: usize) -> &TermKind {
        &self.terms[t].kind
    }

    /// The class of every voxel (C order).
    pub fn classes(&self) -> &[usize] {
        &self.classes
    }

    /// `G*` of every class when `medium`'s moduli are constant on each class (exactly), else
    /// None.
    pub fn class_moduli(&self, medium: &Medium) -> Option<Vec<Complex64>> {
        let g = medium.storage_modulus_pa.as_slice()?;
        let l = medium.loss_modulus_pa.as_slice()?;
        if g.len() != self.classes.len() || l.len() != g.len() {
            return None;
        }
        let values: Vec<(f64, f64)> = self.representative.iter().map(|&v| (g[v], l[v])).collect();
        let constant = self.classes.iter().enumerate().all(|(v, &c)| (g[v], l[v]) == values[c]);
        constant.then(|| values.iter().map(|&(s, l)| Complex64::new(s, l)).collect())
    }

    /// The coefficients `c_t` of the terms for the classes' moduli `g` and the bulk modulus `k`
    /// (Pa).
    pub fn coefficients(&self, g: &[Complex64], k: f64) -> Vec<Complex64> {
        self.terms
            .iter()
            .map(|t| match &t.kind {
                TermKind::Constant => Complex64::new(1.0, 0.0),
                TermKind::Shear(c) => g[*c],
                TermKind::Compliance(c) => 1.0 / (k - g[*c] * (2.0 / 3.0)),
                TermKind::Edge(cs) => cs.len() as f64 / cs.iter().map(|&c| 1.0 / g[c]).sum::<Complex64>(),
            })
            .collect()
    }

    /// `y += A_t x` for term `t`.
    pub fn apply_term_add(&self, t: usize, x: &[Complex64], y: &mut [Complex64]) {
        for &(i, j, v) in &self.terms[t].entries {
            y[i] += v * x[j];
        }
    }

    /// Rows of term `t` (ascending, each once).
    pub fn term_rows(&self, t: usize) -> Vec<usize> {
        let mut rows: Vec<usize> = self.terms[t].entries.iter().map(|e| e.0).collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// `y = Σ_t c_t A_t x`.
    pub fn apply(&self, coefficients: &[Complex64], x: &[Complex64], y: &mut [Complex64]) {
        y.iter_mut().for_each(|v| *v = ZERO);
        for (t, term) in self.terms.iter().enumerate() {
            let c = coefficients[t];
            for &(i, j, v) in &term.entries {
                y[i] += c * v * x[j];
            }
        }
    }
}

/// The derivative of [`NavierOperator`]'s `E K E` with respect to the complex modulus `G*` of
/// one voxel, applied to a vector: exact (the normal stress at the voxel's centre, its
/// compliance `1/λ`, and the harmonic means of the edges around it), local, and without
/// assembling — for sensitivities `∂u/∂G*_v = −K⁻¹ (∂K/∂G*_v) u` of many voxels.
pub struct VoxelDerivatives {
    len: usize,
    /// `(row, column, ∂value/∂G*_v)` per entry and dependent voxel, grouped by voxel:
    /// `entries[start[v]..start[v + 1]]`.
    entries: Vec<(usize, usize, Complex64)>,
    start: Vec<usize>,
    /// `(voxel, row, column, ∂value/∂K_voxel)` of the compliance entries, the only ones that
    /// depend on the bulk modulus.
    bulk: Vec<(usize, usize, usize, Complex64)>,
}

impl std::fmt::Debug for VoxelDerivatives {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoxelDerivatives").field("unknowns", &self.len).field("entries", &self.entries.len()).finish()
    }
}

impl VoxelDerivatives {
    /// The derivatives of `p`'s operator with pressures in units of `pressure_scale` Pa.
    pub fn new(p: &VectorProblem, pressure_scale: f64) -> Result<Self> {
        let (lay, t) = scaled_entries(p, pressure_scale)?;
        let g: Vec<Complex64> = p.medium.complex_modulus().iter().copied().collect();
        let k = p.bulk_modulus_pa.to_array(&p.medium.grid);
        let k = k.as_slice().expect("standard layout");
        let tags = t.tags.as_deref().expect("tagged triplets");
        let mut by_voxel: Vec<(usize, (usize, usize, Complex64))> = Vec::new();
        let mut bulk = Vec::new();
        for (&(i, j, v), &tag) in t.entries.iter().zip(tags) {
            match tag {
                Tag::Constant => {}
                Tag::Shear(vx) => by_voxel.push((vx, (i, j, v / g[vx]))),
                Tag::Compliance(vx) => {
                    // v ∝ 1/λ with λ = K − 2G*/3.
                    let lambda = k[vx] - g[vx] * (2.0 / 3.0);
                    by_voxel.push((vx, (i, j, v * (2.0 / 3.0) / lambda)));
                    bulk.push((vx, i, j, -v / lambda));
                }
                Tag::Edge(e) => {
                    // v ∝ G_e = n / Σ 1/G_w: ∂G_e/∂G_w = G_e² / (n G_w²).
                    let (voxels, cnt) = t.edges[e];
                    let ge = cnt as f64 / voxels[..cnt].iter().map(|&w| 1.0 / g[w]).sum::<Complex64>();
                    for &w in &voxels[..cnt] {
                        by_voxel.push((w, (i, j, v * ge / (cnt as f64 * g[w] * g[w]))));
                    }
                }
            }
        }
        // Grouped by voxel with a counting sort (stable, linear in the entries).
        let voxels = lay.shape.iter().product::<usize>();
        let mut start = vec![0usize; voxels + 1];
        for &(vx, _) in &by_voxel {
            start[vx + 1] += 1;
        }
        for v in 0..voxels {
            start[v + 1] += start[v];
        }
        let mut next = start.clone();
        let mut entries = vec![(0, 0, ZERO); by_voxel.len()];
        for (vx, e) in by_voxel {
            entries[next[vx]] = e;
            next[vx] += 1;
        }
        Ok(Self { len: lay.len, entries, start, bulk })
    }

    /// Adds the directional derivative of the operator applied to `x`,
    /// `y += Σ_v (dg_v ∂(E K E)/∂G*_v + dk_v ∂(E K E)/∂K_v) x`, for the changes `dg` of the
    /// complex moduli and `dk` of the bulk modulus (Pa, one per voxel in C order) — e.g. the
    /// derivative along one parameter of a parameterisation of the moduli. Voxels with zero
    /// changes cost nothing beyond the pass over `dg`.
    pub fn apply_direction_add(&self, dg: &[Complex64], dk: &[f64], x: &[Complex64], y: &mut [Complex64]) -> Result<()> {
        let voxels = self.start.len() - 1;
        if dg.len() != voxels || dk.len() != voxels || x.len() != self.len || y.len() != self.len {
            return Err(SolverError::Shape(format!(
                "operator direction: dg, dk of {} and {} voxels, x, y of {} and {} unknowns; expected {voxels} voxels and {} unknowns",
                dg.len(),
                dk.len(),
                x.len(),
                y.len(),
                self.len
            )));
        }
        for (v, &d) in dg.iter().enumerate() {
            if d != ZERO {
                for &(i, j, e) in &self.entries[self.start[v]..self.start[v + 1]] {
                    y[i] += d * e * x[j];
                }
            }
        }
        for &(v, i, j, e) in &self.bulk {
            if dk[v] != 0.0 {
                y[i] += dk[v] * e * x[j];
            }
        }
        Ok(())
    }

    /// `(∂(E K E)/∂G*_v) x` for voxel `v` (C-order index; `None` outside the grid).
    pub fn apply(&self, v: usize, x: &[Complex64]) -> Option<Vec<Complex64>> {
        let range = *self.start.get(v)?..*self.start.get(v + 1)?;
        let mut y = vec![ZERO; self.len];
        for &(i, j, d) in &self.entries[range] {
            y[i] += d * x[j];
        }
        Some(y)
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

    /// For moduli constant on classes, `Σ c_t A_t` with the coefficients of other moduli (and
    /// another bulk modulus) equals the operator assembled for those moduli, in 2-D with a free
    /// face and in 3-D with clamped faces and an absorbing layer.
    #[test]
    fn the_affine_decomposition_equals_the_assembled_operator() {
        use crate::wave::FaceCondition;
        for shape in [[1, 9, 8], [5, 6, 7]] {
            let grid = Grid::new(shape, [1e-3, 2e-3, 1.5e-3]).unwrap();
            let class_of = |i: [usize; 3]| usize::from(i[1] >= 3 && i[1] < 6 && i[2] >= 2 && i[2] < 5) + usize::from(i[2] == 7) * 2;
            let classes = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| class_of([z, y, x]));
            let medium_of = |g: [(f64, f64); 3]| {
                let mut m = Medium::homogeneous(grid.clone(), 1.0, 1.0, 1e3);
                m.storage_modulus_pa = classes.mapv(|c| g[c].0);
                m.loss_modulus_pa = classes.mapv(|c| g[c].1);
                m
            };
            let mut boundary = Boundary::free();
            boundary.faces[2][0] = FaceCondition::Fixed;
            if shape[0] > 1 {
                boundary = Boundary::absorbing(2);
                boundary.faces[1][1] = FaceCondition::Fixed;
            }
            let first = medium_of([(3e3, 3e2), (9e3, 1e3), (5e3, 2e2)]);
            let p = VectorProblem {
                medium: &first,
                bulk_modulus_pa: 5e4.into(),
                omega_rad_per_s: 400.0,
                boundary: boundary.clone(),
                dirichlet: None,
            };
            let scale = 7e5;
            let affine = AffineNavierOperator::new(&p, scale, &classes).unwrap();
            assert!(affine.n_terms() > 7, "{affine:?}");
            let other_moduli = [(2e3, 5e2), (1.2e4, 3e3), (4e3, 1e2)];
            let other = medium_of(other_moduli);
            let q = VectorProblem { medium: &other, bulk_modulus_pa: 8e5.into(), ..p.clone() };
            let assembled = NavierOperator::new(&q, scale).unwrap();
            let g = affine.class_moduli(&other).expect("constant on classes");
            assert_eq!(g[1], Complex64::new(1.2e4, 3e3));
            let c = affine.coefficients(&g, 8e5);
            let n = affine.len();
            let x: Vec<Complex64> = (0..n).map(|i| Complex64::new((0.37 * i as f64).sin(), (0.11 * i as f64).cos())).collect();
            let (mut y1, mut y2) = (vec![ZERO; n], vec![ZERO; n]);
            assembled.apply(&x, &mut y1);
            affine.apply(&c, &x, &mut y2);
            let big = y1.iter().map(|v| v.norm()).fold(0.0, f64::max);
            for (i, (a, b)) in y1.iter().zip(&y2).enumerate() {
                assert!((a - b).norm() <= 1e-12 * big, "{shape:?} row {i}: {a} vs {b}");
            }
            // Moduli that are not constant on the classes are recognised.
            let mut uneven = other.clone();
            uneven.storage_modulus_pa[[0, 0, 0]] *= 1.01;
            assert!(affine.class_moduli(&uneven).is_none());
        }
    }

    /// A medium with one stiffer voxel at `[0, 2, 3]` for the derivative tests.
    fn derivative_medium(shape: [usize; 3]) -> Medium {
        let grid = Grid::new(shape, [1e-3, 2e-3, 1.5e-3]).unwrap();
        let mut m = Medium::homogeneous(grid, 3e3, 4e2, 1e3);
        m.storage_modulus_pa[[0, 2, 3]] = 8e3;
        m.loss_modulus_pa[[0, 2, 3]] = 1e3;
        m
    }

    fn derivative_problem(m: &Medium, bulk_modulus_pa: f64) -> VectorProblem<'_> {
        VectorProblem {
            medium: m,
            bulk_modulus_pa: bulk_modulus_pa.into(),
            omega_rad_per_s: 400.0,
            boundary: Boundary::absorbing(1),
            dirichlet: None,
        }
    }

    fn derivative_vector(n: usize) -> Vec<Complex64> {
        (0..n).map(|i| Complex64::new((0.3 * i as f64).cos(), (0.17 * i as f64).sin())).collect()
    }

    /// `y` equals `(yp − ym)/2h` to 1e-6 of its largest entry (which must not be zero).
    fn assert_central_difference(y: &[Complex64], yp: &[Complex64], ym: &[Complex64], h: f64, what: &str) {
        let big = y.iter().map(|v| v.norm()).fold(0.0, f64::max);
        assert!(big > 0.0, "{what}: zero derivative");
        for (i, ((a, b), c)) in y.iter().zip(yp).zip(ym).enumerate() {
            let fd = (b - c) / (2.0 * h);
            assert!((a - fd).norm() <= 1e-6 * big, "{what} row {i}: {a} vs {fd}");
        }
    }

    /// `(∂K/∂G*_v) x` equals central differences of the assembled operator, for voxels inside,
    /// at the edge of and outside an inclusion, in 2-D and 3-D.
    #[test]
    fn voxel_derivatives_equal_differences_of_the_operator() {
        for shape in [[1, 9, 8], [4, 5, 6]] {
            let m = derivative_medium(shape);
            let p = derivative_problem(&m, 4e4);
            let scale = 2e6;
            let d = VoxelDerivatives::new(&p, scale).unwrap();
            let n = d.len;
            let x = derivative_vector(n);
            for idx in [[0, 2, 3], [0, 2, 4], [0, 0, 0], [shape[0] - 1, 4, 5]] {
                let v = (idx[0] * shape[1] + idx[1]) * shape[2] + idx[2];
                let y = d.apply(v, &x).unwrap();
                let h = 1e-4 * m.storage_modulus_pa[idx];
                let applied = |dg: f64| {
                    let mut mm = m.clone();
                    mm.storage_modulus_pa[idx] += dg;
                    let op = NavierOperator::new(&VectorProblem { medium: &mm, ..p.clone() }, scale).unwrap();
                    let mut out = vec![ZERO; n];
                    op.apply(&x, &mut out);
                    out
                };
                assert_central_difference(&y, &applied(h), &applied(-h), h, &format!("{shape:?} voxel {idx:?}"));
            }
            assert!(d.apply(shape.iter().product(), &x).is_none());
        }
    }

    /// The directional derivative along a change of G' and G'' in several voxels and of the
    /// bulk modulus everywhere equals central differences of the assembled operator along it.
    #[test]
    fn directional_derivative_equals_differences_of_the_operator() {
        for shape in [[1, 9, 8], [4, 5, 6]] {
            let m = derivative_medium(shape);
            let k = 4e4;
            let p = derivative_problem(&m, k);
            let scale = 2e6;
            let d = VoxelDerivatives::new(&p, scale).unwrap();
            let n = d.len;
            let voxels: usize = shape.iter().product();
            let x = derivative_vector(n);
            // The inclusion voxel and its neighbours in G' and G'', and K.
            let (mut ds, mut dl) = (Array3::<f64>::zeros(shape), Array3::<f64>::zeros(shape));
            for (idx, a, b) in [([0, 2, 3], 800.0, 100.0), ([0, 2, 4], 300.0, 0.0), ([0, 1, 3], 0.0, -40.0)] {
                ds[idx] = a;
                dl[idx] = b;
            }
            for dk_scale in [0.0, 4e3] {
                let dg: Vec<Complex64> = ds.iter().zip(&dl).map(|(a, b)| Complex64::new(*a, *b)).collect();
                let mut y = vec![ZERO; n];
                d.apply_direction_add(&dg, &vec![dk_scale; voxels], &x, &mut y).unwrap();
                let t = 1e-4;
                let applied = |s: f64| {
                    let mut mm = m.clone();
                    mm.storage_modulus_pa.zip_mut_with(&ds, |g, d| *g += s * d);
                    mm.loss_modulus_pa.zip_mut_with(&dl, |g, d| *g += s * d);
                    let q = VectorProblem { medium: &mm, bulk_modulus_pa: (k + s * dk_scale).into(), ..p.clone() };
                    let op = NavierOperator::new(&q, scale).unwrap();
                    let mut out = vec![ZERO; n];
                    op.apply(&x, &mut out);
                    out
                };
                assert_central_difference(&y, &applied(t), &applied(-t), t, &format!("{shape:?} dK {dk_scale}"));
            }
            let mut y = vec![ZERO; n];
            assert!(d.apply_direction_add(&[ZERO; 3], &[0.0; 3], &x, &mut y).is_err());
        }
    }
}
