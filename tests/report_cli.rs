//! `astronn report` and `astronn calibrate --truth` end to end on small synthetic results
//! whose metrics are known by construction.

mod common;

use astronn::io::columns::{ColumnData, ColumnKind, ColumnSpec};
use astronn::io::table::AstraTableWriter;
use astronn::pipeline::noise::NoiseModel;
use common::run::{astronn, s, stderr, succeed};
use std::collections::HashMap;
use std::path::Path;

/// Stars in the synthetic results; star i has SNR 20 + i.
const STARS: usize = 400;

/// Writes an `APOGEE` table with the given columns.
fn write_result(path: &Path, columns: Vec<(&str, ColumnData)>) {
    let specs = columns
        .iter()
        .map(|(name, data)| {
            let kind = match data {
                ColumnData::Str(_) => ColumnKind::Str { width: 32 },
                ColumnData::I32(_) => ColumnKind::I32,
                _ => ColumnKind::F64,
            };
            ColumnSpec::new(*name, kind)
        })
        .collect();
    let mut writer = AstraTableWriter::create(path, specs, &[]).unwrap();
    let data: Vec<ColumnData> = columns.into_iter().map(|(_, d)| d).collect();
    writer.append(&data).unwrap();
    writer.finish(&[]).unwrap();
}

fn id(i: usize) -> String {
    format!("2M{i:08}")
}

/// An AstroNN-like result: teff off by exactly ±2 e_teff (alternating), logg off by
/// 0.01·(i mod 5 − 2) with e_logg 0.01, fe_h off by +0.05; plus a NO_RESULT row and a row
/// of a star the reference does not list.
fn astronn_result(path: &Path) {
    let n = STARS + 2;
    let mut ids: Vec<String> = (0..STARS).map(id).collect();
    ids.extend([id(0), "2M_not_in_reference".into()]);
    let per_star = |f: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (0..n).map(|i| if i < STARS { f(i) } else { 1.0 }).collect()
    };
    let teff = per_star(&|i| 4000.0 + 5.0 * i as f64 + if i % 2 == 0 { 100.0 } else { -100.0 });
    let logg = per_star(&|i| 2.0 + 0.01 * (i % 5) as f64 - 0.02);
    let fe_h = per_star(&|_| 0.05);
    let mut flags = vec![0; n];
    flags[STARS] = 1 << 11;
    write_result(
        path,
        vec![
            ("sdss4_apogee_id", ColumnData::Str(ids)),
            ("snr", ColumnData::F64(per_star(&|i| 20.0 + i as f64))),
            ("teff", ColumnData::F64(teff.clone())),
            ("e_teff", ColumnData::F64(vec![50.0; n])),
            ("raw_teff", ColumnData::F64(teff)),
            ("raw_e_teff", ColumnData::F64(vec![25.0; n])),
            ("logg", ColumnData::F64(logg)),
            ("e_logg", ColumnData::F64(vec![0.01; n])),
            ("fe_h", ColumnData::F64(fe_h)),
            ("e_fe_h", ColumnData::F64(vec![0.02; n])),
            ("mg_h", ColumnData::F64(vec![0.1; n])),
            ("result_flags", ColumnData::I32(flags)),
        ],
    );
}

/// The reference of [`astronn_result`]: true teff, logg, fe_h (−9999 for every tenth
/// star), crb_teff 25 K; no mg_h.
fn astronn_truth(path: &Path) {
    let mut csv = String::from("# synthetic truth\nsdss4_apogee_id,teff,logg,fe_h,crb_teff\n");
    for i in 0..STARS {
        let fe_h = if i % 10 == 0 { -9999.0 } else { 0.0 };
        csv.push_str(&format!(
            "{},{},2.0,{fe_h},25\n",
            id(i),
            4000.0 + 5.0 * i as f64
        ));
    }
    std::fs::write(path, csv).unwrap();
}

/// `summary.csv` rows by (label, set), each a map from column to text.
fn summary_rows(dir: &Path) -> HashMap<(String, String), HashMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            let row: HashMap<String, String> = header
                .iter()
                .zip(line.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            ((row["label"].clone(), row["set"].clone()), row)
        })
        .collect()
}

fn value(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column].parse().unwrap()
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{what}: {actual} != {expected}"
    );
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{}",
        path.display()
    );
    assert!(
        bytes.len() > 5_000,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
}

#[test]
fn report_on_a_synthetic_astronn_result() {
    let dir = tempfile::tempdir().unwrap();
    let (result, truth, out) = (
        dir.path().join("result.fits"),
        dir.path().join("truth.csv"),
        dir.path().join("report"),
    );
    astronn_result(&result);
    astronn_truth(&truth);
    let run = succeed(&["report", s(&result), s(&truth), "-o", s(&out)]);
    assert!(
        stderr(&run).contains("400 rows matched (1 NO_RESULT, 1 without"),
        "{}",
        stderr(&run)
    );

    let rows = summary_rows(&out);
    // Labels in both files only: mg_h has no truth.
    assert_eq!(rows.len(), 6, "{:?}", rows.keys());
    let robust = 1.4826;
    for set in ["all", "snr>=100"] {
        let teff = &rows[&("teff".into(), set.into())];
        // Residuals ±100 K in equal numbers: median 0, MAD 100; z = ±2; ±4 in CRB units.
        assert_eq!(value(teff, "n"), if set == "all" { 400.0 } else { 320.0 });
        assert_close(value(teff, "bias"), 0.0, "teff bias");
        assert_close(value(teff, "scatter"), 100.0 * robust, "teff scatter");
        assert_close(value(teff, "z_width"), 2.0 * robust, "teff z width");
        assert_close(value(teff, "scatter_over_crb"), 4.0 * robust, "teff / crb");
        assert_close(value(teff, "median_crb"), 25.0, "teff median crb");

        // Residuals −0.02, −0.01, 0, 0.01, 0.02 in turn: |deviation| median 0.01.
        let logg = &rows[&("logg".into(), set.into())];
        assert_close(value(logg, "bias"), 0.0, "logg bias");
        assert_close(value(logg, "scatter"), 0.01 * robust, "logg scatter");
        assert_close(value(logg, "z_width"), robust, "logg z width");
        assert_eq!(logg["scatter_over_crb"], "NaN");
        assert_eq!(value(logg, "n_crb"), 0.0);

        // Every tenth truth is −9999 and skipped; the others are off by exactly 0.05.
        let fe_h = &rows[&("fe_h".into(), set.into())];
        assert_eq!(value(fe_h, "n"), if set == "all" { 360.0 } else { 288.0 });
        assert_close(value(fe_h, "bias"), 0.05, "fe_h bias");
        assert_close(value(fe_h, "scatter"), 0.0, "fe_h scatter");
    }

    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for text in [
        "## Labels: All matched rows",
        "Rows with SNR ≥ 100",
        "| Teff | K | 400 |",
        "z width",
    ] {
        assert!(summary.contains(text), "{text}:\n{summary}");
    }
    for figure in ["one_to_one", "residual_vs_snr", "zscore_hist", "kiel"] {
        assert_png(&out.join(format!("{figure}.png")));
    }
    assert!(!out.join("distance_error.png").exists());
}

#[test]
fn report_on_distances_with_a_fits_reference_and_its_snr() {
    let dir = tempfile::tempdir().unwrap();
    let (result, truth, out) = (
        dir.path().join("dist.fits"),
        dir.path().join("truth.fits"),
        dir.path().join("report"),
    );
    // Fractional errors ±10 % alternating, dist_err 5 % of the truth: z = ±2.
    let true_dist: Vec<f64> = (0..STARS).map(|i| 1000.0 + 10.0 * i as f64).collect();
    let ids: Vec<String> = (0..STARS).map(id).collect();
    let dist: Vec<f64> = true_dist
        .iter()
        .enumerate()
        .map(|(i, d)| d * if i % 2 == 0 { 1.1 } else { 0.9 })
        .collect();
    write_result(
        &result,
        vec![
            ("sdss4_apogee_id", ColumnData::Str(ids.clone())),
            ("dist", ColumnData::F64(dist)),
            (
                "dist_err",
                ColumnData::F64(true_dist.iter().map(|d| 0.05 * d).collect()),
            ),
            ("result_flags", ColumnData::I32(vec![0; STARS])),
        ],
    );
    write_result(
        &truth,
        vec![
            ("APOGEE_ID", ColumnData::Str(ids)),
            ("dist", ColumnData::F64(true_dist)),
            (
                "snr",
                ColumnData::F64((0..STARS).map(|i| 20.0 + i as f64).collect()),
            ),
        ],
    );
    succeed(&[
        "report",
        s(&result),
        s(&truth),
        "--id-column",
        "APOGEE_ID",
        "--snr-min",
        "200",
        "-o",
        s(&out),
    ]);
    let rows = summary_rows(&out);
    let all = &rows[&("dist".into(), "all".into())];
    assert_eq!(all["kind"], "fractional");
    assert_eq!(value(all, "n"), 400.0);
    assert_close(value(all, "median_abs"), 0.1, "median |f|");
    assert_close(value(all, "bias"), 0.0, "bias");
    assert_close(value(all, "scatter"), 0.1 * 1.4826, "scatter");
    assert_close(value(all, "z_width"), 2.0 * 1.4826, "z width");
    // SNR from the reference: stars 180..399.
    assert_eq!(
        value(&rows[&("dist".into(), "snr>=200".into())], "n"),
        220.0
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("`snr` column of the reference"),
        "{summary}"
    );
    assert_png(&out.join("distance_error.png"));
    assert!(!out.join("one_to_one.png").exists());
}

#[test]
fn report_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (result, truth) = (dir.path().join("result.fits"), dir.path().join("truth.csv"));
    astronn_result(&result);
    astronn_truth(&truth);
    let out = dir.path().join("out");
    let fail = |args: &[&str], expected: &[&str]| {
        let run = astronn(args);
        assert!(!run.status.success(), "{args:?}");
        let msg = stderr(&run);
        for text in expected {
            assert!(msg.contains(text), "{args:?}: {msg}");
        }
    };
    let missing = dir.path().join("missing.fits");
    fail(
        &["report", s(&missing), s(&truth), "-o", s(&out)],
        &["missing.fits"],
    );
    // The reference is not a table: its id column is missing.
    fail(
        &[
            "report",
            s(&result),
            s(&truth),
            "--id-column",
            "APOGEE_ID",
            "-o",
            s(&out),
        ],
        &["truth.csv", "'APOGEE_ID'"],
    );
    fail(
        &[
            "report",
            s(&result),
            s(&truth),
            "--result-id-column",
            "obj",
            "-o",
            s(&out),
        ],
        &["result.fits", "'obj'"],
    );
    // A CSV given as the result.
    fail(
        &["report", s(&truth), s(&truth), "-o", s(&out)],
        &["truth.csv"],
    );
    let model = dir.path().join("no_model.safetensors");
    fail(
        &[
            "report",
            s(&result),
            s(&truth),
            "--model",
            s(&model),
            "-o",
            s(&out),
        ],
        &["no_model.safetensors"],
    );
}

#[test]
fn calibrate_against_the_truth_recovers_the_error_model() {
    let dir = tempfile::tempdir().unwrap();
    let (result, truth, noise) = (
        dir.path().join("result.fits"),
        dir.path().join("truth.csv"),
        dir.path().join("noise.json"),
    );
    // Deterministic Gaussian draws (LCG + Box–Muller).
    let mut state = 12345u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let stars = 5000;
    let (mut raw, mut raw_e, mut csv) = (vec![], vec![], String::from("sdss4_apogee_id,fe_h\n"));
    for i in 0..stars {
        let truth = -1.0 + (i % 100) as f64 * 0.015;
        let e = 0.01 + 0.09 * uniform();
        let z = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
        raw.push(truth + (1.7 * e + 0.01) * z);
        raw_e.push(e);
        csv.push_str(&format!("{},{truth}\n", id(i)));
    }
    std::fs::write(&truth, csv).unwrap();
    write_result(
        &result,
        vec![
            (
                "sdss4_apogee_id",
                ColumnData::Str((0..stars).map(id).collect()),
            ),
            ("raw_fe_h", ColumnData::F64(raw)),
            ("raw_e_fe_h", ColumnData::F64(raw_e)),
            // A label without a truth column is skipped quietly.
            ("raw_teff", ColumnData::F64(vec![4000.0; stars])),
            ("raw_e_teff", ColumnData::F64(vec![50.0; stars])),
        ],
    );
    let run = succeed(&[
        "calibrate",
        "--truth",
        s(&truth),
        s(&result),
        "-o",
        s(&noise),
    ]);
    assert!(stderr(&run).contains("stars"), "{}", stderr(&run));
    let model = NoiseModel::load(&noise).unwrap();
    assert_eq!(model.labels().collect::<Vec<_>>(), ["fe_h"]);
    let c = model.correction("fe_h").unwrap();
    assert!((c.scale / 1.7 - 1.0).abs() < 0.05, "{c:?}");
    assert!((c.offset / 0.01 - 1.0).abs() < 0.25, "{c:?}");

    // A reference without any of the results' labels.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, format!("sdss4_apogee_id,logg\n{},2.0\n", id(0))).unwrap();
    let run = astronn(&[
        "calibrate",
        "--truth",
        s(&other),
        s(&result),
        "-o",
        s(&dir.path().join("other.json")),
    ]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("other.csv"), "{}", stderr(&run));
}
