//! The simulation's spectral model: a normalized APOGEE spectrum as a function of the 22
//! AstroNN labels, with its exact Jacobian (`docs/simulation.md` gives the equations).
//!
//! Every pixel is absorption of optical depth τ (normalized flux `exp(−τ)`, so a line's
//! response is smooth, monotonic and saturates as the line goes black). τ starts from a real
//! normalized APOGEE spectrum (the template) and changes with the labels through
//! `ln τ = ln τ_ref + Σ_k D_k(pixel) · Δθ_k + ε(line)`:
//! - a common line strength: every line weakens with Teff and strengthens with [Fe/H];
//! - per-line patterns for Teff, log g and [Fe/H] over the whole spectrum;
//! - each element only inside its ASPCAP windows, through [X/Fe];
//! - ε: each star's own scatter of line strengths (what a real star has and no model
//!   captures), independent per pixel, the same in every visit.
//!
//! The patterns come from a fixed seed: they are part of the model, not of a survey.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::apogee::masks::{aspcap_window_bits, BRANCH_ELEMENTS};
use crate::io::npy::NpyArray;
use crate::nn::censored::{branch_output, FE_H_OUTPUT, LABELS};
use crate::random::{normal, stream, uniform};
use std::f64::consts::LN_10;
use std::sync::OnceLock;

/// Number of labels the model takes (AstroNN's, in its output order).
pub const N_LABELS: usize = LABELS.len();

/// Index of Teff, log g and [Fe/H] in [`LABELS`].
pub const TEFF: usize = 0;
/// Index of log g.
pub const LOGG: usize = 1;
/// Index of [Fe/H].
pub const FE_H: usize = FE_H_OUTPUT;

/// The template: astroNN's normalization of the coadd of the real DR17 spectrum
/// `apStar-dr17-2M17335483-2753043.fits` (in `tests/data`), a metal-rich red giant.
const TEMPLATE_NPY: &[u8] = include_bytes!("../../data/sim_template.npy");

/// The labels the template stands for (a documented convention of the test bed).
pub const TEMPLATE_TEFF: f64 = 4500.0;
/// Template log g.
pub const TEMPLATE_LOGG: f64 = 2.0;

/// Seed of the model's pixel patterns.
const MODEL_SEED: u64 = 0x0A57_0A57_2019;

/// Line strength: e-folds per 1000 K (lines weaken towards hot stars).
const LAMBDA_TEFF: f64 = 0.4;
/// Line strength: dex of τ per dex of [Fe/H] (lines weaken towards metal-poor stars).
const LAMBDA_FE: f64 = 0.8;
/// Amplitude of the per-line Teff pattern (e-folds of τ per 1000 K).
const GAIN_TEFF: f64 = 0.08;
/// Amplitude of the per-line log g pattern (e-folds of τ per dex).
const GAIN_LOGG: f64 = 0.12;
/// Amplitude of the per-line [Fe/H] pattern (e-folds of τ per dex).
const GAIN_FE: f64 = 0.1;
/// Strength of an element's lines in its windows: dex of τ per dex of [X/Fe].
const GAIN_ELEMENT: f64 = 0.15;

/// Pixels per line: the label patterns are shared by consecutive groups of this many
/// network pixels.
const LINE_WIDTH: usize = 4;
/// Standard deviation of a star's own line strengths (e-folds of τ, per pixel).
pub const LINE_STRENGTH_SCATTER: f64 = 0.45;

/// Number of lines of the network grid.
const N_LINES: usize = NETWORK_PIXELS.div_ceil(LINE_WIDTH);

/// The line a network pixel belongs to.
fn line_of(pixel: usize) -> usize {
    pixel / LINE_WIDTH
}

/// Template flux range kept when the optical depth is derived from it.
const TEMPLATE_FLUX_RANGE: (f64, f64) = (0.02, 0.995);

/// The element labels, as (label index, ASPCAP window bit): the censored network's element
/// branches, at their place in its output ([Fe/H]'s window carries the [Fe/H] pattern
/// instead).
fn element_labels() -> impl Iterator<Item = (usize, u32)> {
    BRANCH_ELEMENTS
        .iter()
        .enumerate()
        .map(|(branch, &(_, bit))| (branch_output(branch), bit))
}

/// Bit of Fe in the ASPCAP window mask.
const FE_BIT: u32 = 17;

/// The spectral model: the template's optical depths and each pixel's response to each label.
#[derive(Debug)]
pub struct SpectralModel {
    /// ln τ of the template, per pixel.
    ln_tau_ref: Vec<f64>,
    /// d ln τ / d θ_k per pixel, row-major `[pixel][label]`, labels in their own units.
    response: Vec<[f64; N_LABELS]>,
}

impl SpectralModel {
    /// The model (built once; it depends on nothing but the embedded template and masks).
    pub fn get() -> &'static SpectralModel {
        static MODEL: OnceLock<SpectralModel> = OnceLock::new();
        MODEL.get_or_init(SpectralModel::build)
    }

    fn build() -> SpectralModel {
        let template = template_flux();
        let ln_tau_ref = template
            .iter()
            .map(|f| {
                let clipped = f.clamp(TEMPLATE_FLUX_RANGE.0, TEMPLATE_FLUX_RANGE.1);
                (-clipped.ln()).ln()
            })
            .collect();
        let bits = aspcap_window_bits();
        let mut patterns = stream(MODEL_SEED, "sim-patterns", 0);
        let mut weights = stream(MODEL_SEED, "sim-element-weights", 0);
        let lines: Vec<[f64; 3]> = (0..N_LINES)
            .map(|_| std::array::from_fn(|_| normal(&mut patterns)))
            .collect();
        let line_weights: Vec<[f64; N_LABELS]> = (0..N_LINES)
            .map(|_| std::array::from_fn(|_| 0.5 + 0.5 * uniform(&mut weights)))
            .collect();
        let response = bits
            .iter()
            .enumerate()
            .map(|(pixel, &pixel_bits)| {
                let [a, b, c] = lines[line_of(pixel)];
                let weight = &line_weights[line_of(pixel)];
                let mut d = [0.0; N_LABELS];
                let fe_window = if pixel_bits >> FE_BIT & 1 == 1 {
                    1.5
                } else {
                    1.0
                };
                d[TEFF] = (-LAMBDA_TEFF + GAIN_TEFF * a) / 1000.0;
                d[LOGG] = GAIN_LOGG * b;
                d[FE_H] = LAMBDA_FE * LN_10 + GAIN_FE * fe_window * c;
                let mut elements = 0.0;
                for (label, bit) in element_labels() {
                    if pixel_bits >> bit & 1 == 1 {
                        d[label] = GAIN_ELEMENT * LN_10 * weight[label];
                        elements += d[label];
                    }
                }
                // Elements act through [X/Fe] = [X/H] − [Fe/H].
                d[FE_H] -= elements;
                d
            })
            .collect();
        SpectralModel {
            ln_tau_ref,
            response,
        }
    }

    /// Optical depth of every pixel for `labels` (AstroNN order and units), with the star's
    /// line-strength offsets `scatter` (one per pixel, e-folds; empty for none).
    fn optical_depth<'a>(
        &'a self,
        labels: &[f64; N_LABELS],
        scatter: &'a [f64],
    ) -> impl Iterator<Item = f64> + 'a {
        let delta = offsets(labels);
        self.ln_tau_ref
            .iter()
            .zip(&self.response)
            .enumerate()
            .map(move |(pixel, (ln_tau, d))| {
                let shift: f64 = d.iter().zip(&delta).map(|(a, b)| a * b).sum();
                let own = scatter.get(pixel).copied().unwrap_or(0.0);
                (ln_tau + shift + own).exp()
            })
    }

    /// The normalized spectrum (7514 pixels) of a star with `labels` and no line-strength
    /// scatter of its own.
    pub fn render(&self, labels: &[f64; N_LABELS]) -> Vec<f64> {
        self.render_star(labels, &[])
    }

    /// The normalized spectrum of a star with `labels` and its own line strengths
    /// `scatter` (one offset of ln τ per pixel; see [`draw_line_scatter`]).
    pub fn render_star(&self, labels: &[f64; N_LABELS], scatter: &[f64]) -> Vec<f64> {
        self.optical_depth(labels, scatter)
            .map(|tau| (-tau).exp())
            .collect()
    }

    /// The spectrum (without line-strength scatter) and its Jacobian:
    /// `jacobian[pixel][k]` = ∂flux/∂θ_k.
    pub fn render_with_jacobian(
        &self,
        labels: &[f64; N_LABELS],
    ) -> (Vec<f64>, Vec<[f64; N_LABELS]>) {
        let mut flux = Vec::with_capacity(NETWORK_PIXELS);
        let jacobian = self
            .optical_depth(labels, &[])
            .zip(&self.response)
            .map(|(tau, d)| {
                let f = (-tau).exp();
                flux.push(f);
                d.map(|dk| -f * tau * dk)
            })
            .collect();
        (flux, jacobian)
    }
}

/// A star's own line strengths: one offset of ln τ per pixel, N(0, [`LINE_STRENGTH_SCATTER`]²).
pub fn draw_line_scatter(rng: &mut crate::nn::dropout::MaskStream) -> Vec<f64> {
    (0..NETWORK_PIXELS)
        .map(|_| LINE_STRENGTH_SCATTER * normal(rng))
        .collect()
}

/// Label offsets from the template's labels.
fn offsets(labels: &[f64; N_LABELS]) -> [f64; N_LABELS] {
    let mut delta = *labels;
    delta[TEFF] -= TEMPLATE_TEFF;
    delta[LOGG] -= TEMPLATE_LOGG;
    delta
}

/// The embedded template spectrum.
fn template_flux() -> Vec<f64> {
    // Fixed at build time and checked by a test against tests/data, so a failure here is a
    // build defect, not a data error.
    match NpyArray::parse(TEMPLATE_NPY) {
        Ok(array) if array.data.len() == NETWORK_PIXELS => array.data,
        Ok(array) => panic!("embedded template has {} pixels", array.data.len()),
        Err(e) => panic!("embedded template is unreadable: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solar_giant() -> [f64; N_LABELS] {
        let mut labels = [0.0; N_LABELS];
        labels[TEFF] = TEMPLATE_TEFF;
        labels[LOGG] = TEMPLATE_LOGG;
        labels
    }

    #[test]
    fn template_is_the_normalized_real_spectrum() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/apStar-dr17-2M17335483-2753043.fits");
        let star = crate::io::apstar::read_apstar(&path, false).expect("test data readable");
        let pixels = star.spectra[0].pixels.as_ref().expect("a usable coadd");
        let normalized =
            crate::apogee::continuum::normalize(&pixels.flux, &pixels.e_flux, &pixels.bitmask)
                .expect("normalizable");
        assert_eq!(normalized.flux, template_flux());
    }

    #[test]
    fn template_labels_reproduce_the_clipped_template() {
        let model = SpectralModel::get();
        let flux = model.render(&solar_giant());
        for (f, t) in flux.iter().zip(template_flux()) {
            let expected = t.clamp(TEMPLATE_FLUX_RANGE.0, TEMPLATE_FLUX_RANGE.1);
            assert!((f - expected).abs() < 1e-12, "{f} {expected}");
        }
    }

    #[test]
    fn jacobian_matches_finite_differences() {
        let model = SpectralModel::get();
        let mut labels = solar_giant();
        labels[TEFF] = 5123.0;
        labels[FE_H] = -0.7;
        labels[7] = -0.4;
        let (_, jacobian) = model.render_with_jacobian(&labels);
        for k in 0..N_LABELS {
            let h = if k == TEFF { 0.5 } else { 1e-4 };
            let (mut up, mut down) = (labels, labels);
            up[k] += h;
            down[k] -= h;
            let (fu, fd) = (model.render(&up), model.render(&down));
            for p in (0..NETWORK_PIXELS).step_by(7) {
                let numeric = (fu[p] - fd[p]) / (2.0 * h);
                let scale = jacobian[p][k].abs().max(1e-9);
                assert!(
                    (numeric - jacobian[p][k]).abs() < 1e-5 * scale + 1e-12,
                    "label {k} pixel {p}: {numeric} vs {}",
                    jacobian[p][k]
                );
            }
        }
    }

    #[test]
    fn elements_act_only_inside_their_windows() {
        let model = SpectralModel::get();
        let base = solar_giant();
        let flux = model.render(&base);
        let bits = aspcap_window_bits();
        for (label, bit) in [(7, 5u32), (11, 9), (21, 19)] {
            let mut more = base;
            more[label] += 0.3;
            let changed = model.render(&more);
            for p in 0..NETWORK_PIXELS {
                let inside = bits[p] >> bit & 1 == 1;
                let moved = (changed[p] - flux[p]).abs() > 0.0;
                assert_eq!(moved, inside, "label {label} pixel {p}");
            }
        }
    }

    #[test]
    fn lines_weaken_towards_hot_and_metal_poor_stars() {
        let model = SpectralModel::get();
        let depth = |labels: &[f64; N_LABELS]| -> f64 {
            model.render(labels).iter().map(|f| 1.0 - f).sum()
        };
        let base = solar_giant();
        let mut hot = base;
        hot[TEFF] = 6500.0;
        let mut poor = base;
        for value in poor.iter_mut().skip(2) {
            *value = -2.0;
        }
        assert!(depth(&hot) < 0.6 * depth(&base));
        assert!(depth(&poor) < 0.3 * depth(&base));
    }
}
