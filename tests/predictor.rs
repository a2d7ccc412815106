//! The library's run API on arrays (`Predictor`, as the Python module uses it) and its
//! refusals: results equal whichever way spectra arrive, NO_RESULT rows carry warnings.

mod common;

use astronn::io::apstar::read_apstar;
use astronn::io::columns::ColumnData;
use astronn::io::model_file::ModelKind;
use astronn::models::{ModelSpec, DEFAULT_DIST_MODEL, DEFAULT_MODEL};
use astronn::nn::precision::Arithmetic;
use astronn::pipeline::flags::NO_RESULT;
use astronn::pipeline::predict::PredictOptions;
use astronn::pipeline::predictor::{
    normalize_rows, ApStarPixels, ArrayRows, Predictions, Predictor,
};
use astronn::pipeline::run::{CatalogSpec, Run, RunInputs, RunSpec};
use std::path::Path;

fn options(mc: usize) -> PredictOptions {
    PredictOptions {
        mc,
        seed: 11,
        strict: false,
    }
}

fn column<'a>(p: &'a Predictions, name: &str) -> &'a ColumnData {
    &p.columns.iter().find(|(n, _)| n == name).unwrap().1
}

/// Every coadd and visit of the test data's first apStar file, row-major.
fn pixels() -> (Vec<f64>, Vec<f64>, Vec<u64>) {
    let star = read_apstar(
        &common::test_data("apStar-dr17-2M17335483-2753043.fits"),
        true,
    )
    .unwrap();
    let (mut flux, mut e_flux, mut bitmask) = (Vec::new(), Vec::new(), Vec::new());
    for slot in &star.spectra {
        let p = slot.pixels.as_ref().unwrap();
        flux.extend(&p.flux);
        e_flux.extend(&p.e_flux);
        bitmask.extend(&p.bitmask);
    }
    (flux, e_flux, bitmask)
}

#[test]
fn raw_pixels_predict_as_their_normalized_spectra() {
    let predictor = Predictor::load(
        &ModelSpec::Default,
        Some(ModelKind::AstroNN),
        None,
        Arithmetic::Float32,
    )
    .unwrap();
    let (flux, e_flux, bitmask) = pixels();
    let raw = ApStarPixels {
        flux: &flux,
        e_flux: &e_flux,
        bitmask: &bitmask,
    };
    let from_raw = predictor
        .predict_apstar(&raw, &ArrayRows::default(), &options(8))
        .unwrap();
    let normalized: Vec<f64> = normalize_rows(&raw)
        .unwrap()
        .into_iter()
        .flat_map(|row| row.unwrap().0)
        .collect();
    let from_normalized = predictor
        .predict_normalized(&normalized, &ArrayRows::default(), &options(8))
        .unwrap();
    assert_eq!(from_raw, from_normalized);
    assert!(from_raw.warnings.is_empty());
    let names: Vec<&str> = from_raw.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..6],
        [
            "teff",
            "e_teff",
            "raw_teff",
            "raw_e_teff",
            "e_teff_model",
            "e_teff_predictive"
        ]
    );
    assert_eq!(names.len(), 22 * 6 + 3);
    let ColumnData::F64(teff) = column(&from_raw, "teff") else {
        panic!("teff is a float column")
    };
    assert_eq!(teff.len(), flux.len() / 8575);
    assert!(teff.iter().all(|t| t.is_finite()));
}

#[test]
fn a_row_that_cannot_be_used_is_no_result_with_a_warning() {
    let predictor = Predictor::load(
        &ModelSpec::DefaultDist,
        Some(ModelKind::AstroNNDist),
        None,
        Arithmetic::Float32,
    )
    .unwrap();
    let mut flux = vec![1.0; 3 * 7514];
    flux[7514 + 5] = f64::INFINITY;
    let out = predictor
        .predict_normalized(&flux, &ArrayRows::default(), &options(0))
        .unwrap();
    assert_eq!(out.warnings.len(), 1);
    assert!(
        out.warnings[0].starts_with("array row 1: "),
        "{:?}",
        out.warnings
    );
    let ColumnData::I64(flags) = column(&out, "result_flags") else {
        panic!("flags are integers")
    };
    // Without photometry every row also says MISSING_PHOTOMETRY and MISSING_EXTINCTION.
    assert_ne!(flags[1] & i64::from(NO_RESULT), 0);
    assert_eq!(flags[0] & i64::from(NO_RESULT), 0);
    let strict = PredictOptions {
        strict: true,
        ..options(0)
    };
    let err = predictor
        .predict_normalized(&flux, &ArrayRows::default(), &strict)
        .unwrap_err();
    assert!(err.to_string().contains("array row 1"), "{err}");
    let ragged = predictor.predict_normalized(&flux[1..], &ArrayRows::default(), &options(0));
    assert!(ragged.unwrap_err().to_string().contains("7514 pixels"));
}

#[test]
fn model_names_choose_embedded_or_file_models() {
    assert_eq!(ModelSpec::from_arg(None), ModelSpec::Default);
    assert_eq!(
        ModelSpec::from_arg(Some(Path::new(DEFAULT_MODEL))),
        ModelSpec::Default
    );
    assert_eq!(
        ModelSpec::from_arg(Some(Path::new(DEFAULT_DIST_MODEL))),
        ModelSpec::DefaultDist
    );
    let file = ModelSpec::from_arg(Some(Path::new("m.pt")));
    assert!(!file.is_default(ModelKind::AstroNN));
    assert!(ModelSpec::DefaultDist.is_default(ModelKind::AstroNNDist));
    assert!(!ModelSpec::DefaultDist.is_default(ModelKind::AstroNN));
    let err = ModelSpec::DefaultDist.load(ModelKind::AstroNN).unwrap_err();
    assert!(err
        .to_string()
        .contains("is an AstroNNDist model, but an AstroNN model"));
}

#[test]
fn a_run_is_refused_before_any_work() {
    let spec = |mc: usize| RunSpec {
        extra: Vec::new(),
        inputs: RunInputs::ApStar {
            inputs: vec![common::test_data("").display().to_string()],
            shard: None,
        },
        astronn: None,
        dist: None,
        noise_model: None,
        catalogs: CatalogSpec::default(),
        mc,
        seed: Some(1),
        strict: false,
        arithmetic: Arithmetic::Float32,
        command_line: String::new(),
        overwrite: false,
    };
    let no_network = Run::prepare(spec(2)).err().unwrap().to_string();
    assert!(
        no_network.contains("needs AstroNN or AstroNNDist"),
        "{no_network}"
    );
    let one_sample = Run::prepare(spec(1)).err().unwrap().to_string();
    assert!(one_sample.contains("no MC variance"), "{one_sample}");
}

/// Spectra run through a network in a group (AstroNN's branch layers shared by the group)
/// get the bits each gets alone, in any group and position: what lets `predict` group
/// spectra freely without its tables depending on thread count or input order.
#[test]
fn a_spectrum_gets_the_same_bits_in_any_group() {
    use astronn::models::{censored_network, default_model, dist_network};
    use astronn::nn::dropout::MaskStream;
    use astronn::nn::mc::{output_statistics, output_statistics_each};
    use astronn::nn::network::BayesianNetwork;

    let (flux, e_flux, bitmask) = pixels();
    let rows = normalize_rows(&ApStarPixels {
        flux: &flux,
        e_flux: &e_flux,
        bitmask: &bitmask,
    })
    .unwrap();
    let spectra: Vec<Vec<f64>> = rows.into_iter().map(|r| r.unwrap().0).collect();
    assert_eq!(spectra.len(), 4, "the coadd and three visits");
    let astronn = censored_network(&default_model(ModelKind::AstroNN).unwrap()).unwrap();
    let dist = dist_network(&default_model(ModelKind::AstroNNDist).unwrap()).unwrap();
    let networks: [&dyn BayesianNetwork; 2] = [&astronn, &dist];
    let stream = |i: usize| MaskStream::new(5, 100 + i as u64);
    for net in networks {
        for samples in [0, 7] {
            let alone: Vec<_> = (0..spectra.len())
                .map(|i| output_statistics(net, &spectra[i], samples, stream(i)).unwrap())
                .collect();
            // The whole group, reversed, and a pair; a repeated spectrum too.
            for order in [vec![0, 1, 2, 3], vec![3, 2, 1, 0], vec![2, 0], vec![1, 1]] {
                let fluxes: Vec<&[f64]> = order.iter().map(|&i| spectra[i].as_slice()).collect();
                let streams = order.iter().map(|&i| stream(i)).collect();
                let grouped = output_statistics_each(net, &fluxes, samples, streams).unwrap();
                for (&i, stats) in order.iter().zip(&grouped) {
                    assert_eq!(stats, &alone[i], "spectrum {i} in group {order:?}");
                }
            }
            assert!(alone[0].mean != alone[1].mean, "the spectra must differ");
        }
    }
}
