//! Configuration errors and their locations: `file:line: key: message`.

use std::path::PathBuf;

use mre_solver::SolverError;
use thiserror::Error;

/// A configuration error with its location.
#[derive(Debug, Error)]
#[error("{file}{}: {}{message}", line.map(|l| format!(":{l}")).unwrap_or_default(), if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct ConfigError {
    /// The config file (or `--set` for an override).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key, e.g. `tissue[0].t1_s` (empty when the whole file is at fault).
    pub key: String,
    /// What is wrong: the value given and what was expected.
    pub message: String,
}

/// Source text and name of a config, for error locations.
#[derive(Debug, Clone)]
pub struct Source {
    /// File name as given.
    pub file: String,
    /// Directory that relative input paths are resolved against.
    pub dir: PathBuf,
    /// Raw text.
    pub text: String,
    /// Keys changed by `--set` (dotted).
    pub overridden: Vec<String>,
}

impl Source {
    /// Build an error for `key` (dotted, `tissue[1].t1_s` style), locating its line.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        // `tissue[1].t1_s` and `--set tissue.1.t1_s=…` name the same key; an override of
        // `sequence.fov_m` covers `sequence.fov_m[1]`
        let dotted = |k: &str| k.replace('[', ".").replace(']', "");
        let plain = dotted(key);
        if self.overridden.iter().map(|k| dotted(k)).any(|k| plain == k || plain.starts_with(&format!("{k}."))) {
            return ConfigError { file: "--set".into(), line: None, key: key.into(), message: message.into() };
        }
        ConfigError { file: self.file.clone(), line: locate(&self.text, key), key: key.into(), message: message.into() }
    }

    /// [`Source::error`] for a solver's validation error `e` (its message).
    pub(super) fn solver(&self, key: &str, e: SolverError) -> ConfigError {
        self.error(key, e.to_string())
    }
}

/// Find the 1-based line of a dotted key such as `sequence.meg.amplitude_t_per_m`
/// or `tissue[1].t1_s` (a best effort over the raw TOML text).
pub fn locate(text: &str, key: &str) -> Option<usize> {
    // split into table path and leaf, with an optional array index on a table part
    let parts: Vec<&str> = key.split('.').collect();
    let (leaf, tables) = parts.split_last()?;
    let mut header = String::new();
    let mut index = 0usize;
    for t in tables {
        let (name, idx) = match t.find('[') {
            Some(p) => (&t[..p], t[p + 1..t.len() - 1].parse().unwrap_or(0)),
            None => (*t, 0),
        };
        if !header.is_empty() {
            header.push('.');
        }
        header.push_str(name);
        index = idx;
    }
    let leaf_name = leaf.split('[').next().unwrap_or(leaf);
    let mut in_table = tables.is_empty();
    let mut seen = 0usize;
    let mut header_line = None;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            let name = l.trim_start_matches('[').split(']').next().unwrap_or("").trim();
            in_table = false;
            if name == header {
                if l.starts_with("[[") {
                    in_table = seen == index;
                    seen += 1;
                } else {
                    in_table = true;
                }
                if in_table {
                    header_line = Some(i + 1);
                }
            }
            continue;
        }
        if in_table {
            let k = l.split('=').next().unwrap_or("").trim();
            if k == leaf_name {
                return Some(i + 1);
            }
        }
    }
    header_line
}

/// Turn a toml deserialisation error into a [`ConfigError`] with line and the
/// dotted key: the key written on the error's line, under the last table header.
pub(super) fn de_error(file: &str, text: &str, e: toml::de::Error) -> ConfigError {
    let message = e.message().trim();
    // A table missing from the whole document: its span is empty at 0 (or the document), and
    // line 1 (often a comment) would mislead. Name the table, without a line.
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        if e.span().is_none_or(|sp| sp.start == 0 && (sp.end == 0 || sp.end >= text.trim_end().len())) {
            let message = match field {
                "tissue" => "missing: no [[tissue]] tables; at least one tissue is expected (the [phantom] is made of tissues)".into(),
                f => format!("missing: the [{f}] table is required"),
            };
            return ConfigError { file: file.into(), line: None, key: field.into(), message };
        }
    }
    let line = e.span().map(|sp| text.as_bytes()[..sp.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1);
    let key = line
        .and_then(|l| {
            let lines: Vec<&str> = text.lines().collect();
            let here = lines.get(l - 1)?.trim();
            let table = lines[..l - 1]
                .iter()
                .rev()
                .map(|x| x.trim())
                .find(|x| x.starts_with('['))
                .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
            if here.starts_with('[') {
                return Some(here.trim_matches(|c| c == '[' || c == ']').trim().to_string());
            }
            let k = here.split('=').next()?.trim();
            if k.is_empty() {
                return table;
            }
            Some(match table {
                Some(t) => format!("{t}.{k}"),
                None => k.to_string(),
            })
        })
        .unwrap_or_else(|| "(document)".into());
    ConfigError { file: file.into(), line, key, message: message.to_string() }
}
