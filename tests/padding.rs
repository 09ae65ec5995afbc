//! Variable-length sequences: a padded batch gives exactly the outputs, final states, loss and
//! gradients of its sequences run one by one at their own lengths, whatever is in the padding.
//! Bidirectional models too: the reverse direction starts at each sequence's last real step,
//! as PyTorch's packed sequences do.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::cell::CellKind;
use recur::model::{GradOptions, HeadKind, LossKind, Model, ModelConfig, Session, Targets};
use recur::model::{Seqs, normalizer};

const T: usize = 5;
const I: usize = 3;
const C: usize = 3;
const LENGTHS: [usize; 4] = [5, 2, 4, 1];

fn check(cell: CellKind, head: HeadKind, loss: LossKind, vocab: Option<usize>, threads: usize, bidir: bool) {
    let b = LENGTHS.len();
    let cfg = ModelConfig {
        vocab_size: vocab,
        learn_init: true,
        bidirectional: bidir,
        ..ModelConfig::new(cell, I, vec![4, 3], C, head, loss)
    };
    let tag = format!("{cell} {head:?} {loss:?} vocab {vocab:?} x{threads} bidirectional {bidir}");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut model = Model::<f64>::new(cfg.clone(), &mut rng).unwrap();
    for p in &mut model.params {
        *p += rng.random_range(-0.3..0.3);
    }
    let f = cfg.features();
    // Padding holds junk that must not matter (a valid id for token models).
    let mut input: Vec<f64> = vec![if vocab.is_some() { 1.0 } else { 7.0 }; b * T * f];
    for (s, &len) in LENGTHS.iter().enumerate() {
        for v in &mut input[s * T * f..(s * T + len) * f] {
            *v = match vocab {
                Some(n) => rng.random_range(0..n) as f64,
                None => rng.random_range(-1.0..1.0),
            };
        }
    }
    let rows = if head == HeadKind::Last { b } else { b * T };
    let classes: Vec<u32> = (0..rows).map(|_| rng.random_range(0..C as u32)).collect();
    let dense: Vec<f64> = (0..rows * C).map(|_| rng.random_range(0..2) as f64).collect();
    let targets = |lo: usize, hi: usize| match loss {
        LossKind::CrossEntropy => Targets::Classes(&classes[lo..hi]),
        _ => Targets::Dense(&dense[lo * C..hi * C]),
    };

    let x = Seqs { input: &input, batch: b, steps: T, lengths: Some(&LENGTHS) };
    let mut sess = Session::<f64>::new(threads).with_chunk_rows(1);
    let out = sess.forward(&model, x, None).unwrap();
    let sum = sess.loss_and_grad(&model, x, None, targets(0, rows), GradOptions::default()).unwrap();
    let n = normalizer(&cfg, &x) as f64;
    assert_eq!(sum.normalizer, n, "{tag}: the mean's denominator");
    let grads: Vec<f64> = sess.param_grads().iter().map(|g| g * n).collect();

    let (mut want_loss, mut want_count) = (0.0, 0);
    let mut want_grads = vec![0.0; grads.len()];
    let mut alone = Session::<f64>::new(1);
    for (s, &len) in LENGTHS.iter().enumerate() {
        let xs = &input[s * T * f..(s * T + len) * f];
        let o = alone.forward(&model, Seqs::new(xs, 1, len), None).unwrap();
        let logits_s: &[f64] = match head {
            HeadKind::Last => &out.logits[s * C..(s + 1) * C],
            HeadKind::Step => &out.logits[s * T * C..(s * T + len) * C],
        };
        for (g, w) in logits_s.iter().zip(&o.logits) {
            assert!((g - w).abs() < 1e-12, "{tag}: logits of sequence {s}");
        }
        for (k, h) in o.state.h.iter().enumerate() {
            let hk = &out.state.h[k][s * h.len()..(s + 1) * h.len()];
            assert!(hk.iter().zip(h).all(|(a, b)| (a - b).abs() < 1e-12), "{tag}: h_n of sequence {s}");
        }
        let (lo, hi) = if head == HeadKind::Last { (s, s + 1) } else { (s * T, s * T + len) };
        let t = targets(lo, hi);
        let ls = alone.loss_and_grad(&model, Seqs::new(xs, 1, len), None, t, GradOptions::default()).unwrap();
        want_loss += ls.loss;
        want_count += ls.count;
        let ns = normalizer(&cfg, &Seqs::new(xs, 1, len)) as f64;
        for (w, g) in want_grads.iter_mut().zip(alone.param_grads()) {
            *w += g * ns;
        }
    }
    assert!((sum.loss - want_loss).abs() < 1e-10, "{tag}: loss {} vs {want_loss}", sum.loss);
    assert_eq!(sum.count, want_count, "{tag}: counted predictions");
    for (i, (g, w)) in grads.iter().zip(&want_grads).enumerate() {
        assert!((g - w).abs() < 1e-10, "{tag}: gradient [{i}] {g} vs {w}");
    }
}

#[test]
fn padded_batches_equal_sequences_run_alone() {
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for (threads, bidir) in [(1, false), (3, false), (1, true), (3, true)] {
            check(cell, HeadKind::Last, LossKind::CrossEntropy, None, threads, bidir);
            check(cell, HeadKind::Step, LossKind::Bce, None, threads, bidir);
            check(cell, HeadKind::Step, LossKind::CrossEntropy, Some(6), threads, bidir);
            check(cell, HeadKind::Step, LossKind::Mse, None, threads, bidir);
        }
    }
}

#[test]
fn bad_lengths_are_refused() {
    let cfg = ModelConfig::new(CellKind::Gru, 2, vec![3], 2, HeadKind::Last, LossKind::CrossEntropy);
    let m = Model::<f32>::new(cfg, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let input = vec![0.0f32; 2 * 3 * 2];
    let mut s = Session::new(1);
    let e = s.forward(&m, Seqs { input: &input, batch: 2, steps: 3, lengths: Some(&[3, 4]) }, None);
    assert!(e.unwrap_err().to_string().contains("sequence length 4 is not in 1..=3"));
    let e = s.forward(&m, Seqs { input: &input, batch: 2, steps: 3, lengths: Some(&[3]) }, None);
    assert!(e.unwrap_err().to_string().contains("lengths: expected shape [2], got [1]"));
}
