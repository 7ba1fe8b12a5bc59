//! The MRD XML header (`/dataset/xml`): a typed subset of the ISMRMRD
//! schema (`ismrmrd.xsd`, namespace `http://www.ismrm.org/ISMRMRD`) and its
//! serialisation in schema order.
//!
//! ISMRMRD units, not SI: field of view in mm, TR and TE in ms, flip angle in
//! degrees (the element names say so). The text is pure ASCII (other
//! characters are written as character references), because ISMRMRD stores
//! it as an ASCII variable-length HDF5 string.

use std::fmt::Write as _;

/// XML namespace of the ISMRMRD header.
pub const ISMRMRD_NAMESPACE: &str = "http://www.ismrm.org/ISMRMRD";

/// The header of an MRD dataset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MrdHeader {
    /// `<acquisitionSystemInformation>`.
    pub system: AcquisitionSystem,
    /// `<experimentalConditions><H1resonanceFrequency_Hz>`: proton Larmor frequency, Hz.
    pub h1_resonance_frequency_hz: i64,
    /// One `<encoding>` per encoding space (acquisitions refer to them by `encoding_space_ref`).
    pub encodings: Vec<Encoding>,
    /// `<sequenceParameters>`.
    pub sequence: SequenceParameters,
    /// `<userParameters>`.
    pub user: UserParameters,
}

/// `<acquisitionSystemInformation>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AcquisitionSystem {
    /// `<systemVendor>`.
    pub vendor: Option<String>,
    /// `<systemModel>`.
    pub model: Option<String>,
    /// `<systemFieldStrength_T>`: main field B0, T.
    pub field_strength_t: Option<f64>,
    /// `<receiverChannels>`.
    pub receiver_channels: Option<u16>,
}

/// `<encoding>`: one encoding space.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    /// `<encodedSpace>`: the acquired matrix.
    pub encoded: EncodingSpace,
    /// `<reconSpace>`: the reconstructed matrix.
    pub recon: EncodingSpace,
    /// `<encodingLimits>`: range and centre of each counter.
    pub limits: EncodingLimits,
    /// `<trajectory>`.
    pub trajectory: Trajectory,
}

/// `<encodedSpace>` / `<reconSpace>`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncodingSpace {
    /// `<matrixSize>` `[x, y, z]` (readout, phase, partition).
    pub matrix: [u16; 3],
    /// `<fieldOfView_mm>` `[x, y, z]`, mm.
    pub fov_mm: [f64; 3],
}

/// `<limitType>`: a counter runs over `minimum..=maximum`; `center` is the k = 0 index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    /// Smallest value.
    pub minimum: u16,
    /// Largest value.
    pub maximum: u16,
    /// Centre (k-space centre for the encoding steps, else usually 0).
    pub center: u16,
}

impl Limit {
    /// `0..=n-1` with centre `center`.
    pub fn count(n: usize, center: usize) -> Self {
        let c = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
        Self { minimum: 0, maximum: c(n.saturating_sub(1)), center: c(center) }
    }
}

/// `<encodingLimits>` (absent limits are left out).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[allow(missing_docs)]
pub struct EncodingLimits {
    pub kspace_encoding_step_0: Option<Limit>,
    pub kspace_encoding_step_1: Option<Limit>,
    pub kspace_encoding_step_2: Option<Limit>,
    pub average: Option<Limit>,
    pub slice: Option<Limit>,
    pub contrast: Option<Limit>,
    pub phase: Option<Limit>,
    pub repetition: Option<Limit>,
    pub set: Option<Limit>,
    pub segment: Option<Limit>,
}

/// `<trajectory>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Trajectory {
    Cartesian,
    Epi,
    Radial,
    GoldenAngle,
    Spiral,
    Other,
}

impl Trajectory {
    /// The schema's enumeration value.
    pub fn name(self) -> &'static str {
        match self {
            Trajectory::Cartesian => "cartesian",
            Trajectory::Epi => "epi",
            Trajectory::Radial => "radial",
            Trajectory::GoldenAngle => "goldenangle",
            Trajectory::Spiral => "spiral",
            Trajectory::Other => "other",
        }
    }
}

/// `<sequenceParameters>` (ISMRMRD units).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SequenceParameters {
    /// `<TR>` values, ms.
    pub tr_ms: Vec<f64>,
    /// `<TE>` values, ms.
    pub te_ms: Vec<f64>,
    /// `<flipAngle_deg>` values, degrees.
    pub flip_angle_deg: Vec<f64>,
    /// `<sequence_type>`.
    pub sequence_type: Option<String>,
}

/// `<userParameters>`: named values, written longs first, then doubles, then
/// strings (the schema's order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserParameters {
    /// `<userParameterLong>` (name, value).
    pub long: Vec<(String, i64)>,
    /// `<userParameterDouble>` (name, value).
    pub double: Vec<(String, f64)>,
    /// `<userParameterString>` (name, value).
    pub string: Vec<(String, String)>,
}

impl MrdHeader {
    /// Why the header cannot be written as schema-valid XML, if it cannot:
    /// no encoding, or a non-finite number.
    pub fn problem(&self) -> Option<String> {
        if self.encodings.is_empty() {
            return Some("has no <encoding> (the schema requires at least one)".into());
        }
        let mut floats: Vec<(&str, f64)> = Vec::new();
        if let Some(b0) = self.system.field_strength_t {
            floats.push(("systemFieldStrength_T", b0));
        }
        for e in &self.encodings {
            for s in [&e.encoded, &e.recon] {
                floats.extend(s.fov_mm.iter().map(|&v| ("fieldOfView_mm", v)));
            }
        }
        let sp = &self.sequence;
        floats.extend(sp.tr_ms.iter().map(|&v| ("TR", v)));
        floats.extend(sp.te_ms.iter().map(|&v| ("TE", v)));
        floats.extend(sp.flip_angle_deg.iter().map(|&v| ("flipAngle_deg", v)));
        floats.extend(self.user.double.iter().map(|(n, v)| (n.as_str(), *v)));
        floats.iter().find(|(_, v)| !v.is_finite()).map(|(n, v)| format!("has {n} = {v}; XML numbers must be finite"))
    }

    /// The header as an ISMRMRD XML document (ASCII, elements in schema order).
    pub fn to_xml(&self) -> String {
        let mut x = Xml::default();
        x.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.open(&format!("ismrmrdHeader xmlns=\"{ISMRMRD_NAMESPACE}\""));
        let sys = &self.system;
        if sys != &AcquisitionSystem::default() {
            x.open("acquisitionSystemInformation");
            if let Some(v) = &sys.vendor {
                x.leaf("systemVendor", v);
            }
            if let Some(v) = &sys.model {
                x.leaf("systemModel", v);
            }
            if let Some(v) = sys.field_strength_t {
                x.leaf("systemFieldStrength_T", &v.to_string());
            }
            if let Some(v) = sys.receiver_channels {
                x.leaf("receiverChannels", &v.to_string());
            }
            x.close("acquisitionSystemInformation");
        }
        x.open("experimentalConditions");
        x.leaf("H1resonanceFrequency_Hz", &self.h1_resonance_frequency_hz.to_string());
        x.close("experimentalConditions");
        for e in &self.encodings {
            x.open("encoding");
            for (name, s) in [("encodedSpace", &e.encoded), ("reconSpace", &e.recon)] {
                x.open(name);
                x.open("matrixSize");
                for (axis, v) in ["x", "y", "z"].iter().zip(s.matrix) {
                    x.leaf(axis, &v.to_string());
                }
                x.close("matrixSize");
                x.open("fieldOfView_mm");
                for (axis, v) in ["x", "y", "z"].iter().zip(s.fov_mm) {
                    x.leaf(axis, &v.to_string());
                }
                x.close("fieldOfView_mm");
                x.close(name);
            }
            x.open("encodingLimits");
            let l = &e.limits;
            let limits = [
                ("kspace_encoding_step_0", l.kspace_encoding_step_0),
                ("kspace_encoding_step_1", l.kspace_encoding_step_1),
                ("kspace_encoding_step_2", l.kspace_encoding_step_2),
                ("average", l.average),
                ("slice", l.slice),
                ("contrast", l.contrast),
                ("phase", l.phase),
                ("repetition", l.repetition),
                ("set", l.set),
                ("segment", l.segment),
            ];
            for (name, lim) in limits {
                if let Some(lim) = lim {
                    x.open(name);
                    x.leaf("minimum", &lim.minimum.to_string());
                    x.leaf("maximum", &lim.maximum.to_string());
                    x.leaf("center", &lim.center.to_string());
                    x.close(name);
                }
            }
            x.close("encodingLimits");
            x.leaf("trajectory", e.trajectory.name());
            x.close("encoding");
        }
        let sp = &self.sequence;
        if sp != &SequenceParameters::default() {
            x.open("sequenceParameters");
            for (name, values) in [("TR", &sp.tr_ms), ("TE", &sp.te_ms)] {
                for v in values {
                    x.leaf(name, &v.to_string());
                }
            }
            for v in &sp.flip_angle_deg {
                x.leaf("flipAngle_deg", &v.to_string());
            }
            if let Some(t) = &sp.sequence_type {
                x.leaf("sequence_type", t);
            }
            x.close("sequenceParameters");
        }
        let u = &self.user;
        if u != &UserParameters::default() {
            x.open("userParameters");
            let pairs = u
                .long
                .iter()
                .map(|(n, v)| ("userParameterLong", n, v.to_string()))
                .chain(u.double.iter().map(|(n, v)| ("userParameterDouble", n, v.to_string())))
                .chain(u.string.iter().map(|(n, v)| ("userParameterString", n, v.clone())));
            for (kind, name, value) in pairs {
                x.open(kind);
                x.leaf("name", name);
                x.leaf("value", &value);
                x.close(kind);
            }
            x.close("userParameters");
        }
        x.close("ismrmrdHeader");
        x.out
    }
}

/// A tiny indenting XML writer.
#[derive(Default)]
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    /// `<tag attrs>` on its own line; `tag` may carry attributes.
    fn open(&mut self, tag: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    fn leaf(&mut self, name: &str, text: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{name}>{}</{name}>", escape(text));
    }
}

/// XML character data: `&`, `<`, `>` escaped, non-ASCII as character references.
pub(crate) fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            c if c.is_ascii() => o.push(c),
            c => {
                let _ = write!(o, "&#{};", c as u32);
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_non_ascii() {
        assert_eq!(escape("a<b & θ"), "a&lt;b &amp; &#952;");
    }

    #[test]
    fn writes_elements_in_schema_order() {
        let h = MrdHeader {
            h1_resonance_frequency_hz: 127_732_435,
            encodings: vec![Encoding {
                encoded: EncodingSpace { matrix: [4, 4, 1], fov_mm: [80.0, 80.0, 5.0] },
                recon: EncodingSpace { matrix: [4, 4, 1], fov_mm: [80.0, 80.0, 5.0] },
                limits: EncodingLimits { kspace_encoding_step_1: Some(Limit::count(4, 2)), ..Default::default() },
                trajectory: Trajectory::Cartesian,
            }],
            user: UserParameters { string: vec![("a".into(), "b".into())], long: vec![("n".into(), 3)], double: vec![] },
            ..Default::default()
        };
        assert!(h.problem().is_none());
        let x = h.to_xml();
        assert!(x.is_ascii());
        let pos = |s: &str| x.find(s).unwrap_or_else(|| panic!("{s} missing in {x}"));
        assert!(pos("<experimentalConditions>") < pos("<encoding>"));
        assert!(pos("<userParameterLong>") < pos("<userParameterString>"));
        assert!(x.contains("<maximum>3</maximum>") && x.contains("<center>2</center>"));
        assert!(!x.contains("acquisitionSystemInformation") && !x.contains("sequenceParameters"));
        let bad = MrdHeader { sequence: SequenceParameters { tr_ms: vec![f64::NAN], ..Default::default() }, ..h };
        assert!(bad.problem().unwrap().contains("TR"));
    }
}
