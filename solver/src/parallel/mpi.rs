//! [`Comm`] over an MPI communicator (rsmpi; feature `mpi`).

use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use num_complex::Complex64;

use super::Comm;

/// The world communicator of an initialised MPI environment. The binary owns the
/// `mpi::environment::Universe` (MPI is finalised when it is dropped) and must
/// keep it alive as long as this communicator is used.
pub struct MpiComm {
    world: SimpleCommunicator,
}

impl std::fmt::Debug for MpiComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiComm").field("rank", &self.rank()).field("size", &self.size()).finish()
    }
}

impl MpiComm {
    /// Wrap a communicator (usually `universe.world()`).
    pub fn new(world: SimpleCommunicator) -> Self {
        Self { world }
    }

    /// End every rank of the job with `code` (MPI_Abort): for an error found by one
    /// rank alone, which would otherwise leave the others waiting in a collective.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

/// The `[re, im]` pairs of a complex slice as a real slice (`Complex<f64>` is `repr(C)`).
fn as_f64(data: &mut [Complex64]) -> &mut [f64] {
    // SAFETY: num_complex::Complex<f64> is #[repr(C)] { re: f64, im: f64 }: two f64
    // without padding, so the memory of n complex numbers is 2n f64 with the same
    // alignment; the returned slice borrows `data` mutably for its lifetime.
    unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<f64>(), 2 * data.len()) }
}

impl Comm for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_to_root(&self, data: &mut [Complex64]) {
        let root = self.world.process_at_rank(0);
        let flat = as_f64(data);
        if self.is_root() {
            let send = flat.to_vec();
            root.reduce_into_root(&send[..], flat, SystemOperation::sum());
        } else {
            root.reduce_into(&flat[..], SystemOperation::sum());
        }
    }

    fn all_ok(&self, ok: bool) -> bool {
        let mine = i32::from(ok);
        let mut all = 0i32;
        self.world.all_reduce_into(&mine, &mut all, SystemOperation::min());
        all == 1
    }

    fn broadcast(&self, root: usize, data: &mut [f64]) {
        self.world.process_at_rank(root as i32).broadcast_into(data);
    }
}
