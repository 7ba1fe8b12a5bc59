//! `mre-sim invert DATA.h5 --method ahi|mdev|bayes`: the arguments, and a call to
//! [`mre_pipeline::invert_file`] with a spinner on rank 0.

use std::path::PathBuf;

use clap::Args;
use mre_io::crop::Crop;
use mre_pipeline::classic::{Curl, Filter};
use mre_pipeline::invert::{default_output, invert_file, InvertOptions, Method, Status};
use mre_pipeline::Unwrap;
use mre_solver::parallel::Comm;

use crate::{choice, CliError};

/// Arguments of `mre-sim invert`.
#[derive(Debug, Args, Clone)]
pub struct InvertArgs {
    /// Input mre-data file (HDF5).
    data: PathBuf,
    /// Inversion method.
    #[arg(long, value_parser = choice::parser::<Method>())]
    method: Method,
    /// Output mre-result file (default: `<data stem>-<method>.h5` beside the input).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
    /// Filter applied to the wave field before a direct inversion (auto: chosen per frequency
    /// from the data's noise and wavelength).
    #[arg(long, value_parser = choice::parser::<Filter>(), default_value = "auto")]
    filter: Filter,
    /// Curl of the displacement before a direct inversion, removing compression waves (auto:
    /// on for vector data).
    #[arg(long, value_parser = choice::parser::<Curl>(), default_value = "auto")]
    curl: Curl,
    /// Do not write PNG elastograms.
    #[arg(long)]
    no_figures: bool,
    /// Phase unwrapping for `/phase`, `/images` and `/kspace` data.
    #[arg(long, value_parser = choice::parser::<Unwrap>(), default_value = "laplacian")]
    unwrap: Unwrap,
    /// Invert only a box of voxels, `z0:z1,y0:y1,x0:x1` (numpy slices of the [nz, ny, nx]
    /// grid, an empty end is the edge, e.g. `:,10:30,12:32`): the way to a lesion with the
    /// Navier model in a whole volume. The maps keep the data's grid, NaN outside the box.
    #[arg(long, value_parser = parse_crop, value_name = "Z0:Z1,Y0:Y1,X0:X1")]
    crop: Option<Crop>,
    /// Options of `--method bayes`.
    #[command(flatten)]
    bayes: crate::bayes::BayesArgs,
}

impl InvertArgs {
    /// The library's options.
    fn options(&self) -> InvertOptions {
        InvertOptions {
            method: self.method,
            filter: self.filter,
            curl: self.curl,
            unwrap: self.unwrap,
            bayes: self.bayes.options(),
            checkpoint: self.bayes.checkpoint.clone(),
            figures: !self.no_figures,
            crop: self.crop,
        }
    }
}

fn parse_crop(text: &str) -> Result<Crop, String> {
    Crop::parse(text)
}

/// A spinner on a terminal (stderr), hidden otherwise and with -q; the steps are too uneven
/// (unwrapping, filtering, inversion) for a meaningful percentage.
struct Spinner(indicatif::ProgressBar);

impl Status for Spinner {
    fn stage(&self, message: &str) {
        self.0.set_message(message.to_string());
    }
}

/// Runs `mre-sim invert` on the ranks of `comm`. Only rank 0 writes and prints; errors end
/// every rank with the same exit code.
pub fn invert(args: &InvertArgs, quiet: bool, comm: &dyn Comm) -> Result<(), CliError> {
    let output = args.output.clone().unwrap_or_else(|| default_output(&args.data, args.method));
    run(&args.data, &output, &args.options(), args.force, quiet, comm)
}

/// Invert `data` into `output` with `options` and report what was written (rank 0).
pub fn run(
    data: &std::path::Path,
    output: &std::path::Path,
    options: &InvertOptions,
    force: bool,
    quiet: bool,
    comm: &dyn Comm,
) -> Result<(), CliError> {
    let hidden = quiet || !comm.is_root();
    let bar = if hidden { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new_spinner() };
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let spinner = Spinner(bar);
    let done = invert_file(data, output, options, force, comm, &spinner);
    spinner.0.finish_and_clear();
    let Some((result, written)) = done? else { return Ok(()) };
    println!("wrote {}", written.result.display());
    // Bayes: the region's posterior (a 90 % credible interval); AHI and MDEV: the spread of the
    // voxel values in the region (their mean can lie outside it when a tail is heavy).
    let spread = if options.method == Method::Bayes { "90 % interval" } else { "voxels 5–95 %" };
    for r in &result.regions {
        println!(
            "region {}: G' = {:.0} Pa ({spread}: {:.0}–{:.0}), G'' = {:.0} Pa",
            r.label, r.storage_mean_pa, r.storage_q05_pa, r.storage_q95_pa, r.loss_mean_pa
        );
    }
    // The verdict is part of the summary, so `-q` (errors only in the log) does not hide it.
    let extra = |key: &str| result.provenance.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    match (extra("model_check"), extra("model_check_p_value")) {
        (Some("misfit"), p) => {
            println!("model check: misfit (p = {}) {}", p.unwrap_or("?"), extra("model_check_advice").unwrap_or_default())
        }
        (Some(verdict), p) => println!("model check: {verdict} (p = {})", p.unwrap_or("?")),
        (None, _) => {}
    }
    for f in &written.figures {
        println!("wrote {}", f.display());
    }
    Ok(())
}
