//! Helpers shared by the integration tests: small synthetic mre-data files and running the
//! binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mre_inverse::synthetic::{BesselInclusion, PsvInclusion};
use mre_io::data::{GroundTruth, MreData};
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

/// Generated measurements `m` (`mre_inverse::synthetic`, `mre_inverse::plane_strain`) as
/// mre-data: the wave with the component letters `components`, no motion encoding (efficiency
/// and phase 0 per frequency), the mask, and `labels` if given.
pub fn mre_data(m: &mre_inverse::Measurements, components: &str, labels: Option<ndarray::Array3<u16>>) -> MreData {
    let nf = m.frequencies_hz.len();
    MreData {
        frequencies_hz: m.frequencies_hz.clone(),
        voxel_size_m: m.grid.voxel_size_m,
        density_kg_m3: m.density_kg_m3,
        components: components.into(),
        encoding_efficiency_rad_per_m: vec![0.0; nf],
        encoding_phase_rad: vec![0.0; nf],
        wave: Some(m.wave.clone()),
        mask: Some(m.mask.mapv(u8::from)),
        labels,
        ..MreData::default()
    }
}

/// An `n`² two-frequency (60 and 90 Hz) Bessel inclusion (SNR 30) as mre-data with its mask,
/// and its labels (background 1, inclusion 2) apart.
pub fn bessel_data(n: usize) -> (MreData, ndarray::Array3<u16>) {
    let spec =
        BesselInclusion { n, voxel_m: 2e-3, frequencies_hz: vec![60.0, 90.0], radius_m: 0.016, snr: Some(30.0), ..Default::default() };
    let (m, l, _) = spec.generate().unwrap();
    (mre_data(&m, "z", None), l)
}

/// [`bessel_data`] as an mre-data file in `dir`, with or without labels.
pub fn write_bessel_data(dir: &Path, name: &str, n: usize, labels: bool) -> PathBuf {
    let (mut data, l) = bessel_data(n);
    data.labels = labels.then_some(l);
    let p = dir.join(name);
    write_mre_data(&p, &data, false).unwrap();
    p
}

/// An `n`² two-frequency (60 and 90 Hz) plane-strain P–SV inclusion ([`PsvInclusion`]:
/// background 3 kPa, inclusion 6 kPa of radius 16 mm, voxels of 2 mm, one bulk modulus from the
/// background Poisson ratio `nu`, SNR 30) as mre-data with the two in-plane components
/// (`components = "xy"`), its mask and ground truth, and its labels (background 1, inclusion 2)
/// apart.
pub fn psv_data(n: usize, nu: f64) -> (MreData, ndarray::Array3<u16>) {
    let spec = PsvInclusion {
        n,
        voxel_m: 2e-3,
        frequencies_hz: vec![60.0, 90.0],
        radius_m: 0.016,
        poisson_ratio: nu,
        snr: Some(30.0),
        ..Default::default()
    };
    let (m, l, (storage, loss)) = spec.generate().unwrap();
    let data = MreData {
        ground_truth: Some(GroundTruth { storage_modulus_pa: storage, loss_modulus_pa: loss }),
        ..mre_data(&m, PsvInclusion::COMPONENTS, None)
    };
    (data, l)
}

/// [`psv_data`] as an mre-data file in `dir`, with or without labels.
pub fn write_psv_data(dir: &Path, name: &str, n: usize, nu: f64, labels: bool) -> PathBuf {
    let (mut data, l) = psv_data(n, nu);
    data.labels = labels.then_some(l);
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

/// Address space of a [`run_bounded`] process, KiB (about 4 GB: the binary's runtime reserves
/// address space it never touches; an allocation of a hostile size beyond it aborts instead of
/// returning exit 2).
pub const ULIMIT_V_KIB: u64 = 4_000_000;

/// Peak resident memory a refusal may take, bytes (issue 17: under 1 GB).
pub const PEAK_RSS_LIMIT: u64 = 1 << 30;

/// `mre-sim args` in `cwd` under `ulimit -v` ([`ULIMIT_V_KIB`]), with `env` set (and no
/// `MRE_SIM_MAX_MEMORY` or `MRE_SIM_LOG` from the caller's environment unless given), killed
/// after `deadline` with a failure naming the command. Asserts that the process's peak
/// resident memory (its `wait4` resource usage) stayed under [`PEAK_RSS_LIMIT`].
pub fn run_bounded(args: &[&str], cwd: &Path, env: &[(&str, &str)], deadline: std::time::Duration) -> Output {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let out = tempfile::tempdir().unwrap();
    let (so, se) = (out.path().join("stdout"), out.path().join("stderr"));
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit -v {ULIMIT_V_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_mre-sim"))
        .args(args)
        .current_dir(cwd)
        .env_remove("MRE_SIM_LOG")
        .env_remove("MRE_SIM_MAX_MEMORY")
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&so).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&se).unwrap()));
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c.spawn().expect("start mre-sim");
    let pid = child.id() as libc::pid_t;
    let start = std::time::Instant::now();
    // Reaped here with wait4 (not through `child`) to read the process's own peak RSS.
    let (status, usage) = loop {
        let mut status = 0;
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our child, not yet reaped; `status` and `usage` are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            break (status, usage);
        }
        if start.elapsed() > deadline {
            // SAFETY: signalling our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let mut s = 0;
            // SAFETY: as above.
            unsafe { libc::waitpid(pid, &mut s, 0) };
            let so = String::from_utf8_lossy(&std::fs::read(&so).unwrap_or_default()).into_owned();
            let se = String::from_utf8_lossy(&std::fs::read(&se).unwrap_or_default()).into_owned();
            panic!(
                "mre-sim {args:?} still running after {deadline:?} (killed): the input was not refused up front. Output so far:\n{so}{se}"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(child);
    let o = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: std::fs::read(&so).unwrap(),
        stderr: std::fs::read(&se).unwrap(),
    };
    let peak = usage.ru_maxrss as u64 * 1024; // KiB on Linux
    assert!(
        peak < PEAK_RSS_LIMIT,
        "mre-sim {args:?}: peak resident memory {} MiB, over the 1 GiB a refusal may take:\n{}",
        peak >> 20,
        text(&o)
    );
    o
}
