//! Selections on small hand-written catalogs: presets, sequential counts, duplicates,
//! errors.

use super::*;
use std::io::Write;

fn csv(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn thousands_are_grouped() {
    assert_eq!(grouped(0), "0");
    assert_eq!(grouped(999), "999");
    assert_eq!(grouped(1000), "1,000");
    assert_eq!(grouped(20_000), "20,000");
    assert_eq!(grouped(1_234_567), "1,234,567");
}

#[test]
fn every_preset_parses_and_unknown_ones_are_listed() {
    for name in Selection::preset_names() {
        let selection = Selection::preset(name).unwrap();
        assert_eq!(selection.name(), name);
        assert!(!selection.rules().is_empty());
    }
    let err = Selection::preset("dr19").unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown selection preset 'dr19' (presets: dr19-astronn, dr19-dist)"
    );
    assert_eq!(
        Selection::preset(" DR19-Dist ").unwrap().name(),
        "dr19-dist"
    );
}

#[test]
fn rules_count_what_they_remove_in_order_and_alone() {
    // Row by row: a fails both rules, b only the second, c only the first, d neither.
    let file = csv("ID,SNR,VSCATTER\na,10,5\nb,300,5\nc,10,0.1\nd,300,0.1\n");
    let selection = Selection::parse_where("SNR > 200")
        .unwrap()
        .and(Selection::parse_where("VSCATTER < 1").unwrap());
    let outcome = selection.apply(file.path(), "ID").unwrap();
    assert_eq!((outcome.rows, outcome.kept), (4, 1));
    let counts: Vec<(usize, usize)> = outcome
        .rules
        .iter()
        .map(|r| (r.removed, r.rejects))
        .collect();
    assert_eq!(counts, [(2, 2), (1, 2)]);
    assert!(outcome.contains(" d ") && !outcome.contains("b") && !outcome.contains("zz"));
    assert_eq!(
        outcome.to_string(),
        "where + where: 1 of 4 catalog rows kept; SNR > 200 removed 2; VSCATTER < 1 removed 1"
    );
    assert_eq!(
        outcome.summary_lines(),
        [
            "where + where: 1 of 4 catalog rows kept",
            "  SNR > 200: removed 2 (rejects 2 on its own)",
            "  VSCATTER < 1: removed 1 (rejects 2 on its own)",
        ]
    );
}

#[test]
fn a_repeated_star_is_judged_by_its_first_row() {
    let file = csv("ID,SNR\na,10\na,300\nb,300\nb,10\n");
    let outcome = Selection::parse_where("snr > 200")
        .unwrap()
        .apply(file.path(), "id")
        .unwrap();
    assert_eq!((outcome.rows, outcome.kept), (4, 2));
    assert!(!outcome.contains("a"));
    assert!(outcome.contains("b"));
}

#[test]
fn the_dist_preset_reads_ks_and_reddening_as_spec_5() {
    // Rows fail, in turn: K ≥ 98, K missing, K ≤ −1, E(B−V) ≤ 0, E(B−V) ≥ 98, a −9999
    // parallax error, RUWE −9999, then one passes.
    let header = "APOGEE_ID,VSCATTER,SNR,STARFLAG,K,SFD_EBV,GAIAEDR3_PARALLAX,\
                  GAIAEDR3_PARALLAX_ERROR,GAIAEDR3_RUWE,GAIAEDR3_IPD_FRAC_MULTI_PEAK,\
                  GAIAEDR3_IPD_GOF_HARMONIC_AMPLITUDE";
    let rows = [
        "k98,0.1,300,0,99.999,0.1,1,0.02,1,0,0.01",
        "knan,0.1,300,0,,0.1,1,0.02,1,0,0.01",
        "kneg,0.1,300,0,-1,0.1,1,0.02,1,0,0.01",
        "ebv0,0.1,300,0,9,0,1,0.02,1,0,0.01",
        "ebv98,0.1,300,0,9,98,1,0.02,1,0,0.01",
        "plx,0.1,300,0,9,0.1,1,-9999,1,0,0.01",
        "ruwe,0.1,300,0,9,0.1,1,0.02,-9999,0,0.01",
        "good,0.1,300,0,9,0.1,1,0.02,1.39,2,0.099",
    ];
    let file = csv(&format!("{header}\n{}\n", rows.join("\n")));
    let outcome = Selection::preset("dr19-dist")
        .unwrap()
        .apply(file.path(), "APOGEE_ID")
        .unwrap();
    let removed: Vec<usize> = outcome.rules.iter().map(|r| r.removed).collect();
    assert_eq!(removed, [0, 0, 0, 3, 2, 1, 1, 0, 0]);
    assert_eq!(outcome.kept, 1);
    assert!(outcome.contains("good"));
}

#[test]
fn a_missing_column_is_pointed_at_before_reading() {
    let file = csv("ID,SNR,VSCATTER\na,10,5\n");
    let err = Selection::parse_where("SNR > 1 && SNRR < 3")
        .unwrap()
        .apply(file.path(), "ID")
        .unwrap_err()
        .to_string();
    let path = file.path().display();
    assert_eq!(
        err,
        format!(
            "no column 'SNRR' in {path} (it has: ID, SNR, VSCATTER)\n  SNR > 1 && SNRR < 3\n             ^^^^"
        )
    );
    // A preset's rule is named.
    let err = Selection::preset("dr19-dist")
        .unwrap()
        .apply(file.path(), "ID")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("selection dr19-dist, rule 'no STARFLAG bit': no column 'STARFLAG'"),
        "{err}"
    );
    assert!(err.ends_with("\n  STARFLAG == 0\n  ^^^^^^^^"), "{err}");
}

#[test]
fn a_bad_where_expression_says_so() {
    let err = Selection::parse_where("SNR > 200 &&")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "bad selection expression: expected a value after '&&'\n  SNR > 200 &&\n              ^"
    );
}
