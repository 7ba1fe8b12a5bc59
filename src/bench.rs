//! `mre-sim bench`: kernel and end-to-end throughput.

use std::time::Instant;

use anyhow::anyhow;
use mre_io::config::RunConfig;
use mre_solver::bloch::fast::bench_precess_motion;
use mre_solver::bloch::Precision;
use mre_solver::simulate::simulate;
use mre_solver::wave::{bench_helmholtz_2d, bench_helmholtz_3d, bench_helmholtz_3d_iterative};

use crate::CliError;

mod pulseq;

/// The quickstart configuration, built in so that the benchmark runs anywhere.
const QUICKSTART: &str = include_str!("../configs/quickstart.toml");

/// The benchmark groups in the order `mre-sim bench` runs them; `--only` selects by name.
pub const GROUPS: [&str; 10] =
    ["bloch", "pulseq", "wave", "navier_solver", "mdev", "bayes", "model_check", "navier_evaluations", "navier_posterior", "quickstart"];

/// Run the benchmarks of the groups named in `only` (all of [`GROUPS`] when empty) and print
/// one line (JSON or text) per figure.
pub fn bench(json: bool, seconds: f64, only: &[String]) -> Result<(), CliError> {
    if let Some(bad) = only.iter().find(|g| !GROUPS.contains(&g.as_str())) {
        return Err(CliError::new(
            crate::exit::INVALID_INPUT,
            anyhow!("bench --only {bad}: unknown group (expected one of {})", GROUPS.join(", ")),
        ));
    }
    let run = |g: &str| only.is_empty() || only.iter().any(|o| o == g);
    if run("bloch") {
        bench_bloch(json, seconds)?;
    }
    if run("pulseq") {
        // Imported Pulseq sequences next to the built-in GRE, 1 and 2 threads.
        pulseq::bench_pulseq(json, seconds)?;
    }
    if run("wave") {
        bench_wave(json);
    }
    if run("navier_solver") {
        bench_navier_solver(json)?;
    }
    if run("mdev") {
        bench_mdev(json);
    }
    if run("bayes") {
        bench_bayes_evaluations(json, seconds)?;
        bench_bayes_posteriors(json)?;
    }
    if run("model_check") {
        bench_model_check(json)?;
    }
    if run("navier_evaluations") {
        bench_navier_posteriors(json)?;
    }
    if run("navier_posterior") {
        bench_navier_regions_posterior(json)?;
    }
    if run("quickstart") {
        bench_quickstart(json)?;
    }
    Ok(())
}

/// The Bloch kernel (precession with motion), f32 and f64, one thread.
fn bench_bloch(json: bool, seconds: f64) -> Result<(), CliError> {
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
    Ok(())
}

/// Wave solver: assemble + factorise + one solve (direct), or assemble + multigrid setup + one
/// preconditioned Krylov solve (iterative), one thread.
fn bench_wave(json: bool) {
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
}

/// Navier (vector) solver: assembly + block preconditioner set-up + one GMRES solve (4 unknowns
/// per voxel), one thread, next to the scalar iterative solver on the same grid and boundary:
/// the forward problem of a 3-D inversion (measured boundary values, no PML) at 32³ and at 64³
/// (the issue-18 size), and a PML-bounded point source at 32³ (FGMRES with inner GMRES per
/// block: about 90 s on one core; 64³ is far too slow, see the module docs of
/// solver/src/wave/navier_iterative.rs).
fn bench_navier_solver(json: bool) -> Result<(), CliError> {
    use mre_solver::wave::{bench_navier_3d_iterative_with, BenchBoundary};
    for (n, boundary, kernel) in [
        (32, BenchBoundary::Measured, "wave_navier_3d_iterative_measured"),
        (64, BenchBoundary::Measured, "wave_navier_3d_iterative_measured"),
        (32, BenchBoundary::Absorbing, "wave_navier_3d_iterative"),
    ] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| anyhow!(e))?;
        match pool.install(|| bench_navier_3d_iterative_with(n, boundary)) {
            Ok(r) if json => println!(
                "{}",
                serde_json::json!({ "kernel": kernel, "n": n, "threads": 1, "seconds": r.navier_seconds,
                    "iterations": r.navier_iterations, "scalar_seconds": r.scalar_seconds, "scalar_iterations": r.scalar_iterations })
            ),
            Ok(r) => println!(
                "{kernel} n = {n}, 1 thread: {:.3} s, {} GMRES iterations (scalar on the same grid: {:.3} s, {} iterations)",
                r.navier_seconds, r.navier_iterations, r.scalar_seconds, r.scalar_iterations
            ),
            Err(e) if json => println!("{}", serde_json::json!({ "kernel": kernel, "n": n, "error": e.to_string() })),
            Err(e) => println!("{kernel} n = {n}: {e}"),
        }
    }
    Ok(())
}

/// Classic inversion: MDEV of 128×128×25 voxels × 3 components × 8 frequencies, all threads.
fn bench_mdev(json: bool) {
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
}

/// End to end: the quickstart configuration in memory (no file written), all threads.
fn bench_quickstart(json: bool) -> Result<(), CliError> {
    let (cfg, src) = RunConfig::parse(QUICKSTART, "configs/quickstart.toml", ".".into(), &[])?;
    let mut built = cfg.build(&src)?;
    built.prepare().map_err(|e| anyhow!(e))?;
    let exp = built.experiment();
    let t = Instant::now();
    let out = simulate(&exp, &built.options, &()).map_err(|e| anyhow!(e))?;
    let wall = t.elapsed().as_secs_f64();
    let samples = out.spins as f64 * out.adc_samples as f64 * (built.frequencies_hz.len() * built.sequence.components().len()) as f64;
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

/// Log-posterior + gradient evaluations of the Bayesian inversion (regions, wave likelihood)
/// on `BesselInclusion::default()` (128² voxels, 3 frequencies), all threads: each evaluation
/// is one forward and one adjoint solve per frequency.
fn bench_bayes_evaluations(json: bool, seconds: f64) -> Result<(), CliError> {
    use mre_inverse::synthetic::BesselInclusion;
    use mre_inverse::{
        ForwardModel, IndependentNormal, LogDensity, Noise, Parameterisation, Posterior, Regions, WaveForward, WaveGaussian,
    };
    let spec = BesselInclusion::default();
    let (m, labels, _) = spec.generate().map_err(|e| anyhow!(e))?;
    let t = Instant::now();
    let forward = WaveForward::new(&m).map_err(|e| anyhow!(e))?;
    let setup_s = t.elapsed().as_secs_f64();
    let likelihood = WaveGaussian::new(&m, forward.predicted(), Noise::Inferred).map_err(|e| anyhow!(e))?;
    let regions = Regions::new(&labels, &m.mask).map_err(|e| anyhow!(e))?;
    let prior = IndependentNormal::log_moduli(regions.len(), 3000.0, 1000.0, 2.0).map_err(|e| anyhow!(e))?;
    let post = Posterior::new(&forward, &regions, &prior, &likelihood);
    let theta = regions.constant(3500.0, 800.0);
    let mut grad = vec![0.0; post.dim()];
    let (mut n, t) = (0u64, Instant::now());
    while n < 3 || t.elapsed().as_secs_f64() < seconds {
        post.logp_grad(&theta, &mut grad).map_err(|e| anyhow!(e))?;
        n += 1;
    }
    let wall = t.elapsed().as_secs_f64();
    let nf = forward.n_frequencies();
    let (evals, solves) = (n as f64 / wall, (n * nf as u64) as f64 / wall);
    let threads = rayon::current_num_threads();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "kernel": "bayes_evaluations",
                "n": spec.n,
                "frequencies": nf,
                "parameters": post.dim(),
                "threads": threads,
                "setup_s": setup_s,
                "evaluations_per_s": evals,
                "forward_adjoint_solves_per_s": solves,
            })
        );
    } else {
        println!(
            "bayes_evaluations {0}² × {nf} frequencies (regions) on {threads} thread(s): {evals:.2} log-posterior+gradient evaluations/s, \
             {solves:.2} forward+adjoint solves/s (one per frequency and evaluation) (setup {setup_s:.2} s)",
            spec.n
        );
    }
    Ok(())
}

/// The model check of a Bayesian result (`mre_inverse::model_check`) on
/// `BesselInclusion::default()` (128² voxels, 3 frequencies, SNR 20) at the true region moduli
/// with the measured-boundary model: the prediction (one solve per frequency) and the
/// simulated null (40 noise fields as extra right-hand sides, one more factorisation per frequency), all threads.
fn bench_model_check(json: bool) -> Result<(), CliError> {
    use mre_inverse::model_check::{check_forward, wave_forward_response, CheckOptions, Replicates};
    use mre_inverse::synthetic::BesselInclusion;
    use mre_inverse::{Parameterisation, Regions, WaveForward};
    let spec = BesselInclusion::default();
    let (m, labels, _) = spec.generate().map_err(|e| anyhow!(e))?;
    let forward = WaveForward::new(&m).map_err(|e| anyhow!(e))?;
    let regions = Regions::new(&labels, &m.mask).map_err(|e| anyhow!(e))?;
    let theta = [3000f64.ln(), 6000f64.ln(), 600f64.ln(), 1200f64.ln()];
    let moduli = regions.moduli(&theta);
    let response = |noise: &Replicates| wave_forward_response(&m, &moduli, noise);
    let t = Instant::now();
    let c = check_forward(&forward, &moduli, &m, None, Some(&response), &CheckOptions::default()).map_err(|e| anyhow!(e))?;
    let wall = t.elapsed().as_secs_f64();
    let threads = rayon::current_num_threads();
    if json {
        println!(
            "{}",
            serde_json::json!({ "kernel": "model_check", "n": spec.n, "frequencies": 3, "threads": threads, "seconds": wall, "verdict": c.verdict.name() })
        );
    } else {
        println!(
            "model_check {0}² × 3 frequencies (regions, measured boundary) on {threads} thread(s): {wall:.2} s ({1})",
            spec.n,
            c.verdict.name()
        );
    }
    Ok(())
}

/// Whole posteriors on `BesselInclusion::default()` (128² voxels, 3 frequencies, SNR 20), all
/// threads, each one call of [`mre_pipeline::bayes::run`] as `mre-sim invert --method bayes`
/// makes it, without checkpoints: `regions` with the plain model
/// (`bayes_regions_posterior_plain`, `--model-error none`: MAP and Laplace with the full
/// model, 4 × 250 independence draws with the reduced model, checked against the full
/// model) and with the defaults (`bayes_regions_posterior`: the plain MAP, the
/// approximation-error model there, then the same posterior stages with it), and `field`
/// (`bayes_field_map_laplace`: spacing 8 voxels, smoothness 0.3, MAP of at most 500 L-BFGS
/// iterations + Gauss–Newton Laplace + 250 draws).
fn bench_bayes_posteriors(json: bool) -> Result<(), CliError> {
    use mre_inverse::synthetic::BesselInclusion;
    use mre_pipeline::bayes::{run, BayesOptions, ModelErrorKind, Parameterization};
    use mre_pipeline::WaveInput;
    let spec = BesselInclusion::default();
    let (m, labels, _) = spec.generate().map_err(|e| anyhow!(e))?;
    let input = WaveInput::from_measurements("BesselInclusion::default()", &m, Some(labels))?;
    let threads = rayon::current_num_threads();
    let nf = m.frequencies_hz.len();
    let plain = BayesOptions { model_error: ModelErrorKind::None, ..BayesOptions::default() };
    let field = BayesOptions {
        parameterization: Some(Parameterization::Field),
        field_spacing: Some(8),
        smoothness: 0.3,
        ..BayesOptions::default()
    };
    for (kernel, options) in
        [("bayes_regions_posterior_plain", plain), ("bayes_regions_posterior", BayesOptions::default()), ("bayes_field_map_laplace", field)]
    {
        let t = Instant::now();
        let result = run(&input, &options, None, &mre_solver::parallel::Serial)?.expect("one process: rank 0");
        let wall = t.elapsed().as_secs_f64();
        let extra = |k: &str| result.provenance.extra.iter().find(|(a, _)| a == k).map_or("", |(_, v)| v.as_str()).to_string();
        let (evaluations, iterations, rhat) = (extra("evaluations"), result.provenance.iterations, extra("rhat_max"));
        if json {
            println!(
                "{}",
                serde_json::json!({ "kernel": kernel, "n": spec.n, "frequencies": nf, "threads": threads, "seconds": wall,
                    "parameters": extra("parameters"), "full_evaluations": evaluations, "map_iterations": iterations,
                    "rhat_max": rhat, "model_error": extra("model_error"), "reduced_model": extra("reduced_model") })
            );
        } else {
            println!(
                "{kernel} {0}² × {nf} frequencies ({1} parameters) on {threads} thread(s): {wall:.1} s ({evaluations} full-model evaluations, MAP {iterations} iterations, R̂ ≤ {rhat})",
                spec.n,
                extra("parameters"),
            );
        }
    }
    Ok(())
}

/// Log-posterior + gradient evaluations of the regions posterior on plane-strain data, 64²
/// voxels × 3 frequencies (50, 75, 100 Hz) × 2 in-plane components
/// ([`mre_inverse::plane_strain::PlaneStrainInclusion`], ν = 0.4999, SNR 30), all threads:
/// `bayes_navier_evaluations` (the Navier model: one sparse LU of the u–p system per frequency)
/// next to `bayes_scalar_evaluations_plane_strain` (the scalar model on the same data). A
/// default regions posterior with the full model takes about 1100 evaluations (MAP, Laplace,
/// 4 × 250 independence draws); the 128² data would need a 256² Navier solve with
/// absorbing layers to make, which the direct solver cannot factorise in 24 GB.
fn bench_navier_posteriors(json: bool) -> Result<(), CliError> {
    use mre_inverse::plane_strain::PlaneStrainInclusion;
    use mre_inverse::{
        ForwardModel, IndependentNormal, LogDensity, NavierForward, Noise, Parameterisation, Posterior, Regions, WaveForward, WaveGaussian,
    };
    let spec = PlaneStrainInclusion {
        n: 64,
        voxel_m: 1.5e-3,
        frequencies_hz: vec![50.0, 75.0, 100.0],
        background_pa: (3800.0, 600.0),
        inclusion_pa: (19000.0, 3000.0),
        radius_m: 0.015,
        bulk_modulus_pa: PlaneStrainInclusion::bulk_for_poisson(3800.0, 0.4999),
        density_kg_m3: 1000.0,
        snr: Some(30.0),
        seed: 1,
    };
    let (m, labels, _) = spec.generate().map_err(|e| anyhow!(e))?;
    let regions = Regions::new(&labels, &m.mask).map_err(|e| anyhow!(e))?;
    let prior = IndependentNormal::log_moduli(regions.len(), 3000.0, 1000.0, 2.0).map_err(|e| anyhow!(e))?;
    let navier = NavierForward::new(&m, "xy").map_err(|e| anyhow!(e))?;
    let scalar = WaveForward::new(&m).map_err(|e| anyhow!(e))?;
    let threads = rayon::current_num_threads();
    let forwards: [(&str, &dyn ForwardModel); 2] =
        [("bayes_navier_evaluations", &navier), ("bayes_scalar_evaluations_plane_strain", &scalar)];
    for (kernel, forward) in forwards {
        let likelihood = WaveGaussian::new(&m, forward.predicted(), Noise::Inferred).map_err(|e| anyhow!(e))?;
        let post = Posterior::new(forward, &regions, &prior, &likelihood);
        let theta = regions.constant(3500.0, 800.0);
        let mut grad = vec![0.0; post.dim()];
        let t = Instant::now();
        for _ in 0..3 {
            post.logp_grad(&theta, &mut grad).map_err(|e| anyhow!(e))?;
        }
        let per = t.elapsed().as_secs_f64() / 3.0;
        if json {
            println!(
                "{}",
                serde_json::json!({ "kernel": kernel, "n": spec.n, "frequencies": 3, "components": 2, "threads": threads,
                    "seconds_per_evaluation": per, "default_posterior_estimate_s": 1100.0 * per })
            );
        } else {
            println!(
                "{kernel} {0}² × 3 frequencies × 2 components on {threads} thread(s): {per:.3} s per evaluation (a default regions posterior, ~1100 evaluations: ~{1:.0} s)",
                spec.n,
                1100.0 * per
            );
        }
    }
    Ok(())
}

/// Whole regions posteriors on the analytic plane-strain P–SV cylinder
/// ([`mre_inverse::synthetic::PsvInclusion::default`]: 128² voxels of 1.5 mm, 50/75/100 Hz,
/// two in-plane components, ν = 0.3, SNR 20), all threads, each one call of
/// [`mre_pipeline::bayes::run`] as `mre-sim invert --method bayes` makes it:
/// `bayes_navier_regions_posterior` (the defaults: the Navier model, the bulk modulus inferred,
/// the approximation-error model) next to `bayes_navier_regions_posterior_plain`
/// (`--model-error none`) and `bayes_scalar_regions_posterior_plane_strain` (`--model scalar`,
/// the defaults otherwise) on the same data.
fn bench_navier_regions_posterior(json: bool) -> Result<(), CliError> {
    use mre_inverse::synthetic::PsvInclusion;
    use mre_pipeline::bayes::{run, BayesOptions, ModelErrorKind, ModelKind};
    use mre_pipeline::WaveInput;
    let spec = PsvInclusion::default();
    let (m, labels, _) = spec.generate().map_err(|e| anyhow!(e))?;
    // Two components are named "xy", as PsvInclusion::COMPONENTS.
    let input = WaveInput::from_measurements("PsvInclusion::default()", &m, Some(labels))?;
    let threads = rayon::current_num_threads();
    let nf = m.frequencies_hz.len();
    let runs = [
        ("bayes_navier_regions_posterior", BayesOptions::default()),
        ("bayes_navier_regions_posterior_plain", BayesOptions { model_error: ModelErrorKind::None, ..BayesOptions::default() }),
        ("bayes_scalar_regions_posterior_plane_strain", BayesOptions { model: ModelKind::Scalar, ..BayesOptions::default() }),
    ];
    for (kernel, options) in runs {
        let t = Instant::now();
        let result = run(&input, &options, None, &mre_solver::parallel::Serial)?.expect("one process: rank 0");
        let wall = t.elapsed().as_secs_f64();
        let extra = |k: &str| result.provenance.extra.iter().find(|(a, _)| a == k).map_or("", |(_, v)| v.as_str()).to_string();
        let regions: Vec<String> = result.regions.iter().map(|r| format!("{:.0}", r.storage_mean_pa)).collect();
        if json {
            println!(
                "{}",
                serde_json::json!({ "kernel": kernel, "n": spec.n, "frequencies": nf, "components": 2, "threads": threads,
                    "seconds": wall, "parameters": extra("parameters"), "full_evaluations": extra("evaluations"),
                    "storage_pa": regions, "bulk_modulus_pa": extra("bulk_modulus_pa_mean"), "model_check": extra("model_check") })
            );
        } else {
            println!(
                "{kernel} {0}² × {nf} frequencies × 2 components on {threads} thread(s): {wall:.1} s ({1} evaluations; G' {regions:?} Pa, truth [3000, 6000]; K {2} Pa; model check {3})",
                spec.n,
                extra("evaluations"),
                extra("bulk_modulus_pa_mean"),
                extra("model_check"),
            );
        }
    }
    Ok(())
}
