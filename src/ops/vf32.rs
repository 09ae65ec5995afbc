//! Explicit f32 SIMD vectors for the hot elementwise kernels: one small trait, [`V`],
//! implemented for AVX2+FMA (`__m256`, 8 lanes) and AVX-512F (`__m512`, 16 lanes), and `exp`,
//! `sigmoid` and `tanh` written once against it.
//!
//! Why not the autovectorized [`crate::ops::act`] versions: inside an LSTM step LLVM keeps
//! them unfused (no FMA), divides five times per cell, and spills its constants, so the
//! pointwise work cost as much as the recurrent GEMM (bitcount, H=24). Here every
//! multiply-add is one FMA, `1/d` is the hardware reciprocal estimate refined by one Newton
//! step (relative error ~2^-23 after it for AVX2's 12-bit estimate, less for AVX-512's
//! 14-bit one), and the exponent is scaled in with integer arithmetic (AVX2) or `vscalefps`.
//! The results are within a few ulp of the scalar versions (tests below), which is far inside
//! the 1e-5 the f32 PyTorch goldens are held to; the f64 path never comes here.
//!
//! Everything is `#[inline(always)]` and only called from functions compiled with the
//! matching `#[target_feature]`, which the callers guarantee by checking the CPU first.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A SIMD vector of `N` f32 lanes. Unsafe methods: the caller must run on a CPU with the
/// implementing type's features, and the pointers must be valid for `n` (or `N`) floats.
#[allow(clippy::missing_safety_doc)]
pub trait V: Copy {
    const N: usize;
    unsafe fn splat(x: f32) -> Self;
    /// Loads `n <= N` floats, zero in the other lanes.
    unsafe fn load(p: *const f32, n: usize) -> Self;
    /// Stores the first `n <= N` lanes.
    unsafe fn store(self, p: *mut f32, n: usize);
    /// Lanes `0..m` from `a[0..m]` and lanes `m..n` from `b[0..n-m]` (`0 < m <= n <= N`),
    /// zero in the others: a vector of cells that straddles two rows (the end of one at `a`,
    /// the start of the next at `b`). Only those floats are read. For store forwarding, the
    /// masked accesses span the `N` floats that end at `a + m` and the `N` that start at `b`.
    unsafe fn load_split(a: *const f32, b: *const f32, m: usize, n: usize) -> Self;
    /// Stores lanes `0..m` to `a[0..m]` and lanes `m..n` to `b[0..n-m]` (as
    /// [`V::load_split`]); nothing else is written. The masked accesses span the `N` floats
    /// that start at `a` and the `N` that start at `b`.
    unsafe fn store_split(self, a: *mut f32, b: *mut f32, m: usize, n: usize);
    unsafe fn add(self, b: Self) -> Self;
    unsafe fn sub(self, b: Self) -> Self;
    unsafe fn mul(self, b: Self) -> Self;
    /// `self * b + c`, one rounding.
    unsafe fn fma(self, b: Self, c: Self) -> Self;
    /// `c - self * b`, one rounding.
    unsafe fn fnma(self, b: Self, c: Self) -> Self;
    /// `min(self, b)`, returning `self` when it is NaN (so NaN propagates when `b` is a constant).
    unsafe fn min_nan(self, b: Self) -> Self;
    /// `max(self, b)`, returning `self` when it is NaN.
    unsafe fn max_nan(self, b: Self) -> Self;
    /// Round to the nearest integer (ties to even).
    unsafe fn round(self) -> Self;
    /// `self * 2^n` for integral `n` with |n| <= 128.
    unsafe fn scale2(self, n: Self) -> Self;
    /// Reciprocal estimate (relative error <= 1.5 * 2^-12).
    unsafe fn rcp_est(self) -> Self;
    /// The sum of the lanes (in a fixed order).
    unsafe fn hsum(self) -> f32;

    /// `|self|`.
    unsafe fn abs(self) -> Self;
    /// `self` (>= 0) with the sign bit of `s`.
    unsafe fn with_sign_of(self, s: Self) -> Self;
    /// Lanes where `x < t` take `a`, the others `b`.
    unsafe fn select_lt(x: Self, t: Self, a: Self, b: Self) -> Self;
}

/// Lanes `0..n` set, for AVX's masked loads and stores (which never touch masked-off memory).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn mask8(n: usize) -> __m256i {
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
}

/// Lanes `lo..hi` set (`lo <= hi <= 8`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn mask8_range(lo: usize, hi: usize) -> __m256i {
    unsafe { _mm256_andnot_si256(mask8(lo), mask8(hi)) }
}

/// Lanes `lo..hi` set (`lo <= hi <= 16`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mask16_range(lo: usize, hi: usize) -> u16 {
    (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as u16
}

#[cfg(target_arch = "x86_64")]
impl V for __m256 {
    const N: usize = 8;
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32, n: usize) -> Self {
        unsafe { if n == 8 { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, mask8(n)) } }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, n: usize) {
        unsafe { if n == 8 { _mm256_storeu_ps(p, self) } else { _mm256_maskstore_ps(p, mask8(n), self) } }
    }
    #[inline(always)]
    unsafe fn load_split(a: *const f32, b: *const f32, m: usize, n: usize) -> Self {
        // SAFETY: the caller's contract (AVX2, `a[0..m]` and `b[0..n-m]` readable). The
        // first load's lanes 8-m..8 are `a[0..m]` (its base, `a - (8-m)`, is only formed, with
        // wrapping_sub); the second's lanes 0..n-m are `b[0..n-m]`; vmaskmovps neither reads
        // nor faults on the other lanes. Each is then rotated into place: lane l takes lane
        // (l + 8 - m) mod 8, which is a[l] for l < m and b[l - m] for l >= m.
        unsafe {
            let lo = _mm256_maskload_ps(a.wrapping_sub(8 - m), mask8_range(8 - m, 8));
            let hi = _mm256_maskload_ps(b, mask8(n - m));
            let idx = _mm256_add_epi32(
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                _mm256_set1_epi32((8 - m) as i32),
            );
            let (lo, hi) = (_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx));
            _mm256_blendv_ps(hi, lo, _mm256_castsi256_ps(mask8(m)))
        }
    }
    #[inline(always)]
    unsafe fn store_split(self, a: *mut f32, b: *mut f32, m: usize, n: usize) {
        // SAFETY: the caller's contract (AVX2, `a[0..m]` and `b[0..n-m]` writable);
        // vmaskmovps writes only the set lanes: lanes 0..m to a, and lanes m..n, rotated down
        // to 0..n-m, to b.
        unsafe {
            _mm256_maskstore_ps(a, mask8(m), self);
            let idx =
                _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(m as i32));
            _mm256_maskstore_ps(b, mask8(n - m), _mm256_permutevar8x32_ps(self, idx));
        }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm256_add_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        unsafe { _mm256_sub_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        unsafe { _mm256_mul_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        unsafe { _mm256_fmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn fnma(self, b: Self, c: Self) -> Self {
        unsafe { _mm256_fnmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn min_nan(self, b: Self) -> Self {
        // minps returns its second operand when either is NaN.
        unsafe { _mm256_min_ps(b, self) }
    }
    #[inline(always)]
    unsafe fn max_nan(self, b: Self) -> Self {
        unsafe { _mm256_max_ps(b, self) }
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self) }
    }
    #[inline(always)]
    unsafe fn scale2(self, n: Self) -> Self {
        // 2^n built in the exponent field; n in [-126, 127] after exp's clamp.
        unsafe {
            let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
            _mm256_mul_ps(self, _mm256_castsi256_ps(e))
        }
    }
    #[inline(always)]
    unsafe fn rcp_est(self) -> Self {
        unsafe { _mm256_rcp_ps(self) }
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        unsafe {
            let x = _mm_add_ps(_mm256_castps256_ps128(self), _mm256_extractf128_ps::<1>(self));
            let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
            _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)))
        }
    }

    #[inline(always)]
    unsafe fn abs(self) -> Self {
        unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), self) }
    }
    #[inline(always)]
    unsafe fn with_sign_of(self, s: Self) -> Self {
        unsafe { _mm256_or_ps(self, _mm256_and_ps(s, _mm256_set1_ps(-0.0))) }
    }
    #[inline(always)]
    unsafe fn select_lt(x: Self, t: Self, a: Self, b: Self) -> Self {
        unsafe { _mm256_blendv_ps(b, a, _mm256_cmp_ps::<_CMP_LT_OQ>(x, t)) }
    }
}

#[cfg(target_arch = "x86_64")]
impl V for __m512 {
    const N: usize = 16;
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32, n: usize) -> Self {
        unsafe {
            if n == 16 { _mm512_loadu_ps(p) } else { _mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p) }
        }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, n: usize) {
        unsafe {
            if n == 16 {
                _mm512_storeu_ps(p, self)
            } else {
                _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as u16, self)
            }
        }
    }
    #[inline(always)]
    unsafe fn load_split(a: *const f32, b: *const f32, m: usize, n: usize) -> Self {
        // SAFETY: the caller's contract (AVX-512F, `a[0..m]` and `b[0..n-m]` readable). The
        // first load's lanes 16-m..16 are `a[0..m]` (its base, `a - (16-m)`, is only formed,
        // with wrapping_sub); the second's lanes 0..n-m are `b[0..n-m]`; masked-off lanes are
        // neither read nor faulted on. vpermt2ps then picks lane l + 16 - m of (lo, hi):
        // lo[l + 16 - m] = a[l] for l < m, hi[l - m] = b[l - m] for l >= m.
        unsafe {
            let lo = _mm512_maskz_loadu_ps(mask16_range(16 - m, 16), a.wrapping_sub(16 - m));
            let hi = _mm512_maskz_loadu_ps(mask16_range(0, n - m), b);
            let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            let idx = _mm512_add_epi32(iota, _mm512_set1_epi32((16 - m) as i32));
            _mm512_permutex2var_ps(lo, idx, hi)
        }
    }
    #[inline(always)]
    unsafe fn store_split(self, a: *mut f32, b: *mut f32, m: usize, n: usize) {
        // SAFETY: the caller's contract (AVX-512F, `a[0..m]` and `b[0..n-m]` writable); only
        // the set lanes are written: lanes 0..m to a, and lanes m..n, moved down to 0..n-m, to b.
        unsafe {
            _mm512_mask_storeu_ps(a, mask16_range(0, m), self);
            let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            let idx = _mm512_add_epi32(iota, _mm512_set1_epi32(m as i32));
            _mm512_mask_storeu_ps(b, mask16_range(0, n - m), _mm512_permutexvar_ps(idx, self));
        }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm512_add_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        unsafe { _mm512_sub_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        unsafe { _mm512_mul_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        unsafe { _mm512_fmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn fnma(self, b: Self, c: Self) -> Self {
        unsafe { _mm512_fnmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn min_nan(self, b: Self) -> Self {
        unsafe { _mm512_min_ps(b, self) }
    }
    #[inline(always)]
    unsafe fn max_nan(self, b: Self) -> Self {
        unsafe { _mm512_max_ps(b, self) }
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self) }
    }
    #[inline(always)]
    unsafe fn scale2(self, n: Self) -> Self {
        unsafe { _mm512_scalef_ps(self, n) }
    }
    #[inline(always)]
    unsafe fn rcp_est(self) -> Self {
        unsafe { _mm512_rcp14_ps(self) }
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        unsafe { _mm512_reduce_add_ps(self) }
    }

    #[inline(always)]
    unsafe fn abs(self) -> Self {
        unsafe { _mm512_abs_ps(self) }
    }
    #[inline(always)]
    unsafe fn with_sign_of(self, s: Self) -> Self {
        unsafe {
            let sign = _mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32(i32::MIN));
            _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(self), sign))
        }
    }
    #[inline(always)]
    unsafe fn select_lt(x: Self, t: Self, a: Self, b: Self) -> Self {
        unsafe { _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, t), b, a) }
    }
}

/// e^x, saturating at e^±88.3 (as [`crate::ops::act::exp_f32`], Cephes' polynomial).
///
/// # Safety
/// Callable only from code compiled with `W`'s target features, on a CPU that has them.
#[inline(always)]
pub unsafe fn exp<W: V>(x: W) -> W {
    unsafe {
        let x = x.min_nan(W::splat(88.3)).max_nan(W::splat(-87.3));
        let n = x.mul(W::splat(std::f32::consts::LOG2_E)).round();
        let r = n.fnma(W::splat(0.693_359_4), x);
        let r = n.fnma(W::splat(-2.121_944_4e-4), r);
        let mut p = W::splat(1.987_569_1e-4);
        p = p.fma(r, W::splat(1.398_199_9e-3));
        p = p.fma(r, W::splat(8.333_452e-3));
        p = p.fma(r, W::splat(4.166_579_6e-2));
        p = p.fma(r, W::splat(1.666_666_5e-1));
        p = p.fma(r, W::splat(0.5));
        let y = p.fma(r.mul(r), r.add(W::splat(1.0)));
        y.scale2(n)
    }
}

/// `1 / d` for d > 0 (finite): the estimate refined by one Newton step.
#[inline(always)]
unsafe fn recip<W: V>(d: W) -> W {
    unsafe {
        let r = d.rcp_est();
        let e = d.fnma(r, W::splat(1.0)); // 1 - d r
        r.fma(e, r)
    }
}

/// σ(x) = 1 / (1 + e^-x).
///
/// # Safety
/// As [`exp`].
#[inline(always)]
pub unsafe fn sigmoid<W: V>(x: W) -> W {
    unsafe { recip(exp(W::splat(0.0).sub(x)).add(W::splat(1.0))) }
}

/// tanh(x) = sign(x) (1 - 2 / (e^2|x| + 1)) (odd, so it saturates to exactly ±1), and an odd
/// Taylor polynomial for |x| < 1/16 where that would lose relative precision.
///
/// # Safety
/// As [`exp`].
#[inline(always)]
pub unsafe fn tanh<W: V>(x: W) -> W {
    unsafe {
        let ax = x.abs();
        let e = exp(ax.add(ax));
        let big = recip(e.add(W::splat(1.0))).fnma(W::splat(2.0), W::splat(1.0)).with_sign_of(x);
        let x2 = x.mul(x);
        let small = x2.fma(W::splat(2.0 / 15.0), W::splat(-1.0 / 3.0)).fma(x2, W::splat(1.0)).mul(x);
        W::select_lt(ax, W::splat(0.0625), small, big)
    }
}

/// Whether `T` is f32 (the generic float code dispatches its f32 case to these kernels).
pub fn is_f32<T: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
}

/// `s` as `&mut [f32]` when `T` is f32.
pub fn as_f32<T: 'static>(s: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: T is f32 (same type, so same layout and validity).
    is_f32::<T>().then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) })
}

/// `s` as `&[f32]`; T must be f32.
pub fn as_f32_ref<T: 'static>(s: &[T]) -> &[f32] {
    assert!(is_f32::<T>(), "as_f32_ref on a non-f32 slice");
    // SAFETY: T is f32, checked above.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) }
}

/// Which explicit SIMD width this CPU runs, if any (narrowest first, so `min` narrows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Width {
    None,
    Avx2,
    Avx512,
}

/// The widest supported of [`Width`], narrowed by the environment variable
/// `RECUR_SIMD=avx512|avx2|none` when set (read once; it can only narrow, never enable a
/// width the CPU lacks). `avx2` runs the 8-lane kernels on an AVX-512 machine (for valgrind,
/// which has no AVX-512, or to compare); `none` runs the plain-Rust and `gemm`-crate paths.
#[inline]
pub fn width() -> Width {
    static W: std::sync::OnceLock<Width> = std::sync::OnceLock::new();
    *W.get_or_init(|| {
        let var = std::env::var("RECUR_SIMD").ok();
        detected().min(cap(var.as_deref()))
    })
}

/// The widest width `RECUR_SIMD` allows: `none`, `avx2`, else (unset, `avx512`, anything else)
/// no limit.
fn cap(var: Option<&str>) -> Width {
    match var.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("none") => Width::None,
        Some("avx2") => Width::Avx2,
        _ => Width::Avx512,
    }
}

/// What the CPU supports. AVX-512 counts only with AVX2+FMA too, since its kernels are
/// compiled with all three enabled (every AVX-512 CPU has them, but a VM may mask features).
fn detected() -> Width {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::ops::has_avx2() {
            return if std::is_x86_feature_detected!("avx512f") { Width::Avx512 } else { Width::Avx2 };
        }
    }
    Width::None
}

/// The explicit widths this run can test: AVX-512 and AVX2, each if [`width`] allows it.
#[cfg(test)]
pub(crate) fn test_widths() -> Vec<Width> {
    [Width::Avx512, Width::Avx2].into_iter().filter(|&w| w <= width()).collect()
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    fn sweep() -> Vec<f32> {
        (-200_000..=200_000).map(|i| i as f32 * 1e-4).chain([-80.0, 80.0, 1e-8, -1e-8, 1e-30]).collect()
    }

    /// Applies `f` over `xs` with vector type W (`N` lanes at a time, a partial tail).
    unsafe fn apply<W: V>(xs: &[f32], f: impl Fn(W) -> W) -> Vec<f32> {
        let mut out = vec![0.0; xs.len()];
        for (i, o) in xs.chunks(W::N).zip(out.chunks_mut(W::N)) {
            unsafe { f(W::load(i.as_ptr(), i.len())).store(o.as_mut_ptr(), o.len()) };
        }
        out
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn all256(xs: &[f32]) -> [Vec<f32>; 3] {
        unsafe {
            [
                apply::<__m256>(xs, |x| exp(x)),
                apply::<__m256>(xs, |x| sigmoid(x)),
                apply::<__m256>(xs, |x| tanh(x)),
            ]
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn all512(xs: &[f32]) -> [Vec<f32>; 3] {
        unsafe {
            [
                apply::<__m512>(xs, |x| exp(x)),
                apply::<__m512>(xs, |x| sigmoid(x)),
                apply::<__m512>(xs, |x| tanh(x)),
            ]
        }
    }

    fn check(name: &str, [e, s, t]: [Vec<f32>; 3], xs: &[f32]) {
        let (mut we, mut ws, mut wt) = (0.0f64, 0.0f64, 0.0f64);
        for (i, &x) in xs.iter().enumerate() {
            let xd = x as f64;
            we = we.max(((e[i] as f64 - xd.exp()) / xd.exp()).abs());
            ws = ws.max((s[i] as f64 - 1.0 / (1.0 + (-xd).exp())).abs());
            wt = wt.max((t[i] as f64 - xd.tanh()).abs());
            if xd.abs() < 0.0625 && xd != 0.0 {
                assert!(((t[i] as f64 - xd.tanh()) / xd.tanh()).abs() < 2e-7, "{name} tanh({x}) = {}", t[i]);
            }
        }
        assert!(we < 4e-7, "{name}: exp max relative error {we}");
        assert!(ws < 2e-7, "{name}: sigmoid max abs error {ws}");
        assert!(wt < 2.5e-7, "{name}: tanh max abs error {wt}");
    }

    fn special(name: &str, [e, s, t]: [Vec<f32>; 3]) {
        // inputs: NaN, 100, -100, 1000, -1000
        assert!(e[0].is_nan() && s[0].is_nan() && t[0].is_nan(), "{name}: NaN must propagate");
        assert_eq!((t[1], t[2], t[3], t[4]), (1.0, -1.0, 1.0, -1.0), "{name}: tanh saturates");
        assert!(
            1.0 - s[1] < 1.2e-7 && s[2] >= 0.0 && s[2] < 1e-37 && 1.0 - s[3] < 1.2e-7 && s[4] >= 0.0,
            "{name}: {s:?}"
        );
        assert!(e[3].is_finite() && e[4] >= 0.0, "{name}: {e:?}");
    }

    /// [`V::load_split`] / [`V::store_split`] for every `0 < m <= n <= N`: lanes `0..m` come
    /// from (go to) `a`, lanes `m..n` from (to) `b`, the others load as 0 (are not written).
    /// The sources are exactly as long as read (own allocations), the destinations have a
    /// guard on each side.
    #[inline(always)]
    unsafe fn split_roundtrip<W: V>() {
        const GUARD: f32 = 12345.0;
        for n in 1..=W::N {
            for m in 1..=n {
                let a: Vec<f32> = (0..m).map(|l| 100.0 + l as f32).collect();
                let b: Vec<f32> = (m..n).map(|l| 200.0 + l as f32).collect();
                let mut out = vec![f32::NAN; W::N];
                let (mut da, mut db) = (vec![GUARD; m + 2], vec![GUARD; n - m + 2]);
                // SAFETY: the caller runs with W's features; `a` and `b` hold the m and n - m
                // floats read, `da[1..]` and `db[1..]` the m and n - m written.
                unsafe {
                    let v = W::load_split(a.as_ptr(), b.as_ptr(), m, n);
                    v.store(out.as_mut_ptr(), W::N);
                    v.store_split(da.as_mut_ptr().add(1), db.as_mut_ptr().add(1), m, n);
                }
                let tag = format!("N={} m={m} n={n}", W::N);
                for (l, &x) in out.iter().enumerate() {
                    let want = if l < m {
                        a[l]
                    } else if l < n {
                        b[l - m]
                    } else {
                        0.0
                    };
                    assert_eq!(x.to_bits(), want.to_bits(), "{tag} lane {l}");
                }
                assert_eq!(&da[1..=m], &a[..], "{tag}");
                assert_eq!(&db[1..=n - m], &b[..], "{tag}");
                for (what, d) in [("a", &da), ("b", &db)] {
                    assert!(d[0] == GUARD && d[d.len() - 1] == GUARD, "{tag}: wrote outside {what}");
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn split256() {
        unsafe { split_roundtrip::<__m256>() }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn split512() {
        unsafe { split_roundtrip::<__m512>() }
    }

    #[test]
    fn split_loads_and_stores() {
        for w in test_widths() {
            // SAFETY: `test_widths` lists only widths this CPU runs.
            match w {
                Width::Avx2 => unsafe { split256() },
                Width::Avx512 => unsafe { split512() },
                Width::None => {}
            }
        }
    }

    #[test]
    fn recur_simd_only_narrows() {
        assert_eq!(cap(None), Width::Avx512);
        assert_eq!(cap(Some("AVX2")), Width::Avx2);
        assert_eq!(cap(Some(" none ")), Width::None);
        assert_eq!(cap(Some("avx512")), Width::Avx512);
        assert_eq!(cap(Some("sse9")), Width::Avx512);
        assert!(width() <= detected());
    }

    #[test]
    fn avx2_activations_match_f64() {
        if !crate::ops::has_avx2() {
            return;
        }
        let xs = sweep();
        check("avx2", unsafe { all256(&xs) }, &xs);
        special("avx2", unsafe { all256(&[f32::NAN, 100.0, -100.0, 1000.0, -1000.0]) });
    }

    #[test]
    fn avx512_activations_match_f64() {
        if width() != Width::Avx512 {
            return;
        }
        let xs = sweep();
        check("avx512", unsafe { all512(&xs) }, &xs);
        special("avx512", unsafe { all512(&[f32::NAN, 100.0, -100.0, 1000.0, -1000.0]) });
    }
}
