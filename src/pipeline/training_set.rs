//! Building a training set: the coadds of a run's inputs, joined by APOGEE identifier with
//! a label catalog (AstroNN's labels or AstroNNDist's L_fakemag), optionally restricted to
//! the stars a selection keeps.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::labels::TrainingLabels;
use crate::pipeline::predict::{describe, Observer};
use crate::pipeline::source::SpectrumSource;
use crate::train::data::TrainingSet;
use crate::train::selection::SelectionOutcome;
use crate::{Error, Result};

/// How the join went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinSummary {
    /// Coadd spectra read.
    pub spectra: usize,
    /// Spectra in the training set.
    pub joined: usize,
    /// Spectra whose star the catalog does not list.
    pub not_in_catalog: usize,
    /// Spectra whose star the catalog lists but the selection removed (left out).
    pub not_selected: usize,
    /// Spectra whose star the catalog lists without any usable label (for AstroNNDist: no
    /// parallax, no parallax error or no valid Ks magnitude).
    pub without_labels: usize,
    /// Spectra that could not be read or prepared.
    pub unusable: usize,
}

impl JoinSummary {
    /// The counts as a line: "119 spectra with labels (120 read, 1 not in the catalog, …)".
    pub fn describe(&self) -> String {
        let spectra = if self.joined == 1 {
            "spectrum"
        } else {
            "spectra"
        };
        format!(
            "{} {spectra} with labels ({} read, {} not in the catalog, {} not selected, {} \
             without labels, {} unusable)",
            self.joined,
            self.spectra,
            self.not_in_catalog,
            self.not_selected,
            self.without_labels,
            self.unusable
        )
    }
}

/// Reads every coadd of `source` and keeps those whose star has at least one label in
/// `catalog` and, with a `selection`, is one it keeps. Fails when none does, saying why.
pub fn collect_training_set(
    source: &mut SpectrumSource,
    catalog: &dyn TrainingLabels,
    selection: Option<&SelectionOutcome>,
    observer: &dyn Observer,
) -> Result<(TrainingSet, JoinSummary)> {
    let mut summary = JoinSummary::default();
    let mut flux = Vec::new();
    // One coadd per file or spectrum at most: reserving that much up front saves growing
    // (reallocating and copying) gigabytes, and reserved pages never written are never
    // resident. If the reservation is refused, the vector grows as it goes instead.
    flux.try_reserve_exact(expected_coadds(source).saturating_mul(NETWORK_PIXELS))
        .ok();
    let (mut labels, mut errors) = (Vec::new(), Vec::new());
    while let Some(chunk) = source.next_chunk()? {
        let mut spectra = 0;
        for spectrum in chunk.spectra.into_iter().filter(|s| !s.meta.is_visit()) {
            spectra += 1;
            let data = match spectrum.data {
                Ok(data) => data,
                Err(reason) => {
                    observer.warn(&format!("{}: {reason}; left out", describe(&spectrum.meta)));
                    summary.unusable += 1;
                    continue;
                }
            };
            let id = spectrum.meta.apogee_id();
            let Some((values, label_errors)) = catalog.lookup(&id) else {
                summary.not_in_catalog += 1;
                continue;
            };
            if selection.is_some_and(|s| !s.contains(&id)) {
                summary.not_selected += 1;
                continue;
            }
            if values.iter().all(|v| v.is_nan()) {
                summary.without_labels += 1;
                continue;
            }
            flux.extend(data.iter().map(|&v| v as f32));
            labels.extend(values);
            errors.extend(label_errors);
            summary.joined += 1;
        }
        summary.spectra += spectra;
        observer.advance(chunk.units, spectra);
    }
    if summary.joined == 0 {
        let why = if summary.spectra == 0 {
            "no coadd spectrum could be read".to_string()
        } else if summary.without_labels > 0 {
            format!(
                "{} of {} spectra are of stars in the catalog, but none has a usable label \
                 ({})",
                summary.without_labels,
                summary.spectra,
                catalog.label_rule()
            )
        } else if summary.not_selected > 0 {
            format!(
                "the selection removed the stars of all {} spectra found in the catalog ({})",
                summary.not_selected,
                selection.map_or_else(String::new, ToString::to_string)
            )
        } else {
            format!(
                "none of the {} spectra's stars (sdss4_apogee_id) is in the label catalog {}",
                summary.spectra,
                catalog.catalog().path().display()
            )
        };
        return Err(Error::Invalid(format!("empty training set: {why}")));
    }
    let set = TrainingSet::with_labels(catalog.label_names(), flux, labels, Some(errors))?;
    Ok((set, summary))
}

/// The most coadds `source` can deliver: one per apStar file or normalized spectrum.
fn expected_coadds(source: &SpectrumSource) -> usize {
    match source.unit_name() {
        "files" | "spectra" => source.total_units(),
        _ => 0,
    }
}
