//! Time-harmonic viscoelastic Navier (vector) equation, valid up to the incompressible limit.
//!
//! Solves, in SI units, for the complex displacement amplitude `u` (m, components `[z, y, x]`):
//!
//! `∇·[G* (∇u + ∇uᵀ)] + ∇(λ ∇·u) + ρ ω² u = f`,
//!
//! with the per-voxel complex shear modulus `G* = G' + iG''` (Pa), the Lamé parameter
//! `λ = K − 2G*/3` from a real bulk modulus `K` (Pa, uniform or per voxel, [`BulkModulus`]), density `ρ` (kg/m³), angular frequency
//! `ω` (rad/s) and a force density `f` (N/m³). Conventions as in the scalar solver
//! ([`crate::wave`]): time dependence `e^{iωt}`, arrays `[z, y, x]`, outgoing waves `e^{−ikx}`
//! with `Im k ≤ 0`; shear waves have `k_s = ω √(ρ/G*)`, compressional waves
//! `k_p = ω √(ρ/(λ + 2G*)) = ω √(ρ/(K + 4G*/3))`.
//!
//! # Formulation: mixed displacement–pressure on a staggered (MAC) grid
//! Soft tissue has `K ≈ 2.2 GPa` and `G ≈ 1–10 kPa`, so `λ/G ~ 10⁶`: the compressional
//! wavelength is metres, the shear wavelength centimetres. A pure-displacement discretisation
//! *locks* in that limit (the discrete divergence-free fields are too few, the computed shear
//! waves become too stiff) and its matrix has a condition number growing like `λ/G`. Instead
//! the pressure `p = −λ ∇·u` is a separate unknown:
//!
//! - momentum at the faces normal to axis `a`:
//!   `Σ_b ∂_b[G*(∂_a u_b + ∂_b u_a)] − ∂_a p + ρω² u_a = f_a`,
//! - constraint at the voxel centres: `∇·u + p/λ = 0`.
//!
//! On the staggered (marker-and-cell) grid `p`, `G*`, `ρ` and `λ` live at voxel centres and
//! `u_a` on the faces normal to `a` (between voxels `k − 1` and `k` along `a`, plus the two
//! outer faces). This pair is inf–sup stable (no spurious pressure modes), stays exact in the
//! incompressible limit `p/λ → 0` (the shear error does not depend on `K`, see the tests), is
//! second order in the voxel size, and its matrix is complex symmetric:
//!
//! `[ −A + M   Bᵀ ] [u]   [W f]`
//! `[   B      C  ] [q] = [ 0 ]`,
//!
//! assembled from the discrete bilinear form (so symmetric by construction): `A` is the
//! elastic form `Σ_centres V·2G* (∂_a u_a)(∂_a v_a) + Σ_edges V·G*_e γ_ab(u) γ_ab(v)` with
//! `γ_ab = ∂_b u_a + ∂_a u_b`, `M` the mass `V ρ ω²` per face (ρ the mean of the two voxels),
//! `B` the discrete divergence times `V`, `C = V/λ`, `V` the voxel volume. The pressure unknown
//! is scaled, `p = (G_ref/h_ref) q` (`G_ref` the mean `|G*|`, `h_ref` the smallest voxel size),
//! so that all blocks are `~ G h`; `C` is then `~ G h · G/λ`, small but not zero.
//!
//! - Normal stress `2G* ∂_a u_a` at voxel centres uses the voxel's `G*`.
//! - Shear stress `G*(∂_a u_b + ∂_b u_a)` lives on the voxel edges parallel to the third axis;
//!   an interior edge touches 4 voxels and uses the **harmonic mean of their 4 moduli**
//!   (`4/Σ 1/G*`; 2 or 1 voxel on the grid boundary). For a field varying along one axis only
//!   this reduces to the scalar solver's two-voxel harmonic mean, which keeps the traction
//!   continuous at interfaces normal to that axis.
//! - The source `f` (given at voxel centres) is moved to the faces by averaging the two voxels;
//!   the returned displacement at voxel centres is the mean of the two faces.
//!
//! An axis with one voxel (e.g. `nz = 1`) has no derivative along it: there `u_a` of that
//! axis sits at the voxel centres, which gives 2-D plane strain in `y–x` plus the out-of-plane
//! (anti-plane) component obeying the scalar equation.
//!
//! # Boundaries
//! Per outer face ([`Boundary`]):
//! - [`FaceCondition::Fixed`]: `u = 0` on the face: the normal component on the face is 0,
//!   tangential components through a ghost value `−inside` (the boundary edge carries half the
//!   weight of an interior edge, its dual cell being half a voxel).
//! - [`FaceCondition::Absorbing`]: PML by the same complex coordinate stretching
//!   `∂_a → (1/s_a) ∂_a` as the scalar solver, then Fixed. Every derivative takes `s_a` at the
//!   point where it is evaluated (centre, face or edge) and every term of the bilinear form is
//!   multiplied by `S = s_z s_y s_x` at its point, so the matrix stays complex symmetric.
//! - [`FaceCondition::Free`]: traction-free `σ·n = 0`, the natural condition of the bilinear
//!   form: the normal displacement on the face is an unknown (half a dual cell: half the mass
//!   and source) and the shear stress on the face is zero (its edges are left out of the form).
//!   Measured second order for a compressional wave reflected at a free face and for shear
//!   waves travelling along free faces (tests in `solver/tests/wave_navier.rs`).
//!
//! # Dirichlet data
//! A [`VectorDirichlet`] prescribes a complex 3-vector on a set of voxels: every face of those
//! voxels takes the prescribed component (the mean where two prescribed voxels share a face;
//! prescribed values win over Fixed faces), and the pressure of a voxel whose faces are all
//! prescribed is eliminated too (it follows from `p = −λ ∇·u`).
//!
//! # Linear algebra
//! The matrix (Dirichlet rows and columns replaced by the identity, their couplings moved to
//! the right-hand side) is factorised with the same faer supernodal sparse LU with partial
//! pivoting as [`crate::wave::ScalarSolver`]. Columns are eliminated voxel by voxel in the
//! geometric nested-dissection order of the voxels (a face belongs to the voxel on its high
//! side, the outer high faces to the last voxel), within a voxel `u_z, u_y, u_x` before `p`;
//! the separator planes two voxels thick still split the graph of `AᵀA` since the couplings
//! reach the 26 neighbouring voxels only. The pressures of the separator layer next to the
//! high side couple with that side and the separator only, so they are eliminated before the
//! rest of the separator (7 instead of 8 unknowns per separator column).
//!
//! Partial pivoting copes with the small `p/λ` diagonal. Every factorisation is checked by a
//! solve with a known solution ([`crate::SolverError::Singular`] if it fails). Measured forward
//! errors of that check (6·7·8 voxels, PML): displacements ~1e-14 for `K/G` from 10 to 10¹²;
//! pressures ~1e-13 with a free face. In a sealed box (every face clamped or absorbing, or a
//! closed Dirichlet surface) the constant pressure is set by `p/λ` alone (the hydrostatic
//! mode, condition ~ `K/G` in that one direction): pressure error ~3e-10 at `K/G = 10⁶`,
//! ~3e-7 at 10⁹; at 10¹² the check fails and the system is reported singular. Tissue:
//! `K/G ~ 10⁶`.
//!
//! Cost: about 4 unknowns per voxel (3 displacement faces and a pressure), so a separator
//! carries 4× the unknowns of the scalar solver's and the factorisation costs about what the
//! scalar solver needs for a grid twice as fine. Measured single-threaded (assembly,
//! factorisation with its check, one solve; `bench_navier_3d` (feature `bench`), busy 2-core
//! machine): 16³ 3.9 s and 0.6 GB peak, 24³ 50 s and 4.0 GB; 32³ needs more than 18 GB
//! (the factorisation ran out of memory under an 18 GB address-space limit). Keep 3-D grids at about 24³
//! or below. 2-D plane strain (`nz = 1`) is cheap: 128² 0.7 s and 0.5 GB, 256² 5 s and
//! 2.5 GB (table in [`NavierSolver`]).

use std::sync::Arc;

use faer::Par;
use ndarray::Array3;
use num_complex::Complex64;

use super::ordering::{nested_dissection_split, VoxelPart};
use super::pml::Stretch;
use super::solver::{check_factorisation, factorise, lu_solve_in_place, parallelism, Numeric, Symbolic};
use super::stencil::Pattern;
use super::{check_field, finite, Boundary, FaceCondition, Medium};
use crate::error::{Result, SolverError};
use crate::model::phantom::Grid;

const ZERO: Complex64 = Complex64::new(0.0, 0.0);
const ONE: Complex64 = Complex64::new(1.0, 0.0);
const AXIS: [&str; 3] = ["z", "y", "x"];

/// Prescribed displacement vectors on a set of voxels (actuator, measured boundary values).
#[derive(Clone, Debug)]
pub struct VectorDirichlet {
    /// Voxels where `u` is prescribed, shape `[nz, ny, nx]`.
    pub mask: Array3<bool>,
    /// The prescribed complex displacement components `[u_z, u_y, u_x]` (m) where `mask` is
    /// true (ignored elsewhere), each of shape `[nz, ny, nx]`.
    pub values: [Array3<Complex64>; 3],
}

impl VectorDirichlet {
    /// Prescribe `value(voxel)` (components `[z, y, x]`, m) on the voxels where `mask(voxel)`
    /// is true; voxels are `[z, y, x]` indices.
    pub fn from_fn(grid: &Grid, mask: impl Fn([usize; 3]) -> bool, value: impl Fn([usize; 3]) -> [Complex64; 3]) -> Self {
        let sh = (grid.shape[0], grid.shape[1], grid.shape[2]);
        let mask = Array3::from_shape_fn(sh, |(z, y, x)| mask([z, y, x]));
        let v = Array3::from_shape_fn(sh, |(z, y, x)| if mask[[z, y, x]] { value([z, y, x]) } else { [ZERO; 3] });
        let values = [0, 1, 2].map(|a| v.mapv(|w| w[a]));
        Self { mask, values }
    }

    /// Prescribe `value(voxel)` on the outer voxel layer of every axis with more than one voxel.
    pub fn outer_layer(grid: &Grid, value: impl Fn([usize; 3]) -> [Complex64; 3]) -> Self {
        let sh = grid.shape;
        Self::from_fn(grid, |i| (0..3).any(|a| sh[a] > 1 && (i[a] == 0 || i[a] + 1 == sh[a])), value)
    }

    /// Check shapes against the grid and that every prescribed value is finite.
    pub fn validate(&self, grid: &Grid) -> Result<()> {
        let sh = grid.shape;
        if self.mask.shape() != sh {
            return Err(SolverError::Shape(format!("VectorDirichlet mask has shape {:?}, the grid is {sh:?}", self.mask.shape())));
        }
        for (a, v) in self.values.iter().enumerate() {
            if v.shape() != sh {
                return Err(SolverError::Shape(format!(
                    "VectorDirichlet values[{a}] (u_{}) has shape {:?}, the grid is {sh:?}",
                    AXIS[a],
                    v.shape()
                )));
            }
            if let Some((idx, w)) = v.indexed_iter().zip(self.mask.iter()).find_map(|((i, w), &m)| (m && !finite(*w)).then_some((i, w))) {
                return Err(SolverError::invalid(
                    format!("VectorDirichlet values[{a}] [{}, {}, {}]", idx.0, idx.1, idx.2),
                    w,
                    "a finite displacement in m",
                ));
            }
        }
        Ok(())
    }
}

/// The bulk modulus `K` (Pa, real) of a [`VectorProblem`]: one value for the whole grid or one
/// per voxel (e.g. per tissue). `λ = K − 2G*/3` is formed per voxel either way. A plain `f64`
/// converts into [`BulkModulus::Uniform`] (`bulk_modulus_pa: 2.2e9.into()`), an
/// `Array3<f64>` into [`BulkModulus::PerVoxel`].
#[derive(Clone, Debug, PartialEq)]
pub enum BulkModulus {
    /// The same `K` in every voxel, Pa.
    Uniform(f64),
    /// `K` per voxel, Pa, shape `[nz, ny, nx]` of the grid.
    PerVoxel(Array3<f64>),
}

impl From<f64> for BulkModulus {
    fn from(k: f64) -> Self {
        Self::Uniform(k)
    }
}

impl From<Array3<f64>> for BulkModulus {
    fn from(k: Array3<f64>) -> Self {
        Self::PerVoxel(k)
    }
}

impl BulkModulus {
    /// `K` at voxel `idx` (`[z, y, x]`), Pa.
    ///
    /// # Panics
    /// If a per-voxel `K` does not contain `idx` (see [`BulkModulus::validate`]).
    pub fn at(&self, idx: [usize; 3]) -> f64 {
        match self {
            Self::Uniform(k) => *k,
            Self::PerVoxel(k) => k[idx],
        }
    }

    /// The single value of a uniform `K`, Pa (None per voxel, even if all values are equal).
    pub fn uniform(&self) -> Option<f64> {
        match self {
            Self::Uniform(k) => Some(*k),
            Self::PerVoxel(_) => None,
        }
    }

    /// `K` per voxel on `grid`, Pa.
    pub fn to_array(&self, grid: &Grid) -> Array3<f64> {
        match self {
            Self::Uniform(k) => Array3::from_elem((grid.shape[0], grid.shape[1], grid.shape[2]), *k),
            Self::PerVoxel(k) => k.clone(),
        }
    }

    /// Check against `medium`: the shape of a per-voxel `K`, and in every voxel `K` positive,
    /// finite and `K > 2G'/3` (`Re λ > 0`). Errors name `bulk_modulus_pa` (and the voxel).
    pub fn validate(&self, medium: &Medium) -> Result<()> {
        let sh = medium.grid.shape;
        if let Self::PerVoxel(k) = self {
            if k.shape() != sh {
                return Err(SolverError::Shape(format!("bulk_modulus_pa has shape {:?}, the grid is {sh:?}", k.shape())));
            }
        }
        let mut bad = None;
        for_each_pos(sh, |idx| {
            if bad.is_none() {
                let (k, g) = (self.at(idx), medium.storage_modulus_pa[idx]);
                if !(k > 0.0 && k.is_finite() && k > 2.0 * g / 3.0) {
                    bad = Some((idx, k, g));
                }
            }
        });
        let Some((idx, k, g)) = bad else { return Ok(()) };
        let at = match self {
            Self::Uniform(_) => String::new(),
            Self::PerVoxel(_) => format!(" at voxel [{}, {}, {}]", idx[0], idx[1], idx[2]),
        };
        if !(k > 0.0 && k.is_finite()) {
            return Err(SolverError::invalid(format!("bulk_modulus_pa{at}"), k, "a positive, finite bulk modulus in Pa"));
        }
        Err(SolverError::invalid(
            format!("bulk_modulus_pa{at}"),
            k,
            format!("more than 2G'/3 = {} Pa (G' at voxel [{}, {}, {}]) so that λ = K − 2G'/3 > 0", 2.0 * g / 3.0, idx[0], idx[1], idx[2]),
        ))
    }
}

/// One time-harmonic vector problem: medium, bulk modulus, frequency, boundary, prescribed values.
#[derive(Clone, Debug)]
pub struct VectorProblem<'a> {
    /// The medium (grid, G', G'', ρ).
    pub medium: &'a Medium,
    /// Bulk modulus K, Pa, uniform or per voxel (finite, > 2G'/3 in every voxel so that
    /// Re λ > 0); soft tissue ≈ 2.2e9. An `f64` converts: `bulk_modulus_pa: 2.2e9.into()`.
    pub bulk_modulus_pa: BulkModulus,
    /// Angular frequency ω, rad/s (> 0).
    pub omega_rad_per_s: f64,
    /// Outer face conditions and PML.
    pub boundary: Boundary,
    /// Prescribed displacement vectors on a set of voxels, if any.
    pub dirichlet: Option<VectorDirichlet>,
}

impl VectorProblem<'_> {
    /// Check the medium, ω, the boundary, the Dirichlet data and the bulk modulus
    /// ([`BulkModulus::validate`]: `K` positive and finite, `K > 2G'/3` in every voxel, `Re λ > 0`).
    pub fn validate(&self) -> Result<()> {
        self.medium.validate()?;
        let w = self.omega_rad_per_s;
        if !(w > 0.0 && w.is_finite()) {
            return Err(SolverError::invalid("omega_rad_per_s", w, "a positive angular frequency in rad/s"));
        }
        self.bulk_modulus_pa.validate(self.medium)?;
        self.boundary.validate(&self.medium.grid)?;
        if let Some(d) = &self.dirichlet {
            d.validate(&self.medium.grid)?;
        }
        Ok(())
    }
}

/// A solution on the staggered grid.
#[derive(Clone, Debug)]
pub struct NavierFields {
    /// `faces[a]`: displacement component `u_a` (m) on the faces normal to axis `a`, shape
    /// `[nz, ny, nx]` with `n_a + 1` entries along `a` (face `k` between voxels `k − 1` and
    /// `k`); for an axis with one voxel, `u_a` at the voxel centres (shape `[nz, ny, nx]`).
    pub faces: [Array3<Complex64>; 3],
    /// Pressure `p = −λ ∇·u` at voxel centres, Pa.
    pub pressure_pa: Array3<Complex64>,
}

impl NavierFields {
    /// Displacement `[u_z, u_y, u_x]` at voxel centres (mean of the two faces), m.
    pub fn centres(&self) -> [Array3<Complex64>; 3] {
        let sh = self.pressure_pa.shape();
        let sh = [sh[0], sh[1], sh[2]];
        [0, 1, 2].map(|a| {
            let f = &self.faces[a];
            if f.shape() == sh {
                return f.clone();
            }
            Array3::from_shape_fn((sh[0], sh[1], sh[2]), |(z, y, x)| {
                let mut hi = [z, y, x];
                hi[a] += 1;
                (f[[z, y, x]] + f[hi]) * 0.5
            })
        })
    }
}

/// Index map of the unknowns: `u_z`, `u_y`, `u_x` (C order over their face arrays), then the
/// scaled pressures `q` (C order over the voxels).
#[derive(Debug, Clone)]
struct Layout {
    shape: [usize; 3],
    active: [bool; 3],
    /// Shape of the `u_a` array: `n_a + 1` along `a` if `a` is active.
    comp: [[usize; 3]; 3],
    /// Start of `u_z`, `u_y`, `u_x`, `q`.
    offset: [usize; 4],
    len: usize,
}

impl Layout {
    fn new(shape: [usize; 3]) -> Self {
        let active = shape.map(|n| n > 1);
        let comp = [0, 1, 2].map(|a| {
            let mut s = shape;
            if active[a] {
                s[a] += 1;
            }
            s
        });
        let mut offset = [0; 4];
        for a in 0..3 {
            offset[a + 1] = offset[a] + comp[a].iter().product::<usize>();
        }
        let len = offset[3] + shape.iter().product::<usize>();
        Self { shape, active, comp, offset, len }
    }

    fn u(&self, a: usize, p: [usize; 3]) -> usize {
        let c = self.comp[a];
        self.offset[a] + (p[0] * c[1] + p[1]) * c[2] + p[2]
    }

    /// `Cᵀ r` on the unknowns: the transpose of the map from the faces to the centre
    /// displacement of [`NavierFields::centres`] applied to `r` (`[z, y, x]` per voxel), 0 at
    /// the pressures.
    fn centre_transpose(&self, r: &[Array3<Complex64>; 3]) -> Vec<Complex64> {
        let mut y = vec![ZERO; self.len];
        for (a, ra) in r.iter().enumerate() {
            for_each_pos(self.shape, |idx| {
                if self.active[a] {
                    let mut hi = idx;
                    hi[a] += 1;
                    y[self.u(a, idx)] += 0.5 * ra[idx];
                    y[self.u(a, hi)] += 0.5 * ra[idx];
                } else {
                    y[self.u(a, idx)] += ra[idx];
                }
            });
        }
        y
    }

    fn voxel(&self, p: [usize; 3]) -> usize {
        (p[0] * self.shape[1] + p[1]) * self.shape[2] + p[2]
    }

    fn p(&self, p: [usize; 3]) -> usize {
        self.offset[3] + self.voxel(p)
    }

    /// The voxels next to `u_a` at `pos` (one or two; for inactive `a` the voxel itself).
    fn face_voxels(&self, a: usize, pos: [usize; 3]) -> ([usize; 3], Option<[usize; 3]>) {
        if !self.active[a] {
            return (pos, None);
        }
        let k = pos[a];
        let mut lo = pos;
        if k == 0 {
            return (pos, None);
        }
        lo[a] = k - 1;
        if k == self.shape[a] {
            (lo, None)
        } else {
            (lo, Some(pos))
        }
    }
}

/// Call `f` for every index of an array of `shape`, in C order.
fn for_each_pos(shape: [usize; 3], mut f: impl FnMut([usize; 3])) {
    for z in 0..shape[0] {
        for y in 0..shape[1] {
            for x in 0..shape[2] {
                f([z, y, x]);
            }
        }
    }
}

/// What an entry of the operator is proportional to, for [`NavierOperator`]'s decomposition
/// into terms with moduli-dependent coefficients (`navier_operator::AffineNavierOperator`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Tag {
    /// Independent of the moduli (mass; the pressure coupling, up to the pressure scale).
    Constant,
    /// `∝ G*` of this voxel (C-order index): the normal stress at its centre.
    Shear(usize),
    /// `∝ 1/λ` of this voxel, `λ = K − 2G*/3`: its compliance (and the pressure scale²).
    Compliance(usize),
    /// `∝ G_e`, the harmonic mean of the moduli of the voxels of this entry of
    /// [`Triplets::edges`]: the shear stress on an edge.
    Edge(usize),
}

/// Matrix entries as triplets, compressed to CSC at the end; with `tags`, what each entry is
/// proportional to.
struct Triplets {
    entries: Vec<(usize, usize, Complex64)>,
    /// One per entry when recorded.
    tags: Option<Vec<Tag>>,
    /// The tag of the entries pushed next.
    tag: Tag,
    /// Voxels (C-order indices) around each tagged edge, and their number.
    edges: Vec<([usize; 4], usize)>,
}

impl Triplets {
    fn new(capacity: usize, tagged: bool) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
            tags: tagged.then(|| Vec::with_capacity(capacity)),
            tag: Tag::Constant,
            edges: Vec::new(),
        }
    }

    fn push(&mut self, i: usize, j: usize, v: Complex64) {
        self.entries.push((i, j, v));
        if let Some(t) = &mut self.tags {
            t.push(self.tag);
        }
    }

    /// `w · l(u) l(v)`: entries `w c_i c_j` for every pair of terms of the functional `l`.
    fn quad(&mut self, w: Complex64, l: &[(usize, Complex64)]) {
        for &(i, ci) in l {
            for &(j, cj) in l {
                self.push(i, j, w * ci * cj);
            }
        }
    }

    /// `w · v_i l(u) + w · u_i l(v)`: a symmetric coupling of unknown `i` with the functional `l`.
    fn pair(&mut self, w: Complex64, i: usize, l: &[(usize, Complex64)]) {
        for &(j, c) in l {
            self.push(i, j, w * c);
            self.push(j, i, w * c);
        }
    }

    /// Compressed sparse columns, duplicates summed. A counting sort by column and a short sort
    /// by row within each column (O(entries), against a comparison sort of all entries: the
    /// reduced-basis model assembles the operator at every evaluation); stable, so duplicates
    /// are summed in the order they were pushed.
    fn into_csc(self, n: usize) -> (Pattern, Vec<Complex64>) {
        let t = self.entries;
        let mut start = vec![0usize; n + 1];
        for &(_, j, _) in &t {
            start[j + 1] += 1;
        }
        for j in 0..n {
            start[j + 1] += start[j];
        }
        let mut next = start.clone();
        let mut order = vec![0usize; t.len()];
        for (k, &(_, j, _)) in t.iter().enumerate() {
            order[next[j]] = k;
            next[j] += 1;
        }
        for j in 0..n {
            order[start[j]..start[j + 1]].sort_by_key(|&k| t[k].0);
        }
        let mut col_ptr = vec![0; n + 1];
        let mut row_idx: Vec<usize> = Vec::with_capacity(t.len() / 2);
        let mut values: Vec<Complex64> = Vec::with_capacity(t.len() / 2);
        let mut last = None;
        for (i, j, v) in order.iter().map(|&k| t[k]) {
            if last == Some((i, j)) {
                *values.last_mut().expect("an entry before") += v;
            } else {
                row_idx.push(i);
                values.push(v);
                col_ptr[j + 1] += 1;
                last = Some((i, j));
            }
        }
        for j in 0..n {
            col_ptr[j + 1] += col_ptr[j];
        }
        (Pattern { nrows: n, col_ptr, row_idx }, values)
    }
}

/// The assembled full operator (every unknown an equation, no Dirichlet substitution).
struct Assembly {
    layout: Layout,
    full: Pattern,
    full_values: Vec<Complex64>,
    /// Source weight `V S` per displacement unknown (half at outer faces), 0 for pressures.
    weight: Vec<Complex64>,
    /// `p = pressure_scale · q`, Pa/m.
    pressure_scale: f64,
}

fn assemble(p: &VectorProblem) -> Assembly {
    let (layout, t, weight, pressure_scale) = triplets(p, false);
    let (full, full_values) = t.into_csc(layout.len);
    Assembly { layout, full, full_values, weight, pressure_scale }
}

/// The entries of the full operator of `p` (tagged when `tagged`), with the layout, the source
/// weights and the pressure scale of [`Assembly`].
fn triplets(p: &VectorProblem, tagged: bool) -> (Layout, Triplets, Vec<Complex64>, f64) {
    let m = p.medium;
    let shape = m.grid.shape;
    let h = m.grid.voxel_size_m;
    let lay = Layout::new(shape);
    let active = lay.active;
    let st = Stretch::new(shape, &p.boundary);
    let clamped = p.boundary.faces.map(|f| f.map(|c| c != FaceCondition::Free));
    let g = m.complex_modulus();
    let rho = &m.density_kg_m3;
    let vol = h[0] * h[1] * h[2];
    let w2 = p.omega_rad_per_s * p.omega_rad_per_s;
    let g_ref = g.iter().map(|v| v.norm()).sum::<f64>() / g.len() as f64;
    let h_ref = (0..3).filter(|&a| active[a]).map(|a| h[a]).fold(f64::INFINITY, f64::min);
    let h_ref = if h_ref.is_finite() { h_ref } else { h[0] };
    let ps = g_ref / h_ref;
    // s_b at index i along b: at a face (staggered) or a centre.
    let s_at = |b: usize, i: usize, face: bool| if face { st.face[b][i] } else { st.centre[b][i] };
    let mut t = Triplets::new(lay.len * 24, tagged);
    let mut weight = vec![ZERO; lay.len];

    // Mass and source weights of the displacement unknowns.
    for (a, &staggered) in active.iter().enumerate() {
        for_each_pos(lay.comp[a], |pos| {
            let s = (0..3).fold(ONE, |s, b| s * s_at(b, pos[b], b == a && staggered));
            let (lo, hi) = lay.face_voxels(a, pos);
            let (rho_f, frac) = match hi {
                Some(hi) => (0.5 * (rho[lo] + rho[hi]), 1.0),
                None if active[a] => (rho[lo], 0.5),
                None => (rho[lo], 1.0),
            };
            let i = lay.u(a, pos);
            weight[i] = s * (vol * frac);
            t.push(i, i, weight[i] * rho_f * w2);
        });
    }

    // Voxel centres: normal stress, divergence and compliance p/λ.
    for_each_pos(shape, |idx| {
        let w = st.volume(idx) * vol;
        let gi = g[idx];
        let pi = lay.p(idx);
        for a in (0..3).filter(|&a| active[a]) {
            let d = ONE / (st.centre[a][idx[a]] * h[a]);
            let mut hi = idx;
            hi[a] += 1;
            let l = [(lay.u(a, hi), d), (lay.u(a, idx), -d)];
            t.tag = Tag::Shear(lay.voxel(idx));
            t.quad(-w * 2.0 * gi, &l);
            t.tag = Tag::Constant;
            t.pair(w * ps, pi, &l);
        }
        let lambda = p.bulk_modulus_pa.at(idx) - gi * (2.0 / 3.0);
        t.tag = Tag::Compliance(lay.voxel(idx));
        t.push(pi, pi, w * (ps * ps) / lambda);
        t.tag = Tag::Constant;
    });

    // Edges parallel to axis c: shear stress G*(∂_b u_a + ∂_a u_b).
    for a in 0..3 {
        for b in a + 1..3 {
            if !active[a] && !active[b] {
                continue;
            }
            let c = 3 - a - b;
            let mut ext = shape;
            for x in [a, b] {
                if active[x] {
                    ext[x] += 1;
                }
            }
            for_each_pos(ext, |e| {
                let mut frac = 1.0;
                for x in [a, b] {
                    if active[x] && (e[x] == 0 || e[x] == shape[x]) {
                        if !clamped[x][usize::from(e[x] == shape[x])] {
                            return; // traction-free face: no shear stress on it
                        }
                        frac *= 0.5;
                    }
                }
                // γ = ∂_b u_a + ∂_a u_b (derivative along y of u_x for (x, y) = (a, b), (b, a)).
                let mut l = [(0, ZERO); 4];
                let mut nl = 0;
                for (x, y) in [(a, b), (b, a)] {
                    if !active[y] {
                        continue;
                    }
                    let j = e[y];
                    let d = ONE / (st.face[y][j] * h[y]);
                    let (mut lo, mut hi) = (e, e);
                    if j == 0 {
                        l[nl] = (lay.u(x, hi), 2.0 * d); // ghost −u inside the clamped face
                        nl += 1;
                    } else if j == shape[y] {
                        lo[y] = j - 1;
                        l[nl] = (lay.u(x, lo), -2.0 * d);
                        nl += 1;
                    } else {
                        lo[y] = j - 1;
                        hi[y] = j;
                        l[nl] = (lay.u(x, hi), d);
                        l[nl + 1] = (lay.u(x, lo), -d);
                        nl += 2;
                    }
                }
                // Harmonic mean of the moduli of the (up to 4) voxels around the edge.
                let range = |x: usize| {
                    if active[x] {
                        e[x].saturating_sub(1)..(e[x] + 1).min(shape[x])
                    } else {
                        e[x]..e[x] + 1
                    }
                };
                let (mut inv, mut cnt) = (ZERO, 0);
                let mut voxels = [0usize; 4];
                for i in range(a) {
                    for j in range(b) {
                        let mut v = e;
                        v[a] = i;
                        v[b] = j;
                        inv += ONE / g[v];
                        voxels[cnt] = lay.voxel(v);
                        cnt += 1;
                    }
                }
                let ge = cnt as f64 / inv;
                let s = s_at(a, e[a], active[a]) * s_at(b, e[b], active[b]) * st.centre[c][e[c]];
                if t.tags.is_some() {
                    t.tag = Tag::Edge(t.edges.len());
                    t.edges.push((voxels, cnt));
                }
                t.quad(-(s * ge) * (vol * frac), &l[..nl]);
                t.tag = Tag::Constant;
            });
        }
    }
    (lay, t, weight, ps)
}

/// Fixed unknowns and their values: normal displacements on clamped faces (0), the faces of
/// Dirichlet voxels (the prescribed mean), pressures of voxels whose faces are all fixed.
fn fixed_unknowns(asm: &Assembly, boundary: &Boundary, dirichlet: Option<&VectorDirichlet>) -> (Vec<bool>, Vec<Complex64>) {
    let lay = &asm.layout;
    let mut fixed = vec![false; lay.len];
    let mut g = vec![ZERO; lay.len];
    for a in (0..3).filter(|&a| lay.active[a]) {
        for side in 0..2 {
            if boundary.faces[a][side] != FaceCondition::Free {
                for_each_pos(lay.comp[a], |pos| {
                    if pos[a] == side * lay.shape[a] {
                        fixed[lay.u(a, pos)] = true;
                    }
                });
            }
        }
    }
    if let Some(d) = dirichlet {
        let mut count = vec![0.0; lay.offset[3]];
        let mut sum = vec![ZERO; lay.offset[3]];
        for_each_pos(lay.shape, |idx| {
            if d.mask[idx] {
                for a in 0..3 {
                    let mut faces = [Some(idx), None];
                    if lay.active[a] {
                        let mut hi = idx;
                        hi[a] += 1;
                        faces[1] = Some(hi);
                    }
                    for f in faces.into_iter().flatten() {
                        let i = lay.u(a, f);
                        sum[i] += d.values[a][idx];
                        count[i] += 1.0;
                    }
                }
            }
        });
        for (i, (&c, &s)) in count.iter().zip(&sum).enumerate() {
            if c > 0.0 {
                fixed[i] = true;
                g[i] = s / c;
            }
        }
    }
    // Pressures of voxels with every face fixed: their row `B u + C q = 0` involves fixed
    // values only, so q = −(B u_g)/C.
    for_each_pos(lay.shape, |idx| {
        let all = (0..3).all(|a| {
            let mut hi = idx;
            if lay.active[a] {
                hi[a] += 1;
            }
            fixed[lay.u(a, idx)] && fixed[lay.u(a, hi)]
        });
        if all {
            let pi = lay.p(idx);
            let (mut diag, mut sum) = (ZERO, ZERO);
            // The full matrix is symmetric: column pi holds row pi.
            for k in asm.full.col_ptr[pi]..asm.full.col_ptr[pi + 1] {
                let i = asm.full.row_idx[k];
                if i == pi {
                    diag = asm.full_values[k];
                } else {
                    sum += asm.full_values[k] * g[i];
                }
            }
            fixed[pi] = true;
            g[pi] = -sum / diag;
        }
    });
    (fixed, g)
}

/// The system matrix: the full operator with the rows and columns of fixed unknowns replaced
/// by the identity.
fn system_matrix(asm: &Assembly, fixed: &[bool]) -> (Pattern, Vec<Complex64>) {
    let n = asm.layout.len;
    let mut col_ptr = Vec::with_capacity(n + 1);
    let mut row_idx = Vec::with_capacity(asm.full.row_idx.len());
    let mut values = Vec::with_capacity(asm.full.row_idx.len());
    col_ptr.push(0);
    for j in 0..n {
        if fixed[j] {
            row_idx.push(j);
            values.push(ONE);
        } else {
            for k in asm.full.col_ptr[j]..asm.full.col_ptr[j + 1] {
                let i = asm.full.row_idx[k];
                if !fixed[i] {
                    row_idx.push(i);
                    values.push(asm.full_values[k]);
                }
            }
        }
        col_ptr.push(row_idx.len());
    }
    (Pattern { nrows: n, col_ptr, row_idx }, values)
}

/// Elimination order: fixed unknowns first, then voxel by voxel in nested-dissection order
/// (within a voxel its low faces `u_z, u_y, u_x`, the outer high faces, then `q`; the
/// pressures of one separator layer move ahead, see [`nested_dissection_split`]).
fn elimination_order(lay: &Layout, fixed: &[bool]) -> Vec<usize> {
    let nvox: usize = lay.shape.iter().product();
    let (mut rank_u, mut rank_p) = (vec![0; nvox], vec![0; nvox]);
    let items = nested_dissection_split(lay.shape);
    let nitems = items.len();
    for (r, (v, part)) in items.into_iter().enumerate() {
        if part != VoxelPart::Pressure {
            rank_u[v] = r;
        }
        if part != VoxelPart::Displacement {
            rank_p[v] = r;
        }
    }
    let mut key = vec![0; lay.len];
    for a in 0..3 {
        for_each_pos(lay.comp[a], |pos| {
            let mut owner = pos;
            let mut sub = a;
            if lay.active[a] && pos[a] == lay.shape[a] {
                owner[a] -= 1;
                sub = 3 + a;
            }
            key[lay.u(a, pos)] = rank_u[lay.voxel(owner)] * 8 + sub;
        });
    }
    for_each_pos(lay.shape, |idx| key[lay.p(idx)] = rank_p[lay.voxel(idx)] * 8 + 6);
    for (k, &f) in key.iter_mut().zip(fixed) {
        if !f {
            *k += 8 * nitems;
        }
    }
    let mut order: Vec<usize> = (0..lay.len).collect();
    order.sort_unstable_by_key(|&i| key[i]);
    order
}

/// Assembled and LU-factorised vector (Navier) operator, reusable for many sources and adjoint
/// solves. See the module documentation of `wave::navier` for the discretisation.
///
/// # Cost
/// 3-D: see the module documentation (16³ about 2–4 s and 0.6 GB). 2-D plane strain
/// (`[1, n, n]`, 2 mm voxels, G* = 3 + 0.3i kPa, 60 Hz, 8-voxel PML), single-threaded,
/// assembly + factorisation + check solve, and the peak RSS of the process (busy 2-core
/// machine). The column order is put into a postorder of the elimination tree before faer's
/// symbolic analysis (before that fix, issue 18, the 2-D order fragmented faer's supernodes
/// into single columns whose contribution blocks are kept until the end: 15× the memory);
/// the factors are the same. One solve takes 0.04 s at 128², 0.2 s at 256².
///
/// | n   | ν      | before: time, peak   | after: time, peak |
/// |-----|--------|----------------------|-------------------|
/// | 64  | 0.3    | 0.8 s, 0.79 GB       | 0.15 s, 0.10 GB   |
/// | 64  | 0.4999 | 1.0 s, 1.08 GB       | 0.13 s, 0.10 GB   |
/// | 128 | 0.3    | 6.3 s, 7.1 GB        | 0.64 s, 0.44 GB   |
/// | 128 | 0.4999 | 8.5 s, 9.8 GB        | 0.73 s, 0.50 GB   |
/// | 192 | 0.3    | out of memory (15 GB) | 2.1 s, 1.16 GB   |
/// | 192 | 0.4999 | out of memory (15 GB) | 2.2 s, 1.36 GB   |
/// | 256 | 0.3    | not run (> 15 GB)    | 4.2 s, 2.16 GB    |
/// | 256 | 0.4999 | not run (> 15 GB)    | 4.8 s, 2.47 GB    |
pub struct NavierSolver {
    grid: Grid,
    asm: Assembly,
    fixed: Vec<bool>,
    /// Values of the fixed unknowns (0 elsewhere).
    fixed_values: Vec<Complex64>,
    symbolic: Arc<Symbolic>,
    numeric: Numeric,
    par: Par,
}

impl std::fmt::Debug for NavierSolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NavierSolver")
            .field("grid", &self.grid)
            .field("unknowns", &self.len())
            .field("fixed_unknowns", &self.fixed.iter().filter(|&&b| b).count())
            .field("par", &self.par)
            .finish_non_exhaustive()
    }
}

impl NavierSolver {
    /// Assemble and factorise `p` (factorisation parallel over the current rayon pool).
    pub fn new(p: &VectorProblem) -> Result<Self> {
        Self::with_threads(p, 0)
    }

    /// Like [`NavierSolver::new`] with `threads` threads for the factorisation and the solves
    /// (0 = every thread of the current rayon pool, 1 = sequential).
    pub fn with_threads(p: &VectorProblem, threads: usize) -> Result<Self> {
        p.validate()?;
        let par = parallelism(threads);
        let asm = assemble(p);
        let (fixed, fixed_values) = fixed_unknowns(&asm, &p.boundary, p.dirichlet.as_ref());
        let (pattern, values) = system_matrix(&asm, &fixed);
        let order = elimination_order(&asm.layout, &fixed);
        let symbolic = Symbolic::with_order(pattern, order)?;
        let mut numeric = Numeric::new();
        factorise(&symbolic, &values, par, &mut numeric)?;
        check_factorisation(&symbolic, Some(&numeric), par, &values)?;
        Ok(Self { grid: p.medium.grid.clone(), asm, fixed, fixed_values, symbolic, numeric, par })
    }

    /// Number of unknowns (displacement faces and pressures, prescribed ones included).
    pub fn len(&self) -> usize {
        self.asm.layout.len
    }

    /// Never true (a grid has at least one voxel).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    fn check_vector(&self, name: &str, f: &[Array3<Complex64>; 3]) -> Result<()> {
        for (a, fa) in f.iter().enumerate() {
            check_field(&format!("{name}[{a}] ({} component)", AXIS[a]), fa, &self.grid)?;
        }
        Ok(())
    }

    /// Solve with the force density `force` (`[f_z, f_y, f_x]` at voxel centres, N/m³):
    /// displacement on the faces and pressure. Prescribed faces take their Dirichlet values.
    pub fn solve_fields(&self, force: &[Array3<Complex64>; 3]) -> Result<NavierFields> {
        self.check_vector("force", force)?;
        let lay = &self.asm.layout;
        let mut b = vec![ZERO; lay.len];
        for (a, fa) in force.iter().enumerate() {
            for_each_pos(lay.comp[a], |pos| {
                let (lo, hi) = lay.face_voxels(a, pos);
                let f = match hi {
                    Some(hi) => 0.5 * (fa[lo] + fa[hi]),
                    None => fa[lo],
                };
                let i = lay.u(a, pos);
                b[i] = self.asm.weight[i] * f;
            });
        }
        if self.fixed.iter().any(|&f| f) {
            let coupling = self.asm.full.matvec(&self.asm.full_values, &self.fixed_values);
            for (i, bi) in b.iter_mut().enumerate() {
                *bi = if self.fixed[i] { self.fixed_values[i] } else { *bi - coupling[i] };
            }
        }
        lu_solve_in_place(&self.symbolic, Some(&self.numeric), self.par, &mut b, false)?;
        Ok(self.fields(&b))
    }

    /// Solve with the force density `force` (`[f_z, f_y, f_x]`, N/m³): the displacement
    /// `[u_z, u_y, u_x]` at voxel centres (m, mean of the two faces).
    pub fn solve(&self, force: &[Array3<Complex64>; 3]) -> Result<[Array3<Complex64>; 3]> {
        Ok(self.solve_fields(force)?.centres())
    }

    /// The adjoint of the linear map `f ↦ u` of [`NavierSolver::solve`] with zero Dirichlet
    /// values (call it `A⁻¹`): returns `λ` with `⟨λ, f⟩ = ⟨rhs, A⁻¹ f⟩` for every force `f`,
    /// i.e. `⟨λ, A u⟩ = ⟨rhs, u⟩`, with `⟨a, b⟩ = Σ_components Σ_voxels conj(a) b`. Units of
    /// `λ`: those of `rhs` times m/(N/m³). One transposed solve with the same factorisation.
    pub fn solve_adjoint(&self, rhs: &[Array3<Complex64>; 3]) -> Result<[Array3<Complex64>; 3]> {
        self.check_vector("adjoint right-hand side", rhs)?;
        let lay = &self.asm.layout;
        // u = C K⁻¹ E W F f (F: voxels → faces, W: weights, E: zero on fixed rows, C: faces →
        // centres), so λ = Fᵀ conj(W) E K⁻ᴴ Cᵀ rhs.
        let mut y = lay.centre_transpose(rhs);
        lu_solve_in_place(&self.symbolic, Some(&self.numeric), self.par, &mut y, true)?;
        let sh = (lay.shape[0], lay.shape[1], lay.shape[2]);
        let mut out = [Array3::zeros(sh), Array3::zeros(sh), Array3::zeros(sh)];
        for (a, o) in out.iter_mut().enumerate() {
            for_each_pos(lay.comp[a], |pos| {
                let i = lay.u(a, pos);
                if self.fixed[i] {
                    return;
                }
                let z = self.asm.weight[i].conj() * y[i];
                match lay.face_voxels(a, pos) {
                    (lo, Some(hi)) => {
                        o[lo] += 0.5 * z;
                        o[hi] += 0.5 * z;
                    }
                    (lo, None) => o[lo] += z,
                }
            });
        }
        Ok(out)
    }

    fn fields(&self, x: &[Complex64]) -> NavierFields {
        let lay = &self.asm.layout;
        let faces = [0, 1, 2].map(|a| {
            let c = lay.comp[a];
            let v = x[lay.offset[a]..lay.offset[a + 1]].to_vec();
            Array3::from_shape_vec((c[0], c[1], c[2]), v).expect("length matches the face array")
        });
        let s = lay.shape;
        let p = x[lay.offset[3]..].iter().map(|q| q * self.asm.pressure_scale).collect();
        NavierFields { faces, pressure_pa: Array3::from_shape_vec((s[0], s[1], s[2]), p).expect("length matches the grid") }
    }
}

// The iterative solver is a child module so that it can use the assembly and layout above.
#[path = "navier_iterative.rs"]
mod iterative;
pub use iterative::{
    NavierIterative, NavierWaveSolver, AUTO_NAVIER_DIRECT_MAX_VOXELS_3D, DEFAULT_NAVIER_INNER_ITERATIONS,
    DEFAULT_NAVIER_INNER_ITERATIONS_WITHOUT_PML,
};
#[path = "navier_operator.rs"]
mod operator;
pub use operator::{AffineNavierOperator, NavierOperator, TermKind, VoxelDerivatives};
/// Flatten fields into the unknowns of `lay` (pressures as the scaled `q = p / scale`).
fn flatten(lay: &Layout, f: &NavierFields, scale: f64) -> Vec<Complex64> {
    let mut x = Vec::with_capacity(lay.len);
    for face in &f.faces {
        x.extend(face.iter().copied());
    }
    x.extend(f.pressure_pa.iter().map(|p| p / scale));
    x
}

/// Symbolic reuse, per-face prescribed values, adjoint fields and the derivative of the
/// operator with respect to the moduli (the measured-boundary forward model of the inversion).
impl NavierSolver {
    /// A new solver for `p` sharing this one's symbolic analysis when the sparsity pattern
    /// matches (it changes only with the grid, the boundary and the Dirichlet mask): e.g. one
    /// solver per frequency or per inversion iterate. `self` stays usable.
    pub fn refactored(&self, p: &VectorProblem) -> Result<Self> {
        p.validate()?;
        let asm = assemble(p);
        let (fixed, fixed_values) = fixed_unknowns(&asm, &p.boundary, p.dirichlet.as_ref());
        let (pattern, values) = system_matrix(&asm, &fixed);
        let symbolic = if *self.symbolic.pattern() == pattern {
            Arc::clone(&self.symbolic)
        } else {
            Symbolic::with_order(pattern, elimination_order(&asm.layout, &fixed))?
        };
        let mut numeric = Numeric::new();
        factorise(&symbolic, &values, self.par, &mut numeric)?;
        check_factorisation(&symbolic, Some(&numeric), self.par, &values)?;
        Ok(Self { grid: p.medium.grid.clone(), asm, fixed, fixed_values, symbolic, numeric, par: self.par })
    }

    /// Whether two solvers share one symbolic analysis (see [`NavierSolver::refactored`]).
    pub fn shares_symbolic(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.symbolic, &other.symbolic)
    }

    /// Shapes of the face arrays `u_z`, `u_y`, `u_x` (see [`NavierFields::faces`]).
    pub fn face_shapes(&self) -> [[usize; 3]; 3] {
        self.asm.layout.comp
    }

    /// Like [`NavierSolver::solve_fields`] with other prescribed values on the same prescribed
    /// faces and the same factorisation: every prescribed displacement unknown (faces of
    /// Dirichlet voxels and clamped outer faces) takes `faces[a]` at its position (shape
    /// [`NavierSolver::face_shapes`]`[a]`, m); other entries are ignored. E.g. measured data
    /// interpolated to the faces, exact at the faces between a prescribed and a free voxel.
    /// Pressures of voxels whose faces are all prescribed are returned as 0 (they couple to no
    /// free unknown and are not recomputed).
    pub fn solve_fields_with_face_values(&self, force: &[Array3<Complex64>; 3], faces: &[Array3<Complex64>; 3]) -> Result<NavierFields> {
        self.check_vector("force", force)?;
        let lay = &self.asm.layout;
        let g = prescribed_face_values(lay, &self.fixed, faces, true)?;
        let mut b = vec![ZERO; lay.len];
        for (a, fa) in force.iter().enumerate() {
            for_each_pos(lay.comp[a], |pos| {
                let (lo, hi) = lay.face_voxels(a, pos);
                let f = match hi {
                    Some(hi) => 0.5 * (fa[lo] + fa[hi]),
                    None => fa[lo],
                };
                let i = lay.u(a, pos);
                b[i] = self.asm.weight[i] * f;
            });
        }
        let coupling = self.asm.full.matvec(&self.asm.full_values, &g);
        for (i, bi) in b.iter_mut().enumerate() {
            *bi = if self.fixed[i] { g[i] } else { *bi - coupling[i] };
        }
        lu_solve_in_place(&self.symbolic, Some(&self.numeric), self.par, &mut b, false)?;
        Ok(self.fields(&b))
    }

    /// Solve `K z = r` with zero prescribed values, `r` in the units of a [`NavierOperator`]
    /// with pressures in units of `pressure_scale` Pa (what [`NavierOperator::apply`] returns;
    /// rows of prescribed unknowns are ignored): e.g. with `r = −(K' − K) x` for the operators
    /// `K`, `K'` of this problem and of a perturbed one and `x` this problem's solution, the
    /// first-order change of the solution — one solve with this factorisation instead of a new
    /// one. Returns the fields (pressures in Pa).
    pub fn solve_operator_rhs(&self, r: &[Complex64], pressure_scale: f64) -> Result<NavierFields> {
        let mut b = operator_rhs(&self.asm.layout, &self.fixed, r, pressure_scale, self.asm.pressure_scale)?;
        lu_solve_in_place(&self.symbolic, Some(&self.numeric), self.par, &mut b, false)?;
        Ok(self.fields(&b))
    }

    /// The adjoint unknowns `μ = K⁻ᴴ Cᵀ rhs` on every face and pressure (`K` the system
    /// matrix, `C` the map faces → voxel centres of [`NavierFields::centres`]; `μ = 0` on
    /// prescribed unknowns), in the layout of [`NavierFields`] (pressures scaled like the
    /// forward pressure). With `J` a function of the centre displacement and
    /// `rhs = ∂J/∂u` (`dJ = Re Σ conj(rhs) du`), `dJ = −Re Σ_v c_v dG*_v` with
    /// `c = `[`NavierSolver::modulus_sensitivity`]`(problem, u, conj(μ))`.
    pub fn solve_adjoint_fields(&self, rhs: &[Array3<Complex64>; 3]) -> Result<NavierFields> {
        self.check_vector("adjoint right-hand side", rhs)?;
        let lay = &self.asm.layout;
        let mut y = lay.centre_transpose(rhs);
        for (yi, &f) in y.iter_mut().zip(&self.fixed) {
            if f {
                *yi = ZERO;
            }
        }
        lu_solve_in_place(&self.symbolic, Some(&self.numeric), self.par, &mut y, true)?;
        Ok(self.fields(&y))
    }

    /// `c_v = wᵀ (∂K/∂G*_v) u` per voxel `v` (complex, holomorphic derivative; bilinear, no
    /// conjugation), `K` the full operator (every unknown an equation, before Dirichlet
    /// substitution) of `p`, which must be the problem this solver was factorised for; `u`
    /// and `w` in the layout of [`NavierFields`]. `G*_v` enters `K` through the normal stress
    /// at voxel `v`'s centre, the shear stress on the (up to 4) edges around it per pair of
    /// axes (harmonic mean of the touching voxels), and the compliance `p/λ` with
    /// `λ = K − 2G*_v/3`. Units: Pa⁻¹ times those of `wᵀ K u`.
    pub fn modulus_sensitivity(&self, p: &VectorProblem, u: &NavierFields, w: &NavierFields) -> Result<Array3<Complex64>> {
        modulus_sensitivity(&self.asm.layout, self.asm.pressure_scale, p, u, w)
    }

    /// `(∂J/∂G', ∂J/∂G'')` per voxel (units of `J` per Pa) for an objective `J` of the centre
    /// displacement of this solver's solution `fields` (from [`NavierSolver::solve_fields`] or
    /// [`NavierSolver::solve_fields_with_face_values`] of the problem `p` it was factorised
    /// for), given `dj_du = ∂J/∂u` at the voxel centres per component `[z, y, x]`
    /// (`dJ = Re Σ conj(dj_du) du`; entries at prescribed voxels do not matter). One adjoint
    /// solve ([`NavierSolver::solve_adjoint_fields`]) and one sweep
    /// ([`NavierSolver::modulus_sensitivity`]): `∂J/∂G'_v = −Re c_v`, `∂J/∂G''_v = Im c_v`.
    pub fn modulus_gradient(
        &self,
        p: &VectorProblem,
        fields: &NavierFields,
        dj_du: &[Array3<Complex64>; 3],
    ) -> Result<(Array3<f64>, Array3<f64>)> {
        let mut mu = self.solve_adjoint_fields(dj_du)?;
        for f in mu.faces.iter_mut() {
            f.mapv_inplace(|v| v.conj());
        }
        mu.pressure_pa.mapv_inplace(|v| v.conj());
        let c = self.modulus_sensitivity(p, fields, &mu)?;
        Ok((c.mapv(|c| -c.re), c.mapv(|c| c.im)))
    }
}

/// The vector with `faces[a]` (m, shapes of the face arrays of `lay`) at the prescribed
/// displacement unknowns (`fixed`) and 0 elsewhere; `check_finite`: a non-finite value is an
/// error naming it.
fn prescribed_face_values(lay: &Layout, fixed: &[bool], faces: &[Array3<Complex64>; 3], check_finite: bool) -> Result<Vec<Complex64>> {
    let mut g = vec![ZERO; lay.len];
    for (a, fa) in faces.iter().enumerate() {
        let want = lay.comp[a];
        if fa.shape() != want {
            return Err(SolverError::Shape(format!("face values u_{} have shape {:?}, expected {want:?}", AXIS[a], fa.shape())));
        }
        if let Some((pos, v)) = fa.indexed_iter().find(|(_, v)| check_finite && !finite(**v)) {
            return Err(SolverError::invalid(
                format!("face values u_{} [{}, {}, {}]", AXIS[a], pos.0, pos.1, pos.2),
                v,
                "a finite displacement in m",
            ));
        }
        for_each_pos(want, |pos| {
            let i = lay.u(a, pos);
            if fixed[i] {
                g[i] = fa[pos];
            }
        });
    }
    Ok(g)
}

/// The right-hand side of the system (pressures in the solver's own scale `own_scale`, 0 at
/// the `fixed` unknowns) for `r` in the units of a [`NavierOperator`] with pressures in units
/// of `pressure_scale` Pa: the operator is `E K E` with `E = diag(1, s/s_K)`, so
/// `K (E dx) = E⁻¹ r`.
fn operator_rhs(lay: &Layout, fixed: &[bool], r: &[Complex64], pressure_scale: f64, own_scale: f64) -> Result<Vec<Complex64>> {
    if r.len() != lay.len {
        return Err(SolverError::Shape(format!("right-hand side of {} unknowns, expected {}", r.len(), lay.len)));
    }
    if !(pressure_scale.is_finite() && pressure_scale > 0.0) {
        return Err(SolverError::invalid("pressure scale", pressure_scale, "a positive, finite scale in Pa"));
    }
    let back = own_scale / pressure_scale;
    let np = lay.offset[3];
    Ok(r.iter()
        .zip(fixed)
        .enumerate()
        .map(|(i, (&v, &f))| match (f, i >= np) {
            (true, _) => ZERO,
            (false, true) => v * back,
            (false, false) => v,
        })
        .collect())
}

/// [`NavierSolver::modulus_sensitivity`] of the operator assembled for `p` with the layout `lay`
/// and the pressure scale `ps` (Pa/m) of its [`Assembly`].
fn modulus_sensitivity(lay: &Layout, ps: f64, p: &VectorProblem, u: &NavierFields, w: &NavierFields) -> Result<Array3<Complex64>> {
    if p.medium.grid.shape != lay.shape {
        return Err(SolverError::Shape(format!("problem grid {:?}, the solver's grid is {:?}", p.medium.grid.shape, lay.shape)));
    }
    for (name, f) in [("forward fields", u), ("adjoint fields", w)] {
        let ok = (0..3).all(|a| f.faces[a].shape() == lay.comp[a]) && f.pressure_pa.shape() == lay.shape;
        if !ok {
            return Err(SolverError::Shape(format!("{name} do not have the solver's face and voxel shapes")));
        }
    }
    let (xu, xw) = (flatten(lay, u, ps), flatten(lay, w, ps));
    let m = p.medium;
    let shape = lay.shape;
    let h = m.grid.voxel_size_m;
    let active = lay.active;
    let st = Stretch::new(shape, &p.boundary);
    let clamped = p.boundary.faces.map(|f| f.map(|c| c != FaceCondition::Free));
    let g = m.complex_modulus();
    let vol = h[0] * h[1] * h[2];
    let s_at = |b: usize, i: usize, face: bool| if face { st.face[b][i] } else { st.centre[b][i] };
    let apply = |l: &[(usize, Complex64)], x: &[Complex64]| l.iter().fold(ZERO, |s, &(i, c)| s + c * x[i]);
    let mut c = Array3::<Complex64>::zeros((shape[0], shape[1], shape[2]));

    // Voxel centres: normal stress −2G*·V (∂_a u_a)(∂_a w_a) and the compliance V ps²/λ.
    for_each_pos(shape, |idx| {
        let wv = st.volume(idx) * vol;
        let gi = g[idx];
        let mut sum = ZERO;
        for a in (0..3).filter(|&a| active[a]) {
            let d = ONE / (st.centre[a][idx[a]] * h[a]);
            let mut hi = idx;
            hi[a] += 1;
            let l = [(lay.u(a, hi), d), (lay.u(a, idx), -d)];
            sum += -wv * 2.0 * apply(&l, &xu) * apply(&l, &xw);
        }
        let lambda = p.bulk_modulus_pa.at(idx) - gi * (2.0 / 3.0);
        let pi = lay.p(idx);
        sum += wv * (ps * ps) * (2.0 / 3.0) / (lambda * lambda) * xu[pi] * xw[pi];
        c[idx] += sum;
    });

    // Edges: −S·G_e·V·frac γ(u) γ(w), G_e = n / Σ 1/G*; ∂G_e/∂G*_v = G_e² / (n G*_v²).
    for a in 0..3 {
        for b in a + 1..3 {
            if !active[a] && !active[b] {
                continue;
            }
            let cax = 3 - a - b;
            let mut ext = shape;
            for x in [a, b] {
                if active[x] {
                    ext[x] += 1;
                }
            }
            for_each_pos(ext, |e| {
                let mut frac = 1.0;
                for x in [a, b] {
                    if active[x] && (e[x] == 0 || e[x] == shape[x]) {
                        if !clamped[x][usize::from(e[x] == shape[x])] {
                            return;
                        }
                        frac *= 0.5;
                    }
                }
                let mut l = [(0, ZERO); 4];
                let mut nl = 0;
                for (x, y) in [(a, b), (b, a)] {
                    if !active[y] {
                        continue;
                    }
                    let j = e[y];
                    let d = ONE / (st.face[y][j] * h[y]);
                    let (mut lo, mut hi) = (e, e);
                    if j == 0 {
                        l[nl] = (lay.u(x, hi), 2.0 * d);
                        nl += 1;
                    } else if j == shape[y] {
                        lo[y] = j - 1;
                        l[nl] = (lay.u(x, lo), -2.0 * d);
                        nl += 1;
                    } else {
                        lo[y] = j - 1;
                        hi[y] = j;
                        l[nl] = (lay.u(x, hi), d);
                        l[nl + 1] = (lay.u(x, lo), -d);
                        nl += 2;
                    }
                }
                let range = |x: usize| {
                    if active[x] {
                        e[x].saturating_sub(1)..(e[x] + 1).min(shape[x])
                    } else {
                        e[x]..e[x] + 1
                    }
                };
                let mut voxels = [[0usize; 3]; 4];
                let (mut inv, mut cnt) = (ZERO, 0usize);
                for i in range(a) {
                    for j in range(b) {
                        let mut v = e;
                        v[a] = i;
                        v[b] = j;
                        inv += ONE / g[v];
                        voxels[cnt] = v;
                        cnt += 1;
                    }
                }
                let ge = cnt as f64 / inv;
                let s = s_at(a, e[a], active[a]) * s_at(b, e[b], active[b]) * st.centre[cax][e[cax]];
                let form = -(s * (vol * frac)) * apply(&l[..nl], &xu) * apply(&l[..nl], &xw);
                for v in &voxels[..cnt] {
                    c[*v] += form * ge * ge / (cnt as f64 * g[*v] * g[*v]);
                }
            });
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_matrix(shape: [usize; 3], b: Boundary) -> (Assembly, Pattern, Vec<Complex64>) {
        let grid = Grid::new(shape, [1e-3, 1.5e-3, 1.2e-3]).unwrap();
        let mut m = Medium::homogeneous(grid.clone(), 3e3, 3e2, 1e3);
        let z = shape[0] / 2;
        m.storage_modulus_pa[[z, 2, 3]] = 9e3;
        m.loss_modulus_pa[[z, 1, 2]] = 1e3;
        m.density_kg_m3[[z, 2, 2]] = 1.2e3;
        let d = VectorDirichlet::from_fn(&grid, |i| i == [z, 1, 1] || i == [z, 1, 2], |i| [Complex64::new(i[2] as f64, 1.0); 3]);
        let p =
            VectorProblem { medium: &m, bulk_modulus_pa: 2.2e9.into(), omega_rad_per_s: 300.0, boundary: b.clone(), dirichlet: Some(d) };
        let asm = assemble(&p);
        let (fixed, _) = fixed_unknowns(&asm, &b, p.dirichlet.as_ref());
        let (pat, v) = system_matrix(&asm, &fixed);
        (asm, pat, v)
    }

    /// Regression guard for the memory of the 2-D (plane strain) factorisation. faer's
    /// supernodal LU takes supernodes as contiguous column ranges of the elimination order and
    /// keeps the buffer of every supernode's dense contribution block until the factorisation
    /// ends, so an order that is not a postorder of the column elimination tree splits the
    /// supernodes into single columns and the blocks add up to ~15× the factors (128²: 7 GB
    /// instead of 0.4 GB; 64²: 8448 supernodes). Checked structurally, without timing: the
    /// order is a postorder, and faer's (relaxed) supernodes are at most half the fundamental
    /// supernodes of the George–Ng structure of `AᵀA` (its default relaxation always merges
    /// neighbours of up to 4 columns; 64²: 977 of 7927).
    #[test]
    fn plane_strain_factor_structure_stays_compact() {
        let n = 64;
        let grid = Grid::new([1, n, n], [2e-3; 3]).unwrap();
        let m = Medium::homogeneous(grid, 3e3, 3e2, 1e3);
        let p = VectorProblem {
            medium: &m,
            bulk_modulus_pa: 2.2e9.into(),
            omega_rad_per_s: 2.0 * std::f64::consts::PI * 60.0,
            boundary: Boundary::absorbing(8),
            dirichlet: None,
        };
        let s = NavierSolver::with_threads(&p, 1).unwrap();
        let (parent, counts) = s.symbolic.etree_and_column_counts();
        let len = parent.len();
        // Postorder: the subtree of every column is the contiguous range ending at it.
        let (mut size, mut first) = (vec![1; len], (0..len).collect::<Vec<_>>());
        for j in 0..len {
            if let Some(q) = parent[j] {
                assert!(q > j);
                size[q] += size[j];
                first[q] = first[q].min(first[j]);
            }
        }
        assert!((0..len).all(|j| first[j] + size[j] == j + 1), "the elimination order is not a postorder");
        // Fundamental supernodes: chains j-1 → j (j with one child) with the count dropping by one.
        let mut children = vec![0; len];
        parent.iter().flatten().for_each(|&q| children[q] += 1);
        let fundamental =
            (0..len).filter(|&j| j == 0 || !(parent[j - 1] == Some(j) && children[j] == 1 && counts[j] + 1 == counts[j - 1])).count();
        let supernodes = s.numeric.n_supernodes();
        assert!(2 * supernodes <= fundamental, "{supernodes} supernodes, {fundamental} fundamental ones");
    }

    #[test]
    fn a_per_voxel_bulk_modulus_enters_per_voxel() {
        let grid = Grid::new([1, 12, 14], [1e-3; 3]).unwrap();
        let m = Medium::homogeneous(grid.clone(), 3e3, 3e2, 1e3);
        let d = VectorDirichlet::from_fn(&grid, |i| i[2] == 0, |_| [ZERO, Complex64::new(1e-6, 0.0), Complex64::new(1e-6, 0.0)]);
        let problem = |k: BulkModulus| VectorProblem {
            medium: &m,
            bulk_modulus_pa: k,
            omega_rad_per_s: 2.0 * std::f64::consts::PI * 200.0,
            boundary: Boundary::absorbing(3).with_face(1, 0, FaceCondition::Free),
            dirichlet: Some(d.clone()),
        };
        let zero = Array3::zeros((1, 12, 14));
        let force = [zero.clone(), zero.clone(), zero];
        let solve = |k: BulkModulus| NavierSolver::with_threads(&problem(k), 1).unwrap().solve(&force).unwrap();
        // a per-voxel K with one value is the uniform K, bit for bit
        let k0 = 1e5;
        assert_eq!(solve(BulkModulus::Uniform(k0)), solve(BulkModulus::PerVoxel(Array3::from_elem((1, 12, 14), k0))));
        // two layers: differs from either uniform K, and the iterative solver follows it
        let layered = Array3::from_shape_fn((1, 12, 14), |(_, _, x)| if x < 7 { k0 } else { 2e7 });
        let u = solve(layered.clone().into());
        let diff = |a: &[Array3<Complex64>; 3], b: &[Array3<Complex64>; 3]| {
            let n: f64 = b.iter().flat_map(|c| c.iter()).map(|v| v.norm_sqr()).sum();
            let e: f64 = a.iter().zip(b).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).norm_sqr())).sum();
            (e / n).sqrt()
        };
        assert!(diff(&u, &solve(k0.into())) > 1e-3 && diff(&u, &solve(2e7.into())) > 1e-3);
        let it = NavierIterative::new(&problem(layered.into())).unwrap().solve(&force).unwrap();
        assert!(diff(&it, &u) < 1e-6, "iterative vs direct: {}", diff(&it, &u));
        // validation names the voxel and the shape
        let mut bad = Array3::from_elem((1, 12, 14), k0);
        bad[[0, 3, 4]] = 1e3; // < 2G'/3
        let e = problem(bad.into()).validate().unwrap_err().to_string();
        assert!(e.contains("bulk_modulus_pa at voxel [0, 3, 4]") && e.contains("2G'/3"), "{e}");
        let e = problem(Array3::from_elem((1, 12, 13), k0).into()).validate().unwrap_err().to_string();
        assert!(e.contains("bulk_modulus_pa has shape"), "{e}");
        let e = problem(f64::NAN.into()).validate().unwrap_err().to_string();
        assert!(e.contains("bulk_modulus_pa") && e.contains("positive, finite"), "{e}");
    }

    fn assert_symmetric(p: &Pattern, v: &[Complex64]) {
        let n = p.nrows;
        let mut entries = std::collections::HashMap::new();
        for j in 0..n {
            let range = p.col_ptr[j]..p.col_ptr[j + 1];
            for (&i, &value) in p.row_idx[range.clone()].iter().zip(&v[range]) {
                entries.insert((i, j), value);
            }
        }
        for (&(i, j), &a) in &entries {
            let b = entries.get(&(j, i)).copied().expect("structurally symmetric");
            assert!((a - b).norm() <= 1e-12 * a.norm().max(1e-300), "({i}, {j}): {a} vs {b}");
        }
    }

    #[test]
    fn matrices_are_complex_symmetric_with_pml_free_faces_and_inclusion() {
        let b = Boundary::absorbing(2).with_face(1, 0, FaceCondition::Free).with_face(0, 1, FaceCondition::Fixed);
        for shape in [[5, 6, 7], [1, 6, 7]] {
            let (asm, p, v) = problem_matrix(shape, b.clone());
            assert_symmetric(&asm.full, &asm.full_values);
            assert_symmetric(&p, &v);
        }
    }

    #[test]
    fn partial_pivoting_copes_with_the_small_compliance_diagonal() {
        // K/G from 10 to 1e12: the p/λ diagonal shrinks to ~1e-12 of the other blocks. With
        // every face clamped the constant pressure is fixed by p/λ alone (the hydrostatic mode
        // of a sealed box: condition ~ K/G in that one direction, which no other unknown sees);
        // with a free face the error stays at rounding level.
        let grid = Grid::new([6, 7, 8], [1e-3; 3]).unwrap();
        let m = Medium::homogeneous(grid, 3e3, 3e2, 1e3);
        // (Sealed, K/G = 1e12: the factorisation check reports Singular, error ~1e-4.)
        for free in [false, true] {
            let ratios: &[f64] = if free { &[1e1, 1e6, 1e9, 1e12] } else { &[1e1, 1e6, 1e9] };
            for &ratio in ratios {
                let mut boundary = Boundary::absorbing(2);
                if free {
                    boundary = boundary.with_face(1, 0, FaceCondition::Free);
                }
                let p =
                    VectorProblem { medium: &m, bulk_modulus_pa: (ratio * 3e3).into(), omega_rad_per_s: 377.0, boundary, dirichlet: None };
                let s = NavierSolver::with_threads(&p, 1).unwrap();
                let (pat, v) = system_matrix(&s.asm, &s.fixed);
                let x0: Vec<Complex64> = (0..s.len()).map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos())).collect();
                let mut x = pat.matvec(&v, &x0);
                lu_solve_in_place(&s.symbolic, Some(&s.numeric), s.par, &mut x, false).unwrap();
                let np = s.asm.layout.offset[3];
                let err = |r: std::ops::Range<usize>| x[r.clone()].iter().zip(&x0[r]).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
                let (eu, ep) = (err(0..np), err(np..s.len()));
                println!("K/G = {ratio:e}, free face {free}: max forward error u {eu:.1e}, q {ep:.1e}");
                assert!(eu < 1e-9, "K/G = {ratio}: displacement forward error {eu}");
                if free {
                    assert!(ep < 1e-9, "K/G = {ratio}: pressure forward error {ep}");
                }
            }
        }
    }
}
