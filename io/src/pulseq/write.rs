//! [`PulseqSequence`] → format 1.5.0 text, as pypulseq 1.5.0 lays it out,
//! signed with an MD5 `[SIGNATURE]`.
//!
//! Numbers are written in their shortest exact decimal form, so reading the
//! text back gives the same model; shapes are written in their stored packed
//! form ([`super::Shape::from_samples`] compresses new shapes as pypulseq
//! does). Every section ends with a blank line, which pypulseq's reader needs.

use std::fmt::{self, Write as _};
use std::fs;
use std::path::Path;

use mre_solver::files;

use super::error::{io_error, PulseqError};
use super::model::{ExtensionSpecs, GradEvent, PulseqSequence, Version};
use super::signature::md5_hex;

/// A number in its shortest exact form (`0`, `110`, `83.7416`, `3.0857e-10`).
pub(crate) fn num(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 {
        "0".into()
    } else if (1e-4..1e15).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

impl PulseqSequence {
    /// The file body without the signature section.
    fn body(&self) -> Result<String, fmt::Error> {
        let v = Version::WRITTEN;
        let mut s = String::new();
        writeln!(s, "# Pulseq sequence file\n# Created by mre-sim\n")?;
        writeln!(s, "[VERSION]\nmajor {}\nminor {}\nrevision {}\n", v.major, v.minor, v.revision)?;
        if !self.definitions.is_empty() {
            writeln!(s, "[DEFINITIONS]")?;
            for (k, value) in &self.definitions {
                writeln!(s, "{k} {value}")?;
            }
            writeln!(s)?;
        }
        writeln!(s, "# Format of blocks:\n# NUM DUR RF  GX  GY  GZ  ADC  EXT\n[BLOCKS]")?;
        let w = self.blocks.len().to_string().len();
        for b in &self.blocks {
            let [gx, gy, gz] = b.gradients;
            writeln!(s, "{:w$} {:3} {:3} {:3} {:3} {:3} {:2} {:2}", b.id, b.duration, b.rf, gx, gy, gz, b.adc, b.ext)?;
        }
        writeln!(s)?;
        self.write_events(&mut s)?;
        self.write_extensions(&mut s)?;
        if !self.shapes.is_empty() {
            writeln!(s, "# Sequence Shapes\n[SHAPES]\n")?;
            for (id, shape) in &self.shapes {
                writeln!(s, "shape_id {id}\nnum_samples {}", shape.len())?;
                for v in shape.packed() {
                    writeln!(s, "{}", num(*v))?;
                }
                writeln!(s)?;
            }
        }
        Ok(s)
    }

    fn write_events(&self, s: &mut String) -> fmt::Result {
        if !self.rf.is_empty() {
            writeln!(s, "# Format of RF events:\n# id ampl. mag_id phase_id time_shape_id center delay freqPPM phasePPM freq phase use")?;
            writeln!(s, "# ..   Hz      ..       ..            ..     us    us     ppm  rad/MHz   Hz   rad  ..")?;
            writeln!(s, "# Field \"use\" is the initial of: excitation refocusing inversion saturation preparation other undefined\n[RF]")?;
            for (id, r) in &self.rf {
                let f = [r.amplitude_hz].map(num);
                let g = [r.center_us, r.delay_us, r.freq_ppm, r.phase_ppm, r.freq_offset_hz, r.phase_offset_rad].map(num).join(" ");
                writeln!(s, "{id} {} {} {} {} {g} {}", f[0], r.magnitude_shape, r.phase_shape, r.time_shape, r.rf_use.code())?;
            }
            writeln!(s)?;
        }
        let arb: Vec<_> =
            self.gradients.iter().filter_map(|(id, g)| if let GradEvent::Arbitrary(a) = g { Some((id, a)) } else { None }).collect();
        if !arb.is_empty() {
            writeln!(s, "# Format of arbitrary gradients:")?;
            writeln!(s, "#   time_shape_id of 0 means default timing (stepping with grad_raster starting at 1/2 of grad_raster)")?;
            writeln!(s, "# id amplitude first last amp_shape_id time_shape_id delay\n# ..      Hz/m  Hz/m Hz/m        ..         ..          us\n[GRADIENTS]")?;
            for (id, a) in arb {
                let amps = [a.amplitude_hz_per_m, a.first_hz_per_m, a.last_hz_per_m].map(num).join(" ");
                writeln!(s, "{id} {amps} {} {} {}", a.shape, a.timing.id(), num(a.delay_us))?;
            }
            writeln!(s)?;
        }
        let traps: Vec<_> =
            self.gradients.iter().filter_map(|(id, g)| if let GradEvent::Trap(t) = g { Some((id, t)) } else { None }).collect();
        if !traps.is_empty() {
            writeln!(
                s,
                "# Format of trapezoid gradients:\n# id amplitude rise flat fall delay\n# ..      Hz/m   us   us   us    us\n[TRAP]"
            )?;
            for (id, t) in traps {
                writeln!(s, "{id} {}", [t.amplitude_hz_per_m, t.rise_us, t.flat_us, t.fall_us, t.delay_us].map(num).join(" "))?;
            }
            writeln!(s)?;
        }
        if !self.adc.is_empty() {
            writeln!(s, "# Format of ADC events:\n# id num dwell delay freqPPM phasePPM freq phase phase_id")?;
            writeln!(s, "# ..  ..    ns    us     ppm  rad/MHz   Hz   rad       ..\n[ADC]")?;
            for (id, a) in &self.adc {
                let f = [a.dwell_ns, a.delay_us, a.freq_ppm, a.phase_ppm, a.freq_offset_hz, a.phase_offset_rad].map(num).join(" ");
                writeln!(s, "{id} {} {f} {}", a.num_samples, a.phase_shape)?;
            }
            writeln!(s)?;
        }
        Ok(())
    }

    fn write_extensions(&self, s: &mut String) -> fmt::Result {
        if !self.extension_list.is_empty() {
            writeln!(s, "# Format of extension lists:\n# id type ref next_id\n# next_id of 0 terminates the list")?;
            writeln!(s, "# Extension list is followed by extension specifications\n[EXTENSIONS]")?;
            for (id, e) in &self.extension_list {
                writeln!(s, "{id} {} {} {}", e.type_id, e.ref_id, e.next)?;
            }
            writeln!(s)?;
        }
        if let Some(t) = &self.triggers {
            writeln!(s, "# Extension specification for digital output and input triggers:\n# id type channel delay (us) duration (us)")?;
            writeln!(s, "extension TRIGGERS {}", t.type_id)?;
            for (id, r) in &t.rows {
                writeln!(s, "{id} {} {} {} {}", r.kind, r.channel, num(r.delay_us), num(r.duration_us))?;
            }
            writeln!(s)?;
        }
        let labels = |s: &mut String, name: &str, specs: &Option<ExtensionSpecs<super::labels::LabelSpec>>| -> fmt::Result {
            if let Some(l) = specs {
                writeln!(s, "# Extension specification for setting labels:\n# id set labelstring\nextension {name} {}", l.type_id)?;
                for (id, r) in &l.rows {
                    writeln!(s, "{id} {} {}", r.value, r.label.as_str())?;
                }
                writeln!(s)?;
            }
            Ok(())
        };
        labels(s, "LABELSET", &self.label_set)?;
        labels(s, "LABELINC", &self.label_inc)?;
        for e in &self.other_extensions {
            writeln!(s, "extension {} {}", e.name, e.type_id)?;
            for r in &e.rows {
                writeln!(s, "{r}")?;
            }
            writeln!(s)?;
        }
        Ok(())
    }

    /// Write the sequence as a signed format 1.5.0 file. The text goes to a
    /// temporary file next to `path` that is moved into place when complete
    /// ([`mre_solver::files::write_new`]); an existing `path` is replaced only
    /// with `force` ([`PulseqError::Exists`] otherwise).
    pub fn write(&self, path: impl AsRef<Path>, force: bool) -> Result<(), PulseqError> {
        let path = path.as_ref();
        files::write_new(path, force, |tmp| fs::write(tmp, self.to_string()).map_err(|e| io_error(path, e)))?;
        tracing::debug!(path = %path.display(), blocks = self.blocks.len(), "wrote Pulseq file");
        Ok(())
    }
}

impl fmt::Display for PulseqSequence {
    /// The signed format 1.5.0 text of the file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.body()?;
        let md5 = md5_hex(body.as_bytes());
        f.write_str(&body)?;
        writeln!(f, "\n[SIGNATURE]")?;
        writeln!(f, "# This is the hash of the Pulseq file, calculated right before the [SIGNATURE] section was added")?;
        writeln!(f, "# It can be reproduced/verified with md5sum if the file trimmed to the position right above [SIGNATURE]")?;
        writeln!(f, "# The new line character preceding [SIGNATURE] BELONGS to the signature (and needs to be stripped away for recalculating/verification)")?;
        writeln!(f, "Type md5\nHash {md5}")
    }
}
