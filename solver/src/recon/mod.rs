//! Reconstruction: k-space → images → phase → unwrapping → first harmonic → wave
//! ([`pipeline`]: the one path used by the simulator, `classic` and the `invert` command).
//!
//! Also the algebraic Helmholtz inversion used to check simulated wave fields.

pub mod ahi;
pub mod fft;
pub mod harmonic;
pub mod pipeline;
pub mod unwrap;

pub use ahi::algebraic_helmholtz;
pub use fft::centred_ifft;
pub use harmonic::{equivalent_encoding, first_harmonic, HarmonicFit};
pub use pipeline::{harmonic_in_mask, kspace_to_images, phase_to_wave, polarity_difference, unwrap_offsets, Unwrap};
pub use unwrap::{laplacian_phase, laplacian_unwrap, unwrap_least_squares};
