//! Tests of the f32 LSTM step kernels: against the generic f64 step on odd shapes, and bit for
//! bit against the per-row kernels they replaced, at both vector widths.

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
    let shapes = [(1, 1), (3, 7), (2, 8), (3, 16), (5, 24), (2, 33), (1, 40)];
    let more = [(1, 20), (2, 20), (3, 20), (7, 20), (33, 20), (1, 24), (2, 24), (3, 24), (33, 24)];
    for &(rows, hid) in shapes.iter().chain(&more) {
        let n = rows * hid;
        let gates = pseudo(4 * n, 1, 6.0);
        let cp = pseudo(n, 2, 2.0);
        let (mut g64, mut c64, mut t64, mut h64) = (gates.clone(), vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        lstm::forward_step(hid, &mut g64, &cp, &mut c64, &mut t64, &mut h64);
        let (mut g32, mut c32, mut t32, mut h32) = (f32s(&gates), vec![0.0; n], vec![0.0; n], vec![0.0; n]);
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

/// The kernels before the flat iteration (commit e95b5e8), copied: each row on its own, in
/// blocks at fixed offsets. `uniform` runs every block at width W; otherwise AVX-512 ran a
/// tail of exactly 8 lanes as an AVX2 vector, as before (and still for H = 8).
#[cfg(target_arch = "x86_64")]
mod old {
    use super::super::{Bwd, Fwd, V, vf32};
    use std::arch::x86_64::{__m256, __m512};

    #[inline(always)]
    unsafe fn fwd_block<W: V>(b: &Fwd, r: usize, j: usize, n: usize) {
        let hid = b.hidden;
        // SAFETY: row r's cells j..j+n, inside the buffers.
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
        // SAFETY: row r's cells j..j+n, inside the buffers.
        unsafe {
            let g = b.g.add(r * 4 * hid + j);
            let k = r * hid + j;
            let one = W::splat(1.0);
            let (i, f) = (W::load(g, n), W::load(g.add(hid), n));
            let (gg, o) = (W::load(g.add(2 * hid), n), W::load(g.add(3 * hid), n));
            let t = W::load(b.tc.add(k), n);
            let dh = W::load(b.da.add(k), n).add(W::load(b.dr.add(k), n));
            let dct = dh.mul(o).fma(t.fnma(t, one), W::load(b.dc.add(k), n));
            dct.mul(gg).mul(i.fnma(i, i)).store(g, n);
            dct.mul(W::load(b.cp.add(k), n)).mul(f.fnma(f, f)).store(g.add(hid), n);
            dct.mul(i).mul(gg.fnma(gg, one)).store(g.add(2 * hid), n);
            dh.mul(t).mul(o.fnma(o, o)).store(g.add(3 * hid), n);
            dct.mul(f).store(b.dc.add(k), n);
        }
    }

    macro_rules! old_rows_512 {
        ($b:expr, $block:ident, $uniform:expr) => {{
            let b = $b;
            let hid = b.hidden;
            for r in 0..b.rows {
                let mut j = 0;
                while j + 16 <= hid {
                    $block::<__m512>(b, r, j, 16);
                    j += 16;
                }
                let rest = hid - j;
                if rest == 8 && !$uniform {
                    $block::<__m256>(b, r, j, 8);
                } else if rest > 0 {
                    $block::<__m512>(b, r, j, rest);
                }
            }
        }};
    }

    macro_rules! old_rows_256 {
        ($b:expr, $block:ident) => {{
            let b = $b;
            for r in 0..b.rows {
                for j in (0..b.hidden).step_by(8) {
                    $block::<__m256>(b, r, j, (b.hidden - j).min(8));
                }
            }
        }};
    }

    /// # Safety
    /// AVX-512F, AVX2 and FMA; the buffers of `b` as long as its shape.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn forward_avx512(b: &Fwd, uniform: bool) {
        // SAFETY: the caller's contract.
        unsafe { old_rows_512!(b, fwd_block, uniform) }
    }

    /// # Safety
    /// AVX2 and FMA; the buffers of `b` as long as its shape.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn forward_avx2(b: &Fwd) {
        // SAFETY: the caller's contract.
        unsafe { old_rows_256!(b, fwd_block) }
    }

    /// # Safety
    /// As [`forward_avx512`].
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn backward_avx512(b: &Bwd, uniform: bool) {
        // SAFETY: the caller's contract.
        unsafe { old_rows_512!(b, bwd_block, uniform) }
    }

    /// # Safety
    /// As [`forward_avx2`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn backward_avx2(b: &Bwd) {
        // SAFETY: the caller's contract.
        unsafe { old_rows_256!(b, bwd_block) }
    }
}

/// One step forward and backward by the current kernels and by the old per-row ones (at
/// the same width; `uniform` as in [`old`], for the forward and the backward); the outputs
/// of each, bit patterns.
#[cfg(target_arch = "x86_64")]
fn new_and_old(w: Width, rows: usize, hid: usize, uniform: [bool; 2]) -> [Vec<Vec<u32>>; 2] {
    let n = rows * hid;
    let seed = (hid * 1000 + rows) as u64;
    let gates = f32s(&pseudo(4 * n, seed, 6.0));
    let cp = f32s(&pseudo(n, seed + 1, 2.0));
    let (da, dr, dc) =
        (f32s(&pseudo(n, seed + 2, 1.0)), f32s(&pseudo(n, seed + 3, 1.0)), f32s(&pseudo(n, seed + 4, 1.0)));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let run = |old: bool| {
        let (mut g, mut c, mut tc, mut h, mut d) =
            (gates.clone(), vec![0.0; n], vec![0.0; n], vec![0.0; n], dc.clone());
        if old {
            let fwd = Fwd {
                hidden: hid,
                rows,
                g: g.as_mut_ptr(),
                cp: cp.as_ptr(),
                c: c.as_mut_ptr(),
                tc: tc.as_mut_ptr(),
                h: h.as_mut_ptr(),
            };
            // SAFETY: the buffers have the shape of `fwd`; `w` is one this CPU runs.
            match w {
                Width::Avx512 => unsafe { old::forward_avx512(&fwd, uniform[0]) },
                Width::Avx2 => unsafe { old::forward_avx2(&fwd) },
                Width::None => unreachable!(),
            }
        } else {
            assert!(forward(w, hid, &mut g, &cp, &mut c, &mut tc, &mut h));
        }
        let fwd_out = [bits(&g), bits(&c), bits(&tc), bits(&h)];
        if old {
            let bwd = Bwd {
                hidden: hid,
                rows,
                g: g.as_mut_ptr(),
                cp: cp.as_ptr(),
                tc: tc.as_ptr(),
                da: da.as_ptr(),
                dr: dr.as_ptr(),
                dc: d.as_mut_ptr(),
            };
            // SAFETY: as above.
            match w {
                Width::Avx512 => unsafe { old::backward_avx512(&bwd, uniform[1]) },
                Width::Avx2 => unsafe { old::backward_avx2(&bwd) },
                Width::None => unreachable!(),
            }
        } else {
            assert!(backward(w, hid, &mut g, &cp, &tc, &da, &dr, &mut d));
        }
        fwd_out.into_iter().chain([bits(&g), bits(&d)]).collect::<Vec<_>>()
    };
    [run(false), run(true)]
}

/// The flat iteration gives, for every cell, bit for bit what the old per-row kernels give
/// at the same width, forward and backward: the old kernel itself, except that where the
/// AVX-512 forward now walks the flat index the old kernel's 8-lane tails run at 16 lanes
/// too (so every cell is computed at the same width by both; see the next test).
#[test]
#[cfg(target_arch = "x86_64")]
fn flat_matches_the_per_row_kernels_bit_for_bit() {
    let names = ["gates", "c", "tanh_c", "h", "da", "dc"];
    for w in vf32::test_widths() {
        for rows in [1, 2, 3, 5, 7, 33] {
            for hid in [1, 3, 7, 8, 15, 16, 17, 20, 24, 31, 33, 40, 48, 100] {
                let [new, old] = new_and_old(w, rows, hid, [flat(hid, 16), flat_backward_512(hid)]);
                for ((name, x), y) in names.iter().zip(&new).zip(&old) {
                    if let Some(k) = (0..x.len()).find(|&k| x[k] != y[k]) {
                        let (a, b) = (f32::from_bits(x[k]), f32::from_bits(y[k]));
                        panic!("{w:?} rows={rows} H={hid} {name}[{k}]: {a} (flat) vs {b} (per row)");
                    }
                }
            }
        }
    }
}

/// Where the old AVX-512 forward ran a row's last 8 cells as an AVX2 vector (H = 24, 40,
/// ...), the flat one runs them at 16 lanes, whose reciprocal estimate (`vrcp14ps`) is
/// finer than AVX2's `vrcpps`: those cells may differ from the old ones in the last bits
/// (within the tolerance of the f64 tests above). Everything else is unchanged bit for bit.
#[test]
#[cfg(target_arch = "x86_64")]
fn avx512_differs_from_the_old_kernel_only_in_its_8_lane_tails() {
    if !vf32::test_widths().contains(&Width::Avx512) {
        return;
    }
    for rows in [1, 2, 3, 5, 7, 33] {
        for hid in [1, 3, 7, 8, 15, 16, 17, 20, 24, 31, 33, 40, 48, 100] {
            let [new, old] = new_and_old(Width::Avx512, rows, hid, [false, false]);
            let tails = flat(hid, 16) && hid % 16 == 8;
            for (x, y) in new.iter().zip(&old) {
                // gates are [rows, 4H], the others [rows, H]: the column is k mod H either way.
                for (k, (&a, &b)) in x.iter().zip(y).enumerate() {
                    let (fa, fb) = (f32::from_bits(a), f32::from_bits(b));
                    if tails && k % hid >= hid - 8 {
                        assert!(
                            (fa - fb).abs() <= 1e-6 * fb.abs().max(1.0),
                            "rows={rows} H={hid} [{k}]: {fa} vs {fb}"
                        );
                    } else {
                        assert_eq!(a, b, "rows={rows} H={hid} [{k}]: {fa} vs {fb}");
                    }
                }
            }
        }
    }
}
