//! mre-data HDF5 files: write → read round trip, overwrite protection,
//! atomic writes, files written by other tools, and error messages.

use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use mre_io::data::{GroundTruth, MreData, Provenance};
use mre_io::hdf5::{read_labels, read_mre_data, write_mre_data, H5Error};
use ndarray::{Array, Array2, Array3, Array5, Array6, ArrayD, IxDyn};
use num_complex::Complex64;

/// A small deterministic complex value for element `k`.
fn cval(k: usize) -> Complex64 {
    let k = k as f64;
    Complex64::new((0.37 * k).sin() * 1e-6, (0.11 * k).cos() * 1e-6)
}

/// Complete data set: nf = 2, components "xz", 2 offsets, 2 coils,
/// spatial [2, 3, 4]; every optional dataset present.
fn full_data() -> MreData {
    let (nf, nc, no, ncoil) = (2, 2, 2, 2);
    let (nz, ny, nx) = (2, 3, 4);
    let mut k = 0;
    let mut next = || {
        k += 1;
        k
    };
    let wave = Array5::from_shape_fn((nf, nc, nz, ny, nx), |_| cval(next()));
    let phase = Array6::from_shape_fn((nf, nc, no, nz, ny, nx), |_| (next() as f64 * 0.1).sin() * 3.0);
    let images = Array6::from_shape_fn((nf, nc, no, nz, ny, nx), |_| cval(next()) * 1e6);
    let kshape = IxDyn(&[nf, nc, no, ncoil, nz, ny, nx]);
    let kspace = ArrayD::from_shape_fn(kshape.clone(), |_| cval(next()) * 1e9);
    let kspace_negative = ArrayD::from_shape_fn(kshape, |_| cval(next()) * -1e9);
    let magnitude = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| (z + y + x) as f64 + 0.5);
    let mask = Array3::from_shape_fn((nz, ny, nx), |(_, y, x)| u8::from(x > 0 && y > 0));
    let labels = Array3::from_shape_fn((nz, ny, nx), |(z, _, x)| (z * 1000 + x) as u16);
    MreData {
        frequencies_hz: vec![50.0, 62.5],
        voxel_size_m: [2e-3, 1.5e-3, 1.5e-3],
        density_kg_m3: 1050.0,
        components: "xz".into(),
        encoding_efficiency_rad_per_m: vec![1.2e5, 0.9e5],
        encoding_phase_rad: vec![0.25, -0.5],
        wave: Some(wave),
        phase: Some(phase),
        images: Some(images),
        kspace: Some(kspace),
        kspace_negative: Some(kspace_negative),
        magnitude: Some(magnitude),
        mask: Some(mask),
        labels: Some(labels),
        noise_std: Some(vec![0.0125]),
        ground_truth: Some(GroundTruth {
            storage_modulus_pa: Array3::from_elem((nz, ny, nx), 3000.0),
            loss_modulus_pa: Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| 800.0 + (z * 100 + y * 10 + x) as f64),
        }),
        provenance: Provenance {
            tool: "mre-sim".into(),
            version: "0.1.0".into(),
            config_toml: "[phantom]\nkind = \"cylinder\"\nradius_m = 0.01\n".into(),
            created: "2025-11-25T15:56:07Z".into(),
            threads: 2,
            ranks: 1,
            seed: u64::MAX - 7,
            wall_time_s: 12.345_678_9,
            extra: vec![
                ("kernel".into(), "bloch-rk4".into()),
                ("precision".into(), "f64".into()),
                ("allocated_spins".into(), "123456".into()),
            ],
        },
    }
}

/// Minimal valid data: nf = 1, components "z", wave [1, 1, nz, ny, nx].
fn minimal_data(nz: usize, ny: usize, nx: usize) -> MreData {
    MreData {
        frequencies_hz: vec![60.0],
        voxel_size_m: [1e-3; 3],
        density_kg_m3: 1000.0,
        components: "z".into(),
        wave: Some(Array5::from_shape_fn((1, 1, nz, ny, nx), |(_, _, z, y, x)| cval(z * 100 + y * 10 + x))),
        ..Default::default()
    }
}

fn assert_same(a: &MreData, b: &MreData) {
    assert_eq!(a.frequencies_hz, b.frequencies_hz);
    assert_eq!(a.voxel_size_m, b.voxel_size_m);
    assert_eq!(a.density_kg_m3, b.density_kg_m3);
    assert_eq!(a.components, b.components);
    assert_eq!(a.encoding_efficiency_rad_per_m, b.encoding_efficiency_rad_per_m);
    assert_eq!(a.encoding_phase_rad, b.encoding_phase_rad);
    assert_eq!(a.wave, b.wave);
    assert_eq!(a.phase, b.phase);
    assert_eq!(a.images, b.images);
    assert_eq!(a.kspace, b.kspace);
    assert_eq!(a.kspace_negative, b.kspace_negative);
    assert_eq!(a.magnitude, b.magnitude);
    assert_eq!(a.mask, b.mask);
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.noise_std, b.noise_std);
    match (&a.ground_truth, &b.ground_truth) {
        (None, None) => {}
        (Some(x), Some(y)) => {
            assert_eq!(x.storage_modulus_pa, y.storage_modulus_pa);
            assert_eq!(x.loss_modulus_pa, y.loss_modulus_pa);
        }
        _ => panic!("ground truth present in only one of the two"),
    }
    let (p, q) = (&a.provenance, &b.provenance);
    assert_eq!(p.tool, q.tool);
    assert_eq!(p.version, q.version);
    assert_eq!(p.config_toml, q.config_toml);
    assert_eq!(p.created, q.created);
    assert_eq!(p.threads, q.threads);
    assert_eq!(p.ranks, q.ranks);
    assert_eq!(p.seed, q.seed);
    assert_eq!(p.wall_time_s, q.wall_time_s);
    assert_eq!(p.extra, q.extra);
}

/// File names in `dir`.
fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn str_attr(loc: &hdf5::Location, name: &str, value: &str) {
    let v: VarLenUnicode = value.parse().unwrap();
    loc.new_attr::<VarLenUnicode>().shape(()).create(name).unwrap().write_scalar(&v).unwrap();
}

/// Writes a file "by hand" with the root and /acquisition attributes of an
/// mre-data file (nf frequencies, components), then calls `body`.
fn handmade(path: &Path, nf: usize, components: &str, body: impl FnOnce(&hdf5::File)) {
    let f = hdf5::File::create(path).unwrap();
    str_attr(&f, "format", "mre-data");
    f.new_attr::<i64>().shape(()).create("version").unwrap().write_scalar(&1i64).unwrap();
    let acq = f.create_group("acquisition").unwrap();
    let freqs: Vec<f64> = (0..nf).map(|i| 50.0 + 10.0 * i as f64).collect();
    acq.new_attr_builder().with_data(&freqs).create("frequencies_hz").unwrap();
    acq.new_attr_builder().with_data(&[1e-3f64; 3]).create("voxel_size_m").unwrap();
    str_attr(&acq, "components", components);
    body(&f);
}

fn expect_err(path: &Path) -> String {
    match read_mre_data(path) {
        Ok(_) => panic!("reading {} should fail", path.display()),
        Err(e) => e.to_string(),
    }
}

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.h5");
    (dir, path)
}

#[test]
fn roundtrip_every_dataset() {
    let (dir, path) = tmp();
    let data = full_data();
    write_mre_data(&path, &data, false).unwrap();
    assert_eq!(dir_entries(dir.path()), ["data.h5"]);
    let back = read_mre_data(&path).unwrap();
    assert_same(&data, &back);
}

#[test]
fn roundtrip_minimal_and_defaults() {
    let (_dir, path) = tmp();
    let mut data = minimal_data(1, 5, 6);
    data.provenance.created.clear();
    write_mre_data(&path, &data, false).unwrap();
    let back = read_mre_data(&path).unwrap();
    assert_eq!(back.wave, data.wave);
    for absent in [
        back.phase.is_some(),
        back.images.is_some(),
        back.kspace.is_some(),
        back.kspace_negative.is_some(),
        back.magnitude.is_some(),
        back.mask.is_some(),
        back.labels.is_some(),
        back.noise_std.is_some(),
        back.ground_truth.is_some(),
    ] {
        assert!(!absent);
    }
    assert!(back.encoding_efficiency_rad_per_m.is_empty());
    assert_eq!(back.encoding_phase_rad, [0.0]);
    // An empty creation time is filled in, RFC 3339 UTC.
    let c = &back.provenance.created;
    assert_eq!(c.len(), 20, "{c}");
    assert!(c.ends_with('Z') && c.as_bytes()[10] == b'T', "{c}");
}

#[test]
fn large_arrays_are_chunked_and_compressed() {
    let (_dir, path) = tmp();
    let data = minimal_data(8, 96, 96); // 1.2 MB of Complex64
    write_mre_data(&path, &data, false).unwrap();
    {
        let f = hdf5::File::open(&path).unwrap();
        let wave = f.dataset("wave").unwrap();
        assert!(wave.is_chunked());
        let chunk = wave.chunk().unwrap();
        assert_eq!(chunk.len(), 5);
        assert!(chunk.iter().product::<usize>() * 16 <= 1 << 20);
        if hdf5::filters::deflate_available() {
            let filters = wave.filters();
            assert!(filters.contains(&hdf5::filters::Filter::deflate(4)), "{filters:?}");
            assert!(filters.contains(&hdf5::filters::Filter::shuffle()), "{filters:?}");
        }
    }
    assert_eq!(read_mre_data(&path).unwrap().wave, data.wave);
}

#[test]
fn refuses_overwrite_without_force() {
    let (dir, path) = tmp();
    let first = minimal_data(1, 4, 4);
    write_mre_data(&path, &first, false).unwrap();

    let mut second = minimal_data(1, 4, 4);
    second.frequencies_hz = vec![90.0];
    let err = write_mre_data(&path, &second, false).unwrap_err();
    assert!(matches!(err, H5Error::Exists { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("data.h5") && msg.contains("--force"), "{msg}");
    assert_eq!(read_mre_data(&path).unwrap().frequencies_hz, [60.0]);

    write_mre_data(&path, &second, true).unwrap();
    assert_eq!(read_mre_data(&path).unwrap().frequencies_hz, [90.0]);
    assert_eq!(dir_entries(dir.path()), ["data.h5"]);
}

#[test]
fn no_temporary_file_is_left_after_an_error() {
    let (dir, path) = tmp();

    // Fails half-way through writing: a NUL cannot be stored in an HDF5 string.
    let mut data = full_data();
    data.provenance.config_toml = "a = 1\0".into();
    let err = write_mre_data(&path, &data, false).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("data.h5") && msg.contains("config"), "{msg}");
    assert!(dir_entries(dir.path()).is_empty(), "{:?}", dir_entries(dir.path()));

    // Fails the same way while replacing an existing file: the old file stays.
    write_mre_data(&path, &minimal_data(1, 2, 2), false).unwrap();
    write_mre_data(&path, &data, true).unwrap_err();
    assert_eq!(dir_entries(dir.path()), ["data.h5"]);
    assert_eq!(read_mre_data(&path).unwrap().wave.unwrap().shape(), [1, 1, 1, 2, 2]);

    // Inconsistent data is refused before any file is created.
    let mut bad = minimal_data(1, 2, 2);
    bad.frequencies_hz = vec![50.0, 60.0];
    let other = dir.path().join("other.h5");
    let msg = write_mre_data(&other, &bad, false).unwrap_err().to_string();
    assert!(msg.contains("other.h5") && msg.contains("/wave") && msg.contains("nf = 2"), "{msg}");
    assert_eq!(dir_entries(dir.path()), ["data.h5"]);

    // A missing directory is reported, nothing is created.
    let nowhere = dir.path().join("missing").join("x.h5");
    assert!(write_mre_data(&nowhere, &minimal_data(1, 2, 2), false).is_err());
    assert_eq!(dir_entries(dir.path()), ["data.h5"]);
}

/// MATLAB v7.3 style complex: members `real`, `imag`, single precision.
#[derive(hdf5::H5Type, Clone, Copy, Debug)]
#[repr(C)]
struct MatlabComplex32 {
    real: f32,
    imag: f32,
}

#[test]
fn reads_real_imag_float32_compounds() {
    let (_dir, path) = tmp();
    let (nz, ny, nx) = (1, 3, 5);
    let values = Array5::from_shape_fn((1, 1, nz, ny, nx), |(_, _, z, y, x)| MatlabComplex32 {
        real: (y * 10 + x) as f32 * 0.25e-6,
        imag: -(z as f32 + 1.0) * (x as f32) * 0.5e-6,
    });
    let images =
        Array6::from_shape_fn((1, 1, 2, nz, ny, nx), |(_, _, o, _, y, x)| MatlabComplex32 { real: (o + y) as f32, imag: x as f32 });
    handmade(&path, 1, "z", |f| {
        f.new_dataset_builder().with_data(&values).create("wave").unwrap();
        f.new_dataset_builder().with_data(&images).create("images").unwrap();
        let acq = f.group("acquisition").unwrap();
        acq.new_attr_builder().with_data(&[2.5e5f32]).create("encoding_efficiency_rad_per_m").unwrap();
        // h5py stores a Python bool array as an enum; MATLAB logical as uint8.
        f.new_dataset_builder().with_data(&Array3::from_shape_fn((nz, ny, nx), |(_, _, x)| x % 2 == 0)).create("mask").unwrap();
    });
    let d = read_mre_data(&path).unwrap();
    let wave = d.wave.unwrap();
    for ((idx, c), v) in wave.indexed_iter().zip(values.iter()) {
        assert_eq!(c.re, f64::from(v.real), "{idx:?}");
        assert_eq!(c.im, f64::from(v.imag), "{idx:?}");
    }
    assert!(wave.iter().any(|c| c.norm() > 0.0), "not silently zero");
    let images = d.images.unwrap();
    assert_eq!(images[[0, 0, 1, 0, 2, 3]], Complex64::new(3.0, 3.0));
    assert_eq!(d.encoding_efficiency_rad_per_m, [2.5e5]);
    assert_eq!(d.density_kg_m3, 1000.0);
    assert_eq!(d.mask.unwrap(), Array3::from_shape_fn((nz, ny, nx), |(_, _, x)| u8::from(x % 2 == 0)));
}

#[test]
fn reports_a_wave_with_the_wrong_number_of_axes() {
    let (_dir, path) = tmp();
    handmade(&path, 1, "z", |f| {
        let w = Array::from_elem((1, 1, 64, 64), Complex64::new(0.0, 0.0));
        f.new_dataset_builder().with_data(&w).create("wave").unwrap();
    });
    let msg = expect_err(&path);
    assert!(msg.contains("data.h5: dataset /wave has shape [1, 1, 64, 64], expected 5 axes [nf, ncomp, nz, ny, nx]"), "{msg}");
}

#[test]
fn reports_axes_that_disagree_with_the_acquisition() {
    let (_dir, path) = tmp();
    let w = Array5::from_elem((1, 1, 1, 4, 4), Complex64::new(1.0, 0.0));
    handmade(&path, 2, "z", |f| {
        f.new_dataset_builder().with_data(&w).create("wave").unwrap();
    });
    let msg = expect_err(&path);
    assert!(msg.contains("dataset /wave") && msg.contains("nf = 2"), "{msg}");

    handmade(&path, 1, "xyz", |f| {
        f.new_dataset_builder().with_data(&w).create("wave").unwrap();
    });
    let msg = expect_err(&path);
    assert!(msg.contains("dataset /wave") && msg.contains("ncomp = 3"), "{msg}");

    handmade(&path, 1, "z", |f| {
        f.new_dataset_builder().with_data(&w).create("wave").unwrap();
        let m = Array3::<f64>::zeros((1, 4, 5));
        f.new_dataset_builder().with_data(&m).create("magnitude").unwrap();
    });
    let msg = expect_err(&path);
    assert!(msg.contains("dataset /magnitude has shape [1, 4, 5]") && msg.contains("[1, 4, 4] as in /wave"), "{msg}");
}

#[test]
fn reports_unsupported_complex_member_names() {
    #[derive(hdf5::H5Type, Clone, Copy)]
    #[repr(C)]
    struct ReIm {
        re: f64,
        im: f64,
    }
    let (_dir, path) = tmp();
    handmade(&path, 1, "z", |f| {
        let w = Array5::from_elem((1, 1, 1, 2, 2), ReIm { re: 1.0, im: 2.0 });
        f.new_dataset_builder().with_data(&w).create("wave").unwrap();
    });
    let msg = expect_err(&path);
    assert!(msg.contains("dataset /wave has type compound {re: float64, im: float64}") && msg.contains("{real, imag}"), "{msg}");
}

#[test]
fn refuses_non_finite_wave_values() {
    let (dir, path) = tmp();
    let mut data = minimal_data(1, 3, 3);
    data.wave.as_mut().unwrap()[[0, 0, 0, 1, 2]] = Complex64::new(f64::NAN, 0.0);
    let msg = write_mre_data(&path, &data, false).unwrap_err().to_string();
    assert!(msg.contains("/wave") && msg.contains("[0, 0, 0, 1, 2]"), "{msg}");
    assert!(dir_entries(dir.path()).is_empty());

    let w = data.wave.unwrap();
    handmade(&path, 1, "z", |f| {
        f.new_dataset_builder().with_data(&w).create("wave").unwrap();
    });
    let msg = expect_err(&path);
    assert!(msg.contains("data.h5: dataset /wave contains a non-finite value") && msg.contains("[0, 0, 0, 1, 2]"), "{msg}");

    let mut w = w;
    w[[0, 0, 0, 1, 2]] = Complex64::new(0.0, f64::INFINITY);
    handmade(&path, 1, "z", |f| {
        f.new_dataset_builder().with_data(&w).create("wave").unwrap();
    });
    assert!(expect_err(&path).contains("non-finite"));
}

#[test]
fn refuses_other_formats_and_missing_attributes() {
    let (_dir, path) = tmp();
    {
        let f = hdf5::File::create(&path).unwrap();
        str_attr(&f, "format", "mre-result");
    }
    let msg = expect_err(&path);
    assert!(msg.contains("root attribute format") && msg.contains("mre-result"), "{msg}");

    hdf5::File::create(&path).unwrap();
    let msg = expect_err(&path);
    assert!(msg.contains("root attribute format is missing"), "{msg}");

    handmade(&path, 1, "z", |f| {
        f.group("acquisition").unwrap().delete_attr("voxel_size_m").unwrap();
        let w = Array5::from_elem((1, 1, 1, 2, 2), Complex64::new(1.0, 0.0));
        f.new_dataset_builder().with_data(&w).create("wave").unwrap();
    });
    let msg = expect_err(&path);
    assert!(msg.contains("attribute voxel_size_m of /acquisition is missing"), "{msg}");

    handmade(&path, 1, "z", |_| {});
    let msg = expect_err(&path);
    assert!(msg.contains("at least one"), "{msg}");

    let msg = read_mre_data(&path.with_file_name("absent.h5")).unwrap_err().to_string();
    assert!(msg.contains("absent.h5"), "{msg}");
}

#[test]
fn reads_label_maps_of_several_integer_types() {
    let (_dir, path) = tmp();
    let l2 = Array2::from_shape_fn((3, 4), |(y, x)| (y * 4 + x) as u8);
    let l3 = Array3::from_shape_fn((2, 3, 4), |(z, y, x)| (z * 30_000 + y * 4 + x) as i64);
    let mut neg = l3.mapv(|v| v as i32);
    neg[[1, 2, 3]] = -1;
    let big = Array3::from_elem((1, 2, 2), 70_000u32);
    {
        let f = hdf5::File::create(&path).unwrap();
        f.new_dataset_builder().with_data(&l2).create("l2").unwrap();
        f.new_dataset_builder().with_data(&l3).create("l3").unwrap();
        f.new_dataset_builder().with_data(&l3.mapv(|v| v as u16)).create("u16").unwrap();
        f.new_dataset_builder().with_data(&l3.mapv(|v| v as u32)).create("u32").unwrap();
        let seg = f.create_group("seg").unwrap();
        seg.new_dataset_builder().with_data(&neg).create("neg").unwrap();
        f.new_dataset_builder().with_data(&big).create("big").unwrap();
        f.new_dataset_builder().with_data(&l3.mapv(|v| v as f64)).create("float").unwrap();
    }
    let a = read_labels(&path, "/l2").unwrap();
    assert_eq!(a.shape(), [1, 3, 4]);
    assert_eq!(a[[0, 2, 3]], 11);
    let want = l3.mapv(|v| v as u16);
    assert_eq!(read_labels(&path, "l3").unwrap(), want);
    assert_eq!(read_labels(&path, "/u16").unwrap(), want);
    assert_eq!(read_labels(&path, "/u32").unwrap(), want);

    let msg = read_labels(&path, "/seg/neg").unwrap_err().to_string();
    assert!(msg.contains("dataset /seg/neg contains label -1 at index [1, 2, 3]"), "{msg}");
    let msg = read_labels(&path, "/big").unwrap_err().to_string();
    assert!(msg.contains("70000") && msg.contains("65535"), "{msg}");
    let msg = read_labels(&path, "/float").unwrap_err().to_string();
    assert!(msg.contains("dataset /float has type float64, expected an integer type"), "{msg}");
    let msg = read_labels(&path, "/nope/labels").unwrap_err().to_string();
    assert!(msg.contains("data.h5: dataset /nope/labels is missing"), "{msg}");
}

#[test]
fn noise_std_is_a_scalar_or_one_value_per_frequency() {
    let (_dir, path) = tmp();
    let mut data = minimal_data(1, 3, 3);
    data.frequencies_hz = vec![30.0, 60.0];
    let w = data.wave.take().unwrap();
    data.wave = Some(ndarray::concatenate(ndarray::Axis(0), &[w.view(), w.view()]).unwrap());
    data.noise_std = Some(vec![0.1, 0.2]);
    write_mre_data(&path, &data, false).unwrap();
    assert_eq!(read_mre_data(&path).unwrap().noise_std, Some(vec![0.1, 0.2]));
    data.noise_std = Some(vec![0.5]);
    write_mre_data(&path, &data, true).unwrap();
    let f = hdf5::File::open(&path).unwrap();
    assert_eq!(f.dataset("noise_std").unwrap().ndim(), 0, "one value is stored as a scalar");
    drop(f);
    assert_eq!(read_mre_data(&path).unwrap().noise_std, Some(vec![0.5]));
    data.noise_std = Some(vec![0.1, 0.2, 0.3]);
    let msg = write_mre_data(&path, &data, true).unwrap_err().to_string();
    assert!(msg.contains("/noise_std") && msg.contains("nf = 2"), "{msg}");
    data.noise_std = Some(vec![0.1, -1.0]);
    let msg = write_mre_data(&path, &data, true).unwrap_err().to_string();
    assert!(msg.contains("/noise_std") && msg.contains("-1"), "{msg}");
}

#[test]
fn refuses_non_finite_phase_and_zero_frequencies() {
    let (_dir, path) = tmp();
    let mut data = minimal_data(1, 3, 3);
    data.wave = None;
    data.encoding_efficiency_rad_per_m = vec![1000.0];
    let mut phase = ndarray::Array6::<f64>::zeros((1, 1, 4, 1, 3, 3));
    phase[[0, 0, 2, 0, 1, 1]] = f64::NAN;
    data.phase = Some(phase);
    let msg = write_mre_data(&path, &data, false).unwrap_err().to_string();
    assert!(msg.contains("dataset /phase") && msg.contains("[0, 0, 2, 0, 1, 1]"), "{msg}");
    data.phase.as_mut().unwrap()[[0, 0, 2, 0, 1, 1]] = 0.0;
    data.frequencies_hz = vec![0.0];
    let msg = write_mre_data(&path, &data, false).unwrap_err().to_string();
    assert!(msg.contains("frequencies_hz") && msg.contains("positive"), "{msg}");
}

#[test]
fn a_file_locked_by_another_process_still_reads() {
    // A lock on the file held elsewhere, as when a process spawned while the file was being
    // written inherits the writer's descriptor, or a cluster file system refuses `flock`:
    // reading a complete file must not depend on it.
    let (_dir, path) = tmp();
    write_mre_data(&path, &minimal_data(1, 4, 5), false).unwrap();
    let holder = std::fs::File::open(&path).unwrap();
    holder.lock().unwrap();
    let back = read_mre_data(&path).unwrap();
    assert_eq!(back.frequencies_hz, minimal_data(1, 4, 5).frequencies_hz);
    // Writing next to it is unaffected too.
    write_mre_data(&path.with_extension("second.h5"), &back, false).unwrap();
    holder.unlock().unwrap();
}
