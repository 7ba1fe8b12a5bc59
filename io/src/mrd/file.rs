//! The ISMRMRD HDF5 layout: group `/dataset` with `xml` (one ASCII
//! variable-length string) and `data` (one compound record per acquisition:
//! `head` = the packed `AcquisitionHeader`, `traj` and `data` = variable-length
//! float32 arrays, the samples as interleaved real and imaginary parts).

use std::path::Path;

use ::hdf5::types::{TypeDescriptor, VarLenArray, VarLenAscii, VarLenUnicode};
use ::hdf5::{File, H5Type};
use ndarray::{s, Array1, Array2};
use num_complex::Complex32;

use super::acquisition::{Acquisition, AcquisitionHeader};
use super::MrdDataset;
use crate::hdf5::checked;
use crate::hdf5::{exists, h5err, write_new_file, H5Error};

/// Group of the dataset inside the file (ismrmrd's default `dataset_name`).
pub const DATASET_GROUP: &str = "dataset";
/// Acquisitions per HDF5 chunk and per write (bounds the converted copy held in memory).
const BLOCK: usize = 1024;

/// One `/dataset/data` record, in the member order of ismrmrd's `acquisition_dtype`.
#[derive(H5Type, Clone)]
#[repr(C)]
struct AcqRecord {
    head: AcquisitionHeader,
    traj: VarLenArray<f32>,
    data: VarLenArray<f32>,
}

/// An MRD file's contents as read back: the XML header text and the acquisitions.
#[derive(Debug, Clone, PartialEq)]
pub struct MrdContents {
    /// `/dataset/xml`.
    pub xml: String,
    /// `/dataset/data`, in file order.
    pub acquisitions: Vec<Acquisition>,
}

/// Writes `dataset` to `path` as an ISMRMRD (MRD) HDF5 file that
/// `ismrmrd.Dataset(path, "dataset")` reads.
///
/// The file is written under a temporary name in the same directory and
/// renamed into place (as [`write_mre_data`](crate::hdf5::write_mre_data)
/// does); `/dataset/data` is chunked and extendible, so ismrmrd's
/// `append_acquisition` can add to it.
///
/// # Errors
///
/// * [`H5Error::Exists`] if `path` exists and `force` is false;
/// * [`H5Error::Invalid`] if the header cannot be written as valid XML
///   (no encoding, a non-finite number), an acquisition's header counts
///   disagree with its arrays, or it refers to a missing encoding (checked
///   before any file is created);
/// * HDF5 or file-system errors. Every message starts with `path`.
pub fn write_mrd(path: &Path, dataset: &MrdDataset, force: bool) -> Result<(), H5Error> {
    if !force && exists(path) {
        return Err(H5Error::Exists { path: path.to_path_buf() });
    }
    let invalid = |object: String, problem: String| H5Error::Invalid { path: path.to_path_buf(), object, problem };
    if let Some(p) = dataset.header.problem() {
        return Err(invalid("the XML header /dataset/xml".into(), p));
    }
    let n_enc = dataset.header.encodings.len();
    for (i, a) in dataset.acquisitions.iter().enumerate() {
        let problem = a.inconsistency().or_else(|| {
            (usize::from(a.head.encoding_space_ref) >= n_enc)
                .then(|| format!("refers to encoding {} but the header has {n_enc}", a.head.encoding_space_ref))
        });
        if let Some(p) = problem {
            return Err(invalid(format!("acquisition {i} of /dataset/data"), p));
        }
    }

    write_new_file(path, force, |file| write_contents(path, file, dataset))
}

fn write_contents(path: &Path, file: &File, dataset: &MrdDataset) -> Result<(), H5Error> {
    let g = file.create_group(DATASET_GROUP).map_err(|e| h5err(path, "cannot create group /dataset", e))?;
    let xml = VarLenAscii::from_ascii(&dataset.header.to_xml()).map_err(|e| H5Error::Invalid {
        path: path.to_path_buf(),
        object: "/dataset/xml".into(),
        problem: format!("is not ASCII: {e}"),
    })?;
    g.new_dataset::<VarLenAscii>()
        .shape([1])
        .create("xml")
        .and_then(|d| d.write(&[xml]))
        .map_err(|e| h5err(path, "cannot write dataset /dataset/xml", e))?;

    let acqs = &dataset.acquisitions;
    let n = acqs.len();
    let wr = |e| h5err(path, "cannot write dataset /dataset/data", e);
    // Packed: the header compound must have the byte layout of the C struct
    // (pragma pack 2), which ismrmrd-python reinterprets with ctypes.
    let ds = g.new_dataset::<AcqRecord>().packed(true).chunk(BLOCK.min(n).max(1)).shape(n..).create("data").map_err(wr)?;
    for start in (0..n).step_by(BLOCK) {
        let end = (start + BLOCK).min(n);
        let records: Array1<AcqRecord> = acqs[start..end].iter().map(record).collect();
        ds.write_slice(&records, s![start..end]).map_err(wr)?;
    }
    Ok(())
}

fn record(a: &Acquisition) -> AcqRecord {
    let traj: Vec<f32> = a.traj.iter().copied().collect();
    let data: Vec<f32> = a.data.iter().flat_map(|c| [c.re, c.im]).collect();
    AcqRecord { head: a.head, traj: VarLenArray::from_slice(&traj), data: VarLenArray::from_slice(&data) }
}

/// Reads an MRD file (ISMRMRD HDF5, group `/dataset`): the XML header text
/// and every acquisition.
///
/// # Errors
///
/// A missing `/dataset/xml` or `/dataset/data`, an XML header that is not a
/// variable-length string, or sample and trajectory lengths that disagree
/// with the header counts; every message starts with `path`.
pub fn read_mrd(path: &Path) -> Result<MrdContents, H5Error> {
    let file = crate::hdf5::open_unlocked(path).map_err(|e| h5err(path, "cannot open the file", e))?;
    let open = |name: &str| {
        file.dataset(&format!("{DATASET_GROUP}/{name}")).map_err(|_| H5Error::Missing {
            path: path.to_path_buf(),
            object: format!("dataset /{DATASET_GROUP}/{name}"),
            expected: "an MRD (ISMRMRD) file has /dataset/xml and /dataset/data".into(),
        })
    };
    let xml_ds = open("xml")?;
    let rd = |object: &'static str| move |e| h5err(path, format!("cannot read {object}"), e);
    let desc = xml_ds.dtype().and_then(|t| t.to_descriptor()).map_err(rd("/dataset/xml"))?;
    let xml = match desc {
        TypeDescriptor::VarLenAscii => {
            checked::read_raw::<VarLenAscii>(path, &xml_ds, "dataset /dataset/xml")?.first().map(|s| s.to_string())
        }
        TypeDescriptor::VarLenUnicode => {
            checked::read_raw::<VarLenUnicode>(path, &xml_ds, "dataset /dataset/xml")?.first().map(|s| s.to_string())
        }
        other => {
            return Err(H5Error::Type {
                path: path.to_path_buf(),
                object: "/dataset/xml".into(),
                found: other.to_string(),
                expected: "a variable-length string".into(),
            })
        }
    };
    let xml = xml.ok_or_else(|| H5Error::Shape {
        path: path.to_path_buf(),
        object: "/dataset/xml".into(),
        shape: xml_ds.shape(),
        expected: "one string".into(),
    })?;

    let records = checked::read_raw::<AcqRecord>(path, &open("data")?, "dataset /dataset/data")?;
    let acquisitions = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let h = r.head;
            let (ch, ns, nd) = (usize::from(h.active_channels), usize::from(h.number_of_samples), usize::from(h.trajectory_dimensions));
            let bad = |what: &str, len: usize, want: usize| H5Error::Invalid {
                path: path.to_path_buf(),
                object: format!("acquisition {i} of /dataset/data"),
                problem: format!("has {len} {what} values, expected {want} for its header counts"),
            };
            let d = r.data.as_slice();
            if d.len() != 2 * ch * ns {
                return Err(bad("data", d.len(), 2 * ch * ns));
            }
            let t = r.traj.as_slice();
            if t.len() != ns * nd {
                return Err(bad("traj", t.len(), ns * nd));
            }
            let data = Array2::from_shape_fn((ch, ns), |(c, k)| {
                let j = 2 * (c * ns + k);
                Complex32::new(d[j], d[j + 1])
            });
            let traj = Array2::from_shape_vec((ns, nd), t.to_vec()).expect("length checked");
            Ok(Acquisition { head: h, data, traj })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MrdContents { xml, acquisitions })
}
