//! Running a sharded run on a cluster's own scheduler (no job system of our own):
//! [`slurm`] writes and submits a Slurm job array of shards and the merge that follows it,
//! and resumes such a run after failures.

pub mod slurm;
