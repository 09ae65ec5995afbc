//! SGD as `torch.optim.SGD` (no dampening, no Nesterov):
//! `g += wd p; buf = g (first step) or momentum buf + g; p -= lr buf`.
//!
//! State: `m` the momentum buffer.

use super::OptimConfig;
use super::rule::{Rule, WithRule};
use crate::float::Float;

pub(super) fn with_rule<T: Float>(c: &OptimConfig, step: u64, f: impl WithRule<T>) {
    let h = Hyper {
        lr: T::from_f64(c.lr),
        mu: T::from_f64(c.momentum),
        wd: T::from_f64(c.weight_decay),
        first: step == 1,
    };
    if c.momentum == 0.0 { f.run(Plain(h)) } else { f.run(Momentum(h)) }
}

#[derive(Clone, Copy)]
struct Hyper<T> {
    lr: T,
    mu: T,
    wd: T,
    first: bool,
}

#[derive(Clone, Copy)]
struct Plain<T>(Hyper<T>);

impl<T: Float> Rule<T> for Plain<T> {
    #[inline(always)]
    fn update(self, p: &mut T, g: T, _: &mut T, _: &mut T) {
        *p -= self.0.lr * (g + self.0.wd * *p);
    }
}

#[derive(Clone, Copy)]
struct Momentum<T>(Hyper<T>);

impl<T: Float> Rule<T> for Momentum<T> {
    #[inline(always)]
    fn update(self, p: &mut T, g: T, buf: &mut T, _: &mut T) {
        let d = g + self.0.wd * *p;
        *buf = if self.0.first { d } else { self.0.mu * *buf + d };
        *p -= self.0.lr * *buf;
    }
}
