//! Helpers shared by the integration tests: small synthetic mre-data files and running the
//! binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mre_inverse::synthetic::BesselInclusion;
use mre_io::data::MreData;
use mre_io::hdf5::{read_mre_result, write_mre_data};

/// `mre-sim` with `args` in `cwd`.
pub fn mre_sim(args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mre-sim"));
    // A data file written by this process may still be locked by its HDF5 library.
    c.args(args).current_dir(cwd).env("HDF5_USE_FILE_LOCKING", "FALSE").env_remove("MRE_SIM_LOG");
    c
}

/// Run `mre-sim` with `args` in `cwd` to completion.
pub fn run(args: &[&str], cwd: &Path) -> Output {
    mre_sim(args, cwd).output().expect("run mre-sim")
}

/// Standard output and error of a finished process.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// An `n`² two-frequency (60 and 90 Hz) Bessel inclusion (SNR 30) as an mre-data file in
/// `dir`, with or without labels.
pub fn write_bessel_data(dir: &Path, name: &str, n: usize, labels: bool) -> PathBuf {
    let spec =
        BesselInclusion { n, voxel_m: 2e-3, frequencies_hz: vec![60.0, 90.0], radius_m: 0.016, snr: Some(30.0), ..Default::default() };
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

/// The bit patterns of `/samples` and `/storage_modulus_pa` of an mre-result file.
pub fn result_bits(path: &Path) -> (Vec<u64>, Vec<u64>) {
    let r = read_mre_result(path).unwrap();
    let samples = r.samples.as_ref().expect("/samples").iter().map(|x| x.to_bits()).collect();
    let storage = r.storage_modulus_pa.iter().map(|x| x.to_bits()).collect();
    (samples, storage)
}
