//! The out-of-training-range check: are the reported errors of stars whose true labels lie
//! outside a model's training range larger than those of comparable stars inside it?
//!
//! A trained model records its training range in the metadata key `label_range`, a JSON
//! object `{"teff": [min, max], "logg": [min, max], …}`. A star is out of range when its
//! true Teff, log g or [Fe/H] lies outside the range of that label. Stars are compared within
//! SNR bins so that noisier spectra do not masquerade as out-of-range effects.

use crate::pipeline::stats::median;
use crate::{Error, Result};
use std::collections::BTreeMap;

/// The metadata key holding a model's training range.
pub const LABEL_RANGE_KEY: &str = "label_range";

/// The labels whose true values decide whether a star is out of range.
pub const RANGE_LABELS: [&str; 3] = ["teff", "logg", "fe_h"];

/// Lower edges of the SNR bins; the last bin is open-ended and stars below the first edge
/// are not binned.
pub const SNR_EDGES: [f64; 5] = [30.0, 50.0, 100.0, 200.0, 500.0];

/// The training range `[min, max]` of each label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRanges(pub BTreeMap<String, [f64; 2]>);

impl LabelRanges {
    /// The ranges in a model's metadata (`source` names the model in messages).
    pub fn from_metadata(metadata: &BTreeMap<String, String>, source: &str) -> Result<Self> {
        let text = metadata.get(LABEL_RANGE_KEY).ok_or_else(|| {
            Error::Invalid(format!(
                "{source}: the model's metadata has no '{LABEL_RANGE_KEY}' (the training \
                 range of its labels); the out-of-range check needs a model trained with it"
            ))
        })?;
        Self::parse(text)
            .map_err(|msg| Error::Invalid(format!("{source}: {LABEL_RANGE_KEY}: {msg}")))
    }

    /// Parses `{"teff": [min, max], …}`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let object = value.as_object().ok_or("expected a JSON object")?;
        let mut ranges = BTreeMap::new();
        for (label, bounds) in object {
            let pair = bounds
                .as_array()
                .and_then(|a| match a.as_slice() {
                    [lo, hi] => Some([lo.as_f64()?, hi.as_f64()?]),
                    _ => None,
                })
                .filter(|[lo, hi]| lo <= hi)
                .ok_or_else(|| format!("label '{label}': expected [min, max], found {bounds}"))?;
            ranges.insert(label.clone(), pair);
        }
        Ok(LabelRanges(ranges))
    }

    /// Whether a star with true `values` (label, value) lies outside the range of any label
    /// the model records; `None` when no value can be judged (no range or unknown truth).
    pub fn out_of_range(&self, values: &[(&str, f64)]) -> Option<bool> {
        let judged: Vec<bool> = values
            .iter()
            .filter(|(_, v)| !crate::train::data::is_missing(*v))
            .filter_map(|(label, v)| self.0.get(*label).map(|[lo, hi]| v < lo || v > hi))
            .collect();
        (!judged.is_empty()).then(|| judged.iter().any(|&out| out))
    }
}

/// The SNR bin of a star (index into [`SNR_EDGES`]), `None` below the first edge or NaN.
pub fn snr_bin(snr: f64) -> Option<usize> {
    SNR_EDGES.iter().rposition(|&edge| snr >= edge)
}

/// One star for the comparison: its SNR, reported error, and whether it is out of range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeStar {
    /// Star SNR.
    pub snr: f64,
    /// Reported error of the label compared.
    pub error: f64,
    /// Whether the star's true labels lie outside the training range.
    pub out_of_range: bool,
}

/// In- and out-of-range stars of one SNR bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeBin {
    /// Lower SNR edge.
    pub snr_min: f64,
    /// Upper SNR edge (infinite for the last bin).
    pub snr_max: f64,
    /// In-range stars.
    pub n_in: usize,
    /// Out-of-range stars.
    pub n_out: usize,
    /// Median error of the in-range stars.
    pub median_in: f64,
    /// Median error of the out-of-range stars.
    pub median_out: f64,
}

/// The comparison for one error column.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeComparison {
    /// The error column compared (`e_teff`).
    pub column: String,
    /// Per SNR bin.
    pub bins: Vec<RangeBin>,
    /// Out-of-range stars with an in-range median in their bin.
    pub n_ratios: usize,
    /// Median over out-of-range stars of error / (median in-range error of the same SNR
    /// bin): the SNR-matched error ratio.
    pub median_ratio: f64,
}

/// Compares the errors of out-of-range and in-range stars (stars with a non-finite error
/// or SNR below the first bin are left out).
pub fn compare_errors(column: &str, stars: &[RangeStar]) -> RangeComparison {
    let mut binned: Vec<[Vec<f64>; 2]> = SNR_EDGES.iter().map(|_| [vec![], vec![]]).collect();
    for star in stars.iter().filter(|s| s.error.is_finite()) {
        if let Some(bin) = snr_bin(star.snr) {
            binned[bin][usize::from(star.out_of_range)].push(star.error);
        }
    }
    let mut ratios = Vec::new();
    let bins = binned
        .iter()
        .enumerate()
        .map(|(i, [inside, outside])| {
            let median_in = median(inside);
            if median_in > 0.0 {
                ratios.extend(outside.iter().map(|e| e / median_in));
            }
            RangeBin {
                snr_min: SNR_EDGES[i],
                snr_max: SNR_EDGES.get(i + 1).copied().unwrap_or(f64::INFINITY),
                n_in: inside.len(),
                n_out: outside.len(),
                median_in,
                median_out: median(outside),
            }
        })
        .collect();
    RangeComparison {
        column: column.to_string(),
        bins,
        n_ratios: ratios.len(),
        median_ratio: median(&ratios),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_from_metadata() {
        let mut metadata = BTreeMap::new();
        let missing = LabelRanges::from_metadata(&metadata, "m.safetensors").unwrap_err();
        assert!(missing.to_string().contains("m.safetensors"), "{missing}");
        assert!(missing.to_string().contains("'label_range'"), "{missing}");
        metadata.insert(
            LABEL_RANGE_KEY.to_string(),
            r#"{"teff": [4000, 5500], "logg": [1.0, 3.5]}"#.to_string(),
        );
        let ranges = LabelRanges::from_metadata(&metadata, "m").unwrap();
        assert_eq!(ranges.0["teff"], [4000.0, 5500.0]);
        assert_eq!(
            ranges.out_of_range(&[("teff", 4500.0), ("logg", 2.0)]),
            Some(false)
        );
        assert_eq!(
            ranges.out_of_range(&[("teff", 6000.0), ("logg", 2.0)]),
            Some(true)
        );
        // Unknown truths and labels without a range are not judged.
        assert_eq!(
            ranges.out_of_range(&[("teff", -9999.0), ("fe_h", 3.0)]),
            None
        );
        for bad in [r#"{"teff": [1]}"#, r#"{"teff": [2, 1]}"#, "[1]", "{"] {
            assert!(LabelRanges::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn snr_bins() {
        assert_eq!(snr_bin(29.9), None);
        assert_eq!(snr_bin(f64::NAN), None);
        assert_eq!(snr_bin(30.0), Some(0));
        assert_eq!(snr_bin(99.0), Some(1));
        assert_eq!(snr_bin(100.0), Some(2));
        assert_eq!(snr_bin(5000.0), Some(4));
    }

    #[test]
    fn snr_matched_error_ratio() {
        let star = |snr, error, out_of_range| RangeStar {
            snr,
            error,
            out_of_range,
        };
        let stars = [
            // SNR 30–50: in-range median 20; out-of-range errors 40 and 60 → ratios 2, 3.
            star(40.0, 10.0, false),
            star(45.0, 30.0, false),
            star(35.0, 40.0, true),
            star(35.0, 60.0, true),
            // SNR 200–500: in-range median 5; out-of-range 7.5 → 1.5.
            star(300.0, 5.0, false),
            star(300.0, 7.5, true),
            // SNR 100–200: out-of-range only, no reference → no ratio.
            star(150.0, 50.0, true),
            // Below 30: not binned.
            star(10.0, 1000.0, true),
        ];
        let c = compare_errors("e_teff", &stars);
        assert_eq!(c.n_ratios, 3);
        assert_eq!(c.median_ratio, 2.0);
        assert_eq!((c.bins[0].n_in, c.bins[0].n_out), (2, 2));
        assert_eq!((c.bins[0].median_in, c.bins[0].median_out), (20.0, 50.0));
        assert_eq!(c.bins[2].n_in, 0);
        assert!(c.bins[2].median_in.is_nan());
        assert_eq!(c.bins[4].snr_max, f64::INFINITY);
    }
}
