//! Text → [`PulseqSequence`]: a line scanner over the sections of a `.seq` file.
//!
//! Every error names the file, the 1-based line, the section and what was
//! expected. References between sections (blocks → events → shapes, extension
//! lists → rows) are checked once the whole file is read, against the line of
//! the row that makes them.

use std::collections::BTreeMap;

use super::error::{PulseqError, PulseqWarning};
use super::labels::{Label, LabelName, LabelSpec};
use super::model::*;
use super::shapes::Shape;

mod references;

/// `Type` and `Hash` of a `[SIGNATURE]` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SignatureFields {
    pub kind: Option<String>,
    pub hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Section {
    Top,
    Version,
    Definitions,
    Blocks,
    Rf,
    Gradients,
    Trap,
    Adc,
    Extensions,
    Shapes,
    Signature,
    Triggers,
    LabelSet,
    LabelInc,
    /// Index into `other_extensions`.
    Other(usize),
}

/// A shape being read: id, header line, declared sample count, packed values.
struct PendingShape {
    id: u32,
    line: usize,
    num_samples: Option<usize>,
    values: Vec<f64>,
}

/// Line of each row, for errors found after the whole file is read.
#[derive(Default)]
struct RowLines {
    blocks: Vec<usize>,
    rf: BTreeMap<u32, usize>,
    gradients: BTreeMap<u32, (usize, &'static str)>,
    adc: BTreeMap<u32, usize>,
    extensions: BTreeMap<u32, usize>,
    labels: Vec<(usize, String)>,
    /// Line of each `[DEFINITIONS]` entry, in file order.
    definitions: Vec<usize>,
}

struct Parser<'a> {
    file: &'a str,
    line: usize,
    section: Section,
    section_name: String,
    version_fields: [Option<u32>; 3],
    version_line: Option<usize>,
    version: Option<Version>,
    seq: PulseqSequence,
    rows: RowLines,
    shape: Option<PendingShape>,
    signature: SignatureFields,
    warnings: Vec<PulseqWarning>,
    saw_blocks: bool,
    /// Decompressed samples of the shapes declared so far.
    shape_samples: u64,
}

/// Parse the text of a `.seq` file; `file` names it in messages.
pub(crate) fn parse(text: &str, file: &str) -> Result<(PulseqSequence, Vec<PulseqWarning>, SignatureFields), PulseqError> {
    let mut p = Parser {
        file,
        line: 0,
        section: Section::Top,
        section_name: "(top)".into(),
        version_fields: [None; 3],
        version_line: None,
        version: None,
        seq: PulseqSequence {
            version: Version::WRITTEN,
            definitions: Vec::new(),
            blocks: Vec::new(),
            rf: BTreeMap::new(),
            gradients: BTreeMap::new(),
            adc: BTreeMap::new(),
            shapes: BTreeMap::new(),
            extension_list: BTreeMap::new(),
            triggers: None,
            label_set: None,
            label_inc: None,
            other_extensions: Vec::new(),
        },
        rows: RowLines::default(),
        shape: None,
        signature: SignatureFields::default(),
        warnings: Vec::new(),
        saw_blocks: false,
        shape_samples: 0,
    };
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        p.line = i + 1;
        last_line = p.line;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            p.header(line)?;
        } else if let Some(rest) = line.strip_prefix("extension ") {
            p.extension_header(rest)?;
        } else {
            p.row(line)?;
        }
    }
    p.line = last_line;
    p.finish_shape(true)?;
    let version = match p.version {
        Some(v) => v,
        None if p.version_line.is_some() => p.require_version()?,
        None => return Err(p.invalid("no [VERSION] section: not a Pulseq file, or truncated")),
    };
    p.seq.version = version;
    if !p.saw_blocks {
        return Err(p.invalid("no [BLOCKS] section (truncated file?)"));
    }
    p.check_rasters()?;
    p.check_references()?;
    let Parser { seq, mut warnings, signature, .. } = p;
    finish(seq, file, &mut warnings).map(|seq| (seq, warnings, signature))
}

fn finish(mut seq: PulseqSequence, file: &str, warnings: &mut Vec<PulseqWarning>) -> Result<PulseqSequence, PulseqError> {
    if !seq.version.is_v15() {
        let what = super::compat::upgrade_v14(&mut seq, file)?;
        warnings.push(PulseqWarning::Upgraded { file: file.into(), version: seq.version.to_string(), what });
    }
    if let Some([stated]) = seq.definition_numbers("TotalDuration").as_deref() {
        let blocks_s = seq.duration_s();
        if (stated - blocks_s).abs() > 1e-6 * blocks_s.abs().max(1e-3) {
            warnings.push(PulseqWarning::DurationMismatch { file: file.into(), stated_s: *stated, blocks_s });
        }
    }
    Ok(seq)
}

impl Parser<'_> {
    /// Raster times: one positive finite time each (everything else is timed in rasters);
    /// a missing one is a warning and pypulseq's default is used.
    fn check_rasters(&mut self) -> Result<(), PulseqError> {
        let defaults = Rasters::default();
        for (key, default_s) in [
            ("GradientRasterTime", defaults.gradient_s),
            ("RadiofrequencyRasterTime", defaults.rf_s),
            ("AdcRasterTime", defaults.adc_s),
            ("BlockDurationRaster", defaults.block_s),
        ] {
            match self.seq.definition_numbers(key).as_deref() {
                Some([v]) if *v > 0.0 && v.is_finite() => {}
                Some(_) | None if self.seq.definition(key).is_some() => {
                    let i = self.seq.definitions.iter().position(|(k, _)| k == key).unwrap_or(0);
                    let line = self.rows.definitions.get(i).copied().unwrap_or(0);
                    let found = self.seq.definition(key).unwrap_or("");
                    return Err(self.err_at(line, "[DEFINITIONS]", format!("{key} must be one positive time in s, found `{found}`")));
                }
                _ => self.warnings.push(PulseqWarning::MissingRaster { file: self.file.into(), key: key.into(), default_s }),
            }
        }
        Ok(())
    }

    fn err(&self, message: impl Into<String>) -> PulseqError {
        self.err_at(self.line, &self.section_name, message)
    }

    fn err_at(&self, line: usize, section: &str, message: impl Into<String>) -> PulseqError {
        PulseqError::Parse { file: self.file.into(), line, section: section.into(), message: message.into() }
    }

    fn invalid(&self, message: impl Into<String>) -> PulseqError {
        PulseqError::Invalid { file: self.file.into(), message: message.into() }
    }

    fn header(&mut self, line: &str) -> Result<(), PulseqError> {
        self.finish_shape(false)?;
        self.section_name = line.to_string();
        let section = match line {
            "[VERSION]" => Section::Version,
            "[DEFINITIONS]" => Section::Definitions,
            "[BLOCKS]" => Section::Blocks,
            "[RF]" => Section::Rf,
            "[GRADIENTS]" => Section::Gradients,
            "[TRAP]" => Section::Trap,
            "[ADC]" => Section::Adc,
            "[EXTENSIONS]" => Section::Extensions,
            "[SHAPES]" => Section::Shapes,
            "[SIGNATURE]" => Section::Signature,
            "[DELAYS]" => {
                return Err(self.err(
                    "[DELAYS] belongs to Pulseq formats before 1.4, which this reader does not support (expected 1.4.x or 1.5.x)",
                ))
            }
            _ => {
                return Err(self.err(format!(
                    "unknown section {line}; expected one of [VERSION] [DEFINITIONS] [BLOCKS] [RF] [GRADIENTS] [TRAP] [ADC] [EXTENSIONS] [SHAPES] [SIGNATURE] or `extension NAME ID`"
                )))
            }
        };
        self.saw_blocks |= section == Section::Blocks;
        if section == Section::Version {
            self.version_line = Some(self.line);
        } else if !matches!(section, Section::Definitions | Section::Signature) {
            self.require_version()?;
        }
        self.section = section;
        Ok(())
    }

    fn extension_header(&mut self, rest: &str) -> Result<(), PulseqError> {
        self.finish_shape(false)?;
        self.section_name = format!("extension {}", rest.trim());
        self.require_version()?;
        let toks: Vec<&str> = rest.split_whitespace().collect();
        let [name, id] = toks[..] else {
            return Err(self.err(format!("expected `extension NAME ID`, found `extension {rest}`")));
        };
        let type_id = self.id(id, "extension type id")?;
        let taken = self.seq.extension_name(type_id).map(str::to_string);
        if let Some(other) = taken {
            return Err(self.err(format!("extension type id {type_id} is already used by {other}")));
        }
        fn specs<T>(type_id: u32) -> Option<ExtensionSpecs<T>> {
            Some(ExtensionSpecs { type_id, rows: BTreeMap::new() })
        }
        self.section = match name {
            "TRIGGERS" if self.seq.triggers.is_none() => {
                self.seq.triggers = specs(type_id);
                Section::Triggers
            }
            "LABELSET" if self.seq.label_set.is_none() => {
                self.seq.label_set = specs(type_id);
                Section::LabelSet
            }
            "LABELINC" if self.seq.label_inc.is_none() => {
                self.seq.label_inc = specs(type_id);
                Section::LabelInc
            }
            "TRIGGERS" | "LABELSET" | "LABELINC" => return Err(self.err(format!("extension {name} is declared twice"))),
            _ => {
                self.warnings.push(PulseqWarning::UnknownExtension { file: self.file.into(), line: self.line, name: name.into() });
                self.seq.other_extensions.push(RawExtension { name: name.into(), type_id, rows: Vec::new() });
                Section::Other(self.seq.other_extensions.len() - 1)
            }
        };
        Ok(())
    }

    /// The file version, checked; an error when `[VERSION]` is missing or unsupported.
    fn require_version(&mut self) -> Result<Version, PulseqError> {
        if let Some(v) = self.version {
            return Ok(v);
        }
        let Some(vline) = self.version_line else {
            return Err(self.err(format!("expected a [VERSION] section before {}", self.section_name)));
        };
        let [Some(major), Some(minor), revision] = self.version_fields else {
            return Err(self.err_at(vline, "[VERSION]", "expected `major N` and `minor N` lines"));
        };
        let v = Version { major, minor, revision: revision.unwrap_or(0) };
        if !v.is_supported() {
            return Err(self.err_at(vline, "[VERSION]", format!("unsupported Pulseq format version {v}: expected 1.4.x or 1.5.x")));
        }
        self.version = Some(v);
        Ok(v)
    }

    fn row(&mut self, line: &str) -> Result<(), PulseqError> {
        let toks: Vec<&str> = line.split_whitespace().collect();
        match self.section {
            Section::Top => Err(self.err(format!("expected a section header such as [VERSION], found `{line}`"))),
            Section::Version => self.version_row(&toks),
            Section::Definitions => {
                self.seq.definitions.push((toks[0].to_string(), toks[1..].join(" ")));
                self.rows.definitions.push(self.line);
                Ok(())
            }
            Section::Blocks => self.block_row(&toks),
            Section::Rf => self.rf_row(&toks),
            Section::Gradients => self.gradient_row(&toks),
            Section::Trap => self.trap_row(&toks),
            Section::Adc => self.adc_row(&toks),
            Section::Extensions => self.extension_row(&toks),
            Section::Shapes => self.shape_row(&toks),
            Section::Signature => {
                let value = toks.get(1).map(|s| s.to_string());
                match toks[0] {
                    "Type" => self.signature.kind = value,
                    "Hash" => self.signature.hash = value,
                    _ => {}
                }
                Ok(())
            }
            Section::Triggers => self.trigger_row(&toks),
            Section::LabelSet | Section::LabelInc => self.label_row(&toks),
            Section::Other(i) => {
                self.seq.other_extensions[i].rows.push(line.to_string());
                Ok(())
            }
        }
    }

    fn fields<'t>(&self, toks: &'t [&'t str], layout: &str) -> Result<&'t [&'t str], PulseqError> {
        let n = layout.split_whitespace().count();
        if toks.len() != n {
            let v = self.version.map(|v| format!(" (format {v})")).unwrap_or_default();
            return Err(self.err(format!("expected {n} fields `{layout}`{v}, found {}: `{}`", toks.len(), toks.join(" "))));
        }
        Ok(toks)
    }

    fn int(&self, tok: &str, what: &str) -> Result<i64, PulseqError> {
        tok.parse::<i64>().map_err(|_| self.err(format!("expected an integer {what}, found `{tok}`")))
    }

    fn id(&self, tok: &str, what: &str) -> Result<u32, PulseqError> {
        let v = self.int(tok, what)?;
        u32::try_from(v).map_err(|_| self.err(format!("{what} must be a non-negative integer id, found {tok}")))
    }

    fn count(&self, tok: &str, what: &str) -> Result<u64, PulseqError> {
        let v = self.int(tok, what)?;
        u64::try_from(v).map_err(|_| self.err(format!("{what} must not be negative, found {tok}")))
    }

    fn num(&self, tok: &str, what: &str) -> Result<f64, PulseqError> {
        match tok.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.err(format!("expected a finite number for {what}, found `{tok}`"))),
        }
    }

    fn nonneg(&self, tok: &str, what: &str) -> Result<f64, PulseqError> {
        let v = self.num(tok, what)?;
        if v < 0.0 {
            return Err(self.err(format!("{what} must not be negative, found {tok}")));
        }
        Ok(v)
    }

    fn version_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        let toks = self.fields(toks, "key value")?;
        let digits: String = toks[1].chars().take_while(char::is_ascii_digit).collect();
        let value = digits.parse::<u32>().map_err(|_| self.err(format!("expected a version number, found `{}`", toks[1])))?;
        let slot = match toks[0] {
            "major" => 0,
            "minor" => 1,
            "revision" => 2,
            other => return Err(self.err(format!("expected `major`, `minor` or `revision`, found `{other}`"))),
        };
        self.version_fields[slot] = Some(value);
        self.version = None;
        Ok(())
    }

    fn block_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        let t = self.fields(toks, "id duration rf gx gy gz adc ext")?;
        let block = Block {
            id: self.id(t[0], "block id")?,
            duration: self.count(t[1], "block duration (block rasters)")?,
            rf: self.id(t[2], "RF id")?,
            gradients: [self.id(t[3], "gx id")?, self.id(t[4], "gy id")?, self.id(t[5], "gz id")?],
            adc: self.id(t[6], "ADC id")?,
            ext: self.id(t[7], "extension id")?,
        };
        self.seq.blocks.push(block);
        self.rows.blocks.push(self.line);
        Ok(())
    }

    fn rf_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        let v15 = self.version.is_some_and(Version::is_v15);
        let layout = if v15 {
            "id amplitude mag_id phase_id time_shape_id center delay freqPPM phasePPM freq phase use"
        } else {
            "id amplitude mag_id phase_id time_shape_id delay freq phase"
        };
        let t = self.fields(toks, layout)?;
        let (center, rest) = if v15 { (self.num(t[5], "RF centre (us)")?, &t[6..]) } else { (0.0, &t[5..]) };
        let (ppm, rest) = if v15 {
            ([self.num(rest[1], "freqPPM")?, self.num(rest[2], "phasePPM")?], [rest[0], rest[3], rest[4]])
        } else {
            ([0.0; 2], [rest[0], rest[1], rest[2]])
        };
        let rf_use = if v15 {
            RfUse::from_code(t[11]).ok_or_else(|| self.err(format!("expected an RF use letter (e r i s p o u), found `{}`", t[11])))?
        } else {
            RfUse::Undefined
        };
        let ev = RfEvent {
            amplitude_hz: self.num(t[1], "RF amplitude (Hz)")?,
            magnitude_shape: self.id(t[2], "magnitude shape id")?,
            phase_shape: self.id(t[3], "phase shape id")?,
            time_shape: self.id(t[4], "time shape id")?,
            center_us: center,
            delay_us: self.nonneg(rest[0], "RF delay (us)")?,
            freq_ppm: ppm[0],
            phase_ppm: ppm[1],
            freq_offset_hz: self.num(rest[1], "RF frequency offset (Hz)")?,
            phase_offset_rad: self.num(rest[2], "RF phase offset (rad)")?,
            rf_use,
        };
        let id = self.id(t[0], "RF id")?;
        self.insert_unique(id, "RF")?;
        self.seq.rf.insert(id, ev);
        self.rows.rf.insert(id, self.line);
        Ok(())
    }

    fn insert_unique(&self, id: u32, what: &str) -> Result<(), PulseqError> {
        let taken = match what {
            "RF" => self.seq.rf.contains_key(&id),
            "gradient" => self.seq.gradients.contains_key(&id),
            "ADC" => self.seq.adc.contains_key(&id),
            _ => self.seq.extension_list.contains_key(&id),
        };
        if id == 0 || taken {
            return Err(self.err(format!("{what} id {id} is {}", if id == 0 { "reserved for \"none\"" } else { "defined twice" })));
        }
        Ok(())
    }

    fn gradient_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        let v15 = self.version.is_some_and(Version::is_v15);
        let layout =
            if v15 { "id amplitude first last amp_shape_id time_shape_id delay" } else { "id amplitude amp_shape_id time_shape_id delay" };
        let t = self.fields(toks, layout)?;
        let (first, last, rest) =
            if v15 { (self.num(t[2], "first (Hz/m)")?, self.num(t[3], "last (Hz/m)")?, &t[4..]) } else { (0.0, 0.0, &t[2..]) };
        let timing = match self.int(rest[1], "time shape id")? {
            0 => GradTiming::RasterCenters,
            -1 => GradTiming::Oversampled,
            id => GradTiming::Shape(u32::try_from(id).map_err(|_| self.err(format!("expected a time shape id >= -1, found {id}")))?),
        };
        let ev = ArbitraryGradient {
            amplitude_hz_per_m: self.num(t[1], "gradient amplitude (Hz/m)")?,
            first_hz_per_m: first,
            last_hz_per_m: last,
            shape: self.id(rest[0], "amplitude shape id")?,
            timing,
            delay_us: self.nonneg(rest[2], "gradient delay (us)")?,
        };
        let id = self.id(t[0], "gradient id")?;
        self.insert_unique(id, "gradient")?;
        self.seq.gradients.insert(id, GradEvent::Arbitrary(ev));
        self.rows.gradients.insert(id, (self.line, "[GRADIENTS]"));
        Ok(())
    }

    fn trap_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        let t = self.fields(toks, "id amplitude rise flat fall delay")?;
        let ev = TrapGradient {
            amplitude_hz_per_m: self.num(t[1], "trapezoid amplitude (Hz/m)")?,
            rise_us: self.nonneg(t[2], "rise time (us)")?,
            flat_us: self.nonneg(t[3], "flat time (us)")?,
            fall_us: self.nonneg(t[4], "fall time (us)")?,
            delay_us: self.nonneg(t[5], "trapezoid delay (us)")?,
        };
        let id = self.id(t[0], "gradient id")?;
        self.insert_unique(id, "gradient")?;
        self.seq.gradients.insert(id, GradEvent::Trap(ev));
        self.rows.gradients.insert(id, (self.line, "[TRAP]"));
        Ok(())
    }

    fn adc_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        let v15 = self.version.is_some_and(Version::is_v15);
        let layout = if v15 { "id num dwell delay freqPPM phasePPM freq phase phase_id" } else { "id num dwell delay freq phase" };
        let t = self.fields(toks, layout)?;
        let num = self.count(t[1], "ADC sample count")?;
        let num_samples = u32::try_from(num).map_err(|_| self.err(format!("ADC sample count {num} is too large")))?;
        let dwell_ns = self.nonneg(t[2], "ADC dwell (ns)")?;
        if dwell_ns == 0.0 {
            return Err(self.err("ADC dwell (ns) must be positive, found 0"));
        }
        let (ppm, rest, phase_shape) = if v15 {
            ([self.num(t[4], "freqPPM")?, self.num(t[5], "phasePPM")?], [t[6], t[7]], self.id(t[8], "phase shape id")?)
        } else {
            ([0.0; 2], [t[4], t[5]], 0)
        };
        let ev = AdcEvent {
            num_samples,
            dwell_ns,
            delay_us: self.nonneg(t[3], "ADC delay (us)")?,
            freq_ppm: ppm[0],
            phase_ppm: ppm[1],
            freq_offset_hz: self.num(rest[0], "ADC frequency offset (Hz)")?,
            phase_offset_rad: self.num(rest[1], "ADC phase offset (rad)")?,
            phase_shape,
        };
        let id = self.id(t[0], "ADC id")?;
        self.insert_unique(id, "ADC")?;
        self.seq.adc.insert(id, ev);
        self.rows.adc.insert(id, self.line);
        Ok(())
    }

    fn extension_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        let t = self.fields(toks, "id type ref next_id")?;
        let link = ExtensionLink {
            type_id: self.id(t[1], "extension type")?,
            ref_id: self.id(t[2], "extension ref")?,
            next: self.id(t[3], "next id")?,
        };
        let id = self.id(t[0], "extension list id")?;
        self.insert_unique(id, "extension list")?;
        self.seq.extension_list.insert(id, link);
        self.rows.extensions.insert(id, self.line);
        Ok(())
    }

    fn trigger_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        let t = self.fields(toks, "id type channel delay duration")?;
        let spec = TriggerSpec {
            kind: self.id(t[1], "trigger type")?,
            channel: self.id(t[2], "trigger channel")?,
            delay_us: self.nonneg(t[3], "trigger delay (us)")?,
            duration_us: self.nonneg(t[4], "trigger duration (us)")?,
        };
        let id = self.id(t[0], "trigger id")?;
        let fresh = self.seq.triggers.as_mut().map(|s| s.rows.insert(id, spec).is_none());
        self.inserted(fresh, id, "trigger")
    }

    fn label_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        let t = self.fields(toks, "id value label")?;
        let id = self.id(t[0], "label id")?;
        let value = self.int(t[1], "label value")?;
        let label = match Label::parse(t[2]) {
            Some(l) => LabelName::Known(l),
            None => {
                self.rows.labels.push((self.line, t[2].to_string()));
                LabelName::Other(t[2].to_string())
            }
        };
        let specs = if self.section == Section::LabelSet { &mut self.seq.label_set } else { &mut self.seq.label_inc };
        let fresh = specs.as_mut().map(|s| s.rows.insert(id, LabelSpec { value, label }).is_none());
        self.inserted(fresh, id, "label")
    }

    /// Outcome of inserting an extension row: `None` when there was no section to insert into.
    fn inserted(&self, fresh: Option<bool>, id: u32, what: &str) -> Result<(), PulseqError> {
        match fresh {
            Some(true) => Ok(()),
            Some(false) => Err(self.err(format!("{what} id {id} is defined twice"))),
            None => Err(self.err(format!("{what} row outside its extension section"))),
        }
    }

    fn shape_row(&mut self, toks: &[&str]) -> Result<(), PulseqError> {
        match toks {
            ["shape_id", id] => {
                self.finish_shape(false)?;
                let id = self.id(id, "shape id")?;
                if id == 0 || self.seq.shapes.contains_key(&id) {
                    return Err(self.err(format!("shape id {id} is reserved or defined twice")));
                }
                self.shape = Some(PendingShape { id, line: self.line, num_samples: None, values: Vec::new() });
            }
            ["num_samples", n] => {
                let n = self.count(n, "num_samples")?;
                // the decompressed samples of all shapes are held at once: check them all
                // against the memory budget before this one is expanded
                let total = self.shape_samples.saturating_add(n);
                let what = format!("num_samples {n} ({total} samples in the shapes so far)");
                mre_solver::limits::check_memory(&what, u128::from(total) * 8).map_err(|e| self.err(e.to_string()))?;
                self.shape_samples = total;
                let n = usize::try_from(n).map_err(|_| self.err("num_samples is too large"))?;
                match self.shape.as_mut() {
                    Some(s) if s.num_samples.is_none() && s.values.is_empty() => s.num_samples = Some(n),
                    _ => return Err(self.err("expected `num_samples N` right after `shape_id N`")),
                }
            }
            [value] => {
                let v = self.num(value, "shape sample")?;
                match self.shape.as_mut() {
                    Some(PendingShape { num_samples: Some(_), values, .. }) => values.push(v),
                    _ => return Err(self.err("expected `shape_id N` and `num_samples N` before shape samples")),
                }
            }
            _ => return Err(self.err(format!("expected `shape_id N`, `num_samples N` or one number, found `{}`", toks.join(" ")))),
        }
        Ok(())
    }

    /// Close the shape being read; `at_eof` words the error as a truncated file.
    fn finish_shape(&mut self, at_eof: bool) -> Result<(), PulseqError> {
        let Some(s) = self.shape.take() else { return Ok(()) };
        let Some(n) = s.num_samples else {
            return Err(self.err_at(s.line, "[SHAPES]", format!("shape {} has no `num_samples` line", s.id)));
        };
        let shape = Shape::from_packed(n, s.values).map_err(|e| {
            let msg = if at_eof { format!("file ends inside shape {} (truncated?): {e}", s.id) } else { format!("shape {}: {e}", s.id) };
            self.err_at(s.line, "[SHAPES]", msg)
        })?;
        self.seq.shapes.insert(s.id, shape);
        Ok(())
    }
}
