//! `mre-sim bench`: kernel and end-to-end throughput.

use std::time::Instant;

use anyhow::anyhow;
use mre_io::config::RunConfig;
use mre_solver::bloch::fast::bench_precess_motion;
use mre_solver::bloch::Precision;
use mre_solver::simulate::simulate;
use mre_solver::wave::{bench_helmholtz_2d, bench_helmholtz_3d, bench_helmholtz_3d_iterative};

use crate::CliError;

/// The quickstart configuration, built in so that the benchmark runs anywhere.
const QUICKSTART: &str = include_str!("../configs/quickstart.toml");

/// Run the benchmarks and print one line (JSON or text) per figure.
pub fn bench(json: bool, seconds: f64) -> Result<(), CliError> {
    for precision in [Precision::F32, Precision::F64] {
        let r = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| anyhow!(e))?
            .install(|| bench_precess_motion(precision, seconds));
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "kernel": "bloch_precess_motion",
                    "precision": precision.name(),
                    "threads": 1,
                    "spins": r.spins,
                    "steps": r.steps,
                    "iso_steps_per_s": r.iso_steps_per_s,
                })
            );
        } else {
            println!("bloch_precess_motion {} 1 thread: {:.3e} iso-steps/s", precision.name(), r.iso_steps_per_s);
        }
    }
    // Wave solver: assemble + factorise + one solve (direct), or assemble + multigrid setup +
    // one preconditioned Krylov solve (iterative), one thread.
    for (kernel, n, f, what) in [
        ("wave_helmholtz_2d", 256usize, bench_helmholtz_2d as fn(usize) -> f64, "factorise + solve"),
        ("wave_helmholtz_3d", 32, bench_helmholtz_3d, "factorise + solve"),
        ("wave_helmholtz_3d_iterative", 64, bench_helmholtz_3d_iterative, "multigrid setup + Krylov solve"),
    ] {
        let seconds = f(n);
        if json {
            println!("{}", serde_json::json!({ "kernel": kernel, "n": n, "threads": 1, "seconds": seconds }));
        } else {
            println!("{kernel} n = {n}, 1 thread: {seconds:.3} s ({what})");
        }
    }
    // Classic inversion: MDEV of 128×128×25 voxels × 3 components × 8 frequencies, all threads.
    let seconds = mre_solver::classic::bench_mdev();
    let threads = rayon::current_num_threads();
    if json {
        println!(
            "{}",
            serde_json::json!({ "kernel": "mdev", "shape": [25, 128, 128], "components": 3, "frequencies": 8, "threads": threads, "seconds": seconds })
        );
    } else {
        println!("mdev 128×128×25 × 3 components × 8 frequencies on {threads} thread(s): {seconds:.3} s");
    }
    // End to end: the quickstart configuration in memory (no file written).
    let (cfg, src) = RunConfig::parse(QUICKSTART, "configs/quickstart.toml", ".".into(), &[])?;
    let mut built = cfg.build(&src)?;
    built.prepare().map_err(|e| anyhow!(e))?;
    let exp = built.experiment();
    let t = Instant::now();
    let out = simulate(&exp, &built.options, &()).map_err(|e| anyhow!(e))?;
    let wall = t.elapsed().as_secs_f64();
    let samples = out.spins as f64 * out.adc_samples as f64 * (built.frequencies_hz.len() * built.meg_axes.len()) as f64;
    let threads = rayon::current_num_threads();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "kernel": "quickstart_end_to_end",
                "precision": match built.options.kernel { mre_solver::KernelChoice::Fast(p) => p.name(), _ => "f64" },
                "threads": threads,
                "isochromats": out.spins,
                "seconds": wall,
                "iso_adc_samples_per_s": samples / wall,
            })
        );
    } else {
        println!("quickstart end to end on {threads} thread(s): {wall:.2} s, {:.3e} isochromat-ADC-samples/s", samples / wall);
    }
    Ok(())
}
