//! Result flags (SPEC §6): AstroNN's, computed from the raw labels and errors before the
//! noise model, and AstroNNDist's (`DIST_*`), computed from L_fakemag and the photometry.

/// AstroNN: log g uncertain.
pub const UNCERTAIN_LOGG: u32 = 1 << 0;
/// AstroNN: Teff uncertain.
pub const UNCERTAIN_TEFF: u32 = 1 << 1;
/// AstroNN: [Fe/H] uncertain.
pub const UNCERTAIN_FE_H: u32 = 1 << 2;
/// Both pipelines: the spectrum could not be read or prepared.
pub const NO_RESULT: u32 = 1 << 11;

/// AstroNNDist: L_fakemag_err ≥ 0.2 · L_fakemag (or L_fakemag is not positive).
pub const DIST_FAKEMAG_UNRELIABLE: u32 = 1 << 0;
/// AstroNNDist: no valid Ks magnitude, so no distance.
pub const DIST_MISSING_PHOTOMETRY: u32 = 1 << 1;
/// AstroNNDist: no valid E(B−V); the distance assumes no extinction.
pub const DIST_MISSING_EXTINCTION: u32 = 1 << 2;

/// A named bit of `result_flags`: its value, name and rule, as the documentation gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagBit {
    pub value: u32,
    pub name: &'static str,
    pub rule: &'static str,
}

/// The bits of AstroNN's `result_flags` (`astraAllStarAstroNN`, `astraAllVisitAstroNN`).
pub const ASTRONN_FLAG_BITS: [FlagBit; 4] = [
    FlagBit {
        value: UNCERTAIN_LOGG,
        name: "UNCERTAIN_LOGG",
        rule: "raw_e_logg > 0.2 and |raw_e_logg / raw_logg| > 0.075",
    },
    FlagBit {
        value: UNCERTAIN_TEFF,
        name: "UNCERTAIN_TEFF",
        rule: "raw_e_teff > 300 K",
    },
    FlagBit {
        value: UNCERTAIN_FE_H,
        name: "UNCERTAIN_FE_H",
        rule: "raw_e_fe_h > 0.2 and |raw_e_fe_h / raw_fe_h| > 0.12",
    },
    FlagBit {
        value: NO_RESULT,
        name: "NO_RESULT",
        rule: "the spectrum could not be read or prepared; labels are NaN",
    },
];

/// The bits of AstroNNDist's `result_flags` (`astraAllStarAstroNNdist`).
pub const DIST_FLAG_BITS: [FlagBit; 4] = [
    FlagBit {
        value: DIST_FAKEMAG_UNRELIABLE,
        name: "FAKEMAG_UNRELIABLE",
        rule: "L_fakemag_err >= 0.2 L_fakemag (or L_fakemag not positive)",
    },
    FlagBit {
        value: DIST_MISSING_PHOTOMETRY,
        name: "MISSING_PHOTOMETRY",
        rule: "no valid Ks magnitude",
    },
    FlagBit {
        value: DIST_MISSING_EXTINCTION,
        name: "MISSING_EXTINCTION",
        rule: "no valid E(B-V) (treated as 0)",
    },
    FlagBit {
        value: NO_RESULT,
        name: "NO_RESULT",
        rule: "the spectrum could not be read or prepared",
    },
];

/// The raw labels the AstroNN flags look at.
#[derive(Debug, Clone, Copy)]
pub struct FlagInputs {
    pub teff: f64,
    pub e_teff: f64,
    pub logg: f64,
    pub e_logg: f64,
    pub fe_h: f64,
    pub e_fe_h: f64,
}

/// AstroNN's `result_flags` for a spectrum with a result.
pub fn astronn_flags(raw: FlagInputs) -> u32 {
    let mut flags = 0;
    if raw.e_logg > 0.2 && (raw.e_logg / raw.logg).abs() > 0.075 {
        flags |= UNCERTAIN_LOGG;
    }
    if raw.e_teff > 300.0 {
        flags |= UNCERTAIN_TEFF;
    }
    if raw.e_fe_h > 0.2 && (raw.e_fe_h / raw.fe_h).abs() > 0.12 {
        flags |= UNCERTAIN_FE_H;
    }
    flags
}

/// AstroNN's `flag_warn`: any flag set.
pub fn astronn_flag_warn(flags: u32) -> bool {
    flags > 0
}

/// AstroNN's `flag_bad`: UNCERTAIN_TEFF, or UNCERTAIN_LOGG and UNCERTAIN_FE_H together.
pub fn astronn_flag_bad(flags: u32) -> bool {
    flags & UNCERTAIN_TEFF != 0 || (flags & UNCERTAIN_LOGG != 0 && flags & UNCERTAIN_FE_H != 0)
}

/// AstroNNDist's `flag_warn`: MISSING_EXTINCTION (the distance is usable but unreddened).
pub fn dist_flag_warn(flags: u32) -> bool {
    flags & DIST_MISSING_EXTINCTION != 0
}

/// AstroNNDist's `flag_bad`: FAKEMAG_UNRELIABLE, MISSING_PHOTOMETRY or NO_RESULT.
pub fn dist_flag_bad(flags: u32) -> bool {
    flags & (DIST_FAKEMAG_UNRELIABLE | DIST_MISSING_PHOTOMETRY | NO_RESULT) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> FlagInputs {
        FlagInputs {
            teff: 4800.0,
            e_teff: 80.0,
            logg: 2.5,
            e_logg: 0.1,
            fe_h: -0.3,
            e_fe_h: 0.05,
        }
    }

    #[test]
    fn bits_are_those_of_the_data_model() {
        // SPEC §6 and DR19's datamodel, as literals: a swap of two names must fail here.
        assert_eq!(UNCERTAIN_LOGG, 1);
        assert_eq!(UNCERTAIN_TEFF, 2);
        assert_eq!(UNCERTAIN_FE_H, 4);
        assert_eq!(NO_RESULT, 2048);
        assert_eq!(DIST_FAKEMAG_UNRELIABLE, 1);
        assert_eq!(DIST_MISSING_PHOTOMETRY, 2);
        assert_eq!(DIST_MISSING_EXTINCTION, 4);
    }

    #[test]
    fn thresholds_are_strict_inequalities() {
        // e_logg = 0.2 exactly (ratio 0.2 / 1.0 far above 0.075): not flagged; just above is.
        let at = |e_logg: f64, logg: f64| {
            astronn_flags(FlagInputs {
                e_logg,
                logg,
                ..good()
            })
        };
        assert_eq!(at(0.2, 1.0), 0);
        assert_eq!(at(0.200_001, 1.0), 1);
        // Ratio exactly 0.075 (0.3 / 4.0, both exact up to the same power of two): not flagged.
        assert_eq!(at(0.3, 4.0), 0);
        assert_eq!(at(0.3, 3.999), 1);
        // log g = 0: an infinite ratio flags a large error.
        assert_eq!(at(0.25, 0.0), 1);
        let fe = |e_fe_h: f64, fe_h: f64| {
            astronn_flags(FlagInputs {
                e_fe_h,
                fe_h,
                ..good()
            })
        };
        assert_eq!(fe(0.2, 0.1), 0);
        assert_eq!(fe(0.200_001, 0.1), 4);
        // Ratio exactly 0.12 (0.24 / 2.0): not flagged; a hair above is.
        assert_eq!(fe(0.24, -2.0), 0);
        assert_eq!(fe(0.24, -1.999), 4);
    }

    #[test]
    fn nan_errors_or_labels_set_no_flag() {
        // numpy's comparisons with NaN are false, and so are ours: no flag, as in Astra.
        let nan = f64::NAN;
        for inputs in [
            FlagInputs {
                e_logg: nan,
                e_teff: nan,
                e_fe_h: nan,
                ..good()
            },
            FlagInputs {
                e_logg: 0.5,
                logg: nan,
                e_fe_h: 0.5,
                fe_h: nan,
                ..good()
            },
        ] {
            assert_eq!(astronn_flags(inputs), 0);
        }
    }

    #[test]
    fn a_confident_result_has_no_flags() {
        assert_eq!(astronn_flags(good()), 0);
        assert!(!astronn_flag_warn(0));
        assert!(!astronn_flag_bad(0));
    }

    #[test]
    fn uncertain_logg_needs_both_absolute_and_relative_error() {
        // 0.25 > 0.2 and 0.25/2.5 = 0.1 > 0.075.
        let flags = astronn_flags(FlagInputs {
            e_logg: 0.25,
            ..good()
        });
        assert_eq!(flags, UNCERTAIN_LOGG);
        // 0.25 > 0.2 but 0.25/4.0 = 0.0625 ≤ 0.075.
        let high_logg = FlagInputs {
            e_logg: 0.25,
            logg: 4.0,
            ..good()
        };
        assert_eq!(astronn_flags(high_logg), 0);
        // Relative error large (0.15/0.5) but absolute error ≤ 0.2.
        let low_logg = FlagInputs {
            e_logg: 0.15,
            logg: 0.5,
            ..good()
        };
        assert_eq!(astronn_flags(low_logg), 0);
        // Negative log g: the ratio is taken in absolute value.
        let negative = FlagInputs {
            e_logg: 0.3,
            logg: -0.5,
            ..good()
        };
        assert_eq!(astronn_flags(negative), UNCERTAIN_LOGG);
    }

    #[test]
    fn uncertain_teff_is_an_absolute_threshold() {
        assert_eq!(
            astronn_flags(FlagInputs {
                e_teff: 300.0,
                ..good()
            }),
            0
        );
        assert_eq!(
            astronn_flags(FlagInputs {
                e_teff: 300.5,
                ..good()
            }),
            UNCERTAIN_TEFF
        );
    }

    #[test]
    fn uncertain_fe_h_needs_both_absolute_and_relative_error() {
        // 0.25 > 0.2 and 0.25/0.3 > 0.12.
        let flags = astronn_flags(FlagInputs {
            e_fe_h: 0.25,
            ..good()
        });
        assert_eq!(flags, UNCERTAIN_FE_H);
        // 0.25/2.5 = 0.1 ≤ 0.12.
        let metal_poor = FlagInputs {
            e_fe_h: 0.25,
            fe_h: -2.5,
            ..good()
        };
        assert_eq!(astronn_flags(metal_poor), 0);
        // Ratio large but absolute error 0.15 ≤ 0.2.
        let solar = FlagInputs {
            e_fe_h: 0.15,
            fe_h: 0.01,
            ..good()
        };
        assert_eq!(astronn_flags(solar), 0);
    }

    #[test]
    fn flag_bad_is_teff_or_logg_and_fe_h() {
        assert!(astronn_flag_bad(UNCERTAIN_TEFF));
        assert!(!astronn_flag_bad(UNCERTAIN_LOGG));
        assert!(!astronn_flag_bad(UNCERTAIN_FE_H));
        assert!(astronn_flag_bad(UNCERTAIN_LOGG | UNCERTAIN_FE_H));
        assert!(astronn_flag_warn(UNCERTAIN_FE_H));
        assert!(astronn_flag_warn(NO_RESULT));
    }

    #[test]
    fn dist_warn_is_missing_extinction_only() {
        assert!(!dist_flag_warn(0));
        assert!(dist_flag_warn(DIST_MISSING_EXTINCTION));
        assert!(!dist_flag_warn(DIST_FAKEMAG_UNRELIABLE));
        assert!(!dist_flag_warn(DIST_MISSING_PHOTOMETRY));
        assert!(!dist_flag_warn(NO_RESULT));
    }

    #[test]
    fn dist_bad_is_unreliable_or_no_photometry_or_no_result() {
        assert!(!dist_flag_bad(0));
        assert!(!dist_flag_bad(DIST_MISSING_EXTINCTION));
        assert!(dist_flag_bad(DIST_FAKEMAG_UNRELIABLE));
        assert!(dist_flag_bad(DIST_MISSING_PHOTOMETRY));
        assert!(dist_flag_bad(NO_RESULT));
        assert!(dist_flag_bad(NO_RESULT | DIST_MISSING_EXTINCTION));
    }
}
