//! The Bayesian inversion across MPI ranks.
//!
//! * [`DistributedPosterior`]: the log posterior of the MAP and Laplace stages with the
//!   frequency solves spread over the ranks (frequency `f` on rank `f % size`). Every rank
//!   gets every frequency's term and adds them in frequency order, so the value and gradient
//!   are bit-identical to [`Posterior`]'s on one process.
//! * [`gather_draws`]: the NUTS chains of all ranks (rank `r` runs the chains `c % size == r`)
//!   on rank 0, which writes the result.
//! * [`mirror_checkpoints`]: rank 0's MAP and Laplace checkpoints for every rank, so that
//!   all ranks resume at the same iteration and call the collectives in the same order.
//!
//! Sums over ranks add `−0.0` in every slot a rank does not own: `x + (−0.0) = x` for every
//! `x` (including `±0.0`), so packing is exact.

use std::path::{Path, PathBuf};
use std::thread::ThreadId;

use crate::bayes::Draws;
use crate::posterior::combine_terms;
use crate::{InverseError, LogDensity, Posterior};
use mre_solver::parallel::Comm;
use num_complex::Complex64;

/// The frequencies rank `rank` of `size` solves: `f % size == rank`.
pub fn my_frequencies(n_frequencies: usize, rank: usize, size: usize) -> Vec<usize> {
    (0..n_frequencies).filter(|f| f % size == rank).collect()
}

/// The chains rank `rank` of `size` runs: `c % size == rank`.
pub fn my_chains(chains: usize, rank: usize, size: usize) -> Vec<usize> {
    (0..chains).filter(|c| c % size == rank).collect()
}

/// Element-wise sum over ranks of `data` (zero-filled as `−0.0` where a rank has nothing)
/// on rank 0; the other ranks' buffers are unspecified afterwards.
fn sum_f64_to_root(comm: &dyn Comm, data: &mut [f64]) {
    let mut packed: Vec<Complex64> = data.chunks(2).map(|c| Complex64::new(c[0], c.get(1).copied().unwrap_or(-0.0))).collect();
    comm.sum_to_root(&mut packed);
    for (out, c) in data.chunks_mut(2).zip(&packed) {
        out[0] = c.re;
        if let Some(im) = out.get_mut(1) {
            *im = c.im;
        }
    }
}

/// [`Posterior`] with its frequency solves spread over the ranks of a communicator. Every
/// rank must evaluate it at the same points in the same order (the optimiser and the
/// Laplace approximation are deterministic, so they do), and only on the thread that created
/// it (MPI runs at threading level Funneled): use it with `parallel = false` in
/// [`crate::bayes::find_mode`].
pub struct DistributedPosterior<'a> {
    post: &'a Posterior<'a>,
    comm: &'a dyn Comm,
    mine: Vec<usize>,
    n_frequencies: usize,
    thread: ThreadId,
}

// SAFETY: `Sync` lets the inference library hold `&DistributedPosterior` across threads; the
// communicator itself is only used by `logp_grad`, which refuses (returns an error before any
// communication) on every thread but the one that created the value.
unsafe impl Sync for DistributedPosterior<'_> {}

impl<'a> DistributedPosterior<'a> {
    /// `post` over the ranks of `comm`, used from the calling thread.
    pub fn new(post: &'a Posterior<'a>, comm: &'a dyn Comm) -> Self {
        let n_frequencies = post.forward.n_frequencies();
        let mine = my_frequencies(n_frequencies, comm.rank(), comm.size());
        Self { post, comm, mine, n_frequencies, thread: std::thread::current().id() }
    }
}

impl LogDensity for DistributedPosterior<'_> {
    fn dim(&self) -> usize {
        self.post.dim()
    }

    fn logp_grad(&self, theta: &[f64], grad: &mut [f64]) -> crate::Result<f64> {
        if std::thread::current().id() != self.thread {
            return Err(InverseError::Inference("the distributed posterior was evaluated off the MPI thread".into()));
        }
        let dim = self.post.dim();
        let local = self.post.frequency_terms(theta, &self.mine);
        // Fail together: a non-finite term anywhere is a non-finite density on every rank (the
        // optimiser backs off), any other error is an error on every rank.
        if !self.comm.all_ok(local.is_ok()) {
            let fatal_here = matches!(&local, Err(e) if !matches!(e, InverseError::NonFinite(_)));
            let none_fatal = self.comm.all_ok(!fatal_here);
            return Err(match local {
                Err(e) if fatal_here || none_fatal => e,
                _ if none_fatal => InverseError::NonFinite("a frequency term on another rank is not finite".into()),
                _ => InverseError::Inference("a frequency term failed on another rank".into()),
            });
        }
        let terms = local.expect("checked by all_ok");
        let width = 1 + dim;
        let mut buf = vec![-0.0; self.n_frequencies * width];
        for (&f, (lp, g)) in self.mine.iter().zip(&terms) {
            buf[f * width] = *lp;
            buf[f * width + 1..(f + 1) * width].copy_from_slice(g);
        }
        sum_f64_to_root(self.comm, &mut buf);
        self.comm.broadcast(0, &mut buf);
        let all: Vec<(f64, Vec<f64>)> = buf.chunks(width).map(|c| (c[0], c[1..].to_vec())).collect();
        Ok(combine_terms(self.post.prior_term(theta), &all, grad))
    }

    fn names(&self) -> Vec<String> {
        self.post.names()
    }
}

/// Collect the draws of `chains` chains of `n_draws` draws of dimension `dim` on rank 0, each
/// rank giving those of its chains `ids` (in that order): rank 0 gets all chains in chain
/// order with divergences and evaluations summed, the other ranks `None`.
pub fn gather_draws(comm: &dyn Comm, local: Draws, ids: &[usize], chains: usize, n_draws: usize, dim: usize) -> Option<Draws> {
    let per_chain = n_draws * dim;
    let mut buf = vec![-0.0; chains * per_chain + 3];
    for (&c, chain) in ids.iter().zip(&local.chains) {
        for (k, x) in chain.iter().enumerate().take(n_draws) {
            buf[c * per_chain + k * dim..c * per_chain + (k + 1) * dim].copy_from_slice(x);
        }
    }
    buf[chains * per_chain] = local.divergences as f64;
    buf[chains * per_chain + 1] = local.evaluations as f64;
    buf[chains * per_chain + 2] = local.accepted.map_or(-1.0, |a| a as f64);
    sum_f64_to_root(comm, &mut buf);
    if !comm.is_root() {
        return None;
    }
    let all =
        (0..chains).map(|c| (0..n_draws).map(|k| buf[c * per_chain + k * dim..c * per_chain + (k + 1) * dim].to_vec()).collect()).collect();
    Some(Draws {
        chains: all,
        divergences: buf[chains * per_chain] as u64,
        evaluations: buf[chains * per_chain + 1] as u64,
        // Only meaningful when the sampler counts acceptances (then on every rank).
        accepted: local.accepted.map(|_| buf[chains * per_chain + 2] as u64),
        method: local.method,
    })
}

/// Files of the MAP and Laplace stages in a checkpoint directory (the L-BFGS state, the
/// finished Gauss–Newton MAP, the Laplace approximation), and of `mre_pipeline::bayes`'s
/// stages: the bulk-modulus start's (`bulk-start/`), the finished first stage, the
/// approximation-error model and the final stage's MAP and Laplace files in `model-error/`.
const MODE_FILES: [&str; 10] = [
    "map.cbor",
    "gauss-newton-map.cbor",
    "laplace.cbor",
    "bulk-start/gauss-newton-map.cbor",
    "bulk-start/map.cbor",
    "plain-map.cbor",
    "model-error.cbor",
    "model-error/map.cbor",
    "model-error/gauss-newton-map.cbor",
    "model-error/laplace.cbor",
];

/// The checkpoint directory of this rank's MAP and Laplace stages: `shared` on rank 0,
/// `<shared>/rank-<r>` on the others, holding a copy of rank 0's files (so that every rank
/// resumes at the same iteration, also when `shared` is not on a shared filesystem). NUTS
/// chains write their own files (`<shared>/chains/chain-<c>.json`) from every rank.
pub fn mirror_checkpoints(comm: &dyn Comm, shared: &Path) -> Result<PathBuf, String> {
    if comm.size() == 1 {
        return Ok(shared.to_path_buf());
    }
    let mine = if comm.is_root() { shared.to_path_buf() } else { shared.join(format!("rank-{}", comm.rank())) };
    let mut problem = None;
    for name in MODE_FILES {
        // Length, −1 for no file, −2 for an unreadable one.
        let mut bytes = Vec::new();
        let mut len = [0.0];
        if comm.is_root() {
            len[0] = match std::fs::read(shared.join(name)) {
                Ok(b) => {
                    bytes = b;
                    bytes.len() as f64
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => -1.0,
                Err(e) => {
                    problem = Some(format!("{}: {e}", shared.join(name).display()));
                    -2.0
                }
            };
        }
        comm.broadcast(0, &mut len);
        if len[0] == -2.0 {
            return Err(problem.unwrap_or_else(|| format!("rank 0 cannot read its checkpoint {name}")));
        }
        let n = len[0].max(0.0) as usize;
        let mut words: Vec<f64> = bytes
            .chunks(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                f64::from_bits(u64::from_le_bytes(w))
            })
            .collect();
        words.resize(n.div_ceil(8), 0.0);
        if n > 0 {
            comm.broadcast(0, &mut words);
        }
        if comm.is_root() {
            continue;
        }
        let path = mine.join(name);
        let written = if len[0] < 0.0 {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{}: {e}", path.display())),
                _ => Ok(()),
            }
        } else {
            let mut b: Vec<u8> = words.iter().flat_map(|w| w.to_bits().to_le_bytes()).collect();
            b.truncate(n);
            let parent = path.parent().map(std::fs::create_dir_all).transpose().map_err(|e| format!("{}: {e}", path.display()));
            parent.and_then(|_| mre_solver::files::write_replace(&path, &b).map_err(|e| e.to_string()))
        };
        if let Err(e) = written {
            problem.get_or_insert(e);
        }
    }
    if comm.all_ok(problem.is_none()) {
        Ok(mine)
    } else {
        Err(problem.unwrap_or_else(|| "another rank cannot copy the checkpoint".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mre_solver::parallel::Serial;

    #[test]
    fn work_is_split_round_robin() {
        assert_eq!(my_frequencies(3, 0, 2), vec![0, 2]);
        assert_eq!(my_frequencies(3, 1, 2), vec![1]);
        assert_eq!(my_frequencies(2, 2, 3), Vec::<usize>::new());
        assert_eq!(my_chains(4, 1, 3), vec![1]);
        assert_eq!(my_chains(4, 0, 1), vec![0, 1, 2, 3]);
    }

    #[test]
    fn negative_zero_padding_is_exact() {
        for x in [0.0, -0.0, 1.5, -3.25e-300, f64::MIN_POSITIVE] {
            assert_eq!((x + -0.0f64).to_bits(), x.to_bits());
            assert_eq!((-0.0f64 + x).to_bits(), x.to_bits());
        }
        // Odd lengths survive the packing into complex pairs.
        let mut v = vec![1.0, -0.0, 3.0];
        sum_f64_to_root(&Serial, &mut v);
        assert_eq!(v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), [1.0f64, -0.0, 3.0].map(f64::to_bits));
    }

    #[test]
    fn gathered_draws_on_one_rank_are_the_local_ones() {
        let local = Draws {
            chains: vec![vec![vec![1.0, 2.0]; 3], vec![vec![-1.0, 0.5]; 3]],
            divergences: 2,
            evaluations: 77,
            accepted: None,
            method: "bayes-nuts".into(),
        };
        let all = gather_draws(&Serial, local.clone(), &[0, 1], 2, 3, 2).unwrap();
        assert_eq!(all, local);
    }
}
