//! `mre-sim seq export` and `mre-sim seq info` as library calls: the built-in GRE-MRE of a
//! run config as Pulseq 1.5.0 file(s), and what a Pulseq file does (with PNGs of its
//! waveforms and k-space trajectory).

use std::path::{Path, PathBuf};

use mre_io::config::{BuiltRun, BuiltSequence};
use mre_io::pulseq::export::{from_gre_mre, ExportError};
use mre_io::pulseq::info::{summarise_imported, SequenceInfo};
use mre_io::pulseq::plot::{plot_paths, write_sequence_plots};
use mre_io::pulseq::{read_pulseq, PulseqError, TimelineOptions};
use mre_solver::sequence::{GreMre, MreSequence};

use crate::error::{ErrorKind, PipelineError, Result};
use crate::outputs::{self, Output};

/// File name of the export for MEG frequency `f` and axis `axis` when there are several.
fn variant_path(output: &Path, f_hz: f64, axis: &str) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sequence".into());
    let ext = output.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "seq".into());
    output.with_file_name(format!("{stem}-{f_hz}Hz-{axis}.{ext}"))
}

/// Write the built-in GRE-MRE of the run `built` (read from `config`) as Pulseq 1.5.0: all
/// phase offsets and both polarities, with labels LIN, PAR, PHS and SET, a trigger at every
/// MEG start. One file `output` when the run has one MEG frequency and one encoded axis;
/// otherwise one per (MEG frequency, axis), named `<stem>-<f>Hz-<axis>.seq` beside `output`.
/// Existing files are replaced only with `force`. Returns the paths written.
pub fn export_builtin(config: &Path, built: &BuiltRun, output: &Path, force: bool) -> Result<Vec<PathBuf>> {
    // A config that imports a Pulseq file has nothing built in to export.
    #[allow(irrefutable_let_patterns)]
    let BuiltSequence::Builtin(b) = &built.sequence
    else {
        return Err(PipelineError::invalid(format!(
            "{}: [sequence] is not the built-in GRE-MRE; seq export writes only the built-in sequence",
            config.display()
        )));
    };
    // one sequence per distinct (MEG frequency, axis)
    let mut variants: Vec<(f64, GreMre)> = Vec::new();
    for &f in &built.frequencies_hz {
        for c in 0..b.components().len() {
            let s = b.instance(f, c).map_err(|e| PipelineError::from_error(ErrorKind::Failure, &e))?;
            if !variants.iter().any(|(_, v)| v.meg.frequency_hz == s.meg.frequency_hz && v.meg.axis == s.meg.axis) {
                variants.push((f, s));
            }
        }
    }
    let paths: Vec<PathBuf> = if variants.len() == 1 {
        vec![output.to_path_buf()]
    } else {
        variants.iter().map(|(_, s)| variant_path(output, s.meg.frequency_hz, s.meg.axis.name())).collect()
    };
    let outs: Vec<Output> = paths.iter().map(|p| Output::new(p, "Pulseq file")).collect();
    outputs::prepare(&outs, force)?;
    for ((_, s), path) in variants.iter().zip(&paths) {
        let file = from_gre_mre(s, &built.scanner).map_err(|e| match e {
            ExportError::IdealSpoiling | ExportError::OffRaster { .. } => PipelineError::invalid(format!("{}: {e}", config.display())),
            other => PipelineError::from_error(ErrorKind::Failure, &other),
        })?;
        file.write(path, force).map_err(|e| {
            let kind = if matches!(e, PulseqError::Exists { .. }) { ErrorKind::OutputExists } else { ErrorKind::Failure };
            PipelineError::from_error(kind, &e)
        })?;
        tracing::info!(
            path = %path.display(),
            blocks = file.blocks.len(),
            duration_s = file.duration_s(),
            meg_hz = s.meg.frequency_hz,
            axis = s.meg.axis.name(),
            "wrote Pulseq file"
        );
    }
    Ok(paths)
}

/// A summary of a Pulseq file.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Blocks, duration, TR/TE, ADC, RF, gradient moments, labels, triggers and the detected
    /// MEG (axis, frequency, encoding efficiency); `Display` gives the text `mre-sim seq
    /// info` prints.
    pub info: SequenceInfo,
    /// Warnings of the reader (e.g. unknown definitions).
    pub warnings: Vec<String>,
    /// The PNGs written (with `plots`).
    pub plots: Vec<PathBuf>,
}

/// Summarise the Pulseq file `file` (format 1.4.x or 1.5.x); with `plots`, write
/// `<stem>_waveforms.png` and `<stem>_kspace.png` into that directory (replacing existing
/// ones only with `force`).
pub fn info(file: &Path, plots: Option<&Path>, force: bool) -> Result<Summary> {
    if let Some(dir) = plots {
        // Before the file is read: the plots are free (or `force`) and their directory takes files.
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sequence".into());
        let outs: Vec<Output> = plot_paths(dir, &stem).into_iter().map(|p| Output::new(p, "plot")).collect();
        outputs::prepare(&outs, force)?;
    }
    // the file is input: missing, unreadable, a device, too large or malformed → exit 2
    let read = read_pulseq(file).map_err(|e| PipelineError::from_error(ErrorKind::InvalidInput, &e))?;
    let imp = read
        .sequence
        .to_timeline(&TimelineOptions::default())
        .map_err(|e| PipelineError::invalid(format!("{}: cannot convert the sequence: {}", file.display(), crate::error::chain(&e))))?;
    let info = summarise_imported(&read.sequence, &imp);
    let mut written = Vec::new();
    if let Some(dir) = plots {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sequence".into());
        written = write_sequence_plots(dir, &stem, &read.sequence, &imp, &info, force).map_err(|e| {
            let kind = if matches!(e, mre_io::figures::FigureError::Exists { .. }) { ErrorKind::OutputExists } else { ErrorKind::Failure };
            PipelineError::from_error(kind, &e)
        })?;
    }
    Ok(Summary { info, warnings: read.warnings.iter().map(|w| w.to_string()).collect(), plots: written })
}
