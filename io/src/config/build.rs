//! The schema → the domain types of mre-solver, validated once: every check names the
//! config key (and so the file and line) it is about. The conversions live here and only
//! here; `sequence` builds the acquisition.

use mre_solver::limits;
use mre_solver::model::motion::{Displacement, HarmonicField, NoMotion, PlaneShearWave};
use mre_solver::model::phantom::{Grid, Inclusion, InclusionShape, Phantom, Tissue};
use mre_solver::model::scanner::Scanner;
use mre_solver::units::Axis;
use mre_solver::wave::{Boundary, DrivenWave, Face, FaceCondition, Medium, Scheme, SolverChoice, WaveEquation};
use mre_solver::{Integration, KernelChoice, Precision, SimulationOptions, SolverError};
use num_complex::Complex64;

use super::{
    BuiltRun, ConfigError, IntegrationConfig, KernelConfig, MotionSource, PrecisionConfig, RunConfig, ShapeKind, SizeError, Source,
    WaveEquationConfig, WaveScheme, WaveSolverChoice,
};

impl From<WaveScheme> for Scheme {
    fn from(s: WaveScheme) -> Self {
        match s {
            WaveScheme::Compact => Self::Compact,
            WaveScheme::Standard => Self::Standard,
        }
    }
}

impl From<WaveSolverChoice> for SolverChoice {
    fn from(s: WaveSolverChoice) -> Self {
        match s {
            WaveSolverChoice::Auto => Self::Auto,
            WaveSolverChoice::Direct => Self::Direct,
            WaveSolverChoice::Iterative => Self::Iterative,
        }
    }
}

/// The motion of a run: a displacement per frequency (none yet when the wave is still to be
/// solved), the wave set-up for `source = "wave"`, the density written to `/acquisition` (kg/m³).
type BuiltMotion = (Vec<Box<dyn Displacement>>, Option<DrivenWave>, f64);

impl RunConfig {
    /// Validate and build the domain objects.
    ///
    /// Before any array is made, the run's size is estimated from the config
    /// ([`RunConfig::size`]) and refused when it overflows or does not fit the memory budget
    /// ([`mre_solver::limits`]); once built, it is estimated and checked again with the tissue
    /// voxels counted and the acquisition read ([`BuiltRun::estimate`]). The errors name the
    /// key that makes the run large and the estimate.
    pub fn build(&self, src: &Source) -> Result<BuiltRun, ConfigError> {
        self.check_invert(src)?;
        let threads = self.simulation.threads;
        limits::check_threads("threads", threads).map_err(|m| src.error("simulation.threads", m))?;
        let fits = |e: SizeError| src.error(e.key, e.message);
        self.size().estimate().and_then(|e| e.check()).map_err(fits)?;
        let phantom = self.build_phantom(src)?;
        let (motion, wave, density) = self.build_motion(src, &phantom)?;
        let scanner = self.build_scanner(src)?;
        let sequence = match &self.sequence.pulseq {
            Some(files) => self.pulseq_sequence(src, files, &phantom)?,
            None => self.builtin_sequence(src, &self.phantom, &self.motion, &phantom, &scanner)?,
        };
        let options = self.build_options(src, &scanner)?;
        let built = BuiltRun {
            phantom,
            frequencies_hz: self.motion.frequencies_hz.clone(),
            motion,
            sequence,
            scanner,
            options,
            density_kg_m3: density,
            wave,
        };
        built.estimate(threads).and_then(|e| e.check()).map_err(fits)?;
        Ok(built)
    }

    /// `[invert]`: the Bayes-only keys with a classic method, counts below their minimum.
    fn check_invert(&self, src: &Source) -> Result<(), ConfigError> {
        if let Some(inv) = self.invert.as_ref().filter(|i| i.method != mre_inverse::options::Method::Bayes) {
            if let Some(key) = inv.bayes_keys().first() {
                return Err(src.error(&format!("invert.{key}"), "only used with method = \"bayes\""));
            }
        }
        if let Some(inv) = &self.invert {
            // The same check as the command line's (`BayesOptions::validate`).
            let as_u64 = |v: Option<usize>| v.map(|v| v as u64);
            mre_inverse::options::check_counts(as_u64(inv.chains), inv.tune, inv.draws, as_u64(inv.field_spacing))
                .map_err(|e| src.error(&format!("invert.{}", e.key), format!("must be {}", e.expected)))?;
            mre_inverse::options::check_positive(&[
                ("prior_storage_pa", inv.prior_storage_pa),
                ("prior_loss_pa", inv.prior_loss_pa),
                ("prior_log_std", inv.prior_log_std),
                ("smoothness", inv.smoothness),
            ])
            .map_err(|(key, v)| src.error(&format!("invert.{key}"), format!("{v}: expected a positive finite number")))?;
        }
        Ok(())
    }

    /// `[phantom]` and `[[tissue]]` → the phantom (its grid, label map and tissues).
    fn build_phantom(&self, src: &Source) -> Result<Phantom, ConfigError> {
        let p = &self.phantom;
        let grid = Grid::new(p.shape, p.voxel_size_m).map_err(|e| {
            let key = if e.to_string().contains("shape") { "phantom.shape" } else { "phantom.voxel_size_m" };
            src.solver(key, e)
        })?;
        if self.tissues.is_empty() {
            return Err(src.error("tissue", "no [[tissue]] tables: at least one tissue is expected"));
        }
        let mut tissues = Vec::new();
        for (i, t) in self.tissues.iter().enumerate() {
            let bulk_modulus_pa = tissue_bulk_modulus(src, i, t)?;
            let tissue = Tissue {
                name: t.name.clone(),
                label: t.label.unwrap_or(i as u16 + 1),
                proton_density: t.proton_density,
                t1_s: t.t1_s,
                t2_s: t.t2_s,
                off_resonance_hz: t.off_resonance_hz,
                storage_modulus_pa: t.storage_modulus_pa,
                loss_modulus_pa: t.loss_modulus_pa,
                density_kg_m3: t.density_kg_m3,
                bulk_modulus_pa,
            };
            tissue.validate().map_err(|e| {
                let field = match &e {
                    SolverError::InvalidParameter { name, .. } => name.rsplit(' ').next().unwrap_or("").to_string(),
                    _ => String::new(),
                };
                src.solver(&format!("tissue[{i}].{field}"), e)
            })?;
            if tissues.iter().any(|o: &Tissue| o.name == tissue.name) {
                return Err(src.error(&format!("tissue[{i}].name"), format!("'{}' is used by two tissues: names must be unique", t.name)));
            }
            tissues.push(tissue);
        }
        let labels = if let Some(f) = &p.labels_file {
            if p.background.is_some() || !p.inclusions.is_empty() {
                return Err(src.error("phantom.labels_file", "give either labels_file or background/inclusion shapes, not both"));
            }
            let path = src.dir.join(f);
            let l = crate::hdf5::read_labels(&path, &p.labels_dataset).map_err(|e| src.error("phantom.labels_file", e.to_string()))?;
            if l.shape() != p.shape {
                return Err(
                    src.error("phantom.shape", format!("{:?} does not match the label map {:?} in {}", p.shape, l.shape(), path.display()))
                );
            }
            l
        } else {
            let bg = match &p.background {
                Some(b) => label_of(src, &tissues, b, "phantom.background")?,
                None => 0,
            };
            let mut incs = Vec::new();
            for (i, inc) in p.inclusions.iter().enumerate() {
                let key = |k: &str| format!("phantom.inclusion[{i}].{k}");
                let label = label_of(src, &tissues, &inc.tissue, &key("tissue"))?;
                let radius = |r: Option<f64>| -> Result<f64, ConfigError> {
                    match r {
                        Some(r) if r > 0.0 && r.is_finite() => Ok(r),
                        Some(r) => Err(src.error(&key("radius_m"), format!("{r} is invalid: expected a positive radius in m"))),
                        None => Err(src.error(&key("radius_m"), "missing: a cylinder or sphere needs radius_m")),
                    }
                };
                let shape = match inc.shape {
                    ShapeKind::Sphere => InclusionShape::Sphere { radius_m: radius(inc.radius_m)? },
                    ShapeKind::Cylinder => {
                        let a = inc.axis.as_deref().unwrap_or("z");
                        let axis = Axis::parse(a)
                            .ok_or_else(|| src.error(&key("axis"), format!("'{a}' is invalid: expected \"x\", \"y\" or \"z\"")))?;
                        InclusionShape::Cylinder { radius_m: radius(inc.radius_m)?, axis: axis.index() }
                    }
                    ShapeKind::Box => {
                        let h = inc
                            .half_size_zyx_m
                            .ok_or_else(|| src.error(&key("half_size_zyx_m"), "missing: a box needs half_size_zyx_m"))?;
                        if h.iter().any(|v| v.is_nan() || *v <= 0.0) {
                            return Err(src.error(&key("half_size_zyx_m"), format!("{h:?} is invalid: expected positive half sizes in m")));
                        }
                        InclusionShape::Box { half_size_m: h }
                    }
                };
                incs.push(Inclusion { shape, centre_m: inc.center_zyx_m, label });
            }
            Phantom::from_shapes(grid.clone(), bg, &incs)
        };
        let phantom = Phantom { grid, labels, tissues, spins_per_voxel: p.spins_per_voxel, jitter: p.jitter, seed: p.seed };
        phantom.validate().map_err(|e| {
            let key = if e.to_string().contains("spins_per_voxel") { "phantom.spins_per_voxel" } else { "phantom" };
            src.solver(key, e)
        })?;
        Ok(phantom)
    }

    /// `[motion]` → the displacement per frequency, or the wave to solve.
    fn build_motion(&self, src: &Source, phantom: &Phantom) -> Result<BuiltMotion, ConfigError> {
        let m = &self.motion;
        if m.frequencies_hz.is_empty() {
            return Err(src.error("motion.frequencies_hz", "empty: expected at least one vibration frequency in Hz"));
        }
        for (i, &f) in m.frequencies_hz.iter().enumerate() {
            if !(f > 0.0 && f.is_finite()) {
                return Err(
                    src.error(&format!("motion.frequencies_hz[{i}]"), format!("{f} is invalid: expected a positive frequency in Hz"))
                );
            }
        }
        // mechanically present tissues
        let present: Vec<&Tissue> = phantom.tissues.iter().filter(|t| phantom.labels.iter().any(|&l| l == t.label)).collect();
        let density = present.first().map_or(1000.0, |t| t.density_kg_m3);
        let navier = m.source == MotionSource::Wave && m.wave.as_ref().is_some_and(|w| w.equation == WaveEquationConfig::Navier);
        if !navier {
            for (i, t) in self.tissues.iter().enumerate() {
                for (key, given) in [("poisson_ratio", t.poisson_ratio.is_some()), ("bulk_modulus_pa", t.bulk_modulus_pa.is_some())] {
                    if given {
                        tracing::warn!(
                            "{}: tissue[{i}].{key} is only used by the Navier motion ([motion.wave] equation = \"navier\"); this run ignores it",
                            src.file
                        );
                    }
                }
            }
        }
        let mut wave = None;
        let motion: Vec<Box<dyn Displacement>> = match m.source {
            MotionSource::Wave => {
                wave = Some(self.driven_wave(src, phantom)?);
                Vec::new()
            }
            MotionSource::None => m.frequencies_hz.iter().map(|_| Box::new(NoMotion) as Box<dyn Displacement>).collect(),
            MotionSource::PlaneWave => self.plane_wave(src, phantom, &present)?,
            MotionSource::Hdf5 => self.hdf5_motion(src)?,
        };
        Ok((motion, wave, density))
    }

    /// `source = "wave"`: `[motion.wave]` → the actuator-driven wave (solved later, by
    /// [`BuiltRun::prepare`]).
    fn driven_wave(&self, src: &Source, phantom: &Phantom) -> Result<DrivenWave, ConfigError> {
        let m = &self.motion;
        let wc = m
            .wave
            .as_ref()
            .ok_or_else(|| src.error("motion.wave", "missing: source = \"wave\" needs a [motion.wave] table with at least `drive`"))?;
        let amp = m.amplitude_m.ok_or_else(|| src.error("motion.amplitude_m", "missing: the drive amplitude in m"))?;
        if !(amp > 0.0 && amp < 1e-2) {
            return Err(src.error("motion.amplitude_m", format!("{amp} is invalid: expected a drive amplitude between 0 and 1 cm")));
        }
        let pol = m.polarization_zyx.unwrap_or([1.0, 0.0, 0.0]);
        let norm = pol.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return Err(src.error("motion.polarization_zyx", format!("{pol:?} is invalid: expected a non-zero direction")));
        }
        let equation = match wc.equation {
            WaveEquationConfig::Scalar => WaveEquation::Scalar,
            WaveEquationConfig::Navier => WaveEquation::Navier,
        };
        if equation == WaveEquation::Navier && wc.scheme == Some(WaveScheme::Compact) {
            return Err(src.error(
                "motion.wave.scheme",
                "\"compact\" is a scheme of the scalar equation: equation = \"navier\" is solved on its staggered (second-order) grid \
                 only; remove scheme or set it to \"standard\"",
            ));
        }
        let mut boundary = Boundary::free();
        boundary.pml_voxels = wc.pml_voxels;
        let faces = |list: &[String], key: &str| -> Result<Vec<Face>, ConfigError> {
            list.iter()
                .enumerate()
                .map(|(i, f)| {
                    f.parse::<Face>().map_err(|_| {
                        src.error(
                            &format!("motion.wave.{key}[{i}]"),
                            format!("'{f}' is invalid: expected a face like \"x-low\", \"y-high\" or \"z-low\""),
                        )
                    })
                })
                .collect()
        };
        let drive = faces(&wc.drive, "drive")?;
        if drive.is_empty() {
            return Err(src.error("motion.wave.drive", "empty: at least one driven face is needed (otherwise nothing moves)"));
        }
        for (list, key, condition) in [(&wc.absorbing, "absorbing", FaceCondition::Absorbing), (&wc.fixed, "fixed", FaceCondition::Fixed)] {
            for face in faces(list, key)? {
                let (a, s) = face.index();
                boundary.faces[a][s] = condition;
            }
        }
        boundary.validate(&phantom.grid).map_err(|e| src.solver("motion.wave.pml_voxels", e))?;
        Medium::from_phantom(phantom).map_err(|e| src.solver("phantom", e))?;
        Ok(DrivenWave {
            boundary,
            drive,
            amplitude_m: amp,
            polarization: pol.map(|v| v / norm),
            scheme: wc.scheme.unwrap_or_default().into(),
            solver: wc.solver.into(),
            equation,
        })
    }

    /// `source = "plane-wave"`: the analytic plane shear wave in the `medium` tissue
    /// (`present`: the tissues in the label map).
    fn plane_wave(&self, src: &Source, phantom: &Phantom, present: &[&Tissue]) -> Result<Vec<Box<dyn Displacement>>, ConfigError> {
        let m = &self.motion;
        let medium = match &m.medium {
            Some(name) => {
                let l = label_of(src, &phantom.tissues, name, "motion.medium")?;
                phantom.tissues.iter().find(|t| t.label == l).expect("label exists")
            }
            None => {
                let first = present[0];
                let same = |t: &&Tissue| {
                    t.storage_modulus_pa == first.storage_modulus_pa
                        && t.loss_modulus_pa == first.loss_modulus_pa
                        && t.density_kg_m3 == first.density_kg_m3
                };
                if !present.iter().all(same) {
                    return Err(src.error(
                        "motion.medium",
                        "missing: the phantom's tissues differ mechanically, so an analytic plane wave is not its motion; \
                             name the tissue whose G', G'' and density define the wave (medium = \"...\"), \
                             or make the tissues mechanically equal",
                    ));
                }
                first
            }
        };
        let amp = m.amplitude_m.ok_or_else(|| src.error("motion.amplitude_m", "missing: a plane wave needs amplitude_m"))?;
        let prop = m.propagation_zyx.unwrap_or([0.0, 0.0, 1.0]);
        let pol = m.polarization_zyx.unwrap_or([1.0, 0.0, 0.0]);
        let mut out: Vec<Box<dyn Displacement>> = Vec::new();
        for &f in &m.frequencies_hz {
            let w = PlaneShearWave::new(f, medium.storage_modulus_pa, medium.loss_modulus_pa, medium.density_kg_m3, amp, prop, pol)
                .map_err(|e| {
                    let key = match &e {
                        SolverError::InvalidParameter { name, .. } if name.contains("zyx") => format!("motion.{name}"),
                        SolverError::InvalidParameter { name, .. } if name == "amplitude_m" => "motion.amplitude_m".into(),
                        _ => "motion".into(),
                    };
                    src.solver(&key, e)
                })?;
            out.push(Box::new(w));
        }
        Ok(out)
    }

    /// `source = "hdf5"`: the `/wave` of an mre-data file at each frequency.
    fn hdf5_motion(&self, src: &Source) -> Result<Vec<Box<dyn Displacement>>, ConfigError> {
        let m = &self.motion;
        let f = m.file.as_ref().ok_or_else(|| src.error("motion.file", "missing: source = \"hdf5\" needs file = \"path.h5\""))?;
        let path = src.dir.join(f);
        let data = crate::hdf5::read_mre_data(&path).map_err(|e| src.error("motion.file", e.to_string()))?;
        let wave = data.wave.as_ref().ok_or_else(|| src.error("motion.file", format!("{} has no /wave dataset", path.display())))?;
        let sh = wave.shape();
        let wgrid = Grid::new([sh[2], sh[3], sh[4]], data.voxel_size_m).map_err(|e| src.solver("motion.file", e))?;
        let mut out: Vec<Box<dyn Displacement>> = Vec::new();
        for &f in &m.frequencies_hz {
            let fi = data.frequencies_hz.iter().position(|&g| (g - f).abs() <= 1e-9 * f).ok_or_else(|| {
                src.error("motion.frequencies_hz", format!("{f} Hz is not in {} (it has {:?})", path.display(), data.frequencies_hz))
            })?;
            let mut amp = ndarray::Array4::<Complex64>::zeros((3, sh[2], sh[3], sh[4]));
            for (ci, c) in data.components.chars().enumerate() {
                let ax = Axis::parse(&c.to_string()).ok_or_else(|| {
                    src.error(
                        "motion.file",
                        format!("{}: /acquisition components '{}' must be letters x, y, z", path.display(), data.components),
                    )
                })?;
                amp.index_axis_mut(ndarray::Axis(0), ax.index()).assign(&wave.slice(ndarray::s![fi, ci, .., .., ..]));
            }
            out.push(Box::new(HarmonicField::new(wgrid.clone(), amp).map_err(|e| src.solver("motion.file", e))?));
        }
        Ok(out)
    }

    /// `[scanner]` → the scanner limits.
    fn build_scanner(&self, src: &Source) -> Result<Scanner, ConfigError> {
        let sc = &self.scanner;
        let scanner = Scanner {
            max_gradient_t_per_m: sc.max_gradient_t_per_m,
            max_slew_t_per_m_per_s: sc.max_slew_t_per_m_per_s,
            gradient_raster_s: sc.gradient_raster_s,
        };
        if !(sc.field_strength_t > 0.0 && sc.field_strength_t.is_finite()) {
            return Err(src.error(
                "scanner.field_strength_t",
                format!("{} is invalid: expected a positive field strength in T", sc.field_strength_t),
            ));
        }
        scanner.validate().map_err(|e| {
            let key = match &e {
                SolverError::InvalidParameter { name, .. } => format!("scanner.{name}"),
                _ => "scanner".into(),
            };
            src.solver(&key, e)
        })?;
        Ok(scanner)
    }

    /// `[simulation]` → the numerical options (`scanner`: the default raster step).
    fn build_options(&self, src: &Source, scanner: &Scanner) -> Result<SimulationOptions, ConfigError> {
        let sim = &self.simulation;
        let integration = match sim.integration {
            IntegrationConfig::Events => Integration::Events,
            IntegrationConfig::Raster => {
                let st = sim.raster_step_s.unwrap_or(scanner.gradient_raster_s);
                if !(st > 0.0 && st < 1e-2) {
                    return Err(src.error("simulation.raster_step_s", format!("{st} is invalid: expected a positive step below 10 ms")));
                }
                Integration::Raster { step_s: st }
            }
        };
        let kernel = match (sim.kernel, sim.precision) {
            (KernelConfig::Reference, _) => KernelChoice::Reference,
            (KernelConfig::Fast, PrecisionConfig::F32) => KernelChoice::Fast(Precision::F32),
            (KernelConfig::Fast, PrecisionConfig::F64) => KernelChoice::Fast(Precision::F64),
        };
        Ok(SimulationOptions { integration, kernel, unwrap: sim.unwrap })
    }
}

/// Largest `K/|G*|` a tissue may have: beyond it the constant pressure of a sealed box (every
/// face driven, clamped or absorbing) is not resolved by the Navier solver (its factorisation
/// check fails near 10¹²; `wave::navier`). The incompressible limit is `poisson_ratio = 0.5`.
const MAX_BULK_TO_SHEAR: f64 = 1e10;

/// `[[tissue]] poisson_ratio` or `bulk_modulus_pa` (one or the other) → the tissue's bulk
/// modulus, Pa (default [`Tissue::SOFT_TISSUE_BULK_MODULUS_PA`]); `K > 2G'/3` is checked with the
/// tissue ([`Tissue::validate`]).
fn tissue_bulk_modulus(src: &Source, i: usize, t: &super::TissueConfig) -> Result<f64, ConfigError> {
    let key = |k: &str| format!("tissue[{i}].{k}");
    let g = t.storage_modulus_pa.hypot(t.loss_modulus_pa);
    let (k, from) = match (t.poisson_ratio, t.bulk_modulus_pa) {
        (Some(_), Some(_)) => {
            return Err(src.error(
                &key("poisson_ratio"),
                "give either poisson_ratio or bulk_modulus_pa, not both (they say the same: K = 2G'(1 + ν)/(3(1 − 2ν)))",
            ))
        }
        (Some(nu), None) => {
            // G' is checked with the tissue; the ratio needs a valid one first
            if !(t.storage_modulus_pa > 0.0 && t.storage_modulus_pa.is_finite()) {
                return Ok(Tissue::SOFT_TISSUE_BULK_MODULUS_PA);
            }
            let k = Tissue::bulk_modulus_for_poisson_ratio(t.storage_modulus_pa, t.loss_modulus_pa, nu)
                .map_err(|e| src.solver(&key("poisson_ratio"), e))?;
            (k, "poisson_ratio")
        }
        (None, Some(k)) => (k, "bulk_modulus_pa"),
        (None, None) => return Ok(Tissue::SOFT_TISSUE_BULK_MODULUS_PA),
    };
    if k.is_finite() && g.is_finite() && g > 0.0 && k > MAX_BULK_TO_SHEAR * g {
        let advice = if from == "poisson_ratio" { "" } else { "; for the incompressible limit give poisson_ratio = 0.5" };
        return Err(src.error(
            &key(from),
            format!(
                "K = {k:e} Pa is {:.1e} × |G*|: expected at most {MAX_BULK_TO_SHEAR:e} × |G*| (the pressure of a sealed box is not \
                 resolved beyond){advice}",
                k / g
            ),
        ));
    }
    Ok(k)
}

/// The label of the tissue `name` (for `key`), or an error listing the tissues.
fn label_of(src: &Source, tissues: &[Tissue], name: &str, key: &str) -> Result<u16, ConfigError> {
    tissues.iter().find(|t| t.name == name).map(|t| t.label).ok_or_else(|| {
        let names: Vec<&str> = tissues.iter().map(|t| t.name.as_str()).collect();
        src.error(key, format!("unknown tissue '{name}': expected one of {names:?}"))
    })
}
