//! The filter chosen from the data: the wavelength and the noise of one wave are estimated
//! inside the mask, and the narrowest [`Filter::LocalLinear`] is taken whose predicted noise
//! bias of G' stays below [`TARGET_BIAS`], but never wider than
//! [`MAX_SIGMA_WAVELENGTHS`] of the wavelength (beyond that it blurs interfaces more than it
//! helps).
//!
//! Why: the direct inversions divide by `∇²U`; noise in the Laplacian adds to `|∇²U|` and biases
//! G' low (by about `r²/2` for a relative Laplacian noise `r`; unfiltered data at SNR 30 with 15
//! voxels per wavelength have `r ≈ 1` and G' is half or less of the truth). A symmetric filter
//! keeps a homogeneous region's wave a solution of the same Helmholtz equation (every plane wave
//! of wavenumber k is scaled alike), so away from edges and interfaces it lowers the noise
//! without biasing G'.

use ndarray::{Array3, ArrayView4, Axis};
use num_complex::Complex64;

use super::curl::MIN_DIFF_VOXELS;
use super::{check_voxel_size, Filter};
use crate::error::{Result, SolverError};

/// Predicted bias of G' from the noise that the chosen filter aims at (relative): the mean over
/// the mask of `1 − 1/√(1 + r(x)²)`, with `r(x)` the filtered Laplacian's noise over the local
/// curvature `k²|U(x)|` (noise adds to `|∇²U|` in quadrature; where the wave is weak, at nodes
/// of standing waves, `r(x)` is large, which a single rms ratio hides).
pub const TARGET_BIAS: f64 = 0.02;

/// The widest filter the choice allows, in shear wavelengths: `σ ≤ λ/(2π)`, i.e. `k·σ ≤ 1`
/// (a plane wave keeps `e^{−1/2}` = 61 % of its amplitude).
pub const MAX_SIGMA_WAVELENGTHS: f64 = 1.0 / (2.0 * std::f64::consts::PI);

/// Filters narrower than this (voxels of the smallest differentiated voxel size) are not applied.
pub const MIN_SIGMA_VOXELS: f64 = 0.5;

/// What [`choose_filter`] measured in a wave and chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterChoice {
    /// The filter to apply (`Filter::None` or `Filter::LocalLinear`).
    pub filter: Filter,
    /// Noise standard deviation per voxel and component (`E|n|²`, the unit of the wave), from
    /// the 6th differences of the wave along the differentiated axes (median, so robust to
    /// edges and interfaces); NaN when too few stencils fit in the mask.
    pub noise_std: f64,
    /// RMS signal amplitude per component in the mask, noise removed (the unit of the wave).
    pub signal_rms: f64,
    /// RMS wavenumber of the wave over the differentiated axes, from the ratio of its gradient
    /// energy to its energy (noise removed), rad/m; NaN when it cannot be estimated.
    pub wavenumber_per_m: f64,
    /// Standard deviation of the chosen filter, m (0: no filter).
    pub sigma_m: f64,
    /// Predicted relative noise of the Laplacian with the chosen filter (NaN when unknown).
    pub relative_noise: f64,
    /// Predicted relative bias of G' from the noise with the chosen filter: the mean over the
    /// mask of `1 − 1/√(1 + r(x)²)`, `r(x)` the Laplacian's noise over the local curvature
    /// `k²|U(x)|` (NaN when unknown).
    pub predicted_bias: f64,
    /// True when the bias target could not be met within [`MAX_SIGMA_WAVELENGTHS`]: expect G'
    /// biased low.
    pub limited: bool,
}

impl FilterChoice {
    /// Wavelength `2π/k`, m (NaN when unknown).
    pub fn wavelength_m(&self) -> f64 {
        2.0 * std::f64::consts::PI / self.wavenumber_per_m
    }
}

/// Axes of `shape` the inversions differentiate.
fn diff_axes(shape: [usize; 3]) -> Vec<usize> {
    (0..3).filter(|&a| shape[a] >= MIN_DIFF_VOXELS).collect()
}

/// True where the stencil of offsets `-r..=r` along axis `a` around `idx` lies in the mask.
fn fits(mask: &Array3<bool>, idx: [usize; 3], a: usize, r: usize) -> bool {
    let n = mask.shape()[a];
    if idx[a] < r || idx[a] + r >= n {
        return false;
    }
    (0..=2 * r).all(|o| {
        let mut q = idx;
        q[a] = idx[a] + o - r;
        mask[q]
    })
}

/// The value of component `c` at `idx` shifted by `d` along axis `a`.
fn at(w: &ArrayView4<Complex64>, c: usize, idx: [usize; 3], a: usize, d: i64) -> Complex64 {
    let mut q = idx;
    q[a] = (idx[a] as i64 + d) as usize;
    w[[c, q[0], q[1], q[2]]]
}

/// Noise, signal and wavenumber of `waves` (`[ncomp, nz, ny, nx]`) in `mask`.
fn estimate(waves: &ArrayView4<Complex64>, mask: &Array3<bool>, h: [f64; 3]) -> (f64, f64, f64) {
    let sh = [mask.shape()[0], mask.shape()[1], mask.shape()[2]];
    let ncomp = waves.len_of(Axis(0));
    let axes = diff_axes(sh);
    // Noise: |6th difference|² / 924 is exponential with mean σ² for circular complex noise; its
    // median is σ² ln 2. A wave of k·h = 0.65 (10 voxels per wavelength) adds (kh)⁶ ≈ 0.08 |U|
    // to the difference against 30σ of noise: the estimate sees the noise, not the wave.
    const D6: [f64; 7] = [1.0, -6.0, 15.0, -20.0, 15.0, -6.0, 1.0];
    let mut d6 = Vec::new();
    for ((z, y, x), &m) in mask.indexed_iter() {
        if !m {
            continue;
        }
        let idx = [z, y, x];
        for &a in axes.iter().filter(|&&a| fits(mask, idx, a, 3)) {
            for c in 0..ncomp {
                let d: Complex64 = D6.iter().enumerate().map(|(o, &k)| at(waves, c, idx, a, o as i64 - 3) * k).sum();
                d6.push(d.norm_sqr() / 924.0);
            }
        }
    }
    let noise_var = if d6.len() >= 16 {
        let mid = d6.len() / 2;
        let (_, med, _) = d6.select_nth_unstable_by(mid, f64::total_cmp);
        *med / std::f64::consts::LN_2
    } else {
        f64::NAN
    };
    let nv = if noise_var.is_finite() { noise_var } else { 0.0 };
    // Energy in the mask (per component) and, where the 4th-order first derivative
    // [1, −8, 0, 8, −1]/12h fits along every differentiated axis, gradient energy and energy.
    let (mut e_all, mut n_all) = (0.0, 0usize);
    let (mut grad, mut e_in, mut n_in) = (0.0, 0.0, 0usize);
    for ((z, y, x), &m) in mask.indexed_iter() {
        if !m {
            continue;
        }
        let idx = [z, y, x];
        let energy: f64 = (0..ncomp).map(|c| waves[[c, z, y, x]].norm_sqr()).sum();
        e_all += energy;
        n_all += 1;
        if !axes.is_empty() && axes.iter().all(|&a| fits(mask, idx, a, 2)) {
            for &a in &axes {
                for c in 0..ncomp {
                    let d = ((at(waves, c, idx, a, -2) - at(waves, c, idx, a, 2))
                        + (at(waves, c, idx, a, 1) - at(waves, c, idx, a, -1)) * 8.0)
                        / (12.0 * h[a]);
                    grad += d.norm_sqr();
                }
            }
            e_in += energy;
            n_in += 1;
        }
    }
    let nc = ncomp as f64;
    let signal_var = (e_all / n_all.max(1) as f64 / nc - nv).max(0.0);
    let k2 = if n_in > 0 {
        let noise_grad: f64 = axes.iter().map(|&a| nv * 130.0 / (144.0 * h[a] * h[a])).sum();
        let g = grad / n_in as f64 / nc - noise_grad;
        let e = e_in / n_in as f64 / nc - nv;
        if g > 0.0 && e > 0.0 {
            g / e
        } else {
            f64::NAN
        }
    } else {
        f64::NAN
    };
    (noise_var.sqrt(), signal_var.sqrt(), k2.sqrt())
}

/// Normalised 1-D Gaussian kernel of σ `s` voxels (a unit impulse for `s = 0`).
fn gauss(s: f64) -> Vec<f64> {
    if s <= 0.0 {
        return vec![1.0];
    }
    let r = (3.0 * s).ceil() as i64;
    let w: Vec<f64> = (-r..=r).map(|d| (-(d * d) as f64 / (2.0 * s * s)).exp()).collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|v| v / sum).collect()
}

/// Full 1-D convolution.
fn conv(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; a.len() + b.len() - 1];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            out[i + j] += x * y;
        }
    }
    out
}

/// Inner product of two centred odd-length kernels.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (ca, cb) = (a.len() / 2, b.len() / 2);
    let c = ca.min(cb);
    (0..=2 * c).map(|i| a[ca - c + i] * b[cb - c + i]).sum()
}

/// The l2 norm (1/m²) of the fourth-order Laplacian of the inversions applied after a Gaussian
/// of σ `sigma_m` (m) along `axes`: the standard deviation of the filtered Laplacian of unit
/// white noise.
pub fn laplacian_noise_gain(sigma_m: f64, axes: &[usize], voxel_size_m: [f64; 3]) -> f64 {
    let g: Vec<Vec<f64>> = (0..3).map(|a| gauss(sigma_m / voxel_size_m[a])).collect();
    let lg: Vec<Vec<f64>> = (0..3)
        .map(|a| {
            let s = 1.0 / (12.0 * voxel_size_m[a] * voxel_size_m[a]);
            conv(&[-s, 16.0 * s, -30.0 * s, 16.0 * s, -s], &g[a])
        })
        .collect();
    // ‖Σ_a L_a⊗G‖² = Σ_{a,b} Π_axes ⟨f_a, f_b⟩ with f_a = L∗G on axis a and G elsewhere.
    let f = |term: usize, ax: usize| if term == ax { &lg[ax] } else { &g[ax] };
    let mut sum = 0.0;
    for &a in axes {
        for &b in axes {
            sum += axes.iter().map(|&ax| dot(f(a, ax), f(b, ax))).product::<f64>();
        }
    }
    sum.sqrt()
}

/// Estimate the noise and the wavelength of one frequency's wave `waves` (`[ncomp, nz, ny, nx]`,
/// any unit) inside `mask` (voxel size `[dz, dy, dx]`, m) and choose its filter: the smallest
/// σ (steps of 0.05 voxels from [`MIN_SIGMA_VOXELS`]) at which the predicted noise bias of G'
/// is at most [`TARGET_BIAS`], within `k·σ ≤ 1` ([`MAX_SIGMA_WAVELENGTHS`]). The bias is the
/// mean over the mask of `1 − 1/√(1 + r(x)²)` with `r(x) = σ_n ‖L∘G_σ‖ / (k² e^{−k²σ²/2} |U(x)|)`
/// (`‖L∘G_σ‖` from [`laplacian_noise_gain`], `|U(x)|` the local amplitude of the wave filtered
/// at the widest σ allowed). No filter when the target holds unfiltered. When the noise or the wavenumber cannot be estimated (too few
/// voxels, or noise without signal), the recommended σ = 2 voxels.
///
/// # Errors
/// Shape mismatches, non-positive voxel sizes, NaN in the mask, no voxel in the mask.
pub fn choose_filter(waves: ArrayView4<Complex64>, mask: &Array3<bool>, voxel_size_m: [f64; 3]) -> Result<FilterChoice> {
    check_voxel_size(voxel_size_m)?;
    if waves.shape()[1..] != *mask.shape() || waves.shape()[0] == 0 {
        return Err(SolverError::Shape(format!("waves {:?} against the mask {:?}", waves.shape(), mask.shape())));
    }
    if !mask.iter().any(|&m| m) {
        return Err(SolverError::invalid("mask", "no voxel", "at least one voxel"));
    }
    for comp in waves.axis_iter(Axis(0)) {
        if let Some((bad, _)) = comp.iter().zip(mask).find(|(v, &m)| m && !(v.re.is_finite() && v.im.is_finite())) {
            return Err(SolverError::invalid("waves", bad, "finite complex values in the mask"));
        }
    }
    let sh = [mask.shape()[0], mask.shape()[1], mask.shape()[2]];
    let axes = diff_axes(sh);
    let hmin = axes.iter().map(|&a| voxel_size_m[a]).fold(f64::INFINITY, f64::min);
    let (noise, signal, k) = estimate(&waves, mask, voxel_size_m);
    let mut choice = FilterChoice {
        filter: Filter::None,
        noise_std: noise,
        signal_rms: signal,
        wavenumber_per_m: k,
        sigma_m: 0.0,
        relative_noise: f64::NAN,
        predicted_bias: f64::NAN,
        limited: false,
    };
    if !(noise.is_finite() && k.is_finite() && signal > 0.0 && hmin.is_finite()) {
        let sigma_m = 2.0 * if hmin.is_finite() { hmin } else { voxel_size_m[2] };
        choice.filter = Filter::LocalLinear { sigma_m };
        choice.sigma_m = sigma_m;
        return Ok(choice);
    }
    // Local amplitude |U(x)| (rms over the components) of the wave filtered at the widest σ
    // allowed, its plane-wave attenuation e^{−k²σ²/2} undone: nearly free of noise.
    let s_max = MAX_SIGMA_WAVELENGTHS * 2.0 * std::f64::consts::PI / k;
    let wide = Filter::LocalLinear { sigma_m: s_max };
    let mut amp2 = Array3::<f64>::zeros(mask.raw_dim());
    for comp in waves.axis_iter(Axis(0)) {
        let f = super::filter_wave_masked(&comp.to_owned(), mask, voxel_size_m, &wide)?;
        amp2.zip_mut_with(&f, |a, v| *a += v.norm_sqr());
    }
    let undo = (0.5f64).exp() / (waves.len_of(Axis(0)) as f64).sqrt();
    let amp: Vec<f64> = amp2.iter().zip(mask).filter(|(_, &m)| m).map(|(a, _)| a.sqrt() * undo).collect();
    // Relative noise of the Laplacian at the rms amplitude, and the predicted bias of G'.
    let r = |s: f64| noise * laplacian_noise_gain(s, &axes, voxel_size_m) / (k * k * (-(k * s).powi(2) / 2.0).exp());
    let bias = |s: f64| {
        let rs = r(s);
        amp.iter().map(|&a| 1.0 - 1.0 / (1.0 + (rs / a).powi(2)).sqrt()).sum::<f64>() / amp.len() as f64
    };
    choice.relative_noise = r(0.0) / signal;
    choice.predicted_bias = bias(0.0);
    if choice.predicted_bias <= TARGET_BIAS {
        return Ok(choice);
    }
    let mut s = MIN_SIGMA_VOXELS * hmin;
    let step = 0.05 * hmin;
    let mut best = s.min(s_max);
    while s <= s_max + 1e-12 * s_max {
        best = s;
        if bias(s) <= TARGET_BIAS {
            break;
        }
        s += step;
    }
    choice.sigma_m = best;
    choice.relative_noise = r(best) / signal;
    choice.predicted_bias = bias(best);
    choice.limited = choice.predicted_bias > TARGET_BIAS;
    choice.filter = Filter::LocalLinear { sigma_m: best };
    Ok(choice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    /// Circular complex Gaussian noise with E|n|² = 1.
    fn synthetic_noise(seed: u64, i: u64) -> Complex64 {
        let u1 = crate::rng::uniform01(seed, i, 1).max(f64::MIN_POSITIVE);
        let u2 = crate::rng::uniform01(seed, i, 2);
        Complex64::from_polar((-u1.ln()).sqrt(), 2.0 * std::f64::consts::PI * u2)
    }

    #[test]
    fn the_noise_gain_matches_the_stencil_without_a_filter_and_falls_with_sigma() {
        // Unfiltered 2-D: the two axes share the centre (−60): √(2·(1 + 256 + 256 + 1) + 60²)/(12h²).
        let g0 = laplacian_noise_gain(0.0, &[1, 2], [1.0; 3]);
        assert!((g0 - 4628f64.sqrt() / 12.0).abs() < 1e-12, "{g0}");
        let g1 = laplacian_noise_gain(1.0, &[1, 2], [1.0; 3]);
        let g2 = laplacian_noise_gain(2.0, &[1, 2], [1.0; 3]);
        // ∝ σ⁻³ in 2-D for wide kernels.
        assert!(g1 < g0 && g2 < g1 && (g1 / g2 - 8.0).abs() < 2.0, "{g0} {g1} {g2}");
    }

    #[test]
    fn a_plane_wave_with_known_noise_gives_its_wavelength_and_noise() {
        let (n, h) = (96, 1e-3);
        let k = 2.0 * std::f64::consts::PI / 16e-3; // 16 voxels per wavelength
        let sigma = 0.05;
        let w = Array4::from_shape_fn((1, 1, n, n), |(_, _, y, x)| {
            let phase = k * (0.6 * y as f64 + 0.8 * x as f64) * h;
            Complex64::from_polar(1.0, -phase) + synthetic_noise(7, (y * n + x) as u64) * sigma
        });
        let mask = Array3::from_elem((1, n, n), true);
        let c = choose_filter(w.view(), &mask, [h; 3]).unwrap();
        assert!((c.noise_std / sigma - 1.0).abs() < 0.05, "{c:?}");
        assert!((c.wavenumber_per_m / k - 1.0).abs() < 0.03, "{c:?}");
        assert!((c.signal_rms - 1.0).abs() < 0.01, "{c:?}");
        assert!(matches!(c.filter, Filter::LocalLinear { .. }) && !c.limited && c.predicted_bias <= TARGET_BIAS, "{c:?}");
        // Noise-free: no filter.
        let w0 = Array4::from_shape_fn((1, 1, n, n), |(_, _, y, x)| Complex64::from_polar(1.0, -k * (0.6 * y as f64 + 0.8 * x as f64) * h));
        let c0 = choose_filter(w0.view(), &mask, [h; 3]).unwrap();
        assert_eq!(c0.filter, Filter::None, "{c0:?}");
        // More noise, a wider filter; far more, the cap.
        let noisy =
            |s: f64| Array4::from_shape_fn((1, 1, n, n), |(_, _, y, x)| w0[[0, 0, y, x]] + synthetic_noise(7, (y * n + x) as u64) * s);
        let c2 = choose_filter(noisy(0.2).view(), &mask, [h; 3]).unwrap();
        assert!(c2.sigma_m > c.sigma_m, "{c:?} {c2:?}");
        let c3 = choose_filter(noisy(3.0).view(), &mask, [h; 3]).unwrap();
        assert!(c3.limited || !c3.wavenumber_per_m.is_finite(), "{c3:?}");
    }
}
