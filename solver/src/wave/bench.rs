//! Timing helpers for the wave solver (used by the benchmark tests and scripts).

use std::time::Instant;

use ndarray::Array3;
use num_complex::Complex64;

use super::{Boundary, IterativeOptions, IterativeSolver, Medium, ScalarProblem, ScalarSolver, Scheme};
use crate::model::phantom::Grid;

/// The benchmark problem: homogeneous G' = 3 kPa, G'' = 0.3 kPa (10 % loss), ρ = 1000 kg/m³,
/// 60 Hz, 1 mm voxels (λ ≈ 29 voxels), a PML of `min(16, n/4)` voxels on every face and a
/// unit point source in the central voxel. Returns the medium, ω, the boundary and the source.
fn bench_problem(shape: [usize; 3]) -> (Medium, f64, Boundary, Array3<Complex64>) {
    let n = shape.iter().copied().filter(|&s| s > 1).min().unwrap_or(1);
    let grid = Grid::new(shape, [1e-3; 3]).expect("valid benchmark grid");
    let medium = Medium::homogeneous(grid, 3e3, 3e2, 1e3);
    let mut source = Array3::zeros((shape[0], shape[1], shape[2]));
    source[[shape[0] / 2, shape[1] / 2, shape[2] / 2]] = Complex64::new(1.0, 0.0);
    (medium, 2.0 * std::f64::consts::PI * 60.0, Boundary::absorbing((n / 4).min(16)), source)
}

fn bench(shape: [usize; 3]) -> f64 {
    let (medium, omega, boundary, source) = bench_problem(shape);
    let problem = ScalarProblem { medium: &medium, omega_rad_per_s: omega, boundary, dirichlet: None, scheme: Scheme::Standard };
    let t = Instant::now();
    let solver = ScalarSolver::with_threads(&problem, 1).expect("benchmark problem is well posed");
    let u = solver.solve(&source).expect("benchmark solve");
    let elapsed = t.elapsed().as_secs_f64();
    assert!(u.iter().all(|v| v.re.is_finite()));
    elapsed
}

/// Seconds to assemble, factorise (including the factorisation check) and solve once, single-threaded,
/// the benchmark problem on an `n × n` grid (see the module docs).
pub fn bench_helmholtz_2d(n: usize) -> f64 {
    bench([1, n, n])
}

/// Seconds to assemble, factorise and solve once, single-threaded, the benchmark problem on an `n³` grid.
pub fn bench_helmholtz_3d(n: usize) -> f64 {
    bench([n, n, n])
}

/// Seconds to assemble, build the multigrid preconditioner and solve once (relative residual 1e-8)
/// with [`IterativeSolver`] (single-threaded by construction; run with `RAYON_NUM_THREADS=1` for a
/// comparable figure), the benchmark problem on an `n³` grid.
pub fn bench_helmholtz_3d_iterative(n: usize) -> f64 {
    let (medium, omega, boundary, source) = bench_problem([n, n, n]);
    let problem = ScalarProblem { medium: &medium, omega_rad_per_s: omega, boundary, dirichlet: None, scheme: Scheme::Standard };
    let t = Instant::now();
    let solver = IterativeSolver::with_options(&problem, IterativeOptions::default()).expect("benchmark problem is well posed");
    let u = solver.solve(&source).expect("benchmark solve");
    let elapsed = t.elapsed().as_secs_f64();
    assert!(u.iter().all(|v| v.re.is_finite()));
    elapsed
}
