//! Continuum normalization (SPEC §3): astroNN's `apogee_continuum` with dr=17.
//!
//! Each chip's continuum is a degree-2 Chebyshev series fitted, as NumPy's
//! `Chebyshev.fit(x, y, 2, w=1/(e²+1e-8))` does, to the flux at the DR17 continuum pixels.
//! The spectrum is divided by it, then negative, non-finite and flagged pixels are replaced.

use crate::apogee::grid::{chip_ranges_without_gaps, delete_gaps, APSTAR_PIXELS};
use crate::apogee::masks::continuum_pixels;
use crate::apogee::pixmask::is_bad;

/// Value astroNN puts where the normalized flux is not finite, and at flagged pixels.
pub const MASK_VALUE: f64 = 1.0;

const CHIP_NAMES: [&str; 3] = ["blue", "green", "red"];

/// A continuum-normalized spectrum on the 7514-pixel network grid.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedSpectrum {
    /// Normalized flux, what the networks read.
    pub flux: Vec<f64>,
    /// Normalized flux error (left as computed at pixels whose flux was replaced, as
    /// astroNN does; 1.0 at flagged pixels).
    pub e_flux: Vec<f64>,
}

/// Normalizes an apStar spectrum (8575 pixels of flux, flux error and APOGEE_PIXMASK).
///
/// Fails, with the reason, when the arrays have the wrong length or a chip has fewer than
/// three continuum pixels with finite flux and non-zero weight (no continuum can be fitted).
pub fn normalize(
    flux: &[f64],
    e_flux: &[f64],
    bitmask: &[u64],
) -> Result<NormalizedSpectrum, String> {
    for (name, len) in [
        ("flux", flux.len()),
        ("flux error", e_flux.len()),
        ("bitmask", bitmask.len()),
    ] {
        if len != APSTAR_PIXELS {
            return Err(format!(
                "{name} has {len} pixels, an apStar spectrum has {APSTAR_PIXELS}"
            ));
        }
    }
    let flux = delete_gaps(flux);
    let e_flux = delete_gaps(e_flux);
    let bitmask = delete_gaps(bitmask);
    let continuum_mask = continuum_pixels();

    let mut out_flux = Vec::with_capacity(flux.len());
    let mut out_err = Vec::with_capacity(flux.len());
    for (chip, range) in chip_ranges_without_gaps().into_iter().enumerate() {
        let series = fit_chip_continuum(
            &flux[range.clone()],
            &e_flux[range.clone()],
            &continuum_mask[range.clone()],
        )
        .map_err(|n| {
            format!(
                "no continuum can be fitted on the {} chip: {n} usable continuum pixels \
                 (finite flux, finite error), at least 3 needed",
                CHIP_NAMES[chip]
            )
        })?;
        for (x, i) in range.enumerate() {
            let continuum = series.evaluate(x as f64);
            out_flux.push(flux[i] / continuum);
            out_err.push(e_flux[i] / continuum);
        }
    }
    replace_unusable_pixels(&mut out_flux, &mut out_err, &bitmask);
    Ok(NormalizedSpectrum {
        flux: out_flux,
        e_flux: out_err,
    })
}

/// Steps 5 and 6 of SPEC §3: clip negative flux, mask non-finite flux and flagged pixels.
fn replace_unusable_pixels(flux: &mut [f64], e_flux: &mut [f64], bitmask: &[u64]) {
    for ((f, e), &bits) in flux.iter_mut().zip(e_flux.iter_mut()).zip(bitmask) {
        if *f < 0.0 {
            *f = 0.0;
        }
        if !f.is_finite() {
            *f = MASK_VALUE;
        }
        if is_bad(bits) {
            *f = MASK_VALUE;
            *e = MASK_VALUE;
        }
    }
}

/// A degree-2 Chebyshev series on a mapped domain, as NumPy's `Chebyshev` holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ChebyshevSeries {
    coef: [f64; 3],
    offset: f64,
    scale: f64,
}

impl ChebyshevSeries {
    /// The series at `x` (NumPy's `chebval` after `mapdomain`).
    fn evaluate(&self, x: f64) -> f64 {
        let x = self.offset + self.scale * x;
        let x2 = 2.0 * x;
        let c0 = self.coef[0] - self.coef[2];
        let c1 = self.coef[1] + self.coef[2] * x2;
        c0 + c1 * x
    }
}

/// Fits one chip. `Err(n)` when fewer than 3 usable points (n of them) are available.
fn fit_chip_continuum(
    flux: &[f64],
    e_flux: &[f64],
    continuum_mask: &[bool],
) -> Result<ChebyshevSeries, usize> {
    let points: Vec<(f64, f64, f64)> = continuum_mask
        .iter()
        .enumerate()
        .filter(|&(i, &is_continuum)| is_continuum && flux[i].is_finite())
        .map(|(i, _)| (i as f64, flux[i], weight(e_flux[i])))
        .collect();
    let usable = points.iter().filter(|p| p.2 > 0.0).count();
    if usable < 3 {
        return Err(usable);
    }
    Ok(chebyshev_fit_deg2(&points))
}

/// NumPy's fit weight `1/(e² + 1e-8)`; a non-finite weight (NaN error) counts as zero.
fn weight(e_flux: f64) -> f64 {
    let w = 1.0 / (e_flux * e_flux + 1e-8);
    if w.is_finite() {
        w
    } else {
        0.0
    }
}

/// `Chebyshev.fit(x, y, 2, w=w)` for `(x, y, w)` points: the domain is the points' x range,
/// and, as in NumPy, `w` multiplies the unsquared residuals.
fn chebyshev_fit_deg2(points: &[(f64, f64, f64)]) -> ChebyshevSeries {
    let lo = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    // NumPy's mapparms from [lo, hi] to [-1, 1].
    let length = hi - lo;
    let offset = (-hi - lo) / length;
    let scale = 2.0 / length;

    // Weighted Vandermonde matrix and right-hand side, columns scaled to unit norm.
    let mut a: Vec<[f64; 3]> = Vec::with_capacity(points.len());
    let mut b: Vec<f64> = Vec::with_capacity(points.len());
    for &(x, y, w) in points {
        let x = offset + scale * x;
        a.push([w, x * w, (x * (2.0 * x) - 1.0) * w]);
        b.push(y * w);
    }
    let mut column_norm = [0.0f64; 3];
    for (j, norm) in column_norm.iter_mut().enumerate() {
        let n = a.iter().map(|row| row[j] * row[j]).sum::<f64>().sqrt();
        *norm = if n == 0.0 { 1.0 } else { n };
    }
    for row in a.iter_mut() {
        for j in 0..3 {
            row[j] /= column_norm[j];
        }
    }
    let solution = least_squares_3(&mut a, &mut b);
    ChebyshevSeries {
        coef: [
            solution[0] / column_norm[0],
            solution[1] / column_norm[1],
            solution[2] / column_norm[2],
        ],
        offset,
        scale,
    }
}

/// Least-squares solution of `a · c = b` (`a` is n×3, full rank) by Householder QR.
fn least_squares_3(a: &mut [[f64; 3]], b: &mut [f64]) -> [f64; 3] {
    let n = a.len();
    for k in 0..3 {
        let norm = (k..n).map(|i| a[i][k] * a[i][k]).sum::<f64>().sqrt();
        if norm == 0.0 {
            continue;
        }
        let alpha = if a[k][k] > 0.0 { -norm } else { norm };
        // Householder vector v = a[k.., k] - alpha e_k, stored in place.
        a[k][k] -= alpha;
        let v_norm_sq: f64 = (k..n).map(|i| a[i][k] * a[i][k]).sum();
        for j in k + 1..3 {
            let dot: f64 = (k..n).map(|i| a[i][k] * a[i][j]).sum();
            let factor = 2.0 * dot / v_norm_sq;
            for row in a[k..].iter_mut() {
                row[j] -= factor * row[k];
            }
        }
        let dot: f64 = (k..n).map(|i| a[i][k] * b[i]).sum();
        let factor = 2.0 * dot / v_norm_sq;
        for (bi, row) in b[k..].iter_mut().zip(&a[k..]) {
            *bi -= factor * row[k];
        }
        // R's diagonal is alpha; the sub-diagonal column is no longer needed.
        a[k][k] = alpha;
    }
    let mut c = [0.0f64; 3];
    for k in (0..3).rev() {
        let tail: f64 = (k + 1..3).map(|j| a[k][j] * c[j]).sum();
        c[k] = if a[k][k] == 0.0 {
            0.0
        } else {
            (b[k] - tail) / a[k][k]
        };
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apogee::grid::NETWORK_PIXELS;

    #[test]
    fn weighted_fit_recovers_an_exact_quadratic() {
        // y = 3 - 0.01 x + 2e-5 x² on scattered points with varied weights.
        let points: Vec<(f64, f64, f64)> = (0..40)
            .map(|i| {
                let x = (i * 37 % 500) as f64;
                (x, 3.0 - 0.01 * x + 2e-5 * x * x, 1.0 + (i % 7) as f64)
            })
            .collect();
        let series = chebyshev_fit_deg2(&points);
        for x in [0.0, 123.0, 250.5, 499.0] {
            let expected = 3.0 - 0.01 * x + 2e-5 * x * x;
            assert!((series.evaluate(x) - expected).abs() < 1e-12);
        }
    }

    #[test]
    fn weights_multiply_unsquared_residuals() {
        // Three points on a line and one outlier: with weights applied to the unsquared
        // residuals (NumPy), the outlier with w=2 counts as 4 in the normal equations.
        // Fitting y(x) for a degree-2 series through 4 points: compare with the weighted
        // normal equations Σ w² (y - p)² solved directly.
        let points = [
            (0.0, 1.0, 1.0),
            (1.0, 2.0, 1.0),
            (2.0, 3.0, 1.0),
            (3.0, 10.0, 2.0),
        ];
        let series = chebyshev_fit_deg2(&points);
        // Minimiser of Σ (w (y - (a + b x + c x²)))², computed by hand via normal equations.
        let mut m = [[0.0f64; 3]; 3];
        let mut r = [0.0f64; 3];
        for &(x, y, w) in &points {
            let basis = [1.0, x, x * x];
            for i in 0..3 {
                for j in 0..3 {
                    m[i][j] += w * w * basis[i] * basis[j];
                }
                r[i] += w * w * basis[i] * y;
            }
        }
        let solution = solve3(m, r);
        for x in [0.0, 1.5, 3.0] {
            let expected = solution[0] + solution[1] * x + solution[2] * x * x;
            assert!((series.evaluate(x) - expected).abs() < 1e-10);
        }
    }

    fn solve3(mut m: [[f64; 3]; 3], mut r: [f64; 3]) -> [f64; 3] {
        for k in 0..3 {
            let pivot = m[k];
            for i in k + 1..3 {
                let f = m[i][k] / pivot[k];
                for (mij, pj) in m[i][k..].iter_mut().zip(&pivot[k..]) {
                    *mij -= f * pj;
                }
                r[i] -= f * r[k];
            }
        }
        let mut c = [0.0; 3];
        for k in (0..3).rev() {
            let tail: f64 = (k + 1..3).map(|j| m[k][j] * c[j]).sum();
            c[k] = (r[k] - tail) / m[k][k];
        }
        c
    }

    fn flat_spectrum(level: f64) -> (Vec<f64>, Vec<f64>, Vec<u64>) {
        (
            vec![level; APSTAR_PIXELS],
            vec![level * 0.01; APSTAR_PIXELS],
            vec![0; APSTAR_PIXELS],
        )
    }

    #[test]
    fn flat_spectrum_normalizes_to_one() {
        let (flux, e_flux, mask) = flat_spectrum(250.0);
        let out = normalize(&flux, &e_flux, &mask).unwrap();
        assert_eq!(out.flux.len(), NETWORK_PIXELS);
        assert!(out.flux.iter().all(|f| (f - 1.0).abs() < 1e-12));
        assert!(out.e_flux.iter().all(|e| (e - 0.01).abs() < 1e-12));
    }

    #[test]
    fn negative_nonfinite_and_flagged_pixels_are_replaced() {
        let (mut flux, mut e_flux, mut mask) = flat_spectrum(100.0);
        // apStar pixels 300, 301, 302, 303 are in the blue chip (network pixels 54..58).
        flux[300] = -50.0;
        flux[301] = f64::NAN;
        flux[302] = f64::INFINITY;
        mask[303] = 1 << 12;
        e_flux[303] = 5.0;
        mask[304] = 1 << 9; // PERSIST_HIGH: kept
        let out = normalize(&flux, &e_flux, &mask).unwrap();
        assert_eq!(out.flux[54], 0.0);
        assert_eq!(out.flux[55], MASK_VALUE);
        assert_eq!(out.flux[56], MASK_VALUE);
        assert_eq!((out.flux[57], out.e_flux[57]), (1.0, 1.0));
        assert!((out.flux[58] - 1.0).abs() < 1e-12);
        // The error of a replaced non-finite pixel is left as computed.
        assert!((out.e_flux[55] - 0.01).abs() < 1e-12);
    }

    #[test]
    fn nonfinite_flux_at_continuum_pixels_is_left_out_of_the_fit() {
        // A tilted red chip with one NaN and one infinite continuum pixel: the fit of the
        // remaining pixels still recovers the line exactly (astroNN 1.1.0 would give NaN).
        let (mut flux, e_flux, mask) = flat_spectrum(100.0);
        for (x, i) in (6344..8335).enumerate() {
            flux[i] = 100.0 + 0.01 * x as f64;
        }
        let red = chip_ranges_without_gaps()[2].clone();
        let continuum: Vec<usize> = red.clone().filter(|&i| continuum_pixels()[i]).collect();
        let (nan_pixel, inf_pixel) = (continuum[3] - red.start, continuum[10] - red.start);
        flux[6344 + nan_pixel] = f64::NAN;
        flux[6344 + inf_pixel] = f64::INFINITY;
        let out = normalize(&flux, &e_flux, &mask).unwrap();
        for (x, i) in red.enumerate() {
            if x != nan_pixel && x != inf_pixel {
                assert!(
                    (out.flux[i] - 1.0).abs() < 1e-12,
                    "pixel {x}: {}",
                    out.flux[i]
                );
            }
        }
        assert_eq!(out.flux[5523 + nan_pixel], MASK_VALUE);
    }

    #[test]
    fn a_chip_without_usable_continuum_is_an_error() {
        let (mut flux, mut e_flux, mask) = flat_spectrum(100.0);
        flux[3585..6080].fill(f64::NAN);
        let err = normalize(&flux, &e_flux, &mask).unwrap_err();
        assert!(err.contains("green chip"), "{err}");
        let (flux, _, mask) = flat_spectrum(100.0);
        e_flux.iter_mut().for_each(|e| *e = f64::INFINITY);
        let err = normalize(&flux, &e_flux, &mask).unwrap_err();
        assert!(err.contains("blue chip"), "{err}");
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let err = normalize(&[1.0; 4096], &[1.0; 4096], &[0; 4096]).unwrap_err();
        assert!(err.contains("4096"), "{err}");
    }
}
