//! `astronn slurm` on a real Slurm cluster: the one-node cluster of
//! `scripts/slurm_local.sh start` (which `.ci/run` starts before the tests). A 4-task job
//! array over 202 apStar inputs, merged by its dependent job, equals one `predict` run with
//! the same seed; a second submission with one task cancelled, once resumed, equals it too.
//!
//! Without a cluster the test is skipped with a notice; under `CI=true` that is a failure.

mod common;

use astronn::cluster::slurm::SlurmRun;
use common::run::{comparable_table, s, stderr, succeed};
use common::symlinked_inputs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether a Slurm node is up; `None` (after a notice) when the test should be skipped.
fn cluster() -> Option<()> {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|out| {
            let states = String::from_utf8_lossy(&out.stdout);
            out.status.success()
                && states
                    .lines()
                    .any(|s| matches!(s.trim(), "idle" | "mix" | "alloc" | "comp"))
        });
    if up {
        return Some(());
    }
    common::skip(
        "no Slurm cluster is up (start one with `bash scripts/slurm_local.sh start`; .ci/run \
         does)",
    );
    None
}

/// The options every run of this test shares, then the outputs `<dir>/{star,visit,dist}.fits`.
fn predict_args(list: &Path, out: &Path) -> Vec<String> {
    let [star, visit, dist] = ["star", "visit", "dist"].map(|n| out.join(format!("{n}.fits")));
    [
        "predict",
        "--seed",
        "7",
        "--mc",
        "20",
        "-o",
        s(&star),
        "--visits-output",
        s(&visit),
        "--dist-output",
        s(&dist),
        &format!("@{}", s(list)),
    ]
    .map(String::from)
    .to_vec()
}

/// Submits `astronn slurm --shards 4` (or `--resume`) for `workdir`; returns the run.
fn submit(workdir: &Path, command: Option<&[String]>) -> SlurmRun {
    let mut args = vec!["slurm".to_string(), "--workdir".into(), s(workdir).into()];
    match command {
        Some(command) => {
            args.extend(["--shards", "4", "--cpus-per-task", "1", "--"].map(String::from));
            args.extend_from_slice(command);
        }
        None => args.push("--resume".into()),
    }
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = succeed(&words);
    assert!(stderr(&out).contains("squeue -j"), "{}", stderr(&out));
    SlurmRun::load(workdir).unwrap()
}

/// Waits until none of `jobs` is pending or running (at most two minutes).
fn wait_for(jobs: &[String], workdir: &Path) {
    let start = Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-o", "%i %T", "-j", &jobs.join(",")])
            .output()
            .unwrap();
        let queued = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if queued.is_empty() {
            return;
        }
        if start.elapsed() > Duration::from_secs(120) {
            panic!(
                "jobs still queued after 2 minutes: {queued}\n{}",
                logs(workdir)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every log of the run, for failure messages.
fn logs(workdir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(workdir.join("logs")).unwrap() {
        let path = entry.unwrap().path();
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        text += &format!("--- {}\n{log}\n", path.display());
    }
    text
}

/// The jobs of a run's last submission.
fn last_jobs(run: &SlurmRun) -> Vec<String> {
    let last = run.submissions.last().unwrap();
    last.array_job
        .iter()
        .chain([&last.merge_job])
        .cloned()
        .collect()
}

/// Asserts that the three tables in `out` hold what the single run in `expected` holds.
fn assert_same_tables(expected: &Path, out: &Path, workdir: &Path) {
    for name in ["star.fits", "visit.fits", "dist.fits"] {
        let merged = out.join(name);
        assert!(
            merged.exists(),
            "{} missing\n{}",
            merged.display(),
            logs(workdir)
        );
        let rows = common::run::apogee(&expected.join(name)).rows();
        assert!(rows >= 202, "{name}: {rows} rows");
        assert_eq!(common::run::apogee(&merged).rows(), rows, "{name}");
        assert_eq!(
            comparable_table(&merged, "APOGEE"),
            comparable_table(&expected.join(name), "APOGEE"),
            "{name}"
        );
    }
}

#[test]
fn slurm_array_equals_one_run_and_resumes_after_a_cancelled_task() {
    let Some(()) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let list = symlinked_inputs(dir, 101, false);
    let single = dir.join("single");
    std::fs::create_dir(&single).unwrap();
    let args = predict_args(&list, &single);
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    succeed(&[&["-q"], &words[..]].concat());
    let visits = common::run::apogee(&single.join("visit.fits")).rows();
    assert!(visits >= 404, "{visits} visit rows");

    // One submission, left alone.
    let (work, out) = (dir.join("work1"), dir.join("out1"));
    std::fs::create_dir(&out).unwrap();
    let run = submit(&work, Some(&predict_args(&list, &out)));
    wait_for(&last_jobs(&run), &work);
    assert_same_tables(&single, &out, &work);
    assert!(run.incomplete_shards().is_empty());

    // Another, with one task cancelled as soon as it is submitted (on this 2-core machine it
    // waits for a free core): the merge never runs, and resuming reruns that shard alone.
    let (work, out) = (dir.join("work2"), dir.join("out2"));
    std::fs::create_dir(&out).unwrap();
    let run = submit(&work, Some(&predict_args(&list, &out)));
    let array = run.submissions[0].array_job.clone().unwrap();
    let cancel = Command::new("scancel")
        .arg(format!("{array}_3"))
        .output()
        .unwrap();
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    wait_for(&last_jobs(&run), &work);
    assert_eq!(run.incomplete_shards(), [3], "{}", logs(&work));
    assert!(
        !out.join("star.fits").exists(),
        "the merge ran without shard 3"
    );

    let resumed = submit(&work, None);
    let again = resumed.submissions.last().unwrap();
    assert_eq!(again.shards, [3]);
    wait_for(&last_jobs(&resumed), &work);
    assert_same_tables(&single, &out, &work);
}
