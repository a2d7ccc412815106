//! `.npy` arrays (`predict --normalized` inputs, the embedded masks).
#![no_main]

use astronn::io::npy::NpyArray;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(array) = NpyArray::parse(data) {
        let _ = array.as_matrix();
    }
});
