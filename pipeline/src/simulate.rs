//! `mre-sim CONFIG.toml` as library calls: a built run config → the simulated MRE experiment
//! as mre-data ([`simulate`]) → the data file, its figures and its MRD raw data
//! ([`write_outputs`]); and `mre-sim check`'s summary ([`describe`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use mre_io::config::{BuiltRun, BuiltSequence, RunConfig};
use mre_io::data::{GroundTruth, MreData, Provenance};
use mre_io::figures::{FigureError, MreFigures};
use mre_io::mrd::{mrd_path_for, write_mrd, GreMreScan, MrdDataset, ScanDescription};
use mre_solver::parallel::Comm;
use mre_solver::sequence::MreSequence;
use mre_solver::simulate::{simulate_with, Progress, SimulationOutput, Timings};

use crate::error::{agree, write_error, ErrorKind, PipelineError, Result};
use crate::invert::{result_outputs, InvertOptions};
use crate::outputs::{self, directory_of, Output};

/// What a simulation cost, for the summary line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunSummary {
    /// Isochromats simulated.
    pub spins: usize,
    /// Experiments (frequencies × encoded components).
    pub experiments: usize,
    /// Steps of the sequence plan.
    pub steps: usize,
    /// Isochromat × ADC-sample products over all experiments.
    pub isochromat_samples: f64,
    /// Wall time of the simulation, s.
    pub wall_s: f64,
    /// Threads per rank.
    pub threads: usize,
    /// Ranks.
    pub ranks: usize,
    /// Rank 0's stage times.
    pub timings: Timings,
}

/// Simulate the run `built` of `cfg` (read from `config_file`) across the ranks of `comm`:
/// the wave solve of the motion (when the config asks for one), the Bloch simulation and the
/// reconstruction. Returns the mre-data (with the resolved config, version, ranks, threads
/// and seed in its provenance) and the summary on rank 0, `None` on the other ranks.
pub fn simulate(
    cfg: &RunConfig,
    built: &mut BuiltRun,
    config_file: &Path,
    comm: &dyn Comm,
    progress: &dyn Progress,
) -> Result<Option<(MreData, RunSummary)>> {
    let threads = rayon::current_num_threads();
    let start = Instant::now();
    agree(comm, built.prepare_with(comm).map_err(|e| PipelineError::from_error(ErrorKind::InvalidInput, &e)))?;
    let exp = built.experiment();
    let out = simulate_with(&exp, &built.options, progress, comm).map_err(|e| PipelineError::from_error(ErrorKind::InvalidInput, &e));
    let Some(mut out) = agree(comm, out)? else { return Ok(None) };
    built.restrict_to_physical_region(&mut out);
    let wall_s = start.elapsed().as_secs_f64();
    let experiments = built.frequencies_hz.len() * built.sequence.components().len();
    let summary = RunSummary {
        spins: out.spins,
        experiments,
        steps: out.steps,
        isochromat_samples: out.spins as f64 * out.adc_samples as f64 * experiments as f64,
        wall_s,
        threads,
        ranks: comm.size(),
        timings: out.timings,
    };
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
        wall_time_s: wall_s,
        extra: vec![
            ("config_file".into(), config_file.display().to_string()),
            ("kernel".into(), kernel),
            ("isochromats".into(), summary.spins.to_string()),
            ("plan_steps".into(), summary.steps.to_string()),
            ("isochromat_adc_samples_per_s".into(), format!("{:.4e}", summary.isochromat_samples / wall_s)),
            ("rank0_kernel_s".into(), format!("{:.3}", summary.timings.kernel_s)),
            ("rank0_reduce_s".into(), format!("{:.4}", summary.timings.reduce_s)),
        ],
    };
    Ok(Some((to_mre_data(out, built, provenance), summary)))
}

/// `mre-sim check`: what the run `built` of `cfg` (read from `config`) would simulate — the
/// isochromats, TRs, scan time, minimum TE or the Pulseq files, the estimated peak memory and
/// kernel time ([`BuiltRun::estimate`]) — and the resolved config, as text. An error when the shots' motion encodings do not determine the displacement.
pub fn describe(config: &Path, cfg: &RunConfig, built: &BuiltRun) -> Result<String> {
    let experiments = built.frequencies_hz.len() * built.sequence.components().len();
    // the shots' motion encodings must determine the displacement (no isochromat is touched)
    mre_solver::simulate::harmonic_fits(built.sequence.as_mre(), &built.frequencies_hz, &built.scanner)
        .map_err(|e| PipelineError::invalid(format!("{}: {e}", config.display())))?;
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
            let lay = seq.layout(&built.scanner).map_err(|e| PipelineError::from_error(ErrorKind::InvalidInput, &e))?;
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
    // refused by RunConfig::build already when it does not fit
    let estimate = built.estimate(cfg.simulation.threads).map_err(|e| PipelineError::invalid(format!("{}: {e}", config.display())))?;
    text += &format!("# {estimate}\n");
    text += &format!("# resolved configuration:\n{}", cfg.to_toml());
    Ok(text)
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

/// Every file a run of `cfg` writes: the data file `path`, with `[output] figures` its PNGs
/// ([`MreFigures::paths`]), with `[output] mrd` its MRD file, and the result of `[invert]`
/// (`invert`: its path and options) with its figures.
pub fn run_outputs(path: &Path, cfg: &RunConfig, built: &BuiltRun, invert: Option<(&Path, &InvertOptions)>) -> Vec<Output> {
    // The main files first (the first existing one is the one reported), then the figures.
    let invert: Vec<Output> = invert
        .map(|(result, options)| result_outputs(result, options).into_iter().map(|o| Output { role: invert_role(o.role), ..o }).collect())
        .unwrap_or_default();
    let (results, invert_figures): (Vec<Output>, Vec<Output>) = invert.into_iter().partition(|o| o.role == "[invert] result");
    let mut v = vec![Output::new(path, "mre-data")];
    v.extend(results);
    if cfg.output.mrd {
        v.push(Output::new(mrd_path_for(path), "MRD raw data"));
    }
    if cfg.output.figures {
        let figures = MreFigures {
            frequencies_hz: built.frequencies_hz.clone(),
            components: built.sequence.components().iter().map(|a| a.name().to_string()).collect(),
            magnitude: true,
            phase: true,
            wave: true,
            ground_truth: true,
        };
        v.extend(figures.paths(directory_of(path), &figure_stem(path)).into_iter().map(|p| Output::new(p, "figure")));
    }
    v.extend(invert_figures);
    v
}

fn invert_role(role: &'static str) -> &'static str {
    match role {
        "mre-result" => "[invert] result",
        "figure" => "[invert] figure",
        other => other,
    }
}

/// An error unless every file of [`run_outputs`] can be written, checked before the
/// simulation ([`outputs::prepare`]): an existing one (or a dangling symbolic link) unless
/// `force` is [`ErrorKind::OutputExists`]; missing directories are created; a directory that
/// does not accept a new file is [`ErrorKind::InvalidInput`].
pub fn check_outputs(path: &Path, cfg: &RunConfig, built: &BuiltRun, invert: Option<(&Path, &InvertOptions)>, force: bool) -> Result<()> {
    if let Some((_, options)) = invert {
        options.validate()?;
    }
    outputs::prepare(&run_outputs(path, cfg, built, invert), force)
}

/// The stem of the data file's figures.
fn figure_stem(path: &Path) -> String {
    path.file_stem().map_or_else(|| "mre-sim".into(), |s| s.to_string_lossy().into_owned())
}

/// The files [`write_outputs`] wrote, in order, with a note each (e.g. the MRD acquisitions).
pub type WrittenFiles = Vec<(PathBuf, String)>;

/// Write the data file `path`, with `[output] figures` its PNGs beside it, and with
/// `[output] mrd` its k-space as `<stem>.mrd.h5` (ISMRMRD) beside it.
pub fn write_outputs(path: &Path, data: &MreData, built: &BuiltRun, cfg: &RunConfig, force: bool) -> Result<WrittenFiles> {
    mre_io::hdf5::write_mre_data(path, data, force).map_err(write_error)?;
    let mut written = vec![(path.to_path_buf(), String::new())];
    if cfg.output.figures {
        let figs = mre_io::figures::write_mre_figures(directory_of(path), &figure_stem(path), data, force).map_err(|e| {
            let kind = if matches!(e, FigureError::Exists { .. }) { ErrorKind::OutputExists } else { ErrorKind::Failure };
            PipelineError::from_error(kind, &e)
        })?;
        written.extend(figs.into_iter().map(|f| (f, String::new())));
    }
    if let Some(mrd) = write_mrd_beside(path, data, built, cfg, force)? {
        written.push(mrd);
    }
    Ok(written)
}

/// Write the k-space of `data` as `<stem>.mrd.h5` beside `data_path` (no-op unless `[output] mrd`).
fn write_mrd_beside(data_path: &Path, data: &MreData, built: &BuiltRun, cfg: &RunConfig, force: bool) -> Result<Option<(PathBuf, String)>> {
    let Some(kspace) = data.kspace.as_ref().filter(|_| cfg.output.mrd) else { return Ok(None) };
    let (description, axes, meg_frequency_hz) = match &built.sequence {
        BuiltSequence::Builtin(b) => (ScanDescription::of_gre_mre(&b.sequence), b.axes.clone(), b.meg_frequency_hz),
        // an imported file's MEG frequency is its own; the vibration frequencies are recorded
        BuiltSequence::Pulseq(p) => (p.description(), p.components(), None),
    };
    let scan = GreMreScan {
        sequence: &description,
        frequencies_hz: &built.frequencies_hz,
        meg_axes: &axes,
        meg_frequency_hz,
        field_strength_t: cfg.scanner.field_strength_t,
    };
    let dataset = MrdDataset::from_gre_mre(&scan, kspace, data.kspace_negative.as_ref())
        .map_err(|e| PipelineError::from_error(ErrorKind::Failure, &e))?;
    let path = mrd_path_for(data_path);
    write_mrd(&path, &dataset, force).map_err(write_error)?;
    Ok(Some((path, format!("{} acquisitions", dataset.acquisitions.len()))))
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
