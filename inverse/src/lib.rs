//! mre-inverse: Bayesian inversion of MRE data for the storage and loss modulus.
//!
//! The pieces are small and replaceable: a [`ForwardModel`] predicts displacement fields
//! from the moduli (with adjoint gradients), a [`Parameterisation`] maps unconstrained
//! parameters to moduli per voxel, a [`Prior`] and a [`Likelihood`] make the [`Posterior`],
//! and the posterior is a [`LogDensity`], which is all the inference sees.
//!
//! The usual path, where every density evaluation is expensive ([`bayes::infer`]):
//!
//! 1. [`maximize`] — the MAP by L-BFGS (checkpointed, resumable);
//! 2. [`Laplace::at`] — the Hessian there by `2 · dim` gradient evaluations, giving a
//!    Gaussian approximation and its Cholesky factor;
//! 3. [`sample`] / [`sample_chains`] on [`Laplace::whiten`]'s density — NUTS in whitened
//!    coordinates, where a short warm-up suffices (checkpointed per segment; chains can be
//!    split between processes); or, for fields with hundreds of parameters, independent
//!    draws from the Laplace approximation;
//! 4. [`diagnostics`] — R̂ and effective sample sizes of the draws mapped back with
//!    [`ChainTrace::mapped`] and [`Whitened::to_original`].

pub mod actuator;
pub mod bayes;
pub mod bulk;
pub mod checkpoint;
pub mod data;
pub mod density;
pub mod diagnostics;
pub mod distributed;
pub mod error;
pub mod forward;
pub mod gauss_newton;
pub mod independence;
pub mod interface;
pub mod laplace;
pub mod likelihood;
mod linalg;
pub mod map;
pub mod model_check;
pub mod model_error;
pub mod navier;
pub mod nuts;
pub mod options;
pub mod param;
pub mod plane_strain;
pub mod posterior;
pub mod prior;
pub mod reduced;
pub mod reduced_navier;
pub mod refine;
pub mod summary;
pub mod synthetic;
pub mod testing;

pub use actuator::{ActuatorDrive, ActuatorForward};
pub use bulk::{BulkModulusPrior, WithBulkModulus};
pub use data::{EncodedImages, Measurements};
pub use density::{LogDensity, Whitened};
pub use error::{InverseError, Result};
pub use forward::{Drive, ForwardModel, Moduli, ModuliGradient, WaveForward};
pub use interface::ModelErrorCovariance;
pub use laplace::{hessian, Laplace};
pub use likelihood::{ImageGaussian, Likelihood, Noise, WaveGaussian};
pub use map::{maximize, MapOptions, MapResult};
pub use navier::NavierForward;
pub use nuts::{sample, sample_chains, ChainTrace, NutsOptions};
pub use param::{Field, Parameterisation, Regions};
pub use posterior::Posterior;
pub use prior::{Gmrf, IndependentNormal, Prior};
