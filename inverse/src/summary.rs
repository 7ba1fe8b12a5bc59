//! Posterior summaries: per-voxel mean, standard deviation and 90 % intervals of the moduli.

use ndarray::Array3;
use rayon::prelude::*;

use crate::diagnostics;
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

/// Mean, standard deviation (n − 1), 5 % and 95 % quantiles of `values` (std 0 for one value).
pub fn describe(values: &[f64]) -> (f64, f64, f64, f64) {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let sd = if values.len() > 1 { diagnostics::std(values) } else { 0.0 };
    (diagnostics::mean(values), sd, diagnostics::quantile(&s, 0.05), diagnostics::quantile(&s, 0.95))
}

/// Picks the G' or the G'' column of the per-draw moduli of one voxel.
type Pick = dyn Fn(&(Vec<f64>, Vec<f64>)) -> &Vec<f64> + Sync;

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
    let stats = |pick: &Pick| -> MapStats {
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
