//! `mre-sim invert --method bayes` and its model check: the verdict, `/residual_z` and the
//! residual PNG in every result, and a warning naming what fails on a misfit.

mod common;

use std::path::Path;

use common::text;
use mre_inverse::synthetic::BesselInclusion;
use mre_io::data::MreData;
use mre_io::hdf5::{read_mre_result, write_mre_data, MreResult};

const FAST: [&str; 8] = ["--method", "bayes", "--chains", "2", "--draws", "60", "--model-error", "none"];

fn invert(dir: &Path, data: &Path) -> (String, MreResult) {
    let mut args = vec!["invert", data.to_str().unwrap()];
    args.extend(FAST);
    let o = common::run(&args, dir);
    assert!(o.status.success(), "{}", text(&o));
    let out = data.with_file_name(format!("{}-bayes.h5", data.file_stem().unwrap().to_string_lossy()));
    (text(&o), read_mre_result(&out).unwrap())
}

fn extra(r: &MreResult, key: &str) -> String {
    r.provenance.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

/// Well-specified analytic data (SNR 30): "fits", no warning, the residual map and its PNG.
#[test]
fn well_specified_data_fit_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_bessel_data(dir.path(), "incl.h5", 32, true);
    let (log, r) = invert(dir.path(), &data);
    assert_eq!(extra(&r, "model_check"), "fits", "{log}");
    assert!(!log.contains("does not fit"), "{log}");
    for key in ["model_check_statistic", "model_check_p_value"] {
        assert!(extra(&r, key).parse::<f64>().unwrap().is_finite(), "{key}");
    }
    assert!(extra(&r, "model_check_threshold").contains("0.01"), "{}", extra(&r, "model_check_threshold"));
    assert!(extra(&r, "model_check_entries").contains("60 Hz z: ratio"), "{}", extra(&r, "model_check_entries"));
    let z = r.residual_z.as_ref().expect("/residual_z");
    assert_eq!(z.shape(), &[2, 1, 1, 32, 32]);
    // White where the model fits: E|z|² ≈ 1 (within what boundary noise adds).
    let finite: Vec<f64> = z.iter().filter(|v| v.re.is_finite()).map(|v| v.norm_sqr()).collect();
    let ms = finite.iter().sum::<f64>() / finite.len() as f64;
    assert!((0.7..1.6).contains(&ms), "mean |z|² {ms}");
    assert!(dir.path().join("incl-bayes-residual-z.png").exists());
}

/// Strongly dispersive data (G* × 1.5 per frequency step) inverted with one G*: "misfit", and a
/// warning naming the failing frequencies and suggesting a dispersion model.
#[test]
fn dispersive_data_are_flagged_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let freqs = [40.0, 60.0, 90.0];
    let mut waves = Vec::new();
    let mut labels = None;
    for (f, (&hz, s)) in freqs.iter().zip([1.0 / 1.5, 1.0, 1.5]).enumerate() {
        let spec = BesselInclusion {
            n: 32,
            voxel_m: 2e-3,
            frequencies_hz: vec![hz],
            radius_m: 0.016,
            background_pa: (3000.0 * s, 600.0 * s),
            inclusion_pa: (6000.0 * s, 1200.0 * s),
            snr: Some(30.0),
            seed: 11 + f as u64,
            ..Default::default()
        };
        let (m, l, _) = spec.generate().unwrap();
        waves.push(m.wave);
        labels = Some(l);
    }
    let views: Vec<_> = waves.iter().map(|w| w.view()).collect();
    let data = MreData {
        frequencies_hz: freqs.to_vec(),
        voxel_size_m: [2e-3; 3],
        density_kg_m3: 1000.0,
        components: "z".into(),
        encoding_efficiency_rad_per_m: vec![0.0; 3],
        encoding_phase_rad: vec![0.0; 3],
        wave: Some(ndarray::concatenate(ndarray::Axis(0), &views).unwrap()),
        labels,
        ..MreData::default()
    };
    let path = dir.path().join("disp.h5");
    write_mre_data(&path, &data, false).unwrap();
    let (log, r) = invert(dir.path(), &path);
    assert_eq!(extra(&r, "model_check"), "misfit", "{log}");
    assert!(log.contains("WARN") && log.contains("model check: the model does not fit the data at 40 Hz z"), "{log}");
    assert!(log.contains("90 Hz z") && log.contains("dispersion"), "{log}");
    assert!(extra(&r, "model_check_p_value").parse::<f64>().unwrap() < 0.01);
    assert!(extra(&r, "model_check_entries").contains("fails"));
    assert!(r.residual_z.is_some() && dir.path().join("disp-bayes-residual-z.png").exists());
}

/// The false-alarm rate of the check as a new user meets it: `mre-sim invert DATA --method
/// bayes` with its defaults (the approximation-error model, so the residual is whitened with
/// its covariance) on well-specified analytic data, 20 noise seeds (Bessel inclusion, 32², 60
/// and 90 Hz, SNR 30, noise level not given; about 1 s per run). The measurement behind
/// docs/inversion.md.
#[test]
fn false_alarm_rate_with_the_defaults_over_20_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let mut alarms = 0;
    let mut largest = f64::NEG_INFINITY;
    for seed in 0..20u64 {
        let spec = BesselInclusion {
            n: 32,
            voxel_m: 2e-3,
            frequencies_hz: vec![60.0, 90.0],
            radius_m: 0.016,
            snr: Some(30.0),
            seed: 100 + seed,
            ..Default::default()
        };
        let (m, labels, _) = spec.generate().unwrap();
        let data = common::mre_data(&m, "z", Some(labels));
        let p = dir.path().join(format!("seed{seed}.h5"));
        write_mre_data(&p, &data, false).unwrap();
        let args = ["invert", p.to_str().unwrap(), "--method", "bayes", "--chains", "2", "--draws", "60", "-q", "--no-figures"];
        let o = common::run(&args, dir.path());
        assert!(o.status.success(), "{}", text(&o));
        let r = read_mre_result(&dir.path().join(format!("seed{seed}-bayes.h5"))).unwrap();
        let statistic: f64 = extra(&r, "model_check_statistic").parse().unwrap();
        largest = largest.max(statistic);
        let verdict = extra(&r, "model_check");
        eprintln!("seed {seed}: {verdict} (statistic {statistic:.2}); {}", extra(&r, "model_error"));
        alarms += usize::from(verdict == "misfit");
    }
    eprintln!("false alarms: {alarms} of 20, largest statistic {largest:.2}");
    assert!(alarms <= 1, "{alarms} false alarms in 20");
}
