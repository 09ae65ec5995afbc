//! SGD as `torch.optim.SGD` (no dampening, no Nesterov):
//! `g += wd p; buf = g (first step) or momentum buf + g; p -= lr buf`.

use super::OptimConfig;
use crate::float::Float;

pub(super) fn step<T: Float>(c: &OptimConfig, step: u64, params: &mut [T], grads: &[T], buf: &mut [T]) {
    let (lr, mu, wd) = (T::from_f64(c.lr), T::from_f64(c.momentum), T::from_f64(c.weight_decay));
    for ((p, &g), b) in params.iter_mut().zip(grads).zip(buf.iter_mut()) {
        let g = g + wd * *p;
        let d = if c.momentum == 0.0 {
            g
        } else {
            *b = if step == 1 { g } else { mu * *b + g };
            *b
        };
        *p -= lr * d;
    }
}
