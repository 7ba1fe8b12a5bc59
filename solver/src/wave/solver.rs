//! Sparse LU factorisation (faer) of the wave operator, forward and adjoint solves.

use std::sync::Arc;

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::perm::PermRef;
use faer::sparse::linalg::lu::supernodal::{
    factorize_supernodal_numeric_lu, factorize_supernodal_numeric_lu_scratch, factorize_supernodal_symbolic_lu,
    factorize_supernodal_symbolic_lu_scratch, solve_in_place_scratch, SupernodalLu, SymbolicSupernodalLu,
};
use faer::sparse::linalg::qr::{col_etree, col_etree_scratch, column_counts_aat_scratch, column_counts_ata, postorder, postorder_scratch};
use faer::sparse::linalg::LuError;
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};
use ndarray::Array3;
use num_complex::Complex64;
use rayon::prelude::*;

use super::ordering::nested_dissection;
use super::stencil::{Pattern, Stencil};
use super::{check_field, ScalarProblem};
use crate::error::{Result, SolverError};
use crate::model::phantom::Grid;

/// Relative error of the factorisation check solve above which the system is called singular.
const SINGULAR_CHECK_TOLERANCE: f64 = 1e-6;

/// Symbolic analysis of one sparsity pattern: the fill-reducing column order (geometric nested
/// dissection) and the supernodal structure of the LU factors.
#[derive(Debug)]
pub(crate) struct Symbolic {
    pattern: Pattern,
    col_perm_fwd: Vec<usize>,
    col_perm_inv: Vec<usize>,
    lu: SymbolicSupernodalLu<usize>,
}

impl Symbolic {
    /// The sparsity pattern this analysis was made for.
    pub(crate) fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    fn new(pattern: Pattern, shape: [usize; 3], dirichlet: Option<&[bool]>) -> Result<Arc<Self>> {
        Self::with_order(pattern, nested_dissection(shape, dirichlet))
    }

    /// Symbolic analysis of a square matrix with a structurally symmetric `pattern` (CSC, sorted
    /// row indices), eliminating the columns in the order `col_perm_fwd` (a permutation:
    /// `col_perm_fwd[k]` is the k-th column eliminated) rearranged into a postorder of its
    /// column elimination tree (same fill, see `postordered`).
    pub(crate) fn with_order(pattern: Pattern, col_perm_fwd: Vec<usize>) -> Result<Arc<Self>> {
        let n = pattern.nrows;
        let a = SymbolicSparseColMatRef::new_checked(n, n, &pattern.col_ptr, None, &pattern.row_idx);
        // faer's supernodes are contiguous column ranges: without a postorder they fall apart.
        let col_perm_fwd = postordered(a, col_perm_fwd)?;
        let mut col_perm_inv = vec![0; n];
        for (k, &i) in col_perm_fwd.iter().enumerate() {
            col_perm_inv[i] = k;
        }
        let perm = PermRef::new_checked(&col_perm_fwd, &col_perm_inv, n);
        let req = StackReq::any_of(&[
            col_etree_scratch::<usize>(n, n),
            postorder_scratch::<usize>(n),
            column_counts_aat_scratch::<usize>(n, n),
            factorize_supernodal_symbolic_lu_scratch::<usize>(n, n),
        ]);
        let mut mem = MemBuffer::try_new(req).map_err(|_| out_of_memory())?;
        let stack = MemStack::new(&mut mem);
        let (mut etree, mut post, mut col_counts, mut min_col) = (vec![0; n], vec![0; n], vec![0; n], vec![0; n]);
        // The pattern is symmetric, so A doubles as Aᵀ.
        let etree = col_etree(a, Some(perm), &mut etree, stack);
        postorder(&mut post, etree, stack);
        column_counts_ata(&mut col_counts, &mut min_col, a, Some(perm), etree, &post, stack);
        let lu = factorize_supernodal_symbolic_lu(a, Some(perm), &min_col, etree, &col_counts, stack, Default::default()).map_err(|e| {
            SolverError::invalid("wave operator", format!("symbolic LU analysis failed ({e:?})"), "a factorisable sparse system")
        })?;
        Ok(Arc::new(Self { pattern, col_perm_fwd, col_perm_inv, lu }))
    }

    fn col_perm(&self) -> PermRef<'_, usize> {
        PermRef::new_checked(&self.col_perm_fwd, &self.col_perm_inv, self.pattern.nrows)
    }

    /// The column elimination tree (parent of each column, in elimination order) and the
    /// George–Ng column counts of the Cholesky factor of `AᵀA` (the bound faer's LU factors
    /// live in) under this symbolic analysis's column order.
    #[cfg(test)]
    pub(crate) fn etree_and_column_counts(&self) -> (Vec<Option<usize>>, Vec<usize>) {
        let n = self.pattern.nrows;
        let a = SymbolicSparseColMatRef::new_checked(n, n, &self.pattern.col_ptr, None, &self.pattern.row_idx);
        let req =
            StackReq::any_of(&[col_etree_scratch::<usize>(n, n), postorder_scratch::<usize>(n), column_counts_aat_scratch::<usize>(n, n)]);
        let mut mem = MemBuffer::new(req);
        let stack = MemStack::new(&mut mem);
        let (mut etree, mut post, mut counts, mut min_col) = (vec![0; n], vec![0; n], vec![0; n], vec![0; n]);
        let etree = col_etree(a, Some(self.col_perm()), &mut etree, stack);
        postorder(&mut post, etree, stack);
        column_counts_ata(&mut counts, &mut min_col, a, Some(self.col_perm()), etree, &post, stack);
        let parent = etree.into_inner().iter().map(|&p| usize::try_from(p).ok()).collect();
        (parent, counts)
    }
}

/// `order` (a column elimination order of `a`) rearranged into a postorder of the column
/// elimination tree of `a` (the elimination tree of `AᵀA`): the same fill and the same
/// factors, but every supernode a contiguous range of columns. faer's supernodal LU takes
/// supernodes as contiguous ranges of the given order and keeps the buffer of every
/// supernode's dense contribution block until the factorisation ends; an order that is not
/// a postorder (the 2-D Navier one: the decoupled anti-plane `u_z` forms its own tree,
/// interleaved voxel by voxel with the in-plane unknowns) splits the supernodes into single
/// columns, and those blocks then add up to ~15× the factors. The nested-dissection orders
/// of the scalar solver and of 3-D Navier are already postorders and stay unchanged.
fn postordered(a: SymbolicSparseColMatRef<'_, usize>, order: Vec<usize>) -> Result<Vec<usize>> {
    let n = a.ncols();
    let mut inv = vec![0; n];
    for (k, &i) in order.iter().enumerate() {
        inv[i] = k;
    }
    let perm = PermRef::new_checked(&order, &inv, n);
    let req = StackReq::any_of(&[col_etree_scratch::<usize>(n, n), postorder_scratch::<usize>(n)]);
    let mut mem = MemBuffer::try_new(req).map_err(|_| out_of_memory())?;
    let stack = MemStack::new(&mut mem);
    let (mut etree, mut post) = (vec![0; n], vec![0; n]);
    let etree = col_etree(a, Some(perm), &mut etree, stack);
    postorder(&mut post, etree, stack);
    Ok(post.iter().map(|&k| order[k]).collect())
}

/// Numeric LU factors and the row pivoting permutation.
#[derive(Debug)]
pub(crate) struct Numeric {
    lu: SupernodalLu<usize, Complex64>,
    row_perm_fwd: Vec<usize>,
    row_perm_inv: Vec<usize>,
}

impl Numeric {
    pub(crate) fn new() -> Self {
        Self { lu: SupernodalLu::new(), row_perm_fwd: Vec::new(), row_perm_inv: Vec::new() }
    }

    /// Number of supernodes of the factors.
    #[cfg(test)]
    pub(crate) fn n_supernodes(&self) -> usize {
        self.lu.n_supernodes()
    }
}

fn out_of_memory() -> SolverError {
    SolverError::invalid("wave operator", "too large", "a system whose LU factors fit in memory")
}

/// Assembled and LU-factorised operator, reusable for many right-hand sides and adjoint solves.
///
/// The linear map it represents is `A`: at free voxels row `i` is the discrete
/// `∇·(G*∇u) + ρω²u` (in the PML, the stretched operator divided by
/// `S = s_z s_y s_x`), at Dirichlet voxels it is the identity `u_i`. Internally
/// the complex-symmetric matrix `K` (the operator multiplied by `S`, Dirichlet
/// couplings moved to the right-hand side) is factorised once with faer's
/// supernodal sparse LU with partial pivoting, in a geometric nested-dissection
/// column order.
///
/// Cost, single-threaded, assembly + factorisation + one solve (benchmark problem, see
/// `bench_helmholtz_2d` (feature `bench`); busy 2-core machine): 2-D 256² 0.6 s and 0.3 GB
/// peak; 3-D 32³ 6 s and 1 GB, 40³ 31 s and 2.5 GB, 48³ 64 s and 5.5 GB; 64³ needs more
/// than 20 GB. 3-D cost grows like N² in time and N^1.4 in memory: above ~32³ use
/// [`crate::wave::IterativeSolver`] (64³ in ~20 s and 0.3 GB) or [`crate::wave::WaveSolver::auto`].
pub struct ScalarSolver {
    grid: Grid,
    stencil: Stencil,
    /// Dirichlet mask and values, flattened in C order.
    dirichlet: Option<(Vec<bool>, Vec<Complex64>)>,
    symbolic: Arc<Symbolic>,
    /// None after a failed [`ScalarSolver::refactor`].
    numeric: Option<Numeric>,
    par: Par,
}

impl std::fmt::Debug for ScalarSolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fixed = self.dirichlet.as_ref().map_or(0, |(m, _)| m.iter().filter(|&&b| b).count());
        f.debug_struct("ScalarSolver")
            .field("grid", &self.grid)
            .field("unknowns", &self.len())
            .field("dirichlet_voxels", &fixed)
            .field("supernodes", &self.numeric.as_ref().map(|n| n.lu.n_supernodes()))
            .field("par", &self.par)
            .finish_non_exhaustive()
    }
}

/// faer parallelism for `threads` (0 = the current rayon pool, 1 = sequential).
pub(crate) fn parallelism(threads: usize) -> Par {
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
        let (mut solver, values) = Self::assemble(p, par, symbolic)?;
        let mut numeric = Numeric::new();
        factorise(&solver.symbolic, &values, par, &mut numeric)?;
        solver.numeric = Some(numeric);
        solver.check_factorisation(&values)?;
        Ok(solver)
    }

    /// Validate and assemble `p`, with the symbolic analysis (shared with `symbolic` when the
    /// pattern matches); no numeric factorisation yet. Returns the matrix values too.
    fn assemble(p: &ScalarProblem, par: Par, symbolic: Option<&Arc<Symbolic>>) -> Result<(Self, Vec<Complex64>)> {
        p.validate()?;
        let stencil = Stencil::for_problem(p);
        let dirichlet = p.dirichlet.as_ref().map(|d| (d.mask.iter().copied().collect::<Vec<bool>>(), d.values.iter().copied().collect()));
        let (pattern, values) = stencil.matrix(dirichlet.as_ref().map(|(m, _)| m.as_slice()));
        let symbolic = match symbolic {
            Some(s) if s.pattern == pattern => Arc::clone(s),
            _ => Symbolic::new(pattern, stencil.shape, dirichlet.as_ref().map(|(m, _)| m.as_slice()))?,
        };
        Ok((Self { grid: p.medium.grid.clone(), stencil, dirichlet, symbolic, numeric: None, par }, values))
    }

    /// Reassemble and refactorise for a changed problem (other ω, moduli, boundary or
    /// Dirichlet values), reusing the symbolic analysis when the sparsity pattern is unchanged
    /// (it changes only with the grid and the Dirichlet mask) and the memory of the old
    /// factors (peak memory: one factorisation). If `p` is invalid nothing changes; if the
    /// new factorisation fails, the error is returned and the solver refuses to solve until
    /// a successful `refactor`.
    pub fn refactor(&mut self, p: &ScalarProblem) -> Result<()> {
        let (next, values) = Self::assemble(p, self.par, Some(&self.symbolic))?;
        let mut numeric = self.numeric.take().unwrap_or_else(Numeric::new);
        *self = next;
        factorise(&self.symbolic, &values, self.par, &mut numeric)?;
        self.numeric = Some(numeric);
        if let Err(e) = self.check_factorisation(&values) {
            self.numeric = None;
            return Err(e);
        }
        Ok(())
    }

    /// A new solver for `p` sharing this one's symbolic analysis when the sparsity pattern
    /// matches (see [`ScalarSolver::refactor`]); `self` stays usable, e.g. one solver per
    /// frequency or per inversion iterate.
    pub fn refactored(&self, p: &ScalarProblem) -> Result<Self> {
        Self::build(p, self.par, Some(&self.symbolic))
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
    pub(crate) fn lu_solve_in_place(&self, b: &mut [Complex64], adjoint: bool) -> Result<()> {
        lu_solve_in_place(&self.symbolic, self.numeric.as_ref(), self.par, b, adjoint)
    }

    fn check_factorisation(&self, values: &[Complex64]) -> Result<()> {
        check_factorisation(&self.symbolic, self.numeric.as_ref(), self.par, values)
    }

    /// Solve `A u = f`: `source` is the source density `f` (same units as the operator times m);
    /// at Dirichlet voxels `u` takes the prescribed values and `source` is ignored.
    pub fn solve(&self, source: &Array3<Complex64>) -> Result<Array3<Complex64>> {
        self.solve_with(source, self.dirichlet.as_ref().map(|(_, g)| g.as_slice()))
    }

    /// Like [`ScalarSolver::solve`] with other Dirichlet values (same Dirichlet voxels, same
    /// factorisation): e.g. one factorisation per frequency and one solve per measured
    /// displacement component, each with its own boundary data. Values at free voxels are
    /// ignored. Without a Dirichlet region this is [`ScalarSolver::solve`].
    pub fn solve_with_dirichlet_values(&self, source: &Array3<Complex64>, values: &Array3<Complex64>) -> Result<Array3<Complex64>> {
        check_field("Dirichlet values", values, &self.grid)?;
        let g: Vec<Complex64> = values.iter().copied().collect();
        self.solve_with(source, self.dirichlet.as_ref().map(|_| g.as_slice()))
    }

    fn solve_with(&self, source: &Array3<Complex64>, values: Option<&[Complex64]>) -> Result<Array3<Complex64>> {
        check_field("source", source, &self.grid)?;
        let mut b: Vec<Complex64> = source.iter().zip(&self.stencil.scale).map(|(f, s)| f * s).collect();
        if let (Some((mask, _)), Some(g)) = (&self.dirichlet, values) {
            let ug: Vec<Complex64> = mask.iter().zip(g).map(|(&m, &v)| if m { v } else { Complex64::new(0.0, 0.0) }).collect();
            let mut coupling = vec![Complex64::new(0.0, 0.0); self.len()];
            self.stencil.apply(&ug, &mut coupling);
            for (i, bi) in b.iter_mut().enumerate() {
                *bi = if mask[i] { g[i] } else { *bi - coupling[i] };
            }
        }
        self.lu_solve_in_place(&mut b, false)?;
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
        self.lu_solve_in_place(&mut mu, true)?;
        let mut lambda: Vec<Complex64> = mu.iter().zip(&self.stencil.scale).map(|(m, s)| m * s.conj()).collect();
        if let Some((mask, _)) = &self.dirichlet {
            let conj_mu: Vec<Complex64> =
                mu.iter().enumerate().map(|(i, m)| if mask[i] { Complex64::new(0.0, 0.0) } else { m.conj() }).collect();
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

/// Solve `K x = b` (or `Kᴴ x = b` when `adjoint`) in place with the factors `numeric` of the
/// matrix analysed by `symbolic` (`None`: not factorised, an error).
pub(crate) fn lu_solve_in_place(
    symbolic: &Symbolic,
    numeric: Option<&Numeric>,
    par: Par,
    b: &mut [Complex64],
    adjoint: bool,
) -> Result<()> {
    let n = symbolic.pattern.nrows;
    let Some(num) = numeric else {
        return Err(SolverError::invalid("wave solver", "not factorised", "a successful refactor before solving"));
    };
    let row_perm = PermRef::new_checked(&num.row_perm_fwd, &num.row_perm_inv, n);
    let col_perm = symbolic.col_perm();
    let mut mem = MemBuffer::new(solve_in_place_scratch::<usize, Complex64>(n, 1, par));
    let stack = MemStack::new(&mut mem);
    let rhs = MatMut::from_column_major_slice_mut(b, n, 1);
    if adjoint {
        num.lu.solve_transpose_in_place_with_conj(row_perm, col_perm, Conj::Yes, rhs, par, stack);
    } else {
        num.lu.solve_in_place_with_conj(row_perm, col_perm, Conj::No, rhs, par, stack);
    }
    Ok(())
}

/// Solve `K x = K x₀` for a fixed pseudo-random `x₀` and compare: a (numerically)
/// singular system gives a large error or non-finite values.
///
/// The forward error of a stable LU grows with the condition number, and a nearly
/// incompressible u–p system (bulk modulus 10⁶ × G') has a forward error of order 10⁻⁶ without
/// being singular. So when the first error is above the tolerance, one step of iterative
/// refinement decides: with a usable factorisation (condition number × ε < 1) the step cuts the
/// error by that factor, while at a resonance it cannot recover `x₀`'s component along the null
/// vector and the error stays.
pub(crate) fn check_factorisation(symbolic: &Symbolic, numeric: Option<&Numeric>, par: Par, values: &[Complex64]) -> Result<()> {
    let x0: Vec<Complex64> = (0..symbolic.pattern.nrows)
        .map(|i| {
            let t = i as f64;
            Complex64::new((0.7 * t + 0.3).sin() + 1.5, (1.3 * t + 0.1).cos())
        })
        .collect();
    let b = symbolic.pattern.matvec(values, &x0);
    let mut x = b.clone();
    lu_solve_in_place(symbolic, numeric, par, &mut x, false)?;
    let error = |x: &[Complex64]| {
        let (num, den) = x.iter().zip(&x0).fold((0.0, 0.0), |(n, d), (a, b)| (n + (a - b).norm_sqr(), d + b.norm_sqr()));
        (num / den).sqrt()
    };
    let first = error(&x);
    if first.is_finite() && first <= SINGULAR_CHECK_TOLERANCE {
        return Ok(());
    }
    if first.is_finite() {
        let kx = symbolic.pattern.matvec(values, &x);
        let mut d: Vec<Complex64> = b.iter().zip(&kx).map(|(b, k)| b - k).collect();
        lu_solve_in_place(symbolic, numeric, par, &mut d, false)?;
        x.iter_mut().zip(&d).for_each(|(x, d)| *x += d);
        let refined = error(&x);
        if refined.is_finite() && refined <= SINGULAR_CHECK_TOLERANCE {
            tracing::debug!(first, refined, "ill-conditioned wave operator: the check solve needed one refinement step");
            return Ok(());
        }
        return Err(singular(format!("the check solve has relative error {first:.1e}, {refined:.1e} after one refinement step")));
    }
    Err(singular(format!("the check solve has relative error {first:.1e}")))
}

fn singular(detail: String) -> SolverError {
    SolverError::Singular(format!(
        "the wave operator's LU factorisation failed ({detail}); ω must not be a resonance of a lossless medium \
         without absorbing or fixed faces: add loss G'' > 0, a Fixed/Absorbing face or a Dirichlet region, or change ω"
    ))
}

/// Numeric LU of the matrix with `values` on the pattern of `symbolic`, into `numeric`
/// (whose buffers are reused). The matrix must be complex symmetric (`A = Aᵀ`): it is passed
/// to faer as its own transpose.
pub(crate) fn factorise(symbolic: &Symbolic, values: &[Complex64], par: Par, numeric: &mut Numeric) -> Result<()> {
    let p = &symbolic.pattern;
    let n = p.nrows;
    let sym = SymbolicSparseColMatRef::new_checked(n, n, &p.col_ptr, None, &p.row_idx);
    // The matrix is symmetric, so it is its own transpose.
    let mat = SparseColMatRef::new(sym, values);
    numeric.row_perm_fwd.resize(n, 0);
    numeric.row_perm_inv.resize(n, 0);
    let req = factorize_supernodal_numeric_lu_scratch::<usize, Complex64>(&symbolic.lu, Default::default());
    let mut mem = MemBuffer::try_new(req).map_err(|_| out_of_memory())?;
    let stack = MemStack::new(&mut mem);
    let result = factorize_supernodal_numeric_lu(
        &mut numeric.row_perm_fwd,
        &mut numeric.row_perm_inv,
        &mut numeric.lu,
        mat,
        mat,
        symbolic.col_perm(),
        &symbolic.lu,
        par,
        stack,
        Default::default(),
    );
    match result {
        Ok(()) => Ok(()),
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
    let stencil = Stencil::for_problem(first);
    let mask: Option<Vec<bool>> = first.dirichlet.as_ref().map(|d| d.mask.iter().copied().collect());
    let symbolic = Symbolic::new(stencil.matrix(mask.as_deref()).0, stencil.shape, mask.as_deref())?;
    problems.par_iter().zip(sources).map(|(p, f)| ScalarSolver::build(p, Par::Seq, Some(&symbolic))?.solve(f)).collect()
}
