//! AstroNN's `result_flags`, `flag_warn` and `flag_bad` on real results, end to end: with the
//! fixtures' checkpoint on the apStar files of `tests/data` (at the default `--mc 100`), every
//! row's flags are SPEC §6's rules applied to its raw labels and errors, written here with the
//! bit numbers as literals, and a noise model that shrinks the errors tenfold changes `e_*`
//! but not one flag.

mod common;

use astronn::io::table::read_primary_cards;
use common::run::{apogee, bools, floats, ints, s, succeed};
use common::{fixtures, test_data};

/// SPEC §6, literally: bit 0 UNCERTAIN_LOGG, bit 1 UNCERTAIN_TEFF, bit 2 UNCERTAIN_FE_H, from
/// the raw (not recalibrated) values.
fn spec_flags(raw: impl Fn(&str) -> f64) -> i64 {
    let mut flags = 0;
    if raw("raw_e_logg") > 0.2 && (raw("raw_e_logg") / raw("raw_logg")).abs() > 0.075 {
        flags |= 1;
    }
    if raw("raw_e_teff") > 300.0 {
        flags |= 2;
    }
    if raw("raw_e_fe_h") > 0.2 && (raw("raw_e_fe_h") / raw("raw_fe_h")).abs() > 0.12 {
        flags |= 4;
    }
    flags
}

#[test]
fn flags_follow_the_raw_errors_and_not_the_noise_model() {
    let dir = fixtures();
    let model = dir.join("astronn_bcnn_censored.pt");
    let out = tempfile::tempdir().unwrap();
    let noise = out.path().join("shrink.json");
    std::fs::write(
        &noise,
        r#"{"teff": {"offset": 0, "scale": 0.1}, "logg": {"offset": 0, "scale": 0.1},
            "fe_h": {"offset": 0, "scale": 0.1}}"#,
    )
    .unwrap();
    let run = |name: &str, extra: &[&str]| -> [std::path::PathBuf; 2] {
        let [coadds, visits] =
            ["star", "visit"].map(|k| out.path().join(format!("{name}-{k}.fits")));
        let mut args = vec![
            "predict",
            "-q",
            "--model",
            s(&model),
            "--seed",
            "1",
            "-o",
            s(&coadds),
            "--visits-output",
            s(&visits),
        ];
        args.extend_from_slice(extra);
        let data = test_data("");
        args.push(s(&data));
        succeed(&args);
        [coadds, visits]
    };
    let plain = run("plain", &[]);
    // No --mc given: the default, 100 MC samples.
    let mc = read_primary_cards(&plain[0])
        .unwrap()
        .into_iter()
        .find(|(key, _)| key == "MC")
        .map(|(_, value)| value);
    assert_eq!(mc.as_deref(), Some("100"));
    let shrunk = run("shrunk", &["--noise-model", s(&noise)]);

    let mut seen = Vec::new();
    for (plain, shrunk) in plain.iter().zip(&shrunk) {
        let (a, b) = (apogee(plain), apogee(shrunk));
        let flags = ints(&a, "result_flags");
        assert_eq!(ints(&b, "result_flags"), flags, "{}", shrunk.display());
        for label in ["teff", "logg", "fe_h"] {
            let raw_error = floats(&a, &format!("raw_e_{label}"));
            assert_eq!(floats(&b, &format!("raw_e_{label}")), raw_error);
            for (e, raw) in floats(&b, &format!("e_{label}")).iter().zip(&raw_error) {
                assert!(
                    (e - 0.1 * raw).abs() <= 1e-6 * raw,
                    "e_{label} {e} vs {raw}"
                );
            }
        }
        let (warn, bad) = (bools(&a, "flag_warn"), bools(&a, "flag_bad"));
        for (row, &written) in flags.iter().enumerate() {
            let expected = spec_flags(|name| floats(&a, name)[row]);
            assert_eq!(written, expected, "{} row {row}", plain.display());
            assert_eq!(warn[row], expected > 0);
            let spec_bad = expected & 2 != 0 || expected & 5 == 5;
            assert_eq!(bad[row], spec_bad, "row {row}: flags {expected}");
        }
        seen.extend(flags);
    }
    // The rows exercise every bit both ways where they can: log g and [Fe/H] are uncertain
    // on every row of this checkpoint, Teff on some (flags 5 and 7 here).
    assert!(seen.iter().all(|f| f & 5 == 5), "{seen:?}");
    assert!(seen.iter().any(|f| f & 2 != 0), "{seen:?}");
    assert!(seen.iter().any(|f| f & 2 == 0), "{seen:?}");
}
