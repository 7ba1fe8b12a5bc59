//! # mre-io
//!
//! Files of mre-sim: the TOML run config and its translation into domain types
//! ([`config`]), the mre-data and mre-result HDF5 contracts ([`hdf5`], [`data`]), MATLAB
//! v7.3 arrays, NIfTI-1 volumes ([`nifti`]), ISMRMRD raw data ([`mrd`]), Pulseq sequences ([`pulseq`]) and PNG
//! figures ([`figures`]).

pub use mre_solver as solver;
pub mod config;
pub mod crop;
pub mod data;
pub mod figures;
pub mod hdf5;
pub mod mrd;
pub mod nifti;
pub mod pulseq;
