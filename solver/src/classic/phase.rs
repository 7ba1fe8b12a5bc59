//! Extraction of the complex wave from phase images (through [`crate::recon::pipeline`]).

use ndarray::{Array3, ArrayView4, Axis};
use num_complex::Complex64;

use crate::error::{Result, SolverError};
use crate::recon::harmonic::first_harmonic;
use crate::recon::pipeline::{harmonic_in_mask, unwrap_offsets, Unwrap};

/// Complex displacement `U` (m, `[nz, ny, nx]`) from wrapped phase images `phase`
/// (rad, `[noffsets, nz, ny, nx]`, offsets `θ_k = 2πk/N` equally spaced over one period, N ≥ 3).
///
/// With `unwrap`, every offset is unwrapped by [`laplacian_unwrap`](crate::recon::laplacian_unwrap)
/// (in parallel). The first temporal harmonic `A = (2/N) Σ_k φ_k e^{−iθ_k}` is then divided by
/// the complex encoding efficiency `encoding = ξ` (rad/m: the first harmonic of the phase per
/// metre of displacement), so `φ_k = Re(ξ U e^{iθ_k})` gives back `U`. A static phase (the same
/// at every offset) drops out of the first harmonic. This is
/// [`phase_to_wave`](crate::recon::phase_to_wave) with [`Unwrap::Laplacian`] for one frequency
/// and component on the whole grid (no mask), with its input checked.
///
/// Limitation: the spatial unwrapping fixes each offset only up to a multiple of 2π, chosen so
/// that the mean of the offset's phase over the grid is in (−π, π]; a wave whose phase has a
/// larger grid mean at some offset gets a constant complex error.
///
/// # Errors
/// Fewer than 3 offsets, an empty grid, a zero or non-finite `encoding`, or NaN/∞ in `phase`
/// (the message names the offset).
pub fn wave_from_phase(phase: ArrayView4<f64>, encoding: Complex64, unwrap: bool) -> Result<Array3<Complex64>> {
    let sh = phase.shape();
    let (noff, nz, ny, nx) = (sh[0], sh[1], sh[2], sh[3]);
    if noff < 3 {
        return Err(SolverError::Shape(format!("phase has {noff} offsets, need at least 3 ([noffsets, nz, ny, nx])")));
    }
    if nz * ny * nx == 0 {
        return Err(SolverError::Shape(format!("phase has an empty grid {:?}", &sh[1..])));
    }
    if !(encoding.norm() > 0.0 && encoding.re.is_finite() && encoding.im.is_finite()) {
        return Err(SolverError::invalid("encoding_rad_per_m", encoding, "a non-zero finite complex encoding efficiency"));
    }
    for (k, img) in phase.axis_iter(Axis(0)).enumerate() {
        if let Some(bad) = img.iter().find(|v| !v.is_finite()) {
            return Err(SolverError::invalid(format!("phase[offset {k}]"), bad, "finite phase values (rad)"));
        }
    }
    let whole = Array3::from_elem((nz, ny, nx), true);
    let images = phase.axis_iter(Axis(0)).map(|img| img.to_owned()).collect();
    let images = unwrap_offsets(images, &whole, unwrap.then_some(Unwrap::Laplacian));
    let mut u = Array3::zeros((nz, ny, nx));
    harmonic_in_mask(&images, &whole, u.view_mut(), |samples| first_harmonic(samples) / encoding);
    Ok(u)
}
