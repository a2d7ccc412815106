//! `astronn simulate`: reproducible from its seed, apStar files that the pipeline reads,
//! normalized-only output identical to normalizing those files, and Cramér–Rao bounds that
//! agree with a finite-difference Jacobian of the rendered spectra.

mod common;

use astronn::apogee::grid::CHIPS;
use astronn::io::apstar::read_apstar;
use astronn::io::normalized::NormalizedReader;
use astronn::io::table::read_table;
use astronn::nn::censored::LABELS;
use common::run::{apogee, floats, ints, s, strings, succeed};
use std::path::Path;

fn simulate(dir: &Path, extra: &[&str]) {
    let mut args = vec!["simulate", "-q", "-o", s(dir)];
    args.extend_from_slice(extra);
    succeed(&args);
}

fn apstar_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("apStar-")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_seed_gives_the_same_survey_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    simulate(&a, &["--n", "6", "--seed", "5", "--threads", "1"]);
    simulate(&b, &["--n", "6", "--seed", "5", "--threads", "2"]);
    simulate(&c, &["--n", "6", "--seed", "6"]);
    let (files_a, files_b) = (apstar_files(&a), apstar_files(&b));
    assert_eq!(files_a.len(), 6);
    for (fa, fb) in files_a.iter().zip(&files_b) {
        assert_eq!(fa.file_name(), fb.file_name());
        assert_eq!(
            std::fs::read(fa).unwrap(),
            std::fs::read(fb).unwrap(),
            "{fa:?}"
        );
    }
    for catalog in ["truth.fits", "labels.fits"] {
        let ta = read_table(&a.join(catalog), "APOGEE").unwrap();
        let tb = read_table(&b.join(catalog), "APOGEE").unwrap();
        // Debug text compares NaN (a missing parallax) equal to itself.
        assert_eq!(format!("{ta:?}"), format!("{tb:?}"), "{catalog}");
    }
    let (truth_a, truth_c) = (apogee(&a.join("truth.fits")), apogee(&c.join("truth.fits")));
    assert_ne!(floats(&truth_a, "teff"), floats(&truth_c, "teff"));
}

#[test]
fn apstar_files_match_the_truth_catalog() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), &["--n", "8", "--seed", "3"]);
    let truth = apogee(&dir.path().join("truth.fits"));
    let ids = strings(&truth, "sdss4_apogee_id");
    let nvisits = ints(&truth, "nvisits");
    let snr = floats(&truth, "snr");
    for (row, id) in ids.iter().enumerate() {
        let file = dir.path().join(format!("apStar-{id}.fits"));
        let star = read_apstar(&file, true).unwrap();
        assert_eq!(&star.identity.apogee_id(), id);
        assert_eq!(star.identity.nvisits as i64, nvisits[row]);
        assert!((star.identity.fields.f64("snr") - snr[row]).abs() < 1e-9 * snr[row]);
        // The coadd, then every visit (a single visit is row 0 again).
        assert_eq!(star.spectra.len(), 1 + nvisits[row] as usize, "{id}");
        assert!(star.spectra.iter().all(|slot| slot.pixels.is_ok()));
        for name in ["teff", "logg", "fe_h", "crb_teff", "dist", "L_fakemag"] {
            assert!(floats(&truth, name)[row].is_finite(), "{name}");
        }
    }
}

#[test]
fn normalized_only_equals_normalizing_the_apstar_files() {
    let dir = tempfile::tempdir().unwrap();
    let (files, direct) = (dir.path().join("files"), dir.path().join("direct"));
    simulate(&files, &["--n", "5", "--seed", "9"]);
    simulate(&direct, &["--n", "5", "--seed", "9", "--normalized-only"]);
    assert!(apstar_files(&direct).is_empty());
    let normalized = dir.path().join("normalized.fits");
    succeed(&["normalize", "-q", "-o", s(&normalized), s(&files)]);
    let mut from_files = NormalizedReader::open(&normalized).unwrap();
    let mut written = NormalizedReader::open(&direct.join("normalized.fits")).unwrap();
    assert_eq!(written.len(), 5);
    let ids = |r: &mut NormalizedReader| -> Vec<String> {
        let metas = r.read_all_meta().unwrap();
        metas.iter().map(|m| m.apogee_id()).collect()
    };
    assert_eq!(ids(&mut from_files), ids(&mut written));
    assert_eq!(
        from_files.read_flux(0, 5).unwrap(),
        written.read_flux(0, 5).unwrap()
    );
}

/// Writes a `--labels` CSV: the base star, then the base with label k moved by ±h_k.
fn perturbed_stars(path: &Path, base: &[f64], steps: &[f64], snr: f64) {
    let mut text = format!("sdss4_apogee_id,{},snr\n", LABELS.join(","));
    let mut row = |id: String, labels: &[f64]| {
        let values: Vec<String> = labels.iter().map(|v| format!("{v:.17e}")).collect();
        text.push_str(&format!("{id},{},{snr}\n", values.join(",")));
    };
    row("base".into(), base);
    for k in 0..LABELS.len() {
        for (sign, name) in [(1.0, "up"), (-1.0, "down")] {
            let mut labels = base.to_vec();
            labels[k] += sign * steps[k];
            row(format!("{name}{k:02}"), &labels);
        }
    }
    std::fs::write(path, text).unwrap();
}

/// The normalized flux of a noise-free simulated spectrum at the chip pixels: with no
/// noise, flux / error = f / σ and σ = 1/S/N.
fn rendered_flux(file: &Path, snr: f64) -> Vec<f64> {
    let star = read_apstar(file, false).unwrap();
    let pixels = star.spectra[0].pixels.as_ref().unwrap();
    CHIPS
        .iter()
        .flat_map(|chip| chip.clone())
        .map(|p| pixels.flux[p] / pixels.e_flux[p] / snr)
        .collect()
}

/// The diagonal of the inverse of a symmetric positive-definite matrix (Gauss–Jordan).
fn inverse_diagonal(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..n {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for i in 0..n {
            if i != col {
                let f = a[i][col];
                for j in 0..n {
                    a[i][j] -= f * a[col][j];
                    inv[i][j] -= f * inv[col][j];
                }
            }
        }
    }
    (0..n).map(|i| inv[i][i]).collect()
}

#[test]
fn cramer_rao_bounds_agree_with_a_finite_difference_jacobian() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("stars.csv");
    let snr = 150.0;
    let mut base = vec![-0.3; LABELS.len()];
    base[0] = 4800.0;
    base[1] = 2.6;
    base[19] = -0.35;
    let mut steps = vec![0.02; LABELS.len()];
    steps[0] = 20.0;
    perturbed_stars(&catalog, &base, &steps, snr);
    let out = dir.path().join("rendered");
    simulate(&out, &["--labels", s(&catalog), "--noise-free"]);

    let flux = |id: &str| rendered_flux(&out.join(format!("apStar-{id}.fits")), snr);
    let jacobian: Vec<Vec<f64>> = (0..LABELS.len())
        .map(|k| {
            let (up, down) = (flux(&format!("up{k:02}")), flux(&format!("down{k:02}")));
            up.iter()
                .zip(&down)
                .map(|(u, d)| (u - d) / (2.0 * steps[k]))
                .collect()
        })
        .collect();
    // Per-pixel noise: photon noise 1/S/N plus the line-strength scatter η = 0.45 (in ln τ),
    // which moves the flux by η·f·ln f (docs/simulation.md).
    let base_flux = flux("base");
    let variance: Vec<f64> = base_flux
        .iter()
        .map(|f| (1.0 / snr).powi(2) + (0.45 * f * f.ln()).powi(2))
        .collect();
    let fisher: Vec<Vec<f64>> = (0..LABELS.len())
        .map(|a| {
            (0..LABELS.len())
                .map(|b| {
                    (0..variance.len())
                        .map(|p| jacobian[a][p] * jacobian[b][p] / variance[p])
                        .sum::<f64>()
                })
                .collect()
        })
        .collect();
    let numeric = inverse_diagonal(fisher);

    let truth = apogee(&out.join("truth.fits"));
    let base_row = strings(&truth, "sdss4_apogee_id")
        .iter()
        .position(|id| id == "base")
        .unwrap();
    for (k, label) in LABELS.iter().enumerate() {
        let crb = floats(&truth, &format!("crb_{label}"))[base_row];
        let expected = numeric[k].sqrt();
        assert!(
            (crb - expected).abs() < 0.01 * expected,
            "{label}: catalog {crb}, finite differences {expected}"
        );
        assert_eq!(floats(&truth, label)[base_row], base[k]);
    }
}

#[test]
fn bad_arguments_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run::astronn(&[
        "simulate",
        "--n",
        "2",
        "--restrict",
        "tef=1:2",
        "-o",
        s(dir.path()),
    ]);
    assert!(!out.status.success());
    let message = common::run::stderr(&out);
    assert!(message.contains("unknown label 'tef'"), "{message}");
    let missing = dir.path().join("missing.csv");
    let out = common::run::astronn(&["simulate", "--labels", s(&missing), "-o", s(dir.path())]);
    assert!(!out.status.success());
    assert!(common::run::stderr(&out).contains("missing.csv"));
}
