use rayon::prelude::*;
use std::time::Instant;
fn run(par: bool, reps: usize, x: &[f32], wt: &[f32]) -> f64 {
    let (m, k, n) = (100usize, 7512usize, 192usize);
    let start = Instant::now();
    (0..reps).into_par_iter().for_each(|_| {
        let mut y = vec![0f32; m * n];
        let p = if par {
            gemm::Parallelism::Rayon(2)
        } else {
            gemm::Parallelism::None
        };
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                y.as_mut_ptr(),
                1,
                n as isize,
                false,
                x.as_ptr(),
                1,
                k as isize,
                wt.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                p,
            );
        }
        std::hint::black_box(y);
    });
    2.0 * (m * k * n) as f64 * reps as f64 / start.elapsed().as_secs_f64() / 1e9
}
fn main() {
    astronn::runtime::keep_large_blocks();
    let x: Vec<f32> = (0..100 * 7512)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let wt: Vec<f32> = (0..7512 * 192)
        .map(|i| ((i * 104729) % 1000) as f32 / 1000.0)
        .collect();
    for _ in 0..3 {
        println!(
            "nested Rayon(2): {:.1}  None: {:.1}",
            run(true, 400, &x, &wt),
            run(false, 400, &x, &wt)
        );
    }
}
