//! The one interface between models and inference: a differentiable log density.

use crate::error::Result;

/// An unnormalised log density `log p(x)` on `R^dim` with its gradient.
///
/// Posteriors of this crate implement it; the optimiser ([`crate::map`]), the Laplace
/// approximation ([`crate::laplace`]) and the sampler ([`crate::nuts`]) only see this trait,
/// so a study can bring its own model. Implementations must be deterministic (the same `x`
/// gives bit-identical results on any thread), and `Sync` so chains can run in parallel.
pub trait LogDensity: Sync {
    /// Number of (unconstrained) parameters.
    fn dim(&self) -> usize;
    /// `log p(x)` (up to an additive constant); writes `∂ log p / ∂x` into `grad` (length `dim`).
    fn logp_grad(&self, x: &[f64], grad: &mut [f64]) -> Result<f64>;
    /// `log p(x)` without the gradient (samplers that need no gradient call this; override it
    /// when the value alone is cheaper, e.g. forward solves without the adjoint).
    fn logp(&self, x: &[f64]) -> Result<f64> {
        let mut g = vec![0.0; self.dim()];
        self.logp_grad(x, &mut g)
    }
    /// Names of the parameters (for traces and diagnostics), `dim` entries.
    fn names(&self) -> Vec<String> {
        (0..self.dim()).map(|i| format!("x{i}")).collect()
    }
}

impl<D: LogDensity + ?Sized> LogDensity for &D {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn logp_grad(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        (**self).logp_grad(x, grad)
    }
    fn logp(&self, x: &[f64]) -> Result<f64> {
        (**self).logp(x)
    }
    fn names(&self) -> Vec<String> {
        (**self).names()
    }
}

/// A density in whitened coordinates `z`: `x = centre + L z` with a lower-triangular `L`
/// (e.g. the Cholesky factor of a Laplace covariance). `log p_z(z) = log p(centre + L z)`
/// (the Jacobian is constant) and `∇_z = Lᵀ ∇_x`. Samplers that adapt only a step size work
/// best on such coordinates.
#[derive(Debug, Clone)]
pub struct Whitened<D> {
    /// The density in the original coordinates.
    pub inner: D,
    /// `x` at `z = 0`.
    pub centre: Vec<f64>,
    /// Lower-triangular factor, row-major `dim × dim`.
    pub factor: Vec<f64>,
}

impl<D: LogDensity> Whitened<D> {
    /// Wrap `inner` with `x = centre + factor · z` (`factor` row-major, lower triangular).
    pub fn new(inner: D, centre: Vec<f64>, factor: Vec<f64>) -> Self {
        let n = inner.dim();
        assert_eq!(centre.len(), n, "centre has the density's dimension");
        assert_eq!(factor.len(), n * n, "factor is dim × dim");
        Self { inner, centre, factor }
    }

    /// `x = centre + L z`.
    pub fn to_original(&self, z: &[f64]) -> Vec<f64> {
        let n = self.centre.len();
        (0..n).map(|i| self.centre[i] + (0..=i).map(|j| self.factor[i * n + j] * z[j]).sum::<f64>()).collect()
    }
}

impl<D: LogDensity> LogDensity for Whitened<D> {
    fn dim(&self) -> usize {
        self.centre.len()
    }
    fn logp_grad(&self, z: &[f64], grad: &mut [f64]) -> Result<f64> {
        let n = self.centre.len();
        let x = self.to_original(z);
        let mut gx = vec![0.0; n];
        let lp = self.inner.logp_grad(&x, &mut gx)?;
        for (j, g) in grad.iter_mut().enumerate() {
            *g = (j..n).map(|i| self.factor[i * n + j] * gx[i]).sum();
        }
        Ok(lp)
    }
    fn logp(&self, z: &[f64]) -> Result<f64> {
        self.inner.logp(&self.to_original(z))
    }
    fn names(&self) -> Vec<String> {
        (0..self.dim()).map(|i| format!("z{i}")).collect()
    }
}
