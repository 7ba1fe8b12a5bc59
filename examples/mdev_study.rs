//! The classic pipeline through the library: simulate a multifrequency MRE data
//! set of a stiff inclusion, take the wave fields, filter them, invert them with
//! MDEV and with AHI, and compare both with the ground truth inside and outside
//! the inclusion; the MDEV maps are written as an mre-result file.
//!
//! Run with `cargo run --release --example mdev_study` (about 15 s on 2 cores).

use mre_sim::io::config::RunConfig;
use mre_sim::io::hdf5::{write_mre_result, MreResult, ResultProvenance};
use mre_sim::solver::classic::{ahi, filter_wave, mdev, Elastogram, Filter};
use mre_sim::solver::simulate;
use ndarray::{Array3, Array4, Axis};

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> anyhow::Result<()> {
    // configs/inclusion-2d.toml (3 kPa background, 9 kPa inclusion, 50/60/70 Hz) on a coarser grid.
    let sets = ["phantom.shape=[1, 96, 96]".to_string(), "phantom.voxel_size_m=[0.005, 0.002, 0.002]".into()];
    let (cfg, src) = RunConfig::load("configs/inclusion-2d.toml".as_ref(), &sets)?;
    let mut run = cfg.build(&src)?;
    run.prepare()?;
    let out = simulate(&run.experiment(), &run.options, &())?;
    let mut mask = out.mask.mapv(|m| m == 1);
    if let Some(physical) = run.physical_region(&out.image_grid) {
        mask.zip_mut_with(&physical, |m, &p| *m &= p);
    }
    let voxel = out.image_grid.voxel_size_m;
    let filter = Filter::recommended(voxel[2]);

    // Filtered wave fields [ncomp, nz, ny, nx] per frequency.
    let waves: Vec<(f64, Array4<_>)> = run
        .frequencies_hz
        .iter()
        .zip(out.wave.outer_iter())
        .map(|(&f, w)| {
            let mut w = w.to_owned();
            for mut c in w.axis_iter_mut(Axis(0)) {
                let filtered = filter_wave(&c.to_owned(), voxel, &filter)?;
                c.assign(&filtered);
            }
            Ok((2.0 * std::f64::consts::PI * f, w))
        })
        .collect::<anyhow::Result<_>>()?;
    let views: Vec<_> = waves.iter().map(|(w, u)| (*w, u.view())).collect();
    let by_mdev = mdev(&views, &mask, voxel, run.density_kg_m3)?;
    let (w60, u60) = &waves[1];
    let by_ahi = ahi(u60.view(), &mask, voxel, *w60, run.density_kg_m3)?;

    // Medians over the inclusion and over the background (the filter blurs the inclusion edge,
    // which pulls the inclusion median down: the classic methods' known weakness).
    let truth = &out.storage_modulus_pa;
    let region = |e: &Elastogram, stiff: bool| {
        median(e.storage_modulus_pa.iter().zip(truth.iter()).filter(|(_, &t)| (t > 6000.0) == stiff).map(|(&g, _)| g))
    };
    println!("{:>6} {:>16} {:>16}", "", "inclusion G' Pa", "background G' Pa");
    println!("{:>6} {:>16.0} {:>16.0}", "truth", 9000.0, 3000.0);
    for (name, e) in [("MDEV", &by_mdev), ("AHI", &by_ahi)] {
        println!("{name:>6} {:>16.0} {:>16.0}", region(e, true), region(e, false));
    }

    let result = MreResult {
        storage_modulus_pa: by_mdev.storage_modulus_pa.clone(),
        loss_modulus_pa: by_mdev.loss_modulus_pa.clone(),
        abs_modulus_pa: Some(by_mdev.abs_modulus_pa.clone()),
        phase_angle_rad: Some(by_mdev.phase_angle_rad.clone()),
        storage_modulus_std_pa: None::<Array3<f64>>,
        loss_modulus_std_pa: None,
        storage_modulus_q05_pa: None,
        storage_modulus_q95_pa: None,
        regions: Vec::new(),
        samples: None,
        residual_z: None,
        provenance: ResultProvenance {
            tool: "mre-sim".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            method: "mdev".into(),
            source_data: "configs/inclusion-2d.toml (in memory)".into(),
            ..Default::default()
        },
    };
    std::fs::create_dir_all("out")?;
    write_mre_result("out/mdev_study.h5".as_ref(), &result, true)?;
    println!("wrote out/mdev_study.h5");
    Ok(())
}
