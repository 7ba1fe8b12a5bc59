//! `[SHAPES]`: Pulseq's run-length compression of the derivative.
//!
//! A shape is stored as `num_samples` and a packed list. When the list is as
//! long as `num_samples` it holds the samples themselves; otherwise it holds the
//! first differences of the samples, where a value written twice in a row is
//! followed by a repeat count `r` meaning "this difference `r + 2` times". The
//! samples are the cumulative sum of the unpacked differences. This is exactly
//! pypulseq's `compress_shape` / `decompress_shape` (and MATLAB Pulseq's).

/// Quantum of the compressed derivative (pypulseq `quant_factor`).
const QUANTUM: f64 = 1e-7;

/// One shape: the packed form as stored in a file and the decompressed samples.
///
/// Samples are dimensionless (magnitude and gradient shapes are scaled by the
/// event amplitude), phase shapes are in cycles (multiplied by 2π for RF), and
/// time shapes are in units of the RF or gradient raster.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    packed: Vec<f64>,
    samples: Vec<f64>,
}

impl Shape {
    /// A shape from its samples, compressed as pypulseq compresses
    /// (shapes of up to 4 samples, and shapes that do not get shorter, are
    /// stored uncompressed).
    ///
    /// The packed derivative is quantised to 1e-7, so [`Shape::samples`] of the
    /// result can differ from `samples` by about that much (pypulseq's
    /// tolerance); non-finite samples are stored uncompressed.
    pub fn from_samples(samples: Vec<f64>) -> Self {
        let packed = compress(&samples).unwrap_or_else(|| samples.clone());
        let samples = if packed.len() == samples.len() { samples } else { decompress(samples.len(), &packed).unwrap_or(samples) };
        Shape { packed, samples }
    }

    /// A shape from its stored form; `Err` says what is wrong with the packing.
    pub fn from_packed(num_samples: usize, packed: Vec<f64>) -> Result<Self, String> {
        let samples = decompress(num_samples, &packed)?;
        Ok(Shape { packed, samples })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True for a shape without samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The decompressed samples.
    pub fn samples(&self) -> &[f64] {
        &self.samples
    }

    /// The packed list as stored in a file.
    pub fn packed(&self) -> &[f64] {
        &self.packed
    }

    /// True when the stored form is compressed (shorter than the samples).
    pub fn is_compressed(&self) -> bool {
        self.packed.len() != self.samples.len()
    }
}

/// pypulseq's `compress_shape`: `None` when the shape is stored as it is.
pub fn compress(samples: &[f64]) -> Option<Vec<f64>> {
    if samples.len() <= 4 || samples.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let scaled: Vec<f64> = samples.iter().map(|v| v / QUANTUM).collect();
    // quantised derivative, with the rounding error of the running sum fed back
    let mut datq = Vec::with_capacity(scaled.len());
    datq.push(scaled[0].round_ties_even());
    datq.extend(scaled.windows(2).map(|w| (w[1] - w[0]).round_ties_even()));
    let mut acc = 0.0;
    let qerr: Vec<f64> = scaled
        .iter()
        .zip(&datq)
        .map(|(s, q)| {
            acc += q;
            (s - acc).round_ties_even()
        })
        .collect();
    let datd: Vec<f64> = (0..datq.len()).map(|i| datq[i] + if i == 0 { 0.0 } else { qerr[i] - qerr[i - 1] }).collect();
    let mut packed = Vec::new();
    let mut start = 0;
    while start < datd.len() {
        let mut end = start + 1;
        while end < datd.len() && datd[end] == datd[start] {
            end += 1;
        }
        let value = datd[start] * QUANTUM;
        let run = end - start;
        if run > 1 {
            packed.extend([value, value, (run - 2) as f64]);
        } else {
            packed.push(value);
        }
        start = end;
    }
    (packed.len() < samples.len()).then_some(packed)
}

/// pypulseq's `decompress_shape`, with every index checked, the size checked against the
/// memory budget ([`mre_solver::limits`]) before it is allocated, and samples that the
/// cumulative sum takes beyond the range of `f64` refused.
pub fn decompress(num_samples: usize, packed: &[f64]) -> Result<Vec<f64>, String> {
    if packed.len() == num_samples {
        return Ok(packed.to_vec());
    }
    if packed.len() > num_samples {
        return Err(format!("{} packed values for {num_samples} samples (expected at most {num_samples})", packed.len()));
    }
    mre_solver::limits::check_array(&format!("num_samples {num_samples}"), &[num_samples as u64], 8).map_err(|e| e.to_string())?;
    let mut out = vec![0.0; num_samples];
    let mut pack = 0usize;
    let mut unpack = 0usize;
    let markers = (0..packed.len().saturating_sub(1)).filter(|&i| packed[i + 1] == packed[i]);
    for next in markers {
        if next < pack {
            continue; // a repeat count equal to the value, not a marker
        }
        let literal = next - pack;
        if unpack + literal > num_samples {
            return Err(format!("packed data expands to more than {num_samples} samples"));
        }
        out[unpack..unpack + literal].copy_from_slice(&packed[pack..next]);
        pack += literal;
        unpack += literal;
        let count = *packed.get(pack + 2).ok_or_else(|| format!("repeat marker at packed value {} has no count", pack + 1))?;
        if !(count >= 0.0 && count.fract() == 0.0) {
            return Err(format!("repeat count {count} at packed value {} is not a non-negative integer", pack + 3));
        }
        let rep = count as usize + 2;
        if unpack + rep > num_samples {
            return Err(format!("packed data expands to more than {num_samples} samples"));
        }
        out[unpack..unpack + rep].fill(packed[pack]);
        pack += 3;
        unpack += rep;
    }
    let rest = packed.len().saturating_sub(pack);
    if rest != num_samples - unpack {
        return Err(format!("packed data expands to {} samples, expected {num_samples}", unpack + rest));
    }
    out[unpack..].copy_from_slice(&packed[pack..]);
    let mut acc = 0.0;
    for (i, v) in out.iter_mut().enumerate() {
        acc += *v;
        if !acc.is_finite() {
            return Err(format!(
                "sample {} of the decompressed shape is {acc} (the packed differences add up beyond the range of numbers)",
                i + 1
            ));
        }
        *v = acc;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trapezoid_compresses_and_round_trips() {
        let s: Vec<f64> =
            (0..10).map(|i| i as f64 * 0.1).chain(std::iter::repeat_n(1.0, 30)).chain((0..10).rev().map(|i| i as f64 * 0.1)).collect();
        let packed = compress(&s).unwrap();
        assert_eq!(packed.len(), 10, "{packed:?}");
        let back = decompress(s.len(), &packed).unwrap();
        for (a, b) in s.iter().zip(&back) {
            assert!((a - b).abs() < 1e-9);
        }
    }

    #[test]
    fn pypulseq_example() {
        // pypulseq: compress_shape([0, .1, .2, .3, .4, .4]) -> 0, .1, .1, 2, 0  (diff 0.1 four times, then 0)
        let p = compress(&[0.0, 0.1, 0.2, 0.3, 0.4, 0.4]).unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(p[3], 2.0);
        assert!(decompress(6, &[0.0, 1.0, 1.0, 99.0]).is_err());
        assert!(decompress(6, &[0.0, 1.0, 1.0]).is_err());
        assert!(decompress(3, &[0.0, 1.0, 1.0, 1.0]).is_err());
        assert!(decompress(5, &[0.0, 1.0, 1.0, -1.0]).is_err());
        assert_eq!(decompress(4, &[0.0, 1.0, 1.0, -1.0]).unwrap(), [0.0, 1.0, 1.0, -1.0]);
    }

    #[test]
    fn hostile_packings_are_refused_before_allocating() {
        // 1e18 samples from four packed values: refused by the budget, not allocated
        let e = decompress(1_000_000_000_000_000_000, &[0.0, 1.0, 1.0, 1e18 - 3.0]).unwrap_err();
        assert!(e.contains("num_samples 1000000000000000000 needs at least"), "{e}");
        // differences that add up to infinity
        let e = decompress(6, &[1e308, 1e308, 4.0]).unwrap_err();
        assert!(e.contains("sample 2 of the decompressed shape is inf"), "{e}");
    }
}
