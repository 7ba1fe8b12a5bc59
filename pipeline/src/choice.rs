//! The named choices of the pipelines' options (methods, filters, samplers, …): one list of
//! names and descriptions, which the CLI, the config and error messages use. The trait and the
//! inversion's choices live in [`mre_inverse::options`]; this module re-exports the trait.

pub use mre_inverse::options::Choice;
