//! Work partitioning. MPI lives here (feature `mpi`, a later addition); physics
//! code only sees [`Partition`].

/// A contiguous range of work items owned by one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// This process's rank.
    pub rank: usize,
    /// Number of processes.
    pub size: usize,
}

impl Partition {
    /// The whole problem on one process.
    pub fn serial() -> Self {
        Self { rank: 0, size: 1 }
    }
}
