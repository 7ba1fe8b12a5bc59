//! What a Pulseq sequence does: blocks, timing, ADC, RF, moments, labels,
//! triggers and the motion encoding ([`summarise`], shown by `mre-sim seq info`).
//!
//! - **TR** is the median interval between excitations (RF use excitation or
//!   undefined), **TE** the time from an excitation to the ADC sample nearest
//!   k = 0 in the *reference TR*: the first TR whose samples come nearest to
//!   the k-space centre (the centre line; the first one of the sequence when
//!   several are equally near).
//! - **Moments** of the reference TR from the excitation centre to TE, per
//!   axis: `M0 = ∫G dt` (T·s/m) and `M1 = ∫G (t − t_exc) dt` (T·s²/m).
//! - **Motion encoding** of the reference TR, per axis: the first-harmonic
//!   encoding efficiency `ξ(f) = γ |∫ G(t) e^{i2πft} dt|` (rad of phase per m of
//!   displacement amplitude) over the same window, scanned from 10 Hz to 1 kHz;
//!   the peak frequency of ξ is reported for every axis.
//! - **Detected MEG**: on each axis, the gradient lobes (intervals of one sign)
//!   that lie wholly inside the window are grouped into runs of adjacent lobes of
//!   alternating sign with similar duration (±20 %) and area (±30 %) — a
//!   sinusoidal or trapezoidal bipolar MEG. The run with ≥ 2 lobes and the
//!   largest efficiency is the MEG: its axis, its frequency (consecutive lobe
//!   centroids `∫G t dt / ∫G dt` are half a period apart, so
//!   `f = (lobes − 1) / (2 · (last centroid − first centroid))`, which a raster
//!   tail does not bias), the efficiency ξ at that frequency and the run's
//!   start and duration. A lobe already playing at the excitation (slice
//!   selection) or cut by TE (readout) is not a candidate. The spectral peak
//!   alone is not used for the frequency: a one-cycle MEG's ξ(f) peaks well
//!   below its frequency (about 0.83 f for a sine).

use std::fmt;

use mre_solver::sequence::{GradientPiece, PieceShape};
use mre_solver::units::{Axis, GAMMA_RAD_PER_S_PER_T};

use super::error::PulseqError;
use super::labels::Label;
use super::model::{PulseqSequence, RfUse, Version};
use super::timeline::{ImportedSequence, TimelineOptions};

const TWO_PI: f64 = 2.0 * std::f64::consts::PI;

/// Frequencies of the efficiency scan: 10 Hz to 1 kHz in 1 Hz steps.
pub const SCAN_HZ: (f64, f64, f64) = (10.0, 1000.0, 1.0);

/// Summary of a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceInfo {
    /// File format version.
    pub version: Version,
    /// `Name` definition.
    pub name: Option<String>,
    /// All definitions, in file order.
    pub definitions: Vec<(String, String)>,
    /// Number of blocks.
    pub blocks: usize,
    /// Total duration, s.
    pub duration_s: f64,
    /// Number of ADC events.
    pub adc_events: usize,
    /// Number of ADC samples.
    pub adc_samples: usize,
    /// RF pulses played, by use (in order of first appearance).
    pub rf_by_use: Vec<(RfUse, usize)>,
    /// Median interval between excitations, s.
    pub tr_s: Option<f64>,
    /// Excitation to the sample nearest k = 0 in the reference TR, s.
    pub te_s: Option<f64>,
    /// Start (excitation centre) of the reference TR, s from the sequence start.
    pub reference_tr_start_s: Option<f64>,
    /// Moments of the reference TR per axis `[x, y, z]`.
    pub moments: Option<[AxisMoments; 3]>,
    /// Labels used: name, smallest and largest value over the ADC samples.
    pub labels: Vec<(Label, i64, i64)>,
    /// Number of triggers and their channel names (`osc0`, `ext1`, … or `type/channel`).
    pub triggers: (usize, Vec<String>),
    /// The detected motion-encoding gradient.
    pub meg: Option<DetectedMeg>,
    /// Things a reader should know (no excitation, no ADC, …).
    pub warnings: Vec<String>,
}

/// Gradient moments and motion-encoding spectrum of one axis over the reference TR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AxisMoments {
    /// `∫G dt`, T·s/m.
    pub m0_t_s_per_m: f64,
    /// `∫G (t − t_exc) dt`, T·s²/m.
    pub m1_t_s2_per_m: f64,
    /// Frequency of the largest first-harmonic efficiency in the scan, Hz.
    pub peak_frequency_hz: f64,
    /// That efficiency, rad/m.
    pub peak_efficiency_rad_per_m: f64,
}

/// A motion-encoding gradient found in the reference TR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectedMeg {
    /// Axis.
    pub axis: Axis,
    /// Frequency it is matched to (from the lobe centroids), Hz.
    pub frequency_hz: f64,
    /// First-harmonic efficiency ξ at that frequency over the window, rad/m.
    pub efficiency_rad_per_m: f64,
    /// Number of lobes (2 per cycle).
    pub lobes: usize,
    /// Start of the MEG after the excitation centre, s.
    pub start_s: f64,
    /// Duration of the MEG, s.
    pub duration_s: f64,
}

/// `γ ∫_{t1}^{t2} G_axis(t) e^{iω(t − t1)} dt` and `∫ G dt`, `∫ G (t − t1) dt`.
fn window_moments(pieces: &[GradientPiece], axis: usize, t1: f64, t2: f64, omega: f64) -> num_complex::Complex64 {
    let mut acc = num_complex::Complex64::new(0.0, 0.0);
    for p in pieces.iter().filter(|p| p.end_s() > t1 && p.start_s < t2) {
        acc += p.moments(t1, t2, omega, t1).1[axis];
    }
    acc * GAMMA_RAD_PER_S_PER_T
}

/// M0 and M1 of one axis over [t1, t2] (pieces are linear or sine; M1 by
/// the derivative of the ω-moment at ω = 0: ∫G τ dτ = -i d/dω ∫G e^{iωτ} dτ).
fn m0_m1(pieces: &[GradientPiece], axis: usize, t1: f64, t2: f64) -> (f64, f64) {
    let mut m0 = 0.0;
    let mut m1 = 0.0;
    for p in pieces.iter().filter(|p| p.end_s() > t1 && p.start_s < t2) {
        let a = t1.max(p.start_s);
        let b = t2.min(p.end_s());
        if b <= a {
            continue;
        }
        // Simpson on the piece part is exact for linear pieces; sine pieces are split finely.
        let n = match p.shape {
            PieceShape::Linear { .. } => 1,
            PieceShape::Sine { frequency_hz, .. } => (((b - a) * frequency_hz * 64.0).ceil() as usize).max(8),
        };
        let h = (b - a) / n as f64;
        for k in 0..n {
            let (u, v) = (a + k as f64 * h, a + (k + 1) as f64 * h);
            let g = |t: f64| p.value(t - p.start_s)[axis];
            let (gu, gm, gv) = (g(u), g(0.5 * (u + v)), g(v));
            m0 += h / 6.0 * (gu + 4.0 * gm + gv);
            m1 += h / 6.0 * (gu * (u - t1) + 4.0 * gm * (0.5 * (u + v) - t1) + gv * (v - t1));
        }
    }
    (m0, m1)
}

/// One lobe: an interval where the gradient of an axis keeps one sign.
#[derive(Debug, Clone, Copy)]
struct Lobe {
    start: f64,
    end: f64,
    area: f64,
    /// `∫ G t dt / ∫ G dt`, s.
    centroid: f64,
}

/// Lobes of one axis inside [t1, t2] from the piecewise waveform (sampled at
/// the pieces' corners and finely inside sine pieces), keeping only lobes that
/// start after t1 and end before t2.
fn lobes(pieces: &[GradientPiece], axis: usize, t1: f64, t2: f64) -> Vec<Lobe> {
    // sample points: piece corners and sine subdivisions
    let mut ts = vec![t1, t2];
    for p in pieces.iter().filter(|p| p.end_s() > t1 && p.start_s < t2) {
        ts.push(p.start_s.max(t1));
        ts.push(p.end_s().min(t2));
        if let PieceShape::Sine { frequency_hz, .. } = p.shape {
            let n = ((p.duration_s * frequency_hz * 200.0).ceil() as usize).max(16);
            ts.extend((1..n).map(|k| p.start_s + p.duration_s * k as f64 / n as f64).filter(|t| *t > t1 && *t < t2));
        }
    }
    ts.sort_by(f64::total_cmp);
    ts.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    let value = |t: f64| -> f64 {
        // value just inside (avoid picking the next piece at shared corners)
        pieces.iter().filter(|p| t >= p.start_s && t <= p.end_s()).map(|p| p.value(t - p.start_s)[axis]).sum::<f64>()
    };
    let peak = ts.iter().map(|t| value(*t).abs()).fold(0.0, f64::max);
    if peak == 0.0 {
        return Vec::new();
    }
    let tiny = 1e-6 * peak;
    let vals: Vec<f64> = ts.iter().map(|t| value(*t)).collect();
    let sign = |v: f64| {
        if v > tiny {
            1
        } else if v < -tiny {
            -1
        } else {
            0
        }
    };
    let mut out = Vec::new();
    let mut cur: Option<(i32, f64, f64, f64)> = None; // sign, start, area, ∫G t dt
    for i in 1..ts.len() {
        let (ta, tb, ga, gb) = (ts[i - 1], ts[i], vals[i - 1], vals[i]);
        let s_mid = sign(0.5 * (ga + gb));
        let (sa, sb) = (sign(ga), sign(gb));
        // zero crossing inside a segment splits it
        let cross = if sa != 0 && sb != 0 && sa != sb { Some(ta + (tb - ta) * ga / (ga - gb)) } else { None };
        let mut segs = Vec::new();
        match cross {
            Some(tc) => {
                segs.push((ta, tc, sa, ga, 0.0));
                segs.push((tc, tb, sb, 0.0, gb));
            }
            None => {
                let s = if s_mid != 0 {
                    s_mid
                } else if sa != 0 {
                    sa
                } else {
                    sb
                };
                segs.push((ta, tb, s, ga, gb))
            }
        }
        for (a, b, s, g0, g1) in segs {
            // area and ∫G t dt of the straight segment
            let h = b - a;
            let area = 0.5 * (g0 + g1) * h;
            let first = h * (g0 * (2.0 * a + b) + g1 * (a + 2.0 * b)) / 6.0;
            match cur {
                Some((cs, st, ar, m1)) if cs == s && s != 0 => cur = Some((cs, st, ar + area, m1 + first)),
                _ => {
                    if let Some((cs, st, ar, m1)) = cur {
                        if cs != 0 {
                            out.push(Lobe { start: st, end: a, area: ar, centroid: m1 / ar });
                        }
                    }
                    cur = Some((s, a, area, first));
                }
            }
        }
    }
    if let Some((cs, st, ar, m1)) = cur {
        if cs != 0 {
            out.push(Lobe { start: st, end: t2, area: ar, centroid: m1 / ar });
        }
    }
    // drop lobes touching the window ends (slice selection at the excitation, readout at TE)
    out.retain(|l| l.start > t1 + 1e-9 && l.end < t2 - 1e-9);
    out
}

/// Runs of ≥ 2 adjacent alternating lobes of similar duration and area.
fn lobe_runs(lobes: &[Lobe]) -> Vec<&[Lobe]> {
    let similar = |a: &Lobe, b: &Lobe| {
        let (da, db) = (a.end - a.start, b.end - b.start);
        let adjacent = b.start - a.end <= 0.1 * da.max(db);
        let alternating = a.area * b.area < 0.0;
        let dur = (da - db).abs() <= 0.2 * da.max(db);
        let area = (a.area.abs() - b.area.abs()).abs() <= 0.3 * a.area.abs().max(b.area.abs());
        adjacent && alternating && dur && area
    };
    let mut runs = Vec::new();
    let mut i = 0;
    while i < lobes.len() {
        let mut j = i + 1;
        while j < lobes.len() && similar(&lobes[j - 1], &lobes[j]) && similar(&lobes[i], &lobes[j]) {
            j += 1;
        }
        if j - i >= 2 {
            runs.push(&lobes[i..j]);
        }
        i = j;
    }
    runs
}

/// Summarise `seq` (converted with the default [`TimelineOptions`]).
pub fn summarise(seq: &PulseqSequence) -> Result<SequenceInfo, PulseqError> {
    let imp = seq.to_timeline(&TimelineOptions::default())?;
    Ok(summarise_imported(seq, &imp))
}

/// Summarise `seq` given its conversion `imp`.
pub fn summarise_imported(seq: &PulseqSequence, imp: &ImportedSequence) -> SequenceInfo {
    let mut warnings = Vec::new();
    let mut rf_by_use: Vec<(RfUse, usize)> = Vec::new();
    for r in &imp.rf {
        match rf_by_use.iter_mut().find(|(u, _)| *u == r.rf_use) {
            Some((_, n)) => *n += 1,
            None => rf_by_use.push((r.rf_use, 1)),
        }
    }
    let excitations: Vec<f64> =
        imp.rf.iter().filter(|r| matches!(r.rf_use, RfUse::Excitation | RfUse::Undefined)).map(|r| r.time_s).collect();
    let tr_s = if excitations.len() >= 2 {
        let mut d: Vec<f64> = excitations.windows(2).map(|w| w[1] - w[0]).collect();
        d.sort_by(f64::total_cmp);
        Some(d[d.len() / 2])
    } else {
        None
    };
    if excitations.is_empty() {
        warnings.push("no excitation pulse: TE, moments and motion encoding are not computed".into());
    }
    if imp.adc.is_empty() {
        warnings.push("no ADC samples".into());
    }
    // reference TR: the excitation before the sample nearest k = 0
    let norm = |k: &[f64; 3]| (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]).sqrt();
    let mut best: Option<(f64, f64, f64)> = None; // |k|, excitation, sample time
    for a in &imp.adc {
        let Some(&exc) = excitations.iter().rev().find(|t| **t <= a.time_s) else { continue };
        let kn = norm(&a.k_per_m);
        let better = match best {
            None => true,
            Some((bk, _, _)) => kn < bk - 1e-9 * (1.0 + bk),
        };
        if better {
            best = Some((kn, exc, a.time_s));
        }
    }
    let pieces = &imp.timeline.gradients;
    let (te_s, reference, moments, meg) = match best {
        Some((_, exc, t_te)) => {
            let window: Vec<GradientPiece> = pieces.iter().filter(|p| p.end_s() > exc && p.start_s < t_te).cloned().collect();
            let pieces = &window;
            let axes = [Axis::X, Axis::Y, Axis::Z];
            let (f0, f1, df) = SCAN_HZ;
            let nf = ((f1 - f0) / df).round() as usize + 1;
            let moments = axes.map(|ax| {
                let a = ax.index();
                let (m0, m1) = m0_m1(pieces, a, exc, t_te);
                let (mut pf, mut pe) = (f0, 0.0);
                for i in 0..nf {
                    let f = f0 + i as f64 * df;
                    let e = window_moments(pieces, a, exc, t_te, TWO_PI * f).norm();
                    if e > pe {
                        (pf, pe) = (f, e);
                    }
                }
                AxisMoments { m0_t_s_per_m: m0, m1_t_s2_per_m: m1, peak_frequency_hz: pf, peak_efficiency_rad_per_m: pe }
            });
            let mut meg: Option<DetectedMeg> = None;
            for ax in axes {
                let a = ax.index();
                let lobes = lobes(pieces, a, exc, t_te);
                for run in lobe_runs(&lobes) {
                    let start = run[0].start;
                    let duration = run[run.len() - 1].end - start;
                    // consecutive lobe centroids are half a period apart
                    let f = (run.len() - 1) as f64 / (2.0 * (run[run.len() - 1].centroid - run[0].centroid));
                    let eff = window_moments(pieces, a, exc, t_te, TWO_PI * f).norm();
                    if meg.is_none_or(|m| eff > m.efficiency_rad_per_m) {
                        meg = Some(DetectedMeg {
                            axis: ax,
                            frequency_hz: f,
                            efficiency_rad_per_m: eff,
                            lobes: run.len(),
                            start_s: start - exc,
                            duration_s: duration,
                        });
                    }
                }
            }
            (Some(t_te - exc), Some(exc), Some(moments), meg)
        }
        None => (None, None, None, None),
    };
    // labels over the ADC samples
    let mut labels: Vec<(Label, i64, i64)> = Vec::new();
    let used: Vec<Label> = Label::ALL
        .into_iter()
        .filter(|l| {
            let rows = |s: &Option<super::model::ExtensionSpecs<super::labels::LabelSpec>>| {
                s.as_ref().is_some_and(|s| s.rows.values().any(|r| r.label == super::labels::LabelName::Known(*l)))
            };
            rows(&seq.label_set) || rows(&seq.label_inc)
        })
        .collect();
    for l in used {
        let (lo, hi) = imp.adc.iter().map(|a| a.labels.get(l)).fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo <= hi {
            labels.push((l, lo, hi));
        } else {
            labels.push((l, 0, 0));
        }
    }
    let mut channels: Vec<String> = Vec::new();
    for t in &imp.triggers {
        let name = t.spec.channel_name().map(str::to_string).unwrap_or_else(|| format!("{}/{}", t.spec.kind, t.spec.channel));
        if !channels.contains(&name) {
            channels.push(name);
        }
    }
    let adc_events = seq.blocks.iter().filter(|b| b.adc != 0).count();
    SequenceInfo {
        version: seq.version,
        name: seq.definition("Name").map(str::to_string),
        definitions: seq.definitions.clone(),
        blocks: seq.blocks.len(),
        duration_s: imp.duration_s,
        adc_events,
        adc_samples: imp.adc.len(),
        rf_by_use,
        tr_s,
        te_s,
        reference_tr_start_s: reference,
        moments,
        labels,
        triggers: (imp.triggers.len(), channels),
        meg,
        warnings,
    }
}

fn use_name(u: RfUse) -> &'static str {
    match u {
        RfUse::Excitation => "excitation",
        RfUse::Refocusing => "refocusing",
        RfUse::Inversion => "inversion",
        RfUse::Saturation => "saturation",
        RfUse::Preparation => "preparation",
        RfUse::Other => "other",
        RfUse::Undefined => "undefined",
    }
}

impl fmt::Display for SequenceInfo {
    /// The text report of `mre-sim seq info`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "format        Pulseq {}", self.version)?;
        writeln!(f, "name          {}", self.name.as_deref().unwrap_or("(none)"))?;
        writeln!(f, "blocks        {}", self.blocks)?;
        writeln!(f, "duration      {:.6} s", self.duration_s)?;
        writeln!(f, "ADC           {} events, {} samples", self.adc_events, self.adc_samples)?;
        let rf: Vec<String> = self.rf_by_use.iter().map(|(u, n)| format!("{n} {}", use_name(*u))).collect();
        writeln!(f, "RF pulses     {}", if rf.is_empty() { "none".into() } else { rf.join(", ") })?;
        match self.tr_s {
            Some(t) => writeln!(f, "TR            {:.3} ms (median interval between excitations)", t * 1e3)?,
            None => writeln!(f, "TR            - (fewer than two excitations)")?,
        }
        match (self.te_s, self.reference_tr_start_s) {
            (Some(te), Some(t0)) => {
                writeln!(f, "TE            {:.3} ms (excitation at {:.6} s to the sample nearest k = 0)", te * 1e3, t0)?
            }
            _ => writeln!(f, "TE            -")?,
        }
        if let Some(m) = &self.moments {
            writeln!(f, "moments       excitation to TE, per axis:")?;
            writeln!(f, "              axis  M0 (mT·ms/m)   M1 (mT·ms²/m)  peak ξ (rad/m) at f (Hz)")?;
            for (ax, m) in ["x", "y", "z"].iter().zip(m) {
                writeln!(
                    f,
                    "              {ax}     {:>12.5}   {:>13.5}  {:>14.1} at {:.0}",
                    m.m0_t_s_per_m * 1e6,
                    m.m1_t_s2_per_m * 1e9,
                    m.peak_efficiency_rad_per_m,
                    m.peak_frequency_hz
                )?;
            }
        }
        match &self.meg {
            Some(m) => writeln!(
                f,
                "MEG           axis {}, {:.3} Hz ({} lobes, {:.3} ms from {:.3} ms after the excitation), efficiency ξ = {:.1} rad/m",
                m.axis.name(),
                m.frequency_hz,
                m.lobes,
                m.duration_s * 1e3,
                m.start_s * 1e3,
                m.efficiency_rad_per_m
            )?,
            None => writeln!(f, "MEG           none detected")?,
        }
        if self.labels.is_empty() {
            writeln!(f, "labels        none")?;
        } else {
            let l: Vec<String> = self.labels.iter().map(|(l, lo, hi)| format!("{} {lo}..{hi}", l.as_str())).collect();
            writeln!(f, "labels        {} (range over the ADC samples)", l.join(", "))?;
        }
        let (n, ch) = &self.triggers;
        writeln!(f, "triggers      {n}{}", if ch.is_empty() { String::new() } else { format!(" ({})", ch.join(", ")) })?;
        if !self.definitions.is_empty() {
            writeln!(f, "definitions")?;
            for (k, v) in &self.definitions {
                writeln!(f, "  {k} {v}")?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lobes_of_a_bipolar_pair() {
        let tri = |t0: f64, a: f64| {
            [
                GradientPiece { start_s: t0, duration_s: 1e-3, shape: PieceShape::Linear { from: [0.0; 3], to: [a, 0.0, 0.0] } },
                GradientPiece { start_s: t0 + 1e-3, duration_s: 1e-3, shape: PieceShape::Linear { from: [a, 0.0, 0.0], to: [0.0; 3] } },
            ]
        };
        let mut p: Vec<GradientPiece> = Vec::new();
        p.extend(tri(1e-3, 0.01));
        p.extend(tri(3e-3, -0.01));
        let l = lobes(&p, 0, 0.0, 10e-3);
        assert_eq!(l.len(), 2, "{l:?}");
        assert!((l[0].end - 3e-3).abs() < 1e-12 && (l[1].start - 3e-3).abs() < 1e-12);
        let runs = lobe_runs(&l);
        assert_eq!(runs.len(), 1);
    }
}
