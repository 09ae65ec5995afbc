//! Measures the GEMM throughput of this machine with the kernel recur uses (the `gemm`
//! crate), on a large square product and on the shapes of the tutorial configurations, to
//! put `recur bench`'s GFLOP/s in context. `cargo run --release --example gemm_peak`.

use std::time::Instant;

use recur::ops::{MatMut, MatRef, gemm};

fn time(m: usize, k: usize, n: usize, reps: usize) -> f64 {
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        gemm(1.0, MatRef::new(&a, m, k), MatRef::new(&b, k, n), 0.0, MatMut::new(&mut c, m, n));
        best = best.min(t0.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}

fn main() {
    for &(m, k, n, what) in &[
        (1024, 1024, 1024, "square 1024"),
        (500, 24, 96, "bitcount step h W_hh^T (B/2 rows)"),
        (96, 10000, 24, "bitcount dW_hh (all steps)"),
        (64, 128, 512, "mnist step (B/2 rows)"),
        (1, 512, 2048, "aesop step (GEMV)"),
        (500, 96, 24, "bitcount backward dh (B/2 rows)"),
        (64, 512, 128, "mnist backward dh"),
    ] {
        println!("{what:<36} [{m}x{k}]x[{k}x{n}]: {:.1} GFLOP/s (1 thread)", time(m, k, n, 50));
    }
}
