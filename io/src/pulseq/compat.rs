//! Filling in the fields format 1.4 does not store, exactly as pypulseq's
//! reader does (`read_seq.py`, "Port from v1.4.x", and `detect_rf_use`):
//!
//! - RF centre: the middle of the samples within 0.001 % of the peak magnitude
//!   (`calc_rf_center`);
//! - RF use: excitation below a 90.01° flip angle, saturation for pulses longer
//!   than 6 ms at −3.4…−3.5 ppm (fat), refocusing otherwise (flip angle
//!   `|Σ s_k (t_{k+1} − t_k)| · 360°` over all but the last sample);
//! - arbitrary gradient `first`: the previous block's `last` on that channel
//!   when that gradient ran to the block end without delay, else 0; `last`:
//!   the final sample of extended trapezoids, `(3 w_{n−1} − w_{n−2}) / 2` on the
//!   regular raster.

use std::collections::BTreeSet;

use super::error::PulseqError;
use super::model::{GradEvent, GradTiming, PulseqSequence, RfUse};
use super::waveform::{arbitrary_samples, rf_shape};

/// pypulseq's default main field for the fat-saturation test, T.
const B0_T: f64 = 1.5;
/// pypulseq's γ/2π, Hz/T.
const GAMMA_HZ_PER_T: f64 = 42.576e6;

/// Upgrade a 1.4.x model in place; returns a sentence saying what was inferred.
pub(crate) fn upgrade_v14(seq: &mut PulseqSequence, file: &str) -> Result<String, PulseqError> {
    let invalid = |message: String| PulseqError::Invalid { file: file.into(), message };
    let rasters = seq.rasters();
    let mut counts = [0usize; 3];
    let ids: Vec<u32> = seq.rf.keys().copied().collect();
    for id in ids {
        let rf = &seq.rf[&id];
        let shape = rf_shape(seq, rf, &rasters).map_err(|e| invalid(format!("RF {id}: {e}")))?;
        let peak = shape.signal_hz.iter().map(|s| s.norm()).fold(0.0, f64::max);
        let idx: Vec<usize> = (0..shape.t_s.len()).filter(|&i| shape.signal_hz[i].norm() >= peak * 0.99999).collect();
        let (Some(&lo), Some(&hi)) = (idx.first(), idx.last()) else {
            return Err(invalid(format!("RF {id}: no sample reaches the peak magnitude {peak} Hz (samples not finite?)")));
        };
        let center_s = 0.5 * (shape.t_s[lo] + shape.t_s[hi]);
        let area: num_complex::Complex64 = shape.signal_hz.windows(2).zip(shape.t_s.windows(2)).map(|(s, t)| s[0] * (t[1] - t[0])).sum();
        let flip_deg = area.norm() * 360.0;
        let offres_ppm = 1e6 * rf.freq_offset_hz / B0_T / GAMMA_HZ_PER_T;
        let rf_use = if flip_deg < 90.01 {
            RfUse::Excitation
        } else if shape.duration_s > 6e-3 && (-3.5..=-3.4).contains(&offres_ppm) {
            RfUse::Saturation
        } else {
            RfUse::Refocusing
        };
        counts[match rf_use {
            RfUse::Excitation => 0,
            RfUse::Refocusing => 1,
            _ => 2,
        }] += 1;
        if let Some(rf) = seq.rf.get_mut(&id) {
            rf.center_us = center_s * 1e6;
            rf.rf_use = rf_use;
        }
    }
    let n_grads = upgrade_gradients(seq).map_err(invalid)?;
    Ok(format!(
        "as pypulseq does, inferred RF centres and uses ({} excitation, {} refocusing, {} saturation) and first/last of {n_grads} arbitrary gradients",
        counts[0], counts[1], counts[2]
    ))
}

/// pypulseq's second pass over the blocks for `first`/`last` of arbitrary gradients.
fn upgrade_gradients(seq: &mut PulseqSequence) -> Result<usize, String> {
    let rasters = seq.rasters();
    let mut done: BTreeSet<u32> = BTreeSet::new();
    let mut prev_last = [0.0f64; 3];
    for bi in 0..seq.blocks.len() {
        let block = seq.blocks[bi];
        let block_s = block.duration as f64 * rasters.block_s;
        let mut processed = [0u32; 3];
        let mut updated = Vec::new(); // pypulseq reads the block once, before updating

        for j in 0..3 {
            let id = block.gradients[j];
            let Some(GradEvent::Arbitrary(a)) = seq.gradients.get(&id) else {
                prev_last[j] = 0.0;
                continue;
            };
            if a.delay_us > 0.0 {
                prev_last[j] = 0.0;
            }
            if done.contains(&id) {
                continue;
            }
            let (tt, w) = arbitrary_samples(seq, a, &rasters).map_err(|e| format!("gradient {id}: {e}"))?;
            let first = prev_last[j];
            let n = w.len();
            let (last, duration) = if a.timing != GradTiming::RasterCenters {
                (w[n - 1], a.delay_us * 1e-6 + tt[n - 1])
            } else {
                let last = if n >= 2 { (3.0 * w[n - 1] - w[n - 2]) * 0.5 } else { w[0] };
                (last, a.delay_us * 1e-6 + n as f64 * rasters.gradient_s)
            };
            prev_last[j] = if duration + f64::EPSILON < block_s { 0.0 } else { last };
            if j > 0 && processed[..j].contains(&id) {
                continue;
            }
            processed[j] = id;
            if let Some(GradEvent::Arbitrary(a)) = seq.gradients.get_mut(&id) {
                a.first_hz_per_m = first;
                a.last_hz_per_m = last;
            }
            updated.push(id);
        }
        done.extend(updated);
    }
    Ok(done.len())
}
