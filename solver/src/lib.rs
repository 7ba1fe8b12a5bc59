//! mre-solver: the physics of mre-sim.
//!
//! Phantom → harmonic tissue motion → MRE pulse sequence → sequence plan →
//! Bloch simulation of every isochromat → k-space → reconstruction.
//!
//! This crate knows nothing of TOML, HDF5, MPI or command lines: it takes plain
//! domain types and returns plain arrays. SI units everywhere; every field says
//! its unit. Conventions are written down in `docs/physics.md` of the repository.

pub mod bloch;
pub mod classic;
pub mod error;
pub mod files;
pub mod limits;
pub mod model;
pub mod parallel;
pub mod plan;
pub mod recon;
pub mod rng;
pub mod sequence;
pub mod simulate;
pub mod units;
pub mod wave;

pub use error::SolverError;
pub use model::motion::{Displacement, HarmonicField, NoMotion, PlaneShearWave};
pub use model::phantom::{Grid, Inclusion, InclusionShape, Phantom, Spins, Tissue};
pub use plan::{Integration, SequencePlan};

pub use bloch::Precision;
pub use simulate::{simulate, Experiment, KernelChoice, Progress, SimulationOptions, SimulationOutput};
