//! Gauss–Newton Laplace approximation for the wave-equation posterior: the Hessian from the
//! Jacobian of the predicted fields, one factorisation per frequency instead of the `2 · dim`
//! posterior gradients (each three factorisations) of [`crate::laplace::hessian`].
//!
//! With `u_f(θ)` the predicted fields of frequency `f` and `ℓ_f(u)` its log-likelihood,
//!
//! `∂²ℓ/∂θ_k∂θ_l = Re ⟨J_k, ∇²_u ℓ_f J_l⟩ + Re ⟨∇_u ℓ_f, ∂²u/∂θ_k∂θ_l⟩`;
//!
//! the Gauss–Newton approximation keeps the first term, exact where the residual is pure noise
//! (its second term then averages out), with the likelihood's own Hessian in the fields
//! ([`Likelihood::hessian_vector`]; with the noise level inferred it is not negative definite
//! far from the maximum, see [`maximize`]). Column `k` costs, per frequency and component:
//!
//! 1. `J_k = ∂u/∂θ_k`: the operator `L(G*)` is applied to `u` for the moduli of `θ ± h e_k`
//!    (assembled, not factorised: [`WaveForward::operator`], the forward model's own scheme), and
//!    `L J_k = −(∂L/∂θ_k) u` is solved with the factorisation at θ and zero boundary values
//!    (the boundary values are data, independent of θ);
//! 2. `∇²_u ℓ J_k` by [`Likelihood::hessian_vector`] (exact for [`crate::WaveGaussian`]);
//! 3. the pull-back `J^T(·)` by one adjoint solve ([`ScalarSolver::modulus_gradient`]) and
//!    [`Parameterisation::pullback`].
//!
//! The prior Hessian is added from central differences of the prior gradient (exact for
//! Gaussian priors).

use mre_solver::wave::{Medium, ScalarSolver};
use ndarray::Array3;
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

/// The Gauss–Newton Hessian of `log p(θ | d)` at `theta` (row-major `dim × dim`, negative
/// semi-definite up to rounding), for the wave forward model with the default (compact) scheme.
pub fn hessian(
    forward: &WaveForward,
    param: &dyn Parameterisation,
    prior: &dyn Prior,
    likelihood: &dyn Likelihood,
    theta: &[f64],
) -> Result<Vec<f64>> {
    let n = dimension(param, theta)?;
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
    symmetrise(&mut hess, n);
    Ok(hess)
}

/// The Gauss–Newton Hessian of `log p(θ | d)` for the Navier model (row-major `dim × dim`):
/// per frequency the tangents `J_k` ([`crate::navier::NavierForward::tangents`]: one factorisation, one solve
/// per parameter) and `H_lk = Re ⟨J_l, ∇²_u ℓ_f J_k⟩` with `∇²_u ℓ_f J_k` the likelihood's
/// [`Likelihood::hessian_vector`]; frequencies added in order.
pub fn navier_hessian(
    forward: &crate::navier::NavierForward,
    param: &dyn Parameterisation,
    prior: &dyn Prior,
    likelihood: &dyn Likelihood,
    theta: &[f64],
) -> Result<Vec<f64>> {
    let n = dimension(param, theta)?;
    let mut hess = prior_hessian(prior, theta);
    for f in 0..forward.n_frequencies() {
        let (u, tangents) = forward.tangents(f, param, theta, THETA_STEP)?;
        for (k, jk) in tangents.iter().enumerate() {
            let hv = likelihood.hessian_vector(f, &u, jk);
            for (l, jl) in tangents.iter().enumerate() {
                let v: f64 = hv.iter().zip(jl).map(|(a, b)| a.iter().zip(b).map(|(a, b)| (a.conj() * b).re).sum::<f64>()).sum();
                hess[l * n + k] += v;
            }
        }
    }
    symmetrise(&mut hess, n);
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
    let mut out = vec![0.0; theta.len()];
    let hv = likelihood.hessian_vector(f, fields, jk);
    let shape = medium.grid.shape;
    let mut grad = ModuliGradient::zeros(shape);
    for (u, hv) in fields.iter().zip(&hv) {
        let (storage, loss) = solver.modulus_gradient(medium, u, hv)?;
        grad.add(&ModuliGradient::moduli(storage, loss));
    }
    param.pullback(theta, moduli, &grad, &mut out);
    Ok(out)
}

/// The number of parameters of `param`, which `theta` must have.
fn dimension(param: &dyn Parameterisation, theta: &[f64]) -> Result<usize> {
    let n = param.dim();
    if theta.len() != n {
        return Err(InverseError::invalid("Hessian point", format!("length {}", theta.len()), format!("length {n}")));
    }
    Ok(n)
}

/// `(H + Hᵀ)/2` in place (row-major `n × n`).
fn symmetrise(hess: &mut [f64], n: usize) {
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (hess[i * n + j] + hess[j * n + i]);
            hess[i * n + j] = s;
            hess[j * n + i] = s;
        }
    }
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

/// Settings of [`maximize`].
#[derive(Debug, Clone, PartialEq)]
pub struct GaussNewtonOptions {
    /// At most this many Gauss–Newton steps.
    pub max_iterations: u64,
    /// Converged when the Newton decrement `√(gᵀ (−H)⁻¹ g)` — the distance to the quadratic
    /// model's maximum in posterior standard deviations — is below this.
    pub decrement_tolerance: f64,
}

impl Default for GaussNewtonOptions {
    fn default() -> Self {
        Self { max_iterations: 30, decrement_tolerance: 1e-3 }
    }
}

/// MAP by Gauss–Newton steps: at each point the step `|H|⁻¹ ∇log p` with `H` from `hessian`
/// (a Gauss–Newton Hessian of `log p`; `|H|` with the absolute values of its eigenvalues, so
/// the step rises also where a likelihood with the noise level integrated out is not concave
/// in the fields, far from the maximum), halved until `log p`
/// rises by at least 10⁻⁴ of the step's predicted gain (Armijo). Stops when the Newton
/// decrement is below the tolerance (`converged`), or when no step raises `log p`.
/// `evaluations` counts the calls of `d`, not those of `hessian`.
pub fn maximize(
    d: &dyn crate::density::LogDensity,
    hessian: &dyn Fn(&[f64]) -> Result<Vec<f64>>,
    x0: &[f64],
    opts: &GaussNewtonOptions,
) -> Result<crate::map::MapResult> {
    let n = d.dim();
    if x0.len() != n {
        return Err(InverseError::invalid("MAP start point", format!("length {}", x0.len()), format!("length {n}")));
    }
    let mut x = x0.to_vec();
    let mut grad = vec![0.0; n];
    let mut logp = d.logp_grad(&x, &mut grad)?;
    if !logp.is_finite() {
        return Err(InverseError::NonFinite("log density at the Gauss–Newton start".into()));
    }
    let mut evaluations = 1;
    let mut converged = false;
    let mut iterations = 0;
    while iterations < opts.max_iterations {
        let precision: Vec<f64> = hessian(&x)?.iter().map(|h| -h).collect();
        let step = saddle_free_step(&precision, &grad, n)?;
        let gain: f64 = grad.iter().zip(&step).map(|(g, s)| g * s).sum();
        let decrement = gain.max(0.0).sqrt();
        tracing::debug!(iteration = iterations, logp, decrement, "Gauss–Newton MAP");
        if decrement <= opts.decrement_tolerance {
            converged = true;
            break;
        }
        iterations += 1;
        let mut t = 1.0;
        let mut accepted = None;
        for _ in 0..30 {
            let trial: Vec<f64> = x.iter().zip(&step).map(|(x, s)| x + t * s).collect();
            let mut g = vec![0.0; n];
            evaluations += 1;
            match d.logp_grad(&trial, &mut g) {
                Ok(lp) if lp.is_finite() && lp >= logp + 1e-4 * t * gain => {
                    accepted = Some((trial, lp, g));
                    break;
                }
                Ok(_) | Err(InverseError::NonFinite(_)) => t *= 0.5,
                Err(e) => return Err(e),
            }
        }
        let Some((xn, lp, g)) = accepted else { break };
        (x, logp, grad) = (xn, lp, g);
    }
    if !converged {
        tracing::warn!(iterations, "Gauss–Newton MAP not converged");
    }
    Ok(crate::map::MapResult { gradient_norm: linalg::norm(&grad), x, logp, gradient: grad, iterations, evaluations, converged })
}

/// `|P|⁻¹ g` for the symmetric `P` (row-major `n × n`): eigenvalues replaced by their absolute
/// values, at least 10⁻¹² of the largest.
fn saddle_free_step(p: &[f64], g: &[f64], n: usize) -> Result<Vec<f64>> {
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| 0.5 * (p[i * n + j] + p[j * n + i]));
    let eig = m
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| InverseError::Inference(format!("Gauss–Newton MAP: eigendecomposition of the Hessian failed ({e:?})")))?;
    let (u, s) = (eig.U(), eig.S().column_vector());
    let largest = (0..n).map(|i| s[i].abs()).fold(0.0, f64::max);
    if !(largest > 0.0 && largest.is_finite()) {
        return Err(InverseError::Inference("Gauss–Newton MAP: the Hessian is zero or not finite".into()));
    }
    let mut step = vec![0.0; n];
    for k in 0..n {
        let c: f64 = (0..n).map(|i| u[(i, k)] * g[i]).sum::<f64>() / s[k].abs().max(1e-12 * largest);
        (0..n).for_each(|i| step[i] += c * u[(i, k)]);
    }
    Ok(step)
}
