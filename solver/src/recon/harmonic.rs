//! Temporal Fourier transform over the mechanical phase offsets.

use num_complex::Complex64;

/// First-harmonic complex amplitude `(2/N) Σ_k φ_k e^{-iθ_k}` of samples
/// `φ_k = φ(θ_k)` at equally spaced offsets `θ_k = 2πk/N` (N ≥ 3).
/// For `φ(θ) = c + Re{A e^{iθ}}` it returns `A` exactly.
pub fn first_harmonic(samples: &[f64]) -> Complex64 {
    let n = samples.len();
    let mut acc = Complex64::new(0.0, 0.0);
    for (k, &p) in samples.iter().enumerate() {
        acc += Complex64::from_polar(p, -2.0 * std::f64::consts::PI * k as f64 / n as f64);
    }
    acc * (2.0 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_first_harmonic_with_4_and_8_offsets() {
        let a = Complex64::new(0.7, -1.3);
        for n in [4usize, 8] {
            let s: Vec<f64> = (0..n)
                .map(|k| {
                    let th = 2.0 * std::f64::consts::PI * k as f64 / n as f64;
                    // constant + first harmonic + a third harmonic that must not leak (n ≥ 8 only)
                    0.4 + (a * Complex64::from_polar(1.0, th)).re + if n >= 8 { 0.2 * (3.0 * th).cos() } else { 0.0 }
                })
                .collect();
            assert!((first_harmonic(&s) - a).norm() < 1e-14);
        }
    }
}
