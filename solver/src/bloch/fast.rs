//! Optimised Bloch kernel: structure of arrays, f32 or f64, SIMD, rayon over spin blocks.
//!
//! [`fast`] computes exactly what [`reference(iso, plan, None)`](super::reference()) computes,
//! organised for speed:
//!
//! * **Blocks.** Spins are sorted by relaxation class (stable: original order inside
//!   a class) and cut into blocks of at most `BLOCK` spins (512 in f32, 256 in f64) of a single
//!   class, so `E1`/`E2` are per-step scalars of the block. A block's arrays
//!   (magnetisation plus per-spin inputs, in `T`) stay in L1 while the block runs
//!   through *all* steps: steps outer, spins inner. Blocks are padded to a multiple
//!   of `LANES` (32) with weight-0 spins, so loops have no scalar tails.
//! * **Per-step constants** are precomputed once per call, in `T`: `γ·m0` (3),
//!   `γ·Re mω` and `-γ·Im mω` per moving axis, `dt`, `1 - E1` and `1 - E2` per
//!   relaxation class (computed with `expm1` so they keep full relative precision
//!   for short steps), and the Rodrigues coefficients of each RF pulse. The ADC
//!   demodulation `e^{-i φ_adc}` is kept in f64: it multiplies the per-block sum,
//!   which is converted to f64 first.
//! * **Motion** is specialised by a const generic `NM` = number of moving axes
//!   ([`Isochromats::moving_axes`]): a static phantom pays nothing, the common
//!   single-axis case costs two FMAs per spin and step.
//! * **SIMD.** The spin loops are plain loops over equal-length, non-aliasing slices
//!   that LLVM auto-vectorises; [`sin_cos`](super::sincos::sin_cos) is branch-free. The block runner is
//!   `#[inline(always)]` generic code instantiated inside an
//!   `#[target_feature(enable = "avx2,fma")]` function on x86_64 (chosen at run
//!   time with `is_x86_feature_detected!`), with a portable fallback.
//! * **Determinism.** Blocks are grouped into a number of chunks that depends only
//!   on the problem size; each chunk sums its blocks in order into its own signal
//!   buffer and the buffers are added in chunk order, so the result is bit-identical
//!   for any number of rayon threads.

use std::ops::Range;

use num_complex::Complex64;
use rayon::prelude::*;

use super::sincos::{fma, sin_cos_reduced, Float, FmaMode};
use super::{Isochromats, Precision};
use crate::plan::{SequencePlan, NO_ADC};
use crate::units::GAMMA_RAD_PER_S_PER_T as GAMMA;

/// Block lengths are padded to a multiple of this many spins; it is also the number
/// of independent partial sums of the ADC reduction (so that it vectorises).
const LANES: usize = 32;

/// Upper bound on the number of chunks (units of deterministic summation and of
/// rayon work). The actual count is `min(blocks, MAX_CHUNKS)`.
const MAX_CHUNKS: usize = 64;

/// Memory budget for the per-chunk signal buffers alive at the same time, bytes.
const WAVE_BYTES: usize = 256 << 20;

/// A float the fast kernel runs in, with its tuned block length.
trait KernelFloat: Float {
    /// Maximum spins per block (a multiple of [`LANES`]); chosen so the block's
    /// ~10 arrays stay in a 32 KiB L1d.
    const BLOCK: usize;
}

impl KernelFloat for f32 {
    const BLOCK: usize = 512;
}

impl KernelFloat for f64 {
    const BLOCK: usize = 256;
}

/// Run `plan` on `iso` with the optimised kernel in the given precision.
///
/// Same result as [`reference(iso, plan, None)`](super::reference()) up to rounding
/// (relative to the largest sample: ~1e-14 in f64, ~1e-6 in f32). The signal is
/// bit-identical for any number of rayon threads.
///
/// # Panics
/// If the per-spin arrays of `iso` differ in length, a relaxation class has no
/// `t1_s`/`t2_s` entry, or an ADC index is not below `plan.n_signal`.
pub fn fast(iso: &Isochromats, plan: &SequencePlan, precision: Precision) -> Vec<Complex64> {
    match precision {
        Precision::F32 => run::<f32>(iso, plan, Isa::detect()),
        Precision::F64 => run::<f64>(iso, plan, Isa::detect()),
    }
}

/// Name of the instruction set the fast kernel uses on this machine
/// (`"avx2+fma"` or `"portable"`).
pub fn simd_backend() -> &'static str {
    Isa::detect().name()
}

// ---------------------------------------------------------------------------------------------
// instruction-set dispatch

/// Instruction set of a kernel instantiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// x86_64 with AVX2 and FMA (256-bit vectors, fused multiply-add).
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// Whatever the compilation target guarantees.
    Portable,
}

impl Isa {
    /// The best instruction set available on this CPU.
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Isa::Avx2Fma;
        }
        Isa::Portable
    }

    fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => "avx2+fma",
            Isa::Portable => "portable",
        }
    }
}

/// FMA mode of the portable instantiation: fused where the target guarantees an FMA
/// instruction (aarch64, or x86_64 built with `-C target-feature=+fma`), separate
/// multiply and add otherwise (`mul_add` would be a libm call there).
#[cfg(any(target_arch = "aarch64", target_feature = "fma"))]
type PortableFma = super::sincos::Fused;
#[cfg(not(any(target_arch = "aarch64", target_feature = "fma")))]
type PortableFma = super::sincos::Separate;

/// Signature of a chunk runner: all blocks in `blocks`, in order, added into `signal`.
type ChunkFn<T> = unsafe fn(&Prepared<'_, T>, Range<usize>, &mut Workspace<T>, &mut [Complex64]);

/// A chunk runner for one (precision, instruction set, moving-axis count).
///
/// Invariant: `f` only uses instructions the running CPU supports (checked in [`Kernel::new`]).
#[derive(Clone, Copy)]
struct Kernel<T: KernelFloat> {
    f: ChunkFn<T>,
    /// Moving-axis count `f` was instantiated for.
    nm: usize,
}

impl<T: KernelFloat> Kernel<T> {
    /// The runner for `isa` and `nm` moving axes. Falls back to portable code if
    /// `isa` is not available on this CPU.
    fn new(isa: Isa, nm: usize) -> Self {
        let isa = if isa == Isa::detect() { isa } else { Isa::Portable };
        let nm = nm.min(3);
        let f: ChunkFn<T> = match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => match nm {
                0 => run_chunk_avx2::<T, 0>,
                1 => run_chunk_avx2::<T, 1>,
                2 => run_chunk_avx2::<T, 2>,
                _ => run_chunk_avx2::<T, 3>,
            },
            Isa::Portable => match nm {
                0 => run_chunk_portable::<T, 0>,
                1 => run_chunk_portable::<T, 1>,
                2 => run_chunk_portable::<T, 2>,
                _ => run_chunk_portable::<T, 3>,
            },
        };
        Kernel { f, nm }
    }

    /// Run blocks `blocks` of `p` in order, adding their signal into `signal`.
    fn run(&self, p: &Prepared<'_, T>, blocks: Range<usize>, ws: &mut Workspace<T>, signal: &mut [Complex64]) {
        assert!(p.moving.len() == self.nm && ws.nm == self.nm && signal.len() >= p.n_signal);
        // SAFETY: `Kernel::new` only selects instruction sets the CPU supports.
        unsafe { (self.f)(p, blocks, ws, signal) }
    }
}

/// AVX2+FMA instantiation of [`run_chunk`].
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_chunk_avx2<T: KernelFloat, const NM: usize>(
    p: &Prepared<'_, T>,
    blocks: Range<usize>,
    ws: &mut Workspace<T>,
    signal: &mut [Complex64],
) {
    run_chunk::<T, super::sincos::Fused, NM>(p, blocks, ws, signal);
}

/// Portable instantiation of [`run_chunk`] (`unsafe` only to share [`ChunkFn`]; it has no precondition).
unsafe fn run_chunk_portable<T: KernelFloat, const NM: usize>(
    p: &Prepared<'_, T>,
    blocks: Range<usize>,
    ws: &mut Workspace<T>,
    signal: &mut [Complex64],
) {
    run_chunk::<T, PortableFma, NM>(p, blocks, ws, signal);
}

// ---------------------------------------------------------------------------------------------
// preparation: sorted blocks and per-step tables

/// A run of spins of one relaxation class: `perm[start..start + len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockSpan {
    class: usize,
    start: usize,
    len: usize,
}

/// Event flags of a step.
#[derive(Debug, Clone, Copy)]
struct StepHead {
    /// Index into [`Prepared::rf`], or `u32::MAX` for no RF pulse.
    rf: u32,
    /// `dt > 0`: precess and relax.
    precess: bool,
    /// Ideal spoil at the end of the step.
    spoil: bool,
    /// Signal index of the ADC sample at the end of the step, or [`NO_ADC`].
    adc: u32,
    /// Receiver demodulation `e^{-i φ_adc}` of that sample.
    demod: Complex64,
}

const NO_RF: u32 = u32::MAX;

/// Precession constants of one step, in kernel precision.
#[derive(Debug, Clone, Copy, Default)]
struct PrecessStep<T> {
    /// `γ·m0` `[z, y, x]`, rad/m.
    g: [T; 3],
    /// `γ·Re mω` of moving axis slot `k` (axis `Prepared::moving[k]`), rad/m.
    cr: [T; 3],
    /// `-γ·Im mω` of moving axis slot `k`, rad/m.
    ci: [T; 3],
    /// Step duration, s.
    dt: T,
}

/// Rodrigues rotation by α about `n = (nx, ny, 0)`:
/// `m' = m cos α + (n × m) sin α + n (n·m)(1 - cos α)`.
#[derive(Debug, Clone, Copy)]
struct RfStep<T> {
    /// cos α.
    ca: T,
    /// `nx sin α`, `ny sin α`.
    sx: T,
    sy: T,
    /// `nx (1 - cos α)`, `ny (1 - cos α)`.
    ox: T,
    oy: T,
    /// `nx = cos φ`, `ny = sin φ`.
    nx: T,
    ny: T,
}

/// Everything the block runner needs, computed once per call.
struct Prepared<'a, T> {
    iso: &'a Isochromats,
    /// Spin indices sorted by relaxation class (stable).
    perm: Vec<usize>,
    /// Blocks, class-major, each within one class.
    blocks: Vec<BlockSpan>,
    /// Axis (`0 = z, 1 = y, 2 = x`) of each moving slot.
    moving: Vec<usize>,
    /// Block capacity (spins), a multiple of [`LANES`].
    cap: usize,
    steps: Vec<StepHead>,
    precess: Vec<PrecessStep<T>>,
    rf: Vec<RfStep<T>>,
    /// `[class][step] = (1 - E1, 1 - E2)`.
    relax: Vec<Vec<[T; 2]>>,
    n_signal: usize,
}

impl<'a, T: KernelFloat> Prepared<'a, T> {
    fn new(iso: &'a Isochromats, plan: &SequencePlan) -> Self {
        Self::with_block(iso, plan, T::BLOCK)
    }

    /// Prepare with block capacity `cap` (rounded up to a multiple of [`LANES`]).
    fn with_block(iso: &'a Isochromats, plan: &SequencePlan, cap: usize) -> Self {
        let n = iso.len();
        assert!(
            iso.off_resonance_rad_per_s.len() == n && iso.weight.len() == n && iso.relax_class.len() == n,
            "Isochromats: per-spin arrays differ in length"
        );
        assert!(iso.amplitude_m.is_empty() || iso.amplitude_m.len() == n, "Isochromats: amplitude_m must be empty or one per spin");
        let n_class = iso.t1_s.len();
        assert!(iso.t2_s.len() == n_class, "Isochromats: t1_s and t2_s differ in length");
        let cap = cap.max(1).div_ceil(LANES) * LANES;

        // stable counting sort by class
        let mut count = vec![0usize; n_class + 1];
        for &c in &iso.relax_class {
            assert!((c as usize) < n_class, "Isochromats: relaxation class {c} has no T1/T2");
            count[c as usize + 1] += 1;
        }
        for c in 0..n_class {
            count[c + 1] += count[c];
        }
        let class_start = count.clone();
        let mut perm = vec![0usize; n];
        for (i, &c) in iso.relax_class.iter().enumerate() {
            perm[count[c as usize]] = i;
            count[c as usize] += 1;
        }
        // balanced blocks inside each class (no tiny trailing block)
        let mut blocks = Vec::new();
        for class in 0..n_class {
            let (lo, hi) = (class_start[class], class_start[class + 1]);
            let len = hi - lo;
            if len == 0 {
                continue;
            }
            let nb = len.div_ceil(cap);
            let size = len.div_ceil(nb).div_ceil(LANES) * LANES;
            let mut s = lo;
            while s < hi {
                let l = size.min(hi - s);
                blocks.push(BlockSpan { class, start: s, len: l });
                s += l;
            }
        }

        let axes = iso.moving_axes();
        let moving: Vec<usize> = (0..3).filter(|&a| axes[a]).collect();

        let ns = plan.len();
        let mut steps = Vec::with_capacity(ns);
        let mut precess = Vec::with_capacity(ns);
        let mut rf = Vec::new();
        let mut relax: Vec<Vec<[T; 2]>> = (0..n_class).map(|_| Vec::with_capacity(ns)).collect();
        for s in 0..ns {
            let alpha = plan.rf_angle_rad[s];
            let rf_index = if alpha != 0.0 {
                let (sa, ca) = alpha.sin_cos();
                let omc = 2.0 * (0.5 * alpha).sin().powi(2); // 1 - cos α without cancellation
                let (ny, nx) = plan.rf_phase_rad[s].sin_cos();
                rf.push(RfStep {
                    ca: T::from_f64(ca),
                    sx: T::from_f64(nx * sa),
                    sy: T::from_f64(ny * sa),
                    ox: T::from_f64(nx * omc),
                    oy: T::from_f64(ny * omc),
                    nx: T::from_f64(nx),
                    ny: T::from_f64(ny),
                });
                u32::try_from(rf.len() - 1).expect("fewer than 2^32 RF pulses")
            } else {
                NO_RF
            };
            let dt = plan.dt_s[s];
            let adc = plan.adc[s];
            assert!(adc == NO_ADC || (adc as usize) < plan.n_signal, "SequencePlan: ADC index {adc} ≥ n_signal {}", plan.n_signal);
            steps.push(StepHead {
                rf: rf_index,
                precess: dt > 0.0,
                spoil: plan.spoil[s],
                adc,
                demod: Complex64::from_polar(1.0, -plan.adc_phase_rad[s]),
            });
            let m0 = plan.m0[s];
            let mw = plan.mw[s];
            let mut k = PrecessStep { g: m0.map(|g| T::from_f64(GAMMA * g)), dt: T::from_f64(dt), ..Default::default() };
            for (slot, &a) in moving.iter().enumerate() {
                k.cr[slot] = T::from_f64(GAMMA * mw[a].re);
                k.ci[slot] = T::from_f64(-GAMMA * mw[a].im);
            }
            precess.push(k);
            for (c, r) in relax.iter_mut().enumerate() {
                let eps = |t: f64| T::from_f64(-(-dt / t).exp_m1());
                r.push([eps(iso.t1_s[c]), eps(iso.t2_s[c])]);
            }
        }
        Prepared { iso, perm, blocks, moving, cap, steps, precess, rf, relax, n_signal: plan.n_signal }
    }

    /// Number of per-spin input fields of a block: z, y, x, Δω, w, then (Re U, Im U) per moving slot.
    fn n_fields(&self) -> usize {
        FIELD_MOTION + 2 * self.moving.len()
    }
}

/// Field offsets (in units of the block capacity) in [`Workspace::spins`].
const FIELD_Z: usize = 0;
const FIELD_Y: usize = 1;
const FIELD_X: usize = 2;
const FIELD_DW: usize = 3;
const FIELD_W: usize = 4;
const FIELD_MOTION: usize = 5;

/// Per-task scratch: one block's magnetisation and per-spin inputs, allocated once
/// and reused (fully overwritten) for every block of a chunk.
struct Workspace<T> {
    mx: Vec<T>,
    my: Vec<T>,
    mz: Vec<T>,
    /// Per-spin inputs, field-major: `spins[f * cap + j]`; see `FIELD_*`.
    spins: Vec<T>,
    /// Number of moving slots this workspace was sized for.
    nm: usize,
}

impl<T: KernelFloat> Workspace<T> {
    fn new(p: &Prepared<'_, T>) -> Self {
        Workspace {
            mx: vec![T::ZERO; p.cap],
            my: vec![T::ZERO; p.cap],
            mz: vec![T::ZERO; p.cap],
            spins: vec![T::ZERO; p.cap * p.n_fields()],
            nm: p.moving.len(),
        }
    }
}

impl<T: KernelFloat> Prepared<'_, T> {
    /// Gather block `b` into `ws` (converted to `T`, padded with weight-0 spins to a
    /// multiple of [`LANES`]) and reset its magnetisation to equilibrium `(0, 0, 1)`.
    /// Returns the padded length.
    fn load_block(&self, b: &BlockSpan, ws: &mut Workspace<T>) -> usize {
        let n = b.len.div_ceil(LANES) * LANES;
        let cap = self.cap;
        let idx = &self.perm[b.start..b.start + b.len];
        let iso = self.iso;
        let mut fields = ws.spins.chunks_exact_mut(cap);
        let mut next = || fields.next().expect("workspace has one field per input");
        // order must match the FIELD_* constants
        for a in 0..3 {
            gather(next(), idx, n, |i| iso.position_m[i][a]);
        }
        gather(next(), idx, n, |i| iso.off_resonance_rad_per_s[i]);
        gather(next(), idx, n, |i| iso.weight[i]);
        for &a in &self.moving {
            gather(next(), idx, n, |i| iso.amplitude_m[i][a].re);
            gather(next(), idx, n, |i| iso.amplitude_m[i][a].im);
        }
        ws.mx[..n].fill(T::ZERO);
        ws.my[..n].fill(T::ZERO);
        ws.mz[..n].fill(T::ONE);
        n
    }
}

/// `dst[j] = get(idx[j])` rounded to `T` for `j < idx.len()`, then zeros up to `n`.
fn gather<T: Float>(dst: &mut [T], idx: &[usize], n: usize, get: impl Fn(usize) -> f64) {
    for (d, &i) in dst.iter_mut().zip(idx) {
        *d = T::from_f64(get(i));
    }
    dst[idx.len()..n].fill(T::ZERO);
}

// ---------------------------------------------------------------------------------------------
// the block kernel (generic; instantiated per instruction set)

/// Run blocks `blocks` of `p` one after the other, adding their signal into `signal`.
#[inline(always)]
fn run_chunk<T: KernelFloat, M: FmaMode, const NM: usize>(
    p: &Prepared<'_, T>,
    blocks: Range<usize>,
    ws: &mut Workspace<T>,
    signal: &mut [Complex64],
) {
    for b in &p.blocks[blocks] {
        let n = p.load_block(b, ws);
        run_block::<T, M, NM>(p, &p.relax[b.class], ws, n, signal);
    }
}

/// All steps of the plan on the first `n` spins of `ws` (steps outer, spins inner).
#[inline(always)]
fn run_block<T: KernelFloat, M: FmaMode, const NM: usize>(
    p: &Prepared<'_, T>,
    relax: &[[T; 2]],
    ws: &mut Workspace<T>,
    n: usize,
    signal: &mut [Complex64],
) {
    let cap = p.cap;
    let (mx, my, mz) = (&mut ws.mx[..n], &mut ws.my[..n], &mut ws.mz[..n]);
    let field = |f: usize| &ws.spins[f * cap..f * cap + n];
    let pos = [field(FIELD_Z), field(FIELD_Y), field(FIELD_X)];
    let dw = field(FIELD_DW);
    let w = field(FIELD_W);
    let ur: [&[T]; NM] = std::array::from_fn(|k| field(FIELD_MOTION + 2 * k));
    let ui: [&[T]; NM] = std::array::from_fn(|k| field(FIELD_MOTION + 2 * k + 1));
    for ((head, k), &[e1, e2]) in p.steps.iter().zip(&p.precess).zip(relax) {
        if head.rf != NO_RF {
            rf_rotate::<T, M>(mx, my, mz, &p.rf[head.rf as usize]);
        }
        if head.precess {
            precess::<T, M, NM>(mx, my, mz, pos, dw, ur, ui, k, e1, e2);
        }
        if head.adc != NO_ADC {
            let (sx, sy) = adc_sum::<T, M>(mx, my, w);
            signal[head.adc as usize] += Complex64::new(sx.to_f64(), sy.to_f64()) * head.demod;
        }
        if head.spoil {
            mx.fill(T::ZERO);
            my.fill(T::ZERO);
        }
    }
}

/// Hard RF pulse on every spin (Rodrigues formula with precomputed coefficients).
#[inline(always)]
fn rf_rotate<T: Float, M: FmaMode>(mx: &mut [T], my: &mut [T], mz: &mut [T], r: &RfStep<T>) {
    let n = mx.len();
    let (my, mz) = (&mut my[..n], &mut mz[..n]);
    for i in 0..n {
        let (a, b, c) = (mx[i], my[i], mz[i]);
        let d = fma::<T, M>(r.nx, a, r.ny * b); // n·m
        mx[i] = fma::<T, M>(a, r.ca, fma::<T, M>(r.sy, c, r.ox * d));
        my[i] = fma::<T, M>(b, r.ca, fma::<T, M>(-r.sx, c, r.oy * d));
        mz[i] = fma::<T, M>(c, r.ca, fma::<T, M>(r.sx, b, -(r.sy * a)));
    }
}

/// Free precession and relaxation of every spin over one step:
/// `φ = dt Δω + γ m0·r + Σ_moving (γ Re mω Re U - γ Im mω Im U)`, `Mxy ← Mxy e^{-iφ} (1 - ε2)`,
/// `Mz ← Mz + ε1 (1 - Mz)` with `ε = 1 - E`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn precess<T: Float, M: FmaMode, const NM: usize>(
    mx: &mut [T],
    my: &mut [T],
    mz: &mut [T],
    pos: [&[T]; 3],
    dw: &[T],
    ur: [&[T]; NM],
    ui: [&[T]; NM],
    k: &PrecessStep<T>,
    e1: T,
    e2: T,
) {
    // Equal lengths let LLVM drop every bounds check in the loop; a multiple of LANES
    // lets it drop the scalar remainder loop.
    let n = mx.len();
    assert!(n % LANES == 0);
    let (my, mz, dw) = (&mut my[..n], &mut mz[..n], &dw[..n]);
    let [z, y, x] = pos.map(|p| &p[..n]);
    let ur = ur.map(|u| &u[..n]);
    let ui = ui.map(|u| &u[..n]);
    let ne2 = -e2;
    // The loop is latency-bound (one spin's dependency chain is long and out-of-order
    // execution overlaps only a few iterations), so the phase is summed as a tree, and E2
    // and the (-1)^k of the sine/cosine are applied to (Mx, My), off the critical path
    // through the sine/cosine: ~20 % faster than the straightforward order.
    for i in 0..n {
        let mut phi = fma::<T, M>(k.g[0], z[i], k.dt * dw[i]) + fma::<T, M>(k.g[1], y[i], k.g[2] * x[i]);
        for a in 0..NM {
            phi = phi + fma::<T, M>(k.cr[a], ur[a][i], k.ci[a] * ui[a][i]);
        }
        let (s, c, t) = sin_cos_reduced::<T, M>(phi);
        // E2·M = M - ε2·M
        let a = fma::<T, M>(ne2, mx[i], mx[i]).flip_sign_if_odd(t);
        let b = fma::<T, M>(ne2, my[i], my[i]).flip_sign_if_odd(t);
        // (a + ib)(c - is) = (ac + bs) + i(bc - as)
        mx[i] = fma::<T, M>(a, c, b * s);
        my[i] = fma::<T, M>(-a, s, b * c);
        mz[i] = fma::<T, M>(e1, T::ONE - mz[i], mz[i]);
    }
}

/// `(Σ w Mx, Σ w My)` over the block.
#[inline(always)]
fn adc_sum<T: Float, M: FmaMode>(mx: &[T], my: &[T], w: &[T]) -> (T, T) {
    // two separate passes: in one loop body the SLP vectoriser pairs (x, y) into
    // narrow vectors instead of filling full-width ones
    (dot::<T, M>(mx, w), dot::<T, M>(my, w))
}

/// `Σ a·b` with [`LANES`] independent partial sums, so the reduction vectorises
/// (the summation order is fixed, hence deterministic). Lengths are multiples of [`LANES`].
#[inline(always)]
fn dot<T: Float, M: FmaMode>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        let ca: &[T; LANES] = ca.try_into().expect("chunk of LANES");
        let cb: &[T; LANES] = cb.try_into().expect("chunk of LANES");
        for j in 0..LANES {
            acc[j] = fma::<T, M>(ca[j], cb[j], acc[j]);
        }
    }
    // horizontal sum in a fixed (sequential) order
    acc.iter().fold(T::ZERO, |s, &v| s + v)
}

// ---------------------------------------------------------------------------------------------
// driver

/// `fast` in precision `T` on instruction set `isa` (portable if `isa` is unavailable).
fn run<T: KernelFloat>(iso: &Isochromats, plan: &SequencePlan, isa: Isa) -> Vec<Complex64> {
    let p = Prepared::<T>::new(iso, plan);
    run_prepared(&p, isa)
}

fn run_prepared<T: KernelFloat>(p: &Prepared<'_, T>, isa: Isa) -> Vec<Complex64> {
    let zero = Complex64::new(0.0, 0.0);
    let mut total = vec![zero; p.n_signal];
    let nb = p.blocks.len();
    if nb == 0 || p.steps.is_empty() {
        return total;
    }
    let kernel = Kernel::<T>::new(isa, p.moving.len());
    // The chunking depends only on the problem; chunk c owns blocks [c·nb/nc, (c+1)·nb/nc).
    let n_chunks = nb.min(MAX_CHUNKS);
    let chunk = |c: usize| c * nb / n_chunks..(c + 1) * nb / n_chunks;
    // Chunks run in waves of as many as fit their signal buffers into WAVE_BYTES (at least
    // one per thread), so memory stays bounded. The total is accumulated in chunk order
    // whatever the wave size, so neither it nor the thread count affects the result.
    let per_buffer = (p.n_signal * std::mem::size_of::<Complex64>()).max(1);
    let wave = (WAVE_BYTES / per_buffer).max(rayon::current_num_threads()).max(1);
    for first in (0..n_chunks).step_by(wave) {
        let parts: Vec<Vec<Complex64>> = (first..(first + wave).min(n_chunks))
            .into_par_iter()
            .map(|c| {
                let mut ws = Workspace::new(p);
                let mut signal = vec![zero; p.n_signal];
                kernel.run(p, chunk(c), &mut ws, &mut signal);
                signal
            })
            .collect();
        for part in parts {
            for (t, v) in total.iter_mut().zip(part) {
                *t += v;
            }
        }
    }
    total
}

// ---------------------------------------------------------------------------------------------
// benchmark (feature `bench`: `mre-sim bench`, `cargo bench`)

#[cfg(any(test, feature = "bench"))]
mod bench;
#[cfg(feature = "bench")]
pub use bench::{bench_precess_motion, PrecessBench, BENCH_SPINS, BENCH_STEPS};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bloch::reference;
    use crate::model::scanner::Scanner;
    use crate::plan::Integration;
    use crate::rng::uniform01;
    use crate::sequence::gre_mre::tests::example;

    /// Random isochromats: `n` spins, 3 relaxation classes, motion on `axes`.
    fn random_iso(n: usize, axes: [bool; 3], seed: u64) -> Isochromats {
        let u = |i: usize, s: u64, lo: f64, hi: f64| lo + (hi - lo) * uniform01(seed, i as u64, s);
        let moving = axes.iter().any(|&a| a);
        Isochromats {
            position_m: (0..n).map(|i| [u(i, 0, -0.004, 0.004), u(i, 1, -0.05, 0.05), u(i, 2, -0.05, 0.05)]).collect(),
            amplitude_m: if moving {
                (0..n)
                    .map(|i| {
                        std::array::from_fn(|a| {
                            if axes[a] {
                                Complex64::new(u(i, 3 + a as u64, -2e-5, 2e-5), u(i, 6 + a as u64, -2e-5, 2e-5))
                            } else {
                                Complex64::new(0.0, 0.0)
                            }
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            },
            off_resonance_rad_per_s: (0..n).map(|i| u(i, 9, -300.0, 300.0)).collect(),
            weight: (0..n).map(|i| u(i, 10, 0.5, 1.5)).collect(),
            relax_class: (0..n).map(|i| (u(i, 11, 0.0, 3.0) as u16).min(2)).collect(),
            t1_s: vec![0.9, 1.4, 0.3],
            t2_s: vec![0.06, 0.1, 0.02],
        }
    }

    /// A random plan exercising every event: RF with random angle and phase,
    /// zero-length steps, repeated ADC indices with random receiver phases, spoils.
    fn random_plan(steps: usize, n_signal: usize, seed: u64) -> SequencePlan {
        let u = |i: usize, s: u64, lo: f64, hi: f64| lo + (hi - lo) * uniform01(seed, i as u64, s);
        let mut p = SequencePlan { omega_rad_per_s: 2.0 * std::f64::consts::PI * 60.0, n_signal, ..Default::default() };
        let mut t = 0.0;
        for s in 0..steps {
            let dt = if s % 13 == 5 { 0.0 } else { u(s, 0, 5e-6, 3e-4) };
            p.t_start_s.push(t);
            t += dt;
            p.dt_s.push(dt);
            // γ m0 r of a few rad across ±5 cm; γ mω U of ~0.3 rad
            p.m0.push(std::array::from_fn(|a| u(s, 1 + a as u64, -3e-7, 3e-7)));
            p.mw.push(std::array::from_fn(|a| Complex64::new(u(s, 4 + a as u64, -6e-5, 6e-5), u(s, 7 + a as u64, -6e-5, 6e-5))));
            p.motion_time_s.push(t);
            let rf = s % 37 == 0 || u(s, 10, 0.0, 1.0) < 0.03;
            p.rf_angle_rad.push(if rf { u(s, 11, 0.05, 3.0) } else { 0.0 });
            p.rf_phase_rad.push(if rf { u(s, 12, -3.2, 3.2) } else { 0.0 });
            let adc = u(s, 13, 0.0, 1.0) < 0.6;
            p.adc.push(if adc { (u(s, 14, 0.0, n_signal as f64) as u32).min(n_signal as u32 - 1) } else { NO_ADC });
            p.adc_phase_rad.push(u(s, 15, -3.2, 3.2));
            p.spoil.push(s % 37 == 36);
        }
        p
    }

    /// `max |a - b| / max |b|`.
    fn rel_err(a: &[Complex64], b: &[Complex64]) -> f64 {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().map(|z| z.norm()).fold(0.0, f64::max);
        assert!(scale > 0.0);
        a.iter().zip(b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max) / scale
    }

    fn check(iso: &Isochromats, plan: &SequencePlan, what: &str) {
        let want = reference(iso, plan, None);
        for isa in [Isa::detect(), Isa::Portable] {
            let e64 = rel_err(&run::<f64>(iso, plan, isa), &want);
            let e32 = rel_err(&run::<f32>(iso, plan, isa), &want);
            assert!(e64 <= 1e-12, "{what} {isa:?}: f64 relative error {e64:e}");
            assert!(e32 <= 1e-5, "{what} {isa:?}: f32 relative error {e32:e}");
        }
    }

    const MOTIONS: [(&str, [bool; 3]); 5] = [
        ("static", [false; 3]),
        ("z only", [true, false, false]),
        ("x only", [false, false, true]),
        ("y and x", [false, true, true]),
        ("3 axes", [true; 3]),
    ];

    #[test]
    fn fast_matches_reference_on_random_plans() {
        let plan = random_plan(400, 40, 7);
        for (k, (name, axes)) in MOTIONS.into_iter().enumerate() {
            // 700 spins: several blocks per class in f64, partial (padded) blocks in both precisions
            check(&random_iso(700, axes, 11 + k as u64), &plan, name);
        }
    }

    #[test]
    fn fast_matches_reference_on_gre_plan() {
        let seq = example();
        let tl = seq.timeline(&Scanner::default()).unwrap();
        let plan = SequencePlan::build(&tl, 2.0 * std::f64::consts::PI * 60.0, Integration::Events).unwrap();
        let mut iso = random_iso(300, [true, false, false], 5);
        iso.off_resonance_rad_per_s.iter_mut().for_each(|w| *w *= 0.1);
        check(&iso, &plan, "GRE, z motion");
        check(&random_iso(200, [false; 3], 6), &plan, "GRE, static");
    }

    #[test]
    fn odd_spin_counts_and_dirty_workspace() {
        let plan = random_plan(120, 16, 3);
        for n in [1, 15, 17, 255, 257, 513, 1100] {
            let iso = random_iso(n, [true, false, false], n as u64);
            let want = reference(&iso, &plan, None);
            for prec in [Precision::F64, Precision::F32] {
                let a = fast(&iso, &plan, prec);
                let b = fast(&iso, &plan, prec);
                assert_eq!(a, b, "n = {n}: second run differs");
                let tol = if prec == Precision::F64 { 1e-12 } else { 1e-5 };
                assert!(rel_err(&a, &want) <= tol, "n = {n} {prec:?}");
            }
            // small blocks: many blocks per chunk share one (dirty) workspace
            let p = Prepared::<f64>::with_block(&iso, &plan, 16);
            assert!(rel_err(&run_prepared(&p, Isa::detect()), &want) <= 1e-12, "n = {n}, block 16");
        }
    }

    #[test]
    fn signal_is_bit_identical_for_any_thread_count() {
        let plan = random_plan(150, 24, 9);
        let iso = random_iso(5000, [true, true, false], 2);
        let with_threads = |t: usize, prec: Precision| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
            pool.install(|| fast(&iso, &plan, prec))
        };
        let bits = |v: Vec<Complex64>| v.iter().map(|z| (z.re.to_bits(), z.im.to_bits())).collect::<Vec<_>>();
        for prec in [Precision::F32, Precision::F64] {
            let one = bits(with_threads(1, prec));
            assert_eq!(one, bits(with_threads(2, prec)), "{prec:?}: 1 vs 2 threads");
            assert_eq!(one, bits(with_threads(3, prec)), "{prec:?}: 1 vs 3 threads");
        }
    }

    #[test]
    fn blocks_hold_one_class_in_original_order() {
        let iso = random_iso(1000, [false; 3], 4);
        let plan = random_plan(3, 4, 1);
        let p = Prepared::<f32>::with_block(&iso, &plan, 100);
        assert_eq!(p.cap, 100usize.div_ceil(LANES) * LANES);
        let mut seen = vec![false; iso.len()];
        let mut next = 0;
        for b in &p.blocks {
            assert_eq!(b.start, next);
            assert!(b.len > 0 && b.len <= p.cap);
            next += b.len;
            let idx = &p.perm[b.start..b.start + b.len];
            assert!(idx.iter().all(|&i| iso.relax_class[i] as usize == b.class));
            assert!(idx.windows(2).all(|w| w[0] < w[1]), "stable order inside a class");
            idx.iter().for_each(|&i| seen[i] = true);
        }
        assert_eq!(next, iso.len());
        assert!(seen.into_iter().all(|s| s));
    }

    #[test]
    fn empty_inputs_give_zero_signal() {
        let plan = random_plan(20, 4, 1);
        let iso = random_iso(0, [false; 3], 1);
        assert_eq!(fast(&iso, &plan, Precision::F32), vec![Complex64::new(0.0, 0.0); 4]);
        let none = SequencePlan { n_signal: 3, ..Default::default() };
        assert_eq!(fast(&random_iso(10, [true; 3], 1), &none, Precision::F64), vec![Complex64::new(0.0, 0.0); 3]);
    }

    #[test]
    fn bench_problem_matches_reference() {
        use super::bench::{bench_precess_motion, bench_problem, BENCH_SPINS, BENCH_STEPS};
        let (iso, mut plan) = bench_problem(300, 400);
        // observe the magnetisation: an ADC sample every 50 steps
        plan.n_signal = 8;
        for (k, s) in (49..400).step_by(50).enumerate() {
            plan.adc[s] = k as u32;
        }
        let want = reference(&iso, &plan, None);
        assert!(rel_err(&run::<f64>(&iso, &plan, Isa::detect()), &want) <= 1e-12);
        // The gradient phase accumulates to ~3e3 rad over these steps, and f32 positions
        // carry a relative error of ~6e-8: an inherent phase error of ~2e-4 rad (the
        // realistic sequences above meet 1e-5).
        let e32 = rel_err(&run::<f32>(&iso, &plan, Isa::detect()), &want);
        assert!(e32 <= 1e-4, "f32 {e32:e}");
        let b = bench_precess_motion(Precision::F32, 0.0);
        assert_eq!((b.spins, b.steps % BENCH_STEPS), (BENCH_SPINS, 0));
        assert!(b.iso_steps_per_s > 0.0 && b.seconds > 0.0);
    }
}
