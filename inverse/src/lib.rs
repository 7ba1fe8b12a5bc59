//! mre-inverse: Bayesian inversion of MRE data for the storage and loss modulus.
//!
//! The pieces are small and replaceable: a [`LogDensity`] is all the inference
//! ([`map`], [`laplace`], [`nuts`]) sees; posteriors are built from a forward model,
//! a parameterisation, a prior and a likelihood.
//!
//! The usual path, where every density evaluation is expensive:
//!
//! 1. [`maximize`] — the MAP by L-BFGS (checkpointed, resumable);
//! 2. [`Laplace::at`] — the Hessian there by `2 · dim` gradient evaluations, giving a
//!    Gaussian approximation and its Cholesky factor;
//! 3. [`sample`] / [`sample_chains`] on [`Laplace::whiten`]'s density — NUTS in whitened
//!    coordinates, where a short warm-up suffices (checkpointed per segment; chains can be
//!    split between processes);
//! 4. [`diagnostics`] — R̂ and effective sample sizes of the draws mapped back with
//!    [`ChainTrace::mapped`] and [`Whitened::to_original`].

pub mod checkpoint;
pub mod density;
pub mod diagnostics;
pub mod error;
pub mod laplace;
mod linalg;
pub mod map;
pub mod nuts;
mod rng;
pub mod testing;

pub use density::{LogDensity, Whitened};
pub use error::{InverseError, Result};
pub use laplace::{hessian, Laplace};
pub use map::{maximize, MapOptions, MapResult};
pub use nuts::{sample, sample_chains, ChainTrace, NutsOptions};
