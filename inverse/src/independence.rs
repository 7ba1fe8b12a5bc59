//! Independence Metropolis–Hastings with a heavy-tailed Laplace proposal.
//!
//! For posteriors that are close to Gaussian (region moduli fitted to thousands of voxels),
//! the Laplace approximation `N(θ_MAP, Σ)` is an excellent proposal: draw
//! `θ' = θ_MAP + L z √(ν/w)` (a multivariate Student-t with ν degrees of freedom, heavier-tailed
//! than the posterior, so the importance ratio stays bounded and the chain is uniformly
//! ergodic) and accept with probability `min(1, p(θ') q(θ) / (p(θ) q(θ')))`. The chain targets
//! the exact posterior; each draw costs one log-density evaluation without a gradient
//! ([`LogDensity::logp`]: forward solves only), against several gradient evaluations per NUTS
//! draw. The acceptance rate measures how good the approximation is; with a poor one the
//! chain sticks (low ESS, high R̂) — use NUTS then.
//!
//! Each chain is a deterministic function of (seed, chain id, Laplace approximation);
//! chains run in parallel and checkpoint every `checkpoint_every` draws.

use std::path::Path;

use mre_solver::rng::SplitMix64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Fingerprint};
use crate::density::LogDensity;
use crate::error::{InverseError, Result};
use crate::laplace::Laplace;

/// Settings of [`sample_chains`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndependenceOptions {
    /// Number of chains.
    pub chains: usize,
    /// Draws kept per chain (the chain starts at a draw from the proposal; no warm-up needed).
    pub draws: u64,
    /// Random seed; chain `c` uses `(seed, c)`.
    pub seed: u64,
    /// Degrees of freedom ν of the Student-t proposal.
    pub dof: u32,
    /// Scale of the proposal relative to the Laplace covariance (≥ 1 widens it).
    pub scale: f64,
    /// Checkpoint every this many draws.
    pub checkpoint_every: u64,
}

impl Default for IndependenceOptions {
    fn default() -> Self {
        Self { chains: 4, draws: 250, seed: 0, dof: 8, scale: 1.1, checkpoint_every: 25 }
    }
}

/// One chain's draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndependenceTrace {
    /// Chain id.
    pub chain: usize,
    /// Draws (θ).
    pub draws: Vec<Vec<f64>>,
    /// `log p` of each draw.
    pub logp: Vec<f64>,
    /// Accepted proposals.
    pub accepted: u64,
    /// Log-density evaluations.
    pub evaluations: u64,
}

/// Chain state saved in the checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    fingerprint: u64,
    trace: IndependenceTrace,
    current: Vec<f64>,
    current_logp: f64,
    current_logq: f64,
}

/// A Student-t proposal draw: `(θ, log q(θ))` (up to a constant) for draw `k` of `chain`.
fn propose(l: &Laplace, opts: &IndependenceOptions, chain: usize, k: u64) -> (Vec<f64>, f64) {
    let n = l.mean.len();
    let mut rng = SplitMix64::from_words(&[opts.seed, chain as u64, k, 0x696e_6465_7065_6e64]);
    let z: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let w: f64 = (0..opts.dof).map(|_| rng.normal().powi(2)).sum();
    let nu = f64::from(opts.dof);
    let t = (nu / w).sqrt() * opts.scale;
    let x = (0..n).map(|i| l.mean[i] + t * (0..=i).map(|j| l.cholesky[i * n + j] * z[j]).sum::<f64>()).collect();
    // Mahalanobis distance of x in proposal units: |z|² t² / scale².
    let m2 = z.iter().map(|v| v * v).sum::<f64>() * t * t / (opts.scale * opts.scale);
    (x, -0.5 * (nu + n as f64) * (1.0 + m2 / nu).ln())
}

/// Run the chains `chain_ids` (in parallel) with proposals from `laplace`.
pub fn sample_chains(
    d: &dyn LogDensity,
    laplace: &Laplace,
    chain_ids: &[usize],
    opts: &IndependenceOptions,
    checkpoint_dir: Option<&Path>,
) -> Result<Vec<IndependenceTrace>> {
    if opts.dof == 0 || !(opts.scale > 0.0 && opts.scale.is_finite()) || opts.draws == 0 || opts.checkpoint_every == 0 {
        return Err(InverseError::invalid(
            "independence sampler",
            format!("{opts:?}"),
            "dof ≥ 1, scale > 0, draws ≥ 1, checkpoint_every ≥ 1",
        ));
    }
    if laplace.mean.len() != d.dim() {
        return Err(InverseError::invalid("Laplace approximation", laplace.mean.len(), format!("dimension {}", d.dim())));
    }
    if let Some(dir) = checkpoint_dir {
        std::fs::create_dir_all(dir).map_err(|e| checkpoint::error(dir, format!("cannot create: {e}")))?;
    }
    let fp = Fingerprint::default()
        .str("independence")
        .u64(d.dim() as u64)
        .f64s(&laplace.mean)
        .f64s(&laplace.cholesky)
        .u64(opts.seed)
        .u64(u64::from(opts.dof))
        .f64s(&[opts.scale])
        .value();
    chain_ids.par_iter().map(|&c| run_chain(d, laplace, c, opts, fp, checkpoint_dir)).collect()
}

fn run_chain(
    d: &dyn LogDensity,
    l: &Laplace,
    chain: usize,
    opts: &IndependenceOptions,
    fp: u64,
    dir: Option<&Path>,
) -> Result<IndependenceTrace> {
    let path = dir.map(|p| p.join(format!("independence-chain-{chain}.json")));
    let mut state = match path.as_deref().map(checkpoint::load_json::<State>).transpose()?.flatten() {
        Some(s) if s.fingerprint == fp => s,
        Some(_) => {
            return Err(checkpoint::error(
                path.as_deref().unwrap_or(Path::new("")),
                "belongs to another run (different data, model, seed or settings); remove it to start afresh",
            ))
        }
        None => {
            // Start at the first proposal that has a finite density.
            let mut k = 0u64;
            let mut evaluations = 0;
            loop {
                let (x, lq) = propose(l, opts, chain, u64::MAX - k);
                evaluations += 1;
                match d.logp(&x) {
                    Ok(lp) if lp.is_finite() => {
                        break State {
                            fingerprint: fp,
                            trace: IndependenceTrace { chain, draws: Vec::new(), logp: Vec::new(), accepted: 0, evaluations },
                            current: x,
                            current_logp: lp,
                            current_logq: lq,
                        }
                    }
                    Ok(_) | Err(InverseError::NonFinite(_)) if k < 100 => k += 1,
                    Ok(lp) => return Err(InverseError::NonFinite(format!("no finite start point among 100 proposals (last log p {lp})"))),
                    Err(e) => return Err(e),
                }
            }
        }
    };
    while (state.trace.draws.len() as u64) < opts.draws {
        let k = state.trace.draws.len() as u64;
        let (x, lq) = propose(l, opts, chain, k);
        let lp = match d.logp(&x) {
            Ok(v) => v,
            Err(InverseError::NonFinite(_)) => f64::NEG_INFINITY,
            Err(e) => return Err(e),
        };
        state.trace.evaluations += 1;
        let log_ratio = (lp - lq) - (state.current_logp - state.current_logq);
        let mut rng = SplitMix64::from_words(&[opts.seed, chain as u64, k, 0x6163_6365_7074]);
        if lp.is_finite() && rng.uniform().ln() < log_ratio {
            state.current = x;
            state.current_logp = lp;
            state.current_logq = lq;
            state.trace.accepted += 1;
        }
        state.trace.draws.push(state.current.clone());
        state.trace.logp.push(state.current_logp);
        let done = state.trace.draws.len() as u64;
        if let Some(p) = &path {
            if done % opts.checkpoint_every == 0 || done == opts.draws {
                checkpoint::save_json(p, &state)?;
            }
        }
    }
    Ok(state.trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Gaussian;

    #[test]
    fn samples_a_gaussian_and_resumes_bit_identically() {
        let g = Gaussian::correlated(3, 0.6, &[1.0, -2.0, 0.5]);
        let l = Laplace::at(&g, &[1.0, -2.0, 0.5]).unwrap();
        let opts = IndependenceOptions { draws: 2000, ..IndependenceOptions::default() };
        let t = sample_chains(&g, &l, &[0, 1], &opts, None).unwrap();
        let all: Vec<&Vec<f64>> = t.iter().flat_map(|c| &c.draws).collect();
        for (i, m) in [1.0, -2.0, 0.5].iter().enumerate() {
            let mean = all.iter().map(|x| x[i]).sum::<f64>() / all.len() as f64;
            assert!((mean - m).abs() < 0.1, "mean {mean} vs {m}");
        }
        assert!(
            t.iter().all(|c| c.accepted as f64 > 0.5 * opts.draws as f64),
            "acceptance {:?}",
            t.iter().map(|c| c.accepted).collect::<Vec<_>>()
        );
        // Resume: a run stopped after 40 draws (simulated by a short first run) continues identically.
        let dir = tempfile_dir();
        let short = IndependenceOptions { draws: 40, ..opts.clone() };
        sample_chains(&g, &l, &[1], &short, Some(&dir)).unwrap();
        let resumed = sample_chains(&g, &l, &[1], &opts, Some(&dir)).unwrap();
        assert_eq!(resumed[0], t[1]);
        // Chain 1 alone equals chain 1 of [0, 1].
        assert_eq!(sample_chains(&g, &l, &[1], &opts, None).unwrap()[0], t[1]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("mre-inverse-independence-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
