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

/// Least-squares fit of a complex amplitude `U` to phases
/// `φ_k = b + Re{d_k U}` with known per-sample encodings `d_k` (rad/m) and an
/// unknown background `b`. For equally spaced offsets `d_k = ξ e^{2πik/N}`
/// (N ≥ 3) it equals [`first_harmonic`]` / ξ`; it also serves acquisitions whose
/// offsets come from their own timing.
#[derive(Debug, Clone, PartialEq)]
pub struct HarmonicFit {
    /// Rows of the pseudo-inverse giving Re U and Im U from the phases.
    re: Vec<f64>,
    im: Vec<f64>,
}

impl HarmonicFit {
    /// Set up the fit for encodings `d`; None when they do not determine `U`
    /// (fewer than 3, or not spread over the complex plane).
    pub fn new(d: &[Complex64]) -> Option<Self> {
        if d.len() < 3 {
            return None;
        }
        // columns: 1, Re d, −Im d (Re{dU} = Re d · Re U − Im d · Im U), the last two scaled to O(1)
        let scale = d.iter().map(|d| d.norm()).fold(0.0, f64::max);
        if !(scale > 0.0 && scale.is_finite()) {
            return None;
        }
        let rows: Vec<[f64; 3]> = d.iter().map(|d| [1.0, d.re / scale, -d.im / scale]).collect();
        let mut ata = [[0.0; 3]; 3];
        for r in &rows {
            for i in 0..3 {
                for j in 0..3 {
                    ata[i][j] += r[i] * r[j];
                }
            }
        }
        // equally spaced offsets give det/n³ = 1/4; reject (near-)rank-deficient designs
        let n = d.len() as f64;
        if det3(&ata) / (n * n * n) < 1e-9 {
            return None;
        }
        let inv = invert3(&ata)?;
        let row = |k: usize| rows.iter().map(|r| (0..3).map(|j| inv[k][j] * r[j]).sum::<f64>() / scale).collect();
        Some(Self { re: row(1), im: row(2) })
    }

    /// The fitted U for phases `phi` (same order as the encodings).
    pub fn fit(&self, phi: &[f64]) -> Complex64 {
        let dot = |w: &[f64]| w.iter().zip(phi).map(|(a, b)| a * b).sum::<f64>();
        Complex64::new(dot(&self.re), dot(&self.im))
    }
}

/// The first-harmonic encoding `(1/N) Σ_k d_k e^{-2πik/N}` of per-offset encodings:
/// for `d_k = ξ e^{2πik/N}` it is ξ, so `first_harmonic(φ) = ξ U`.
pub fn equivalent_encoding(d: &[Complex64]) -> Complex64 {
    let n = d.len() as f64;
    d.iter().enumerate().map(|(k, &v)| v * Complex64::from_polar(1.0, -2.0 * std::f64::consts::PI * k as f64 / n)).sum::<Complex64>() / n
}

fn det3(a: &[[f64; 3]; 3]) -> f64 {
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
}

fn invert3(a: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = det3(a);
    if det == 0.0 || !det.is_finite() {
        return None;
    }
    let c = |i: usize, j: usize| {
        let (r0, r1) = ((i + 1) % 3, (i + 2) % 3);
        let (c0, c1) = ((j + 1) % 3, (j + 2) % 3);
        a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]
    };
    // inverse = adjugate / det: inv[j][i] = cofactor(i, j) / det
    Some([0, 1, 2].map(|j| [0, 1, 2].map(|i| c(i, j) / det)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_fit_equals_first_harmonic_for_even_offsets_and_handles_uneven_ones() {
        let u = Complex64::new(2e-6, -1e-6);
        let xi = Complex64::new(3e4, 1e5);
        for n in [3usize, 4, 8] {
            let d: Vec<Complex64> =
                (0..n).map(|k| xi * Complex64::from_polar(1.0, 2.0 * std::f64::consts::PI * k as f64 / n as f64)).collect();
            let phi: Vec<f64> = d.iter().map(|d| 0.3 + (d * u).re).collect();
            let fit = HarmonicFit::new(&d).unwrap();
            assert!((fit.fit(&phi) - u).norm() < 1e-12 * u.norm());
            assert!((first_harmonic(&phi) / equivalent_encoding(&d) - u).norm() < 1e-12 * u.norm());
        }
        // offsets set by timing: 0, 100, 190, 280 degrees and unequal efficiencies
        let d: Vec<Complex64> = [(1.0, 0.0), (0.9, 100.0), (1.1, 190.0), (1.0, 280.0)]
            .iter()
            .map(|&(m, a)| xi * Complex64::from_polar(m, f64::to_radians(a)))
            .collect();
        let phi: Vec<f64> = d.iter().map(|d| -0.7 + (d * u).re).collect();
        assert!((HarmonicFit::new(&d).unwrap().fit(&phi) - u).norm() < 1e-12 * u.norm());
        // all shots encode the same way: U is not determined
        assert!(HarmonicFit::new(&[xi, xi, xi, xi]).is_none());
        assert!(HarmonicFit::new(&[xi, -xi]).is_none());
    }

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
