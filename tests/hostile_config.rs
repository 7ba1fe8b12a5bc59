//! Hostile configs and command lines (issue 17): sizes that cannot fit, threads beyond reason,
//! devices as config files, misleading messages. Each through the binary: exit 2, a message
//! naming the key (and for the sizes the estimate), nothing written. The size cases run under
//! `ulimit -v` (an allocation beyond it would abort instead of exit 2) and a deadline (a
//! run that starts computing is killed and fails the test).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::text;

/// What a refusal may take.
const DEADLINE: Duration = Duration::from_secs(5);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn quickstart() -> String {
    root().join("configs/quickstart.toml").display().to_string()
}

/// `mre-sim args` in `cwd` with `env` set under the bounds of [`common::run_bounded`]
/// (`ulimit -v`, peak RSS under 1 GiB, killed after [`DEADLINE`]).
fn bounded_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    common::run_bounded(args, cwd, env, DEADLINE)
}

fn bounded(args: &[&str], cwd: &Path) -> Output {
    bounded_env(args, cwd, &[])
}

/// Exit 2 with every word of `expect` in the output, once; no panic, no abort.
fn assert_refused(o: &Output, expect: &[&str], what: &str) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(2), "{what}: expected exit 2, got {:?}:\n{t}", o.status);
    for w in expect {
        assert!(t.contains(w), "{what}: expected {w:?} in:\n{t}");
    }
    assert!(!t.contains("panicked"), "{what}:\n{t}");
    assert_eq!(t.matches("error:").count(), 1, "{what}: one error line:\n{t}");
}

/// Nothing but `keep` in `dir`.
fn assert_nothing_written(dir: &Path, keep: &[&str], what: &str) {
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    assert!(left.is_empty(), "{what}: wrote {left:?}");
}

/// The quickstart with `from` replaced by `to`, written to `dir/hostile.toml`.
fn edited(dir: &Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(quickstart()).unwrap();
    assert!(text.contains(from), "{from:?} not in the quickstart");
    let p = dir.join("hostile.toml");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    p.display().to_string()
}

#[test]
fn sizes_that_cannot_fit_are_refused_up_front_by_key_with_the_estimate() {
    // (what, --set, key, words of the message)
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        (
            "grid beyond the address space",
            "phantom.shape=[4294967296,4294967296,2]",
            "phantom.shape",
            &["4294967296 × 4294967296 × 2 overflows"],
        ),
        ("grid of 10¹⁰ voxels", "phantom.shape=[1,100000,100000]", "phantom.shape", &["needs at least", "TiB", "memory budget"]),
        ("10⁹ isochromats per voxel", "phantom.spins_per_voxel=1000000000", "phantom.spins_per_voxel", &["isochromats", "needs at least"]),
        ("10⁹ dummy scans", "sequence.dummy_scans=1000000000", "sequence.dummy_scans", &["sequence plan", "needs at least"]),
        ("10⁶ phase offsets", "sequence.phase_offsets=1000000", "sequence.phase_offsets", &["needs at least"]),
    ];
    let qs = quickstart();
    for (what, set, key, words) in cases {
        for check in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut args = vec![];
            if check {
                args.push("check");
            }
            args.extend([qs.as_str(), "--set", set]);
            if !check {
                args.extend(["--output", "out/run.h5"]);
            }
            let o = bounded(&args, dir.path());
            let mut expect = vec![format!("--set: {key}: ")];
            expect.extend(words.iter().map(|w| w.to_string()));
            let expect: Vec<&str> = expect.iter().map(String::as_str).collect();
            assert_refused(&o, &expect, &format!("{what} (check: {check})"));
            assert_nothing_written(dir.path(), &[], what);
        }
    }
}

#[test]
fn a_size_in_the_file_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = edited(dir.path(), "spins_per_voxel = 4", "spins_per_voxel = 1000000000");
    let o = bounded(&["check", &cfg], dir.path());
    assert_refused(
        &o,
        &["hostile.toml:17: phantom.spins_per_voxel: the run (isochromats ", "needs at least"],
        "spins_per_voxel in the file",
    );
    let o = bounded(&[&cfg, "--output", "out/run.h5"], dir.path());
    assert_refused(&o, &["hostile.toml:17: phantom.spins_per_voxel"], "run");
    assert_nothing_written(dir.path(), &["hostile.toml"], "spins_per_voxel in the file");
}

#[test]
fn threads_beyond_the_cap_are_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let qs = quickstart();
    for args in [vec!["check", &qs, "--set", "simulation.threads=100000"], vec![&qs, "--set", "simulation.threads=100000", "-o", "o/r.h5"]]
    {
        let o = bounded(&args, dir.path());
        assert_refused(&o, &["--set: simulation.threads: threads = 100000: expected at most 4096 threads"], "threads");
    }
    assert_nothing_written(dir.path(), &[], "threads");
}

#[test]
fn a_device_as_config_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["/dev/zero"], vec!["check", "/dev/zero"], vec!["seq", "export", "/dev/zero", "x.seq"]] {
        let o = bounded(&args, dir.path());
        assert_refused(&o, &["/dev/zero: cannot read the config file: not a regular file"], &format!("{args:?}"));
    }
    assert_nothing_written(dir.path(), &[], "/dev/zero");
}

#[test]
fn the_memory_budget_is_set_by_option_or_environment_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let qs = quickstart();
    // the quickstart needs about 35 MiB: 1 MiB refuses it, wherever the option stands
    for args in [
        vec!["--max-memory", "1M", "check", &qs],
        vec!["check", &qs, "--max-memory", "1M"],
        vec![&qs, "--max-memory", "1M", "-o", "o/r.h5"],
        vec!["seq", "export", &qs, "x.seq", "--max-memory", "1M"],
    ] {
        let o = bounded(&args, dir.path());
        assert_refused(&o, &["needs at least", "but the memory budget is 1.0 MiB (--max-memory)"], &format!("{args:?}"));
    }
    let o = bounded_env(&["check", &qs], dir.path(), &[("MRE_SIM_MAX_MEMORY", "1M")]);
    assert_refused(&o, &["memory budget is 1.0 MiB (MRE_SIM_MAX_MEMORY)"], "environment");
    // the option wins over the environment
    let o = bounded_env(&["check", &qs, "--max-memory", "2G"], dir.path(), &[("MRE_SIM_MAX_MEMORY", "1M")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // a malformed budget
    let o = bounded_env(&["check", &qs], dir.path(), &[("MRE_SIM_MAX_MEMORY", "lots")]);
    assert_refused(&o, &["MRE_SIM_MAX_MEMORY=lots", "expected a size"], "malformed environment");
    let o = bounded(&["check", &qs, "--max-memory", "0"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--max-memory"), "{}", text(&o));
    // run arguments with a subcommand are still refused
    let o = bounded(&["--force", "check", &qs], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_nothing_written(dir.path(), &[], "budget");
}

#[test]
fn check_prints_the_estimated_memory_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let o = bounded(&["check", &quickstart()], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let line = t.lines().find(|l| l.starts_with("# estimated peak memory ")).unwrap_or_else(|| panic!("no estimate in:\n{t}"));
    assert!(line.contains("MiB") && line.contains("isochromats") && line.contains("Bloch kernel about"), "{line}");
    // four times the isochromats per voxel: a larger estimate, four times the kernel time
    let o = bounded(&["check", &quickstart(), "--set", "phantom.spins_per_voxel=16"], dir.path());
    let t16 = text(&o);
    let seconds = |t: &str| -> f64 {
        let l = t.lines().find(|l| l.starts_with("# estimated")).unwrap();
        l.split("Bloch kernel about ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap()
    };
    let ratio = seconds(&t16) / seconds(&t);
    assert!((ratio - 4.0).abs() < 0.1, "{ratio}: {t16}");
}

#[test]
fn misleading_messages_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    // no [[tissue]]: no line (line 1 is a comment), the table named
    let text_ = std::fs::read_to_string(quickstart()).unwrap();
    let (a, b) = (text_.find("[[tissue]]").unwrap(), text_.find("[motion]").unwrap());
    let p = dir.path().join("no-tissue.toml");
    std::fs::write(&p, format!("{}{}", &text_[..a], &text_[b..])).unwrap();
    let o = bounded(&["check", p.to_str().unwrap()], dir.path());
    assert_refused(&o, &["no-tissue.toml: tissue: missing: no [[tissue]] tables"], "no tissue");
    assert!(!text(&o).contains("no-tissue.toml:1"), "{}", text(&o));
    // a negative list index
    let o = bounded(&["check", &quickstart(), "--set", "tissue.-1.t1_s=1"], dir.path());
    assert_refused(&o, &["'-1' is not an index of the list 'tissue'", "non-negative integer", "e.g. tissue.0.t1_s"], "index");
    assert!(!text(&o).contains("tissue.0.-1"), "{}", text(&o));
    // a missing config names the file once
    let o = bounded(&["check", "missing.toml"], dir.path());
    assert_refused(&o, &["missing.toml: cannot read the config file: No such file"], "missing");
    assert_eq!(text(&o).matches("missing.toml").count(), 1, "{}", text(&o));
    assert_nothing_written(dir.path(), &["no-tissue.toml"], "messages");
}
