//! Adam and AdamW as `torch.optim.Adam`/`AdamW`:
//! `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;`
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`,
//! with `g += wd p` (Adam) or `p *= 1 - lr wd` first (AdamW).

use super::rule::{Rule, WithRule};
use super::{OptimConfig, OptimizerKind};
use crate::float::Float;

pub(super) fn with_rule<T: Float>(c: &OptimConfig, step: u64, f: impl WithRule<T>) {
    let t = step as i32;
    let adamw = c.kind == OptimizerKind::AdamW;
    f.run(Adam {
        b1: T::from_f64(c.beta1),
        b2: T::from_f64(c.beta2),
        // 1 - beta in f64, then rounded: torch computes it in Python and passes it on.
        one_b1: T::from_f64(1.0 - c.beta1),
        one_b2: T::from_f64(1.0 - c.beta2),
        eps: T::from_f64(c.eps),
        step_size: T::from_f64(c.lr / (1.0 - c.beta1.powi(t))),
        bc2_sqrt: T::from_f64((1.0 - c.beta2.powi(t)).sqrt()),
        decay: T::from_f64(if adamw { 1.0 - c.lr * c.weight_decay } else { 1.0 }),
        wd: T::from_f64(if adamw { 0.0 } else { c.weight_decay }),
    })
}

#[derive(Clone, Copy)]
struct Adam<T> {
    b1: T,
    b2: T,
    one_b1: T,
    one_b2: T,
    eps: T,
    step_size: T,
    bc2_sqrt: T,
    decay: T,
    wd: T,
}

impl<T: Float> Rule<T> for Adam<T> {
    #[inline(always)]
    fn update(self, p: &mut T, g: T, m: &mut T, v: &mut T) {
        let g = g + self.wd * *p;
        *p *= self.decay;
        *m = self.b1 * *m + self.one_b1 * g;
        *v = self.b2 * *v + self.one_b2 * g * g;
        *p -= self.step_size * *m / (v.sqrt() / self.bc2_sqrt + self.eps);
    }
}
