//! Priors on the unconstrained parameters.

use crate::error::{InverseError, Result};

/// A log prior density with gradient (up to a constant). Implementations must be deterministic.
pub trait Prior: Sync {
    /// `log p(θ)`; adds `∂ log p/∂θ` to `grad`.
    fn logp_add_grad(&self, theta: &[f64], grad: &mut [f64]) -> f64;
}

/// Independent normal priors on each parameter (for log moduli: log-normal moduli).
#[derive(Debug, Clone, PartialEq)]
pub struct IndependentNormal {
    /// Prior means.
    pub mean: Vec<f64>,
    /// Prior standard deviations (> 0).
    pub std: Vec<f64>,
}

impl IndependentNormal {
    /// Log-normal priors for region moduli: θ = [log G'…, log G''…] with `n` regions,
    /// medians `storage_pa`, `loss_pa` and a width `log_std` (natural-log units; 1.0 allows a
    /// factor e either way at 1σ).
    pub fn log_moduli(n: usize, storage_pa: f64, loss_pa: f64, log_std: f64) -> Result<Self> {
        if !(storage_pa > 0.0 && loss_pa > 0.0 && storage_pa.is_finite() && loss_pa.is_finite()) {
            return Err(InverseError::invalid("prior median", format!("G' = {storage_pa} Pa, G'' = {loss_pa} Pa"), "positive moduli"));
        }
        if !(log_std > 0.0 && log_std.is_finite()) {
            return Err(InverseError::invalid("prior log_std", log_std, "a positive width"));
        }
        let mean = (0..2 * n).map(|i| if i < n { storage_pa.ln() } else { loss_pa.ln() }).collect();
        Ok(Self { mean, std: vec![log_std; 2 * n] })
    }
}

impl Prior for IndependentNormal {
    fn logp_add_grad(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let mut lp = 0.0;
        for (i, &t) in theta.iter().enumerate() {
            let z = (t - self.mean[i]) / self.std[i];
            lp -= 0.5 * z * z;
            grad[i] -= z / self.std[i];
        }
        lp
    }
}

/// Gaussian Markov random field prior on the node values of one or more fields on a node
/// grid (see [`crate::param::Field`]): for each field block of the parameter vector,
/// `log p = −½ Σ_edges (θ_i − θ_j)² / s² − ½ Σ_i (θ_i − μ)² / σ₀²`, edges between
/// neighbouring nodes along each axis. `s` (`smoothness_std`) is the expected jump of the log
/// modulus between neighbouring nodes; the weak level term (`level_std` σ₀ around `μ`) makes
/// the prior proper.
#[derive(Debug, Clone, PartialEq)]
pub struct Gmrf {
    nodes: [usize; 3],
    /// One (mean, smoothness_std, level_std) per block.
    blocks: Vec<(f64, f64, f64)>,
}

impl Gmrf {
    /// A GMRF on a node grid `nodes` for consecutive blocks of `nodes` values each, one per
    /// entry of `blocks` = (μ, s, σ₀).
    pub fn new(nodes: [usize; 3], blocks: Vec<(f64, f64, f64)>) -> Result<Self> {
        for &(m, s, l) in &blocks {
            if !(m.is_finite() && s > 0.0 && s.is_finite() && l > 0.0 && l.is_finite()) {
                return Err(InverseError::invalid(
                    "GMRF prior",
                    format!("mean {m}, smoothness {s}, level {l}"),
                    "finite mean, positive widths",
                ));
            }
        }
        Ok(Self { nodes, blocks })
    }

    /// Number of nodes per block.
    pub fn n_nodes(&self) -> usize {
        self.nodes.iter().product()
    }

    /// The prior precision matrix as (row, column, value) triplets (symmetric, both halves).
    pub fn precision_triplets(&self) -> Vec<(usize, usize, f64)> {
        let n = self.n_nodes();
        let mut t = Vec::new();
        for (b, &(_, s, l)) in self.blocks.iter().enumerate() {
            let off = b * n;
            let mut diag = vec![1.0 / (l * l); n];
            self.edges(|i, j| {
                let w = 1.0 / (s * s);
                diag[i] += w;
                diag[j] += w;
                t.push((off + i, off + j, -w));
                t.push((off + j, off + i, -w));
            });
            t.extend(diag.into_iter().enumerate().map(|(i, d)| (off + i, off + i, d)));
        }
        t
    }

    fn edges(&self, mut f: impl FnMut(usize, usize)) {
        let [nz, ny, nx] = self.nodes;
        let id = |z: usize, y: usize, x: usize| (z * ny + y) * nx + x;
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    if x + 1 < nx {
                        f(id(z, y, x), id(z, y, x + 1));
                    }
                    if y + 1 < ny {
                        f(id(z, y, x), id(z, y + 1, x));
                    }
                    if z + 1 < nz {
                        f(id(z, y, x), id(z + 1, y, x));
                    }
                }
            }
        }
    }
}

impl Prior for Gmrf {
    fn logp_add_grad(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let n = self.n_nodes();
        let mut lp = 0.0;
        for (b, &(m, s, l)) in self.blocks.iter().enumerate() {
            let t = &theta[b * n..(b + 1) * n];
            let g = &mut grad[b * n..(b + 1) * n];
            let w = 1.0 / (s * s);
            self.edges(|i, j| {
                let d = t[i] - t[j];
                lp -= 0.5 * w * d * d;
                g[i] -= w * d;
                g[j] += w * d;
            });
            for (ti, gi) in t.iter().zip(g.iter_mut()) {
                let z = (ti - m) / l;
                lp -= 0.5 * z * z;
                *gi -= z / l;
            }
        }
        lp
    }
}
