//! `mre-sim invert`: an mre-data file (or data in memory) → an mre-result, by a direct
//! inversion (AHI, MDEV) or the Bayesian inversion, with PNG elastograms.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mre_io::config::InvertConfig;
use mre_io::figures::{write_map_png, Colormap};
use mre_io::hdf5::{write_mre_result, MreResult};
use mre_solver::parallel::Comm;
use ndarray::Axis;
use tracing::info;

use crate::bayes::{self, BayesOptions};
use crate::choice::Choice;
use crate::classic::{self, Filter};
use crate::error::{agree, write_error, ErrorKind, PipelineError, Result};
use crate::input::{Unwrap, WaveInput};

pub use mre_inverse::options::Method;

/// Options of an inversion; [`InvertOptions::new`] gives the defaults of `mre-sim invert`.
#[derive(Debug, Clone, PartialEq)]
pub struct InvertOptions {
    /// Inversion method.
    pub method: Method,
    /// Filter applied to the wave field before a direct inversion (AHI, MDEV).
    pub filter: Filter,
    /// Phase unwrapping for `/phase`, `/images` and `/kspace` data.
    pub unwrap: Unwrap,
    /// Options of the Bayesian inversion.
    pub bayes: BayesOptions,
    /// Checkpoint directory of the Bayesian inversion (`None`: `<output>.checkpoint` beside the
    /// output). A killed run restarted with the same options resumes from it; it is removed
    /// after success.
    pub checkpoint: Option<PathBuf>,
    /// Write PNG elastograms beside the result.
    pub figures: bool,
}

impl InvertOptions {
    /// The defaults of `mre-sim invert --method <method>`.
    pub fn new(method: Method) -> Self {
        Self { method, filter: Filter::None, unwrap: Unwrap::Laplacian, bayes: BayesOptions::default(), checkpoint: None, figures: true }
    }

    /// The inversion of `[invert]` in a run config (the defaults for what it leaves out).
    pub fn from_config(c: &InvertConfig, figures: bool) -> Self {
        let mut o = Self::new(c.method);
        o.figures = figures;
        o.filter = c.filter;
        let b = &mut o.bayes;
        b.parameterization = c.parameterization;
        b.likelihood = c.likelihood.unwrap_or(b.likelihood);
        b.chains = c.chains.unwrap_or(b.chains);
        b.tune = c.tune.unwrap_or(b.tune);
        b.draws = c.draws.unwrap_or(b.draws);
        b.seed = c.seed.unwrap_or(b.seed);
        b.field_spacing = c.field_spacing.or(b.field_spacing);
        b.drive = c.drive.unwrap_or(b.drive);
        if let Some(faces) = &c.drive_faces {
            b.drive_faces = faces.clone();
        }
        b.model_error = c.model_error.unwrap_or(b.model_error);
        o
    }

    /// The checkpoint directory for a result written to `output`.
    pub fn checkpoint_for(&self, output: &Path) -> PathBuf {
        self.checkpoint.clone().unwrap_or_else(|| checkpoint_dir(output))
    }
}

/// Default output path: `<data stem>-<method>.h5` beside the input.
pub fn default_output(data: &Path, method: Method) -> PathBuf {
    let stem = data.file_stem().map_or_else(|| "data".into(), |s| s.to_string_lossy().into_owned());
    data.with_file_name(format!("{stem}-{}.h5", method.name()))
}

/// `<output>.checkpoint` beside the output.
pub fn checkpoint_dir(output: &Path) -> PathBuf {
    let name = output.file_name().map_or_else(|| "result".into(), |n| n.to_string_lossy().into_owned());
    output.with_file_name(format!("{name}.checkpoint"))
}

/// An error unless `out` is free to write (or `force`).
pub fn check_output(out: &Path, force: bool) -> Result<()> {
    if out.exists() && !force {
        return Err(PipelineError::exists(format!("{} exists; use --force to overwrite it or --output to write elsewhere", out.display())));
    }
    Ok(())
}

/// Invert `input` on the ranks of `comm`: the result on rank 0, `None` on the other ranks.
/// Direct methods run on rank 0 alone; the Bayesian inversion uses every rank (see
/// [`bayes::run`]) and checkpoints into `checkpoint` when given. Errors end every rank
/// together.
pub fn invert(input: &WaveInput, options: &InvertOptions, checkpoint: Option<&Path>, comm: &dyn Comm) -> Result<Option<MreResult>> {
    info!(data = %input.source, level = input.level, method = options.method.name(), ranks = comm.size(), "inverting");
    match options.method {
        Method::Bayes => bayes::run(input, &options.bayes, checkpoint, comm),
        m => {
            let r = if comm.is_root() { classic::invert_classic(input, m, options.filter).map(Some) } else { Ok(None) };
            agree(comm, r)
        }
    }
}

/// The files an inversion wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The mre-result file.
    pub result: PathBuf,
    /// The PNG elastograms.
    pub figures: Vec<PathBuf>,
}

/// What [`invert_file`] is doing, for a progress display.
pub trait Status {
    /// The current stage, e.g. `"DATA.h5: reading"`.
    fn stage(&self, _message: &str) {}
}

/// No progress display.
impl Status for () {}

/// `mre-sim invert DATA --method …` as one call: check the output (refusing an existing one
/// unless `force`), read the file, invert on the ranks of `comm`, write the mre-result and
/// (with `options.figures`) its PNGs on rank 0, and remove the Bayesian checkpoint after
/// success. Returns the result and the files written on rank 0, `None` on the other ranks.
pub fn invert_file(
    data: &Path,
    output: &Path,
    options: &InvertOptions,
    force: bool,
    comm: &dyn Comm,
    status: &dyn Status,
) -> Result<Option<(MreResult, Written)>> {
    let start = Instant::now();
    let root = comm.is_root();
    agree(comm, if root { check_output(output, force) } else { Ok(()) })?;
    if comm.size() > 1 && options.method != Method::Bayes {
        // Direct methods run on rank 0 alone.
        let r = if root { invert_file(data, output, options, force, &mre_solver::parallel::Serial, status) } else { Ok(None) };
        return agree(comm, r);
    }
    status.stage(&format!("{}: reading", data.display()));
    let input = agree(comm, WaveInput::read(data, options.unwrap))?;
    status.stage(&format!("{}: {}", data.display(), stage_name(options.method)));
    let checkpoint = options.checkpoint_for(output);
    let result = invert(&input, options, Some(&checkpoint), comm)?;
    // Stage errors are already shared by every rank; one of rank 0 alone (writing) is shared here.
    let written = match result {
        Some(result) => write_result(output, &result, force, options.figures).and_then(|written| {
            if options.method == Method::Bayes && checkpoint.exists() {
                std::fs::remove_dir_all(&checkpoint)
                    .map_err(|e| PipelineError::failure(format!("removing {}: {e}", checkpoint.display())))?;
            }
            info!(seconds = start.elapsed().as_secs_f64(), method = options.method.name(), "inversion done");
            Ok(Some((result, written)))
        }),
        None => Ok(None),
    };
    if options.method == Method::Bayes {
        agree(comm, written)
    } else {
        written
    }
}

fn stage_name(m: Method) -> &'static str {
    match m {
        Method::Bayes => "Bayesian inversion",
        m => m.name(),
    }
}

/// Write `result` to `out` (an existing file only with `force`) and, with `figures`, its PNGs.
pub fn write_result(out: &Path, result: &MreResult, force: bool, figures: bool) -> Result<Written> {
    write_mre_result(out, result, force).map_err(write_error)?;
    let figures = if figures { write_figures(out, result)? } else { Vec::new() };
    Ok(Written { result: out.to_path_buf(), figures })
}

/// PNGs of G' (kPa) and the phase angle (rad) of the middle slice, named
/// `<result stem>-storage-modulus.png` and `<result stem>-phase-angle.png`.
pub fn write_figures(out: &Path, r: &MreResult) -> Result<Vec<PathBuf>> {
    let stem = out.file_stem().map_or_else(|| "result".into(), |s| s.to_string_lossy().into_owned());
    let z = r.storage_modulus_pa.len_of(Axis(0)) / 2;
    let storage_kpa = r.storage_modulus_pa.index_axis(Axis(0), z).mapv(|v| v / 1000.0);
    let mut written = Vec::new();
    let p = out.with_file_name(format!("{stem}-storage-modulus.png"));
    let finite = storage_kpa.iter().any(|v| v.is_finite());
    let range = if finite { None } else { Some((0.0, 1.0)) };
    write_map_png(&p, &format!("storage modulus G' (slice {z})"), storage_kpa.view(), "kPa", Colormap::Viridis, range)
        .map_err(|e| PipelineError::from_error(ErrorKind::Failure, &e))?;
    written.push(p);
    if let Some(std) = &r.storage_modulus_std_pa {
        let p = out.with_file_name(format!("{stem}-storage-modulus-std.png"));
        let map = std.index_axis(Axis(0), z).mapv(|v| v / 1000.0);
        let range = if map.iter().any(|v| v.is_finite()) { None } else { Some((0.0, 1.0)) };
        write_map_png(&p, &format!("posterior std of G' (slice {z})"), map.view(), "kPa", Colormap::Viridis, range)
            .map_err(|e| PipelineError::from_error(ErrorKind::Failure, &e))?;
        written.push(p);
    }
    if let Some(phi) = &r.phase_angle_rad {
        let p = out.with_file_name(format!("{stem}-phase-angle.png"));
        let map = phi.index_axis(Axis(0), z);
        write_map_png(
            &p,
            &format!("phase angle arg G* (slice {z})"),
            map,
            "rad",
            Colormap::Viridis,
            Some((0.0, std::f64::consts::FRAC_PI_2)),
        )
        .map_err(|e| PipelineError::from_error(ErrorKind::Failure, &e))?;
        written.push(p);
    }
    Ok(written)
}
