//! Forward models: shear moduli → predicted displacement fields, with adjoint gradients.

use std::sync::{Arc, Mutex};

use mre_solver::model::phantom::Grid;
use mre_solver::wave::{Boundary, Dirichlet, Medium, ScalarProblem, ScalarSolver, Scheme, WaveOperator};
use ndarray::{Array2, Array3, Zip};
use num_complex::Complex64;
use rayon::prelude::*;

use crate::data::Measurements;
use crate::error::{InverseError, Result};

/// Storage and loss modulus per voxel, Pa, and the bulk modulus of the models that have one.
#[derive(Debug, Clone, PartialEq)]
pub struct Moduli {
    /// G' per voxel, Pa.
    pub storage_pa: Array3<f64>,
    /// G'' per voxel, Pa.
    pub loss_pa: Array3<f64>,
    /// One bulk modulus K for the whole grid, Pa, when it is a parameter (the Navier model
    /// with K inferred, [`crate::bulk::WithBulkModulus`]); `None`: the forward model's own
    /// fixed value. Models without a bulk modulus (the scalar wave equation) ignore it.
    pub bulk_modulus_pa: Option<f64>,
}

impl Moduli {
    /// G' and G'' per voxel, Pa, without a bulk modulus parameter.
    pub fn new(storage_pa: Array3<f64>, loss_pa: Array3<f64>) -> Self {
        Self { storage_pa, loss_pa, bulk_modulus_pa: None }
    }
}

/// A real objective's derivative with respect to every voxel's G' and G'' (objective units per Pa).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuliGradient {
    /// `∂J/∂G'` per voxel.
    pub storage: Array3<f64>,
    /// `∂J/∂G''` per voxel.
    pub loss: Array3<f64>,
    /// `∂J/∂K` (objective units per Pa) for [`Moduli::bulk_modulus_pa`]; 0 for models
    /// without a bulk modulus or when it is not a parameter.
    pub bulk_modulus: f64,
}

impl ModuliGradient {
    /// Zero gradient on a `shape` grid.
    pub fn zeros(shape: [usize; 3]) -> Self {
        Self { storage: Array3::zeros(shape), loss: Array3::zeros(shape), bulk_modulus: 0.0 }
    }

    /// The gradient with respect to G' and G'' per voxel alone (`∂J/∂K` = 0).
    pub fn moduli(storage: Array3<f64>, loss: Array3<f64>) -> Self {
        Self { storage, loss, bulk_modulus: 0.0 }
    }

    /// `self += other`.
    pub fn add(&mut self, other: &Self) {
        self.storage += &other.storage;
        self.loss += &other.loss;
        self.bulk_modulus += other.bulk_modulus;
    }
}

/// An objective of predicted fields: given the fields of one frequency (one per component)
/// returns `J` and `∂J/∂u` per component (`dJ = Re Σ conj(∂J/∂u) du`).
pub type FieldObjective<'a> = dyn Fn(usize, &[Array3<Complex64>]) -> (f64, Vec<Array3<Complex64>>) + Sync + 'a;

/// Shear moduli → predicted displacement per frequency and component, with the gradient of
/// any objective of the prediction. Implementations must be deterministic.
pub trait ForwardModel: Sync {
    /// The voxel grid of the prediction.
    fn grid(&self) -> &Grid;
    /// Number of frequencies.
    fn n_frequencies(&self) -> usize;
    /// Number of displacement components.
    fn n_components(&self) -> usize;
    /// Predicted fields of frequency `f`, one per component, m.
    fn predict(&self, f: usize, moduli: &Moduli) -> Result<Vec<Array3<Complex64>>>;
    /// `J` and `∂J/∂(G', G'')` for the objective `objective(f, fields)` of frequency `f`'s prediction.
    fn objective_gradient(&self, f: usize, moduli: &Moduli, objective: &FieldObjective<'_>) -> Result<(f64, ModuliGradient)>;
    /// Voxels whose predictions are data-driven (the likelihood ignores the others, e.g. the
    /// Dirichlet boundary that copies the measurement).
    fn predicted(&self) -> &Array3<bool>;
}

/// How the wave problem is driven.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Drive {
    /// The measured displacement on the boundary layer of the mask is prescribed (Dirichlet);
    /// no actuator model is needed. The default for measured data ([`WaveForward`]).
    #[default]
    MeasuredBoundary,
    /// The whole data grid is modelled, driven by an actuator plane with absorbing layers
    /// outside the other faces; the drive amplitudes are profiled out
    /// ([`crate::actuator::ActuatorForward`]).
    Actuator(crate::actuator::ActuatorDrive),
}

/// The time-harmonic scalar wave equation `∇·(G*∇u) + ρω²u = 0` on the data grid, one
/// component at a time, with the measured displacement prescribed on the mask's boundary
/// layer and outside the mask (Dirichlet). Unknowns are the interior mask voxels whose whole
/// stencil neighbourhood (3×3(×3)) lies in the mask. One sparse LU per frequency serves all
/// components and the adjoint solve; the symbolic analysis is shared by every evaluation.
pub struct WaveForward {
    grid: Grid,
    omegas: Vec<f64>,
    density: Array3<f64>,
    fixed: Array3<bool>,
    interior: Array3<bool>,
    /// Dirichlet values per frequency and component (the measured field; 0 outside the mask).
    boundary: Vec<Vec<Array3<Complex64>>>,
    scheme: Scheme,
    /// A solver whose symbolic analysis later factorisations share.
    template: Mutex<Option<Arc<ScalarSolver>>>,
}

impl std::fmt::Debug for WaveForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaveForward")
            .field("grid", &self.grid)
            .field("frequencies", &self.omegas.len())
            .field("components", &self.boundary.first().map_or(0, Vec::len))
            .field("unknowns", &self.interior.iter().filter(|&&b| b).count())
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl WaveForward {
    /// The forward model of `data` ([`Drive::MeasuredBoundary`]) with the default (compact) scheme.
    pub fn new(data: &Measurements) -> Result<Self> {
        Self::with_scheme(data, Scheme::default())
    }

    /// Like [`WaveForward::new`] with a finite-volume `scheme`.
    pub fn with_scheme(data: &Measurements, scheme: Scheme) -> Result<Self> {
        data.validate()?;
        let grid = data.grid.clone();
        let interior = interior_of(&data.mask);
        let n_free = interior.iter().filter(|&&b| b).count();
        if n_free == 0 {
            return Err(InverseError::invalid(
                "/mask",
                "no voxel has its whole 3×3 neighbourhood inside the mask",
                "a mask region at least 3 voxels wide (its boundary layer carries the measured boundary values)",
            ));
        }
        let fixed = interior.mapv(|b| !b);
        let boundary = (0..data.n_frequencies())
            .map(|f| {
                (0..data.n_components())
                    .map(|c| {
                        let mut u = data.field(f, c);
                        Zip::from(&mut u).and(&data.mask).for_each(|u, &m| {
                            if !m {
                                *u = Complex64::new(0.0, 0.0);
                            }
                        });
                        u
                    })
                    .collect()
            })
            .collect();
        let s = grid.shape;
        Ok(Self {
            omegas: data.frequencies_hz.iter().map(|f| 2.0 * std::f64::consts::PI * f).collect(),
            density: Array3::from_elem((s[0], s[1], s[2]), data.density_kg_m3),
            fixed,
            interior,
            boundary,
            scheme,
            grid,
            template: Mutex::new(None),
        })
    }

    /// Angular frequencies, rad/s.
    pub fn omegas(&self) -> &[f64] {
        &self.omegas
    }

    /// Factorise the operator of frequency `f` for `moduli` (sharing the symbolic analysis).
    pub fn factorise(&self, f: usize, moduli: &Moduli) -> Result<(Medium, ScalarSolver)> {
        let medium = self.medium(moduli)?;
        let problem = ScalarProblem::new(&medium, self.omegas[f], Boundary::free())
            .with_dirichlet(Dirichlet { mask: self.fixed.clone(), values: self.boundary[f][0].clone() })
            .with_scheme(self.scheme);
        let template = self.template(&problem)?;
        let solver = template.refactored(&problem)?;
        Ok((medium, solver))
    }

    /// The assembled operator of frequency `f` for `moduli` (no factorisation), with its medium.
    pub fn operator(&self, f: usize, moduli: &Moduli) -> Result<(Medium, WaveOperator)> {
        let medium = self.medium(moduli)?;
        let op = WaveOperator::new(&ScalarProblem::new(&medium, self.omegas[f], Boundary::free()).with_scheme(self.scheme))?;
        Ok((medium, op))
    }

    /// The prescribed (measured) values of frequency `f`, component `c`: the data on the
    /// boundary voxels, 0 outside the mask; only entries outside [`ForwardModel::predicted`] matter.
    pub fn boundary_values(&self, f: usize, c: usize) -> &Array3<Complex64> {
        &self.boundary[f][c]
    }

    /// The solver whose symbolic analysis every factorisation shares (made on first use).
    fn template(&self, problem: &ScalarProblem) -> Result<Arc<ScalarSolver>> {
        shared_template(&self.template, problem)
    }

    fn medium(&self, m: &Moduli) -> Result<Medium> {
        check_moduli(m, self.grid.shape)?;
        Ok(Medium {
            grid: self.grid.clone(),
            storage_modulus_pa: m.storage_pa.clone(),
            loss_modulus_pa: m.loss_pa.clone(),
            density_kg_m3: self.density.clone(),
        })
    }

    /// The voxels whose measured values act as boundary data for the predicted voxels: mask
    /// voxels outside [`ForwardModel::predicted`] with a predicted voxel in their 3×3(×3)
    /// neighbourhood (linear C-order indices, ascending).
    pub fn boundary_voxels(&self, mask: &Array3<bool>) -> Vec<usize> {
        let grown = dilate(&self.interior);
        grown.iter().zip(mask).zip(&self.interior).enumerate().filter(|(_, ((&g, &m), &i))| g && m && !i).map(|(v, _)| v).collect()
    }

    /// `T[p, b]`: the predicted displacement at the `p`-th predicted voxel (C order) of
    /// frequency `f` for moduli `moduli` when boundary voxel `boundary[b]` carries a unit
    /// displacement and every other boundary value is zero (the map from boundary data to the
    /// prediction). One solve per boundary voxel with one factorisation.
    pub fn boundary_response(&self, f: usize, moduli: &Moduli, boundary: &[usize]) -> Result<Array2<Complex64>> {
        let (_, solver) = self.factorise(f, moduli)?;
        let s = self.grid.shape;
        let zero = Array3::zeros((s[0], s[1], s[2]));
        let rows: Vec<usize> = self.interior.iter().enumerate().filter(|(_, &b)| b).map(|(i, _)| i).collect();
        let cols: Vec<Vec<Complex64>> = boundary
            .par_iter()
            .map(|&b| {
                let mut g = Array3::zeros((s[0], s[1], s[2]));
                g.as_slice_mut().expect("standard layout")[b] = Complex64::new(1.0, 0.0);
                let u = solver.solve_with_dirichlet_values(&zero, &g)?;
                let u = u.as_slice().expect("standard layout");
                Ok(rows.iter().map(|&i| u[i]).collect())
            })
            .collect::<Result<_>>()?;
        Ok(Array2::from_shape_fn((rows.len(), boundary.len()), |(p, b)| cols[b][p]))
    }

    /// The predicted fields of frequency `f`, one per component, with `solver` from
    /// [`WaveForward::factorise`] (so one factorisation serves further solves).
    pub fn solve_components(&self, f: usize, solver: &ScalarSolver) -> Result<Vec<Array3<Complex64>>> {
        let s = self.grid.shape;
        let zero = Array3::zeros((s[0], s[1], s[2]));
        self.boundary[f].iter().map(|g| Ok(solver.solve_with_dirichlet_values(&zero, g)?)).collect()
    }
}

impl ForwardModel for WaveForward {
    fn grid(&self) -> &Grid {
        &self.grid
    }
    fn n_frequencies(&self) -> usize {
        self.omegas.len()
    }
    fn n_components(&self) -> usize {
        self.boundary.first().map_or(0, Vec::len)
    }
    fn predict(&self, f: usize, moduli: &Moduli) -> Result<Vec<Array3<Complex64>>> {
        let (_, solver) = self.factorise(f, moduli)?;
        self.solve_components(f, &solver)
    }
    fn objective_gradient(&self, f: usize, moduli: &Moduli, objective: &FieldObjective<'_>) -> Result<(f64, ModuliGradient)> {
        let (medium, solver) = self.factorise(f, moduli)?;
        let fields = self.solve_components(f, &solver)?;
        let (value, dj_du) = objective(f, &fields);
        let mut grad = ModuliGradient::zeros(self.grid.shape);
        for (u, r) in fields.iter().zip(&dj_du) {
            let (storage, loss) = solver.modulus_gradient(&medium, u, r)?;
            grad.add(&ModuliGradient::moduli(storage, loss));
        }
        Ok((value, grad))
    }
    fn predicted(&self) -> &Array3<bool> {
        &self.interior
    }
}

/// The solver in `cache` (made from `problem`, single-threaded, on first use) whose symbolic
/// analysis every later factorisation shares.
pub(crate) fn shared_template(cache: &Mutex<Option<Arc<ScalarSolver>>>, problem: &ScalarProblem) -> Result<Arc<ScalarSolver>> {
    let poisoned = || InverseError::Inference("forward-model lock poisoned".into());
    if let Some(t) = cache.lock().map_err(|_| poisoned())?.as_ref() {
        return Ok(Arc::clone(t));
    }
    let t = Arc::new(ScalarSolver::with_threads(problem, 1)?);
    let mut guard = cache.lock().map_err(|_| poisoned())?;
    Ok(Arc::clone(guard.get_or_insert(t)))
}

/// Trial moduli on a `shape` grid: finite, G' > 0, G'' ≥ 0.
pub(crate) fn check_moduli(m: &Moduli, shape: [usize; 3]) -> Result<()> {
    if m.storage_pa.shape() != shape || m.loss_pa.shape() != shape {
        return Err(InverseError::invalid("moduli", format!("shape {:?}", m.storage_pa.shape()), format!("the data grid {shape:?}")));
    }
    if m.storage_pa.iter().any(|g| !(g.is_finite() && *g > 0.0)) || m.loss_pa.iter().any(|g| !(g.is_finite() && *g >= 0.0)) {
        return Err(InverseError::NonFinite("a trial modulus is not finite or not positive".into()));
    }
    Ok(())
}

/// Whether `test(voxel)` holds for some (`any`) or every (`!any`) voxel of the 3×3(×3)
/// neighbourhood of each voxel (along the axes with more than one voxel); `None` stands for a
/// position outside the grid.
fn neighbourhood(shape: &[usize], any: bool, test: impl Fn(Option<[usize; 3]>) -> bool) -> Array3<bool> {
    let sh = [shape[0], shape[1], shape[2]];
    let reach = |a: usize| if sh[a] > 1 { 1isize } else { 0 };
    let (rz, ry, rx) = (reach(0), reach(1), reach(2));
    Array3::from_shape_fn((sh[0], sh[1], sh[2]), |(z, y, x)| {
        for dz in -rz..=rz {
            for dy in -ry..=ry {
                for dx in -rx..=rx {
                    let p = [z as isize + dz, y as isize + dy, x as isize + dx];
                    let inside = p.iter().zip(&sh).all(|(&i, &n)| i >= 0 && i < n as isize);
                    if test(inside.then(|| p.map(|i| i as usize))) == any {
                        return any;
                    }
                }
            }
        }
        !any
    })
}

/// Voxels with a true voxel of `a` in their 3×3(×3) neighbourhood.
pub(crate) fn dilate(a: &Array3<bool>) -> Array3<bool> {
    neighbourhood(a.shape(), true, |p| p.is_some_and(|p| a[p]))
}

/// Mask voxels whose whole 3×3(×3) neighbourhood (along the axes with more than one voxel)
/// lies inside the grid and the mask.
pub fn interior_of(mask: &Array3<bool>) -> Array3<bool> {
    neighbourhood(mask.shape(), false, |p| p.is_some_and(|p| mask[p]))
}
