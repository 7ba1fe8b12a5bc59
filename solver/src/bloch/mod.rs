//! Bloch kernels.
//!
//! Both kernels run a [`SequencePlan`](crate::SequencePlan) on a set of [`Isochromats`] and return the
//! flat complex signal `s[adc] = Σ_spins w · (Mx + i My) · e^{-i φ_adc}`.
//!
//! Per step: RF hard pulse (Rodrigues rotation about `(cos φ, sin φ, 0)` by α),
//! then rotation about z by `φ = γ (m0·r + Re{mω·U}) + Δω dt` in the sense
//! `Mxy ← Mxy e^{-iφ}`, relaxation (`Mxy ·= E2`, `Mz ← Mz E1 + 1 - E1`), ADC, spoil.
//! Equilibrium magnetisation is 1 per spin; proton density enters the weight `w`.
//!
//! [`mod@reference`] is the plain f64 oracle (also the stepping kernel for arbitrary
//! motion); [`fast`] is the optimised structure-of-arrays kernel (f32 or f64,
//! SIMD-friendly, rayon over spin blocks), tested against the reference.

pub mod fast;
pub mod reference;
pub mod sincos;

use num_complex::Complex64;

pub use reference::reference;

/// Isochromats ready for a kernel (structure of arrays, f64, SI units).
#[derive(Debug, Clone, Default)]
pub struct Isochromats {
    /// Rest position `[z, y, x]`, m.
    pub position_m: Vec<[f64; 3]>,
    /// Complex harmonic displacement amplitude `[z, y, x]`, m; empty for a static phantom.
    pub amplitude_m: Vec<[Complex64; 3]>,
    /// Off-resonance Δω, rad/s.
    pub off_resonance_rad_per_s: Vec<f64>,
    /// Signal weight (proton density / spins per voxel).
    pub weight: Vec<f64>,
    /// Relaxation class of each spin (index into `t1_s` / `t2_s`).
    pub relax_class: Vec<u16>,
    /// T1 per relaxation class, s.
    pub t1_s: Vec<f64>,
    /// T2 per relaxation class, s.
    pub t2_s: Vec<f64>,
}

impl Isochromats {
    /// Number of spins.
    pub fn len(&self) -> usize {
        self.position_m.len()
    }
    /// True when there are no spins.
    pub fn is_empty(&self) -> bool {
        self.position_m.is_empty()
    }
    /// Which displacement components `[z, y, x]` are non-zero for some spin.
    pub fn moving_axes(&self) -> [bool; 3] {
        let mut m = [false; 3];
        for u in &self.amplitude_m {
            for a in 0..3 {
                m[a] |= u[a].norm_sqr() != 0.0;
            }
        }
        m
    }
}

/// Floating-point precision of the fast kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Single precision (about 2× faster; relative error ~1e-6).
    F32,
    /// Double precision.
    F64,
}

impl Precision {
    /// `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}
