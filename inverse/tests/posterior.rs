//! The log posterior and its adjoint gradient.

use mre_inverse::synthetic::BesselInclusion;
use mre_inverse::{
    EncodedImages, Field, Gmrf, ImageGaussian, IndependentNormal, LogDensity, Measurements, ModelErrorCovariance, Noise, Parameterisation,
    Posterior, Regions, WaveForward, WaveGaussian,
};
use ndarray::{Array3, Array6, Axis};
use num_complex::Complex64;

fn small() -> (Measurements, Array3<u16>) {
    let spec = BesselInclusion {
        n: 24,
        voxel_m: 2.5e-3,
        frequencies_hz: vec![60.0, 90.0],
        radius_m: 0.012,
        snr: Some(10.0),
        ..Default::default()
    };
    let (data, labels, _) = spec.generate().unwrap();
    (data, labels)
}

/// The adjoint gradient of `d` at `theta` against central finite differences, relative to |∇|.
fn check_gradient(d: &dyn LogDensity, theta: &[f64], step: f64, tol: f64) {
    let (err, i) = mre_inverse::testing::gradient_error(d, theta, step).unwrap();
    assert!(err < tol, "parameter {i}: adjoint gradient differs from finite differences by {err:.2e} of |∇|");
}

#[test]
fn regions_gradient_matches_finite_differences_known_and_inferred_noise() {
    let (data, labels) = small();
    let forward = WaveForward::new(&data).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 800.0, 1.0).unwrap();
    // Off the truth so the likelihood gradient is large.
    let theta = vec![(3500f64).ln(), (5000f64).ln(), (500f64).ln(), (1500f64).ln()];
    for noise in [Noise::Inferred, Noise::Known(vec![2e-7, 3e-7])] {
        let lik = WaveGaussian::new(&data, &interior(&forward), noise).unwrap();
        let post = Posterior::new(&forward, &regions, &prior, &lik);
        check_gradient(&post, &theta, 1e-5, 2e-6);
    }
}

#[test]
fn boundary_noise_likelihood_gradient_matches_finite_differences() {
    let (data, labels) = small();
    let forward = WaveForward::new(&data).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 800.0, 1.0).unwrap();
    let at = regions.moduli(&[(3000f64).ln(), (6000f64).ln(), (600f64).ln(), (1200f64).ln()]);
    let boundary = std::sync::Arc::new(ModelErrorCovariance::boundary_noise(&forward, &at, &data.mask).unwrap());
    let theta = vec![(3500f64).ln(), (5000f64).ln(), (500f64).ln(), (1500f64).ln()];
    for noise in [Noise::Inferred, Noise::Known(vec![2e-7, 3e-7])] {
        let lik = WaveGaussian::new(&data, &interior(&forward), noise).unwrap().with_model_error_covariance(boundary.clone()).unwrap();
        let post = Posterior::new(&forward, &regions, &prior, &lik);
        check_gradient(&post, &theta, 1e-5, 2e-6);
    }
}

#[test]
fn field_gradient_matches_finite_differences() {
    let (data, _) = small();
    let forward = WaveForward::new(&data).unwrap();
    let field = Field::new([1, 24, 24], 6).unwrap();
    let n = field.n_nodes();
    let prior = Gmrf::new(field.nodes(), vec![((4000f64).ln(), 0.3, 2.0), ((800f64).ln(), 0.3, 2.0)]).unwrap();
    let lik = WaveGaussian::new(&data, &interior(&forward), Noise::Inferred).unwrap();
    let post = Posterior::new(&forward, &field, &prior, &lik);
    let theta: Vec<f64> =
        (0..2 * n).map(|i| if i < n { (3000.0 + 40.0 * i as f64).ln() } else { (700.0 - 5.0 * (i - n) as f64).ln() }).collect();
    check_gradient(&post, &theta, 1e-5, 2e-6);
}

#[test]
fn image_likelihood_gradient_matches_finite_differences() {
    let (mut data, labels) = small();
    // Images of the (noisy) wave: magnitude 1 + a smooth variation, 4 offsets.
    let xi = [Complex64::from_polar(2.0e5, -0.5), Complex64::from_polar(1.5e5, 0.3)];
    let s = data.wave.shape().to_vec();
    let images = Array6::from_shape_fn((s[0], s[1], 4, s[2], s[3], s[4]), |(f, c, k, z, y, x)| {
        let th = 2.0 * std::f64::consts::PI * k as f64 / 4.0;
        let phase = (xi[f] * Complex64::from_polar(1.0, th) * data.wave[[f, c, z, y, x]]).re;
        Complex64::from_polar(1.0 + 0.01 * x as f64, phase)
    });
    data.images = Some(EncodedImages { images, encoding_rad_per_m: xi.to_vec() });
    let forward = WaveForward::new(&data).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 800.0, 1.0).unwrap();
    let lik = ImageGaussian::new(&data, &interior(&forward), Noise::Inferred).unwrap();
    let post = Posterior::new(&forward, &regions, &prior, &lik);
    let theta = vec![(3500f64).ln(), (5000f64).ln(), (500f64).ln(), (1500f64).ln()];
    check_gradient(&post, &theta, 1e-5, 2e-6);
}

#[test]
fn noise_free_data_are_a_stationary_point_at_the_truth_of_the_discrete_model() {
    // Data made by the forward model itself: the wave log-likelihood gradient vanishes at the truth.
    let (data, labels) = small();
    let forward = WaveForward::new(&data).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let truth = vec![(3000f64).ln(), (6000f64).ln(), (600f64).ln(), (1200f64).ln()];
    let mut exact = data.clone();
    for f in 0..2 {
        let u = mre_inverse::ForwardModel::predict(&forward, f, &regions.moduli(&truth)).unwrap();
        exact.wave.index_axis_mut(Axis(0), f).index_axis_mut(Axis(0), 0).assign(&u[0]);
    }
    let forward = WaveForward::new(&exact).unwrap();
    let lik = WaveGaussian::new(&exact, &interior(&forward), Noise::Known(vec![1e-7, 1e-7])).unwrap();
    let flat = IndependentNormal { mean: truth.clone(), std: vec![1e6; 4] };
    let post = Posterior::new(&forward, &regions, &flat, &lik);
    let mut g = vec![0.0; 4];
    let lp = post.logp_grad(&truth, &mut g).unwrap();
    assert!(lp.abs() < 1e-12, "log-likelihood at the truth {lp}");
    assert!(g.iter().all(|g| g.abs() < 1e-9), "gradient at the truth {g:?}");
}

#[test]
fn bad_input_gives_clear_errors() {
    let (data, labels) = small();
    // All masked.
    let mut d = data.clone();
    d.mask.fill(false);
    let e = WaveForward::new(&d).unwrap_err().to_string();
    assert!(e.contains("/mask") && e.contains("masked out"), "{e}");
    // NaN inside the mask.
    let mut d = data.clone();
    d.wave[[1, 0, 0, 5, 7]] = Complex64::new(f64::NAN, 0.0);
    let e = WaveForward::new(&d).unwrap_err().to_string();
    assert!(e.contains("/wave") && e.contains("non-finite") && e.contains("frequency 1"), "{e}");
    // Labels of another shape.
    let e = Regions::new(&labels.slice(ndarray::s![.., ..10, ..]).to_owned(), &data.mask).unwrap_err().to_string();
    assert!(e.contains("/labels") && e.contains("shape"), "{e}");
    // A mask too thin for a boundary layer.
    let mut d = data.clone();
    d.mask.fill(false);
    d.mask.slice_mut(ndarray::s![.., 3..5, ..]).fill(true);
    let e = WaveForward::new(&d).unwrap_err().to_string();
    assert!(e.contains("3 voxels wide"), "{e}");
    // Image likelihood without images.
    let forward = WaveForward::new(&data).unwrap();
    let e = ImageGaussian::new(&data, &interior(&forward), Noise::Inferred).unwrap_err().to_string();
    assert!(e.contains("/images") && e.contains("missing"), "{e}");
}

fn interior(f: &WaveForward) -> Array3<bool> {
    mre_inverse::ForwardModel::predicted(f).clone()
}
