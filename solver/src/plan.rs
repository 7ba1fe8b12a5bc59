//! Discretise a [`Timeline`] once into a [`SequencePlan`] of piecewise steps.
//!
//! Each step is: an optional instantaneous RF rotation at its start, free
//! precession over `dt` with gradient moment `m0 = ∫G dt` and harmonic motion
//! moment `mω = e^{iθ} ∫G(t) e^{iω(t - t_trig)} dt`, relaxation, then an
//! optional ADC sample and an optional ideal spoil at its end.
//!
//! With [`Integration::Events`] a step spans from one RF/ADC/spoil/trigger event
//! to the next, so the cost scales with the number of events, not with the
//! gradient raster; this is exact for harmonic motion because precession about
//! z and relaxation commute. [`Integration::Raster`] also cuts steps on a fixed
//! raster, which the stepping kernel needs for arbitrary (non-harmonic) motion.

use num_complex::Complex64;

use crate::error::{Result, SolverError};
use crate::sequence::Timeline;

/// Marker for "no ADC sample at the end of this step".
pub const NO_ADC: u32 = u32::MAX;

/// How the timeline is cut into steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Integration {
    /// Steps from event to event; moments integrated in closed form.
    Events,
    /// Steps of at most `step_s` (and at every event).
    Raster {
        /// Longest step, s.
        step_s: f64,
    },
}

/// A sequence discretised into steps (structure of arrays, SI units).
#[derive(Debug, Clone, Default)]
pub struct SequencePlan {
    /// Vibration angular frequency ω the motion moments were computed for, rad/s.
    pub omega_rad_per_s: f64,
    /// Start of each step, s.
    pub t_start_s: Vec<f64>,
    /// Duration of each step, s.
    pub dt_s: Vec<f64>,
    /// Gradient moment `∫G dt` per step `[z, y, x]`, T·s/m.
    pub m0: Vec<[f64; 3]>,
    /// Motion moment `e^{iθ} ∫G e^{iω(t - t_trig)} dt` per step `[z, y, x]`, T·s/m.
    pub mw: Vec<[Complex64; 3]>,
    /// Mid-step time on the motion clock, `t_mid - t_trig + θ/ω`, s (for general motion).
    pub motion_time_s: Vec<f64>,
    /// RF flip angle at the start of the step (0 = none), rad.
    pub rf_angle_rad: Vec<f64>,
    /// RF phase, rad.
    pub rf_phase_rad: Vec<f64>,
    /// ADC destination index at the end of the step, or [`NO_ADC`].
    pub adc: Vec<u32>,
    /// Receiver phase of that sample, rad.
    pub adc_phase_rad: Vec<f64>,
    /// Ideal spoiling at the end of the step (after the ADC sample).
    pub spoil: Vec<bool>,
    /// Length of the flat signal vector.
    pub n_signal: usize,
}

impl SequencePlan {
    /// Number of steps.
    pub fn len(&self) -> usize {
        self.dt_s.len()
    }
    /// True when the plan has no steps.
    pub fn is_empty(&self) -> bool {
        self.dt_s.is_empty()
    }
    /// Number of ADC samples.
    pub fn adc_count(&self) -> usize {
        self.adc.iter().filter(|&&a| a != NO_ADC).count()
    }

    /// Discretise `tl` for vibration angular frequency `omega` (rad/s).
    pub fn build(tl: &Timeline, omega: f64, integration: Integration) -> Result<Self> {
        if !(tl.duration_s > 0.0 && tl.duration_s.is_finite()) {
            return Err(SolverError::invalid("sequence duration_s", tl.duration_s, "a positive duration"));
        }
        let tol = 1e-12 * tl.duration_s.max(1.0);
        let mut points: Vec<f64> = Vec::with_capacity(tl.adc.len() + tl.rf.len() * 3 + 2);
        points.push(0.0);
        points.push(tl.duration_s);
        points.extend(tl.rf.iter().map(|r| r.time_s));
        points.extend(tl.adc.iter().map(|a| a.time_s));
        points.extend(tl.spoil_s.iter().copied());
        points.extend(tl.triggers.iter().map(|t| t.time_s));
        if let Integration::Raster { step_s } = integration {
            if step_s.is_nan() || step_s <= 0.0 {
                return Err(SolverError::invalid("raster step_s", step_s, "a positive time"));
            }
            let n = (tl.duration_s / step_s).ceil() as usize;
            points.extend((1..n).map(|k| k as f64 * step_s));
        }
        if let Some(bad) = points.iter().find(|t| !(**t >= 0.0 && **t <= tl.duration_s + tol)) {
            return Err(SolverError::invalid("event time_s", bad, format!("a time within the sequence [0, {}] s", tl.duration_s)));
        }
        points.sort_by(f64::total_cmp);
        points.dedup_by(|a, b| (*a - *b).abs() <= tol);
        // zero-length first step when something happens at t = 0 at the end of a step
        let needs_initial = tl.adc.first().is_some_and(|a| a.time_s <= tol) || tl.spoil_s.first().is_some_and(|&t| t <= tol);
        let mut starts: Vec<(f64, f64)> = Vec::with_capacity(points.len());
        if needs_initial {
            starts.push((0.0, 0.0));
        }
        starts.extend(points.windows(2).map(|w| (w[0], w[1])));
        let n = starts.len();
        let mut plan = SequencePlan {
            omega_rad_per_s: omega,
            t_start_s: Vec::with_capacity(n),
            dt_s: Vec::with_capacity(n),
            m0: Vec::with_capacity(n),
            mw: Vec::with_capacity(n),
            motion_time_s: Vec::with_capacity(n),
            rf_angle_rad: vec![0.0; n],
            rf_phase_rad: vec![0.0; n],
            adc: vec![NO_ADC; n],
            adc_phase_rad: vec![0.0; n],
            spoil: vec![false; n],
            n_signal: tl.n_signal,
        };
        let max_piece = tl.gradients.iter().map(|p| p.duration_s).fold(0.0, f64::max);
        let mut trig = 0usize; // index of the first trigger after the current step start
        for &(a, b) in &starts {
            while trig < tl.triggers.len() && tl.triggers[trig].time_s <= a + tol {
                trig += 1;
            }
            let (t_ref, theta) =
                if trig == 0 { (0.0, 0.0) } else { (tl.triggers[trig - 1].time_s, tl.triggers[trig - 1].phase_offset_rad) };
            let mut m0 = [0.0; 3];
            let mut mw = [Complex64::new(0.0, 0.0); 3];
            if b > a {
                let lo = tl.gradients.partition_point(|p| p.start_s < a - max_piece - tol);
                for p in tl.gradients[lo..].iter().take_while(|p| p.start_s < b) {
                    if p.end_s() <= a {
                        continue;
                    }
                    let (pm0, pmw) = p.moments(a, b, omega, t_ref);
                    for k in 0..3 {
                        m0[k] += pm0[k];
                        mw[k] += pmw[k];
                    }
                }
            }
            let rot = Complex64::from_polar(1.0, theta);
            plan.t_start_s.push(a);
            plan.dt_s.push(b - a);
            plan.m0.push(m0);
            plan.mw.push(mw.map(|m| m * rot));
            let shift = if omega != 0.0 { theta / omega } else { 0.0 };
            plan.motion_time_s.push(0.5 * (a + b) - t_ref + shift);
        }
        // attach events: RF at a step start, ADC and spoil at a step end
        let find_start = |t: f64| starts.partition_point(|s| s.0 < t - tol).min(n - 1);
        let find_end = |t: f64| starts.partition_point(|s| s.1 < t - tol).min(n - 1);
        for r in &tl.rf {
            let i = find_start(r.time_s);
            if (starts[i].0 - r.time_s).abs() > tol || (starts[i].1 - starts[i].0 == 0.0 && needs_initial && i == 0) {
                continue; // an RF pulse at the very end of the sequence does nothing
            }
            if plan.rf_angle_rad[i] != 0.0 {
                return Err(SolverError::Timing(format!("two RF pulses at the same time {} s", r.time_s)));
            }
            plan.rf_angle_rad[i] = r.angle_rad;
            plan.rf_phase_rad[i] = r.phase_rad;
        }
        for s in &tl.adc {
            if s.index as usize >= tl.n_signal {
                return Err(SolverError::invalid("ADC index", s.index, format!("an index below the signal length {}", tl.n_signal)));
            }
            let i = find_end(s.time_s);
            if plan.adc[i] != NO_ADC {
                return Err(SolverError::Timing(format!("two ADC samples at the same time {} s", s.time_s)));
            }
            plan.adc[i] = s.index;
            plan.adc_phase_rad[i] = s.phase_rad;
        }
        for &t in &tl.spoil_s {
            plan.spoil[find_end(t)] = true;
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scanner::Scanner;
    use crate::sequence::gre_mre::tests::example;

    #[test]
    fn events_and_raster_plans_have_equal_total_moments() {
        let seq = example();
        let tl = seq.timeline(&Scanner::default()).unwrap();
        let w = 2.0 * std::f64::consts::PI * 60.0;
        let ev = SequencePlan::build(&tl, w, Integration::Events).unwrap();
        let ra = SequencePlan::build(&tl, w, Integration::Raster { step_s: 1e-4 }).unwrap();
        assert_eq!(ev.adc_count(), seq.signal_len());
        assert_eq!(ra.adc_count(), seq.signal_len());
        assert!(ra.len() > 10 * ev.len());
        // per-TR sums agree
        let sum = |p: &SequencePlan, t0: f64, t1: f64| {
            let mut m = [Complex64::new(0.0, 0.0); 3];
            for i in (0..p.len()).filter(|&i| p.t_start_s[i] >= t0 && p.t_start_s[i] < t1) {
                m.iter_mut().zip(&p.mw[i]).for_each(|(a, b)| *a += b);
            }
            m
        };
        for tr in [0.0, 0.05, 0.5] {
            let a = sum(&ev, tr - 1e-7, tr + 0.05 - 1e-7);
            let b = sum(&ra, tr - 1e-7, tr + 0.05 - 1e-7);
            for k in 0..3 {
                assert!((a[k] - b[k]).norm() < 1e-12, "{a:?} {b:?}");
            }
        }
        // every TR starts with its RF pulse, ends with a spoil
        assert_eq!(ev.rf_angle_rad.iter().filter(|&&a| a != 0.0).count(), seq.dummy_scans + seq.shots() * 16);
        assert_eq!(ev.spoil.iter().filter(|&&s| s).count(), seq.dummy_scans + seq.shots() * 16);
    }
}
