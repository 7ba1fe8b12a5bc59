//! Spatial phase unwrapping: by masked (weighted) least squares ([`unwrap_least_squares`]) and
//! Laplacian-based on the whole grid ([`laplacian_unwrap`]); both share the DCT Poisson solver.
//!
//! Least squares: Ghiglia & Romero: find ψ minimising `Σ_edges w_ij (ψ_i − ψ_j − W(φ_i − φ_j))²`
//! over the grid edges inside the mask (W wraps to (−π, π]), solved by
//! preconditioned conjugate gradients with the unweighted Neumann Laplacian
//! (diagonalised by the DCT-II, rustdct) as preconditioner. The result is then
//! snapped to the nearest `φ + 2πn` voxel by voxel, so wherever neighbouring
//! true phase differences stay below π the unwrapped phase is exact up to one
//! global 2π multiple, which is chosen to bring the masked mean into (−π, π].

use ndarray::{Array3, Axis, Zip};
use rustdct::DctPlanner;

use std::f64::consts::PI;

/// Wrap an angle to (−π, π].
pub fn wrap(x: f64) -> f64 {
    let y = (x + PI).rem_euclid(2.0 * PI) - PI;
    if y == -PI {
        PI
    } else {
        y
    }
}

/// Fast Neumann Poisson solver on the full grid (DCT-II / DCT-III, rustdct).
pub(crate) struct Dct3d {
    shape: [usize; 3],
    eig: Array3<f64>,
}

impl Dct3d {
    pub(crate) fn new(shape: [usize; 3]) -> Self {
        let e = |n: usize, k: usize| 2.0 - 2.0 * (PI * k as f64 / n as f64).cos();
        let eig = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(a, b, c)| e(shape[0], a) + e(shape[1], b) + e(shape[2], c));
        Self { shape, eig }
    }

    /// Solve `L x = r` for the Neumann graph Laplacian (zero-mean solution).
    pub(crate) fn solve(&self, r: &Array3<f64>) -> Array3<f64> {
        let mut x = r.clone();
        let mut planner = DctPlanner::new();
        for ax in 0..3 {
            let n = self.shape[ax];
            if n == 1 {
                continue;
            }
            let d = planner.plan_dct2(n);
            let mut buf = vec![0.0; n];
            for mut lane in x.lanes_mut(Axis(ax)) {
                buf.iter_mut().zip(lane.iter()).for_each(|(b, v)| *b = *v);
                d.process_dct2(&mut buf);
                lane.iter_mut().zip(&buf).for_each(|(v, b)| *v = *b);
            }
        }
        Zip::from(&mut x).and(&self.eig).for_each(|v, &e| *v = if e > 1e-300 { *v / e } else { 0.0 });
        for ax in 0..3 {
            let n = self.shape[ax];
            if n == 1 {
                continue;
            }
            let d = planner.plan_dct3(n);
            let mut buf = vec![0.0; n];
            let s = 2.0 / n as f64;
            for mut lane in x.lanes_mut(Axis(ax)) {
                buf.iter_mut().zip(lane.iter()).for_each(|(b, v)| *b = *v);
                d.process_dct3(&mut buf);
                lane.iter_mut().zip(&buf).for_each(|(v, b)| *v = *b * s);
            }
        }
        x
    }
}

/// Apply the masked graph Laplacian `(Aψ)_i = Σ_j w_ij (ψ_i − ψ_j)`; with
/// `wrapped` it returns the right-hand side `Σ_j w_ij W(ψ_i − ψ_j)` instead.
/// An edge has weight 1 when both of its voxels are in the mask.
pub(crate) fn masked_laplacian(x: &Array3<f64>, mask: &Array3<bool>, wrapped: bool) -> Array3<f64> {
    let sh = x.shape();
    let (nz, ny, nx) = (sh[0], sh[1], sh[2]);
    let xs = x.as_slice().expect("standard layout");
    let ms = mask.as_slice().expect("standard layout");
    let mut out = vec![0.0; xs.len()];
    // (stride, length along the axis) for z, y, x
    for (stride, n) in [(ny * nx, nz), (nx, ny), (1, nx)] {
        if n < 2 {
            continue;
        }
        for i in 0..xs.len() {
            // skip the last voxel along this axis
            if (i / stride) % n == n - 1 || !ms[i] || !ms[i + stride] {
                continue;
            }
            let d = xs[i] - xs[i + stride];
            let d = if wrapped { wrap(d) } else { d };
            out[i] += d;
            out[i + stride] -= d;
        }
    }
    Array3::from_shape_vec((nz, ny, nx), out).expect("shape")
}

/// True when no edge inside the mask has a phase jump of π or more, i.e. the
/// phase is already its own unwrapped version.
fn is_unwrapped(phase: &Array3<f64>, mask: &Array3<bool>) -> bool {
    let sh = phase.shape();
    let (nz, ny, nx) = (sh[0], sh[1], sh[2]);
    let xs = phase.as_slice().expect("standard layout");
    let ms = mask.as_slice().expect("standard layout");
    [(ny * nx, nz), (nx, ny), (1, nx)].iter().all(|&(stride, n)| {
        n < 2 || (0..xs.len()).all(|i| (i / stride) % n == n - 1 || !ms[i] || !ms[i + stride] || (xs[i] - xs[i + stride]).abs() < PI)
    })
}

fn dot(a: &Array3<f64>, b: &Array3<f64>) -> f64 {
    Zip::from(a).and(b).fold(0.0, |s, x, y| s + x * y)
}

/// Unwrap `phase` (rad, wrapped) inside `mask`; voxels outside keep their value.
pub fn unwrap_least_squares(phase: &Array3<f64>, mask: &Array3<bool>) -> Array3<f64> {
    let phase = &phase.as_standard_layout().into_owned();
    let mask = &mask.as_standard_layout().into_owned();
    if is_unwrapped(phase, mask) {
        return phase.clone();
    }
    let sh = phase.shape();
    let dct = Dct3d::new([sh[0], sh[1], sh[2]]);
    let b = masked_laplacian(phase, mask, true);
    let bnorm = dot(&b, &b).sqrt();
    let mut x = Array3::<f64>::zeros(phase.raw_dim());
    let mut iterations = 0;
    if bnorm > 0.0 {
        // PCG on A x = b
        let mut r = b.clone();
        let mut z = dct.solve(&r);
        let mut p = z.clone();
        let mut rz = dot(&r, &z);
        for it in 0..1000 {
            iterations = it + 1;
            let ap = masked_laplacian(&p, mask, false);
            let pap = dot(&p, &ap);
            if pap <= 0.0 {
                break;
            }
            let alpha = rz / pap;
            x.scaled_add(alpha, &p);
            r.scaled_add(-alpha, &ap);
            if dot(&r, &r).sqrt() <= 1e-10 * bnorm {
                break;
            }
            z = dct.solve(&r);
            let rz_new = dot(&r, &z);
            let beta = rz_new / rz;
            rz = rz_new;
            p = &z + &(beta * &p);
        }
    }
    tracing::debug!(iterations, "least-squares unwrapping");
    // Remove the unknown constant: circular mean of φ − ψ over the mask.
    let (mut s, mut c) = (0.0, 0.0);
    Zip::from(phase).and(&x).and(mask).for_each(|&p, &q, &m| {
        if m {
            let d = p - q;
            s += d.sin();
            c += d.cos();
        }
    });
    let shift = s.atan2(c);
    let mut out = phase.clone();
    Zip::from(&mut out).and(&x).and(mask).for_each(|o, &q, &m| {
        if m {
            let target = q + shift;
            *o += 2.0 * PI * ((target - *o) / (2.0 * PI)).round();
        }
    });
    // Global 2π multiple: masked mean into (−π, π].
    let (sum, cnt) = Zip::from(&out).and(mask).fold((0.0, 0usize), |(s, n), &v, &m| if m { (s + v, n + 1) } else { (s, n) });
    if cnt > 0 {
        let n = (sum / cnt as f64 / (2.0 * PI)).round();
        if n != 0.0 {
            Zip::from(&mut out).and(mask).for_each(|o, &m| {
                if m {
                    *o -= 2.0 * PI * n;
                }
            });
        }
    }
    out
}

/// Laplacian phase unwrapping (Schofield & Zhu 2003) of a wrapped phase `phase` (rad,
/// `[nz, ny, nx]`, 2-D or 3-D).
///
/// The Laplacian of the true phase is computed from the wrapped one as
/// `∇²φ = Im(e^{−iφ} ∇² e^{iφ})`, in its exact discrete form: the 7-point (5-point in 2-D)
/// Laplacian with every neighbour difference taken as `arg(e^{−iφ_i} e^{iφ_j}) = W(φ_j − φ_i)`
/// (the `Im(…)` expression is its small-difference limit `sin(φ_j − φ_i)`). The Poisson equation
/// is then solved with Neumann boundaries by the DCT (rustdct), which gives the true phase up to
/// a constant wherever neighbouring true differences stay below π. Finally every voxel is snapped
/// to the nearest `φ + 2πn` (after the best constant shift), and the global `2π` multiple is
/// chosen to bring the mean into (−π, π]: the result is then exactly the true phase up to one
/// multiple of 2π. NaN in the input gives an unusable result (the caller checks).
pub fn laplacian_unwrap(phase: &Array3<f64>) -> Array3<f64> {
    let psi = laplacian_phase(phase);
    // Best constant shift: circular mean of φ − ψ.
    let (s, c) = Zip::from(phase).and(&psi).fold((0.0, 0.0), |(s, c), &p, &q| (s + (p - q).sin(), c + (p - q).cos()));
    let shift = s.atan2(c);
    let mut out = phase.as_standard_layout().into_owned();
    Zip::from(&mut out).and(&psi).for_each(|o, &q| *o += 2.0 * PI * ((q + shift - *o) / (2.0 * PI)).round());
    let n = out.len().max(1) as f64;
    let turns = (out.sum() / n / (2.0 * PI)).round();
    if turns != 0.0 {
        out.mapv_inplace(|v| v - 2.0 * PI * turns);
    }
    out
}

/// The Poisson step of [`laplacian_unwrap`] alone: the solution ψ (rad, zero mean) of
/// `∇²ψ = Im(e^{−iφ} ∇² e^{iφ})` with Neumann boundaries, before snapping to `φ + 2πn`.
/// Equal to the true phase up to a constant where neighbouring true differences stay below π;
/// a smooth, least-squares estimate elsewhere (noise, undersampled wraps).
pub fn laplacian_phase(phase: &Array3<f64>) -> Array3<f64> {
    let phase = phase.as_standard_layout().into_owned();
    let sh = phase.shape();
    let mask = Array3::from_elem(phase.raw_dim(), true);
    // Graph Laplacian L = −∇² (positive semi-definite), applied with wrapped differences.
    let rhs = masked_laplacian(&phase, &mask, true);
    Dct3d::new([sh[0], sh[1], sh[2]]).solve(&rhs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(shape: (usize, usize, usize), wraps: f64) {
        let (nz, ny, nx) = shape;
        let truth = Array3::from_shape_fn(shape, |(z, y, x)| {
            let (fz, fy, fx) = (z as f64 / nz as f64, y as f64 / ny as f64, x as f64 / nx as f64);
            wraps * PI * ((2.0 * fx - 1.0) * (fy + 0.3) + 0.5 * (3.0 * fy).sin() + 0.3 * (2.0 * fz).cos())
        });
        let mask = Array3::from_shape_fn(shape, |(_, y, x)| {
            let (dy, dx) = (y as f64 - ny as f64 / 2.0, x as f64 - nx as f64 / 2.0);
            dy * dy + dx * dx < (0.45 * nx as f64).powi(2)
        });
        let wrapped = truth.mapv(wrap);
        let un = unwrap_least_squares(&wrapped, &mask);
        // exact up to one constant multiple of 2π
        let mut offset = None;
        for ((&u, &t), &m) in un.iter().zip(&truth).zip(&mask) {
            if m {
                let d = u - t;
                let o = *offset.get_or_insert(d);
                assert!((d - o).abs() < 1e-9, "d = {d}, offset {o}");
                assert!((o / (2.0 * PI) - (o / (2.0 * PI)).round()).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn smooth_phase_is_returned_unchanged() {
        let p = Array3::from_shape_fn((1, 16, 16), |(_, y, x)| 0.1 * (x as f64 - y as f64));
        let m = Array3::from_elem((1, 16, 16), true);
        assert_eq!(unwrap_least_squares(&p, &m), p);
    }

    #[test]
    fn unwraps_20_wraps_in_2d_and_3d() {
        check((1, 96, 96), 20.0);
        check((12, 40, 40), 8.0);
    }
}
