//! `mre-sim invert --method bayes` on data of the full Bloch simulation, without the inverse
//! crime: the motion that made the data was solved on a phantom grid twice as fine as the grid
//! the inversion's forward model uses, and reached the data only through the simulated MR
//! acquisition (k-space of every isochromat, image reconstruction, phase unwrapping).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use mre_io::hdf5::{read_mre_data, read_mre_result};

fn run(args: &[&str], cwd: &Path) -> Output {
    // Files written by a previous child may still carry an HDF5 lock (see tests/bayes.rs).
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

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `configs/inclusion-2d.toml` as it is (3 kPa tissue, 9 kPa cylinder of radius 15 mm,
/// 50/60/70 Hz; phantom, wave solution and isochromats on 128² voxels of 1.5 mm; GRE-MRE Bloch
/// simulation) but acquired with a 64² matrix over the same 192 mm field of view, so the images
/// and `/wave` are on 3 mm voxels. The inversion's forward model, the compact finite-volume
/// scheme on that 3 mm grid, is therefore not the discretisation that made the motion (same
/// scheme, half the voxel size), and the data carry everything the acquisition does to them
/// (k-space truncation of the finer object, intra-voxel phase dispersion of four isochromats
/// per 1.5 mm cell, T2* weighting, phase wrapping and unwrapping). The coarse matrix also
/// keeps the inversion (NUTS, 2 chains) well under two minutes.
#[test]
fn regions_posterior_of_bloch_data_from_a_finer_grid() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = root().join("configs/inclusion-2d.toml");
    let start = Instant::now();
    let o = run(
        &[cfg.to_str().unwrap(), "--output", "sim.h5", "--set", "sequence.matrix=[1,64,64]", "--set", "output.figures=false", "-q"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let simulated = start.elapsed().as_secs_f64();
    let data = read_mre_data(&dir.path().join("sim.h5")).unwrap();
    let shape = data.wave.as_ref().expect("/wave").shape().to_vec();
    assert_eq!(&shape[2..], &[1, 64, 64], "the data are on the 64² acquisition grid");
    assert!((data.voxel_size_m[2] - 3e-3).abs() < 1e-12 && (data.voxel_size_m[1] - 3e-3).abs() < 1e-12, "{:?}", data.voxel_size_m);

    let o = run(&["invert", "sim.h5", "--method", "bayes", "--output", "post.h5", "--no-figures", "-q"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let total = start.elapsed().as_secs_f64();
    let r = read_mre_result(&dir.path().join("post.h5")).unwrap();
    assert_eq!(r.provenance.method, "bayes-independence-reduced");

    // True G' per label from the simulation's ground truth (evaluation only; the inversion
    // never reads it): 3 kPa for the tissue, 9 kPa for the inclusion.
    let labels = data.labels.as_ref().expect("/labels");
    let mask = data.mask.as_ref().expect("/mask");
    let gt = &data.ground_truth.as_ref().expect("/ground_truth").storage_modulus_pa;
    assert_eq!(r.regions.len(), 2, "{:?}", r.regions);
    let mut truths = Vec::new();
    for row in &r.regions {
        let values: Vec<f64> = labels.iter().zip(mask).zip(gt).filter(|((&l, &m), _)| m != 0 && l == row.label).map(|(_, &g)| g).collect();
        assert!(!values.is_empty());
        let truth = values[0];
        assert!(values.iter().all(|&g| g == truth), "label {} has one modulus", row.label);
        truths.push((row.label, row.storage_mean_pa, truth));
        eprintln!(
            "label {} ({} voxels): G' {:.1} Pa (std {:.1}, 90 % [{:.1}, {:.1}]), truth {truth} Pa, error {:+.2} %; G'' {:.1} Pa; R̂ {:.3}, ESS {:.0}",
            row.label,
            values.len(),
            row.storage_mean_pa,
            row.storage_std_pa,
            row.storage_q05_pa,
            row.storage_q95_pa,
            100.0 * (row.storage_mean_pa / truth - 1.0),
            row.loss_mean_pa,
            row.rhat,
            row.ess
        );
    }
    eprintln!("simulation {simulated:.1} s, simulation + inversion {total:.1} s");
    let mut moduli: Vec<f64> = truths.iter().map(|t| t.2).collect();
    moduli.sort_by(f64::total_cmp);
    assert_eq!(moduli, vec![3000.0, 9000.0], "the config's tissue and inclusion");
    for &(label, estimate, truth) in &truths {
        assert!((estimate / truth - 1.0).abs() < 0.10, "label {label}: G' {estimate} Pa vs {truth} Pa");
    }

    // The full-domain drive on the same data: the actuator on the x-low edge (as the config
    // drives it), absorbing layers outside the other edges, drive amplitudes profiled; the
    // full model (no reduced basis), so fewer draws.
    let o = run(
        &[
            "invert",
            "sim.h5",
            "--method",
            "bayes",
            "--drive",
            "actuator",
            "--drive-face",
            "x-",
            "--chains",
            "2",
            "--draws",
            "100",
            "--output",
            "actuator.h5",
            "--no-figures",
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = read_mre_result(&dir.path().join("actuator.h5")).unwrap();
    assert_eq!(r.provenance.method, "bayes-independence");
    let drive = r.provenance.extra.iter().find(|(k, _)| k == "drive").map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(drive.starts_with("actuator on x-"), "{drive}");
    for row in &r.regions {
        let truth = truths.iter().find(|t| t.0 == row.label).expect("same labels").2;
        eprintln!(
            "actuator drive, label {}: G' {:.1} Pa (truth {truth}), error {:+.2} %, R̂ {:.3}",
            row.label,
            row.storage_mean_pa,
            100.0 * (row.storage_mean_pa / truth - 1.0),
            row.rhat
        );
        assert!(
            (row.storage_mean_pa / truth - 1.0).abs() < 0.10,
            "actuator drive, label {}: G' {} Pa vs {truth} Pa",
            row.label,
            row.storage_mean_pa
        );
    }
}
