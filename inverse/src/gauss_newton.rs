//! Gauss–Newton Laplace approximation for the wave-equation posterior: the Hessian from the
//! Jacobian of the predicted fields, one factorisation per frequency instead of the `2 · dim`
//! posterior gradients (each three factorisations) of [`crate::laplace::hessian`].
//!
//! With `u_f(θ)` the predicted fields of frequency `f` and `ℓ_f(u)` its log-likelihood,
//!
//! `∂²ℓ/∂θ_k∂θ_l = Re ⟨J_k, ∇²_u ℓ_f J_l⟩ + Re ⟨∇_u ℓ_f, ∂²u/∂θ_k∂θ_l⟩`;
//!
//! the Gauss–Newton approximation keeps the first term, exact where the residual is pure noise
//! (its second term then averages out) and always negative semi-definite for a log-concave
//! likelihood in `u`. Column `k` costs, per frequency and component:
//!
//! 1. `J_k = ∂u/∂θ_k`: the operator `L(G*)` is applied to `u` for the moduli of `θ ± h e_k`
//!    (assembled, not factorised: [`WaveForward::operator`], the forward model's own scheme), and
//!    `L J_k = −(∂L/∂θ_k) u` is solved with the factorisation at θ and zero boundary values
//!    (the boundary values are data, independent of θ);
//! 2. `∇²_u ℓ J_k` by central differences of the likelihood's field gradient along `J_k`
//!    (exact for a known noise level, where ℓ is quadratic in `u`);
//! 3. the pull-back `J^T(·)` by one adjoint solve ([`ScalarSolver::modulus_gradient`]) and
//!    [`Parameterisation::pullback`].
//!
//! The prior Hessian is added from central differences of the prior gradient (exact for
//! Gaussian priors).

use mre_solver::wave::{Medium, ScalarSolver};
use ndarray::{Array3, Zip};
use num_complex::Complex64;
use rayon::prelude::*;

use crate::error::{InverseError, Result};
use crate::forward::{ForwardModel, ModuliGradient, WaveForward};
use crate::laplace::Laplace;
use crate::likelihood::Likelihood;
use crate::linalg;
use crate::param::Parameterisation;
use crate::prior::Prior;

/// Step in θ (log moduli) of the operator derivative.
const THETA_STEP: f64 = 1e-4;
/// Step of the likelihood's second derivative along `J_k`, relative to `‖u‖ / ‖J_k‖`.
const FIELD_STEP: f64 = 1e-4;

/// The Gauss–Newton Hessian of `log p(θ | d)` at `theta` (row-major `dim × dim`, negative
/// semi-definite up to rounding), for the wave forward model with the default (compact) scheme.
pub fn hessian(
    forward: &WaveForward,
    param: &dyn Parameterisation,
    prior: &dyn Prior,
    likelihood: &dyn Likelihood,
    theta: &[f64],
) -> Result<Vec<f64>> {
    let n = param.dim();
    if theta.len() != n {
        return Err(InverseError::invalid("Hessian point", format!("length {}", theta.len()), format!("length {n}")));
    }
    let moduli = param.moduli(theta);
    let shape = forward.grid().shape;
    let zero = Array3::<Complex64>::zeros((shape[0], shape[1], shape[2]));
    let mut hess = prior_hessian(prior, theta);
    for f in 0..forward.n_frequencies() {
        let (medium, solver) = forward.factorise(f, &moduli)?;
        let fields = forward.solve_components(f, &solver)?;
        let columns: Vec<Vec<f64>> = (0..n)
            .into_par_iter()
            .map(|k| {
                let (mut xp, mut xm) = (theta.to_vec(), theta.to_vec());
                xp[k] += THETA_STEP;
                xm[k] -= THETA_STEP;
                let (_, kp) = forward.operator(f, &param.moduli(&xp))?;
                let (_, km) = forward.operator(f, &param.moduli(&xm))?;
                let mut ap = vec![Complex64::new(0.0, 0.0); kp.len()];
                let mut am = ap.clone();
                // J_k per component.
                let jk: Vec<Array3<Complex64>> = fields
                    .iter()
                    .map(|u| {
                        let us = u.as_slice().expect("standard layout");
                        kp.apply(us, &mut ap);
                        km.apply(us, &mut am);
                        // −(∂L/∂θ_k) u = −(L₊ − L₋) u / 2h.
                        let rhs =
                            Array3::from_shape_vec(u.raw_dim(), ap.iter().zip(&am).map(|(p, m)| (m - p) / (2.0 * THETA_STEP)).collect())
                                .expect("one value per voxel");
                        Ok(solver.solve_with_dirichlet_values(&rhs, &zero)?)
                    })
                    .collect::<Result<_>>()?;
                column(likelihood, &solver, &medium, param, theta, &moduli, f, &fields, &jk)
            })
            .collect::<Result<_>>()?;
        for (k, c) in columns.iter().enumerate() {
            for (i, v) in c.iter().enumerate() {
                hess[i * n + k] += v;
            }
        }
    }
    // Symmetrise.
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (hess[i * n + j] + hess[j * n + i]);
            hess[i * n + j] = s;
            hess[j * n + i] = s;
        }
    }
    Ok(hess)
}

/// Column `k` of the likelihood's Gauss–Newton Hessian for frequency `f` from `J_k` (`jk`).
#[allow(clippy::too_many_arguments)]
fn column(
    likelihood: &dyn Likelihood,
    solver: &ScalarSolver,
    medium: &Medium,
    param: &dyn Parameterisation,
    theta: &[f64],
    moduli: &crate::forward::Moduli,
    f: usize,
    fields: &[Array3<Complex64>],
    jk: &[Array3<Complex64>],
) -> Result<Vec<f64>> {
    let norm = |a: &[Array3<Complex64>]| a.iter().flat_map(|x| x.iter()).map(|v| v.norm_sqr()).sum::<f64>().sqrt();
    let (nu, nj) = (norm(fields), norm(jk));
    let mut out = vec![0.0; theta.len()];
    if nj == 0.0 {
        return Ok(out);
    }
    let h = FIELD_STEP * nu / nj;
    let shifted = |s: f64| -> Vec<Array3<Complex64>> {
        fields
            .iter()
            .zip(jk)
            .map(|(u, j)| {
                let mut v = u.clone();
                Zip::from(&mut v).and(j).for_each(|v, &j| *v += j * s);
                v
            })
            .collect()
    };
    let (_, gp) = likelihood.frequency_term(f, &shifted(h));
    let (_, gm) = likelihood.frequency_term(f, &shifted(-h));
    let shape = medium.grid.shape;
    let mut grad = ModuliGradient::zeros(shape);
    for ((u, p), m) in fields.iter().zip(&gp).zip(&gm) {
        let hv = (p - m).mapv(|v| v / (2.0 * h));
        let (storage, loss) = solver.modulus_gradient(medium, u, &hv)?;
        grad.add(&ModuliGradient::moduli(storage, loss));
    }
    param.pullback(theta, moduli, &grad, &mut out);
    Ok(out)
}

/// Hessian of the log prior by central differences of its gradient (exact for Gaussian priors).
fn prior_hessian(prior: &dyn Prior, theta: &[f64]) -> Vec<f64> {
    let n = theta.len();
    let mut hess = vec![0.0; n * n];
    let grad_at = |x: &[f64]| {
        let mut g = vec![0.0; n];
        prior.logp_add_grad(x, &mut g);
        g
    };
    for k in 0..n {
        let h = 1e-4 * theta[k].abs().max(1.0);
        let (mut xp, mut xm) = (theta.to_vec(), theta.to_vec());
        xp[k] += h;
        xm[k] -= h;
        let (gp, gm) = (grad_at(&xp), grad_at(&xm));
        for i in 0..n {
            hess[i * n + k] = (gp[i] - gm[i]) / (2.0 * h);
        }
    }
    hess
}

/// The Laplace approximation at `x_map` with the Gauss–Newton Hessian ([`hessian`]); its
/// `evaluations` is 0 (no posterior gradient is evaluated: one factorisation per frequency).
pub fn laplace(
    forward: &WaveForward,
    param: &dyn Parameterisation,
    prior: &dyn Prior,
    likelihood: &dyn Likelihood,
    x_map: &[f64],
) -> Result<Laplace> {
    let n = param.dim();
    let hess = hessian(forward, param, prior, likelihood, x_map)?;
    let precision: Vec<f64> = hess.iter().map(|h| -h).collect();
    let l = linalg::cholesky(&precision, n)
        .ok_or_else(|| InverseError::Inference("Gauss–Newton Laplace: −H is not positive definite".into()))?;
    let covariance = linalg::cholesky_inverse(&l, n);
    let cholesky = linalg::cholesky(&covariance, n)
        .ok_or_else(|| InverseError::Inference("Gauss–Newton Laplace: the covariance is numerically not positive definite".into()))?;
    Ok(Laplace { mean: x_map.to_vec(), covariance, cholesky, repaired: false, evaluations: 0 })
}

/// `draws` independent draws from a Laplace approximation, `mean + L z` with `z` standard
/// normal keyed by (`seed`, draw, parameter) — the same draws as
/// [`crate::bayes::Sampler::Laplace`].
pub fn draws(laplace: &Laplace, draws: usize, seed: u64) -> Vec<Vec<f64>> {
    laplace.draws(draws, seed)
}
