//! Vector inversion against an independent reference: the analytic plane-strain P–SV
//! scattering of a plane shear wave by a cylinder (Pao & Mow, `mre_solver::wave::analytic`),
//! two in-plane components, SNR 30, noise level not given — through the binary.

mod common;

use std::path::Path;

use common::{run, text, write_psv_data};
use mre_io::hdf5::{read_mre_result, MreResult};

/// Background and inclusion G' of `common::psv_data`, Pa.
const TRUTH: [f64; 2] = [3000.0, 6000.0];

fn extra(r: &MreResult, key: &str) -> String {
    r.provenance.extra.iter().find(|(a, _)| a == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn invert(dir: &Path, data: &Path, out: &str, more: &[&str]) -> MreResult {
    let mut args = vec!["invert", data.to_str().unwrap(), "-o", out];
    args.extend(more);
    let o = run(&args, dir);
    assert!(o.status.success(), "{}", text(&o));
    let r = read_mre_result(&dir.join(out)).unwrap();
    for (row, truth) in r.regions.iter().zip(TRUTH) {
        eprintln!(
            "{out}: label {} G' {:.1} Pa (90 %: {:.1}–{:.1}), truth {truth}",
            row.label, row.storage_mean_pa, row.storage_q05_pa, row.storage_q95_pa
        );
    }
    eprintln!("{out}: model {:?}, check {:?}", extra(&r, "forward_model"), extra(&r, "model_check"));
    r
}

fn error(r: &MreResult, region: usize) -> f64 {
    r.regions[region].storage_mean_pa / TRUTH[region] - 1.0
}

/// The scalar model on ν = 0.3 data (compression waves couple the components) is told apart by
/// the model check, with the warning that names `--model navier`.
#[test]
fn scalar_model_on_compressible_vector_data_is_a_misfit() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_psv_data(dir.path(), "psv.h5", 32, 0.3, true);
    // With `-q` (errors only in the log): the verdict and the advice are in the summary.
    let args =
        ["invert", data.to_str().unwrap(), "--method", "bayes", "--model", "scalar", "--chains", "2", "--draws", "60", "-o", "s.h5", "-q"];
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("model check: misfit (p = ") && out.contains("--model navier"), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("WARN"), "{}", text(&o));
    let r = read_mre_result(&dir.path().join("s.h5")).unwrap();
    assert_eq!(extra(&r, "model_check"), "misfit");
    assert!(extra(&r, "forward_model").starts_with("scalar"));
}

/// The Navier model (chosen by `auto` for two in-plane components) on nearly incompressible
/// data: region G' within 5 % of the series' moduli, and it is the model `auto` picks.
#[test]
fn navier_model_recovers_the_nearly_incompressible_cylinder() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_psv_data(dir.path(), "psv.h5", 40, 0.4999, true);
    let r = invert(dir.path(), &data, "n.h5", &["--method", "bayes", "--chains", "2", "--draws", "100"]);
    assert!(extra(&r, "forward_model").starts_with("navier"));
    assert_eq!(extra(&r, "model_check"), "fits", "{}", extra(&r, "model_check_entries"));
    for region in 0..2 {
        assert!(error(&r, region).abs() < 0.05, "region {region}: {:?}", r.regions[region]);
    }
}

/// Curl-MDEV with its defaults (curl on for vector data, the data-chosen filter) on the
/// compressible (ν = 0.3) cylinder: the background within 5 %.
#[test]
fn curl_mdev_on_the_compressible_cylinder() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_psv_data(dir.path(), "psv.h5", 64, 0.3, true);
    let r = invert(dir.path(), &data, "m.h5", &["--method", "mdev"]);
    assert_eq!(extra(&r, "curl"), "on", "{:?}", r.provenance.extra);
    assert!(error(&r, 0).abs() < 0.05, "{:?}", r.regions[0]);
    let raw = invert(dir.path(), &data, "raw.h5", &["--method", "mdev", "--curl", "off"]);
    eprintln!("background error: curl {:+.1} %, no curl {:+.1} %", 100.0 * error(&r, 0), 100.0 * error(&raw, 0));
}
