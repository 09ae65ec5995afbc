//! Predict the next word of Aesop's "Belling the Cat" from the three before it, then write
//! on from a prompt, as in "LSTM by Example using Tensorflow". Words are looked up in an
//! embedding (the tutorial fed each word's id as one number).
//!
//! `cargo run --release --example next_word [EPOCHS]` (default 150: 199 of the 201 windows,
//! the most any model can, since two contexts are followed by two different words).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recur::data::tokenize::{build_vocab, tokenize};
use recur::model::probs::argmax;
use recur::task::text::BELLING_THE_CAT;
use recur::{
    CellKind, GradOptions, HeadKind, LossKind, Model, ModelConfig, OptimConfig, Optimizer, OptimizerKind,
    Seqs, Session, Targets,
};

const WINDOW: usize = 3;

fn main() -> recur::Result<()> {
    let epochs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(150);
    let words = tokenize(BELLING_THE_CAT, false);
    let vocab = build_vocab(&words);
    let id = |w: &str| vocab.iter().position(|v| v == w).expect("in the vocabulary") as f32;
    let ids: Vec<f32> = words.iter().map(|w| id(w)).collect();
    // Window i: words i..i+3 in, word i+3 out.
    let mut starts: Vec<usize> = (0..ids.len() - WINDOW).collect();

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let config = ModelConfig {
        vocab_size: Some(vocab.len()), // nn.Embedding(112, 32) before the LSTM
        ..ModelConfig::new(CellKind::Lstm, 32, vec![128], vocab.len(), HeadKind::Last, LossKind::CrossEntropy)
    };
    let mut model = Model::<f32>::new(config, &mut rng)?;
    let mut opt = Optimizer::new(OptimConfig::new(OptimizerKind::Adam, 1e-2));
    let mut sess = Session::new(1);
    let batch = |s: &[usize]| -> (Vec<f32>, Vec<u32>) {
        let x = s.iter().flat_map(|&i| ids[i..i + WINDOW].iter().copied()).collect();
        (x, s.iter().map(|&i| ids[i + WINDOW] as u32).collect())
    };
    for _ in 0..epochs {
        starts.shuffle(&mut rng);
        for chunk in starts.chunks(16) {
            let (x, y) = batch(chunk);
            let seqs = Seqs::new(&x, chunk.len(), WINDOW);
            sess.loss_and_grad(&model, seqs, None, Targets::Classes(&y), GradOptions::default())?;
            opt.step(&mut model.params, sess.param_grads());
        }
    }
    let (x, y) = batch(&starts);
    let sum = sess.evaluate(&model, Seqs::new(&x, starts.len(), WINDOW), None, Targets::Classes(&y))?;
    println!("{} of {} windows right after {epochs} epochs", sum.correct, sum.count);

    // Write on: each word predicted from the last three, fed back.
    let mut text: Vec<f32> = ["had", "a", "general"].iter().map(|w| id(w)).collect();
    for _ in 0..24 {
        let logits = sess.forward(&model, Seqs::new(&text[text.len() - WINDOW..], 1, WINDOW), None)?.logits;
        text.push(argmax(&logits) as f32);
    }
    let words: Vec<&str> = text.iter().map(|&i| vocab[i as usize].as_str()).collect();
    println!("{}", words.join(" "));
    Ok(())
}
