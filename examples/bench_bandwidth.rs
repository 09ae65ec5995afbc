//! Measures the memory bandwidth a training step of a large batch-1 model can use, to put
//! `recur bench`'s aesop figure in context: aesop's W_hh (2048 x 512 f32, 4 MiB) and its
//! RMSProp state do not fit the caches of two cores, so every pass over them streams from L3
//! or memory. `cargo run --release --example bench_bandwidth` prints:
//! - one thread's read rate over buffers from 16 KiB to 16 MiB, read again and again (L1, L2
//!   and L3 in turn);
//! - one and two threads' read rate over a 4 MiB matrix, and the read-modify-write rate of an
//!   update over two such arrays, each time after other data has pushed them out of L2, as
//!   in a training step, where the other passes run in between;
//! - the floor these put on aesop's step: two forward and two backward passes over W_hh plus
//!   one update pass reading and writing W_hh and the square averages.
//!
//! Medians, so that one lucky run does not set the figure.

use std::time::Instant;

use rayon::prelude::*;

const N: usize = 2048 * 512;

/// Sum of `x` in 64 independent lanes (so the loop is bound by loads, not by an add chain),
/// with AVX2 where the CPU has it, as recur's kernels.
fn sum(x: &[f32]) -> f32 {
    #[inline(always)]
    fn lanes(x: &[f32]) -> f32 {
        let mut acc = [0.0f32; 64];
        for c in x.chunks_exact(64) {
            for (a, v) in acc.iter_mut().zip(c) {
                *a += v;
            }
        }
        acc.iter().sum()
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2(x: &[f32]) -> f32 {
        lanes(x)
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2(x) };
    }
    lanes(x)
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Median seconds of `reps` runs of `f` on `threads` threads, each after `before`.
fn time(threads: usize, reps: usize, mut before: impl FnMut() + Send, mut f: impl FnMut() + Send) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    pool.install(|| {
        let t = (0..reps)
            .map(|_| {
                before();
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64()
            })
            .collect();
        median(t)
    })
}

fn main() {
    println!("one thread, the same buffer read again and again:");
    for kib in [16usize, 256, 1024, 2048, 4096, 16384] {
        let x = vec![1.0f32; kib << 8];
        let reps = ((256 << 10) / kib).max(8);
        let t = time(
            1,
            50,
            || (),
            || {
                for _ in 0..reps {
                    assert!(sum(std::hint::black_box(&x)) > 0.0);
                }
            },
        );
        println!("  {kib:6} KiB: {:5.1} GB/s", (reps * x.len() * 4) as f64 / t / 1e9);
    }

    let w = vec![1.0f32; N];
    let mut p = vec![0.5f32; N];
    let mut v = vec![0.25f32; N];
    // 16 MiB of other data, read in parallel between runs: pushes the operands out of L2.
    let other = vec![1.0f32; 4 * N];
    let evict = || {
        let s: f32 = other.par_chunks(N).map(sum).sum();
        assert!(s > 0.0);
    };
    let bytes = (N * 4) as f64;
    let mut read = [0.0; 2];
    let mut update = [0.0; 2];
    println!("after other data has pushed them out of L2:");
    for threads in [1, 2] {
        let chunk = N / threads;
        let t = time(threads, 200, evict, || {
            let s: f32 = w.par_chunks(chunk).map(sum).sum();
            assert!(s > 0.0);
        });
        read[threads - 1] = bytes / t / 1e9;
        let t = time(threads, 200, evict, || {
            p.par_chunks_mut(chunk).zip(v.par_chunks_mut(chunk)).for_each(|(p, v)| {
                for (p, v) in p.iter_mut().zip(v.iter_mut()) {
                    *v = 0.99 * *v + 0.01;
                    *p -= 1e-3 * *v;
                }
            })
        });
        update[threads - 1] = 4.0 * bytes / t / 1e9;
        println!(
            "  {threads} thread(s): read 4 MiB at {:5.1} GB/s; update (2 arrays of 4 MiB read and written) at {:5.1} GB/s",
            read[threads - 1],
            update[threads - 1]
        );
    }
    let passes_ms = 4.0 * bytes / (read[1] * 1e9) * 1e3;
    let update_ms = 4.0 * bytes / (update[1] * 1e9) * 1e3;
    println!(
        "aesop floor on 2 threads: 4 passes over W_hh {passes_ms:.2} ms + update {update_ms:.2} ms = {:.2} ms per step",
        passes_ms + update_ms
    );
}
