//! Small dense helpers (row-major `n × n`) for the Laplace approximation and test densities.

/// The Euclidean norm `‖x‖₂`.
pub(crate) fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Cholesky factor `L` (lower, row-major) of a symmetric positive definite `a`; `None` if `a`
/// is not positive definite (or not finite).
pub(crate) fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = a[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            if i == j {
                if s.is_nan() || s <= 0.0 || s.is_infinite() {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Inverse of `L Lᵀ` given the Cholesky factor `L`.
pub(crate) fn cholesky_inverse(l: &[f64], n: usize) -> Vec<f64> {
    // Linv = L⁻¹ (lower), then A⁻¹ = Linvᵀ Linv.
    let mut linv = vec![0.0; n * n];
    for c in 0..n {
        for i in c..n {
            let rhs = if i == c { 1.0 } else { 0.0 };
            let s: f64 = rhs - (c..i).map(|k| l[i * n + k] * linv[k * n + c]).sum::<f64>();
            linv[i * n + c] = s / l[i * n + i];
        }
    }
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (i..n).map(|k| linv[k * n + i] * linv[k * n + j]).sum();
            inv[i * n + j] = s;
            inv[j * n + i] = s;
        }
    }
    inv
}

/// `y = A x` for row-major `A`.
pub(crate) fn mat_vec(a: &[f64], x: &[f64], n: usize) -> Vec<f64> {
    (0..n).map(|i| (0..n).map(|j| a[i * n + j] * x[j]).sum()).collect()
}
