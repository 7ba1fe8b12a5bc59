//! `mre-sim invert --method bayes` end to end on small synthetic files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{result_bits, text};
use mre_io::hdf5::read_mre_result;

fn run(args: &[&str], cwd: &Path) -> Output {
    common::run(args, cwd)
}

/// A 40² two-frequency Bessel inclusion (SNR 30) as an mre-data file, with or without labels.
fn write_data(dir: &Path, name: &str, labels: bool) -> PathBuf {
    common::write_bessel_data(dir, name, 40, labels)
}

#[test]
fn regions_by_default_with_labels_and_a_complete_result() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), "incl.h5", true);
    let o =
        run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--chains", "2", "--tune", "80", "--draws", "100", "-q"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("incl-bayes.h5");
    let r = read_mre_result(&out).unwrap();
    // The default: independence sampling with the reduced model, checked against the full one.
    assert_eq!(r.provenance.method, "bayes-independence-reduced");
    let extra = |k: &str| r.provenance.extra.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(extra("parameterization"), "regions");
    assert!(extra("evaluations").parse::<u64>().unwrap() > 10);
    assert!(extra("reduced_model").contains("max |Δ log p|"), "{}", extra("reduced_model"));
    assert!(extra("acceptance").parse::<f64>().unwrap() > 0.3, "{}", extra("acceptance"));
    // The approximation-error model by default (regions, measured boundary, wave likelihood).
    let me = extra("model_error");
    assert!(me.contains("3× finer grid") && me.contains("interface voxels"), "{me}");
    let samples = r.samples.as_ref().expect("/samples");
    assert_eq!(samples.shape(), &[2, 100, 4]);
    assert_eq!(r.regions.len(), 2);
    for (row, truth) in r.regions.iter().zip([3000.0, 6000.0]) {
        assert!((row.storage_mean_pa / truth - 1.0).abs() < 0.05, "{row:?}");
        assert!(row.storage_std_pa > 0.0 && row.storage_q05_pa < row.storage_mean_pa && row.storage_mean_pa < row.storage_q95_pa);
        assert!(row.rhat.is_finite() && row.ess > 10.0, "{row:?}");
    }
    let std = r.storage_modulus_std_pa.as_ref().expect("std map");
    assert!(std.iter().all(|s| s.is_finite() && *s > 0.0));
    assert!(dir.path().join("incl-bayes-storage-modulus-std.png").exists());
    assert!(!dir.path().join("incl-bayes.h5.checkpoint").exists(), "the checkpoint is removed after success");
    // Same command, same seed: refuses to overwrite; with --force the same numbers.
    let o =
        run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--chains", "2", "--tune", "80", "--draws", "100", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn regions_without_labels_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), "nolabels.h5", false);
    let o = run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--parameterization", "regions", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("/labels") && text(&o).contains("nolabels.h5"), "{}", text(&o));
    assert!(!dir.path().join("nolabels-bayes.h5").exists());
}

#[test]
fn field_map_with_laplace_uncertainty() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), "field.h5", false);
    let o = run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--draws", "100", "--field-spacing", "6", "-q"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let r = read_mre_result(&dir.path().join("field-bayes.h5")).unwrap();
    assert_eq!(r.provenance.method, "bayes-laplace");
    let g: Vec<f64> = r.storage_modulus_pa.iter().copied().collect();
    let median = {
        let mut v = g.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    assert!((median / 3000.0 - 1.0).abs() < 0.1, "median G' {median}");
    assert!(r.storage_modulus_std_pa.unwrap().iter().all(|s| s.is_finite() && *s > 0.0));
}

/// Whether a chain checkpoint in `dir` holds at least one post-warm-up draw.
fn chain_checkpoint_with_draws(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("chain-") && name.ends_with(".json")) {
            return false;
        }
        let Ok(bytes) = std::fs::read(e.path()) else { return false };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return false };
        v["draws"].as_array().is_some_and(|d| !d.is_empty())
    })
}

#[test]
fn killed_run_resumes_through_the_cli_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), "kill.h5", true);
    let common_args = [
        "invert",
        data.to_str().unwrap(),
        "--method",
        "bayes",
        "--chains",
        "2",
        "--tune",
        "50",
        "--draws",
        "300",
        "--checkpoint-every",
        "10",
        "--sampler",
        "nuts",
        "--full-model",
    ];
    let with = |out: &str| -> Vec<String> {
        common_args.iter().map(|s| s.to_string()).chain(["--output", out, "--no-figures", "-q"].map(String::from)).collect()
    };
    // Uninterrupted reference.
    let args: Vec<String> = with("reference.h5");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = Instant::now();
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    println!("uninterrupted run: {:.1} s", t.elapsed().as_secs_f64());
    // Killed (SIGKILL) once a chain has checkpointed draws, then restarted with the same command.
    let args: Vec<String> = with("resumed.h5");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = dir.path().join("resumed.h5");
    let chains = dir.path().join("resumed.h5.checkpoint/chains");
    let mut child = common::mre_sim(&args, dir.path()).stdout(std::process::Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    while !chain_checkpoint_with_draws(&chains) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before a chain checkpointed draws: make it longer");
        assert!(t.elapsed() < Duration::from_secs(120), "no chain checkpoint after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    println!("killed after {:.1} s", t.elapsed().as_secs_f64());
    assert!(!out.exists(), "a killed run leaves no output");
    assert!(chains.exists());
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(!dir.path().join("resumed.h5.checkpoint").exists(), "the checkpoint is removed after success");
    let (s_ref, g_ref) = result_bits(&dir.path().join("reference.h5"));
    let (s, g) = result_bits(&out);
    assert_eq!(s.len(), 2 * 300 * 4);
    assert!(s == s_ref, "the resumed /samples differ from the uninterrupted run's");
    assert!(g == g_ref, "the resumed /storage_modulus_pa differs from the uninterrupted run's");
    let r = read_mre_result(&out).unwrap();
    let r_ref = read_mre_result(&dir.path().join("reference.h5")).unwrap();
    let bits = |a: &Option<ndarray::Array3<f64>>| a.as_ref().unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&r.storage_modulus_std_pa), bits(&r_ref.storage_modulus_std_pa));
    assert_eq!(
        r.loss_modulus_pa.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        r_ref.loss_modulus_pa.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn config_bayes_section_simulates_and_inverts_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config_text = std::fs::read_to_string(root.join("configs/quickstart.toml")).unwrap()
        + "\n[invert]\nmethod = \"bayes\"\nparameterization = \"regions\"\nlikelihood = \"wave\"\nchains = 2\ntune = 30\ndraws = 40\nseed = 7\n";
    let cfg = dir.path().join("qb.toml");
    std::fs::write(&cfg, config_text).unwrap();
    let args = [cfg.to_str().unwrap(), "--output", "qb.h5", "--set", "phantom.shape=[1,48,48]", "--set", "output.figures=false", "-q"];
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let r = read_mre_result(&dir.path().join("qb-bayes.h5")).unwrap();
    assert_eq!(r.provenance.method, "bayes-independence-reduced");
    let extra = |k: &str| r.provenance.extra.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(extra("seed"), "7");
    assert_eq!(r.samples.as_ref().unwrap().shape()[..2], [2, 40]);
    assert!(!r.regions.is_empty());
    for row in &r.regions {
        assert!((row.storage_mean_pa / 3000.0 - 1.0).abs() < 0.2, "{row:?}");
    }
    // Bayes-only keys with a classic method, and unknown keys, are config errors naming the key.
    for (from, to, key) in [("method = \"bayes\"", "method = \"ahi\"", "invert.parameterization"), ("seed = 7", "seeds = 7", "seeds")] {
        let bad = std::fs::read_to_string(&cfg).unwrap().replace(from, to);
        std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
        let o = run(&["check", dir.path().join("bad.toml").to_str().unwrap()], dir.path());
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(key), "{}", text(&o));
    }
}

#[test]
fn image_likelihood_on_simulated_images_needs_no_unwrapping() {
    // The quickstart (mechanically homogeneous, G' = 3000 Pa, G'' = 300 Pa) at 48², then the
    // regions posterior from the complex images rather than the reconstructed wave.
    let dir = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cfg = root.join("configs/quickstart.toml");
    let o = run(
        &[cfg.to_str().unwrap(), "--output", "q.h5", "--set", "phantom.shape=[1,48,48]", "--set", "output.figures=false", "-q"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["invert", "q.h5", "--method", "bayes", "--likelihood", "images", "--no-figures", "-q"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let r = read_mre_result(&dir.path().join("q-bayes.h5")).unwrap();
    let extra = |k: &str| r.provenance.extra.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(extra("likelihood"), "images");
    assert!(!r.regions.is_empty());
    for row in &r.regions {
        assert!((row.storage_mean_pa / 3000.0 - 1.0).abs() < 0.1, "{row:?}");
        assert!(row.rhat <= 1.05, "{row:?}");
    }
}

/// `examples/invert_file` (built by `cargo test` next to this test) as a user runs it.
fn invert_file_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let path = dir.join("examples").join(format!("invert_file{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is missing: `cargo test` builds the examples", path.display());
    path
}

#[test]
fn library_example_gives_the_posterior_of_the_cli_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), "lib.h5", true);
    let opts = ["--chains", "2", "--tune", "40", "--draws", "60", "--seed", "5"];
    let mut args = vec!["invert", data.to_str().unwrap(), "--method", "bayes", "--output", "cli.h5", "--no-figures", "-q"];
    args.extend(opts);
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let o = std::process::Command::new(invert_file_example())
        .arg(&data)
        .args(["--output", "library.h5"])
        .args(opts)
        .current_dir(dir.path())
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("region 1: G' ="), "{}", text(&o));
    let (s_cli, g_cli) = result_bits(&dir.path().join("cli.h5"));
    let (s_lib, g_lib) = result_bits(&dir.path().join("library.h5"));
    assert!(!s_cli.is_empty());
    assert!(s_lib == s_cli, "the example's /samples differ from the CLI's");
    assert!(g_lib == g_cli, "the example's posterior mean /storage_modulus_pa differs from the CLI's");
    let (r_cli, r_lib) = (read_mre_result(&dir.path().join("cli.h5")).unwrap(), read_mre_result(&dir.path().join("library.h5")).unwrap());
    assert_eq!(r_cli.regions.len(), r_lib.regions.len());
    for (a, b) in r_cli.regions.iter().zip(&r_lib.regions) {
        assert_eq!(a.storage_mean_pa.to_bits(), b.storage_mean_pa.to_bits());
        assert_eq!(a.loss_q95_pa.to_bits(), b.loss_q95_pa.to_bits());
    }
}
