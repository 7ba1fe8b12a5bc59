//! Domain types: phantom (tissues, grid, isochromats), scanner limits, tissue motion.

pub mod motion;
pub mod phantom;
pub mod scanner;
