//! Finite-volume stencil of `∇·(G* ∇u) + ρω²u` with PML stretching, and its sparse matrix.
//!
//! Discrete equation of voxel `i` (units Pa/m² · m = N/m³ per m of displacement):
//! `Σ_faces T_f (u_nb − u_i) − Σ_{clamped faces} T_b u_i + S_i ρ_i ω² u_i = S_i f_i`, with
//! - interior face along axis `a`: `T = hm(G_i, G_nb) · Π_{b≠a} s_b(centre) / (s_a(face) h_a²)`,
//!   `hm` the harmonic mean;
//! - clamped (Fixed or Absorbing) outer face: `T_b = 2 G_i Π_{b≠a} s_b / (s_a(face) h_a²)`
//!   (`u = 0` on the face, half a voxel from the centre);
//! - `S_i = s_z s_y s_x` at the voxel centre.
//!
//! The interior coefficient is shared by the two voxels of a face, so the
//! matrix is complex symmetric.

use num_complex::Complex64;

use super::pml::Stretch;
use super::{Boundary, FaceCondition, Medium, ScalarProblem, Scheme};

const ZERO: Complex64 = Complex64 { re: 0.0, im: 0.0 };

/// Harmonic mean `2ab/(a + b)` of two complex moduli with positive real parts.
pub(crate) fn harmonic_mean(a: Complex64, b: Complex64) -> Complex64 {
    2.0 * a * b / (a + b)
}

/// Derivative of [`harmonic_mean`] with respect to its first argument: `2b²/(a + b)²`.
pub(crate) fn harmonic_mean_da(a: Complex64, b: Complex64) -> Complex64 {
    let s = a + b;
    2.0 * b * b / (s * s)
}

/// Assembled stencil coefficients (no Dirichlet rows: the full operator).
#[derive(Debug, Clone)]
pub(crate) struct Stencil {
    /// Voxels `[nz, ny, nx]`.
    pub shape: [usize; 3],
    /// Linear-index strides `[ny·nx, nx, 1]`.
    pub strides: [usize; 3],
    /// Axes with more than one voxel (the others have no derivative).
    pub active: [bool; 3],
    /// Voxel size `[dz, dy, dx]`, m.
    pub h: [f64; 3],
    /// Which outer faces are clamped (`u = 0`): Fixed or Absorbing.
    pub clamped: [[bool; 2]; 3],
    /// PML stretch factors.
    pub stretch: Stretch,
    /// `face[a][i]`: coefficient `T` of the face between voxel `i` and `i + strides[a]`
    /// (zero where voxel `i` is the last along `a`; empty for inactive axes).
    pub face: [Vec<Complex64>; 3],
    /// Diagonal of the operator.
    pub diag: Vec<Complex64>,
    /// Volume stretch `S` per voxel (the source multiplier).
    pub scale: Vec<Complex64>,
}

/// Iterate over all voxels in C order, calling `f(linear index, [z, y, x])`.
pub(crate) fn for_each_voxel(shape: [usize; 3], mut f: impl FnMut(usize, [usize; 3])) {
    let mut i = 0;
    for z in 0..shape[0] {
        for y in 0..shape[1] {
            for x in 0..shape[2] {
                f(i, [z, y, x]);
                i += 1;
            }
        }
    }
}

impl Stencil {
    /// Assemble the operator of the problem `p`.
    pub fn for_problem(p: &ScalarProblem) -> Self {
        let w = p.omega_rad_per_s;
        Self::assemble(p.medium, Complex64::new(w * w, 0.0), &p.boundary, p.scheme)
    }

    /// Assemble the operator of `medium` with `boundary` and `scheme` for the squared angular
    /// frequency `omega_sq` (rad²/s²; complex for a shifted operator, e.g. `ω²(1 − iβ)`).
    pub fn assemble(medium: &Medium, omega_sq: Complex64, boundary: &Boundary, scheme: Scheme) -> Self {
        let _ = scheme;
        let shape = medium.grid.shape;
        let n: usize = shape.iter().product();
        let strides = [shape[1] * shape[2], shape[2], 1];
        let active = shape.map(|s| s > 1);
        let h = medium.grid.voxel_size_m;
        let clamped = boundary.faces.map(|f| f.map(|c| c != FaceCondition::Free));
        let stretch = Stretch::new(shape, boundary);
        let g: Vec<Complex64> = medium.complex_modulus().iter().copied().collect();
        let rho: Vec<f64> = medium.density_kg_m3.iter().copied().collect();
        let mut face = [0, 1, 2].map(|a| if active[a] { vec![ZERO; n] } else { Vec::new() });
        let mut diag = vec![ZERO; n];
        let mut scale = vec![ZERO; n];
        let w2 = omega_sq;
        let mut st = Self { shape, strides, active, h, clamped, stretch, face: Default::default(), diag: Vec::new(), scale: Vec::new() };
        for_each_voxel(shape, |i, idx| {
            let s = st.stretch.volume(idx);
            scale[i] = s;
            let mut d = s * rho[i] * w2;
            for a in (0..3).filter(|&a| active[a]) {
                let k = idx[a];
                if k + 1 < shape[a] {
                    let t = harmonic_mean(g[i], g[i + strides[a]]) * st.face_weight(a, idx, k + 1);
                    face[a][i] = t;
                    d -= t;
                } else if clamped[a][1] {
                    d -= 2.0 * g[i] * st.face_weight(a, idx, k + 1);
                }
                if k > 0 {
                    d -= face[a][i - strides[a]];
                } else if clamped[a][0] {
                    d -= 2.0 * g[i] * st.face_weight(a, idx, 0);
                }
            }
            diag[i] = d;
        });
        st.face = face;
        st.diag = diag;
        st.scale = scale;
        st
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.diag.len()
    }

    /// Geometric factor `Π_{b≠a} s_b / (s_a(face) h_a²)` (1/m²) of face `f` along axis `a`
    /// of voxel `idx` (`f = idx[a]` is its low face, `idx[a] + 1` its high face).
    pub fn face_weight(&self, a: usize, idx: [usize; 3], f: usize) -> Complex64 {
        self.stretch.transverse(a, idx) / (self.stretch.face[a][f] * (self.h[a] * self.h[a]))
    }

    /// `out = K u` with the full operator (every row an equation, no Dirichlet substitution).
    pub fn apply(&self, u: &[Complex64], out: &mut [Complex64]) {
        assert_eq!(u.len(), self.len());
        assert_eq!(out.len(), self.len());
        for (o, (&d, &v)) in out.iter_mut().zip(self.diag.iter().zip(u)) {
            *o = d * v;
        }
        for a in (0..3).filter(|&a| self.active[a]) {
            let s = self.strides[a];
            let t = &self.face[a];
            // Faces with a zero coefficient (last voxel along `a`) add nothing.
            for i in 0..self.len() - s {
                let c = t[i];
                if c != ZERO {
                    out[i] += c * u[i + s];
                    out[i + s] += c * u[i];
                }
            }
        }
    }

    /// Neighbours of voxel `j` in increasing linear index, with the coupling coefficient:
    /// `−z, −y, −x` first, then (after the diagonal) `+x, +y, +z`.
    fn neighbours(&self, j: usize, idx: [usize; 3], lower: bool, mut f: impl FnMut(usize, Complex64)) {
        if lower {
            for a in (0..3).filter(|&a| self.active[a] && idx[a] > 0) {
                let nb = j - self.strides[a];
                f(nb, self.face[a][nb]);
            }
        } else {
            for a in (0..3).rev().filter(|&a| self.active[a] && idx[a] + 1 < self.shape[a]) {
                f(j + self.strides[a], self.face[a][j]);
            }
        }
    }

    /// Compressed sparse column structure and values of the symmetric system matrix:
    /// the operator with the rows and columns of the Dirichlet voxels replaced by identity
    /// (their coupling moves to the right-hand side).
    pub fn matrix(&self, dirichlet: Option<&[bool]>) -> (Pattern, Vec<Complex64>) {
        let n = self.len();
        let fixed = |i: usize| dirichlet.is_some_and(|m| m[i]);
        let nnz_max = n * (1 + 2 * self.active.iter().filter(|&&a| a).count());
        let mut col_ptr = Vec::with_capacity(n + 1);
        let mut row_idx = Vec::with_capacity(nnz_max);
        let mut values = Vec::with_capacity(nnz_max);
        col_ptr.push(0);
        for_each_voxel(self.shape, |j, idx| {
            if fixed(j) {
                row_idx.push(j);
                values.push(Complex64::new(1.0, 0.0));
            } else {
                let mut push = |i: usize, v: Complex64| {
                    if !fixed(i) {
                        row_idx.push(i);
                        values.push(v);
                    }
                };
                self.neighbours(j, idx, true, &mut push);
                push(j, self.diag[j]);
                self.neighbours(j, idx, false, &mut push);
            }
            col_ptr.push(row_idx.len());
        });
        (Pattern { nrows: n, col_ptr, row_idx }, values)
    }
}

/// Sparsity structure (CSC, sorted row indices) of the system matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pub nrows: usize,
    pub col_ptr: Vec<usize>,
    pub row_idx: Vec<usize>,
}

impl Pattern {
    /// `y = M x` for the matrix with this structure and `values`.
    pub fn matvec(&self, values: &[Complex64], x: &[Complex64]) -> Vec<Complex64> {
        let mut y = vec![ZERO; self.nrows];
        for (j, &xj) in x.iter().enumerate() {
            for k in self.col_ptr[j]..self.col_ptr[j + 1] {
                y[self.row_idx[k]] += values[k] * xj;
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::phantom::Grid;

    #[test]
    fn matrix_is_symmetric_and_matches_apply() {
        let grid = Grid::new([3, 4, 5], [1e-3, 2e-3, 1.5e-3]).unwrap();
        let mut m = Medium::homogeneous(grid, 3e3, 3e2, 1e3);
        m.storage_modulus_pa[[1, 2, 3]] = 9e3;
        m.loss_modulus_pa[[2, 1, 0]] = 1e3;
        let b = Boundary::absorbing(1).with_face(1, 0, FaceCondition::Free).with_face(0, 1, FaceCondition::Fixed);
        let st = Stencil::assemble(&m, Complex64::new(9e4, 0.0), &b, Scheme::Standard);
        let (p, v) = st.matrix(None);
        let n = st.len();
        let mut dense = vec![ZERO; n * n];
        for j in 0..n {
            for k in p.col_ptr[j]..p.col_ptr[j + 1] {
                dense[p.row_idx[k] * n + j] = v[k];
            }
        }
        for i in 0..n {
            for j in 0..n {
                assert_eq!(dense[i * n + j], dense[j * n + i]);
            }
        }
        let x: Vec<Complex64> = (0..n).map(|i| Complex64::new((i as f64).sin(), (i as f64 * 0.7).cos())).collect();
        let mut y = vec![ZERO; n];
        st.apply(&x, &mut y);
        let y2 = p.matvec(&v, &x);
        for (a, b) in y.iter().zip(&y2) {
            assert!((a - b).norm() <= 1e-12 * a.norm().max(1.0));
        }
    }
}
