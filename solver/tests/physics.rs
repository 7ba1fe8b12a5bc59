//! Physics of the Bloch simulation against closed-form results.

use mre_solver::bloch::{fast::fast, reference, Isochromats, Precision};
use mre_solver::model::scanner::Scanner;
use mre_solver::plan::{Integration, SequencePlan};
use mre_solver::sequence::{AdcSample, GradientPiece, GreMre, Meg, PieceShape, Polarities, RfPulse, Spoiling, Timeline, Trigger};
use mre_solver::units::{Axis, GAMMA_RAD_PER_S_PER_T as GAMMA};
use num_complex::Complex64;
use std::f64::consts::PI;

fn one_spin(r: [f64; 3], u: Option<[Complex64; 3]>, t1: f64, t2: f64) -> Isochromats {
    Isochromats {
        position_m: vec![r],
        amplitude_m: u.map(|u| vec![u]).unwrap_or_default(),
        off_resonance_rad_per_s: vec![0.0],
        weight: vec![1.0],
        relax_class: vec![0],
        t1_s: vec![t1],
        t2_s: vec![t2],
    }
}

/// 90° pulse, a sinusoidal MEG on z of `cycles` at `f_meg` starting at `t_meg`
/// (the trigger, with mechanical phase offset `theta`), one ADC sample at its end.
fn meg_timeline(f_meg: f64, cycles: u32, g0: f64, theta: f64) -> Timeline {
    let t_meg = 1e-3;
    let dur = cycles as f64 / f_meg;
    Timeline {
        duration_s: t_meg + dur + 1e-3,
        gradients: vec![GradientPiece {
            start_s: t_meg,
            duration_s: dur,
            shape: PieceShape::Sine { amplitude: [g0, 0.0, 0.0], frequency_hz: f_meg },
        }],
        rf: vec![RfPulse { time_s: 0.0, angle_rad: PI / 2.0, phase_rad: 0.0 }],
        adc: vec![AdcSample { time_s: t_meg + dur, index: 0, phase_rad: 0.0 }],
        spoil_s: vec![],
        triggers: vec![Trigger { time_s: t_meg, phase_offset_rad: theta }],
        n_signal: 1,
    }
}

fn kernels(iso: &Isochromats, plan: &SequencePlan) -> Vec<(&'static str, Complex64, f64)> {
    vec![
        ("reference", reference(iso, plan, None)[0], 1e-9),
        ("fast f64", fast(iso, plan, Precision::F64)[0], 1e-9),
        ("fast f32", fast(iso, plan, Precision::F32)[0], 2e-5),
    ]
}

#[test]
fn matched_meg_phase_follows_closed_form() {
    let (f, n, g0, u0) = (60.0, 2u32, 0.03, 15e-6);
    let omega = 2.0 * PI * f;
    // u(t) = U0 sin(ω t + θ) = Re{-i U0 e^{i(ωt+θ)}} along z
    let u = [Complex64::new(0.0, -u0), Complex64::new(0.0, 0.0), Complex64::new(0.0, 0.0)];
    for theta in [0.0, 0.7, PI / 2.0 + 0.2, 2.5, 4.0] {
        let tl = meg_timeline(f, n, g0, theta);
        let expected = GAMMA * g0 * u0 * n as f64 / f / 2.0 * theta.cos();
        for integration in [Integration::Events, Integration::Raster { step_s: 10e-6 }] {
            let plan = SequencePlan::build(&tl, omega, integration).unwrap();
            let still = reference(&one_spin([0.0; 3], None, 10.0, 10.0), &plan, None)[0];
            for (name, s, tol) in kernels(&one_spin([0.0; 3], Some(u), 10.0, 10.0), &plan) {
                // Mxy ← Mxy e^{-iφ}: the measured phase is -φ
                let phi = -(s / still).arg();
                let err = (phi - expected).abs() / expected.abs().max(1e-3);
                let tol = tol.max(1e-6);
                assert!(err < tol, "{name} {integration:?} θ={theta}: φ = {phi}, expected {expected}, rel err {err:e}");
            }
        }
    }
}

#[test]
fn fractional_encoding_matches_numerical_integral() {
    // MEG at f_meg, motion at f: φ = γ ∫ G(t) u(t) dt by brute-force quadrature.
    let (f_meg, g0, u0, theta) = (100.0, 0.02, 10e-6, 0.4);
    let mut ratios = Vec::new();
    for f in [50.0, 60.0, 100.0, 200.0] {
        let omega = 2.0 * PI * f;
        let tl = meg_timeline(f_meg, 1, g0, theta);
        let u = [Complex64::new(0.0, -u0), Complex64::new(0.0, 0.0), Complex64::new(0.0, 0.0)];
        let n = 400_000;
        let dur = 1.0 / f_meg;
        let h = dur / n as f64;
        let quad: f64 = (0..n)
            .map(|i| {
                let tau = (i as f64 + 0.5) * h;
                g0 * (2.0 * PI * f_meg * tau).sin() * u0 * (omega * tau + theta).sin() * h
            })
            .sum::<f64>()
            * GAMMA;
        let plan = SequencePlan::build(&tl, omega, Integration::Events).unwrap();
        let still = reference(&one_spin([0.0; 3], None, 10.0, 10.0), &plan, None)[0];
        let s = reference(&one_spin([0.0; 3], Some(u), 10.0, 10.0), &plan, None)[0];
        let phi = -(s / still).arg();
        assert!((phi - quad).abs() < 1e-6 * quad.abs().max(1e-3), "f = {f}: {phi} vs {quad}");
        // amplitude of encoding relative to the matched case, maximised over θ
        let seq_ratio = {
            let mut g = GreMre::example_for_tests();
            g.meg = Meg { axis: Axis::Z, frequency_hz: f_meg, cycles: 1, amplitude_t_per_m: g0 };
            g.encoding_factor(omega).norm() / (GAMMA * g0 / f_meg / 2.0)
        };
        ratios.push((f / f_meg, seq_ratio));
    }
    // design note: about 0.85 at f/f_MEG = 0.5, 1 matched, 0 at 2
    assert!((ratios[0].1 - 0.85).abs() < 0.01, "{ratios:?}");
    assert!((ratios[2].1 - 1.0).abs() < 1e-12, "{ratios:?}");
    assert!(ratios[3].1 < 1e-12, "{ratios:?}");
}

#[test]
fn fid_and_inversion_recovery_follow_relaxation_curves() {
    let (t1, t2) = (0.9, 0.06);
    // FID: 90° then samples
    let times: Vec<f64> = (1..=20).map(|k| k as f64 * 0.01).collect();
    let tl = Timeline {
        duration_s: 0.25,
        rf: vec![RfPulse { time_s: 0.0, angle_rad: PI / 2.0, phase_rad: 0.3 }],
        adc: times.iter().enumerate().map(|(i, &t)| AdcSample { time_s: t, index: i as u32, phase_rad: 0.0 }).collect(),
        n_signal: times.len(),
        ..Default::default()
    };
    let plan = SequencePlan::build(&tl, 0.0, Integration::Events).unwrap();
    let iso = one_spin([0.0, 0.01, -0.02], None, t1, t2);
    for (name, sig) in
        [("ref", reference(&iso, &plan, None)), ("f64", fast(&iso, &plan, Precision::F64)), ("f32", fast(&iso, &plan, Precision::F32))]
    {
        for (s, &t) in sig.iter().zip(&times) {
            let e = (-t / t2).exp();
            assert!((s.norm() - e).abs() < 1e-6, "{name} FID at {t}: {} vs {e}", s.norm());
        }
    }
    // Inversion recovery: 180°, TI, 90°, sample right away
    for ti in [0.05, 0.3, 0.6, 1.5, 3.0] {
        let tl = Timeline {
            duration_s: ti + 1e-3,
            rf: vec![RfPulse { time_s: 0.0, angle_rad: PI, phase_rad: 0.0 }, RfPulse { time_s: ti, angle_rad: PI / 2.0, phase_rad: 0.0 }],
            adc: vec![AdcSample { time_s: ti + 1e-9, index: 0, phase_rad: 0.0 }],
            n_signal: 1,
            ..Default::default()
        };
        let plan = SequencePlan::build(&tl, 0.0, Integration::Events).unwrap();
        let s = reference(&iso, &plan, None)[0];
        let f = fast(&iso, &plan, Precision::F64)[0];
        let mz = 1.0 - 2.0 * (-ti / t1).exp();
        // after the 90° about x, Mz becomes -My
        assert!((-s.im - mz).abs() < 1e-7, "IR TI={ti}: {} vs {mz}", -s.im);
        assert!((f - s).norm() < 1e-12);
    }
}

#[test]
fn spoiled_gre_reaches_ernst_steady_state() {
    let (t1, t2) = (0.8, 0.05);
    for (alpha_deg, tr, te) in [(15.0, 0.02, 0.01), (40.0, 0.05, 0.02), (90.0, 0.1, 0.03)] {
        let mut g = GreMre::example_for_tests();
        g.matrix = [1, 1, 1];
        g.tr_s = tr;
        g.te_s = te;
        g.flip_angle_rad = f64::to_radians(alpha_deg);
        g.meg.amplitude_t_per_m = 0.0;
        g.meg.frequency_hz = 500.0;
        g.polarities = Polarities::Positive;
        g.phase_offsets = 3;
        g.dummy_scans = (12.0 * t1 / tr) as usize;
        g.spoiling = Spoiling::Ideal;
        let tl = g.timeline(&Scanner::default()).unwrap();
        let plan = SequencePlan::build(&tl, 0.0, Integration::Events).unwrap();
        let iso = one_spin([0.0; 3], None, t1, t2);
        let a = g.flip_angle_rad;
        let e1 = (-tr / t1).exp();
        let ernst = a.sin() * (1.0 - e1) / (1.0 - e1 * a.cos()) * (-te / t2).exp();
        for (name, sig) in
            [("ref", reference(&iso, &plan, None)), ("f64", fast(&iso, &plan, Precision::F64)), ("f32", fast(&iso, &plan, Precision::F32))]
        {
            for s in &sig {
                let tol = if name == "f32" { 1e-5 } else { 1e-9 };
                assert!((s.norm() / ernst - 1.0).abs() < tol, "{name} α={alpha_deg}: {} vs Ernst {ernst}", s.norm());
            }
        }
    }
}

#[test]
fn stepping_kernel_with_general_motion_converges_to_the_harmonic_path() {
    use mre_solver::model::motion::{HarmonicMotion, PlaneShearWave};
    // a short GRE-MRE with a real plane wave; spins at a few positions
    let mut g = GreMre::example_for_tests();
    g.matrix = [1, 4, 8];
    g.dummy_scans = 0;
    let tl = g.timeline(&Scanner::default()).unwrap();
    let omega = 2.0 * PI * 60.0;
    let wave = PlaneShearWave::new(60.0, 3000.0, 300.0, 1000.0, 20e-6, [0.0, 0.6, 0.8], [1.0, 0.0, 0.0]).unwrap();
    let positions: Vec<[f64; 3]> = (0..6).map(|i| [0.0, -0.02 + 0.008 * i as f64, 0.01 - 0.004 * i as f64]).collect();
    let iso = Isochromats {
        amplitude_m: positions.iter().map(|&r| mre_solver::Displacement::amplitude(&wave, r)).collect(),
        position_m: positions,
        off_resonance_rad_per_s: vec![30.0; 6],
        weight: vec![1.0; 6],
        relax_class: vec![0; 6],
        t1_s: vec![1.0],
        t2_s: vec![0.1],
    };
    let events = SequencePlan::build(&tl, omega, Integration::Events).unwrap();
    let exact = reference(&iso, &events, None);
    let motion = HarmonicMotion { field: &wave, omega_rad_per_s: omega, phase_offset_rad: 0.0 };
    let mut errs = Vec::new();
    for step in [40e-6, 20e-6, 10e-6] {
        let raster = SequencePlan::build(&tl, omega, Integration::Raster { step_s: step }).unwrap();
        let stepped = reference(&iso, &raster, Some(&motion));
        let err = exact.iter().zip(&stepped).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max)
            / exact.iter().map(|a| a.norm()).fold(0.0, f64::max);
        errs.push(err);
    }
    // midpoint rule: second order in the step
    assert!(errs[2] < 1e-4, "{errs:?}");
    assert!(errs[0] / errs[2] > 10.0, "not converging at second order: {errs:?}");
}
