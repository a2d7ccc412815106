//! SDSS DR19's summary products, column for column: `astraAllStarAstroNN`,
//! `astraAllVisitAstroNN` and `astraAllStarAstroNNdist`.
//!
//! Each product is HDU 0 (a header), HDU 1 `BOSS` (DR19's BOSS columns, no rows: these
//! pipelines run on APOGEE spectra) and HDU 2 `APOGEE`, one row per spectrum. The columns are
//! data ([`dr19_columns`], generated from SDSS's data model): Astra joins the fields of the
//! Source, of the spectrum and of the pipeline's result in that order, a name already taken
//! being left out, and [`Product::apogee_columns`] does the same, then appends astronn's own
//! columns (where each row came from). A value nobody knows is DR19's fill value.
//!
//! [`writer::ProductWriter`] streams rows into a product: each cell is looked up by column name in
//! the row's results, then in its spectrum's fields (header and Source catalog), then in the
//! run's constants.

pub mod column;
pub mod dr19_columns;
pub mod generic;
pub mod output_names;
pub mod writer;

use crate::io::header_card::{CardValue, HeaderCard};
use crate::timestamp::created_card;
use column::{Column, Kind};
use dr19_columns::*;
use std::time::SystemTime;

/// The Astra version whose products these layouts reproduce (DR19: `V_ASTRA = 0.6.0`).
pub const V_ASTRA: &str = "0.6.0";

/// A DR19 summary product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// `astraAllStarAstroNN`: AstroNN on coadded spectra.
    AllStarAstroNN,
    /// `astraAllVisitAstroNN`: AstroNN on visit spectra.
    AllVisitAstroNN,
    /// `astraAllStarAstroNNdist`: AstroNNdist on coadded spectra.
    AllStarAstroNNdist,
}

/// What a [`writer::ProductWriter`] writes: the `PIPELINE` its headers name and the columns
/// of its two table HDUs. A DR19 product's is [`Product::layout`]; a network whose outputs
/// DR19 has no product for gets [`generic::generic_layout`].
#[derive(Debug, Clone, PartialEq)]
pub struct TableLayout {
    /// The `PIPELINE` card.
    pub pipeline: String,
    /// Columns of HDU 2 (`APOGEE`), in order.
    pub apogee: Vec<Column>,
    /// Columns of HDU 1 (`BOSS`, no rows).
    pub boss: Vec<Column>,
}

/// astronn's own columns of coadd tables, after DR19's.
pub(crate) const OWN_COADD: &[Column] = &[
    Column::new("source_file", Kind::Text(512), "", "Input file"),
    Column::new(
        "row",
        Kind::I32,
        "",
        "Row of the spectrum in the input file (-1: unreadable file)",
    ),
];

/// astronn's own columns of visit tables, after DR19's.
pub(crate) const OWN_VISIT: &[Column] = &[
    Column::new("visit", Kind::I32, "", "Visit number, 1-based (0: unknown)"),
    Column::new(
        "visit_file",
        Kind::Text(256),
        "",
        "Visit file name (SFILEk)",
    ),
];

/// astronn's own columns of the AstroNNdist table, after the coadd ones.
const OWN_DIST: &[Column] = &[
    Column::new(
        "raw_L_fakemag",
        Kind::F32,
        "",
        "L_fakemag from the network (the same value)",
    ),
    Column::new(
        "raw_e_L_fakemag",
        Kind::F32,
        "",
        "Uncertainty of L_fakemag from the network, before any noise model",
    ),
];

impl Product {
    /// The product's name in SDSS's data model.
    pub fn name(self) -> &'static str {
        match self {
            Product::AllStarAstroNN => "astraAllStarAstroNN",
            Product::AllVisitAstroNN => "astraAllVisitAstroNN",
            Product::AllStarAstroNNdist => "astraAllStarAstroNNdist",
        }
    }

    /// The `PIPELINE` card: Astra's name of the pipeline.
    pub fn pipeline(self) -> &'static str {
        match self {
            Product::AllStarAstroNN | Product::AllVisitAstroNN => "AstroNN",
            Product::AllStarAstroNNdist => "AstroNNdist",
        }
    }

    /// The groups Astra joins, in order: Source, spectrum, task, results.
    fn groups(self, apogee: bool) -> [&'static [Column]; 4] {
        let results = match self {
            Product::AllStarAstroNNdist => ASTRONN_DIST_RESULTS,
            _ => ASTRONN_RESULTS,
        };
        let [source, spectrum, task] = identity_groups(self == Product::AllVisitAstroNN, apogee);
        [source, spectrum, task, results]
    }

    /// DR19's columns of HDU 2 (`APOGEE`) in DR19's order, then astronn's own.
    pub fn apogee_columns(self) -> Vec<Column> {
        let mut columns = join(&self.groups(true));
        columns.extend_from_slice(OWN_COADD);
        match self {
            Product::AllStarAstroNN => {}
            Product::AllVisitAstroNN => columns.extend_from_slice(OWN_VISIT),
            Product::AllStarAstroNNdist => columns.extend_from_slice(OWN_DIST),
        }
        columns
    }

    /// DR19's columns of HDU 1 (`BOSS`), as DR19 writes them without rows.
    pub fn boss_columns(self) -> Vec<Column> {
        empty_hdu_columns(join(&self.groups(false)))
    }

    /// What a writer of this product writes.
    pub fn layout(self) -> TableLayout {
        TableLayout {
            pipeline: self.pipeline().to_string(),
            apogee: self.apogee_columns(),
            boss: self.boss_columns(),
        }
    }
}

/// The Source, spectrum (visit or coadd, APOGEE or BOSS) and task groups every table starts
/// with.
pub(crate) fn identity_groups(visits: bool, apogee: bool) -> [&'static [Column]; 3] {
    let spectrum = match (visits, apogee) {
        (true, true) => APOGEE_VISIT_SPECTRUM,
        (true, false) => BOSS_VISIT_SPECTRUM,
        (false, true) => APOGEE_STAR_SPECTRUM,
        (false, false) => BOSS_STAR_SPECTRUM,
    };
    [SOURCE, spectrum, TASK]
}

/// Columns as DR19 writes them in an HDU without rows (`BOSS`): text one character wide and
/// `sdss5_target_flags` one flag long.
pub(crate) fn empty_hdu_columns(columns: Vec<Column>) -> Vec<Column> {
    columns
        .into_iter()
        .map(|c| Column {
            kind: match c.kind {
                Kind::Text(_) => Kind::Text(1),
                Kind::Bytes(_) => Kind::Bytes(1),
                other => other,
            },
            ..c
        })
        .collect()
}

impl TableLayout {
    /// DR19's HDU 0 cards: `PIPELINE`, `V_ASTRA`, `CREATED` and the HDU descriptions.
    pub fn primary_cards(&self, created: SystemTime) -> Vec<HeaderCard> {
        let mut cards = self.common_cards(created);
        cards.extend(
            [
                "HDU 0: Summary information only",
                "HDU 1: BOSS spectra",
                "HDU 2: APOGEE spectra",
            ]
            .map(comment),
        );
        cards
    }

    /// DR19's cards of a table HDU (`INSTRMNT` is `BOSS` or `APOGEE`).
    pub fn table_cards(&self, instrument: &str, created: SystemTime) -> Vec<HeaderCard> {
        let mut cards = vec![HeaderCard::new(
            "INSTRMNT",
            CardValue::Str(instrument.into()),
            "Instrument",
        )];
        cards.extend(self.common_cards(created));
        cards.extend(
            [
                "See https://www.ipac.caltech.edu/2mass/releases/allsky/doc/sec2_2a.html",
                "See https://catalog.unwise.me/catalogs.html",
                "See https://irsa.ipac.caltech.edu/data/SPITZER/GLIMPSE/gator_docs/",
            ]
            .map(comment),
        );
        cards
    }

    fn common_cards(&self, created: SystemTime) -> Vec<HeaderCard> {
        vec![
            HeaderCard::new(
                "PIPELINE",
                CardValue::Str(self.pipeline.clone()),
                "Pipeline name",
            ),
            HeaderCard::new(
                "V_ASTRA",
                CardValue::Str(V_ASTRA.into()),
                "Astra version whose products this file reproduces",
            ),
            HeaderCard::new(
                "CREATED",
                CardValue::Str(created_card(created)),
                "File creation time (UTC %y-%m-%d %H:%M:%S)",
            ),
        ]
    }
}

fn comment(text: &str) -> HeaderCard {
    HeaderCard::new("COMMENT", CardValue::Str(text.into()), "")
}

/// The groups' columns in order, each name once (its first occurrence), as Astra joins them.
pub(crate) fn join(groups: &[&[Column]]) -> Vec<Column> {
    let mut seen = std::collections::HashSet::new();
    groups
        .iter()
        .flat_map(|g| g.iter())
        .filter(|c| seen.insert(c.name.to_ascii_lowercase()))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_shadows_its_own_photometry_with_the_sources() {
        let columns = Product::AllStarAstroNNdist.apogee_columns();
        let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        assert_eq!(names.iter().filter(|n| **n == "k_mag").count(), 1);
        let k = names.iter().position(|n| *n == "k_mag").unwrap();
        let sdss_id = names.iter().position(|n| *n == "sdss_id").unwrap();
        let a_k = names.iter().position(|n| *n == "a_k_mag").unwrap();
        assert!(sdss_id < k && k < a_k, "k_mag is Source's column");
        assert_eq!(
            names[names.len() - 4..],
            ["source_file", "row", "raw_L_fakemag", "raw_e_L_fakemag"]
        );
    }

    #[test]
    fn boss_hdus_are_empty_layouts() {
        let boss = Product::AllStarAstroNN.boss_columns();
        assert!(boss.iter().any(|c| c.name == "xcsao_teff"));
        assert!(!boss.iter().any(|c| c.name == "source_file"));
        let flags = boss
            .iter()
            .find(|c| c.name == "sdss5_target_flags")
            .unwrap();
        assert_eq!(flags.kind, Kind::Bytes(1));
    }
}
