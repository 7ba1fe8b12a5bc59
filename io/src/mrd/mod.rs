//! Raw data in the ISMRM raw data format (MRD, ISMRMRD HDF5), readable by
//! the `ismrmrd` Python package, Gadgetron and the ISMRMRD tools.
//!
//! * [`MrdDataset`]: an XML header ([`MrdHeader`]) and a list of
//!   [`Acquisition`]s (one readout line each: header with encoding counters
//!   and flags, complex samples per channel, optional trajectory), in
//!   acquisition order. Any sequence can be described this way; the
//!   acquisitions need not be Cartesian or in any particular order.
//! * [`MrdDataset::from_gre_mre`]: the acquisitions of the built-in
//!   Cartesian GRE-MRE sequence, from the simulated k-space.
//! * [`write_mrd`] / [`read_mrd`]: the HDF5 file (`/dataset/xml`,
//!   `/dataset/data`), written atomically like the mre-data file.
//!
//! The mapping of MRE dimensions to MRD counters is described in
//! `docs/mrd.md` and in the header's user parameters.

mod acquisition;
mod file;
mod gre_mre;
mod header;

use std::path::{Path, PathBuf};

pub use acquisition::{
    mark_runs, AcqFlag, Acquisition, AcquisitionHeader, EncodingCounters, ACQUISITION_HEADER_VERSION, CHANNEL_MASK_WORDS, USER_SLOTS,
};
pub use file::{read_mrd, write_mrd, MrdContents, DATASET_GROUP};
pub use gre_mre::{slots, GreMreScan, ScanDescription, TIME_STAMP_TICK_S};
pub use header::{
    AcquisitionSystem, Encoding, EncodingLimits, EncodingSpace, Limit, MrdHeader, SequenceParameters, Trajectory, UserParameters,
    ISMRMRD_NAMESPACE,
};

/// An MRD dataset: header and acquisitions, in acquisition order.
#[derive(Debug, Clone, PartialEq)]
pub struct MrdDataset {
    /// The XML header.
    pub header: MrdHeader,
    /// The readouts.
    pub acquisitions: Vec<Acquisition>,
}

/// The k-space could not be described as MRD acquisitions (shape or size
/// mismatch with the scan description).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot describe the k-space as MRD acquisitions: {0}")]
pub struct MrdBuildError(pub String);

/// The MRD file written beside the mre-data file `data_path`:
/// `<dir>/<stem>.mrd.h5` (`out/q.h5` → `out/q.mrd.h5`).
pub fn mrd_path_for(data_path: &Path) -> PathBuf {
    let stem = data_path.file_stem().map_or_else(|| "mre-sim".into(), |s| s.to_string_lossy().into_owned());
    data_path.with_file_name(format!("{stem}.mrd.h5"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrd_path_sits_beside_the_data_file() {
        assert_eq!(mrd_path_for(Path::new("out/q.h5")), PathBuf::from("out/q.mrd.h5"));
        assert_eq!(mrd_path_for(Path::new("run")), PathBuf::from("run.mrd.h5"));
    }
}
