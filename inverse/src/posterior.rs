//! The posterior: forward model + parameterisation + prior + likelihood as a [`LogDensity`].

use rayon::prelude::*;

use crate::density::LogDensity;
use crate::error::{InverseError, Result};
use crate::forward::ForwardModel;
use crate::likelihood::Likelihood;
use crate::param::Parameterisation;
use crate::prior::Prior;

/// `log p(θ | d) = log p(θ) + Σ_f log p(d_f | u_f(G*(θ)))` with the adjoint gradient.
///
/// Frequencies are solved in parallel (rayon); their contributions are added in frequency
/// order, so the result does not depend on the number of threads. With
/// [`Posterior::frequency_terms`] a driver can spread frequencies over processes and add the
/// terms in the same order.
pub struct Posterior<'a> {
    /// Shear moduli → predicted fields.
    pub forward: &'a dyn ForwardModel,
    /// θ → shear moduli.
    pub param: &'a dyn Parameterisation,
    /// Prior on θ.
    pub prior: &'a dyn Prior,
    /// Likelihood of the predicted fields.
    pub likelihood: &'a dyn Likelihood,
}

impl std::fmt::Debug for Posterior<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Posterior").field("dim", &self.param.dim()).field("frequencies", &self.forward.n_frequencies()).finish()
    }
}

impl<'a> Posterior<'a> {
    /// Combine the pieces.
    pub fn new(
        forward: &'a dyn ForwardModel,
        param: &'a dyn Parameterisation,
        prior: &'a dyn Prior,
        likelihood: &'a dyn Likelihood,
    ) -> Self {
        Self { forward, param, prior, likelihood }
    }

    /// The log-likelihood term and its θ-gradient of each frequency in `frequencies`.
    pub fn frequency_terms(&self, theta: &[f64], frequencies: &[usize]) -> Result<Vec<(f64, Vec<f64>)>> {
        check_theta(theta, self.param.dim())?;
        let moduli = self.param.moduli(theta);
        frequencies
            .par_iter()
            .map(|&f| {
                let objective = |f: usize, fields: &[ndarray::Array3<num_complex::Complex64>]| self.likelihood.frequency_term(f, fields);
                let (lp, g) = self.forward.objective_gradient(f, &moduli, &objective).map_err(|e| singular_as_non_finite(f, e))?;
                let mut out = vec![0.0; theta.len()];
                self.param.pullback(theta, &moduli, &g, &mut out);
                if !lp.is_finite() || out.iter().any(|g| !g.is_finite()) {
                    return Err(InverseError::NonFinite(format!("log-likelihood of frequency {f} is {lp}")));
                }
                Ok((lp, out))
            })
            .collect()
    }

    /// The log-likelihood term of each frequency in `frequencies`, without gradients (forward
    /// solves only).
    pub fn frequency_values(&self, theta: &[f64], frequencies: &[usize]) -> Result<Vec<f64>> {
        check_theta(theta, self.param.dim())?;
        let moduli = self.param.moduli(theta);
        frequencies
            .par_iter()
            .map(|&f| {
                let fields = self.forward.predict(f, &moduli).map_err(|e| singular_as_non_finite(f, e))?;
                let lp = self.likelihood.frequency_value(f, &fields);
                if !lp.is_finite() {
                    return Err(InverseError::NonFinite(format!("log-likelihood of frequency {f} is {lp}")));
                }
                Ok(lp)
            })
            .collect()
    }

    /// The prior term and its gradient.
    pub fn prior_term(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let mut g = vec![0.0; theta.len()];
        let lp = self.prior.logp_add_grad(theta, &mut g);
        (lp, g)
    }

    /// Noise standard deviation per frequency implied at θ (known, or the RMS residual).
    pub fn noise_estimates(&self, theta: &[f64]) -> Result<Vec<f64>> {
        let moduli = self.param.moduli(theta);
        (0..self.forward.n_frequencies())
            .into_par_iter()
            .map(|f| Ok(self.likelihood.noise_estimate(f, &self.forward.predict(f, &moduli)?)))
            .collect()
    }
}

/// Add the prior term and per-frequency terms in a fixed order: `lp = prior + Σ_f term_f`.
pub fn combine_terms(prior: (f64, Vec<f64>), terms: &[(f64, Vec<f64>)], grad: &mut [f64]) -> f64 {
    let (mut lp, g0) = prior;
    grad.copy_from_slice(&g0);
    for (l, g) in terms {
        lp += l;
        grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
    }
    lp
}

/// A trial point whose operator cannot be factorised, or whose iterative solve does not
/// converge (extreme moduli during a line search, e.g. a nearly lossless medium at a resonance
/// of the measured-boundary problem), has no finite density: the optimiser and the samplers
/// back off from it.
fn singular_as_non_finite(f: usize, e: InverseError) -> InverseError {
    match e {
        InverseError::Solver(mre_solver::SolverError::Singular(m) | mre_solver::SolverError::NotConverged(m)) => {
            InverseError::NonFinite(format!("frequency {f}: {m}"))
        }
        e => e,
    }
}

fn check_theta(theta: &[f64], dim: usize) -> Result<()> {
    if theta.len() != dim {
        return Err(InverseError::invalid("parameter vector", format!("length {}", theta.len()), format!("length {dim}")));
    }
    if theta.iter().any(|t| !t.is_finite() || t.abs() > 700.0) {
        return Err(InverseError::NonFinite("parameter vector has non-finite or overflowing entries".into()));
    }
    Ok(())
}

impl LogDensity for Posterior<'_> {
    fn dim(&self) -> usize {
        self.param.dim()
    }
    fn logp_grad(&self, theta: &[f64], grad: &mut [f64]) -> Result<f64> {
        let freqs: Vec<usize> = (0..self.forward.n_frequencies()).collect();
        let terms = self.frequency_terms(theta, &freqs)?;
        Ok(combine_terms(self.prior_term(theta), &terms, grad))
    }
    fn logp(&self, theta: &[f64]) -> Result<f64> {
        let freqs: Vec<usize> = (0..self.forward.n_frequencies()).collect();
        let terms = self.frequency_values(theta, &freqs)?;
        let (mut lp, _) = self.prior_term(theta);
        for t in terms {
            lp += t;
        }
        Ok(lp)
    }
    fn names(&self) -> Vec<String> {
        self.param.names()
    }
}
