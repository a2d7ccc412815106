//! `merge`'s reading of shard files (the FITS stream of headers and data, the SHARD/NSHARDS
//! cards, tables and normalized spectra): the input is one shard, merged on its own.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    let shard = astronn_fuzz::write_input("shard.fits", data);
    let output = astronn_fuzz::scratch_dir().join("merged.fits");
    let _ = astronn::pipeline::merge::merge_shards(&[shard], &output, true);
    let _ = std::fs::remove_file(&output);
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    astronn_fuzz::mutate_fits(data, size, max_size, seed)
});
