//! The plane-strain P–SV inclusion data of `tests/common` (for the vector-inversion tests of
//! issue 18) written as mre-data: two in-plane components named `"xy"`, read back unchanged.

mod common;

use mre_io::hdf5::read_mre_data;

#[test]
fn psv_data_round_trip_as_two_component_mre_data() {
    let dir = tempfile::tempdir().unwrap();
    for nu in [0.3, 0.4999] {
        let path = common::write_psv_data(dir.path(), &format!("psv-{nu}.h5"), 24, nu, true);
        let (want, labels) = common::psv_data(24, nu);
        let got = read_mre_data(&path).unwrap();
        assert_eq!(got.components, "xy");
        let wave = got.wave.as_ref().unwrap();
        assert_eq!(wave.shape(), &[2, 2, 1, 24, 24]);
        assert_eq!(wave, want.wave.as_ref().unwrap());
        assert_eq!(got.labels.as_ref(), Some(&labels));
        let truth = got.ground_truth.as_ref().unwrap();
        assert!(truth.storage_modulus_pa.iter().zip(&labels).all(|(&g, &l)| g == if l == 2 { 6000.0 } else { 3000.0 }));
        // Both components carry signal (the scattered u_x is what a scalar model cannot fit).
        for c in 0..2 {
            let rms = (wave.slice(ndarray::s![0, c, .., .., ..]).iter().map(|u| u.norm_sqr()).sum::<f64>() / 576.0).sqrt();
            assert!(rms > 1e-7, "ν = {nu}, component {c}: RMS {rms}");
        }
    }
}
