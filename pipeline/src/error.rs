//! Errors of the pipelines, sorted by what the caller should do about them, and their
//! agreement across the ranks of a communicator.

use mre_solver::parallel::Comm;

/// What kind of failure an error is; the CLI maps each to its exit code
/// ([`ErrorKind::exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Failure while running (exit code 1).
    Failure,
    /// Invalid configuration, command line or input data (exit code 2).
    InvalidInput,
    /// The output exists and overwriting was not asked for (exit code 3).
    OutputExists,
}

impl ErrorKind {
    /// The documented exit code of `mre-sim` for this kind: 1, 2 or 3.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Failure => 1,
            ErrorKind::InvalidInput => 2,
            ErrorKind::OutputExists => 3,
        }
    }

    fn from_code(code: u8) -> Self {
        match code {
            2 => ErrorKind::InvalidInput,
            3 => ErrorKind::OutputExists,
            _ => ErrorKind::Failure,
        }
    }
}

/// An error of a pipeline: its kind and the whole message (the cause chain joined by `": "`,
/// naming the file, dataset, key or option and what was expected).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PipelineError {
    kind: ErrorKind,
    message: String,
    /// Reported by another rank: this rank exits with the kind's code without printing.
    silent: bool,
}

impl PipelineError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), silent: false }
    }

    /// Invalid input: `message` names the file, key or option and what was expected.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A failure while running.
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failure, message)
    }

    /// An existing output that was not to be overwritten.
    pub fn exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::OutputExists, message)
    }

    /// An error of `kind` from `error` and its sources (`"outer: inner: …"`).
    pub fn from_error(kind: ErrorKind, error: &(dyn std::error::Error + 'static)) -> Self {
        Self::new(kind, chain(error))
    }

    /// An error that another rank reports; this rank only exits.
    pub fn reported_elsewhere(kind: ErrorKind) -> Self {
        Self { kind, message: "reported by another rank".into(), silent: true }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether another rank reports this error (print nothing, exit with the kind's code).
    pub fn is_silent(&self) -> bool {
        self.silent
    }
}

/// `error` and its sources joined by `": "`, each once (a source already contained in the
/// text so far is skipped).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// An error of writing an HDF5 output: [`ErrorKind::OutputExists`] for an existing file that
/// was not to be overwritten, a failure otherwise.
pub fn write_error(e: mre_io::hdf5::H5Error) -> PipelineError {
    let kind = if matches!(e, mre_io::hdf5::H5Error::Exists { .. }) { ErrorKind::OutputExists } else { ErrorKind::Failure };
    PipelineError::from_error(kind, &e)
}

/// Result of the pipelines.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// An error that every rank of a communicator can agree on (see [`agree`]).
pub trait RankError: Sized {
    /// Its exit code.
    fn exit_code(&self) -> u8;
    /// The error of a rank whose failure another rank reports, with that rank's exit code.
    fn reported_elsewhere(code: u8) -> Self;
}

impl RankError for PipelineError {
    fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
    fn reported_elsewhere(code: u8) -> Self {
        PipelineError::reported_elsewhere(ErrorKind::from_code(code))
    }
}

/// Make every rank fail together when any rank failed: the ranks that pass return a silent
/// error; of the failing ranks, rank 0 reports when it failed, otherwise the failing ranks
/// report (so a config error is printed once, not once per rank). Every rank ends with the
/// exit code of rank 0's error when rank 0 failed (mpirun returns the code of the first
/// process that exits non-zero).
pub fn agree<T, E: RankError>(comm: &dyn Comm, r: Result<T, E>) -> Result<T, E> {
    if comm.size() == 1 || comm.all_ok(r.is_ok()) {
        return r;
    }
    let mut root_code = [match (&r, comm.is_root()) {
        (Err(e), true) => f64::from(e.exit_code()),
        _ => 0.0,
    }];
    comm.broadcast(0, &mut root_code);
    let root_code = root_code[0] as u8;
    match r {
        Err(e) if comm.is_root() || root_code == 0 => Err(e),
        Err(_) => Err(E::reported_elsewhere(root_code)),
        Ok(_) => Err(E::reported_elsewhere(if root_code == 0 { ErrorKind::Failure.exit_code() } else { root_code })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_message_carries_the_causes_once() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&e), "outer: inner");
        let e = PipelineError::from_error(ErrorKind::InvalidInput, &e);
        assert_eq!((e.to_string().as_str(), e.kind().exit_code()), ("outer: inner", 2));
    }

    #[test]
    fn one_rank_keeps_its_error() {
        let r: Result<()> = Err(PipelineError::exists("x exists"));
        let e = agree(&mre_solver::parallel::Serial, r).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutputExists);
        assert!(!e.is_silent());
    }
}
