//! Measures the memory bandwidth a training step of a large batch-1 model can use, to put
//! `recur bench`'s aesop figure in context: aesop's W_hh (2048 x 512 f32, 4 MiB) and its
//! RMSProp state do not fit the caches of two cores, so every pass over them streams from L3
//! or memory. Prints the read rate of one and two threads over a 4 MiB matrix and the
//! read-modify-write rate of an update over two such arrays, and the floor they put on aesop's
//! step: two forward and two backward passes over W_hh plus one update pass reading and
//! writing W_hh and the square averages. `cargo run --release --example bandwidth`.

use std::time::Instant;

use rayon::prelude::*;

const N: usize = 2048 * 512;

/// Sum of `x` in 16 independent lanes (so the loop is bound by loads, not by an add chain).
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    for c in x.chunks_exact(16) {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum()
}

/// Best seconds of `reps` runs of `f` on `threads` threads.
fn best(threads: usize, reps: usize, mut f: impl FnMut() + Send) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    pool.install(|| {
        (0..reps)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    })
}

fn main() {
    let w = vec![1.0f32; N];
    let mut p = vec![0.5f32; N];
    let mut v = vec![0.25f32; N];
    let bytes = (N * 4) as f64;
    let mut read = [0.0; 2];
    let mut update = [0.0; 2];
    for threads in [1, 2] {
        let chunk = N / threads;
        let t = best(threads, 300, || {
            let s: f32 = w.par_chunks(chunk).map(sum).sum();
            assert!(s > 0.0);
        });
        read[threads - 1] = bytes / t / 1e9;
        let t = best(threads, 300, || {
            p.par_chunks_mut(chunk).zip(v.par_chunks_mut(chunk)).for_each(|(p, v)| {
                for (p, v) in p.iter_mut().zip(v.iter_mut()) {
                    *v = 0.99 * *v + 0.01;
                    *p -= 1e-3 * *v;
                }
            })
        });
        update[threads - 1] = 4.0 * bytes / t / 1e9;
        println!(
            "{threads} thread(s): read 4 MiB at {:5.1} GB/s; update (2 arrays read and written) at {:5.1} GB/s",
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
