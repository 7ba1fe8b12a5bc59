//! The Gauss–Newton Laplace Hessian against central differences of the adjoint gradient.

use mre_inverse::laplace::hessian as fd_hessian;
use mre_inverse::synthetic::BesselInclusion;
use mre_inverse::{
    gauss_newton, maximize, Field, ForwardModel, Gmrf, Laplace, MapOptions, Measurements, Noise, Parameterisation, Posterior, WaveForward,
    WaveGaussian,
};
use ndarray::Axis;

fn small() -> (Measurements, Field, Gmrf) {
    let spec = BesselInclusion {
        n: 24,
        voxel_m: 2.5e-3,
        frequencies_hz: vec![60.0, 90.0],
        radius_m: 0.012,
        snr: Some(10.0),
        ..Default::default()
    };
    let (data, _, _) = spec.generate().unwrap();
    let field = Field::new([1, 24, 24], 6).unwrap();
    let prior = Gmrf::new(field.nodes(), vec![((4000f64).ln(), 0.3, 2.0), ((800f64).ln(), 0.3, 2.0)]).unwrap();
    (data, field, prior)
}

/// Relative Frobenius difference of two Hessians and the largest relative difference of the
/// marginal standard deviations of their Laplace approximations.
fn compare(post: &Posterior, gn: &Laplace, x: &[f64], gn_hessian: &[f64]) -> (f64, f64, f64) {
    let fd = fd_hessian(post, x, 1e-5).unwrap();
    let frob = |a: &[f64]| a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let diff: Vec<f64> = fd.iter().zip(gn_hessian).map(|(a, b)| a - b).collect();
    let sf = Laplace::with_step(post, x, 1e-5).unwrap().marginal_std();
    let mut r: Vec<f64> = sf.iter().zip(gn.marginal_std()).map(|(a, b)| (b / a - 1.0).abs()).collect();
    r.sort_by(f64::total_cmp);
    (frob(&diff) / frob(&fd), r[r.len() / 2], r[r.len() - 1])
}

/// Where the residual vanishes (data made by the discrete model itself, known noise level,
/// at the truth) the dropped second-order term is zero: the Gauss–Newton Hessian is the exact
/// Hessian, and must match central differences of the adjoint gradient to their accuracy.
#[test]
fn gauss_newton_hessian_is_exact_at_zero_residual() {
    let (template, field, prior) = small();
    let n = field.n_nodes();
    let truth: Vec<f64> =
        (0..2 * n).map(|i| if i < n { (3000.0 + 60.0 * (i % 7) as f64).ln() } else { (600.0 + 20.0 * (i % 5) as f64).ln() }).collect();
    let forward = WaveForward::new(&template).unwrap();
    let mut data = template.clone();
    for f in 0..2 {
        let u = forward.predict(f, &field.moduli(&truth)).unwrap();
        data.wave.index_axis_mut(Axis(0), f).index_axis_mut(Axis(0), 0).assign(&u[0]);
    }
    let forward = WaveForward::new(&data).unwrap();
    let lik = WaveGaussian::new(&data, forward.predicted(), Noise::Known(vec![2e-7, 3e-7])).unwrap();
    let post = Posterior::new(&forward, &field, &prior, &lik);
    let h = gauss_newton::hessian(&forward, &field, &prior, &lik, &truth).unwrap();
    let gn = gauss_newton::laplace(&forward, &field, &prior, &lik, &truth).unwrap();
    let (rel, med, worst) = compare(&post, &gn, &truth, &h);
    eprintln!("zero residual: ‖H_GN − H_FD‖/‖H_FD‖ = {rel:.2e}; marginal std ratio − 1: median {med:.2e}, worst {worst:.2e}");
    assert!(rel < 1e-4, "relative Hessian difference {rel}");
    assert!(worst < 1e-3, "marginal std differs by {worst}");
}

/// At the MAP of noisy data the Gauss–Newton form drops `Re⟨∇_u ℓ, ∂²u/∂θ²⟩`, whose residual
/// factor is noise: the Hessians must still agree closely overall (printed for the record).
#[test]
fn gauss_newton_hessian_is_close_at_the_map_of_noisy_data() {
    let (data, field, prior) = small();
    let forward = WaveForward::new(&data).unwrap();
    for noise in [Noise::Inferred, Noise::Known(vec![2e-7, 3e-7])] {
        let lik = WaveGaussian::new(&data, forward.predicted(), noise.clone()).unwrap();
        let post = Posterior::new(&forward, &field, &prior, &lik);
        let opts = MapOptions { max_iterations: 500, gradient_tolerance: 1e-6, ..MapOptions::default() };
        let map = maximize(&post, &field.constant(4000.0, 800.0), &opts, None).unwrap();
        let h = gauss_newton::hessian(&forward, &field, &prior, &lik, &map.x).unwrap();
        let gn = gauss_newton::laplace(&forward, &field, &prior, &lik, &map.x).unwrap();
        let (rel, med, worst) = compare(&post, &gn, &map.x, &h);
        eprintln!(
            "{noise:?}: MAP converged {}; ‖H_GN − H_FD‖/‖H_FD‖ = {rel:.2e}; marginal std ratio − 1: median {med:.2e}, worst {worst:.2e}",
            map.converged
        );
        assert!(rel < 0.05, "{noise:?}: relative Hessian difference {rel}");
    }
}
