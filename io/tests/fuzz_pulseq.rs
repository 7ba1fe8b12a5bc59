//! Property tests of the Pulseq reader and of the conversion of a file into what the
//! simulator runs: random bytes, and mutations of the valid files of `tests/data/pulseq/` and
//! `configs/pulseq/` (deleted and duplicated lines, numbers replaced by huge, negative,
//! non-finite or malformed values, truncation). The properties: no panic, no allocation
//! beyond a small budget (the memory budget of `mre_solver::limits` is 256 MiB here, and a
//! counting allocator measures what each case allocates), and either `Ok` or an error that
//! names the file.
//!
//! `PROPTEST_CASES` sets the number of cases (default 64 per property, a few seconds);
//! `scripts/fuzz.sh` runs them longer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mre_io::pulseq::info::summarise_imported;
use mre_io::pulseq::{parse_str, LabelMap, PulseqMre, TimelineOptions};
use mre_solver::model::scanner::Scanner;
use mre_solver::sequence::MreSequence;
use mre_solver::units::Axis;
use proptest::prelude::*;

/// Memory budget of the library's checks in these tests, bytes.
const BUDGET: u64 = 256 << 20;
/// Most one case may allocate in all (the budget plus the parser's own structures), bytes.
const CASE_LIMIT: usize = 768 << 20;
/// A single allocation above this is refused (the process aborts: the test fails loudly
/// instead of exhausting the machine).
const HARD_LIMIT: usize = 1 << 30;

/// The system allocator, counting the bytes live on each thread and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // `try_with`: allocations during thread teardown are not counted
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_LIMIT {
            return std::ptr::null_mut();
        }
        track(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_LIMIT {
            return std::ptr::null_mut();
        }
        track(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes allocated at the peak of `f` above what was live before it, and its result.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, (PEAK.with(Cell::get) - base).max(0) as usize)
}

fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    mre_solver::limits::set_max_memory(BUDGET);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The valid files: name and text.
fn fixtures() -> &'static [(String, String)] {
    static F: OnceLock<Vec<(String, String)>> = OnceLock::new();
    F.get_or_init(|| {
        let mut out = Vec::new();
        for dir in [root().join("tests/data/pulseq"), root().join("configs/pulseq")] {
            let mut paths: Vec<PathBuf> =
                std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "seq")).collect();
            paths.sort();
            for p in paths {
                out.push((p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()));
            }
        }
        assert!(out.len() >= 8, "fixtures missing: {out:?}");
        out
    })
}

/// Values a hostile or broken writer puts where a number belongs.
const HOSTILE: [&str; 20] = [
    "0",
    "-1",
    "-0",
    "1e18",
    "-1e18",
    "1e308",
    "-1e308",
    "1e-308",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "2147483647",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "1000000000",
    "0.5",
    "x",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Delete the line at this fraction of the file.
    Delete(f64),
    /// Duplicate the line at this fraction.
    Duplicate(f64),
    /// Replace a token (index modulo the tokens of the line) of the line at this fraction.
    Replace(f64, usize, &'static str),
    /// Cut the text at this fraction.
    Truncate(f64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0f64).prop_map(Mutation::Delete),
        (0.0..1.0f64).prop_map(Mutation::Duplicate),
        (0.0..1.0f64, 0usize..12, proptest::sample::select(&HOSTILE[..])).prop_map(|(f, t, v)| Mutation::Replace(f, t, v)),
        (0.0..1.0f64).prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = |f: f64, n: usize| ((f * n as f64) as usize).min(n.saturating_sub(1));
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        match *m {
            Mutation::Delete(f) => {
                lines.remove(at(f, lines.len()));
            }
            Mutation::Duplicate(f) => {
                let i = at(f, lines.len());
                lines.insert(i, lines[i].clone());
            }
            Mutation::Replace(f, t, v) => {
                let i = at(f, lines.len());
                let mut toks: Vec<&str> = lines[i].split_whitespace().collect();
                if !toks.is_empty() {
                    let k = t % toks.len();
                    toks[k] = v;
                    lines[i] = toks.join(" ");
                }
            }
            Mutation::Truncate(f) => {
                let mut s = lines.join("\n");
                let mut cut = (f * s.len() as f64) as usize;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                lines = s.lines().map(str::to_string).collect();
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Parse `text` as `name`, convert and summarise it, and (written to `dir`) read it as an MRE acquisition
/// and build its timeline and shot encodings. Every error must name the file.
fn exercise(text: &str, name: &str, dir: &Path) -> Result<(), TestCaseError> {
    let names_file = |e: &dyn std::fmt::Display, file: &str| {
        let s = e.to_string();
        prop_assert!(s.contains(file), "error does not name {file}: {s}");
        Ok(())
    };
    match parse_str(text, name) {
        Err(e) => return names_file(&e, name),
        Ok(read) => {
            // the conversion names a parsed sequence by its Name definition
            match read.sequence.to_timeline(&TimelineOptions::default()) {
                Err(e) => {
                    let label = read.sequence.definition("Name").unwrap_or("sequence").to_string();
                    names_file(&e, &label)?;
                }
                // what `mre-sim seq info` prints
                Ok(imp) => drop(summarise_imported(&read.sequence, &imp).to_string()),
            }
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();
    match PulseqMre::read(&[(Axis::Z, path)], LabelMap::default(), None, 0.01) {
        Err(e) => names_file(&e, &file)?,
        Ok(mre) => {
            let scanner = Scanner::default();
            for c in 0..mre.components().len() {
                // errors here are the solver's (e.g. an encoding without an excitation)
                let _ = mre.timeline(60.0, c, &scanner);
                let _ = mre.shot_encoding(60.0, c, &scanner);
            }
            let _ = mre.description();
        }
    }
    Ok(())
}

fn check(text: &str, name: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let (result, peak) = peak_of(|| exercise(text, name, dir.path()));
    result?;
    prop_assert!(peak < CASE_LIMIT, "{name}: a case allocated {peak} bytes at its peak (limit {CASE_LIMIT})");
    Ok(())
}

proptest! {
    #![proptest_config(cases())]

    /// Arbitrary bytes (as the reader would see them after UTF-8 decoding).
    #[test]
    fn random_bytes_are_refused_or_read(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&String::from_utf8_lossy(&bytes), "random.seq")?;
    }

    /// Random section-shaped text: headers and rows of small and hostile numbers.
    #[test]
    fn random_rows_are_refused_or_read(
        rows in proptest::collection::vec(
            (proptest::sample::select(&["[VERSION]", "[DEFINITIONS]", "[BLOCKS]", "[RF]", "[GRADIENTS]", "[TRAP]", "[ADC]", "[EXTENSIONS]", "[SHAPES]", "extension LABELSET 1", "extension LABELINC 2", "extension TRIGGERS 3", "major 1", "minor 5", "minor 4", "shape_id 1", "num_samples 4", ""][..]),
             proptest::collection::vec(proptest::sample::select(&["0", "1", "2", "3", "-1", "1e18", "NaN", "0.5", "4294967295", "LIN", "e"][..]), 0..12)),
            0..60,
        )
    ) {
        let text: String = rows.iter().map(|(head, nums)| format!("{head} {}\n", nums.join(" "))).collect();
        check(&text, "rows.seq")?;
    }

    /// The valid files, mutated.
    #[test]
    fn mutated_files_are_refused_or_read(
        which in 0usize..64,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let (name, text) = &fixtures()[which % fixtures().len()];
        check(&mutate(text, &mutations), name)?;
    }
}

/// The valid files pass unchanged through everything the properties exercise (the
/// properties would be vacuous if the conversion refused every file).
#[test]
fn the_unmutated_files_convert() {
    mre_solver::limits::set_max_memory(BUDGET);
    let mut mre_files = 0;
    for (name, text) in fixtures() {
        let read = parse_str(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        read.sequence.to_timeline(&TimelineOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        if PulseqMre::read(&[(Axis::Z, path)], LabelMap::default(), None, 0.01).is_ok() {
            mre_files += 1;
        }
    }
    assert!(mre_files >= 1, "no fixture reads as an MRE acquisition");
}
