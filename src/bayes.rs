//! The options of `mre-sim invert --method bayes` on the command line; the inversion itself
//! is [`mre_pipeline::bayes::run`].

use std::path::PathBuf;

use clap::Args;
use mre_pipeline::bayes::{BayesOptions, BulkModulus, DriveKind, LikelihoodKind, ModelErrorKind, ModelKind, Parameterization, SamplerKind};

use crate::choice;

/// Options of the Bayesian inversion (`--method bayes`); the defaults are
/// [`BayesOptions::default`]'s.
#[derive(Debug, Args, Clone)]
pub struct BayesArgs {
    /// Parameterisation (default: regions when the data have `/labels`, field otherwise).
    #[arg(long, value_parser = choice::parser::<Parameterization>())]
    pub parameterization: Option<Parameterization>,
    /// Likelihood.
    #[arg(long, value_parser = choice::parser::<LikelihoodKind>(), default_value = "wave")]
    pub likelihood: LikelihoodKind,
    /// Posterior sampler (regions).
    #[arg(long, value_parser = choice::parser::<SamplerKind>(), default_value = "independence")]
    pub sampler: SamplerKind,
    /// Forward model: prescribed measured boundary, or the full domain driven by an actuator.
    #[arg(long, value_parser = choice::parser::<DriveKind>(), default_value = "boundary")]
    pub drive: DriveKind,
    /// Driven face(s) for `--drive actuator`: x-, x+, y-, y+, z-, z+ (`[z, y, x]` grid axes).
    #[arg(long = "drive-face", default_value = "x-")]
    pub drive_faces: Vec<String>,
    /// Absorbing layer added outside every other face for `--drive actuator`, voxels.
    #[arg(long, default_value_t = 10)]
    pub pml_voxels: usize,
    /// Sample with the full wave model instead of the reduced-basis model (regions; slower;
    /// the reduced model is checked against the full one at 8 draws either way).
    #[arg(long)]
    pub full_model: bool,
    /// Approximation-error model (regions with the measured boundary and the wave likelihood;
    /// see docs/inversion.md): `auto` or `none`.
    #[arg(long, value_parser = choice::parser::<ModelErrorKind>(), default_value = "auto")]
    pub model_error: ModelErrorKind,
    /// Forward model (measured boundary): `navier` (all components together, pressure as
    /// unknown), `scalar` (each component on its own) or `auto` (navier when the data have both
    /// in-plane components of a slice or all three components).
    #[arg(long, value_parser = choice::parser::<ModelKind>(), default_value = "auto")]
    pub model: ModelKind,
    /// Bulk modulus of the Navier model: `infer` (a nuisance parameter with a broad prior; see
    /// docs/inversion.md), `incompressible` (2.2 GPa) or a value in Pa.
    #[arg(long, value_parser = BulkModulus::parse, default_value = "infer")]
    pub bulk_modulus: BulkModulus,
    /// Chains (regions).
    #[arg(long, default_value_t = 4)]
    pub chains: usize,
    /// NUTS warm-up draws per chain (regions, `--sampler nuts`).
    #[arg(long, default_value_t = 150)]
    pub tune: u64,
    /// Posterior draws per chain (regions), or Laplace draws (field).
    #[arg(long, default_value_t = 250)]
    pub draws: u64,
    /// Random seed (draws depend only on it, not on threads or ranks).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Control-node spacing of the field parameterisation, voxels (default: about 16 nodes per axis).
    #[arg(long)]
    pub field_spacing: Option<usize>,
    /// Expected change of log G between neighbouring field nodes (GMRF smoothness, natural log).
    #[arg(long, default_value_t = 0.15)]
    pub smoothness: f64,
    /// Prior median of G', Pa.
    #[arg(long, default_value_t = 3000.0)]
    pub prior_storage_pa: f64,
    /// Prior median of G'', Pa.
    #[arg(long, default_value_t = 1000.0)]
    pub prior_loss_pa: f64,
    /// Prior width of log G' and log G'' (natural log; 2 = a factor 7.4 either way at 1σ).
    #[arg(long, default_value_t = 2.0)]
    pub prior_log_std: f64,
    /// Checkpoint directory (default: `<output>.checkpoint` beside the output). A killed run
    /// restarted with the same command resumes from it; it is removed after success.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// NUTS draws per checkpoint segment (regions): a kill loses at most this many draws
    /// per chain. Part of the run's definition: a resumed run must use the same value.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: u64,
}

impl BayesArgs {
    /// The library's options.
    pub fn options(&self) -> BayesOptions {
        BayesOptions {
            parameterization: self.parameterization,
            likelihood: self.likelihood,
            sampler: self.sampler,
            drive: self.drive,
            drive_faces: self.drive_faces.clone(),
            pml_voxels: self.pml_voxels,
            full_model: self.full_model,
            model_error: self.model_error,
            model: self.model,
            bulk_modulus: self.bulk_modulus,
            chains: self.chains,
            tune: self.tune,
            draws: self.draws,
            seed: self.seed,
            field_spacing: self.field_spacing,
            smoothness: self.smoothness,
            prior_storage_pa: self.prior_storage_pa,
            prior_loss_pa: self.prior_loss_pa,
            prior_log_std: self.prior_log_std,
            checkpoint_every: self.checkpoint_every,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{FromArgMatches, Parser};

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        bayes: BayesArgs,
    }

    #[test]
    fn command_line_defaults_are_the_library_defaults() {
        let cmd = Cmd::from_arg_matches(&<Cmd as clap::CommandFactory>::command().get_matches_from(["invert"])).unwrap();
        assert_eq!(cmd.bayes.options(), BayesOptions::default());
    }
}
