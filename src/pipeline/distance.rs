//! AstroNNDist's distances (SPEC §5) and flags (SPEC §6): from a star's predicted Ks-band
//! pseudo-luminosity `L_fakemag = 10^(0.2·M_Ks + 2)`, its 2MASS Ks magnitude and its SFD
//! reddening to a distance in pc, a parallax in mas and the result flags.
//!
//! Photometry is judged by Astra's rules: a Ks magnitude is missing when non-finite, ≥ 98 or
//! ≤ −1 (catalog sentinels such as 99.999 or −9999); an E(B−V) is missing when non-finite,
//! ≥ 98 or ≤ 0. A missing E(B−V) is treated as no extinction and flagged. Where astroNN
//! writes its magic number −9999 for "no distance", these results hold NaN, and so do they
//! where DR19's code (Astra's astronn_dist_v2) drops a distance: L_fakemag below 1e−4, or a
//! distance or distance error above 1e10 pc. Unlike DR19, a star without a Ks magnitude has
//! no distance (DR19 computes one with Ks = 0), and the parallax stays defined for a small or
//! non-positive L_fakemag (DR19: NaN), which is what parallax-space analyses want.

use crate::pipeline::flags::{
    dist_flag_bad, dist_flag_warn, DIST_FAKEMAG_UNRELIABLE, DIST_MISSING_EXTINCTION,
    DIST_MISSING_PHOTOMETRY, NO_RESULT,
};

/// A_Ks / E(B−V): the Ks-band extinction per unit SFD reddening used by astroNN.
pub const K_EXTINCTION_PER_EBV: f64 = 0.3517;

/// Distances (and distance errors) above this many pc are not reported (Astra's cut).
pub const MAX_DISTANCE_PC: f64 = 1e10;

/// L_fakemag below which DR19 reports no distance.
pub const MIN_FAKEMAG_FOR_DISTANCE: f64 = 1e-4;

/// L_fakemag_err / L_fakemag at and above which L_fakemag is unreliable.
pub const FAKEMAG_UNRELIABLE_RATIO: f64 = 0.2;

/// The Ks magnitude if it is valid (finite, below 98 and above −1), else `None`.
pub fn valid_k_mag(k_mag: f64) -> Option<f64> {
    (k_mag.is_finite() && k_mag < 98.0 && k_mag > -1.0).then_some(k_mag)
}

/// The E(B−V) if it is valid (finite, below 98 and positive), else `None`.
pub fn valid_ebv(ebv: f64) -> Option<f64> {
    (ebv.is_finite() && ebv < 98.0 && ebv > 0.0).then_some(ebv)
}

/// Ks-band extinction A_Ks = 0.3517 · E(B−V), with astroNN's guard: an extinction below −1
/// (only reachable through a sentinel reddening) is treated as 0.
pub fn k_band_extinction(ebv: f64) -> f64 {
    let a_k = K_EXTINCTION_PER_EBV * ebv;
    if a_k < -1.0 {
        0.0
    } else {
        a_k
    }
}

/// One star's AstroNNDist result: the photometry used, L_fakemag, distance, parallax, flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistanceResult {
    /// 2MASS Ks magnitude; NaN when missing (invalid values are not repeated here).
    pub k_mag: f64,
    /// SFD E(B−V); NaN when missing.
    pub ebv: f64,
    /// Ks-band extinction applied (0 when E(B−V) is missing).
    pub a_k_mag: f64,
    /// Ks-band pseudo-luminosity predicted by the network.
    pub l_fakemag: f64,
    /// Its uncertainty (after the noise model, if any).
    pub l_fakemag_err: f64,
    /// The network's own uncertainty of L_fakemag (before any noise model).
    pub raw_l_fakemag_err: f64,
    /// The MC-dropout part of the network's uncertainty (`L_fakemag_model_err`).
    pub l_fakemag_model_err: f64,
    /// Distance in pc; NaN without a valid Ks magnitude, with L_fakemag below
    /// [`MIN_FAKEMAG_FOR_DISTANCE`] (or non-finite), or when the distance or its error is
    /// above [`MAX_DISTANCE_PC`].
    pub dist: f64,
    /// Distance error in pc; NaN where `dist` is.
    pub dist_err: f64,
    /// The MC-dropout part of the distance error, `dist · L_fakemag_model_err / L_fakemag`;
    /// NaN where `dist` is.
    pub dist_model_err: f64,
    /// Parallax in mas, L_fakemag / 10^(0.2·K0) (1000 / dist where a distance exists); it
    /// is defined for a non-positive L_fakemag too, and NaN only without a Ks magnitude.
    pub parallax: f64,
    /// Parallax error in mas, L_fakemag_err / 10^(0.2·K0).
    pub parallax_err: f64,
    /// The MC-dropout part of the parallax error, L_fakemag_model_err / 10^(0.2·K0).
    pub parallax_model_err: f64,
    /// `result_flags` (the `DIST_*` bits and `NO_RESULT` of [`crate::pipeline::flags`]).
    pub flags: u32,
}

impl DistanceResult {
    /// The extinction, distance and parallax columns, as AstroNNdist's table names them.
    pub fn distance_columns(&self) -> [(&'static str, f64); 7] {
        [
            ("a_k_mag", self.a_k_mag),
            ("nn_dist", self.dist),
            ("nn_dist_err", self.dist_err),
            ("nn_dist_model_err", self.dist_model_err),
            ("nn_parallax", self.parallax),
            ("nn_parallax_err", self.parallax_err),
            ("nn_parallax_model_err", self.parallax_model_err),
        ]
    }

    /// Distance, parallax and flags of a star from its network result (`l_fakemag`, its
    /// error and the MC-dropout part of it) and photometry as stored (`k_mag`, `ebv`, judged
    /// here).
    ///
    /// K0 = k_mag − A_Ks; dist = 1000 · 10^(0.2·K0) / L_fakemag pc and
    /// dist_err = dist · L_fakemag_err / L_fakemag. FAKEMAG_UNRELIABLE is set unless
    /// L_fakemag_err < 0.2 · L_fakemag (so also for a non-finite L_fakemag or error).
    pub fn new(
        l_fakemag: f64,
        l_fakemag_err: f64,
        l_fakemag_model_err: f64,
        k_mag: f64,
        ebv: f64,
    ) -> Self {
        let k_mag = valid_k_mag(k_mag);
        let ebv = valid_ebv(ebv);
        let a_k_mag = ebv.map_or(0.0, k_band_extinction);
        let mut flags = 0;
        // Written as "not reliable" so that NaN values count as unreliable.
        let reliable = l_fakemag_err < FAKEMAG_UNRELIABLE_RATIO * l_fakemag;
        if !reliable {
            flags |= DIST_FAKEMAG_UNRELIABLE;
        }
        if k_mag.is_none() {
            flags |= DIST_MISSING_PHOTOMETRY;
        }
        if ebv.is_none() {
            flags |= DIST_MISSING_EXTINCTION;
        }
        // 10^(0.2·K0): the distance in pc a star with L_fakemag = 1000 would have.
        let flux_scale = k_mag.map_or(f64::NAN, |k| 10f64.powf(0.2 * (k - a_k_mag)));
        let dist = 1000.0 * flux_scale / l_fakemag;
        let dist_err = dist * l_fakemag_err / l_fakemag;
        // DR19's rule (Astra's bad_idx): no distance for a tiny L_fakemag or a distance, or
        // its error, that is not finite or above 1e10 pc.
        // (A NaN error, from a NaN network error, does not drop the distance there.)
        let error_too_large = dist_err > MAX_DISTANCE_PC;
        let has_distance = l_fakemag >= MIN_FAKEMAG_FOR_DISTANCE
            && dist.is_finite()
            && dist <= MAX_DISTANCE_PC
            && !error_too_large;
        let kept = |d: f64| if has_distance { d } else { f64::NAN };
        DistanceResult {
            k_mag: k_mag.unwrap_or(f64::NAN),
            ebv: ebv.unwrap_or(f64::NAN),
            a_k_mag,
            l_fakemag,
            l_fakemag_err,
            raw_l_fakemag_err: l_fakemag_err,
            l_fakemag_model_err,
            dist: kept(dist),
            dist_err: kept(dist_err),
            dist_model_err: kept(dist * l_fakemag_model_err / l_fakemag),
            parallax: l_fakemag / flux_scale,
            parallax_err: l_fakemag_err / flux_scale,
            parallax_model_err: l_fakemag_model_err / flux_scale,
            flags,
        }
    }

    /// The same result with the L_fakemag error recalibrated (by the noise model): the
    /// distance and parallax errors follow it; the flags and `raw_l_fakemag_err` stay those
    /// of the network's own error, as AstroNN's flags come from its raw errors.
    pub fn with_error(&self, l_fakemag_err: f64) -> Self {
        DistanceResult {
            flags: self.flags,
            raw_l_fakemag_err: self.raw_l_fakemag_err,
            ..DistanceResult::new(
                self.l_fakemag,
                l_fakemag_err,
                self.l_fakemag_model_err,
                self.k_mag,
                self.ebv,
            )
        }
    }

    /// The row of a star whose spectrum gave no network result: NaN L_fakemag, distance and
    /// parallax, the photometry flags, and NO_RESULT (instead of FAKEMAG_UNRELIABLE).
    pub fn no_result(k_mag: f64, ebv: f64) -> Self {
        let mut result = DistanceResult::new(f64::NAN, f64::NAN, f64::NAN, k_mag, ebv);
        result.flags = (result.flags & !DIST_FAKEMAG_UNRELIABLE) | NO_RESULT;
        result
    }

    /// AstroNNDist's `flag_warn` for this result.
    pub fn flag_warn(&self) -> bool {
        dist_flag_warn(self.flags)
    }

    /// AstroNNDist's `flag_bad` for this result.
    pub fn flag_bad(&self) -> bool {
        dist_flag_bad(self.flags)
    }
}

/// astroNN's marker of a missing value.
pub const ASTRONN_MAGIC_NUMBER: f64 = -9999.0;

/// Whether astroNN's `fakemag_to_pc` and `fakemag_to_parallax` give the magic number: a
/// magic-number or NaN L_fakemag or magnitude, or a non-positive L_fakemag.
fn astronn_magic(fakemag: f64, mag: f64) -> bool {
    fakemag == ASTRONN_MAGIC_NUMBER
        || mag == ASTRONN_MAGIC_NUMBER
        || fakemag.is_nan()
        || mag.is_nan()
        || fakemag <= 0.0
}

/// astroNN's `fakemag_to_pc` for one star: the distance 1000 · 10^(0.2·mag) / fakemag pc
/// from the (extinction-corrected) apparent magnitude `mag`, and its error
/// (fakemag_err / fakemag) · distance; both [`ASTRONN_MAGIC_NUMBER`] where astroNN gives it.
/// (DR19's tables use [`DistanceResult`] instead, with NaN and its own limits.)
pub fn astronn_fakemag_to_pc(fakemag: f64, mag: f64, fakemag_err: f64) -> (f64, f64) {
    if astronn_magic(fakemag, mag) {
        return (ASTRONN_MAGIC_NUMBER, ASTRONN_MAGIC_NUMBER);
    }
    let pc = 1000.0 * 10f64.powf(0.2 * mag) / fakemag;
    (pc, fakemag_err / fakemag * pc)
}

/// astroNN's `fakemag_to_parallax` for one star: fakemag / 10^(0.2·mag) mas and its error
/// (fakemag_err / fakemag) · parallax; both [`ASTRONN_MAGIC_NUMBER`] where astroNN gives it.
pub fn astronn_fakemag_to_parallax(fakemag: f64, mag: f64, fakemag_err: f64) -> (f64, f64) {
    if astronn_magic(fakemag, mag) {
        return (ASTRONN_MAGIC_NUMBER, ASTRONN_MAGIC_NUMBER);
    }
    let parallax = fakemag / 10f64.powf(0.2 * mag);
    (parallax, fakemag_err / fakemag * parallax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_columns_are_the_ones_a_networks_own_table_has() {
        let result = DistanceResult::new(100.0, 5.0, 1.0, 10.0, 0.0);
        let columns = result.distance_columns();
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, crate::products::generic::DISTANCE_COLUMNS);
        assert_eq!(columns[1].1, result.dist);
        assert_eq!(columns[6].1, result.parallax_model_err);
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn a_good_star() {
        // K0 = 10 − 0.3517·0.2; 10^(0.2·K0) = 100 · 10^(−0.014068).
        let r = DistanceResult::new(100.0, 10.0, 4.0, 10.0, 0.2);
        let scale = 10f64.powf(0.2 * (10.0 - 0.07034));
        assert!(close(r.a_k_mag, 0.07034, 1e-12));
        assert!(close(r.dist, 1000.0 * scale / 100.0, 1e-12));
        assert!(close(r.dist_err, r.dist * 0.1, 1e-12));
        assert!(close(r.parallax, 1000.0 / r.dist, 1e-12));
        assert!(close(r.parallax_err, 10.0 / scale, 1e-12));
        assert!(close(r.dist_model_err, r.dist * 0.04, 1e-12));
        assert!(close(r.parallax_model_err, 4.0 / scale, 1e-12));
        assert_eq!(r.flags, 0);
        assert!(!r.flag_warn() && !r.flag_bad());
    }

    #[test]
    fn validity_rules() {
        assert_eq!(valid_k_mag(12.0), Some(12.0));
        assert_eq!(valid_k_mag(97.99), Some(97.99));
        assert_eq!(valid_k_mag(-0.99), Some(-0.99));
        for bad in [98.0, 99.999, -1.0, -9999.0, f64::NAN, f64::INFINITY] {
            assert_eq!(valid_k_mag(bad), None, "{bad}");
        }
        assert_eq!(valid_ebv(1e-6), Some(1e-6));
        for bad in [0.0, -0.5, 98.0, f64::NAN, f64::NEG_INFINITY] {
            assert_eq!(valid_ebv(bad), None, "{bad}");
        }
    }

    #[test]
    fn extinction_below_minus_one_is_zero() {
        assert_eq!(k_band_extinction(-3.0), 0.0);
        let just_above = -1.0 / K_EXTINCTION_PER_EBV + 1e-9;
        assert!(k_band_extinction(just_above) > -1.0 && k_band_extinction(just_above) < 0.0);
        assert!(close(k_band_extinction(1.0), 0.3517, 1e-15));
    }

    /// A reference star: K0 = 10, so 10^(0.2·K0) = 100 and dist = 1e5 / L_fakemag.
    fn star(l: f64, l_err: f64) -> DistanceResult {
        let ebv = 0.1;
        DistanceResult::new(l, l_err, l_err / 2.0, 10.0 + k_band_extinction(ebv), ebv)
    }

    #[test]
    fn each_missing_magnitude_gives_no_distance() {
        for k_mag in [f64::NAN, 99.0, 98.0, -1.0, -2.0, -9999.0, f64::INFINITY] {
            let r = DistanceResult::new(100.0, 5.0, 2.0, k_mag, 0.3);
            assert!(r.k_mag.is_nan(), "{k_mag}: {r:?}");
            assert!(r.dist.is_nan() && r.dist_err.is_nan(), "{k_mag}: {r:?}");
            assert!(
                r.parallax.is_nan() && r.parallax_err.is_nan(),
                "{k_mag}: {r:?}"
            );
            assert_eq!(r.flags, DIST_MISSING_PHOTOMETRY, "{k_mag}");
            assert!(r.flag_bad() && !r.flag_warn());
            // The extinction is still reported.
            assert!(close(r.a_k_mag, 0.3517 * 0.3, 1e-12));
            assert_eq!(r.ebv, 0.3);
        }
    }

    #[test]
    fn each_missing_reddening_means_no_extinction() {
        let reference = DistanceResult::new(100.0, 5.0, 2.0, 10.0, 0.3);
        for ebv in [f64::NAN, 99.0, 98.0, 0.0, -0.5, -9999.0] {
            let r = DistanceResult::new(100.0, 5.0, 2.0, 10.0, ebv);
            assert!(r.ebv.is_nan(), "{ebv}: {r:?}");
            assert_eq!(r.a_k_mag, 0.0);
            // K0 = 10 exactly: 10^(0.2·10) / 100 · 1000 = 1000 pc.
            assert!(close(r.dist, 1000.0, 1e-12), "{ebv}: {r:?}");
            assert!(close(r.dist_err, 50.0, 1e-12));
            assert!(close(r.parallax, 1.0, 1e-12));
            assert!(close(r.parallax_err, 0.05, 1e-12));
            assert!(r.dist > reference.dist, "extinction brings a star closer");
            assert_eq!(r.flags, DIST_MISSING_EXTINCTION, "{ebv}");
            assert!(r.flag_warn() && !r.flag_bad());
        }
        let neither = DistanceResult::new(100.0, 5.0, 2.0, f64::NAN, 0.0);
        assert_eq!(
            neither.flags,
            DIST_MISSING_PHOTOMETRY | DIST_MISSING_EXTINCTION
        );
        assert!(neither.flag_warn() && neither.flag_bad());
    }

    #[test]
    fn unreliable_fakemag_at_one_fifth() {
        assert_eq!(star(100.0, 19.999_999).flags, 0);
        assert_eq!(star(100.0, 20.0).flags, DIST_FAKEMAG_UNRELIABLE);
        assert_eq!(star(100.0, 20.000_001).flags, DIST_FAKEMAG_UNRELIABLE);
        assert!(star(100.0, 20.0).flag_bad());
        assert!(!star(100.0, 20.0).flag_warn());
        // Non-positive or non-finite values are never reliable.
        assert_eq!(star(0.0, 0.0).flags, DIST_FAKEMAG_UNRELIABLE);
        assert_eq!(star(-3.0, 1.0).flags, DIST_FAKEMAG_UNRELIABLE);
        assert_eq!(star(f64::NAN, 1.0).flags, DIST_FAKEMAG_UNRELIABLE);
        assert_eq!(star(100.0, f64::NAN).flags, DIST_FAKEMAG_UNRELIABLE);
        // An unreliable value still has a distance.
        assert!(close(star(100.0, 50.0).dist, 1000.0, 1e-12));
    }

    #[test]
    fn non_positive_fakemag_has_a_parallax_but_no_distance() {
        let zero = star(0.0, 1.0);
        assert!(zero.dist.is_nan() && zero.dist_err.is_nan());
        assert_eq!(zero.parallax, 0.0);
        assert!(close(zero.parallax_err, 0.01, 1e-12));
        let negative = star(-3.0, 1.0);
        assert!(negative.dist.is_nan() && negative.dist_err.is_nan());
        assert!(close(negative.parallax, -0.03, 1e-12));
        let nan = star(f64::NAN, 1.0);
        assert!(nan.dist.is_nan() && nan.parallax.is_nan());
    }

    #[test]
    fn dr19_drops_tiny_fakemags_and_distances_above_1e10_pc() {
        // dist = 1e5 / L: L just above 1e-4 keeps its distance (1e9 pc), just below not.
        let kept = star(1e-4 * (1.0 + 1e-12), 1e-6);
        assert!(close(kept.dist, 1e9, 1e-9) && kept.dist_err.is_finite());
        let tiny = star(1e-4 * (1.0 - 1e-12), 1e-6);
        assert!(tiny.dist.is_nan() && tiny.dist_err.is_nan() && tiny.dist_model_err.is_nan());
        // The parallax and L_fakemag stay (DR19 writes NaN for both).
        assert!(close(tiny.parallax, 1e-6, 1e-9));
        assert_eq!(tiny.l_fakemag, 1e-4 * (1.0 - 1e-12));
        // A distance error above 1e10 pc drops the distance too.
        let wide = star(1e-3, 1e3);
        assert!(wide.dist.is_nan() && wide.dist_err.is_nan(), "{wide:?}");
        assert!(close(wide.parallax, 1e-5, 1e-9));
        // A distance above 1e10 pc needs L < 1e-5: dropped by both rules.
        assert!(star(1e-6, 1e-8).dist.is_nan());
    }

    #[test]
    fn a_recalibrated_error_moves_the_distance_errors_not_the_flags() {
        // Raw error 25 % of L_fakemag: unreliable; recalibrated to 10 %.
        let raw = DistanceResult::new(100.0, 25.0, 5.0, 10.0, 0.1);
        let calibrated = raw.with_error(10.0);
        assert_eq!(calibrated.flags, raw.flags);
        assert_eq!(calibrated.l_fakemag_model_err, 5.0);
        assert_eq!(calibrated.dist_model_err, raw.dist_model_err);
        assert!(calibrated.flags & DIST_FAKEMAG_UNRELIABLE != 0);
        assert_eq!(calibrated.raw_l_fakemag_err, 25.0);
        assert_eq!(calibrated.l_fakemag_err, 10.0);
        assert_eq!(calibrated.dist, raw.dist);
        assert!(close(calibrated.dist_err, 0.1 * raw.dist, 1e-12));
        assert!(close(
            calibrated.parallax_err,
            raw.parallax_err * 0.4,
            1e-12
        ));
    }

    #[test]
    fn no_result_rows_keep_the_photometry_flags() {
        let r = DistanceResult::no_result(10.0, 0.0);
        assert_eq!(r.flags, NO_RESULT | DIST_MISSING_EXTINCTION);
        assert!(r.l_fakemag.is_nan() && r.dist.is_nan() && r.parallax.is_nan());
        assert_eq!(r.k_mag, 10.0);
        assert!(r.flag_bad() && r.flag_warn());
        assert_eq!(DistanceResult::no_result(10.0, 0.2).flags, NO_RESULT);
        assert_eq!(
            DistanceResult::no_result(99.0, 0.2).flags,
            NO_RESULT | DIST_MISSING_PHOTOMETRY
        );
    }
}
