//! Analytic reference solutions for the wave solver.
//!
//! - Bessel functions of integer order and complex argument: [`bessel_j`], [`bessel_y`],
//!   [`hankel2`] (and whole sequences of orders, [`bessel_j_orders`], [`bessel_y_orders`],
//!   [`hankel2_orders`]). No maintained pure-Rust crate provides them for complex arguments.
//! - [`CylinderScattering`]: a plane shear wave scattered by a circular cylinder, the exact
//!   solution of the 2-D scalar equation `∇·(G*∇u) + ρω²u = 0` with piecewise-constant
//!   `G*` and `ρ`, used to validate the finite-volume solver.
//! - [`ElasticCylinderScattering`]: the plane-strain (P–SV) scattering of a plane shear wave by
//!   a circular viscoelastic cylinder (Pao & Mow), the exact solution of the 2-D Navier
//!   equation, used to validate the vector solver and the vector inversion.
//!
//! # Conventions
//! Time dependence `u = Re{U e^{iωt}}` as everywhere in the solver: a wave travelling along
//! `+x` is `e^{−ikx}` with `k = ω√(ρ/G*)`, `Im k ≤ 0`
//! ([`shear_wavenumber`]), and outgoing cylindrical waves are Hankel functions of the
//! second kind, `H_n^(2)(kr) ~ √(2/(πkr)) e^{−i(kr − nπ/2 − π/4)}`.
//!
//! # Bessel functions: methods and accuracy
//! Everything is computed in the closed fourth quadrant `Re z ≥ 0`, `Im z ≤ 0` (where lossy
//! media put `kr`) and carried to the other quadrants by the reflection formulas.
//! - `J_n(z)`: Miller's backward recurrence from an order well beyond `max(n, |z|)`,
//!   normalised with the Jacobi–Anger sum `e^{iz} = J_0 + 2 Σ_k i^k J_k`, of modulus ≥ 1 there
//!   (no cancellation in the normalisation). Relative accuracy ~1e-15 for every order,
//!   including tiny values far beyond the turning point `n > |z|` (down to underflow).
//!   Tiny `|z|` (< 1e-8): power series.
//! - `H_0^(2)`, `H_1^(2)`: Hankel's asymptotic expansion for `|z| ≥ 18.5` (smallest term
//!   `~e^{−2|z|}`); below, `J − iY` with the Neumann series of `Y_0`, `Y_1` (A&S 9.1.88–89) when
//!   `|Im z| ≤ 2.5`, else the integral `K_ν(iz) = ∫_0^∞ e^{−iz cosh t} cosh νt dt` by the
//!   trapezoid rule: `H^(2)` is the recessive solution there, and `J − iY` would lose `e^{2|Im z|}`.
//! - `H_n^(2)` for `n ≥ 2` by forward recurrence (stable for the recessive `H^(2)` in the
//!   fourth quadrant) and `Y_n = i(H_n^(2) − J_n)` (no cancellation).
//!
//! Validated (unit tests) against tabulated values, independent integral representations,
//! arbitrary-precision (mpmath) values at complex arguments, the Wronskian and the recurrences.
//! Against mpmath at 90 digits over 10 000 random `(n, z)`, `n ≤ 80`, `|z| ≤ 40`, all phases:
//! relative error ≤ 4e-14 (except where `J_n` underflows); a spot check at `40 ≤ |z| ≤ 200`,
//! `n ≤ 200` gave ≤ 5e-14. Large orders at small `|z|` overflow
//! `Y_n` and `H_n^(2)` to infinity (e.g. `n = 80`, `|z| < 0.01`).

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};

use num_complex::Complex64;

use crate::model::motion::shear_wavenumber;

mod elastic;

pub use elastic::{ElasticCylinderScattering, ElasticMedium, PlaneStress, PolarFields, Side};

const ZERO: Complex64 = Complex64::new(0.0, 0.0);
const I: Complex64 = Complex64::new(0.0, 1.0);

/// Euler–Mascheroni constant γ.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Below this `|z|`, `J_n` comes from the first two terms of its power series (exact in f64);
/// above, from Miller's recurrence (whose ratios `2k/z` could overflow for tinier `z`).
const TINY_ARGUMENT: f64 = 1e-8;

/// Miller's recurrence rescales its sequence when a value exceeds this magnitude.
const RESCALE: f64 = 1e150;

/// `|z|` from which `H_0^(2)`, `H_1^(2)` (fourth quadrant) come from the asymptotic expansion, whose
/// smallest term `~e^{−2|z|}` is then below 1e-16.
const ASYMPTOTIC_THRESHOLD: f64 = 18.5;

/// `−Im z` from which `H_0^(2)`, `H_1^(2)` (below [`ASYMPTOTIC_THRESHOLD`]) come from an integral
/// rather than `J − iY`, whose cancellation then exceeds `e^{2·2.5} ≈ 150`.
const INTEGRAL_THRESHOLD: f64 = 2.5;

/// `J_n(z)`, Bessel function of the first kind of integer order `n` and complex argument `z`
/// (entire in `z`; `J_{−n} = (−1)^n J_n`).
pub fn bessel_j(n: i32, z: Complex64) -> Complex64 {
    let m = n.unsigned_abs() as usize;
    reflect(n, bessel_j_orders(m, z)[m])
}

/// `Y_n(z)`, Bessel function of the second kind of integer order `n` and complex argument `z`
/// (principal branch, cut along the negative real axis; `Y_{−n} = (−1)^n Y_n`; `−∞` at `z = 0`).
pub fn bessel_y(n: i32, z: Complex64) -> Complex64 {
    let m = n.unsigned_abs() as usize;
    reflect(n, bessel_y_orders(m, z)[m])
}

/// `H_n^(2)(z) = J_n(z) − i Y_n(z)`, Hankel function of the second kind (outgoing for `e^{iωt}`),
/// integer order `n`, complex argument `z` (principal branch; `H_{−n}^(2) = (−1)^n H_n^(2)`;
/// not finite at `z = 0`).
pub fn hankel2(n: i32, z: Complex64) -> Complex64 {
    let m = n.unsigned_abs() as usize;
    reflect(n, hankel2_orders(m, z)[m])
}

/// `(−1)^n v` for negative odd `n`, else `v`: the reflection `f_{−n} = (−1)^n f_n` shared by
/// `J`, `Y` and `H^(2)`.
fn reflect(n: i32, v: Complex64) -> Complex64 {
    if n < 0 && n % 2 != 0 {
        -v
    } else {
        v
    }
}

/// `a / b` without the overflow of `|b|²` in the textbook formula (`num_complex` divides by
/// `|b|²`, which overflows for `|b| ≳ 1e154` and underflows for `|b| ≲ 1e-154`).
fn div(a: Complex64, b: Complex64) -> Complex64 {
    let s = b.norm();
    (a / s) / (b / s)
}

/// Both parts finite.
fn is_finite(z: Complex64) -> bool {
    z.re.is_finite() && z.im.is_finite()
}

/// `[J_0(z), …, J_nmax(z)]`.
pub fn bessel_j_orders(nmax: usize, z: Complex64) -> Vec<Complex64> {
    let mut j = j_sequence(nmax, z);
    j.truncate(nmax + 1);
    j
}

/// `[Y_0(z), …, Y_nmax(z)]` (principal branch; `−∞` at `z = 0`).
pub fn bessel_y_orders(nmax: usize, z: Complex64) -> Vec<Complex64> {
    all_orders(nmax, z).y
}

/// `[H_0^(2)(z), …, H_nmax^(2)(z)]` (principal branch; not finite at `z = 0`).
pub fn hankel2_orders(nmax: usize, z: Complex64) -> Vec<Complex64> {
    all_orders(nmax, z).h
}

/// `J_n`, `Y_n` and `H_n^(2)` for `n = 0..=nmax` at one argument.
struct Orders {
    j: Vec<Complex64>,
    y: Vec<Complex64>,
    h: Vec<Complex64>,
}

/// All three kinds at once, reduced to the closed fourth quadrant (see [`fourth_quadrant`]) by
/// symmetry: `J_n(z̄) = conj J_n(z)`, `Y_n(z̄) = conj Y_n(z)` (upper right);
/// `J_n(−z) = (−1)^n J_n(z)` and `Y_n(z e^{±πi}) = (−1)^n (Y_n(z) ± 2i J_n(z))` (left half
/// plane, principal branch; on the cut, the sign of the zero imaginary part picks the side, as
/// for [`Complex64::ln`]); `H_n^(2) = J_n − iY_n` in the upper half plane, where it is dominant,
/// and `H_n^(2)(z e^{−πi}) = −(−1)^n H_n^(1)(z)` with `H_n^(1)(z) = conj H_n^(2)(z̄)` in the lower
/// left quadrant, where it is recessive.
fn all_orders(nmax: usize, z: Complex64) -> Orders {
    let len = nmax + 1;
    if !is_finite(z) {
        let nan = vec![Complex64::new(f64::NAN, f64::NAN); len];
        return Orders { j: nan.clone(), y: nan.clone(), h: nan };
    }
    if z == ZERO {
        let j: Vec<Complex64> = (0..len).map(|n| if n == 0 { Complex64::new(1.0, 0.0) } else { ZERO }).collect();
        let h = j.iter().map(|j| Complex64::new(j.re, f64::INFINITY)).collect();
        return Orders { j, y: vec![Complex64::new(f64::NEG_INFINITY, 0.0); len], h };
    }
    let sign = |n: usize| [1.0, -1.0][n % 2];
    let dominant = |j: Vec<Complex64>, y: Vec<Complex64>| {
        let h = j.iter().zip(&y).map(|(&j, &y)| j - I * y).collect();
        Orders { j, y, h }
    };
    if z.re >= 0.0 {
        if z.im <= 0.0 {
            fourth_quadrant(nmax, z)
        } else {
            let w = fourth_quadrant(nmax, z.conj());
            dominant(w.j.iter().map(Complex64::conj).collect(), w.y.iter().map(Complex64::conj).collect())
        }
    } else if z.im.is_sign_positive() {
        // Upper left: z = w e^{πi} with w = −z in the fourth quadrant.
        let w = fourth_quadrant(nmax, -z);
        let j = w.j.iter().enumerate().map(|(n, &j)| sign(n) * j).collect();
        let y = w.y.iter().zip(&w.j).enumerate().map(|(n, (&y, &j))| sign(n) * (y + 2.0 * I * j)).collect();
        dominant(j, y)
    } else {
        // Lower left: z = w' e^{−πi} with w' = −z = conj(w), w = −z̄ in the fourth quadrant.
        let w = fourth_quadrant(nmax, -z.conj());
        let j = w.j.iter().enumerate().map(|(n, &j)| sign(n) * j.conj()).collect();
        let y = w.y.iter().zip(&w.j).enumerate().map(|(n, (&y, &j))| sign(n) * (y.conj() - 2.0 * I * j.conj())).collect();
        let h = w.h.iter().enumerate().map(|(n, &h)| -sign(n) * h.conj()).collect();
        Orders { j, y, h }
    }
}

/// All three kinds in the closed fourth quadrant `Re z ≥ 0`, `Im z ≤ 0`, `z ≠ 0`, where
/// `H^(2)` is recessive (outgoing waves in lossy media): `J` by Miller's recurrence; `H_0^(2)`,
/// `H_1^(2)` from the asymptotic expansion (large `|z|`), from the integral `K_ν(iz)` (moderate
/// `|z|`, `|Im z|` large enough for `J − iY` to cancel) or as `J − iY` with the Neumann series of
/// `Y_0`, `Y_1`; `H_n^(2)` by forward recurrence, stable here because `|H_n^(1)/H_n^(2)|`
/// decreases with `n`; and `Y_n = i(H_n^(2) − J_n)`, which does not cancel (a forward recurrence
/// for `Y` would lose up to `e^{2|Im z|}` for `n < |z|`).
fn fourth_quadrant(nmax: usize, z: Complex64) -> Orders {
    let len = nmax + 1;
    let mut j = j_sequence(nmax, z);
    let mut h = if z.norm() >= ASYMPTOTIC_THRESHOLD {
        vec![hankel2_asymptotic(0, z), hankel2_asymptotic(1, z)]
    } else if -z.im > INTEGRAL_THRESHOLD {
        let (h0, h1) = hankel2_integral(z);
        vec![h0, h1]
    } else {
        let (y0, y1) = neumann_y01(z, &j);
        vec![j[0] - I * y0, j[1] - I * y1]
    };
    forward_recurrence(&mut h, nmax, z);
    h.truncate(len);
    j.truncate(len);
    let y = j.iter().zip(&h).map(|(&j, &h)| I * (h - j)).collect();
    Orders { j, y, h }
}

/// `(H_0^(2)(z), H_1^(2)(z))` for `Im z < 0` from `H_ν^(2)(z) = (2/π) i^{ν+1} K_ν(iz)` (DLMF
/// 10.27.8) and `K_ν(w) = ∫_0^∞ e^{−w cosh t} cosh(νt) dt` (`Re w > 0`), by the trapezoid rule:
/// the integrand is analytic in the strip `|Im t| < π/2 − |arg w|`, so with half that width `d`
/// the error is `~e^{−2πd/h}`; `h = πd/45` makes it ≲ 1e-19.
fn hankel2_integral(z: Complex64) -> (Complex64, Complex64) {
    debug_assert!(z.im < 0.0, "the K integral needs Im z < 0, got {z}");
    let w = I * z;
    let d = FRAC_PI_2 - w.arg().abs();
    let h = PI * d / 45.0;
    // Relative to the integrand at t = 0 (modulus e^{−Re w}), stop below e^{−42}.
    let (mut k0, mut k1) = (0.5 * (-w).exp(), 0.5 * (-w).exp());
    for step in 1.. {
        let t = step as f64 * h;
        let (c, weight) = (t.cosh(), (-w * t.cosh()).exp());
        k0 += weight;
        k1 += weight * c;
        if w.re * (c - 1.0) - t > 42.0 {
            break;
        }
    }
    (2.0 / PI * I * h * k0, -2.0 / PI * h * k1)
}

/// Extend `f = [f_0, f_1]` to `f_0..=f_nmax` (at least two entries) with the three-term recurrence
/// `f_{k+1} = (2k/z) f_k − f_{k−1}` shared by `Y` and `H^(2)` (stable in the forward direction
/// for them).
fn forward_recurrence(f: &mut Vec<Complex64>, nmax: usize, z: Complex64) {
    let inv = div(Complex64::new(1.0, 0.0), z);
    for k in 1..nmax {
        let next = f[k] * (2.0 * k as f64) * inv - f[k - 1];
        f.push(next);
    }
}

/// Order from which Miller's backward recurrence starts, for orders up to `nmax` at `|z|`:
/// beyond the turning point `n ≈ |z|` the ratio `J_M/J_n` must be ≲ 1e-9, which takes about
/// `3 |z|^{1/3} + 20` orders (Debye's expansion), with a margin.
fn miller_start(nmax: usize, abs_z: f64) -> usize {
    let base = nmax.max(abs_z.ceil() as usize);
    base + 30 + (4.0 * abs_z.cbrt()).ceil() as usize
}

/// `J_0(z), …, J_M(z)` for an `M ≥ nmax` large enough that the tail beyond `M` is negligible
/// (the Neumann series of `Y_0`, `Y_1` sum the whole sequence).
fn j_sequence(nmax: usize, z: Complex64) -> Vec<Complex64> {
    let abs_z = z.norm();
    if !abs_z.is_finite() {
        return vec![Complex64::new(f64::NAN, f64::NAN); nmax + 2];
    }
    if abs_z < TINY_ARGUMENT {
        // J_n(z) = (z/2)^n/n! (1 − (z/2)²/(n+1) + O(z⁴)); the next term is below 1e-32 relative.
        let half = 0.5 * z;
        let mut power = Complex64::new(1.0, 0.0);
        return (0..nmax + 2)
            .map(|n| {
                if n > 0 {
                    power *= half / n as f64;
                }
                power * (1.0 - half * half / (n + 1) as f64)
            })
            .collect();
    }
    let m = miller_start(nmax, abs_z);
    let inv = div(Complex64::new(1.0, 0.0), z);
    // f_{m+1} = 0, f_m = 1, f_{k−1} = (2k/z) f_k − f_{k+1}: proportional to J_k for k ≪ m.
    let mut f = vec![ZERO; m + 2];
    f[m] = Complex64::new(1.0, 0.0);
    for k in (1..=m).rev() {
        f[k - 1] = f[k] * (2.0 * k as f64) * inv - f[k + 1];
        if f[k - 1].norm() > RESCALE {
            for v in &mut f[k - 1..] {
                *v /= RESCALE;
            }
        }
    }
    // Normalise with e^{iz} = J_0 + 2 Σ i^k J_k (Im z ≤ 0) or e^{−iz} = J_0 + 2 Σ (−i)^k J_k
    // (Im z > 0): whichever has modulus ≥ 1, so that the sum does not cancel.
    let (unit, target) = if z.im <= 0.0 { (I, (I * z).exp()) } else { (-I, (-I * z).exp()) };
    let mut phase = Complex64::new(1.0, 0.0);
    let mut sum = f[0];
    for &v in &f[1..] {
        phase *= unit;
        sum += 2.0 * phase * v;
    }
    let scale = div(target, sum);
    f.truncate(m + 1);
    for v in &mut f {
        *v *= scale;
    }
    f
}

/// `(Y_0(z), Y_1(z))` from the sequence `j = J_0..=J_M` of [`j_sequence`] by their Neumann
/// series (A&S 9.1.88, 9.1.89), principal branch of `ln(z/2)`; `z ≠ 0`.
fn neumann_y01(z: Complex64, j: &[Complex64]) -> (Complex64, Complex64) {
    let log = (0.5 * z).ln() + EULER_GAMMA;
    // Y_0 = (2/π)(ln(z/2) + γ) J_0 − (4/π) Σ_{k≥1} (−1)^k J_{2k}/k
    let mut s0 = ZERO;
    // Y_1 = −2/(πz) J_0 + (2/π)(ln(z/2) + γ − 1) J_1 − (2/π) Σ_{k≥1} (−1)^k (2k+1) J_{2k+1}/(k(k+1))
    let mut s1 = ZERO;
    let mut sign = -1.0;
    for k in 1..j.len() / 2 {
        let kf = k as f64;
        s0 += sign * j[2 * k] / kf;
        if 2 * k + 1 < j.len() {
            s1 += sign * (2.0 * kf + 1.0) * j[2 * k + 1] / (kf * (kf + 1.0));
        }
        sign = -sign;
    }
    let y0 = (2.0 / PI) * (log * j[0] - 2.0 * s0);
    let y1 = (2.0 / PI) * ((log - 1.0) * j[1] - s1) - div(Complex64::new(2.0 / PI, 0.0), z) * j[0];
    (y0, y1)
}

/// `H_ν^(2)(z)` for `ν = 0, 1` from the Hankel asymptotic expansion (DLMF 10.17.6)
/// `√(2/(πz)) e^{−iω} Σ_k (−i)^k a_k(ν)/z^k`, `ω = z − νπ/2 − π/4`,
/// `a_k(ν) = Π_{j=1}^k (4ν² − (2j−1)²) / (k! 8^k)`, summed to its smallest term.
fn hankel2_asymptotic(nu: u32, z: Complex64) -> Complex64 {
    let mu = 4.0 * f64::from(nu * nu);
    let step = -I / z;
    let mut term = Complex64::new(1.0, 0.0);
    let mut sum = term;
    let mut last = f64::INFINITY;
    for k in 1..200 {
        let odd = (2 * k - 1) as f64;
        term *= step * ((mu - odd * odd) / (8.0 * k as f64));
        let size = term.norm();
        // The series is asymptotic: stop at its smallest term, or when it no longer matters.
        if size >= last || size < 1e-17 * sum.norm() {
            break;
        }
        sum += term;
        last = size;
    }
    let omega = z - f64::from(nu) * FRAC_PI_2 - FRAC_PI_4;
    (2.0 / (PI * z)).sqrt() * (-I * omega).exp() * sum
}

/// Relative size (to the largest term) below which a term of the cylinder series is negligible.
const SERIES_TOLERANCE: f64 = 1e-17;

/// Highest order the cylinder series may use (`|k|a` up to ~150).
const MAX_ORDER: usize = 200;

/// Coefficients `(A_n, B_n)` for `n = 0..=nmax` (fewer if they stop being finite) and the size
/// `max(|A_n J_n(x₂)|, |B_n H_n^(2)(x₁)|)` of each term at `r = a`; see [`CylinderScattering`].
fn coefficients(x1: Complex64, x2: Complex64, q: Complex64, nmax: usize) -> (Vec<Complex64>, Vec<Complex64>, Vec<f64>) {
    let j1 = bessel_j_orders(nmax + 1, x1);
    let j2 = bessel_j_orders(nmax + 1, x2);
    let h1 = hankel2_orders(nmax + 1, x1);
    let derivative = |f: &[Complex64], n: usize| if n == 0 { -f[1] } else { 0.5 * (f[n - 1] - f[n + 1]) };
    let wronskian = -2.0 * I / (PI * x1);
    let mut interior = Vec::with_capacity(nmax + 1);
    let mut scattered = Vec::with_capacity(nmax + 1);
    let mut sizes = Vec::with_capacity(nmax + 1);
    let mut phase = Complex64::new(1.0, 0.0); // (−i)^n
    for n in 0..=nmax {
        let (dj1, dj2, dh1) = (derivative(&j1, n), derivative(&j2, n), derivative(&h1, n));
        let d = j2[n] * dh1 - q * dj2 * h1[n];
        let a = div(phase * wronskian, d);
        let b = div(phase * (q * dj2 * j1[n] - j2[n] * dj1), d);
        let size = (a * j2[n]).norm().max((b * h1[n]).norm());
        if !size.is_finite() {
            break;
        }
        interior.push(a);
        scattered.push(b);
        sizes.push(size);
        phase *= -I;
    }
    (interior, scattered, sizes)
}

/// Total field of a unit plane wave `e^{−i k₁ x}` (along `+x`) scattered by a cylinder of
/// radius `a` (m) centred at the origin, axis along `z`: the exact solution of
/// `∇·(G*∇u) + ρω²u = 0` in the `x`–`y` plane with background `(G₁*, ρ₁)` for `r > a` and
/// inclusion `(G₂*, ρ₂)` for `r < a`, `u` and `G* ∂u/∂r` continuous at `r = a`.
///
/// With `k_j = ω√(ρ_j/G_j*)` and the Jacobi–Anger expansion
/// `e^{−ik₁x} = Σ_n (−i)^n J_n(k₁r) e^{inθ}`:
/// - outside, `u = e^{−ik₁x} + Σ_n B_n H_n^(2)(k₁r) e^{inθ}` (outgoing),
/// - inside, `u = Σ_n A_n J_n(k₂r) e^{inθ}`,
///
/// with, from the two interface conditions (`x_j = k_j a`, `q = G₂*k₂/(G₁*k₁)`,
/// Wronskian `J_nH_n^(2)′ − J_n′H_n^(2) = −2i/(πx₁)`):
/// `D_n = J_n(x₂) H_n^(2)′(x₁) − q J_n′(x₂) H_n^(2)(x₁)`,
/// `A_n = (−i)^n (−2i/(πx₁)) / D_n`,
/// `B_n = (−i)^n (q J_n′(x₂) J_n(x₁) − J_n(x₂) J_n′(x₁)) / D_n`.
/// `A_{−n} = (−1)^n A_n`, `B_{−n} = (−1)^n B_n`, so the sums are `Σ_{n≥0} ε_n c_n f_n cos nθ`
/// (`ε_0 = 1`, `ε_n = 2`). The orders run up to where the terms at `r = a` (their largest) fall
/// below 1e-17 of the largest term, `|k|a + 20` or so.
#[derive(Debug, Clone)]
pub struct CylinderScattering {
    /// Background wavenumber `k₁`, rad/m (`Im k₁ ≤ 0`).
    k_background: Complex64,
    /// Inclusion wavenumber `k₂`, rad/m.
    k_inclusion: Complex64,
    /// Background and inclusion complex moduli `G₁*`, `G₂*`, Pa.
    modulus: [Complex64; 2],
    /// Cylinder radius `a`, m.
    radius_m: f64,
    /// Interior coefficients `A_0..A_{N−1}`.
    interior: Vec<Complex64>,
    /// Scattering coefficients `B_0..B_{N−1}`.
    scattered: Vec<Complex64>,
    /// Size of the first omitted term (at `r = a`) relative to the largest term.
    tail: f64,
}

impl CylinderScattering {
    /// The scattering solution at angular frequency `omega` (rad/s) for a background and an
    /// inclusion given as `(G' Pa, G'' Pa, ρ kg/m³)` and a cylinder of radius `radius_m` (m).
    ///
    /// # Panics
    /// If `omega` or `radius_m` is not positive and finite, or a medium has `G' ≤ 0`, `G'' < 0`
    /// or `ρ ≤ 0` (or a non-finite value).
    pub fn new(omega: f64, background: (f64, f64, f64), inclusion: (f64, f64, f64), radius_m: f64) -> Self {
        assert!(omega > 0.0 && omega.is_finite(), "omega must be a positive angular frequency, got {omega}");
        assert!(radius_m > 0.0 && radius_m.is_finite(), "radius_m must be a positive length, got {radius_m}");
        for (name, (g1, g2, rho)) in [("background", background), ("inclusion", inclusion)] {
            assert!(
                g1 > 0.0 && g2 >= 0.0 && rho > 0.0 && g1.is_finite() && g2.is_finite() && rho.is_finite(),
                "{name} needs G' > 0, G'' ≥ 0, ρ > 0 (finite), got {:?}",
                (g1, g2, rho)
            );
        }
        let k1 = shear_wavenumber(omega, background.0, background.1, background.2);
        let k2 = shear_wavenumber(omega, inclusion.0, inclusion.1, inclusion.2);
        let g1 = Complex64::new(background.0, background.1);
        let g2 = Complex64::new(inclusion.0, inclusion.1);
        let (x1, x2) = (k1 * radius_m, k2 * radius_m);
        let q = g2 * k2 / (g1 * k1);

        let largest = x1.norm().max(x2.norm());
        let nmax = ((largest + 4.0 * largest.cbrt()).ceil() as usize + 20).min(MAX_ORDER);
        let (mut interior, mut scattered, sizes) = coefficients(x1, x2, q, nmax);
        // Keep the orders up to the first one, beyond the turning point, whose term is negligible;
        // the terms decrease monotonically (and super-exponentially) from there on.
        let peak = sizes.iter().copied().fold(0.0, f64::max);
        let cut = (0..sizes.len()).find(|&n| n as f64 > largest && sizes[n] < SERIES_TOLERANCE * peak);
        let (orders, tail) = match cut {
            Some(n) => (n, sizes[n] / peak),
            // Not converged within MAX_ORDER: keep everything, report the last term as the tail.
            None => (sizes.len(), sizes.last().map_or(f64::INFINITY, |s| s / peak)),
        };
        interior.truncate(orders);
        scattered.truncate(orders);
        Self { k_background: k1, k_inclusion: k2, modulus: [g1, g2], radius_m, interior, scattered, tail }
    }

    /// Total field `u` at `(x, y)` (m): incident plus scattered outside the cylinder, the
    /// transmitted field inside.
    pub fn total(&self, x: f64, y: f64) -> Complex64 {
        let (r, theta) = (x.hypot(y), y.atan2(x));
        if r >= self.radius_m {
            self.incident(x, y) + self.outside_series(r, theta).0
        } else {
            self.inside(r, theta).0
        }
    }

    /// Radial traction `G* ∂u/∂r` at `(x, y)` (Pa per unit displacement amplitude): continuous
    /// across the interface, like `u`. On the interface (`r = a`) it is evaluated from outside.
    pub fn radial_traction(&self, x: f64, y: f64) -> Complex64 {
        let (r, theta) = (x.hypot(y), y.atan2(x));
        let [g1, g2] = self.modulus;
        if r >= self.radius_m {
            g1 * self.outside(r, theta).1
        } else {
            g2 * self.inside(r, theta).1
        }
    }

    /// The incident plane wave `e^{−i k₁ x}` at `(x, y)` (m).
    pub fn incident(&self, x: f64, _y: f64) -> Complex64 {
        (-I * self.k_background * x).exp()
    }

    /// The scattered field `u − e^{−ik₁x}` at `(x, y)` (m), everywhere (inside the cylinder too).
    pub fn scattered(&self, x: f64, y: f64) -> Complex64 {
        self.total(x, y) - self.incident(x, y)
    }

    /// Background and inclusion wavenumbers `(k₁, k₂)`, rad/m.
    pub fn wavenumbers(&self) -> (Complex64, Complex64) {
        (self.k_background, self.k_inclusion)
    }

    /// Number of orders `N` of the series (`|n| < N`).
    pub fn orders(&self) -> usize {
        self.scattered.len()
    }

    /// Size of the first omitted term at `r = a` (where the terms are largest) relative to the
    /// largest term: an estimate of the relative truncation error, ≲ 1e-17 when converged.
    pub fn series_tail(&self) -> f64 {
        self.tail
    }

    /// `Σ ε_n c_n f_n(kr) cos nθ` and its `r`-derivative, for coefficients `c`, wavenumber `k`
    /// and the sequence `f_0..f_N` (one beyond the coefficients) of Bessel-type functions at `kr`.
    fn sum(c: &[Complex64], k: Complex64, f: &[Complex64], theta: f64) -> (Complex64, Complex64) {
        let (mut u, mut du) = (ZERO, ZERO);
        for (n, &cn) in c.iter().enumerate() {
            let df = if n == 0 { -f[1] } else { 0.5 * (f[n - 1] - f[n + 1]) };
            let w = if n == 0 { 1.0 } else { 2.0 * (n as f64 * theta).cos() };
            u += w * cn * f[n];
            du += w * cn * k * df;
        }
        (u, du)
    }

    /// Scattered series outside (`r ≥ a`) and its `r`-derivative.
    fn outside_series(&self, r: f64, theta: f64) -> (Complex64, Complex64) {
        let h = hankel2_orders(self.orders(), self.k_background * r);
        Self::sum(&self.scattered, self.k_background, &h, theta)
    }

    /// Total field and `∂u/∂r` outside, from the closed-form incident wave and the scattered series.
    fn outside(&self, r: f64, theta: f64) -> (Complex64, Complex64) {
        let (x, cos) = (r * theta.cos(), theta.cos());
        let inc = self.incident(x, 0.0);
        let (us, dus) = self.outside_series(r, theta);
        (inc + us, -I * self.k_background * cos * inc + dus)
    }

    /// Transmitted field and `∂u/∂r` inside (`r ≤ a`).
    fn inside(&self, r: f64, theta: f64) -> (Complex64, Complex64) {
        let j = bessel_j_orders(self.orders(), self.k_inclusion * r);
        Self::sum(&self.interior, self.k_inclusion, &j, theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(re: f64, im: f64) -> Complex64 {
        Complex64::new(re, im)
    }

    fn rel(a: Complex64, b: Complex64) -> f64 {
        (a - b).norm() / b.norm()
    }

    #[track_caller]
    fn assert_rel(got: Complex64, want: Complex64, tol: f64) {
        assert!(rel(got, want) <= tol, "got {got}, want {want}, relative error {:.2e} > {tol:.0e}", rel(got, want));
    }

    /// Gauss–Legendre nodes and weights on [−1, 1] (Newton on the Legendre recurrence).
    fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                // P_n(x) and P_n'(x) by the three-term recurrence
                let legendre = |x: f64| {
                    let (mut p0, mut p1) = (1.0, x);
                    for k in 2..=n {
                        let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                        p0 = p1;
                        p1 = p2;
                    }
                    (p1, n as f64 * (x * p1 - p0) / (x * x - 1.0))
                };
                let mut x = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
                loop {
                    let (p, dp) = legendre(x);
                    let dx = p / dp;
                    x -= dx;
                    if dx.abs() < 1e-15 {
                        let (_, dp) = legendre(x);
                        return (x, 2.0 / ((1.0 - x * x) * dp * dp));
                    }
                }
            })
            .collect()
    }

    /// `∫_lo^hi f` by composite 20-point Gauss–Legendre on `panels` panels.
    fn integrate(f: impl Fn(f64) -> Complex64, lo: f64, hi: f64, panels: usize) -> Complex64 {
        let rule = gauss_legendre(20);
        let h = (hi - lo) / panels as f64;
        (0..panels)
            .flat_map(|p| rule.iter().map(move |&(x, w)| (lo + h * (p as f64 + 0.5 * (x + 1.0)), 0.5 * h * w)))
            .map(|(t, w)| w * f(t))
            .sum()
    }

    /// Bessel's integral `J_n(z) = (1/2π) ∫_{−π}^{π} e^{i(z sin τ − nτ)} dτ` by the trapezoid rule
    /// (periodic analytic integrand: exponential convergence; absolute accuracy ~ε e^{|Im z|}).
    fn j_integral(n: i32, z: Complex64) -> Complex64 {
        let m = 2 * (n.unsigned_abs() as usize + z.norm() as usize) + 200;
        let sum: Complex64 = (0..m)
            .map(|p| {
                let t = -PI + 2.0 * PI * p as f64 / m as f64;
                (I * (z * t.sin() - n as f64 * t)).exp()
            })
            .sum();
        sum / m as f64
    }

    /// `Y_n(z) = (1/π)∫_0^π sin(z sin τ − nτ) dτ − (1/π)∫_0^∞ (e^{nt} + (−1)^n e^{−nt}) e^{−z sinh t} dt`, `Re z > 0`.
    fn y_integral(n: i32, z: Complex64) -> Complex64 {
        let nf = n as f64;
        let first = integrate(|t| (z * t.sin() - nf * t).sin(), 0.0, PI, 50);
        let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
        // Truncate where the integrand is below e^{−60} of its scale.
        let mut end: f64 = 1.0;
        while z.re * end.sinh() - nf * end < 60.0 {
            end += 0.25;
        }
        let second = integrate(|t| ((nf * t).exp() + sign * (-nf * t).exp()) * (-z * t.sinh()).exp(), 0.0, end, 400);
        (first - second) / PI
    }

    #[test]
    fn tabulated_real_values() {
        assert_rel(bessel_j(0, c(1.0, 0.0)), c(0.7651976865579666, 0.0), 1e-14);
        assert_rel(bessel_y(0, c(1.0, 0.0)), c(0.08825696421567696, 0.0), 1e-14);
        assert_rel(bessel_j(5, c(10.0, 0.0)), c(-0.2340615281867936, 0.0), 1e-14);
        assert_rel(bessel_y(1, c(2.5, 0.0)), c(0.1459181379667858, 0.0), 1e-14);
        assert_rel(bessel_j(-5, c(10.0, 0.0)), c(0.2340615281867936, 0.0), 1e-14);
        assert_rel(bessel_y(-1, c(2.5, 0.0)), c(-0.1459181379667858, 0.0), 1e-14);
        assert_eq!(bessel_j(0, ZERO), c(1.0, 0.0));
        assert_eq!(bessel_j(3, ZERO), ZERO);
        assert!(!is_finite(bessel_y(0, ZERO)) && !is_finite(hankel2(2, ZERO)));
    }

    /// Values computed independently with mpmath (`besselj`, `bessely`, `hankel2`, 30 digits).
    #[test]
    fn arbitrary_precision_complex_values() {
        let cases = [
            (
                0,
                c(1.0, -0.5),
                c(0.8064435758349362, 0.2268695898791116),
                c(0.18971265355484881, -0.37579894942840175),
                c(0.43064462640653445, 0.03715693632426279),
            ),
            (
                3,
                c(5.0, -2.0),
                c(0.8973297579501951, 0.48238965746078677),
                c(0.4831036985124831, -0.8306132084830773),
                c(0.06671654946711775, -0.000714041051696303),
            ),
            (
                1,
                c(12.5, -1.25),
                c(-0.29837790572862943, -0.2601443252459493),
                c(-0.30179492221178944, 0.24878643050215773),
                c(-0.04959147522647169, 0.0416505969658401),
            ),
            (
                10,
                c(20.0, -3.0),
                c(1.2716548929713032, -0.24831124398035523),
                c(-0.25360110176322936, -1.2588054823518093),
                c(0.012849410619493762, 0.005289857782874107),
            ),
            (
                25,
                c(7.0, -0.7),
                c(-1.339085114325295e-12, -1.2369995669307647e-12),
                c(5299643329.35722, -4979970115.786176),
                c(-4979970115.786176, -5299643329.35722),
            ),
            (
                80,
                c(40.0, -2.0),
                c(-1.0936686642587699e-17, 3.715134084549625e-18),
                c(378465289291840.06, 121570147233035.98),
                c(121570147233035.98, -378465289291840.06),
            ),
            (
                60,
                c(35.0, -10.0),
                c(2.2859961086479443e-09, -3.7097471916109942e-09),
                c(-917099.9800281893, -1110684.5118368973),
                c(-1110684.511836895, 917099.9800281855),
            ),
            (
                2,
                c(0.05, 0.01),
                c(0.0002999504188229188, 0.00012495000529923127),
                c(-452.3567674139794, 188.34877717531313),
                c(188.34907712573195, 452.35689236398474),
            ),
            (
                7,
                c(-4.0, 3.0),
                c(0.08298361235603395, -0.05645906261787716),
                c(-0.37167672164695326, -0.06703179574350518),
                c(0.01595181661252878, 0.31521765902907606),
            ),
        ];
        for (n, z, j, y, h) in cases {
            assert_rel(bessel_j(n, z), j, 1e-13);
            assert_rel(bessel_y(n, z), y, 1e-13);
            assert_rel(hankel2(n, z), h, 1e-13);
        }
    }

    #[test]
    fn j_matches_bessels_integral() {
        for &z in &[c(0.3, -0.01), c(1.7, -0.2), c(7.5, -0.4), c(19.0, -1.0), c(33.0, -3.0), c(40.0, 0.0), c(12.0, 2.0)] {
            for n in [0, 1, 2, 5, 13, 30] {
                let (got, want) = (bessel_j(n, z), j_integral(n, z));
                // The integral is accurate to ~ε e^{|Im z|} in absolute terms only.
                let tol = 1e-12 * want.norm() + 1e-14 * z.im.abs().exp();
                assert!((got - want).norm() <= tol, "J_{n}({z}): {got} vs {want}");
            }
        }
    }

    #[test]
    fn y_matches_integral_representation() {
        for &z in &[c(0.5, -0.05), c(1.0, 0.0), c(2.5, -0.3), c(6.0, -1.0), c(15.0, -2.0), c(25.0, -1.0), c(9.0, 3.0)] {
            for n in [0, 1, 2, 3, 6] {
                assert_rel(bessel_y(n, z), y_integral(n, z), 1e-11);
            }
        }
    }

    #[test]
    fn small_arguments_match_power_series() {
        // J_n(z) = (z/2)^n Σ_k (−z²/4)^k / (k! (n+k)!): no cancellation for |z| ≤ 2.
        for &z in &[c(1.5, -0.4), c(0.01, 0.002), c(2e-9, -1e-9), c(1e-3, 0.0)] {
            for n in [0usize, 1, 4, 17, 40, 80] {
                let q = -0.25 * z * z;
                let mut term = (1..=n).fold(Complex64::new(1.0, 0.0), |t, k| t * (0.5 * z) / k as f64);
                let mut series = term;
                for k in 1..60 {
                    term *= q / (k * (n + k)) as f64;
                    series += term;
                }
                if series.norm() > 1e-290 {
                    assert_rel(bessel_j(n as i32, z), series, 1e-13);
                }
            }
        }
    }

    #[test]
    fn wronskian_and_recurrences_hold_for_complex_arguments() {
        let zs = [
            c(0.2, -0.01),
            c(1.0, -0.1),
            c(3.3, -0.7),
            c(10.0, -1.0),
            c(17.0, -4.0),
            c(18.4, -0.5),
            c(25.0, -2.5),
            c(40.0, -4.0),
            c(40.0, 0.0),
            c(8.0, 5.0),
            c(-3.0, -2.0),
        ];
        for &z in &zs {
            let j = bessel_j_orders(81, z);
            let y = bessel_y_orders(81, z);
            let h = hankel2_orders(81, z);
            let w = 2.0 / (PI * z);
            for n in 0..=80 {
                // J_{n+1} Y_n − J_n Y_{n+1} = 2/(πz); both products can be huge for large n.
                let lhs = j[n + 1] * y[n] - j[n] * y[n + 1];
                let scale = (j[n + 1] * y[n]).norm().max(w.norm());
                assert!((lhs - w).norm() <= 1e-12 * scale, "Wronskian J/Y at n={n}, z={z}: {lhs} vs {w}");
                // H^(2) Wronskian: J_{n+1} H_n − J_n H_{n+1} = −i (J_{n+1} Y_n − J_n Y_{n+1}) = −2i/(πz).
                let lh = j[n + 1] * h[n] - j[n] * h[n + 1];
                let scale = (j[n + 1] * h[n]).norm().max(w.norm());
                assert!((lh + I * w).norm() <= 1e-12 * scale, "Wronskian J/H at n={n}, z={z}: {lh} vs {}", -I * w);
                if n >= 1 {
                    // J_{n−1} + J_{n+1} = (2n/z) J_n, relative to the largest term.
                    let r = j[n - 1] + j[n + 1] - 2.0 * n as f64 / z * j[n];
                    let scale = j[n - 1].norm().max(j[n + 1].norm()).max((2.0 * n as f64 / z * j[n]).norm());
                    assert!(r.norm() <= 1e-13 * scale, "J recurrence at n={n}, z={z}");
                }
            }
        }
    }

    #[test]
    fn hankel_methods_agree_where_they_overlap() {
        // Near their switches the asymptotic expansion, the K integral and J − iY (Neumann) are
        // all accurate (J − iY to ~ε e^{2|Im z|}).
        for &z in &[c(18.6, 0.0), c(20.0, -0.5), c(25.0, -1.0), c(17.0, -2.6), c(9.0, -2.6), c(3.0, -2.6), c(17.0, -6.0)] {
            let j = j_sequence(1, z);
            let (y0, y1) = neumann_y01(z, &j);
            let neumann = [j[0] - I * y0, j[1] - I * y1];
            let tol = 1e-14 * (2.0 * z.im.abs()).exp();
            if z.norm() > 16.9 {
                assert_rel(hankel2_asymptotic(0, z), neumann[0], tol);
                assert_rel(hankel2_asymptotic(1, z), neumann[1], tol);
            }
            if z.im < -2.0 {
                let (i0, i1) = hankel2_integral(z);
                assert_rel(i0, neumann[0], tol);
                assert_rel(i1, neumann[1], tol);
                if z.norm() > 16.9 {
                    assert_rel(hankel2_asymptotic(0, z), i0, 1e-13);
                    assert_rel(hankel2_asymptotic(1, z), i1, 1e-13);
                }
            }
        }
    }

    #[test]
    fn hankel_is_accurate_where_it_is_recessive() {
        // Strongly damped outgoing wave: J − iY would lose ~e^{2|Im z|} ≈ 1e11 here.
        let z = c(30.0, -12.5);
        let h0 = hankel2(0, z);
        // Leading asymptotic behaviour |H_0^(2)| ≈ √(2/(π|z|)) e^{Im z}.
        let lead = (2.0 / (PI * z.norm())).sqrt() * z.im.exp();
        assert!((h0.norm() / lead - 1.0).abs() < 0.01);
        // Recurrence consistency of the forward-recurred orders: H_{n−1} + H_{n+1} = (2n/z) H_n.
        let h = hankel2_orders(60, z);
        for n in 1..60 {
            let r = h[n - 1] + h[n + 1] - 2.0 * n as f64 / z * h[n];
            assert!(r.norm() <= 1e-13 * h[n + 1].norm().max(h[n - 1].norm()));
        }
    }

    /// Background 3 kPa and a stiffer, denser inclusion, both lossy, at 60 Hz.
    fn example() -> CylinderScattering {
        CylinderScattering::new(2.0 * PI * 60.0, (3000.0, 300.0, 1000.0), (9000.0, 900.0, 1100.0), 0.012)
    }

    #[test]
    fn field_and_flux_are_continuous_at_the_interface() {
        for s in [
            example(),
            CylinderScattering::new(2.0 * PI * 100.0, (2000.0, 1000.0, 1000.0), (12000.0, 3000.0, 1050.0), 0.03),
            CylinderScattering::new(2.0 * PI * 60.0, (9000.0, 900.0, 1000.0), (1000.0, 100.0, 1000.0), 0.015),
        ] {
            let a = s.radius_m;
            let [g1, g2] = s.modulus;
            let scale_u = (0..64).map(|i| s.outside(a, i as f64 * PI / 32.0).0.norm()).fold(0.0, f64::max);
            for i in 0..13 {
                let theta = -PI + i as f64 * PI / 6.0 + 0.1;
                let (uo, duo) = s.outside(a, theta);
                let (ui, dui) = s.inside(a, theta);
                assert!((uo - ui).norm() <= 1e-9 * scale_u, "u jumps at θ={theta}: {uo} vs {ui}");
                let flux_scale = (g1 * s.k_background).norm() * scale_u;
                assert!((g1 * duo - g2 * dui).norm() <= 1e-9 * flux_scale, "flux jumps at θ={theta}");
            }
        }
    }

    #[test]
    fn homogeneous_medium_gives_the_incident_wave() {
        let s = CylinderScattering::new(2.0 * PI * 60.0, (3000.0, 300.0, 1000.0), (3000.0, 300.0, 1000.0), 0.015);
        assert!(s.scattered.iter().all(|b| b.norm() < 1e-15));
        for (x, y) in [(0.0, 0.0), (0.005, -0.003), (-0.01, 0.01), (0.02, 0.0), (-0.03, 0.04), (0.0149, 0.0)] {
            assert_rel(s.total(x, y), s.incident(x, y), 1e-12);
        }
    }

    #[test]
    fn series_is_converged() {
        for s in [example(), CylinderScattering::new(2.0 * PI * 200.0, (1000.0, 500.0, 1000.0), (20000.0, 2000.0, 1000.0), 0.05)] {
            assert!(s.series_tail() < 1e-16, "tail {}", s.series_tail());
            let (k1, k2) = s.wavenumbers();
            let ka = k1.norm().max(k2.norm()) * s.radius_m;
            assert!((s.orders() as f64) > ka && s.orders() <= MAX_ORDER, "orders {} for |k|a = {ka}", s.orders());
            // 15 more orders change nothing.
            let [g1, g2] = s.modulus;
            let (x1, x2) = (k1 * s.radius_m, k2 * s.radius_m);
            let (interior, scattered, _) = coefficients(x1, x2, g2 * k2 / (g1 * k1), s.orders() + 15);
            let longer = CylinderScattering { interior, scattered, ..s.clone() };
            for (x, y) in [(0.0, 0.0), (0.6 * s.radius_m, 0.2 * s.radius_m), (s.radius_m, 0.0), (-0.03, 0.05), (0.1, -0.08)] {
                let (a, b) = (s.total(x, y), longer.total(x, y));
                assert!((a - b).norm() <= 1e-14 * b.norm().max(1.0), "({x}, {y}): {a} vs {b}");
            }
        }
    }

    #[test]
    fn far_field_is_outgoing() {
        // Far from the cylinder the scattered field is H_n^(2)(k₁r) ~ e^{−ik₁r}/√r: its ratio at
        // r and r + λ/4 along a ray must be ≈ e^{−ik₁λ/4} √(r/(r+λ/4)).
        let s = example();
        let k1 = s.k_background;
        let (r, dr) = (0.5, 0.25 * 2.0 * PI / k1.re);
        let theta: f64 = 0.7;
        let at = |r: f64| s.scattered(r * theta.cos(), r * theta.sin());
        let ratio = at(r + dr) / at(r);
        let want = (-I * k1 * dr).exp() * (r / (r + dr)).sqrt();
        assert!(rel(ratio, want) < 0.02, "{ratio} vs {want}");
    }
}
