//! Maximum a posteriori estimate by L-BFGS (argmin) with a More–Thuente line search.
//!
//! The optimiser minimises `−log p`. Every evaluation of the density yields the value and
//! the gradient together, so the objective caches the last point: argmin asks for the cost
//! and the gradient separately, but each point costs one [`LogDensity::logp_grad`] call.
//!
//! A point where `log p` is not finite (or where the density reports
//! [`InverseError::NonFinite`]) has cost `+∞`; the line search then shrinks its step, so an
//! excursion out of the density's support does not abort the run.
//!
//! **Checkpoints.** With a checkpoint path, argmin's checkpointing saves the L-BFGS solver
//! (its curvature pairs and line search) and the iteration state every
//! [`MapOptions::checkpoint_every`] iterations, and once more when a run stops without
//! converging (e.g. at `max_iterations`), as CBOR (exact floats), written atomically. A run
//! that finds the file resumes from it, so a resumed run ends with the same `x`, bit for bit,
//! as an uninterrupted one. The checkpoint is tagged with `(dim, x0, memory)` and refused for
//! another problem. It is **removed** when the run converges and **kept** otherwise, so a run
//! stopped at `max_iterations` can be continued with a larger limit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use argmin::core::checkpointing::{Checkpoint, CheckpointingFrequency};
use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{CostFunction, Executor, Gradient, IterState, Problem, State, TerminationReason, TerminationStatus, KV};
use argmin::solver::linesearch::LineSearch;
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use argmin_math::ArgminScaledAdd;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Fingerprint};
use crate::density::LogDensity;
use crate::error::{InverseError, Result};

/// Settings of [`maximize`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapOptions {
    /// Maximum number of L-BFGS iterations (each one line search, usually 1–3 evaluations).
    pub max_iterations: u64,
    /// Converged when the gradient norm `‖∇ log p‖₂` falls below this.
    pub gradient_tolerance: f64,
    /// Also stop when an iteration changes `log p` by less than this (nats). The gradient
    /// tolerance is absolute, so a density of many data (`log p` of order 10⁶) can sit at its
    /// optimum with a gradient norm of order 1 that is only the round-off of its solves;
    /// changes of 10⁻⁶ nats are far below any posterior width (a shift of 10⁻³ standard
    /// deviations). Default `f64::EPSILON` (argmin's: in effect off); the Bayesian stages
    /// ([`crate::bayes::BayesOptions`]) use 1e-6.
    #[serde(default = "epsilon")]
    pub log_density_tolerance: f64,
    /// Number of curvature pairs L-BFGS keeps.
    pub memory: usize,
    /// With a checkpoint path: save the optimiser state every this many iterations.
    pub checkpoint_every: u64,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self { max_iterations: 500, gradient_tolerance: 1e-6, log_density_tolerance: f64::EPSILON, memory: 10, checkpoint_every: 10 }
    }
}

fn epsilon() -> f64 {
    f64::EPSILON
}

/// Outcome of [`maximize`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapResult {
    /// The maximiser found.
    pub x: Vec<f64>,
    /// `log p(x)`.
    pub logp: f64,
    /// `‖∇ log p(x)‖₂`.
    pub gradient_norm: f64,
    /// `∇ log p(x)` (empty in results saved before it was recorded).
    #[serde(default)]
    pub gradient: Vec<f64>,
    /// L-BFGS iterations, including those of a run this one resumed.
    pub iterations: u64,
    /// Density evaluations ([`LogDensity::logp_grad`] calls), including those of a run this
    /// one resumed.
    pub evaluations: u64,
    /// Whether the gradient tolerance or the log-density tolerance was reached.
    pub converged: bool,
}

type Solver = LBFGS<GuardedLineSearch, Vec<f64>, Vec<f64>, f64>;
type Iter = IterState<Vec<f64>, Vec<f64>, (), (), (), f64>;

/// More–Thuente line search whose first trial step is halved until the cost is finite.
///
/// More–Thuente interpolates with the cost at its trial steps and cannot handle `+∞`; a step
/// that leaves the support of the density (the usual case: the first, unit step of an
/// iteration) is therefore shortened before the search starts. The finite trial point is then
/// the search's first evaluation (served from the objective's cache).
#[derive(Clone, Serialize, Deserialize)]
struct GuardedLineSearch {
    inner: MoreThuenteLineSearch<Vec<f64>, Vec<f64>, f64>,
    direction: Option<Vec<f64>>,
    alpha: f64,
}

/// At most this many halvings of the first trial step (`2⁻⁶⁰ ≈ 1e−18`).
const MAX_HALVINGS: usize = 60;

impl LineSearch<Vec<f64>, f64> for GuardedLineSearch {
    fn search_direction(&mut self, direction: Vec<f64>) {
        self.direction = Some(direction.clone());
        self.inner.search_direction(direction);
    }
    fn initial_step_length(&mut self, alpha: f64) -> std::result::Result<(), argmin::core::Error> {
        self.alpha = alpha;
        self.inner.initial_step_length(alpha)
    }
}

impl<O> argmin::core::Solver<O, Iter> for GuardedLineSearch
where
    O: CostFunction<Param = Vec<f64>, Output = f64> + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>,
{
    fn name(&self) -> &str {
        "More-Thuente (finite first step)"
    }

    fn init(&mut self, problem: &mut Problem<O>, state: Iter) -> std::result::Result<(Iter, Option<KV>), argmin::core::Error> {
        if let (Some(x), Some(d)) = (state.get_param(), self.direction.as_ref()) {
            let mut alpha = self.alpha;
            for _ in 0..MAX_HALVINGS {
                // The same expression More–Thuente uses for its trial point (bit-identical).
                let trial: Vec<f64> = x.scaled_add(&alpha, d);
                if problem.cost(&trial)?.is_finite() {
                    break;
                }
                alpha *= 0.5;
            }
            if alpha != self.alpha {
                tracing::debug!(alpha, "first line-search step shortened to a finite log density");
            }
            self.inner.initial_step_length(alpha)?;
        }
        self.inner.init(problem, state)
    }

    fn next_iter(&mut self, problem: &mut Problem<O>, state: Iter) -> std::result::Result<(Iter, Option<KV>), argmin::core::Error> {
        self.inner.next_iter(problem, state)
    }

    fn terminate(&mut self, state: &Iter) -> TerminationStatus {
        <MoreThuenteLineSearch<Vec<f64>, Vec<f64>, f64> as argmin::core::Solver<O, Iter>>::terminate(&mut self.inner, state)
    }
}

/// A point with its cost and gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// `−log p` with a one-point cache of value and gradient.
struct Objective<'a> {
    density: &'a dyn LogDensity,
    cache: Mutex<Option<Evaluation>>,
    evaluations: Arc<AtomicU64>,
    /// The first error of the density that is not [`InverseError::NonFinite`]; argmin turns
    /// errors in the line search into a normal stop, so `maximize` returns it from here.
    fatal: Arc<Mutex<Option<InverseError>>>,
}

impl Objective<'_> {
    /// `(−log p, −∇ log p)` at `x`; `(+∞, 0)` where `log p` is not finite.
    fn eval(&self, x: &[f64]) -> std::result::Result<(f64, Vec<f64>), argmin::core::Error> {
        let mut cache = self.cache.lock().map_err(|_| argmin::core::Error::msg("objective cache poisoned"))?;
        if let Some((cx, cost, grad)) = cache.as_ref() {
            if cx.as_slice() == x {
                return Ok((*cost, grad.clone()));
            }
        }
        let n = self.density.dim();
        let mut grad = vec![0.0; n];
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let (cost, grad) = match self.density.logp_grad(x, &mut grad) {
            Ok(lp) if lp.is_finite() && grad.iter().all(|g| g.is_finite()) => (-lp, grad.iter().map(|g| -g).collect()),
            Ok(_) | Err(InverseError::NonFinite(_)) => {
                tracing::debug!("log density not finite during the line search; cost +inf");
                (f64::INFINITY, vec![0.0; n])
            }
            Err(e) => {
                let message = e.to_string();
                if let Ok(mut fatal) = self.fatal.lock() {
                    fatal.get_or_insert(e);
                }
                return Err(argmin::core::Error::msg(message));
            }
        };
        tracing::debug!(
            evaluation = self.evaluations.load(Ordering::Relaxed),
            log_density = -cost,
            gradient_norm = crate::linalg::norm(&grad),
            "MAP evaluation"
        );
        *cache = Some((x.to_vec(), cost, grad.clone()));
        Ok((cost, grad))
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, x: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.eval(x)?.0)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, x: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(x)?.1)
    }
}

/// What the checkpoint file holds besides argmin's solver and state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Header {
    format: u32,
    fingerprint: u64,
    evaluations: u64,
}

/// Whether L-BFGS can continue from `state` (it has an iterate and its gradient).
fn resumable(state: &Iter) -> bool {
    state.get_param().is_some() && state.get_gradient().is_some()
}

/// argmin [`Checkpoint`] writing `(header, solver, state)` as CBOR, atomically.
struct FileCheckpoint {
    path: PathBuf,
    every: u64,
    fingerprint: u64,
    evaluations: Arc<AtomicU64>,
}

impl FileCheckpoint {
    fn write(&self, solver: &Solver, state: &Iter) -> Result<()> {
        if !resumable(state) {
            // A state after a failed line search has no iterate; keep the previous checkpoint.
            return Ok(());
        }
        let header = Header { format: 1, fingerprint: self.fingerprint, evaluations: self.evaluations.load(Ordering::Relaxed) };
        checkpoint::save_cbor(&self.path, &(header, solver, state))
    }

    fn read(&self) -> Result<Option<(Header, Solver, Iter)>> {
        let Some((header, solver, state)) = checkpoint::load_cbor::<(Header, Solver, Iter)>(&self.path)? else {
            return Ok(None);
        };
        if !resumable(&state) {
            return Err(checkpoint::error(&self.path, "holds no iterate to resume from"));
        }
        if header.format != 1 || header.fingerprint != self.fingerprint {
            return Err(checkpoint::error(&self.path, "belongs to another optimisation (dimension, start point or memory differ)"));
        }
        Ok(Some((header, solver, state)))
    }
}

impl Checkpoint<Solver, Iter> for FileCheckpoint {
    fn save(&self, solver: &Solver, state: &Iter) -> std::result::Result<(), argmin::core::Error> {
        self.write(solver, state).map_err(|e| argmin::core::Error::msg(e.to_string()))
    }
    fn load(&self) -> std::result::Result<Option<(Solver, Iter)>, argmin::core::Error> {
        // Loading is done by `maximize` itself (it has to adjust the state).
        Ok(None)
    }
    fn frequency(&self) -> CheckpointingFrequency {
        CheckpointingFrequency::Every(self.every.max(1))
    }
}

/// Keeps the last accepted iterate, to return it if the line search gives up.
#[derive(Clone, Default)]
struct LastIterate(Arc<Mutex<Option<Iterate>>>);

/// Parameter, cost and iteration number.
type Iterate = (Vec<f64>, f64, u64);

impl Observe<Iter> for LastIterate {
    fn observe_iter(&mut self, state: &Iter, _kv: &KV) -> std::result::Result<(), argmin::core::Error> {
        if let (Some(p), Ok(mut last)) = (state.get_param(), self.0.lock()) {
            *last = Some((p.clone(), state.get_cost(), state.get_iter() + 1));
        }
        Ok(())
    }
}

fn inference(e: impl std::fmt::Display) -> InverseError {
    InverseError::Inference(format!("MAP (L-BFGS): {e}"))
}

/// Maximise `log p` from `x0` by L-BFGS. See the module documentation for checkpoints.
pub fn maximize(d: &dyn LogDensity, x0: &[f64], opts: &MapOptions, checkpoint: Option<&Path>) -> Result<MapResult> {
    let n = d.dim();
    if x0.len() != n {
        return Err(InverseError::invalid("MAP start point", format!("length {}", x0.len()), format!("length {n}")));
    }
    let bad_tolerance = |t: f64| t.is_nan() || t < 0.0;
    if opts.memory == 0 || bad_tolerance(opts.gradient_tolerance) || bad_tolerance(opts.log_density_tolerance) {
        return Err(InverseError::invalid(
            "MAP options",
            format!(
                "memory {}, gradient tolerance {}, log-density tolerance {}",
                opts.memory, opts.gradient_tolerance, opts.log_density_tolerance
            ),
            "memory ≥ 1 and non-negative tolerances",
        ));
    }
    let evaluations = Arc::new(AtomicU64::new(0));
    let fingerprint = Fingerprint::default().str("map/lbfgs").u64(n as u64).f64s(x0).u64(opts.memory as u64).value();
    let file = checkpoint.map(|path| FileCheckpoint {
        path: path.to_path_buf(),
        every: opts.checkpoint_every,
        fingerprint,
        evaluations: evaluations.clone(),
    });

    let fresh = || -> Result<Solver> {
        let line_search = GuardedLineSearch { inner: MoreThuenteLineSearch::new(), direction: None, alpha: 1.0 };
        LBFGS::new(line_search, opts.memory)
            .with_tolerance_grad(opts.gradient_tolerance)
            .and_then(|s| s.with_tolerance_cost(opts.log_density_tolerance))
            .map_err(inference)
    };
    let (solver, state) = match file.as_ref().map(FileCheckpoint::read).transpose()?.flatten() {
        Some((header, solver, mut state)) => {
            tracing::info!(iteration = state.get_iter(), "MAP resumes from its checkpoint");
            evaluations.store(header.evaluations, Ordering::Relaxed);
            state.termination_status = TerminationStatus::NotTerminated;
            (solver, state.max_iters(opts.max_iterations))
        }
        None => (fresh()?, Iter::new().param(x0.to_vec()).max_iters(opts.max_iterations)),
    };

    let fatal = Arc::new(Mutex::new(None));
    let objective = Objective { density: d, cache: Mutex::new(None), evaluations: evaluations.clone(), fatal: fatal.clone() };
    let last = LastIterate::default();
    let mut executor = Executor::new(objective, solver).configure(|_| state).add_observer(last.clone(), ObserverMode::Always);
    if let Some(file) = file {
        executor = executor.checkpointing(file);
    }

    let run = executor.run();
    // A failure of the density ends the run with its error (periodic checkpoints stay).
    if let Some(e) = fatal.lock().ok().and_then(|mut f| f.take()) {
        return Err(e);
    }
    let (x, iterations, reason, final_state) = match run {
        Ok(result) => {
            let state = result.state();
            let reason = state.get_termination_reason().cloned();
            let x = state.get_best_param().or(state.get_param()).cloned().ok_or_else(|| inference("no iterate"))?;
            let save = (result.solver().clone(), state.clone());
            (x, state.get_iter(), reason, Some(save))
        }
        Err(e) => {
            let Some((x, _, iter)) = last.0.lock().ok().and_then(|l| l.clone()) else {
                return Err(inference(e));
            };
            tracing::warn!(error = %e, iteration = iter, "L-BFGS stopped early; returning the last iterate");
            (x, iter, None, None)
        }
    };

    // The caller gets value and gradient at x exactly (also counted as an evaluation).
    let mut grad = vec![0.0; n];
    evaluations.fetch_add(1, Ordering::Relaxed);
    let logp = d.logp_grad(&x, &mut grad)?;
    let gradient_norm = crate::linalg::norm(&grad);
    let converged = matches!(reason, Some(TerminationReason::SolverConverged)) || gradient_norm <= opts.gradient_tolerance;

    if let Some(path) = checkpoint {
        if converged {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove the MAP checkpoint");
                }
                _ => {}
            }
        } else if let Some((solver, state)) = final_state {
            let file = FileCheckpoint { path: path.to_path_buf(), every: 1, fingerprint, evaluations: evaluations.clone() };
            file.write(&solver, &state)?;
        }
    }
    if !converged {
        tracing::warn!(iterations, gradient_norm, "MAP not converged");
    }
    Ok(MapResult { x, logp, gradient_norm, gradient: grad, iterations, evaluations: evaluations.load(Ordering::Relaxed), converged })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Gaussian, Rosenbrock};

    #[test]
    fn correlated_gaussian() {
        let g = Gaussian::correlated(4, 0.8, &[1.0, -2.0, 0.5, 3.0]);
        let r = maximize(&g, &[0.0; 4], &MapOptions::default(), None).unwrap();
        assert!(r.converged, "{r:?}");
        for (x, m) in r.x.iter().zip(&g.mean) {
            assert!((x - m).abs() < 1e-6, "{r:?}");
        }
        assert!(r.evaluations < 60, "{r:?}");
    }

    #[test]
    fn rosenbrock_10d() {
        let r = maximize(&Rosenbrock(10), &[-1.2; 10], &MapOptions { max_iterations: 2000, ..Default::default() }, None).unwrap();
        assert!(r.converged, "{r:?}");
        tracing::info!(?r, "10-D Rosenbrock");
        for x in &r.x {
            assert!((x - 1.0).abs() < 1e-5, "{r:?}");
        }
    }

    /// A Gaussian whose density is −∞ beyond `x0 > 1.5`, while the mode is at 1: the first
    /// line search from far away overshoots into the excluded region.
    struct Walled(Gaussian, AtomicU64);
    impl LogDensity for Walled {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn logp_grad(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
            if x[0] > 1.5 {
                self.1.fetch_add(1, Ordering::Relaxed);
                if x[1] > 0.0 {
                    return Err(InverseError::NonFinite("outside the support".into()));
                }
                return Ok(f64::NEG_INFINITY);
            }
            self.0.logp_grad(x, grad)
        }
    }

    #[test]
    fn non_finite_logp_does_not_abort() {
        // Standard deviations 0.1: the first unit step from (−1, −1) lands near (200, 200).
        let g = Gaussian::new(vec![1.0, 1.0], vec![0.01, 0.003, 0.003, 0.01]).unwrap();
        let w = Walled(g, AtomicU64::new(0));
        let r = maximize(&w, &[-1.0, -1.0], &MapOptions::default(), None).unwrap();
        assert!(r.converged, "{r:?}");
        assert!(w.1.load(Ordering::Relaxed) > 0, "the line search stepped beyond the wall");
        assert!((r.x[0] - 1.0).abs() < 1e-6 && (r.x[1] - 1.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn resume_is_bit_identical() {
        let dir = std::env::temp_dir().join(format!("mre-inverse-map-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("map.ckpt");
        let _ = std::fs::remove_file(&path);
        let d = Rosenbrock(6);
        let x0 = [-1.2, 1.0, -1.2, 1.0, -1.2, 1.0];
        let opts = MapOptions { max_iterations: 1000, checkpoint_every: 4, ..Default::default() };
        let full = maximize(&d, &x0, &opts, None).unwrap();
        assert!(full.converged && full.iterations > 20, "{full:?}");

        // Interrupted after 13 iterations (not a multiple of checkpoint_every), then resumed.
        let part = maximize(&d, &x0, &MapOptions { max_iterations: 13, ..opts.clone() }, Some(&path)).unwrap();
        assert!(!part.converged && path.exists());
        let resumed = maximize(&d, &x0, &opts, Some(&path)).unwrap();
        assert_eq!(resumed.iterations, full.iterations);
        assert_eq!(resumed.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), full.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        assert!(!path.exists(), "converged run removes its checkpoint");

        // A crash (the density fails for good after 40 evaluations) leaves the periodic
        // checkpoint; resuming from it still ends bit-identically.
        struct Crashing(Rosenbrock, AtomicU64);
        impl LogDensity for Crashing {
            fn dim(&self) -> usize {
                self.0.dim()
            }
            fn logp_grad(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
                if self.1.fetch_add(1, Ordering::Relaxed) >= 40 {
                    return Err(InverseError::Inference("simulated crash".into()));
                }
                self.0.logp_grad(x, grad)
            }
        }
        let crashed = maximize(&Crashing(d, AtomicU64::new(0)), &x0, &opts, Some(&path));
        assert!(matches!(crashed, Err(InverseError::Inference(ref m)) if m == "simulated crash"), "{crashed:?}");
        assert!(path.exists());
        let resumed = maximize(&d, &x0, &opts, Some(&path)).unwrap();
        assert_eq!(resumed.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), full.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>());

        // A checkpoint of another problem is refused.
        maximize(&d, &x0, &MapOptions { max_iterations: 5, ..opts.clone() }, Some(&path)).unwrap();
        let other = maximize(&d, &[0.0; 6], &opts, Some(&path));
        assert!(matches!(other, Err(InverseError::Checkpoint { .. })), "{other:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
