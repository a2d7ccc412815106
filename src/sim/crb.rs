//! Cramér–Rao bounds: the smallest standard deviation any unbiased estimator of a label can
//! reach from one spectrum, given the model's Jacobian and independent Gaussian pixel noise.
//!
//! Fisher matrix `F = Σ_p J_p J_pᵀ / σ_p²` over the usable pixels; the bound of label k is
//! `sqrt((F⁻¹)_kk)`, all other labels being unknown too.

// Small dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use crate::sim::spectrum::N_LABELS;

/// The Cramér–Rao bound of every label, or NaN for all when the Fisher matrix is singular
/// (a label the spectrum says nothing about). `sigma[p]` is the noise of pixel p in
/// normalized flux; pixels with a non-finite or non-positive `sigma` carry no information.
pub fn cramer_rao_bounds(jacobian: &[[f64; N_LABELS]], sigma: &[f64]) -> [f64; N_LABELS] {
    let fisher = fisher_matrix(jacobian, sigma);
    match invert_diagonal(&fisher) {
        Some(diagonal) => diagonal.map(f64::sqrt),
        None => [f64::NAN; N_LABELS],
    }
}

/// `Σ_p J_p J_pᵀ / σ_p²`.
fn fisher_matrix(jacobian: &[[f64; N_LABELS]], sigma: &[f64]) -> [[f64; N_LABELS]; N_LABELS] {
    let mut fisher = [[0.0; N_LABELS]; N_LABELS];
    for (j, &s) in jacobian.iter().zip(sigma) {
        if !(s.is_finite() && s > 0.0) {
            continue;
        }
        let w = 1.0 / (s * s);
        for a in 0..N_LABELS {
            let ja = j[a] * w;
            for b in a..N_LABELS {
                fisher[a][b] += ja * j[b];
            }
        }
    }
    for a in 0..N_LABELS {
        for b in 0..a {
            fisher[a][b] = fisher[b][a];
        }
    }
    fisher
}

/// The diagonal of the inverse of a symmetric positive-definite matrix (Cholesky on the
/// matrix scaled to unit diagonal, so labels of very different units stay well conditioned);
/// `None` when it is not positive definite.
fn invert_diagonal(matrix: &[[f64; N_LABELS]; N_LABELS]) -> Option<[f64; N_LABELS]> {
    let n = N_LABELS;
    let scale: Vec<f64> = (0..n).map(|i| matrix[i][i].sqrt()).collect();
    if scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return None;
    }
    // Cholesky factor L of the scaled matrix, lower triangle.
    let mut l = [[0.0; N_LABELS]; N_LABELS];
    for i in 0..n {
        for j in 0..=i {
            let mut sum = matrix[i][j] / (scale[i] * scale[j]);
            for k in 0..j {
                sum -= l[i][k] * l[j][k];
            }
            if i == j {
                if sum <= 1e-12 {
                    return None;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    // A⁻¹ = L⁻ᵀ L⁻¹, so (A⁻¹)_jj is the squared norm of column j of L⁻¹ (x solves L x = e_j).
    let mut diagonal = [0.0; N_LABELS];
    for (col, d) in diagonal.iter_mut().enumerate() {
        let mut x = [0.0; N_LABELS];
        for i in col..n {
            let mut sum = if i == col { 1.0 } else { 0.0 };
            for k in col..i {
                sum -= l[i][k] * x[k];
            }
            x[i] = sum / l[i][i];
        }
        *d = x.iter().map(|v| v * v).sum::<f64>() / (scale[col] * scale[col]);
    }
    Some(diagonal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_of_a_known_linear_model() {
        // Two informative pixels per label pair: label 0 alone on pixel 0 (slope 2, σ 0.5),
        // labels 0 and 1 together on pixel 1; every other label has a pixel of its own.
        let mut jacobian = vec![[0.0; N_LABELS]; N_LABELS + 1];
        let mut sigma = vec![1.0; N_LABELS + 1];
        jacobian[0][0] = 2.0;
        sigma[0] = 0.5;
        jacobian[1][0] = 1.0;
        jacobian[1][1] = 1.0;
        for k in 2..N_LABELS {
            jacobian[k][k] = 4.0;
        }
        // F for labels (0, 1) = [[16 + 1, 1], [1, 1]]; inverse diagonal = [1/16, 17/16].
        let crb = cramer_rao_bounds(&jacobian, &sigma);
        assert!((crb[0] - 0.25).abs() < 1e-12, "{}", crb[0]);
        assert!(
            (crb[1] - (17.0f64 / 16.0).sqrt()).abs() < 1e-12,
            "{}",
            crb[1]
        );
        for bound in &crb[2..] {
            assert!((bound - 0.25).abs() < 1e-12);
        }
    }

    #[test]
    fn unconstrained_label_gives_nan() {
        let mut jacobian = vec![[0.0; N_LABELS]; N_LABELS];
        for (k, row) in jacobian.iter_mut().enumerate().skip(1) {
            row[k] = 1.0;
        }
        let crb = cramer_rao_bounds(&jacobian, &[1.0; N_LABELS]);
        assert!(crb.iter().all(|b| b.is_nan()));
    }

    #[test]
    fn unusable_pixels_carry_no_information() {
        let mut jacobian = vec![[0.0; N_LABELS]; 2 * N_LABELS];
        for k in 0..N_LABELS {
            jacobian[k][k] = 1.0;
            jacobian[N_LABELS + k][k] = 1.0;
        }
        let mut sigma = vec![1.0; 2 * N_LABELS];
        for s in sigma.iter_mut().skip(N_LABELS) {
            *s = f64::INFINITY;
        }
        let crb = cramer_rao_bounds(&jacobian, &sigma);
        assert!(crb.iter().all(|b| (b - 1.0).abs() < 1e-12));
    }
}
