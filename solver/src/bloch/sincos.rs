//! Vectorisable sin/cos for the Bloch kernels.
//!
//! [`sin_cos`] is branch-free straight-line arithmetic, so a loop calling it
//! auto-vectorises (no libm call, no integer conversion, no table lookup):
//!
//! 1. `t = x/π + MAGIC` with `MAGIC = 1.5·2^p` (`p` = mantissa bits) rounds `x/π`
//!    to the nearest integer inside the mantissa of `t`; `k = t - MAGIC`.
//! 2. `r = x - kπ`, `|r| ≤ π/2`: two-term Cody–Waite with FMA ([`Fused`]), or a
//!    three-term split with exactly representable products when no hardware FMA
//!    is available ([`Separate`]).
//! 3. `sin r = r + r³ S(r²)`, `cos r = 1 - r²/2 + r⁴ C(r²)` with near-minimax
//!    (Chebyshev-fitted) polynomials on `[-π/2, π/2]`, evaluated by Estrin's scheme.
//! 4. `sin x = (-1)^k sin r`, `cos x = (-1)^k cos r`: the parity of `k` is the
//!    lowest mantissa bit of `t`, shifted into the sign bit and XORed in.
//!
//! Accuracy against libm (absolute, tested): f32 ≈ 2e-7 for `|x| ≤ 1e4` rad;
//! f64 ≈ 1e-15 for `|x| ≤ 1e4` rad. Valid range: `|x| < 2^22·π` (f32) and
//! `|x| < 2^51·π` (f64) with [`Fused`]; with [`Separate`] the reduction stays
//! exact for `|x| < 2.5e4` rad (f32) and `|x| < 2e8` rad (f64) and degrades
//! gracefully beyond. NaN/infinite inputs give unspecified finite or NaN output.

use std::fmt::Debug;
use std::ops::{Add, Mul, Neg, Sub};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A kernel float: `f32` or `f64` (sealed).
///
/// Carries the arithmetic the kernels need plus the constants of [`sin_cos`].
pub trait Float:
    sealed::Sealed
    + Copy
    + Debug
    + Default
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// 1/π.
    const FRAC_1_PI: Self;
    /// `1.5·2^p`: `(v + MAGIC) - MAGIC` rounds `v` to the nearest integer for `|v| < 2^(p-1)`.
    const MAGIC: Self;
    /// π rounded to `Self` (first term of the fused Cody–Waite split).
    const PI_HI: Self;
    /// `π - PI_HI` rounded (second term of the fused split).
    const PI_LO: Self;
    /// Three-term split of π for [`Separate`]; the first two terms have short
    /// mantissas so `k·PI_1` and `k·PI_2` are exact.
    const PI_1: Self;
    /// Second term of the three-term split.
    const PI_2: Self;
    /// Third term of the three-term split.
    const PI_3: Self;
    /// `S(z)` coefficients, lowest degree first: `sin r = r + r·z·S(z)`, `z = r²`.
    const SIN_POLY: &'static [Self];
    /// `C(z)` coefficients, lowest degree first: `cos r = 1 - z/2 + z²·C(z)`.
    const COS_POLY: &'static [Self];

    /// Round from f64.
    fn from_f64(x: f64) -> Self;
    /// Widen to f64.
    fn to_f64(self) -> f64;
    /// `self·a + b` with a single rounding (hardware FMA or a slow libm call).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `self` with its sign flipped when the lowest mantissa bit of `t` is set.
    fn flip_sign_if_odd(self, t: Self) -> Self;
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const FRAC_1_PI: Self = std::f32::consts::FRAC_1_PI;
    const MAGIC: Self = 12_582_912.0; // 0x1.8p23
    const PI_HI: Self = std::f32::consts::PI; // 0x1.921fb6p+1
    const PI_LO: Self = -8.742_278e-8; // -0x1.777a5cp-24
    const PI_1: Self = 3.140_625; // 8 significant bits
    const PI_2: Self = 9.675_026e-4; // 0x1.fb4p-11, 11 significant bits
    const PI_3: Self = 1.509_958e-7; // 0x1.4442d2p-23
    const SIN_POLY: &'static [Self] = &[-0.166_666_66, 0.008_333_242_5, -0.000_198_227_4, 2.634_756_4e-6];
    const COS_POLY: &'static [Self] = &[0.041_666_668, -0.001_388_881_2, 2.478_608_3e-5, -2.654_606_7e-7];

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }
    #[inline(always)]
    fn flip_sign_if_odd(self, t: Self) -> Self {
        f32::from_bits(self.to_bits() ^ (t.to_bits() << 31))
    }
}

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const FRAC_1_PI: Self = std::f64::consts::FRAC_1_PI;
    const MAGIC: Self = 6_755_399_441_055_744.0; // 0x1.8p52
    const PI_HI: Self = std::f64::consts::PI; // 0x1.921fb54442d18p+1
    const PI_LO: Self = 1.224_646_799_147_353_2e-16; // 0x1.1a62633145c07p-53
    const PI_1: Self = 3.141_592_651_605_606; // 0x1.921fb54p+1, 27 significant bits
    const PI_2: Self = 1.984_187_147_918_703_4e-9; // 0x1.10b461p-29, 25 significant bits
    const PI_3: Self = 1.144_237_745_221_966_4e-17; // 0x1.a62633145c06ep-57
    const SIN_POLY: &'static [Self] = &[
        -0.166_666_666_666_666_5,
        0.008_333_333_333_325_933,
        -0.000_198_412_698_364_690_24,
        2.755_731_805_568_578_3e-6,
        -2.505_197_292_154_555e-8,
        1.605_097_224_413_563_6e-10,
        -7.408_054_889_542_61e-13,
    ];
    const COS_POLY: &'static [Self] = &[
        0.041_666_666_666_666_66,
        -0.001_388_888_888_888_476_7,
        2.480_158_729_891_355e-5,
        -2.755_731_857_336_617_5e-7,
        2.087_668_155_886_739_5e-9,
        -1.146_625_225_971_847_9e-11,
        4.646_435_959_112_480_6e-14,
    ];

    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    #[inline(always)]
    fn flip_sign_if_odd(self, t: Self) -> Self {
        f64::from_bits(self.to_bits() ^ (t.to_bits() << 63))
    }
}

/// How `a·b + c` is evaluated in a kernel instantiation.
///
/// The choice is made at compile time per instantiation: [`Fused`] where the
/// target (or a `#[target_feature]` region) has hardware FMA, [`Separate`]
/// otherwise (there `mul_add` would be a slow libm call that blocks vectorisation).
pub trait FmaMode: Copy + Send + Sync + 'static {
    /// True: one rounding (`mul_add`); false: `a*b + c` with two roundings.
    const FUSED: bool;
}

/// Hardware fused multiply-add.
#[derive(Debug, Clone, Copy)]
pub struct Fused;
impl FmaMode for Fused {
    const FUSED: bool = true;
}

/// Separate multiply and add (portable, no FMA instruction needed).
#[derive(Debug, Clone, Copy)]
pub struct Separate;
impl FmaMode for Separate {
    const FUSED: bool = false;
}

/// `a·b + c` in mode `M`.
#[inline(always)]
pub fn fma<T: Float, M: FmaMode>(a: T, b: T, c: T) -> T {
    if M::FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `Σ coef[j] z^j` (coefficients lowest degree first) by Estrin's scheme for the 4- and
/// 7-term polynomials used here (shorter dependency chains than Horner), Horner otherwise.
/// `zz = z²`.
#[inline(always)]
fn poly<T: Float, M: FmaMode>(z: T, zz: T, c: &[T]) -> T {
    match *c {
        [c0, c1, c2, c3] => fma::<T, M>(zz, fma::<T, M>(c3, z, c2), fma::<T, M>(c1, z, c0)),
        [c0, c1, c2, c3, c4, c5, c6] => {
            let lo = fma::<T, M>(zz, fma::<T, M>(c3, z, c2), fma::<T, M>(c1, z, c0));
            let hi = fma::<T, M>(zz, c6, fma::<T, M>(c5, z, c4));
            fma::<T, M>(zz * zz, hi, lo)
        }
        _ => {
            let (last, rest) = c.split_last().expect("non-empty polynomial");
            rest.iter().rev().fold(*last, |p, &a| fma::<T, M>(p, z, a))
        }
    }
}

/// `(sin r, cos r, t)` with `x = kπ + r`, `|r| ≤ π/2`: `sin x = (-1)^k sin r` and
/// `cos x = (-1)^k cos r`, where the parity of `k` is the lowest mantissa bit of `t`
/// (apply it with [`Float::flip_sign_if_odd`]). Lets a caller fold the sign into
/// other operands, off the critical path of the polynomial evaluation.
#[inline(always)]
pub fn sin_cos_reduced<T: Float, M: FmaMode>(x: T) -> (T, T, T) {
    // nearest integer k to x/π, kept in the low mantissa bits of t
    let t = fma::<T, M>(x, T::FRAC_1_PI, T::MAGIC);
    let k = t - T::MAGIC;
    let r = if M::FUSED {
        // x - k·PI_HI is computed exactly inside the FMA and rounded once
        fma::<T, M>(-k, T::PI_LO, fma::<T, M>(-k, T::PI_HI, x))
    } else {
        // k·PI_1, k·PI_2 exact; x - k·PI_1 exact (Sterbenz)
        ((x - k * T::PI_1) - k * T::PI_2) - k * T::PI_3
    };
    let z = r * r;
    let zz = z * z;
    let s = fma::<T, M>(r * z, poly::<T, M>(z, zz, T::SIN_POLY), r);
    let c = fma::<T, M>(zz, poly::<T, M>(z, zz, T::COS_POLY), fma::<T, M>(T::from_f64(-0.5), z, T::ONE));
    (s, c, t)
}

/// `(sin x, cos x)`, branch-free and vectorisable (see the module docs for the
/// algorithm, accuracy and valid range).
#[inline(always)]
pub fn sin_cos<T: Float, M: FmaMode>(x: T) -> (T, T) {
    let (s, c, t) = sin_cos_reduced::<T, M>(x);
    (s.flip_sign_if_odd(t), c.flip_sign_if_odd(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::uniform01;

    /// Max abs error of `sin_cos::<T, M>` vs f64 libm on `x` (inputs first rounded to T).
    fn max_err<T: Float, M: FmaMode>(xs: &[f64]) -> (f64, f64) {
        let mut worst = (0.0f64, 0.0f64);
        for &x in xs {
            let xt = T::from_f64(x);
            let (s, c) = sin_cos::<T, M>(xt);
            let xd = xt.to_f64();
            let e = (s.to_f64() - xd.sin()).abs().max((c.to_f64() - xd.cos()).abs());
            if e > worst.0 {
                worst = (e, xd);
            }
        }
        worst
    }

    /// Random points in ±range plus multiples of π/4 (quadrant edges) and ±0.
    fn points(range: f64, n: u64, seed: u64) -> Vec<f64> {
        let mut xs: Vec<f64> = (0..n).map(|i| range * (2.0 * uniform01(seed, i, 0) - 1.0)).collect();
        xs.extend((-64..=64).map(|i| f64::from(i) * std::f64::consts::FRAC_PI_4));
        xs.extend((-64..=64).map(|i| f64::from(i) * std::f64::consts::FRAC_PI_2 * (1.0 + 1e-7)));
        xs.extend([0.0, -0.0, range, -range]);
        xs
    }

    #[test]
    fn sincos_f32_matches_libm() {
        let xs = points(1e4, 1 << 18, 1);
        for (name, (e, x)) in [("fused", max_err::<f32, Fused>(&xs)), ("separate", max_err::<f32, Separate>(&xs))] {
            assert!(e < 5e-7, "f32 {name}: error {e:e} at x = {x}");
        }
        let small = points(4.0, 1 << 16, 2);
        assert!(max_err::<f32, Fused>(&small).0 < 3e-7);
        assert!(max_err::<f32, Separate>(&small).0 < 3e-7);
    }

    #[test]
    fn sincos_f64_matches_libm() {
        let xs = points(100.0, 1 << 18, 3);
        for (name, (e, x)) in [("fused", max_err::<f64, Fused>(&xs)), ("separate", max_err::<f64, Separate>(&xs))] {
            assert!(e < 1e-14, "f64 {name}: error {e:e} at x = {x}");
        }
        let wide = points(1e4, 1 << 18, 4);
        assert!(max_err::<f64, Fused>(&wide).0 < 1e-14);
        assert!(max_err::<f64, Separate>(&wide).0 < 1e-14);
    }

    #[test]
    fn sincos_is_odd_and_even_and_exact_at_zero() {
        for x in [0.3f64, 2.0, 7.5, 123.4] {
            let (s1, c1) = sin_cos::<f64, Fused>(x);
            let (s2, c2) = sin_cos::<f64, Fused>(-x);
            assert_eq!((s1, c1), (-s2, c2));
        }
        assert_eq!(sin_cos::<f32, Fused>(0.0), (0.0, 1.0));
        assert_eq!(sin_cos::<f64, Separate>(0.0), (0.0, 1.0));
    }
}
