//! The safe pickle reader (protocols 0–5) behind PyTorch checkpoints and Astra's noise models.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = astronn::io::pickle::parse(data) {
        let _ = value.describe();
        if let Some(items) = value.as_dict_items() {
            for (key, item) in items {
                let _ = (key.as_str(), item.as_f64(), item.describe());
            }
        }
    }
});
