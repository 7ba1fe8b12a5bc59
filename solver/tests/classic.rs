//! Classic reconstruction (`mre_solver::classic`): Laplacian unwrapping, wave extraction from
//! phase offsets, filtering, AHI and MDEV against analytic fields.

use std::f64::consts::PI;

use mre_solver::classic::{ahi, filter_wave, laplacian_phase, laplacian_unwrap, mdev, wave_from_phase, Elastogram, Filter};
use mre_solver::model::motion::shear_wavenumber;
use mre_solver::recon::ahi::algebraic_helmholtz;
use mre_solver::recon::unwrap::wrap;
use mre_solver::rng::SplitMix64;
use mre_solver::wave::analytic::CylinderScattering;
use mre_solver::{Grid, SolverError};
use ndarray::{Array3, Array4, Axis};
use num_complex::Complex64;

/// Background and inclusion `(G' Pa, G'' Pa, ρ kg/m³)`: 3 kPa and 9 kPa, 10 % loss.
const BACKGROUND: (f64, f64, f64) = (3e3, 3e2, 1e3);
const INCLUSION: (f64, f64, f64) = (9e3, 9e2, 1e3);
/// Cylinder radius, m.
const RADIUS_M: f64 = 12.25e-3;

/// Deterministic standard normal numbers (the crate's SplitMix64, Box–Muller).
struct Normal(SplitMix64);

impl Normal {
    fn sample(&mut self) -> f64 {
        self.0.normal()
    }
    /// Complex Gaussian of standard deviation `std` (`E|n|² = std²`).
    fn complex(&mut self, std: f64) -> Complex64 {
        Complex64::new(self.sample(), self.sample()) * (std / 2f64.sqrt())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Check `un` equals `truth` up to one multiple of 2π, to `tol`.
fn assert_equal_up_to_2pi(un: &Array3<f64>, truth: &Array3<f64>, tol: f64) -> f64 {
    let offset = un.iter().next().unwrap() - truth.iter().next().unwrap();
    let turns = offset / (2.0 * PI);
    assert!((turns - turns.round()).abs() < 1e-9, "offset {offset} is not a multiple of 2π");
    let err = un.iter().zip(truth).map(|(u, t)| (u - t - offset).abs()).fold(0.0, f64::max);
    assert!(err < tol, "max error {err} rad");
    err
}

/// Largest deviation of `psi − truth` from its mean (error up to a constant), rad.
fn raw_error(psi: &Array3<f64>, truth: &Array3<f64>) -> f64 {
    let d = psi - truth;
    let mean = d.mean().unwrap();
    d.iter().map(|v| (v - mean).abs()).fold(0.0, f64::max)
}

#[test]
fn laplacian_unwrap_recovers_gaussian_bumps_2d_and_3d() {
    // 2-D: a bump of 40π (20 wraps) on 128², width 30 voxels (largest step 2.5 rad).
    let truth = Array3::from_shape_fn((1, 128, 128), |(_, y, x)| {
        let r2 = (y as f64 - 60.0).powi(2) + (x as f64 - 70.0).powi(2);
        40.0 * PI * (-r2 / (2.0 * 30.0f64.powi(2))).exp() - 3.0
    });
    let e2 = assert_equal_up_to_2pi(&laplacian_unwrap(&truth.mapv(wrap)), &truth, 1e-9);
    let r2 = raw_error(&laplacian_phase(&truth.mapv(wrap)), &truth);
    // 3-D: 16π (8 wraps) on 24 × 48 × 48, width 12 voxels.
    let truth = Array3::from_shape_fn((24, 48, 48), |(z, y, x)| {
        let r2 = (z as f64 - 11.0).powi(2) + (y as f64 - 25.0).powi(2) + (x as f64 - 22.0).powi(2);
        16.0 * PI * (-r2 / (2.0 * 12.0f64.powi(2))).exp() + 0.1 * x as f64
    });
    let e3 = assert_equal_up_to_2pi(&laplacian_unwrap(&truth.mapv(wrap)), &truth, 1e-9);
    let r3 = raw_error(&laplacian_phase(&truth.mapv(wrap)), &truth);
    println!("unwrap max error after snapping: 2-D {e2:.2e} rad, 3-D {e3:.2e} rad; before: {r2:.2e}, {r3:.2e} rad");
    assert!(r2 < 1e-6 && r3 < 1e-6);
}

#[test]
fn laplacian_unwrap_tolerates_noise() {
    // 20 wraps (largest step 1.7 rad) plus Gaussian phase noise of 0.3 rad: every voxel exact.
    // (Measured: with 0.8 rad of noise only 26 % of the voxels come out exact.)
    let truth = Array3::from_shape_fn((1, 128, 128), |(_, y, x)| {
        let r2 = (y as f64 - 64.0).powi(2) + (x as f64 - 64.0).powi(2);
        40.0 * PI * (-r2 / (2.0 * 45.0f64.powi(2))).exp()
    });
    let mut rng = Normal(SplitMix64::new(3));
    let noisy = truth.mapv(|t| t + 0.3 * rng.sample());
    let un = laplacian_unwrap(&noisy.mapv(wrap));
    // Fraction of voxels equal to the noisy true phase up to the common 2π multiple.
    let offsets: Vec<f64> = un.iter().zip(&noisy).map(|(u, t)| ((u - t) / (2.0 * PI)).round()).collect();
    let common = median(offsets.clone());
    let good = offsets.iter().filter(|&&o| o == common).count() as f64 / offsets.len() as f64;
    println!("noisy unwrap: {:.3} % of voxels exact", 100.0 * good);
    assert!(good > 0.99, "{good}");
}

#[test]
fn wave_from_phase_recovers_the_first_harmonic_with_4_and_8_offsets() {
    let (ny, nx, h) = (48, 64, 1e-3);
    // Two wavelengths of 32 voxels along x, damped along y.
    let k = 2.0 * PI / (32.0 * h);
    let u = Array3::from_shape_fn((1, ny, nx), |(_, y, x)| Complex64::from_polar(1e-5 * (1.0 - 0.004 * y as f64), -k * x as f64 * h + 0.3));
    let encoding = Complex64::from_polar(1.0, 0.7);
    for (amplitude_rad, unwrap) in [(2.5, false), (12.0, true)] {
        let xi = encoding * (amplitude_rad / 1e-5);
        for n in [4usize, 8] {
            let mut phase = Array4::zeros((n, 1, ny, nx));
            for (kk, mut img) in phase.axis_iter_mut(Axis(0)).enumerate() {
                let th = 2.0 * PI * kk as f64 / n as f64;
                img.zip_mut_with(&u, |p, &v| *p = wrap((xi * v * Complex64::from_polar(1.0, th)).re + 0.4));
            }
            let got = wave_from_phase(phase.view(), xi, unwrap).unwrap();
            let err = got.iter().zip(&u).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max) / 1e-5;
            println!("wave_from_phase: {n} offsets, amplitude {amplitude_rad} rad, unwrap {unwrap}: relative error {err:.1e}");
            assert!(err < 1e-10, "relative error {err}");
        }
    }
}

/// Median of `map` over the voxels where `keep` holds and the map is finite.
fn median_where(map: &Array3<f64>, keep: impl Fn([usize; 3]) -> bool) -> f64 {
    median(map.indexed_iter().filter(|((z, y, x), v)| v.is_finite() && keep([*z, *y, *x])).map(|(_, v)| *v).collect())
}

/// Damped plane wave `e^{−ik d·x}` on a 128² grid of 1.5 mm voxels.
fn plane_wave(omega: f64, dir: [f64; 2]) -> Array3<Complex64> {
    let k = shear_wavenumber(omega, 3e3, 3e2, 1e3);
    let h = 1.5e-3;
    Array3::from_shape_fn((1, 128, 128), |(_, y, x)| {
        (Complex64::new(0.0, -1.0) * k * ((dir[0] * y as f64 + dir[1] * x as f64) * h)).exp() * 1e-5
    })
}

fn stack(fields: &[Array3<Complex64>]) -> Array4<Complex64> {
    let views: Vec<_> = fields.iter().map(|f| f.view()).collect();
    ndarray::stack(Axis(0), &views).unwrap()
}

fn check_plane(label: &str, e: &Elastogram) {
    let inner = |[_, y, x]: [usize; 3]| (8..120).contains(&y) && (8..120).contains(&x);
    let g1 = median_where(&e.storage_modulus_pa, inner);
    let g2 = median_where(&e.loss_modulus_pa, inner);
    let phi = median_where(&e.phase_angle_rad, inner);
    println!("{label}: G' = {g1:.1} Pa, G'' = {g2:.2} Pa, φ = {phi:.5} rad (exact 3000, 300, {:.5})", 0.1f64.atan());
    assert!((g1 / 3e3 - 1.0).abs() < 0.02, "{label}: G' = {g1}");
    assert!((g2 / 3e2 - 1.0).abs() < 0.02, "{label}: G'' = {g2}");
}

#[test]
fn ahi_and_mdev_invert_a_damped_plane_wave() {
    let mask = Array3::from_elem((1, 128, 128), true);
    let h = [1.5e-3; 3];
    let omega = 2.0 * PI * 60.0;
    let w = stack(&[plane_wave(omega, [0.6, 0.8]), plane_wave(omega, [-0.28, 0.96])]);
    check_plane("AHI 60 Hz", &ahi(w.view(), &mask, h, omega, 1e3).unwrap());
    let data: Vec<(f64, Array4<Complex64>)> = [50.0, 60.0, 70.0]
        .iter()
        .map(|f| {
            let omega = 2.0 * PI * f;
            (omega, stack(&[plane_wave(omega, [0.6, 0.8]), plane_wave(omega, [1.0, 0.0])]))
        })
        .collect();
    let views: Vec<_> = data.iter().map(|(o, w)| (*o, w.view())).collect();
    let e = mdev(&views, &mask, h, 1e3).unwrap();
    check_plane("MDEV 50/60/70 Hz", &e);
    // The result does not depend on the number of threads.
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| mdev(&views, &mask, h, 1e3).unwrap());
    let same = |a: &Array3<f64>, b: &Array3<f64>| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
    assert!(same(&one.storage_modulus_pa, &e.storage_modulus_pa) && same(&one.loss_modulus_pa, &e.loss_modulus_pa));
}

#[test]
fn ahi_of_one_component_is_the_algebraic_helmholtz_inversion_and_3d_works() {
    // One component with a masked hole: identical to recon::ahi (same stencil, same NaN).
    let omega = 2.0 * PI * 60.0;
    let u = plane_wave(omega, [0.6, 0.8]);
    let mask = Array3::from_shape_fn((1, 128, 128), |(_, y, x)| !(40..50).contains(&y) || !(60..70).contains(&x));
    let e = ahi(u.view().insert_axis(Axis(0)), &mask, [1.5e-3; 3], omega, 1e3).unwrap();
    let g = algebraic_helmholtz(&u, &mask, [1.5e-3; 3], omega, 1e3);
    for (a, b) in e.storage_modulus_pa.iter().zip(&g) {
        assert!((a.is_nan() && b.re.is_nan()) || (a - b.re).abs() < 1e-9 * b.re.abs(), "{a} vs {b}");
    }
    assert!(e.storage_modulus_pa[[0, 45, 65]].is_nan() && e.storage_modulus_pa[[0, 39, 65]].is_nan());
    // 3-D: an oblique damped plane wave, two components, MDEV over 2 frequencies.
    let (nz, ny, nx, h) = (20, 24, 28, 1.5e-3);
    let wave = |omega: f64, d: [f64; 3]| {
        let k = shear_wavenumber(omega, 3e3, 3e2, 1e3);
        Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
            (Complex64::new(0.0, -1.0) * k * ((d[0] * z as f64 + d[1] * y as f64 + d[2] * x as f64) * h)).exp()
        })
    };
    let data: Vec<(f64, Array4<Complex64>)> = [60.0, 80.0]
        .iter()
        .map(|f| {
            let omega = 2.0 * PI * f;
            (omega, stack(&[wave(omega, [0.48, 0.6, 0.64]), wave(omega, [0.0, -0.6, 0.8])]))
        })
        .collect();
    let views: Vec<_> = data.iter().map(|(o, w)| (*o, w.view())).collect();
    let mask = Array3::from_elem((nz, ny, nx), true);
    let e = mdev(&views, &mask, [h; 3], 1e3).unwrap();
    let all = |_| true;
    let (g1, g2) = (median_where(&e.storage_modulus_pa, all), median_where(&e.loss_modulus_pa, all));
    println!("MDEV 3-D: G' = {g1:.1} Pa, G'' = {g2:.2} Pa");
    assert!((g1 / 3e3 - 1.0).abs() < 0.02 && (g2 / 3e2 - 1.0).abs() < 0.02);
    assert!(e.storage_modulus_pa[[1, 10, 10]].is_nan() && e.storage_modulus_pa[[2, 2, 2]].is_finite());
}

/// Noisy (SNR 30) analytic inclusion field on 128² voxels of 1 mm, filtered.
///
/// Measured while writing this test (medians of G', G'' in Pa; exact 9000/900 and 3000/300):
/// without noise the Gaussian filters leave both inversions exact to 4 digits, while the
/// Butterworth (100/m, order 4) rings at the interface (AHI inclusion 9435/711, MDEV 9598/1686).
/// With noise, σ = 1 mm is too little (AHI inclusion G' 4061), σ = 1.5 mm gives 8324 (AHI) and
/// 8191 (MDEV), σ = 2 mm 8810 and 8799 (background 2997), σ = 2.5 mm 8659 and 8740; the MDEV
/// loss modulus of the inclusion is biased upward by noise (1376 at σ = 2 mm, 986 at 2.5 mm)
/// because noise adds to |∇²U| in the phase-angle denominator. (Measured with the former FFT
/// Gaussian; the masked normalised-convolution Gaussian that replaced it gives 8819 (AHI) and
/// 8804 (MDEV) at σ = 2 mm.)
fn noisy_inclusion(freq_hz: f64, seed: u64, filter: &Filter) -> (f64, Array4<Complex64>) {
    let n = 128;
    let grid = Grid::new([1, n, n], [1e-3; 3]).unwrap();
    let omega = 2.0 * PI * freq_hz;
    let exact = CylinderScattering::new(omega, BACKGROUND, INCLUSION, RADIUS_M);
    let u = Array3::from_shape_fn((1, n, n), |(_, y, x)| {
        let [_, cy, cx] = grid.centre([0, y, x]);
        exact.total(cx, cy) * 1e-5
    });
    let std = u.iter().map(|v| v.norm()).sum::<f64>() / u.len() as f64 / 30.0;
    let mut rng = Normal(SplitMix64::new(seed));
    let noisy = u.mapv(|v| v + rng.complex(std));
    let filtered = filter_wave(&noisy, grid.voxel_size_m, filter).unwrap();
    (omega, filtered.insert_axis(Axis(0)))
}

/// Medians of G' (and G'') in the inclusion (r < 0.6 a) and the background (r > 1.5 a,
/// 12 mm from the grid edge).
fn regions(e: &Elastogram) -> [(f64, f64); 2] {
    let grid = Grid::new([1, 128, 128], [1e-3; 3]).unwrap();
    let r = |[z, y, x]: [usize; 3]| {
        let [_, cy, cx] = grid.centre([z, y, x]);
        cx.hypot(cy)
    };
    let inner = |[_, y, x]: [usize; 3]| (12..116).contains(&y) && (12..116).contains(&x);
    let inc = |i| r(i) < 0.6 * RADIUS_M;
    let bg = |i| r(i) > 1.5 * RADIUS_M && inner(i);
    [
        (median_where(&e.storage_modulus_pa, inc), median_where(&e.loss_modulus_pa, inc)),
        (median_where(&e.storage_modulus_pa, bg), median_where(&e.loss_modulus_pa, bg)),
    ]
}

fn check_inclusion(label: &str, e: &Elastogram) {
    let [(i1, i2), (b1, b2)] = regions(e);
    println!("{label}: inclusion G' = {i1:.0} G'' = {i2:.0} Pa (9000, 900); background G' = {b1:.0} G'' = {b2:.0} Pa (3000, 300)");
    assert!((b1 / 3e3 - 1.0).abs() < 0.10, "{label}: background G' = {b1}");
    assert!((i1 / 9e3 - 1.0).abs() < 0.25, "{label}: inclusion G' = {i1}");
}

#[test]
fn ahi_and_mdev_find_a_noisy_inclusion() {
    let mask = Array3::from_elem((1, 128, 128), true);
    let h = [1e-3; 3];
    for filter in [Filter::recommended(1e-3), Filter::Butterworth { cutoff_per_m: 100.0, order: 4 }] {
        let (omega, w) = noisy_inclusion(60.0, 1, &filter);
        check_inclusion(&format!("AHI 60 Hz, {filter:?}"), &ahi(w.view(), &mask, h, omega, 1e3).unwrap());
        let data: Vec<(f64, Array4<Complex64>)> =
            [50.0, 60.0, 70.0].iter().enumerate().map(|(i, f)| noisy_inclusion(*f, 10 + i as u64, &filter)).collect();
        let views: Vec<_> = data.iter().map(|(o, w)| (*o, w.view())).collect();
        check_inclusion(&format!("MDEV 50/60/70 Hz, {filter:?}"), &mdev(&views, &mask, h, 1e3).unwrap());
    }
}

#[test]
fn bad_input_is_refused() {
    let mask = Array3::from_elem((1, 16, 16), true);
    let w = Array4::from_elem((2, 1, 16, 16), Complex64::new(1.0, 0.0));
    let h = [1e-3; 3];
    let invalid = |r: Result<Elastogram, SolverError>, what: &str| match r {
        Err(SolverError::InvalidParameter { name, .. }) => assert!(name.contains(what), "{name} should name {what}"),
        other => panic!("expected an invalid {what}, got {other:?}"),
    };
    invalid(ahi(w.view(), &mask, h, 0.0, 1e3), "omega");
    invalid(ahi(w.view(), &mask, h, 1.0, -1.0), "density");
    invalid(ahi(w.view(), &mask, [1e-3, 0.0, 1e-3], 1.0, 1e3), "voxel_size");
    let bad_mask = Array3::from_elem((1, 16, 15), true);
    assert!(matches!(ahi(w.view(), &bad_mask, h, 1.0, 1e3), Err(SolverError::Shape(_))));
    let mut nan = w.clone();
    nan[[1, 0, 3, 4]] = Complex64::new(f64::NAN, 0.0);
    invalid(ahi(nan.view(), &mask, h, 1.0, 1e3), "component 1");
    invalid(mdev(&[], &mask, h, 1e3), "waves");
    invalid(mdev(&[(1.0, w.view()), (2.0, nan.view())], &mask, h, 1e3), "frequency 1");
    invalid(mdev(&[(1.0, w.view()), (-2.0, w.view())], &mask, h, 1e3), "omega");
    assert!(matches!(mdev(&[(1.0, w.view())], &bad_mask, h, 1e3), Err(SolverError::Shape(_))));
    let empty = Array4::<Complex64>::zeros((0, 1, 16, 16));
    assert!(matches!(mdev(&[(1.0, empty.view())], &mask, h, 1e3), Err(SolverError::Shape(_))));

    let phase = Array4::<f64>::zeros((4, 1, 8, 8));
    assert!(matches!(
        wave_from_phase(phase.slice(ndarray::s![..2, .., .., ..]), Complex64::new(1.0, 0.0), true),
        Err(SolverError::Shape(_))
    ));
    assert!(wave_from_phase(phase.view(), Complex64::new(0.0, 0.0), true).is_err());
    let mut p = phase.clone();
    p[[2, 0, 1, 1]] = f64::NAN;
    match wave_from_phase(p.view(), Complex64::new(1.0, 0.0), true) {
        Err(SolverError::InvalidParameter { name, .. }) => assert!(name.contains("offset 2"), "{name}"),
        other => panic!("{other:?}"),
    }

    let u = Array3::from_elem((1, 8, 8), Complex64::new(1.0, 0.0));
    assert!(filter_wave(&u, h, &Filter::Gaussian { sigma_m: -1.0 }).is_err());
    assert!(filter_wave(&u, h, &Filter::Butterworth { cutoff_per_m: 10.0, order: 0 }).is_err());
    assert!(filter_wave(&u, [0.0; 3], &Filter::None).is_err());
}

#[test]
fn filters_keep_a_constant_and_damp_noise() {
    let u = Array3::from_elem((3, 10, 12), Complex64::new(0.5, -2.0));
    for f in [Filter::None, Filter::Gaussian { sigma_m: 2e-3 }, Filter::Butterworth { cutoff_per_m: 50.0, order: 3 }] {
        let v = filter_wave(&u, [1e-3; 3], &f).unwrap();
        assert!(v.iter().all(|x| (x - u[[0, 0, 0]]).norm() < 1e-12), "{f:?}");
    }
    let mut rng = Normal(SplitMix64::new(7));
    let noise = Array3::from_shape_fn((1, 64, 64), |_| rng.complex(1.0));
    let v = filter_wave(&noise, [1e-3; 3], &Filter::Gaussian { sigma_m: 2e-3 }).unwrap();
    let rms = (v.iter().map(|x| x.norm_sqr()).sum::<f64>() / v.len() as f64).sqrt();
    // White noise through a Gaussian of σ = 2 voxels (2-D): rms ≈ 1/(2√π σ) ≈ 0.14.
    assert!(rms > 0.1 && rms < 0.2, "rms {rms}");
    // 3-D, independent of the thread count.
    let noise = Array3::from_shape_fn((6, 20, 24), |_| rng.complex(1.0));
    let f = Filter::Butterworth { cutoff_per_m: 150.0, order: 4 };
    let a = filter_wave(&noise, [1e-3; 3], &f).unwrap();
    let b = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| filter_wave(&noise, [1e-3; 3], &f).unwrap());
    assert!(a.iter().zip(&b).all(|(x, y)| x.re.to_bits() == y.re.to_bits() && x.im.to_bits() == y.im.to_bits()));
}

/// MDEV benchmark on two threads: `cargo test --release -p mre-solver --test classic -- --ignored --nocapture`.
#[cfg(feature = "bench")]
#[test]
#[ignore]
fn bench_mdev_two_threads() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let s = pool.install(mre_solver::classic::bench_mdev);
    println!("MDEV 128×128×25 × 3 components × 8 frequencies on 2 threads: {s:.3} s");
}
