//! The one seeded random generator of mre-sim: SplitMix64 (Steele, Lea & Flood 2014).
//!
//! Two ways to use it, bit-identical across versions, platforms and thread or rank counts:
//!
//! * stateless, keyed by position: [`uniform01`]`(seed, index, stream)` hashes the global index
//!   of a spin, voxel or sample with [`mix64`], so any partition of the work draws the same
//!   numbers (never key a stream by thread or rank);
//! * sequential: [`SplitMix64`] for start-point jitter, seeds of chains and tests, seeded by
//!   several words with [`SplitMix64::from_words`].
//!
//! Written here rather than taken from a crate so results never change when a dependency's
//! generator does. The constants and the order of operations are part of the results: do not
//! change them.

use std::f64::consts::TAU;

/// The SplitMix64 increment (the golden ratio `2⁶⁴/φ`, odd).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function of a state `z` (already advanced).
fn finalise(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Deterministic 64-bit mixing: one SplitMix64 step from state `z` (`z + γ`, then the
/// finaliser). Random streams in mre-sim are keyed by (seed, global index), never by thread
/// or rank.
pub fn mix64(z: u64) -> u64 {
    finalise(z.wrapping_add(GOLDEN_GAMMA))
}

/// Uniform number in `[0, 1)` (multiples of 2⁻⁵³) from `(seed, index, stream)`, deterministic.
pub fn uniform01(seed: u64, index: u64, stream: u64) -> f64 {
    let h = mix64(mix64(seed ^ mix64(stream)) ^ index);
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A sequential SplitMix64 generator (64 bits of state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose state is `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator seeded by mixing several words (e.g. seed, chain, segment) in order.
    pub fn from_words(words: &[u64]) -> Self {
        let mut g = Self(GOLDEN_GAMMA);
        for &w in words {
            g.0 ^= w;
            g.0 = g.next_u64();
        }
        g
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        finalise(self.0)
    }

    /// Uniform on the open interval `(0, 1)` (odd multiples of 2⁻⁵⁴: never 0, so `ln` is finite).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, cosine branch; two uniforms per number).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_splitmix64_sequence() {
        // Reference values of SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        let mut g = SplitMix64::new(1_234_567);
        let expected = [6_457_827_717_110_365_317u64, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423];
        for e in expected {
            assert_eq!(g.next_u64(), e);
        }
    }

    #[test]
    fn the_stateless_and_sequential_forms_agree() {
        // mix64(z) is the first output of a generator whose state is z.
        for z in [0u64, 1, 42, u64::MAX] {
            assert_eq!(mix64(z), SplitMix64::new(z).next_u64());
        }
    }

    #[test]
    fn uniforms_lie_in_their_intervals() {
        let mut g = SplitMix64::from_words(&[7, 3]);
        for i in 0..1000 {
            let u = g.uniform();
            assert!(u > 0.0 && u < 1.0);
            let v = uniform01(7, i, 3);
            assert!((0.0..1.0).contains(&v));
        }
    }
}
