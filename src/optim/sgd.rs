//! SGD as `torch.optim.SGD` (no dampening, no Nesterov):
//! `g += wd p; buf = g (first step) or momentum buf + g; p -= lr buf`.

use super::{OptimConfig, par_chunks};
use crate::float::Float;
use crate::ops::lanes::{LANES, load, store};
use crate::ops::simd_fn;

/// `unused` is a buffer of the same length that SGD does not need (the chunking takes four).
pub(super) fn step<T: Float>(
    c: &OptimConfig,
    step: u64,
    params: &mut [T],
    grads: &[T],
    buf: &mut [T],
    unused: &mut [T],
) {
    let h = Hyper {
        lr: T::from_f64(c.lr),
        mu: T::from_f64(c.momentum),
        wd: T::from_f64(c.weight_decay),
        first: step == 1,
    };
    par_chunks(params, grads, buf, unused, |p, g, b, _| kernel(p, g, b, h));
}

#[derive(Clone, Copy)]
struct Hyper<T> {
    lr: T,
    mu: T,
    wd: T,
    first: bool,
}

simd_fn! {
    fn kernel<T: Float>(params: &mut [T], grads: &[T], buf: &mut [T], h: Hyper<T>) {
        let momentum = h.mu != T::ZERO;
        for j in (0..params.len()).step_by(LANES) {
            let (mut p, g) = (load(params, j), load(grads, j));
            let mut d = [T::ZERO; LANES];
            for l in 0..LANES {
                d[l] = g[l] + h.wd * p[l];
            }
            if momentum {
                let mut b = load(buf, j);
                for l in 0..LANES {
                    b[l] = if h.first { d[l] } else { h.mu * b[l] + d[l] };
                    d[l] = b[l];
                }
                store(buf, j, &b);
            }
            for l in 0..LANES {
                p[l] -= h.lr * d[l];
            }
            store(params, j, &p);
        }
    }
}
