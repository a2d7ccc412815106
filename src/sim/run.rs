//! A simulated survey as a library run (`astronn simulate`, `astronn.simulate`): the stars
//! drawn or read and the survey checked ([`SimulationRun::prepare`]) before anything is
//! rendered ([`SimulationRun::execute`]).

use crate::io::header_card::{CardValue, HeaderCard};
use crate::io::temp::refuse_to_replace;
use crate::pipeline::predict::Observer;
use crate::pipeline::run_info::run_cards;
use crate::sim::given::load_given_stars;
use crate::sim::population::LabelBound;
use crate::sim::survey::{self, StarSource, Survey, SurveyOutput};
use crate::{Error, Result};
use std::path::PathBuf;
use std::time::SystemTime;

/// What a simulation needs, as plain data (the CLI's `simulate` flags).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationSpec {
    /// Stars drawn from the survey's distribution (without `labels`).
    pub n: Option<usize>,
    /// The run's seed: every spectrum, noise draw and catalog entry follows from it.
    pub seed: u64,
    /// The directory written.
    pub output: PathBuf,
    /// A catalog of stars to render instead of drawing them.
    pub labels: Option<PathBuf>,
    /// Render without noise, line-strength scatter or flagged pixels.
    pub noise_free: bool,
    /// Write only `normalized.fits`, no apStar files.
    pub normalized_only: bool,
    /// `LABEL=MIN:MAX` bounds on the drawn stars.
    pub restrict: Vec<String>,
    /// The command line recorded in the headers.
    pub command_line: String,
    /// Whether a non-empty `output` may be written into.
    pub overwrite: bool,
}

/// A simulation checked and ready to render.
pub struct SimulationRun {
    survey: Survey,
    output: PathBuf,
    cards: Vec<HeaderCard>,
}

impl SimulationRun {
    /// Checks `spec` (the output, the bounds, the given stars) before anything is written.
    pub fn prepare(spec: &SimulationSpec) -> Result<SimulationRun> {
        let started = SystemTime::now();
        refuse_to_replace(&[], &[&spec.output], spec.overwrite)?;
        let stars = match &spec.labels {
            Some(path) => {
                let mut rng = survey::given_stream(spec.seed);
                StarSource::Given(load_given_stars(path, &mut rng)?)
            }
            None => StarSource::Drawn {
                n: spec.n.ok_or_else(|| {
                    Error::Invalid("simulate needs a number of stars (--n) or --labels".into())
                })?,
                bounds: spec
                    .restrict
                    .iter()
                    .map(|text| LabelBound::parse(text))
                    .collect::<Result<_>>()?,
            },
        };
        let survey = Survey {
            seed: spec.seed,
            stars,
            noise_free: spec.noise_free,
            output: if spec.normalized_only {
                SurveyOutput::NormalizedOnly
            } else {
                SurveyOutput::ApStar
            },
        };
        let mut cards = run_cards(&spec.command_line, started);
        cards.push(HeaderCard::new(
            "SIMSEED",
            CardValue::I64(spec.seed as i64),
            "astronn simulate seed",
        ));
        cards.push(HeaderCard::new(
            "COMMENT",
            CardValue::Str("Simulated survey: a test bed, not astrophysics.".into()),
            "",
        ));
        Ok(SimulationRun {
            survey,
            output: spec.output.clone(),
            cards,
        })
    }

    /// The stars to render.
    pub fn len(&self) -> usize {
        self.survey.len()
    }

    /// Whether there are no stars to render.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renders the survey into the output directory, telling `observer` of each star;
    /// returns the stars simulated.
    pub fn execute(&self, observer: &dyn Observer) -> Result<usize> {
        survey::simulate(&self.survey, &self.output, &self.cards, observer)
    }
}
