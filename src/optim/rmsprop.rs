//! RMSProp as `torch.optim.RMSprop` (not centered):
//! `g += wd p; v = alpha v + (1-alpha) g^2; d = g / (sqrt(v) + eps)`;
//! with momentum `buf = momentum buf + d; p -= lr buf`, else `p -= lr d`.
//! Note TensorFlow 1's RMSProp (the tutorials') differs: decay 0.9, eps 1e-10, v starts at 1.

use super::OptimConfig;
use crate::float::Float;

pub(super) fn step<T: Float>(c: &OptimConfig, params: &mut [T], grads: &[T], v: &mut [T], buf: &mut [T]) {
    let (lr, alpha, eps) = (T::from_f64(c.lr), T::from_f64(c.alpha), T::from_f64(c.eps));
    let (mu, wd) = (T::from_f64(c.momentum), T::from_f64(c.weight_decay));
    let one_alpha = T::ONE - alpha;
    for (((p, &g), v), b) in params.iter_mut().zip(grads).zip(v.iter_mut()).zip(buf.iter_mut()) {
        let g = g + wd * *p;
        *v = alpha * *v + one_alpha * g * g;
        let d = g / (v.sqrt() + eps);
        if c.momentum == 0.0 {
            *p -= lr * d;
        } else {
            *b = mu * *b + d;
            *p -= lr * *b;
        }
    }
}
