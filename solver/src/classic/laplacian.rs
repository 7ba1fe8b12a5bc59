//! Fourth-order Laplacian restricted to a mask, on contiguous `[nz, ny, nx]` data: the one
//! Laplacian of the direct inversions ([`super::ahi`], [`super::mdev`] and through them
//! [`crate::recon::algebraic_helmholtz`]).

use ndarray::Array3;
use num_complex::Complex64;

/// Stencil `[-1, 16, -30, 16, -1] / 12h²` along every axis longer than 4 voxels.
pub(crate) struct Stencil {
    /// `(stride, 1/(12h²) in 1/m²)` per differentiated axis (standard layout).
    axes: Vec<(usize, f64)>,
    /// True where the voxel and its whole stencil lie inside the mask and the grid.
    valid: Vec<bool>,
}

impl Stencil {
    /// The stencil on the grid of `mask` with voxel size `[dz, dy, dx]` (m).
    pub(crate) fn new(mask: &Array3<bool>, voxel_size_m: [f64; 3]) -> Self {
        let sh = [mask.shape()[0], mask.shape()[1], mask.shape()[2]];
        let strides = [sh[1] * sh[2], sh[2], 1];
        let diff: Vec<usize> = (0..3).filter(|&a| sh[a] > 4).collect();
        let valid = mask
            .indexed_iter()
            .map(|((z, y, x), &m)| {
                let idx = [z, y, x];
                m && diff.iter().all(|&a| {
                    idx[a] >= 2
                        && idx[a] + 2 < sh[a]
                        && (0..5).all(|o| {
                            let mut n = idx;
                            n[a] = idx[a] + o - 2;
                            mask[n]
                        })
                })
            })
            .collect();
        let axes = diff.iter().map(|&a| (strides[a], 1.0 / (12.0 * voxel_size_m[a] * voxel_size_m[a]))).collect();
        Self { axes, valid }
    }

    /// `∇²u` (1/m² times the unit of `u`) at flat index `i` of the standard-layout data `u`,
    /// or None where the stencil leaves the mask.
    #[inline]
    pub(crate) fn apply(&self, u: &[Complex64], i: usize) -> Option<Complex64> {
        if !self.valid[i] {
            return None;
        }
        let mut lap = Complex64::new(0.0, 0.0);
        for &(s, scale) in &self.axes {
            let acc = (u[i - s] + u[i + s]) * 16.0 - (u[i - 2 * s] + u[i + 2 * s]) - u[i] * 30.0;
            lap += acc * scale;
        }
        Some(lap)
    }
}
