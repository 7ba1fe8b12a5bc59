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

/// Weight of the mass correction of the compact scheme along each axis (`c` in `ρω² c δ²u`).
const MASS_CORRECTION: f64 = 1.0 / 12.0;

/// A coupling between voxel `i` and voxel `i + stride`, the neighbour at `offset` (`[dz, dy, dx]`,
/// first non-zero component positive): `coef[i]`, zero where the neighbour is outside the grid.
#[derive(Debug, Clone)]
pub(crate) struct Coupling {
    pub offset: [isize; 3],
    pub stride: usize,
    pub coef: Vec<Complex64>,
}

/// A plaquette of the compact scheme: the 2×2 voxels `[i, i + e_d, i + e_e, i + e_d + e_e]` around
/// one edge parallel to the third axis, with its geometric weight (the coefficient is
/// `W = G_P · geometry`, `G_P` the harmonic mean of the four moduli). Its operator is
/// `W v vᵀ`, `v = [1, −1, −1, 1]` (the mixed second difference).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plaquette {
    pub voxels: [usize; 4],
    pub geometry: Complex64,
}

/// A plaquette cut by a clamped outer face: two voxels `[a, b]` of the boundary layer, neighbours
/// along a tangential axis; with the ghost values `−u` beyond the face its operator is
/// `2 W (e_a − e_b)(e_a − e_b)ᵀ`, `W = hm(G_a, G_b) · geometry`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GhostPlaquette {
    pub voxels: [usize; 2],
    pub geometry: Complex64,
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
    /// The discretisation.
    pub scheme: Scheme,
    /// PML stretch factors.
    pub stretch: Stretch,
    /// `face[a][i]`: coefficient of the face between voxel `i` and `i + strides[a]`
    /// (zero where voxel `i` is the last along `a`; empty for inactive axes).
    pub face: [Vec<Complex64>; 3],
    /// Couplings to the diagonal neighbours of each pair of active axes (Compact scheme only).
    pub diagonal: Vec<Coupling>,
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

/// Harmonic mean of four complex moduli.
pub(crate) fn harmonic_mean4(g: [Complex64; 4]) -> Complex64 {
    4.0 / g.iter().map(|v| v.inv()).sum::<Complex64>()
}

/// Derivative of [`harmonic_mean4`] with respect to `g[k]`: `hm² / (4 g_k²)`.
pub(crate) fn harmonic_mean4_d(g: [Complex64; 4], k: usize) -> Complex64 {
    let m = harmonic_mean4(g);
    m * m / (4.0 * g[k] * g[k])
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
        let shape = medium.grid.shape;
        let n: usize = shape.iter().product();
        let strides = [shape[1] * shape[2], shape[2], 1];
        let active = shape.map(|s| s > 1);
        let h = medium.grid.voxel_size_m;
        let clamped = boundary.faces.map(|f| f.map(|c| c != FaceCondition::Free));
        let stretch = Stretch::new(shape, boundary);
        let g: Vec<Complex64> = medium.complex_modulus().iter().copied().collect();
        let rho: Vec<f64> = medium.density_kg_m3.iter().copied().collect();
        let compact = scheme == Scheme::Compact;
        let mut st = Self {
            shape,
            strides,
            active,
            h,
            clamped,
            scheme,
            stretch,
            face: [0, 1, 2].map(|a| if active[a] { vec![ZERO; n] } else { Vec::new() }),
            diagonal: Vec::new(),
            diag: vec![ZERO; n],
            scale: vec![ZERO; n],
        };
        for_each_voxel(shape, |i, idx| st.scale[i] = st.stretch.volume(idx));
        // Mass per voxel S ρ ω²; the compact scheme adds `c (m_i + m_j)/2 (u_j − u_i)` per face.
        let mass: Vec<Complex64> = st.scale.iter().zip(&rho).map(|(s, r)| s * r * omega_sq).collect();
        let mut outer = vec![ZERO; n];
        for_each_voxel(shape, |i, idx| {
            for a in (0..3).filter(|&a| active[a]) {
                let k = idx[a];
                if k + 1 < shape[a] {
                    let j = i + strides[a];
                    let mut t = harmonic_mean(g[i], g[j]) * st.face_weight(a, idx, k + 1);
                    if compact {
                        t += MASS_CORRECTION * 0.5 * (mass[i] + mass[j]);
                    }
                    st.face[a][i] = t;
                }
                // Clamped outer faces: ghost value −u_i half a voxel beyond the face.
                for (side, f, at_edge) in [(0, 0, k == 0), (1, k + 1, k + 1 == shape[a])] {
                    if at_edge && clamped[a][side] {
                        outer[i] -= 2.0 * g[i] * st.face_weight(a, idx, f);
                        if compact {
                            outer[i] -= 2.0 * MASS_CORRECTION * mass[i];
                        }
                    }
                }
            }
        });
        if compact {
            st.add_plaquettes(&g);
        }
        // Every coupling conserves: the diagonal is minus the sum of the row's couplings,
        // plus the mass and the clamped-face terms.
        let mut diag: Vec<Complex64> = mass.iter().zip(&outer).map(|(m, o)| m + o).collect();
        for (stride, coef) in st.couplings() {
            for i in 0..n - stride {
                diag[i] -= coef[i];
                diag[i + stride] -= coef[i];
            }
        }
        st.diag = diag;
        st
    }

    /// Add the cross-derivative correction of the compact scheme: plaquette terms folded into
    /// the face and diagonal couplings (the diagonal of the matrix is set by the caller).
    fn add_plaquettes(&mut self, g: &[Complex64]) {
        let n = self.len();
        let mut face = std::mem::take(&mut self.face);
        let mut diagonal = Vec::new();
        for (d, e) in [(0, 1), (0, 2), (1, 2)] {
            if !(self.active[d] && self.active[e]) {
                continue;
            }
            let (sd, se) = (self.strides[d], self.strides[e]);
            let mut off_d = [0isize; 3];
            off_d[d] = 1;
            let mut plus = off_d;
            plus[e] = 1;
            let mut minus = off_d;
            minus[e] = -1;
            let (mut cp, mut cm) = (vec![ZERO; n], vec![ZERO; n]);
            self.plaquettes_of(d, e, |p| {
                let [i, jd, je, jde] = p.voxels;
                let w = harmonic_mean4([g[i], g[jd], g[je], g[jde]]) * p.geometry;
                face[d][i] -= w;
                face[d][je] -= w;
                face[e][i] -= w;
                face[e][jd] -= w;
                cp[i] += w;
                cm[je] += w;
            });
            self.ghost_plaquettes_of(d, e, |p| {
                let [a, b] = p.voxels;
                let w = harmonic_mean(g[a], g[b]) * p.geometry;
                // a < b neighbours along the tangential axis.
                let axis = if b - a == sd { d } else { e };
                face[axis][a] -= 2.0 * w;
            });
            diagonal.push(Coupling { offset: plus, stride: sd + se, coef: cp });
            diagonal.push(Coupling { offset: minus, stride: sd - se, coef: cm });
        }
        self.face = face;
        self.diagonal = diagonal;
    }

    /// Call `f` for every plaquette of the axis pair `(d, e)`, `d < e`.
    pub fn plaquettes_of(&self, d: usize, e: usize, mut f: impl FnMut(Plaquette)) {
        let c = 3 - d - e;
        let (sd, se) = (self.strides[d], self.strides[e]);
        for_each_voxel(self.shape, |i, idx| {
            if idx[d] + 1 < self.shape[d] && idx[e] + 1 < self.shape[e] {
                let geometry = self.plaquette_geometry(d, e, idx[d] + 1, idx[e] + 1, self.stretch.centre[c][idx[c]]);
                f(Plaquette { voxels: [i, i + sd, i + se, i + sd + se], geometry });
            }
        });
    }

    /// Call `f` for every plaquette of the axis pair `(d, e)` cut by a clamped outer face normal
    /// to `d` or `e`.
    pub fn ghost_plaquettes_of(&self, d: usize, e: usize, mut f: impl FnMut(GhostPlaquette)) {
        for (normal, tangent) in [(d, e), (e, d)] {
            let c = 3 - d - e;
            let st = self.strides[tangent];
            for side in 0..2 {
                if !self.clamped[normal][side] {
                    continue;
                }
                let layer = if side == 0 { 0 } else { self.shape[normal] - 1 };
                let face = if side == 0 { 0 } else { self.shape[normal] };
                for_each_voxel(self.shape, |i, idx| {
                    if idx[normal] == layer && idx[tangent] + 1 < self.shape[tangent] {
                        let (fd, fe) = if normal == d { (face, idx[e] + 1) } else { (idx[d] + 1, face) };
                        let geometry = self.plaquette_geometry(d, e, fd, fe, self.stretch.centre[c][idx[c]]);
                        f(GhostPlaquette { voxels: [i, i + st], geometry });
                    }
                });
            }
        }
    }

    /// `S (h̃_d² + h̃_e²) / (12 h̃_d² h̃_e²)` at the edge through faces `fd` (axis `d`) and `fe`
    /// (axis `e`), `h̃ = s h` the stretched voxel size and `S` the volume stretch there
    /// (`sc` the stretch of the third axis): the cross-derivative weight of the compact scheme.
    fn plaquette_geometry(&self, d: usize, e: usize, fd: usize, fe: usize, sc: Complex64) -> Complex64 {
        let (s_d, s_e) = (self.stretch.face[d][fd], self.stretch.face[e][fe]);
        let (hd2, he2) = (self.h[d] * self.h[d], self.h[e] * self.h[e]);
        sc * (s_d * s_d * hd2 + s_e * s_e * he2) / (12.0 * s_d * s_e * hd2 * he2)
    }

    /// Every off-diagonal coupling as `(stride, coefficients)`: faces of active axes, then the
    /// diagonal neighbours.
    fn couplings(&self) -> Vec<(usize, &[Complex64])> {
        let faces = (0..3).filter(|&a| self.active[a]).map(|a| (self.strides[a], self.face[a].as_slice()));
        faces.chain(self.diagonal.iter().map(|c| (c.stride, c.coef.as_slice()))).collect()
    }

    /// Every coupling with its neighbour offset `[dz, dy, dx]`.
    fn offsets(&self) -> Vec<([isize; 3], usize, &[Complex64])> {
        let faces = (0..3).filter(|&a| self.active[a]).map(|a| {
            let mut o = [0isize; 3];
            o[a] = 1;
            (o, self.strides[a], self.face[a].as_slice())
        });
        faces.chain(self.diagonal.iter().map(|c| (c.offset, c.stride, c.coef.as_slice()))).collect()
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
        for (s, t) in self.couplings() {
            // Zero coefficients (neighbour outside the grid) add nothing.
            for i in 0..self.len() - s {
                let c = t[i];
                if c != ZERO {
                    out[i] += c * u[i + s];
                    out[i + s] += c * u[i];
                }
            }
        }
    }

    /// Compressed sparse column structure and values of the symmetric system matrix:
    /// the operator with the rows and columns of the Dirichlet voxels replaced by identity
    /// (their coupling moves to the right-hand side). The pattern depends only on the grid,
    /// the scheme and the Dirichlet mask.
    pub fn matrix(&self, dirichlet: Option<&[bool]>) -> (Pattern, Vec<Complex64>) {
        let n = self.len();
        let fixed = |i: usize| dirichlet.is_some_and(|m| m[i]);
        let offsets = self.offsets();
        let nnz_max = n * (1 + 2 * offsets.len());
        let mut col_ptr = Vec::with_capacity(n + 1);
        let mut row_idx = Vec::with_capacity(nnz_max);
        let mut values = Vec::with_capacity(nnz_max);
        let mut column: Vec<(usize, Complex64)> = Vec::with_capacity(1 + 2 * offsets.len());
        let inside = |idx: [usize; 3], o: [isize; 3], sign: isize| {
            (0..3).all(|a| {
                let k = idx[a] as isize + sign * o[a];
                k >= 0 && k < self.shape[a] as isize
            })
        };
        col_ptr.push(0);
        for_each_voxel(self.shape, |j, idx| {
            if fixed(j) {
                row_idx.push(j);
                values.push(Complex64::new(1.0, 0.0));
            } else {
                column.clear();
                column.push((j, self.diag[j]));
                for &(o, s, coef) in &offsets {
                    if inside(idx, o, -1) {
                        column.push((j - s, coef[j - s]));
                    }
                    if inside(idx, o, 1) {
                        column.push((j + s, coef[j]));
                    }
                }
                column.sort_unstable_by_key(|&(i, _)| i);
                for &(i, v) in column.iter().filter(|(i, _)| !fixed(*i)) {
                    row_idx.push(i);
                    values.push(v);
                }
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
        for scheme in [Scheme::Standard, Scheme::Compact] {
            symmetric_and_matches_apply(scheme);
        }
    }

    fn symmetric_and_matches_apply(scheme: Scheme) {
        let grid = Grid::new([3, 4, 5], [1e-3, 2e-3, 1.5e-3]).unwrap();
        let mut m = Medium::homogeneous(grid, 3e3, 3e2, 1e3);
        m.storage_modulus_pa[[1, 2, 3]] = 9e3;
        m.loss_modulus_pa[[2, 1, 0]] = 1e3;
        let b = Boundary::absorbing(1).with_face(1, 0, FaceCondition::Free).with_face(0, 1, FaceCondition::Fixed);
        let st = Stencil::assemble(&m, Complex64::new(9e4, 0.0), &b, scheme);
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
