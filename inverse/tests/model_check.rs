//! The model check (`mre_inverse::model_check`) on data from other discretisations: its
//! false-alarm rate on well-specified analytic data, and its power on data the scalar model
//! cannot represent.

use mre_inverse::map::{maximize, MapOptions};
use mre_inverse::model_check::{check_forward, wave_forward_response, CheckOptions, ModelCheck, Replicates, Verdict};
use mre_inverse::synthetic::BesselInclusion;
use mre_inverse::{ForwardModel, IndependentNormal, Measurements, Noise, Parameterisation, Posterior, Regions, WaveForward, WaveGaussian};
use ndarray::Array3;
use num_complex::Complex64;

/// The plain regions MAP of `data` (wave likelihood, noise inferred) and the check there.
fn check_at_map(data: &Measurements, labels: &Array3<u16>) -> ModelCheck {
    let forward = WaveForward::new(data).unwrap();
    let regions = Regions::new(labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 3000.0, 1000.0, 2.0).unwrap();
    let lik = WaveGaussian::new(data, forward.predicted(), Noise::Inferred).unwrap();
    let x0 = regions.constant(3000.0, 600.0);
    let map = maximize(&Posterior::new(&forward, &regions, &prior, &lik), &x0, &MapOptions::default(), None).unwrap();
    let moduli = regions.moduli(&map.x);
    let response = |noise: &Replicates| wave_forward_response(data, &moduli, noise);
    check_forward(&forward, &moduli, data, None, Some(&response), &CheckOptions::default()).unwrap()
}

/// Well-specified analytic data: the Bessel series of a cylindrical inclusion (not the
/// inversion's grid), SNR 20 and 30, 32² voxels, two frequencies.
fn bessel(seed: u64) -> BesselInclusion {
    BesselInclusion {
        n: 32,
        voxel_m: 2e-3,
        frequencies_hz: vec![60.0, 90.0],
        radius_m: 0.014,
        snr: Some(if seed % 2 == 0 { 20.0 } else { 30.0 }),
        seed: 5000 + seed,
        ..Default::default()
    }
}

/// The fraction of `seeds` flagged "misfit" on well-specified data.
fn false_alarms(seeds: u64) -> f64 {
    let mut flagged = 0;
    for seed in 0..seeds {
        let (data, labels, _) = bessel(seed).generate().unwrap();
        let c = check_at_map(&data, &labels);
        let ratios: Vec<String> = c.entries.iter().map(|e| format!("{:.3}", e.ratio)).collect();
        let nulls: Vec<String> = c.entries.iter().map(|e| format!("{:.3}±{:.3}", e.null_log_ratio.0.exp(), e.null_log_ratio.1)).collect();
        eprintln!("seed {seed}: {} statistic {:+.2} p {:.3} ratios {ratios:?} null {nulls:?}", c.verdict.name(), c.statistic, c.p_value);
        flagged += usize::from(c.verdict == Verdict::Misfit);
    }
    let rate = flagged as f64 / seeds as f64;
    eprintln!("false alarms: {flagged} of {seeds} ({rate:.3})");
    rate
}

/// (a) At most 5 % of 20 noise seeds of well-specified data are flagged (at most 1).
#[test]
fn well_specified_data_fit() {
    assert!(false_alarms(20) <= 0.05);
}

/// The measurement behind docs/inversion.md: 100 seeds (`--ignored`).
#[test]
#[ignore]
fn false_alarm_rate_over_100_seeds() {
    assert!(false_alarms(100) <= 0.05);
}

/// (b) Strongly dispersive data — G* rising by a factor 1.5 from one frequency to the next
/// (analytic Bessel series per frequency, SNR 30) — fitted with one G* per region: flagged
/// "misfit", with the outer frequencies among the failing ones.
#[test]
fn dispersive_data_fitted_with_one_modulus_are_a_misfit() {
    let freqs = [40.0, 60.0, 90.0];
    let scale = [1.0 / 1.5, 1.0, 1.5];
    let mut data: Option<Measurements> = None;
    let mut labels = None;
    for (f, (&hz, &s)) in freqs.iter().zip(&scale).enumerate() {
        let spec = BesselInclusion {
            frequencies_hz: vec![hz],
            background_pa: (3000.0 * s, 600.0 * s),
            inclusion_pa: (6000.0 * s, 1200.0 * s),
            snr: Some(30.0),
            seed: 77 + f as u64,
            ..bessel(0)
        };
        let (d, l, _) = spec.generate().unwrap();
        labels = Some(l);
        data = Some(match data {
            None => d,
            Some(mut all) => {
                let wave = ndarray::concatenate(ndarray::Axis(0), &[all.wave.view(), d.wave.view()]).unwrap();
                all.wave = wave;
                all.frequencies_hz.push(hz);
                all
            }
        });
    }
    let c = check_at_map(&data.unwrap(), &labels.unwrap());
    for e in &c.entries {
        eprintln!("{} Hz: ratio {:.3} z {:+.2} p {:.2e} fails {}", freqs[e.frequency], e.ratio, e.z, e.p_value, e.fails);
    }
    assert_eq!(c.verdict, Verdict::Misfit);
    let failing: Vec<usize> = c.failing().map(|e| e.frequency).collect();
    assert!(failing.contains(&0) && failing.contains(&2), "{failing:?}");
}

/// Plane-strain data with two in-plane components from the Navier solver (ν = 0.3 in the
/// background, so compression waves are present) on a 2× finer grid, averaged onto 32² data
/// voxels of 2 mm, SNR 30 (noise level not given).
fn navier_plane_strain(seed: u64) -> (Measurements, Array3<u16>) {
    use mre_solver::model::phantom::Grid;
    use mre_solver::wave::{Boundary, FaceCondition, Medium, NavierSolver, VectorDirichlet, VectorProblem};
    let (pml, h, n) = (10usize, 1e-3, 32usize);
    let (ny, nx) = (2 * n + 2 * pml, 2 * n + 2 + pml);
    let (y0, x0) = (pml, 2usize);
    let fine = Grid::new([1, ny, nx], [h; 3]).unwrap();
    let centre = |y: usize, x: usize| ((y as f64 + 0.5 - (y0 + n) as f64) * h, (x as f64 + 0.5 - (x0 + n) as f64) * h);
    let inside = |y: usize, x: usize| {
        let (py, px) = centre(y, x);
        py.hypot(px) < 0.014
    };
    let (g, loss) = (3000.0, 600.0);
    let mut medium = Medium::homogeneous(fine.clone(), g, loss, 1000.0);
    for ((_, y, x), v) in medium.storage_modulus_pa.indexed_iter_mut() {
        if inside(y, x) {
            *v = 2.0 * g;
        }
    }
    for ((_, y, x), v) in medium.loss_modulus_pa.indexed_iter_mut() {
        if inside(y, x) {
            *v = 2.0 * loss;
        }
    }
    let nu = 0.3;
    let bulk = 2.0 * g * (1.0 + nu) / (3.0 * (1.0 - 2.0 * nu));
    let freqs = [60.0, 90.0];
    let mut wave = ndarray::Array5::zeros((freqs.len(), 2, 1, n, n));
    let zero = Complex64::new(0.0, 0.0);
    for (f, &hz) in freqs.iter().enumerate() {
        let drive = VectorDirichlet::from_fn(&fine, |i| i[2] == 0, |_| [zero, Complex64::new(1e-5, 0.0), Complex64::new(0.6e-5, 0.0)]);
        let p = VectorProblem {
            medium: &medium,
            bulk_modulus_pa: bulk.into(),
            omega_rad_per_s: 2.0 * std::f64::consts::PI * hz,
            boundary: Boundary::absorbing(pml).with_face(2, 0, FaceCondition::Fixed),
            dirichlet: Some(drive),
        };
        let u = NavierSolver::new(&p).unwrap().solve(&[0, 1, 2].map(|_| Array3::zeros((1, ny, nx)))).unwrap();
        for (c, axis) in [1usize, 2].into_iter().enumerate() {
            for y in 0..n {
                for x in 0..n {
                    let (fy, fx) = (y0 + 2 * y, x0 + 2 * x);
                    wave[[f, c, 0, y, x]] =
                        (u[axis][[0, fy, fx]] + u[axis][[0, fy + 1, fx]] + u[axis][[0, fy, fx + 1]] + u[axis][[0, fy + 1, fx + 1]]) / 4.0;
                }
            }
        }
        let rms = (wave.slice(ndarray::s![f, .., .., .., ..]).iter().map(|v| v.norm_sqr()).sum::<f64>() / (2 * n * n) as f64).sqrt();
        for (i, v) in wave.slice_mut(ndarray::s![f, .., .., .., ..]).iter_mut().enumerate() {
            *v += mre_inverse::synthetic::complex_normal(seed, (f * 2 * n * n + i) as u64) * (rms / 30.0);
        }
    }
    let labels = Array3::from_shape_fn((1, n, n), |(_, y, x)| if inside(y0 + 2 * y + 1, x0 + 2 * x + 1) { 2u16 } else { 1 });
    let data = Measurements {
        grid: Grid::new([1, n, n], [2.0 * h; 3]).unwrap(),
        frequencies_hz: freqs.to_vec(),
        density_kg_m3: 1000.0,
        wave,
        mask: Array3::from_elem((1, n, n), true),
        noise_std: None,
        images: None,
    };
    (data, labels)
}

/// (b) Vector plane-strain data with compression waves, inverted with today's scalar model per
/// component: "misfit" on every noise seed tried.
#[test]
fn plane_strain_vector_data_are_a_misfit_for_the_scalar_model() {
    for seed in 0..3 {
        let (data, labels) = navier_plane_strain(seed);
        let c = check_at_map(&data, &labels);
        for e in &c.entries {
            eprintln!(
                "seed {seed}: f{} c{}: ratio {:.3} z {:+.2} p {:.2e} fails {}",
                e.frequency, e.component, e.ratio, e.z, e.p_value, e.fails
            );
        }
        assert_eq!(c.verdict, Verdict::Misfit, "seed {seed}");
    }
}
