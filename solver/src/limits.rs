//! Resource limits checked before anything is allocated: every size that comes from a config,
//! a command line or a file header is turned into bytes (with overflow-checked arithmetic) and
//! compared with the memory budget, and input files are read with a bound on their length.
//!
//! The budget is, in this order: the last [`set_max_memory`] (the CLI's `--max-memory`), the
//! environment variable `MRE_SIM_MAX_MEMORY` (e.g. `8G`, `512M`, `1.5GiB` or a number of
//! bytes), or the memory the kernel reports as available (`MemAvailable` in `/proc/meminfo`;
//! 8 GiB where that cannot be read). Every estimate is a lower bound on what the allocation
//! would take, so a refused request could never have fitted.
//!
//! This is not physics, but it lives in mre-solver because every crate of the workspace reads
//! sizes from input (configs, mre-data files, Pulseq files) and depends on mre-solver.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Name of the environment variable that sets the memory budget.
pub const MAX_MEMORY_ENV: &str = "MRE_SIM_MAX_MEMORY";

/// Budget used when neither an override nor the available memory is known, bytes.
const FALLBACK_BUDGET: u64 = 8 << 30;

/// Largest number of worker threads accepted (`simulation.threads`, `--threads`).
pub const MAX_THREADS: usize = 4096;

/// Largest configuration file read, bytes (a config is a few kB; this refuses devices and
/// mistaken data files before they are read to the end).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// 0: no override.
static OVERRIDE: AtomicU64 = AtomicU64::new(0);

/// A request that does not fit, or an input too large to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// An allocation of `bytes` for `what` exceeds the budget.
    #[error("{what} needs at least {} but the memory budget is {} ({source_of_budget}); lower the size, or raise the budget with --max-memory or {MAX_MEMORY_ENV}", Bytes(*bytes), Bytes(u128::from(*budget)))]
    Memory {
        /// What would be allocated, e.g. `"phantom of [1, 100000, 100000] voxels"`.
        what: String,
        /// The estimate, bytes (saturated at `u128::MAX` when the arithmetic overflows).
        bytes: u128,
        /// The budget, bytes.
        budget: u64,
        /// Where the budget comes from.
        source_of_budget: String,
    },
    /// A size overflows the arithmetic of this machine (more elements than `usize` holds).
    #[error("{what}: {detail} overflows the address space of this machine")]
    Overflow {
        /// What was being sized.
        what: String,
        /// The factors, e.g. `"4294967296 × 4294967296 × 2"`.
        detail: String,
    },
    /// A file is longer than the reader accepts, or is not a regular file.
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: String,
        /// What is wrong, e.g. `"not a regular file (a device, FIFO or directory)"`.
        problem: String,
    },
}

/// Bytes, printed with a binary unit (`1.5 GiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u128);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if self.0 == u128::MAX {
            return f.write_str("more than the address space");
        }
        let mut v = self.0 as f64;
        let mut u = 0;
        while v >= 1024.0 && u + 1 < UNITS.len() {
            v /= 1024.0;
            u += 1;
        }
        if u == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{v:.1} {}", UNITS[u])
        }
    }
}

/// Sets the memory budget for this process (bytes; 0 removes the override). The CLI's
/// `--max-memory`.
pub fn set_max_memory(bytes: u64) {
    OVERRIDE.store(bytes, Ordering::Relaxed);
}

/// The memory budget in force and where it comes from.
///
/// # Errors
/// `MRE_SIM_MAX_MEMORY` set to something that is not a size.
pub fn budget() -> Result<(u64, String), String> {
    let o = OVERRIDE.load(Ordering::Relaxed);
    if o > 0 {
        return Ok((o, "--max-memory".into()));
    }
    if let Ok(v) = std::env::var(MAX_MEMORY_ENV) {
        let b = parse_size(&v).map_err(|e| format!("{MAX_MEMORY_ENV}={v}: {e}"))?;
        return Ok((b, MAX_MEMORY_ENV.into()));
    }
    Ok(match available_memory() {
        Some(b) => (b, "available memory".into()),
        None => (FALLBACK_BUDGET, "default, available memory unknown".into()),
    })
}

/// Memory the kernel reports as available for new allocations (`MemAvailable`), bytes.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Parses a size: a number of bytes, or a number with `K`, `M`, `G`, `T` (binary, with or
/// without `iB`/`B`), e.g. `8G`, `512MiB`, `1.5GB`, `1073741824`.
///
/// # Errors
/// Anything else, or zero.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("`{s}`: expected a size such as 8G, 512M or a number of bytes"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("`{s}`: unknown unit `{}`, expected K, M, G or T", unit.trim())),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("`{s}`: expected a positive size below 16 EiB"));
    }
    Ok(bytes as u64)
}

/// The product of `factors`, or an [`LimitError::Overflow`] naming `what`.
///
/// # Errors
/// The product does not fit in `usize`.
pub fn checked_product(what: &str, factors: &[u64]) -> Result<usize, LimitError> {
    factors.iter().try_fold(1u64, |acc, &f| acc.checked_mul(f)).and_then(|n| usize::try_from(n).ok()).ok_or_else(|| LimitError::Overflow {
        what: what.into(),
        detail: factors.iter().map(u64::to_string).collect::<Vec<_>>().join(" × "),
    })
}

/// Checks that `bytes` for `what` fit in the memory budget.
///
/// # Errors
/// [`LimitError::Memory`] when they do not (or the budget override is malformed, reported
/// the same way with the malformed value as the source).
pub fn check_memory(what: &str, bytes: u128) -> Result<(), LimitError> {
    let (budget, source_of_budget) = match budget() {
        Ok(b) => b,
        Err(e) => (FALLBACK_BUDGET, e),
    };
    if bytes > u128::from(budget) {
        return Err(LimitError::Memory { what: what.into(), bytes, budget, source_of_budget });
    }
    Ok(())
}

/// Checks an array of `elements` (the product of `shape`) of `element_bytes` each against the
/// budget and returns the element count.
///
/// # Errors
/// Overflow or more than the budget.
pub fn check_array(what: &str, shape: &[u64], element_bytes: u64) -> Result<usize, LimitError> {
    let n = checked_product(what, shape)?;
    check_memory(what, n as u128 * u128::from(element_bytes))?;
    Ok(n)
}

/// Reads the whole of `path`, refusing anything that is not a regular file or is longer than
/// `max_bytes` (checked from the metadata first, then while reading, so a file that grows or a
/// device that claims length 0 cannot make the read unbounded).
///
/// # Errors
/// I/O errors as `std::io::Error` (with the OS message); a device, FIFO or directory, or a file
/// over the bound as `std::io::ErrorKind::InvalidData` wrapping a [`LimitError::File`].
pub fn read_bounded(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let refuse = |problem: String| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, LimitError::File { path: path.display().to_string(), problem })
    };
    if !meta.is_file() {
        return Err(refuse("not a regular file (a device, FIFO or directory)".into()));
    }
    let over = || refuse(format!("longer than {}, the most this reader accepts", Bytes(max_bytes.into())));
    if meta.len() > max_bytes {
        return Err(over());
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max_bytes {
        return Err(over());
    }
    Ok(buf)
}

/// [`read_bounded`] as UTF-8 text.
///
/// # Errors
/// As [`read_bounded`], and text that is not UTF-8 (`InvalidData`).
pub fn read_to_string_bounded(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path, max_bytes)?).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

/// Checks a thread count against [`MAX_THREADS`].
///
/// # Errors
/// More threads than [`MAX_THREADS`].
pub fn check_threads(what: &str, threads: usize) -> Result<(), String> {
    if threads > MAX_THREADS {
        return Err(format!("{what} = {threads}: expected at most {MAX_THREADS} threads (0 = one per core)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5gb"), Ok(3 << 29));
        assert_eq!(parse_size(" 2 k "), Ok(2048));
        for bad in ["", "G", "-1G", "0", "8X", "1e3", "nan", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn products_that_overflow_are_refused_by_name() {
        assert_eq!(checked_product("grid", &[2, 3, 4]), Ok(24));
        let e = checked_product("phantom.shape", &[4294967296, 4294967296, 2]).unwrap_err();
        assert!(e.to_string().contains("phantom.shape: 4294967296 × 4294967296 × 2 overflows"), "{e}");
    }

    #[test]
    fn bytes_print_in_binary_units() {
        assert_eq!(Bytes(512).to_string(), "512 B");
        assert_eq!(Bytes(3 << 29).to_string(), "1.5 GiB");
        assert_eq!(Bytes(u128::MAX).to_string(), "more than the address space");
    }

    #[test]
    fn the_override_bounds_the_memory() {
        // The only test in this crate that sets the override; it restores it.
        set_max_memory(1 << 20);
        assert!(check_memory("small", 1 << 19).is_ok());
        let e = check_memory("big array", 1 << 21).unwrap_err().to_string();
        assert!(e.contains("big array needs at least 2.0 MiB but the memory budget is 1.0 MiB (--max-memory)"), "{e}");
        set_max_memory(0);
        assert!(check_memory("small", 1 << 19).is_ok());
    }

    #[test]
    fn bounded_reads_refuse_devices_and_long_files() {
        let e = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("/dev/zero: not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        std::fs::write(&p, vec![b'a'; 100]).unwrap();
        assert_eq!(read_bounded(&p, 100).unwrap().len(), 100);
        let e = read_bounded(&p, 99).unwrap_err();
        assert!(e.to_string().contains("longer than 99 B"), "{e}");
        assert!(read_bounded(&dir.path().join("missing"), 10).unwrap_err().kind() == std::io::ErrorKind::NotFound);
    }
}
