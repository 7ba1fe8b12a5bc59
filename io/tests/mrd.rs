//! MRD (ISMRMRD HDF5) files: write → read round trips, the on-disk layout
//! ismrmrd-python relies on, overwrite refusal and errors naming the file.

use mre_io::hdf5::H5Error;
use mre_io::mrd::{
    mrd_path_for, read_mrd, write_mrd, AcqFlag, Acquisition, AcquisitionHeader, Encoding, EncodingLimits, EncodingSpace, GreMreScan, Limit,
    MrdDataset, MrdHeader, ScanDescription, Trajectory, UserParameters,
};
use mre_solver::sequence::GreMre;
use mre_solver::units::Axis;
use ndarray::{Array2, ArrayD, IxDyn};
use num_complex::{Complex32, Complex64};

/// A small built-in GRE-MRE dataset: 2 frequencies, 2 components, 3 offsets, both polarities, 2 × 4 × 6.
fn gre_mre() -> (MrdDataset, ArrayD<Complex64>, ArrayD<Complex64>) {
    let mut seq = GreMre::example_for_tests();
    seq.matrix = [2, 4, 6];
    seq.fov_m = [0.01, 0.08, 0.12];
    seq.phase_offsets = 3;
    let shape = IxDyn(&[2, 2, 3, 1, 2, 4, 6]);
    let k = ArrayD::from_shape_fn(shape, |i| {
        Complex64::new((i[2] * 100 + i[4] * 30 + i[5] * 7 + i[6]) as f64 * 1e-3 + 0.1, i[0] as f64 - 0.5 * i[1] as f64)
    });
    let kn = k.mapv(|v| v.conj() * 0.5);
    let scan = GreMreScan {
        sequence: &ScanDescription::of_gre_mre(&seq),
        frequencies_hz: &[50.0, 62.5],
        meg_axes: &[Axis::Z, Axis::X],
        meg_frequency_hz: None,
        field_strength_t: 1.5,
    };
    let d = MrdDataset::from_gre_mre(&scan, &k, Some(&kn)).unwrap();
    (d, k, kn)
}

#[test]
fn gre_mre_round_trip_keeps_header_counters_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.mrd.h5");
    let (d, k, kn) = gre_mre();
    write_mrd(&path, &d, false).unwrap();
    let back = read_mrd(&path).unwrap();
    assert_eq!(back.xml, d.header.to_xml());
    assert_eq!(back.acquisitions, d.acquisitions);
    assert_eq!(back.acquisitions.len(), 2 * 2 * 2 * 3 * 2 * 4);

    // every sample, placed by its counters, is the f32 rounding of the k-space
    let mut max_rel = 0.0f64;
    for a in &back.acquisitions {
        let c = a.head.idx;
        assert_eq!(a.head.number_of_samples, 6);
        assert_eq!(a.head.center_sample, 3);
        let src = if c.set == 0 { &k } else { &kn };
        for x in 0..6 {
            let v = src[[
                c.repetition as usize,
                c.contrast as usize,
                c.phase as usize,
                0,
                c.kspace_encode_step_2 as usize,
                c.kspace_encode_step_1 as usize,
                x,
            ]];
            let s = a.data[[0, x]];
            assert_eq!(s, Complex32::new(v.re as f32, v.im as f32));
            max_rel = max_rel.max((Complex64::new(s.re.into(), s.im.into()) - v).norm() / v.norm());
        }
    }
    assert!(max_rel < 1e-7, "{max_rel}");

    let x: String = back.xml.split_whitespace().collect();
    for needle in [
        "<H1resonanceFrequency_Hz>63866218</H1resonanceFrequency_Hz>",
        "<systemFieldStrength_T>1.5</systemFieldStrength_T>",
        "<matrixSize><x>6</x><y>4</y><z>2</z>",
        "<fieldOfView_mm><x>120</x><y>80</y><z>10</z>",
        "<trajectory>cartesian</trajectory>",
        "<TR>50</TR>",
        "<TE>30</TE>",
        "<name>vibration_frequency_hz_1</name><value>62.5</value>",
        "<name>meg_axis_1</name><value>x</value>",
        "<name>mre_phase_offsets</name><value>3</value>",
    ] {
        assert!(x.contains(needle), "{needle} not in\n{x}");
    }
    let last = back.acquisitions.last().unwrap();
    assert!(last.head.is_flag_set(AcqFlag::LastInMeasurement) && last.head.is_flag_set(AcqFlag::LastInRepetition));
}

#[test]
fn the_file_has_the_ismrmrd_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layout.mrd.h5");
    write_mrd(&path, &gre_mre().0, false).unwrap();
    let f = hdf5::File::open(&path).unwrap();
    let xml = f.dataset("dataset/xml").unwrap();
    assert_eq!(xml.shape(), vec![1]);
    assert_eq!(xml.dtype().unwrap().to_descriptor().unwrap(), hdf5::types::TypeDescriptor::VarLenAscii);
    let data = f.dataset("dataset/data").unwrap();
    let hdf5::types::TypeDescriptor::Compound(rec) = data.dtype().unwrap().to_descriptor().unwrap() else { panic!("not a compound") };
    let names: Vec<&str> = rec.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["head", "traj", "data"]);
    let hdf5::types::TypeDescriptor::Compound(head) = &rec.fields[0].ty else { panic!("head is not a compound") };
    // packed like the C struct (pragma pack 2): 340 bytes, flags right after version
    assert_eq!(head.size, 340);
    let offset = |n: &str| head.fields.iter().find(|f| f.name == n).unwrap().offset;
    assert_eq!((offset("flags"), offset("idx"), offset("user_float")), (2, 242, 308));
    assert!(data.chunk().is_some(), "ismrmrd appends need an extendible dataset");
}

#[test]
fn general_acquisitions_with_trajectory_and_channels_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("radial.mrd.h5");
    let acqs: Vec<Acquisition> = (0..3u16)
        .map(|i| {
            let mut h = AcquisitionHeader { sample_time_us: 2.5, ..Default::default() };
            h.idx.kspace_encode_step_1 = 2 - i;
            h.idx.average = i;
            h.user_int[7] = -7;
            let data = Array2::from_shape_fn((2, 5), |(c, s)| Complex32::new(c as f32, s as f32 + f32::from(i)));
            let traj = Array2::from_shape_fn((5, 2), |(s, d)| s as f32 * 0.1 + d as f32);
            Acquisition::new(h, data, Some(traj))
        })
        .collect();
    let space = EncodingSpace { matrix: [5, 5, 1], fov_mm: [200.0, 200.0, 5.0] };
    let header = MrdHeader {
        h1_resonance_frequency_hz: 123_200_000,
        encodings: vec![Encoding {
            encoded: space,
            recon: space,
            limits: EncodingLimits { average: Some(Limit::count(3, 0)), ..Default::default() },
            trajectory: Trajectory::Radial,
        }],
        user: UserParameters { string: vec![("note".into(), "k < 1 & θ".into())], ..Default::default() },
        ..Default::default()
    };
    let d = MrdDataset { header, acquisitions: acqs };
    write_mrd(&path, &d, false).unwrap();
    let back = read_mrd(&path).unwrap();
    assert_eq!(back.acquisitions, d.acquisitions);
    assert_eq!(back.acquisitions[1].head.trajectory_dimensions, 2);
    assert_eq!(back.acquisitions[1].head.active_channels, 2);
    assert_eq!(back.acquisitions[1].head.channel_mask[0], 0b11);
    assert!(back.xml.contains("<value>k &lt; 1 &amp; &#952;</value>"), "{}", back.xml);
}

#[test]
fn refuses_to_overwrite_and_names_the_file_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.mrd.h5");
    let (d, ..) = gre_mre();
    write_mrd(&path, &d, false).unwrap();
    let before = std::fs::read(&path).unwrap();
    let e = write_mrd(&path, &MrdDataset { acquisitions: d.acquisitions[..1].to_vec(), ..d.clone() }, false).unwrap_err();
    assert!(matches!(e, H5Error::Exists { .. }), "{e}");
    assert!(e.to_string().contains("q.mrd.h5") && e.to_string().contains("--force"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "an existing file is never touched");
    // with force it is replaced
    write_mrd(&path, &MrdDataset { acquisitions: d.acquisitions[..1].to_vec(), ..d.clone() }, true).unwrap();
    assert_eq!(read_mrd(&path).unwrap().acquisitions.len(), 1);

    // a missing directory: the error names the file; nothing is left behind
    let bad = dir.path().join("no/such/dir/x.mrd.h5");
    let e = write_mrd(&bad, &d, false).unwrap_err();
    assert!(e.to_string().contains("no/such/dir/x.mrd.h5"), "{e}");
    // inconsistent header counts are refused before any file exists
    let mut broken = d.clone();
    broken.acquisitions[5].head.number_of_samples = 99;
    let e = write_mrd(&dir.path().join("broken.mrd.h5"), &broken, false).unwrap_err();
    assert!(e.to_string().contains("acquisition 5") && e.to_string().contains("99"), "{e}");
    assert!(!dir.path().join("broken.mrd.h5").exists());
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains("tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // reading something that is not an MRD file
    let e = read_mrd(&dir.path().join("absent.h5")).unwrap_err();
    assert!(e.to_string().contains("absent.h5"), "{e}");
    assert_eq!(mrd_path_for(&dir.path().join("q.h5")), path);
}
