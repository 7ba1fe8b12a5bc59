//! `mre-sim` as a library: the crates of the workspace under one name.
//!
//! * [`solver`]: phantoms, sequences, the Bloch simulation, wave solvers, reconstruction and
//!   direct inversions;
//! * [`inverse`]: forward models, likelihoods, priors, MAP, Laplace and samplers;
//! * [`io`]: configs, mre-data / mre-result HDF5, MRD, Pulseq, figures;
//! * [`pipeline`]: what the command line does, as one call each (`invert_file`, …).

pub use mre_inverse as inverse;
pub use mre_io as io;
pub use mre_pipeline as pipeline;
pub use mre_solver as solver;
