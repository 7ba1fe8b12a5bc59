//! The assembled wave operator without a factorisation: for reduced-order models and custom
//! solvers that need `K x` products and modulus sensitivities.

use ndarray::Array3;
use num_complex::Complex64;

use super::gradient::modulus_sensitivity;
use super::stencil::Stencil;
use super::{Medium, ScalarProblem};
use crate::error::{Result, SolverError};

/// The discrete operator `K` of a [`ScalarProblem`] (the matrix [`super::ScalarSolver`]
/// factorises, before the Dirichlet rows are replaced): every row is the equation
/// `S (∇·(G*∇u) + ρω²u)` of its voxel. Assembly costs about one product; no factorisation.
#[derive(Debug, Clone)]
pub struct WaveOperator {
    stencil: Stencil,
    shape: [usize; 3],
}

impl WaveOperator {
    /// Validate and assemble `p` (its Dirichlet region plays no role here).
    pub fn new(p: &ScalarProblem) -> Result<Self> {
        p.validate()?;
        Ok(Self { stencil: Stencil::for_problem(p), shape: p.medium.grid.shape })
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.stencil.len()
    }

    /// Never true.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `out = K x` (C-order voxel vectors).
    ///
    /// # Panics
    /// If a slice does not have one entry per voxel.
    pub fn apply(&self, x: &[Complex64], out: &mut [Complex64]) {
        self.stencil.apply(x, out);
    }

    /// `c_v = Σ_i conj(μ_i) (∂K/∂G*_v u)_i` per voxel, returned as `(−Re c, Im c)`: for a real
    /// objective `J` with an adjoint `μ` satisfying `dJ = −Re μᴴ dK u`, these are `∂J/∂G'` and
    /// `∂J/∂G''` (see [`super::ScalarSolver::modulus_gradient`]). `medium` must be the one
    /// this operator was assembled for.
    pub fn modulus_sensitivity(&self, medium: &Medium, u: &[Complex64], mu: &[Complex64]) -> Result<(Array3<f64>, Array3<f64>)> {
        if u.len() != self.len() || mu.len() != self.len() || medium.grid.shape != self.shape {
            return Err(SolverError::Shape(format!(
                "sensitivity of a {:?} operator with {} and {} values and a {:?} medium",
                self.shape,
                u.len(),
                mu.len(),
                medium.grid.shape
            )));
        }
        let c = modulus_sensitivity(&self.stencil, &medium.complex_modulus(), u, mu);
        let sh = (self.shape[0], self.shape[1], self.shape[2]);
        let storage = Array3::from_shape_vec(sh, c.iter().map(|c| -c.re).collect()).expect("length matches the grid");
        let loss = Array3::from_shape_vec(sh, c.iter().map(|c| c.im).collect()).expect("length matches the grid");
        Ok((storage, loss))
    }
}
