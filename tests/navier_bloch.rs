//! The Navier model on Bloch-simulated vector data: `configs/brain-3d.toml` as it is (Navier
//! motion of nearly incompressible tissue in a container, three MEG axes, the full GRE-MRE
//! Bloch simulation and reconstruction), inverted on its own grid as a new user would: the
//! whole 40³ volume (the iterative Navier model, a few hundred solves of ~15 s) is refused on a
//! machine whose memory budget it exceeds, with a proposed box, and the regions posterior of
//! that box recovers the lesion and the background.

mod common;

use common::{run, text};
use mre_io::hdf5::{read_mre_data, read_mre_result};

#[test]
fn lesion_and_background_of_the_brain_3d_config_through_the_proposed_crop() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = root.join("configs/brain-3d.toml");
    let t0 = std::time::Instant::now();
    let o = run(&[cfg.to_str().unwrap(), "--output", "sim.h5", "--set", "output.figures=false", "-q"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    eprintln!("simulation: {:.0} s", t0.elapsed().as_secs_f64());
    let data = read_mre_data(&dir.path().join("sim.h5")).unwrap();
    assert_eq!(data.components, "xyz");
    assert_eq!(&data.wave.as_ref().expect("/wave").shape()[2..], &[40, 40, 40]);

    // The whole volume on a machine with 200 MB to spare (its iterative solver needs about
    // 5 kB per voxel): refused at once, with a box to try. With the memory it runs, and warns
    // what it costs with the same box proposed.
    let o = run(&["--max-memory", "200M", "invert", "sim.h5", "--method", "bayes", "-o", "whole.h5"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = text(&o);
    assert!(!dir.path().join("whole.h5").exists());
    let crop = msg.split("--crop ").nth(1).and_then(|s| s.split(':').next().map(|_| s)).expect("a proposed --crop");
    let crop: String = crop.chars().take_while(|c| c.is_ascii_digit() || *c == ':' || *c == ',').collect();
    eprintln!("proposed box: {crop}");

    let t0 = std::time::Instant::now();
    let o = run(&["invert", "sim.h5", "--method", "bayes", "--crop", &crop, "-o", "post.h5", "--no-figures"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    eprintln!("{}inversion: {:.0} s", String::from_utf8_lossy(&o.stdout), t0.elapsed().as_secs_f64());
    let r = read_mre_result(&dir.path().join("post.h5")).unwrap();
    let extra = |k: &str| r.provenance.extra.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(extra("forward_model").starts_with("navier"), "{}", extra("forward_model"));
    assert_eq!(extra("crop"), crop);

    // Truth per label from the simulation's ground truth (evaluation only).
    let labels = data.labels.as_ref().expect("/labels");
    let truth = &data.ground_truth.as_ref().expect("/ground_truth").storage_modulus_pa;
    assert_eq!(r.regions.len(), 2, "background and lesion in the box: {:?}", r.regions);
    for row in &r.regions {
        let g = labels.iter().zip(truth).find(|(&l, _)| l == row.label).map(|(_, &g)| g).unwrap();
        let error = row.storage_mean_pa / g - 1.0;
        eprintln!(
            "label {}: G' {:.0} Pa (90 %: {:.0}–{:.0}), truth {g} Pa, error {:+.2} %",
            row.label,
            row.storage_mean_pa,
            row.storage_q05_pa,
            row.storage_q95_pa,
            100.0 * error
        );
        assert!(error.abs() < 0.10, "label {}: G' {} Pa against {g} Pa", row.label, row.storage_mean_pa);
    }
    eprintln!("model check {} ({}); bulk modulus {}", extra("model_check"), extra("model_check_statistic"), extra("bulk_modulus_pa_mean"));
}
