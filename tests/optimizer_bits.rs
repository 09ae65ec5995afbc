//! Bits the optimizer must keep: a fused update equal to the plain step, a dW_hh with no
//! factors (sequences of one step) as a zero gradient, and RMSProp rounded as torch rounds it.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::cell::CellKind;
use recur::model::{GradOptions, HeadKind, LossKind, Model, ModelConfig, Seqs, Session, Targets};
use recur::optim::{OptimConfig, Optimizer, OptimizerKind, OuterSum};

/// Sequences of one step with h0 = 0: dW_hh is a sum of K = 0 outer products (zero). The
/// fused update must treat it as a zero gradient, as d08cd8e did (its GEMM with K = 0 wrote
/// zeros); 47c5932 panics in `ut.chunks_exact(0)`.
#[test]
fn fused_update_of_one_step_sequences() {
    let cfg = ModelConfig::new(CellKind::Lstm, 1, vec![128], 2, HeadKind::Last, LossKind::CrossEntropy);
    let model0 = Model::<f32>::new(cfg, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let opt = OptimConfig::new(OptimizerKind::Adam, 1e-2);
    let (mut plain, mut fused) = (model0.clone(), model0.clone());
    let mut sess = Session::<f32>::new(1);
    sess.loss_and_grad(&plain, Seqs::new(&[0.5], 1, 1), None, Targets::Classes(&[1]), GradOptions::default())
        .unwrap();
    Optimizer::new(opt.clone()).step(&mut plain.params, sess.param_grads());
    let opts = GradOptions { fused_update: true, ..Default::default() };
    sess.loss_and_grad(&fused, Seqs::new(&[0.5], 1, 1), None, Targets::Classes(&[1]), opts).unwrap();
    assert!(sess.grads_pending());
    sess.update(&mut fused, &mut Optimizer::new(opt));
    assert_eq!(plain.params, fused.params);
}

/// The same at the optimizer's level: K = 0 is a zero gradient.
#[test]
fn step_outer_with_no_factors_is_a_zero_gradient() {
    let (rows, cols) = (4, 3);
    let p0: Vec<f64> = (0..rows * cols).map(|i| i as f64 * 0.1 - 0.5).collect();
    let cfg = OptimConfig::new(OptimizerKind::Adam, 0.1);
    let mut a = p0.clone();
    Optimizer::<f64>::new(cfg.clone()).step(&mut a, &vec![0.0; rows * cols]);
    let mut b = p0.clone();
    let o = OuterSum { offset: 0, rows, cols, k: 0, u: &[], w: &[] };
    Optimizer::<f64>::new(cfg).step_outer(&mut b, &vec![f64::NAN; rows * cols], &[o]);
    assert_eq!(a, b);
}

/// torch.optim.RMSprop without momentum: `param.addcdiv_(grad, avg, value=-lr)`, i.e.
/// `p + (-lr * g) / avg` (d08cd8e: `p -= lr * g / (sqrt(v) + eps)`). 47c5932 computes
/// `p -= lr * (g / avg)`, another rounding.
#[test]
fn rmsprop_without_momentum_rounds_as_torch_addcdiv() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let n = 1000;
    let p0: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let g: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let (lr, alpha, eps) = (0.01, 0.99, 1e-8);
    let want: Vec<f64> = p0
        .iter()
        .zip(&g)
        .map(|(&p, &g)| {
            let v = alpha * 0.0 + (1.0 - alpha) * g * g;
            p - lr * g / (v.sqrt() + eps)
        })
        .collect();
    let mut p = p0.clone();
    Optimizer::<f64>::new(OptimConfig::new(OptimizerKind::RmsProp, lr)).step(&mut p, &g);
    let bad = p.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(bad, 0, "{bad} of {n} differ");
}

/// In f64 the fused update (batch 1, three steps: K = 2) gave the bits of the plain step at
/// d08cd8e, whose GEMM forms `a0 b0 + a1 b1` with two roundings and one add; 47c5932 forms
/// `fma(a1, b1, a0 b0)`.
#[test]
fn fused_update_is_the_plain_step_bit_for_bit_f64() {
    let cfg = ModelConfig::new(CellKind::Lstm, 2, vec![128], 5, HeadKind::Last, LossKind::CrossEntropy);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let model0 = Model::<f64>::new(cfg, &mut rng).unwrap();
    let input: Vec<f64> = (0..6).map(|_| rng.random_range(-1.0..1.0)).collect();
    let opt = OptimConfig::new(OptimizerKind::Adam, 1e-2);
    let run = |fused: bool| {
        let mut model = model0.clone();
        let mut sess = Session::<f64>::new(2);
        let mut optim = Optimizer::new(opt.clone());
        for _ in 0..3 {
            let opts = GradOptions { fused_update: fused, ..Default::default() };
            sess.loss_and_grad(&model, Seqs::new(&input, 1, 3), None, Targets::Classes(&[2]), opts).unwrap();
            if fused {
                assert!(sess.grads_pending());
                sess.update(&mut model, &mut optim);
            } else {
                optim.step(&mut model.params, sess.param_grads());
            }
        }
        model.params
    };
    let (plain, fused) = (run(false), run(true));
    let bad = plain.iter().zip(&fused).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(bad, 0, "{bad} of {} parameters differ", plain.len());
}
