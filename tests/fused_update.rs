//! `Session::update` after a pass with `GradOptions::fused_update`, which may leave a weight
//! gradient as its factors and form it inside the optimizer step, gives the model that
//! `loss_and_grad` + `Optimizer::step` give, for every cell, optimizer and layout.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::cell::CellKind;
use recur::float::Float;
use recur::model::{GradOptions, HeadKind, LossKind, Model, ModelConfig, Seqs, Session, Targets};
use recur::optim::{OptimConfig, Optimizer, OptimizerKind, clip_grad_norm};

struct Case {
    cell: CellKind,
    hidden: Vec<usize>,
    bidirectional: bool,
    batch: usize,
    threads: usize,
}

/// A classifier on the last step.
fn config(
    cell: CellKind,
    input: usize,
    hidden: &[usize],
    classes: usize,
    bidirectional: bool,
) -> ModelConfig {
    ModelConfig {
        bidirectional,
        ..ModelConfig::new(cell, input, hidden.to_vec(), classes, HeadKind::Last, LossKind::CrossEntropy)
    }
}

/// Three training steps (T = 3); returns the parameters and whether the fused pass left any
/// gradient unformed.
fn train<T: Float>(c: &Case, opt: &OptimConfig, fused: bool) -> (Vec<T>, bool) {
    let (params, deferred, _) = train_clipped(c, opt, fused, None);
    (params, deferred)
}

/// [`train`], clipping the gradients to global norm `clip` before each update; also returns
/// the norms before clipping.
fn train_clipped<T: Float>(
    c: &Case,
    opt: &OptimConfig,
    fused: bool,
    clip: Option<f64>,
) -> (Vec<T>, bool, Vec<f64>) {
    let cfg = config(c.cell, 2, &c.hidden, 5, c.bidirectional);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut model = Model::<T>::new(cfg, &mut rng).unwrap();
    let steps = 3;
    let input: Vec<T> = (0..c.batch * steps * 2).map(|_| T::from_f64(rng.random_range(-1.0..1.0))).collect();
    let classes: Vec<u32> = (0..c.batch).map(|_| rng.random_range(0..5)).collect();
    let mut sess = Session::<T>::new(c.threads);
    let mut optim = Optimizer::new(opt.clone());
    let mut deferred = false;
    let mut norms = Vec::new();
    for _ in 0..3 {
        let opts = GradOptions { fused_update: fused, ..Default::default() };
        sess.loss_and_grad(&model, Seqs::new(&input, c.batch, steps), None, Targets::Classes(&classes), opts)
            .unwrap();
        if fused {
            deferred |= sess.grads_pending();
            if let Some(max) = clip {
                norms.push(sess.clip_grad_norm(&model, max));
            }
            sess.update(&mut model, &mut optim);
        } else {
            if let Some(max) = clip {
                norms.push(clip_grad_norm(sess.param_grads_mut(), max));
            }
            optim.step(&mut model.params, sess.param_grads());
        }
    }
    (model.params, deferred, norms)
}

fn optimizers() -> Vec<OptimConfig> {
    let mut sgd = OptimConfig::new(OptimizerKind::Sgd, 0.1);
    sgd.momentum = 0.9;
    let mut rms = OptimConfig::new(OptimizerKind::RmsProp, 1e-3);
    rms.momentum = 0.5;
    vec![
        sgd,
        OptimConfig::new(OptimizerKind::Adam, 1e-2),
        OptimConfig::new(OptimizerKind::AdamW, 1e-2),
        OptimConfig::new(OptimizerKind::RmsProp, 1e-3),
        rms,
    ]
}

fn check<T: Float>(c: &Case, want_deferred: bool, tol: f64) {
    for opt in optimizers() {
        let (plain, _) = train::<T>(c, &opt, false);
        let (fused, deferred) = train::<T>(c, &opt, true);
        let tag = format!(
            "{} {:?} bi={} B={} x{} {:?}",
            c.cell, c.hidden, c.bidirectional, c.batch, c.threads, opt.kind
        );
        assert_eq!(deferred, want_deferred, "{tag}: deferred");
        let worst = plain
            .iter()
            .zip(&fused)
            .map(|(a, b)| (a.to_f64() - b.to_f64()).abs() / a.to_f64().abs().max(1e-3))
            .fold(0.0, f64::max);
        assert!(worst <= tol, "{tag}: parameters differ by {worst:e} (relative)");
    }
}

/// Batch 1 and three steps: every recurrent weight gradient of these sizes (>= 65536
/// elements) is a sum of two outer products, left as factors.
#[test]
fn fused_update_matches_plain_step_f64() {
    let case = |cell, hidden: &[usize], bidirectional| Case {
        cell,
        hidden: hidden.to_vec(),
        bidirectional,
        batch: 1,
        threads: 2,
    };
    check::<f64>(&case(CellKind::Lstm, &[128, 128], false), true, 1e-12);
    check::<f64>(&case(CellKind::Gru, &[150], false), true, 1e-12);
    check::<f64>(&case(CellKind::Rnn, &[256], false), true, 1e-12);
    check::<f64>(&case(CellKind::Lstm, &[128], true), true, 1e-12);
    // A mix: the second layer is too small to defer.
    check::<f64>(&case(CellKind::Lstm, &[128, 20], false), true, 1e-12);
}

/// In f32 the two ways of forming dW_hh may differ in the last bit, and RMSProp's first steps
/// (`g / (0.1 |g| + 1e-8)`) magnify that where |g| is near 1e-7.
#[test]
fn fused_update_matches_plain_step_f32() {
    let c = Case { cell: CellKind::Lstm, hidden: vec![128], bidirectional: false, batch: 1, threads: 2 };
    check::<f32>(&c, true, 1e-4);
}

/// Clipping reads the norm of a pending dW_hh from its factors and scales them: the same
/// norms and parameters as clipping the formed gradients, for each cell type.
#[test]
fn clipping_pending_gradients_matches_clipping_formed_ones() {
    for (cell, hidden) in
        [(CellKind::Lstm, vec![128, 20]), (CellKind::Gru, vec![150]), (CellKind::Rnn, vec![256])]
    {
        let c = Case { cell, hidden, bidirectional: false, batch: 1, threads: 2 };
        let opt = OptimConfig::new(OptimizerKind::RmsProp, 1e-3);
        // 0.01 is below every norm here, so every step clips.
        let (plain, _, plain_norms) = train_clipped::<f64>(&c, &opt, false, Some(0.01));
        let (fused, deferred, fused_norms) = train_clipped::<f64>(&c, &opt, true, Some(0.01));
        assert!(deferred, "{cell}: nothing was pending");
        assert!(plain_norms.iter().all(|&n| n > 0.01), "{cell}: {plain_norms:?}");
        for (a, b) in plain_norms.iter().zip(&fused_norms) {
            assert!((a - b).abs() <= 1e-12 * a, "{cell}: norm {a} vs {b}");
        }
        for (a, b) in plain.iter().zip(&fused) {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1e-3), "{cell}: parameter {a} vs {b}");
        }
    }
}

/// Reading the parameter gradients of a pass that left some unformed is a programming error
/// with a message that says what to do.
#[test]
#[should_panic(expected = "param_grads after a fused_update pass: apply it with Session::update")]
fn param_grads_of_a_fused_pass_panics() {
    let cfg = config(CellKind::Lstm, 1, &[128], 2, false);
    let model = Model::<f32>::new(cfg, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let mut sess = Session::<f32>::new(1);
    let opts = GradOptions { fused_update: true, ..Default::default() };
    sess.loss_and_grad(&model, Seqs::new(&[0.5, -0.5, 1.0], 1, 3), None, Targets::Classes(&[1]), opts)
        .unwrap();
    assert!(sess.grads_pending());
    sess.param_grads();
}

/// Nothing is deferred where it would not pay or could not be formed from one chunk: small
/// matrices, many outer products, or a batch split over threads. `param_grads` then works.
#[test]
fn fused_update_defers_only_large_low_rank_gradients() {
    let small = Case { cell: CellKind::Lstm, hidden: vec![20], bidirectional: false, batch: 1, threads: 2 };
    check::<f64>(&small, false, 0.0);
    let many = Case { cell: CellKind::Lstm, hidden: vec![128], bidirectional: false, batch: 6, threads: 1 };
    check::<f64>(&many, false, 0.0);
    let split = Case { cell: CellKind::Lstm, hidden: vec![128], bidirectional: false, batch: 40, threads: 2 };
    check::<f64>(&split, false, 0.0);
}

/// A pass run between `loss_and_grad` and `update` (an evaluation on other data) reuses the
/// buffers that hold the factors: they are formed into the gradients first, so the update
/// is still that of the plain step, and `param_grads` is readable again.
#[test]
fn a_pass_between_loss_and_update_keeps_the_update_right() {
    let cfg = config(CellKind::Lstm, 1, &[128], 3, false);
    let model = Model::<f64>::new(cfg, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
    let (x, y) = ([0.5, -0.5, 1.0], [2u32]);
    let other = [0.9, 0.1, -0.7];
    let opt = OptimConfig::new(OptimizerKind::RmsProp, 1e-2);
    let mut plain = model.clone();
    let mut sess = Session::<f64>::new(1);
    sess.loss_and_grad(&plain, Seqs::new(&x, 1, 3), None, Targets::Classes(&y), GradOptions::default())
        .unwrap();
    Optimizer::new(opt.clone()).step(&mut plain.params, sess.param_grads());

    let mut fused = model.clone();
    let mut sess = Session::<f64>::new(1);
    let opts = GradOptions { fused_update: true, ..Default::default() };
    sess.loss_and_grad(&fused, Seqs::new(&x, 1, 3), None, Targets::Classes(&y), opts).unwrap();
    assert!(sess.grads_pending());
    sess.evaluate(&fused, Seqs::new(&other, 1, 3), None, Targets::Classes(&[0])).unwrap();
    assert!(!sess.grads_pending());
    assert_eq!(sess.param_grads().len(), fused.params.len());
    sess.update(&mut fused, &mut Optimizer::new(opt));
    for (i, (a, b)) in plain.params.iter().zip(&fused.params).enumerate() {
        assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "param {i}: {a} vs {b}");
    }
}
