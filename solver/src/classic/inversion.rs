//! Direct inversions: algebraic Helmholtz inversion (AHI) and multifrequency dual
//! elasto-visco inversion (MDEV).

#[cfg(feature = "bench")]
use std::f64::consts::PI;

use std::borrow::Cow;

#[cfg(feature = "bench")]
use ndarray::Array4;
use ndarray::{Array3, ArrayView3, ArrayView4, Axis};
use num_complex::Complex64;
use rayon::prelude::*;

use super::laplacian::Stencil;
use super::{check_positive, check_voxel_size, Elastogram};
use crate::error::{Result, SolverError};

/// Check one `[ncomp, nz, ny, nx]` wave block against the mask; `label` names it in errors.
fn check_waves(label: &str, waves: &ArrayView4<Complex64>, mask: &Array3<bool>) -> Result<()> {
    let sh = waves.shape();
    if sh[0] == 0 {
        return Err(SolverError::Shape(format!("{label} has no component ([ncomp, nz, ny, nx] with ncomp = 0)")));
    }
    if sh[1..] != *mask.shape() {
        return Err(SolverError::Shape(format!("{label} grid {:?} differs from the mask {:?}", &sh[1..], mask.shape())));
    }
    for (c, comp) in waves.axis_iter(Axis(0)).enumerate() {
        if let Some(bad) = comp.iter().find(|v| !(v.re.is_finite() && v.im.is_finite())) {
            return Err(SolverError::invalid(format!("{label}[component {c}]"), bad, "finite complex displacements (m)"));
        }
    }
    Ok(())
}

/// Evaluate `f` at every voxel of `shape`, in parallel over z slices (the result does not
/// depend on the number of threads: every voxel is computed by the same sequential code).
/// `f` takes the flat (standard-layout) index of the voxel.
fn per_voxel(mask: &Array3<bool>, f: impl Fn(usize) -> Complex64 + Sync) -> Array3<Complex64> {
    let (nz, ny, nx) = mask.dim();
    let plane = ny * nx;
    let slices: Vec<Vec<Complex64>> = (0..nz).into_par_iter().map(|iz| (iz * plane..(iz + 1) * plane).map(&f).collect()).collect();
    Array3::from_shape_vec((nz, ny, nx), slices.concat()).expect("shape")
}

/// The data of `u` in standard (row-major) order, borrowed when it already is.
fn contiguous(u: ArrayView3<'_, Complex64>) -> Cow<'_, [Complex64]> {
    match u.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(u.iter().copied().collect()),
    }
}

/// Elastogram of a complex-modulus map (NaN stays NaN).
fn elastogram(g: &Array3<Complex64>) -> Elastogram {
    let mut e = Elastogram::nan(g.dim());
    for (idx, v) in g.indexed_iter() {
        if v.re.is_finite() && v.im.is_finite() {
            e.storage_modulus_pa[idx] = v.re;
            e.loss_modulus_pa[idx] = v.im;
            e.abs_modulus_pa[idx] = v.norm();
            e.phase_angle_rad[idx] = v.arg();
        }
    }
    e
}

const NAN: Complex64 = Complex64::new(f64::NAN, f64::NAN);

/// Algebraic Helmholtz inversion of one frequency.
///
/// `waves`: complex displacement components `[ncomp, nz, ny, nx]` (m); `mask` `[nz, ny, nx]`;
/// voxel size `[dz, dy, dx]` (m); angular frequency `omega` (rad/s); density (kg/m³).
/// Per component `G*_c = −ρω² U_c / ∇²U_c` with the fourth-order Laplacian
/// (`[-1, 16, -30, 16, -1] / 12h²` along every axis longer than 4 voxels); the components are
/// combined by the `|∇²U_c|`-weighted average `G* = Σ_c |∇²U_c| G*_c / Σ_c |∇²U_c|`, so a
/// component with little curvature (where noise dominates its quotient) counts little. NaN where
/// the stencil leaves the mask or every Laplacian vanishes.
///
/// # Errors
/// Shape mismatches, no component, non-positive `omega`, `density` or voxel size, NaN in `waves`.
pub fn ahi(waves: ArrayView4<Complex64>, mask: &Array3<bool>, voxel_size_m: [f64; 3], omega: f64, density: f64) -> Result<Elastogram> {
    check_positive("omega_rad_per_s", omega, "rad/s")?;
    check_positive("density_kg_m3", density, "kg/m³")?;
    check_voxel_size(voxel_size_m)?;
    check_waves("waves", &waves, mask)?;
    Ok(elastogram(&ahi_modulus(waves, mask, voxel_size_m, omega, density)))
}

/// The complex modulus map G* (Pa) of [`ahi`], without the checks of its input (the caller's
/// contract: `waves` `[ncomp, nz, ny, nx]` on the grid of `mask`). Also serves
/// [`crate::recon::algebraic_helmholtz`].
pub(crate) fn ahi_modulus(
    waves: ArrayView4<Complex64>,
    mask: &Array3<bool>,
    voxel_size_m: [f64; 3],
    omega: f64,
    density: f64,
) -> Array3<Complex64> {
    let stencil = Stencil::new(mask, voxel_size_m);
    let owned: Vec<Cow<[Complex64]>> = waves.axis_iter(Axis(0)).map(contiguous).collect();
    let comps: Vec<&[Complex64]> = owned.iter().map(|u| &u[..]).collect();
    let rw2 = density * omega * omega;
    per_voxel(mask, |i| {
        let (mut num, mut den) = (Complex64::new(0.0, 0.0), 0.0);
        for u in &comps {
            let Some(lap) = stencil.apply(u, i) else { return NAN };
            let w = lap.norm();
            if w > 0.0 {
                num += w * (-rw2 * u[i] / lap);
                den += w;
            }
        }
        if den > 0.0 {
            num / den
        } else {
            NAN
        }
    })
}

/// Multifrequency dual elasto-visco inversion (MDEV; Papazoglou et al. 2012, Hirsch et al.
/// 2014, Streitberger et al. 2014).
///
/// `waves`: per drive frequency its angular frequency ω (rad/s) and its displacement components
/// `[ncomp, nz, ny, nx]` (m); all on the grid of `mask`, voxel size `[dz, dy, dx]` (m); density
/// ρ (kg/m³). With the fourth-order Laplacian, sums over all frequencies f and components c:
///
/// `|G*| = ρ Σ ω_f² |U_fc| / Σ |∇²U_fc|`,
/// `φ = arccos(−Σ Re(∇²U_fc · Ū_fc) / Σ |∇²U_fc| |U_fc|)`,
/// `G' = |G*| cos φ`, `G'' = |G*| sin φ`.
///
/// Sign check (e^{iωt}): for `U = e^{−ik·x}`, `∇²U = −k²U` and `k² = ρω²/G*`, so
/// `−Re(∇²U Ū)/(|∇²U||U|) = Re k²/|k²| = cos(arg G*)`: φ = arg G* ∈ [0, π] for `G'' ≥ 0`.
/// NaN where the stencil leaves the mask.
///
/// # Errors
/// No frequency, shape mismatches, no component, non-positive ω, density or voxel size, NaN in
/// the data (the message names the frequency and component).
pub fn mdev(waves: &[(f64, ArrayView4<Complex64>)], mask: &Array3<bool>, voxel_size_m: [f64; 3], density: f64) -> Result<Elastogram> {
    if waves.is_empty() {
        return Err(SolverError::invalid("waves", "[]", "at least one frequency"));
    }
    check_positive("density_kg_m3", density, "kg/m³")?;
    check_voxel_size(voxel_size_m)?;
    for (f, (omega, w)) in waves.iter().enumerate() {
        check_positive(&format!("omega_rad_per_s[frequency {f}]"), *omega, "rad/s")?;
        check_waves(&format!("waves[frequency {f}]"), w, mask)?;
    }
    let stencil = Stencil::new(mask, voxel_size_m);
    let owned: Vec<(f64, Cow<[Complex64]>)> =
        waves.iter().flat_map(|(omega, w)| w.axis_iter(Axis(0)).map(move |u| (omega * omega, contiguous(u)))).collect();
    let comps: Vec<(f64, &[Complex64])> = owned.iter().map(|(w2, u)| (*w2, &u[..])).collect();
    let g = per_voxel(mask, |i| {
        let (mut amp, mut curv, mut re, mut prod) = (0.0, 0.0, 0.0, 0.0);
        for &(w2, u) in &comps {
            let Some(lap) = stencil.apply(u, i) else { return NAN };
            let v = u[i];
            let (lu, lv) = (v.norm(), lap.norm());
            amp += w2 * lu;
            curv += lv;
            re += (lap * v.conj()).re;
            prod += lv * lu;
        }
        if curv > 0.0 && prod > 0.0 {
            let phi = (-re / prod).clamp(-1.0, 1.0).acos();
            Complex64::from_polar(density * amp / curv, phi)
        } else {
            NAN
        }
    });
    Ok(elastogram(&g))
}

#[cfg(feature = "bench")]
/// Seconds taken by [`mdev`] on 128×128×25 voxels × 3 components × 8 frequencies (30–100 Hz)
/// of synthetic damped plane waves (G' = 3 kPa, G'' = 0.3 kPa, 1.5 mm voxels), on the current
/// rayon pool. Only the inversion is timed, not the set-up.
pub fn bench_mdev() -> f64 {
    let (nz, ny, nx) = (25, 128, 128);
    let h = 1.5e-3;
    let dirs = [[0.2, 0.6, 0.77], [0.1, -0.8, 0.59], [-0.3, 0.3, 0.9]];
    let data: Vec<(f64, Array4<Complex64>)> = (0..8)
        .map(|f| {
            let omega = 2.0 * PI * (30.0 + 10.0 * f as f64);
            let k = crate::model::motion::shear_wavenumber(omega, 3e3, 3e2, 1e3);
            let w = Array4::from_shape_fn((3, nz, ny, nx), |(c, z, y, x)| {
                let d = dirs[c];
                let s = (d[0] * z as f64 + d[1] * y as f64 + d[2] * x as f64) * h;
                (Complex64::new(0.0, -1.0) * k * s).exp() * 1e-5
            });
            (omega, w)
        })
        .collect();
    let views: Vec<(f64, ArrayView4<Complex64>)> = data.iter().map(|(o, w)| (*o, w.view())).collect();
    let mask = Array3::from_elem((nz, ny, nx), true);
    let t = std::time::Instant::now();
    let e = mdev(&views, &mask, [h; 3], 1e3).expect("valid synthetic input");
    let s = t.elapsed().as_secs_f64();
    std::hint::black_box(e);
    s
}
