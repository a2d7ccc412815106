//! What a new user meets first: `default` naming the embedded models everywhere a model is
//! named, error messages that say their cause once, and counts in the right number.

mod common;

use astronn::io::table::read_primary_cards;
use common::run::{astronn, s, stderr, succeed};
use common::test_data;

const FILE1: &str = "apStar-dr17-2M17335483-2753043.fits";

/// A run that must fail with exit code 2 and say `expected`, its OS cause only once.
fn fails_once(args: &[&str], expected: &str) {
    let out = astronn(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "astronn {args:?}: {err}");
    assert_eq!(
        err.matches(expected).count(),
        1,
        "astronn {args:?} should say '{expected}' once: {err}"
    );
    assert!(
        err.matches("(os error").count() <= 1,
        "astronn {args:?} repeats its cause: {err}"
    );
}

#[test]
fn default_names_the_embedded_models_everywhere() {
    let info = succeed(&["info", "default"]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("kind:        astronn\n"), "{text}");
    assert!(
        text.contains("default:astronn_default.safetensors"),
        "{text}"
    );
    let info = succeed(&["info", "default-dist"]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("kind:        astronn_dist"), "{text}");
    assert!(text.contains("labels:      L_fakemag"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let converted = dir.path().join("default.safetensors");
    succeed(&["convert", "default-dist", "-o", s(&converted)]);
    let info = succeed(&["info", s(&converted)]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("kind:        astronn_dist"));

    // Named or not, the default models come with their noise model.
    let (named, implicit) = (
        dir.path().join("named.fits"),
        dir.path().join("implicit.fits"),
    );
    let (named_dist, implicit_dist) = (dir.path().join("nd.fits"), dir.path().join("id.fits"));
    let file = test_data(FILE1);
    for (out, dist, model) in [
        (&named, &named_dist, Some("default")),
        (&implicit, &implicit_dist, None),
    ] {
        let mut args = vec!["predict", "-q", "--mc", "4", "--seed", "3"];
        if let Some(model) = model {
            args.extend(["--model", model, "--dist-model", model]);
        }
        args.extend(["-o", s(out), "--dist-output", s(dist), s(&file)]);
        succeed(&args);
    }
    for (a, b) in [(&named, &implicit), (&named_dist, &implicit_dist)] {
        let card = |path: &std::path::Path, key: &str| {
            read_primary_cards(path)
                .unwrap()
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
        };
        assert_eq!(card(a, "NOISEMOD"), card(b, "NOISEMOD"));
        assert_eq!(
            card(a, "NOISEMOD").as_deref(),
            Some("default:noise_model_default.json")
        );
        assert_eq!(card(a, "MODELSHA"), card(b, "MODELSHA"));
    }
    // `default-dist` is a distance model: `predict --model` writes the table its output
    // calls for, DR19's distance table, which has no visits.
    let by_predict = dir.path().join("predicted_dist.fits");
    succeed(&[
        "predict",
        "-q",
        "--mc",
        "4",
        "--model",
        "default-dist",
        "-o",
        s(&by_predict),
        s(&file),
    ]);
    let pipeline = read_primary_cards(&by_predict)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "PIPELINE")
        .map(|(_, v)| v);
    assert_eq!(pipeline.as_deref(), Some("AstroNNdist"));
    fails_once(
        &[
            "predict",
            "--model",
            "default-dist",
            "-o",
            s(&dir.path().join("d2.fits")),
            "--visits-output",
            s(&dir.path().join("v2.fits")),
            s(&file),
        ],
        "is an AstroNNDist model, which runs on coadds only",
    );
    succeed(&[
        "dist",
        "-q",
        "--mc",
        "4",
        "--model",
        "default-dist",
        "-o",
        s(&dir.path().join("d.fits")),
        s(&file),
    ]);
}

#[test]
fn errors_say_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.fits");
    let missing = dir.path().join("nonexist.pt");
    fails_once(&["info", s(&missing)], "No such file or directory");
    fails_once(&["info", s(dir.path())], "directory");
    fails_once(
        &[
            "predict",
            "--model",
            s(&missing),
            "-o",
            s(&out),
            s(&test_data(FILE1)),
        ],
        "No such file or directory",
    );
    fails_once(
        &[
            "convert",
            s(&missing),
            "-o",
            s(&dir.path().join("m.safetensors")),
        ],
        "No such file or directory",
    );
    let truth = dir.path().join("truth.csv");
    std::fs::write(&truth, "sdss4_apogee_id,teff\nx,5000\n").unwrap();
    fails_once(
        &[
            "report",
            s(&dir.path().join("missing.fits")),
            s(&truth),
            "-o",
            s(&dir.path().join("report")),
        ],
        "missing.fits",
    );
    let result = dir.path().join("result.fits");
    succeed(&[
        "predict",
        "-q",
        "--mc",
        "4",
        "-o",
        s(&result),
        s(&test_data(FILE1)),
    ]);
    fails_once(
        &[
            "report",
            s(&result),
            s(&dir.path().join("missing.csv")),
            "-o",
            s(&dir.path().join("report")),
        ],
        "No such file or directory",
    );
}

#[test]
fn counts_are_in_the_right_number() {
    let dir = tempfile::tempdir().unwrap();
    for (input, expected) in [
        (test_data(FILE1), "predict: 1 spectrum, 0 NO_RESULT"),
        (test_data(""), "predict: 2 spectra, 0 NO_RESULT"),
    ] {
        let out = dir.path().join(format!("out-{}.fits", expected.len()));
        let run = succeed(&[
            "predict",
            "--mc",
            "4",
            "--seed",
            "1",
            "-o",
            s(&out),
            s(&input),
        ]);
        assert!(stderr(&run).contains(expected), "{}", stderr(&run));
    }
}

#[test]
fn an_input_that_does_not_exist_fails_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.fits");
    let typo = dir.path().join("apStar-typo.fits");
    let real = test_data(FILE1);
    let expected = format!("{}: No such file or directory", typo.display());
    fails_once(&["predict", "-o", s(&out), s(&real), s(&typo)], &expected);
    assert!(!out.exists(), "no output for a missing input");

    // In a list, the message names the list and the line too.
    let list = dir.path().join("inputs.txt");
    std::fs::write(&list, format!("{}\n\napStar-typo.fits\n", real.display())).unwrap();
    let at_list = format!("@{}", list.display());
    fails_once(
        &["predict", "-o", s(&out), &at_list],
        &format!("{}: line 3: apStar-typo.fits: No such file", list.display()),
    );
    assert!(!out.exists(), "no output for a missing list entry");

    // Every other command that reads spectra refuses it the same way, leaving nothing behind.
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "APOGEE_ID,teff\nx,5000\n").unwrap();
    let workdir = dir.path().join("work");
    let commands: [&[&str]; 6] = [
        &["normalize", "-o", s(&out)],
        &["dist", "-o", s(&out)],
        &["jacobian", "-o", s(&out)],
        &["train", "--labels", s(&labels), "-o", s(&out)],
        &["bench"],
        &[
            "slurm",
            "--shards",
            "2",
            "--workdir",
            s(&workdir),
            "--dry-run",
            "--",
        ],
    ];
    for command in commands {
        let mut args = command.to_vec();
        if command[0] == "slurm" {
            args.extend(["predict", "--seed", "1", "-o", s(&out)]);
        }
        args.extend([s(&real), s(&typo)]);
        fails_once(&args, &expected);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|name| name != "inputs.txt" && name != "labels.csv")
            .collect();
        assert!(left.is_empty(), "astronn {args:?} left {left:?}");
    }
}
