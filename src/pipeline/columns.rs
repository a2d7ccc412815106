//! Columns of the result tables (SPEC §8): star and spectrum identity, labels, flags.

use crate::io::normalized::SpectrumMeta;
use crate::io::table::{ColumnData, ColumnKind, ColumnSpec};

fn column(name: &str, kind: ColumnKind, description: &str) -> ColumnSpec {
    ColumnSpec {
        description: Some(description.to_string()),
        ..ColumnSpec::new(name, kind)
    }
}

/// Identity columns: the star, the source file and row, and for visit tables the visit.
pub fn identity_columns(visits: bool) -> Vec<ColumnSpec> {
    let mut columns = vec![
        column(
            "sdss4_apogee_id",
            ColumnKind::Str { width: 32 },
            "APOGEE identifier (OBJID)",
        ),
        column(
            "telescope",
            ColumnKind::Str { width: 16 },
            "Telescope (TELESCOP)",
        ),
        column(
            "field",
            ColumnKind::Str { width: 64 },
            "APOGEE field (FIELD)",
        ),
        column("ra", ColumnKind::F64, "Right ascension [deg]"),
        column("dec", ColumnKind::F64, "Declination [deg]"),
        column(
            "snr",
            ColumnKind::F64,
            "Signal-to-noise ratio of the coadd (SNR)",
        ),
        column("source_file", ColumnKind::Str { width: 512 }, "Input file"),
        column(
            "row",
            ColumnKind::I32,
            "Row of the spectrum in the input file (-1: unreadable file)",
        ),
    ];
    if visits {
        columns.push(column(
            "visit",
            ColumnKind::I32,
            "Visit number, 1-based (0: unknown)",
        ));
        columns.push(column(
            "visit_file",
            ColumnKind::Str { width: 256 },
            "Visit file name (SFILEk)",
        ));
    }
    columns
}

/// Identity column data for `metas`, matching [`identity_columns`].
pub fn identity_data<'a>(
    metas: impl Iterator<Item = &'a SpectrumMeta> + Clone,
    visits: bool,
) -> Vec<ColumnData> {
    let strings = |f: fn(&SpectrumMeta) -> &str| {
        ColumnData::Str(metas.clone().map(|m| f(m).to_string()).collect())
    };
    let floats = |f: fn(&SpectrumMeta) -> f64| ColumnData::F64(metas.clone().map(f).collect());
    let mut data = vec![
        strings(|m| &m.apogee_id),
        strings(|m| &m.telescope),
        strings(|m| &m.field),
        floats(|m| m.ra),
        floats(|m| m.dec),
        floats(|m| m.snr),
        strings(|m| &m.source_file),
        ColumnData::I32(metas.clone().map(|m| m.row as i32).collect()),
    ];
    if visits {
        data.push(ColumnData::I32(
            metas.clone().map(|m| m.visit as i32).collect(),
        ));
        data.push(strings(|m| &m.visit_file));
    }
    data
}

/// Label columns: each label and `e_` error, then each `raw_` label and `raw_e_` error.
pub fn label_columns(labels: &[String]) -> Vec<ColumnSpec> {
    let mut columns = Vec::with_capacity(labels.len() * 4);
    for label in labels {
        columns.push(column(label, ColumnKind::F64, "Label"));
        columns.push(column(
            &format!("e_{label}"),
            ColumnKind::F64,
            "Error after the noise model",
        ));
    }
    for label in labels {
        columns.push(column(
            &format!("raw_{label}"),
            ColumnKind::F64,
            "Network label",
        ));
        columns.push(column(
            &format!("raw_e_{label}"),
            ColumnKind::F64,
            "Network error (predictive and MC dropout)",
        ));
    }
    columns
}

/// Flag and timing columns that close every table.
pub fn flag_columns() -> Vec<ColumnSpec> {
    vec![
        column(
            "result_flags",
            ColumnKind::I32,
            "Result flags (bits: see README)",
        ),
        column("flag_warn", ColumnKind::Bool, "Use with caution"),
        column("flag_bad", ColumnKind::Bool, "Unreliable result"),
        column(
            "t_elapsed",
            ColumnKind::F64,
            "Seconds spent on this spectrum",
        ),
    ]
}
