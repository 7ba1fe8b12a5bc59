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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    /// Fields of a test header; everything else is zero.
    #[derive(Debug, Clone)]
    struct Fields {
        big_endian: bool,
        dim: [i16; 8],
        datatype: i16,
        bitpix: i16,
        vox_offset: f32,
        slope: f32,
        inter: f32,
        magic: [u8; 4],
    }

    impl Fields {
        fn float32(dims: &[i16]) -> Self {
            let mut dim = [1i16; 8];
            dim[0] = dims.len() as i16;
            dim[1..=dims.len()].copy_from_slice(dims);
            Fields { big_endian: false, dim, datatype: 16, bitpix: 32, vox_offset: 352.0, slope: 0.0, inter: 0.0, magic: *b"n+1\0" }
        }

        /// Header, 4 extension bytes, padding (0x7f) up to `vox_offset` (when sensible), `data`.
        fn file(&self, data: &[u8]) -> Vec<u8> {
            let mut h = vec![0u8; HEADER_BYTES];
            let be = self.big_endian;
            let put16 =
                |h: &mut Vec<u8>, o: usize, v: i16| h[o..o + 2].copy_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
            let put32 = |h: &mut Vec<u8>, o: usize, v: [u8; 4], r: [u8; 4]| h[o..o + 4].copy_from_slice(if be { &r } else { &v });
            put32(&mut h, 0, 348i32.to_le_bytes(), 348i32.to_be_bytes());
            for (i, d) in self.dim.iter().enumerate() {
                put16(&mut h, 40 + 2 * i, *d);
            }
            put16(&mut h, 70, self.datatype);
            put16(&mut h, 72, self.bitpix);
            for (o, v) in [(108, self.vox_offset), (112, self.slope), (116, self.inter)] {
                put32(&mut h, o, v.to_le_bytes(), v.to_be_bytes());
            }
            h[344..348].copy_from_slice(&self.magic);
            h.extend_from_slice(&[0; 4]);
            if self.vox_offset.is_finite() && self.vox_offset > 352.0 && self.vox_offset < 65536.0 {
                h.resize(self.vox_offset as usize, 0x7f);
            }
            h.extend_from_slice(data);
            h
        }
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        if is_gz(&p) {
            let mut e = flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap();
        } else {
            std::fs::write(&p, bytes).unwrap();
        }
        p
    }

    #[test]
    fn both_byte_orders_compressed_or_not_give_the_same_volume() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        for big_endian in [false, true] {
            for name in ["v.nii", "v.nii.gz"] {
                let mut f = Fields::float32(&[4, 3, 2]);
                f.big_endian = big_endian;
                f.vox_offset = 400.0;
                let data: Vec<u8> = values.iter().flat_map(|v| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() }).collect();
                let p = write(dir.path(), name, &f.file(&data));
                let NiftiVolume::Real(a) = read_nifti(&p).unwrap() else { panic!("real") };
                assert_eq!(a.shape(), [4, 3, 2]);
                // x fastest in the file.
                assert_eq!(a[[1, 0, 0]], f64::from(values[1]));
                assert_eq!(a[[0, 1, 0]], f64::from(values[4]));
                assert_eq!(a[[3, 2, 1]], f64::from(values[23]));
            }
        }
    }

    #[test]
    fn integer_types_are_scaled_and_complex128_is_complex() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fields::float32(&[2, 2]);
        f.datatype = 512; // UINT16
        f.bitpix = 16;
        f.slope = 0.5;
        f.inter = 1.0;
        let p = write(dir.path(), "u.nii", &f.file(&[0, 0, 1, 0, 0xff, 0xff, 4, 0]));
        assert_eq!(
            read_nifti(&p).unwrap(),
            NiftiVolume::Real(ArrayD::from_shape_vec(IxDyn(&[2, 2]).f(), vec![1.0, 1.5, 32768.5, 3.0]).unwrap())
        );
        f.datatype = 1792;
        f.bitpix = 128;
        f.inter = 0.0;
        let data: Vec<u8> = [1.0f64, -2.0, 0.25, 8.0, 0.0, 0.0, 3.0, 1.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let p = write(dir.path(), "c.nii", &f.file(&data));
        let NiftiVolume::Complex(a) = read_nifti(&p).unwrap() else { panic!("complex") };
        assert_eq!(a[[0, 0]], Complex64::new(0.5, -1.0));
        assert_eq!(a[[1, 0]], Complex64::new(0.125, 4.0));
        assert_eq!(a[[1, 1]], Complex64::new(1.5, 0.5));
    }

    #[test]
    fn nibabel_nan_scaling_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fields::float32(&[2]);
        f.slope = f32::NAN;
        f.inter = f32::NAN;
        let p = write(dir.path(), "n.nii", &f.file(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]));
        assert_eq!(read_nifti(&p).unwrap(), NiftiVolume::Real(ArrayD::from_shape_vec(IxDyn(&[2]), vec![1.0, 2.0]).unwrap()));
    }

    #[test]
    fn other_formats_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fields::float32(&[1]);
        f.magic = *b"ni1\0";
        let e = read_nifti(&write(dir.path(), "p.nii", &f.file(&[0; 4]))).unwrap_err().to_string();
        assert!(e.contains("p.nii: NIfTI header field magic = \"ni1\"") && e.contains(".hdr + .img"), "{e}");
        let mut nifti2 = vec![0u8; 600];
        nifti2[0..4].copy_from_slice(&540i32.to_le_bytes());
        let e = read_nifti(&write(dir.path(), "two.nii", &nifti2)).unwrap_err().to_string();
        assert!(e.contains("sizeof_hdr = 540") && e.contains("NIfTI-2"), "{e}");
        let e = read_nifti(&write(dir.path(), "short.nii", &[0; 100])).unwrap_err().to_string();
        assert!(e.contains("short.nii: truncated"), "{e}");
        let e = read_nifti(Path::new("/dev/null")).unwrap_err().to_string();
        assert!(e.contains("/dev/null") && e.contains("not a regular file"), "{e}");
    }

    /// Cases per property: `PROPTEST_CASES`, or `default` (a few seconds in CI).
    fn cases(default: u32) -> ProptestConfig {
        let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        ProptestConfig { cases: n, failure_persistence: None, ..ProptestConfig::default() }
    }

    /// Interesting and random values of each field.
    fn fields() -> impl Strategy<Value = Fields> {
        let dim = prop_oneof![Just(0i16), Just(1), Just(2), Just(3), Just(-1), Just(i16::MAX), Just(i16::MIN), any::<i16>()];
        let datatype = prop_oneof![
            prop::sample::select(vec![0i16, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304]),
            any::<i16>()
        ];
        let vox = prop_oneof![
            prop::sample::select(vec![0.0f32, 348.0, 352.0, 352.5, 356.0, 1024.0, -352.0, 1e9, 3e38]),
            Just(f32::NAN),
            Just(f32::INFINITY),
            any::<f32>()
        ];
        let scl = prop_oneof![prop::sample::select(vec![0.0f32, 1.0, -0.5, 1e-3]), Just(f32::NAN), Just(f32::NEG_INFINITY), any::<f32>()];
        let magic = prop_oneof![Just(*b"n+1\0"), Just(*b"ni1\0"), any::<[u8; 4]>()];
        (
            any::<bool>(),
            prop_oneof![0i16..=8, any::<i16>()],
            prop::array::uniform7(dim),
            datatype,
            any::<i16>(),
            vox,
            scl.clone(),
            scl,
            magic,
        )
            .prop_map(|(big_endian, d0, d, datatype, bitpix, vox_offset, slope, inter, magic)| {
                let mut dim = [d0; 8];
                dim[1..].copy_from_slice(&d);
                Fields { big_endian, dim, datatype, bitpix, vox_offset, slope, inter, magic }
            })
    }

    /// The property: no panic, and an error names the file.
    fn ok_or_names_file(p: &Path) -> Result<(), TestCaseError> {
        match read_nifti(p) {
            Ok(v) => prop_assert!(!v.shape().is_empty() && v.shape().len() <= 7),
            Err(e) => prop_assert!(e.to_string().starts_with(&p.display().to_string()), "{e}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(cases(64))]

        /// Random headers (every field the reader looks at), random data and truncation.
        #[test]
        fn random_headers_never_panic(
            f in fields(),
            data in prop::collection::vec(any::<u8>(), 0..512),
            cut in prop::option::of(0usize..1200),
            gz in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut bytes = f.file(&data);
            if let Some(c) = cut { bytes.truncate(c); }
            let p = write(dir.path(), if gz { "f.nii.gz" } else { "f.nii" }, &bytes);
            ok_or_names_file(&p)?;
        }

        /// A valid file with random bytes of its header overwritten, then maybe truncated.
        #[test]
        fn mutated_headers_never_panic(
            edits in prop::collection::vec((0usize..352, any::<u8>()), 1..8),
            cut in prop::option::of(0usize..500),
            gz in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut bytes = Fields::float32(&[4, 3, 2, 2]).file(&[0x3f; 4 * 48]);
            for (i, b) in edits { bytes[i] = b; }
            if let Some(c) = cut { bytes.truncate(c); }
            let p = write(dir.path(), if gz { "m.nii.gz" } else { "m.nii" }, &bytes);
            ok_or_names_file(&p)?;
        }
    }
}
