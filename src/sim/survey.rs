//! Simulating a survey: star by star (each from its own random stream, so the result does
//! not depend on threads), written as apStar files or directly as normalized spectra, with
//! the truth and label catalogs.

use crate::apogee::continuum::{normalize, NormalizedSpectrum};
use crate::apogee::grid::insert_gaps;
use crate::io::apstar::e_flux_from_error;
use crate::io::apstar_header::star_fields;
use crate::io::apstar_write::write_apstar;
use crate::io::header_card::{CardValue, HeaderCard};
use crate::io::normalized::{NormalizedWriter, SpectrumMeta};
use crate::io::table::AstraTableWriter;
use crate::nn::dropout::MaskStream;
use crate::pipeline::predict::Observer;
use crate::random::{stream, uniform};
use crate::sim::catalogs::{
    label_catalog_columns, label_catalog_rows, observe_catalog, truth_columns, truth_rows,
    StarRecord,
};
use crate::sim::crb::cramer_rao_bounds;
use crate::sim::flags::{draw_quality, FLAGS_STREAM};
use crate::sim::observe::{coadd_noise, observe, ApStarArrays, Observation};
use crate::sim::population::{draw_star_within, LabelBound, Star};
use crate::sim::spectrum::{draw_line_scatter, SpectralModel, LINE_STRENGTH_SCATTER};
use crate::{Error, Result};
use rayon::prelude::*;
use std::path::Path;

/// Stars simulated per parallel step (bounds memory: a step's apStar arrays are in memory).
const STARS_PER_CHUNK: usize = 64;
/// Draws allowed per star to satisfy `--restrict` bounds.
const TRIES_PER_STAR: usize = 100_000;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyOutput {
    /// One apStar file per star.
    ApStar,
    /// Only `normalized.fits`: each coadd normalized as `astronn normalize` would normalize
    /// the apStar file (the file itself is never written).
    NormalizedOnly,
}

/// A star given by the user (`--labels`): its id, true star and how it is observed.
#[derive(Debug, Clone)]
pub struct GivenStar {
    /// Identifier.
    pub id: String,
    /// The star.
    pub star: Star,
    /// Coadd S/N.
    pub snr: f64,
    /// Number of visits.
    pub visits: usize,
}

/// Where the stars come from.
#[derive(Debug, Clone)]
pub enum StarSource {
    /// `n` stars drawn from the survey's distribution, within `bounds`.
    Drawn {
        /// Number of stars.
        n: usize,
        /// Label bounds (`--restrict`).
        bounds: Vec<LabelBound>,
    },
    /// The user's stars.
    Given(Vec<GivenStar>),
}

impl Survey {
    /// Number of stars.
    pub fn len(&self) -> usize {
        match &self.stars {
            StarSource::Drawn { n, .. } => *n,
            StarSource::Given(stars) => stars.len(),
        }
    }

    /// Whether the survey has no stars.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The stream from which the positions of given stars are drawn when their catalog lacks
/// them.
pub fn given_stream(seed: u64) -> MaskStream {
    stream(seed, "sim-given", 0)
}

/// A survey to simulate.
#[derive(Debug, Clone)]
pub struct Survey {
    /// The run's seed: every star's spectrum, noise and catalog entries follow from it.
    pub seed: u64,
    /// The stars.
    pub stars: StarSource,
    /// Render without noise, line-strength scatter or flagged pixels.
    pub noise_free: bool,
    /// apStar files or normalized spectra.
    pub output: SurveyOutput,
}

/// Files of a simulated survey inside its directory.
pub const TRUTH_FILE: &str = "truth.fits";
/// The survey catalog.
pub const LABELS_FILE: &str = "labels.fits";
/// Normalized spectra (`--normalized-only`).
pub const NORMALIZED_FILE: &str = "normalized.fits";

/// One simulated star: its catalog record and what is written of its spectra.
struct Simulated {
    record: StarRecord,
    spectra: Spectra,
}

/// A star's spectra as written: its apStar file, or its normalized coadd.
enum Spectra {
    ApStar {
        arrays: ApStarArrays,
        header: Vec<HeaderCard>,
    },
    Normalized {
        meta: Box<SpectrumMeta>,
        spectrum: NormalizedSpectrum,
    },
}

/// Simulates `survey` into `dir` (created if needed); `header` describes the run in the
/// catalogs' primary headers. Returns the number of stars.
pub fn simulate(
    survey: &Survey,
    dir: &Path,
    header: &[HeaderCard],
    observer: &dyn Observer,
) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut truth = AstraTableWriter::create(&dir.join(TRUTH_FILE), truth_columns(), header)?;
    let mut labels =
        AstraTableWriter::create(&dir.join(LABELS_FILE), label_catalog_columns(), header)?;
    let mut normalized = match survey.output {
        SurveyOutput::NormalizedOnly => Some(NormalizedWriter::create(
            &dir.join(NORMALIZED_FILE),
            header,
        )?),
        SurveyOutput::ApStar => None,
    };
    let total = survey.len();
    for start in (0..total).step_by(STARS_PER_CHUNK) {
        let end = (start + STARS_PER_CHUNK).min(total);
        let chunk: Vec<Simulated> = (start..end)
            .into_par_iter()
            .map(|index| simulate_star(survey, index))
            .collect::<Result<_>>()?;
        chunk.par_iter().try_for_each(|s| match &s.spectra {
            Spectra::ApStar { arrays, header } => {
                write_apstar(&dir.join(&s.record.file), header, arrays)
            }
            Spectra::Normalized { .. } => Ok(()),
        })?;
        if let Some(writer) = normalized.as_mut() {
            for s in &chunk {
                if let Spectra::Normalized { meta, spectrum } = &s.spectra {
                    writer.append(meta, &spectrum.flux, &spectrum.e_flux)?;
                }
            }
        }
        let records: Vec<StarRecord> = chunk.into_iter().map(|s| s.record).collect();
        truth.append(&truth_rows(&records))?;
        labels.append(&label_catalog_rows(&records))?;
        observer.advance(records.len(), records.len());
    }
    if let Some(writer) = normalized {
        writer.finish()?;
    }
    truth.finish(&[])?;
    labels.finish(&[])?;
    Ok(total)
}

/// Identifier of star `index` of a drawn survey with `seed`.
pub fn star_id(seed: u64, index: usize) -> String {
    format!("SIM{seed}-{index:06}")
}

/// The apStar file name of a star.
pub fn apstar_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("apStar-{safe}.fits")
}

fn simulate_star(survey: &Survey, index: usize) -> Result<Simulated> {
    let mut rng = stream(survey.seed, "sim-star", index as u64);
    let (id, star, observation) = match &survey.stars {
        StarSource::Drawn { bounds, .. } => {
            let star = draw_star_within(&mut rng, bounds, TRIES_PER_STAR).ok_or_else(|| {
                Error::Invalid(format!(
                    "no star of the survey's distribution falls within the --restrict bounds \
                     after {TRIES_PER_STAR} draws"
                ))
            })?;
            let observation = Observation::draw(&mut rng);
            (star_id(survey.seed, index), star, observation)
        }
        StarSource::Given(stars) => {
            let given = &stars[index];
            let observation = Observation::with_snr(&mut rng, given.snr, given.visits);
            (given.id.clone(), given.star.clone(), observation)
        }
    };
    let model = SpectralModel::get();
    let (expected, jacobian) = model.render_with_jacobian(&star.labels);
    let spectrum = if survey.noise_free {
        expected.clone()
    } else {
        model.render_star(&star.labels, &draw_line_scatter(&mut rng))
    };
    let arrays = observe(
        &mut rng,
        &insert_gaps(&spectrum, 1.0),
        &observation,
        survey.noise_free,
    );
    let crb = cramer_rao_bounds(
        &expected,
        &jacobian,
        &coadd_noise(&observation, arrays.row(0).2),
        LINE_STRENGTH_SCATTER,
    );
    let observed = observe_catalog(&mut rng, &star);
    let position = Position::draw(&mut rng);
    // Its own stream: the quality columns change nothing else of the star.
    let quality = draw_quality(
        &mut stream(survey.seed, FLAGS_STREAM, index as u64),
        observation.coadd_snr,
        observation.visit_snr.len(),
        observed.parallax.is_finite(),
    );
    let record = StarRecord {
        file: apstar_name(&id),
        id,
        star,
        snr: observation.coadd_snr,
        nvisits: observation.visit_snr.len(),
        crb,
        observed,
        quality,
    };
    let spectra = match survey.output {
        SurveyOutput::ApStar => Spectra::ApStar {
            header: apstar_header(&record, position, &observation, survey.seed),
            arrays,
        },
        SurveyOutput::NormalizedOnly => Spectra::Normalized {
            spectrum: normalize_coadd(&arrays, &record.id)?,
            meta: Box::new(coadd_meta(
                &record,
                &apstar_header(&record, position, &observation, survey.seed),
            )),
        },
    };
    Ok(Simulated { record, spectra })
}

/// Where a star is on the sky (degrees), drawn uniformly over the sphere.
#[derive(Debug, Clone, Copy)]
struct Position {
    ra: f64,
    dec: f64,
}

impl Position {
    fn draw(rng: &mut MaskStream) -> Position {
        let ra = 360.0 * uniform(rng);
        let dec = (2.0 * uniform(rng) - 1.0).asin().to_degrees();
        Position { ra, dec }
    }
}

/// HDU 0 of a simulated apStar file.
fn apstar_header(
    record: &StarRecord,
    position: Position,
    observation: &Observation,
    seed: u64,
) -> Vec<HeaderCard> {
    let id = &record.id;
    let str_card = |k: &str, v: &str, c: &str| HeaderCard::new(k, CardValue::Str(v.into()), c);
    let f64_card = |k: &str, v: f64, c: &str| HeaderCard::new(k, CardValue::F64(v), c);
    let mut cards = vec![
        str_card("OBJID", id, "simulated star"),
        str_card("TELESCOP", "apo25m", "telescope"),
        str_card("FIELD", "SIM", "field"),
        f64_card("RA", position.ra, "right ascension (deg)"),
        f64_card("DEC", position.dec, "declination (deg)"),
        f64_card(
            "SNR",
            observation.coadd_snr,
            "coadd S/N per pixel at the continuum",
        ),
        HeaderCard::new(
            "NVISITS",
            CardValue::I64(observation.visit_snr.len() as i64),
            "number of visits",
        ),
    ];
    for (k, snr) in observation.visit_snr.iter().enumerate() {
        cards.push(str_card(
            &format!("SFILE{}", k + 1),
            &format!("apVisit-{id}-{}.fits", k + 1),
            &format!("visit {} (S/N {snr:.1})", k + 1),
        ));
    }
    cards.extend([
        f64_card("K", record.observed.k_mag, "2MASS Ks (simulated)"),
        f64_card("SFD_EBV", record.star.ebv, "E(B-V) (simulated)"),
        HeaderCard::new(
            "SIMSEED",
            CardValue::I64(seed as i64),
            "astronn simulate seed",
        ),
        HeaderCard::new(
            "COMMENT",
            CardValue::Str("Simulated by astronn simulate: a test bed, not astrophysics.".into()),
            "",
        ),
    ]);
    cards
}

/// Normalizes a star's coadd as `astronn normalize` would read it from the apStar file
/// (float32 flux and error, integer mask).
fn normalize_coadd(arrays: &ApStarArrays, id: &str) -> Result<NormalizedSpectrum> {
    let (flux, error, mask) = arrays.row(0);
    let flux: Vec<f64> = flux.iter().map(|&v| f64::from(v)).collect();
    let e_flux: Vec<f64> = error
        .iter()
        .map(|&v| e_flux_from_error(f64::from(v)))
        .collect();
    let mask: Vec<u64> = mask.iter().map(|&v| u64::from(v)).collect();
    normalize(&flux, &e_flux, &mask)
        .map_err(|reason| Error::Invalid(format!("simulated star {id}: {reason}")))
}

/// The description `normalize` would give the coadd of a simulated apStar file with this
/// `header`.
fn coadd_meta(record: &StarRecord, header: &[HeaderCard]) -> SpectrumMeta {
    let cards: Vec<(String, String)> = header
        .iter()
        .map(|c| (c.key.clone(), c.value.text()))
        .collect();
    SpectrumMeta {
        fields: star_fields(&cards, Path::new(&record.file), &[]),
        ..SpectrumMeta::anonymous(&record.file, 0)
    }
}
