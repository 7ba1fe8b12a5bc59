//! What one wave solve costs: its peak resident memory and its time on one core, modelled on
//! figures measured on the development machine (2-core AMD EPYC VM). Sizes are estimated from
//! these before a solve is started: `mre-sim check` for a simulation's wave motion, and the
//! inversion when it chooses the grids of its approximation-error model.
//!
//! - [`ScalarSolver`](super::ScalarSolver) (sparse LU): 2-D 256² 0.3 GB (4 KB per unknown);
//!   3-D 32³ 1 GB, growing like N^1.4; [`IterativeSolver`](super::IterativeSolver): 64³
//!   0.3 GB (1 KB per unknown).
//! - [`NavierSolver`](super::NavierSolver) (sparse LU of the u–p system, 4 unknowns per voxel,
//!   peak RSS on one thread): 3-D 16³ 0.6 GB, 24³ 4.0 GB, 32³ over 18 GB — 300 KB per voxel at
//!   24³ growing like N^(2/3), the fill of nested dissection; 2-D 128² 0.5 GB, 256² 2.5 GB —
//!   2.4 KB × log₂ N per voxel. Time: 3-D 50 s at 24³ growing like N² (16³: 3.9 s), 2-D 0.7 s at
//!   128² growing like N^1.35 (256²: 4.8 s).
//! - [`NavierIterative`](super::NavierIterative) with absorbing faces (FGMRES(30), inner GMRES
//!   per block): 24³ 0.12 GB (10 KB per voxel: Krylov vectors, matrix and V-cycles), 13.5 s at
//!   24³, 90 s at 32³, growing like N^2.2. Without absorbing faces (IDR(4), one V-cycle per
//!   block): 0.52 GB at 48³ and 1.22 GB at 64³ (4.7 KB per voxel), 30.2 s at 48³, 86.3 s at
//!   64³, growing like N^1.22 (GMRES(60) before: 68.6 s and 204 s, 1.78 GB at 64³).
//!
//! The figures are resident memory; the sparse LU allocates about 3× what it touches, so an
//! address-space limit needs that much more.

use super::WaveEquation;

/// Bytes per unknown of the scalar direct solver in 2-D.
const WAVE_DIRECT_2D_BYTES: f64 = 4096.0;
/// Bytes per unknown of the scalar direct solver in 3-D at 32³ unknowns; grows like N^0.4.
const WAVE_DIRECT_3D_BYTES_AT_32: f64 = 30_000.0;
/// Bytes per unknown of the scalar iterative solver.
const WAVE_ITERATIVE_BYTES: f64 = 1024.0;
/// Navier direct solver, 3-D: bytes per voxel at 24³ (13 824 voxels); grows like N^(2/3).
const NAVIER_DIRECT_3D_BYTES_AT_24: f64 = 300_000.0;
/// Navier direct solver, 2-D plane strain: bytes per voxel per log₂ of the voxel count.
const NAVIER_DIRECT_2D_BYTES_PER_LOG2: f64 = 2_400.0;
/// Navier iterative solver with absorbing faces (FGMRES(30), 61 stored vectors): bytes per voxel.
const NAVIER_ITERATIVE_BYTES: f64 = 10_000.0;
/// Navier iterative solver without absorbing faces (IDR(4), 16 stored vectors): bytes per
/// voxel (measured peaks 0.52 GB at 48³ and 1.22 GB at 64³, 4.7 kB per voxel).
const NAVIER_ITERATIVE_IDRS_BYTES: f64 = 5_000.0;
/// Voxels of the 24³, 48³ and 128² reference grids of the Navier figures.
const VOXELS_24_CUBED: f64 = 13_824.0;
const VOXELS_48_CUBED: f64 = 110_592.0;
const VOXELS_128_SQUARED: f64 = 16_384.0;

/// One wave solve: which equation, and which solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveCost {
    /// The wave equation.
    pub equation: WaveEquation,
    /// Whether the iterative solver runs (else the sparse LU).
    pub iterative: bool,
    /// Whether the problem has absorbing faces (the iterative Navier solver is slower with a PML).
    pub absorbing: bool,
}

impl SolveCost {
    /// The solve of a problem of `equation` without absorbing faces on a grid of `shape` (the
    /// inversion's measured-boundary problems) with the solver the inversion picks: for the
    /// Navier equation the one [`super::SolverChoice::Auto`] picks (iterative on 3-D grids above
    /// [`super::AUTO_NAVIER_DIRECT_MAX_VOXELS_3D`] voxels), for the scalar equation the sparse LU.
    pub fn measured_boundary(equation: WaveEquation, shape: [usize; 3]) -> Self {
        let iterative = equation == WaveEquation::Navier
            && shape.iter().all(|&n| n > 1)
            && shape.iter().product::<usize>() > super::AUTO_NAVIER_DIRECT_MAX_VOXELS_3D;
        Self { equation, iterative, absorbing: false }
    }

    /// Peak bytes of one solve on `voxels` voxels (`three_d`: every axis has more than one).
    pub fn bytes(&self, voxels: f64, three_d: bool) -> f64 {
        match (self.equation, self.iterative, three_d) {
            (WaveEquation::Scalar, true, _) => voxels * WAVE_ITERATIVE_BYTES,
            (WaveEquation::Scalar, false, true) => voxels * WAVE_DIRECT_3D_BYTES_AT_32 * (voxels / 32768.0).powf(0.4).max(0.1),
            (WaveEquation::Scalar, false, false) => voxels * WAVE_DIRECT_2D_BYTES,
            (WaveEquation::Navier, true, _) if self.absorbing => voxels * NAVIER_ITERATIVE_BYTES,
            (WaveEquation::Navier, true, _) => voxels * NAVIER_ITERATIVE_IDRS_BYTES,
            (WaveEquation::Navier, false, true) => voxels * NAVIER_DIRECT_3D_BYTES_AT_24 * (voxels / VOXELS_24_CUBED).powf(2.0 / 3.0),
            (WaveEquation::Navier, false, false) => voxels * NAVIER_DIRECT_2D_BYTES_PER_LOG2 * voxels.max(2.0).log2(),
        }
    }

    /// Seconds of one solve on one core (None: not estimated, the scalar solve — seconds at
    /// the sizes the memory allows).
    pub fn seconds(&self, voxels: f64, three_d: bool) -> Option<f64> {
        match (self.equation, self.iterative, three_d) {
            (WaveEquation::Scalar, ..) => None,
            (WaveEquation::Navier, true, _) if self.absorbing => Some(13.5 * (voxels / VOXELS_24_CUBED).powf(2.2)),
            (WaveEquation::Navier, true, _) => Some(30.2 * (voxels / VOXELS_48_CUBED).powf(1.22)),
            (WaveEquation::Navier, false, true) => Some(50.0 * (voxels / VOXELS_24_CUBED).powi(2)),
            (WaveEquation::Navier, false, false) => Some(0.7 * (voxels / VOXELS_128_SQUARED).powf(1.35)),
        }
    }

    /// [`Self::bytes`] of a grid of `shape` `[nz, ny, nx]`.
    pub fn grid_bytes(&self, shape: [usize; 3]) -> f64 {
        let voxels = shape.iter().map(|&n| n as f64).product();
        self.bytes(voxels, shape.iter().all(|&n| n > 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measured_figures_are_reproduced() {
        let direct = SolveCost { equation: WaveEquation::Navier, iterative: false, absorbing: true };
        // 2-D 256²: 2.5 GB; 3-D 24³: 4.0 GB (modelled 4.1).
        assert!((direct.grid_bytes([1, 256, 256]) / 2.5e9 - 1.0).abs() < 0.1);
        assert!((direct.grid_bytes([24, 24, 24]) / 4.0e9 - 1.0).abs() < 0.1);
        assert!((direct.seconds(16_384.0, false).unwrap() - 0.7).abs() < 1e-12);
        let iterative = SolveCost { iterative: true, ..direct };
        assert!((iterative.grid_bytes([24, 24, 24]) / 0.12e9 - 1.0).abs() < 0.2);
        // With a PML 13.5 s at 24³ and 90 s at 32³; without (IDR(4)), 30.2 s at 48³ and 86.3 s
        // at 64³, 1.22 GB.
        assert!((iterative.seconds(32_768.0, true).unwrap() / 90.0 - 1.0).abs() < 0.1);
        let enclosed = SolveCost { absorbing: false, ..iterative };
        assert!((enclosed.seconds(262_144.0, true).unwrap() / 86.3 - 1.0).abs() < 0.05);
        assert!((enclosed.grid_bytes([64, 64, 64]) / 1.22e9 - 1.0).abs() < 0.1);
    }
}
