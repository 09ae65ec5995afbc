//! Adam and AdamW as `torch.optim.Adam`/`AdamW`:
//! `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;`
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`,
//! with `g += wd p` (Adam) or `p *= 1 - lr wd` first (AdamW).

use super::{OptimConfig, OptimizerKind, par_chunks};
use crate::float::Float;
use crate::ops::lanes::{LANES, load, store};
use crate::ops::simd_fn;

pub(super) fn step<T: Float>(
    c: &OptimConfig,
    step: u64,
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    let t = step as i32;
    let bc2_sqrt = T::from_f64((1.0 - c.beta2.powi(t)).sqrt());
    let step_size = T::from_f64(c.lr / (1.0 - c.beta1.powi(t)));
    let adamw = c.kind == OptimizerKind::AdamW;
    let h = Hyper {
        b1: T::from_f64(c.beta1),
        b2: T::from_f64(c.beta2),
        eps: T::from_f64(c.eps),
        step_size,
        bc2_sqrt,
        decay: T::from_f64(if adamw { 1.0 - c.lr * c.weight_decay } else { 1.0 }),
        wd: T::from_f64(if adamw { 0.0 } else { c.weight_decay }),
    };
    par_chunks(params, grads, m, v, |p, g, m, v| kernel(p, g, m, v, h));
}

#[derive(Clone, Copy)]
struct Hyper<T> {
    b1: T,
    b2: T,
    eps: T,
    step_size: T,
    bc2_sqrt: T,
    decay: T,
    wd: T,
}

simd_fn! {
    fn kernel<T: Float>(params: &mut [T], grads: &[T], m: &mut [T], v: &mut [T], h: Hyper<T>) {
        let (one_b1, one_b2) = (T::ONE - h.b1, T::ONE - h.b2);
        for j in (0..params.len()).step_by(LANES) {
            let (mut p, g, mut mv, mut vv) = (load(params, j), load(grads, j), load(m, j), load(v, j));
            for l in 0..LANES {
                let g = g[l] + h.wd * p[l];
                p[l] *= h.decay;
                mv[l] = h.b1 * mv[l] + one_b1 * g;
                vv[l] = h.b2 * vv[l] + one_b2 * g * g;
                p[l] -= h.step_size * mv[l] / (vv[l].sqrt() / h.bc2_sqrt + h.eps);
            }
            store(params, j, &p);
            store(m, j, &mv);
            store(v, j, &vv);
        }
    }
}
