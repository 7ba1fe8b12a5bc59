//! What the simulator's timeline of a sequence will hold, checked before it is built.
//!
//! Every event is checked once: its waveform must stay finite (amplitude × shape,
//! shape times × raster, ADC dwell × samples) and it adds a known number of RF
//! rotations, gradient corner points and ADC samples. Every block adds those of its
//! events and of its extension list; the running total, turned into bytes with the
//! sizes of the structures the conversion fills, is compared with the memory budget of
//! [`mre_solver::limits`] block by block, so the error names the block that tips it.
//! The parser reports these errors at the line of the event or block row;
//! [`PulseqSequence::to_timeline`] checks a hand-built model the same way.

use std::collections::BTreeMap;
use std::mem::size_of;

use mre_solver::limits;
use mre_solver::sequence::{AdcSample, GradientPiece, RfPulse};

use super::model::{AdcEvent, Block, ExtensionRef, GradEvent, GradTiming, PulseqSequence, Rasters, RfEvent};
use super::timeline::AdcSampleInfo;

/// Bytes per ADC sample: the timeline's sample, its metadata, its time and k-space position.
const ADC_SAMPLE_BYTES: u64 = (size_of::<AdcSample>() + size_of::<AdcSampleInfo>() + size_of::<f64>() + size_of::<[f64; 3]>()) as u64;
/// Bytes per RF rotation: the pulse and its raster cell (centre, width, B1).
const RF_CELL_BYTES: u64 = (size_of::<RfPulse>() + 4 * size_of::<f64>()) as u64;
/// Bytes per gradient corner: time, value and integral of the channel, and one piece.
const GRAD_POINT_BYTES: u64 = (3 * size_of::<f64>() + size_of::<GradientPiece>()) as u64;
/// Bytes per extension of a block (resolved each time the block is converted).
const EXT_BYTES: u64 = size_of::<ExtensionRef<'static>>() as u64;

/// An event of a sequence, for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventId {
    /// `[RF]` row.
    Rf(u32),
    /// `[GRADIENTS]` or `[TRAP]` row.
    Gradient(u32),
    /// `[ADC]` row.
    Adc(u32),
}

/// What a block or a whole sequence adds to the timeline (counts saturate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TimelineCost {
    /// ADC samples.
    pub adc_samples: u64,
    /// RF rotations (raster cells of the pulses).
    pub rf_cells: u64,
    /// Gradient corner points.
    pub grad_points: u64,
    /// Extensions resolved.
    pub extensions: u64,
}

impl TimelineCost {
    fn add(self, o: TimelineCost) -> TimelineCost {
        TimelineCost {
            adc_samples: self.adc_samples.saturating_add(o.adc_samples),
            rf_cells: self.rf_cells.saturating_add(o.rf_cells),
            grad_points: self.grad_points.saturating_add(o.grad_points),
            extensions: self.extensions.saturating_add(o.extensions),
        }
    }

    /// Lower bound of the bytes the conversion allocates for this much.
    pub fn bytes(&self) -> u128 {
        u128::from(self.adc_samples) * u128::from(ADC_SAMPLE_BYTES)
            + u128::from(self.rf_cells) * u128::from(RF_CELL_BYTES)
            + u128::from(self.grad_points) * u128::from(GRAD_POINT_BYTES)
            + u128::from(self.extensions) * u128::from(EXT_BYTES)
    }
}

fn finite(v: f64, what: &str) -> Result<f64, String> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{what} is {v}: beyond the range of numbers"))
    }
}

fn peak(samples: &[f64]) -> f64 {
    samples.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// RF rotations of one pulse; `Err` when a shape is missing or the waveform is not finite.
pub(crate) fn rf_cells(seq: &PulseqSequence, rf: &RfEvent, rasters: &Rasters) -> Result<u64, String> {
    let shape =
        |id: u32, what: &str| seq.shapes.get(&id).map(|s| s.samples()).ok_or_else(|| format!("{what} shape {id} is not in [SHAPES]"));
    let mag = shape(rf.magnitude_shape, "magnitude")?;
    shape(rf.phase_shape, "phase")?;
    finite(rf.amplitude_hz * peak(mag), &format!("amplitude {} Hz × magnitude peak {}", rf.amplitude_hz, peak(mag)))?;
    finite(rf.delay_s() + rf.center_s(), "delay + centre")?;
    if rf.time_shape == 0 {
        return Ok(mag.len() as u64);
    }
    let t = shape(rf.time_shape, "time")?;
    let (first, last) = (t.first().copied().unwrap_or(0.0), t.last().copied().unwrap_or(0.0));
    let span = finite((last - first) * rasters.rf_s, &format!("time shape {} span", rf.time_shape))?;
    // the pulse is resampled on the RF raster over its span
    Ok((span / rasters.rf_s).round().max(1.0) as u64)
}

/// Gradient corner points of one event; `Err` when a shape is missing or the waveform is not finite.
pub(crate) fn grad_points(seq: &PulseqSequence, g: &GradEvent, rasters: &Rasters) -> Result<u64, String> {
    match g {
        GradEvent::Trap(t) => {
            finite((t.delay_us + t.rise_us + t.flat_us + t.fall_us) * 1e-6, "delay + rise + flat + fall")?;
            Ok(4)
        }
        GradEvent::Arbitrary(a) => {
            let w = seq.shapes.get(&a.shape).ok_or_else(|| format!("amplitude shape {} is not in [SHAPES]", a.shape))?.samples();
            finite(a.amplitude_hz_per_m * peak(w), &format!("amplitude {} Hz/m × shape peak {}", a.amplitude_hz_per_m, peak(w)))?;
            let span = match a.timing {
                GradTiming::RasterCenters | GradTiming::Oversampled => (w.len() as f64 + 1.0) * rasters.gradient_s,
                GradTiming::Shape(id) => {
                    let t = seq.shapes.get(&id).ok_or_else(|| format!("time shape {id} is not in [SHAPES]"))?.samples();
                    peak(t) * rasters.gradient_s
                }
            };
            finite(a.delay_us * 1e-6 + span, "delay + duration")?;
            Ok(w.len() as u64 + 2)
        }
    }
}

/// ADC samples of one event; `Err` when its times or phases are not finite.
pub(crate) fn adc_samples(a: &AdcEvent) -> Result<u64, String> {
    let n = f64::from(a.num_samples);
    let span = finite(a.delay_s() + (n + 0.5) * a.dwell_s(), "delay + samples × dwell")?;
    finite(
        2.0 * std::f64::consts::PI * a.freq_offset_hz * span,
        &format!("the phase of frequency offset {} Hz over the ADC", a.freq_offset_hz),
    )?;
    Ok(u64::from(a.num_samples))
}

/// Length of the extension list starting at each entry of `[EXTENSIONS]`, `None` when it
/// loops; each entry is followed once. A missing entry ends a list (the reader reports it).
pub(crate) fn extension_lengths(seq: &PulseqSequence) -> BTreeMap<u32, Option<u64>> {
    let mut len: BTreeMap<u32, Option<u64>> = BTreeMap::new();
    for &head in seq.extension_list.keys() {
        let mut path = Vec::new();
        let mut on_path = std::collections::HashSet::new();
        let mut next = head;
        let tail = loop {
            if next == 0 {
                break Some(0);
            }
            if let Some(&l) = len.get(&next) {
                break l;
            }
            if !on_path.insert(next) {
                break None;
            }
            let Some(link) = seq.extension_list.get(&next) else { break Some(0) };
            path.push(next);
            next = link.next;
        };
        for (k, id) in path.iter().rev().enumerate() {
            len.insert(*id, tail.map(|t| t + k as u64 + 1));
        }
    }
    len
}

/// Check every event and the running total of the blocks against the memory budget.
/// `on_event` and `on_block` (block index) turn a message into the caller's error.
pub(crate) fn check_timeline_cost<E>(
    seq: &PulseqSequence,
    on_event: impl Fn(EventId, String) -> E,
    on_block: impl Fn(usize, String) -> E,
) -> Result<TimelineCost, E> {
    let rasters = seq.rasters();
    let mut rf = BTreeMap::new();
    for (&id, ev) in &seq.rf {
        rf.insert(id, rf_cells(seq, ev, &rasters).map_err(|m| on_event(EventId::Rf(id), m))?);
    }
    let mut grad = BTreeMap::new();
    for (&id, ev) in &seq.gradients {
        grad.insert(id, grad_points(seq, ev, &rasters).map_err(|m| on_event(EventId::Gradient(id), m))?);
    }
    let mut adc = BTreeMap::new();
    for (&id, ev) in &seq.adc {
        adc.insert(id, adc_samples(ev).map_err(|m| on_event(EventId::Adc(id), m))?);
    }
    let ext = extension_lengths(seq);
    let budget = limits::budget().map_or(0, |(b, _)| u128::from(b));
    let mut total = TimelineCost::default();
    let mut raster_count: u64 = 0;
    for (i, b) in seq.blocks.iter().enumerate() {
        let cost = block_cost(b, &rf, &grad, &adc, &ext);
        total = total.add(cost);
        raster_count = raster_count.saturating_add(b.duration);
        finite(raster_count as f64 * rasters.block_s, "the sequence time at the end of this block")
            .map_err(|m| on_block(i, format!("block {}: {m}", b.id)))?;
        if total.bytes() > budget {
            let what = format!(
                "block {} ({}): the timeline up to here, {} ADC samples, {} RF rotations and {} gradient corners,",
                b.id,
                describe(b, &cost),
                total.adc_samples,
                total.rf_cells,
                total.grad_points
            );
            limits::check_memory(&what, total.bytes()).map_err(|e| on_block(i, e.to_string()))?;
        }
    }
    Ok(total)
}

fn block_cost(
    b: &Block,
    rf: &BTreeMap<u32, u64>,
    grad: &BTreeMap<u32, u64>,
    adc: &BTreeMap<u32, u64>,
    ext: &BTreeMap<u32, Option<u64>>,
) -> TimelineCost {
    let get = |m: &BTreeMap<u32, u64>, id: u32| m.get(&id).copied().unwrap_or(0);
    TimelineCost {
        adc_samples: get(adc, b.adc),
        rf_cells: get(rf, b.rf),
        grad_points: b.gradients.iter().map(|&g| get(grad, g)).fold(0u64, u64::saturating_add),
        extensions: ext.get(&b.ext).copied().flatten().unwrap_or(0),
    }
}

/// What a block plays, for the budget message.
fn describe(b: &Block, c: &TimelineCost) -> String {
    let mut parts = Vec::new();
    if b.adc != 0 {
        parts.push(format!("ADC {} with {} samples", b.adc, c.adc_samples));
    }
    if b.rf != 0 {
        parts.push(format!("RF {} with {} rotations", b.rf, c.rf_cells));
    }
    if c.grad_points > 0 {
        parts.push(format!("{} gradient corners", c.grad_points));
    }
    if c.extensions > 0 {
        parts.push(format!("{} extensions", c.extensions));
    }
    if parts.is_empty() {
        "no events".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pulseq::model::ExtensionLink;

    #[test]
    fn extension_lists_are_measured_once_and_loops_found() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/pulseq/bssfp.seq")).unwrap();
        let mut seq = crate::pulseq::parse_str(&text, "bssfp.seq").unwrap().sequence;
        let link = |next| ExtensionLink { type_id: 1, ref_id: 1, next };
        // 1 → 2 → 3 → end; 4 → 5 → 4 loops; 6 → 4 leads into the loop
        seq.extension_list = [(1, link(2)), (2, link(3)), (3, link(0)), (4, link(5)), (5, link(4)), (6, link(4))].into_iter().collect();
        let len = extension_lengths(&seq);
        assert_eq!([len[&1], len[&2], len[&3]], [Some(3), Some(2), Some(1)]);
        assert_eq!([len[&4], len[&5], len[&6]], [None, None, None]);
    }

    #[test]
    fn the_budget_names_the_block_that_tips_it() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/pulseq/gre_64.seq")).unwrap();
        let mut seq = crate::pulseq::parse_str(&text, "gre_64.seq").unwrap().sequence;
        let total = check_timeline_cost(&seq, |_, m| m, |_, m| m).unwrap();
        assert_eq!(total.adc_samples, seq.adc_sample_count());
        // an ADC of u32::MAX samples in the first block that plays one
        let first = seq.blocks.iter().position(|b| b.adc != 0).unwrap();
        let id = seq.blocks[first].adc;
        seq.adc.get_mut(&id).unwrap().num_samples = u32::MAX;
        let e = check_timeline_cost(&seq, |_, m| (usize::MAX, m), |i, m| (i, m)).unwrap_err();
        assert_eq!(e.0, first, "{}", e.1);
        assert!(e.1.contains(&format!("ADC {id} with 4294967295 samples")), "{}", e.1);
        // and the conversion refuses it before building anything
        let e = seq.to_timeline(&crate::pulseq::TimelineOptions::default()).unwrap_err().to_string();
        assert!(e.contains("memory budget"), "{e}");
    }
}
