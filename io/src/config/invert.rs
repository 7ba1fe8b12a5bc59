//! The `[invert]` table: an inversion of the simulated data in the same run.

use std::path::PathBuf;

use mre_inverse::options::{
    BulkModulus, Curl, DriveKind, Filter, LikelihoodKind, Method, ModelErrorKind, ModelKind, Parameterization, SamplerKind,
};
use serde::{Deserialize, Serialize};

use crate::crop::Crop;

/// `[invert]`: an inversion of the simulated data in the same run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InvertConfig {
    /// `"ahi"` (algebraic Helmholtz), `"mdev"` (multifrequency dual elasto-visco) or `"bayes"`
    /// (Bayesian inversion against the wave-equation forward model).
    pub method: Method,
    /// Filter of the wave field before the inversion: `"auto"` (default: chosen from the data's
    /// noise and wavelength), `"none"`, `"gaussian"` or `"butterworth"`.
    #[serde(default)]
    pub filter: Filter,
    /// Curl of the displacement before `"ahi"` or `"mdev"`: `"auto"` (default: on for vector
    /// data), `"on"` or `"off"`.
    #[serde(default)]
    pub curl: Curl,
    /// Result file (mre-result v1); default `<data stem>-<method>.h5` beside the data file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// `"bayes"`: `"regions"` (log G', log G'' per label) or `"field"` (smooth fields);
    /// default regions (the simulated data have labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameterization: Option<Parameterization>,
    /// `"bayes"`: `"wave"` (the displacement field) or `"images"` (the motion-encoded images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likelihood: Option<LikelihoodKind>,
    /// `"bayes"`, regions: posterior sampler, `"independence"` (default: independence
    /// Metropolis–Hastings around the Laplace approximation) or `"nuts"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<SamplerKind>,
    /// `"bayes"`, regions: chains.
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
    /// `"bayes"`, field: expected change of log G between neighbouring control nodes (GMRF
    /// smoothness, natural log; default 0.15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoothness: Option<f64>,
    /// `"bayes"`: prior median of G', Pa (default 3000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_storage_pa: Option<f64>,
    /// `"bayes"`: prior median of G'', Pa (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_loss_pa: Option<f64>,
    /// `"bayes"`: prior width of log G' and log G'' (natural log; default 2, a factor 7.4 either
    /// way at 1σ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_log_std: Option<f64>,
    /// `"bayes"`: forward model driven by the measured `"boundary"` (default) or by an
    /// `"actuator"` on `drive_faces` with absorbing layers elsewhere (regions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive: Option<DriveKind>,
    /// `"bayes"` with `drive = "actuator"`: driven faces, e.g. `["x-"]` or `["x-low"]` (`[z, y, x]` grid axes;
    /// see [`mre_solver::wave::Face`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive_faces: Option<Vec<String>>,
    /// `"bayes"` with region moduli and the measured boundary: the approximation-error model,
    /// `"auto"` (default: the discretisation error from a 3× finer grid and the interface
    /// positions inside their voxels) or `"none"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_error: Option<ModelErrorKind>,
    /// `"bayes"` with the measured boundary: forward model, `"auto"` (default: `"navier"` when
    /// the data have both in-plane components of a slice or all three components, `"scalar"`
    /// otherwise), `"navier"` or `"scalar"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelKind>,
    /// `"bayes"` with the Navier model: the bulk modulus, `"infer"` (default: a nuisance
    /// parameter with a broad prior), `"incompressible"` (2.2 GPa) or a value in Pa (a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_modulus: Option<BulkModulus>,
    /// Invert only a box of voxels, e.g. `":,10:30,12:32"` (`z0:z1,y0:y1,x0:x1`, numpy slices of
    /// the `[nz, ny, nx]` grid; see [`crate::crop::Crop`]); the maps are NaN outside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<Crop>,
}

impl InvertConfig {
    /// The keys set that only `method = "bayes"` uses.
    pub fn bayes_keys(&self) -> Vec<&'static str> {
        [
            ("parameterization", self.parameterization.is_some()),
            ("likelihood", self.likelihood.is_some()),
            ("sampler", self.sampler.is_some()),
            ("chains", self.chains.is_some()),
            ("tune", self.tune.is_some()),
            ("draws", self.draws.is_some()),
            ("seed", self.seed.is_some()),
            ("field_spacing", self.field_spacing.is_some()),
            ("smoothness", self.smoothness.is_some()),
            ("prior_storage_pa", self.prior_storage_pa.is_some()),
            ("prior_loss_pa", self.prior_loss_pa.is_some()),
            ("prior_log_std", self.prior_log_std.is_some()),
            ("drive", self.drive.is_some()),
            ("drive_faces", self.drive_faces.is_some()),
            ("model_error", self.model_error.is_some()),
            ("model", self.model.is_some()),
            ("bulk_modulus", self.bulk_modulus.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }
}
