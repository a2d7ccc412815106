//! `merge`: the shards of one run (see [`crate::pipeline::shard`]) put back together into the
//! file one unsharded run would have written.
//!
//! Before anything is written, every shard is read through once: each must be a complete FITS
//! file (a truncated one is named), carry the `SHARD`/`NSHARDS` cards, and agree with the
//! others on what makes a run (pipeline, model SHA-256, seed, MC samples, noise model,
//! catalogs, input list…; [`RUN_IDENTITY`]) and on its tables' layout; every shard
//! 0 … N−1 must be there exactly once. Then the rows are concatenated in shard order, which
//! is the input order of the unsharded run.
//!
//! DR19 products (and any table of fixed layout) are concatenated as bytes, streaming, so
//! every value is the shard's own and memory does not grow with the rows. A `normalize`
//! output, whose `SPECTRA` columns depend on what each shard saw, is rewritten value by
//! value through [`NormalizedWriter`] instead. The merged file is written beside its
//! destination and renamed over it only when complete: an error leaves nothing behind.

use crate::io::fits::Fits;
use crate::io::fits_stream::{padded, FitsStream, HduLayout, RawHeader};
use crate::io::header_card::{CardValue, HeaderCard};
use crate::io::header_records::parse_cards;
use crate::io::normalized::{NormalizedReader, NormalizedWriter, FLUX_HDU};
use crate::io::table::persist_fits;
use crate::io::temp::TempPath;
use crate::pipeline::shard::{Shard, NSHARDS_KEY, SHARD_KEY, SHINPUTS_KEY};
use crate::{Error, Result};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Primary-header cards on which all shards of one run agree, with what they mean.
pub const RUN_IDENTITY: &[(&str, &str)] = &[
    ("PIPELINE", "the pipeline"),
    ("MODELSHA", "the model (SHA-256)"),
    ("SEED", "the seed"),
    ("MC", "the MC samples"),
    ("NOISEMOD", "the noise model"),
    ("SOURCES", "the Source catalog"),
    ("GAIA", "the Gaia catalog"),
    ("PHOTOMET", "the photometry"),
    ("VISITS", "the visit option"),
    ("INPUTSHA", "the input list (SHA-256)"),
    ("NINPUTS", "the number of inputs"),
    ("NSHARDS", "the number of shards"),
    ("VERSION", "the astronn version"),
];

/// Primary-header cards describing one shard's part: replaced by the merged run's summary.
const PER_SHARD: &[&str] = &[
    SHARD_KEY,
    SHINPUTS_KEY,
    "ELAPSED",
    "NSPECTRA",
    "NNORESLT",
    "CHECKSUM",
    "DATASUM",
];

/// Table-header cards that differ between the shards of one run (not compared).
const VARYING: &[&str] = &["NAXIS2", "CHECKSUM", "DATASUM", "CREATED"];

/// What a merge put together.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeSummary {
    /// Shards merged (N).
    pub shards: usize,
    /// Rows of the merged table (spectra of a normalized file).
    pub rows: u64,
    /// Spectra of the whole run (`NSPECTRA`), where the shards record it.
    pub spectra: Option<i64>,
    /// Spectra without a result (`NNORESLT`), where the shards record it.
    pub no_result: Option<i64>,
    /// Run time summed over the shards, in seconds (`ELAPSED`), where they record it.
    pub elapsed: Option<f64>,
}

/// One shard file, read through.
pub(crate) struct ShardFile {
    path: PathBuf,
    /// Its part of the run.
    pub(crate) shard: Shard,
    hdus: Vec<HduLayout>,
}

impl ShardFile {
    fn primary(&self) -> &RawHeader {
        &self.hdus[0].header
    }

    fn extname(&self, hdu: usize) -> String {
        self.hdus[hdu].header.value("EXTNAME").unwrap_or_default()
    }

    /// Whether this is a shard of `normalize` (a FLUX image in HDU 1) rather than a table.
    fn is_normalized(&self) -> bool {
        self.hdus.len() > 1 && self.extname(1) == FLUX_HDU
    }

    /// Rows of HDU `hdu`: its last axis (`NAXIS2` of a table or of a 2-D image).
    fn rows(&self, hdu: usize) -> u64 {
        let header = &self.hdus[hdu].header;
        match header.int("NAXIS") {
            Some(n) if n >= 2 => header.int(&format!("NAXIS{n}")).unwrap_or(0).max(0) as u64,
            _ => 0,
        }
    }
}

/// The shard files named by `inputs`: files, and directories (their `*.fits` and `*.fits.gz`
/// files, not hidden ones, sorted).
pub fn shard_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            files.push(input.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(input).map_err(|e| Error::io(input, e))? {
            let path = entry.map_err(|e| Error::io(input, e))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let is_fits = name.as_deref().is_some_and(|n| {
                !n.starts_with('.') && (n.ends_with(".fits") || n.ends_with(".fits.gz"))
            });
            if is_fits && path.is_file() {
                found.push(path);
            }
        }
        if found.is_empty() {
            return Err(Error::file(
                input,
                "the directory holds no .fits shard files",
            ));
        }
        found.sort();
        files.extend(found);
    }
    if files.is_empty() {
        return Err(Error::Invalid("no shard files given".into()));
    }
    Ok(files)
}

/// Merges the shards `inputs` (files or directories of them) into `output` (gzipped when it
/// ends in `.gz`); see the module documentation. Nothing is written when any check fails;
/// an existing `output` is an error unless `overwrite`.
pub fn merge_shards(inputs: &[PathBuf], output: &Path, overwrite: bool) -> Result<MergeSummary> {
    crate::io::temp::refuse_to_replace(&[output], &[], overwrite)?;
    let shards = read_shards(&shard_files(inputs)?)?;
    let ordered = check_complete(shards)?;
    let temp = TempPath::beside(output, "fits")?;
    let summary = if ordered[0].is_normalized() {
        check_all_normalized(&ordered)?;
        merge_normalized(&ordered, temp.path())?
    } else {
        check_same_tables(&ordered)?;
        merge_tables(&ordered, temp.path())?
    };
    persist_fits(temp, output)?;
    Ok(summary)
}

/// Reads every shard through, checking its part and that it is complete.
fn read_shards(files: &[PathBuf]) -> Result<Vec<ShardFile>> {
    files.iter().map(|path| read_shard(path)).collect()
}

/// Reads one shard file through: complete, and carrying its part (`SHARD`, `NSHARDS`).
pub(crate) fn read_shard(path: &Path) -> Result<ShardFile> {
    let hdus = FitsStream::scan(path)?;
    let primary = &hdus[0].header;
    let (Some(index), Some(count)) = (primary.int(SHARD_KEY), primary.int(NSHARDS_KEY)) else {
        return Err(Error::file(
            path,
            "not a shard: its header has no SHARD and NSHARDS cards (written by a run \
             without --shard, or not by astronn)",
        ));
    };
    let shard = usize::try_from(index)
        .ok()
        .zip(usize::try_from(count).ok())
        .ok_or_else(|| Error::file(path, format!("invalid shard {index}/{count}")))
        .and_then(|(k, n)| Shard::new(k, n).map_err(|e| Error::file(path, e.to_string())))?;
    Ok(ShardFile {
        path: path.to_path_buf(),
        shard,
        hdus,
    })
}

/// Checks that the shards are of one run and that each of 0 … N−1 is there exactly once;
/// returns them in shard order.
fn check_complete(shards: Vec<ShardFile>) -> Result<Vec<ShardFile>> {
    let first = &shards[0];
    for other in &shards[1..] {
        for (key, what) in RUN_IDENTITY {
            let (a, b) = (first.primary().value(key), other.primary().value(key));
            if a != b {
                return Err(Error::Invalid(format!(
                    "{} and {} are not shards of one run: {what} ({key}) is {} in the first \
                     and {} in the second; nothing was written",
                    first.path.display(),
                    other.path.display(),
                    a.as_deref().unwrap_or("not given"),
                    b.as_deref().unwrap_or("not given"),
                )));
            }
        }
    }
    let count = first.shard.count;
    let mut shards = shards;
    shards.sort_by_key(|s| s.shard.index);
    if let Some(pair) = shards
        .windows(2)
        .find(|p| p[0].shard.index == p[1].shard.index)
    {
        return Err(Error::Invalid(format!(
            "shard {} of {count} is given twice: {} and {}; nothing was written",
            pair[0].shard.index,
            pair[0].path.display(),
            pair[1].path.display()
        )));
    }
    if shards.len() < count {
        return Err(missing_shards(&shards, count));
    }
    Ok(shards)
}

/// The error for the shards of a run of `count` that are not among `given` (sorted by
/// index, without repeats): the first few named, without a slot per shard (a damaged header
/// can claim 10^18 of them).
fn missing_shards(given: &[ShardFile], count: usize) -> Error {
    const NAMED: usize = 10;
    let mut present = given.iter().map(|s| s.shard.index).peekable();
    let missing: Vec<String> = (0..count)
        .filter(|&k| {
            let here = present.peek() == Some(&k);
            if here {
                present.next();
            }
            !here
        })
        .take(NAMED)
        .map(|k| k.to_string())
        .collect();
    let absent = count - given.len();
    let (noun, verb) = if absent == 1 {
        ("shard", "is")
    } else {
        ("shards", "are")
    };
    let more = if absent > missing.len() {
        format!(" and {} more", absent - missing.len())
    } else {
        String::new()
    };
    Error::Invalid(format!(
        "{noun} {}{more} of {count} {verb} missing; nothing was written",
        missing.join(", ")
    ))
}

/// Checks that every shard, like the first, is a `normalize` output.
fn check_all_normalized(shards: &[ShardFile]) -> Result<()> {
    match shards.iter().find(|s| !s.is_normalized()) {
        Some(other) => Err(Error::Invalid(format!(
            "{} and {} are not shards of one run: the first holds normalized spectra (a {} \
             image in HDU 1), the second does not; nothing was written",
            shards[0].path.display(),
            other.path.display(),
            FLUX_HDU
        ))),
        None => Ok(()),
    }
}

/// Checks that every shard has the same HDUs with the same layout (all table-header cards
/// equal but the row count, checksums and creation time).
fn check_same_tables(shards: &[ShardFile]) -> Result<()> {
    let first = &shards[0];
    let layout = |header: &RawHeader| -> Vec<String> {
        header
            .records
            .iter()
            .filter(|r| !VARYING.contains(&RawHeader::keyword(r)))
            .cloned()
            .collect()
    };
    for other in &shards[1..] {
        if other.hdus.len() != first.hdus.len() {
            return Err(Error::Invalid(format!(
                "{} has {} HDUs but {} has {}: not parts of one table; nothing was written",
                other.path.display(),
                other.hdus.len(),
                first.path.display(),
                first.hdus.len()
            )));
        }
        for hdu in 1..first.hdus.len() {
            if layout(&other.hdus[hdu].header) != layout(&first.hdus[hdu].header) {
                return Err(Error::Invalid(format!(
                    "HDU {hdu} ({}) of {} has another layout than in {} (other columns or \
                     cards): not parts of one table; nothing was written",
                    first.extname(hdu),
                    other.path.display(),
                    first.path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Per-shard totals of the summary cards, and the `HISTORY` line of each shard.
fn run_summary(shards: &[ShardFile], rows: u64) -> (MergeSummary, Vec<String>) {
    let sum_int = |key: &str| -> Option<i64> { shards.iter().map(|s| s.primary().int(key)).sum() };
    let elapsed: Option<f64> = shards
        .iter()
        .map(|s| s.primary().value("ELAPSED")?.parse::<f64>().ok())
        .sum();
    let history = shards
        .iter()
        .map(|s| {
            let p = s.primary();
            let mut parts = vec![format!("shard {}", s.shard)];
            for (key, unit) in [(SHINPUTS_KEY, "inputs"), ("NSPECTRA", "spectra")] {
                parts.extend(p.value(key).map(|v| format!("{v} {unit}")));
            }
            parts.extend(p.value("NNORESLT").map(|v| format!("{v} NO_RESULT")));
            let seconds = p.value("ELAPSED").and_then(|v| v.parse::<f64>().ok());
            parts.extend(seconds.map(|v| format!("{v:.1} s")));
            let (first, rest) = parts.split_at(1);
            format!("{}: {}", first[0], rest.join(", "))
        })
        .collect();
    let summary = MergeSummary {
        shards: shards.len(),
        rows,
        spectra: sum_int("NSPECTRA"),
        no_result: sum_int("NNORESLT"),
        elapsed,
    };
    (summary, history)
}

/// Concatenates tables of one layout as bytes into `dest`, then writes the checksums of the
/// HDUs that had them.
fn merge_tables(shards: &[ShardFile], dest: &Path) -> Result<MergeSummary> {
    let first = &shards[0];
    let last_table = first.hdus.len() - 1;
    let rows: u64 = shards.iter().map(|s| s.rows(last_table)).sum();
    let (summary, history) = run_summary(shards, rows);
    let file = std::fs::File::create(dest).map_err(|e| Error::io(dest, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    for hdu in 0..first.hdus.len() {
        let mut header = first.hdus[hdu].header.clone();
        if hdu == 0 {
            header.remove(PER_SHARD);
            add_summary_cards(&mut header, &summary, &history);
        } else if let Some(n) = header.int("NAXIS").filter(|&n| n >= 2) {
            let total: u64 = shards.iter().map(|s| s.rows(hdu)).sum();
            header.set_int(
                &format!("NAXIS{n}"),
                i64::try_from(total).unwrap_or(i64::MAX),
            );
        }
        let data_bytes = header.data_bytes()?;
        out.write_all(&header.to_bytes())
            .map_err(|e| Error::io(dest, e))?;
        for shard in shards {
            crate::cancel::check()?;
            let layout = &shard.hdus[hdu];
            if layout.data_bytes > 0 {
                FitsStream::open(&shard.path)?.copy_data(layout, hdu, &mut out)?;
            }
        }
        let fill = padded(data_bytes) - data_bytes;
        std::io::copy(&mut std::io::repeat(0).take(fill), &mut out)
            .map_err(|e| Error::io(dest, e))?;
    }
    out.into_inner()
        .map_err(|e| Error::io(dest, e.into_error()))?
        .sync_all()
        .map_err(|e| Error::io(dest, e))?;
    let mut fits = Fits::open_rw(dest)?;
    for (hdu, layout) in first.hdus.iter().enumerate() {
        if layout.header.value("CHECKSUM").is_some() {
            fits.move_to_hdu(hdu + 1)?;
            fits.write_checksums()?;
        }
    }
    fits.close()?;
    Ok(summary)
}

/// Adds the merged run's summary to a primary header.
fn add_summary_cards(header: &mut RawHeader, summary: &MergeSummary, history: &[String]) {
    if let Some(n) = summary.spectra {
        header.push_int("NSPECTRA", n, "Spectra (all shards)");
    }
    if let Some(n) = summary.no_result {
        header.push_int("NNORESLT", n, "Spectra without result (all shards)");
    }
    if let Some(seconds) = summary.elapsed {
        header.push_real("ELAPSED", seconds, "Run time summed over the shards [s]");
    }
    header.push_history(&format!(
        "merged from {} shards by astronn {}",
        summary.shards,
        env!("CARGO_PKG_VERSION")
    ));
    for line in history {
        header.push_history(line);
    }
}

/// Rewrites the spectra of `normalize` shards, in order, through one [`NormalizedWriter`].
fn merge_normalized(shards: &[ShardFile], dest: &Path) -> Result<MergeSummary> {
    let total: u64 = shards.iter().map(|s| s.rows(1)).sum();
    let (summary, history) = run_summary(shards, total);
    let mut primary = shards[0].primary().clone();
    primary.remove(PER_SHARD);
    let mut cards = typed_cards(&primary);
    cards.push(HeaderCard::new(
        "HISTORY",
        CardValue::Str(format!("merged from {} shards", summary.shards)),
        "",
    ));
    cards.extend(
        history
            .into_iter()
            .map(|line| HeaderCard::new("HISTORY", CardValue::Str(line), "")),
    );
    let mut writer = NormalizedWriter::create(dest, &cards)?;
    const CHUNK: usize = 256;
    for shard in shards {
        let mut reader = NormalizedReader::open(&shard.path)?;
        let mut start = 0;
        while start < reader.len() {
            crate::cancel::check()?;
            let count = CHUNK.min(reader.len() - start);
            let flux = reader.read_flux(start, count)?;
            let e_flux = reader.read_e_flux(start, count)?;
            let metas = reader.read_meta(start, count)?;
            let width = flux.len() / count;
            for (i, meta) in metas.iter().enumerate() {
                let span = i * width..(i + 1) * width;
                writer.append(meta, &flux[span.clone()], &e_flux[span])?;
            }
            start += count;
        }
    }
    // The writer renames its file over `dest`; the caller's temporary name is `dest`.
    writer.finish()?;
    Ok(summary)
}

/// The cards of a primary header (without the structural ones and those CFITSIO writes
/// itself) as typed [`HeaderCard`]s:
/// quoted values as strings, `T`/`F` as logicals, then integers and reals.
fn typed_cards(header: &RawHeader) -> Vec<HeaderCard> {
    // Cards CFITSIO writes itself (the FITS reference, the long-string convention).
    const STRUCTURAL: &[&str] = &["SIMPLE", "BITPIX", "NAXIS", "EXTEND", "COMMENT", "LONGSTRN"];
    let mut cards = Vec::new();
    let mut records = header.records.iter().peekable();
    while let Some(first) = records.next() {
        let mut group = vec![first.clone()];
        while let Some(next) = records.next_if(|r| RawHeader::keyword(r) == "CONTINUE") {
            group.push(next.clone());
        }
        let key = RawHeader::keyword(first);
        if STRUCTURAL.contains(&key) || key.is_empty() {
            continue;
        }
        let Some((_, text)) = parse_cards(&group).into_iter().next() else {
            continue;
        };
        let field = first.get(10..).unwrap_or("").trim_start();
        let quoted = field.starts_with('\'');
        let comment = comment_of(group.last().map_or("", String::as_str), quoted);
        let value = if quoted || key == "HISTORY" {
            CardValue::Str(text)
        } else if text == "T" || text == "F" {
            CardValue::Bool(text == "T")
        } else if let Ok(v) = text.parse::<i64>() {
            CardValue::I64(v)
        } else if let Ok(v) = text.parse::<f64>() {
            CardValue::F64(v)
        } else {
            CardValue::Str(text)
        };
        cards.push(HeaderCard::new(key, value, comment));
    }
    cards
}

/// The comment of a card's (last) record: the text after the value's `/`.
fn comment_of(record: &str, quoted: bool) -> String {
    let after_value = if quoted {
        record.rfind('\'').map_or("", |i| &record[i + 1..])
    } else {
        record.get(10..).unwrap_or("")
    };
    after_value
        .split_once('/')
        .map_or(String::new(), |(_, c)| c.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(index: usize, extnames: &[&str]) -> ShardFile {
        let hdus = extnames
            .iter()
            .map(|name| HduLayout {
                header: RawHeader {
                    records: vec![format!("EXTNAME = '{name}'")],
                },
                data_start: 0,
                data_bytes: 0,
            })
            .collect();
        ShardFile {
            path: PathBuf::from(format!("shard{index}.fits")),
            shard: Shard::new(index, 2).unwrap(),
            hdus,
        }
    }

    /// A `normalize` shard merged with a shard that has no HDU 1 (or another one) is refused
    /// instead of indexed past its HDUs.
    #[test]
    fn normalized_shards_merge_only_with_normalized_shards() {
        let normalized = || shard(0, &["", FLUX_HDU, "E_FLUX", "SPECTRA"]);
        for other in [shard(1, &[""]), shard(1, &["", "APOGEE"])] {
            let refused = check_all_normalized(&[normalized(), other]).unwrap_err();
            assert!(
                refused
                    .to_string()
                    .contains("shard0.fits and shard1.fits are not shards of one run"),
                "{refused}"
            );
        }
        check_all_normalized(&[normalized(), shard(1, &["", FLUX_HDU])]).unwrap();
    }

    /// A shard claiming a huge run names the first missing shards, without a slot each.
    #[test]
    fn missing_shards_of_a_huge_run_are_named_without_a_slot_each() {
        let mut given = shard(1, &[""]);
        given.shard = Shard::new(1, 1_000_000_000_000).unwrap();
        let message = missing_shards(&[given], 1_000_000_000_000).to_string();
        assert!(
            message.starts_with(
                "shards 0, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 999999999989 more of 1000000000000 \
                 are missing"
            ),
            "{message}"
        );
    }
}
