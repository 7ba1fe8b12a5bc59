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

/// The wave likelihood of `data` for `forward` (made from `data`) with the model error taken at
/// region moduli `theta` (typically a first MAP): the data minus the discretisation error, and
/// the interface term, as `opts` asks. `noise` as for [`crate::WaveGaussian::new`].
pub fn with_model_error(
    data: &Measurements,
    forward: &WaveForward,
    regions: &crate::param::Regions,
    theta: &[f64],
    noise: crate::likelihood::Noise,
    opts: &ModelErrorOptions,
) -> Result<(crate::likelihood::WaveGaussian, ModelErrorReport)> {
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
    let (lik, interface, interface_ranks, boundary_voxels) = match opts.interface_spread {
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
            (lik.with_model_error_covariance(std::sync::Arc::new(term))?, Some((n, spread)), ranks, nb)
        }
        _ => (lik, None, Vec::new(), 0),
    };
    tracing::info!(refine = ?opts.refine, ?discretisation_to_noise, ?interface, ?interface_ranks, boundary_voxels, "approximation-error model");
    Ok((lik, ModelErrorReport { refine: opts.refine, discretisation_to_noise, interface, interface_ranks, boundary_voxels }))
}
