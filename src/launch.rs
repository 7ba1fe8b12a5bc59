//! Process environment: MPI start-up (feature `mpi`) and the launcher check of
//! builds without MPI.

use mre_solver::parallel::Comm;
#[cfg(not(feature = "mpi"))]
use mre_solver::parallel::Serial;

#[cfg_attr(feature = "mpi", allow(dead_code))]
/// Environment variables that MPI launchers set, with the value that names the
/// number of processes (or, for PMIx, a rank: any rank > 0 proves a parallel start).
const LAUNCHER_VARIABLES: [(&str, &str); 4] = [
    ("OMPI_COMM_WORLD_SIZE", "Open MPI's mpirun"),
    ("PMI_SIZE", "an MPICH/Hydra or Slurm PMI launcher"),
    ("SLURM_STEP_NUM_TASKS", "srun"),
    ("PMIX_RANK", "a PMIx launcher"),
];

#[cfg_attr(feature = "mpi", allow(dead_code))]
/// In a build without MPI: `Some(message)` when the process was started by an
/// MPI launcher with more than one process (it would run that many identical,
/// independent copies, each writing the same output).
pub fn refuse_parallel_launch(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    for (var, launcher) in LAUNCHER_VARIABLES {
        let Some(v) = get(var) else { continue };
        let Ok(n) = v.trim().parse::<u64>() else { continue };
        let parallel = if var == "PMIX_RANK" { n > 0 } else { n > 1 };
        if parallel {
            return Some(format!(
                "this mre-sim was built without MPI but was started by {launcher} ({var}={n}): every process would run \
                 the whole simulation on its own. Build with MPI support — `cargo build --release --features mpi` \
                 (needs libopenmpi-dev or an MPICH development package, and libclang-dev; see docs/hpc.md) — or run \
                 a single process without mpirun/srun."
            ));
        }
    }
    None
}

/// The communicator of this process and whatever must live as long as it.
pub struct Processes {
    comm: Box<dyn Comm>,
    #[cfg(feature = "mpi")]
    _universe: mpi::environment::Universe,
}

impl Processes {
    /// Start MPI when built with it (threading level Funneled: only the main thread
    /// calls MPI); otherwise the serial communicator.
    pub fn start() -> Result<Self, String> {
        #[cfg(feature = "mpi")]
        {
            use mpi::traits::Communicator;
            let (universe, level) =
                mpi::initialize_with_threading(mpi::Threading::Funneled).ok_or_else(|| "MPI was already initialised".to_string())?;
            if level < mpi::Threading::Funneled {
                return Err(format!("the MPI library provides threading level {level:?}, mre-sim needs Funneled"));
            }
            let world = universe.world();
            if world.size() > 1 {
                install_abort_on_panic();
            }
            Ok(Self { comm: Box::new(mre_solver::parallel::mpi::MpiComm::new(world)), _universe: universe })
        }
        #[cfg(not(feature = "mpi"))]
        {
            if let Some(msg) = refuse_parallel_launch(|v| std::env::var(v).ok()) {
                return Err(msg);
            }
            Ok(Self { comm: Box::new(Serial) })
        }
    }

    /// The communicator.
    pub fn comm(&self) -> &dyn Comm {
        self.comm.as_ref()
    }
}

/// A panic on one rank must not leave the others waiting forever in a collective:
/// print it, then MPI_Abort the whole job.
#[cfg(feature = "mpi")]
fn install_abort_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        use mpi::traits::Communicator;
        mpi::topology::SimpleCommunicator::world().abort(101);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn launcher_detection() {
        assert!(refuse_parallel_launch(env(&[])).is_none());
        assert!(refuse_parallel_launch(env(&[("OMPI_COMM_WORLD_SIZE", "1")])).is_none());
        assert!(refuse_parallel_launch(env(&[("SLURM_NTASKS", "8")])).is_none(), "a batch script alone is one process");
        assert!(refuse_parallel_launch(env(&[("PMIX_RANK", "0")])).is_none());
        for (k, v) in [("OMPI_COMM_WORLD_SIZE", "4"), ("PMI_SIZE", "2"), ("SLURM_STEP_NUM_TASKS", "28"), ("PMIX_RANK", "3")] {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(k, v)]));
            let msg = refuse_parallel_launch(env(pairs)).expect(k);
            assert!(msg.contains("--features mpi") && msg.contains(k), "{msg}");
        }
    }
}
