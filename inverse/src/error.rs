//! Errors of the inversion layer.

use thiserror::Error;

/// Everything the inversion can refuse or fail at. Messages name the quantity, the value
/// given and what was expected, so that the I/O layer can add file and dataset names.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InverseError {
    /// Input data or settings are unusable (no labels, all masked, NaNs, bad shapes, ...).
    #[error("{what}: {problem}; expected {expected}")]
    InvalidInput {
        /// What is wrong, e.g. `/labels` or `prior width`.
        what: String,
        /// The problem found.
        problem: String,
        /// What was expected.
        expected: String,
    },
    /// The forward model failed (singular wave operator, ...).
    #[error("forward model: {0}")]
    Solver(#[from] mre_solver::SolverError),
    /// The log density is not finite at a point the optimiser or sampler needed.
    #[error("log density not finite: {0}")]
    NonFinite(String),
    /// The optimiser or the sampler failed.
    #[error("{0}")]
    Inference(String),
    /// A checkpoint could not be read, written or does not belong to this run.
    #[error("checkpoint {path}: {problem}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What went wrong.
        problem: String,
    },
}

impl InverseError {
    /// Shorthand for [`InverseError::InvalidInput`].
    pub fn invalid(what: impl Into<String>, problem: impl std::fmt::Display, expected: impl Into<String>) -> Self {
        Self::InvalidInput { what: what.into(), problem: problem.to_string(), expected: expected.into() }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, InverseError>;
