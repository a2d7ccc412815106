//! `astronn slurm` on a real Slurm cluster: the one-node cluster of
//! `scripts/slurm_local.sh start` (which `.ci/run` starts before the tests). A 4-task job
//! array over 202 apStar inputs, merged by its dependent job, equals one `predict` run with
//! the same seed; a second submission with one task cancelled, once resumed, equals it too.
//!
//! It submits jobs only when asked, `ASTRONN_SLURM_TESTS=1` (`.ci/run` sets it after starting
//! its cluster), and only to a cluster named `astronn`, the one `scripts/slurm_local.sh`
//! configures: never to a cluster it merely finds (a user's production cluster, say).
//! Without the opt-in it is skipped with a notice; with it, a cluster that is not up or not
//! that one is a failure.

mod common;

use astronn::cluster::slurm::SlurmRun;
use common::run::{comparable_table, s, stderr, succeed};
use common::symlinked_inputs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The variable that opts in to submitting jobs.
const OPT_IN: &str = "ASTRONN_SLURM_TESTS";

/// The name `scripts/slurm_local.sh` gives its cluster.
const LOCAL_CLUSTER: &str = "astronn";

/// Whether to run: `None` (after a notice) without the opt-in. With it, panics unless a node
/// of the local test cluster is up.
fn cluster() -> Option<()> {
    if std::env::var(OPT_IN).as_deref() != Ok("1") {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "NOTICE: the Slurm test submits jobs only when {OPT_IN}=1 (and only to the local \
             cluster of `bash scripts/slurm_local.sh start`; .ci/run does both); skipping"
        );
        return None;
    }
    let name = Command::new("scontrol")
        .args(["show", "config"])
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|line| line.strip_prefix("ClusterName").map(|v| v.trim_start()))
                .and_then(|v| v.strip_prefix('='))
                .map(|v| v.trim().to_string())
        });
    assert_eq!(
        name.as_deref(),
        Some(LOCAL_CLUSTER),
        "{OPT_IN}=1, but the Slurm cluster here is not the local test cluster \
         (`bash scripts/slurm_local.sh start` starts it): jobs are submitted to no other"
    );
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
    assert!(
        up,
        "{OPT_IN}=1, but no node of the local Slurm cluster is up (start it with \
         `bash scripts/slurm_local.sh start`)"
    );
    Some(())
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
