//! In-memory form of an mre-data v1 file (see `docs/mre-data-format.md`).

use ndarray::{Array3, Array5, Array6, ArrayD};
use num_complex::Complex64;

/// Simulated ground truth (evaluation only; no inversion may read it).
#[derive(Debug, Clone)]
pub struct GroundTruth {
    /// G' per voxel `[nz, ny, nx]`, Pa.
    pub storage_modulus_pa: Array3<f64>,
    /// G'' per voxel `[nz, ny, nx]`, Pa.
    pub loss_modulus_pa: Array3<f64>,
}

/// Provenance written to `/provenance`.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// Tool name (`mre-sim`).
    pub tool: String,
    /// Tool version.
    pub version: String,
    /// Resolved configuration as TOML text.
    pub config_toml: String,
    /// Creation time, RFC 3339 (UTC).
    pub created: String,
    /// Rayon threads used.
    pub threads: usize,
    /// MPI ranks used (1 without MPI).
    pub ranks: usize,
    /// Seed of the spin jitter.
    pub seed: u64,
    /// Wall time of the run, s.
    pub wall_time_s: f64,
    /// Further key/value attributes (kernel, precision, counts, ...).
    pub extra: Vec<(String, String)>,
}

/// All datasets of an mre-data v1 file. Shapes follow the format document:
/// spatial axes `[nz, ny, nx]` last.
#[derive(Debug, Clone, Default)]
pub struct MreData {
    /// Vibration frequencies, Hz (`nf`).
    pub frequencies_hz: Vec<f64>,
    /// Voxel size `[dz, dy, dx]`, m.
    pub voxel_size_m: [f64; 3],
    /// Tissue density, kg/m³.
    pub density_kg_m3: f64,
    /// Encoded motion components, e.g. `"z"` or `"xyz"` (`ncomp` letters).
    pub components: String,
    /// |ξ| per frequency: first-harmonic phase (of `/phase`) per metre of displacement, rad/m.
    pub encoding_efficiency_rad_per_m: Vec<f64>,
    /// arg ξ per frequency, rad (mre-sim extension; 0 when unknown).
    pub encoding_phase_rad: Vec<f64>,
    /// `/wave` `[nf, ncomp, nz, ny, nx]`, m.
    pub wave: Option<Array5<Complex64>>,
    /// `/phase` `[nf, ncomp, noffsets, nz, ny, nx]`, rad (wrapped).
    pub phase: Option<Array6<f64>>,
    /// `/images` `[nf, ncomp, noffsets, nz, ny, nx]`.
    pub images: Option<Array6<Complex64>>,
    /// `/kspace` `[nf, ncomp, noffsets, ncoils, nz, ny, nx]` (positive MEG polarity; 7 axes, so `ArrayD`).
    pub kspace: Option<ArrayD<Complex64>>,
    /// `/kspace_negative`: same for the negative MEG polarity (mre-sim extension).
    pub kspace_negative: Option<ArrayD<Complex64>>,
    /// `/magnitude` `[nz, ny, nx]`.
    pub magnitude: Option<Array3<f64>>,
    /// `/mask` `[nz, ny, nx]`, 1 = tissue.
    pub mask: Option<Array3<u8>>,
    /// `/labels` `[nz, ny, nx]`, 0 = outside.
    pub labels: Option<Array3<u16>>,
    /// `/noise_std`: one value (stored as a scalar) or one per frequency
    /// (`[nf]`), in the units of the primary data.
    pub noise_std: Option<Vec<f64>>,
    /// `/ground_truth/*`.
    pub ground_truth: Option<GroundTruth>,
    /// `/provenance`.
    pub provenance: Provenance,
}
