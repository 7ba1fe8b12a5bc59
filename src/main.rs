//! `mre-sim`: command-line front end. Parses arguments, sets up logging and the
//! progress bar, and calls the libraries; no physics here.

mod bayes;
mod bench;
mod choice;
mod import;
mod invert;
mod launch;
mod run;
mod seq;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Magnetic resonance elastography: simulate the whole MRE experiment.
#[derive(Debug, Parser)]
// Not `args_conflicts_with_subcommands`: with it, clap refuses a global option (`-q`,
// `--max-memory`) given after a subcommand; the run's own arguments are refused with a
// subcommand in `main` instead.
#[command(name = "mre-sim", version, about, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    /// More log output (-v info from every module, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Memory budget, e.g. 8G, 512M or a number of bytes (default: MRE_SIM_MAX_MEMORY, else the
    /// available memory). Sizes that would not fit are refused before anything is allocated.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<u64>,
}

/// `--max-memory`: a size ([`mre_solver::limits::parse_size`]).
fn parse_size(s: &str) -> Result<u64, String> {
    mre_solver::limits::parse_size(s)
}

/// Arguments of a simulation run (`mre-sim CONFIG.toml ...`).
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Run configuration (TOML).
    config: Option<PathBuf>,
    /// Output HDF5 file (default: `[output] path`, else `out/<config stem>.h5`).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Override a config value: `--set section.key=value` (repeatable; lists by index: `tissue.0.t1_s=0.9`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config without running it and print the resolved config.
    Check {
        /// Run configuration (TOML).
        config: PathBuf,
        /// Override a config value (as for a run).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Invert an mre-data file (AHI, MDEV) into an mre-result file and PNG elastograms.
    Invert(invert::InvertArgs),
    /// Convert a MATLAB v7.3 array (MDEV layout) into an mre-data file.
    Import(import::ImportArgs),
    /// Pulseq files: export the built-in sequence, summarise a file.
    #[command(subcommand)]
    Seq(seq::SeqCommand),
    /// Measure kernel and end-to-end throughput.
    Bench {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Minimum seconds per kernel measurement.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        /// Run only these benchmark groups (repeatable): bloch, pulseq, wave, navier_solver,
        /// mdev, bayes, model_check, navier_evaluations, navier_posterior, quickstart.
        #[arg(long, value_name = "GROUP")]
        only: Vec<String>,
    },
}

/// Exit codes: 0 success, 1 failure while running, 2 invalid input (config,
/// command line, data), 3 the output exists (use --force).
pub mod exit {
    /// Failure while running.
    pub const FAILURE: u8 = 1;
    /// Invalid configuration or input data.
    pub const INVALID_INPUT: u8 = 2;
    /// Output exists and --force was not given.
    pub const OUTPUT_EXISTS: u8 = 3;
}

/// An error with an exit code.
#[derive(Debug)]
pub struct CliError {
    /// Exit code (see [`exit`]).
    pub code: u8,
    /// The error.
    pub error: anyhow::Error,
    /// Already reported by another rank: exit with `code` without printing.
    pub silent: bool,
}

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> Self {
        let error = e.into();
        if let Some(p) = error.downcast_ref::<mre_pipeline::PipelineError>() {
            return Self { code: p.kind().exit_code(), silent: p.is_silent(), error };
        }
        let code = if error.downcast_ref::<mre_io::config::ConfigError>().is_some() { exit::INVALID_INPUT } else { exit::FAILURE };
        Self { code, error, silent: false }
    }
}

impl CliError {
    /// An error with an explicit code.
    pub fn new(code: u8, error: anyhow::Error) -> Self {
        Self { code, error, silent: false }
    }

    /// An error that another rank reports.
    pub fn silent(code: u8) -> Self {
        Self { code, error: anyhow::anyhow!("reported by another rank"), silent: true }
    }
}

impl mre_pipeline::error::RankError for CliError {
    fn exit_code(&self) -> u8 {
        self.code
    }
    fn reported_elsewhere(code: u8) -> Self {
        Self::silent(code)
    }
}

/// Logging to stderr; ranks other than 0 log only with `-v`.
fn init_logging(verbose: u8, quiet: bool, rank: usize) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) if rank > 0 => "off",
        // The Bayesian inversion's stage lines show that a long run is alive.
        (false, 0) => "warn,mre_sim=info,mre_pipeline::bayes=info",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = EnvFilter::try_from_env("MRE_SIM_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.is_some() {
        let r = &cli.run;
        if let Some(arg) = [
            r.config.as_ref().map(|c| c.display().to_string()),
            r.output.as_ref().map(|_| "--output".to_string()),
            (!r.set.is_empty()).then(|| "--set".to_string()),
            r.force.then(|| "--force".to_string()),
        ]
        .into_iter()
        .flatten()
        .next()
        {
            use clap::CommandFactory;
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("'{arg}' belongs to a run (mre-sim CONFIG.toml), not to a subcommand"),
                )
                .exit();
        }
    }
    // the budget applies to every subcommand; a malformed MRE_SIM_MAX_MEMORY is refused up front
    if let Some(bytes) = cli.max_memory {
        mre_solver::limits::set_max_memory(bytes);
    } else if let Err(msg) = mre_solver::limits::budget() {
        eprintln!("error: {msg}");
        return ExitCode::from(exit::INVALID_INPUT);
    }
    let procs = match launch::Processes::start() {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(exit::INVALID_INPUT);
        }
    };
    let rank = procs.comm().rank();
    init_logging(cli.verbose, cli.quiet, rank);
    let result = match cli.command {
        Some(Command::Check { config, set }) => run::check(&config, &set),
        Some(Command::Bench { json, seconds, only }) => bench::bench(json, seconds, &only),
        Some(Command::Invert(args)) => invert::invert(&args, cli.quiet, procs.comm()),
        Some(Command::Import(args)) => import::import(&args),
        Some(Command::Seq(cmd)) => seq::seq(&cmd),
        None => run::run(&cli.run, cli.quiet, &procs),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.silent => ExitCode::from(e.code),
        Err(e) if rank > 0 => {
            eprintln!("error (rank {rank}): {:#}", e.error);
            ExitCode::from(e.code)
        }
        Err(e) => {
            eprintln!("error: {:#}", e.error);
            ExitCode::from(e.code)
        }
    }
}
