//! Cross-section references of a parsed file, checked against the line of the
//! row that makes them: blocks → events, events → shapes, extension lists → rows.

use super::super::cost::{check_timeline_cost, EventId};
use super::super::error::{PulseqError, PulseqWarning};
use super::super::model::{GradEvent, GradTiming};
use super::super::shapes::Shape;
use super::Parser;

impl Parser<'_> {
    /// Check every reference; unknown label names become warnings.
    pub(super) fn check_references(&mut self) -> Result<(), PulseqError> {
        let seq = &self.seq;
        let shape_len = |id: u32| seq.shapes.get(&id).map(Shape::len);
        let mut seen = std::collections::HashSet::new();
        let ext_len = super::super::cost::extension_lengths(seq);
        for (b, &line) in seq.blocks.iter().zip(&self.rows.blocks) {
            let at = |msg: String| self.err_at(line, "[BLOCKS]", format!("block {}: {msg}", b.id));
            if !seen.insert(b.id) {
                return Err(at("block id defined twice".into()));
            }
            if b.rf != 0 && !seq.rf.contains_key(&b.rf) {
                return Err(at(format!("references RF event {}, which [RF] does not define", b.rf)));
            }
            for (g, ch) in b.gradients.iter().zip(["gx", "gy", "gz"]) {
                if *g != 0 && !seq.gradients.contains_key(g) {
                    return Err(at(format!("references {ch} gradient {g}, which neither [GRADIENTS] nor [TRAP] defines")));
                }
            }
            if b.adc != 0 && !seq.adc.contains_key(&b.adc) {
                return Err(at(format!("references ADC event {}, which [ADC] does not define", b.adc)));
            }
            // each list is followed once for all blocks (a block per entry of a long list
            // would otherwise take quadratic time)
            match ext_len.get(&b.ext) {
                _ if b.ext == 0 => {}
                None => return Err(at(format!("extension list entry {} is not in [EXTENSIONS]", b.ext))),
                Some(None) => return Err(at(format!("extension list starting at {} loops", b.ext))),
                Some(Some(_)) => {}
            }
        }
        for (id, rf) in &seq.rf {
            let at = |msg: String| self.err_at(self.rows.rf[id], "[RF]", format!("RF {id}: {msg}"));
            let n =
                shape_len(rf.magnitude_shape).ok_or_else(|| at(format!("magnitude shape {} is not in [SHAPES]", rf.magnitude_shape)))?;
            let np = shape_len(rf.phase_shape).ok_or_else(|| at(format!("phase shape {} is not in [SHAPES]", rf.phase_shape)))?;
            if np != n {
                return Err(at(format!("phase shape has {np} samples, magnitude shape {n}")));
            }
            if rf.time_shape != 0 {
                let nt = shape_len(rf.time_shape).ok_or_else(|| at(format!("time shape {} is not in [SHAPES]", rf.time_shape)))?;
                if nt != n {
                    return Err(at(format!("time shape has {nt} samples, magnitude shape {n}")));
                }
            }
            if n == 0 {
                return Err(at("empty magnitude shape".into()));
            }
        }
        for (id, g) in &seq.gradients {
            let GradEvent::Arbitrary(a) = g else { continue };
            let (line, section) = self.rows.gradients[id];
            let at = |msg: String| self.err_at(line, section, format!("gradient {id}: {msg}"));
            let n = shape_len(a.shape).ok_or_else(|| at(format!("amplitude shape {} is not in [SHAPES]", a.shape)))?;
            match a.timing {
                GradTiming::Shape(t) => {
                    let nt = shape_len(t).ok_or_else(|| at(format!("time shape {t} is not in [SHAPES]")))?;
                    if nt != n {
                        return Err(at(format!("time shape has {nt} samples, amplitude shape {n}")));
                    }
                }
                GradTiming::Oversampled if n % 2 == 0 => return Err(at(format!("oversampled shape needs an odd sample count, has {n}"))),
                _ => {}
            }
            if n == 0 {
                return Err(at("empty amplitude shape".into()));
            }
        }
        for (id, adc) in &seq.adc {
            if adc.phase_shape == 0 {
                continue;
            }
            let at = |msg: String| self.err_at(self.rows.adc[id], "[ADC]", format!("ADC {id}: {msg}"));
            let n = shape_len(adc.phase_shape).ok_or_else(|| at(format!("phase shape {} is not in [SHAPES]", adc.phase_shape)))?;
            if n != adc.num_samples as usize {
                return Err(at(format!("phase shape has {n} samples for {} ADC samples", adc.num_samples)));
            }
        }
        for (id, link) in &seq.extension_list {
            let at = |msg: String| self.err_at(self.rows.extensions[id], "[EXTENSIONS]", format!("entry {id}: {msg}"));
            if link.next != 0 && !seq.extension_list.contains_key(&link.next) {
                return Err(at(format!("next entry {} is not in [EXTENSIONS]", link.next)));
            }
            seq.resolve_extension(link).map_err(at)?;
        }
        // what the timeline will hold: every event's waveform finite, the blocks within the
        // memory budget, checked here to name the line
        let event_line = |e: EventId| match e {
            EventId::Rf(id) => (self.rows.rf.get(&id).copied().unwrap_or(0), "[RF]", format!("RF {id}")),
            EventId::Gradient(id) => {
                let (line, section) = self.rows.gradients.get(&id).copied().unwrap_or((0, "[GRADIENTS]"));
                (line, section, format!("gradient {id}"))
            }
            EventId::Adc(id) => (self.rows.adc.get(&id).copied().unwrap_or(0), "[ADC]", format!("ADC {id}")),
        };
        check_timeline_cost(
            seq,
            |e, msg| {
                let (line, section, name) = event_line(e);
                self.err_at(line, section, format!("{name}: {msg}"))
            },
            |i, msg| self.err_at(self.rows.blocks.get(i).copied().unwrap_or(0), "[BLOCKS]", msg),
        )?;
        for (line, name) in &self.rows.labels {
            self.warnings.push(PulseqWarning::UnknownLabel { file: self.file.into(), line: *line, name: name.clone() });
        }
        Ok(())
    }
}
