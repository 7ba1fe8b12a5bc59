//! Property tests of `mre-sim import` as a library call ([`import`]): MATLAB v7.3 (HDF5) inputs
//! with random arrays and masks (ranks, axis lengths, stored types, declared shapes far beyond
//! the file, truncation) and NIfTI inputs with random header bytes and truncation. The importer
//! never panics or aborts, and every error names the input file.
//!
//! `PROPTEST_CASES=N` runs N cases per property (default 48; `scripts/fuzz.sh` runs more).

use std::path::{Path, PathBuf};

use mre_pipeline::import::{import, ImportOptions, Layout};
use mre_solver::limits;
use num_complex::Complex64;
use proptest::prelude::*;

/// Cases per property: `PROPTEST_CASES`, or `default` (a few seconds in CI).
fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases: n, failure_persistence: None, ..ProptestConfig::default() }
}

/// Valid options for one frequency and one component; the input and layout vary.
fn options(input: PathBuf, layout: Layout, mask: bool) -> ImportOptions {
    ImportOptions {
        input,
        dataset: Some("A".into()),
        layout,
        frequencies_hz: vec![60.0],
        voxel_size_mm: vec![2.0, 2.0, 2.0],
        encoding_efficiency_rad_per_m: vec![1000.0],
        components: "z".into(),
        density_kg_m3: 1000.0,
        mask_dataset: mask.then(|| "M".into()),
    }
}

/// The property: an import returns data or an error naming the input file.
fn ok_or_names_input(args: &ImportOptions) -> Result<(), TestCaseError> {
    if let Err(e) = import(args) {
        let name = args.input.display().to_string();
        prop_assert!(e.to_string().contains(&name), "{e}");
        prop_assert!(!e.to_string().contains("panicked"), "{e}");
    }
    Ok(())
}

/// A random array `name` in the HDF5 file `f`: stored type 0 = float64, 1 = int16, 2 = complex
/// `{real, imag}` (MATLAB), 3 = complex `{r, i}`, 4 = a string; small ones hold data, the others
/// are declared only.
fn create(f: &hdf5::File, name: &str, shape: &[usize], kind: u8, value: f64) {
    #[derive(hdf5::H5Type, Clone, Copy)]
    #[repr(C)]
    struct RealImag {
        real: f64,
        imag: f64,
    }
    let n: Option<usize> = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if n.is_none() {
        // The hdf5 crate's builder overflows on such shapes: not a file this test can make.
        return;
    }
    let small = n.filter(|&n| n <= 4096);
    macro_rules! make {
        ($t:ty, $v:expr) => {{
            if let Ok(ds) = f.new_dataset::<$t>().shape(shape.to_vec()).create(name) {
                if let Some(n) = small {
                    let _ = ds.write_raw(&vec![$v; n]);
                }
            }
        }};
    }
    match kind {
        0 => make!(f64, value),
        1 => make!(i16, value as i16),
        2 => make!(RealImag, RealImag { real: value, imag: 1.0 }),
        3 => make!(Complex64, Complex64::new(value, 1.0)),
        _ => {
            let s: hdf5::types::VarLenUnicode = "not an array".parse().unwrap();
            let _ = f.new_dataset::<hdf5::types::VarLenUnicode>().shape(()).create(name).and_then(|d| d.write_scalar(&s));
        }
    }
}

/// A single-file NIfTI-1 float32 volume (4, 3, 2, 2), little-endian.
fn nifti_bytes() -> Vec<u8> {
    let mut h = vec![0u8; 348];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (i, d) in [4i16, 4, 3, 2, 2, 1, 1, 1].iter().enumerate() {
        h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&16i16.to_le_bytes());
    h[72..74].copy_from_slice(&32i16.to_le_bytes());
    h[108..112].copy_from_slice(&352f32.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h.extend_from_slice(&[0; 4]);
    h.extend((0..48).flat_map(|i| (i as f32 * 0.05).to_le_bytes()));
    h
}

fn truncate(path: &Path, fraction: Option<f64>) {
    if let Some(c) = fraction {
        let len = std::fs::metadata(path).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len((len as f64 * c) as u64).unwrap();
    }
}

proptest! {
    #![proptest_config(cases(48))]

    /// Random MATLAB arrays and masks, maybe truncated.
    #[test]
    fn random_mat_inputs_never_panic(
        shape in prop::collection::vec(prop_oneof![4 => 0usize..5, 1 => Just(100_000usize), 1 => Just(1usize << 40)], 0..8),
        kind in 0u8..5,
        value in prop::sample::select(vec![0.0, 1.0, -3.0, f64::NAN, f64::INFINITY]),
        mask in prop::option::of((prop::collection::vec(prop_oneof![0usize..5, Just(100_000usize)], 0..4), 0u8..5)),
        wave in any::<bool>(),
        cut in prop::option::of(0.0f64..1.0),
    ) {
        limits::set_max_memory(64 << 20);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.mat");
        let f = hdf5::File::create(&path).unwrap();
        create(&f, "A", &shape, kind, value);
        if let Some((s, k)) = &mask {
            create(&f, "M", s, *k, value);
        }
        f.close().unwrap();
        truncate(&path, cut);
        let layout = if wave { Layout::Wave } else { Layout::Phase };
        ok_or_names_input(&options(path, layout, mask.is_some()))?;
    }

    /// A valid NIfTI volume with random header bytes overwritten, maybe truncated.
    #[test]
    fn mutated_nifti_inputs_never_panic(
        edits in prop::collection::vec((0usize..352, any::<u8>()), 0..6),
        cut in prop::option::of(0.0f64..1.0),
    ) {
        limits::set_max_memory(64 << 20);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.nii");
        let mut bytes = nifti_bytes();
        for (i, b) in edits {
            bytes[i] = b;
        }
        std::fs::write(&path, bytes).unwrap();
        truncate(&path, cut);
        ok_or_names_input(&options(path, Layout::Phase, false))?;
    }
}

#[test]
fn the_valid_nifti_volume_imports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.nii");
    std::fs::write(&path, nifti_bytes()).unwrap();
    let d = import(&options(path, Layout::Phase, false)).unwrap();
    let p = d.phase.unwrap();
    // [f, c, t, z, y, x]; value = 0.05 · (x + 4 y + 12 z + 24 t)
    assert_eq!(p.shape(), [1, 1, 2, 2, 3, 4]);
    assert!((p[[0, 0, 1, 1, 2, 3]] - 0.05 * 47.0).abs() < 1e-6);
}
