//! `mre-sim seq export CONFIG.toml OUT.seq` and `mre-sim seq info FILE.seq`:
//! the built-in GRE-MRE as Pulseq files, and what a Pulseq file does.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mre_io::config::RunConfig;
use mre_pipeline::pulseq::export_builtin;

use crate::run::print_stdout;
use crate::CliError;

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

fn export(a: &ExportArgs) -> Result<(), CliError> {
    let (cfg, src) = RunConfig::load(&a.config, &a.set)?;
    let built = cfg.build(&src)?;
    let paths = export_builtin(&a.config, &built, &a.output, a.force)?;
    print_stdout(&paths.iter().map(|p| format!("{}\n", p.display())).collect::<String>())
}

fn info(a: &InfoArgs) -> Result<(), CliError> {
    let summary = mre_pipeline::pulseq::info(&a.file, a.plots.as_deref(), a.force)?;
    for w in &summary.warnings {
        tracing::warn!("{w}");
    }
    let mut text = format!("# {}\n{}", a.file.display(), summary.info);
    for p in summary.plots {
        text += &format!("plot          {}\n", p.display());
    }
    print_stdout(&text)
}
