//! Perfectly matched layer: complex coordinate stretching factors per axis.

use num_complex::Complex64;

use super::{Boundary, FaceCondition};

/// Exponent `p` of the polynomial PML profile `α(d) = α_max (d/L)^p`.
pub const PML_PROFILE_ORDER: i32 = 2;

/// The PML strength `α_max` (dimensionless) whose theoretical round-trip
/// normal-incidence reflection is `target_reflection` for a layer
/// `thickness_wavelengths` wavelengths thick (`L/λ`, with `λ = 2π/Re k` of the
/// medium in the layer): `α_max = (p + 1) ln(1/R) / (4π L/λ)`.
///
/// The discrete layer reflects more than this when the stretching varies
/// too fast per voxel; keep `α_max` in the range 2–8 and rather thicken the
/// layer for lower reflections.
pub fn pml_strength_for(target_reflection: f64, thickness_wavelengths: f64) -> f64 {
    f64::from(PML_PROFILE_ORDER + 1) * (1.0 / target_reflection).ln() / (4.0 * std::f64::consts::PI * thickness_wavelengths)
}

/// Stretch factor `s = 1 − i α_max (d/L)^p` at relative depth `depth = d/L ∈ [0, 1]`.
fn stretch(depth: f64, strength: f64) -> Complex64 {
    Complex64::new(1.0, -strength * depth.powi(PML_PROFILE_ORDER))
}

/// Stretch factors of the three axes at voxel centres and at voxel faces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stretch {
    /// `centre[a][i]`: `s_a` at the centre of voxel `i` along axis `a` (`n_a` entries).
    pub centre: [Vec<Complex64>; 3],
    /// `face[a][f]`: `s_a` at face `f` along axis `a`, between voxels `f − 1` and `f` (`n_a + 1` entries).
    pub face: [Vec<Complex64>; 3],
}

impl Stretch {
    /// Stretch factors for a grid of `shape` voxels: 1 outside the layers and along axes with one voxel.
    pub fn new(shape: [usize; 3], b: &Boundary) -> Self {
        let profile = |a: usize, x: f64| -> Complex64 {
            let (n, l) = (shape[a] as f64, b.pml_voxels as f64);
            if shape[a] == 1 || b.pml_voxels == 0 {
                return Complex64::new(1.0, 0.0);
            }
            // Depth into the layer in voxel units, 0 outside the layer; the layers
            // of the two faces never overlap (2 L ≤ n is validated).
            let mut depth = 0.0;
            if b.faces[a][0] == FaceCondition::Absorbing {
                depth += (l - x).max(0.0);
            }
            if b.faces[a][1] == FaceCondition::Absorbing {
                depth += (x - (n - l)).max(0.0);
            }
            stretch((depth / l).min(1.0), b.pml_strength)
        };
        let centre = [0, 1, 2].map(|a| (0..shape[a]).map(|i| profile(a, i as f64 + 0.5)).collect());
        let face = [0, 1, 2].map(|a| (0..=shape[a]).map(|f| profile(a, f as f64)).collect());
        Self { centre, face }
    }

    /// Stretch of the voxel volume `S = s_z s_y s_x` at the centre of voxel `idx`.
    pub fn volume(&self, idx: [usize; 3]) -> Complex64 {
        self.centre[0][idx[0]] * self.centre[1][idx[1]] * self.centre[2][idx[2]]
    }

    /// Product of the centre stretches of the two axes other than `a` at voxel `idx`.
    pub fn transverse(&self, a: usize, idx: [usize; 3]) -> Complex64 {
        let mut p = Complex64::new(1.0, 0.0);
        for b in (0..3).filter(|&b| b != a) {
            p *= self.centre[b][idx[b]];
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_is_one_outside_and_peaks_at_the_face() {
        let b = Boundary::absorbing(4).with_face(2, 1, FaceCondition::Free);
        let s = Stretch::new([1, 10, 10], &b);
        assert!(s.centre[0].iter().chain(&s.face[0]).all(|&v| v == Complex64::new(1.0, 0.0)));
        assert_eq!(s.face[1][0], Complex64::new(1.0, -b.pml_strength));
        assert_eq!(s.face[1][10], Complex64::new(1.0, -b.pml_strength));
        assert_eq!(s.face[1][4], Complex64::new(1.0, 0.0));
        assert_eq!(s.face[2][10], Complex64::new(1.0, 0.0));
        assert!(s.centre[1][0].im < s.centre[1][1].im && s.centre[1][3].im < 0.0 && s.centre[1][4].im == 0.0);
    }
}
