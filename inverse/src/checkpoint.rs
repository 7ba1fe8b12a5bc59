//! Checkpoint files shared by the optimiser and the sampler: atomic writes, binary and JSON
//! encodings, and run fingerprints.
//!
//! Every checkpoint is written under a temporary name in its directory, synced and renamed over
//! `<name>` ([`mre_solver::files::write_replace`]), so a run killed while writing leaves either
//! the previous checkpoint or the new one, never a torn file.

use std::fs;
use std::path::Path;

use mre_solver::files::{write_replace, FileError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{InverseError, Result};

/// A [`InverseError::Checkpoint`] for `path`.
pub(crate) fn error(path: &Path, problem: impl std::fmt::Display) -> InverseError {
    InverseError::Checkpoint { path: path.display().to_string(), problem: problem.to_string() }
}

/// Write `bytes` to `path` atomically ([`write_replace`]: temporary file in the same directory,
/// fsync, rename), creating the directory first when it does not exist.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replace(path, bytes).map_err(|e| match e {
        FileError::Io { action, source, .. } => error(path, format!("cannot {action}: {source}")),
        other => error(path, other),
    })
}

/// Serialise `value` as CBOR (exact for every `f64`, including infinities and NaN) and write
/// it atomically.
pub fn save_cbor<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = Vec::new();
    ciborium::into_writer(value, &mut bytes).map_err(|e| error(path, format!("cannot encode: {e}")))?;
    write_atomic(path, &bytes)
}

/// Read a CBOR checkpoint; `Ok(None)` if the file does not exist.
pub fn load_cbor<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => ciborium::from_reader(bytes.as_slice()).map(Some).map_err(|e| error(path, format!("cannot decode: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(error(path, format!("cannot read: {e}"))),
    }
}

/// Serialise `value` as JSON and write it atomically. Floats round-trip exactly (serde_json
/// with `float_roundtrip`); `value` must not contain non-finite floats.
pub fn save_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| error(path, format!("cannot encode: {e}")))?;
    write_atomic(path, &bytes)
}

/// Read a JSON checkpoint; `Ok(None)` if the file does not exist.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| error(path, format!("cannot decode: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(error(path, format!("cannot read: {e}"))),
    }
}

/// 64-bit FNV-1a hash, stable across platforms and compiler versions (unlike `std`'s
/// `DefaultHasher`); used to tag checkpoints with the run they belong to.
#[derive(Debug, Clone, Copy)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    /// Mix raw bytes.
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }
    /// Mix an integer.
    pub fn u64(self, v: u64) -> Self {
        self.bytes(&v.to_le_bytes())
    }
    /// Mix floats by their bit patterns.
    pub fn f64s(self, v: &[f64]) -> Self {
        v.iter().fold(self.u64(v.len() as u64), |h, x| h.u64(x.to_bits()))
    }
    /// Mix a string.
    pub fn str(self, s: &str) -> Self {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }
    /// The hash value.
    pub fn value(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_create_their_directory() {
        let dir = std::env::temp_dir().join(format!("mre-inverse-checkpoint-{}", std::process::id()));
        let path = dir.join("not").join("yet").join("state.cbor");
        save_cbor(&path, &[1.5f64, f64::INFINITY]).unwrap();
        assert_eq!(load_cbor::<Vec<f64>>(&path).unwrap(), Some(vec![1.5, f64::INFINITY]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
