//! Tissue motion.
//!
//! Steady-state harmonic displacement `u(r, t) = Re{ U(r) · exp(i(ω t + θ)) }`
//! (m), with `U` a complex 3-vector `[z, y, x]` per point, `ω` the vibration's
//! angular frequency and `θ` the phase offset of the current acquisition. Time
//! `t` runs from the trigger (the start of each MEG, see `sequence`).
//!
//! [`Displacement`] gives `U(r)`; a static phantom uses [`NoMotion`], which the
//! kernels detect and skip at no cost. [`Motion`] is the general, possibly
//! non-harmonic, displacement `u(r, t)` used by the stepping (raster) kernel.

use ndarray::Array4;
use num_complex::Complex64;

use crate::error::{Result, SolverError};
use crate::model::phantom::Grid;

/// Complex harmonic displacement amplitude `U(r)` in m, components `[z, y, x]`.
pub trait Displacement: Send + Sync {
    /// `U` at rest position `r` (`[z, y, x]`, m).
    fn amplitude(&self, r: [f64; 3]) -> [Complex64; 3];
    /// True when `U ≡ 0` (lets the kernels drop the motion terms).
    fn is_static(&self) -> bool {
        false
    }
}

/// General displacement `u(r, t)` in m for the stepping kernel.
pub trait Motion: Send + Sync {
    /// Displacement `[z, y, x]` (m) of the spin with rest position `r` at time `t` (s).
    fn displacement(&self, r: [f64; 3], t: f64) -> [f64; 3];
}

/// No motion.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMotion;

impl Displacement for NoMotion {
    fn amplitude(&self, _r: [f64; 3]) -> [Complex64; 3] {
        [Complex64::new(0.0, 0.0); 3]
    }
    fn is_static(&self) -> bool {
        true
    }
}

/// A harmonic [`Displacement`] seen as a general [`Motion`]: `Re{U e^{i(ωt+θ)}}`.
pub struct HarmonicMotion<'a> {
    /// Amplitude field.
    pub field: &'a dyn Displacement,
    /// Angular frequency ω, rad/s.
    pub omega_rad_per_s: f64,
    /// Phase offset θ, rad.
    pub phase_offset_rad: f64,
}

impl Motion for HarmonicMotion<'_> {
    fn displacement(&self, r: [f64; 3], t: f64) -> [f64; 3] {
        let e = Complex64::from_polar(1.0, self.omega_rad_per_s * t + self.phase_offset_rad);
        self.field.amplitude(r).map(|u| (u * e).re)
    }
}

/// Damped plane shear wave in a homogeneous viscoelastic medium:
/// `U(r) = A p̂ exp(-i k n̂·(r - r0))` with complex wavenumber `k = ω √(ρ / G*)`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaneShearWave {
    /// Amplitude A at the reference point, m.
    pub amplitude_m: f64,
    /// Complex wavenumber k (Re k = 2π/λ, −Im k = attenuation), 1/m.
    pub wavenumber: Complex64,
    /// Unit propagation direction n̂ `[z, y, x]`.
    pub propagation: [f64; 3],
    /// Unit polarisation p̂ `[z, y, x]` (⟂ n̂ for a shear wave).
    pub polarization: [f64; 3],
    /// Reference point r0 `[z, y, x]` where the phase is zero, m.
    pub reference_m: [f64; 3],
}

/// Complex shear wavenumber `k = ω √(ρ / G*)` (1/m), with Im k ≤ 0 so that
/// `exp(-i k x)` decays along +x.
pub fn shear_wavenumber(omega_rad_per_s: f64, storage_pa: f64, loss_pa: f64, density_kg_m3: f64) -> Complex64 {
    let g = Complex64::new(storage_pa, loss_pa);
    omega_rad_per_s * (Complex64::new(density_kg_m3, 0.0) / g).sqrt()
}

fn unit(v: [f64; 3], name: &str) -> Result<[f64; 3]> {
    let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    if !(n > 0.0 && n.is_finite()) {
        return Err(SolverError::invalid(name, format!("{v:?}"), "a non-zero direction [z, y, x]"));
    }
    Ok(v.map(|a| a / n))
}

impl PlaneShearWave {
    /// Build a plane shear wave from the medium and the drive; checks the ranges and
    /// that the polarisation is perpendicular to the propagation (shear).
    pub fn new(
        frequency_hz: f64,
        storage_pa: f64,
        loss_pa: f64,
        density_kg_m3: f64,
        amplitude_m: f64,
        propagation: [f64; 3],
        polarization: [f64; 3],
    ) -> Result<Self> {
        if !(frequency_hz > 0.0 && frequency_hz.is_finite()) {
            return Err(SolverError::invalid("frequency_hz", frequency_hz, "a positive frequency in Hz"));
        }
        if !(storage_pa > 0.0 && storage_pa.is_finite()) {
            return Err(SolverError::invalid("storage_modulus_pa", storage_pa, "a positive modulus in Pa"));
        }
        if !(loss_pa >= 0.0 && loss_pa.is_finite()) {
            return Err(SolverError::invalid("loss_modulus_pa", loss_pa, "a non-negative modulus in Pa"));
        }
        if !(density_kg_m3 > 0.0 && density_kg_m3.is_finite()) {
            return Err(SolverError::invalid("density_kg_m3", density_kg_m3, "a positive density"));
        }
        if !(0.0..1e-2).contains(&amplitude_m) {
            return Err(SolverError::invalid("amplitude_m", amplitude_m, "a displacement amplitude between 0 and 1 cm"));
        }
        let n = unit(propagation, "propagation_zyx")?;
        let p = unit(polarization, "polarization_zyx")?;
        let dot: f64 = (0..3).map(|a| n[a] * p[a]).sum();
        if dot.abs() > 1e-9 {
            return Err(SolverError::invalid(
                "polarization_zyx",
                format!("{polarization:?}"),
                format!("a polarisation perpendicular to the propagation {propagation:?} (a shear wave); n·p = {dot:.3}"),
            ));
        }
        let k = shear_wavenumber(2.0 * std::f64::consts::PI * frequency_hz, storage_pa, loss_pa, density_kg_m3);
        Ok(Self { amplitude_m, wavenumber: k, propagation: n, polarization: p, reference_m: [0.0; 3] })
    }
}

impl Displacement for PlaneShearWave {
    fn amplitude(&self, r: [f64; 3]) -> [Complex64; 3] {
        let s: f64 = (0..3).map(|a| self.propagation[a] * (r[a] - self.reference_m[a])).sum();
        let w = self.amplitude_m * (Complex64::new(0.0, -1.0) * self.wavenumber * s).exp();
        self.polarization.map(|p| w * p)
    }
    fn is_static(&self) -> bool {
        self.amplitude_m == 0.0
    }
}

/// A sampled displacement amplitude on a voxel grid (e.g. `/wave` from HDF5 or the
/// wave solver), trilinearly interpolated at spin positions; components `[z, y, x]`.
#[derive(Debug, Clone)]
pub struct HarmonicField {
    /// Grid of the samples.
    pub grid: Grid,
    /// `U` with shape `[3, nz, ny, nx]` (component, z, y, x), m.
    pub amplitude_m: Array4<Complex64>,
}

impl HarmonicField {
    /// Wrap sampled amplitudes; checks the shape against the grid.
    pub fn new(grid: Grid, amplitude_m: Array4<Complex64>) -> Result<Self> {
        let s = grid.shape;
        if amplitude_m.shape() != [3, s[0], s[1], s[2]] {
            return Err(SolverError::Shape(format!(
                "displacement field has shape {:?}, expected [3, {}, {}, {}]",
                amplitude_m.shape(),
                s[0],
                s[1],
                s[2]
            )));
        }
        if amplitude_m.iter().any(|c| !c.re.is_finite() || !c.im.is_finite()) {
            return Err(SolverError::invalid("displacement field", "NaN or infinite values", "finite values"));
        }
        Ok(Self { grid, amplitude_m })
    }
}

impl Displacement for HarmonicField {
    fn amplitude(&self, r: [f64; 3]) -> [Complex64; 3] {
        // Fractional index along each axis, clamped to the grid (constant extrapolation).
        let mut i0 = [0usize; 3];
        let mut w = [0.0f64; 3];
        for a in 0..3 {
            let n = self.grid.shape[a];
            let f = (r[a] / self.grid.voxel_size_m[a] + (n / 2) as f64).clamp(0.0, (n - 1) as f64);
            let fl = f.floor().min((n.max(2) - 2) as f64).max(0.0);
            i0[a] = fl as usize;
            w[a] = if n == 1 { 0.0 } else { f - fl };
        }
        let mut out = [Complex64::new(0.0, 0.0); 3];
        for corner in 0..8usize {
            let mut idx = [0usize; 3];
            let mut wt = 1.0;
            for a in 0..3 {
                let hi = (corner >> a) & 1;
                if hi == 1 && self.grid.shape[a] == 1 {
                    wt = 0.0;
                }
                idx[a] = (i0[a] + hi).min(self.grid.shape[a] - 1);
                wt *= if hi == 1 { w[a] } else { 1.0 - w[a] };
            }
            if wt == 0.0 {
                continue;
            }
            for (c, o) in out.iter_mut().enumerate() {
                *o += self.amplitude_m[[c, idx[0], idx[1], idx[2]]] * wt;
            }
        }
        out
    }
    fn is_static(&self) -> bool {
        self.amplitude_m.iter().all(|c| c.norm_sqr() == 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn plane_wave_wavelength_and_decay() {
        let (f, g1, g2, rho) = (60.0, 3000.0, 300.0, 1000.0);
        let w = PlaneShearWave::new(f, g1, g2, rho, 1e-5, [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]).unwrap();
        let k = w.wavenumber;
        // G* = ρ ω² / k²
        let g = rho * (2.0 * std::f64::consts::PI * f).powi(2) / (k * k);
        assert_relative_eq!(g.re, g1, max_relative = 1e-12);
        assert_relative_eq!(g.im, g2, max_relative = 1e-12);
        assert!(k.im < 0.0);
        let a0 = w.amplitude([0.0, 0.0, 0.0])[0];
        let a1 = w.amplitude([0.0, 0.0, 0.01])[0];
        assert_relative_eq!((a1 / a0).norm(), (k.im * 0.01).exp(), max_relative = 1e-12);
        assert!(PlaneShearWave::new(f, g1, g2, rho, 1e-5, [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]).is_err());
    }

    #[test]
    fn sampled_field_interpolates_linear_functions_exactly() {
        let grid = Grid::new([1, 5, 6], [1e-3, 2e-3, 2e-3]).unwrap();
        let f = |r: [f64; 3]| Complex64::new(1.0 + 100.0 * r[2], -50.0 * r[1]);
        let mut u = Array4::zeros((3, 1, 5, 6));
        for y in 0..5 {
            for x in 0..6 {
                u[[0, 0, y, x]] = f(grid.centre([0, y, x]));
            }
        }
        let h = HarmonicField::new(grid, u).unwrap();
        let r = [0.0, 1.3e-3, -0.7e-3];
        assert_relative_eq!(h.amplitude(r)[0].re, f(r).re, max_relative = 1e-12);
        assert_relative_eq!(h.amplitude(r)[0].im, f(r).im, max_relative = 1e-12);
    }
}
