//! Hostile Pulseq input through the binary (issue 17): sizes declared by a file (ADC samples,
//! a run-length coded shape, a LIN label) refused before they are allocated, devices and
//! missing files refused up front, and values that used to panic or produce non-finite
//! timings refused with the file, line and section. Every case exits 2 and writes nothing.
//!
//! The size cases run under `ulimit -v` (4 GB of address space: an allocation beyond it
//! aborts instead of returning exit 2) with the memory budget at 1 GiB, and are killed with
//! a clear failure after a deadline.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{run, text};

/// Kill a command still running after this: a refusal takes well under a second.
const DEADLINE: Duration = Duration::from_secs(5);

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// `mre-sim args` in `cwd` with a 1 GiB memory budget under the bounds of
/// [`common::run_bounded`] (`ulimit -v`, peak RSS under 1 GiB, killed after [`DEADLINE`]).
fn bounded(args: &[&str], cwd: &Path) -> Output {
    common::run_bounded(args, cwd, &[("MRE_SIM_MAX_MEMORY", "1G")], DEADLINE)
}

/// True when `text` has `<…file>:<line>: in <section>`.
fn names_line(text: &str, file: &str, section: &str) -> bool {
    text.match_indices(&format!("{file}:")).any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(&format!(": in {section}"))
    })
}

/// Files in `dir` (names), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// `tests/data/pulseq/gre_64.seq` with `edit` applied, written to `dir/name`.
fn gre64_with(dir: &Path, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = std::fs::read_to_string(data("tests/data/pulseq/gre_64.seq")).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "{name}: the edit changed nothing");
    let p = dir.join(name);
    std::fs::write(&p, edited).unwrap();
    p
}

/// `configs/pulseq-gre-mre.toml` (output `out/run.h5`) and its `pulseq/gre_mre.seq` with
/// `edit` applied, in `dir`; returns the config path.
fn mre_run_with(dir: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    let seq = std::fs::read_to_string(data("configs/pulseq/gre_mre.seq")).unwrap();
    let edited = edit(&seq);
    assert_ne!(edited, seq, "the edit changed nothing");
    std::fs::create_dir_all(dir.join("pulseq")).unwrap();
    std::fs::write(dir.join("pulseq/gre_mre.seq"), edited).unwrap();
    let cfg = std::fs::read_to_string(data("configs/pulseq-gre-mre.toml")).unwrap().replace("out/pulseq-gre-mre.h5", "out/run.h5");
    let p = dir.join("run.toml");
    std::fs::write(&p, cfg).unwrap();
    p
}

/// Exit 2, the message naming `must`, and nothing but the inputs in `dir`.
fn refused(o: &Output, dir: &Path, inputs: &[&str], must: &[&str]) -> String {
    let t = text(o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2: {t}");
    for m in must {
        assert!(t.contains(m), "message without `{m}`: {t}");
    }
    let mut expected: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listing(dir), expected, "something was written: {t}");
    t
}

#[test]
fn an_adc_of_a_billion_samples_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    gre64_with(dir.path(), "adc.seq", |t| t.replacen("\n1 64 50000 20 0 0 0 0 0\n", "\n1 1000000000 50000 20 0 0 0 0 0\n", 1));
    let o = bounded(&["seq", "info", "adc.seq"], dir.path());
    let t = refused(&o, dir.path(), &["adc.seq"], &["ADC 1 with 1000000000 samples", "memory budget is 1.0 GiB"]);
    assert!(names_line(&t, "adc.seq", "[BLOCKS]"), "{t}");

    // the same in a run: refused while the config is built, nothing written
    let run_dir = tempfile::tempdir().unwrap();
    mre_run_with(run_dir.path(), |s| s.replacen("\n1 64 10000 90 0 0 0 3.14159 0\n", "\n1 1000000000 10000 90 0 0 0 3.14159 0\n", 1));
    let o = bounded(&["run.toml"], run_dir.path());
    let t = refused(&o, run_dir.path(), &["pulseq", "run.toml"], &["sequence.pulseq", "1000000000 samples"]);
    assert!(names_line(&t, "gre_mre.seq", "[BLOCKS]"), "{t}");
}

#[test]
fn a_shape_expanding_to_1e18_samples_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    gre64_with(dir.path(), "shape.seq", |t| {
        t.replacen("[SHAPES]\n", "[SHAPES]\n\nshape_id 999\nnum_samples 1000000000000000000\n0\n1\n1\n999999999999999998\n", 1)
    });
    let o = bounded(&["seq", "info", "shape.seq"], dir.path());
    let t = refused(&o, dir.path(), &["shape.seq"], &["num_samples 1000000000000000000", "memory budget"]);
    assert!(names_line(&t, "shape.seq", "[SHAPES]"), "{t}");
}

#[test]
fn a_lin_label_of_2_31_is_refused_before_sizing_the_matrix() {
    let dir = tempfile::tempdir().unwrap();
    mre_run_with(dir.path(), |s| s.replacen("\n8 4 LIN\n", "\n8 2147483647 LIN\n", 1));
    let o = bounded(&["run.toml"], dir.path());
    refused(&o, dir.path(), &["pulseq", "run.toml"], &["gre_mre.seq", "LIN label up to 2147483647", "ADC samples"]);
}

#[test]
fn devices_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let o = bounded(&["seq", "info", "/dev/zero"], dir.path());
    refused(&o, dir.path(), &[], &["/dev/zero", "not a regular file"]);

    let cfg = std::fs::read_to_string(data("configs/pulseq-gre-mre.toml"))
        .unwrap()
        .replace("pulseq/gre_mre.seq", "/dev/zero")
        .replace("out/pulseq-gre-mre.h5", "out/run.h5");
    std::fs::write(dir.path().join("run.toml"), cfg).unwrap();
    let o = bounded(&["run.toml"], dir.path());
    refused(&o, dir.path(), &["run.toml"], &["sequence.pulseq", "/dev/zero", "not a regular file"]);
}

#[test]
fn a_missing_file_exits_2_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["seq", "info", "missing.seq"], dir.path());
    let t = refused(&o, dir.path(), &[], &["missing.seq"]);
    assert_eq!(t.matches("No such file or directory").count(), 1, "{t}");
    assert_eq!(t.matches("missing.seq").count(), 1, "{t}");

    let o = run(&["seq", "export", "missing.toml", "out.seq"], dir.path());
    let t = refused(&o, dir.path(), &[], &["missing.toml"]);
    assert_eq!(t.matches("No such file or directory").count(), 1, "{t}");
}

/// Values that used to panic, divide by zero or give non-finite times: refused with the
/// file, line and section.
#[test]
fn broken_values_are_refused_at_their_line() {
    let cases: [(&str, &str, &str, &str, &str); 6] = [
        (
            "zero raster",
            "GradientRasterTime 1e-05",
            "GradientRasterTime 0",
            "[DEFINITIONS]",
            "GradientRasterTime must be one positive time",
        ),
        ("NaN raster", "AdcRasterTime 1e-07", "AdcRasterTime NaN", "[DEFINITIONS]", "AdcRasterTime must be one positive time"),
        ("NaN dwell", "\n1 64 50000 20 0 0 0 0 0\n", "\n1 64 NaN 20 0 0 0 0 0\n", "[ADC]", "ADC dwell"),
        ("missing shape", "\n1      83.7416 1 2 0 1000", "\n1      83.7416 99 2 0 1000", "[RF]", "magnitude shape 99 is not in [SHAPES]"),
        (
            "shape beyond f64",
            "[SHAPES]\n",
            "[SHAPES]\n\nshape_id 998\nnum_samples 6\n1e308\n1e308\n4\n",
            "[SHAPES]",
            "beyond the range of numbers",
        ),
        ("time beyond f64", "BlockDurationRaster 1e-05", "BlockDurationRaster 1e306", "[BLOCKS]", "beyond the range of numbers"),
    ];
    for (what, from, to, section, must) in cases {
        let dir = tempfile::tempdir().unwrap();
        gre64_with(dir.path(), "bad.seq", |t| t.replacen(from, to, 1));
        let o = bounded(&["seq", "info", "bad.seq"], dir.path());
        let t = refused(&o, dir.path(), &["bad.seq"], &[must]);
        assert!(names_line(&t, "bad.seq", section), "{what}: expected bad.seq:LINE: in {section}: {t}");
        assert!(!t.contains("panicked"), "{what}: {t}");
    }
}
