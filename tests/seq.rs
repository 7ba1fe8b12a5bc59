//! End-to-end tests of `mre-sim seq export` and `mre-sim seq info`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mre-sim"));
    c.env_remove("MRE_SIM_LOG");
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], dir: &Path) -> Output {
    bin().args(args).current_dir(dir).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The number after `key` on the report line starting with `line`.
fn number_after(report: &str, line: &str, key: &str) -> f64 {
    let l = report.lines().find(|l| l.starts_with(line)).unwrap_or_else(|| panic!("no line {line:?} in\n{report}"));
    let rest = &l[l.find(key).unwrap_or_else(|| panic!("no {key:?} in {l:?}")) + key.len()..];
    rest.trim_start().split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e')).next().unwrap().parse().unwrap()
}

#[test]
fn info_reports_the_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let file = root().join("tests/data/pulseq/gre_meg.seq");
    let o = run(&["seq", "info", file.to_str().unwrap()], dir.path());
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("format        Pulseq 1.5.0"), "{out}");
    assert!(out.contains("ADC           32 events, 512 samples"), "{out}");
    assert!(out.contains("RF pulses     32 excitation"), "{out}");
    assert!(out.contains("labels        SET 0..1, LIN 0..15") || out.contains("LIN 0..15"), "{out}");
    assert!(out.contains("triggers      32 (ext1)"), "{out}");
    // bipolar MEG on z: two 4 ms lobes = 125 Hz
    assert!(out.contains("MEG           axis z,"), "{out}");
    let f = number_after(&out, "MEG", "axis z,");
    assert!((f - 125.0).abs() < 0.01 * 125.0, "{f}\n{out}");
    let tr = number_after(&out, "TR", "TR");
    assert!(tr > 10.0 && tr < 40.0, "{tr}");
}

#[test]
fn info_on_a_bad_file_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(root().join("tests/data/pulseq/gre_64.seq")).unwrap();
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    let at = lines.iter().position(|l| l.trim() == "[BLOCKS]").unwrap() + 1;
    lines[at] = "1 abc 1 0 0 0 0 0".into();
    let bad = dir.path().join("bad.seq");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let o = run(&["seq", "info", bad.to_str().unwrap()], dir.path());
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("bad.seq:{}", at + 1)), "{err}");
    let o = run(&["seq", "info", "missing.seq"], dir.path());
    assert!(!o.status.success());
    assert!(text(&o).1.contains("missing.seq"));
}

#[test]
fn export_quickstart_then_info_finds_the_meg() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = root().join("configs/quickstart.toml");
    let out = dir.path().join("qs.seq");
    // ideal spoiling cannot be written
    let o = run(&["seq", "export", cfg.to_str().unwrap(), out.to_str().unwrap()], dir.path());
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("ideal") && err.contains("--set sequence.spoiling=gradient"), "{err}");
    assert!(!out.exists());
    let args = ["seq", "export", cfg.to_str().unwrap(), out.to_str().unwrap(), "--set", "sequence.spoiling=gradient"];
    let o = run(&args, dir.path());
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(stdout.trim(), out.display().to_string());
    // never silently overwritten
    let o = run(&args, dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let plots = dir.path().join("plots");
    let o = run(&["seq", "info", out.to_str().unwrap(), "--plots", plots.to_str().unwrap()], dir.path());
    let (report, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(report.contains("MEG           axis z,"), "{report}");
    let f = number_after(&report, "MEG", "axis z,");
    assert!((f - 60.0).abs() < 1e-3, "{f}\n{report}");
    let te = number_after(&report, "TE", "TE");
    assert!((te - 20.0).abs() < 1e-3, "{te}");
    let tr = number_after(&report, "TR", "TR");
    assert!((tr - 30.0).abs() < 1e-3, "{tr}");
    assert!(report.contains("ADC           1024 events, 131072 samples"), "{report}");
    assert!(report.contains("MreMegFrequency 60"), "{report}");
    for name in ["qs_waveforms.png", "qs_kspace.png"] {
        let bytes = std::fs::read(plots.join(name)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{name}");
        assert!(report.contains(name), "{report}");
    }
    // plots are not overwritten without --force
    let o = run(&["seq", "info", out.to_str().unwrap(), "--plots", plots.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
}

#[test]
fn export_writes_one_file_per_meg_frequency_and_axis() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = root().join("configs/quickstart.toml");
    let out = dir.path().join("mre.seq");
    let o = run(
        &[
            "seq",
            "export",
            cfg.to_str().unwrap(),
            out.to_str().unwrap(),
            "--set",
            "sequence.spoiling=none",
            "--set",
            "motion.frequencies_hz=[60.0, 80.0]",
            "--set",
            "sequence.meg.axes=[\"z\", \"x\"]",
            "--set",
            "phantom.shape=[1, 32, 32]",
            "--set",
            "sequence.readout_dwell_s=20e-6",
        ],
        dir.path(),
    );
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let written: Vec<&str> = stdout.lines().collect();
    let expected: Vec<String> = ["mre-60Hz-z.seq", "mre-60Hz-x.seq", "mre-80Hz-z.seq", "mre-80Hz-x.seq"]
        .iter()
        .map(|n| dir.path().join(n).display().to_string())
        .collect();
    assert_eq!(written, expected);
    assert!(!out.exists());
    let o = run(&["seq", "info", &expected[3]], dir.path());
    let (report, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let f = number_after(&report, "MEG", "axis x,");
    assert!((f - 80.0).abs() < 1e-3, "{f}\n{report}");
}
