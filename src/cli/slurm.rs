//! `astronn slurm`: the command after `--` checked, its outputs redirected into the shards,
//! and the run handed to [`crate::cluster::slurm`].

use crate::cli::args::{Cli, Command, SlurmArgs};
use crate::cli::inputs::input_files;
use crate::cluster::slurm::{
    array_ranges, Resumed, Slurm, SlurmOptions, SlurmRun, Submission, TaskArg, ARRAY_SCRIPT,
    MERGE_SCRIPT,
};
use crate::io::temp::refuse_to_replace;
use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::{Path, PathBuf};

/// The subcommands a shard can run.
const SHARDABLE: [&str; 3] = ["predict", "dist", "normalize"];

pub fn slurm(args: SlurmArgs, executable: &Path, quiet: bool, overwrite: bool) -> Result<()> {
    if args.resume {
        return resume(&args, overwrite);
    }
    let shards = args.shards.context("--shards is required")?;
    if shards == 0 {
        bail!("--shards must be at least 1");
    }
    if args.cpus_per_task == 0 {
        bail!("--cpus-per-task must be at least 1");
    }
    let task = task_command(&args.command)?;
    let outputs: Vec<&Path> = task.outputs.iter().map(PathBuf::as_path).collect();
    refuse_to_replace(&outputs, &[], overwrite)?;
    if let Some(note) = &task.note {
        if !quiet {
            eprintln!("note: {note}");
        }
    }
    let mut run = SlurmRun::create(SlurmRun {
        workdir: args.workdir.clone(),
        chdir: std::env::current_dir().context("cannot read the current directory")?,
        executable: executable.to_path_buf(),
        shards,
        subcommand: task.subcommand,
        args: task.args,
        outputs: task.outputs,
        options: SlurmOptions {
            partition: args.partition.clone(),
            account: args.account.clone(),
            time: args.time.clone(),
            mem: args.mem.clone(),
            cpus_per_task: args.cpus_per_task,
            gres: args.gres.clone(),
        },
        submissions: Vec::new(),
        overwrite,
    })?;
    let work = run.workdir.display().to_string();
    eprintln!(
        "slurm: wrote {work}/{ARRAY_SCRIPT} and {work}/{MERGE_SCRIPT} ({shards} shards of {} \
         inputs)",
        task.inputs
    );
    let all: Vec<usize> = (0..shards).collect();
    if args.dry_run {
        eprintln!(
            "slurm: --dry-run: nothing submitted; to submit (recording the job ids for \
             --resume): astronn slurm --resume --workdir {work}"
        );
        return Ok(());
    }
    let submission = run.submit(&all, &Slurm)?;
    print_submission(&run, &submission);
    Ok(())
}

fn resume(args: &SlurmArgs, overwrite: bool) -> Result<()> {
    let mut run = SlurmRun::load(&args.workdir)?;
    let outputs: Vec<PathBuf> = run.outputs.iter().map(|o| run.chdir.join(o)).collect();
    let outputs: Vec<&Path> = outputs.iter().map(PathBuf::as_path).collect();
    refuse_to_replace(&outputs, &[], overwrite || run.overwrite)?;
    if overwrite && !run.overwrite {
        run.allow_overwrite()?;
    }
    if args.dry_run {
        let missing = run.incomplete_shards();
        eprintln!(
            "slurm: --dry-run: {} of {} shards without a complete output{}",
            missing.len(),
            run.shards,
            if missing.is_empty() {
                String::new()
            } else {
                format!(": {}", array_ranges(&missing))
            }
        );
        return Ok(());
    }
    match run.resume(&Slurm)? {
        Resumed::MergeQueued(job) => eprintln!(
            "slurm: every shard is complete and merge job {job} is still queued: nothing to \
             resubmit (squeue -j {job})"
        ),
        Resumed::Submitted(submission) => print_submission(&run, &submission),
    }
    Ok(())
}

fn print_submission(run: &SlurmRun, submission: &Submission) {
    let merge = &submission.merge_job;
    let outputs: Vec<String> = run
        .outputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let jobs = match &submission.array_job {
        Some(array) => {
            eprintln!(
                "slurm: submitted job array {array} (shards {} of {}) and merge job {merge} (runs \
                 once every task succeeded)",
                array_ranges(&submission.shards),
                run.shards
            );
            format!("{array},{merge}")
        }
        None => {
            eprintln!("slurm: every shard is complete; submitted merge job {merge}");
            merge.clone()
        }
    };
    eprintln!(
        "  follow:  squeue -j {jobs}   (afterwards: sacct -j {jobs}, where accounting is on)"
    );
    eprintln!("  logs:    {}/logs/", run.workdir.display());
    eprintln!(
        "  outputs: {} (written by the merge job)",
        outputs.join(", ")
    );
    eprintln!(
        "  after a failure: astronn slurm --resume --workdir {}",
        run.workdir.display()
    );
}

/// The shard command: subcommand, arguments with outputs redirected, the final outputs.
struct TaskCommand {
    subcommand: String,
    args: Vec<TaskArg>,
    outputs: Vec<PathBuf>,
    /// Files in the expanded input list.
    inputs: usize,
    /// Something the user should know (a seed chosen for them).
    note: Option<String>,
}

/// Checks the command after `--` as `astronn` would parse it, and redirects its output
/// options (`-o`/`--output`, `--visits-output`, `--dist-output`, each `--extra`'s OUTPUT)
/// into the shards.
fn task_command(command: &[String]) -> Result<TaskCommand> {
    let Some(subcommand) = command.first().filter(|c| SHARDABLE.contains(&c.as_str())) else {
        bail!(
            "the command after -- must start with predict, dist or normalize, e.g. \
             `astronn slurm --shards 10 --workdir run -- predict -o out.fits inputs/`"
        );
    };
    let parsed = parse(command.iter().map(String::as_str))?;
    if parsed.threads.is_some() {
        bail!("do not give --threads in the command: each task uses --cpus-per-task threads");
    }
    // Predict and dist draw dropout masks: every shard must use one seed.
    let (needs_seed, inputs) = match &parsed.command {
        Command::Predict(a) => {
            refuse_shard_or_normalized(a.run.shard.is_some(), a.run.normalized.is_some())?;
            (a.run.seed.is_none(), &a.run.input.inputs)
        }
        Command::Dist(a) => {
            refuse_shard_or_normalized(a.run.shard.is_some(), a.run.normalized.is_some())?;
            (a.run.seed.is_none(), &a.run.input.inputs)
        }
        Command::Normalize(a) => {
            refuse_shard_or_normalized(a.shard.is_some(), false)?;
            (false, &a.input.inputs)
        }
        _ => unreachable!("the subcommand was checked above"),
    };
    let (flags, outputs): (Vec<&str>, Vec<PathBuf>) =
        outputs_of(&parsed.command).into_iter().unzip();
    let inputs = input_files(inputs, None)?.total;
    let mut args = redirect_outputs(&command[1..], &flags);
    let mut note = None;
    if needs_seed {
        let seed = crate::pipeline::run::random_seed();
        args.extend([
            TaskArg::Literal("--seed".into()),
            TaskArg::Literal(seed.to_string()),
        ]);
        note = Some(format!(
            "no --seed given: every shard runs with --seed {seed} (shards of one run need one seed)"
        ));
    }
    check_redirection(subcommand, &args, outputs.len())?;
    Ok(TaskCommand {
        subcommand: subcommand.clone(),
        args,
        outputs,
        inputs,
        note,
    })
}

fn refuse_shard_or_normalized(shard: bool, normalized: bool) -> Result<()> {
    if shard {
        bail!("do not give --shard in the command: each task gets its own");
    }
    if normalized {
        bail!(
            "--normalized reads one file and cannot be sharded: shard the apStar inputs (or \
             run `normalize` through astronn slurm first)"
        );
    }
    Ok(())
}

/// The flag of further networks (`predict --extra MODEL OUTPUT`): its second value is an
/// output.
const EXTRA: &str = "--extra";

/// The outputs of a shardable command, each with the long flag that names it (`--extra`
/// once for each of its outputs, in order).
fn outputs_of(command: &Command) -> Vec<(&'static str, PathBuf)> {
    let (output, visits, dist, extra) = match command {
        Command::Predict(a) => (
            &a.run.output,
            a.visits_output.as_ref(),
            a.dist_output.as_ref(),
            &a.extra[..],
        ),
        Command::Dist(a) => (&a.run.output, None, None, &[][..]),
        Command::Normalize(a) => (&a.output, None, None, &[][..]),
        _ => return Vec::new(),
    };
    [
        ("--output", Some(output)),
        ("--visits-output", visits),
        ("--dist-output", dist),
    ]
    .into_iter()
    .filter_map(|(flag, path)| Some((flag, path?.clone())))
    .chain(extra.chunks(2).map(|pair| (EXTRA, pair[1].clone())))
    .collect()
}

fn parse<'a>(args: impl Iterator<Item = &'a str>) -> Result<Cli> {
    Cli::try_parse_from(std::iter::once("astronn").chain(args))
        .map_err(|e| anyhow::anyhow!("the command after -- is not valid: {}", e.render()))
}

/// The arguments with the value of each output flag (`flags[n]` is output `n`; `-o` is
/// `--output`; the k-th `--extra`'s OUTPUT is the k-th `--extra` output) replaced by
/// [`TaskArg::ShardOutput`]; everything after `--` is kept as is.
fn redirect_outputs(args: &[String], flags: &[&str]) -> Vec<TaskArg> {
    let output_of = |flag: &str| {
        let flag = if flag == "-o" { "--output" } else { flag };
        flags.iter().position(|f| *f == flag)
    };
    let mut extra_outputs = flags
        .iter()
        .enumerate()
        .filter(|(_, f)| **f == EXTRA)
        .map(|(n, _)| n);
    let mut out = Vec::new();
    let mut tokens = args.iter();
    while let Some(token) = tokens.next() {
        if token == "--" {
            out.push(TaskArg::Literal(token.clone()));
            out.extend(tokens.by_ref().map(|t| TaskArg::Literal(t.clone())));
            break;
        }
        if token == EXTRA {
            // MODEL, then OUTPUT (clap takes `--extra`'s two values as separate words only).
            out.push(TaskArg::Literal(token.clone()));
            out.extend(tokens.next().map(|model| TaskArg::Literal(model.clone())));
            if let (Some(_), Some(n)) = (tokens.next(), extra_outputs.next()) {
                out.push(TaskArg::ShardOutput(n));
            }
            continue;
        }
        if let Some(n) = output_of(token) {
            out.push(TaskArg::Literal(token.clone()));
            if tokens.next().is_some() {
                out.push(TaskArg::ShardOutput(n));
            }
            continue;
        }
        match joined_flag(token).and_then(|flag| output_of(flag).map(|n| (flag, n))) {
            Some((flag, n)) => {
                out.push(TaskArg::Literal(flag.to_string()));
                out.push(TaskArg::ShardOutput(n));
            }
            None => out.push(TaskArg::Literal(token.clone())),
        }
    }
    out
}

/// The flag of a token that carries its value: `--flag=VALUE`, `-oVALUE` or `-o=VALUE`.
fn joined_flag(token: &str) -> Option<&str> {
    if token.starts_with("--") {
        token.split_once('=').map(|(flag, _)| flag)
    } else {
        token
            .strip_prefix("-o")
            .filter(|value| !value.is_empty())
            .map(|_| "-o")
    }
}

/// Checks, by parsing the redirected command, that every output (and nothing else) now
/// goes to a shard file.
fn check_redirection(subcommand: &str, args: &[TaskArg], outputs: usize) -> Result<()> {
    let marker = |n: usize| format!("/astronn-shard-output-{n}.fits");
    let words: Vec<String> = std::iter::once(subcommand.to_string())
        .chain(args.iter().map(|a| match a {
            TaskArg::Literal(text) => text.clone(),
            TaskArg::ShardOutput(n) => marker(*n),
        }))
        .collect();
    let parsed = parse(words.iter().map(String::as_str))?;
    let found: Vec<PathBuf> = outputs_of(&parsed.command)
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    let expected: Vec<PathBuf> = (0..outputs).map(|n| PathBuf::from(marker(n))).collect();
    if found != expected {
        bail!(
            "cannot tell the output options of the command apart: write them as -o FILE, \
             --visits-output FILE, --dist-output FILE and --extra MODEL FILE"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn outputs_are_redirected_in_every_spelling() {
        let task = task_command(&words(
            "predict --seed 7 -o a.fits --visits-output=v.fits --dist-output d.fits tests/data",
        ))
        .unwrap();
        assert_eq!(
            task.outputs,
            ["a.fits", "v.fits", "d.fits"].map(PathBuf::from)
        );
        use TaskArg::{Literal as L, ShardOutput as S};
        let l = |s: &str| L(s.to_string());
        assert_eq!(
            task.args,
            [
                l("--seed"),
                l("7"),
                l("-o"),
                S(0),
                l("--visits-output"),
                S(1),
                l("--dist-output"),
                S(2),
                l("tests/data")
            ]
        );
        assert!(task.note.is_none());
        let task = task_command(&words(
            "predict --seed 7 -o a.fits --extra m1 e1.fits --extra m2 e2.fits tests/data",
        ))
        .unwrap();
        assert_eq!(
            task.outputs,
            ["a.fits", "e1.fits", "e2.fits"].map(PathBuf::from)
        );
        assert_eq!(
            task.args[4..],
            [
                l("--extra"),
                l("m1"),
                S(1),
                l("--extra"),
                l("m2"),
                S(2),
                l("tests/data")
            ]
        );
        let task = task_command(&words("dist -oout.fits --mc 10 tests/data")).unwrap();
        assert_eq!(task.args[..2], [l("-o"), S(0)]);
        assert!(task.note.unwrap().contains("--seed"));
        assert_eq!(task.args[task.args.len() - 2], l("--seed"));
    }

    #[test]
    fn refuses_what_cannot_be_sharded() {
        for (command, expected) in [
            (
                "train -o m.safetensors tests/data",
                "must start with predict",
            ),
            (
                "predict --shard 0/2 -o a.fits tests/data",
                "do not give --shard",
            ),
            ("predict --normalized n.fits -o a.fits", "cannot be sharded"),
            ("predict --bogus -o a.fits tests/data", "not valid"),
        ] {
            let err = task_command(&words(command)).err().unwrap().to_string();
            assert!(err.contains(expected), "{command}: {err}");
        }
    }
}
