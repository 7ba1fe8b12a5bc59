//! Simulating a Pulseq file (`[sequence] pulseq = …`): the pypulseq-made GRE-MRE of
//! `configs/pulseq-gre-mre.toml` against the analytic plane wave, and bad configs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mre_sim::io::config::RunConfig;
use mre_sim::solver::model::motion::{Displacement, PlaneShearWave};
use mre_sim::solver::simulate;
use ndarray::s;
use num_complex::Complex64;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mre-sim")).args(args).current_dir(cwd).output().expect("run mre-sim")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The imported sequence's reconstructed wave is the analytic plane wave: the k-space
/// sorting by labels, the motion-clock restarts at the triggers with the PHS label's phase
/// and the shot encodings computed from the trapezoid MEG all have to be right for the
/// least-squares gain to be 1 (a wrong sign conjugates, a wrong offset scrambles, a wrong
/// encoding scales). What remains is the file's imperfect spoiling (no ideal spoiling:
/// RF spoiling and a spoiler sampled by 16 jittered isochromats per voxel).
#[test]
fn pypulseq_gre_mre_recovers_the_plane_wave() {
    let cfg_path = root().join("configs/pulseq-gre-mre.toml");
    let (cfg, src) = RunConfig::load(&cfg_path, &[]).unwrap();
    let run = cfg.build(&src).unwrap();
    let out = simulate(&run.experiment(), &run.options, &()).unwrap();
    assert_eq!(out.kspace.shape(), &[1, 1, 4, 1, 1, 64, 64]);
    assert!(out.kspace_negative.is_some(), "SET labels give both polarities");
    assert!((out.image_grid.voxel_size_m[2] - 3e-3).abs() < 1e-12, "FOV from the k-space steps: {:?}", out.image_grid.voxel_size_m);
    let t = &cfg.tissues[0];
    let analytic = PlaneShearWave::new(
        cfg.motion.frequencies_hz[0],
        t.storage_modulus_pa,
        t.loss_modulus_pa,
        t.density_kg_m3,
        cfg.motion.amplitude_m.unwrap(),
        cfg.motion.propagation_zyx.unwrap(),
        cfg.motion.polarization_zyx.unwrap(),
    )
    .unwrap();
    let wave = out.wave.slice(s![0, 0, .., .., ..]).to_owned();
    let (mut dot, mut nw, mut na) = (Complex64::new(0.0, 0.0), 0.0, 0.0);
    for ((z, y, x), &m) in out.mask.indexed_iter() {
        // away from the disc edge (partial-volume phase)
        let c = out.image_grid.centre([z, y, x]);
        if m == 1 && c[1].hypot(c[2]) < 0.075 {
            let a = analytic.amplitude(c)[0];
            let w = wave[[z, y, x]];
            dot += w * a.conj();
            nw += w.norm_sqr();
            na += a.norm_sqr();
        }
    }
    let gain = dot / na;
    let corr = dot.norm() / (nw * na).sqrt();
    eprintln!("gain {gain:.4}, correlation {corr:.4}, encoding {:?}", out.encoding);
    assert!((gain - 1.0).norm() < 0.02, "gain {gain}");
    assert!(corr > 0.99, "correlation {corr}");
}

#[test]
fn pulseq_config_errors_name_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(root().join("configs/pulseq-gre-mre.toml")).unwrap();
    let seq = root().join("configs/pulseq/gre_mre.seq");
    let with = |extra: &str, file: &Path| {
        base.replace("pulseq = \"pulseq/gre_mre.seq\"", &format!("pulseq = {:?}\n{extra}", file.to_str().unwrap()))
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("built-in key", with("tr_s = 0.03", &seq), vec!["sequence.tr_s", "built-in"]),
        ("missing file", with("", &dir.path().join("nope.seq")), vec!["sequence.pulseq", "nope.seq"]),
        ("no offset labels", with("", &root().join("tests/data/pulseq/gre_64.seq")), vec!["gre_64.seq", "PHS", "at least 3"]),
        (
            "bad label",
            with("", &seq).replace("offset_label = \"PHS\"", "offset_label = \"REV\""),
            vec!["sequence.offset_label", "counter label"],
        ),
        // with the motion clock restarted at phase 0 at every trigger, every shot of this file
        // encodes the same motion phase (its offsets are programmed, not delayed): the shots'
        // encodings, computed from the waveform, cannot resolve U and the run must refuse
        ("offsets not realised", with("trigger_phase = \"zero\"", &seq), vec!["motion encoding of the shots", "spread"]),
        (
            "axes count",
            with("", &seq).replace("encoded_axes = [\"z\"]", "encoded_axes = [\"z\", \"x\"]"),
            vec!["sequence.encoded_axes", "one axis per file"],
        ),
    ];
    for (name, cfg, expect) in cases {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, cfg).unwrap();
        let o = run(&["check", path.to_str().unwrap()], dir.path());
        let t = text(&o);
        assert!(!o.status.success(), "{name}: accepted\n{t}");
        for e in expect {
            assert!(t.contains(e), "{name}: missing {e:?} in\n{t}");
        }
    }
    // and a valid one reports what the file acquires
    let o = run(&["check", root().join("configs/pulseq-gre-mre.toml").to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("matrix [1, 64, 64]"), "{}", text(&o));
}

/// The round trip at the level of a whole run: the built-in GRE-MRE of a config,
/// exported with `mre-sim seq export`, read back through `[sequence] pulseq = …` (labels,
/// triggers with the PHS phase, shot encodings from the waveform) gives the built-in run's
/// k-space and wave (f64 kernel).
#[test]
fn exported_builtin_sequence_simulates_like_the_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let quick = std::fs::read_to_string(root().join("configs/quickstart.toml")).unwrap();
    let small = quick
        .replace("shape = [1, 128, 128]", "shape = [1, 32, 32]")
        .replace("voxel_size_m = [0.005, 0.0015, 0.0015]", "voxel_size_m = [0.005, 0.006, 0.006]")
        .replace("dummy_scans = 80", "dummy_scans = 10")
        .replace("spoiling = \"ideal\"", "spoiling = \"gradient\"")
        .replace("precision = \"f32\"", "precision = \"f64\"");
    assert_ne!(small, quick);
    std::fs::write(dir.path().join("builtin.toml"), &small).unwrap();
    let o = run(&["seq", "export", "builtin.toml", "mre.seq"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let start = small.find("[sequence]").unwrap();
    let end = small.find("[scanner]").unwrap();
    let imported = format!("{}[sequence]\npulseq = \"mre.seq\"\nencoded_axes = [\"z\"]\n\n{}", &small[..start], &small[end..]);
    std::fs::write(dir.path().join("imported.toml"), imported).unwrap();
    let simulate_config = |name: &str| {
        let (cfg, src) = RunConfig::load(&dir.path().join(name), &[]).unwrap();
        let run = cfg.build(&src).unwrap();
        simulate(&run.experiment(), &run.options, &()).unwrap()
    };
    let a = simulate_config("builtin.toml");
    let b = simulate_config("imported.toml");
    let rel = |x: &ndarray::ArrayD<Complex64>, y: &ndarray::ArrayD<Complex64>| {
        let scale = y.iter().map(|v| v.norm()).fold(0.0, f64::max);
        x.iter().zip(y).map(|(p, q)| (p - q).norm()).fold(0.0, f64::max) / scale
    };
    assert_eq!(a.kspace.shape(), b.kspace.shape());
    let dk = rel(&b.kspace, &a.kspace);
    let dkn = rel(b.kspace_negative.as_ref().unwrap(), a.kspace_negative.as_ref().unwrap());
    let dw = rel(&b.wave.clone().into_dyn(), &a.wave.clone().into_dyn());
    let de = (b.encoding[0] - a.encoding[0]).norm() / a.encoding[0].norm();
    eprintln!("k-space {dk:.1e} (+), {dkn:.1e} (−); wave {dw:.1e}; encoding {de:.1e}");
    assert!(dk <= 1e-6 && dkn <= 1e-6, "k-space differs: {dk:e} {dkn:e}");
    assert!(dw <= 1e-6 && de <= 1e-6, "wave {dw:e}, encoding {de:e}");
}
