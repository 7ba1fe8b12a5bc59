//! The bulk modulus as a nuisance parameter of the Navier model ([`mre_inverse::bulk`]): its
//! adjoint gradient against finite differences, and the flat likelihood of nearly
//! incompressible data. Release mode (`scripts/test.sh` runs this file in release).

use mre_inverse::bulk::{BulkModulusPrior, WithBulkModulus};
use mre_inverse::synthetic::PsvInclusion;
use mre_inverse::{ForwardModel, IndependentNormal, LogDensity, NavierForward, Noise, Parameterisation, Posterior, Regions, WaveGaussian};

fn psv(n: usize, nu: f64) -> PsvInclusion {
    PsvInclusion {
        n,
        voxel_m: 2e-3,
        frequencies_hz: vec![60.0, 90.0],
        radius_m: 0.012,
        poisson_ratio: nu,
        snr: Some(30.0),
        ..Default::default()
    }
}

/// `∂ log p/∂ log K` (and the moduli's entries) by the adjoint against central differences,
/// at a compressible and a nearly incompressible K, with the noise known and inferred.
#[test]
fn bulk_modulus_gradient_matches_finite_differences() {
    for nu in [0.3, 0.4999] {
        let spec = psv(16, nu);
        let (data, labels, _) = spec.generate().unwrap();
        let forward = NavierForward::new(&data, "xy").unwrap();
        let regions = Regions::new(&labels, &data.mask).unwrap();
        let param = WithBulkModulus::new(Box::new(regions.clone()), 1e5).unwrap();
        let prior = BulkModulusPrior::broad(Box::new(IndependentNormal::log_moduli(regions.len(), 3000.0, 1000.0, 2.0).unwrap()));
        for k in [spec.bulk_modulus_pa() * 1.3, 40.0 * 3000.0] {
            let theta = vec![3300f64.ln(), 7000f64.ln(), 500f64.ln(), 1500f64.ln(), k.ln()];
            for noise in [Noise::Inferred, Noise::Known(vec![2e-7, 3e-7])] {
                let lik = WaveGaussian::new(&data, forward.predicted(), noise).unwrap();
                let post = Posterior::new(&forward, &param, &prior, &lik);
                let mut g = vec![0.0; 5];
                post.logp_grad(&theta, &mut g).unwrap();
                let h = 1e-5;
                let fd = |i: usize| {
                    let (mut a, mut b) = (theta.clone(), theta.clone());
                    a[i] += h;
                    b[i] -= h;
                    (post.logp(&a).unwrap() - post.logp(&b).unwrap()) / (2.0 * h)
                };
                let gk = fd(4);
                eprintln!("ν = {nu}, K = {k:.0} Pa: ∂/∂log K adjoint {:.6e}, differences {gk:.6e}", g[4]);
                assert!(
                    (g[4] - gk).abs() <= 1e-5 * g.iter().map(|v| v.abs()).fold(0.0, f64::max) + 1e-6 * gk.abs().max(1.0),
                    "{} vs {gk}",
                    g[4]
                );
                let (err, i) = mre_inverse::testing::gradient_error(&post, &theta, h).unwrap();
                assert!(err < 1e-5, "parameter {i}: {err:e}");
            }
        }
    }
}

/// On nearly incompressible data the likelihood does not depend on K once `K/G'` is large:
/// from `K/G' = 10⁴` to `10⁷` the log-likelihood changes by less than 1, while on
/// compressible data a factor 1.3 in K changes it by hundreds.
#[test]
fn nearly_incompressible_data_leave_the_likelihood_flat_in_k() {
    for (nu, flat) in [(0.4999, true), (0.3, false)] {
        let spec = psv(24, nu);
        let (data, labels, _) = spec.generate().unwrap();
        let forward = NavierForward::new(&data, "xy").unwrap();
        let regions = Regions::new(&labels, &data.mask).unwrap();
        let lik = WaveGaussian::new(&data, forward.predicted(), Noise::Inferred).unwrap();
        let truth = [3000f64.ln(), 6000f64.ln(), 600f64.ln(), 1200f64.ln()];
        let loglik = |k: f64| {
            let mut m = regions.moduli(&truth);
            m.bulk_modulus_pa = Some(k);
            (0..2).map(|f| mre_inverse::Likelihood::frequency_value(&lik, f, &forward.predict(f, &m).unwrap())).sum::<f64>()
        };
        if flat {
            let values: Vec<f64> = [1e2, 1e3, 1e4, 1e5, 1e6, 1e7].iter().map(|r| loglik(r * 3000.0)).collect();
            eprintln!("ν = {nu}: log-likelihood at K/G' = 1e2 … 1e7: {values:.3?}");
            let (a, b) = (values[2], values[5]);
            assert!((a - b).abs() < 1.0, "{a} vs {b}");
        } else {
            let k = spec.bulk_modulus_pa();
            let (a, b) = (loglik(k), loglik(1.3 * k));
            eprintln!("ν = {nu}: log-likelihood at the true K {a:.1}, at 1.3 K {b:.1}");
            assert!(a - b > 100.0, "{a} vs {b}");
        }
    }
}
