//! The built-in GRE-MRE written as a Pulseq file (`mre_io::pulseq::export`):
//! read back, converted to a timeline and simulated, it gives the built-in's
//! k-space and signal; pypulseq reads it with the same block table and its
//! `check_timing()` passes (with `MRE_PYPULSEQ_PYTHON` set).

use std::collections::HashMap;
use std::path::PathBuf;

use mre_io::pulseq::export::{builtin_index, from_gre_mre};
use mre_io::pulseq::info::summarise;
use mre_io::pulseq::{read_pulseq, ExtensionRef, ImportedSequence, LabelName, LabelValues, PulseqSequence, TimelineOptions};
use mre_io::solver::bloch::Isochromats;
use mre_io::solver::model::scanner::Scanner;
use mre_io::solver::plan::{Integration, SequencePlan};
use mre_io::solver::sequence::{GreMre, Spoiling, Timeline, Trigger};
use mre_io::solver::simulate::run_kernel;
use mre_io::solver::units::{Axis, GAMMA_RAD_PER_S_PER_T};
use mre_io::solver::{KernelChoice, Precision};
use num_complex::Complex64;

const TWO_PI: f64 = 2.0 * std::f64::consts::PI;

/// Labels in force in every block (LABELSET/LABELINC applied at the block start).
fn block_labels(seq: &PulseqSequence) -> Vec<LabelValues> {
    let mut v = LabelValues::default();
    seq.blocks
        .iter()
        .map(|b| {
            for e in seq.block_extensions(b).unwrap() {
                match e {
                    ExtensionRef::LabelSet(l) => {
                        if let LabelName::Known(k) = l.label {
                            v.set(k, l.value)
                        }
                    }
                    ExtensionRef::LabelInc(l) => {
                        if let LabelName::Known(k) = l.label {
                            v.increment(k, l.value)
                        }
                    }
                    _ => {}
                }
            }
            v
        })
        .collect()
}

/// The imported timeline as the built-in lays it out: ADC samples to the
/// built-in's k-space index (labels LIN/PAR/PHS/SET and sample number), motion
/// triggers at the file's triggers with phase 2π·PHS/N.
fn as_builtin(gre: &GreMre, file: &PulseqSequence, imp: &ImportedSequence) -> Timeline {
    let labels = block_labels(file);
    let mut tl = imp.timeline.clone();
    for (a, info) in tl.adc.iter_mut().zip(&imp.adc) {
        a.index = builtin_index(gre, &info.labels, info.sample).expect("labels in range") as u32;
    }
    tl.n_signal = gre.signal_len();
    tl.triggers = imp
        .triggers
        .iter()
        .map(|t| {
            let k = labels[t.block_index].get(mre_io::pulseq::Label::Phs) as usize;
            Trigger { time_s: t.time_s, phase_offset_rad: gre.phase_offset_rad(k) }
        })
        .collect();
    tl
}

/// k-space `[kz, ky, kx]` (1/m) of every built-in ADC sample by its index:
/// `γ/2π ∫ G dt` from the last RF pulse.
fn builtin_kspace(tl: &Timeline) -> HashMap<u32, [f64; 3]> {
    let mut out = HashMap::new();
    for a in &tl.adc {
        let rf = tl.rf.iter().rev().find(|r| r.time_s <= a.time_s).unwrap().time_s;
        let mut k = [0.0; 3];
        for p in tl.gradients.iter().filter(|p| p.end_s() > rf && p.start_s < a.time_s) {
            let (m0, _) = p.moments(rf, a.time_s, 0.0, 0.0);
            for i in 0..3 {
                k[i] += m0[i] * GAMMA_RAD_PER_S_PER_T / TWO_PI;
            }
        }
        out.insert(a.index, k);
    }
    out
}

/// A few hundred isochromats at pseudo-random positions in the FOV, half of them
/// moving harmonically along all three axes.
fn isochromats(gre: &GreMre, n: usize) -> Isochromats {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut iso = Isochromats {
        position_m: Vec::new(),
        amplitude_m: Vec::new(),
        off_resonance_rad_per_s: Vec::new(),
        weight: Vec::new(),
        relax_class: Vec::new(),
        t1_s: vec![0.8, 1.2],
        t2_s: vec![0.05, 0.09],
    };
    for i in 0..n {
        iso.position_m.push([0, 1, 2].map(|a| rnd() * gre.fov_m[a]));
        let moving = i % 2 == 0;
        iso.amplitude_m
            .push([0, 1, 2].map(|_| if moving { Complex64::new(rnd() * 20e-6, rnd() * 20e-6) } else { Complex64::new(0.0, 0.0) }));
        iso.off_resonance_rad_per_s.push(rnd() * TWO_PI * 30.0);
        iso.weight.push(1.0 + rnd());
        iso.relax_class.push((i % 3 == 0) as u16);
    }
    iso
}

struct Compared {
    max_signal_rel: f64,
    max_k_err_per_m: f64,
    max_time_err_s: f64,
}

/// Export `gre`, write, read back and compare with the built-in timeline.
fn compare(gre: &GreMre, sc: &Scanner) -> Compared {
    let file = from_gre_mre(gre, sc).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mre.seq");
    file.write(&path, false).unwrap();
    let read = read_pulseq(&path).unwrap();
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    assert_eq!(read.sequence, file, "the file reads back as written");
    let imp = read.sequence.to_timeline(&TimelineOptions::default()).unwrap();
    let builtin = gre.timeline(sc).unwrap();
    assert!(builtin.spoil_s.is_empty(), "only ideal spoiling (not exportable) marks the timeline");
    let shift = gre.layout(sc).unwrap().rf_lead_s;
    // events
    assert_eq!(imp.adc.len(), builtin.adc.len());
    assert_eq!(imp.timeline.rf.len(), builtin.rf.len(), "one rotation per TR");
    assert_eq!(imp.triggers.len(), builtin.triggers.len());
    let tl = as_builtin(gre, &read.sequence, &imp);
    let by_index: HashMap<u32, f64> = builtin.adc.iter().map(|a| (a.index, a.time_s)).collect();
    let mut max_time_err_s = 0.0f64;
    for a in &tl.adc {
        max_time_err_s = max_time_err_s.max((a.time_s - shift - by_index[&a.index]).abs());
    }
    for (r, b) in tl.rf.iter().zip(&builtin.rf) {
        max_time_err_s = max_time_err_s.max((r.time_s - shift - b.time_s).abs());
        assert!((r.angle_rad - b.angle_rad).abs() < 1e-12 && (r.phase_rad - b.phase_rad).abs() < 1e-12, "{r:?} {b:?}");
    }
    for (t, b) in tl.triggers.iter().zip(&builtin.triggers) {
        max_time_err_s = max_time_err_s.max((t.time_s - shift - b.time_s).abs());
        assert!((t.phase_offset_rad - b.phase_offset_rad).abs() < 1e-12);
    }
    assert!(max_time_err_s < 1e-12, "times differ from the built-in + {shift} s by up to {max_time_err_s} s");
    // k-space of every sample
    let k_builtin = builtin_kspace(&builtin);
    let mut max_k_err_per_m = 0.0f64;
    for (a, info) in tl.adc.iter().zip(&imp.adc) {
        for (k, kb) in info.k_per_m.iter().zip(k_builtin[&a.index]) {
            max_k_err_per_m = max_k_err_per_m.max((k - kb).abs());
        }
    }
    assert!(max_k_err_per_m < 1e-6, "k-space differs by up to {max_k_err_per_m} 1/m");
    // signal
    let omega = TWO_PI * gre.meg.frequency_hz;
    let iso = isochromats(gre, 300);
    let kernel = KernelChoice::Fast(Precision::F64);
    let s_builtin = run_kernel(&iso, &SequencePlan::build(&builtin, omega, Integration::Events).unwrap(), kernel, |_| {});
    let s_file = run_kernel(&iso, &SequencePlan::build(&tl, omega, Integration::Events).unwrap(), kernel, |_| {});
    let scale = s_builtin.iter().map(|s| s.norm()).fold(0.0, f64::max);
    let max_signal_rel = s_builtin.iter().zip(&s_file).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max) / scale;
    Compared { max_signal_rel, max_k_err_per_m, max_time_err_s }
}

#[test]
fn exported_sequence_simulates_as_the_builtin() {
    let sc = Scanner::default();
    let mut cases = Vec::new();
    let mut g = GreMre::example_for_tests();
    g.spoiling = Spoiling::Gradient { cycles_per_voxel: 2.0 };
    cases.push(("gradient spoiling, 2-D, z", g.clone()));
    g.spoiling = Spoiling::None;
    g.meg.axis = Axis::X;
    cases.push(("no spoiling, x", g.clone()));
    let mut g3 = GreMre::example_for_tests();
    g3.spoiling = Spoiling::Rf { cycles_per_voxel: 1.0 };
    g3.matrix = [4, 8, 8];
    g3.fov_m = [0.02, 0.08, 0.08];
    g3.meg.axis = Axis::Y;
    g3.meg.frequency_hz = 80.0;
    g3.meg.cycles = 2;
    cases.push(("RF spoiling, 3-D, y, 2 cycles at 80 Hz", g3));
    for (name, gre) in cases {
        let c = compare(&gre, &sc);
        eprintln!(
            "{name}: max |Δs|/max|s| = {:.3e}, max k error {:.3e} 1/m, max time error {:.3e} s",
            c.max_signal_rel, c.max_k_err_per_m, c.max_time_err_s
        );
        assert!(c.max_signal_rel <= 1e-6, "{name}: relative signal difference {}", c.max_signal_rel);
    }
}

#[test]
fn export_refuses_what_a_file_cannot_play() {
    let sc = Scanner::default();
    let gre = GreMre::example_for_tests();
    let e = from_gre_mre(&gre, &sc).unwrap_err().to_string();
    assert!(e.contains("ideal") && e.contains("\"gradient\""), "{e}");
    let mut g = gre.clone();
    g.spoiling = Spoiling::None;
    g.tr_s = 0.050_005;
    let e = from_gre_mre(&g, &sc).unwrap_err().to_string();
    assert!(e.contains("sequence.tr_s") && e.contains("raster"), "{e}");
}

#[test]
fn exported_file_reads_in_pypulseq_with_the_same_block_table_and_timing_passes() {
    // Needs pypulseq: set MRE_PYPULSEQ_PYTHON=/path/to/python (e.g. /work/venv-pq/bin/python).
    let Ok(python) = std::env::var("MRE_PYPULSEQ_PYTHON") else {
        eprintln!("MRE_PYPULSEQ_PYTHON not set: skipping the pypulseq check");
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pulseq/check_export.py");
    let dir = tempfile::tempdir().unwrap();
    let mut g = GreMre::example_for_tests();
    g.spoiling = Spoiling::Rf { cycles_per_voxel: 2.0 };
    let file = from_gre_mre(&g, &Scanner::default()).unwrap();
    let path = dir.path().join("mre.seq");
    file.write(&path, false).unwrap();
    let out = std::process::Command::new(&python).arg(&script).arg(&path).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("# check_timing passed"), "{stdout}");
    let table: Vec<Vec<u64>> =
        stdout.lines().filter(|l| !l.starts_with('#')).map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect()).collect();
    let ours: Vec<Vec<u64>> = file.block_table().iter().map(|r| r.to_vec()).collect();
    assert_eq!(table, ours);
    let n_adc: usize = stdout.lines().find_map(|l| l.strip_prefix("# n_adc ")).unwrap().trim().parse().unwrap();
    assert_eq!(n_adc, g.signal_len());
}

// ---------------------------------------------------------------- seq info --

fn fixture(name: &str) -> PulseqSequence {
    read_pulseq(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/data/pulseq/{name}.seq"))).unwrap().sequence
}

#[test]
fn info_detects_the_bipolar_meg_of_the_fixture() {
    let info = summarise(&fixture("gre_meg")).unwrap();
    eprintln!("{info}");
    let meg = info.meg.expect("a MEG");
    assert_eq!(meg.axis, Axis::Z);
    // two trapezoid lobes of 4 ms (200 µs ramps, 3.6 ms flat): 125 Hz
    assert_eq!(meg.lobes, 2);
    assert!((meg.frequency_hz - 125.0).abs() < 1e-6, "{meg:?}");
    assert!((meg.duration_s - 8e-3).abs() < 1e-9);
    // ξ(f) of the lobe pair alone: γ G |∫ trapezoid pair e^{iωt}| ≈ γ G · 2·(area) · sinc-like factor
    let g = 20e-3;
    let upper = GAMMA_RAD_PER_S_PER_T * g * 2.0 * 3.8e-3;
    assert!(meg.efficiency_rad_per_m > 0.3 * upper && meg.efficiency_rad_per_m < upper, "{meg:?} vs {upper}");
    assert_eq!(info.adc_samples, 512);
    assert_eq!(info.triggers.0, 32);
    let m = info.moments.unwrap();
    // the centre line has no phase encoding; with 16 samples k = 0 lies half a
    // sample from the nearest one: M0 of the readout is half a k step, 1/(2 FOV)
    let half_step = 0.5 / 0.256 / mre_io::pulseq::GAMMA_HZ_PER_T;
    assert!((m[0].m0_t_s_per_m.abs() - half_step).abs() < 1e-3 * half_step && m[1].m0_t_s_per_m == 0.0, "{m:?}");
}

#[test]
fn info_finds_no_meg_in_a_plain_gre() {
    let info = summarise(&fixture("gre_64")).unwrap();
    eprintln!("{info}");
    assert!(info.meg.is_none(), "{:?}", info.meg);
    let m = info.moments.unwrap();
    let peak = m.iter().map(|a| a.peak_efficiency_rad_per_m).fold(0.0, f64::max);
    assert!(peak < 1e4, "{peak}");
}

#[test]
fn info_of_an_exported_file_matches_the_builtin() {
    let sc = Scanner::default();
    let mut gre = GreMre::example_for_tests();
    gre.spoiling = Spoiling::Gradient { cycles_per_voxel: 2.0 };
    let file = from_gre_mre(&gre, &sc).unwrap();
    let info = summarise(&file).unwrap();
    eprintln!("{info}");
    let meg = info.meg.expect("a MEG");
    assert_eq!(meg.axis, gre.meg.axis);
    assert!((meg.frequency_hz / gre.meg.frequency_hz - 1.0).abs() < 1e-3, "{meg:?}");
    let xi = gre.encoding_factor(TWO_PI * gre.meg.frequency_hz).norm();
    assert!((meg.efficiency_rad_per_m / xi - 1.0).abs() < 1e-5, "{} vs {xi}", meg.efficiency_rad_per_m);
    assert!((info.te_s.unwrap() - gre.te_s).abs() < 1e-12);
    assert!((info.tr_s.unwrap() - gre.tr_s).abs() < 1e-12);
    assert_eq!(info.adc_samples, gre.signal_len());
    let text = info.to_string();
    assert!(text.contains("MEG           axis z, 60.000 Hz"), "{text}");
}
