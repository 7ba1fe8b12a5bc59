//! Algebraic Helmholtz inversion (AHI): `G* = −ρ ω² U / ∇²U` voxel by voxel.
//!
//! The Laplacian is the fourth-order central difference (`[-1, 16, -30, 16, -1] / 12h²`)
//! along every axis with more than 4 voxels, so a plane wave at 6 voxels per
//! wavelength is inverted to about 0.1 %. Voxels whose stencil leaves the mask
//! give NaN.

use ndarray::Array3;
use num_complex::Complex64;

/// Complex modulus map G* (Pa) from one complex displacement component `u`
/// (m, `[nz, ny, nx]`), voxel size `[dz, dy, dx]` (m), angular frequency ω
/// (rad/s) and density ρ (kg/m³).
pub fn algebraic_helmholtz(
    u: &Array3<Complex64>,
    mask: &Array3<bool>,
    voxel_size_m: [f64; 3],
    omega: f64,
    density: f64,
) -> Array3<Complex64> {
    let sh = u.shape().to_vec();
    let nan = Complex64::new(f64::NAN, f64::NAN);
    let mut out = Array3::from_elem((sh[0], sh[1], sh[2]), nan);
    let axes: Vec<usize> = (0..3).filter(|&a| sh[a] > 4).collect();
    for i in 0..sh[0] {
        for j in 0..sh[1] {
            'vox: for k in 0..sh[2] {
                let idx = [i, j, k];
                if !mask[idx] {
                    continue;
                }
                let mut lap = Complex64::new(0.0, 0.0);
                for &a in &axes {
                    if idx[a] < 2 || idx[a] + 2 >= sh[a] {
                        continue 'vox;
                    }
                    let mut acc = Complex64::new(0.0, 0.0);
                    for (off, w) in [(-2i64, -1.0), (-1, 16.0), (0, -30.0), (1, 16.0), (2, -1.0)] {
                        let mut n = idx;
                        n[a] = (idx[a] as i64 + off) as usize;
                        if !mask[n] {
                            continue 'vox;
                        }
                        acc += u[n] * w;
                    }
                    lap += acc / (12.0 * voxel_size_m[a] * voxel_size_m[a]);
                }
                if lap.norm() > 0.0 {
                    out[idx] = -density * omega * omega * u[idx] / lap;
                }
            }
        }
    }
    out
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
