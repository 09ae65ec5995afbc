//! Optimizers with PyTorch's update rules and defaults, over the flat parameter buffer, and
//! gradient clipping by global norm (`torch.nn.utils.clip_grad_norm_`).
//!
//! Each optimizer is one small function over `(params, grads, state)`; the flat layout means
//! no per-tensor bookkeeping. Weight decay is PyTorch's L2 form (added to the gradient) for
//! SGD, Adam and RMSProp, and the decoupled form for AdamW.

mod adam;
mod rmsprop;
mod sgd;

use serde::{Deserialize, Serialize};

use crate::float::Float;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    AdamW,
    RmsProp,
}

impl std::str::FromStr for OptimizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerKind::Sgd),
            "adam" => Ok(OptimizerKind::Adam),
            "adamw" => Ok(OptimizerKind::AdamW),
            "rmsprop" => Ok(OptimizerKind::RmsProp),
            _ => Err(format!("unknown optimizer `{s}` (expected sgd, adam, adamw or rmsprop)")),
        }
    }
}

impl std::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
            OptimizerKind::RmsProp => "rmsprop",
        })
    }
}

/// Hyperparameters; [`OptimConfig::new`] fills PyTorch's defaults for the kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    /// SGD and RMSProp momentum (default 0).
    pub momentum: f64,
    /// Adam betas (0.9, 0.999).
    pub beta1: f64,
    pub beta2: f64,
    /// RMSProp smoothing constant (0.99).
    pub alpha: f64,
    /// 1e-8 for Adam and RMSProp.
    pub eps: f64,
    /// 0, except AdamW's 0.01.
    pub weight_decay: f64,
}

impl OptimConfig {
    pub fn new(kind: OptimizerKind, lr: f64) -> Self {
        OptimConfig {
            kind,
            lr,
            momentum: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: if kind == OptimizerKind::AdamW { 0.01 } else { 0.0 },
        }
    }
}

/// An optimizer and its state (moment buffers sized like the parameters).
#[derive(Clone, Debug)]
pub struct Optimizer<T> {
    pub config: OptimConfig,
    /// Number of steps taken.
    pub step: u64,
    /// First moment (Adam), momentum buffer (SGD, RMSProp).
    m: Vec<T>,
    /// Second moment (Adam), square average (RMSProp).
    v: Vec<T>,
}

impl<T: Float> Optimizer<T> {
    pub fn new(config: OptimConfig) -> Self {
        Optimizer { config, step: 0, m: Vec::new(), v: Vec::new() }
    }

    /// One update of `params` with `grads` (same layout).
    pub fn step(&mut self, params: &mut [T], grads: &[T]) {
        assert_eq!(params.len(), grads.len(), "params and grads differ in length");
        if self.m.len() != params.len() {
            self.m = vec![T::ZERO; params.len()];
            self.v = vec![T::ZERO; params.len()];
        }
        self.step += 1;
        let c = &self.config;
        match c.kind {
            OptimizerKind::Sgd => sgd::step(c, self.step, params, grads, &mut self.m, &mut self.v),
            OptimizerKind::Adam | OptimizerKind::AdamW => {
                adam::step(c, self.step, params, grads, &mut self.m, &mut self.v)
            }
            OptimizerKind::RmsProp => rmsprop::step(c, params, grads, &mut self.v, &mut self.m),
        }
    }
}

/// Applies `f` to matching chunks of four equal-length buffers, in parallel for models large
/// enough to pay for it (aesop's 1M parameters: the update is memory-bound). Every element's
/// update is independent, so the split never changes a bit of the result.
fn par_chunks<T: Float>(
    p: &mut [T],
    g: &[T],
    a: &mut [T],
    b: &mut [T],
    f: impl Fn(&mut [T], &[T], &mut [T], &mut [T]) + Sync + Send,
) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    if p.len() < 4 * CHUNK {
        return f(p, g, a, b);
    }
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(a.par_chunks_mut(CHUNK))
        .zip(b.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), a), b)| f(p, g, a, b));
}

/// Scales `grads` so their global L2 norm is at most `max_norm`, exactly as
/// `clip_grad_norm_`: by `max_norm / (norm + 1e-6)` when that is below 1. Returns the norm
/// before clipping (infinite or NaN if a gradient is).
pub fn clip_grad_norm<T: Float>(grads: &mut [T], max_norm: f64) -> f64 {
    let norm = grads.iter().map(|g| g.to_f64() * g.to_f64()).sum::<f64>().sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = T::from_f64(coef);
        for g in grads.iter_mut() {
            *g *= c;
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_steps_match_hand_computation() {
        // Adam's first step moves every parameter by lr * sign(g) (up to eps).
        let mut opt = Optimizer::<f64>::new(OptimConfig::new(OptimizerKind::Adam, 0.1));
        let mut p = vec![1.0, -1.0];
        opt.step(&mut p, &[0.5, -2.0]);
        assert!((p[0] - 0.9).abs() < 1e-7 && (p[1] + 0.9).abs() < 1e-7, "{p:?}");
        // RMSProp: v = 0.01 g^2, step = lr g / (0.1 |g| + eps) = 10 lr sign(g).
        let mut opt = Optimizer::<f64>::new(OptimConfig::new(OptimizerKind::RmsProp, 0.01));
        let mut p = vec![0.0];
        opt.step(&mut p, &[3.0]);
        assert!((p[0] + 0.1).abs() < 1e-7, "{p:?}");
        // SGD with momentum: buf = g, then buf = 0.9 buf + g.
        let mut cfg = OptimConfig::new(OptimizerKind::Sgd, 0.1);
        cfg.momentum = 0.9;
        let mut opt = Optimizer::<f64>::new(cfg);
        let mut p = vec![0.0];
        opt.step(&mut p, &[1.0]);
        opt.step(&mut p, &[1.0]);
        assert!((p[0] + 0.1 + 0.19).abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn clipping_scales_to_max_norm_and_leaves_small_gradients() {
        let mut g = vec![3.0f64, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
        let mut g = vec![0.3f64, 0.4];
        clip_grad_norm(&mut g, 1.0);
        assert_eq!(g, [0.3, 0.4]);
    }
}
