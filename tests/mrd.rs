//! `mre-sim CONFIG.toml` writes the raw data as an MRD (ISMRMRD HDF5) file
//! beside the mre-data file, with the same k-space, and never overwrites it
//! silently.

mod common;

use common::{run, text};
use mre_io::hdf5::read_mre_data;
use mre_io::mrd::{read_mrd, AcqFlag};
use num_complex::Complex32;

/// The quickstart, shrunk to 32² (a fraction of a second).
const SMALL: [&str; 6] =
    ["--set", "phantom.shape=[1,32,32]", "--set", "phantom.voxel_size_m=[0.005,0.006,0.006]", "--set", "output.figures=false"];

fn args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/quickstart.toml");
    [&[cfg, "--output", out, "-q"][..], &SMALL, extra].concat()
}

#[test]
fn run_writes_the_mrd_file_with_the_same_kspace_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&args("q.h5", &[]), dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let mrd_path = dir.path().join("q.mrd.h5");
    assert!(text(&o).contains("q.mrd.h5"), "{}", text(&o));

    let data = read_mre_data(&dir.path().join("q.h5")).unwrap();
    let (k, kn) = (data.kspace.as_ref().unwrap(), data.kspace_negative.as_ref().unwrap());
    let mrd = read_mrd(&mrd_path).unwrap();
    // 2 polarities × 4 offsets × 32 lines
    assert_eq!(mrd.acquisitions.len(), 2 * 4 * 32);
    for a in &mrd.acquisitions {
        let c = a.head.idx;
        let src = if c.set == 0 { k } else { kn };
        for x in 0..32 {
            let v = src[[0, 0, c.phase as usize, 0, 0, c.kspace_encode_step_1 as usize, x]];
            assert_eq!(a.data[[0, x]], Complex32::new(v.re as f32, v.im as f32));
        }
    }
    assert!(mrd.acquisitions.last().unwrap().head.is_flag_set(AcqFlag::LastInMeasurement));
    assert!(mrd.xml.contains("<systemFieldStrength_T>3</systemFieldStrength_T>"));

    // the data file is gone but its MRD file is there: refused before simulating (exit 3)
    std::fs::remove_file(dir.path().join("q.h5")).unwrap();
    let before = std::fs::read(&mrd_path).unwrap();
    let o = run(&args("q.h5", &[]), dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("q.mrd.h5") && text(&o).contains("--force"), "{}", text(&o));
    assert!(!dir.path().join("q.h5").exists());
    assert_eq!(std::fs::read(&mrd_path).unwrap(), before);

    // --force replaces both; the field strength comes from [scanner]
    let o = run(&args("q.h5", &["--force", "--set", "scanner.field_strength_t=1.5"]), dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(read_mrd(&mrd_path).unwrap().xml.contains("<systemFieldStrength_T>1.5</systemFieldStrength_T>"));

    // [output] mrd = false: no MRD file written, and an existing one neither blocks the run nor is touched
    let o = run(&args("n.h5", &["--set", "output.mrd=false"]), dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.path().join("n.h5").exists() && !dir.path().join("n.mrd.h5").exists());
    std::fs::write(dir.path().join("n.mrd.h5"), b"not mine").unwrap();
    let o = run(&args("n.h5", &["--force", "--set", "output.mrd=false"]), dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(dir.path().join("n.mrd.h5")).unwrap(), b"not mine");
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains("tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_bad_field_strength_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&args("b.h5", &["--set", "scanner.field_strength_t=0"]), dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("scanner.field_strength_t"), "{}", text(&o));
    assert!(!dir.path().join("b.h5").exists() && !dir.path().join("b.mrd.h5").exists());
}
