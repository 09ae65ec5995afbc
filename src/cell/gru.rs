//! GRU cell, as `torch.nn.GRU`: gate blocks in the order r, z, n, with the reset gate applied
//! to `W_hn h + b_hn` (not to h before the product).
//!
//! Forward, per step, from the two projections the layer computes,
//! `gx = x W_ih^T + b_ih` and `gh = h W_hh^T + b_hh` (each `[b, 3H]`):
//!
//! ```text
//! r = σ(gx_r + gh_r)    z = σ(gx_z + gh_z)    n = tanh(gx_n + r * gh_n)
//! h' = (1 - z) * n + z * h
//! ```
//!
//! Backward, with `dh' = dh_above + dh_rec`:
//!
//! ```text
//! da_n = dh' (1 - z) (1 - n^2)
//! da_z = dh' (h - n) z (1 - z)
//! da_r = da_n * gh_n * r (1 - r)
//! dgx  = [da_r, da_z, da_n]            -> dW_ih, db_ih, and dx
//! dgh  = [da_r, da_z, da_n * r]        -> dW_hh, db_hh
//! dh   = dgh W_hh + dh' * z             (GEMM by the layer, plus the direct term)
//! ```
//!
//! Cached for backward: activated r, z, n (overwritten in place by `dgx`) and `gh_n`.
//!
//! Worked by hand: H = 1, all projections 0, h = 1: r = z = 0.5, n = 0, h' = 0.5.

use crate::float::Float;
use crate::ops::lanes::{LANES, load, store};
use crate::ops::simd_fn;

simd_fn! {
    /// One step over `b` rows. `gx`: `[b, 3H]` input projection in, activated (r, z, n) out.
    /// `gh`: `[b, 3H]` hidden projection. `ghn` `[b, H]` receives `gh_n`; `h_prev`, `h`: `[b, H]`.
    pub fn forward_step<T: Float>(
        hidden: usize,
        gx: &mut [T],
        gh: &[T],
        ghn: &mut [T],
        h_prev: &[T],
        h: &mut [T],
    ) {
        let rows = gx.chunks_exact_mut(3 * hidden).zip(gh.chunks_exact(3 * hidden));
        let rows = rows.zip(ghn.chunks_exact_mut(hidden)).zip(h_prev.chunks_exact(hidden));
        for ((((gx, gh), ghn), hp), h) in rows.zip(h.chunks_exact_mut(hidden)) {
            let (xr, rest) = gx.split_at_mut(hidden);
            let (xz, xn) = rest.split_at_mut(hidden);
            let (hr, rest) = gh.split_at(hidden);
            let (hz, hn) = rest.split_at(hidden);
            for j in (0..hidden).step_by(LANES) {
                let (mut r, mut z, mut n) = (load(xr, j), load(xz, j), load(xn, j));
                let (hr, hz, hn, hp) = (load(hr, j), load(hz, j), load(hn, j), load(hp, j));
                let mut hv = [T::ZERO; LANES];
                for l in 0..LANES {
                    r[l] = (r[l] + hr[l]).sigmoid();
                    z[l] = (z[l] + hz[l]).sigmoid();
                    n[l] = (n[l] + r[l] * hn[l]).tanh();
                    hv[l] = (T::ONE - z[l]) * n[l] + z[l] * hp[l];
                }
                store(xr, j, &r);
                store(xz, j, &z);
                store(xn, j, &n);
                store(ghn, j, &hn);
                store(h, j, &hv);
            }
        }
    }
}

simd_fn! {
    /// Backward of one step. `gx`: activated gates in, `dgx` out. `dgh`: `[b, 3H]` out.
    /// `dh_rec`: `[b, H]`, dL/dh' from the recurrence in; out, the direct part `dh' * z` of
    /// dL/dh, to which the layer adds `dgh W_hh`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_step<T: Float>(
        hidden: usize,
        gx: &mut [T],
        dgh: &mut [T],
        ghn: &[T],
        h_prev: &[T],
        dh_above: &[T],
        dh_rec: &mut [T],
    ) {
        let rows = gx.chunks_exact_mut(3 * hidden).zip(dgh.chunks_exact_mut(3 * hidden));
        let rows = rows.zip(ghn.chunks_exact(hidden)).zip(h_prev.chunks_exact(hidden));
        let rows = rows.zip(dh_above.chunks_exact(hidden)).zip(dh_rec.chunks_exact_mut(hidden));
        for (((((gx, dgh), ghn), hp), da), dr) in rows {
            let (xr, rest) = gx.split_at_mut(hidden);
            let (xz, xn) = rest.split_at_mut(hidden);
            let (yr, rest) = dgh.split_at_mut(hidden);
            let (yz, yn) = rest.split_at_mut(hidden);
            for j in (0..hidden).step_by(LANES) {
                let (mut r, mut z, mut n) = (load(xr, j), load(xz, j), load(xn, j));
                let (gn, hpv, dav, mut drv) = (load(ghn, j), load(hp, j), load(da, j), load(dr, j));
                let mut ynv = [T::ZERO; LANES];
                for l in 0..LANES {
                    let (rv, zv, nv) = (r[l], z[l], n[l]);
                    let dh = dav[l] + drv[l];
                    let dan = dh * (T::ONE - zv) * (T::ONE - nv * nv);
                    let daz = dh * (hpv[l] - nv) * zv * (T::ONE - zv);
                    let dar = dan * gn[l] * rv * (T::ONE - rv);
                    r[l] = dar;
                    z[l] = daz;
                    n[l] = dan;
                    ynv[l] = dan * rv;
                    drv[l] = dh * zv;
                }
                store(xr, j, &r);
                store(xz, j, &z);
                store(xn, j, &n);
                store(yr, j, &r);
                store(yz, j, &z);
                store(yn, j, &ynv);
                store(dr, j, &drv);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_unit_by_hand() {
        let mut gx = [0.0f64; 3];
        let (mut ghn, mut h) = ([9.0], [0.0]);
        forward_step(1, &mut gx, &[0.0, 0.0, 0.0], &mut ghn, &[1.0], &mut h);
        assert_eq!(gx, [0.5, 0.5, 0.0]);
        assert_eq!((ghn, h), ([0.0], [0.5]));
        // dh' = 1: da_n = 0.5, da_z = (1 - 0) * 0.25, da_r = 0 (gh_n = 0), dh_direct = 0.5.
        let (mut dgh, mut dd) = ([0.0; 3], [0.0]);
        backward_step(1, &mut gx, &mut dgh, &ghn, &[1.0], &[1.0], &mut dd);
        assert_eq!(gx, [0.0, 0.25, 0.5]);
        assert_eq!(dgh, [0.0, 0.25, 0.25]);
        assert_eq!(dd, [0.5]);
    }
}
