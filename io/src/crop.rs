//! A box of voxels to invert: `--crop z0:z1,y0:y1,x0:x1` (`[invert] crop`), numpy slices of
//! the `[nz, ny, nx]` grid, half-open, an empty end meaning the edge (`:` is the whole axis).
//!
//! Cropping is how a Navier inversion (whose direct solve grows like `N²` in 3-D) reaches a
//! lesion in a whole-head volume: the box's outer voxel layer carries the measured wave as its
//! boundary values, so nothing outside the box enters the model. [`Crop::data`] cuts an
//! mre-data set to the box (every spatial dataset; k-space, which has no voxels, is left out);
//! [`Crop::embed`] puts a map of the box back into the grid of the whole data, NaN outside.

use std::fmt;
use std::ops::Range;

use ndarray::{s, Array3, Array5, Array6, Axis};
use num_complex::Complex64;

use crate::data::{GroundTruth, MreData};

/// `[z, y, x]` half-open voxel ranges; `None` ends are the grid's edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Crop {
    /// `(start, end)` per axis `[z, y, x]`.
    pub bounds: [(Option<usize>, Option<usize>); 3],
}

const AXES: [&str; 3] = ["z", "y", "x"];

impl Crop {
    /// One line on the accepted form (CLI help and error messages).
    pub const EXPECTED: &'static str =
        "`z0:z1,y0:y1,x0:x1`: three half-open voxel ranges of the [nz, ny, nx] grid (numpy slices; an empty end is the edge, e.g. `:,10:30,12:32`)";

    /// The box written `text`.
    ///
    /// # Errors
    ///
    /// A message naming `text` and what is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("`{text}`: {why}; expected {}", Self::EXPECTED);
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.len() != 3 {
            return Err(bad(&format!("{} range(s) given", parts.len())));
        }
        let mut bounds = [(None, None); 3];
        for ((part, axis), b) in parts.iter().zip(AXES).zip(&mut bounds) {
            let (a, e) = part.split_once(':').ok_or_else(|| bad(&format!("the {axis} range `{part}` has no `:`")))?;
            let num = |v: &str| -> Result<Option<usize>, String> {
                let v = v.trim();
                if v.is_empty() {
                    Ok(None)
                } else {
                    v.parse::<usize>().map(Some).map_err(|_| bad(&format!("the {axis} range `{part}`: `{v}` is not a voxel index")))
                }
            };
            *b = (num(a)?, num(e)?);
            if let (Some(a), Some(e)) = *b {
                if e <= a {
                    return Err(bad(&format!("the {axis} range `{part}` is empty")));
                }
            }
        }
        Ok(Self { bounds })
    }

    /// The box `[start, end)` per axis in a grid of `shape` `[nz, ny, nx]`.
    ///
    /// # Errors
    ///
    /// A message when a range ends beyond the grid or is empty in it.
    pub fn ranges(&self, shape: [usize; 3]) -> Result<[Range<usize>; 3], String> {
        let mut out = [0..0, 0..0, 0..0];
        for (i, ((a, e), n)) in self.bounds.iter().zip(shape).enumerate() {
            let (a, e) = (a.unwrap_or(0), e.unwrap_or(n));
            if e > n || a >= e {
                return Err(format!(
                    "--crop {self}: the {} range {a}:{e} does not lie in the grid {shape:?} ([nz, ny, nx]: 0 ≤ start < end ≤ n{})",
                    AXES[i], AXES[i]
                ));
            }
            out[i] = a..e;
        }
        Ok(out)
    }

    /// `data` cut to the box in a grid of `shape` ([`crop_data`] of [`Crop::ranges`]).
    ///
    /// # Errors
    ///
    /// As [`Crop::ranges`] for the data's grid.
    pub fn data(&self, data: &MreData, shape: [usize; 3]) -> Result<MreData, String> {
        Ok(crop_data(data, &self.ranges(shape)?))
    }

    /// `map` of the box placed into a grid of `shape`, NaN outside the box.
    ///
    /// # Panics
    ///
    /// When `map` does not have the box's shape in `shape` (a programming error).
    pub fn embed(&self, map: &Array3<f64>, shape: [usize; 3]) -> Array3<f64> {
        let [z, y, x] = self.ranges(shape).expect("crop checked against the data's grid");
        let mut out = Array3::from_elem(shape, f64::NAN);
        out.slice_mut(s![z, y, x]).assign(map);
        out
    }

    /// `a` `[.., .., nz, ny, nx]` of the box placed into a grid of `shape`, NaN outside.
    pub fn embed5(&self, a: &Array5<Complex64>, shape: [usize; 3]) -> Array5<Complex64> {
        let [z, y, x] = self.ranges(shape).expect("crop checked against the data's grid");
        let nan = Complex64::new(f64::NAN, f64::NAN);
        let mut out = Array5::from_elem((a.len_of(Axis(0)), a.len_of(Axis(1)), shape[0], shape[1], shape[2]), nan);
        out.slice_mut(s![.., .., z, y, x]).assign(a);
        out
    }
}

/// `data` cut to the voxel ranges `[z, y, x]` (from [`Crop::ranges`]): `/wave`, `/phase`,
/// `/images`, `/magnitude`, `/mask`, `/labels` and the ground truth (k-space has no voxels and
/// is left out: take the wave before cropping).
pub fn crop_data(data: &MreData, [z, y, x]: &[Range<usize>; 3]) -> MreData {
    let cut3 = |a: &Array3<f64>| a.slice(s![z.clone(), y.clone(), x.clone()]).to_owned();
    MreData {
        wave: data.wave.as_ref().map(|w| crop5(w, [z.clone(), y.clone(), x.clone()])),
        phase: data.phase.as_ref().map(|p| p.slice(s![.., .., .., z.clone(), y.clone(), x.clone()]).to_owned()),
        images: data.images.as_ref().map(|i: &Array6<Complex64>| i.slice(s![.., .., .., z.clone(), y.clone(), x.clone()]).to_owned()),
        kspace: None,
        kspace_negative: None,
        magnitude: data.magnitude.as_ref().map(cut3),
        mask: data.mask.as_ref().map(|m| m.slice(s![z.clone(), y.clone(), x.clone()]).to_owned()),
        labels: data.labels.as_ref().map(|l| l.slice(s![z.clone(), y.clone(), x.clone()]).to_owned()),
        ground_truth: data
            .ground_truth
            .as_ref()
            .map(|g| GroundTruth { storage_modulus_pa: cut3(&g.storage_modulus_pa), loss_modulus_pa: cut3(&g.loss_modulus_pa) }),
        ..data.clone()
    }
}

/// `a` `[.., .., nz, ny, nx]` cut to the box.
pub fn crop5(a: &Array5<Complex64>, [z, y, x]: [Range<usize>; 3]) -> Array5<Complex64> {
    a.slice(s![.., .., z, y, x]).to_owned()
}

impl fmt::Display for Crop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, e)) in self.bounds.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if let Some(a) = a {
                write!(f, "{a}")?;
            }
            f.write_str(":")?;
            if let Some(e) = e {
                write!(f, "{e}")?;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Crop {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Crop {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Crop::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_slices_and_prints_them_back() {
        let c = Crop::parse(":, 10:30 ,12:").unwrap();
        assert_eq!(c.bounds, [(None, None), (Some(10), Some(30)), (Some(12), None)]);
        assert_eq!(c.to_string(), ":,10:30,12:");
        assert_eq!(c.ranges([1, 40, 40]).unwrap(), [0..1, 10..30, 12..40]);
        for bad in ["", "1:2,3:4", "1:2,3:4,5", "1:2,3:4,a:6", "1:2,3:4,6:6", "1:2,3:4,7:6", "1:2,3:4,5:6,7:8"] {
            let e = Crop::parse(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")) && e.contains("z0:z1,y0:y1,x0:x1"), "{e}");
        }
        let e = Crop::parse(":,:,30:50").unwrap().ranges([1, 40, 40]).unwrap_err();
        assert!(e.contains("the x range 30:50") && e.contains("[1, 40, 40]"), "{e}");
        let e = Crop::parse(":,:,45:").unwrap().ranges([1, 40, 40]).unwrap_err();
        assert!(e.contains("the x range 45:40"), "{e}");
    }

    #[test]
    fn cuts_every_spatial_dataset_and_embeds_back() {
        let shape = [4, 5, 6];
        let value = |z: usize, y: usize, x: usize| (100 * z + 10 * y + x) as f64;
        let map = Array3::from_shape_fn(shape, |(z, y, x)| value(z, y, x));
        let wave = Array5::from_shape_fn((2, 3, 4, 5, 6), |(f, c, z, y, x)| Complex64::new(value(z, y, x), (10 * f + c) as f64));
        let d = MreData {
            wave: Some(wave),
            magnitude: Some(map.clone()),
            mask: Some(map.mapv(|v| (v as u64 % 2) as u8)),
            labels: Some(map.mapv(|v| v as u16)),
            ground_truth: Some(GroundTruth { storage_modulus_pa: map.clone(), loss_modulus_pa: map.clone() }),
            ..MreData::default()
        };
        let c = Crop::parse("1:3,:,2:5").unwrap();
        let cut = c.data(&d, shape).unwrap();
        let w = cut.wave.as_ref().unwrap();
        assert_eq!(w.shape(), &[2, 3, 2, 5, 3]);
        assert_eq!(w[[1, 2, 0, 4, 0]], Complex64::new(value(1, 4, 2), 12.0));
        assert_eq!(cut.labels.as_ref().unwrap()[[1, 0, 2]], value(2, 0, 4) as u16);
        assert_eq!(cut.ground_truth.as_ref().unwrap().loss_modulus_pa[[0, 1, 1]], value(1, 1, 3));
        let back = c.embed(&cut.magnitude.unwrap(), shape);
        for ((z, y, x), v) in back.indexed_iter() {
            if (1..3).contains(&z) && (2..5).contains(&x) {
                assert_eq!(*v, value(z, y, x));
            } else {
                assert!(v.is_nan());
            }
        }
        let back5 = c.embed5(w, shape);
        assert_eq!(back5[[1, 2, 2, 4, 4]], Complex64::new(value(2, 4, 4), 12.0));
        assert!(back5[[0, 0, 0, 0, 0]].re.is_nan());
    }
}
