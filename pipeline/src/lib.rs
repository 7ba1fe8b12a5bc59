//! # mre-pipeline
//!
//! What `mre-sim` does, as library calls: a study written against the crates reproduces the
//! command line with one call, and the command line is a thin layer over these.
//!
//! * [`invert::invert_file`]: `mre-sim invert DATA.h5 --method ahi|mdev|bayes` (read, invert,
//!   write the mre-result and its PNGs); [`invert::invert`] for data already in memory
//!   ([`input::WaveInput::from_data`]) without writing.
//! * [`bayes::run`]: the Bayesian inversion — plain MAP → approximation-error model → MAP,
//!   Laplace and draws with it — on the ranks of any [`mre_solver::parallel::Comm`],
//!   bit-identical for any number of ranks and threads.
//! * [`classic::invert_classic`]: AHI or MDEV after an optional filter, with region rows.
//!
//! Errors are [`PipelineError`]s whose [`ErrorKind`] says whether the input was invalid, the
//! output exists or the run failed (the CLI's exit codes 2, 3 and 1).
//!
//! ```no_run
//! use mre_pipeline::invert::{invert_file, InvertOptions, Method};
//! use mre_solver::parallel::Serial;
//! # fn main() -> Result<(), mre_pipeline::PipelineError> {
//! let options = InvertOptions::new(Method::Bayes);
//! let out = std::path::Path::new("data-bayes.h5");
//! if let Some((result, written)) = invert_file("data.h5".as_ref(), out, &options, false, &Serial, &())? {
//!     for r in &result.regions {
//!         println!("region {}: G' = {:.0} Pa", r.label, r.storage_mean_pa);
//!     }
//!     println!("wrote {}", written.result.display());
//! }
//! # Ok(())
//! # }
//! ```

pub mod bayes;
pub mod choice;
pub mod classic;
pub mod error;
pub mod import;
pub mod input;
pub mod invert;
mod model_check;
pub mod outputs;
pub mod pulseq;
pub mod simulate;

pub use choice::Choice;
pub use error::{agree, ErrorKind, PipelineError, Result};
pub use input::{Unwrap, WaveInput};
pub use invert::{invert, invert_file, InvertOptions, Method};
