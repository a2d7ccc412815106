//! Stopping the command line: SIGINT or SIGTERM during a run ends it within a second with
//! status 128 + the signal (130, 143), leaving no output and no temporary file behind.

mod common;

use common::run::s;
use common::{dir_entries, test_data};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A directory of `copies` links to each apStar file of tests/data: a run long enough to
/// stop in the middle of.
fn many_inputs(dir: &Path, copies: usize) -> std::path::PathBuf {
    let inputs = dir.join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    for entry in std::fs::read_dir(test_data("")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("apStar-") {
            for copy in 0..copies {
                std::os::unix::fs::symlink(&path, inputs.join(format!("apStar-{copy:04}-{name}")))
                    .unwrap();
            }
        }
    }
    inputs
}

/// Starts the binary with `args`, quiet.
fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_astronn"))
        .arg("--quiet")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the astronn binary starts")
}

/// Sends `signal` to `child` once `ready` holds (or after 20 s), and returns its status,
/// how long it took to end after the signal, and what it printed.
fn stop(
    mut child: Child,
    signal: &str,
    ready: impl Fn() -> bool,
) -> (std::process::ExitStatus, Duration, String) {
    let begun = Instant::now();
    while !ready() && begun.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it could be stopped: make it longer"
    );
    let sent = Instant::now();
    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    (
        output.status,
        sent.elapsed(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn sigterm_stops_predict_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = many_inputs(dir.path(), 1000);
    let out = dir.path().join("stars.fits");
    let dist = dir.path().join("dist.fits");
    let child = start(&[
        "predict",
        "--mc",
        "100",
        "-o",
        s(&out),
        "--dist-output",
        s(&dist),
        s(&inputs),
    ]);
    // Once its temporary tables exist, the run is under way.
    let (status, took, messages) = stop(child, "TERM", || dir_entries(dir.path()).len() > 1);
    assert_eq!(status.code(), Some(143), "{status:?}: {messages}");
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
    assert!(messages.contains("stopped by signal 15"), "{messages}");
    assert_eq!(
        dir_entries(dir.path()),
        ["inputs"],
        "no output, no temporary file"
    );
}

#[test]
fn ctrl_c_stops_normalize_with_status_130() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = many_inputs(dir.path(), 1000);
    let out = dir.path().join("normalized.fits");
    let child = start(&["normalize", "--visits", "-o", s(&out), s(&inputs)]);
    let (status, took, messages) = stop(child, "INT", || dir_entries(dir.path()).len() > 1);
    assert_eq!(status.code(), Some(130), "{status:?}: {messages}");
    assert!(
        status.signal().is_none(),
        "it exits, not killed by the signal"
    );
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
    assert_eq!(dir_entries(dir.path()), ["inputs"]);
}
