//! Noise models (`--noise-model`): the JSON form and Astra's pickle, told apart as
//! `NoiseModel::load` tells them (JSON when the first non-blank byte is `{`), in memory.
#![no_main]

use astronn::pipeline::noise::NoiseModel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let first = data.iter().copied().find(|b| !b.is_ascii_whitespace());
    let parsed = if first == Some(b'{') {
        match std::str::from_utf8(data) {
            Ok(text) => NoiseModel::from_json(text),
            Err(_) => return,
        }
    } else {
        NoiseModel::from_pickle(data)
    };
    if let Ok(model) = parsed {
        for label in model.labels().map(str::to_owned).collect::<Vec<_>>() {
            let _ = model.apply(&label, 1.0);
        }
        let _ = NoiseModel::from_json(&model.to_json());
    }
});
