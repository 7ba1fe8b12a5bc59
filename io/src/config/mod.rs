//! Typed TOML run configuration.
//!
//! Every table is `deny_unknown_fields`; keys carry their SI unit (`t1_s`,
//! `voxel_size_m`, `amplitude_t_per_m`); vectors are ordered `[z, y, x]` and say so
//! (`propagation_zyx`). [`RunConfig::load`] parses a file, applies `--set`
//! overrides, and [`RunConfig::build`] turns it into solver domain types,
//! validating once. Errors name the file, line, key, value and what was expected.
//!
//! Relative input paths (label maps, wave fields) are relative to the config
//! file's directory; the output path is relative to the working directory.
//!
//! The configuration only describes a run: the physics (which wave solver, the wave solve
//! and its distribution over ranks) is mre-solver's ([`mre_solver::wave::DrivenWave`],
//! [`mre_solver::wave::SolverChoice`]).
//!
//! - `schema`, `invert`: the serde tables (what a config file may say, with units and defaults);
//! - `load`, `overrides`: reading a file and applying `--set section.key=value`;
//! - `build`, `sequence`: schema → domain types, every check naming its key;
//! - `built`: the result, [`BuiltRun`];
//! - `estimate`: the peak memory and time of a run ([`RunSize`], [`Estimate`]), checked against
//!   the memory budget before the phantom is painted and again once the run is built;
//! - `error`: [`ConfigError`] and the `file:line: key:` locations.

mod build;
mod built;
mod error;
mod estimate;
mod invert;
mod load;
mod overrides;
mod schema;
mod sequence;
#[cfg(test)]
mod tests;

pub use built::{BuiltRun, BuiltSequence};
pub use error::{locate, ConfigError, Source};
pub use estimate::{effective_threads, AcquisitionSize, Estimate, Part, RunSize, SizeError, WaveSolveSize, ISOCHROMAT_STEPS_PER_CORE_S};
pub use invert::InvertConfig;
pub use schema::{
    InclusionConfig, IntegrationConfig, KernelConfig, MegConfig, MotionConfig, MotionSource, OutputConfig, PhantomConfig, PolarityConfig,
    PrecisionConfig, PulseqFiles, RunConfig, ScannerConfig, SequenceConfig, SequenceKind, ShapeKind, SimulationConfig, SpoilingConfig,
    TissueConfig, TriggerPhase, WaveConfig, WaveEquationConfig, WaveScheme, WaveSolverChoice,
};

/// What the wave solver needs for `source = "wave"`: now [`mre_solver::wave::DrivenWave`]
/// (the old name, kept for the path).
pub type WaveSetup = mre_solver::wave::DrivenWave;
