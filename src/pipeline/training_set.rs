//! Building a training set: the coadds of a run's inputs, joined by APOGEE identifier with
//! a label catalog (AstroNN's labels or AstroNNDist's L_fakemag), optionally restricted to
//! the stars a selection keeps.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::labels::TrainingLabels;
use crate::pipeline::predict::{describe, Observer};
use crate::pipeline::source::SpectrumSource;
use crate::train::data::{check_layout, is_missing, usable_error, TrainingSet};
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

/// Spectra given with their labels (a notebook's arrays) instead of joined with a catalog.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelledSpectra {
    /// Continuum-normalized flux, `N × 7514` (row-major).
    pub flux: Vec<f32>,
    /// Labels, `N × L` in the network's label order (NaN or −9999 = missing).
    pub labels: Vec<f64>,
    /// The labels' 1σ errors in the same layout (0, negative, NaN or −9999 = unknown); none
    /// means every error is unknown.
    pub label_errors: Option<Vec<f64>>,
}

impl LabelledSpectra {
    /// The training set of the network labels `names`, made as [`collect_training_set`]
    /// makes it from a catalog: missing labels NaN, unknown errors 0, and a spectrum without
    /// any label left out (counted as without labels). Refuses shapes that do not fit,
    /// non-finite flux and a set where no spectrum has a label.
    pub fn training_set(
        self,
        names: &'static [&'static str],
    ) -> Result<(TrainingSet, JoinSummary)> {
        let width = names.len();
        let spectra = check_layout(
            names,
            &self.flux,
            self.labels.len(),
            self.label_errors.as_ref().map(Vec::len),
        )?;
        let errors = self
            .label_errors
            .unwrap_or_else(|| vec![0.0; self.labels.len()]);
        let mut summary = JoinSummary {
            spectra,
            ..JoinSummary::default()
        };
        let (mut flux, mut labels, mut kept_errors) = (Vec::new(), Vec::new(), Vec::new());
        let rows = self
            .flux
            .chunks(NETWORK_PIXELS)
            .zip(self.labels.chunks(width).zip(errors.chunks(width)));
        for (row, (values, row_errors)) in rows {
            if values.iter().all(|&v| is_missing(v)) {
                summary.without_labels += 1;
                continue;
            }
            flux.extend_from_slice(row);
            labels.extend(
                values
                    .iter()
                    .map(|&v| if is_missing(v) { f64::NAN } else { v }),
            );
            kept_errors.extend(row_errors.iter().map(|&e| usable_error(e)));
            summary.joined += 1;
        }
        if summary.joined == 0 {
            return Err(Error::Invalid(format!(
                "empty training set: none of the {spectra} spectra has a label (all are NaN or \
                 -9999)"
            )));
        }
        let set = TrainingSet::with_labels(names, flux, labels, Some(kept_errors))?;
        Ok((set, summary))
    }
}

/// The most coadds `source` can deliver: one per apStar file or normalized spectrum.
fn expected_coadds(source: &SpectrumSource) -> usize {
    match source.unit_name() {
        "files" | "spectra" => source.total_units(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 2] = ["teff", "logg"];

    fn arrays(labels: Vec<f64>, label_errors: Option<Vec<f64>>) -> LabelledSpectra {
        let rows = labels.len() / NAMES.len();
        LabelledSpectra {
            flux: (0..rows * NETWORK_PIXELS)
                .map(|i| 1.0 + i as f32 * 1e-6)
                .collect(),
            labels,
            label_errors,
        }
    }

    #[test]
    fn arrays_make_the_set_a_catalog_join_makes() {
        let labels = vec![4800.0, f64::NAN, f64::NAN, -9999.0, 5000.0, -9999.0];
        let errors = vec![50.0, 0.1, 0.2, 0.3, -1.0, f64::NAN];
        let (set, join) = arrays(labels, Some(errors)).training_set(&NAMES).unwrap();
        // The second spectrum has no label: left out, as the join leaves out such a star.
        assert_eq!(
            join,
            JoinSummary {
                spectra: 3,
                joined: 2,
                without_labels: 1,
                ..JoinSummary::default()
            }
        );
        assert_eq!(set.len(), 2);
        assert_eq!(set.flux(1)[0], 1.0 + (2 * NETWORK_PIXELS) as f32 * 1e-6);
        assert_eq!(set.labels(0)[0], 4800.0);
        assert!(set.labels(0)[1].is_nan());
        assert!(
            set.labels(1)[1].is_nan(),
            "-9999 is a missing label, stored as NaN"
        );
        // Unknown errors (negative, NaN) are 0, as a catalog's are.
        assert_eq!(set.label_errors(0).unwrap(), &[50.0, 0.1]);
        assert_eq!(set.label_errors(1).unwrap(), &[0.0, 0.0]);
    }

    #[test]
    fn arrays_without_errors_have_unknown_errors() {
        let (set, _) = arrays(vec![4800.0, 2.5], None)
            .training_set(&NAMES)
            .unwrap();
        assert_eq!(set.label_errors(0).unwrap(), &[0.0, 0.0]);
    }

    #[test]
    fn arrays_that_do_not_fit_are_refused() {
        let message =
            |spectra: LabelledSpectra| spectra.training_set(&NAMES).unwrap_err().to_string();
        let mut short = arrays(vec![4800.0, 2.5], None);
        short.labels.pop();
        assert!(message(short)
            .contains("1 training spectra need 2 label values (2 each: teff, logg), got 1"));
        let errors = arrays(vec![4800.0, 2.5], Some(vec![1.0]));
        assert!(message(errors).contains("1 label errors for 2 labels"));
        let mut bad_flux = arrays(vec![4800.0, 2.5, 4900.0, 2.4], None);
        bad_flux.flux[NETWORK_PIXELS + 7] = f32::NAN;
        assert!(message(bad_flux).contains("training spectrum 1 has a non-finite flux at pixel 7"));
        let unlabelled = arrays(vec![f64::NAN, -9999.0], None);
        assert!(
            message(unlabelled).contains("empty training set: none of the 1 spectra has a label")
        );
        let mut ragged = arrays(vec![4800.0, 2.5], None);
        ragged.flux.pop();
        assert!(message(ragged).contains("not a positive multiple of 7514"));
    }
}
