//! Read each 28x28 MNIST digit one row per time step with an LSTM(128) and classify it from
//! the last step, as in "Understanding LSTM in Tensorflow (MNIST dataset)".
//!
//! `cargo run --release --example mnist_rows [DIR] [EPOCHS]`: DIR holds the IDX files
//! (`t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`; default `data/mnist`). It trains
//! on the first 8,000 test images and scores the other 2,000 (97% after the default 12 epochs).

use std::path::PathBuf;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recur::data::images::read_set;
use recur::optim::clip_grad_norm;
use recur::{
    CellKind, GradOptions, HeadKind, LossKind, Model, ModelConfig, OptimConfig, Optimizer, OptimizerKind,
    Seqs, Session, Targets,
};

fn main() -> recur::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "data/mnist".into()));
    let epochs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(12);
    let images = read_set(&dir, "t10k")?; // [N, 28, 28] pixels in [0, 1], labels 0..9
    let split = images.len() * 4 / 5;
    let (train, test) = (images.slice(0..split), images.slice(split..images.len()));

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let config = ModelConfig::new(CellKind::Lstm, 28, vec![128], 10, HeadKind::Last, LossKind::CrossEntropy);
    let mut model = Model::<f32>::new(config, &mut rng)?;
    let mut opt = Optimizer::new(OptimConfig::new(OptimizerKind::Adam, 2e-3));
    let mut sess = Session::new(2);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let (batch, steps) = (64, epochs * train.len().div_ceil(64));
    let mut step = 0;
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(batch) {
            let x: Vec<f32> = chunk.iter().flat_map(|&i| train.image(i).iter().copied()).collect();
            let y: Vec<u32> = chunk.iter().map(|&i| train.labels[i]).collect();
            opt.config.lr = 2e-3 * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / steps as f64).cos());
            step += 1;
            sess.loss_and_grad(
                &model,
                Seqs::new(&x, chunk.len(), 28),
                None,
                Targets::Classes(&y),
                GradOptions::default(),
            )?;
            clip_grad_norm(sess.param_grads_mut(), 1.0);
            opt.step(&mut model.params, sess.param_grads());
        }
        let sum = sess.evaluate(
            &model,
            Seqs::new(&test.pixels, test.len(), 28),
            None,
            Targets::Classes(&test.labels),
        )?;
        println!(
            "epoch {:2}: {:.2}% of {} held-out images right",
            epoch + 1,
            100.0 * sum.accuracy(),
            test.len()
        );
    }
    Ok(())
}
