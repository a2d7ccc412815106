//! `astronn jacobian`: the FITS cube's layout, NaN planes for unusable inputs, figures,
//! and refusals.

mod common;

use astronn::io::table::{read_header_cards, read_table};
use common::broken::broken_inputs;
use common::run::{astronn, s, stderr, succeed};
use common::{test_data, Reference};

fn card(cards: &[(String, String)], key: &str) -> String {
    cards
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {key} card"))
}

#[test]
fn writes_a_cube_per_label_and_spectrum_with_figures() {
    let reference = Reference::load();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jacobian.fits");
    let plots = dir.path().join("plots");
    let broken = broken_inputs(dir.path()).remove(0).1;
    let model = reference.dir.join("astronn_bcnn_censored.pt");
    let run = succeed(&[
        "jacobian",
        "--model",
        s(&model),
        "--labels",
        "teff,mg_h,fe_h",
        "--log-variance",
        "--plot",
        s(&plots),
        "-o",
        s(&out),
        s(&test_data("apStar-dr17-2M17335483-2753043.fits")),
        s(&broken),
        s(&test_data("apStar-dr17-2M19485057+5005279.fits")),
    ]);
    let messages = stderr(&run);
    assert!(
        messages.contains(&format!("{}: ", broken.display())) && messages.contains("NaN"),
        "{messages}"
    );
    let cube = read_header_cards(&out, 1).unwrap();
    assert_eq!(card(&cube, "EXTNAME"), "JACOBIAN");
    assert_eq!(card(&cube, "BITPIX"), "-32");
    assert_eq!(
        ["NAXIS1", "NAXIS2", "NAXIS3"].map(|k| card(&cube, k)),
        ["7514", "3", "3"]
    );
    assert_eq!(
        ["LABEL1", "LABEL2", "LABEL3"].map(|k| card(&cube, k)),
        ["teff", "mg_h", "fe_h"]
    );
    assert_eq!(card(&cube, "CHIP1"), "246:3274");
    let log_variance = read_header_cards(&out, 2).unwrap();
    assert_eq!(card(&log_variance, "EXTNAME"), "LOGVAR_JACOBIAN");
    let spectra = read_table(&out, "SPECTRA").unwrap();
    assert_eq!(spectra.rows(), 3);
    let primary = read_header_cards(&out, 0).unwrap();
    assert_eq!(card(&primary, "MC"), "0");
    for label in ["teff", "mg_h", "fe_h"] {
        let png = plots.join(format!("jacobian_{label}.png"));
        assert!(std::fs::metadata(&png).unwrap().len() > 10_000, "{label}");
    }
}

#[test]
fn bad_options_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jacobian.fits");
    let data = test_data("apStar-dr17-2M17335483-2753043.fits");
    for (args, message) in [
        (vec!["--labels", "teff,colour"], "no label 'colour'"),
        (vec!["--mc", "1"], "--mc 1"),
        (
            vec!["--kind", "dist", "--labels", "teff"],
            "no label 'teff'",
        ),
    ] {
        let mut all = vec!["jacobian", "-o", s(&out)];
        all.extend(args.iter().copied());
        all.push(s(&data));
        let run = astronn(&all);
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        assert!(stderr(&run).contains(message), "{args:?}: {}", stderr(&run));
        assert!(!out.exists(), "{args:?}");
    }
}
