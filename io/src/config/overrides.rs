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
                // digits only: `+1` would parse, and then not name the key the errors match
                let idx: usize = Some(next)
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| bad(index_message(k, next, &keys[i + 1..], a.len())))?;
                return apply_in_array(a, idx, &keys[i + 2..], parsed, assignment).map(|()| path.to_string());
            }
            _ => return Err(bad(format!("'{k}' is not a table"))),
        };
    }
    cur.insert(keys[keys.len() - 1].to_string(), parsed);
    Ok(path.to_string())
}

/// What is wrong with `next`, the part after the list `list` (of `len` entries) in a dotted
/// key whose remaining parts are `rest` (`next` first): not a number (a key where the index
/// belongs) or a number that is not a valid index (negative, signed, too large).
fn index_message(list: &str, next: &str, rest: &[&str], len: usize) -> String {
    let looks_numeric = next.starts_with(['-', '+']) || next.chars().next().is_some_and(|c| c.is_ascii_digit());
    if looks_numeric {
        let after = rest.get(1..).filter(|r| !r.is_empty()).map_or_else(|| "key".to_string(), |r| r.join("."));
        format!(
            "'{next}' is not an index of the list '{list}' ({len} entries): expected a non-negative integer below {len}, e.g. {list}.0.{after}"
        )
    } else {
        format!("'{list}' is a list: give an index, e.g. {list}.0.{next}")
    }
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
