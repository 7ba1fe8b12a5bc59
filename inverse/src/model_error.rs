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
}

/// The largest dense covariance factor (bytes, all frequencies) [`with_model_error`] builds to
/// include the boundary noise; every likelihood evaluation reads it about twice.
pub const BOUNDARY_NOISE_BUDGET_BYTES: usize = 256 << 20;

impl Default for ModelErrorOptions {
    /// Both terms: refinement 3, spread `1/√12`.
    fn default() -> Self {
        Self { refine: Some(3), interface_spread: Some(crate::interface::DEFAULT_SPREAD), boundary_noise: true }
    }
}

/// What [`with_model_error`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelErrorReport {
    /// Refinement factor used, if any.
    pub refine: Option<usize>,
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
    let (data, error) = match opts.refine {
        Some(r) => {
            let e = discretisation_error(data, forward, &moduli, r)?;
            (corrected(data, &e), Some(e))
        }
        None => (data.clone(), None),
    };
    let lik = crate::likelihood::WaveGaussian::new(&data, forward.predicted(), noise)?;
    let fields = (0..forward.n_frequencies()).map(|f| forward.predict(f, &moduli)).collect::<Result<Vec<_>>>()?;
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
    let discretisation = error.map(|e| {
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
    });
    Ok(ModelErrorState {
        refine: opts.refine,
        discretisation,
        covariance,
        discretisation_to_noise,
        interface,
        interface_ranks,
        boundary_voxels,
    })
}

/// The likelihood of [`with_model_error`] from its `state` (computed for the same `data`,
/// `forward` and `noise`), without a solve.
///
/// # Errors
///
/// A state whose arrays do not match the data (a damaged or foreign checkpoint).
pub fn likelihood_from_state(
    data: &Measurements,
    forward: &WaveForward,
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
