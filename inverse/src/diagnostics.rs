//! Convergence diagnostics of MCMC chains (Vehtari, Gelman, Simpson, Carpenter & Bürkner
//! 2021, "Rank-normalization, folding, and localization: an improved R̂"), as in Stan and
//! ArviZ: rank-normalised split-R̂ (maximum of bulk and folded R̂), bulk ESS and tail ESS,
//! with autocorrelations summed by Geyer's initial monotone sequence.
//!
//! Every function takes one parameter's draws as `&[Vec<f64>]`: one `Vec` per chain, all of
//! the same length.

use serde::{Deserialize, Serialize};

use crate::error::{InverseError, Result};

/// Mean of `x` (NaN if empty).
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation of `x` (divisor `n − 1`; NaN if `n < 2`).
pub fn std(x: &[f64]) -> f64 {
    let m = mean(x);
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() as f64 - 1.0)).sqrt()
}

/// Quantile `p ∈ [0, 1]` of ascending `sorted` by linear interpolation between order
/// statistics (type 7, NumPy's default). NaN if `sorted` is empty.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Summary of one parameter over all chains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Posterior mean.
    pub mean: f64,
    /// Posterior standard deviation.
    pub std: f64,
    /// 5 %, 50 % and 95 % quantiles.
    pub q05: f64,
    /// Median.
    pub q50: f64,
    /// 95 % quantile.
    pub q95: f64,
    /// Rank-normalised split-R̂ ([`rhat`]).
    pub rhat: f64,
    /// Bulk effective sample size ([`ess_bulk`]).
    pub ess_bulk: f64,
    /// Tail effective sample size ([`ess_tail`]).
    pub ess_tail: f64,
}

/// All of [`Summary`] for one parameter.
pub fn summary(chains: &[Vec<f64>]) -> Result<Summary> {
    check(chains)?;
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let sorted = sorted(&all);
    Ok(Summary {
        mean: mean(&all),
        std: std(&all),
        q05: quantile(&sorted, 0.05),
        q50: quantile(&sorted, 0.5),
        q95: quantile(&sorted, 0.95),
        rhat: rhat(chains)?,
        ess_bulk: ess_bulk(chains)?,
        ess_tail: ess_tail(chains)?,
    })
}

/// Rank-normalised split-R̂: the maximum of the bulk R̂ (split chains, rank-normalised) and
/// the tail R̂ (the same of `|x − median|`). Values above 1.01 indicate chains that have not
/// mixed. NaN if all draws are equal.
pub fn rhat(chains: &[Vec<f64>]) -> Result<f64> {
    check(chains)?;
    let split = split_chains(chains);
    let bulk = basic_rhat(&z_scale(&split));
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let median = quantile(&sorted(&all), 0.5);
    let folded: Vec<Vec<f64>> = split.iter().map(|c| c.iter().map(|v| (v - median).abs()).collect()).collect();
    let tail = basic_rhat(&z_scale(&folded));
    Ok(bulk.max(tail))
}

/// Bulk effective sample size: ESS of the rank-normalised split chains.
pub fn ess_bulk(chains: &[Vec<f64>]) -> Result<f64> {
    check(chains)?;
    Ok(ess(&z_scale(&split_chains(chains))))
}

/// Tail effective sample size: the minimum of the ESS of the 5 % and the 95 % quantile
/// (ESS of the split indicator chains `x ≤ q`).
pub fn ess_tail(chains: &[Vec<f64>]) -> Result<f64> {
    check(chains)?;
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let s = sorted(&all);
    let split = split_chains(chains);
    let at = |p: f64| {
        let q = quantile(&s, p);
        let ind: Vec<Vec<f64>> = split.iter().map(|c| c.iter().map(|&v| if v <= q { 1.0 } else { 0.0 }).collect()).collect();
        ess(&ind)
    };
    Ok(at(0.05).min(at(0.95)))
}

/// Effective sample size of `chains` as they are (no splitting or rank normalisation):
/// Geyer's initial monotone sequence on the multi-chain autocorrelation (Stan's estimator).
/// NaN if all draws are equal.
pub fn ess(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len();
    let n = chains.first().map_or(0, Vec::len);
    if m == 0 || n < 4 {
        return f64::NAN;
    }
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let centred: Vec<Vec<f64>> = chains.iter().zip(&means).map(|(c, mu)| c.iter().map(|v| v - mu).collect()).collect();
    // Mean over chains of the biased autocovariance at lag t.
    let acov =
        |t: usize| -> f64 { centred.iter().map(|c| (0..n - t).map(|i| c[i] * c[i + t]).sum::<f64>() / n as f64).sum::<f64>() / m as f64 };
    let nf = n as f64;
    let mean_var = acov(0) * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if m > 1 {
        var_plus += std(&means).powi(2);
    }
    if var_plus.is_nan() || var_plus <= 0.0 || var_plus.is_infinite() {
        return f64::NAN;
    }
    let rho = |t: usize| 1.0 - (mean_var - acov(t)) / var_plus;
    let mut rho_hat = vec![0.0; n];
    rho_hat[0] = 1.0;
    let mut rho_even = 1.0;
    let mut rho_odd = rho(1);
    rho_hat[1] = rho_odd;
    // Geyer's initial positive sequence.
    let mut t = 1;
    while t < n - 3 && rho_even + rho_odd > 0.0 {
        rho_even = rho(t + 1);
        rho_odd = rho(t + 2);
        if rho_even + rho_odd >= 0.0 {
            rho_hat[t + 1] = rho_even;
            rho_hat[t + 2] = rho_odd;
        }
        t += 2;
    }
    let max_t = t - 2;
    if rho_even > 0.0 {
        rho_hat[max_t + 1] = rho_even;
    }
    // Geyer's initial monotone sequence.
    let mut t = 1;
    while t + 2 <= max_t {
        if rho_hat[t + 1] + rho_hat[t + 2] > rho_hat[t - 1] + rho_hat[t] {
            rho_hat[t + 1] = (rho_hat[t - 1] + rho_hat[t]) / 2.0;
            rho_hat[t + 2] = rho_hat[t + 1];
        }
        t += 2;
    }
    let total = (m * n) as f64;
    let tau = -1.0 + 2.0 * rho_hat[..=max_t].iter().sum::<f64>() + rho_hat[max_t + 1..(max_t + 2).min(n)].iter().sum::<f64>();
    total / tau.max(1.0 / total.log10())
}

fn check(chains: &[Vec<f64>]) -> Result<()> {
    let n = chains.first().map_or(0, Vec::len);
    if chains.is_empty() || n < 4 || chains.iter().any(|c| c.len() != n) {
        return Err(InverseError::invalid(
            "MCMC chains",
            format!("{} chains of lengths {:?}", chains.len(), chains.iter().map(Vec::len).collect::<Vec<_>>()),
            "at least one chain, all of the same length ≥ 4",
        ));
    }
    if chains.iter().flatten().any(|v| !v.is_finite()) {
        return Err(InverseError::NonFinite("MCMC draws".into()));
    }
    Ok(())
}

fn sorted(x: &[f64]) -> Vec<f64> {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// Each chain split into its first and last half (the middle draw of an odd length dropped).
fn split_chains(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let half = chains[0].len() / 2;
    chains.iter().flat_map(|c| [c[..half].to_vec(), c[c.len() - half..].to_vec()]).collect()
}

/// Rank normalisation: `Φ⁻¹((rank − 3/8) / (S + 1/4))` over all draws, ties by average rank.
fn z_scale(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let s = all.len();
    let mut order: Vec<usize> = (0..s).collect();
    order.sort_by(|&a, &b| all[a].total_cmp(&all[b]));
    let mut rank = vec![0.0; s];
    let mut i = 0;
    while i < s {
        let mut j = i;
        while j + 1 < s && all[order[j + 1]] == all[order[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            rank[k] = r;
        }
        i = j + 1;
    }
    let z: Vec<f64> = rank.iter().map(|r| inverse_normal_cdf((r - 0.375) / (s as f64 + 0.25))).collect();
    let n = chains[0].len();
    z.chunks(n).map(<[f64]>::to_vec).collect()
}

/// Classic R̂ of (already split) chains.
fn basic_rhat(chains: &[Vec<f64>]) -> f64 {
    let n = chains[0].len() as f64;
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let b = n * std(&means).powi(2);
    let w = chains.iter().map(|c| std(c).powi(2)).sum::<f64>() / chains.len() as f64;
    (((n - 1.0) / n * w + b / n) / w).sqrt()
}

/// `Φ⁻¹(p)` by Acklam's rational approximation (relative error < 1.2e−9).
#[allow(clippy::excessive_precision)] // Acklam's published coefficients
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] =
        [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] =
        [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p <= 0.0 {
        f64::NEG_INFINITY
    } else if p >= 1.0 {
        f64::INFINITY
    } else if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mre_solver::rng::SplitMix64;

    fn iid(chains: usize, n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut g = SplitMix64::new(seed);
        (0..chains).map(|_| (0..n).map(|_| g.normal()).collect()).collect()
    }

    fn ar1(chains: usize, n: usize, rho: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut g = SplitMix64::new(seed);
        let s = (1.0 - rho * rho).sqrt();
        (0..chains)
            .map(|_| {
                let mut x = g.normal();
                (0..n)
                    .map(|_| {
                        x = rho * x + s * g.normal();
                        x
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn helpers() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&s, 0.0), 1.0);
        assert_eq!(quantile(&s, 1.0), 4.0);
        assert!((quantile(&s, 0.5) - 2.5).abs() < 1e-15);
        assert!((quantile(&s, 0.1) - 1.3).abs() < 1e-12);
        assert!((mean(&s) - 2.5).abs() < 1e-15);
        assert!((std(&s) - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((inverse_normal_cdf(0.975) - 1.959963984540054).abs() < 1e-8);
        assert!((inverse_normal_cdf(0.001) + 3.090232306167813).abs() < 1e-8);
        assert!(rhat(&[vec![1.0; 3]]).is_err());
    }

    #[test]
    fn iid_normal() {
        let c = iid(4, 1000, 1);
        let r = rhat(&c).unwrap();
        assert!((r - 1.0).abs() < 0.01, "R̂ {r}");
        let bulk = ess_bulk(&c).unwrap();
        let tail = ess_tail(&c).unwrap();
        assert!((bulk / 4000.0 - 1.0).abs() < 0.15, "bulk ESS {bulk}");
        assert!((tail / 4000.0 - 1.0).abs() < 0.25, "tail ESS {tail}");
    }

    #[test]
    fn ar1_chains() {
        let rho = 0.9;
        let c = ar1(4, 2000, rho, 2);
        let expected = 8000.0 * (1.0 - rho) / (1.0 + rho);
        let bulk = ess_bulk(&c).unwrap();
        let raw = ess(&c);
        assert!((bulk / expected - 1.0).abs() < 0.25, "bulk ESS {bulk}, expected {expected}");
        assert!((raw / expected - 1.0).abs() < 0.25, "ESS {raw}, expected {expected}");
        assert!(rhat(&c).unwrap() < 1.02);
    }

    #[test]
    fn shifted_chains_are_flagged() {
        let mut c = iid(4, 500, 3);
        for v in &mut c[1] {
            *v += 1.0;
        }
        let r = rhat(&c).unwrap();
        assert!(r > 1.1, "R̂ {r}");
        // A different scale only (same mean) is caught by the folded R̂.
        let mut c = iid(4, 500, 4);
        for v in &mut c[2] {
            *v *= 3.0;
        }
        assert!(rhat(&c).unwrap() > 1.05);
    }
}
