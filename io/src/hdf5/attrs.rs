//! Attribute helpers: typed writes, and tolerant reads that accept the
//! numeric and string flavours other tools write (h5py, MATLAB, HDFView).

use std::path::Path;

use ::hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use ::hdf5::{Attribute, Location};
use ndarray::ArrayView1;

use super::checked;
use super::{attr_object, h5err, H5Error};

/// A location (file root, group or dataset) together with the names needed
/// for error messages.
pub(crate) struct Loc<'a> {
    /// The HDF5 file path (for messages).
    pub path: &'a Path,
    /// The HDF5 object.
    pub loc: &'a Location,
    /// Its name inside the file, e.g. `/` or `/acquisition`.
    pub name: &'a str,
}

impl Loc<'_> {
    fn obj(&self, attr: &str) -> String {
        attr_object(self.name, attr)
    }

    fn h5(&self, action: &str, attr: &str, e: ::hdf5::Error) -> H5Error {
        h5err(self.path, format!("cannot {action} {}", self.obj(attr)), e)
    }

    // ------------------------------------------------------------ writing --

    /// Writes a scalar variable-length UTF-8 string attribute (h5py reads it as `str`).
    pub fn write_str(&self, name: &str, value: &str) -> Result<(), H5Error> {
        let v: VarLenUnicode = value.parse().map_err(|e| H5Error::Invalid {
            path: self.path.to_path_buf(),
            object: self.obj(name),
            problem: format!("cannot be stored as an HDF5 string: {e}"),
        })?;
        self.loc.new_attr::<VarLenUnicode>().shape(()).create(name).and_then(|a| a.write_scalar(&v)).map_err(|e| self.h5("write", name, e))
    }

    /// Writes a scalar `f64` attribute.
    pub fn write_f64(&self, name: &str, value: f64) -> Result<(), H5Error> {
        self.write_scalar(name, value)
    }

    /// Writes a scalar attribute of any HDF5 type.
    pub fn write_scalar<T: ::hdf5::H5Type>(&self, name: &str, value: T) -> Result<(), H5Error> {
        self.loc.new_attr::<T>().shape(()).create(name).and_then(|a| a.write_scalar(&value)).map_err(|e| self.h5("write", name, e))
    }

    /// Writes a 1-D `f64` array attribute.
    pub fn write_f64_array(&self, name: &str, values: &[f64]) -> Result<(), H5Error> {
        self.loc.new_attr_builder().with_data(ArrayView1::from(values)).create(name).map(drop).map_err(|e| self.h5("write", name, e))
    }

    // ------------------------------------------------------------ reading --

    /// Whether the attribute exists.
    pub fn has(&self, name: &str) -> Result<bool, H5Error> {
        let names = self.loc.attr_names().map_err(|e| h5err(self.path, format!("cannot list the attributes of {}", self.name), e))?;
        Ok(names.iter().any(|n| n == name))
    }

    /// Opens the attribute if it exists.
    fn open(&self, name: &str) -> Result<Option<Attribute>, H5Error> {
        if !self.has(name)? {
            return Ok(None);
        }
        self.loc.attr(name).map(Some).map_err(|e| self.h5("open", name, e))
    }

    /// The error for a missing required attribute; `expected` explains what it should hold.
    fn missing(&self, name: &str, expected: &str) -> H5Error {
        H5Error::Missing { path: self.path.to_path_buf(), object: self.obj(name), expected: expected.to_string() }
    }

    /// Reads attribute `name` as `T` values through the size check of
    /// [`checked::read_attr`].
    fn read<T: ::hdf5::H5Type>(&self, name: &str, a: &Attribute) -> Result<Vec<T>, H5Error> {
        checked::read_attr(self.path, a, &self.obj(name))
    }

    /// The number of values of attribute `name` (overflow-checked).
    fn count(&self, name: &str, a: &Attribute) -> Result<usize, H5Error> {
        checked::element_count(self.path, a, &self.obj(name))
    }

    fn descriptor(&self, name: &str, a: &Attribute) -> Result<TypeDescriptor, H5Error> {
        a.dtype().and_then(|t| t.to_descriptor()).map_err(|e| self.h5("read the type of", name, e))
    }

    /// Reads a numeric attribute (any integer or float type, scalar or array)
    /// as `f64` values in storage order.
    fn numbers(&self, name: &str, a: &Attribute) -> Result<Vec<f64>, H5Error> {
        let desc = self.descriptor(name, a)?;
        if !is_numeric(&desc) {
            return Err(H5Error::Type {
                path: self.path.to_path_buf(),
                object: self.obj(name),
                found: desc.to_string(),
                expected: "a number (integer or float)".into(),
            });
        }
        self.read::<f64>(name, a)
    }

    /// Reads an optional `f64` array attribute (a scalar counts as one element).
    pub fn f64_vec(&self, name: &str) -> Result<Option<Vec<f64>>, H5Error> {
        match self.open(name)? {
            None => Ok(None),
            Some(a) => {
                let ndim = a.ndim();
                if ndim > 1 {
                    return Err(H5Error::Shape {
                        path: self.path.to_path_buf(),
                        object: self.obj(name),
                        shape: a.shape(),
                        expected: "a scalar or a 1-D array".into(),
                    });
                }
                self.numbers(name, &a).map(Some)
            }
        }
    }

    /// Reads a required `f64` array attribute.
    pub fn f64_vec_required(&self, name: &str, expected: &str) -> Result<Vec<f64>, H5Error> {
        self.f64_vec(name)?.ok_or_else(|| self.missing(name, expected))
    }

    /// Reads an optional scalar `f64` attribute (a one-element array is accepted).
    pub fn f64_scalar(&self, name: &str) -> Result<Option<f64>, H5Error> {
        match self.f64_vec(name)? {
            None => Ok(None),
            Some(v) if v.len() == 1 => Ok(Some(v[0])),
            Some(v) => Err(H5Error::Shape {
                path: self.path.to_path_buf(),
                object: self.obj(name),
                shape: vec![v.len()],
                expected: "a scalar".into(),
            }),
        }
    }

    /// Reads an optional scalar integer attribute as `i64`.
    pub fn i64_scalar(&self, name: &str) -> Result<Option<i64>, H5Error> {
        let Some(a) = self.open(name)? else {
            return Ok(None);
        };
        let desc = self.descriptor(name, &a)?;
        if !matches!(desc, TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)) {
            return Err(H5Error::Type {
                path: self.path.to_path_buf(),
                object: self.obj(name),
                found: desc.to_string(),
                expected: "an integer".into(),
            });
        }
        let v = self.read::<i64>(name, &a)?;
        match v.as_slice() {
            [x] => Ok(Some(*x)),
            _ => {
                Err(H5Error::Shape { path: self.path.to_path_buf(), object: self.obj(name), shape: a.shape(), expected: "a scalar".into() })
            }
        }
    }

    /// Reads an optional string attribute: variable- or fixed-length, ASCII or
    /// UTF-8, scalar or a one-element array. Trailing NUL/space padding of
    /// fixed-length strings is removed.
    pub fn string(&self, name: &str) -> Result<Option<String>, H5Error> {
        let Some(a) = self.open(name)? else {
            return Ok(None);
        };
        let desc = self.descriptor(name, &a)?;
        self.string_from(name, &a, &desc).map(Some)
    }

    /// Reads a required string attribute.
    pub fn string_required(&self, name: &str, expected: &str) -> Result<String, H5Error> {
        self.string(name)?.ok_or_else(|| self.missing(name, expected))
    }

    fn string_from(&self, name: &str, a: &Attribute, desc: &TypeDescriptor) -> Result<String, H5Error> {
        if self.count(name, a)? != 1 {
            return Err(H5Error::Shape {
                path: self.path.to_path_buf(),
                object: self.obj(name),
                shape: a.shape(),
                expected: "a single string".into(),
            });
        }
        let s = match desc {
            TypeDescriptor::VarLenUnicode => first(self.read::<VarLenUnicode>(name, a)?).map(|s| s.as_str().to_owned()),
            TypeDescriptor::VarLenAscii => first(self.read::<VarLenAscii>(name, a)?).map(|s| s.as_str().to_owned()),
            TypeDescriptor::FixedAscii(n) => self.fixed_ascii(name, a, *n)?,
            TypeDescriptor::FixedUnicode(n) => self.fixed_unicode(name, a, *n)?,
            other => {
                return Err(H5Error::Type {
                    path: self.path.to_path_buf(),
                    object: self.obj(name),
                    found: other.to_string(),
                    expected: "a string".into(),
                })
            }
        };
        Ok(s.unwrap_or_default().trim_end_matches(['\0', ' ']).to_owned())
    }

    fn too_long(&self, name: &str, n: usize) -> H5Error {
        H5Error::Invalid {
            path: self.path.to_path_buf(),
            object: self.obj(name),
            problem: format!("is a fixed-length string of {n} bytes; at most {MAX_FIXED} are supported"),
        }
    }

    /// Fixed-length strings are read through the smallest supported capacity
    /// (HDF5 converts between fixed-length string sizes).
    fn fixed_ascii(&self, name: &str, a: &Attribute, n: usize) -> Result<Option<String>, H5Error> {
        Ok(match n {
            0..=256 => first(self.read::<FixedAscii<256>>(name, a)?).map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned()),
            257..=4096 => first(self.read::<FixedAscii<4096>>(name, a)?).map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned()),
            4097..=MAX_FIXED => {
                first(self.read::<FixedAscii<MAX_FIXED>>(name, a)?).map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
            }
            _ => return Err(self.too_long(name, n)),
        })
    }

    fn fixed_unicode(&self, name: &str, a: &Attribute, n: usize) -> Result<Option<String>, H5Error> {
        Ok(match n {
            0..=256 => first(self.read::<FixedUnicode<256>>(name, a)?).map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned()),
            257..=4096 => first(self.read::<FixedUnicode<4096>>(name, a)?).map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned()),
            4097..=MAX_FIXED => {
                first(self.read::<FixedUnicode<MAX_FIXED>>(name, a)?).map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
            }
            _ => return Err(self.too_long(name, n)),
        })
    }

    /// Reads any attribute as text if it is a string or a numeric scalar
    /// (used for free-form provenance attributes). Other types give `None`.
    pub fn as_text(&self, name: &str) -> Result<Option<String>, H5Error> {
        let Some(a) = self.open(name)? else {
            return Ok(None);
        };
        let desc = self.descriptor(name, &a)?;
        let scalar = self.count(name, &a)? == 1;
        match desc {
            TypeDescriptor::VarLenUnicode
            | TypeDescriptor::VarLenAscii
            | TypeDescriptor::FixedAscii(_)
            | TypeDescriptor::FixedUnicode(_)
                if scalar =>
            {
                self.string_from(name, &a, &desc).map(Some)
            }
            TypeDescriptor::Integer(_) if scalar => {
                let v = self.read::<i64>(name, &a)?;
                Ok(v.first().map(i64::to_string))
            }
            TypeDescriptor::Unsigned(_) if scalar => {
                let v = self.read::<u64>(name, &a)?;
                Ok(v.first().map(u64::to_string))
            }
            TypeDescriptor::Float(_) if scalar => {
                let v = self.read::<f64>(name, &a)?;
                Ok(v.first().map(f64::to_string))
            }
            _ => Ok(None),
        }
    }
}

/// Largest fixed-length string attribute accepted, bytes.
const MAX_FIXED: usize = 1 << 16;

fn first<T>(v: Vec<T>) -> Option<T> {
    v.into_iter().next()
}

/// Whether `desc` is an integer or floating-point type.
pub(crate) fn is_numeric(desc: &TypeDescriptor) -> bool {
    matches!(desc, TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_))
}
