//! Algebraic Helmholtz inversion (AHI) of one component: `G* = −ρ ω² U / ∇²U` voxel by voxel.
//!
//! A thin wrapper around [`crate::classic::ahi`]'s inversion (the one AHI and the one
//! fourth-order Laplacian of the crate, `[-1, 16, -30, 16, -1] / 12h²` along every axis with
//! more than 4 voxels), returning the complex modulus, so a plane wave at 6 voxels per
//! wavelength is inverted to about 0.1 %. Voxels whose stencil leaves the mask give NaN.

use ndarray::{Array3, Axis};
use num_complex::Complex64;

/// Complex modulus map G* (Pa) from one complex displacement component `u`
/// (m, `[nz, ny, nx]`), voxel size `[dz, dy, dx]` (m), angular frequency ω
/// (rad/s) and density ρ (kg/m³). NaN where the stencil leaves `mask` or the Laplacian
/// vanishes. Unlike [`crate::classic::ahi`] the input is not checked.
///
/// # Panics
/// When `mask` and `u` differ in shape.
pub fn algebraic_helmholtz(
    u: &Array3<Complex64>,
    mask: &Array3<bool>,
    voxel_size_m: [f64; 3],
    omega: f64,
    density: f64,
) -> Array3<Complex64> {
    assert_eq!(u.shape(), mask.shape(), "wave and mask differ in shape");
    crate::classic::ahi_modulus(u.view().insert_axis(Axis(0)), mask, voxel_size_m, omega, density)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::motion::{Displacement, PlaneShearWave};
    use crate::model::phantom::Grid;

    #[test]
    fn plane_wave_is_inverted() {
        let grid = Grid::new([1, 48, 48], [2e-3; 3]).unwrap();
        let w = PlaneShearWave::new(60.0, 3000.0, 450.0, 1000.0, 1e-5, [0.0, 0.6, 0.8], [1.0, 0.0, 0.0]).unwrap();
        let u = Array3::from_shape_fn((1, 48, 48), |(z, y, x)| w.amplitude(grid.centre([z, y, x]))[0]);
        let mask = Array3::from_elem((1, 48, 48), true);
        let g = algebraic_helmholtz(&u, &mask, grid.voxel_size_m, 2.0 * std::f64::consts::PI * 60.0, 1000.0);
        let c = g[[0, 24, 24]];
        assert!((c.re / 3000.0 - 1.0).abs() < 2e-3, "{c}");
        assert!((c.im / 450.0 - 1.0).abs() < 2e-2, "{c}");
        assert!(g[[0, 1, 24]].re.is_nan());
    }
}
