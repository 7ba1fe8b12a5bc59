//! Reconstruction: k-space → images → phase → unwrapping → first harmonic → wave.
//!
//! Also the algebraic Helmholtz inversion used to check simulated wave fields.

pub mod ahi;
pub mod fft;
pub mod harmonic;
pub mod unwrap;

pub use ahi::algebraic_helmholtz;
pub use fft::centred_ifft;
pub use harmonic::{equivalent_encoding, first_harmonic, HarmonicFit};
pub use unwrap::unwrap_least_squares;
