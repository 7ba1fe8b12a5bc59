//! Acceptance tests of the Pulseq reader, writer and timeline conversion
//! against fixtures written and analysed by pypulseq
//! (`scripts/pulseq/make_sequences.py`, references `*.ref.json`).

use std::path::PathBuf;

use mre_io::pulseq::{
    parse_str, read_pulseq, ExtensionRef, GradEvent, Label, PulseqError, PulseqWarning, RfUse, Shape, SignatureStatus, TimelineOptions,
    GAMMA_HZ_PER_T,
};
use mre_io::solver::plan::{Integration, SequencePlan};
use serde_json::Value;

const FIXTURES: [&str; 7] = ["gre_64", "gre_meg", "gre_meg_v141", "spin_echo", "spin_echo_v142", "bssfp", "epi"];

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/pulseq")
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(data_dir().join(format!("{name}.seq"))).unwrap()
}

fn reference(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data_dir().join(format!("{name}.ref.json"))).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn every_fixture_matches_pypulseq() {
    for name in FIXTURES {
        let read = read_pulseq(data_dir().join(format!("{name}.seq"))).unwrap();
        let r = reference(name);
        let seq = &read.sequence;
        assert!(matches!(read.signature, SignatureStatus::Verified { .. }), "{name}: {:?}", read.signature);
        assert!(read.warnings.iter().all(|w| matches!(w, PulseqWarning::Upgraded { .. })), "{name}: {:?}", read.warnings);
        // block table
        let blocks: Vec<Vec<u64>> = r["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect())
            .collect();
        let ours: Vec<Vec<u64>> = seq.block_table().iter().map(|row| row.to_vec()).collect();
        assert_eq!(ours, blocks, "{name}: block table");
        // counts and durations
        let n_adc = r["n_adc"].as_u64().unwrap() as usize;
        assert_eq!(seq.adc_sample_count() as usize, n_adc, "{name}");
        let imp = seq.to_timeline(&TimelineOptions::default()).unwrap();
        assert_eq!(imp.adc.len(), n_adc);
        assert_eq!(imp.timeline.n_signal, n_adc);
        assert_eq!(imp.timeline.adc.len(), n_adc);
        let total = r["total_duration"].as_f64().unwrap();
        assert!((imp.duration_s - total).abs() < 1e-12, "{name}: {} vs {total}", imp.duration_s);
        assert_eq!(imp.timeline.duration_s, imp.duration_s);
        let n_exc = imp.rf.iter().filter(|c| matches!(c.rf_use, RfUse::Excitation | RfUse::Undefined)).count();
        let n_ref = imp.rf.iter().filter(|c| c.rf_use == RfUse::Refocusing).count();
        assert_eq!(
            (n_exc as u64, n_ref as u64),
            (r["n_excitation"].as_u64().unwrap(), r["n_refocusing"].as_u64().unwrap()),
            "{name}: RF uses"
        );
        // ADC times and order
        let t_ref = floats(&r["t_adc"]);
        for (i, (s, t)) in imp.adc.iter().zip(&t_ref).enumerate() {
            assert!((s.time_s - t).abs() < 1e-9, "{name}: ADC {i} at {} s, pypulseq {t} s", s.time_s);
            assert_eq!(imp.timeline.adc[i].index as usize, i);
            assert_eq!(imp.timeline.adc[i].time_s, s.time_s);
        }
        // k-space at every ADC sample, rows kx, ky, kz in the reference
        let k_ref: Vec<Vec<f64>> = r["k_adc"].as_array().unwrap().iter().map(floats).collect();
        let k_max = k_ref.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut err = 0.0f64;
        for (i, s) in imp.adc.iter().enumerate() {
            let [kz, ky, kx] = s.k_per_m;
            for (ours, theirs) in [kx, ky, kz].iter().zip([k_ref[0][i], k_ref[1][i], k_ref[2][i]]) {
                err = err.max((ours - theirs).abs());
            }
        }
        eprintln!("{name}: {n_adc} ADC samples, k_max {k_max:.3} 1/m, max k error {err:.3e} 1/m ({:.2e} of k_max)", err / k_max);
        assert!(err <= 1e-6 * k_max, "{name}: k-space error {err} vs k_max {k_max}");
        // labels in force at each ADC event
        for (label, values) in r["labels_adc"].as_object().unwrap() {
            let label = Label::parse(label).unwrap();
            let firsts: Vec<i64> = imp.adc.iter().filter(|s| s.sample == 0).map(|s| s.labels.get(label)).collect();
            let expected: Vec<i64> = values.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            assert_eq!(firsts, expected, "{name}: label {}", label.as_str());
        }
        // the simulator accepts the timeline
        let plan = SequencePlan::build(&imp.timeline, 2.0 * std::f64::consts::PI * 60.0, Integration::Events).unwrap();
        assert_eq!(plan.adc_count(), n_adc, "{name}");
    }
}

#[test]
fn gradient_pieces_integrate_to_the_kspace_positions() {
    // independent path: the solver pieces (T/m, [z, y, x]) integrated in closed form
    for name in ["gre_meg", "epi", "spin_echo"] {
        let seq = read_pulseq(data_dir().join(format!("{name}.seq"))).unwrap().sequence;
        let imp = seq.to_timeline(&TimelineOptions::default()).unwrap();
        let excitations: Vec<f64> = imp.rf.iter().filter(|c| c.rf_use == RfUse::Excitation).map(|c| c.time_s).collect();
        let refocusing: Vec<f64> = imp.rf.iter().filter(|c| c.rf_use == RfUse::Refocusing).map(|c| c.time_s).collect();
        let m0 = |a: f64, b: f64| {
            let mut m = [0.0; 3];
            for p in &imp.timeline.gradients {
                let (pm, _) = p.moments(a, b, 0.0, 0.0);
                (0..3).for_each(|k| m[k] += pm[k] * GAMMA_HZ_PER_T);
            }
            m
        };
        for s in imp.adc.iter().step_by(97) {
            let te = *excitations.iter().rev().find(|&&t| t <= s.time_s).unwrap();
            let k = match refocusing.iter().rev().find(|&&t| t > te && t <= s.time_s) {
                None => m0(te, s.time_s),
                Some(&tr) => {
                    let (before, after) = (m0(te, tr), m0(tr, s.time_s));
                    [0, 1, 2].map(|a| after[a] - before[a])
                }
            };
            for (a, (ours, theirs)) in k.iter().zip(s.k_per_m).enumerate() {
                assert!((ours - theirs).abs() < 1e-9, "{name} t={} axis {a}: {ours} vs {theirs}", s.time_s);
            }
        }
    }
}

#[test]
fn rf_pulses_become_rotations_with_the_right_flip_angle() {
    // bSSFP: 40° block pulses without gradients take the fast path, phases 0, π, 0, ...
    let seq = read_pulseq(data_dir().join("bssfp.seq")).unwrap().sequence;
    let imp = seq.to_timeline(&TimelineOptions::default()).unwrap();
    assert_eq!(imp.timeline.rf.len(), imp.rf.len());
    for (i, (p, c)) in imp.timeline.rf.iter().zip(&imp.rf).enumerate() {
        assert!((p.angle_rad - 40f64.to_radians()).abs() < 1e-5, "{p:?}"); // amplitude written with 6 digits
        assert!((p.time_s - c.time_s).abs() < 1e-12, "rotation at the centre");
        let expected = if i % 2 == 0 { 0.0 } else { std::f64::consts::PI };
        assert!(((p.phase_rad - expected + 1.0).rem_euclid(std::f64::consts::TAU) - 1.0).abs() < 1e-5, "{i}: {}", p.phase_rad);
    }
    // without the fast path: one rotation per RF raster sample, same total angle
    let slow = seq.to_timeline(&TimelineOptions { merge_constant_pulses: false, ..Default::default() }).unwrap();
    assert_eq!(slow.timeline.rf.len(), 300 * imp.rf.len());
    let sum: f64 = slow.timeline.rf[..300].iter().map(|p| p.angle_rad).sum();
    assert!((sum - imp.timeline.rf[0].angle_rad).abs() < 1e-12);

    // spoiled GRE: sinc pulses (with gradient) are trains; the net on-resonance rotation is 15°
    let seq = read_pulseq(data_dir().join("gre_64.seq")).unwrap().sequence;
    let imp = seq.to_timeline(&TimelineOptions::default()).unwrap();
    assert_eq!(imp.timeline.rf.len(), 64 * 2000);
    for pulse in imp.timeline.rf.chunks(2000).take(3) {
        let z: num_complex::Complex64 = pulse.iter().map(|p| num_complex::Complex64::from_polar(p.angle_rad, p.phase_rad)).sum();
        assert!((z.norm() - 15f64.to_radians()).abs() < 1e-4 * 15f64.to_radians(), "{}", z.norm().to_degrees());
    }
    // spin echo: the 180° pulse
    let seq = read_pulseq(data_dir().join("spin_echo.seq")).unwrap().sequence;
    let imp = seq.to_timeline(&TimelineOptions::default()).unwrap();
    let c = imp.rf.iter().find(|c| c.rf_use == RfUse::Refocusing).unwrap();
    let first = imp.timeline.rf.iter().position(|p| p.time_s > c.time_s - 1.25e-3).unwrap();
    let z: num_complex::Complex64 =
        imp.timeline.rf[first..first + c.rotations].iter().map(|p| num_complex::Complex64::from_polar(p.angle_rad, p.phase_rad)).sum();
    assert!((z.norm().to_degrees() - 180.0).abs() < 0.05, "{}", z.norm().to_degrees());
    assert!((z.arg() - std::f64::consts::FRAC_PI_2).abs() < 1e-5, "refocusing phase 90°: {}", z.arg());
}

#[test]
fn triggers_and_labels_of_the_mre_sequence() {
    let seq = read_pulseq(data_dir().join("gre_meg.seq")).unwrap().sequence;
    let imp = seq.to_timeline(&TimelineOptions::default()).unwrap();
    assert_eq!(imp.triggers.len(), 32);
    for t in &imp.triggers {
        assert_eq!((t.spec.kind, t.spec.channel, t.spec.channel_name()), (1, 3, Some("ext1")));
        assert_eq!(t.spec.duration_us, 100.0);
        assert!((t.time_s - imp.block_start_s[t.block_index]).abs() < 1e-15);
        assert_eq!(seq.blocks[t.block_index].rf, seq.blocks[t.block_index].rf.max(1), "trigger sits in an RF block");
        assert_eq!(t.motion_trigger(0.5).phase_offset_rad, 0.5);
    }
    // SET 0 for the first 16 lines, 1 after; LIN counts 0..15 in both
    let per_event: Vec<(i64, i64)> =
        imp.adc.iter().filter(|s| s.sample == 0).map(|s| (s.labels.get(Label::Set), s.labels.get(Label::Lin))).collect();
    let expected: Vec<(i64, i64)> = (0..2).flat_map(|s| (0..16).map(move |l| (s, l))).collect();
    assert_eq!(per_event, expected);
    // EPI: REV flag on odd lines
    let seq = read_pulseq(data_dir().join("epi.seq")).unwrap().sequence;
    let imp = seq.to_timeline(&TimelineOptions::default()).unwrap();
    let rev: Vec<bool> = imp.adc.iter().filter(|s| s.sample == 0).map(|s| s.labels.flag(Label::Rev)).collect();
    assert_eq!(rev, (0..32).map(|i| i % 2 == 1).collect::<Vec<_>>());
    let ext = seq.blocks.iter().find(|b| b.ext != 0).unwrap();
    assert!(matches!(seq.block_extensions(ext).unwrap()[..], [ExtensionRef::LabelSet(_), ..]));
}

#[test]
fn write_read_round_trip_and_signature() {
    let dir = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let seq = read_pulseq(data_dir().join(format!("{name}.seq"))).unwrap().sequence;
        let path = dir.path().join(format!("{name}.seq"));
        seq.write(&path, false).unwrap();
        let back = read_pulseq(&path).unwrap();
        assert!(matches!(back.signature, SignatureStatus::Verified { .. }), "{name}: {:?}", back.signature);
        assert!(back.warnings.is_empty(), "{name}: {:?}", back.warnings);
        let mut expected = seq.clone();
        expected.version = mre_io::pulseq::Version::WRITTEN;
        assert_eq!(back.sequence, expected, "{name}: parse → write → parse");
        assert_eq!(back.sequence.to_string(), seq.to_string(), "{name}: text is stable");
        // the k-space of the written file is the same
        let a = seq.to_timeline(&TimelineOptions::default()).unwrap();
        let b = back.sequence.to_timeline(&TimelineOptions::default()).unwrap();
        assert_eq!(a.adc, b.adc, "{name}");
    }
    // refuse to overwrite without force, leave no temporary files
    let path = dir.path().join("gre_meg.seq");
    let seq = read_pulseq(&path).unwrap().sequence;
    let err = seq.write(&path, false).unwrap_err();
    assert!(matches!(err, PulseqError::Exists { .. }) && err.to_string().contains("gre_meg.seq"), "{err}");
    seq.write(&path, true).unwrap();
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), FIXTURES.len(), "{names:?}");
}

#[test]
fn the_14_reader_infers_what_pypulseq_infers() {
    let read = read_pulseq(data_dir().join("spin_echo_v142.seq")).unwrap();
    assert_eq!(read.sequence.version.to_string(), "1.4.2");
    assert!(read.warnings.iter().any(|w| matches!(w, PulseqWarning::Upgraded { .. })), "{:?}", read.warnings);
    let v15 = read_pulseq(data_dir().join("spin_echo.seq")).unwrap().sequence;
    let uses = |s: &mre_io::pulseq::PulseqSequence| s.rf.values().map(|r| r.rf_use).collect::<Vec<_>>();
    assert_eq!(uses(&read.sequence), uses(&v15));
    for (a, b) in read.sequence.rf.values().zip(v15.rf.values()) {
        assert!((a.center_us - b.center_us).abs() < 1.0, "{} vs {}", a.center_us, b.center_us);
    }
    // extended-trapezoid and arbitrary gradients get first/last as written by 1.5
    for (id, g) in &read.sequence.gradients {
        if let (GradEvent::Arbitrary(a), Some(GradEvent::Arbitrary(b))) = (g, v15.gradients.get(id)) {
            assert!((a.first_hz_per_m - b.first_hz_per_m).abs() < 1e-6 * a.amplitude_hz_per_m.abs(), "{id}");
            assert!(
                (a.last_hz_per_m - b.last_hz_per_m).abs() < 1e-3 * a.amplitude_hz_per_m.abs(),
                "{id}: {} vs {}",
                a.last_hz_per_m,
                b.last_hz_per_m
            );
        }
    }
}

#[test]
fn shapes_compress_as_pypulseq() {
    let mut compared = 0;
    for name in FIXTURES {
        let seq = read_pulseq(data_dir().join(format!("{name}.seq"))).unwrap().sequence;
        for (id, shape) in &seq.shapes {
            let again = Shape::from_samples(shape.samples().to_vec());
            assert_eq!(again.packed().len(), shape.packed().len(), "{name} shape {id}");
            for (a, b) in again.packed().iter().zip(shape.packed()) {
                assert!((a - b).abs() <= 1e-8 * b.abs().max(1e-7), "{name} shape {id}: {a} vs {b}");
            }
            for (a, b) in again.samples().iter().zip(shape.samples()) {
                assert!((a - b).abs() < 1e-6);
            }
            compared += usize::from(shape.is_compressed());
        }
    }
    assert!(compared >= 5, "{compared} compressed shapes");
}

fn parse_err(text: &str) -> String {
    match parse_str(text, "bad.seq") {
        Ok(_) => panic!("accepted bad input"),
        Err(e) => e.to_string(),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.starts_with(needle)).unwrap() + 1
}

#[test]
fn bad_input_gives_located_errors() {
    let good = fixture_text("gre_meg");

    // truncated inside [SHAPES]
    let shape1 = line_of(&good, "shape_id 1");
    let cut: String = good.lines().take(shape1 + 3).map(|l| format!("{l}\n")).collect();
    let e = parse_err(&cut);
    assert!(e.contains(&format!("bad.seq:{shape1}: in [SHAPES]: file ends inside shape 1 (truncated?)")), "{e}");

    // truncated in the middle of a block row
    let row = line_of(&good, " 10 400");
    let cut = format!("{}{}", good.lines().take(row - 1).map(|l| format!("{l}\n")).collect::<String>(), " 10 400   0   0");
    let e = parse_err(&cut);
    assert!(e.contains(&format!("bad.seq:{row}: in [BLOCKS]")) && e.contains("expected 8 fields"), "{e}");

    // truncated before [SHAPES]: the RF events lose their shapes
    let cut = &good[..good.find("# Sequence Shapes").unwrap()];
    let rf1 = line_of(cut, "1      83.7416");
    let e = parse_err(cut);
    assert!(e.contains(&format!("bad.seq:{rf1}: in [RF]")) && e.contains("magnitude shape 1 is not in [SHAPES]"), "{e}");

    // unknown section
    let bad = good.replacen("[TRAP]", "[TRAPS]", 1);
    let e = parse_err(&bad);
    assert!(e.contains(&format!("bad.seq:{}: in [TRAPS]: unknown section [TRAPS]", line_of(&bad, "[TRAPS]"))), "{e}");

    // missing shape id
    let bad = good.replacen("1      83.7416 1 2 0", "1      83.7416 77 2 0", 1);
    let e = parse_err(&bad);
    assert!(e.contains("in [RF]: RF 1: magnitude shape 77 is not in [SHAPES]"), "{e}");

    // missing event id referenced by a block
    let bad = good.replacen("\n  5 162   0   7   0   0  1  0", "\n  5 162   0   7   0   0 99  0", 1);
    let e = parse_err(&bad);
    assert!(e.contains(&format!("bad.seq:{}: in [BLOCKS]: block 5: references ADC event 99", line_of(&bad, "  5 162"))), "{e}");

    // wrong versions
    for (from, to, shown) in [("minor 5", "minor 3", "1.3.0"), ("major 1", "major 2", "2.5.0")] {
        let bad = good.replacen(from, to, 1);
        let e = parse_err(&bad);
        assert!(
            e.contains(&format!("bad.seq:{}: in [VERSION]: unsupported Pulseq format version {shown}", line_of(&bad, "[VERSION]"))),
            "{e}"
        );
    }
    let e = parse_err(&good.replacen("[VERSION]", "# no version", 1).replacen("major 1\nminor 5\nrevision 0\n", "", 1));
    assert!(e.contains("expected a [VERSION] section before [DEFINITIONS]") || e.contains("[VERSION]"), "{e}");

    // negative durations, dwell, counts
    for (from, to, what) in [
        ("\n  3 400", "\n  3 -400", "block duration (block rasters) must not be negative"),
        (" 5       851520 200 3600 200   0", " 5       851520 -200 3600 200   0", "rise time (us) must not be negative"),
        ("1 16 100000 10 0 0 0 0 0", "1 16 -100000 10 0 0 0 0 0", "ADC dwell (ns) must not be negative"),
        ("1 16 100000 10 0 0 0 0 0", "1 -16 100000 10 0 0 0 0 0", "ADC sample count must not be negative"),
        ("1 1 3 0 100", "1 1 3 0 -100", "trigger duration (us) must not be negative"),
    ] {
        assert!(good.contains(from), "{from}");
        let bad = good.replacen(from, to, 1);
        let line = bad.lines().position(|l| l.starts_with(to.trim_start_matches('\n'))).unwrap() + 1;
        let e = parse_err(&bad);
        assert!(e.starts_with(&format!("bad.seq:{line}: in ")) && e.contains(what), "{e}");
    }

    // malformed number
    let bad = good.replacen("83.7416 1 2 0 1000 110", "83.74.16 1 2 0 1000 110", 1);
    let e = parse_err(&bad);
    assert!(e.contains("in [RF]: expected a finite number for RF amplitude (Hz), found `83.74.16`"), "{e}");
    let e = parse_err(&good.replacen("83.7416 1 2 0 1000 110", "NaN 1 2 0 1000 110", 1));
    assert!(e.contains("expected a finite number"), "{e}");

    // not a Pulseq file at all
    assert!(parse_err("hello\n").contains("bad.seq:1: in (top): expected a section header"));
    assert!(parse_err("").contains("no [VERSION] section"));
}

#[test]
fn corrupted_signature_and_unknown_extension_are_warnings() {
    let good = fixture_text("gre_meg");
    let bad = good.replacen("1      83.7416", "1      83.7417", 1);
    let read = parse_str(&bad, "edited.seq").unwrap();
    assert!(matches!(read.signature, SignatureStatus::Mismatch { .. }));
    let w: Vec<String> = read.warnings.iter().map(|w| w.to_string()).collect();
    assert!(w.iter().any(|w| w.starts_with("edited.seq: signature mismatch")), "{w:?}");
    // a broken hash line too
    let bad = good.replacen("Hash ", "Hash 0", 1);
    assert!(matches!(parse_str(&bad, "x.seq").unwrap().signature, SignatureStatus::Mismatch { .. }));

    // an unknown extension is kept, warned about, written back
    let ext = "extension VENDORTHING 7\n1 2 3 abc\n2 5 6 def\n\n";
    let text = good.replacen("# Sequence Shapes", &format!("{ext}# Sequence Shapes"), 1);
    let read = parse_str(&text, "vendor.seq").unwrap();
    assert!(
        read.warnings.iter().any(|w| matches!(w, PulseqWarning::UnknownExtension { name, .. } if name == "VENDORTHING")),
        "{:?}",
        read.warnings
    );
    assert_eq!(read.sequence.other_extensions[0].rows, vec!["1 2 3 abc", "2 5 6 def"]);
    let again = parse_str(&read.sequence.to_string(), "again.seq").unwrap();
    assert_eq!(again.sequence.other_extensions, read.sequence.other_extensions);
    assert!(read.sequence.to_timeline(&TimelineOptions::default()).is_ok());
}

/// Deterministic pseudo-random numbers for the robustness test.
fn lcg(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *state >> 33
}

#[test]
fn no_panic_on_cut_or_corrupted_files() {
    for name in ["gre_meg", "spin_echo_v142"] {
        let good = fixture_text(name);
        let n = good.len();
        let mut state = 42u64;
        for k in 0..150 {
            let cut = &good[..(k * n / 150)];
            if let Ok(r) = parse_str(cut, "cut.seq") {
                let _ = r.sequence.to_timeline(&TimelineOptions::default());
            }
            // replace one character by a random printable one
            let mut bytes = good.clone().into_bytes();
            let at = lcg(&mut state) as usize % n;
            bytes[at] = b" -0123456789.e#[]x\n"[lcg(&mut state) as usize % 19];
            if let Ok(text) = String::from_utf8(bytes) {
                if let Ok(r) = parse_str(&text, "noisy.seq") {
                    let _ = r.sequence.to_timeline(&TimelineOptions::default());
                    let _ = r.sequence.to_string();
                }
            }
        }
    }
}

#[test]
fn pypulseq_reads_the_written_files() {
    // Needs pypulseq: set MRE_PYPULSEQ_PYTHON=/path/to/python (e.g. /work/venv-pq/bin/python).
    let Ok(python) = std::env::var("MRE_PYPULSEQ_PYTHON") else {
        eprintln!("MRE_PYPULSEQ_PYTHON not set: skipping the pypulseq cross-check");
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pulseq/read_block_table.py");
    let dir = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let seq = read_pulseq(data_dir().join(format!("{name}.seq"))).unwrap().sequence;
        let path = dir.path().join(format!("{name}.seq"));
        seq.write(&path, false).unwrap();
        let out = std::process::Command::new(&python).arg(&script).arg(&path).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let table: Vec<Vec<u64>> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
            .collect();
        let ours: Vec<Vec<u64>> = seq.block_table().iter().map(|r| r.to_vec()).collect();
        assert_eq!(table, ours, "{name}");
    }
}
