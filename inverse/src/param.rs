//! Parameterisations: unconstrained parameters θ → storage and loss modulus per voxel.

use ndarray::Array3;

use crate::error::{InverseError, Result};
use crate::forward::{Moduli, ModuliGradient};

/// Maps an unconstrained parameter vector θ to G' and G'' per voxel, and pulls voxel
/// gradients back to θ (chain rule). Implementations must be deterministic.
pub trait Parameterisation: Sync {
    /// Number of parameters.
    fn dim(&self) -> usize;
    /// Parameter names (`log_storage[label 1]`, …).
    fn names(&self) -> Vec<String>;
    /// G' and G'' per voxel for θ.
    fn moduli(&self, theta: &[f64]) -> Moduli;
    /// `∂J/∂θ` from `∂J/∂G'`, `∂J/∂G''` per voxel at θ (whose moduli are `moduli`), written to `out`.
    fn pullback(&self, theta: &[f64], moduli: &Moduli, grad: &ModuliGradient, out: &mut [f64]);
    /// θ for spatially constant moduli (Pa), the usual starting point.
    fn constant(&self, storage_pa: f64, loss_pa: f64) -> Vec<f64>;
}

/// `log G'` and `log G''` per region of a label map: θ = [log G'₁…log G'ₙ, log G''₁…log G''ₙ]
/// (moduli in Pa) for the labels in ascending order. Every voxel must carry one of the labels
/// (label 0 included when present: it is a region like any other).
#[derive(Debug, Clone)]
pub struct Regions {
    labels: Vec<u16>,
    /// Region index per voxel.
    index: Array3<usize>,
    voxels: Vec<usize>,
}

impl Regions {
    /// The regions of the label map `labels` that occur inside `mask`. A voxel outside the mask
    /// belongs to the region of its own label when that label occurs inside the mask, otherwise
    /// to the largest region (its modulus only shapes the boundary faces).
    pub fn new(labels: &Array3<u16>, mask: &Array3<bool>) -> Result<Self> {
        if labels.shape() != mask.shape() {
            return Err(InverseError::invalid(
                "/labels",
                format!("shape {:?}", labels.shape()),
                format!("the mask shape {:?}", mask.shape()),
            ));
        }
        let mut present: Vec<u16> = labels.iter().zip(mask).filter(|(_, &m)| m).map(|(&l, _)| l).collect();
        present.sort_unstable();
        present.dedup();
        if present.is_empty() {
            return Err(InverseError::invalid("/labels", "no labelled voxel inside the mask", "labels for the masked voxels"));
        }
        let counts: Vec<usize> = present.iter().map(|p| labels.iter().zip(mask).filter(|(&l, &m)| m && l == *p).count()).collect();
        let common = counts.iter().enumerate().max_by_key(|(i, &c)| (c, usize::MAX - i)).map_or(0, |(i, _)| i);
        let index = labels.mapv(|l| present.binary_search(&l).unwrap_or(common));
        Ok(Self { labels: present, index, voxels: counts })
    }

    /// The labels, ascending (region `r` has label `labels()[r]`).
    pub fn labels(&self) -> &[u16] {
        &self.labels
    }

    /// Number of masked voxels per region.
    pub fn voxel_counts(&self) -> &[usize] {
        &self.voxels
    }

    /// Region index per voxel.
    pub fn index(&self) -> &Array3<usize> {
        &self.index
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Never true (construction requires a region).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

impl Parameterisation for Regions {
    fn dim(&self) -> usize {
        2 * self.labels.len()
    }
    fn names(&self) -> Vec<String> {
        let s = self.labels.iter().map(|l| format!("log_storage_pa[label {l}]"));
        s.chain(self.labels.iter().map(|l| format!("log_loss_pa[label {l}]"))).collect()
    }
    fn moduli(&self, theta: &[f64]) -> Moduli {
        let n = self.labels.len();
        Moduli::new(self.index.mapv(|r| theta[r].exp()), self.index.mapv(|r| theta[n + r].exp()))
    }
    fn pullback(&self, _theta: &[f64], moduli: &Moduli, grad: &ModuliGradient, out: &mut [f64]) {
        let n = self.labels.len();
        out.iter_mut().for_each(|o| *o = 0.0);
        for (((&r, &gs), &gl), (&s, &l)) in
            self.index.iter().zip(&grad.storage).zip(&grad.loss).zip(moduli.storage_pa.iter().zip(&moduli.loss_pa))
        {
            out[r] += gs * s;
            out[n + r] += gl * l;
        }
    }
    fn constant(&self, storage_pa: f64, loss_pa: f64) -> Vec<f64> {
        let n = self.labels.len();
        (0..2 * n).map(|i| if i < n { storage_pa.ln() } else { loss_pa.ln() }).collect()
    }
}

/// `log G'` and `log G''` as smooth fields: values at the nodes of a control grid with
/// `spacing` voxels between nodes, interpolated (multi)linearly to the voxel centres
/// (`spacing = 1`: one value per voxel). θ = [log G' at every node, log G'' at every node],
/// nodes in C order. Pair it with a [`crate::prior::Gmrf`] prior on the same node grid.
#[derive(Debug, Clone)]
pub struct Field {
    shape: [usize; 3],
    nodes: [usize; 3],
    spacing: usize,
    /// Per voxel: up to 8 (node, weight) pairs.
    weights: Vec<Vec<(usize, f64)>>,
}

impl Field {
    /// A field on a `shape` voxel grid with a node every `spacing` voxels (≥ 1) along each
    /// axis with more than one voxel; the last node lies at or beyond the last voxel.
    pub fn new(shape: [usize; 3], spacing: usize) -> Result<Self> {
        if spacing == 0 {
            return Err(InverseError::invalid("field spacing", 0, "at least 1 voxel between control nodes"));
        }
        let nodes = shape.map(|n| if n > 1 { (n - 1).div_ceil(spacing) + 1 } else { 1 });
        let mut weights = Vec::with_capacity(shape.iter().product());
        let axis = |a: usize, i: usize| -> [(usize, f64); 2] {
            if nodes[a] == 1 {
                return [(0, 1.0), (0, 0.0)];
            }
            let t = i as f64 / spacing as f64;
            let k = (i / spacing).min(nodes[a] - 2);
            let w = t - k as f64;
            [(k, 1.0 - w), (k + 1, w)]
        };
        for z in 0..shape[0] {
            for y in 0..shape[1] {
                for x in 0..shape[2] {
                    let mut v = Vec::with_capacity(8);
                    for (kz, wz) in axis(0, z) {
                        for (ky, wy) in axis(1, y) {
                            for (kx, wx) in axis(2, x) {
                                let w = wz * wy * wx;
                                if w != 0.0 {
                                    v.push(((kz * nodes[1] + ky) * nodes[2] + kx, w));
                                }
                            }
                        }
                    }
                    weights.push(v);
                }
            }
        }
        Ok(Self { shape, nodes, spacing, weights })
    }

    /// Control nodes per axis `[nz, ny, nx]`.
    pub fn nodes(&self) -> [usize; 3] {
        self.nodes
    }

    /// Voxels between nodes.
    pub fn spacing(&self) -> usize {
        self.spacing
    }

    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.nodes.iter().product()
    }

    /// Interpolate node values to the voxels.
    pub fn interpolate(&self, node_values: &[f64]) -> Array3<f64> {
        let s = self.shape;
        let v: Vec<f64> = self.weights.iter().map(|w| w.iter().map(|&(k, c)| c * node_values[k]).sum()).collect();
        Array3::from_shape_vec((s[0], s[1], s[2]), v).expect("one value per voxel")
    }

    /// The (node, weight) pairs of voxel `v` (C order).
    pub fn weights_of(&self, v: usize) -> &[(usize, f64)] {
        &self.weights[v]
    }
}

impl Parameterisation for Field {
    fn dim(&self) -> usize {
        2 * self.n_nodes()
    }
    fn names(&self) -> Vec<String> {
        let n = self.n_nodes();
        (0..n).map(|k| format!("log_storage_pa[node {k}]")).chain((0..n).map(|k| format!("log_loss_pa[node {k}]"))).collect()
    }
    fn moduli(&self, theta: &[f64]) -> Moduli {
        let n = self.n_nodes();
        Moduli::new(self.interpolate(&theta[..n]).mapv(f64::exp), self.interpolate(&theta[n..]).mapv(f64::exp))
    }
    fn pullback(&self, _theta: &[f64], moduli: &Moduli, grad: &ModuliGradient, out: &mut [f64]) {
        let n = self.n_nodes();
        out.iter_mut().for_each(|o| *o = 0.0);
        for (v, w) in self.weights.iter().enumerate() {
            let gs = grad.storage.as_slice().expect("standard layout")[v] * moduli.storage_pa.as_slice().expect("standard layout")[v];
            let gl = grad.loss.as_slice().expect("standard layout")[v] * moduli.loss_pa.as_slice().expect("standard layout")[v];
            for &(k, c) in w {
                out[k] += c * gs;
                out[n + k] += c * gl;
            }
        }
    }
    fn constant(&self, storage_pa: f64, loss_pa: f64) -> Vec<f64> {
        let n = self.n_nodes();
        (0..2 * n).map(|i| if i < n { storage_pa.ln() } else { loss_pa.ln() }).collect()
    }
}
