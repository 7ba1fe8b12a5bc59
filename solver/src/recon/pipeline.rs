//! The one path from k-space and wrapped phase to the complex wave field, shared by the
//! simulator ([`crate::simulate::simulate_with`]), [`crate::classic::wave_from_phase`] and the `invert` command:
//!
//! k-space `[nf, ncomp, noffsets, ncoils, nz, ny, nx]` → [`kspace_to_images`] → complex images
//! `[nf, ncomp, noffsets, nz, ny, nx]` → their phase (rad) → [`phase_to_wave`]: every offset
//! unwrapped ([`unwrap_offsets`], [`Unwrap`]), then per masked voxel the temporal first harmonic
//! divided by the encoding efficiency ξ ([`harmonic_in_mask`]) → displacement `[nf, ncomp, nz,
//! ny, nx]` (m, zero outside the mask).

use ndarray::{s, Array3, Array5, Array6, ArrayD, ArrayViewMut3, Zip};
use num_complex::Complex64;
use rayon::prelude::*;

use super::fft::centred_ifft;
use super::harmonic::first_harmonic;
use super::unwrap::{laplacian_unwrap, unwrap_least_squares};
use crate::error::{Result, SolverError};

/// Spatial phase unwrapping of one offset image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwrap {
    /// Laplacian-based on the whole grid, mask ignored (`∇²φ = Im(e^{−iφ}∇²e^{iφ})`, DCT Poisson
    /// solve; [`laplacian_unwrap`]). Exact up to one 2π multiple where neighbouring true phase
    /// differences stay below π everywhere on the grid.
    Laplacian,
    /// Weighted least squares inside the mask only (DCT-preconditioned conjugate gradients;
    /// [`unwrap_least_squares`]); voxels outside keep their value. For data with noise or wraps
    /// outside the tissue.
    Masked,
}

impl Unwrap {
    /// Unwrap the wrapped phase `phase` (rad, `[nz, ny, nx]`); `mask` (same shape) is used by
    /// [`Unwrap::Masked`] only.
    pub fn apply(self, phase: &Array3<f64>, mask: &Array3<bool>) -> Array3<f64> {
        match self {
            Unwrap::Laplacian => laplacian_unwrap(phase),
            Unwrap::Masked => unwrap_least_squares(phase, mask),
        }
    }
}

/// Unwrap every offset image of `images` (rad, each `[nz, ny, nx]`) with `unwrap`, in parallel
/// (rayon; each image is computed by the same sequential code whatever the thread count);
/// `None` returns them unchanged.
pub fn unwrap_offsets(images: Vec<Array3<f64>>, mask: &Array3<bool>, unwrap: Option<Unwrap>) -> Vec<Array3<f64>> {
    match unwrap {
        None => images,
        Some(u) => images.into_par_iter().map(|p| u.apply(&p, mask)).collect(),
    }
}

/// Write `estimate(samples)` into `out` at every voxel of `mask`, `samples` being the values of
/// the offset images `offsets` (one `[nz, ny, nx]` image per phase offset, in offset order) at
/// that voxel. Voxels outside the mask are left as they are.
///
/// `estimate` is the temporal model: `first_harmonic(s) / ξ` for equally spaced offsets (as in
/// [`phase_to_wave`]), or [`super::HarmonicFit::fit`] for offsets from the sequence's timing.
///
/// # Panics
/// When `mask`, `out` and the images differ in shape.
pub fn harmonic_in_mask(
    offsets: &[Array3<f64>],
    mask: &Array3<bool>,
    mut out: ArrayViewMut3<Complex64>,
    estimate: impl Fn(&[f64]) -> Complex64,
) {
    let mut samples = vec![0.0; offsets.len()];
    for (idx, w) in out.indexed_iter_mut() {
        if !mask[idx] {
            continue;
        }
        for (sample, u) in samples.iter_mut().zip(offsets) {
            *sample = u[idx];
        }
        *w = estimate(&samples);
    }
}

/// Complex displacement `[nf, ncomp, nz, ny, nx]` (m) from wrapped phase images `phase`
/// (rad, `[nf, ncomp, noffsets, nz, ny, nx]`, offsets `θ_k = 2πk/N` equally spaced over one
/// period, N ≥ 3) and the complex encoding efficiency per frequency `xi` (rad/m: first
/// harmonic of the phase per metre of displacement).
///
/// Per frequency and component every offset is unwrapped by `unwrap` (in parallel), then at
/// every voxel of `mask` the first harmonic over the offsets ([`first_harmonic`]) is divided by
/// `xi[f]`; voxels outside the mask are zero. A static phase (the same at every offset) drops
/// out.
///
/// # Errors
/// `mask` not of the spatial shape of `phase`, `xi` not of length nf, or a zero or non-finite
/// `xi`.
pub fn phase_to_wave(phase: &Array6<f64>, mask: &Array3<bool>, xi: &[Complex64], unwrap: Unwrap) -> Result<Array5<Complex64>> {
    let (nf, nc, noff, nz, ny, nx) = phase.dim();
    if mask.dim() != (nz, ny, nx) {
        return Err(SolverError::Shape(format!("mask {:?} differs from the phase grid {:?}", mask.shape(), [nz, ny, nx])));
    }
    if xi.len() != nf {
        return Err(SolverError::Shape(format!("{} encoding efficiencies for {nf} frequencies", xi.len())));
    }
    if let Some(bad) = xi.iter().find(|x| !(x.norm() > 0.0 && x.re.is_finite() && x.im.is_finite())) {
        return Err(SolverError::invalid("encoding_rad_per_m", bad, "a non-zero finite complex encoding efficiency per frequency"));
    }
    let mut wave = Array5::zeros((nf, nc, nz, ny, nx));
    for (f, &xi_f) in xi.iter().enumerate() {
        for c in 0..nc {
            let images = (0..noff).map(|k| phase.slice(s![f, c, k, .., .., ..]).to_owned()).collect();
            let unwrapped = unwrap_offsets(images, mask, Some(unwrap));
            harmonic_in_mask(&unwrapped, mask, wave.slice_mut(s![f, c, .., .., ..]), |samples| first_harmonic(samples) / xi_f);
        }
    }
    Ok(wave)
}

/// `c̄/|c|` (0 for `c = 0`): the phase conjugate of a reference image voxel.
fn unit_conj(c: &Complex64) -> Complex64 {
    if c.norm() > 0.0 {
        c.conj() / c.norm()
    } else {
        Complex64::new(0.0, 0.0)
    }
}

/// The positive-polarity image `pos` times the conjugate phase of the negative-polarity image
/// `neg` (voxel by voxel; 0 where `neg` is 0): the magnitude of `pos` with the phase
/// difference `φ₊ − φ₋`, which removes the background phase and doubles the motion phase.
pub fn polarity_difference(pos: &Array3<Complex64>, neg: &Array3<Complex64>) -> Array3<Complex64> {
    Zip::from(pos).and(neg).map_collect(|a, b| a * unit_conj(b))
}

/// Complex images `[nf, ncomp, noffsets, nz, ny, nx]` from k-space `k`
/// `[nf, ncomp, noffsets, ncoils, nz, ny, nx]` (centred inverse FFT, [`centred_ifft`]): per
/// coil the positive-polarity image times the conjugate phase of the negative-polarity image
/// `neg` (same shape as `k`; this removes the background phase), or, without it and with several
/// coils, of the coil's first-offset image; then summed over the coils. A per-voxel constant
/// phase does not change the first harmonic.
///
/// # Errors
/// `k` not 7-dimensional, or `neg` of another shape.
pub fn kspace_to_images(k: &ArrayD<Complex64>, neg: Option<&ArrayD<Complex64>>) -> Result<Array6<Complex64>> {
    let sh = k.shape();
    if sh.len() != 7 {
        return Err(SolverError::Shape(format!("k-space {sh:?}, expected [nf, ncomp, noffsets, ncoils, nz, ny, nx]")));
    }
    if let Some(n) = neg.filter(|n| n.shape() != sh) {
        return Err(SolverError::Shape(format!("negative-polarity k-space {:?} differs from the positive {sh:?}", n.shape())));
    }
    let (nf, nc, noff, ncoils, nz, ny, nx) = (sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], sh[6]);
    let mut images = Array6::zeros((nf, nc, noff, nz, ny, nx));
    let ifft = |a: &ArrayD<Complex64>, idx: [usize; 4]| {
        let v = a.slice(s![idx[0], idx[1], idx[2], idx[3], .., .., ..]).to_owned();
        centred_ifft(&v)
    };
    for f in 0..nf {
        for c in 0..nc {
            for coil in 0..ncoils {
                let reference = match neg {
                    None if ncoils > 1 => Some(ifft(k, [f, c, 0, coil]).mapv(|v| unit_conj(&v))),
                    _ => None,
                };
                for off in 0..noff {
                    let pos = ifft(k, [f, c, off, coil]);
                    let img = match (neg, &reference) {
                        (Some(n), _) => polarity_difference(&pos, &ifft(n, [f, c, off, coil])),
                        (None, Some(r)) => &pos * r,
                        (None, None) => pos,
                    };
                    let mut dst = images.slice_mut(s![f, c, off, .., .., ..]);
                    dst += &img;
                }
            }
        }
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recon::unwrap::wrap;
    use ndarray::Array4;
    use std::f64::consts::PI;

    /// Wrapped phase `[1, 1, n, 1, ny, nx]` of `u` (m) encoded with `xi` plus a static 0.4 rad.
    fn phases(u: &Array3<Complex64>, xi: Complex64, n: usize) -> Array6<f64> {
        let (nz, ny, nx) = u.dim();
        Array6::from_shape_fn((1, 1, n, nz, ny, nx), |(_, _, k, z, y, x)| {
            let th = 2.0 * PI * k as f64 / n as f64;
            wrap((xi * u[[z, y, x]] * Complex64::from_polar(1.0, th)).re + 0.4)
        })
    }

    #[test]
    fn a_harmonic_phase_gives_the_wave_and_zero_outside_the_mask() {
        let (ny, nx, h) = (32, 40, 1e-3);
        let k = 2.0 * PI / (20.0 * h);
        let u = Array3::from_shape_fn((1, ny, nx), |(_, y, x)| Complex64::from_polar(1e-5 * (1.0 - 0.01 * y as f64), -k * x as f64 * h));
        // 8 rad of encoded amplitude: wraps in space, so both unwrappers have work to do.
        let xi = Complex64::from_polar(8.0 / 1e-5, 0.7);
        let mask = Array3::from_shape_fn((1, ny, nx), |(_, y, x)| (4..28).contains(&y) && (3..37).contains(&x));
        for unwrap in [Unwrap::Laplacian, Unwrap::Masked] {
            for n in [4usize, 8] {
                let w = phase_to_wave(&phases(&u, xi, n), &mask, &[xi], unwrap).unwrap();
                for ((idx, &m), (&got, &want)) in mask.indexed_iter().zip(w.iter().zip(&u)) {
                    if m {
                        assert!((got - want).norm() < 1e-10 * 1e-5, "{unwrap:?} {n} offsets at {idx:?}: {got} vs {want}");
                    } else {
                        assert_eq!(got, Complex64::new(0.0, 0.0), "{unwrap:?} outside the mask at {idx:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn wave_from_phase_is_phase_to_wave_on_the_whole_grid() {
        let u = Array3::from_shape_fn((2, 9, 11), |(z, y, x)| Complex64::new(1e-6 * (x as f64 - 0.5 * y as f64), 1e-6 * z as f64));
        let xi = Complex64::new(2e5, -1e5);
        let p = phases(&u, xi, 4);
        let mask = Array3::from_elem((2, 9, 11), true);
        let a = phase_to_wave(&p, &mask, &[xi], Unwrap::Laplacian).unwrap();
        let p4: Array4<f64> = p.slice(s![0, 0, .., .., .., ..]).to_owned();
        let b = crate::classic::wave_from_phase(p4.view(), xi, true).unwrap();
        assert_eq!(a.slice(s![0, 0, .., .., ..]), b);
    }

    #[test]
    fn bad_shapes_and_encodings_are_refused() {
        let p = Array6::<f64>::zeros((2, 1, 4, 1, 6, 6));
        let mask = Array3::from_elem((1, 6, 6), true);
        let xi = [Complex64::new(1.0, 0.0); 2];
        assert!(phase_to_wave(&p, &mask, &xi, Unwrap::Laplacian).is_ok());
        assert!(matches!(phase_to_wave(&p, &mask, &xi[..1], Unwrap::Laplacian), Err(SolverError::Shape(_))));
        assert!(matches!(phase_to_wave(&p, &Array3::from_elem((1, 6, 5), true), &xi, Unwrap::Masked), Err(SolverError::Shape(_))));
        let zero = [Complex64::new(1.0, 0.0), Complex64::new(0.0, 0.0)];
        assert!(matches!(phase_to_wave(&p, &mask, &zero, Unwrap::Laplacian), Err(SolverError::InvalidParameter { .. })));
        let k = ArrayD::<Complex64>::zeros(ndarray::IxDyn(&[1, 1, 4, 1, 1, 6, 6]));
        assert!(kspace_to_images(&k, None).is_ok());
        assert!(matches!(
            kspace_to_images(&k.clone().into_shape_with_order(vec![1, 4, 1, 1, 6, 6]).unwrap(), None),
            Err(SolverError::Shape(_))
        ));
        let other = ArrayD::<Complex64>::zeros(ndarray::IxDyn(&[1, 1, 4, 1, 1, 6, 5]));
        assert!(matches!(kspace_to_images(&k, Some(&other)), Err(SolverError::Shape(_))));
    }

    #[test]
    fn kspace_images_remove_the_background_phase_and_combine_coils() {
        // One image m(x) with a motion phase φ_k per offset and a background phase β(x), seen by
        // two coils with different complex sensitivities.
        let (ny, nx, noff) = (8, 6, 4);
        let motion = |k: usize, y: usize, x: usize| 0.3 * (k as f64 + 1.0) * (y as f64 - x as f64) / 8.0;
        let background = |y: usize, x: usize| 0.2 * y as f64 + 0.1 * x as f64;
        let sens = [Complex64::from_polar(1.0, 0.5), Complex64::from_polar(0.5, -1.0)];
        let forward = |img: &Array3<Complex64>| {
            // k-space whose centred inverse FFT is `img`: check by transforming back below.
            let mut planner = rustfft::FftPlanner::<f64>::new();
            let mut out = img.clone();
            for ax in [1usize, 2] {
                let n = out.len_of(ndarray::Axis(ax));
                let fft = planner.plan_fft_forward(n);
                let h = n / 2;
                for mut lane in out.lanes_mut(ndarray::Axis(ax)) {
                    let mut buf: Vec<Complex64> = (0..n).map(|q| lane[(q + h) % n]).collect();
                    fft.process(&mut buf);
                    for j in 0..n {
                        lane[j] = buf[(j + n - h) % n];
                    }
                }
            }
            out
        };
        let mut kpos = ArrayD::<Complex64>::zeros(ndarray::IxDyn(&[1, 1, noff, 2, 1, ny, nx]));
        let mut kneg = kpos.clone();
        for k in 0..noff {
            for (coil, s) in sens.iter().enumerate() {
                let img = |sign: f64| {
                    Array3::from_shape_fn((1, ny, nx), |(_, y, x)| {
                        s * Complex64::from_polar(1.0 + 0.1 * x as f64, background(y, x) + sign * motion(k, y, x))
                    })
                };
                for (dst, sign) in [(&mut kpos, 1.0), (&mut kneg, -1.0)] {
                    let ks = forward(&img(sign));
                    assert!(centred_ifft(&ks).iter().zip(img(sign).iter()).all(|(a, b)| (a - b).norm() < 1e-12));
                    dst.slice_mut(s![0, 0, k, coil, .., .., ..]).assign(&ks);
                }
            }
        }
        // With both polarities: phase 2φ_k, background removed.
        let both = kspace_to_images(&kpos, Some(&kneg)).unwrap();
        // One polarity, two coils: phase φ_k − φ_0, background and coil phases removed.
        let single = kspace_to_images(&kpos, None).unwrap();
        for k in 0..noff {
            for y in 0..ny {
                for x in 0..nx {
                    let d = both[[0, 0, k, 0, y, x]].arg() - 2.0 * motion(k, y, x);
                    assert!(wrap(d).abs() < 1e-9, "{k} {y} {x}: {d}");
                    let d = single[[0, 0, k, 0, y, x]].arg() - (motion(k, y, x) - motion(0, y, x));
                    assert!(wrap(d).abs() < 1e-9, "{k} {y} {x}: {d}");
                }
            }
        }
    }
}
