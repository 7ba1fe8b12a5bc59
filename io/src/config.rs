//! Typed TOML run configuration.
//!
//! Every table is `deny_unknown_fields`; keys carry their SI unit (`t1_s`,
//! `voxel_size_m`, `amplitude_t_per_m`); vectors are ordered `[z, y, x]` and say so
//! (`propagation_zyx`). [`RunConfig::load`] parses a file, applies `--set`
//! overrides, and [`RunConfig::build`] turns it into solver domain types,
//! validating once. Errors name the file, line, key, value and what was expected.
//!
//! Relative input paths (label maps, wave fields) are relative to the config
//! file's directory; the output path is relative to the working directory.

use std::path::{Path, PathBuf};

use mre_solver::model::motion::{Displacement, HarmonicField, NoMotion, PlaneShearWave};
use mre_solver::model::phantom::{Grid, Inclusion, InclusionShape, Phantom, Tissue};
use mre_solver::model::scanner::Scanner;
use mre_solver::sequence::{BuiltinMre, GreMre, Meg, MreSequence, Polarities, Spoiling};
use mre_solver::units::Axis;

use crate::pulseq::{Label, LabelMap, PulseqMre};
use mre_solver::{Integration, KernelChoice, Precision, SimulationOptions, SolverError};
use num_complex::Complex64;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A configuration error with its location.
#[derive(Debug, Error)]
#[error("{file}{}: {}{message}", line.map(|l| format!(":{l}")).unwrap_or_default(), if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct ConfigError {
    /// The config file (or `--set` for an override).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key, e.g. `tissue[0].t1_s` (empty when the whole file is at fault).
    pub key: String,
    /// What is wrong: the value given and what was expected.
    pub message: String,
}

/// Output settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// HDF5 output path (relative to the working directory); default `out/<config stem>.h5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Write PNG figures beside the HDF5 file.
    #[serde(default = "yes")]
    pub figures: bool,
    /// Write the raw data as an MRD (ISMRMRD HDF5) file `<stem>.mrd.h5` beside the HDF5 file.
    #[serde(default = "yes")]
    pub mrd: bool,
}

fn yes() -> bool {
    true
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self { path: None, figures: true, mrd: true }
    }
}

/// One tissue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TissueConfig {
    /// Name (referenced by `phantom.background`, inclusions and `motion.medium`).
    pub name: String,
    /// Label value (default: position in the list, from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<u16>,
    /// Relative proton density.
    #[serde(default = "one")]
    pub proton_density: f64,
    /// T1, s.
    pub t1_s: f64,
    /// T2, s.
    pub t2_s: f64,
    /// Off-resonance, Hz.
    #[serde(default)]
    pub off_resonance_hz: f64,
    /// Storage modulus G', Pa.
    pub storage_modulus_pa: f64,
    /// Loss modulus G'', Pa.
    #[serde(default)]
    pub loss_modulus_pa: f64,
    /// Density, kg/m³.
    #[serde(default = "water_density")]
    pub density_kg_m3: f64,
}

fn one() -> f64 {
    1.0
}
fn water_density() -> f64 {
    1000.0
}

/// Built-in inclusion shapes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ShapeKind {
    /// Infinite cylinder (`radius_m`, `axis`).
    Cylinder,
    /// Sphere (`radius_m`).
    Sphere,
    /// Axis-aligned box (`half_size_zyx_m`).
    Box,
}

/// An inclusion painted into the phantom.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InclusionConfig {
    /// Shape.
    pub shape: ShapeKind,
    /// Tissue name that fills it.
    pub tissue: String,
    /// Centre `[z, y, x]`, m (grid centre is the origin).
    #[serde(default)]
    pub center_zyx_m: [f64; 3],
    /// Radius for cylinder and sphere, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_m: Option<f64>,
    /// Cylinder axis (`"z"`, `"y"`, `"x"`), default `"z"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axis: Option<String>,
    /// Half sizes of a box `[z, y, x]`, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_size_zyx_m: Option<[f64; 3]>,
}

/// The phantom.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PhantomConfig {
    /// Grid `[nz, ny, nx]` (nz = 1 for 2-D).
    pub shape: [usize; 3],
    /// Voxel size `[dz, dy, dx]`, m.
    pub voxel_size_m: [f64; 3],
    /// Isochromats per voxel.
    #[serde(default = "one_usize")]
    pub spins_per_voxel: usize,
    /// Jitter isochromats uniformly inside their voxel.
    #[serde(default = "yes")]
    pub jitter: bool,
    /// Seed of the jitter.
    #[serde(default)]
    pub seed: u64,
    /// Tissue filling the grid before inclusions (omit for empty background).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    /// Inclusions, painted in order.
    #[serde(default, rename = "inclusion", skip_serializing_if = "Vec::is_empty")]
    pub inclusions: Vec<InclusionConfig>,
    /// HDF5 file with a label map (instead of shapes), relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_file: Option<PathBuf>,
    /// Dataset of the label map.
    #[serde(default = "labels_dataset")]
    pub labels_dataset: String,
}

fn one_usize() -> usize {
    1
}
fn labels_dataset() -> String {
    "/labels".into()
}

/// Where the tissue motion comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MotionSource {
    /// Analytic damped plane shear wave in the `medium` tissue.
    PlaneWave,
    /// `/wave` of an mre-data HDF5 file (`file`).
    Hdf5,
    /// Solved from the phantom's stiffness map by the viscoelastic wave solver (`[motion.wave]`).
    Wave,
    /// No motion.
    None,
}

/// Tissue motion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MotionConfig {
    /// Source of the displacement field.
    pub source: MotionSource,
    /// Vibration frequencies, Hz.
    pub frequencies_hz: Vec<f64>,
    /// Plane wave: amplitude, m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amplitude_m: Option<f64>,
    /// Plane wave: propagation direction `[z, y, x]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation_zyx: Option<[f64; 3]>,
    /// Plane wave: polarisation `[z, y, x]` (perpendicular to propagation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polarization_zyx: Option<[f64; 3]>,
    /// Plane wave: tissue whose G*, ρ set the wavenumber (default: the only
    /// mechanical property set present in the phantom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// HDF5 source file, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Wave solver settings for `source = "wave"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<WaveConfig>,
}

/// Boundary conditions and drive of the wave solver. Faces are named
/// `"x-low"`, `"x-high"`, `"y-low"`, `"y-high"`, `"z-low"`, `"z-high"`; a face
/// not listed is traction-free.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WaveConfig {
    /// Faces driven by the actuator: the voxel layer on the face moves with
    /// `motion.amplitude_m` along `motion.polarization_zyx`, phase 0.
    pub drive: Vec<String>,
    /// Faces with an absorbing layer (PML inside the grid, then u = 0).
    #[serde(default)]
    pub absorbing: Vec<String>,
    /// Clamped faces (u = 0).
    #[serde(default)]
    pub fixed: Vec<String>,
    /// PML thickness, voxels.
    #[serde(default = "pml_voxels")]
    pub pml_voxels: usize,
    /// Spatial discretisation: `"compact"` (fourth order in homogeneous regions, 9-/19-point)
    /// or `"standard"` (second order, 5-/7-point).
    #[serde(default)]
    pub scheme: WaveScheme,
    /// Linear solver: `"auto"` (sparse LU for 2-D and 3-D grids up to 32³, iterative
    /// above), `"direct"` (sparse LU) or `"iterative"` (shifted-Laplacian multigrid GMRES).
    #[serde(default)]
    pub solver: WaveSolverChoice,
}

/// Linear solver of the wave equation.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WaveSolverChoice {
    /// Direct for 2-D and 3-D grids up to 32³ voxels, iterative above.
    #[default]
    Auto,
    /// Sparse LU (faer).
    Direct,
    /// GMRES preconditioned by a complex shifted-Laplacian multigrid cycle.
    Iterative,
}

/// Spatial discretisation of the wave solver (see [`mre_solver::wave::Scheme`]).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WaveScheme {
    /// Fourth order in homogeneous regions (9-point in 2-D, 19-point in 3-D).
    #[default]
    Compact,
    /// Second order (5-point in 2-D, 7-point in 3-D).
    Standard,
}

impl From<WaveScheme> for mre_solver::wave::Scheme {
    fn from(s: WaveScheme) -> Self {
        match s {
            WaveScheme::Compact => Self::Compact,
            WaveScheme::Standard => Self::Standard,
        }
    }
}

fn pml_voxels() -> usize {
    12
}

fn parse_face(name: &str) -> Option<(usize, usize)> {
    let (axis, side) = name.split_once('-')?;
    let a = Axis::parse(axis)?.index();
    let s = match side {
        "low" => 0,
        "high" => 1,
        _ => return None,
    };
    Some((a, s))
}

/// Motion-encoding gradient.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MegConfig {
    /// Encoded axes, each a separate acquisition (`"x"`, `"y"`, `"z"`).
    #[serde(default = "z_axis")]
    pub axes: Vec<String>,
    /// MEG frequency, Hz (default: each vibration frequency, i.e. matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_hz: Option<f64>,
    /// Number of cycles.
    #[serde(default = "one_u32")]
    pub cycles: u32,
    /// Amplitude G0, T/m.
    pub amplitude_t_per_m: f64,
}

fn z_axis() -> Vec<String> {
    vec!["z".into()]
}
fn one_u32() -> u32 {
    1
}

/// Sequence type.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SequenceKind {
    /// Built-in gradient-echo MRE.
    GreMre,
}

/// Polarity selection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PolarityConfig {
    /// + and −.
    Both,
    /// + only.
    Positive,
}

/// Spoiling selection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SpoilingConfig {
    /// Transverse magnetisation zeroed at the end of each TR.
    Ideal,
    /// Spoiler gradient only.
    Gradient,
    /// RF spoiling plus spoiler gradient.
    Rf,
    /// None.
    None,
}

/// One Pulseq file or one per encoded axis.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PulseqFiles {
    /// One file (one encoded component).
    One(PathBuf),
    /// One file per entry of `encoded_axes`.
    Many(Vec<PathBuf>),
}

/// The MRE sequence: the built-in GRE-MRE (the timing keys and `[sequence.meg]`) or a
/// Pulseq file (`pulseq = "file.seq"` with the label keys).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SequenceConfig {
    /// Sequence type.
    #[serde(rename = "type", default = "gre")]
    pub kind: SequenceKind,
    /// TR, s (built-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tr_s: Option<f64>,
    /// TE, s (built-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub te_s: Option<f64>,
    /// Flip angle, degrees (built-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip_angle_deg: Option<f64>,
    /// Acquisition matrix `[nz, ny, nx]` (default: the phantom shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<[usize; 3]>,
    /// Field of view `[z, y, x]`, m (default: the phantom extent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fov_m: Option<[f64; 3]>,
    /// ADC dwell time, s.
    #[serde(default = "dwell")]
    pub readout_dwell_s: f64,
    /// Mechanical phase offsets per period (built-in default 4; Pulseq default: the
    /// largest offset label + 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_offsets: Option<usize>,
    /// MEG polarities.
    #[serde(default = "both")]
    pub polarities: PolarityConfig,
    /// Dummy TRs before acquisition.
    #[serde(default)]
    pub dummy_scans: usize,
    /// Spoiling.
    #[serde(default = "ideal")]
    pub spoiling: SpoilingConfig,
    /// Spoiler strength for `gradient` and `rf` spoiling: phase cycles across a voxel.
    #[serde(default = "four_f")]
    pub spoiler_cycles_per_voxel: f64,
    /// Motion-encoding gradient (built-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meg: Option<MegConfig>,
    /// Pulseq file(s) to simulate instead of the built-in sequence, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulseq: Option<PulseqFiles>,
    /// Pulseq: the displacement component each file encodes (default `["z"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_axes: Option<Vec<String>>,
    /// Pulseq: label of the mechanical phase offset index (default `"PHS"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_label: Option<String>,
    /// Pulseq: label of the MEG polarity, 0 = + and 1 = − (default `"SET"`; `"none"`: + only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polarity_label: Option<String>,
    /// Pulseq: label of the phase-encoding line (default `"LIN"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_label: Option<String>,
    /// Pulseq: label of the partition (default `"PAR"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_label: Option<String>,
    /// Pulseq: motion phase at a TRIGGER: `"offset-label"` (2πk/N, default) or `"zero"`
    /// (the file's delays after the trigger set the offsets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_phase: Option<TriggerPhase>,
}

/// Motion phase at a Pulseq TRIGGER.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerPhase {
    /// 2πk/N with k the offset label: the actuator is programmed with the offset.
    OffsetLabel,
    /// 0: the file delays its MEG after the trigger.
    Zero,
}

fn gre() -> SequenceKind {
    SequenceKind::GreMre
}
fn dwell() -> f64 {
    10e-6
}
fn four_f() -> f64 {
    4.0
}
fn both() -> PolarityConfig {
    PolarityConfig::Both
}
fn ideal() -> SpoilingConfig {
    SpoilingConfig::Ideal
}

/// Scanner limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// Maximum gradient amplitude, T/m.
    #[serde(default = "gmax")]
    pub max_gradient_t_per_m: f64,
    /// Maximum slew rate, T/m/s.
    #[serde(default = "smax")]
    pub max_slew_t_per_m_per_s: f64,
    /// Gradient raster, s.
    #[serde(default = "raster")]
    pub gradient_raster_s: f64,
    /// Main field B0, T. Only written to the MRD header: the Bloch simulation runs in the rotating frame.
    #[serde(default = "field_strength")]
    pub field_strength_t: f64,
}

fn gmax() -> f64 {
    Scanner::default().max_gradient_t_per_m
}
fn smax() -> f64 {
    Scanner::default().max_slew_t_per_m_per_s
}
fn raster() -> f64 {
    Scanner::default().gradient_raster_s
}
fn field_strength() -> f64 {
    3.0
}

impl Default for ScannerConfig {
    fn default() -> Self {
        Self {
            max_gradient_t_per_m: gmax(),
            max_slew_t_per_m_per_s: smax(),
            gradient_raster_s: raster(),
            field_strength_t: field_strength(),
        }
    }
}

/// Kernel selection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KernelConfig {
    /// Optimised kernel.
    Fast,
    /// f64 reference kernel.
    Reference,
}

/// Precision selection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PrecisionConfig {
    /// Single.
    F32,
    /// Double.
    F64,
}

/// Integration selection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum IntegrationConfig {
    /// Event to event, closed-form moments.
    Events,
    /// Fixed raster steps.
    Raster,
}

/// Numerical settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimulationConfig {
    /// Kernel.
    #[serde(default = "fast_kernel")]
    pub kernel: KernelConfig,
    /// Precision of the fast kernel.
    #[serde(default = "f32p")]
    pub precision: PrecisionConfig,
    /// Step construction.
    #[serde(default = "events")]
    pub integration: IntegrationConfig,
    /// Raster step for `integration = "raster"`, s (default: the gradient raster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raster_step_s: Option<f64>,
    /// Spatial phase unwrapping before the temporal FFT.
    #[serde(default = "yes")]
    pub unwrap: bool,
    /// Rayon threads (0 = all cores or RAYON_NUM_THREADS).
    #[serde(default)]
    pub threads: usize,
}

fn fast_kernel() -> KernelConfig {
    KernelConfig::Fast
}
fn f32p() -> PrecisionConfig {
    PrecisionConfig::F32
}
fn events() -> IntegrationConfig {
    IntegrationConfig::Events
}

impl Default for SimulationConfig {
    fn default() -> Self {
        Self { kernel: fast_kernel(), precision: f32p(), integration: events(), raster_step_s: None, unwrap: true, threads: 0 }
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Output.
    #[serde(default)]
    pub output: OutputConfig,
    /// Phantom.
    pub phantom: PhantomConfig,
    /// Tissues.
    #[serde(rename = "tissue")]
    pub tissues: Vec<TissueConfig>,
    /// Motion.
    pub motion: MotionConfig,
    /// Sequence.
    pub sequence: SequenceConfig,
    /// Scanner.
    #[serde(default)]
    pub scanner: ScannerConfig,
    /// Simulation.
    #[serde(default)]
    pub simulation: SimulationConfig,
    /// Invert the simulated data after the run (rank 0), like `mre-sim invert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invert: Option<InvertConfig>,
}

/// `[invert]`: an inversion of the simulated data in the same run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InvertConfig {
    /// `"ahi"` (algebraic Helmholtz), `"mdev"` (multifrequency dual elasto-visco) or `"bayes"`
    /// (Bayesian inversion against the wave-equation forward model).
    pub method: InvertMethod,
    /// Filter of the wave field before the inversion: `"none"`, `"gaussian"` or `"butterworth"`.
    #[serde(default)]
    pub filter: InvertFilter,
    /// Result file (mre-result v1); default `<data stem>-<method>.h5` beside the data file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// `"bayes"`: `"regions"` (log G', log G'' per label) or `"field"` (smooth fields);
    /// default regions (the simulated data have labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameterization: Option<InvertParameterization>,
    /// `"bayes"`: `"wave"` (the displacement field) or `"images"` (the motion-encoded images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likelihood: Option<InvertLikelihood>,
    /// `"bayes"`, regions: NUTS chains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chains: Option<usize>,
    /// `"bayes"`, regions: NUTS warm-up draws per chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<u64>,
    /// `"bayes"`: posterior draws per chain (regions) or Laplace draws (field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draws: Option<u64>,
    /// `"bayes"`: random seed of the draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `"bayes"`, field: control-node spacing, voxels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_spacing: Option<usize>,
    /// `"bayes"`: forward model driven by the measured `"boundary"` (default) or by an
    /// `"actuator"` on `drive_faces` with absorbing layers elsewhere (regions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive: Option<InvertDrive>,
    /// `"bayes"` with `drive = "actuator"`: driven faces, e.g. `["x-"]` (`[z, y, x]` grid axes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive_faces: Option<Vec<String>>,
    /// `"bayes"` with region moduli and the measured boundary: the approximation-error model,
    /// `"auto"` (default: the discretisation error from a 3× finer grid and the interface
    /// positions inside their voxels) or `"none"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_error: Option<InvertModelError>,
}

/// Approximation-error model of `[invert] method = "bayes"`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InvertModelError {
    /// Discretisation error from a finer grid and interface uncertainty, where they apply.
    Auto,
    /// The plain model.
    None,
}

/// Forward-model drive of `[invert] method = "bayes"`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InvertDrive {
    /// The measured displacement on the mask's boundary layer is prescribed.
    Boundary,
    /// The whole grid, driven by an actuator plane with absorbing layers elsewhere.
    Actuator,
}

impl InvertConfig {
    /// The keys set that only `method = "bayes"` uses.
    pub fn bayes_keys(&self) -> Vec<&'static str> {
        [
            ("parameterization", self.parameterization.is_some()),
            ("likelihood", self.likelihood.is_some()),
            ("chains", self.chains.is_some()),
            ("tune", self.tune.is_some()),
            ("draws", self.draws.is_some()),
            ("seed", self.seed.is_some()),
            ("field_spacing", self.field_spacing.is_some()),
            ("drive", self.drive.is_some()),
            ("drive_faces", self.drive_faces.is_some()),
            ("model_error", self.model_error.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }
}

/// Parameterisation of `[invert] method = "bayes"`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InvertParameterization {
    /// log G' and log G'' per label (posterior by NUTS).
    Regions,
    /// Smooth log G' and log G'' fields on a control grid (MAP + Laplace).
    Field,
}

/// Likelihood of `[invert] method = "bayes"`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InvertLikelihood {
    /// Complex Gaussian on the displacement field.
    Wave,
    /// Complex Gaussian on the motion-encoded images.
    Images,
}

/// Inversion method of `[invert]`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InvertMethod {
    /// Algebraic Helmholtz inversion.
    Ahi,
    /// Multifrequency dual elasto-visco inversion.
    Mdev,
    /// Bayesian inversion (mre-inverse): posterior mean, standard deviation and intervals.
    Bayes,
}

/// Spatial filter of the wave field before a classic inversion.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InvertFilter {
    /// No filter.
    #[default]
    None,
    /// Gaussian, σ = 1 voxel, inside the mask.
    Gaussian,
    /// Butterworth low-pass, order 4.
    Butterworth,
}

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
    /// Wave-solver setup when the motion is solved (`source = "wave"`), filled in by [`BuiltRun::prepare`].
    pub wave: Option<WaveSetup>,
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

/// What the wave solver needs for `source = "wave"`.
#[derive(Debug, Clone)]
pub struct WaveSetup {
    /// Face conditions and PML.
    pub boundary: mre_solver::wave::Boundary,
    /// Driven faces `(axis, side)`.
    pub drive: Vec<(usize, usize)>,
    /// Drive amplitude, m.
    pub amplitude_m: f64,
    /// Unit polarisation `[z, y, x]`.
    pub polarization: [f64; 3],
    /// Spatial discretisation.
    pub scheme: mre_solver::wave::Scheme,
    /// Linear solver.
    pub solver: WaveSolverChoice,
}

impl BuiltRun {
    /// Do the expensive part of the set-up that `check` skips: solve the wave
    /// equation for every frequency when `source = "wave"` (rayon over
    /// frequencies). A no-op for the other motion sources.
    pub fn prepare(&mut self) -> Result<(), SolverError> {
        self.prepare_with(&mre_solver::parallel::Serial)
    }

    /// [`BuiltRun::prepare`] across the ranks of `comm`: frequency `i` is solved on rank
    /// `i mod size` and broadcast to every rank (each simulates all frequencies for its own
    /// isochromats). Every rank must call it; an error on any rank is returned by all.
    pub fn prepare_with(&mut self, comm: &dyn mre_solver::parallel::Comm) -> Result<(), SolverError> {
        let Some(w) = &self.wave else { return Ok(()) };
        if self.motion.len() == self.frequencies_hz.len() {
            return Ok(());
        }
        let (rank, size) = (comm.rank(), comm.size());
        let nf = self.frequencies_hz.len();
        let mine: Vec<f64> = (0..nf).filter(|i| i % size == rank).map(|i| self.frequencies_hz[i]).collect();
        let solved = solve_waves(&self.phantom, w, &mine);
        if !comm.all_ok(solved.is_ok()) {
            return Err(solved.err().unwrap_or_else(|| {
                SolverError::invalid("wave solve", "failed on another rank", "a solvable wave problem at every frequency")
            }));
        }
        let mut solved = solved?.into_iter();
        let grid = self.phantom.grid.clone();
        let sh = grid.shape;
        let mut fields = Vec::with_capacity(nf);
        for i in 0..nf {
            let field = if size == 1 {
                solved.next().expect("one field per frequency")
            } else {
                let mut buf = if i % size == rank {
                    let f = solved.next().expect("one field per own frequency");
                    f.amplitude_m.iter().flat_map(|c| [c.re, c.im]).collect()
                } else {
                    vec![0.0; 2 * 3 * grid.len()]
                };
                comm.broadcast(i % size, &mut buf);
                let values = buf.chunks_exact(2).map(|p| Complex64::new(p[0], p[1])).collect();
                let amp = ndarray::Array4::from_shape_vec((3, sh[0], sh[1], sh[2]), values).expect("length matches the grid");
                HarmonicField::new(grid.clone(), amp)?
            };
            fields.push(field);
        }
        self.motion = fields.into_iter().map(|f| Box::new(f) as Box<dyn Displacement>).collect();
        Ok(())
    }

    /// Voxels of `grid` (the image grid) whose motion is physical: for a solved
    /// wave, everything except the absorbing layers (PML) and the driven voxel
    /// layers; None when every voxel counts.
    pub fn physical_region(&self, grid: &Grid) -> Option<ndarray::Array3<bool>> {
        let w = self.wave.as_ref()?;
        let pg = &self.phantom.grid;
        let sh = grid.shape;
        Some(ndarray::Array3::from_shape_fn((sh[0], sh[1], sh[2]), |(z, y, x)| {
            let Some(idx) = pg.locate(grid.centre([z, y, x])) else { return false };
            (0..3).all(|a| {
                let n = pg.shape[a];
                if n == 1 {
                    return true;
                }
                (0..2).all(|side| {
                    let depth = if side == 0 { idx[a] } else { n - 1 - idx[a] };
                    let layer = match w.boundary.faces[a][side] {
                        mre_solver::wave::FaceCondition::Absorbing => w.boundary.pml_voxels,
                        _ => 0,
                    }
                    .max(usize::from(w.drive.contains(&(a, side))));
                    depth >= layer
                })
            })
        }))
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

/// Solve the scalar wave equation on the phantom grid for every frequency; the
/// displacement is `polarization · u` with `u` the scalar (antiplane) solution.
pub fn solve_waves(phantom: &Phantom, w: &WaveSetup, frequencies_hz: &[f64]) -> Result<Vec<HarmonicField>, SolverError> {
    use mre_solver::wave::{Dirichlet, IterativeSolver, Medium, ScalarProblem, ScalarSolver, WaveSolver, AUTO_DIRECT_MAX_VOXELS_3D};
    use rayon::prelude::*;
    let medium = Medium::from_phantom(phantom)?;
    let grid = &phantom.grid;
    let sh = grid.shape;
    let mut mask = ndarray::Array3::from_elem((sh[0], sh[1], sh[2]), false);
    for &(axis, side) in &w.drive {
        let index = if side == 0 { 0 } else { sh[axis] - 1 };
        mask.indexed_iter_mut().filter(|((z, y, x), _)| [*z, *y, *x][axis] == index).for_each(|(_, m)| *m = true);
    }
    let values = mask.mapv(|m| if m { Complex64::new(w.amplitude_m, 0.0) } else { Complex64::new(0.0, 0.0) });
    let dirichlet = Dirichlet { mask, values };
    frequencies_hz
        .par_iter()
        .map(|&f| {
            let _span = tracing::info_span!("wave solve", frequency_hz = f).entered();
            let problem = ScalarProblem {
                medium: &medium,
                omega_rad_per_s: 2.0 * std::f64::consts::PI * f,
                boundary: w.boundary.clone(),
                dirichlet: Some(dirichlet.clone()),
                scheme: w.scheme,
            };
            // One thread per factorisation (rayon runs the frequencies in parallel; the
            // iterative solver is sequential): the field is then bit-identical for any
            // thread and rank count.
            let three_d = sh.iter().all(|&n| n > 1);
            let iterative = match w.solver {
                WaveSolverChoice::Auto => three_d && grid.len() > AUTO_DIRECT_MAX_VOXELS_3D,
                WaveSolverChoice::Direct => false,
                WaveSolverChoice::Iterative => true,
            };
            let solver = if iterative {
                WaveSolver::Iterative(IterativeSolver::new(&problem)?)
            } else {
                WaveSolver::Direct(ScalarSolver::with_threads(&problem, 1)?)
            };
            let u = solver.solve(&ndarray::Array3::zeros((sh[0], sh[1], sh[2])))?;
            let mut amp = ndarray::Array4::<Complex64>::zeros((3, sh[0], sh[1], sh[2]));
            for (c, &p) in w.polarization.iter().enumerate() {
                if p != 0.0 {
                    amp.index_axis_mut(ndarray::Axis(0), c).assign(&u.mapv(|v| v * p));
                }
            }
            HarmonicField::new(grid.clone(), amp)
        })
        .collect()
}

/// Source text and name of a config, for error locations.
#[derive(Debug, Clone)]
pub struct Source {
    /// File name as given.
    pub file: String,
    /// Directory that relative input paths are resolved against.
    pub dir: PathBuf,
    /// Raw text.
    pub text: String,
    /// Keys changed by `--set` (dotted).
    pub overridden: Vec<String>,
}

impl Source {
    /// Build an error for `key` (dotted, `tissue[1].t1_s` style), locating its line.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        // `tissue[1].t1_s` and `--set tissue.1.t1_s=…` name the same key; an override of
        // `sequence.fov_m` covers `sequence.fov_m[1]`
        let dotted = |k: &str| k.replace('[', ".").replace(']', "");
        let plain = dotted(key);
        if self.overridden.iter().map(|k| dotted(k)).any(|k| plain == k || plain.starts_with(&format!("{k}."))) {
            return ConfigError { file: "--set".into(), line: None, key: key.into(), message: message.into() };
        }
        ConfigError { file: self.file.clone(), line: locate(&self.text, key), key: key.into(), message: message.into() }
    }
}

/// Find the 1-based line of a dotted key such as `sequence.meg.amplitude_t_per_m`
/// or `tissue[1].t1_s` (a best effort over the raw TOML text).
pub fn locate(text: &str, key: &str) -> Option<usize> {
    // split into table path and leaf, with an optional array index on a table part
    let parts: Vec<&str> = key.split('.').collect();
    let (leaf, tables) = parts.split_last()?;
    let mut header = String::new();
    let mut index = 0usize;
    for t in tables {
        let (name, idx) = match t.find('[') {
            Some(p) => (&t[..p], t[p + 1..t.len() - 1].parse().unwrap_or(0)),
            None => (*t, 0),
        };
        if !header.is_empty() {
            header.push('.');
        }
        header.push_str(name);
        index = idx;
    }
    let leaf_name = leaf.split('[').next().unwrap_or(leaf);
    let mut in_table = tables.is_empty();
    let mut seen = 0usize;
    let mut header_line = None;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            let name = l.trim_start_matches('[').split(']').next().unwrap_or("").trim();
            in_table = false;
            if name == header {
                if l.starts_with("[[") {
                    in_table = seen == index;
                    seen += 1;
                } else {
                    in_table = true;
                }
                if in_table {
                    header_line = Some(i + 1);
                }
            }
            continue;
        }
        if in_table {
            let k = l.split('=').next().unwrap_or("").trim();
            if k == leaf_name {
                return Some(i + 1);
            }
        }
    }
    header_line
}

/// Apply `section.key=value` overrides to a parsed TOML document. The value is
/// parsed as a TOML value; if that fails it is taken as a string.
fn apply_override(doc: &mut toml::Table, assignment: &str) -> Result<String, ConfigError> {
    let bad = |m: String| ConfigError { file: "--set".into(), line: None, key: assignment.into(), message: m };
    let (path, value) = assignment.split_once('=').ok_or_else(|| bad("expected section.key=value".into()))?;
    let path = path.trim();
    let value = value.trim();
    let parsed: toml::Value = match format!("v = {value}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("v"),
        Err(_) => toml::Value::String(value.to_string()),
    };
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(bad("expected a dotted key like sequence.te_s".into()));
    }
    let mut cur = doc;
    for (i, k) in keys[..keys.len() - 1].iter().enumerate() {
        let next = keys[i + 1];
        let entry = cur.entry(k.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            toml::Value::Array(a) => {
                // `tissue.0.t1_s`: numeric index into an array of tables
                let idx: usize = next.parse().map_err(|_| bad(format!("'{k}' is a list: give an index, e.g. {k}.0.{next}")))?;
                let _ = idx;
                return apply_in_array(a, &keys[i + 1..], parsed, assignment);
            }
            _ => return Err(bad(format!("'{k}' is not a table"))),
        };
    }
    cur.insert(keys[keys.len() - 1].to_string(), parsed);
    Ok(path.to_string())
}

fn apply_in_array(a: &mut [toml::Value], keys: &[&str], value: toml::Value, assignment: &str) -> Result<String, ConfigError> {
    let bad = |m: String| ConfigError { file: "--set".into(), line: None, key: assignment.into(), message: m };
    let idx: usize = keys[0].parse().map_err(|_| bad("expected an index".into()))?;
    let len = a.len();
    let item = a.get_mut(idx).ok_or_else(|| bad(format!("index {idx} is out of range (the list has {len} entries)")))?;
    let toml::Value::Table(t) = item else { return Err(bad("not a table".into())) };
    if keys.len() != 2 {
        return Err(bad("only one key below a list index is supported".into()));
    }
    t.insert(keys[1].to_string(), value);
    Ok(assignment.split('=').next().unwrap_or("").trim().to_string())
}

impl RunConfig {
    /// Parse `path`, apply `overrides` (`section.key=value`), deserialize.
    pub fn load(path: &Path, overrides: &[String]) -> Result<(Self, Source), ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            key: String::new(),
            message: format!("cannot read the config file: {e}"),
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &file, dir, overrides)
    }

    /// Parse config text (see [`RunConfig::load`]).
    pub fn parse(text: &str, file: &str, dir: PathBuf, overrides: &[String]) -> Result<(Self, Source), ConfigError> {
        let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| de_error(file, text, e))?;
        let mut overridden = Vec::new();
        for o in overrides {
            overridden.push(apply_override(&mut doc, o)?);
        }
        let src = Source { file: file.into(), dir, text: text.into(), overridden };
        let mut cfg: RunConfig = if overrides.is_empty() {
            toml::from_str(text).map_err(|e| de_error(file, text, e))?
        } else {
            let merged = toml::to_string(&doc).expect("a TOML table serialises");
            toml::from_str(&merged).map_err(|e| {
                let mut err = de_error(&format!("{file} (with --set overrides)"), &merged, e);
                err.line = None;
                err
            })?
        };
        // the built-in sequence's default, shown in the resolved config (a Pulseq file's
        // offsets come from its labels)
        if cfg.sequence.pulseq.is_none() {
            cfg.sequence.phase_offsets.get_or_insert(4);
        }
        Ok((cfg, src))
    }

    /// The resolved configuration (defaults filled in) as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// Validate and build the domain objects.
    pub fn build(&self, src: &Source) -> Result<BuiltRun, ConfigError> {
        let sv = |key: &str, e: SolverError| src.error(key, e.to_string());
        if let Some(inv) = self.invert.as_ref().filter(|i| i.method != InvertMethod::Bayes) {
            if let Some(key) = inv.bayes_keys().first() {
                return Err(src.error(&format!("invert.{key}"), "only used with method = \"bayes\""));
            }
        }
        if let Some(inv) = &self.invert {
            let positive =
                [("chains", inv.chains.map(|v| v as u64)), ("draws", inv.draws), ("field_spacing", inv.field_spacing.map(|v| v as u64))];
            if let Some((key, _)) = positive.iter().find(|(_, v)| *v == Some(0)) {
                return Err(src.error(&format!("invert.{key}"), "must be at least 1"));
            }
            if inv.tune.is_some_and(|t| t < 10) {
                return Err(src.error("invert.tune", "must be at least 10"));
            }
        }
        let p = &self.phantom;
        let grid = Grid::new(p.shape, p.voxel_size_m).map_err(|e| {
            let key = if e.to_string().contains("shape") { "phantom.shape" } else { "phantom.voxel_size_m" };
            sv(key, e)
        })?;
        if self.tissues.is_empty() {
            return Err(src.error("tissue", "no [[tissue]] tables: at least one tissue is expected"));
        }
        let mut tissues = Vec::new();
        for (i, t) in self.tissues.iter().enumerate() {
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
            };
            tissue.validate().map_err(|e| {
                let field = match &e {
                    SolverError::InvalidParameter { name, .. } => name.rsplit(' ').next().unwrap_or("").to_string(),
                    _ => String::new(),
                };
                sv(&format!("tissue[{i}].{field}"), e)
            })?;
            if tissues.iter().any(|o: &Tissue| o.name == tissue.name) {
                return Err(src.error(&format!("tissue[{i}].name"), format!("'{}' is used by two tissues: names must be unique", t.name)));
            }
            tissues.push(tissue);
        }
        let label_of = |tissues: &[Tissue], name: &str, key: &str| -> Result<u16, ConfigError> {
            tissues.iter().find(|t| t.name == name).map(|t| t.label).ok_or_else(|| {
                let names: Vec<&str> = tissues.iter().map(|t| t.name.as_str()).collect();
                src.error(key, format!("unknown tissue '{name}': expected one of {names:?}"))
            })
        };
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
                Some(b) => label_of(&tissues, b, "phantom.background")?,
                None => 0,
            };
            let mut incs = Vec::new();
            for (i, inc) in p.inclusions.iter().enumerate() {
                let key = |k: &str| format!("phantom.inclusion[{i}].{k}");
                let label = label_of(&tissues, &inc.tissue, &key("tissue"))?;
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
            sv(key, e)
        })?;

        // motion
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
        let mut wave = None;
        let motion: Vec<Box<dyn Displacement>> = match m.source {
            MotionSource::Wave => {
                let wc = m.wave.as_ref().ok_or_else(|| {
                    src.error("motion.wave", "missing: source = \"wave\" needs a [motion.wave] table with at least `drive`")
                })?;
                let amp = m.amplitude_m.ok_or_else(|| src.error("motion.amplitude_m", "missing: the drive amplitude in m"))?;
                if !(amp > 0.0 && amp < 1e-2) {
                    return Err(src.error("motion.amplitude_m", format!("{amp} is invalid: expected a drive amplitude between 0 and 1 cm")));
                }
                let pol = m.polarization_zyx.unwrap_or([1.0, 0.0, 0.0]);
                let norm = pol.iter().map(|v| v * v).sum::<f64>().sqrt();
                if !(norm > 0.0 && norm.is_finite()) {
                    return Err(src.error("motion.polarization_zyx", format!("{pol:?} is invalid: expected a non-zero direction")));
                }
                let mut boundary = mre_solver::wave::Boundary::free();
                boundary.pml_voxels = wc.pml_voxels;
                let faces = |list: &[String], key: &str| -> Result<Vec<(usize, usize)>, ConfigError> {
                    list.iter()
                        .enumerate()
                        .map(|(i, f)| {
                            parse_face(f).ok_or_else(|| {
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
                for (a, s) in faces(&wc.absorbing, "absorbing")? {
                    boundary.faces[a][s] = mre_solver::wave::FaceCondition::Absorbing;
                }
                for (a, s) in faces(&wc.fixed, "fixed")? {
                    boundary.faces[a][s] = mre_solver::wave::FaceCondition::Fixed;
                }
                boundary.validate(&phantom.grid).map_err(|e| sv("motion.wave.pml_voxels", e))?;
                mre_solver::wave::Medium::from_phantom(&phantom).map_err(|e| sv("phantom", e))?;
                wave = Some(WaveSetup {
                    boundary,
                    drive,
                    amplitude_m: amp,
                    polarization: pol.map(|v| v / norm),
                    scheme: wc.scheme.into(),
                    solver: wc.solver,
                });
                Vec::new()
            }
            MotionSource::None => m.frequencies_hz.iter().map(|_| Box::new(NoMotion) as Box<dyn Displacement>).collect(),
            MotionSource::PlaneWave => {
                let medium = match &m.medium {
                    Some(name) => {
                        let l = label_of(&phantom.tissues, name, "motion.medium")?;
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
                            sv(&key, e)
                        })?;
                    out.push(Box::new(w));
                }
                out
            }
            MotionSource::Hdf5 => {
                let f = m.file.as_ref().ok_or_else(|| src.error("motion.file", "missing: source = \"hdf5\" needs file = \"path.h5\""))?;
                let path = src.dir.join(f);
                let data = crate::hdf5::read_mre_data(&path).map_err(|e| src.error("motion.file", e.to_string()))?;
                let wave =
                    data.wave.as_ref().ok_or_else(|| src.error("motion.file", format!("{} has no /wave dataset", path.display())))?;
                let sh = wave.shape();
                let wgrid = Grid::new([sh[2], sh[3], sh[4]], data.voxel_size_m).map_err(|e| sv("motion.file", e))?;
                let mut out: Vec<Box<dyn Displacement>> = Vec::new();
                for &f in &m.frequencies_hz {
                    let fi = data.frequencies_hz.iter().position(|&g| (g - f).abs() <= 1e-9 * f).ok_or_else(|| {
                        src.error(
                            "motion.frequencies_hz",
                            format!("{f} Hz is not in {} (it has {:?})", path.display(), data.frequencies_hz),
                        )
                    })?;
                    let mut amp = ndarray::Array4::<num_complex::Complex64>::zeros((3, sh[2], sh[3], sh[4]));
                    for (ci, c) in data.components.chars().enumerate() {
                        let ax = Axis::parse(&c.to_string()).ok_or_else(|| {
                            src.error(
                                "motion.file",
                                format!("{}: /acquisition components '{}' must be letters x, y, z", path.display(), data.components),
                            )
                        })?;
                        amp.index_axis_mut(ndarray::Axis(0), ax.index()).assign(&wave.slice(ndarray::s![fi, ci, .., .., ..]));
                    }
                    out.push(Box::new(HarmonicField::new(wgrid.clone(), amp).map_err(|e| sv("motion.file", e))?));
                }
                out
            }
        };

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
            sv(&key, e)
        })?;
        let sequence = match &self.sequence.pulseq {
            Some(files) => self.pulseq_sequence(src, files, &phantom)?,
            None => self.builtin_sequence(src, p, m, &phantom, &scanner)?,
        };
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
        Ok(BuiltRun {
            phantom,
            frequencies_hz: m.frequencies_hz.clone(),
            motion,
            sequence,
            scanner,
            options: SimulationOptions { integration, kernel, unwrap: sim.unwrap },
            density_kg_m3: density,
            wave,
        })
    }

    /// The built-in GRE-MRE of `[sequence]`, its timing checked at every frequency.
    fn builtin_sequence(
        &self,
        src: &Source,
        p: &PhantomConfig,
        m: &MotionConfig,
        phantom: &Phantom,
        scanner: &Scanner,
    ) -> Result<BuiltSequence, ConfigError> {
        let s = &self.sequence;
        let required = |v: Option<f64>, key: &str| {
            v.ok_or_else(|| {
                src.error(&format!("sequence.{key}"), "missing: the built-in GRE-MRE needs it (or set sequence.pulseq to a Pulseq file)")
            })
        };
        let meg = s.meg.as_ref().ok_or_else(|| {
            src.error("sequence.meg", "missing: the built-in GRE-MRE needs [sequence.meg] (or set sequence.pulseq to a Pulseq file)")
        })?;
        let mut axes = Vec::new();
        for (i, a) in meg.axes.iter().enumerate() {
            let ax = Axis::parse(a).ok_or_else(|| {
                src.error(&format!("sequence.meg.axes[{i}]"), format!("'{a}' is invalid: expected \"x\", \"y\" or \"z\""))
            })?;
            if axes.contains(&ax) {
                return Err(src.error(&format!("sequence.meg.axes[{i}]"), format!("'{a}' is listed twice")));
            }
            axes.push(ax);
        }
        if axes.is_empty() {
            return Err(src.error("sequence.meg.axes", "empty: expected at least one axis"));
        }
        let fov = s.fov_m.unwrap_or_else(|| phantom.grid.fov_m());
        let matrix = s.matrix.unwrap_or(p.shape);
        let seq = GreMre {
            tr_s: required(s.tr_s, "tr_s")?,
            te_s: required(s.te_s, "te_s")?,
            flip_angle_rad: required(s.flip_angle_deg, "flip_angle_deg")?.to_radians(),
            matrix,
            fov_m: fov,
            readout_dwell_s: s.readout_dwell_s,
            meg: Meg {
                axis: axes[0],
                frequency_hz: meg.frequency_hz.unwrap_or(m.frequencies_hz[0]),
                cycles: meg.cycles,
                amplitude_t_per_m: meg.amplitude_t_per_m,
            },
            phase_offsets: s.phase_offsets.unwrap_or(4),
            polarities: match s.polarities {
                PolarityConfig::Both => Polarities::Both,
                PolarityConfig::Positive => Polarities::Positive,
            },
            dummy_scans: s.dummy_scans,
            spoiling: match s.spoiling {
                SpoilingConfig::Ideal => Spoiling::Ideal,
                SpoilingConfig::Gradient => Spoiling::Gradient { cycles_per_voxel: s.spoiler_cycles_per_voxel },
                SpoilingConfig::Rf => Spoiling::Rf { cycles_per_voxel: s.spoiler_cycles_per_voxel },
                SpoilingConfig::None => Spoiling::None,
            },
        };
        if let Some(f) = meg.frequency_hz {
            if !(f > 0.0 && f.is_finite()) {
                return Err(src.error("sequence.meg.frequency_hz", format!("{f} is invalid: expected a positive frequency in Hz")));
            }
        }
        // check every frequency's timing now, so `check` reports it
        for &f in &m.frequencies_hz {
            let mut sq = seq.clone();
            sq.meg.frequency_hz = meg.frequency_hz.unwrap_or(f);
            sq.layout(scanner).map_err(|e| {
                let key = match &e {
                    SolverError::InvalidParameter { name, .. } => {
                        // solver names are the config keys below [sequence]
                        format!("sequence.{name}")
                    }
                    SolverError::Timing(m) if m.starts_with("TE") => "sequence.te_s".into(),
                    SolverError::Timing(_) => "sequence.tr_s".into(),
                    SolverError::ScannerLimit(m) if m.starts_with("MEG") => "sequence.meg.amplitude_t_per_m".into(),
                    SolverError::ScannerLimit(_) => "sequence.readout_dwell_s".into(),
                    _ => "sequence".into(),
                };
                let msg = if m.frequencies_hz.len() > 1 { format!("{e} (at {f} Hz)") } else { e.to_string() };
                src.error(&key, msg)
            })?;
        }
        Ok(BuiltSequence::Builtin(BuiltinMre { sequence: seq, axes, meg_frequency_hz: meg.frequency_hz }))
    }

    /// `[sequence] pulseq = …`: the files read, their labels sorted into k-space.
    fn pulseq_sequence(&self, src: &Source, files: &PulseqFiles, phantom: &Phantom) -> Result<BuiltSequence, ConfigError> {
        let s = &self.sequence;
        // keys of the built-in sequence are errors here, not silently ignored
        let raw: Option<toml::Value> = toml::from_str(&src.text).ok();
        let given = |key: &str| {
            raw.as_ref().and_then(|v| v.get("sequence")).and_then(|t| t.get(key)).is_some()
                || src.overridden.iter().any(|o| o == &format!("sequence.{key}") || o.starts_with(&format!("sequence.{key}.")))
        };
        for key in [
            "type",
            "tr_s",
            "te_s",
            "flip_angle_deg",
            "matrix",
            "fov_m",
            "readout_dwell_s",
            "polarities",
            "dummy_scans",
            "spoiling",
            "spoiler_cycles_per_voxel",
            "meg",
        ] {
            if given(key) {
                return Err(src.error(
                    &format!("sequence.{key}"),
                    "belongs to the built-in sequence; with sequence.pulseq the file defines it (remove the key)",
                ));
            }
        }
        let paths: Vec<PathBuf> = match files {
            PulseqFiles::One(f) => vec![f.clone()],
            PulseqFiles::Many(v) => v.clone(),
        };
        let axis_names = s.encoded_axes.clone().unwrap_or_else(|| vec!["z".into()]);
        if axis_names.len() != paths.len() {
            return Err(src.error(
                "sequence.encoded_axes",
                format!("{} axes for {} Pulseq file(s): expected one axis per file", axis_names.len(), paths.len()),
            ));
        }
        let mut pairs = Vec::new();
        for (i, (a, f)) in axis_names.iter().zip(&paths).enumerate() {
            let ax = Axis::parse(a).ok_or_else(|| {
                src.error(&format!("sequence.encoded_axes[{i}]"), format!("'{a}' is invalid: expected \"x\", \"y\" or \"z\""))
            })?;
            if pairs.iter().any(|(b, _)| *b == ax) {
                return Err(src.error(&format!("sequence.encoded_axes[{i}]"), format!("'{a}' is listed twice")));
            }
            pairs.push((ax, src.dir.join(f)));
        }
        let label = |key: &str, value: &Option<String>, default: Label| -> Result<Option<Label>, ConfigError> {
            match value.as_deref() {
                None => Ok(Some(default)),
                Some("none") if key == "polarity_label" => Ok(None),
                Some(v) => Label::parse(v).filter(|l| !l.is_flag()).map(Some).ok_or_else(|| {
                    src.error(
                        &format!("sequence.{key}"),
                        format!(
                            "'{v}' is invalid: expected a Pulseq counter label (LIN, PAR, SLC, SET, REP, AVG, ECO, PHS, SEG){}",
                            if key == "polarity_label" { " or \"none\"" } else { "" }
                        ),
                    )
                }),
            }
        };
        let map = LabelMap {
            line: label("line_label", &s.line_label, Label::Lin)?.expect("not none"),
            partition: label("partition_label", &s.partition_label, Label::Par)?.expect("not none"),
            offset: label("offset_label", &s.offset_label, Label::Phs)?.expect("not none"),
            polarity: label("polarity_label", &s.polarity_label, Label::Set)?,
            trigger_phase_from_label: s.trigger_phase != Some(TriggerPhase::Zero),
        };
        let key = if paths.len() == 1 { "sequence.pulseq".to_string() } else { "sequence.pulseq[…]".to_string() };
        let mre = PulseqMre::read(&pairs, map, s.phase_offsets, phantom.grid.fov_m()[0]).map_err(|e| src.error(&key, e.to_string()))?;
        Ok(BuiltSequence::Pulseq(Box::new(mre)))
    }
}

/// Turn a toml deserialisation error into a [`ConfigError`] with line and the
/// dotted key: the key written on the error's line, under the last table header.
fn de_error(file: &str, text: &str, e: toml::de::Error) -> ConfigError {
    let line = e.span().map(|sp| text[..sp.start.min(text.len())].matches('\n').count() + 1);
    let key = line
        .and_then(|l| {
            let lines: Vec<&str> = text.lines().collect();
            let here = lines.get(l - 1)?.trim();
            let table = lines[..l - 1]
                .iter()
                .rev()
                .map(|x| x.trim())
                .find(|x| x.starts_with('['))
                .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
            if here.starts_with('[') {
                return Some(here.trim_matches(|c| c == '[' || c == ']').trim().to_string());
            }
            let k = here.split('=').next()?.trim();
            if k.is_empty() {
                return table;
            }
            Some(match table {
                Some(t) => format!("{t}.{k}"),
                None => k.to_string(),
            })
        })
        .unwrap_or_else(|| "(document)".into());
    ConfigError { file: file.into(), line, key, message: e.message().trim().to_string() }
}
