//! The whole inference path through the public API: MAP, Laplace, whitened NUTS, diagnostics.

use std::sync::atomic::{AtomicU64, Ordering};

use mre_inverse::diagnostics::summary;
use mre_inverse::nuts::parameter_chains;
use mre_inverse::testing::Gaussian;
use mre_inverse::{maximize, sample, ChainTrace, Laplace, LogDensity, MapOptions, NutsOptions, Result};

/// Counts evaluations, as a study would to budget an expensive forward model.
struct Counted<D>(D, AtomicU64);

impl<D: LogDensity> LogDensity for Counted<D> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn logp_grad(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.logp_grad(x, grad)
    }
}

#[test]
fn map_laplace_whitened_nuts() {
    let g = Gaussian::correlated(4, -0.4, &[8.0, 6.5, 7.2, 5.9]);
    let d = Counted(g.clone(), AtomicU64::new(0));

    let map = maximize(&d, &[7.0; 4], &MapOptions::default(), None).unwrap();
    assert!(map.converged);
    assert_eq!(map.evaluations, d.1.load(Ordering::Relaxed));

    let lap = Laplace::at(&d, &map.x).unwrap();
    for (s, i) in lap.marginal_std().iter().zip(0..) {
        assert!((s - (1.0 + 0.5 * f64::from(i))).abs() < 1e-6);
    }

    let before = d.1.load(Ordering::Relaxed);
    let w = lap.whiten(&d);
    let opts = NutsOptions { tune: 100, draws: 300, seed: 42, ..Default::default() };
    let traces = sample(&w, &[0.0; 4], &opts, None).unwrap();
    let counted: u64 = traces.iter().map(|t| t.gradient_evaluations).sum();
    assert_eq!(counted, d.1.load(Ordering::Relaxed) - before, "every evaluation is counted");

    let original: Vec<ChainTrace> = traces.iter().map(|t| t.mapped(|z| w.to_original(z))).collect();
    for k in 0..4 {
        let s = summary(&parameter_chains(&original, k)).unwrap();
        assert!(s.rhat < 1.02, "R̂ {}", s.rhat);
        assert!(s.ess_bulk > 300.0, "ESS {}", s.ess_bulk);
        assert!((s.mean - g.mean[k]).abs() < 4.0 * s.std / s.ess_bulk.sqrt());
    }
}
