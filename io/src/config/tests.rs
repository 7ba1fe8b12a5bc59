//! The configuration through the library API, without the binary: the shipped configs,
//! `--set` overrides, and the error of every broken config that `tests/cli.rs`,
//! `tests/invert.rs`, `tests/bayes.rs`, `tests/mrd.rs` and `tests/pulseq_sim.rs` check through
//! `mre-sim` (which exits with 2, "invalid input", for every [`ConfigError`]).

use std::path::{Path, PathBuf};

use mre_solver::units::Axis;
use mre_solver::wave::{Face, FaceCondition, Side, SolverChoice};

use super::*;

/// The repository's `configs/`.
fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

// `SMALL` (a small, valid 2-D config) and `broken_cases()`, shared with `tests/cli.rs`.
include!("../../../tests/common/broken_configs.rs");

fn sets(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// Parse `text` as `small.toml` with `--set` overrides.
fn parse(text: &str, overrides: &[&str]) -> Result<(RunConfig, Source), ConfigError> {
    RunConfig::parse(text, "small.toml", PathBuf::from("."), &sets(overrides))
}

/// The error of parsing and building `text` (what `mre-sim` and `mre-sim check` print).
fn error(text: &str, overrides: &[&str]) -> ConfigError {
    match parse(text, overrides) {
        Err(e) => e,
        Ok((cfg, src)) => match cfg.build(&src) {
            Err(e) => e,
            Ok(_) => panic!("accepted: {overrides:?}\n{text}"),
        },
    }
}

fn assert_contains(e: &ConfigError, expect: &[&str], what: &str) {
    let msg = e.to_string();
    for x in expect {
        assert!(msg.contains(x), "{what}: {x:?} not in {msg:?}");
    }
}

#[test]
fn every_shipped_config_parses_builds_and_round_trips() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(configs()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let (cfg, src) = RunConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        let built = cfg.build(&src).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(built.frequencies_hz, cfg.motion.frequencies_hz, "{}", path.display());
        // the resolved config (what `check` prints) is itself a config, and the same one
        let (again, _) = RunConfig::parse(&cfg.to_toml(), "resolved.toml", src.dir.clone(), &[]).unwrap();
        assert_eq!(again, cfg, "{}", path.display());
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    assert_eq!(names, ["brain-3d.toml", "inclusion-2d.toml", "navier-3d-small.toml", "pulseq-gre-mre.toml", "quickstart.toml"]);
}

#[test]
fn wave_configs_describe_the_driven_wave_for_mre_solver() {
    let (cfg, src) = RunConfig::load(&configs().join("inclusion-2d.toml"), &[]).unwrap();
    let built = cfg.build(&src).unwrap();
    let w = built.wave.as_ref().expect("source = \"wave\"");
    assert_eq!(w.drive, [Face::new(Axis::X, Side::Low)]);
    assert_eq!(w.boundary.faces[2], [FaceCondition::Free, FaceCondition::Absorbing]);
    assert_eq!(w.boundary.faces[1], [FaceCondition::Absorbing; 2]);
    assert_eq!(w.solver, SolverChoice::Auto);
    assert!(built.motion.is_empty(), "solved by prepare, not by build");
    // the actuator's short face names are the same faces
    let short = |t: &str| t.replace("\"x-low\"", "\"x-\"").replace("\"x-high\"", "\"x+\"").replace("\"y-low\"", "\"y-\"");
    let text = std::fs::read_to_string(configs().join("inclusion-2d.toml")).unwrap();
    assert_ne!(short(&text), text);
    let (cfg2, src2) = RunConfig::parse(&short(&text), "short.toml", configs(), &[]).unwrap();
    let w2 = cfg2.build(&src2).unwrap().wave.unwrap();
    assert_eq!((w2.drive, w2.boundary), (w.drive.clone(), w.boundary.clone()));
    // and a face that is neither is refused, naming the list entry
    let e = error(&text.replace("drive = [\"x-low\"]", "drive = [\"x-middle\"]"), &[]);
    assert_contains(&e, &["motion.wave.drive[0]", "x-middle", "expected a face like"], "bad face");
    // --set chooses the solver
    let (cfg3, src3) = RunConfig::parse(&text, "i.toml", configs(), &sets(&["motion.wave.solver=iterative"])).unwrap();
    assert_eq!(cfg3.build(&src3).unwrap().wave.unwrap().solver, SolverChoice::Iterative);
}

#[test]
fn overrides_set_typed_values_and_list_entries() {
    let (cfg, src) = parse(
        SMALL,
        &[
            "sequence.phase_offsets=8",
            "output.figures=false",
            "phantom.shape=[1, 48, 40]",
            "motion.medium=gel",
            "sequence.te_s = 0.025",
            "tissue.0.t1_s=0.9",
            "tissue.1.t2_s=0.06",
            "simulation.precision=\"f64\"",
        ],
    )
    .unwrap();
    assert_eq!(cfg.sequence.phase_offsets, Some(8));
    assert!(!cfg.output.figures);
    assert_eq!(cfg.phantom.shape, [1, 48, 40]);
    // not TOML: taken as a string
    assert_eq!(cfg.motion.medium.as_deref(), Some("gel"));
    assert_eq!(cfg.sequence.te_s, Some(0.025));
    assert_eq!((cfg.tissues[0].t1_s, cfg.tissues[1].t2_s), (0.9, 0.06));
    assert_eq!(cfg.tissues[1].t1_s, 1.0, "other entries untouched");
    assert_eq!(cfg.simulation.precision, PrecisionConfig::F64);
    assert_eq!(src.overridden[..3], ["sequence.phase_offsets", "output.figures", "phantom.shape"]);
    assert!(src.overridden.contains(&"tissue.0.t1_s".to_string()));
    cfg.build(&src).unwrap();
    // an override of a table the file does not have creates it
    let (cfg, _) = parse(SMALL, &["scanner.field_strength_t=1.5"]).unwrap();
    assert_eq!(cfg.scanner.field_strength_t, 1.5);
    // without overrides, the built-in default of phase_offsets is resolved
    assert_eq!(parse(SMALL, &[]).unwrap().0.sequence.phase_offsets, Some(4));
}

#[test]
fn bad_overrides_name_set_and_say_what_is_expected() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("sequence.te_s", vec!["--set", "sequence.te_s", "expected section.key=value"]),
        ("sequence..te_s=1", vec!["--set", "expected a dotted key like sequence.te_s"]),
        ("tissue.t1_s=0.9", vec!["--set", "'tissue' is a list: give an index, e.g. tissue.0.t1_s"]),
        ("tissue.5.t1_s=0.9", vec!["--set", "index 5 is out of range (the list has 2 entries)"]),
        (
            "tissue.-1.t1_s=1",
            vec!["--set", "'-1' is not an index of the list 'tissue'", "non-negative integer below 2", "e.g. tissue.0.t1_s"],
        ),
        ("tissue.+1.t1_s=1", vec!["--set", "'+1' is not an index", "e.g. tissue.0.t1_s"]),
        ("tissue.99999999999999999999.t1_s=1", vec!["--set", "is not an index of the list 'tissue'", "non-negative integer"]),
        ("tissue.0.x.y=1", vec!["--set", "only one key below a list index"]),
        ("sequence.te_s.x=1", vec!["--set", "'te_s' is not a table"]),
    ];
    for (set, expect) in cases {
        let e = parse(SMALL, &[set]).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("--set", None), "{set}: {e}");
        assert_contains(&e, &expect, set);
    }
    // an unknown key: serde's list of the known ones is the suggestion
    let e = parse(SMALL, &["phantom.spin_per_voxel=3"]).unwrap_err();
    assert_contains(&e, &["small.toml (with --set overrides)", "spin_per_voxel", "unknown field", "spins_per_voxel"], "unknown key");
    assert_eq!(e.line, None, "the line of the merged text would mislead");
    let e = parse(SMALL, &["tissue.0.t1=0.9"]).unwrap_err();
    assert_contains(&e, &["unknown field `t1`", "t1_s"], "unknown list key");
    // a value of the wrong type, and an unknown enum value
    let e = parse(SMALL, &["phantom.spins_per_voxel=two"]).unwrap_err();
    assert_contains(&e, &["phantom.spins_per_voxel", "invalid type", "two"], "wrong type");
    let e = parse(SMALL, &["sequence.spoiling=perfect"]).unwrap_err();
    assert_contains(&e, &["sequence.spoiling", "perfect", "ideal"], "bad enum");
    // a value the build refuses is reported against --set, not a line of the file
    let e = error(SMALL, &["tissue.1.t2_s=2.0"]);
    assert_eq!(e.file, "--set");
    assert_contains(&e, &["--set: tissue[1].t2_s", "T2 not longer than T1"], "bad value");
}

/// Broken configs beyond `broken_cases()` (what, text edits of SMALL, `--set` overrides, fragments).
fn more_broken_cases() -> Vec<Broken> {
    vec![
        // tests/mrd.rs
        ("zero field strength", vec![], vec!["scanner.field_strength_t=0"], vec!["scanner.field_strength_t", "positive field strength"]),
        // not in tests/cli.rs: the other checks of the build
        ("no tissue", vec![], vec!["tissue=[]"], vec!["tissue", "at least one tissue"]),
        ("two tissues of one name", vec![("name = \"bright\"", "name = \"gel\"")], vec![], vec!["tissue[1].name", "unique", ":22"]),
        ("bad cylinder axis", vec![("radius_m = 0.01", "radius_m = 0.01\naxis = \"w\"")], vec![], vec!["phantom.inclusion[0].axis", "'w'"]),
        ("zero radius", vec![("radius_m = 0.01", "radius_m = 0.0")], vec![], vec!["phantom.inclusion[0].radius_m", "positive radius"]),
        ("box without size", vec![("shape = \"cylinder\"", "shape = \"box\"")], vec![], vec!["half_size_zyx_m", "missing"]),
        ("no frequency", vec![("frequencies_hz = [60.0]", "frequencies_hz = []")], vec![], vec!["motion.frequencies_hz", "empty"]),
        ("wave without its table", vec![("source = \"plane-wave\"", "source = \"wave\"")], vec![], vec!["motion.wave", "missing"]),
        ("hdf5 without a file", vec![("source = \"plane-wave\"", "source = \"hdf5\"")], vec![], vec!["motion.file", "missing"]),
        ("MEG axis twice", vec![], vec!["sequence.meg.axes=[\"z\", \"z\"]"], vec!["sequence.meg.axes[1]", "listed twice"]),
        ("raster step", vec![], vec!["simulation.integration=raster", "simulation.raster_step_s=1.0"], vec!["simulation.raster_step_s"]),
        // tests/invert.rs and tests/bayes.rs
        ("unknown invert method", vec![], vec!["invert.method=fem"], vec!["invert.method", "fem", "ahi"]),
        (
            "bayes key with ahi",
            vec![],
            vec!["invert.method=ahi", "invert.chains=2"],
            vec!["invert.chains", "only used with method = \"bayes\""],
        ),
        ("unknown invert key", vec![], vec!["invert.method=bayes", "invert.seeds=7"], vec!["seeds", "unknown field"]),
        ("too few tune draws", vec![], vec!["invert.method=bayes", "invert.tune=5"], vec!["invert.tune", "at least 10"]),
        ("no draws", vec![], vec!["invert.method=bayes", "invert.draws=0"], vec!["invert.draws", "at least 1"]),
        (
            "zero prior median",
            vec![],
            vec!["invert.method=bayes", "invert.prior_storage_pa=0"],
            vec!["invert.prior_storage_pa", "positive finite"],
        ),
        ("prior with ahi", vec![], vec!["invert.method=ahi", "invert.prior_log_std=1.5"], vec!["invert.prior_log_std", "only used with"]),
        (
            "unknown sampler",
            vec![],
            vec!["invert.method=bayes", "invert.sampler=gibbs"],
            vec!["invert.sampler", "gibbs", "independence, nuts"],
        ),
    ]
}

#[test]
fn broken_configs_give_the_errors_the_binary_prints() {
    let cases = broken_cases();
    assert!(cases.len() >= 12);
    for (what, edits, overrides, expect) in cases.into_iter().chain(more_broken_cases()) {
        let mut text = SMALL.to_string();
        for (a, b) in &edits {
            assert!(text.contains(a), "{what}: pattern {a:?} not in the config");
            text = text.replacen(a, b, 1);
        }
        if what == "missing phantom file" {
            // labels_file excludes shapes (as in tests/cli.rs)
            text = text.replace("[[phantom.inclusion]]\nshape = \"cylinder\"\nradius_m = 0.01\ntissue = \"bright\"\n", "");
        }
        let e = error(&text, &overrides);
        assert_contains(&e, &expect, what);
        assert!(!e.to_string().contains("panicked"), "{what}");
    }
}

#[test]
fn errors_in_the_file_name_its_line_and_key() {
    let text = SMALL.replace("t1_s = 0.8", "t1_s = -0.8");
    let e = error(&text, &[]);
    assert_eq!((e.file.as_str(), e.line, e.key.as_str()), ("small.toml", Some(16), "tissue[0].t1_s"));
    assert!(e.to_string().starts_with("small.toml:16: tissue[0].t1_s: "), "{e}");
    // the location of keys in tables, arrays of tables and the top level
    assert_eq!(locate(SMALL, "tissue[1].t2_s"), Some(25));
    assert_eq!(locate(SMALL, "phantom.inclusion[0].radius_m"), Some(11));
    assert_eq!(locate(SMALL, "sequence.meg.amplitude_t_per_m"), Some(43));
    assert_eq!(locate(SMALL, "sequence.fov_m[1]"), Some(36), "an absent key: its table's header");
    assert_eq!(locate(SMALL, "scanner.gmax"), None);
    // a file that cannot be read
    let e = RunConfig::load(Path::new("/nonexistent/run.toml"), &[]).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("/nonexistent/run.toml", None));
    assert_contains(&e, &["cannot read the config file"], "missing file");
    assert_eq!(e.to_string().matches("/nonexistent/run.toml").count(), 1, "the file is named once: {e}");
    // a device is refused before it is read, by name
    let e = RunConfig::load(Path::new("/dev/zero"), &[]).unwrap_err();
    assert_eq!(e.to_string(), "/dev/zero: cannot read the config file: not a regular file (a device, FIFO or directory)");
    // a file longer than a config can be
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.toml");
    std::fs::write(&long, vec![b'#'; mre_solver::limits::MAX_CONFIG_BYTES as usize + 1]).unwrap();
    let e = RunConfig::load(&long, &[]).unwrap_err();
    assert_contains(&e, &["long.toml: cannot read the config file: longer than 16.0 MiB"], "long file");
}

#[test]
fn a_missing_table_is_named_without_a_misleading_line() {
    let text =
        format!("# a comment on line 1\n{}", &SMALL[..SMALL.find("[[tissue]]").unwrap()]) + &SMALL[SMALL.find("[motion]").unwrap()..];
    let e = parse(&text, &[]).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (None, "tissue"), "{e}");
    assert_eq!(
        e.to_string(),
        "small.toml: tissue: missing: no [[tissue]] tables; at least one tissue is expected (the [phantom] is made of tissues)"
    );
    let text = format!("# comment\n{}", &SMALL[SMALL.find("[[tissue]]").unwrap()..]);
    let e = parse(&text, &[]).unwrap_err();
    assert_eq!((e.line, e.to_string().as_str()), (None, "small.toml: phantom: missing: the [phantom] table is required"));
    // a key missing inside a table keeps its table's line
    let e = parse(&SMALL.replace("amplitude_t_per_m = 0.03", ""), &[]).unwrap_err();
    assert_eq!(e.key, "sequence.meg", "{e}");
    assert!(e.line.is_some(), "{e}");
}

#[test]
fn sizes_that_cannot_fit_are_refused_by_key_before_the_phantom_is_made() {
    // each far beyond any machine's memory: refused whatever the budget of the test machine
    let cases = [
        ("phantom.shape=[4294967296,4294967296,2]", "phantom.shape", "overflows"),
        ("phantom.shape=[1,100000,100000]", "phantom.shape", "needs at least"),
        ("phantom.spins_per_voxel=1000000000000", "phantom.spins_per_voxel", "needs at least"),
        ("sequence.dummy_scans=100000000000", "sequence.dummy_scans", "needs at least"),
        ("sequence.phase_offsets=100000000", "sequence.phase_offsets", "needs at least"),
        ("simulation.threads=100000", "simulation.threads", "at most 4096 threads"),
    ];
    for (set, key, words) in cases {
        let e = error(SMALL, &[set]);
        assert_eq!((e.file.as_str(), e.key.as_str()), ("--set", key), "{set}: {e}");
        assert_contains(&e, &[words], set);
    }
    // the refusal carries the estimate and where the budget comes from; with a background
    // tissue every voxel of the grid counts before the phantom is painted: 32² × 10¹² × 128 B
    let e = error(SMALL, &["phantom.spins_per_voxel=1000000000000"]);
    assert_contains(
        &e,
        &["the run (isochromats 116.4 PiB (phantom.spins_per_voxel)", "but the memory budget is", "--max-memory"],
        "estimate",
    );
}

#[test]
fn pulseq_config_errors_name_the_key_and_the_file() {
    let base = std::fs::read_to_string(configs().join("pulseq-gre-mre.toml")).unwrap();
    let parse_pulseq = |text: &str| {
        let (cfg, src) = RunConfig::parse(text, "c.toml", configs(), &[]).unwrap();
        cfg.build(&src).err().unwrap_or_else(|| panic!("accepted:\n{text}"))
    };
    let with = |extra: &str| base.replace("pulseq = \"pulseq/gre_mre.seq\"", &format!("pulseq = \"pulseq/gre_mre.seq\"\n{extra}"));
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("built-in key", with("tr_s = 0.03"), vec!["sequence.tr_s", "built-in"]),
        ("missing file", base.replace("pulseq/gre_mre.seq", "pulseq/nope.seq"), vec!["sequence.pulseq", "nope.seq"]),
        ("bad label", with("").replace("offset_label = \"PHS\"", "offset_label = \"REV\""), vec!["sequence.offset_label", "counter label"]),
        (
            "axes count",
            with("").replace("encoded_axes = [\"z\"]", "encoded_axes = [\"z\", \"x\"]"),
            vec!["sequence.encoded_axes", "one axis per file"],
        ),
    ];
    for (what, text, expect) in cases {
        assert_ne!(text, base, "{what}: the edit did nothing");
        assert_contains(&parse_pulseq(&text), &expect, what);
    }
}

#[test]
fn navier_motion_and_per_tissue_compressibility_reach_the_domain_types() {
    use mre_solver::model::phantom::Tissue;
    use mre_solver::wave::WaveEquation;
    let (cfg, src) = RunConfig::load(&configs().join("navier-3d-small.toml"), &[]).unwrap();
    let built = cfg.build(&src).unwrap();
    assert_eq!(built.wave.as_ref().unwrap().equation, WaveEquation::Navier);
    let k = |b: &BuiltRun| b.phantom.tissues.iter().map(|t| t.bulk_modulus_pa).collect::<Vec<_>>();
    // brain: the default; lesion: ν = 0.45 of G' = 6 kPa
    let lesion = 2.0 * 6000.0 * 1.45 / (3.0 * 0.1);
    let got = k(&built);
    assert_eq!(got[0], Tissue::SOFT_TISSUE_BULK_MODULUS_PA);
    assert!((got[1] / lesion - 1.0).abs() < 1e-12, "{got:?}");
    // ν = 0.5: the incompressible gauge, 10⁶ |G*|; bulk_modulus_pa as given
    let text = std::fs::read_to_string(configs().join("navier-3d-small.toml")).unwrap();
    let (c2, s2) = RunConfig::parse(&text, "n.toml", configs(), &sets(&["tissue.1.poisson_ratio=0.5"])).unwrap();
    assert!((k(&c2.build(&s2).unwrap())[1] / (1e6 * 6000f64.hypot(900.0)) - 1.0).abs() < 1e-12);
    let text3 = text.replace("poisson_ratio = 0.45", "bulk_modulus_pa = 3e6");
    let (c3, s3) = RunConfig::parse(&text3, "n.toml", configs(), &[]).unwrap();
    assert_eq!(k(&c3.build(&s3).unwrap())[1], 3e6);
    // the scalar default is unchanged: no key, the scalar equation and the compact scheme
    let (c4, s4) = RunConfig::load(&configs().join("inclusion-2d.toml"), &[]).unwrap();
    let w = c4.build(&s4).unwrap().wave.unwrap();
    assert_eq!((w.equation, w.scheme), (WaveEquation::Scalar, mre_solver::wave::Scheme::Compact));
    assert!(!c4.to_toml().contains("scheme"), "an unset scheme stays unset in the resolved config");
    // errors name the key
    let e = error(&text.replace("poisson_ratio = 0.45", "poisson_ratio = 0.45\nbulk_modulus_pa = 3e6"), &[]);
    assert_contains(&e, &["tissue[1].poisson_ratio", "not both"], "both keys");
    let e = error(&text, &["tissue.1.poisson_ratio=0.6"]);
    assert_contains(&e, &["tissue[1].poisson_ratio", "(−1, 0.5]"], "ν > 0.5");
    let e = error(&text, &["motion.wave.scheme=\"compact\""]);
    assert_contains(&e, &["motion.wave.scheme", "navier"], "compact with Navier");
}
