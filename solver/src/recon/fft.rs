//! Centred multi-dimensional inverse FFT (rustfft).
//!
//! k-space index `p` along an axis of length `N` holds `k = (p - N/2)·Δk`; image
//! index `j` holds position `x = (j - N/2)·Δx` (integer division), the same
//! centring as the phantom grid. With `s(k) = Σ m(x) e^{-ikx}` and `Δk Δx N = 2π`
//! this inverts exactly: `m_j = (1/N) Σ_p s_p e^{+i k_p x_j}`.

use ndarray::{Array3, Axis};
use num_complex::Complex64;
use rustfft::FftPlanner;

/// Inverse centred FFT over all three axes of `[nz, ny, nx]` k-space (axes of
/// length 1 are left alone); normalised by `1/N` per axis.
pub fn centred_ifft(k: &Array3<Complex64>) -> Array3<Complex64> {
    let mut out = k.clone();
    let mut planner = FftPlanner::<f64>::new();
    for ax in 0..3 {
        let n = out.len_of(Axis(ax));
        if n == 1 {
            continue;
        }
        let fft = planner.plan_fft_inverse(n);
        let mut buf = vec![Complex64::new(0.0, 0.0); n];
        let mut scratch = vec![Complex64::new(0.0, 0.0); fft.get_inplace_scratch_len()];
        let h = n / 2;
        let scale = 1.0 / n as f64;
        for mut lane in out.lanes_mut(Axis(ax)) {
            // shift so that k = 0 sits at index 0
            for (q, b) in buf.iter_mut().enumerate() {
                *b = lane[(q + h) % n];
            }
            fft.process_with_scratch(&mut buf, &mut scratch);
            // image index j holds x = (j - h)·Δx, i.e. FFT output index (j - h) mod n
            for j in 0..n {
                lane[j] = buf[(j + n - h) % n] * scale;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_direct_sum_for_odd_and_even_sizes() {
        for &(ny, nx) in &[(4usize, 6usize), (5, 3)] {
            let k = Array3::from_shape_fn((1, ny, nx), |(_, y, x)| Complex64::new((y * 7 + x) as f64 * 0.1, (x as f64 - y as f64).sin()));
            let img = centred_ifft(&k);
            for j in 0..ny {
                for i in 0..nx {
                    let mut s = Complex64::new(0.0, 0.0);
                    for p in 0..ny {
                        for q in 0..nx {
                            let ky = (p as f64 - (ny / 2) as f64) / ny as f64;
                            let kx = (q as f64 - (nx / 2) as f64) / nx as f64;
                            let xj = j as f64 - (ny / 2) as f64;
                            let xi = i as f64 - (nx / 2) as f64;
                            s += k[[0, p, q]] * Complex64::from_polar(1.0, 2.0 * std::f64::consts::PI * (ky * xj + kx * xi));
                        }
                    }
                    s /= (nx * ny) as f64;
                    assert!((s - img[[0, j, i]]).norm() < 1e-12);
                }
            }
        }
    }
}
