//! Where a run's spectra come from: apStar files (read and normalized here), or a file of
//! already-normalized spectra. Both deliver bounded chunks, so memory does not grow with
//! the size of the run.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::normalized::{NormalizedReader, SpectrumMeta};
use crate::io::npy::NpyArray;
use crate::pipeline::prepare::{prepare_file, Prepared};
use crate::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// A chunk of prepared spectra and how many progress units (files or spectra) it covers.
pub struct Chunk {
    /// Normalized fluxes (7514 values) or the reason a spectrum has none.
    pub spectra: Vec<Prepared<Vec<f64>>>,
    /// Progress units consumed by this chunk.
    pub units: usize,
}

/// A source of spectra for a prediction run.
pub enum SpectrumSource {
    /// apStar files, read and normalized in parallel, `files_per_chunk` at a time.
    ApStar {
        files: Vec<PathBuf>,
        visits: bool,
        files_per_chunk: usize,
        next: usize,
    },
    /// A FITS file written by `normalize`.
    NormalizedFits {
        reader: NormalizedReader,
        spectra_per_chunk: usize,
        next: usize,
    },
    /// A `.npy` array of N×7514 normalized fluxes.
    Npy {
        path: PathBuf,
        array: NpyArray,
        spectra_per_chunk: usize,
        next: usize,
    },
}

impl SpectrumSource {
    /// apStar files; with `visits`, every visit is prepared too.
    pub fn apstar(files: Vec<PathBuf>, visits: bool, files_per_chunk: usize) -> Self {
        SpectrumSource::ApStar {
            files,
            visits,
            files_per_chunk: files_per_chunk.max(1),
            next: 0,
        }
    }

    /// Normalized spectra from a `normalize` FITS file or a `.npy` array (by extension).
    pub fn normalized(path: &Path, spectra_per_chunk: usize) -> Result<Self> {
        let spectra_per_chunk = spectra_per_chunk.max(1);
        let is_npy = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        if !is_npy {
            return Ok(SpectrumSource::NormalizedFits {
                reader: NormalizedReader::open(path)?,
                spectra_per_chunk,
                next: 0,
            });
        }
        let array = NpyArray::read(path)?;
        let (_, columns) = array.as_matrix().map_err(|e| Error::file(path, e))?;
        if columns != NETWORK_PIXELS {
            return Err(Error::file(
                path,
                format!(
                    "normalized spectra must have {NETWORK_PIXELS} pixels per row, found {columns}"
                ),
            ));
        }
        Ok(SpectrumSource::Npy {
            path: path.to_path_buf(),
            array,
            spectra_per_chunk,
            next: 0,
        })
    }

    /// Progress units in the whole run: files, or spectra for normalized inputs.
    pub fn total_units(&self) -> usize {
        match self {
            SpectrumSource::ApStar { files, .. } => files.len(),
            SpectrumSource::NormalizedFits { reader, .. } => reader.len(),
            SpectrumSource::Npy { array, .. } => array.as_matrix().map_or(0, |(rows, _)| rows),
        }
    }

    /// What a progress unit is called.
    pub fn unit_name(&self) -> &'static str {
        match self {
            SpectrumSource::ApStar { .. } => "files",
            _ => "spectra",
        }
    }

    /// The next chunk, or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        crate::cancel::check()?;
        match self {
            SpectrumSource::ApStar {
                files,
                visits,
                files_per_chunk,
                next,
            } => {
                if *next >= files.len() {
                    return Ok(None);
                }
                let end = (*next + *files_per_chunk).min(files.len());
                let visits = *visits;
                let spectra: Vec<Prepared<Vec<f64>>> = files[*next..end]
                    .par_iter()
                    .map(|path| prepare_file(path, visits))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .flatten()
                    .map(|p| p.map(|n| n.flux))
                    .collect();
                let units = end - *next;
                *next = end;
                Ok(Some(Chunk { spectra, units }))
            }
            SpectrumSource::NormalizedFits {
                reader,
                spectra_per_chunk,
                next,
            } => {
                if *next >= reader.len() {
                    return Ok(None);
                }
                let count = (*spectra_per_chunk).min(reader.len() - *next);
                let flux = reader.read_flux(*next, count)?;
                let metas = reader.read_meta(*next, count)?;
                let spectra = metas
                    .into_iter()
                    .zip(flux.chunks_exact(NETWORK_PIXELS))
                    .map(|(meta, row)| checked_row(meta, row))
                    .collect();
                *next += count;
                Ok(Some(Chunk {
                    spectra,
                    units: count,
                }))
            }
            SpectrumSource::Npy {
                path,
                array,
                spectra_per_chunk,
                next,
            } => {
                let rows = array.data.len() / NETWORK_PIXELS;
                if *next >= rows {
                    return Ok(None);
                }
                let count = (*spectra_per_chunk).min(rows - *next);
                let name = path.display().to_string();
                let spectra = (*next..*next + count)
                    .map(|i| {
                        let row = &array.data[i * NETWORK_PIXELS..(i + 1) * NETWORK_PIXELS];
                        checked_row(SpectrumMeta::anonymous(&name, i), row)
                    })
                    .collect();
                *next += count;
                Ok(Some(Chunk {
                    spectra,
                    units: count,
                }))
            }
        }
    }
}

/// A normalized row, refused when it holds non-finite values (a spectrum `normalize` could
/// not prepare is stored as NaN).
fn checked_row(meta: SpectrumMeta, row: &[f64]) -> Prepared<Vec<f64>> {
    let bad = row.iter().filter(|v| !v.is_finite()).count();
    let data = if bad == 0 {
        Ok(row.to_vec())
    } else if bad == row.len() {
        Err("no normalized flux (the spectrum could not be prepared)".to_string())
    } else {
        Err(format!("normalized flux has {bad} non-finite pixels"))
    };
    Prepared {
        meta,
        data,
        seconds: 0.0,
    }
}
