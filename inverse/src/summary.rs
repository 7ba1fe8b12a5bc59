//! Posterior summaries: per-voxel mean, standard deviation and 90 % intervals of the moduli.

use ndarray::Array3;
use rayon::prelude::*;

use crate::param::Parameterisation;

/// Posterior statistics of one modulus map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapStats {
    /// Posterior mean per voxel, Pa.
    pub mean: Array3<f64>,
    /// Posterior standard deviation per voxel, Pa.
    pub std: Array3<f64>,
    /// 5 % quantile per voxel, Pa.
    pub q05: Array3<f64>,
    /// 95 % quantile per voxel, Pa.
    pub q95: Array3<f64>,
}

/// Posterior statistics of G' and G'' per voxel.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuliStats {
    /// Storage modulus G'.
    pub storage: MapStats,
    /// Loss modulus G''.
    pub loss: MapStats,
}

/// Linear-interpolation quantile `p ∈ [0, 1]` of sorted values.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Mean, standard deviation (n − 1), 5 % and 95 % quantiles of `values`.
pub fn describe(values: &[f64]) -> (f64, f64, f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    (mean, var.sqrt(), quantile_sorted(&s, 0.05), quantile_sorted(&s, 0.95))
}

/// Per-voxel statistics of the moduli over posterior draws `draws` (θ vectors). Voxels outside
/// `mask` are NaN. Deterministic (independent of the thread count).
pub fn moduli_stats(param: &dyn Parameterisation, draws: &[Vec<f64>], mask: &Array3<bool>) -> ModuliStats {
    let maps: Vec<(Vec<f64>, Vec<f64>)> = draws
        .par_iter()
        .map(|t| {
            let m = param.moduli(t);
            (m.storage_pa.iter().copied().collect(), m.loss_pa.iter().copied().collect())
        })
        .collect();
    let shape = mask.raw_dim();
    let stats = |pick: &(dyn Fn(&(Vec<f64>, Vec<f64>)) -> &Vec<f64> + Sync)| -> MapStats {
        let per_voxel: Vec<(f64, f64, f64, f64)> = mask
            .as_slice()
            .expect("standard layout")
            .par_iter()
            .enumerate()
            .map(|(v, &m)| {
                if !m {
                    return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
                }
                let values: Vec<f64> = maps.iter().map(|d| pick(d)[v]).collect();
                describe(&values)
            })
            .collect();
        let mk = |f: fn(&(f64, f64, f64, f64)) -> f64| {
            Array3::from_shape_vec(shape, per_voxel.iter().map(f).collect()).expect("one value per voxel")
        };
        MapStats { mean: mk(|s| s.0), std: mk(|s| s.1), q05: mk(|s| s.2), q95: mk(|s| s.3) }
    };
    ModuliStats { storage: stats(&|d| &d.0), loss: stats(&|d| &d.1) }
}
