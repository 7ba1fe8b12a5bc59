//! `mre-sim invert DATA.h5 --method ahi|mdev`: classic (direct) inversion of
//! an mre-data file into an mre-result file plus PNG elastograms.
//!
//! Data levels: `/wave` is used directly; otherwise `/phase` (unwrapped per
//! offset, first harmonic over the offsets divided by ξ), `/images` (their
//! phase) or `/kspace` (centred inverse FFT; with `/kspace_negative` the
//! phase difference of the two MEG polarities removes the background phase;
//! coils are combined by the phase difference to the first offset).
//!
//! The numerics are behind [`reconstruct`], the one function to point at
//! `mre_solver::classic` when it lands.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use mre_io::data::MreData;
use mre_io::figures::{write_map_png, Colormap};
use mre_io::hdf5::{read_mre_data, write_mre_result, H5Error, MreResult, RegionSummary, ResultProvenance};
use mre_solver::classic::{self, Elastogram};
use mre_solver::recon::{centred_ifft, first_harmonic, unwrap_least_squares};
use ndarray::{s, Array3, Array5, Array6, Axis, Zip};
use num_complex::Complex64;
use rayon::prelude::*;
use tracing::info;

use mre_solver::parallel::Comm;

use crate::run::agree;
use crate::{exit, CliError};

/// Inversion method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Algebraic Helmholtz inversion, voxel by voxel, averaged over frequencies and components.
    Ahi,
    /// Multifrequency dual elasto-visco inversion.
    Mdev,
    /// Bayesian inversion against the wave-equation forward model (mre-inverse): posterior
    /// mean, standard deviation and 90 % intervals, with draws and diagnostics.
    Bayes,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Ahi => "ahi",
            Method::Mdev => "mdev",
            Method::Bayes => "bayes",
        }
    }
}

/// Spatial filter applied to the complex wave field before inversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Filter {
    /// No filtering.
    None,
    /// Gaussian smoothing, σ = 1 voxel, inside the mask (normalised convolution).
    Gaussian,
    /// Butterworth low-pass in k-space, order 4, cut-off 1/(6 voxels) cycles per metre
    /// (`mre_solver::classic::filter_wave`; mirror-extended at the grid edges).
    Butterworth,
}

impl Filter {
    fn name(self) -> &'static str {
        match self {
            Filter::None => "none",
            Filter::Gaussian => "gaussian",
            Filter::Butterworth => "butterworth",
        }
    }
}

/// Arguments of `mre-sim invert`.
#[derive(Debug, Args, Clone)]
pub struct InvertArgs {
    /// Input mre-data file (HDF5).
    data: PathBuf,
    /// Inversion method.
    #[arg(long, value_enum)]
    method: Method,
    /// Output mre-result file (default: `<data stem>-<method>.h5` beside the input).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
    /// Filter applied to the wave field before inversion.
    #[arg(long, value_enum, default_value_t = Filter::None)]
    filter: Filter,
    /// Do not write PNG elastograms.
    #[arg(long)]
    no_figures: bool,
    /// Phase unwrapping for `/phase`, `/images` and `/kspace` data.
    #[arg(long, value_enum, default_value_t = Unwrap::Laplacian)]
    unwrap: Unwrap,
    /// Options of `--method bayes`.
    #[command(flatten)]
    bayes: crate::bayes::BayesArgs,
}

/// Phase unwrapping method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Unwrap {
    /// Laplacian-based on the whole grid (`∇²φ = Im(e^{−iφ}∇²e^{iφ})`, DCT Poisson solve).
    Laplacian,
    /// Weighted least squares inside `/mask` only (DCT-preconditioned conjugate gradients):
    /// for data with noise or wraps outside the tissue.
    Masked,
}

impl InvertArgs {
    /// The inversion of `[invert]` in a run config, applied to the run's output `data`.
    pub fn from_config(data: PathBuf, c: &mre_io::config::InvertConfig, force: bool, figures: bool) -> Self {
        use crate::bayes::{DriveKind, LikelihoodKind, Parameterization};
        use mre_io::config::{InvertDrive, InvertFilter, InvertLikelihood, InvertMethod, InvertParameterization};
        let method = match c.method {
            InvertMethod::Ahi => Method::Ahi,
            InvertMethod::Mdev => Method::Mdev,
            InvertMethod::Bayes => Method::Bayes,
        };
        let filter = match c.filter {
            InvertFilter::None => Filter::None,
            InvertFilter::Gaussian => Filter::Gaussian,
            InvertFilter::Butterworth => Filter::Butterworth,
        };
        let mut bayes = crate::bayes::BayesArgs::default();
        bayes.parameterization = c.parameterization.map(|p| match p {
            InvertParameterization::Regions => Parameterization::Regions,
            InvertParameterization::Field => Parameterization::Field,
        });
        if let Some(l) = c.likelihood {
            bayes.likelihood = match l {
                InvertLikelihood::Wave => LikelihoodKind::Wave,
                InvertLikelihood::Images => LikelihoodKind::Images,
            };
        }
        bayes.chains = c.chains.unwrap_or(bayes.chains);
        bayes.tune = c.tune.unwrap_or(bayes.tune);
        bayes.draws = c.draws.unwrap_or(bayes.draws);
        bayes.seed = c.seed.unwrap_or(bayes.seed);
        bayes.field_spacing = c.field_spacing.or(bayes.field_spacing);
        if let Some(d) = c.drive {
            bayes.drive = match d {
                InvertDrive::Boundary => DriveKind::Boundary,
                InvertDrive::Actuator => DriveKind::Actuator,
            };
        }
        if let Some(faces) = &c.drive_faces {
            bayes.drive_faces = faces.clone();
        }
        if let Some(m) = c.model_error {
            bayes.model_error = match m {
                mre_io::config::InvertModelError::Auto => crate::bayes::ModelErrorKind::Auto,
                mre_io::config::InvertModelError::None => crate::bayes::ModelErrorKind::None,
            };
        }
        Self { data, method, output: c.output.clone(), force, filter, no_figures: !figures, unwrap: Unwrap::Laplacian, bayes }
    }

    /// Where the result goes.
    pub fn output_path(&self) -> PathBuf {
        output_path(self)
    }
}

fn invalid(e: impl Into<anyhow::Error>) -> CliError {
    CliError::new(exit::INVALID_INPUT, e.into())
}

/// Default output path: `<data stem>-<method>.h5` beside the input.
fn output_path(args: &InvertArgs) -> PathBuf {
    if let Some(o) = &args.output {
        return o.clone();
    }
    let stem = args.data.file_stem().map_or_else(|| "data".into(), |s| s.to_string_lossy().into_owned());
    args.data.with_file_name(format!("{stem}-{}.h5", args.method.name()))
}

/// Runs `mre-sim invert` on the ranks of `comm`. Classic methods run on rank 0 alone; the
/// Bayesian inversion uses every rank (see [`crate::bayes::run`]). Only rank 0 writes and
/// prints; errors end every rank with the same exit code.
pub fn invert(args: &InvertArgs, quiet: bool, comm: &dyn Comm) -> Result<(), CliError> {
    let root = comm.is_root();
    if args.method != Method::Bayes {
        let r = if root { invert_classic(args, quiet) } else { Ok(()) };
        return agree(comm, r);
    }
    let start = Instant::now();
    let spinner = spinner(quiet || !root);
    let out = output_path(args);
    agree(comm, if root { refuse_existing(&out, args.force) } else { Ok(()) })?;
    let (data, mask, wave, level) = agree(comm, read_wave(args, &spinner))?;
    info!(data = %args.data.display(), level, method = args.method.name(), ranks = comm.size(), "inverting");
    spinner.set_message(format!("{}: Bayesian inversion", args.data.display()));
    let run = crate::bayes::BayesRun { data_path: &args.data, data: &data, mask: &mask, wave, output: &out, args: &args.bayes };
    let result = crate::bayes::run(run, comm);
    spinner.finish_and_clear();
    // Stage errors are already shared by every rank; one of rank 0 alone (writing) is shared here.
    let written = result.and_then(|r| match r {
        Some(result) => finish(args, &out, &result).and_then(|()| {
            let ckpt = args.bayes.checkpoint.clone().unwrap_or_else(|| crate::bayes::checkpoint_dir(&out));
            if ckpt.exists() {
                std::fs::remove_dir_all(&ckpt).map_err(|e| CliError::new(exit::FAILURE, anyhow!("removing {}: {e}", ckpt.display())))?;
            }
            info!(seconds = start.elapsed().as_secs_f64(), "Bayesian inversion done");
            Ok(())
        }),
        None => Ok(()),
    });
    agree(comm, written)
}

/// A spinner on a terminal (stderr), hidden otherwise and with -q; the steps are too uneven
/// (unwrapping, filtering, inversion) for a meaningful percentage.
fn spinner(hidden: bool) -> indicatif::ProgressBar {
    let spinner = if hidden { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new_spinner() };
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

fn refuse_existing(out: &Path, force: bool) -> Result<(), CliError> {
    if out.exists() && !force {
        return Err(CliError::new(
            exit::OUTPUT_EXISTS,
            anyhow!("{} exists; use --force to overwrite it or --output to write elsewhere", out.display()),
        ));
    }
    Ok(())
}

/// The data, its mask, the first-harmonic wave field and the name of the data level used.
fn read_wave(
    args: &InvertArgs,
    spinner: &indicatif::ProgressBar,
) -> Result<(MreData, Array3<bool>, Array5<Complex64>, &'static str), CliError> {
    spinner.set_message(format!("{}: reading", args.data.display()));
    let data = read_mre_data(&args.data).map_err(invalid)?;
    let mask = data.mask.as_ref().map_or_else(|| Array3::from_elem(spatial_shape(&data), true), |m| m.mapv(|v| v != 0));
    if !mask.iter().any(|&m| m) {
        return Err(invalid(anyhow!("{}: dataset /mask selects no voxel; nothing to invert", args.data.display())));
    }
    spinner.set_message(format!("{}: wave field", args.data.display()));
    let (wave, level) = wave_field(&args.data, &data, &mask, args.unwrap)?;
    Ok((data, mask, wave, level))
}

/// AHI or MDEV on this process.
fn invert_classic(args: &InvertArgs, quiet: bool) -> Result<(), CliError> {
    let start = Instant::now();
    let spinner = spinner(quiet);
    let out = output_path(args);
    refuse_existing(&out, args.force)?;
    let (data, mask, wave, level) = read_wave(args, &spinner)?;
    info!(data = %args.data.display(), level, method = args.method.name(), "inverting");
    let wave = filter_wave(&wave, &mask, data.voxel_size_m, args.filter)?;
    spinner.set_message(format!("{}: {}", args.data.display(), args.method.name()));
    let e = reconstruct(args.method, &wave, &mask, &data)?;
    spinner.finish_and_clear();
    let labels = data.labels.clone().unwrap_or_else(|| mask.mapv(u16::from));
    let regions = region_summaries(&e, &labels);
    let result = MreResult {
        storage_modulus_pa: e.storage_modulus_pa,
        loss_modulus_pa: e.loss_modulus_pa,
        abs_modulus_pa: Some(e.abs_modulus_pa),
        phase_angle_rad: Some(e.phase_angle_rad),
        regions,
        provenance: ResultProvenance {
            tool: "mre-sim".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            method: args.method.name().into(),
            iterations: 0,
            wall_time_s: start.elapsed().as_secs_f64(),
            source_data: args.data.display().to_string(),
            created: String::new(),
            extra: vec![("filter".into(), args.filter.name().into()), ("data_level".into(), level.into())],
        },
        ..MreResult::default()
    };
    finish(args, &out, &result)
}

/// Write the result, print the region rows and write the figures.
fn finish(args: &InvertArgs, out: &Path, result: &MreResult) -> Result<(), CliError> {
    write_mre_result(out, result, args.force).map_err(|e| match e {
        H5Error::Exists { .. } => CliError::new(exit::OUTPUT_EXISTS, anyhow!(e)),
        e => CliError::new(exit::FAILURE, anyhow!(e)),
    })?;
    println!("wrote {}", out.display());
    for r in &result.regions {
        println!(
            "region {}: G' = {:.0} Pa (5–95 %: {:.0}–{:.0}), G'' = {:.0} Pa",
            r.label, r.storage_mean_pa, r.storage_q05_pa, r.storage_q95_pa, r.loss_mean_pa
        );
    }
    if !args.no_figures {
        for f in write_figures(out, result)? {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}

fn spatial_shape(d: &MreData) -> (usize, usize, usize) {
    let sh: &[usize] = if let Some(w) = &d.wave {
        w.shape()
    } else if let Some(p) = &d.phase {
        p.shape()
    } else if let Some(i) = &d.images {
        i.shape()
    } else if let Some(k) = &d.kspace {
        k.shape()
    } else {
        &[1, 1, 1]
    };
    let n = sh.len();
    (sh[n - 3], sh[n - 2], sh[n - 1])
}

/// The first-harmonic complex displacement `[nf, ncomp, nz, ny, nx]` from
/// the highest-level data present, and the name of the level used.
fn wave_field(path: &Path, d: &MreData, mask: &Array3<bool>, unwrap: Unwrap) -> Result<(Array5<Complex64>, &'static str), CliError> {
    if let Some(w) = &d.wave {
        return Ok((w.clone(), "/wave"));
    }
    let xi: Vec<Complex64> =
        d.encoding_efficiency_rad_per_m.iter().zip(&d.encoding_phase_rad).map(|(&m, &a)| Complex64::from_polar(m, a)).collect();
    if let Some(x) = xi.iter().find(|x| x.norm() == 0.0) {
        return Err(invalid(anyhow!(
            "{}: attribute encoding_efficiency_rad_per_m of /acquisition contains {}; a non-zero value per frequency is needed to convert phase to displacement",
            path.display(),
            x.norm()
        )));
    }
    if let Some(p) = &d.phase {
        return Ok((phase_to_wave(p, mask, &xi, unwrap), "/phase"));
    }
    if let Some(i) = &d.images {
        return Ok((phase_to_wave(&i.mapv(|c| c.arg()), mask, &xi, unwrap), "/images"));
    }
    if let Some(k) = &d.kspace {
        let images = kspace_to_images(k, d.kspace_negative.as_ref());
        return Ok((phase_to_wave(&images.mapv(|c| c.arg()), mask, &xi, unwrap), "/kspace"));
    }
    Err(invalid(anyhow!("{}: no /wave, /phase, /images or /kspace to invert", path.display())))
}

/// Unwraps every offset and takes the first harmonic over the offsets, / ξ.
fn phase_to_wave(phase: &Array6<f64>, mask: &Array3<bool>, xi: &[Complex64], unwrap: Unwrap) -> Array5<Complex64> {
    let (nf, nc, noff, nz, ny, nx) = phase.dim();
    let mut wave = Array5::zeros((nf, nc, nz, ny, nx));
    for (f, &xi_f) in xi.iter().enumerate().take(nf) {
        for c in 0..nc {
            let unwrapped: Vec<Array3<f64>> = (0..noff)
                .into_par_iter()
                .map(|k| {
                    let p = phase.slice(s![f, c, k, .., .., ..]).to_owned();
                    match unwrap {
                        Unwrap::Laplacian => classic::laplacian_unwrap(&p),
                        Unwrap::Masked => unwrap_least_squares(&p, mask),
                    }
                })
                .collect();
            let mut samples = vec![0.0; noff];
            for ((z, y, x), w) in wave.slice_mut(s![f, c, .., .., ..]).indexed_iter_mut() {
                if !mask[[z, y, x]] {
                    continue;
                }
                for (sample, u) in samples.iter_mut().zip(&unwrapped) {
                    *sample = u[[z, y, x]];
                }
                *w = first_harmonic(&samples) / xi_f;
            }
        }
    }
    wave
}

/// Complex images `[nf, ncomp, noffsets, nz, ny, nx]` from k-space
/// `[nf, ncomp, noffsets, ncoils, nz, ny, nx]`: per coil the positive image
/// times the conjugate phase of the negative-polarity image (or, without it
/// and with several coils, of the coil's first-offset image), summed over
/// coils. A per-voxel constant phase does not change the first harmonic.
fn kspace_to_images(k: &ndarray::ArrayD<Complex64>, neg: Option<&ndarray::ArrayD<Complex64>>) -> Array6<Complex64> {
    let sh = k.shape();
    let (nf, nc, noff, ncoils, nz, ny, nx) = (sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], sh[6]);
    let mut images = Array6::zeros((nf, nc, noff, nz, ny, nx));
    let ifft = |a: &ndarray::ArrayD<Complex64>, idx: [usize; 4]| {
        let v = a.slice(s![idx[0], idx[1], idx[2], idx[3], .., .., ..]).to_owned();
        centred_ifft(&v)
    };
    let unit_conj = |c: &Complex64| if c.norm() > 0.0 { c.conj() / c.norm() } else { Complex64::new(0.0, 0.0) };
    for f in 0..nf {
        for c in 0..nc {
            for coil in 0..ncoils {
                let reference = match neg {
                    None if ncoils > 1 => Some(ifft(k, [f, c, 0, coil]).mapv(|v| unit_conj(&v))),
                    _ => None,
                };
                for off in 0..noff {
                    let pos = ifft(k, [f, c, off, coil]);
                    let img = match (neg, &reference) {
                        (Some(n), _) => Zip::from(&pos).and(&ifft(n, [f, c, off, coil])).map_collect(|a, b| a * unit_conj(b)),
                        (None, Some(r)) => &pos * r,
                        (None, None) => pos,
                    };
                    let mut dst = images.slice_mut(s![f, c, off, .., .., ..]);
                    dst += &img;
                }
            }
        }
    }
    images
}

/// Applies `filter` to every frequency and component of `wave`.
fn filter_wave(
    wave: &Array5<Complex64>,
    mask: &Array3<bool>,
    voxel_size_m: [f64; 3],
    filter: Filter,
) -> Result<Array5<Complex64>, CliError> {
    match filter {
        Filter::None => Ok(wave.clone()),
        Filter::Gaussian => {
            let mut out = wave.clone();
            for mut w in out.outer_iter_mut() {
                for mut u in w.outer_iter_mut() {
                    let smoothed = gaussian_in_mask(&u.to_owned(), mask, 1.0);
                    u.assign(&smoothed);
                }
            }
            Ok(out)
        }
        Filter::Butterworth => {
            let h = wave_voxel_min(mask, voxel_size_m);
            let f = classic::Filter::Butterworth { cutoff_per_m: 1.0 / (6.0 * h), order: 4 };
            let mut out = wave.clone();
            for mut w in out.outer_iter_mut() {
                for mut u in w.outer_iter_mut() {
                    let filtered = classic::filter_wave(&u.to_owned(), voxel_size_m, &f).map_err(invalid)?;
                    u.assign(&filtered);
                }
            }
            Ok(out)
        }
    }
}

/// The smallest voxel size along the axes with more than one voxel, m.
fn wave_voxel_min(mask: &Array3<bool>, voxel_size_m: [f64; 3]) -> f64 {
    (0..3).filter(|&a| mask.shape()[a] > 1).map(|a| voxel_size_m[a]).fold(f64::INFINITY, f64::min)
}

/// Separable Gaussian smoothing (σ in voxels) inside the mask: each 1-D pass
/// is a convolution normalised by the weights of the in-mask neighbours.
/// Axes of length 1 are left alone.
fn gaussian_in_mask(u: &Array3<Complex64>, mask: &Array3<bool>, sigma: f64) -> Array3<Complex64> {
    let radius = (3.0 * sigma).ceil() as i64;
    let weights: Vec<f64> = (-radius..=radius).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let mut cur = u.clone();
    for ax in 0..3 {
        let n = cur.len_of(Axis(ax)) as i64;
        if n == 1 {
            continue;
        }
        let prev = cur.clone();
        for ((z, y, x), v) in cur.indexed_iter_mut() {
            if !mask[[z, y, x]] {
                continue;
            }
            let idx = [z, y, x];
            let (mut acc, mut wsum) = (Complex64::new(0.0, 0.0), 0.0);
            for (d, w) in (-radius..=radius).zip(&weights) {
                let j = idx[ax] as i64 + d;
                if !(0..n).contains(&j) {
                    continue;
                }
                let mut nb = idx;
                nb[ax] = j as usize;
                if mask[nb] {
                    acc += prev[nb] * *w;
                    wsum += w;
                }
            }
            *v = acc / wsum;
        }
    }
    cur
}

/// The inversion (`mre_solver::classic`): AHI per frequency, averaged over the frequencies
/// (each frequency's components combined by `classic::ahi`), or MDEV over all of them.
fn reconstruct(method: Method, wave: &Array5<Complex64>, mask: &Array3<bool>, d: &MreData) -> Result<Elastogram, CliError> {
    let omega = |f: f64| 2.0 * std::f64::consts::PI * f;
    match method {
        Method::Bayes => Err(CliError::new(exit::FAILURE, anyhow!("the Bayesian inversion is not a direct reconstruction"))),
        Method::Ahi => {
            let per_freq = d
                .frequencies_hz
                .iter()
                .zip(wave.outer_iter())
                .map(|(&f, w)| classic::ahi(w, mask, d.voxel_size_m, omega(f), d.density_kg_m3))
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            Ok(mean_over_frequencies(&per_freq))
        }
        Method::Mdev => {
            let waves: Vec<(f64, _)> = d.frequencies_hz.iter().zip(wave.outer_iter()).map(|(&f, w)| (omega(f), w)).collect();
            classic::mdev(&waves, mask, d.voxel_size_m, d.density_kg_m3).map_err(invalid)
        }
    }
}

/// Voxel-wise mean of the complex moduli of several elastograms over the finite ones.
fn mean_over_frequencies(maps: &[Elastogram]) -> Elastogram {
    let sh = maps[0].storage_modulus_pa.raw_dim();
    let mut sum = Array3::<Complex64>::zeros(sh);
    let mut count = Array3::<f64>::zeros(sh);
    for m in maps {
        Zip::from(&mut sum).and(&mut count).and(&m.storage_modulus_pa).and(&m.loss_modulus_pa).for_each(|s, c, &g1, &g2| {
            if g1.is_finite() && g2.is_finite() {
                *s += Complex64::new(g1, g2);
                *c += 1.0;
            }
        });
    }
    let g = Zip::from(&sum).and(&count).map_collect(|s, &c| if c > 0.0 { s / c } else { Complex64::new(f64::NAN, f64::NAN) });
    Elastogram {
        storage_modulus_pa: g.mapv(|c| c.re),
        loss_modulus_pa: g.mapv(|c| c.im),
        abs_modulus_pa: g.mapv(|c| c.norm()),
        phase_angle_rad: g.mapv(|c| c.im.atan2(c.re)),
    }
}

/// Mean, standard deviation and 5/95 % quantiles of the finite values.
fn stats(mut v: Vec<f64>) -> [f64; 4] {
    if v.is_empty() {
        return [f64::NAN; 4];
    }
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let q = |p: f64| {
        let pos = p * (n - 1.0);
        let (i, frac) = (pos.floor() as usize, pos.fract());
        v[i] + (v[(i + 1).min(v.len() - 1)] - v[i]) * frac
    };
    [mean, std, q(0.05), q(0.95)]
}

/// One row per non-zero label with a finite estimate; spatial statistics
/// (rhat and ess are NaN for classic methods).
fn region_summaries(e: &Elastogram, labels: &Array3<u16>) -> Vec<RegionSummary> {
    let mut ids: Vec<u16> = labels.iter().copied().filter(|&l| l != 0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|label| {
            let pick = |m: &Array3<f64>| -> Vec<f64> {
                Zip::from(labels).and(m).fold(Vec::new(), |mut acc, &l, &v| {
                    if l == label && v.is_finite() {
                        acc.push(v);
                    }
                    acc
                })
            };
            let g1 = pick(&e.storage_modulus_pa);
            if g1.is_empty() {
                return None;
            }
            let [storage_mean_pa, storage_std_pa, storage_q05_pa, storage_q95_pa] = stats(g1);
            let [loss_mean_pa, loss_std_pa, loss_q05_pa, loss_q95_pa] = stats(pick(&e.loss_modulus_pa));
            Some(RegionSummary {
                label,
                storage_mean_pa,
                storage_std_pa,
                storage_q05_pa,
                storage_q95_pa,
                loss_mean_pa,
                loss_std_pa,
                loss_q05_pa,
                loss_q95_pa,
                rhat: f64::NAN,
                ess: f64::NAN,
            })
        })
        .collect()
}

/// PNGs of G' (kPa) and the phase angle (rad) of the middle slice, named
/// `<result stem>-storage-modulus.png` and `<result stem>-phase-angle.png`.
fn write_figures(out: &Path, r: &MreResult) -> Result<Vec<PathBuf>, CliError> {
    let stem = out.file_stem().map_or_else(|| "result".into(), |s| s.to_string_lossy().into_owned());
    let z = r.storage_modulus_pa.len_of(Axis(0)) / 2;
    let storage_kpa = r.storage_modulus_pa.index_axis(Axis(0), z).mapv(|v| v / 1000.0);
    let mut written = Vec::new();
    let p = out.with_file_name(format!("{stem}-storage-modulus.png"));
    let finite = storage_kpa.iter().any(|v| v.is_finite());
    let range = if finite { None } else { Some((0.0, 1.0)) };
    write_map_png(&p, &format!("storage modulus G' (slice {z})"), storage_kpa.view(), "kPa", Colormap::Viridis, range)
        .map_err(|e| anyhow!(e))?;
    written.push(p);
    if let Some(std) = &r.storage_modulus_std_pa {
        let p = out.with_file_name(format!("{stem}-storage-modulus-std.png"));
        let map = std.index_axis(Axis(0), z).mapv(|v| v / 1000.0);
        let range = if map.iter().any(|v| v.is_finite()) { None } else { Some((0.0, 1.0)) };
        write_map_png(&p, &format!("posterior std of G' (slice {z})"), map.view(), "kPa", Colormap::Viridis, range)
            .map_err(|e| anyhow!(e))?;
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
        .map_err(|e| anyhow!(e))?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ahi_recovers_a_plane_wave_modulus() {
        let (g, rho, f, h) = (Complex64::new(3000.0, 300.0), 1000.0, 60.0, 0.0015);
        let omega = 2.0 * std::f64::consts::PI * f;
        let k = omega * (rho / g).sqrt();
        let wave = Array5::from_shape_fn((1, 1, 1, 40, 40), |(_, _, _, y, x)| {
            let r = 0.6 * y as f64 * h + 0.8 * x as f64 * h;
            (Complex64::i() * k * r).exp() * 1e-5
        });
        let mask = Array3::from_elem((1, 40, 40), true);
        let e = mean_over_frequencies(&[classic::ahi(wave.index_axis(Axis(0), 0), &mask, [0.005, h, h], omega, rho).unwrap()]);
        let v = e.storage_modulus_pa[[0, 20, 20]];
        assert!((v - 3000.0).abs() < 30.0, "{v}");
        assert!(e.storage_modulus_pa[[0, 0, 0]].is_nan());
        let regions = region_summaries(&e, &mask.mapv(u16::from));
        assert_eq!(regions.len(), 1);
        assert!((regions[0].storage_mean_pa - 3000.0).abs() < 30.0, "{:?}", regions[0]);
        assert!((regions[0].loss_mean_pa - 300.0).abs() < 30.0, "{:?}", regions[0]);
    }

    #[test]
    fn gaussian_keeps_a_constant_field() {
        let u = Array3::from_elem((1, 8, 8), Complex64::new(1.0, -2.0));
        let mut mask = Array3::from_elem((1, 8, 8), true);
        mask[[0, 0, 0]] = false;
        let out = gaussian_in_mask(&u, &mask, 1.0);
        assert!(out.iter().all(|c| (c - Complex64::new(1.0, -2.0)).norm() < 1e-12));
    }

    #[test]
    fn quantiles_interpolate() {
        let [mean, _, q05, q95] = stats((0..=100).map(f64::from).collect());
        assert_eq!(mean, 50.0);
        assert!((q05 - 5.0).abs() < 1e-12 && (q95 - 95.0).abs() < 1e-12);
    }
}
