//! The curl of `mre_solver::classic` against closed forms: plane compression (P) and shear (S)
//! waves in a homogeneous viscoelastic medium, in 3-D and on a single slice (in-plane P–SV,
//! with and without an SH component). The discrete curl keeps only the S part (compared with
//! the analytic curl, second-order convergence), and AHI/MDEV on it give the shear modulus,
//! while on the raw components the compression waves spoil them.

use std::f64::consts::PI;

use mre_solver::classic::{ahi, curl, mdev};
use mre_solver::units::Axis;
use ndarray::{Array3, Array4, ArrayView4};
use num_complex::Complex64;

const RHO: f64 = 1000.0;
const G: Complex64 = Complex64::new(3000.0, 300.0);
/// P-wave modulus λ + 2G for Poisson ratio 0.3: G (2 − 2ν)/(1 − 2ν) = 3.5 G.
const P_OVER_G: f64 = 3.5;
const F_HZ: f64 = 60.0;

fn omega() -> f64 {
    2.0 * PI * F_HZ
}

fn wavenumber(modulus: Complex64) -> Complex64 {
    omega() * (RHO / modulus).sqrt()
}

/// A plane wave `a · e^{−i k d·x}`: unit direction `d` and polarisation `a`, both `(x, y, z)`.
struct Plane {
    k: Complex64,
    d: [f64; 3],
    a: [Complex64; 3],
}

impl Plane {
    fn phase(&self, x: [f64; 3]) -> Complex64 {
        (-Complex64::i() * self.k * (self.d[0] * x[0] + self.d[1] * x[1] + self.d[2] * x[2])).exp()
    }
    /// Displacement `(x, y, z)` at `x`.
    fn u(&self, x: [f64; 3]) -> [Complex64; 3] {
        let p = self.phase(x);
        self.a.map(|a| a * p)
    }
    /// Analytic curl `−i k d × a · e^{−i k d·x}`, `(x, y, z)`.
    fn curl(&self, x: [f64; 3]) -> [Complex64; 3] {
        let (d, a) = (self.d, self.a);
        let cross = [d[1] * a[2] - d[2] * a[1], d[2] * a[0] - d[0] * a[2], d[0] * a[1] - d[1] * a[0]];
        let f = -Complex64::i() * self.k * self.phase(x);
        cross.map(|c| c * f)
    }
}

fn unit(v: [f64; 3]) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    v.map(|c| c / n)
}

/// A P wave along `dp` (amplitude 3) plus an S wave along `ds` polarised along `es` (⊥ `ds`).
fn waves(dp: [f64; 3], ds: [f64; 3], es: [f64; 3]) -> Vec<Plane> {
    let (dp, ds, es) = (unit(dp), unit(ds), unit(es));
    assert!((ds[0] * es[0] + ds[1] * es[1] + ds[2] * es[2]).abs() < 1e-12);
    vec![
        Plane { k: wavenumber(G * P_OVER_G), d: dp, a: dp.map(|c| Complex64::new(3.0 * c, 0.0)) },
        Plane { k: wavenumber(G), d: ds, a: es.map(|c| Complex64::new(c, 0.5 * c)) },
    ]
}

/// Voxel centre `(x, y, z)` of `[z, y, x]`, m.
fn position(idx: [usize; 3], h: f64) -> [f64; 3] {
    [idx[2] as f64 * h, idx[1] as f64 * h, idx[0] as f64 * h]
}

/// The displacement components `comps` (axes) of the superposition on a `[nz, ny, nx]` grid.
fn sample(planes: &[Plane], comps: &[Axis], shape: [usize; 3], h: f64) -> Array4<Complex64> {
    Array4::from_shape_fn((comps.len(), shape[0], shape[1], shape[2]), |(c, z, y, x)| {
        let p = position([z, y, x], h);
        let i = xyz(comps[c]);
        planes.iter().map(|w| w.u(p)[i]).sum()
    })
}

/// Index of an axis in an `(x, y, z)` vector.
fn xyz(a: Axis) -> usize {
    match a {
        Axis::X => 0,
        Axis::Y => 1,
        Axis::Z => 2,
    }
}

/// The largest difference between the discrete curl and the analytic curl of the S wave, over
/// the voxels where it is defined, relative to the S curl's amplitude `|k_s|`; on a grid of `n`
/// voxels per in-plane side (and along z unless `slice`), voxel `h`.
fn curl_error(planes: &[Plane], comps: &[Axis], n: usize, slice: bool, h: f64) -> f64 {
    let shape = [if slice { 1 } else { n }, n, n];
    let w = sample(planes, comps, shape, h);
    let mask = Array3::from_elem((shape[0], n, n), true);
    let c = curl(w.view(), comps, &mask, [h; 3]).unwrap();
    let s = &planes[1];
    let mut worst: f64 = 0.0;
    for ((z, y, x), &ok) in c.mask.indexed_iter() {
        if ok {
            let exact = s.curl(position([z, y, x], h));
            for (m, &a) in c.axes.iter().enumerate() {
                worst = worst.max((c.field[[m, z, y, x]] - exact[xyz(a)]).norm());
            }
        }
    }
    worst / s.k.norm()
}

/// Median G' (Pa) of AHI and of MDEV (one frequency) on `w` over `mask`.
fn medians(w: ArrayView4<Complex64>, mask: &Array3<bool>, h: f64) -> (f64, f64) {
    let median = |m: &Array3<f64>| {
        let mut v: Vec<f64> = m.iter().copied().filter(|g| g.is_finite()).collect();
        assert!(!v.is_empty());
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let a = ahi(w, mask, [h; 3], omega(), RHO).unwrap();
    let m = mdev(&[(omega(), w)], mask, [h; 3], RHO).unwrap();
    (median(&a.storage_modulus_pa), median(&m.storage_modulus_pa))
}

/// Convergence of the curl, then AHI and MDEV on the curl and on the raw components.
fn check(name: &str, planes: &[Plane], comps: &[Axis], slice: bool, n: usize) {
    let lambda_s = 2.0 * PI / wavenumber(G).re;
    // Coarse grid: 8 voxels per shear wavelength; then 16.
    let h = lambda_s / 8.0;
    let (e1, e2) = (curl_error(planes, comps, n, slice, h), curl_error(planes, comps, 2 * n, slice, h / 2.0));
    let order = (e1 / e2).log2();
    println!("{name}: curl error {e1:.2e} → {e2:.2e} (order {order:.2})");
    assert!(e2 < 0.05 && (order - 2.0).abs() < 0.25, "{name}: curl errors {e1:.3e}, {e2:.3e}, order {order:.2}");
    // The inversions at 16 voxels per shear wavelength.
    let (h, n) = (h / 2.0, 2 * n);
    let shape = [if slice { 1 } else { n }, n, n];
    let w = sample(planes, comps, shape, h);
    let mask = Array3::from_elem((shape[0], n, n), true);
    let c = curl(w.view(), comps, &mask, [h; 3]).unwrap();
    let (ahi_curl, mdev_curl) = medians(c.field.view(), &c.mask, h);
    let (ahi_raw, mdev_raw) = medians(w.view(), &mask, h);
    let err = |g: f64| g / G.re - 1.0;
    println!(
        "{name}: G' AHI curl {:+.2} %, MDEV curl {:+.2} %; raw components: AHI {:+.1} %, MDEV {:+.1} %",
        100.0 * err(ahi_curl),
        100.0 * err(mdev_curl),
        100.0 * err(ahi_raw),
        100.0 * err(mdev_raw)
    );
    assert!(err(ahi_curl).abs() < 0.03 && err(mdev_curl).abs() < 0.03, "{name}: {ahi_curl} {mdev_curl}");
    assert!(err(ahi_raw).abs() > 0.2 && err(mdev_raw).abs() > 0.2, "{name}: the raw components should be spoiled: {ahi_raw} {mdev_raw}");
}

#[test]
fn the_3d_curl_keeps_only_the_shear_wave() {
    let planes = waves([0.3, 0.5, 0.81], [0.7, -0.2, 0.4], [0.2, 0.3, -0.2]);
    check("3-D P + S", &planes, &[Axis::X, Axis::Y, Axis::Z], false, 16);
}

#[test]
fn the_in_plane_curl_of_a_slice_keeps_only_the_shear_wave() {
    // P and SV in the plane (no z dependence, no z displacement): the curl is ∂x uy − ∂y ux.
    let planes = waves([0.8, 0.6, 0.0], [-0.3, 0.9, 0.0], [0.9, 0.3, 0.0]);
    check("slice, x y: P + SV", &planes, &[Axis::X, Axis::Y], true, 24);
    // With an SH part too, three components on the slice: the in-plane curl.
    let planes = waves([0.8, 0.6, 0.0], [-0.3, 0.9, 0.0], [0.9, 0.3, 0.7]);
    check("slice, x y z: P + SV + SH", &planes, &[Axis::X, Axis::Y, Axis::Z], true, 24);
}
