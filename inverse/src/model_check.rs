//! The model check of a Bayesian result: does the fitted forward model explain the data to
//! within the noise, per frequency and displacement component?
//!
//! With the noise level inferred (the default, [`crate::Noise::Inferred`]) the root-mean-square
//! residual *is* the noise estimate, so a χ² of the residual over that estimate cannot detect
//! a misfit. The check therefore compares the residual with a noise level that does not come
//! from the fit:
//!
//! * `σ̂²` per frequency and component: the known noise level when the data give one, else a
//!   robust estimate from the measured field alone (Immerkaer's high-pass, made robust with a
//!   median): `y = d ⋆ w` with `w = [1, −2, 1]` tensored along every axis with more than one
//!   voxel, over the mask voxels whose whole 3×3(×3) neighbourhood lies in the mask, and
//!   `σ̂² = median |y|² / (ln 2 · Σ w²)` (for circular complex white noise `|y|²/(σ² Σw²)` is
//!   exponential with median ln 2). The filter annihilates polynomials of degree 1 along each
//!   axis and is fourth order in `kh` for a plane wave, so a wave sampled at 8 or more voxels per
//!   wavelength contributes little; the median ignores edges where it does.
//! * the excess ratio `R = mean |d − u(θ̂)|² / σ̂²` over the voxels the likelihood fits, at the
//!   posterior mean `θ̂`. A model error is a spatially smooth residual on top of the white noise
//!   and raises `R` above 1; receiver noise alone gives `R ≈ 1`.
//! * its null distribution: `ln R` for noise alone on the same voxels (numerator and
//!   denominator from the same noise field, as in the data), by [`CheckOptions::replicates`]
//!   seeded Monte-Carlo fields. A prediction that takes the data's values (the measured
//!   boundary) carries their noise into the interior; a [`NoiseResponse`] puts each noise field
//!   through the forward model at `θ̂` so that the null residual is `n − u(θ̂; n)`.
//! * a tolerance `τ`: the model is said not to fit when the systematic part of the residual has
//!   more than `τ` of the noise power, `H0: R ≤ 1 + τ` (the forward model's own discretisation
//!   and staircase error on well-specified data stays below it; see `docs/inversion.md`). Per
//!   frequency and component `z = (ln R − m₀ − ln(1 + τ)) / s₀` with `m₀`, `s₀` the mean and
//!   standard deviation of the null `ln R`, `p = 1 − Φ(z)`.
//! * the global statistic is the largest `z`; its p-value is Šidák-corrected for the `K`
//!   frequencies × components, `p = 1 − (1 − p_min)^K`; the verdict is
//!   [`Verdict::Misfit`] when `p < α`, naming the frequencies and components with
//!   `p_fc < 1 − (1 − α)^{1/K}`.
//!
//! The standardised residual `z = (d − u(θ̂)) / σ̂` per voxel is kept as a map
//! (`/residual_z` of an mre-result): white, `E|z|² = 1`, where the model fits; structured and
//! larger where it does not. The check costs one forward solve per frequency and the
//! Monte-Carlo null (with a [`NoiseResponse`], one more factorisation per frequency with one
//! right-hand side per noise field in 2-D, and 40 passes of a 3×3(×3) filter).

use ndarray::{Array3, Array5, Zip};
use num_complex::Complex64;
use rayon::prelude::*;

use crate::error::{InverseError, Result};
use crate::forward::interior_of;
use crate::synthetic::complex_normal;

/// Settings of the model check.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckOptions {
    /// Significance level of the global test (Šidák-corrected over frequencies × components).
    pub alpha: f64,
    /// Tolerated power of the systematic residual relative to the noise power (`τ`).
    pub tolerance: f64,
    /// Monte-Carlo noise fields for the null distribution of `ln R` (each costs one forward
    /// solve per frequency with a [`NoiseResponse`]).
    pub replicates: usize,
    /// Seed of the Monte-Carlo fields.
    pub seed: u64,
}

impl Default for CheckOptions {
    /// `α = 0.01`, `τ = 0.25` (a systematic residual up to half the noise standard deviation),
    /// 40 replicates, seed 1.
    fn default() -> Self {
        Self { alpha: 0.01, tolerance: 0.25, replicates: 40, seed: 1 }
    }
}

/// The verdict of the model check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    /// The residual is consistent with noise plus at most the tolerated systematic part.
    Fits,
    /// At least one frequency/component has a significantly larger systematic residual.
    Misfit,
}

impl Verdict {
    /// `"fits"` or `"misfit"` (the provenance value `model_check`).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Fits => "fits",
            Verdict::Misfit => "misfit",
        }
    }
}

/// Where the noise level of a check came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NoiseSource {
    /// Given with the data (`/noise_std`).
    Known,
    /// Estimated from the measured field's high-pass (robust Immerkaer estimate).
    HighPass,
}

/// The check of one frequency and component.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ComponentCheck {
    /// Frequency index.
    pub frequency: usize,
    /// Component index.
    pub component: usize,
    /// Voxels of the residual.
    pub voxels: usize,
    /// The noise standard deviation `σ̂` the residual is compared with, m.
    pub noise_std: f64,
    /// The RMS residual, m.
    pub residual_rms: f64,
    /// Excess ratio `R = mean |r|² / σ̂²`.
    pub ratio: f64,
    /// Mean and standard deviation of `ln R` for noise alone (the null).
    pub null_log_ratio: (f64, f64),
    /// `z` of `ln R` against the tolerated ratio `1 + τ`.
    pub z: f64,
    /// One-sided p-value of `z` (uncorrected).
    pub p_value: f64,
    /// Whether this frequency/component fails (`p` below the per-test Šidák level).
    pub fails: bool,
}

/// Outcome of [`check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCheck {
    /// The verdict.
    pub verdict: Verdict,
    /// Global statistic: the largest `z` over frequencies × components.
    pub statistic: f64,
    /// Šidák-corrected p-value of the global statistic.
    pub p_value: f64,
    /// The options used (α, τ, replicates, seed).
    pub options: CheckOptions,
    /// Where the noise level came from.
    pub noise: NoiseSource,
    /// Per frequency and component, frequency-major.
    pub entries: Vec<ComponentCheck>,
    /// Standardised residual `(d − u(θ̂)) / σ̂` `[nf, ncomp, nz, ny, nx]`; NaN outside the
    /// fitted voxels.
    pub residual_z: Array5<Complex64>,
}

impl ModelCheck {
    /// The failing (frequency, component) entries.
    pub fn failing(&self) -> impl Iterator<Item = &ComponentCheck> {
        self.entries.iter().filter(|e| e.fails)
    }
}

/// The fields of one data set or prediction: `[f][c]` → `[nz, ny, nx]`.
pub type Fields = [Vec<Array3<Complex64>>];

/// What [`check`] compares (see there).
#[derive(Debug, Clone, Copy)]
pub struct CheckData<'a> {
    /// The measured wave `[f][c]` (for the noise estimate).
    pub measured: &'a Fields,
    /// The data the likelihood fits `[f][c]`.
    pub reference: &'a Fields,
    /// The prediction `[f][c]`.
    pub predicted: &'a Fields,
    /// The voxels the likelihood fits.
    pub weight: &'a Array3<bool>,
    /// The mask of the data.
    pub mask: &'a Array3<bool>,
    /// The known noise standard deviation per frequency, m.
    pub known_noise: Option<&'a [f64]>,
    /// The likelihood's model-error covariance (interface positions and/or the noise of the
    /// boundary values, on the voxels of `weight` ∩ `mask`): the residual and the null's are
    /// whitened with it before they are compared with the noise
    /// ([`crate::ModelErrorCovariance::whiten_half`]), so the check asks whether the data fit
    /// the model *with* its modelled errors. `None`: the plain residual.
    pub whitening: Option<&'a crate::interface::ModelErrorCovariance>,
}

/// Checks the prediction `predicted` (`[f][c]`, e.g. the forward model at the posterior mean)
/// against `reference` (the data the likelihood fits, e.g. the measured wave, or the measured
/// wave minus the discretisation error of the approximation-error model) on the voxels of
/// `weight`. The noise level per frequency is `known_noise` when given, else it is estimated
/// per frequency and component from `measured` (the measured wave) on the interior of `mask`.
///
/// # Errors
///
/// [`InverseError::InvalidInput`] when the shapes disagree, `weight` selects no voxel, the
/// mask has no interior voxel to estimate the noise from, a known noise level is not positive,
/// or an estimated noise level is zero (noise-free data cannot be checked this way).
pub fn check(data: &CheckData<'_>, response: Option<&NoiseResponse<'_>>, options: &CheckOptions) -> Result<ModelCheck> {
    let CheckData { measured, reference, predicted, weight, mask, known_noise, whitening } = *data;
    let nf = measured.len();
    let nc = measured.first().map_or(0, Vec::len);
    let shape = weight.raw_dim();
    let same = |f: &Fields| f.len() == nf && f.iter().all(|v| v.len() == nc && v.iter().all(|a| a.raw_dim() == shape));
    if nf == 0 || nc == 0 || !same(measured) || !same(reference) || !same(predicted) || mask.raw_dim() != shape {
        return Err(InverseError::invalid("model check", "fields of different shapes", "[f][c] fields on the grid of the mask"));
    }
    let weight = weight & mask;
    let voxels = weight.iter().filter(|&&w| w).count();
    if voxels == 0 {
        return Err(InverseError::invalid("model check", "no fitted voxel", "voxels where the model predicts"));
    }
    if !(options.alpha > 0.0 && options.alpha < 1.0 && options.tolerance >= 0.0 && options.replicates >= 10) {
        return Err(InverseError::invalid("model check options", format!("{options:?}"), "0 < alpha < 1, tolerance ≥ 0, replicates ≥ 10"));
    }
    let interior = interior_of(mask);
    let source = if known_noise.is_some() { NoiseSource::Known } else { NoiseSource::HighPass };
    if source == NoiseSource::HighPass && !interior.iter().any(|&v| v) {
        return Err(InverseError::invalid("/mask", "no voxel with its whole neighbourhood in the mask", "a mask to estimate the noise in"));
    }
    if let Some(s) = known_noise {
        if s.len() != nf || s.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(InverseError::invalid("noise_std", format!("{s:?}"), format!("{nf} positive values")));
        }
    }
    if let Some(w) = whitening {
        if w.rows() != 2 * voxels * nc || w.n_frequencies() != nf {
            return Err(InverseError::invalid(
                "model check",
                format!("a model-error covariance of {} real rows and {} frequencies", w.rows(), w.n_frequencies()),
                format!("{} rows and {nf} frequencies (the fitted voxels and components)", 2 * voxels * nc),
            ));
        }
    }
    let whiten = |f: usize, r: &mut [Array3<Complex64>]| whiten_residual(whitening, &weight, f, r);
    let null = null_log_ratio((nf, nc), &weight, mask, &interior, source, response, &whiten, options)?;
    let k = (nf * nc) as f64;
    let per_test = 1.0 - (1.0 - options.alpha).powf(1.0 / k);
    let mut entries = Vec::with_capacity(nf * nc);
    let mut residual_z = Array5::from_elem((nf, nc, shape[0], shape[1], shape[2]), Complex64::new(f64::NAN, f64::NAN));
    // The residual per frequency and component on the fitted voxels, whitened.
    let residuals: Vec<Vec<Array3<Complex64>>> = (0..nf)
        .map(|f| {
            let mut r: Vec<Array3<Complex64>> = (0..nc).map(|c| &reference[f][c] - &predicted[f][c]).collect();
            whiten(f, &mut r);
            r
        })
        .collect();
    for f in 0..nf {
        for c in 0..nc {
            let sigma = match known_noise {
                Some(s) => s[f],
                None => high_pass_noise(&measured[f][c], &interior),
            };
            if !(sigma.is_finite() && sigma > 0.0) {
                return Err(InverseError::invalid(
                    format!("model check of frequency {f}, component {c}"),
                    format!("noise estimate {sigma}"),
                    "data with noise (noise-free data cannot be checked against an estimated noise level)",
                ));
            }
            let mut ss = 0.0;
            let mut z = residual_z.slice_mut(ndarray::s![f, c, .., .., ..]);
            Zip::from(&mut z).and(&residuals[f][c]).and(&weight).for_each(|z, &r, &w| {
                if w {
                    ss += r.norm_sqr();
                    *z = r / sigma;
                }
            });
            let ms = ss / voxels as f64;
            let ratio = ms / (sigma * sigma);
            let (m0, s0) = null[f * nc + c];
            let zf = (ratio.ln() - m0 - options.tolerance.ln_1p()) / s0;
            let p = upper_tail(zf);
            entries.push(ComponentCheck {
                frequency: f,
                component: c,
                voxels,
                noise_std: sigma,
                residual_rms: ms.sqrt(),
                ratio,
                null_log_ratio: (m0, s0),
                z: zf,
                p_value: p,
                fails: p < per_test,
            });
        }
    }
    let statistic = entries.iter().map(|e| e.z).fold(f64::NEG_INFINITY, f64::max);
    let p_min = upper_tail(statistic);
    // 1 − (1 − p)^K without cancellation for small p.
    let p_value = -(k * (-p_min).ln_1p()).exp_m1();
    let verdict = if entries.iter().any(|e| e.fails) { Verdict::Misfit } else { Verdict::Fits };
    Ok(ModelCheck { verdict, statistic, p_value, options: options.clone(), noise: source, entries, residual_z })
}

/// [`check`] of the forward model's prediction at `moduli` (one solve per frequency, in
/// parallel) against `reference` on the model's predicted voxels; `data` gives the measured
/// wave, the mask and the known noise level (if any).
///
/// # Errors
///
/// A failed forward solve, or what [`check`] refuses.
pub fn check_forward(
    forward: &dyn crate::forward::ForwardModel,
    moduli: &crate::forward::Moduli,
    data: &crate::data::Measurements,
    reference: Option<&Fields>,
    response: Option<&NoiseResponse<'_>>,
    options: &CheckOptions,
) -> Result<ModelCheck> {
    let measured: Vec<Vec<Array3<Complex64>>> =
        (0..data.n_frequencies()).map(|f| (0..data.n_components()).map(|c| data.field(f, c)).collect()).collect();
    let predicted = (0..forward.n_frequencies()).into_par_iter().map(|f| forward.predict(f, moduli)).collect::<Result<Vec<_>>>()?;
    let reference = reference.unwrap_or(&measured);
    let d = CheckData {
        measured: &measured,
        reference,
        predicted: &predicted,
        weight: forward.predicted(),
        mask: &data.mask,
        known_noise: data.noise_std.as_deref(),
        whitening: None,
    };
    check(&d, response, options)
}

/// The [`NoiseResponse`] of [`crate::forward::WaveForward`] on `data` at `moduli`: the
/// measured-boundary model built from the noise fields (as boundary values, every replicate's
/// components side by side, so one factorisation per frequency serves them all) and solved.
///
/// # Errors
///
/// A failed forward solve.
pub fn wave_forward_response(data: &crate::data::Measurements, moduli: &crate::forward::Moduli, noise: &Replicates) -> Result<Replicates> {
    use crate::forward::ForwardModel;
    let (nr, nf, nc) = (noise.len(), data.n_frequencies(), data.n_components());
    let sh = data.mask.shape();
    let mut m = data.clone();
    m.images = None;
    m.noise_std = None;
    m.wave = ndarray::Array5::zeros((nf, nr * nc, sh[0], sh[1], sh[2]));
    for (k, per_k) in noise.iter().enumerate() {
        for (f, per_f) in per_k.iter().enumerate() {
            for (c, field) in per_f.iter().enumerate() {
                m.wave.slice_mut(ndarray::s![f, k * nc + c, .., .., ..]).assign(field);
            }
        }
    }
    let forward = crate::forward::WaveForward::new(&m)?;
    let predicted = (0..nf).into_par_iter().map(|f| forward.predict(f, moduli)).collect::<Result<Vec<_>>>()?;
    Ok((0..nr).map(|k| (0..nf).map(|f| predicted[f][k * nc..(k + 1) * nc].to_vec()).collect()).collect())
}

/// The high-pass stencil's weights along one axis.
const STENCIL: [f64; 3] = [1.0, -2.0, 1.0];

/// Robust noise standard deviation of `field` from its high-pass on the voxels of `interior`
/// (whose whole neighbourhood is inside the grid and the mask): `median |y|² / (ln 2 · Σw²)`.
pub fn high_pass_noise(field: &Array3<Complex64>, interior: &Array3<bool>) -> f64 {
    let mut power = high_pass_power(field, interior);
    if power.is_empty() {
        return f64::NAN;
    }
    let axes = field.shape().iter().filter(|&&n| n > 1).count() as i32;
    let weight_sq = 6f64.powi(axes);
    let mid = power.len() / 2;
    let (_, median, _) = power.select_nth_unstable_by(mid, f64::total_cmp);
    (*median / (std::f64::consts::LN_2 * weight_sq)).sqrt()
}

/// `|y|²` of the tensor-product stencil at every voxel of `interior`.
fn high_pass_power(field: &Array3<Complex64>, interior: &Array3<bool>) -> Vec<f64> {
    let sh = field.shape();
    let reach = |a: usize| if sh[a] > 1 { 1isize } else { 0 };
    let (rz, ry, rx) = (reach(0), reach(1), reach(2));
    let w = |d: isize, r: isize| if r == 0 { 1.0 } else { STENCIL[(d + 1) as usize] };
    let mut out = Vec::new();
    for ((z, y, x), &inside) in interior.indexed_iter() {
        if !inside {
            continue;
        }
        let mut acc = Complex64::new(0.0, 0.0);
        for dz in -rz..=rz {
            for dy in -ry..=ry {
                for dx in -rx..=rx {
                    let v = field[[(z as isize + dz) as usize, (y as isize + dy) as usize, (x as isize + dx) as usize]];
                    acc += v * (w(dz, rz) * w(dy, ry) * w(dx, rx));
                }
            }
        }
        out.push(acc.norm_sqr());
    }
    out
}

/// Noise fields of several replicates: `[replicate][f][c]` → `[nz, ny, nx]`.
pub type Replicates = Vec<Vec<Vec<Array3<Complex64>>>>;

/// How the prediction responds to the measured data: given noise fields standing in for the
/// data (`[replicate][f][c]`, unit variance on every mask voxel), the forward model's
/// predictions at the checked moduli made with each of them, in the same layout (e.g. a
/// measured-boundary model built from the noise, whose boundary values it propagates into the
/// interior). The prediction must be linear in the data (prescribed boundary values) or
/// independent of them.
pub type NoiseResponse<'a> = dyn Fn(&Replicates) -> Result<Replicates> + Sync + 'a;

/// Memory of the noise fields (and their predictions) per call of a [`NoiseResponse`], bytes:
/// as many replicates per call as fit (all of them for 2-D slices, so a measured-boundary
/// model factorises once per frequency).
const BATCH_BYTES: usize = 256 << 20;

/// Mean and standard deviation of `ln R` per frequency and component (frequency-major) for
/// the residual of white complex noise of unit variance: `n − response(n)` on the voxels of
/// `weight` over (for [`NoiseSource::HighPass`]) the high-pass estimate of `n` on `interior`.
#[allow(clippy::too_many_arguments)] // the check's voxels, the noise source and the two operators on the replicates
fn null_log_ratio(
    shape: (usize, usize),
    weight: &Array3<bool>,
    mask: &Array3<bool>,
    interior: &Array3<bool>,
    source: NoiseSource,
    response: Option<&NoiseResponse<'_>>,
    whiten: &(dyn Fn(usize, &mut [Array3<Complex64>]) + Sync),
    o: &CheckOptions,
) -> Result<Vec<(f64, f64)>> {
    let (nf, nc) = shape;
    let n = weight.len() as u64;
    let voxels = weight.iter().filter(|&&w| w).count() as f64;
    let field = |k: u64, f: usize, c: usize| {
        let base = ((k * nf as u64 + f as u64) * nc as u64 + c as u64) * n;
        let mut i = 0u64;
        mask.map(|&m| {
            i += 1;
            if m {
                complex_normal(o.seed, base + i - 1)
            } else {
                Complex64::new(0.0, 0.0)
            }
        })
    };
    let mut logs: Vec<Vec<f64>> = Vec::with_capacity(o.replicates);
    // Noise, prediction and the response's own copy of the data.
    let per_replicate = 3 * nf * nc * weight.len() * std::mem::size_of::<Complex64>();
    let batch = (BATCH_BYTES / per_replicate.max(1)).clamp(1, o.replicates);
    for start in (0..o.replicates).step_by(batch) {
        let ks: Vec<u64> = (start..(start + batch).min(o.replicates)).map(|k| k as u64).collect();
        let noise: Replicates = ks.par_iter().map(|&k| (0..nf).map(|f| (0..nc).map(|c| field(k, f, c)).collect()).collect()).collect();
        let predicted = response.map(|r| r(&noise)).transpose()?;
        let batch: Vec<Vec<f64>> = noise
            .par_iter()
            .enumerate()
            .map(|(j, per_k)| {
                let mut out = Vec::with_capacity(nf * nc);
                for (f, per_f) in per_k.iter().enumerate() {
                    let mut residual: Vec<Array3<Complex64>> = match &predicted {
                        Some(p) => per_f.iter().zip(&p[j][f]).map(|(d, u)| d - u).collect(),
                        None => per_f.clone(),
                    };
                    whiten(f, &mut residual);
                    for (c, d) in per_f.iter().enumerate() {
                        let mut ss = 0.0;
                        Zip::from(&residual[c]).and(weight).for_each(|&r, &w| {
                            if w {
                                ss += r.norm_sqr();
                            }
                        });
                        let s2 = match source {
                            NoiseSource::Known => 1.0,
                            NoiseSource::HighPass => high_pass_noise(d, interior).powi(2),
                        };
                        out.push((ss / voxels / s2).ln());
                    }
                }
                out
            })
            .collect();
        logs.extend(batch);
    }
    let r = logs.len() as f64;
    Ok((0..nf * nc)
        .map(|j| {
            let m = logs.iter().map(|l| l[j]).sum::<f64>() / r;
            let v = logs.iter().map(|l| (l[j] - m).powi(2)).sum::<f64>() / (r - 1.0);
            // The spread of a new value around a mean estimated from `r` replicates.
            (m, (v * (1.0 + 1.0 / r)).sqrt().max(f64::MIN_POSITIVE))
        })
        .collect())
}

/// `r` (the residual of every component of frequency `f`) whitened on the voxels of `weight`
/// with `whitening` ([`crate::ModelErrorCovariance::whiten_half`]); unchanged without.
fn whiten_residual(
    whitening: Option<&crate::interface::ModelErrorCovariance>,
    weight: &Array3<bool>,
    f: usize,
    r: &mut [Array3<Complex64>],
) {
    let Some(w) = whitening else { return };
    let flat: Vec<Complex64> = r.iter().flat_map(|a| a.iter().zip(weight).filter(|(_, &w)| w).map(|(v, _)| *v)).collect();
    let white = w.whiten_half(f, &flat, r.len());
    let mut it = white.into_iter();
    for a in r.iter_mut() {
        Zip::from(a).and(weight).for_each(|v, &w| {
            if w {
                *v = it.next().expect("one value per fitted voxel and component");
            }
        });
    }
}

/// `1 − Φ(z)` of the standard normal.
pub fn upper_tail(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative error below
/// 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_matches_known_values() {
        for (z, p) in [(0.0, 0.5), (1.0, 0.158_655_253_9), (2.326_347_874, 0.01), (-1.644_853_627, 0.95), (5.0, 2.866_515_7e-7)] {
            assert!((upper_tail(z) - p).abs() <= 2e-7 * p.max(1e-3), "{z}: {} vs {p}", upper_tail(z));
        }
    }

    /// The robust high-pass estimate recovers the noise level of white noise added to a plane
    /// wave of 10 voxels per wavelength, in 2-D and 3-D, to a few per cent.
    #[test]
    fn high_pass_noise_recovers_the_noise_level_under_a_wave() {
        for shape in [(1, 64, 64), (16, 24, 24)] {
            let mask = Array3::from_elem(shape, true);
            let interior = interior_of(&mask);
            let k = 2.0 * std::f64::consts::PI / 10.0;
            let sigma = 0.05;
            let mut i = 0;
            let field = Array3::from_shape_fn(shape, |(z, y, x)| {
                i += 1;
                Complex64::from_polar(1.0, k * (0.6 * x as f64 + 0.8 * y as f64 + 0.3 * z as f64)) + complex_normal(7, i) * sigma
            });
            let est = high_pass_noise(&field, &interior);
            assert!((est / sigma - 1.0).abs() < 0.05, "{shape:?}: {est} vs {sigma}");
        }
    }

    fn cd<'a>(d: &'a Fields, u: &'a Fields, weight: &'a Array3<bool>, mask: &'a Array3<bool>, known: Option<&'a [f64]>) -> CheckData<'a> {
        CheckData { measured: d, reference: d, predicted: u, weight, mask, known_noise: known, whitening: None }
    }

    /// Pure noise "fits" (ratio ≈ 1), a smooth residual of the noise's size is a misfit, and
    /// the z-map is the residual over σ̂.
    #[test]
    fn smooth_residuals_fail_and_white_ones_pass() {
        let shape = (1, 40, 40);
        let mask = Array3::from_elem(shape, true);
        let weight = interior_of(&mask);
        let sigma = 0.1;
        let wave = Array3::from_shape_fn(shape, |(_, y, x)| Complex64::from_polar(1.0, 0.5 * x as f64 + 0.2 * y as f64));
        let mut i = 0;
        let data = wave.map(|u| {
            i += 1;
            u + complex_normal(3, i) * sigma
        });
        let smooth = Array3::from_shape_fn(shape, |(_, y, x)| Complex64::new((0.3 * x as f64).sin() * (0.2 * y as f64).cos(), 0.0) * sigma);
        let o = CheckOptions::default();
        let fit = check(&cd(&[vec![data.clone()]], &[vec![wave.clone()]], &weight, &mask, None), None, &o).unwrap();
        assert_eq!(fit.verdict, Verdict::Fits, "{:?}", fit.entries);
        assert!((fit.entries[0].ratio - 1.0).abs() < 0.2, "{:?}", fit.entries);
        let bad = &wave + &smooth.mapv(|v| v * 2.0);
        let mis = check(&cd(&[vec![data.clone()]], &[vec![bad]], &weight, &mask, None), None, &o).unwrap();
        assert_eq!(mis.verdict, Verdict::Misfit, "{:?}", mis.entries);
        assert!(mis.p_value < 1e-6 && mis.entries[0].fails);
        let z = fit.residual_z[[0, 0, 0, 5, 7]];
        assert!((z - (data[[0, 5, 7]] - wave[[0, 5, 7]]) / fit.entries[0].noise_std).norm() < 1e-12);
        assert!(fit.residual_z[[0, 0, 0, 0, 0]].re.is_nan());
        // With the known noise level.
        let known = check(&cd(&[vec![data]], &[vec![wave]], &weight, &mask, Some(&[sigma])), None, &o).unwrap();
        assert_eq!((known.verdict, known.noise), (Verdict::Fits, NoiseSource::Known));
    }
}
