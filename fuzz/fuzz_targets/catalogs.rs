//! Catalogs, FITS or CSV (told apart by content): `--sources` and `--gaia`, `--photometry`
//! (Astra's and allStar's column names), training labels (AstroNN's and AstroNNDist's), the
//! column listing, and the selection presets applied to the file, each reading the same input.
#![no_main]

use astronn::io::catalog::column_names;
use astronn::io::labels::{FakemagCatalog, LabelCatalog, LabelColumns};
use astronn::io::photometry::{PhotometryCatalog, PhotometryColumns};
use astronn::pipeline::catalogs::StarCatalogs;
use astronn::train::selection::Selection;
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    let path = astronn_fuzz::write_input("catalog.fits", data);
    if let Ok(sources) = StarCatalogs::load_sources(&path, "sdss4_apogee_id") {
        let _ = sources.catalog.lookup("2M17335483-2753043");
    }
    if let Ok(gaia) = StarCatalogs::load_gaia(&path, "source_id") {
        let _ = gaia.catalog.lookup("4060784287612343296");
    }
    let allstar = PhotometryColumns {
        id: "APOGEE_ID".into(),
        k_mag: "K".into(),
        ebv: "SFD_EBV".into(),
    };
    for columns in [PhotometryColumns::default(), allstar] {
        if let Ok(photometry) = PhotometryCatalog::load(&path, &columns) {
            let _ = photometry.lookup("2M17335483-2753043");
        }
    }
    let columns = LabelColumns::default();
    let _ = LabelCatalog::load(&path, &astronn::nn::censored::LABELS, &columns);
    let _ = FakemagCatalog::load(&path, &columns);
    let _ = column_names(&path, "catalog");
    for preset in ["dr19-astronn", "dr19-dist"] {
        if let Ok(selection) = Selection::preset(preset) {
            let _ = selection.apply(&path, "APOGEE_ID");
        }
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    astronn_fuzz::mutate_fits(data, size, max_size, seed)
});
