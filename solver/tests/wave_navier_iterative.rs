//! The block-preconditioned GMRES Navier solver (`NavierIterative`) against the sparse LU
//! (`NavierSolver`): the same linear system, so with a tight residual tolerance the solutions
//! agree to 1e-8 (relative). Heavy: run in release (`scripts/test.sh` does).

use std::f64::consts::PI;

use mre_solver::wave::*;
use mre_solver::{Grid, Inclusion, InclusionShape, Phantom, SolverError, Tissue};
use ndarray::Array3;
use num_complex::Complex64;

const H: f64 = 1e-3;
const G: f64 = 3e3;
const RHO: f64 = 1e3;

fn c(re: f64, im: f64) -> Complex64 {
    Complex64::new(re, im)
}

/// Tiny deterministic generator of numbers in [−1, 1).
struct Lcg(u64);
impl Lcg {
    fn sym(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        2.0 * ((self.0 >> 11) as f64 / (1u64 << 53) as f64) - 1.0
    }
    fn field(&mut self, grid: &Grid) -> Array3<Complex64> {
        let s = grid.shape;
        Array3::from_shape_fn((s[0], s[1], s[2]), |_| c(self.sym(), self.sym()))
    }
}

/// Bulk modulus (Pa) of Poisson ratio `nu` for the shear modulus `g` (Pa).
fn bulk(g: f64, nu: f64) -> f64 {
    2.0 * g * (1.0 + nu) / (3.0 * (1.0 - 2.0 * nu))
}

/// A lossy medium (10 % loss) with a stiffer, lossier spherical (or, in 2-D, cylindrical)
/// inclusion off centre and a denser block.
fn medium(shape: [usize; 3]) -> Medium {
    let grid = Grid::new(shape, [H; 3]).unwrap();
    let mut m = Medium::homogeneous(grid, G, 0.1 * G, RHO);
    let ctr = shape.map(|n| n as f64 * 0.55);
    let r = shape[1] as f64 / 5.0;
    for ((z, y, x), g) in m.storage_modulus_pa.indexed_iter_mut() {
        let dz = if shape[0] > 1 { z as f64 - ctr[0] } else { 0.0 };
        if dz * dz + (y as f64 - ctr[1]).powi(2) + (x as f64 - ctr[2]).powi(2) <= r * r {
            *g = 3.0 * G;
            m.loss_modulus_pa[[z, y, x]] = 0.5 * G;
        }
    }
    m.density_kg_m3[[shape[0] / 3, shape[1] / 3, shape[2] / 3]] = 1.2 * RHO;
    m
}

/// Relative difference `‖a − b‖/‖b‖` over the three components.
fn rel(a: &[Array3<Complex64>; 3], b: &[Array3<Complex64>; 3]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (a, b) in a.iter().zip(b) {
        num += a.iter().zip(b).map(|(x, y)| (x - y).norm_sqr()).sum::<f64>();
        den += b.iter().map(|y| y.norm_sqr()).sum::<f64>();
    }
    (num / den).sqrt()
}

fn tight() -> IterativeOptions {
    IterativeOptions { tolerance: 1e-11, max_iterations: 4000, ..NavierIterative::default_options() }
}

/// Iterative and direct forward and adjoint solves of `p` agree to 1e-8 (relative), for a
/// random force and (if given) a Dirichlet drive; returns the forward iteration count.
fn agree(p: &VectorProblem, label: &str) -> usize {
    agree_with(p, tight(), label)
}

fn agree_with(p: &VectorProblem, options: IterativeOptions, label: &str) -> usize {
    let grid = &p.medium.grid;
    let mut rng = Lcg(7);
    let force = [rng.field(grid), rng.field(grid), rng.field(grid)].map(|f| f * 1e3);
    let direct = NavierSolver::with_threads(p, 1).unwrap();
    let iter = NavierIterative::with_options(p, options).unwrap();
    println!("{label}: multigrid levels {:?}", iter.levels());
    let (fi, stats) = iter.solve_fields_with_stats(&force).unwrap();
    let fd = direct.solve_fields(&force).unwrap();
    let e = rel(&fi.faces, &fd.faces);
    let ep = rel(
        &[fi.pressure_pa.clone(), fi.pressure_pa.clone(), fi.pressure_pa.clone()],
        &[fd.pressure_pa.clone(), fd.pressure_pa.clone(), fd.pressure_pa.clone()],
    );
    let rhs = [rng.field(grid), rng.field(grid), rng.field(grid)];
    let ai = iter.solve_adjoint(&rhs).unwrap();
    let ad = direct.solve_adjoint(&rhs).unwrap();
    let ea = rel(&ai, &ad);
    println!(
        "{label}: {} unknowns, {} iterations, residual {:.1e}; displacement {e:.1e}, pressure {ep:.1e}, adjoint {ea:.1e} ({} iterations)",
        iter.len(),
        stats.iterations,
        stats.relative_residual,
        iter.last_iterations()
    );
    assert!(e < 1e-8, "{label}: displacement differs by {e:e}");
    assert!(ep < 1e-8, "{label}: pressure differs by {ep:e}");
    assert!(ea < 1e-8, "{label}: adjoint differs by {ea:e}");
    stats.iterations
}

fn problem(m: &Medium, nu: f64, boundary: Boundary, dirichlet: Option<VectorDirichlet>) -> VectorProblem<'_> {
    VectorProblem { medium: m, bulk_modulus_pa: bulk(G, nu).into(), omega_rad_per_s: 2.0 * PI * 60.0, boundary, dirichlet }
}

#[test]
fn plane_strain_iterative_equals_direct() {
    let m = medium([1, 48, 40]);
    for nu in [0.3, 0.4999] {
        // PML on every face.
        agree(&problem(&m, nu, Boundary::absorbing(8), None), &format!("2-D ν = {nu}, PML"));
        // A driven x-low column (in-plane and anti-plane displacement), a free y-high face.
        let d = VectorDirichlet::from_fn(&m.grid, |i| i[2] == 0, |i| [c(1e-6, 0.0), c(0.0, 2e-6 * i[1] as f64 / 48.0), c(1e-6, 1e-6)]);
        let b = Boundary::absorbing(8).with_face(1, 1, FaceCondition::Free).with_face(2, 0, FaceCondition::Fixed);
        agree(&problem(&m, nu, b, Some(d)), &format!("2-D ν = {nu}, drive + free face"));
    }
}

#[test]
fn small_3d_iterative_equals_direct() {
    let m = medium([14, 16, 12]);
    for nu in [0.3, 0.4999] {
        agree(&problem(&m, nu, Boundary::absorbing(4), None), &format!("3-D ν = {nu}, PML"));
        let d = VectorDirichlet::from_fn(&m.grid, |i| i[0] == 0, |i| [c(0.0, 0.0), c(0.0, 0.0), c(1e-6, 1e-7 * i[2] as f64)]);
        let b = Boundary::absorbing(4).with_face(0, 0, FaceCondition::Fixed).with_face(1, 1, FaceCondition::Free);
        agree(&problem(&m, nu, b, Some(d)), &format!("3-D ν = {nu}, drive + free face"));
    }
}

#[test]
fn with_multigrid_levels_iterative_equals_direct() {
    // The grids above are solved on the coarsest level directly; here every block has two
    // levels (17·16·16 → 9·8·8 for u_z).
    let m = medium([16, 16, 16]);
    let options = IterativeOptions { coarsest_unknowns: 800, ..tight() };
    for nu in [0.3, 0.4999] {
        agree_with(&problem(&m, nu, Boundary::absorbing(4), None), options, &format!("3-D 16³ two-level ν = {nu}, PML"));
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let m = medium([12, 14, 16]);
    let d = VectorDirichlet::from_fn(&m.grid, |i| i[0] == 0, |_| [c(0.0, 0.0), c(1e-6, 0.0), c(0.0, 1e-6)]);
    let p = problem(&m, 0.4999, Boundary::absorbing(4).with_face(0, 0, FaceCondition::Fixed), Some(d));
    let force = {
        let mut rng = Lcg(3);
        [rng.field(&m.grid), rng.field(&m.grid), rng.field(&m.grid)]
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let s = NavierIterative::new(&p).unwrap();
            (s.solve(&force).unwrap(), s.solve_adjoint(&force).unwrap(), s.last_iterations())
        })
    };
    let (u1, a1, n1) = run(1);
    for threads in [2, 3] {
        let (u, a, n) = run(threads);
        assert_eq!(n, n1, "{threads} threads: iteration count");
        assert!(u.iter().zip(&u1).all(|(x, y)| x == y), "{threads} threads: forward solution differs");
        assert!(a.iter().zip(&a1).all(|(x, y)| x == y), "{threads} threads: adjoint solution differs");
    }
}

#[test]
fn non_convergence_is_an_error_naming_size_frequency_iterations_and_residual() {
    let m = medium([10, 12, 14]);
    let p = problem(&m, 0.4999, Boundary::absorbing(3), None);
    let options = IterativeOptions { max_iterations: 3, ..NavierIterative::default_options() };
    let s = NavierIterative::with_options(&p, options).unwrap();
    let mut force = [Array3::zeros((10, 12, 14)), Array3::zeros((10, 12, 14)), Array3::zeros((10, 12, 14))];
    force[2][[5, 6, 7]] = c(1.0, 0.0);
    match s.solve(&force) {
        Err(SolverError::NotConverged(msg)) => {
            println!("{msg}");
            for part in ["10×12×14", "60.0000 Hz", "after 3 iterations", "relative residual"] {
                assert!(msg.contains(part), "message lacks {part:?}: {msg}");
            }
        }
        other => panic!("expected NotConverged, got {other:?}"),
    }
    // BiCGStab is refused with a clear error.
    let bicg = IterativeOptions { method: KrylovMethod::BiCgStab, ..IterativeOptions::default() };
    let e = NavierIterative::with_options(&p, bicg).unwrap_err();
    assert!(e.to_string().contains("Gmres"), "{e}");
}

#[test]
fn auto_choice_is_direct_for_2d_and_small_3d() {
    let small = Grid::new([16, 16, 16], [H; 3]).unwrap();
    let large = Grid::new([17, 16, 16], [H; 3]).unwrap();
    let flat = Grid::new([1, 512, 512], [H; 3]).unwrap();
    assert!(!SolverChoice::Auto.is_iterative_navier(&small));
    assert!(SolverChoice::Auto.is_iterative_navier(&large));
    assert!(!SolverChoice::Auto.is_iterative_navier(&flat));
    assert!(SolverChoice::Iterative.is_iterative_navier(&small));
    assert!(!SolverChoice::Direct.is_iterative_navier(&large));
}

fn phantom(shape: [usize; 3]) -> Phantom {
    let grid = Grid::new(shape, [H; 3]).unwrap();
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
    let disc = Inclusion { shape: InclusionShape::Sphere { radius_m: 3e-3 }, centre_m: [0.0, 1e-3, 0.0], label: 2 };
    let labels = Phantom::from_shapes(grid.clone(), 1, &[disc]);
    Phantom { grid, labels, tissues: vec![tissue(1, G), tissue(2, 3.0 * G)], spins_per_voxel: 1, jitter: false, seed: 0 }
}

#[test]
fn driven_navier_wave_is_the_navier_solve_with_the_drive_layer_prescribed() {
    // 3-D, driven from z-low along x; 2-D plane strain, driven from x-low along (z, y, x) =
    // (0.3, 0, 1) (in-plane compression plus anti-plane shear).
    for (shape, face, axis, pol) in [([10, 12, 12], "z-low", 0, [0.0, 0.0, 1.0]), ([1, 24, 20], "x-low", 2, [0.3, 0.0, 1.0])] {
        let mut ph = phantom(shape);
        let boundary = Boundary::absorbing(3).with_face(axis, 0, FaceCondition::Fixed);
        let norm: f64 = pol[0] * pol[0] + pol[2] * pol[2];
        let pol = pol.map(|p: f64| p / norm.sqrt());
        let k = bulk(G, 0.4999);
        ph.tissues.iter_mut().for_each(|t| t.bulk_modulus_pa = k);
        let wave = |solver| DrivenWave {
            boundary: boundary.clone(),
            drive: vec![face.parse().unwrap()],
            amplitude_m: 1e-5,
            polarization: pol,
            scheme: Scheme::Standard,
            solver,
            equation: WaveEquation::Navier,
        };
        let freqs = [50.0, 80.0];
        let direct = wave(SolverChoice::Direct).solve(&ph, &freqs).unwrap();
        let iterative = wave(SolverChoice::Iterative).solve(&ph, &freqs).unwrap();
        let medium = Medium::from_phantom(&ph).unwrap();
        for ((f, d), it) in freqs.iter().zip(&direct).zip(&iterative) {
            let dirichlet = VectorDirichlet::from_fn(&ph.grid, |i| i[axis] == 0, |_| pol.map(|p| c(1e-5 * p, 0.0)));
            let p = VectorProblem {
                medium: &medium,
                bulk_modulus_pa: k.into(),
                omega_rad_per_s: 2.0 * PI * f,
                boundary: boundary.clone(),
                dirichlet: Some(dirichlet),
            };
            let sh = (shape[0], shape[1], shape[2]);
            let zero = Array3::zeros(sh);
            let want = NavierSolver::new(&p).unwrap().solve(&[zero.clone(), zero.clone(), zero]).unwrap();
            let got = [0, 1, 2].map(|c| d.amplitude_m.index_axis(ndarray::Axis(0), c).to_owned());
            let got_it = [0, 1, 2].map(|c| it.amplitude_m.index_axis(ndarray::Axis(0), c).to_owned());
            let (e, ei) = (rel(&got, &want), rel(&got_it, &want));
            println!("{shape:?} {f} Hz: direct {e:.1e}, iterative {ei:.1e}");
            assert!(e < 1e-12, "{shape:?} {f} Hz: DrivenWave differs from the Navier solve by {e:e}");
            assert!(ei < 1e-6, "{shape:?} {f} Hz: iterative DrivenWave differs by {ei:e}");
            // The motion is a vector field: the in-plane components away from the drive are
            // not a multiple of the drive polarisation (compression couples them).
            let uy = got[1].iter().map(|v| v.norm()).fold(0.0, f64::max);
            assert!(uy > 1e-3 * 1e-5, "{shape:?}: no y displacement ({uy:e}) from a drive without a y component");
        }
    }
}

#[test]
fn inner_block_iterations_agree_with_direct_and_need_fewer_outer_iterations() {
    // Every block with multigrid levels (coarsest 800 unknowns): the flexible outer GMRES with
    // inner GMRES per block against one V-cycle per block (plain GMRES), both against the LU.
    let m = medium([16, 16, 16]);
    let p = problem(&m, 0.4999, Boundary::absorbing(4), None);
    let options = IterativeOptions { coarsest_unknowns: 800, tolerance: 1e-10, ..NavierIterative::default_options() };
    let mut rng = Lcg(11);
    let force = [rng.field(&m.grid), rng.field(&m.grid), rng.field(&m.grid)];
    let want = NavierSolver::with_threads(&p, 1).unwrap().solve(&force).unwrap();
    let mut counts = Vec::new();
    for inner in [1, DEFAULT_NAVIER_INNER_ITERATIONS] {
        let s = NavierIterative::with_inner_iterations(&p, options, inner).unwrap();
        let got = s.solve(&force).unwrap();
        let e = rel(&got, &want);
        println!("inner {inner}: {} outer iterations, difference {e:.1e}", s.last_iterations());
        assert!(e < 1e-8, "inner {inner}: differs from the LU by {e:e}");
        counts.push(s.last_iterations());
    }
    assert!(2 * counts[1] < counts[0], "inner iterations should at least halve the outer count: {counts:?}");
}

#[test]
fn without_absorbing_faces_one_v_cycle_per_block_equals_direct() {
    // Measured boundary values on the outer voxel layer (the inversion's problem) and a drive
    // with clamped and traction-free faces (a rigid enclosure): no PML, so the defaults are one
    // V-cycle per block, IDR(4) and the shift 0.3 (GMRES(60), the former default, also checked);
    // every block with multigrid levels.
    let m = medium([16, 16, 16]);
    let kx = 2.0 * PI / (12.0 * H);
    let wave = |i: [usize; 3]| {
        let ph = c(0.0, kx * (i[2] as f64 + 0.3 * i[0] as f64) * H).exp() * 1e-6;
        [c(0.0, 0.0), ph, c(0.0, 0.0)]
    };
    let measured = VectorDirichlet::outer_layer(&m.grid, wave);
    let drive = VectorDirichlet::from_fn(&m.grid, |i| i[0] == 0, |_| [c(0.0, 0.0), c(0.0, 0.0), c(1e-6, 0.0)]);
    let enclosure = Boundary::fixed().with_face(1, 1, FaceCondition::Free);
    for nu in [0.3, 0.4999] {
        for (b, d, label) in
            [(Boundary::fixed(), measured.clone(), "measured boundary"), (enclosure.clone(), drive.clone(), "drive, clamped")]
        {
            let p = problem(&m, nu, b, Some(d));
            assert_eq!(NavierIterative::default_inner_iterations_for(&p), DEFAULT_NAVIER_INNER_ITERATIONS_WITHOUT_PML);
            let defaults = NavierIterative::default_options_for(&p);
            assert_eq!((defaults.method, defaults.shift), (KrylovMethod::Idrs, 0.3));
            for method in [KrylovMethod::Idrs, KrylovMethod::Gmres] {
                // 1e-13: with every face prescribed the mean pressure is set by the compliance
                // `V/λ` alone, so at ν = 0.4999 its error is ~1e3 times the residual (2e-8 at 1e-11).
                let options =
                    IterativeOptions { method, restart: 60, tolerance: 1e-13, max_iterations: 4000, coarsest_unknowns: 800, ..defaults };
                agree_with(&p, options, &format!("3-D 16³ ν = {nu}, {label}, {method:?}"));
            }
        }
    }
    // One absorbing face is enough for the PML settings.
    let p = problem(&m, 0.4999, Boundary::fixed().with_face(2, 1, FaceCondition::Absorbing), Some(drive));
    assert_eq!(NavierIterative::default_inner_iterations_for(&p), DEFAULT_NAVIER_INNER_ITERATIONS);
}

#[test]
fn a_stalled_solve_names_a_sealed_box() {
    // Stopped after 3 iterations on purpose: the error says whether the domain is sealed (every
    // face clamped or driven, so a nearly incompressible medium's pressure is set by K alone).
    let m = medium([12, 12, 12]);
    let drive = VectorDirichlet::from_fn(&m.grid, |i| i[0] == 0, |_| [c(0.0, 0.0), c(0.0, 0.0), c(1e-6, 0.0)]);
    let zero = Array3::<Complex64>::zeros((12, 12, 12));
    let force = [zero.clone(), zero.clone(), zero];
    let stalled = |b: Boundary| {
        let p = problem(&m, 0.4999, b, Some(drive.clone()));
        let options = IterativeOptions { max_iterations: 3, ..NavierIterative::default_options_for(&p) };
        match NavierIterative::with_options(&p, options).unwrap().solve(&force) {
            Err(SolverError::NotConverged(msg)) => msg,
            other => panic!("expected NotConverged, got {other:?}"),
        }
    };
    // The driven z-low face is traction-free in the boundary but wholly prescribed: still sealed.
    let sealed = stalled(Boundary::fixed().with_face(0, 0, FaceCondition::Free));
    assert!(sealed.contains("sealed") && sealed.contains("traction-free"), "{sealed}");
    let open = stalled(Boundary::fixed().with_face(0, 1, FaceCondition::Free));
    assert!(!open.contains("sealed"), "{open}");
}

/// `‖a − b‖/‖b‖` of two arrays.
fn rel1(a: &Array3<Complex64>, b: &Array3<Complex64>) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).norm_sqr()).sum();
    (num / b.iter().map(|y| y.norm_sqr()).sum::<f64>()).sqrt()
}

#[test]
fn measured_boundary_solves_of_the_inversion_agree_with_the_direct_solver() {
    // The inversion's forward problem (`NavierForward`): every voxel of the outer layer
    // prescribed with zero values in the problem, the measured values given per face at solve
    // time; nearly incompressible tissue (K = 2.2 GPa). Every operation the inversion uses —
    // other face values, an operator right-hand side (tangents), the adjoint fields and the
    // modulus sensitivity of the gradient — agrees with the LU to 1e-8.
    let m = medium([14, 14, 14]);
    let g = &m.grid;
    let s = g.shape;
    let zero = Array3::<Complex64>::zeros((s[0], s[1], s[2]));
    let dirichlet = VectorDirichlet::from_fn(g, |i| (0..3).any(|a| i[a] == 0 || i[a] == s[a] - 1), |_| [c(0.0, 0.0); 3]);
    let p = VectorProblem {
        medium: &m,
        bulk_modulus_pa: 2.2e9.into(),
        omega_rad_per_s: 2.0 * PI * 60.0,
        boundary: Boundary::free(),
        dirichlet: Some(dirichlet),
    };
    let options = IterativeOptions { tolerance: 1e-12, max_iterations: 4000, ..NavierIterative::default_options_for(&p) };
    assert_eq!(options.method, KrylovMethod::Idrs);
    let direct = NavierWaveSolver::Direct(NavierSolver::with_threads(&p, 1).unwrap());
    let iterative = NavierWaveSolver::Iterative(NavierIterative::with_options(&p, options).unwrap());
    assert_eq!(direct.face_shapes(), iterative.face_shapes());
    let mut rng = Lcg(11);
    let shapes = direct.face_shapes();
    let faces = shapes.map(|f| Array3::from_shape_fn((f[0], f[1], f[2]), |_| c(rng.sym(), rng.sym()) * 1e-6));
    let force = [zero.clone(), zero.clone(), zero.clone()];
    let (ud, ui) =
        (direct.solve_fields_with_face_values(&force, &faces).unwrap(), iterative.solve_fields_with_face_values(&force, &faces).unwrap());
    let e = rel(&ui.centres(), &ud.centres());
    println!("face values: centre displacement {e:.1e}");
    assert!(e < 1e-8, "face values: {e:e}");
    // An operator right-hand side (pressures in units of 1 kPa) as a tangent's: the change of
    // the elastic rows; the compliance rows change by `∂(1/λ)` ~ 1/K², nothing at this K.
    let np: usize = shapes.iter().map(|f| f.iter().product::<usize>()).sum();
    let r: Vec<Complex64> = (0..direct.len()).map(|i| if i < np { c(rng.sym(), rng.sym()) } else { c(0.0, 0.0) }).collect();
    let (td, ti) = (direct.solve_operator_rhs(&r, 1e3).unwrap(), iterative.solve_operator_rhs(&r, 1e3).unwrap());
    let e = rel(&ti.faces, &td.faces);
    println!("operator right-hand side: faces {e:.1e}");
    assert!(e < 1e-8, "operator right-hand side: {e:e}");
    // The adjoint fields and the gradient's sensitivity built from them.
    let rhs = [rng.field(g), rng.field(g), rng.field(g)];
    let (ad, ai) = (direct.solve_adjoint_fields(&rhs).unwrap(), iterative.solve_adjoint_fields(&rhs).unwrap());
    let e = rel(&ai.faces, &ad.faces);
    println!("adjoint fields: faces {e:.1e}");
    assert!(e < 1e-8, "adjoint fields: {e:e}");
    let conj = |f: &NavierFields| NavierFields {
        faces: f.faces.clone().map(|a| a.mapv(|v| v.conj())),
        pressure_pa: f.pressure_pa.mapv(|v| v.conj()),
    };
    let (cd, ci) = (direct.modulus_sensitivity(&p, &ud, &conj(&ad)).unwrap(), iterative.modulus_sensitivity(&p, &ui, &conj(&ai)).unwrap());
    let e = rel1(&ci, &cd);
    println!("modulus sensitivity {e:.1e}");
    assert!(e < 1e-8, "modulus sensitivity: {e:e}");
}
