//! The LSTM step kernels of [`super::lstm`] for f32, written with explicit AVX-512 / AVX2+FMA
//! vectors ([`crate::ops::vf32`]): same equations, same buffers, FMA and a refined reciprocal
//! instead of five divisions per cell. [`super::lstm::forward_step`] and `backward_step`
//! dispatch here for f32 on a CPU that has the features; their generic bodies stay the
//! reference these are tested against (below, on odd hidden sizes).
//!
//! Iteration: every forward vector costs the same (five transcendentals, ~300 instructions)
//! however many of its lanes are used. When H is more than one vector (16 lanes for AVX-512, 8 for
//! AVX2) and not a multiple of it, the kernels walk the flat cell index `k = r*H + j` in full
//! vectors across row boundaries (H = 24 on AVX-512: 1.5 vectors a row instead of 2; H = 20:
//! 1.25 instead of 2): the `[rows, H]` buffers are contiguous, so only the gates of a vector
//! that straddles two rows take two masked accesses per gate block ([`Lanes`],
//! [`V::load_split`]). Otherwise each row runs on its own, in full vectors and a masked tail
//! (AVX-512: an 8-lane block when exactly 8 remain, as for H = 8, and for the backward at
//! H = 24, 40, ..., see [`flat_backward_512`]).
//!
//! Every lane computes the same operations whichever iteration or row it is in, so the flat
//! iteration gives bit for bit what the per-row one gives at the same width (tested below,
//! against the per-row kernels as they were). The one change: where the AVX-512 forward ran a
//! row's last 8 cells as an AVX2 vector (H = 24, 40, ...), they now run in 16-lane vectors
//! like the rest, whose finer reciprocal estimate moves some results by a few ulp (the
//! backward, mere multiplies and FMAs, is bit for bit the same at either width).

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

/// Where the cells of one vector live. Lanes `0..m` are consecutive cells of one row; lanes
/// `m..n` (when `m < n`) are the first cells of the next row (the flat iteration, where a vector
/// straddles a row boundary).
///
/// - `k`: the flat index `r*H + j` of lane 0 in the `[rows, H]` buffers, which are contiguous
///   across rows, so lane `l` is at `k + l` there whichever row it belongs to.
/// - `g0`: lane 0's offset `r*4H + j` in the gates; lane `l < m` of gate block `q` is at
///   `g0 + q*H + l`.
/// - `g1`: the next row's offset `(r+1)*4H` in the gates; lane `l >= m` of gate block `q` is
///   at `g1 + q*H + l - m`. Unused when `m == n`.
#[derive(Clone, Copy)]
struct Lanes {
    k: usize,
    g0: usize,
    g1: usize,
    m: usize,
    n: usize,
}

impl Lanes {
    /// Cells `j..j+n` of row `r`, all in that row (the per-row iteration).
    #[inline(always)]
    fn row(hidden: usize, r: usize, j: usize, n: usize) -> Self {
        Lanes { k: r * hidden + j, g0: r * 4 * hidden + j, g1: 0, m: n, n }
    }
}

/// The four gate blocks (i, f, g, o) of the cells `at`; lanes past `at.n` are 0.
///
/// # Safety
/// W's features; `g` the gates of a `[rows, 4H]` buffer that holds every cell of `at`.
#[inline(always)]
unsafe fn load_gates<W: V>(g: *const f32, hidden: usize, at: Lanes) -> [W; 4] {
    // SAFETY: lanes 0..m are cells of row r, at g0 + qH .. g0 + qH + m, and lanes m..n cells
    // of row r+1, at g1 + qH .. g1 + qH + n - m, all inside the buffer.
    unsafe {
        let (p0, n) = (g.add(at.g0), at.n);
        if at.m == n {
            [
                W::load(p0, n),
                W::load(p0.add(hidden), n),
                W::load(p0.add(2 * hidden), n),
                W::load(p0.add(3 * hidden), n),
            ]
        } else {
            let (p1, m) = (g.add(at.g1), at.m);
            let two = |q: usize| W::load_split(p0.add(q * hidden), p1.add(q * hidden), m, n);
            [two(0), two(1), two(2), two(3)]
        }
    }
}

/// Stores the four gate blocks of the cells `at` (as [`load_gates`]).
///
/// # Safety
/// As [`load_gates`], and the buffer writable.
#[inline(always)]
unsafe fn store_gates<W: V>(v: [W; 4], g: *mut f32, hidden: usize, at: Lanes) {
    // SAFETY: as in `load_gates`: only the cells' own addresses are written.
    unsafe {
        let (p0, n) = (g.add(at.g0), at.n);
        if at.m == n {
            for (q, v) in v.into_iter().enumerate() {
                v.store(p0.add(q * hidden), n);
            }
        } else {
            let (p1, m) = (g.add(at.g1), at.m);
            for (q, v) in v.into_iter().enumerate() {
                v.store_split(p0.add(q * hidden), p1.add(q * hidden), m, n);
            }
        }
    }
}

/// Forward of the cells `at` (`at.n <= W::N`) from their preactivations `a` (as
/// [`load_gates`]): writes `c`, `tanh_c` and `h`, returns the activated gates (which the
/// caller stores).
///
/// # Safety
/// W's features; `at` within the buffers of `b`.
#[inline(always)]
unsafe fn fwd_cells<W: V>(b: &Fwd, at: Lanes, [ai, af, ag, ao]: [W; 4]) -> [W; 4] {
    let (k, n) = (at.k, at.n);
    // SAFETY: the [rows, H] buffers hold cells k..k+n.
    unsafe {
        let i = vf32::sigmoid(ai);
        let f = vf32::sigmoid(af);
        let gg = vf32::tanh(ag);
        let o = vf32::sigmoid(ao);
        let cn = f.fma(W::load(b.cp.add(k), n), i.mul(gg));
        let t = vf32::tanh(cn);
        cn.store(b.c.add(k), n);
        t.store(b.tc.add(k), n);
        o.mul(t).store(b.h.add(k), n);
        [i, f, gg, o]
    }
}

/// Backward of the cells `at` from their activated gates: updates `dc`, returns `da` (which
/// the caller stores over the gates).
///
/// # Safety
/// As [`fwd_cells`].
#[inline(always)]
unsafe fn bwd_cells<W: V>(b: &Bwd, at: Lanes, [i, f, gg, o]: [W; 4]) -> [W; 4] {
    let (k, n) = (at.k, at.n);
    // SAFETY: as in `fwd_cells`.
    unsafe {
        let one = W::splat(1.0);
        let t = W::load(b.tc.add(k), n);
        let dh = W::load(b.da.add(k), n).add(W::load(b.dr.add(k), n));
        // dc_tot = dc' + dh o (1 - t^2)
        let dct = dh.mul(o).fma(t.fnma(t, one), W::load(b.dc.add(k), n));
        let da = [
            dct.mul(gg).mul(i.fnma(i, i)),
            dct.mul(W::load(b.cp.add(k), n)).mul(f.fnma(f, f)),
            dct.mul(i).mul(gg.fnma(gg, one)),
            dh.mul(t).mul(o.fnma(o, o)),
        ];
        dct.mul(f).store(b.dc.add(k), n);
        da
    }
}

/// One vector of cells on its own: load the gates, compute, store them.
macro_rules! block {
    ($b:expr, $cells:ident, $W:ty, $at:expr) => {{
        let (b, at) = ($b, $at);
        let out = $cells::<$W>(b, at, load_gates::<$W>(b.g, b.hidden, at));
        store_gates(out, b.g, b.hidden, at);
    }};
}

/// Whether the kernels of `lanes`-wide vectors walk the flat cell index (else each row on its
/// own): when a row is more than one vector wide and not a whole number of them. Per row, H = 24
/// would take a 16-lane and a half-empty (or 8-lane) block, each as costly as a full one; flat,
/// 1.5 full vectors. H < `lanes` stays per row (a vector would span more than two rows), and
/// so does a multiple of `lanes`, where both iterations are the same.
#[inline(always)]
fn flat(hidden: usize, lanes: usize) -> bool {
    hidden > lanes && !hidden.is_multiple_of(lanes)
}

/// [`flat`] for the AVX-512 backward, which moves more bytes per arithmetic operation than
/// the forward (no transcendentals) and is bound by memory traffic: a row that ends in exactly
/// 8 cells keeps its unmasked 8-lane tail, which moves no more bytes than the flat iteration
/// and skips its split accesses (H = 24 and 40: flat was 5-15% slower in a microbenchmark;
/// H = 17 and 20, whose per-row tails are masked 16-lane blocks: flat was 40% faster).
#[inline(always)]
fn flat_backward_512(hidden: usize) -> bool {
    flat(hidden, 16) && hidden % 16 != 8
}

/// Runs `cells` over the flat cell index `k = r*H + j` in full vectors of `$W` (the last one
/// partial): a vector's lanes may span the end of one row and the start of the next, which
/// [`Lanes`] describes. Needs H > the lane count, so that a vector spans at most two rows.
///
/// Each vector's gates are stored only after the next vector's gates are loaded. A masked
/// access spans a whole vector of addresses, and a load whose span overlaps a store still in
/// the store buffer cannot take its data from there: it waits until the store reaches the
/// cache. The gates of a straddling vector are accessed in spans that reach, beyond its own
/// cells, only cells of the vectors just before and after it, or cells already loaded (see
/// [`V::load_split`]), so one vector's delay keeps such stores out of the way of later loads
/// (storing right away made the forward 1.4-1.8x slower at H = 17, 20, 24 and 40 in a
/// microbenchmark, at 24 and 40 slower than the per-row kernel).
macro_rules! flat {
    ($b:expr, $cells:ident, $W:ty) => {{
        let b = $b;
        let hid = b.hidden;
        let lanes = <$W as V>::N;
        debug_assert!(hid > lanes);
        let total = b.rows * hid;
        // The vector at flat index k, whose lane 0 is row r, column j; and the row and column
        // of the next vector's lane 0.
        let lanes_at = |k: usize, r: usize, j: usize| {
            let n = (total - k).min(lanes);
            let m = (hid - j).min(n);
            let at = Lanes { k, g0: r * 4 * hid + j, g1: (r + 1) * 4 * hid, m, n };
            if j + n >= hid { (at, r + 1, j + n - hid) } else { (at, r, j + n) }
        };
        if total > 0 {
            let (mut at, mut r, mut j) = lanes_at(0, 0, 0);
            let mut out = $cells::<$W>(b, at, load_gates::<$W>(b.g, hid, at));
            while at.k + at.n < total {
                let (next, r1, j1) = lanes_at(at.k + at.n, r, j);
                let a = load_gates::<$W>(b.g, hid, next);
                store_gates(out, b.g, hid, at);
                out = $cells::<$W>(b, next, a);
                (at, r, j) = (next, r1, j1);
            }
            store_gates(out, b.g, hid, at);
        }
    }};
}

/// Runs `cells` over every row on its own: 16-lane blocks, then an 8-lane block when
/// exactly 8 lanes remain, else a masked 16-lane one.
macro_rules! rows_512 {
    ($b:expr, $cells:ident) => {{
        let b = $b;
        let hid = b.hidden;
        for r in 0..b.rows {
            let mut j = 0;
            while j + 16 <= hid {
                block!(b, $cells, __m512, Lanes::row(hid, r, j, 16));
                j += 16;
            }
            let rest = hid - j;
            if rest == 8 {
                block!(b, $cells, __m256, Lanes::row(hid, r, j, 8));
            } else if rest > 0 {
                block!(b, $cells, __m512, Lanes::row(hid, r, j, rest));
            }
        }
    }};
}

/// Runs `cells` over every row on its own in 8-lane blocks, the last one masked.
macro_rules! rows_256 {
    ($b:expr, $cells:ident) => {{
        let b = $b;
        for r in 0..b.rows {
            for j in (0..b.hidden).step_by(8) {
                block!(b, $cells, __m256, Lanes::row(b.hidden, r, j, (b.hidden - j).min(8)));
            }
        }
    }};
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn forward_avx512(b: &Fwd) {
    // SAFETY: the caller checked the buffers' lengths against `rows` and `hidden`, so every
    // cell either iteration visits is inside them, and that the CPU has these features.
    unsafe { if flat(b.hidden, 16) { flat!(b, fwd_cells, __m512) } else { rows_512!(b, fwd_cells) } }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_avx2(b: &Fwd) {
    // SAFETY: as in `forward_avx512`.
    unsafe { if flat(b.hidden, 8) { flat!(b, fwd_cells, __m256) } else { rows_256!(b, fwd_cells) } }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn backward_avx512(b: &Bwd) {
    // SAFETY: as in `forward_avx512`.
    unsafe { if flat_backward_512(b.hidden) { flat!(b, bwd_cells, __m512) } else { rows_512!(b, bwd_cells) } }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_avx2(b: &Bwd) {
    // SAFETY: as in `forward_avx512`.
    unsafe { if flat(b.hidden, 8) { flat!(b, bwd_cells, __m256) } else { rows_256!(b, bwd_cells) } }
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
        let shapes = [(1, 1), (3, 7), (2, 8), (3, 16), (5, 24), (2, 33), (1, 40)];
        let more = [(1, 20), (2, 20), (3, 20), (7, 20), (33, 20), (1, 24), (2, 24), (3, 24), (33, 24)];
        for &(rows, hid) in shapes.iter().chain(&more) {
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
        let (da, dr, dc) = (
            f32s(&pseudo(n, seed + 2, 1.0)),
            f32s(&pseudo(n, seed + 3, 1.0)),
            f32s(&pseudo(n, seed + 4, 1.0)),
        );
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
}
