//! Observing a simulated star: visits of varying S/N, a smooth instrumental continuum per
//! chip and visit, Gaussian noise, and flagged pixels with APOGEE_PIXMASK bits, combined
//! into the rows of an apStar file (row 0 the coadd; with several visits row 1 a second
//! combination and visit k in row k + 1, as in DR17).

use crate::apogee::grid::{APSTAR_PIXELS, CHIPS};
use crate::nn::dropout::MaskStream;
use crate::random::{below, normal, uniform};

/// APOGEE_PIXMASK bits the simulation sets.
mod bits {
    pub const BADPIX: u32 = 1 << 0;
    pub const CRPIX: u32 = 1 << 1;
    pub const PERSIST_HIGH: u32 = 1 << 9;
    pub const SIG_SKYLINE: u32 = 1 << 12;
}

/// Coadd S/N range of the survey (per pixel, at the continuum).
pub const SNR_RANGE: (f64, f64) = (30.0, 500.0);
/// Most visits of a star.
pub const MAX_VISITS: usize = 8;

/// Error written at the chip gaps (which carry no data).
const GAP_ERROR: f32 = 1.0e10;

/// How a star is observed: its coadd S/N and the S/N of each visit
/// (`Σ visit_snr² = coadd_snr²`).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// S/N per pixel of the coadd, at the continuum.
    pub coadd_snr: f64,
    /// S/N of each visit.
    pub visit_snr: Vec<f64>,
}

impl Observation {
    /// Draws a star's visits: 1–8 of them, coadd S/N log-normal around 120 within
    /// [`SNR_RANGE`], shared unevenly between the visits.
    pub fn draw(rng: &mut MaskStream) -> Observation {
        let visits = 1 + below(rng, MAX_VISITS);
        let coadd_snr = (120f64.ln() + 0.6 * normal(rng))
            .exp()
            .clamp(SNR_RANGE.0, SNR_RANGE.1);
        Observation::with_snr(rng, coadd_snr, visits)
    }

    /// Visits sharing a given coadd S/N.
    pub fn with_snr(rng: &mut MaskStream, coadd_snr: f64, visits: usize) -> Observation {
        let weights: Vec<f64> = (0..visits.max(1)).map(|_| 0.5 + uniform(rng)).collect();
        let total: f64 = weights.iter().sum();
        let visit_snr = weights
            .iter()
            .map(|w| coadd_snr * (w / total).sqrt())
            .collect();
        Observation {
            coadd_snr,
            visit_snr,
        }
    }
}

/// The arrays of an apStar file: `rows × 8575` flux, error and mask, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ApStarArrays {
    /// Number of rows.
    pub rows: usize,
    /// Flux (float32, as DR17 stores it).
    pub flux: Vec<f32>,
    /// Flux error.
    pub error: Vec<f32>,
    /// APOGEE_PIXMASK.
    pub mask: Vec<u32>,
}

impl ApStarArrays {
    /// The flux, error and mask of row `row`.
    pub fn row(&self, row: usize) -> (&[f32], &[f32], &[u32]) {
        let span = row * APSTAR_PIXELS..(row + 1) * APSTAR_PIXELS;
        (
            &self.flux[span.clone()],
            &self.error[span.clone()],
            &self.mask[span],
        )
    }
}

/// The coadd's noise in normalized flux at every network pixel of a star observed as
/// `observation` (flagged pixels carry none: infinite), for the Cramér–Rao bound.
pub fn coadd_noise(observation: &Observation, coadd_mask: &[u32]) -> Vec<f64> {
    let sigma = 1.0 / observation.coadd_snr;
    crate::apogee::grid::delete_gaps(coadd_mask)
        .into_iter()
        .map(|m| {
            if crate::apogee::pixmask::is_bad(u64::from(m)) {
                f64::INFINITY
            } else if m & bits::SIG_SKYLINE != 0 {
                sigma * SKY_NOISE_FACTOR
            } else {
                sigma
            }
        })
        .collect()
}

/// Noise multiplier at sky-line pixels (flagged SIG_SKYLINE, and masked by the pipeline).
const SKY_NOISE_FACTOR: f64 = 3.0;

/// Observes a star whose normalized spectrum on the apStar grid is `normalized` (8575
/// pixels, gaps included). With `noise_free`, no noise and no flagged pixels are added (the
/// errors still say what the noise would be).
pub fn observe(
    rng: &mut MaskStream,
    normalized: &[f64],
    observation: &Observation,
    noise_free: bool,
) -> ApStarArrays {
    let visits: Vec<VisitExposure> = observation
        .visit_snr
        .iter()
        .map(|&snr| VisitExposure::draw(rng, normalized, snr, noise_free))
        .collect();
    let coadd = combine(rng, &visits);
    let mut rows = vec![coadd.clone()];
    if visits.len() > 1 {
        rows.push(coadd);
        rows.extend(visits.iter().map(VisitExposure::to_row));
    }
    let mut arrays = ApStarArrays {
        rows: rows.len(),
        flux: Vec::with_capacity(rows.len() * APSTAR_PIXELS),
        error: Vec::with_capacity(rows.len() * APSTAR_PIXELS),
        mask: Vec::with_capacity(rows.len() * APSTAR_PIXELS),
    };
    for row in rows {
        arrays.flux.extend(row.flux);
        arrays.error.extend(row.error);
        arrays.mask.extend(row.mask);
    }
    arrays
}

/// One row of an apStar file.
#[derive(Debug, Clone)]
struct Row {
    flux: Vec<f32>,
    error: Vec<f32>,
    mask: Vec<u32>,
}

/// One visit in normalized units: flux (true spectrum plus noise), noise level and mask.
struct VisitExposure {
    normalized: Vec<f64>,
    sigma: Vec<f64>,
    mask: Vec<u32>,
    continuum: Vec<f64>,
}

impl VisitExposure {
    fn draw(rng: &mut MaskStream, truth: &[f64], snr: f64, noise_free: bool) -> VisitExposure {
        let continuum = instrumental_continuum(rng);
        let mut sigma = vec![1.0 / snr; APSTAR_PIXELS];
        let mut mask = vec![0u32; APSTAR_PIXELS];
        let mut normalized = truth.to_vec();
        if !noise_free {
            flag_pixels(rng, &mut mask, &mut sigma);
            for ((f, s), m) in normalized.iter_mut().zip(&sigma).zip(&mask) {
                *f += s * normal(rng);
                if m & bits::CRPIX != 0 {
                    *f += (5.0 + 45.0 * uniform(rng)) * s;
                }
                if m & bits::BADPIX != 0 {
                    *f = 0.0;
                }
            }
        }
        VisitExposure {
            normalized,
            sigma,
            mask,
            continuum,
        }
    }

    fn to_row(&self) -> Row {
        to_row(&self.normalized, &self.sigma, &self.mask, &self.continuum)
    }
}

/// The coadd: the inverse-variance weighted mean of the visits (in normalized units), its
/// mask the union of the visits' masks, on a continuum of its own.
fn combine(rng: &mut MaskStream, visits: &[VisitExposure]) -> Row {
    let continuum = instrumental_continuum(rng);
    let mut normalized = vec![0.0; APSTAR_PIXELS];
    let mut mask = vec![0u32; APSTAR_PIXELS];
    let mut sigma = vec![0.0; APSTAR_PIXELS];
    for p in 0..APSTAR_PIXELS {
        let (mut sum, mut weight) = (0.0, 0.0);
        for visit in visits {
            let w = visit.sigma[p].powi(-2);
            sum += w * visit.normalized[p];
            weight += w;
            mask[p] |= visit.mask[p];
        }
        normalized[p] = sum / weight;
        sigma[p] = weight.sqrt().recip();
    }
    to_row(&normalized, &sigma, &mask, &continuum)
}

/// Flux and error on the instrumental continuum; gaps get no flux and a huge error.
fn to_row(normalized: &[f64], sigma: &[f64], mask: &[u32], continuum: &[f64]) -> Row {
    let mut row = Row {
        flux: vec![0.0; APSTAR_PIXELS],
        error: vec![GAP_ERROR; APSTAR_PIXELS],
        mask: vec![bits::BADPIX; APSTAR_PIXELS],
    };
    for chip in CHIPS {
        for p in chip {
            row.flux[p] = (normalized[p] * continuum[p]) as f32;
            row.error[p] = (sigma[p] * continuum[p]) as f32;
            row.mask[p] = mask[p];
        }
    }
    row
}

/// A smooth continuum per chip: a gain (counts at the continuum) times a quadratic in the
/// pixel position within the chip.
fn instrumental_continuum(rng: &mut MaskStream) -> Vec<f64> {
    let mut continuum = vec![0.0; APSTAR_PIXELS];
    for chip in CHIPS {
        let gain = 200.0 + 1800.0 * uniform(rng);
        let slope = 0.6 * (uniform(rng) - 0.5);
        let curvature = 0.4 * (uniform(rng) - 0.5);
        let (start, len) = (chip.start, chip.len() as f64);
        for p in chip {
            let x = 2.0 * (p - start) as f64 / (len - 1.0) - 1.0;
            continuum[p] = gain * (1.0 + slope * x + curvature * x * x);
        }
    }
    continuum
}

/// Flags a visit's pixels: a few cosmic rays (CRPIX) and bad pixels (BADPIX), clusters of
/// sky-line pixels (SIG_SKYLINE, noisier), and harmless persistence flags that the
/// preprocessing must ignore.
fn flag_pixels(rng: &mut MaskStream, mask: &mut [u32], sigma: &mut [f64]) {
    let mut flag_random = |rng: &mut MaskStream, count: usize, bit: u32, width: usize| {
        for _ in 0..count {
            let start = below(rng, APSTAR_PIXELS - width);
            for m in &mut mask[start..start + width] {
                *m |= bit;
            }
        }
    };
    flag_random(rng, 10, bits::CRPIX, 1);
    flag_random(rng, 5, bits::BADPIX, 1);
    flag_random(rng, 15, bits::SIG_SKYLINE, 3);
    flag_random(rng, 2, bits::PERSIST_HIGH, 40);
    for (s, m) in sigma.iter_mut().zip(mask.iter()) {
        if m & bits::SIG_SKYLINE != 0 {
            *s *= SKY_NOISE_FACTOR;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::stream;

    #[test]
    fn visits_share_the_coadd_snr() {
        let mut rng = stream(1, "sim-test", 0);
        for _ in 0..100 {
            let obs = Observation::draw(&mut rng);
            let total: f64 = obs.visit_snr.iter().map(|s| s * s).sum::<f64>().sqrt();
            assert!((total - obs.coadd_snr).abs() < 1e-9 * obs.coadd_snr);
            assert!((1..=MAX_VISITS).contains(&obs.visit_snr.len()));
            assert!((SNR_RANGE.0..=SNR_RANGE.1).contains(&obs.coadd_snr));
        }
    }

    #[test]
    fn coadd_noise_matches_the_coadd_snr() {
        let mut rng = stream(2, "sim-test", 0);
        let truth = vec![0.8; APSTAR_PIXELS];
        let obs = Observation::with_snr(&mut rng, 100.0, 4);
        let arrays = observe(&mut rng, &truth, &obs, false);
        assert_eq!(arrays.rows, 6);
        let (flux, error, mask) = arrays.row(0);
        let mut residuals = vec![];
        for chip in CHIPS {
            for p in chip {
                if mask[p] == 0 {
                    let continuum = f64::from(error[p]) / 0.01;
                    residuals.push((f64::from(flux[p]) - 0.8 * continuum) / (0.01 * continuum));
                }
            }
        }
        let n = residuals.len() as f64;
        let var = residuals.iter().map(|r| r * r).sum::<f64>() / n;
        assert!(
            (var - 1.0).abs() < 0.05,
            "normalized residual variance {var}"
        );
    }

    #[test]
    fn noise_free_rows_are_the_truth_on_the_continuum() {
        let mut rng = stream(3, "sim-test", 0);
        let truth: Vec<f64> = (0..APSTAR_PIXELS)
            .map(|p| 0.5 + (p % 7) as f64 / 20.0)
            .collect();
        let obs = Observation::with_snr(&mut rng, 50.0, 1);
        let arrays = observe(&mut rng, &truth, &obs, true);
        assert_eq!(arrays.rows, 1);
        let (flux, error, mask) = arrays.row(0);
        for p in CHIPS[1].clone() {
            let continuum = f64::from(error[p]) * 50.0;
            assert!((f64::from(flux[p]) / continuum - truth[p]).abs() < 1e-5);
            assert_eq!(mask[p], 0);
        }
    }
}
