//! The named choices of the pipelines' options (methods, filters, samplers, …): one list of
//! names and descriptions, which the CLI, the config and error messages use.

/// An option with a fixed set of named values.
pub trait Choice: Copy + PartialEq + Send + Sync + 'static {
    /// Every value, in the order the help lists them.
    const ALL: &'static [Self];

    /// The value's name on the command line and in configs (lowercase).
    fn name(self) -> &'static str;

    /// One line on what the value does.
    fn help(self) -> &'static str;

    /// The value called `name`, or an error listing the names.
    fn parse(name: &str) -> Result<Self, String> {
        Self::ALL.iter().copied().find(|v| v.name() == name).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|v| v.name()).collect();
            format!("`{name}`: expected one of {}", names.join(", "))
        })
    }
}
