//! Optimizers with PyTorch's update rules and defaults, over the flat parameter buffer, and
//! gradient clipping by global norm (`torch.nn.utils.clip_grad_norm_`).
//!
//! Each optimizer is one small function over `(params, grads, state)`; the flat layout means
//! no per-tensor bookkeeping. Weight decay is PyTorch's L2 form (added to the gradient) for
//! SGD, Adam and RMSProp, and the decoupled form for AdamW.

mod adam;
mod rmsprop;
mod rule;
mod sgd;

use serde::{Deserialize, Serialize};

use crate::float::Float;
pub use crate::ops::grads::{ApplyGrads, OuterSum, clip_coef, clip_grad_norm, scale, sum_squares};
use rule::{Rule, WithRule};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// Which update rule, each as its PyTorch class.
pub enum OptimizerKind {
    /// `torch.optim.SGD`, with momentum when set.
    Sgd,
    /// `torch.optim.Adam`.
    Adam,
    /// `torch.optim.AdamW` (decoupled weight decay, 0.01 by default).
    AdamW,
    /// `torch.optim.RMSprop` (alpha 0.99).
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
    /// The update rule.
    pub kind: OptimizerKind,
    /// The learning rate.
    pub lr: f64,
    /// SGD and RMSProp momentum (default 0).
    pub momentum: f64,
    /// Adam betas (0.9, 0.999).
    pub beta1: f64,
    /// Adam's second-moment decay (`betas[1]`).
    pub beta2: f64,
    /// RMSProp smoothing constant (0.99).
    pub alpha: f64,
    /// 1e-8 for Adam and RMSProp.
    pub eps: f64,
    /// 0, except AdamW's 0.01.
    pub weight_decay: f64,
}

impl OptimConfig {
    /// `kind` at rate `lr`, every other setting PyTorch's default for it.
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
///
/// # Examples
///
/// ```
/// use recur::{OptimConfig, Optimizer, OptimizerKind};
///
/// // torch.optim.Adam([p], lr=0.1): the first step moves each parameter by lr against the
/// // sign of its gradient.
/// let mut opt = Optimizer::<f64>::new(OptimConfig::new(OptimizerKind::Adam, 0.1));
/// let mut params = vec![1.0, -1.0];
/// opt.step(&mut params, &[0.5, -2.0]);
/// assert!((params[0] - 0.9).abs() < 1e-6 && (params[1] + 0.9).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct Optimizer<T> {
    /// Its settings; the learning rate may change between steps (a schedule).
    pub config: OptimConfig,
    /// Number of steps taken.
    pub step: u64,
    /// First moment (Adam), momentum buffer (SGD, RMSProp).
    m: Vec<T>,
    /// Second moment (Adam), square average (RMSProp).
    v: Vec<T>,
    /// [`Optimizer::step_outer`]'s transposed factors, kept from step to step.
    ut: Vec<T>,
}

impl<T: Float> Optimizer<T> {
    /// An optimizer with empty state (moments, momentum buffers, step count 0).
    pub fn new(config: OptimConfig) -> Self {
        Optimizer { config, step: 0, m: Vec::new(), v: Vec::new(), ut: Vec::new() }
    }

    /// The state a resumed run needs: the first and second moment buffers (empty before
    /// the first step).
    pub fn moments(&self) -> (&[T], &[T]) {
        (&self.m, &self.v)
    }

    /// Puts back the state of [`Optimizer::moments`] and the step count, as checkpointed.
    pub fn restore(&mut self, step: u64, m: Vec<T>, v: Vec<T>) {
        (self.step, self.m, self.v) = (step, m, v);
    }

    /// One update of `params` with `grads` (same layout).
    pub fn step(&mut self, params: &mut [T], grads: &[T]) {
        self.step_outer(params, grads, &[]);
    }

    /// [`Optimizer::step`] where the ranges of `outer` are not read from `grads` but formed
    /// from their factors a block of rows at a time, inside the update, so that the gradient
    /// tensor never goes through memory: aesop's `dW_hh` (batch 1, two steps) is a sum of two
    /// outer products, and forming it apart would write and then reread 4 MB per step. The
    /// ranges must not overlap; `grads` outside them is read as usual.
    pub fn step_outer(&mut self, params: &mut [T], grads: &[T], outer: &[OuterSum<T>]) {
        assert_eq!(params.len(), grads.len(), "params and grads differ in length");
        if self.m.len() != params.len() {
            self.m = vec![T::ZERO; params.len()];
            self.v = vec![T::ZERO; params.len()];
        }
        self.step += 1;
        let mut outer: Vec<&OuterSum<T>> = outer.iter().collect();
        outer.sort_by_key(|o| o.offset);
        let (c, step) = (&self.config, self.step);
        let (mut p, mut g, mut m, mut v) = (&mut params[..], grads, &mut self.m[..], &mut self.v[..]);
        let ut = &mut self.ut;
        let mut at = 0;
        for o in outer {
            o.check();
            assert!(
                o.offset >= at && o.offset + o.rows * o.cols <= at + p.len(),
                "outer-product range out of place"
            );
            let (dense, len) = (o.offset - at, o.rows * o.cols);
            let (pd, rest_p) = std::mem::take(&mut p).split_at_mut(dense);
            let (md, rest_m) = std::mem::take(&mut m).split_at_mut(dense);
            let (vd, rest_v) = std::mem::take(&mut v).split_at_mut(dense);
            apply(c, step, pd, &g[..dense], md, vd);
            let (po, rest_p) = rest_p.split_at_mut(len);
            let (mo, rest_m) = rest_m.split_at_mut(len);
            let (vo, rest_v) = rest_v.split_at_mut(len);
            update_outer(c, step, po, o, mo, vo, ut);
            (p, m, v, g) = (rest_p, rest_m, rest_v, &g[dense + len..]);
            at = o.offset + len;
        }
        apply(c, step, p, g, m, v);
    }
}

impl<T: Float> ApplyGrads<T> for Optimizer<T> {
    fn apply(&mut self, params: &mut [T], grads: &[T], outer: &[OuterSum<T>]) {
        self.step_outer(params, grads, outer);
    }
}

/// The update rule of `c.kind` on matching slices.
fn apply<T: Float>(c: &OptimConfig, step: u64, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    struct Dense<'a, T> {
        p: &'a mut [T],
        g: &'a [T],
        m: &'a mut [T],
        v: &'a mut [T],
    }
    impl<T: Float> WithRule<T> for Dense<'_, T> {
        fn run<R: Rule<T>>(self, r: R) {
            rule::dense(r, self.p, self.g, self.m, self.v)
        }
    }
    with_rule(c, step, Dense { p, g, m, v });
}

/// [`apply`] on the tensor of `o`, its gradient formed from the factors inside the update.
fn update_outer<T: Float>(
    c: &OptimConfig,
    step: u64,
    p: &mut [T],
    o: &OuterSum<T>,
    m: &mut [T],
    v: &mut [T],
    ut: &mut Vec<T>,
) {
    struct Outer<'a, 'o, T> {
        p: &'a mut [T],
        o: &'a OuterSum<'o, T>,
        m: &'a mut [T],
        v: &'a mut [T],
        ut: &'a mut Vec<T>,
    }
    impl<T: Float> WithRule<T> for Outer<'_, '_, T> {
        fn run<R: Rule<T>>(self, r: R) {
            rule::outer(r, self.p, self.o, self.m, self.v, self.ut)
        }
    }
    with_rule(c, step, Outer { p, o, m, v, ut });
}

/// Runs `f` with the update rule of `c.kind` at `step`.
fn with_rule<T: Float>(c: &OptimConfig, step: u64, f: impl WithRule<T>) {
    match c.kind {
        OptimizerKind::Sgd => sgd::with_rule(c, step, f),
        OptimizerKind::Adam | OptimizerKind::AdamW => adam::with_rule(c, step, f),
        OptimizerKind::RmsProp => rmsprop::with_rule(c, f),
    }
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

    /// Outer-product ranges with one, two and three factors (the two fused loops and the
    /// buffered one; one range large enough for parallel pieces) between dense ranges give
    /// bit for bit the update of the materialized gradient, for every kind.
    #[test]
    fn step_outer_matches_step_on_the_formed_gradient() {
        let shapes = [(7, 5, 2), (600, 250, 3), (9, 16, 1)];
        let mut offsets = Vec::new();
        let mut len = 11;
        for &(r, c, _) in &shapes {
            offsets.push(len);
            len += r * c + 4;
        }
        let val = |i: usize, s: f64| ((i as f64 * 0.37 + s).sin() * 0.5) as f32;
        let factors: Vec<(Vec<f32>, Vec<f32>)> = shapes
            .iter()
            .enumerate()
            .map(|(n, &(r, c, k))| {
                let s = 2.0 * n as f64;
                ((0..k * r).map(|i| val(i, s + 1.0)).collect(), (0..k * c).map(|i| val(i, s + 2.0)).collect())
            })
            .collect();
        let mut dense: Vec<f32> = (0..len).map(|i| val(i, 5.0)).collect();
        let mut grads = dense.clone();
        for ((&o, &(r, c, k)), (u, w)) in offsets.iter().zip(&shapes).zip(&factors) {
            for i in 0..r {
                for j in 0..c {
                    // The order the GEMMs sum in: two products and an add for K = 2, else
                    // q ascending, one fused rounding each.
                    let mut g = 0.0f32;
                    if k == 2 {
                        g = u[i] * w[j] + u[r + i] * w[c + j];
                    } else {
                        for q in 0..k {
                            g = u[q * r + i].mul_add(w[q * c + j], g);
                        }
                    }
                    dense[o + i * c + j] = g;
                    grads[o + i * c + j] = f32::NAN; // never read
                }
            }
        }
        // Out of order: step_outer sorts them.
        let outer: Vec<OuterSum<f32>> = [1, 0, 2]
            .iter()
            .map(|&n| {
                let (rows, cols, k) = shapes[n];
                OuterSum { offset: offsets[n], rows, cols, k, u: &factors[n].0, w: &factors[n].1 }
            })
            .collect();
        for kind in [OptimizerKind::Sgd, OptimizerKind::Adam, OptimizerKind::AdamW, OptimizerKind::RmsProp] {
            for momentum in [0.0, 0.5] {
                let mut cfg = OptimConfig::new(kind, 0.01);
                cfg.momentum = momentum;
                cfg.weight_decay = 0.1;
                let (mut a, mut b) = (Optimizer::<f32>::new(cfg.clone()), Optimizer::<f32>::new(cfg));
                let mut pa: Vec<f32> = (0..len).map(|i| val(i, 6.0)).collect();
                let mut pb = pa.clone();
                for _ in 0..3 {
                    a.step(&mut pa, &dense);
                    b.step_outer(&mut pb, &grads, &outer);
                }
                for (i, (x, y)) in pa.iter().zip(&pb).enumerate() {
                    assert_eq!(x.to_bits(), y.to_bits(), "{kind}, momentum {momentum}, at {i}: {x} vs {y}");
                }
            }
        }
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
