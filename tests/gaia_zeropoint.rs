//! The Lindegren et al. (2021) Gaia DR3 parallax zero-point against the `gaiadr3-zeropoint`
//! package, on the grid that `scripts/gaia_zeropoint_grid.py` writes with it.

use astronn::pipeline::gaia::{lindegren_zero_point, ZeroPointInputs};
use std::path::Path;

const GRID: &str = "tests/data/gaia_zeropoint_grid.csv";
const HEADER: &str = "phot_g_mean_mag,nu_eff_used_in_astrometry,pseudocolour,ecl_lat,\
                      astrometric_params_solved,zero_point_mas";
/// The package rounds to 1e-6 mas; this allows the last digit.
const TOLERANCE_MAS: f64 = 1e-6;
/// The grid has a few thousand rows; far fewer means a truncated file.
const MIN_ROWS: usize = 2000;

/// One row: the inputs and the package's zero-point in mas.
fn parse_row(line: &str) -> (ZeroPointInputs, f64) {
    let fields: Vec<&str> = line.split(',').collect();
    assert_eq!(fields.len(), 6, "bad row {line:?}");
    let float = |i: usize| -> f64 {
        fields[i]
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    let inputs = ZeroPointInputs {
        phot_g_mean_mag: float(0),
        nu_eff_used_in_astrometry: float(1),
        pseudocolour: float(2),
        ecl_lat: float(3),
        astrometric_params_solved: fields[4]
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {line:?}")),
    };
    (inputs, float(5))
}

/// |ours − package|, 0 when both are NaN and infinite when only one is.
fn difference(ours: f64, expected: f64) -> f64 {
    match (ours.is_nan(), expected.is_nan()) {
        (true, true) => 0.0,
        (false, false) => (ours - expected).abs(),
        _ => f64::INFINITY,
    }
}

#[test]
fn zero_point_matches_package_on_grid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GRID);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER));
    let (mut rows, mut max_difference, mut worst) = (0, 0.0_f64, String::new());
    for line in lines {
        let (inputs, expected) = parse_row(line);
        let ours = lindegren_zero_point(&inputs).expect("a 5- or 6-parameter solution");
        let difference = difference(ours, expected);
        if difference > max_difference {
            max_difference = difference;
            worst = format!("{line} (ours {ours})");
        }
        rows += 1;
    }
    assert!(rows >= MIN_ROWS, "only {rows} rows in {}", path.display());
    assert!(
        max_difference <= TOLERANCE_MAS,
        "max |ours - package| = {max_difference:e} mas over {rows} rows; worst row: {worst}"
    );
}
