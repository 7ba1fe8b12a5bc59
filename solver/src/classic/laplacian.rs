//! Fourth-order Laplacian at one voxel, restricted to a mask (the stencil of
//! [`crate::recon::ahi::algebraic_helmholtz`]).

use ndarray::{Array3, ArrayView3};
use num_complex::Complex64;

/// Stencil `[-1, 16, -30, 16, -1] / 12h²` along every axis longer than 4 voxels.
pub(crate) struct Stencil {
    /// Axes the Laplacian differentiates along.
    axes: Vec<usize>,
    /// `1 / (12 h²)` per axis, 1/m².
    scale: [f64; 3],
    shape: [usize; 3],
}

const WEIGHTS: [(i64, f64); 5] = [(-2, -1.0), (-1, 16.0), (0, -30.0), (1, 16.0), (2, -1.0)];

impl Stencil {
    pub(crate) fn new(shape: [usize; 3], voxel_size_m: [f64; 3]) -> Self {
        let axes = (0..3).filter(|&a| shape[a] > 4).collect();
        Self { axes, scale: voxel_size_m.map(|h| 1.0 / (12.0 * h * h)), shape }
    }

    /// `∇²u` at `idx` (1/m² times the unit of `u`), or None when `idx` or a stencil point is
    /// outside the mask or the grid.
    #[inline]
    pub(crate) fn apply(&self, u: &ArrayView3<Complex64>, mask: &Array3<bool>, idx: [usize; 3]) -> Option<Complex64> {
        if !mask[idx] {
            return None;
        }
        let mut lap = Complex64::new(0.0, 0.0);
        for &a in &self.axes {
            if idx[a] < 2 || idx[a] + 2 >= self.shape[a] {
                return None;
            }
            let mut acc = Complex64::new(0.0, 0.0);
            for (off, w) in WEIGHTS {
                let mut n = idx;
                n[a] = (idx[a] as i64 + off) as usize;
                if !mask[n] {
                    return None;
                }
                acc += u[n] * w;
            }
            lap += acc * self.scale[a];
        }
        Some(lap)
    }
}
