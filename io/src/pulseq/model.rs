//! The in-memory form of a Pulseq file.
//!
//! Event fields keep the units of the file (µs, ns, Hz, Hz/m, rad), named in
//! every field, so that reading and writing a file is exact; the methods ending
//! in `_s` give seconds. Event ids are the file's ids; 0 means "none".

use std::collections::BTreeMap;
use std::fmt;

use super::labels::LabelSpec;
use super::shapes::Shape;

/// Pulseq file format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Revision (a suffix such as `post1` is dropped).
    pub revision: u32,
}

impl Version {
    /// The version the writer produces.
    pub const WRITTEN: Version = Version { major: 1, minor: 5, revision: 0 };

    /// True for the versions this reader supports (1.4.x and 1.5.x).
    pub fn is_supported(self) -> bool {
        self.major == 1 && (self.minor == 4 || self.minor == 5)
    }

    /// True from format 1.5.0 on (RF centre/use, gradient first/last, ppm offsets).
    pub fn is_v15(self) -> bool {
        (self.major, self.minor) >= (1, 5)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)
    }
}

/// Raster times from `[DEFINITIONS]`, s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rasters {
    /// `GradientRasterTime`, s.
    pub gradient_s: f64,
    /// `RadiofrequencyRasterTime`, s.
    pub rf_s: f64,
    /// `AdcRasterTime`, s.
    pub adc_s: f64,
    /// `BlockDurationRaster`, s.
    pub block_s: f64,
}

impl Default for Rasters {
    /// pypulseq's defaults: 10 µs, 1 µs, 100 ns, 10 µs.
    fn default() -> Self {
        Rasters { gradient_s: 10e-6, rf_s: 1e-6, adc_s: 100e-9, block_s: 10e-6 }
    }
}

/// One row of `[BLOCKS]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Block id.
    pub id: u32,
    /// Duration in units of `BlockDurationRaster`.
    pub duration: u64,
    /// RF event id (0: none).
    pub rf: u32,
    /// Gradient event ids on the x, y, z channels (0: none).
    pub gradients: [u32; 3],
    /// ADC event id (0: none).
    pub adc: u32,
    /// Head of the extension list in `[EXTENSIONS]` (0: none).
    pub ext: u32,
}

impl Block {
    /// The row as written: `[id, duration, rf, gx, gy, gz, adc, ext]`.
    pub fn row(&self) -> [u64; 8] {
        let [gx, gy, gz] = self.gradients;
        [u64::from(self.id), self.duration, self.rf.into(), gx.into(), gy.into(), gz.into(), self.adc.into(), self.ext.into()]
    }
}

/// Intended use of an RF pulse (1.5 `use` field; inferred for older files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum RfUse {
    Excitation,
    Refocusing,
    Inversion,
    Saturation,
    Preparation,
    Other,
    Undefined,
}

impl RfUse {
    /// The one-letter code of the file.
    pub fn code(self) -> char {
        match self {
            RfUse::Excitation => 'e',
            RfUse::Refocusing => 'r',
            RfUse::Inversion => 'i',
            RfUse::Saturation => 's',
            RfUse::Preparation => 'p',
            RfUse::Other => 'o',
            RfUse::Undefined => 'u',
        }
    }

    /// Parse the one-letter code.
    pub fn from_code(s: &str) -> Option<RfUse> {
        Some(match s {
            "e" => RfUse::Excitation,
            "r" => RfUse::Refocusing,
            "i" => RfUse::Inversion,
            "s" => RfUse::Saturation,
            "p" => RfUse::Preparation,
            "o" => RfUse::Other,
            "u" => RfUse::Undefined,
            _ => return None,
        })
    }
}

/// One row of `[RF]`. The pulse is `amplitude · mag(t) · exp(i 2π phase(t))`.
#[derive(Debug, Clone, PartialEq)]
pub struct RfEvent {
    /// Peak B1 amplitude, Hz (B1 in T times γ/2π).
    pub amplitude_hz: f64,
    /// Magnitude shape id (samples scaled by the amplitude).
    pub magnitude_shape: u32,
    /// Phase shape id (samples in cycles).
    pub phase_shape: u32,
    /// Time shape id (samples in RF rasters); 0: samples at raster centres.
    pub time_shape: u32,
    /// Time of the effective rotation from the start of the shape, µs.
    pub center_us: f64,
    /// Delay from the block start, µs.
    pub delay_us: f64,
    /// Frequency offset relative to the Larmor frequency, ppm.
    pub freq_ppm: f64,
    /// Phase offset proportional to the Larmor frequency, rad/MHz.
    pub phase_ppm: f64,
    /// Frequency offset, Hz.
    pub freq_offset_hz: f64,
    /// Phase offset, rad.
    pub phase_offset_rad: f64,
    /// Intended use.
    pub rf_use: RfUse,
}

impl RfEvent {
    /// Delay, s.
    pub fn delay_s(&self) -> f64 {
        self.delay_us * 1e-6
    }
    /// Centre from the start of the shape, s.
    pub fn center_s(&self) -> f64 {
        self.center_us * 1e-6
    }
}

/// A trapezoid (`[TRAP]`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrapGradient {
    /// Flat-top amplitude, Hz/m.
    pub amplitude_hz_per_m: f64,
    /// Ramp-up time, µs.
    pub rise_us: f64,
    /// Flat-top time, µs.
    pub flat_us: f64,
    /// Ramp-down time, µs.
    pub fall_us: f64,
    /// Delay from the block start, µs.
    pub delay_us: f64,
}

/// Time grid of an arbitrary gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradTiming {
    /// Samples at gradient raster centres (`time_shape_id` 0).
    RasterCenters,
    /// Samples every half raster from half a raster on (`time_shape_id` -1).
    Oversampled,
    /// Sample times from a time shape (in gradient rasters), e.g. extended trapezoids.
    Shape(u32),
}

impl GradTiming {
    /// The `time_shape_id` column.
    pub fn id(self) -> i64 {
        match self {
            GradTiming::RasterCenters => 0,
            GradTiming::Oversampled => -1,
            GradTiming::Shape(id) => i64::from(id),
        }
    }
}

/// An arbitrary or extended-trapezoid gradient (`[GRADIENTS]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ArbitraryGradient {
    /// Amplitude scaling the shape, Hz/m.
    pub amplitude_hz_per_m: f64,
    /// Value at the start of the gradient, Hz/m (inferred as pypulseq does before 1.5).
    pub first_hz_per_m: f64,
    /// Value at the end of the gradient, Hz/m (inferred as pypulseq does before 1.5).
    pub last_hz_per_m: f64,
    /// Amplitude shape id.
    pub shape: u32,
    /// Time grid.
    pub timing: GradTiming,
    /// Delay from the block start, µs.
    pub delay_us: f64,
}

/// A gradient event.
#[derive(Debug, Clone, PartialEq)]
pub enum GradEvent {
    /// `[TRAP]` row.
    Trap(TrapGradient),
    /// `[GRADIENTS]` row.
    Arbitrary(ArbitraryGradient),
}

impl GradEvent {
    /// Delay from the block start, µs.
    pub fn delay_us(&self) -> f64 {
        match self {
            GradEvent::Trap(t) => t.delay_us,
            GradEvent::Arbitrary(a) => a.delay_us,
        }
    }
}

/// One row of `[ADC]`. Sample `i` is taken at `delay + (i + ½)·dwell`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdcEvent {
    /// Number of samples.
    pub num_samples: u32,
    /// Dwell time, ns.
    pub dwell_ns: f64,
    /// Delay from the block start, µs.
    pub delay_us: f64,
    /// Frequency offset relative to the Larmor frequency, ppm.
    pub freq_ppm: f64,
    /// Phase offset proportional to the Larmor frequency, rad/MHz.
    pub phase_ppm: f64,
    /// Frequency offset, Hz.
    pub freq_offset_hz: f64,
    /// Phase offset, rad.
    pub phase_offset_rad: f64,
    /// Phase modulation shape id (rad per sample; 0: none).
    pub phase_shape: u32,
}

impl AdcEvent {
    /// Dwell, s.
    pub fn dwell_s(&self) -> f64 {
        self.dwell_ns * 1e-9
    }
    /// Delay, s.
    pub fn delay_s(&self) -> f64 {
        self.delay_us * 1e-6
    }
}

/// One row of `[EXTENSIONS]`: an element of a block's extension list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionLink {
    /// Extension type id (as declared by `extension NAME ID`).
    pub type_id: u32,
    /// Row id in that extension's specification.
    pub ref_id: u32,
    /// Next element (0 ends the list).
    pub next: u32,
}

/// One row of `extension TRIGGERS`.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerSpec {
    /// 1: digital output, 2: input trigger (wait).
    pub kind: u32,
    /// Channel code: output 1 osc0, 2 osc1, 3 ext1; input 1 physio1, 2 physio2.
    pub channel: u32,
    /// Delay from the block start, µs.
    pub delay_us: f64,
    /// Duration, µs.
    pub duration_us: f64,
}

impl TriggerSpec {
    /// Channel name as pypulseq spells it (`osc0`, `ext1`, `physio1`, …), if known.
    pub fn channel_name(&self) -> Option<&'static str> {
        match (self.kind, self.channel) {
            (1, 1) => Some("osc0"),
            (1, 2) => Some("osc1"),
            (1, 3) => Some("ext1"),
            (2, 1) => Some("physio1"),
            (2, 2) => Some("physio2"),
            _ => None,
        }
    }
}

/// The rows of one extension specification, with its declared type id.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionSpecs<T> {
    /// Type id (`extension NAME ID`).
    pub type_id: u32,
    /// Rows by id, in id order.
    pub rows: BTreeMap<u32, T>,
}

/// An extension the reader does not interpret, kept verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct RawExtension {
    /// Name (`extension NAME ID`).
    pub name: String,
    /// Type id.
    pub type_id: u32,
    /// Data rows, whitespace-trimmed.
    pub rows: Vec<String>,
}

/// A whole Pulseq sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct PulseqSequence {
    /// Format version of the source (the writer always writes [`Version::WRITTEN`]).
    pub version: Version,
    /// `[DEFINITIONS]`: key and raw value text, in file order.
    pub definitions: Vec<(String, String)>,
    /// `[BLOCKS]`, in file (playout) order.
    pub blocks: Vec<Block>,
    /// `[RF]` by id.
    pub rf: BTreeMap<u32, RfEvent>,
    /// `[GRADIENTS]` and `[TRAP]` by id (one id space).
    pub gradients: BTreeMap<u32, GradEvent>,
    /// `[ADC]` by id.
    pub adc: BTreeMap<u32, AdcEvent>,
    /// `[SHAPES]` by id.
    pub shapes: BTreeMap<u32, Shape>,
    /// `[EXTENSIONS]` by id.
    pub extension_list: BTreeMap<u32, ExtensionLink>,
    /// `extension TRIGGERS`.
    pub triggers: Option<ExtensionSpecs<TriggerSpec>>,
    /// `extension LABELSET`.
    pub label_set: Option<ExtensionSpecs<LabelSpec>>,
    /// `extension LABELINC`.
    pub label_inc: Option<ExtensionSpecs<LabelSpec>>,
    /// Other extensions, kept verbatim.
    pub other_extensions: Vec<RawExtension>,
}

/// What one element of a block's extension list refers to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExtensionRef<'a> {
    /// A trigger row.
    Trigger(&'a TriggerSpec),
    /// A LABELSET row.
    LabelSet(&'a LabelSpec),
    /// A LABELINC row.
    LabelInc(&'a LabelSpec),
    /// A row of an uninterpreted extension (name, row id).
    Other(&'a str, u32),
}

impl PulseqSequence {
    /// Raw value text of a definition.
    pub fn definition(&self, key: &str) -> Option<&str> {
        self.definitions.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A definition parsed as whitespace-separated numbers (`None` if absent or not numeric).
    pub fn definition_numbers(&self, key: &str) -> Option<Vec<f64>> {
        self.definition(key)?.split_whitespace().map(|t| t.parse::<f64>().ok()).collect()
    }

    /// Set (or add at the end) a definition.
    pub fn set_definition(&mut self, key: &str, value: &str) {
        match self.definitions.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_string(),
            None => self.definitions.push((key.to_string(), value.to_string())),
        }
    }

    /// Raster times from the definitions, pypulseq's defaults where absent.
    pub fn rasters(&self) -> Rasters {
        let d = Rasters::default();
        let get = |key: &str, default: f64| match self.definition_numbers(key).as_deref() {
            Some([v]) if *v > 0.0 && v.is_finite() => *v,
            _ => default,
        };
        Rasters {
            gradient_s: get("GradientRasterTime", d.gradient_s),
            rf_s: get("RadiofrequencyRasterTime", d.rf_s),
            adc_s: get("AdcRasterTime", d.adc_s),
            block_s: get("BlockDurationRaster", d.block_s),
        }
    }

    /// Start time of every block, s, and the total duration, s (exact sums of raster counts).
    pub fn block_starts_s(&self) -> (Vec<f64>, f64) {
        let raster = self.rasters().block_s;
        let mut count: u64 = 0;
        let starts = self
            .blocks
            .iter()
            .map(|b| {
                let t = count as f64 * raster;
                count = count.saturating_add(b.duration);
                t
            })
            .collect();
        (starts, count as f64 * raster)
    }

    /// Total duration, s.
    pub fn duration_s(&self) -> f64 {
        self.block_starts_s().1
    }

    /// The block table, rows `[id, duration (block rasters), rf, gx, gy, gz, adc, ext]`.
    pub fn block_table(&self) -> Vec<[u64; 8]> {
        self.blocks.iter().map(Block::row).collect()
    }

    /// Number of ADC samples of the whole sequence.
    pub fn adc_sample_count(&self) -> u64 {
        self.blocks.iter().filter_map(|b| self.adc.get(&b.adc)).map(|a| u64::from(a.num_samples)).sum()
    }

    /// Name of an extension type id.
    pub fn extension_name(&self, type_id: u32) -> Option<&str> {
        let known = [
            ("TRIGGERS", self.triggers.as_ref().map(|s| s.type_id)),
            ("LABELSET", self.label_set.as_ref().map(|s| s.type_id)),
            ("LABELINC", self.label_inc.as_ref().map(|s| s.type_id)),
        ];
        known
            .into_iter()
            .find(|(_, id)| *id == Some(type_id))
            .map(|(n, _)| n)
            .or_else(|| self.other_extensions.iter().find(|e| e.type_id == type_id).map(|e| e.name.as_str()))
    }

    /// The extensions of a block in the order pypulseq applies them (the
    /// reverse of the linked list), or a message naming what is missing.
    pub fn block_extensions(&self, block: &Block) -> Result<Vec<ExtensionRef<'_>>, String> {
        let mut out = Vec::new();
        let mut next = block.ext;
        while next != 0 {
            if out.len() > self.extension_list.len() {
                return Err(format!("extension list starting at {} loops", block.ext));
            }
            let link = self.extension_list.get(&next).ok_or_else(|| format!("extension list entry {next} is not in [EXTENSIONS]"))?;
            out.push(self.resolve_extension(link)?);
            next = link.next;
        }
        out.reverse();
        Ok(out)
    }

    pub(crate) fn resolve_extension(&self, link: &ExtensionLink) -> Result<ExtensionRef<'_>, String> {
        let missing = |name: &str| format!("extension {name} has no row {}", link.ref_id);
        if let Some(t) = self.triggers.as_ref().filter(|s| s.type_id == link.type_id) {
            return t.rows.get(&link.ref_id).map(ExtensionRef::Trigger).ok_or_else(|| missing("TRIGGERS"));
        }
        if let Some(t) = self.label_set.as_ref().filter(|s| s.type_id == link.type_id) {
            return t.rows.get(&link.ref_id).map(ExtensionRef::LabelSet).ok_or_else(|| missing("LABELSET"));
        }
        if let Some(t) = self.label_inc.as_ref().filter(|s| s.type_id == link.type_id) {
            return t.rows.get(&link.ref_id).map(ExtensionRef::LabelInc).ok_or_else(|| missing("LABELINC"));
        }
        match self.other_extensions.iter().find(|e| e.type_id == link.type_id) {
            Some(e) => Ok(ExtensionRef::Other(&e.name, link.ref_id)),
            None => Err(format!("extension type {} is not declared by any `extension NAME {}` section", link.type_id, link.type_id)),
        }
    }
}
