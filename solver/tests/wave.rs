//! Tests of the time-harmonic scalar wave solver (`mre_solver::wave`).
//!
//! Discrete reference: in a homogeneous region the 3-point stencil of [`Scheme::Standard`] is
//! solved exactly by `e^{∓i k_h x}` with the discrete wavenumber `k_h = (2/h) asin(kh/2)`, so the
//! continuum wavenumber `k` is reproduced with a relative error `(kh)²/24` (wavelength) and about
//! `(Re k h)²/8` (attenuation). [`Scheme::Compact`] is fourth order in homogeneous media; tests
//! that check properties of both schemes run both.

use std::f64::consts::PI;

use mre_solver::model::motion::shear_wavenumber;
use mre_solver::wave::*;
use mre_solver::{Grid, Inclusion, InclusionShape, Phantom, SolverError, Tissue};
use ndarray::Array3;
use num_complex::Complex64;

const H: f64 = 1e-3;
const G: f64 = 3e3;
const LOSS: f64 = 3e2;
const RHO: f64 = 1e3;

fn c(re: f64, im: f64) -> Complex64 {
    Complex64::new(re, im)
}

/// Angular frequency (rad/s) at which the lossless wavelength is `ppw` voxels of `h`.
fn omega_for(ppw: f64, h: f64) -> f64 {
    2.0 * PI / (ppw * h) * (G / RHO).sqrt()
}

/// Discrete wavenumber of the 3-point stencil.
fn discrete_k(k: Complex64, h: f64) -> Complex64 {
    (k * h / 2.0).asin() * 2.0 / h
}

/// Tiny deterministic generator of numbers in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn sym(&mut self) -> f64 {
        2.0 * self.next() - 1.0
    }
    fn complex(&mut self) -> Complex64 {
        c(self.sym(), self.sym())
    }
}

fn zeros(grid: &Grid) -> Array3<Complex64> {
    Array3::zeros((grid.shape[0], grid.shape[1], grid.shape[2]))
}

/// A wave driven by `u = 1` on the low plane of `axis`, PML of `pml` voxels on the high face of
/// `axis`, every other face free: a plane wave along `axis`. Returns the solution on the line
/// through the middle of the grid along `axis`.
fn driven_line(shape: [usize; 3], h: f64, axis: usize, omega: f64, loss: f64, pml: usize) -> Vec<Complex64> {
    driven_line_with(shape, h, axis, omega, loss, pml, Scheme::Standard)
}

/// [`driven_line`] with the discretisation `scheme`.
fn driven_line_with(shape: [usize; 3], h: f64, axis: usize, omega: f64, loss: f64, pml: usize, scheme: Scheme) -> Vec<Complex64> {
    let grid = Grid::new(shape, [h; 3]).unwrap();
    let medium = Medium::homogeneous(grid.clone(), G, loss, RHO);
    let mut boundary = Boundary::free().with_face(axis, 1, FaceCondition::Absorbing);
    boundary.pml_voxels = pml;
    let p = ScalarProblem {
        medium: &medium,
        omega_rad_per_s: omega,
        boundary,
        dirichlet: Some(Dirichlet::plane(&grid, axis, 0, c(1.0, 0.0))),
        scheme,
    };
    let u = ScalarSolver::new(&p).unwrap().solve(&zeros(&grid)).unwrap();
    (0..shape[axis])
        .map(|i| {
            let mut idx = shape.map(|n| n / 2);
            idx[axis] = i;
            u[idx]
        })
        .collect()
}

/// Wavenumber fitted to `A e^{−ikx}` samples (spacing h) by linear least squares on ln|u| and the unwrapped phase.
fn fit_wavenumber(u: &[Complex64], h: f64) -> Complex64 {
    let mut phase = Vec::with_capacity(u.len());
    let mut prev = 0.0;
    for (j, v) in u.iter().enumerate() {
        let mut p = v.arg();
        if j > 0 {
            p += 2.0 * PI * ((prev - p) / (2.0 * PI)).round();
        }
        phase.push(p);
        prev = p;
    }
    let slope = |y: &[f64]| {
        let n = y.len() as f64;
        let xm = (n - 1.0) / 2.0;
        let ym = y.iter().sum::<f64>() / n;
        let sxy: f64 = y.iter().enumerate().map(|(j, v)| (j as f64 - xm) * (v - ym)).sum();
        let sxx: f64 = (0..y.len()).map(|j| (j as f64 - xm).powi(2)).sum();
        sxy / sxx / h
    };
    let ln_abs: Vec<f64> = u.iter().map(|v| v.norm().ln()).collect();
    c(-slope(&phase), slope(&ln_abs))
}

/// Least-squares amplitudes `(A, B)` of `A e^{−ikx} + B e^{ikx}`, `x = j h`, `j = 0..u.len()`.
fn incident_reflected(u: &[Complex64], k: Complex64, h: f64) -> (Complex64, Complex64) {
    let z = c(0.0, 0.0);
    let (mut a11, mut a12, mut a22, mut b1, mut b2) = (z, z, z, z, z);
    for (j, &v) in u.iter().enumerate() {
        let x = j as f64 * h;
        let e1 = (-Complex64::i() * k * x).exp();
        let e2 = (Complex64::i() * k * x).exp();
        a11 += e1.conj() * e1;
        a12 += e1.conj() * e2;
        a22 += e2.conj() * e2;
        b1 += e1.conj() * v;
        b2 += e2.conj() * v;
    }
    let det = a11 * a22 - a12 * a12.conj();
    ((b1 * a22 - a12 * b2) / det, (a11 * b2 - a12.conj() * b1) / det)
}

/// Normal-incidence reflection coefficient of the high-x PML, measured at its inner edge.
fn pml_reflection(ppw: f64, pml: usize, loss: f64) -> f64 {
    let omega = omega_for(ppw, H);
    let nx = (3.0 * ppw) as usize + 2 * pml;
    let u = driven_line([1, 3, nx], H, 2, omega, loss, pml);
    let kh = discrete_k(shear_wavenumber(omega, G, loss, RHO), H);
    let m = nx - pml;
    let (a, b) = incident_reflected(&u[..m], kh, H);
    let xi = (m as f64 - 0.5) * H;
    (b * (Complex64::i() * kh * xi).exp()).norm() / (a * (-Complex64::i() * kh * xi).exp()).norm()
}

fn rel_err(a: Complex64, b: Complex64) -> f64 {
    (a - b).norm() / b.norm()
}

#[test]
fn plane_wave_2d_wavelength_and_attenuation() {
    // 10 % loss; PML of 16 voxels on x-high, free y faces, u = 1 on the x-low column.
    for ppw in [10.0, 16.0, 32.0] {
        let omega = omega_for(ppw, H);
        let k = shear_wavenumber(omega, G, LOSS, RHO);
        let nx = (2.5 * ppw) as usize + 16;
        let u = driven_line([1, 5, nx], H, 2, omega, LOSS, 16);
        let fit = fit_wavenumber(&u[..nx - 16], H);
        // The solver reproduces the discrete dispersion relation (PML reflection negligible).
        let kh = discrete_k(k, H);
        assert!((fit.re / kh.re - 1.0).abs() < 2e-4 && (fit.im / kh.im - 1.0).abs() < 2e-3, "ppw {ppw}: fit {fit}, discrete {kh}");
        let wavelength_err = (k.re / fit.re - 1.0).abs();
        let attenuation_err = (fit.im / k.im - 1.0).abs();
        let kr_h = k.re * H;
        println!("ppw {ppw}: wavelength error {wavelength_err:.2e}, attenuation error {attenuation_err:.2e}");
        // Continuum errors as the second-order scheme predicts: (kh)²/24 and (kh)²/8.
        assert!(wavelength_err < 1.2 * kr_h * kr_h / 24.0, "ppw {ppw}: wavelength error {wavelength_err}");
        assert!(attenuation_err < 1.2 * kr_h * kr_h / 8.0, "ppw {ppw}: attenuation error {attenuation_err}");
        if ppw >= 16.0 {
            assert!(wavelength_err < 0.01, "ppw {ppw}: wavelength error {wavelength_err}");
        }
        if ppw >= 32.0 {
            assert!(attenuation_err < 0.01, "ppw {ppw}: attenuation error {attenuation_err}");
        }
    }
}

/// Wavenumbers along the x axis and along the diagonal of a 2-D point source in a homogeneous
/// medium (10 % loss, `ppw` voxels of 1 mm per lossless wavelength, PML of 16 voxels): the field
/// divided by the outgoing Hankel function `H₀⁽²⁾(kr)` drifts like `e^{−i δk r}`; the fitted
/// `k + δk` along each ray, from half a wavelength to 4 wavelengths from the source.
fn ray_wavenumbers(ppw: f64, scheme: Scheme) -> [Complex64; 2] {
    let omega = omega_for(ppw, H);
    let k = shear_wavenumber(omega, G, LOSS, RHO);
    let pml = 16;
    let reach = (4.0 * ppw) as usize;
    let n = 2 * (reach + 4 + pml) + 1;
    let grid = Grid::new([1, n, n], [H; 3]).unwrap();
    let medium = Medium::homogeneous(grid.clone(), G, LOSS, RHO);
    let p = ScalarProblem::new(&medium, omega, Boundary::absorbing(pml)).with_scheme(scheme);
    let mut f = zeros(&grid);
    let m = n / 2;
    f[[0, m, m]] = c(1.0, 0.0);
    let u = ScalarSolver::new(&p).unwrap().solve(&f).unwrap();
    let start = (ppw / 2.0) as usize;
    [(1usize, 0usize, 1.0), (1, 1, 2f64.sqrt())].map(|(dx, dy, step)| {
        let steps = ((reach as f64) / step) as usize;
        let v: Vec<Complex64> = (start..steps)
            .map(|j| {
                let r = j as f64 * step * H;
                u[[0, m + j * dy, m + j * dx]] / analytic::hankel2(0, k * r) * (-Complex64::i() * k * r).exp()
            })
            .collect();
        fit_wavenumber(&v, step * H)
    })
}

#[test]
fn compact_scheme_plane_waves_within_one_percent_at_10_ppw() {
    // Wavelength and attenuation of plane waves along an axis and along the diagonal, 10 % loss.
    for ppw in [10.0, 16.0] {
        let omega = omega_for(ppw, H);
        let k = shear_wavenumber(omega, G, LOSS, RHO);
        let nx = (3.0 * ppw) as usize + 16;
        for scheme in [Scheme::Standard, Scheme::Compact] {
            let along = fit_wavenumber(&driven_line_with([1, 3, nx], H, 2, omega, LOSS, 16, scheme)[2..nx - 20], H);
            let [ray_x, ray_diagonal] = ray_wavenumbers(ppw, scheme);
            for (name, fit) in [("plane wave", along), ("point source, x ray", ray_x), ("point source, diagonal ray", ray_diagonal)] {
                let wavelength_err = (k.re / fit.re - 1.0).abs();
                let attenuation_err = (fit.im / k.im - 1.0).abs();
                println!("{scheme:?} ppw {ppw} {name}: wavelength error {wavelength_err:.2e}, attenuation error {attenuation_err:.2e}");
                if scheme == Scheme::Compact {
                    assert!(wavelength_err < 0.01 && attenuation_err < 0.01, "{name} ppw {ppw}: fit {fit}, exact {k}");
                }
            }
        }
    }
}

#[test]
fn plane_wave_2d_second_order_convergence() {
    // Fixed physical domain: 2 wavelengths of medium + a PML of half a wavelength (at 60 Hz,
    // λ ≈ 28.9 mm), refined from 12 to 96 voxels per wavelength. Error against the continuum
    // plane wave e^{−ik(x − x0)} (x0 = centre of the driven column) in the medium.
    let omega = 2.0 * PI * 60.0;
    let k = shear_wavenumber(omega, G, LOSS, RHO);
    let lambda = 2.0 * PI / k.re;
    let mut errors = Vec::new();
    for ppw in [12usize, 24, 48, 96] {
        let h = lambda / ppw as f64;
        let pml = ppw / 2;
        let nx = 2 * ppw + pml;
        let u = driven_line([1, 3, nx], h, 2, omega, LOSS, pml);
        let err = (0..nx - pml).map(|j| (u[j] - (-Complex64::i() * k * (j as f64 * h)).exp()).norm()).fold(0.0, f64::max);
        errors.push(err);
    }
    let ratios: Vec<f64> = errors.windows(2).map(|w| w[0] / w[1]).collect();
    println!(
        "PML-terminated plane wave: max errors {:?}, ratios {ratios:.3?}",
        errors.iter().map(|e| format!("{e:.2e}")).collect::<Vec<_>>()
    );
    for r in &ratios {
        assert!((3.6..4.4).contains(r), "errors {errors:?}, ratios {ratios:?}");
    }
}

#[test]
fn fixed_face_standing_wave_second_order() {
    let errors = standing_wave_errors(Scheme::Standard);
    for w in errors.windows(2) {
        let r = w[0] / w[1];
        assert!((3.6..4.4).contains(&r), "errors {errors:?}");
    }
}

#[test]
fn compact_scheme_fourth_order_in_a_homogeneous_medium() {
    // The standing wave between a Dirichlet drive and a clamped face, and a plane wave along the
    // diagonal of a 2-D grid with the exact solution prescribed on the outer voxel frame.
    let errors = standing_wave_errors(Scheme::Compact);
    let diagonal = diagonal_wave_errors(Scheme::Compact);
    let standard = diagonal_wave_errors(Scheme::Standard);
    println!("diagonal plane wave, standard scheme: {:?}", standard.iter().map(|e| format!("{e:.2e}")).collect::<Vec<_>>());
    for e in [&errors, &diagonal] {
        let ratios: Vec<f64> = e.windows(2).map(|w| w[0] / w[1]).collect();
        println!("compact: max errors {:?}, ratios {ratios:.2?}", e.iter().map(|e| format!("{e:.2e}")).collect::<Vec<_>>());
        assert!(ratios.iter().all(|&r| r > 13.0), "errors {e:?}, ratios {ratios:?}");
    }
    for (c, s) in diagonal.iter().zip(&standard) {
        assert!(c < s, "compact {c:e} vs standard {s:e}");
    }
}

/// Maximum errors of `u = e^{−ik(x + y)/√2}` (60 Hz, λ = 28.9 mm) on a 2-D grid of 40 mm with the
/// exact values on the outer voxel frame, 24² to 96² voxels (17 to 69 voxels per wavelength).
fn diagonal_wave_errors(scheme: Scheme) -> Vec<f64> {
    let omega = 2.0 * PI * 60.0;
    let k = shear_wavenumber(omega, G, LOSS, RHO);
    let length = 0.04;
    [24usize, 48, 96]
        .iter()
        .map(|&n| {
            let h = length / n as f64;
            let grid = Grid::new([1, n, n], [h; 3]).unwrap();
            let medium = Medium::homogeneous(grid.clone(), G, LOSS, RHO);
            let exact = |y: usize, x: usize| (-Complex64::i() * k * ((x + y) as f64 * h / 2f64.sqrt())).exp();
            let mask = Array3::from_shape_fn((1, n, n), |(_, y, x)| y == 0 || x == 0 || y == n - 1 || x == n - 1);
            let values = Array3::from_shape_fn((1, n, n), |(_, y, x)| exact(y, x));
            let p = ScalarProblem::new(&medium, omega, Boundary::free()).with_dirichlet(Dirichlet { mask, values }).with_scheme(scheme);
            let u = ScalarSolver::new(&p).unwrap().solve(&zeros(&grid)).unwrap();
            u.indexed_iter().map(|((_, y, x), v)| (v - exact(y, x)).norm()).fold(0.0, f64::max)
        })
        .collect()
}

/// Maximum errors of the standing wave between a drive and a clamped face, 20 to 160 voxels.
fn standing_wave_errors(scheme: Scheme) -> Vec<f64> {
    // u = 1 at the x-low column centre x0, u = 0 on the x-high face xL: u = sin k(xL − x) / sin k(xL − x0).
    let omega = 2.0 * PI * 60.0;
    let k = shear_wavenumber(omega, G, LOSS, RHO);
    let length = 0.05;
    let mut errors = Vec::new();
    for n in [20usize, 40, 80, 160] {
        let h = length / n as f64;
        let grid = Grid::new([1, 2, n], [h; 3]).unwrap();
        let medium = Medium::homogeneous(grid.clone(), G, LOSS, RHO);
        let boundary = Boundary::free().with_face(2, 1, FaceCondition::Fixed);
        let p = ScalarProblem {
            medium: &medium,
            omega_rad_per_s: omega,
            boundary,
            dirichlet: Some(Dirichlet::plane(&grid, 2, 0, c(1.0, 0.0))),
            scheme,
        };
        let u = ScalarSolver::new(&p).unwrap().solve(&zeros(&grid)).unwrap();
        let x0 = 0.5 * h;
        let exact = |x: f64| (k * (length - x)).sin() / (k * (length - x0)).sin();
        errors.push((0..n).map(|j| (u[[0, 1, j]] - exact((j as f64 + 0.5) * h)).norm()).fold(0.0, f64::max));
    }
    println!("standing wave ({scheme:?}): max errors {:?}", errors.iter().map(|e| format!("{e:.2e}")).collect::<Vec<_>>());
    errors
}

#[test]
fn propagation_along_y_and_single_voxel_axes() {
    // The same 1-D wave along x ([1, 1, n]) and along y ([1, n, 1]): identical solutions.
    let omega = omega_for(20.0, H);
    let ux = driven_line([1, 1, 60], H, 2, omega, LOSS, 10);
    let uy = driven_line([1, 60, 1], H, 1, omega, LOSS, 10);
    let uy2 = driven_line([1, 60, 4], H, 1, omega, LOSS, 10);
    for j in 0..60 {
        assert!((ux[j] - uy[j]).norm() < 1e-12 && (ux[j] - uy2[j]).norm() < 1e-10, "voxel {j}");
    }
}

#[test]
fn pml_reflection_below_one_percent() {
    for (ppw, pml) in [(8.0, 10), (15.0, 10), (30.0, 15), (60.0, 20)] {
        for loss in [0.0, LOSS] {
            let r = pml_reflection(ppw, pml, loss);
            println!("ppw {ppw}, {pml} PML voxels, G'' = {loss} Pa: R = {r:.2e}");
            assert!(r < 0.01, "ppw {ppw}, {pml} PML voxels, G'' = {loss}: R = {r:.2e}");
            if ppw == 15.0 {
                assert!(r < 1e-3, "R = {r:.2e}");
            }
        }
    }
}

#[test]
fn pml_outgoing_wave_decays_inside_the_layer() {
    // Lossless medium: constant amplitude before the layer, monotonic decay inside, with the
    // phase still advancing (outgoing e^{−ikx}, e^{iωt} convention).
    let (ppw, pml) = (12.0, 12);
    let nx = 48 + pml;
    let u = driven_line([1, 3, nx], H, 2, omega_for(ppw, H), 0.0, pml);
    let interface = nx - pml;
    for (j, v) in u.iter().enumerate().take(interface).skip(1) {
        assert!((v.norm() - 1.0).abs() < 2e-3, "voxel {j}: |u| = {}", v.norm());
    }
    for j in interface + 1..nx {
        assert!(u[j].norm() < u[j - 1].norm(), "no decay at voxel {j}");
        let dphi = (u[j] / u[j - 1]).arg();
        assert!(dphi < 0.0, "phase must keep decreasing (outgoing wave) at voxel {j}: {dphi}");
    }
    assert!(u[nx - 1].norm() < 1e-2, "|u| at the outer edge = {}", u[nx - 1].norm());
}

/// A heterogeneous 2-D medium: smooth random background plus a stiff disc.
fn heterogeneous(shape: [usize; 3], seed: u64) -> Medium {
    let grid = Grid::new(shape, [H; 3]).unwrap();
    let mut rng = Lcg(seed);
    let mut m = Medium::homogeneous(grid, G, LOSS, RHO);
    let centre = [shape[0] as f64 / 2.0, shape[1] as f64 / 2.0, shape[2] as f64 / 2.0];
    for ((idx, gs), (gl, rho)) in m.storage_modulus_pa.indexed_iter_mut().zip(m.loss_modulus_pa.iter_mut().zip(m.density_kg_m3.iter_mut()))
    {
        let r2 = (idx.1 as f64 - centre[1]).powi(2) + (idx.2 as f64 - centre[2]).powi(2);
        let inside = r2 < (shape[2] as f64 / 6.0).powi(2);
        *gs = if inside { 3.0 * G } else { G * (1.0 + 0.3 * rng.sym()) };
        *gl = if inside { 2.0 * LOSS } else { LOSS * (1.0 + 0.5 * rng.sym()) };
        *rho = RHO * (1.0 + 0.1 * rng.sym());
    }
    m
}

#[test]
fn reciprocity_heterogeneous_medium_with_pml() {
    for scheme in [Scheme::Standard, Scheme::Compact] {
        reciprocity_with(scheme);
    }
}

fn reciprocity_with(scheme: Scheme) {
    let medium = heterogeneous([1, 40, 48], 7);
    let grid = medium.grid.clone();
    let p = ScalarProblem { medium: &medium, omega_rad_per_s: 2.0 * PI * 100.0, boundary: Boundary::absorbing(8), dirichlet: None, scheme };
    let solver = ScalarSolver::new(&p).unwrap();
    let points = [[0, 12, 10], [0, 27, 35], [0, 20, 24], [0, 9, 38]];
    let fields: Vec<Array3<Complex64>> = points
        .iter()
        .map(|&a| {
            let mut f = zeros(&grid);
            f[a] = c(1.0, 0.0);
            solver.solve(&f).unwrap()
        })
        .collect();
    for (i, &a) in points.iter().enumerate() {
        for (j, &b) in points.iter().enumerate().skip(i + 1) {
            let (uab, uba) = (fields[i][b], fields[j][a]);
            assert!(rel_err(uab, uba) < 1e-10, "u_{a:?}({b:?}) = {uab}, u_{b:?}({a:?}) = {uba}");
        }
    }
    // Also reciprocal through a PML corner (the complex-symmetric form).
    let (a, b) = ([0, 2, 3], [0, 37, 45]);
    let mut fa = zeros(&grid);
    fa[a] = c(1.0, 0.0);
    let mut fb = zeros(&grid);
    fb[b] = c(1.0, 0.0);
    let (ua, ub) = (solver.solve(&fa).unwrap(), solver.solve(&fb).unwrap());
    // u = A⁻¹ f with A = S⁻¹K: the symmetric quantity is K⁻¹, i.e. u_a(b)/S_a.
    let stretch = |idx: [usize; 3]| {
        let s = |i: usize, n: usize| {
            let x = i as f64 + 0.5;
            let d = ((8.0 - x).max(0.0) + (x - (n as f64 - 8.0)).max(0.0)) / 8.0;
            c(1.0, -DEFAULT_PML_STRENGTH * d * d)
        };
        s(idx[1], 40) * s(idx[2], 48)
    };
    assert!(rel_err(ua[b] / stretch(a), ub[a] / stretch(b)) < 1e-10);
}

#[test]
fn adjoint_solve_and_apply_are_consistent() {
    for scheme in [Scheme::Standard, Scheme::Compact] {
        adjoint_consistency_with(scheme);
    }
}

fn adjoint_consistency_with(scheme: Scheme) {
    let medium = heterogeneous([1, 18, 20], 3);
    let grid = medium.grid.clone();
    let mut rng = Lcg(11);
    let mut d = Dirichlet::plane(&grid, 2, 1, c(0.0, 0.0));
    d.values.mapv_inplace(|_| rng.complex());
    d.mask[[0, 9, 10]] = true;
    let boundary = Boundary::absorbing(4).with_face(1, 0, FaceCondition::Free).with_face(2, 1, FaceCondition::Fixed);
    let p = ScalarProblem { medium: &medium, omega_rad_per_s: 2.0 * PI * 80.0, boundary, dirichlet: Some(d.clone()), scheme };
    let solver = ScalarSolver::new(&p).unwrap();
    let dot = |a: &Array3<Complex64>, b: &Array3<Complex64>| a.iter().zip(b).map(|(x, y)| x.conj() * y).sum::<Complex64>();
    let u = grid_random(&grid, &mut rng);
    let r = grid_random(&grid, &mut rng);
    // ⟨λ, A u⟩ = ⟨r, u⟩ with Aᴴ λ = r.
    let au = solver.apply(&u);
    let lambda = solver.solve_adjoint(&r).unwrap();
    let (lhs, rhs) = (dot(&lambda, &au), dot(&r, &u));
    assert!(rel_err(lhs, rhs) < 1e-10, "{lhs} vs {rhs}");
    // solve(apply(u)) = u when the Dirichlet values are u's.
    let mut d2 = d.clone();
    d2.values = u.clone();
    let p2 = ScalarProblem { dirichlet: Some(d2), ..p.clone() };
    let s2 = ScalarSolver::new(&p2).unwrap();
    let back = s2.solve(&s2.apply(&u)).unwrap();
    let err = back.iter().zip(&u).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
    assert!(err < 1e-10, "max error {err}");
    // The Dirichlet rows of the forward solution hold the prescribed values.
    let sol = solver.solve(&grid_random(&grid, &mut rng)).unwrap();
    for ((m, v), s) in d.mask.iter().zip(&d.values).zip(&sol) {
        if *m {
            assert_eq!(v, s);
        }
    }
}

fn grid_random(grid: &Grid, rng: &mut Lcg) -> Array3<Complex64> {
    zeros(grid).mapv(|_: Complex64| rng.complex())
}

#[test]
fn adjoint_gradient_matches_finite_differences() {
    for scheme in [Scheme::Standard, Scheme::Compact] {
        gradient_check([1, 10, 12], scheme);
    }
    gradient_check([7, 8, 9], Scheme::Compact);
}

fn gradient_check(shape: [usize; 3], scheme: Scheme) {
    let medium = heterogeneous(shape, 5);
    let grid = medium.grid.clone();
    let mut rng = Lcg(99);
    // Drive on the x-low column, a point source, PML on two faces, one fixed, one free face.
    let drive = Dirichlet::plane(&grid, 2, 0, c(1.0, 0.5));
    let boundary = Boundary {
        faces: [
            [FaceCondition::Absorbing; 2],
            [FaceCondition::Fixed, FaceCondition::Absorbing],
            [FaceCondition::Free, FaceCondition::Absorbing],
        ],
        pml_voxels: 3,
        pml_strength: 6.0,
    };
    let omega = 2.0 * PI * 120.0;
    let mut source = zeros(&grid);
    let z0 = shape[0] / 2;
    source[[z0, 4, 6]] = c(2e9, -1e9);
    let mask = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| (x + 2 * y + z) % 3 != 0);
    let base = ScalarProblem { medium: &medium, omega_rad_per_s: omega, boundary, dirichlet: Some(drive), scheme };
    let u0 = ScalarSolver::new(&base).unwrap().solve(&source).unwrap();
    // Observed data: the field of a perturbed medium (realistic misfit) plus noise.
    let observed = u0.mapv(|v| v * c(1.1, 0.05) + 0.05 * rng.complex());
    let grad = misfit_gradient(&base, &source, &observed, &mask).unwrap();
    assert!(grad.field.iter().zip(&u0).all(|(a, b)| (a - b).norm() < 1e-14 * b.norm().max(1.0)));
    let misfit = |m: &Medium| {
        let p = ScalarProblem { medium: m, ..base.clone() };
        let u = ScalarSolver::new(&p).unwrap().solve(&source).unwrap();
        u.iter().zip(&observed).zip(&mask).filter(|(_, &k)| k).map(|((a, b), _)| 0.5 * (a - b).norm_sqr()).sum::<f64>()
    };
    assert!((misfit(&medium) - grad.misfit).abs() < 1e-12 * grad.misfit);
    let step = 1e-5;
    for loss in [false, true] {
        for trial in 0..3 {
            // Random direction δ (Pa), scaled to the local modulus.
            let delta =
                if loss { medium.loss_modulus_pa.mapv(|v| v * rng.sym()) } else { medium.storage_modulus_pa.mapv(|v| v * rng.sym()) };
            let perturbed = |t: f64| {
                let mut m = medium.clone();
                let target = if loss { &mut m.loss_modulus_pa } else { &mut m.storage_modulus_pa };
                target.zip_mut_with(&delta, |v, d| *v += t * d);
                m
            };
            let fd = (misfit(&perturbed(step)) - misfit(&perturbed(-step))) / (2.0 * step);
            let g = if loss { &grad.loss } else { &grad.storage };
            let adj: f64 = g.iter().zip(&delta).map(|(a, b)| a * b).sum();
            let rel = (adj - fd).abs() / fd.abs();
            println!("loss = {loss}, trial {trial}: adjoint {adj:.6e}, FD {fd:.6e}, rel {rel:.1e}");
            assert!(rel < 1e-6, "loss = {loss}, trial {trial}: adjoint {adj:e}, FD {fd:e}, rel {rel:e}");
        }
    }
    // Single voxels: on the fixed face, in the PML corner, next to the drive.
    for idx in [[z0, 0, 5], [z0, shape[1] - 1, shape[2] - 1], [z0, 5, 1], [z0, 5, 0], [0, 2, 3]] {
        for loss in [false, true] {
            let at = |t: f64| {
                let mut m = medium.clone();
                if loss {
                    m.loss_modulus_pa[idx] += t
                } else {
                    m.storage_modulus_pa[idx] += t
                }
                m
            };
            let dg = 1e-5 * G;
            let fd = (misfit(&at(dg)) - misfit(&at(-dg))) / (2.0 * dg);
            let adj = if loss { grad.loss[idx] } else { grad.storage[idx] };
            let scale = grad.storage.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            assert!((adj - fd).abs() < 1e-6 * scale, "voxel {idx:?} loss = {loss}: adjoint {adj:e}, FD {fd:e}");
        }
    }
}

#[test]
fn plane_wave_3d_along_every_axis() {
    // Small 3-D grids [n, 3, 3] etc.; the plane wave must match the discrete dispersion.
    let (ppw, pml, n) = (14.0, 10, 52);
    let omega = omega_for(ppw, H);
    let kh = discrete_k(shear_wavenumber(omega, G, LOSS, RHO), H);
    for axis in 0..3 {
        let mut shape = [3; 3];
        shape[axis] = n;
        let u = driven_line(shape, H, axis, omega, LOSS, pml);
        let fit = fit_wavenumber(&u[..n - pml], H);
        assert!(rel_err(fit, kh) < 2e-3, "axis {axis}: fit {fit}, discrete {kh}");
    }
}

#[test]
fn point_source_3d_matches_greens_function() {
    // ∇·(G*∇u) + ρω²u = δ: u = −e^{−ikr} / (4π G* r). Unit source density in one voxel = force h³.
    let n = 25;
    let grid = Grid::new([n; 3], [H; 3]).unwrap();
    let medium = Medium::homogeneous(grid.clone(), G, LOSS, RHO);
    let omega = omega_for(12.0, H);
    let p = ScalarProblem {
        medium: &medium,
        omega_rad_per_s: omega,
        boundary: Boundary::absorbing(6),
        dirichlet: None,
        scheme: Scheme::Standard,
    };
    let solver = ScalarSolver::new(&p).unwrap();
    let mut f = zeros(&grid);
    let m = n / 2;
    f[[m, m, m]] = c(1.0 / H.powi(3), 0.0);
    let u = solver.solve(&f).unwrap();
    let k = shear_wavenumber(omega, G, LOSS, RHO);
    let gstar = c(G, LOSS);
    for r in 4..=5 {
        let exact = -(-Complex64::i() * k * (r as f64 * H)).exp() / (4.0 * PI * gstar * (r as f64 * H));
        for idx in [[m + r, m, m], [m, m - r, m], [m, m, m + r]] {
            // Lattice Green's function: relative error about 1/(4r²) along an axis (r in voxels).
            assert!(rel_err(u[idx], exact) < 0.03, "r = {r} voxels, {idx:?}: {} vs {exact}", u[idx]);
        }
        // Cubic symmetry of the 7-point stencil and the PML.
        assert!(rel_err(u[[m - r, m, m]], u[[m, m, m + r]]) < 1e-10);
    }
}

#[test]
fn scattered_field_source_gives_the_total_field_equation() {
    // Incident: the exact discrete plane wave of the background, e^{−i k_h x}. With
    // A u_s = source, the total field satisfies the medium's equation L(u_inc + u_s) = 0 at
    // every voxel outside the PML.
    let (ny, nx, pml) = (30, 36, 8);
    let grid = Grid::new([1, ny, nx], [H; 3]).unwrap();
    let mut medium = Medium::homogeneous(grid.clone(), G, LOSS, RHO);
    for y in 12..18 {
        for x in 14..22 {
            medium.storage_modulus_pa[[0, y, x]] = 2.5 * G;
            medium.loss_modulus_pa[[0, y, x]] = 1.5 * LOSS;
            medium.density_kg_m3[[0, y, x]] = 1.1 * RHO;
        }
    }
    let omega = omega_for(12.0, H);
    let kh = discrete_k(shear_wavenumber(omega, G, LOSS, RHO), H);
    let incident = Array3::from_shape_fn((1, ny, nx), |(_, _, x)| (-Complex64::i() * kh * (x as f64 * H)).exp());
    let src = scattered_field_source(&medium, c(G, LOSS), RHO, omega, &incident, Scheme::Standard);
    assert!(src[[0, 3, 3]].norm() == 0.0 && src[[0, 15, 18]].norm() > 0.0);
    let p = ScalarProblem {
        medium: &medium,
        omega_rad_per_s: omega,
        boundary: Boundary::absorbing(pml),
        dirichlet: None,
        scheme: Scheme::Standard,
    };
    let solver = ScalarSolver::new(&p).unwrap();
    let us = solver.solve(&src).unwrap();
    let total = &incident + &us;
    let residual = solver.apply(&total);
    let scale = G / (H * H);
    for y in pml + 1..ny - pml - 1 {
        for x in pml + 1..nx - pml - 1 {
            assert!(residual[[0, y, x]].norm() < 1e-9 * scale, "residual at {y},{x}: {}", residual[[0, y, x]]);
        }
    }
    // The scattered field is outgoing: it is small at the PML's outer edge.
    let edge = us[[0, ny / 2, nx - 1]].norm() / us[[0, ny / 2, nx - pml - 1]].norm();
    assert!(edge < 0.05, "{edge}");
}

#[test]
fn refactor_and_frequency_sweep_reuse_the_symbolic_analysis() {
    let medium = heterogeneous([1, 24, 26], 21);
    let grid = medium.grid.clone();
    let mut f = zeros(&grid);
    f[[0, 12, 13]] = c(1.0, 0.0);
    let problem = |hz: f64| ScalarProblem {
        medium: &medium,
        omega_rad_per_s: 2.0 * PI * hz,
        boundary: Boundary::absorbing(6),
        dirichlet: None,
        scheme: Scheme::Standard,
    };
    let freqs = [60.0, 80.0, 100.0];
    let fresh: Vec<Array3<Complex64>> = freqs.iter().map(|&hz| ScalarSolver::new(&problem(hz)).unwrap().solve(&f).unwrap()).collect();
    let mut solver = ScalarSolver::new(&problem(freqs[0])).unwrap();
    let other = ScalarSolver::new(&problem(freqs[0])).unwrap();
    for (hz, want) in freqs.iter().zip(&fresh) {
        let derived = solver.refactored(&problem(*hz)).unwrap();
        solver.refactor(&problem(*hz)).unwrap();
        assert!(derived.shares_symbolic(&solver) && !solver.shares_symbolic(&other));
        for s in [&solver, &derived] {
            let u = s.solve(&f).unwrap();
            assert!(u.iter().zip(want).all(|(a, b)| (a - b).norm() <= 1e-12 * b.norm().max(1e-30)));
        }
    }
    // A new Dirichlet mask changes the pattern: a new symbolic analysis.
    let driven = ScalarProblem { dirichlet: Some(Dirichlet::plane(&grid, 2, 0, c(1.0, 0.0))), ..problem(60.0) };
    assert!(!solver.refactored(&driven).unwrap().shares_symbolic(&solver));
    let problems: Vec<ScalarProblem> = freqs.iter().map(|&hz| problem(hz)).collect();
    let sweep = solve_frequencies(&problems, &[f.clone(), f.clone(), f.clone()]).unwrap();
    for (u, want) in sweep.iter().zip(&fresh) {
        assert!(u.iter().zip(want).all(|(a, b)| (a - b).norm() <= 1e-12 * b.norm().max(1e-30)));
    }
}

#[test]
fn medium_from_phantom() {
    let grid = Grid::new([1, 8, 8], [H; 3]).unwrap();
    let tissue = |label: u16, g: f64| Tissue {
        name: format!("t{label}"),
        label,
        proton_density: 1.0,
        t1_s: 1.0,
        t2_s: 0.05,
        off_resonance_hz: 0.0,
        storage_modulus_pa: g,
        loss_modulus_pa: 0.1 * g,
        density_kg_m3: RHO,
        bulk_modulus_pa: Tissue::SOFT_TISSUE_BULK_MODULUS_PA,
    };
    let disc = Inclusion { shape: InclusionShape::Cylinder { radius_m: 2e-3, axis: 0 }, centre_m: [0.0; 3], label: 2 };
    let labels = Phantom::from_shapes(grid.clone(), 1, &[disc]);
    let mut phantom =
        Phantom { grid: grid.clone(), labels, tissues: vec![tissue(1, G), tissue(2, 3.0 * G)], spins_per_voxel: 1, jitter: false, seed: 0 };
    let m = Medium::from_phantom(&phantom).unwrap();
    assert_eq!(m.storage_modulus_pa[[0, 4, 4]], 3.0 * G);
    assert_eq!(m.storage_modulus_pa[[0, 0, 0]], G);
    assert_eq!(m.loss_modulus_pa[[0, 0, 0]], 0.1 * G);
    phantom.labels[[0, 0, 1]] = 0;
    assert!(matches!(Medium::from_phantom(&phantom), Err(SolverError::InvalidParameter { .. })));
}

fn expect_invalid<T: std::fmt::Debug>(r: Result<T, SolverError>, name_part: &str) {
    match r {
        Err(SolverError::InvalidParameter { name, .. }) => assert!(name.contains(name_part), "{name}"),
        other => panic!("expected InvalidParameter about {name_part}, got {other:?}"),
    }
}

#[test]
fn bad_input_errors() {
    let grid = Grid::new([1, 12, 12], [H; 3]).unwrap();
    let good = Medium::homogeneous(grid.clone(), G, LOSS, RHO);
    let problem = |m: &Medium, omega: f64, boundary: Boundary| {
        let p = ScalarProblem { medium: m, omega_rad_per_s: omega, boundary, dirichlet: None, scheme: Scheme::Standard };
        ScalarSolver::new(&p).map(|_| ())
    };
    let omega = 2.0 * PI * 60.0;
    assert!(problem(&good, omega, Boundary::absorbing(4)).is_ok());
    let mut m = good.clone();
    m.storage_modulus_pa[[0, 3, 3]] = -1.0;
    expect_invalid(problem(&m, omega, Boundary::absorbing(4)), "storage_modulus_pa");
    let mut m = good.clone();
    m.storage_modulus_pa[[0, 3, 3]] = 0.0;
    expect_invalid(problem(&m, omega, Boundary::absorbing(4)), "storage_modulus_pa");
    let mut m = good.clone();
    m.loss_modulus_pa[[0, 1, 2]] = -5.0;
    expect_invalid(problem(&m, omega, Boundary::absorbing(4)), "loss_modulus_pa");
    let mut m = good.clone();
    m.density_kg_m3[[0, 1, 2]] = 0.0;
    expect_invalid(problem(&m, omega, Boundary::absorbing(4)), "density_kg_m3");
    let mut m = good.clone();
    m.density_kg_m3[[0, 1, 2]] = f64::NAN;
    expect_invalid(problem(&m, omega, Boundary::absorbing(4)), "density_kg_m3");
    let mut m = good.clone();
    m.loss_modulus_pa = Array3::zeros((1, 12, 11));
    assert!(matches!(problem(&m, omega, Boundary::absorbing(4)), Err(SolverError::Shape(_))));
    expect_invalid(problem(&good, 0.0, Boundary::absorbing(4)), "omega");
    expect_invalid(problem(&good, -omega, Boundary::absorbing(4)), "omega");
    expect_invalid(problem(&good, f64::INFINITY, Boundary::absorbing(4)), "omega");
    // PML thicker than half the grid along an absorbing axis (the single-voxel z axis is ignored).
    expect_invalid(problem(&good, omega, Boundary::absorbing(7)), "pml_voxels");
    assert!(problem(&good, omega, Boundary::absorbing(6)).is_ok());
    let mut b = Boundary::absorbing(3);
    b.pml_strength = -1.0;
    expect_invalid(problem(&good, omega, b), "pml_strength");
    // Dirichlet shape mismatch.
    let mut d = Dirichlet::plane(&grid, 2, 0, c(1.0, 0.0));
    d.values = Array3::zeros((1, 12, 13));
    let p = ScalarProblem {
        medium: &good,
        omega_rad_per_s: omega,
        boundary: Boundary::absorbing(3),
        dirichlet: Some(d),
        scheme: Scheme::Standard,
    };
    assert!(matches!(ScalarSolver::new(&p), Err(SolverError::Shape(_))));
    // Source and misfit shapes.
    let p = ScalarProblem {
        medium: &good,
        omega_rad_per_s: omega,
        boundary: Boundary::absorbing(3),
        dirichlet: None,
        scheme: Scheme::Standard,
    };
    let s = ScalarSolver::new(&p).unwrap();
    assert!(matches!(s.solve(&Array3::zeros((1, 12, 11))), Err(SolverError::Shape(_))));
    assert!(matches!(s.solve_adjoint(&Array3::zeros((2, 12, 12))), Err(SolverError::Shape(_))));
    let mut nan = zeros(&grid);
    nan[[0, 0, 0]] = c(f64::NAN, 0.0);
    expect_invalid(s.solve(&nan), "source");
    let mask = Array3::from_elem((1, 12, 12), true);
    assert!(matches!(misfit_gradient(&p, &zeros(&grid), &Array3::zeros((1, 1, 1)), &mask), Err(SolverError::Shape(_))));
    assert!(matches!(misfit_gradient(&p, &zeros(&grid), &zeros(&grid), &Array3::from_elem((1, 2, 2), true)), Err(SolverError::Shape(_))));
}

#[test]
fn singular_system_is_reported() {
    // Lossless, all faces free, ω exactly at the first x-mode of the discrete Neumann problem:
    // 4 (G/h²) sin²(π/2n) = ρω².
    let n = 16;
    let grid = Grid::new([1, 5, n], [H; 3]).unwrap();
    let medium = Medium::homogeneous(grid, G, 0.0, RHO);
    let omega = (4.0 * G / (RHO * H * H)).sqrt() * (PI / (2.0 * n as f64)).sin();
    let p =
        ScalarProblem { medium: &medium, omega_rad_per_s: omega, boundary: Boundary::free(), dirichlet: None, scheme: Scheme::Standard };
    match ScalarSolver::new(&p) {
        Err(e @ SolverError::Singular(_)) => assert!(e.to_string().contains("singular"), "{e}"),
        other => panic!("expected a singular-system error, got {:?}", other.map(|_| ())),
    }
    // Slightly off resonance, or with a little loss, it is solvable.
    let p2 = ScalarProblem { omega_rad_per_s: omega * 1.01, ..p.clone() };
    let mut solver = ScalarSolver::new(&p2).unwrap();
    // A failed refactor leaves a solver that refuses to solve until the next successful one;
    // an invalid problem leaves it unchanged.
    let f = Array3::from_elem((1, 5, n), c(1.0, 0.0));
    let before = solver.solve(&f).unwrap();
    let bad = ScalarProblem { omega_rad_per_s: -1.0, ..p.clone() };
    expect_invalid(solver.refactor(&bad), "omega");
    assert_eq!(solver.solve(&f).unwrap(), before);
    assert!(solver.refactor(&p).is_err());
    assert!(solver.solve(&f).is_err() && solver.solve_adjoint(&f).is_err());
    solver.refactor(&p2).unwrap();
    assert_eq!(solver.solve(&f).unwrap(), before);
}

/// Timings for the report: `cargo test -p mre-solver --release --test wave bench -- --ignored --nocapture`.
#[cfg(feature = "bench")]
#[test]
#[ignore]
fn bench_2d_256() {
    let t: Vec<f64> = (0..3).map(|_| bench_helmholtz_2d(256)).collect();
    println!("bench_helmholtz_2d(256): {t:.3?} s");
    // The same problem through the public API, to compare with scripts/bench/scipy_helmholtz.py.
    let grid = Grid::new([1, 256, 256], [H; 3]).unwrap();
    let medium = Medium::homogeneous(grid.clone(), G, LOSS, RHO);
    let p = ScalarProblem {
        medium: &medium,
        omega_rad_per_s: 2.0 * PI * 60.0,
        boundary: Boundary::absorbing(16),
        dirichlet: None,
        scheme: Scheme::Standard,
    };
    let mut f = zeros(&grid);
    f[[0, 128, 128]] = c(1.0, 0.0);
    let u = ScalarSolver::with_threads(&p, 1).unwrap().solve(&f).unwrap();
    println!("|u| at centre {:.6e}", u[[0, 128, 128]].norm());
}

/// Needs more than 20 GB of memory and several minutes (killed at 19 GB after 5 min on a 23 GB machine).
#[cfg(feature = "bench")]
#[test]
#[ignore]
fn bench_3d_64() {
    let t = bench_helmholtz_3d(64);
    println!("bench_helmholtz_3d(64): {t:.3} s");
}

/// One timing per process, for peak-memory measurements with `/usr/bin/time -v`:
/// `MRE_WAVE_BENCH=2d:256` or `MRE_WAVE_BENCH=3d:32` (default).
#[cfg(feature = "bench")]
#[test]
#[ignore]
fn bench_env() {
    let spec = std::env::var("MRE_WAVE_BENCH").unwrap_or_else(|_| "3d:32".into());
    let (dim, n) = spec.split_once(':').expect("MRE_WAVE_BENCH=2d:n or 3d:n");
    let n: usize = n.parse().expect("grid size");
    let t = if dim == "2d" { bench_helmholtz_2d(n) } else { bench_helmholtz_3d(n) };
    println!("bench_helmholtz_{dim}({n}): {t:.3} s");
}
