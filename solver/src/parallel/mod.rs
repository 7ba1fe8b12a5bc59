//! Work partitioning and the communicator across processes.
//!
//! Physics code never calls MPI: it receives a [`Comm`] (rank, size and a few
//! collective operations) and a [`Partition`] of its work. [`Serial`] is the
//! single-process communicator; with the feature `mpi`, `mpi::MpiComm` wraps
//! an rsmpi world communicator. Collectives are called from the calling thread
//! only, never inside rayon closures (MPI is initialised as `Funneled`).

#[cfg(feature = "mpi")]
pub mod mpi;

use std::ops::Range;

use num_complex::Complex64;

/// The operations the simulation needs from a communicator. Every rank must
/// call a collective operation in the same order.
pub trait Comm {
    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn size(&self) -> usize;
    /// Element-wise sum of `data` over all ranks, into rank 0's `data` (the
    /// other ranks' buffers are left unspecified).
    fn sum_to_root(&self, data: &mut [Complex64]);
    /// Whether every rank passes `ok = true` (a logical AND over ranks; all
    /// ranks get the answer). Used to fail together on errors found by some ranks.
    fn all_ok(&self, ok: bool) -> bool;
    /// Rank `root`'s `data` on every rank (`data` has the same length everywhere).
    fn broadcast(&self, root: usize, data: &mut [f64]);
    /// True on rank 0, the rank that reconstructs, writes and prints.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// One process: every collective is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serial;

impl Comm for Serial {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_to_root(&self, _data: &mut [Complex64]) {}
    fn all_ok(&self, ok: bool) -> bool {
        ok
    }
    fn broadcast(&self, _root: usize, _data: &mut [f64]) {}
}

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

    /// The partition of `comm`.
    pub fn of(comm: &dyn Comm) -> Self {
        Self { rank: comm.rank(), size: comm.size() }
    }

    /// This rank's contiguous range of `weights.len()` items when the items are
    /// split into `size` consecutive ranges of (nearly) equal total weight: item
    /// `i` goes to the rank `⌊size · W_i / W⌋`, `W_i` the weight before item `i`
    /// plus half its own, `W` the total. Ranges are contiguous, ordered by rank,
    /// cover every item once and depend only on the weights and `size`.
    pub fn balanced(&self, weights: &[u64]) -> Range<usize> {
        let total: u64 = weights.iter().sum();
        if total == 0 {
            // Nothing to balance: split by count.
            let n = weights.len();
            return n * self.rank / self.size..n * (self.rank + 1) / self.size;
        }
        let owner = |before: u64, w: u64| -> usize {
            // 2·size·(before + w/2) / (2·total), in integers.
            let x = (2 * before + w) as u128 * self.size as u128 / (2 * total as u128);
            (x as usize).min(self.size - 1)
        };
        let (mut start, mut end) = (None, 0);
        let mut before = 0u64;
        for (i, &w) in weights.iter().enumerate() {
            let r = owner(before, w);
            if r == self.rank {
                start.get_or_insert(i);
                end = i + 1;
            } else if r > self.rank {
                break;
            }
            before += w;
        }
        match start {
            Some(s) => s..end,
            // No item of its own: an empty range at the right position.
            None => {
                let mut before = 0u64;
                let pos = weights
                    .iter()
                    .position(|&w| {
                        let r = owner(before, w);
                        before += w;
                        r > self.rank
                    })
                    .unwrap_or(weights.len());
                pos..pos
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_ranges_cover_everything_in_order() {
        let weights: Vec<u64> = (0..1000).map(|i| if (300..420).contains(&i) { 0 } else { 1 + (i % 7) as u64 }).collect();
        for size in [1, 2, 3, 4, 7, 28] {
            let ranges: Vec<Range<usize>> = (0..size).map(|rank| Partition { rank, size }.balanced(&weights)).collect();
            let mut next = 0;
            for r in &ranges {
                assert_eq!(r.start, next, "size {size}: {ranges:?}");
                next = r.end;
            }
            assert_eq!(next, weights.len());
            let total: u64 = weights.iter().sum();
            for r in &ranges {
                let w: u64 = weights[r.clone()].iter().sum();
                // Within one item (≤ 7) of the ideal share.
                assert!((w as f64 - total as f64 / size as f64).abs() <= 7.0, "size {size}: {w} of {total}");
            }
        }
    }

    #[test]
    fn more_ranks_than_items_gives_empty_ranges() {
        let weights = [5u64, 5];
        let ranges: Vec<Range<usize>> = (0..4).map(|rank| Partition { rank, size: 4 }.balanced(&weights)).collect();
        assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), 2);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(Partition { rank: 0, size: 3 }.balanced(&[0, 0, 0]), 0..1);
    }
}
