//! The approximation-error model of region moduli with the measured-boundary forward model:
//! the discretisation error ([`crate::refine`]), the interface positions inside their voxels and
//! the noise of the boundary values ([`crate::interface`]), taken at a first MAP and put into the
//! wave likelihood (see `docs/inversion.md`).

use crate::data::Measurements;
use crate::error::Result;
use crate::forward::{ForwardModel, WaveForward};
use crate::refine::{corrected, discretisation_error};

/// Which parts of the approximation-error model to use.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelErrorOptions {
    /// Refinement factor of [`discretisation_error`] (odd, ≥ 3); `None`: no discretisation term.
    pub refine: Option<usize>,
    /// Standard deviation of an interface voxel's share of the other region
    /// ([`crate::interface`]); `None`: no interface term.
    pub interface_spread: Option<f64>,
    /// Integrate out the noise of the boundary values in the same low-rank factor when its
    /// dense factors take at most [`BOUNDARY_NOISE_BUDGET_BYTES`] (2-D slices of moderate size).
    pub boundary_noise: bool,
    /// Second-order forward models (Navier): also solve `refine + 2` times finer and
    /// extrapolate the two errors to zero voxel size (Richardson,
    /// [`crate::refine::navier_discretisation_error`]); a factor 3 alone leaves 1/9 of the
    /// error, which biases G' by a few tenths of a percent (see `docs/inversion.md`).
    #[serde(default)]
    pub richardson: bool,
}

/// The largest dense covariance factor (bytes, all frequencies) [`with_model_error`] builds to
/// include the boundary noise; every likelihood evaluation reads it about twice.
pub const BOUNDARY_NOISE_BUDGET_BYTES: usize = 256 << 20;

impl Default for ModelErrorOptions {
    /// Both terms and the boundary noise: refinement 3 (no Richardson step), spread `1/√12`.
    fn default() -> Self {
        Self { refine: Some(3), interface_spread: Some(crate::interface::DEFAULT_SPREAD), boundary_noise: true, richardson: false }
    }
}

/// What [`with_model_error`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelErrorReport {
    /// Refinement factor used, if any.
    pub refine: Option<usize>,
    /// Whether the discretisation error was extrapolated from `refine` and `refine + 2`.
    pub richardson: bool,
    /// RMS of the discretisation error over the predicted samples relative to the noise level, per frequency.
    pub discretisation_to_noise: Vec<f64>,
    /// Interface voxels and their spread, if the interface term is used.
    pub interface: Option<(usize, f64)>,
    /// Directions of the interface term's covariance kept per frequency.
    pub interface_ranks: Vec<usize>,
    /// Boundary voxels whose noise is integrated out (0: not included).
    pub boundary_voxels: usize,
}

/// A complex `[nz, ny, nx]` array: its shape and interleaved real and imaginary parts.
type StoredArray = ([usize; 3], Vec<f64>);

/// The approximation-error model as numbers (what the solves of [`model_error_state`] give),
/// serialisable for a checkpoint: [`likelihood_from_state`] turns it into the likelihood
/// without a solve, bit-identical to [`with_model_error`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelErrorState {
    /// Refinement factor used, if any.
    pub refine: Option<usize>,
    /// Whether the discretisation error was extrapolated from `refine` and `refine + 2`.
    #[serde(default)]
    pub richardson: bool,
    /// The discretisation error per frequency and component: shape `[nz, ny, nx]` and
    /// interleaved real and imaginary parts.
    discretisation: Option<Vec<Vec<StoredArray>>>,
    /// The interface (and boundary-noise) term.
    covariance: Option<crate::interface::StoredCovariance>,
    discretisation_to_noise: Vec<f64>,
    interface: Option<(usize, f64)>,
    interface_ranks: Vec<usize>,
    boundary_voxels: usize,
}

impl ModelErrorState {
    /// What the state holds, as the report of [`with_model_error`].
    pub fn report(&self) -> ModelErrorReport {
        ModelErrorReport {
            refine: self.refine,
            richardson: self.richardson,
            discretisation_to_noise: self.discretisation_to_noise.clone(),
            interface: self.interface,
            interface_ranks: self.interface_ranks.clone(),
            boundary_voxels: self.boundary_voxels,
        }
    }
}

/// The wave likelihood of `data` for `forward` (made from `data`) with the model error taken at
/// region moduli `theta` (typically a first MAP): the data minus the discretisation error, and
/// the interface term, as `opts` asks. `noise` as for [`crate::WaveGaussian::new`].
/// [`model_error_state`] followed by [`likelihood_from_state`].
pub fn with_model_error(
    data: &Measurements,
    forward: &WaveForward,
    regions: &crate::param::Regions,
    theta: &[f64],
    noise: crate::likelihood::Noise,
    opts: &ModelErrorOptions,
) -> Result<(crate::likelihood::WaveGaussian, ModelErrorReport)> {
    let state = model_error_state(data, forward, regions, theta, noise.clone(), opts)?;
    likelihood_from_state(data, forward, noise, &state)
}

/// The solves of the approximation-error model at region moduli `theta` (see
/// [`with_model_error`]): the discretisation error on the refined grid and the interface term.
pub fn model_error_state(
    data: &Measurements,
    forward: &WaveForward,
    regions: &crate::param::Regions,
    theta: &[f64],
    noise: crate::likelihood::Noise,
    opts: &ModelErrorOptions,
) -> Result<ModelErrorState> {
    use crate::param::Parameterisation;
    let moduli = regions.moduli(theta);
    let error = opts.refine.map(|r| discretisation_error(data, forward, &moduli, r)).transpose()?;
    let Corrected { data, error, sigma, discretisation_to_noise } = corrected_data(data, forward, &moduli, error, noise)?;
    let (covariance, interface, interface_ranks, boundary_voxels) = match opts.interface_spread {
        Some(spread) if regions.len() > 1 => {
            let mask = &data.mask;
            let bytes = crate::interface::ModelErrorCovariance::memory_bytes(forward, regions, mask, true);
            let boundary = opts.boundary_noise && bytes <= BOUNDARY_NOISE_BUDGET_BYTES;
            if opts.boundary_noise && !boundary {
                tracing::info!(
                    bytes,
                    budget = BOUNDARY_NOISE_BUDGET_BYTES,
                    "boundary noise left out of the model error (dense factor too large)"
                );
            }
            let term =
                crate::interface::ModelErrorCovariance::at(forward, regions, theta, mask, forward.predicted(), &sigma, spread, boundary)?;
            let (n, ranks, nb) = (term.voxels(), term.ranks(), term.boundary_voxels());
            (Some(term.to_stored()), Some((n, spread)), ranks, nb)
        }
        _ => (None, None, Vec::new(), 0),
    };
    tracing::info!(refine = ?opts.refine, ?discretisation_to_noise, ?interface, ?interface_ranks, boundary_voxels, "approximation-error model");
    let discretisation = error.map(|e| store(&e));
    Ok(ModelErrorState {
        refine: opts.refine,
        richardson: false,
        discretisation,
        covariance,
        discretisation_to_noise,
        interface,
        interface_ranks,
        boundary_voxels,
    })
}

/// The data with the discretisation error subtracted, and what the model-error terms need there.
struct Corrected {
    data: Measurements,
    error: Option<Vec<Vec<ndarray::Array3<num_complex::Complex64>>>>,
    /// The noise level per frequency (known, or the RMS residual of the corrected data).
    sigma: Vec<f64>,
    /// RMS of the discretisation error over the noise level, per frequency.
    discretisation_to_noise: Vec<f64>,
}

/// `data` minus `error` (if any), the prediction of `forward` at `moduli`, the noise level per
/// frequency at that prediction, and the error's size relative to it.
fn corrected_data(
    data: &Measurements,
    forward: &dyn ForwardModel,
    moduli: &crate::forward::Moduli,
    error: Option<Vec<Vec<ndarray::Array3<num_complex::Complex64>>>>,
    noise: crate::likelihood::Noise,
) -> Result<Corrected> {
    let data = match &error {
        Some(e) => corrected(data, e),
        None => data.clone(),
    };
    let lik = crate::likelihood::WaveGaussian::new(&data, forward.predicted(), noise)?;
    let fields = (0..forward.n_frequencies()).map(|f| forward.predict(f, moduli)).collect::<Result<Vec<_>>>()?;
    let sigma = lik.noise_levels(&fields);
    let samples = lik.samples_per_frequency() as f64;
    let discretisation_to_noise = match &error {
        Some(e) => e
            .iter()
            .zip(&sigma)
            .map(|(e, s)| (e.iter().flat_map(|c| c.iter()).map(|v| v.norm_sqr()).sum::<f64>() / samples).sqrt() / s)
            .collect(),
        None => Vec::new(),
    };
    Ok(Corrected { data, error, sigma, discretisation_to_noise })
}

/// The approximation-error model of the Navier forward model `forward` (made from `data` with
/// the component letters `components`) at region moduli `theta` (`[log G'…, log G''…]`,
/// optionally followed by `log K` when the bulk modulus is a parameter): the discretisation
/// error from a `opts.refine` times finer Navier grid
/// ([`crate::refine::navier_discretisation_error`]) and the interface term
/// ([`crate::interface`]) with `∂u/∂G*_v` of every interface voxel linearised
/// ([`crate::navier::NavierForward::storage_sensitivities`]: one factorisation per frequency,
/// one solve per interface voxel; the prediction is holomorphic in `G*`, so the derivative
/// along G' is `∂u/∂G*`). The noise of the boundary values is not included (the
/// Navier model's prescribed faces take the mean of a boundary voxel and its inner neighbour,
/// whose noise is also in the data the likelihood compares with: not of the `I + BBᵀ` form).
/// With the iterative solver ([`crate::navier::NavierForward::is_iterative`]: 3-D grids above
/// [`mre_solver::wave::AUTO_NAVIER_DIRECT_MAX_VOXELS_3D`] voxels) the interface and
/// boundary-noise terms, a solve per voxel each, are left out.
pub fn navier_model_error_state(
    data: &Measurements,
    forward: &crate::navier::NavierForward,
    components: &str,
    regions: &crate::param::Regions,
    theta: &[f64],
    noise: crate::likelihood::Noise,
    opts: &ModelErrorOptions,
) -> Result<ModelErrorState> {
    use crate::param::Parameterisation;
    use rayon::prelude::*;
    let n = regions.len();
    let mut moduli = regions.moduli(&theta[..2 * n]);
    if let Some(log_k) = theta.get(2 * n) {
        moduli.bulk_modulus_pa = Some(log_k.exp());
    }
    let error = opts
        .refine
        .map(|r| crate::refine::navier_discretisation_error(data, forward, components, &moduli, r, opts.richardson))
        .transpose()?;
    let Corrected { data, error, sigma, discretisation_to_noise } = corrected_data(data, forward, &moduli, error, noise)?;
    let pairs = crate::interface::interface_voxels(regions, &data.mask);
    // One solve per interface voxel and per boundary voxel and component: with the iterative
    // solver (large 3-D grids) each is a preconditioned iteration, not a triangular solve with
    // a kept factorisation, and thousands of them are hours. Those terms are left out there.
    let iterative = forward.is_iterative();
    if iterative && (opts.boundary_noise || opts.interface_spread.is_some()) {
        tracing::info!(
            interface_voxels = pairs.len(),
            "interface and boundary-noise terms left out of the model error (one iterative solve per voxel on this grid)"
        );
    }
    let spread = opts.interface_spread.filter(|_| n > 1 && !pairs.is_empty() && !iterative);
    let weight = forward.predicted() & &data.mask;
    let rows: Vec<usize> = weight.iter().enumerate().filter(|(_, &w)| w).map(|(i, _)| i).collect();
    let nc = forward.n_components();
    let np = rows.len();
    let sources = forward.boundary_sources();
    let boundary = opts.boundary_noise && !iterative && {
        let bytes = navier_covariance_bytes(forward.n_frequencies(), np, nc, spread.map_or(0, |_| pairs.len()), &sources);
        let fits = bytes <= BOUNDARY_NOISE_BUDGET_BYTES;
        if !fits {
            tracing::info!(
                bytes,
                budget = BOUNDARY_NOISE_BUDGET_BYTES,
                "boundary noise left out of the model error (dense factor too large)"
            );
        }
        fits
    };
    let interface_columns = match spread {
        Some(spread) => {
            let g = |r: usize| num_complex::Complex64::new(theta[r].exp(), theta[n + r].exp());
            let index = regions.index().as_slice().expect("standard layout").to_vec();
            let voxels: Vec<usize> = pairs.iter().map(|&(v, _)| v).collect();
            (0..forward.n_frequencies())
                .into_par_iter()
                .map(|f| {
                    let du = forward.storage_sensitivities(f, &moduli, &voxels)?;
                    Ok(du
                        .iter()
                        .zip(&pairs)
                        .map(|(du, &(v, other))| {
                            let scale = std::f64::consts::SQRT_2 * spread / sigma[f] * (g(other) - g(index[v]));
                            let mut col = vec![0.0; 2 * np * nc];
                            for (c, du) in du.iter().enumerate() {
                                let du = du.as_slice().expect("standard layout");
                                for (p, &i) in rows.iter().enumerate() {
                                    let k = du[i] * scale;
                                    col[2 * np * c + p] = k.re;
                                    col[2 * np * c + np + p] = k.im;
                                }
                            }
                            col
                        })
                        .collect())
                })
                .collect::<Result<Vec<_>>>()?
        }
        None => vec![Vec::new(); forward.n_frequencies()],
    };
    let (covariance, interface, interface_ranks, boundary_voxels) = if spread.is_none() && !boundary {
        (None, None, Vec::new(), 0)
    } else {
        let source_voxels: Vec<usize> = if boundary { sources.iter().map(|&(v, _)| v).collect() } else { Vec::new() };
        let per_frequency = (0..forward.n_frequencies())
            .into_par_iter()
            .map(|f| {
                let t = if boundary { forward.boundary_response(f, &moduli, &source_voxels, &rows)? } else { Vec::new() };
                Ok(navier_covariance_columns(&interface_columns[f], &t, &sources, &rows, nc))
            })
            .collect::<Result<Vec<_>>>()?;
        let term = crate::interface::ModelErrorCovariance::from_signed_columns(
            spread.unwrap_or(0.0),
            spread.map_or(0, |_| pairs.len()),
            source_voxels.len(),
            &per_frequency,
        )?;
        let ranks = term.ranks();
        (Some(term.to_stored()), spread.map(|s| (pairs.len(), s)), ranks, source_voxels.len())
    };
    tracing::info!(refine = ?opts.refine, ?discretisation_to_noise, ?interface, ?interface_ranks, boundary_voxels, "approximation-error model (Navier)");
    Ok(ModelErrorState {
        refine: opts.refine,
        richardson: opts.richardson && opts.refine.is_some(),
        discretisation: error.map(|e| store(&e)),
        covariance,
        discretisation_to_noise,
        interface,
        interface_ranks,
        boundary_voxels,
    })
}

/// Bytes of the dense columns of the Navier model-error covariance (all frequencies) and of
/// one Gram matrix: `2 np nc` rows, one column per interface voxel and, per component, two per
/// source voxel and two more per predicted source voxel.
fn navier_covariance_bytes(frequencies: usize, np: usize, nc: usize, interface: usize, sources: &[(usize, bool)]) -> usize {
    let predicted = sources.iter().filter(|(_, p)| *p).count();
    let cols = interface + 2 * nc * (sources.len() + predicted);
    (frequencies * 2 * np * nc * cols + cols * cols) * std::mem::size_of::<f64>()
}

/// `U` and `C` of the Navier model-error covariance `σ²/2 (I + UCUᵀ)` of one frequency (real
/// form: rows `[Re; Im]` of the `rows` of every component in turn): the interface columns
/// (already scaled, `C = I`) and the noise of the boundary values. The residual's noise is
/// `n_P − T n_S` (`T = t`: the prediction's response to the measured value of every source
/// voxel and component, [`crate::navier::NavierForward::boundary_response`]); a source voxel
/// `s` that is predicted contributes to both, so for each of its real noise variables (real and
/// imaginary part, per component) the residual moves along `e − a` (`e`: its own row, `a`: the
/// real form of `T`'s column, `[Re t; Im t]` for the real part, `[−Im t; Re t]` for the
/// imaginary part) instead of `e`: the covariance gains `aaᵀ − eaᵀ − aeᵀ`, i.e. columns `a` and
/// `e` with `C = [[1, −1], [−1, 0]]`; a source voxel that is not predicted adds `aaᵀ`.
fn navier_covariance_columns(
    interface: &[Vec<f64>],
    t: &[Vec<num_complex::Complex64>],
    sources: &[(usize, bool)],
    rows: &[usize],
    nc: usize,
) -> (faer::Mat<f64>, faer::Mat<f64>) {
    let np = rows.len();
    let nrows = 2 * np * nc;
    let row_of: std::collections::HashMap<usize, usize> = rows.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    // Each source voxel's predicted row, if it has one (and the boundary noise is included).
    let own: Vec<Option<usize>> =
        sources.iter().map(|&(v, predicted)| if predicted && !t.is_empty() { row_of.get(&v).copied() } else { None }).collect();
    let per_component: usize = if t.is_empty() { 0 } else { own.iter().map(|p| 2 * (1 + usize::from(p.is_some()))).sum() };
    let m = interface.len() + nc * per_component;
    let mut u = faer::Mat::<f64>::zeros(nrows, m);
    let mut c = faer::Mat::<f64>::identity(m, m);
    for (j, col) in interface.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            u[(i, j)] = v;
        }
    }
    let mut j = interface.len();
    if !t.is_empty() {
        for (s, p) in own.iter().enumerate() {
            for comp in 0..nc {
                let col = &t[s * nc + comp];
                // The real part's column `a_x` and then the imaginary part's `a_y` (see above).
                for (offset, rotate) in [(0, false), (np, true)] {
                    for c2 in 0..nc {
                        for q in 0..np {
                            let z = col[c2 * np + q];
                            let z = if rotate { num_complex::Complex64::new(-z.im, z.re) } else { z };
                            u[(2 * np * c2 + q, j)] = z.re;
                            u[(2 * np * c2 + np + q, j)] = z.im;
                        }
                    }
                    if let Some(p) = p {
                        // Its own noise variable `e`, paired with `a` by `C = [[1, −1], [−1, 0]]`.
                        u[(2 * np * comp + offset + p, j + 1)] = 1.0;
                        c[(j + 1, j + 1)] = 0.0;
                        c[(j, j + 1)] = -1.0;
                        c[(j + 1, j)] = -1.0;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
            }
        }
    }
    debug_assert_eq!(j, m);
    (u, c)
}

/// The discretisation error `[f][c]` as stored arrays.
fn store(e: &[Vec<ndarray::Array3<num_complex::Complex64>>]) -> Vec<Vec<StoredArray>> {
    e.iter()
        .map(|per_c| {
            per_c
                .iter()
                .map(|a| {
                    let sh = a.shape();
                    ([sh[0], sh[1], sh[2]], a.iter().flat_map(|v| [v.re, v.im]).collect())
                })
                .collect()
        })
        .collect()
}

/// The likelihood of [`with_model_error`] from its `state` (computed for the same `data`,
/// `forward` and `noise`), without a solve.
///
/// # Errors
///
/// A state whose arrays do not match the data (a damaged or foreign checkpoint).
pub fn likelihood_from_state(
    data: &Measurements,
    forward: &dyn ForwardModel,
    noise: crate::likelihood::Noise,
    state: &ModelErrorState,
) -> Result<(crate::likelihood::WaveGaussian, ModelErrorReport)> {
    let data = match &state.discretisation {
        Some(e) => {
            let error = e
                .iter()
                .map(|per_c| {
                    per_c
                        .iter()
                        .map(|(sh, v)| {
                            let values: Vec<num_complex::Complex64> =
                                v.chunks_exact(2).map(|p| num_complex::Complex64::new(p[0], p[1])).collect();
                            ndarray::Array3::from_shape_vec(*sh, values).map_err(|e| {
                                crate::error::InverseError::invalid("stored discretisation error", format!("shape {sh:?}"), e.to_string())
                            })
                        })
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()?;
            let shape_ok = error.len() == data.wave.shape()[0]
                && error.iter().all(|per_c| per_c.len() == data.wave.shape()[1] && per_c.iter().all(|a| a.shape() == data.mask.shape()));
            if !shape_ok {
                return Err(crate::error::InverseError::invalid(
                    "stored discretisation error",
                    "other shapes",
                    "the data's frequencies, components and grid",
                ));
            }
            corrected(data, &error)
        }
        None => data.clone(),
    };
    let lik = crate::likelihood::WaveGaussian::new(&data, forward.predicted(), noise)?;
    let lik = match &state.covariance {
        Some(c) => lik.with_model_error_covariance(std::sync::Arc::new(crate::interface::ModelErrorCovariance::from_stored(c)?))?,
        None => lik,
    };
    Ok((lik, state.report()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::likelihood::Noise;
    use crate::{IndependentNormal, LogDensity, Posterior};

    #[test]
    fn a_stored_state_rebuilds_the_likelihood_bit_for_bit() {
        let spec = crate::synthetic::BesselInclusion {
            n: 24,
            voxel_m: 2e-3,
            frequencies_hz: vec![60.0],
            radius_m: 0.01,
            snr: Some(30.0),
            ..Default::default()
        };
        let (m, labels, _) = spec.generate().unwrap();
        let forward = WaveForward::new(&m).unwrap();
        let regions = crate::param::Regions::new(&labels, &m.mask).unwrap();
        let theta = [3000f64.ln(), 6000f64.ln(), 600f64.ln(), 1200f64.ln()];
        let opts = ModelErrorOptions::default();
        let state = model_error_state(&m, &forward, &regions, &theta, Noise::Inferred, &opts).unwrap();
        let mut bytes = Vec::new();
        ciborium::into_writer(&state, &mut bytes).unwrap();
        let back: ModelErrorState = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, state);
        let (fresh, report) = with_model_error(&m, &forward, &regions, &theta, Noise::Inferred, &opts).unwrap();
        let (loaded, loaded_report) = likelihood_from_state(&m, &forward, Noise::Inferred, &back).unwrap();
        assert_eq!(report, loaded_report);
        assert!(report.interface.is_some() && report.refine == Some(3), "{report:?}");
        let prior = IndependentNormal::log_moduli(regions.len(), 3000.0, 1000.0, 2.0).unwrap();
        let x = [8.1, 8.6, 6.3, 7.0];
        let logp = |lik: &crate::likelihood::WaveGaussian| {
            let mut g = vec![0.0; 4];
            let v = Posterior::new(&forward, &regions, &prior, lik).logp_grad(&x, &mut g).unwrap();
            (v.to_bits(), g.iter().map(|g| g.to_bits()).collect::<Vec<_>>())
        };
        assert_eq!(logp(&fresh), logp(&loaded));
    }
}
