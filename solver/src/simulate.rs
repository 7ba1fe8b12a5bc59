//! The simulation driver: one MRE experiment per (frequency, MEG axis), each a
//! full acquisition (all phase offsets and polarities) run on every isochromat,
//! then reconstruction to images, phase and the complex wave field.

use ndarray::{s, Array3, Array5, Array6, ArrayD, IxDyn};
use num_complex::Complex64;
use tracing::{info, info_span};

use crate::bloch::{self, Isochromats, Precision};
use crate::error::{Result, SolverError};
use crate::model::motion::Displacement;
use crate::model::phantom::{Grid, Phantom};
use crate::model::scanner::Scanner;
use crate::parallel::{Comm, Partition, Serial};
use crate::plan::{Integration, SequencePlan};
use crate::recon::{centred_ifft, equivalent_encoding, harmonic_in_mask, unwrap_offsets, HarmonicFit, Unwrap};
use crate::sequence::{MreSequence, Polarities};

/// Which Bloch kernel runs the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelChoice {
    /// The optimised structure-of-arrays kernel.
    Fast(Precision),
    /// The plain f64 reference kernel (slow; for checks).
    Reference,
}

/// Options of a simulation run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulationOptions {
    /// How the sequence is cut into steps.
    pub integration: Integration,
    /// Which kernel.
    pub kernel: KernelChoice,
    /// Unwrap phase images spatially before the temporal FFT.
    pub unwrap: bool,
}

impl Default for SimulationOptions {
    fn default() -> Self {
        Self { integration: Integration::Events, kernel: KernelChoice::Fast(Precision::F32), unwrap: true }
    }
}

/// One MRE experiment: a phantom moving harmonically at one or more
/// frequencies, encoded along one or more axes by an MRE acquisition (the
/// built-in GRE-MRE or an imported sequence).
pub struct Experiment<'a> {
    /// The phantom.
    pub phantom: &'a Phantom,
    /// Vibration frequencies, Hz.
    pub frequencies_hz: Vec<f64>,
    /// Displacement amplitude field per frequency (same length as `frequencies_hz`).
    pub motion: Vec<&'a dyn Displacement>,
    /// The acquisition: its components are encoded one experiment each.
    pub sequence: &'a dyn MreSequence,
    /// Scanner limits.
    pub scanner: Scanner,
}

/// Everything a simulation produces, shaped as the mre-data format wants.
#[derive(Debug, Clone)]
pub struct SimulationOutput {
    /// Image grid (acquisition matrix and voxel size).
    pub image_grid: Grid,
    /// k-space of the + polarity `[nf, ncomp, noffsets, 1, nz, ny, nx]`.
    pub kspace: ArrayD<Complex64>,
    /// k-space of the − polarity (when acquired).
    pub kspace_negative: Option<ArrayD<Complex64>>,
    /// Background-corrected complex images `[nf, ncomp, noffsets, nz, ny, nx]`.
    pub images: Array6<Complex64>,
    /// Wrapped motion phase `[nf, ncomp, noffsets, nz, ny, nx]`, rad.
    pub phase: Array6<f64>,
    /// First-harmonic displacement `[nf, ncomp, nz, ny, nx]`, m (0 outside the mask).
    pub wave: Array5<Complex64>,
    /// Mean magnitude image `[nz, ny, nx]`.
    pub magnitude: Array3<f64>,
    /// Tissue mask on the image grid.
    pub mask: Array3<u8>,
    /// Labels on the image grid.
    pub labels: Array3<u16>,
    /// Ground-truth G' on the image grid (NaN outside tissue), Pa.
    pub storage_modulus_pa: Array3<f64>,
    /// Ground-truth G'' on the image grid (NaN outside tissue), Pa.
    pub loss_modulus_pa: Array3<f64>,
    /// Complex encoding factor ξ_c of the phase in `phase` per frequency (rad/m):
    /// first harmonic of `phase` = ξ_c · U.
    pub encoding: Vec<Complex64>,
    /// Number of isochromats.
    pub spins: usize,
    /// ADC samples per experiment.
    pub adc_samples: usize,
    /// Plan steps per experiment (summed over experiments).
    pub steps: usize,
    /// Where rank 0's wall time went.
    pub timings: Timings,
}

/// Wall time of the parts of a simulation on rank 0, s.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Generating this rank's isochromats.
    pub spins_s: f64,
    /// Bloch kernel on this rank's isochromats (all experiments).
    pub kernel_s: f64,
    /// Summing the k-space signals of all ranks (waiting for the slowest rank included).
    pub reduce_s: f64,
    /// Reconstruction (FFT, unwrapping, harmonic).
    pub recon_s: f64,
}

/// Progress observer (the library never prints).
pub trait Progress: Sync {
    /// `done` of `total` work units are finished.
    fn update(&self, done: u64, total: u64);
}

impl Progress for () {
    fn update(&self, _done: u64, _total: u64) {}
}

/// Spins per kernel call; the signal is summed over batches in a fixed order, so
/// the result does not depend on the thread count. It is also the unit of the
/// partition over MPI ranks: 8192 spins are 16 f32 blocks (rayon work for up to
/// 16 threads per rank) and keep whole-batch load balance within 10 % down to
/// about 3 batches (25 000 isochromats) per rank.
const BATCH: usize = 1 << 13;

/// Labels of `phantom` sampled at the voxel centres of `grid` (nearest voxel).
pub fn resample_labels(phantom: &Phantom, grid: &Grid) -> Array3<u16> {
    let sh = grid.shape;
    Array3::from_shape_fn((sh[0], sh[1], sh[2]), |(z, y, x)| phantom.grid.locate(grid.centre([z, y, x])).map_or(0, |i| phantom.labels[i]))
}

/// Build the kernel input for one frequency.
fn isochromats(phantom: &Phantom, spins: &crate::model::phantom::Spins, motion: &dyn Displacement) -> Isochromats {
    let spv = phantom.spins_per_voxel as f64;
    let moving = !motion.is_static();
    Isochromats {
        position_m: spins.position_m.clone(),
        amplitude_m: if moving { spins.position_m.iter().map(|&r| motion.amplitude(r)).collect() } else { Vec::new() },
        off_resonance_rad_per_s: spins
            .tissue
            .iter()
            .map(|&t| 2.0 * std::f64::consts::PI * phantom.tissues[t as usize].off_resonance_hz)
            .collect(),
        weight: spins.tissue.iter().map(|&t| phantom.tissues[t as usize].proton_density / spv).collect(),
        relax_class: spins.tissue.clone(),
        t1_s: phantom.tissues.iter().map(|t| t.t1_s).collect(),
        t2_s: phantom.tissues.iter().map(|t| t.t2_s).collect(),
    }
}

fn slice_iso(iso: &Isochromats, r: std::ops::Range<usize>) -> Isochromats {
    Isochromats {
        position_m: iso.position_m[r.clone()].to_vec(),
        amplitude_m: if iso.amplitude_m.is_empty() { Vec::new() } else { iso.amplitude_m[r.clone()].to_vec() },
        off_resonance_rad_per_s: iso.off_resonance_rad_per_s[r.clone()].to_vec(),
        weight: iso.weight[r.clone()].to_vec(),
        relax_class: iso.relax_class[r].to_vec(),
        t1_s: iso.t1_s.clone(),
        t2_s: iso.t2_s.clone(),
    }
}

/// Run `plan` on `iso` with the chosen kernel, in fixed batches.
pub fn run_kernel(iso: &Isochromats, plan: &SequencePlan, kernel: KernelChoice, mut after_batch: impl FnMut(usize)) -> Vec<Complex64> {
    let mut signal = vec![Complex64::new(0.0, 0.0); plan.n_signal];
    let mut start = 0;
    while start < iso.len() {
        let end = (start + BATCH).min(iso.len());
        let part = slice_iso(iso, start..end);
        let s = match kernel {
            KernelChoice::Fast(p) => bloch::fast::fast(&part, plan, p),
            KernelChoice::Reference => bloch::reference(&part, plan, None),
        };
        signal.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
        after_batch(end - start);
        start = end;
    }
    signal
}

/// Check that `seq` can run at every vibration frequency and that its shots' motion
/// encodings determine the displacement; the harmonic fit (and its first-harmonic
/// encoding) per (frequency, component). Cheap: no isochromat is touched.
pub fn harmonic_fits(seq: &dyn MreSequence, frequencies_hz: &[f64], scanner: &Scanner) -> Result<Vec<(HarmonicFit, Complex64)>> {
    let axes = seq.components();
    let noff = seq.phase_offsets();
    let both = seq.polarities() == Polarities::Both;
    let mut fits = Vec::with_capacity(frequencies_hz.len() * axes.len());
    for &f in frequencies_hz {
        if !(f > 0.0 && f.is_finite()) {
            return Err(SolverError::invalid("frequencies_hz", f, "positive vibration frequencies in Hz"));
        }
        seq.check(f, scanner)?;
        for (ci, axis) in axes.iter().enumerate() {
            let e = seq.shot_encoding(f, ci, scanner)?;
            if e.len() != seq.shots() {
                return Err(SolverError::Shape(format!("{} shot encodings for {} shots", e.len(), seq.shots())));
            }
            // per offset: the + image, or the + image against the − image (background removed)
            let d: Vec<Complex64> = (0..noff).map(|k| if both { e[k] - e[noff + k] } else { e[k] }).collect();
            let fit = HarmonicFit::new(&d).ok_or_else(|| {
                SolverError::invalid(
                    format!("motion encoding of the shots ({f} Hz, component {})", axis.name()),
                    format!("{d:?} rad/m"),
                    "phase offsets spread over the vibration cycle (at least 3 distinct) so the displacement is determined",
                )
            })?;
            fits.push((fit, equivalent_encoding(&d)));
        }
    }
    Ok(fits)
}

/// Simulate every (frequency, component) acquisition and reconstruct.
pub fn simulate(exp: &Experiment, opts: &SimulationOptions, progress: &dyn Progress) -> Result<SimulationOutput> {
    Ok(simulate_with(exp, opts, progress, &Serial)?.expect("the serial communicator is its own root"))
}

/// [`simulate`] across the ranks of `comm`: the isochromats, in voxel order (C order:
/// z, then y, then x — spatial slabs), are split into contiguous ranges of whole
/// kernel batches (`BATCH` = 8192 spins) of equal spin count ([`Partition::balanced`]),
/// so every batch holds the same spins whatever the rank count and the result differs
/// from the serial one only by the order of the f64 sums over batches. Each
/// rank generates and simulates only its own isochromats over the whole sequence
/// plan (rayon inside), the k-space signals are summed on rank 0, which
/// reconstructs and returns the output; the other ranks return `None`. Replicated
/// on every rank: the phantom (labels and tissues), the motion fields and the
/// sequence plan; the isochromats and kernel workspaces scale with the slab.
/// Every rank must call this with the same arguments.
pub fn simulate_with(
    exp: &Experiment,
    opts: &SimulationOptions,
    progress: &dyn Progress,
    comm: &dyn Comm,
) -> Result<Option<SimulationOutput>> {
    let phantom = exp.phantom;
    phantom.validate()?;
    if exp.frequencies_hz.is_empty() || exp.frequencies_hz.len() != exp.motion.len() {
        return Err(SolverError::Shape(format!("{} frequencies but {} motion fields", exp.frequencies_hz.len(), exp.motion.len())));
    }
    let seq = exp.sequence;
    let axes = seq.components();
    if axes.is_empty() {
        return Err(SolverError::invalid("meg axes", "none", "at least one encoded component"));
    }
    let [nz, ny, nx] = seq.matrix();
    let fov = seq.fov_m();
    let image_grid = Grid::new([nz, ny, nx], [0, 1, 2].map(|a| fov[a] / [nz, ny, nx][a] as f64))?;
    let labels = resample_labels(phantom, &image_grid);
    let mask_b = labels.mapv(|l| l != 0);
    let nf = exp.frequencies_hz.len();
    let nc = axes.len();
    let noff = seq.phase_offsets();
    let both = seq.polarities() == Polarities::Both;

    // Check every acquisition and set up its harmonic fit before any heavy work.
    let fits = harmonic_fits(seq, &exp.frequencies_hz, &exp.scanner)?;

    // Ranks own whole batches of the global isochromat order, so every batch — and the
    // blocks the kernel cuts it into — holds the same spins for any rank count.
    let total_spins = phantom.tissue_voxels() * phantom.spins_per_voxel;
    let batch_sizes: Vec<u64> = (0..total_spins.div_ceil(BATCH)).map(|b| (total_spins - b * BATCH).min(BATCH) as u64).collect();
    let batches = Partition::of(comm).balanced(&batch_sizes);
    let ordinals = batches.start * BATCH..(batches.end * BATCH).min(total_spins);
    let mut timings = Timings::default();
    let clock = std::time::Instant::now();
    let spins = {
        let _s = info_span!("spins").entered();
        phantom.spins_by_ordinal(ordinals.clone())
    };
    timings.spins_s = clock.elapsed().as_secs_f64();
    info!(spins = spins.len(), total_spins, rank = comm.rank(), isochromats = ?ordinals, experiments = nf * nc, "simulating");
    let batches_per_exp = spins.len().div_ceil(BATCH) as u64;
    let total = batches_per_exp * (nf * nc) as u64;
    let mut done = 0u64;
    progress.update(0, total);

    let mut kspace = ArrayD::<Complex64>::zeros(IxDyn(&[nf, nc, noff, 1, nz, ny, nx]));
    let mut kspace_neg = if both { Some(ArrayD::<Complex64>::zeros(IxDyn(&[nf, nc, noff, 1, nz, ny, nx]))) } else { None };
    let mut images = Array6::<Complex64>::zeros((nf, nc, noff, nz, ny, nx));
    let mut phase = Array6::<f64>::zeros((nf, nc, noff, nz, ny, nx));
    let mut wave = Array5::<Complex64>::zeros((nf, nc, nz, ny, nx));
    let mut magnitude = Array3::<f64>::zeros((nz, ny, nx));
    let mut encoding = Vec::with_capacity(nf);
    let mut steps = 0usize;
    let mut adc_samples = 0usize;
    let vol = nz * ny * nx;

    for (fi, &f) in exp.frequencies_hz.iter().enumerate() {
        let omega = 2.0 * std::f64::consts::PI * f;
        let iso = isochromats(phantom, &spins, exp.motion[fi]);
        for (ci, axis) in axes.iter().enumerate() {
            let _span = info_span!("experiment", frequency_hz = f, axis = axis.name()).entered();
            let tl = seq.timeline(f, ci, &exp.scanner)?;
            if tl.n_signal != seq.signal_len() {
                return Err(SolverError::Shape(format!("timeline of {} k-space samples for {} expected", tl.n_signal, seq.signal_len())));
            }
            let plan = SequencePlan::build(&tl, omega, opts.integration)?;
            drop(tl);
            steps += plan.len();
            adc_samples = plan.adc_count();
            let clock = std::time::Instant::now();
            let mut signal = run_kernel(&iso, &plan, opts.kernel, |_| {
                done += 1;
                progress.update(done, total);
            });
            timings.kernel_s += clock.elapsed().as_secs_f64();
            let clock = std::time::Instant::now();
            comm.sum_to_root(&mut signal);
            timings.reduce_s += clock.elapsed().as_secs_f64();
            if !comm.is_root() {
                continue;
            }
            let clock = std::time::Instant::now();
            // signal index = ((shot·nz + kz)·ny + ky)·nx + kx, shot = p·N + k
            let (fit, xi) = &fits[fi * nc + ci];
            if ci == 0 {
                encoding.push(*xi);
            }
            let mut phases_k = Vec::with_capacity(noff);
            for k in 0..noff {
                let kpos = ndarray::ArrayView3::from_shape((nz, ny, nx), &signal[k * vol..(k + 1) * vol]).expect("shape");
                kspace.slice_mut(s![fi, ci, k, 0, .., .., ..]).assign(&kpos);
                let ipos = centred_ifft(&kpos.to_owned());
                let img = if let Some(kn) = kspace_neg.as_mut() {
                    let off = (noff + k) * vol;
                    let kneg = ndarray::ArrayView3::from_shape((nz, ny, nx), &signal[off..off + vol]).expect("shape");
                    kn.slice_mut(s![fi, ci, k, 0, .., .., ..]).assign(&kneg);
                    let ineg = centred_ifft(&kneg.to_owned());
                    // magnitude of the + image with the phase difference (background removed)
                    crate::recon::polarity_difference(&ipos, &ineg)
                } else {
                    ipos
                };
                let ph = img.mapv(|c| c.arg());
                magnitude += &img.mapv(|c| c.norm() / (nf * nc * noff) as f64);
                images.slice_mut(s![fi, ci, k, .., .., ..]).assign(&img);
                phase.slice_mut(s![fi, ci, k, .., .., ..]).assign(&ph);
                phases_k.push(ph);
            }
            if opts.unwrap {
                let _u = info_span!("unwrap").entered();
                phases_k = unwrap_offsets(phases_k, &mask_b, Some(Unwrap::Masked));
            }
            harmonic_in_mask(&phases_k, &mask_b, wave.slice_mut(s![fi, ci, .., .., ..]), |samples| fit.fit(samples));
            timings.recon_s += clock.elapsed().as_secs_f64();
        }
    }
    if !comm.is_root() {
        return Ok(None);
    }
    let gt = |f: fn(&crate::model::phantom::Tissue) -> f64| {
        labels.mapv(|l| phantom.tissue_index(l).map_or(f64::NAN, |i| f(&phantom.tissues[i])))
    };
    Ok(Some(SimulationOutput {
        image_grid,
        kspace,
        kspace_negative: kspace_neg,
        images,
        phase,
        wave,
        magnitude,
        mask: mask_b.mapv(u8::from),
        storage_modulus_pa: gt(|t| t.storage_modulus_pa),
        loss_modulus_pa: gt(|t| t.loss_modulus_pa),
        labels,
        encoding,
        spins: total_spins,
        adc_samples,
        steps,
        timings,
    }))
}
