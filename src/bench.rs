//! Whole-step benchmarks: milliseconds per training step (forward + backward + optimizer
//! update) for the four tutorial configurations and a character language model, with their
//! hyperparameters, on synthetic data of the right shapes, plus the achieved GFLOP/s from
//! each configuration's GEMM work as [`flops_per_step`] counts it.
//!
//! These are what `recur bench` prints; `tools/torch_bench.py` times PyTorch on the same
//! configurations so the ratio can be checked in one run.

use crate::model::Seqs;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::cell::CellKind;
use crate::error::Result;
use crate::model::{GradOptions, HeadKind, LossKind, Model, ModelConfig, Session, Targets};
use crate::optim::{OptimConfig, Optimizer, OptimizerKind};

/// One benchmark configuration.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub name: &'static str,
    pub batch: usize,
    pub steps: usize,
    pub model: ModelConfig,
    pub optim: OptimConfig,
    /// Clip the gradients to this global norm, as training would.
    pub clip: Option<f64>,
    /// Each row's final state starts the next step (truncated back-propagation through time).
    pub carry: bool,
}

/// The tutorials' four setups.
pub fn configs() -> Vec<BenchConfig> {
    let mk = |name, batch, steps, input, hidden, out, head, loss, opt, lr| BenchConfig {
        name,
        batch,
        steps,
        model: ModelConfig::new(CellKind::Lstm, input, vec![hidden], out, head, loss),
        optim: OptimConfig::new(opt, lr),
        clip: None,
        carry: false,
    };
    use HeadKind::*;
    use LossKind::*;
    use OptimizerKind::*;
    vec![
        mk("bitcount", 1000, 20, 1, 24, 21, Last, CrossEntropy, Adam, 1e-3),
        mk("addition", 16, 10, 2, 20, 1, Step, Bce, Adam, 0.01),
        mk("aesop", 1, 3, 1, 512, 112, Last, CrossEntropy, RmsProp, 1e-3),
        mk("mnist", 128, 28, 28, 128, 10, Last, CrossEntropy, Adam, 1e-3),
        // A character language model: embedding 256, LSTM 2x256, 65 symbols, 32 streams of
        // 100 steps with their state carried, Adam, gradients clipped at norm 5.
        BenchConfig {
            model: ModelConfig {
                vocab_size: Some(65),
                hidden_sizes: vec![256, 256],
                ..ModelConfig::new(CellKind::Lstm, 256, vec![], 65, Step, CrossEntropy)
            },
            clip: Some(5.0),
            carry: true,
            ..mk("charlm", 32, 100, 256, 256, 65, Step, CrossEntropy, Adam, 2e-3)
        },
    ]
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub config: String,
    pub ms_per_step: f64,
    /// Sequences per second.
    pub seq_per_s: f64,
    /// Time steps (symbols) per second.
    pub tokens_per_s: f64,
    pub gflops: f64,
    pub steps_timed: usize,
}

/// GEMM floating-point operations of one training step, counting what actually runs: with
/// h0 = 0 the recurrent GEMMs of step 0 are skipped (forward, dW_hh and dh), and layer 0
/// computes no input gradient.
pub fn flops_per_step(c: &BenchConfig) -> f64 {
    let m = &c.model;
    let (b, t) = (c.batch as f64, c.steps as f64);
    let mut total = 0.0;
    for (k, &h) in m.hidden_sizes.iter().enumerate() {
        let (g, i, h) = ((m.cell.gates() * h) as f64, m.layer_input(k) as f64, h as f64);
        let input = 2.0 * b * t * i * g; // x W_ih^T; dW_ih; dx (layers above 0)
        let recurrent = 2.0 * b * (t - 1.0) * h * g; // h W_hh^T; dW_hh; dh
        let per_direction = input * if k == 0 { 2.0 } else { 3.0 } + 3.0 * recurrent;
        total += m.directions() as f64 * per_direction;
    }
    let rows = if m.head == HeadKind::Last { b } else { b * t };
    total + 3.0 * 2.0 * rows * m.top_output() as f64 * m.output_size as f64
}

/// Times `c`: warm up, then time single steps for at least `min_seconds` (and 10 steps);
/// reports the median.
pub fn run(c: &BenchConfig, threads: usize, min_seconds: f64) -> Result<BenchResult> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut model = Model::<f32>::new(c.model.clone(), &mut rng)?;
    let m = &c.model;
    let input: Vec<f32> = match m.vocab_size {
        Some(v) => (0..c.batch * c.steps).map(|_| rng.random_range(0..v) as f32).collect(),
        None => (0..c.batch * c.steps * m.input_size).map(|_| rng.random_range(0..2) as f32).collect(),
    };
    let rows = if m.head == HeadKind::Last { c.batch } else { c.batch * c.steps };
    let classes: Vec<u32> = (0..rows).map(|_| rng.random_range(0..m.output_size as u32)).collect();
    let dense: Vec<f32> = (0..rows * m.output_size).map(|_| rng.random_range(0..2) as f32).collect();
    let targets =
        if m.loss == LossKind::CrossEntropy { Targets::Classes(&classes) } else { Targets::Dense(&dense) };
    let mut sess = Session::<f32>::new(threads);
    let mut opt = Optimizer::new(c.optim.clone());
    let mut state = None;
    let mut step = |model: &mut Model<f32>| -> Result<f64> {
        let t0 = Instant::now();
        let opts = GradOptions { fused_update: true, final_state: c.carry, ..Default::default() };
        sess.loss_and_grad(model, Seqs::new(&input, c.batch, c.steps), state.as_ref(), targets, opts)?;
        if c.carry {
            state = Some(sess.final_state(model));
        }
        if let Some(max) = c.clip {
            sess.clip_grad_norm(model, max);
        }
        sess.update(model, &mut opt);
        Ok(t0.elapsed().as_secs_f64())
    };
    for _ in 0..5 {
        step(&mut model)?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 10 || (start.elapsed().as_secs_f64() < min_seconds && times.len() < 100_000) {
        times.push(step(&mut model)?);
    }
    times.sort_by(f64::total_cmp);
    let med = times[times.len() / 2];
    Ok(BenchResult {
        config: c.name.to_string(),
        ms_per_step: med * 1e3,
        seq_per_s: c.batch as f64 / med,
        tokens_per_s: (c.batch * c.steps) as f64 / med,
        gflops: flops_per_step(c) / med / 1e9,
        steps_timed: times.len(),
    })
}
