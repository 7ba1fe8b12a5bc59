//! `mre-sim invert`: an mre-data file (or data in memory) → an mre-result, by a direct
//! inversion (AHI, MDEV) or the Bayesian inversion, with PNG elastograms.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mre_io::config::InvertConfig;
use mre_io::crop::Crop;
use mre_io::figures::{write_map_png, Colormap, FigureError};
use mre_io::hdf5::{write_mre_result, MreResult};
use mre_solver::files;
use mre_solver::parallel::Comm;
use ndarray::Axis;
use tracing::info;

use crate::bayes::{self, BayesOptions};
use crate::choice::Choice;
use crate::classic::{self, Curl, Filter};
use crate::error::{agree, write_error, ErrorKind, PipelineError, Result};
use crate::input::{Unwrap, WaveInput};
use crate::outputs::{self, Output};

pub use mre_inverse::options::Method;

/// Options of an inversion; [`InvertOptions::new`] gives the defaults of `mre-sim invert`.
#[derive(Debug, Clone, PartialEq)]
pub struct InvertOptions {
    /// Inversion method.
    pub method: Method,
    /// Filter applied to the wave field before a direct inversion (AHI, MDEV).
    pub filter: Filter,
    /// Curl of the displacement before a direct inversion (AHI, MDEV).
    pub curl: Curl,
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
    /// Invert only this box of voxels (`--crop`); the result's maps have the data's grid, NaN
    /// outside the box, and its provenance records the box as `crop`.
    pub crop: Option<Crop>,
}

impl InvertOptions {
    /// The defaults of `mre-sim invert --method <method>`.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            filter: Filter::Auto,
            curl: Curl::Auto,
            unwrap: Unwrap::Laplacian,
            bayes: BayesOptions::default(),
            checkpoint: None,
            figures: true,
            crop: None,
        }
    }

    /// The inversion of `[invert]` in a run config (the defaults for what it leaves out).
    pub fn from_config(c: &InvertConfig, figures: bool) -> Self {
        let mut o = Self::new(c.method);
        o.figures = figures;
        o.filter = c.filter;
        o.curl = c.curl;
        o.crop = c.crop;
        let b = &mut o.bayes;
        b.parameterization = c.parameterization;
        b.likelihood = c.likelihood.unwrap_or(b.likelihood);
        b.sampler = c.sampler.unwrap_or(b.sampler);
        b.smoothness = c.smoothness.unwrap_or(b.smoothness);
        b.prior_storage_pa = c.prior_storage_pa.unwrap_or(b.prior_storage_pa);
        b.prior_loss_pa = c.prior_loss_pa.unwrap_or(b.prior_loss_pa);
        b.prior_log_std = c.prior_log_std.unwrap_or(b.prior_log_std);
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
        b.model = c.model.unwrap_or(b.model);
        b.bulk_modulus = c.bulk_modulus.unwrap_or(b.bulk_modulus);
        o
    }

    /// Refuses options that cannot give a result, naming the option ([`BayesOptions::validate`]
    /// for the Bayesian inversion).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`].
    pub fn validate(&self) -> Result<()> {
        match self.method {
            Method::Bayes => self.bayes.validate(),
            _ => Ok(()),
        }
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

/// An error unless `out` is free to write (or `force`): anything at the path, also a dangling
/// symbolic link, is [`ErrorKind::OutputExists`] ([`outputs::check_free`]).
pub fn check_output(out: &Path, force: bool) -> Result<()> {
    outputs::check_free(&[Output::new(out, "output")], force)
}

/// Every file [`invert_file`] writes for `options` into `output`: the mre-result and (with
/// `options.figures`) its PNGs ([`figure_path`]).
pub fn result_outputs(output: &Path, options: &InvertOptions) -> Vec<Output> {
    let mut v = vec![Output::new(output, "mre-result")];
    if options.figures {
        let mut figures = vec![Figure::StorageModulus];
        if options.method == Method::Bayes {
            figures.push(Figure::StorageModulusStd);
        }
        figures.push(Figure::PhaseAngle);
        if options.method == Method::Bayes {
            figures.push(Figure::ResidualZ);
        }
        v.extend(figures.into_iter().map(|f| Output::new(figure_path(output, f), "figure")));
    }
    v
}

/// The PNG elastograms of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// G' (kPa): `<stem>-storage-modulus.png`.
    StorageModulus,
    /// Posterior std of G' (kPa, Bayesian inversion): `<stem>-storage-modulus-std.png`.
    StorageModulusStd,
    /// Phase angle arg G* (rad): `<stem>-phase-angle.png`.
    PhaseAngle,
    /// The model check's residual (Bayesian inversion): the local RMS of `/residual_z` over
    /// 5×5 voxels, the largest over frequencies and components: `<stem>-residual-z.png`.
    ResidualZ,
}

/// Where the figure `f` of the result `out` goes: beside it, named after its stem.
pub fn figure_path(out: &Path, f: Figure) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "result".into(), |s| s.to_string_lossy().into_owned());
    let suffix = match f {
        Figure::StorageModulus => "storage-modulus",
        Figure::StorageModulusStd => "storage-modulus-std",
        Figure::PhaseAngle => "phase-angle",
        Figure::ResidualZ => "residual-z",
    };
    out.with_file_name(format!("{stem}-{suffix}.png"))
}

/// The fewest voxels along the longest axis of the grid: the direct inversions' Laplacian is a
/// 5-point stencil (an axis is differentiated only when it has at least this many voxels), and
/// the wave model needs voxels inside the mask's boundary layer.
pub const MIN_STENCIL_VOXELS: usize = 5;

/// Refuses input that an inversion cannot turn into moduli (it would end with all-NaN maps or
/// the prior): a grid with fewer than [`MIN_STENCIL_VOXELS`] voxels along every axis,
/// non-finite wave values in the mask, and a frequency whose wave has no signal in the mask
/// (every component constant, e.g. all zero). A single constant component next to others with
/// signal is only a warning. (An empty mask is refused by [`WaveInput::from_data`].)
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] naming the data and the reason.
pub fn check_input(input: &WaveInput) -> Result<()> {
    let src = &input.source;
    let sh = input.mask.shape();
    if sh.iter().all(|&n| n < MIN_STENCIL_VOXELS) {
        return Err(PipelineError::invalid(format!(
            "{src}: grid {sh:?} is too small for the finite-difference stencil of the inversions: expected at least {MIN_STENCIL_VOXELS} voxels along at least one axis"
        )));
    }
    if !input.mask.iter().any(|&m| m) {
        return Err(PipelineError::invalid(format!("{src}: the mask selects no voxel; nothing to invert")));
    }
    let freqs = &input.data.frequencies_hz;
    let comps = &input.data.components;
    let comp = |c: usize| comps.chars().nth(c).map_or_else(|| c.to_string(), String::from);
    for (f, per_f) in input.wave.outer_iter().enumerate() {
        let hz = freqs.get(f).copied().unwrap_or(f64::NAN);
        let mut constant = Vec::new();
        for (c, u) in per_f.outer_iter().enumerate() {
            let mut values = u.iter().zip(&input.mask).filter(|(_, &m)| m).map(|(v, _)| *v);
            let first = values.next().unwrap_or_default();
            let mut varies = false;
            for v in std::iter::once(first).chain(values) {
                if !(v.re.is_finite() && v.im.is_finite()) {
                    return Err(PipelineError::invalid(format!(
                        "{src}: the wave ({}) at {hz} Hz, component {} has non-finite values in the mask",
                        input.level,
                        comp(c)
                    )));
                }
                varies |= v != first;
            }
            if !varies {
                constant.push((comp(c), first));
            }
        }
        if constant.len() == per_f.len_of(ndarray::Axis(0)) {
            let (_, value) = &constant[0];
            return Err(PipelineError::invalid(format!(
                "{src}: the wave ({}) at {hz} Hz has no signal in the mask: every component is constant ({value}); nothing to invert",
                input.level
            )));
        }
        for (c, value) in constant {
            tracing::warn!(data = %src, frequency_hz = hz, component = %c, %value, "a wave component is constant in the mask (no signal)");
        }
    }
    Ok(())
}

/// Invert `input` on the ranks of `comm`: the result on rank 0, `None` on the other ranks.
/// Direct methods run on rank 0 alone; the Bayesian inversion uses every rank (see
/// [`bayes::run`]) and checkpoints into `checkpoint` when given. Errors end every rank
/// together.
pub fn invert(input: &WaveInput, options: &InvertOptions, checkpoint: Option<&Path>, comm: &dyn Comm) -> Result<Option<MreResult>> {
    match &options.crop {
        Some(crop) => {
            let cropped = agree(comm, input.cropped(crop))?;
            invert_box(&cropped, crop, input.shape(), options, checkpoint, comm)
        }
        None => invert_whole(input, options, checkpoint, comm),
    }
}

/// [`invert_whole`] of `cropped`, the box `crop` of data on the grid `whole`, its maps put back
/// into that grid ([`embed`]).
fn invert_box(
    cropped: &WaveInput,
    crop: &Crop,
    whole: [usize; 3],
    options: &InvertOptions,
    checkpoint: Option<&Path>,
    comm: &dyn Comm,
) -> Result<Option<MreResult>> {
    info!(data = %cropped.source, %crop, shape = ?cropped.shape(), "cropped");
    Ok(invert_whole(cropped, options, checkpoint, comm)?.map(|r| embed(r, crop, whole)))
}

/// [`invert`] of every voxel of `input`.
fn invert_whole(input: &WaveInput, options: &InvertOptions, checkpoint: Option<&Path>, comm: &dyn Comm) -> Result<Option<MreResult>> {
    info!(data = %input.source, level = input.level, method = options.method.name(), ranks = comm.size(), "inverting");
    agree(comm, options.validate().and_then(|()| check_input(input)).and_then(|()| check_options_for(input, options)))?;
    match options.method {
        Method::Bayes => bayes::run(input, &options.bayes, checkpoint, comm),
        m => {
            let r = if comm.is_root() {
                classic::invert_classic(input, m, options.filter, options.curl).and_then(|r| finite(input, m, r)).map(Some)
            } else {
                Ok(None)
            };
            agree(comm, r)
        }
    }
}

/// The result `r` of the box `crop` in the grid `shape` of the whole data: every map NaN
/// outside the box, `crop` in the provenance.
fn embed(mut r: MreResult, crop: &Crop, shape: [usize; 3]) -> MreResult {
    for m in r.maps_mut() {
        *m = crop.embed(m, shape);
    }
    if let Some(z) = &mut r.residual_z {
        *z = crop.embed5(z, shape);
    }
    r.provenance.extra.push(("crop".into(), crop.to_string()));
    r
}

/// Refuses options that the data cannot satisfy (before anything is written): `--curl on` for
/// a direct inversion of data without a curl (one component, or components that do not enter
/// it; [`classic::curl_applies`]).
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] naming the option and the components.
pub fn check_options_for(input: &WaveInput, options: &InvertOptions) -> Result<()> {
    if options.method != Method::Bayes {
        classic::curl_applies(input, options.curl)?;
    }
    Ok(())
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
    let outs = result_outputs(output, options);
    agree(comm, options.validate().and_then(|()| if root { outputs::check_free(&outs, force) } else { Ok(()) }))?;
    if comm.size() > 1 && options.method != Method::Bayes {
        // Direct methods run on rank 0 alone.
        let r = if root { invert_file(data, output, options, force, &mre_solver::parallel::Serial, status) } else { Ok(None) };
        return agree(comm, r);
    }
    status.stage(&format!("{}: reading", data.display()));
    // The input to invert (the box when cropping) and the whole grid, checked before the work.
    let (input, whole) = agree(
        comm,
        WaveInput::read(data, options.unwrap).and_then(|i| {
            let whole = i.shape();
            let i = match &options.crop {
                Some(c) => i.cropped(c)?,
                None => i,
            };
            check_input(&i).and_then(|()| check_options_for(&i, options)).map(|()| (i, whole))
        }),
    )?;
    // Before the work: the directories exist (created) and accept the files.
    agree(comm, if root { outputs::prepare(&outs, force) } else { Ok(()) })?;
    status.stage(&format!("{}: {}", data.display(), stage_name(options.method)));
    let checkpoint = options.checkpoint_for(output);
    let result = match &options.crop {
        Some(crop) => invert_box(&input, crop, whole, options, Some(&checkpoint), comm)?,
        None => invert_whole(&input, options, Some(&checkpoint), comm)?,
    };
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
    let figures = if figures { write_figures(out, result, force)? } else { Vec::new() };
    Ok(Written { result: out.to_path_buf(), figures })
}

/// PNGs of G' (kPa) and the phase angle (rad) of the middle slice (of the slices with values:
/// a cropped result's box), and with a posterior the std of G' ([`figure_path`]); an existing
/// figure is replaced only with `force`.
pub fn write_figures(out: &Path, r: &MreResult, force: bool) -> Result<Vec<PathBuf>> {
    let with_values: Vec<usize> =
        r.storage_modulus_pa.outer_iter().enumerate().filter(|(_, s)| s.iter().any(|v| v.is_finite())).map(|(z, _)| z).collect();
    let z = match (with_values.first(), with_values.last()) {
        (Some(a), Some(b)) => (a + b).div_ceil(2),
        _ => r.storage_modulus_pa.len_of(Axis(0)) / 2,
    };
    let mut written = Vec::new();
    let mut emit = |f: Figure, title: String, map: ndarray::ArrayView2<f64>, unit: &str, range: Option<(f64, f64)>| -> Result<()> {
        let p = figure_path(out, f);
        let range = range.or_else(|| (!map.iter().any(|v| v.is_finite())).then_some((0.0, 1.0)));
        files::write_new(&p, force, |tmp| write_map_png(tmp, &title, map, unit, Colormap::Viridis, range)).map_err(|e| {
            let kind = if matches!(e, FigureError::Exists { .. }) { ErrorKind::OutputExists } else { ErrorKind::Failure };
            PipelineError::from_error(kind, &e)
        })?;
        written.push(p);
        Ok(())
    };
    let storage_kpa = r.storage_modulus_pa.index_axis(Axis(0), z).mapv(|v| v / 1000.0);
    emit(Figure::StorageModulus, format!("storage modulus G' (slice {z})"), storage_kpa.view(), "kPa", None)?;
    if let Some(std) = &r.storage_modulus_std_pa {
        let map = std.index_axis(Axis(0), z).mapv(|v| v / 1000.0);
        emit(Figure::StorageModulusStd, format!("posterior std of G' (slice {z})"), map.view(), "kPa", None)?;
    }
    if let Some(phi) = &r.phase_angle_rad {
        let map = phi.index_axis(Axis(0), z);
        emit(Figure::PhaseAngle, format!("phase angle arg G* (slice {z})"), map, "rad", Some((0.0, std::f64::consts::FRAC_PI_2)))?;
    }
    if let Some(rz) = &r.residual_z {
        let map = local_rms(rz, z);
        let hi = map.iter().copied().filter(|v| v.is_finite()).fold(3.0, f64::max);
        emit(Figure::ResidualZ, format!("model check: local RMS residual / noise (slice {z})"), map.view(), "|z|", Some((0.0, hi)))?;
    }
    Ok(written)
}

/// The local RMS of the standardised residual `rz` `[nf, ncomp, nz, ny, nx]` over 5×5 voxels
/// of slice `z` (finite values only), the largest over frequencies and components: about 1
/// where the model fits, larger where a systematic residual adds to the noise.
fn local_rms(rz: &ndarray::Array5<num_complex::Complex64>, z: usize) -> ndarray::Array2<f64> {
    let sh = rz.shape();
    let (ny, nx) = (sh[3], sh[4]);
    let mut out = ndarray::Array2::from_elem((ny, nx), f64::NAN);
    for per_f in rz.outer_iter() {
        for field in per_f.outer_iter() {
            let slice = field.index_axis(Axis(0), z);
            for y in 0..ny {
                for x in 0..nx {
                    if !slice[[y, x]].re.is_finite() {
                        continue;
                    }
                    let (mut s, mut n) = (0.0, 0usize);
                    for yy in y.saturating_sub(2)..(y + 3).min(ny) {
                        for xx in x.saturating_sub(2)..(x + 3).min(nx) {
                            let v = slice[[yy, xx]];
                            if v.re.is_finite() && v.im.is_finite() {
                                s += v.norm_sqr();
                                n += 1;
                            }
                        }
                    }
                    let rms = (s / n as f64).sqrt();
                    let o = &mut out[[y, x]];
                    *o = if o.is_nan() { rms } else { o.max(rms) };
                }
            }
        }
    }
    out
}

/// A direct inversion that gives no finite modulus anywhere in the mask is refused rather than
/// written as an all-NaN map.
fn finite(input: &WaveInput, m: Method, r: MreResult) -> Result<MreResult> {
    if r.storage_modulus_pa.iter().zip(&input.mask).any(|(g, &k)| k && g.is_finite()) {
        return Ok(r);
    }
    Err(PipelineError::invalid(format!(
        "{}: {} gives no finite modulus in any voxel of the mask (too few voxels with the whole {MIN_STENCIL_VOXELS}-point stencil inside the mask, or no signal)",
        input.source,
        m.name()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bayes::{DriveKind, LikelihoodKind, ModelErrorKind, Parameterization, SamplerKind};
    use mre_io::data::MreData;
    use ndarray::Array5;
    use num_complex::Complex64;

    fn input(wave: Array5<Complex64>) -> Result<WaveInput> {
        let n = wave.shape()[0];
        let data = MreData {
            frequencies_hz: (0..n).map(|f| 60.0 + 30.0 * f as f64).collect(),
            voxel_size_m: [2e-3; 3],
            density_kg_m3: 1000.0,
            components: "z".into(),
            encoding_efficiency_rad_per_m: vec![0.0; n],
            encoding_phase_rad: vec![0.0; n],
            wave: Some(wave),
            ..MreData::default()
        };
        WaveInput::from_data("memory".into(), data, Unwrap::Laplacian)
    }

    #[test]
    fn every_invert_key_of_a_config_reaches_the_options() {
        let text = r#"
            method = "bayes"
            filter = "gaussian"
            parameterization = "field"
            likelihood = "images"
            sampler = "nuts"
            chains = 3
            tune = 20
            draws = 30
            seed = 9
            field_spacing = 4
            smoothness = 0.3
            prior_storage_pa = 2500.0
            prior_loss_pa = 400.0
            prior_log_std = 1.5
            drive = "actuator"
            drive_faces = ["y+"]
            model_error = "none"
        "#;
        let c: InvertConfig = toml::from_str(text).unwrap();
        let o = InvertOptions::from_config(&c, false);
        let b = &o.bayes;
        assert_eq!((o.method, o.filter, o.figures), (Method::Bayes, Filter::Gaussian, false));
        assert_eq!(
            (b.parameterization, b.likelihood, b.sampler),
            (Some(Parameterization::Field), LikelihoodKind::Images, SamplerKind::Nuts)
        );
        assert_eq!((b.chains, b.tune, b.draws, b.seed, b.field_spacing), (3, 20, 30, 9, Some(4)));
        assert_eq!((b.smoothness, b.prior_storage_pa, b.prior_loss_pa, b.prior_log_std), (0.3, 2500.0, 400.0, 1.5));
        assert_eq!((b.drive, b.drive_faces.clone(), b.model_error), (DriveKind::Actuator, vec!["y+".to_string()], ModelErrorKind::None));
        // Keys left out keep the command line's defaults.
        let c: InvertConfig = toml::from_str("method = \"bayes\"").unwrap();
        assert_eq!(InvertOptions::from_config(&c, true).bayes, BayesOptions::default());
    }

    #[test]
    fn the_library_refuses_meaningless_input_for_every_method() {
        let ramp = |(f, _, _, y, x): (usize, usize, usize, usize, usize)| Complex64::new((x * y + f) as f64 * 1e-7, 1e-7);
        let cases = [
            (Array5::zeros((1, 1, 1, 16, 16)), "no signal in the mask"),
            // One frequency with signal, one without: refused, naming that frequency.
            (
                Array5::from_shape_fn((2, 1, 1, 16, 16), |i| if i.0 == 1 { Complex64::new(0.0, 0.0) } else { ramp(i) }),
                "at 90 Hz has no signal",
            ),
            (Array5::from_elem((1, 1, 1, 1, 1), Complex64::new(1.0, 0.0)), "too small"),
            (Array5::from_shape_fn((1, 1, 1, 16, 16), |i| if i.4 == 3 { Complex64::new(f64::NAN, 0.0) } else { ramp(i) }), "non-finite"),
        ];
        for (wave, reason) in cases {
            let input = input(wave).unwrap();
            for method in [Method::Ahi, Method::Mdev, Method::Bayes] {
                let e = invert(&input, &InvertOptions::new(method), None, &mre_solver::parallel::Serial).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{method}: {e}");
                assert!(e.to_string().contains(reason) && e.to_string().starts_with("memory: "), "{method}: {e}");
            }
        }
        // Options that give no posterior are refused by the library too.
        let good = input(Array5::from_shape_fn((1, 1, 1, 16, 16), ramp)).unwrap();
        let mut o = InvertOptions::new(Method::Bayes);
        o.bayes.chains = 0;
        let e = invert(&good, &o, None, &mre_solver::parallel::Serial).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidInput && e.to_string().contains("--chains 0"), "{e}");
    }

    #[test]
    fn the_outputs_of_an_inversion_are_listed_before_it_runs() {
        let out = Path::new("dir/r.h5");
        let names = |o: &InvertOptions| result_outputs(out, o).into_iter().map(|o| o.path).collect::<Vec<_>>();
        assert_eq!(
            names(&InvertOptions::new(Method::Ahi)),
            [out, Path::new("dir/r-storage-modulus.png"), Path::new("dir/r-phase-angle.png")]
        );
        assert_eq!(names(&InvertOptions::new(Method::Bayes)).len(), 5);
        assert!(names(&InvertOptions::new(Method::Bayes)).contains(&PathBuf::from("dir/r-residual-z.png")));
        let mut o = InvertOptions::new(Method::Mdev);
        o.figures = false;
        assert_eq!(names(&o), [out]);
    }
}
