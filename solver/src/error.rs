//! Errors of the physics layer.

use thiserror::Error;

/// Everything the solver can refuse. Messages name the quantity, the value
/// given and what was expected, so that the I/O layer can add file and key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SolverError {
    /// A physical parameter is out of its valid range.
    #[error("{name} = {value} is invalid: expected {expected}")]
    InvalidParameter {
        /// Name of the parameter (with unit), e.g. `t1_s`.
        name: String,
        /// The value given, formatted.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// The sequence timing does not fit (TE too short for the MEG, TR too short, ...).
    #[error("sequence timing: {0}")]
    Timing(String),
    /// A gradient waveform exceeds the scanner's amplitude or slew-rate limit.
    #[error("scanner limit: {0}")]
    ScannerLimit(String),
    /// Array shapes do not match.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A linear system could not be solved (singular or numerically unusable).
    #[error("singular system: {0}")]
    Singular(String),
    /// An iterative solver stopped at its iteration limit before reaching its tolerance.
    #[error("iterative solver did not converge: {0}")]
    NotConverged(String),
    /// A request exceeds the memory budget or the machine's address space
    /// ([`crate::limits`]).
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
}

impl SolverError {
    /// Shorthand for [`SolverError::InvalidParameter`].
    pub fn invalid(name: impl Into<String>, value: impl std::fmt::Display, expected: impl Into<String>) -> Self {
        Self::InvalidParameter { name: name.into(), value: value.to_string(), expected: expected.into() }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, SolverError>;
