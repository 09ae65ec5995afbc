//! Column sums of a row-major f32 matrix, `dst[j] += sum_r w_r src[r, j]` (w_r = 1 for a
//! plain sum), in explicit AVX-512 / AVX2+FMA vectors ([`crate::ops::vf32`]): the bias
//! gradients of every recurrent step, and for a small input the input-weight gradients, are
//! such sums over the step's gate gradients while those are still in L1.
//!
//! Up to 8 vectors of columns are summed at a time, each in its own register, so a row costs
//! one load and one add (or FMA) per vector and the chains of the vectors run side by side.
//! Rows are added in order, onto the old `dst`, so the plain sum gives bit for bit what
//! [`crate::ops::add_colsum`]'s generic loop gives.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256, __m512};

use crate::ops::vf32::{V, Width, width};

struct Sum {
    rows: usize,
    n: usize,
    src: *const f32,
    dst: *mut f32,
    /// Row weights `w[r * ws]`, or null for a plain sum.
    w: *const f32,
    ws: usize,
}

/// `dst[j] += sum_r w[r * ws] src[r * n + j]` over `rows` rows (`w = None`: weights 1).
/// Returns false (doing nothing) without AVX-512 or AVX2+FMA. Runs at width `wd` (callers
/// pass [`width`]; tests pick one), narrowed to what the CPU supports.
pub fn add_colsum_f32(wd: Width, dst: &mut [f32], src: &[f32], w: Option<(&[f32], usize)>) -> bool {
    let n = dst.len();
    let rows = src.len().checked_div(n).unwrap_or(0);
    assert_eq!(rows * n, src.len(), "add_colsum: {} elements are not rows of {n}", src.len());
    if let Some((w, ws)) = w {
        assert!(rows == 0 || (ws > 0 && (rows - 1) * ws < w.len()), "add_colsum: row weights");
    }
    let (w, ws) = w.map_or((std::ptr::null(), 0), |(w, ws)| (w.as_ptr(), ws));
    let p = Sum { rows, n, src: src.as_ptr(), dst: dst.as_mut_ptr(), w, ws };
    // SAFETY: src holds rows x n floats, dst n, the weights (when given) rows strided by ws,
    // checked above; the width is narrowed to the CPU's features.
    match wd.min(width()) {
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { run_avx512(&p) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { run_avx2(&p) },
        _ => return false,
    }
    true
}

/// Columns `j0..j0 + (NV-1)*N + last`.
///
/// # Safety
/// W's features; `p` valid (see [`add_colsum_f32`]) and the columns inside it.
#[inline(always)]
unsafe fn block<W: V, const NV: usize>(p: &Sum, j0: usize, last: usize) {
    unsafe {
        let lanes = |v: usize| if v + 1 < NV { W::N } else { last };
        let mut acc: [W; NV] = std::array::from_fn(|v| W::load(p.dst.add(j0 + v * W::N), lanes(v)));
        let mut row = p.src.add(j0);
        for r in 0..p.rows {
            if p.w.is_null() {
                for (v, a) in acc.iter_mut().enumerate() {
                    *a = a.add(W::load(row.add(v * W::N), lanes(v)));
                }
            } else {
                let wv = W::splat(*p.w.add(r * p.ws));
                for (v, a) in acc.iter_mut().enumerate() {
                    *a = W::load(row.add(v * W::N), lanes(v)).fma(wv, *a);
                }
            }
            row = row.add(p.n);
        }
        for (v, a) in acc.iter().enumerate() {
            a.store(p.dst.add(j0 + v * W::N), lanes(v));
        }
    }
}

#[inline(always)]
unsafe fn run<W: V>(p: &Sum) {
    let mut j = 0;
    while j < p.n {
        let nv = (p.n - j).div_ceil(W::N).min(8);
        let width = (nv * W::N).min(p.n - j);
        let last = width - (nv - 1) * W::N;
        // SAFETY: columns j..j + width are inside the matrix.
        unsafe {
            match nv {
                1 => block::<W, 1>(p, j, last),
                2 => block::<W, 2>(p, j, last),
                3 => block::<W, 3>(p, j, last),
                4 => block::<W, 4>(p, j, last),
                5 => block::<W, 5>(p, j, last),
                6 => block::<W, 6>(p, j, last),
                7 => block::<W, 7>(p, j, last),
                _ => block::<W, 8>(p, j, last),
            }
        }
        j += width;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(p: &Sum) {
    unsafe { run::<__m512>(p) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(p: &Sum) {
    unsafe { run::<__m256>(p) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::test_util::Rng;

    #[test]
    fn sums_match_rows_added_in_order_at_every_width() {
        let mut rng = Rng(5);
        for wd in [Width::Avx2, Width::Avx512] {
            if wd.min(width()) != wd {
                continue;
            }
            for (rows, n) in [(0, 5), (1, 1), (3, 7), (62, 96), (16, 80), (9, 130), (5, 300), (4, 0)] {
                let src: Vec<f32> = (0..rows * n).map(|_| rng.unit()).collect();
                let w: Vec<f32> = (0..rows * 3 + 1).map(|_| rng.unit()).collect();
                let start: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
                let (mut plain, mut weighted) = (start.clone(), start.clone());
                assert!(add_colsum_f32(wd, &mut plain, &src, None));
                assert!(add_colsum_f32(wd, &mut weighted, &src, Some((&w[1..], 3))));
                for j in 0..n {
                    let (mut want, mut want_w) = (start[j], start[j]);
                    for r in 0..rows {
                        want += src[r * n + j];
                        want_w = src[r * n + j].mul_add(w[1 + r * 3], want_w);
                    }
                    assert_eq!(plain[j].to_bits(), want.to_bits(), "{wd:?} {rows}x{n} col {j}");
                    assert_eq!(weighted[j].to_bits(), want_w.to_bits(), "{wd:?} {rows}x{n} col {j}");
                }
            }
        }
    }
}
