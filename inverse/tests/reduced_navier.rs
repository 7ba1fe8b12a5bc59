//! The reduced-basis surrogate of the Navier model ([`mre_inverse::reduced_navier`]): exact at
//! its snapshots, close to the full model between them, and its gradient the exact gradient
//! of the reduced log density. Release mode (`scripts/test.sh` runs this file in release).

use mre_inverse::bulk::{BulkModulusPrior, WithBulkModulus};
use mre_inverse::reduced::ReducedModel;
use mre_inverse::reduced_navier::ReducedNavierForward;
use mre_inverse::synthetic::PsvInclusion;
use mre_inverse::{ForwardModel, IndependentNormal, LogDensity, NavierForward, Noise, Parameterisation, Posterior, Regions, WaveGaussian};

fn max_abs_diff(a: &[ndarray::Array3<num_complex::Complex64>], b: &[ndarray::Array3<num_complex::Complex64>]) -> (f64, f64) {
    let diff = a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(u, v)| (u - v).norm())).fold(0.0, f64::max);
    let scale = a.iter().flat_map(|x| x.iter().map(|u| u.norm())).fold(0.0, f64::max);
    (diff, scale)
}

/// ν = 0.3 and 0.4999 P–SV data, regions with the bulk modulus inferred: the reduced prediction
/// equals the full one at a snapshot (to round-off), is within 1e-3 of it half-way between
/// snapshots, and the reduced log density's adjoint gradient matches its finite differences.
#[test]
fn reduced_navier_model_matches_the_full_model_and_its_own_differences() {
    for nu in [0.3, 0.4999] {
        let spec = PsvInclusion {
            n: 20,
            voxel_m: 2e-3,
            frequencies_hz: vec![60.0, 90.0],
            radius_m: 0.012,
            poisson_ratio: nu,
            snr: Some(30.0),
            ..Default::default()
        };
        let (data, labels, _) = spec.generate().unwrap();
        let forward = NavierForward::new(&data, "xy").unwrap();
        let regions = Regions::new(&labels, &data.mask).unwrap();
        let param = WithBulkModulus::new(Box::new(regions.clone()), 1e5).unwrap();
        let k = spec.bulk_modulus_pa();
        let centre = vec![3000f64.ln(), 6000f64.ln(), 500f64.ln(), 1200f64.ln(), k.ln()];
        // Snapshots: the centre and ±0.02 along each parameter (a region posterior of 32² data is a few
        // 0.001 wide in log G; the pipeline puts them 2 Laplace standard deviations out).
        let mut points = vec![centre.clone()];
        for i in 0..centre.len() {
            for s in [-0.02, 0.02] {
                let mut p = centre.clone();
                p[i] += s;
                points.push(p);
            }
        }
        let moduli: Vec<_> = points.iter().map(|p| param.moduli(p)).collect();
        let reduced = ReducedNavierForward::build(&forward, &moduli).unwrap();
        assert_eq!(reduced.snapshots(), points.len());
        eprintln!("ν = {nu}: basis sizes {:?}", reduced.basis_sizes());
        for f in 0..2 {
            let (d, s) = max_abs_diff(&reduced.predict(f, &moduli[3]).unwrap(), &forward.predict(f, &moduli[3]).unwrap());
            eprintln!("ν = {nu}, f {f}: at a snapshot |reduced − full| = {:.2e} of {s:.2e}", d);
            assert!(d <= 1e-8 * s, "at a snapshot: {d:e} of {s:e}");
            let mut between = centre.clone();
            between[0] += 0.01;
            between[3] -= 0.01;
            between[4] += 0.01;
            let m = param.moduli(&between);
            let (d, s) = max_abs_diff(&reduced.predict(f, &m).unwrap(), &forward.predict(f, &m).unwrap());
            eprintln!("ν = {nu}, f {f}: between snapshots |reduced − full| = {:.2e} of {s:.2e}", d);
            assert!(d <= 1e-3 * s, "between snapshots: {d:e} of {s:e}");
        }
        let prior = BulkModulusPrior::broad(Box::new(IndependentNormal::log_moduli(regions.len(), 3000.0, 1000.0, 2.0).unwrap()));
        let lik = WaveGaussian::new(&data, forward.predicted(), Noise::Inferred).unwrap();
        let post = Posterior::new(&reduced, &param, &prior, &lik);
        let mut theta = centre.clone();
        theta[1] += 0.01;
        let (err, i) = mre_inverse::testing::gradient_error(&post, &theta, 1e-5).unwrap();
        eprintln!("ν = {nu}: reduced gradient error {err:.2e} (parameter {i})");
        assert!(err < 1e-5, "parameter {i}: {err:e}");
        // The projected terms give the Galerkin system of the assembled operator.
        assert!(reduced.decomposed());
        let mut g1 = vec![0.0; theta.len()];
        let l1 = post.logp_grad(&theta, &mut g1).unwrap();
        let assembling = ReducedNavierForward::build(&forward, &moduli).unwrap().assembling();
        let mut g2 = vec![0.0; theta.len()];
        let l2 = Posterior::new(&assembling, &param, &prior, &lik).logp_grad(&theta, &mut g2).unwrap();
        let gscale = g2.iter().map(|g| g.abs()).fold(0.0, f64::max);
        eprintln!("ν = {nu}: projected terms against assembly: log p {l1} vs {l2}, gradients {g1:?} vs {g2:?}");
        assert!((l1 - l2).abs() <= 1e-9 * l2.abs().max(1.0), "{l1} vs {l2}");
        assert!(g1.iter().zip(&g2).all(|(a, b)| (a - b).abs() <= 1e-7 * gscale), "{g1:?} vs {g2:?}");
        let m = param.moduli(&theta);
        let (d, s) = max_abs_diff(&reduced.predict(1, &m).unwrap(), &assembling.predict(1, &m).unwrap());
        assert!(d <= 1e-10 * s, "{d:e} of {s:e}");
        let full = Posterior::new(&forward, &param, &prior, &lik);
        let (lr, lf) = (post.logp(&theta).unwrap(), full.logp(&theta).unwrap());
        eprintln!("ν = {nu}: log p reduced {lr:.4}, full {lf:.4}");
        assert!((lr - lf).abs() < 0.1, "{lr} vs {lf}");
    }
}
