//! The Navier model with its defaults (bulk modulus inferred) on the analytic P–SV cylinder.

mod common;

use common::write_psv_data;

#[test]
#[ignore = "scratch: writes P–SV data to $PSV_DIR"]
fn write_scratch_data() {
    let dir = std::path::PathBuf::from(std::env::var("PSV_DIR").unwrap());
    for nu in [0.3, 0.4999] {
        write_psv_data(&dir, &format!("psv-{nu}.h5"), 40, nu, true);
    }
}
