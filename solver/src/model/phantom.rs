//! Voxel phantom: a labelled grid, the tissues behind the labels, and the
//! isochromats (spins) that sample it.
//!
//! Positions are `[z, y, x]` in metres. Voxel `i` along an axis of `n` voxels
//! of size `d` has its centre at `(i - n/2) * d` (integer division), so that the
//! grid centre sits at the origin exactly as the centred FFT expects.

use ndarray::Array3;

use crate::error::{Result, SolverError};
use crate::rng::uniform01;

/// A regular voxel grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Number of voxels `[nz, ny, nx]`; `nz = 1` for a 2-D phantom.
    pub shape: [usize; 3],
    /// Voxel size `[dz, dy, dx]` in m.
    pub voxel_size_m: [f64; 3],
}

impl Grid {
    /// Create and validate a grid.
    pub fn new(shape: [usize; 3], voxel_size_m: [f64; 3]) -> Result<Self> {
        for (a, &n) in shape.iter().enumerate() {
            if n == 0 {
                return Err(SolverError::invalid(format!("shape[{a}]"), n, "at least 1 voxel"));
            }
        }
        for (a, &d) in voxel_size_m.iter().enumerate() {
            if !(d > 0.0 && d.is_finite()) {
                return Err(SolverError::invalid(format!("voxel_size_m[{a}]"), d, "a positive length in m"));
            }
        }
        Ok(Self { shape, voxel_size_m })
    }
    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True if the grid has no voxels (never, for a validated grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True for a single-slice (2-D) grid.
    pub fn is_2d(&self) -> bool {
        self.shape[0] == 1
    }
    /// Field of view `[z, y, x]` in m.
    pub fn fov_m(&self) -> [f64; 3] {
        [0, 1, 2].map(|a| self.shape[a] as f64 * self.voxel_size_m[a])
    }
    /// Centre of voxel `index` along `axis`, m.
    pub fn coordinate(&self, axis: usize, index: usize) -> f64 {
        (index as f64 - (self.shape[axis] / 2) as f64) * self.voxel_size_m[axis]
    }
    /// Centre of voxel `[iz, iy, ix]`, m.
    pub fn centre(&self, idx: [usize; 3]) -> [f64; 3] {
        [0, 1, 2].map(|a| self.coordinate(a, idx[a]))
    }
    /// Index of the voxel containing `r` (nearest centre), or None outside the grid.
    pub fn locate(&self, r: [f64; 3]) -> Option<[usize; 3]> {
        let mut idx = [0usize; 3];
        for a in 0..3 {
            let f = (r[a] / self.voxel_size_m[a]).round() + (self.shape[a] / 2) as f64;
            if f < 0.0 || f >= self.shape[a] as f64 {
                return None;
            }
            idx[a] = f as usize;
        }
        Some(idx)
    }
    /// Linear (C-order) index of `[iz, iy, ix]`.
    pub fn linear(&self, idx: [usize; 3]) -> usize {
        (idx[0] * self.shape[1] + idx[1]) * self.shape[2] + idx[2]
    }
    /// `[iz, iy, ix]` of a linear index.
    pub fn unravel(&self, lin: usize) -> [usize; 3] {
        let ix = lin % self.shape[2];
        let iy = (lin / self.shape[2]) % self.shape[1];
        [lin / (self.shape[1] * self.shape[2]), iy, ix]
    }
}

/// MR and mechanical properties of one tissue.
#[derive(Debug, Clone, PartialEq)]
pub struct Tissue {
    /// Name used in configs and logs.
    pub name: String,
    /// Label value in the label map (1..=65535; 0 means "no tissue").
    pub label: u16,
    /// Relative proton density (dimensionless, ≥ 0).
    pub proton_density: f64,
    /// Longitudinal relaxation time, s.
    pub t1_s: f64,
    /// Transverse relaxation time, s.
    pub t2_s: f64,
    /// Off-resonance (chemical shift plus B0 offset), Hz.
    pub off_resonance_hz: f64,
    /// Storage (shear) modulus G', Pa.
    pub storage_modulus_pa: f64,
    /// Loss (shear) modulus G'', Pa.
    pub loss_modulus_pa: f64,
    /// Mass density ρ, kg/m³.
    pub density_kg_m3: f64,
    /// Bulk modulus K, Pa (> 2G'/3): the compressibility seen by the Navier motion
    /// ([`crate::wave::WaveEquation::Navier`]); the scalar wave and the Bloch simulation ignore
    /// it. Soft tissue: [`Tissue::SOFT_TISSUE_BULK_MODULUS_PA`] (nearly incompressible).
    pub bulk_modulus_pa: f64,
}

impl Tissue {
    /// Bulk modulus of water and soft tissue, Pa (`K/G ~ 10⁶`: nearly incompressible).
    pub const SOFT_TISSUE_BULK_MODULUS_PA: f64 = 2.2e9;

    /// `K/|G*|` that stands for the incompressible limit `ν = 0.5` (see
    /// [`Tissue::bulk_modulus_for_poisson_ratio`]).
    pub const INCOMPRESSIBLE_BULK_TO_SHEAR: f64 = 1e6;

    /// The bulk modulus (Pa) giving the Poisson ratio `ν` to a tissue of storage modulus `G'`
    /// (Pa): `K = 2G'(1 + ν)/(3(1 − 2ν))` (real; ν of the storage modulus, as
    /// [`crate::wave::analytic::ElasticMedium::with_poisson_ratio`]). The incompressible limit
    /// `ν = 0.5` (`K = ∞`) is mapped to the large but finite
    /// `K = `[`Tissue::INCOMPRESSIBLE_BULK_TO_SHEAR`]` · |G*|`: the gauge in which the mixed
    /// u–p Navier solver's shear waves no longer depend on `K` (no locking: the shear error does
    /// not grow with `K/G` up to 10⁹, `solver/tests/wave_navier.rs`; compressional waves 1000×
    /// longer than the shear waves) while the pressure of a sealed box stays resolved; for soft
    /// tissue it is the order of [`Tissue::SOFT_TISSUE_BULK_MODULUS_PA`].
    ///
    /// # Errors
    /// `ν` outside `(0, 0.5]` or not finite (`ν ≤ 0` gives `K ≤ 2G'/3`, i.e. `λ ≤ 0`, which the
    /// solver's compliance `p/λ` does not take; `ν ≤ −1` or `> 0.5` is not a material), named
    /// `poisson_ratio`.
    pub fn bulk_modulus_for_poisson_ratio(storage_modulus_pa: f64, loss_modulus_pa: f64, poisson_ratio: f64) -> Result<f64> {
        let nu = poisson_ratio;
        if !(nu > -1.0 && nu <= 0.5) {
            return Err(SolverError::invalid(
                "poisson_ratio",
                nu,
                "a Poisson ratio in (−1, 0.5] (0.5: incompressible); the Navier motion needs ν > 0",
            ));
        }
        if nu <= 0.0 {
            return Err(SolverError::invalid(
                "poisson_ratio",
                nu,
                "ν > 0: ν ≤ 0 gives K ≤ 2G'/3, i.e. λ = K − 2G'/3 ≤ 0, which the mixed u–p Navier solver does not take",
            ));
        }
        if nu == 0.5 {
            return Ok(Self::INCOMPRESSIBLE_BULK_TO_SHEAR * storage_modulus_pa.hypot(loss_modulus_pa));
        }
        Ok(2.0 * storage_modulus_pa * (1.0 + nu) / (3.0 * (1.0 - 2.0 * nu)))
    }

    /// Check every property's range.
    pub fn validate(&self) -> Result<()> {
        let n = &self.name;
        let chk = |ok: bool, key: &str, v: f64, exp: &str| -> Result<()> {
            if ok && v.is_finite() {
                Ok(())
            } else {
                Err(SolverError::invalid(format!("tissue '{n}' {key}"), v, exp))
            }
        };
        if self.label == 0 {
            return Err(SolverError::invalid(format!("tissue '{n}' label"), 0, "a label in 1..=65535 (0 means no tissue)"));
        }
        chk(self.proton_density >= 0.0, "proton_density", self.proton_density, "a non-negative number")?;
        chk(self.t1_s > 0.0, "t1_s", self.t1_s, "a positive time in s")?;
        chk(self.t2_s > 0.0, "t2_s", self.t2_s, "a positive time in s")?;
        chk(self.t2_s <= self.t1_s, "t2_s", self.t2_s, "T2 not longer than T1")?;
        chk(true, "off_resonance_hz", self.off_resonance_hz, "a finite frequency in Hz")?;
        chk(self.storage_modulus_pa > 0.0, "storage_modulus_pa", self.storage_modulus_pa, "a positive modulus in Pa")?;
        chk(self.loss_modulus_pa >= 0.0, "loss_modulus_pa", self.loss_modulus_pa, "a non-negative modulus in Pa")?;
        chk(self.density_kg_m3 > 0.0, "density_kg_m3", self.density_kg_m3, "a positive density in kg/m³")?;
        let k_min = 2.0 * self.storage_modulus_pa / 3.0;
        chk(
            self.bulk_modulus_pa > k_min,
            "bulk_modulus_pa",
            self.bulk_modulus_pa,
            &format!("a bulk modulus in Pa above 2G'/3 = {k_min} Pa (λ = K − 2G'/3 > 0)"),
        )?;
        Ok(())
    }
}

/// Shape of a built-in inclusion.
#[derive(Debug, Clone, PartialEq)]
pub enum InclusionShape {
    /// Infinite cylinder of `radius_m` around `axis` (index into `[z, y, x]`) through `centre_m`.
    Cylinder {
        /// Radius, m.
        radius_m: f64,
        /// Axis of the cylinder: index into `[z, y, x]`.
        axis: usize,
    },
    /// Sphere of `radius_m` around `centre_m`.
    Sphere {
        /// Radius, m.
        radius_m: f64,
    },
    /// Axis-aligned box with half-sizes `[z, y, x]` in m around `centre_m`.
    Box {
        /// Half-sizes `[z, y, x]`, m.
        half_size_m: [f64; 3],
    },
}

/// A region of the grid given to one tissue; later inclusions paint over earlier ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Inclusion {
    /// Geometry.
    pub shape: InclusionShape,
    /// Centre `[z, y, x]`, m.
    pub centre_m: [f64; 3],
    /// Label of the tissue that fills it (0 paints "no tissue").
    pub label: u16,
}

impl Inclusion {
    /// Whether point `r` lies inside.
    pub fn contains(&self, r: [f64; 3]) -> bool {
        let d = [0, 1, 2].map(|a| r[a] - self.centre_m[a]);
        match &self.shape {
            InclusionShape::Sphere { radius_m } => d.iter().map(|v| v * v).sum::<f64>() <= radius_m * radius_m,
            InclusionShape::Cylinder { radius_m, axis } => {
                (0..3).filter(|a| a != axis).map(|a| d[a] * d[a]).sum::<f64>() <= radius_m * radius_m
            }
            InclusionShape::Box { half_size_m } => (0..3).all(|a| d[a].abs() <= half_size_m[a]),
        }
    }
}

/// A labelled voxel phantom with its tissues.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// The voxel grid.
    pub grid: Grid,
    /// Label per voxel, shape `[nz, ny, nx]`; 0 = no tissue (no spins).
    pub labels: Array3<u16>,
    /// Tissues; every non-zero label in `labels` has exactly one.
    pub tissues: Vec<Tissue>,
    /// Isochromats per voxel (≥ 1).
    pub spins_per_voxel: usize,
    /// Whether isochromats are jittered uniformly inside their sub-cell of the
    /// voxel (else at the sub-cell centres, a regular sub-grid).
    pub jitter: bool,
    /// Seed of the jitter stream.
    pub seed: u64,
}

impl Phantom {
    /// Paint a phantom: fill with `background` label, then apply `inclusions` in order.
    pub fn from_shapes(grid: Grid, background: u16, inclusions: &[Inclusion]) -> Array3<u16> {
        let sh = grid.shape;
        Array3::from_shape_fn((sh[0], sh[1], sh[2]), |(z, y, x)| {
            let r = grid.centre([z, y, x]);
            inclusions.iter().rev().find(|inc| inc.contains(r)).map_or(background, |inc| inc.label)
        })
    }

    /// Validate labels against tissues and parameters.
    pub fn validate(&self) -> Result<()> {
        let sh = self.grid.shape;
        if self.labels.shape() != [sh[0], sh[1], sh[2]] {
            return Err(SolverError::Shape(format!("label map has shape {:?}, the grid is {:?}", self.labels.shape(), sh)));
        }
        if self.spins_per_voxel == 0 {
            return Err(SolverError::invalid("spins_per_voxel", 0, "at least 1"));
        }
        for (i, t) in self.tissues.iter().enumerate() {
            t.validate()?;
            if self.tissues[..i].iter().any(|o| o.label == t.label) {
                return Err(SolverError::invalid(format!("tissue '{}' label", t.name), t.label, "a label no other tissue uses"));
            }
        }
        if let Some(&l) = self.labels.iter().find(|&&l| l != 0 && self.tissue_index(l).is_none()) {
            return Err(SolverError::invalid("label map", l, "labels that name a configured tissue (or 0)"));
        }
        if self.labels.iter().all(|&l| l == 0) {
            return Err(SolverError::invalid("label map", "all zero", "at least one voxel with tissue"));
        }
        Ok(())
    }

    /// Index into `tissues` of a label.
    pub fn tissue_index(&self, label: u16) -> Option<usize> {
        self.tissues.iter().position(|t| t.label == label)
    }

    /// Map a tissue property over the grid (NaN-free: 0 where there is no tissue).
    pub fn property_map(&self, f: impl Fn(&Tissue) -> f64) -> Array3<f64> {
        self.labels.mapv(|l| self.tissue_index(l).map_or(0.0, |i| f(&self.tissues[i])))
    }

    /// Number of voxels with tissue.
    pub fn tissue_voxels(&self) -> usize {
        self.labels.iter().filter(|&&l| l != 0).count()
    }

    /// Sub-cells per voxel `[z, y, x]` whose product is `spins_per_voxel`: the
    /// prime factors of `spins_per_voxel` are dealt to the axes with more than
    /// one voxel (all axes for a single voxel), largest factor to the axis with
    /// the fewest sub-cells. Each isochromat sits in its own sub-cell, jittered
    /// inside it (stratified sampling: far less intra-voxel sampling noise than
    /// independent uniform positions, and still unbiased).
    pub fn strata(&self) -> [usize; 3] {
        let mut active: Vec<usize> = (0..3).filter(|&a| self.grid.shape[a] > 1).collect();
        if active.is_empty() {
            active = vec![0, 1, 2];
        }
        let mut factors = Vec::new();
        let mut n = self.spins_per_voxel;
        let mut p = 2;
        while n > 1 {
            while n % p == 0 {
                factors.push(p);
                n /= p;
            }
            p += 1;
        }
        let mut out = [1usize; 3];
        for f in factors.into_iter().rev() {
            // the active axis with the fewest sub-cells; ties go to the last (x) axis
            let a = *active.iter().rev().min_by_key(|&&a| out[a]).expect("an axis");
            out[a] *= f;
        }
        out
    }

    /// Generate the isochromats of all voxels with tissue, in voxel order.
    pub fn spins(&self) -> Spins {
        self.spins_in(0..self.grid.len())
    }

    /// Generate the isochromats of the voxels with linear index in `voxels`.
    ///
    /// Spin `s` of voxel `v` has global index `v * spins_per_voxel + s`; its jitter
    /// depends only on (seed, global index), so any partition of the voxels gives
    /// identical spins.
    pub fn spins_in(&self, voxels: std::ops::Range<usize>) -> Spins {
        let spv = self.spins_per_voxel;
        let strata = self.strata();
        let mut out = Spins::default();
        let flat = self.labels.as_slice().expect("labels are contiguous");
        for v in voxels {
            let label = flat[v];
            let Some(t) = self.tissue_index(label) else { continue };
            let c = self.grid.centre(self.grid.unravel(v));
            for s in 0..spv {
                let g = (v * spv + s) as u64;
                // stratified: spin s owns sub-cell `cell` of the voxel's strata grid
                let cell = [s / (strata[1] * strata[2]), (s / strata[2]) % strata[1], s % strata[2]];
                let mut r = c;
                for (a, ra) in r.iter_mut().enumerate() {
                    let u = if self.jitter { uniform01(self.seed, g, a as u64) } else { 0.5 };
                    *ra += ((cell[a] as f64 + u) / strata[a] as f64 - 0.5) * self.grid.voxel_size_m[a];
                }
                out.position_m.push(r);
                out.tissue.push(t as u16);
                out.voxel.push(v as u32);
                out.global_index.push(g);
            }
        }
        out
    }
    /// The isochromats whose ordinal (position among all isochromats of [`Phantom::spins`])
    /// lies in `ordinals`: identical to the same range of `spins()`, generated without the rest.
    pub fn spins_by_ordinal(&self, ordinals: std::ops::Range<usize>) -> Spins {
        let spv = self.spins_per_voxel;
        let flat = self.labels.as_slice().expect("labels are contiguous");
        // First and one-past-last voxel holding an ordinal in range.
        let (mut count, mut first, mut last) = (0usize, None, flat.len());
        let mut skip = 0;
        for (v, &label) in flat.iter().enumerate() {
            if self.tissue_index(label).is_none() {
                continue;
            }
            if first.is_none() && count + spv > ordinals.start {
                first = Some(v);
                skip = ordinals.start - count;
            }
            count += spv;
            if count >= ordinals.end {
                last = v + 1;
                break;
            }
        }
        let Some(first) = first.filter(|_| !ordinals.is_empty()) else { return Spins::default() };
        let mut s = self.spins_in(first..last);
        let keep = skip..skip + ordinals.len().min(s.len() - skip);
        s.position_m = s.position_m[keep.clone()].to_vec();
        s.tissue = s.tissue[keep.clone()].to_vec();
        s.voxel = s.voxel[keep.clone()].to_vec();
        s.global_index = s.global_index[keep].to_vec();
        s
    }
}

/// Isochromats as a structure of arrays.
#[derive(Debug, Clone, Default)]
pub struct Spins {
    /// Rest position `[z, y, x]`, m.
    pub position_m: Vec<[f64; 3]>,
    /// Index into [`Phantom::tissues`].
    pub tissue: Vec<u16>,
    /// Linear index of the voxel that owns the spin.
    pub voxel: Vec<u32>,
    /// Global spin index (voxel × spins_per_voxel + s).
    pub global_index: Vec<u64>,
}

impl Spins {
    /// Number of spins.
    pub fn len(&self) -> usize {
        self.position_m.len()
    }
    /// True when there are no spins.
    pub fn is_empty(&self) -> bool {
        self.position_m.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tissue(label: u16) -> Tissue {
        Tissue {
            name: format!("t{label}"),
            label,
            proton_density: 1.0,
            t1_s: 1.0,
            t2_s: 0.1,
            off_resonance_hz: 0.0,
            storage_modulus_pa: 3000.0,
            loss_modulus_pa: 300.0,
            density_kg_m3: 1000.0,
            bulk_modulus_pa: Tissue::SOFT_TISSUE_BULK_MODULUS_PA,
        }
    }

    #[test]
    fn centred_coordinates_and_locate() {
        let g = Grid::new([1, 4, 5], [1e-3, 2e-3, 3e-3]).unwrap();
        assert_eq!(g.coordinate(1, 2), 0.0);
        assert_eq!(g.coordinate(2, 0), -6e-3);
        assert_eq!(g.locate(g.centre([0, 3, 1])), Some([0, 3, 1]));
        assert_eq!(g.locate([0.0, 1.0, 0.0]), None);
        for lin in 0..g.len() {
            assert_eq!(g.linear(g.unravel(lin)), lin);
        }
    }

    #[test]
    fn spins_do_not_depend_on_partition() {
        let grid = Grid::new([2, 6, 6], [1e-3; 3]).unwrap();
        let inc = Inclusion { shape: InclusionShape::Sphere { radius_m: 2e-3 }, centre_m: [0.0; 3], label: 2 };
        let labels = Phantom::from_shapes(grid.clone(), 1, &[inc]);
        let p = Phantom { grid, labels, tissues: vec![tissue(1), tissue(2)], spins_per_voxel: 3, jitter: true, seed: 7 };
        p.validate().unwrap();
        let all = p.spins();
        let mut parts = p.spins_in(0..17);
        let rest = p.spins_in(17..72);
        parts.position_m.extend(rest.position_m);
        assert_eq!(all.position_m, parts.position_m);
        assert_eq!(all.len(), 72 * 3);
        // jitter stays inside the voxel
        for (r, &v) in all.position_m.iter().zip(&all.voxel) {
            assert_eq!(p.grid.locate(*r), Some(p.grid.unravel(v as usize)));
        }
        assert!(p.labels.iter().any(|&l| l == 2));
        // By ordinal, with empty voxels (label 0): any cut, even inside a voxel, gives the same spins.
        let mut q = p.clone();
        q.labels.iter_mut().step_by(5).for_each(|l| *l = 0);
        let all = q.spins();
        for cuts in [vec![0, all.len()], vec![0, 1, 50, 51, 52, 120, all.len()], vec![0, 7, 7, 100, all.len()]] {
            let mut joined = Vec::new();
            for w in cuts.windows(2) {
                let part = q.spins_by_ordinal(w[0]..w[1]);
                assert_eq!(part.len(), w[1] - w[0]);
                joined.extend(part.global_index);
            }
            assert_eq!(joined, all.global_index);
        }
        assert!(q.spins_by_ordinal(all.len()..all.len() + 5).is_empty());
    }

    #[test]
    fn strata_multiply_to_spins_per_voxel() {
        let grid = Grid::new([1, 6, 6], [1e-3; 3]).unwrap();
        let labels = Array3::from_elem((1, 6, 6), 1u16);
        let mut p = Phantom { grid, labels, tissues: vec![tissue(1)], spins_per_voxel: 4, jitter: false, seed: 0 };
        assert_eq!(p.strata(), [1, 2, 2]);
        p.spins_per_voxel = 12;
        assert_eq!(p.strata(), [1, 4, 3]);
        p.spins_per_voxel = 1;
        assert_eq!(p.strata(), [1, 1, 1]);
        p.grid = Grid::new([4, 6, 6], [1e-3; 3]).unwrap();
        p.labels = Array3::from_elem((4, 6, 6), 1u16);
        p.spins_per_voxel = 8;
        assert_eq!(p.strata(), [2, 2, 2]);
        // a regular sub-grid without jitter: sub-cell centres
        p.spins_per_voxel = 8;
        let s = p.spins_in(0..1);
        let c = p.grid.centre([0, 0, 0]);
        for r in &s.position_m {
            for a in 0..3 {
                assert!(((r[a] - c[a]).abs() - 0.25e-3).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn unknown_label_is_refused() {
        let grid = Grid::new([1, 2, 2], [1e-3; 3]).unwrap();
        let labels = Array3::from_elem((1, 2, 2), 5u16);
        let p = Phantom { grid, labels, tissues: vec![tissue(1)], spins_per_voxel: 1, jitter: false, seed: 0 };
        assert!(p.validate().unwrap_err().to_string().contains("label"));
    }
}
