//! The plane-strain (P–SV) cylinder scattering series ([`ElasticCylinderScattering`], Pao & Mow)
//! checked on its own (homogeneous limit, interface conditions, the static limits of Kirsch and
//! Muskhelishvili, energy conservation) and the vector solver ([`NavierSolver`], 2-D plane
//! strain) against it on successively finer grids.
//!
//! The solver runs are driven by the series prescribed on the outer voxel layer (Dirichlet data
//! of the exact total field, no PML: with exact data on the boundary of the computed region
//! there is nothing to absorb, and a PML inside the prescribed layer would make the data there
//! wrong). Lossy media keep the Dirichlet box away from resonance. Each of the two solver tests takes
//! 15–30 s in release on a busy 2-core machine, peak memory ~4 GB (the 96² LU factorisation
//! at ν = 0.4999).

use std::f64::consts::PI;
use std::time::Instant;

use mre_solver::wave::analytic::{ElasticCylinderScattering, ElasticMedium, Side};
use mre_solver::wave::{Boundary, Medium, NavierSolver, VectorDirichlet, VectorProblem};
use mre_solver::{Grid, SolverError};
use ndarray::Array3;
use num_complex::Complex64;

const RHO: f64 = 1000.0;
const OMEGA: f64 = 2.0 * PI * 60.0;

fn medium(g: f64, loss: f64, nu: f64) -> ElasticMedium {
    ElasticMedium::with_poisson_ratio(g, loss, nu, RHO).unwrap()
}

fn rel(a: Complex64, b: Complex64, scale: f64) -> f64 {
    (a - b).norm() / scale
}

#[test]
fn homogeneous_cylinder_scatters_nothing() {
    for nu in [0.3, 0.4999] {
        let m = medium(3e3, 3e2, nu);
        let s = ElasticCylinderScattering::new(OMEGA, m, m, 0.012).unwrap();
        // The low orders, whose coefficients are of the size of their terms (at high orders a
        // coefficient of J_n(k_p a) ≪ 1 may be large while its term is negligible).
        for n in -5..=5 {
            let c = s.coefficients(n).unwrap();
            // B_n, C_n (scattered) vanish; E_n = the incident ψ coefficient (−i/k_s)(−i)^n (D_n,
            // of J_n(k_p r), is checked through the fields below).
            let inc = -Complex64::i() / s.wavenumbers()[1] * (-Complex64::i()).powi(n);
            assert!(c[0].norm() < 1e-12 * inc.norm() && c[1].norm() < 1e-12 * inc.norm(), "ν = {nu}, n = {n}: {c:?}");
            assert!(rel(c[3], inc, inc.norm()) < 1e-12, "ν = {nu}, n = {n}: {c:?}");
        }
        for (x, y) in
            [(0.0, 0.0), (1e-7, 0.0), (0.005, -0.003), (-0.01, 0.0079), (0.02, 0.0), (-0.03, 0.04), (0.0119, 0.001), (0.0, 0.0121)]
        {
            let (u, want) = (s.displacement(x, y), s.incident(x, y));
            assert!(rel(u[0], want[0], 1.0) < 1e-12 && u[1].norm() < 1e-12, "ν = {nu} ({x}, {y}): {u:?} vs {want:?}");
        }
    }
}

/// Background 3 kPa; soft and stiff inclusions, lossy, at ν = 0.3, 0.4999 and 0.49999999
/// (K/G ≈ 1.7e7, k_p a ~ 1e-4: the incompressible limit; K from G').
fn cases() -> Vec<(String, ElasticCylinderScattering)> {
    let mut v = Vec::new();
    for nu in [0.3, 0.4999, 0.499_999_99] {
        for (label, g2, l2, rho2, a, hz) in [
            ("stiff", 9e3, 9e2, 1100.0, 0.012, 60.0),
            ("soft", 1e3, 2e2, 1000.0, 0.015, 60.0),
            ("stiff large", 2e4, 4e3, 1050.0, 0.03, 100.0),
        ] {
            let bg = medium(3e3, 3e2, nu);
            let incl = ElasticMedium::with_poisson_ratio(g2, l2, nu, rho2).unwrap();
            let s = ElasticCylinderScattering::new(2.0 * PI * hz, bg, incl, a).unwrap();
            v.push((format!("ν = {nu}, {label} (G₂ = {g2} Pa, a = {a} m, {hz} Hz)"), s));
        }
    }
    v
}

#[test]
fn displacement_and_traction_are_continuous_at_the_interface() {
    for (name, s) in cases() {
        let a = s.radius_m();
        let k = s.wavenumbers();
        println!(
            "{name}: k_p a = {:.3e}, k_s a = {:.3}, inclusion k_p a = {:.3e}, k_s a = {:.3}; orders {}, tail {:.1e}, condition {:.2e}",
            (k[0] * a).norm(),
            (k[1] * a).norm(),
            (k[2] * a).norm(),
            (k[3] * a).norm(),
            s.orders(),
            s.series_tail(),
            s.condition()
        );
        assert!(s.series_tail() < 1e-16, "{name}: tail {}", s.series_tail());
        assert!(s.condition() < 1e4, "{name}: condition {}", s.condition());
        let thetas: Vec<f64> = (0..48).map(|i| -PI + i as f64 * PI / 24.0 + 0.05).collect();
        let out: Vec<_> = thetas.iter().map(|&t| s.polar(a, t, Side::Background)).collect();
        let ins: Vec<_> = thetas.iter().map(|&t| s.polar(a, t, Side::Inclusion)).collect();
        let u_scale = out.iter().map(|f| f.u_r.norm().max(f.u_theta.norm())).fold(0.0, f64::max);
        let s_scale = out.iter().map(|f| f.s_rr.norm().max(f.s_rtheta.norm())).fold(0.0, f64::max);
        let (mut eu, mut es) = (0.0f64, 0.0f64);
        for (o, i) in out.iter().zip(&ins) {
            eu = eu.max(rel(o.u_r, i.u_r, u_scale)).max(rel(o.u_theta, i.u_theta, u_scale));
            es = es.max(rel(o.s_rr, i.s_rr, s_scale)).max(rel(o.s_rtheta, i.s_rtheta, s_scale));
        }
        println!("  max jump at r = a: displacement {eu:.1e}, traction {es:.1e} (relative to the largest value)");
        assert!(eu < 1e-10 && es < 1e-10, "{name}: jumps {eu:e}, {es:e}");
        // σ_θθ is not continuous (different moduli): the check above is not trivially satisfied.
        let jump_tt = out.iter().zip(&ins).map(|(o, i)| rel(o.s_thetatheta, i.s_thetatheta, s_scale)).fold(0.0, f64::max);
        assert!(jump_tt > 1e-3, "{name}: σ_θθ continuous too ({jump_tt:e})?");
    }
}

#[test]
fn incompressible_limit_is_regular() {
    // As ν → 0.5 (k_p a → 0) the fields converge to the incompressible solution, the
    // difference shrinking like 1 − 2ν: 10× per step of ν = 0.49, 0.499, …, compared with
    // ν = 0.5 − 5e-10 (K/G ≈ 1e9).
    let at = |nu: f64| {
        let s = ElasticCylinderScattering::new(OMEGA, medium(3e3, 3e2, nu), medium(9e3, 9e2, nu), 0.012).unwrap();
        assert!(s.series_tail() < 1e-16 && s.condition() < 1e4, "ν = {nu}");
        [(0.0, 0.0), (0.006, 0.004), (0.0121, -0.002), (-0.02, 0.015), (0.03, 0.03)].map(|(x, y)| s.displacement(x, y))
    };
    let limit = at(0.5 - 5e-10);
    let diff = |nu: f64| at(nu).iter().zip(&limit).flat_map(|(u, v)| [(u[0] - v[0]).norm(), (u[1] - v[1]).norm()]).fold(0.0, f64::max);
    let d: Vec<f64> = [0.49, 0.499, 0.4999, 0.49999].iter().map(|&nu| diff(nu)).collect();
    println!("max |u(ν) − u(0.5 − 5e-10)| for ν = 0.49 … 0.49999: {:?}", d.iter().map(|v| format!("{v:.2e}")).collect::<Vec<_>>());
    for w in d.windows(2) {
        let ratio = w[0] / w[1];
        assert!((7.0..14.0).contains(&ratio), "{d:?}");
    }
}

#[test]
fn series_is_truncated_beyond_the_turning_point() {
    for (name, s) in cases() {
        let ks = s.wavenumbers()[3].norm().max(s.wavenumbers()[1].norm());
        assert!(s.orders() as f64 > ks * s.radius_m(), "{name}: {} orders", s.orders());
        assert!(s.coefficients(s.orders() as i32).is_none() && s.coefficients(-(s.orders() as i32)).is_none());
        // The tail estimate is checked in the continuity test; the kept orders are finite.
        let last = s.coefficients(s.orders() as i32 - 1).unwrap();
        assert!(last.iter().all(|c| c.re.is_finite() && c.im.is_finite()), "{name}");
    }
}

#[test]
fn static_limits_kirsch_and_muskhelishvili() {
    // At k_s a = 1e-4 (equal densities) the field near the cylinder is quasi-static: the incident
    // wave is a uniform pure shear σ_xy = τ = −ik_sG₁* (plus a rigid translation; its stress
    // varies by O(k_s a) across the cylinder, hence the low frequency; much lower ones lose
    // ~ε/(k_s a)² to cancellation in the stresses of the potentials). Plane strain,
    // κ = 3 − 4ν of the background:
    // - an elastic inclusion carries a uniform pure shear τ μ₂(κ₁ + 1)/(μ₁ + κ₁μ₂)
    //   (Muskhelishvili's circular inclusion; Goodier 1933);
    // - a cavity (μ₂ → 0) has the hoop stress σ_θθ = −4τ sin 2θ at its edge (Kirsch).
    let a = 0.01;
    for nu in [0.3, 0.4999] {
        let kappa = 3.0 - 4.0 * nu;
        let g1 = 3e3;
        let omega = 1e-4 / a * (g1 / RHO).sqrt();
        for (g2, l2) in [(9e3, 9e2), (1e3, 0.0), (3e5, 3e4)] {
            let (bg, incl) = (medium(g1, 0.0, nu), medium(g2, l2, nu));
            let s = ElasticCylinderScattering::new(omega, bg, incl, a).unwrap();
            let tau = -Complex64::i() * s.wavenumbers()[1] * g1;
            let mu2 = incl.shear_modulus();
            let factor = mu2 * (kappa + 1.0) / (g1 + kappa * mu2);
            let mut worst: f64 = 0.0;
            for (x, y) in [(0.01 * a, 0.0), (0.3 * a, 0.2 * a), (-0.5 * a, 0.6 * a), (0.1 * a, -0.9 * a)] {
                let st = s.stress(x, y);
                let want = tau * factor;
                worst = worst.max(rel(st.xy, want, want.norm())).max(st.xx.norm() / want.norm()).max(st.yy.norm() / want.norm());
            }
            println!("ν = {nu}, G₂ = {g2} + {l2}i Pa: interior shear factor {factor:.5}, max relative deviation {worst:.1e}");
            assert!(worst < 2e-4, "ν = {nu}, G₂ = {g2}: {worst:e}");
        }
        // Cavity: an inclusion 1e-9 times softer (K from the same ν).
        let s = ElasticCylinderScattering::new(omega, medium(g1, 0.0, nu), medium(g1 * 1e-9, 0.0, nu), a).unwrap();
        let tau = -Complex64::i() * s.wavenumbers()[1] * g1;
        let mut worst: f64 = 0.0;
        for i in 0..16 {
            let theta = 0.1 + i as f64 * PI / 8.0;
            let f = s.polar(a, theta, Side::Background);
            let want = -4.0 * tau * (2.0 * theta).sin();
            worst =
                worst.max(rel(f.s_thetatheta, want, 4.0 * tau.norm())).max(f.s_rr.norm() / tau.norm()).max(f.s_rtheta.norm() / tau.norm());
        }
        println!("ν = {nu}, cavity: max |σ_θθ + 4τ sin 2θ| / 4|τ| and traction/|τ| at r = a: {worst:.1e}");
        assert!(worst < 5e-4, "ν = {nu} cavity: {worst:e}");
    }
}

#[test]
fn lossless_scattering_conserves_energy() {
    // Lossless media: no power is absorbed, the net outward power through any circle is zero
    // although the scattered wave alone carries power away (optical theorem: it equals the
    // power the interference term removes from the incident wave).
    for nu in [0.3, 0.4999] {
        for (g2, rho2) in [(9e3, 1100.0), (1e3, 1000.0)] {
            let incl = ElasticMedium::with_poisson_ratio(g2, 0.0, nu, rho2).unwrap();
            let s = ElasticCylinderScattering::new(OMEGA, medium(3e3, 0.0, nu), incl, 0.015).unwrap();
            // Scale: the power the scattered field alone carries out at r = 3a.
            let mut scattered = 0.0;
            let r = 0.045;
            let pts = 256;
            for q in 0..pts {
                let theta = 2.0 * PI * q as f64 / pts as f64;
                let f = s.polar(r, theta, Side::Background);
                let i = {
                    let (sn, c) = theta.sin_cos();
                    let e = (-Complex64::i() * s.wavenumbers()[1] * r * c).exp();
                    let sxy = -Complex64::i() * s.wavenumbers()[1] * 3e3 * e;
                    (e * sn, e * c, sxy * (2.0 * sn * c), sxy * (c * c - sn * sn))
                };
                let (ur, ut, srr, srt) = (f.u_r - i.0, f.u_theta - i.1, f.s_rr - i.2, f.s_rtheta - i.3);
                let v = (Complex64::i() * OMEGA * ur, Complex64::i() * OMEGA * ut);
                scattered -= 0.5 * (srr * v.0.conj() + srt * v.1.conj()).re * r * 2.0 * PI / pts as f64;
            }
            let total: Vec<f64> = [0.015, 0.03, 0.1].iter().map(|&r| s.outward_power(r, Side::Background, 256)).collect();
            let inside = s.outward_power(0.015, Side::Inclusion, 256);
            println!(
                "ν = {nu}, G₂ = {g2}: scattered power {scattered:.4e} W/m, net outward {:?} (inclusion side {inside:.1e})",
                total.iter().map(|p| format!("{p:.1e}")).collect::<Vec<_>>()
            );
            assert!(scattered > 0.0);
            assert!(total.iter().chain([&inside]).all(|p| p.abs() < 1e-9 * scattered), "{total:?} {inside}");
        }
    }
    // A lossy inclusion in a lossless background absorbs: the net outward power is negative and
    // the same through every circle outside.
    let s = ElasticCylinderScattering::new(OMEGA, medium(3e3, 0.0, 0.3), medium(9e3, 2e3, 0.3), 0.015).unwrap();
    let p: Vec<f64> = [0.015, 0.03, 0.1].iter().map(|&r| s.outward_power(r, Side::Background, 256)).collect();
    println!("lossy inclusion: net outward power {p:?}");
    assert!(p[0] < 0.0 && p.iter().all(|q| (q / p[0] - 1.0).abs() < 1e-9), "{p:?}");
}

#[test]
fn poisson_ratio_gives_the_solvers_lame_parameter() {
    // K = 2G'(1 + ν)/(3(1 − 2ν)) from the storage modulus: λ = K − 2G*/3 = 2G'ν/(1 − 2ν) − i2G''/3,
    // and the Poisson ratio of the storage part, (3K − 2G')/(2(3K + G')), is ν again.
    for nu in [0.3, 0.45, 0.4999] {
        let m = medium(3e3, 6e2, nu);
        let k = m.bulk_modulus_pa;
        assert!(((3.0 * k - 6e3) / (2.0 * (3.0 * k + 3e3)) / nu - 1.0).abs() < 1e-12);
        let want = Complex64::new(6e3 * nu / (1.0 - 2.0 * nu), -4e2);
        assert!(rel(m.lame_lambda(), want, want.norm()) < 1e-12, "{} vs {want}", m.lame_lambda());
        assert!(rel(m.p_wave_modulus(), m.lame_lambda() + 2.0 * m.shear_modulus(), want.norm()) < 1e-12);
        let (kp, ks) = m.wavenumbers(OMEGA);
        assert!(kp.im < 0.0 && ks.im < 0.0 && kp.re > 0.0 && ks.re > kp.re);
    }
}

#[test]
fn invalid_parameters_are_errors() {
    let good = medium(3e3, 3e2, 0.3);
    for nu in [0.5, 0.6, 0.0, -0.2, f64::NAN] {
        assert!(
            matches!(ElasticMedium::with_poisson_ratio(3e3, 0.0, nu, RHO), Err(SolverError::InvalidParameter { name, .. }) if name == "poisson_ratio")
        );
    }
    let bad = [
        (ElasticMedium::new(-1.0, 0.0, 1e6, RHO), "inclusion storage_modulus_pa"),
        (ElasticMedium::new(3e3, -1.0, 1e6, RHO), "inclusion loss_modulus_pa"),
        (ElasticMedium::new(3e3, 0.0, 1e3, RHO), "inclusion bulk_modulus_pa"),
        (ElasticMedium::new(3e3, 0.0, f64::INFINITY, RHO), "inclusion bulk_modulus_pa"),
        (ElasticMedium::new(3e3, 0.0, 1e6, 0.0), "inclusion density_kg_m3"),
    ];
    for (m, what) in bad {
        match ElasticCylinderScattering::new(OMEGA, good, m, 0.01) {
            Err(SolverError::InvalidParameter { name, .. }) => assert_eq!(name, what),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(ElasticCylinderScattering::new(0.0, good, good, 0.01).is_err());
    assert!(ElasticCylinderScattering::new(OMEGA, good, good, f64::NAN).is_err());
}

/// Errors of one Navier solve against the series.
#[derive(Debug, Clone, Copy)]
struct Errors {
    /// `‖u − u_exact‖ / ‖u_exact‖` over the free voxels, both components.
    total: f64,
    /// The same for the scattered part `u − u_inc` (a stricter measure).
    scattered: f64,
    /// Largest pointwise error relative to the largest exact amplitude.
    max: f64,
}

/// Solve the plane-strain problem on an `n × n` grid of the square `[−L/2, L/2]²` with the
/// series prescribed on the outer voxel layer and compare with the series at the voxel centres.
fn navier_against_series(s: &ElasticCylinderScattering, bg: ElasticMedium, incl: ElasticMedium, side_m: f64, n: usize) -> Errors {
    assert_eq!(bg.bulk_modulus_pa, incl.bulk_modulus_pa, "the Navier solver takes one bulk modulus");
    let h = side_m / n as f64;
    let grid = Grid::new([1, n, n], [h; 3]).unwrap();
    let pos = |i: usize| (i as f64 + 0.5) * h - 0.5 * side_m;
    let mut m = Medium::homogeneous(grid.clone(), bg.storage_modulus_pa, bg.loss_modulus_pa, bg.density_kg_m3);
    for iy in 0..n {
        for ix in 0..n {
            if pos(ix).hypot(pos(iy)) < s.radius_m() {
                m.storage_modulus_pa[[0, iy, ix]] = incl.storage_modulus_pa;
                m.loss_modulus_pa[[0, iy, ix]] = incl.loss_modulus_pa;
                m.density_kg_m3[[0, iy, ix]] = incl.density_kg_m3;
            }
        }
    }
    // Every face of a prescribed voxel takes its value, the mean of the two values where two
    // prescribed voxels share it. The data make every face that couples with the unknowns exact:
    // a voxel on the layer of axis a only gives its u_a to the inner face next to the unknowns,
    // so it carries the exact value there; the u_a faces between the voxels of a layer row along
    // a (the layer of the other axis) are shared: their values v_i solve
    // (v_i + v_{i+1})/2 = u(face between i and i+1) from v_0 = u(centre 0) on.
    let chain = |face: &dyn Fn(usize) -> Complex64, first: Complex64| {
        let mut v = vec![first];
        for i in 0..n - 1 {
            let next = 2.0 * face(i) - v[i];
            v.push(next);
        }
        v
    };
    let mut data = Array3::from_elem((n, n, 2), Complex64::new(0.0, 0.0));
    for iy in [0, n - 1] {
        let ux = chain(&|ix| s.displacement(pos(ix) + 0.5 * h, pos(iy))[1], s.displacement(pos(0), pos(iy))[1]);
        for ix in 0..n {
            data[[iy, ix, 1]] = ux[ix];
        }
    }
    for ix in [0, n - 1] {
        let uy = chain(&|iy| s.displacement(pos(ix), pos(iy) + 0.5 * h)[0], s.displacement(pos(ix), pos(0))[0]);
        for iy in 0..n {
            data[[iy, ix, 0]] = uy[iy];
        }
    }
    let layer = |i: usize| i == 0 || i + 1 == n;
    let inward = |i: usize| if i == 0 { 0.5 * h } else { -0.5 * h };
    for i in 1..n - 1 {
        for edge in [0, n - 1] {
            // x-layer voxel (i, edge): u_x at its inner face; y-layer voxel (edge, i): u_y.
            data[[i, edge, 1]] = s.displacement(pos(edge) + inward(edge), pos(i))[1];
            data[[edge, i, 0]] = s.displacement(pos(i), pos(edge) + inward(edge))[0];
        }
    }
    let value = |v: [usize; 3]| {
        debug_assert!(layer(v[1]) || layer(v[2]));
        [Complex64::new(0.0, 0.0), data[[v[1], v[2], 0]], data[[v[1], v[2], 1]]]
    };
    let d = VectorDirichlet::outer_layer(&grid, value);
    let p = VectorProblem {
        medium: &m,
        bulk_modulus_pa: bg.bulk_modulus_pa.into(),
        omega_rad_per_s: s.omega_rad_per_s(),
        boundary: Boundary::fixed(),
        dirichlet: Some(d),
    };
    let zero = Array3::<Complex64>::zeros((1, n, n));
    let u = NavierSolver::with_threads(&p, 1).unwrap().solve(&[zero.clone(), zero.clone(), zero]).unwrap();
    let (mut et, mut nt, mut es, mut ns, mut emax, mut amax) = (0.0, 0.0, 0.0, 0.0, 0.0f64, 0.0f64);
    for iy in 1..n - 1 {
        for ix in 1..n - 1 {
            let (x, y) = (pos(ix), pos(iy));
            let (want, inc) = (s.displacement(x, y), s.incident(x, y));
            assert!(u[0][[0, iy, ix]].norm() < 1e-12, "u_z must stay zero in plane strain");
            for (c, a) in [(0, 1), (1, 2)] {
                let got = u[a][[0, iy, ix]];
                let e = (got - want[c]).norm();
                et += e * e;
                nt += want[c].norm_sqr();
                es += e * e;
                ns += (want[c] - inc[c]).norm_sqr();
                emax = emax.max(e);
                amax = amax.max(want[c].norm());
            }
        }
    }
    Errors { total: (et / nt).sqrt(), scattered: (es / ns).sqrt(), max: emax / amax }
}

/// The solver against the series on three grids; returns the errors.
fn navier_convergence(nu: f64, contrast: bool, grids: &[usize]) -> Vec<Errors> {
    // 60 Hz, background 3 kPa (λ_s ≈ 29 mm), inclusion 6 kPa (both 10 % loss, 10 % denser
    // inclusion), radius 8.3 mm (no voxel centre on the interface), domain 32 mm. One bulk
    // modulus from the background's Poisson ratio (the solver takes one K).
    let (side, radius) = (0.032, 0.0083);
    let bg = medium(3e3, 3e2, nu);
    let incl = if contrast { ElasticMedium::new(6e3, 6e2, bg.bulk_modulus_pa, 1100.0) } else { bg };
    let s = ElasticCylinderScattering::new(OMEGA, bg, incl, radius).unwrap();
    let k = s.wavenumbers();
    println!(
        "ν = {nu} (K = {:.4e} Pa): λ_s = {:.1} mm, λ_p = {:.1} mm, {} orders, tail {:.1e}",
        bg.bulk_modulus_pa,
        2e3 * PI / k[1].re,
        2e3 * PI / k[0].re,
        s.orders(),
        s.series_tail()
    );
    let mut errors = Vec::new();
    for &n in grids {
        let start = Instant::now();
        let e = navier_against_series(&s, bg, incl, side, n);
        println!(
            "  {n:>3}² (h = {:.3} mm): total L2 {:.3e}, scattered L2 {:.3e}, max {:.3e} ({:.2} s)",
            1e3 * side / n as f64,
            e.total,
            e.scattered,
            e.max,
            start.elapsed().as_secs_f64()
        );
        errors.push(e);
    }
    let order = |f: fn(&Errors) -> f64| -> Vec<f64> {
        errors.windows(2).zip(grids.windows(2)).map(|(e, n)| (f(&e[0]) / f(&e[1])).ln() / (n[1] as f64 / n[0] as f64).ln()).collect()
    };
    println!(
        "  ν = {nu}{}: observed orders: total L2 {:.2?}, scattered L2 {:.2?}, max {:.2?}",
        if contrast { "" } else { " (no contrast)" },
        order(|e| e.total),
        order(|e| e.scattered),
        order(|e| e.max)
    );
    errors
}

/// The control (no contrast: a plane SV wave through the same Dirichlet box) converges at
/// second order; with the staircased cylinder (a voxel belongs to it when its centre does) the
/// error keeps decreasing but irregularly between grids (as for the scalar solver, see
/// `wave_scattering.rs`): the overall L2 order from the coarsest to the finest grid is checked.
/// Measured (this set-up): control orders 2.39, 2.12 (32² → 48² → 64²; 2.02 on to 96²) at
/// ν = 0.3 and 1.78, 1.84 (1.89) at ν = 0.4999; with the cylinder (32², 48², 64², 96²) total L2 errors 2.36, 1.27, 0.30, 0.20 %
/// (overall order 2.24) and 1.00, 0.75, 0.25, 0.15 % (1.73); the largest pointwise error, next to
/// the staircase, falls from 4.1 to 1.1 % and from 2.2 to 1.0 %.
fn check_convergence(nu: f64) {
    let grids = [32, 48, 64, 96];
    let control = navier_convergence(nu, false, &grids[..3]);
    for (w, n) in control.windows(2).zip(grids.windows(2)) {
        let order = (w[0].total / w[1].total).ln() / (n[1] as f64 / n[0] as f64).ln();
        assert!(order > 1.7, "ν = {nu}, no contrast, {}² → {}²: order {order:.2} ({:?})", n[0], n[1], control);
    }
    let e = navier_convergence(nu, true, &grids);
    let (first, last) = (e[0], e[e.len() - 1]);
    let overall = (first.total / last.total).ln() / (grids[grids.len() - 1] as f64 / grids[0] as f64).ln();
    assert!(overall > 1.5, "ν = {nu}: overall L2 order {overall:.2} ({e:?})");
    assert!(last.total < 5e-3 && last.scattered < 1e-2 && last.max < 1.5e-2, "ν = {nu}: finest grid {last:?}");
    assert!(e.windows(2).all(|w| w[1].total < w[0].total && w[1].max < w[0].max), "ν = {nu}: {e:?}");
}

#[test]
fn navier_solver_converges_to_the_series_nu_0_3() {
    check_convergence(0.3);
}

#[test]
fn navier_solver_converges_to_the_series_nu_0_4999() {
    check_convergence(0.4999);
}
