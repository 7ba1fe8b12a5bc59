//! End-to-end physics: the simulated wave field of a plane shear wave in a
//! homogeneous phantom against the analytic displacement, and the quickstart
//! configuration against its own ground truth.

use mre_sim::io::config::RunConfig;
use mre_sim::solver::model::motion::{shear_wavenumber, Displacement, PlaneShearWave};
use mre_sim::solver::recon::algebraic_helmholtz;
use mre_sim::solver::simulate;
use ndarray::{s, Array3};
use num_complex::Complex64;
use std::f64::consts::PI;

fn erode(mask: &Array3<u8>, r: usize) -> Array3<bool> {
    let sh = mask.shape().to_vec();
    Array3::from_shape_fn((sh[0], sh[1], sh[2]), |(z, y, x)| {
        if y < r || x < r || y + r >= sh[1] || x + r >= sh[2] {
            return false;
        }
        (y - r..=y + r).all(|yy| (x - r..=x + r).all(|xx| mask[[z, yy, xx]] == 1))
    })
}

/// Complex wavenumber vector (in-plane [ky, kx]) of `u` from neighbour ratios inside `mask`.
fn wavenumber(u: &Array3<Complex64>, mask: &Array3<bool>, d: [f64; 3]) -> [Complex64; 2] {
    let mut out = [Complex64::new(0.0, 0.0); 2];
    for (k, axis) in [1usize, 2].iter().enumerate() {
        let (mut acc, mut n) = (Complex64::new(0.0, 0.0), 0.0);
        for ((z, y, x), &m) in mask.indexed_iter() {
            let nb = if *axis == 1 { [z, y + 1, x] } else { [z, y, x + 1] };
            if m && nb[1] < mask.shape()[1] && nb[2] < mask.shape()[2] && mask[nb] {
                // U(r + d)/U(r) = e^{-i k d}  =>  k d = i ln(ratio)
                acc += Complex64::new(0.0, 1.0) * (u[nb] / u[[z, y, x]]).ln();
                n += 1.0;
            }
        }
        out[k] = acc / n / d[*axis];
    }
    out
}

/// Simulate the quickstart (a plane wave in a mechanically homogeneous disc) and
/// compare the reconstructed wave with the analytic one. Returns the complex
/// correlation, the least-squares complex gain, G* from the wavenumber, and the
/// median AHI G' inside the disc.
fn plane_wave_recovery(jitter: bool) -> (f64, Complex64, Complex64, f64) {
    let sets = [format!("phantom.jitter={jitter}")];
    let (cfg, src) = RunConfig::load("configs/quickstart.toml".as_ref(), &sets).unwrap();
    let run = cfg.build(&src).unwrap();
    let out = simulate(&run.experiment(), &run.options, &()).unwrap();
    let wave = out.wave.slice(s![0, 0, .., .., ..]).to_owned();
    let inner = erode(&out.mask, 3);
    let t = &cfg.tissues[0];
    let (f, rho) = (cfg.motion.frequencies_hz[0], t.density_kg_m3);
    let analytic = PlaneShearWave::new(
        f,
        t.storage_modulus_pa,
        t.loss_modulus_pa,
        rho,
        cfg.motion.amplitude_m.unwrap(),
        cfg.motion.propagation_zyx.unwrap(),
        cfg.motion.polarization_zyx.unwrap(),
    )
    .unwrap();
    let grid = &out.image_grid;
    let (mut dot, mut nw, mut na) = (Complex64::new(0.0, 0.0), 0.0, 0.0);
    for ((z, y, x), &m) in inner.indexed_iter() {
        if m {
            let a = analytic.amplitude(grid.centre([z, y, x]))[0];
            let w = wave[[z, y, x]];
            dot += w * a.conj();
            nw += w.norm_sqr();
            na += a.norm_sqr();
        }
    }
    let corr = dot.norm() / (nw * na).sqrt();
    let gain = dot / na; // least-squares complex gain of the simulated field over the analytic one
                         // wavelength and attenuation -> G*
    let k = wavenumber(&wave, &inner, grid.voxel_size_m);
    let kk = k[0] * k[0] + k[1] * k[1];
    let omega = 2.0 * PI * f;
    let g = rho * omega * omega / kk;
    let truth = shear_wavenumber(omega, t.storage_modulus_pa, t.loss_modulus_pa, rho);
    let wavelength = 2.0 * PI / kk.sqrt().re;
    eprintln!(
        "jitter {jitter}: corr {corr:.5}, gain {gain:.4}, G* = {g:.1} Pa, λ = {:.2} mm (analytic {:.2} mm)",
        wavelength * 1e3,
        2e3 * PI / truth.re
    );

    // AHI of /wave recovers the ground-truth G' (median inside the tissue)
    let gstar = algebraic_helmholtz(&wave, &inner, grid.voxel_size_m, omega, rho);
    let mut re: Vec<f64> = gstar.iter().zip(&inner).filter(|(g, &m)| m && g.re.is_finite()).map(|(g, _)| g.re).collect();
    re.sort_by(f64::total_cmp);
    let median = re[re.len() / 2];
    let gt: Vec<f64> = out.storage_modulus_pa.iter().zip(&inner).filter(|(_, &m)| m).map(|(g, _)| *g).collect();
    assert!(gt.iter().all(|&v| v == gt[0] && v == t.storage_modulus_pa));
    eprintln!("jitter {jitter}: AHI median G' = {median:.1} Pa over {} voxels (truth {})", re.len(), gt[0]);
    (corr, gain, g, median)
}

#[test]
fn plane_wave_is_recovered_with_jittered_isochromats() {
    let (corr, gain, g, _) = plane_wave_recovery(true);
    assert!(corr > 0.99, "complex correlation {corr}");
    assert!((gain.norm() - 1.0).abs() < 0.02, "amplitude ratio {}", gain.norm());
    assert!(gain.arg().abs() < 0.02, "phase offset {} rad", gain.arg());
    assert!((g.re / 3000.0 - 1.0).abs() < 0.02, "G' from the wavelength: {} Pa", g.re);
}

#[test]
fn quickstart_wave_matches_analytic_and_ahi_recovers_ground_truth() {
    // regular sub-voxel isochromats: no sampling noise, so AHI without filtering works
    let (corr, gain, g, ahi) = plane_wave_recovery(false);
    assert!(corr > 0.999, "complex correlation {corr}");
    assert!((gain.norm() - 1.0).abs() < 0.005, "amplitude ratio {}", gain.norm());
    assert!((g.re / 3000.0 - 1.0).abs() < 0.005 && (g.im / 300.0 - 1.0).abs() < 0.05, "G* from the wavenumber: {g} Pa");
    assert!((ahi / 3000.0 - 1.0).abs() < 0.02, "AHI median G' {ahi}");
}

#[test]
fn three_d_acquisition_encodes_all_three_components() {
    // 3-D Cartesian (partition encoding along z), MEG along x, y and z in turn;
    // a plane wave travelling along x, polarised in the y-z plane.
    let text = r#"
[phantom]
shape = [12, 16, 16]
voxel_size_m = [0.003, 0.003, 0.003]
spins_per_voxel = 1
jitter = false
background = "gel"

[[tissue]]
name = "gel"
t1_s = 0.8
t2_s = 0.05
storage_modulus_pa = 1500.0
loss_modulus_pa = 150.0

[motion]
source = "plane-wave"
frequencies_hz = [80.0]
amplitude_m = 8e-6
propagation_zyx = [0.0, 0.0, 1.0]
polarization_zyx = [0.6, 0.8, 0.0]

[sequence]
tr_s = 0.025
te_s = 0.017
flip_angle_deg = 10.0
dummy_scans = 10

[sequence.meg]
axes = ["x", "y", "z"]
amplitude_t_per_m = 0.03
"#;
    let (cfg, src) = RunConfig::parse(text, "inline-3d.toml", ".".into(), &[]).unwrap();
    let run = cfg.build(&src).unwrap();
    let out = simulate(&run.experiment(), &run.options, &()).unwrap();
    assert_eq!(out.wave.shape(), &[1, 3, 12, 16, 16]);
    let wave = PlaneShearWave::new(80.0, 1500.0, 150.0, 1000.0, 8e-6, [0.0, 0.0, 1.0], [0.6, 0.8, 0.0]).unwrap();
    // components in acquisition order x, y, z; analytic U is [z, y, x]
    for (ci, axis) in [(0usize, 2usize), (1, 1), (2, 0)] {
        let (mut dot, mut na, mut nw) = (Complex64::new(0.0, 0.0), 0.0, 0.0);
        for ((z, y, x), w) in out.wave.slice(s![0, ci, .., .., ..]).indexed_iter() {
            let a = wave.amplitude(out.image_grid.centre([z, y, x]))[axis];
            dot += w * a.conj();
            na += a.norm_sqr();
            nw += w.norm_sqr();
        }
        if na == 0.0 {
            // x is not polarised: nothing may be encoded along x
            assert!(nw.sqrt() < 1e-3 * 8e-6 * 48.0, "component {ci} should be empty, |U| = {}", nw.sqrt());
            continue;
        }
        let corr = dot.norm() / (na * nw).sqrt();
        let gain = dot / na;
        assert!(corr > 0.999 && (gain - 1.0).norm() < 0.01, "component {ci}: corr {corr}, gain {gain}");
    }
}

#[test]
fn ahi_of_the_simulated_inclusion_recovers_both_moduli() {
    let (cfg, src) = RunConfig::load("configs/inclusion-2d.toml".as_ref(), &[]).unwrap();
    let mut run = cfg.build(&src).unwrap();
    run.prepare().unwrap();
    let mut out = simulate(&run.experiment(), &run.options, &()).unwrap();
    run.restrict_to_physical_region(&mut out);
    let grid = out.image_grid.clone();
    let mask = out.mask.mapv(|m| m == 1);
    let radius = 0.015;
    // away from the edge: inclusion core, and background more than 3 voxels from the inclusion and the PML
    let inner = erode(&out.mask, 3);
    let r_of = |z, y, x| {
        let c = grid.centre([z, y, x]);
        (c[1] * c[1] + c[2] * c[2]).sqrt()
    };
    let mut core = Vec::new();
    let mut background = Vec::new();
    for (fi, &f) in run.frequencies_hz.iter().enumerate() {
        let wave = out.wave.slice(s![fi, 0, .., .., ..]).to_owned();
        let g = algebraic_helmholtz(&wave, &mask, grid.voxel_size_m, 2.0 * PI * f, run.density_kg_m3);
        for ((z, y, x), v) in g.indexed_iter() {
            if !v.re.is_finite() || !inner[[z, y, x]] {
                continue;
            }
            let r = r_of(z, y, x);
            if r < 0.5 * radius {
                core.push(v.re);
            } else if r > radius + 4.0 * grid.voxel_size_m[2] {
                background.push(v.re);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (gi, gb) = (median(&mut core), median(&mut background));
    eprintln!("AHI median G': inclusion {gi:.0} Pa ({} voxels), background {gb:.0} Pa ({} voxels)", core.len(), background.len());
    assert!((gb / 3000.0 - 1.0).abs() < 0.10, "background G' {gb}");
    assert!((gi / 9000.0 - 1.0).abs() < 0.10, "inclusion G' {gi}");
    // the PML and the driven column are not part of the mask
    assert_eq!(out.mask[[0, 64, 0]], 0);
    assert_eq!(out.mask[[0, 64, 127]], 0);
    assert_eq!(out.mask[[0, 5, 64]], 0);
    assert_eq!(out.mask[[0, 64, 64]], 1);
}
