//! Finite-difference gradient checks in f64: every parameter, the input and the initial state,
//! for each cell, one and three layers (with different hidden sizes per layer), and every
//! head/loss combination, on one chunk and split over chunks.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::cell::CellKind;
use recur::model::{GradOptions, HeadKind, LossKind, Model, ModelConfig, Seqs, Session, State, Targets};

const B: usize = 3;
const T: usize = 5;
const I: usize = 3;
const C: usize = 3;

fn case(cell: CellKind, hidden: &[usize], head: HeadKind, loss: LossKind, threads: usize) {
    case_with(cell, hidden, head, loss, threads, Extras::default())
}

/// With `vocab`, the input is token ids through an embedding (whose gradient is checked; the
/// ids themselves have none). With `learn_init`, no state is given and the model's learned
/// initial state (random here) is used and checked. With `bidirectional`, every layer has a
/// reverse direction. With `tie_weights`, the head's weight is the embedding table (needs
/// `vocab` = C and a top layer of I units).
#[derive(Clone, Copy, Debug, Default)]
struct Extras {
    vocab: Option<usize>,
    learn_init: bool,
    bidirectional: bool,
    tie_weights: bool,
    long: bool,
}

fn case_with(
    cell: CellKind,
    hidden: &[usize],
    head: HeadKind,
    loss: LossKind,
    threads: usize,
    extras: Extras,
) {
    let Extras { vocab, learn_init, bidirectional, tie_weights, long } = extras;
    // A long batch: 40 positions, enough for a small vocabulary's projection to be looked up.
    let (b, t) = if long { (4, 10) } else { (B, T) };
    let cfg = ModelConfig {
        vocab_size: vocab,
        learn_init,
        bidirectional,
        tie_weights,
        ..ModelConfig::new(cell, I, hidden.to_vec(), C, head, loss)
    };
    let tag = format!("{cell} {hidden:?} {head:?} {loss:?} x{threads} {extras:?}");
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut model = Model::<f64>::new(cfg.clone(), &mut rng).unwrap();
    // Larger weights than the default init, so that gates saturate somewhat and every term of
    // the backward equations matters.
    for p in &mut model.params {
        *p *= 2.5;
    }
    for s in model.specs.clone().iter().filter(|s| s.name.starts_with("init.")) {
        for p in &mut model.params[s.range()] {
            *p = rng.random_range(-0.8..0.8);
        }
    }
    let input: Vec<f64> = match vocab {
        Some(v) => (0..b * t).map(|_| rng.random_range(0..v) as f64).collect(),
        None => (0..b * t * I).map(|_| rng.random_range(-1.0..1.0)).collect(),
    };
    let mut init = State::<f64>::zeros(&cfg, b);
    for v in init.h.iter_mut().chain(init.c.iter_mut()).flatten() {
        *v = rng.random_range(-0.8..0.8);
    }
    let rows = if head == HeadKind::Last { b } else { b * t };
    let classes: Vec<u32> = (0..rows).map(|_| rng.random_range(0..C as u32)).collect();
    let dense: Vec<f64> =
        (0..rows * C)
            .map(|_| {
                if loss == LossKind::Bce {
                    rng.random_range(0..2) as f64
                } else {
                    rng.random_range(-1.0..1.0)
                }
            })
            .collect();
    let targets =
        if loss == LossKind::CrossEntropy { Targets::Classes(&classes) } else { Targets::Dense(&dense) };

    let given = if learn_init { None } else { Some(&init) };
    let mut sess = Session::<f64>::new(threads).with_chunk_rows(1);
    sess.loss_and_grad(
        &model,
        Seqs::new(&input, b, t),
        given,
        targets,
        GradOptions { input: vocab.is_none(), state: !learn_init, ..Default::default() },
    )
    .unwrap();
    let grads = sess.grads.clone();
    let param_grads = sess.param_grads().to_vec();

    let mut eval = Session::<f64>::new(1);
    let mut loss_at = |m: &Model<f64>, x: &[f64], s: &State<f64>| {
        let sum =
            eval.evaluate(m, Seqs::new(x, b, t), if learn_init { None } else { Some(s) }, targets).unwrap();
        sum.mean()
    };
    let eps = 1e-5;
    let near = |what: String, analytic: f64, numeric: f64| {
        let err = (analytic - numeric).abs();
        assert!(
            err < 1e-7 * numeric.abs().max(1.0),
            "{tag} {what}: analytic {analytic:.10} numeric {numeric:.10}"
        );
    };
    for s in model.specs.clone() {
        for i in s.range() {
            let orig = model.params[i];
            model.params[i] = orig + eps;
            let up = loss_at(&model, &input, &init);
            model.params[i] = orig - eps;
            let down = loss_at(&model, &input, &init);
            model.params[i] = orig;
            near(format!("{}[{}]", s.name, i - s.offset), param_grads[i], (up - down) / (2.0 * eps));
        }
    }
    let mut x = input.clone();
    for i in 0..if vocab.is_some() { 0 } else { x.len() } {
        x[i] = input[i] + eps;
        let up = loss_at(&model, &x, &init);
        x[i] = input[i] - eps;
        let down = loss_at(&model, &x, &init);
        x[i] = input[i];
        near(format!("input[{i}]"), grads.input[i], (up - down) / (2.0 * eps));
    }
    let layers = if learn_init { 0 } else { init.h.len() };
    for (which, k) in
        (0..layers).map(|k| (0, k)).chain((0..if learn_init { 0 } else { init.c.len() }).map(|k| (1, k)))
    {
        for i in 0..init.h[k].len() {
            let mut s = init.clone();
            fn buf(s: &mut State<f64>, which: usize, k: usize) -> &mut Vec<f64> {
                if which == 0 { &mut s.h[k] } else { &mut s.c[k] }
            }
            let orig = buf(&mut s, which, k)[i];
            buf(&mut s, which, k)[i] = orig + eps;
            let up = loss_at(&model, &input, &s);
            buf(&mut s, which, k)[i] = orig - eps;
            let down = loss_at(&model, &input, &s);
            let g = if which == 0 { &grads.state.h[k] } else { &grads.state.c[k] };
            near(
                format!("{}0[{k}][{i}]", if which == 0 { "h" } else { "c" }),
                g[i],
                (up - down) / (2.0 * eps),
            );
        }
    }
}

fn all_heads(cell: CellKind) {
    for hidden in [&[4][..], &[4, 3, 5][..]] {
        case(cell, hidden, HeadKind::Last, LossKind::CrossEntropy, 1);
        case(cell, hidden, HeadKind::Step, LossKind::CrossEntropy, 2);
        case(cell, hidden, HeadKind::Step, LossKind::Bce, 1);
        case(cell, hidden, HeadKind::Step, LossKind::Mse, 3);
        case(cell, hidden, HeadKind::Last, LossKind::Mse, 2);
    }
}

#[test]
fn embedding_gradients_match_finite_differences() {
    // 5 token ids over B*T = 15 positions: ids repeat, so the scatter-add is exercised.
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let e = Extras { vocab: Some(5), ..Extras::default() };
        case_with(cell, &[4], HeadKind::Last, LossKind::CrossEntropy, 2, e);
        case_with(cell, &[4, 3], HeadKind::Step, LossKind::CrossEntropy, 1, e);
    }
}

#[test]
fn tied_embedding_and_head_gradients_match_finite_differences() {
    // The table's gradient sums the head's use and the lookups' (C = I = 3 ids, top layer 3).
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let e = Extras { vocab: Some(C), tie_weights: true, ..Extras::default() };
        case_with(cell, &[4, I], HeadKind::Step, LossKind::CrossEntropy, 2, e);
        case_with(cell, &[I], HeadKind::Last, LossKind::CrossEntropy, 1, Extras { learn_init: true, ..e });
    }
}

#[test]
fn looked_up_input_projection_gradients_match_finite_differences() {
    // 5 ids over 40 positions: the first layer's projection comes from a per-id table and its
    // gradients (W_ih, biases, the embedding) from the per-id sums of the gate gradients.
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let e = Extras { vocab: Some(5), long: true, ..Extras::default() };
        case_with(cell, &[4, 3], HeadKind::Step, LossKind::CrossEntropy, 2, e);
        case_with(cell, &[4], HeadKind::Last, LossKind::CrossEntropy, 1, Extras { learn_init: true, ..e });
        let tied = Extras { vocab: Some(C), tie_weights: true, long: true, ..Extras::default() };
        case_with(cell, &[4, I], HeadKind::Step, LossKind::CrossEntropy, 3, tied);
    }
}

#[test]
fn learned_initial_state_gradients_match_finite_differences() {
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let e = Extras { learn_init: true, ..Extras::default() };
        case_with(cell, &[4, 3], HeadKind::Step, LossKind::Bce, 2, e);
        case_with(cell, &[5], HeadKind::Last, LossKind::CrossEntropy, 1, Extras { vocab: Some(4), ..e });
    }
}

#[test]
fn bidirectional_gradients_match_finite_differences() {
    let e = Extras { bidirectional: true, ..Extras::default() };
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        case_with(cell, &[4, 3, 2], HeadKind::Last, LossKind::CrossEntropy, 2, e);
        case_with(cell, &[3, 4], HeadKind::Step, LossKind::Bce, 1, e);
        case_with(cell, &[3], HeadKind::Step, LossKind::Mse, 3, e);
        case_with(cell, &[4, 3], HeadKind::Step, LossKind::CrossEntropy, 2, Extras { vocab: Some(5), ..e });
        case_with(cell, &[3, 2], HeadKind::Last, LossKind::CrossEntropy, 1, Extras { learn_init: true, ..e });
    }
}

#[test]
fn rnn_gradients_match_finite_differences() {
    all_heads(CellKind::Rnn);
}

#[test]
fn lstm_gradients_match_finite_differences() {
    all_heads(CellKind::Lstm);
}

#[test]
fn gru_gradients_match_finite_differences() {
    all_heads(CellKind::Gru);
}

/// Without an initial state, step 0's recurrent GEMMs are skipped; the results must equal an
/// explicit all-zero state, with and without asking for dL/dh0.
#[test]
fn zero_initial_state_shortcut_matches_explicit_zeros() {
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let cfg = ModelConfig::new(cell, I, vec![4, 5], C, HeadKind::Step, LossKind::Mse);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let model = Model::<f64>::new(cfg.clone(), &mut rng).unwrap();
        let input: Vec<f64> = (0..B * T * I).map(|_| rng.random_range(-1.0..1.0)).collect();
        let target: Vec<f64> = (0..B * T * C).map(|_| rng.random_range(-1.0..1.0)).collect();
        let zeros = State::<f64>::zeros(&cfg, B);
        let run = |init: Option<&State<f64>>, state: bool| {
            let mut s = Session::<f64>::new(2).with_chunk_rows(1);
            let opts = GradOptions { input: true, state, ..Default::default() };
            let sum = s
                .loss_and_grad(&model, Seqs::new(&input, B, T), init, Targets::Dense(&target), opts)
                .unwrap();
            (sum.loss, s.param_grads().to_vec(), s.grads.input.clone())
        };
        let (l0, g0, x0) = run(Some(&zeros), true);
        for (l, g, x) in [run(None, false), run(None, true), run(Some(&zeros), false)] {
            assert!((l - l0).abs() < 1e-12, "{cell}: loss {l} vs {l0}");
            for (a, b) in g.iter().zip(&g0).chain(x.iter().zip(&x0)) {
                assert!((a - b).abs() < 1e-12, "{cell}: {a} vs {b}");
            }
        }
    }
}

/// Dropout between layers and before the head: with the masks held fixed (same seed), the
/// gradient of the training loss matches finite differences; evaluation uses no mask.
#[test]
fn dropout_gradients_match_finite_differences() {
    let cases = [CellKind::Rnn, CellKind::Lstm, CellKind::Gru]
        .into_iter()
        .flat_map(|c| {
            [(c, false, HeadKind::Step, 0.0), (c, true, HeadKind::Step, 0.3), (c, true, HeadKind::Last, 0.3)]
        })
        .chain([(CellKind::Lstm, false, HeadKind::Step, 0.3), (CellKind::Gru, false, HeadKind::Last, 0.3)]);
    for (cell, bidirectional, head, head_dropout) in cases {
        let cfg = ModelConfig {
            dropout: 0.4,
            head_dropout,
            bidirectional,
            ..ModelConfig::new(cell, I, vec![4, 5, 3], C, head, LossKind::CrossEntropy)
        };
        let rows = if head == HeadKind::Step { B * T } else { B };
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let mut model = Model::<f64>::new(cfg.clone(), &mut rng).unwrap();
        let input: Vec<f64> = (0..B * T * I).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y: Vec<u32> = (0..rows).map(|_| rng.random_range(0..C as u32)).collect();
        let t = Targets::Classes(&y);
        let mut sess = Session::<f64>::new(2).with_chunk_rows(1);
        let train_loss = |m: &Model<f64>, s: &mut Session<f64>| {
            s.dropout_seed = 99;
            let sum = s.loss_and_grad(m, Seqs::new(&input, B, T), None, t, GradOptions::default()).unwrap();
            sum.mean()
        };
        let l0 = train_loss(&model, &mut sess);
        let grads = sess.param_grads().to_vec();
        let mut probe = Session::<f64>::new(3).with_chunk_rows(1);
        // The mask depends on rows, not on chunks: another chunking gives the same loss.
        assert!((train_loss(&model, &mut probe) - l0).abs() < 1e-12, "{cell}: mask depends on chunking");
        // Dropout is on: the training loss differs from the evaluation loss.
        let eval = probe.evaluate(&model, Seqs::new(&input, B, T), None, t).unwrap();
        assert!((eval.mean() - l0).abs() > 1e-6, "{cell}: dropout had no effect");
        let eps = 1e-5;
        for (i, &analytic) in grads.iter().enumerate() {
            let orig = model.params[i];
            model.params[i] = orig + eps;
            let up = train_loss(&model, &mut probe);
            model.params[i] = orig - eps;
            let down = train_loss(&model, &mut probe);
            model.params[i] = orig;
            let numeric = (up - down) / (2.0 * eps);
            assert!(
                (analytic - numeric).abs() < 1e-7 * numeric.abs().max(1.0),
                "{cell} [{i}]: {analytic} vs {numeric}"
            );
        }
    }
}

/// Class-weighted cross-entropy (PyTorch's `weight=`): the weighted mean's gradient matches
/// finite differences, for last-step and padded per-step heads.
#[test]
fn class_weighted_gradients_match_finite_differences() {
    for head in [HeadKind::Last, HeadKind::Step] {
        let cfg = ModelConfig::new(CellKind::Gru, I, vec![4], C, head, LossKind::CrossEntropy);
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let mut model = Model::<f64>::new(cfg.clone(), &mut rng).unwrap();
        let input: Vec<f64> = (0..B * T * I).map(|_| rng.random_range(-1.0..1.0)).collect();
        let rows = if head == HeadKind::Last { B } else { B * T };
        let y: Vec<u32> = (0..rows).map(|_| rng.random_range(0..C as u32)).collect();
        let lengths = [T, 2, 4];
        let x = recur::model::Seqs { input: &input, batch: B, steps: T, lengths: Some(&lengths) };
        let weights = vec![0.5, 2.0, 1.25];
        let mut sess = Session::<f64>::new(2).with_chunk_rows(1);
        sess.class_weights = Some(weights.clone());
        let mean = |m: &Model<f64>, s: &mut Session<f64>| {
            let sum = s.loss_and_grad(m, x, None, Targets::Classes(&y), GradOptions::default()).unwrap();
            sum.mean()
        };
        mean(&model, &mut sess);
        let grads = sess.param_grads().to_vec();
        let mut probe = Session::<f64>::new(1);
        probe.class_weights = Some(weights.clone());
        let eps = 1e-5;
        for (i, &analytic) in grads.iter().enumerate() {
            let orig = model.params[i];
            model.params[i] = orig + eps;
            let up = mean(&model, &mut probe);
            model.params[i] = orig - eps;
            let down = mean(&model, &mut probe);
            model.params[i] = orig;
            let numeric = (up - down) / (2.0 * eps);
            assert!(
                (analytic - numeric).abs() < 1e-7 * numeric.abs().max(1.0),
                "{head:?} [{i}]: {analytic} vs {numeric}"
            );
        }
        // With all weights 1 the weighted loss is the plain mean.
        probe.class_weights = Some(vec![1.0; C]);
        let weighted = mean(&model, &mut probe);
        probe.class_weights = None;
        assert!((weighted - mean(&model, &mut probe)).abs() < 1e-12);
        let mut bad = Session::<f64>::new(1);
        bad.class_weights = Some(vec![1.0; 2]);
        let e = bad.loss_and_grad(&model, x, None, Targets::Classes(&y), GradOptions::default());
        assert!(e.unwrap_err().to_string().contains("2 class weights for 3 classes"));
    }
}
