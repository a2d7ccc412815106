//! The training-set selections SDSS used for DR19's networks, as data: each preset is a
//! table of (rule name, expression) in the selection language ([`super::expr`]), applied in
//! order to an allStar-like catalog.
//!
//! Source: SDSS DR19 retrained AstroNN on DR17 spectra with ASPCAP labels and AstroNNDist on
//! DR17 spectra with Gaia EDR3 parallaxes, with the selections below (issue 19, "Training as
//! SDSS trained DR19's networks"; SPEC §9 gives the DR17 distance model's cuts). Bit names
//! are those of DR17's bitmask definitions ([`crate::apogee::bitmasks`]).
//!
//! Conventions shared by the rules:
//! - a flag column that is missing (NaN) fails its rule: `FLAG[b] == 0` and `STARFLAG == 0`
//!   are false for NaN, so a star of unknown quality is not trained on;
//! - the Ks magnitude `K` and the reddening `SFD_EBV` are valid as SPEC §5 defines for
//!   `k_mag` and `ebv` (finite; K in (−1, 98); E(B−V) in (0, 98));
//! - Gaia values that are missing, whether NaN or a negative sentinel such as −9999, fail
//!   their rule (each rule also requires the value to be in its valid range).
//!
//! DR17's allStar holds `GAIAEDR3_PARALLAX` and `GAIAEDR3_PARALLAX_ERROR` but not Gaia's
//! `ruwe`, `ipd_frac_multi_peak` or `ipd_gof_harmonic_amplitude`: `dr19-dist` reads them as
//! `GAIAEDR3_RUWE`, `GAIAEDR3_IPD_FRAC_MULTI_PEAK` and `GAIAEDR3_IPD_GOF_HARMONIC_AMPLITUDE`,
//! the names a join of Gaia EDR3's `gaia_source` onto allStar gives them with allStar's
//! prefix (the simulated survey's `labels.fits` has them).

/// A preset: its name, what it is for, and its rules `(name, expression)` in order.
pub(crate) struct Preset {
    pub name: &'static str,
    pub rules: &'static [(&'static str, &'static str)],
}

/// DR19's AstroNN training set: every DR17 star except those with M_H_BAD, STAR_BAD,
/// NO_ASPCAP_RESULT, MISSING_APSTAR, NO_GRID or PROBLEM_TARGET set in ASPCAPFLAG.
const DR19_ASTRONN: Preset = Preset {
    name: "dr19-astronn",
    rules: &[
        ("no M_H_BAD", "ASPCAPFLAG[M_H_BAD] == 0"),
        ("no STAR_BAD", "ASPCAPFLAG[STAR_BAD] == 0"),
        ("no NO_ASPCAP_RESULT", "ASPCAPFLAG[NO_ASPCAP_RESULT] == 0"),
        ("no MISSING_APSTAR", "ASPCAPFLAG[MISSING_APSTAR] == 0"),
        ("no NO_GRID", "ASPCAPFLAG[NO_GRID] == 0"),
        ("no PROBLEM_TARGET", "ASPCAPFLAG[PROBLEM_TARGET] == 0"),
    ],
};

/// DR19's AstroNNDist training set: VSCATTER < 1 km/s, SNR > 200, no STARFLAG bit set, a Ks
/// magnitude and an extinction available; Gaia EDR3 parallax error < 0.1 mas, ruwe < 1.4,
/// ipd_frac_multi_peak ≤ 2 and ipd_gof_harmonic_amplitude < 0.1. The parallax rule comes
/// first among the Gaia rules and also requires a parallax, since a star without one has no
/// training target.
const DR19_DIST: Preset = Preset {
    name: "dr19-dist",
    rules: &[
        ("VSCATTER < 1 km/s", "VSCATTER < 1"),
        ("SNR > 200", "SNR > 200"),
        ("no STARFLAG bit", "STARFLAG == 0"),
        ("valid Ks (K)", "finite(K) && K > -1 && K < 98"),
        (
            "valid E(B-V) (SFD_EBV)",
            "finite(SFD_EBV) && SFD_EBV > 0 && SFD_EBV < 98",
        ),
        (
            "Gaia parallax error < 0.1 mas",
            "finite(GAIAEDR3_PARALLAX) && GAIAEDR3_PARALLAX_ERROR > 0 \
             && GAIAEDR3_PARALLAX_ERROR < 0.1",
        ),
        ("RUWE < 1.4", "GAIAEDR3_RUWE > 0 && GAIAEDR3_RUWE < 1.4"),
        (
            "ipd_frac_multi_peak <= 2",
            "GAIAEDR3_IPD_FRAC_MULTI_PEAK >= 0 && GAIAEDR3_IPD_FRAC_MULTI_PEAK <= 2",
        ),
        (
            "ipd_gof_harmonic_amplitude < 0.1",
            "GAIAEDR3_IPD_GOF_HARMONIC_AMPLITUDE >= 0 \
             && GAIAEDR3_IPD_GOF_HARMONIC_AMPLITUDE < 0.1",
        ),
    ],
};

/// Every preset.
pub(crate) const PRESETS: [Preset; 2] = [DR19_ASTRONN, DR19_DIST];
