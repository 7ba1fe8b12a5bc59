//! Restarted, right-preconditioned GMRES and its vector kernels, shared by the scalar
//! ([`super::IterativeSolver`]) and Navier ([`super::NavierIterative`]) iterative solvers and by
//! the inner iteration of the multigrid ([`super::multigrid::Multigrid::solve_inner`]).
//!
//! GMRES (Saad & Schultz 1986) with modified Gram–Schmidt and complex Givens rotations; the
//! flexible variant (FGMRES, Saad 1993) stores the preconditioned vectors, which a preconditioner
//! that is not a fixed linear map (an inner Krylov iteration) needs. Every reduction (dot
//! products, norms) sums fixed blocks of [`CHUNK`] entries in a fixed order, and the blocks run
//! on the rayon pool: results are bit-identical for any thread count.

use num_complex::Complex64;
use rayon::prelude::*;

use super::iterative::SolveStats;
use crate::error::Result;

const ZERO: Complex64 = Complex64::new(0.0, 0.0);

/// Block length of the deterministic parallel reductions and vector updates.
pub(crate) const CHUNK: usize = 4096;

/// How [`gmres`] runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Gmres {
    /// Krylov vectors per cycle before a restart.
    pub restart: usize,
    /// Largest total number of iterations (operator applications inside the cycles).
    pub max_iterations: usize,
    /// Stop when the residual is at most `tolerance · ‖b‖` (0: run `max_iterations`).
    pub tolerance: f64,
    /// Store the preconditioned vectors (FGMRES), for a preconditioner that is not linear;
    /// else one more preconditioner application per cycle maps `V y` to the update.
    pub flexible: bool,
    /// Compute the true residual `b − A x` after every cycle (else the Givens estimate is
    /// reported and no operator application is spent on it: an inner iteration of a fixed
    /// number of steps).
    pub true_residual: bool,
}

/// Solve `op x = b` from `x = 0` by restarted right-preconditioned (F)GMRES; returns the
/// iterate and the relative residual reached, converged or not (the caller decides).
pub(crate) fn gmres(
    op: impl Fn(&[Complex64], &mut [Complex64]),
    precondition: impl Fn(&[Complex64]) -> Result<Vec<Complex64>>,
    b: &[Complex64],
    opts: &Gmres,
) -> Result<(Vec<Complex64>, SolveStats)> {
    let n = b.len();
    let bnorm = norm(b);
    let mut x = vec![ZERO; n];
    if bnorm == 0.0 {
        return Ok((x, SolveStats { iterations: 0, preconditioner_applications: 0, relative_residual: 0.0 }));
    }
    let m = opts.restart.max(1);
    let tol = opts.tolerance * bnorm;
    let mut r = b.to_vec();
    let mut w = vec![ZERO; n];
    let mut beta = bnorm;
    let (mut iterations, mut precs) = (0, 0);
    while beta > tol && iterations < opts.max_iterations {
        let mut v: Vec<Vec<Complex64>> = vec![scaled(&r, 1.0 / beta)];
        let mut h: Vec<Vec<Complex64>> = Vec::with_capacity(m);
        let mut rot: Vec<(f64, Complex64)> = Vec::with_capacity(m);
        let mut g = vec![Complex64::new(beta, 0.0)];
        let mut zs: Vec<Vec<Complex64>> = Vec::new();
        while h.len() < m && iterations < opts.max_iterations {
            let j = h.len();
            let z = precondition(&v[j])?;
            op(&z, &mut w);
            if opts.flexible {
                zs.push(z);
            }
            iterations += 1;
            precs += 1;
            let mut col = vec![ZERO; j + 2];
            for (i, vi) in v.iter().enumerate() {
                let hij = dot(vi, &w);
                axpy(-hij, vi, &mut w);
                col[i] = hij;
            }
            let hn = norm(&w);
            col[j + 1] = Complex64::new(hn, 0.0);
            for (i, &(c, s)) in rot.iter().enumerate() {
                let (a, bb) = (col[i], col[i + 1]);
                col[i] = c * a + s * bb;
                col[i + 1] = -s.conj() * a + c * bb;
            }
            let (c, s) = givens(col[j], col[j + 1]);
            col[j] = c * col[j] + s * col[j + 1];
            col[j + 1] = ZERO;
            let gj = g[j];
            g[j] = c * gj;
            g.push(-s.conj() * gj);
            rot.push((c, s));
            h.push(col);
            tracing::trace!(iteration = iterations, estimate = g[j + 1].norm() / bnorm, "GMRES");
            if g[j + 1].norm() <= tol || hn == 0.0 {
                break;
            }
            v.push(scaled(&w, 1.0 / hn));
        }
        // y = H⁻¹ g (upper triangular), x += P⁻¹ V y.
        let k = h.len();
        let mut y = vec![ZERO; k];
        for i in (0..k).rev() {
            let mut s = g[i];
            for (jj, yj) in y.iter().enumerate().skip(i + 1) {
                s -= h[jj][i] * yj;
            }
            y[i] = s / h[i][i];
        }
        if opts.flexible {
            drop(v);
            for (zi, yi) in zs.iter().zip(&y) {
                axpy(*yi, zi, &mut x);
            }
        } else {
            let mut vy = vec![ZERO; n];
            for (vi, yi) in v.iter().zip(&y) {
                axpy(*yi, vi, &mut vy);
            }
            drop(v);
            let dx = precondition(&vy)?;
            precs += 1;
            axpy(Complex64::new(1.0, 0.0), &dx, &mut x);
        }
        if opts.true_residual {
            op(&x, &mut w);
            r.par_iter_mut().zip(b).zip(&w).for_each(|((r, b), w)| *r = b - w);
            beta = norm(&r);
        } else {
            beta = g[k].norm();
            break;
        }
    }
    Ok((x, SolveStats { iterations, preconditioner_applications: precs, relative_residual: beta / bnorm }))
}

/// Complex Givens rotation `(c, s)` with `c a + s b = r`, `−conj(s) a + c b = 0`.
pub(crate) fn givens(a: Complex64, b: Complex64) -> (f64, Complex64) {
    let (na, nb) = (a.norm(), b.norm());
    if nb == 0.0 {
        return (1.0, ZERO);
    }
    if na == 0.0 {
        return (0.0, b.conj() / nb);
    }
    let t = na.hypot(nb);
    (na / t, (a / na) * b.conj() / t)
}

/// `⟨a, b⟩ = Σ conj(a) b`: blocks of [`CHUNK`] in parallel, the block sums added in order.
pub(crate) fn dot(a: &[Complex64], b: &[Complex64]) -> Complex64 {
    let parts: Vec<Complex64> =
        a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)).map(|(a, b)| a.iter().zip(b).fold(ZERO, |s, (a, b)| s + a.conj() * b)).collect();
    parts.iter().fold(ZERO, |s, p| s + p)
}

/// Euclidean norm, deterministic like [`dot`].
pub(crate) fn norm(a: &[Complex64]) -> f64 {
    let parts: Vec<f64> = a.par_chunks(CHUNK).map(|a| a.iter().map(|v| v.norm_sqr()).sum::<f64>()).collect();
    parts.iter().sum::<f64>().sqrt()
}

/// `y += a x`.
pub(crate) fn axpy(a: Complex64, x: &[Complex64], y: &mut [Complex64]) {
    y.par_iter_mut().with_min_len(CHUNK).zip(x).for_each(|(y, x)| *y += a * x);
}

/// `s x`.
fn scaled(x: &[Complex64], s: f64) -> Vec<Complex64> {
    x.par_iter().with_min_len(CHUNK).map(|x| x * s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-normal, complex test operator: `(A x)_i = (2 + i·0.1 i) x_i + 0.5 x_{i+1}`.
    fn op(x: &[Complex64], y: &mut [Complex64]) {
        for i in 0..x.len() {
            let d = Complex64::new(2.0, 0.1 * i as f64 / x.len() as f64);
            y[i] = d * x[i] + if i + 1 < x.len() { 0.5 * x[i + 1] } else { ZERO };
        }
    }

    /// Plain and flexible GMRES, restarted, solve a small bidiagonal system to the tolerance,
    /// and the reported residual is the true one; a zero right-hand side gives zero at once.
    #[test]
    fn gmres_solves_to_the_tolerance() {
        let n = 200;
        let b: Vec<Complex64> = (0..n).map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos())).collect();
        for flexible in [false, true] {
            let opts = Gmres { restart: 7, max_iterations: 500, tolerance: 1e-10, flexible, true_residual: true };
            let (x, stats) = gmres(op, |r| Ok(r.to_vec()), &b, &opts).unwrap();
            let mut ax = vec![ZERO; n];
            op(&x, &mut ax);
            let res = norm(&b.iter().zip(&ax).map(|(b, a)| b - a).collect::<Vec<_>>()) / norm(&b);
            assert!(res <= 1e-10, "flexible {flexible}: {res:e}");
            assert!((res - stats.relative_residual).abs() <= 1e-14, "{res:e} vs {:e}", stats.relative_residual);
            assert!(stats.iterations > 7, "restarted");
        }
        let opts = Gmres { restart: 7, max_iterations: 500, tolerance: 1e-10, flexible: false, true_residual: true };
        let (x, stats) = gmres(op, |r| Ok(r.to_vec()), &vec![ZERO; n], &opts).unwrap();
        assert!(x.iter().all(|v| *v == ZERO) && stats.iterations == 0);
    }

    /// Without the true residual, a fixed number of steps and the Givens estimate, which equals
    /// the true residual in exact arithmetic.
    #[test]
    fn fixed_steps_report_the_estimate() {
        let n = 100;
        let b: Vec<Complex64> = (0..n).map(|i| Complex64::new(1.0, i as f64 / n as f64)).collect();
        let opts = Gmres { restart: 4, max_iterations: 4, tolerance: 0.0, flexible: true, true_residual: false };
        let (x, stats) = gmres(op, |r| Ok(r.to_vec()), &b, &opts).unwrap();
        assert_eq!(stats.iterations, 4);
        let mut ax = vec![ZERO; n];
        op(&x, &mut ax);
        let res = norm(&b.iter().zip(&ax).map(|(b, a)| b - a).collect::<Vec<_>>()) / norm(&b);
        assert!((res - stats.relative_residual).abs() < 1e-12 && res < 0.1, "{res:e} vs {:e}", stats.relative_residual);
    }
}
