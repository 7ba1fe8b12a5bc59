//! `mre-sim invert --method bayes` end to end on small synthetic files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mre_io::data::MreData;
use mre_io::hdf5::{read_mre_result, write_mre_data};
use mre_inverse::synthetic::BesselInclusion;

fn run(args: &[&str], cwd: &Path) -> Output {
    // The data file was written by this process, whose HDF5 library may still hold its lock.
    Command::new(env!("CARGO_BIN_EXE_mre-sim"))
        .args(args)
        .current_dir(cwd)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .output()
        .expect("run mre-sim")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A 40² two-frequency Bessel inclusion (SNR 30) as an mre-data file, with or without labels.
fn write_data(dir: &Path, name: &str, labels: bool) -> PathBuf {
    let spec = BesselInclusion { n: 40, voxel_m: 2e-3, frequencies_hz: vec![60.0, 90.0], radius_m: 0.016, snr: Some(30.0), ..Default::default() };
    let (m, l, _) = spec.generate().unwrap();
    let data = MreData {
        frequencies_hz: m.frequencies_hz.clone(),
        voxel_size_m: m.grid.voxel_size_m,
        density_kg_m3: m.density_kg_m3,
        components: "z".into(),
        encoding_efficiency_rad_per_m: vec![0.0; 2],
        encoding_phase_rad: vec![0.0; 2],
        wave: Some(m.wave.clone()),
        mask: Some(m.mask.mapv(u8::from)),
        labels: labels.then_some(l),
        ..MreData::default()
    };
    let p = dir.join(name);
    write_mre_data(&p, &data, false).unwrap();
    p
}

#[test]
fn regions_by_default_with_labels_and_a_complete_result() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), "incl.h5", true);
    let o = run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--chains", "2", "--tune", "80", "--draws", "100", "-q"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("incl-bayes.h5");
    let r = read_mre_result(&out).unwrap();
    assert_eq!(r.provenance.method, "bayes-nuts");
    let extra = |k: &str| r.provenance.extra.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(extra("parameterization"), "regions");
    assert!(extra("evaluations").parse::<u64>().unwrap() > 100);
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
    let o = run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--chains", "2", "--tune", "80", "--draws", "100", "-q"], dir.path());
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
