//! The Navier model with its defaults (`--bulk-modulus infer`, `--model-error auto`) on the
//! analytic plane-strain P–SV cylinder (Pao & Mow series, `mre_inverse::synthetic::PsvInclusion`),
//! two in-plane components, SNR 30, noise level not given, through the binary: compressible
//! (ν = 0.3) and nearly incompressible (ν = 0.4999) data with the same command.

mod common;

use std::path::Path;

use common::{run, text, write_psv_data};
use mre_io::hdf5::{read_mre_result, MreResult};

/// Background and inclusion G' of `common::psv_data`, Pa.
const TRUTH: [f64; 2] = [3000.0, 6000.0];

fn extra(r: &MreResult, key: &str) -> String {
    r.provenance.extra.iter().find(|(a, _)| a == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn number(r: &MreResult, key: &str) -> f64 {
    extra(r, key).parse().unwrap_or_else(|_| panic!("provenance {key}: {:?}", extra(r, key)))
}

/// `mre-sim invert DATA --method bayes` with the defaults (fewer draws), the result, and the
/// printed regions, bulk modulus, approximation-error model and model check.
fn invert_defaults(dir: &Path, n: usize, nu: f64) -> MreResult {
    let data = write_psv_data(dir, "psv.h5", n, nu, true);
    let o = run(&["invert", data.to_str().unwrap(), "--method", "bayes", "--chains", "2", "--draws", "100", "-o", "r.h5"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let r = read_mre_result(&dir.join("r.h5")).unwrap();
    for (row, truth) in r.regions.iter().zip(TRUTH) {
        let covered = row.storage_q05_pa <= truth && truth <= row.storage_q95_pa;
        eprintln!(
            "ν = {nu}: label {} G' {:.1} Pa (90 %: {:.1}–{:.1}, covers the truth: {covered}), truth {truth}, error {:+.2} %",
            row.label,
            row.storage_mean_pa,
            row.storage_q05_pa,
            row.storage_q95_pa,
            100.0 * (row.storage_mean_pa / truth - 1.0)
        );
    }
    eprintln!(
        "ν = {nu}: K {} Pa (90 %: {}–{}), {}; model error {}; model check {:?} (statistic {})",
        extra(&r, "bulk_modulus_pa_mean"),
        extra(&r, "bulk_modulus_pa_q05"),
        extra(&r, "bulk_modulus_pa_q95"),
        extra(&r, "bulk_modulus"),
        extra(&r, "model_error"),
        extra(&r, "model_check"),
        extra(&r, "model_check_statistic"),
    );
    assert!(extra(&r, "forward_model").starts_with("navier") && extra(&r, "forward_model").contains("bulk modulus inferred"));
    for (region, truth) in TRUTH.iter().enumerate() {
        let e = r.regions[region].storage_mean_pa / truth - 1.0;
        assert!(e.abs() < 0.05, "ν = {nu}, region {region}: G' error {:+.2} %", 100.0 * e);
    }
    // The model (with its approximation-error model) explains the data to within the noise.
    assert_eq!(extra(&r, "model_check"), "fits", "{}", extra(&r, "model_check_entries"));
    r
}

/// Whether the 90 % interval of region `region`'s G' covers its truth.
fn covers(r: &MreResult, region: usize) -> bool {
    let row = &r.regions[region];
    row.storage_q05_pa <= TRUTH[region] && TRUTH[region] <= row.storage_q95_pa
}

/// Compressible data (ν = 0.3, K = 6.5 kPa): the defaults find K (within 5 %) and G'.
#[test]
fn compressible_cylinder_with_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let r = invert_defaults(dir.path(), 32, 0.3);
    // Calibration over 8 noise seeds is measured in docs/inversion.md; this seed is covered.
    assert!(covers(&r, 0) && covers(&r, 1), "{:?}", r.regions);
    let k = 2.0 * 3000.0 * 1.3 / (3.0 * 0.4);
    let mean = number(&r, "bulk_modulus_pa_mean");
    assert!((mean / k - 1.0).abs() < 0.05, "K {mean} Pa, truth {k} Pa");
    assert!(extra(&r, "bulk_modulus").starts_with("inferred, determined by the data"), "{}", extra(&r, "bulk_modulus"));
}

/// Nearly incompressible data (ν = 0.4999, K = 15 MPa): the same command, G' unaffected; the
/// data do not determine K, and the result says so (its 5 % quantile above 10² G', a Poisson
/// ratio above 0.495: compressional waves far longer than the field of view).
#[test]
fn nearly_incompressible_cylinder_with_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let r = invert_defaults(dir.path(), 32, 0.4999);
    assert!(extra(&r, "bulk_modulus").starts_with("inferred, not determined by the data"), "{}", extra(&r, "bulk_modulus"));
    assert!(number(&r, "bulk_modulus_pa_q05") > 1e2 * TRUTH[0], "{}", extra(&r, "bulk_modulus_pa_q05"));
    assert!(covers(&r, 0), "{:?}", r.regions[0]);
}
