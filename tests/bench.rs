//! The benchmark's work model: floating-point operations per spectrum of MC inference.

mod common;

use astronn::bench::inference_flops;
use astronn::io::model_file::ModelFile;

#[test]
fn flop_counts_follow_the_architectures() {
    let Some(dir) = common::fixtures() else {
        return;
    };
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
