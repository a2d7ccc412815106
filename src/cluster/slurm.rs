//! A sharded run as a Slurm job array (see [`crate::pipeline::shard`]).
//!
//! [`SlurmRun::create`] lays out a work directory:
//! - `array.sbatch`: a job array of N tasks; task K runs the command with `--shard K/N`,
//!   each output redirected to `shards/<output name>/shard-K.fits`;
//! - `merge.sbatch`: `astronn merge` of every output's shards into the output itself;
//! - `logs/`: one log per task (`shard-K-<array job>.log`) and per merge (`merge-<job>.log`);
//! - `run.json`: the run (command, outputs, options) and every submission's job ids.
//!
//! [`SlurmRun::submit`] submits the array, then the merge with `--dependency=afterok` on it
//! (and `--kill-on-invalid-dep=yes`: a failed task cancels the merge).
//! A shard writes its outputs atomically (temporary file renamed when complete), so after a
//! failure [`SlurmRun::resume`] resubmits exactly the shards without a complete output, then
//! the merge. Tasks run with `--shard $SLURM_ARRAY_TASK_ID/N` rather than `--shard slurm`:
//! a resubmitted subset of the array (`--array=3,7`) has other `SLURM_ARRAY_TASK_MIN` and
//! `SLURM_ARRAY_TASK_COUNT`, but the same task ids.

use crate::pipeline::merge::read_shard;
use crate::pipeline::shard::Shard;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The run's description and history in its work directory.
const STATE_FILE: &str = "run.json";
/// The job array script.
pub const ARRAY_SCRIPT: &str = "array.sbatch";
/// The merge job script.
pub const MERGE_SCRIPT: &str = "merge.sbatch";

/// What each task asks of Slurm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--time` of each task (and of the merge).
    pub time: Option<String>,
    /// `--mem` of each task (and of the merge).
    pub mem: Option<String>,
    /// `--cpus-per-task`; the task runs with `--threads` as many.
    pub cpus_per_task: usize,
    /// `--gres` of each task.
    pub gres: Option<String>,
}

/// One argument of the shard command: as given, or an output redirected into the shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskArg {
    /// Passed as it is.
    Literal(String),
    /// The shard's file for output number `n` (of [`SlurmRun::outputs`]).
    ShardOutput(usize),
}

/// Job ids of one submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The job array (none when every shard was already complete).
    pub array_job: Option<String>,
    /// The shards it runs.
    pub shards: Vec<usize>,
    /// The merge job.
    pub merge_job: String,
}

/// A sharded run on Slurm (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmRun {
    /// The work directory (absolute).
    pub workdir: PathBuf,
    /// Where tasks and merge run, so that relative paths mean what they meant to the user.
    pub chdir: PathBuf,
    /// The astronn executable the jobs run.
    pub executable: PathBuf,
    /// N.
    pub shards: usize,
    /// `predict`, `dist` or `normalize`.
    pub subcommand: String,
    /// Its arguments.
    pub args: Vec<TaskArg>,
    /// The final outputs, as the user named them (relative to `chdir`).
    pub outputs: Vec<PathBuf>,
    /// What the tasks ask of Slurm.
    pub options: SlurmOptions,
    /// Every submission, oldest first.
    pub submissions: Vec<Submission>,
    /// Whether the merge may replace final outputs that exist (`--overwrite`). Tasks always
    /// replace their own shard files: a task Slurm runs again finds its earlier output.
    #[serde(default)]
    pub overwrite: bool,
}

/// How jobs reach the scheduler (the real one runs Slurm's commands; tests may fake it).
pub trait Scheduler {
    /// Runs `sbatch --parsable ARGS` and returns the job id.
    fn sbatch(&self, args: &[String]) -> Result<String>;
    /// Whether job `id` (or any task of it) is still pending or running.
    fn queued(&self, id: &str) -> Result<bool>;
    /// Cancels job `id`.
    fn cancel(&self, id: &str) -> Result<()>;
}

/// Slurm through `sbatch`, `squeue` and `scancel` on the PATH.
pub struct Slurm;

impl Slurm {
    fn run(program: &str, args: &[String]) -> Result<std::process::Output> {
        Command::new(program).args(args).output().map_err(|e| {
            Error::Invalid(format!(
                "cannot run {program}: {e} (is Slurm installed and on the PATH? --dry-run only \
                 writes the scripts)"
            ))
        })
    }
}

impl Scheduler for Slurm {
    fn sbatch(&self, args: &[String]) -> Result<String> {
        let mut all = vec!["--parsable".to_string()];
        all.extend_from_slice(args);
        let out = Slurm::run("sbatch", &all)?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "sbatch {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        // `--parsable` prints `id` or `id;cluster`.
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() {
            return Err(Error::Invalid(format!(
                "sbatch printed no job id: '{text}'"
            )));
        }
        Ok(id)
    }

    fn queued(&self, id: &str) -> Result<bool> {
        let args = ["-h", "-o", "%i", "-j", id].map(String::from);
        let out = Slurm::run("squeue", &args)?;
        // squeue refuses ids it no longer knows: the job ended long ago.
        Ok(out.status.success() && !String::from_utf8_lossy(&out.stdout).trim().is_empty())
    }

    fn cancel(&self, id: &str) -> Result<()> {
        let out = Slurm::run("scancel", &[id.to_string()])?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "scancel {id} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

/// What [`SlurmRun::resume`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Resumed {
    /// Resubmitted these shards (maybe none) and the merge.
    Submitted(Submission),
    /// Every shard is complete and the merge job is still queued: nothing to do.
    MergeQueued(String),
}

impl SlurmRun {
    /// Lays out a new run in `workdir` (created if needed; refused if it already holds a
    /// run): directories, both scripts and the state file.
    pub fn create(mut run: SlurmRun) -> Result<SlurmRun> {
        if run.shards == 0 {
            return Err(Error::Invalid("--shards must be at least 1".into()));
        }
        let state = run.workdir.join(STATE_FILE);
        if state.exists() {
            return Err(Error::file(
                &state,
                "the work directory already holds a run: resume it with --resume, or choose \
                 another --workdir",
            ));
        }
        std::fs::create_dir_all(&run.workdir).map_err(|e| Error::io(&run.workdir, e))?;
        run.workdir = run
            .workdir
            .canonicalize()
            .map_err(|e| Error::io(&run.workdir, e))?;
        let mut names = std::collections::HashSet::new();
        for output in &run.outputs {
            if !names.insert(output_name(output)) {
                return Err(Error::Invalid(format!(
                    "two outputs are called {}: give them different file names",
                    output_name(output)
                )));
            }
        }
        for dir in (0..run.outputs.len())
            .map(|i| run.shard_dir(i))
            .chain([run.workdir.join("logs")])
        {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        run.write_scripts()?;
        run.save()?;
        Ok(run)
    }

    /// Writes the job array's and the merge's scripts.
    fn write_scripts(&self) -> Result<()> {
        for (name, text) in [
            (ARRAY_SCRIPT, self.array_script()),
            (MERGE_SCRIPT, self.merge_script()),
        ] {
            let path = self.workdir.join(name);
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }

    /// Lets the merge replace final outputs that exist (`--overwrite` given on `--resume`).
    pub fn allow_overwrite(&mut self) -> Result<()> {
        self.overwrite = true;
        self.write_scripts()?;
        self.save()
    }

    /// The run in `workdir`.
    pub fn load(workdir: &Path) -> Result<SlurmRun> {
        let path = workdir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::io(
                &path,
                std::io::Error::new(
                    e.kind(),
                    format!("{e} (is this the --workdir of an `astronn slurm` run?)"),
                ),
            )
        })?;
        serde_json::from_str(&text)
            .map_err(|e| Error::file(&path, format!("not a run description: {e}")))
    }

    fn save(&self) -> Result<()> {
        let path = self.workdir.join(STATE_FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invalid(format!("cannot describe the run: {e}")))?;
        let temp = crate::io::temp::TempPath::beside(&path, "json")?;
        std::fs::write(temp.path(), text).map_err(|e| Error::io(temp.path(), e))?;
        temp.persist(&path)
    }

    /// The directory of output `n`'s shards.
    pub fn shard_dir(&self, n: usize) -> PathBuf {
        self.workdir
            .join("shards")
            .join(output_name(&self.outputs[n]))
    }

    /// Shard `k`'s file of output `n`.
    pub fn shard_path(&self, n: usize, k: usize) -> PathBuf {
        self.shard_dir(n).join(format!("shard-{k}.fits"))
    }

    /// The start of a job script: interpreter, `comment`, and the `#SBATCH` lines both
    /// scripts share (job name, cores, log file `logs/<log>`, directory, Slurm options).
    fn script_head(&self, comment: String, job_name: &str, cpus: usize, log: &str) -> Vec<String> {
        let o = &self.options;
        let mut lines = vec![
            "#!/bin/bash".to_string(),
            format!("# astronn slurm: {comment}"),
            format!("#SBATCH --job-name=astronn-{job_name}"),
            format!("#SBATCH --cpus-per-task={cpus}"),
            format!("#SBATCH --output={}/logs/{log}", self.workdir.display()),
            format!("#SBATCH --chdir={}", self.chdir.display()),
        ];
        for (flag, value) in [
            ("partition", &o.partition),
            ("account", &o.account),
            ("time", &o.time),
            ("mem", &o.mem),
        ] {
            if let Some(value) = value {
                lines.push(format!("#SBATCH --{flag}={value}"));
            }
        }
        lines
    }

    /// The job array script.
    pub fn array_script(&self) -> String {
        let comment = format!(
            "one task per shard of `astronn {}` ({} shards).",
            self.subcommand, self.shards
        );
        let mut lines = self.script_head(
            comment,
            &self.subcommand,
            self.options.cpus_per_task,
            "shard-%a-%A.log",
        );
        lines.push(format!("#SBATCH --array=0-{}", self.shards - 1));
        if let Some(gres) = &self.options.gres {
            lines.push(format!("#SBATCH --gres={gres}"));
        }
        lines.push("set -euo pipefail".into());
        let mut command = vec![
            "exec".to_string(),
            shell_quote(&self.executable.to_string_lossy()),
            "--threads".into(),
            self.options.cpus_per_task.to_string(),
            "--overwrite".into(),
            shell_quote(&self.subcommand),
            "--shard".into(),
            format!("\"${{SLURM_ARRAY_TASK_ID}}/{}\"", self.shards),
        ];
        command.extend(self.args.iter().map(|arg| match arg {
            TaskArg::Literal(text) => shell_quote(text),
            TaskArg::ShardOutput(n) => format!(
                "\"{}/shard-${{SLURM_ARRAY_TASK_ID}}.fits\"",
                double_quote_escape(&self.shard_dir(*n).to_string_lossy())
            ),
        }));
        lines.push(command.join(" "));
        lines.join("\n") + "\n"
    }

    /// The merge job script.
    pub fn merge_script(&self) -> String {
        let comment = format!(
            "merges the {} shards of `astronn {}` into its outputs.",
            self.shards, self.subcommand
        );
        let job_name = format!("{}-merge", self.subcommand);
        let mut lines = self.script_head(comment, &job_name, 1, "merge-%j.log");
        lines.push("set -euo pipefail".into());
        for (n, output) in self.outputs.iter().enumerate() {
            lines.push(
                [
                    shell_quote(&self.executable.to_string_lossy()),
                    if self.overwrite {
                        "--overwrite merge"
                    } else {
                        "merge"
                    }
                    .into(),
                    "-o".into(),
                    shell_quote(&output.to_string_lossy()),
                    shell_quote(&self.shard_dir(n).to_string_lossy()),
                ]
                .join(" "),
            );
        }
        lines.join("\n") + "\n"
    }

    /// The shards without a complete output: some output's shard file is missing,
    /// truncated, or not of this shard.
    pub fn incomplete_shards(&self) -> Vec<usize> {
        (0..self.shards)
            .filter(|&k| (0..self.outputs.len()).any(|n| !self.is_complete(n, k)))
            .collect()
    }

    fn is_complete(&self, n: usize, k: usize) -> bool {
        let expected = Shard {
            index: k,
            count: self.shards,
        };
        read_shard(&self.shard_path(n, k)).is_ok_and(|file| file.shard == expected)
    }

    /// Submits `shards` of the array (all of them: `0..N`) and the merge after them; with
    /// no shards, the merge alone.
    pub fn submit(&mut self, shards: &[usize], scheduler: &dyn Scheduler) -> Result<Submission> {
        let array_script = self.workdir.join(ARRAY_SCRIPT).display().to_string();
        let merge_script = self.workdir.join(MERGE_SCRIPT).display().to_string();
        let array_job = if shards.is_empty() {
            None
        } else {
            Some(scheduler.sbatch(&[format!("--array={}", array_ranges(shards)), array_script])?)
        };
        let mut merge_args = Vec::new();
        if let Some(id) = &array_job {
            // A failed shard makes the dependency unsatisfiable: the merge job is then
            // cancelled, not left pending forever on clusters without `kill_invalid_depend`.
            merge_args.push(format!("--dependency=afterok:{id}"));
            merge_args.push("--kill-on-invalid-dep=yes".to_string());
        }
        merge_args.push(merge_script);
        let merge_job = scheduler.sbatch(&merge_args)?;
        let submission = Submission {
            array_job,
            shards: shards.to_vec(),
            merge_job,
        };
        self.submissions.push(submission.clone());
        self.save()?;
        Ok(submission)
    }

    /// Resubmits the shards without a complete output, then the merge. Refused while a task
    /// of the last submission is still queued or running; a merge job still waiting for a
    /// failed array is cancelled first.
    pub fn resume(&mut self, scheduler: &dyn Scheduler) -> Result<Resumed> {
        if let Some(last) = self.submissions.last().cloned() {
            if let Some(array) = &last.array_job {
                if scheduler.queued(array)? {
                    return Err(Error::Invalid(format!(
                        "job {array} of this run still has tasks queued or running (squeue -j \
                         {array}): wait for them to end, or scancel {array}, then resume"
                    )));
                }
            }
            let missing = self.incomplete_shards();
            if scheduler.queued(&last.merge_job)? {
                if missing.is_empty() {
                    return Ok(Resumed::MergeQueued(last.merge_job));
                }
                scheduler.cancel(&last.merge_job)?;
            }
            return Ok(Resumed::Submitted(self.submit(&missing, scheduler)?));
        }
        let all: Vec<usize> = (0..self.shards).collect();
        Ok(Resumed::Submitted(self.submit(&all, scheduler)?))
    }
}

/// The directory name of an output's shards: its file name.
fn output_name(output: &Path) -> String {
    output.file_name().map_or_else(
        || "output".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `shards` (sorted) as Slurm's array list: `0-3,7,9-10`.
pub fn array_ranges(shards: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < shards.len() {
        let mut j = i;
        while j + 1 < shards.len() && shards[j + 1] == shards[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            shards[i].to_string()
        } else {
            format!("{}-{}", shards[i], shards[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// `text` as one bash word: unchanged when plain, else single-quoted.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%_+=:,./-".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `text` escaped for use inside bash double quotes.
fn double_quote_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn array_lists_compress_runs() {
        assert_eq!(array_ranges(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_ranges(&[1, 3, 4, 5, 9]), "1,3-5,9");
        assert_eq!(array_ranges(&[]), "");
    }

    #[test]
    fn quoting_survives_bash() {
        let printed = |word: String| {
            let script = format!("printf '%s' {word}");
            let out = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        for text in ["plain/path.fits", "it's here", "$HOME `x`", "a b\"c", ""] {
            assert_eq!(printed(shell_quote(text)), text);
            assert_eq!(printed(format!("\"{}\"", double_quote_escape(text))), text);
        }
    }

    /// Records what would be submitted; tasks listed in `queued` are still in the queue.
    #[derive(Default)]
    struct FakeSlurm {
        submitted: RefCell<Vec<Vec<String>>>,
        cancelled: RefCell<Vec<String>>,
        queued: Vec<String>,
    }

    impl Scheduler for FakeSlurm {
        fn sbatch(&self, args: &[String]) -> Result<String> {
            self.submitted.borrow_mut().push(args.to_vec());
            Ok((100 + self.submitted.borrow().len()).to_string())
        }
        fn queued(&self, id: &str) -> Result<bool> {
            Ok(self.queued.iter().any(|q| q == id))
        }
        fn cancel(&self, id: &str) -> Result<()> {
            self.cancelled.borrow_mut().push(id.to_string());
            Ok(())
        }
    }

    fn run_in(dir: &Path) -> SlurmRun {
        SlurmRun::create(SlurmRun {
            workdir: dir.join("work"),
            chdir: dir.to_path_buf(),
            executable: PathBuf::from("/opt/astronn"),
            shards: 3,
            subcommand: "predict".into(),
            args: vec![
                TaskArg::Literal("-o".into()),
                TaskArg::ShardOutput(0),
                TaskArg::Literal("--seed".into()),
                TaskArg::Literal("7".into()),
                TaskArg::Literal("my list.txt".into()),
            ],
            outputs: vec![PathBuf::from("out/astraAllStarAstroNN.fits")],
            options: SlurmOptions {
                cpus_per_task: 2,
                partition: Some("debug".into()),
                ..SlurmOptions::default()
            },
            submissions: Vec::new(),
            overwrite: false,
        })
        .unwrap()
    }

    #[test]
    fn scripts_run_each_shard_and_merge_every_output() {
        let dir = tempfile::tempdir().unwrap();
        let run = run_in(dir.path());
        let work = run.workdir.display().to_string();
        let array = std::fs::read_to_string(run.workdir.join(ARRAY_SCRIPT)).unwrap();
        assert!(array.contains("#SBATCH --array=0-2\n"), "{array}");
        assert!(array.contains("#SBATCH --cpus-per-task=2\n"));
        assert!(array.contains("#SBATCH --partition=debug\n"));
        assert!(array.contains(&format!(
            "exec /opt/astronn --threads 2 --overwrite predict --shard \"${{SLURM_ARRAY_TASK_ID}}/3\" -o \
             \"{work}/shards/astraAllStarAstroNN.fits/shard-${{SLURM_ARRAY_TASK_ID}}.fits\" \
             --seed 7 'my list.txt'\n"
        )));
        let merge = std::fs::read_to_string(run.workdir.join(MERGE_SCRIPT)).unwrap();
        assert!(merge.contains(&format!(
            "/opt/astronn merge -o out/astraAllStarAstroNN.fits \
             {work}/shards/astraAllStarAstroNN.fits\n"
        )));
        assert_eq!(SlurmRun::load(&run.workdir).unwrap(), run);
        // Asked to, the merge replaces an existing output.
        let mut replacing = run.clone();
        replacing.allow_overwrite().unwrap();
        let merge = std::fs::read_to_string(run.workdir.join(MERGE_SCRIPT)).unwrap();
        assert!(
            merge.contains("/opt/astronn --overwrite merge -o out/"),
            "{merge}"
        );
        assert!(SlurmRun::load(&run.workdir).unwrap().overwrite);
        let again = SlurmRun::create(SlurmRun {
            workdir: run.workdir.clone(),
            ..run.clone()
        });
        assert!(again
            .unwrap_err()
            .to_string()
            .contains("already holds a run"));
    }

    #[test]
    fn resume_resubmits_only_incomplete_shards() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = run_in(dir.path());
        let slurm = FakeSlurm::default();
        let first = run.submit(&[0, 1, 2], &slurm).unwrap();
        assert_eq!(first.array_job.as_deref(), Some("101"));
        assert_eq!(
            slurm.submitted.borrow()[1],
            [
                "--dependency=afterok:101".to_string(),
                "--kill-on-invalid-dep=yes".to_string(),
                run.workdir.join(MERGE_SCRIPT).display().to_string()
            ]
        );
        // Shard 1 finished; 0 left a file of another shard, 2 nothing.
        let shard = |k: usize, path: &Path| {
            let cards = crate::pipeline::shard::ShardedInputs::new(
                vec![PathBuf::from("a"), PathBuf::from("b"), PathBuf::from("c")],
                crate::pipeline::shard::Shard::new(k, 3).unwrap(),
            )
            .cards();
            let columns = vec![crate::io::columns::ColumnSpec::new(
                "x",
                crate::io::columns::ColumnKind::F64,
            )];
            let writer = crate::io::table::AstraTableWriter::create(path, columns, &cards).unwrap();
            writer.finish(&[]).unwrap();
        };
        shard(1, &run.shard_path(0, 1));
        shard(2, &run.shard_path(0, 0));
        assert_eq!(run.incomplete_shards(), [0, 2]);

        let busy = FakeSlurm {
            queued: vec!["101".into()],
            ..FakeSlurm::default()
        };
        let err = run.resume(&busy).unwrap_err().to_string();
        assert!(
            err.contains("job 101 of this run still has tasks queued"),
            "{err}"
        );

        let waiting_merge = FakeSlurm {
            queued: vec!["102".into()],
            ..FakeSlurm::default()
        };
        let Resumed::Submitted(again) = run.resume(&waiting_merge).unwrap() else {
            panic!("nothing resubmitted")
        };
        assert_eq!(*waiting_merge.cancelled.borrow(), ["102"]);
        assert_eq!(again.shards, [0, 2]);
        assert_eq!(waiting_merge.submitted.borrow()[0][0], "--array=0,2");
        assert_eq!(SlurmRun::load(&run.workdir).unwrap().submissions.len(), 2);
    }
}
