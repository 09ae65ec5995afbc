//! RMSProp as `torch.optim.RMSprop` (not centered):
//! `g += wd p; v = alpha v + (1-alpha) g^2; d = g / (sqrt(v) + eps)`;
//! with momentum `buf = momentum buf + d; p -= lr buf`, else `p -= lr d`.
//! Note TensorFlow 1's RMSProp (the tutorials') differs: decay 0.9, eps 1e-10, v starts at 1.

use super::{OptimConfig, par_chunks};
use crate::float::Float;
use crate::ops::simd_fn;

pub(super) fn step<T: Float>(c: &OptimConfig, params: &mut [T], grads: &[T], v: &mut [T], buf: &mut [T]) {
    let h = Hyper {
        lr: T::from_f64(c.lr),
        alpha: T::from_f64(c.alpha),
        eps: T::from_f64(c.eps),
        mu: T::from_f64(c.momentum),
        wd: T::from_f64(c.weight_decay),
    };
    par_chunks(params, grads, v, buf, |p, g, v, b| kernel(p, g, v, b, h));
}

#[derive(Clone, Copy)]
struct Hyper<T> {
    lr: T,
    alpha: T,
    eps: T,
    mu: T,
    wd: T,
}

simd_fn! {
    fn kernel<T: Float>(params: &mut [T], grads: &[T], v: &mut [T], buf: &mut [T], h: Hyper<T>) {
        let one_alpha = T::ONE - h.alpha;
        if h.mu == T::ZERO {
            for ((p, &g), v) in params.iter_mut().zip(grads).zip(v.iter_mut()) {
                let g = g + h.wd * *p;
                *v = h.alpha * *v + one_alpha * g * g;
                *p -= h.lr * g / (v.sqrt() + h.eps);
            }
        } else {
            for (((p, &g), v), b) in params.iter_mut().zip(grads).zip(v.iter_mut()).zip(buf.iter_mut()) {
                let g = g + h.wd * *p;
                *v = h.alpha * *v + one_alpha * g * g;
                *b = h.mu * *b + g / (v.sqrt() + h.eps);
                *p -= h.lr * *b;
            }
        }
    }
}
