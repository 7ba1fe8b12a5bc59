//! What the simulation driver needs from an MRE acquisition, whatever made it.
//!
//! An [`MreSequence`] is a Cartesian acquisition repeated for every mechanical
//! phase offset and MEG polarity ("shots"): for each vibration frequency and
//! encoded motion component it gives the whole [`Timeline`], whose ADC samples
//! fill the flat k-space vector `((s·nz + kz)·ny + ky)·nx + kx` with shot
//! `s = p·N + k` (polarity `p`, 0 = +, 1 = −; offset `k` of N), and the complex
//! motion encoding of every shot. The built-in GRE-MRE ([`BuiltinMre`]) and an
//! imported Pulseq file (in `mre-io`) both implement it.

use num_complex::Complex64;

use super::{GreMre, Polarities, Timeline};
use crate::error::{Result, SolverError};
use crate::model::scanner::Scanner;
use crate::units::Axis;

/// An MRE acquisition the simulator can run and reconstruct.
pub trait MreSequence: Sync {
    /// Acquisition matrix `[nz, ny, nx]` (partitions, phase encodes, readout samples).
    fn matrix(&self) -> [usize; 3];
    /// Field of view `[z, y, x]`, m.
    fn fov_m(&self) -> [f64; 3];
    /// Number of mechanical phase offsets N.
    fn phase_offsets(&self) -> usize;
    /// Acquired MEG polarities.
    fn polarities(&self) -> Polarities;
    /// The encoded displacement components, one experiment each.
    fn components(&self) -> Vec<Axis>;
    /// Check that the acquisition can run at vibration frequency `vibration_hz`
    /// (scanner limits, timing) before any heavy work.
    fn check(&self, vibration_hz: f64, scanner: &Scanner) -> Result<()>;
    /// The whole acquisition for `vibration_hz` encoding component `component`
    /// (an index into [`MreSequence::components`]).
    fn timeline(&self, vibration_hz: f64, component: usize, scanner: &Scanner) -> Result<Timeline>;
    /// Motion encoding `e_s` of every shot, rad/m: the phase of shot `s`'s image
    /// is `φ_s = φ_background + Re{e_s U}` for a harmonic displacement
    /// `Re{U e^{iωt}}` along the component's axis (U in m), on the timeline's motion clock.
    fn shot_encoding(&self, vibration_hz: f64, component: usize, scanner: &Scanner) -> Result<Vec<Complex64>>;

    /// Number of shots (polarities × offsets).
    fn shots(&self) -> usize {
        self.polarities().count() * self.phase_offsets()
    }
    /// Length of the flat k-space signal vector.
    fn signal_len(&self) -> usize {
        self.shots() * self.matrix().iter().product::<usize>()
    }
}

/// The built-in GRE-MRE acquired along several axes, with the MEG matched to each
/// vibration frequency unless `meg_frequency_hz` fixes it.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinMre {
    /// Sequence template; its MEG axis and frequency are replaced per experiment.
    pub sequence: GreMre,
    /// Encoded components.
    pub axes: Vec<Axis>,
    /// Fixed MEG frequency, Hz (None = matched to each vibration frequency).
    pub meg_frequency_hz: Option<f64>,
}

impl BuiltinMre {
    /// The sequence actually played for `vibration_hz` and component `component`.
    pub fn instance(&self, vibration_hz: f64, component: usize) -> Result<GreMre> {
        let axis =
            *self.axes.get(component).ok_or_else(|| SolverError::invalid("component", component, "an index into the encoded axes"))?;
        let mut s = self.sequence.clone();
        s.meg.axis = axis;
        s.meg.frequency_hz = self.meg_frequency_hz.unwrap_or(vibration_hz);
        Ok(s)
    }
}

impl MreSequence for BuiltinMre {
    fn matrix(&self) -> [usize; 3] {
        self.sequence.matrix
    }
    fn fov_m(&self) -> [f64; 3] {
        self.sequence.fov_m
    }
    fn phase_offsets(&self) -> usize {
        self.sequence.phase_offsets
    }
    fn polarities(&self) -> Polarities {
        self.sequence.polarities
    }
    fn components(&self) -> Vec<Axis> {
        self.axes.clone()
    }
    fn check(&self, vibration_hz: f64, scanner: &Scanner) -> Result<()> {
        for c in 0..self.axes.len() {
            self.instance(vibration_hz, c)?.layout(scanner).map_err(|e| match e {
                SolverError::Timing(m) => SolverError::Timing(format!("{m} (vibration frequency {vibration_hz} Hz)")),
                other => other,
            })?;
        }
        Ok(())
    }
    fn timeline(&self, vibration_hz: f64, component: usize, scanner: &Scanner) -> Result<Timeline> {
        self.instance(vibration_hz, component)?.timeline(scanner)
    }
    fn shot_encoding(&self, vibration_hz: f64, component: usize, _scanner: &Scanner) -> Result<Vec<Complex64>> {
        let s = self.instance(vibration_hz, component)?;
        // The kernel applies Mxy ← Mxy e^{-iφ} with φ = γ∫G·u dt: the image phase is −φ.
        let xi = s.encoding_factor(2.0 * std::f64::consts::PI * vibration_hz);
        let n = s.phase_offsets;
        Ok((0..s.shots())
            .map(|shot| {
                let sign = if shot / n == 0 { -1.0 } else { 1.0 };
                xi * Complex64::from_polar(sign, s.phase_offset_rad(shot % n))
            })
            .collect())
    }
}
