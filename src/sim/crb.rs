//! Cramér–Rao bounds: the smallest standard deviation any unbiased estimator of a label can
//! reach from one spectrum, given the model's Jacobian, independent Gaussian pixel noise and
//! each star's own line-strength scatter.
//!
//! A pixel's line-strength scatter ε ~ N(0, η²) (in ln τ) moves its flux by `g ε` with
//! `g = ∂f/∂ε = f ln f`, so, linearised, each pixel has noise variance `σ² + η² g²`. The
//! Fisher matrix is `F = Σ_p J_p J_pᵀ / (σ_p² + η² g_p²)` over the usable pixels, and the
//! bound of label k is `sqrt((F⁻¹)_kk)`, all other labels being unknown too.

// Small dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use crate::sim::spectrum::N_LABELS;

/// The Cramér–Rao bound of every label, or NaN for all when the Fisher matrix is singular
/// (a label the spectrum says nothing about). `flux` and `jacobian` are the model's spectrum
/// and Jacobian at the star's labels; `sigma[p]` is the photon noise of pixel p in
/// normalized flux (a non-finite or non-positive `sigma` carries no information); every
/// pixel's line strength scatters by `scatter` e-folds (0 for none).
pub fn cramer_rao_bounds(
    flux: &[f64],
    jacobian: &[[f64; N_LABELS]],
    sigma: &[f64],
    scatter: f64,
) -> [f64; N_LABELS] {
    let mut fisher = [[0.0; N_LABELS]; N_LABELS];
    for ((&f, j), &s) in flux.iter().zip(jacobian).zip(sigma) {
        if !(s.is_finite() && s > 0.0) {
            continue;
        }
        // ∂f/∂ε = f ln f: the flux change of a unit change of the pixel's ln τ.
        let g = if f > 0.0 { f * f.ln() } else { 0.0 };
        let w = 1.0 / (s * s + scatter * scatter * g * g);
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
    match invert_diagonal(&fisher) {
        Some(diagonal) => diagonal.map(f64::sqrt),
        None => [f64::NAN; N_LABELS],
    }
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
        let crb = cramer_rao_bounds(&vec![0.5; jacobian.len()], &jacobian, &sigma, 0.0);
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
    fn line_strength_scatter_adds_to_the_pixel_noise() {
        // Label 0 on one pixel of flux 0.5 with slope 3: F = 9 / (σ² + η² (0.5 ln 0.5)²).
        let (sigma, eta) = (0.1f64, 0.2f64);
        let mut jacobian = vec![[0.0; N_LABELS]; N_LABELS];
        let mut flux = vec![1.0; N_LABELS];
        flux[0] = 0.5;
        for (k, row) in jacobian.iter_mut().enumerate() {
            row[k] = if k == 0 { 3.0 } else { 1.0 };
        }
        let sigmas = vec![sigma; N_LABELS];
        let crb = cramer_rao_bounds(&flux, &jacobian, &sigmas, eta);
        let g = 0.5 * 0.5f64.ln();
        let expected = (sigma * sigma + eta * eta * g * g).sqrt() / 3.0;
        assert!((crb[0] - expected).abs() < 1e-12, "{} {expected}", crb[0]);
        // A pixel at the continuum (f = 1) has no line to scatter.
        assert!((crb[5] - sigma).abs() < 1e-12);
    }

    #[test]
    fn unconstrained_label_gives_nan() {
        let mut jacobian = vec![[0.0; N_LABELS]; N_LABELS];
        for (k, row) in jacobian.iter_mut().enumerate().skip(1) {
            row[k] = 1.0;
        }
        let crb = cramer_rao_bounds(&[0.5; N_LABELS], &jacobian, &[1.0; N_LABELS], 0.0);
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
        let crb = cramer_rao_bounds(&vec![0.5; jacobian.len()], &jacobian, &sigma, 0.0);
        assert!(crb.iter().all(|b| (b - 1.0).abs() < 1e-12));
    }
}
