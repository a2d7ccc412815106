//! The report's PNG figures, drawn with `plotters` into bitmaps. The text font
//! (DejaVu Sans, `assets/fonts`, with its license) is embedded, so drawing needs no system
//! font or library.

use crate::report::stats::{fractional_errors, Sample};
use crate::report::Quantity;
use crate::{Error, Result};
use plotters::coord::ranged1d::AsRangedCoord;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The embedded font's family name for plotters.
const FONT: &str = "sans-serif";
/// Panels per row of a grid figure.
const COLUMNS: usize = 5;
/// Size of one panel in pixels.
const PANEL: (u32, u32) = (320, 280);

type DrawError = Box<dyn std::error::Error>;
type DrawResult = std::result::Result<(), DrawError>;
/// A panel's chart with its two axes.
type Panel<'a, DB, X, Y> = ChartContext<
    'a,
    DB,
    Cartesian2d<<X as AsRangedCoord>::CoordDescType, <Y as AsRangedCoord>::CoordDescType>,
>;

/// Registers the embedded font with plotters (once per process).
fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| Error::Invalid("the embedded font could not be loaded".into()))
}

/// Draws the figure `name` in `dir` with `draw`; errors name the file.
fn figure(dir: &Path, name: &str, draw: impl FnOnce(&Path) -> DrawResult) -> Result<PathBuf> {
    register_font()?;
    let path = dir.join(name);
    draw(&path).map_err(|e| Error::file(&path, format!("cannot draw the figure: {e}")))?;
    Ok(path)
}

/// A label's name as astronomers write it: `Teff`, `log g`, `[Mg/H]`, `[Ti II/H]`.
pub fn display_name(label: &str) -> String {
    match label {
        "teff" => "Teff".into(),
        "logg" => "log g".into(),
        "dist" => "distance".into(),
        other => match other.strip_suffix("_h") {
            Some(element) => {
                let element = element.replace("_1", " I").replace("_2", " II");
                let mut chars = element.chars();
                let first = chars.next().map(|c| c.to_ascii_uppercase());
                format!(
                    "[{}{}/H]",
                    first.map(String::from).unwrap_or_default(),
                    chars.as_str()
                )
            }
            None => other.into(),
        },
    }
}

/// A label's unit: K for Teff, pc for distance, dex otherwise.
pub fn unit(label: &str) -> &'static str {
    match label {
        "teff" => "K",
        "dist" => "pc",
        "L_fakemag" => "",
        _ => "dex",
    }
}

/// A label's name with its unit, for axis titles: `Teff [K]`.
fn with_unit(label: &str) -> String {
    match unit(label) {
        "" => display_name(label),
        u => format!("{} [{u}]", display_name(label)),
    }
}

/// The `lo`–`hi` quantiles of the finite values, widened by 5 % on each side (a unit
/// range around a single value); `None` for no finite value.
fn axis_range(values: impl IntoIterator<Item = f64>, lo: f64, hi: f64) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let (a, b) = (at(lo), at(hi));
    let pad = if b > a {
        0.05 * (b - a)
    } else {
        0.5 * a.abs().max(1.0)
    };
    Some((a - pad, b + pad))
}

/// A tick label: at most three decimals, trailing zeros and a negative zero dropped.
fn tick(value: &f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".into(),
        t => t.into(),
    }
}

/// A positive range for a logarithmic axis: the extremes of the positive values, widened
/// by a factor 1.2.
fn log_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (lo <= hi).then(|| (lo / 1.2, hi * 1.2))
}

/// Tick positions for a logarithmic axis over `(lo, hi)`: 1, 2 and 5 times powers of ten.
fn log_ticks((lo, hi): (f64, f64)) -> Vec<f64> {
    let first = lo.log10().floor() as i32;
    let last = hi.log10().ceil() as i32;
    (first..=last)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(|&t| t >= lo && t <= hi)
        .collect()
}

fn inside(value: f64, (lo, hi): (f64, f64)) -> bool {
    value >= lo && value <= hi
}

/// Point size and transparency for `n` points: smaller and fainter for crowded panels.
fn point_style(n: usize, color: RGBColor) -> (u32, ShapeStyle) {
    let alpha = if n > 2000 { 0.25 } else { 0.6 };
    let size = if n > 2000 { 1 } else { 2 };
    (size, color.mix(alpha).filled())
}

/// The axes of a grid panel: five ticks per axis, no mesh, the descriptions.
fn draw_grid_axes<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    x_desc: &str,
    y_desc: &str,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FONT, 11))
        .axis_desc_style((FONT, 12))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()?;
    Ok(())
}

/// Residual points within the axes `x` and `y`, and the zero line.
fn draw_residuals<DB, X>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    points: &[(f64, f64)],
    x: (f64, f64),
    y: (f64, f64),
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
{
    let (size, style) = point_style(points.len(), BLUE);
    chart.draw_series(
        points
            .iter()
            .filter(|p| inside(p.0, x) && inside(p.1, y))
            .map(|&p| Circle::new(p, size, style)),
    )?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x.0, 0.0), (x.1, 0.0)],
        RED.stroke_width(1),
    )))?;
    Ok(())
}

/// The grid shape for `n` panels.
fn grid(n: usize) -> (usize, usize) {
    let columns = n.clamp(1, COLUMNS);
    (n.div_ceil(columns).max(1), columns)
}

fn grid_size((rows, columns): (usize, usize)) -> (u32, u32) {
    (PANEL.0 * columns as u32, PANEL.1 * rows as u32)
}

/// Builds a panel's chart with the common styling.
fn panel_chart<'a, DB, X, Y>(
    area: &'a DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x: X,
    y: Y,
) -> std::result::Result<Panel<'a, DB, X, Y>, DrawError>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: AsRangedCoord,
    Y: AsRangedCoord,
{
    Ok(ChartBuilder::on(area)
        .caption(title, (FONT, 16))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(58)
        .build_cartesian_2d(x, y)?)
}

/// `one_to_one.png`: predicted against true value per label, with the 1:1 line.
pub fn one_to_one(dir: &Path, labels: &[Quantity]) -> Result<PathBuf> {
    figure(dir, "one_to_one.png", |path| {
        let shape = grid(labels.len());
        let root = BitMapBackend::new(path, grid_size(shape)).into_drawing_area();
        root.fill(&WHITE)?;
        let areas = root.split_evenly(shape);
        for (area, q) in areas.iter().zip(labels) {
            let usable: Vec<&Sample> = q.samples.iter().filter(|s| s.usable()).collect();
            let values = usable.iter().flat_map(|s| [s.pred, s.truth]);
            let Some(range) = axis_range(values, 0.005, 0.995) else {
                continue;
            };
            let mut chart = panel_chart(
                area,
                &display_name(&q.name),
                range.0..range.1,
                range.0..range.1,
            )?;
            draw_grid_axes(
                &mut chart,
                &format!("true {}", with_unit(&q.name)),
                &format!("predicted {}", with_unit(&q.name)),
            )?;
            let (size, style) = point_style(usable.len(), BLUE);
            chart.draw_series(
                usable
                    .iter()
                    .filter(|s| inside(s.pred, range) && inside(s.truth, range))
                    .map(|s| Circle::new((s.truth, s.pred), size, style)),
            )?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(range.0, range.0), (range.1, range.1)],
                RED.stroke_width(1),
            )))?;
        }
        root.present()?;
        Ok(())
    })
}

/// `residual_vs_snr.png`: pred − truth against SNR (log axis) per label, with zero line.
pub fn residual_vs_snr(dir: &Path, labels: &[Quantity], snr: &[f64]) -> Result<PathBuf> {
    figure(dir, "residual_vs_snr.png", |path| {
        let shape = grid(labels.len());
        let root = BitMapBackend::new(path, grid_size(shape)).into_drawing_area();
        root.fill(&WHITE)?;
        let snr_range = log_range(snr.iter().copied());
        let areas = root.split_evenly(shape);
        for (area, q) in areas.iter().zip(labels) {
            let points: Vec<(f64, f64)> = q
                .samples
                .iter()
                .zip(snr)
                .filter(|(s, &snr)| s.usable() && snr > 0.0)
                .map(|(s, &snr)| (snr, s.pred - s.truth))
                .collect();
            let (Some(x), Some(y)) = (
                snr_range,
                axis_range(points.iter().map(|p| p.1).chain([0.0]), 0.01, 0.99),
            ) else {
                continue;
            };
            let mut chart = panel_chart(
                area,
                &display_name(&q.name),
                (x.0..x.1).log_scale().with_key_points(log_ticks(x)),
                y.0..y.1,
            )?;
            draw_grid_axes(
                &mut chart,
                "SNR",
                &format!("pred − true {}", bracket_unit(&q.name)),
            )?;
            draw_residuals(&mut chart, &points, x, y)?;
        }
        root.present()?;
        Ok(())
    })
}

fn bracket_unit(label: &str) -> String {
    match unit(label) {
        "" => String::new(),
        u => format!("[{u}]"),
    }
}

/// `zscore_hist.png`: histograms of (pred − truth) / error per label, with the unit
/// Gaussian overlaid (both as probability densities).
pub fn zscore_hist(dir: &Path, labels: &[Quantity]) -> Result<PathBuf> {
    const BINS: usize = 40;
    const LIMIT: f64 = 5.0;
    figure(dir, "zscore_hist.png", |path| {
        let shape = grid(labels.len());
        let root = BitMapBackend::new(path, grid_size(shape)).into_drawing_area();
        root.fill(&WHITE)?;
        let width = 2.0 * LIMIT / BINS as f64;
        let areas = root.split_evenly(shape);
        for (area, q) in areas.iter().zip(labels) {
            let usable: Vec<&Sample> = q.samples.iter().filter(|s| s.usable()).collect();
            let z = crate::report::stats::z_scores(&usable);
            if z.is_empty() {
                continue;
            }
            let mut counts = [0usize; BINS];
            for v in z.iter().filter(|v| v.abs() < LIMIT) {
                counts[((v + LIMIT) / width) as usize % BINS] += 1;
            }
            let density = |c: usize| c as f64 / (z.len() as f64 * width);
            let peak = counts.iter().map(|&c| density(c)).fold(0.45, f64::max) * 1.1;
            let mut chart = panel_chart(area, &display_name(&q.name), -LIMIT..LIMIT, 0.0..peak)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(6)
                .y_labels(4)
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .label_style((FONT, 11))
                .axis_desc_style((FONT, 12))
                .x_desc("(pred − true) / error")
                .y_desc("density")
                .draw()?;
            chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = -LIMIT + i as f64 * width;
                Rectangle::new(
                    [(x0, 0.0), (x0 + width, density(c))],
                    BLUE.mix(0.5).filled(),
                )
            }))?;
            let gaussian = (0..=200).map(|i| {
                let x = -LIMIT + i as f64 * 2.0 * LIMIT / 200.0;
                (
                    x,
                    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt(),
                )
            });
            chart.draw_series(std::iter::once(PathElement::new(
                gaussian.collect::<Vec<_>>(),
                RED.stroke_width(2),
            )))?;
        }
        root.present()?;
        Ok(())
    })
}

/// `distance_error.png`: fractional distance error against true distance (log axis).
pub fn distance_error(dir: &Path, dist: &Quantity) -> Result<PathBuf> {
    figure(dir, "distance_error.png", |path| {
        let root = BitMapBackend::new(path, (720, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let usable: Vec<&Sample> = dist
            .samples
            .iter()
            .filter(|s| s.usable() && s.truth > 0.0)
            .collect();
        let points: Vec<(f64, f64)> = usable
            .iter()
            .map(|s| s.truth)
            .zip(fractional_errors(&usable))
            .collect();
        let (Some(x), Some(y)) = (
            log_range(points.iter().map(|p| p.0)),
            axis_range(points.iter().map(|p| p.1).chain([0.0]), 0.01, 0.99),
        ) else {
            return Ok(root.present()?);
        };
        let mut chart = panel_chart(
            &root,
            "distance",
            (x.0..x.1).log_scale().with_key_points(log_ticks(x)),
            y.0..y.1,
        )?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .x_desc("true distance [pc]")
            .y_desc("(pred − true) / true")
            .draw()?;
        draw_residuals(&mut chart, &points, x, y)?;
        root.present()?;
        Ok(())
    })
}

/// One side of the Kiel diagram: Teff, log g and [Fe/H] per star.
pub struct KielPanel<'a> {
    /// Panel title ("predicted", "true").
    pub title: &'a str,
    /// (Teff, log g, [Fe/H]) per star; [Fe/H] may be NaN (drawn grey).
    pub stars: Vec<(f64, f64, f64)>,
}

/// The [Fe/H] range of the colour scale.
const FE_H_SCALE: (f64, f64) = (-2.5, 0.5);

/// The colour of an [Fe/H] value: blue (metal-poor) to red (metal-rich); grey when unknown.
fn fe_h_color(fe_h: f64) -> RGBAColor {
    if !fe_h.is_finite() {
        return RGBAColor(128, 128, 128, 0.4);
    }
    let t = ((fe_h - FE_H_SCALE.0) / (FE_H_SCALE.1 - FE_H_SCALE.0)).clamp(0.0, 1.0);
    let rgb = HSLColor(0.66 * (1.0 - t), 0.85, 0.45).to_rgba();
    RGBAColor(rgb.0, rgb.1, rgb.2, 0.5)
}

/// `kiel.png`: log g against Teff, both axes inverted (hot stars left, giants at the top),
/// coloured by [Fe/H] with a colour bar; one panel per side given.
pub fn kiel(dir: &Path, panels: &[KielPanel]) -> Result<PathBuf> {
    figure(dir, "kiel.png", |path| {
        let width = 520 * panels.len() as u32 + 110;
        let root = BitMapBackend::new(path, (width, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let (plots, bar) = root.split_horizontally(width - 110);
        let all = panels.iter().flat_map(|p| p.stars.iter());
        let teff = axis_range(all.clone().map(|s| s.0), 0.005, 0.995);
        let logg = axis_range(all.map(|s| s.1), 0.005, 0.995);
        let (Some(teff), Some(logg)) = (teff, logg) else {
            return Ok(root.present()?);
        };
        let areas = plots.split_evenly((1, panels.len()));
        for (area, panel) in areas.iter().zip(panels) {
            // Negated coordinates draw the axes inverted; the labels undo the sign.
            let mut chart = panel_chart(area, panel.title, -teff.1..-teff.0, -logg.1..-logg.0)?;
            let negate = |v: &f64| tick(&-v);
            chart
                .configure_mesh()
                .disable_mesh()
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .x_label_formatter(&negate)
                .y_label_formatter(&negate)
                .x_desc("Teff [K]")
                .y_desc("log g [dex]")
                .draw()?;
            let size = if panel.stars.len() > 2000 { 1 } else { 2 };
            chart.draw_series(
                panel
                    .stars
                    .iter()
                    .filter(|s| inside(s.0, teff) && inside(s.1, logg))
                    .map(|&(t, g, fe)| Circle::new((-t, -g), size, fe_h_color(fe).filled())),
            )?;
        }
        colour_bar(&bar)?;
        root.present()?;
        Ok(())
    })
}

/// The [Fe/H] colour bar beside the Kiel diagram.
fn colour_bar(area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(46)
        .margin_right(8)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, FE_H_SCALE.0..FE_H_SCALE.1)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_label_formatter(&tick)
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .y_desc("[Fe/H] [dex]")
        .draw()?;
    let steps = 60;
    let step = (FE_H_SCALE.1 - FE_H_SCALE.0) / steps as f64;
    chart.draw_series((0..steps).map(|i| {
        let lo = FE_H_SCALE.0 + i as f64 * step;
        let c = fe_h_color(lo + 0.5 * step);
        Rectangle::new(
            [(0.0, lo), (1.0, lo + step)],
            RGBColor(c.0, c.1, c.2).filled(),
        )
    }))?;
    Ok(())
}

/// `jacobian_<label>.png`: a label's Jacobian against wavelength, one panel per detector
/// chip: the mean over the spectra (blue) and the first spectrum (grey), with the pixels of
/// `window` (the element's ASPCAP windows) shaded.
pub fn jacobian(
    dir: &Path,
    label: &str,
    mean: &[f64],
    first: Option<&[f64]>,
    window: Option<&[bool]>,
) -> Result<PathBuf> {
    use crate::apogee::grid::{chip_ranges_without_gaps, wavelength, CHIPS, LOG_LAMBDA_STEP};
    let name = format!("jacobian_{label}.png");
    figure(dir, &name, |path| {
        let root = BitMapBackend::new(path, (1400, 900)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!(
            "d {} / d pixel: mean over the spectra (blue), first spectrum (grey){}",
            display_name(label),
            if window.is_some() {
                ", ASPCAP windows (shaded)"
            } else {
                ""
            }
        );
        let root = root.titled(&title, (FONT, 20))?;
        let chips = chip_ranges_without_gaps();
        for (chip, area) in chips.iter().zip(root.split_evenly((3, 1))) {
            let apstar = &CHIPS[chips.iter().position(|c| c == chip).unwrap_or(0)];
            let lambda: Vec<f64> = apstar.clone().map(wavelength).collect();
            // Half a pixel in wavelength, for the shaded window pixels.
            let half_pixel = |l: f64| 0.5 * l * (10f64.powf(LOG_LAMBDA_STEP) - 1.0);
            let values = mean[chip.clone()].iter().copied();
            let others = first.map_or(Vec::new(), |f| f[chip.clone()].to_vec());
            let (lo, hi) = values
                .clone()
                .chain(others.iter().copied())
                .filter(|v| v.is_finite())
                .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let pad = 0.05 * (hi - lo).max(1e-12);
            let y = (lo - pad, hi + pad);
            let x = (lambda[0], lambda[lambda.len() - 1]);
            let mut chart = ChartBuilder::on(&area)
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(70)
                .build_cartesian_2d(x.0..x.1, y.0..y.1)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(8)
                .y_labels(5)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .x_desc("wavelength [Å]")
                .y_desc(format!("{} per unit flux", unit(label)))
                .draw()?;
            if let Some(window) = window {
                let shaded = lambda
                    .iter()
                    .zip(&window[chip.clone()])
                    .filter(|(_, &inside)| inside)
                    .map(|(&l, _)| {
                        let half = half_pixel(l);
                        Rectangle::new(
                            [(l - half, y.0), (l + half, y.1)],
                            YELLOW.mix(0.35).filled(),
                        )
                    });
                chart.draw_series(shaded)?;
            }
            if !others.is_empty() {
                chart.draw_series(std::iter::once(PathElement::new(
                    lambda
                        .iter()
                        .copied()
                        .zip(others.iter().copied())
                        .collect::<Vec<_>>(),
                    BLACK.mix(0.35).stroke_width(1),
                )))?;
            }
            chart.draw_series(std::iter::once(PathElement::new(
                lambda.iter().copied().zip(values).collect::<Vec<_>>(),
                BLUE.stroke_width(1),
            )))?;
        }
        root.present()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ticks_and_ranges() {
        assert_eq!(display_name("teff"), "Teff");
        assert_eq!(display_name("c_1_h"), "[C I/H]");
        assert_eq!(display_name("ti_2_h"), "[Ti II/H]");
        assert_eq!(with_unit("mg_h"), "[Mg/H] [dex]");
        assert_eq!(with_unit("logg"), "log g [dex]");
        assert_eq!(tick(&4000.0), "4000");
        assert_eq!(tick(&-0.0001), "0");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(log_ticks((15.0, 600.0)), [20.0, 50.0, 100.0, 200.0, 500.0]);
        assert_eq!(axis_range([1.0, f64::NAN, 3.0], 0.0, 1.0), Some((0.9, 3.1)));
        assert_eq!(grid(22), (5, 5));
        assert_eq!(grid(3), (1, 3));
    }
}
