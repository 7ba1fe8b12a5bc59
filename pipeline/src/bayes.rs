//! The Bayesian inversion of an mre-data set with mre-inverse (`mre-sim invert --method
//! bayes`): the plain MAP, the approximation-error model there, MAP and Laplace with it,
//! posterior draws, and the mre-result with posterior mean, standard deviation, 90 %
//! intervals, draws and diagnostics. Runs on the ranks of a communicator; bit-identical for
//! any number of ranks and threads.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mre_inverse::bayes::{
    assemble, check_reduced, draw, find_mode_with, gauss_newton_then_lbfgs, BayesOptions as StageOptions, BayesResult, HessianFn, Mode,
    Sampler,
};
use mre_inverse::bulk::FixedLast;
use mre_inverse::checkpoint::{self, Fingerprint};
use mre_inverse::distributed::{self, DistributedPosterior};
use mre_inverse::gauss_newton::{self, GaussNewtonOptions};
use mre_inverse::independence::IndependenceOptions;
use mre_inverse::map::MapResult;
use mre_inverse::map::{maximize, MapOptions};
use mre_inverse::model_check::{wave_forward_response, ModelCheck, NoiseResponse, Replicates};
use mre_inverse::model_error::{
    likelihood_from_state, model_error_state, navier_model_error_state, ModelErrorOptions, ModelErrorReport, ModelErrorState,
};
use mre_inverse::nuts::NutsOptions;
use mre_inverse::options::Choice;
use mre_inverse::reduced::{ReducedModel, ReducedWaveForward};
use mre_inverse::reduced_navier::ReducedNavierForward;
use mre_inverse::summary::{describe, moduli_stats};
use mre_inverse::LogDensity;
use mre_inverse::{ActuatorDrive, ActuatorForward};
use mre_inverse::{BulkModulusPrior, WithBulkModulus};
use mre_inverse::{
    EncodedImages, Field, ForwardModel, Gmrf, ImageGaussian, IndependentNormal, Likelihood, Measurements, NavierForward, Noise,
    Parameterisation, Posterior, Prior, Regions, WaveForward, WaveGaussian,
};
use mre_io::crop::Crop;
use mre_io::hdf5::{MreResult, RegionSummary, ResultProvenance};
use mre_solver::classic;
use mre_solver::parallel::Comm;
use mre_solver::wave::{SolveCost, WaveEquation};
use ndarray::{Array3, Array5, Axis};
use num_complex::Complex64;
use tracing::{info, warn};

pub use mre_inverse::options::{BulkModulus, DriveKind, LikelihoodKind, ModelErrorKind, ModelKind, Parameterization, SamplerKind};

use crate::error::{agree, ErrorKind, PipelineError, Result};
use crate::input::WaveInput;
use crate::model_check::CheckInput;

/// Options of the Bayesian inversion; `Default` gives the defaults of `mre-sim invert
/// --method bayes`.
#[derive(Debug, Clone, PartialEq)]
pub struct BayesOptions {
    /// Parameterisation (`None`: regions when the data have `/labels`, field otherwise).
    pub parameterization: Option<Parameterization>,
    /// Likelihood.
    pub likelihood: LikelihoodKind,
    /// Posterior sampler (regions).
    pub sampler: SamplerKind,
    /// Forward model: prescribed measured boundary, or the full domain driven by an actuator.
    pub drive: DriveKind,
    /// Driven face(s) for [`DriveKind::Actuator`]: `x-`, `x+`, `y-`, `y+`, `z-`, `z+`
    /// (`[z, y, x]` grid axes).
    pub drive_faces: Vec<String>,
    /// Absorbing layer added outside every other face for [`DriveKind::Actuator`], voxels.
    pub pml_voxels: usize,
    /// Sample with the full wave model instead of the reduced-basis model (regions; slower;
    /// the reduced model is checked against the full one at 8 draws either way).
    pub full_model: bool,
    /// Approximation-error model (regions with the measured boundary and the wave likelihood).
    pub model_error: ModelErrorKind,
    /// Forward model with the measured boundary: scalar per component, Navier (all components
    /// together), or chosen from the data's components ([`ModelKind::Auto`]).
    pub model: ModelKind,
    /// Bulk modulus of the Navier model: inferred as a nuisance parameter (the default), nearly
    /// incompressible, or given in Pa. Ignored by the scalar model.
    pub bulk_modulus: BulkModulus,
    /// Chains (regions).
    pub chains: usize,
    /// NUTS warm-up draws per chain (regions, NUTS).
    pub tune: u64,
    /// Posterior draws per chain (regions), or Laplace draws (field).
    pub draws: u64,
    /// Random seed (draws depend only on it, not on threads or ranks).
    pub seed: u64,
    /// Control-node spacing of the field parameterisation, voxels (`None`: about 16 nodes per axis).
    pub field_spacing: Option<usize>,
    /// Expected change of log G between neighbouring field nodes (GMRF smoothness, natural log).
    pub smoothness: f64,
    /// Prior median of G', Pa.
    pub prior_storage_pa: f64,
    /// Prior median of G'', Pa.
    pub prior_loss_pa: f64,
    /// Prior width of log G' and log G'' (natural log; 2 = a factor 7.4 either way at 1σ).
    pub prior_log_std: f64,
    /// Draws per checkpoint segment (regions): a kill loses at most this many draws per
    /// chain. Part of the run's definition: a resumed run must use the same value.
    pub checkpoint_every: u64,
}

impl Default for BayesOptions {
    fn default() -> Self {
        Self {
            parameterization: None,
            likelihood: LikelihoodKind::Wave,
            sampler: SamplerKind::Independence,
            drive: DriveKind::Boundary,
            drive_faces: vec!["x-".into()],
            pml_voxels: 10,
            full_model: false,
            model_error: ModelErrorKind::Auto,
            model: ModelKind::Auto,
            bulk_modulus: BulkModulus::Infer,
            chains: 4,
            tune: 150,
            draws: 250,
            seed: 1,
            field_spacing: None,
            smoothness: 0.15,
            prior_storage_pa: 3000.0,
            prior_loss_pa: 1000.0,
            prior_log_std: 2.0,
            checkpoint_every: 50,
        }
    }
}

impl BayesOptions {
    /// Refuses options that cannot give a posterior, naming the option (`--chains 0: …`): the
    /// counts through [`mre_inverse::options::check_counts`] (the check of `[invert]` in a run
    /// config too), `checkpoint_every` at least 1, and positive finite prior medians, prior
    /// width and smoothness. Called by [`run`] before any work.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] naming the first bad option and what is expected.
    pub fn validate(&self) -> Result<()> {
        let flag = |key: &str| format!("--{}", key.replace('_', "-"));
        let as_u64 = |v: usize| v as u64;
        mre_inverse::options::check_counts(Some(as_u64(self.chains)), Some(self.tune), Some(self.draws), self.field_spacing.map(as_u64))
            .map_err(|e| {
                PipelineError::invalid(format!("{} {}: expected {} ([invert] {} in a config)", flag(e.key), e.value, e.expected, e.key))
            })?;
        if self.checkpoint_every == 0 {
            return Err(PipelineError::invalid("--checkpoint-every 0: expected at least 1 draw per checkpoint segment"));
        }
        mre_inverse::options::check_positive(&[
            ("prior_storage_pa", Some(self.prior_storage_pa)),
            ("prior_loss_pa", Some(self.prior_loss_pa)),
            ("prior_log_std", Some(self.prior_log_std)),
            ("smoothness", Some(self.smoothness)),
        ])
        .map_err(|(key, v)| {
            PipelineError::invalid(format!("{} {v}: expected a positive finite number ([invert] {key} in a config)", flag(key)))
        })?;
        Ok(())
    }
}

fn invalid(source: &str, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::invalid(format!("{source}: {e}"))
}

fn failure(e: impl std::error::Error + 'static) -> PipelineError {
    PipelineError::from_error(ErrorKind::Failure, &e)
}

/// The pieces of the posterior and how to sample it, built from the data and options.
struct Setup {
    forward: Forward,
    likelihood: Box<dyn Likelihood>,
    param: Box<dyn Parameterisation>,
    prior: Box<dyn Prior>,
    sampler: Sampler,
    kind: Parameterization,
    /// Starting point: G' and G'', Pa.
    start_pa: (f64, f64),
    /// The approximation-error model to build after a first MAP, with what it needs.
    model_error: Option<ModelErrorPlan>,
    /// The measurements and the known noise level (if the likelihood uses one), for the model check.
    meas: Measurements,
    known_noise: Option<Vec<f64>>,
    /// The forward model used (never [`ModelKind::Auto`]).
    model: ModelKind,
    /// Whether the last parameter is `log K` (the Navier model with the bulk modulus inferred).
    bulk_inferred: bool,
}

/// The data and options of one run.
struct BayesRun<'a> {
    input: &'a WaveInput,
    args: &'a BayesOptions,
}

/// What the approximation-error model is built from.
struct ModelErrorPlan {
    meas: Measurements,
    regions: Regions,
    noise: Noise,
    options: ModelErrorOptions,
}

/// The largest refined grid (voxels) `--model-error auto` solves on.
const MAX_REFINED_VOXELS: usize = 2_000_000;

/// The largest refined 2-D grid (voxels) `--model-error auto` solves on with the Navier model
/// (direct LU of the u–p system: about 2.5 GB at 256²; 382², the 3× grid of 128² data: 9.3 GB peak on 2 threads).
const MAX_REFINED_NAVIER_VOXELS: usize = 150_000;

/// The largest refined 3-D grid (voxels) `--model-error auto` solves on with the Navier model:
/// 24³ (solved iteratively above 16³ since the inversion's Navier model has the iterative
/// solver). Not more: the solves would fit up to ~64³ (86 s and 1.2 GB on one core), but the 3-D
/// discretisation term made both 3-D checks worse where it became possible — the 8³ sphere with
/// the 5× grid (36³) too, −2.9 / −12.0 % instead of −2.4 / −10.9 %, and the 16³ box of
/// `configs/brain-3d.toml` with its 3× grid (46³), −3.3 / −5.8 % instead of −0.3 / −0.8 %.
const MAX_REFINED_NAVIER_VOXELS_3D: usize = 24 * 24 * 24;

/// The forward model the options ask for.
enum Forward {
    Boundary(WaveForward),
    Actuator(ActuatorForward),
    Navier(NavierForward),
}

impl Forward {
    fn model(&self) -> &dyn ForwardModel {
        match self {
            Forward::Boundary(f) => f,
            Forward::Actuator(f) => f,
            Forward::Navier(f) => f,
        }
    }
}

/// The forward model `--model` resolves to for these data: [`ModelKind::Auto`] is Navier
/// when the drive is the measured boundary and the data have a displacement component along
/// every axis with more than one voxel (both in-plane components of a slice, all three in
/// 3-D), scalar otherwise. Never [`ModelKind::Auto`].
pub fn resolve_model(model: ModelKind, drive: DriveKind, shape: [usize; 3], components: &str) -> ModelKind {
    match model {
        ModelKind::Auto if drive == DriveKind::Boundary && mre_inverse::navier::navier_supported(shape, components) => ModelKind::Navier,
        ModelKind::Auto => ModelKind::Scalar,
        other => other,
    }
}

fn build(r: &BayesRun<'_>) -> Result<Setup> {
    let d = &r.input.data;
    let a = r.args;
    let sh = r.input.mask.shape();
    let grid = mre_solver::model::phantom::Grid::new([sh[0], sh[1], sh[2]], d.voxel_size_m).map_err(|e| invalid(&r.input.source, e))?;
    let images = match (a.likelihood, &d.images) {
        (LikelihoodKind::Images, Some(im)) => Some(EncodedImages {
            images: im.clone(),
            encoding_rad_per_m: d
                .encoding_efficiency_rad_per_m
                .iter()
                .zip(&d.encoding_phase_rad)
                .map(|(&m, &p)| Complex64::from_polar(m, p))
                .collect(),
        }),
        (LikelihoodKind::Images, None) => {
            return Err(invalid(&r.input.source, "--likelihood images needs dataset /images, which this file does not have"))
        }
        _ => None,
    };
    let meas = Measurements {
        grid,
        frequencies_hz: d.frequencies_hz.clone(),
        density_kg_m3: d.density_kg_m3,
        wave: r.input.wave.clone(),
        mask: r.input.mask.clone(),
        noise_std: d.noise_std.clone(),
        images,
    };
    let model = resolve_model(a.model, a.drive, [sh[0], sh[1], sh[2]], &d.components);
    if model == ModelKind::Navier && a.drive != DriveKind::Boundary {
        return Err(PipelineError::invalid(
            "--model navier works with --drive boundary only (the actuator drive has a scalar model only); use --model scalar with --drive actuator",
        ));
    }
    if model == ModelKind::Navier {
        // The Navier forward model factorises the u–p system on 2-D and small 3-D data grids
        // (sparse LU) and solves larger 3-D grids iteratively (`NavierForward::with_solver`),
        // keeping one solver per frequency: a volume beyond the memory budget is refused here,
        // before anything runs, rather than by the allocator.
        let shape = [sh[0], sh[1], sh[2]];
        let nf = d.frequencies_hz.len();
        let cost = SolveCost::measured_boundary(WaveEquation::Navier, shape);
        let bytes = cost.grid_bytes(shape) * nf as f64;
        let kind = if cost.iterative { "iterative solvers" } else { "direct solves" };
        mre_solver::limits::check_memory(
            &format!("the Navier forward model on the data grid {shape:?} ({kind}, one kept per frequency: {nf})"),
            bytes as u128,
        )
        .map_err(|e| {
            PipelineError::invalid(format!(
                "{}: {e}; crop the data to a region of interest{}, use --model scalar, or a classic method (--method mdev)",
                r.input.source,
                proposed_crop(r.input)
            ))
        })?;
        if cost.iterative {
            // Each solve an iteration, not a triangular solve with a kept factor: say what it
            // costs before the hours start, and how to get a result in minutes.
            let seconds = cost.seconds(shape.iter().map(|&n| n as f64).product(), true).unwrap_or(0.0);
            warn!(
                "{}: the Navier model solves the {shape:?} volume iteratively, about {seconds:.0} s per solve on one core, and a \
                 regions posterior takes a few hundred solves; to get a result in minutes, crop the data to a region of interest{}",
                r.input.source,
                proposed_crop(r.input)
            );
        }
    }
    info!(model = model.name(), components = %d.components, "forward model");
    let forward = match a.drive {
        DriveKind::Boundary if model == ModelKind::Navier => Forward::Navier(
            NavierForward::with_bulk_modulus(&meas, &d.components, fixed_bulk_modulus(a.bulk_modulus))
                .map_err(|e| PipelineError::invalid(format!("{}: --model navier (or [invert] model = \"navier\"): {e}", r.input.source)))?,
        ),
        DriveKind::Boundary => Forward::Boundary(WaveForward::new(&meas).map_err(|e| invalid(&r.input.source, e))?),
        DriveKind::Actuator => {
            let faces = a
                .drive_faces
                .iter()
                .map(|f| {
                    ActuatorDrive::parse_face(f)
                        .ok_or_else(|| PipelineError::invalid(format!("--drive-face {f}: expected x-, x+, y-, y+, z- or z+")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let drive = ActuatorDrive { faces, pml_voxels: a.pml_voxels };
            Forward::Actuator(ActuatorForward::new(&meas, &drive).map_err(|e| invalid(&r.input.source, e))?)
        }
    };
    let predicted = forward.model().predicted();
    if !predicted.iter().any(|&p| p) {
        return Err(invalid(
            &r.input.source,
            "no voxel of the mask lies inside its boundary layer: the wave model has nothing to predict (the mask or the grid is too small)",
        ));
    }
    let noise = match &d.noise_std {
        Some(s) if a.likelihood == LikelihoodKind::Wave => Noise::Known(s.clone()),
        _ => Noise::Inferred,
    };
    let likelihood: Box<dyn Likelihood> = match a.likelihood {
        LikelihoodKind::Wave => Box::new(WaveGaussian::new(&meas, predicted, noise.clone()).map_err(|e| invalid(&r.input.source, e))?),
        LikelihoodKind::Images => Box::new(ImageGaussian::new(&meas, predicted, noise.clone()).map_err(|e| invalid(&r.input.source, e))?),
    };
    let kind = match (a.parameterization, &d.labels) {
        (Some(p), _) => p,
        (None, Some(_)) => Parameterization::Regions,
        (None, None) => Parameterization::Field,
    };
    if kind == Parameterization::Field && a.drive == DriveKind::Actuator {
        return Err(PipelineError::invalid(
            "--drive actuator works with --parameterization regions only (the field's Gauss–Newton uncertainty uses the measured-boundary model)",
        ));
    }
    let (g0, l0) = initial_moduli(&meas, &r.input.wave);
    info!(storage_pa = g0, loss_pa = l0, "starting point (median of a filtered AHI)");
    // The region map, kept for the approximation-error model.
    let mut region_map = None;
    let (param, prior, sampler): (Box<dyn Parameterisation>, Box<dyn Prior>, Sampler) = match kind {
        Parameterization::Regions => {
            let labels = d.labels.as_ref().ok_or_else(|| {
                invalid(&r.input.source, "--parameterization regions needs dataset /labels (a label per voxel), which this file does not have; use --parameterization field")
            })?;
            let regions = Regions::new(labels, &r.input.mask).map_err(|e| invalid(&r.input.source, e))?;
            check_regions(r, labels, &regions, &forward)?;
            let prior = IndependentNormal::log_moduli(regions.len(), a.prior_storage_pa, a.prior_loss_pa, a.prior_log_std)
                .map_err(|e| invalid(&r.input.source, e))?;
            let sampler = match a.sampler {
                SamplerKind::Nuts => Sampler::Nuts(NutsOptions {
                    chains: a.chains,
                    tune: a.tune,
                    draws: a.draws,
                    seed: a.seed,
                    checkpoint_every: a.checkpoint_every,
                    ..NutsOptions::default()
                }),
                SamplerKind::Independence => Sampler::Independence(IndependenceOptions {
                    chains: a.chains,
                    draws: a.draws,
                    seed: a.seed,
                    checkpoint_every: a.checkpoint_every,
                    ..IndependenceOptions::default()
                }),
            };
            region_map = Some(regions.clone());
            (Box::new(regions), Box::new(prior), sampler)
        }
        Parameterization::Field => {
            let n_max = sh.iter().copied().max().unwrap_or(1);
            let spacing = a.field_spacing.unwrap_or_else(|| (n_max.saturating_sub(1)).div_ceil(16).max(1));
            let field = Field::new([sh[0], sh[1], sh[2]], spacing).map_err(|e| invalid(&r.input.source, e))?;
            let dim = 2 * field.nodes().iter().map(|&n| n as u128).product::<u128>();
            let what =
                format!("{}: the field's {dim} parameters (spacing {spacing} voxels) in the Gauss–Newton Laplace stage", r.input.source);
            mre_solver::limits::check_memory(&what, 3 * dim * dim * 8 + u128::from(a.draws) * dim * 8)
                .map_err(|e| PipelineError::invalid(e.to_string()))?;
            let prior = Gmrf::new(
                field.nodes(),
                vec![(a.prior_storage_pa.ln(), a.smoothness, a.prior_log_std), (a.prior_loss_pa.ln(), a.smoothness, a.prior_log_std)],
            )
            .map_err(|e| invalid(&r.input.source, e))?;
            (Box::new(field), Box::new(prior), Sampler::Laplace { draws: a.draws as usize, seed: a.seed })
        }
    };
    let bulk_inferred = model == ModelKind::Navier && a.bulk_modulus == BulkModulus::Infer;
    let (param, prior): (Box<dyn Parameterisation>, Box<dyn Prior>) = if bulk_inferred {
        info!(
            prior_median_pa = mre_inverse::bulk::PRIOR_MEDIAN_PA,
            prior_log_std = mre_inverse::bulk::PRIOR_LOG_STD,
            "bulk modulus inferred as a nuisance parameter (one global log K)"
        );
        let param = WithBulkModulus::new(param, mre_inverse::bulk::PRIOR_MEDIAN_PA).map_err(|e| invalid(&r.input.source, e))?;
        (Box::new(param), Box::new(BulkModulusPrior::broad(prior)))
    } else {
        if model == ModelKind::Navier {
            info!(bulk_modulus_pa = fixed_bulk_modulus(a.bulk_modulus), "bulk modulus fixed");
        }
        (param, prior)
    };
    let model_error = match (a.model_error, region_map, a.drive, a.likelihood) {
        (ModelErrorKind::Auto, Some(regions), DriveKind::Boundary, LikelihoodKind::Wave) => {
            let shape = [sh[0], sh[1], sh[2]];
            let refine = match refined_grid_fits(model, shape, 3) {
                Ok(()) => Some(3),
                Err(why) => {
                    info!("discretisation error not estimated: {why}");
                    None
                }
            };
            // The Navier scheme is second order: extrapolate from 3× and 5× finer when the
            // latter fits (the compact scalar scheme is fourth order, 3× leaves 1/81).
            let richardson = model == ModelKind::Navier && refine.is_some() && refined_grid_fits(model, shape, 5).is_ok();
            let options = ModelErrorOptions { refine, richardson, ..ModelErrorOptions::default() };
            Some(ModelErrorPlan { meas: meas.clone(), regions, noise: noise.clone(), options })
        }
        _ => None,
    };
    let known_noise = match &noise {
        Noise::Known(s) => Some(s.clone()),
        Noise::Inferred => None,
    };
    Ok(Setup { forward, likelihood, param, prior, sampler, kind, start_pa: (g0, l0), model_error, meas, known_noise, model, bulk_inferred })
}

/// Whether the approximation-error model can solve on the `factor` times finer grid of
/// `shape`: at most the voxel limit of `model` (its time), and one solve
/// ([`mre_solver::wave::SolveCost::measured_boundary`]: the solver the forward model picks)
/// within the memory budget. Its frequencies then run as
/// many at once as threads and budget allow ([`mre_inverse::refine::solves_at_once`]), so a
/// smaller machine gets the same result more slowly. `Err` says why not.
fn refined_grid_fits(model: ModelKind, shape: [usize; 3], factor: usize) -> Result<(), String> {
    let fine = shape.map(|n| if n > 1 { factor * (n - 1) + 1 } else { 1 });
    let voxels: usize = fine.iter().product();
    let three_d = fine.iter().all(|&n| n > 1);
    let (limit, equation) = match model {
        ModelKind::Navier if three_d => (MAX_REFINED_NAVIER_VOXELS_3D, WaveEquation::Navier),
        ModelKind::Navier => (MAX_REFINED_NAVIER_VOXELS, WaveEquation::Navier),
        _ => (MAX_REFINED_VOXELS, WaveEquation::Scalar),
    };
    if voxels > limit {
        return Err(format!("the {factor}× finer grid {fine:?} has more than {limit} voxels"));
    }
    let cost = SolveCost::measured_boundary(equation, fine);
    let kind = if cost.iterative { "an iterative" } else { "a direct" };
    mre_solver::limits::check_memory(&format!("{kind} solve on the {factor}× finer grid {fine:?}"), cost.grid_bytes(fine) as u128)
        .map_err(|e| e.to_string())
}

/// The box [`suggest_crop`] proposes for `input`, as the end of a sentence.
fn proposed_crop(input: &WaveInput) -> String {
    let n = SUGGESTED_NAVIER_CROP;
    suggest_crop(input).map_or_else(
        || format!(" (the regions posterior of a {n}³ box takes minutes)"),
        |c| format!(", e.g. --crop {c} ({n} voxels a side around the smaller labelled regions; minutes)"),
    )
}

/// The side (voxels) of the box [`suggest_crop`] proposes along each axis of a 3-D volume: the
/// whole default regions posterior of a 16³ box of `configs/brain-3d.toml` took 5 min and
/// 1.2 GB on 2 cores; a direct Navier solve of 20³ takes about 1.6 GB and 17 s, one of 24³
/// 4 GB and 50 s ([`SolveCost`]), and an inversion needs tens of them.
const SUGGESTED_NAVIER_CROP: usize = 16;

/// A box of at most [`SUGGESTED_NAVIER_CROP`] voxels per axis, inside the grid, centred on the
/// labelled regions other than the largest one (the background: the centre of the lesions'
/// bounding box), or on the mask's bounding box when there is one label or none; `None` when
/// the grid is not larger than the box.
fn suggest_crop(input: &WaveInput) -> Option<Crop> {
    let shape = input.shape();
    let largest = input.data.labels.as_ref().and_then(|l| {
        let mut counts = std::collections::BTreeMap::<u16, usize>::new();
        for (&v, &m) in l.iter().zip(&input.mask) {
            if m && v != 0 {
                *counts.entry(v).or_default() += 1;
            }
        }
        (counts.len() > 1).then(|| counts.iter().max_by_key(|(_, &n)| n).map(|(&v, _)| v)).flatten()
    });
    let mut lo = [usize::MAX; 3];
    let mut hi = [0; 3];
    for ((z, y, x), &m) in input.mask.indexed_iter() {
        let keep = m
            && match (largest, &input.data.labels) {
                (Some(bg), Some(l)) => l[[z, y, x]] != bg && l[[z, y, x]] != 0,
                _ => true,
            };
        if keep {
            for (i, v) in [z, y, x].into_iter().enumerate() {
                lo[i] = lo[i].min(v);
                hi[i] = hi[i].max(v + 1);
            }
        }
    }
    if lo[0] == usize::MAX {
        return None;
    }
    let mut bounds = [(None, None); 3];
    for i in 0..3 {
        let n = shape[i];
        let side = SUGGESTED_NAVIER_CROP.min(n);
        if side == n {
            continue;
        }
        let centre = (lo[i] + hi[i]) / 2;
        let start = centre.saturating_sub(side / 2).min(n - side);
        bounds[i] = (Some(start), Some(start + side));
    }
    bounds.iter().any(|b| b.0.is_some()).then_some(Crop { bounds })
}

/// The bulk modulus the Navier model uses when it is not a parameter (Pa): the given one, or
/// the nearly incompressible [`mre_inverse::navier::TISSUE_BULK_MODULUS_PA`].
fn fixed_bulk_modulus(b: BulkModulus) -> f64 {
    match b {
        BulkModulus::Pa(k) => k,
        BulkModulus::Infer | BulkModulus::Incompressible => mre_inverse::navier::TISSUE_BULK_MODULUS_PA,
    }
}

/// Newton decrement (posterior standard deviations) at which the moduli of the bulk-modulus
/// start are taken as fitted ([`bulk_start`]).
const BULK_START_DECREMENT: f64 = 1.0;

/// The start of a posterior with `log K` (the same on every rank): the MAP of the moduli with
/// K held at its start value (the prior median, nearly incompressible; Gauss–Newton for the
/// Navier model, checkpointed in `bulk-start/`), then the best `log K` of [`mre_inverse::bulk::scan_start`] at those
/// moduli. (At the moduli of the first guess the scan cannot tell the compressible optimum:
/// a shear wavelength a few % off costs more than any K gains; the fitted moduli of the
/// incompressible model are within a few % on compressible data.)
fn bulk_start(s: &Setup, x0: Vec<f64>, map: &MapOptions, dir: Option<&Path>, comm: &dyn Comm) -> Result<Vec<f64>> {
    let plain = Posterior::new(s.forward.model(), s.param.as_ref(), s.prior.as_ref(), s.likelihood.as_ref());
    let distributed_plain = (comm.size() > 1).then(|| DistributedPosterior::new(&plain, comm));
    let density: &dyn LogDensity = match &distributed_plain {
        Some(d) => d,
        None => &plain,
    };
    let n = x0.len() - 1;
    let fixed = FixedLast::new(density, x0[n]);
    info!(bulk_modulus_pa = x0[n].exp(), "start: MAP of the moduli with the bulk modulus fixed");
    let dir = dir.map(|d| d.join("bulk-start"));
    if let Some(d) = &dir {
        let made = std::fs::create_dir_all(d).map_err(|e| PipelineError::failure(format!("creating {}: {e}", d.display())));
        agree(comm, made)?;
    }
    let first = match (&s.forward, s.kind) {
        // Navier regions, as the plain MAP: Gauss–Newton to within a posterior standard
        // deviation (the scan needs the moduli within a few %; L-BFGS takes ~60 evaluations
        // from the first guess at 128²). A field's hundreds of parameters stay L-BFGS, as in
        // its MAPs (a Gauss–Newton step solves once per parameter).
        (Forward::Navier(_), Parameterization::Regions) => {
            let gn =
                |x: &[f64]| navier_gauss_newton_hessian(s, s.likelihood.as_ref(), &fixed.full(x)).map(|h| FixedLast::hessian_block(&h, n));
            let options = GaussNewtonOptions { decrement_tolerance: BULK_START_DECREMENT, ..GaussNewtonOptions::default() };
            gauss_newton_then_lbfgs(&fixed, &gn, &x0[..n], &options, map, dir.as_deref())
        }
        _ => maximize(&fixed, &x0[..n], map, dir.as_ref().map(|d| d.join("map.cbor")).as_deref()),
    };
    let first = agree(comm, first.map_err(failure))?;
    let mut x = first.x.clone();
    x.push(x0[n]);
    let storage = s.param.moduli(&x).storage_pa;
    let mut inside: Vec<f64> = storage.iter().zip(&s.meas.mask).filter(|(_, &m)| m).map(|(g, _)| *g).collect();
    inside.sort_by(f64::total_cmp);
    let median = inside.get(inside.len() / 2).copied().unwrap_or(s.start_pa.0);
    let scanned = mre_inverse::bulk::scan_start(density, &x, median).map_err(failure);
    let (x, tried) = agree(comm, scanned)?;
    let k = x[n].exp();
    info!(
        bulk_modulus_pa = k,
        ratio_to_storage = k / median,
        candidates = tried.len(),
        "start of the bulk modulus (best of a scan of K/G')"
    );
    tracing::debug!(?tried, "bulk modulus scan: (K, log p)");
    Ok(x)
}

/// The fewest voxels (inside the mask) a label needs to be a region of the `regions`
/// parameterisation: a region is fitted from the wave inside it, and a label per voxel or a
/// few voxels per label gives more parameters than the data can support (and dense stages
/// that grow as the square of the parameters). Merge small labels or use the field.
pub const MIN_REGION_VOXELS: usize = 10;

/// Refuses regions the data cannot support: a label with fewer than [`MIN_REGION_VOXELS`]
/// voxels in the mask, or more region parameters than the dense stages (Laplace Hessian and
/// its factor, the reduced-basis snapshots, the draws, the interface term of the
/// approximation-error model) fit in the memory budget
/// ([`mre_solver::limits::check_memory`]).
fn check_regions(r: &BayesRun<'_>, labels: &Array3<u16>, regions: &Regions, forward: &Forward) -> Result<()> {
    let src = &r.input.source;
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    labels.iter().zip(&r.input.mask).filter(|(_, &m)| m).for_each(|(&l, _)| *counts.entry(l).or_default() += 1);
    let small: Vec<(u16, usize)> = counts.iter().filter(|(_, &n)| n < MIN_REGION_VOXELS).map(|(&l, &n)| (l, n)).collect();
    if let Some(&(label, n)) = small.first() {
        return Err(PipelineError::invalid(format!(
            "{src}: /labels: label {label} has {n} voxel(s) in the mask, and {} of the {} labels have fewer than {MIN_REGION_VOXELS}: the regions parameterisation needs at least {MIN_REGION_VOXELS} voxels per region (merge small labels, or use --parameterization field)",
            small.len(),
            counts.len()
        )));
    }
    let a = r.args;
    let d = 2 * regions.len() as u128;
    let voxels = r.input.mask.len() as u128;
    // Lower bounds of what the stages allocate: the Laplace Hessian, its Cholesky factor and the
    // covariance (d² each); the reduced model's 1 + 2d + d(d−1)/2 snapshot points, their G'
    // and G'' maps and the basis vectors (per frequency, complex, one per snapshot over the
    // voxels of each component, or over the about 4 unknowns per voxel of the Navier model);
    // the draws of every chain.
    let dense = 3 * d * d * 8;
    let snapshots = 1 + 2 * d + d * d.saturating_sub(1) / 2;
    let per_voxel = match forward {
        Forward::Navier(_) => 4,
        _ => r.input.data.components.len().max(1) as u128,
    };
    let basis = snapshots * voxels * per_voxel * r.input.data.frequencies_hz.len() as u128 * 16;
    let reduced = if a.full_model || a.drive == DriveKind::Actuator { 0 } else { snapshots * (d + 2 * voxels) * 8 + basis };
    let draws = a.chains as u128 * u128::from(a.draws) * d * 8;
    // The interface term of the approximation-error model: a dense factor with a column per
    // interface voxel (the boundary-noise columns have their own budget).
    let interface = match (forward, a.model_error, a.likelihood) {
        (Forward::Boundary(f), ModelErrorKind::Auto, LikelihoodKind::Wave) if regions.len() > 1 => {
            mre_inverse::interface::ModelErrorCovariance::memory_bytes(f, regions, &r.input.mask, false) as u128
        }
        _ => 0,
    };
    let what =
        format!("{src}: {} regions of /labels ({d} parameters) in the dense Laplace, reduced-basis and sampling stages", regions.len());
    mre_solver::limits::check_memory(&what, dense + reduced + draws + interface).map_err(|e| PipelineError::invalid(e.to_string()))
}

/// Format of the stage checkpoints written here (`plain-map.cbor`, `model-error.cbor`).
const STAGE_FORMAT: u32 = 1;

/// What the stages before the final posterior depend on: the data (wave, mask, labels, grid,
/// frequencies, density, noise), the options that define the posterior (not the sampler's
/// chains, draws or seed) and the start point.
fn run_fingerprint(r: &BayesRun<'_>, kind: Parameterization, x0: &[f64]) -> u64 {
    let d = &r.input.data;
    let a = r.args;
    let mut h = Fingerprint::default().str("mre-pipeline/bayes/stages").u64(u64::from(STAGE_FORMAT));
    h = r.input.wave.iter().fold(h.u64(r.input.wave.len() as u64), |h, v| h.u64(v.re.to_bits()).u64(v.im.to_bits()));
    h = r.input.mask.iter().fold(h.u64(r.input.mask.len() as u64), |h, &m| h.u64(u64::from(m)));
    if let Some(l) = &d.labels {
        h = l.iter().fold(h.str("labels"), |h, &v| h.u64(u64::from(v)));
    }
    h = h.f64s(&d.frequencies_hz).f64s(&d.voxel_size_m).f64s(&[d.density_kg_m3]);
    if let Some(n) = &d.noise_std {
        h = h.str("noise").f64s(n);
    }
    h = h.str(kind.name()).str(a.likelihood.name()).str(a.drive.name()).str(&a.drive_faces.join(",")).u64(a.pml_voxels as u64);
    if run_model(r) == ModelKind::Navier {
        h = h.str("model navier").str(&a.bulk_modulus.to_string());
    }
    h = h.str(a.model_error.name()).u64(a.field_spacing.map_or(0, |v| v as u64 + 1));
    h.f64s(&[a.smoothness, a.prior_storage_pa, a.prior_loss_pa, a.prior_log_std]).f64s(x0).value()
}

/// The forward model of the run (see [`resolve_model`]).
fn run_model(r: &BayesRun<'_>) -> ModelKind {
    let sh = r.input.mask.shape();
    resolve_model(r.args.model, r.args.drive, [sh[0], sh[1], sh[2]], &r.input.data.components)
}

/// A finished stage from its checkpoint `path` when every rank has it for the fingerprint
/// `fingerprint` (else every rank recomputes it, with a log line saying why).
fn load_stage<T: serde::de::DeserializeOwned>(path: Option<&Path>, fingerprint: u64, stage: &str, comm: &dyn Comm) -> Option<T> {
    let loaded = path.and_then(|p| match checkpoint::load_cbor::<(u32, u64, T)>(p) {
        Ok(Some((STAGE_FORMAT, f, v))) if f == fingerprint => Some(v),
        Ok(Some(_)) => {
            info!(stage, path = %p.display(), "stage checkpoint belongs to other data or options; recomputing the stage");
            None
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(stage, error = %e, "stage checkpoint unreadable; recomputing the stage");
            None
        }
    });
    if !comm.all_ok(loaded.is_some()) {
        return None;
    }
    if let Some(p) = path {
        info!(stage, path = %p.display(), "stage loaded from the checkpoint, not recomputed");
    }
    loaded
}

/// Saves a finished stage for [`load_stage`].
fn save_stage<T: serde::Serialize>(path: Option<&Path>, fingerprint: u64, value: &T) -> Result<()> {
    let Some(p) = path else { return Ok(()) };
    checkpoint::save_cbor(p, &(STAGE_FORMAT, fingerprint, value)).map_err(failure)
}

/// Run the inversion on the ranks of `comm`; returns the result to write on rank 0 (`None`
/// on the other ranks). The MAP and Laplace stages spread the frequency solves over the
/// ranks, the NUTS chains are shared out (chain `c` on rank `c % size`) and gathered on rank
/// 0: the result is bit-identical for any number of ranks. Errors end every rank together.
pub fn run(input: &WaveInput, options: &BayesOptions, checkpoint: Option<&Path>, comm: &dyn Comm) -> Result<Option<MreResult>> {
    let r = BayesRun { input, args: options };
    let start = Instant::now();
    let s = agree(comm, build(&r))?;
    let opts = StageOptions { sampler: s.sampler.clone(), ..StageOptions::default() };
    // The Navier model's stages live in their own subdirectory: a checkpoint of the scalar
    // model is never resumed by the Navier model, nor the other way round.
    let ckpt = checkpoint.map(|p| if s.model == ModelKind::Navier { p.join("navier") } else { p.to_path_buf() });
    let x0 = s.param.constant(s.start_pa.0, s.start_pa.1);
    let (rank, size) = (comm.rank(), comm.size());
    if size > 1 {
        info!(ranks = size, "MAP and Laplace approximation with the frequencies spread over the ranks");
    }
    let dir = match &ckpt {
        Some(shared) if size > 1 => Some(agree(
            comm,
            distributed::mirror_checkpoints(comm, shared).map_err(|e| PipelineError::failure(format!("checkpoint: {e}"))),
        )?),
        other => other.clone(),
    };
    let map_file = |dir: &Option<PathBuf>| dir.as_ref().map(|d| d.join("map.cbor"));
    let x0 = if s.bulk_inferred { bulk_start(&s, x0, &opts.map, dir.as_deref(), comm)? } else { x0 };
    // The approximation-error model is taken at the plain model's MAP (same on every rank).
    let (corrected, x_start, mode_dir) = match (&s.model_error, &s.forward) {
        (Some(plan), Forward::Boundary(_) | Forward::Navier(_)) => {
            let forward = s.forward.model();
            let plain = Posterior::new(forward, s.param.as_ref(), s.prior.as_ref(), s.likelihood.as_ref());
            let distributed_plain = (size > 1).then(|| DistributedPosterior::new(&plain, comm));
            let density: &dyn LogDensity = match &distributed_plain {
                Some(d) => d,
                None => &plain,
            };
            let fingerprint = run_fingerprint(&r, s.kind, &x0);
            let plain_file = dir.as_ref().map(|d| d.join("plain-map.cbor"));
            info!(stage = "1/4", parameters = x0.len(), "MAP of the plain model");
            let first: MapResult = match load_stage(plain_file.as_deref(), fingerprint, "plain MAP", comm) {
                Some(m) => m,
                None => {
                    // Navier regions from the bulk-modulus start (near the maximum): Gauss–Newton.
                    let gn = |x: &[f64]| navier_gauss_newton_hessian(&s, s.likelihood.as_ref(), x);
                    let m = match (&s.forward, s.kind, s.bulk_inferred) {
                        (Forward::Navier(_), Parameterization::Regions, true) => {
                            gauss_newton_then_lbfgs(density, &gn, &x0, &GaussNewtonOptions::default(), &opts.map, dir.as_deref())
                        }
                        _ => maximize(density, &x0, &opts.map, map_file(&dir).as_deref()),
                    };
                    let m = agree(comm, m.map_err(failure))?;
                    agree(comm, save_stage(plain_file.as_deref(), fingerprint, &m))?;
                    m
                }
            };
            info!(iterations = first.iterations, "MAP of the plain model; the approximation-error model is taken there");
            info!(stage = "2/4", "approximation-error model at the plain MAP");
            let me_print = Fingerprint::default()
                .u64(fingerprint)
                .f64s(&first.x)
                .u64(plan.options.refine.map_or(0, |f| f as u64 + 1))
                .f64s(&[plan.options.interface_spread.unwrap_or(-1.0)])
                .u64(u64::from(plan.options.boundary_noise))
                .u64(u64::from(plan.options.richardson))
                // The Navier term's construction (smoothed boundary values for the
                // discretisation error, the boundary noise); v2: a model-error state of an
                // earlier build is not resumed.
                .u64(2)
                .value();
            let me_file = dir.as_ref().map(|d| d.join("model-error.cbor"));
            let state = match load_stage::<ModelErrorState>(me_file.as_deref(), me_print, "approximation-error model", comm) {
                Some(st) => st,
                None => {
                    let st = match &s.forward {
                        Forward::Navier(navier) => navier_model_error_state(
                            &plan.meas,
                            navier,
                            &r.input.data.components,
                            &plan.regions,
                            &first.x,
                            plan.noise.clone(),
                            &plan.options,
                        ),
                        Forward::Boundary(wave) => {
                            model_error_state(&plan.meas, wave, &plan.regions, &first.x, plan.noise.clone(), &plan.options)
                        }
                        Forward::Actuator(_) => unreachable!("no approximation-error model is planned for the actuator drive"),
                    }
                    .map_err(|e| invalid(&r.input.source, e));
                    let st = agree(comm, st)?;
                    agree(comm, save_stage(me_file.as_deref(), me_print, &st))?;
                    st
                }
            };
            let built = likelihood_from_state(&plan.meas, forward, plan.noise.clone(), &state).map_err(|e| invalid(&r.input.source, e));
            (Some(agree(comm, built)?), first.x, dir.as_ref().map(|d| d.join("model-error")))
        }
        _ => (None, x0, dir.clone()),
    };
    let likelihood: &dyn Likelihood = match &corrected {
        Some((l, _)) => l,
        None => s.likelihood.as_ref(),
    };
    let posterior = Posterior::new(s.forward.model(), s.param.as_ref(), s.prior.as_ref(), likelihood);
    let distributed_posterior = (size > 1).then(|| DistributedPosterior::new(&posterior, comm));
    let density: &dyn LogDensity = match &distributed_posterior {
        Some(d) => d,
        None => &posterior,
    };
    let (x0, dir) = (x_start, mode_dir);
    info!(stage = "3/4", parameters = x0.len(), "MAP and Laplace approximation of the posterior");
    let mode = match s.kind {
        // Navier regions: Gauss–Newton steps, each one factorisation and `dim` solves per
        // frequency — a few from the plain model's MAP or the bulk-modulus start; from the
        // constant start about as many evaluations as L-BFGS. The Hessian takes every frequency
        // on every rank (the same matrix on all).
        Parameterization::Regions => {
            let gn = |x: &[f64]| navier_gauss_newton_hessian(&s, likelihood, x);
            let hessian: Option<HessianFn<'_>> = matches!(s.forward, Forward::Navier(_)).then_some(&gn);
            find_mode_with(density, hessian, &x0, &opts, dir.as_deref(), size == 1).map_err(failure)
        }
        // Hundreds of parameters: the Gauss–Newton Hessian (one solve per parameter and
        // frequency with one factorisation) instead of 2·dim gradient evaluations.
        Parameterization::Field => {
            // Hundreds of parameters need more L-BFGS iterations than a few region moduli.
            let map_opts = MapOptions { max_iterations: opts.map.max_iterations.max(500), ..opts.map.clone() };
            maximize(density, &x0, &map_opts, map_file(&dir).as_deref()).map_err(failure).and_then(|map| {
                let laplace = match &s.forward {
                    Forward::Boundary(forward) => {
                        gauss_newton::laplace(forward, s.param.as_ref(), s.prior.as_ref(), likelihood, &map.x).map_err(failure)?
                    }
                    // The Navier model: the Hessian by finite differences of the adjoint gradient.
                    _ => mre_inverse::Laplace::with_step_on(density, &map.x, opts.hessian_step, size == 1).map_err(failure)?,
                };
                let evaluations = map.evaluations;
                Ok(Mode { map, laplace, evaluations })
            })
        }
    };
    let mode = agree(comm, mode)?;
    // Regions: draws with the reduced-basis model built around the Laplace approximation
    // (the same on every rank), checked against the full model on rank 0.
    info!("reduced-basis model around the Laplace approximation");
    let reduced: Option<Box<dyn ReducedModel + '_>> = match (s.kind, r.args.full_model, &s.forward) {
        (Parameterization::Regions, false, Forward::Boundary(forward)) => {
            Some(Box::new(agree(comm, ReducedWaveForward::around(forward, s.param.as_ref(), &mode.laplace).map_err(failure))?))
        }
        (Parameterization::Regions, false, Forward::Navier(forward)) => {
            Some(Box::new(agree(comm, ReducedNavierForward::around(forward, s.param.as_ref(), &mode.laplace).map_err(failure))?))
        }
        _ => None,
    };
    let surrogate = reduced.as_deref().map(|m| Posterior::new(m as &dyn ForwardModel, s.param.as_ref(), s.prior.as_ref(), likelihood));
    let sampling: &dyn LogDensity = match &surrogate {
        Some(p) => p,
        None => &posterior,
    };
    info!(stage = "4/4", "posterior draws");
    let draws = match &s.sampler {
        Sampler::Nuts(NutsOptions { chains, draws, .. }) | Sampler::Independence(IndependenceOptions { chains, draws, .. }) => {
            let ids = distributed::my_chains(*chains, rank, size);
            let local = agree(comm, draw(sampling, &mode.laplace, &opts, ckpt.as_deref(), Some(&ids)).map_err(failure))?;
            distributed::gather_draws(comm, local, &ids, *chains, *draws as usize, posterior.dim())
        }
        Sampler::Laplace { .. } if comm.is_root() => Some(draw(&posterior, &mode.laplace, &opts, None, None).map_err(failure)?),
        Sampler::Laplace { .. } => None,
    };
    let Some(draws) = draws else { return Ok(None) };
    let report = match (&reduced, &surrogate) {
        (Some(m), Some(p)) => Some(check_reduced(&posterior, p, m.as_ref(), &draws).map_err(failure)?),
        _ => None,
    };
    let mut result = assemble(posterior.names(), mode, draws, start.elapsed().as_secs_f64());
    if let Some(rep) = report {
        result = result.with_surrogate(rep);
    }
    let noise_est = posterior.noise_estimates(&result.map.x).map_err(failure)?;
    let model_error = corrected.as_ref().map(|(_, report)| report);
    let check = check_posterior(&s, corrected.as_ref().map(|(l, _)| l), &result);
    let components = r.input.data.components.clone();
    let mut out = to_result(&result, s.param.as_ref(), s.kind, r, &noise_est, model_error, start.elapsed().as_secs_f64());
    let input = CheckInput {
        meas: &s.meas,
        reference: corrected.as_ref().map(|(l, _)| l.data()),
        known_noise: s.known_noise.as_deref(),
        components: &components,
        covariance: None,
        navier: matches!(s.forward, Forward::Navier(_)).then_some(s.bulk_inferred),
    };
    crate::model_check::record(&mut out, check, &input);
    Ok(Some(out))
}

/// The Gauss–Newton Hessian of the Navier posterior with `likelihood` at `x` (every frequency
/// on this rank: the same on every rank).
fn navier_gauss_newton_hessian(s: &Setup, likelihood: &dyn Likelihood, x: &[f64]) -> mre_inverse::Result<Vec<f64>> {
    match &s.forward {
        Forward::Navier(forward) => gauss_newton::navier_hessian(forward, s.param.as_ref(), s.prior.as_ref(), likelihood, x),
        _ => Err(mre_inverse::InverseError::Inference("the Gauss–Newton MAP is built for the Navier model only".into())),
    }
}

/// The model check ([`crate::model_check`]) at the posterior mean of θ, against the data the
/// likelihood fits (`corrected`'s with the approximation-error model), with the simulated
/// propagation of the noise of the measured boundary values.
fn check_posterior(s: &Setup, corrected: Option<&WaveGaussian>, b: &BayesResult) -> std::result::Result<ModelCheck, String> {
    let draws = b.draws();
    let mut mean = vec![0.0; s.param.dim()];
    for d in &draws {
        mean.iter_mut().zip(d).for_each(|(m, v)| *m += v / draws.len() as f64);
    }
    let moduli = s.param.moduli(&mean);
    // The prediction from the measured boundary values alone (the boundary models), fed with
    // noise. The actuator model's prediction does not take the data's values (only the
    // profiled drive amplitude, one number per frequency and component).
    let boundary = |noise: &Replicates| match &s.forward {
        Forward::Navier(n) => n.noise_response(&moduli, noise),
        _ => wave_forward_response(&s.meas, &moduli, noise),
    };
    let response: Option<&NoiseResponse<'_>> = match &s.forward {
        Forward::Boundary(_) | Forward::Navier(_) => Some(&boundary),
        Forward::Actuator(_) => None,
    };
    let input = CheckInput {
        meas: &s.meas,
        reference: corrected.map(WaveGaussian::data),
        known_noise: s.known_noise.as_deref(),
        components: "",
        covariance: corrected.and_then(WaveGaussian::model_error_covariance),
        navier: None,
    };
    crate::model_check::run(s.forward.model(), response, &moduli, &input)
}

/// Median G' and G'' of a Gaussian-filtered AHI over the mask and frequencies: the starting point.
fn initial_moduli(m: &Measurements, wave: &Array5<Complex64>) -> (f64, f64) {
    let h = m.grid.voxel_size_m;
    let hmin = h.iter().zip(m.grid.shape).filter(|(_, n)| *n > 1).map(|(h, _)| *h).fold(f64::INFINITY, f64::min);
    let filter = classic::Filter::recommended(hmin);
    let (mut gs, mut ls) = (Vec::new(), Vec::new());
    for (f, hz) in m.frequencies_hz.iter().enumerate() {
        let comps: Vec<Array3<Complex64>> =
            wave.index_axis(Axis(0), f).outer_iter().filter_map(|u| classic::filter_wave(&u.to_owned(), h, &filter).ok()).collect();
        let views: Vec<_> = comps.iter().map(|c| c.view()).collect();
        let Ok(stack) = ndarray::stack(Axis(0), &views) else { continue };
        if let Ok(e) = classic::ahi(stack.view(), &m.mask, h, 2.0 * std::f64::consts::PI * hz, m.density_kg_m3) {
            gs.extend(e.storage_modulus_pa.iter().zip(&m.mask).filter(|(g, &k)| k && g.is_finite() && **g > 0.0).map(|(g, _)| *g));
            ls.extend(e.loss_modulus_pa.iter().zip(&m.mask).filter(|(g, &k)| k && g.is_finite() && **g > 0.0).map(|(g, _)| *g));
        }
    }
    let median = |mut v: Vec<f64>, fallback: f64| {
        if v.is_empty() {
            return fallback;
        }
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let g = median(gs, 3000.0);
    (g, median(ls, 0.2 * g))
}

fn to_result(
    b: &BayesResult,
    param: &dyn Parameterisation,
    kind: Parameterization,
    r: BayesRun<'_>,
    noise: &[f64],
    model_error: Option<&ModelErrorReport>,
    wall: f64,
) -> MreResult {
    let draws = b.draws();
    let stats = moduli_stats(param, &draws, &r.input.mask);
    let regions = match (kind, &r.input.data.labels) {
        (Parameterization::Regions, Some(labels)) => region_rows(b, labels, &r.input.mask),
        _ => Vec::new(),
    };
    let nd = b.chains.first().map_or(0, Vec::len);
    let np = b.names.len();
    let samples = Array3::from_shape_fn((b.chains.len(), nd, np), |(c, k, p)| b.chains[c][k][p]);
    let finite_max = |v: &[f64]| v.iter().copied().filter(|x| x.is_finite()).fold(f64::NAN, f64::max);
    let finite_min = |v: &[f64]| v.iter().copied().filter(|x| x.is_finite()).fold(f64::NAN, f64::min);
    let abs = ndarray::Zip::from(&stats.storage.mean).and(&stats.loss.mean).map_collect(|g, l| g.hypot(*l));
    let phase = ndarray::Zip::from(&stats.storage.mean).and(&stats.loss.mean).map_collect(|g, l| l.atan2(*g));
    let a = r.args;
    let mut extra = vec![
        ("parameterization".into(), format!("{kind:?}").to_lowercase()),
        (
            "forward_model".into(),
            match run_model(&r) {
                ModelKind::Navier => format!(
                    "navier (components {:?} together, pressure unknown, {})",
                    r.input.data.components,
                    match a.bulk_modulus {
                        BulkModulus::Infer => format!(
                            "bulk modulus inferred: one global log K, normal prior of median {:e} Pa and width {} (natural log)",
                            mre_inverse::bulk::PRIOR_MEDIAN_PA,
                            mre_inverse::bulk::PRIOR_LOG_STD
                        ),
                        BulkModulus::Incompressible =>
                            format!("bulk modulus {:e} Pa: nearly incompressible", fixed_bulk_modulus(a.bulk_modulus)),
                        BulkModulus::Pa(k) => format!("bulk modulus {k:e} Pa given"),
                    }
                ),
                _ => "scalar (each component on its own)".into(),
            },
        ),
        ("likelihood".into(), format!("{:?}", a.likelihood).to_lowercase()),
        (
            "drive".into(),
            match a.drive {
                DriveKind::Boundary => "measured boundary (Dirichlet)".into(),
                DriveKind::Actuator => {
                    format!("actuator on {} with {}-voxel absorbing layers (amplitude profiled)", a.drive_faces.join(", "), a.pml_voxels)
                }
            },
        ),
        ("parameters".into(), np.to_string()),
        ("evaluations".into(), b.evaluations.to_string()),
        ("map_iterations".into(), b.map.iterations.to_string()),
        ("map_converged".into(), b.map.converged.to_string()),
        ("chains".into(), b.chains.len().to_string()),
        ("draws_per_chain".into(), nd.to_string()),
        ("divergences".into(), b.divergences.to_string()),
        ("acceptance".into(), b.acceptance.map_or_else(|| "n/a".into(), |a| format!("{a:.3}"))),
        (
            "reduced_model".into(),
            b.surrogate.as_ref().map_or_else(
                || "none (full model)".into(),
                |s| {
                    format!(
                        "basis {:?} from {} snapshots; max |Δ log p| vs full model at {} draws: {:.2e}",
                        s.basis_sizes, s.snapshots, s.checked_draws, s.max_logp_error
                    )
                },
            ),
        ),
        ("rhat_max".into(), finite_max(&b.rhat).to_string()),
        ("ess_bulk_min".into(), finite_min(&b.ess_bulk).to_string()),
        ("ess_tail_min".into(), finite_min(&b.ess_tail).to_string()),
        ("model_error".into(), model_error.map_or_else(|| "none".into(), describe_model_error)),
        ("seed".into(), a.seed.to_string()),
        ("noise_std".into(), format!("{noise:?}")),
        (
            "noise".into(),
            if r.input.data.noise_std.is_some() && a.likelihood == LikelihoodKind::Wave {
                "known"
            } else {
                "inferred (Jeffreys prior, marginalised)"
            }
            .into(),
        ),
    ];
    extra.extend(bulk_modulus_summary(b, &draws));
    MreResult {
        storage_modulus_pa: stats.storage.mean.clone(),
        loss_modulus_pa: stats.loss.mean.clone(),
        abs_modulus_pa: Some(abs),
        phase_angle_rad: Some(phase),
        storage_modulus_std_pa: Some(stats.storage.std.clone()),
        loss_modulus_std_pa: Some(stats.loss.std.clone()),
        storage_modulus_q05_pa: Some(stats.storage.q05.clone()),
        storage_modulus_q95_pa: Some(stats.storage.q95.clone()),
        regions,
        samples: Some(samples),
        residual_z: None,
        provenance: ResultProvenance {
            tool: "mre-sim".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            method: b.method.clone(),
            iterations: b.map.iterations,
            wall_time_s: wall,
            source_data: r.input.source.clone(),
            created: String::new(),
            extra,
        },
    }
}

/// Provenance entries of an inferred bulk modulus (the parameter `log_bulk_modulus_pa`):
/// `bulk_modulus_pa_mean`, `bulk_modulus_pa_q05`, `bulk_modulus_pa_q95` and `bulk_modulus`
/// (whether the data determine it: the posterior width of `log K` below half the prior's), also
/// logged. Nothing when K is not a parameter.
fn bulk_modulus_summary(b: &BayesResult, draws: &[Vec<f64>]) -> Vec<(String, String)> {
    let Some(i) = b.names.iter().position(|n| n == "log_bulk_modulus_pa") else { return Vec::new() };
    let logk: Vec<f64> = draws.iter().map(|t| t[i]).collect();
    let k: Vec<f64> = logk.iter().map(|v| v.exp()).collect();
    let (mean, _, q05, q95) = describe(&k);
    let (_, log_sd, _, _) = describe(&logk);
    let determined = log_sd < 0.5 * mre_inverse::bulk::PRIOR_LOG_STD;
    let verdict = if determined {
        format!("inferred, determined by the data (posterior width of ln K {log_sd:.3})")
    } else {
        format!(
            "inferred, not determined by the data (posterior width of ln K {log_sd:.2}, prior {}): nearly incompressible, K is at least about the 5 % quantile",
            mre_inverse::bulk::PRIOR_LOG_STD
        )
    };
    info!(mean_pa = mean, q05_pa = q05, q95_pa = q95, determined, "bulk modulus posterior");
    vec![
        ("bulk_modulus".into(), verdict),
        ("bulk_modulus_pa_mean".into(), mean.to_string()),
        ("bulk_modulus_pa_q05".into(), q05.to_string()),
        ("bulk_modulus_pa_q95".into(), q95.to_string()),
    ]
}

/// The provenance line of the approximation-error model.
fn describe_model_error(m: &ModelErrorReport) -> String {
    let refine = match m.refine {
        Some(f) if m.richardson => format!(
            "discretisation error from {f}× and {}× finer grids extrapolated to zero voxel size (RMS / noise per frequency {:.3?})",
            f + 2,
            m.discretisation_to_noise
        ),
        Some(f) => format!("discretisation error from a {f}× finer grid (RMS / noise per frequency {:.3?})", m.discretisation_to_noise),
        None => "no discretisation term (finer grid too large)".into(),
    };
    let interface = match m.interface {
        Some((n, spread)) => format!(
            "{n} interface voxels, share of the other region N(0, {spread:.3}²), integrated out ({:?} covariance directions per frequency)",
            m.interface_ranks
        ),
        None => "no interface term (one region)".into(),
    };
    let interface = match m.boundary_voxels {
        0 => format!("{interface}; boundary noise not included"),
        n => format!("{interface}; noise of {n} boundary voxels integrated out"),
    };
    format!("{refine}; {interface}")
}

/// One row per region: posterior statistics of its G' and G'' and the diagnostics of its
/// log G' (R̂: the worse of log G' and log G''; ESS: the smaller bulk ESS).
fn region_rows(b: &BayesResult, labels: &Array3<u16>, mask: &Array3<bool>) -> Vec<RegionSummary> {
    let draws = b.draws();
    let Ok(regions) = Regions::new(labels, mask) else { return Vec::new() };
    let n = regions.len();
    regions
        .labels()
        .iter()
        .enumerate()
        .map(|(k, &label)| {
            let g: Vec<f64> = draws.iter().map(|t| t[k].exp()).collect();
            let l: Vec<f64> = draws.iter().map(|t| t[n + k].exp()).collect();
            let (gm, gs, g5, g95) = describe(&g);
            let (lm, ls, l5, l95) = describe(&l);
            RegionSummary {
                label,
                storage_mean_pa: gm,
                storage_std_pa: gs,
                storage_q05_pa: g5,
                storage_q95_pa: g95,
                loss_mean_pa: lm,
                loss_std_pa: ls,
                loss_q05_pa: l5,
                loss_q95_pa: l95,
                rhat: b.rhat[k].max(b.rhat[n + k]),
                ess: b.ess_bulk[k].min(b.ess_bulk[n + k]),
            }
        })
        .collect()
}
