//! The plain f64 reference kernel: one spin at a time, exact rotations with libm.

use num_complex::Complex64;

use super::Isochromats;
use crate::model::motion::Motion;
use crate::plan::{SequencePlan, NO_ADC};
use crate::units::GAMMA_RAD_PER_S_PER_T as GAMMA;

/// Rodrigues rotation of `m` by `angle` about the unit axis `n`.
pub fn rotate(m: [f64; 3], n: [f64; 3], angle: f64) -> [f64; 3] {
    let (s, c) = angle.sin_cos();
    let cross = [n[1] * m[2] - n[2] * m[1], n[2] * m[0] - n[0] * m[2], n[0] * m[1] - n[1] * m[0]];
    let dot = n[0] * m[0] + n[1] * m[1] + n[2] * m[2];
    [0, 1, 2].map(|j| m[j] * c + cross[j] * s + n[j] * dot * (1.0 - c))
}

/// Run `plan` on every spin, one after the other, in f64 with libm.
///
/// With `motion = None` the spin phase uses the plan's harmonic motion moments
/// and `iso.amplitude_m` (exact for harmonic motion). With `Some(motion)` the
/// displacement is evaluated at each step's midpoint on the motion clock and the
/// phase is `γ m0·(r + u)`: the general stepping kernel for arbitrary motion,
/// accurate to the step length (use a raster plan).
///
/// Magnetisation is stored as `(Mx, My, Mz)` with the transverse part `Mx + i My`.
pub fn reference(iso: &Isochromats, plan: &SequencePlan, motion: Option<&dyn Motion>) -> Vec<Complex64> {
    let mut signal = vec![Complex64::new(0.0, 0.0); plan.n_signal];
    let moving = !iso.amplitude_m.is_empty();
    for i in 0..iso.len() {
        let r = iso.position_m[i];
        let class = iso.relax_class[i] as usize;
        let (t1, t2) = (iso.t1_s[class], iso.t2_s[class]);
        let mut m = [0.0, 0.0, 1.0];
        for s in 0..plan.len() {
            if plan.rf_angle_rad[s] != 0.0 {
                let ph = plan.rf_phase_rad[s];
                m = rotate(m, [ph.cos(), ph.sin(), 0.0], plan.rf_angle_rad[s]);
            }
            let dt = plan.dt_s[s];
            if dt > 0.0 {
                let m0 = plan.m0[s];
                let phi = match motion {
                    Some(mo) => {
                        let u = mo.displacement(r, plan.motion_time_s[s]);
                        GAMMA * (0..3).map(|a| m0[a] * (r[a] + u[a])).sum::<f64>()
                    }
                    None => {
                        let mut p = GAMMA * (0..3).map(|a| m0[a] * r[a]).sum::<f64>();
                        if moving {
                            let u = iso.amplitude_m[i];
                            p += GAMMA * (0..3).map(|a| (plan.mw[s][a] * u[a]).re).sum::<f64>();
                        }
                        p
                    }
                } + iso.off_resonance_rad_per_s[i] * dt;
                m = rotate(m, [0.0, 0.0, 1.0], -phi);
                let (e1, e2) = ((-dt / t1).exp(), (-dt / t2).exp());
                m = [m[0] * e2, m[1] * e2, m[2] * e1 + (1.0 - e1)];
            }
            let adc = plan.adc[s];
            if adc != NO_ADC {
                let rx = Complex64::from_polar(iso.weight[i], -plan.adc_phase_rad[s]);
                signal[adc as usize] += Complex64::new(m[0], m[1]) * rx;
            }
            if plan.spoil[s] {
                m[0] = 0.0;
                m[1] = 0.0;
            }
        }
    }
    signal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rodrigues_about_x_tips_z_to_minus_y() {
        let m = rotate([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], std::f64::consts::FRAC_PI_2);
        assert!((m[1] + 1.0).abs() < 1e-15 && m[2].abs() < 1e-15);
        // rotation about z by -φ multiplies Mx + i My by e^{-iφ}
        let m = rotate([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], -0.3);
        assert!((m[0] - 0.3f64.cos()).abs() < 1e-15 && (m[1] + 0.3f64.sin()).abs() < 1e-15);
    }
}
