//! Reference densities with known answers, for tests, benchmarks and examples.

use crate::density::LogDensity;
use crate::error::{InverseError, Result};
use crate::linalg;

/// A multivariate normal `N(mean, covariance)`.
#[derive(Debug, Clone)]
pub struct Gaussian {
    /// Mean.
    pub mean: Vec<f64>,
    /// Covariance, row-major.
    pub covariance: Vec<f64>,
    /// Precision (inverse covariance), row-major.
    pub precision: Vec<f64>,
}

impl Gaussian {
    /// `N(mean, covariance)`; refuses a covariance that is not positive definite.
    pub fn new(mean: Vec<f64>, covariance: Vec<f64>) -> Result<Self> {
        let n = mean.len();
        if covariance.len() != n * n {
            return Err(InverseError::invalid("covariance", format!("{} entries", covariance.len()), format!("{n}×{n}")));
        }
        let l = linalg::cholesky(&covariance, n)
            .ok_or_else(|| InverseError::invalid("covariance", "not positive definite", "a positive definite matrix"))?;
        let precision = linalg::cholesky_inverse(&l, n);
        Ok(Self { mean, covariance, precision })
    }

    /// A correlated test case: standard deviations `1, 1.5, 2, …` and correlation
    /// `rho^|i−j|`, with the given mean (its length is the dimension `n`).
    ///
    /// # Panics
    /// If `mean.len() != n` or `|rho| ≥ 1` (a test helper).
    pub fn correlated(n: usize, rho: f64, mean: &[f64]) -> Self {
        assert_eq!(mean.len(), n, "mean has n entries");
        let s: Vec<f64> = (0..n).map(|i| 1.0 + 0.5 * i as f64).collect();
        let cov = (0..n * n).map(|k| {
            let (i, j) = (k / n, k % n);
            s[i] * s[j] * rho.powi((i as i32 - j as i32).abs())
        });
        Self::new(mean.to_vec(), cov.collect()).expect("rho^|i-j| with |rho| < 1 is positive definite")
    }
}

impl LogDensity for Gaussian {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn logp_grad(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        let n = self.mean.len();
        let r: Vec<f64> = x.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        let pr = linalg::mat_vec(&self.precision, &r, n);
        for (g, p) in grad.iter_mut().zip(&pr) {
            *g = -p;
        }
        Ok(-0.5 * r.iter().zip(&pr).map(|(a, b)| a * b).sum::<f64>())
    }
}

/// The `n`-dimensional Rosenbrock function as a log density,
/// `log p = −Σ [100 (x_{i+1} − x_i²)² + (1 − x_i)²]`; maximum `0` at `x = 1`.
#[derive(Debug, Clone, Copy)]
pub struct Rosenbrock(pub usize);

impl LogDensity for Rosenbrock {
    fn dim(&self) -> usize {
        self.0
    }
    fn logp_grad(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut f = 0.0;
        for i in 0..self.0.saturating_sub(1) {
            let a = x[i + 1] - x[i] * x[i];
            let b = 1.0 - x[i];
            f += 100.0 * a * a + b * b;
            grad[i] += 400.0 * a * x[i] + 2.0 * b;
            grad[i + 1] -= 200.0 * a;
        }
        Ok(-f)
    }
}

/// The largest gap between `d`'s gradient at `theta` and central finite differences of its
/// log density with `step`, relative to the gradient norm, and the parameter where it occurs.
///
/// # Errors
/// When an evaluation fails or the gradient is zero (nothing to compare against).
pub fn gradient_error(d: &dyn LogDensity, theta: &[f64], step: f64) -> Result<(f64, usize)> {
    let mut g = vec![0.0; theta.len()];
    d.logp_grad(theta, &mut g)?;
    let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm.is_nan() || norm <= 0.0 {
        return Err(InverseError::invalid("gradient", norm, "a non-zero gradient to compare finite differences with"));
    }
    let mut worst = (0.0, 0);
    for i in 0..theta.len() {
        let (mut p, mut m) = (theta.to_vec(), theta.to_vec());
        p[i] += step;
        m[i] -= step;
        let fd = (d.logp(&p)? - d.logp(&m)?) / (2.0 * step);
        let err = (fd - g[i]).abs() / norm;
        if err > worst.0 || err.is_nan() {
            worst = (err, i);
        }
    }
    Ok(worst)
}
