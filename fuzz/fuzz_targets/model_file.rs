//! Model files as `--model` reads them: the dispatch by content of `ModelFile::load`, Astra's
//! PyTorch checkpoints (zip archive, pickle, tensor records) and our `.safetensors` format.
#![no_main]

use astronn::io::model_file::ModelFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = astronn_fuzz::write_input("model.pt", data);
    if let Ok(model) = ModelFile::load(&path) {
        let _ = model.identity();
        let _ = model.mc_variance();
    }
});
