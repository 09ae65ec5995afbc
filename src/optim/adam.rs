//! Adam and AdamW as `torch.optim.Adam`/`AdamW`:
//! `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;`
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`,
//! with `g += wd p` (Adam) or `p *= 1 - lr wd` first (AdamW).

use super::{OptimConfig, OptimizerKind};
use crate::float::Float;

pub(super) fn step<T: Float>(
    c: &OptimConfig,
    step: u64,
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    let t = step as i32;
    let bc1 = 1.0 - c.beta1.powi(t);
    let bc2_sqrt = T::from_f64((1.0 - c.beta2.powi(t)).sqrt());
    let step_size = T::from_f64(c.lr / bc1);
    let (b1, b2, eps) = (T::from_f64(c.beta1), T::from_f64(c.beta2), T::from_f64(c.eps));
    let (one_b1, one_b2) = (T::ONE - b1, T::ONE - b2);
    let adamw = c.kind == OptimizerKind::AdamW;
    let decay = T::from_f64(if adamw { 1.0 - c.lr * c.weight_decay } else { 1.0 });
    let wd = T::from_f64(if adamw { 0.0 } else { c.weight_decay });
    for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g + wd * *p;
        *p *= decay;
        *m = b1 * *m + one_b1 * g;
        *v = b2 * *v + one_b2 * g * g;
        *p -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
    }
}
