//! The three products against SDSS's DR19 data model, column for column, and the values the
//! apStar headers (DR17 and DR19 style), a Source catalog and a Gaia catalog put in them.

mod common;

use astronn::io::columns::ColumnData;
use astronn::io::table::{read_header_cards, Table};
use astronn::pipeline::gaia::{lindegren_zero_point, ZeroPointInputs};
use common::dr19::dr19_style_copy;
use common::run::{apogee, astronn, floats, ints, s, stderr, strings, succeed};
use common::test_data;
use std::path::{Path, PathBuf};

const FILE1: &str = "apStar-dr17-2M17335483-2753043.fits";
const FILE2: &str = "apStar-dr17-2M19485057+5005279.fits";
const DR19_FILE: &str = "apStar-1.4-apo25m-2M17335483-2753043.fits";
const ID1: &str = "2M17335483-2753043";

/// float32 columns of DR19 that astronn keeps in float64 (docs/dr19.md, "Where we knowingly differ from DR19").
const WIDENED: [&str; 5] = ["ra", "dec", "jd", "input_ra", "input_dec"];

/// DR19 keywords added to the DR19-style copy of FILE1.
const DR19_KEYWORDS: [(&str, &str); 15] = [
    ("APRED", "'1.4'"),
    ("HEALPIX", "27351"),
    ("CATID", "63050395073316212"),
    ("PLX", "0.412"),
    ("EPLX", "0.031"),
    ("PMRA", "-2.1"),
    ("EPMRA", "0.04"),
    ("PMDEC", "-4.5"),
    ("EPMDEC", "0.03"),
    ("GMAG", "15.2"),
    ("BPMAG", "16.9"),
    ("RPMAG", "14.0"),
    ("CHISQ1", "1.25"),
    ("CHISQ2", "2.5"),
    ("CHISQ3", "3.75"),
];

/// `|a − b| ≤ rel · |b|`: values stored as float32 are compared at 1e-7.
fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

/// The row of `table` whose column `column` equals `value`.
fn row_where(table: &Table, column: &str, value: &str) -> usize {
    strings(table, column)
        .iter()
        .position(|v| v == value)
        .unwrap_or_else(|| panic!("no row with {column} = {value}"))
}

/// A directory holding the two DR17 test files and a DR19-style copy of the first.
fn inputs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("in");
    std::fs::create_dir(&data).unwrap();
    for file in [FILE1, FILE2] {
        std::fs::copy(test_data(file), data.join(file)).unwrap();
    }
    dr19_style_copy(&test_data(FILE1), &data.join(DR19_FILE), &DR19_KEYWORDS);
    dir
}

/// Runs predict (default models, 10 MC samples) on `dir/in` with `extra` arguments, writing
/// `dir/star.fits.gz`, `dir/visit.fits` and `dir/dist.fits`; returns them and stderr.
fn predict(dir: &Path, extra: &[&str]) -> (PathBuf, PathBuf, PathBuf, String) {
    let input = dir.join("in");
    let mut args = extra.to_vec();
    args.push(s(&input));
    predict_into(dir, "", &args)
}

/// Runs predict with `args` (inputs included), writing `dir/<prefix>star.fits.gz`,
/// `<prefix>visit.fits` and `<prefix>dist.fits`.
fn predict_into(dir: &Path, prefix: &str, args: &[&str]) -> (PathBuf, PathBuf, PathBuf, String) {
    let [star, visit, dist] =
        ["star.fits.gz", "visit.fits", "dist.fits"].map(|name| dir.join(format!("{prefix}{name}")));
    let mut all = vec![
        "predict",
        "--mc",
        "10",
        "--seed",
        "1",
        "-o",
        s(&star),
        "--visits-output",
        s(&visit),
        "--dist-output",
        s(&dist),
    ];
    all.extend_from_slice(args);
    let out = succeed(&all);
    (star, visit, dist, stderr(&out))
}

/// SDSS's DR19 data model of the three products (`data/datamodel/dr19_products.json`, made
/// by `scripts/dr19_datamodel.py` from the data model's YAML files).
fn datamodel() -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/datamodel/dr19_products.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the DR19 data model {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// One HDU of the data model: its columns `(name, type)` and header keywords.
struct ModelHdu {
    columns: Vec<(String, String)>,
    keywords: Vec<String>,
}

fn model_hdus(model: &serde_json::Value, product: &str) -> Vec<ModelHdu> {
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    let hdus = model["products"][product]["hdus"].as_array().unwrap();
    assert_eq!(hdus.len(), 3, "{product}: HDUs 0-2");
    hdus.iter()
        .map(|hdu| ModelHdu {
            columns: hdu["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (text(&c[0]), text(&c[1])))
                .collect(),
            keywords: hdu["keywords"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| text(&k[0]))
                .collect(),
        })
        .collect()
}

/// The FITS type DR19's data-model type stands for: `(code, repeat)`. The data model calls
/// both `L` and `B` "bool": DR19's arrays of them are Astra's bit fields of bytes (`57B`),
/// its scalars logicals (`L`).
fn dr19_tform(dr19_type: &str) -> (char, usize) {
    let (base, repeat) = match dr19_type.split_once('[') {
        Some((base, n)) => (base, Some(n.trim_end_matches(']').parse().unwrap())),
        None => (dr19_type, None),
    };
    let code = match (base, repeat) {
        ("int64", _) => 'K',
        ("int32", _) => 'J',
        ("float32", _) => 'E',
        ("bool", None) => 'L',
        ("bool", Some(_)) => 'B',
        ("char", _) => 'A',
        (other, _) => panic!("unknown data-model type {other}"),
    };
    (code, repeat.unwrap_or(1))
}

/// `(TTYPE, TFORM code, repeat)` of each column of HDU `hdu` of `path`.
fn our_columns(path: &Path, hdu: usize) -> Vec<(String, char, usize)> {
    let cards = read_header_cards(path, hdu).unwrap();
    let value = |key: String| {
        cards
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim().to_string())
            .unwrap()
    };
    let n: usize = value("TFIELDS".into()).parse().unwrap();
    (1..=n)
        .map(|i| {
            let tform = value(format!("TFORM{i}"));
            let code = tform.chars().last().unwrap();
            let repeat = tform[..tform.len() - 1].parse().unwrap_or(1);
            (value(format!("TTYPE{i}")), code, repeat)
        })
        .collect()
}

#[test]
fn every_product_has_dr19s_columns_in_dr19s_order_with_dr19s_types_and_keywords() {
    let model = datamodel();
    let dir = inputs();
    let (star, visit, dist, _) = predict(dir.path(), &[]);
    for (path, product) in [
        (&star, "astraAllStarAstroNN"),
        (&visit, "astraAllVisitAstroNN"),
        (&dist, "astraAllStarAstroNNdist"),
    ] {
        let hdus = model_hdus(&model, product);
        for (hdu, expected) in hdus.iter().enumerate() {
            let cards = read_header_cards(path, hdu).unwrap();
            for key in &expected.keywords {
                assert!(
                    cards.iter().any(|(k, _)| k == key),
                    "{product} HDU {hdu}: no {key} card"
                );
            }
            if hdu == 0 {
                continue;
            }
            let ours = our_columns(path, hdu);
            assert!(ours.len() >= expected.columns.len(), "{product} HDU {hdu}");
            if hdu == 1 {
                assert_eq!(
                    ours.len(),
                    expected.columns.len(),
                    "{product}: BOSS has DR19's columns only"
                );
            }
            for (i, (name, dr19_type)) in expected.columns.iter().enumerate() {
                let (our_name, code, repeat) = &ours[i];
                assert_eq!(our_name, name, "{product} HDU {hdu} column {}", i + 1);
                let (dr19_code, dr19_repeat) = dr19_tform(dr19_type);
                let what =
                    format!("{product} HDU {hdu} '{name}': ours {repeat}{code}, DR19 {dr19_type}");
                if WIDENED.contains(&name.as_str()) {
                    assert_eq!((*code, *repeat), ('D', 1), "{what}");
                } else if dr19_code == 'A' {
                    assert!(*code == 'A' && *repeat >= dr19_repeat, "{what}");
                } else {
                    assert_eq!((*code, *repeat), (dr19_code, dr19_repeat), "{what}");
                }
            }
        }
    }
}

#[test]
fn headers_say_what_dr19_says_and_carry_valid_checksums() {
    let dir = inputs();
    let (star, _, dist, _) = predict(dir.path(), &[]);
    let bytes = std::fs::read(&star).unwrap();
    assert_eq!(
        &bytes[..2],
        &[0x1f, 0x8b],
        "-o *.fits.gz writes a gzip file"
    );
    for (path, pipeline) in [(&star, "AstroNN"), (&dist, "AstroNNdist")] {
        for hdu in 0..3 {
            let cards = read_header_cards(path, hdu).unwrap();
            let get = |key: &str| cards.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            assert_eq!(get("PIPELINE").as_deref(), Some(pipeline));
            assert_eq!(get("V_ASTRA").as_deref(), Some("0.6.0"));
            let created = get("CREATED").unwrap();
            let shape: String = created
                .chars()
                .map(|c| if c.is_ascii_digit() { '9' } else { c })
                .collect();
            assert_eq!(shape, "99-99-99 99:99:99", "CREATED = {created}");
            let comments: Vec<&str> = cards
                .iter()
                .filter(|(k, _)| k == "COMMENT")
                .map(|(_, v)| v.as_str())
                .collect();
            match hdu {
                0 => {
                    // After CFITSIO's own notes on the FITS standard.
                    assert_eq!(
                        comments[comments.len() - 3..],
                        [
                            "HDU 0: Summary information only",
                            "HDU 1: BOSS spectra",
                            "HDU 2: APOGEE spectra"
                        ]
                    );
                    assert!(get("MODELSHA").is_some() && get("SEED").as_deref() == Some("1"));
                }
                _ => {
                    let instrument = if hdu == 1 { "BOSS" } else { "APOGEE" };
                    assert_eq!(get("INSTRMNT").as_deref(), Some(instrument));
                    assert_eq!(get("EXTNAME").as_deref(), Some(instrument));
                    assert_eq!(comments.len(), 3);
                    assert!(get("CHECKSUM").is_some() && get("DATASUM").is_some());
                }
            }
        }
        // CFITSIO verifies both checksums of both tables.
        let mut f = fitsio::FitsFile::open(path).unwrap();
        for hdu in [1, 2] {
            f.hdu(hdu).unwrap();
            let (mut data_ok, mut hdu_ok, mut status) = (0, 0, 0);
            // SAFETY: an open file handle and valid out-pointers.
            unsafe {
                fitsio::sys::ffvcks(f.as_raw(), &mut data_ok, &mut hdu_ok, &mut status);
            }
            assert_eq!(
                (status, data_ok, hdu_ok),
                (0, 1, 1),
                "{} HDU {hdu}",
                path.display()
            );
        }
    }
    let table = apogee(&star);
    assert_eq!(strings(&table, "v_astra"), ["0.6.0"; 3]);
    assert!(strings(&table, "created").iter().all(|c| c.len() == 26));
}

#[test]
fn rows_of_dr17_files_carry_their_header_values_and_dr19_fills() {
    let dir = inputs();
    let (star, visit, dist, _) = predict(dir.path(), &[]);
    let table = apogee(&star);
    let r = row_where(
        &table,
        "source_file",
        &dir.path().join("in").join(FILE1).display().to_string(),
    );
    let f = |name: &str| floats(&table, name)[r];
    let i = |name: &str| ints(&table, name)[r];
    let t = |name: &str| strings(&table, name)[r].clone();
    assert_eq!(t("sdss4_apogee_id"), ID1);
    assert_eq!(t("obj"), ID1);
    assert_eq!(t("field"), "000+02");
    assert_eq!(
        (t("apred"), t("prefix"), t("release")),
        ("dr17".into(), "ap".into(), "dr17".into())
    );
    assert_eq!(
        (t("filetype"), t("apstar")),
        ("apStar".into(), "stars".into())
    );
    assert_eq!(f("ra"), 263.478474, "ra is kept in float64");
    assert!(close(f("snr"), 154.1551207216066, 1e-7));
    assert!(close(f("l"), 359.5225071703375, 1e-7));
    assert!(close(f("j_mag"), 11.68200016021729, 1e-7));
    assert!(close(f("k_mag"), 9.810999870300293, 1e-7));
    assert!(f("ebv").is_nan(), "SFD_EBV = -9999.99 is unknown");
    assert!(close(f("v_rad"), 15.68141048070993, 1e-7));
    assert!(close(f("median_e_v_rad"), 0.02753810350319628, 1e-7));
    assert!(close(f("doppler_teff"), 3676.877300542052, 1e-7));
    assert!(close(f("doppler_rchi2"), 17.34794044494629, 1e-7));
    assert!(close(f("mean_fiber"), 218.7201385498047, 1e-7));
    assert_eq!(
        (i("n_visits"), i("min_mjd"), i("max_mjd")),
        (3, 56396, 56434)
    );
    assert_eq!(i("n_components"), 1);
    // APTARG1 = -2147481592 is the unsigned 32-bit mask 0x80000808.
    assert_eq!(i("sdss4_apogee_target1_flags"), 0x8000_0808);
    // DR19's fills: -1 integers, 0 bit fields, NaN floats, "" text.
    assert_eq!(
        (i("sdss_id"), i("catalogid"), i("healpix"), i("task_pk")),
        (-1, -1, -1, -1)
    );
    assert_eq!((i("sdss4_apogee_member_flags"), i("doppler_flags")), (0, 0));
    assert!(f("plx").is_nan() && f("zgr_teff").is_nan());
    assert_eq!(
        (t("lead"), t("ph_qual"), t("tag")),
        (String::new(), String::new(), String::new())
    );
    assert!(f("t_elapsed") >= f("t_overhead") && f("t_overhead") > 0.0);

    // Each visit row has its own S/N, MJD, fiber, date, velocities and barycentric correction.
    let visits = apogee(&visit);
    let rows: Vec<usize> = (0..visits.rows())
        .filter(|&k| strings(&visits, "obj")[k] == ID1 && strings(&visits, "release")[k] == "dr17")
        .collect();
    let expected = [
        (
            56396,
            212,
            67.20211344626172,
            -9.842537564710602,
            15.91490109495737,
            25.75743865966797,
            2456396.99199,
            "2013-04-14T11:31:42.482",
        ),
        (
            56433,
            221,
            90.5624845714902,
            3.471666941655474,
            15.64991820813497,
            12.17825126647949,
            2456433.88234,
            "2013-05-21T08:37:03.885",
        ),
        (
            56434,
            221,
            105.8963319815388,
            3.86012051710234,
            15.56073639997587,
            11.70061588287354,
            2456434.8824,
            "2013-05-22T08:53:54.370",
        ),
    ];
    assert_eq!(rows.len(), 3);
    for (k, (mjd, fiber, snr, v_rel, v_rad, bc, jd, date)) in rows.into_iter().zip(expected) {
        let vf = |name: &str| floats(&visits, name)[k];
        assert_eq!(ints(&visits, "mjd")[k], mjd);
        assert_eq!(ints(&visits, "fiber")[k], fiber);
        assert_eq!(strings(&visits, "plate")[k], "5815");
        assert_eq!(strings(&visits, "date_obs")[k], date);
        assert_eq!(strings(&visits, "filetype")[k], "apVisit");
        assert!(
            close(vf("snr"), snr, 1e-7),
            "visit snr {} against {snr}",
            vf("snr")
        );
        assert!(close(vf("v_rel"), v_rel, 1e-7) && close(vf("v_rad"), v_rad, 1e-7));
        assert!(close(vf("bc"), bc, 1e-7));
        assert_eq!(vf("jd"), jd, "jd is kept in float64");
        assert!(
            close(vf("k_mag"), 9.810999870300293, 1e-7),
            "visits carry the star's Source"
        );
    }

    // DR17 stars have no Gaia parallax: the weighted distance is the network's alone.
    let d = apogee(&dist);
    let r = row_where(
        &d,
        "source_file",
        &dir.path().join("in").join(FILE1).display().to_string(),
    );
    let g = |name: &str| floats(&d, name)[r];
    assert!(g("gdr3_parallax_w_zp").is_nan() && g("gdr3_parallax_err").is_nan());
    assert!(
        close(g("gdr3_zeropoint"), -0.03464, 1e-7),
        "Astra's median zero-point"
    );
    assert_eq!(g("weighted_parallax"), g("nn_parallax"));
    assert_eq!(g("weighted_parallax_err"), g("nn_parallax_model_err"));
    assert!(close(g("weighted_dist"), 1000.0 / g("nn_parallax"), 1e-6));
    assert!(g("L_fakemag_model_err") > 0.0 && g("L_fakemag_model_err") < g("L_fakemag_err"));
    assert!(close(
        g("nn_dist_model_err"),
        g("nn_dist") * g("L_fakemag_model_err") / g("L_fakemag"),
        1e-6
    ));
}

#[test]
fn dr19_style_headers_give_k_mag_gaia_and_catalog_values() {
    let dir = inputs();
    let (star, visit, dist, _) = predict(dir.path(), &[]);
    let dr19_source = dir.path().join("in").join(DR19_FILE).display().to_string();
    let table = apogee(&star);
    let r = row_where(&table, "source_file", &dr19_source);
    let f = |name: &str| floats(&table, name)[r];
    let i = |name: &str| ints(&table, name)[r];
    let t = |name: &str| strings(&table, name)[r].clone();
    assert!(close(f("k_mag"), 9.810999870300293, 1e-7), "KMAG");
    assert!(close(f("h_mag"), 10.31799983978271, 1e-7), "HMAG");
    assert_eq!((i("catalogid"), i("healpix")), (63050395073316212, 27351));
    assert!(close(f("plx"), 0.412, 1e-7) && close(f("e_plx"), 0.031, 1e-7));
    assert!(close(f("pmde"), -4.5, 1e-7) && close(f("g_mag"), 15.2, 1e-7));
    assert!(close(f("v_rad"), 15.68141048070993, 1e-7), "VRAD");
    assert!(f("ebv").is_nan() && f("doppler_rchi2").is_nan() && f("median_e_v_rad").is_nan());
    assert_eq!(
        (t("field"), t("telescope")),
        (String::new(), "apo25m".to_string())
    );
    assert_eq!(
        (t("apred"), t("release")),
        ("1.4".to_string(), "sdss5".to_string())
    );

    let visits = apogee(&visit);
    let rows: Vec<usize> = (0..visits.rows())
        .filter(|&k| strings(&visits, "source_file")[k] == dr19_source)
        .collect();
    assert_eq!(rows.len(), 3);
    for (k, (v_rad, bc, chisq)) in rows.into_iter().zip([
        (15.91490109495737, 25.75743865966797, 1.25),
        (15.64991820813497, 12.17825126647949, 2.5),
        (15.56073639997587, 11.70061588287354, 3.75),
    ]) {
        let vf = |name: &str| floats(&visits, name)[k];
        assert!(
            close(vf("v_rad"), v_rad, 1e-7),
            "VRAD<n> is heliocentric in DR19"
        );
        assert!(close(vf("v_rel"), v_rad - bc, 1e-6), "v_rel = v_rad - bc");
        assert!(close(vf("doppler_rchi2"), chisq, 1e-7));
        assert!(vf("e_v_rel").is_nan());
        assert_eq!(strings(&visits, "telescope")[k], "apo25m");
    }

    // The Ks magnitude gives a distance (only the extinction is missing), and the DR19
    // parallax, corrected by Astra's median zero-point, is combined with the network's.
    let d = apogee(&dist);
    let r = row_where(&d, "source_file", &dr19_source);
    let g = |name: &str| floats(&d, name)[r];
    // The whole flag value: MISSING_EXTINCTION (bit 2), and FAKEMAG_UNRELIABLE (bit 0) as
    // the stored L_fakemag and the network's own error say (flags come from the raw error,
    // before the default model's noise model).
    let unreliable = i64::from(g("raw_e_L_fakemag") >= 0.2 * g("L_fakemag"));
    assert_eq!(ints(&d, "result_flags")[r], 0b100 | unreliable);
    assert!(g("nn_dist").is_finite() && g("nn_dist") > 0.0);
    assert!(close(g("gdr3_parallax_w_zp"), 0.412 + 0.03464, 1e-7));
    assert!(close(g("gdr3_parallax_err"), 0.031, 1e-7));
    assert!(close(g("gdr3_zeropoint"), -0.03464, 1e-7));
    let (nn, nn_err) = (g("nn_parallax"), g("nn_parallax_model_err"));
    let (gaia, gaia_err) = (g("gdr3_parallax_w_zp"), g("gdr3_parallax_err"));
    let inverse = 1.0 / (nn_err * nn_err) + 1.0 / (gaia_err * gaia_err);
    let weighted = (nn / (nn_err * nn_err) + gaia / (gaia_err * gaia_err)) / inverse;
    assert!(close(g("weighted_parallax"), weighted, 1e-6));
    assert!(close(
        g("weighted_parallax_err"),
        (1.0 / inverse).sqrt(),
        1e-6
    ));
    assert!(close(g("weighted_dist"), 1000.0 / weighted, 1e-6));
}

/// A Source catalog listing FILE1's star (not FILE2's), and a Gaia catalog for it.
fn catalogs(dir: &Path) -> (PathBuf, PathBuf) {
    let sources = dir.join("sources.csv");
    std::fs::write(
        &sources,
        "# a DR19 Source cut\n\
         sdss4_apogee_id,sdss_id,catalogid,gaia_dr3_source_id,lead,ph_qual,k_mag,ebv,plx,e_plx,n_associated,sdss4_apogee_member_flags\n\
         2M17335483-2753043,85070001234567891,27021597917837494,4060784287612343296,tic_v8,AAA,11.25,0.05,0.8,0.02,2,16\n\
         2M00000000+0000000,1,2,3,x,BBB,10,0.1,1,0.1,1,0\n",
    )
    .unwrap();
    let gaia = dir.join("gaia.csv");
    std::fs::write(
        &gaia,
        "source_id,parallax,parallax_error,phot_g_mean_mag,nu_eff_used_in_astrometry,pseudocolour,ecl_lat,astrometric_params_solved\n\
         4060784287612343296,0.81,0.021,13.5,1.45,,-4.4,31\n",
    )
    .unwrap();
    (sources, gaia)
}

#[test]
fn a_source_catalog_fills_the_source_columns_of_the_stars_it_lists() {
    let dir = inputs();
    let (sources, gaia) = catalogs(dir.path());
    let (star, visit, dist, err) =
        predict(dir.path(), &["--sources", s(&sources), "--gaia", s(&gaia)]);
    let table = apogee(&star);
    let file1 = dir.path().join("in").join(FILE1).display().to_string();
    let file2 = dir.path().join("in").join(FILE2).display().to_string();
    let (r1, r2) = (
        row_where(&table, "source_file", &file1),
        row_where(&table, "source_file", &file2),
    );
    assert_eq!(
        ints(&table, "sdss_id")[r1],
        85070001234567891,
        "64-bit ids are exact"
    );
    assert_eq!(ints(&table, "catalogid")[r1], 27021597917837494);
    assert_eq!(ints(&table, "gaia_dr3_source_id")[r1], 4060784287612343296);
    assert_eq!(ints(&table, "n_associated")[r1], 2);
    assert_eq!(ints(&table, "sdss4_apogee_member_flags")[r1], 16);
    assert_eq!(strings(&table, "lead")[r1], "tic_v8");
    assert_eq!(strings(&table, "ph_qual")[r1], "AAA");
    assert!(
        close(floats(&table, "k_mag")[r1], 11.25, 1e-7),
        "the catalog's k_mag wins"
    );
    assert!(
        close(floats(&table, "j_mag")[r1], 11.68200016021729, 1e-7),
        "the header's j_mag stays"
    );
    // The star the catalog does not list keeps its header's values.
    assert_eq!(ints(&table, "sdss_id")[r2], -1);
    assert!(close(floats(&table, "k_mag")[r2], 10.52200031280518, 1e-7));
    assert!(close(floats(&table, "ebv")[r2], 0.192664697766304, 1e-7));
    // One summary line, not a warning per star (the DR19-style copy is listed too).
    let notes: Vec<&str> = err.lines().filter(|l| l.contains("sources.csv")).collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(notes[0].contains("1 star not in"), "{err}");
    // Visit rows carry their star's Source values.
    let visits = apogee(&visit);
    let listed: Vec<i64> = (0..visits.rows())
        .filter(|&k| strings(&visits, "source_file")[k] == file1)
        .map(|k| ints(&visits, "sdss_id")[k])
        .collect();
    assert_eq!(listed, [85070001234567891; 3]);

    // AstroNNdist takes the photometry and the Gaia parallax from the catalogs.
    let d = apogee(&dist);
    let r = row_where(&d, "source_file", &file1);
    let g = |name: &str| floats(&d, name)[r];
    assert!(close(g("a_k_mag"), 0.3517 * 0.05, 1e-6));
    let k0 = 11.25 - 0.3517 * 0.05;
    assert!(close(
        g("nn_dist"),
        1000.0 * 10f64.powf(0.2 * k0) / g("L_fakemag"),
        1e-6
    ));
    let zp = lindegren_zero_point(&ZeroPointInputs {
        phot_g_mean_mag: 13.5,
        nu_eff_used_in_astrometry: 1.45,
        pseudocolour: f64::NAN,
        ecl_lat: -4.4,
        astrometric_params_solved: 31,
    })
    .unwrap();
    assert!(
        zp != -0.03464 && zp.abs() < 0.1,
        "a zero-point of its own: {zp}"
    );
    assert!(close(g("gdr3_zeropoint"), zp, 1e-6));
    assert!(
        close(g("gdr3_parallax_w_zp"), 0.81 - zp, 1e-6),
        "--gaia's parallax replaces plx"
    );
    assert!(close(g("gdr3_parallax_err"), 0.021, 1e-6));
    let r2 = row_where(&d, "source_file", &file2);
    assert!(floats(&d, "gdr3_parallax_w_zp")[r2].is_nan());
}

#[test]
fn a_bad_source_catalog_is_an_error_before_any_work() {
    let dir = inputs();
    let no_id = dir.path().join("no_id.csv");
    std::fs::write(&no_id, "apogee_id,k_mag\n2M17335483-2753043,11\n").unwrap();
    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, [0xffu8, 0xfe, 0x00, 0x81]).unwrap();
    let missing = dir.path().join("missing.fits");
    let out_file = dir.path().join("out.fits");
    for (catalog, expected) in [
        (
            &no_id,
            "no identifier column 'sdss4_apogee_id' (columns: apogee_id, k_mag)",
        ),
        (&binary, "neither a FITS file nor a UTF-8 CSV file"),
        (&missing, "missing.fits"),
    ] {
        let input = dir.path().join("in");
        let out = astronn(&[
            "predict",
            "-o",
            s(&out_file),
            "--sources",
            s(catalog),
            s(&input),
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
        assert!(!out_file.exists(), "no output for a bad catalog");
    }
    let out = astronn(&[
        "dist",
        "-o",
        s(&out_file),
        "--gaia",
        s(&no_id),
        s(&dir.path().join("in")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no identifier column 'source_id'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn normalized_inputs_keep_the_header_values() {
    let dir = inputs();
    let normalized = dir.path().join("normalized.fits");
    succeed(&[
        "normalize",
        "--visits",
        "-o",
        s(&normalized),
        s(&dir.path().join("in")),
    ]);
    let (direct, direct_visits, direct_dist, _) = predict(dir.path(), &[]);
    let (star, visit, dist, _) = predict_into(dir.path(), "n_", &["--normalized", s(&normalized)]);
    for (a, b) in [
        (apogee(&direct), apogee(&star)),
        (apogee(&direct_visits), apogee(&visit)),
        (apogee(&direct_dist), apogee(&dist)),
    ] {
        for (name, data) in &a.columns {
            if ["t_elapsed", "t_overhead", "created"].contains(&name.as_str()) {
                continue;
            }
            let theirs = b.column(name).unwrap_or_else(|| panic!("column {name}"));
            let same = match (data, theirs) {
                (ColumnData::F32(x), ColumnData::F32(y)) => {
                    x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
                }
                (ColumnData::F64(x), ColumnData::F64(y)) => {
                    x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
                }
                (x, y) => x == y,
            };
            assert!(
                same,
                "column {name} differs between apStar and normalized inputs"
            );
        }
    }
}

#[test]
fn a_fits_source_catalog_copies_64_bit_ids_and_the_target_flag_bytes() {
    use astronn::io::columns::{ColumnKind, ColumnSpec};
    use astronn::io::table::AstraTableWriter;
    let dir = inputs();
    let catalog = dir.path().join("mwmAllStar-cut.fits");
    let mut flags = vec![0u8; 57];
    flags[0] = 0b1010_0001;
    flags[56] = 0x80;
    let mut writer = AstraTableWriter::create(
        &catalog,
        vec![
            ColumnSpec::new("SDSS4_APOGEE_ID", ColumnKind::Str { width: 18 }),
            ColumnSpec::new("SDSS_ID", ColumnKind::I64),
            ColumnSpec::new("K_MAG", ColumnKind::F64),
            ColumnSpec::new("HEALPIX", ColumnKind::I32),
            ColumnSpec::new("SDSS5_TARGET_FLAGS", ColumnKind::ByteArray { len: 57 }),
            ColumnSpec::new("UNRELATED", ColumnKind::F32),
        ],
        &[],
    )
    .unwrap();
    writer
        .append(&[
            ColumnData::Str(vec![ID1.to_string()]),
            ColumnData::I64(vec![i64::MAX - 7]),
            ColumnData::F64(vec![11.5]),
            ColumnData::I32(vec![4242]),
            ColumnData::ByteArray(vec![flags.clone()]),
            ColumnData::F32(vec![1.0]),
        ])
        .unwrap();
    writer.finish(&[]).unwrap();
    let (star, _, _, err) = predict(dir.path(), &["--sources", s(&catalog)]);
    let table = apogee(&star);
    let file1 = dir.path().join("in").join(FILE1).display().to_string();
    let r = row_where(&table, "source_file", &file1);
    assert_eq!(ints(&table, "sdss_id")[r], i64::MAX - 7);
    assert_eq!(ints(&table, "healpix")[r], 4242);
    assert!(close(floats(&table, "k_mag")[r], 11.5, 1e-7));
    assert!(
        table.column("unrelated").is_none(),
        "only Source columns are copied"
    );
    assert!(err.contains("1 star not in"), "{err}");
    // The flag bytes, read back through CFITSIO.
    let mut f = fitsio::FitsFile::open(&star).unwrap();
    let hdu = f.hdu("APOGEE").unwrap();
    let bytes: Vec<u8> = hdu.read_col(&mut f, "sdss5_target_flags").unwrap();
    assert_eq!(&bytes[r * 57..(r + 1) * 57], flags.as_slice());
}
