//! The resources a run will take — peak memory and kernel time — estimated from its sizes
//! before anything big is allocated, and checked against the memory budget of
//! [`mre_solver::limits`].
//!
//! A run is sized by a [`RunSize`] (counts only): [`RunConfig::build`] makes one from the
//! config before it paints the phantom (the tissue voxels are not known yet and count as one,
//! a Pulseq acquisition is not read yet and counts as nothing) and refuses what cannot fit;
//! then one from the built run ([`BuiltRun::estimate`]), which `mre-sim check` prints and
//! which is checked again. Every count is multiplied with overflow-checked arithmetic
//! ([`limits::checked_product`]); the byte sums are saturating `u128`.
//!
//! The memory model follows what the simulation allocates (`mre_solver::simulate`):
//!
//! - *phantom*: the label map (2 B per voxel of the phantom grid), and for `source = "wave"`
//!   the solved displacement fields (3 complex components per voxel and frequency);
//! - *wave solve* (`source = "wave"`, before the Bloch simulation, one solve per frequency
//!   running at a time per thread): the peak resident memory of one solve from
//!   [`mre_solver::wave::SolveCost`] (figures measured for each solver), which
//!   `io/tests/estimate_alloc.rs` checks;
//! - *isochromats*: per isochromat its [`mre_solver::Spins`] entry (position, tissue, voxel,
//!   global index) plus its kernel input ([`mre_solver::bloch::Isochromats`]: position,
//!   displacement amplitude when the phantom moves, off-resonance, weight, class);
//! - *images*: the k-space of each polarity, the complex images and the phase of every
//!   (frequency, component, offset), the wave field of every (frequency, component) and the
//!   per-voxel maps (magnitude, mask, labels, G', G''), all on the acquisition matrix;
//! - *signal*: the flat k-space signal of one acquisition (shots × matrix complex samples);
//! - *sequence plan*: one acquisition's [`mre_solver::sequence::Timeline`] (its RF pulses,
//!   triggers, spoils, 7 gradient pieces and the ADC samples of every TR) and its
//!   [`mre_solver::SequencePlan`] (every step: 3 per TR plus one per ADC sample for
//!   `integration = "events"`, plus one per raster step for `"raster"`).
//!
//! The peak is the phantom plus the larger of the wave solve and the simulation (isochromats,
//! images, signal and plan together). The element sizes are the `size_of` of the types the
//! simulation uses, so the estimate tracks them; it leaves out small per-thread workspaces and
//! the growth slack of vectors, so a run's measured peak lies between the estimate and about
//! twice it (see `io/tests/estimate_alloc.rs`).
//!
//! The time is the isochromat-steps of the Bloch kernel (isochromats × plan steps ×
//! acquisitions) over [`ISOCHROMAT_STEPS_PER_CORE_S`] per thread — the f32 fast kernel's
//! 0.79 × 10⁹ measured end to end in `docs/hpc.md` (`mre-sim bench` reports this machine's
//! figure as `bloch_precess_motion`), half that for f64, a tenth for the reference kernel. It
//! leaves out the reconstruction and the writes, and the scalar wave solve (seconds at the
//! sizes the memory allows); the Navier solve, which can take far longer than the Bloch
//! simulation, is estimated apart ([`Estimate::wave_solve_s`], from
//! [`mre_solver::wave::SolveCost::seconds`]), frequencies in
//! parallel over the threads.

use std::fmt;

use mre_solver::limits::{self, Bytes, LimitError};
use mre_solver::sequence::{AdcSample, GradientPiece, MreSequence, RfPulse, Trigger};
use mre_solver::{KernelChoice, Precision};
use num_complex::Complex64;

use super::{BuiltRun, BuiltSequence, MotionSource, PolarityConfig, RunConfig};
use crate::config::IntegrationConfig;

/// Isochromat-steps per core-second assumed for the f32 fast kernel (docs/hpc.md measures
/// 0.79 × 10⁹ end to end on one core of the development machine).
pub const ISOCHROMAT_STEPS_PER_CORE_S: f64 = 0.8e9;

/// Gradient pieces per TR of the built-in GRE-MRE counted in the timeline (MEG, prephaser and
/// readout trapezoids; the spoiler's are left out, so the count is a lower bound).
const GRADIENT_PIECES_PER_TR: u128 = 7;

/// The wave solve of a run with `source = "wave"`: its memory and time model
/// ([`mre_solver::wave::SolveCost`]).
pub use mre_solver::wave::SolveCost as WaveSolveSize;

/// The counts that size a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSize {
    /// Phantom grid `[nz, ny, nx]`.
    pub grid: [usize; 3],
    /// Voxels with tissue (at most the grid's).
    pub tissue_voxels: usize,
    /// Isochromats per voxel.
    pub spins_per_voxel: usize,
    /// Whether the phantom moves (the isochromats carry a displacement amplitude).
    pub moving: bool,
    /// Vibration frequencies.
    pub frequencies: usize,
    /// `source = "wave"`: its equation and solver (None: no wave solve).
    pub wave: Option<WaveSolveSize>,
    /// The acquisition, when known.
    pub acquisition: Option<AcquisitionSize>,
    /// Bloch kernel.
    pub kernel: KernelChoice,
    /// `integration = "raster"`: the step, s.
    pub raster_step_s: Option<f64>,
    /// Threads of the simulation (0: one per core).
    pub threads: usize,
}

/// The counts of an acquisition.
#[derive(Debug, Clone, PartialEq)]
pub struct AcquisitionSize {
    /// Encoded components (one acquisition each per frequency).
    pub components: usize,
    /// The config key of the components (`sequence.meg.axes`, `sequence.encoded_axes`).
    pub components_key: &'static str,
    /// Acquisition matrix `[nz, ny, nx]`.
    pub matrix: [usize; 3],
    /// The config key that sets the matrix (`sequence.matrix`, `phantom.shape`, `sequence.pulseq`).
    pub matrix_key: &'static str,
    /// Mechanical phase offsets.
    pub phase_offsets: usize,
    /// The config key of the offsets (`sequence.phase_offsets`, or `sequence.pulseq` when the
    /// file's labels set them).
    pub offsets_key: &'static str,
    /// MEG polarities (1 or 2).
    pub polarities: usize,
    /// TRs without ADC (built-in sequence).
    pub dummy_scans: usize,
    /// Whether the TRs are the built-in sequence's (`dummy_scans` + shots × nz × ny, each with
    /// its RF pulse, trigger, spoil and gradients); an imported sequence counts only its ADC
    /// samples.
    pub builtin_trs: bool,
    /// Duration of one acquisition, s (0 when unknown).
    pub duration_s: f64,
}

/// What a part of the peak is and which config key sizes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// What is allocated, e.g. `"isochromats"`.
    pub what: &'static str,
    /// The config key that makes it large.
    pub key: &'static str,
    /// Bytes.
    pub bytes: u128,
}

/// The estimate of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Peak memory, bytes (saturated at `u128::MAX`).
    pub memory_bytes: u128,
    /// The parts alive at the peak, largest first.
    pub parts: Vec<Part>,
    /// Isochromats.
    pub isochromats: u128,
    /// Plan steps per acquisition (a lower bound for an imported sequence).
    pub steps: u128,
    /// Acquisitions (frequencies × components).
    pub acquisitions: u128,
    /// k-space samples of one acquisition (shots × matrix) and the key that sets them.
    pub samples: (u128, &'static str),
    /// Isochromat-steps of the Bloch kernel.
    pub isochromat_steps: f64,
    /// Threads assumed.
    pub threads: usize,
    /// Isochromat-steps per thread-second assumed for the kernel.
    pub steps_per_thread_s: f64,
    /// Kernel wall time at `steps_per_thread_s` per thread, s.
    pub time_s: f64,
    /// Wall time of the Navier wave solves (all frequencies, in parallel over the threads), s;
    /// None without a Navier solve.
    pub wave_solve_s: Option<f64>,
}

/// A size that cannot be allocated: the config key that sets it and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SizeError {
    /// The config key, e.g. `phantom.spins_per_voxel`.
    pub key: &'static str,
    /// What does not fit: an overflow ([`LimitError::Overflow`]), over the budget
    /// ([`LimitError::Memory`], with the estimate), or more samples than an index holds.
    pub message: String,
}

fn size_error(key: &'static str) -> impl Fn(LimitError) -> SizeError {
    move |error| SizeError { key, message: error.to_string() }
}

/// Saturating product.
fn mul(factors: &[u128]) -> u128 {
    factors.iter().fold(1u128, |a, &f| a.saturating_mul(f))
}

fn sz<T>() -> u128 {
    std::mem::size_of::<T>() as u128
}

/// The key among `(key, value, typical)` whose value is largest relative to its typical value.
fn dominant(factors: &[(&'static str, f64, f64)]) -> &'static str {
    factors.iter().max_by(|a, b| (a.1 / a.2).total_cmp(&(b.1 / b.2))).map_or("sequence", |f| f.0)
}

/// Threads a run uses: `threads`, else `RAYON_NUM_THREADS`, else one per core (without
/// starting rayon's pool, which the run configures later).
pub fn effective_threads(threads: usize) -> usize {
    if threads > 0 {
        return threads;
    }
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl RunSize {
    /// The estimate. The element counts are multiplied with overflow checks.
    ///
    /// # Errors
    /// A count that overflows this machine's address space (naming its key).
    pub fn estimate(&self) -> Result<Estimate, SizeError> {
        let u = |v: usize| v as u64;
        let grid_voxels = limits::checked_product("the phantom grid", &self.grid.map(u)).map_err(size_error("phantom.shape"))? as u128;
        let spins_key = if self.spins_per_voxel > 1 { "phantom.spins_per_voxel" } else { "phantom.shape" };
        let isochromats = limits::checked_product(
            "the isochromats (voxels with tissue × spins per voxel)",
            &[u(self.tissue_voxels), u(self.spins_per_voxel)],
        )
        .map_err(size_error(spins_key))? as u128;
        let nf = self.frequencies as u128;

        // the phantom: labels, and the solved wave fields
        let mut persistent = vec![Part { what: "phantom label map", key: "phantom.shape", bytes: mul(&[grid_voxels, sz::<u16>()]) }];
        let mut wave_solve = 0u128;
        let mut wave_solve_s = None;
        if let Some(solve) = self.wave {
            persistent.push(Part {
                what: "solved wave fields",
                key: "phantom.shape",
                bytes: mul(&[nf, 3, grid_voxels, sz::<Complex64>()]),
            });
            let n = grid_voxels as f64;
            let three_d = self.grid.iter().all(|&g| g > 1);
            let concurrent = self.frequencies.min(effective_threads(self.threads)).max(1) as f64;
            wave_solve = (solve.bytes(n, three_d) * concurrent).min(u128::MAX as f64) as u128;
            wave_solve_s = solve.seconds(n, three_d).map(|t| t * (self.frequencies as f64 / concurrent).ceil());
        }

        // the isochromats: Spins plus the kernel input of one frequency
        let per_spin = sz::<[f64; 3]>() + sz::<u16>() + sz::<u32>() + sz::<u64>();
        let per_iso = sz::<[f64; 3]>() + if self.moving { sz::<[Complex64; 3]>() } else { 0 } + sz::<f64>() + sz::<f64>() + sz::<u16>();
        let mut simulation = vec![Part { what: "isochromats", key: spins_key, bytes: mul(&[isochromats, per_spin + per_iso]) }];

        let mut steps = 0u128;
        let mut acquisitions = 0u128;
        let mut samples = (0u128, "sequence");
        if let Some(a) = &self.acquisition {
            let volume = limits::checked_product("the acquisition matrix", &a.matrix.map(u)).map_err(size_error(a.matrix_key))? as u128;
            let shots = (a.phase_offsets as u128).saturating_mul(a.polarities as u128);
            let arrays_key = dominant(&[
                (a.offsets_key, a.phase_offsets as f64, 8.0),
                (a.matrix_key, volume as f64, 128.0 * 128.0 * 32.0),
                ("motion.frequencies_hz", nf as f64, 4.0),
                (a.components_key, a.components as f64, 3.0),
            ]);
            let signal =
                limits::checked_product("the k-space samples of one acquisition", &[u(a.phase_offsets), u(a.polarities), volume as u64])
                    .map_err(size_error(arrays_key))? as u128;
            samples = (signal, arrays_key);
            acquisitions = nf.saturating_mul(a.components as u128);
            let per_offset_voxel = sz::<Complex64>() * a.polarities as u128 + sz::<Complex64>() + sz::<f64>();
            let maps = sz::<f64>() + sz::<u8>() + sz::<bool>() + sz::<u16>() + 2 * sz::<f64>();
            let images = mul(&[acquisitions, a.phase_offsets as u128, volume, per_offset_voxel])
                .saturating_add(mul(&[acquisitions, volume, sz::<Complex64>()]))
                .saturating_add(mul(&[volume, maps]));
            simulation.push(Part { what: "k-space, images, phase and wave arrays", key: arrays_key, bytes: images });
            simulation.push(Part { what: "k-space signal of one acquisition", key: arrays_key, bytes: mul(&[signal, sz::<Complex64>()]) });

            // the sequence plan of one acquisition
            let acquired_trs = mul(&[shots, a.matrix[0] as u128, a.matrix[1] as u128]);
            let trs = if a.builtin_trs { acquired_trs.saturating_add(a.dummy_scans as u128) } else { 0 };
            let raster_steps = match self.raster_step_s {
                Some(st) if st > 0.0 && a.duration_s > 0.0 => (a.duration_s / st).ceil().min(u128::MAX as f64) as u128,
                _ => 0,
            };
            let event_steps = mul(&[3, trs]).saturating_add(signal);
            steps = event_steps.saturating_add(raster_steps);
            let per_tr = sz::<RfPulse>() + sz::<Trigger>() + sz::<f64>() + GRADIENT_PIECES_PER_TR * sz::<GradientPiece>();
            let timeline = mul(&[trs, per_tr]).saturating_add(mul(&[signal, sz::<AdcSample>()]));
            // per step: t_start, dt, m0, mw, motion time, RF angle and phase, ADC index and
            // phase, spoil; and the cut points and (start, end) pairs of its construction
            let per_step = 7 * sz::<f64>() + sz::<[f64; 3]>() + sz::<[Complex64; 3]>() + sz::<u32>() + sz::<bool>() + 3 * sz::<f64>();
            let plan_key = if raster_steps > event_steps {
                "simulation.raster_step_s"
            } else if a.builtin_trs && (a.dummy_scans as u128).saturating_mul(3) > mul(&[3, acquired_trs]).saturating_add(signal) {
                "sequence.dummy_scans"
            } else {
                arrays_key
            };
            simulation.push(Part {
                what: "sequence plan of one acquisition",
                key: plan_key,
                bytes: timeline.saturating_add(mul(&[steps, per_step])),
            });
        }

        let sum = |p: &[Part]| p.iter().fold(0u128, |a, x| a.saturating_add(x.bytes));
        let mut parts = persistent;
        let simulation_bytes = sum(&simulation);
        if wave_solve > simulation_bytes {
            parts.push(Part { what: "wave solve", key: "phantom.shape", bytes: wave_solve });
        } else {
            parts.extend(simulation);
        }
        parts.sort_by_key(|p| std::cmp::Reverse(p.bytes));
        let memory_bytes = sum(&parts);

        let threads = effective_threads(self.threads);
        let per_core = match self.kernel {
            KernelChoice::Fast(Precision::F32) => ISOCHROMAT_STEPS_PER_CORE_S,
            KernelChoice::Fast(Precision::F64) => ISOCHROMAT_STEPS_PER_CORE_S / 2.0,
            KernelChoice::Reference => ISOCHROMAT_STEPS_PER_CORE_S / 10.0,
        };
        let isochromat_steps = isochromats as f64 * steps as f64 * acquisitions as f64;
        Ok(Estimate {
            memory_bytes,
            parts,
            isochromats,
            steps,
            acquisitions,
            samples,
            isochromat_steps,
            threads,
            steps_per_thread_s: per_core,
            time_s: isochromat_steps / (per_core * threads as f64),
            wave_solve_s,
        })
    }
}

impl Estimate {
    /// Checks the peak against the memory budget ([`limits::check_memory`]), then the k-space
    /// samples of one acquisition against the 32-bit sample index of the sequence plan.
    ///
    /// # Errors
    /// More than the budget (the error names the key of the largest part), or more samples
    /// than the index holds.
    pub fn check(&self) -> Result<(), SizeError> {
        let key = self.parts.first().map_or("phantom.shape", |p| p.key);
        limits::check_memory(&format!("the run ({})", self.breakdown()), self.memory_bytes).map_err(size_error(key))?;
        let (samples, key) = self.samples;
        if samples > u128::from(u32::MAX) {
            return Err(SizeError {
                key,
                message: format!(
                    "one acquisition has {samples} k-space samples (shots × matrix): expected at most {}, the most a sample index holds",
                    u32::MAX
                ),
            });
        }
        Ok(())
    }

    /// The parts of the peak, e.g. `isochromats 1.2 GiB (phantom.spins_per_voxel), …`.
    pub fn breakdown(&self) -> String {
        self.parts
            .iter()
            .filter(|p| p.bytes > 0)
            .map(|p| format!("{} {} ({})", p.what, Bytes(p.bytes), p.key))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Estimate {
    /// `estimated peak memory 12.3 MiB (…); Bloch kernel about 2.1 s on 2 threads (1.6e9 isochromat-steps)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "estimated peak memory {} ({}); Bloch kernel about {} on {} thread(s) ({:.2e} isochromat-steps at {:.1e} per thread-second)",
            Bytes(self.memory_bytes),
            self.breakdown(),
            duration(self.time_s),
            self.threads,
            self.isochromat_steps,
            self.steps_per_thread_s,
        )?;
        if let Some(t) = self.wave_solve_s {
            write!(f, "; Navier wave solve about {}", duration(t))?;
        }
        Ok(())
    }
}

/// `0.5 s`, `3.2 min`, `5.0 h`, `12.0 days`.
fn duration(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1e} days", s / 86_400.0)
    }
}

impl RunConfig {
    /// The size of this run as far as the config tells before anything is built: the tissue
    /// voxels are the grid's with a background tissue, else count as one (they are painted
    /// later); a Pulseq acquisition is not read yet.
    pub fn size(&self) -> RunSize {
        let s = &self.sequence;
        let shape = self.phantom.shape;
        let acquisition = match (&s.pulseq, &s.meg) {
            (None, Some(meg)) => {
                let offsets = s.phase_offsets.unwrap_or(4);
                let polarities = if s.polarities == PolarityConfig::Both { 2 } else { 1 };
                let matrix = s.matrix.unwrap_or(shape);
                let trs = s.dummy_scans as f64 + offsets as f64 * polarities as f64 * matrix[0] as f64 * matrix[1] as f64;
                Some(AcquisitionSize {
                    components: meg.axes.len(),
                    components_key: "sequence.meg.axes",
                    matrix,
                    matrix_key: if s.matrix.is_some() { "sequence.matrix" } else { "phantom.shape" },
                    phase_offsets: offsets,
                    offsets_key: "sequence.phase_offsets",
                    polarities,
                    dummy_scans: s.dummy_scans,
                    builtin_trs: true,
                    duration_s: s.tr_s.filter(|t| t.is_finite() && *t > 0.0).map_or(0.0, |t| t * trs),
                })
            }
            _ => None,
        };
        let grid = mre_solver::model::phantom::Grid { shape, voxel_size_m: self.phantom.voxel_size_m };
        // Grid::len would overflow: the estimate refuses the grid anyway
        let grid_fits = limits::checked_product("", &shape.map(|n| n as u64)).is_ok();
        // a background tissue fills every voxel (inclusions paint tissues too); otherwise the
        // painted count is not known yet: at least one
        let tissue_voxels = match (&self.phantom.background, &self.phantom.labels_file, grid_fits) {
            (Some(_), None, true) => shape.iter().product(),
            _ => 1,
        };
        RunSize {
            grid: shape,
            tissue_voxels,
            spins_per_voxel: self.phantom.spins_per_voxel,
            moving: self.motion.source != MotionSource::None,
            frequencies: self.motion.frequencies_hz.len(),
            wave: (self.motion.source == MotionSource::Wave).then(|| {
                let choice: mre_solver::wave::SolverChoice = self.motion.wave.as_ref().map(|w| w.solver).unwrap_or_default().into();
                let navier = self.motion.wave.as_ref().is_some_and(|w| w.equation == super::WaveEquationConfig::Navier);
                let equation = if navier { mre_solver::wave::WaveEquation::Navier } else { mre_solver::wave::WaveEquation::Scalar };
                let iterative = if navier { choice.is_iterative_navier(&grid) } else { choice.is_iterative(&grid) };
                let absorbing = self.motion.wave.as_ref().is_some_and(|w| !w.absorbing.is_empty());
                WaveSolveSize { equation, iterative: !grid_fits || iterative, absorbing }
            }),
            acquisition,
            kernel: kernel_choice(self),
            raster_step_s: raster_step(self),
            threads: self.simulation.threads,
        }
    }
}

fn kernel_choice(cfg: &RunConfig) -> KernelChoice {
    use super::{KernelConfig, PrecisionConfig};
    match (cfg.simulation.kernel, cfg.simulation.precision) {
        (KernelConfig::Reference, _) => KernelChoice::Reference,
        (KernelConfig::Fast, PrecisionConfig::F32) => KernelChoice::Fast(Precision::F32),
        (KernelConfig::Fast, PrecisionConfig::F64) => KernelChoice::Fast(Precision::F64),
    }
}

fn raster_step(cfg: &RunConfig) -> Option<f64> {
    (cfg.simulation.integration == IntegrationConfig::Raster).then(|| cfg.simulation.raster_step_s.unwrap_or(cfg.scanner.gradient_raster_s))
}

impl BuiltRun {
    /// The size of this run (`threads`: `[simulation] threads`, 0 = one per core).
    pub fn size(&self, threads: usize) -> RunSize {
        let seq = self.sequence.as_mre();
        let polarities = seq.polarities().count();
        let acquisition = match &self.sequence {
            BuiltSequence::Builtin(b) => AcquisitionSize {
                components: b.axes.len(),
                components_key: "sequence.meg.axes",
                matrix: b.sequence.matrix,
                matrix_key: "sequence.matrix",
                phase_offsets: b.sequence.phase_offsets,
                offsets_key: "sequence.phase_offsets",
                polarities,
                dummy_scans: b.sequence.dummy_scans,
                builtin_trs: true,
                duration_s: b.sequence.tr_s
                    * (b.sequence.dummy_scans as f64
                        + polarities as f64 * b.sequence.phase_offsets as f64 * b.sequence.matrix[0] as f64 * b.sequence.matrix[1] as f64),
            },
            BuiltSequence::Pulseq(p) => AcquisitionSize {
                components: p.components().len(),
                components_key: "sequence.encoded_axes",
                matrix: p.matrix(),
                matrix_key: "sequence.pulseq",
                phase_offsets: p.phase_offsets(),
                offsets_key: "sequence.pulseq",
                polarities,
                dummy_scans: 0,
                builtin_trs: false,
                duration_s: p.duration_s(0),
            },
        };
        RunSize {
            grid: self.phantom.grid.shape,
            tissue_voxels: self.phantom.tissue_voxels(),
            spins_per_voxel: self.phantom.spins_per_voxel,
            moving: self.wave.is_some() || self.motion.iter().any(|m| !m.is_static()),
            frequencies: self.frequencies_hz.len(),
            wave: self.wave.as_ref().map(|w| WaveSolveSize {
                equation: w.equation,
                iterative: match w.equation {
                    mre_solver::wave::WaveEquation::Scalar => w.solver.is_iterative(&self.phantom.grid),
                    mre_solver::wave::WaveEquation::Navier => w.solver.is_iterative_navier(&self.phantom.grid),
                },
                absorbing: w.boundary.faces.iter().flatten().any(|f| *f == mre_solver::wave::FaceCondition::Absorbing),
            }),
            acquisition: Some(acquisition),
            kernel: self.options.kernel,
            raster_step_s: match self.options.integration {
                mre_solver::Integration::Raster { step_s } => Some(step_s),
                mre_solver::Integration::Events => None,
            },
            threads,
        }
    }

    /// The estimate of this run ([`RunSize::estimate`] of [`BuiltRun::size`]).
    ///
    /// # Errors
    /// A count that overflows (see [`RunSize::estimate`]).
    pub fn estimate(&self, threads: usize) -> Result<Estimate, SizeError> {
        self.size(threads).estimate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quickstart's sizes: 128² grid, a disc of 10 097 voxels, built-in GRE-MRE.
    fn quickstart(spins_per_voxel: usize) -> RunSize {
        RunSize {
            grid: [1, 128, 128],
            tissue_voxels: 10_097,
            spins_per_voxel,
            moving: true,
            frequencies: 1,
            wave: None,
            acquisition: Some(AcquisitionSize {
                components: 1,
                components_key: "sequence.meg.axes",
                matrix: [1, 128, 128],
                matrix_key: "phantom.shape",
                phase_offsets: 4,
                offsets_key: "sequence.phase_offsets",
                polarities: 2,
                dummy_scans: 80,
                builtin_trs: true,
                duration_s: 1104.0 * 0.03,
            }),
            kernel: KernelChoice::Fast(Precision::F32),
            raster_step_s: None,
            threads: 2,
        }
    }

    fn part(e: &Estimate, what: &str) -> u128 {
        e.parts.iter().find(|p| p.what == what).map_or(0, |p| p.bytes)
    }

    #[test]
    fn isochromats_and_time_grow_linearly_in_spins_per_voxel() {
        let one = quickstart(4).estimate().unwrap();
        let three = quickstart(12).estimate().unwrap();
        assert_eq!(part(&three, "isochromats"), 3 * part(&one, "isochromats"));
        assert_eq!(three.isochromats, 3 * one.isochromats);
        assert!((three.time_s / one.time_s - 3.0).abs() < 1e-12);
        // everything else stays
        assert_eq!(three.memory_bytes - one.memory_bytes, 2 * part(&one, "isochromats"));
        // per isochromat: Spins (24 + 2 + 4 + 8 B) and the moving kernel input (24 + 48 + 8 + 8 + 2 B)
        assert_eq!(part(&one, "isochromats"), 40_388 * 128);
        // the quickstart's plan: 3 steps per TR and one per ADC sample
        assert_eq!(one.steps, 3 * 1104 + 8 * 128 * 128);
    }

    #[test]
    fn a_static_phantom_carries_no_displacement() {
        let mut s = quickstart(4);
        s.moving = false;
        assert_eq!(part(&s.estimate().unwrap(), "isochromats"), 40_388 * 80);
    }

    #[test]
    fn the_largest_part_names_its_key() {
        let key = |s: RunSize| s.estimate().unwrap().parts[0].key;
        let mut s = quickstart(1_000_000);
        assert_eq!(key(s.clone()), "phantom.spins_per_voxel");
        s.spins_per_voxel = 1;
        s.acquisition.as_mut().unwrap().dummy_scans = 1_000_000_000;
        assert_eq!(key(s.clone()), "sequence.dummy_scans");
        s.acquisition.as_mut().unwrap().dummy_scans = 0;
        s.acquisition.as_mut().unwrap().phase_offsets = 1_000_000;
        assert_eq!(key(s.clone()), "sequence.phase_offsets");
        s.acquisition.as_mut().unwrap().phase_offsets = 4;
        s.raster_step_s = Some(1e-9);
        assert_eq!(key(s.clone()), "simulation.raster_step_s");
        s.raster_step_s = None;
        s.grid = [1, 100_000, 100_000];
        s.acquisition.as_mut().unwrap().matrix = s.grid;
        assert_eq!(key(s), "phantom.shape");
    }

    #[test]
    fn overflowing_counts_are_refused_by_key() {
        let mut s = quickstart(1);
        s.grid = [1 << 32, 1 << 32, 2];
        let e = s.estimate().unwrap_err();
        assert_eq!(e.key, "phantom.shape");
        assert!(e.message.contains("4294967296 × 4294967296 × 2 overflows"), "{e}");
        let mut s = quickstart(usize::MAX);
        s.tissue_voxels = 2;
        assert_eq!(s.estimate().unwrap_err().key, "phantom.spins_per_voxel");
        let mut s = quickstart(1);
        s.acquisition.as_mut().unwrap().phase_offsets = usize::MAX;
        assert_eq!(s.estimate().unwrap_err().key, "sequence.phase_offsets");
        // saturating sums: a huge but representable run is an estimate, not an overflow
        let mut s = quickstart(1);
        s.acquisition.as_mut().unwrap().dummy_scans = usize::MAX;
        assert!(s.estimate().unwrap().memory_bytes > u128::from(u64::MAX));
    }

    #[test]
    fn a_wave_solve_counts_when_it_is_the_larger_phase() {
        let mut s = quickstart(1);
        s.wave = Some(WaveSolveSize { equation: mre_solver::wave::WaveEquation::Scalar, iterative: false, absorbing: true });
        s.threads = 1;
        let e = s.estimate().unwrap();
        // 2-D direct: 4 KiB per unknown, one frequency at a time
        assert_eq!(part(&e, "wave solve"), 128 * 128 * 4096);
        assert_eq!(part(&e, "isochromats"), 0, "the simulation phase is not alive during the solve");
        assert_eq!(part(&e, "solved wave fields"), 128 * 128 * 3 * 16);
    }

    #[test]
    fn a_navier_solve_is_sized_by_its_measured_figures() {
        use mre_solver::wave::WaveEquation;
        let navier = |grid: [usize; 3], iterative: bool| {
            let mut s = quickstart(1);
            s.grid = grid;
            s.acquisition.as_mut().unwrap().matrix = grid;
            s.threads = 1;
            s.wave = Some(WaveSolveSize { equation: WaveEquation::Navier, iterative, absorbing: true });
            s.estimate().unwrap()
        };
        let gb = |e: &Estimate| part(e, "wave solve") as f64 / 1e9;
        // the measured peaks (wave::navier): 3-D direct 16³ 0.6 GB, 24³ 4.0 GB, 32³ > 18 GB
        let (d16, d24, d32) = (navier([16; 3], false), navier([24; 3], false), navier([32; 3], false));
        assert!((0.4..0.8).contains(&gb(&d16)), "16³: {} GB", gb(&d16));
        assert!((3.5..4.6).contains(&gb(&d24)), "24³: {} GB", gb(&d24));
        assert!(gb(&d32) > 15.0, "32³: {} GB", gb(&d32));
        // 2-D plane strain 128² 0.5 GB, 256² 2.5 GB; iterative 24³ 0.12 GB
        let (p128, p256) = (navier([1, 128, 128], false), navier([1, 256, 256], false));
        assert!((0.4..0.7).contains(&gb(&p128)) && (2.0..3.0).contains(&gb(&p256)), "{} {}", gb(&p128), gb(&p256));
        let it = navier([24; 3], true);
        assert!((0.1..0.2).contains(&gb(&it)), "iterative 24³: {} GB", gb(&it));
        // the time: 50 s direct at 24³, ×16 at 2× the voxels; printed after the kernel's
        assert!((d24.wave_solve_s.unwrap() - 50.0).abs() < 1e-9);
        assert!(d16.wave_solve_s.unwrap() < 10.0 && it.wave_solve_s.unwrap() < d24.wave_solve_s.unwrap());
        assert!(d24.to_string().ends_with("; Navier wave solve about 50.0 s"), "{d24}");
        // the scalar solve is not timed
        let mut s = quickstart(1);
        s.wave = Some(WaveSolveSize { equation: WaveEquation::Scalar, iterative: false, absorbing: true });
        assert_eq!(s.estimate().unwrap().wave_solve_s, None);
    }

    #[test]
    fn the_estimate_reads_as_a_line() {
        let e = quickstart(4).estimate().unwrap();
        let text = e.to_string();
        assert!(text.starts_with("estimated peak memory ") && text.contains("isochromats") && text.contains("on 2 thread(s)"), "{text}");
        assert_eq!(duration(30.0), "30.0 s");
        assert_eq!(duration(600.0), "10.0 min");
        assert_eq!(duration(36_000.0), "10.0 h");
    }
}
