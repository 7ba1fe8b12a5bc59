//! Pulseq labels (`extension LABELSET` / `LABELINC`) and their values in force.

/// A label Pulseq knows: counters (LIN, PAR, …) and flags (NAV, REV, …), in
/// pypulseq's `get_supported_labels()` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Label {
    Slc,
    Seg,
    Rep,
    Avg,
    Set,
    Eco,
    Phs,
    Lin,
    Par,
    Acq,
    Nav,
    Rev,
    Sms,
    Ref,
    Ima,
    Noise,
    Pmc,
    NoRot,
    NoPos,
    NoScl,
    Once,
    TrId,
}

impl Label {
    /// Every label, in pypulseq's order.
    pub const ALL: [Label; 22] = [
        Label::Slc,
        Label::Seg,
        Label::Rep,
        Label::Avg,
        Label::Set,
        Label::Eco,
        Label::Phs,
        Label::Lin,
        Label::Par,
        Label::Acq,
        Label::Nav,
        Label::Rev,
        Label::Sms,
        Label::Ref,
        Label::Ima,
        Label::Noise,
        Label::Pmc,
        Label::NoRot,
        Label::NoPos,
        Label::NoScl,
        Label::Once,
        Label::TrId,
    ];

    /// The name as written in a file (`"LIN"`, `"NOROT"`, …).
    pub fn as_str(self) -> &'static str {
        const NAMES: [&str; 22] = [
            "SLC", "SEG", "REP", "AVG", "SET", "ECO", "PHS", "LIN", "PAR", "ACQ", "NAV", "REV", "SMS", "REF", "IMA", "NOISE", "PMC",
            "NOROT", "NOPOS", "NOSCL", "ONCE", "TRID",
        ];
        NAMES[self as usize]
    }

    /// Parse a file name of a label.
    pub fn parse(s: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// True for on/off flags (NAV, REV, SMS, REF, IMA, NOISE, PMC, NOROT, NOPOS, NOSCL).
    pub fn is_flag(self) -> bool {
        matches!(
            self,
            Label::Nav
                | Label::Rev
                | Label::Sms
                | Label::Ref
                | Label::Ima
                | Label::Noise
                | Label::Pmc
                | Label::NoRot
                | Label::NoPos
                | Label::NoScl
        )
    }
}

/// The name of a label as stored: a known [`Label`] or an unknown name kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelName {
    /// A label of the Pulseq list.
    Known(Label),
    /// Any other name (the reader warns; the timeline ignores it).
    Other(String),
}

impl LabelName {
    /// Name as written in a file.
    pub fn as_str(&self) -> &str {
        match self {
            LabelName::Known(l) => l.as_str(),
            LabelName::Other(s) => s,
        }
    }
}

/// One row of `extension LABELSET` or `LABELINC`: `id value label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSpec {
    /// Value set, or increment added.
    pub value: i64,
    /// Label.
    pub label: LabelName,
}

/// Values of all labels at one point of the sequence (0 until set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LabelValues([i64; 22]);

impl LabelValues {
    /// Value of a label.
    pub fn get(&self, label: Label) -> i64 {
        self.0[label as usize]
    }

    /// True when a flag (or counter) is non-zero.
    pub fn flag(&self, label: Label) -> bool {
        self.get(label) != 0
    }

    /// Set a label.
    pub fn set(&mut self, label: Label, value: i64) {
        self.0[label as usize] = value;
    }

    /// Increment a label.
    pub fn increment(&mut self, label: Label, by: i64) {
        self.0[label as usize] = self.0[label as usize].saturating_add(by);
    }
}
