//! The embedded ASPCAP masks: element windows (l31c) and the DR17 continuum pixels.
//!
//! Both are defined on the 7514-pixel network grid. Provenance: `data/PROVENANCE.md`.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::io::npy::NpyArray;
use std::sync::OnceLock;

const ASPCAP_WINDOWS_NPY: &[u8] = include_bytes!("../../data/aspcap_l31c_masks.npy");
const CONTINUUM_NPY: &[u8] = include_bytes!("../../data/dr17_contmask.npy");

/// Elements of the ASPCAP window mask, in bit order.
pub const ASPCAP_ELEMENTS: [&str; 26] = [
    "C", "CI", "N", "O", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca", "TI", "TiII", "V", "Cr",
    "Mn", "Fe", "Co", "Ni", "Cu", "Ge", "Ce", "Rb", "Y", "Nd",
];

/// The 19 element branches of the censored network, as (name, ASPCAP bit), in branch order.
pub const BRANCH_ELEMENTS: [(&str, u32); 19] = [
    ("C", 0),
    ("C I", 1),
    ("N", 2),
    ("O", 3),
    ("Na", 4),
    ("Mg", 5),
    ("Al", 6),
    ("Si", 7),
    ("P", 8),
    ("S", 9),
    ("K", 10),
    ("Ca", 11),
    ("Ti", 12),
    ("Ti II", 13),
    ("V", 14),
    ("Cr", 15),
    ("Mn", 16),
    ("Co", 18),
    ("Ni", 19),
];

fn decode(bytes: &[u8], what: &str) -> Vec<f64> {
    // The embedded files are fixed at build time and checked by the tests below, so a
    // failure here is a build defect, not a data error.
    match NpyArray::parse(bytes) {
        Ok(array) if array.data.len() == NETWORK_PIXELS => array.data,
        Ok(array) => panic!("embedded {what} has {} pixels", array.data.len()),
        Err(e) => panic!("embedded {what} is unreadable: {e}"),
    }
}

/// The ASPCAP window bits of every network pixel.
pub fn aspcap_window_bits() -> &'static [u32] {
    static BITS: OnceLock<Vec<u32>> = OnceLock::new();
    BITS.get_or_init(|| {
        decode(ASPCAP_WINDOWS_NPY, "ASPCAP window mask")
            .into_iter()
            .map(|v| v as u32)
            .collect()
    })
}

/// The window of element branch `branch` (index into [`BRANCH_ELEMENTS`]): a boolean per
/// network pixel.
pub fn branch_window(branch: usize) -> Vec<bool> {
    let bit = BRANCH_ELEMENTS[branch].1;
    aspcap_window_bits()
        .iter()
        .map(|bits| bits >> bit & 1 == 1)
        .collect()
}

/// The DR17 continuum pixels: a boolean per network pixel.
pub fn continuum_pixels() -> &'static [bool] {
    static MASK: OnceLock<Vec<bool>> = OnceLock::new();
    MASK.get_or_init(|| {
        decode(CONTINUUM_NPY, "continuum mask")
            .into_iter()
            .map(|v| v != 0.0)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_windows_have_the_published_sizes() {
        let sizes: Vec<usize> = (0..BRANCH_ELEMENTS.len())
            .map(|b| branch_window(b).iter().filter(|&&p| p).count())
            .collect();
        assert_eq!(
            sizes,
            [3806, 557, 3776, 505, 13, 106, 51, 102, 24, 8, 16, 19, 31, 28, 29, 46, 70, 24, 206]
        );
    }

    #[test]
    fn continuum_mask_has_532_pixels() {
        assert_eq!(continuum_pixels().len(), NETWORK_PIXELS);
        assert_eq!(continuum_pixels().iter().filter(|&&p| p).count(), 532);
    }
}
