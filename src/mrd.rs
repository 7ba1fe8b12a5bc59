//! The MRD (ISMRMRD HDF5) raw-data file written beside the mre-data file
//! when `[output] mrd = true`: `<stem>.mrd.h5`.

use std::path::Path;

use anyhow::anyhow;
use mre_io::config::{BuiltRun, BuiltSequence, RunConfig};
use mre_io::data::MreData;
use mre_io::mrd::{mrd_path_for, write_mrd, GreMreScan, MrdDataset, ScanDescription};
use mre_solver::sequence::MreSequence;

use crate::{exit, CliError};

/// Refuse to start when the MRD file of `data_path` exists (unless `force`).
pub fn check_absent(data_path: &Path, cfg: &RunConfig, force: bool) -> Result<(), CliError> {
    let mrd = mrd_path_for(data_path);
    if cfg.output.mrd && !force && mrd.exists() {
        return Err(CliError::new(
            exit::OUTPUT_EXISTS,
            anyhow!("{} (MRD raw data) exists; use --force to overwrite it or --output to write elsewhere", mrd.display()),
        ));
    }
    Ok(())
}

/// Write the k-space of `data` as `<stem>.mrd.h5` beside `data_path` (rank 0; no-op unless `[output] mrd`).
pub fn write_beside(data_path: &Path, data: &MreData, built: &BuiltRun, cfg: &RunConfig, force: bool) -> Result<(), CliError> {
    let Some(kspace) = data.kspace.as_ref().filter(|_| cfg.output.mrd) else { return Ok(()) };
    let (description, axes, meg_frequency_hz) = match &built.sequence {
        BuiltSequence::Builtin(b) => (ScanDescription::of_gre_mre(&b.sequence), b.axes.clone(), b.meg_frequency_hz),
        // an imported file's MEG frequency is its own; the vibration frequencies are recorded
        BuiltSequence::Pulseq(p) => (p.description(), p.components(), None),
    };
    let scan = GreMreScan {
        sequence: &description,
        frequencies_hz: &built.frequencies_hz,
        meg_axes: &axes,
        meg_frequency_hz,
        field_strength_t: cfg.scanner.field_strength_t,
    };
    let dataset = MrdDataset::from_gre_mre(&scan, kspace, data.kspace_negative.as_ref()).map_err(|e| anyhow!(e))?;
    let path = mrd_path_for(data_path);
    write_mrd(&path, &dataset, force).map_err(|e| {
        let code = if matches!(e, mre_io::hdf5::H5Error::Exists { .. }) { exit::OUTPUT_EXISTS } else { exit::FAILURE };
        CliError::new(code, anyhow!(e))
    })?;
    println!("wrote {} ({} acquisitions)", path.display(), dataset.acquisitions.len());
    Ok(())
}
