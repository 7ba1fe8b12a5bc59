//! Plane-strain (P–SV) scattering of a plane shear wave by a circular viscoelastic cylinder:
//! the exact series of Pao & Mow, the reference for the vector (Navier) solver and inversion.

use std::f64::consts::PI;

use num_complex::Complex64;

use super::{bessel_j_orders, hankel2_orders, reflect};
use crate::error::{Result, SolverError};

const ZERO: Complex64 = Complex64::new(0.0, 0.0);
const ONE: Complex64 = Complex64::new(1.0, 0.0);
const I: Complex64 = Complex64::new(0.0, 1.0);

/// Relative size (to the largest term) below which a term of the series is negligible.
const SERIES_TOLERANCE: f64 = 1e-17;

/// Highest order the series may use (`|k_s|a` up to ~150).
const MAX_ORDER: usize = 200;

/// At the centre of the cylinder the polar form `u_r = (r u_r)/r` is 0/0: the displacement
/// there comes from the limits of the orders `±1` (the only ones with `∇ ≠ 0` at `r = 0`), the
/// stress from the mean of the two points `(±ε, 0)` with `ε` this fraction of the radius
/// (accurate to `O((k ε)²)` and to `ε_mach/(kε)²` after cancellation, ~1e-8 relative).
const CENTRE: f64 = 1e-4;

/// An isotropic linear viscoelastic medium: complex shear modulus `G* = G' + iG''`, a real bulk
/// modulus `K` and density `ρ`, as [`crate::wave::VectorProblem`] takes them: the Lamé parameter
/// is `λ = K − 2G*/3` (complex through `G*`), the P-wave modulus `λ + 2G* = K + 4G*/3`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElasticMedium {
    /// Storage modulus `G'`, Pa (> 0).
    pub storage_modulus_pa: f64,
    /// Loss modulus `G''`, Pa (≥ 0).
    pub loss_modulus_pa: f64,
    /// Bulk modulus `K`, Pa (real, `> 2G'/3` so that `Re λ > 0`, as the Navier solver requires).
    pub bulk_modulus_pa: f64,
    /// Density `ρ`, kg/m³ (> 0).
    pub density_kg_m3: f64,
}

impl ElasticMedium {
    /// A medium with the bulk modulus given directly (checked by [`ElasticMedium::validate`]).
    pub fn new(storage_modulus_pa: f64, loss_modulus_pa: f64, bulk_modulus_pa: f64, density_kg_m3: f64) -> Self {
        Self { storage_modulus_pa, loss_modulus_pa, bulk_modulus_pa, density_kg_m3 }
    }

    /// A medium whose compressibility is given by a Poisson ratio `ν` of the **storage** modulus:
    /// `K = 2G'(1 + ν)/(3(1 − 2ν))` (real), so that `λ = K − 2G*/3 = 2G'ν/(1 − 2ν) − i 2G''/3`
    /// — the medium the Navier solver builds from the same `K`. `ν` must lie in `(0, 0.5)`
    /// (`ν ≤ 0` would make `K ≤ 2G'/3`; `ν = 0.5`, the incompressible limit, has `K = ∞`).
    pub fn with_poisson_ratio(storage_modulus_pa: f64, loss_modulus_pa: f64, poisson_ratio: f64, density_kg_m3: f64) -> Result<Self> {
        let nu = poisson_ratio;
        if !(nu > 0.0 && nu < 0.5) {
            return Err(SolverError::invalid("poisson_ratio", nu, "a Poisson ratio in (0, 0.5) (0.5, incompressible, needs K = ∞)"));
        }
        let bulk = 2.0 * storage_modulus_pa * (1.0 + nu) / (3.0 * (1.0 - 2.0 * nu));
        let m = Self::new(storage_modulus_pa, loss_modulus_pa, bulk, density_kg_m3);
        m.validate("medium")?;
        Ok(m)
    }

    /// Check the ranges: `G' > 0`, `G'' ≥ 0`, `ρ > 0`, `K > 2G'/3`, all finite. Errors name
    /// `which` (`background`, `inclusion`) and the parameter.
    pub fn validate(&self, which: &str) -> Result<()> {
        let Self { storage_modulus_pa: g1, loss_modulus_pa: g2, bulk_modulus_pa: k, density_kg_m3: rho } = *self;
        if !(g1 > 0.0 && g1.is_finite()) {
            return Err(SolverError::invalid(format!("{which} storage_modulus_pa"), g1, "a positive, finite G' in Pa"));
        }
        if !(g2 >= 0.0 && g2.is_finite()) {
            return Err(SolverError::invalid(format!("{which} loss_modulus_pa"), g2, "a non-negative, finite G'' in Pa"));
        }
        if !(rho > 0.0 && rho.is_finite()) {
            return Err(SolverError::invalid(format!("{which} density_kg_m3"), rho, "a positive, finite density in kg/m³"));
        }
        if !(k > 2.0 * g1 / 3.0 && k.is_finite()) {
            return Err(SolverError::invalid(
                format!("{which} bulk_modulus_pa"),
                k,
                format!("a finite K > 2G'/3 = {} Pa (so that Re λ > 0)", 2.0 * g1 / 3.0),
            ));
        }
        Ok(())
    }

    /// `G* = G' + iG''`, Pa.
    pub fn shear_modulus(&self) -> Complex64 {
        Complex64::new(self.storage_modulus_pa, self.loss_modulus_pa)
    }

    /// `λ = K − 2G*/3`, Pa.
    pub fn lame_lambda(&self) -> Complex64 {
        self.bulk_modulus_pa - self.shear_modulus() * (2.0 / 3.0)
    }

    /// P-wave modulus `λ + 2G* = K + 4G*/3`, Pa.
    pub fn p_wave_modulus(&self) -> Complex64 {
        self.bulk_modulus_pa + self.shear_modulus() * (4.0 / 3.0)
    }

    /// `(k_p, k_s) = (ω√(ρ/(λ + 2G*)), ω√(ρ/G*))`, rad/m, `Im k ≤ 0`.
    pub fn wavenumbers(&self, omega: f64) -> (Complex64, Complex64) {
        let rho = Complex64::new(self.density_kg_m3, 0.0);
        (omega * (rho / self.p_wave_modulus()).sqrt(), omega * (rho / self.shear_modulus()).sqrt())
    }
}

/// Which side's series to evaluate (their analytic continuations overlap at `r = a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Incident plus scattered field of the background (`r ≥ a`).
    Background,
    /// Refracted field of the inclusion (`r ≤ a`).
    Inclusion,
}

/// Displacement and stress in polar components at one point (time-harmonic amplitudes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolarFields {
    /// Radial displacement `u_r`, m (per unit incident amplitude).
    pub u_r: Complex64,
    /// Tangential displacement `u_θ`, m.
    pub u_theta: Complex64,
    /// `σ_rr`, Pa.
    pub s_rr: Complex64,
    /// `σ_rθ`, Pa.
    pub s_rtheta: Complex64,
    /// `σ_θθ`, Pa.
    pub s_thetatheta: Complex64,
}

impl PolarFields {
    fn add(self, o: Self) -> Self {
        Self {
            u_r: self.u_r + o.u_r,
            u_theta: self.u_theta + o.u_theta,
            s_rr: self.s_rr + o.s_rr,
            s_rtheta: self.s_rtheta + o.s_rtheta,
            s_thetatheta: self.s_thetatheta + o.s_thetatheta,
        }
    }
}

/// In-plane stress in Cartesian components, Pa.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaneStress {
    /// `σ_xx`, Pa.
    pub xx: Complex64,
    /// `σ_yy`, Pa.
    pub yy: Complex64,
    /// `σ_xy`, Pa.
    pub xy: Complex64,
}

/// Cylindrical wave of one potential, order `n`: `Z_n(kr) e^{inθ}` with `Z` = `J` or `H^(2)`.
#[derive(Debug, Clone, Copy)]
enum Potential {
    /// Compressional, `φ` with `u = ∇φ`.
    P,
    /// Shear, `ψ` with `u = ∇×(ψ ẑ)`.
    S,
}

/// `[r u_r, r u_θ, r²σ_rr, r²σ_rθ, r²σ_θθ]` of the wave `Z_n(kr) e^{inθ}` of potential `kind`
/// (without `e^{inθ}`), for `x = kr`, `z = Z_n(x)`, `xdz = x Z_n′(x)`, shear modulus `g`,
/// `rw2r2 = ρω²r²` and `xp2 = (k_p r)²` of the medium.
#[allow(clippy::too_many_arguments)]
fn wave_terms(kind: Potential, n: i32, z: Complex64, xdz: Complex64, g: Complex64, rw2r2: f64, xp2: Complex64) -> [Complex64; 5] {
    let nf = n as f64;
    let inn = I * nf;
    match kind {
        Potential::P => {
            let common = 2.0 * g * (xdz - nf * nf * z);
            [xdz, inn * z, -rw2r2 * z - common, 2.0 * inn * g * (xdz - z), -rw2r2 * z + 2.0 * g * xp2 * z + common]
        }
        Potential::S => {
            let shear = 2.0 * inn * g * (xdz - z);
            [inn * z, -xdz, shear, 2.0 * g * xdz + rw2r2 * z - 2.0 * g * nf * nf * z, -shear]
        }
    }
}

/// `(Z_n(x), x Z_n′(x))` for any integer `n` from `f = [Z_0(x), …, Z_{|n|+1}(x)]`.
fn order_value(f: &[Complex64], n: i32, x: Complex64) -> (Complex64, Complex64) {
    let m = n.unsigned_abs() as usize;
    let d = if m == 0 { -f[1] } else { 0.5 * (f[m - 1] - f[m + 1]) };
    (reflect(n, f[m]), reflect(n, x * d))
}

/// Solve the 4×4 complex system `m y = b` by Gaussian elimination with partial pivoting;
/// `None` if a pivot vanishes or the result is not finite.
fn solve4(mut m: [[Complex64; 4]; 4], mut b: [Complex64; 4]) -> Option<[Complex64; 4]> {
    for c in 0..4 {
        let p = (c..4).max_by(|&i, &j| m[i][c].norm().total_cmp(&m[j][c].norm()))?;
        if m[p][c].norm() == 0.0 {
            return None;
        }
        m.swap(c, p);
        b.swap(c, p);
        let (pivot_row, pivot_b) = (m[c], b[c]);
        for (row, br) in m.iter_mut().zip(b.iter_mut()).skip(c + 1) {
            let f = row[c] / pivot_row[c];
            for (v, &p) in row.iter_mut().zip(&pivot_row).skip(c) {
                *v -= f * p;
            }
            *br -= f * pivot_b;
        }
    }
    let mut y = [ZERO; 4];
    for r in (0..4).rev() {
        let s: Complex64 = (r + 1..4).map(|k| m[r][k] * y[k]).sum();
        y[r] = (b[r] - s) / m[r][r];
    }
    y.iter().all(|v| v.re.is_finite() && v.im.is_finite()).then_some(y)
}

/// 1-norm condition number `‖M‖₁ ‖M⁻¹‖₁` of a 4×4 matrix (∞ if singular).
fn condition4(m: &[[Complex64; 4]; 4]) -> f64 {
    let norm1 = |col: &dyn Fn(usize) -> [Complex64; 4]| (0..4).map(|j| col(j).iter().map(|v| v.norm()).sum::<f64>()).fold(0.0, f64::max);
    let a = norm1(&|j| [m[0][j], m[1][j], m[2][j], m[3][j]]);
    let mut inv = [[ZERO; 4]; 4];
    for (j, col) in inv.iter_mut().enumerate() {
        let mut e = [ZERO; 4];
        e[j] = ONE;
        match solve4(*m, e) {
            Some(y) => *col = y,
            None => return f64::INFINITY,
        }
    }
    a * norm1(&|j| inv[j])
}

/// The coefficients of one order and diagnostics.
struct Order {
    /// `[B_n, C_n, D_n, E_n]`: scattered P and S (`H^(2)`), refracted P and S (`J`).
    coef: [Complex64; 4],
    /// Largest displacement of the order's terms at `r = a`, times `a` (m²).
    size: f64,
    /// Condition number of the scaled 4×4 system.
    condition: f64,
}

/// Plane strain (in-plane, P–SV) scattering of a plane shear wave by a circular viscoelastic
/// cylinder, Pao & Mow (1973), *Diffraction of Elastic Waves and Dynamic Stress Concentrations*,
/// ch. IV (the elastic inclusion), in this solver's conventions.
///
/// # Problem
/// The cylinder `r < a` (axis along `z`, centred at the origin) is made of the
/// [`ElasticMedium`] "inclusion" `(G₂*, K₂, ρ₂)`, the rest of the plane of the "background"
/// `(G₁*, K₁, ρ₁)`. The displacement `u = (u_x, u_y)` (no `z` dependence, `u_z = 0`) solves
/// `∇·σ + ρω²u = 0` with `σ = λ(∇·u)I + G*(∇u + ∇uᵀ)`, `λ = K − 2G*/3`, in each medium, with
/// `u_r`, `u_θ`, `σ_rr` and `σ_rθ` continuous at `r = a` (welded interface). The incident wave
/// is the plane SV wave travelling along `+x`, polarised along `y`, of unit amplitude:
/// `u_inc = ŷ e^{−i k_{s1} x}`. Time dependence `e^{iωt}`, `k_s = ω√(ρ/G*)`,
/// `k_p = ω√(ρ/(K + 4G*/3))`, `Im k ≤ 0`, outgoing waves `H_n^(2)`, SI units.
///
/// # Series
/// Helmholtz potentials `u = ∇φ + ∇×(ψẑ)`, `(∇² + k_p²)φ = 0`, `(∇² + k_s²)ψ = 0`:
/// `u_r = ∂_rφ + (1/r)∂_θψ`, `u_θ = (1/r)∂_θφ − ∂_rψ`. For a wave `Z_n(kr) e^{inθ}`
/// (`x = kr`, `Z = J` or `H^(2)`), with `ρω²r² = G* (k_s r)²`:
///
/// | | `φ = Z_n e^{inθ}` | `ψ = Z_n e^{inθ}` |
/// |---|---|---|
/// | `r u_r` | `x Z_n′` | `i n Z_n` |
/// | `r u_θ` | `i n Z_n` | `−x Z_n′` |
/// | `r² σ_rr` | `−ρω²r² Z_n − 2G*(x Z_n′ − n² Z_n)` | `2i n G*(x Z_n′ − Z_n)` |
/// | `r² σ_rθ` | `2i n G*(x Z_n′ − Z_n)` | `G*(2x Z_n′ + (k_s r)² Z_n − 2n² Z_n)` |
/// | `r² σ_θθ` | `−ρω²r² Z_n + 2G*(k_p r)² Z_n + 2G*(x Z_n′ − n² Z_n)` | `−2i n G*(x Z_n′ − Z_n)` |
///
/// (`σ_rr` for `φ` uses `(λ + 2G*)k_p² = ρω²`, so `λ` never appears: the incompressible limit
/// `λ → ∞`, `k_p → 0` is regular.) The incident wave is `ψ_inc = (−i/k_{s1}) e^{−ik_{s1}x}
/// = (−i/k_{s1}) Σ_n (−i)^n J_n(k_{s1}r) e^{inθ}` (Jacobi–Anger). Outside
/// `φ = Σ B_n H_n^(2)(k_{p1}r) e^{inθ}`, `ψ = ψ_inc + Σ C_n H_n^(2)(k_{s1}r) e^{inθ}`; inside
/// `φ = Σ D_n J_n(k_{p2}r) e^{inθ}`, `ψ = Σ E_n J_n(k_{s2}r) e^{inθ}`. The four interface
/// conditions give, per order `n` (all integers, `−N < n < N`), a 4×4 system for
/// `(B_n, C_n, D_n, E_n)` with the incident order on the right-hand side.
///
/// # Scaling and truncation
/// Each unknown is scaled by `|Z_n(x)| + |x Z_n′(x)|` of its wave at `r = a` (so its column
/// holds the wave's interface values relative to their size: no overflow of `H_n^(2)(k_p a)` or
/// underflow of `J_n(k_p a)` reaches the system when `k_p a → 0`), the stress rows are divided
/// by `|G₁*|`, then every row by its largest entry. The 1-norm condition number of each scaled
/// system is kept ([`ElasticCylinderScattering::condition`]): measured 1e3–3.7e3 for soft and
/// stiff inclusions at `k_s a` from 1.6 to 11, the same from `ν = 0.3` to `ν = 0.49999999`
/// (`k_p a ~ 1e-4`), and the interface conditions hold to ~3e-15 relative; the fields converge
/// to the incompressible limit like `1 − 2ν` (tests in `solver/tests/wave_psv.rs`). At very
/// low frequency (`k_s a ≲ 1e-4`) the stresses lose about `ε/(k_s a)²` to cancellation between
/// the potentials' terms (the displacement does not).
/// The orders run up to the first `|n| > max |k a|` whose terms at `r = a` (where they are
/// largest) fall below 1e-17 of the largest, like [`super::CylinderScattering`].
///
/// # Limits
/// `H_n^(2)(k_p r)` grows like `(n−1)!(2/k_p r)^n`: for a very small `|k_{p1}| a` (nearly
/// incompressible background and a small cylinder) and many orders it can overflow; the series
/// then stops at the last finite order and [`ElasticCylinderScattering::series_tail`] reports
/// the size of the first omitted term.
#[derive(Debug, Clone)]
pub struct ElasticCylinderScattering {
    /// Angular frequency ω, rad/s.
    omega: f64,
    /// Background and inclusion.
    media: [ElasticMedium; 2],
    /// `[k_{p1}, k_{s1}, k_{p2}, k_{s2}]`, rad/m.
    k: [Complex64; 4],
    /// Cylinder radius `a`, m.
    radius_m: f64,
    /// Coefficients of orders `n = −(N−1)..=N−1`, index `n + N − 1`.
    coef: Vec<[Complex64; 4]>,
    /// Size of the first omitted term relative to the largest.
    tail: f64,
    /// Largest condition number of the scaled 4×4 systems.
    condition: f64,
}

impl ElasticCylinderScattering {
    /// The scattering solution at angular frequency `omega` (rad/s) for a `background` and an
    /// `inclusion` medium and a cylinder of radius `radius_m` (m). Errors name the invalid
    /// parameter; [`SolverError::Singular`] if an order's system cannot be solved.
    pub fn new(omega: f64, background: ElasticMedium, inclusion: ElasticMedium, radius_m: f64) -> Result<Self> {
        if !(omega > 0.0 && omega.is_finite()) {
            return Err(SolverError::invalid("omega_rad_per_s", omega, "a positive, finite angular frequency in rad/s"));
        }
        if !(radius_m > 0.0 && radius_m.is_finite()) {
            return Err(SolverError::invalid("radius_m", radius_m, "a positive, finite radius in m"));
        }
        background.validate("background")?;
        inclusion.validate("inclusion")?;
        let (kp1, ks1) = background.wavenumbers(omega);
        let (kp2, ks2) = inclusion.wavenumbers(omega);
        let k = [kp1, ks1, kp2, ks2];
        let largest = k.iter().map(|k| k.norm() * radius_m).fold(0.0, f64::max);
        let nmax = ((largest + 4.0 * largest.cbrt()).ceil() as usize + 20).min(MAX_ORDER);
        let mut s = Self { omega, media: [background, inclusion], k, radius_m, coef: Vec::new(), tail: 0.0, condition: 0.0 };

        let a = radius_m;
        let x = k.map(|k| k * a);
        let h_p1 = hankel2_orders(nmax + 1, x[0]);
        let h_s1 = hankel2_orders(nmax + 1, x[1]);
        let j_s1 = bessel_j_orders(nmax + 1, x[1]);
        let j_p2 = bessel_j_orders(nmax + 1, x[2]);
        let j_s2 = bessel_j_orders(nmax + 1, x[3]);
        let g = [background.shear_modulus(), inclusion.shear_modulus()];
        let rw2a2 = [background, inclusion].map(|m| m.density_kg_m3 * omega * omega * a * a);
        let xp2 = [x[0] * x[0], x[2] * x[2]];
        let g_ref = g[0].norm();
        let solve_order = |n: i32| -> Option<Order> {
            let nu = n.unsigned_abs() as usize;
            // (potential, medium, functions, argument, sign: −1 for the inclusion side)
            let waves: [(Potential, usize, &[Complex64], Complex64, f64); 4] = [
                (Potential::P, 0, &h_p1, x[0], 1.0),
                (Potential::S, 0, &h_s1, x[1], 1.0),
                (Potential::P, 1, &j_p2, x[2], -1.0),
                (Potential::S, 1, &j_s2, x[3], -1.0),
            ];
            let mut m = [[ZERO; 4]; 4];
            let mut scale = [0.0; 4];
            for (j, &(kind, med, f, xj, sign)) in waves.iter().enumerate() {
                if nu + 1 >= f.len() {
                    return None;
                }
                let (z, xdz) = order_value(f, n, xj);
                scale[j] = z.norm() + xdz.norm();
                if !(scale[j] > 0.0 && scale[j].is_finite()) {
                    return None;
                }
                let t = wave_terms(kind, n, z / scale[j], xdz / scale[j], g[med], rw2a2[med], xp2[med]);
                for r in 0..4 {
                    m[r][j] = sign * t[r] / if r < 2 { 1.0 } else { g_ref };
                }
            }
            let inc_coef = -I / k[1] * (-I).powi(n);
            let (z, xdz) = order_value(&j_s1, n, x[1]);
            let t = wave_terms(Potential::S, n, z, xdz, g[0], rw2a2[0], xp2[0]);
            let mut b = [ZERO; 4];
            for r in 0..4 {
                b[r] = -inc_coef * t[r] / if r < 2 { 1.0 } else { g_ref };
            }
            for r in 0..4 {
                let big = m[r].iter().map(|v| v.norm()).fold(0.0, f64::max);
                if !(big > 0.0 && big.is_finite()) {
                    return None;
                }
                for v in &mut m[r] {
                    *v /= big;
                }
                b[r] /= big;
            }
            let y = solve4(m, b)?;
            let size = y.iter().map(|v| v.norm()).fold(0.0, f64::max);
            let mut coef = [ZERO; 4];
            for j in 0..4 {
                coef[j] = y[j] / scale[j];
            }
            Some(Order { coef, size, condition: condition4(&m) })
        };

        let mut orders: Vec<(Order, Order)> = Vec::new();
        for n in 0..=nmax as i32 {
            match (solve_order(n), solve_order(-n)) {
                (Some(p), Some(q)) if p.coef.iter().chain(&q.coef).all(|v| v.re.is_finite() && v.im.is_finite()) => orders.push((p, q)),
                _ => break,
            }
        }
        if orders.is_empty() {
            return Err(SolverError::Singular(format!(
                "the order-0 interface system of the elastic cylinder (k a = {x:?}) could not be solved"
            )));
        }
        let sizes: Vec<f64> = orders.iter().map(|(p, q)| p.size.max(q.size)).collect();
        let peak = sizes.iter().copied().fold(0.0, f64::max);
        let cut = (0..sizes.len()).find(|&n| n as f64 > largest && sizes[n] < SERIES_TOLERANCE * peak);
        let (count, tail) = match cut {
            Some(n) => (n, sizes[n] / peak),
            None => (sizes.len(), if sizes.len() > nmax { sizes[nmax] / peak } else { f64::INFINITY }),
        };
        orders.truncate(count);
        s.condition = orders.iter().map(|(p, q)| p.condition.max(q.condition)).fold(0.0, f64::max);
        s.tail = tail;
        let mut coef: Vec<[Complex64; 4]> = orders[1..].iter().rev().map(|(_, q)| q.coef).collect();
        coef.extend(orders.iter().map(|(p, _)| p.coef));
        s.coef = coef;
        Ok(s)
    }

    /// Number of orders `N` of the series (`|n| < N`).
    pub fn orders(&self) -> usize {
        self.coef.len().div_ceil(2)
    }

    /// Size of the first omitted term at `r = a` (where the terms are largest) relative to the
    /// largest term: an estimate of the relative truncation error (≲ 1e-17 when converged;
    /// `∞` if the series stopped at a non-finite order before converging).
    pub fn series_tail(&self) -> f64 {
        self.tail
    }

    /// Largest 1-norm condition number of the scaled per-order 4×4 systems.
    pub fn condition(&self) -> f64 {
        self.condition
    }

    /// `[k_{p1}, k_{s1}, k_{p2}, k_{s2}]`: background P and S, inclusion P and S wavenumbers,
    /// rad/m.
    pub fn wavenumbers(&self) -> [Complex64; 4] {
        self.k
    }

    /// Angular frequency ω, rad/s.
    pub fn omega_rad_per_s(&self) -> f64 {
        self.omega
    }

    /// Background and inclusion media.
    pub fn media(&self) -> [ElasticMedium; 2] {
        self.media
    }

    /// Cylinder radius `a`, m.
    pub fn radius_m(&self) -> f64 {
        self.radius_m
    }

    /// `[B_n, C_n, D_n, E_n]` of order `n` (see the type's documentation), `None` beyond the
    /// truncation.
    pub fn coefficients(&self, n: i32) -> Option<[Complex64; 4]> {
        let i = n + self.orders() as i32 - 1;
        usize::try_from(i).ok().and_then(|i| self.coef.get(i)).copied()
    }

    /// Total displacement `[u_y, u_x]` (m per unit incident amplitude; the order of the solver's
    /// component arrays `[z, y, x]` without `z`, which is 0) at `(x, y)` (m): incident plus
    /// scattered outside the cylinder (`r ≥ a`), refracted inside.
    pub fn displacement(&self, x: f64, y: f64) -> [Complex64; 2] {
        let side = if x.hypot(y) >= self.radius_m { Side::Background } else { Side::Inclusion };
        let f = self.cartesian(x, y, side);
        [f.0[0], f.0[1]]
    }

    /// The incident displacement `[u_y, u_x] = [e^{−ik_{s1}x}, 0]` at `(x, y)` (m).
    pub fn incident(&self, x: f64, _y: f64) -> [Complex64; 2] {
        [(-I * self.k[1] * x).exp(), ZERO]
    }

    /// The scattered displacement `[u_y, u_x]`: [`Self::displacement`] minus [`Self::incident`]
    /// (everywhere, inside the cylinder too).
    pub fn scattered(&self, x: f64, y: f64) -> [Complex64; 2] {
        let (u, i) = (self.displacement(x, y), self.incident(x, y));
        [u[0] - i[0], u[1] - i[1]]
    }

    /// In-plane stress at `(x, y)` (m), Pa, from the side the point is on (outside at `r = a`).
    pub fn stress(&self, x: f64, y: f64) -> PlaneStress {
        let side = if x.hypot(y) >= self.radius_m { Side::Background } else { Side::Inclusion };
        self.cartesian(x, y, side).1
    }

    /// Displacement and stress in polar components at radius `r` (m) and angle `theta` (rad,
    /// from `+x` towards `+y`) from the series of `side` (the background's includes the incident
    /// wave). Each side's series holds on its own side of `r = a` and at the interface; on the
    /// other side it is an analytic continuation (the background's is singular at `r = 0`).
    pub fn polar(&self, r: f64, theta: f64, side: Side) -> PolarFields {
        let mut f = self.series(r, theta, side);
        if side == Side::Background {
            f = f.add(self.incident_polar(r, theta));
        }
        f
    }

    /// Time-averaged power (W per metre of cylinder length) flowing **outwards** through the
    /// circle of radius `r` (m) in the field of `side`'s series (incident included for the
    /// background), `P = −½ Re ∮ (σ_rr conj(v_r) + σ_rθ conj(v_θ)) r dθ` with `v = iωu`, by the trapezoid
    /// rule on `points` angles (spectrally accurate: the integrand is periodic and smooth).
    /// With lossless media `P = 0` for any `r` (no absorption); with a lossy inclusion and a
    /// lossless background `−P` is the power the inclusion absorbs.
    pub fn outward_power(&self, r: f64, side: Side, points: usize) -> f64 {
        let mut sum = 0.0;
        for q in 0..points {
            let theta = 2.0 * PI * q as f64 / points as f64;
            let f = self.polar(r, theta, side);
            let (vr, vt) = (I * self.omega * f.u_r, I * self.omega * f.u_theta);
            sum -= 0.5 * (f.s_rr * vr.conj() + f.s_rtheta * vt.conj()).re;
        }
        sum * r * 2.0 * PI / points as f64
    }

    /// Cartesian displacement `[u_y, u_x]` and stress of `side`'s series at `(x, y)`; at the
    /// centre the mean of `(±ε, 0)` (see [`CENTRE`]).
    fn cartesian(&self, x: f64, y: f64, side: Side) -> ([Complex64; 2], PlaneStress) {
        let r = x.hypot(y);
        if r == 0.0 {
            let eps = CENTRE * self.radius_m;
            let (a, b) = (self.cartesian(eps, 0.0, side).1, self.cartesian(-eps, 0.0, side).1);
            let mean = |p: Complex64, q: Complex64| 0.5 * (p + q);
            let stress = PlaneStress { xx: mean(a.xx, b.xx), yy: mean(a.yy, b.yy), xy: mean(a.xy, b.xy) };
            return (self.centre_displacement(side), stress);
        }
        let theta = y.atan2(x);
        let f = self.polar(r, theta, side);
        let (s, c) = theta.sin_cos();
        let ux = f.u_r * c - f.u_theta * s;
        let uy = f.u_r * s + f.u_theta * c;
        let stress = PlaneStress {
            xx: f.s_rr * (c * c) + f.s_thetatheta * (s * s) - f.s_rtheta * (2.0 * s * c),
            yy: f.s_rr * (s * s) + f.s_thetatheta * (c * c) + f.s_rtheta * (2.0 * s * c),
            xy: (f.s_rr - f.s_thetatheta) * (s * c) + f.s_rtheta * (c * c - s * s),
        };
        ([uy, ux], stress)
    }

    /// `[u_y, u_x]` at `r = 0` of `side`'s series (plus the incident wave for the background):
    /// near the centre `J_{±1}(kr) e^{±iθ} ≈ ±(k/2)(x ± iy)`, so
    /// `u_x = (k_p/2)(P_1 − P_{−1}) + i(k_s/2)(S_1 + S_{−1})`,
    /// `u_y = i(k_p/2)(P_1 + P_{−1}) + (k_s/2)(S_{−1} − S_1)` for the `J` waves with coefficients
    /// `P_n` (of `φ`) and `S_n` (of `ψ`). The background's Hankel series is singular there.
    fn centre_displacement(&self, side: Side) -> [Complex64; 2] {
        if side == Side::Background {
            let nan = Complex64::new(f64::NAN, f64::NAN);
            return [nan, nan];
        }
        let (kp, ks) = (self.k[2], self.k[3]);
        let (Some(c1), Some(cm1)) = (self.coefficients(1), self.coefficients(-1)) else {
            return [ZERO, ZERO];
        };
        let ux = 0.5 * kp * (c1[2] - cm1[2]) + I * 0.5 * ks * (c1[3] + cm1[3]);
        let uy = I * 0.5 * kp * (c1[2] + cm1[2]) + 0.5 * ks * (cm1[3] - c1[3]);
        [uy, ux]
    }

    /// The incident wave in polar components: `u = ŷ e^{−ik_{s1}x}`, `σ_xy = −ik_{s1}G₁* e^{−ik_{s1}x}`,
    /// `σ_xx = σ_yy = 0`.
    fn incident_polar(&self, r: f64, theta: f64) -> PolarFields {
        let (s, c) = theta.sin_cos();
        let e = (-I * self.k[1] * r * c).exp();
        let sxy = -I * self.k[1] * self.media[0].shear_modulus() * e;
        PolarFields {
            u_r: e * s,
            u_theta: e * c,
            s_rr: sxy * (2.0 * s * c),
            s_rtheta: sxy * (c * c - s * s),
            s_thetatheta: -sxy * (2.0 * s * c),
        }
    }

    /// The scattered (background) or refracted (inclusion) series at `(r, θ)`.
    fn series(&self, r: f64, theta: f64, side: Side) -> PolarFields {
        let n_orders = self.orders();
        let (med, kp, ks, cp, cs) = match side {
            Side::Background => (0, self.k[0], self.k[1], 0, 1),
            Side::Inclusion => (1, self.k[2], self.k[3], 2, 3),
        };
        let (xp, xs) = (kp * r, ks * r);
        let (fp, fs) = match side {
            Side::Background => (hankel2_orders(n_orders, xp), hankel2_orders(n_orders, xs)),
            Side::Inclusion => (bessel_j_orders(n_orders, xp), bessel_j_orders(n_orders, xs)),
        };
        let m = self.media[med];
        let g = m.shear_modulus();
        let rw2r2 = m.density_kg_m3 * self.omega * self.omega * r * r;
        let xp2 = xp * xp;
        let mut acc = [ZERO; 5];
        let top = n_orders as i32 - 1;
        for n in -top..=top {
            let c = self.coef[(n + top) as usize];
            let (zp, xdzp) = order_value(&fp, n, xp);
            let (zs, xdzs) = order_value(&fs, n, xs);
            let tp = wave_terms(Potential::P, n, zp, xdzp, g, rw2r2, xp2);
            let ts = wave_terms(Potential::S, n, zs, xdzs, g, rw2r2, xp2);
            let e = Complex64::from_polar(1.0, n as f64 * theta);
            for q in 0..5 {
                acc[q] += e * (c[cp] * tp[q] + c[cs] * ts[q]);
            }
        }
        let f = PolarFields { u_r: acc[0] / r, u_theta: acc[1] / r, s_rr: acc[2], s_rtheta: acc[3], s_thetatheta: acc[4] };
        let stress = 1.0 / (r * r);
        PolarFields { s_rr: f.s_rr * stress, s_rtheta: f.s_rtheta * stress, s_thetatheta: f.s_thetatheta * stress, ..f }
    }
}
