//! An imported Pulseq file as an MRE acquisition the simulator runs
//! ([`mre_solver::sequence::MreSequence`]).
//!
//! One file per encoded displacement component. Every ADC sample is placed in
//! the flat k-space vector `((s·nz + kz)·ny + ky)·nx + kx` the reconstruction
//! expects, from the Pulseq labels in force at its block ([`LabelMap`], defaults
//! in brackets): the line `ky` \[LIN\], the partition `kz` \[PAR\], the mechanical
//! phase offset `k` \[PHS\] and the MEG polarity `p` \[SET, 0 = +, 1 = −\], shot
//! `s = p·N + k`, and the readout sample `kx` (reversed when the REV flag is
//! set). A file without LIN labels is sorted in acquisition order (ADC event
//! `e` fills line `e mod ny` of shot `e / ny`) with a note in the log.
//!
//! Motion runs in absolute sequence time (phase `ω t`), so the file's own
//! delays define the mechanical phase offsets; at every TRIGGER extension the
//! motion clock restarts with phase `2π k/N`, `k` the offset label in force
//! there (what a triggered actuator with programmed phase offsets does), or with
//! phase 0 when the file delays its MEG after the trigger itself
//! ([`LabelMap::trigger_phase_from_label`]). Either way the reconstruction uses
//! the encodings computed from the waveform, so uneven offsets are fitted exactly.
//!
//! The motion encoding of every shot (for the reconstruction) is computed from
//! the waveform: `e_s = −γ Σ (−1)^{R} ∫ G_c(t) e^{iω(t − t_trig) + iθ} dt` from the
//! last excitation to the shot's k-space-centre sample, `R` the number of
//! refocusing pulses after each part (the kernel applies `M_xy ← M_xy e^{−iφ}`).

use std::path::{Path, PathBuf};

use mre_solver::model::scanner::Scanner;
use mre_solver::plan::{Integration, SequencePlan};
use mre_solver::sequence::{MreSequence, Polarities, Timeline, Trigger};
use mre_solver::units::{Axis, GAMMA_RAD_PER_S_PER_T};
use mre_solver::SolverError;
use num_complex::Complex64;

use super::labels::Label;
use super::model::RfUse;
use super::timeline::{ImportedSequence, TimelineOptions};
use super::{read_pulseq, PulseqError};

/// Which Pulseq labels say where an ADC sample belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelMap {
    /// Phase-encoding line ky.
    pub line: Label,
    /// Partition kz (3-D).
    pub partition: Label,
    /// Mechanical phase offset index k (θ_k = 2πk/N).
    pub offset: Label,
    /// MEG polarity (0 = +, 1 = −); None = only + acquired.
    pub polarity: Option<Label>,
    /// At a TRIGGER the motion clock restarts with phase `2πk/N` from the offset label
    /// (true: the actuator is programmed with the offset) or with phase 0 (false: the
    /// file realises the offsets with its own delays after the trigger).
    pub trigger_phase_from_label: bool,
}

impl Default for LabelMap {
    fn default() -> Self {
        Self { line: Label::Lin, partition: Label::Par, offset: Label::Phs, polarity: Some(Label::Set), trigger_phase_from_label: true }
    }
}

/// One encoded component: its file, the imported timeline and where its samples go.
#[derive(Debug, Clone)]
struct Component {
    axis: Axis,
    file: PathBuf,
    imported: ImportedSequence,
    /// Destination in the flat k-space vector per ADC sample (acquisition order).
    destination: Vec<u32>,
    /// Per shot: the ADC sample (acquisition order) nearest k = 0.
    centre_sample: Vec<usize>,
    /// Motion-clock restarts (trigger time and phase).
    triggers: Vec<Trigger>,
}

/// Pulseq files as an MRE acquisition (see the module documentation).
#[derive(Debug, Clone)]
pub struct PulseqMre {
    components: Vec<Component>,
    matrix: [usize; 3],
    fov_m: [f64; 3],
    offsets: usize,
    polarities: Polarities,
}

fn invalid(file: &Path, message: impl Into<String>) -> PulseqError {
    PulseqError::Invalid { file: file.display().to_string(), message: message.into() }
}

impl PulseqMre {
    /// Read one file per encoded axis and sort their samples by `labels`.
    /// `phase_offsets` is N (None = largest offset label + 1); `fov_z_m` is the slab
    /// thickness used for 2-D files (one partition) that do not state a FOV.
    pub fn read(files: &[(Axis, PathBuf)], labels: LabelMap, phase_offsets: Option<usize>, fov_z_m: f64) -> Result<Self, PulseqError> {
        if files.is_empty() {
            return Err(PulseqError::Invalid { file: "sequence.pulseq".into(), message: "no file given".into() });
        }
        let mut out: Option<PulseqMre> = None;
        for (axis, file) in files {
            let read = read_pulseq(file)?;
            for w in &read.warnings {
                tracing::warn!("{w}");
            }
            let imported = read.sequence.to_timeline(&TimelineOptions::default()).map_err(|e| match e {
                // the conversion names the sequence by its Name definition: name the file
                PulseqError::Invalid { message, .. } => invalid(file, message),
                other => other,
            })?;
            let fov_def = read.sequence.definition_numbers("FOV");
            let c = Self::component(*axis, file, imported, labels, phase_offsets, fov_def, fov_z_m)?;
            match &mut out {
                None => out = Some(c),
                Some(o) => {
                    if c.matrix != o.matrix || c.offsets != o.offsets || c.polarities != o.polarities {
                        return Err(invalid(
                            file,
                            format!(
                                "matrix {:?}, {} offsets, {:?} differ from the first file's {:?}, {}, {:?}: every component needs the same acquisition",
                                c.matrix, c.offsets, c.polarities, o.matrix, o.offsets, o.polarities
                            ),
                        ));
                    }
                    o.components.extend(c.components);
                }
            }
        }
        Ok(out.expect("at least one file"))
    }

    fn component(
        axis: Axis,
        file: &Path,
        imported: ImportedSequence,
        map: LabelMap,
        phase_offsets: Option<usize>,
        fov_def: Option<Vec<f64>>,
        fov_z_m: f64,
    ) -> Result<Self, PulseqError> {
        let adc = &imported.adc;
        if adc.is_empty() {
            return Err(invalid(file, "no ADC samples: nothing to reconstruct"));
        }
        let events = adc.last().map_or(0, |a| a.adc_event as usize + 1);
        let nx = adc.iter().filter(|a| a.adc_event == 0).count();
        if adc.iter().any(|a| a.sample as usize >= nx) || adc.len() != events * nx {
            return Err(invalid(
                file,
                "ADC events with different sample counts: a Cartesian MRE acquisition reads the same number of samples per line",
            ));
        }
        let non_negative = |l: Label| adc.iter().all(|a| a.labels.get(l) >= 0);
        for l in [map.line, map.partition, map.offset].into_iter().chain(map.polarity) {
            if !non_negative(l) {
                return Err(invalid(file, format!("negative {} label at an ADC sample: expected indices from 0", l.as_str())));
            }
        }
        // labels are non-negative here; a count is the largest value + 1 (saturating: the
        // matrix check below refuses what does not fit)
        let max = |l: Label| adc.iter().map(|a| a.labels.get(l)).max().unwrap_or(0).clamp(0, i64::MAX) as u64;
        let count = |l: Label| usize::try_from(max(l).saturating_add(1)).unwrap_or(usize::MAX);
        let labelled = adc.iter().any(|a| a.labels.get(map.line) != 0);
        let n_off = phase_offsets.unwrap_or_else(|| count(map.offset));
        if n_off < 3 {
            return Err(invalid(
                file,
                format!(
                    "{n_off} mechanical phase offset(s) ({} label): at least 3 are needed to resolve the first harmonic",
                    map.offset.as_str()
                ),
            ));
        }
        let both = map.polarity.is_some_and(|p| max(p) >= 1);
        if let Some(p) = map.polarity.filter(|&p| max(p) > 1) {
            return Err(invalid(file, format!("{} label up to {}: a polarity is 0 (+) or 1 (−)", p.as_str(), max(p))));
        }
        let n_pol = if both { 2 } else { 1 };
        let (nz, ny) = if labelled {
            (count(map.partition), count(map.line))
        } else {
            let shots = n_off * n_pol;
            if events % shots != 0 {
                return Err(invalid(
                    file,
                    format!("{events} ADC events without {} labels cannot be split into {shots} shots", map.line.as_str()),
                ));
            }
            tracing::warn!(
                file = %file.display(),
                "no {} labels: ADC events are sorted into k-space in acquisition order (event e fills line e mod {} of shot e / {})",
                map.line.as_str(),
                events / shots,
                events / shots
            );
            (1, events / shots)
        };
        let matrix = [nz, ny, nx];
        let n_shots = n_off.saturating_mul(n_pol);
        // every k-space point is filled by one ADC sample: a matrix with more points than
        // the file has samples (a label far beyond the acquisition) cannot be complete, and
        // is refused before it is allocated
        let points = [n_shots, nz, ny, nx].iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
        if points.is_none_or(|p| p > adc.len()) {
            let (line_max, part_max, off_max) = (max(map.line), max(map.partition), max(map.offset));
            let at = adc.iter().max_by_key(|a| a.labels.get(map.line)).map_or(0, |a| a.adc_event);
            return Err(invalid(
                file,
                format!(
                    "matrix {matrix:?} × {n_shots} shots ({} label up to {line_max} (at ADC event {at}), {} up to {part_max}, {} up to {off_max}, {n_off} offsets) has {} k-space points but the file has {} ADC samples: the labels index beyond the acquisition",
                    map.line.as_str(),
                    map.partition.as_str(),
                    map.offset.as_str(),
                    points.map_or_else(|| "more".to_string(), |p| p.to_string()),
                    adc.len()
                ),
            ));
        }
        let vol = nz * ny * nx;
        let mut destination = vec![u32::MAX; adc.len()];
        let mut filled = vec![usize::MAX; n_shots * vol];
        for (i, a) in adc.iter().enumerate() {
            let (shot, kz, ky) = if labelled {
                let k = a.labels.get(map.offset) as usize;
                let p = map.polarity.map_or(0, |l| a.labels.get(l) as usize);
                if k >= n_off {
                    return Err(invalid(
                        file,
                        format!("{} label {k} at ADC event {}: expected below {n_off} offsets", map.offset.as_str(), a.adc_event),
                    ));
                }
                (p * n_off + k, a.labels.get(map.partition) as usize, a.labels.get(map.line) as usize)
            } else {
                let e = a.adc_event as usize;
                (e / ny, 0, e % ny)
            };
            let kx = if a.labels.flag(Label::Rev) { nx - 1 - a.sample as usize } else { a.sample as usize };
            let d = ((shot * nz + kz) * ny + ky) * nx + kx;
            if filled[d] != usize::MAX {
                return Err(invalid(
                    file,
                    format!(
                        "ADC events {} and {} fill the same k-space point (shot {shot}, partition {kz}, line {ky}, sample {kx}); label the acquisitions ({}, {}, {}{})",
                        adc[filled[d]].adc_event,
                        a.adc_event,
                        map.line.as_str(),
                        map.partition.as_str(),
                        map.offset.as_str(),
                        map.polarity.map_or(String::new(), |p| format!(", {}", p.as_str()))
                    ),
                ));
            }
            filled[d] = i;
            destination[i] = d as u32;
        }
        let missing = filled.iter().filter(|&&f| f == usize::MAX).count();
        if missing > 0 {
            return Err(invalid(
                file,
                format!("{missing} of {} k-space points (matrix {matrix:?}, {n_shots} shots) are not acquired", n_shots * vol),
            ));
        }
        // k-space centre of every shot and the field of view from the k-space steps
        let centre_sample: Vec<usize> = (0..n_shots)
            .map(|s| {
                (0..vol)
                    .map(|j| filled[s * vol + j])
                    .min_by(|&a, &b| norm(adc[a].k_per_m).total_cmp(&norm(adc[b].k_per_m)))
                    .expect("a shot has samples")
            })
            .collect();
        let step = |axis: usize, n: usize| -> Option<f64> {
            if n < 2 {
                return None;
            }
            // neighbouring indices along `axis` in shot 0 at the centre of the others
            let c = [nz / 2, ny / 2, nx / 2];
            let idx = |i: [usize; 3]| filled[(i[0] * ny + i[1]) * nx + i[2]];
            let mut a = c;
            let mut b = c;
            a[axis] = n / 2 - 1;
            b[axis] = n / 2;
            let dk = (adc[idx(b)].k_per_m[axis] - adc[idx(a)].k_per_m[axis]).abs();
            (dk > 0.0).then_some(dk)
        };
        // the k-space step sets the FOV; the file's FOV definition (x y z) when it agrees to
        // 0.1 % (it is free of the gradient-amplitude rounding), and for a single partition
        let mut fov = [0.0; 3];
        for (a, &n) in matrix.iter().enumerate() {
            let defined = fov_def.as_ref().and_then(|f| f.get(2 - a).copied()).filter(|v| v.is_finite() && *v > 0.0);
            fov[a] = match (step(a, n), defined) {
                (Some(dk), Some(d)) if (d * dk - 1.0).abs() < 1e-3 => d,
                (Some(dk), _) => 1.0 / dk,
                (None, Some(d)) => d,
                (None, None) => fov_z_m,
            };
        }
        let triggers = imported
            .triggers
            .iter()
            .map(|t| {
                let k = if map.trigger_phase_from_label { t.labels.get(map.offset) as f64 } else { 0.0 };
                t.motion_trigger(2.0 * std::f64::consts::PI * k / n_off as f64)
            })
            .collect();
        Ok(PulseqMre {
            components: vec![Component { axis, file: file.to_path_buf(), imported, destination, centre_sample, triggers }],
            matrix,
            fov_m: fov,
            offsets: n_off,
            polarities: if both { Polarities::Both } else { Polarities::Positive },
        })
    }

    /// The files, one per component.
    pub fn files(&self) -> Vec<(Axis, &Path)> {
        self.components.iter().map(|c| (c.axis, c.file.as_path())).collect()
    }

    /// Total duration of component `component`'s file, s.
    pub fn duration_s(&self, component: usize) -> f64 {
        self.components[component].imported.duration_s
    }

    /// ADC samples per component.
    pub fn adc_samples(&self) -> usize {
        self.components.first().map_or(0, |c| c.imported.adc.len())
    }

    /// What the MRD header needs, estimated from the first file: TR = median interval
    /// between excitations, TE = excitation to the k-space centre of the first shot,
    /// flip angle = the small-tip sum of the first excitation's rotations.
    pub fn description(&self) -> crate::mrd::ScanDescription {
        let c = &self.components[0];
        let imp = &c.imported;
        let excitations: Vec<&super::timeline::RfCenter> =
            imp.rf.iter().filter(|r| matches!(r.rf_use, RfUse::Excitation | RfUse::Undefined)).collect();
        let mut gaps: Vec<f64> = excitations.windows(2).map(|w| w[1].time_s - w[0].time_s).collect();
        gaps.sort_by(f64::total_cmp);
        let tr_s = gaps.get(gaps.len() / 2).copied().unwrap_or(imp.duration_s);
        let t_centre = imp.adc[c.centre_sample[0]].time_s;
        let te_s = excitations.iter().map(|r| r.time_s).rfind(|&t| t <= t_centre).map_or(0.0, |t| t_centre - t);
        // pulses do not overlap and both lists are in time order: the first excitation's
        // rotations follow those of the pulses before it
        let flip_angle_deg = imp.rf.iter().position(|r| matches!(r.rf_use, RfUse::Excitation | RfUse::Undefined)).map_or(0.0, |j| {
            let start: usize = imp.rf[..j].iter().map(|r| r.rotations).sum();
            imp.timeline.rf[start..start + imp.rf[j].rotations]
                .iter()
                .map(|p| Complex64::from_polar(p.angle_rad, p.phase_rad))
                .sum::<Complex64>()
                .norm()
                .to_degrees()
        });
        let first_adc = imp.adc[0].time_s;
        let dummy_scans = excitations.iter().filter(|r| r.time_s < first_adc).count().saturating_sub(1);
        let dwell =
            if imp.adc.len() > 1 && imp.adc[1].adc_event == imp.adc[0].adc_event { imp.adc[1].time_s - imp.adc[0].time_s } else { 0.0 };
        crate::mrd::ScanDescription {
            matrix: self.matrix,
            fov_m: self.fov_m,
            phase_offsets: self.offsets,
            polarities: self.polarities,
            readout_dwell_s: dwell,
            tr_s,
            te_s,
            flip_angle_deg,
            dummy_scans,
            sine_meg: None,
            sequence_type: format!("Pulseq: {}", c.file.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())),
        }
    }

    fn component_ref(&self, component: usize) -> mre_solver::error::Result<&Component> {
        self.components.get(component).ok_or_else(|| SolverError::invalid("component", component, "an index into the Pulseq files"))
    }
}

fn norm(k: [f64; 3]) -> f64 {
    k.iter().map(|v| v * v).sum::<f64>().sqrt()
}

impl MreSequence for PulseqMre {
    fn matrix(&self) -> [usize; 3] {
        self.matrix
    }
    fn fov_m(&self) -> [f64; 3] {
        self.fov_m
    }
    fn phase_offsets(&self) -> usize {
        self.offsets
    }
    fn polarities(&self) -> Polarities {
        self.polarities
    }
    fn components(&self) -> Vec<Axis> {
        self.components.iter().map(|c| c.axis).collect()
    }
    /// A file plays as written: no scanner limits are imposed here.
    fn check(&self, _vibration_hz: f64, _scanner: &Scanner) -> mre_solver::error::Result<()> {
        Ok(())
    }
    fn timeline(&self, _vibration_hz: f64, component: usize, _scanner: &Scanner) -> mre_solver::error::Result<Timeline> {
        let c = self.component_ref(component)?;
        let mut tl = c.imported.timeline.clone();
        for a in &mut tl.adc {
            a.index = c.destination[a.index as usize];
        }
        tl.adc.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        tl.triggers = c.triggers.clone();
        tl.n_signal = self.signal_len();
        Ok(tl)
    }
    fn shot_encoding(&self, vibration_hz: f64, component: usize, _scanner: &Scanner) -> mre_solver::error::Result<Vec<Complex64>> {
        let c = self.component_ref(component)?;
        let omega = 2.0 * std::f64::consts::PI * vibration_hz;
        let mut tl = c.imported.timeline.clone();
        // the ADC samples stay in: steps end exactly at the k-space-centre samples
        tl.triggers = c.triggers.clone();
        let plan = SequencePlan::build(&tl, omega, Integration::Events)?;
        let axis = c.axis.index();
        let rf = &c.imported.rf;
        c.centre_sample
            .iter()
            .map(|&i| {
                let t_echo = c.imported.adc[i].time_s;
                let excitation = rf
                    .iter()
                    .filter(|r| r.time_s <= t_echo && matches!(r.rf_use, RfUse::Excitation | RfUse::Undefined))
                    .map(|r| r.time_s)
                    .next_back()
                    .ok_or_else(|| SolverError::invalid("pulseq shot", i, "an excitation before the k-space centre"))?;
                let refocusing: Vec<f64> = rf
                    .iter()
                    .filter(|r| r.rf_use == RfUse::Refocusing && r.time_s > excitation && r.time_s < t_echo)
                    .map(|r| r.time_s)
                    .collect();
                let mut e = Complex64::new(0.0, 0.0);
                for s in 0..plan.len() {
                    let mid = plan.t_start_s[s] + 0.5 * plan.dt_s[s];
                    if mid <= excitation || mid >= t_echo {
                        continue;
                    }
                    let after = refocusing.iter().filter(|&&t| t > mid).count();
                    let sign = if after % 2 == 0 { 1.0 } else { -1.0 };
                    e += plan.mw[s][axis] * sign;
                }
                Ok(-e * GAMMA_RAD_PER_S_PER_T)
            })
            .collect()
    }
}
