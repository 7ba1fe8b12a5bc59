//! `mre-sim invert --method ahi|mdev` with its defaults (no options), as a new user runs it:
//! the analytic Bessel inclusion (`BesselInclusion`, exact series, not made by the inversion's
//! discretisation) with noise, written as an mre-data file. The default filter is chosen from
//! the data; the default curl is off for one component; `--curl on` for one component is
//! refused before anything is written.

mod common;

use std::path::{Path, PathBuf};

use common::{run, text};
use mre_inverse::synthetic::BesselInclusion;
use mre_io::data::MreData;
use mre_io::hdf5::{read_mre_result, write_mre_data, MreResult};

/// The default Bessel inclusion (128² voxels of 1.5 mm, 50/75/100 Hz, background
/// 3 kPa + 0.6 kPa i, inclusion 6 kPa + 1.2 kPa i of radius 30 mm) at `snr` with noise `seed`,
/// as an mre-data file with `/labels` (1 background, 2 inclusion) and no mask.
fn write_inclusion(dir: &Path, snr: f64, seed: u64) -> (PathBuf, BesselInclusion) {
    let spec = BesselInclusion { snr: Some(snr), seed, ..Default::default() };
    let (m, labels, _) = spec.generate().unwrap();
    let nf = m.frequencies_hz.len();
    let data = MreData {
        frequencies_hz: m.frequencies_hz.clone(),
        voxel_size_m: m.grid.voxel_size_m,
        density_kg_m3: m.density_kg_m3,
        components: "z".into(),
        encoding_efficiency_rad_per_m: vec![0.0; nf],
        encoding_phase_rad: vec![0.0; nf],
        wave: Some(m.wave.clone()),
        labels: Some(labels),
        ..MreData::default()
    };
    let p = dir.join(format!("inclusion-snr{snr}-seed{seed}.h5"));
    write_mre_data(&p, &data, false).unwrap();
    (p, spec)
}

/// `mre-sim invert DATA --method METHOD [extra]` into `out`; the result.
fn invert(dir: &Path, data: &Path, method: &str, out: &str, extra: &[&str]) -> MreResult {
    let mut args = vec!["invert", data.to_str().unwrap(), "--method", method, "--output", out];
    args.extend_from_slice(extra);
    let o = run(&args, dir);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    read_mre_result(&dir.join(out)).unwrap()
}

/// Relative errors of the region means of G' (background, inclusion).
fn errors(r: &MreResult, spec: &BesselInclusion) -> (f64, f64) {
    let mean = |label| r.regions.iter().find(|g| g.label == label).expect("region row").storage_mean_pa;
    (mean(1) / spec.background_pa.0 - 1.0, mean(2) / spec.inclusion_pa.0 - 1.0)
}

fn extra<'a>(r: &'a MreResult, key: &str) -> &'a str {
    r.provenance.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no provenance {key}"))
}

#[test]
fn ahi_and_mdev_with_their_defaults_recover_the_inclusion_at_snr_20_and_30() {
    let dir = tempfile::tempdir().unwrap();
    for (snr, seed) in [(20.0, 1), (30.0, 2)] {
        let (data, spec) = write_inclusion(dir.path(), snr, seed);
        for method in ["ahi", "mdev"] {
            // No options at all, figures included, as a new user runs it.
            let out = format!("{method}-snr{snr}.h5");
            let r = invert(dir.path(), &data, method, &out, &[]);
            let (bg, inc) = errors(&r, &spec);
            println!(
                "{method} SNR {snr} seed {seed} (defaults): G' background {:+.1} %, inclusion {:+.1} %; {}",
                100.0 * bg,
                100.0 * inc,
                extra(&r, "filter_chosen")
            );
            assert!(bg.abs() < 0.10, "{method} SNR {snr}: background G' off by {:.1} %", 100.0 * bg);
            assert!(inc.abs() < 0.25, "{method} SNR {snr}: inclusion G' off by {:.1} %", 100.0 * inc);
            // The provenance says what was done.
            assert_eq!((extra(&r, "filter"), extra(&r, "curl")), ("auto", "off"));
            let sigmas: Vec<f64> = extra(&r, "filter_sigma_m").split(',').map(|s| s.parse().unwrap()).collect();
            assert_eq!(sigmas.len(), spec.frequencies_hz.len());
            assert!(sigmas.iter().all(|&s| s > 0.0 && s < 0.01), "{sigmas:?}");
            assert!(dir.path().join(format!("{method}-snr{snr}-storage-modulus.png")).exists());
        }
        // Before: the unfiltered inversion of the same data is far too low (issue 18).
        let r = invert(dir.path(), &data, "ahi", &format!("ahi-none-snr{snr}.h5"), &["--filter", "none", "--no-figures"]);
        let (bg, inc) = errors(&r, &spec);
        println!("ahi SNR {snr} seed {seed} --filter none: G' background {:+.1} %, inclusion {:+.1} %", 100.0 * bg, 100.0 * inc);
    }
}

#[test]
fn curl_on_for_one_component_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = write_inclusion(dir.path(), 30.0, 1);
    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    for method in ["ahi", "mdev"] {
        let o = run(&["invert", data.to_str().unwrap(), "--method", method, "--curl", "on", "--output", "sub/r.h5"], dir.path());
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(t.contains("--curl on") && t.contains("1 displacement component(s) \"z\"") && t.contains("at least two"), "{t}");
        let after: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(before, after, "{method}: something was written");
    }
    // Off and auto run.
    let r = invert(dir.path(), &data, "mdev", "off.h5", &["--curl", "off", "--no-figures"]);
    assert_eq!(extra(&r, "curl"), "off");
}
