//! `astronn simulate`: a simulated survey with known truth.

use crate::cli::args::SimulateArgs;
use crate::cli::progress::Progress;
use crate::io::header_card::{CardValue, HeaderCard};
use crate::nn::censored::LABELS;
use crate::pipeline::run_info::run_cards;
use crate::sim::given::load_given_stars;
use crate::sim::population::LabelBound;
use crate::sim::survey::{self, StarSource, Survey, SurveyOutput};
use anyhow::{bail, Context, Result};
use std::time::SystemTime;

/// Runs `astronn simulate`.
pub fn simulate(
    args: SimulateArgs,
    command_line: &str,
    quiet: bool,
    overwrite: bool,
) -> Result<()> {
    let started = SystemTime::now();
    crate::io::temp::refuse_to_replace(&[], &[&args.output], overwrite)?;
    let stars = match &args.labels {
        Some(path) => {
            let mut rng = survey::given_stream(args.seed);
            StarSource::Given(load_given_stars(path, &mut rng)?)
        }
        None => StarSource::Drawn {
            n: args.n.unwrap_or(0),
            bounds: args
                .restrict
                .iter()
                .map(|text| parse_bound(text))
                .collect::<Result<_>>()?,
        },
    };
    let survey = Survey {
        seed: args.seed,
        stars,
        noise_free: args.noise_free,
        output: if args.normalized_only {
            SurveyOutput::NormalizedOnly
        } else {
            SurveyOutput::ApStar
        },
    };
    let mut cards = run_cards(command_line, started);
    cards.push(HeaderCard::new(
        "SIMSEED",
        CardValue::I64(args.seed as i64),
        "astronn simulate seed",
    ));
    cards.push(HeaderCard::new(
        "COMMENT",
        CardValue::Str("Simulated survey: a test bed, not astrophysics.".into()),
        "",
    ));
    let progress = Progress::new(survey.len(), "stars", quiet);
    let n = survey::simulate(&survey, &args.output, &cards, &progress)
        .with_context(|| format!("cannot simulate into {}", args.output.display()))?;
    progress.finish();
    if !quiet {
        eprintln!(
            "simulated {n} stars in {:.1} s into {} (truth: {}, catalog: {})",
            progress.elapsed(),
            args.output.display(),
            survey::TRUTH_FILE,
            survey::LABELS_FILE
        );
    }
    Ok(())
}

/// Parses `LABEL=MIN:MAX`.
fn parse_bound(text: &str) -> Result<LabelBound> {
    let Some((name, range)) = text.split_once('=') else {
        bail!("--restrict {text}: expected LABEL=MIN:MAX, e.g. fe_h=-2:0.5");
    };
    let Some(label) = LABELS
        .iter()
        .position(|l| l.eq_ignore_ascii_case(name.trim()))
    else {
        bail!(
            "--restrict {text}: unknown label '{name}' (labels: {})",
            LABELS.join(", ")
        );
    };
    let parse = |v: &str| -> Result<f64> {
        v.trim()
            .parse::<f64>()
            .with_context(|| format!("--restrict {text}: '{v}' is not a number"))
    };
    let Some((min, max)) = range.split_once(':') else {
        bail!("--restrict {text}: expected MIN:MAX after '='");
    };
    let (min, max) = (parse(min)?, parse(max)?);
    if min.is_nan() || max.is_nan() || min > max {
        bail!("--restrict {text}: MIN must be a number not above MAX");
    }
    Ok(LabelBound { label, min, max })
}
