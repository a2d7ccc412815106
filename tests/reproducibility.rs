//! The README's reproducibility claim, exactly: with the same inputs, options and seed,
//! `simulate` and `predict` write the same data in every HDU and the same header cards,
//! whatever the thread count, except for the run's own record: the cards `DATE`, `CMDLINE`,
//! `CREATED`, `ELAPSED`, `CHECKSUM` and `DATASUM`, and in result tables the columns
//! `created`, `t_elapsed` and `t_overhead`.

mod common;

use astronn::io::table::read_header_cards;
use common::run::{comparable_table, s, succeed};
use common::test_data;
use std::path::Path;

/// The header cards that record when and how a file was made.
const RUN_CARDS: [&str; 6] = [
    "DATE", "CMDLINE", "CREATED", "ELAPSED", "CHECKSUM", "DATASUM",
];
/// `(type, data start, data end)` of every HDU of a FITS file.
fn hdus(path: &Path) -> Vec<(i32, i64, i64)> {
    let mut f = fitsio::FitsFile::open(path).unwrap();
    // SAFETY: an open file handle and valid out-pointers, here and below.
    let ptr = unsafe { f.as_raw() };
    let (mut count, mut status) = (0, 0);
    unsafe { fitsio::sys::ffthdu(ptr, &mut count, &mut status) };
    (1..=count)
        .map(|i| {
            let (mut kind, mut head, mut start, mut end) = (0, 0, 0, 0);
            unsafe {
                fitsio::sys::ffmahd(ptr, i, &mut kind, &mut status);
                fitsio::sys::ffghadll(ptr, &mut head, &mut start, &mut end, &mut status);
            }
            assert_eq!(status, 0, "{}", path.display());
            (kind, start, end)
        })
        .collect()
}

/// Asserts that `a` and `b` hold the same data in every HDU and the same header cards but
/// the run's; a table named `varying_table` is compared without its timing columns.
fn assert_same_but_the_run(a: &Path, b: &Path, varying_table: Option<&str>) {
    let (ha, hb) = (hdus(a), hdus(b));
    assert_eq!(ha.len(), hb.len(), "{}", a.display());
    let (bytes_a, bytes_b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    for (i, ((_, sa, ea), (_, sb, eb))) in ha.iter().zip(&hb).enumerate() {
        let cards = |path: &Path| -> Vec<(String, String)> {
            read_header_cards(path, i)
                .unwrap()
                .into_iter()
                .filter(|(k, _)| !RUN_CARDS.contains(&k.as_str()))
                .collect()
        };
        assert_eq!(cards(a), cards(b), "{} HDU {i}", a.display());
        let name = read_header_cards(a, i)
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == "EXTNAME")
            .map(|(_, v)| v);
        if let Some(table) = name.filter(|n| Some(n.as_str()) == varying_table) {
            assert_eq!(comparable_table(a, &table), comparable_table(b, &table));
        } else {
            let (da, db) = (
                &bytes_a[*sa as usize..*ea as usize],
                &bytes_b[*sb as usize..*eb as usize],
            );
            assert!(da == db, "{} HDU {i}: the data differ", a.display());
        }
    }
}

#[test]
fn simulate_with_one_seed_writes_the_same_files_but_for_the_run_cards() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    succeed(&[
        "simulate",
        "-q",
        "--threads",
        "1",
        "--n",
        "4",
        "--seed",
        "8",
        "-o",
        s(&one),
    ]);
    succeed(&[
        "simulate",
        "-q",
        "--threads",
        "2",
        "--n",
        "4",
        "--seed",
        "8",
        "-o",
        s(&two),
    ]);
    let mut names: Vec<_> = std::fs::read_dir(&one)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "4 apStar files, truth.fits and labels.fits");
    for name in names {
        assert_same_but_the_run(&one.join(&name), &two.join(&name), None);
    }
    // The run cards are there, and do differ (the output directory is on the command line).
    let cmdline = |dir: &Path| {
        read_header_cards(&dir.join("truth.fits"), 0)
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == "CMDLINE")
            .unwrap()
            .1
    };
    assert_ne!(cmdline(&one), cmdline(&two));
}

#[test]
fn predict_with_one_seed_writes_the_same_tables_but_for_the_run_record() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, threads: &str| {
        let [star, visit, dist] =
            ["star", "visit", "dist"].map(|kind| dir.path().join(format!("{name}-{kind}.fits")));
        succeed(&[
            "predict",
            "-q",
            "--threads",
            threads,
            "--mc",
            "8",
            "--seed",
            "21",
            "-o",
            s(&star),
            "--visits-output",
            s(&visit),
            "--dist-output",
            s(&dist),
            s(&test_data("")),
        ]);
        [star, visit, dist]
    };
    let (one, two) = (run("one", "1"), run("two", "2"));
    for (a, b) in one.iter().zip(&two) {
        assert_same_but_the_run(a, b, Some("APOGEE"));
    }
}
