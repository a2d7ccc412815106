//! The table of a network DR19 has no product for (an astroNN `ApogeeBCNN` predicting ages
//! and masses, an `ApogeeCNN`, …): DR19's Source, spectrum and task columns, as every
//! product starts, then the network's outputs — each `<name>`, `e_<name>`, `raw_<name>`
//! and `raw_e_<name>`, as AstroNN's labels have them — and the flags; with an `L_fakemag`
//! output also the distance columns AstroNNdist derives from it; then astronn's own
//! columns. Output names are columns already ([`crate::products::output_names`]).

use super::column::{Column, Kind};
use super::dr19_columns::{ASTRONN_DIST_RESULTS, ASTRONN_RESULTS};
use super::{empty_hdu_columns, identity_groups, join, TableLayout, OWN_COADD, OWN_VISIT};
use std::collections::HashSet;
use std::sync::Mutex;

/// The output name of the distance network's pseudo-luminosity.
pub const FAKEMAG: &str = "L_fakemag";

/// The distance columns a table with an [`FAKEMAG`] output adds, as AstroNNdist names them
/// (`DistanceResult::distance_columns`; the Gaia and weighted columns need AstroNNdist's own
/// table).
pub const DISTANCE_COLUMNS: [&str; 7] = [
    "a_k_mag",
    "nn_dist",
    "nn_dist_err",
    "nn_dist_model_err",
    "nn_parallax",
    "nn_parallax_err",
    "nn_parallax_model_err",
];

/// The flag columns every table ends its results with.
const FLAGS: [&str; 3] = ["result_flags", "flag_warn", "flag_bad"];

/// The layout of the table of a network with `outputs` (column names), for visit spectra
/// when `visits`; `pipeline` is its `PIPELINE` card (the network's class). An output named
/// as one of the identity columns (a Source or spectrum column) is an error: the table
/// would hold two columns of one name.
pub fn generic_layout(
    outputs: &[String],
    visits: bool,
    pipeline: &str,
) -> Result<TableLayout, String> {
    let identity = join(&identity_groups(visits, true));
    let own = if visits { OWN_VISIT } else { OWN_COADD };
    let mut results = Vec::new();
    for prefix in ["", "e_"] {
        results.extend(outputs.iter().map(|o| output_column(prefix, o)));
    }
    if outputs.iter().any(|o| o == FAKEMAG) {
        results.extend(DISTANCE_COLUMNS.iter().map(|name| dist_column(name)));
    }
    for prefix in ["raw_", "raw_e_"] {
        results.extend(outputs.iter().map(|o| output_column(prefix, o)));
    }
    results.extend(
        FLAGS
            .iter()
            .map(|name| dr19_column(name).expect("flag columns")),
    );
    let taken: HashSet<String> = identity
        .iter()
        .chain(OWN_COADD)
        .chain(own)
        .map(|c| c.name.to_ascii_lowercase())
        .collect();
    if let Some(clash) = results
        .iter()
        .find(|c| taken.contains(&c.name.to_ascii_lowercase()))
    {
        return Err(format!(
            "the output column '{}' is also a Source or spectrum column of the table",
            clash.name
        ));
    }
    let mut apogee = identity;
    apogee.extend(results);
    apogee.extend_from_slice(OWN_COADD);
    if visits {
        apogee.extend_from_slice(OWN_VISIT);
    }
    Ok(TableLayout {
        pipeline: pipeline.to_string(),
        boss: empty_hdu_columns(join(&identity_groups(visits, false))),
        apogee,
    })
}

/// The column `<prefix><output>`: DR19's where AstroNN's product has it (unit and
/// description), else float32 with a description naming the output.
fn output_column(prefix: &str, output: &str) -> Column {
    let name = format!("{prefix}{output}");
    if let Some(column) = dr19_column(&name) {
        return column;
    }
    let unit = dr19_column(output).map_or("", |c| c.unit);
    let what = match prefix {
        "" => format!("Network output {output}"),
        "e_" => format!("Error on {output}"),
        "raw_" => format!("Raw {output} (before any noise model)"),
        _ => format!("Raw error on {output} (before any noise model)"),
    };
    Column::new(intern(name), Kind::F32, unit, intern(what))
}

/// A distance column, as AstroNNdist's product has it.
fn dist_column(name: &str) -> Column {
    *ASTRONN_DIST_RESULTS
        .iter()
        .find(|c| c.name == name)
        .expect("AstroNNdist's distance columns")
}

/// The column of AstroNN's or AstroNNdist's results named `name`, if there is one.
fn dr19_column(name: &str) -> Option<Column> {
    ASTRONN_RESULTS
        .iter()
        .chain(ASTRONN_DIST_RESULTS)
        .find(|c| c.name == name)
        .copied()
}

/// `text` as a string that lives as long as the program, stored once however often it is
/// asked for: columns name themselves with `&'static str`, and a run's output names are
/// few and repeat from run to run.
fn intern(text: String) -> &'static str {
    static TEXTS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut texts = TEXTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let texts = texts.get_or_insert_with(HashSet::new);
    if let Some(&stored) = texts.get(text.as_str()) {
        return stored;
    }
    let stored: &'static str = Box::leak(text.into_boxed_str());
    texts.insert(stored);
    stored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(layout: &TableLayout) -> Vec<&'static str> {
        layout.apogee.iter().map(|c| c.name).collect()
    }

    #[test]
    fn outputs_follow_the_identity_columns_with_errors_raws_and_flags() {
        let outputs = vec!["age".to_string(), "mass".to_string()];
        let layout = generic_layout(&outputs, false, "ApogeeBCNN").unwrap();
        let names = names(&layout);
        let start = names.iter().position(|n| *n == "age").unwrap();
        assert_eq!(
            names[start..],
            [
                "age",
                "mass",
                "e_age",
                "e_mass",
                "raw_age",
                "raw_mass",
                "raw_e_age",
                "raw_e_mass",
                "result_flags",
                "flag_warn",
                "flag_bad",
                "source_file",
                "row"
            ]
        );
        assert!(names[..start].contains(&"sdss_id") && names[..start].contains(&"snr"));
        assert!(!layout.boss.iter().any(|c| c.name == "age"));
        assert_eq!(layout.pipeline, "ApogeeBCNN");
        assert_eq!(layout.apogee[start].kind, Kind::F32);
        assert!(layout.apogee[start].description.contains("age"));
    }

    #[test]
    fn dr19_outputs_keep_dr19_units_and_fakemag_adds_distances() {
        let outputs = vec!["teff".to_string(), "m_h".into(), FAKEMAG.into()];
        let layout = generic_layout(&outputs, false, "ApogeeBCNN").unwrap();
        let teff = layout.apogee.iter().find(|c| c.name == "e_teff").unwrap();
        assert_eq!(teff.unit, "K");
        let names = names(&layout);
        for column in DISTANCE_COLUMNS.iter().chain(&["e_L_fakemag", "raw_m_h"]) {
            assert!(names.contains(column), "{column}");
        }
        let visits = generic_layout(&outputs, true, "ApogeeBCNN").unwrap();
        let visit_names: Vec<&str> = visits.apogee.iter().map(|c| c.name).collect();
        assert_eq!(
            visit_names[visit_names.len() - 4..],
            ["source_file", "row", "visit", "visit_file"]
        );
        assert!(visit_names.contains(&"visit_pk") && !names.contains(&"visit_pk"));
        assert!(visit_names.contains(&"e_L_fakemag"));
    }

    #[test]
    fn an_output_named_as_an_identity_column_is_refused() {
        let error = generic_layout(&["snr".to_string()], false, "ApogeeBCNN").unwrap_err();
        assert!(error.contains("'snr'"), "{error}");
    }

    #[test]
    fn interned_text_is_stored_once() {
        let a = intern("network output x".to_string());
        let b = intern("network output x".to_string());
        assert!(std::ptr::eq(a, b));
    }
}
