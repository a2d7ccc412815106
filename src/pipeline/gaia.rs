//! Gaia DR3 parallaxes for AstroNNDist: the Lindegren et al. (2021) parallax zero-point, the
//! zero-point-corrected Gaia parallax, and the inverse-variance weighted mean of the Gaia and
//! network parallaxes with its distance.
//!
//! This reproduces SDSS Astra's `astronn_dist_v2` (`python/astra/pipelines/astronn_dist/base.py`
//! on that branch), the code that produced DR19's `astraAllStarAstroNNdist`: `get_gaiadata`
//! (zero-point and corrected parallax, [`gaia_parallax`]) and the weighting at the end of
//! `_inference` ([`weighted_distance`]). The zero-point is that of the PyPI package
//! `gaiadr3-zeropoint` (`zero_point.zpt.get_zpt`), called as Astra calls it: on numpy arrays,
//! with its default `_warnings=True` ([`lindegren_zero_point`]).
//!
//! Quirks kept, so that the numbers are Astra's:
//!
//! * Out of its range of validity (G outside 6–21, ν_eff outside 1.1–1.9, pseudocolour outside
//!   1.24–1.72) the zero-point is still evaluated, not NaN: with warnings on, the package clamps
//!   its basis functions and its G interpolation. Astra itself only asks for 6 < G < 21.
//! * A NaN in the colour used (ν_eff for 5-parameter solutions, the pseudocolour for
//!   6-parameter ones), in G or in the ecliptic latitude gives a NaN zero-point, and then a NaN
//!   corrected parallax with the catalogue's parallax error kept (NaN fails Astra's range test).
//! * Stars without a usable Gaia row (none, a 2-parameter solution, G not in (6, 21)) get the
//!   median zero-point −0.03464 mas of astroNN's DR17 catalogue (Astra's `except` branch).
//! * A corrected parallax below 0 or above 1e10 mas makes parallax, error and zero-point NaN;
//!   a NaN parallax passes that test, so it keeps its error and zero-point.
//! * The network's parallax is weighted by its MC-dropout ("model") error alone, not by its
//!   total error.
//! * A negative weighted parallax gives a negative distance.
//! * Distances above 1e10 pc are NaN-ed *before* their errors are tested, so a distance error
//!   survives unless it is itself above 1e10 pc.
//! * Astra takes the square root of the variance as a `numpy.ma` masked array; masked
//!   elements are written to the database as NaN. So an infinite error comes out as NaN, and
//!   where `numpy.ma` masks the quotient error / parallax (not finite, or |parallax| ≤
//!   |error| · 2.2e-308) the distance error is NaN and its 1e10 test sees the distance instead.

/// Lindegren et al. (2021) zero-point coefficients: q_jk at the G nodes [`G_NODES`], one column
/// per term i, which multiplies colour basis function `colour_basis[i]` (the paper's j) and
/// latitude basis function `latitude_basis[i]` (its k).
struct ZeroPointTable<const TERMS: usize> {
    colour_basis: [usize; TERMS],
    latitude_basis: [usize; TERMS],
    coefficients: [[f64; TERMS]; G_NODES.len()],
}

/// The G magnitudes at which both tables give their coefficients.
const G_NODES: [f64; 13] = [
    6.0, 10.8, 11.2, 11.8, 12.2, 12.9, 13.1, 15.9, 16.1, 17.5, 19.0, 20.0, 21.0,
];

/// Zero-point of 5-parameter solutions, in µas: the published table of Lindegren et al. (2021),
/// A&A 649, A4, as shipped in `gaiadr3-zeropoint` (`coefficients/z5_200720.txt`, dated 200720).
const Z5: ZeroPointTable<9> = ZeroPointTable {
    colour_basis: [0, 0, 0, 1, 1, 2, 3, 4, 4],
    latitude_basis: [0, 1, 2, 0, 1, 0, 0, 0, 0],
    coefficients: [
        [-26.98, -9.62, 27.40, -25.1, -0.0, -1257.0, 0.0, 0.0, 0.0],
        [-27.23, -3.07, 23.04, 35.3, 15.7, -1257.0, 0.0, 0.0, 0.0],
        [-30.33, -9.23, 9.08, -88.4, -11.8, -1257.0, 0.0, 0.0, 0.0],
        [-33.54, -10.08, 13.28, -126.7, 11.6, -1257.0, 0.0, 0.0, 0.0],
        [-13.65, -0.07, 9.35, -111.4, 40.6, -1257.0, 0.0, 0.0, 0.0],
        [-19.53, -1.64, 15.86, -66.8, 20.6, -1257.0, 0.0, 0.0, 0.0],
        [-37.99, 2.63, 16.14, -5.7, 14.0, -1257.0, 107.9, 104.3, 0.0],
        [-38.33, 5.61, 15.42, 0.0, 18.7, -1189.0, 243.8, 155.2, 0.0],
        [-31.05, 2.83, 8.59, 0.0, 15.5, -1404.0, 105.5, 170.7, 0.0],
        [-29.18, -0.09, 2.41, 0.0, 24.5, -1165.0, 189.7, 325.0, 0.0],
        [-18.40, 5.98, -6.46, 0.0, 5.5, 0.0, 0.0, 276.6, 0.0],
        [-12.65, -4.57, -7.46, 0.0, 97.9, 0.0, 0.0, 0.0, 0.0],
        [-18.22, -15.24, -18.54, 0.0, 128.2, 0.0, 0.0, 0.0, 0.0],
    ],
};

/// Zero-point of 6-parameter solutions, in µas: the published table of Lindegren et al. (2021),
/// A&A 649, A4, as shipped in `gaiadr3-zeropoint` (`coefficients/z6_200720.txt`, dated 200720).
const Z6: ZeroPointTable<8> = ZeroPointTable {
    colour_basis: [0, 0, 0, 1, 1, 1, 2, 0],
    latitude_basis: [0, 1, 2, 0, 1, 2, 0, 0],
    coefficients: [
        [-27.85, -7.78, 27.47, -32.1, 14.4, 9.5, -67.0, 0.0],
        [-28.91, -3.57, 22.92, 7.7, 12.6, 1.6, -572.0, 0.0],
        [-26.72, -8.74, 9.36, -30.3, 5.6, 17.2, -1104.0, 0.0],
        [-29.04, -9.69, 13.63, -49.4, 36.3, 17.7, -1129.0, 0.0],
        [-12.39, -2.16, 10.23, -92.6, 19.8, 27.6, -365.0, 0.0],
        [-18.99, -1.93, 15.90, -57.2, -8.0, 19.9, -554.0, 0.0],
        [-38.29, 2.59, 16.20, -10.5, 1.4, 0.4, -960.0, 0.0],
        [-36.83, 4.20, 15.76, 22.3, 11.1, 10.0, -1367.0, 0.0],
        [-28.37, 1.99, 9.28, 50.4, 17.2, 13.7, -1351.0, 0.0],
        [-24.68, -1.37, 3.52, 86.8, 19.8, 21.3, -1380.0, 0.0],
        [-15.32, 4.01, -6.03, 29.2, 14.1, 0.4, -563.0, 0.0],
        [-13.73, -10.92, -8.30, -74.4, 196.4, -42.0, 536.0, 0.0],
        [-29.53, -20.34, -18.74, -39.5, 326.8, -262.3, 1598.0, 0.0],
    ],
};

/// `astrometric_params_solved` of a 5-parameter solution (uses ν_eff).
const FIVE_PARAMETER_SOLUTION: i64 = 31;
/// `astrometric_params_solved` of a 6-parameter solution (uses the pseudocolour).
const SIX_PARAMETER_SOLUTION: i64 = 95;

/// The zero-point Astra uses when the Lindegren one cannot be computed: the median zero-point
/// of astroNN's DR17 value-added catalogue, in mas.
pub const MEDIAN_ZERO_POINT_MAS: f64 = -0.03464;

/// Corrected parallaxes (mas) and distances (pc) above this are NaN-ed by Astra.
const MAX_VALUE: f64 = 1e10;

/// Inputs of the zero-point from Gaia DR3's own columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZeroPointInputs {
    /// G magnitude (`phot_g_mean_mag`).
    pub phot_g_mean_mag: f64,
    /// Effective wavenumber in µm⁻¹ used by 5-parameter solutions; NaN for others.
    pub nu_eff_used_in_astrometry: f64,
    /// Astrometric pseudocolour in µm⁻¹ of 6-parameter solutions; NaN for others.
    pub pseudocolour: f64,
    /// Ecliptic latitude in degrees.
    pub ecl_lat: f64,
    /// Solution type: 31 (5-parameter), 95 (6-parameter) or 3 (2-parameter).
    pub astrometric_params_solved: i64,
}

/// The zero-point in mas, or None for astrometric_params_solved other than 31 / 95.
///
/// `gaiadr3-zeropoint`'s `get_zpt` on arrays with warnings on (as Astra calls it): evaluated
/// even out of range, NaN when an input it uses is NaN, rounded to 1e-6 mas as the package does.
pub fn lindegren_zero_point(inputs: &ZeroPointInputs) -> Option<f64> {
    let sin_beta = inputs.ecl_lat.to_radians().sin();
    let g = inputs.phot_g_mean_mag;
    let micro_arcsec = match inputs.astrometric_params_solved {
        FIVE_PARAMETER_SOLUTION => {
            table_zero_point(&Z5, g, inputs.nu_eff_used_in_astrometry, sin_beta)
        }
        SIX_PARAMETER_SOLUTION => table_zero_point(&Z6, g, inputs.pseudocolour, sin_beta),
        _ => return None,
    };
    Some(round_to_micro(micro_arcsec * 0.001))
}

/// The package's `np.round(zpt * 0.001, 6)`: numpy multiplies by 1e6, rounds half to even
/// and divides by 1e6.
fn round_to_micro(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

/// The zero-point in µas from one table (`_calc_zpt`): the coefficients interpolated in G times
/// the colour and latitude basis functions, summed in numpy's order.
fn table_zero_point<const TERMS: usize>(
    table: &ZeroPointTable<TERMS>,
    g: f64,
    colour: f64,
    sin_beta: f64,
) -> f64 {
    let colour_basis = colour_basis(colour);
    let latitude_basis = latitude_basis(sin_beta);
    let (bin, weight) = g_interpolation(g);
    let (lower, upper) = (&table.coefficients[bin], &table.coefficients[bin + 1]);
    let terms: [f64; TERMS] = std::array::from_fn(|i| {
        let q = (1.0 - weight) * lower[i] + weight * upper[i];
        q * colour_basis[table.colour_basis[i]] * latitude_basis[table.latitude_basis[i]]
    });
    numpy_pairwise_sum(&terms)
}

/// The colour basis functions c_0..c_4 of Lindegren et al. (2021), of the wavenumber in µm⁻¹:
/// a constant, a linear term clamped to ±0.24 around 1.48, a cubic below 1.48 (redder stars),
/// and linear tails below 1.24 (very red) and above 1.72 (very blue).
fn colour_basis(colour: f64) -> [f64; 5] {
    [
        1.0,
        nan_max(-0.24, nan_min(0.24, colour - 1.48)),
        nan_min(0.24, nan_max(0.0, 1.48 - colour)).powf(3.0),
        nan_min(0.0, colour - 1.24),
        nan_max(0.0, colour - 1.72),
    ]
}

/// The latitude basis functions b_0..b_2: 1, sin β and sin²β − 1/3.
fn latitude_basis(sin_beta: f64) -> [f64; 3] {
    [1.0, sin_beta, sin_beta * sin_beta - 1.0 / 3.0]
}

/// The G bin (clamped to the table) and the interpolation weight in it (clamped to [0, 1]),
/// as the package's `np.digitize` and clamps give them; NaN G gives a NaN weight.
fn g_interpolation(g: f64) -> (usize, f64) {
    // np.digitize sorts NaN after every node.
    let nodes_at_or_below = G_NODES
        .iter()
        .filter(|&&node| g.is_nan() || node <= g)
        .count();
    let bin = nodes_at_or_below.saturating_sub(1).min(G_NODES.len() - 2);
    let fraction = (g - G_NODES[bin]) / (G_NODES[bin + 1] - G_NODES[bin]);
    (bin, nan_max(0.0, nan_min(1.0, fraction)))
}

/// numpy's `np.sum(axis=0)` of a few terms: its pairwise summation adds the first eight as a
/// tree, then the rest one by one (exact for 8 to 15 terms, the sizes of the two tables).
fn numpy_pairwise_sum(terms: &[f64]) -> f64 {
    debug_assert!((8..16).contains(&terms.len()));
    let t = terms;
    let tree = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
    t[8..].iter().fold(tree, |sum, term| sum + term)
}

/// `np.max` of two values: NaN if either is NaN (unlike `f64::max`).
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `np.min` of two values: NaN if either is NaN (unlike `f64::min`).
fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// The Gaia parallax Astra writes (`gdr3_parallax_w_zp`, `gdr3_parallax_err`, `gdr3_zeropoint`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaiaParallax {
    /// Zero-point-corrected parallax, mas.
    pub parallax_w_zp: f64,
    /// The catalogue's parallax error, mas.
    pub parallax_err: f64,
    /// The zero-point subtracted, mas.
    pub zero_point: f64,
}

/// Astra's `get_gaiadata`: the catalogue parallax minus its zero-point, with the Lindegren
/// zero-point for 5- and 6-parameter solutions with 6 < G < 21 and the median otherwise, and
/// everything NaN when the corrected parallax is negative or above 1e10 mas.
///
/// `inputs`: None when the star has no Gaia DR3 astrometry row with the zero-point inputs.
pub fn gaia_parallax(plx: f64, e_plx: f64, inputs: Option<&ZeroPointInputs>) -> GaiaParallax {
    let zero_point = inputs
        .filter(|inputs| astra_computes_zero_point(inputs))
        .and_then(lindegren_zero_point)
        .unwrap_or(MEDIAN_ZERO_POINT_MAS);
    let parallax_w_zp = plx - zero_point;
    #[allow(
        clippy::manual_range_contains,
        reason = "a NaN parallax must pass, as in Astra; `!range.contains` would reject it"
    )]
    if parallax_w_zp < 0.0 || parallax_w_zp > MAX_VALUE {
        return GaiaParallax {
            parallax_w_zp: f64::NAN,
            parallax_err: f64::NAN,
            zero_point: f64::NAN,
        };
    }
    GaiaParallax {
        parallax_w_zp,
        parallax_err: e_plx,
        zero_point,
    }
}

/// Astra's `good_idx`: a 5- or 6-parameter solution with 6 < G < 21 (NaN G fails).
fn astra_computes_zero_point(inputs: &ZeroPointInputs) -> bool {
    let g = inputs.phot_g_mean_mag;
    matches!(
        inputs.astrometric_params_solved,
        FIVE_PARAMETER_SOLUTION | SIX_PARAMETER_SOLUTION
    ) && g < 21.0
        && 6.0 < g
}

/// The weighted parallax and distance Astra writes (`weighted_parallax`, `_err`,
/// `weighted_dist`, `_err`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedDistance {
    /// Weighted parallax, mas.
    pub parallax: f64,
    /// Its error, mas.
    pub parallax_err: f64,
    /// 1000 / parallax, pc.
    pub dist: f64,
    /// Its error, pc.
    pub dist_err: f64,
}

/// The end of Astra's `_inference`: the inverse-variance weighted mean of the network's parallax
/// (weighted by its model error) and the zero-point-corrected Gaia parallax, either alone when
/// the other is NaN, and its distance, with the quirks listed in the module documentation.
pub fn weighted_distance(
    nn_parallax: f64,
    nn_parallax_model_err: f64,
    gaia_parallax: f64,
    gaia_parallax_err: f64,
) -> WeightedDistance {
    let (parallax, variance) = match (nn_parallax.is_nan(), gaia_parallax.is_nan()) {
        (true, true) => {
            return WeightedDistance {
                parallax: f64::NAN,
                parallax_err: f64::NAN,
                dist: f64::NAN,
                dist_err: f64::NAN,
            }
        }
        (false, true) => (nn_parallax, nn_parallax_model_err * nn_parallax_model_err),
        (true, false) => (gaia_parallax, gaia_parallax_err * gaia_parallax_err),
        (false, false) => inverse_variance_mean(
            nn_parallax,
            nn_parallax_model_err,
            gaia_parallax,
            gaia_parallax_err,
        ),
    };
    // np.ma.sqrt masks non-finite results; masked elements are stored as NaN.
    let parallax_err = variance.sqrt();
    let parallax_err_masked = !parallax_err.is_finite();
    let dist = 1000.0 / parallax;
    // A masked quotient stays masked in `dist * quotient`, whose data there is `dist`.
    let dist_err_masked = parallax_err_masked || ma_quotient_masked(parallax_err, parallax);
    let dist_err_data = if dist_err_masked {
        dist
    } else {
        dist * ma_quotient(parallax_err, parallax)
    };
    let dist = if dist > MAX_VALUE || dist_err_data > MAX_VALUE {
        f64::NAN
    } else {
        dist
    };
    // Astra repeats the test with `dist` already NaN-ed, so only the error's own size counts.
    let dist_err_too_large = dist > MAX_VALUE || dist_err_data > MAX_VALUE;
    WeightedDistance {
        parallax,
        parallax_err: if parallax_err_masked {
            f64::NAN
        } else {
            parallax_err
        },
        dist,
        dist_err: if dist_err_masked || dist_err_too_large {
            f64::NAN
        } else {
            dist_err_data
        },
    }
}

/// The inverse-variance weighted mean of two parallaxes and its variance, in Astra's order of
/// operations (a zero error gives inf / inf = NaN, as in numpy).
fn inverse_variance_mean(
    nn_parallax: f64,
    nn_err: f64,
    gaia_parallax: f64,
    gaia_err: f64,
) -> (f64, f64) {
    let nn_variance = nn_err * nn_err;
    let gaia_variance = gaia_err * gaia_err;
    let deno = 1.0 / nn_variance + 1.0 / gaia_variance;
    let mean = (nn_parallax / nn_variance + gaia_parallax / gaia_variance) / deno;
    (mean, 1.0 / deno)
}

/// `numpy.ma`'s `a / b` where unmasked: it adds `0 · a` back to the quotient, which turns a
/// quotient of −0 into +0 (for a ≥ 0, as errors are).
fn ma_quotient(a: f64, b: f64) -> f64 {
    a / b + 0.0 * a
}

/// Whether `numpy.ma` masks `a / b`: where the quotient is not finite, or where
/// |a| · tiny ≥ |b| (its `_DomainSafeDivide`, tiny = 2.2e-308).
fn ma_quotient_masked(a: f64, b: f64) -> bool {
    !(a / b).is_finite() || a.abs() * f64::MIN_POSITIVE >= b.abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    /// Equal within a few ulps, or both NaN.
    fn assert_close(actual: f64, expected: f64) {
        let equal = actual == expected
            || (actual.is_nan() && expected.is_nan())
            || (actual - expected).abs() <= 4.0 * f64::EPSILON * expected.abs();
        assert!(equal, "{actual} != {expected}");
    }

    fn assert_distance(actual: WeightedDistance, expected: [f64; 4]) {
        assert_close(actual.parallax, expected[0]);
        assert_close(actual.parallax_err, expected[1]);
        assert_close(actual.dist, expected[2]);
        assert_close(actual.dist_err, expected[3]);
    }

    fn inputs(g: f64, nu_eff: f64, pseudocolour: f64, aps: i64) -> ZeroPointInputs {
        ZeroPointInputs {
            phot_g_mean_mag: g,
            nu_eff_used_in_astrometry: nu_eff,
            pseudocolour,
            ecl_lat: 0.0,
            astrometric_params_solved: aps,
        }
    }

    #[test]
    fn zero_point_at_a_node_is_the_table_value() {
        // G = 10.8 (a node), colour 1.48 (c_1..c_4 = 0), sin β = 0: q_00 − q_02 / 3.
        let five = lindegren_zero_point(&inputs(10.8, 1.48, NAN, 31)).unwrap();
        assert_eq!(five, -0.03491); // (−27.23 − 23.04 / 3) µas
        let six = lindegren_zero_point(&inputs(10.8, NAN, 1.48, 95)).unwrap();
        assert_eq!(six, -0.03655); // (−28.91 − 22.92 / 3) µas
    }

    #[test]
    fn zero_point_needs_the_colour_of_its_solution() {
        assert!(lindegren_zero_point(&inputs(12.0, NAN, 1.5, 31))
            .unwrap()
            .is_nan());
        assert!(lindegren_zero_point(&inputs(12.0, 1.5, NAN, 95))
            .unwrap()
            .is_nan());
        assert_eq!(lindegren_zero_point(&inputs(12.0, 1.5, 1.5, 3)), None);
    }

    #[test]
    fn median_zero_point_without_a_usable_gaia_row() {
        let expected = GaiaParallax {
            parallax_w_zp: 1.0 + 0.03464,
            parallax_err: 0.1,
            zero_point: -0.03464,
        };
        assert_eq!(gaia_parallax(1.0, 0.1, None), expected);
        for row in [
            inputs(12.0, 1.5, NAN, 3),
            inputs(5.9, 1.5, NAN, 31),
            inputs(21.0, 1.5, NAN, 31),
            inputs(NAN, 1.5, NAN, 31),
        ] {
            assert_eq!(gaia_parallax(1.0, 0.1, Some(&row)), expected);
        }
    }

    #[test]
    fn lindegren_zero_point_when_usable() {
        let row = inputs(10.8, 1.48, NAN, 31);
        let expected = GaiaParallax {
            parallax_w_zp: 1.0 + 0.03491,
            parallax_err: 0.1,
            zero_point: -0.03491,
        };
        assert_eq!(gaia_parallax(1.0, 0.1, Some(&row)), expected);
    }

    #[test]
    fn negative_corrected_parallax_is_all_nan() {
        let result = gaia_parallax(-0.1, 0.1, None);
        assert!(result.parallax_w_zp.is_nan());
        assert!(result.parallax_err.is_nan());
        assert!(result.zero_point.is_nan());
    }

    #[test]
    fn nan_parallax_keeps_error_and_zero_point() {
        let result = gaia_parallax(NAN, 0.1, None);
        assert!(result.parallax_w_zp.is_nan());
        assert_eq!(result.parallax_err, 0.1);
        assert_eq!(result.zero_point, -0.03464);
    }

    #[test]
    fn nan_zero_point_keeps_error() {
        let result = gaia_parallax(1.0, 0.1, Some(&inputs(12.0, NAN, NAN, 31)));
        assert!(result.parallax_w_zp.is_nan());
        assert_eq!(result.parallax_err, 0.1);
        assert!(result.zero_point.is_nan());
    }

    #[test]
    fn both_parallaxes_are_weighted_by_inverse_variance() {
        // Weights 1/0.1² = 100 and 1/0.2² = 25: (100·1 + 25·2) / 125 = 1.2, variance 1/125.
        let err = 0.008_f64.sqrt();
        let expected = [1.2, err, 1000.0 / 1.2, 1000.0 / 1.2 * err / 1.2];
        assert_distance(weighted_distance(1.0, 0.1, 2.0, 0.2), expected);
    }

    #[test]
    fn network_alone_without_gaia() {
        let expected = [1.0, 0.1, 1000.0, 100.0];
        assert_distance(weighted_distance(1.0, 0.1, NAN, 0.2), expected);
    }

    #[test]
    fn gaia_alone_without_network() {
        let expected = [2.0, 0.2, 500.0, 50.0];
        assert_distance(weighted_distance(NAN, NAN, 2.0, 0.2), expected);
    }

    #[test]
    fn nothing_without_either() {
        assert_distance(weighted_distance(NAN, 0.1, NAN, 0.2), [NAN; 4]);
    }

    #[test]
    fn distance_above_1e10_keeps_its_error() {
        // 1000 / 1e-8 = 1e11 pc is NaN-ed; its error 1e11 · (1e-10 / 1e-8) = 1e9 pc survives.
        assert_distance(
            weighted_distance(1e-8, 1e-10, NAN, 0.2),
            [1e-8, 1e-10, NAN, 1e9],
        );
    }

    #[test]
    fn distance_error_above_1e10_is_nan() {
        // 1e11 · (1e-8 / 1e-8) = 1e11 pc.
        assert_distance(
            weighted_distance(1e-8, 1e-8, NAN, 0.2),
            [1e-8, 1e-8, NAN, NAN],
        );
    }

    #[test]
    fn zero_model_error_gives_nan_parallax() {
        // deno = inf, so the mean is inf / inf = NaN and the variance 1 / inf = 0.
        assert_distance(weighted_distance(1.0, 0.0, 2.0, 0.2), [NAN, 0.0, NAN, NAN]);
    }

    #[test]
    fn negative_parallax_gives_negative_distance() {
        assert_distance(
            weighted_distance(-1.0, 0.1, NAN, 0.2),
            [-1.0, 0.1, -1000.0, 100.0],
        );
    }

    #[test]
    fn masked_infinite_error_is_nan_and_spares_the_distance() {
        // sqrt(inf) is masked (NaN), so the 1e10 test sees the distance, 1000 pc, and keeps it.
        assert_distance(
            weighted_distance(1.0, f64::INFINITY, NAN, 0.2),
            [1.0, NAN, 1000.0, NAN],
        );
    }

    #[test]
    fn masked_quotient_spares_a_negative_infinite_distance() {
        // 1 / −1e-320 is masked, so the error is NaN and the 1e10 test sees −inf: kept.
        assert_distance(
            weighted_distance(-1e-320, 1.0, NAN, 0.2),
            [-1e-320, 1.0, f64::NEG_INFINITY, NAN],
        );
    }
}
