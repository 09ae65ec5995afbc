//! RMSProp as `torch.optim.RMSprop` (not centered):
//! `g += wd p; v = alpha v + (1-alpha) g^2; d = g / (sqrt(v) + eps)`;
//! with momentum `buf = momentum buf + d; p -= lr buf`, else `p -= lr d`.
//! Note TensorFlow 1's RMSProp (the tutorials') differs: decay 0.9, eps 1e-10, v starts at 1.
//!
//! State: `v` the square averages, `m` the momentum buffer.

use super::OptimConfig;
use super::rule::{Rule, WithRule};
use crate::float::Float;

pub(super) fn with_rule<T: Float>(c: &OptimConfig, f: impl WithRule<T>) {
    let h = Hyper {
        lr: T::from_f64(c.lr),
        alpha: T::from_f64(c.alpha),
        // 1 - alpha in f64, then rounded, as torch passes `value=1 - alpha` from Python.
        one_alpha: T::from_f64(1.0 - c.alpha),
        eps: T::from_f64(c.eps),
        mu: T::from_f64(c.momentum),
        wd: T::from_f64(c.weight_decay),
    };
    if c.momentum == 0.0 { f.run(Plain(h)) } else { f.run(Momentum(h)) }
}

#[derive(Clone, Copy)]
struct Hyper<T> {
    lr: T,
    alpha: T,
    one_alpha: T,
    eps: T,
    mu: T,
    wd: T,
}

impl<T: Float> Hyper<T> {
    /// The new square average; returns the decayed gradient and `sqrt(v) + eps`.
    #[inline(always)]
    fn square_avg(self, p: T, g: T, v: &mut T) -> (T, T) {
        let g = g + self.wd * p;
        *v = self.alpha * *v + self.one_alpha * g * g;
        (g, v.sqrt() + self.eps)
    }
}

#[derive(Clone, Copy)]
struct Plain<T>(Hyper<T>);

impl<T: Float> Rule<T> for Plain<T> {
    #[inline(always)]
    fn update(self, p: &mut T, g: T, _: &mut T, v: &mut T) {
        // torch: param.addcdiv_(grad, avg, value=-lr), i.e. (lr g) / avg.
        let (g, avg) = self.0.square_avg(*p, g, v);
        *p -= self.0.lr * g / avg;
    }
}

#[derive(Clone, Copy)]
struct Momentum<T>(Hyper<T>);

impl<T: Float> Rule<T> for Momentum<T> {
    #[inline(always)]
    fn update(self, p: &mut T, g: T, buf: &mut T, v: &mut T) {
        let (g, avg) = self.0.square_avg(*p, g, v);
        *buf = self.0.mu * *buf + g / avg;
        *p -= self.0.lr * *buf;
    }
}
