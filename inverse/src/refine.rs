//! The discretisation error of the measured-boundary forward model, estimated on a finer grid:
//! the mean of an approximation-error model (Kaipio–Somersalo).
//!
//! The data are samples of a continuous field at the voxel centres; [`WaveForward`] predicts
//! them with finite volumes of the voxel size, whose dispersion error (fourth order in the
//! voxel size for the compact scheme) becomes larger than the posterior's width when the data
//! are very informative. [`discretisation_error`] solves the same problem — same boundary
//! values, same voxel-wise (staircase) moduli — on a grid `factor` times finer along every axis
//! with more than one voxel, and returns `ε = P u_fine − u` on the predicted voxels (`P`:
//! sampling at the coarse voxel centres, which are fine grid nodes). The likelihood of
//! `d − ε` with the coarse model is then that of the refined model near the moduli where `ε`
//! was taken (the enhanced error model's mean; `ε` changes slowly with the moduli). Where the
//! interfaces lie inside their voxels is a separate, geometric, uncertainty
//! ([`crate::interface`]); the fine grid keeps the staircase on purpose.
//!
//! The fine grid spans the coarse voxel centres: node `p` (in coarse voxel units) is in the
//! domain when every corner of its coarse cell is a mask voxel; the domain's outer nodes carry
//! Dirichlet values interpolated from the measured boundary voxels with 8-point Lagrange
//! polynomials along the boundary (4- or 2-point where the mask is too small), so the fine model
//! sees the same boundary data as the coarse one. On a plane wave (`inverse/tests/model_error.rs`)
//! the corrected prediction's error is 1/80 of the coarse one (fourth order, factor 3).

use ndarray::{Array3, Array5, Axis};
use num_complex::Complex64;
use rayon::prelude::*;

use mre_solver::wave::{SolveCost, WaveEquation};

use crate::data::Measurements;
use crate::error::{InverseError, Result};
use crate::forward::{ForwardModel, Moduli, WaveForward};
use crate::navier::NavierForward;

/// `ε[f][c] = P u_fine − u` on `coarse`'s predicted voxels (0 elsewhere) for `moduli`, with
/// `data` the measurements `coarse` was made from and `factor` the (odd) refinement.
pub fn discretisation_error(
    data: &Measurements,
    coarse: &WaveForward,
    moduli: &Moduli,
    factor: usize,
) -> Result<Vec<Vec<Array3<Complex64>>>> {
    check_factor(factor)?;
    let fine = Refined::new(data, factor)?;
    let fine_forward = WaveForward::new(&fine.data)?;
    fine.error(data, coarse, &fine_forward, moduli, WaveEquation::Scalar)
}

/// [`discretisation_error`] of the Navier model `coarse` (made from `data` with the component
/// letters `components`): the same problem on the `factor` times finer grid with
/// [`NavierForward`] (the same bulk modulus: `moduli`'s, else `coarse`'s), with boundary values
/// from the [`smoothed`] data. The MAC scheme is
/// second order, so a factor 3 leaves about 1/9 of the coarse error; with `richardson` the
/// problem is also solved `factor + 2` times finer and the two are extrapolated to zero voxel
/// size (`ε = (f₂² ε₂ − f₁² ε₁)/(f₂² − f₁²)`).
pub fn navier_discretisation_error(
    data: &Measurements,
    coarse: &NavierForward,
    components: &str,
    moduli: &Moduli,
    factor: usize,
    richardson: bool,
) -> Result<Vec<Vec<Array3<Complex64>>>> {
    check_factor(factor)?;
    let k = coarse.bulk_modulus_of(moduli);
    // The boundary values with their noise smoothed out: the coarse and fine grids respond
    // differently to voxel-to-voxel noise, which would otherwise enter the estimate.
    let smooth = smoothed(data);
    let solve = |factor: usize| -> Result<Vec<Vec<Array3<Complex64>>>> {
        let fine = Refined::new(&smooth, factor)?;
        let fine_forward = NavierForward::with_bulk_modulus(&fine.data, components, k)?.without_kept_factorisations();
        fine.error(data, coarse, &fine_forward, moduli, WaveEquation::Navier)
    };
    let first = solve(factor)?;
    if !richardson {
        return Ok(first);
    }
    let second = solve(factor + 2)?;
    let (a, b) = ((factor * factor) as f64, ((factor + 2) * (factor + 2)) as f64);
    // εᵢ = u_i − u with u_i = u_∞ + c/fᵢ²: u_∞ − u = (b ε₂ − a ε₁)/(b − a).
    Ok(first.iter().zip(&second).map(|(e1, e2)| e1.iter().zip(e2).map(|(e1, e2)| (e2 * b - e1 * a) / (b - a)).collect()).collect())
}

fn check_factor(factor: usize) -> Result<()> {
    if factor < 3 || factor % 2 == 0 {
        return Err(InverseError::invalid("refinement factor", factor, "an odd factor of at least 3 (coarse centres are then fine nodes)"));
    }
    Ok(())
}

/// How many of `n` solves of `equation` on a grid of `shape` run at once: one per thread, as
/// many as the memory budget ([`mre_solver::limits::budget`]) holds at the [`SolveCost`] of one
/// ([`SolveCost::measured_boundary`]: the solver the forward models pick), and at least one
/// (whether one fits is the caller's check). The solves are independent and each is
/// deterministic, so the number at once changes the time and the peak memory, never the result.
pub fn solves_at_once(equation: WaveEquation, shape: [usize; 3], n: usize) -> usize {
    let each = SolveCost::measured_boundary(equation, shape).grid_bytes(shape).max(1.0);
    let budget = mre_solver::limits::budget().map_or(0.0, |(b, _)| b as f64);
    let by_memory = (budget / each).floor() as usize;
    n.min(rayon::current_num_threads()).min(by_memory).max(1)
}

impl Refined {
    /// `P u_fine − u` on `coarse`'s predicted voxels (0 elsewhere) for `moduli` (the staircase
    /// upsampled to the fine grid), `fine_forward` made from this refined problem with
    /// `equation`; the frequencies are solved [`solves_at_once`] at a time.
    fn error(
        &self,
        data: &Measurements,
        coarse: &dyn ForwardModel,
        fine_forward: &dyn ForwardModel,
        moduli: &Moduli,
        equation: WaveEquation,
    ) -> Result<Vec<Vec<Array3<Complex64>>>> {
        let nf = data.n_frequencies();
        let at_once = solves_at_once(equation, self.data.grid.shape, nf);
        tracing::info!(shape = ?self.data.grid.shape, frequencies = nf, at_once, "discretisation error on the finer grid");
        self.error_batched(data, coarse, fine_forward, moduli, at_once)
    }

    /// [`Self::error`] with `at_once` frequencies solved in parallel at a time (each fine
    /// solve a factorisation on one thread, or an iterative solve on the thread pool).
    fn error_batched(
        &self,
        data: &Measurements,
        coarse: &dyn ForwardModel,
        fine_forward: &dyn ForwardModel,
        moduli: &Moduli,
        at_once: usize,
    ) -> Result<Vec<Vec<Array3<Complex64>>>> {
        let fine_moduli = Moduli {
            storage_pa: self.upsample(&moduli.storage_pa),
            loss_pa: self.upsample(&moduli.loss_pa),
            bulk_modulus_pa: moduli.bulk_modulus_pa,
        };
        let predicted = coarse.predicted();
        let nf = data.n_frequencies();
        let solve = |f: usize| -> Result<Vec<Array3<Complex64>>> {
            let u = coarse.predict(f, moduli)?;
            let uf = fine_forward.predict(f, &fine_moduli)?;
            Ok(u.iter()
                .zip(&uf)
                .map(|(u, uf)| {
                    Array3::from_shape_fn(u.raw_dim(), |(z, y, x)| {
                        if predicted[[z, y, x]] {
                            uf[self.node([z, y, x])] - u[[z, y, x]]
                        } else {
                            Complex64::new(0.0, 0.0)
                        }
                    })
                })
                .collect())
        };
        let mut out = Vec::with_capacity(nf);
        for batch in (0..nf).collect::<Vec<_>>().chunks(at_once.max(1)) {
            out.extend(batch.par_iter().map(|&f| solve(f)).collect::<Result<Vec<_>>>()?);
        }
        Ok(out)
    }
}

/// The data minus `error` (`[f][c]`) on every voxel: the measurements the coarse model fits
/// when its discretisation error is accounted for.
pub fn corrected(data: &Measurements, error: &[Vec<Array3<Complex64>>]) -> Measurements {
    let mut out = data.clone();
    for (f, per_c) in error.iter().enumerate() {
        for (c, e) in per_c.iter().enumerate() {
            let mut w = out.wave.index_axis_mut(Axis(0), f);
            let mut w = w.index_axis_mut(Axis(0), c);
            w -= e;
        }
    }
    out
}

/// The refined problem: its measurements (Dirichlet values on the outer domain nodes) and the
/// map between coarse voxels and fine nodes.
struct Refined {
    data: Measurements,
    factor: [usize; 3],
}

impl Refined {
    fn new(data: &Measurements, factor: usize) -> Result<Self> {
        data.validate()?;
        let sh = data.grid.shape;
        let r: [usize; 3] = std::array::from_fn(|a| if sh[a] > 1 { factor } else { 1 });
        let fs: [usize; 3] = std::array::from_fn(|a| r[a] * (sh[a] - 1) + 1);
        let voxel: [f64; 3] = std::array::from_fn(|a| data.grid.voxel_size_m[a] / r[a] as f64);
        let grid = mre_solver::model::phantom::Grid::new(fs, voxel)?;
        let mask = &data.mask;
        // Node → coarse position (integer part, fraction) per axis.
        let split = |i: usize, a: usize| (i / r[a], i % r[a]);
        let in_domain = |idx: [usize; 3]| {
            let parts: [(usize, usize); 3] = std::array::from_fn(|a| split(idx[a], a));
            let lo: [usize; 3] = std::array::from_fn(|a| parts[a].0);
            let hi: [usize; 3] = std::array::from_fn(|a| if parts[a].1 > 0 { parts[a].0 + 1 } else { parts[a].0 });
            (lo[0]..=hi[0]).all(|z| (lo[1]..=hi[1]).all(|y| (lo[2]..=hi[2]).all(|x| mask[[z, y, x]])))
        };
        let fine_mask = Array3::from_shape_fn((fs[0], fs[1], fs[2]), |(z, y, x)| in_domain([z, y, x]));
        let interior = crate::forward::interior_of(&fine_mask);
        // The boundary nodes and their neighbours inside (the Navier model's prescribed faces
        // between a boundary and an interior node take the mean of the two).
        let outer = &fine_mask & &interior.mapv(|b| !b);
        let near = crate::forward::dilate(&outer);
        let (nf, nc) = (data.n_frequencies(), data.n_components());
        let mut wave = Array5::zeros((nf, nc, fs[0], fs[1], fs[2]));
        for ((z, y, x), &m) in fine_mask.indexed_iter() {
            if !m || !near[[z, y, x]] {
                continue;
            }
            let weights = interpolation_weights([z, y, x], r, mask);
            for f in 0..nf {
                for c in 0..nc {
                    let v: Complex64 = weights.iter().map(|&(q, w)| data.wave[[f, c, q[0], q[1], q[2]]] * w).sum();
                    wave[[f, c, z, y, x]] = v;
                }
            }
        }
        let fine = Measurements {
            grid,
            frequencies_hz: data.frequencies_hz.clone(),
            density_kg_m3: data.density_kg_m3,
            wave,
            mask: fine_mask,
            noise_std: None,
            images: None,
        };
        Ok(Self { data: fine, factor: r })
    }

    /// The fine node at coarse voxel `v`'s centre.
    fn node(&self, v: [usize; 3]) -> [usize; 3] {
        std::array::from_fn(|a| v[a] * self.factor[a])
    }

    /// Voxel values on the fine nodes: each node takes its nearest coarse voxel's value (the
    /// same staircase; `factor` odd, so there are no ties).
    fn upsample(&self, a: &Array3<f64>) -> Array3<f64> {
        let s = self.data.grid.shape;
        let r = self.factor;
        Array3::from_shape_fn((s[0], s[1], s[2]), |(z, y, x)| a[[(z + r[0] / 2) / r[0], (y + r[1] / 2) / r[1], (x + r[2] / 2) / r[2]]])
    }
}

/// Points of the Lagrange interpolation of the boundary values along the boundary.
const ORDER: usize = 8;

/// Tensor-product Lagrange weights of the coarse voxels for fine node `idx`: along each axis
/// where the node lies between coarse centres, [`ORDER`] (else 4) points centred on its cell
/// (shifted inwards at the ends of the axis) when they are all in the mask, else the cell's 2
/// corners; along the other axes its own coarse index.
fn interpolation_weights(idx: [usize; 3], r: [usize; 3], mask: &Array3<bool>) -> Vec<([usize; 3], f64)> {
    let sh = mask.shape();
    let stencil = |a: usize, points: usize| -> Vec<(usize, f64)> {
        let (i, k) = (idx[a] / r[a], idx[a] % r[a]);
        if k == 0 {
            return vec![(i, 1.0)];
        }
        let t = i as f64 + k as f64 / r[a] as f64;
        // Centred on the cell, shifted inwards at the ends of the axis.
        let (lo, n) = if sh[a] >= points { ((i + 1).saturating_sub(points / 2).min(sh[a] - points), points) } else { (i, 2) };
        (lo..lo + n)
            .map(|j| {
                let w = (lo..lo + n).filter(|&m| m != j).map(|m| (t - m as f64) / (j as f64 - m as f64)).product::<f64>();
                (j, w)
            })
            .collect()
    };
    let combine = |points: usize| -> Vec<([usize; 3], f64)> {
        let (s0, s1, s2) = (stencil(0, points), stencil(1, points), stencil(2, points));
        let mut out = Vec::with_capacity(s0.len() * s1.len() * s2.len());
        for &(z, wz) in &s0 {
            for &(y, wy) in &s1 {
                for &(x, wx) in &s2 {
                    out.push(([z, y, x], wz * wy * wx));
                }
            }
        }
        out
    };
    for points in [ORDER, 4] {
        let w = combine(points);
        if w.iter().all(|(q, _)| mask[*q]) {
            return w;
        }
    }
    combine(2)
}

/// Half-width of the window of [`smoothed`], voxels.
const SMOOTHING_HALF_WIDTH: isize = 2;

/// The measurements with every mask voxel's value replaced by the local quadratic regression
/// of its neighbourhood: the least-squares polynomial of total degree ≤ 2 in the offsets along
/// the axes with more than one voxel, fitted to the mask voxels of the `5 × 5 (× 5)` window
/// around it and evaluated at its centre; the raw value where the window has too few mask
/// voxels (fewer than twice the coefficients) or the fit would amplify noise (squared weights
/// summing to more than 1, e.g. extrapolating into a corner).
///
/// Exact for quadratic fields, so a wave keeps its amplitude to `O((kh)⁴)` inside (97 % at 8
/// voxels per wavelength along an axis) and to `O((kh)³)` at the mask's edge, while white noise
/// loses most of its power (the centre weight of the 5-point quadratic fit is 17/35; a 2-D
/// window keeps about a quarter of the noise variance). The discretisation error is linear in
/// the boundary values and is taken from these: the voxel-to-voxel part of the noise, to which
/// the fine and the coarse grid respond differently, would otherwise enter the estimate as an
/// error of the size of the noise itself (measured on the P–SV cylinder at 32², SNR 30: the
/// corrected residual at the true moduli 1.5–2.4 times the noise power, 1.3–1.7 with the
/// error of the noise-free data).
pub fn smoothed(data: &Measurements) -> Measurements {
    let sh = data.grid.shape;
    let active: Vec<usize> = (0..3).filter(|&a| sh[a] > 1).collect();
    let mut out = data.clone();
    let (nf, nc) = (data.n_frequencies(), data.n_components());
    let mask = &data.mask;
    for ((z, y, x), &m) in mask.indexed_iter() {
        if !m {
            continue;
        }
        let Some((points, weights)) = regression_weights([z, y, x], &active, mask) else { continue };
        for f in 0..nf {
            for c in 0..nc {
                let v: Complex64 = points.iter().zip(&weights).map(|(q, &w)| data.wave[[f, c, q[0], q[1], q[2]]] * w).sum();
                out.wave[[f, c, z, y, x]] = v;
            }
        }
    }
    out
}

/// The mask voxels of the window around `v` and the weights that give the local polynomial
/// regression's value at `v` (see [`smoothed`]); `None`: keep the raw value.
fn regression_weights(v: [usize; 3], active: &[usize], mask: &Array3<bool>) -> Option<(Vec<[usize; 3]>, Vec<f64>)> {
    let sh = mask.shape();
    let mut points = Vec::new();
    let mut offsets = Vec::new();
    let span = -SMOOTHING_HALF_WIDTH..=SMOOTHING_HALF_WIDTH;
    let ranges: Vec<Vec<isize>> = (0..3).map(|a| if active.contains(&a) { span.clone().collect() } else { vec![0] }).collect();
    for &dz in &ranges[0] {
        for &dy in &ranges[1] {
            for &dx in &ranges[2] {
                let d = [dz, dy, dx];
                let q: [isize; 3] = std::array::from_fn(|a| v[a] as isize + d[a]);
                if (0..3).any(|a| q[a] < 0 || q[a] >= sh[a] as isize) {
                    continue;
                }
                let q = q.map(|i| i as usize);
                if mask[q] {
                    points.push(q);
                    offsets.push(active.iter().map(|&a| d[a] as f64).collect::<Vec<_>>());
                }
            }
        }
    }
    {
        let basis = |o: &[f64]| -> Vec<f64> {
            let mut b = vec![1.0];
            b.extend_from_slice(o);
            for i in 0..o.len() {
                for j in i..o.len() {
                    b.push(o[i] * o[j]);
                }
            }
            b
        };
        let nb = basis(&offsets[0]).len();
        // At least twice as many points as coefficients, and a well-conditioned fit.
        if points.len() < 2 * nb {
            return None;
        }
        let a = faer::Mat::<f64>::from_fn(points.len(), nb, |i, j| basis(&offsets[i])[j]);
        let gram = a.transpose() * &a;
        let e0 = faer::Mat::<f64>::from_fn(nb, 1, |i, _| if i == 0 { 1.0 } else { 0.0 });
        let c = faer::linalg::solvers::Solve::solve(&gram.partial_piv_lu(), &e0);
        if !(0..nb).all(|i| c[(i, 0)].is_finite()) {
            return None;
        }
        let w = &a * &c;
        let weights: Vec<f64> = (0..points.len()).map(|i| w[(i, 0)]).collect();
        if weights.iter().map(|w| w * w).sum::<f64>() > 1.0 {
            // The fit amplifies noise (a degenerate window): not a smoothing.
            return None;
        }
        Some((points, weights))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurements(n: usize, mask: Array3<bool>, field: impl Fn(usize, usize) -> Complex64) -> Measurements {
        let grid = mre_solver::model::phantom::Grid::new([1, n, n], [1e-3; 3]).unwrap();
        let wave = Array5::from_shape_fn((1, 1, 1, n, n), |(_, _, _, y, x)| field(y, x));
        Measurements { grid, frequencies_hz: vec![60.0], density_kg_m3: 1000.0, wave, mask, noise_std: None, images: None }
    }

    /// The local quadratic regression keeps a quadratic field exactly (inside, at the mask's
    /// edge and at its corners) and takes most of the power out of white noise.
    #[test]
    fn smoothing_keeps_quadratics_and_removes_noise() {
        let n = 16;
        // An irregular mask: a disc.
        let mask = Array3::from_shape_fn((1, n, n), |(_, y, x)| (y as f64 - 7.3).hypot(x as f64 - 8.1) < 7.0);
        let q = |y: usize, x: usize| {
            let (y, x) = (y as f64, x as f64);
            Complex64::new(1.0 + 0.3 * x - 0.2 * y + 0.05 * x * y - 0.02 * x * x, 0.4 - 0.1 * y * y + 0.07 * x)
        };
        let data = measurements(n, mask.clone(), q);
        let s = smoothed(&data);
        for ((y, x), _) in mask.indexed_iter().filter(|(_, &m)| m).map(|((_, y, x), m)| ((y, x), m)) {
            let d = (s.wave[[0, 0, 0, y, x]] - q(y, x)).norm();
            assert!(d < 1e-9, "voxel ({y}, {x}): {d:e}");
        }
        let noise = measurements(n, mask.clone(), |y, x| crate::synthetic::complex_normal(5, (y * n + x) as u64));
        let s = smoothed(&noise);
        let power = |m: &Measurements| {
            let v: Vec<f64> = mask.indexed_iter().filter(|(_, &b)| b).map(|((_, y, x), _)| m.wave[[0, 0, 0, y, x]].norm_sqr()).collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let ratio = power(&s) / power(&noise);
        assert!(ratio < 0.5, "noise power kept: {ratio:.2}");
    }

    /// The number of fine solves at once changes the time and the memory, not the result:
    /// one at a time and all at once give the same error to the bit.
    #[test]
    fn solves_at_once_do_not_change_the_error() {
        use crate::param::Parameterisation;
        let spec = crate::synthetic::BesselInclusion {
            n: 16,
            voxel_m: 2.5e-3,
            frequencies_hz: vec![60.0, 90.0, 120.0],
            snr: None,
            ..Default::default()
        };
        let (data, labels, _) = spec.generate().unwrap();
        let coarse = WaveForward::new(&data).unwrap();
        let regions = crate::Regions::new(&labels, &data.mask).unwrap();
        let moduli = regions.moduli(&regions.constant(3000.0, 600.0));
        let fine = Refined::new(&data, 3).unwrap();
        let fine_forward = WaveForward::new(&fine.data).unwrap();
        let one = fine.error_batched(&data, &coarse, &fine_forward, &moduli, 1).unwrap();
        let all = fine.error_batched(&data, &coarse, &fine_forward, &moduli, 3).unwrap();
        assert_eq!(one, all);
        assert!(one.iter().flatten().any(|e| e.iter().any(|v| v.norm() > 0.0)), "a non-zero error");
        assert_eq!(solves_at_once(WaveEquation::Scalar, [1, 10, 10], 0), 1, "at least one");
    }
}
