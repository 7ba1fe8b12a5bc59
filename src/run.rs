//! `mre-sim CONFIG.toml` and `mre-sim check CONFIG.toml`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mre_io::config::{BuiltRun, BuiltSequence, InvertMethod, RunConfig, Source};
use mre_io::data::{GroundTruth, MreData, Provenance};
use mre_solver::sequence::MreSequence;
use mre_solver::simulate::{simulate_with, Progress, SimulationOutput};
use tracing::info;

use mre_solver::parallel::Comm;

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
    let experiments = built.frequencies_hz.len() * built.sequence.components().len();
    // the shots' motion encodings must determine the displacement (no isochromat is touched)
    mre_solver::simulate::harmonic_fits(built.sequence.as_mre(), &built.frequencies_hz, &built.scanner)
        .map_err(|e| CliError::new(exit::INVALID_INPUT, anyhow!("{}: {e}", config.display())))?;
    let mut text = format!("# {}: valid\n", config.display());
    let spins = format!(
        "{} isochromats ({} voxels with tissue × {}), {experiments} experiment(s)",
        built.phantom.tissue_voxels() * built.phantom.spins_per_voxel,
        built.phantom.tissue_voxels(),
        built.phantom.spins_per_voxel,
    );
    match &built.sequence {
        BuiltSequence::Builtin(b) => {
            let seq = &b.sequence;
            let lay = seq.layout(&built.scanner).map_err(|e| anyhow!(e))?;
            let trs = seq.dummy_scans + seq.shots() * seq.matrix[0] * seq.matrix[1];
            text += &format!(
                "# {spins} of {trs} TRs ({:.1} s of scan time each), minimum TE {:.2} ms\n",
                trs as f64 * seq.tr_s,
                lay.min_te_s * 1e3
            );
        }
        BuiltSequence::Pulseq(p) => {
            for (i, (axis, file)) in p.files().into_iter().enumerate() {
                text += &format!(
                    "# Pulseq {} (encodes {}): {} ADC samples, {:.1} s of scan time\n",
                    file.display(),
                    axis.name(),
                    p.adc_samples(),
                    p.duration_s(i)
                );
            }
            text += &format!(
                "# {spins}, matrix {:?}, FOV {:?} m, {} offsets, {:?} polarities\n",
                p.matrix(),
                p.fov_m(),
                p.phase_offsets(),
                p.polarities()
            );
        }
    }
    text += &format!("# resolved configuration:\n{}", cfg.to_toml());
    print_stdout(&text)
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

/// Current UTC time as RFC 3339.
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Convert a simulation into the mre-data layout.
pub fn to_mre_data(out: SimulationOutput, built: &BuiltRun, provenance: Provenance) -> MreData {
    let components: String = built.sequence.components().iter().map(|a| a.name()).collect();
    MreData {
        frequencies_hz: built.frequencies_hz.clone(),
        voxel_size_m: out.image_grid.voxel_size_m,
        density_kg_m3: built.density_kg_m3,
        components,
        encoding_efficiency_rad_per_m: out.encoding.iter().map(|x| x.norm()).collect(),
        encoding_phase_rad: out.encoding.iter().map(|x| x.arg()).collect(),
        wave: Some(out.wave),
        phase: Some(out.phase),
        images: Some(out.images),
        kspace: Some(out.kspace),
        kspace_negative: out.kspace_negative,
        magnitude: Some(out.magnitude),
        mask: Some(out.mask),
        labels: Some(out.labels),
        noise_std: None,
        ground_truth: Some(GroundTruth { storage_modulus_pa: out.storage_modulus_pa, loss_modulus_pa: out.loss_modulus_pa }),
        provenance,
    }
}

/// Write the data file and, with `figures`, its PNGs (rank 0).
fn write_data(path: &Path, data: &MreData, force: bool, figures: bool) -> Result<(), CliError> {
    mre_io::hdf5::write_mre_data(path, data, force).map_err(|e| {
        let code = if path.exists() && !force { exit::OUTPUT_EXISTS } else { exit::FAILURE };
        CliError::new(code, anyhow!(e))
    })?;
    println!("wrote {}", path.display());
    if figures {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let stem = path.file_stem().map_or_else(|| "mre-sim".into(), |s| s.to_string_lossy().into_owned());
        let figs = mre_io::figures::write_mre_figures(dir, &stem, data).map_err(|e| anyhow!(e))?;
        for f in figs {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}

/// Make every rank fail together when any rank failed: the ranks that pass return
/// a silent error; of the failing ranks, rank 0 reports when it failed, otherwise
/// the failing ranks report (so a config error is printed once, not once per rank).
pub fn agree<T>(comm: &dyn Comm, r: Result<T, CliError>) -> Result<T, CliError> {
    if comm.size() == 1 || comm.all_ok(r.is_ok()) {
        return r;
    }
    // Rank 0's exit code (0 when it passed), so that every rank exits with the code of the
    // reported error: mpirun returns the code of the first process that exits non-zero.
    let mut root_code = [match (&r, comm.is_root()) {
        (Err(e), true) => f64::from(e.code),
        _ => 0.0,
    }];
    comm.broadcast(0, &mut root_code);
    let root_code = root_code[0] as u8;
    match r {
        Err(e) if comm.is_root() || root_code == 0 => Err(e),
        Err(_) => Err(CliError::silent(root_code)),
        Ok(_) => Err(CliError::silent(if root_code == 0 { exit::FAILURE } else { root_code })),
    }
}

/// Everything before the simulation: config, output path (checked on rank 0), thread pool.
fn set_up(args: &RunArgs, root: bool) -> Result<(PathBuf, RunConfig, BuiltRun), CliError> {
    let config = args
        .config
        .as_deref()
        .ok_or_else(|| CliError::new(exit::INVALID_INPUT, anyhow!("no config file given (usage: mre-sim CONFIG.toml)")))?;
    let (cfg, _src, built) = load(config, &args.set)?;
    let path = output_path(args, &cfg, config);
    if root {
        if path.exists() && !args.force {
            return Err(CliError::new(
                exit::OUTPUT_EXISTS,
                anyhow!("{} exists; use --force to overwrite it or --output to write elsewhere", path.display()),
            ));
        }
        if let Some(inv) = &cfg.invert {
            let result = crate::invert::InvertArgs::from_config(path.clone(), inv, args.force, cfg.output.figures).output_path();
            if result.exists() && !args.force {
                return Err(CliError::new(
                    exit::OUTPUT_EXISTS,
                    anyhow!("{} ([invert] result) exists; use --force to overwrite it", result.display()),
                ));
            }
        }
        crate::mrd::check_absent(&path, &cfg, args.force)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create the output directory {}", dir.display()))?;
        }
    }
    if cfg.simulation.threads > 0 {
        rayon::ThreadPoolBuilder::new().num_threads(cfg.simulation.threads).build_global().context("cannot start the thread pool")?;
    }
    Ok((path, cfg, built))
}

/// Run a config: simulate (across the ranks of `procs`), write HDF5 and figures on rank 0.
pub fn run(args: &RunArgs, quiet: bool, procs: &Processes) -> Result<(), CliError> {
    let comm = procs.comm();
    let root = comm.is_root();
    let (path, cfg, mut built) = agree(comm, set_up(args, root))?;
    let config = args.config.as_deref().expect("checked in set_up");
    let threads = rayon::current_num_threads();
    info!(config = %config.display(), output = %path.display(), threads, ranks = comm.size(), "starting");
    let start = Instant::now();
    agree(comm, built.prepare_with(comm).map_err(|e| CliError::new(exit::INVALID_INPUT, anyhow!(e))))?;
    let progress = CliProgress::new(!quiet && root);
    let exp = built.experiment();
    let out = simulate_with(&exp, &built.options, &progress, comm).map_err(|e| CliError::new(exit::INVALID_INPUT, anyhow!(e)));
    let Some(mut out) = agree(comm, out)? else {
        // Not rank 0: its share of the signal went to rank 0, which writes. A Bayesian
        // `[invert]` uses every rank once rank 0 has written the data.
        if let Some(inv) = cfg.invert.as_ref().filter(|i| i.method == InvertMethod::Bayes) {
            agree(comm, Ok(()))?;
            crate::invert::invert(&crate::invert::InvertArgs::from_config(path.clone(), inv, args.force, cfg.output.figures), quiet, comm)?;
        }
        return Ok(());
    };
    built.restrict_to_physical_region(&mut out);
    progress.bar.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    let experiments = built.frequencies_hz.len() * built.sequence.components().len();
    let samples = out.spins as f64 * out.adc_samples as f64 * experiments as f64;
    let (spins, steps, timings) = (out.spins, out.steps, out.timings);
    let kernel = match built.options.kernel {
        mre_solver::KernelChoice::Fast(p) => format!("fast-{}", p.name()),
        mre_solver::KernelChoice::Reference => "reference".into(),
    };
    let provenance = Provenance {
        tool: "mre-sim".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        config_toml: cfg.to_toml(),
        created: rfc3339_now(),
        threads,
        ranks: comm.size(),
        seed: built.phantom.seed,
        wall_time_s: wall,
        extra: vec![
            ("config_file".into(), config.display().to_string()),
            ("kernel".into(), kernel),
            ("isochromats".into(), spins.to_string()),
            ("plan_steps".into(), steps.to_string()),
            ("isochromat_adc_samples_per_s".into(), format!("{:.4e}", samples / wall)),
            ("rank0_kernel_s".into(), format!("{:.3}", timings.kernel_s)),
            ("rank0_reduce_s".into(), format!("{:.4}", timings.reduce_s)),
        ],
    };
    let data = to_mre_data(out, &built, provenance);
    let written = write_data(&path, &data, args.force, cfg.output.figures)
        .and_then(|()| crate::mrd::write_beside(&path, &data, &built, &cfg, args.force));
    let bayes = cfg.invert.as_ref().is_some_and(|i| i.method == InvertMethod::Bayes);
    if bayes {
        // The other ranks wait here to join the inversion.
        agree(comm, written)?;
    } else {
        written?;
    }
    let ranks = comm.size();
    println!(
        "{spins} isochromats, {experiments} experiment(s), {steps} steps: {wall:.2} s wall on {ranks} rank(s) × {threads} thread(s), \
         {:.3e} isochromat-ADC-samples/s",
        samples / wall
    );
    if let Some(inv) = &cfg.invert {
        // Classic methods on rank 0 alone (the other ranks have returned).
        let on: &dyn Comm = if bayes { comm } else { &mre_solver::parallel::Serial };
        crate::invert::invert(&crate::invert::InvertArgs::from_config(path.clone(), inv, args.force, cfg.output.figures), quiet, on)?;
    }
    println!(
        "rank 0: isochromats {:.3} s, kernel {:.3} s, reduction {:.4} s, reconstruction {:.3} s",
        timings.spins_s, timings.kernel_s, timings.reduce_s, timings.recon_s
    );
    Ok(())
}
