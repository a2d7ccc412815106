//! The HDF5 reader (astroNN's Keras weights): every group, attribute and dataset of the file.
#![no_main]

use astronn::io::hdf5::{Group, Hdf5File};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// Reads everything below `group`, to a bounded depth and number of members.
fn walk(group: &Group, depth: usize, budget: &mut usize) {
    if let Ok(names) = group.attribute_names() {
        for name in names {
            let _ = group.attribute(&name);
            let _ = group.string_list(&name);
        }
    }
    let Ok(members) = group.members() else { return };
    for name in members {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        if let Ok(dataset) = group.dataset(&name) {
            let _ = (dataset.shape(), dataset.len());
            let _ = dataset.read_f32();
            let _ = dataset.read_f64();
            let _ = dataset.read_i64();
            if let Ok(names) = dataset.attribute_names() {
                for name in names {
                    let _ = dataset.attribute(&name);
                }
            }
        } else if depth < 8 {
            if let Ok(child) = group.group(&name) {
                walk(&child, depth + 1, budget);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = Hdf5File::from_bytes(Path::new("fuzz.h5"), data.to_vec()) {
        if let Ok(root) = file.root() {
            walk(&root, 0, &mut 64);
        }
        let _ = file.group("model_weights");
        let _ = file.dataset("model_weights/dense/dense/kernel:0");
    }
});
