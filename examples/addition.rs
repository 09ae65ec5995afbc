//! Add two binary numbers bit by bit with an LSTM, as in "Simple implementation of LSTM in
//! Tensorflow in 50 lines": both summands least significant bit first, one step per bit, and
//! a sigmoid output per step for the bit of the sum (binary cross-entropy).
//!
//! `cargo run --release --example addition [STEPS]` (default 2000: every fresh sum right,
//! also at 32 bits, longer than any sum seen in training).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::optim::clip_grad_norm;
use recur::{
    CellKind, GradOptions, HeadKind, LossKind, Model, ModelConfig, OptimConfig, Optimizer, OptimizerKind,
    Seqs, Session, Targets,
};

/// Inputs `[N, bits, 2]` (bit t of each summand) and targets `[N, bits, 1]` (bit t of the sum).
fn encode(pairs: &[(u64, u64)], bits: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for &(a, b) in pairs {
        for t in 0..bits {
            x.extend([(a >> t & 1) as f32, (b >> t & 1) as f32]);
            y.push(((a as u128 + b as u128) >> t & 1) as f32);
        }
    }
    (x, y)
}

/// Summands whose sum fits in `bits` bits.
fn pairs(rng: &mut ChaCha8Rng, n: usize, bits: usize) -> Vec<(u64, u64)> {
    let max = 1u64 << (bits - 1);
    (0..n).map(|_| (rng.random_range(0..max), rng.random_range(0..max))).collect()
}

fn main() -> recur::Result<()> {
    let steps: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let config = ModelConfig::new(CellKind::Lstm, 2, vec![20], 1, HeadKind::Step, LossKind::Bce);
    let mut model = Model::<f32>::new(config, &mut rng)?;
    let mut opt = Optimizer::new(OptimConfig::new(OptimizerKind::Adam, 0.01));
    let mut sess = Session::new(1);
    for step in 0..steps {
        let (x, y) = encode(&pairs(&mut rng, 64, 10), 10);
        let loss = sess.loss_and_grad(
            &model,
            Seqs::new(&x, 64, 10),
            None,
            Targets::Dense(&y),
            GradOptions::default(),
        )?;
        clip_grad_norm(sess.param_grads_mut(), 1.0);
        opt.step(&mut model.params, sess.param_grads());
        if (step + 1) % 500 == 0 {
            println!("step {:5}  loss {:.5}", step + 1, loss.mean());
        }
    }
    // Fresh pairs, and longer numbers than any in training: the sequence length is free.
    for bits in [10, 32] {
        let test = pairs(&mut rng, 1000, bits);
        let (x, _) = encode(&test, bits);
        let logits = sess.forward(&model, Seqs::new(&x, test.len(), bits), None)?.logits;
        let right = test
            .iter()
            .zip(logits.chunks(bits))
            .filter(|((a, b), out)| {
                out.iter().rev().fold(0u128, |s, &l| s << 1 | (l > 0.0) as u128) == (a + b) as u128
            })
            .count();
        println!("{bits}-bit sums: {right} of {} right", test.len());
    }
    Ok(())
}
