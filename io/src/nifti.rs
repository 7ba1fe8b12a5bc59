//! Reading single-file NIfTI-1 volumes (`.nii`, `.nii.gz`) as real or complex arrays.
//!
//! The 348-byte header is parsed here (either byte order) and every field the data depend on is
//! checked before a byte of the volume is read: `sizeof_hdr` and `magic` (single-file `n+1`),
//! `dim` (1 to 7 positive axis lengths), `datatype` (the real and complex scalar types; RGB,
//! 128-bit floats, binary and unknown codes are refused by name), `vox_offset` (honoured: the
//! volume starts there, after any extensions), `scl_slope`/`scl_inter` (honoured as
//! `slope · x + inter`; a slope of 0 or NaN means no scaling, as in `nifti1_io` and nibabel).
//! The declared volume is checked against the memory budget ([`mre_solver::limits`]) and, for an
//! uncompressed file, against the file length before it is allocated; a compressed file that
//! ends early is refused without allocating more than it holds.
//!
//! Every error is a [`NiftiError`] naming the file and the header field.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use mre_solver::limits::{self, LimitError};
use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use num_complex::Complex64;

/// Length of a NIfTI-1 header, bytes (`sizeof_hdr`).
pub const HEADER_BYTES: usize = 348;

/// Error reading a NIfTI file. Messages start with the file path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NiftiError {
    /// The file cannot be opened or read.
    #[error("{}: cannot {action}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was attempted.
        action: String,
        /// The OS (or decompression) error.
        cause: std::io::Error,
    },
    /// A header field holds a value this reader cannot honour.
    #[error("{}: NIfTI header field {field} = {value}: {problem}", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// The field, e.g. `dim[2]` or `datatype`.
        field: String,
        /// Its value as stored.
        value: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// The file ends before the volume it declares.
    #[error("{}: truncated: {detail}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        detail: String,
    },
    /// The declared volume does not fit in the memory budget.
    #[error("{}: {limit}", path.display())]
    Limit {
        /// The file.
        path: PathBuf,
        /// The size check that failed (not a `source`, so that the message is printed once).
        limit: LimitError,
    },
}

/// A NIfTI volume with its axes in NIfTI order `(x, y, z, t, u, v, w)` (as many as `dim[0]`),
/// scaled by `scl_slope`/`scl_inter`.
#[derive(Debug, Clone, PartialEq)]
pub enum NiftiVolume {
    /// A real scalar datatype (integers and floats), as `f64`.
    Real(ArrayD<f64>),
    /// `COMPLEX64` or `COMPLEX128`.
    Complex(ArrayD<Complex64>),
}

impl NiftiVolume {
    /// The shape `(dim[1], …, dim[dim[0]])`.
    pub fn shape(&self) -> &[usize] {
        match self {
            NiftiVolume::Real(a) => a.shape(),
            NiftiVolume::Complex(a) => a.shape(),
        }
    }
}

/// How the voxels of a datatype are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
    C64,
    C128,
}

impl Scalar {
    /// Bytes per voxel.
    fn bytes(self) -> usize {
        match self {
            Scalar::U8 | Scalar::I8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::I64 | Scalar::U64 | Scalar::F64 | Scalar::C64 => 8,
            Scalar::C128 => 16,
        }
    }

    fn is_complex(self) -> bool {
        matches!(self, Scalar::C64 | Scalar::C128)
    }
}

/// The NIfTI-1 name of datatype `code` and how it is read (`None`: refused).
fn datatype(code: i16) -> (&'static str, Option<Scalar>) {
    match code {
        0 => ("UNKNOWN", None),
        1 => ("BINARY", None),
        2 => ("UINT8", Some(Scalar::U8)),
        4 => ("INT16", Some(Scalar::I16)),
        8 => ("INT32", Some(Scalar::I32)),
        16 => ("FLOAT32", Some(Scalar::F32)),
        32 => ("COMPLEX64", Some(Scalar::C64)),
        64 => ("FLOAT64", Some(Scalar::F64)),
        128 => ("RGB24", None),
        256 => ("INT8", Some(Scalar::I8)),
        512 => ("UINT16", Some(Scalar::U16)),
        768 => ("UINT32", Some(Scalar::U32)),
        1024 => ("INT64", Some(Scalar::I64)),
        1280 => ("UINT64", Some(Scalar::U64)),
        1536 => ("FLOAT128", None),
        1792 => ("COMPLEX128", Some(Scalar::C128)),
        2048 => ("COMPLEX256", None),
        2304 => ("RGBA32", None),
        _ => ("not a NIfTI-1 datatype code", None),
    }
}

/// The accepted datatypes, for messages.
const SUPPORTED: &str =
    "a real or complex scalar type: INT8, UINT8, INT16, UINT16, INT32, UINT32, INT64, UINT64, FLOAT32, FLOAT64, COMPLEX64 or COMPLEX128";

/// The header fields the volume depends on.
#[derive(Debug, Clone, PartialEq)]
struct Header {
    little_endian: bool,
    /// `dim[1..=dim[0]]`.
    dims: Vec<usize>,
    scalar: Scalar,
    datatype_name: &'static str,
    vox_offset: u64,
    /// `(slope, inter)` when scaling applies.
    scaling: Option<(f64, f64)>,
}

/// Whether `path` names a gzip-compressed file (`.gz`).
fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Reads a single-file NIfTI-1 volume (`.nii` or `.nii.gz`, either byte order).
///
/// # Errors
/// A [`NiftiError`] naming the file and, for a header problem, the field and its value: not a
/// NIfTI-1 single file (`sizeof_hdr`, `magic`), `dim[0]` outside 1..=7, a zero or negative
/// `dim[i]`, a datatype other than the real and complex scalar types (named, e.g. `RGB24`),
/// a `vox_offset` below 352, fractional or past the end of the file, a non-finite scale
/// factor, a complex volume with a non-zero `scl_inter`, a volume larger than the memory budget,
/// or a file that ends before the declared volume.
pub fn read_nifti(path: &Path) -> Result<NiftiVolume, NiftiError> {
    let io = |action: &str| {
        let action = action.to_string();
        move |cause| NiftiError::Io { path: path.to_path_buf(), action: action.clone(), cause }
    };
    let file = File::open(path).map_err(io("open the file"))?;
    let meta = file.metadata().map_err(io("read the file length"))?;
    if !meta.is_file() {
        return Err(NiftiError::Io {
            path: path.to_path_buf(),
            action: "read the file".into(),
            cause: std::io::Error::other("not a regular file (a device, FIFO or directory)"),
        });
    }
    let gz = is_gz(path);
    let mut reader: Box<dyn Read> =
        if gz { Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))) } else { Box::new(BufReader::new(file)) };
    let mut raw = [0u8; HEADER_BYTES];
    read_fully(&mut reader, &mut raw).map_err(io("read the header"))?.then_some(()).ok_or_else(|| NiftiError::Truncated {
        path: path.to_path_buf(),
        detail: format!("the file is shorter than the {HEADER_BYTES}-byte NIfTI-1 header"),
    })?;
    let header = parse_header(path, &raw)?;

    let n = header.dims.iter().map(|&d| d as u64).collect::<Vec<_>>();
    let what = format!(
        "NIfTI volume of dim {:?} ({}, read as {})",
        header.dims,
        header.datatype_name,
        if header.scalar.is_complex() { "complex128" } else { "float64" }
    );
    let out_bytes = if header.scalar.is_complex() { 16 } else { 8 };
    let count = limits::check_array(&what, &n, out_bytes).map_err(|limit| NiftiError::Limit { path: path.to_path_buf(), limit })?;
    // Fits in the budget, so in u64 and usize.
    let data_bytes = count as u64 * header.scalar.bytes() as u64;
    if !gz {
        let len = meta.len();
        if header.vox_offset > len {
            return Err(header_error(
                path,
                "vox_offset",
                header.vox_offset,
                format!("the volume would start after the end of the file ({len} bytes)"),
            ));
        }
        if header.vox_offset + data_bytes > len {
            return Err(NiftiError::Truncated {
                path: path.to_path_buf(),
                detail: format!(
                    "dim {:?} of {} ({} bytes each) from vox_offset {} need {} bytes, but the file is {len} bytes long",
                    header.dims,
                    header.datatype_name,
                    header.scalar.bytes(),
                    header.vox_offset,
                    header.vox_offset + data_bytes
                ),
            });
        }
    }
    // Skip the extensions between the header and the volume.
    let skip = header.vox_offset - HEADER_BYTES as u64;
    let skipped = std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink()).map_err(io("read the header extensions"))?;
    if skipped < skip {
        return Err(header_error(
            path,
            "vox_offset",
            header.vox_offset,
            format!("the volume would start after the end of the file ({} bytes)", HEADER_BYTES as u64 + skipped),
        ));
    }
    decode(path, &header, count, gz, &mut reader)
}

/// Reads until `buf` is full; `Ok(false)` when the input ends first.
fn read_fully(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => return Ok(false),
            Ok(k) => done += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn header_error(path: &Path, field: &str, value: impl std::fmt::Display, problem: impl Into<String>) -> NiftiError {
    NiftiError::Header { path: path.to_path_buf(), field: field.into(), value: value.to_string(), problem: problem.into() }
}

/// Parses and checks the fields of a NIfTI-1 header.
fn parse_header(path: &Path, raw: &[u8; HEADER_BYTES]) -> Result<Header, NiftiError> {
    let le_size = i32::from_le_bytes(raw[0..4].try_into().expect("4 bytes"));
    let be_size = i32::from_be_bytes(raw[0..4].try_into().expect("4 bytes"));
    let little_endian = match (le_size, be_size) {
        (348, _) => true,
        (_, 348) => false,
        (540, _) | (_, 540) => {
            return Err(header_error(path, "sizeof_hdr", 540, "this is a NIfTI-2 file; only NIfTI-1 (348) is supported"));
        }
        _ => {
            return Err(header_error(path, "sizeof_hdr", le_size, "expected 348 (NIfTI-1, either byte order); this is not a NIfTI-1 file"));
        }
    };
    let i16_at = |o: usize| {
        let b = [raw[o], raw[o + 1]];
        if little_endian {
            i16::from_le_bytes(b)
        } else {
            i16::from_be_bytes(b)
        }
    };
    let f32_at = |o: usize| {
        let b: [u8; 4] = raw[o..o + 4].try_into().expect("4 bytes");
        if little_endian {
            f32::from_le_bytes(b)
        } else {
            f32::from_be_bytes(b)
        }
    };

    let magic = &raw[344..348];
    match magic {
        b"n+1\0" => {}
        b"ni1\0" => {
            return Err(header_error(
                path,
                "magic",
                "\"ni1\"",
                "a header/image pair (.hdr + .img) is not supported; expected a single file (magic \"n+1\", .nii or .nii.gz)",
            ))
        }
        _ => {
            return Err(header_error(
                path,
                "magic",
                format!("{:?}", String::from_utf8_lossy(magic)),
                "expected \"n+1\" (a single-file NIfTI-1 volume)",
            ))
        }
    }

    // dim[0..8] at byte 40.
    let dim: Vec<i16> = (0..8).map(|i| i16_at(40 + 2 * i)).collect();
    let ndim = dim[0];
    if !(1..=7).contains(&ndim) {
        return Err(header_error(path, "dim[0]", ndim, "expected the number of dimensions, 1 to 7"));
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    for (i, &d) in dim.iter().enumerate().take(ndim as usize + 1).skip(1) {
        if d < 1 {
            return Err(header_error(
                path,
                &format!("dim[{i}]"),
                d,
                format!("expected a positive axis length (dim[0] = {ndim} axes are used)"),
            ));
        }
        dims.push(d as usize);
    }

    let code = i16_at(70);
    let (datatype_name, scalar) = datatype(code);
    let Some(scalar) = scalar else {
        return Err(header_error(path, "datatype", format!("{code} ({datatype_name})"), format!("not supported; expected {SUPPORTED}")));
    };
    let bitpix = i16_at(72);
    if i32::from(bitpix) != 8 * scalar.bytes() as i32 {
        tracing::warn!(
            "{}: NIfTI header field bitpix = {bitpix} disagrees with datatype {datatype_name} ({} bits); the datatype is used",
            path.display(),
            8 * scalar.bytes()
        );
    }

    let vox = f32_at(108);
    if !(vox.is_finite() && vox >= HEADER_BYTES as f32 && vox.fract() == 0.0) {
        return Err(header_error(
            path,
            "vox_offset",
            vox,
            format!("expected the byte offset of the volume in a single-file NIfTI: a whole number of at least {HEADER_BYTES}"),
        ));
    }
    // A finite f32 ≥ 348 with no fraction is an exact integer below 2^128; one beyond u64 cannot
    // lie inside a file.
    let vox_offset = if vox < u64::MAX as f32 { vox as u64 } else { u64::MAX };

    let (slope, inter) = (f32_at(112), f32_at(116));
    let scaling = if slope == 0.0 || slope.is_nan() {
        None
    } else if slope.is_infinite() {
        return Err(header_error(path, "scl_slope", slope, "expected a finite scale factor (0 or NaN: no scaling)"));
    } else if inter.is_infinite() {
        return Err(header_error(path, "scl_inter", inter, "expected a finite offset (NaN counts as 0)"));
    } else {
        let inter = if inter.is_nan() { 0.0 } else { f64::from(inter) };
        if scalar.is_complex() && inter != 0.0 {
            return Err(header_error(
                path,
                "scl_inter",
                inter,
                format!("an offset of {datatype_name} values is ambiguous (real part, or both parts?); expected 0"),
            ));
        }
        Some((f64::from(slope), inter))
    };
    Ok(Header { little_endian, dims, scalar, datatype_name, vox_offset, scaling })
}

/// Reads `count` voxels of `header.scalar` from `r` (positioned at `vox_offset`) into an array
/// with axes `(x, y, z, …)` (x varies fastest in the file).
fn decode(path: &Path, header: &Header, count: usize, gz: bool, r: &mut dyn Read) -> Result<NiftiVolume, NiftiError> {
    let vb = header.scalar.bytes();
    // An uncompressed file was checked to hold the volume; a compressed one may end early, so its
    // buffers grow with what it really holds.
    let capacity = if gz { count.min(1 << 20) } else { count };
    let complex = header.scalar.is_complex();
    let mut real: Vec<f64> = Vec::new();
    let mut cplx: Vec<Complex64> = Vec::new();
    if complex {
        cplx.reserve_exact(capacity);
    } else {
        real.reserve_exact(capacity);
    }
    let le = header.little_endian;
    let mut chunk = vec![0u8; vb * 65536];
    let mut left = count;
    while left > 0 {
        let k = left.min(65536);
        let buf = &mut chunk[..k * vb];
        let full =
            read_fully(r, buf).map_err(|cause| NiftiError::Io { path: path.to_path_buf(), action: "read the volume".into(), cause })?;
        if !full {
            let done = count - left;
            return Err(NiftiError::Truncated {
                path: path.to_path_buf(),
                detail: format!(
                    "dim {:?} of {} declare {count} voxels from vox_offset {}, but the {}file ends after fewer than {} of them",
                    header.dims,
                    header.datatype_name,
                    header.vox_offset,
                    if gz { "decompressed " } else { "" },
                    done + k
                ),
            });
        }
        for v in buf.chunks_exact(vb) {
            if complex {
                let h = vb / 2;
                cplx.push(Complex64::new(value(header.scalar, &v[..h], le), value(header.scalar, &v[h..], le)));
            } else {
                real.push(value(header.scalar, v, le));
            }
        }
        left -= k;
    }
    // The file is x-fastest, i.e. column-major in (x, y, z, …).
    let shape = IxDyn(&header.dims).f();
    let bad = |e: ndarray::ShapeError| NiftiError::Io {
        path: path.to_path_buf(),
        action: "arrange the volume".into(),
        cause: std::io::Error::other(e.to_string()),
    };
    Ok(if complex {
        let mut a = ArrayD::from_shape_vec(shape, cplx).map_err(bad)?;
        if let Some((slope, _)) = header.scaling {
            a.mapv_inplace(|c| c * slope);
        }
        NiftiVolume::Complex(a)
    } else {
        let mut a = ArrayD::from_shape_vec(shape, real).map_err(bad)?;
        if let Some((slope, inter)) = header.scaling {
            a.mapv_inplace(|x| slope * x + inter);
        }
        NiftiVolume::Real(a)
    })
}

/// One stored value of `scalar` (for complex types, one part) from its bytes.
fn value(scalar: Scalar, b: &[u8], le: bool) -> f64 {
    macro_rules! num {
        ($t:ty) => {{
            let a = b.try_into().expect("value width");
            (if le { <$t>::from_le_bytes(a) } else { <$t>::from_be_bytes(a) }) as f64
        }};
    }
    match scalar {
        Scalar::U8 => f64::from(b[0]),
        Scalar::I8 => f64::from(b[0] as i8),
        Scalar::I16 => num!(i16),
        Scalar::U16 => num!(u16),
        Scalar::I32 => num!(i32),
        Scalar::U32 => num!(u32),
        Scalar::I64 => num!(i64),
        Scalar::U64 => num!(u64),
        // A complex value is two floats of half its width, read one at a time.
        Scalar::F32 | Scalar::C64 => num!(f32),
        Scalar::F64 | Scalar::C128 => num!(f64),
    }
}
