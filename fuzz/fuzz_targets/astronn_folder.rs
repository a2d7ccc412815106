//! astroNN model folders: `astroNN_model_parameter.json` and the Keras weights, a Keras 2
//! `model_weights.h5` (HDF5 and its Keras attributes) or a Keras 3 `.keras` archive (zip of
//! JSON and HDF5), read through `ModelFile::load` of the folder. The input is the parameter
//! JSON, then `astronn_fuzz::SEPARATOR`, then the weights file (a `.keras` one when it starts
//! like a zip archive).
#![no_main]

use astronn::io::model_file::ModelFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (json, weights) = astronn_fuzz::split_once(data);
    let dir = astronn_fuzz::fresh_dir("astronn_model");
    let weights_name = if weights.starts_with(b"PK") {
        "model.keras"
    } else {
        "model_weights.h5"
    };
    std::fs::write(dir.join("astroNN_model_parameter.json"), json).unwrap();
    std::fs::write(dir.join(weights_name), weights).unwrap();
    if let Ok(model) = ModelFile::load(&dir) {
        let _ = model.identity();
        let _ = model.mc_variance();
    }
});
