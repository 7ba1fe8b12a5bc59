//! Command-line values of the library's named choices ([`Choice`]): the names, their help
//! and the parsing come from the library, so the CLI, the configs and the Python package
//! accept the same words.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use mre_pipeline::Choice;

/// A clap value parser for `T`, listing every value with its help.
pub fn parser<T: Choice + Clone>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::ALL.iter().map(|v| PossibleValue::new(v.name()).help(v.help())))
        .map(|s| T::parse(&s).expect("clap accepts only the listed names"))
}
