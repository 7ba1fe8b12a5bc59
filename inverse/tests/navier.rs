//! The Navier (vector) forward model of the inversion: adjoint gradient against finite
//! differences, recovery of region moduli from plane-strain data made on a 2× finer grid,
//! and its refusals. Release mode (`scripts/test.sh` runs this file in release).

use mre_inverse::bayes::{infer, BayesOptions, BayesResult, Sampler};
use mre_inverse::independence::IndependenceOptions;
use mre_inverse::navier::{navier_supported, NavierForward};
use mre_inverse::plane_strain::PlaneStrainInclusion;
use mre_inverse::{
    Field, ForwardModel, Gmrf, IndependentNormal, InverseError, LogDensity, Measurements, Noise, Parameterisation, Posterior, Regions,
    WaveForward, WaveGaussian,
};
use mre_solver::model::phantom::Grid;
use mre_solver::wave::{Boundary, Medium, NavierSolver, VectorDirichlet, VectorProblem};
use ndarray::Axis;
use num_complex::Complex64;

const BACKGROUND: (f64, f64) = (3800.0, 600.0);

fn spec(n: usize, nu: f64, inclusion: (f64, f64), snr: Option<f64>, frequencies_hz: Vec<f64>) -> PlaneStrainInclusion {
    PlaneStrainInclusion {
        n,
        voxel_m: 1.5e-3,
        frequencies_hz,
        background_pa: BACKGROUND,
        inclusion_pa: inclusion,
        radius_m: 0.2 * n as f64 * 1.5e-3,
        bulk_modulus_pa: PlaneStrainInclusion::bulk_for_poisson(BACKGROUND.0, nu),
        density_kg_m3: 1000.0,
        snr,
        seed: 3,
    }
}

/// The forward model of the test: ν = 0.3 with its bulk modulus, ν = 0.4999 with the nearly
/// incompressible default (the model is not told the bulk modulus).
fn forward_for(data: &Measurements, nu: f64, k: f64) -> NavierForward {
    if nu < 0.45 {
        NavierForward::with_bulk_modulus(data, "xy", k).unwrap()
    } else {
        NavierForward::new(data, "xy").unwrap()
    }
}

fn check_gradient(d: &dyn LogDensity, theta: &[f64], step: f64, tol: f64) {
    let (err, i) = mre_inverse::testing::gradient_error(d, theta, step).unwrap();
    eprintln!("adjoint vs central differences (relative step {step:e}): {err:.2e} of |∇| (parameter {i})");
    assert!(err < tol, "parameter {i}: adjoint gradient differs from finite differences by {err:.2e} of |∇|");
}

#[test]
fn regions_and_field_gradients_match_finite_differences() {
    for nu in [0.3, 0.4999] {
        let s = spec(16, nu, (7600.0, 1200.0), Some(30.0), vec![80.0, 110.0]);
        let (data, labels, _) = s.generate().unwrap();
        let forward = forward_for(&data, nu, s.bulk_modulus_pa);
        let regions = Regions::new(&labels, &data.mask).unwrap();
        let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 800.0, 1.0).unwrap();
        // Off the truth so the likelihood gradient is large.
        let theta = vec![(3300f64).ln(), (9000f64).ln(), (500f64).ln(), (1500f64).ln()];
        for noise in [Noise::Inferred, Noise::Known(vec![2e-7, 3e-7])] {
            let lik = WaveGaussian::new(&data, forward.predicted(), noise).unwrap();
            let post = Posterior::new(&forward, &regions, &prior, &lik);
            check_gradient(&post, &theta, 1e-5, 1e-5);
        }
        let field = Field::new([1, 16, 16], 5).unwrap();
        let n = field.n_nodes();
        let prior = Gmrf::new(field.nodes(), vec![((4000f64).ln(), 0.3, 2.0), ((800f64).ln(), 0.3, 2.0)]).unwrap();
        let lik = WaveGaussian::new(&data, forward.predicted(), Noise::Inferred).unwrap();
        let post = Posterior::new(&forward, &field, &prior, &lik);
        let theta: Vec<f64> =
            (0..2 * n).map(|i| if i < n { (3000.0 + 90.0 * i as f64).ln() } else { (700.0 - 8.0 * (i - n) as f64).ln() }).collect();
        check_gradient(&post, &theta, 1e-5, 1e-5);
    }
}

/// The linearised voxel sensitivities (one factorisation, one solve per voxel) against central
/// differences of the full solution, for a voxel inside the inclusion, one at its edge and one
/// in the background, with the bulk modulus given and nearly incompressible.
#[test]
fn voxel_sensitivities_match_differences_of_the_solution() {
    for nu in [0.3, 0.4999] {
        let s = spec(16, nu, (7600.0, 1200.0), None, vec![90.0]);
        let (data, labels, _) = s.generate().unwrap();
        let forward = forward_for(&data, nu, s.bulk_modulus_pa);
        let regions = Regions::new(&labels, &data.mask).unwrap();
        let moduli = regions.moduli(&[(3500f64).ln(), (8000f64).ln(), (500f64).ln(), (1100f64).ln()]);
        let n = 16;
        let voxels = [8 * n + 8, 8 * n + 5, 4 * n + 11];
        let du = forward.storage_sensitivities(0, &moduli, &voxels).unwrap();
        for (k, &v) in voxels.iter().enumerate() {
            let g = moduli.storage_pa.as_slice().unwrap()[v];
            let h = 1e-4 * g;
            let at = |d: f64| {
                let mut m = moduli.clone();
                m.storage_pa.as_slice_mut().unwrap()[v] = g + d;
                forward.predict(0, &m).unwrap()
            };
            let (up, down) = (at(h), at(-h));
            let (mut err, mut norm) = (0.0f64, 0.0f64);
            for c in 0..2 {
                for ((a, b), d) in up[c].iter().zip(down[c].iter()).zip(du[k][c].iter()) {
                    let fd = (a - b) / (2.0 * h);
                    err = err.max((fd - d).norm());
                    norm = norm.max(fd.norm());
                }
            }
            eprintln!("ν {nu}, voxel {v}: linearised vs central differences {:.2e} of max |∂u/∂G'| {norm:.2e} m/Pa", err / norm);
            assert!(norm > 0.0 && err < 1e-6 * norm, "ν {nu}, voxel {v}: {:.2e} of the largest sensitivity", err / norm);
        }
    }
}

#[test]
fn symbolic_analysis_is_shared_between_evaluations() {
    let s = spec(12, 0.4999, (7600.0, 1200.0), None, vec![80.0]);
    let (data, labels, _) = s.generate().unwrap();
    let forward = NavierForward::new(&data, "xy").unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let a = forward.predict(0, &regions.moduli(&regions.constant(3000.0, 500.0))).unwrap();
    let b = forward.predict(0, &regions.moduli(&regions.constant(3000.0, 500.0))).unwrap();
    assert_eq!(a, b, "deterministic");
    // The solver API behind it: a refactored solver shares the analysis.
    let grid = Grid::new([1, 10, 11], [1e-3; 3]).unwrap();
    let m = Medium::homogeneous(grid.clone(), 3e3, 3e2, 1e3);
    let d = VectorDirichlet::outer_layer(&grid, |_| [Complex64::new(1e-6, 0.0); 3]);
    let p =
        VectorProblem { medium: &m, bulk_modulus_pa: 1e5.into(), omega_rad_per_s: 500.0, boundary: Boundary::free(), dirichlet: Some(d) };
    let first = NavierSolver::with_threads(&p, 1).unwrap();
    let m2 = Medium::homogeneous(grid, 5e3, 3e2, 1e3);
    let second = first.refactored(&VectorProblem { medium: &m2, ..p.clone() }).unwrap();
    assert!(first.shares_symbolic(&second));
}

#[test]
fn the_kept_factorisation_is_used_only_for_the_same_moduli_and_bulk_modulus() {
    let s = spec(12, 0.3, (7600.0, 1200.0), None, vec![80.0, 120.0]);
    let (data, labels, _) = s.generate().unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let kept = NavierForward::with_bulk_modulus(&data, "xy", 1e5).unwrap();
    let fresh = || NavierForward::with_bulk_modulus(&data, "xy", 1e5).unwrap();
    let m1 = regions.moduli(&regions.constant(3000.0, 500.0));
    let m2 = regions.moduli(&regions.constant(3000.0, 510.0));
    let m3 = mre_inverse::Moduli { bulk_modulus_pa: Some(2e5), ..m1.clone() };
    let m4 = mre_inverse::Moduli { bulk_modulus_pa: Some(1e5), ..m1.clone() };
    // Every sequence of calls on one model gives what a new model gives: a changed G'' or K,
    // the other frequency in between, K given as the model's own value.
    for (f, m) in [(0, &m1), (0, &m1), (1, &m1), (0, &m2), (0, &m3), (1, &m3), (0, &m4), (0, &m1)] {
        assert_eq!(kept.predict(f, m).unwrap(), fresh().predict(f, m).unwrap(), "frequency {f}, {:?}", m.bulk_modulus_pa);
    }
    // The gradient's adjoint and the tangents reuse it as well.
    let theta = regions.constant(3000.0, 500.0);
    let param: &dyn Parameterisation = &regions;
    let (u, j) = kept.tangents(1, param, &theta, 1e-4).unwrap();
    let (u2, j2) = fresh().tangents(1, param, &theta, 1e-4).unwrap();
    assert!(u == u2 && j == j2);
}

/// The start point `mre-sim invert --method bayes` takes: the median G' and G'' of a
/// Gaussian-filtered AHI (σ = 2 voxels) over the voxels, frequencies and components. (The
/// likelihood of multi-wavelength data at SNR 30 is multimodal: from a constant 3 kPa start
/// the MAP search can end in a local optimum.)
fn ahi_start(m: &Measurements) -> (f64, f64) {
    use mre_solver::classic;
    let h = m.grid.voxel_size_m;
    let filter = classic::Filter::recommended(h[1]);
    let (mut gs, mut ls) = (Vec::new(), Vec::new());
    for (f, hz) in m.frequencies_hz.iter().enumerate() {
        let comps: Vec<_> =
            m.wave.index_axis(Axis(0), f).outer_iter().map(|u| classic::filter_wave(&u.to_owned(), h, &filter).unwrap()).collect();
        let views: Vec<_> = comps.iter().map(|c| c.view()).collect();
        let stack = ndarray::stack(Axis(0), &views).unwrap();
        let e = classic::ahi(stack.view(), &m.mask, h, 2.0 * std::f64::consts::PI * hz, m.density_kg_m3).unwrap();
        gs.extend(e.storage_modulus_pa.iter().copied().filter(|g| g.is_finite() && *g > 0.0));
        ls.extend(e.loss_modulus_pa.iter().copied().filter(|g| g.is_finite() && *g > 0.0));
    }
    gs.sort_by(f64::total_cmp);
    ls.sort_by(f64::total_cmp);
    let (g, l) = (gs[gs.len() / 2], ls[ls.len() / 2]);
    eprintln!("start (median of a filtered AHI): G' {g:.1} Pa, G'' {l:.1} Pa");
    (g, l)
}

/// Regions posterior of plane-strain data from the Navier solver on the 2× finer grid,
/// SNR 30, noise level not given; independence Metropolis–Hastings with the full model,
/// started where `mre-sim invert` starts. The 90 % intervals are printed, not asserted: without
/// an approximation-error model they are narrower than the discretisation bias (measured:
/// they miss the truth).
fn recover(nu: f64, inclusion: (f64, f64)) -> ([f64; 2], [bool; 2], BayesResult) {
    let s = spec(32, nu, inclusion, Some(30.0), vec![80.0, 120.0]);
    let (data, labels, _) = s.generate().unwrap();
    let forward = forward_for(&data, nu, s.bulk_modulus_pa);
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 3000.0, 1000.0, 2.0).unwrap();
    let lik = WaveGaussian::new(&data, forward.predicted(), Noise::Inferred).unwrap();
    let post = Posterior::new(&forward, &regions, &prior, &lik);
    let opts = BayesOptions {
        sampler: Sampler::Independence(IndependenceOptions { chains: 2, draws: 60, seed: 7, ..Default::default() }),
        ..BayesOptions::default()
    };
    let (g0, l0) = ahi_start(&data);
    let r = infer(&post, &regions.constant(g0, l0), &opts, None, None).unwrap();
    let draws = r.draws();
    let mut err = [0.0; 2];
    let mut covered = [false; 2];
    for (i, truth) in [BACKGROUND.0, inclusion.0].into_iter().enumerate() {
        let mut v: Vec<f64> = draws.iter().map(|t| t[i]).collect();
        let mean = v.iter().map(|t| t.exp()).sum::<f64>() / v.len() as f64;
        v.sort_by(f64::total_cmp);
        let (lo, hi) = (mre_inverse::diagnostics::quantile(&v, 0.05).exp(), mre_inverse::diagnostics::quantile(&v, 0.95).exp());
        err[i] = mean / truth - 1.0;
        covered[i] = lo <= truth && truth <= hi;
        eprintln!("ν = {nu}: region {i} G' {mean:.1} Pa (90 %: {lo:.1}–{hi:.1}), truth {truth} Pa, error {:+.2} %", 100.0 * err[i]);
    }
    eprintln!("ν = {nu}: acceptance {:?}, evaluations {}, {:.1} s", r.acceptance, r.evaluations, r.wall_time_s);
    (err, covered, r)
}

#[test]
fn recovers_regions_from_plane_strain_data_nu_0_3() {
    let (err, covered, r) = recover(0.3, (7600.0, 1200.0));
    assert!(err.iter().all(|e| e.abs() < 0.05), "G' errors {err:?}");
    eprintln!("90 % intervals cover the truth: {covered:?}");
    assert!(r.map.converged);
}

#[test]
fn recovers_regions_from_plane_strain_data_nu_0_4999_without_the_bulk_modulus() {
    let (err, covered, r) = recover(0.4999, (19000.0, 3000.0));
    // Measured: background +3.4 %, inclusion +6.9 % (no approximation-error model for the
    // Navier model yet: the label staircase and the discretisation are taken as exact).
    assert!(err[0].abs() < 0.05 && err[1].abs() < 0.10, "G' errors {err:?}");
    eprintln!("90 % intervals cover the truth: {covered:?}");
    assert!(r.map.converged);
}

/// The scalar model on the same ν = 0.3 data (each component an independent Helmholtz field):
/// the comparison the issue describes. Prints its error; asserts only that it is worse.
#[test]
fn scalar_model_on_compressible_plane_strain_data_is_biased() {
    let s = spec(32, 0.3, (7600.0, 1200.0), Some(30.0), vec![80.0, 120.0]);
    let (data, labels, _) = s.generate().unwrap();
    let forward = WaveForward::new(&data).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 3000.0, 1000.0, 2.0).unwrap();
    let lik = WaveGaussian::new(&data, forward.predicted(), Noise::Inferred).unwrap();
    let post = Posterior::new(&forward, &regions, &prior, &lik);
    let (g0, l0) = ahi_start(&data);
    let map = mre_inverse::maximize(&post, &regions.constant(g0, l0), &BayesOptions::default().map, None).unwrap();
    let bg = map.x[0].exp();
    let inc = map.x[1].exp();
    eprintln!(
        "scalar model MAP: background G' {bg:.1} Pa (truth {}), inclusion {inc:.1} Pa (truth 7600): errors {:+.1} %, {:+.1} %",
        BACKGROUND.0,
        100.0 * (bg / BACKGROUND.0 - 1.0),
        100.0 * (inc / 7600.0 - 1.0)
    );
    // Measured: background +3.8 %, inclusion −28.5 % (the Navier model: +2.1 %, +3.6 %).
    assert!((inc / 7600.0 - 1.0).abs() > 0.15, "the scalar model fits compressible data: inclusion {inc}");
}

#[test]
fn refuses_data_without_every_in_plane_component() {
    let s = spec(12, 0.3, (7600.0, 1200.0), None, vec![80.0]);
    let (data, _, _) = s.generate().unwrap();
    let one = Measurements { wave: data.wave.select(Axis(1), &[0]), ..data.clone() };
    let e = NavierForward::new(&one, "x").unwrap_err().to_string();
    assert!(e.contains("component") && e.contains("\"yx\""), "{e}");
    assert!(!navier_supported([1, 12, 12], "xz"));
    assert!(navier_supported([1, 12, 12], "xy"));
    assert!(navier_supported([4, 12, 12], "xyz"));
    assert!(!navier_supported([4, 12, 12], "xy"));
    let e = NavierForward::new(&data, "xyz").unwrap_err().to_string();
    assert!(e.contains("3 components, /wave has 2"), "{e}");
    let mut nan = data.clone();
    nan.wave[[0, 1, 0, 5, 5]] = Complex64::new(f64::NAN, 0.0);
    let e = NavierForward::new(&nan, "xy").unwrap_err().to_string();
    assert!(e.contains("/wave") && e.contains("non-finite"), "{e}");
}

#[test]
fn a_sealed_incompressible_problem_is_reported_not_solved() {
    // Library use: every outer face clamped, no pressure gauge, K/G = 1e13: the hydrostatic
    // pressure mode is undetermined. The solver's factorisation check reports it.
    let grid = Grid::new([1, 12, 12], [1e-3; 3]).unwrap();
    let m = Medium::homogeneous(grid.clone(), 3e3, 3e2, 1e3);
    let d = VectorDirichlet::outer_layer(&grid, |i| {
        [Complex64::new(0.0, 0.0), Complex64::new(1e-6 * i[2] as f64, 0.0), Complex64::new(0.0, 0.0)]
    });
    let p =
        VectorProblem { medium: &m, bulk_modulus_pa: 3e16.into(), omega_rad_per_s: 300.0, boundary: Boundary::fixed(), dirichlet: Some(d) };
    let e = NavierSolver::with_threads(&p, 1).unwrap_err().to_string();
    eprintln!("{e}");
    assert!(e.to_lowercase().contains("singular"), "{e}");
    // The forward model refuses such a bulk modulus before solving.
    let s = spec(12, 0.3, (7600.0, 1200.0), None, vec![80.0]);
    let (data, labels, _) = s.generate().unwrap();
    let forward = NavierForward::with_bulk_modulus(&data, "xy", 1e15).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    match forward.predict(0, &regions.moduli(&regions.constant(3000.0, 500.0))) {
        Err(InverseError::NonFinite(m)) => assert!(m.contains("incompressible"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The boundary-noise columns of the approximation-error model are the model's response to
/// the measured values: `T n` ([`NavierForward::boundary_response`], one column per source
/// voxel and component) equals the prediction from the noise field `n` itself
/// ([`NavierForward::noise_response`]) on every predicted voxel, and no voxel outside the
/// sources changes the prediction.
#[test]
fn boundary_response_is_the_prediction_from_the_boundary_values() {
    let s = spec(14, 0.3, (7600.0, 1200.0), None, vec![80.0]);
    let (data, labels, _) = s.generate().unwrap();
    let forward = NavierForward::with_bulk_modulus(&data, "xy", s.bulk_modulus_pa).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let moduli = regions.moduli(&[(3300f64).ln(), (9000f64).ln(), (500f64).ln(), (1500f64).ln()]);
    let sources = forward.boundary_sources();
    let voxels: Vec<usize> = sources.iter().map(|&(v, _)| v).collect();
    let rows: Vec<usize> = forward.predicted().iter().enumerate().filter(|(_, &p)| p).map(|(i, _)| i).collect();
    assert!(sources.iter().any(|&(_, p)| p) && sources.iter().any(|&(_, p)| !p), "both kinds of source voxel");
    let t = forward.boundary_response(0, &moduli, &voxels, &rows).unwrap();
    // A noise field on every voxel (including voxels that are not sources).
    let sh = data.mask.raw_dim();
    let noise: Vec<ndarray::Array3<Complex64>> = (0..2)
        .map(|c| {
            let mut k = 0u64;
            ndarray::Array3::from_shape_fn(sh, |_| {
                k += 1;
                mre_inverse::synthetic::complex_normal(17 + c, k)
            })
        })
        .collect();
    let replicates = vec![vec![noise.clone()]];
    let direct = &forward.noise_response(&moduli, &replicates).unwrap()[0][0];
    let np = rows.len();
    let mut worst: f64 = 0.0;
    let scale = direct.iter().flat_map(|a| a.iter()).map(|v| v.norm()).fold(0.0, f64::max);
    for c2 in 0..2 {
        for (p, &i) in rows.iter().enumerate() {
            let mut sum = Complex64::new(0.0, 0.0);
            for (s, &v) in voxels.iter().enumerate() {
                for (c, n) in noise.iter().enumerate() {
                    sum += t[s * 2 + c][c2 * np + p] * n.as_slice().unwrap()[v];
                }
            }
            worst = worst.max((sum - direct[c2].as_slice().unwrap()[i]).norm());
        }
    }
    eprintln!("T n against the prediction from n: largest difference {:.2e} of {scale:.2e}", worst);
    assert!(worst < 1e-9 * scale, "{worst:e} of {scale:e}");
}

/// The iterative solver behind the Navier model (3-D grids above 16³) against the sparse LU on
/// the same 3-D data: predictions, the posterior's value and adjoint gradient, and the
/// Gauss–Newton tangents agree to the solver's tolerance.
#[test]
fn iterative_and_direct_3d_models_agree() {
    use mre_solver::wave::SolverChoice;
    let n = 12;
    let h = 2e-3;
    let grid = Grid::new([n; 3], [h; 3]).unwrap();
    // A shear wave along x polarised along y, a second one along z polarised along x, and a
    // little noise: three components, not a solution of the model.
    let k = 2.0 * std::f64::consts::PI / (10.0 * h);
    let mut rng = 1u64;
    let mut noise = || {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2e-8
    };
    let wave = ndarray::Array5::from_shape_fn((1, 3, n, n, n), |(_, c, z, _, x)| {
        let v = match c {
            1 => Complex64::new(0.0, k * x as f64 * h).exp() * 1e-6,
            0 => Complex64::new(0.0, k * z as f64 * h).exp() * 5e-7,
            _ => Complex64::new(0.0, 0.0),
        };
        v + Complex64::new(noise(), noise())
    });
    let data = Measurements {
        grid,
        frequencies_hz: vec![60.0],
        density_kg_m3: 1000.0,
        wave,
        mask: ndarray::Array3::from_elem((n, n, n), true),
        noise_std: None,
        images: None,
    };
    let c = (n as f64 - 1.0) / 2.0;
    let labels = ndarray::Array3::from_shape_fn((n, n, n), |(z, y, x)| {
        let r2 = (z as f64 - c).powi(2) + (y as f64 - c).powi(2) + (x as f64 - c).powi(2);
        if r2 <= 9.0 {
            2u16
        } else {
            1
        }
    });
    let direct = NavierForward::new(&data, "xyz").unwrap().with_solver(SolverChoice::Direct);
    let iterative = NavierForward::new(&data, "xyz").unwrap().with_solver(SolverChoice::Iterative);
    assert!(!direct.is_iterative() && iterative.is_iterative());
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let theta = vec![(3300f64).ln(), (7000f64).ln(), (500f64).ln(), (1500f64).ln()];
    let moduli = regions.moduli(&theta);
    let rel = |a: &[ndarray::Array3<Complex64>], b: &[ndarray::Array3<Complex64>]| {
        let num: f64 = a.iter().zip(b).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).norm_sqr())).sum();
        let den: f64 = b.iter().flat_map(|b| b.iter().map(|y| y.norm_sqr())).sum();
        (num / den).sqrt()
    };
    let (pd, pi) = (direct.predict(0, &moduli).unwrap(), iterative.predict(0, &moduli).unwrap());
    let e = rel(&pi, &pd);
    eprintln!("prediction: {e:.1e}");
    assert!(e < 1e-8, "prediction differs by {e:e}");
    let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 800.0, 1.0).unwrap();
    let lik = WaveGaussian::new(&data, direct.predicted(), Noise::Inferred).unwrap();
    let (post_d, post_i) = (Posterior::new(&direct, &regions, &prior, &lik), Posterior::new(&iterative, &regions, &prior, &lik));
    let (mut gd, mut gi) = (vec![0.0; 4], vec![0.0; 4]);
    let (vd, vi) = (post_d.logp_grad(&theta, &mut gd).unwrap(), post_i.logp_grad(&theta, &mut gi).unwrap());
    let norm = gd.iter().map(|g| g * g).sum::<f64>().sqrt();
    let eg = gd.iter().zip(&gi).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt() / norm;
    eprintln!("log density {vd} vs {vi}; gradient {eg:.1e} of |∇| = {norm:.2e}");
    assert!((vd - vi).abs() < 1e-6 * vd.abs().max(1.0), "log density {vd} vs {vi}");
    assert!(eg < 1e-7, "gradient differs by {eg:e} of its norm");
    let (ud, td) = direct.tangents(0, &regions, &theta, 1e-4).unwrap();
    let (ui, ti) = iterative.tangents(0, &regions, &theta, 1e-4).unwrap();
    assert!(rel(&ui, &ud) < 1e-8);
    for (kk, (a, b)) in ti.iter().zip(&td).enumerate() {
        let e = rel(a, b);
        eprintln!("tangent {kk}: {e:.1e}");
        assert!(e < 1e-7, "tangent {kk} differs by {e:e}");
    }
}
