//! Truncated back-propagation through time carries each stream's final state into its next
//! batch. The carried state must be exactly the one a single pass over both batches has at
//! the cut, whatever the thread count and however the training pass cut the batch.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::cell::CellKind;
use recur::model::{GradOptions, HeadKind, LossKind, Model, ModelConfig, Seqs, Session, Targets};

const B: usize = 300; // enough rows that a training pass would cut the batch into tiles
const T1: usize = 6;
const T2: usize = 4;
const V: usize = 7;

fn close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
    }
}

#[test]
fn a_carried_state_continues_the_stream_exactly() {
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let cfg = ModelConfig {
            vocab_size: Some(V),
            ..ModelConfig::new(cell, 5, vec![9, 6], V, HeadKind::Step, LossKind::CrossEntropy)
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let model = Model::<f64>::new(cfg, &mut rng).unwrap();
        let ids: Vec<f64> = (0..B * (T1 + T2)).map(|_| rng.random_range(0..V) as f64).collect();
        let (x1, x2): (Vec<f64>, Vec<f64>) = {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for row in ids.chunks(T1 + T2) {
                a.extend_from_slice(&row[..T1]);
                b.extend_from_slice(&row[T1..]);
            }
            (a, b)
        };
        let y1: Vec<u32> = (0..B * T1).map(|_| rng.random_range(0..V as u32)).collect();
        let whole = Session::<f64>::new(1).forward(&model, Seqs::new(&ids, B, T1 + T2), None).unwrap();
        for threads in [1, 2] {
            let mut sess = Session::<f64>::new(threads);
            let opts = GradOptions { final_state: true, ..Default::default() };
            sess.loss_and_grad(&model, Seqs::new(&x1, B, T1), None, Targets::Classes(&y1), opts).unwrap();
            let carried = sess.final_state(&model);
            let first = sess.forward(&model, Seqs::new(&x1, B, T1), None).unwrap();
            for (k, (c, f)) in
                carried.h.iter().zip(&first.state.h).chain(carried.c.iter().zip(&first.state.c)).enumerate()
            {
                close(c, f, &format!("{cell:?} {threads} threads: carried state {k}"));
            }
            let second = sess.forward(&model, Seqs::new(&x2, B, T2), Some(&carried)).unwrap();
            let want: Vec<f64> =
                whole.logits.chunks((T1 + T2) * V).flat_map(|r| r[T1 * V..].to_vec()).collect();
            close(&second.logits, &want, &format!("{cell:?} {threads} threads: logits after the cut"));
            close(&second.state.h.concat(), &whole.state.h.concat(), &format!("{cell:?}: final h"));
        }
    }
}
