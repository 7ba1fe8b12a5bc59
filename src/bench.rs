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
    // Imported Pulseq sequences next to the built-in GRE, 1 and 2 threads.
    pulseq::bench_pulseq(json, seconds)?;
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
    bench_bayes_evaluations(json, seconds)?;
    bench_bayes_posteriors(json)?;
    // End to end: the quickstart configuration in memory (no file written).
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

/// Whole posteriors on `BesselInclusion::default()` (128² voxels, 3 frequencies, SNR 20), all
/// threads, with the command-line defaults: `regions` with the plain model
/// (`bayes_regions_posterior_plain`: MAP and Laplace with the full model, 4 × 250 independence
/// draws with the reduced model, checked against the full model) and as `--model-error auto`
/// runs it (`bayes_regions_posterior`: the plain MAP, the approximation-error model there, then
/// the same posterior stages with it), and
/// `field` (spacing 8 voxels, MAP of at most 500 L-BFGS iterations + Gauss–Newton Laplace + 250
/// draws).
fn bench_bayes_posteriors(json: bool) -> Result<(), CliError> {
    use mre_inverse::bayes::{infer_reduced, BayesOptions, Sampler};
    use mre_inverse::independence::IndependenceOptions;
    use mre_inverse::synthetic::BesselInclusion;
    use mre_inverse::{
        gauss_newton, map, Field, ForwardModel, Gmrf, IndependentNormal, Noise, Parameterisation, Posterior, Regions, WaveForward,
        WaveGaussian,
    };
    let spec = BesselInclusion::default();
    let (m, labels, _) = spec.generate().map_err(|e| anyhow!(e))?;
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let forward = WaveForward::new(&m).map_err(|e| anyhow!(e))?;
    let likelihood = WaveGaussian::new(&m, forward.predicted(), Noise::Inferred).map_err(|e| anyhow!(e))?;
    let regions = Regions::new(&labels, &m.mask).map_err(|e| anyhow!(e))?;
    let prior = IndependentNormal::log_moduli(regions.len(), 3000.0, 1000.0, 2.0).map_err(|e| anyhow!(e))?;
    let opts = BayesOptions {
        sampler: Sampler::Independence(IndependenceOptions { chains: 4, draws: 250, seed: 1, ..IndependenceOptions::default() }),
        ..BayesOptions::default()
    };
    // The plain model, then what `mre-sim invert --method bayes` does by default: a first MAP of
    // the plain model, the approximation-error model there, and the posterior with it.
    let plain = infer_reduced(&forward, &regions, &prior, &likelihood, &regions.constant(3500.0, 800.0), &opts, None, None)
        .map_err(|e| anyhow!(e))?;
    let plain_wall = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let first = {
        let post = Posterior::new(&forward, &regions, &prior, &likelihood);
        map::maximize(&post, &regions.constant(3500.0, 800.0), &opts.map, None).map_err(|e| anyhow!(e))?
    };
    let t_model = Instant::now();
    let (corrected, _) = mre_inverse::model_error::with_model_error(
        &m,
        &forward,
        &regions,
        &first.x,
        Noise::Inferred,
        &mre_inverse::model_error::ModelErrorOptions::default(),
    )
    .map_err(|e| anyhow!(e))?;
    let model_s = t_model.elapsed().as_secs_f64();
    let r = infer_reduced(&forward, &regions, &prior, &corrected, &first.x, &opts, None, None).map_err(|e| anyhow!(e))?;
    let wall = t.elapsed().as_secs_f64();
    for (kernel, r, wall, extra) in [
        ("bayes_regions_posterior_plain", &plain, plain_wall, String::new()),
        ("bayes_regions_posterior", &r, wall, format!(", approximation-error model {model_s:.1} s")),
    ] {
        let reduced = r.surrogate.as_ref().map_or(0, |s| s.reduced_evaluations);
        let rhat = r.rhat.iter().copied().fold(f64::NAN, f64::max);
        if json {
            println!(
                "{}",
                serde_json::json!({ "kernel": kernel, "n": spec.n, "frequencies": forward.n_frequencies(), "threads": threads,
                    "seconds": wall, "full_evaluations": r.evaluations, "reduced_evaluations": reduced, "rhat_max": rhat,
                    "max_logp_error": r.surrogate.as_ref().map(|s| s.max_logp_error) })
            );
        } else {
            println!(
                "{kernel} {0}² × {1} frequencies on {threads} thread(s): {wall:.1} s ({2} full-model evaluations, {reduced} reduced-model evaluations, R̂ ≤ {rhat:.4}{extra})",
                spec.n,
                forward.n_frequencies(),
                r.evaluations
            );
        }
    }
    let t = Instant::now();
    let field = Field::new(forward.grid().shape, 8).map_err(|e| anyhow!(e))?;
    let gmrf = Gmrf::new(field.nodes(), vec![(3000f64.ln(), 0.3, 2.0), (1000f64.ln(), 0.3, 2.0)]).map_err(|e| anyhow!(e))?;
    let post = Posterior::new(&forward, &field, &gmrf, &likelihood);
    let map_opts = map::MapOptions { max_iterations: 500, ..BayesOptions::default().map };
    let mode = map::maximize(&post, &field.constant(3500.0, 800.0), &map_opts, None).map_err(|e| anyhow!(e))?;
    let laplace = gauss_newton::laplace(&forward, &field, &gmrf, &likelihood, &mode.x).map_err(|e| anyhow!(e))?;
    let draws = laplace.draws(250, 1);
    let _stats = mre_inverse::summary::moduli_stats(&field, &draws, &m.mask);
    let wall = t.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            serde_json::json!({ "kernel": "bayes_field_map_laplace", "n": spec.n, "parameters": field.dim(), "threads": threads,
                "seconds": wall, "map_iterations": mode.iterations, "map_evaluations": mode.evaluations })
        );
    } else {
        println!(
            "bayes_field_map_laplace {0}² ({1} parameters) on {threads} thread(s): {wall:.1} s (MAP {2} iterations / {3} evaluations, Gauss–Newton Laplace, 250 draws)",
            spec.n,
            field.dim(),
            mode.iterations,
            mode.evaluations
        );
    }
    Ok(())
}
