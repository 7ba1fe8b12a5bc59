//! Reading a config: the file, its `--set` overrides, deserialisation.

use std::path::{Path, PathBuf};

use mre_solver::limits;

use super::error::de_error;
use super::overrides::apply_override;
use super::{ConfigError, RunConfig, Source};

impl RunConfig {
    /// Parse `path` (a regular file of at most [`limits::MAX_CONFIG_BYTES`]), apply `overrides`
    /// (`section.key=value`), deserialize.
    pub fn load(path: &Path, overrides: &[String]) -> Result<(Self, Source), ConfigError> {
        let file = path.display().to_string();
        // bounded: a device or a mistaken data file is refused, not read until memory runs out
        let text = limits::read_to_string_bounded(path, limits::MAX_CONFIG_BYTES).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            key: String::new(),
            message: format!("cannot read the config file: {}", read_error(path, &e)),
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &file, dir, overrides)
    }

    /// Parse config text (see [`RunConfig::load`]).
    pub fn parse(text: &str, file: &str, dir: PathBuf, overrides: &[String]) -> Result<(Self, Source), ConfigError> {
        let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| de_error(file, text, e))?;
        let mut overridden = Vec::new();
        for o in overrides {
            overridden.push(apply_override(&mut doc, o)?);
        }
        let src = Source { file: file.into(), dir, text: text.into(), overridden };
        let mut cfg: RunConfig = if overrides.is_empty() {
            toml::from_str(text).map_err(|e| de_error(file, text, e))?
        } else {
            let merged = toml::to_string(&doc).expect("a TOML table serialises");
            toml::from_str(&merged).map_err(|e| {
                let mut err = de_error(&format!("{file} (with --set overrides)"), &merged, e);
                err.line = None;
                err
            })?
        };
        // the built-in sequence's default, shown in the resolved config (a Pulseq file's
        // offsets come from its labels)
        if cfg.sequence.pulseq.is_none() {
            cfg.sequence.phase_offsets.get_or_insert(4);
        }
        Ok((cfg, src))
    }

    /// The resolved configuration (defaults filled in) as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }
}

/// The reason of a failed bounded read of `path`, without repeating the path (the error names
/// the file already).
fn read_error(path: &Path, e: &std::io::Error) -> String {
    let text = e.to_string();
    let prefix = format!("{}: ", path.display());
    text.strip_prefix(&prefix).map_or_else(|| text.clone(), str::to_string)
}
