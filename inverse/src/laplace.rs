//! Laplace approximation at the MAP: a Gaussian with covariance `(−H)⁻¹`, `H` the Hessian of
//! `log p`, by central differences of the gradient.

use faer::{Mat, Side};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::density::{LogDensity, Whitened};
use crate::error::{InverseError, Result};
use crate::linalg;

/// Default relative step of [`Laplace::at`]'s finite differences.
pub const DEFAULT_REL_STEP: f64 = 1e-4;

/// Dense Hessian of `log p` at `x` (row-major `dim × dim`), by central differences of the
/// gradient with step `rel_step · max(|x_j|, 1)` in coordinate `j`, symmetrised. Costs
/// `2 · dim` gradient evaluations (run in parallel).
pub fn hessian(d: &dyn LogDensity, x: &[f64], rel_step: f64) -> Result<Vec<f64>> {
    hessian_with(d, x, rel_step, true)
}

/// [`hessian`], with the gradient evaluations in parallel (rayon) or, when `parallel` is
/// false, one after another on the calling thread — for densities that must only be called
/// from one thread (e.g. one that communicates across MPI ranks). The result is the same.
pub fn hessian_with(d: &dyn LogDensity, x: &[f64], rel_step: f64, parallel: bool) -> Result<Vec<f64>> {
    let n = d.dim();
    if x.len() != n {
        return Err(InverseError::invalid("Hessian point", format!("length {}", x.len()), format!("length {n}")));
    }
    if !(rel_step > 0.0 && rel_step.is_finite()) {
        return Err(InverseError::invalid("Hessian step", rel_step, "a positive relative step"));
    }
    let column = |j: usize| -> Result<Vec<f64>> {
        let h = rel_step * x[j].abs().max(1.0);
        let gradient_at = |delta: f64| -> Result<Vec<f64>> {
            let mut xs = x.to_vec();
            xs[j] += delta;
            let mut g = vec![0.0; n];
            let lp = d.logp_grad(&xs, &mut g)?;
            if !lp.is_finite() || g.iter().any(|v| !v.is_finite()) {
                return Err(InverseError::NonFinite(format!("Hessian: log density or gradient at x + {delta:e} e_{j}")));
            }
            Ok(g)
        };
        let (gp, gm) = (gradient_at(h)?, gradient_at(-h)?);
        Ok(gp.iter().zip(&gm).map(|(p, m)| (p - m) / (2.0 * h)).collect())
    };
    let columns: Vec<Vec<f64>> =
        if parallel { (0..n).into_par_iter().map(column).collect::<Result<_>>()? } else { (0..n).map(column).collect::<Result<_>>()? };
    let mut hess = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            // columns[j][i] = ∂g_i/∂x_j
            hess[i * n + j] = 0.5 * (columns[j][i] + columns[i][j]);
        }
    }
    Ok(hess)
}

/// A Gaussian approximation `N(mean, covariance)` of a posterior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Laplace {
    /// The expansion point (the MAP).
    pub mean: Vec<f64>,
    /// `(−H)⁻¹`, row-major.
    pub covariance: Vec<f64>,
    /// Lower Cholesky factor of `covariance`, row-major (`covariance = L Lᵀ`).
    pub cholesky: Vec<f64>,
    /// Whether `−H` was not positive definite and had its eigenvalues repaired.
    pub repaired: bool,
    /// Gradient evaluations spent (`2 · dim`).
    pub evaluations: u64,
}

impl Laplace {
    /// The Laplace approximation at `x_map` with the default finite-difference step.
    ///
    /// If `−H` is not positive definite (not at a maximum, or a flat direction), its
    /// eigenvalues are replaced by `max(|λ|, 1e−8 · max|λ|)` and a warning is logged.
    pub fn at(d: &dyn LogDensity, x_map: &[f64]) -> Result<Self> {
        Self::with_step(d, x_map, DEFAULT_REL_STEP)
    }

    /// [`Laplace::at`] with a chosen relative finite-difference step.
    pub fn with_step(d: &dyn LogDensity, x_map: &[f64], rel_step: f64) -> Result<Self> {
        Self::with_step_on(d, x_map, rel_step, true)
    }

    /// [`Laplace::with_step`] with the Hessian's evaluations in parallel or on the calling
    /// thread only (see [`hessian_with`]); the result does not depend on `parallel`.
    pub fn with_step_on(d: &dyn LogDensity, x_map: &[f64], rel_step: f64, parallel: bool) -> Result<Self> {
        let n = d.dim();
        let hess = hessian_with(d, x_map, rel_step, parallel)?;
        let precision: Vec<f64> = hess.iter().map(|h| -h).collect();
        let (covariance, repaired) = match linalg::cholesky(&precision, n) {
            Some(l) => (linalg::cholesky_inverse(&l, n), false),
            None => (repaired_inverse(&precision, n)?, true),
        };
        let cholesky = linalg::cholesky(&covariance, n)
            .ok_or_else(|| InverseError::Inference("Laplace: the covariance is numerically not positive definite".into()))?;
        Ok(Self { mean: x_map.to_vec(), covariance, cholesky, repaired, evaluations: 2 * n as u64 })
    }

    /// `n` independent draws `mean + L z`, `z` standard normal keyed by (`seed`, draw, coordinate).
    pub fn draws(&self, n: usize, seed: u64) -> Vec<Vec<f64>> {
        let d = self.mean.len();
        (0..n)
            .map(|k| {
                let z: Vec<f64> = (0..d).map(|i| crate::synthetic::standard_normal(seed, (k * d + i) as u64)).collect();
                (0..d).map(|i| self.mean[i] + (0..=i).map(|j| self.cholesky[i * d + j] * z[j]).sum::<f64>()).collect()
            })
            .collect()
    }

    /// Marginal standard deviations `sqrt(diag(covariance))`.
    pub fn marginal_std(&self) -> Vec<f64> {
        let n = self.mean.len();
        (0..n).map(|i| self.covariance[i * n + i].sqrt()).collect()
    }

    /// `d` in the whitened coordinates of this approximation, `x = mean + L z`: the posterior
    /// in `z` is close to a standard normal, which suits the sampler.
    pub fn whiten<D: LogDensity>(&self, d: D) -> Whitened<D> {
        Whitened::new(d, self.mean.clone(), self.cholesky.clone())
    }
}

/// Inverse of a symmetric matrix after flooring its eigenvalues (see [`Laplace::at`]).
fn repaired_inverse(a: &[f64], n: usize) -> Result<Vec<f64>> {
    let m = Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let eig = m
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| InverseError::Inference(format!("Laplace: eigendecomposition of −H failed: {e:?}")))?;
    let (u, s) = (eig.U(), eig.S());
    let lambda: Vec<f64> = (0..n).map(|k| s[k]).collect();
    let largest = lambda.iter().fold(0.0f64, |m, l| m.max(l.abs()));
    if !(largest > 0.0 && largest.is_finite()) {
        return Err(InverseError::Inference("Laplace: −H is zero or not finite".into()));
    }
    let floor = 1e-8 * largest;
    let fixed: Vec<f64> = lambda.iter().map(|l| l.abs().max(floor)).collect();
    tracing::warn!(
        eigenvalues = ?lambda,
        "Laplace: −H is not positive definite (not at a maximum?); eigenvalues replaced by max(|λ|, 1e-8 max|λ|)"
    );
    let mut cov = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v: f64 = (0..n).map(|k| u[(i, k)] * u[(j, k)] / fixed[k]).sum();
            cov[i * n + j] = v;
            cov[j * n + i] = v;
        }
    }
    Ok(cov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{maximize, MapOptions};
    use crate::testing::Gaussian;

    #[test]
    fn gaussian_covariance_is_recovered() {
        let g = Gaussian::correlated(5, 0.7, &[0.5, -1.0, 2.0, 0.0, 3.0]);
        let map = maximize(&g, &[0.0; 5], &MapOptions::default(), None).unwrap();
        let lap = Laplace::at(&g, &map.x).unwrap();
        assert!(!lap.repaired);
        assert_eq!(lap.evaluations, 10);
        let scale = g.covariance.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in lap.covariance.iter().zip(&g.covariance) {
            assert!((a - b).abs() <= 1e-6 * scale, "{a} vs {b}");
        }
        let std = lap.marginal_std();
        for (i, s) in std.iter().enumerate() {
            assert!((s - (1.0 + 0.5 * i as f64)).abs() < 1e-6, "{std:?}");
        }
        // L Lᵀ = covariance
        let n = 5;
        for i in 0..n {
            for j in 0..n {
                let v: f64 = (0..n).map(|k| lap.cholesky[i * n + k] * lap.cholesky[j * n + k]).sum();
                assert!((v - lap.covariance[i * n + j]).abs() < 1e-9 * scale);
            }
        }
    }

    /// `log p = −x²/2 + y²/2`: a saddle, −H has eigenvalues 1 and −1.
    struct Saddle;
    impl LogDensity for Saddle {
        fn dim(&self) -> usize {
            2
        }
        fn logp_grad(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
            g[0] = -x[0];
            g[1] = x[1];
            Ok(-0.5 * x[0] * x[0] + 0.5 * x[1] * x[1])
        }
    }

    #[test]
    fn indefinite_hessian_is_repaired() {
        let lap = Laplace::at(&Saddle, &[0.0, 0.0]).unwrap();
        assert!(lap.repaired);
        let std = lap.marginal_std();
        assert!((std[0] - 1.0).abs() < 1e-6 && (std[1] - 1.0).abs() < 1e-6, "{std:?}");
    }
}
