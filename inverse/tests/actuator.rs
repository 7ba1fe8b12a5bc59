//! The full-domain (actuator) forward model: exact gradients, and moduli recovered from
//! data made on a finer grid by the wave solver with its own actuator and absorbing layers.

use mre_inverse::map::{maximize, MapOptions};
use mre_inverse::synthetic::complex_normal;
use mre_inverse::{
    ActuatorDrive, ActuatorForward, EncodedImages, ForwardModel, ImageGaussian, IndependentNormal, LogDensity, Measurements, Noise,
    Parameterisation, Posterior, Regions, WaveGaussian,
};
use mre_solver::model::phantom::Grid;
use mre_solver::units::Axis;
use mre_solver::wave::{Boundary, Dirichlet, Face, FaceCondition, Medium, ScalarProblem, ScalarSolver, Side};
use ndarray::{Array3, Array5, Array6};
use num_complex::Complex64;

const G_BACKGROUND: f64 = 3000.0;
const G_INCLUSION: f64 = 7000.0;
const LOSS: f64 = 0.1;

/// The scene: a square of `n` coarse voxels of `h` m; a disc of radius `radius` at the centre.
fn inside(p: (f64, f64), n: usize, h: f64, radius: f64) -> bool {
    let c = 0.5 * n as f64 * h;
    (p.0 - c).powi(2) + (p.1 - c).powi(2) <= radius * radius
}

/// Data on `n`² coarse voxels from a solve on a grid `refine` (odd) times finer, driven on the
/// x-low column with a uniform displacement, absorbing layers of `pml` coarse voxels inside the
/// other three edges (as the simulator's `source = "wave"` does); the mask leaves out the
/// absorbing layers and the driven column. Complex Gaussian noise at `snr` (mean |u| / σ).
fn data(n: usize, refine: usize, pml: usize, freqs: &[f64], snr: f64) -> (Measurements, Array3<u16>) {
    let h = 3e-3;
    let radius = 0.2 * n as f64 * h;
    let nf_grid = n * refine;
    let fine = Grid::new([1, nf_grid, nf_grid], [h, h / refine as f64, h / refine as f64]).unwrap();
    let hf = h / refine as f64;
    let mut medium = Medium::homogeneous(fine.clone(), G_BACKGROUND, LOSS * G_BACKGROUND, 1000.0);
    for ((_, y, x), g) in medium.storage_modulus_pa.indexed_iter_mut() {
        if inside(((y as f64 + 0.5) * hf, (x as f64 + 0.5) * hf), n, h, radius) {
            *g = G_INCLUSION;
        }
    }
    let gs = medium.storage_modulus_pa.clone();
    medium.loss_modulus_pa = gs.mapv(|g| LOSS * g);
    let boundary = Boundary::absorbing(pml * refine).with_face(2, 0, FaceCondition::Free);
    let mut wave = Array5::<Complex64>::zeros((freqs.len(), 1, 1, n, n));
    for (fi, &f) in freqs.iter().enumerate() {
        let p = ScalarProblem::new(&medium, 2.0 * std::f64::consts::PI * f, boundary.clone()).with_dirichlet(Dirichlet::plane(
            &fine,
            2,
            0,
            Complex64::new(10e-6, 0.0),
        ));
        let u = ScalarSolver::new(&p).unwrap().solve(&Array3::zeros((1, nf_grid, nf_grid))).unwrap();
        // coarse voxel centres coincide with fine voxel centres for odd `refine`
        for y in 0..n {
            for x in 0..n {
                wave[[fi, 0, 0, y, x]] = u[[0, y * refine + refine / 2, x * refine + refine / 2]];
            }
        }
    }
    let mask = Array3::from_shape_fn((1, n, n), |(_, y, x)| y >= pml && y < n - pml && x >= 1 && x < n - pml);
    let labels = Array3::from_shape_fn(
        (1, n, n),
        |(_, y, x)| {
            if inside(((y as f64 + 0.5) * h, (x as f64 + 0.5) * h), n, h, radius) {
                2
            } else {
                1
            }
        },
    );
    let mut noise_std = Vec::new();
    for fi in 0..freqs.len() {
        let mean: f64 = wave.iter().skip(fi * n * n).take(n * n).map(|u| u.norm()).sum::<f64>() / (n * n) as f64;
        let sigma = mean / snr;
        noise_std.push(sigma);
        for (i, u) in wave.iter_mut().skip(fi * n * n).take(n * n).enumerate() {
            *u += complex_normal(17, (fi * n * n + i) as u64) * sigma;
        }
    }
    let m = Measurements {
        grid: Grid::new([1, n, n], [h, h, h]).unwrap(),
        frequencies_hz: freqs.to_vec(),
        density_kg_m3: 1000.0,
        wave,
        mask,
        noise_std: Some(noise_std),
        images: None,
    };
    (m, labels)
}

fn drive() -> ActuatorDrive {
    ActuatorDrive { faces: vec![ActuatorDrive::parse_face("x-").unwrap()], pml_voxels: 8 }
}

/// The adjoint gradient of `d` at `theta` against central finite differences, relative to |∇|.
fn check_gradient(d: &dyn LogDensity, theta: &[f64], step: f64, tol: f64) {
    let (err, i) = mre_inverse::testing::gradient_error(d, theta, step).unwrap();
    assert!(err < tol, "parameter {i}: adjoint gradient differs from finite differences by {err:.2e} of |∇|");
}

#[test]
fn actuator_gradient_matches_finite_differences_for_wave_and_image_likelihoods() {
    let (mut data, labels) = data(24, 1, 6, &[60.0, 90.0], 20.0);
    // images of the wave for the image likelihood (the profiled amplitude is not its optimum,
    // so the full adjoint source is needed there)
    let xi = [Complex64::from_polar(2.0e5, -0.5), Complex64::from_polar(1.5e5, 0.3)];
    let s = data.wave.shape().to_vec();
    let images = Array6::from_shape_fn((s[0], s[1], 4, s[2], s[3], s[4]), |(f, c, k, z, y, x)| {
        let th = 2.0 * std::f64::consts::PI * k as f64 / 4.0;
        let phase = (xi[f] * Complex64::from_polar(1.0, th) * data.wave[[f, c, z, y, x]]).re;
        Complex64::from_polar(1.0 + 0.01 * x as f64, phase)
    });
    data.images = Some(EncodedImages { images, encoding_rad_per_m: xi.to_vec() });
    let forward = ActuatorForward::new(&data, &drive()).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 800.0, 1.0).unwrap();
    let theta = vec![(3500f64).ln(), (5000f64).ln(), (500f64).ln(), (1500f64).ln()];
    for noise in [Noise::Inferred, Noise::Known(vec![2e-7, 3e-7])] {
        let lik = WaveGaussian::new(&data, forward.predicted(), noise).unwrap();
        check_gradient(&Posterior::new(&forward, &regions, &prior, &lik), &theta, 1e-5, 2e-6);
    }
    let lik = ImageGaussian::new(&data, forward.predicted(), Noise::Inferred).unwrap();
    check_gradient(&Posterior::new(&forward, &regions, &prior, &lik), &theta, 1e-5, 2e-6);
}

#[test]
fn actuator_model_recovers_moduli_from_finer_grid_data() {
    let (data, labels) = data(48, 3, 8, &[50.0, 70.0, 90.0], 30.0);
    let forward = ActuatorForward::new(&data, &drive()).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 400.0, 1.0).unwrap();
    let lik = WaveGaussian::new(&data, forward.predicted(), Noise::Inferred).unwrap();
    let post = Posterior::new(&forward, &regions, &prior, &lik);
    let x0 = vec![(4000f64).ln(), (4000f64).ln(), (400f64).ln(), (400f64).ln()];
    let map = maximize(&post, &x0, &MapOptions::default(), None).unwrap();
    let g: Vec<f64> = map.x.iter().map(|v| v.exp()).collect();
    eprintln!("MAP G' {:.1} / {:.1} Pa, G'' {:.1} / {:.1} Pa after {} evaluations", g[0], g[1], g[2], g[3], map.evaluations);
    assert!((g[0] / G_BACKGROUND - 1.0).abs() < 0.02, "background G' {}", g[0]);
    assert!((g[1] / G_INCLUSION - 1.0).abs() < 0.05, "inclusion G' {}", g[1]);
    // the profiled drive reproduces the solver's 10 µm drive up to the half-voxel offset of the planes
    let amps = forward.drive_amplitudes(0, &regions.moduli(&map.x)).unwrap();
    assert!((amps[0].norm() / 10e-6 - 1.0).abs() < 0.1, "drive amplitude {:?}", amps[0]);
}

#[test]
fn actuator_model_refuses_bad_drives() {
    let (data, _) = data(24, 1, 6, &[60.0], 20.0);
    let e = ActuatorForward::new(&data, &ActuatorDrive { faces: vec![], pml_voxels: 8 }).unwrap_err().to_string();
    assert!(e.contains("driven face"), "{e}");
    let e =
        ActuatorForward::new(&data, &ActuatorDrive { faces: vec![Face::new(Axis::Z, Side::Low)], pml_voxels: 8 }).unwrap_err().to_string();
    assert!(e.contains("at least 3 voxels"), "{e}");
    let e =
        ActuatorForward::new(&data, &ActuatorDrive { faces: vec![Face::new(Axis::X, Side::Low)], pml_voxels: 0 }).unwrap_err().to_string();
    assert!(e.contains("absorbing"), "{e}");
    assert_eq!(ActuatorDrive::parse_face("y+").map(Face::index), Some((1, 1)));
    assert_eq!(ActuatorDrive::parse_face("y-high"), ActuatorDrive::parse_face("y+"));
    assert_eq!(ActuatorDrive::parse_face("w+"), None);
}
