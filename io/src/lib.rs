pub use mre_solver as solver;
pub mod config;
pub mod data;
pub mod figures;
pub mod hdf5;
pub mod mrd;
pub mod pulseq;
