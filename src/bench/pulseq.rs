//! `mre-sim bench` lines for imported Pulseq sequences (issue 9), next to the
//! built-in GRE on the same matrix: isochromat-ADC-samples per second and wall
//! time from the sequence to the k-space signal, on a rayon pool of 1 and of 2
//! threads, fast kernel in f32.
//!
//! - `pulseq_gre_64`: `tests/data/pulseq/gre_64.seq` (64×64 spoiled GRE, 2 ms
//!   sinc excitation, RF spoiling), parsed from text, converted, planned and run
//!   on a 64×64 phantom (one slice, 1 isochromat per voxel).
//! - `pulseq_epi`: `tests/data/pulseq/epi.seq` (32×32 single-shot EPI) on the
//!   same 64×64 phantom.
//! - `builtin_gre_64`: the built-in GRE-MRE with the same matrix, FOV, TR,
//!   flip angle and dwell, no MEG, RF spoiling; its three phase offsets (the
//!   minimum the built-in allows) are three 64-line images.
//! - `pulseq_exported_gre_64`: that built-in sequence written as a Pulseq file
//!   (`seq export`) and read back: the same sequence through the import path
//!   (text → model → timeline), for the "within 1.5× on the same sequence".
//!
//! The fixtures are embedded, so the benchmark runs from any directory.

use std::time::Instant;

use anyhow::anyhow;
use mre_io::pulseq::{parse_str, TimelineOptions};
use mre_solver::bloch::{Isochromats, Precision};
use mre_solver::model::scanner::Scanner;
use mre_solver::sequence::{GreMre, Meg, Polarities, Spoiling, Timeline};
use mre_solver::simulate::{run_kernel, KernelChoice};
use mre_solver::units::Axis;
use mre_solver::{Integration, SequencePlan};

use crate::CliError;

const GRE_64: &str = include_str!("../../tests/data/pulseq/gre_64.seq");
const EPI: &str = include_str!("../../tests/data/pulseq/epi.seq");

/// Where a benchmarked sequence comes from.
#[derive(Clone, Copy)]
enum Source {
    /// Pulseq text (name for messages, text).
    Pulseq(&'static str, &'static str),
    /// The built-in GRE matched to `gre_64.seq`.
    BuiltinGre64,
    /// That built-in GRE exported as a Pulseq file and read back: the same sequence
    /// through the import path.
    ExportedGre64,
}

impl Source {
    /// The timeline and the number of RF pulses (TRs) it plays.
    fn timeline(self) -> Result<(Timeline, usize), CliError> {
        match self {
            Source::Pulseq(name, text) => {
                let read = parse_str(text, name).map_err(|e| anyhow!(e))?;
                let imp = read.sequence.to_timeline(&TimelineOptions::default()).map_err(|e| anyhow!(e))?;
                Ok((imp.timeline, imp.rf.len()))
            }
            Source::ExportedGre64 => {
                let file = mre_io::pulseq::export::from_gre_mre(&builtin_gre_64(), &Scanner::default()).map_err(|e| anyhow!(e))?;
                let read = parse_str(&file.to_string(), "exported").map_err(|e| anyhow!(e))?;
                let imp = read.sequence.to_timeline(&TimelineOptions::default()).map_err(|e| anyhow!(e))?;
                Ok((imp.timeline, imp.rf.len()))
            }
            Source::BuiltinGre64 => {
                let seq = builtin_gre_64();
                let tl = seq.timeline(&Scanner::default()).map_err(|e| anyhow!(e))?;
                let n = tl.rf.len();
                Ok((tl, n))
            }
        }
    }
}

/// The built-in GRE with the parameters of `gre_64.seq`: 64×64, FOV 256 mm, 3 mm
/// slice, TR 10.77 ms, 15°, dwell 50 µs, RF spoiling, a zero-amplitude 1 ms "MEG"
/// in place of the file's 1 ms delay.
fn builtin_gre_64() -> GreMre {
    GreMre {
        tr_s: 0.689_28 / 64.0,
        te_s: 4.5e-3,
        flip_angle_rad: 15f64.to_radians(),
        matrix: [1, 64, 64],
        fov_m: [0.003, 0.256, 0.256],
        readout_dwell_s: 50e-6,
        meg: Meg { axis: Axis::Z, frequency_hz: 1000.0, cycles: 1, amplitude_t_per_m: 0.0 },
        phase_offsets: 3,
        polarities: Polarities::Positive,
        dummy_scans: 0,
        spoiling: Spoiling::Rf { cycles_per_voxel: 4.0 },
    }
}

/// One slice of `n`×`n` voxels over `fov_m` (1 isochromat per voxel centre), one tissue.
fn phantom_2d(n: usize, fov_m: f64) -> Isochromats {
    let d = fov_m / n as f64;
    let position_m: Vec<[f64; 3]> =
        (0..n * n).map(|i| [0.0, ((i / n) as f64 + 0.5) * d - 0.5 * fov_m, ((i % n) as f64 + 0.5) * d - 0.5 * fov_m]).collect();
    let len = position_m.len();
    Isochromats {
        position_m,
        amplitude_m: Vec::new(),
        off_resonance_rad_per_s: vec![0.0; len],
        weight: vec![1.0; len],
        relax_class: vec![0; len],
        t1_s: vec![1.0],
        t2_s: vec![0.08],
    }
}

/// One measurement: best wall time of repeated runs (sequence → signal).
struct Measured {
    seconds: f64,
    kernel_s: f64,
    steps: usize,
    adc_samples: usize,
    rf_pulses: usize,
    rotations: usize,
}

fn measure(source: Source, iso: &Isochromats, min_seconds: f64) -> Result<Measured, CliError> {
    let mut best: Option<Measured> = None;
    let (mut runs, clock) = (0, Instant::now());
    while runs < 2 || clock.elapsed().as_secs_f64() < min_seconds {
        let t = Instant::now();
        let (tl, rf_pulses) = source.timeline()?;
        let plan = SequencePlan::build(&tl, 0.0, Integration::Events).map_err(|e| anyhow!(e))?;
        let k = Instant::now();
        let signal = run_kernel(iso, &plan, KernelChoice::Fast(Precision::F32), |_| {});
        let kernel_s = k.elapsed().as_secs_f64();
        let seconds = t.elapsed().as_secs_f64();
        std::hint::black_box(signal);
        if best.as_ref().is_none_or(|b| seconds < b.seconds) {
            best =
                Some(Measured { seconds, kernel_s, steps: plan.len(), adc_samples: plan.adc_count(), rf_pulses, rotations: tl.rf.len() });
        }
        runs += 1;
    }
    Ok(best.expect("at least two runs"))
}

/// Print the Pulseq benchmark lines.
pub fn bench_pulseq(json: bool, min_seconds: f64) -> Result<(), CliError> {
    let cases = [
        ("pulseq_gre_64", Source::Pulseq("gre_64.seq", GRE_64), 0.256),
        ("pulseq_epi", Source::Pulseq("epi.seq", EPI), 0.22),
        ("builtin_gre_64", Source::BuiltinGre64, 0.256),
        ("pulseq_exported_gre_64", Source::ExportedGre64, 0.256),
    ];
    for (name, source, fov_m) in cases {
        let iso = phantom_2d(64, fov_m);
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| anyhow!(e))?;
            let m = pool.install(|| measure(source, &iso, min_seconds))?;
            let rate = iso.len() as f64 * m.adc_samples as f64 / m.seconds;
            let steps_per_tr = m.steps as f64 / m.rf_pulses as f64;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "kernel": name,
                        "precision": "f32",
                        "threads": threads,
                        "isochromats": iso.len(),
                        "adc_samples": m.adc_samples,
                        "rf_pulses": m.rf_pulses,
                        "rf_rotations": m.rotations,
                        "steps": m.steps,
                        "steps_per_tr": steps_per_tr,
                        "seconds": m.seconds,
                        "kernel_s": m.kernel_s,
                        "iso_adc_samples_per_s": rate,
                    })
                );
            } else {
                println!(
                    "{name} 64×64 isochromats, {threads} thread(s): {:.3} s sequence → signal (kernel {:.3} s), {rate:.3e} isochromat-ADC-samples/s \
                     ({} ADC samples, {} RF pulses as {} rotations, {} steps = {steps_per_tr:.0} per TR)",
                    m.seconds, m.kernel_s, m.adc_samples, m.rf_pulses, m.rotations, m.steps
                );
            }
        }
    }
    Ok(())
}
