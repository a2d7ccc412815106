//! apStar files (FITS headers and HDUs, DR17 and DR19 header styles), read the way `predict`
//! reads them: the identity and the coadd, and every visit.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    let path = astronn_fuzz::write_input("apStar-fuzz.fits", data);
    if let Ok(star) = astronn::io::apstar::read_apstar(&path, true) {
        let _ = star.identity.apogee_id();
    }
    let _ = astronn::io::apstar::read_apstar_row(&path, 1);
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    astronn_fuzz::mutate_fits(data, size, max_size, seed)
});
