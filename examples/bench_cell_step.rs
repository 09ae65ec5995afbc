//! Times the LSTM pointwise step kernels (forward and backward) alone, on one thread, at the
//! shapes of the tutorial configurations (rows per tile or thread): ns per cell, walking the
//! steps of a pass as training does. Later repetitions run on activated gates, which costs
//! the same: the kernels have no data-dependent branches.
//!
//!     cargo run --release --example bench_cell_step

use std::time::Instant;

use recur::kernels::{backward_step, forward_step};

fn main() {
    for (name, rows, hidden, steps) in
        [("bitcount", 62, 24, 20), ("addition", 16, 20, 10), ("mnist", 64, 128, 28)]
    {
        let (g, bh) = (4 * hidden, rows * hidden);
        let pre: Vec<f32> = (0..steps * rows * g).map(|i| ((i * 7919) % 2001) as f32 / 500.0 - 2.0).collect();
        let mut gates = pre.clone();
        let mut c = vec![0.1f32; (steps + 1) * bh];
        let mut tc = vec![0f32; steps * bh];
        let mut h = vec![0f32; steps * bh];
        let dh = vec![0.01f32; bh];
        let mut dc = vec![0f32; bh];
        let reps = (4_000_000 / (steps * bh)).max(1);
        let mut best = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            let t0 = Instant::now();
            for _ in 0..reps {
                for t in 0..steps {
                    let (cp, cn) = c[t * bh..(t + 2) * bh].split_at_mut(bh);
                    let gt = &mut gates[t * rows * g..(t + 1) * rows * g];
                    forward_step(
                        hidden,
                        gt,
                        cp,
                        cn,
                        &mut tc[t * bh..(t + 1) * bh],
                        &mut h[t * bh..(t + 1) * bh],
                    );
                }
            }
            let fwd = t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            for _ in 0..reps {
                for t in (0..steps).rev() {
                    let gt = &mut gates[t * rows * g..(t + 1) * rows * g];
                    backward_step(
                        hidden,
                        gt,
                        &c[t * bh..(t + 1) * bh],
                        &tc[t * bh..(t + 1) * bh],
                        &dh,
                        &dh,
                        &mut dc,
                    );
                }
            }
            let bwd = t0.elapsed().as_secs_f64();
            let cells = (reps * steps * bh) as f64;
            best = (best.0.min(fwd / cells * 1e9), best.1.min(bwd / cells * 1e9));
        }
        println!(
            "{name:9} rows {rows:3} H {hidden:3}: forward {:.2} ns/cell, backward {:.2} ns/cell",
            best.0, best.1
        );
    }
}
