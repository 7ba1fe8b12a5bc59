//! `mre-sim seq export CONFIG.toml OUT.seq` and `mre-sim seq info FILE.seq`:
//! the built-in GRE-MRE as Pulseq files, and what a Pulseq file does.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use mre_io::config::{BuiltSequence, RunConfig};
use mre_io::pulseq::export::{from_gre_mre, ExportError};
use mre_io::pulseq::info::summarise_imported;
use mre_io::pulseq::plot::write_sequence_plots;
use mre_io::pulseq::{read_pulseq, PulseqError, TimelineOptions};
use mre_io::solver::sequence::{GreMre, MreSequence};

use crate::run::print_stdout;
use crate::{exit, CliError};

/// `mre-sim seq`: Pulseq sequence files.
#[derive(Debug, Subcommand)]
pub enum SeqCommand {
    /// Write the built-in GRE-MRE of a config as Pulseq 1.5.0 file(s).
    ///
    /// All phase offsets and both polarities, with labels LIN (ky), PAR (kz, 3-D),
    /// PHS (offset k), SET (polarity: 0 +, 1 −), a TRIGGERS output (osc0) at every
    /// MEG start, the RF as a 100 µs block pulse (dead time 100 µs, ringdown 30 µs)
    /// and the MEG as an arbitrary gradient. One file when the config has one
    /// MEG frequency and one encoded axis; otherwise one per (MEG frequency, axis),
    /// named OUT-<f>Hz-<axis>.seq next to OUT.seq. Prints the paths written.
    /// spoiling = "ideal" cannot be written: use --set sequence.spoiling=gradient
    /// (or "rf", "none").
    Export(ExportArgs),
    /// Summarise a Pulseq file: blocks, duration, TR/TE, ADC, RF, gradient moments,
    /// labels, triggers and the detected MEG (axis, frequency, encoding efficiency);
    /// with --plots, PNGs of the waveforms and of the k-space trajectory.
    Info(InfoArgs),
}

/// Arguments of `mre-sim seq export`.
#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    /// Run configuration (TOML) with the built-in sequence.
    config: PathBuf,
    /// Output `.seq` file (with several MEG frequencies or axes, the stem of the files).
    output: PathBuf,
    /// Override a config value (as for a run).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

/// Arguments of `mre-sim seq info`.
#[derive(Debug, Args, Clone)]
pub struct InfoArgs {
    /// Pulseq file (format 1.4.x or 1.5.x).
    file: PathBuf,
    /// Write `<file stem>_waveforms.png` (RF, Gx, Gy, Gz, ADC over the first three
    /// imaged TRs) and `<file stem>_kspace.png` (kx–ky of every ADC sample) into DIR.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Overwrite existing plots.
    #[arg(long)]
    force: bool,
}

/// Run a `seq` subcommand.
pub fn seq(cmd: &SeqCommand) -> Result<(), CliError> {
    match cmd {
        SeqCommand::Export(a) => export(a),
        SeqCommand::Info(a) => info(a),
    }
}

/// File name of the export for MEG frequency `f` and axis `axis` when there are several.
fn variant_path(output: &Path, f_hz: f64, axis: &str) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sequence".into());
    let ext = output.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "seq".into());
    output.with_file_name(format!("{stem}-{f_hz}Hz-{axis}.{ext}"))
}

fn export(a: &ExportArgs) -> Result<(), CliError> {
    let (cfg, src) = RunConfig::load(&a.config, &a.set)?;
    let built = cfg.build(&src)?;
    // A config that imports a Pulseq file has nothing built in to export.
    #[allow(irrefutable_let_patterns)]
    let BuiltSequence::Builtin(b) = &built.sequence
    else {
        return Err(CliError::new(
            exit::INVALID_INPUT,
            anyhow!("{}: [sequence] is not the built-in GRE-MRE; seq export writes only the built-in sequence", a.config.display()),
        ));
    };
    // one sequence per distinct (MEG frequency, axis)
    let mut variants: Vec<(f64, GreMre)> = Vec::new();
    for &f in &built.frequencies_hz {
        for c in 0..b.components().len() {
            let s = b.instance(f, c).map_err(|e| anyhow!(e))?;
            if !variants.iter().any(|(_, v)| v.meg.frequency_hz == s.meg.frequency_hz && v.meg.axis == s.meg.axis) {
                variants.push((f, s));
            }
        }
    }
    let paths: Vec<PathBuf> = if variants.len() == 1 {
        vec![a.output.clone()]
    } else {
        variants.iter().map(|(_, s)| variant_path(&a.output, s.meg.frequency_hz, s.meg.axis.name())).collect()
    };
    if !a.force {
        if let Some(p) = paths.iter().find(|p| p.exists()) {
            return Err(CliError::new(exit::OUTPUT_EXISTS, anyhow!("{} already exists (use --force to overwrite it)", p.display())));
        }
    }
    let mut text = String::new();
    for ((_, s), path) in variants.iter().zip(&paths) {
        let file = from_gre_mre(s, &built.scanner).map_err(|e| match e {
            ExportError::IdealSpoiling | ExportError::OffRaster { .. } => {
                CliError::new(exit::INVALID_INPUT, anyhow!("{}: {e}", a.config.display()))
            }
            other => CliError::from(anyhow!(other)),
        })?;
        file.write(path, a.force).map_err(|e| match e {
            PulseqError::Exists { .. } => CliError::new(exit::OUTPUT_EXISTS, anyhow!(e)),
            other => CliError::from(anyhow!(other)),
        })?;
        tracing::info!(
            path = %path.display(),
            blocks = file.blocks.len(),
            duration_s = file.duration_s(),
            meg_hz = s.meg.frequency_hz,
            axis = s.meg.axis.name(),
            "wrote Pulseq file"
        );
        text += &format!("{}\n", path.display());
    }
    print_stdout(&text)
}

fn info(a: &InfoArgs) -> Result<(), CliError> {
    let read = read_pulseq(&a.file).map_err(|e| match e {
        PulseqError::Parse { .. } | PulseqError::Invalid { .. } => CliError::new(exit::INVALID_INPUT, anyhow!(e)),
        other => CliError::from(anyhow!(other)),
    })?;
    for w in &read.warnings {
        tracing::warn!("{w}");
    }
    let imp = read.sequence.to_timeline(&TimelineOptions::default()).map_err(|e| {
        CliError::new(exit::INVALID_INPUT, anyhow!(e).context(format!("{}: cannot convert the sequence", a.file.display())))
    })?;
    let info = summarise_imported(&read.sequence, &imp);
    let mut text = format!("# {}\n{info}", a.file.display());
    if let Some(dir) = &a.plots {
        let stem = a.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sequence".into());
        let written = write_sequence_plots(dir, &stem, &read.sequence, &imp, &info, a.force).map_err(|e| {
            let code = if matches!(e, mre_io::figures::FigureError::Invalid { .. }) { exit::OUTPUT_EXISTS } else { exit::FAILURE };
            CliError::new(code, anyhow!(e))
        })?;
        for p in written {
            text += &format!("plot          {}\n", p.display());
        }
    }
    print_stdout(&text)
}
