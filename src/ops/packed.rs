//! `C = A B (+ C)` with B packed once and reused for many products: a recurrent layer
//! multiplies by the same `W_hh^T` (forward) and `W_hh` (backward) at every time step.
//!
//! Why: the `gemm` crate repacks B on every call (12% of the MNIST step), and reading a
//! row-major B in place, as [`super::small_gemm`] does, strides through memory at B's row
//! length, which for a 512-wide B maps a panel's rows onto a handful of L1 sets so that they
//! evict each other. [`Packed`] stores B as panels of `NR` = 2 vectors of columns, each panel
//! `[k, NR]` contiguous (the last padded with zeros), once per pass. The kernel keeps an
//! `MR x NR` block of C in registers (12 x 32 with AVX-512: 24 accumulators; 6 x 16 with
//! AVX2), and each step over the inner dimension is two loads of the panel, MR broadcasts of A
//! and 2 MR FMAs.
//!
//! The sum over the inner dimension runs in order, one FMA per term, starting from the old C
//! when accumulating, exactly as [`super::small_gemm`] does.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256, __m512};

use crate::float::Float;
use crate::ops::vf32::{self, V, Width};
use crate::ops::{MatMut, MatRef, gemm};

/// A `[k, n]` matrix in column panels for [`gemm_packed`]; empty (and unused) unless T is f32
/// and the CPU has AVX2 or AVX-512.
#[derive(Default, Debug, Clone)]
pub struct Packed {
    k: usize,
    n: usize,
    width: Option<Width>,
    data: Vec<f32>,
}

/// Panel width in floats at vector width `w`: two vectors.
fn panel_width(w: Width) -> usize {
    match w {
        Width::Avx512 => 32,
        _ => 16,
    }
}

impl Packed {
    /// Packs `b` (any strides) at the detected vector width, reusing the buffer. Leaves the
    /// pack empty when T is not f32 or there is no vector width to run, so [`gemm_packed`]
    /// falls back to [`gemm`].
    pub fn pack<T: Float>(&mut self, b: MatRef<T>) {
        self.pack_at(vf32::width(), b);
    }

    /// Empties the pack: products given it run unpacked.
    pub fn clear(&mut self) {
        self.width = None;
    }

    /// Whether the pack is empty (products given it run unpacked).
    pub fn is_empty(&self) -> bool {
        self.width.is_none()
    }

    /// [`Packed::pack`] at vector width `w` (narrowed to what the CPU has; tests pick one).
    pub fn pack_at<T: Float>(&mut self, w: Width, b: MatRef<T>) {
        let w = w.min(vf32::width());
        self.width = None;
        if !vf32::is_f32::<T>() || w == Width::None || b.rows == 0 || b.cols == 0 {
            return;
        }
        let (k, n) = (b.rows, b.cols);
        let nr = panel_width(w);
        let panels = n.div_ceil(nr);
        self.data.clear();
        self.data.resize(panels * k * nr, 0.0);
        for p in 0..panels {
            let cols = (n - p * nr).min(nr);
            for q in 0..k {
                let dst = &mut self.data[(p * k + q) * nr..][..cols];
                for (jj, d) in dst.iter_mut().enumerate() {
                    *d = b.at(q, p * nr + jj).to_f64() as f32;
                }
            }
        }
        (self.k, self.n, self.width) = (k, n, Some(w));
    }
}

/// `C = A B` (`beta` = 0) or `C = A B + C` (`beta` = 1), with `packed` holding B. Runs the
/// packed kernel when the pack is current for B's shape and A and C have unit column stride;
/// otherwise the plain [`gemm`] on `b`, so the result never depends on whether packing was
/// possible beyond the last bits.
pub fn gemm_packed<T: Float>(a: MatRef<T>, b: MatRef<T>, packed: &Packed, beta: T, c: MatMut<T>) {
    packed_product(a, b, packed, Init::Beta(beta), c)
}

/// `C = A B + bias` (the row vector `bias` added to every row), with `packed` holding B: one
/// pass over C, the same sums in the same order as [`crate::ops::gemm_bias`]'s f32 kernel.
/// Falls back to that when the pack does not fit (see [`gemm_packed`]).
pub fn gemm_packed_bias<T: Float>(a: MatRef<T>, b: MatRef<T>, packed: &Packed, bias: &[T], c: MatMut<T>) {
    assert_eq!(bias.len(), b.cols, "gemm_packed_bias: bias length");
    packed_product(a, b, packed, Init::Row(bias), c)
}

/// What C starts from.
enum Init<'a, T> {
    /// 0 (`beta` = 0) or the old C (`beta` = 1).
    Beta(T),
    /// The row vector, in every row.
    Row(&'a [T]),
}

fn packed_product<T: Float>(a: MatRef<T>, b: MatRef<T>, packed: &Packed, init: Init<T>, c: MatMut<T>) {
    assert_eq!((a.cols, b.rows, b.cols), (b.rows, a.cols, c.cols), "gemm_packed shapes");
    assert_eq!(a.rows, c.rows, "gemm_packed output rows");
    let unit = |cols: usize, cs: usize| cs == 1 || cols == 1;
    let usable = packed.width.is_some()
        && (packed.k, packed.n) == (b.rows, b.cols)
        && unit(a.cols, a.cs)
        && unit(c.cols, c.cs)
        && !matches!(init, Init::Beta(beta) if beta != T::ZERO && beta != T::ONE)
        && a.rows > 0;
    let Some(w) = packed.width.filter(|_| usable) else {
        return match init {
            Init::Beta(beta) => gemm(T::ONE, a, b, beta, c),
            Init::Row(bias) => crate::ops::gemm_bias(a, b, bias, c),
        };
    };
    let p = Problem {
        m: a.rows,
        k: packed.k,
        n: packed.n,
        a: a.data.as_ptr().cast(),
        lda: a.rs,
        b: packed.data.as_ptr(),
        c: c.data.as_mut_ptr().cast(),
        ldc: c.rs,
        accumulate: matches!(init, Init::Beta(beta) if beta == T::ONE),
        row: match init {
            Init::Row(bias) => bias.as_ptr().cast(),
            Init::Beta(_) => std::ptr::null(),
        },
    };
    // SAFETY: T is f32 (the pack exists only then); the views' constructors checked that A
    // and C address their extents; the pack holds `ceil(n / NR) * k * NR` floats; `c` is a
    // unique borrow so it overlaps neither A nor the pack.
    unsafe {
        match w {
            #[cfg(target_arch = "x86_64")]
            Width::Avx512 => run_avx512(&p),
            #[cfg(target_arch = "x86_64")]
            Width::Avx2 => run_avx2(&p),
            _ => unreachable!("packed only at a vector width"),
        }
    }
}

struct Problem {
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    /// When not null (and not accumulating), C starts from this row vector in every row.
    row: *const f32,
}

/// Rows `i0..i0+R` of C times panel `j` (`cols` real columns of its 2 N). Starts from the
/// old C when accumulating. A is read in place through one pointer per row, so no broadcast
/// address waits on another.
#[inline(always)]
unsafe fn tile<W: V, const R: usize>(p: &Problem, i0: usize, j: usize, cols: usize) {
    unsafe {
        let nr = 2 * W::N;
        let (l0, l1) = (cols.min(W::N), cols.saturating_sub(W::N));
        let c0 = p.c.add(i0 * p.ldc + j * nr);
        let mut acc = [[W::splat(0.0); 2]; R];
        if p.accumulate {
            for (r, x) in acc.iter_mut().enumerate() {
                x[0] = W::load(c0.add(r * p.ldc), l0);
                x[1] = W::load(c0.add(r * p.ldc + W::N), l1);
            }
        } else if !p.row.is_null() {
            let r0 = p.row.add(j * nr);
            let (v0, v1) = (W::load(r0, l0), W::load(r0.add(W::N), l1));
            for x in acc.iter_mut() {
                *x = [v0, v1];
            }
        }
        let rows: [*const f32; R] = std::array::from_fn(|r| p.a.add((i0 + r) * p.lda));
        let mut bp = p.b.add(j * p.k * nr);
        for q in 0..p.k {
            let (b0, b1) = (W::load(bp, W::N), W::load(bp.add(W::N), W::N));
            for (x, a) in acc.iter_mut().zip(&rows) {
                let av = W::splat(*a.add(q));
                x[0] = av.fma(b0, x[0]);
                x[1] = av.fma(b1, x[1]);
            }
            bp = bp.add(nr);
        }
        for (r, x) in acc.iter().enumerate() {
            x[0].store(c0.add(r * p.ldc), l0);
            if l1 > 0 {
                x[1].store(c0.add(r * p.ldc + W::N), l1);
            }
        }
    }
}

/// Row blocks of at most MR, as even as possible (64 rows at MR = 12: six blocks of 10-11),
/// each times every panel.
#[inline(always)]
unsafe fn run<W: V, const MR: usize>(p: &Problem) {
    unsafe {
        let nr = 2 * W::N;
        let blocks = p.m.div_ceil(MR);
        let (base, extra) = (p.m / blocks, p.m % blocks);
        let mut i = 0;
        for blk in 0..blocks {
            let rows = base + (blk < extra) as usize;
            for j in 0..p.n.div_ceil(nr) {
                let cols = (p.n - j * nr).min(nr);
                match rows {
                    12 => tile::<W, 12>(p, i, j, cols),
                    11 => tile::<W, 11>(p, i, j, cols),
                    10 => tile::<W, 10>(p, i, j, cols),
                    9 => tile::<W, 9>(p, i, j, cols),
                    8 => tile::<W, 8>(p, i, j, cols),
                    7 => tile::<W, 7>(p, i, j, cols),
                    6 => tile::<W, 6>(p, i, j, cols),
                    5 => tile::<W, 5>(p, i, j, cols),
                    4 => tile::<W, 4>(p, i, j, cols),
                    3 => tile::<W, 3>(p, i, j, cols),
                    2 => tile::<W, 2>(p, i, j, cols),
                    _ => tile::<W, 1>(p, i, j, cols),
                }
            }
            i += rows;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(p: &Problem) {
    // 24 accumulators, 2 panel vectors and a broadcast: 27 of the 32 registers.
    unsafe { run::<__m512, 12>(p) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(p: &Problem) {
    // 12 accumulators, 2 panel vectors and a broadcast: 15 of the 16 registers.
    unsafe { run::<__m256, 6>(p) }
}

#[cfg(test)]
mod tests {
    use super::{Packed, gemm_packed, gemm_packed_bias};
    use crate::ops::vf32::{Width, test_widths};
    use crate::ops::{MatMut, MatRef};

    use crate::ops::test_util::{GUARD, Rng, check_product};

    const EDGES: [usize; 16] = [1, 2, 5, 7, 8, 11, 12, 13, 16, 17, 24, 31, 32, 33, 64, 96];

    /// The packed kernel at every width against an f64 triple loop on random shapes, with B
    /// given transposed or not, A and C with row strides wider than their rows, C = AB over NaN
    /// or C += AB; C's gaps keep their guard values. The error bound is that of a sequential
    /// FMA sum.
    #[test]
    fn packed_kernel_property_all_widths() {
        for w in test_widths() {
            let mut rng = Rng(11);
            for case in 0..500 {
                let (m, k, n) = (rng.size(&EDGES, 140), rng.size(&EDGES, 140), rng.size(&EDGES, 140));
                let (lda, ldc) = (k + rng.below(3), n + rng.below(3));
                let a = rng.vec((m - 1) * lda + k);
                let transposed = case % 2 == 1;
                let braw = rng.vec(k * n);
                let b = if transposed { MatRef::new(&braw, n, k).t() } else { MatRef::new(&braw, k, n) };
                let accumulate = case % 3 == 0;
                let mut c = vec![GUARD; m * ldc + 5];
                let old = rng.vec(m * n);
                for i in 0..m {
                    for j in 0..n {
                        c[i * ldc + j] = if accumulate { old[i * n + j] } else { f32::NAN };
                    }
                }
                let mut packed = Packed::default();
                packed.pack_at(w, b);
                assert_eq!(packed.width.is_some(), w != Width::None);
                let beta = if accumulate { 1.0 } else { 0.0 };
                gemm_packed(
                    MatRef::strided(&a, m, k, lda, 1),
                    b,
                    &packed,
                    beta,
                    MatMut::strided(&mut c, m, n, ldc, 1),
                );
                let tag = format!("{w:?} case {case} ({m},{k},{n}) acc={accumulate}");
                let old = accumulate.then_some(&old[..]);
                check_product(&tag, &c, ldc, (m, k, n), old, |i, q| a[i * lda + q], |q, j| b.at(q, j));
            }
        }
    }

    /// A pack of another shape is not used: the product falls back to the plain GEMM.
    #[test]
    fn stale_pack_falls_back() {
        let mut rng = Rng(3);
        let (a, b) = (rng.vec(4 * 5), rng.vec(5 * 6));
        let mut packed = Packed::default();
        packed.pack(MatRef::new(&rng.vec(5 * 7), 5, 7));
        let mut c1 = vec![0.0f32; 24];
        let mut c2 = vec![0.0f32; 24];
        let (av, bv) = (MatRef::new(&a, 4, 5), MatRef::new(&b, 5, 6));
        gemm_packed(av, bv, &packed, 0.0, MatMut::new(&mut c1, 4, 6));
        crate::ops::gemm_naive(1.0, av, bv, 0.0, MatMut::new(&mut c2, 4, 6));
        for (x, y) in c1.iter().zip(&c2) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }

    /// With a bias row the packed kernel gives bit for bit what `ops::gemm_bias`'s small
    /// kernel gives (the same FMAs in the same order), over NaN in C, at every width.
    #[test]
    fn packed_bias_matches_gemm_bias_bit_for_bit() {
        for w in test_widths() {
            let mut rng = Rng(21);
            for _ in 0..200 {
                let (m, k, n) = (rng.size(&EDGES, 200), rng.size(&EDGES, 40), rng.size(&EDGES, 140));
                let (a, b, bias) = (rng.vec(m * k), rng.vec(k * n), rng.vec(n));
                let (av, bv) = (MatRef::new(&a, m, k), MatRef::new(&b, k, n));
                let mut packed = Packed::default();
                packed.pack_at(w, bv);
                let mut c1 = vec![f32::NAN; m * n];
                let mut c2 = vec![f32::NAN; m * n];
                gemm_packed_bias(av, bv, &packed, &bias, MatMut::new(&mut c1, m, n));
                crate::ops::gemm_bias(av, bv, &bias, MatMut::new(&mut c2, m, n));
                for (i, (x, y)) in c1.iter().zip(&c2).enumerate() {
                    assert_eq!(x.to_bits(), y.to_bits(), "{w:?} ({m},{k},{n}) at {i}: {x} vs {y}");
                }
            }
        }
    }
}
