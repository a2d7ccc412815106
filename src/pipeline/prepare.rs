//! From input files to network-ready spectra: reading apStar files and normalizing each
//! spectrum. A file or spectrum that cannot be prepared becomes an entry carrying the reason,
//! so that it reaches the output as a NO_RESULT row.

use crate::apogee::continuum::{normalize, NormalizedSpectrum};
use crate::io::apstar::{read_apstar, ApStar, SpectrumSlot};
use crate::io::normalized::SpectrumMeta;
use std::path::Path;
use std::time::Instant;

/// A spectrum's identity and either its prepared data or why it could not be prepared.
#[derive(Debug, Clone)]
pub struct Prepared<T> {
    /// Star and spectrum identity (whatever is known).
    pub meta: SpectrumMeta,
    /// The data, or the reason it is missing.
    pub data: Result<T, String>,
    /// Seconds spent reading and preparing it.
    pub seconds: f64,
}

impl<T> Prepared<T> {
    /// Maps the data, keeping identity, failure reason and time.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Prepared<U> {
        Prepared {
            meta: self.meta,
            data: self.data.map(f),
            seconds: self.seconds,
        }
    }
}

/// Reads and normalizes the coadd (and, with `visits`, every visit) of an apStar file.
///
/// Never fails: an unreadable file gives one entry per requested kind with the reason.
pub fn prepare_file(path: &Path, visits: bool) -> Vec<Prepared<NormalizedSpectrum>> {
    let start = Instant::now();
    match read_apstar(path, visits) {
        Ok(apstar) => {
            let mut prepared: Vec<Prepared<NormalizedSpectrum>> = apstar
                .spectra
                .iter()
                .map(|slot| Prepared {
                    meta: slot_meta(&apstar, slot),
                    data: slot
                        .pixels
                        .as_ref()
                        .map_err(String::clone)
                        .and_then(|pixels| {
                            normalize(&pixels.flux, &pixels.e_flux, &pixels.bitmask)
                        }),
                    seconds: 0.0,
                })
                .collect();
            let share = start.elapsed().as_secs_f64() / prepared.len().max(1) as f64;
            prepared.iter_mut().for_each(|p| p.seconds = share);
            prepared
        }
        Err(error) => {
            let reason = match &error {
                crate::Error::File { msg, .. } => msg.clone(),
                crate::Error::Io { cause, .. } => cause.to_string(),
                other => other.to_string(),
            };
            let kinds: &[&str] = if visits {
                &["coadd", "visit"]
            } else {
                &["coadd"]
            };
            kinds
                .iter()
                .map(|kind| Prepared {
                    meta: unreadable_meta(path, kind),
                    data: Err(reason.clone()),
                    seconds: start.elapsed().as_secs_f64(),
                })
                .collect()
        }
    }
}

/// A spectrum's identity: the star's header fields, and for a visit its own fields over them
/// (its S/N, fiber, MJD, velocities…).
fn slot_meta(apstar: &ApStar, slot: &SpectrumSlot) -> SpectrumMeta {
    let id = &apstar.identity;
    let mut fields = id.fields.clone();
    if let Some(visit) = slot.visit.and_then(|k| id.visit_fields.get(k - 1)) {
        fields.extend_from(visit);
    }
    SpectrumMeta {
        source_file: apstar.path.display().to_string(),
        row: slot.row as i64,
        kind: slot.kind.as_str().to_string(),
        visit: slot.visit.map_or(0, |v| v as i64),
        visit_file: slot.visit_file.clone().unwrap_or_default(),
        fields,
    }
}

/// Identity of a file that could not be read: its path, nothing else known (row −1).
fn unreadable_meta(path: &Path, kind: &str) -> SpectrumMeta {
    SpectrumMeta {
        row: -1,
        kind: kind.to_string(),
        ..SpectrumMeta::anonymous(&path.display().to_string(), 0)
    }
}
