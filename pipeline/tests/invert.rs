//! The inversion pipeline as a library user calls it: in memory and from a file, the same
//! result; errors sorted by kind.

use mre_inverse::synthetic::BesselInclusion;
use mre_io::hdf5::write_mre_data;
use mre_pipeline::bayes::{BayesOptions, Parameterization};
use mre_pipeline::classic::Filter;
use mre_pipeline::invert::{invert, invert_file, InvertOptions, Method};
use mre_pipeline::{ErrorKind, WaveInput};
use mre_solver::parallel::Serial;

fn small() -> BesselInclusion {
    BesselInclusion { n: 28, voxel_m: 2.5e-3, frequencies_hz: vec![60.0, 90.0], radius_m: 0.014, snr: Some(30.0), ..Default::default() }
}

fn quick_bayes() -> InvertOptions {
    let mut o = InvertOptions::new(Method::Bayes);
    o.bayes = BayesOptions { chains: 2, draws: 40, ..BayesOptions::default() };
    o.figures = false;
    o
}

#[test]
fn in_memory_and_from_a_file_give_the_same_posterior() {
    let dir = tempfile::tempdir().unwrap();
    let (m, labels, _) = small().generate().unwrap();
    let input = WaveInput::from_measurements("bessel", &m, Some(labels)).unwrap();
    let path = dir.path().join("bessel.h5");
    write_mre_data(&path, &input.data, false).unwrap();
    let options = quick_bayes();
    let memory = invert(&input, &options, None, &Serial).unwrap().expect("rank 0");
    let out = dir.path().join("result.h5");
    let (file, written) = invert_file(&path, &out, &options, false, &Serial, &()).unwrap().expect("rank 0");
    assert_eq!(written.result, out);
    assert!(written.figures.is_empty());
    assert!(!dir.path().join("result.h5.checkpoint").exists(), "the checkpoint is removed after success");
    let bits = |a: &ndarray::Array3<f64>| a.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&memory.storage_modulus_pa), bits(&file.storage_modulus_pa));
    assert_eq!(memory.regions.len(), 2);
    // Background 3 kPa, inclusion stiffer: the posterior means are near the truth.
    let spec = small();
    for (r, truth) in memory.regions.iter().zip([spec.background_pa.0, spec.inclusion_pa.0]) {
        assert!((r.storage_mean_pa / truth - 1.0).abs() < 0.1, "region {}: {} Pa vs {truth} Pa", r.label, r.storage_mean_pa);
    }
    // The same file again: refused, kind OutputExists, nothing changed.
    let e = invert_file(&path, &out, &options, false, &Serial, &()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutputExists);
    assert!(e.to_string().contains("exists"), "{e}");
}

#[test]
fn classic_methods_run_on_data_in_memory() {
    let (m, labels, _) = small().generate().unwrap();
    let input = WaveInput::from_measurements("bessel", &m, Some(labels)).unwrap();
    for method in [Method::Ahi, Method::Mdev] {
        let mut o = InvertOptions::new(method);
        o.filter = Filter::Gaussian;
        let r = invert(&input, &o, None, &Serial).unwrap().expect("rank 0");
        assert_eq!(r.provenance.method, if method == Method::Ahi { "ahi" } else { "mdev" });
        assert_eq!(r.regions.len(), 2);
        let background = r.regions[0].storage_mean_pa;
        assert!(background > 1000.0 && background < 9000.0, "{method:?}: {background}");
    }
}

#[test]
fn invalid_input_is_an_error_of_kind_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.h5");
    let e = invert_file(&missing, &dir.path().join("r.h5"), &quick_bayes(), false, &Serial, &()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("missing.h5"), "{e}");
    // Regions without labels.
    let (m, _, _) = small().generate().unwrap();
    let input = WaveInput::from_measurements("no-labels", &m, None).unwrap();
    let mut o = quick_bayes();
    o.bayes.parameterization = Some(Parameterization::Regions);
    let e = invert(&input, &o, None, &Serial).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("no-labels") && e.to_string().contains("/labels"), "{e}");
    assert!(!dir.path().join("r.h5").exists());
}
