//! `mre-sim invert` and `mre-sim import` end to end: run the binary on small
//! simulated and synthetic files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hdf5::H5Type;
use ndarray::{Array, Array1, Array3, Array5};
use num_complex::Complex64;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mre-sim"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], cwd: &Path) -> Output {
    // Files edited by this process may still carry its HDF5 lock (see tests/bayes.rs).
    bin().args(args).current_dir(cwd).env("HDF5_USE_FILE_LOCKING", "FALSE").output().expect("run mre-sim")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Simulates the quickstart on a 64 × 64 grid into `dir/name`.
fn simulate(dir: &Path, name: &str) -> PathBuf {
    let cfg = root().join("configs/quickstart.toml");
    let o = run(&[cfg.to_str().unwrap(), "--output", name, "--set", "phantom.shape=[1,64,64]", "--set", "output.figures=false", "-q"], dir);
    assert!(o.status.success(), "{}", text(&o));
    dir.join(name)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    assert!(!v.is_empty());
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Inverts `data` with AHI and checks the median G' (3000 Pa) and G'' (300 Pa).
fn check_ahi(dir: &Path, data: &Path, extra: &[&str]) -> mre_io::hdf5::MreResult {
    let mut args = vec!["invert", data.to_str().unwrap(), "--method", "ahi"];
    args.extend_from_slice(extra);
    let o = run(&args, dir);
    assert!(o.status.success(), "{}", text(&o));
    let stem = data.file_stem().unwrap().to_string_lossy();
    let out = data.with_file_name(format!("{stem}-ahi.h5"));
    let r = mre_io::hdf5::read_mre_result(&out).unwrap();
    let g1 = median(r.storage_modulus_pa.iter().copied().collect());
    let g2 = median(r.loss_modulus_pa.iter().copied().collect());
    assert!((g1 - 3000.0).abs() < 300.0, "median G' = {g1} Pa");
    assert!((g2 - 300.0).abs() < 100.0, "median G'' = {g2} Pa");
    r
}

#[test]
fn ahi_recovers_the_quickstart_modulus_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path(), "q.h5");
    let r = check_ahi(dir.path(), &data, &[]);
    assert_eq!(r.provenance.method, "ahi");
    assert!(r.provenance.source_data.ends_with("q.h5"));
    assert!(!r.regions.is_empty());
    assert!(r.regions.iter().all(|g| (g.storage_mean_pa - 3000.0).abs() < 300.0), "{:?}", r.regions);
    assert!(r.phase_angle_rad.is_some() && r.abs_modulus_pa.is_some());
    for png in ["q-ahi-storage-modulus.png", "q-ahi-phase-angle.png"] {
        assert!(dir.path().join(png).exists(), "{png}");
    }
    // The result is not overwritten without --force (exit 3), and is with it.
    let before = std::fs::metadata(dir.path().join("q-ahi.h5")).unwrap().modified().unwrap();
    let o = run(&["invert", "q.h5", "--method", "ahi"], dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("--force"));
    assert_eq!(std::fs::metadata(dir.path().join("q-ahi.h5")).unwrap().modified().unwrap(), before);
    let o = run(&["invert", "q.h5", "--method", "ahi", "--force", "--filter", "gaussian", "--output", "g.h5", "--no-figures"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.path().join("g.h5").exists());
    assert!(!dir.path().join("g-storage-modulus.png").exists());
}

#[test]
fn mdev_over_three_frequencies_and_butterworth() {
    // The quickstart's plane wave at 60, 70 and 80 Hz on 64 × 64.
    let dir = tempfile::tempdir().unwrap();
    let cfg = root().join("configs/quickstart.toml");
    let args = [
        cfg.to_str().unwrap(),
        "--output",
        "m.h5",
        "--set",
        "phantom.shape=[1,64,64]",
        "--set",
        "motion.frequencies_hz=[60.0, 70.0, 80.0]",
    ];
    let o = run(&[&args[..], &["--set", "output.figures=false", "-q"]].concat(), dir.path());
    assert!(o.status.success(), "{}", text(&o));
    for (method, filter) in [("mdev", "none"), ("mdev", "butterworth"), ("ahi", "butterworth")] {
        let out = format!("{method}-{filter}.h5");
        let o = run(&["invert", "m.h5", "--method", method, "--filter", filter, "--output", &out, "--no-figures"], dir.path());
        assert!(o.status.success(), "{method} {filter}: {}", text(&o));
        let r = mre_io::hdf5::read_mre_result(&dir.path().join(&out)).unwrap();
        let g1 = median(r.storage_modulus_pa.iter().copied().collect());
        let g2 = median(r.loss_modulus_pa.iter().copied().collect());
        println!("{method} {filter}: median G' {g1:.0} Pa, G'' {g2:.0} Pa");
        assert!((g1 - 3000.0).abs() < 300.0, "{method} {filter}: median G' = {g1} Pa");
        assert!((g2 - 300.0).abs() < 100.0, "{method} {filter}: median G'' = {g2} Pa");
        assert_eq!(r.provenance.method, method);
    }
}

#[test]
fn config_invert_section_simulates_and_inverts_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let config_text =
        std::fs::read_to_string(root().join("configs/quickstart.toml")).unwrap() + "\n[invert]\nmethod = \"ahi\"\nfilter = \"gaussian\"\n";
    let cfg = dir.path().join("qi.toml");
    std::fs::write(&cfg, config_text).unwrap();
    let args = [cfg.to_str().unwrap(), "--output", "qi.h5", "--set", "phantom.shape=[1,64,64]", "--set", "output.figures=false", "-q"];
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let r = mre_io::hdf5::read_mre_result(&dir.path().join("qi-ahi.h5")).unwrap();
    let g1 = median(r.storage_modulus_pa.iter().copied().collect());
    assert!((g1 - 3000.0).abs() < 300.0, "median G' = {g1} Pa");
    // A second run refuses before simulating: the data file and the result exist.
    let o = run(&args, dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    std::fs::remove_file(dir.path().join("qi.h5")).unwrap();
    let o = run(&args, dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("[invert]"), "{}", text(&o));
    assert!(!dir.path().join("qi.h5").exists(), "nothing simulated when the result exists");
    // A bad method is a config error naming the key.
    let bad = std::fs::read_to_string(&cfg).unwrap().replace("method = \"ahi\"", "method = \"fem\"");
    std::fs::write(&cfg, bad).unwrap();
    let o = run(&args, dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("invert.method") || text(&o).contains("method"), "{}", text(&o));
}

#[test]
fn ahi_from_phase_images_and_kspace() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path(), "q.h5");
    let from_wave = median(check_ahi(dir.path(), &data, &["--no-figures"]).storage_modulus_pa.iter().copied().collect());
    // Drop the higher levels one by one: /phase, then /images, then /kspace is used.
    let levels = [
        ("p.h5", vec!["wave"], "/phase"),
        ("i.h5", vec!["wave", "phase"], "/images"),
        ("k.h5", vec!["wave", "phase", "images"], "/kspace"),
    ];
    for (name, drop, used) in levels {
        let copy = dir.path().join(name);
        std::fs::copy(&data, &copy).unwrap();
        let f = hdf5::File::open_rw(&copy).unwrap();
        for d in drop {
            f.unlink(d).unwrap();
        }
        drop_file(f);
        for unwrap in ["laplacian", "masked"] {
            let r = check_ahi(dir.path(), &copy, &["--no-figures", "--force", "--unwrap", unwrap]);
            let level = r.provenance.extra.iter().find(|(k, _)| k == "data_level").map(|(_, v)| v.clone());
            assert_eq!(level.as_deref(), Some(used), "{:?}", r.provenance);
            // The same G' as from the /wave the simulator reconstructed.
            let g = median(r.storage_modulus_pa.iter().copied().collect());
            println!("{used} ({unwrap} unwrapping): median G' {g:.1} Pa, from /wave {from_wave:.1} Pa");
            assert!((g / from_wave - 1.0).abs() < 0.01, "{used} {unwrap}: {g} vs {from_wave}");
        }
    }
}

fn drop_file(f: hdf5::File) {
    f.flush().unwrap();
    f.close().unwrap();
}

/// A bad-input case: description, edit of a copy of the data, words the error must contain.
type Edit = Box<dyn Fn(&hdf5::File)>;

fn rewrite_wave(f: &hdf5::File, edit: impl Fn(&mut Array5<Complex64>)) {
    let mut w: Array5<Complex64> = f.dataset("wave").unwrap().read().unwrap();
    edit(&mut w);
    f.unlink("wave").unwrap();
    f.new_dataset_builder().with_data(&w).create("wave").unwrap();
}

fn bad_cases() -> Vec<(&'static str, Edit, Vec<&'static str>)> {
    vec![
        (
            "NaN in /wave",
            Box::new(|f: &hdf5::File| rewrite_wave(f, |w| w[[0, 0, 0, 30, 30]] = Complex64::new(f64::NAN, 0.0))),
            vec!["/wave", "NaN"],
        ),
        (
            "NaN in /phase",
            Box::new(|f: &hdf5::File| {
                let mut p: ndarray::Array6<f64> = f.dataset("phase").unwrap().read().unwrap();
                p[[0, 0, 1, 0, 3, 4]] = f64::INFINITY;
                f.unlink("phase").unwrap();
                f.new_dataset_builder().with_data(&p).create("phase").unwrap();
            }),
            vec!["/phase", "inf"],
        ),
        (
            "zero frequency",
            Box::new(|f: &hdf5::File| {
                let g = f.group("acquisition").unwrap();
                g.delete_attr("frequencies_hz").unwrap();
                g.new_attr_builder().with_data(&Array1::from(vec![0.0])).create("frequencies_hz").unwrap();
            }),
            vec!["frequencies_hz", "positive"],
        ),
        (
            "no primary data",
            Box::new(|f: &hdf5::File| {
                for d in ["wave", "phase", "images", "kspace", "kspace_negative"] {
                    if f.link_exists(d) {
                        f.unlink(d).unwrap();
                    }
                }
            }),
            vec!["/wave", "/phase", "missing"],
        ),
        (
            "mask of the wrong shape",
            Box::new(|f: &hdf5::File| {
                f.unlink("mask").unwrap();
                f.new_dataset_builder().with_data(&Array3::<u8>::ones((1, 32, 32))).create("mask").unwrap();
            }),
            vec!["/mask", "[1, 32, 32]", "nz, ny, nx"],
        ),
        (
            "frequencies disagree with /wave",
            Box::new(|f: &hdf5::File| rewrite_wave(f, |w| *w = Array5::zeros((2, 1, 1, 64, 64)))),
            vec!["/wave", "nf = 1"],
        ),
        (
            "a noise_std of the wrong length",
            Box::new(|f: &hdf5::File| {
                f.new_dataset_builder().with_data(&Array1::from(vec![0.1, 0.2, 0.3])).create("noise_std").unwrap();
            }),
            vec!["/noise_std", "[nf]"],
        ),
        (
            "not an mre-data file",
            Box::new(|f: &hdf5::File| {
                f.delete_attr("format").unwrap();
            }),
            vec!["format", "mre-data"],
        ),
    ]
}

#[test]
fn bad_input_gives_exit_2_a_named_dataset_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path(), "q.h5");
    for (i, (what, edit, words)) in bad_cases().into_iter().enumerate() {
        let copy = dir.path().join(format!("bad{i}.h5"));
        std::fs::copy(&data, &copy).unwrap();
        let f = hdf5::File::open_rw(&copy).unwrap();
        edit(&f);
        drop_file(f);
        let o = run(&["invert", copy.to_str().unwrap(), "--method", "ahi"], dir.path());
        let msg = text(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {msg}");
        assert!(msg.contains(&format!("bad{i}.h5")), "{what}: the file is not named: {msg}");
        for w in words {
            assert!(msg.contains(w), "{what}: {w:?} missing from: {msg}");
        }
        assert!(!dir.path().join(format!("bad{i}-ahi.h5")).exists(), "{what}: output written");
        assert!(!dir.path().join(format!("bad{i}-ahi-storage-modulus.png")).exists(), "{what}: figure written");
    }
    // A missing file and an unknown method are input errors too.
    let o = run(&["invert", "absent.h5", "--method", "ahi"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("absent.h5"));
    let o = run(&["invert", "q.h5", "--method", "magic"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("magic"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-ahi") || n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// MATLAB's complex type: compound members `real`, `imag`.
#[derive(H5Type, Clone, Copy, Debug)]
#[repr(C)]
struct MatComplex {
    real: f64,
    imag: f64,
}

#[test]
fn import_matlab_wave_and_phase() {
    let dir = tempfile::tempdir().unwrap();
    let mat = dir.path().join("in.mat");
    // MATLAB size (rows=6, cols=5, slices=1, c=1, f=2) appears in HDF5 as [2, 1, 1, 5, 6].
    let value = |f: usize, r: usize, c: usize| Complex64::new((100 * f + 10 * r + c) as f64 * 1e-6, -(r as f64) * 1e-6);
    let wave_h5 = Array::from_shape_fn((2, 1, 1, 5, 6), |(f, _, _, c, r)| {
        let v = value(f, r, c);
        MatComplex { real: v.re, imag: v.im }
    });
    // Phase: MATLAB (rows=4, cols=3, slices=2, t=4) with c = f = 1 dropped: HDF5 [4, 2, 3, 4].
    let phase_h5 = Array::from_shape_fn((4, 2, 3, 4), |(t, s, c, r)| (t * 1000 + s * 100 + c * 10 + r) as f64 * 1e-4);
    // Mask: MATLAB (rows=4, cols=3, slices=2) → HDF5 [2, 3, 4]; one voxel outside.
    let mask_h5 = Array::from_shape_fn((2, 3, 4), |(s, c, r)| u8::from(!(s == 1 && c == 2 && r == 3)));
    let f = hdf5::File::create(&mat).unwrap();
    f.new_dataset_builder().with_data(&wave_h5).create("U").unwrap();
    f.new_dataset_builder().with_data(&phase_h5).create("PH").unwrap();
    f.new_dataset_builder().with_data(&mask_h5).create("M").unwrap();
    drop_file(f);

    let o = run(
        &[
            "import",
            "in.mat",
            "--dataset",
            "U",
            "--layout",
            "wave",
            "--frequencies-hz",
            "30,40",
            "--voxel-size-mm",
            "3,2,2",
            "--components",
            "z",
            "--output",
            "new/dir/w.h5",
        ],
        dir.path(),
    );
    // A missing output directory is created, as a run and `invert` do.
    assert!(o.status.success(), "{}", text(&o));
    let d = mre_io::hdf5::read_mre_data(&dir.path().join("new/dir/w.h5")).unwrap();
    let w = d.wave.unwrap();
    assert_eq!(w.shape(), [2, 1, 1, 6, 5]); // [nf, ncomp, nz = slices, ny = rows, nx = cols]
    for ((f, _, _, r, c), v) in w.indexed_iter() {
        assert_eq!(*v, value(f, r, c));
    }
    assert_eq!(d.frequencies_hz, [30.0, 40.0]);
    assert!((d.voxel_size_m[0] - 0.003).abs() < 1e-15);

    let args = [
        "import",
        "in.mat",
        "--dataset",
        "PH",
        "--layout",
        "phase",
        "--frequencies-hz",
        "50",
        "--voxel-size-mm",
        "2,2,2",
        "--components",
        "x",
        "--encoding-efficiency-rad-per-m",
        "1000",
        "--mask-dataset",
        "M",
        "--output",
        "p.h5",
    ];
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let d = mre_io::hdf5::read_mre_data(&dir.path().join("p.h5")).unwrap();
    let p = d.phase.unwrap();
    assert_eq!(p.shape(), [1, 1, 4, 2, 4, 3]);
    for ((_, _, t, s, r, c), v) in p.indexed_iter() {
        assert_eq!(*v, (t * 1000 + s * 100 + c * 10 + r) as f64 * 1e-4);
    }
    let m = d.mask.unwrap();
    assert_eq!(m.shape(), [2, 4, 3]);
    assert_eq!(m[[1, 3, 2]], 0);
    assert_eq!(m.iter().filter(|&&v| v == 1).count(), 23);

    // Existing output → 3; a frequency count that does not match → 2, naming the dataset.
    let o = run(&args, dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let mut bad = args;
    bad[7] = "50,60";
    bad[17] = "p2.h5";
    let o = run(&bad, dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("/PH") && text(&o).contains("frequencies"), "{}", text(&o));
    assert!(!dir.path().join("p2.h5").exists());
    let o = run(
        &[
            "import",
            "in.mat",
            "--dataset",
            "nope",
            "--layout",
            "wave",
            "--frequencies-hz",
            "30",
            "--voxel-size-mm",
            "2,2,2",
            "--output",
            "x.h5",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("/nope"), "{}", text(&o));
}

#[test]
fn import_nifti_phase() {
    // A NIfTI phase volume (x, y, z, offsets) = (6, 5, 2, 4), values in rad.
    let dir = tempfile::tempdir().unwrap();
    let phase = ndarray::Array4::<f32>::from_shape_fn((6, 5, 2, 4), |(x, y, z, t)| {
        (0.1 * x as f32 - 0.2 * y as f32 + 0.3 * z as f32) * (t as f32 - 1.5)
    });
    let nii = dir.path().join("phase.nii.gz");
    nifti::writer::WriterOptions::new(&nii).write_nifti(&phase).unwrap();
    let args = [
        "import",
        "phase.nii.gz",
        "--layout",
        "phase",
        "--frequencies-hz",
        "60",
        "--voxel-size-mm",
        "5,2,2",
        "--components",
        "z",
        "--encoding-efficiency-rad-per-m",
        "1000",
        "--output",
        "n.h5",
    ];
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let d = mre_io::hdf5::read_mre_data(&dir.path().join("n.h5")).unwrap();
    let p = d.phase.expect("/phase");
    assert_eq!(p.shape(), &[1, 1, 4, 2, 5, 6]);
    for ((x, y, z, t), v) in phase.indexed_iter() {
        assert!((p[[0, 0, t, z, y, x]] - f64::from(*v)).abs() < 1e-6, "({x}, {y}, {z}, {t})");
    }
    // --layout wave is refused for NIfTI; an existing output is not overwritten.
    let mut wave = args.to_vec();
    wave[3] = "wave";
    let o = run(&[&wave[..], &["--force"]].concat(), dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&args, dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}
