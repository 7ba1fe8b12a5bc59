//! The full-domain drive: the wave equation on the whole data grid, driven by an actuator
//! plane, with perfectly matched layers outside the other faces — an alternative to
//! prescribing the measured boundary ([`crate::forward::WaveForward`]).
//!
//! The driven face layer carries a uniform displacement; the other faces of the data grid
//! are extended by `pml_voxels` absorbing voxels (moduli continued from the nearest data
//! voxel). The equation is linear in the drive, so one unit-drive solve `φ_f` per
//! frequency serves every component: the prediction of component `c` is `a_fc φ_f`, with
//! the complex drive amplitude profiled out by least squares on the predicted voxels,
//! `a_fc = Σ conj(φ) d_fc / Σ |φ|²`. Unlike the measured-boundary model no data value
//! enters the operator, so boundary noise does not either; the price is the assumption that
//! the wave comes from a plane actuator and leaves through the other faces.
//!
//! Gradients are exact: with `p = a(φ) φ` and `g = ∂J/∂p`, the adjoint source for `φ` is
//! `conj(a) g + (c/N) r − conj(c a)/N · φ` on the predicted voxels (`c = gᴴφ`, `N = Σ|φ|²`,
//! `r = d − aφ`); for the Gaussian wave likelihood `c = 0` at the profiled amplitude (the
//! envelope theorem), but the full expression keeps other likelihoods exact too.

use std::sync::{Arc, Mutex};

use mre_solver::model::phantom::Grid;
use mre_solver::wave::{Boundary, Dirichlet, Face, FaceCondition, Medium, ScalarProblem, ScalarSolver, Scheme};
use ndarray::{s, Array3, Zip};
use num_complex::Complex64;

use crate::data::Measurements;
use crate::error::{InverseError, Result};
use crate::forward::{check_moduli, shared_template, FieldObjective, ForwardModel, Moduli, ModuliGradient};

/// Where the actuator drives and how the other faces absorb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActuatorDrive {
    /// Driven faces of the data grid.
    pub faces: Vec<Face>,
    /// Thickness of the absorbing layers added outside every other face, voxels.
    pub pml_voxels: usize,
}

impl ActuatorDrive {
    /// Parse a face name: `x-`, `x+`, `y-`, `y+`, `z-`, `z+`, or the config's `x-low`,
    /// `x-high`, … (see [`Face`]).
    pub fn parse_face(name: &str) -> Option<Face> {
        name.parse().ok()
    }
}

/// The full-domain (actuator) forward model; see the module documentation.
pub struct ActuatorForward {
    grid: Grid,
    omegas: Vec<f64>,
    density: f64,
    /// Padding `[axis][side]`, voxels.
    pad: [[usize; 2]; 3],
    padded_grid: Grid,
    boundary: Boundary,
    /// Driven layer on the padded grid (Dirichlet, value 1).
    driven: Array3<bool>,
    predicted: Array3<bool>,
    /// Measured fields per frequency and component on the data grid (0 outside `predicted`).
    data: Vec<Vec<Array3<Complex64>>>,
    scheme: Scheme,
    template: Mutex<Option<Arc<ScalarSolver>>>,
}

impl std::fmt::Debug for ActuatorForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActuatorForward")
            .field("grid", &self.grid)
            .field("padded", &self.padded_grid.shape)
            .field("frequencies", &self.omegas.len())
            .finish_non_exhaustive()
    }
}

impl ActuatorForward {
    /// The full-domain model of `data` driven as `drive` says, with the default (compact) scheme.
    pub fn new(data: &Measurements, drive: &ActuatorDrive) -> Result<Self> {
        Self::with_scheme(data, drive, Scheme::default())
    }

    /// Like [`ActuatorForward::new`] with a finite-volume `scheme`.
    pub fn with_scheme(data: &Measurements, drive: &ActuatorDrive, scheme: Scheme) -> Result<Self> {
        data.validate()?;
        let shape = data.grid.shape;
        if drive.faces.is_empty() {
            return Err(InverseError::invalid("drive faces", "none", "at least one driven face (e.g. x-)"));
        }
        for face in &drive.faces {
            if shape[face.axis.index()] < 3 {
                return Err(InverseError::invalid(
                    "drive face",
                    face,
                    format!("a face of an axis with at least 3 voxels (grid {shape:?})"),
                ));
            }
        }
        if drive.pml_voxels == 0 {
            return Err(InverseError::invalid("pml_voxels", 0, "at least 1 absorbing voxel (8–12 are usual)"));
        }
        let driven_face = |axis: usize, side: usize| drive.faces.iter().any(|f| f.index() == (axis, side));
        let pad = [0, 1, 2].map(|a| [0, 1].map(|side| if !driven_face(a, side) && shape[a] > 1 { drive.pml_voxels } else { 0 }));
        let mut boundary = Boundary::absorbing(drive.pml_voxels);
        for face in &drive.faces {
            let (axis, side) = face.index();
            boundary = boundary.with_face(axis, side, FaceCondition::Free);
        }
        let padded_shape = [0, 1, 2].map(|a| shape[a] + pad[a][0] + pad[a][1]);
        let padded_grid = Grid::new(padded_shape, data.grid.voxel_size_m)?;
        boundary.validate(&padded_grid)?;
        let mut driven = Array3::from_elem(padded_shape, false);
        for face in &drive.faces {
            let axis = face.axis.index();
            driven.index_axis_mut(ndarray::Axis(axis), face.layer(padded_shape[axis])).fill(true);
        }
        // the driven layer of the data grid carries the (profiled) drive, not a prediction
        let mut predicted = data.mask.clone();
        for face in &drive.faces {
            let axis = face.axis.index();
            predicted.index_axis_mut(ndarray::Axis(axis), face.layer(shape[axis])).fill(false);
        }
        if !predicted.iter().any(|&p| p) {
            return Err(InverseError::invalid("/mask", "no masked voxel off the driven faces", "data inside the domain"));
        }
        let fields = (0..data.n_frequencies())
            .map(|f| {
                (0..data.n_components())
                    .map(|c| {
                        let mut u = data.field(f, c);
                        Zip::from(&mut u).and(&predicted).for_each(|u, &p| {
                            if !p {
                                *u = Complex64::new(0.0, 0.0);
                            }
                        });
                        u
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            grid: data.grid.clone(),
            omegas: data.frequencies_hz.iter().map(|f| 2.0 * std::f64::consts::PI * f).collect(),
            density: data.density_kg_m3,
            pad,
            padded_grid,
            boundary,
            driven,
            predicted,
            data: fields,
            scheme,
            template: Mutex::new(None),
        })
    }

    /// The data grid's index of padded voxel `i` (clamped into the data grid).
    fn source_index(&self, i: [usize; 3]) -> [usize; 3] {
        [0, 1, 2].map(|a| i[a].saturating_sub(self.pad[a][0]).min(self.grid.shape[a] - 1))
    }

    fn padded_medium(&self, m: &Moduli) -> Result<Medium> {
        check_moduli(m, self.grid.shape)?;
        let ps = self.padded_grid.shape;
        let extend = |a: &Array3<f64>| Array3::from_shape_fn((ps[0], ps[1], ps[2]), |(z, y, x)| a[self.source_index([z, y, x])]);
        Ok(Medium {
            grid: self.padded_grid.clone(),
            storage_modulus_pa: extend(&m.storage_pa),
            loss_modulus_pa: extend(&m.loss_pa),
            density_kg_m3: Array3::from_elem((ps[0], ps[1], ps[2]), self.density),
        })
    }

    fn factorise(&self, f: usize, moduli: &Moduli) -> Result<(Medium, ScalarSolver)> {
        let medium = self.padded_medium(moduli)?;
        let values = self.driven.mapv(|d| if d { Complex64::new(1.0, 0.0) } else { Complex64::new(0.0, 0.0) });
        let problem = ScalarProblem::new(&medium, self.omegas[f], self.boundary.clone())
            .with_dirichlet(Dirichlet { mask: self.driven.clone(), values })
            .with_scheme(self.scheme);
        let template = shared_template(&self.template, &problem)?;
        let solver = template.refactored(&problem)?;
        Ok((medium, solver))
    }

    /// The unit-drive field of frequency `f` on the data grid, with the padded solution.
    fn unit_field(&self, f: usize, moduli: &Moduli) -> Result<(Medium, ScalarSolver, Array3<Complex64>, Array3<Complex64>)> {
        let (medium, solver) = self.factorise(f, moduli)?;
        let ps = self.padded_grid.shape;
        let full = solver.solve(&Array3::zeros((ps[0], ps[1], ps[2])))?;
        let s = self.grid.shape;
        let p = self.pad;
        let phi = full.slice(s![p[0][0]..p[0][0] + s[0], p[1][0]..p[1][0] + s[1], p[2][0]..p[2][0] + s[2]]).to_owned();
        Ok((medium, solver, full, phi))
    }

    /// The profiled drive amplitude `a = Σ conj(φ) d / Σ |φ|²` over the predicted voxels.
    fn amplitude(&self, phi: &Array3<Complex64>, d: &Array3<Complex64>) -> (Complex64, f64) {
        let mut num = Complex64::new(0.0, 0.0);
        let mut norm = 0.0;
        Zip::from(phi).and(d).and(&self.predicted).for_each(|p, d, &w| {
            if w {
                num += p.conj() * d;
                norm += p.norm_sqr();
            }
        });
        (if norm > 0.0 { num / norm } else { Complex64::new(0.0, 0.0) }, norm)
    }

    /// The profiled drive amplitudes of frequency `f`, one per component, for `moduli`
    /// (the displacement of the driven face, m).
    pub fn drive_amplitudes(&self, f: usize, moduli: &Moduli) -> Result<Vec<Complex64>> {
        let (_, _, _, phi) = self.unit_field(f, moduli)?;
        Ok(self.data[f].iter().map(|d| self.amplitude(&phi, d).0).collect())
    }
}

impl ForwardModel for ActuatorForward {
    fn grid(&self) -> &Grid {
        &self.grid
    }
    fn n_frequencies(&self) -> usize {
        self.omegas.len()
    }
    fn n_components(&self) -> usize {
        self.data.first().map_or(0, Vec::len)
    }
    fn predict(&self, f: usize, moduli: &Moduli) -> Result<Vec<Array3<Complex64>>> {
        let (_, _, _, phi) = self.unit_field(f, moduli)?;
        Ok(self.data[f]
            .iter()
            .map(|d| {
                let (a, _) = self.amplitude(&phi, d);
                phi.mapv(|p| p * a)
            })
            .collect())
    }
    fn objective_gradient(&self, f: usize, moduli: &Moduli, objective: &FieldObjective<'_>) -> Result<(f64, ModuliGradient)> {
        let (medium, solver, full, phi) = self.unit_field(f, moduli)?;
        let amps: Vec<(Complex64, f64)> = self.data[f].iter().map(|d| self.amplitude(&phi, d)).collect();
        let fields: Vec<Array3<Complex64>> = amps.iter().map(|(a, _)| phi.mapv(|p| p * a)).collect();
        let (value, dj_dp) = objective(f, &fields);
        // adjoint source for φ, summed over components (one adjoint solve)
        let mut h = Array3::<Complex64>::zeros(phi.raw_dim());
        for ((g, d), &(a, norm)) in dj_dp.iter().zip(&self.data[f]).zip(&amps) {
            let c: Complex64 = g.iter().zip(&phi).map(|(g, p)| g.conj() * p).sum();
            Zip::from(&mut h).and(g).and(&phi).and(d).and(&self.predicted).for_each(|h, g, p, d, &w| {
                *h += a.conj() * g;
                if w && norm > 0.0 {
                    *h += c * (d - a * p) / norm - (c * a).conj() * p / norm;
                }
            });
        }
        let ps = self.padded_grid.shape;
        let pd = self.pad;
        let s = self.grid.shape;
        let mut h_full = Array3::<Complex64>::zeros((ps[0], ps[1], ps[2]));
        h_full.slice_mut(s![pd[0][0]..pd[0][0] + s[0], pd[1][0]..pd[1][0] + s[1], pd[2][0]..pd[2][0] + s[2]]).assign(&h);
        let (storage, loss) = solver.modulus_gradient(&medium, &full, &h_full)?;
        // the padding copies its nearest data voxel: fold its gradient back there
        let mut grad = ModuliGradient::zeros(s);
        for (((z, y, x), &gs), &gl) in storage.indexed_iter().zip(loss.iter()) {
            let i = self.source_index([z, y, x]);
            grad.storage[i] += gs;
            grad.loss[i] += gl;
        }
        Ok((value, grad))
    }
    fn predicted(&self) -> &Array3<bool> {
        &self.predicted
    }
}
