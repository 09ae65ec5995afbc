//! Measures the GEMM throughput of this machine with the kernels recur uses (the `gemm`
//! crate, and the packed kernel of the recurrent steps), on a large square product and on the
//! shapes of the tutorial configurations, to put `recur bench`'s GFLOP/s in context.
//! `cargo run --release --example bench_gemm_peak`.

use std::time::Instant;

use recur::kernels::{MatMut, MatRef, gemm};
use recur::kernels::{Packed, gemm_packed};

/// Best GFLOP/s of `reps` products, through [`gemm`] or, with `packed`, [`gemm_packed`].
fn time(m: usize, k: usize, n: usize, reps: usize, packed: bool) -> f64 {
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let mut pack = Packed::default();
    if packed {
        pack.pack(MatRef::new(&b, k, n));
    }
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        let (av, bv, cv) = (MatRef::new(&a, m, k), MatRef::new(&b, k, n), MatMut::new(&mut c, m, n));
        if packed {
            gemm_packed(av, bv, &pack, 1.0, cv);
        } else {
            gemm(1.0, av, bv, 1.0, cv);
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}

/// Best GFLOP/s of `reps` weight-gradient products `C[m, n] = X^T Y` for row-major X `[k, m]`
/// and Y `[k, n]`, as the layers call them; `crate_only` forces the `gemm` crate's kernel.
fn time_tn(m: usize, k: usize, n: usize, reps: usize, crate_only: bool) -> f64 {
    let x = vec![0.5f32; k * m];
    let y = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        let (xt, yv, cv) = (MatRef::new(&x, k, m).t(), MatRef::new(&y, k, n), MatMut::new(&mut c, m, n));
        if crate_only {
            // alpha != 1 is never sent to recur's own kernels.
            gemm(1.0 + f32::EPSILON, xt, yv, 0.0, cv);
        } else {
            gemm(1.0, xt, yv, 0.0, cv);
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}

fn main() {
    // One thread: `gemm` called outside a thread pool splits a big product over two threads,
    // and waking the second costs ~20 us per call, which would swamp the kernels measured here.
    rayon::ThreadPoolBuilder::new().num_threads(1).build_global().expect("the first pool");
    for &(m, k, n, what) in &[
        (96, 9500, 24, "bitcount dW_hh = da^T h (B/2 rows)"),
        (512, 1792, 128, "mnist dW_hh = da^T h (B/2 rows)"),
        (512, 1792, 28, "mnist dW_ih = da^T x (B/2 rows)"),
        (80, 72, 20, "addition dW_hh = da^T h (B/2 rows)"),
        (2048, 2, 512, "aesop dW_hh = da^T h"),
    ] {
        let (plain, own) = (time_tn(m, k, n, 100, true), time_tn(m, k, n, 100, false));
        println!("{what:<36} [{m}x{k}]x[{k}x{n}]: {plain:6.1} GFLOP/s, own {own:6.1} (gemm crate / recur)");
    }
    for &(m, k, n, what) in &[
        (1024, 1024, 1024, "square 1024"),
        (500, 24, 96, "bitcount step h W_hh^T (B/2 rows)"),
        (96, 10000, 24, "bitcount dW_hh (all steps)"),
        (64, 128, 512, "mnist step (B/2 rows)"),
        (1, 512, 2048, "aesop step (GEMV)"),
        (500, 96, 24, "bitcount backward dh (B/2 rows)"),
        (1, 2048, 512, "aesop backward dh (GEMV)"),
        (64, 512, 128, "mnist backward dh"),
        (8, 20, 80, "addition step (B/2 rows)"),
    ] {
        let (plain, packed) = (time(m, k, n, 200, false), time(m, k, n, 200, true));
        println!("{what:<36} [{m}x{k}]x[{k}x{n}]: {plain:6.1} GFLOP/s, packed {packed:6.1} (1 thread)");
    }
}
