//! `mre-sim invert --crop`: a box of the data inverted as if it were the whole file, its maps
//! put back into the data's grid; boxes that do not fit are refused before anything is written.

mod common;

use common::{run, text, write_bessel_data};
use mre_io::crop::Crop;
use mre_io::hdf5::{read_mre_data, read_mre_result, write_mre_data};

#[test]
fn a_cropped_inversion_equals_the_inversion_of_the_cropped_file() {
    let dir = tempfile::tempdir().unwrap();
    let full = write_bessel_data(dir.path(), "full.h5", 40, true);
    let crop = Crop::parse(":,4:34,7:33").unwrap();
    let data = read_mre_data(&full).unwrap();
    write_mre_data(&dir.path().join("box.h5"), &crop.data(&data, [1, 40, 40]).unwrap(), false).unwrap();
    for method in ["ahi", "mdev"] {
        let whole = format!("whole-{method}.h5");
        let o = run(&["invert", "full.h5", "--method", method, "--crop", &crop.to_string(), "-o", &whole], dir.path());
        assert!(o.status.success(), "{}", text(&o));
        let boxed = format!("box-{method}.h5");
        let o = run(&["invert", "box.h5", "--method", method, "--no-figures", "-o", &boxed], dir.path());
        assert!(o.status.success(), "{}", text(&o));
        let a = read_mre_result(&dir.path().join(&whole)).unwrap();
        let b = read_mre_result(&dir.path().join(&boxed)).unwrap();
        assert_eq!(a.storage_modulus_pa.shape(), &[1, 40, 40], "the data's grid");
        for ((z, y, x), v) in a.storage_modulus_pa.indexed_iter() {
            if (4..34).contains(&y) && (7..33).contains(&x) {
                let w = b.storage_modulus_pa[[z, y - 4, x - 7]];
                assert!(v.to_bits() == w.to_bits(), "{method} ({y}, {x}): {v} vs {w}");
                assert_eq!(a.loss_modulus_pa[[z, y, x]].to_bits(), b.loss_modulus_pa[[z, y - 4, x - 7]].to_bits());
            } else {
                assert!(v.is_nan() && a.loss_modulus_pa[[z, y, x]].is_nan(), "{method} ({y}, {x}) outside the box: {v}");
            }
        }
        assert_eq!(a.regions.len(), 2);
        for (ra, rb) in a.regions.iter().zip(&b.regions) {
            assert_eq!(ra.storage_mean_pa.to_bits(), rb.storage_mean_pa.to_bits(), "{method} region {}", ra.label);
        }
        let extra = |r: &mre_io::hdf5::MreResult, k: &str| r.provenance.extra.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        assert_eq!(extra(&a, "crop").as_deref(), Some(":,4:34,7:33"));
        assert_eq!(extra(&b, "crop"), None);
        assert_eq!(a.provenance.source_data, b.provenance.source_data.replace("box.h5", "full.h5"));
        // The figure shows the box's middle slice, not an all-NaN one.
        assert!(dir.path().join(format!("whole-{method}-storage-modulus.png")).exists());
    }
}

#[test]
fn a_box_outside_the_grid_or_of_bad_form_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    write_bessel_data(dir.path(), "d.h5", 24, true);
    for (crop, expect) in [
        (":,:,20:30", "the x range 20:30 does not lie in the grid [1, 24, 24]"),
        ("0:1,30:,:", "the y range 30:24"),
        (":,:", "z0:z1,y0:y1,x0:x1"),
        (":,5:5,:", "is empty"),
        (":,a:4,:", "`a` is not a voxel index"),
    ] {
        for method in ["ahi", "bayes"] {
            let o = run(&["invert", "d.h5", "--method", method, "--crop", crop, "-o", "r.h5"], dir.path());
            assert_eq!(o.status.code(), Some(2), "{crop}: {}", text(&o));
            assert!(text(&o).contains(expect), "{crop}: {}", text(&o));
            assert!(!dir.path().join("r.h5").exists() && !dir.path().join("r.h5.checkpoint").exists());
        }
    }
    // In a run config too, named by its key.
    std::fs::write(dir.path().join("c.toml"), "[invert]\nmethod = \"ahi\"\ncrop = \"1:2\"\n").unwrap();
    let o = run(&["check", "c.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("crop") && text(&o).contains("z0:z1,y0:y1,x0:x1"), "{}", text(&o));
}
