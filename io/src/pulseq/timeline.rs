//! [`PulseqSequence`] → the simulator's [`Timeline`], with per-sample
//! metadata (k-space position, labels) and the trigger events.
//!
//! Conventions (all times absolute from the sequence start, s):
//!
//! - **Axes.** Pulseq channels gx, gy, gz are the physical x, y, z; solver
//!   vectors are `[z, y, x]`. Gradients in Hz/m become T/m by dividing by γ/2π
//!   (γ = [`GAMMA_RAD_PER_S_PER_T`]); RF amplitudes are B1 in Hz (γ/2π · B1).
//! - **Gradients.** The piecewise-linear waveform pypulseq builds
//!   (`Sequence.get_gradients`): trapezoid corners; arbitrary gradients on raster
//!   centres framed by `first`/`last`; time-shaped gradients at their times.
//!   Every straight segment becomes one [`PieceShape::Linear`] piece.
//! - **RF.** A shaped pulse becomes a train of instantaneous rotations, one per
//!   RF raster cell at the cell centre, by the angle `2π |B1| dt` about the
//!   transverse axis at phase `arg B1 + φ_offset + 2π f_offset τ`, τ measured from
//!   the start of the shape (pypulseq's `waveforms(append_RF=True)` convention).
//!   With free precession between the rotations this is Strang splitting of the
//!   Bloch equation, so slice profiles emerge from the spin positions. A pulse
//!   with time shape is sampled on the RF raster by linear interpolation.
//!   *Fast path* ([`TimelineOptions::merge_constant_pulses`]): a pulse of constant
//!   magnitude and phase, without frequency offset and with no gradient playing
//!   during it, becomes one rotation by its whole angle at its centre; this is
//!   exact up to relaxation and off-resonance during the pulse.
//! - **ADC.** Sample `i` of an event is at `delay + (i + ½)·dwell` after the
//!   block start; its receiver phase is `φ_offset + 2π f_offset (i + ½)·dwell`
//!   plus the phase-modulation shape sample, rad (τ from the ADC start).
//!   ppm offsets add `ppm · 1e-6 · γ/2π · B0` Hz (or rad) with
//!   [`TimelineOptions::b0_t`].
//! - **k-space** as pypulseq's `calculate_kspace()`: `k = ∫ G dt` (1/m), set to 0
//!   at every excitation (RF use excitation or undefined) and negated at every
//!   refocusing pulse, at the RF centre `delay + center`.
//! - **Labels** as pypulseq's `evaluate_labels`: LABELSET sets, LABELINC adds,
//!   applied at the start of the block; samples carry the values in force.
//!
//! No ideal-spoiling marks are produced: spoiling is what the gradients and RF
//! phases do. Triggers are reported, not turned into motion-clock restarts.

use mre_solver::sequence::{AdcSample, GradientPiece, PieceShape, RfPulse, Timeline, Trigger};
use mre_solver::units::GAMMA_RAD_PER_S_PER_T;
use num_complex::Complex64;

use super::cost::{check_timeline_cost, EventId};
use super::error::PulseqError;
use super::kspace::{channel_waves, kspace_at, ChannelWave, KEvent};
use super::labels::{LabelName, LabelValues};
use super::model::{ExtensionRef, PulseqSequence, RfEvent, RfUse, TriggerSpec};
use super::waveform::rf_shape;

const TWO_PI: f64 = 2.0 * std::f64::consts::PI;

/// γ/2π, Hz/T.
pub const GAMMA_HZ_PER_T: f64 = GAMMA_RAD_PER_S_PER_T / TWO_PI;

/// Options of [`PulseqSequence::to_timeline`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineOptions {
    /// Main field B0 for ppm frequency/phase offsets, T (pypulseq's default 1.5 T).
    pub b0_t: f64,
    /// One rotation for constant pulses without gradients (see the module docs).
    pub merge_constant_pulses: bool,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        TimelineOptions { b0_t: 1.5, merge_constant_pulses: true }
    }
}

/// One ADC sample, in acquisition order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdcSampleInfo {
    /// Sample time, s.
    pub time_s: f64,
    /// k-space position `[kz, ky, kx]`, 1/m.
    pub k_per_m: [f64; 3],
    /// Label values in force in the sample's block.
    pub labels: LabelValues,
    /// Index of the block in [`PulseqSequence::blocks`].
    pub block_index: usize,
    /// Ordinal of the ADC event in acquisition order (0-based).
    pub adc_event: u32,
    /// Sample number within the ADC event.
    pub sample: u32,
}

/// A trigger of `extension TRIGGERS`, placed on the time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerEvent {
    /// Start of the trigger (block start + trigger delay), s.
    pub time_s: f64,
    /// Index of the block in [`PulseqSequence::blocks`].
    pub block_index: usize,
    /// The extension row (type, channel, delay, duration).
    pub spec: TriggerSpec,
    /// Label values in force in the trigger's block.
    pub labels: LabelValues,
}

impl TriggerEvent {
    /// A motion-clock restart at this trigger with mechanical phase `phase_offset_rad`.
    pub fn motion_trigger(&self, phase_offset_rad: f64) -> Trigger {
        Trigger { time_s: self.time_s, phase_offset_rad }
    }
}

/// An RF pulse of the file, placed on the time axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfCenter {
    /// Time of the RF centre, s.
    pub time_s: f64,
    /// Intended use.
    pub rf_use: RfUse,
    /// Index of the block.
    pub block_index: usize,
    /// Number of rotations it became in the timeline.
    pub rotations: usize,
}

/// A Pulseq sequence converted for the simulator.
#[derive(Debug, Clone)]
pub struct ImportedSequence {
    /// The timeline; ADC `index` is the acquisition order, `n_signal` the sample count.
    pub timeline: Timeline,
    /// Per ADC sample metadata, in acquisition order (same order as `timeline.adc`).
    pub adc: Vec<AdcSampleInfo>,
    /// Trigger events, in time order.
    pub triggers: Vec<TriggerEvent>,
    /// RF pulses with their centres, in time order.
    pub rf: Vec<RfCenter>,
    /// Start of every block, s.
    pub block_start_s: Vec<f64>,
    /// Total duration, s.
    pub duration_s: f64,
}

impl PulseqSequence {
    /// Convert to the simulator's timeline (see the module docs of
    /// [`crate::pulseq::timeline`] for the conventions). Errors (a missing
    /// event or shape in a hand-built model, gradients overlapping on a
    /// channel) are [`PulseqError::Invalid`] naming the sequence by its `Name`
    /// definition.
    pub fn to_timeline(&self, opts: &TimelineOptions) -> Result<ImportedSequence, PulseqError> {
        let invalid = |message: String| PulseqError::Invalid { file: self.definition("Name").unwrap_or("sequence").to_string(), message };
        // what the timeline will hold, against the memory budget, before any of it is built
        // (the reader checked this already, naming the lines; a hand-built model is checked here)
        check_timeline_cost(
            self,
            |e, m| {
                invalid(match e {
                    EventId::Rf(id) => format!("RF {id}: {m}"),
                    EventId::Gradient(id) => format!("gradient {id}: {m}"),
                    EventId::Adc(id) => format!("ADC {id}: {m}"),
                })
            },
            |_, m| invalid(m),
        )?;
        let (block_start_s, duration_s) = self.block_starts_s();
        let waves = channel_waves(self, &block_start_s).map_err(invalid)?;
        let larmor_mhz = 1e-6 * GAMMA_HZ_PER_T * opts.b0_t;
        let mut tl = Timeline { duration_s, gradients: gradient_pieces(&waves), ..Timeline::default() };
        let mut rf_centers = Vec::new();
        let mut k_events = Vec::new();
        let mut adc = Vec::new();
        let mut triggers = Vec::new();
        let mut labels = LabelValues::default();
        let mut n_adc_events = 0u32;
        for (bi, (b, &t0)) in self.blocks.iter().zip(&block_start_s).enumerate() {
            let first_trigger = triggers.len();
            for ext in self.block_extensions(b).map_err(|e| invalid(format!("block {}: {e}", b.id)))? {
                match ext {
                    ExtensionRef::LabelSet(l) => {
                        if let LabelName::Known(k) = l.label {
                            labels.set(k, l.value)
                        }
                    }
                    ExtensionRef::LabelInc(l) => {
                        if let LabelName::Known(k) = l.label {
                            labels.increment(k, l.value)
                        }
                    }
                    ExtensionRef::Trigger(spec) => triggers.push(TriggerEvent {
                        time_s: t0 + spec.delay_us * 1e-6,
                        block_index: bi,
                        spec: spec.clone(),
                        labels: LabelValues::default(),
                    }),
                    ExtensionRef::Other(..) => {}
                }
            }
            // labels apply from the start of the block, whatever the order of its extensions
            triggers[first_trigger..].iter_mut().for_each(|t| t.labels = labels);
            if b.rf != 0 {
                let rf = self.rf.get(&b.rf).ok_or_else(|| invalid(format!("block {}: RF {} is not defined", b.id, b.rf)))?;
                let before = tl.rf.len();
                self.rf_rotations(rf, t0, &waves, larmor_mhz, opts, &mut tl.rf).map_err(|e| invalid(format!("RF {}: {e}", b.rf)))?;
                let time_s = t0 + rf.delay_s() + rf.center_s();
                rf_centers.push(RfCenter { time_s, rf_use: rf.rf_use, block_index: bi, rotations: tl.rf.len() - before });
                match rf.rf_use {
                    RfUse::Excitation | RfUse::Undefined => k_events.push((time_s, KEvent::Excite)),
                    RfUse::Refocusing => k_events.push((time_s, KEvent::Refocus)),
                    _ => {}
                }
            }
            if b.adc != 0 {
                let a = self.adc.get(&b.adc).ok_or_else(|| invalid(format!("block {}: ADC {} is not defined", b.id, b.adc)))?;
                let modulation = match a.phase_shape {
                    0 => None,
                    id => Some(
                        self.shapes.get(&id).ok_or_else(|| invalid(format!("ADC {}: phase shape {id} is not defined", b.adc)))?.samples(),
                    ),
                };
                let start = t0 + a.delay_s();
                let freq = a.freq_offset_hz + a.freq_ppm * larmor_mhz;
                let phase = a.phase_offset_rad + a.phase_ppm * larmor_mhz;
                for i in 0..a.num_samples {
                    let tau = (f64::from(i) + 0.5) * a.dwell_s();
                    let extra = modulation.and_then(|m| m.get(i as usize)).copied().unwrap_or(0.0);
                    let index = u32::try_from(adc.len()).map_err(|_| invalid("more than 2^32 ADC samples".into()))?;
                    tl.adc.push(AdcSample { time_s: start + tau, index, phase_rad: phase + TWO_PI * freq * tau + extra });
                    adc.push(AdcSampleInfo {
                        time_s: start + tau,
                        k_per_m: [0.0; 3],
                        labels,
                        block_index: bi,
                        adc_event: n_adc_events,
                        sample: i,
                    });
                }
                n_adc_events += 1;
            }
        }
        tl.n_signal = adc.len();
        k_events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let times: Vec<f64> = adc.iter().map(|a| a.time_s).collect();
        for (info, k) in adc.iter_mut().zip(kspace_at(&waves, &k_events, &times)) {
            info.k_per_m = [k[2], k[1], k[0]];
        }
        tl.rf.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        check_finite(&tl, &adc).map_err(invalid)?;
        tracing::debug!(
            blocks = self.blocks.len(),
            rotations = tl.rf.len(),
            adc = adc.len(),
            pieces = tl.gradients.len(),
            "Pulseq timeline"
        );
        Ok(ImportedSequence { timeline: tl, adc, triggers, rf: rf_centers, block_start_s, duration_s })
    }

    /// Append the rotations of one RF event starting in a block at `t0`.
    fn rf_rotations(
        &self,
        rf: &RfEvent,
        t0: f64,
        waves: &[ChannelWave; 3],
        larmor_mhz: f64,
        opts: &TimelineOptions,
        out: &mut Vec<RfPulse>,
    ) -> Result<(), String> {
        let rasters = self.rasters();
        let shape = rf_shape(self, rf, &rasters)?;
        let start = t0 + rf.delay_s();
        let freq = rf.freq_offset_hz + rf.freq_ppm * larmor_mhz;
        let phase = rf.phase_offset_rad + rf.phase_ppm * larmor_mhz;
        // raster cells: (centre from the shape start, width, B1 in Hz)
        let cells: Vec<(f64, f64, Complex64)> = if shape.on_raster {
            shape.t_s.iter().zip(&shape.signal_hz).map(|(t, s)| (*t, rasters.rf_s, *s)).collect()
        } else {
            let (t, s) = (&shape.t_s, &shape.signal_hz);
            let span = t[t.len() - 1] - t[0];
            let n = (span / rasters.rf_s).round().max(1.0) as usize;
            let dt = span / n as f64;
            (0..n)
                .filter(|_| span > 0.0)
                .map(|k| {
                    let tc = t[0] + (k as f64 + 0.5) * dt;
                    let i = t.partition_point(|&x| x <= tc).clamp(1, t.len() - 1) - 1;
                    let w = if t[i + 1] > t[i] { (tc - t[i]) / (t[i + 1] - t[i]) } else { 1.0 };
                    (tc, dt, s[i] * (1.0 - w) + s[i + 1] * w)
                })
                .collect()
        };
        let Some(&(_, _, s0)) = cells.first() else { return Ok(()) };
        let constant = cells.iter().all(|c| (c.2 - s0).norm() <= 1e-12 * s0.norm());
        let (lo, hi) = (start + cells[0].0 - 0.5 * cells[0].1, start + cells[cells.len() - 1].0 + 0.5 * cells[cells.len() - 1].1);
        let quiet = waves.iter().all(|w| w.max_abs_in(lo, hi) == 0.0);
        if opts.merge_constant_pulses && constant && freq == 0.0 && quiet {
            let width: f64 = cells.iter().map(|c| c.1).sum();
            if s0.norm() > 0.0 {
                out.push(RfPulse { time_s: 0.5 * (lo + hi), angle_rad: TWO_PI * s0.norm() * width, phase_rad: s0.arg() + phase });
            }
            return Ok(());
        }
        out.extend(cells.iter().filter(|c| c.2.norm() > 0.0).map(|&(tc, dt, s)| RfPulse {
            time_s: start + tc,
            angle_rad: TWO_PI * s.norm() * dt,
            phase_rad: s.arg() + phase + TWO_PI * freq * tc,
        }));
        Ok(())
    }
}

/// Every time, angle, phase, gradient and k-space position of a converted sequence is a
/// number (sums of values that are each in range can still overflow).
fn check_finite(tl: &Timeline, adc: &[AdcSampleInfo]) -> Result<(), String> {
    let bad = |what: &str, i: usize| {
        Err(format!("{what} {i} of the timeline is not a finite number (times or amplitudes beyond the range of numbers)"))
    };
    if !tl.duration_s.is_finite() {
        return Err(format!("total duration {} s is not a finite number", tl.duration_s));
    }
    if let Some(i) = tl.rf.iter().position(|p| !(p.time_s.is_finite() && p.angle_rad.is_finite() && p.phase_rad.is_finite())) {
        return bad("RF rotation", i);
    }
    if let Some(i) = tl.gradients.iter().position(|p| {
        let PieceShape::Linear { from, to } = p.shape else { return false };
        !(p.start_s.is_finite() && p.duration_s.is_finite() && from.iter().chain(&to).all(|v| v.is_finite()))
    }) {
        return bad("gradient piece", i);
    }
    if let Some(i) = tl
        .adc
        .iter()
        .zip(adc)
        .position(|(a, info)| !(a.time_s.is_finite() && a.phase_rad.is_finite() && info.k_per_m.iter().all(|k| k.is_finite())))
    {
        return bad("ADC sample", i);
    }
    Ok(())
}

/// Straight segments of the channels as solver pieces, T/m `[z, y, x]`, sorted by start.
fn gradient_pieces(waves: &[ChannelWave; 3]) -> Vec<GradientPiece> {
    let mut pieces = Vec::new();
    for (j, w) in waves.iter().enumerate() {
        let axis = 2 - j; // x → 2, y → 1, z → 0
        for i in 1..w.t.len() {
            let (t0, t1, g0, g1) = (w.t[i - 1], w.t[i], w.g[i - 1], w.g[i]);
            if t1 <= t0 || (g0 == 0.0 && g1 == 0.0) {
                continue;
            }
            let mut from = [0.0; 3];
            let mut to = [0.0; 3];
            from[axis] = g0 / GAMMA_HZ_PER_T;
            to[axis] = g1 / GAMMA_HZ_PER_T;
            pieces.push(GradientPiece { start_s: t0, duration_s: t1 - t0, shape: PieceShape::Linear { from, to } });
        }
    }
    pieces.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    pieces
}
