//! Hostile input files through the binary (issue 17): NIfTI headers that the import used to
//! misread or panic on, HDF5/MAT files that declare more data than they hold, and import
//! options whose errors named the output file. Each refused case exits 2 with a message naming
//! the input file and the field, dataset or option, and writes nothing; the size cases run
//! under `ulimit -v` with a deadline, so an allocation of the declared size aborts the test
//! instead of passing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{run, text, write_bessel_data};
use num_complex::Complex64;

/// The tests of this file one at a time: a child `mre-sim` started by one test inherits the
/// descriptors of the HDF5 files another test has open at that moment, and with them the
/// HDF5 library's lock on the file, so that test's next open of its own file fails
/// ("unable to lock file"). Each test holds this for its whole body.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Wall-time limit of the size cases.
const DEADLINE: Duration = Duration::from_secs(5);

/// `mre-sim args` in `cwd` with a 1 GiB memory budget under the bounds of
/// [`common::run_bounded`] (`ulimit -v`, peak RSS under 1 GiB, killed after [`DEADLINE`]).
fn run_bounded(args: &[&str], cwd: &Path) -> Output {
    run_with_budget(args, cwd, "1G")
}

/// [`run_bounded`] with the memory budget `budget` (`MRE_SIM_MAX_MEMORY`).
fn run_with_budget(args: &[&str], cwd: &Path, budget: &str) -> Output {
    common::run_bounded(args, cwd, &[("MRE_SIM_MAX_MEMORY", budget)], DEADLINE)
}

/// Asserts exit code 2, a message containing every word of `words`, and no file `output`.
#[track_caller]
fn refused(o: &Output, words: &[&str], output: &Path) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    for w in words {
        assert!(t.contains(w), "message lacks {w:?}:\n{t}");
    }
    assert!(!t.contains("panicked"), "{t}");
    assert!(!output.exists(), "{} was written", output.display());
}

// ------------------------------------------------------------------------------- NIfTI --

/// A single-file little-endian NIfTI-1 image: `dims` (dim[1..]), `datatype`/`bitpix`,
/// `vox_offset` (the bytes between 352 and it are filled with 0x7f, standing for extensions),
/// `scl_slope`/`scl_inter`, then `data`.
struct Nii {
    dims: Vec<i16>,
    datatype: i16,
    bitpix: i16,
    vox_offset: f32,
    slope: f32,
    inter: f32,
    data: Vec<u8>,
}

impl Nii {
    fn float32(dims: &[i16], values: &[f32]) -> Self {
        Nii {
            dims: dims.to_vec(),
            datatype: 16,
            bitpix: 32,
            vox_offset: 352.0,
            slope: 0.0,
            inter: 0.0,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut h = vec![0u8; 348];
        h[0..4].copy_from_slice(&348i32.to_le_bytes());
        h[40..42].copy_from_slice(&(self.dims.len() as i16).to_le_bytes());
        for (i, d) in self.dims.iter().enumerate() {
            h[42 + 2 * i..44 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        h[70..72].copy_from_slice(&self.datatype.to_le_bytes());
        h[72..74].copy_from_slice(&self.bitpix.to_le_bytes());
        for i in 0..8 {
            h[76 + 4 * i..80 + 4 * i].copy_from_slice(&1f32.to_le_bytes());
        }
        h[108..112].copy_from_slice(&self.vox_offset.to_le_bytes());
        h[112..116].copy_from_slice(&self.slope.to_le_bytes());
        h[116..120].copy_from_slice(&self.inter.to_le_bytes());
        h[344..348].copy_from_slice(b"n+1\0");
        h.extend_from_slice(&[1, 0, 0, 0]); // extension flag
        let start = (self.vox_offset as usize).max(352);
        h.resize(start, 0x7f);
        h.extend_from_slice(&self.data);
        h
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, self.bytes()).unwrap();
        p
    }
}

/// The arguments of `mre-sim import NAME --layout phase` of a one-frequency, one-component
/// volume to `out.h5`.
fn nifti_args(name: &str) -> Vec<&str> {
    vec![
        "import",
        name,
        "--layout",
        "phase",
        "--frequencies-hz",
        "60",
        "--voxel-size-mm",
        "2,2,2",
        "--components",
        "z",
        "--encoding-efficiency-rad-per-m",
        "1000",
        "--output",
        "out.h5",
    ]
}

/// `mre-sim import NAME --layout phase` (see [`nifti_args`]).
fn import_nifti(dir: &Path, name: &str) -> Output {
    run(&nifti_args(name), dir)
}

/// A (x, y, z, offsets) = (3, 2, 1, 2) test volume, value = index / 10.
fn ramp() -> Vec<f32> {
    (0..12).map(|i| i as f32 / 10.0).collect()
}

/// `/phase` of `out.h5` in NIfTI order (x fastest): `[f, c, t, z, y, x]` read back in the file's
/// own order t, z, y, x.
fn phase_in_file_order(dir: &Path) -> Vec<f64> {
    let d = mre_io::hdf5::read_mre_data(&dir.join("out.h5")).unwrap();
    let p = d.phase.expect("/phase");
    let mut v = Vec::new();
    for t in 0..p.shape()[2] {
        for z in 0..p.shape()[3] {
            for y in 0..p.shape()[4] {
                for x in 0..p.shape()[5] {
                    v.push(p[[0, 0, t, z, y, x]]);
                }
            }
        }
    }
    v
}

#[test]
fn nifti_rgb_and_other_unsupported_datatypes_are_refused_by_name() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    for (code, bitpix, name) in [(128, 24, "RGB24"), (2304, 32, "RGBA32"), (1536, 128, "FLOAT128"), (1, 1, "BINARY"), (77, 8, "77")] {
        let mut n = Nii::float32(&[3, 2, 1, 2], &ramp());
        n.datatype = code;
        n.bitpix = bitpix;
        n.write(dir.path(), "rgb.nii");
        let o = import_nifti(dir.path(), "rgb.nii");
        refused(&o, &["rgb.nii", "datatype", name, "not supported"], &dir.path().join("out.h5"));
    }
}

#[test]
fn nifti_vox_offset_is_honoured_or_refused() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // The volume after 672 bytes of extensions (filled with 0x7f, which as float32 would read
    // as 3.4e38): read from byte 1024, bit for bit.
    let mut n = Nii::float32(&[3, 2, 1, 2], &ramp());
    n.vox_offset = 1024.0;
    n.write(dir.path(), "ext.nii");
    let o = import_nifti(dir.path(), "ext.nii");
    assert!(o.status.success(), "{}", text(&o));
    let want: Vec<f64> = ramp().iter().map(|&v| f64::from(v)).collect();
    assert_eq!(phase_in_file_order(dir.path()), want);
    std::fs::remove_file(dir.path().join("out.h5")).unwrap();

    // Before the end of the header, fractional, or past the end of the file: refused by name.
    for (vox, words) in [
        (100.0, vec!["vox_offset = 100", "at least 348"]),
        (352.5, vec!["vox_offset = 352.5", "whole number"]),
        (1.0e6, vec!["vox_offset = 1000000", "after the end of the file"]),
    ] {
        n.vox_offset = vox;
        let p = dir.path().join("bad.nii");
        let mut bytes = n.bytes();
        if vox > 10000.0 {
            // The file as the header describes it without the padding up to vox_offset.
            bytes.truncate(352);
            bytes.extend(ramp().iter().flat_map(|v| v.to_le_bytes()));
        }
        std::fs::write(&p, bytes).unwrap();
        let o = import_nifti(dir.path(), "bad.nii");
        refused(&o, &[&["bad.nii"], &words[..]].concat(), &dir.path().join("out.h5"));
    }
}

#[test]
fn nifti_complex64_is_read_as_complex_images() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<Complex64> = (0..12).map(|i| Complex64::from_polar(1.0 + i as f64, 0.25 * i as f64 - 1.3)).collect();
    let mut n = Nii::float32(&[3, 2, 1, 2], &[]);
    n.datatype = 32;
    n.bitpix = 64;
    n.data = values.iter().flat_map(|c| [(c.re as f32).to_le_bytes(), (c.im as f32).to_le_bytes()].concat()).collect();
    n.write(dir.path(), "c.nii");
    let o = import_nifti(dir.path(), "c.nii");
    assert!(o.status.success(), "{}", text(&o));
    let d = mre_io::hdf5::read_mre_data(&dir.path().join("out.h5")).unwrap();
    assert!(d.phase.is_none());
    let im = d.images.expect("/images");
    assert_eq!(im.shape(), [1, 1, 2, 1, 2, 3]);
    let mut k = 0;
    for t in 0..2 {
        for y in 0..2 {
            for x in 0..3 {
                let (got, want) = (im[[0, 0, t, 0, y, x]], values[k]);
                assert!((got - want).norm() < 1e-5 * want.norm(), "voxel {k}: {got} vs {want}");
                k += 1;
            }
        }
    }
}

#[test]
fn nifti_scaling_is_honoured_or_refused() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // int16 counts scaled to radians: value = 0.001·count − 1.
    let counts: Vec<i16> = (0..12).map(|i| 100 * i - 300).collect();
    let mut n = Nii::float32(&[3, 2, 1, 2], &[]);
    n.datatype = 4;
    n.bitpix = 16;
    n.slope = 0.001;
    n.inter = -1.0;
    n.data = counts.iter().flat_map(|c| c.to_le_bytes()).collect();
    n.write(dir.path(), "s.nii");
    let o = import_nifti(dir.path(), "s.nii");
    assert!(o.status.success(), "{}", text(&o));
    let got = phase_in_file_order(dir.path());
    for (g, c) in got.iter().zip(&counts) {
        let want = f64::from(0.001f32) * f64::from(*c) - 1.0;
        assert!((g - want).abs() < 1e-12, "{g} vs {want}");
    }
    std::fs::remove_file(dir.path().join("out.h5")).unwrap();

    // An infinite slope, and an offset of complex values: refused by name.
    n.slope = f32::INFINITY;
    n.write(dir.path(), "inf.nii");
    refused(&import_nifti(dir.path(), "inf.nii"), &["inf.nii", "scl_slope = inf"], &dir.path().join("out.h5"));
    n.slope = 2.0;
    n.inter = 0.5;
    n.datatype = 32;
    n.bitpix = 64;
    n.data = vec![0; 12 * 8];
    n.write(dir.path(), "ci.nii");
    refused(&import_nifti(dir.path(), "ci.nii"), &["ci.nii", "scl_inter = 0.5", "COMPLEX64"], &dir.path().join("out.h5"));
}

#[test]
fn nifti_dim_errors_name_the_right_field() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut n = Nii::float32(&[3, 0, 1, 2], &ramp());
    n.write(dir.path(), "d.nii");
    refused(&import_nifti(dir.path(), "d.nii"), &["d.nii", "dim[2] = 0", "positive"], &dir.path().join("out.h5"));
    n.dims = vec![3, 2, -4, 2];
    n.write(dir.path(), "d.nii");
    refused(&import_nifti(dir.path(), "d.nii"), &["d.nii", "dim[3] = -4"], &dir.path().join("out.h5"));
    let mut bytes = Nii::float32(&[3, 2, 1, 2], &ramp()).bytes();
    bytes[40..42].copy_from_slice(&9i16.to_le_bytes());
    std::fs::write(dir.path().join("d.nii"), bytes).unwrap();
    refused(&import_nifti(dir.path(), "d.nii"), &["d.nii", "dim[0] = 9"], &dir.path().join("out.h5"));
}

#[test]
fn nifti_truncated_or_oversized_volumes_are_refused_before_allocation() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    // Truncated by one voxel.
    let mut bytes = Nii::float32(&[3, 2, 1, 2], &ramp()).bytes();
    bytes.truncate(bytes.len() - 4);
    std::fs::write(dir.path().join("t.nii"), &bytes).unwrap();
    refused(&import_nifti(dir.path(), "t.nii"), &["t.nii", "truncated", "[3, 2, 1, 2]"], &out);
    // 32767² × 32767 × 16 float64 voxels (1 PiB) declared in a file of 352 bytes, plain and
    // compressed: refused by the memory budget, under ulimit and the deadline.
    let mut huge = Nii::float32(&[32767, 32767, 32767, 16], &[]);
    huge.datatype = 64;
    huge.bitpix = 64;
    huge.write(dir.path(), "huge.nii");
    let gz = dir.path().join("huge.nii.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &huge.bytes()).unwrap();
    enc.finish().unwrap();
    for name in ["huge.nii", "huge.nii.gz"] {
        let o = run_bounded(&nifti_args(name), dir.path());
        refused(&o, &[name, "[32767, 32767, 32767, 16]", "memory budget", "MRE_SIM_MAX_MEMORY"], &out);
    }
    // 16 GiB declared, within a budget of 64 GiB but beyond the ulimit, in a compressed file
    // that holds 48 bytes: refused as truncated without allocating the declared volume.
    let mut big = Nii::float32(&[4096, 4096, 128, 1], &ramp());
    big.datatype = 64;
    big.bitpix = 64;
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(dir.path().join("big.nii.gz")).unwrap(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &big.bytes()).unwrap();
    enc.finish().unwrap();
    let o = run_with_budget(&nifti_args("big.nii.gz"), dir.path(), "64G");
    refused(&o, &["big.nii.gz", "truncated", "[4096, 4096, 128, 1]"], &out);
}

// ----------------------------------------------------------------------- HDF5 and MAT --

/// Adds to the HDF5 file `path` a dataset `name` of complex values (`{r, i}`) declaring `shape`
/// without storing its data (contiguous, never allocated: the file stays small), or, with
/// `chunked`, as deflated chunks of fill values.
fn declare_complex(path: &Path, name: &str, shape: &[usize], chunked: bool) {
    let f = hdf5::File::append(path).unwrap();
    if f.link_exists(name) {
        f.unlink(name).unwrap();
    }
    let b = f.new_dataset::<Complex64>().shape(shape);
    if chunked {
        let chunk: Vec<usize> = shape.iter().map(|&n| n.min(256)).collect();
        b.chunk(chunk).deflate(9).create(name).unwrap();
    } else {
        b.create(name).unwrap();
    }
    f.close().unwrap();
}

/// An mre-data file whose `/wave` declares `[1, 1, 1, 100000, 100000]` (149 GiB) in a small file.
fn hostile_mre_data(dir: &Path, name: &str, chunked: bool) -> PathBuf {
    let p = write_bessel_data(dir, name, 8, false);
    let f = hdf5::File::append(&p).unwrap();
    f.unlink("mask").unwrap();
    f.close().unwrap();
    declare_complex(&p, "/wave", &[1, 1, 1, 100_000, 100_000], chunked);
    assert!(std::fs::metadata(&p).unwrap().len() < 1 << 20, "the hostile file is small");
    p
}

#[test]
fn invert_refuses_a_wave_larger_than_the_memory_budget() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    for chunked in [false, true] {
        hostile_mre_data(dir.path(), "w.h5", chunked);
        let o = run_bounded(&["invert", "w.h5", "--method", "mdev", "--output", "r.h5"], dir.path());
        refused(&o, &["w.h5", "dataset /wave", "[1, 1, 1, 100000, 100000]", "memory budget"], &dir.path().join("r.h5"));
        std::fs::remove_file(dir.path().join("w.h5")).unwrap();
    }
}

#[test]
fn a_run_refuses_a_motion_file_larger_than_the_memory_budget() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    hostile_mre_data(dir.path(), "motion.h5", false);
    let config = r#"
[phantom]
shape = [1, 16, 16]
voxel_size_m = [0.005, 0.002, 0.002]
spins_per_voxel = 1
background = "gel"

[[tissue]]
name = "gel"
t1_s = 0.8
t2_s = 0.05
storage_modulus_pa = 2000.0
loss_modulus_pa = 200.0

[motion]
source = "hdf5"
frequencies_hz = [60.0]
file = "motion.h5"

[sequence]
tr_s = 0.03
te_s = 0.02
flip_angle_deg = 15.0
dummy_scans = 2

[sequence.meg]
amplitude_t_per_m = 0.03
"#;
    std::fs::write(dir.path().join("run.toml"), config).unwrap();
    let o = run_bounded(&["run.toml", "-q", "--output", "o.h5"], dir.path());
    refused(&o, &["motion.h5", "dataset /wave", "memory budget", "motion.file"], &dir.path().join("o.h5"));
}

/// `mre-sim import in.mat --dataset W --layout wave --frequencies-hz 60 --voxel-size-mm 2,2,2
/// --components z --output out.h5` with the options in `set` replaced or added, under the
/// bounds of [`run_bounded`].
fn import_mat(dir: &Path, set: &[&str]) -> Output {
    let mut options = vec![
        ("--dataset", "W"),
        ("--layout", "wave"),
        ("--frequencies-hz", "60"),
        ("--voxel-size-mm", "2,2,2"),
        ("--components", "z"),
        ("--output", "out.h5"),
    ];
    for kv in set.chunks(2) {
        match options.iter_mut().find(|(k, _)| *k == kv[0]) {
            Some(o) => o.1 = kv[1],
            None => options.push((kv[0], kv[1])),
        }
    }
    // `--key=value`, so that negative numbers are values.
    let options: Vec<String> = options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["import", "in.mat"];
    args.extend(options.iter().map(String::as_str));
    run_bounded(&args, dir)
}

#[test]
fn import_refuses_a_mat_array_larger_than_the_memory_budget() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mat = dir.path().join("in.mat");
    hdf5::File::create(&mat).unwrap().close().unwrap();
    for chunked in [false, true] {
        // MATLAB (rows, cols) = 100000², stored reversed.
        declare_complex(&mat, "W", &[100_000, 100_000], chunked);
        let o = import_mat(dir.path(), &[]);
        refused(&o, &["in.mat", "dataset /W", "[100000, 100000]", "memory budget"], &dir.path().join("out.h5"));
    }
    // A mask that declares 100000² values beside a small array.
    let f = hdf5::File::append(&mat).unwrap();
    f.unlink("W").unwrap();
    f.close().unwrap();
    let small = ndarray::Array2::<Complex64>::from_elem((3, 4), Complex64::new(1e-6, 0.0));
    let f = hdf5::File::append(&mat).unwrap();
    f.new_dataset_builder().with_data(&small).create("W").unwrap();
    f.new_dataset::<f64>().shape([100_000, 100_000]).create("M").unwrap();
    f.close().unwrap();
    let o = import_mat(dir.path(), &["--mask-dataset", "M"]);
    refused(&o, &["in.mat", "dataset /M", "memory budget"], &dir.path().join("out.h5"));
}

// ------------------------------------------------------------------------ import messages --

#[test]
fn import_errors_name_the_input_or_the_option_not_the_output() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mat = dir.path().join("in.mat");
    let mut w = ndarray::Array2::<Complex64>::from_elem((3, 4), Complex64::new(1e-6, 0.0));
    let f = hdf5::File::create(&mat).unwrap();
    f.new_dataset_builder().with_data(&w).create("W").unwrap();
    f.new_dataset_builder().with_data(&ndarray::Array2::<f64>::ones((5, 5))).create("M5").unwrap();
    w[[1, 2]] = Complex64::new(f64::NAN, 0.0);
    f.new_dataset_builder().with_data(&w).create("WNAN").unwrap();
    f.close().unwrap();
    let out = dir.path().join("out.h5");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--frequencies-hz", "0"], vec!["--frequencies-hz 0", "positive"]),
        (vec!["--frequencies-hz", "-60"], vec!["--frequencies-hz -60"]),
        (vec!["--voxel-size-mm", "0,2,2"], vec!["--voxel-size-mm 0,2,2", "positive"]),
        (vec!["--voxel-size-mm", "2,2"], vec!["--voxel-size-mm 2,2", "three"]),
        (vec!["--components", "q"], vec!["--components \"q\"", "xyz"]),
        (vec!["--density-kg-m3", "-1"], vec!["--density-kg-m3 -1"]),
        (vec!["--encoding-efficiency-rad-per-m", "1,2"], vec!["--encoding-efficiency-rad-per-m 1,2", "one per frequency"]),
        (vec!["--dataset", "WNAN"], vec!["in.mat", "dataset /WNAN", "NaN", "[2, 1"]),
        (vec!["--mask-dataset", "M5"], vec!["in.mat", "mask dataset /M5", "[5, 5, 1]", "dataset /W"]),
    ];
    for (extra, words) in cases {
        let o = import_mat(dir.path(), &extra);
        refused(&o, &words, &out);
        assert!(!text(&o).contains("out.h5"), "{extra:?} names the output:\n{}", text(&o));
    }
    // The phase layout needs ξ: named as the option.
    let o = import_mat(dir.path(), &["--layout", "phase"]);
    refused(&o, &["--encoding-efficiency-rad-per-m", "required with --layout phase"], &out);
    assert!(!text(&o).contains("out.h5"), "{}", text(&o));
}
