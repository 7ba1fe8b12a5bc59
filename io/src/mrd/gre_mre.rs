//! MRD acquisitions of the built-in Cartesian GRE-MRE sequence
//! ([`GreMre`]): one readout line per (frequency, component, polarity,
//! phase offset, partition, line), in the order the sequence plays them.
//!
//! Counter mapping (see `docs/mrd.md`):
//!
//! | MRE dimension | MRD counter |
//! |---|---|
//! | readout sample kx | sample index (centre `nx/2`) |
//! | phase-encoding line ky | `kspace_encode_step_1` |
//! | partition kz (3-D) | `kspace_encode_step_2` |
//! | mechanical phase offset k (θ_k = 2πk/N) | `phase` |
//! | MEG polarity (0 = +, 1 = −) | `set` |
//! | encoded motion component (MEG axis) | `contrast` |
//! | vibration frequency | `repetition` |
//! | receive coil | channel |

use mre_solver::sequence::{GreMre, Polarities};
use mre_solver::units::{Axis, GAMMA_RAD_PER_S_PER_T};
use ndarray::{ArrayD, Axis as NdAxis};
use num_complex::{Complex32, Complex64};

use super::acquisition::{mark_runs, AcqFlag, Acquisition, AcquisitionHeader};
use super::header::{
    AcquisitionSystem, Encoding, EncodingLimits, EncodingSpace, Limit, MrdHeader, SequenceParameters, Trajectory, UserParameters,
};
use super::{MrdBuildError, MrdDataset};

/// Length of one tick of `acquisition_time_stamp`, s (the 2.5 ms clock of
/// Siemens raw data, which Gadgetron assumes).
pub const TIME_STAMP_TICK_S: f64 = 2.5e-3;

/// The acquisition behind a Cartesian MRE k-space (the built-in GRE-MRE or an
/// imported Pulseq file): what the MRD header and counters need.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanDescription {
    /// Matrix `[nz, ny, nx]`.
    pub matrix: [usize; 3],
    /// Field of view `[z, y, x]`, m.
    pub fov_m: [f64; 3],
    /// Mechanical phase offsets N (θ_k = 2πk/N).
    pub phase_offsets: usize,
    /// Acquired MEG polarities.
    pub polarities: Polarities,
    /// ADC dwell time, s.
    pub readout_dwell_s: f64,
    /// Repetition time, s (for imported files: the median interval between excitations).
    pub tr_s: f64,
    /// Echo time, s (excitation to the k-space centre).
    pub te_s: f64,
    /// Flip angle, degrees.
    pub flip_angle_deg: f64,
    /// TRs before the first acquired line.
    pub dummy_scans: usize,
    /// The built-in sinusoidal MEG: (cycles, amplitude T/m); None for imported files.
    pub sine_meg: Option<(u32, f64)>,
    /// `sequenceParameters/sequence_type`, e.g. `GRE-MRE` or `Pulseq: gre_mre.seq`.
    pub sequence_type: String,
}

impl ScanDescription {
    /// The built-in GRE-MRE `seq`.
    pub fn of_gre_mre(seq: &GreMre) -> Self {
        Self {
            matrix: seq.matrix,
            fov_m: seq.fov_m,
            phase_offsets: seq.phase_offsets,
            polarities: seq.polarities,
            readout_dwell_s: seq.readout_dwell_s,
            tr_s: seq.tr_s,
            te_s: seq.te_s,
            flip_angle_deg: seq.flip_angle_rad.to_degrees(),
            dummy_scans: seq.dummy_scans,
            sine_meg: Some((seq.meg.cycles, seq.meg.amplitude_t_per_m)),
            sequence_type: "GRE-MRE".into(),
        }
    }

    /// Number of shots (polarities × offsets).
    pub fn shots(&self) -> usize {
        self.polarities.count() * self.phase_offsets
    }

    /// Mechanical phase offset θ_k, rad.
    pub fn phase_offset_rad(&self, k: usize) -> f64 {
        2.0 * std::f64::consts::PI * k as f64 / self.phase_offsets as f64
    }
}

/// The scan that produced an MRE k-space: what the MRD header and counters
/// need beyond the samples.
#[derive(Debug, Clone, Copy)]
pub struct GreMreScan<'a> {
    /// The acquisition: TR, TE, flip angle, matrix, field of view, dwell, MEG,
    /// phase offsets, polarities, dummy scans.
    pub sequence: &'a ScanDescription,
    /// Vibration frequencies, Hz (the `repetition` counter indexes them).
    pub frequencies_hz: &'a [f64],
    /// Encoded motion components (the `contrast` counter indexes them).
    pub meg_axes: &'a [Axis],
    /// Fixed MEG frequency, Hz; `None`: the MEG frequency is each vibration frequency.
    pub meg_frequency_hz: Option<f64>,
    /// Main field B0, T (only written to the header; the Bloch simulation runs in the rotating frame).
    pub field_strength_t: f64,
}

impl GreMreScan<'_> {
    /// MEG frequency used at vibration frequency `f_hz`, Hz.
    pub fn meg_frequency_at(&self, f_hz: f64) -> f64 {
        self.meg_frequency_hz.unwrap_or(f_hz)
    }
}

/// `user_int` / `user_float` slots filled per acquisition.
pub mod slots {
    /// `user_float[0]`: vibration frequency, Hz.
    pub const FLOAT_VIBRATION_FREQUENCY_HZ: usize = 0;
    /// `user_float[1]`: MEG frequency, Hz.
    pub const FLOAT_MEG_FREQUENCY_HZ: usize = 1;
    /// `user_float[2]`: mechanical phase offset θ_k, rad.
    pub const FLOAT_PHASE_OFFSET_RAD: usize = 2;
    /// `user_int[0]`: MEG polarity sign, +1 or −1.
    pub const INT_MEG_POLARITY: usize = 0;
    /// `user_int[1]`: MEG axis, 0 = x, 1 = y, 2 = z.
    pub const INT_MEG_AXIS: usize = 1;
}

/// MRD axis number of `a` (x = 0, y = 1, z = 2; ISMRMRD vectors are `[x, y, z]`).
fn xyz(a: Axis) -> i32 {
    2 - a.index() as i32
}

impl MrdDataset {
    /// The MRD dataset of a built-in GRE-MRE simulation: `kspace` (+ polarity)
    /// and `kspace_negative` (− polarity, present exactly when both were
    /// acquired) are mre-data arrays `[nf, ncomp, noffsets, ncoils, nz, ny, nx]`.
    ///
    /// Samples are stored as complex float32 (rounded from f64). Acquisitions
    /// follow the acquisition order: frequency, component, polarity, phase
    /// offset, partition, line (outermost first).
    ///
    /// # Errors
    ///
    /// Shapes that disagree with `scan`, sizes beyond the 16-bit MRD counters,
    /// a non-positive field strength.
    pub fn from_gre_mre(
        scan: &GreMreScan,
        kspace: &ArrayD<Complex64>,
        kspace_negative: Option<&ArrayD<Complex64>>,
    ) -> Result<Self, MrdBuildError> {
        let seq = scan.sequence;
        let err = |m: String| Err(MrdBuildError(m));
        let [nz, ny, nx] = seq.matrix;
        let (nf, nc, noff) = (scan.frequencies_hz.len(), scan.meg_axes.len(), seq.phase_offsets);
        let sh = kspace.shape();
        if sh.len() != 7 || sh[..3] != [nf, nc, noff] || sh[4..] != [nz, ny, nx] {
            return err(format!(
                "k-space has shape {sh:?}, expected [nf, ncomp, noffsets, ncoils, nz, ny, nx] = [{nf}, {nc}, {noff}, ncoils, {nz}, {ny}, {nx}]"
            ));
        }
        let ncoils = sh[3];
        let both = seq.polarities == Polarities::Both;
        match kspace_negative {
            Some(_) if !both => return err("negative-polarity k-space given but the sequence acquires + only".into()),
            Some(kn) if kn.shape() != sh => return err(format!("negative-polarity k-space has shape {:?}, expected {sh:?}", kn.shape())),
            None if both => return err("the sequence acquires both polarities but no negative-polarity k-space was given".into()),
            _ => {}
        }
        let max16 = usize::from(u16::MAX);
        if [nz, ny, nx, nf, nc, noff, ncoils].iter().any(|&n| n == 0 || n > max16) {
            return err(format!(
                "matrix [{nz}, {ny}, {nx}], {nf} frequencies, {nc} components, {noff} offsets, {ncoils} coils: each must be 1 to 65535"
            ));
        }
        if !(scan.field_strength_t > 0.0 && scan.field_strength_t.is_finite()) {
            return err(format!("field strength {} T: expected a positive number of tesla", scan.field_strength_t));
        }

        let npol = seq.polarities.count();
        let trs_per_experiment = seq.dummy_scans + seq.shots() * nz * ny;
        let mut acqs = Vec::with_capacity(nf * nc * npol * noff * nz * ny);
        let mut base = AcquisitionHeader {
            available_channels: ncoils as u16,
            center_sample: (nx / 2) as u16,
            sample_time_us: (seq.readout_dwell_s * 1e6) as f32,
            read_dir: [1.0, 0.0, 0.0],
            phase_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, 1.0],
            ..AcquisitionHeader::default()
        };
        for (fi, &f) in scan.frequencies_hz.iter().enumerate() {
            for (ci, &axis) in scan.meg_axes.iter().enumerate() {
                let experiment = fi * nc + ci;
                for p in 0..npol {
                    let k_src = if p == 0 { kspace } else { kspace_negative.expect("checked above") };
                    for k in 0..noff {
                        let vol = k_src.index_axis(NdAxis(0), fi);
                        let vol = vol.index_axis(NdAxis(0), ci);
                        let vol = vol.index_axis(NdAxis(0), k); // [ncoils, nz, ny, nx]
                        for kz in 0..nz {
                            for ky in 0..ny {
                                let shot = p * noff + k;
                                let tr = seq.dummy_scans + (shot * nz + kz) * ny + ky;
                                let t_s = (experiment * trs_per_experiment + tr) as f64 * seq.tr_s + seq.te_s;
                                let h = &mut base;
                                h.acquisition_time_stamp = (t_s / TIME_STAMP_TICK_S).round().min(f64::from(u32::MAX)) as u32;
                                h.idx.kspace_encode_step_1 = ky as u16;
                                h.idx.kspace_encode_step_2 = kz as u16;
                                h.idx.phase = k as u16;
                                h.idx.set = p as u16;
                                h.idx.contrast = ci as u16;
                                h.idx.repetition = fi as u16;
                                h.user_float[slots::FLOAT_VIBRATION_FREQUENCY_HZ] = f as f32;
                                h.user_float[slots::FLOAT_MEG_FREQUENCY_HZ] = scan.meg_frequency_at(f) as f32;
                                h.user_float[slots::FLOAT_PHASE_OFFSET_RAD] = seq.phase_offset_rad(k) as f32;
                                h.user_int[slots::INT_MEG_POLARITY] = if p == 0 { 1 } else { -1 };
                                h.user_int[slots::INT_MEG_AXIS] = xyz(axis);
                                let data = ndarray::Array2::from_shape_fn((ncoils, nx), |(c, x)| {
                                    let v = vol[[c, kz, ky, x]];
                                    Complex32::new(v.re as f32, v.im as f32)
                                });
                                acqs.push(Acquisition::new(*h, data, None));
                            }
                        }
                    }
                }
            }
        }
        for (i, a) in acqs.iter_mut().enumerate() {
            a.head.scan_counter = (i + 1) as u32;
        }
        mark_loop_boundaries(&mut acqs);

        let space = EncodingSpace {
            matrix: [nx as u16, ny as u16, nz as u16],
            fov_mm: [seq.fov_m[2] * 1e3, seq.fov_m[1] * 1e3, seq.fov_m[0] * 1e3],
        };
        let encoding = Encoding {
            encoded: space,
            recon: space,
            limits: EncodingLimits {
                kspace_encoding_step_0: Some(Limit::count(nx, nx / 2)),
                kspace_encoding_step_1: Some(Limit::count(ny, ny / 2)),
                kspace_encoding_step_2: Some(Limit::count(nz, nz / 2)),
                average: Some(Limit::count(1, 0)),
                slice: Some(Limit::count(1, 0)),
                contrast: Some(Limit::count(nc, 0)),
                phase: Some(Limit::count(noff, 0)),
                repetition: Some(Limit::count(nf, 0)),
                set: Some(Limit::count(npol, 0)),
                segment: Some(Limit::count(1, 0)),
            },
            trajectory: Trajectory::Cartesian,
        };
        let header = MrdHeader {
            system: AcquisitionSystem {
                vendor: Some("mre-sim".into()),
                model: Some("Bloch simulation".into()),
                field_strength_t: Some(scan.field_strength_t),
                receiver_channels: Some(ncoils as u16),
            },
            h1_resonance_frequency_hz: (GAMMA_RAD_PER_S_PER_T / (2.0 * std::f64::consts::PI) * scan.field_strength_t).round() as i64,
            encodings: vec![encoding],
            sequence: SequenceParameters {
                tr_ms: vec![seq.tr_s * 1e3],
                te_ms: vec![seq.te_s * 1e3],
                flip_angle_deg: vec![seq.flip_angle_deg],
                sequence_type: Some(seq.sequence_type.clone()),
            },
            user: user_parameters(scan, ncoils, both),
        };
        Ok(MrdDataset { header, acquisitions: acqs })
    }
}

/// Boundary flags of the loops `repetition > contrast > set > phase > slice > step 2 > step 1`.
fn mark_loop_boundaries(acqs: &mut [Acquisition]) {
    type F = AcqFlag;
    let outer = |c: &super::EncodingCounters| (c.repetition, c.contrast, c.set, c.phase, c.slice);
    mark_runs(acqs, |c| (outer(c), c.kspace_encode_step_2), F::FirstInEncodeStep1, F::LastInEncodeStep1);
    mark_runs(acqs, outer, F::FirstInEncodeStep2, F::LastInEncodeStep2);
    mark_runs(acqs, outer, F::FirstInSlice, F::LastInSlice);
    mark_runs(acqs, |c| (c.repetition, c.contrast, c.set, c.phase), F::FirstInPhase, F::LastInPhase);
    mark_runs(acqs, |c| (c.repetition, c.contrast, c.set), F::FirstInSet, F::LastInSet);
    mark_runs(acqs, |c| (c.repetition, c.contrast), F::FirstInContrast, F::LastInContrast);
    mark_runs(acqs, |c| c.repetition, F::FirstInRepetition, F::LastInRepetition);
    if let Some(a) = acqs.last_mut() {
        a.head.set_flag(F::LastInMeasurement);
    }
}

/// The `<userParameters>` describing the MRE dimensions.
fn user_parameters(scan: &GreMreScan, ncoils: usize, both: bool) -> UserParameters {
    let seq = scan.sequence;
    let mut u = UserParameters::default();
    let n = |v: usize| v as i64;
    u.long = vec![
        ("mre_vibration_frequencies".into(), n(scan.frequencies_hz.len())),
        ("mre_components".into(), n(scan.meg_axes.len())),
        ("mre_phase_offsets".into(), n(seq.phase_offsets)),
        ("mre_polarities".into(), n(seq.polarities.count())),
        ("mre_coils".into(), n(ncoils)),
        ("dummy_scans".into(), n(seq.dummy_scans)),
    ];
    if let Some((cycles, _)) = seq.sine_meg {
        u.long.push(("meg_cycles".into(), i64::from(cycles)));
    }
    for (i, &f) in scan.frequencies_hz.iter().enumerate() {
        u.double.push((format!("vibration_frequency_hz_{i}"), f));
    }
    for (i, &f) in scan.frequencies_hz.iter().enumerate() {
        u.double.push((format!("meg_frequency_hz_{i}"), scan.meg_frequency_at(f)));
    }
    for k in 0..seq.phase_offsets {
        u.double.push((format!("phase_offset_rad_{k}"), seq.phase_offset_rad(k)));
    }
    if let Some((_, amplitude)) = seq.sine_meg {
        u.double.push(("meg_amplitude_t_per_m".to_string(), amplitude));
    }
    u.double
        .extend([("readout_dwell_s".to_string(), seq.readout_dwell_s), ("acquisition_time_stamp_tick_s".to_string(), TIME_STAMP_TICK_S)]);
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    u.string = vec![
        s("mre_counter_repetition", "vibration frequency index i (vibration_frequency_hz_i, meg_frequency_hz_i)"),
        s("mre_counter_contrast", "encoded motion component index c (meg_axis_c)"),
        s("mre_counter_set", "MEG polarity: 0 = +, 1 = - (meg_polarity_p)"),
        s("mre_counter_phase", "mechanical phase offset index k: theta_k = 2 pi k / N (phase_offset_rad_k)"),
        s("mre_counter_kspace_encode_step_1", "phase-encoding line ky (along y); k = 0 at center"),
        s("mre_counter_kspace_encode_step_2", "partition kz (along z); k = 0 at center"),
        s("mre_readout", "along x, sample index kx, k = 0 at center_sample = nx/2"),
        s("mre_image_reconstruction", "centred inverse FFT over (kz, ky, kx): fftshift(ifftn(ifftshift(k))), normalised by 1/N per axis"),
    ];
    if both {
        u.string.push(s("mre_polarity_combination", "image = I(set 0) * conj(I(set 1)) / |I(set 1)| (0 where I(set 1) = 0)"));
    }
    for (c, a) in scan.meg_axes.iter().enumerate() {
        u.string.push((format!("meg_axis_{c}"), a.name().to_string()));
    }
    for (p, sign) in ["+", "-"].iter().take(seq.polarities.count()).enumerate() {
        u.string.push((format!("meg_polarity_{p}"), sign.to_string()));
    }
    u.string.extend([
        s("user_float", "[0] vibration frequency Hz, [1] MEG frequency Hz, [2] mechanical phase offset rad"),
        s("user_int", "[0] MEG polarity sign (+1 or -1), [1] MEG axis (0 = x, 1 = y, 2 = z)"),
        s(
            "acquisition_time_stamp",
            "ticks of acquisition_time_stamp_tick_s from the start of the first experiment; experiments (frequency, component) run one after another",
        ),
        s("directions", "read_dir, phase_dir, slice_dir and position are in the simulator frame (x, y, z), position in mm"),
        ("mre_tool".into(), format!("mre-sim {}", env!("CARGO_PKG_VERSION"))),
    ]);
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Dimension, IxDyn};

    #[test]
    fn counters_flags_and_samples_follow_the_acquisition_order() {
        let mut seq = GreMre::example_for_tests();
        seq.matrix = [2, 3, 4];
        seq.fov_m = [0.01, 0.06, 0.08];
        seq.phase_offsets = 3;
        let shape = IxDyn(&[2, 1, 3, 1, 2, 3, 4]);
        let k = ArrayD::from_shape_fn(shape, |i| {
            Complex64::new(i.as_array_view().iter().enumerate().map(|(a, v)| v * 10usize.pow(a as u32)).sum::<usize>() as f64, i[0] as f64)
        });
        let kn = k.mapv(|v| -v);
        let scan = GreMreScan {
            sequence: &ScanDescription::of_gre_mre(&seq),
            frequencies_hz: &[50.0, 60.0],
            meg_axes: &[Axis::Y],
            meg_frequency_hz: None,
            field_strength_t: 3.0,
        };
        let d = MrdDataset::from_gre_mre(&scan, &k, Some(&kn)).unwrap();
        assert_eq!(d.acquisitions.len(), 2 * 2 * 3 * 2 * 3);
        assert_eq!(d.header.h1_resonance_frequency_hz, 127_732_436);
        for a in &d.acquisitions {
            let c = a.head.idx;
            let src = if c.set == 0 { &k } else { &kn };
            for x in 0..4 {
                let v = src[[
                    c.repetition as usize,
                    c.contrast as usize,
                    c.phase as usize,
                    0,
                    c.kspace_encode_step_2 as usize,
                    c.kspace_encode_step_1 as usize,
                    x,
                ]];
                assert_eq!(a.data[[0, x]], Complex32::new(v.re as f32, v.im as f32));
            }
            assert_eq!(a.head.user_int[slots::INT_MEG_AXIS], 1);
        }
        let count = |f: AcqFlag| d.acquisitions.iter().filter(|a| a.head.is_flag_set(f)).count();
        assert_eq!(count(AcqFlag::LastInEncodeStep1), 2 * 2 * 3 * 2); // one per partition
        assert_eq!(count(AcqFlag::LastInSlice), 2 * 2 * 3); // one per volume
        assert_eq!(count(AcqFlag::FirstInSet), 2 * 2);
        assert_eq!(count(AcqFlag::LastInRepetition), 2);
        assert_eq!(count(AcqFlag::LastInMeasurement), 1);
        assert!(d.acquisitions.last().unwrap().head.is_flag_set(AcqFlag::LastInMeasurement));
        // time stamps increase by one TR per line
        let t: Vec<u32> = d.acquisitions.iter().map(|a| a.head.acquisition_time_stamp).collect();
        assert!(t.windows(2).all(|w| w[1] > w[0]));
        assert!(d.header.problem().is_none());

        let wrong = GreMreScan { frequencies_hz: &[50.0], ..scan };
        assert!(MrdDataset::from_gre_mre(&wrong, &k, Some(&kn)).unwrap_err().to_string().contains("shape"));
        assert!(MrdDataset::from_gre_mre(&scan, &k, None).unwrap_err().to_string().contains("negative"));
    }
}
