//! Timing helper for the vector (Navier) solver.

use std::time::Instant;

use ndarray::Array3;
use num_complex::Complex64;

use super::{
    Boundary, Dirichlet, IterativeSolver, Medium, NavierIterative, NavierSolver, ScalarProblem, Scheme, VectorDirichlet, VectorProblem,
};
use crate::model::phantom::Grid;

/// Seconds to assemble, factorise (including the factorisation check) and solve once,
/// single-threaded, a heterogeneous PML-bounded problem on an `n³` grid: G' = 3 kPa,
/// G'' = 0.3 kPa, ρ = 1000 kg/m³ with a central sphere of radius `n/6` voxels at G' = 9 kPa,
/// K = 2.2 GPa, 60 Hz, 1 mm voxels (shear wavelength ≈ 29 voxels), a PML of `min(16, n/4)`
/// voxels on every face and a unit z-force density in the central voxel.
///
/// Measured (busy 2-core machine): 16³ 3.9 s and 0.6 GB peak, 24³ 50 s and 4.0 GB;
/// 32³ needs more than 18 GB (out of memory under an 18 GB address-space limit).
///
/// # Panics
/// If `n < 4` or the factorisation fails (out of memory).
pub fn bench_navier_3d(n: usize) -> f64 {
    assert!(n >= 4, "benchmark grid of at least 4³ voxels");
    let grid = Grid::new([n; 3], [1e-3; 3]).expect("valid benchmark grid");
    let mut medium = Medium::homogeneous(grid, 3e3, 3e2, 1e3);
    let c = (n as f64 - 1.0) / 2.0;
    let r = n as f64 / 6.0;
    for ((z, y, x), g) in medium.storage_modulus_pa.indexed_iter_mut() {
        let d2 = (z as f64 - c).powi(2) + (y as f64 - c).powi(2) + (x as f64 - c).powi(2);
        if d2 <= r * r {
            *g = 9e3;
        }
    }
    let problem = VectorProblem {
        medium: &medium,
        bulk_modulus_pa: 2.2e9.into(),
        omega_rad_per_s: 2.0 * std::f64::consts::PI * 60.0,
        boundary: Boundary::absorbing((n / 4).min(16)),
        dirichlet: None,
    };
    let zeros = Array3::<Complex64>::zeros((n, n, n));
    let mut fz = zeros.clone();
    fz[[n / 2, n / 2, n / 2]] = Complex64::new(1.0, 0.0);
    let force = [fz, zeros.clone(), zeros];
    let t = Instant::now();
    let solver = NavierSolver::with_threads(&problem, 1).expect("benchmark problem is well posed");
    let u = solver.solve(&force).expect("benchmark solve");
    let elapsed = t.elapsed().as_secs_f64();
    assert!(u.iter().all(|c| c.iter().all(|v| v.re.is_finite())));
    elapsed
}

/// Outcome of [`bench_navier_3d_iterative`].
#[derive(Clone, Copy, Debug)]
pub struct IterativeBench {
    /// Seconds for the vector (Navier) problem: assembly, preconditioner set-up, one solve.
    pub navier_seconds: f64,
    /// GMRES iterations of the Navier solve.
    pub navier_iterations: usize,
    /// Seconds for the scalar problem on the same grid and medium ([`IterativeSolver`]).
    pub scalar_seconds: f64,
    /// GMRES iterations of the scalar solve.
    pub scalar_iterations: usize,
}

/// The boundary of [`bench_navier_3d_iterative_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchBoundary {
    /// A PML of `min(10, n/4)` voxels on every face and a unit z-force density in the central
    /// voxel (a forward simulation in an unbounded medium).
    Absorbing,
    /// The displacement prescribed on the outer voxel layer, no force: the forward problem of
    /// the inversion, with the measured boundary values of a plane shear wave (polarised along
    /// y, wave vector along (0.3, 0, 1) in (z, y, x), amplitude 10 µm).
    Measured,
}

/// [`bench_navier_3d_iterative_with`] with [`BenchBoundary::Absorbing`].
///
/// # Errors
/// If a solver cannot be built or does not converge.
pub fn bench_navier_3d_iterative(n: usize) -> crate::error::Result<IterativeBench> {
    bench_navier_3d_iterative_with(n, BenchBoundary::Absorbing)
}

/// Time the iterative Navier solver ([`NavierIterative::new`]: the defaults for the boundary,
/// see its module docs; relative residual 1e-8) on the current rayon pool (run it in a
/// one-thread pool for single-core figures), and the scalar iterative solver on the same grid
/// and boundary: brain-like moduli G' = 2.5 kPa, G'' = 0.5 kPa, ρ = 1040 kg/m³, a spherical
/// lesion of radius `n/8` voxels at G' = 6 kPa, G'' = 0.9 kPa, K = 2.2 GPa (ν ≈ 0.4999994),
/// 50 Hz, 2 mm voxels (shear wavelength ≈ 15 voxels), the boundary `boundary` (the scalar
/// problem: a unit source in the central voxel, or the y component's boundary values).
///
/// # Errors
/// If a solver cannot be built or does not converge.
pub fn bench_navier_3d_iterative_with(n: usize, boundary: BenchBoundary) -> crate::error::Result<IterativeBench> {
    let grid = Grid::new([n; 3], [2e-3; 3])?;
    let mut medium = Medium::homogeneous(grid.clone(), 2.5e3, 0.5e3, 1040.0);
    let c = (n as f64 - 1.0) / 2.0;
    let r = n as f64 / 8.0;
    for ((z, y, x), g) in medium.storage_modulus_pa.indexed_iter_mut() {
        if (z as f64 - c - r).powi(2) + (y as f64 - c).powi(2) + (x as f64 - c).powi(2) <= r * r {
            *g = 6e3;
            medium.loss_modulus_pa[[z, y, x]] = 0.9e3;
        }
    }
    let omega = 2.0 * std::f64::consts::PI * 50.0;
    let zero = Complex64::new(0.0, 0.0);
    let zeros = Array3::<Complex64>::zeros((n, n, n));
    let (faces, dirichlet, force) = match boundary {
        BenchBoundary::Absorbing => {
            let mut fz = zeros.clone();
            fz[[n / 2, n / 2, n / 2]] = Complex64::new(1.0, 0.0);
            (Boundary::absorbing((n / 4).min(10)), None, fz)
        }
        BenchBoundary::Measured => {
            let k = omega / (2.5e3f64 / 1040.0).sqrt();
            let h = grid.voxel_size_m;
            let wave = |i: [usize; 3]| Complex64::new(0.0, k * (i[2] as f64 * h[2] + 0.3 * i[0] as f64 * h[0])).exp() * 1e-5;
            (Boundary::fixed(), Some(VectorDirichlet::outer_layer(&grid, |i| [zero, wave(i), zero])), zeros.clone())
        }
    };
    let problem = VectorProblem {
        medium: &medium,
        bulk_modulus_pa: 2.2e9.into(),
        omega_rad_per_s: omega,
        boundary: faces.clone(),
        dirichlet: dirichlet.clone(),
    };
    let t = Instant::now();
    let solver = NavierIterative::new(&problem)?;
    let (fields, stats) = solver.solve_fields_with_stats(&[force.clone(), zeros.clone(), zeros])?;
    let navier_seconds = t.elapsed().as_secs_f64();
    assert!(fields.pressure_pa.iter().all(|v| v.re.is_finite()));
    drop(solver);
    let scalar_dirichlet = dirichlet.map(|d| Dirichlet { mask: d.mask, values: d.values[1].clone() });
    let scalar =
        ScalarProblem { medium: &medium, omega_rad_per_s: omega, boundary: faces, dirichlet: scalar_dirichlet, scheme: Scheme::Standard };
    let t = Instant::now();
    let s = IterativeSolver::new(&scalar)?;
    let (_, sstats) = s.solve_with_stats(&force)?;
    let scalar_seconds = t.elapsed().as_secs_f64();
    Ok(IterativeBench { navier_seconds, navier_iterations: stats.iterations, scalar_seconds, scalar_iterations: sstats.iterations })
}
