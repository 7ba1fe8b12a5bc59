//! MPI runs (`--features mpi`): `mpirun -n 2` and `-n 4` give the serial result, errors end
//! every rank with one message. Needs `mpirun` on PATH (scripts/test.sh installs Open MPI).
#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/quickstart.toml")
}

/// A 3-D version of the quickstart, small enough for a few seconds per run.
const OVERRIDES: [&str; 6] = ["--set", "phantom.shape=[4, 40, 40]", "--set", "output.figures=false", "--set", "phantom.jitter=true"];

fn serial(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mre-sim"))
        .arg(config())
        .args(OVERRIDES)
        .args(extra)
        .arg("--output")
        .arg(out)
        .env("RAYON_NUM_THREADS", "2")
        .env_remove("MRE_SIM_LOG")
        .output()
        .expect("mre-sim runs")
}

fn mpirun(n: usize, out: &Path, extra: &[&str]) -> Output {
    Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-x", "RAYON_NUM_THREADS=1", "-n", &n.to_string()])
        .arg(env!("CARGO_BIN_EXE_mre-sim"))
        .arg(config())
        .args(OVERRIDES)
        .args(extra)
        .arg("--output")
        .arg(out)
        .env_remove("MRE_SIM_LOG")
        .output()
        .expect("mpirun runs (install openmpi-bin)")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn read_c64(path: &Path, name: &str) -> Vec<(f64, f64)> {
    #[derive(hdf5::H5Type, Clone, Copy)]
    #[repr(C)]
    struct C {
        r: f64,
        i: f64,
    }
    let f = hdf5::File::open(path).unwrap();
    f.dataset(name).unwrap().read_raw::<C>().unwrap().into_iter().map(|c| (c.r, c.i)).collect()
}

/// `max |a − b| / max |b|`.
fn max_rel_diff(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().map(|v| v.0.hypot(v.1)).fold(0.0, f64::max);
    a.iter().zip(b).map(|(x, y)| (x.0 - y.0).hypot(x.1 - y.1)).fold(0.0, f64::max) / scale
}

#[test]
fn any_rank_count_gives_the_serial_result() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("serial.h5");
    let o = serial(&reference, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let k_ref = read_c64(&reference, "kspace");
    let w_ref = read_c64(&reference, "wave");
    for n in [2, 4] {
        let out = dir.path().join(format!("ranks{n}.h5"));
        let o = mpirun(n, &out, &[]);
        assert!(o.status.success(), "-n {n}: {}", text(&o));
        let dk = max_rel_diff(&read_c64(&out, "kspace"), &k_ref);
        let dw = max_rel_diff(&read_c64(&out, "wave"), &w_ref);
        println!("-n {n}: max relative difference k-space {dk:.1e}, wave {dw:.1e}");
        assert!(dk <= 1e-9 && dw <= 1e-9, "-n {n}: k-space {dk:e}, wave {dw:e}");
        let f = hdf5::File::open(&out).unwrap();
        let ranks: u64 = f.group("provenance").unwrap().attr("ranks").unwrap().read_scalar().unwrap();
        assert_eq!(ranks, n as u64);
        // Only rank 0 writes and reports: the data file and its MRD raw data, once each.
        let t = text(&o);
        assert_eq!(t.matches("wrote ").count(), 2, "{t}");
        assert_eq!(t.matches(&format!("wrote {}", out.display())).count(), 1, "{t}");
        assert_eq!(t.matches(".mrd.h5 (").count(), 1, "{t}");
    }
}

#[test]
fn errors_end_every_rank_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    // A config error seen by every rank: exit 2, reported once.
    let o = mpirun(2, &dir.path().join("bad.h5"), &["--set", "sequence.tr_s=-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(text(&o).matches("error").count(), 1, "{}", text(&o));
    assert!(text(&o).contains("tr_s"), "{}", text(&o));
    // An existing output, found by rank 0 only: exit 3, nothing overwritten, no hang.
    let out = dir.path().join("exists.h5");
    std::fs::write(&out, b"keep").unwrap();
    let o = mpirun(2, &out, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
}

#[test]
fn wave_solves_spread_over_ranks_give_the_serial_fields() {
    // configs/inclusion-2d.toml on a coarser grid: three frequencies, solved on ranks 0, 1, 0.
    let dir = tempfile::tempdir().unwrap();
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/inclusion-2d.toml");
    let small =
        ["--set", "phantom.shape=[1, 64, 64]", "--set", "phantom.voxel_size_m=[0.005, 0.002, 0.002]", "--set", "output.figures=false"];
    let reference = dir.path().join("serial.h5");
    let o = Command::new(env!("CARGO_BIN_EXE_mre-sim"))
        .arg(&cfg)
        .args(small)
        .arg("--output")
        .arg(&reference)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("ranks2.h5");
    let o = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-x", "RAYON_NUM_THREADS=1", "-n", "2"])
        .arg(env!("CARGO_BIN_EXE_mre-sim"))
        .arg(&cfg)
        .args(small)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for name in ["wave", "kspace"] {
        let d = max_rel_diff(&read_c64(&out, name), &read_c64(&reference, name));
        println!("wave source, -n 2: max relative difference {name} {d:.1e}");
        assert!(d <= 1e-9, "{name}: {d:e}");
    }
}

/// `mre-sim invert DATA --method bayes ARGS` under `mpirun -n n` (`None`: without mpirun).
fn bayes(n: Option<usize>, dir: &Path, data: &Path, out: &str, extra: &[&str]) -> Output {
    let args = ["invert", data.to_str().unwrap(), "--method", "bayes", "--output", out, "--no-figures"];
    let mut c = match n {
        None => common::mre_sim(&[], dir),
        Some(n) => {
            let mut c = Command::new("mpirun");
            c.args([
                "--allow-run-as-root",
                "--oversubscribe",
                "--bind-to",
                "none",
                "-x",
                "RAYON_NUM_THREADS=1",
                "-x",
                "HDF5_USE_FILE_LOCKING=FALSE",
            ])
            .args(["-n", &n.to_string()])
            .arg(env!("CARGO_BIN_EXE_mre-sim"))
            .current_dir(dir)
            .env_remove("MRE_SIM_LOG");
            c
        }
    };
    c.args(args).args(extra).output().expect("mpirun runs (install openmpi-bin)")
}

#[test]
fn bayes_on_any_rank_count_gives_the_serial_draws_bit_for_bit() {
    // Two frequencies (rank 2 of 3 solves none in the MAP and Laplace stages), four chains.
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_bessel_data(dir.path(), "incl.h5", 32, true);
    let opts = ["--chains", "4", "--tune", "30", "--draws", "40", "--checkpoint-every", "10", "-q"];
    let o = bayes(None, dir.path(), &data, "serial.h5", &opts);
    assert!(o.status.success(), "{}", text(&o));
    let (s_ref, g_ref) = common::result_bits(&dir.path().join("serial.h5"));
    assert_eq!(s_ref.len(), 4 * 40 * 4);
    for n in [1, 2, 3] {
        let out = format!("ranks{n}.h5");
        let o = bayes(Some(n), dir.path(), &data, &out, &opts);
        assert!(o.status.success(), "-n {n}: {}", text(&o));
        let (s, g) = common::result_bits(&dir.path().join(&out));
        assert!(s == s_ref, "-n {n}: /samples differ from the serial run's");
        assert!(g == g_ref, "-n {n}: /storage_modulus_pa differs from the serial run's");
        assert!(!dir.path().join(format!("{out}.checkpoint")).exists(), "-n {n}: checkpoint left behind");
        let r = mre_io::hdf5::read_mre_result(&dir.path().join(&out)).unwrap();
        let r_ref = mre_io::hdf5::read_mre_result(&dir.path().join("serial.h5")).unwrap();
        let extra = |r: &mre_io::hdf5::MreResult, k: &str| r.provenance.extra.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        assert_eq!(extra(&r, "evaluations"), extra(&r_ref, "evaluations"), "-n {n}");
    }
    // Only rank 0 writes and reports (without -q: one "wrote" line per file).
    let o = bayes(Some(2), dir.path(), &data, "loud.h5", &opts[..8]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("wrote ").count(), 1, "{}", text(&o));
}

#[test]
fn bayes_errors_end_every_rank_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_bessel_data(dir.path(), "nolabels.h5", 32, false);
    let o = bayes(Some(2), dir.path(), &data, "x.h5", &["--parameterization", "regions"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(text(&o).matches("error").count(), 1, "{}", text(&o));
    assert!(!dir.path().join("x.h5").exists());
    // An existing output, found by rank 0: exit 3 on every rank, the file kept.
    std::fs::write(dir.path().join("exists.h5"), b"keep").unwrap();
    let o = bayes(Some(2), dir.path(), &data, "exists.h5", &["--chains", "2"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(std::fs::read(dir.path().join("exists.h5")).unwrap(), b"keep");
}

/// A Pulseq run (`configs/pulseq-gre-mre.toml`: the file read on every rank, the
/// isochromats split) gives the serial k-space and wave on 2 ranks.
#[test]
fn pulseq_run_on_two_ranks_gives_the_serial_result() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/pulseq-gre-mre.toml");
    let run = |mpi: bool, out: &Path| {
        let mut c = if mpi {
            let mut c = Command::new("mpirun");
            c.args(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-x", "RAYON_NUM_THREADS=1", "-n", "2"])
                .arg(env!("CARGO_BIN_EXE_mre-sim"));
            c
        } else {
            let mut c = Command::new(env!("CARGO_BIN_EXE_mre-sim"));
            c.env("RAYON_NUM_THREADS", "2");
            c
        };
        c.arg(&cfg).args(["--set", "output.figures=false", "--set", "phantom.spins_per_voxel=4", "--output"]).arg(out);
        c.env_remove("MRE_SIM_LOG").output().expect("mre-sim runs")
    };
    let reference = dir.path().join("serial.h5");
    let o = run(false, &reference);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("ranks2.h5");
    let o = run(true, &out);
    assert!(o.status.success(), "{}", text(&o));
    for name in ["kspace", "kspace_negative", "wave"] {
        let d = max_rel_diff(&read_c64(&out, name), &read_c64(&reference, name));
        println!("pulseq -n 2: max relative difference /{name} {d:.1e}");
        assert!(d <= 1e-9, "/{name}: {d:e}");
    }
}

/// The Navier model (the P–SV cylinder, both in-plane components; its defaults: the bulk
/// modulus inferred, the approximation-error model with the boundary noise) on 2 ranks gives
/// the serial draws bit for bit.
#[test]
fn navier_bayes_on_two_ranks_gives_the_serial_draws_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_psv_data(dir.path(), "psv.h5", 24, 0.3, true);
    let opts = ["--chains", "2", "--tune", "30", "--draws", "40", "-q"];
    let o = bayes(None, dir.path(), &data, "serial.h5", &opts);
    assert!(o.status.success(), "{}", text(&o));
    let r = mre_io::hdf5::read_mre_result(&dir.path().join("serial.h5")).unwrap();
    let model = r.provenance.extra.iter().find(|(a, _)| a == "forward_model").map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(model.starts_with("navier"), "{model}");
    let reference = common::result_bits(&dir.path().join("serial.h5"));
    let o = bayes(Some(2), dir.path(), &data, "ranks2.h5", &opts);
    assert!(o.status.success(), "{}", text(&o));
    assert!(common::result_bits(&dir.path().join("ranks2.h5")) == reference, "-n 2: the result differs from the serial run's");
}

/// A Navier run on 2 ranks killed after its final MAP and Laplace stage, resumed on 3 ranks:
/// every rank must resume the same stages (rank 0's checkpoints, including the Gauss–Newton
/// MAP and the Laplace approximation of `model-error/`, are copied to the new rank), so the
/// run neither hangs nor differs from the serial result.
#[test]
fn navier_bayes_killed_on_two_ranks_resumes_on_three() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_psv_data(dir.path(), "psv.h5", 24, 0.3, true);
    let opts = ["--chains", "2", "--tune", "30", "--draws", "400", "--checkpoint-every", "10", "-q"];
    let o = bayes(None, dir.path(), &data, "serial.h5", &opts);
    assert!(o.status.success(), "{}", text(&o));
    let reference = common::result_bits(&dir.path().join("serial.h5"));
    let mpirun = |n: usize| {
        let mut c = Command::new("mpirun");
        c.args(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-x", "RAYON_NUM_THREADS=1"])
            .args(["-x", "HDF5_USE_FILE_LOCKING=FALSE", "-n", &n.to_string()])
            .arg(env!("CARGO_BIN_EXE_mre-sim"))
            .args(["invert", data.to_str().unwrap(), "--method", "bayes", "--output", "resumed.h5", "--no-figures"])
            .args(opts)
            .current_dir(dir.path())
            .env_remove("MRE_SIM_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let laplace = dir.path().join("resumed.h5.checkpoint/navier/model-error/laplace.cbor");
    let mut child = mpirun(2).spawn().unwrap();
    let t = Instant::now();
    while !laplace.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its Laplace checkpoint was seen: make it longer");
        assert!(t.elapsed() < Duration::from_secs(300), "no Laplace checkpoint after 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGTERM: mpirun passes it on to its ranks and ends.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(!child.wait().unwrap().success());
    assert!(!dir.path().join("resumed.h5").exists(), "a killed run leaves no output");
    let mut child = mpirun(3).spawn().unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(300) {
            child.kill().unwrap();
            panic!("the resumed run on 3 ranks did not end in 300 s (ranks resuming different stages wait for each other)");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    assert!(common::result_bits(&dir.path().join("resumed.h5")) == reference, "the resumed result differs from the serial run's");
}
