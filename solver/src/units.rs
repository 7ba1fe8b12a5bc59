//! Physical constants and unit newtypes.

/// Proton gyromagnetic ratio γ in rad/s/T.
pub const GAMMA_RAD_PER_S_PER_T: f64 = 2.675_221_874e8;

/// A frequency in hertz (cycles per second). Use [`Hertz::angular`] for rad/s.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Hertz(pub f64);

impl Hertz {
    /// Angular frequency ω = 2πf in rad/s.
    pub fn angular(self) -> f64 {
        2.0 * std::f64::consts::PI * self.0
    }
}

/// Axis of the scanner frame. Vectors in this crate are stored `[z, y, x]`,
/// the same order as array axes `[nz, ny, nx]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    /// Slice / partition axis, index 0 of a `[z, y, x]` vector.
    Z,
    /// Phase-encoding axis, index 1.
    Y,
    /// Readout axis, index 2.
    X,
}

impl Axis {
    /// Index of this axis in a `[z, y, x]` vector.
    pub fn index(self) -> usize {
        match self {
            Axis::Z => 0,
            Axis::Y => 1,
            Axis::X => 2,
        }
    }
    /// Lower-case name (`"z"`, `"y"`, `"x"`).
    pub fn name(self) -> &'static str {
        match self {
            Axis::Z => "z",
            Axis::Y => "y",
            Axis::X => "x",
        }
    }
    /// Parse `"x"`, `"y"` or `"z"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "z" | "Z" => Some(Axis::Z),
            "y" | "Y" => Some(Axis::Y),
            "x" | "X" => Some(Axis::X),
            _ => None,
        }
    }
    /// Unit vector `[z, y, x]`.
    pub fn unit(self) -> [f64; 3] {
        let mut v = [0.0; 3];
        v[self.index()] = 1.0;
        v
    }
}

/// The seeded generator's stateless helpers, kept here for existing callers; they live in
/// [`crate::rng`] with the sequential generator.
pub use crate::rng::{mix64, uniform01};
