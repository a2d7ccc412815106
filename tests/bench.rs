//! The benchmark's work model: floating-point operations per spectrum of MC inference, and
//! the matrix products the networks are measured against.

mod common;

use astronn::bench::{
    bf16_product_rate, inference_flops, product_rate, ProductShape, ProductThreads,
};
use astronn::io::model_file::{ModelFile, ModelKind};
use astronn::models::default_model;
use astronn::nn::precision::Bf16Kernel;

#[test]
fn flop_counts_follow_the_architectures() {
    let dir = common::fixtures();
    let censored = ModelFile::load(&dir.join("astronn_bcnn_censored.pt")).unwrap();
    // Once per spectrum: conv1 (2·2·8·7514) and the element branches' first layers
    // (2·256·(3806+3776) + 2·32·1835); per sample: conv2, dense_1, dense_2, the three heads,
    // the branches' second layers and their output and variance heads.
    assert_eq!(
        inference_flops(&censored, 100, 7514),
        4_239_872.0 + 100.0 * 3_969_724.0
    );
    assert_eq!(
        inference_flops(&censored, 0, 7514),
        4_239_872.0 + 3_969_724.0
    );
    let dist = ModelFile::load(&dir.join("astronn_dist_bcnn.pt")).unwrap();
    // conv1 once; conv2, dense_1 (2·192·7512), dense_2 (2·64·192), output and variance.
    assert_eq!(inference_flops(&dist, 100, 7514), 387_363_648.0);
}

#[test]
fn the_dominant_product_is_dense_1_over_one_spectrums_samples() {
    let model = default_model(ModelKind::AstroNN).unwrap();
    let shape = ProductShape::dense_1(&model, 100).unwrap();
    assert_eq!(
        shape,
        ProductShape {
            rows: 100,
            inner: 7512,
            cols: 192
        }
    );
    assert_eq!(shape.flops(), 2.0 * 100.0 * 7512.0 * 192.0);
    // A deterministic pass is one row.
    assert_eq!(ProductShape::dense_1(&model, 0).unwrap().rows, 1);
    assert_eq!(ProductShape::square(3).flops(), 54.0);
}

#[test]
fn product_rates_name_their_shape_and_are_finite() {
    for threads in [ProductThreads::OnePerThread, ProductThreads::Shared] {
        let rate = product_rate(ProductShape::square(64), threads).unwrap();
        assert!(rate.what.starts_with("float32 product [64, 64] × [64, 64]"));
        assert!(rate.gflops > 0.0 && rate.gflops.is_finite(), "{rate:?}");
    }
}

#[test]
fn the_bf16_product_rate_names_its_kernel() {
    let shape = ProductShape {
        rows: 8,
        inner: 101,
        cols: 20,
    };
    let rate = bf16_product_rate(shape, Bf16Kernel::Emulated).unwrap();
    assert_eq!(
        rate.what,
        "bfloat16 product [8, 101] × [101, 20] (emulated), one per thread"
    );
    assert!(rate.gflops > 0.0 && rate.gflops.is_finite(), "{rate:?}");
}
