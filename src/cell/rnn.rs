//! Elman RNN cell with tanh, as `torch.nn.RNN(nonlinearity="tanh")`.
//!
//! Forward, per step, rows of a `[b, H]` block:
//!
//! ```text
//! a  = x W_ih^T + b_ih + h W_hh^T + b_hh      [b, H]   (computed by the layer's GEMMs)
//! h' = tanh(a)                                 [b, H]
//! ```
//!
//! Backward, with `dh' = dh_above + dh_rec` (loss/next layer plus the recurrence):
//!
//! ```text
//! da = dh' * (1 - h'^2)          -> both dW_ih/db_ih and dW_hh/db_hh paths
//! dh = da W_hh                    (the layer's GEMM)
//! ```
//!
//! Cached for backward: `h'` only (the layer keeps all of them anyway).
//!
//! Worked by hand: H = 1, a = 0.5 gives h' = tanh(0.5) = 0.46211716; with dh' = 1,
//! da = 1 - 0.46211716^2 = 0.78644773.

use crate::float::Float;
use crate::ops::lanes::{LANES, load, store};
use crate::ops::simd_fn;

simd_fn! {
    /// `h = tanh(pre)` over a `[b, H]` block.
    pub fn forward_step<T: Float>(pre: &[T], h: &mut [T]) {
        for j in (0..h.len()).step_by(LANES) {
            let mut a = load(pre, j);
            for x in a.iter_mut() {
                *x = x.tanh();
            }
            store(h, j, &a);
        }
    }
}

simd_fn! {
    /// `dpre = (dh_above + dh_rec) * (1 - h^2)`; `dpre` may be the buffer that held `pre`.
    pub fn backward_step<T: Float>(h: &[T], dh_above: &[T], dh_rec: &[T], dpre: &mut [T]) {
        for j in (0..dpre.len()).step_by(LANES) {
            let (h, da, dr) = (load(h, j), load(dh_above, j), load(dh_rec, j));
            let mut d = [T::ZERO; LANES];
            for l in 0..LANES {
                d[l] = (da[l] + dr[l]) * (T::ONE - h[l] * h[l]);
            }
            store(dpre, j, &d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_unit_by_hand() {
        let mut h = [0.0f64];
        forward_step(&[0.5], &mut h);
        assert!((h[0] - 0.46211715726000974).abs() < 1e-15);
        let mut d = [0.0];
        backward_step(&h, &[0.25], &[0.75], &mut d);
        assert!((d[0] - 0.7864477329659274).abs() < 1e-15);
    }
}
