//! `normalize`: continuum-normalized spectra for every input, written for other tools (and
//! for `predict --normalized`).

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::normalized::NormalizedWriter;
use crate::pipeline::predict::{describe, Observer, RunSummary};
use crate::pipeline::prepare::prepare_file;
use crate::Result;
use rayon::prelude::*;
use std::path::PathBuf;

/// Normalizes the coadd (and with `visits` every visit) of each file, `files_per_chunk` files
/// at a time in parallel, appending rows in input order. A spectrum that cannot be prepared
/// is written as a row of NaN (so `predict --normalized` reports it as NO_RESULT) and warned
/// about.
pub fn run_normalize(
    files: &[PathBuf],
    visits: bool,
    files_per_chunk: usize,
    writer: &mut NormalizedWriter,
    observer: &dyn Observer,
) -> Result<RunSummary> {
    let missing = vec![f64::NAN; NETWORK_PIXELS];
    let mut summary = RunSummary::default();
    for chunk in files.chunks(files_per_chunk.max(1)) {
        let prepared: Vec<_> = chunk
            .par_iter()
            .map(|path| prepare_file(path, visits))
            .collect();
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
