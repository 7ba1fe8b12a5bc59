//! Iterative solver of the mixed u–p Navier system (see the parent module `wave::navier`), for
//! 3-D grids too large for the sparse LU of [`NavierSolver`].
//!
//! The system iterated on is the one [`NavierSolver`] factorises,
//!
//! `[ F   Bᵀ ] [u]   [b_u]`
//! `[ B   C  ] [q] = [ 0 ]`,   `F = M − A` (mass minus elastic form), `C = V p_s²/λ`,
//!
//! restricted to the free unknowns (prescribed faces and pressures moved to the right-hand
//! side), by restarted right-preconditioned GMRES. The preconditioner is block upper
//! triangular (see Elman, Silvester & Wathen, *Finite elements and fast iterative solvers*):
//!
//! `P = [ F̂  Bᵀ ]`,  `P⁻¹ r = ( F̂⁻¹(r_u − Bᵀ Ŝ⁻¹ r_q),  Ŝ⁻¹ r_q )`;
//! `    [ 0   Ŝ ]`
//!
//! with exact blocks `F̂ = F`, `Ŝ = C − B F⁻¹ Bᵀ` (the Schur complement) GMRES would converge in
//! two iterations. The approximations:
//! - **Viscoelastic block** `F̂`: per displacement component `u_a`, [`DEFAULT_NAVIER_INNER_ITERATIONS`]
//!   (with absorbing faces; one without, see below) iterations of GMRES on the shifted block, each right-preconditioned by one V-cycle of the complex
//!   shifted-Laplacian multigrid of the scalar solver (`wave::multigrid`) for
//!   `V [∇·(G* ∇u_a) + G* ∂_a² u_a + ρ ω²(1 − iβ) u_a]` on the staggered grid of `u_a` (its
//!   face array as a voxel grid, `n_a + 1` points along `a`, the voxel size along `a` divided by
//!   √2 for the normal stress `2G*`), with the PML of the problem, `G*` the harmonic and `ρ` the
//!   arithmetic mean of the two voxels next to the face, the prescribed faces as homogeneous
//!   Dirichlet points. These are the diagonal blocks of `F`: the couplings `G*∂_a∂_b u_b`
//!   between components are dropped. The three V-cycles run in parallel.
//! - **Schur complement** `Ŝ`: on the MAC grid the discrete divergence and gradient commute with
//!   the Laplacians, so in a homogeneous medium `F ∇ = ∇ V(2G*Δ + ρω²)` and
//!   `S = V p_s² [1/λ + Δ (2G*Δ + ρω²)⁻¹]`, i.e.
//!   `S⁻¹ = λ/(V p_s²) · (MΔ + ρω²)⁻¹ (2G*Δ + ρω²)` with the compressional modulus
//!   `M = λ + 2G*` (Cahouet–Chabard for the time-harmonic, compressible case). `Ŝ⁻¹` applies
//!   the scalar operator of `2G*` on the voxel grid (a stencil product), then one
//!   shifted-Laplacian V-cycle of the scalar operator of `M`, then `λ/(V S p_s²)` per voxel.
//!   For the pressure, clamped faces (and the clamped face behind a PML) are zero-gradient and
//!   traction-free faces `p = 0`; the pressure operator has no PML (the compressional
//!   wavelength of tissue is metres). In the incompressible limit this is `2G*/(V p_s²)` plus
//!   `ρω²/(V p_s²)` times the inverse pressure Laplacian; for small `λ` it tends to the
//!   compliance `λ/(V p_s²)`.
//!
//! Because the inner GMRES makes the preconditioner a non-linear map, the outer iteration is
//! flexible GMRES (FGMRES: the preconditioned vectors are stored, 2·restart + 1 vectors).
//! With `inner ≤ 1` ([`NavierIterative::with_inner_iterations`]) each block gets one V-cycle
//! and the outer iteration is plain right-preconditioned GMRES, as before.
//!
//! Why inner iterations: the V-cycle of a block with a PML is not a convergent iteration.
//! Measured at 24³ (brain-like problem below, ν = 0.4999): the residual of repeated V-cycles of
//! a `u_a` block falls to ~2e-2 after 3 cycles, then grows by ~1.8 per cycle; without the PML
//! (preconditioner PML strength 0) it falls by ~0.4 per cycle; the scalar solver's V-cycle shows
//! the same growth (the pressure block, which has no PML, converges at ~0.3 per cycle). Not
//! fixed by: smaller Jacobi weights (0.4–0.5), 3 sweeps, red-black Gauss–Seidel (diverges
//! faster), shift 1.0, W-cycles, Galerkin coarse operators `R A P` instead of rediscretisation
//! (tried, 231 vs 206 outer iterations with 5 inner ones; not kept), a weaker PML in the
//! preconditioner (strength 1–2: GMRES worse, 1500 iterations not enough). Stationary
//! repetitions of the V-cycle (3 per block) made GMRES worse (residual 5e-5 after 1500
//! iterations). GMRES around the V-cycle copes with the few amplified modes.
//!
//! With exact inverses of the shifted blocks (a direct solve on the coarsest level) the outer
//! count is 100 (16³, ν = 0.4999) and 121 (24³); for ν = 0.3 31 (16³). The shift hardly
//! matters there (β = 0, 0.2, 0.5: 100, 101, 100 at 16³), nor do other block choices (the
//! vector Laplacian `G*Δ` as `F̂`: 117; with `c = 1` in the Schur approximation: 197): the
//! remaining outer count is that of the block structure for ν → ½.
//!
//! Measured (the problem of `bench_navier_3d_iterative` with a PML of 8 voxels, ν = 0.4999,
//! one thread on a busy 2-core machine, times noisy by ±30 %):
//!
//! | grid | before: GMRES(60), 1 V-cycle | FGMRES(30), 5 inner | FGMRES(30), 8 inner | 12 inner |
//! |------|------------------------------|---------------------|---------------------|----------|
//! | 16³  | 100 (exact blocks)           |                     |                     |          |
//! | 24³  | 1333 iterations, 36 s        | 206, 20 s           | 168, 13.5 s         |          |
//! | 32³  | no convergence in 3000       |                     | 321, 90 s, 0.33 GB  | 301, 134 s |
//!
//! 48³ and 64³ were not measured (out of time); the outer count grows with the grid (168 → 321
//! from 24³ to 32³), so the target (64³ in 60 s) is NOT met by this solver: at 64³ a
//! preconditioner application costs about 8 V-cycles of 4 grids of 64³ and several hundred
//! are needed. The direct solver: 16³ 3.9 s and 0.6 GB, 24³ 50 s and 4 GB, hence
//! [`AUTO_NAVIER_DIRECT_MAX_VOXELS_3D`] (unchanged).
//!
//! **Without absorbing faces** (measured boundary values on the outer layer, the forward
//! problem of an inversion; clamped and traction-free faces, a rigid enclosure) the V-cycles
//! converge, and one V-cycle per block (a fixed linear preconditioner) with the shift 0.3 and
//! IDR(4) ([`KrylovMethod::Idrs`]) is fastest ([`NavierIterative::default_options_for`],
//! [`DEFAULT_NAVIER_INNER_ITERATIONS_WITHOUT_PML`]); it was GMRES(60) before. Measured on the
//! bench problem with the displacement of a plane shear wave prescribed on the
//! outer layer instead of the PML (`bench_navier_3d_iterative_with`, `BenchBoundary::Measured`,
//! ν = 0.4999994, idle machine):
//!
//! | grid, threads | 8 inner, FGMRES(30), shift 0.5 | 1 V-cycle, GMRES(30), 0.5 | 1 V-cycle, GMRES(60), 0.3 |
//! |---------------|--------------------------------|---------------------------|---------------------------|
//! | 24³, 2        | 70 iterations, 4.3 s           | 113, 2.0 s                |                           |
//! | 32³, 2        | 191, 32.6 s                    | 225, 10.3 s               | 146, 5.9 s                |
//! | 48³, 1        |                                |                           | 357, 68.6 s, 0.73 GB      |
//! | 64³, 1        |                                |                           | 384, 204 s, 1.78 GB       |
//!
//! The Krylov method around the same preconditioner (1 V-cycle per block, shift 0.3; one thread,
//! idle machine, the same day; "iterations" are operator and preconditioner applications;
//! peak resident memory of the process):
//!
//! | grid | GMRES(60)                | BiCGStab                  | IDR(4) (default)         |
//! |------|--------------------------|---------------------------|--------------------------|
//! | 32³  | 146, 7.0–8.5 s           | 180, 6.4–9.0 s            | 131, 6.4 s               |
//! | 48³  | 357, 50.5 s              | 396, 42.7 s               | 269, 30.2 s, 0.52 GB     |
//! | 64³  | 384, 204 s (earlier day) | 476, 115 s, 1.22 GB       | 309, 86.3 s, 1.22 GB     |
//!
//! IDR(s) (van Gijzen & Sonneveld 2011) needs fewer applications than restarted GMRES and
//! stores 16 vectors instead of 61, so the orthogonalisation against up to 60 vectors (about
//! 30 % of a GMRES iteration at 48³) is gone. At 64³ it is 86 s: the 60 s is still
//! missed, by 1.4×. At 16³ (the agreement test with the LU) IDR(4) and GMRES(60) both reach
//! a relative residual of 1e-13.
//!
//! (32³ with ν = 0.3: 94 iterations. GMRES(100): 137 iterations, about as fast as GMRES(60)
//! with 60 % more memory; shift 1.0: 224; a coarsest level of 1000 or 300 unknowns instead of
//! 5000: 260 or 719 — the coarse levels of the wave operator need the direct solve.) The count
//! grows with the number of wavelengths in the domain (2 mm voxels: 1.5 at 24³, 4 at 64³), as
//! for any shifted-Laplacian preconditioner. A brain-sized
//! container (40³ × 3 mm, K = 2.2 GPa, a sphere of 6 kPa in 2.5 kPa, drive along x on z-low, 2
//! threads): the four side faces clamped and the top traction-free (`configs/brain-3d.toml`)
//! 341–390 iterations, 24–26 s; every face traction-free 436, 29 s. **A sealed box** (the five
//! other faces clamped) converged only with the sphere on the drive's symmetry plane (268
//! iterations, 15 s): moved off it by 4 voxels, GMRES(60) stagnates at a relative residual of
//! 1.2e-7 (3000 iterations), GMRES(120) converges in 616 (57 s), and with ν = 0.4999 instead of
//! 0.4999994 GMRES(60) converges in 747. A rank-one correction of the constant pressure at
//! each restart did not help (the slow mode is not the constant pressure alone). **IDR(4)**
//! (the default since) converges on that sealed box: `configs/brain-3d.toml` with the top
//! clamped too simulates with ~19 s from start to the Bloch kernel on 2 threads (the config
//! itself ~18 s, 24–26 s with GMRES(60)). Should a sealed box still stall, the error names the
//! sealed case and what to change.
//!
//! The tolerance applies to the residual of the linear system relative to its right-hand side.
//! Matrix–vector products (compressed rows; the matrix is complex symmetric so its columns are
//! its rows), vector updates and the V-cycles run on the rayon pool; every reduction (dot
//! products, norms) sums fixed-size blocks in a fixed order, so results are bit-identical for
//! any thread count.
//!
//! Adjoint solves use `K⁻ᴴ y = conj(K⁻¹ conj(y))` (`K` complex symmetric), the same operator
//! and preconditioner.

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::Array3;
use num_complex::Complex64;
use rayon::prelude::*;

use super::super::iterative::{IterativeOptions, KrylovMethod, SolveStats, SolverChoice};
use super::super::krylov::{self, CHUNK};
use super::super::multigrid::{Multigrid, MultigridParams};
use super::super::pml::Stretch;
use super::super::stencil::{harmonic_mean, Pattern, Stencil};
use super::super::{check_field, Dirichlet, FaceCondition, Medium, ScalarProblem, Scheme};
use super::{assemble, fixed_unknowns, for_each_pos, system_matrix, Layout, NavierFields, NavierSolver, VectorProblem, AXIS};
use crate::error::{Result, SolverError};
use crate::model::phantom::Grid;

const ZERO: Complex64 = Complex64::new(0.0, 0.0);

/// Inner GMRES iterations per viscoelastic block in [`NavierIterative::with_options`] for
/// problems with absorbing faces (see the module documentation for the measurements that chose it).
pub const DEFAULT_NAVIER_INNER_ITERATIONS: usize = 8;

/// Inner iterations per viscoelastic block for problems without absorbing faces: one V-cycle,
/// plain GMRES outside (see the module documentation).
pub const DEFAULT_NAVIER_INNER_ITERATIONS_WITHOUT_PML: usize = 1;

/// Whether `p` has an absorbing face on an axis of more than one voxel.
fn has_absorbing_face(p: &VectorProblem) -> bool {
    p.medium.grid.shape.iter().zip(&p.boundary.faces).any(|(&n, f)| n > 1 && f.contains(&FaceCondition::Absorbing))
}

/// Whether `p`'s domain is sealed: no traction-free face (clamped, absorbing with the clamped
/// face behind the layer, or a traction-free face whose whole voxel layer is prescribed). With
/// nearly incompressible tissue the pressure of a sealed box is fixed only by the bulk
/// modulus, and restarted GMRES can stagnate (module docs).
fn is_sealed(p: &VectorProblem) -> bool {
    let shape = p.medium.grid.shape;
    (0..3).all(|a| {
        shape[a] == 1
            || (0..2).all(|side| {
                p.boundary.faces[a][side] != FaceCondition::Free
                    || p.dirichlet.as_ref().is_some_and(|d| {
                        let layer = if side == 0 { 0 } else { shape[a] - 1 };
                        d.mask.index_axis(ndarray::Axis(a), layer).iter().all(|&m| m)
                    })
            })
    })
}

/// 3-D grids up to this many voxels (16³) are solved by the sparse LU in
/// [`NavierWaveSolver::with_choice`] with [`SolverChoice::Auto`]; larger 3-D grids iteratively.
/// 2-D (and 1-D) grids are always solved directly by `Auto`.
pub const AUTO_NAVIER_DIRECT_MAX_VOXELS_3D: usize = 16 * 16 * 16;

impl SolverChoice {
    /// Whether this choice means the iterative Navier solver ([`NavierIterative`]) on `grid`:
    /// `Auto` is iterative for 3-D grids above [`AUTO_NAVIER_DIRECT_MAX_VOXELS_3D`] voxels.
    pub fn is_iterative_navier(self, grid: &Grid) -> bool {
        match self {
            Self::Auto => grid.shape.iter().all(|&n| n > 1) && grid.len() > AUTO_NAVIER_DIRECT_MAX_VOXELS_3D,
            Self::Direct => false,
            Self::Iterative => true,
        }
    }
}

/// A symmetric sparse matrix in compressed rows with 32-bit column indices.
#[derive(Debug)]
struct Csr {
    row_ptr: Vec<usize>,
    col: Vec<u32>,
    val: Vec<Complex64>,
}

impl Csr {
    /// `y = M x`, rows in parallel (each row summed in a fixed order).
    fn matvec(&self, x: &[Complex64], y: &mut [Complex64]) {
        y.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ys)| {
            for (k, yi) in ys.iter_mut().enumerate() {
                let i = c * CHUNK + k;
                let mut s = ZERO;
                for e in self.row_ptr[i]..self.row_ptr[i + 1] {
                    s += self.val[e] * x[self.col[e] as usize];
                }
                *yi = s;
            }
        });
    }
}

/// The entries `K_ij` of the full operator with `i` free and `j` fixed, by fixed unknown `j`:
/// what prescribed values contribute to the free rows' right-hand side.
#[derive(Debug)]
struct Coupling {
    /// Per unknown `j`, its entries `ptr[j]..ptr[j + 1]` (none for free unknowns).
    ptr: Vec<usize>,
    row: Vec<u32>,
    val: Vec<Complex64>,
}

impl Coupling {
    /// `−K g` on the free rows (0 on the fixed ones) for prescribed values `g` (entries at free
    /// unknowns ignored): the columns in ascending order, as the full product would sum them.
    fn lift(&self, g: &[Complex64]) -> Vec<Complex64> {
        let mut y = vec![ZERO; g.len()];
        for (j, &gj) in g.iter().enumerate() {
            if gj == ZERO {
                continue;
            }
            for e in self.ptr[j]..self.ptr[j + 1] {
                y[self.row[e] as usize] -= self.val[e] * gj;
            }
        }
        y
    }
}

/// The [`Coupling`] of the fixed unknowns of the full operator (`full`, compressed columns, with
/// `values`).
fn fixed_coupling(full: &Pattern, values: &[Complex64], fixed: &[bool]) -> Coupling {
    let mut c = Coupling { ptr: vec![0], row: Vec::new(), val: Vec::new() };
    for (j, &fj) in fixed.iter().enumerate() {
        if fj {
            let range = full.col_ptr[j]..full.col_ptr[j + 1];
            for (&i, &v) in full.row_idx[range.clone()].iter().zip(&values[range]) {
                if !fixed[i] {
                    c.row.push(u32::try_from(i).expect("fewer than 2³² unknowns"));
                    c.val.push(v);
                }
            }
        }
        c.ptr.push(c.row.len());
    }
    c
}

/// Iterative solver of a [`VectorProblem`]: the same discretisation and linear system as
/// [`NavierSolver`], solved by block-preconditioned GMRES (see the module documentation).
///
/// Options are those of the scalar [`super::super::IterativeSolver`] ([`IterativeOptions`]):
/// tolerance, iteration limit, restart, Krylov method, and the multigrid parameters of the
/// viscoelastic block.
pub struct NavierIterative {
    grid: Grid,
    omega: f64,
    layout: Layout,
    /// The system matrix (identity at fixed unknowns), complex symmetric.
    matrix: Csr,
    /// `Bᵀ`: per displacement unknown, its couplings with the (scaled) pressures.
    bt: Csr,
    fixed: Vec<bool>,
    fixed_values: Vec<Complex64>,
    /// `−K g` on the free unknowns (`g` the fixed values): the prescribed data's contribution
    /// to the right-hand side; empty when every fixed value is zero.
    lift: Vec<Complex64>,
    /// The couplings of the fixed unknowns with the free ones (other prescribed values).
    coupling: Coupling,
    /// Source weight `V S` per displacement unknown.
    weight: Vec<Complex64>,
    pressure_scale: f64,
    /// One scalar V-cycle per displacement component.
    mg: Vec<Multigrid>,
    /// `1/V`: the V-cycles invert the operator per unit volume.
    inv_volume: f64,
    /// Schur complement approximation (see [`PressureBlock`]).
    schur: PressureBlock,
    options: IterativeOptions,
    /// Inner GMRES iterations per viscoelastic block (≤ 1: one V-cycle, plain GMRES outside).
    inner: usize,
    /// [`is_sealed`]: named in the error when GMRES does not converge.
    sealed: bool,
    last_iterations: AtomicUsize,
}

impl std::fmt::Debug for NavierIterative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NavierIterative")
            .field("grid", &self.grid)
            .field("unknowns", &self.len())
            .field("options", &self.options)
            .field("levels", &self.levels())
            .finish_non_exhaustive()
    }
}

/// `Ŝ⁻¹ r = D K_M⁻¹ K_c r` on the pressure grid (see the module documentation): `K_M` the
/// scalar operator with the compressional modulus `M = λ + cG*` (one shifted-Laplacian
/// V-cycle), `K_c` the scalar operator with `cG*` (a stencil product), `D = λ/(V S p_s²)`.
struct PressureBlock {
    mg: Multigrid,
    stencil: Stencil,
    /// `D` per voxel, 0 at fixed pressures.
    scale: Vec<Complex64>,
    fixed: Vec<bool>,
}

impl PressureBlock {
    fn apply(&self, r: &[Complex64]) -> Result<Vec<Complex64>> {
        let mut t = vec![ZERO; r.len()];
        self.stencil.apply(r, &mut t);
        for (t, &f) in t.iter_mut().zip(&self.fixed) {
            if f {
                *t = ZERO;
            }
        }
        let mut q = self.mg.apply(&t)?;
        for (q, d) in q.iter_mut().zip(&self.scale) {
            *q *= d;
        }
        Ok(q)
    }
}

/// Factor `c` of the shear modulus in the approximations: 1 for the vector Laplacian.
const SHEAR_FACTOR: f64 = 2.0;

/// The scalar problem approximating the block of `u_a`: its face array as a voxel grid.
fn component_medium(p: &VectorProblem, lay: &Layout, a: usize) -> Medium {
    let m = p.medium;
    let g = m.complex_modulus();
    let c = lay.comp[a];
    let sh = (c[0], c[1], c[2]);
    let mut gs = Array3::<f64>::zeros(sh);
    let mut gl = Array3::<f64>::zeros(sh);
    let mut rho = Array3::<f64>::zeros(sh);
    for_each_pos(c, |pos| {
        let (lo, hi) = lay.face_voxels(a, pos);
        let (gf, rf) = match hi {
            Some(hi) => (harmonic_mean(g[lo], g[hi]), 0.5 * (m.density_kg_m3[lo] + m.density_kg_m3[hi])),
            None => (g[lo], m.density_kg_m3[lo]),
        };
        gs[pos] = gf.re;
        gl[pos] = gf.im.max(0.0);
        rho[pos] = rf;
    });
    let mut h = m.grid.voxel_size_m;
    if lay.active[a] {
        h[a] /= std::f64::consts::SQRT_2;
    }
    let grid = Grid { shape: c, voxel_size_m: h };
    Medium { grid, storage_modulus_pa: gs, loss_modulus_pa: gl, density_kg_m3: rho }
}

/// The pressure block of the preconditioner for `p` (`fixed`: the fixed pressures).
fn pressure_block(p: &VectorProblem, lay: &Layout, fixed: &[bool], ps: f64, params: MultigridParams) -> Result<PressureBlock> {
    let m = p.medium;
    let g = m.complex_modulus();
    let lambda = ndarray::Zip::from(&g).and(&p.bulk_modulus_pa.to_array(&m.grid)).map_collect(|&g, &k| k - g * (2.0 / 3.0));
    let modulus = |f: &dyn Fn(Complex64, Complex64) -> Complex64| {
        let v = ndarray::Zip::from(&g).and(&lambda).map_collect(|&g, &l| f(g, l));
        Medium { storage_modulus_pa: v.mapv(|v| v.re), loss_modulus_pa: v.mapv(|v| v.im.max(0.0)), ..m.clone() }
    };
    let compressional = modulus(&|g, l| l + g * SHEAR_FACTOR);
    let shear = modulus(&|g, _| g * SHEAR_FACTOR);
    // Pressure boundary conditions: zero normal gradient where the normal displacement is
    // clamped, p = 0 beyond a traction-free face.
    let mut boundary = p.boundary.clone();
    for f in boundary.faces.iter_mut().flatten() {
        *f = match *f {
            FaceCondition::Fixed => FaceCondition::Free,
            FaceCondition::Free => FaceCondition::Fixed,
            FaceCondition::Absorbing => FaceCondition::Free,
        };
    }
    let sh = (lay.shape[0], lay.shape[1], lay.shape[2]);
    let mask = Array3::from_shape_vec(sh, fixed.to_vec()).expect("length matches the grid");
    let dirichlet = mask.iter().any(|&m| m).then(|| Dirichlet { values: mask.mapv(|_| ZERO), mask });
    let w = p.omega_rad_per_s;
    let problem =
        ScalarProblem { medium: &compressional, omega_rad_per_s: w, boundary: boundary.clone(), dirichlet, scheme: Scheme::Standard };
    let mg = Multigrid::new(&problem, params)?;
    let stencil = Stencil::assemble(&shear, Complex64::new(w * w, 0.0), &boundary, Scheme::Standard);
    let h = m.grid.voxel_size_m;
    let vol = h[0] * h[1] * h[2];
    let st = Stretch::new(lay.shape, &p.boundary);
    let mut scale = vec![ZERO; fixed.len()];
    for_each_pos(lay.shape, |idx| {
        let v = lay.voxel(idx);
        if !fixed[v] {
            scale[v] = lambda[idx] / (st.volume(idx) * (vol * ps * ps));
        }
    });
    Ok(PressureBlock { mg, stencil, scale, fixed: fixed.to_vec() })
}

impl NavierIterative {
    /// Assemble `p` and build its preconditioner with the options and inner iteration count
    /// chosen for its boundary ([`NavierIterative::default_options_for`],
    /// [`NavierIterative::default_inner_iterations_for`]).
    pub fn new(p: &VectorProblem) -> Result<Self> {
        Self::with_options(p, Self::default_options_for(p))
    }

    /// The default options of the Navier solver for problems with absorbing faces: those of the
    /// scalar solver ([`IterativeOptions::default`]) with (flexible) GMRES restarted every 30
    /// iterations (61 stored vectors of 4 unknowns per voxel) and at most 3000 iterations.
    pub fn default_options() -> IterativeOptions {
        IterativeOptions { restart: 30, max_iterations: 3000, ..IterativeOptions::default() }
    }

    /// The default options for `p`: with an absorbing face, [`NavierIterative::default_options`];
    /// without (clamped, traction-free and prescribed faces: measured boundary values, a rigid
    /// enclosure) IDR(4) ([`KrylovMethod::Idrs`], 16 stored vectors) with the preconditioner's
    /// shift `β = 0.3` (see the module documentation for the measurements).
    pub fn default_options_for(p: &VectorProblem) -> IterativeOptions {
        if has_absorbing_face(p) {
            Self::default_options()
        } else {
            IterativeOptions { method: KrylovMethod::Idrs, shift: 0.3, ..Self::default_options() }
        }
    }

    /// Inner GMRES iterations per viscoelastic block for `p`: [`DEFAULT_NAVIER_INNER_ITERATIONS`]
    /// with an absorbing face (the V-cycle of a block with a PML is not a convergent iteration),
    /// [`DEFAULT_NAVIER_INNER_ITERATIONS_WITHOUT_PML`] without.
    pub fn default_inner_iterations_for(p: &VectorProblem) -> usize {
        if has_absorbing_face(p) {
            DEFAULT_NAVIER_INNER_ITERATIONS
        } else {
            DEFAULT_NAVIER_INNER_ITERATIONS_WITHOUT_PML
        }
    }

    /// Assemble `p` and build its preconditioner with `options` ([`KrylovMethod::Gmres`] only)
    /// and [`NavierIterative::default_inner_iterations_for`] inner iterations per viscoelastic block.
    pub fn with_options(p: &VectorProblem, options: IterativeOptions) -> Result<Self> {
        Self::with_inner_iterations(p, options, Self::default_inner_iterations_for(p))
    }

    /// [`NavierIterative::with_options`] with `inner` GMRES iterations (each preconditioned by
    /// one V-cycle) per viscoelastic block and preconditioner application; `inner ≤ 1` means
    /// one V-cycle per block and plain (non-flexible) GMRES outside, the solver before this change.
    pub fn with_inner_iterations(p: &VectorProblem, options: IterativeOptions, inner: usize) -> Result<Self> {
        p.validate()?;
        options.validate()?;
        if options.method != KrylovMethod::Gmres && inner > 1 {
            return Err(SolverError::invalid(
                "method",
                format!("{:?} with {inner} inner iterations", options.method),
                "Gmres (flexible) when the preconditioner runs inner iterations, which make it non-linear",
            ));
        }
        let asm = assemble(p);
        let lay = asm.layout.clone();
        let (fixed, fixed_values) = fixed_unknowns(&asm, &p.boundary, p.dirichlet.as_ref());
        let coupling = fixed_coupling(&asm.full, &asm.full_values, &fixed);
        let lift = if fixed_values.iter().any(|v| *v != ZERO) { coupling.lift(&fixed_values) } else { Vec::new() };
        let (pattern, values) = system_matrix(&asm, &fixed);
        let np = lay.offset[3];
        // Bᵀ: the pressure columns of the displacement rows.
        let mut bt_ptr = vec![0usize];
        let (mut bt_col, mut bt_val) = (Vec::new(), Vec::new());
        for j in 0..lay.len {
            let range = pattern.col_ptr[j]..pattern.col_ptr[j + 1];
            for (&i, &v) in pattern.row_idx[range.clone()].iter().zip(&values[range]) {
                if j < np && i >= np {
                    bt_col.push(u32::try_from(i - np).expect("fewer than 2³² voxels"));
                    bt_val.push(v);
                }
            }
            if j < np {
                bt_ptr.push(bt_col.len());
            }
        }
        let bt = Csr { row_ptr: bt_ptr, col: bt_col, val: bt_val };
        let col = pattern
            .row_idx
            .iter()
            .map(|&i| u32::try_from(i).map_err(|_| SolverError::invalid("Navier unknowns", lay.len, "fewer than 2³² unknowns")))
            .collect::<Result<Vec<u32>>>()?;
        let matrix = Csr { row_ptr: pattern.col_ptr, col, val: values };
        let weight = asm.weight;
        let ps = asm.pressure_scale;
        drop(asm.full);
        drop(asm.full_values);

        let h = p.medium.grid.voxel_size_m;
        let vol = h[0] * h[1] * h[2];
        let params = MultigridParams {
            shift: options.shift,
            sweeps: options.smoothing_sweeps,
            smoother: options.smoother,
            jacobi_weight: options.jacobi_weight,
            prolongation: options.prolongation,
            coarsest_unknowns: options.coarsest_unknowns,
            pml_strength: options.preconditioner_pml_strength,
        };
        let mg = (0..3)
            .into_par_iter()
            .map(|a| {
                let medium = component_medium(p, &lay, a);
                let c = lay.comp[a];
                let mask = Array3::from_shape_vec((c[0], c[1], c[2]), fixed[lay.offset[a]..lay.offset[a + 1]].to_vec())
                    .expect("length matches the face array");
                let dirichlet = mask.iter().any(|&m| m).then(|| Dirichlet { values: mask.mapv(|_| ZERO), mask });
                let problem = ScalarProblem {
                    medium: &medium,
                    omega_rad_per_s: p.omega_rad_per_s,
                    boundary: p.boundary.clone(),
                    dirichlet,
                    scheme: Scheme::Standard,
                };
                Multigrid::new(&problem, params)
            })
            .collect::<Result<Vec<Multigrid>>>()?;
        let schur = pressure_block(p, &lay, &fixed[np..], ps, params)?;
        Ok(Self {
            grid: p.medium.grid.clone(),
            omega: p.omega_rad_per_s,
            layout: lay,
            matrix,
            bt,
            fixed,
            fixed_values,
            lift,
            coupling,
            weight,
            pressure_scale: ps,
            mg,
            inv_volume: 1.0 / vol,
            schur,
            options,
            inner,
            sealed: is_sealed(p),
            last_iterations: AtomicUsize::new(0),
        })
    }

    /// Number of unknowns (displacement faces and pressures, prescribed ones included).
    pub fn len(&self) -> usize {
        self.layout.len
    }

    /// Never true (a grid has at least one voxel).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The options.
    pub fn options(&self) -> &IterativeOptions {
        &self.options
    }

    /// Grid shapes of the multigrid hierarchies of `u_z`, `u_y`, `u_x`, fine to coarsest.
    pub fn levels(&self) -> Vec<Vec<[usize; 3]>> {
        self.mg.iter().map(Multigrid::shapes).collect()
    }

    /// GMRES iterations of the most recent solve (forward or adjoint) of this solver.
    pub fn last_iterations(&self) -> usize {
        self.last_iterations.load(Ordering::Relaxed)
    }

    fn check_vector(&self, name: &str, f: &[Array3<Complex64>; 3]) -> Result<()> {
        for (a, fa) in f.iter().enumerate() {
            check_field(&format!("{name}[{a}] ({} component)", AXIS[a]), fa, &self.grid)?;
        }
        Ok(())
    }

    /// Solve with the force density `force` (`[f_z, f_y, f_x]` at voxel centres, N/m³), as
    /// [`NavierSolver::solve`]: the displacement `[u_z, u_y, u_x]` at voxel centres, m.
    pub fn solve(&self, force: &[Array3<Complex64>; 3]) -> Result<[Array3<Complex64>; 3]> {
        Ok(self.solve_fields(force)?.centres())
    }

    /// Solve with the force density `force` as [`NavierSolver::solve_fields`]: displacement on
    /// the faces and pressure.
    pub fn solve_fields(&self, force: &[Array3<Complex64>; 3]) -> Result<NavierFields> {
        self.solve_fields_with_stats(force).map(|(f, _)| f)
    }

    /// [`NavierIterative::solve_fields`], with the iteration count and final residual.
    pub fn solve_fields_with_stats(&self, force: &[Array3<Complex64>; 3]) -> Result<(NavierFields, SolveStats)> {
        self.check_vector("force", force)?;
        let lay = &self.layout;
        let mut b = vec![ZERO; lay.len];
        for (a, fa) in force.iter().enumerate() {
            for_each_pos(lay.comp[a], |pos| {
                let (lo, hi) = lay.face_voxels(a, pos);
                let f = match hi {
                    Some(hi) => 0.5 * (fa[lo] + fa[hi]),
                    None => fa[lo],
                };
                let i = lay.u(a, pos);
                b[i] = if self.fixed[i] { ZERO } else { self.weight[i] * f };
            });
        }
        if !self.lift.is_empty() {
            b.par_iter_mut().zip(&self.lift).for_each(|(b, l)| *b += l);
        }
        let (mut x, stats) = self.solve_free(&b)?;
        for (i, x) in x.iter_mut().enumerate() {
            if self.fixed[i] {
                *x = self.fixed_values[i];
            }
        }
        Ok((self.fields(&x), stats))
    }

    /// The adjoint solve of [`NavierSolver::solve_adjoint`] (same definition: `⟨λ, f⟩ =
    /// ⟨rhs, A⁻¹ f⟩` for every force `f`, zero Dirichlet values), to the tolerance.
    pub fn solve_adjoint(&self, rhs: &[Array3<Complex64>; 3]) -> Result<[Array3<Complex64>; 3]> {
        self.solve_adjoint_with_stats(rhs).map(|(l, _)| l)
    }

    /// [`NavierIterative::solve_adjoint`], with the iteration count and final residual.
    pub fn solve_adjoint_with_stats(&self, rhs: &[Array3<Complex64>; 3]) -> Result<([Array3<Complex64>; 3], SolveStats)> {
        self.check_vector("adjoint right-hand side", rhs)?;
        let lay = &self.layout;
        let y = lay.centre_transpose(rhs);
        // K⁻ᴴ y on the free unknowns = conj(K_FF⁻¹ conj(y_F)); the fixed rows are dropped below.
        let b: Vec<Complex64> = y.iter().zip(&self.fixed).map(|(v, &f)| if f { ZERO } else { v.conj() }).collect();
        let (x, stats) = self.solve_free(&b)?;
        let sh = (lay.shape[0], lay.shape[1], lay.shape[2]);
        let mut out = [Array3::zeros(sh), Array3::zeros(sh), Array3::zeros(sh)];
        for (a, o) in out.iter_mut().enumerate() {
            for_each_pos(lay.comp[a], |pos| {
                let i = lay.u(a, pos);
                if self.fixed[i] {
                    return;
                }
                let z = self.weight[i].conj() * x[i].conj();
                match lay.face_voxels(a, pos) {
                    (lo, Some(hi)) => {
                        o[lo] += 0.5 * z;
                        o[hi] += 0.5 * z;
                    }
                    (lo, None) => o[lo] += z,
                }
            });
        }
        Ok((out, stats))
    }

    /// Shapes of the face arrays `u_z`, `u_y`, `u_x` (see [`NavierFields::faces`]).
    pub fn face_shapes(&self) -> [[usize; 3]; 3] {
        self.layout.comp
    }

    /// [`NavierSolver::solve_fields_with_face_values`] to the tolerance: other prescribed values
    /// `faces` on the same prescribed faces (the problem's Dirichlet values are replaced), the
    /// same preconditioner.
    pub fn solve_fields_with_face_values(&self, force: &[Array3<Complex64>; 3], faces: &[Array3<Complex64>; 3]) -> Result<NavierFields> {
        self.check_vector("force", force)?;
        let lay = &self.layout;
        let g = super::prescribed_face_values(lay, &self.fixed, faces, true)?;
        let mut b = self.coupling.lift(&g);
        for (a, fa) in force.iter().enumerate() {
            for_each_pos(lay.comp[a], |pos| {
                let i = lay.u(a, pos);
                if !self.fixed[i] {
                    let f = match lay.face_voxels(a, pos) {
                        (lo, Some(hi)) => 0.5 * (fa[lo] + fa[hi]),
                        (lo, None) => fa[lo],
                    };
                    b[i] += self.weight[i] * f;
                }
            });
        }
        let (mut x, _) = self.solve_free(&b)?;
        for (i, x) in x.iter_mut().enumerate() {
            if self.fixed[i] {
                *x = g[i];
            }
        }
        Ok(self.fields(&x))
    }

    /// [`NavierSolver::solve_operator_rhs`] to the tolerance: `K z = r` with zero prescribed
    /// values, `r` in the units of a [`super::NavierOperator`] with pressures in units of
    /// `pressure_scale` Pa (rows of prescribed unknowns ignored).
    pub fn solve_operator_rhs(&self, r: &[Complex64], pressure_scale: f64) -> Result<NavierFields> {
        let b = super::operator_rhs(&self.layout, &self.fixed, r, pressure_scale, self.pressure_scale)?;
        let (x, _) = self.solve_free(&b)?;
        Ok(self.fields(&self.zero_fixed(x)))
    }

    /// [`NavierSolver::solve_adjoint_fields`] to the tolerance: `μ = K⁻ᴴ Cᵀ rhs` on every face
    /// and pressure (0 on prescribed unknowns), as `conj(K⁻¹ conj(Cᵀ rhs))` (`K` complex
    /// symmetric).
    pub fn solve_adjoint_fields(&self, rhs: &[Array3<Complex64>; 3]) -> Result<NavierFields> {
        self.check_vector("adjoint right-hand side", rhs)?;
        let y = self.layout.centre_transpose(rhs);
        let b: Vec<Complex64> = y.iter().zip(&self.fixed).map(|(v, &f)| if f { ZERO } else { v.conj() }).collect();
        let (mut x, _) = self.solve_free(&b)?;
        x.iter_mut().for_each(|v| *v = v.conj());
        Ok(self.fields(&self.zero_fixed(x)))
    }

    /// [`NavierSolver::modulus_sensitivity`] for this solver's operator (`p` the problem it was
    /// built for).
    pub fn modulus_sensitivity(&self, p: &VectorProblem, u: &NavierFields, w: &NavierFields) -> Result<Array3<Complex64>> {
        super::modulus_sensitivity(&self.layout, self.pressure_scale, p, u, w)
    }

    /// `x` with exact zeros at the fixed unknowns.
    fn zero_fixed(&self, mut x: Vec<Complex64>) -> Vec<Complex64> {
        x.iter_mut().zip(&self.fixed).filter(|(_, &f)| f).for_each(|(v, _)| *v = ZERO);
        x
    }

    fn fields(&self, x: &[Complex64]) -> NavierFields {
        let lay = &self.layout;
        let faces = [0, 1, 2].map(|a| {
            let c = lay.comp[a];
            let v = x[lay.offset[a]..lay.offset[a + 1]].to_vec();
            Array3::from_shape_vec((c[0], c[1], c[2]), v).expect("length matches the face array")
        });
        let s = lay.shape;
        let p = x[lay.offset[3]..].iter().map(|q| q * self.pressure_scale).collect();
        NavierFields { faces, pressure_pa: Array3::from_shape_vec((s[0], s[1], s[2]), p).expect("length matches the grid") }
    }

    /// `P⁻¹ r` (zero at fixed unknowns, as `r` must be).
    fn precondition(&self, r: &[Complex64]) -> Result<Vec<Complex64>> {
        let lay = &self.layout;
        let np = lay.offset[3];
        let q = self.schur.apply(&r[np..])?;
        // t = r_u − Bᵀ q.
        let mut t = vec![ZERO; np];
        self.bt.matvec(&q, &mut t);
        t.par_iter_mut().zip(&r[..np]).for_each(|(t, r)| *t = r - *t);
        let parts = (0..3)
            .into_par_iter()
            .map(|a| self.mg[a].solve_inner(&t[lay.offset[a]..lay.offset[a + 1]], self.inner))
            .collect::<Result<Vec<Vec<Complex64>>>>()?;
        let mut z = Vec::with_capacity(lay.len);
        for p in parts {
            z.extend(p.into_iter().map(|v| v * self.inv_volume));
        }
        z.extend(q);
        z.par_iter_mut().zip(&self.fixed).for_each(|(z, &f)| {
            if f {
                *z = ZERO;
            }
        });
        Ok(z)
    }

    /// Solve `K_FF x = b` (`b` zero at fixed unknowns) from `x = 0`.
    fn solve_free(&self, b: &[Complex64]) -> Result<(Vec<Complex64>, SolveStats)> {
        let op = |x: &[Complex64], y: &mut [Complex64]| self.matrix.matvec(x, y);
        let (x, stats) = krylov::solve(op, |r| self.precondition(r), b, &self.options, self.inner > 1)?;
        self.last_iterations.store(stats.iterations, Ordering::Relaxed);
        if stats.relative_residual <= self.options.tolerance {
            Ok((x, stats))
        } else {
            let s = self.grid.shape;
            let hint = if self.sealed {
                "; the domain is sealed (no traction-free face): with nearly incompressible tissue its pressure is fixed \
                 only by the bulk modulus and GMRES may stagnate — make one face traction-free (e.g. the open top of a \
                 container), or use GMRES with a larger restart (IterativeOptions method and restart)"
            } else {
                " (a lossless medium without absorbing faces near a resonance converges slowly)"
            };
            Err(SolverError::NotConverged(format!(
                "Navier {:?} on {}×{}×{} voxels ({} unknowns) at {:.4} Hz reached a relative residual of {:.2e} after {} \
                 iterations (tolerance {:.1e}); raise max_iterations, loosen the tolerance, or use the direct NavierSolver \
                 on a smaller grid{hint}",
                self.options.method,
                s[0],
                s[1],
                s[2],
                self.len(),
                self.omega / (2.0 * std::f64::consts::PI),
                stats.relative_residual,
                stats.iterations,
                self.options.tolerance
            )))
        }
    }
}

/// A Navier solver of either kind, with the common interface.
// Both variants are large, long-lived objects (one per problem): no point boxing either.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum NavierWaveSolver {
    /// Sparse LU ([`NavierSolver`]).
    Direct(NavierSolver),
    /// Block-preconditioned GMRES ([`NavierIterative`]).
    Iterative(NavierIterative),
}

impl NavierWaveSolver {
    /// The solver `choice` says for `p`'s grid ([`SolverChoice::is_iterative_navier`]): the
    /// iterative one (default options), or the sparse LU factorised on `direct_threads` threads
    /// (0 = the current rayon pool, 1 = sequential).
    pub fn with_choice(p: &VectorProblem, choice: SolverChoice, direct_threads: usize) -> Result<Self> {
        if choice.is_iterative_navier(&p.medium.grid) {
            NavierIterative::new(p).map(Self::Iterative)
        } else {
            NavierSolver::with_threads(p, direct_threads).map(Self::Direct)
        }
    }

    /// Solve with the force density `force` (see [`NavierSolver::solve`]).
    pub fn solve(&self, force: &[Array3<Complex64>; 3]) -> Result<[Array3<Complex64>; 3]> {
        match self {
            Self::Direct(s) => s.solve(force),
            Self::Iterative(s) => s.solve(force),
        }
    }

    /// Solve with the force density `force` (see [`NavierSolver::solve_fields`]).
    pub fn solve_fields(&self, force: &[Array3<Complex64>; 3]) -> Result<NavierFields> {
        match self {
            Self::Direct(s) => s.solve_fields(force),
            Self::Iterative(s) => s.solve_fields(force),
        }
    }

    /// The adjoint solve (see [`NavierSolver::solve_adjoint`]).
    pub fn solve_adjoint(&self, rhs: &[Array3<Complex64>; 3]) -> Result<[Array3<Complex64>; 3]> {
        match self {
            Self::Direct(s) => s.solve_adjoint(rhs),
            Self::Iterative(s) => s.solve_adjoint(rhs),
        }
    }

    /// Shapes of the face arrays (see [`NavierSolver::face_shapes`]).
    pub fn face_shapes(&self) -> [[usize; 3]; 3] {
        match self {
            Self::Direct(s) => s.face_shapes(),
            Self::Iterative(s) => s.face_shapes(),
        }
    }

    /// Solve with other prescribed face values (see [`NavierSolver::solve_fields_with_face_values`]).
    pub fn solve_fields_with_face_values(&self, force: &[Array3<Complex64>; 3], faces: &[Array3<Complex64>; 3]) -> Result<NavierFields> {
        match self {
            Self::Direct(s) => s.solve_fields_with_face_values(force, faces),
            Self::Iterative(s) => s.solve_fields_with_face_values(force, faces),
        }
    }

    /// Solve `K z = r` with zero prescribed values (see [`NavierSolver::solve_operator_rhs`]).
    pub fn solve_operator_rhs(&self, r: &[Complex64], pressure_scale: f64) -> Result<NavierFields> {
        match self {
            Self::Direct(s) => s.solve_operator_rhs(r, pressure_scale),
            Self::Iterative(s) => s.solve_operator_rhs(r, pressure_scale),
        }
    }

    /// The adjoint unknowns on every face and pressure (see [`NavierSolver::solve_adjoint_fields`]).
    pub fn solve_adjoint_fields(&self, rhs: &[Array3<Complex64>; 3]) -> Result<NavierFields> {
        match self {
            Self::Direct(s) => s.solve_adjoint_fields(rhs),
            Self::Iterative(s) => s.solve_adjoint_fields(rhs),
        }
    }

    /// `c_v = wᵀ (∂K/∂G*_v) u` per voxel (see [`NavierSolver::modulus_sensitivity`]).
    pub fn modulus_sensitivity(&self, p: &VectorProblem, u: &NavierFields, w: &NavierFields) -> Result<Array3<Complex64>> {
        match self {
            Self::Direct(s) => s.modulus_sensitivity(p, u, w),
            Self::Iterative(s) => s.modulus_sensitivity(p, u, w),
        }
    }

    /// Number of unknowns.
    pub fn len(&self) -> usize {
        match self {
            Self::Direct(s) => s.len(),
            Self::Iterative(s) => s.len(),
        }
    }

    /// Never true.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        match self {
            Self::Direct(s) => s.grid(),
            Self::Iterative(s) => s.grid(),
        }
    }
}
