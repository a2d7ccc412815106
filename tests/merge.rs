//! `--shard K/N` and `merge`: the shards of a run, merged, hold every value one unsharded run
//! with the same seed writes (all columns but the timing ones, rows in the same order), and
//! `merge` refuses, with exit code 2 and nothing written, sets of shards that are not one
//! whole run.

mod common;

use astronn::io::normalized::NormalizedReader;
use astronn::io::table::read_header_cards;
use common::run::{astronn, comparable_table, s, stderr, strings, succeed};
use common::symlinked_inputs;
use std::path::{Path, PathBuf};

/// The value of a primary-header card.
fn card(path: &Path, key: &str) -> Option<String> {
    read_header_cards(path, 0)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `predict` over `list` (with `extra` options) writing `<stem>-{star,visit,dist}.fits`.
fn predict(dir: &Path, list: &Path, stem: &str, extra: &[&str]) -> [PathBuf; 3] {
    let outputs = ["star", "visit", "dist"].map(|kind| dir.join(format!("{stem}-{kind}.fits")));
    let at_list = format!("@{}", s(list));
    let mut args = vec![
        "predict",
        "-q",
        "--mc",
        "4",
        "-o",
        s(&outputs[0]),
        "--visits-output",
        s(&outputs[1]),
        "--dist-output",
        s(&outputs[2]),
    ];
    args.extend_from_slice(extra);
    args.push(&at_list);
    succeed(&args);
    outputs
}

#[test]
fn merged_shards_equal_one_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let list = symlinked_inputs(dir, 5, true);
    let whole = predict(dir, &list, "whole", &["--seed", "7"]);
    let shards: Vec<[PathBuf; 3]> = (0..3)
        .map(|k| {
            let shard = format!("{k}/3");
            predict(
                dir,
                &list,
                &format!("shard{k}"),
                &["--seed", "7", "--shard", &shard],
            )
        })
        .collect();
    assert_eq!(card(&shards[1][0], "SHARD").as_deref(), Some("1"));
    assert_eq!(card(&shards[1][0], "NINPUTS").as_deref(), Some("11"));
    assert_eq!(card(&shards[1][0], "SHINPUTS").as_deref(), Some("4"));

    // Coadds: the shard files in any order; visits: a directory of them; distances: gzipped.
    let visit_dir = dir.join("visit-shards");
    std::fs::create_dir(&visit_dir).unwrap();
    for (k, shard) in shards.iter().enumerate() {
        std::fs::rename(&shard[1], visit_dir.join(format!("part{k}.fits"))).unwrap();
    }
    let merged = [
        dir.join("merged-star.fits"),
        dir.join("merged-visit.fits"),
        dir.join("merged-dist.fits.gz"),
    ];
    let star_shards: Vec<&str> = shards.iter().rev().map(|p| s(&p[0])).collect();
    let out = succeed(&[&["merge", "-o", s(&merged[0])], &star_shards[..]].concat());
    assert!(
        stderr(&out).contains("merge: 3 shards -> "),
        "{}",
        stderr(&out)
    );
    succeed(&["merge", "-q", "-o", s(&merged[1]), s(&visit_dir)]);
    let dist_shards: Vec<&str> = shards.iter().map(|p| s(&p[2])).collect();
    succeed(&[&["merge", "-q", "-o", s(&merged[2])], &dist_shards[..]].concat());

    for (whole, merged) in whole.iter().zip(&merged) {
        let expected = comparable_table(whole, "APOGEE");
        assert!(expected
            .iter()
            .any(|(name, _, _)| name == "e_fe_h" || name == "L_fakemag"));
        assert_eq!(
            comparable_table(merged, "APOGEE"),
            expected,
            "{}",
            merged.display()
        );
        for key in [
            "NSPECTRA", "NNORESLT", "SEED", "MODELSHA", "INPUTSHA", "NINPUTS",
        ] {
            assert_eq!(
                card(merged, key),
                card(whole, key),
                "{key} of {}",
                merged.display()
            );
        }
        assert_eq!(card(merged, "NSHARDS").as_deref(), Some("3"));
        assert_eq!(card(merged, "SHARD"), None);
        let history: Vec<String> = read_header_cards(merged, 0)
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k == "HISTORY")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(history.len(), 4, "{history:?}");
        assert!(
            history[2].starts_with("shard 1/3: 4 inputs, "),
            "{history:?}"
        );
    }
    // The run had one unreadable input: a NO_RESULT row in its place in the coadd table,
    // and one in the visit table.
    assert_eq!(card(&merged[0], "NNORESLT").as_deref(), Some("2"));
    let files = strings(&common::run::apogee(&merged[0]), "source_file");
    assert!(
        files[6].ends_with("apStar-dr17-unreadable.fits"),
        "{files:?}"
    );
}

#[test]
fn merged_normalize_shards_equal_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let list = symlinked_inputs(dir, 3, true);
    let at_list = format!("@{}", s(&list));
    let whole = dir.join("whole.fits");
    succeed(&["normalize", "-q", "--visits", "-o", s(&whole), &at_list]);
    let mut shards = Vec::new();
    for k in 0..2 {
        let shard = dir.join(format!("shard{k}.fits"));
        let part = format!("{k}/2");
        succeed(&[
            "normalize",
            "-q",
            "--visits",
            "--shard",
            &part,
            "-o",
            s(&shard),
            &at_list,
        ]);
        shards.push(shard);
    }
    let merged = dir.join("merged.fits");
    succeed(&[
        "merge",
        "-q",
        "-o",
        s(&merged),
        s(&shards[1]),
        s(&shards[0]),
    ]);
    let (mut a, mut b) = (
        NormalizedReader::open(&whole).unwrap(),
        NormalizedReader::open(&merged).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 7, "visits and coadds of 7 files");
    let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
    assert_eq!(
        bits(a.read_flux(0, a.len()).unwrap()),
        bits(b.read_flux(0, b.len()).unwrap())
    );
    assert_eq!(
        bits(a.read_e_flux(0, a.len()).unwrap()),
        bits(b.read_e_flux(0, b.len()).unwrap())
    );
    assert_eq!(
        comparable_table(&whole, "SPECTRA"),
        comparable_table(&merged, "SPECTRA")
    );
    assert_eq!(card(&merged, "VISITS").as_deref(), Some("T"));
    // A merged file is what `predict --normalized` reads.
    let out = dir.join("predicted.fits");
    succeed(&[
        "predict",
        "-q",
        "--mc",
        "0",
        "--normalized",
        s(&merged),
        "-o",
        s(&out),
    ]);
}

/// Asserts that `merge` of `shards` fails with exit code 2 and a message holding `expected`,
/// writing nothing.
fn refused(dir: &Path, shards: &[&Path], expected: &str) {
    let output = dir.join("out").join("merged.fits");
    std::fs::create_dir_all(output.parent().unwrap()).unwrap();
    let mut args = vec!["merge", "-o", s(&output)];
    args.extend(shards.iter().map(|p| s(p)));
    let out = astronn(&args);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert!(
        message.contains(expected),
        "expected '{expected}' in: {message}"
    );
    let left: Vec<_> = std::fs::read_dir(output.parent().unwrap())
        .unwrap()
        .collect();
    assert!(left.is_empty(), "merge left files behind: {left:?}");
}

#[test]
fn merge_refuses_shards_that_are_not_one_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let list = symlinked_inputs(dir, 2, true);
    let dist = |name: &str, shard: &str, extra: &[&str]| -> PathBuf {
        let path = dir.join(name);
        let at_list = format!("@{}", s(&list));
        let mut args = vec!["dist", "-q", "--mc", "2", "--shard", shard, "-o", s(&path)];
        args.extend_from_slice(extra);
        args.push(&at_list);
        succeed(&args);
        path
    };
    let seven = ["--seed", "7"];
    let [a, b, c] = [0, 1, 2].map(|k| dist(&format!("s{k}.fits"), &format!("{k}/3"), &seven));
    let other_seed = dist("seed8.fits", "1/3", &["--seed", "8"]);
    let model = dir.join("other.safetensors");
    succeed(&[
        "convert",
        "default-dist",
        "-o",
        s(&model),
        "--description",
        "the same weights, another file",
    ]);
    let other_model = dist("model.fits", "1/3", &["--seed", "7", "--model", s(&model)]);
    let truncated = dir.join("truncated.fits");
    let bytes = std::fs::read(&c).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 3000]).unwrap();
    let unsharded = dir.join("whole.fits");
    succeed(&[
        "dist",
        "-q",
        "--mc",
        "2",
        "--seed",
        "7",
        "-o",
        s(&unsharded),
        &format!("@{}", s(&list)),
    ]);

    refused(dir, &[&a, &c], "shard 1 of 3 is missing");
    refused(dir, &[&a, &b, &b, &c], "shard 1 of 3 is given twice");
    refused(
        dir,
        &[&a, &other_seed, &c],
        "the seed (SEED) is 7 in the first and 8",
    );
    refused(dir, &[&a, &other_model, &c], "the model (SHA-256)");
    refused(
        dir,
        &[&a, &b, &truncated],
        "truncated.fits: the file is truncated",
    );
    refused(
        dir,
        &[&a, &b, &c, &unsharded],
        "the number of shards (NSHARDS) is 3",
    );
    refused(dir, &[&a, &b, &list], "not a readable FITS file");
    // The three right ones merge.
    succeed(&[
        "merge",
        "-q",
        "-o",
        s(&dir.join("ok.fits")),
        s(&a),
        s(&b),
        s(&c),
    ]);
}
