//! Event waveforms as pypulseq interprets them: RF samples with their times,
//! and gradients as piecewise-linear corner points.

use num_complex::Complex64;

use super::model::{GradEvent, GradTiming, PulseqSequence, Rasters, RfEvent};

/// pypulseq's time tolerance (`pypulseq.eps`), s.
pub(crate) const EPS_S: f64 = 1e-9;

/// An RF event's samples, relative to the start of its shape (delay excluded).
pub(crate) struct RfShape {
    /// Sample times from the shape start, s.
    pub t_s: Vec<f64>,
    /// `amplitude · mag · exp(i 2π phase)`, Hz.
    pub signal_hz: Vec<Complex64>,
    /// True when the samples sit at RF raster centres (no time shape).
    pub on_raster: bool,
    /// Shape duration, s (a whole number of RF rasters).
    pub duration_s: f64,
}

/// Samples of an RF event; `Err` names a missing shape.
pub(crate) fn rf_shape(seq: &PulseqSequence, rf: &RfEvent, rasters: &Rasters) -> Result<RfShape, String> {
    let shape =
        |id: u32, what: &str| seq.shapes.get(&id).map(|s| s.samples()).ok_or_else(|| format!("{what} shape {id} is not in [SHAPES]"));
    let mag = shape(rf.magnitude_shape, "magnitude")?;
    let phase = shape(rf.phase_shape, "phase")?;
    if phase.len() != mag.len() || mag.is_empty() {
        return Err(format!("phase shape has {} samples, magnitude shape {}", phase.len(), mag.len()));
    }
    let signal_hz =
        mag.iter().zip(phase).map(|(m, p)| Complex64::from_polar(rf.amplitude_hz * m, 2.0 * std::f64::consts::PI * p)).collect();
    let raster = rasters.rf_s;
    if rf.time_shape != 0 {
        let t = shape(rf.time_shape, "time")?;
        if t.len() != mag.len() {
            return Err(format!("time shape has {} samples, magnitude shape {}", t.len(), mag.len()));
        }
        let t_s: Vec<f64> = t.iter().map(|v| v * raster).collect();
        let last = t_s[t_s.len() - 1];
        Ok(RfShape { duration_s: ((last - EPS_S) / raster).ceil() * raster, t_s, signal_hz, on_raster: false })
    } else {
        let n = mag.len();
        Ok(RfShape { t_s: (0..n).map(|i| (i as f64 + 0.5) * raster).collect(), signal_hz, on_raster: true, duration_s: n as f64 * raster })
    }
}

/// Corner points `(t, g)` of a gradient event relative to its block start
/// (delay included), s and Hz/m, linear in between, as pypulseq's
/// `Sequence.waveforms()`: trapezoid corners; arbitrary gradients on the
/// raster centres framed by `first` at 0 and `last` half a raster after the
/// last sample; other time grids (extended trapezoids) exactly at their times.
pub(crate) fn grad_points(seq: &PulseqSequence, g: &GradEvent, rasters: &Rasters) -> Result<Vec<(f64, f64)>, String> {
    match g {
        GradEvent::Trap(t) => {
            let (d, r, f, fall, a) = (t.delay_us * 1e-6, t.rise_us * 1e-6, t.flat_us * 1e-6, t.fall_us * 1e-6, t.amplitude_hz_per_m);
            Ok(if f.abs() > EPS_S {
                vec![(d, 0.0), (d + r, a), (d + r + f, a), (d + r + f + fall, 0.0)]
            } else if r.abs() > EPS_S && fall.abs() > EPS_S {
                vec![(d, 0.0), (d + r, a), (d + r + fall, 0.0)]
            } else {
                Vec::new()
            })
        }
        GradEvent::Arbitrary(a) => {
            let (tt, w) = arbitrary_samples(seq, a, rasters)?;
            let d = a.delay_us * 1e-6;
            let raster = rasters.gradient_s;
            let regular = tt.iter().enumerate().all(|(i, t)| (t / raster + 0.5 - (i + 1) as f64).abs() < EPS_S);
            let mut pts = Vec::with_capacity(tt.len() + 2);
            if regular {
                pts.push((d, a.first_hz_per_m));
            }
            pts.extend(tt.iter().zip(&w).map(|(t, v)| (d + t, *v)));
            if regular {
                pts.push((d + tt[tt.len() - 1] + raster / 2.0, a.last_hz_per_m));
            }
            Ok(pts)
        }
    }
}

/// Sample times (from the gradient start, delay excluded, s) and values (Hz/m) of an arbitrary gradient.
pub(crate) fn arbitrary_samples(
    seq: &PulseqSequence,
    a: &super::model::ArbitraryGradient,
    rasters: &Rasters,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let shape = seq.shapes.get(&a.shape).ok_or_else(|| format!("amplitude shape {} is not in [SHAPES]", a.shape))?;
    let w: Vec<f64> = shape.samples().iter().map(|v| v * a.amplitude_hz_per_m).collect();
    if w.is_empty() {
        return Err("empty amplitude shape".into());
    }
    let raster = rasters.gradient_s;
    let tt: Vec<f64> = match a.timing {
        GradTiming::RasterCenters => (0..w.len()).map(|i| (i as f64 + 0.5) * raster).collect(),
        GradTiming::Oversampled => (0..w.len()).map(|i| 0.5 * (i + 1) as f64 * raster).collect(),
        GradTiming::Shape(id) => {
            let t = seq.shapes.get(&id).ok_or_else(|| format!("time shape {id} is not in [SHAPES]"))?;
            if t.len() != w.len() {
                return Err(format!("time shape has {} samples, amplitude shape {}", t.len(), w.len()));
            }
            t.samples().iter().map(|v| v * raster).collect()
        }
    };
    Ok((tt, w))
}
