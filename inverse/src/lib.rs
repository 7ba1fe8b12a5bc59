//! mre-inverse: Bayesian inversion of MRE data for the storage and loss modulus.
//!
//! The pieces are small and replaceable: a [`ForwardModel`] predicts displacement fields
//! from the moduli (with adjoint gradients), a [`Parameterisation`] maps unconstrained
//! parameters to moduli per voxel, a [`Prior`] and a [`Likelihood`] make the [`Posterior`],
//! and the posterior is a [`LogDensity`], which is all the inference sees: MAP
//! ([`map`]), the Laplace approximation ([`laplace`]), NUTS ([`nuts`]) and the pipeline
//! that chains them with checkpoints ([`bayes`]).

pub mod checkpoint;
pub mod data;
pub mod density;
pub mod diagnostics;
pub mod error;
pub mod forward;
pub mod laplace;
pub mod likelihood;
mod linalg;
pub mod map;
pub mod param;
pub mod posterior;
pub mod prior;
mod rng;
pub mod summary;
pub mod synthetic;
pub mod testing;

pub use data::{EncodedImages, Measurements};
pub use density::{LogDensity, Whitened};
pub use error::{InverseError, Result};
pub use forward::{Drive, ForwardModel, Moduli, ModuliGradient, WaveForward};
pub use laplace::{hessian, Laplace};
pub use likelihood::{ImageGaussian, Likelihood, Noise, WaveGaussian};
pub use map::{maximize, MapOptions, MapResult};
pub use param::{Field, Parameterisation, Regions};
pub use posterior::Posterior;
pub use prior::{Gmrf, IndependentNormal, Prior};
