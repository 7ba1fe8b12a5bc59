//! One MRD acquisition (a readout line): the ISMRMRD `AcquisitionHeader`,
//! complex samples per channel and an optional trajectory.
//!
//! [`AcquisitionHeader`] and [`EncodingCounters`] mirror the ISMRMRD C
//! structures field by field, in the same order and with the same integer and
//! float widths, so that their HDF5 compound types (written packed, as the C
//! library's `#pragma pack(2)` structs are) are the ones `ismrmrd-python`
//! reads with `numpy.frombuffer`.

use hdf5::H5Type;
use ndarray::Array2;
use num_complex::Complex32;

/// Number of `user` encoding counters, `user_int` and `user_float` entries.
pub const USER_SLOTS: usize = 8;
/// Number of 64-bit words of the channel mask (1024 channels).
pub const CHANNEL_MASK_WORDS: usize = 16;
/// `AcquisitionHeader::version` written by this module (ISMRMRD major version).
pub const ACQUISITION_HEADER_VERSION: u16 = 1;

/// Loop counters of one acquisition (ISMRMRD `EncodingCounters`).
#[derive(H5Type, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct EncodingCounters {
    /// Phase-encoding line (ky index).
    pub kspace_encode_step_1: u16,
    /// Partition (kz index) of a 3-D encoding.
    pub kspace_encode_step_2: u16,
    /// Signal average.
    pub average: u16,
    /// Imaging slice (2-D multi-slice).
    pub slice: u16,
    /// Echo / contrast.
    pub contrast: u16,
    /// (Cardiac) phase, i.e. time point in a periodic cycle.
    pub phase: u16,
    /// Repetition.
    pub repetition: u16,
    /// Set (e.g. flow- or motion-encoding polarity).
    pub set: u16,
    /// Segment of a segmented acquisition.
    pub segment: u16,
    /// Free counters.
    pub user: [u16; USER_SLOTS],
}

/// The ISMRMRD acquisition header of one readout.
///
/// `number_of_samples`, `active_channels` and `trajectory_dimensions` must
/// agree with the sample and trajectory arrays; [`Acquisition::new`] sets
/// them. Spatial fields are in the scanner's patient frame, positions in mm.
#[derive(H5Type, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct AcquisitionHeader {
    /// Header version ([`ACQUISITION_HEADER_VERSION`]).
    pub version: u16,
    /// Bit field of [`AcqFlag`]s (bit `flag - 1`).
    pub flags: u64,
    /// Unique ID of the measurement.
    pub measurement_uid: u32,
    /// Running number of the acquisition in the measurement.
    pub scan_counter: u32,
    /// Acquisition clock (mre-sim: ticks of 2.5 ms, as Siemens and Gadgetron use).
    pub acquisition_time_stamp: u32,
    /// Physiology clocks (ECG, pulse, respiration).
    pub physiology_time_stamp: [u32; 3],
    /// Samples per channel.
    pub number_of_samples: u16,
    /// Receiver channels of the system.
    pub available_channels: u16,
    /// Channels stored in this acquisition.
    pub active_channels: u16,
    /// Which channels are active (bit `c % 64` of word `c / 64`).
    pub channel_mask: [u64; CHANNEL_MASK_WORDS],
    /// Samples to drop at the start of the readout.
    pub discard_pre: u16,
    /// Samples to drop at the end of the readout.
    pub discard_post: u16,
    /// Sample index of k = 0 along the readout.
    pub center_sample: u16,
    /// Index of the `<encoding>` of the XML header this acquisition belongs to.
    pub encoding_space_ref: u16,
    /// Trajectory values per sample (0 for Cartesian data).
    pub trajectory_dimensions: u16,
    /// Dwell time, µs.
    pub sample_time_us: f32,
    /// Centre of the encoded volume, mm.
    pub position: [f32; 3],
    /// Unit readout direction.
    pub read_dir: [f32; 3],
    /// Unit phase-encoding direction.
    pub phase_dir: [f32; 3],
    /// Unit slice (partition) direction.
    pub slice_dir: [f32; 3],
    /// Table position, mm.
    pub patient_table_position: [f32; 3],
    /// Loop counters.
    pub idx: EncodingCounters,
    /// Free integers.
    pub user_int: [i32; USER_SLOTS],
    /// Free floats.
    pub user_float: [f32; USER_SLOTS],
}

impl Default for AcquisitionHeader {
    fn default() -> Self {
        Self {
            version: ACQUISITION_HEADER_VERSION,
            flags: 0,
            measurement_uid: 0,
            scan_counter: 0,
            acquisition_time_stamp: 0,
            physiology_time_stamp: [0; 3],
            number_of_samples: 0,
            available_channels: 0,
            active_channels: 0,
            channel_mask: [0; CHANNEL_MASK_WORDS],
            discard_pre: 0,
            discard_post: 0,
            center_sample: 0,
            encoding_space_ref: 0,
            trajectory_dimensions: 0,
            sample_time_us: 0.0,
            position: [0.0; 3],
            read_dir: [0.0; 3],
            phase_dir: [0.0; 3],
            slice_dir: [0.0; 3],
            patient_table_position: [0.0; 3],
            idx: EncodingCounters::default(),
            user_int: [0; USER_SLOTS],
            user_float: [0.0; USER_SLOTS],
        }
    }
}

/// ISMRMRD acquisition flags; the value is the 1-based bit number
/// (`flags & (1 << (flag - 1))`), as in `ismrmrd.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum AcqFlag {
    FirstInEncodeStep1 = 1,
    LastInEncodeStep1 = 2,
    FirstInEncodeStep2 = 3,
    LastInEncodeStep2 = 4,
    FirstInAverage = 5,
    LastInAverage = 6,
    FirstInSlice = 7,
    LastInSlice = 8,
    FirstInContrast = 9,
    LastInContrast = 10,
    FirstInPhase = 11,
    LastInPhase = 12,
    FirstInRepetition = 13,
    LastInRepetition = 14,
    FirstInSet = 15,
    LastInSet = 16,
    FirstInSegment = 17,
    LastInSegment = 18,
    IsNoiseMeasurement = 19,
    IsParallelCalibration = 20,
    IsParallelCalibrationAndImaging = 21,
    IsReverse = 22,
    IsNavigationData = 23,
    IsPhasecorrData = 24,
    LastInMeasurement = 25,
    IsHpfeedbackData = 26,
    IsDummyscanData = 27,
    IsRtfeedbackData = 28,
    IsSurfacecoilcorrectionscanData = 29,
    IsPhaseStabilizationReference = 30,
    IsPhaseStabilization = 31,
}

impl AcqFlag {
    /// The flag's bit in [`AcquisitionHeader::flags`].
    pub fn bit(self) -> u64 {
        1u64 << (self as u8 - 1)
    }
}

impl AcquisitionHeader {
    /// Sets `flag`.
    pub fn set_flag(&mut self, flag: AcqFlag) {
        self.flags |= flag.bit();
    }

    /// Whether `flag` is set.
    pub fn is_flag_set(&self, flag: AcqFlag) -> bool {
        self.flags & flag.bit() != 0
    }

    /// Marks channels `0..n` active in `channel_mask`.
    pub fn set_channels_active(&mut self, n: usize) {
        self.channel_mask = [0; CHANNEL_MASK_WORDS];
        for c in 0..n.min(64 * CHANNEL_MASK_WORDS) {
            self.channel_mask[c / 64] |= 1u64 << (c % 64);
        }
    }
}

/// One readout: header, samples `[channels, samples]` and trajectory
/// `[samples, trajectory_dimensions]` (`[samples, 0]` for Cartesian data).
#[derive(Clone, Debug, PartialEq)]
pub struct Acquisition {
    /// The header; its sample, channel and trajectory counts match the arrays.
    pub head: AcquisitionHeader,
    /// Complex samples `[channels, samples]` (arbitrary units).
    pub data: Array2<Complex32>,
    /// k-space trajectory `[samples, dims]` (ISMRMRD leaves its units to the sequence).
    pub traj: Array2<f32>,
}

impl Acquisition {
    /// An acquisition of `data` `[channels, samples]` with optional trajectory
    /// `[samples, dims]`; fills `number_of_samples`, `active_channels`,
    /// `available_channels` (when 0), `channel_mask` and
    /// `trajectory_dimensions` of `head`. Sizes above `u16::MAX` are checked
    /// by the writer.
    pub fn new(mut head: AcquisitionHeader, data: Array2<Complex32>, traj: Option<Array2<f32>>) -> Self {
        let (channels, samples) = data.dim();
        let traj = traj.unwrap_or_else(|| Array2::zeros((samples, 0)));
        head.number_of_samples = clamp_u16(samples);
        head.active_channels = clamp_u16(channels);
        if head.available_channels == 0 {
            head.available_channels = head.active_channels;
        }
        head.set_channels_active(channels);
        head.trajectory_dimensions = clamp_u16(traj.ncols());
        Self { head, data, traj }
    }

    /// Why the header counts disagree with the arrays, if they do.
    pub fn inconsistency(&self) -> Option<String> {
        let (channels, samples) = self.data.dim();
        let h = &self.head;
        if channels > usize::from(u16::MAX) || samples > usize::from(u16::MAX) || self.traj.ncols() > usize::from(u16::MAX) {
            return Some(format!(
                "has {channels} channels × {samples} samples × {} trajectory values; at most 65535 each",
                self.traj.ncols()
            ));
        }
        if usize::from(h.number_of_samples) != samples || usize::from(h.active_channels) != channels {
            return Some(format!(
                "header says {} channels × {} samples but the data are [{channels}, {samples}]",
                h.active_channels, h.number_of_samples
            ));
        }
        if usize::from(h.trajectory_dimensions) != self.traj.ncols() || (self.traj.ncols() > 0 && self.traj.nrows() != samples) {
            return Some(format!(
                "header says {} trajectory dimensions but the trajectory is {:?} for {samples} samples",
                h.trajectory_dimensions,
                self.traj.dim()
            ));
        }
        None
    }
}

fn clamp_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Sets `first` on every acquisition whose `key` differs from the previous
/// acquisition's (and on the first one), and `last` on every acquisition
/// whose `key` differs from the next one's (and on the last one): the
/// ISMRMRD boundary flags of the runs of equal keys in acquisition order.
///
/// For `FIRST/LAST_IN_ENCODE_STEP1` the key is every counter except
/// `kspace_encode_step_1` (the first and last line of each partition); for
/// `FIRST/LAST_IN_SET` it is `set` and the counters of the loops outside it.
pub fn mark_runs<K: PartialEq>(acqs: &mut [Acquisition], key: impl Fn(&EncodingCounters) -> K, first: AcqFlag, last: AcqFlag) {
    let keys: Vec<K> = acqs.iter().map(|a| key(&a.head.idx)).collect();
    let n = keys.len();
    for (i, a) in acqs.iter_mut().enumerate() {
        if i == 0 || keys[i - 1] != keys[i] {
            a.head.set_flag(first);
        }
        if i + 1 == n || keys[i + 1] != keys[i] {
            a.head.set_flag(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_bits_follow_ismrmrd_numbering() {
        assert_eq!(AcqFlag::FirstInEncodeStep1.bit(), 1);
        assert_eq!(AcqFlag::LastInMeasurement.bit(), 1 << 24);
        let mut h = AcquisitionHeader::default();
        h.set_flag(AcqFlag::LastInSlice);
        assert!(h.is_flag_set(AcqFlag::LastInSlice) && !h.is_flag_set(AcqFlag::FirstInSlice));
        assert_eq!(h.flags, 1 << 7);
    }

    #[test]
    fn header_type_has_the_ismrmrd_packed_size() {
        // sizeof(ISMRMRD_AcquisitionHeader) with #pragma pack(2) is 340 bytes.
        let hdf5::types::TypeDescriptor::Compound(c) = AcquisitionHeader::type_descriptor().to_packed_repr() else { panic!() };
        assert_eq!(c.size, 340);
        let names: Vec<&str> = c.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names[..3], ["version", "flags", "measurement_uid"]);
        assert_eq!(c.fields[1].offset, 2);
        assert_eq!(*names.last().unwrap(), "user_float");
    }

    #[test]
    fn runs_get_first_and_last_flags() {
        let mut acqs: Vec<Acquisition> = (0..6u16)
            .map(|i| {
                let mut h = AcquisitionHeader::default();
                h.idx.kspace_encode_step_1 = i % 3;
                h.idx.set = i / 3;
                Acquisition::new(h, Array2::zeros((1, 4)), None)
            })
            .collect();
        mark_runs(&mut acqs, |c| c.set, AcqFlag::FirstInSet, AcqFlag::LastInSet);
        let first: Vec<bool> = acqs.iter().map(|a| a.head.is_flag_set(AcqFlag::FirstInSet)).collect();
        let last: Vec<bool> = acqs.iter().map(|a| a.head.is_flag_set(AcqFlag::LastInSet)).collect();
        assert_eq!(first, [true, false, false, true, false, false]);
        assert_eq!(last, [false, false, true, false, false, true]);
        assert_eq!(acqs[0].head.number_of_samples, 4);
        assert_eq!(acqs[0].head.channel_mask[0], 1);
        assert!(acqs[0].inconsistency().is_none());
    }
}
