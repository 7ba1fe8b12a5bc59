//! Posterior sampling by the No-U-Turn Sampler of nuts-rs, in resumable segments.
//!
//! # Segments
//!
//! nuts-rs cannot serialise a running chain, so every chain is a sequence of short, fresh
//! nuts-rs runs ("segments"), each a deterministic function of what a checkpoint holds:
//!
//! * **Warm-up windows** (`tune` draws in windows of `max(checkpoint_every, 25)` draws; a
//!   remainder shorter than 25 joins the last window): each window adapts the step size by
//!   dual averaging towards `target_accept`, starting from the previous window's step size and
//!   position. With `adapt_mass_matrix`, the diagonal scaling is re-estimated from each
//!   window's draws except the last one's (the last window adapts the step size to the final
//!   scaling).
//! * **Sampling segments** of `checkpoint_every` draws: NUTS with the adapted step size
//!   (jittered by ±10 % per draw, as nuts-rs does) and diagonal scaling held fixed.
//!
//! Segment `k` of chain `c` is seeded by `(seed, c, k)` and starts where segment `k − 1`
//! ended, so a chain depends only on `(seed, chain id, init, options)`: not on the thread
//! count, not on which other chains run in the same call (MPI ranks may each run a subset),
//! and not on whether it was interrupted.
//!
//! The scaling is a diagonal transformation `x = s ⊙ y` implemented through nuts-rs'
//! external-transformation hooks; it starts at `s = 1` (identity mass matrix), which is near
//! optimal for a [`Whitened`](crate::Whitened) density. nuts-rs' own diagonal adaptation is
//! not used: it initialises the mass matrix from the gradient at the start point, which is
//! degenerate at (or near) the MAP and would differ between segments.
//!
//! # Checkpoints
//!
//! With a checkpoint directory, chain `c` writes `chain-<c>.json` after every segment
//! (position, step size, scaling, draws so far, counters) and finally its whole trace,
//! atomically. The file carries a fingerprint of `(dim, init, options)`; a file of another run
//! is refused with [`InverseError::Checkpoint`]. A restarted run skips finished chains,
//! continues unfinished ones at their last completed segment, and produces traces
//! bit-identical to an uninterrupted run. At most one segment (`checkpoint_every` draws, or
//! one warm-up window) of work is lost by a kill. Checkpoint files are kept at the end.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mre_solver::rng::SplitMix64;
use nuts_rs::rand::rngs::ChaCha8Rng;
use nuts_rs::rand::SeedableRng;
use nuts_rs::{
    Chain, CpuLogpFunc, CpuMath, CpuMathError, FlowNutsSettings, HasDims, KineticEnergyKind, LogpError, Settings, StepSizeAdaptMethod,
    StepSizeSettings,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Fingerprint};
use crate::density::LogDensity;
use crate::error::{InverseError, Result};

/// Settings of [`sample`] and [`sample_chains`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NutsOptions {
    /// Number of chains run by [`sample`].
    pub chains: usize,
    /// Warm-up (adaptation) draws per chain, discarded; at least 10.
    pub tune: u64,
    /// Draws kept per chain.
    pub draws: u64,
    /// Random seed; chain `c` uses `(seed, c)`.
    pub seed: u64,
    /// Maximum tree depth (at most `2^max_depth − 1` leapfrog steps per draw).
    pub max_depth: u64,
    /// Target mean acceptance statistic of the step-size adaptation.
    pub target_accept: f64,
    /// Segment length in draws: the unit of checkpointing (see the module documentation).
    pub checkpoint_every: u64,
    /// Adapt a diagonal scaling (mass matrix) during warm-up. Off by default: densities in
    /// whitened coordinates want the identity.
    pub adapt_mass_matrix: bool,
    /// Standard deviation of the deterministic per-chain jitter added to `init`, in the
    /// coordinates of the density (for a whitened density: posterior standard deviations).
    pub init_jitter: f64,
    /// Stop every chain after this many segments (warm-up windows count), leaving its
    /// checkpoint to be resumed; the traces returned are then incomplete. For time-limited
    /// jobs and tests; not part of the checkpoint fingerprint.
    pub stop_after_segments: Option<u64>,
}

impl Default for NutsOptions {
    fn default() -> Self {
        Self {
            chains: 4,
            tune: 300,
            draws: 500,
            seed: 0,
            max_depth: 10,
            target_accept: 0.8,
            checkpoint_every: 100,
            adapt_mass_matrix: false,
            init_jitter: 0.1,
            stop_after_segments: None,
        }
    }
}

/// The result of one chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainTrace {
    /// Chain id.
    pub chain: usize,
    /// Post-warm-up positions, in the coordinates of the density sampled.
    pub draws: Vec<Vec<f64>>,
    /// `log p` of each draw.
    pub logp: Vec<f64>,
    /// Number of divergent transitions after warm-up.
    pub divergences: u64,
    /// The adapted step size (before the per-draw jitter).
    pub step_size: f64,
    /// The adapted diagonal scaling (standard deviations; all 1 without mass-matrix adaptation).
    pub scale: Vec<f64>,
    /// All gradient evaluations of this chain (warm-up and draws).
    pub gradient_evaluations: u64,
    /// The part of `gradient_evaluations` spent in warm-up.
    pub warmup_gradient_evaluations: u64,
    /// Whether all `draws` were drawn (false if stopped by `stop_after_segments`).
    pub complete: bool,
}

impl ChainTrace {
    /// The trace with every draw mapped by `f`, e.g. from whitened to original coordinates:
    /// `trace.mapped(|z| whitened.to_original(z))`.
    pub fn mapped(&self, f: impl Fn(&[f64]) -> Vec<f64>) -> ChainTrace {
        ChainTrace { draws: self.draws.iter().map(|d| f(d)).collect(), ..self.clone() }
    }
}

/// Parameter `k` of every chain, one `Vec` per chain (the input of [`crate::diagnostics`]).
pub fn parameter_chains(traces: &[ChainTrace], k: usize) -> Vec<Vec<f64>> {
    traces.iter().map(|t| t.draws.iter().map(|d| d[k]).collect()).collect()
}

/// Run chains `0..opts.chains`; see [`sample_chains`].
pub fn sample(d: &dyn LogDensity, init: &[f64], opts: &NutsOptions, checkpoint_dir: Option<&Path>) -> Result<Vec<ChainTrace>> {
    let ids: Vec<usize> = (0..opts.chains).collect();
    sample_chains(d, init, &ids, opts, checkpoint_dir)
}

/// Run the chains `chain_ids` in parallel (rayon), each started at `init` plus its own
/// jitter, and return their traces in the order of `chain_ids`. Each chain is a deterministic
/// function of `(opts, chain id, init)`; see the module documentation for segments and
/// checkpoints.
pub fn sample_chains(
    d: &dyn LogDensity,
    init: &[f64],
    chain_ids: &[usize],
    opts: &NutsOptions,
    checkpoint_dir: Option<&Path>,
) -> Result<Vec<ChainTrace>> {
    let n = d.dim();
    validate(n, init, chain_ids, opts)?;
    if let Some(dir) = checkpoint_dir {
        std::fs::create_dir_all(dir).map_err(|e| checkpoint::error(dir, format!("cannot create: {e}")))?;
    }
    let fingerprint = format!("{:016x}", fingerprint(n, init, opts));
    chain_ids
        .par_iter()
        .map(|&chain| {
            let path = checkpoint_dir.map(|dir| dir.join(format!("chain-{chain}.json")));
            run_chain(d, init, chain, opts, &fingerprint, path.as_deref())
        })
        .collect()
}

fn validate(n: usize, init: &[f64], chain_ids: &[usize], opts: &NutsOptions) -> Result<()> {
    if init.len() != n {
        return Err(InverseError::invalid("sampler start point", format!("length {}", init.len()), format!("length {n}")));
    }
    if init.iter().any(|v| !v.is_finite()) {
        return Err(InverseError::NonFinite("sampler start point".into()));
    }
    let mut ids = chain_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != chain_ids.len() {
        return Err(InverseError::invalid("chain ids", format!("{chain_ids:?}"), "distinct ids"));
    }
    if opts.tune < 10 || opts.draws == 0 || opts.checkpoint_every == 0 {
        return Err(InverseError::invalid(
            "sampler options",
            format!("tune {}, draws {}, checkpoint_every {}", opts.tune, opts.draws, opts.checkpoint_every),
            "tune ≥ 10, draws ≥ 1, checkpoint_every ≥ 1",
        ));
    }
    let accept_ok = opts.target_accept > 0.0 && opts.target_accept < 1.0;
    if !accept_ok || !(1..=20).contains(&opts.max_depth) {
        return Err(InverseError::invalid(
            "sampler options",
            format!("target_accept {}, max_depth {}", opts.target_accept, opts.max_depth),
            "0 < target_accept < 1 and 1 ≤ max_depth ≤ 20",
        ));
    }
    if !(opts.init_jitter >= 0.0 && opts.init_jitter.is_finite()) {
        return Err(InverseError::invalid("init_jitter", opts.init_jitter, "a finite value ≥ 0"));
    }
    Ok(())
}

/// Fingerprint of everything a chain's result depends on (except the chain id, which is in
/// the file name and in the file).
fn fingerprint(n: usize, init: &[f64], opts: &NutsOptions) -> u64 {
    Fingerprint::default()
        .str("nuts/segments/v1")
        .u64(n as u64)
        .f64s(init)
        .u64(opts.tune)
        .u64(opts.draws)
        .u64(opts.seed)
        .u64(opts.max_depth)
        .f64s(&[opts.target_accept, opts.init_jitter])
        .u64(opts.checkpoint_every)
        .u64(u64::from(opts.adapt_mass_matrix))
        .value()
}

/// One segment of the plan.
#[derive(Debug, Clone, Copy)]
struct Segment {
    warmup: bool,
    last_warmup: bool,
    len: u64,
}

/// Minimum length of a warm-up window (dual averaging needs a few draws).
const MIN_WINDOW: u64 = 25;

fn plan(opts: &NutsOptions) -> Vec<Segment> {
    let window = opts.checkpoint_every.max(MIN_WINDOW);
    let mut warm: Vec<u64> = Vec::new();
    let mut left = opts.tune;
    while left > 0 {
        let len = window.min(left);
        match warm.last_mut() {
            Some(last) if len < MIN_WINDOW => *last += len,
            _ => warm.push(len),
        }
        left -= len;
    }
    let nw = warm.len();
    let mut segments: Vec<Segment> =
        warm.into_iter().enumerate().map(|(i, len)| Segment { warmup: true, last_warmup: i + 1 == nw, len }).collect();
    let mut left = opts.draws;
    while left > 0 {
        let len = opts.checkpoint_every.min(left);
        segments.push(Segment { warmup: false, last_warmup: false, len });
        left -= len;
    }
    segments
}

/// What a chain checkpoint holds: everything the remaining segments depend on.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChainState {
    format: u32,
    fingerprint: String,
    chain: usize,
    segments_done: u64,
    position: Vec<f64>,
    step_size: f64,
    scale: Vec<f64>,
    draws: Vec<Vec<f64>>,
    logp: Vec<f64>,
    divergences: u64,
    gradient_evaluations: u64,
    warmup_gradient_evaluations: u64,
}

/// Initial step size of the first warm-up window (nuts-rs searches from here).
const INITIAL_STEP: f64 = 0.5;

fn run_chain(
    d: &dyn LogDensity,
    init: &[f64],
    chain: usize,
    opts: &NutsOptions,
    fingerprint: &str,
    path: Option<&Path>,
) -> Result<ChainTrace> {
    let segments = plan(opts);
    let mut state = match path.map(checkpoint::load_json::<ChainState>).transpose()?.flatten() {
        Some(state) => {
            let path = path.unwrap_or(Path::new(""));
            if state.format != 1 || state.fingerprint != fingerprint || state.chain != chain {
                return Err(checkpoint::error(path, "belongs to another sampler run (dimension, start point, options or chain differ)"));
            }
            if state.segments_done as usize > segments.len() || state.position.len() != init.len() {
                return Err(checkpoint::error(path, "inconsistent with the options"));
            }
            tracing::info!(chain, segments_done = state.segments_done, "chain resumes from its checkpoint");
            state
        }
        None => {
            let mut g = SplitMix64::from_words(&[opts.seed, chain as u64, 0x6a69_7474_6572]);
            let position = init.iter().map(|x| x + opts.init_jitter * g.normal()).collect();
            ChainState {
                format: 1,
                fingerprint: fingerprint.to_string(),
                chain,
                segments_done: 0,
                position,
                step_size: INITIAL_STEP,
                scale: vec![1.0; init.len()],
                draws: Vec::new(),
                logp: Vec::new(),
                divergences: 0,
                gradient_evaluations: 0,
                warmup_gradient_evaluations: 0,
            }
        }
    };

    let mut run_now = 0u64;
    while (state.segments_done as usize) < segments.len() {
        if opts.stop_after_segments.is_some_and(|stop| run_now >= stop) {
            tracing::info!(chain, segments_done = state.segments_done, "chain stopped early (stop_after_segments)");
            break;
        }
        let k = state.segments_done;
        run_segment(d, opts, chain, k, segments[k as usize], &mut state)?;
        state.segments_done += 1;
        run_now += 1;
        if let Some(path) = path {
            checkpoint::save_json(path, &state)?;
        }
    }
    let complete = state.segments_done as usize == segments.len();
    if complete {
        tracing::debug!(
            chain,
            divergences = state.divergences,
            step_size = state.step_size,
            gradient_evaluations = state.gradient_evaluations,
            "chain finished"
        );
    }
    Ok(ChainTrace {
        chain,
        draws: state.draws,
        logp: state.logp,
        divergences: state.divergences,
        step_size: state.step_size,
        scale: state.scale,
        gradient_evaluations: state.gradient_evaluations,
        warmup_gradient_evaluations: state.warmup_gradient_evaluations,
        complete,
    })
}

/// Run segment `k` of `chain` from `state` and advance `state` (not `segments_done`).
fn run_segment(d: &dyn LogDensity, opts: &NutsOptions, chain: usize, k: u64, seg: Segment, state: &mut ChainState) -> Result<()> {
    let shared = Arc::new(Shared::default());
    let func = Func { density: d, scale: Scale { std: state.scale.clone(), id: 1 }, shared: shared.clone() };
    let math = CpuMath::new(func);

    let mut step = StepSizeSettings { target_accept: opts.target_accept, ..Default::default() };
    if seg.warmup {
        step.initial_step = state.step_size;
        step.jitter = None;
    } else {
        step.adapt_options.method = StepSizeAdaptMethod::Fixed(state.step_size);
    }
    let mut settings = FlowNutsSettings {
        num_chains: 1,
        seed: opts.seed,
        num_tune: if seg.warmup { seg.len } else { 0 },
        num_draws: seg.len,
        maxdepth: opts.max_depth,
        trajectory_kind: KineticEnergyKind::Euclidean,
        gradient_clipping: None,
        ..Default::default()
    };
    settings.adapt_options.step_size_settings = step;

    let seed = SplitMix64::from_words(&[opts.seed, chain as u64, k]).next_u64();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sampler = settings.new_chain(chain as u64, math, &mut rng).map_err(|e| failure(&shared, chain, k, e))?;
    sampler.set_position(&state.position).map_err(|e| failure(&shared, chain, k, e))?;

    let mut window: Vec<Vec<f64>> = Vec::new();
    for i in 0..seg.len {
        let (position, progress) = sampler.draw().map_err(|e| failure(&shared, chain, k, e))?;
        let position = position.to_vec();
        let logp = shared
            .logp_of(&position)
            .ok_or_else(|| InverseError::Inference(format!("NUTS chain {chain}: draw at a point that was not evaluated")))?;
        if seg.warmup {
            if i + 1 == seg.len {
                state.step_size = progress.step_size;
            }
            window.push(position.clone());
        } else {
            state.divergences += u64::from(progress.diverging);
            state.draws.push(position.clone());
            state.logp.push(logp);
        }
        state.position = position;
    }
    let evaluations = shared.evaluations.load(Ordering::Relaxed);
    state.gradient_evaluations += evaluations;
    if seg.warmup {
        state.warmup_gradient_evaluations += evaluations;
        if !(state.step_size > 0.0 && state.step_size.is_finite()) {
            return Err(InverseError::Inference(format!("NUTS chain {chain}: adapted step size {}", state.step_size)));
        }
        if opts.adapt_mass_matrix && !seg.last_warmup && window.len() >= 20 {
            state.scale = adapted_scale(&window, &state.scale);
        }
        tracing::debug!(chain, segment = k, step_size = state.step_size, "warm-up window done");
    }
    Ok(())
}

/// Regularised diagonal scale from a window of draws: `sqrt((n var + 5 s²) / (n + 5))`
/// (shrinks towards the previous scale `s`, as Stan shrinks towards a constant).
fn adapted_scale(window: &[Vec<f64>], previous: &[f64]) -> Vec<f64> {
    let n = window.len() as f64;
    previous
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let col: Vec<f64> = window.iter().map(|w| w[j]).collect();
            let var = crate::diagnostics::std(&col).powi(2);
            let v = (n * var + 5.0 * s * s) / (n + 5.0);
            if v > 0.0 && v.is_finite() {
                v.sqrt()
            } else {
                *s
            }
        })
        .collect()
}

/// The error of a failed nuts-rs call: the density's own error if it caused the failure.
fn failure(shared: &Shared, chain: usize, k: u64, e: impl std::fmt::Display) -> InverseError {
    match shared.fatal.lock().ok().and_then(|mut f| f.take()) {
        Some(err) => err,
        None => InverseError::Inference(format!("NUTS chain {chain}, segment {k}: {e:#}")),
    }
}

/// State shared between a segment's driver and its density adaptor.
#[derive(Default)]
struct Shared {
    /// Gradient evaluations of this segment.
    evaluations: AtomicU64,
    /// `log p` of the points evaluated since the last draw (and of the last draw), keyed by
    /// the bits of the position, to report `log p` of each draw without another evaluation.
    seen: Mutex<HashMap<Vec<u64>, f64>>,
    /// An unrecoverable error of the density, handed back to the caller as it is.
    fatal: Mutex<Option<InverseError>>,
}

fn key(x: &[f64]) -> Vec<u64> {
    x.iter().map(|v| v.to_bits()).collect()
}

impl Shared {
    /// `log p` of a draw; forgets the other points of the trajectory.
    fn logp_of(&self, x: &[f64]) -> Option<f64> {
        let mut seen = self.seen.lock().ok()?;
        let k = key(x);
        let lp = seen.get(&k).copied()?;
        seen.clear();
        seen.insert(k, lp);
        Some(lp)
    }
}

/// The diagonal transformation `x = std ⊙ y` (nuts-rs "flow parameters").
#[derive(Debug, Clone)]
struct Scale {
    std: Vec<f64>,
    id: i64,
}

/// Error of the density as nuts-rs sees it: recoverable errors (non-finite values) end the
/// trajectory like a divergence, others stop the chain.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct DensityError {
    message: String,
    recoverable: bool,
}

impl LogpError for DensityError {
    fn is_recoverable(&self) -> bool {
        self.recoverable
    }
}

/// A [`LogDensity`] as a nuts-rs CPU density, with the fixed diagonal transformation.
struct Func<'a> {
    density: &'a dyn LogDensity,
    scale: Scale,
    shared: Arc<Shared>,
}

impl HasDims for Func<'_> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        let n = self.density.dim() as u64;
        HashMap::from([("unconstrained_parameter".to_string(), n), ("dim".to_string(), n)])
    }
}

impl Func<'_> {
    fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> std::result::Result<f64, DensityError> {
        self.shared.evaluations.fetch_add(1, Ordering::Relaxed);
        let result = self.density.logp_grad(x, grad);
        match result {
            Ok(lp) if lp.is_finite() && grad.iter().all(|g| g.is_finite()) => {
                if let Ok(mut seen) = self.shared.seen.lock() {
                    seen.insert(key(x), lp);
                }
                Ok(lp)
            }
            Ok(_) => Err(DensityError { message: "log density or gradient not finite".into(), recoverable: true }),
            Err(InverseError::NonFinite(m)) => Err(DensityError { message: m, recoverable: true }),
            Err(e) => {
                let message = e.to_string();
                if let Ok(mut fatal) = self.shared.fatal.lock() {
                    fatal.get_or_insert(e);
                }
                Err(DensityError { message, recoverable: false })
            }
        }
    }
}

impl CpuLogpFunc for Func<'_> {
    type LogpError = DensityError;
    type FlowParameters = Scale;
    type ExpandedVector = Vec<f64>;

    fn dim(&self) -> usize {
        self.density.dim()
    }

    fn logp(&mut self, position: &[f64], gradient: &mut [f64]) -> std::result::Result<f64, DensityError> {
        self.eval(position, gradient)
    }

    fn expand_vector<R: nuts_rs::rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        array: &[f64],
    ) -> std::result::Result<Vec<f64>, CpuMathError> {
        Ok(array.to_vec())
    }

    fn inv_transform_normalize(
        &mut self,
        params: &Scale,
        untransformed_position: &[f64],
        untransformed_gradient: &[f64],
        transformed_position: &mut [f64],
        transformed_gradient: &mut [f64],
    ) -> std::result::Result<f64, DensityError> {
        for (j, s) in params.std.iter().enumerate() {
            transformed_position[j] = untransformed_position[j] / s;
            transformed_gradient[j] = untransformed_gradient[j] * s;
        }
        Ok(logdet(params))
    }

    fn init_from_untransformed_position(
        &mut self,
        params: &Scale,
        untransformed_position: &[f64],
        untransformed_gradient: &mut [f64],
        transformed_position: &mut [f64],
        transformed_gradient: &mut [f64],
        _clip: Option<f64>,
    ) -> std::result::Result<(f64, f64), DensityError> {
        let logp = self.eval(untransformed_position, untransformed_gradient)?;
        let logdet = self.inv_transform_normalize(
            params,
            untransformed_position,
            untransformed_gradient,
            transformed_position,
            transformed_gradient,
        )?;
        Ok((logp, logdet))
    }

    fn init_from_transformed_position(
        &mut self,
        params: &Scale,
        untransformed_position: &mut [f64],
        untransformed_gradient: &mut [f64],
        transformed_position: &[f64],
        transformed_gradient: &mut [f64],
        _clip: Option<f64>,
    ) -> std::result::Result<(f64, f64), DensityError> {
        for (j, s) in params.std.iter().enumerate() {
            untransformed_position[j] = transformed_position[j] * s;
        }
        let logp = self.eval(untransformed_position, untransformed_gradient)?;
        for (j, s) in params.std.iter().enumerate() {
            transformed_gradient[j] = untransformed_gradient[j] * s;
        }
        Ok((logp, logdet(params)))
    }

    fn update_transformation<'b, R: nuts_rs::rand::Rng + ?Sized>(
        &'b mut self,
        _rng: &mut R,
        _untransformed_positions: impl ExactSizeIterator<Item = &'b [f64]>,
        _untransformed_gradients: impl ExactSizeIterator<Item = &'b [f64]>,
        _untransformed_logp: impl ExactSizeIterator<Item = &'b f64>,
        _params: &'b mut Scale,
    ) -> std::result::Result<(), DensityError> {
        // The scaling is fixed within a segment; it is re-estimated between warm-up windows.
        Ok(())
    }

    fn init_transformation<R: nuts_rs::rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        _untransformed_position: &[f64],
        _untransformed_gradient: &[f64],
        _chain: u64,
    ) -> std::result::Result<Scale, DensityError> {
        Ok(self.scale.clone())
    }

    fn new_transformation<R: nuts_rs::rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        _dim: usize,
        _chain: u64,
    ) -> std::result::Result<Scale, DensityError> {
        Ok(self.scale.clone())
    }

    fn transformation_id(&self, params: &Scale) -> std::result::Result<i64, DensityError> {
        Ok(params.id)
    }
}

/// `log |det ∂y/∂x| = −Σ log s`, as nuts-rs' diagonal mass matrix reports it.
fn logdet(params: &Scale) -> f64 {
    -params.std.iter().map(|s| s.ln()).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics;
    use crate::laplace::Laplace;
    use crate::map::{maximize, MapOptions};
    use crate::testing::Gaussian;

    fn target() -> Gaussian {
        Gaussian::correlated(5, 0.6, &[1.0, -2.0, 0.5, 3.0, 0.0])
    }

    type Bits = (usize, Vec<Vec<u64>>, Vec<u64>, u64, u64);

    fn bits(traces: &[ChainTrace]) -> Vec<Bits> {
        traces
            .iter()
            .map(|t| {
                (
                    t.chain,
                    t.draws.iter().map(|d| d.iter().map(|v| v.to_bits()).collect()).collect(),
                    t.logp.iter().map(|v| v.to_bits()).collect(),
                    t.step_size.to_bits(),
                    t.gradient_evaluations,
                )
            })
            .collect()
    }

    fn check_moments(g: &Gaussian, traces: &[ChainTrace], label: &str) {
        let n = g.mean.len();
        for k in 0..n {
            let chains = parameter_chains(traces, k);
            let s = diagnostics::summary(&chains).unwrap();
            let sd = g.covariance[k * n + k].sqrt();
            let mc_error = sd / s.ess_bulk.sqrt();
            assert!(s.rhat <= 1.01, "{label} x{k}: R̂ {}", s.rhat);
            assert!(s.ess_bulk > 200.0 && s.ess_tail > 200.0, "{label} x{k}: ESS {} / {}", s.ess_bulk, s.ess_tail);
            assert!((s.mean - g.mean[k]).abs() < 4.0 * mc_error, "{label} x{k}: mean {} vs {}", s.mean, g.mean[k]);
            assert!((s.std / sd - 1.0).abs() < 0.1, "{label} x{k}: std {} vs {sd}", s.std);
        }
    }

    #[test]
    fn segment_plan() {
        let lens = |tune, draws, every| {
            let opts = NutsOptions { tune, draws, checkpoint_every: every, ..Default::default() };
            plan(&opts).iter().map(|s| (s.warmup, s.last_warmup, s.len)).collect::<Vec<_>>()
        };
        assert_eq!(
            lens(75, 60, 25),
            [(true, false, 25), (true, false, 25), (true, true, 25), (false, false, 25), (false, false, 25), (false, false, 10)]
        );
        // A warm-up remainder shorter than 25 joins the last window; windows are at least 25.
        assert_eq!(lens(110, 50, 50), [(true, false, 50), (true, true, 60), (false, false, 50)]);
        assert_eq!(lens(60, 20, 10), [(true, false, 25), (true, true, 35), (false, false, 10), (false, false, 10)]);
        assert_eq!(lens(10, 5, 100), [(true, true, 10), (false, false, 5)]);
    }

    #[test]
    fn whitened_gaussian_short_warmup() {
        let g = target();
        let map = maximize(&g, &[0.0; 5], &MapOptions::default(), None).unwrap();
        let lap = Laplace::at(&g, &map.x).unwrap();
        let w = lap.whiten(&g);
        let opts = NutsOptions { tune: 100, draws: 500, seed: 7, checkpoint_every: 50, ..Default::default() };
        let traces = sample(&w, &[0.0; 5], &opts, None).unwrap();
        let original: Vec<ChainTrace> = traces.iter().map(|t| t.mapped(|z| w.to_original(z))).collect();
        check_moments(&g, &original, "whitened");
        for t in &traces {
            for (z, lp) in t.draws.iter().zip(&t.logp).step_by(97) {
                let mut grad = [0.0; 5];
                assert_eq!(w.logp_grad(z, &mut grad).unwrap().to_bits(), lp.to_bits(), "logp of the draw");
            }
        }
        for k in 0..5 {
            let s = diagnostics::summary(&parameter_chains(&original, k)).unwrap();
            eprintln!(
                "whitened x{k}: mean {:.3} std {:.3} R̂ {:.4} ESS bulk {:.0} tail {:.0}",
                s.mean, s.std, s.rhat, s.ess_bulk, s.ess_tail
            );
        }
        for t in &traces {
            assert!(t.complete && t.draws.len() == 500 && t.divergences == 0);
            eprintln!(
                "whitened chain {}: step {:.3}, gradient evaluations warm-up {} / draws {}",
                t.chain,
                t.step_size,
                t.warmup_gradient_evaluations,
                t.gradient_evaluations - t.warmup_gradient_evaluations
            );
        }
    }

    #[test]
    fn unwhitened_gaussian_with_mass_matrix() {
        let g = target();
        let opts = NutsOptions { tune: 300, draws: 500, seed: 3, adapt_mass_matrix: true, ..Default::default() };
        let traces = sample(&g, &[0.0; 5], &opts, None).unwrap();
        check_moments(&g, &traces, "unwhitened");
        for t in &traces {
            assert!(t.scale[4] > 1.5 * t.scale[0], "scale adapted: {:?}", t.scale);
            eprintln!(
                "unwhitened chain {}: step {:.3}, scale {:?}, gradient evaluations warm-up {} / draws {}",
                t.chain,
                t.step_size,
                t.scale,
                t.warmup_gradient_evaluations,
                t.gradient_evaluations - t.warmup_gradient_evaluations
            );
        }
    }

    #[test]
    fn chains_are_independent_of_each_other_and_of_threads() {
        let g = target();
        let opts = NutsOptions { tune: 60, draws: 80, seed: 11, checkpoint_every: 30, ..Default::default() };
        let all = sample_chains(&g, &[0.0; 5], &[0, 1, 2, 3], &opts, None).unwrap();
        let again = sample_chains(&g, &[0.0; 5], &[0, 1, 2, 3], &opts, None).unwrap();
        assert_eq!(bits(&all), bits(&again));
        let alone = sample_chains(&g, &[0.0; 5], &[2], &opts, None).unwrap();
        assert_eq!(bits(&alone), bits(&all[2..3]));
        let single_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let serial = single_thread.install(|| sample_chains(&g, &[0.0; 5], &[3, 1], &opts, None)).unwrap();
        assert_eq!(bits(&serial), bits(&[all[3].clone(), all[1].clone()]));
        assert_ne!(bits(&all[0..1])[0].1, bits(&all[1..2])[0].1, "chains differ");
    }

    #[test]
    fn killed_and_restarted_run_is_bit_identical() {
        let dir = std::env::temp_dir().join(format!("mre-inverse-nuts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let g = target();
        let opts = NutsOptions { chains: 2, tune: 75, draws: 90, seed: 5, checkpoint_every: 25, ..Default::default() };
        let reference = sample(&g, &[0.0; 5], &opts, None).unwrap();

        // Stop in warm-up (after 2 of 3 windows), then mid-sampling, then finish.
        let stop = |k| NutsOptions { stop_after_segments: Some(k), ..opts.clone() };
        let part = sample(&g, &[0.0; 5], &stop(2), Some(&dir)).unwrap();
        assert!(part.iter().all(|t| !t.complete && t.draws.is_empty()));
        let part = sample(&g, &[0.0; 5], &stop(3), Some(&dir)).unwrap();
        assert!(part.iter().all(|t| !t.complete && t.draws.len() == 50));
        let resumed = sample(&g, &[0.0; 5], &opts, Some(&dir)).unwrap();
        assert!(resumed.iter().all(|t| t.complete));
        assert_eq!(bits(&resumed), bits(&reference));
        // Finished chains are read back, not recomputed.
        let again = sample(&g, &[0.0; 5], &stop(0), Some(&dir)).unwrap();
        assert_eq!(bits(&again), bits(&reference));

        // A checkpoint of another run is refused.
        let other = sample(&g, &[0.0; 5], &NutsOptions { seed: 6, ..opts.clone() }, Some(&dir));
        assert!(matches!(other, Err(InverseError::Checkpoint { .. })), "{other:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A standard normal truncated to `x0 < 1`, reporting `NonFinite` beyond.
    struct Truncated;
    impl LogDensity for Truncated {
        fn dim(&self) -> usize {
            2
        }
        fn logp_grad(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
            if x[0] >= 1.0 {
                return Err(InverseError::NonFinite("outside the support".into()));
            }
            g[0] = -x[0];
            g[1] = -x[1];
            Ok(-0.5 * (x[0] * x[0] + x[1] * x[1]))
        }
    }

    #[test]
    fn non_finite_density_is_a_divergence_not_a_failure() {
        let opts = NutsOptions { chains: 2, tune: 100, draws: 300, seed: 1, ..Default::default() };
        let traces = sample(&Truncated, &[0.0, 0.0], &opts, None).unwrap();
        for t in &traces {
            assert!(t.complete && t.draws.iter().all(|d| d[0] < 1.0));
        }
    }

    /// Fails for good (not a `NonFinite`): the error reaches the caller unchanged.
    struct Broken;
    impl LogDensity for Broken {
        fn dim(&self) -> usize {
            1
        }
        fn logp_grad(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
            if x[0] > 0.5 {
                return Err(InverseError::invalid("forward model", "singular", "a regular operator"));
            }
            g[0] = -x[0];
            Ok(-0.5 * x[0] * x[0])
        }
    }

    #[test]
    fn fatal_density_error_is_returned() {
        let r = sample(&Broken, &[0.0], &NutsOptions { chains: 1, ..Default::default() }, None);
        assert!(matches!(r, Err(InverseError::InvalidInput { .. })), "{r:?}");
    }
}
