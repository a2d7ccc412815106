//! Continuum normalization against astroNN's output on real spectra.

mod common;

use astronn::apogee::continuum::normalize;
use astronn::io::npy::NpyArray;

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn continuum_matches_astronn_for_every_fixture_row() {
    let dir = common::fixtures();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["continuum"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let read = |key: &str| NpyArray::read(&dir.join(case[key].as_str().unwrap())).unwrap();
        let flux = read("flux").data;
        let e_flux = read("e_flux").data;
        let bitmask: Vec<u64> = read("bitmask").data.iter().map(|&b| b as u64).collect();
        let expected_flux = read("norm_flux").data;
        let expected_err = read("norm_e_flux").data;
        let out = normalize(&flux, &e_flux, &bitmask).unwrap();
        let label = format!("{} row {}", case["file"], case["row"]);
        let mut worst = 0.0f64;
        for (i, (&got, &want)) in out.flux.iter().zip(&expected_flux).enumerate() {
            let rel = relative(got, want);
            assert!(rel <= 1e-7, "{label}: flux pixel {i}: {got} vs {want}");
            worst = worst.max(rel);
        }
        let mut compared = 0;
        for (i, (&got, &want)) in out.e_flux.iter().zip(&expected_err).enumerate() {
            if want.is_finite() {
                assert!(
                    relative(got, want) <= 1e-7,
                    "{label}: error pixel {i}: {got} vs {want}"
                );
                compared += 1;
            } else {
                assert!(
                    !got.is_finite(),
                    "{label}: error pixel {i}: {got} vs {want}"
                );
            }
        }
        assert!(compared > 7000, "{label}: only {compared} finite errors");
        eprintln!("{label}: worst relative flux difference {worst:.2e}");
    }
}
