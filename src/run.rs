//! `mre-sim CONFIG.toml` and `mre-sim check CONFIG.toml`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mre_io::config::{BuiltRun, RunConfig, Source};
use mre_pipeline::agree;
use mre_pipeline::invert::{default_output, InvertOptions};
use mre_pipeline::simulate::{check_outputs, describe, simulate, write_outputs};
use mre_solver::parallel::Comm;
use mre_solver::simulate::Progress;
use tracing::info;

use crate::launch::Processes;
use crate::{exit, CliError, RunArgs};

/// Progress bar that appears only when a run lasts longer than a second.
struct CliProgress {
    bar: ProgressBar,
    start: Instant,
    enabled: bool,
}

impl CliProgress {
    fn new(enabled: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} simulating [{elapsed_precise}] {wide_bar} {pos}/{len} spin batches (ETA {eta})")
                .expect("valid template"),
        );
        Self { bar, start: Instant::now(), enabled }
    }
}

impl Progress for CliProgress {
    fn update(&self, done: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
        if self.enabled && self.bar.is_hidden() && self.start.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

fn load(config: &Path, set: &[String]) -> Result<(RunConfig, Source, BuiltRun), CliError> {
    let (cfg, src) = RunConfig::load(config, set)?;
    let built = cfg.build(&src)?;
    Ok((cfg, src, built))
}

/// Validate a config and print it resolved.
pub fn check(config: &Path, set: &[String]) -> Result<(), CliError> {
    let (cfg, _src, built) = load(config, set)?;
    print_stdout(&describe(config, &cfg, &built)?)
}

/// Write to stdout; a closed pipe (`mre-sim check … | head`) is not an error.
pub fn print_stdout(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow!(e).context("cannot write to stdout").into()),
        _ => Ok(()),
    }
}

fn output_path(args: &RunArgs, cfg: &RunConfig, config: &Path) -> PathBuf {
    if let Some(o) = &args.output {
        return o.clone();
    }
    if let Some(p) = &cfg.output.path {
        return p.clone();
    }
    let stem = config.file_stem().map_or_else(|| "mre-sim".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("out").join(format!("{stem}.h5"))
}

/// Where the result of a config's `[invert]` goes: its `output`, else beside the data.
fn invert_output(inv: &mre_io::config::InvertConfig, data: &Path) -> PathBuf {
    inv.output.clone().unwrap_or_else(|| default_output(data, InvertOptions::from_config(inv, false).method))
}

/// Everything before the simulation: config, output paths (checked on rank 0), thread pool.
fn set_up(args: &RunArgs, root: bool) -> Result<(PathBuf, RunConfig, BuiltRun), CliError> {
    let config = args
        .config
        .as_deref()
        .ok_or_else(|| CliError::new(exit::INVALID_INPUT, anyhow!("no config file given (usage: mre-sim CONFIG.toml)")))?;
    let (cfg, _src, built) = load(config, &args.set)?;
    let path = output_path(args, &cfg, config);
    if root {
        // Every output (data, figures, MRD, the [invert] result and its figures) before the work.
        let invert = cfg.invert.as_ref().map(|inv| (invert_output(inv, &path), InvertOptions::from_config(inv, cfg.output.figures)));
        check_outputs(&path, &cfg, &built, invert.as_ref().map(|(p, o)| (p.as_path(), o)), args.force)?;
    }
    if cfg.simulation.threads > 0 {
        rayon::ThreadPoolBuilder::new().num_threads(cfg.simulation.threads).build_global().context("cannot start the thread pool")?;
    }
    Ok((path, cfg, built))
}

/// Run a config: simulate (across the ranks of `procs`), write HDF5, figures and MRD on rank
/// 0, then the config's `[invert]`.
pub fn run(args: &RunArgs, quiet: bool, procs: &Processes) -> Result<(), CliError> {
    let comm = procs.comm();
    let root = comm.is_root();
    let (path, cfg, mut built) = agree(comm, set_up(args, root))?;
    let config = args.config.as_deref().expect("checked in set_up");
    info!(config = %config.display(), output = %path.display(), threads = rayon::current_num_threads(), ranks = comm.size(), "starting");
    let progress = CliProgress::new(!quiet && root);
    let invert = cfg.invert.as_ref().map(|inv| (InvertOptions::from_config(inv, cfg.output.figures), invert_output(inv, &path)));
    let bayes = invert.as_ref().is_some_and(|(o, _)| o.method == mre_pipeline::Method::Bayes);
    let Some((data, summary)) = simulate(&cfg, &mut built, config, comm, &progress)? else {
        // Not rank 0: its share of the signal went to rank 0, which writes. A Bayesian
        // `[invert]` uses every rank once rank 0 has written the data.
        if let Some((options, result)) = invert.as_ref().filter(|_| bayes) {
            agree::<(), CliError>(comm, Ok(()))?;
            crate::invert::run(&path, result, options, args.force, quiet, comm)?;
        }
        return Ok(());
    };
    progress.bar.finish_and_clear();
    let written = write_outputs(&path, &data, &built, &cfg, args.force).map_err(CliError::from);
    let written = if bayes {
        // The other ranks wait here to join the inversion.
        agree(comm, written)?
    } else {
        written?
    };
    for (file, note) in written {
        match note.as_str() {
            "" => println!("wrote {}", file.display()),
            note => println!("wrote {} ({note})", file.display()),
        }
    }
    let s = summary;
    println!(
        "{} isochromats, {} experiment(s), {} steps: {:.2} s wall on {} rank(s) × {} thread(s), {:.3e} isochromat-ADC-samples/s",
        s.spins,
        s.experiments,
        s.steps,
        s.wall_s,
        s.ranks,
        s.threads,
        s.isochromat_samples / s.wall_s
    );
    if let Some((options, result)) = &invert {
        // Classic methods on rank 0 alone (the other ranks have returned).
        let on: &dyn Comm = if bayes { comm } else { &mre_solver::parallel::Serial };
        crate::invert::run(&path, result, options, args.force, quiet, on)?;
    }
    let t = s.timings;
    println!(
        "rank 0: isochromats {:.3} s, kernel {:.3} s, reduction {:.4} s, reconstruction {:.3} s",
        t.spins_s, t.kernel_s, t.reduce_s, t.recon_s
    );
    Ok(())
}
