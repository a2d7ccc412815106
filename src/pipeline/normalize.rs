//! `normalize`: continuum-normalized spectra for every input, written for other tools (and
//! for `predict --normalized`).

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::header_card::CardValue;
use crate::io::normalized::NormalizedWriter;
use crate::pipeline::predict::{describe, Observer, RunSummary};
use crate::pipeline::prepare::prepare_file;
use crate::pipeline::run::FILES_PER_CHUNK;
use crate::pipeline::run_info::{card, run_cards};
use crate::pipeline::shard::ShardedInputs;
use crate::Result;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Normalizes `inputs` (with `visits`, every visit too) into the file `output`, whose header
/// records the run (`command_line`) and its part of the input list. An existing `output` is
/// an error unless `overwrite`.
pub fn normalize_files(
    inputs: &ShardedInputs,
    visits: bool,
    output: &Path,
    overwrite: bool,
    command_line: &str,
    observer: &dyn Observer,
) -> Result<RunSummary> {
    crate::io::temp::refuse_to_replace(&[output], &[], overwrite)?;
    let mut cards = run_cards(command_line, SystemTime::now());
    cards.push(card(
        "VISITS",
        CardValue::Bool(visits),
        "Visit spectra included",
    ));
    cards.extend(inputs.cards());
    let mut writer = NormalizedWriter::create(output, &cards)?;
    for note in &inputs.repeated {
        observer.warn(note);
    }
    let summary = run_normalize(
        &inputs.files,
        visits,
        FILES_PER_CHUNK,
        &mut writer,
        observer,
    )?;
    writer.finish()?;
    Ok(summary)
}

/// Normalizes the coadd (and with `visits` every visit) of each file, `files_per_chunk` files
/// at a time in parallel, appending rows in input order. A spectrum that cannot be prepared
/// is written as a row of NaN (so `predict --normalized` reports it as NO_RESULT) and warned
/// about. A stop request ([`crate::cancel`]) ends it between chunks.
fn run_normalize(
    files: &[PathBuf],
    visits: bool,
    files_per_chunk: usize,
    writer: &mut NormalizedWriter,
    observer: &dyn Observer,
) -> Result<RunSummary> {
    let missing = vec![f64::NAN; NETWORK_PIXELS];
    let mut summary = RunSummary::default();
    for chunk in files.chunks(files_per_chunk.max(1)) {
        crate::cancel::check()?;
        let prepared: Vec<_> = chunk
            .par_iter()
            .map(|path| prepare_file(path, visits))
            .collect();
        crate::cancel::check()?;
        let spectra: usize = prepared.iter().map(Vec::len).sum();
        for spectrum in prepared.into_iter().flatten() {
            match &spectrum.data {
                Ok(normalized) => {
                    writer.append(&spectrum.meta, &normalized.flux, &normalized.e_flux)?
                }
                Err(reason) => {
                    observer.warn(&format!(
                        "{}: {reason}; written as NaN",
                        describe(&spectrum.meta)
                    ));
                    summary.no_result += 1;
                    writer.append(&spectrum.meta, &missing, &missing)?;
                }
            }
        }
        summary.spectra += spectra;
        observer.advance(chunk.len(), spectra);
    }
    Ok(summary)
}
