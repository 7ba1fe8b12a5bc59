//! The Navier model in 3-D through the binary: three-component data of a spherical inclusion
//! from the Navier solver on a 2× finer grid (`mre_inverse::plane_strain::SphereInclusion`, no
//! inverse crime), nearly incompressible, SNR 30, noise level not given, the defaults of
//! `mre-sim invert --method bayes`. A small version (8³) of the 48³ test: the direct
//! solve of the data's 2× finer grid with absorbing layers, and the time of a regions
//! posterior with the iterative model on larger grids, bound the size here.

mod common;

use common::{run, text};
use mre_inverse::plane_strain::{PlaneStrainInclusion, SphereInclusion};
use mre_io::data::{GroundTruth, MreData};
use mre_io::hdf5::{read_mre_result, write_mre_data};

const TRUTH: [f64; 2] = [3000.0, 6000.0];

#[test]
fn regions_from_three_component_data_of_a_finer_navier_solve() {
    let spec = SphereInclusion {
        n: 8,
        voxel_m: 3e-3,
        frequencies_hz: vec![60.0, 80.0],
        background_pa: (TRUTH[0], 600.0),
        inclusion_pa: (TRUTH[1], 1200.0),
        radius_m: 6e-3,
        bulk_modulus_pa: PlaneStrainInclusion::bulk_for_poisson(TRUTH[0], 0.4999),
        density_kg_m3: 1000.0,
        snr: Some(30.0),
        seed: 7,
    };
    let t0 = std::time::Instant::now();
    let (m, labels, (storage, loss)) = spec.generate().unwrap();
    eprintln!("data: {:.1} s", t0.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().unwrap();
    let data = MreData {
        ground_truth: Some(GroundTruth { storage_modulus_pa: storage, loss_modulus_pa: loss }),
        ..common::mre_data(&m, SphereInclusion::COMPONENTS, Some(labels))
    };
    let path = dir.path().join("sphere.h5");
    write_mre_data(&path, &data, false).unwrap();
    let t0 = std::time::Instant::now();
    let o = run(&["invert", path.to_str().unwrap(), "--method", "bayes", "--chains", "2", "--draws", "60", "-o", "r.h5"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    eprintln!("inversion: {:.1} s", t0.elapsed().as_secs_f64());
    let r = read_mre_result(&dir.path().join("r.h5")).unwrap();
    let extra = |k: &str| r.provenance.extra.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
    eprintln!(
        "model {:?}; model error {:?}; check {:?} ({})",
        extra("forward_model"),
        extra("model_error"),
        extra("model_check"),
        extra("model_check_statistic")
    );
    assert!(extra("forward_model").starts_with("navier"), "{}", extra("forward_model"));
    for (row, truth) in r.regions.iter().zip(TRUTH) {
        eprintln!(
            "label {} G' {:.1} Pa (90 %: {:.1}–{:.1}), truth {truth}, error {:+.2} %",
            row.label,
            row.storage_mean_pa,
            row.storage_q05_pa,
            row.storage_q95_pa,
            100.0 * (row.storage_mean_pa / truth - 1.0)
        );
    }
    // The background within 10 % (measured −2.4 %). The inclusion (a radius of two voxels) is
    // −11 % here and the model check says `misfit` (statistic 11): the staircase of so small a
    // sphere and the leftover discretisation error (no Richardson step in 3-D) are beyond the
    // approximation-error model — reported in docs/inversion.md, not asserted away.
    let background = &r.regions[0];
    assert!((background.storage_mean_pa / TRUTH[0] - 1.0).abs() < 0.1, "{background:?}");
    assert!(["fits", "misfit"].contains(&extra("model_check").as_str()), "{}", extra("model_check"));
}
