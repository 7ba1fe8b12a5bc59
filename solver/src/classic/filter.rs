//! Spatial low-pass filtering of complex wave fields (FFT, rustfft).

use std::f64::consts::PI;

use ndarray::Array3;
use num_complex::Complex64;
use rayon::prelude::*;
use rustfft::FftPlanner;

use crate::error::{Result, SolverError};

/// Spatial filter of complex wave fields, applied in k-space along every axis longer than one
/// voxel (isotropic in physical units).
///
/// Recommended default: `Gaussian { sigma_m: 2 voxels }` (for the usual ≥ 15 voxels per shear
/// wavelength, σ ≈ λ/15). On the analytic inclusion at SNR 30 (1 mm voxels, λ = 29 mm in the
/// background) it gave the storage modulus within 2 % in the background and 3 % in the inclusion
/// with AHI and MDEV, and without noise it introduces no bias (a radially symmetric kernel maps a
/// Helmholtz solution to a Helmholtz solution away from interfaces). The Butterworth alternative:
/// order 4 with `cutoff_per_m ≈ 3/λ_min`; its sharper cut-off rings at interfaces (a few %
/// in G' and ~20 % in G'' inside a small inclusion even without noise). Stronger filtering lowers
/// the noise of the Laplacian (∝ σ⁻³ in 2-D) but blurs interfaces over ~2σ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Filter {
    /// No filtering.
    None,
    /// Gaussian kernel of standard deviation `sigma_m` (m): transfer `exp(−σ²|k|²/2)`.
    Gaussian {
        /// Standard deviation of the kernel, m.
        sigma_m: f64,
    },
    /// Butterworth low-pass: amplitude transfer `1/√(1 + (|f|/f_c)^{2n})`.
    Butterworth {
        /// Cut-off spatial frequency `f_c`, cycles per metre (1/m).
        cutoff_per_m: f64,
        /// Order `n ≥ 1`.
        order: u32,
    },
}

impl Filter {
    /// The recommended default: a Gaussian of σ = 2 voxels, `voxel_size_m` being the in-plane
    /// voxel size (m).
    pub fn recommended(voxel_size_m: f64) -> Self {
        Filter::Gaussian { sigma_m: 2.0 * voxel_size_m }
    }

    /// Check the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Filter::None => Ok(()),
            Filter::Gaussian { sigma_m } => super::check_positive("sigma_m", sigma_m, "m"),
            Filter::Butterworth { cutoff_per_m, order } => {
                super::check_positive("cutoff_per_m", cutoff_per_m, "1/m")?;
                if order == 0 {
                    return Err(SolverError::invalid("order", order, "a Butterworth order ≥ 1"));
                }
                Ok(())
            }
        }
    }

    /// Transfer function at spatial frequency `|f|` (cycles/m).
    fn transfer(&self, f: f64) -> f64 {
        match *self {
            Filter::None => 1.0,
            Filter::Gaussian { sigma_m } => (-0.5 * (2.0 * PI * f * sigma_m).powi(2)).exp(),
            Filter::Butterworth { cutoff_per_m, order } => 1.0 / (1.0 + (f / cutoff_per_m).powi(2 * order as i32)).sqrt(),
        }
    }
}

/// Filter the complex field `u` (`[nz, ny, nx]`, any unit) with voxel size `[dz, dy, dx]` (m).
///
/// Every axis longer than one voxel is extended by its mirror image (even symmetric extension,
/// so the periodic FFT sees no jump at the edges), transformed, multiplied by the transfer
/// function of `|f|`, transformed back and cropped.
///
/// # Errors
/// Invalid filter parameters, non-positive voxel sizes, or NaN/∞ in `u`.
pub fn filter_wave(u: &Array3<Complex64>, voxel_size_m: [f64; 3], f: &Filter) -> Result<Array3<Complex64>> {
    f.validate()?;
    super::check_voxel_size(voxel_size_m)?;
    if let Some(bad) = u.iter().find(|v| !(v.re.is_finite() && v.im.is_finite())) {
        return Err(SolverError::invalid("u (wave)", bad, "finite complex values"));
    }
    if *f == Filter::None {
        return Ok(u.clone());
    }
    let sh = [u.shape()[0], u.shape()[1], u.shape()[2]];
    let padded = sh.map(|n| if n > 1 { 2 * n } else { 1 });
    let mirror = |i: usize, n: usize| if i < n { i } else { 2 * n - 1 - i };
    let mut a =
        Array3::from_shape_fn((padded[0], padded[1], padded[2]), |(i, j, k)| u[[mirror(i, sh[0]), mirror(j, sh[1]), mirror(k, sh[2])]]);
    let mut planner = FftPlanner::<f64>::new();
    a = transform(a, &mut planner, false);
    // Frequencies per axis, cycles/m.
    let freq = |a: usize, i: usize| {
        let p = padded[a];
        let s = if i <= p / 2 { i as f64 } else { i as f64 - p as f64 };
        s / (p as f64 * voxel_size_m[a])
    };
    let norm = 1.0 / (padded.iter().product::<usize>() as f64);
    for ((i, j, k), v) in a.indexed_iter_mut() {
        let fz = if padded[0] > 1 { freq(0, i) } else { 0.0 };
        let fy = if padded[1] > 1 { freq(1, j) } else { 0.0 };
        let fx = if padded[2] > 1 { freq(2, k) } else { 0.0 };
        *v *= f.transfer((fz * fz + fy * fy + fx * fx).sqrt()) * norm;
    }
    let a = transform(a, &mut planner, true);
    Ok(a.slice(ndarray::s![..sh[0], ..sh[1], ..sh[2]]).to_owned())
}

/// FFT (or inverse, unnormalised) along every axis longer than one. Lanes are transformed in
/// parallel (rayon); each lane is computed by the same code whatever the thread count.
fn transform(a: Array3<Complex64>, planner: &mut FftPlanner<f64>, inverse: bool) -> Array3<Complex64> {
    let mut a = a;
    for ax in 0..3 {
        let n = a.shape()[ax];
        if n < 2 {
            continue;
        }
        let fft = if inverse { planner.plan_fft_inverse(n) } else { planner.plan_fft_forward(n) };
        // Make the axis the last (contiguous) one, transform the lanes, put it back.
        let perm = match ax {
            0 => [1, 2, 0],
            1 => [0, 2, 1],
            _ => [0, 1, 2],
        };
        let mut b = a.permuted_axes(perm).as_standard_layout().into_owned();
        let lanes_per_task = (4096 / n).max(1);
        b.as_slice_mut().expect("standard layout").par_chunks_mut(n * lanes_per_task).for_each(|chunk| fft.process(chunk));
        let inv = match ax {
            0 => [2, 0, 1],
            1 => [0, 2, 1],
            _ => [0, 1, 2],
        };
        a = b.permuted_axes(inv);
    }
    a.as_standard_layout().into_owned()
}
