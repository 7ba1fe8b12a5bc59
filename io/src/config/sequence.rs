//! `[sequence]` → the acquisition: the built-in GRE-MRE (its timing checked at every
//! vibration frequency) or Pulseq files sorted into k-space by their labels.

use std::path::PathBuf;

use mre_solver::model::phantom::Phantom;
use mre_solver::model::scanner::Scanner;
use mre_solver::sequence::{BuiltinMre, GreMre, Meg, Polarities, Spoiling};
use mre_solver::units::Axis;
use mre_solver::SolverError;

use super::{
    BuiltSequence, ConfigError, MotionConfig, PhantomConfig, PolarityConfig, PulseqFiles, RunConfig, Source, SpoilingConfig, TriggerPhase,
};
use crate::pulseq::{Label, LabelMap, PulseqMre};

impl RunConfig {
    /// The built-in GRE-MRE of `[sequence]`, its timing checked at every frequency.
    pub(super) fn builtin_sequence(
        &self,
        src: &Source,
        p: &PhantomConfig,
        m: &MotionConfig,
        phantom: &Phantom,
        scanner: &Scanner,
    ) -> Result<BuiltSequence, ConfigError> {
        let s = &self.sequence;
        let required = |v: Option<f64>, key: &str| {
            v.ok_or_else(|| {
                src.error(&format!("sequence.{key}"), "missing: the built-in GRE-MRE needs it (or set sequence.pulseq to a Pulseq file)")
            })
        };
        let meg = s.meg.as_ref().ok_or_else(|| {
            src.error("sequence.meg", "missing: the built-in GRE-MRE needs [sequence.meg] (or set sequence.pulseq to a Pulseq file)")
        })?;
        let mut axes = Vec::new();
        for (i, a) in meg.axes.iter().enumerate() {
            let ax = Axis::parse(a).ok_or_else(|| {
                src.error(&format!("sequence.meg.axes[{i}]"), format!("'{a}' is invalid: expected \"x\", \"y\" or \"z\""))
            })?;
            if axes.contains(&ax) {
                return Err(src.error(&format!("sequence.meg.axes[{i}]"), format!("'{a}' is listed twice")));
            }
            axes.push(ax);
        }
        if axes.is_empty() {
            return Err(src.error("sequence.meg.axes", "empty: expected at least one axis"));
        }
        let fov = s.fov_m.unwrap_or_else(|| phantom.grid.fov_m());
        let matrix = s.matrix.unwrap_or(p.shape);
        let seq = GreMre {
            tr_s: required(s.tr_s, "tr_s")?,
            te_s: required(s.te_s, "te_s")?,
            flip_angle_rad: required(s.flip_angle_deg, "flip_angle_deg")?.to_radians(),
            matrix,
            fov_m: fov,
            readout_dwell_s: s.readout_dwell_s,
            meg: Meg {
                axis: axes[0],
                frequency_hz: meg.frequency_hz.unwrap_or(m.frequencies_hz[0]),
                cycles: meg.cycles,
                amplitude_t_per_m: meg.amplitude_t_per_m,
            },
            phase_offsets: s.phase_offsets.unwrap_or(4),
            polarities: match s.polarities {
                PolarityConfig::Both => Polarities::Both,
                PolarityConfig::Positive => Polarities::Positive,
            },
            dummy_scans: s.dummy_scans,
            spoiling: match s.spoiling {
                SpoilingConfig::Ideal => Spoiling::Ideal,
                SpoilingConfig::Gradient => Spoiling::Gradient { cycles_per_voxel: s.spoiler_cycles_per_voxel },
                SpoilingConfig::Rf => Spoiling::Rf { cycles_per_voxel: s.spoiler_cycles_per_voxel },
                SpoilingConfig::None => Spoiling::None,
            },
        };
        if let Some(f) = meg.frequency_hz {
            if !(f > 0.0 && f.is_finite()) {
                return Err(src.error("sequence.meg.frequency_hz", format!("{f} is invalid: expected a positive frequency in Hz")));
            }
        }
        // check every frequency's timing now, so `check` reports it
        for &f in &m.frequencies_hz {
            let mut sq = seq.clone();
            sq.meg.frequency_hz = meg.frequency_hz.unwrap_or(f);
            sq.layout(scanner).map_err(|e| {
                let key = match &e {
                    SolverError::InvalidParameter { name, .. } => {
                        // solver names are the config keys below [sequence]
                        format!("sequence.{name}")
                    }
                    SolverError::Timing(m) if m.starts_with("TE") => "sequence.te_s".into(),
                    SolverError::Timing(_) => "sequence.tr_s".into(),
                    SolverError::ScannerLimit(m) if m.starts_with("MEG") => "sequence.meg.amplitude_t_per_m".into(),
                    SolverError::ScannerLimit(_) => "sequence.readout_dwell_s".into(),
                    _ => "sequence".into(),
                };
                let msg = if m.frequencies_hz.len() > 1 { format!("{e} (at {f} Hz)") } else { e.to_string() };
                src.error(&key, msg)
            })?;
        }
        Ok(BuiltSequence::Builtin(BuiltinMre { sequence: seq, axes, meg_frequency_hz: meg.frequency_hz }))
    }

    /// `[sequence] pulseq = …`: the files read, their labels sorted into k-space.
    pub(super) fn pulseq_sequence(&self, src: &Source, files: &PulseqFiles, phantom: &Phantom) -> Result<BuiltSequence, ConfigError> {
        let s = &self.sequence;
        // keys of the built-in sequence are errors here, not silently ignored
        let raw: Option<toml::Value> = toml::from_str(&src.text).ok();
        let given = |key: &str| {
            raw.as_ref().and_then(|v| v.get("sequence")).and_then(|t| t.get(key)).is_some()
                || src.overridden.iter().any(|o| o == &format!("sequence.{key}") || o.starts_with(&format!("sequence.{key}.")))
        };
        for key in [
            "type",
            "tr_s",
            "te_s",
            "flip_angle_deg",
            "matrix",
            "fov_m",
            "readout_dwell_s",
            "polarities",
            "dummy_scans",
            "spoiling",
            "spoiler_cycles_per_voxel",
            "meg",
        ] {
            if given(key) {
                return Err(src.error(
                    &format!("sequence.{key}"),
                    "belongs to the built-in sequence; with sequence.pulseq the file defines it (remove the key)",
                ));
            }
        }
        let paths: Vec<PathBuf> = match files {
            PulseqFiles::One(f) => vec![f.clone()],
            PulseqFiles::Many(v) => v.clone(),
        };
        let axis_names = s.encoded_axes.clone().unwrap_or_else(|| vec!["z".into()]);
        if axis_names.len() != paths.len() {
            return Err(src.error(
                "sequence.encoded_axes",
                format!("{} axes for {} Pulseq file(s): expected one axis per file", axis_names.len(), paths.len()),
            ));
        }
        let mut pairs = Vec::new();
        for (i, (a, f)) in axis_names.iter().zip(&paths).enumerate() {
            let ax = Axis::parse(a).ok_or_else(|| {
                src.error(&format!("sequence.encoded_axes[{i}]"), format!("'{a}' is invalid: expected \"x\", \"y\" or \"z\""))
            })?;
            if pairs.iter().any(|(b, _)| *b == ax) {
                return Err(src.error(&format!("sequence.encoded_axes[{i}]"), format!("'{a}' is listed twice")));
            }
            pairs.push((ax, src.dir.join(f)));
        }
        let label = |key: &str, value: &Option<String>, default: Label| -> Result<Option<Label>, ConfigError> {
            match value.as_deref() {
                None => Ok(Some(default)),
                Some("none") if key == "polarity_label" => Ok(None),
                Some(v) => Label::parse(v).filter(|l| !l.is_flag()).map(Some).ok_or_else(|| {
                    src.error(
                        &format!("sequence.{key}"),
                        format!(
                            "'{v}' is invalid: expected a Pulseq counter label (LIN, PAR, SLC, SET, REP, AVG, ECO, PHS, SEG){}",
                            if key == "polarity_label" { " or \"none\"" } else { "" }
                        ),
                    )
                }),
            }
        };
        let map = LabelMap {
            line: label("line_label", &s.line_label, Label::Lin)?.expect("not none"),
            partition: label("partition_label", &s.partition_label, Label::Par)?.expect("not none"),
            offset: label("offset_label", &s.offset_label, Label::Phs)?.expect("not none"),
            polarity: label("polarity_label", &s.polarity_label, Label::Set)?,
            trigger_phase_from_label: s.trigger_phase != Some(TriggerPhase::Zero),
        };
        let key = if paths.len() == 1 { "sequence.pulseq".to_string() } else { "sequence.pulseq[…]".to_string() };
        let mre = PulseqMre::read(&pairs, map, s.phase_offsets, phantom.grid.fov_m()[0]).map_err(|e| src.error(&key, e.to_string()))?;
        Ok(BuiltSequence::Pulseq(Box::new(mre)))
    }
}
