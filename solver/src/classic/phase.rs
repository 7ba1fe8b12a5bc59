//! Laplacian phase unwrapping and extraction of the complex wave from phase images.

use std::f64::consts::PI;

use ndarray::{Array3, ArrayView4, Axis, Zip};
use num_complex::Complex64;
use rayon::prelude::*;

use crate::error::{Result, SolverError};
use crate::recon::harmonic::first_harmonic;
use crate::recon::unwrap::{masked_laplacian, Dct3d};

/// Laplacian phase unwrapping (Schofield & Zhu 2003) of a wrapped phase `phase` (rad,
/// `[nz, ny, nx]`, 2-D or 3-D).
///
/// The Laplacian of the true phase is computed from the wrapped one as
/// `∇²φ = Im(e^{−iφ} ∇² e^{iφ})`, in its exact discrete form: the 7-point (5-point in 2-D)
/// Laplacian with every neighbour difference taken as `arg(e^{−iφ_i} e^{iφ_j}) = W(φ_j − φ_i)`
/// (the `Im(…)` expression is its small-difference limit `sin(φ_j − φ_i)`). The Poisson equation
/// is then solved with Neumann boundaries by the DCT (rustdct), which gives the true phase up to
/// a constant wherever neighbouring true differences stay below π. Finally every voxel is snapped
/// to the nearest `φ + 2πn` (after the best constant shift), and the global `2π` multiple is
/// chosen to bring the mean into (−π, π]: the result is then exactly the true phase up to one
/// multiple of 2π. NaN in the input gives an unusable result (the caller checks).
pub fn laplacian_unwrap(phase: &Array3<f64>) -> Array3<f64> {
    let psi = laplacian_phase(phase);
    // Best constant shift: circular mean of φ − ψ.
    let (s, c) = Zip::from(phase).and(&psi).fold((0.0, 0.0), |(s, c), &p, &q| (s + (p - q).sin(), c + (p - q).cos()));
    let shift = s.atan2(c);
    let mut out = phase.as_standard_layout().into_owned();
    Zip::from(&mut out).and(&psi).for_each(|o, &q| *o += 2.0 * PI * ((q + shift - *o) / (2.0 * PI)).round());
    let n = out.len().max(1) as f64;
    let turns = (out.sum() / n / (2.0 * PI)).round();
    if turns != 0.0 {
        out.mapv_inplace(|v| v - 2.0 * PI * turns);
    }
    out
}

/// The Poisson step of [`laplacian_unwrap`] alone: the solution ψ (rad, zero mean) of
/// `∇²ψ = Im(e^{−iφ} ∇² e^{iφ})` with Neumann boundaries, before snapping to `φ + 2πn`.
/// Equal to the true phase up to a constant where neighbouring true differences stay below π;
/// a smooth, least-squares estimate elsewhere (noise, undersampled wraps).
pub fn laplacian_phase(phase: &Array3<f64>) -> Array3<f64> {
    let phase = phase.as_standard_layout().into_owned();
    let sh = phase.shape();
    let mask = Array3::from_elem(phase.raw_dim(), true);
    // Graph Laplacian L = −∇² (positive semi-definite), applied with wrapped differences.
    let rhs = masked_laplacian(&phase, &mask, true);
    Dct3d::new([sh[0], sh[1], sh[2]]).solve(&rhs)
}

/// Complex displacement `U` (m, `[nz, ny, nx]`) from wrapped phase images `phase`
/// (rad, `[noffsets, nz, ny, nx]`, offsets `θ_k = 2πk/N` equally spaced over one period, N ≥ 3).
///
/// With `unwrap`, every offset is unwrapped by [`laplacian_unwrap`] (in parallel). The first
/// temporal harmonic `A = (2/N) Σ_k φ_k e^{−iθ_k}` is then divided by the complex encoding
/// efficiency `encoding = ξ` (rad/m: the first harmonic of the phase per metre of displacement),
/// so `φ_k = Re(ξ U e^{iθ_k})` gives back `U`. A static phase (the same at every offset) drops
/// out of the first harmonic.
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
    let images: Vec<Array3<f64>> = (0..noff)
        .into_par_iter()
        .map(|k| {
            let img = phase.index_axis(Axis(0), k).to_owned();
            if unwrap {
                laplacian_unwrap(&img)
            } else {
                img
            }
        })
        .collect();
    let mut samples = vec![0.0; noff];
    let u = Array3::from_shape_fn((nz, ny, nx), |idx| {
        for (s, img) in samples.iter_mut().zip(&images) {
            *s = img[idx];
        }
        first_harmonic(&samples) / encoding
    });
    Ok(u)
}
