//! The simulated stars: labels from a Galactic-like joint distribution (thin disk, α-rich
//! thick disk, halo; giants and dwarfs; element ratios correlated as Galactic chemistry
//! correlates them), then masses, luminosities, distances, extinction and Ks magnitudes.
//! `docs/simulation.md` gives every relation.

use crate::nn::censored::LABELS;
use crate::nn::dropout::MaskStream;
use crate::random::{normal, uniform};
use crate::sim::spectrum::{FE_H, LOGG, N_LABELS, TEFF};
use crate::{Error, Result};

/// Teff range of the survey (K).
pub const TEFF_RANGE: (f64, f64) = (3500.0, 7000.0);
/// log g range (dex).
pub const LOGG_RANGE: (f64, f64) = (0.0, 5.0);
/// [Fe/H] range (dex).
pub const FE_H_RANGE: (f64, f64) = (-2.5, 0.5);
/// Apparent Ks range of the targets (APOGEE selects on H ≤ 12.2).
const K_MAG_RANGE: (f64, f64) = (6.0, 12.2);

/// Galactic component of a star.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population {
    /// Thin disk: solar-like [α/Fe].
    ThinDisk,
    /// Thick disk: α-enhanced, metal-poorer.
    ThickDisk,
    /// Halo: metal-poor and α-enhanced.
    Halo,
    /// Given by the user (`--labels`).
    Given,
}

impl Population {
    /// The name written to the truth catalog.
    pub fn name(self) -> &'static str {
        match self {
            Population::ThinDisk => "thin",
            Population::ThickDisk => "thick",
            Population::Halo => "halo",
            Population::Given => "given",
        }
    }
}

/// The true properties of one simulated star.
#[derive(Debug, Clone, PartialEq)]
pub struct Star {
    /// The 22 AstroNN labels (AstroNN order; Teff in K, log g and [X/H] in dex).
    pub labels: [f64; N_LABELS],
    /// Galactic component.
    pub population: Population,
    /// Whether the star is a giant (log g < 3.8 on the giant branch) rather than a dwarf.
    pub giant: bool,
    /// Mass (solar masses).
    pub mass: f64,
    /// Absolute Ks magnitude.
    pub abs_k_mag: f64,
    /// Distance (pc).
    pub distance_pc: f64,
    /// E(B−V).
    pub ebv: f64,
    /// Apparent Ks magnitude, extinction included.
    pub k_mag: f64,
}

impl Star {
    /// A star of given labels, mass, distance and reddening: its absolute and apparent Ks
    /// follow from them.
    pub fn new(
        labels: [f64; N_LABELS],
        population: Population,
        giant: bool,
        mass: f64,
        distance_pc: f64,
        ebv: f64,
    ) -> Star {
        let abs_k_mag = absolute_k_mag(labels[TEFF], labels[LOGG], mass);
        Star {
            labels,
            population,
            giant,
            mass,
            abs_k_mag,
            distance_pc,
            ebv,
            k_mag: apparent_k_mag(abs_k_mag, distance_pc, ebv),
        }
    }

    /// Ks-band pseudo-luminosity, L_fakemag = 10^(0.2·M_Ks + 2) (SPEC §5).
    pub fn l_fakemag(&self) -> f64 {
        10f64.powf(0.2 * self.abs_k_mag + 2.0)
    }

    /// True parallax (mas).
    pub fn parallax_mas(&self) -> f64 {
        1000.0 / self.distance_pc
    }
}

/// A box in label space that drawn stars must fall in (`--restrict`), to leave part of the
/// distribution out of a training set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelBound {
    /// Label index in AstroNN order.
    pub label: usize,
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
}

impl LabelBound {
    /// Parses `LABEL=MIN:MAX` (`fe_h=-2:0.5`), a label of AstroNN's by name.
    pub fn parse(text: &str) -> Result<LabelBound> {
        let invalid = |why: String| Error::Invalid(format!("--restrict {text}: {why}"));
        let Some((name, range)) = text.split_once('=') else {
            return Err(invalid("expected LABEL=MIN:MAX, e.g. fe_h=-2:0.5".into()));
        };
        let label = LABELS
            .iter()
            .position(|l| l.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                invalid(format!(
                    "unknown label '{name}' (labels: {})",
                    LABELS.join(", ")
                ))
            })?;
        let parse = |v: &str| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| invalid(format!("'{v}' is not a number")))
        };
        let Some((min, max)) = range.split_once(':') else {
            return Err(invalid("expected MIN:MAX after '='".into()));
        };
        let (min, max) = (parse(min)?, parse(max)?);
        if min.is_nan() || max.is_nan() || min > max {
            return Err(invalid("MIN must be a number not above MAX".into()));
        }
        Ok(LabelBound { label, min, max })
    }
}

/// Draws stars until one satisfies every bound (at most `tries`; `None` if none did).
pub fn draw_star_within(rng: &mut MaskStream, bounds: &[LabelBound], tries: usize) -> Option<Star> {
    (0..tries).map(|_| draw_star(rng)).find(|star| {
        bounds
            .iter()
            .all(|b| (b.min..=b.max).contains(&star.labels[b.label]))
    })
}

/// Draws one star from the survey's distribution.
pub fn draw_star(rng: &mut MaskStream) -> Star {
    let population = match uniform(rng) {
        u if u < 0.70 => Population::ThinDisk,
        u if u < 0.92 => Population::ThickDisk,
        _ => Population::Halo,
    };
    let (fe_h, alpha) = metallicity(rng, population);
    let giant = uniform(rng) < 0.7;
    let (teff, logg) = if giant {
        giant_branch(rng, fe_h)
    } else {
        dwarf_sequence(rng)
    };
    let mut labels = [0.0; N_LABELS];
    labels[TEFF] = teff;
    labels[LOGG] = logg;
    labels[FE_H] = fe_h;
    for (label, x_fe) in element_ratios(rng, alpha, logg, fe_h, giant) {
        labels[label] = x_fe + fe_h;
    }
    let giant_mass = (1.25 - 1.2 * alpha + 0.08 * normal(rng)).clamp(0.75, 2.5);
    let mass = if giant { giant_mass } else { dwarf_mass(teff) };
    let (distance_pc, ebv) = place(rng, absolute_k_mag(teff, logg, mass));
    Star::new(labels, population, giant, mass, distance_pc, ebv)
}

/// [Fe/H] and [α/Fe] of a population.
fn metallicity(rng: &mut MaskStream, population: Population) -> (f64, f64) {
    let (mean, sd) = match population {
        Population::ThinDisk | Population::Given => (-0.05, 0.22),
        Population::ThickDisk => (-0.5, 0.25),
        Population::Halo => (-1.4, 0.5),
    };
    let fe_h = (mean + sd * normal(rng)).clamp(FE_H_RANGE.0, FE_H_RANGE.1);
    let alpha = match population {
        Population::ThinDisk | Population::Given => 0.02 - 0.08 * fe_h.min(0.0),
        Population::ThickDisk => 0.28 - 0.2 * (fe_h + 0.6).max(0.0),
        Population::Halo => 0.3,
    } + 0.03 * normal(rng);
    (fe_h, alpha)
}

/// Teff and log g on the red giant branch or in the red clump.
fn giant_branch(rng: &mut MaskStream, fe_h: f64) -> (f64, f64) {
    let (logg, offset) = if uniform(rng) < 0.3 {
        (2.45 + 0.08 * normal(rng), 250.0)
    } else {
        (0.3 + 3.5 * uniform(rng).powf(0.8), 0.0)
    };
    let teff = 4450.0 + 350.0 * (logg - 2.5) - 250.0 * fe_h + offset + 60.0 * normal(rng);
    (
        teff.clamp(TEFF_RANGE.0, TEFF_RANGE.1),
        logg.clamp(LOGG_RANGE.0, LOGG_RANGE.1),
    )
}

/// Teff and log g on the main sequence or the subgiant branch.
fn dwarf_sequence(rng: &mut MaskStream) -> (f64, f64) {
    if uniform(rng) < 0.15 {
        let teff = 4900.0 + 1400.0 * uniform(rng);
        return (teff, 3.5 + 0.7 * uniform(rng));
    }
    let teff = TEFF_RANGE.0 + 100.0 + (TEFF_RANGE.1 - TEFF_RANGE.0 - 100.0) * uniform(rng).sqrt();
    let logg = 4.85 - 0.00018 * (teff - TEFF_RANGE.0) + 0.08 * normal(rng);
    (teff, logg.clamp(LOGG_RANGE.0, LOGG_RANGE.1))
}

/// Main-sequence mass from Teff (a rough power law).
pub(crate) fn dwarf_mass(teff: f64) -> f64 {
    (teff / 5772.0).powf(1.6).clamp(0.4, 1.8)
}

/// [X/Fe] of every element label: α elements follow [α/Fe]; C and N follow mixing on the
/// giant branch; odd-Z and iron-peak elements scatter around solar with their own trends.
fn element_ratios(
    rng: &mut MaskStream,
    alpha: f64,
    logg: f64,
    fe_h: f64,
    giant: bool,
) -> Vec<(usize, f64)> {
    let mixing = if giant {
        (3.5 - logg).max(0.0) / 3.5
    } else {
        0.0
    };
    let mut n = |sd: f64| sd * normal(rng);
    let c_fe = -0.05 + 0.1 * alpha - 0.25 * mixing + n(0.06);
    let ti_fe = 0.6 * alpha + n(0.04);
    vec![
        (2, c_fe),
        (3, c_fe + n(0.05)),
        (4, 0.05 + 0.4 * mixing + n(0.08)),
        (5, 1.0 * alpha + n(0.04)),
        (6, n(0.1)),
        (7, 1.0 * alpha + n(0.03)),
        (8, 0.6 * alpha + n(0.06)),
        (9, 0.8 * alpha + n(0.03)),
        (10, 0.5 * alpha + n(0.12)),
        (11, 0.9 * alpha + n(0.06)),
        (12, 0.4 * alpha + n(0.06)),
        (13, 0.7 * alpha + n(0.03)),
        (14, ti_fe),
        (15, ti_fe + n(0.04)),
        (16, 0.05 + n(0.08)),
        (17, -0.02 + n(0.03)),
        (18, -0.05 + 0.1 * fe_h - 0.4 * alpha + n(0.04)),
        (20, 0.05 + n(0.07)),
        (21, 0.1 * alpha + n(0.03)),
    ]
}

/// Absolute Ks magnitude from Teff, log g and mass: L ∝ M·T⁴/g, M_bol = 4.74 − 2.5 log L,
/// and a linear Ks bolometric correction.
pub fn absolute_k_mag(teff: f64, logg: f64, mass: f64) -> f64 {
    let log_l = mass.log10() + 4.0 * (teff / 5772.0).log10() - (logg - 4.438);
    let bolometric = 4.74 - 2.5 * log_l;
    let bc_k = 1.47 + 0.0008 * (5772.0 - teff);
    bolometric - bc_k
}

/// Apparent Ks of a star of absolute magnitude `abs_k_mag` at `distance_pc` behind
/// E(B−V) = `ebv`.
fn apparent_k_mag(abs_k_mag: f64, distance_pc: f64, ebv: f64) -> f64 {
    abs_k_mag + 5.0 * (distance_pc / 10.0).log10() + 0.3517 * ebv
}

/// Distance and E(B−V) of a star of absolute magnitude `abs_k_mag`, drawn log-uniformly in
/// distance until the star is bright enough to be a target.
pub(crate) fn place(rng: &mut MaskStream, abs_k_mag: f64) -> (f64, f64) {
    let mut last = (0.0, 0.0);
    for _ in 0..200 {
        let distance = 10f64.powf(1.7 + (4.3 - 1.7) * uniform(rng));
        let ebv = (0.12 * (distance / 1000.0).powf(0.8) * (0.3 + 1.4 * uniform(rng))).min(3.0);
        last = (distance, ebv);
        if (K_MAG_RANGE.0..=K_MAG_RANGE.1).contains(&apparent_k_mag(abs_k_mag, distance, ebv)) {
            break;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::stream;

    #[test]
    fn the_sun_has_the_suns_ks_magnitude() {
        let m = absolute_k_mag(5772.0, 4.438, 1.0);
        assert!((m - 3.27).abs() < 1e-9, "{m}");
    }

    #[test]
    fn labels_stay_in_the_documented_ranges_and_correlate() {
        let mut rng = stream(5, "sim-test", 0);
        let stars: Vec<Star> = (0..4000).map(|_| draw_star(&mut rng)).collect();
        for s in &stars {
            assert!((TEFF_RANGE.0..=TEFF_RANGE.1).contains(&s.labels[TEFF]));
            assert!((LOGG_RANGE.0..=LOGG_RANGE.1).contains(&s.labels[LOGG]));
            assert!((FE_H_RANGE.0..=FE_H_RANGE.1).contains(&s.labels[FE_H]));
            assert!(s.distance_pc > 0.0 && s.ebv >= 0.0 && s.l_fakemag() > 0.0);
        }
        // [Mg/Fe] is higher in the thick disk than in the thin disk.
        let mean_mg_fe = |p: Population| {
            let v: Vec<f64> = stars
                .iter()
                .filter(|s| s.population == p)
                .map(|s| s.labels[7] - s.labels[FE_H])
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(mean_mg_fe(Population::ThickDisk) > mean_mg_fe(Population::ThinDisk) + 0.15);
        let giants = stars.iter().filter(|s| s.giant).count() as f64 / stars.len() as f64;
        assert!((giants - 0.7).abs() < 0.03, "{giants}");
    }

    #[test]
    fn bounds_are_respected() {
        let mut rng = stream(6, "sim-test", 0);
        let bounds = [LabelBound {
            label: FE_H,
            min: -0.2,
            max: 0.1,
        }];
        for _ in 0..200 {
            let star = draw_star_within(&mut rng, &bounds, 1000).expect("a star in range");
            assert!((-0.2..=0.1).contains(&star.labels[FE_H]));
        }
    }
}
