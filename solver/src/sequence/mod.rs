//! Pulse sequences as timelines of events and gradient waveform pieces.
//!
//! A [`Timeline`] is what any sequence source (the built-in GRE-MRE builder, a
//! Pulseq file later) produces: hard RF pulses, ADC samples, ideal-spoiling
//! marks, motion triggers, and gradient waveform pieces with closed-form
//! moments. [`crate::plan::SequencePlan`] discretises it once for the kernels.

pub mod gre_mre;
pub mod mre;
pub mod waveform;

pub use gre_mre::{GreMre, Meg, Polarities, RfPlayout, Spoiling, TrLayout};
pub use mre::{BuiltinMre, MreSequence};
pub use waveform::{GradientPiece, PieceShape};

/// Instantaneous (hard) RF pulse: rotation by `angle_rad` about the transverse
/// axis `(cos φ, sin φ, 0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfPulse {
    /// Time, s.
    pub time_s: f64,
    /// Flip angle, rad.
    pub angle_rad: f64,
    /// RF phase φ, rad.
    pub phase_rad: f64,
}

/// One ADC sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdcSample {
    /// Time, s.
    pub time_s: f64,
    /// Destination index in the flat k-space signal vector.
    pub index: u32,
    /// Receiver phase, rad (the sample is demodulated by `exp(-i phase)`).
    pub phase_rad: f64,
}

/// Motion trigger: from `time_s` on, the harmonic motion has phase
/// `ω (t - time_s) + phase_offset_rad`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trigger {
    /// Time, s.
    pub time_s: f64,
    /// Mechanical phase offset θ at the trigger, rad.
    pub phase_offset_rad: f64,
}

/// A complete sequence as events and gradient pieces on an absolute time axis.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Total duration, s.
    pub duration_s: f64,
    /// Gradient waveform pieces, sorted by start time; overlapping pieces add.
    pub gradients: Vec<GradientPiece>,
    /// RF pulses, sorted by time.
    pub rf: Vec<RfPulse>,
    /// ADC samples, sorted by time.
    pub adc: Vec<AdcSample>,
    /// Times of ideal spoiling (transverse magnetisation set to zero), sorted.
    pub spoil_s: Vec<f64>,
    /// Motion triggers, sorted by time; before the first, the motion phase is `ω t`.
    pub triggers: Vec<Trigger>,
    /// Length of the flat signal vector the ADC indices point into.
    pub n_signal: usize,
}

impl Timeline {
    /// Sum of the gradient pieces at time `t`, T/m, `[z, y, x]`.
    pub fn gradient_at(&self, t: f64) -> [f64; 3] {
        let mut g = [0.0; 3];
        for p in &self.gradients {
            if t >= p.start_s && t < p.start_s + p.duration_s {
                let v = p.value(t - p.start_s);
                for a in 0..3 {
                    g[a] += v[a];
                }
            }
        }
        g
    }
}
