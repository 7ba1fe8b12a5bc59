//! The domain objects a config builds, ready for [`mre_solver::simulate()`].

use mre_solver::model::motion::Displacement;
use mre_solver::model::phantom::{Grid, Phantom};
use mre_solver::model::scanner::Scanner;
use mre_solver::parallel::{Comm, Serial};
use mre_solver::sequence::{BuiltinMre, MreSequence};
use mre_solver::units::Axis;
use mre_solver::wave::DrivenWave;
use mre_solver::{SimulationOptions, SolverError};
use num_complex::Complex64;

use crate::pulseq::PulseqMre;

/// Domain objects built from a config.
pub struct BuiltRun {
    /// The phantom.
    pub phantom: Phantom,
    /// Frequencies, Hz.
    pub frequencies_hz: Vec<f64>,
    /// Motion per frequency.
    pub motion: Vec<Box<dyn Displacement>>,
    /// The acquisition.
    pub sequence: BuiltSequence,
    /// Scanner.
    pub scanner: Scanner,
    /// Numerical options.
    pub options: SimulationOptions,
    /// Density written to `/acquisition`, kg/m³.
    pub density_kg_m3: f64,
    /// The actuator-driven wave when the motion is solved (`source = "wave"`); its fields are
    /// solved by [`BuiltRun::prepare`].
    pub wave: Option<DrivenWave>,
}

/// The acquisition a run simulates.
#[derive(Debug, Clone)]
pub enum BuiltSequence {
    /// The built-in GRE-MRE along the configured axes.
    Builtin(BuiltinMre),
    /// Pulseq files, one per encoded axis.
    Pulseq(Box<PulseqMre>),
}

impl BuiltSequence {
    /// As the simulator's trait object.
    pub fn as_mre(&self) -> &dyn MreSequence {
        match self {
            BuiltSequence::Builtin(b) => b,
            BuiltSequence::Pulseq(p) => p.as_ref(),
        }
    }

    /// The encoded components.
    pub fn components(&self) -> Vec<Axis> {
        self.as_mre().components()
    }
}

impl BuiltRun {
    /// Do the expensive part of the set-up that `check` skips: solve the wave
    /// equation for every frequency when `source = "wave"` (rayon over
    /// frequencies). A no-op for the other motion sources.
    pub fn prepare(&mut self) -> Result<(), SolverError> {
        self.prepare_with(&Serial)
    }

    /// [`BuiltRun::prepare`] across the ranks of `comm` ([`DrivenWave::solve_with`]: frequency
    /// `i` is solved on rank `i mod size` and broadcast to every rank; each simulates all
    /// frequencies for its own isochromats). Every rank must call it; an error on any rank is
    /// returned by all.
    pub fn prepare_with(&mut self, comm: &dyn Comm) -> Result<(), SolverError> {
        let Some(w) = &self.wave else { return Ok(()) };
        if self.motion.len() == self.frequencies_hz.len() {
            return Ok(());
        }
        let fields = w.solve_with(&self.phantom, &self.frequencies_hz, comm)?;
        self.motion = fields.into_iter().map(|f| Box::new(f) as Box<dyn Displacement>).collect();
        Ok(())
    }

    /// Voxels of `grid` (the image grid) whose motion is physical: for a solved
    /// wave, everything except the absorbing layers (PML) and the driven voxel
    /// layers ([`DrivenWave::physical_region`]); None when every voxel counts.
    pub fn physical_region(&self, grid: &Grid) -> Option<ndarray::Array3<bool>> {
        Some(self.wave.as_ref()?.physical_region(&self.phantom.grid, grid))
    }

    /// Restrict the mask (and zero the wave) of a simulation to [`BuiltRun::physical_region`].
    pub fn restrict_to_physical_region(&self, out: &mut mre_solver::SimulationOutput) {
        let Some(region) = self.physical_region(&out.image_grid) else { return };
        ndarray::Zip::from(&mut out.mask).and(&region).for_each(|m, &r| *m &= u8::from(r));
        let mask = out.mask.clone();
        for mut w in out.wave.outer_iter_mut() {
            for mut c in w.outer_iter_mut() {
                ndarray::Zip::from(&mut c).and(&mask).for_each(|v, &m| {
                    if m == 0 {
                        *v = Complex64::new(0.0, 0.0);
                    }
                });
            }
        }
    }

    /// The experiment to hand to [`mre_solver::simulate()`].
    ///
    /// # Panics
    /// If the motion of a `source = "wave"` run was not solved with [`BuiltRun::prepare`].
    pub fn experiment(&self) -> mre_solver::Experiment<'_> {
        assert_eq!(self.motion.len(), self.frequencies_hz.len(), "BuiltRun::prepare must run before experiment()");
        mre_solver::Experiment {
            phantom: &self.phantom,
            frequencies_hz: self.frequencies_hz.clone(),
            motion: self.motion.iter().map(|m| m.as_ref()).collect(),
            sequence: self.sequence.as_mre(),
            scanner: self.scanner.clone(),
        }
    }
}
