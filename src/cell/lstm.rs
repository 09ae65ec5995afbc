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

use crate::cell::lstm_simd;
use crate::float::Float;
use crate::ops::lanes::{LANES, load, store};
use crate::ops::simd_fn;
use crate::ops::vf32::{self, as_f32, as_f32_ref};

/// One step over `b` rows. `gates`: `[b, 4H]` preactivations in, activated gates out.
/// `c_prev`, `c`, `tanh_c`, `h`: `[b, H]`. f32 runs the explicit SIMD kernel of
/// [`lstm_simd`] when the CPU has it; [`forward_step_ref`] is the reference.
pub fn forward_step<T: Float>(
    hidden: usize,
    gates: &mut [T],
    c_prev: &[T],
    c: &mut [T],
    tanh_c: &mut [T],
    h: &mut [T],
) {
    if let (Some(g), Some(cn), Some(tc), Some(hn)) = (as_f32(gates), as_f32(c), as_f32(tanh_c), as_f32(h))
        && lstm_simd::forward(vf32::width(), hidden, g, as_f32_ref(c_prev), cn, tc, hn)
    {
        return;
    }
    forward_step_ref(hidden, gates, c_prev, c, tanh_c, h)
}

/// Backward of one step. `gates`: activated gates in, `da` (preactivation gradients) out.
/// `dc`: `[b, H]`, dL/dc' in, dL/dc (previous step) out. f32 runs [`lstm_simd`] when it can;
/// [`backward_step_ref`] is the reference.
#[allow(clippy::too_many_arguments)]
pub fn backward_step<T: Float>(
    hidden: usize,
    gates: &mut [T],
    c_prev: &[T],
    tanh_c: &[T],
    dh_above: &[T],
    dh_rec: &[T],
    dc: &mut [T],
) {
    if let (Some(g), Some(d)) = (as_f32(gates), as_f32(dc)) {
        let (cp, tc, da, dr) =
            (as_f32_ref(c_prev), as_f32_ref(tanh_c), as_f32_ref(dh_above), as_f32_ref(dh_rec));
        if lstm_simd::backward(vf32::width(), hidden, g, cp, tc, da, dr, d) {
            return;
        }
    }
    backward_step_ref(hidden, gates, c_prev, tanh_c, dh_above, dh_rec, dc)
}

simd_fn! {
    /// The generic [`forward_step`] (f64, and f32 on CPUs without AVX2+FMA).
    pub fn forward_step_ref<T: Float>(
        hidden: usize,
        gates: &mut [T],
        c_prev: &[T],
        c: &mut [T],
        tanh_c: &mut [T],
        h: &mut [T],
    ) {
        let rows = gates.chunks_exact_mut(4 * hidden).zip(c_prev.chunks_exact(hidden));
        let rows = rows.zip(c.chunks_exact_mut(hidden)).zip(tanh_c.chunks_exact_mut(hidden));
        for ((((g, cp), c), tc), h) in rows.zip(h.chunks_exact_mut(hidden)) {
            let (gi, rest) = g.split_at_mut(hidden);
            let (gf, rest) = rest.split_at_mut(hidden);
            let (gg, go) = rest.split_at_mut(hidden);
            for j in (0..hidden).step_by(LANES) {
                let (mut i, mut f, mut gv, mut o) = (load(gi, j), load(gf, j), load(gg, j), load(go, j));
                let cp = load(cp, j);
                let (mut cn, mut t, mut hn) = ([T::ZERO; LANES], [T::ZERO; LANES], [T::ZERO; LANES]);
                for l in 0..LANES {
                    i[l] = i[l].sigmoid();
                    f[l] = f[l].sigmoid();
                    gv[l] = gv[l].tanh();
                    o[l] = o[l].sigmoid();
                    cn[l] = f[l] * cp[l] + i[l] * gv[l];
                    t[l] = cn[l].tanh();
                    hn[l] = o[l] * t[l];
                }
                store(gi, j, &i);
                store(gf, j, &f);
                store(gg, j, &gv);
                store(go, j, &o);
                store(c, j, &cn);
                store(tc, j, &t);
                store(h, j, &hn);
            }
        }
    }
}

simd_fn! {
    /// The generic [`backward_step`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_step_ref<T: Float>(
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
            for j in (0..hidden).step_by(LANES) {
                let (mut i, mut f, mut gv, mut o) = (load(gi, j), load(gf, j), load(gg, j), load(go, j));
                let (cp, t, da, dr, mut dcv) = (load(cp, j), load(tc, j), load(da, j), load(dr, j), load(dc, j));
                for l in 0..LANES {
                    let dh = da[l] + dr[l];
                    let dct = dcv[l] + dh * o[l] * (T::ONE - t[l] * t[l]);
                    let (iv, fv, gl, ov) = (i[l], f[l], gv[l], o[l]);
                    i[l] = dct * gl * iv * (T::ONE - iv);
                    f[l] = dct * cp[l] * fv * (T::ONE - fv);
                    gv[l] = dct * iv * (T::ONE - gl * gl);
                    o[l] = dh * t[l] * ov * (T::ONE - ov);
                    dcv[l] = dct * fv;
                }
                store(gi, j, &i);
                store(gf, j, &f);
                store(gg, j, &gv);
                store(go, j, &o);
                store(dc, j, &dcv);
            }
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
