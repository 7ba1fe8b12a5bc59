use mre_inverse::synthetic::BesselInclusion;
use mre_inverse::*;
#[test]
fn timing() {
    let (data, labels, _) = BesselInclusion::default().generate().unwrap();
    let forward = WaveForward::new(&data).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 800.0, 1.0).unwrap();
    let lik = WaveGaussian::new(&data, ForwardModel::predicted(&forward), Noise::Inferred).unwrap();
    let post = Posterior::new(&forward, &regions, &prior, &lik);
    let theta = vec![(3000f64).ln(), (6000f64).ln(), (600f64).ln(), (1200f64).ln()];
    let mut g = vec![0.0; 4];
    post.logp_grad(&theta, &mut g).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..10 { post.logp_grad(&theta, &mut g).unwrap(); }
    eprintln!("logp_grad 128²×3: {:.1} ms  g={g:?}", t.elapsed().as_secs_f64() * 100.0);
    let t = std::time::Instant::now();
    for _ in 0..10 { forward.factorise(0, &regions.moduli(&theta)).unwrap(); }
    eprintln!("factorise 128²: {:.1} ms", t.elapsed().as_secs_f64() * 100.0);
}
#[test]
fn bias() {
    let (data, labels, _) = BesselInclusion::default().generate().unwrap();
    let forward = WaveForward::new(&data).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 800.0, 1.0).unwrap();
    let lik = WaveGaussian::new(&data, ForwardModel::predicted(&forward), Noise::Inferred).unwrap();
    let post = Posterior::new(&forward, &regions, &prior, &lik);
    let mut theta = vec![(3000f64).ln(), (6000f64).ln(), (600f64).ln(), (1200f64).ln()];
    for it in 0..6 {
        let mut g = vec![0.0; 4];
        let lp = post.logp_grad(&theta, &mut g).unwrap();
        let h = 1e-5;
        let mut hess = vec![vec![0.0; 4]; 4];
        for j in 0..4 {
            let (mut p, mut m) = (theta.clone(), theta.clone());
            p[j] += h; m[j] -= h;
            let (mut gp, mut gm) = (vec![0.0; 4], vec![0.0; 4]);
            post.logp_grad(&p, &mut gp).unwrap(); post.logp_grad(&m, &mut gm).unwrap();
            for i in 0..4 { hess[i][j] = (gp[i] - gm[i]) / (2.0 * h); }
        }
        // solve -H d = g (Gaussian elimination)
        let mut a = hess.iter().map(|r| r.iter().map(|v| -v).collect::<Vec<f64>>()).collect::<Vec<_>>();
        let mut b = g.clone();
        for k in 0..4 { for i in k+1..4 { let f = a[i][k]/a[k][k]; for j in k..4 { a[i][j] -= f*a[k][j]; } b[i] -= f*b[k]; } }
        let mut d = vec![0.0; 4];
        for i in (0..4).rev() { d[i] = (b[i] - (i+1..4).map(|j| a[i][j]*d[j]).sum::<f64>())/a[i][i]; }
        for i in 0..4 { theta[i] += d[i]; }
        let stds: Vec<f64> = (0..4).map(|i| 1.0/(-hess[i][i]).sqrt()).collect();
        eprintln!("it {it} lp {lp:.3} moduli {:?} diag-std(log) {:?}", theta.iter().map(|t| t.exp()).collect::<Vec<_>>(), stds);
    }
    eprintln!("noise {:?}", post.noise_estimates(&theta).unwrap());
}
#[test]
fn modelerr() {
    for (n, v) in [(64usize, 3e-3), (128, 1.5e-3), (256, 0.75e-3)] {
    let spec = BesselInclusion { snr: None, n, voxel_m: v, ..Default::default() };
    let (data, labels, _) = spec.generate().unwrap();
    let forward = WaveForward::new(&data).unwrap();
    let regions = Regions::new(&labels, &data.mask).unwrap();
    let prior = IndependentNormal::log_moduli(regions.len(), 4000.0, 800.0, 1.0).unwrap();
    let lik = WaveGaussian::new(&data, ForwardModel::predicted(&forward), Noise::Inferred).unwrap();
    let post = Posterior::new(&forward, &regions, &prior, &lik);
    let theta = vec![(3000f64).ln(), (6000f64).ln(), (600f64).ln(), (1200f64).ln()];
    eprintln!("n {n} model error rms {:?}", post.noise_estimates(&theta).unwrap());
    }
}
