//! Scanner hardware limits.

use crate::error::{Result, SolverError};

/// Gradient system limits and timing rasters of the scanner.
#[derive(Debug, Clone, PartialEq)]
pub struct Scanner {
    /// Maximum gradient amplitude per axis, T/m.
    pub max_gradient_t_per_m: f64,
    /// Maximum slew rate per axis, T/m/s.
    pub max_slew_t_per_m_per_s: f64,
    /// Gradient raster time, s (used by the raster integration and for rounding durations).
    pub gradient_raster_s: f64,
}

impl Default for Scanner {
    fn default() -> Self {
        // A typical clinical 3 T system.
        Self { max_gradient_t_per_m: 0.08, max_slew_t_per_m_per_s: 200.0, gradient_raster_s: 10e-6 }
    }
}

impl Scanner {
    /// Check that the limits are physical.
    pub fn validate(&self) -> Result<()> {
        if !(self.max_gradient_t_per_m > 0.0 && self.max_gradient_t_per_m.is_finite()) {
            return Err(SolverError::invalid("max_gradient_t_per_m", self.max_gradient_t_per_m, "a positive number of T/m"));
        }
        if !(self.max_slew_t_per_m_per_s > 0.0 && self.max_slew_t_per_m_per_s.is_finite()) {
            return Err(SolverError::invalid("max_slew_t_per_m_per_s", self.max_slew_t_per_m_per_s, "a positive number of T/m/s"));
        }
        if !(self.gradient_raster_s > 0.0 && self.gradient_raster_s < 1e-3) {
            return Err(SolverError::invalid("gradient_raster_s", self.gradient_raster_s, "a positive time below 1 ms"));
        }
        Ok(())
    }
}
