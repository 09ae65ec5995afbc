//! The LSTM step kernels of [`super::lstm`] for f32, written with explicit AVX-512 / AVX2+FMA
//! vectors ([`crate::ops::vf32`]): same equations, same buffers, FMA and a refined reciprocal
//! instead of five divisions per cell. [`super::lstm::forward_step`] and `backward_step`
//! dispatch here for f32 on a CPU that has the features; their generic bodies stay the
//! reference these are tested against (below, on odd hidden sizes).
//!
//! A row of H elements runs in blocks of 16 lanes (AVX-512), then one block of 8 if at most 8
//! remain (H = 24: 16 + 8 rather than 16 + a half-empty 16), then a masked tail.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256, __m512};

use crate::ops::vf32::{self, V, Width};

/// Forward of one step on `rows` rows at vector width `width` (callers pass
/// [`vf32::width`]; tests pick one); see [`super::lstm::forward_step`] for the buffers.
/// Returns false (doing nothing) when the CPU has neither AVX-512 nor AVX2+FMA.
pub fn forward(
    width: Width,
    hidden: usize,
    gates: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    tanh_c: &mut [f32],
    h: &mut [f32],
) -> bool {
    let rows = h.len() / hidden.max(1);
    assert!(gates.len() == 4 * rows * hidden && c_prev.len() == rows * hidden);
    assert!(c.len() == rows * hidden && tanh_c.len() == rows * hidden && h.len() == rows * hidden);
    let bufs = Fwd {
        hidden,
        rows,
        g: gates.as_mut_ptr(),
        cp: c_prev.as_ptr(),
        c: c.as_mut_ptr(),
        tc: tanh_c.as_mut_ptr(),
        h: h.as_mut_ptr(),
    };
    // SAFETY: the lengths were checked above; the width is narrowed to the CPU's features.
    match width.min(vf32::width()) {
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { forward_avx512(&bufs) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { forward_avx2(&bufs) },
        _ => return false,
    }
    true
}

/// Backward of one step at vector width `width`; see [`super::lstm::backward_step`].
/// Returns false (doing nothing) without AVX-512 or AVX2+FMA.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    width: Width,
    hidden: usize,
    gates: &mut [f32],
    c_prev: &[f32],
    tanh_c: &[f32],
    dh_above: &[f32],
    dh_rec: &[f32],
    dc: &mut [f32],
) -> bool {
    let rows = dc.len() / hidden.max(1);
    assert!(gates.len() == 4 * rows * hidden && c_prev.len() == rows * hidden);
    assert!(tanh_c.len() == rows * hidden && dh_above.len() == rows * hidden);
    assert!(dh_rec.len() == rows * hidden && dc.len() == rows * hidden);
    let bufs = Bwd {
        hidden,
        rows,
        g: gates.as_mut_ptr(),
        cp: c_prev.as_ptr(),
        tc: tanh_c.as_ptr(),
        da: dh_above.as_ptr(),
        dr: dh_rec.as_ptr(),
        dc: dc.as_mut_ptr(),
    };
    // SAFETY: the lengths were checked above; the width is narrowed to the CPU's features.
    match width.min(vf32::width()) {
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { backward_avx512(&bufs) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { backward_avx2(&bufs) },
        _ => return false,
    }
    true
}

struct Fwd {
    hidden: usize,
    rows: usize,
    g: *mut f32,    // [b, 4H]
    cp: *const f32, // [b, H]
    c: *mut f32,    // [b, H]
    tc: *mut f32,   // [b, H]
    h: *mut f32,    // [b, H]
}

struct Bwd {
    hidden: usize,
    rows: usize,
    g: *mut f32,    // [b, 4H]
    cp: *const f32, // [b, H]
    tc: *const f32, // [b, H]
    da: *const f32, // [b, H]
    dr: *const f32, // [b, H]
    dc: *mut f32,   // [b, H]
}

/// Lanes `j..j+n` of row `r` (`n <= W::N`).
#[inline(always)]
unsafe fn fwd_block<W: V>(b: &Fwd, r: usize, j: usize, n: usize) {
    let hid = b.hidden;
    unsafe {
        let g = b.g.add(r * 4 * hid + j);
        let k = r * hid + j;
        let i = vf32::sigmoid(W::load(g, n));
        let f = vf32::sigmoid(W::load(g.add(hid), n));
        let gg = vf32::tanh(W::load(g.add(2 * hid), n));
        let o = vf32::sigmoid(W::load(g.add(3 * hid), n));
        let cn = f.fma(W::load(b.cp.add(k), n), i.mul(gg));
        let t = vf32::tanh(cn);
        i.store(g, n);
        f.store(g.add(hid), n);
        gg.store(g.add(2 * hid), n);
        o.store(g.add(3 * hid), n);
        cn.store(b.c.add(k), n);
        t.store(b.tc.add(k), n);
        o.mul(t).store(b.h.add(k), n);
    }
}

#[inline(always)]
unsafe fn bwd_block<W: V>(b: &Bwd, r: usize, j: usize, n: usize) {
    let hid = b.hidden;
    unsafe {
        let g = b.g.add(r * 4 * hid + j);
        let k = r * hid + j;
        let one = W::splat(1.0);
        let (i, f) = (W::load(g, n), W::load(g.add(hid), n));
        let (gg, o) = (W::load(g.add(2 * hid), n), W::load(g.add(3 * hid), n));
        let t = W::load(b.tc.add(k), n);
        let dh = W::load(b.da.add(k), n).add(W::load(b.dr.add(k), n));
        // dc_tot = dc' + dh o (1 - t^2)
        let dct = dh.mul(o).fma(t.fnma(t, one), W::load(b.dc.add(k), n));
        dct.mul(gg).mul(i.fnma(i, i)).store(g, n);
        dct.mul(W::load(b.cp.add(k), n)).mul(f.fnma(f, f)).store(g.add(hid), n);
        dct.mul(i).mul(gg.fnma(gg, one)).store(g.add(2 * hid), n);
        dh.mul(t).mul(o.fnma(o, o)).store(g.add(3 * hid), n);
        dct.mul(f).store(b.dc.add(k), n);
    }
}

/// Runs `block` over every row: 16-lane blocks, then an 8-lane block when at most 8 lanes
/// remain, else a masked 16-lane one.
macro_rules! rows_512 {
    ($b:expr, $block:ident) => {{
        let b = $b;
        let hid = b.hidden;
        for r in 0..b.rows {
            let mut j = 0;
            while j + 16 <= hid {
                $block::<__m512>(b, r, j, 16);
                j += 16;
            }
            let rest = hid - j;
            if rest == 8 {
                $block::<__m256>(b, r, j, 8);
            } else if rest > 0 {
                $block::<__m512>(b, r, j, rest);
            }
        }
    }};
}

macro_rules! rows_256 {
    ($b:expr, $block:ident) => {{
        let b = $b;
        for r in 0..b.rows {
            for j in (0..b.hidden).step_by(8) {
                $block::<__m256>(b, r, j, (b.hidden - j).min(8));
            }
        }
    }};
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn forward_avx512(b: &Fwd) {
    unsafe { rows_512!(b, fwd_block) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_avx2(b: &Fwd) {
    unsafe { rows_256!(b, fwd_block) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn backward_avx512(b: &Bwd) {
    unsafe { rows_512!(b, bwd_block) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_avx2(b: &Bwd) {
    unsafe { rows_256!(b, bwd_block) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::lstm;

    fn pseudo(n: usize, seed: u64, scale: f64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0) * scale
            })
            .collect()
    }

    fn f32s(v: &[f64]) -> Vec<f32> {
        v.iter().map(|&x| x as f32).collect()
    }

    fn close(what: &str, got: &[f32], want: &[f64]) {
        for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((g as f64 - w).abs() <= 1e-6 * w.abs().max(1.0), "{what}[{k}]: {g} vs {w}");
        }
    }

    /// The SIMD kernels agree with the generic reference in f64 on odd shapes.
    #[test]
    fn simd_steps_match_the_f64_reference() {
        for w in vf32::test_widths() {
            check_width(w);
        }
    }

    fn check_width(w: Width) {
        for &(rows, hid) in &[(1, 1), (3, 7), (2, 8), (3, 16), (5, 24), (2, 33), (1, 40)] {
            let n = rows * hid;
            let gates = pseudo(4 * n, 1, 6.0);
            let cp = pseudo(n, 2, 2.0);
            let (mut g64, mut c64, mut t64, mut h64) =
                (gates.clone(), vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            lstm::forward_step(hid, &mut g64, &cp, &mut c64, &mut t64, &mut h64);
            let (mut g32, mut c32, mut t32, mut h32) =
                (f32s(&gates), vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            assert!(forward(w, hid, &mut g32, &f32s(&cp), &mut c32, &mut t32, &mut h32));
            let tag = format!("{w:?} rows={rows} H={hid}");
            close(&format!("{tag} gates"), &g32, &g64);
            close(&format!("{tag} c"), &c32, &c64);
            close(&format!("{tag} tanh_c"), &t32, &t64);
            close(&format!("{tag} h"), &h32, &h64);

            let (da, dr, dc) = (pseudo(n, 3, 1.0), pseudo(n, 4, 1.0), pseudo(n, 5, 1.0));
            let (mut dc64, mut dc32) = (dc.clone(), f32s(&dc));
            lstm::backward_step(hid, &mut g64, &cp, &t64, &da, &dr, &mut dc64);
            assert!(backward(w, hid, &mut g32, &f32s(&cp), &t32, &f32s(&da), &f32s(&dr), &mut dc32));
            close(&format!("{tag} da"), &g32, &g64);
            close(&format!("{tag} dc"), &dc32, &dc64);
        }
    }

    const GUARD: f32 = 12345.0;

    /// `v` followed by `GUARD`s (the kernel gets `&buf[..v.len()]`).
    fn guarded(v: &[f32]) -> Vec<f32> {
        v.iter().copied().chain([GUARD; 17]).collect()
    }

    fn guards_kept(what: &str, buf: &[f32], len: usize) {
        assert!(buf[len..].iter().all(|&x| x == GUARD), "{what}: wrote past the end");
    }

    /// Every H in 1..=40 and rows 1..=9 at every width, against the generic step in f32 and
    /// f64: read-only inputs exactly as long as needed (at the end of their allocations),
    /// outputs followed by guard values that must survive.
    #[test]
    fn simd_steps_property_all_hidden_sizes() {
        for w in vf32::test_widths() {
            for hid in 1..=40 {
                for rows in 1..=9 {
                    let n = rows * hid;
                    let seed = (hid * 100 + rows) as u64;
                    let gates = pseudo(4 * n, seed, 6.0);
                    let cp = pseudo(n, seed + 1, 2.0);
                    let tag = format!("{w:?} rows={rows} H={hid}");

                    let (mut g64, mut c64, mut t64, mut h64) =
                        (gates.clone(), vec![0.0; n], vec![0.0; n], vec![0.0; n]);
                    lstm::forward_step_ref(hid, &mut g64, &cp, &mut c64, &mut t64, &mut h64);
                    let mut g32 = guarded(&f32s(&gates));
                    let nan = guarded(&vec![f32::NAN; n]);
                    let (mut c32, mut t32, mut h32) = (nan.clone(), nan.clone(), nan);
                    let cp32 = f32s(&cp);
                    assert!(forward(
                        w,
                        hid,
                        &mut g32[..4 * n],
                        &cp32,
                        &mut c32[..n],
                        &mut t32[..n],
                        &mut h32[..n]
                    ));
                    guards_kept(&format!("{tag} gates"), &g32, 4 * n);
                    for (name, v) in [("c", &c32), ("tanh_c", &t32), ("h", &h32)] {
                        guards_kept(&format!("{tag} {name}"), v, n);
                    }
                    close(&format!("{tag} gates"), &g32[..4 * n], &g64);
                    close(&format!("{tag} c"), &c32[..n], &c64);
                    close(&format!("{tag} tanh_c"), &t32[..n], &t64);
                    close(&format!("{tag} h"), &h32[..n], &h64);

                    let (da, dr, dc) =
                        (pseudo(n, seed + 2, 1.0), pseudo(n, seed + 3, 1.0), pseudo(n, seed + 4, 1.0));
                    let mut dc64 = dc.clone();
                    lstm::backward_step_ref(hid, &mut g64, &cp, &t64, &da, &dr, &mut dc64);
                    let mut dc32 = guarded(&f32s(&dc));
                    let (tc32, da32, dr32) = (t32[..n].to_vec(), f32s(&da), f32s(&dr));
                    assert!(backward(w, hid, &mut g32[..4 * n], &cp32, &tc32, &da32, &dr32, &mut dc32[..n]));
                    guards_kept(&format!("{tag} da"), &g32, 4 * n);
                    guards_kept(&format!("{tag} dc"), &dc32, n);
                    close(&format!("{tag} da"), &g32[..4 * n], &g64);
                    close(&format!("{tag} dc"), &dc32[..n], &dc64);

                    // And against the generic f32 step (the fallback on CPUs without AVX2).
                    let (mut gr, mut cr, mut tr, mut hr) =
                        (f32s(&gates), vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
                    lstm::forward_step_ref(hid, &mut gr, &cp32, &mut cr, &mut tr, &mut hr);
                    let (mut gs, mut cs, mut ts, mut hs) =
                        (f32s(&gates), vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
                    assert!(forward(w, hid, &mut gs, &cp32, &mut cs, &mut ts, &mut hs));
                    for (name, x, y) in
                        [("gates", &gs, &gr), ("c", &cs, &cr), ("tanh_c", &ts, &tr), ("h", &hs, &hr)]
                    {
                        for (k, (a, b)) in x.iter().zip(y.iter()).enumerate() {
                            assert!(
                                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                                "{tag} f32 {name}[{k}]: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
    }
}
