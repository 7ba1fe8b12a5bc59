//! A small study through the library: how well does the algebraic Helmholtz
//! inversion of a simulated MRE wave field recover the storage modulus, as the
//! tissue gets stiffer (longer wavelength, fewer voxels per wavelength)?
//!
//! Run with `cargo run --release --example plane_wave_study`.

use mre_sim::io::config::RunConfig;
use mre_sim::solver::recon::algebraic_helmholtz;
use mre_sim::solver::simulate;
use ndarray::s;

fn main() -> anyhow::Result<()> {
    println!("{:>10} {:>14} {:>12}", "G' (Pa)", "AHI median", "error");
    for g in [1500.0, 3000.0, 6000.0] {
        // the quickstart config with both tissues' stiffness overridden
        let sets =
            [format!("tissue.0.storage_modulus_pa={g}"), format!("tissue.1.storage_modulus_pa={g}"), "phantom.spins_per_voxel=1".into()];
        let (cfg, src) = RunConfig::load("configs/quickstart.toml".as_ref(), &sets)?;
        let run = cfg.build(&src)?;
        let out = simulate(&run.experiment(), &run.options, &())?;
        let omega = 2.0 * std::f64::consts::PI * run.frequencies_hz[0];
        let wave = out.wave.slice(s![0, 0, .., .., ..]).to_owned();
        let mask = out.mask.mapv(|m| m == 1);
        let gstar = algebraic_helmholtz(&wave, &mask, out.image_grid.voxel_size_m, omega, run.density_kg_m3);
        let mut re: Vec<f64> = gstar.iter().filter(|c| c.re.is_finite()).map(|c| c.re).collect();
        re.sort_by(f64::total_cmp);
        let median = re[re.len() / 2];
        println!("{g:>10.0} {median:>14.1} {:>11.2}%", 100.0 * (median / g - 1.0));
    }
    Ok(())
}
