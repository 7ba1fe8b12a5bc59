//! The built-in GRE-MRE sequence ([`GreMre`]) as a Pulseq file.
//!
//! Every TR of [`GreMre::timeline`] (dummies, then every shot polarity-major and
//! every line) becomes the blocks
//!
//! ```text
//! RF (block pulse, labels) │ MEG (arbitrary gradient, trigger) │ [delay] │ prephasers │ readout (+ ADC) │ [spoiler] │ [delay]
//! ```
//!
//! - **Time axis.** The built-in's instantaneous RF rotation at the TR start is
//!   the centre of a constant block pulse of [`GreMre::RF_PLAYOUT`] (100 µs after
//!   the 100 µs dead time; the ringdown follows), so every event of the file is
//!   [`TrLayout::rf_lead_s`] later than in the built-in timeline; the triggers move
//!   with it, so the physics is the same. The importer's fast path
//!   ([`super::TimelineOptions::merge_constant_pulses`]) turns the pulse back into
//!   one rotation at its centre.
//! - **MEG.** The sine `±G0 sin(2π f τ)` (N cycles) as an arbitrary gradient on
//!   the gradient raster centres, framed by 0 at both ends. Linear interpolation
//!   between raster samples would change the encoding by about `(π f Δt)²/3`
//!   (1e-6 at 60 Hz) and, for a duration off the raster, leave a small zeroth
//!   moment; [`meg_samples`] therefore adds tiny multiples of the sampled cosine
//!   and of a constant so that the zeroth moment and the first-harmonic encoding
//!   `∫ G e^{iωτ} dτ` at the MEG frequency equal the built-in's exactly.
//! - **Labels** (LABELSET in the RF block, so they are in force at the trigger and
//!   the ADC of the TR): LIN = ky, PAR = kz (3-D only), PHS = offset index k,
//!   SET = polarity (0 = +, 1 = −). Dummy scans carry the labels of the built-in's
//!   dummies (centre line, offset 0, +) and have no ADC.
//! - **Trigger** (`extension TRIGGERS`, digital output `osc0`, 100 µs) at the
//!   start of the MEG, where the built-in restarts the motion clock with phase
//!   θ_k = 2π·PHS/N.
//! - **RF spoiling** ([`Spoiling::Rf`]): the built-in's quadratic RF phase on the
//!   pulse and the ADC.
//! - **Spoiling.** A file cannot zero transverse magnetisation: `Spoiling::Ideal`
//!   is refused ([`ExportError::IdealSpoiling`]). With `Gradient` and `Rf` the
//!   spoiler gradient (and the RF phases) are written, but the built-in *also*
//!   zeroes the transverse magnetisation at the end of every TR, which the file
//!   cannot say: simulating the file then differs from the built-in by what the
//!   spoiler leaves. With `Spoiling::None` the two are the same physics.
//! - **Definitions**: the four rasters (gradient and block raster = the scanner's
//!   gradient raster, RF 1 µs, ADC 100 ns), `Name`, `FOV` (x y z, m), `TE`, `TR`,
//!   the dead times (`RfDeadTime`, `RfRingdownTime`, `AdcDeadTime`, s, for
//!   `check_timing`), `TotalDuration` and the MRE keys of [`mre_keys`].

use std::collections::{BTreeMap, HashMap};

use mre_solver::error::SolverError;
use mre_solver::model::scanner::Scanner;
use mre_solver::sequence::{GradientPiece, GreMre, PieceShape, Polarities, Spoiling, TrLayout};
use mre_solver::units::Axis;

use super::labels::{Label, LabelName, LabelSpec};
use super::model::{
    AdcEvent, ArbitraryGradient, Block, ExtensionLink, ExtensionSpecs, GradEvent, GradTiming, PulseqSequence, RfEvent, RfUse, TrapGradient,
    TriggerSpec, Version,
};
use super::shapes::Shape;
use super::timeline::GAMMA_HZ_PER_T;
use super::write::num;

const TWO_PI: f64 = 2.0 * std::f64::consts::PI;

/// RF raster of the written file, s.
pub const RF_RASTER_S: f64 = 1e-6;
/// ADC raster of the written file, s.
pub const ADC_RASTER_S: f64 = 100e-9;
/// Duration of the trigger pulse, s.
pub const TRIGGER_DURATION_S: f64 = 100e-6;

/// Definition keys with the MRE parameters of an exported file.
pub mod mre_keys {
    /// MEG frequency, Hz.
    pub const MEG_FREQUENCY: &str = "MreMegFrequency";
    /// MEG axis (`x`, `y` or `z`).
    pub const MEG_AXIS: &str = "MreMegAxis";
    /// Number of MEG cycles.
    pub const MEG_CYCLES: &str = "MreMegCycles";
    /// MEG amplitude G0, T/m.
    pub const MEG_AMPLITUDE: &str = "MreMegAmplitude";
    /// Encoding efficiency |ξ| = γ G0 N T/2 at the MEG frequency, rad/m per m of displacement.
    pub const ENCODING: &str = "MreEncodingEfficiency";
    /// Number of mechanical phase offsets N (the trigger phase is 2π·PHS/N).
    pub const PHASE_OFFSETS: &str = "MrePhaseOffsets";
    /// Number of MEG polarities (2: SET 0 = +, SET 1 = −; 1: + only).
    pub const POLARITIES: &str = "MrePolarities";
    /// Acquisition matrix `nx ny nz`.
    pub const MATRIX: &str = "MreMatrix";
    /// Dummy TRs before the first ADC.
    pub const DUMMY_SCANS: &str = "MreDummyScans";
}

/// The built-in sequence cannot be written as a Pulseq file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// `spoiling = "ideal"` has no playable equivalent.
    #[error(
        "spoiling = \"ideal\" (transverse magnetisation set to zero at the end of every TR) cannot be written to a Pulseq file: \
         use spoiling = \"gradient\" or \"rf\" (spoiler gradient, plus RF phase cycling for \"rf\") or \"none\" \
         (e.g. --set sequence.spoiling=gradient)"
    )]
    IdealSpoiling,
    /// The sequence itself is invalid (timing, scanner limits).
    #[error(transparent)]
    Sequence(#[from] SolverError),
    /// A time of the sequence is not a whole number of rasters.
    #[error("{what} is {value_s:e} s, not a multiple of the {raster} raster {raster_s:e} s{hint}")]
    OffRaster {
        /// The quantity, with the config key where there is one.
        what: String,
        /// Its value, s.
        value_s: f64,
        /// Raster name (gradient, RF, ADC).
        raster: &'static str,
        /// Raster, s.
        raster_s: f64,
        /// How to fix it.
        hint: String,
    },
}

/// The MEG of `seq` (+ polarity) on the gradient raster centres of `raster_s`,
/// T/m, sample `i` at `(i + ½)·raster_s` after the MEG start, linear in between
/// and framed by 0 at the start and at `n·raster_s`.
///
/// Samples after the end N/f of the sine are 0. The samples are
/// `a·sin(ωτ_i) + b·cos(ωτ_i) + c` (τ_i < N/f) with `a ≈ G0` and tiny `b`, `c`
/// chosen so that the zeroth moment and `∫ G e^{iωτ} dτ` (ω = 2π f_MEG) of the
/// piecewise-linear waveform equal those of the built-in sine.
pub fn meg_samples(seq: &GreMre, raster_s: f64) -> Vec<f64> {
    let f = seq.meg.frequency_hz;
    let duration = f64::from(seq.meg.cycles) / f;
    let n = ((duration / raster_s) - 1e-9).ceil().max(1.0) as usize;
    let omega = TWO_PI * f;
    let basis = |g: &dyn Fn(f64) -> f64| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let tau = (i as f64 + 0.5) * raster_s;
                if tau < duration {
                    g(tau)
                } else {
                    0.0
                }
            })
            .collect()
    };
    let sin = basis(&|t| (omega * t).sin());
    let cos = basis(&|t| (omega * t).cos());
    let one = basis(&|_| 1.0);
    let moments = |w: &[f64]| -> [f64; 3] {
        let (m0, mw) = linear_moments(w, raster_s, omega);
        [m0, mw.re, mw.im]
    };
    let sine =
        GradientPiece { start_s: 0.0, duration_s: duration, shape: PieceShape::Sine { amplitude: [1.0, 0.0, 0.0], frequency_hz: f } };
    let (m0, mw) = sine.moments(0.0, duration, omega, 0.0);
    let target = [m0[0], mw[0].re, mw[0].im];
    let cols = [moments(&sin), moments(&cos), moments(&one)];
    let coef = solve3(cols, target).unwrap_or([1.0, 0.0, 0.0]);
    let g0 = seq.meg.amplitude_t_per_m;
    (0..n).map(|i| g0 * (coef[0] * sin[i] + coef[1] * cos[i] + coef[2] * one[i])).collect()
}

/// `(∫ G dτ, ∫ G e^{iωτ} dτ)` of raster-centre samples framed by zeros, exactly
/// as the timeline's linear pieces integrate them.
pub(crate) fn linear_moments(w: &[f64], raster_s: f64, omega: f64) -> (f64, num_complex::Complex64) {
    let mut pts = vec![(0.0, 0.0)];
    pts.extend(w.iter().enumerate().map(|(i, v)| ((i as f64 + 0.5) * raster_s, *v)));
    pts.push((w.len() as f64 * raster_s, 0.0));
    let mut m0 = 0.0;
    let mut mw = num_complex::Complex64::new(0.0, 0.0);
    for p in pts.windows(2) {
        let ((t0, g0), (t1, g1)) = (p[0], p[1]);
        let piece =
            GradientPiece { start_s: t0, duration_s: t1 - t0, shape: PieceShape::Linear { from: [g0, 0.0, 0.0], to: [g1, 0.0, 0.0] } };
        let (a, b) = piece.moments(t0, t1, omega, 0.0);
        m0 += a[0];
        mw += b[0];
    }
    (m0, mw)
}

/// Solve `Σ_j x_j cols[j] = rhs` (3×3, Cramer's rule); `None` when singular.
fn solve3(cols: [[f64; 3]; 3], rhs: [f64; 3]) -> Option<[f64; 3]> {
    let det = |c: [[f64; 3]; 3]| {
        c[0][0] * (c[1][1] * c[2][2] - c[2][1] * c[1][2]) - c[1][0] * (c[0][1] * c[2][2] - c[2][1] * c[0][2])
            + c[2][0] * (c[0][1] * c[1][2] - c[1][1] * c[0][2])
    };
    let d = det(cols);
    if d.abs() < 1e-300 || !d.is_finite() {
        return None;
    }
    let mut x = [0.0; 3];
    for (j, xj) in x.iter_mut().enumerate() {
        let mut c = cols;
        c[j] = rhs;
        *xj = det(c) / d;
    }
    Some(x)
}

/// Interning tables for events, shapes and extension rows (pypulseq's event libraries).
#[derive(Default)]
struct Builder {
    seq_blocks: Vec<Block>,
    rf: BTreeMap<u32, RfEvent>,
    rf_ids: HashMap<String, u32>,
    gradients: BTreeMap<u32, GradEvent>,
    grad_ids: HashMap<String, u32>,
    adc: BTreeMap<u32, AdcEvent>,
    adc_ids: HashMap<String, u32>,
    shapes: BTreeMap<u32, Shape>,
    shape_ids: HashMap<Vec<u64>, u32>,
    label_rows: BTreeMap<u32, LabelSpec>,
    label_ids: HashMap<(i64, Label), u32>,
    trigger_rows: BTreeMap<u32, TriggerSpec>,
    ext_list: BTreeMap<u32, ExtensionLink>,
    ext_ids: HashMap<(u32, u32, u32), u32>,
}

const LABELSET_TYPE: u32 = 1;
const TRIGGERS_TYPE: u32 = 2;

/// One element of a block's extension list.
enum Ext {
    Label(i64, Label),
    Trigger(u32),
}

fn intern<T>(map: &mut BTreeMap<u32, T>, ids: &mut HashMap<String, u32>, value: T) -> u32
where
    T: std::fmt::Debug,
{
    let key = format!("{value:?}");
    if let Some(id) = ids.get(&key) {
        return *id;
    }
    let id = map.len() as u32 + 1;
    map.insert(id, value);
    ids.insert(key, id);
    id
}

impl Builder {
    fn shape(&mut self, samples: Vec<f64>, compress: bool) -> u32 {
        let key: Vec<u64> = samples.iter().map(|v| v.to_bits()).collect();
        if let Some(id) = self.shape_ids.get(&key) {
            return *id;
        }
        // Uncompressed storage keeps the samples bit-exact (the MEG moments depend on them).
        let shape = if compress {
            Shape::from_samples(samples)
        } else {
            let n = samples.len();
            Shape::from_packed(n, samples).expect("an uncompressed shape always unpacks")
        };
        let id = self.shapes.len() as u32 + 1;
        self.shapes.insert(id, shape);
        self.shape_ids.insert(key, id);
        id
    }

    fn rf(&mut self, r: RfEvent) -> u32 {
        intern(&mut self.rf, &mut self.rf_ids, r)
    }

    fn grad(&mut self, g: GradEvent) -> u32 {
        intern(&mut self.gradients, &mut self.grad_ids, g)
    }

    fn adc(&mut self, a: AdcEvent) -> u32 {
        intern(&mut self.adc, &mut self.adc_ids, a)
    }

    /// The extension list of a block whose extensions apply in the order of `exts`.
    fn extensions(&mut self, exts: &[Ext]) -> u32 {
        let mut next = 0;
        // the linked list runs in the reverse of the application order
        for e in exts.iter() {
            let (type_id, ref_id) = match *e {
                Ext::Label(value, label) => {
                    let id = match self.label_ids.get(&(value, label)) {
                        Some(id) => *id,
                        None => {
                            let id = self.label_rows.len() as u32 + 1;
                            self.label_rows.insert(id, LabelSpec { value, label: LabelName::Known(label) });
                            self.label_ids.insert((value, label), id);
                            id
                        }
                    };
                    (LABELSET_TYPE, id)
                }
                Ext::Trigger(id) => (TRIGGERS_TYPE, id),
            };
            let key = (type_id, ref_id, next);
            next = match self.ext_ids.get(&key) {
                Some(id) => *id,
                None => {
                    let id = self.ext_list.len() as u32 + 1;
                    self.ext_list.insert(id, ExtensionLink { type_id, ref_id, next });
                    self.ext_ids.insert(key, id);
                    id
                }
            };
        }
        next
    }

    fn block(&mut self, duration: u64, rf: u32, gradients: [u32; 3], adc: u32, ext: u32) {
        let id = self.seq_blocks.len() as u32 + 1;
        self.seq_blocks.push(Block { id, duration, rf, gradients, adc, ext });
    }
}

/// Round a time in s to µs with ns precision (exact decimal in the file).
fn us(t_s: f64) -> f64 {
    (t_s * 1e9).round() / 1e3
}

/// Whole number of `raster_s` in `t_s`, or the error naming `what`.
fn rasters(what: &str, t_s: f64, raster: &'static str, raster_s: f64, hint: &str) -> Result<u64, ExportError> {
    let c = t_s / raster_s;
    let r = c.round();
    if (c - r).abs() > 1e-6 || r < 0.0 {
        return Err(ExportError::OffRaster { what: what.into(), value_s: t_s, raster, raster_s, hint: hint.into() });
    }
    Ok(r as u64)
}

fn trap(amp_t_per_m: f64, ramp_s: f64, flat_s: f64, delay_s: f64) -> GradEvent {
    GradEvent::Trap(TrapGradient {
        amplitude_hz_per_m: amp_t_per_m * GAMMA_HZ_PER_T,
        rise_us: us(ramp_s),
        flat_us: us(flat_s),
        fall_us: us(ramp_s),
        delay_us: us(delay_s),
    })
}

/// Pulseq channel (0 = x, 1 = y, 2 = z) of a solver axis.
fn channel(axis: Axis) -> usize {
    2 - axis.index()
}

/// The built-in sequence `seq` on `scanner` as a Pulseq sequence (see the module
/// docs for the mapping). Errors: ideal spoiling, an invalid sequence (timing,
/// limits), or a time that is not on its raster (TR, the ADC start TE − (nx/2 + ½)·dwell,
/// the dwell).
pub fn from_gre_mre(seq: &GreMre, scanner: &Scanner) -> Result<PulseqSequence, ExportError> {
    if seq.spoiling == Spoiling::Ideal {
        return Err(ExportError::IdealSpoiling);
    }
    let lay: TrLayout = seq.layout(scanner)?;
    let raster = scanner.gradient_raster_s;
    let rf_play = GreMre::RF_PLAYOUT;
    let [nz, ny, nx] = seq.matrix;
    let g = mre_solver::units::GAMMA_RAD_PER_S_PER_T;

    // block boundaries, in rasters from the RF block start (= RF centre - lead)
    let lead = lay.rf_lead_s;
    let at = |what: &str, t: f64| rasters(what, t + lead, "gradient", raster, "");
    let tr_count = rasters("sequence.tr_s", seq.tr_s, "gradient", raster, " (block duration raster)")?;
    let meg_start = at("MEG start", lay.meg_start_s)?;
    let meg_end = at("MEG end", lay.meg_block_end_s)?;
    let pre_start = at("prephaser start", lay.prephaser_start_s)?;
    let ro_start = at("readout start", lay.readout_start_s)?;
    let ro_end = at("readout end", lay.readout_end_s)?;
    let spoil_end = match lay.spoiler {
        Some((s, r, f, _)) => at("spoiler end", s + 2.0 * r + f)?,
        None => ro_end,
    };
    let tr_end = tr_count;
    debug_assert!(meg_start <= meg_end && meg_end <= pre_start && pre_start <= ro_start && spoil_end <= tr_end);
    let adc_delay_s = lay.adc_start_s - lay.readout_start_s;
    rasters(
        "ADC start relative to the readout gradient (TE − (nx/2 + ½)·dwell)",
        adc_delay_s,
        "RF",
        RF_RASTER_S,
        "; choose sequence.te_s and sequence.readout_dwell_s on the 1 µs raster",
    )?;
    rasters("sequence.readout_dwell_s", seq.readout_dwell_s, "ADC", ADC_RASTER_S, "")?;
    let pulse_n = rasters("RF pulse duration", rf_play.pulse_s, "RF", RF_RASTER_S, "")?;
    let rf_delay_s = lead - 0.5 * rf_play.pulse_s;
    rasters("RF delay", rf_delay_s, "RF", RF_RASTER_S, "")?;

    let mut b = Builder::default();
    // RF: constant block pulse
    let mag = b.shape(vec![1.0; pulse_n as usize], true);
    let phase = b.shape(vec![0.0; pulse_n as usize], true);
    let rf_amp_hz = seq.flip_angle_rad / (TWO_PI * pulse_n as f64 * RF_RASTER_S);
    // MEG: one shape, two polarities
    let meg = meg_samples(seq, raster);
    let meg_peak = meg.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let meg_ids = if meg_peak > 0.0 {
        let shape = b.shape(meg.iter().map(|v| v / meg_peak).collect(), false);
        let ev = |sign: f64| {
            GradEvent::Arbitrary(ArbitraryGradient {
                amplitude_hz_per_m: sign * meg_peak * GAMMA_HZ_PER_T,
                first_hz_per_m: 0.0,
                last_hz_per_m: 0.0,
                shape,
                timing: GradTiming::RasterCenters,
                delay_us: 0.0,
            })
        };
        Some([b.grad(ev(1.0)), b.grad(ev(-1.0))])
    } else {
        None
    };
    let trigger_id = 1;
    b.trigger_rows.insert(
        trigger_id,
        TriggerSpec { kind: 1, channel: 1, delay_us: 0.0, duration_us: us(TRIGGER_DURATION_S.min((meg_end - meg_start) as f64 * raster)) },
    );
    let meg_ch = channel(seq.meg.axis);

    // prephaser and readout as in GreMre::timeline
    let pe_step = [0, 1].map(|a| TWO_PI / (g * seq.fov_m[a]));
    let pre_area_x = -lay.readout_t_per_m * (0.5 * lay.readout_ramp_s + (seq.te_s - lay.readout_start_s - lay.readout_ramp_s));
    let pre_dur = lay.prephaser_ramp_s + lay.prephaser_flat_s;
    let readout = b.grad(trap(lay.readout_t_per_m, lay.readout_ramp_s, lay.readout_flat_s, 0.0));
    let spoiler = lay.spoiler.map(|(_, r, f, a)| b.grad(trap(a, r, f, 0.0)));

    let mut trs: Vec<Option<(usize, usize, usize)>> = vec![None; seq.dummy_scans];
    for s in 0..seq.shots() {
        for kz in 0..nz {
            for ky in 0..ny {
                trs.push(Some((s, kz, ky)));
            }
        }
    }
    let mut rf_phase = 0.0f64;
    for (tr_index, tr) in trs.iter().enumerate() {
        let (shot, kz, ky) = tr.unwrap_or((0, nz / 2, ny / 2));
        let pol = shot / seq.phase_offsets;
        let offset = shot % seq.phase_offsets;
        if let Spoiling::Rf { .. } = seq.spoiling {
            rf_phase = (rf_phase + 117f64.to_radians() * tr_index as f64).rem_euclid(TWO_PI);
        }
        // RF block with the labels of the TR
        let rf = b.rf(RfEvent {
            amplitude_hz: rf_amp_hz,
            magnitude_shape: mag,
            phase_shape: phase,
            time_shape: 0,
            center_us: us(0.5 * rf_play.pulse_s),
            delay_us: us(rf_delay_s),
            freq_ppm: 0.0,
            phase_ppm: 0.0,
            freq_offset_hz: 0.0,
            phase_offset_rad: rf_phase,
            rf_use: RfUse::Excitation,
        });
        let mut labels = vec![Ext::Label(ky as i64, Label::Lin)];
        if nz > 1 {
            labels.push(Ext::Label(kz as i64, Label::Par));
        }
        labels.push(Ext::Label(offset as i64, Label::Phs));
        labels.push(Ext::Label(pol as i64, Label::Set));
        let ext = b.extensions(&labels);
        b.block(meg_start, rf, [0; 3], 0, ext);
        // MEG with the trigger
        let mut grads = [0; 3];
        if let Some(ids) = meg_ids {
            grads[meg_ch] = ids[pol];
        }
        let ext = b.extensions(&[Ext::Trigger(trigger_id)]);
        b.block(meg_end - meg_start, 0, grads, 0, ext);
        if pre_start > meg_end {
            b.block(pre_start - meg_end, 0, [0; 3], 0, 0);
        }
        // prephasers [x, y, z]
        let area =
            [pre_area_x, (ky as f64 - (ny / 2) as f64) * pe_step[1], if nz > 1 { (kz as f64 - (nz / 2) as f64) * pe_step[0] } else { 0.0 }];
        let mut grads = [0; 3];
        for (ch, a) in area.iter().enumerate() {
            if *a != 0.0 && pre_dur > 0.0 {
                grads[ch] = b.grad(trap(a / pre_dur, lay.prephaser_ramp_s, lay.prephaser_flat_s, 0.0));
            }
        }
        b.block(ro_start - pre_start, 0, grads, 0, 0);
        // readout
        let adc = if tr.is_some() {
            b.adc(AdcEvent {
                num_samples: nx as u32,
                dwell_ns: (seq.readout_dwell_s * 1e12).round() / 1e3,
                delay_us: us(adc_delay_s),
                freq_ppm: 0.0,
                phase_ppm: 0.0,
                freq_offset_hz: 0.0,
                phase_offset_rad: rf_phase,
                phase_shape: 0,
            })
        } else {
            0
        };
        b.block(ro_end - ro_start, 0, [readout, 0, 0], adc, 0);
        if let Some(sp) = spoiler {
            b.block(spoil_end - ro_end, 0, [0, 0, sp], 0, 0);
        }
        if tr_end > spoil_end {
            b.block(tr_end - spoil_end, 0, [0; 3], 0, 0);
        }
    }

    let duration_s = trs.len() as f64 * tr_count as f64 * raster;
    let [fz, fy, fx] = seq.fov_m;
    let mut definitions: Vec<(String, String)> = Vec::new();
    let mut def = |k: &str, v: String| definitions.push((k.to_string(), v));
    def("AdcRasterTime", num(ADC_RASTER_S));
    def("BlockDurationRaster", num(raster));
    def("GradientRasterTime", num(raster));
    def("RadiofrequencyRasterTime", num(RF_RASTER_S));
    def("Name", "mre-gre".into());
    def("FOV", format!("{} {} {}", num(fx), num(fy), num(fz)));
    def("TE", num(seq.te_s));
    def("TR", num(seq.tr_s));
    def("RfDeadTime", num(rf_play.dead_time_s));
    def("RfRingdownTime", num(rf_play.ringdown_s));
    def("AdcDeadTime", num(rf_play.adc_dead_time_s));
    def(mre_keys::MEG_FREQUENCY, num(seq.meg.frequency_hz));
    def(mre_keys::MEG_AXIS, seq.meg.axis.name().into());
    def(mre_keys::MEG_CYCLES, seq.meg.cycles.to_string());
    def(mre_keys::MEG_AMPLITUDE, num(seq.meg.amplitude_t_per_m));
    def(mre_keys::ENCODING, num(seq.encoding_factor(TWO_PI * seq.meg.frequency_hz).norm()));
    def(mre_keys::PHASE_OFFSETS, seq.phase_offsets.to_string());
    def(
        mre_keys::POLARITIES,
        match seq.polarities {
            Polarities::Both => "2".into(),
            Polarities::Positive => "1".into(),
        },
    );
    def(mre_keys::MATRIX, format!("{nx} {ny} {nz}"));
    def(mre_keys::DUMMY_SCANS, seq.dummy_scans.to_string());
    def("TotalDuration", num(duration_s));

    let out = PulseqSequence {
        version: Version::WRITTEN,
        definitions,
        blocks: b.seq_blocks,
        rf: b.rf,
        gradients: b.gradients,
        adc: b.adc,
        shapes: b.shapes,
        extension_list: b.ext_list,
        triggers: Some(ExtensionSpecs { type_id: TRIGGERS_TYPE, rows: b.trigger_rows }),
        label_set: Some(ExtensionSpecs { type_id: LABELSET_TYPE, rows: b.label_rows }),
        label_inc: None,
        other_extensions: Vec::new(),
    };
    tracing::debug!(blocks = out.blocks.len(), duration_s, "exported the built-in GRE-MRE");
    Ok(out)
}

/// Index of an ADC sample of an exported file in the built-in's flat k-space
/// vector `((s·nz + kz)·ny + ky)·nx + kx`, from its labels (LIN, PAR, PHS, SET)
/// and sample number; `None` when a label is out of range.
pub fn builtin_index(seq: &GreMre, labels: &super::labels::LabelValues, sample: u32) -> Option<usize> {
    let [nz, ny, nx] = seq.matrix;
    let get = |l: Label, n: usize| usize::try_from(labels.get(l)).ok().filter(|v| *v < n);
    let ky = get(Label::Lin, ny)?;
    let kz = if nz > 1 { get(Label::Par, nz)? } else { 0 };
    let k = get(Label::Phs, seq.phase_offsets)?;
    let p = get(Label::Set, seq.polarities.count())?;
    let kx = usize::try_from(sample).ok().filter(|v| *v < nx)?;
    let shot = p * seq.phase_offsets + k;
    Some(((shot * nz + kz) * ny + ky) * nx + kx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meg_samples_match_the_sine_moments() {
        let mut seq = GreMre::example_for_tests();
        for f in [60.0, 50.0, 137.0] {
            seq.meg.frequency_hz = f;
            let w = meg_samples(&seq, 10e-6);
            let omega = TWO_PI * f;
            let (m0, mw) = linear_moments(&w, 10e-6, omega);
            let xi = seq.encoding_factor(omega) / mre_solver::units::GAMMA_RAD_PER_S_PER_T;
            assert!(m0.abs() < 1e-15 * xi.norm() * omega, "{f} Hz: M0 {m0}");
            assert!((mw - xi).norm() < 1e-12 * xi.norm(), "{f} Hz: {mw} vs {xi}");
            let g0 = seq.meg.amplitude_t_per_m;
            let dev = w
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let t = (i as f64 + 0.5) * 10e-6;
                    let s = if t < 1.0 / f { g0 * (omega * t).sin() } else { 0.0 };
                    (v - s).abs()
                })
                .fold(0.0, f64::max);
            assert!(dev < 1e-3 * g0, "{f} Hz: deviation from the sine {dev}");
        }
    }

    #[test]
    fn ideal_spoiling_is_refused() {
        let seq = GreMre::example_for_tests();
        let e = from_gre_mre(&seq, &Scanner::default()).unwrap_err().to_string();
        assert!(e.contains("ideal") && e.contains("gradient"), "{e}");
    }
}
