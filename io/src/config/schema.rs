//! The TOML schema of a run: serde tables and enums, every table `deny_unknown_fields`,
//! every key with its SI unit, vectors `[z, y, x]`. Defaults live here; checks of values
//! and the conversion to domain types live in `build`.

use std::path::PathBuf;

use mre_solver::model::scanner::Scanner;
use serde::{Deserialize, Serialize};

use super::InvertConfig;

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
    /// Poisson ratio ν of the storage modulus, in (0, 0.5] (0.5: incompressible), for the
    /// Navier motion (`[motion.wave] equation = "navier"`); give it or `bulk_modulus_pa`, not
    /// both (default: nearly incompressible, K = 2.2 GPa).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poisson_ratio: Option<f64>,
    /// Bulk modulus K, Pa (> 2G'/3), for the Navier motion; give it or `poisson_ratio`, not
    /// both (default 2.2e9, water and soft tissue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_modulus_pa: Option<f64>,
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
/// `"x-low"`, `"x-high"`, `"y-low"`, `"y-high"`, `"z-low"`, `"z-high"` (or `"x-"`, `"x+"`, …;
/// see [`mre_solver::wave::Face`]); a face not listed is traction-free.
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
    /// The wave equation: `"scalar"` (the scalar solution times the polarisation) or
    /// `"navier"` (the vector Navier equation, all three components; plane strain on a slice).
    #[serde(default)]
    pub equation: WaveEquationConfig,
    /// Spatial discretisation of the scalar equation: `"compact"` (fourth order in homogeneous
    /// regions, 9-/19-point; the default) or `"standard"` (second order, 5-/7-point). The
    /// Navier equation has one discretisation (second order, staggered grid): `"standard"` or
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<WaveScheme>,
    /// Linear solver: `"auto"` (sparse LU for 2-D and 3-D grids up to 32³, iterative
    /// above), `"direct"` (sparse LU) or `"iterative"` (shifted-Laplacian multigrid GMRES).
    #[serde(default)]
    pub solver: WaveSolverChoice,
}

/// The wave equation of `source = "wave"` (see [`mre_solver::wave::WaveEquation`]).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WaveEquationConfig {
    /// `∇·(G*∇u) + ρω²u = 0`; the displacement is the polarisation times `u`.
    #[default]
    Scalar,
    /// The time-harmonic viscoelastic Navier equation with each tissue's bulk modulus: the
    /// three displacement components of one vector solve (3-D), plane strain plus the
    /// anti-plane component on a one-voxel-thick slice.
    Navier,
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

fn pml_voxels() -> usize {
    12
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
