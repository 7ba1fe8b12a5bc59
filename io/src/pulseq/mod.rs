//! Pulseq `.seq` files (formats 1.4.x and 1.5.x, as pypulseq and MATLAB
//! Pulseq write them): reading, writing (1.5.0, signed), and conversion to the
//! simulator's [`mre_solver::sequence::Timeline`].
//!
//! ```no_run
//! use mre_io::pulseq::{read_pulseq, TimelineOptions};
//! let read = read_pulseq("gre.seq")?;
//! for w in &read.warnings {
//!     tracing::warn!("{w}");
//! }
//! let imported = read.sequence.to_timeline(&TimelineOptions::default())?;
//! println!("{} ADC samples over {} s", imported.adc.len(), imported.duration_s);
//! read.sequence.write("copy.seq", false)?;
//! # Ok::<(), mre_io::pulseq::PulseqError>(())
//! ```
//!
//! Layout: [`model`] (the typed file content), [`shapes`] (shape compression),
//! [`labels`], `parse` (text → model; `compat` fills what format 1.4 lacks, as
//! pypulseq does), [`signature`] (MD5), `write` (model → text), [`timeline`]
//! (model → simulator, with k-space and labels per ADC sample), [`export`] (the
//! built-in GRE-MRE as a file), [`info`] (what a sequence does: timing, moments,
//! the motion encoding) and [`plot`] (its waveforms and k-space as PNGs).

mod compat;
mod cost;
pub mod error;
pub mod export;
pub mod info;
mod kspace;
pub mod labels;
pub mod model;
pub mod mre;
mod parse;
pub mod plot;
pub mod shapes;
pub mod signature;
pub mod timeline;
mod waveform;
mod write;

use std::path::Path;

pub use error::{PulseqError, PulseqWarning};
pub use labels::{Label, LabelName, LabelSpec, LabelValues};
pub use model::{
    AdcEvent, ArbitraryGradient, Block, ExtensionLink, ExtensionRef, ExtensionSpecs, GradEvent, GradTiming, PulseqSequence, Rasters,
    RawExtension, RfEvent, RfUse, TrapGradient, TriggerSpec, Version,
};
pub use mre::{LabelMap, PulseqMre};
pub use shapes::Shape;
pub use signature::SignatureStatus;
pub use timeline::{AdcSampleInfo, ImportedSequence, RfCenter, TimelineOptions, TriggerEvent, GAMMA_HZ_PER_T};

/// A parsed file: the sequence, what the reader found suspicious, and the signature check.
#[derive(Debug, Clone)]
pub struct PulseqRead {
    /// The sequence.
    pub sequence: PulseqSequence,
    /// Non-fatal findings (signature mismatch, unknown extensions, …).
    pub warnings: Vec<PulseqWarning>,
    /// Outcome of the `[SIGNATURE]` check.
    pub signature: SignatureStatus,
}

/// Largest `.seq` file read, bytes (1 GiB: a pypulseq file of a long 3-D acquisition is a
/// few hundred MB). Devices, FIFOs and directories are refused whatever their length.
pub const MAX_SEQ_BYTES: u64 = 1 << 30;

/// Read a `.seq` file. Errors name the file, line and section; a signature
/// mismatch is a warning naming the file.
///
/// The file is read with a bound ([`MAX_SEQ_BYTES`] and the memory budget of
/// [`mre_solver::limits`]), and every size it declares (shape lengths after
/// decompression, ADC samples, the timeline its blocks make) is checked against the
/// budget before anything of that size is allocated.
pub fn read_pulseq(path: impl AsRef<Path>) -> Result<PulseqRead, PulseqError> {
    let path = path.as_ref();
    if let Ok(meta) = std::fs::metadata(path) {
        // the text is held while it is parsed: a file larger than the budget cannot be read
        if meta.is_file() {
            mre_solver::limits::check_memory(&format!("reading {}", path.display()), meta.len().into())
                .map_err(|e| PulseqError::Invalid { file: path.display().to_string(), message: e.to_string() })?;
        }
    }
    let bytes = mre_solver::limits::read_bounded(path, MAX_SEQ_BYTES).map_err(|e| {
        // a device or an over-long file: the limit's own message names the path
        match e.get_ref().and_then(|inner| inner.downcast_ref::<mre_solver::limits::LimitError>()) {
            Some(mre_solver::limits::LimitError::File { path, problem }) => {
                PulseqError::Invalid { file: path.clone(), message: format!("{problem}; expected a Pulseq .seq file") }
            }
            _ => error::io_error(path, e),
        }
    })?;
    let name = path.display().to_string();
    let text =
        String::from_utf8(bytes).map_err(|e| PulseqError::Invalid { file: name.clone(), message: format!("not UTF-8 text: {e}") })?;
    parse_str(&text, &name)
}

/// Parse the text of a `.seq` file; `source_name` names it in messages.
pub fn parse_str(text: &str, source_name: &str) -> Result<PulseqRead, PulseqError> {
    let (sequence, mut warnings, fields) = parse::parse(text, source_name)?;
    let signature = signature::verify(text, &fields, source_name, &mut warnings);
    tracing::debug!(file = source_name, version = %sequence.version, blocks = sequence.blocks.len(), warnings = warnings.len(), "read Pulseq file");
    Ok(PulseqRead { sequence, warnings, signature })
}
