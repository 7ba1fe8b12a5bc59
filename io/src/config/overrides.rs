//! `--set section.key=value` overrides, applied to the parsed TOML document before it is
//! deserialised: `tissue.0.t1_s=0.9` indexes an array of tables, a value that is not TOML
//! is taken as a string. Errors name `--set` and the whole assignment.

use super::ConfigError;

/// An error of the override `assignment`.
fn set_error(assignment: &str, message: String) -> ConfigError {
    ConfigError { file: "--set".into(), line: None, key: assignment.into(), message }
}

/// Apply a `section.key=value` override to a parsed TOML document and return the dotted
/// key it set. The value is parsed as a TOML value; if that fails it is taken as a string.
pub(super) fn apply_override(doc: &mut toml::Table, assignment: &str) -> Result<String, ConfigError> {
    let bad = |m: String| set_error(assignment, m);
    let (path, value) = assignment.split_once('=').ok_or_else(|| bad("expected section.key=value".into()))?;
    let path = path.trim();
    let value = value.trim();
    let parsed: toml::Value = match format!("v = {value}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("v"),
        Err(_) => toml::Value::String(value.to_string()),
    };
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(bad("expected a dotted key like sequence.te_s".into()));
    }
    let mut cur = doc;
    for (i, k) in keys[..keys.len() - 1].iter().enumerate() {
        let next = keys[i + 1];
        let entry = cur.entry(k.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            toml::Value::Array(a) => {
                // `tissue.0.t1_s`: numeric index into an array of tables
                let idx: usize = next.parse().map_err(|_| bad(format!("'{k}' is a list: give an index, e.g. {k}.0.{next}")))?;
                return apply_in_array(a, idx, &keys[i + 2..], parsed, assignment).map(|()| path.to_string());
            }
            _ => return Err(bad(format!("'{k}' is not a table"))),
        };
    }
    cur.insert(keys[keys.len() - 1].to_string(), parsed);
    Ok(path.to_string())
}

/// Set `keys` (one key) of entry `idx` of the array of tables `a` to `value`.
fn apply_in_array(a: &mut [toml::Value], idx: usize, keys: &[&str], value: toml::Value, assignment: &str) -> Result<(), ConfigError> {
    let bad = |m: String| set_error(assignment, m);
    let len = a.len();
    let item = a.get_mut(idx).ok_or_else(|| bad(format!("index {idx} is out of range (the list has {len} entries)")))?;
    let toml::Value::Table(t) = item else { return Err(bad("not a table".into())) };
    let [key] = keys else { return Err(bad("only one key below a list index is supported".into())) };
    t.insert(key.to_string(), value);
    Ok(())
}
