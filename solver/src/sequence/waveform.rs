//! Gradient waveform pieces with closed-form moments.
//!
//! For a piece on `[t_s, t_s + D]` the plan needs, over any sub-interval
//! `[t1, t2]`, the zeroth moment `∫ G dt` (T·s/m) and the harmonic motion moment
//! `∫ G(t) e^{iω(t - t_ref)} dt` (T·s/m). Both are evaluated in closed form in a
//! form that stays accurate for `ω Δt → 0` (sinc with a series near zero).

use num_complex::Complex64;

/// The shape of one gradient piece; amplitudes are `[z, y, x]` in T/m.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PieceShape {
    /// Linear from `from` to `to` over the piece (a constant when equal; trapezoid ramps).
    Linear {
        /// Amplitude at the start of the piece `[z, y, x]`, T/m.
        from: [f64; 3],
        /// Amplitude at the end of the piece `[z, y, x]`, T/m.
        to: [f64; 3],
    },
    /// `amplitude · sin(2π f τ)`, τ from the piece start.
    Sine {
        /// Peak amplitude `[z, y, x]`, T/m.
        amplitude: [f64; 3],
        /// Frequency `f`, Hz.
        frequency_hz: f64,
    },
}

/// A gradient waveform piece on `[start_s, start_s + duration_s)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientPiece {
    /// Start time, s.
    pub start_s: f64,
    /// Duration, s.
    pub duration_s: f64,
    /// Shape.
    pub shape: PieceShape,
}

/// sin(x)/x, accurate near 0.
pub fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-4 {
        1.0 - x * x / 6.0
    } else {
        x.sin() / x
    }
}

/// `∫_{a}^{b} e^{iνt} dt`, accurate for any ν.
pub fn exp_integral(nu: f64, a: f64, b: f64) -> Complex64 {
    let d = b - a;
    let m = 0.5 * (a + b);
    Complex64::from_polar(d * sinc(0.5 * nu * d), nu * m)
}

/// `∫_{a}^{b} t e^{iνt} dt`, accurate for any ν.
pub fn t_exp_integral(nu: f64, a: f64, b: f64) -> Complex64 {
    let h = 0.5 * (b - a);
    let m = 0.5 * (a + b);
    // ∫_{-h}^{h} s e^{iνs} ds = 2i (sin(νh)/ν² - h cos(νh)/ν)
    let x = nu * h;
    let odd =
        if x.abs() < 1e-2 { nu * h * h * h * (1.0 / 3.0 - x * x / 30.0 + x.powi(4) / 840.0) } else { (x.sin() - x * x.cos()) / (nu * nu) };
    Complex64::from_polar(1.0, nu * m) * (Complex64::new(m * 2.0 * h * sinc(x), 0.0) + Complex64::new(0.0, 2.0 * odd))
}

impl GradientPiece {
    /// End time, s.
    pub fn end_s(&self) -> f64 {
        self.start_s + self.duration_s
    }

    /// Gradient at `tau` seconds after the piece start, T/m.
    pub fn value(&self, tau: f64) -> [f64; 3] {
        match self.shape {
            PieceShape::Linear { from, to } => {
                let f = if self.duration_s > 0.0 { tau / self.duration_s } else { 0.0 };
                [0, 1, 2].map(|a| from[a] + (to[a] - from[a]) * f)
            }
            PieceShape::Sine { amplitude, frequency_hz } => {
                let s = (2.0 * std::f64::consts::PI * frequency_hz * tau).sin();
                amplitude.map(|a| a * s)
            }
        }
    }

    /// Largest |G| over the piece per axis, T/m.
    pub fn max_amplitude(&self) -> [f64; 3] {
        match self.shape {
            PieceShape::Linear { from, to } => [0, 1, 2].map(|a| from[a].abs().max(to[a].abs())),
            PieceShape::Sine { amplitude, frequency_hz } => {
                let quarter = 0.25 / frequency_hz;
                if self.duration_s >= quarter {
                    amplitude.map(f64::abs)
                } else {
                    let s = (2.0 * std::f64::consts::PI * frequency_hz * self.duration_s).sin();
                    amplitude.map(|a| (a * s).abs())
                }
            }
        }
    }

    /// Largest |dG/dt| over the piece per axis, T/m/s.
    pub fn max_slew(&self) -> [f64; 3] {
        match self.shape {
            PieceShape::Linear { from, to } => {
                if self.duration_s > 0.0 {
                    [0, 1, 2].map(|a| (to[a] - from[a]).abs() / self.duration_s)
                } else {
                    [0.0; 3]
                }
            }
            PieceShape::Sine { amplitude, frequency_hz } => amplitude.map(|a| a.abs() * 2.0 * std::f64::consts::PI * frequency_hz),
        }
    }

    /// Moments over the part of the piece inside `[t1, t2]` (absolute times):
    /// `(∫ G dt, ∫ G e^{iω(t - t_ref)} dt)`, both `[z, y, x]` in T·s/m.
    pub fn moments(&self, t1: f64, t2: f64, omega: f64, t_ref: f64) -> ([f64; 3], [Complex64; 3]) {
        let a = (t1.max(self.start_s) - self.start_s).max(0.0);
        let b = (t2.min(self.end_s()) - self.start_s).min(self.duration_s);
        if b <= a {
            return ([0.0; 3], [Complex64::new(0.0, 0.0); 3]);
        }
        // e^{iω(t - t_ref)} = e^{iω(start - t_ref)} e^{iωτ}
        let phase0 = Complex64::from_polar(1.0, omega * (self.start_s - t_ref));
        match self.shape {
            PieceShape::Linear { from, to } => {
                let slope = [0, 1, 2].map(|k| if self.duration_s > 0.0 { (to[k] - from[k]) / self.duration_s } else { 0.0 });
                let e0 = exp_integral(omega, a, b) * phase0;
                let e1 = t_exp_integral(omega, a, b) * phase0;
                let m0 = [0, 1, 2].map(|k| from[k] * (b - a) + slope[k] * 0.5 * (b * b - a * a));
                let mw = [0, 1, 2].map(|k| e0 * from[k] + e1 * slope[k]);
                (m0, mw)
            }
            PieceShape::Sine { amplitude, frequency_hz } => {
                let big = 2.0 * std::f64::consts::PI * frequency_hz;
                // sin(Ωτ) = (e^{iΩτ} - e^{-iΩτ}) / 2i
                let m0s = (exp_integral(big, a, b) - exp_integral(-big, a, b)) / Complex64::new(0.0, 2.0);
                let mws = (exp_integral(omega + big, a, b) - exp_integral(omega - big, a, b)) / Complex64::new(0.0, 2.0) * phase0;
                (amplitude.map(|g| g * m0s.re), amplitude.map(|g| mws * g))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// Midpoint-rule quadrature of the same moments, the naive oracle.
    fn quad(p: &GradientPiece, t1: f64, t2: f64, omega: f64, t_ref: f64) -> ([f64; 3], [Complex64; 3]) {
        let n = 200_000;
        let h = (t2 - t1) / n as f64;
        let mut m0 = [0.0; 3];
        let mut mw = [Complex64::new(0.0, 0.0); 3];
        for i in 0..n {
            let t = t1 + (i as f64 + 0.5) * h;
            if t < p.start_s || t >= p.end_s() {
                continue;
            }
            let g = p.value(t - p.start_s);
            let e = Complex64::from_polar(h, omega * (t - t_ref));
            for a in 0..3 {
                m0[a] += g[a] * h;
                mw[a] += e * g[a];
            }
        }
        (m0, mw)
    }

    #[test]
    fn closed_form_moments_match_quadrature() {
        let pieces = [
            GradientPiece {
                start_s: 1e-3,
                duration_s: 3e-3,
                shape: PieceShape::Linear { from: [0.0, 0.01, -0.02], to: [0.03, 0.01, 0.0] },
            },
            GradientPiece {
                start_s: 0.5e-3,
                duration_s: 2.0 / 60.0,
                shape: PieceShape::Sine { amplitude: [0.03, 0.0, 0.0], frequency_hz: 60.0 },
            },
            GradientPiece {
                start_s: 0.0,
                duration_s: 1.0 / 90.0,
                shape: PieceShape::Sine { amplitude: [0.0, 0.02, 0.0], frequency_hz: 90.0 },
            },
        ];
        for p in &pieces {
            for &(t1, t2) in &[(0.0, 0.05), (2e-3, 3.5e-3), (1.7e-3, 1.71e-3)] {
                for &omega in &[0.0, 2.0 * std::f64::consts::PI * 60.0, 2.0 * std::f64::consts::PI * 37.0] {
                    let (a0, aw) = p.moments(t1, t2, omega, 0.3e-3);
                    let (q0, qw) = quad(p, t1, t2, omega, 0.3e-3);
                    let scale = p.max_amplitude().iter().cloned().fold(0.0, f64::max) * (t2 - t1);
                    for k in 0..3 {
                        assert!((a0[k] - q0[k]).abs() <= 1e-7 * scale, "{p:?} m0 {a0:?} vs {q0:?}");
                        assert!((aw[k] - qw[k]).norm() <= 1e-7 * scale, "{p:?} mw {aw:?} vs {qw:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn matched_sine_moment_is_i_n_t_over_2() {
        // ∫_0^{NT} sin(ωτ) e^{iωτ} dτ = i N T / 2
        let f = 60.0;
        let n = 3.0;
        let p = GradientPiece { start_s: 0.0, duration_s: n / f, shape: PieceShape::Sine { amplitude: [1.0, 0.0, 0.0], frequency_hz: f } };
        let (m0, mw) = p.moments(0.0, 1.0, 2.0 * std::f64::consts::PI * f, 0.0);
        assert!(m0[0].abs() < 1e-15);
        assert_relative_eq!(mw[0].im, n / f / 2.0, max_relative = 1e-12);
        assert!(mw[0].re.abs() < 1e-15);
    }
}
