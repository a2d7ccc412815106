//! The report as text: `summary.md` for people, `summary.csv` for programs.

use crate::report::figures::{display_name, unit};
use crate::report::{Report, StarSet};
use std::fmt::Write;

/// The CSV header of `summary.csv`.
pub const CSV_HEADER: &str = "label,set,kind,n,bias,scatter,median_abs,n_crb,scatter_over_crb,\
median_crb,n_z,z_width";

/// One line per label × star set (kind `absolute`: metrics in label units) and per
/// distance-like quantity × star set (kind `fractional`: bias, scatter and median_abs of
/// (pred − truth) / truth); a metric that does not apply is empty, one without data NaN.
pub fn csv(report: &Report) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for row in &report.labels {
        let m = &row.metrics;
        let _ = writeln!(
            out,
            "{},{},absolute,{},{},{},,{},{},{},{},{}",
            row.label,
            row.set.name(),
            m.n,
            m.bias,
            m.scatter,
            m.n_crb,
            m.scatter_over_crb,
            m.median_crb,
            m.n_z,
            m.z_width
        );
    }
    for row in &report.fractional {
        let m = &row.metrics;
        let _ = writeln!(
            out,
            "{},{},fractional,{},{},{},{},,,,{},{}",
            row.quantity,
            row.set.name(),
            m.n,
            m.bias,
            m.scatter,
            m.median_abs,
            m.n_z,
            m.z_width
        );
    }
    out
}

/// A number for a table cell: 4 significant digits, `–` for NaN.
fn cell(value: f64) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    let magnitude = value.abs();
    if magnitude >= 1000.0 || value == 0.0 {
        format!("{value:.1}")
    } else if magnitude >= 1e-3 {
        let decimals = (3 - magnitude.log10().floor() as i32).max(0) as usize;
        format!("{value:.decimals$}")
    } else {
        format!("{value:.2e}")
    }
}

fn set_title(set: StarSet) -> String {
    match set {
        StarSet::All => "All matched rows".into(),
        StarSet::SnrAtLeast(min) => format!("Rows with SNR ≥ {min}"),
    }
}

/// `summary.md`: inputs and counts, the per-label tables, distances, the out-of-range check
/// and the definitions of the metrics.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("# astronn validation report\n\n");
    header(&mut out, report);
    labels(&mut out, report);
    fractional(&mut out, report);
    range(&mut out, report);
    definitions(&mut out, report);
    out
}

fn header(out: &mut String, r: &Report) {
    let c = &r.counts;
    let snr = match r.snr_source {
        Some(source) => format!("`snr` column of the {source}"),
        None => "none (neither file has an `snr` column: the SNR set is empty)".into(),
    };
    let _ = write!(
        out,
        "- result: `{}`\n- reference: `{}` ({} stars)\n- result rows: {} ({} NO_RESULT, \
         {} without a reference star, {} matched)\n- SNR: {snr}\n\n",
        r.result.display(),
        r.truth.display(),
        c.truth_stars,
        c.result_rows,
        c.no_result,
        c.unmatched,
        c.matched
    );
}

fn labels(out: &mut String, r: &Report) {
    if r.labels.is_empty() {
        return;
    }
    for set in r.sets {
        let _ = write!(
            out,
            "## Labels: {}\n\n| label | unit | n | bias | scatter | scatter / CRB | median CRB | z width |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n",
            set_title(set)
        );
        for row in r.labels.iter().filter(|row| row.set == set) {
            let m = &row.metrics;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                display_name(&row.label),
                unit(&row.label),
                m.n,
                cell(m.bias),
                cell(m.scatter),
                cell(m.scatter_over_crb),
                cell(m.median_crb),
                cell(m.z_width)
            );
        }
        out.push('\n');
    }
}

fn fractional(out: &mut String, r: &Report) {
    if r.fractional.is_empty() {
        return;
    }
    out.push_str(
        "## Distances (fractional errors)\n\n| quantity | stars | n | bias | median abs | scatter | z width |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for row in &r.fractional {
        let m = &row.metrics;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.quantity,
            row.set.name(),
            m.n,
            cell(m.bias),
            cell(m.median_abs),
            cell(m.scatter),
            cell(m.z_width)
        );
    }
    out.push('\n');
}

fn range(out: &mut String, r: &Report) {
    let Some(section) = &r.range else {
        return;
    };
    let ranges: Vec<String> = section
        .ranges
        .0
        .iter()
        .map(|(label, [lo, hi])| format!("{label} [{lo}, {hi}]"))
        .collect();
    let _ = write!(
        out,
        "## Out of the training range\n\nModel `{}`: {}. A star is out of range when its \
         true Teff, log g or [Fe/H] lies outside; {} of {} stars judged are.\n\n",
        section.model,
        ranges.join(", "),
        section.out_of_range,
        section.judged
    );
    for c in &section.comparisons {
        let _ = write!(
            out,
            "**{}**: SNR-matched error ratio (median over out-of-range stars of error / \
             in-range median error of the same SNR bin) = **{}** (n = {})\n\n\
             | SNR | n in | n out | median error in | median error out |\n|---|---:|---:|---:|---:|\n",
            c.column,
            cell(c.median_ratio),
            c.n_ratios
        );
        for b in &c.bins {
            let snr = if b.snr_max.is_finite() {
                format!("{}–{}", b.snr_min, b.snr_max)
            } else {
                format!("≥ {}", b.snr_min)
            };
            let _ = writeln!(
                out,
                "| {snr} | {} | {} | {} | {} |",
                b.n_in,
                b.n_out,
                cell(b.median_in),
                cell(b.median_out)
            );
        }
        out.push('\n');
    }
}

fn definitions(out: &mut String, r: &Report) {
    out.push_str(
        "## Definitions\n\n\
         Residual = predicted − true; rows with NO_RESULT, a non-finite prediction or an \
         unknown truth (NaN or −9999) are left out per label. Robust std = 1.4826 · median \
         absolute deviation from the median.\n\n\
         - n: rows compared.\n\
         - bias: median residual.\n\
         - scatter: robust std of the residuals.\n\
         - scatter / CRB: robust std of residual / crb_<label> (rows with a positive bound); \
         1 means the estimator reaches the Cramér–Rao bound.\n\
         - median CRB: median crb_<label> of those rows.\n\
         - z width: robust std of residual / e_<label> (the reported error); 1 means the \
         errors are calibrated, above 1 that they are too small.\n",
    );
    if !r.fractional.is_empty() {
        out.push_str(
            "- distances: f = (predicted − true) / true; bias = median f, median abs = \
             median |f|, scatter = robust std of f, z width = robust std of residual / \
             reported error (nn_dist_err, L_fakemag_err).\n",
        );
    }
    if r.range.is_some() {
        out.push_str(&format!(
            "- SNR bins: lower edges {:?}, last bin open; stars below the first edge are not \
             binned.\n",
            crate::report::range::SNR_EDGES
        ));
    }
}
