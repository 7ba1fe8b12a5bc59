//! Timing helper for the vector (Navier) solver.

use std::time::Instant;

use ndarray::Array3;
use num_complex::Complex64;

use super::{Boundary, Medium, NavierSolver, VectorProblem};
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
        bulk_modulus_pa: 2.2e9,
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
