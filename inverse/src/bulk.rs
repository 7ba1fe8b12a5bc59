//! The bulk modulus `K` of the Navier model as a nuisance parameter.
//!
//! Compressible materials (phantoms with a Poisson ratio well below ½) need their bulk modulus
//! in the Navier model; nearly incompressible tissue does not, and its data do not determine
//! it. [`WithBulkModulus`] appends one global parameter `log K` (K in Pa) to a
//! parameterisation of G' and G'' ([`crate::forward::Moduli::bulk_modulus_pa`]), and
//! [`BulkModulusPrior`] puts a broad normal prior on it: median [`PRIOR_MEDIAN_PA`] (2.2 GPa,
//! water and soft tissue), width [`PRIOR_LOG_STD`] (natural log: a factor 55 per standard
//! deviation, so a gel with Poisson ratio 0.2 and G' of a few kPa, `K ≈ 5 kPa`, lies 3.3
//! standard deviations below the median — a prior penalty of 5 in log density, negligible
//! against thousands of samples that determine `K`).
//!
//! **Identifiability.** The data depend on `K` through the compressional wavelength and the
//! quasi-static dilatation, both of which vanish as `K/G → ∞`: above `K/G` of a few thousand
//! (for MRE data at SNR 30) the likelihood is flat in `log K`. There the posterior of `log K`
//! is the prior truncated from below, so it sits anywhere in the flat region, and the G
//! estimates do not depend on where (the likelihood of G does not change along the flat
//! direction). The reported interval of `K` then says "at least …", not a measurement. With
//! the prior's mode inside the flat region the posterior is close to Gaussian in `log K`, which
//! the Laplace approximation and the independence sampler need.
//!
//! **The start.** From a start on the flat region the gradient with respect to `log K` is zero
//! and a local optimiser would never find the compressible optimum (and the compressional
//! resonances of the domain make the likelihood multimodal in `K`): [`scan_start`] evaluates
//! the posterior on a grid of `K/G'` at the start's moduli and starts from the best point.

use crate::density::LogDensity;
use crate::error::{InverseError, Result};
use crate::forward::{Moduli, ModuliGradient};
use crate::param::Parameterisation;
use crate::prior::Prior;

/// Prior median of `K`, Pa: water and soft tissue (the nearly incompressible limit).
pub const PRIOR_MEDIAN_PA: f64 = crate::navier::TISSUE_BULK_MODULUS_PA;

/// Prior standard deviation of `ln K` (natural log).
pub const PRIOR_LOG_STD: f64 = 4.0;

/// A parameterisation of G' and G'' with one more parameter at the end: `log K` (K in Pa).
pub struct WithBulkModulus {
    inner: Box<dyn Parameterisation>,
    start_pa: f64,
}

impl std::fmt::Debug for WithBulkModulus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithBulkModulus").field("inner_dim", &self.inner.dim()).field("start_pa", &self.start_pa).finish()
    }
}

impl WithBulkModulus {
    /// `inner`'s parameters followed by `log K`; [`Parameterisation::constant`] starts at
    /// `start_pa` (Pa, positive and finite).
    pub fn new(inner: Box<dyn Parameterisation>, start_pa: f64) -> Result<Self> {
        if !(start_pa.is_finite() && start_pa > 0.0) {
            return Err(InverseError::invalid("bulk modulus start", start_pa, "a positive, finite bulk modulus in Pa"));
        }
        Ok(Self { inner, start_pa })
    }

    /// Index of `log K` in θ (the last parameter).
    pub fn index(&self) -> usize {
        self.inner.dim()
    }

    /// The parameterisation of G' and G''.
    pub fn inner(&self) -> &dyn Parameterisation {
        self.inner.as_ref()
    }
}

impl Parameterisation for WithBulkModulus {
    fn dim(&self) -> usize {
        self.inner.dim() + 1
    }
    fn names(&self) -> Vec<String> {
        let mut n = self.inner.names();
        n.push("log_bulk_modulus_pa".into());
        n
    }
    fn moduli(&self, theta: &[f64]) -> Moduli {
        let n = self.inner.dim();
        Moduli { bulk_modulus_pa: Some(theta[n].exp()), ..self.inner.moduli(&theta[..n]) }
    }
    fn pullback(&self, theta: &[f64], moduli: &Moduli, grad: &ModuliGradient, out: &mut [f64]) {
        let n = self.inner.dim();
        self.inner.pullback(&theta[..n], moduli, grad, &mut out[..n]);
        out[n] = grad.bulk_modulus * theta[n].exp();
    }
    fn constant(&self, storage_pa: f64, loss_pa: f64) -> Vec<f64> {
        let mut t = self.inner.constant(storage_pa, loss_pa);
        t.push(self.start_pa.ln());
        t
    }
}

/// A prior on θ = [inner parameters…, log K]: `inner` on the first parameters and an
/// independent normal on `log K` (median `median_pa`, width `log_std`).
pub struct BulkModulusPrior {
    inner: Box<dyn Prior>,
    median_pa: f64,
    log_std: f64,
}

impl std::fmt::Debug for BulkModulusPrior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkModulusPrior").field("median_pa", &self.median_pa).field("log_std", &self.log_std).finish_non_exhaustive()
    }
}

impl BulkModulusPrior {
    /// `inner` with the normal prior on `log K` of median `median_pa` (Pa) and width `log_std`.
    pub fn new(inner: Box<dyn Prior>, median_pa: f64, log_std: f64) -> Result<Self> {
        if !(median_pa.is_finite() && median_pa > 0.0 && log_std.is_finite() && log_std > 0.0) {
            return Err(InverseError::invalid(
                "bulk modulus prior",
                format!("median {median_pa} Pa, width {log_std}"),
                "a positive median and width",
            ));
        }
        Ok(Self { inner, median_pa, log_std })
    }

    /// The default broad prior ([`PRIOR_MEDIAN_PA`], [`PRIOR_LOG_STD`]) with `inner`.
    pub fn broad(inner: Box<dyn Prior>) -> Self {
        Self { inner, median_pa: PRIOR_MEDIAN_PA, log_std: PRIOR_LOG_STD }
    }
}

impl Prior for BulkModulusPrior {
    fn logp_add_grad(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let n = theta.len() - 1;
        let lp = self.inner.logp_add_grad(&theta[..n], &mut grad[..n]);
        let z = (theta[n] - self.median_pa.ln()) / self.log_std;
        grad[n] -= z / self.log_std;
        lp - 0.5 * z * z
    }
}

/// The ratios `K/G'` [`scan_start`] tries: every 0.25 in `ln` from 0.75 (Poisson ratio 0.06)
/// to 20 (0.46), then 50, 200, 10³, 10⁴ and 10⁵ (0.49999).
pub fn scan_ratios() -> Vec<f64> {
    let (lo, hi) = (0.75f64.ln(), 20f64.ln());
    let steps = ((hi - lo) / 0.25).ceil() as usize;
    let mut r: Vec<f64> = (0..=steps).map(|i| (lo + (hi - lo) * i as f64 / steps as f64).exp()).collect();
    r.extend([50.0, 200.0, 1e3, 1e4, 1e5]);
    r
}

/// A bulk modulus tried by [`scan_start`] and its log density: `(K Pa, log p)`.
pub type Candidate = (f64, f64);

/// The start for a MAP search of a posterior whose last parameter is `log K`: `theta` with
/// `log K` replaced by the best of `log(r · storage_pa)` for the ratios of [`scan_ratios`]
/// and `theta`'s own `log K` (log density by `density`, values only; candidates outside the
/// model's range, e.g. `K ≤ 2G'/3`, are skipped). Returns the start and the `(K, log p)` of
/// every candidate tried, in order. Evaluations one after another (for densities that
/// communicate across processes).
///
/// # Errors
///
/// No candidate has a finite log density, or an error of `density` other than
/// [`InverseError::NonFinite`].
pub fn scan_start(density: &dyn LogDensity, theta: &[f64], storage_pa: f64) -> Result<(Vec<f64>, Vec<Candidate>)> {
    let n = theta.len() - 1;
    let mut candidates: Vec<f64> = scan_ratios().into_iter().map(|r| r * storage_pa).collect();
    candidates.push(theta[n].exp());
    let mut tried = Vec::with_capacity(candidates.len());
    let mut best: Option<(f64, f64)> = None;
    for k in candidates {
        let mut t = theta.to_vec();
        t[n] = k.ln();
        match density.logp(&t) {
            Ok(lp) if lp.is_finite() => {
                tried.push((k, lp));
                if best.is_none_or(|(_, b)| lp > b) {
                    best = Some((k, lp));
                }
            }
            Ok(_) | Err(InverseError::NonFinite(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let (k, _) = best.ok_or_else(|| InverseError::NonFinite("no bulk modulus of the start scan gives a finite log density".into()))?;
    let mut t = theta.to_vec();
    t[n] = k.ln();
    Ok((t, tried))
}

/// A log density whose last parameter (`log K`) is held at `log_k`: the density of the other
/// parameters (the first stage of the start: the moduli fitted with K fixed).
pub struct FixedLast<'a> {
    density: &'a dyn LogDensity,
    log_k: f64,
}

impl<'a> FixedLast<'a> {
    /// `density` with its last parameter held at `log_k`.
    pub fn new(density: &'a dyn LogDensity, log_k: f64) -> Self {
        Self { density, log_k }
    }

    /// All parameters of the underlying density: `x` followed by the held `log K`.
    pub fn full(&self, x: &[f64]) -> Vec<f64> {
        let mut t = x.to_vec();
        t.push(self.log_k);
        t
    }

    /// The Hessian of this density from `h`, that of the underlying one (`(n + 1)²` row-major):
    /// its leading `n × n` block.
    pub fn hessian_block(h: &[f64], n: usize) -> Vec<f64> {
        h.chunks(n + 1).take(n).flat_map(|row| row[..n].iter().copied()).collect()
    }
}

impl LogDensity for FixedLast<'_> {
    fn dim(&self) -> usize {
        self.density.dim() - 1
    }
    fn logp_grad(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        let mut g = vec![0.0; self.density.dim()];
        let lp = self.density.logp_grad(&self.full(x), &mut g)?;
        grad.copy_from_slice(&g[..x.len()]);
        Ok(lp)
    }
    fn logp(&self, x: &[f64]) -> Result<f64> {
        self.density.logp(&self.full(x))
    }
    fn names(&self) -> Vec<String> {
        let mut n = self.density.names();
        n.pop();
        n
    }
}
