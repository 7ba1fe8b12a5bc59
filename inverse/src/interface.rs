//! Where the interfaces between regions lie inside their voxels: an approximation-error term
//! of the likelihood for region moduli.
//!
//! A label map says which region each voxel centre belongs to, not where inside a voxel the
//! interface runs. The forward model gives every voxel its region's modulus (a staircase); the
//! tissue has a smooth interface somewhere between the centres of neighbouring voxels with
//! different labels. For strongly informative data (hundreds of thousands of samples, high SNR)
//! the prediction error this causes exceeds the noise-limited width of the posterior, and the
//! credible intervals would not cover the truth (see `docs/inversion.md`).
//!
//! The model: the complex modulus of an interface voxel `v` (a mask voxel with a face
//! neighbour in another region) is `G*_v = G*_own + φ_v (G*_other − G*_own)`, with `φ_v` the
//! unknown share of the other region, independent between voxels, Gaussian with mean 0 and
//! standard deviation `spread`. With the interface anywhere inside the voxel, the share of the
//! other side is uniform on `[0, ½]` and `E φ² = 1/12`: the default `spread = 1/√12`. Linearised
//! at the moduli `θ̂` (typically a first MAP), `u(θ, φ) ≈ u(θ) + K φ` with
//! `K_v = (G*_other − G*_own) ∂u/∂G*_v` ([`mre_solver::wave::ScalarSolver::modulus_derivative`]),
//! and `φ` integrates out: in real form (`r̃ = [Re r; Im r]`, `K̃ = [Re K; Im K]`) the residual
//! has covariance `σ²/2 (I + B Bᵀ)` with `B = (√2 spread/σ̂) K̃`. The likelihood's residual
//! sum of squares becomes `S = r̃ᵀ (I + BBᵀ)⁻¹ r̃ = r̃ᵀr̃ − Σ_i λ_i/(1+λ_i) (q_iᵀr̃)²` with
//! `BBᵀ = Σ λ_i q_i q_iᵀ` (from the eigendecomposition of `BᵀB`; directions whose eigenvalues
//! sum to less than 0.02 are left out: a change of the log-likelihood of 0.01 or less), with `σ̂` per frequency fixed at `θ̂` (the known noise level, or the estimate
//! there); with the noise level inferred, `σ` still integrates out (the ratio is fixed). `φ` is
//! shared by the displacement components. `K` is frozen at `θ̂` (as the boundary map `T` below
//! is); the prediction `u(θ)` itself stays exact.
//!
//! Optionally the same factor also carries the noise of the measured boundary values, or only
//! that ([`ModelErrorCovariance::boundary_noise`]). The forward model prescribes the measured
//! displacement `d_B = b + n_B` on the boundary voxels, with the same noise as the rest; with the
//! true values `b` unknown (flat prior) the residual gains `T n_B` (`T`: boundary values →
//! predicted voxels), i.e. the columns `[Re T_b; Im T_b]` and `[−Im T_b; Re T_b]` of every
//! boundary voxel `b` and component, which need no scaling (the same σ): the residual
//! covariance is `σ²/2 (I + BBᵀ)` as above. Without it the fit can shrink the propagated
//! boundary noise by raising the damping: a bias of G'' (errors in variables).

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use ndarray::Array3;
use num_complex::Complex64;
use rayon::prelude::*;

use crate::error::{InverseError, Result};
use crate::forward::{ForwardModel, Moduli, WaveForward};
use crate::param::{Parameterisation, Regions};

/// The default standard deviation of an interface voxel's share of the other region: `1/√12`.
pub const DEFAULT_SPREAD: f64 = 0.288_675_134_594_812_9;

/// The interface voxels of `regions` inside `mask`: `(voxel, other region)` for every mask voxel
/// with a face neighbour (inside the mask) of another region; the other region is the most
/// frequent one among those neighbours (the lower index on a tie). Linear C-order indices, ascending.
pub fn interface_voxels(regions: &Regions, mask: &Array3<bool>) -> Vec<(usize, usize)> {
    let index = regions.index();
    let sh = index.shape();
    let mut out = Vec::new();
    for (v, ((z, y, x), &own)) in index.indexed_iter().enumerate() {
        if !mask[[z, y, x]] {
            continue;
        }
        let mut counts = vec![0usize; regions.len()];
        let p = [z, y, x];
        for a in 0..3 {
            for step in [-1isize, 1] {
                let k = p[a] as isize + step;
                if sh[a] < 2 || k < 0 || k >= sh[a] as isize {
                    continue;
                }
                let mut q = p;
                q[a] = k as usize;
                let r = index[q];
                if mask[q] && r != own {
                    counts[r] += 1;
                }
            }
        }
        if let Some((other, _)) = counts.iter().enumerate().filter(|(_, &c)| c > 0).max_by_key(|(i, &c)| (c, usize::MAX - i)) {
            out.push((v, other));
        }
    }
    out
}

/// The largest expected change of the log-likelihood from the directions of `BBᵀ` left out
/// (their eigenvalues' sum over 2: a residual component along an eigenvector has variance σ²/2).
const DROPPED_LOGP: f64 = 0.01;

/// The low-rank model-error term of the wave likelihood for one data set: the interface
/// positions, the noise of the boundary values, or both (see the module documentation). The
/// one representation of a low-rank correction `(I + BBᵀ)⁻¹` of the residual covariance; put
/// it into the likelihood with [`crate::WaveGaussian::with_model_error_covariance`].
#[derive(Debug)]
pub struct ModelErrorCovariance {
    spread: f64,
    voxels: usize,
    boundary: usize,
    /// Per frequency: `Q` (orthonormal columns, real form with rows `[Re; Im]` of the predicted
    /// voxels of every component in turn) and weights `c_i = λ_i/(1+λ_i)` with `BBᵀ = Q Λ Qᵀ`
    /// restricted to its leading eigenvalues, so `(I + BBᵀ)⁻¹ = I − Q diag(c) Qᵀ`. The
    /// eigenvalues left out sum to at most `2 × DROPPED_LOGP`.
    per_frequency: Vec<(Mat<f64>, Vec<f64>)>,
}

/// A [`ModelErrorCovariance`] as plain numbers (serialisable): per frequency the factor's
/// rows, columns, column-major values and weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredCovariance {
    spread: f64,
    voxels: usize,
    boundary: usize,
    per_frequency: Vec<(usize, usize, Vec<f64>, Vec<f64>)>,
}

impl ModelErrorCovariance {
    /// The term for `forward`'s prediction at `theta` of `regions` (on the voxels of `weight`,
    /// the likelihood's), with noise level `sigma` per frequency (known, or estimated at
    /// `theta`) and `spread` the standard deviation of an interface voxel's share of the other
    /// region ([`DEFAULT_SPREAD`]); with `boundary_noise` also the noise of the boundary values
    /// (`weight` must then be `forward`'s predicted voxels). One solve per interface (and
    /// boundary) voxel and frequency; the dense factor has [`ModelErrorCovariance::memory_bytes`].
    #[allow(clippy::too_many_arguments)] // the data, the point, and the two terms' settings
    pub fn at(
        forward: &WaveForward,
        regions: &Regions,
        theta: &[f64],
        mask: &Array3<bool>,
        weight: &Array3<bool>,
        sigma: &[f64],
        spread: f64,
        boundary_noise: bool,
    ) -> Result<Self> {
        if !(spread.is_finite() && spread > 0.0) {
            return Err(InverseError::invalid("interface spread", format!("{spread}"), "a positive share of the other region"));
        }
        if sigma.len() != forward.n_frequencies() || sigma.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(InverseError::invalid("noise level", format!("{sigma:?}"), format!("{} positive values", forward.n_frequencies())));
        }
        let pairs = interface_voxels(regions, mask);
        if pairs.is_empty() {
            return Err(InverseError::invalid(
                "/labels",
                "no interface between regions inside the mask",
                "at least two labelled regions that touch",
            ));
        }
        let moduli = regions.moduli(theta);
        let n = regions.len();
        let g = |r: usize| Complex64::new(theta[r].exp(), theta[n + r].exp());
        let index = regions.index().as_slice().expect("standard layout").to_vec();
        let contrast: Vec<Complex64> = pairs.iter().map(|&(v, other)| g(other) - g(index[v])).collect();
        let voxels: Vec<usize> = pairs.iter().map(|&(v, _)| v).collect();
        let rows: Vec<usize> = weight.iter().enumerate().filter(|(_, &w)| w).map(|(i, _)| i).collect();
        let boundary = if boundary_noise {
            if weight != forward.predicted() {
                return Err(InverseError::invalid(
                    "boundary noise",
                    "a likelihood weight other than the predicted voxels",
                    "the forward model's predicted voxels",
                ));
            }
            forward.boundary_voxels(mask)
        } else {
            Vec::new()
        };
        let per_frequency = (0..forward.n_frequencies())
            .into_par_iter()
            .map(|f| {
                let (medium, solver) = forward.factorise(f, &moduli)?;
                let fields = forward.solve_components(f, &solver)?;
                let np = rows.len();
                let scale = std::f64::consts::SQRT_2 * spread / sigma[f];
                let nb = boundary.len();
                let mut b = Mat::<f64>::zeros(2 * np * fields.len(), voxels.len() + 2 * nb * fields.len());
                for (c, u) in fields.iter().enumerate() {
                    let du = solver.modulus_derivative(&medium, u, &voxels)?;
                    for (j, (col, &dg)) in du.iter().zip(&contrast).enumerate() {
                        let col = col.as_slice().expect("standard layout");
                        for (p, &i) in rows.iter().enumerate() {
                            let k = col[i] * dg * scale;
                            b[(2 * np * c + p, j)] = k.re;
                            b[(2 * np * c + np + p, j)] = k.im;
                        }
                    }
                }
                if nb > 0 {
                    boundary_columns(&mut b, &forward.boundary_response(f, &moduli, &boundary)?, voxels.len(), fields.len());
                }
                low_rank(&b)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { spread, voxels: voxels.len(), boundary: boundary.len(), per_frequency })
    }

    /// The term of the noise of the boundary values alone (no interface term), for a likelihood
    /// on `forward`'s predicted voxels: `T` of every frequency of `forward` at `moduli` (typically
    /// a first MAP), for the boundary voxels of `mask`. One solve per boundary voxel and
    /// frequency; the dense factor has `2 × predicted samples × 2 × boundary voxels × components`
    /// entries per frequency.
    pub fn boundary_noise(forward: &WaveForward, moduli: &Moduli, mask: &Array3<bool>) -> Result<Self> {
        let boundary = forward.boundary_voxels(mask);
        let nc = forward.n_components();
        let per_frequency = (0..forward.n_frequencies())
            .into_par_iter()
            .map(|f| {
                let t = forward.boundary_response(f, moduli, &boundary)?;
                let mut b = Mat::<f64>::zeros(2 * t.nrows() * nc, 2 * boundary.len() * nc);
                boundary_columns(&mut b, &t, 0, nc);
                low_rank(&b)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { spread: 0.0, voxels: 0, boundary: boundary.len(), per_frequency })
    }

    /// The term `σ²/2 (I + U C Uᵀ)` from columns `U` and a symmetric `C` per frequency (real
    /// form as above), `C` possibly indefinite: the Navier model's boundary noise, whose
    /// prescribed faces also take values of predicted voxels, whose noise is in the residual
    /// too ([`crate::model_error::navier_model_error_state`]). `voxels` interface voxels (0
    /// without) and `boundary` measured voxels whose noise is integrated out.
    ///
    /// # Errors
    ///
    /// A covariance that is not positive definite (an eigenvalue of `I + UCUᵀ` below 10⁻⁶).
    pub(crate) fn from_signed_columns(spread: f64, voxels: usize, boundary: usize, per_frequency: &[(Mat<f64>, Mat<f64>)]) -> Result<Self> {
        let per_frequency = per_frequency.iter().map(|(u, c)| low_rank_signed(u, c)).collect::<Result<Vec<_>>>()?;
        Ok(Self { spread, voxels, boundary, per_frequency })
    }

    /// The term as plain numbers, for a checkpoint ([`ModelErrorCovariance::from_stored`]
    /// rebuilds it bit for bit).
    pub fn to_stored(&self) -> StoredCovariance {
        let per_frequency = self
            .per_frequency
            .iter()
            .map(|(q, c)| {
                let data = (0..q.ncols()).flat_map(|j| (0..q.nrows()).map(move |i| q[(i, j)])).collect();
                (q.nrows(), q.ncols(), data, c.clone())
            })
            .collect();
        StoredCovariance { spread: self.spread, voxels: self.voxels, boundary: self.boundary, per_frequency }
    }

    /// The term of [`ModelErrorCovariance::to_stored`].
    ///
    /// # Errors
    ///
    /// A factor whose data do not match its shape (a damaged checkpoint).
    pub fn from_stored(s: &StoredCovariance) -> Result<Self> {
        let per_frequency = s
            .per_frequency
            .iter()
            .map(|(rows, cols, data, c)| {
                if data.len() != rows * cols || c.len() != *cols {
                    return Err(InverseError::invalid(
                        "stored model-error covariance",
                        format!("{} values", data.len()),
                        format!("{rows} × {cols}"),
                    ));
                }
                Ok((Mat::from_fn(*rows, *cols, |i, j| data[j * rows + i]), c.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { spread: s.spread, voxels: s.voxels, boundary: s.boundary, per_frequency })
    }

    /// Number of interface voxels (0 without the interface term).
    pub fn voxels(&self) -> usize {
        self.voxels
    }

    /// Number of boundary voxels whose noise is integrated out (0 without boundary noise).
    pub fn boundary_voxels(&self) -> usize {
        self.boundary
    }

    /// Bytes the dense factors of [`ModelErrorCovariance::at`] take (per-evaluation memory
    /// traffic is about twice this) for `forward`'s prediction with `regions` in `mask`.
    pub fn memory_bytes(forward: &WaveForward, regions: &Regions, mask: &Array3<bool>, boundary_noise: bool) -> usize {
        let np = forward.predicted().iter().filter(|&&b| b).count();
        let nc = forward.n_components();
        let nb = if boundary_noise { forward.boundary_voxels(mask).len() } else { 0 };
        let cols = interface_voxels(regions, mask).len() + 2 * nb * nc;
        forward.n_frequencies() * 2 * np * nc * cols * std::mem::size_of::<f64>()
    }

    /// Directions of the covariance term kept per frequency.
    pub fn ranks(&self) -> Vec<usize> {
        self.per_frequency.iter().map(|(q, _)| q.ncols()).collect()
    }

    /// The standard deviation of an interface voxel's share of the other region (0 without the
    /// interface term).
    pub fn spread(&self) -> f64 {
        self.spread
    }

    /// Number of frequencies.
    pub fn n_frequencies(&self) -> usize {
        self.per_frequency.len()
    }

    /// Rows of `B` (twice the predicted samples of a frequency).
    pub fn rows(&self) -> usize {
        self.per_frequency.first().map_or(0, |(b, _)| b.nrows())
    }

    /// `r̃` and `w = diag(c) Qᵀ r̃` for frequency `f`, with `S = r̃ᵀ (I + BBᵀ)⁻¹ r̃ = r̃ᵀr̃ − (Qᵀr̃)ᵀ w`.
    fn project(&self, f: usize, r: &[Complex64], components: usize) -> (Mat<f64>, Mat<f64>, f64) {
        let (q, c) = &self.per_frequency[f];
        let rt = real_form(r, components, q.nrows());
        let mut w = Mat::<f64>::zeros(q.ncols(), 1);
        matmul(w.as_mut(), Accum::Replace, q.transpose(), rt.as_ref(), 1.0, Par::Seq);
        let mut removed = 0.0;
        for (i, c) in c.iter().enumerate() {
            removed += c * w[(i, 0)] * w[(i, 0)];
            w[(i, 0)] *= c;
        }
        let s = r.iter().map(|v| v.norm_sqr()).sum::<f64>() - removed;
        (rt, w, s)
    }

    /// The whitened residual `(I + BBᵀ)^{-½} r̃ = r̃ − Q diag(1 − √(1 − c)) Qᵀ r̃` (with
    /// `1 − c_i = 1/(1 + λ_i)`) for frequency `f`, `r` the complex residuals of every component
    /// in turn, in the same layout: white noise of the likelihood's level where the residual
    /// is noise plus the modelled error (the model check's residual).
    pub fn whiten_half(&self, f: usize, r: &[Complex64], components: usize) -> Vec<Complex64> {
        let (q, c) = &self.per_frequency[f];
        let mut rt = real_form(r, components, q.nrows());
        let mut w = Mat::<f64>::zeros(q.ncols(), 1);
        matmul(w.as_mut(), Accum::Replace, q.transpose(), rt.as_ref(), 1.0, Par::Seq);
        for (i, c) in c.iter().enumerate() {
            w[(i, 0)] *= 1.0 - (1.0 - c).sqrt();
        }
        matmul(rt.as_mut(), Accum::Add, q.as_ref(), w.as_ref(), -1.0, Par::Seq);
        complex_form(&rt, r.len(), components)
    }

    /// `S = r̃ᵀ (I + BBᵀ)⁻¹ r̃` alone (one pass over the factor).
    pub(crate) fn quadratic(&self, f: usize, r: &[Complex64], components: usize) -> f64 {
        self.project(f, r, components).2
    }

    /// `S = r̃ᵀ (I + BBᵀ)⁻¹ r̃` (as [`ModelErrorCovariance::quadratic`]) and
    /// `q = (I + BBᵀ)⁻¹ r̃ = r̃ − Q w` (so `∂S/∂r̃ = 2q`) for frequency `f`, `r` the complex
    /// residuals of every component in turn.
    pub(crate) fn whiten(&self, f: usize, r: &[Complex64], components: usize) -> (f64, Vec<Complex64>) {
        let (mut q, w, s) = self.project(f, r, components);
        matmul(q.as_mut(), Accum::Add, self.per_frequency[f].0.as_ref(), w.as_ref(), -1.0, Par::Seq);
        (s, complex_form(&q, r.len(), components))
    }
}

/// Fills the columns of the boundary noise into `b` from column `first` on: `T` (predicted
/// voxels × boundary voxels) for each of `components` in turn. The noise `n_b = x + iy`
/// (`x, y ~ N(0, σ²/2)`) enters the residual as `T n_B`: columns `[Re T_b; Im T_b]` for `x` and
/// `[−Im T_b; Re T_b]` for `y`, per component.
fn boundary_columns(b: &mut Mat<f64>, t: &ndarray::Array2<Complex64>, first: usize, components: usize) {
    let (np, nb) = t.dim();
    for c in 0..components {
        for k in 0..nb {
            let (jx, jy) = (first + 2 * (c * nb + k), first + 2 * (c * nb + k) + 1);
            for p in 0..np {
                let v = t[[p, k]];
                b[(2 * np * c + p, jx)] = v.re;
                b[(2 * np * c + np + p, jx)] = v.im;
                b[(2 * np * c + p, jy)] = -v.im;
                b[(2 * np * c + np + p, jy)] = v.re;
            }
        }
    }
}

/// `Q` and `c_i = λ_i/(1+λ_i)` of `BBᵀ = Q Λ Qᵀ` (leading eigenvalues, those left out summing to
/// at most `2 × DROPPED_LOGP`), from the eigendecomposition of `BᵀB`. Sequential dense algebra:
/// the same bits for any number of threads.
fn low_rank(b: &Mat<f64>) -> Result<(Mat<f64>, Vec<f64>)> {
    let m = b.ncols();
    if m == 0 {
        // No column (e.g. no boundary voxel): no correction.
        return Ok((Mat::zeros(b.nrows(), 0), Vec::new()));
    }
    let mut gram = Mat::<f64>::zeros(m, m);
    matmul(gram.as_mut(), Accum::Replace, b.transpose(), b.as_ref(), 1.0, Par::Seq);
    let (lambda, u) = symmetric_eigen(&gram)?;
    let lambda: Vec<f64> = lambda.into_iter().map(|l| l.max(0.0)).collect();
    // Eigenvalues ascending: leave out the smallest while their sum stays small.
    let (mut first, mut dropped) = (0, 0.0);
    while first < lambda.len() && dropped + lambda[first] / 2.0 <= DROPPED_LOGP {
        dropped += lambda[first] / 2.0;
        first += 1;
    }
    let kept = lambda.len() - first;
    let w = Mat::<f64>::from_fn(lambda.len(), kept, |i, j| u[(i, first + j)] / lambda[first + j].sqrt());
    let mut q = Mat::<f64>::zeros(b.nrows(), kept);
    matmul(q.as_mut(), Accum::Replace, b.as_ref(), w.as_ref(), 1.0, Par::Seq);
    let c = lambda[first..].iter().map(|l| l / (1.0 + l)).collect();
    Ok((q, c))
}

/// Eigenvalues and eigenvectors (columns, eigenvalues ascending) of the symmetric `a`.
fn symmetric_eigen(a: &Mat<f64>) -> Result<(Vec<f64>, Mat<f64>)> {
    let m = a.nrows();
    let (mut s, mut u) = (Diag::<f64>::zeros(m), Mat::<f64>::zeros(m, m));
    let mut mem = MemBuffer::new(self_adjoint_evd_scratch::<f64>(m, ComputeEigenvectors::Yes, Par::Seq, Default::default()));
    self_adjoint_evd(a.as_ref(), s.as_mut(), Some(u.as_mut()), Par::Seq, MemStack::new(&mut mem), Default::default())
        .map_err(|e| InverseError::Inference(format!("model-error covariance: {e:?}")))?;
    Ok((s.column_vector().iter().copied().collect(), u))
}

/// `Q` and `c_i = λ_i/(1+λ_i)` of `U C Uᵀ = Q Λ Qᵀ` (`C` symmetric, possibly indefinite): with
/// `UᵀU = W G Wᵀ` (directions with `G` below 10⁻¹² of its largest left out: `U`'s null space),
/// `Q₀ = U W G^{-½}` is orthonormal and `UCUᵀ = Q₀ H Q₀ᵀ` with `H = G^{½} Wᵀ C W G^{½}`; the
/// eigenvectors `V` of `H` give `Q = Q₀ V`. The eigenvalues of smallest magnitude are left out
/// while their `|λ|/2` sum to at most `DROPPED_LOGP`. Sequential dense algebra: the same bits
/// for any number of threads.
fn low_rank_signed(u: &Mat<f64>, c: &Mat<f64>) -> Result<(Mat<f64>, Vec<f64>)> {
    let m = u.ncols();
    if m == 0 {
        return Ok((Mat::zeros(u.nrows(), 0), Vec::new()));
    }
    let mut gram = Mat::<f64>::zeros(m, m);
    matmul(gram.as_mut(), Accum::Replace, u.transpose(), u.as_ref(), 1.0, Par::Seq);
    let (g, w) = symmetric_eigen(&gram)?;
    let largest = g.iter().copied().fold(0.0, f64::max);
    let keep: Vec<usize> = (0..m).filter(|&i| g[i] > 1e-12 * largest).collect();
    let k = keep.len();
    // W G^{½} (m × k) and W G^{-½}.
    let half = Mat::<f64>::from_fn(m, k, |i, j| w[(i, keep[j])] * g[keep[j]].sqrt());
    let inv_half = Mat::<f64>::from_fn(m, k, |i, j| w[(i, keep[j])] / g[keep[j]].sqrt());
    let mut ch = Mat::<f64>::zeros(m, k);
    matmul(ch.as_mut(), Accum::Replace, c.as_ref(), half.as_ref(), 1.0, Par::Seq);
    let mut h = Mat::<f64>::zeros(k, k);
    matmul(h.as_mut(), Accum::Replace, half.transpose(), ch.as_ref(), 1.0, Par::Seq);
    // Symmetrise against rounding.
    let h = Mat::<f64>::from_fn(k, k, |i, j| 0.5 * (h[(i, j)] + h[(j, i)]));
    let (lambda, v) = symmetric_eigen(&h)?;
    if let Some(l) = lambda.iter().find(|&&l| 1.0 + l < 1e-6) {
        return Err(InverseError::Inference(format!(
            "model-error covariance is not positive definite (eigenvalue {:e} of I + UCUᵀ)",
            1.0 + l
        )));
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| lambda[a].abs().total_cmp(&lambda[b].abs()).then(a.cmp(&b)));
    let (mut first, mut dropped) = (0, 0.0);
    while first < k && dropped + lambda[order[first]].abs() / 2.0 <= DROPPED_LOGP {
        dropped += lambda[order[first]].abs() / 2.0;
        first += 1;
    }
    let kept = &order[first..];
    let vk = Mat::<f64>::from_fn(k, kept.len(), |i, j| v[(i, kept[j])]);
    let mut wv = Mat::<f64>::zeros(m, kept.len());
    matmul(wv.as_mut(), Accum::Replace, inv_half.as_ref(), vk.as_ref(), 1.0, Par::Seq);
    let mut q = Mat::<f64>::zeros(u.nrows(), kept.len());
    matmul(q.as_mut(), Accum::Replace, u.as_ref(), wv.as_ref(), 1.0, Par::Seq);
    let c = kept.iter().map(|&i| lambda[i] / (1.0 + lambda[i])).collect();
    Ok((q, c))
}

/// The complex values of the real form `rt` (as [`real_form`] makes it) of `len` samples of
/// `components` components.
fn complex_form(rt: &Mat<f64>, len: usize, components: usize) -> Vec<Complex64> {
    let np = len / components.max(1);
    (0..len)
        .map(|i| {
            let (c, k) = (i / np, i % np);
            Complex64::new(rt[(2 * np * c + k, 0)], rt[(2 * np * c + np + k, 0)])
        })
        .collect()
}

/// `[Re r_c; Im r_c]` of every component `c` in turn, as a column of `rows` entries.
fn real_form(r: &[Complex64], components: usize, rows: usize) -> Mat<f64> {
    let np = r.len() / components.max(1);
    Mat::<f64>::from_fn(rows, 1, |i, _| {
        let (c, k) = (i / (2 * np), i % (2 * np));
        if k < np {
            r[c * np + k].re
        } else {
            r[c * np + k - np].im
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::linalg::solvers::Solve;

    /// The signed low-rank term against the dense covariance `I + UCUᵀ` with an indefinite `C`
    /// of the boundary-noise form (`[[1, −1], [−1, 0]]` blocks and identity blocks): the
    /// quadratic form, and the half-whitening `W` with `WᵀW = (I + UCUᵀ)⁻¹`.
    #[test]
    fn signed_low_rank_term_matches_the_dense_covariance() {
        let np = 15;
        let rows = 2 * np;
        let m = 9;
        let value = |i: usize, j: usize| ((i * 7 + j * 13) % 17) as f64 / 17.0 - 0.5;
        let mut u = Mat::<f64>::from_fn(rows, m, |i, j| 0.4 * value(i, j));
        // Columns 7 and 8 are unit vectors (a predicted source voxel's own noise), paired with 5 and 6.
        for j in [7, 8] {
            for i in 0..rows {
                u[(i, j)] = 0.0;
            }
        }
        u[(3, 7)] = 1.0;
        u[(np + 3, 8)] = 1.0;
        let mut c = Mat::<f64>::identity(m, m);
        for (a, e) in [(5, 7), (6, 8)] {
            c[(e, e)] = 0.0;
            c[(a, e)] = -1.0;
            c[(e, a)] = -1.0;
        }
        let mut uc = Mat::<f64>::zeros(rows, m);
        matmul(uc.as_mut(), Accum::Replace, u.as_ref(), c.as_ref(), 1.0, Par::Seq);
        let mut sigma = Mat::<f64>::identity(rows, rows);
        matmul(sigma.as_mut(), Accum::Add, uc.as_ref(), u.transpose(), 1.0, Par::Seq);
        let term = ModelErrorCovariance::from_signed_columns(0.0, 0, 2, &[(u, c)]).unwrap();
        assert!(term.per_frequency[0].1.iter().any(|&c| c < 0.0), "an indefinite term");
        let r: Vec<Complex64> = (0..np).map(|k| Complex64::new(value(k, 1) + 0.1, value(k, 4))).collect();
        let rt = real_form(&r, 1, rows);
        let dense = sigma.partial_piv_lu().solve(&rt);
        let exact: f64 = (0..rows).map(|i| rt[(i, 0)] * dense[(i, 0)]).sum();
        let low = term.quadratic(0, &r, 1);
        assert!((low - exact).abs() < 1e-10 * exact, "{low} against {exact}");
        let w = term.whiten_half(0, &r, 1);
        let whitened: f64 = w.iter().map(|v| v.norm_sqr()).sum();
        assert!((whitened - exact).abs() < 1e-10 * exact, "|W r|² {whitened} against {exact}");
    }
}
