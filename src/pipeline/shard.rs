//! Splitting one run over many processes (a Slurm job array, several machines).
//!
//! A [`Shard`] is the K-th of N contiguous parts of a run's expanded input list (after
//! directories and `@list` files are expanded: see [`crate::io::inputs`]). The parts are
//! balanced by file count, which is all that file names tell (an apStar file holds one
//! coadd and an unknown number of visits), and depend on nothing but the list, so every
//! machine computes the same partition. Concatenating the parts in shard order gives back the
//! list, and since every spectrum's dropout stream is keyed by its file name and row (not by
//! its position in the run), the shards' rows put together are the rows one unsharded run
//! writes: [`crate::pipeline::merge`] does that.
//!
//! Each table of a run records its part with [`ShardedInputs::cards`]: `SHARD`, `NSHARDS`,
//! `NINPUTS` (files in the whole list), `SHINPUTS` (files in this shard) and `INPUTSHA` (the
//! SHA-256 of the whole list), so that `merge` can check it has every part of one run.

use crate::io::header_card::{CardValue, HeaderCard};
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::path::PathBuf;

/// Header keyword of the shard's index K.
pub const SHARD_KEY: &str = "SHARD";
/// Header keyword of the number of shards N.
pub const NSHARDS_KEY: &str = "NSHARDS";
/// Header keyword of the number of inputs of the whole run.
pub const NINPUTS_KEY: &str = "NINPUTS";
/// Header keyword of the number of inputs of this shard.
pub const SHINPUTS_KEY: &str = "SHINPUTS";
/// Header keyword of the SHA-256 of the whole input list.
pub const INPUTSHA_KEY: &str = "INPUTSHA";

/// The K-th of N parts of a run (K counts from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K: which part, `0 <= index < count`.
    pub index: usize,
    /// N: how many parts.
    pub count: usize,
}

impl Shard {
    /// The whole run as one part.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// A shard from K and N, refusing `K >= N` and `N = 0`.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 {
            return Err(Error::Invalid("a run cannot be split into 0 shards".into()));
        }
        if index >= count {
            return Err(Error::Invalid(format!(
                "shard {index} does not exist in a run of {count} shards (0 <= K < {count})"
            )));
        }
        Ok(Shard { index, count })
    }

    /// Parses `K/N`, or `slurm` (K and N from the job array's environment, see
    /// [`Shard::from_slurm`]).
    pub fn parse(text: &str) -> Result<Shard> {
        if text.trim().eq_ignore_ascii_case("slurm") {
            return Shard::from_slurm(|name| std::env::var(name).ok());
        }
        let parsed = text
            .split_once('/')
            .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) => Shard::new(index, count),
            None => Err(Error::Invalid(format!(
                "--shard '{text}': expected K/N (for example 0/4) or slurm"
            ))),
        }
    }

    /// The shard of this task of a Slurm job array: K = `SLURM_ARRAY_TASK_ID` −
    /// `SLURM_ARRAY_TASK_MIN`, N = `SLURM_ARRAY_TASK_COUNT` (read through `var`).
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        let read = |name: &str| -> Result<usize> {
            let value = var(name).ok_or_else(|| {
                Error::Invalid(format!(
                    "--shard slurm: {name} is not set (this is not a task of a Slurm job array; \
                     give --shard K/N instead)"
                ))
            })?;
            value.trim().parse().map_err(|_| {
                Error::Invalid(format!(
                    "--shard slurm: {name}='{value}' is not a non-negative integer"
                ))
            })
        };
        let (id, min, count) = (
            read("SLURM_ARRAY_TASK_ID")?,
            read("SLURM_ARRAY_TASK_MIN")?,
            read("SLURM_ARRAY_TASK_COUNT")?,
        );
        let index = id.checked_sub(min).ok_or_else(|| {
            Error::Invalid(format!(
                "--shard slurm: SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
            ))
        })?;
        Shard::new(index, count)
    }

    /// The positions of this shard's items in a list of `len`: the K-th of N contiguous
    /// parts whose sizes differ by at most one.
    pub fn range(&self, len: usize) -> Range<usize> {
        let bound = |k: usize| (len as u128 * k as u128 / self.count as u128) as usize;
        bound(self.index)..bound(self.index + 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A run's input files: the whole expanded list's identity, and the part this process reads.
#[derive(Debug, Clone)]
pub struct ShardedInputs {
    /// The files this process reads, in list order.
    pub files: Vec<PathBuf>,
    /// Which part of the list they are.
    pub shard: Shard,
    /// Files in the whole list.
    pub total: usize,
    /// SHA-256 (hex) of the whole list (see [`input_list_hash`]).
    pub hash: String,
    /// A note for each file the inputs named more than once (each is read once).
    pub repeated: Vec<String>,
}

impl ShardedInputs {
    /// Expands `inputs` (apStar files, directories searched for apStar files, `@list`
    /// files) and takes `shard`'s part of the list (all of it without).
    pub fn expand(inputs: &[String], shard: Option<Shard>) -> Result<ShardedInputs> {
        if inputs.is_empty() {
            return Err(Error::Invalid(
                "no inputs: give apStar files, directories or @list.txt files".into(),
            ));
        }
        let expanded = crate::io::inputs::expand_inputs(inputs)?;
        if expanded.files.is_empty() {
            return Err(Error::Invalid(
                "the inputs name no files (a directory is searched for apStar* files)".into(),
            ));
        }
        let repeated = expanded.notes();
        let mut sharded = ShardedInputs::new(expanded.files, shard.unwrap_or(Shard::WHOLE));
        sharded.repeated = repeated;
        Ok(sharded)
    }

    /// Takes `shard`'s part of the expanded input list `all`.
    pub fn new(all: Vec<PathBuf>, shard: Shard) -> ShardedInputs {
        let hash = input_list_hash(&all);
        let total = all.len();
        let range = shard.range(total);
        let files = all
            .into_iter()
            .skip(range.start)
            .take(range.len())
            .collect();
        ShardedInputs {
            files,
            shard,
            total,
            hash,
            repeated: Vec::new(),
        }
    }

    /// The header cards recording the part (written by every table of the run).
    pub fn cards(&self) -> Vec<HeaderCard> {
        let int = |v: usize| CardValue::I64(i64::try_from(v).unwrap_or(i64::MAX));
        vec![
            HeaderCard::new(
                SHARD_KEY,
                int(self.shard.index),
                "This shard (K of N, from 0)",
            ),
            HeaderCard::new(NSHARDS_KEY, int(self.shard.count), "Shards of the run (N)"),
            HeaderCard::new(NINPUTS_KEY, int(self.total), "Input files of the whole run"),
            HeaderCard::new(
                SHINPUTS_KEY,
                int(self.files.len()),
                "Input files of this shard",
            ),
            HeaderCard::new(
                INPUTSHA_KEY,
                CardValue::Str(self.hash.clone()),
                "SHA-256 of the whole input list",
            ),
        ]
    }
}

/// SHA-256 (hex) of an expanded input list: each path as given, followed by a newline.
pub fn input_list_hash(files: &[PathBuf]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.as_os_str().as_encoded_bytes());
        hasher.update(b"\n");
    }
    crate::io::model_file::hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(Shard::parse(" 0 / 1 ").unwrap(), Shard::WHOLE);
        for bad in ["4/4", "1/0", "-1/4", "a/4", "3", "", "1/2/3"] {
            let err = Shard::parse(bad).unwrap_err().to_string();
            assert!(err.contains("shard") || err.contains("K/N"), "{bad}: {err}");
        }
    }

    #[test]
    fn slurm_shard_is_the_task_offset_in_the_array() {
        let env = |id: &'static str, min: &'static str, count: &'static str| {
            move |name: &str| {
                Some(
                    match name {
                        "SLURM_ARRAY_TASK_ID" => id,
                        "SLURM_ARRAY_TASK_MIN" => min,
                        "SLURM_ARRAY_TASK_COUNT" => count,
                        _ => return None,
                    }
                    .to_string(),
                )
            }
        };
        assert_eq!(
            Shard::from_slurm(env("7", "5", "4")).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let err = Shard::from_slurm(|_| None).unwrap_err().to_string();
        assert!(err.contains("SLURM_ARRAY_TASK_ID is not set"), "{err}");
        let err = Shard::from_slurm(env("9", "5", "4"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("shard 4 does not exist"), "{err}");
    }

    #[test]
    fn parts_of_ten_files_in_four_shards() {
        let sizes: Vec<usize> = (0..4)
            .map(|k| Shard::new(k, 4).unwrap().range(10).len())
            .collect();
        assert_eq!(sizes, [2, 3, 2, 3]);
        assert_eq!(Shard::new(3, 4).unwrap().range(10), 7..10);
    }

    #[test]
    fn cards_name_the_part_and_the_whole_list() {
        let all: Vec<PathBuf> = ["a", "b", "c"].iter().map(PathBuf::from).collect();
        let part = ShardedInputs::new(all.clone(), Shard::new(1, 2).unwrap());
        assert_eq!(part.files, [PathBuf::from("b"), PathBuf::from("c")]);
        let cards = part.cards();
        let value = |key: &str| cards.iter().find(|c| c.key == key).unwrap().value.text();
        assert_eq!(value("SHARD"), "1");
        assert_eq!(value("NSHARDS"), "2");
        assert_eq!(value("NINPUTS"), "3");
        assert_eq!(value("SHINPUTS"), "2");
        // SHA-256 of "a\nb\nc\n".
        assert_eq!(
            value("INPUTSHA"),
            "880553fca8fcea94e325ee2cfb48e5a985cc797f39a14cc6d3cedecfeb2ae4d2"
        );
        assert_ne!(input_list_hash(&all), input_list_hash(&all[..2]));
    }

    proptest! {
        /// The parts are disjoint, cover the list in order, and differ in size by at most one.
        #[test]
        fn parts_cover_the_list(len in 0usize..500, count in 1usize..40) {
            let mut next = 0;
            let mut sizes = Vec::new();
            for index in 0..count {
                let range = Shard::new(index, count).unwrap().range(len);
                prop_assert_eq!(range.start, next);
                next = range.end;
                sizes.push(range.len());
            }
            prop_assert_eq!(next, len);
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            prop_assert!(max - min <= 1);
        }
    }
}
