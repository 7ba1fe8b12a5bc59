//! Property tests of the mre-data reader ([`read_mre_data`], [`read_labels`]) on small HDF5
//! files with random attributes and datasets (names, ranks, axis lengths, stored types, declared
//! shapes far beyond the data they hold) and random truncation: the reader never panics or
//! aborts, and every error names the file.
//!
//! `PROPTEST_CASES=N` runs N cases per property (default 48; `scripts/fuzz.sh` runs more).

use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::H5Type;
use mre_io::hdf5::{read_labels, read_mre_data};
use mre_solver::limits;
use num_complex::Complex64;
use proptest::prelude::*;

/// MATLAB-style complex compound.
#[derive(H5Type, Clone, Copy, Debug, Default)]
#[repr(C)]
struct RealImag {
    real: f64,
    imag: f64,
}

/// The stored type of a random dataset.
#[derive(Debug, Clone, Copy)]
enum Kind {
    F64,
    F32,
    I32,
    U8,
    Bool,
    ComplexRI,
    ComplexRealImag,
}

/// A dataset to create: name, shape, type, fill value, and whether to write its data (only
/// small ones; the others are declared and never allocated).
#[derive(Debug, Clone)]
struct Spec {
    name: &'static str,
    shape: Vec<usize>,
    kind: Kind,
    value: f64,
}

/// Cases per property: `PROPTEST_CASES`, or `default` (a few seconds in CI).
fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases: n, failure_persistence: None, ..ProptestConfig::default() }
}

fn spec() -> impl Strategy<Value = Spec> {
    let name = prop::sample::select(vec![
        "/wave",
        "/phase",
        "/images",
        "/kspace",
        "/kspace_negative",
        "/magnitude",
        "/mask",
        "/labels",
        "/noise_std",
        "/ground_truth/storage_modulus_pa",
        "/ground_truth/loss_modulus_pa",
    ]);
    let axis = prop_oneof![4 => 0usize..4, 1 => Just(100_000usize), 1 => Just(1usize << 31)];
    let kind = prop::sample::select(vec![Kind::F64, Kind::F32, Kind::I32, Kind::U8, Kind::Bool, Kind::ComplexRI, Kind::ComplexRealImag]);
    let value = prop::sample::select(vec![0.0, 1.0, -1.0, 2.0, 70000.0, f64::NAN, f64::INFINITY, 1e300]);
    (name, prop::collection::vec(axis, 0..8), kind, value).prop_map(|(name, shape, kind, value)| Spec { name, shape, kind, value })
}

/// Creates `s` in `f`; setup failures (a shape HDF5 itself refuses) are skipped.
fn create(f: &hdf5::File, s: &Spec) {
    if s.name.starts_with("/ground_truth") && !f.link_exists("ground_truth") {
        let _ = f.create_group("ground_truth");
    }
    let n: Option<usize> = s.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if n.is_none() {
        // The hdf5 crate's builder overflows on such shapes: not a file this test can make.
        return;
    }
    let small = n.is_some_and(|n| n <= 4096);
    macro_rules! make {
        ($t:ty, $v:expr) => {{
            if let Ok(ds) = f.new_dataset::<$t>().shape(s.shape.clone()).create(s.name) {
                if small {
                    let _ = ds.write_raw(&vec![$v; n.unwrap_or(0)]);
                }
            }
        }};
    }
    let v = s.value;
    match s.kind {
        Kind::F64 => make!(f64, v),
        Kind::F32 => make!(f32, v as f32),
        Kind::I32 => make!(i32, v as i32),
        Kind::U8 => make!(u8, v as u8),
        Kind::Bool => make!(bool, v != 0.0),
        Kind::ComplexRI => make!(Complex64, Complex64::new(v, -v)),
        Kind::ComplexRealImag => make!(RealImag, RealImag { real: v, imag: v }),
    }
}

/// Writes the root and `/acquisition` attributes (some of them wrong) and `specs` to `path`.
fn write_file(path: &Path, nf: usize, components: &str, version: i64, specs: &[Spec]) {
    let f = hdf5::File::create(path).unwrap();
    let s: VarLenUnicode = "mre-data".parse().unwrap();
    f.new_attr::<VarLenUnicode>().shape(()).create("format").unwrap().write_scalar(&s).unwrap();
    f.new_attr::<i64>().shape(()).create("version").unwrap().write_scalar(&version).unwrap();
    let acq = f.create_group("acquisition").unwrap();
    let freqs: Vec<f64> = (0..nf).map(|i| 50.0 + 10.0 * i as f64).collect();
    acq.new_attr::<f64>().shape([nf]).create("frequencies_hz").unwrap().write_raw(&freqs).unwrap();
    acq.new_attr::<f64>().shape([3]).create("voxel_size_m").unwrap().write_raw(&[1e-3; 3]).unwrap();
    acq.new_attr::<f64>().shape([nf]).create("encoding_efficiency_rad_per_m").unwrap().write_raw(&vec![1e3; nf]).unwrap();
    let c: VarLenUnicode = components.parse().unwrap();
    acq.new_attr::<VarLenUnicode>().shape(()).create("components").unwrap().write_scalar(&c).unwrap();
    for s in specs {
        if !f.link_exists(s.name) {
            create(&f, s);
        }
    }
    f.close().unwrap();
}

proptest! {
    #![proptest_config(cases(48))]

    /// Random datasets in a small mre-data file, maybe truncated: `read_mre_data` and
    /// `read_labels` return a value or an error naming the file.
    #[test]
    fn random_datasets_and_truncation_never_panic(
        specs in prop::collection::vec(spec(), 1..5),
        nf in 0usize..3,
        components in prop::sample::select(vec!["z", "xyz", "", "q", "zz"]),
        version in prop::sample::select(vec![1i64, 2]),
        cut in prop::option::of(0.0f64..1.0),
    ) {
        // Far below any machine's memory: a declared array beyond it must be refused, not read.
        limits::set_max_memory(64 << 20);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.h5");
        write_file(&path, nf, components, version, &specs);
        if let Some(c) = cut {
            let len = std::fs::metadata(&path).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len((len as f64 * c) as u64).unwrap();
        }
        let name = path.display().to_string();
        if let Err(e) = read_mre_data(&path) {
            prop_assert!(e.to_string().starts_with(&name), "{e}");
        }
        if let Err(e) = read_labels(&path, "/labels") {
            prop_assert!(e.to_string().starts_with(&name), "{e}");
        }
    }
}

#[test]
fn a_declared_wave_beyond_the_budget_is_refused_naming_file_and_dataset() {
    limits::set_max_memory(64 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.h5");
    let wave = Spec { name: "/wave", shape: vec![1, 1, 1, 100_000, 100_000], kind: Kind::ComplexRI, value: 0.0 };
    write_file(&path, 1, "z", 1, &[wave]);
    assert!(std::fs::metadata(&path).unwrap().len() < 100_000);
    let e = read_mre_data(&path).unwrap_err().to_string();
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(e.contains("dataset /wave of shape [1, 1, 1, 100000, 100000] needs at least 149.0 GiB"), "{e}");
    assert!(e.contains("memory budget is 64.0 MiB (--max-memory)"), "{e}");
}

#[test]
fn datasets_that_fit_alone_but_not_together_are_refused() {
    limits::set_max_memory(64 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sum.h5");
    // 40 MiB each: /wave [1, 1, 1, 1620, 1620] complex, /phase [1, 1, 1, 1, 2290, 2290] real.
    let wave = Spec { name: "/wave", shape: vec![1, 1, 1, 1620, 1620], kind: Kind::ComplexRI, value: 0.0 };
    let phase = Spec { name: "/phase", shape: vec![1, 1, 1, 1, 2290, 2290], kind: Kind::F64, value: 0.0 };
    write_file(&path, 1, "z", 1, &[wave, phase]);
    let e = read_mre_data(&path).unwrap_err().to_string();
    assert!(e.contains("reading datasets /wave, /phase together needs at least 80.1 MiB"), "{e}");
}
