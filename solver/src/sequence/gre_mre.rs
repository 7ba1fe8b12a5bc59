//! Built-in gradient-echo MRE sequence.
//!
//! Per TR (times from the RF pulse, which is instantaneous at `t = 0`):
//!
//! ```text
//! RF α ─ [RF tail] ─ MEG: ±G0 sin(2π f_MEG τ), N cycles ─ prephasers (read, phase, partition)
//!      ─ readout ramp ─ ADC (nx samples, k = 0 at TE) ─ ramp ─ [spoiler] ─ [RF lead] ─ ideal spoil at TR (spoiling = ideal)
//! ```
//!
//! The timing leaves room for the RF pulse as a scanner plays it
//! ([`RfPlayout`]: a block pulse with dead time and ringdown): the MEG starts
//! [`RfPlayout::tail_s`] after the pulse centre and the TR's last event ends
//! [`RfPlayout::lead_s`] before the next centre. Gradient events start and end on
//! the gradient raster counted from `−lead`, and the readout flat top is
//! rounded out to the raster around the ADC window, so the sequence can be
//! written as a Pulseq file (`mre_io::pulseq::export`) that plays
//! the same physics.
//!
//! The actuator is triggered at the start of every MEG, with the mechanical phase
//! offset θ_k = 2πk/N of the current acquisition, so the motion seen by a TR is
//! `Re{U e^{i(ω(t - t_MEG) + θ_k)}}`. Acquisitions ("shots") run polarity-major:
//! shot `s = p·N + k` for polarity `p` (0 = +, 1 = −) and offset `k`; the flat
//! k-space signal index is `((s·nz + kz)·ny + ky)·nx + kx`. Readout is along x,
//! phase encoding along y, partition encoding along z (3-D only).

use num_complex::Complex64;

use super::waveform::{GradientPiece, PieceShape};
use super::{AdcSample, RfPulse, Timeline, Trigger};
use crate::error::{Result, SolverError};
use crate::model::scanner::Scanner;
use crate::units::{Axis, GAMMA_RAD_PER_S_PER_T};

/// Sinusoidal motion-encoding gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct Meg {
    /// Encoding axis.
    pub axis: Axis,
    /// MEG frequency, Hz (usually the vibration frequency; fractional encoding otherwise).
    pub frequency_hz: f64,
    /// Number of full cycles N_MEG.
    pub cycles: u32,
    /// Amplitude G0, T/m.
    pub amplitude_t_per_m: f64,
}

/// Which MEG polarities are acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarities {
    /// + and − (the phase difference removes static background phase).
    Both,
    /// + only.
    Positive,
}

impl Polarities {
    /// Number of polarities.
    pub fn count(self) -> usize {
        match self {
            Polarities::Both => 2,
            Polarities::Positive => 1,
        }
    }
}

/// How transverse magnetisation is destroyed at the end of each TR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spoiling {
    /// Transverse magnetisation is set to zero at the end of every TR (the Ernst steady state).
    Ideal,
    /// A spoiler gradient on z of `cycles_per_voxel` turns of phase across a voxel.
    Gradient {
        /// Turns of phase across a voxel (along z) of the spoiler.
        cycles_per_voxel: f64,
    },
    /// RF spoiling (quadratic phase, 117° increment) plus the spoiler gradient.
    Rf {
        /// Turns of phase across a voxel (along z) of the spoiler.
        cycles_per_voxel: f64,
    },
    /// Nothing (refocused transverse magnetisation is kept).
    None,
}

/// How the built-in's instantaneous RF pulse is played on a scanner: a block
/// pulse of `pulse_s` centred on the rotation, after the RF dead time and
/// followed by the ringdown. The built-in keeps the rotation instantaneous at
/// the pulse centre and reserves the time around it ([`GreMre::RF_PLAYOUT`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfPlayout {
    /// Duration of the block pulse, s.
    pub pulse_s: f64,
    /// RF dead time before the pulse (amplifier unblanking), s.
    pub dead_time_s: f64,
    /// RF ringdown after the pulse, s.
    pub ringdown_s: f64,
    /// ADC dead time before and after an ADC window, s.
    pub adc_dead_time_s: f64,
}

impl RfPlayout {
    /// Time from the start of the RF block to the pulse centre
    /// (dead time + half the pulse), rounded up to `raster_s`, s.
    pub fn lead_s(&self, raster_s: f64) -> f64 {
        ceil_raster(self.dead_time_s + 0.5 * self.pulse_s, raster_s)
    }

    /// Time from the pulse centre to the end of the RF block
    /// (half the pulse + ringdown), rounded up to `raster_s`, s.
    pub fn tail_s(&self, raster_s: f64) -> f64 {
        ceil_raster(0.5 * self.pulse_s + self.ringdown_s, raster_s)
    }
}

/// Gradient-echo MRE sequence parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct GreMre {
    /// Repetition time, s.
    pub tr_s: f64,
    /// Echo time (RF to k-space centre), s.
    pub te_s: f64,
    /// Flip angle, rad.
    pub flip_angle_rad: f64,
    /// Acquisition matrix `[nz, ny, nx]` (partitions, phase encodes, readout samples).
    pub matrix: [usize; 3],
    /// Field of view `[z, y, x]`, m.
    pub fov_m: [f64; 3],
    /// ADC dwell time, s.
    pub readout_dwell_s: f64,
    /// The motion-encoding gradient.
    pub meg: Meg,
    /// Number of mechanical phase offsets N (θ_k = 2πk/N).
    pub phase_offsets: usize,
    /// Acquired polarities.
    pub polarities: Polarities,
    /// TRs played before the first acquired line (no ADC) to reach steady state.
    pub dummy_scans: usize,
    /// Spoiling scheme.
    pub spoiling: Spoiling,
}

/// Times and amplitudes inside one TR, s and T/m.
#[derive(Debug, Clone, PartialEq)]
pub struct TrLayout {
    /// Start of the RF block before the pulse centre ([`RfPlayout::lead_s`]), s.
    pub rf_lead_s: f64,
    /// MEG start, s after the RF pulse ([`RfPlayout::tail_s`]).
    pub meg_start_s: f64,
    /// MEG end (start + N/f), s.
    pub meg_end_s: f64,
    /// MEG end rounded up to the gradient raster (end of the MEG block), s.
    pub meg_block_end_s: f64,
    /// Prephaser start, s.
    pub prephaser_start_s: f64,
    /// Prephaser ramp and flat durations, s.
    pub prephaser_ramp_s: f64,
    /// Prephaser flat top, s.
    pub prephaser_flat_s: f64,
    /// Readout gradient amplitude, T/m.
    pub readout_t_per_m: f64,
    /// Readout ramp duration, s.
    pub readout_ramp_s: f64,
    /// Start of the readout ramp-up (on the gradient raster), s.
    pub readout_start_s: f64,
    /// Readout flat top (covers the ADC window, rounded out to the raster), s.
    pub readout_flat_s: f64,
    /// Start of the ADC window (first sample at + dwell/2), s.
    pub adc_start_s: f64,
    /// End of the readout (ramp-down, and the ADC dead time after the window), s.
    pub readout_end_s: f64,
    /// Spoiler: (start, ramp, flat, amplitude T/m) when present.
    pub spoiler: Option<(f64, f64, f64, f64)>,
    /// Shortest TR: end of the TR's events plus the next RF block's lead, s.
    pub min_tr_s: f64,
    /// Shortest TE these gradients allow, s.
    pub min_te_s: f64,
}

fn ceil_raster(t: f64, raster: f64) -> f64 {
    (t / raster - 1e-9).ceil().max(0.0) * raster
}

fn floor_raster(t: f64, raster: f64) -> f64 {
    (t / raster + 1e-9).floor() * raster
}

/// Shortest trapezoid (ramp, flat) for `area` (T·s/m) under the scanner limits, on the raster.
fn min_trapezoid(area: f64, sc: &Scanner) -> (f64, f64) {
    let a = area.abs();
    if a == 0.0 {
        return (0.0, 0.0);
    }
    let tri_ramp = (a / sc.max_slew_t_per_m_per_s).sqrt();
    let (ramp, flat) = if tri_ramp * sc.max_slew_t_per_m_per_s <= sc.max_gradient_t_per_m {
        (tri_ramp, 0.0)
    } else {
        let ramp = sc.max_gradient_t_per_m / sc.max_slew_t_per_m_per_s;
        (ramp, a / sc.max_gradient_t_per_m - ramp)
    };
    let ramp = ceil_raster(ramp, sc.gradient_raster_s).max(sc.gradient_raster_s);
    // amplitude = area / (ramp + flat) must stay ≤ limits after rounding: grow flat if needed
    let mut flat = ceil_raster(flat, sc.gradient_raster_s);
    while a / (ramp + flat) > sc.max_gradient_t_per_m * (1.0 + 1e-12) {
        flat += sc.gradient_raster_s;
    }
    (ramp, flat)
}

/// Trapezoid pieces with given timing and per-axis amplitude, starting at `t0`.
fn trapezoid(t0: f64, ramp: f64, flat: f64, amp: [f64; 3], out: &mut Vec<GradientPiece>) {
    let z = [0.0; 3];
    out.push(GradientPiece { start_s: t0, duration_s: ramp, shape: PieceShape::Linear { from: z, to: amp } });
    if flat > 0.0 {
        out.push(GradientPiece { start_s: t0 + ramp, duration_s: flat, shape: PieceShape::Linear { from: amp, to: amp } });
    }
    out.push(GradientPiece { start_s: t0 + ramp + flat, duration_s: ramp, shape: PieceShape::Linear { from: amp, to: z } });
}

impl GreMre {
    /// How the RF pulse is played (100 µs block pulse, 100 µs dead time, 30 µs
    /// ringdown, 10 µs ADC dead time: values of common clinical systems).
    pub const RF_PLAYOUT: RfPlayout = RfPlayout { pulse_s: 100e-6, dead_time_s: 100e-6, ringdown_s: 30e-6, adc_dead_time_s: 10e-6 };

    /// A small valid sequence (16×16, 60 Hz, 1 MEG cycle) for tests and examples.
    pub fn example_for_tests() -> Self {
        GreMre {
            tr_s: 0.05,
            te_s: 0.03,
            flip_angle_rad: 20f64.to_radians(),
            matrix: [1, 16, 16],
            fov_m: [0.005, 0.08, 0.08],
            readout_dwell_s: 20e-6,
            meg: Meg { axis: Axis::Z, frequency_hz: 60.0, cycles: 1, amplitude_t_per_m: 0.03 },
            phase_offsets: 4,
            polarities: Polarities::Both,
            dummy_scans: 3,
            spoiling: Spoiling::Ideal,
        }
    }

    /// Number of shots (polarities × offsets).
    pub fn shots(&self) -> usize {
        self.polarities.count() * self.phase_offsets
    }

    /// Length of the flat k-space signal vector.
    pub fn signal_len(&self) -> usize {
        self.shots() * self.matrix.iter().product::<usize>()
    }

    /// Mechanical phase offset θ_k, rad.
    pub fn phase_offset_rad(&self, k: usize) -> f64 {
        2.0 * std::f64::consts::PI * k as f64 / self.phase_offsets as f64
    }

    fn check_params(&self) -> Result<()> {
        let pos = |name: &str, v: f64, what: &str| -> Result<()> {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(SolverError::invalid(name, v, what))
            }
        };
        pos("tr_s", self.tr_s, "a positive time in s")?;
        pos("te_s", self.te_s, "a positive time in s")?;
        pos("readout_dwell_s", self.readout_dwell_s, "a positive time in s")?;
        pos("meg.frequency_hz", self.meg.frequency_hz, "a positive frequency in Hz")?;
        if !(self.flip_angle_rad > 0.0 && self.flip_angle_rad <= std::f64::consts::PI) {
            return Err(SolverError::invalid("flip_angle_deg", self.flip_angle_rad.to_degrees(), "an angle in (0, 180] degrees"));
        }
        for a in 0..3 {
            if self.matrix[a] == 0 {
                return Err(SolverError::invalid(format!("matrix[{a}]"), 0, "at least 1"));
            }
            pos(&format!("fov_m[{a}]"), self.fov_m[a], "a positive length in m")?;
        }
        if self.meg.cycles == 0 {
            return Err(SolverError::invalid("meg.cycles", 0, "at least 1 cycle"));
        }
        if !(self.meg.amplitude_t_per_m >= 0.0 && self.meg.amplitude_t_per_m.is_finite()) {
            return Err(SolverError::invalid("meg.amplitude_t_per_m", self.meg.amplitude_t_per_m, "a non-negative amplitude in T/m"));
        }
        if self.phase_offsets < 3 {
            return Err(SolverError::invalid(
                "phase_offsets",
                self.phase_offsets,
                "at least 3 (4 or 8 are usual) to resolve the first harmonic",
            ));
        }
        match self.spoiling {
            Spoiling::Gradient { cycles_per_voxel } | Spoiling::Rf { cycles_per_voxel }
                if cycles_per_voxel.is_nan() || cycles_per_voxel <= 0.0 =>
            {
                Err(SolverError::invalid("spoiler_cycles_per_voxel", cycles_per_voxel, "a positive number of cycles"))
            }
            _ => Ok(()),
        }
    }

    /// Lay out one TR and check it against the scanner limits and TE/TR.
    pub fn layout(&self, sc: &Scanner) -> Result<TrLayout> {
        sc.validate()?;
        self.check_params()?;
        let g = GAMMA_RAD_PER_S_PER_T;
        let meg = &self.meg;
        if meg.amplitude_t_per_m > sc.max_gradient_t_per_m {
            return Err(SolverError::ScannerLimit(format!(
                "MEG amplitude {:.1} mT/m exceeds the scanner's maximum gradient {:.1} mT/m",
                meg.amplitude_t_per_m * 1e3,
                sc.max_gradient_t_per_m * 1e3
            )));
        }
        let meg_slew = meg.amplitude_t_per_m * 2.0 * std::f64::consts::PI * meg.frequency_hz;
        if meg_slew > sc.max_slew_t_per_m_per_s {
            return Err(SolverError::ScannerLimit(format!(
                "MEG slew rate {:.1} T/m/s (G0·2πf) exceeds the scanner's maximum slew rate {:.1} T/m/s; lower the amplitude or the MEG frequency",
                meg_slew, sc.max_slew_t_per_m_per_s
            )));
        }
        let nx = self.matrix[2];
        let readout = 2.0 * std::f64::consts::PI / (g * self.fov_m[2] * self.readout_dwell_s);
        if readout > sc.max_gradient_t_per_m {
            return Err(SolverError::ScannerLimit(format!(
                "readout gradient {:.1} mT/m (FOV {:.1} mm, dwell {:.2} µs) exceeds the scanner's maximum gradient {:.1} mT/m; increase the dwell time or the FOV",
                readout * 1e3,
                self.fov_m[2] * 1e3,
                self.readout_dwell_s * 1e6,
                sc.max_gradient_t_per_m * 1e3
            )));
        }
        let raster = sc.gradient_raster_s;
        let rf = Self::RF_PLAYOUT;
        let ro_ramp = ceil_raster(readout / sc.max_slew_t_per_m_per_s, raster).max(raster);
        let half = (nx / 2) as f64 + 0.5;
        let pe_area = [0, 1].map(|a| (self.matrix[a] / 2) as f64 * 2.0 * std::f64::consts::PI / (g * self.fov_m[a]));
        // Times are counted from the RF centre; gradient events sit on the raster
        // counted from the RF block start at -lead (lead is on the raster itself).
        let rf_lead = rf.lead_s(raster);
        let meg_start = rf.tail_s(raster);
        let meg_end = meg_start + meg.cycles as f64 / meg.frequency_hz;
        let meg_block_end = meg_start + ceil_raster(meg.cycles as f64 / meg.frequency_hz, raster);
        // The ADC window [adc_start, adc_end] lies on the readout flat top, whose
        // ends are rounded out to the raster; the ramp also covers the ADC dead time.
        let ro_lead = ro_ramp.max(rf.adc_dead_time_s);
        let adc_start = self.te_s - half * self.readout_dwell_s;
        let adc_end = adc_start + nx as f64 * self.readout_dwell_s;
        let readout_start = floor_raster(adc_start - ro_lead, raster);
        let flat_start = readout_start + ro_ramp;
        let readout_flat = ceil_raster(adc_end - flat_start, raster);
        // read prephaser: minus the readout area from its start to TE (sample nx/2)
        let pre_area = readout * (0.5 * ro_ramp + (self.te_s - flat_start));
        let biggest = pre_area.max(pe_area[0]).max(pe_area[1]);
        let (pre_ramp, pre_flat) = min_trapezoid(biggest, sc);
        let min_te = meg_block_end + 2.0 * pre_ramp + pre_flat + ro_lead + half * self.readout_dwell_s;
        if self.te_s < min_te - 1e-12 {
            return Err(SolverError::Timing(format!(
                "TE {:.2} ms is too short for the MEG ({} cycle(s) at {} Hz = {:.2} ms) plus prephasers and half the readout: the minimum TE is {:.2} ms",
                self.te_s * 1e3,
                meg.cycles,
                meg.frequency_hz,
                (meg_end - meg_start) * 1e3,
                min_te * 1e3
            )));
        }
        let prephaser_start = readout_start - 2.0 * pre_ramp - pre_flat;
        let readout_end = (flat_start + readout_flat + ro_ramp).max(ceil_raster(adc_end + rf.adc_dead_time_s, raster));
        let spoiler = match self.spoiling {
            Spoiling::Gradient { cycles_per_voxel } | Spoiling::Rf { cycles_per_voxel } => {
                let dz = self.fov_m[0] / self.matrix[0] as f64;
                let area = cycles_per_voxel * 2.0 * std::f64::consts::PI / (g * dz);
                let (r, f) = min_trapezoid(area, sc);
                Some((readout_end, r, f, area / (r + f)))
            }
            Spoiling::Ideal | Spoiling::None => None,
        };
        let min_tr = spoiler.map_or(readout_end, |(s, r, f, _)| s + 2.0 * r + f) + rf_lead;
        if self.tr_s < min_tr - 1e-12 {
            return Err(SolverError::Timing(format!(
                "TR {:.2} ms is shorter than the events of one TR (RF, MEG, readout, spoiler): the minimum TR for TE {:.2} ms is {:.2} ms",
                self.tr_s * 1e3,
                self.te_s * 1e3,
                min_tr * 1e3
            )));
        }
        Ok(TrLayout {
            rf_lead_s: rf_lead,
            meg_start_s: meg_start,
            meg_end_s: meg_end,
            meg_block_end_s: meg_block_end,
            prephaser_start_s: prephaser_start,
            prephaser_ramp_s: pre_ramp,
            prephaser_flat_s: pre_flat,
            readout_t_per_m: readout,
            readout_ramp_s: ro_ramp,
            readout_start_s: readout_start,
            readout_flat_s: readout_flat,
            adc_start_s: adc_start,
            readout_end_s: readout_end,
            spoiler,
            min_tr_s: min_tr,
            min_te_s: min_te,
        })
    }

    /// Complex encoding factor ξ_c (rad/m) of the + polarity along the MEG axis for
    /// vibration angular frequency `omega`: `γ ∫ G_MEG(t) e^{iω(t - t_MEG)} dt`.
    /// For matched frequencies it is `i γ G0 N T / 2`; the phase of a spin is
    /// `Re{ξ_c U e^{iθ}}` (per polarity).
    pub fn encoding_factor(&self, omega: f64) -> Complex64 {
        let p = self.meg_piece(0.0, 1.0);
        let (_, mw) = p.moments(0.0, p.duration_s, omega, 0.0);
        mw[self.meg.axis.index()] * GAMMA_RAD_PER_S_PER_T
    }

    fn meg_piece(&self, start: f64, sign: f64) -> GradientPiece {
        let mut amp = [0.0; 3];
        amp[self.meg.axis.index()] = sign * self.meg.amplitude_t_per_m;
        GradientPiece {
            start_s: start,
            duration_s: self.meg.cycles as f64 / self.meg.frequency_hz,
            shape: PieceShape::Sine { amplitude: amp, frequency_hz: self.meg.frequency_hz },
        }
    }

    /// The whole acquisition (dummies, then every shot and line) as a timeline.
    pub fn timeline(&self, sc: &Scanner) -> Result<Timeline> {
        let lay = self.layout(sc)?;
        let g = GAMMA_RAD_PER_S_PER_T;
        let [nz, ny, nx] = self.matrix;
        let mut tl = Timeline { n_signal: self.signal_len(), ..Default::default() };
        let pe_step = [0, 1].map(|a| 2.0 * std::f64::consts::PI / (g * self.fov_m[a]));
        let pre_area_x = -lay.readout_t_per_m * (0.5 * lay.readout_ramp_s + (self.te_s - lay.readout_start_s - lay.readout_ramp_s));
        let pre_dur = lay.prephaser_ramp_s + lay.prephaser_flat_s;
        // (shot, kz, ky) of every TR; None = dummy
        let mut trs: Vec<Option<(usize, usize, usize)>> = vec![None; self.dummy_scans];
        for s in 0..self.shots() {
            for kz in 0..nz {
                for ky in 0..ny {
                    trs.push(Some((s, kz, ky)));
                }
            }
        }
        let mut rf_phase = 0.0f64;
        let n_tr = trs.len();
        for (tr_index, tr) in trs.into_iter().enumerate() {
            let t0 = tr_index as f64 * self.tr_s;
            let (shot, kz, ky) = tr.unwrap_or((0, nz / 2, ny / 2));
            let polarity = if shot / self.phase_offsets == 0 { 1.0 } else { -1.0 };
            let offset = shot % self.phase_offsets;
            if let Spoiling::Rf { .. } = self.spoiling {
                rf_phase = (rf_phase + (117f64).to_radians() * tr_index as f64).rem_euclid(2.0 * std::f64::consts::PI);
            }
            tl.rf.push(RfPulse { time_s: t0, angle_rad: self.flip_angle_rad, phase_rad: rf_phase });
            tl.triggers.push(Trigger { time_s: t0 + lay.meg_start_s, phase_offset_rad: self.phase_offset_rad(offset) });
            if self.meg.amplitude_t_per_m > 0.0 {
                tl.gradients.push(self.meg_piece(t0 + lay.meg_start_s, polarity));
            }
            let area = [
                if nz > 1 { (kz as f64 - (nz / 2) as f64) * pe_step[0] } else { 0.0 },
                (ky as f64 - (ny / 2) as f64) * pe_step[1],
                pre_area_x,
            ];
            let amp = area.map(|a| if pre_dur > 0.0 { a / pre_dur } else { 0.0 });
            trapezoid(t0 + lay.prephaser_start_s, lay.prephaser_ramp_s, lay.prephaser_flat_s, amp, &mut tl.gradients);
            let ro = [0.0, 0.0, lay.readout_t_per_m];
            trapezoid(t0 + lay.readout_start_s, lay.readout_ramp_s, lay.readout_flat_s, ro, &mut tl.gradients);
            if let Some((start, r, f, a)) = lay.spoiler {
                trapezoid(t0 + start, r, f, [a, 0.0, 0.0], &mut tl.gradients);
            }
            if tr.is_some() {
                let base = ((shot * nz + kz) * ny + ky) * nx;
                for kx in 0..nx {
                    tl.adc.push(AdcSample {
                        time_s: t0 + lay.adc_start_s + (kx as f64 + 0.5) * self.readout_dwell_s,
                        index: (base + kx) as u32,
                        phase_rad: rf_phase,
                    });
                }
            }
            if self.spoiling == Spoiling::Ideal {
                tl.spoil_s.push(t0 + self.tr_s);
            }
        }
        tl.duration_s = n_tr as f64 * self.tr_s;
        tl.gradients.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        Ok(tl)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn example() -> GreMre {
        GreMre::example_for_tests()
    }

    #[test]
    fn k_space_centre_is_at_te_and_lines_are_spaced_by_one_over_fov() {
        let seq = example();
        let sc = Scanner::default();
        let tl = seq.timeline(&sc).unwrap();
        assert_eq!(tl.adc.len(), seq.signal_len());
        // integrate the read moment from the first TR start of the first acquired line
        let t_tr = seq.dummy_scans as f64 * seq.tr_s;
        let centre = tl.adc.iter().find(|a| a.index as usize == 8 * 16 + 8).unwrap();
        assert!((centre.time_s - t_tr - 8.0 * seq.tr_s - seq.te_s).abs() < 1e-12);
        let mut m = [0.0; 3];
        for p in &tl.gradients {
            let (m0, _) = p.moments(t_tr + 8.0 * seq.tr_s, centre.time_s, 0.0, 0.0);
            for a in 0..3 {
                m[a] += m0[a];
            }
        }
        for v in m {
            assert!(v.abs() < 1e-12, "{m:?}");
        }
    }

    #[test]
    fn limits_and_timing_are_enforced() {
        let sc = Scanner::default();
        let mut s = example();
        s.te_s = 0.01;
        let e = s.layout(&sc).unwrap_err().to_string();
        assert!(e.contains("minimum TE"), "{e}");
        let mut s = example();
        s.meg.amplitude_t_per_m = 0.1;
        assert!(s.layout(&sc).unwrap_err().to_string().contains("maximum gradient"));
        let mut s = example();
        s.tr_s = 0.030;
        assert!(s.layout(&sc).unwrap_err().to_string().contains("minimum TR"));
        let mut s = example();
        s.meg.frequency_hz = 1000.0;
        s.meg.amplitude_t_per_m = 0.05;
        assert!(s.layout(&sc).unwrap_err().to_string().contains("slew"));
    }
}
