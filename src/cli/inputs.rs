//! The input spectra of a command: its input list expanded, and the shard of it `--shard`
//! selects.

use crate::pipeline::shard::{Shard, ShardedInputs};
use anyhow::Result;

/// The expanded input list, and the part of it `--shard` selects (all of it without).
pub fn input_files(inputs: &[String], shard: Option<&str>) -> Result<ShardedInputs> {
    let shard = shard.map(Shard::parse).transpose()?;
    Ok(ShardedInputs::expand(inputs, shard)?)
}
