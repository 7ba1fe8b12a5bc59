//! Likelihoods of predicted displacement fields.

use std::sync::Arc;

use ndarray::{Array3, Axis, Zip};
use num_complex::Complex64;

use crate::data::Measurements;
use crate::error::{InverseError, Result};
use crate::interface::ModelErrorCovariance;

/// The noise level of a likelihood.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Noise {
    /// Known standard deviation per frequency (`E|n|² = σ²` per complex sample).
    Known(Vec<f64>),
    /// Unknown, with the scale-invariant (Jeffreys) prior `p(σ) ∝ 1/σ` per frequency,
    /// integrated out analytically: `p(d | θ) ∝ S_f(θ)^{−N_f}` with `S_f` the residual sum of
    /// squares and `N_f` the number of complex samples of frequency `f`.
    #[default]
    Inferred,
}

impl Noise {
    /// The log-likelihood of frequency `f` from the residual sum of squares `ss` of `samples`
    /// complex samples, and `2 ∂ log p/∂ss` (the factor of a residual in `∂ log p/∂ū`).
    fn log_likelihood(&self, f: usize, ss: f64, samples: usize) -> (f64, f64) {
        match self {
            Noise::Known(s) => {
                let s2 = s[f] * s[f];
                (-ss / s2, -2.0 / s2)
            }
            Noise::Inferred => {
                let n = samples as f64;
                (-n * ss.ln(), -2.0 * n / ss)
            }
        }
    }

    /// σ of frequency `f`: the known value, or the RMS residual `sqrt(ss / samples)`.
    fn estimate(&self, f: usize, ss: impl FnOnce() -> f64, samples: usize) -> f64 {
        match self {
            Noise::Known(s) => s[f],
            Noise::Inferred => (ss() / samples as f64).sqrt(),
        }
    }
}

/// Log-likelihood of predicted fields, one frequency at a time.
pub trait Likelihood: Sync {
    /// `log p(d_f | u)` for the predicted fields `u` of frequency `f` (one per component) and
    /// `∂ log p/∂u` per component (`d log p = Re Σ conj(∂ log p/∂u) du`).
    fn frequency_term(&self, f: usize, fields: &[Array3<Complex64>]) -> (f64, Vec<Array3<Complex64>>);
    /// `log p(d_f | u)` alone (the first part of [`Likelihood::frequency_term`]); implementations
    /// may skip the work only the gradient needs.
    fn frequency_value(&self, f: usize, fields: &[Array3<Complex64>]) -> f64 {
        self.frequency_term(f, fields).0
    }
    /// The noise standard deviation implied for frequency `f` by the predicted fields: the
    /// known value, or the root-mean-square residual when inferred.
    fn noise_estimate(&self, f: usize, fields: &[Array3<Complex64>]) -> f64;
    /// The Hessian of `log p(d_f | u)` in the fields at `fields`, applied to `v` (per
    /// component, in the convention of [`Likelihood::frequency_term`]'s gradient). With the
    /// noise level inferred it includes the rank-one term of the noise level's dependence on
    /// `u`: per frequency that term is `b_f b_fᵀ/c ≥ 0` in θ with `b_f` the frequency's share of
    /// the gradient, which does not vanish at the MAP when the frequencies pull different ways
    /// (measured on P–SV data: about half the curvature along the slowest direction). The
    /// default is central differences of the gradient along `v` (step `10⁻⁴ ‖u‖/‖v‖`).
    fn hessian_vector(&self, f: usize, fields: &[Array3<Complex64>], v: &[Array3<Complex64>]) -> Vec<Array3<Complex64>> {
        let norm = |a: &[Array3<Complex64>]| a.iter().flat_map(|x| x.iter()).map(|v| v.norm_sqr()).sum::<f64>().sqrt();
        let nv = norm(v);
        if nv == 0.0 {
            return v.to_vec();
        }
        let h = 1e-4 * norm(fields).max(f64::MIN_POSITIVE) / nv;
        let shifted = |s: f64| -> Vec<Array3<Complex64>> {
            fields
                .iter()
                .zip(v)
                .map(|(u, v)| {
                    let mut w = u.clone();
                    Zip::from(&mut w).and(v).for_each(|w, &v| *w += v * s);
                    w
                })
                .collect()
        };
        let (_, gp) = self.frequency_term(f, &shifted(h));
        let (_, gm) = self.frequency_term(f, &shifted(-h));
        gp.iter().zip(&gm).map(|(p, m)| (p - m).mapv(|d| d / (2.0 * h))).collect()
    }
}

/// Complex Gaussian likelihood on the displacement field: `d = u(θ) + n`, `n` circular complex
/// Gaussian with `E|n|² = σ_f²`, independent between voxels, components and frequencies, over
/// the voxels in `weight` (typically the mask's interior, where the forward model predicts).
#[derive(Debug, Clone)]
pub struct WaveGaussian {
    data: Vec<Vec<Array3<Complex64>>>,
    weight: Array3<bool>,
    noise: Noise,
    samples: usize,
    /// The low-rank model-error term (interface positions and/or boundary noise), if any.
    model_error: Option<Arc<ModelErrorCovariance>>,
}

impl WaveGaussian {
    /// The likelihood of `data`'s `/wave` on the voxels of `weight` (e.g.
    /// [`crate::forward::ForwardModel::predicted`] ∩ mask) with the given `noise`.
    pub fn new(data: &Measurements, weight: &Array3<bool>, noise: Noise) -> Result<Self> {
        data.validate()?;
        let weight = weight & &data.mask;
        let voxels = weight.iter().filter(|&&w| w).count();
        if voxels == 0 {
            return Err(InverseError::invalid("/mask", "no voxel left to fit", "interior mask voxels with data"));
        }
        if let Noise::Known(s) = &noise {
            if s.len() != data.n_frequencies() || s.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(InverseError::invalid("noise_std", format!("{s:?}"), format!("{} positive values", data.n_frequencies())));
            }
        }
        let data_fields = (0..data.n_frequencies()).map(|f| (0..data.n_components()).map(|c| data.field(f, c)).collect()).collect();
        Ok(Self { data: data_fields, weight, noise, samples: voxels * data.n_components(), model_error: None })
    }

    /// The same likelihood with the interface positions inside their voxels and/or the noise of
    /// the boundary data integrated out (see [`ModelErrorCovariance`], made for this
    /// likelihood's voxels and components; for the boundary noise `weight` must be the forward
    /// model's predicted voxels). A second term replaces the first: build one term with both
    /// parts instead ([`ModelErrorCovariance::at`] with `boundary_noise`).
    pub fn with_model_error_covariance(mut self, term: Arc<ModelErrorCovariance>) -> Result<Self> {
        if term.rows() != 2 * self.samples || term.n_frequencies() != self.data.len() {
            return Err(InverseError::invalid(
                "model-error covariance",
                format!("{} real rows and {} frequencies", term.rows(), term.n_frequencies()),
                format!("{} rows and {} frequencies (the likelihood's)", 2 * self.samples, self.data.len()),
            ));
        }
        self.model_error = Some(term);
        Ok(self)
    }

    /// The low-rank model-error term of the residual covariance, if any (for the model check's
    /// whitened residual, [`crate::model_check::CheckData::whitening`]).
    pub fn model_error_covariance(&self) -> Option<&ModelErrorCovariance> {
        self.model_error.as_deref()
    }

    /// The noise level per frequency implied by `fields` (`[f][c]`): the known values, or the
    /// root-mean-square residual of each frequency.
    pub fn noise_levels(&self, fields: &[Vec<Array3<Complex64>>]) -> Vec<f64> {
        fields.iter().enumerate().map(|(f, u)| self.noise_estimate(f, u)).collect()
    }

    /// The data this likelihood fits, `[f][c]` (with the approximation-error model: the
    /// measured wave minus the discretisation error).
    pub fn data(&self) -> &[Vec<Array3<Complex64>>] {
        &self.data
    }

    /// Number of complex samples per frequency (voxels × components).
    pub fn samples_per_frequency(&self) -> usize {
        self.samples
    }

    /// The residual sum of squares `S` of frequency `f` and `∂S/∂ū / 2` per component (the
    /// residual itself, or `(I + BBᵀ)⁻¹ r` with a model-error term).
    fn residual(&self, f: usize, fields: &[Array3<Complex64>]) -> (f64, Vec<Array3<Complex64>>) {
        if let Some(term) = &self.model_error {
            return self.whitened_residual(term, f, fields);
        }
        let mut ss = 0.0;
        let r = fields
            .iter()
            .zip(&self.data[f])
            .map(|(u, d)| {
                let mut r = Array3::zeros(u.raw_dim());
                Zip::from(&mut r).and(u).and(d).and(&self.weight).for_each(|r, &u, &d, &w| {
                    if w {
                        *r = u - d;
                    }
                });
                ss += r.iter().map(|v| v.norm_sqr()).sum::<f64>();
                r
            })
            .collect();
        (ss, r)
    }

    /// The residuals `u − d` of every component in turn on the weighted voxels.
    fn flat_residual(&self, f: usize, fields: &[Array3<Complex64>]) -> Vec<Complex64> {
        let mut flat = Vec::with_capacity(self.samples);
        for (u, d) in fields.iter().zip(&self.data[f]) {
            flat.extend(u.iter().zip(d).zip(&self.weight).filter(|(_, &w)| w).map(|((&u, &d), _)| u - d));
        }
        flat
    }

    /// [`WaveGaussian::residual`] with the model-error term: all components whitened together.
    fn whitened_residual(&self, term: &ModelErrorCovariance, f: usize, fields: &[Array3<Complex64>]) -> (f64, Vec<Array3<Complex64>>) {
        let flat = self.flat_residual(f, fields);
        let (ss, q) = term.whiten(f, &flat, fields.len());
        let mut q = q.into_iter();
        (ss, fields.iter().map(|u| self.scatter(&mut q, u.raw_dim())).collect())
    }

    /// An array of `shape` holding the next values of `values` on the weighted voxels (C order), 0 elsewhere.
    fn scatter(&self, values: &mut impl Iterator<Item = Complex64>, shape: ndarray::Ix3) -> Array3<Complex64> {
        let mut out = Array3::zeros(shape);
        Zip::from(&mut out).and(&self.weight).for_each(|o, &w| {
            if w {
                *o = values.next().expect("one value per weighted voxel");
            }
        });
        out
    }
}

impl Likelihood for WaveGaussian {
    fn frequency_value(&self, f: usize, fields: &[Array3<Complex64>]) -> f64 {
        let ss = match &self.model_error {
            // One pass over the dense factor instead of two.
            Some(term) => term.quadratic(f, &self.flat_residual(f, fields), fields.len()),
            None => self.residual(f, fields).0,
        };
        self.noise.log_likelihood(f, ss, self.samples).0
    }

    fn frequency_term(&self, f: usize, fields: &[Array3<Complex64>]) -> (f64, Vec<Array3<Complex64>>) {
        let (ss, mut r) = self.residual(f, fields);
        let (lp, scale) = self.noise.log_likelihood(f, ss, self.samples);
        r.iter_mut().for_each(|r| r.mapv_inplace(|v| v * scale));
        (lp, r)
    }

    fn noise_estimate(&self, f: usize, fields: &[Array3<Complex64>]) -> f64 {
        self.noise.estimate(f, || self.residual(f, fields).0, self.samples)
    }

    /// Exact: the residual `r` (whitened to `q` with a model-error term) is affine in `u` and
    /// the gradient is `scale(S) q(u)` with `S = Re⟨r, q⟩`, so along `v` it changes by
    /// `scale (q(u + v) − q(u)) + scale'(S) · 2 Re⟨q, v⟩ · q`.
    fn hessian_vector(&self, f: usize, fields: &[Array3<Complex64>], v: &[Array3<Complex64>]) -> Vec<Array3<Complex64>> {
        let (ss, q0) = self.residual(f, fields);
        let scale = self.noise.log_likelihood(f, ss, self.samples).1;
        // scale = −2/σ² (known: constant) or −2N/S (inferred: d scale/dS = −scale/S).
        let dscale = match self.noise {
            Noise::Known(_) => 0.0,
            Noise::Inferred => -scale / ss,
        };
        let moved: Vec<Array3<Complex64>> = fields.iter().zip(v).map(|(u, v)| u + v).collect();
        let (_, q1) = self.residual(f, &moved);
        let dss: f64 = 2.0 * q0.iter().zip(v).map(|(q, v)| q.iter().zip(v).map(|(q, v)| (q.conj() * v).re).sum::<f64>()).sum::<f64>();
        q1.iter().zip(&q0).map(|(a, b)| (a - b).mapv(|d| d * scale) + b.mapv(|d| d * (dscale * dss))).collect()
    }
}

/// Predicted images and residuals `[k, z, y, x]` of one component.
type PredictionResidual = (ndarray::Array4<Complex64>, ndarray::Array4<Complex64>);

/// Complex Gaussian likelihood on the motion-encoded MR images: the predicted image at offset
/// `θ_k = 2πk/N` is `|I_k| e^{iφ_k}` with `φ_k = Re{ξ_f u e^{iθ_k}}` — the measured magnitude
/// with the phase the predicted displacement encodes. Wrapped phase needs no unwrapping here;
/// for fully sampled Cartesian data the image-domain and k-space likelihoods are equal (the
/// FFT is unitary). Noise as in [`WaveGaussian`], per complex image sample.
#[derive(Debug, Clone)]
pub struct ImageGaussian {
    /// `[f][c]` → images `[k, z, y, x]`.
    images: Vec<Vec<ndarray::Array4<Complex64>>>,
    encoding: Vec<Complex64>,
    weight: Array3<bool>,
    noise: Noise,
    samples: usize,
}

impl ImageGaussian {
    /// The likelihood of `data`'s `/images` (required) on the voxels of `weight`.
    pub fn new(data: &Measurements, weight: &Array3<bool>, noise: Noise) -> Result<Self> {
        data.validate()?;
        let im = data.images.as_ref().ok_or_else(|| {
            InverseError::invalid("/images", "missing", "complex images for the image likelihood (or use the wave likelihood)")
        })?;
        let weight = weight & &data.mask;
        let voxels = weight.iter().filter(|&&w| w).count();
        if voxels == 0 {
            return Err(InverseError::invalid("/mask", "no voxel left to fit", "interior mask voxels with data"));
        }
        let images = im.images.outer_iter().map(|f| f.outer_iter().map(|c| c.to_owned()).collect()).collect();
        let offsets = im.images.len_of(Axis(2));
        Ok(Self { images, encoding: im.encoding_rad_per_m.clone(), weight, noise, samples: voxels * data.n_components() * offsets })
    }

    fn residuals(&self, f: usize, fields: &[Array3<Complex64>]) -> (f64, Vec<PredictionResidual>) {
        let xi = self.encoding[f];
        let mut ss = 0.0;
        let out = fields
            .iter()
            .zip(&self.images[f])
            .map(|(u, im)| {
                let nk = im.len_of(Axis(0));
                let mut pred = ndarray::Array4::zeros(im.raw_dim());
                let mut res = ndarray::Array4::zeros(im.raw_dim());
                for k in 0..nk {
                    let rot = xi * Complex64::from_polar(1.0, 2.0 * std::f64::consts::PI * k as f64 / nk as f64);
                    Zip::from(pred.index_axis_mut(Axis(0), k))
                        .and(res.index_axis_mut(Axis(0), k))
                        .and(im.index_axis(Axis(0), k))
                        .and(u)
                        .and(&self.weight)
                        .for_each(|p, r, &i, &u, &w| {
                            if w {
                                *p = Complex64::from_polar(i.norm(), (rot * u).re);
                                *r = *p - i;
                                ss += r.norm_sqr();
                            }
                        });
                }
                (pred, res)
            })
            .collect();
        (ss, out)
    }
}

impl Likelihood for ImageGaussian {
    fn frequency_term(&self, f: usize, fields: &[Array3<Complex64>]) -> (f64, Vec<Array3<Complex64>>) {
        let (ss, pr) = self.residuals(f, fields);
        let (lp, scale) = self.noise.log_likelihood(f, ss, self.samples);
        let xi = self.encoding[f];
        // d|r_k|² = 2 a_k dφ_k with a_k = Re(conj r · i p) = −Im(conj r · p) and
        // dφ_k = Re(ξ e^{iθ_k} du); `scale` = 2 ∂lp/∂(Σ|r|²), so ∂lp/∂u = Σ_k scale a_k conj(ξ e^{iθ_k}).
        let grads = pr
            .iter()
            .map(|(pred, res)| {
                let nk = pred.len_of(Axis(0));
                let mut g = Array3::zeros((pred.shape()[1], pred.shape()[2], pred.shape()[3]));
                for k in 0..nk {
                    let rot = (xi * Complex64::from_polar(1.0, 2.0 * std::f64::consts::PI * k as f64 / nk as f64)).conj();
                    Zip::from(&mut g).and(pred.index_axis(Axis(0), k)).and(res.index_axis(Axis(0), k)).for_each(|g, &p, &r| {
                        let a = -(r.conj() * p).im;
                        *g += rot * (a * scale);
                    });
                }
                g
            })
            .collect();
        (lp, grads)
    }

    fn noise_estimate(&self, f: usize, fields: &[Array3<Complex64>]) -> f64 {
        self.noise.estimate(f, || self.residuals(f, fields).0, self.samples)
    }
}
