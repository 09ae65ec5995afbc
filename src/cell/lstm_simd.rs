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
#[path = "lstm_simd_tests.rs"]
mod tests;
