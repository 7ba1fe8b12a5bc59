//! Classic MRE reconstruction: phase unwrapping, wave extraction, filtering and the
//! direct inversions AHI and MDEV.
//!
//! Conventions as in the rest of the crate: time dependence `e^{iωt}`, arrays
//! `[nz, ny, nx]` (an axis of length 1 has no derivative, so 2-D data is `nz = 1`), SI units.
//!
//! Pipeline: wrapped phase images `[noffsets, nz, ny, nx]` →
//! [`wave_from_phase`] (Laplacian unwrapping per offset, temporal first harmonic, division by
//! the motion-encoding efficiency) → complex displacement (m) → [`filter_wave_masked`] (or
//! [`filter_wave`] on the whole grid) → [`ahi`] or [`mdev`] → [`Elastogram`].

mod auto;
mod curl;
mod filter;
mod inversion;
mod laplacian;
mod phase;

pub use crate::recon::unwrap::{laplacian_phase, laplacian_unwrap};
pub use auto::{choose_filter, laplacian_noise_gain, FilterChoice, MAX_SIGMA_WAVELENGTHS, MIN_SIGMA_VOXELS, TARGET_BIAS};
pub use curl::{curl, curl_axes, Curl, MIN_DIFF_VOXELS};
pub use filter::{filter_wave, filter_wave_masked, filter_waves_masked, Filter};
pub(crate) use inversion::ahi_modulus;
#[cfg(feature = "bench")]
pub use inversion::bench_mdev;
pub use inversion::{ahi, mdev};
pub use phase::wave_from_phase;

use ndarray::Array3;

use crate::error::{Result, SolverError};

/// Stiffness maps of one inversion (NaN outside the mask / where undefined), Pa and rad.
#[derive(Debug, Clone)]
pub struct Elastogram {
    /// Storage modulus G', Pa.
    pub storage_modulus_pa: Array3<f64>,
    /// Loss modulus G'', Pa.
    pub loss_modulus_pa: Array3<f64>,
    /// Magnitude |G*|, Pa.
    pub abs_modulus_pa: Array3<f64>,
    /// Phase angle φ = arg G* (rad, in [0, π] for a dissipative medium).
    pub phase_angle_rad: Array3<f64>,
}

impl Elastogram {
    /// All-NaN maps of the given shape.
    pub(crate) fn nan(shape: (usize, usize, usize)) -> Self {
        let nan = Array3::from_elem(shape, f64::NAN);
        Self { storage_modulus_pa: nan.clone(), loss_modulus_pa: nan.clone(), abs_modulus_pa: nan.clone(), phase_angle_rad: nan }
    }
}

/// `value` must be positive and finite.
pub(crate) fn check_positive(name: &str, value: f64, unit: &str) -> Result<()> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(SolverError::invalid(name, value, format!("a positive finite value in {unit}")))
    }
}

/// Voxel sizes `[dz, dy, dx]` must be positive and finite.
pub(crate) fn check_voxel_size(voxel_size_m: [f64; 3]) -> Result<()> {
    if voxel_size_m.iter().all(|&h| h > 0.0 && h.is_finite()) {
        Ok(())
    } else {
        Err(SolverError::invalid("voxel_size_m", format!("{voxel_size_m:?}"), "positive finite sizes [dz, dy, dx] in m"))
    }
}
