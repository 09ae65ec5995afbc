//! Count the 1s in 20-bit strings with an LSTM, as in "A noob's guide to implementing
//! RNN-LSTM using Tensorflow": all 2^20 strings shuffled, 10,000 to train on, the rest to test.
//!
//! `cargo run --release --example bitcount [EPOCHS]` (default 50: under 0.1% test error).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recur::optim::clip_grad_norm;
use recur::{
    CellKind, GradOptions, HeadKind, LossKind, LossSum, Model, ModelConfig, OptimConfig, Optimizer,
    OptimizerKind, Seqs, Session, Targets,
};

const BITS: usize = 20;

/// Each string as 20 steps of one feature (its bits, most significant first), and its count.
fn encode(numbers: &[u32]) -> (Vec<f32>, Vec<u32>) {
    let bits = numbers.iter().flat_map(|&x| (0..BITS).rev().map(move |b| ((x >> b) & 1) as f32));
    (bits.collect(), numbers.iter().map(|x| x.count_ones()).collect())
}

fn main() -> recur::Result<()> {
    let epochs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut strings: Vec<u32> = (0..1 << BITS).collect();
    strings.shuffle(&mut rng);
    let (train, test) = strings.split_at_mut(10_000);

    // nn.LSTM(1, 24) and nn.Linear(24, 21) on the last step, cross-entropy over the counts.
    let config =
        ModelConfig::new(CellKind::Lstm, 1, vec![24], BITS + 1, HeadKind::Last, LossKind::CrossEntropy);
    let mut model = Model::<f32>::new(config, &mut rng)?;
    let mut opt = Optimizer::new(OptimConfig::new(OptimizerKind::Adam, 1e-2));
    let mut sess = Session::new(2);
    let (batch, steps) = (25, epochs * 10_000 / 25);

    for epoch in 0..epochs {
        train.shuffle(&mut rng);
        for (i, chunk) in train.chunks(batch).enumerate() {
            // Cosine annealing of the rate, step by step.
            let t = (epoch * 400 + i) as f64 / steps as f64;
            opt.config.lr = 1e-2 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
            let (x, y) = encode(chunk);
            sess.loss_and_grad(
                &model,
                Seqs::new(&x, chunk.len(), BITS),
                None,
                Targets::Classes(&y),
                GradOptions::default(),
            )?;
            clip_grad_norm(sess.param_grads_mut(), 1.0);
            opt.step(&mut model.params, sess.param_grads());
        }
    }

    // Held-out strings in batches; the sums of batches add up.
    let mut sum = LossSum::default();
    for chunk in test.chunks(8192) {
        let (x, y) = encode(chunk);
        sum += sess.evaluate(&model, Seqs::new(&x, chunk.len(), BITS), None, Targets::Classes(&y))?;
    }
    println!(
        "test error {:.4}% on {} strings after {epochs} epochs (cross-entropy {:.5})",
        100.0 * (1.0 - sum.accuracy()),
        test.len(),
        sum.mean()
    );
    Ok(())
}
