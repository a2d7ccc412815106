//! Normalized-spectrum files (`normalize`'s output, `predict --normalized`'s input): the
//! spectra's descriptions and their flux and error planes.
#![no_main]

use astronn::io::normalized::NormalizedReader;
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    let path = astronn_fuzz::write_input("normalized.fits", data);
    let Ok(mut reader) = NormalizedReader::open(&path) else {
        return;
    };
    let count = reader.len().min(4);
    let _ = reader.read_meta(0, count);
    let _ = reader.read_flux(0, count);
    if reader.has_e_flux() {
        let _ = reader.read_e_flux(0, count);
    }
    let _ = reader.read_all_meta();
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    astronn_fuzz::mutate_fits(data, size, max_size, seed)
});
