//! mre-inverse: Bayesian inversion of MRE data for the storage and loss modulus.
//!
//! The pieces are small and replaceable: a [`LogDensity`] is all the inference
//! ([`map`], [`laplace`], [`nuts`]) sees; posteriors are built from a forward model,
//! a parameterisation, a prior and a likelihood.

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
