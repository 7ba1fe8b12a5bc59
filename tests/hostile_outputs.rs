//! Issue 17, outputs and meaningless input: nothing is clobbered, every output path is checked
//! before the computation (existing or a dangling symbolic link → 3, a directory that cannot
//! take the files → 2, a missing one is created), options and data that cannot give a result
//! are refused up front (exit 2, naming the option or the reason), more regions than the data
//! support are refused, and a killed Bayesian run resumes without redoing its finished stages.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{result_bits, run, text};
use mre_io::data::MreData;
use mre_io::hdf5::write_mre_data;
use ndarray::{Array3, Array5};
use num_complex::Complex64;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The quickstart config at `[1, 32, 32]` with figures and MRD on, for a run into `dir`.
fn quickstart_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<String> {
    let cfg = root().join("configs/quickstart.toml");
    let mut v: Vec<String> = [cfg.to_str().unwrap(), "--output", out, "--set", "phantom.shape=[1,32,32]"].map(String::from).to_vec();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn run_strings(args: &[String], cwd: &Path) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, cwd)
}

/// Whether the simulation ran (its summary line).
fn simulated(o: &Output) -> bool {
    String::from_utf8_lossy(&o.stdout).contains("isochromats")
}

/// An mre-data file of one frequency (60 Hz), z component, voxel 2 mm, with `wave` and no mask.
fn write_wave(dir: &Path, name: &str, wave: Array5<Complex64>) -> PathBuf {
    let data = MreData {
        frequencies_hz: vec![60.0],
        voxel_size_m: [2e-3; 3],
        density_kg_m3: 1000.0,
        components: "z".into(),
        encoding_efficiency_rad_per_m: vec![0.0],
        encoding_phase_rad: vec![0.0],
        wave: Some(wave),
        ..MreData::default()
    };
    let p = dir.join(name);
    write_mre_data(&p, &data, false).unwrap();
    p
}

/// A 40² Bessel inclusion ([`common::bessel_data`]) without a mask, with the labels
/// `labels(y, x)`.
fn write_labelled(dir: &Path, name: &str, labels: impl Fn(usize, usize) -> u16) -> PathBuf {
    let (mut data, _) = common::bessel_data(40);
    data.mask = None;
    data.labels = Some(Array3::from_shape_fn((1, 40, 40), |(_, y, x)| labels(y, x)));
    let p = dir.join(name);
    write_mre_data(&p, &data, false).unwrap();
    p
}

/// Files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn an_existing_png_beside_the_invert_output_is_kept_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_bessel_data(dir.path(), "d.h5", 32, false);
    let png = dir.path().join("d-ahi-phase-angle.png");
    std::fs::write(&png, b"mine").unwrap();
    let o = run(&["invert", data.to_str().unwrap(), "--method", "ahi"], dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("d-ahi-phase-angle.png (figure) exists") && text(&o).contains("--force"), "{}", text(&o));
    assert!(!dir.path().join("d-ahi.h5").exists(), "no result is written when a figure exists");
    assert_eq!(std::fs::read(&png).unwrap(), b"mine");
    // With --force the figure is replaced.
    let o = run(&["invert", data.to_str().unwrap(), "--method", "ahi", "--force"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn an_existing_png_beside_a_run_output_is_kept_and_nothing_is_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("q_magnitude.png");
    std::fs::write(&png, b"mine").unwrap();
    let o = run_strings(&quickstart_args("q.h5", &[]), dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("q_magnitude.png (figure) exists"), "{}", text(&o));
    assert!(!simulated(&o), "the outputs are checked before the simulation: {}", text(&o));
    assert_eq!(std::fs::read(&png).unwrap(), b"mine");
    assert_eq!(listing(dir.path()), ["q_magnitude.png"]);
    // The MRD file and the [invert] result's figures are checked as well.
    std::fs::remove_file(&png).unwrap();
    std::fs::write(dir.path().join("q.mrd.h5"), b"mine").unwrap();
    let o = run_strings(&quickstart_args("q.h5", &[]), dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("q.mrd.h5 (MRD raw data) exists") && !simulated(&o), "{}", text(&o));
    std::fs::remove_file(dir.path().join("q.mrd.h5")).unwrap();
    std::fs::write(dir.path().join("q-ahi-storage-modulus.png"), b"mine").unwrap();
    let o = run_strings(&quickstart_args("q.h5", &["--set", "invert.method=ahi"]), dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("q-ahi-storage-modulus.png ([invert] figure) exists") && !simulated(&o), "{}", text(&o));
    assert_eq!(listing(dir.path()), ["q-ahi-storage-modulus.png"]);
}

#[cfg(unix)]
#[test]
fn a_dangling_symlink_at_the_output_is_exit_3_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("q.h5");
    std::os::unix::fs::symlink(dir.path().join("nowhere/target.h5"), &link).unwrap();
    let o = run_strings(&quickstart_args("q.h5", &[]), dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("q.h5 (mre-data) is a symbolic link to a missing file"), "{}", text(&o));
    assert!(!simulated(&o), "{}", text(&o));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    // The same for invert.
    let data = common::write_bessel_data(dir.path(), "d.h5", 32, false);
    let out = dir.path().join("r.h5");
    std::os::unix::fs::symlink(dir.path().join("nowhere/r.h5"), &out).unwrap();
    let o = run(&["invert", data.to_str().unwrap(), "--method", "mdev", "--output", "r.h5"], dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert!(!dir.path().join("r-storage-modulus.png").exists());
}

#[test]
fn seq_outputs_are_checked_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = root().join("configs/quickstart.toml");
    // An existing .seq is kept; a dangling symbolic link is refused too.
    std::fs::write(dir.path().join("q.seq"), b"mine").unwrap();
    let o = run(&["seq", "export", cfg.to_str().unwrap(), "q.seq", "--set", "sequence.spoiling=gradient"], dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("q.seq (Pulseq file) exists"), "{}", text(&o));
    assert_eq!(std::fs::read(dir.path().join("q.seq")).unwrap(), b"mine");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("nowhere.seq"), dir.path().join("l.seq")).unwrap();
        let o = run(&["seq", "export", cfg.to_str().unwrap(), "l.seq", "--set", "sequence.spoiling=gradient"], dir.path());
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    }
    // A missing directory is created; a file in its way is exit 2.
    let o = run(&["seq", "export", cfg.to_str().unwrap(), "new/dir/q.seq", "--set", "sequence.spoiling=gradient"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["seq", "export", cfg.to_str().unwrap(), "q.seq/x.seq", "--set", "sequence.spoiling=gradient"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // `seq info --plots`: an existing plot is kept, checked before the file is read.
    std::fs::write(dir.path().join("q_kspace.png"), b"mine").unwrap();
    let o = run(&["seq", "info", "new/dir/q.seq", "--plots", "."], dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("q_kspace.png (plot) exists"), "{}", text(&o));
    assert_eq!(std::fs::read(dir.path().join("q_kspace.png")).unwrap(), b"mine");
    assert!(!dir.path().join("q_waveforms.png").exists());
}

#[test]
fn invert_creates_a_missing_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_bessel_data(dir.path(), "d.h5", 32, false);
    let o = run(&["invert", data.to_str().unwrap(), "--method", "ahi", "--output", "new/sub/r.h5"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.path().join("new/sub/r.h5").is_file());
    assert!(dir.path().join("new/sub/r-storage-modulus.png").is_file());
}

#[test]
fn an_output_directory_that_cannot_be_written_is_exit_2_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the output directory should be: no user can create it.
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let o = run_strings(&quickstart_args("file/q.h5", &[]), dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("file/q.h5 (mre-data)") && text(&o).contains("create the directory"), "{}", text(&o));
    assert!(!simulated(&o), "{}", text(&o));
    let data = common::write_bessel_data(dir.path(), "d.h5", 32, true);
    let o = run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--output", "file/r.h5"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("file/r.h5 (mre-result)"), "{}", text(&o));
    // A read-only directory (not a test for a user who may write anywhere, e.g. root).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(ro.join("probe"), b"x").is_err() {
            let t = Instant::now();
            let o = run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--output", "ro/r.h5"], dir.path());
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            assert!(text(&o).contains("ro/r.h5 (mre-result)"), "{}", text(&o));
            assert!(t.elapsed() < Duration::from_secs(30), "refused only after {:?}", t.elapsed());
            let o = run_strings(&quickstart_args("ro/q.h5", &[]), dir.path());
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            assert!(!simulated(&o), "{}", text(&o));
            assert!(listing(&ro).is_empty());
        } else {
            println!("the read-only directory accepts files (running as root?): that case is not checked");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // An existing directory that takes no new file even from root: /proc.
    #[cfg(target_os = "linux")]
    {
        let o = run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--output", "/proc/mre-sim-test-r.h5"], dir.path());
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("/proc/mre-sim-test-r.h5 (mre-result)") && text(&o).contains("temporary file"), "{}", text(&o));
        let o = run_strings(&quickstart_args("/proc/mre-sim-test-q.h5", &[]), dir.path());
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(!simulated(&o), "{}", text(&o));
    }
}

#[test]
fn counts_that_give_no_posterior_are_exit_2_on_the_command_line_and_in_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_bessel_data(dir.path(), "d.h5", 32, true);
    for (option, named) in [
        ("--chains=0", "--chains 0"),
        ("--draws=0", "--draws 0"),
        ("--tune=5", "--tune 5"),
        ("--field-spacing=0", "--field-spacing 0"),
        ("--prior-log-std=0", "--prior-log-std 0"),
        ("--smoothness=-1", "--smoothness -1"),
        ("--prior-storage-pa=inf", "--prior-storage-pa inf"),
    ] {
        let t = Instant::now();
        let o = run(&["invert", data.to_str().unwrap(), "--method", "bayes", option], dir.path());
        assert_eq!(o.status.code(), Some(2), "{option}: {}", text(&o));
        assert!(text(&o).contains(named), "{option}: {}", text(&o));
        assert!(!text(&o).contains("{ "), "no Rust debug output: {}", text(&o));
        assert!(t.elapsed() < Duration::from_secs(10), "{option}: refused only after {:?}", t.elapsed());
        assert_eq!(listing(dir.path()), ["d.h5"], "{option}: nothing written (no result, figure or checkpoint)");
    }
    // The config path: the same check, naming the key.
    for (key, value) in [("chains", "0"), ("draws", "0"), ("tune", "5")] {
        let set = format!("invert.{key}={value}");
        let args = quickstart_args("q.h5", &["--set", "invert.method=bayes", "--set", &set]);
        let o = run_strings(&args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{set}: {}", text(&o));
        assert!(text(&o).contains(&format!("invert.{key}")) && text(&o).contains("at least"), "{set}: {}", text(&o));
        assert!(!simulated(&o) && !dir.path().join("q.h5").exists(), "{set}: {}", text(&o));
    }
}

#[test]
fn waves_without_signal_and_grids_too_small_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let zero = write_wave(dir.path(), "zero.h5", Array5::zeros((1, 1, 1, 24, 24)));
    let constant = write_wave(dir.path(), "constant.h5", Array5::from_elem((1, 1, 1, 24, 24), Complex64::new(1e-6, 0.0)));
    let tiny = write_wave(dir.path(), "tiny.h5", Array5::from_elem((1, 1, 1, 1, 1), Complex64::new(1e-6, 2e-6)));
    let small =
        write_wave(dir.path(), "small.h5", Array5::from_shape_fn((1, 1, 1, 4, 4), |(_, _, _, y, x)| Complex64::new((x + y) as f64, 0.0)));
    let cases = [(&zero, "no signal in the mask"), (&constant, "no signal in the mask"), (&tiny, "too small"), (&small, "too small")];
    for (data, reason) in cases {
        for method in ["ahi", "mdev", "bayes"] {
            let o = run(&["invert", data.to_str().unwrap(), "--method", method], dir.path());
            assert_eq!(o.status.code(), Some(2), "{} {method}: {}", data.display(), text(&o));
            assert!(text(&o).contains(reason) && text(&o).contains(data.to_str().unwrap()), "{} {method}: {}", data.display(), text(&o));
        }
    }
    let mut names = listing(dir.path());
    names.retain(|n| !["zero.h5", "constant.h5", "tiny.h5", "small.h5"].contains(&n.as_str()));
    assert!(names.is_empty(), "nothing written: {names:?}");
}

#[test]
fn a_label_per_voxel_is_refused_with_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_labelled(dir.path(), "perlabel.h5", |y, x| (y * 40 + x + 1) as u16);
    let t = Instant::now();
    let mut child = common::mre_sim(&["invert", data.to_str().unwrap(), "--method", "bayes"], dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("a label per voxel was not refused within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("/labels") && text(&o).contains("1600 labels") && text(&o).contains("at least 10 voxels"), "{}", text(&o));
    assert_eq!(listing(dir.path()), ["perlabel.h5"]);
}

#[test]
fn more_region_parameters_than_the_memory_budget_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 16 blocks of 10 × 10 voxels: 32 parameters; the reduced model's 561 snapshot points and
    // their maps take about 15 MB, over a budget of 8 MB.
    let data = write_labelled(dir.path(), "blocks.h5", |y, x| (y / 10 * 4 + x / 10 + 1) as u16);
    let o = common::mre_sim(&["invert", data.to_str().unwrap(), "--method", "bayes"], dir.path())
        .env("MRE_SIM_MAX_MEMORY", "8M")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("16 regions of /labels (32 parameters)") && text(&o).contains("memory budget"), "{}", text(&o));
    assert_eq!(listing(dir.path()), ["blocks.h5"]);
}

/// Lines of `log` that say a stage was loaded from its checkpoint.
fn loaded_stages(log: &str) -> Vec<String> {
    log.lines().filter(|l| l.contains("loaded from the checkpoint")).map(String::from).collect()
}

#[test]
fn a_killed_bayes_run_resumes_without_redoing_the_plain_map_and_the_model_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_bessel_data(dir.path(), "kill.h5", 40, true);
    let with = |data: &Path, out: &str, draws: &str| -> Vec<String> {
        [
            "invert",
            data.to_str().unwrap(),
            "--method",
            "bayes",
            "--chains",
            "2",
            "--tune",
            "50",
            "--draws",
            draws,
            "--checkpoint-every",
            "10",
            "--sampler",
            "nuts",
            "--full-model",
            "--output",
            out,
            "--no-figures",
        ]
        .map(String::from)
        .to_vec()
    };
    // Uninterrupted reference: every stage computed, and its progress logged by default.
    let o = run_strings(&with(&data, "reference.h5", "300"), dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(loaded_stages(&log).is_empty(), "{log}");
    for stage in ["1/4", "2/4", "3/4", "4/4"] {
        assert!(log.contains(stage), "no log line for stage {stage}: {log}");
    }
    // Killed (SIGKILL) once the approximation-error model is checkpointed, then rerun.
    let args = with(&data, "resumed.h5", "300");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ckpt = dir.path().join("resumed.h5.checkpoint");
    let mut child =
        common::mre_sim(&args, dir.path()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    while !ckpt.join("model-error.cbor").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the model error was checkpointed");
        assert!(t.elapsed() < Duration::from_secs(120), "no model-error checkpoint after 120 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    assert!(!dir.path().join("resumed.h5").exists(), "a killed run leaves no result");
    assert!(ckpt.join("plain-map.cbor").is_file(), "the first stage's MAP is in the checkpoint");
    // Keep the two stage checkpoints for the check below.
    let stale = dir.path().join("stale");
    std::fs::create_dir(&stale).unwrap();
    for f in ["plain-map.cbor", "model-error.cbor"] {
        std::fs::copy(ckpt.join(f), stale.join(f)).unwrap();
    }
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let loaded = loaded_stages(&String::from_utf8_lossy(&o.stderr)).join("\n");
    assert!(loaded.contains("plain MAP") && loaded.contains("approximation-error model"), "the finished stages were redone: {}", text(&o));
    assert!(!ckpt.exists(), "the checkpoint is removed after success");
    assert!(result_bits(&dir.path().join("resumed.h5")) == result_bits(&dir.path().join("reference.h5")), "the resumed result differs");
    // Stage checkpoints of other data are not used: the stages are recomputed, with a log line.
    let other = write_labelled(dir.path(), "other.h5", |y, x| 1 + u16::from((y as i64 - 20).pow(2) + (x as i64 - 20).pow(2) < 64));
    let mut args = with(&other, "other-bayes.h5", "20");
    args.extend(["--checkpoint".into(), "stale".into()]);
    let o = run_strings(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(loaded_stages(&String::from_utf8_lossy(&o.stderr)).is_empty(), "{}", text(&o));
    assert!(text(&o).contains("belongs to other data or options"), "{}", text(&o));
}
