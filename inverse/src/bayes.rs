//! The inference pipeline: MAP → Laplace approximation → posterior draws (NUTS, or the
//! Laplace Gaussian itself for high-dimensional fields), with diagnostics and checkpoints.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::checkpoint;
use crate::density::LogDensity;
use crate::diagnostics;
use crate::error::{InverseError, Result};
use crate::forward::WaveForward;
use crate::gauss_newton::GaussNewtonOptions;
use crate::independence::{self, IndependenceOptions};
use crate::laplace::Laplace;
use crate::likelihood::Likelihood;
use crate::map::{maximize, MapOptions, MapResult};
use crate::nuts::{sample_chains, NutsOptions};
use crate::param::Parameterisation;
use crate::posterior::Posterior;
use crate::prior::Prior;
use crate::reduced::ReducedWaveForward;
use rayon::prelude::*;

/// How posterior draws are made after the MAP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Sampler {
    /// No-U-Turn sampling of the exact posterior, in the whitened coordinates of the Laplace
    /// approximation (so an identity mass matrix is close to optimal and warm-up is short).
    Nuts(NutsOptions),
    /// Independence Metropolis–Hastings with a Student-t proposal around the Laplace
    /// approximation ([`crate::independence`]): exact posterior, one forward solve per draw
    /// and frequency — the fast choice for region moduli.
    Independence(IndependenceOptions),
    /// Independent draws from the Laplace approximation `N(θ_MAP, (−∇² log p)⁻¹)` — the
    /// choice for smooth fields with hundreds of parameters.
    Laplace {
        /// Number of draws.
        draws: usize,
        /// Random seed.
        seed: u64,
    },
}

/// Settings of [`infer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BayesOptions {
    /// MAP search.
    pub map: MapOptions,
    /// Relative finite-difference step of the Laplace Hessian.
    pub hessian_step: f64,
    /// Posterior draws.
    pub sampler: Sampler,
}

impl Default for BayesOptions {
    fn default() -> Self {
        Self {
            map: MapOptions { max_iterations: 200, gradient_tolerance: 1e-3, log_density_tolerance: 1e-6, ..MapOptions::default() },
            hessian_step: 1e-6,
            sampler: Sampler::Nuts(NutsOptions::default()),
        }
    }
}

/// Outcome of [`infer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BayesResult {
    /// Parameter names.
    pub names: Vec<String>,
    /// The MAP search.
    pub map: MapResult,
    /// The Laplace approximation at the MAP.
    pub laplace: Laplace,
    /// Draws per chain (`[chain][draw]` → θ); one chain for Laplace draws.
    pub chains: Vec<Vec<Vec<f64>>>,
    /// Rank-normalised split-R̂ per parameter (NaN for independent Laplace draws... 1 chain).
    pub rhat: Vec<f64>,
    /// Bulk effective sample size per parameter.
    pub ess_bulk: Vec<f64>,
    /// Tail effective sample size per parameter.
    pub ess_tail: Vec<f64>,
    /// Divergent NUTS transitions after warm-up.
    pub divergences: u64,
    /// Log-density evaluations (each one forward and one adjoint solve per frequency).
    pub evaluations: u64,
    /// Wall time of this call, s (a resumed run counts only its own time).
    pub wall_time_s: f64,
    /// Method name for provenance (`bayes-nuts`, `bayes-independence`, `bayes-laplace`;
    /// `-reduced` when sampled with the reduced model).
    pub method: String,
    /// Acceptance rate of the independence sampler.
    pub acceptance: Option<f64>,
    /// The reduced-model check, when [`infer_reduced`] made the draws.
    pub surrogate: Option<SurrogateReport>,
}

impl BayesResult {
    /// The result of draws made with the reduced model: `evaluations` counts full-model
    /// evaluations only (the reduced ones move to the report; snapshots and checks are added)
    /// and the method gets the suffix `-reduced`.
    pub fn with_surrogate(mut self, report: SurrogateReport) -> Self {
        self.evaluations = self.evaluations - report.reduced_evaluations + report.snapshots as u64 + report.checked_draws as u64;
        self.method = format!("{}-reduced", self.method);
        self.surrogate = Some(report);
        self
    }

    /// All draws of all chains, chain after chain.
    pub fn draws(&self) -> Vec<Vec<f64>> {
        self.chains.iter().flatten().cloned().collect()
    }
}

/// Counts evaluations of a density.
struct Counting<'a> {
    inner: &'a dyn LogDensity,
    count: AtomicU64,
}

impl LogDensity for Counting<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn logp_grad(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inner.logp_grad(x, grad)
    }
    fn names(&self) -> Vec<String> {
        self.inner.names()
    }
}

/// The first stages of [`infer`]: the MAP and the Laplace approximation at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mode {
    /// The MAP search.
    pub map: MapResult,
    /// The Laplace approximation at the MAP.
    pub laplace: Laplace,
    /// Log-density evaluations of this call.
    pub evaluations: u64,
}

/// Posterior draws: the last stage of [`infer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draws {
    /// Draws per chain (`[chain][draw]` → θ), in the order of the chain ids.
    pub chains: Vec<Vec<Vec<f64>>>,
    /// Divergent NUTS transitions after warm-up.
    pub divergences: u64,
    /// Log-density evaluations of this call.
    pub evaluations: u64,
    /// Accepted proposals of the independence sampler (summed over the chains).
    pub accepted: Option<u64>,
    /// Method name for provenance (`bayes-nuts`, `bayes-independence` or `bayes-laplace`).
    pub method: String,
}

/// MAP from `x0`, Laplace approximation, then posterior draws, for the chains `chain_ids`
/// (`None`: all chains; MPI drivers give each rank its share and gather the traces, which
/// depend only on the seed and chain index). With `checkpoint_dir`, every stage saves its
/// state there (MAP every `map.checkpoint_every` iterations, the Laplace approximation, each
/// chain every `checkpoint_every` draws) and a restarted run with the same inputs resumes
/// and produces the same result.
///
/// The stages are also available one by one ([`find_mode`], [`draw`], [`assemble`]), e.g.
/// to evaluate the density of the first stages across processes and run the chains locally.
pub fn infer(
    d: &dyn LogDensity,
    x0: &[f64],
    opts: &BayesOptions,
    checkpoint_dir: Option<&Path>,
    chain_ids: Option<&[usize]>,
) -> Result<BayesResult> {
    let start = Instant::now();
    let mode = find_mode(d, x0, opts, checkpoint_dir, true)?;
    let draws = draw(d, &mode.laplace, opts, checkpoint_dir, chain_ids)?;
    Ok(assemble(d.names(), mode, draws, start.elapsed().as_secs_f64()))
}

/// MAP from `x0` and the Laplace approximation at it (checkpointed as in [`infer`]): L-BFGS
/// ([`maximize`] with `opts.map`), then Newton steps with the Laplace Hessian until the Newton
/// decrement is below [`NEWTON_DECREMENT_TOLERANCE`] posterior standard deviations (which is
/// what `converged` of the result means). With
/// `parallel` false every evaluation of `d` happens on the calling thread, one after another
/// (for densities that communicate across processes); the result is the same.
pub fn find_mode(d: &dyn LogDensity, x0: &[f64], opts: &BayesOptions, checkpoint_dir: Option<&Path>, parallel: bool) -> Result<Mode> {
    find_mode_with(d, None, x0, opts, checkpoint_dir, parallel)
}

/// A Gauss–Newton Hessian of `log p` at a point (row-major `dim × dim`), e.g.
/// [`crate::gauss_newton::navier_hessian`].
pub type HessianFn<'a> = &'a dyn Fn(&[f64]) -> Result<Vec<f64>>;

/// [`find_mode`], with the MAP found by Gauss–Newton steps ([`crate::gauss_newton::maximize`])
/// when `hessian` is given — a few steps from a start near the maximum (a previous stage's
/// MAP), where L-BFGS needs tens of evaluations — and by L-BFGS from where Gauss–Newton
/// stops when it does not converge. The Laplace approximation and the Newton steps that
/// decide `converged` are those of [`find_mode`] (the Hessian by differences of the gradient).
pub fn find_mode_with(
    d: &dyn LogDensity,
    hessian: Option<HessianFn<'_>>,
    x0: &[f64],
    opts: &BayesOptions,
    checkpoint_dir: Option<&Path>,
    parallel: bool,
) -> Result<Mode> {
    let counted = Counting { inner: d, count: AtomicU64::new(0) };
    if let Some(dir) = checkpoint_dir {
        std::fs::create_dir_all(dir).map_err(|e| InverseError::Checkpoint { path: dir.display().to_string(), problem: e.to_string() })?;
    }
    let map_ckpt = checkpoint_dir.map(|p| p.join("map.cbor"));
    let lbfgs = match hessian {
        Some(h) => gauss_newton_then_lbfgs(&counted, h, x0, &GaussNewtonOptions::default(), &opts.map, checkpoint_dir)?,
        None => maximize(&counted, x0, &opts.map, map_ckpt.as_deref())?,
    };
    info!(iterations = lbfgs.iterations, evaluations = lbfgs.evaluations, logp = lbfgs.logp, converged = lbfgs.converged, "MAP");
    // The checkpoint is keyed by the L-BFGS point; its Laplace approximation is the one at the
    // end of the Newton steps (its mean is the MAP).
    let laplace_ckpt = checkpoint_dir.map(|p| p.join("laplace.cbor"));
    let (map, laplace) = match laplace_ckpt.as_deref().map(checkpoint::load_cbor::<(Vec<f64>, Laplace)>).transpose()?.flatten() {
        Some((x, l)) if x == lbfgs.x => {
            let map = if l.mean == lbfgs.x { lbfgs } else { evaluated(&counted, lbfgs, &l.mean)? };
            (map, l)
        }
        _ => {
            let l = Laplace::with_step_on(&counted, &lbfgs.x, opts.hessian_step, parallel)?;
            let key = lbfgs.x.clone();
            let (map, l) = newton_steps(&counted, lbfgs, l, opts.hessian_step, parallel)?;
            if let Some(p) = &laplace_ckpt {
                checkpoint::save_cbor(p, &(key, l.clone()))?;
            }
            (map, l)
        }
    };
    Ok(Mode { map, laplace, evaluations: counted.count.load(Ordering::Relaxed) })
}

/// The MAP by Gauss–Newton steps (`gn`) from `x0` (see [`find_mode_with`]); when they do not
/// converge, L-BFGS (`map`) from where they stopped. With `checkpoint_dir`, the finished MAP is saved
/// there (`gauss-newton-map.cbor`, keyed by `x0`) and returned as it is by a restarted run;
/// the L-BFGS iterations checkpoint to `map.cbor` as in [`maximize`].
pub fn gauss_newton_then_lbfgs(
    d: &dyn LogDensity,
    hessian: HessianFn<'_>,
    x0: &[f64],
    gn: &GaussNewtonOptions,
    map: &MapOptions,
    checkpoint_dir: Option<&Path>,
) -> Result<MapResult> {
    if let Some(dir) = checkpoint_dir {
        std::fs::create_dir_all(dir).map_err(|e| InverseError::Checkpoint { path: dir.display().to_string(), problem: e.to_string() })?;
    }
    let done_ckpt = checkpoint_dir.map(|p| p.join("gauss-newton-map.cbor"));
    if let Some(done) = done_ckpt.as_deref().map(checkpoint::load_cbor::<(Vec<f64>, MapResult)>).transpose()?.flatten() {
        if done.0 == x0 {
            info!("Gauss–Newton MAP loaded from the checkpoint");
            return Ok(done.1);
        }
    }
    let gn = crate::gauss_newton::maximize(d, hessian, x0, gn)?;
    info!(steps = gn.iterations, evaluations = gn.evaluations, logp = gn.logp, converged = gn.converged, "MAP (Gauss–Newton)");
    let result = if gn.converged {
        gn
    } else {
        let lbfgs = maximize(d, &gn.x, map, checkpoint_dir.map(|p| p.join("map.cbor")).as_deref())?;
        MapResult { iterations: gn.iterations + lbfgs.iterations, evaluations: gn.evaluations + lbfgs.evaluations, ..lbfgs }
    };
    if let Some(p) = &done_ckpt {
        checkpoint::save_cbor(p, &(x0.to_vec(), result.clone()))?;
    }
    Ok(result)
}

/// The MAP is accepted when its Newton step `Σ ∇log p` (Σ the Laplace covariance) is shorter
/// than this in the posterior's own metric: `√(∇log pᵀ Σ ∇log p)` — the distance to the
/// quadratic model's maximum in posterior standard deviations, independent of the scale of
/// `log p` (unlike the absolute gradient tolerance of L-BFGS).
pub const NEWTON_DECREMENT_TOLERANCE: f64 = 1e-2;

/// At most this many Newton steps after L-BFGS (each one evaluation plus a new Laplace
/// approximation, `2 · dim` gradient evaluations).
const MAX_NEWTON_STEPS: usize = 4;

/// `map` with value and gradient taken at `x` (one evaluation).
fn evaluated(d: &dyn LogDensity, map: MapResult, x: &[f64]) -> Result<MapResult> {
    let mut gradient = vec![0.0; d.dim()];
    let logp = d.logp_grad(x, &mut gradient)?;
    let gradient_norm = crate::linalg::norm(&gradient);
    Ok(MapResult { x: x.to_vec(), logp, gradient_norm, gradient, evaluations: map.evaluations + 1, ..map })
}

/// `√(gᵀ Σ g)` and the Newton step `Σ g`.
fn newton_step(l: &Laplace, g: &[f64]) -> (f64, Vec<f64>) {
    let n = g.len();
    let step: Vec<f64> = (0..n).map(|i| (0..n).map(|j| l.covariance[i * n + j] * g[j]).sum()).collect();
    let decrement = g.iter().zip(&step).map(|(a, b)| a * b).sum::<f64>().max(0.0).sqrt();
    (decrement, step)
}

/// Newton steps with the Laplace Hessian from the L-BFGS result until the Newton decrement is
/// below [`NEWTON_DECREMENT_TOLERANCE`] (each step halved until `log p` increases); the MAP is
/// `converged` exactly when it is. Returns the MAP and the Laplace approximation there.
fn newton_steps(d: &dyn LogDensity, mut map: MapResult, mut laplace: Laplace, step: f64, parallel: bool) -> Result<(MapResult, Laplace)> {
    if map.gradient.len() != d.dim() {
        let x = map.x.clone();
        map = evaluated(d, map, &x)?;
    }
    let (mut decrement, mut direction) = newton_step(&laplace, &map.gradient);
    for _ in 0..MAX_NEWTON_STEPS {
        if decrement <= NEWTON_DECREMENT_TOLERANCE {
            break;
        }
        let mut t = 1.0;
        let mut better = None;
        for _ in 0..8 {
            let x: Vec<f64> = map.x.iter().zip(&direction).map(|(x, s)| x + t * s).collect();
            let mut g = vec![0.0; d.dim()];
            match d.logp_grad(&x, &mut g) {
                Ok(lp) if lp.is_finite() && lp > map.logp => {
                    better = Some((x, lp, g));
                    break;
                }
                Ok(_) | Err(InverseError::NonFinite(_)) => t *= 0.5,
                Err(e) => return Err(e),
            }
            map.evaluations += 1;
        }
        let Some((x, logp, gradient)) = better else { break };
        map.evaluations += 1;
        info!(decrement, step = t, gain = logp - map.logp, "MAP: Newton step with the Laplace Hessian");
        let gradient_norm = crate::linalg::norm(&gradient);
        map = MapResult { x, logp, gradient_norm, gradient, ..map };
        laplace = Laplace::with_step_on(d, &map.x, step, parallel)?;
        (decrement, direction) = newton_step(&laplace, &map.gradient);
    }
    map.converged = decrement <= NEWTON_DECREMENT_TOLERANCE;
    if map.converged {
        info!(decrement, "MAP converged (Newton decrement in posterior standard deviations)");
    } else {
        tracing::warn!(
            decrement,
            tolerance = NEWTON_DECREMENT_TOLERANCE,
            "MAP not converged: the Newton step is still this many posterior standard deviations"
        );
    }
    Ok((map, laplace))
}

/// Posterior draws of the chains `chain_ids` (`None`: all) given the Laplace approximation
/// (checkpointed in `<checkpoint_dir>/chains` as in [`infer`]). Chains run in parallel.
pub fn draw(
    d: &dyn LogDensity,
    laplace: &Laplace,
    opts: &BayesOptions,
    checkpoint_dir: Option<&Path>,
    chain_ids: Option<&[usize]>,
) -> Result<Draws> {
    let counted = Counting { inner: d, count: AtomicU64::new(0) };
    let mut accepted = None;
    let (chains, divergences, method) = match &opts.sampler {
        Sampler::Nuts(nuts) => {
            let whitened = laplace.whiten(&counted);
            let ids: Vec<usize> = chain_ids.map_or_else(|| (0..nuts.chains).collect(), <[usize]>::to_vec);
            let dir = checkpoint_dir.map(|p| p.join("chains"));
            let traces = sample_chains(&whitened, &vec![0.0; d.dim()], &ids, nuts, dir.as_deref())?;
            let divergences = traces.iter().map(|t| t.divergences).sum();
            let chains = traces.iter().map(|t| t.draws.iter().map(|z| whitened.to_original(z)).collect()).collect();
            (chains, divergences, "bayes-nuts")
        }
        Sampler::Independence(o) => {
            let ids: Vec<usize> = chain_ids.map_or_else(|| (0..o.chains).collect(), <[usize]>::to_vec);
            let dir = checkpoint_dir.map(|p| p.join("chains"));
            let traces = independence::sample_chains(&counted, laplace, &ids, o, dir.as_deref())?;
            accepted = Some(traces.iter().map(|t| t.accepted).sum());
            (traces.into_iter().map(|t| t.draws).collect(), 0, "bayes-independence")
        }
        Sampler::Laplace { draws, seed } => (vec![laplace.draws(*draws, *seed)], 0, "bayes-laplace"),
    };
    Ok(Draws { chains, divergences, evaluations: counted.count.load(Ordering::Relaxed), accepted, method: method.into() })
}

/// The result of the stages: diagnostics of the draws of all chains, evaluations summed.
pub fn assemble(names: Vec<String>, mode: Mode, draws: Draws, wall_time_s: f64) -> BayesResult {
    let dim = names.len();
    let (rhat, ess_bulk, ess_tail) = diagnose(&draws.chains, dim);
    let total: usize = draws.chains.iter().map(Vec::len).sum();
    let acceptance = draws.accepted.map(|a| a as f64 / total.max(1) as f64);
    if let Some(rate) = acceptance {
        info!(acceptance = rate, "independence Metropolis–Hastings");
        if rate < 0.3 {
            tracing::warn!(acceptance = rate, "low acceptance: the Laplace approximation fits the posterior poorly; use NUTS");
        }
    }
    BayesResult {
        names,
        evaluations: mode.evaluations + draws.evaluations,
        map: mode.map,
        laplace: mode.laplace,
        chains: draws.chains,
        rhat,
        ess_bulk,
        ess_tail,
        divergences: draws.divergences,
        wall_time_s,
        method: draws.method,
        acceptance,
        surrogate: None,
    }
}

/// How well the reduced model of [`infer_reduced`] matched the full one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurrogateReport {
    /// Full solves used as snapshots (parameter points).
    pub snapshots: usize,
    /// Basis size per frequency and component.
    pub basis_sizes: Vec<Vec<usize>>,
    /// Reduced-model evaluations made by the sampler.
    pub reduced_evaluations: u64,
    /// Posterior draws at which the full log density was compared with the reduced one.
    pub checked_draws: usize,
    /// Largest `|log p_full − log p_reduced|` at those draws.
    pub max_logp_error: f64,
}

/// Snapshot points around the Laplace approximation: the mean, `mean ± spread·L eᵢ` and
/// `mean + spread·L (eᵢ + eⱼ)/√2` for `i < j` (`L` its Cholesky factor).
pub fn snapshot_points(l: &Laplace, spread: f64) -> Vec<Vec<f64>> {
    let n = l.mean.len();
    let along = |w: &[f64]| -> Vec<f64> {
        (0..n).map(|i| l.mean[i] + spread * (0..=i).map(|j| l.cholesky[i * n + j] * w[j]).sum::<f64>()).collect()
    };
    let mut pts = vec![l.mean.clone()];
    for i in 0..n {
        for sgn in [-1.0, 1.0] {
            let mut w = vec![0.0; n];
            w[i] = sgn;
            pts.push(along(&w));
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            let mut w = vec![0.0; n];
            w[i] = std::f64::consts::FRAC_1_SQRT_2;
            w[j] = std::f64::consts::FRAC_1_SQRT_2;
            pts.push(along(&w));
        }
    }
    pts
}

/// [`infer`] with a reduced-basis surrogate for the sampling stage: MAP and Laplace with the
/// full wave model, then [`ReducedWaveForward`] from full solves at [`snapshot_points`] (2
/// Laplace standard deviations out), the draws with the reduced posterior, and a check of
/// the full against the reduced log density at up to 8 draws spread over the chains
/// ([`SurrogateReport`]; a warning above 0.1). For posteriors with few parameters and
/// many voxels (regions), where each full evaluation needs a sparse LU per frequency.
#[allow(clippy::too_many_arguments)]
pub fn infer_reduced(
    forward: &WaveForward,
    param: &dyn Parameterisation,
    prior: &dyn Prior,
    likelihood: &dyn Likelihood,
    x0: &[f64],
    opts: &BayesOptions,
    checkpoint_dir: Option<&Path>,
    chain_ids: Option<&[usize]>,
) -> Result<BayesResult> {
    let start = Instant::now();
    let full = Posterior::new(forward, param, prior, likelihood);
    let mode = find_mode(&full, x0, opts, checkpoint_dir, true)?;
    let reduced = ReducedWaveForward::around(forward, param, &mode.laplace)?;
    let surrogate = Posterior::new(&reduced, param, prior, likelihood);
    let draws = draw(&surrogate, &mode.laplace, opts, checkpoint_dir, chain_ids)?;
    let report = check_reduced(&full, &surrogate, &reduced, &draws)?;
    Ok(assemble(param.names(), mode, draws, start.elapsed().as_secs_f64()).with_surrogate(report))
}

/// Compare the full and the reduced log density at up to 8 draws spread over the chains of
/// `draws` (made with the reduced posterior), warn above 0.1 and report.
pub fn check_reduced(
    full: &dyn LogDensity,
    reduced_posterior: &dyn LogDensity,
    reduced: &dyn crate::reduced::ReducedModel,
    draws: &Draws,
) -> Result<SurrogateReport> {
    let flat: Vec<&Vec<f64>> = draws.chains.iter().flatten().collect();
    let k = 8.min(flat.len());
    let checked: Vec<&Vec<f64>> = (0..k).map(|i| flat[i * flat.len() / k]).collect();
    let errors = checked.par_iter().map(|x| Ok((full.logp(x)? - reduced_posterior.logp(x)?).abs())).collect::<Result<Vec<f64>>>()?;
    let max_logp_error = errors.iter().copied().fold(0.0, f64::max);
    if max_logp_error > 0.1 {
        tracing::warn!(max_logp_error, "the reduced model differs from the full one at posterior draws; sample with the full model");
    }
    Ok(SurrogateReport {
        snapshots: reduced.snapshots(),
        basis_sizes: reduced.basis_sizes(),
        reduced_evaluations: draws.evaluations,
        checked_draws: checked.len(),
        max_logp_error,
    })
}

/// R̂, bulk and tail ESS per parameter (NaN where undefined, e.g. fewer than 4 draws).
pub fn diagnose(chains: &[Vec<Vec<f64>>], dim: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let per_param = |i: usize| -> Vec<Vec<f64>> { chains.iter().map(|c| c.iter().map(|x| x[i]).collect()).collect() };
    let mut out = (Vec::with_capacity(dim), Vec::with_capacity(dim), Vec::with_capacity(dim));
    for i in 0..dim {
        let c = per_param(i);
        out.0.push(diagnostics::rhat(&c).unwrap_or(f64::NAN));
        out.1.push(diagnostics::ess_bulk(&c).unwrap_or(f64::NAN));
        out.2.push(diagnostics::ess_tail(&c).unwrap_or(f64::NAN));
    }
    out
}
