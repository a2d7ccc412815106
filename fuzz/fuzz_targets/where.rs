//! `--where` expressions of the training-set selections: parsed, then evaluated on a row of
//! awkward values.
#![no_main]

use astronn::train::selection::{Expr, Selection};
use libfuzzer_sys::fuzz_target;

const VALUES: [f64; 8] = [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY, -1e308, 4096.0, 7.0];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(selection) = Selection::parse_where(text) {
        for rule in selection.rules() {
            let expr: &Expr = rule.expr();
            let values: Vec<f64> = (0..expr.columns().count())
                .map(|i| VALUES[i % VALUES.len()])
                .collect();
            let _ = expr.eval(&values);
            let _ = expr.holds(&values);
        }
    }
});
