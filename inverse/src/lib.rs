//! mre-inverse: Bayesian inversion of MRE data for the storage and loss modulus.
//!
//! The pieces are small and replaceable: a [`ForwardModel`] predicts displacement fields
//! from the moduli (with adjoint gradients), a [`Parameterisation`] maps unconstrained
//! parameters to moduli per voxel, a [`Prior`] and a [`Likelihood`] make the [`Posterior`],
//! and the posterior is a [`LogDensity`], which is all the inference sees.

pub mod data;
pub mod density;
pub mod error;
pub mod forward;
pub mod likelihood;
pub mod param;
pub mod posterior;
pub mod prior;
pub mod synthetic;

pub use data::{EncodedImages, Measurements};
pub use density::{LogDensity, Whitened};
pub use error::{InverseError, Result};
pub use forward::{Drive, ForwardModel, Moduli, ModuliGradient, WaveForward};
pub use likelihood::{ImageGaussian, Likelihood, Noise, WaveGaussian};
pub use param::{Field, Parameterisation, Regions};
pub use posterior::Posterior;
pub use prior::{Gmrf, IndependentNormal, Prior};
