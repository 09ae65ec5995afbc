//! A training batch too big for one thread's cache runs as several tiles per thread. Rows
//! never interact, so every result must equal the one-chunk pass up to summation order, and
//! a thread count must still reproduce a run bit for bit.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::cell::CellKind;
use recur::model::{GradOptions, HeadKind, LossKind, Model, ModelConfig, Seqs, Session, State, Targets};

const BATCH: usize = 300;
const STEPS: usize = 20;

fn setup(cell: CellKind) -> (Model<f64>, Vec<f64>, Vec<u32>, State<f64>) {
    let cfg = ModelConfig::new(cell, 1, vec![24, 16], 21, HeadKind::Last, LossKind::CrossEntropy);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let model = Model::<f64>::new(cfg.clone(), &mut rng).unwrap();
    let input: Vec<f64> = (0..BATCH * STEPS).map(|_| rng.random_range(0..2) as f64).collect();
    let classes: Vec<u32> = (0..BATCH).map(|_| rng.random_range(0..21)).collect();
    let mut init = State::zeros(&cfg, BATCH);
    for v in init.h.iter_mut().chain(init.c.iter_mut()).flatten() {
        *v = rng.random_range(-0.5..0.5);
    }
    (model, input, classes, init)
}

fn close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
    }
}

#[test]
fn a_batch_cut_for_the_cache_gives_the_one_chunk_results() {
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let (model, input, classes, init) = setup(cell);
        let y = Targets::Classes(&classes);
        let mut results = Vec::new();
        for mut sess in [Session::<f64>::new(1).with_chunk_rows(BATCH), Session::new(1), Session::new(2)] {
            let loss = sess
                .loss_and_grad(&model, Seqs::new(&input, BATCH, STEPS), Some(&init), y, Default::default())
                .unwrap();
            let pieces = sess.pieces();
            let grads = sess.param_grads().to_vec();
            let eval = sess.evaluate(&model, Seqs::new(&input, BATCH, STEPS), Some(&init), y).unwrap();
            assert_eq!(sess.pieces(), pieces, "{cell:?}: evaluate is cut as training is");
            // Input and state gradients need every row's activations kept: not cut into tiles.
            let opts = GradOptions { input: true, state: true, ..Default::default() };
            sess.loss_and_grad(&model, Seqs::new(&input, BATCH, STEPS), Some(&init), y, opts).unwrap();
            assert!(sess.pieces() <= 2, "{cell:?}");
            close(sess.param_grads(), &grads, "param grads of the uncut pass");
            let out = sess.forward(&model, Seqs::new(&input, BATCH, STEPS), Some(&init)).unwrap();
            results.push((pieces, loss, grads, eval, sess.grads.clone(), out));
        }
        let pieces: Vec<usize> = results.iter().map(|r| r.0).collect();
        // A row's 20 steps through [24, 16] units take over 16 KiB in f64, so the 1 MiB
        // budget would allow under 64 rows: tiles are cut at 64 rows, 5 of them on one
        // thread, 3 on each of two.
        assert_eq!(pieces, [1, 5, 6], "{cell:?}");
        let (_, loss, grads, eval, g, out) = &results[0];
        for (_, l, gr, ev, gi, o) in &results[1..] {
            close(&[l.loss, ev.loss], &[loss.loss, eval.loss], "loss");
            assert_eq!((l.correct, ev.correct), (loss.correct, eval.correct));
            close(gr, grads, "param grads");
            close(&gi.input, &g.input, "input grads");
            for (a, b) in gi.state.h.iter().zip(&g.state.h).chain(gi.state.c.iter().zip(&g.state.c)) {
                close(a, b, "state grads");
            }
            close(&o.logits, &out.logits, "logits");
            close(&o.outputs, &out.outputs, "outputs");
            for (a, b) in o.state.h.iter().zip(&out.state.h).chain(o.state.c.iter().zip(&out.state.c)) {
                close(a, b, "final state");
            }
        }
    }
}

#[test]
fn cut_batches_are_reproducible_bit_for_bit() {
    let (model, input, classes, _) = setup(CellKind::Lstm);
    let run = || {
        let mut sess = Session::<f64>::new(2);
        sess.loss_and_grad(
            &model,
            Seqs::new(&input, BATCH, STEPS),
            None,
            Targets::Classes(&classes),
            GradOptions::default(),
        )
        .unwrap();
        assert_eq!(sess.pieces(), 6);
        sess.param_grads().to_vec()
    };
    let first = run();
    for _ in 0..3 {
        assert!(run().iter().zip(&first).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

/// Padded sequences, dropout, a bidirectional stack and per-step targets, cut into tiles:
/// dropout masks are drawn per global row and the loss is normalised over the whole batch,
/// so the tiles again give the one-chunk loss and gradients.
#[test]
fn tiles_keep_padding_dropout_and_bidirectional_layers_exact() {
    let cfg = ModelConfig {
        dropout: 0.3,
        bidirectional: true,
        ..ModelConfig::new(CellKind::Gru, 3, vec![20, 12], 4, HeadKind::Step, LossKind::CrossEntropy)
    };
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let model = Model::<f64>::new(cfg, &mut rng).unwrap();
    let (batch, steps) = (260, 12);
    let input: Vec<f64> = (0..batch * steps * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
    let lengths: Vec<usize> = (0..batch).map(|_| rng.random_range(1..=steps)).collect();
    let classes: Vec<u32> = (0..batch * steps).map(|_| rng.random_range(0..4)).collect();
    let x = Seqs { input: &input, batch, steps, lengths: Some(&lengths) };
    let mut results = Vec::new();
    for mut sess in [Session::<f64>::new(1).with_chunk_rows(batch), Session::new(2)] {
        sess.dropout_seed = 77;
        let y = Targets::Classes(&classes);
        let loss = sess.loss_and_grad(&model, x, None, y, GradOptions::default()).unwrap();
        results.push((sess.pieces(), loss, sess.param_grads().to_vec()));
    }
    assert_eq!((results[0].0, results[1].0), (1, 6), "pieces");
    assert_eq!((results[0].1.correct, results[0].1.count), (results[1].1.correct, results[1].1.count));
    close(&[results[1].1.loss], &[results[0].1.loss], "loss");
    close(&results[1].2, &results[0].2, "param grads");
}

/// An evaluation cut into tiles, run between `loss_and_grad` and the update, leaves the
/// gradients waiting for the update alone (it computes none of its own).
#[test]
fn a_tiled_evaluation_keeps_the_last_gradients() {
    let (model, input, classes, _) = setup(CellKind::Lstm);
    let mut sess = Session::<f64>::new(2);
    let y = Targets::Classes(&classes);
    for train_rows in [8, BATCH] {
        let opts = GradOptions::default();
        sess.loss_and_grad(
            &model,
            Seqs::new(&input[..train_rows * STEPS], train_rows, STEPS),
            None,
            Targets::Classes(&classes[..train_rows]),
            opts,
        )
        .unwrap();
        let before = sess.param_grads().to_vec();
        sess.evaluate(&model, Seqs::new(&input, BATCH, STEPS), None, y).unwrap();
        assert_eq!(sess.pieces(), 6, "the evaluation is tiled");
        assert!(
            sess.param_grads().iter().zip(&before).all(|(a, b)| a.to_bits() == b.to_bits()),
            "gradients of {train_rows} rows changed"
        );
        assert_eq!(sess.param_grads().len(), before.len());
    }
}
