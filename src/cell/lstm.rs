//! LSTM cell, as `torch.nn.LSTM`: gate blocks in the order i, f, g, o.
//!
//! Forward, per step, on a `[b, 4H]` block of preactivations
//! `a = x W_ih^T + b_ih + h W_hh^T + b_hh` (computed by the layer's GEMMs):
//!
//! ```text
//! i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)      each [b, H]
//! c' = f * c + i * g                                         [b, H]
//! h' = o * tanh(c')                                          [b, H]
//! ```
//!
//! Backward, with `dh' = dh_above + dh_rec` and `dc'` arriving from step t+1:
//!
//! ```text
//! dc_tot = dc' + dh' * o * (1 - tanh(c')^2)
//! da_i = dc_tot * g * i(1-i)      da_f = dc_tot * c * f(1-f)
//! da_g = dc_tot * i * (1-g^2)     da_o = dh' * tanh(c') * o(1-o)
//! dc   = dc_tot * f                          (to step t-1)
//! dh   = da W_hh                             (the layer's GEMM)
//! ```
//!
//! Cached for backward: the activated gates (overwritten in place by `da`), `c'` (the layer's
//! `[T+1, b, H]` cell-state buffer, so `c` of step t is slot t) and `tanh(c')`, so backward
//! evaluates no transcendental functions.
//!
//! Worked by hand: H = 1, all preactivations 0, c = 1: i = f = o = 0.5, g = 0, so
//! c' = 0.5 and h' = 0.5 tanh(0.5) = 0.23105858.

use crate::float::Float;

/// One step over `b` rows. `gates`: `[b, 4H]` preactivations in, activated gates out.
/// `c_prev`, `c`, `tanh_c`, `h`: `[b, H]`.
#[inline(always)]
pub fn forward_step<T: Float>(
    hidden: usize,
    gates: &mut [T],
    c_prev: &[T],
    c: &mut [T],
    tanh_c: &mut [T],
    h: &mut [T],
) {
    let rows = gates.chunks_exact_mut(4 * hidden);
    let rows = rows.zip(c_prev.chunks_exact(hidden)).zip(c.chunks_exact_mut(hidden));
    let rows = rows.zip(tanh_c.chunks_exact_mut(hidden)).zip(h.chunks_exact_mut(hidden));
    for ((((g, cp), c), tc), h) in rows {
        let (gi, rest) = g.split_at_mut(hidden);
        let (gf, rest) = rest.split_at_mut(hidden);
        let (gg, go) = rest.split_at_mut(hidden);
        for j in 0..hidden {
            let i = gi[j].sigmoid();
            let f = gf[j].sigmoid();
            let gv = gg[j].tanh();
            let o = go[j].sigmoid();
            let cn = f * cp[j] + i * gv;
            let t = cn.tanh();
            gi[j] = i;
            gf[j] = f;
            gg[j] = gv;
            go[j] = o;
            c[j] = cn;
            tc[j] = t;
            h[j] = o * t;
        }
    }
}

/// Backward of one step. `gates`: activated gates in, `da` (preactivation gradients) out.
/// `dc`: `[b, H]`, dL/dc' in, dL/dc (previous step) out.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn backward_step<T: Float>(
    hidden: usize,
    gates: &mut [T],
    c_prev: &[T],
    tanh_c: &[T],
    dh_above: &[T],
    dh_rec: &[T],
    dc: &mut [T],
) {
    let rows = gates.chunks_exact_mut(4 * hidden).zip(c_prev.chunks_exact(hidden));
    let rows = rows.zip(tanh_c.chunks_exact(hidden)).zip(dh_above.chunks_exact(hidden));
    let rows = rows.zip(dh_rec.chunks_exact(hidden)).zip(dc.chunks_exact_mut(hidden));
    for (((((g, cp), tc), da), dr), dc) in rows {
        let (gi, rest) = g.split_at_mut(hidden);
        let (gf, rest) = rest.split_at_mut(hidden);
        let (gg, go) = rest.split_at_mut(hidden);
        for j in 0..hidden {
            let (i, f, gv, o) = (gi[j], gf[j], gg[j], go[j]);
            let dh = da[j] + dr[j];
            let t = tc[j];
            let dct = dc[j] + dh * o * (T::ONE - t * t);
            gi[j] = dct * gv * i * (T::ONE - i);
            gf[j] = dct * cp[j] * f * (T::ONE - f);
            gg[j] = dct * i * (T::ONE - gv * gv);
            go[j] = dh * t * o * (T::ONE - o);
            dc[j] = dct * f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_unit_by_hand() {
        let mut gates = [0.0f64; 4];
        let (mut c, mut tc, mut h) = ([0.0], [0.0], [0.0]);
        forward_step(1, &mut gates, &[1.0], &mut c, &mut tc, &mut h);
        assert_eq!(gates, [0.5, 0.5, 0.0, 0.5]);
        assert_eq!(c, [0.5]);
        assert!((h[0] - 0.5 * 0.5f64.tanh()).abs() < 1e-16);
        // dh' = 1, dc' = 0: dc_tot = o (1 - tanh^2 c') = 0.5 (1 - t^2)
        let t = 0.5f64.tanh();
        let mut dc = [0.0];
        backward_step(1, &mut gates, &[1.0], &tc, &[1.0], &[0.0], &mut dc);
        let dct = 0.5 * (1.0 - t * t);
        let want = [0.0, dct * 1.0 * 0.25, dct * 0.5, t * 0.25];
        for (g, w) in gates.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{gates:?} vs {want:?}");
        }
        assert!((dc[0] - dct * 0.5).abs() < 1e-15);
    }
}
