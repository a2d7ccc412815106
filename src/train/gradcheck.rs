//! Gradient checks: autograd against central finite differences, in f64, for every layer
//! kind the training forwards use (dense, same-padded convolution, relu + max-pool +
//! flatten, softplus, the loss) and for the whole censored and distance networks. Also the
//! stop-gradient, and the training forwards against the inference paths.

use crate::apogee::grid::NETWORK_PIXELS;
use crate::nn::censored::{CensoredBcnn, LABELS};
use crate::nn::conv_grad::{conv_trunk, TrunkMasks};
use crate::nn::dense_grad::linear;
use crate::nn::dist::DistBcnn;
use crate::nn::dropout::{DropoutRate, MaskStream};
use crate::nn::network::BayesianNetwork;
use crate::nn::sampling::Dropout;
use crate::random::{below, normal, stream};
use crate::train::data::Normalisation;
use crate::train::dist_model::{softplus_op, TrainableDist};
use crate::train::loss::{censored_loss, LabelTargets};
use crate::train::model::TrainableCensored;
use crate::train::network::TrainableNetwork;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;

fn randn(rng: &mut MaskStream, shape: &[usize], scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|_| scale * normal(rng)).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn var(rng: &mut MaskStream, shape: &[usize], scale: f64) -> Var {
    Var::from_tensor(&randn(rng, shape, scale)).unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// Sets element `k` of `v` to `value`.
fn set_element(v: &Var, k: usize, value: f64) {
    let mut values = v
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    values[k] = value;
    v.set(&Tensor::from_vec(values, v.shape(), &Device::Cpu).unwrap())
        .unwrap();
}

fn element(t: &Tensor, k: usize) -> f64 {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()[k]
}

/// Compares the autograd gradient of `loss` w.r.t. `v` with central differences at the
/// elements `indices`.
fn check(name: &str, v: &Var, indices: &[usize], loss: &dyn Fn() -> Tensor) {
    let grads = loss().backward().unwrap();
    check_with(name, v, indices, loss, &grads, (1e-5, 1e-6, 1e-9));
}

/// [`check`] with the gradients already computed, and the step h, relative tolerance and
/// absolute tolerance given.
fn check_with(
    name: &str,
    v: &Var,
    indices: &[usize],
    loss: &dyn Fn() -> Tensor,
    grads: &GradStore,
    (h, rel, abs): (f64, f64, f64),
) {
    let grad = grads
        .get(v.as_tensor())
        .unwrap_or_else(|| panic!("{name}: no gradient"))
        .clone();
    for &k in indices {
        let original = element(v.as_tensor(), k);
        set_element(v, k, original + h);
        let up = scalar(&loss());
        set_element(v, k, original - h);
        let down = scalar(&loss());
        set_element(v, k, original);
        let numeric = (up - down) / (2.0 * h);
        let analytic = element(&grad, k);
        let tolerance = rel * (analytic.abs() + numeric.abs()) + abs;
        assert!(
            (analytic - numeric).abs() <= tolerance,
            "{name}[{k}]: autograd {analytic:e}, finite difference {numeric:e}"
        );
    }
}

fn all(v: &Var) -> Vec<usize> {
    (0..v.elem_count()).collect()
}

#[test]
fn dense_layer() {
    let mut rng = stream(1, "gradcheck", 0);
    let (w, b, x) = (
        var(&mut rng, &[4, 5], 0.5),
        var(&mut rng, &[4], 0.5),
        var(&mut rng, &[3, 5], 1.0),
    );
    let r = randn(&mut rng, &[3, 4], 1.0);
    let loss = || {
        (linear(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    check("weight", &w, &all(&w), &loss);
    check("bias", &b, &all(&b), &loss);
    check("input", &x, &all(&x), &loss);
}

/// The conv trunk's parameter gradients (through conv2, pooling, relu, dropout and conv1,
/// edges included: padding and an incomplete last pooling window), with and without masks.
#[test]
fn convolution_trunk() {
    let mut rng = stream(2, "gradcheck", 0);
    let (w1, b1) = (var(&mut rng, &[2, 1, 8], 0.5), var(&mut rng, &[2], 0.5));
    let (w2, b2) = (var(&mut rng, &[3, 2, 8], 0.5), var(&mut rng, &[3], 0.5));
    // 18 positions: 4 full windows of 4 and an incomplete one that must get no gradient.
    let x = randn(&mut rng, &[2, 18], 1.0);
    let r = randn(&mut rng, &[2, 12], 1.0);
    let masks = TrunkMasks {
        conv1: rng.mask(2 * 2 * 18, DropoutRate::ASTRA),
        features: rng.mask(2 * 12, DropoutRate::ASTRA),
    };
    for masks in [None, Some(masks)] {
        let loss = || {
            let conv1 = (w1.as_tensor(), b1.as_tensor());
            let conv2 = (w2.as_tensor(), b2.as_tensor());
            (conv_trunk(&x, conv1, conv2, 4, masks.clone()).unwrap() * &r)
                .unwrap()
                .sum_all()
                .unwrap()
        };
        for (name, v) in [("w1", &w1), ("b1", &b1), ("w2", &w2), ("b2", &b2)] {
            check(name, v, &all(v), &loss);
        }
        // With the spectra on the tape (a variable, as for Jacobians), their gradient too.
        let spectra = Var::from_tensor(&x).unwrap();
        let through_spectra = || {
            let conv1 = (w1.as_tensor(), b1.as_tensor());
            let conv2 = (w2.as_tensor(), b2.as_tensor());
            let features = conv_trunk(spectra.as_tensor(), conv1, conv2, 4, masks.clone());
            (features.unwrap() * &r).unwrap().sum_all().unwrap()
        };
        check("spectra", &spectra, &all(&spectra), &through_spectra);
    }
}

#[test]
fn loss_with_missing_labels_and_errors() {
    let mut rng = stream(4, "gradcheck", 0);
    let (pred, logvar) = (var(&mut rng, &[3, 4], 1.0), var(&mut rng, &[3, 4], 0.5));
    let mut y = randn(&mut rng, &[12], 1.0).to_vec1::<f64>().unwrap();
    y[1] = f64::NAN;
    y[6] = -9999.0;
    y[8..12].fill(f64::NAN); // a spectrum without labels
    let errors: Vec<f64> = (0..12).map(|k| 0.1 * (k % 3) as f64).collect();
    let targets = LabelTargets::new(&y, Some(&errors), 4, DType::F64, &Device::Cpu).unwrap();
    let loss = || censored_loss(pred.as_tensor(), logvar.as_tensor(), &targets).unwrap();
    check("prediction", &pred, &all(&pred), &loss);
    check("log_variance", &logvar, &all(&logvar), &loss);
    let grads = loss().backward().unwrap();
    let g = grads.get(pred.as_tensor()).unwrap().flatten_all().unwrap();
    let g = g.to_vec1::<f64>().unwrap();
    assert_eq!((g[1], g[6]), (0.0, 0.0));
    assert!(g[8..12].iter().all(|&v| v == 0.0));
}

/// Random inputs and targets for the whole network.
fn network_batch(rng: &mut MaskStream, rows: usize) -> (Tensor, LabelTargets) {
    let x = randn(rng, &[rows, NETWORK_PIXELS], 0.2);
    let mut y = randn(rng, &[rows * LABELS.len()], 1.0)
        .to_vec1::<f64>()
        .unwrap();
    y[3] = f64::NAN;
    y[LABELS.len() + 1] = f64::NAN;
    let errors: Vec<f64> = (0..y.len()).map(|k| 0.05 * (k % 4) as f64).collect();
    let targets = LabelTargets::new(&y, Some(&errors), LABELS.len(), DType::F64, &Device::Cpu);
    (x, targets.unwrap())
}

#[test]
fn whole_network_with_dropout() {
    let mut rng = stream(5, "gradcheck", 0);
    let mut net = TrainableCensored::new(DType::F64, 11).unwrap();
    // Autograd must match the derivative of the function itself, so the stop-gradient is
    // lifted here (it is checked on its own below).
    net.stop_gradient = false;
    for (name, v) in net.vars() {
        if name.ends_with(".bias") {
            v.set(&randn(&mut rng, v.dims(), 0.05)).unwrap();
        }
    }
    let (x, targets) = network_batch(&mut rng, 2);
    let loss = || {
        let mut masks = MaskStream::new(22, 0);
        let (y, s) = net.forward(&x, &mut Dropout::On(&mut masks)).unwrap();
        (censored_loss(&y, &s, &targets).unwrap() + net.l2_penalty(1e-3).unwrap()).unwrap()
    };
    let grads = loss().backward().unwrap();
    for (name, v) in net.vars() {
        let picks = if name.ends_with(".weight") { 2 } else { 1 };
        let picks: Vec<usize> = (0..picks)
            .map(|_| below(&mut rng, v.elem_count()))
            .collect();
        // A small step: a step moves thousands of relu and max-pool inputs, and one that
        // crosses a kink spoils the difference quotient.
        check_with(&name, &v, &picks, &loss, &grads, (1e-6, 1e-4, 1e-9));
    }
}

#[test]
fn element_heads_see_teff_logg_feh_through_a_stop_gradient() {
    let mut rng = stream(6, "gradcheck", 0);
    let net = TrainableCensored::new(DType::F64, 12).unwrap();
    let x = randn(&mut rng, &[2, NETWORK_PIXELS], 0.2);
    // Only element labels present: teff (0), logg (1) and fe_h (19) missing.
    let mut y = randn(&mut rng, &[2 * LABELS.len()], 1.0)
        .to_vec1::<f64>()
        .unwrap();
    for row in 0..2 {
        for j in [0, 1, 19] {
            y[row * LABELS.len() + j] = f64::NAN;
        }
    }
    let targets = LabelTargets::new(&y, None, LABELS.len(), DType::F64, &Device::Cpu).unwrap();
    let (out, s) = net.forward(&x, &mut Dropout::Off).unwrap();
    let grads = censored_loss(&out, &s, &targets)
        .unwrap()
        .backward()
        .unwrap();
    let norm = |name: &str| {
        let v = net.var(name).unwrap();
        grads
            .get(v.as_tensor())
            .map_or(0.0, |g| scalar(&g.sqr().unwrap().sum_all().unwrap()))
    };
    assert_eq!(norm("dense_teffloggfeh.weight"), 0.0);
    assert_eq!(norm("dense_teffloggfeh.bias"), 0.0);
    assert!(norm("dense_aux_fullspec.weight") > 0.0);
    assert!(norm("dense_2.weight") > 0.0);
}

#[test]
fn training_forward_matches_the_inference_path() {
    let mut rng = stream(7, "gradcheck", 0);
    let net = TrainableCensored::new(DType::F32, 13).unwrap();
    for (name, v) in net.vars() {
        if name.ends_with(".bias") {
            let b = randn(&mut rng, v.dims(), 0.05)
                .to_dtype(DType::F32)
                .unwrap();
            v.set(&b).unwrap();
        }
    }
    let norm = Normalisation::new(
        vec![0.0; NETWORK_PIXELS],
        vec![0.0; LABELS.len()],
        vec![1.0; LABELS.len()],
    );
    let tensors = net.model_tensors(&norm).unwrap();
    let inference =
        CensoredBcnn::load(&VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)).unwrap();
    let x = randn(&mut rng, &[3, NETWORK_PIXELS], 0.2)
        .to_dtype(DType::F32)
        .unwrap();
    let max_diff =
        |a: &Tensor, b: &Tensor| scalar(&(a - b).unwrap().abs().unwrap().max_all().unwrap());
    for on in [false, true] {
        let (mut s1, mut s2) = (MaskStream::new(3, 4), MaskStream::new(3, 4));
        let (mut d1, mut d2) = if on {
            (Dropout::On(&mut s1), Dropout::On(&mut s2))
        } else {
            (Dropout::Off, Dropout::Off)
        };
        let (y_train, s_train) = net.forward(&x, &mut d1).unwrap();
        let (y_inf, s_inf) = inference.forward(&x, 1, &mut d2).unwrap();
        assert!(max_diff(&y_train, &y_inf) < 1e-5, "dropout {on}");
        assert!(max_diff(&s_train, &s_inf) < 1e-5, "dropout {on}");
        assert!(scalar(&y_train.abs().unwrap().max_all().unwrap()) > 1e-3);
    }
}

#[test]
fn softplus() {
    let mut rng = stream(8, "gradcheck", 0);
    // Values across the range, 0 exactly (where a relu-based form has the wrong gradient)
    // and both tails.
    let mut values = randn(&mut rng, &[12], 3.0).to_vec1::<f64>().unwrap();
    values.extend([0.0, -25.0, 25.0, 1e-3]);
    let x = Var::from_tensor(&Tensor::from_vec(values, (4, 4), &Device::Cpu).unwrap()).unwrap();
    let r = randn(&mut rng, &[4, 4], 1.0);
    let loss = || {
        (softplus_op(x.as_tensor()).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    check("input", &x, &all(&x), &loss);
}

/// A dist network of `dtype` with small random biases (zero biases hide bias-gradient
/// errors behind relu kinks).
fn dist_network(rng: &mut MaskStream, dtype: DType, seed: u64) -> TrainableDist {
    let net = TrainableDist::new(dtype, seed).unwrap();
    for (name, v) in net.vars() {
        if name.ends_with(".bias") {
            let b = randn(rng, v.dims(), 0.05).to_dtype(dtype).unwrap();
            v.set(&b).unwrap();
        }
    }
    net
}

#[test]
fn whole_dist_network_with_dropout() {
    let mut rng = stream(9, "gradcheck", 0);
    let net = dist_network(&mut rng, DType::F64, 14);
    let names: Vec<String> = net.vars().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "dense_1.bias",
            "dense_1.weight",
            "dense_2.bias",
            "dense_2.weight",
            "dense_output.bias",
            "dense_output.weight",
            "dense_var.bias",
            "dense_var.weight",
        ]
    );
    // Three spectra: a negative target (a negative parallax), a label error, a missing one.
    let x = randn(&mut rng, &[3, NETWORK_PIXELS], 0.2);
    let y = [-0.4, 1.3, f64::NAN];
    let targets =
        LabelTargets::new(&y, Some(&[0.0, 0.3, 0.1]), 1, DType::F64, &Device::Cpu).unwrap();
    let loss = || {
        let mut masks = MaskStream::new(22, 0);
        let (y, s) = net.forward(&x, &mut Dropout::On(&mut masks)).unwrap();
        (censored_loss(&y, &s, &targets).unwrap() + net.l2_penalty(1e-3).unwrap()).unwrap()
    };
    let grads = loss().backward().unwrap();
    for (name, v) in net.vars() {
        let picks = if name.ends_with(".weight") { 3 } else { 1 };
        let mut picks: Vec<usize> = (0..picks)
            .map(|_| below(&mut rng, v.elem_count()))
            .collect();
        if v.elem_count() <= 64 {
            picks = all(&v);
        }
        // A small step: thousands of relu and max-pool kinks make the loss piecewise
        // smooth, and a wider step straddles one for some masks (seeds 22 and 24 at 1e-6).
        check_with(&name, &v, &picks, &loss, &grads, (1e-7, 1e-4, 1e-9));
    }
}

#[test]
fn dist_training_forward_matches_the_inference_path() {
    let mut rng = stream(10, "gradcheck", 0);
    let net = dist_network(&mut rng, DType::F32, 15);
    let norm = Normalisation::new(vec![0.0; NETWORK_PIXELS], vec![0.0], vec![3.0]);
    let tensors = net.model_tensors(&norm).unwrap();
    assert!(!tensors.contains_key("labels_mean"));
    assert_eq!(tensors["labels_std"].dtype(), DType::F64);
    assert_eq!(tensors["input_mean"].dtype(), DType::F64);
    let inference = TrainableDist::inference(tensors).unwrap();
    assert_eq!(inference.scaling().labels_std, vec![3.0]);
    assert_eq!(inference.scaling().labels_mean, vec![0.0]);
    let x = randn(&mut rng, &[3, NETWORK_PIXELS], 0.2)
        .to_dtype(DType::F32)
        .unwrap();
    let max_diff =
        |a: &Tensor, b: &Tensor| scalar(&(a - b).unwrap().abs().unwrap().max_all().unwrap());
    for on in [false, true] {
        let (mut s1, mut s2) = (MaskStream::new(5, 6), MaskStream::new(5, 6));
        let (mut d1, mut d2) = if on {
            (Dropout::On(&mut s1), Dropout::On(&mut s2))
        } else {
            (Dropout::Off, Dropout::Off)
        };
        let (y_train, s_train) = net.forward(&x, &mut d1).unwrap();
        let (y_inf, s_inf) = inference.forward(&x, 1, &mut d2).unwrap();
        assert_eq!(y_train.dims(), &[3, 1]);
        assert!(max_diff(&y_train, &y_inf) < 1e-5, "dropout {on}");
        assert!(max_diff(&s_train, &s_inf) < 1e-5, "dropout {on}");
        assert!(scalar(&s_train.abs().unwrap().max_all().unwrap()) > 1e-3);
    }
    // DistBcnn loads the same tensors from a VarBuilder as the CLI does.
    let vb = VarBuilder::from_tensors(net.model_tensors(&norm).unwrap(), DType::F32, &Device::Cpu);
    assert!(DistBcnn::load(&vb).is_ok());
}
