//! Dense kernels the engine is built from: a checked strided GEMM over the `gemm`
//! crate (with a naive reference beside it), row/column reductions, and the vectorizable
//! activations in [`act`]. No tensor type: buffers are plain slices with a shape comment where
//! they are declared.

pub mod act;
pub mod colsum;
mod f32_dispatch;
pub mod gemm_tn;
pub mod grads;
pub mod lanes;
pub mod packed;
pub mod small_gemm;
#[cfg(test)]
mod test_util;
pub mod vf32;

use crate::float::Float;
use f32_dispatch::{SMALL_KN, f32_kernels};

/// Whether the CPU has AVX2 and FMA (std caches the check).
#[inline(always)]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines an elementwise kernel twice: as written (baseline target) and compiled with AVX2 and
/// FMA enabled, and dispatches at run time. The body is `#[inline(always)]` inside both, so the
/// AVX2 twin really is generated with 8-wide vectors (a closure passed to a
/// `#[target_feature]` function is not reliably inlined, and then runs at the baseline). Rust
/// never fuses a multiply and an add on its own, so both twins give the same bits.
macro_rules! simd_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident<T: Float $(, $gp:ident : $gb:path)?>($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        $vis fn $name<T: Float $(, $gp: $gb)?>($($arg: $ty),*) {
            #[inline(always)]
            fn imp<T: Float $(, $gp: $gb)?>($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<T: Float $(, $gp: $gb)?>($($arg: $ty),*) {
                imp($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::ops::has_avx2() {
                // SAFETY: the CPU supports every feature `avx2` is compiled for.
                return unsafe { avx2($($arg),*) };
            }
            imp($($arg),*)
        }
    };
}
pub(crate) use simd_fn;

/// A read-only strided matrix view: element (i, j) is `data[i*rs + j*cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// A mutable strided matrix view.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 { 0 } else { (rows - 1) * rs + (cols - 1) * cs + 1 }
}

impl<'a, T> MatRef<'a, T> {
    /// Row-major contiguous `[rows, cols]` view of `data[..rows*cols]`.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }
    /// A view with explicit row and column strides (in elements).
    pub fn strided(data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        assert!(
            extent(rows, cols, rs, cs) <= data.len(),
            "MatRef [{rows}, {cols}] strides ({rs}, {cs}) exceeds buffer of {}",
            data.len()
        );
        MatRef { data, rows, cols, rs, cs }
    }
    /// The transpose, as a view (no copy).
    pub fn t(self) -> Self {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }
    /// Rows of the view.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns of the view.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Element (i, j).
    pub fn at(&self, i: usize, j: usize) -> T
    where
        T: Copy,
    {
        self.data[i * self.rs + j * self.cs]
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A row-major `rows x cols` view of `data`.
    pub fn new(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }
    /// A view with explicit row and column strides (in elements).
    pub fn strided(data: &'a mut [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        assert!(
            extent(rows, cols, rs, cs) <= data.len(),
            "MatMut [{rows}, {cols}] strides ({rs}, {cs}) exceeds buffer of {}",
            data.len()
        );
        MatMut { data, rows, cols, rs, cs }
    }
}

/// `C = alpha * A B + beta * C`. Shapes are checked; `beta = 0` overwrites C (NaN in C does not
/// leak through), as BLAS does.
pub fn gemm<T: Float>(alpha: T, a: MatRef<T>, b: MatRef<T>, beta: T, mut c: MatMut<T>) {
    assert_eq!(
        a.cols, b.rows,
        "gemm inner dimensions: A is [{}, {}], B is [{}, {}]",
        a.rows, a.cols, b.rows, b.cols
    );
    assert_eq!((a.rows, b.cols), (c.rows, c.cols), "gemm output shape");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                let x = &mut c.data[i * c.rs + j * c.cs];
                *x = if beta == T::ZERO { T::ZERO } else { beta * *x };
            }
        }
        return;
    }
    if alpha == T::ONE
        && (beta == T::ZERO || beta == T::ONE)
        && vf32::is_f32::<T>()
        && f32_kernels(vf32::width(), a, b, beta, &mut c)
    {
        return;
    }
    // SAFETY: the constructors checked that every addressed element lies inside its slice, and
    // `c` is a unique borrow so it cannot alias `a` or `b`.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.data.as_mut_ptr(),
            c.rs as isize,
            c.cs as isize,
        )
    }
}

/// `C = bias + A B + A2 B2`: [`gemm_bias`] with a second product summed in the same pass
/// over C, e.g. a recurrent step's `b + x_t W_ih^T + h W_hh^T` when the input is small enough
/// to project step by step. The same sums, in the same order, as [`gemm_bias`] of A B and
/// then [`gemm`] of A2 B2 with `beta = 1`.
pub fn gemm_bias_sum<T: Float>(
    a: MatRef<T>,
    b: MatRef<T>,
    a2: MatRef<T>,
    b2: MatRef<T>,
    bias: &[T],
    c: MatMut<T>,
) {
    assert_eq!(bias.len(), b.cols, "gemm_bias_sum: bias length");
    assert_eq!((a.rows, b.cols, a.cols), (c.rows, c.cols, b.rows), "gemm_bias_sum shapes");
    assert_eq!((a2.rows, b2.cols, a2.cols), (c.rows, c.cols, b2.rows), "gemm_bias_sum shapes");
    let (m, n) = (c.rows, c.cols);
    let unit = |cols: usize, cs: usize| cs == 1 || cols == 1;
    let fits = |a: &MatRef<T>, b: &MatRef<T>| {
        unit(a.cols, a.cs) && unit(n, b.cs) && a.cols * n <= SMALL_KN && a.cols > 0
    };
    if fits(&a, &b) && fits(&a2, &b2) && unit(n, c.cs) && m > 0 && n > 0 && vf32::is_f32::<T>() {
        let raw = |x: &MatRef<T>| small_gemm::Raw { ptr: x.data.as_ptr().cast::<f32>(), ld: x.rs };
        // SAFETY: T is f32; the constructors checked the extents and `bias` has n elements;
        // `c` is a unique borrow.
        let done = unsafe {
            small_gemm::gemm_rowmajor_sum(
                vf32::width(),
                m,
                n,
                (raw(&a), raw(&b), a.cols),
                (raw(&a2), raw(&b2), a2.cols),
                c.data.as_mut_ptr().cast::<f32>(),
                c.rs,
                bias.as_ptr().cast::<f32>(),
            )
        };
        if done {
            return;
        }
    }
    let c2 = MatMut::strided(&mut *c.data, c.rows, c.cols, c.rs, c.cs);
    gemm_bias(a, b, bias, c2);
    gemm(T::ONE, a2, b2, T::ONE, c);
}

#[cfg(test)]
/// The plain triple loop, for tests of [`gemm`] only.
pub fn gemm_naive<T: Float>(alpha: T, a: MatRef<T>, b: MatRef<T>, beta: T, c: MatMut<T>) {
    for i in 0..c.rows {
        for j in 0..c.cols {
            let mut s = T::ZERO;
            for p in 0..a.cols {
                s += a.at(i, p) * b.at(p, j);
            }
            let x = &mut c.data[i * c.rs + j * c.cs];
            *x = if beta == T::ZERO { alpha * s } else { alpha * s + beta * *x };
        }
    }
}

/// `C = A B + bias`, the row vector `bias` (`[n]`) added to every row of C: one pass over C
/// instead of a fill and a read-modify-write (the same sums, in the same order, as
/// [`fill_rows`] then [`gemm`] with `beta = 1`).
pub fn gemm_bias<T: Float>(a: MatRef<T>, b: MatRef<T>, bias: &[T], c: MatMut<T>) {
    assert_eq!(bias.len(), b.cols, "gemm_bias: bias length");
    assert_eq!((a.rows, b.cols, a.cols), (c.rows, c.cols, b.rows), "gemm_bias shapes");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let unit = |cols: usize, cs: usize| cs == 1 || cols == 1;
    let fits = unit(k, a.cs) && unit(n, b.cs) && unit(n, c.cs) && k * n <= SMALL_KN;
    if fits && m > 0 && n > 0 && k > 0 && vf32::is_f32::<T>() {
        let (ap, bp) = (a.data.as_ptr().cast::<f32>(), b.data.as_ptr().cast::<f32>());
        // SAFETY: T is f32; the constructors checked the extents and `bias` has n elements;
        // `c` is a unique borrow.
        let done = unsafe {
            small_gemm::gemm_rowmajor(
                vf32::width(),
                m,
                k,
                n,
                small_gemm::Raw { ptr: ap, ld: a.rs },
                small_gemm::Raw { ptr: bp, ld: b.rs },
                c.data.as_mut_ptr().cast::<f32>(),
                c.rs,
                false,
                bias.as_ptr().cast::<f32>(),
            )
        };
        if done {
            return;
        }
    }
    for i in 0..m {
        for (j, &v) in bias.iter().enumerate() {
            c.data[i * c.rs + j * c.cs] = v;
        }
    }
    gemm(T::ONE, a, b, T::ONE, c);
}

/// `dst[j] += sum_i src[i, j]` for a row-major `[rows, n]` src, rows in order: in
/// [`colsum`]'s vector kernel for f32, else in [`add_colsum_generic`].
pub fn add_colsum<T: Float>(dst: &mut [T], src: &[T]) {
    if dst.is_empty() {
        return;
    }
    if let Some(d) = vf32::as_f32(dst)
        && colsum::add_colsum_f32(vf32::width(), d, vf32::as_f32_ref(src), None)
    {
        return;
    }
    add_colsum_generic(dst, src)
}

/// `dst[j] += sum_i w[i * ws] src[i, j]` for a row-major `[rows, n]` src, rows in order (f32:
/// one FMA each): a product `w^T src` with a strided column `w` (for instance
/// `dW_ih^T += x_t^T da_t`, one input feature at a time).
pub fn add_colsum_weighted<T: Float>(dst: &mut [T], src: &[T], w: &[T], ws: usize) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    if let Some(d) = vf32::as_f32(dst)
        && colsum::add_colsum_f32(vf32::width(), d, vf32::as_f32_ref(src), Some((vf32::as_f32_ref(w), ws)))
    {
        return;
    }
    for (r, row) in src.chunks_exact(n).enumerate() {
        let wr = w[r * ws];
        for (d, &x) in dst.iter_mut().zip(row) {
            *d += x * wr;
        }
    }
}

simd_fn! {
    /// [`add_colsum`] in portable code. Up to 64 columns at a time are summed in local 8-lane
    /// blocks (registers; see [`lanes`] for why not a plain loop), so dst is read and written
    /// once per 64 columns, not once per row.
    pub fn add_colsum_generic<T: Float>(dst: &mut [T], src: &[T]) {
        let n = dst.len();
        if n == 0 {
            return;
        }
        for j0 in (0..n).step_by(8 * lanes::LANES) {
            match (n - j0).min(8 * lanes::LANES).div_ceil(lanes::LANES) {
                1 => colsum_block::<T, 1>(dst, src, j0),
                2 => colsum_block::<T, 2>(dst, src, j0),
                3 => colsum_block::<T, 3>(dst, src, j0),
                4 => colsum_block::<T, 4>(dst, src, j0),
                5 => colsum_block::<T, 5>(dst, src, j0),
                6 => colsum_block::<T, 6>(dst, src, j0),
                7 => colsum_block::<T, 7>(dst, src, j0),
                _ => colsum_block::<T, 8>(dst, src, j0),
            }
        }
    }
}

/// [`add_colsum`] on the `NV` 8-lane blocks of columns from `j0`.
#[inline(always)]
fn colsum_block<T: Float, const NV: usize>(dst: &mut [T], src: &[T], j0: usize) {
    let n = dst.len();
    let w = (n - j0).min(NV * lanes::LANES);
    let d = &mut dst[j0..j0 + w];
    let mut acc = [[T::ZERO; lanes::LANES]; NV];
    for (v, a) in acc.iter_mut().enumerate() {
        *a = lanes::load(d, v * lanes::LANES);
    }
    for row in src.chunks_exact(n) {
        let row = &row[j0..j0 + w];
        for (v, a) in acc.iter_mut().enumerate() {
            let x = lanes::load(row, v * lanes::LANES);
            for l in 0..lanes::LANES {
                a[l] += x[l];
            }
        }
    }
    for (v, a) in acc.iter().enumerate() {
        lanes::store(d, v * lanes::LANES, a);
    }
}

/// `dst[j] = sum_i src[i, j]` for a row-major `[rows, n]` src.
pub fn set_colsum<T: Float>(dst: &mut [T], src: &[T]) {
    dst.fill(T::ZERO);
    add_colsum(dst, src);
}

/// Writes `row` into every row of the row-major `dst`.
pub fn fill_rows<T: Float>(dst: &mut [T], row: &[T]) {
    if row.is_empty() {
        return;
    }
    for r in dst.chunks_exact_mut(row.len()) {
        r.copy_from_slice(row);
    }
}

/// `dst += src`, elementwise.
pub fn add_assign<T: Float>(dst: &mut [T], src: &[T]) {
    assert_eq!(dst.len(), src.len());
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

#[cfg(test)]
mod tests;
