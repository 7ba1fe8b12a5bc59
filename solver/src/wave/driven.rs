//! The tissue motion of a phantom driven by an actuator: the scalar wave equation or the
//! Navier equation solved on the phantom grid at every vibration frequency, the driven face
//! layers prescribed.

use ndarray::{Array3, Array4};
use num_complex::Complex64;
use rayon::prelude::*;

use super::{
    Boundary, BulkModulus, Dirichlet, Face, FaceCondition, Medium, NavierWaveSolver, ScalarProblem, Scheme, SolverChoice, VectorDirichlet,
    VectorProblem, WaveSolver,
};
use crate::error::{Result, SolverError};
use crate::model::motion::HarmonicField;
use crate::model::phantom::{Grid, Phantom};
use crate::parallel::Comm;

/// The wave equation of a [`DrivenWave`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum WaveEquation {
    /// The scalar (antiplane) equation `∇·(G*∇u) + ρω²u = 0`; the displacement is
    /// `polarization · u`.
    #[default]
    Scalar,
    /// The Navier equation (`wave::navier`, mixed u–p, valid up to the incompressible limit)
    /// with the bulk modulus of each voxel's tissue ([`crate::model::phantom::Tissue::bulk_modulus_pa`]);
    /// the driven layers move with `amplitude · polarization` and the three components are
    /// the physical displacement (in 2-D, `nz = 1`: plane strain in `y–x` plus the anti-plane
    /// `z` component).
    Navier,
}

/// An actuator-driven wave: the voxel layers of the `drive` faces move with `amplitude_m`
/// (phase 0), the other faces behave as `boundary` says; G*, ρ from the phantom's tissues.
/// [`WaveEquation::Scalar`]: the solution `u` of `∇·(G*∇u) + ρω²u = 0` gives the
/// displacement `polarization · u`; [`WaveEquation::Navier`]: the vector solution with the
/// driven layers moving along `polarization`.
#[derive(Debug, Clone)]
pub struct DrivenWave {
    /// Face conditions and PML.
    pub boundary: Boundary,
    /// Driven faces.
    pub drive: Vec<Face>,
    /// Drive amplitude, m.
    pub amplitude_m: f64,
    /// Unit polarisation `[z, y, x]`.
    pub polarization: [f64; 3],
    /// Spatial discretisation.
    pub scheme: Scheme,
    /// Linear solver.
    pub solver: SolverChoice,
    /// Wave equation (default scalar).
    pub equation: WaveEquation,
}

impl DrivenWave {
    /// The displacement field at every frequency (Hz), in parallel over the frequencies
    /// (rayon). Each factorisation is sequential, so the fields are bit-identical for any
    /// thread and rank count.
    pub fn solve(&self, phantom: &Phantom, frequencies_hz: &[f64]) -> Result<Vec<HarmonicField>> {
        let medium = Medium::from_phantom(phantom)?;
        let grid = &phantom.grid;
        let sh = grid.shape;
        let mut mask = Array3::from_elem((sh[0], sh[1], sh[2]), false);
        for face in &self.drive {
            let (axis, index) = (face.axis.index(), face.layer(sh[face.axis.index()]));
            mask.indexed_iter_mut().filter(|((z, y, x), _)| [*z, *y, *x][axis] == index).for_each(|(_, m)| *m = true);
        }
        if self.equation == WaveEquation::Navier {
            let bulk = phantom.property_map(|t| t.bulk_modulus_pa);
            let bulk = match bulk.iter().next() {
                Some(&k) if bulk.iter().all(|&v| v == k) => BulkModulus::Uniform(k),
                _ => BulkModulus::PerVoxel(bulk),
            };
            let drive = self.polarization.map(|p| Complex64::new(self.amplitude_m * p, 0.0));
            let dirichlet = VectorDirichlet::from_fn(grid, |i| mask[i], |_| drive);
            return frequencies_hz
                .par_iter()
                .map(|&f| {
                    let _span = tracing::info_span!("Navier solve", frequency_hz = f).entered();
                    let problem = VectorProblem {
                        medium: &medium,
                        bulk_modulus_pa: bulk.clone(),
                        omega_rad_per_s: 2.0 * std::f64::consts::PI * f,
                        boundary: self.boundary.clone(),
                        dirichlet: Some(dirichlet.clone()),
                    };
                    // A sequential LU, or the iterative solver (deterministic for any pool).
                    let solver = NavierWaveSolver::with_choice(&problem, self.solver, 1)?;
                    let zero = Array3::zeros((sh[0], sh[1], sh[2]));
                    let u = solver.solve(&[zero.clone(), zero.clone(), zero])?;
                    let mut amp = Array4::<Complex64>::zeros((3, sh[0], sh[1], sh[2]));
                    for (c, uc) in u.iter().enumerate() {
                        amp.index_axis_mut(ndarray::Axis(0), c).assign(uc);
                    }
                    HarmonicField::new(grid.clone(), amp)
                })
                .collect();
        }
        let values = mask.mapv(|m| if m { Complex64::new(self.amplitude_m, 0.0) } else { Complex64::new(0.0, 0.0) });
        let dirichlet = Dirichlet { mask, values };
        frequencies_hz
            .par_iter()
            .map(|&f| {
                let _span = tracing::info_span!("wave solve", frequency_hz = f).entered();
                let problem = ScalarProblem {
                    medium: &medium,
                    omega_rad_per_s: 2.0 * std::f64::consts::PI * f,
                    boundary: self.boundary.clone(),
                    dirichlet: Some(dirichlet.clone()),
                    scheme: self.scheme,
                };
                // One thread per factorisation (rayon runs the frequencies in parallel; the
                // iterative solver is sequential): the field is then bit-identical for any
                // thread and rank count.
                let solver = WaveSolver::with_choice(&problem, self.solver, 1)?;
                let u = solver.solve(&Array3::zeros((sh[0], sh[1], sh[2])))?;
                let mut amp = Array4::<Complex64>::zeros((3, sh[0], sh[1], sh[2]));
                for (c, &p) in self.polarization.iter().enumerate() {
                    if p != 0.0 {
                        amp.index_axis_mut(ndarray::Axis(0), c).assign(&u.mapv(|v| v * p));
                    }
                }
                HarmonicField::new(grid.clone(), amp)
            })
            .collect()
    }

    /// [`DrivenWave::solve`] across the ranks of `comm`: frequency `i` is solved on rank
    /// `i mod size` and broadcast to every rank, which all return every field. Every rank
    /// must call it; an error on any rank is returned by all. With
    /// [`crate::parallel::Serial`] it is [`DrivenWave::solve`].
    pub fn solve_with(&self, phantom: &Phantom, frequencies_hz: &[f64], comm: &dyn Comm) -> Result<Vec<HarmonicField>> {
        let (rank, size) = (comm.rank(), comm.size());
        let nf = frequencies_hz.len();
        let mine: Vec<f64> = (0..nf).filter(|i| i % size == rank).map(|i| frequencies_hz[i]).collect();
        let solved = self.solve(phantom, &mine);
        if !comm.all_ok(solved.is_ok()) {
            return Err(solved.err().unwrap_or_else(|| {
                SolverError::invalid("wave solve", "failed on another rank", "a solvable wave problem at every frequency")
            }));
        }
        let mut solved = solved?.into_iter();
        if size == 1 {
            return Ok(solved.collect());
        }
        let grid = &phantom.grid;
        let sh = grid.shape;
        let mut fields = Vec::with_capacity(nf);
        for i in 0..nf {
            let mut buf = if i % size == rank {
                let f = solved.next().expect("one field per own frequency");
                f.amplitude_m.iter().flat_map(|c| [c.re, c.im]).collect()
            } else {
                vec![0.0; 2 * 3 * grid.len()]
            };
            comm.broadcast(i % size, &mut buf);
            let values = buf.chunks_exact(2).map(|p| Complex64::new(p[0], p[1])).collect();
            let amp = Array4::from_shape_vec((3, sh[0], sh[1], sh[2]), values).expect("length matches the grid");
            fields.push(HarmonicField::new(grid.clone(), amp)?);
        }
        Ok(fields)
    }

    /// Voxels of `image_grid` whose motion is physical when the wave was solved on
    /// `wave_grid`: all but the absorbing layers (PML) and the driven voxel layers (and the
    /// voxels outside `wave_grid`).
    pub fn physical_region(&self, wave_grid: &Grid, image_grid: &Grid) -> Array3<bool> {
        let sh = image_grid.shape;
        Array3::from_shape_fn((sh[0], sh[1], sh[2]), |(z, y, x)| {
            let Some(idx) = wave_grid.locate(image_grid.centre([z, y, x])) else { return false };
            (0..3).all(|a| {
                let n = wave_grid.shape[a];
                if n == 1 {
                    return true;
                }
                (0..2).all(|side| {
                    let depth = if side == 0 { idx[a] } else { n - 1 - idx[a] };
                    let layer = match self.boundary.faces[a][side] {
                        FaceCondition::Absorbing => self.boundary.pml_voxels,
                        _ => 0,
                    }
                    .max(usize::from(self.drive.iter().any(|f| f.index() == (a, side))));
                    depth >= layer
                })
            })
        })
    }
}
