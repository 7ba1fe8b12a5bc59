//! Sparse LU factorisation (faer) of the wave operator, forward and adjoint solves.

use std::sync::Arc;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::sparse::linalg::lu::{factorize_symbolic_lu, LuRef, NumericLu, SymbolicLu};
use faer::sparse::linalg::LuError;
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};
use ndarray::Array3;
use num_complex::Complex64;
use rayon::prelude::*;

use super::stencil::{Pattern, Stencil};
use super::{check_field, ScalarProblem};
use crate::error::{Result, SolverError};
use crate::model::phantom::Grid;

/// Relative error of the factorisation check solve above which the system is called singular.
const SINGULAR_CHECK_TOLERANCE: f64 = 1e-6;

/// Symbolic analysis (fill-reducing ordering, elimination structure) of one sparsity pattern.
#[derive(Debug)]
struct Symbolic {
    pattern: Pattern,
    lu: SymbolicLu<usize>,
}

impl Symbolic {
    fn new(pattern: Pattern) -> Result<Arc<Self>> {
        let n = pattern.nrows;
        let sym = SymbolicSparseColMatRef::new_checked(n, n, &pattern.col_ptr, None, &pattern.row_idx);
        let lu = factorize_symbolic_lu(sym, Default::default())
            .map_err(|e| SolverError::invalid("wave operator", format!("symbolic LU analysis failed ({e:?})"), "a factorisable sparse system"))?;
        Ok(Arc::new(Self { pattern, lu }))
    }
}

/// Assembled and LU-factorised operator, reusable for many right-hand sides and adjoint solves.
///
/// The linear map it represents is `A`: at free voxels row `i` is the discrete
/// `∇·(G*∇u) + ρω²u` (in the PML, the stretched operator divided by
/// `S = s_z s_y s_x`), at Dirichlet voxels it is the identity `u_i`. Internally
/// the complex-symmetric matrix `K` (the operator multiplied by `S`, Dirichlet
/// couplings moved to the right-hand side) is factorised once with faer's
/// sparse LU (COLAMD ordering, supernodal partial pivoting).
#[derive(Debug)]
pub struct ScalarSolver {
    grid: Grid,
    stencil: Stencil,
    /// Dirichlet mask and values, flattened in C order.
    dirichlet: Option<(Vec<bool>, Vec<Complex64>)>,
    symbolic: Arc<Symbolic>,
    numeric: NumericLu<usize, Complex64>,
    par: Par,
}

/// faer parallelism for `threads` (0 = the current rayon pool, 1 = sequential).
fn parallelism(threads: usize) -> Par {
    if threads == 1 {
        Par::Seq
    } else {
        Par::rayon(threads)
    }
}

impl ScalarSolver {
    /// Assemble and factorise `p` (factorisation parallel over the current rayon pool).
    pub fn new(p: &ScalarProblem) -> Result<Self> {
        Self::with_threads(p, 0)
    }

    /// Like [`ScalarSolver::new`] with `threads` threads for the factorisation and the solves
    /// (0 = every thread of the current rayon pool, 1 = sequential).
    pub fn with_threads(p: &ScalarProblem, threads: usize) -> Result<Self> {
        Self::build(p, parallelism(threads), None)
    }

    fn build(p: &ScalarProblem, par: Par, symbolic: Option<&Arc<Symbolic>>) -> Result<Self> {
        p.validate()?;
        let stencil = Stencil::assemble(p.medium, p.omega_rad_per_s, &p.boundary);
        let dirichlet = p.dirichlet.as_ref().map(|d| (d.mask.iter().copied().collect::<Vec<bool>>(), d.values.iter().copied().collect()));
        let (pattern, values) = stencil.matrix(dirichlet.as_ref().map(|(m, _)| m.as_slice()));
        let symbolic = match symbolic {
            Some(s) if s.pattern == pattern => Arc::clone(s),
            _ => Symbolic::new(pattern)?,
        };
        let numeric = factorise(&symbolic, &values, par)?;
        let solver = Self { grid: p.medium.grid.clone(), stencil, dirichlet, symbolic, numeric, par };
        solver.check_factorisation(&values)?;
        Ok(solver)
    }

    /// Reassemble and refactorise for a changed problem on the same grid (other ω, moduli,
    /// boundary or Dirichlet data), reusing the symbolic analysis when the sparsity pattern
    /// is unchanged (it changes only with the grid and the Dirichlet mask).
    pub fn refactor(&mut self, p: &ScalarProblem) -> Result<()> {
        *self = Self::build(p, self.par, Some(&self.symbolic))?;
        Ok(())
    }

    /// Whether two solvers share one symbolic analysis (e.g. after [`ScalarSolver::refactor`]).
    pub fn shares_symbolic(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.symbolic, &other.symbolic)
    }

    /// Number of unknowns (voxels).
    pub fn len(&self) -> usize {
        self.stencil.len()
    }

    /// Never true (a grid has at least one voxel).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    fn is_fixed(&self, i: usize) -> bool {
        self.dirichlet.as_ref().is_some_and(|(m, _)| m[i])
    }

    /// Solve `K x = b` (or `Kᴴ x = b` when `adjoint`) in place with the factorisation.
    pub(crate) fn lu_solve_in_place(&self, b: &mut [Complex64], adjoint: bool) {
        let n = self.len();
        let lu = LuRef::new_unchecked(&self.symbolic.lu, &self.numeric);
        let req = self.symbolic.lu.solve_in_place_scratch::<Complex64>(1, self.par);
        let mut mem = MemBuffer::new(req);
        let stack = MemStack::new(&mut mem);
        let rhs = MatMut::from_column_major_slice_mut(b, n, 1);
        if adjoint {
            lu.solve_transpose_in_place_with_conj(Conj::Yes, rhs, self.par, stack);
        } else {
            lu.solve_in_place_with_conj(Conj::No, rhs, self.par, stack);
        }
    }

    /// Solve `K x = K x₀` for a fixed pseudo-random `x₀` and compare: a (numerically)
    /// singular system gives a large error or non-finite values.
    fn check_factorisation(&self, values: &[Complex64]) -> Result<()> {
        let x0: Vec<Complex64> = (0..self.len())
            .map(|i| {
                let t = i as f64;
                Complex64::new((0.7 * t + 0.3).sin() + 1.5, (1.3 * t + 0.1).cos())
            })
            .collect();
        let mut x = self.symbolic.pattern.matvec(values, &x0);
        self.lu_solve_in_place(&mut x, false);
        let (num, den) = x.iter().zip(&x0).fold((0.0, 0.0), |(n, d), (a, b)| (n + (a - b).norm_sqr(), d + b.norm_sqr()));
        let err = (num / den).sqrt();
        if err.is_finite() && err <= SINGULAR_CHECK_TOLERANCE {
            Ok(())
        } else {
            Err(singular(format!("the check solve has relative error {err:.1e}")))
        }
    }

    /// Solve `A u = f`: `source` is the source density `f` (same units as the operator times m);
    /// at Dirichlet voxels `u` takes the prescribed values and `source` is ignored.
    pub fn solve(&self, source: &Array3<Complex64>) -> Result<Array3<Complex64>> {
        check_field("source", source, &self.grid)?;
        let mut b: Vec<Complex64> = source.iter().zip(&self.stencil.scale).map(|(f, s)| f * s).collect();
        if let Some((mask, g)) = &self.dirichlet {
            let ug: Vec<Complex64> = mask.iter().zip(g).map(|(&m, &v)| if m { v } else { Complex64::new(0.0, 0.0) }).collect();
            let mut coupling = vec![Complex64::new(0.0, 0.0); self.len()];
            self.stencil.apply(&ug, &mut coupling);
            for (i, bi) in b.iter_mut().enumerate() {
                *bi = if mask[i] { g[i] } else { *bi - coupling[i] };
            }
        }
        self.lu_solve_in_place(&mut b, false);
        Ok(self.to_array(b))
    }

    /// Solve `Aᴴ λ = rhs` with the same factorisation (`A` as in [`ScalarSolver::apply`],
    /// Dirichlet rows included): `⟨λ, A u⟩ = ⟨rhs, u⟩` for every `u`, with `⟨a, b⟩ = Σ conj(a) b`.
    pub fn solve_adjoint(&self, rhs: &Array3<Complex64>) -> Result<Array3<Complex64>> {
        check_field("adjoint right-hand side", rhs, &self.grid)?;
        let r: Vec<Complex64> = rhs.iter().copied().collect();
        // A = S⁻¹ K on free rows: Aᴴ restricted to free voxels is Kᴴ conj(S)⁻¹, so
        // μ = K⁻ᴴ r_F and λ_F = conj(S) μ; λ_D = r_D − K_FDᴴ μ.
        let mut mu: Vec<Complex64> = (0..self.len()).map(|i| if self.is_fixed(i) { Complex64::new(0.0, 0.0) } else { r[i] }).collect();
        self.lu_solve_in_place(&mut mu, true);
        let mut lambda: Vec<Complex64> = mu.iter().zip(&self.stencil.scale).map(|(m, s)| m * s.conj()).collect();
        if let Some((mask, _)) = &self.dirichlet {
            let conj_mu: Vec<Complex64> = mu.iter().enumerate().map(|(i, m)| if mask[i] { Complex64::new(0.0, 0.0) } else { m.conj() }).collect();
            let mut k_mu = vec![Complex64::new(0.0, 0.0); self.len()];
            self.stencil.apply(&conj_mu, &mut k_mu);
            for i in (0..self.len()).filter(|&i| mask[i]) {
                lambda[i] = r[i] - k_mu[i].conj();
            }
        }
        Ok(self.to_array(lambda))
    }

    /// `A u`: the discrete operator at free voxels, `u` itself at Dirichlet voxels
    /// (so `solve(apply(u)) = u` when the Dirichlet values equal `u` there).
    ///
    /// # Panics
    /// If `u` does not have the grid's shape.
    pub fn apply(&self, u: &Array3<Complex64>) -> Array3<Complex64> {
        assert_eq!(u.shape(), self.grid.shape, "field shape does not match the grid");
        let x: Vec<Complex64> = u.iter().copied().collect();
        let mut y = vec![Complex64::new(0.0, 0.0); self.len()];
        self.stencil.apply(&x, &mut y);
        for (i, (yi, s)) in y.iter_mut().zip(&self.stencil.scale).enumerate() {
            *yi = if self.is_fixed(i) { x[i] } else { *yi / s };
        }
        self.to_array(y)
    }

    pub(crate) fn stencil(&self) -> &Stencil {
        &self.stencil
    }

    pub(crate) fn dirichlet_mask(&self) -> Option<&[bool]> {
        self.dirichlet.as_ref().map(|(m, _)| m.as_slice())
    }

    pub(crate) fn to_array(&self, v: Vec<Complex64>) -> Array3<Complex64> {
        let s = self.grid.shape;
        Array3::from_shape_vec((s[0], s[1], s[2]), v).expect("length matches the grid")
    }
}

fn singular(detail: String) -> SolverError {
    SolverError::invalid(
        "wave operator",
        format!("singular: LU factorisation failed, {detail}"),
        "a non-singular system (ω must not be a resonance of a lossless medium without absorbing or \
         fixed faces: add loss G'' > 0, a Fixed/Absorbing face or a Dirichlet region, or change ω)",
    )
}

/// Numeric LU of the matrix with `values` on the pattern of `symbolic`.
fn factorise(symbolic: &Symbolic, values: &[Complex64], par: Par) -> Result<NumericLu<usize, Complex64>> {
    let p = &symbolic.pattern;
    let sym = SymbolicSparseColMatRef::new_checked(p.nrows, p.nrows, &p.col_ptr, None, &p.row_idx);
    let mat = SparseColMatRef::new(sym, values);
    let mut numeric = NumericLu::new();
    let req = symbolic.lu.factorize_numeric_lu_scratch::<Complex64>(par, Default::default());
    let mut mem = MemBuffer::try_new(req).map_err(|_| SolverError::invalid("wave operator", "too large", "a system whose LU workspace fits in memory"))?;
    let stack = MemStack::new(&mut mem);
    match symbolic.lu.factorize_numeric_lu(&mut numeric, mat, par, stack, Default::default()) {
        Ok(_) => Ok(numeric),
        Err(LuError::SymbolicSingular { index }) => Err(singular(format!("no pivot in column {index}"))),
        Err(LuError::Generic(e)) => Err(singular(format!("{e:?}"))),
    }
}

/// Solve several problems on the same grid in parallel (rayon over problems, e.g. frequencies;
/// each factorisation runs sequentially), sharing the symbolic analysis between problems with
/// the same sparsity pattern. `sources[i]` is the source density of `problems[i]`.
pub fn solve_frequencies(problems: &[ScalarProblem<'_>], sources: &[Array3<Complex64>]) -> Result<Vec<Array3<Complex64>>> {
    if problems.len() != sources.len() {
        return Err(SolverError::Shape(format!("{} problems but {} sources", problems.len(), sources.len())));
    }
    let Some(first) = problems.first() else { return Ok(Vec::new()) };
    first.validate()?;
    let stencil = Stencil::assemble(first.medium, first.omega_rad_per_s, &first.boundary);
    let mask: Option<Vec<bool>> = first.dirichlet.as_ref().map(|d| d.mask.iter().copied().collect());
    let symbolic = Symbolic::new(stencil.matrix(mask.as_deref()).0)?;
    problems.par_iter().zip(sources).map(|(p, f)| ScalarSolver::build(p, Par::Seq, Some(&symbolic))?.solve(f)).collect()
}
