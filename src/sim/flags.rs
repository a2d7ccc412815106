//! The survey catalog's quality columns for a simulated star: ASPCAP's and the visits'
//! flags (`ASPCAPFLAG`, `STARFLAG`, `ANDFLAG`), the scatter of the visits' radial velocities
//! (`VSCATTER`) and Gaia EDR3's astrometric quality (`ruwe`, `ipd_frac_multi_peak`,
//! `ipd_gof_harmonic_amplitude`): what DR19's training selections cut on
//! ([`crate::train::selection`]).
//!
//! Each star's quality is drawn from its own random stream ([`FLAGS_STREAM`], by star
//! index), apart from the stream of its labels, spectrum and catalog values, so that these
//! columns left every other column and every spectrum of a seed unchanged when they were
//! added. The rates below are round numbers of the right order for APOGEE DR17 and Gaia EDR3
//! at APOGEE's magnitudes, not fits to them; except for the S/N bits, the flags are
//! independent of the star (a simulated spectrum has no bad fits or neighbours).

use crate::apogee::bitmasks::{ASPCAPFLAG, STARFLAG};
use crate::nn::dropout::MaskStream;
use crate::random::{normal, uniform};

/// The purpose of the quality stream (`crate::random::stream(seed, FLAGS_STREAM, index)`).
pub const FLAGS_STREAM: &str = "sim-flags";

/// ASPCAP's S/N thresholds: SN_WARN below 70, SN_BAD below 50 (DR17 `AspcapBitMask`).
const SN_WARN_BELOW: f64 = 70.0;
const SN_BAD_BELOW: f64 = 50.0;

/// ASPCAP quantities flagged as a pair of bits: (WARN bit, BAD bit, fraction of stars with
/// the WARN bit, fraction with the BAD bit too). A BAD value is also a WARN one (the BAD
/// threshold lies beyond the WARN one).
const WARN_BAD_RATES: [(u64, u64, f64, f64); 6] = [
    (
        ASPCAPFLAG.value_of("TEFF_WARN"),
        ASPCAPFLAG.value_of("TEFF_BAD"),
        0.02,
        0.005,
    ),
    (
        ASPCAPFLAG.value_of("LOGG_WARN"),
        ASPCAPFLAG.value_of("LOGG_BAD"),
        0.02,
        0.005,
    ),
    (
        ASPCAPFLAG.value_of("CHI2_WARN"),
        ASPCAPFLAG.value_of("CHI2_BAD"),
        0.05,
        0.015,
    ),
    (
        ASPCAPFLAG.value_of("COLORTE_WARN"),
        ASPCAPFLAG.value_of("COLORTE_BAD"),
        0.03,
        0.01,
    ),
    (
        ASPCAPFLAG.value_of("ROTATION_WARN"),
        ASPCAPFLAG.value_of("ROTATION_BAD"),
        0.015,
        0.005,
    ),
    (
        ASPCAPFLAG.value_of("M_H_WARN"),
        ASPCAPFLAG.value_of("M_H_BAD"),
        0.04,
        0.02,
    ),
];

/// Bits that set STAR_WARN (STAR_BAD) when any of them is: TEFF, LOGG, CHI2, COLORTE,
/// ROTATION and SN (DR17 `AspcapBitMask` descriptions).
const STAR_WARN_FROM: u64 = ASPCAPFLAG.value_of("TEFF_WARN")
    | ASPCAPFLAG.value_of("LOGG_WARN")
    | ASPCAPFLAG.value_of("CHI2_WARN")
    | ASPCAPFLAG.value_of("COLORTE_WARN")
    | ASPCAPFLAG.value_of("ROTATION_WARN")
    | ASPCAPFLAG.value_of("SN_WARN");
const STAR_BAD_FROM: u64 = ASPCAPFLAG.value_of("TEFF_BAD")
    | ASPCAPFLAG.value_of("LOGG_BAD")
    | ASPCAPFLAG.value_of("CHI2_BAD")
    | ASPCAPFLAG.value_of("COLORTE_BAD")
    | ASPCAPFLAG.value_of("ROTATION_BAD")
    | ASPCAPFLAG.value_of("SN_BAD");

/// ASPCAP failures, each on its own fraction of stars.
const ASPCAP_FAILURE_RATES: [(u64, f64); 4] = [
    (ASPCAPFLAG.value_of("NO_ASPCAP_RESULT"), 0.01),
    (ASPCAPFLAG.value_of("MISSING_APSTAR"), 0.005),
    (ASPCAPFLAG.value_of("NO_GRID"), 0.01),
    (ASPCAPFLAG.value_of("PROBLEM_TARGET"), 0.01),
];

/// STARFLAG bits of a star's surroundings, in every visit (so in ANDFLAG too): fraction of
/// stars. A very bright neighbour is also a bright one.
const NEIGHBOR_RATES: [(u64, f64); 2] = [
    (STARFLAG.value_of("BRIGHT_NEIGHBOR"), 0.02),
    (
        STARFLAG.value_of("VERY_BRIGHT_NEIGHBOR") | STARFLAG.value_of("BRIGHT_NEIGHBOR"),
        0.005,
    ),
];

/// STARFLAG bits of single visits: fraction of visits. With 1–8 visits, about a fifth of
/// the stars have one in some visit.
const VISIT_RATES: [(u64, f64); 6] = [
    (STARFLAG.value_of("BAD_PIXELS"), 0.01),
    (STARFLAG.value_of("PERSIST_HIGH"), 0.01),
    (STARFLAG.value_of("PERSIST_MED"), 0.01),
    (STARFLAG.value_of("PERSIST_LOW"), 0.02),
    (STARFLAG.value_of("PERSIST_JUMP_POS"), 0.003),
    (STARFLAG.value_of("PERSIST_JUMP_NEG"), 0.003),
];

/// STARFLAG bits from combining the visits' radial velocities (stars with two or more
/// visits; not in ANDFLAG, which combines the visits' own flags): fraction of such stars.
const RV_COMBINATION_RATES: [(u64, f64); 2] = [
    (STARFLAG.value_of("SUSPECT_RV_COMBINATION"), 0.02),
    (STARFLAG.value_of("SUSPECT_BROAD_LINES"), 0.01),
];

/// Fraction of multi-visit stars that are spectroscopic binaries; their VSCATTER is
/// log-normal with median 3 km/s (ln σ 0.8: 92 % above 1 km/s), the other stars' with
/// median 0.15 km/s (ln σ 0.6). Single-visit stars have VSCATTER 0, as in allStar.
const BINARY_FRACTION: f64 = 0.08;
const VSCATTER_BINARY: (f64, f64) = (3.0, 0.8);
const VSCATTER_SINGLE: (f64, f64) = (0.15, 0.6);

/// Fraction of stars with a perturbed astrometric solution; their RUWE is log-normal with
/// median 2 (ln σ 0.5: 76 % above 1.4), the others' with median 1 (ln σ 0.1). A star without
/// a parallax (a two-parameter solution) has no RUWE (NaN).
const ASTROMETRIC_BINARY_FRACTION: f64 = 0.08;
const RUWE_PERTURBED: (f64, f64) = (2.0, 0.5);
const RUWE_SINGLE: (f64, f64) = (1.0, 0.1);

/// Fraction of stars with a nonzero ipd_frac_multi_peak (percent of windows with more than
/// one peak), then 1 + ⌊2.5·Exp(1)⌋ (45 % of them above 2).
const MULTI_PEAK_FRACTION: f64 = 0.12;
const MULTI_PEAK_SCALE: f64 = 2.5;

/// ipd_gof_harmonic_amplitude: log-normal, median 0.03, ln σ 0.75 (5 % at or above 0.1).
const GOF_HARMONIC: (f64, f64) = (0.03, 0.75);

/// A star's quality columns in the survey catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    /// APOGEE_ASPCAPFLAG bits.
    pub aspcapflag: u64,
    /// APOGEE_STARFLAG: the OR of the visits' flags, and the RV-combination bits.
    pub starflag: u64,
    /// APOGEE_STARFLAG bits set in every visit (a subset of `starflag`).
    pub andflag: u64,
    /// Scatter of the visits' radial velocities (km/s; 0 for one visit).
    pub vscatter: f64,
    /// Gaia EDR3 RUWE (NaN without a parallax).
    pub ruwe: f64,
    /// Gaia EDR3 ipd_frac_multi_peak (percent).
    pub ipd_frac_multi_peak: i16,
    /// Gaia EDR3 ipd_gof_harmonic_amplitude.
    pub ipd_gof_harmonic_amplitude: f64,
}

/// Draws the quality columns of a star observed at coadd S/N `snr` in `visits` visits,
/// with or without a Gaia parallax, from its quality stream `rng`.
pub fn draw_quality(rng: &mut MaskStream, snr: f64, visits: usize, has_parallax: bool) -> Quality {
    let aspcapflag = aspcap_flags(rng, snr);
    let (starflag, andflag) = star_flags(rng, visits);
    let vscatter = if visits > 1 {
        let (median, sigma) = if uniform(rng) < BINARY_FRACTION {
            VSCATTER_BINARY
        } else {
            VSCATTER_SINGLE
        };
        log_normal(rng, median, sigma)
    } else {
        0.0
    };
    let (median, sigma) = if uniform(rng) < ASTROMETRIC_BINARY_FRACTION {
        RUWE_PERTURBED
    } else {
        RUWE_SINGLE
    };
    let ruwe = log_normal(rng, median, sigma);
    let ipd_frac_multi_peak = if uniform(rng) < MULTI_PEAK_FRACTION {
        let exponential = -(1.0 - uniform(rng)).ln();
        (1.0 + (MULTI_PEAK_SCALE * exponential).floor()).min(100.0) as i16
    } else {
        0
    };
    Quality {
        aspcapflag,
        starflag,
        andflag,
        vscatter,
        ruwe: if has_parallax { ruwe } else { f64::NAN },
        ipd_frac_multi_peak,
        ipd_gof_harmonic_amplitude: log_normal(rng, GOF_HARMONIC.0, GOF_HARMONIC.1),
    }
}

/// ASPCAPFLAG: S/N bits from the S/N, the others drawn at their rates; STAR_WARN and
/// STAR_BAD summarise them.
fn aspcap_flags(rng: &mut MaskStream, snr: f64) -> u64 {
    let mut flags = 0;
    if snr < SN_WARN_BELOW {
        flags |= ASPCAPFLAG.value_of("SN_WARN");
    }
    if snr < SN_BAD_BELOW {
        flags |= ASPCAPFLAG.value_of("SN_BAD");
    }
    for (warn, bad, warn_rate, bad_rate) in WARN_BAD_RATES {
        let u = uniform(rng);
        if u < bad_rate {
            flags |= warn | bad;
        } else if u < warn_rate {
            flags |= warn;
        }
    }
    flags |= drawn_bits(rng, &ASPCAP_FAILURE_RATES);
    if flags & STAR_WARN_FROM != 0 {
        flags |= ASPCAPFLAG.value_of("STAR_WARN");
    }
    if flags & STAR_BAD_FROM != 0 {
        flags |= ASPCAPFLAG.value_of("STAR_BAD");
    }
    flags
}

/// STARFLAG and ANDFLAG of a star with `visits` visits: the OR and the AND of the visits'
/// flags, plus the RV-combination bits in STARFLAG.
fn star_flags(rng: &mut MaskStream, visits: usize) -> (u64, u64) {
    let neighbors = drawn_bits(rng, &NEIGHBOR_RATES);
    let (mut any, mut every) = (neighbors, u64::MAX);
    for _ in 0..visits.max(1) {
        let visit = neighbors | drawn_bits(rng, &VISIT_RATES);
        any |= visit;
        every &= visit;
    }
    if visits > 1 {
        any |= drawn_bits(rng, &RV_COMBINATION_RATES);
    }
    (any, every)
}

/// The OR of the bits of `rates`, each set with its probability.
fn drawn_bits(rng: &mut MaskStream, rates: &[(u64, f64)]) -> u64 {
    rates
        .iter()
        .filter(|&&(_, rate)| uniform(rng) < rate)
        .fold(0, |bits, &(bit, _)| bits | bit)
}

/// A log-normal draw of median `median` and logarithmic standard deviation `sigma`.
fn log_normal(rng: &mut MaskStream, median: f64, sigma: f64) -> f64 {
    (median.ln() + sigma * normal(rng)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::stream;

    fn survey(n: u64) -> Vec<Quality> {
        (0..n)
            .map(|i| {
                let mut rng = stream(9, FLAGS_STREAM, i);
                let snr = 30.0 + (i % 50) as f64 * 6.0;
                draw_quality(&mut rng, snr, 1 + (i % 8) as usize, i % 20 != 0)
            })
            .collect()
    }

    #[test]
    fn flags_are_consistent() {
        let star_bad = ASPCAPFLAG.value_of("STAR_BAD");
        for (i, q) in survey(4000).iter().enumerate() {
            assert_eq!(q.andflag & !q.starflag, 0, "ANDFLAG ⊆ STARFLAG");
            let snr = 30.0 + (i % 50) as f64 * 6.0;
            assert_eq!(
                snr < SN_BAD_BELOW,
                q.aspcapflag & ASPCAPFLAG.value_of("SN_BAD") != 0
            );
            assert_eq!(
                q.aspcapflag & STAR_BAD_FROM != 0,
                q.aspcapflag & star_bad != 0
            );
            assert_eq!(i % 8 == 0, q.vscatter == 0.0, "one visit: VSCATTER 0");
            assert_eq!(i % 20 == 0, q.ruwe.is_nan(), "no parallax: no RUWE");
            assert!((0..=100).contains(&q.ipd_frac_multi_peak));
        }
    }

    #[test]
    fn rates_are_as_documented() {
        let stars = survey(20_000);
        let fraction = |f: &dyn Fn(&Quality) -> bool| {
            stars.iter().filter(|q| f(q)).count() as f64 / stars.len() as f64
        };
        let starflag = fraction(&|q| q.starflag != 0);
        assert!((0.18..0.32).contains(&starflag), "{starflag}");
        let no_result = fraction(&|q| q.aspcapflag & ASPCAPFLAG.value_of("NO_ASPCAP_RESULT") != 0);
        assert!((0.007..0.013).contains(&no_result), "{no_result}");
        let fast = fraction(&|q| q.vscatter >= 1.0) * 8.0 / 7.0;
        assert!(
            (0.05..0.10).contains(&fast),
            "multi-visit VSCATTER ≥ 1: {fast}"
        );
        let ruwe = fraction(&|q| q.ruwe >= 1.4) * 20.0 / 19.0;
        assert!((0.04..0.09).contains(&ruwe), "RUWE ≥ 1.4: {ruwe}");
        let peaks = fraction(&|q| q.ipd_frac_multi_peak > 2);
        assert!((0.035..0.075).contains(&peaks), "{peaks}");
        let gof = fraction(&|q| q.ipd_gof_harmonic_amplitude >= 0.1);
        assert!((0.035..0.075).contains(&gof), "{gof}");
    }
}
