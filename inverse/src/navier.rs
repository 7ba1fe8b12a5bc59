//! The vector (Navier) forward model of the measured-boundary inversion.
//!
//! [`NavierForward`] predicts all displacement components together with the mixed
//! displacement–pressure MAC solver of [`mre_solver::wave::NavierSolver`]:
//! `∇·[G* (∇u + ∇uᵀ)] + ∇(λ ∇·u) + ρ ω² u = 0` with `λ = K − 2G*/3`, the pressure
//! `p = −λ ∇·u` an unknown field. On a slice (`nz = 1`, or any axis with one voxel) this is
//! 2-D plane strain in the plane of the slice; the out-of-plane component, when measured,
//! obeys the scalar equation and is predicted too.
//!
//! # Drive: the measured boundary
//! As [`crate::WaveForward`]: the unknowns are the mask voxels whose whole 3×3(×3)
//! neighbourhood lies in the mask ([`ForwardModel::predicted`]); every other voxel is
//! prescribed. On the staggered grid the prescribed unknowns are faces: a face between two
//! mask voxels takes the mean of their measured values (the linear interpolation at the
//! face, exact to second order: this matters, the face between a prescribed and a predicted
//! voxel sits half a voxel from the prescribed centre), a face with one mask voxel takes its
//! value, other faces 0. Every component of every axis with more than one voxel must be
//! measured; out-of-plane components of a slice may be missing (they decouple and are
//! predicted as 0, not compared with anything).
//!
//! # Compressibility and the pressure gauge
//! With displacements prescribed on a closed surface, the incompressible problem
//! (`λ = ∞`) has two defects: the pressure is determined only up to a constant (the
//! hydrostatic mode of a sealed box), and noisy boundary data are not divergence-compatible
//! (`∮ u·n ≠ 0` has no divergence-free interior solution). This model keeps `K` large but
//! finite: the compliance row `∇·u + p/λ = 0` then fixes the constant pressure (its
//! condition grows like `K/G`: measured pressure errors ~3e-10 at `K/G = 10⁶`, see the
//! solver documentation) and the boundary flux of the noise is taken up by a uniform
//! dilatation `∇·u ≈ ∮u·n / V`, a displacement of the size of the noise's mean normal
//! component, not an amplified one. The default [`TISSUE_BULK_MODULUS_PA`] (2.2 GPa, water
//! and soft tissue, `K/G ~ 10⁶`) is the nearly incompressible limit: compressional waves are
//! metres long and the prediction no longer depends on `K` (the shear response is free of
//! locking). A compressible material (e.g. a phantom with Poisson ratio 0.3) needs its bulk
//! modulus: [`NavierForward::with_bulk_modulus`], or inferred as a nuisance parameter
//! ([`crate::bulk`]: [`crate::forward::Moduli::bulk_modulus_pa`] overrides the model's own
//! value, and the gradient has its `∂J/∂K`). A bulk modulus so large that the hydrostatic
//! mode cannot be resolved (`K/G > 10¹⁰` anywhere) is refused rather than solved badly.
//!
//! # Cost and gradient
//! One sparse LU per frequency and evaluation serves the prediction of every component and
//! the adjoint solve; the symbolic analysis is made once and shared by every evaluation
//! ([`NavierSolver::refactored`]). The gradient with respect to G' and G'' per voxel is one
//! adjoint solve and one sweep over the voxels and edges
//! ([`NavierSolver::modulus_gradient`]).
//!
//! 3-D grids above [`mre_solver::wave::AUTO_NAVIER_DIRECT_MAX_VOXELS_3D`] voxels (the LU's fill
//! grows like `N^{5/3}`: 24³ takes 4 GB) are solved iteratively instead
//! ([`NavierForward::with_solver`]: [`NavierIterative`], IDR(4) with the block preconditioner,
//! to [`ITERATIVE_TOLERANCE`]; about 5 kB per voxel, 30 s per solve at 48³ on one core). Every
//! operation is the same linear algebra — the prediction with the measured faces, the tangents
//! `K⁻¹ r`, the adjoint `K⁻ᴴ y = conj(K⁻¹ conj y)` — so the results agree with the LU's to the
//! tolerance; each solve is an iteration instead of a triangular solve with a kept factor.

use std::sync::{Arc, Mutex};

use mre_solver::model::phantom::Grid;
use mre_solver::wave::{
    Boundary, IterativeOptions, Medium, NavierFields, NavierIterative, NavierSolver, NavierWaveSolver, SolverChoice, VectorDirichlet,
    VectorProblem,
};
use ndarray::Array3;
use num_complex::Complex64;

use crate::data::Measurements;
use crate::error::{InverseError, Result};
use crate::forward::{check_moduli, interior_of, FieldObjective, ForwardModel, Moduli, ModuliGradient};

/// Bulk modulus of water and soft tissue, Pa: the nearly incompressible default of [`NavierForward`].
pub const TISSUE_BULK_MODULUS_PA: f64 = 2.2e9;

/// Largest `K/|G*|` the sealed-box pressure mode can be resolved at (see the module documentation).
pub const MAX_BULK_TO_SHEAR: f64 = 1e10;

/// Relative residual of the iterative solves of [`NavierForward`] (3-D grids above
/// [`mre_solver::wave::AUTO_NAVIER_DIRECT_MAX_VOXELS_3D`] voxels): predictions, tangents and
/// adjoints to 1e-9, far below any measurement noise, so that the objective differences the
/// optimiser compares are not those of the solver. Not tighter: the rounding floor of the
/// sealed, nearly incompressible measured-boundary system is near 1e-10 (measured 1.6e-10 on
/// the 40³ volume of `configs/brain-3d.toml`).
pub const ITERATIVE_TOLERANCE: f64 = 1e-9;

/// Predicted fields, one per data component.
pub type Fields = Vec<Array3<Complex64>>;

/// Grid axis (`0 = z`, `1 = y`, `2 = x`) of each letter of an mre-data `components` string.
pub fn component_axes(components: &str) -> Result<Vec<usize>> {
    components
        .chars()
        .map(|c| match c {
            'z' => Ok(0),
            'y' => Ok(1),
            'x' => Ok(2),
            other => Err(InverseError::invalid("components", format!("letter {other:?} in {components:?}"), "letters from \"xyz\"")),
        })
        .collect()
}

/// Whether data with the component letters `components` on a grid of `shape` carry every
/// in-plane (or, in 3-D, every) displacement component the Navier model needs: a component
/// for each axis with more than one voxel, and at least two such axes.
pub fn navier_supported(shape: [usize; 3], components: &str) -> bool {
    let Ok(axes) = component_axes(components) else { return false };
    let active: Vec<usize> = (0..3).filter(|&a| shape[a] > 1).collect();
    active.len() >= 2 && active.iter().all(|a| axes.contains(a))
}

/// The Navier forward model with the measured boundary prescribed (see the module documentation).
pub struct NavierForward {
    grid: Grid,
    omegas: Vec<f64>,
    density: Array3<f64>,
    interior: Array3<bool>,
    fixed: Array3<bool>,
    /// The data's mask (whose boundary layer carries the prescribed values).
    mask: Array3<bool>,
    /// Grid axis of each data component.
    axes: Vec<usize>,
    /// Prescribed face values per frequency (`[u_z, u_y, u_x]` on their face arrays).
    faces: Vec<[Array3<Complex64>; 3]>,
    bulk_modulus_pa: f64,
    /// Whether the systems are solved iteratively ([`NavierIterative`]) instead of factorised.
    iterative: bool,
    template: Mutex<Option<Arc<NavierSolver>>>,
    /// The last factorisation of each frequency with the moduli it was made for (K resolved):
    /// a Gauss–Newton step's Hessian at the point its line search just evaluated reuses it.
    factors: Mutex<Vec<Option<KeptFactorisation>>>,
    /// Whether [`NavierForward::factorised`] keeps factorisations (see
    /// [`NavierForward::without_kept_factorisations`]).
    keep: bool,
}

/// A factorisation (or iterative solver) and the moduli (with the bulk modulus resolved) it was
/// made for.
type KeptFactorisation = (Moduli, Arc<NavierWaveSolver>);

impl std::fmt::Debug for NavierForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NavierForward")
            .field("grid", &self.grid)
            .field("frequencies", &self.omegas.len())
            .field("component_axes", &self.axes)
            .field("bulk_modulus_pa", &self.bulk_modulus_pa)
            .field("iterative", &self.iterative)
            .field("predicted_voxels", &self.interior.iter().filter(|&&b| b).count())
            .finish_non_exhaustive()
    }
}

impl NavierForward {
    /// The nearly incompressible model ([`TISSUE_BULK_MODULUS_PA`]) of `data`, whose
    /// components are named by the letters of `components` (`"xy"`, `"xyz"`, …, as the
    /// mre-data attribute; `data.wave[:, c]` is component `components[c]`).
    pub fn new(data: &Measurements, components: &str) -> Result<Self> {
        Self::with_bulk_modulus(data, components, TISSUE_BULK_MODULUS_PA)
    }

    /// Like [`NavierForward::new`] with the bulk modulus `bulk_modulus_pa` (Pa, > 0, finite).
    pub fn with_bulk_modulus(data: &Measurements, components: &str, bulk_modulus_pa: f64) -> Result<Self> {
        data.validate()?;
        let axes = component_axes(components)?;
        if axes.len() != data.n_components() {
            return Err(InverseError::invalid(
                "components",
                format!("{components:?} names {} components, /wave has {}", axes.len(), data.n_components()),
                "one letter per component of /wave",
            ));
        }
        let shape = data.grid.shape;
        if !navier_supported(shape, components) {
            let need: String = (0..3).filter(|&a| shape[a] > 1).map(|a| ['z', 'y', 'x'][a]).collect();
            return Err(InverseError::invalid(
                "components",
                format!("the data have the component(s) {components:?} on a {shape:?} grid"),
                format!(
                    "for the Navier model a displacement component along every axis with more than one voxel ({need:?}) on a grid with at least two such axes (use the scalar model otherwise)"
                ),
            ));
        }
        if !(bulk_modulus_pa.is_finite() && bulk_modulus_pa > 0.0) {
            return Err(InverseError::invalid("bulk modulus", bulk_modulus_pa, "a positive, finite bulk modulus in Pa"));
        }
        let interior = interior_of(&data.mask);
        if !interior.iter().any(|&b| b) {
            return Err(InverseError::invalid(
                "/mask",
                "no voxel has its whole 3×3 neighbourhood inside the mask",
                "a mask region at least 3 voxels wide (its boundary layer carries the measured boundary values)",
            ));
        }
        let fixed = interior.mapv(|b| !b);
        let faces = (0..data.n_frequencies())
            .map(|f| {
                let measured: Vec<Array3<Complex64>> = (0..axes.len()).map(|c| data.field(f, c)).collect();
                measured_faces(&axes, &data.mask, |c| measured.get(c))
            })
            .collect();
        let s = shape;
        Ok(Self {
            grid: data.grid.clone(),
            omegas: data.frequencies_hz.iter().map(|f| 2.0 * std::f64::consts::PI * f).collect(),
            density: Array3::from_elem((s[0], s[1], s[2]), data.density_kg_m3),
            interior,
            fixed,
            mask: data.mask.clone(),
            axes,
            faces,
            bulk_modulus_pa,
            iterative: SolverChoice::Auto.is_iterative_navier(&data.grid),
            template: Mutex::new(None),
            factors: Mutex::new(vec![None; data.n_frequencies()]),
            keep: true,
        })
    }

    /// This model keeping no factorisation between calls: for a model whose every frequency is
    /// solved once (the refined grid of [`crate::refine::navier_discretisation_error`]), whose
    /// memory is then that of the factorisations in use, not one per frequency.
    pub fn without_kept_factorisations(mut self) -> Self {
        self.keep = false;
        self
    }

    /// This model with its linear systems solved as `choice` says: [`SolverChoice::Auto`] (the
    /// default) factorises 2-D grids and 3-D grids up to
    /// [`mre_solver::wave::AUTO_NAVIER_DIRECT_MAX_VOXELS_3D`] voxels (sparse LU, [`NavierSolver`])
    /// and solves larger 3-D grids iteratively ([`NavierIterative`] with IDR(4) and the block
    /// preconditioner, to [`ITERATIVE_TOLERANCE`]; memory linear in the voxels instead of
    /// quadratic, each solve a preconditioned iteration instead of a triangular solve).
    pub fn with_solver(mut self, choice: SolverChoice) -> Self {
        self.iterative = choice.is_iterative_navier(&self.grid);
        self
    }

    /// Whether the linear systems are solved iteratively (see [`NavierForward::with_solver`]).
    pub fn is_iterative(&self) -> bool {
        self.iterative
    }

    /// The prescribed face values of frequency `f` (`[u_z, u_y, u_x]`, m).
    pub(crate) fn faces(&self, f: usize) -> &[Array3<Complex64>; 3] {
        &self.faces[f]
    }

    /// Grid axis of each data component.
    pub(crate) fn axes(&self) -> &[usize] {
        &self.axes
    }

    /// The bulk modulus of the model, Pa.
    pub fn bulk_modulus_pa(&self) -> f64 {
        self.bulk_modulus_pa
    }

    /// Angular frequencies, rad/s.
    pub fn omegas(&self) -> &[f64] {
        &self.omegas
    }

    /// The bulk modulus of `m`: its parameter when it has one, else the model's fixed value, Pa.
    pub fn bulk_modulus_of(&self, m: &Moduli) -> f64 {
        m.bulk_modulus_pa.unwrap_or(self.bulk_modulus_pa)
    }

    pub(crate) fn medium(&self, m: &Moduli) -> Result<Medium> {
        check_moduli(m, self.grid.shape)?;
        let k = self.bulk_modulus_of(m);
        if !(k.is_finite() && k > 0.0) {
            return Err(InverseError::NonFinite(format!("trial bulk modulus {k:e} Pa is not positive and finite")));
        }
        let worst = m.storage_pa.iter().zip(&m.loss_pa).map(|(g, l)| g.hypot(*l)).fold(f64::INFINITY, f64::min);
        let stiffest = m.storage_pa.iter().copied().fold(0.0, f64::max);
        if k <= 2.0 * stiffest / 3.0 {
            // A trial point of the optimiser or sampler beyond the model's range: no density there.
            return Err(InverseError::NonFinite(format!(
                "trial G' {stiffest:e} Pa is above 3K/2 = {:e} Pa (λ = K − 2G'/3 must stay positive)",
                1.5 * k
            )));
        }
        if k / worst > MAX_BULK_TO_SHEAR {
            return Err(InverseError::NonFinite(format!(
                "bulk modulus {k:e} Pa is more than {MAX_BULK_TO_SHEAR:e} times the smallest |G*| {worst:e} Pa: the pressure of the sealed measured boundary cannot be resolved (nearly singular incompressible problem)"
            )));
        }
        Ok(Medium {
            grid: self.grid.clone(),
            storage_modulus_pa: m.storage_pa.clone(),
            loss_modulus_pa: m.loss_pa.clone(),
            density_kg_m3: self.density.clone(),
        })
    }

    /// The problem of frequency `f` for `medium` and the bulk modulus `bulk_modulus_pa` (the
    /// one place a [`VectorProblem`] is made).
    pub(crate) fn problem<'a>(&self, medium: &'a Medium, bulk_modulus_pa: f64, f: usize) -> VectorProblem<'a> {
        let s = self.grid.shape;
        let zero = Array3::zeros((s[0], s[1], s[2]));
        VectorProblem {
            medium,
            bulk_modulus_pa: bulk_modulus_pa.into(),
            omega_rad_per_s: self.omegas[f],
            boundary: Boundary::free(),
            dirichlet: Some(VectorDirichlet { mask: self.fixed.clone(), values: [zero.clone(), zero.clone(), zero] }),
        }
    }

    /// Factorise the problem `p` (sharing the symbolic analysis of the first one), or build its
    /// iterative solver.
    fn factorise(&self, p: &VectorProblem) -> Result<NavierWaveSolver> {
        if self.iterative {
            let options = IterativeOptions { tolerance: ITERATIVE_TOLERANCE, ..NavierIterative::default_options_for(p) };
            return Ok(NavierWaveSolver::Iterative(NavierIterative::with_options(p, options)?));
        }
        let poisoned = || InverseError::Inference("forward-model lock poisoned".into());
        let cached = self.template.lock().map_err(|_| poisoned())?.clone();
        let template = match cached {
            Some(t) => t,
            None => {
                let t = Arc::new(NavierSolver::with_threads(p, 1)?);
                let mut guard = self.template.lock().map_err(|_| poisoned())?;
                Arc::clone(guard.get_or_insert(t))
            }
        };
        Ok(NavierWaveSolver::Direct(template.refactored(p)?))
    }

    /// The factorisation of frequency `f` for `moduli` (whose problem is `p`): the one kept
    /// from the last call with the same `f` and moduli, else a new one, which is kept instead
    /// (one per frequency: the memory of `n_frequencies` factorisations; the old one is
    /// released before the new one is made).
    fn factorised(&self, f: usize, moduli: &Moduli, p: &VectorProblem) -> Result<Arc<NavierWaveSolver>> {
        if !self.keep {
            return Ok(Arc::new(self.factorise(p)?));
        }
        let poisoned = || InverseError::Inference("forward-model lock poisoned".into());
        let key = Moduli { bulk_modulus_pa: Some(self.bulk_modulus_of(moduli)), ..moduli.clone() };
        {
            let mut slots = self.factors.lock().map_err(|_| poisoned())?;
            match &slots[f] {
                Some((m, solver)) if *m == key => return Ok(Arc::clone(solver)),
                _ => slots[f] = None,
            }
        }
        let solver = Arc::new(self.factorise(p)?);
        self.factors.lock().map_err(|_| poisoned())?[f] = Some((key, Arc::clone(&solver)));
        Ok(solver)
    }

    /// The solution of frequency `f` for `moduli` on the staggered grid (faces and pressure),
    /// with the solver and the problem's medium for further solves.
    pub fn solve_fields(&self, f: usize, moduli: &Moduli) -> Result<(NavierFields, Medium)> {
        let medium = self.medium(moduli)?;
        let p = self.problem(&medium, self.bulk_modulus_of(moduli), f);
        let solver = self.factorised(f, moduli, &p)?;
        let fields = self.solve_with(f, &solver)?;
        Ok((fields, medium))
    }

    fn solve_with(&self, f: usize, solver: &NavierWaveSolver) -> Result<NavierFields> {
        let s = self.grid.shape;
        let zero = Array3::zeros((s[0], s[1], s[2]));
        Ok(solver.solve_fields_with_face_values(&[zero.clone(), zero.clone(), zero], &self.faces[f])?)
    }

    /// A pressure unit for [`mre_solver::wave::NavierOperator`] (Pa): the mean `|G*|` of
    /// `moduli` over the smallest voxel size, the mean shear stress per voxel.
    pub(crate) fn pressure_scale(&self, moduli: &Moduli) -> f64 {
        let g_mean = moduli.storage_pa.iter().zip(&moduli.loss_pa).map(|(g, l)| g.hypot(*l)).sum::<f64>() / moduli.storage_pa.len() as f64;
        let (h, shape) = (self.grid.voxel_size_m, self.grid.shape);
        let h_min = (0..3).filter(|&a| shape[a] > 1).map(|a| h[a]).fold(f64::INFINITY, f64::min);
        g_mean / h_min
    }

    /// The sensitivities `∂u/∂G'_v` of the predicted components to the storage modulus at
    /// each voxel of `voxels` (linear C-order indices), at `moduli` (m/Pa, data component
    /// order, every voxel): `∂u/∂G'_v = −K⁻¹ (∂K/∂G'_v) u` with one factorisation for all
    /// voxels, the exact local derivative of the operator
    /// ([`mre_solver::wave::VoxelDerivatives`]) and one solve per voxel.
    pub fn storage_sensitivities(&self, f: usize, moduli: &Moduli, voxels: &[usize]) -> Result<Vec<Vec<Array3<Complex64>>>> {
        use mre_solver::wave::{NavierOperator, VoxelDerivatives};
        use rayon::prelude::*;
        let medium = self.medium(moduli)?;
        let p = self.problem(&medium, self.bulk_modulus_of(moduli), f);
        let solver = self.factorised(f, moduli, &p)?;
        let fields = self.solve_with(f, &solver)?;
        let scale = self.pressure_scale(moduli);
        let x = NavierOperator::new(&p, scale)?.unknowns(&fields);
        let derivatives = VoxelDerivatives::new(&p, scale)?;
        voxels
            .par_iter()
            .map(|&v| {
                let mut r =
                    derivatives.apply(v, &x).ok_or_else(|| InverseError::invalid("sensitivity voxel", v, "an index inside the grid"))?;
                r.iter_mut().for_each(|a| *a = -*a);
                Ok(self.components(&solver.solve_operator_rhs(&r, scale)?))
            })
            .collect()
    }

    /// The predicted components `u` of frequency `f` at `theta` and their tangents
    /// `J_k = ∂u/∂θ_k` for every parameter of `param` (data component order): one
    /// factorisation, and per parameter `J_k = −K⁻¹ (∂K/∂θ_k) u` — the operator's exact
    /// derivative along the change of the moduli ([`mre_solver::wave::VoxelDerivatives::apply_direction_add`],
    /// no assembly) and one solve. The change of the moduli along `θ_k` is the central
    /// difference of `param.moduli` with step `step` in θ (exact to `O(step²)`).
    pub fn tangents(
        &self,
        f: usize,
        param: &dyn crate::param::Parameterisation,
        theta: &[f64],
        step: f64,
    ) -> Result<(Fields, Vec<Fields>)> {
        use mre_solver::wave::{NavierOperator, VoxelDerivatives};
        use rayon::prelude::*;
        let moduli = param.moduli(theta);
        let medium = self.medium(&moduli)?;
        let p = self.problem(&medium, self.bulk_modulus_of(&moduli), f);
        let solver = self.factorised(f, &moduli, &p)?;
        let fields = self.solve_with(f, &solver)?;
        let scale = self.pressure_scale(&moduli);
        let x = NavierOperator::new(&p, scale)?.unknowns(&fields);
        let derivatives = VoxelDerivatives::new(&p, scale)?;
        let tangents = (0..theta.len())
            .into_par_iter()
            .map(|k| {
                let (mut tp, mut tm) = (theta.to_vec(), theta.to_vec());
                tp[k] += step;
                tm[k] -= step;
                let (mp, mm) = (param.moduli(&tp), param.moduli(&tm));
                let d = |a: f64, b: f64| (a - b) / (2.0 * step);
                let dg: Vec<Complex64> = mp
                    .storage_pa
                    .iter()
                    .zip(&mm.storage_pa)
                    .zip(mp.loss_pa.iter().zip(&mm.loss_pa))
                    .map(|((sp, sm), (lp, lm))| Complex64::new(d(*sp, *sm), d(*lp, *lm)))
                    .collect();
                let dk = vec![d(self.bulk_modulus_of(&mp), self.bulk_modulus_of(&mm)); dg.len()];
                let mut r = vec![Complex64::new(0.0, 0.0); x.len()];
                derivatives.apply_direction_add(&dg, &dk, &x, &mut r)?;
                r.iter_mut().for_each(|a| *a = -*a);
                Ok(self.components(&solver.solve_operator_rhs(&r, scale)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((self.components(&fields), tangents))
    }

    /// The model's response to boundary data alone: for every replicate of `noise`
    /// (`[replicate][f][c]`, in data component order) the prediction with those fields as the
    /// measured boundary values, at `moduli` — one factorisation per frequency for all
    /// replicates (the model check's null, [`crate::model_check::NoiseResponse`]).
    pub fn noise_response(&self, moduli: &Moduli, noise: &crate::model_check::Replicates) -> Result<crate::model_check::Replicates> {
        use rayon::prelude::*;
        let medium = self.medium(moduli)?;
        let per_f = (0..self.omegas.len())
            .into_par_iter()
            .map(|f| {
                let p = self.problem(&medium, self.bulk_modulus_of(moduli), f);
                let solver = self.factorised(f, moduli, &p)?;
                noise.iter().map(|per_k| self.predict_from(&solver, |c| per_k.get(f).and_then(|fc| fc.get(c)))).collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((0..noise.len()).map(|k| per_f.iter().map(|r| r[k].clone()).collect()).collect())
    }

    /// The measured voxels whose values enter the prescribed faces the prediction depends on:
    /// the mask voxels that are not predicted and lie in the 3×3(×3) neighbourhood of a
    /// predicted voxel, and the predicted voxels with a face neighbour that is not predicted
    /// (the prescribed face between them takes the mean of both). Linear C-order indices,
    /// ascending; the second value says whether the voxel is predicted.
    pub fn boundary_sources(&self) -> Vec<(usize, bool)> {
        let near = crate::forward::dilate(&self.interior);
        let sh = self.grid.shape;
        let face_fixed = |p: [usize; 3]| {
            (0..3).filter(|&a| sh[a] > 1).any(|a| {
                [p[a].checked_sub(1), (p[a] + 1 < sh[a]).then_some(p[a] + 1)].into_iter().flatten().any(|k| {
                    let mut q = p;
                    q[a] = k;
                    !self.interior[q]
                })
            })
        };
        self.mask
            .indexed_iter()
            .enumerate()
            .filter_map(|(i, ((z, y, x), &m))| {
                let p = [z, y, x];
                if !m {
                    return None;
                }
                if self.interior[p] {
                    face_fixed(p).then_some((i, true))
                } else {
                    near[p].then_some((i, false))
                }
            })
            .collect()
    }

    /// The prediction's response to the measured boundary values: for every voxel of `sources`
    /// and data component `c` (entry `s · components + c`), the prediction of every data
    /// component on the voxels `rows` (linear indices; entry `c' · rows.len() + p`) with a unit
    /// measured value at that voxel and component and 0 elsewhere, at `moduli` — one
    /// factorisation for all (the noise of the boundary values in the approximation-error
    /// model, [`crate::model_error::navier_model_error_state`]).
    pub fn boundary_response(&self, f: usize, moduli: &Moduli, sources: &[usize], rows: &[usize]) -> Result<Vec<Vec<Complex64>>> {
        let medium = self.medium(moduli)?;
        let p = self.problem(&medium, self.bulk_modulus_of(moduli), f);
        let solver = self.factorised(f, moduli, &p)?;
        let s = self.grid.shape;
        let mut unit = Array3::<Complex64>::zeros((s[0], s[1], s[2]));
        let mut out = Vec::with_capacity(sources.len() * self.axes.len());
        for &v in sources {
            unit.as_slice_mut().expect("standard layout")[v] = Complex64::new(1.0, 0.0);
            for c in 0..self.axes.len() {
                let predicted = self.predict_from(&solver, |k| (k == c).then_some(&unit))?;
                let mut col = Vec::with_capacity(predicted.len() * rows.len());
                for u in &predicted {
                    let u = u.as_slice().expect("standard layout");
                    col.extend(rows.iter().map(|&i| u[i]));
                }
                out.push(col);
            }
            unit.as_slice_mut().expect("standard layout")[v] = Complex64::new(0.0, 0.0);
        }
        Ok(out)
    }

    /// The prediction (data components) with `measured(c)` as the measured values of data
    /// component `c` (`None`: 0), solved with `solver`.
    fn predict_from<'a>(
        &self,
        solver: &NavierWaveSolver,
        measured: impl Fn(usize) -> Option<&'a Array3<Complex64>>,
    ) -> Result<Vec<Array3<Complex64>>> {
        let s = self.grid.shape;
        let zero = Array3::<Complex64>::zeros((s[0], s[1], s[2]));
        let faces = measured_faces(&self.axes, &self.mask, measured);
        let fields = solver.solve_fields_with_face_values(&[zero.clone(), zero.clone(), zero], &faces)?;
        Ok(self.components(&fields))
    }

    /// `∂J/∂K` from the forward `fields` and the conjugated adjoint `w` of
    /// [`NavierSolver::solve_adjoint_fields`]: `K` enters the operator only through the
    /// compliance diagonal `V/λ_v` of every voxel's pressure row (`λ_v = K − 2G*_v/3`, `V` the
    /// voxel volume; no absorbing layers in this model), whose derivative is `−V/λ_v²`, so
    /// `∂J/∂K = −Re Σ_v (−V/λ_v²) p_v w_v = Re Σ_v V p_v w_v / λ_v²` (pressures in Pa: the
    /// solver's pressure scaling cancels).
    pub(crate) fn bulk_gradient(&self, medium: &Medium, k: f64, fields: &NavierFields, w: &NavierFields) -> f64 {
        let h = self.grid.voxel_size_m;
        let vol = h[0] * h[1] * h[2];
        let g = medium.complex_modulus();
        let mut sum = Complex64::new(0.0, 0.0);
        for ((&p, &q), &gv) in fields.pressure_pa.iter().zip(&w.pressure_pa).zip(&g) {
            let lambda = Complex64::new(k, 0.0) - gv * (2.0 / 3.0);
            sum += p * q / (lambda * lambda);
        }
        vol * sum.re
    }

    /// The measured components of the centre displacement of `fields`, in data order.
    pub(crate) fn components(&self, fields: &NavierFields) -> Vec<Array3<Complex64>> {
        let centres = fields.centres();
        self.axes.iter().map(|&a| centres[a].clone()).collect()
    }
}

/// The prescribed face values of the three displacement components from `measured(c)`, the
/// values of data component `c` (on grid axis `axes[c]`; `None`, or an axis without a
/// component: 0), see [`face_values`].
fn measured_faces<'a>(
    axes: &[usize],
    mask: &Array3<bool>,
    measured: impl Fn(usize) -> Option<&'a Array3<Complex64>>,
) -> [Array3<Complex64>; 3] {
    [0, 1, 2].map(|a| face_values(axes.iter().position(|&b| b == a).and_then(&measured), mask, a))
}

/// Prescribed values of `u_a` on its face array: the mean of the two voxels' values where both
/// are in the mask, the one mask voxel's value where only one is, 0 elsewhere. `measured`
/// `None` (an out-of-plane component that was not measured): 0.
fn face_values(measured: Option<&Array3<Complex64>>, mask: &Array3<bool>, a: usize) -> Array3<Complex64> {
    let sh = mask.shape();
    let sh = [sh[0], sh[1], sh[2]];
    let active = sh[a] > 1;
    let mut fs = sh;
    if active {
        fs[a] += 1;
    }
    let Some(u) = measured else { return Array3::zeros((fs[0], fs[1], fs[2])) };
    Array3::from_shape_fn((fs[0], fs[1], fs[2]), |(z, y, x)| {
        let pos = [z, y, x];
        if !active {
            return if mask[pos] { u[pos] } else { Complex64::new(0.0, 0.0) };
        }
        let k = pos[a];
        let mut sum = Complex64::new(0.0, 0.0);
        let mut n = 0.0;
        for v in [k.checked_sub(1), (k < sh[a]).then_some(k)].into_iter().flatten() {
            let mut q = pos;
            q[a] = v;
            if mask[q] {
                sum += u[q];
                n += 1.0;
            }
        }
        if n > 0.0 {
            sum / n
        } else {
            sum
        }
    })
}

impl ForwardModel for NavierForward {
    fn grid(&self) -> &Grid {
        &self.grid
    }
    fn n_frequencies(&self) -> usize {
        self.omegas.len()
    }
    fn n_components(&self) -> usize {
        self.axes.len()
    }
    fn predict(&self, f: usize, moduli: &Moduli) -> Result<Vec<Array3<Complex64>>> {
        let (fields, _) = self.solve_fields(f, moduli)?;
        Ok(self.components(&fields))
    }
    fn objective_gradient(&self, f: usize, moduli: &Moduli, objective: &FieldObjective<'_>) -> Result<(f64, ModuliGradient)> {
        let medium = self.medium(moduli)?;
        let k = self.bulk_modulus_of(moduli);
        let p = self.problem(&medium, k, f);
        let solver = self.factorised(f, moduli, &p)?;
        let fields = self.solve_with(f, &solver)?;
        let (value, dj_du) = objective(f, &self.components(&fields));
        let s = self.grid.shape;
        let mut rhs = [0, 1, 2].map(|_| Array3::zeros((s[0], s[1], s[2])));
        for (&a, r) in self.axes.iter().zip(&dj_du) {
            rhs[a] += r;
        }
        // As `NavierSolver::modulus_gradient`, keeping the adjoint for the bulk modulus.
        let mut mu = solver.solve_adjoint_fields(&rhs)?;
        for face in mu.faces.iter_mut() {
            face.mapv_inplace(|v| v.conj());
        }
        mu.pressure_pa.mapv_inplace(|v| v.conj());
        let c = solver.modulus_sensitivity(&p, &fields, &mu)?;
        let bulk_modulus = match moduli.bulk_modulus_pa {
            Some(_) => self.bulk_gradient(&medium, k, &fields, &mu),
            None => 0.0,
        };
        Ok((value, ModuliGradient { storage: c.mapv(|c| -c.re), loss: c.mapv(|c| c.im), bulk_modulus }))
    }
    fn predicted(&self) -> &Array3<bool> {
        &self.interior
    }
}
