//! Gradient channels as piecewise-linear functions, and the k-space position
//! of ADC samples as pypulseq's `Sequence.calculate_kspace()` computes it.

use super::model::PulseqSequence;
use super::waveform::{grad_points, EPS_S};

/// One gradient channel over the whole sequence: corner points joined by
/// straight lines (pypulseq's `get_gradients` piecewise polynomial), 0 before
/// the first corner and holding its integral after the last.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChannelWave {
    /// Corner times, s, non-decreasing.
    pub t: Vec<f64>,
    /// Gradient at the corners, Hz/m.
    pub g: Vec<f64>,
    /// `∫ g dt` from the first corner to each corner, 1/m.
    cum: Vec<f64>,
}

impl ChannelWave {
    fn new(t: Vec<f64>, g: Vec<f64>) -> Self {
        let mut cum = Vec::with_capacity(t.len());
        let mut acc = 0.0;
        for i in 0..t.len() {
            if i > 0 {
                acc += 0.5 * (g[i - 1] + g[i]) * (t[i] - t[i - 1]);
            }
            cum.push(acc);
        }
        ChannelWave { t, g, cum }
    }

    /// `∫_{-∞}^{t} g dt'`, 1/m.
    pub fn integral_to(&self, t: f64) -> f64 {
        let n = self.t.len();
        if n == 0 || t <= self.t[0] {
            return 0.0;
        }
        if t >= self.t[n - 1] {
            return self.cum[n - 1];
        }
        let i = self.t.partition_point(|&x| x <= t) - 1;
        let (t0, t1, g0, g1) = (self.t[i], self.t[i + 1], self.g[i], self.g[i + 1]);
        let tau = t - t0;
        let slope = if t1 > t0 { (g1 - g0) / (t1 - t0) } else { 0.0 };
        self.cum[i] + g0 * tau + 0.5 * slope * tau * tau
    }

    /// Largest |g| on `[a, b]`, Hz/m.
    pub fn max_abs_in(&self, a: f64, b: f64) -> f64 {
        let n = self.t.len();
        if n == 0 || b < self.t[0] || a > self.t[n - 1] {
            return 0.0;
        }
        let lo = self.t.partition_point(|&x| x < a);
        let hi = self.t.partition_point(|&x| x <= b);
        let inner = self.g[lo..hi].iter().fold(0.0f64, |m, v| m.max(v.abs()));
        inner.max(self.value_at(a).abs()).max(self.value_at(b).abs())
    }

    /// g(t) by linear interpolation (0 outside the corners), Hz/m.
    pub fn value_at(&self, t: f64) -> f64 {
        let n = self.t.len();
        if n == 0 || t < self.t[0] || t > self.t[n - 1] {
            return 0.0;
        }
        if n == 1 {
            return self.g[0];
        }
        let i = (self.t.partition_point(|&x| x <= t)).clamp(1, n - 1) - 1;
        let (t0, t1) = (self.t[i], self.t[i + 1]);
        if t1 > t0 {
            self.g[i] + (self.g[i + 1] - self.g[i]) * (t - t0) / (t1 - t0)
        } else {
            self.g[i + 1]
        }
    }
}

/// The x, y, z channels of the whole sequence. Where one gradient starts at
/// the time the previous one on the channel ended, the earlier corner is kept
/// (as pypulseq does). Corner times that go backwards are an error.
pub(crate) fn channel_waves(seq: &PulseqSequence, block_start_s: &[f64]) -> Result<[ChannelWave; 3], String> {
    let rasters = seq.rasters();
    let mut t: [Vec<f64>; 3] = Default::default();
    let mut g: [Vec<f64>; 3] = Default::default();
    for (b, &t0) in seq.blocks.iter().zip(block_start_s) {
        for (j, id) in b.gradients.iter().enumerate() {
            if *id == 0 {
                continue;
            }
            let ev = seq.gradients.get(id).ok_or_else(|| format!("block {}: gradient {id} is not defined", b.id))?;
            let pts = grad_points(seq, ev, &rasters).map_err(|e| format!("gradient {id}: {e}"))?;
            let mut pts = pts.into_iter().map(|(tt, gg)| (t0 + tt, gg)).peekable();
            if let (Some(&last), Some(&(first, _))) = (t[j].last(), pts.peek()) {
                if last + EPS_S >= first {
                    pts.next();
                }
                if let Some(&(next, _)) = pts.peek() {
                    if next < last - EPS_S {
                        return Err(format!(
                            "block {}: gradient {id} on channel {} starts at {next} s, before the previous one ends at {last} s",
                            b.id,
                            ["x", "y", "z"][j]
                        ));
                    }
                }
            }
            for (tt, gg) in pts {
                t[j].push(tt);
                g[j].push(gg);
            }
        }
    }
    for ch in &mut t {
        // sub-eps backward steps from rounding: clamp so the corners never go back
        for i in 1..ch.len() {
            if ch[i] < ch[i - 1] {
                ch[i] = ch[i - 1];
            }
        }
    }
    let [tx, ty, tz] = t;
    let [gx, gy, gz] = g;
    Ok([ChannelWave::new(tx, gx), ChannelWave::new(ty, gy), ChannelWave::new(tz, gz)])
}

/// What an RF pulse does to the k-space trajectory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KEvent {
    /// Excitation (or undefined use): k restarts at 0.
    Excite,
    /// Refocusing: k is negated.
    Refocus,
}

/// k-space positions `[kx, ky, kz]` (1/m) at the sorted times `t_adc`, given RF
/// events `(time, kind)` sorted by time; an RF event at the time of a sample acts first.
pub(crate) fn kspace_at(waves: &[ChannelWave; 3], rf: &[(f64, KEvent)], t_adc: &[f64]) -> Vec<[f64; 3]> {
    let raw = |t: f64| [0, 1, 2].map(|j| waves[j].integral_to(t));
    let mut dk = [0.0; 3];
    let mut next_rf = 0;
    t_adc
        .iter()
        .map(|&t| {
            while next_rf < rf.len() && rf[next_rf].0 <= t {
                let (tr, kind) = rf[next_rf];
                let k = raw(tr);
                dk = match kind {
                    KEvent::Excite => k.map(|v| -v),
                    KEvent::Refocus => [0, 1, 2].map(|j| -2.0 * k[j] - dk[j]),
                };
                next_rf += 1;
            }
            let k = raw(t);
            [0, 1, 2].map(|j| k[j] + dk[j])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_of_a_triangle() {
        let w = ChannelWave::new(vec![0.0, 1.0, 2.0], vec![0.0, 2.0, 0.0]);
        assert_eq!(w.integral_to(-1.0), 0.0);
        assert!((w.integral_to(1.0) - 1.0).abs() < 1e-15);
        assert!((w.integral_to(0.5) - 0.25).abs() < 1e-15);
        assert!((w.integral_to(5.0) - 2.0).abs() < 1e-15);
        assert_eq!(w.max_abs_in(0.2, 0.4), 0.8);
        // a single corner (a one-sample extended trapezoid) has a value only at its time
        let one = ChannelWave::new(vec![1.0], vec![3.0]);
        assert_eq!([one.value_at(1.0), one.value_at(0.5), one.max_abs_in(1.0, 1.0)], [3.0, 0.0, 3.0]);
        // excite at 1 then refocus at 1.5: k(2) = -(k(1.5)-k(1)) + (k(2)-k(1.5))
        let waves = [w.clone(), ChannelWave::default(), ChannelWave::default()];
        let k = kspace_at(&waves, &[(1.0, KEvent::Excite), (1.5, KEvent::Refocus)], &[1.2, 2.0]);
        let (k1, k15, k2) = (1.0, w.integral_to(1.5), 2.0);
        assert!((k[1][0] - (-(k15 - k1) + (k2 - k15))).abs() < 1e-15);
        assert!((k[0][0] - (w.integral_to(1.2) - k1)).abs() < 1e-15);
    }
}
