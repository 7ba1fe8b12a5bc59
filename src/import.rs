//! `mre-sim import IN.mat --dataset NAME --layout wave|phase ...`: the arguments, and a
//! call to [`mre_pipeline::import::import_file`] (layouts described there).

use std::path::PathBuf;

use clap::Args;
use mre_pipeline::import::{import_file, ImportOptions, Layout};

use crate::{choice, CliError};

/// Arguments of `mre-sim import`.
#[derive(Debug, Args, Clone)]
pub struct ImportArgs {
    /// Input: a MATLAB v7.3 file (HDF5), or a NIfTI phase image (`.nii`, `.nii.gz`) with axes
    /// (x = columns, y = rows, z = slices, offsets[, components[, frequencies]]).
    input: PathBuf,
    /// Name of the array (HDF5 dataset) in a MATLAB input (not used for NIfTI).
    #[arg(long)]
    dataset: Option<String>,
    /// What the array holds and its axis order.
    #[arg(long, value_parser = choice::parser::<Layout>())]
    layout: Layout,
    /// Vibration frequencies, Hz (one per frequency of the array).
    #[arg(long, value_delimiter = ',', required = true)]
    frequencies_hz: Vec<f64>,
    /// Voxel size (dz, dy, dx) in mm: slice thickness, row spacing, column spacing.
    #[arg(long, value_delimiter = ',', required = true)]
    voxel_size_mm: Vec<f64>,
    /// Encoding efficiency ξ per frequency, rad/m (required with --layout phase).
    #[arg(long, value_delimiter = ',')]
    encoding_efficiency_rad_per_m: Vec<f64>,
    /// Encoded motion components, one letter per component of the array.
    #[arg(long, default_value = "xyz")]
    components: String,
    /// Tissue density, kg/m³.
    #[arg(long, default_value_t = 1000.0)]
    density_kg_m3: f64,
    /// Name of a mask array (rows, cols, slices) in the input; non-zero = tissue.
    #[arg(long)]
    mask_dataset: Option<String>,
    /// Output mre-data file.
    #[arg(short, long)]
    output: PathBuf,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
}

/// Runs `mre-sim import`.
pub fn import(args: &ImportArgs) -> Result<(), CliError> {
    let options = ImportOptions {
        input: args.input.clone(),
        dataset: args.dataset.clone(),
        layout: args.layout,
        frequencies_hz: args.frequencies_hz.clone(),
        voxel_size_mm: args.voxel_size_mm.clone(),
        encoding_efficiency_rad_per_m: args.encoding_efficiency_rad_per_m.clone(),
        components: args.components.clone(),
        density_kg_m3: args.density_kg_m3,
        mask_dataset: args.mask_dataset.clone(),
    };
    import_file(&options, &args.output, args.force)?;
    println!("wrote {}", args.output.display());
    Ok(())
}
