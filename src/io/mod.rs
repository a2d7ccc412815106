//! Reading and writing files: inputs, models, normalized spectra and result tables.

pub mod apstar;
pub mod apstar_header;
pub mod apstar_write;
pub mod astronn_folder;
pub mod catalog;
pub mod columns;
pub mod fields;
pub mod fits;
mod fits_guard;
pub mod fits_stream;
pub mod hdf5;
pub mod header_card;
pub mod header_records;
pub mod inputs;
pub mod labels;
pub mod model_file;
pub mod model_formats;
pub mod normalized;
pub mod npy;
pub mod photometry;
pub mod pickle;
pub mod spectrum_meta;
pub mod star_catalog;
pub mod table;
pub mod temp;
pub mod torch;
