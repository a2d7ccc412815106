//! Outputs are never lost: an existing output is refused before any work unless
//! `--overwrite`, and a write that fails (a full disk) leaves the earlier file as it was and
//! no partial or temporary file behind.

mod common;

use common::run::{astronn, s, stderr, succeed};
use common::{dir_entries, test_data};

const STAR: &str = "apStar-dr17-2M17335483-2753043.fits";

#[test]
fn every_command_refuses_an_existing_output_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.out");
    std::fs::write(&old, b"yesterday's run").unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("summary.md"), b"an earlier report").unwrap();
    let star = test_data(STAR);
    let new = dir.path().join("new.fits");
    let cases: Vec<Vec<&str>> = vec![
        vec!["predict", "-o", s(&old), s(&star)],
        vec!["predict", "-o", s(&new), "--dist-output", s(&old), s(&star)],
        vec![
            "predict",
            "-o",
            s(&new),
            "--visits-output",
            s(&old),
            s(&star),
        ],
        vec!["dist", "-o", s(&old), s(&star)],
        vec!["normalize", "-o", s(&old), s(&star)],
        vec!["jacobian", "-o", s(&old), s(&star)],
        vec!["merge", "-o", s(&old), s(&star)],
        vec!["convert", "-o", s(&old), "default"],
        vec!["calibrate", "-o", s(&old), s(&star)],
        vec!["train", "-o", s(&old), "--labels", s(&star), s(&star)],
        vec!["report", "-o", s(&full), s(&star), s(&star)],
        vec!["simulate", "-o", s(&full), "--n", "2"],
    ];
    for args in cases {
        let out = astronn(&args);
        let messages = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {messages}");
        assert!(
            messages.contains("already exists") && messages.contains("--overwrite"),
            "{args:?}: {messages}"
        );
        assert_eq!(std::fs::read(&old).unwrap(), b"yesterday's run", "{args:?}");
        assert_eq!(
            dir_entries(dir.path()),
            ["full", "old.out"],
            "{args:?}: nothing written"
        );
    }
}

#[test]
fn overwrite_replaces_an_earlier_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stars.fits");
    std::fs::write(&out, b"yesterday's run").unwrap();
    let star = test_data(STAR);
    succeed(&[
        "--overwrite",
        "predict",
        "--mc",
        "0",
        "-o",
        s(&out),
        s(&star),
    ]);
    assert!(std::fs::read(&out).unwrap().starts_with(b"SIMPLE  ="));
    // The flag may follow the subcommand, as users type it.
    succeed(&[
        "predict",
        "--mc",
        "0",
        "-o",
        s(&out),
        s(&star),
        "--overwrite",
    ]);
    assert_eq!(dir_entries(dir.path()), ["stars.fits"]);
}

/// Runs the binary with the size of any file it writes limited to `kib` KiB (SIGXFSZ
/// ignored, so a write past it fails as on a full disk).
fn with_file_size_limit(kib: usize, args: &[&str]) -> std::process::Output {
    let script = format!(
        "ulimit -f {}; trap '' XFSZ; exec \"$0\" \"$@\"",
        kib * 1024 / 512
    );
    std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_astronn"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_failed_write_keeps_the_earlier_table_and_leaves_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stars.fits");
    let star = test_data(STAR);
    succeed(&["predict", "--mc", "0", "-o", s(&out), s(&star)]);
    let earlier = std::fs::read(&out).unwrap();
    for args in [
        vec![
            "--overwrite",
            "predict",
            "--mc",
            "0",
            "-o",
            s(&out),
            s(&star),
        ],
        vec!["--overwrite", "normalize", "-o", s(&out), s(&star)],
    ] {
        let run = with_file_size_limit(16, &args);
        let messages = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {messages}");
        let error = messages
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or("");
        assert!(
            error.starts_with(&format!("error: {}: cannot write it", out.display())),
            "{args:?}: {messages}"
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            earlier,
            "{args:?}: table kept"
        );
        assert_eq!(
            dir_entries(dir.path()),
            ["stars.fits"],
            "{args:?}: no partial file"
        );
    }
}
