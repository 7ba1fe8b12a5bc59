//! The six outer faces of a voxel grid, named the same way everywhere (config, CLI, solvers).

use std::fmt;
use std::str::FromStr;

use crate::units::Axis;

/// Which end of an axis a face is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The face at index 0 along the axis (`"low"`, `"-"`).
    Low,
    /// The face at index `n − 1` along the axis (`"high"`, `"+"`).
    High,
}

impl Side {
    /// 0 for [`Side::Low`], 1 for [`Side::High`] (the second index of [`crate::wave::Boundary::faces`]).
    pub fn index(self) -> usize {
        match self {
            Side::Low => 0,
            Side::High => 1,
        }
    }
}

/// One outer face of a `[nz, ny, nx]` voxel grid: an [`Axis`] (`[z, y, x]` order, as
/// everywhere in mre-solver) and a [`Side`].
///
/// Two spellings name a face, and both parse ([`FromStr`]): the long one of the TOML
/// config (`"x-low"`, `"x-high"`, `"y-low"`, …) and the short one of the command line
/// (`"x-"`, `"x+"`, `"y-"`, …). The axis letter may be upper case. [`fmt::Display`]
/// writes the long spelling; [`Face::short_name`] gives the short one.
///
/// ```
/// use mre_solver::units::Axis;
/// use mre_solver::wave::{Face, Side};
/// let f: Face = "x-".parse().unwrap();
/// assert_eq!(f, "x-low".parse().unwrap());
/// assert_eq!(f, Face::new(Axis::X, Side::Low));
/// assert_eq!(f.index(), (2, 0));
/// assert_eq!((f.to_string(), f.short_name()), ("x-low".to_string(), "x-"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Face {
    /// The axis normal to the face.
    pub axis: Axis,
    /// Its end of the axis.
    pub side: Side,
}

/// A string that names no face (see [`Face`] for the accepted spellings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a grid face: expected x-low, x-high, y-low, y-high, z-low, z-high (or x-, x+, y-, y+, z-, z+)")]
pub struct ParseFaceError(pub String);

impl Face {
    /// The face of `axis` on `side`.
    pub const fn new(axis: Axis, side: Side) -> Self {
        Self { axis, side }
    }

    /// `(axis, side)` as indices: axis in `[z, y, x]` order (0, 1, 2), side 0 = low, 1 = high;
    /// the indices of [`crate::wave::Boundary::faces`].
    pub fn index(self) -> (usize, usize) {
        (self.axis.index(), self.side.index())
    }

    /// Index of the face's voxel layer along its axis, on an axis of `n` voxels: 0 or `n − 1`.
    pub fn layer(self, n: usize) -> usize {
        match self.side {
            Side::Low => 0,
            Side::High => n - 1,
        }
    }

    /// Long name, `"x-low"` … `"z-high"` (the config spelling; also [`fmt::Display`]).
    pub fn name(self) -> &'static str {
        match (self.axis, self.side) {
            (Axis::Z, Side::Low) => "z-low",
            (Axis::Z, Side::High) => "z-high",
            (Axis::Y, Side::Low) => "y-low",
            (Axis::Y, Side::High) => "y-high",
            (Axis::X, Side::Low) => "x-low",
            (Axis::X, Side::High) => "x-high",
        }
    }

    /// Short name, `"x-"` … `"z+"` (the command-line spelling).
    pub fn short_name(self) -> &'static str {
        match (self.axis, self.side) {
            (Axis::Z, Side::Low) => "z-",
            (Axis::Z, Side::High) => "z+",
            (Axis::Y, Side::Low) => "y-",
            (Axis::Y, Side::High) => "y+",
            (Axis::X, Side::Low) => "x-",
            (Axis::X, Side::High) => "x+",
        }
    }
}

impl FromStr for Face {
    type Err = ParseFaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseFaceError(s.to_string());
        let mut chars = s.chars();
        let axis = chars.next().and_then(|c| Axis::parse(c.encode_utf8(&mut [0; 4]))).ok_or_else(bad)?;
        let side = match chars.as_str() {
            "-low" | "-" => Side::Low,
            "-high" | "+" => Side::High,
            _ => return Err(bad()),
        };
        Ok(Self { axis, side })
    }
}

impl fmt::Display for Face {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_name_the_same_face_and_round_trip() {
        for axis in [Axis::Z, Axis::Y, Axis::X] {
            for side in [Side::Low, Side::High] {
                let f = Face::new(axis, side);
                assert_eq!(f.name().parse::<Face>(), Ok(f));
                assert_eq!(f.short_name().parse::<Face>(), Ok(f));
                assert_eq!(f.to_string().to_uppercase().replace("LOW", "low").replace("HIGH", "high").parse::<Face>(), Ok(f));
                assert_eq!(f.index(), (axis.index(), side.index()));
            }
        }
        assert_eq!("y+".parse::<Face>().map(Face::index), Ok((1, 1)));
        assert_eq!(Face::new(Axis::Y, Side::High).layer(7), 6);
        for bad in ["", "w+", "x", "x-lo", "x+high", "xx-", "-x", "x_low"] {
            let e = bad.parse::<Face>().unwrap_err();
            assert!(e.to_string().contains("x-low") && e.to_string().contains("x+"), "{e}");
        }
    }
}
