//! Restarted, right-preconditioned GMRES, BiCGStab and their vector kernels, shared by the scalar
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

use super::iterative::{IterativeOptions, KrylovMethod, SolveStats, IDRS_SHADOW_DIMENSION};
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

/// Solve `op x = b` from `x = 0` with the Krylov method, restart, tolerance and iteration limit
/// of `options` (`flexible`: the preconditioner is not a fixed linear map, which only
/// [`KrylovMethod::Gmres`] allows, as FGMRES); returns the iterate and the relative residual
/// reached, converged or not (the caller decides).
pub(crate) fn solve(
    op: impl Fn(&[Complex64], &mut [Complex64]),
    precondition: impl Fn(&[Complex64]) -> Result<Vec<Complex64>>,
    b: &[Complex64],
    options: &IterativeOptions,
    flexible: bool,
) -> Result<(Vec<Complex64>, SolveStats)> {
    let (tolerance, max_iterations) = (options.tolerance, options.max_iterations);
    match options.method {
        KrylovMethod::Gmres => {
            let opts = Gmres { restart: options.restart, max_iterations, tolerance, flexible, true_residual: true };
            gmres(op, precondition, b, &opts)
        }
        KrylovMethod::BiCgStab => {
            with_true_residual_restarts(&op, b, tolerance, max_iterations, |r, tol, max| bicgstab(&op, &precondition, r, tol, max))
        }
        KrylovMethod::Idrs => with_true_residual_restarts(&op, b, tolerance, max_iterations, |r, tol, max| {
            idrs(&op, &precondition, r, IDRS_SHADOW_DIMENSION, tol, max)
        }),
    }
}

/// Restarts of a short-recurrence method ([`bicgstab`], [`idrs`]) at most.
const MAX_TRUE_RESIDUAL_RESTARTS: usize = 8;

/// `method` (a short-recurrence Krylov method solving `op x = r` to `tol` in at most `max`
/// iterations) restarted from its iterate with the true residual while the recursively updated
/// residual it stopped at is below the tolerance and the true one is not (the residual gap of
/// BiCGStab and IDR(s): rounding in iterates much larger than the solution, e.g. the hydrostatic
/// pressure of a sealed, nearly incompressible box, measured 2.7e-8 for 1e-10 on a 40³ Navier
/// problem). Each restart solves for the correction `op d = b − op x` to the tolerance left, so
/// the gap is relative to an ever smaller residual; at most [`MAX_TRUE_RESIDUAL_RESTARTS`], and
/// none more once a restart no longer halves the residual (the rounding floor of the system).
fn with_true_residual_restarts(
    op: &impl Fn(&[Complex64], &mut [Complex64]),
    b: &[Complex64],
    tolerance: f64,
    max_iterations: usize,
    method: impl Fn(&[Complex64], f64, usize) -> Result<(Vec<Complex64>, SolveStats)>,
) -> Result<(Vec<Complex64>, SolveStats)> {
    let (mut x, mut stats) = method(b, tolerance, max_iterations)?;
    let bnorm = norm(b);
    let mut r = vec![ZERO; b.len()];
    for restart in 0..MAX_TRUE_RESIDUAL_RESTARTS {
        if stats.relative_residual <= tolerance || stats.iterations >= max_iterations || bnorm == 0.0 {
            break;
        }
        op(&x, &mut r);
        r.par_iter_mut().with_min_len(CHUNK).zip(b).for_each(|(r, b)| *r = b - *r);
        let rnorm = norm(&r);
        let (d, s) = method(&r, tolerance * bnorm / rnorm, max_iterations - stats.iterations)?;
        let mut next = x.clone();
        axpy(Complex64::new(1.0, 0.0), &d, &mut next);
        stats.iterations += s.iterations;
        stats.preconditioner_applications += s.preconditioner_applications;
        let reached = residual_norm(op, &next, b, &mut r) / bnorm;
        tracing::debug!(restart, iterations = stats.iterations, relative_residual = reached, "restart with the true residual");
        if reached >= 0.5 * stats.relative_residual {
            // The rounding floor of the system: a restart no longer halves the residual.
            if reached < stats.relative_residual {
                (x, stats.relative_residual) = (next, reached);
            }
            break;
        }
        (x, stats.relative_residual) = (next, reached);
    }
    Ok((x, stats))
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
        return Ok((x, SolveStats::default()));
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

/// Solve `op x = b` from `x = 0` by right-preconditioned BiCGStab (van der Vorst 1992): two
/// operator and two preconditioner applications per iteration and a fixed set of seven vectors,
/// for a preconditioner that is a fixed linear map. Stops when the residual is at most
/// `tolerance · ‖b‖` or after `max_iterations`; returns the true residual reached (the
/// recursively updated one can drift from it).
fn bicgstab(
    op: impl Fn(&[Complex64], &mut [Complex64]),
    precondition: impl Fn(&[Complex64]) -> Result<Vec<Complex64>>,
    b: &[Complex64],
    tolerance: f64,
    max_iterations: usize,
) -> Result<(Vec<Complex64>, SolveStats)> {
    let n = b.len();
    let bnorm = norm(b);
    let mut x = vec![ZERO; n];
    if bnorm == 0.0 {
        return Ok((x, SolveStats::default()));
    }
    let one = Complex64::new(1.0, 0.0);
    let tol = tolerance * bnorm;
    let mut r = b.to_vec();
    let r0 = b.to_vec();
    let (mut rho, mut alpha, mut omega) = (one, one, one);
    let mut v = vec![ZERO; n];
    let mut p = vec![ZERO; n];
    let mut t = vec![ZERO; n];
    let mut rnorm = bnorm;
    let (mut iterations, mut precs) = (0, 0);
    while rnorm > tol && iterations < max_iterations {
        iterations += 1;
        let rho_new = dot(&r0, &r);
        let beta = (rho_new / rho) * (alpha / omega);
        rho = rho_new;
        p.par_iter_mut().with_min_len(CHUNK).zip(&r).zip(&v).for_each(|((p, r), v)| *p = r + beta * (*p - omega * v));
        let ph = precondition(&p)?;
        precs += 1;
        op(&ph, &mut v);
        alpha = rho / dot(&r0, &v);
        axpy(-alpha, &v, &mut r); // r is now s
        axpy(alpha, &ph, &mut x);
        let snorm = norm(&r);
        tracing::trace!(iteration = iterations, estimate = snorm / bnorm, "BiCGStab");
        if snorm <= tol {
            break;
        }
        let sh = precondition(&r)?;
        precs += 1;
        op(&sh, &mut t);
        omega = dot(&t, &r) / dot(&t, &t);
        axpy(omega, &sh, &mut x);
        axpy(-omega, &t, &mut r);
        rnorm = norm(&r);
        if !rnorm.is_finite() || omega == ZERO {
            break;
        }
    }
    let relative_residual = residual_norm(&op, &x, b, &mut t) / bnorm;
    Ok((x, SolveStats { iterations, preconditioner_applications: precs, relative_residual }))
}

/// Solve `op x = b` from `x = 0` by right-preconditioned IDR(s) with bi-orthogonalisation
/// (van Gijzen & Sonneveld, ACM TOMS 38(1), 2011, Algorithm 2, with the "maintaining the
/// convergence" choice of ω, angle 0.7): one operator and one preconditioner application per
/// iteration and `3s + 4` vectors, for a preconditioner that is a fixed linear map. The shadow
/// space is `s` orthonormalised pseudo-random vectors from a fixed seed, so the iterates are the
/// same on every run and thread count. Stops when the residual is at most `tolerance · ‖b‖` or
/// after `max_iterations`; returns the true residual reached.
fn idrs(
    op: impl Fn(&[Complex64], &mut [Complex64]),
    precondition: impl Fn(&[Complex64]) -> Result<Vec<Complex64>>,
    b: &[Complex64],
    s: usize,
    tolerance: f64,
    max_iterations: usize,
) -> Result<(Vec<Complex64>, SolveStats)> {
    const ANGLE: f64 = 0.7;
    const SHADOW_SEED: u64 = 0x1d5;
    let n = b.len();
    let s = s.clamp(1, n.max(1));
    let bnorm = norm(b);
    let mut x = vec![ZERO; n];
    if bnorm == 0.0 {
        return Ok((x, SolveStats::default()));
    }
    let one = Complex64::new(1.0, 0.0);
    let tol = tolerance * bnorm;
    // Shadow space: s pseudo-random vectors (a fixed hash of index and column), orthonormalised.
    let mut shadow: Vec<Vec<Complex64>> = Vec::with_capacity(s);
    for j in 0..s {
        let mut p: Vec<Complex64> = (0..n)
            .into_par_iter()
            .with_min_len(CHUNK)
            .map(|i| {
                let u = |k: u64| crate::rng::uniform01(SHADOW_SEED, i as u64, 2 * j as u64 + k);
                Complex64::new(u(0) - 0.5, u(1) - 0.5)
            })
            .collect();
        for q in &shadow {
            let c = dot(q, &p);
            axpy(-c, q, &mut p);
        }
        let pn = norm(&p);
        p.par_iter_mut().with_min_len(CHUNK).for_each(|v| *v /= pn);
        shadow.push(p);
    }
    let mut g: Vec<Vec<Complex64>> = vec![vec![ZERO; n]; s];
    let mut u: Vec<Vec<Complex64>> = vec![vec![ZERO; n]; s];
    // m[i][k] = ⟨p_i, g_k⟩ (lower triangular); identity at the start.
    let mut m: Vec<Vec<Complex64>> = (0..s).map(|i| (0..s).map(|k| if i == k { one } else { ZERO }).collect()).collect();
    let mut r = b.to_vec();
    let mut rnorm = bnorm;
    let mut omega = one;
    let mut t = vec![ZERO; n];
    let mut iterations = 0;
    'outer: while rnorm > tol && iterations < max_iterations {
        let mut f: Vec<Complex64> = shadow.iter().map(|p| dot(p, &r)).collect();
        for k in 0..s {
            // Solve the lower triangular m[k..s][k..s] c = f[k..s].
            let mut c = vec![ZERO; s];
            for i in k..s {
                let mut v = f[i];
                for (j, cj) in c.iter().enumerate().take(i).skip(k) {
                    v -= m[i][j] * cj;
                }
                c[i] = v / m[i][i];
            }
            let mut v = r.clone();
            for i in k..s {
                axpy(-c[i], &g[i], &mut v);
            }
            let pv = precondition(&v)?;
            // u_k = ω P⁻¹v + Σ c_i u_i.
            let mut uk: Vec<Complex64> = pv.par_iter().with_min_len(CHUNK).map(|v| omega * v).collect();
            for i in k..s {
                axpy(c[i], &u[i], &mut uk);
            }
            let mut gk = vec![ZERO; n];
            op(&uk, &mut gk);
            iterations += 1;
            for i in 0..k {
                let alpha = dot(&shadow[i], &gk) / m[i][i];
                axpy(-alpha, &g[i], &mut gk);
                axpy(-alpha, &u[i], &mut uk);
            }
            for i in k..s {
                m[i][k] = dot(&shadow[i], &gk);
            }
            if m[k][k] == ZERO {
                break 'outer;
            }
            let beta = f[k] / m[k][k];
            axpy(-beta, &gk, &mut r);
            axpy(beta, &uk, &mut x);
            g[k] = gk;
            u[k] = uk;
            rnorm = norm(&r);
            tracing::trace!(iteration = iterations, estimate = rnorm / bnorm, "IDR(s)");
            if rnorm <= tol || iterations >= max_iterations {
                break 'outer;
            }
            for i in k + 1..s {
                f[i] -= beta * m[i][k];
            }
        }
        // Into the next, smaller, space: a minimal-residual step with the preconditioner.
        let v = precondition(&r)?;
        op(&v, &mut t);
        iterations += 1;
        let (tn, ts) = (norm(&t), dot(&t, &r));
        if tn == 0.0 {
            break;
        }
        omega = ts / (tn * tn);
        let rho = (ts / (tn * rnorm)).norm();
        if rho < ANGLE && rho > 0.0 {
            omega *= ANGLE / rho;
        }
        if omega == ZERO {
            break;
        }
        axpy(-omega, &t, &mut r);
        axpy(omega, &v, &mut x);
        rnorm = norm(&r);
        if !rnorm.is_finite() {
            break;
        }
    }
    let relative_residual = residual_norm(&op, &x, b, &mut t) / bnorm;
    Ok((x, SolveStats { iterations, preconditioner_applications: iterations, relative_residual }))
}

/// `‖b − op x‖` (the true residual, which the recursively updated one of the short-recurrence
/// methods can drift from), with `t` as workspace.
fn residual_norm(op: &impl Fn(&[Complex64], &mut [Complex64]), x: &[Complex64], b: &[Complex64], t: &mut [Complex64]) -> f64 {
    op(x, t);
    t.par_iter_mut().with_min_len(CHUNK).zip(b).for_each(|(t, b)| *t = b - *t);
    norm(t)
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

    /// BiCGStab solves the same system to the tolerance and reports the true residual.
    #[test]
    fn restarts_with_the_true_residual_reach_the_tolerance() {
        // A stand-in for a method with a residual gap: it returns the solution of a diagonal
        // system off by 1e-3 (relative) whatever tolerance it is given, and reports the truth.
        let n = 300;
        let diag = |i: usize| Complex64::new(1.0 + i as f64, 0.5);
        let op = |x: &[Complex64], y: &mut [Complex64]| y.iter_mut().zip(x).enumerate().for_each(|(i, (y, x))| *y = diag(i) * x);
        let b: Vec<Complex64> = (0..n).map(|i| Complex64::new((i as f64).sin(), 1.0)).collect();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let method = |r: &[Complex64], _tol: f64, _max: usize| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let x: Vec<Complex64> = r.iter().enumerate().map(|(i, r)| r / diag(i) * (1.0 + 1e-3)).collect();
            let mut t = vec![ZERO; n];
            let rel = residual_norm(&op, &x, r, &mut t) / norm(r);
            Ok((x, SolveStats { iterations: 10, preconditioner_applications: 10, relative_residual: rel }))
        };
        let (x, stats) = with_true_residual_restarts(&op, &b, 1e-10, 1000, method).unwrap();
        let mut t = vec![ZERO; n];
        let truth = residual_norm(&op, &x, &b, &mut t) / norm(&b);
        // 1e-3 per call: four calls reach 1e-12.
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 4);
        assert_eq!(stats.iterations, 40);
        assert!(truth <= 1e-10 && (stats.relative_residual - truth).abs() <= 1e-15, "{truth:e} vs {:e}", stats.relative_residual);
    }

    #[test]
    fn bicgstab_solves_to_the_tolerance() {
        let n = 200;
        let b: Vec<Complex64> = (0..n).map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos())).collect();
        let (x, stats) = bicgstab(op, |r| Ok(r.to_vec()), &b, 1e-10, 500).unwrap();
        let mut ax = vec![ZERO; n];
        op(&x, &mut ax);
        let res = norm(&b.iter().zip(&ax).map(|(b, a)| b - a).collect::<Vec<_>>()) / norm(&b);
        assert!(res <= 1e-10 && (res - stats.relative_residual).abs() <= 1e-14, "{res:e} vs {:e}", stats.relative_residual);
        let precs = stats.preconditioner_applications;
        assert!(precs + 1 >= 2 * stats.iterations && precs <= 2 * stats.iterations, "{precs} for {} iterations", stats.iterations);
    }

    /// IDR(s) solves the same system to the tolerance for several s, reports the true residual,
    /// and runs the same iterates twice.
    #[test]
    fn idrs_solves_to_the_tolerance() {
        let n = 200;
        let b: Vec<Complex64> = (0..n).map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos())).collect();
        for s in [1, 4, 8] {
            let (x, stats) = idrs(op, |r| Ok(r.to_vec()), &b, s, 1e-10, 500).unwrap();
            let mut ax = vec![ZERO; n];
            op(&x, &mut ax);
            let res = norm(&b.iter().zip(&ax).map(|(b, a)| b - a).collect::<Vec<_>>()) / norm(&b);
            assert!(res <= 1e-10 && (res - stats.relative_residual).abs() <= 1e-14, "s = {s}: {res:e} vs {:e}", stats.relative_residual);
            let (again, _) = idrs(op, |r| Ok(r.to_vec()), &b, s, 1e-10, 500).unwrap();
            assert_eq!(x, again);
        }
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
