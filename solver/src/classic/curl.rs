//! The curl of a measured displacement field, restricted to a mask: it removes the compression
//! (P) waves before a direct inversion, as MDEV practice does.
//!
//! In a homogeneous region the Navier equation splits into `u = ∇φ + ∇×ψ`, and
//! `∇×u = ∇×∇×ψ` obeys the shear Helmholtz equation `G* ∇²(∇×u) + ρω²(∇×u) = 0`: AHI and MDEV
//! on the curl see only shear waves, whatever the Poisson ratio.
//!
//! Derivatives are second-order central differences `(u_{i+1} − u_{i−1}) / 2h` along every axis
//! with at least [`MIN_DIFF_VOXELS`] voxels (the axes the Laplacian of the inversions
//! differentiates); along a shorter axis (a single slice, a thin slab) the field is taken as
//! constant (`∂ = 0`), as single-slice MDEV does. So on a slice with the three components the
//! "curl" is the in-plane one `(∂_y u_z, −∂_x u_z, ∂_x u_y − ∂_y u_x)`, exact for waves that do
//! not vary across the slice and otherwise an approximation; with the two in-plane components
//! only its out-of-plane component `∂_x u_y − ∂_y u_x` exists.

use ndarray::{Array3, Array4, ArrayView4, Axis as NdAxis};
use num_complex::Complex64;

use super::check_voxel_size;
use crate::error::{Result, SolverError};
use crate::units::Axis;

/// Axes with fewer voxels than this are not differentiated (the Laplacian's 5-point stencil).
pub const MIN_DIFF_VOXELS: usize = 5;

/// The curl of a displacement field and where it is defined.
#[derive(Debug, Clone)]
pub struct Curl {
    /// Curl components `[ncurl, nz, ny, nx]` (the unit of the displacement per metre, so
    /// dimensionless for displacements in m); zero outside [`Curl::mask`].
    pub field: Array4<Complex64>,
    /// The axis of each curl component (`field`'s first index), in the order x, y, z.
    pub axes: Vec<Axis>,
    /// Voxels where the curl is defined: the voxels of the input mask whose neighbours along every
    /// differentiated axis are in the mask too (the mask eroded by one voxel along those axes).
    pub mask: Array3<bool>,
}

/// The curl components `(j, k)` pairs: component `i` is `∂_j u_k − ∂_k u_j`, for i = x, y, z.
const CYCLIC: [(Axis, Axis, Axis); 3] = [(Axis::X, Axis::Y, Axis::Z), (Axis::Y, Axis::Z, Axis::X), (Axis::Z, Axis::X, Axis::Y)];

/// Which curl components can be formed from displacement `components` on a grid of `shape`
/// (`[nz, ny, nx]`): component `i = ∂_j u_k − ∂_k u_j` needs `u_k` unless axis j is not
/// differentiated, and `u_j` unless axis k is not, and at least one differentiated term.
///
/// # Errors
/// A description of why no curl can be formed: fewer than two components, or a component that
/// enters no curl component (e.g. `"xz"` on a single slice, where only `∂_y u_z` and `∂_x u_z`
/// exist and `u_x` would be ignored). The message names the components and the grid.
pub fn curl_axes(components: &[Axis], shape: [usize; 3]) -> std::result::Result<Vec<Axis>, String> {
    let names: String = components.iter().map(|a| a.name()).collect();
    let diff = |a: Axis| shape[a.index()] >= MIN_DIFF_VOXELS;
    let has = |a: Axis| components.contains(&a);
    let grid = format!("a grid of {shape:?} voxels ([nz, ny, nx]; an axis with fewer than {MIN_DIFF_VOXELS} voxels has no derivative)");
    if components.len() < 2 {
        return Err(format!("the curl needs at least two displacement components; the data have {} (\"{names}\")", components.len()));
    }
    let mut axes = Vec::new();
    let mut used = Vec::new();
    for (i, j, k) in CYCLIC {
        // ∂_j u_k and ∂_k u_j: each term is present, absent (axis not differentiated) or missing.
        let term = |d: Axis, c: Axis| {
            if !diff(d) {
                Some(None)
            } else if has(c) {
                Some(Some(c))
            } else {
                None
            }
        };
        if let (Some(a), Some(b)) = (term(j, k), term(k, j)) {
            if a.is_some() || b.is_some() {
                axes.push(i);
                used.extend(a.into_iter().chain(b));
            }
        }
    }
    if let Some(unused) = components.iter().find(|c| !used.contains(c)) {
        return Err(format!(
            "the displacement components \"{names}\" on {grid} give no curl that uses component {}: \
             expected both in-plane components x and y on a single slice, or two or three components on a 3-D grid",
            unused.name()
        ));
    }
    Ok(axes)
}

/// The curl of `waves` (`[ncomp, nz, ny, nx]`, component `c` along `components[c]`, any unit,
/// typically m) inside `mask`, voxel size `[dz, dy, dx]` (m). See the module documentation for
/// the stencil and [`curl_axes`] for which components are formed.
///
/// # Errors
/// Shapes that do not match, a component list of the wrong length or with repeated axes,
/// components from which no curl can be formed ([`curl_axes`], as
/// [`SolverError::InvalidParameter`] naming the components), non-positive voxel sizes, NaN
/// inside the mask, or no voxel where the stencil lies inside the mask.
pub fn curl(waves: ArrayView4<Complex64>, components: &[Axis], mask: &Array3<bool>, voxel_size_m: [f64; 3]) -> Result<Curl> {
    check_voxel_size(voxel_size_m)?;
    let sh = waves.shape();
    if sh[1..] != *mask.shape() {
        return Err(SolverError::Shape(format!("waves grid {:?} differs from the mask {:?}", &sh[1..], mask.shape())));
    }
    if sh[0] != components.len() || components.iter().enumerate().any(|(i, c)| components[..i].contains(c)) {
        return Err(SolverError::invalid(
            "components",
            format!("{components:?}"),
            format!("{} distinct axes, one per component of the waves", sh[0]),
        ));
    }
    let shape = [sh[1], sh[2], sh[3]];
    let axes = curl_axes(components, shape).map_err(|why| {
        SolverError::invalid(
            "components",
            components.iter().map(|a| a.name()).collect::<String>(),
            format!("components with a curl: {why}"),
        )
    })?;
    for (c, comp) in waves.axis_iter(NdAxis(0)).enumerate() {
        if let Some(bad) = comp.iter().zip(mask).find(|(v, &m)| m && !(v.re.is_finite() && v.im.is_finite())).map(|(v, _)| v) {
            return Err(SolverError::invalid(
                format!("waves[component {}]", components[c].name()),
                bad,
                "finite complex values in the mask",
            ));
        }
    }
    let diff: Vec<usize> = (0..3).filter(|&a| shape[a] >= MIN_DIFF_VOXELS).collect();
    let valid = Array3::from_shape_fn(mask.raw_dim(), |(z, y, x)| {
        let idx = [z, y, x];
        mask[idx]
            && diff.iter().all(|&a| {
                let (mut lo, mut hi) = (idx, idx);
                if idx[a] == 0 || idx[a] + 1 >= shape[a] {
                    return false;
                }
                lo[a] -= 1;
                hi[a] += 1;
                mask[lo] && mask[hi]
            })
    });
    if !valid.iter().any(|&v| v) {
        return Err(SolverError::invalid(
            "mask",
            format!("{} voxels", mask.iter().filter(|&&m| m).count()),
            "voxels whose neighbours along every differentiated axis are in the mask too (for the curl)",
        ));
    }
    let comp = |a: Axis| components.iter().position(|&c| c == a);
    // ∂_d u_c at idx (zero when d is not differentiated or u_c is absent: curl_axes has checked
    // that an absent component only ever meets an undifferentiated axis).
    let deriv = |d: Axis, c: Axis, idx: [usize; 3]| -> Complex64 {
        let a = d.index();
        match comp(c) {
            Some(ci) if shape[a] >= MIN_DIFF_VOXELS => {
                let (mut lo, mut hi) = (idx, idx);
                lo[a] -= 1;
                hi[a] += 1;
                (waves[[ci, hi[0], hi[1], hi[2]]] - waves[[ci, lo[0], lo[1], lo[2]]]) / (2.0 * voxel_size_m[a])
            }
            _ => Complex64::new(0.0, 0.0),
        }
    };
    let mut field = Array4::zeros((axes.len(), shape[0], shape[1], shape[2]));
    for (n, &i) in axes.iter().enumerate() {
        let (_, j, k) = CYCLIC.iter().copied().find(|t| t.0 == i).expect("a curl axis");
        for ((z, y, x), &ok) in valid.indexed_iter() {
            if ok {
                let idx = [z, y, x];
                field[[n, z, y, x]] = deriv(j, k, idx) - deriv(k, j, idx);
            }
        }
    }
    Ok(Curl { field, axes, mask: valid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curl_components_follow_the_grid_and_the_components() {
        let (slice, vol) = ([1, 32, 32], [16, 32, 32]);
        let xyz = [Axis::X, Axis::Y, Axis::Z];
        assert_eq!(curl_axes(&xyz, vol).unwrap(), xyz);
        assert_eq!(curl_axes(&xyz, slice).unwrap(), xyz);
        assert_eq!(curl_axes(&[Axis::X, Axis::Y], slice).unwrap(), [Axis::Z]);
        assert_eq!(curl_axes(&[Axis::Y, Axis::X], vol).unwrap(), [Axis::Z]);
        assert_eq!(curl_axes(&[Axis::X, Axis::Z], vol).unwrap(), [Axis::Y]);
        // A thin slab is a slice for the derivatives.
        assert_eq!(curl_axes(&[Axis::X, Axis::Y], [4, 32, 32]).unwrap(), [Axis::Z]);
        let e = curl_axes(&[Axis::Z], slice).unwrap_err();
        assert!(e.contains("at least two") && e.contains("have 1"), "{e}");
        let e = curl_axes(&[Axis::X, Axis::Z], slice).unwrap_err();
        assert!(e.contains("\"xz\"") && e.contains("uses component x"), "{e}");
    }

    #[test]
    fn the_curl_is_defined_one_voxel_inside_the_mask_and_refuses_bad_input() {
        let (nz, ny, nx) = (1, 12, 10);
        let mask = Array3::from_shape_fn((nz, ny, nx), |(_, y, x)| (2..10).contains(&y) && (1..9).contains(&x));
        // u = (x·y, 0): curl_z = ∂x uy − ∂y ux = −x (exact for central differences).
        let h = 1e-3;
        let w =
            Array4::from_shape_fn((2, nz, ny, nx), |(c, _, y, x)| Complex64::new(if c == 0 { (x * y) as f64 * h * h } else { 0.0 }, 0.0));
        let c = curl(w.view(), &[Axis::X, Axis::Y], &mask, [h; 3]).unwrap();
        assert_eq!(c.axes, [Axis::Z]);
        for ((_, y, x), &ok) in c.mask.indexed_iter() {
            assert_eq!(ok, (3..9).contains(&y) && (2..8).contains(&x), "({y}, {x})");
            let want = if ok { -(x as f64) * h } else { 0.0 };
            assert!((c.field[[0, 0, y, x]].re - want).abs() < 1e-15, "({y}, {x})");
        }
        let mut bad = w.clone();
        bad[[1, 0, 5, 5]] = Complex64::new(f64::NAN, 0.0);
        assert!(curl(bad.view(), &[Axis::X, Axis::Y], &mask, [h; 3]).is_err());
        // NaN outside the mask is not read.
        bad[[1, 0, 5, 5]] = Complex64::new(0.0, 0.0);
        bad[[1, 0, 0, 0]] = Complex64::new(f64::NAN, 0.0);
        assert!(curl(bad.view(), &[Axis::X, Axis::Y], &mask, [h; 3]).is_ok());
        assert!(curl(w.view(), &[Axis::X], &mask, [h; 3]).is_err());
        assert!(curl(w.view(), &[Axis::X, Axis::X], &mask, [h; 3]).is_err());
        let thin = Array3::from_shape_fn((nz, ny, nx), |(_, y, _)| y == 4);
        assert!(curl(w.view(), &[Axis::X, Axis::Y], &thin, [h; 3]).is_err());
    }
}
