//! End-to-end tests of the `mre-sim` binary: runs, outputs, bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mre-sim"));
    c.env_remove("MRE_SIM_LOG");
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

include!("common/broken_configs.rs");

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str], cwd: &Path) -> Output {
    bin().args(args).current_dir(cwd).output().expect("binary runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn run_writes_hdf5_and_figures_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "small.toml", SMALL);
    let o = run(&[cfg.to_str().unwrap(), "-q"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let h5 = dir.path().join("out/small.h5");
    assert!(h5.exists());
    for fig in ["small_magnitude.png", "small_phase_f60Hz.png", "small_wave_f60Hz_z.png"] {
        assert!(dir.path().join("out").join(fig).exists(), "missing {fig}: {}", text(&o));
    }
    let before = std::fs::metadata(&h5).unwrap().modified().unwrap();
    // second run without --force: exit 3, file untouched
    let o = run(&[cfg.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("--force"));
    assert_eq!(std::fs::metadata(&h5).unwrap().modified().unwrap(), before);
    // with --force and an override it runs again
    let o = run(&[cfg.to_str().unwrap(), "--force", "--set", "sequence.phase_offsets=8"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let f = hdf5::File::open(&h5).unwrap();
    assert_eq!(f.dataset("phase").unwrap().shape(), vec![1, 1, 8, 1, 32, 32]);
    let cfg_attr: hdf5::types::VarLenUnicode = f.group("provenance").unwrap().attr("config").unwrap().read_scalar().unwrap();
    assert!(cfg_attr.as_str().contains("phase_offsets = 8"));
    // no temporary files left behind
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn check_prints_the_resolved_config_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "small.toml", SMALL);
    let o = run(&["check", cfg.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // defaults are filled in
    for k in ["readout_dwell_s = 0.00001", "phase_offsets = 4", "max_slew_t_per_m_per_s = 200.0", "precision = \"f32\"", "valid"] {
        assert!(out.contains(k), "missing {k} in\n{out}");
    }
    assert!(!dir.path().join("out").exists());
    // the resolved config is itself a valid config
    let resolved: String = out.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let again = write(dir.path(), "resolved.toml", &resolved);
    let o = run(&["check", again.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn quickstart_config_is_valid() {
    let o = run(&["check", "configs/quickstart.toml"], &root());
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn broken_configs_give_clear_errors_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let cases = broken_cases();
    assert!(cases.len() >= 12);
    for (what, edits, sets, expect) in cases {
        let mut t = SMALL.to_string();
        for (a, b) in &edits {
            assert!(t.contains(a), "{what}: pattern {a:?} not in the config");
            t = t.replacen(a, b, 1);
        }
        if what == "missing phantom file" {
            // labels_file excludes shapes
            t = t.replace("[[phantom.inclusion]]\nshape = \"cylinder\"\nradius_m = 0.01\ntissue = \"bright\"\n", "");
        }
        let cfg = write(dir.path(), "small.toml", &t);
        let overrides: Vec<&str> = sets.iter().flat_map(|s| ["--set", *s]).collect();
        let cfg = cfg.to_str().unwrap();
        let o = run(&[&[cfg, "--output", "result.h5"][..], &overrides].concat(), dir.path());
        let msg = text(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: expected exit 2, got {:?}: {msg}", o.status.code());
        for e in &expect {
            assert!(msg.contains(e), "{what}: error should contain {e:?}:\n{msg}");
        }
        assert!(!dir.path().join("result.h5").exists(), "{what}: output written");
        assert!(!msg.contains("panicked"), "{what}: {msg}");
        // check reports the same
        let o = run(&[&["check", cfg][..], &overrides].concat(), dir.path());
        assert_eq!(o.status.code(), Some(2), "check {what}: {}", text(&o));
    }
}

fn read_c64(f: &hdf5::File, name: &str) -> Vec<(f64, f64)> {
    #[derive(hdf5::H5Type, Clone, Copy)]
    #[repr(C)]
    struct C {
        r: f64,
        i: f64,
    }
    f.dataset(name).unwrap().read_raw::<C>().unwrap().into_iter().map(|c| (c.r, c.i)).collect()
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "small.toml", &SMALL.replace("spins_per_voxel = 2", "spins_per_voxel = 6"));
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("t{threads}.h5"));
        let o = bin()
            .args([cfg.to_str().unwrap(), "-q", "--output", out.to_str().unwrap()])
            .env("RAYON_NUM_THREADS", threads)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let f = hdf5::File::open(&out).unwrap();
        let threads_attr: u64 = f.group("provenance").unwrap().attr("threads").unwrap().read_scalar().unwrap();
        assert_eq!(threads_attr.to_string(), threads);
        outs.push((read_c64(&f, "kspace"), read_c64(&f, "wave")));
    }
    assert!(outs[0].0 == outs[1].0, "k-space differs between 1 and 2 threads");
    assert!(outs[0].1 == outs[1].1, "wave differs between 1 and 2 threads");
}

#[test]
fn labels_from_hdf5_and_wave_from_hdf5_drive_a_run() {
    let dir = tempfile::tempdir().unwrap();
    // a label map: disc of label 1 with an inner disc of label 2, stored as u8 [ny, nx]
    let labels = ndarray::Array2::from_shape_fn((32, 32), |(y, x)| {
        let r2 = (y as f64 - 16.0).powi(2) + (x as f64 - 16.0).powi(2);
        if r2 < 25.0 {
            2u8
        } else if r2 < 196.0 {
            1
        } else {
            0
        }
    });
    let lf = dir.path().join("labels.h5");
    // close explicitly: HDF5 locks the file while any handle is open, and the binary must open it next
    let file = hdf5::File::create(&lf).unwrap();
    file.new_dataset_builder().with_data(&labels).create("seg").unwrap();
    file.close().unwrap();
    let cfg_text = SMALL
        .replace("background = \"gel\"", "labels_file = \"labels.h5\"\nlabels_dataset = \"seg\"")
        .replace("[[phantom.inclusion]]\nshape = \"cylinder\"\nradius_m = 0.01\ntissue = \"bright\"\n", "");
    let cfg = write(dir.path(), "labelled.toml", &cfg_text);
    let first = dir.path().join("first.h5");
    let o = run(&[cfg.to_str().unwrap(), "-q", "--output", first.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let f = hdf5::File::open(&first).unwrap();
    let got = f.dataset("labels").unwrap().read_raw::<u16>().unwrap();
    assert_eq!(got, labels.iter().map(|&l| u16::from(l)).collect::<Vec<_>>());
    let a = read_c64(&f, "wave");
    let mask = f.dataset("mask").unwrap().read_raw::<u8>().unwrap();
    f.close().unwrap();

    // the wave of the first run as the motion of a second run
    let cfg2_text = cfg_text.replace(
        "source = \"plane-wave\"\nfrequencies_hz = [60.0]\namplitude_m = 10e-6\npropagation_zyx = [0.0, 0.0, 1.0]\npolarization_zyx = [1.0, 0.0, 0.0]",
        "source = \"hdf5\"\nfrequencies_hz = [60.0]\nfile = \"first.h5\"",
    );
    assert_ne!(cfg2_text, cfg_text);
    let cfg2 = write(dir.path(), "from_wave.toml", &cfg2_text);
    let second = dir.path().join("second.h5");
    let o = run(&[cfg2.to_str().unwrap(), "-q", "--output", second.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let b = read_c64(&hdf5::File::open(&second).unwrap(), "wave");
    let (mut dot, mut na, mut nb) = ((0.0, 0.0), 0.0, 0.0);
    for ((x, y), &m) in a.iter().zip(&b).zip(&mask) {
        if m == 1 {
            dot.0 += x.0 * y.0 + x.1 * y.1;
            dot.1 += x.1 * y.0 - x.0 * y.1;
            na += x.0 * x.0 + x.1 * x.1;
            nb += y.0 * y.0 + y.1 * y.1;
        }
    }
    let corr = (dot.0 * dot.0 + dot.1 * dot.1).sqrt() / (na * nb).sqrt();
    assert!(corr > 0.99, "wave re-simulated from /wave correlates {corr}");
    assert!(((nb / na).sqrt() - 1.0).abs() < 0.05, "amplitude ratio {}", (nb / na).sqrt());
    // a frequency the file does not have is refused
    let cfg3 = write(dir.path(), "bad_freq.toml", &cfg2_text.replace("frequencies_hz = [60.0]\nfile", "frequencies_hz = [50.0]\nfile"));
    let o = run(&[cfg3.to_str().unwrap(), "--output", "x.h5"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("50 Hz is not in"), "{}", text(&o));
}

#[test]
fn no_arguments_prints_usage() {
    let o = run(&[], &root());
    assert!(!o.status.success());
    assert!(text(&o).contains("Usage"));
}

/// A build without MPI refuses to run under an MPI launcher (it would run N copies).
#[cfg(not(feature = "mpi"))]
#[test]
fn build_without_mpi_refuses_to_run_under_mpirun() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "small.toml", SMALL);
    for (var, value) in [("OMPI_COMM_WORLD_SIZE", "4"), ("PMI_SIZE", "2"), ("SLURM_STEP_NUM_TASKS", "28")] {
        let o = bin().arg(&cfg).env(var, value).current_dir(dir.path()).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{var}: {}", text(&o));
        assert!(text(&o).contains("--features mpi") && text(&o).contains(var), "{}", text(&o));
        assert!(!dir.path().join("out").exists(), "no output may be written");
    }
    // One process under a launcher (or a Slurm batch script without srun) runs normally.
    let o = bin()
        .args([cfg.to_str().unwrap(), "-q"])
        .env("OMPI_COMM_WORLD_SIZE", "1")
        .env("SLURM_NTASKS", "8")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}
