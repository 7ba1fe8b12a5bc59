//! Bloch kernel benchmarks (plain `std::time`, no harness), one JSON line per result.
//!
//! ```text
//! cargo bench -p mre-solver --bench bloch [-- [--min-seconds S] [--quick] [--only KERNEL] [--precision f32|f64]]
//! ```
//!
//! * `precess_motion`: the free-precession-with-motion step, single-threaded, on the
//!   workload of `precess_motion` in the C yardstick `bloch_limit.c` (kept outside this repository) (compare `iso_steps_per_s`
//!   with that program's output). Best of 5 repetitions of at least `S/5` s each.
//! * `fast_gre`: the whole `fast` kernel (rayon, all threads, and a 1-thread pool) on a
//!   GRE-MRE plan; `iso_steps_per_s = spins · plan steps / wall time` (best of 3).

use std::time::Instant;

use mre_solver::bloch::fast::{bench_precess_motion, fast, simd_backend};
use mre_solver::bloch::{Isochromats, Precision};
use mre_solver::model::scanner::Scanner;
use mre_solver::rng::uniform01;
use mre_solver::sequence::{GreMre, Meg, Polarities, Spoiling};
use mre_solver::units::Axis;
use mre_solver::{Integration, SequencePlan};
use num_complex::Complex64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str);
    let min_seconds = value("--min-seconds").and_then(|s| s.parse::<f64>().ok()).unwrap_or(if quick { 0.2 } else { 1.5 });
    let only = value("--only");
    let precisions: Vec<Precision> =
        [Precision::F32, Precision::F64].into_iter().filter(|p| value("--precision").is_none_or(|v| v == p.name())).collect();
    let isa = simd_backend();

    for &precision in precisions.iter().filter(|_| only.is_none_or(|k| k == "precess_motion")) {
        let b = bench_precess_motion(precision, min_seconds);
        println!(
            "{{\"kernel\":\"precess_motion\",\"precision\":\"{}\",\"isa\":\"{isa}\",\"threads\":1,\"iso_steps_per_s\":{:.4e},\
             \"ns_per_iso_step\":{:.4},\"spins\":{},\"steps\":{},\"best_s\":{:.4}}}",
            precision.name(),
            b.iso_steps_per_s,
            1e9 / b.iso_steps_per_s,
            b.spins,
            b.steps,
            b.seconds
        );
    }

    if only.is_some_and(|k| k != "fast_gre") {
        return;
    }
    let (iso, plan) = gre_problem(if quick { 2 } else { 8 });
    let threads = rayon::current_num_threads();
    for &precision in &precisions {
        for t in [threads, 1] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().expect("thread pool");
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let t0 = Instant::now();
                let s = pool.install(|| fast(&iso, &plan, precision));
                best = best.min(t0.elapsed().as_secs_f64());
                std::hint::black_box(s);
            }
            let rate = (iso.len() * plan.len()) as f64 / best;
            println!(
                "{{\"kernel\":\"fast_gre\",\"precision\":\"{}\",\"isa\":\"{isa}\",\"threads\":{t},\"iso_steps_per_s\":{rate:.4e},\
                 \"ns_per_iso_step\":{:.4},\"spins\":{},\"steps\":{},\"adc\":{},\"best_s\":{best:.4}}}",
                precision.name(),
                1e9 / rate,
                iso.len(),
                plan.len(),
                plan.adc_count(),
            );
            if t == 1 && threads == 1 {
                break;
            }
        }
    }
}

/// A 64×64 single-slice GRE-MRE (4 phase offsets, ± polarity) and `spins_per_voxel`
/// random isochromats per voxel of the field of view, moving along z (antiplane shear
/// wave), four tissue classes, ±50 Hz off-resonance.
fn gre_problem(spins_per_voxel: usize) -> (Isochromats, SequencePlan) {
    let n = 64;
    let fov = 0.2;
    let seq = GreMre {
        tr_s: 0.03,
        te_s: 0.02,
        flip_angle_rad: 20f64.to_radians(),
        matrix: [1, n, n],
        fov_m: [0.005, fov, fov],
        readout_dwell_s: 10e-6,
        meg: Meg { axis: Axis::Z, frequency_hz: 60.0, cycles: 1, amplitude_t_per_m: 0.03 },
        phase_offsets: 4,
        polarities: Polarities::Both,
        dummy_scans: 5,
        spoiling: Spoiling::Ideal,
    };
    let omega = 2.0 * std::f64::consts::PI * 60.0;
    let tl = seq.timeline(&Scanner::default()).expect("valid GRE timeline");
    let plan = SequencePlan::build(&tl, omega, Integration::Events).expect("valid plan");

    let spins = n * n * spins_per_voxel;
    let u = |i: usize, s: u64, lo: f64, hi: f64| lo + (hi - lo) * uniform01(42, i as u64, s);
    let k = 2.0 * std::f64::consts::PI / 0.03; // 3 cm shear wavelength along x
    let iso = Isochromats {
        position_m: (0..spins)
            .map(|i| [u(i, 0, -0.0025, 0.0025), u(i, 1, -fov / 2.0, fov / 2.0), u(i, 2, -fov / 2.0, fov / 2.0)])
            .collect(),
        amplitude_m: (0..spins)
            .map(|i| {
                let x = u(i, 2, -fov / 2.0, fov / 2.0);
                let zero = Complex64::new(0.0, 0.0);
                [Complex64::from_polar(20e-6, -k * x), zero, zero]
            })
            .collect(),
        off_resonance_rad_per_s: (0..spins).map(|i| u(i, 3, -1.0, 1.0) * 2.0 * std::f64::consts::PI * 50.0).collect(),
        weight: vec![1.0; spins],
        relax_class: (0..spins).map(|i| (u(i, 4, 0.0, 4.0) as u16).min(3)).collect(),
        t1_s: vec![0.8, 1.2, 0.6, 4.0],
        t2_s: vec![0.05, 0.08, 0.04, 2.0],
    };
    (iso, plan)
}
