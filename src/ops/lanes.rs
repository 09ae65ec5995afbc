//! Blocks of 8 lanes for the elementwise cell kernels.
//!
//! A plain loop over a row of H elements zipped across eight slices does not run vectorized:
//! LLVM versions it behind run-time alias checks between the slices, which fail here (see the
//! profile in the commit that introduced this), so the scalar fallback runs. Copying 8 elements
//! of each operand into local arrays, computing on the arrays, and copying back removes every
//! aliasing question: the arrays are independent values, the copies are single vector loads and
//! stores, and the arithmetic in between is straight 8-wide code. A partial last block is
//! padded with zeros (harmless in every kernel) and only its real lanes are stored.

use crate::float::Float;

/// Lanes per block: one AVX2 register of f32.
pub const LANES: usize = 8;

/// `s[j..j+8]`, zero-padded past the end of `s`.
#[inline(always)]
pub fn load<T: Float>(s: &[T], j: usize) -> [T; LANES] {
    let mut a = [T::ZERO; LANES];
    if j + LANES <= s.len() {
        a.copy_from_slice(&s[j..j + LANES]);
    } else {
        for (x, &v) in a.iter_mut().zip(&s[j..]) {
            *x = v;
        }
    }
    a
}

/// Writes the lanes of `a` that fall inside `s`, from `j`.
#[inline(always)]
pub fn store<T: Float>(s: &mut [T], j: usize, a: &[T; LANES]) {
    if j + LANES <= s.len() {
        s[j..j + LANES].copy_from_slice(a);
    } else {
        for (x, &v) in s[j..].iter_mut().zip(a) {
            *x = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_blocks_pad_and_store_only_real_lanes() {
        let s = [1.0f32, 2.0, 3.0];
        assert_eq!(load(&s, 1), [2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let mut d = [0.0f32; 10];
        store(&mut d, 8, &[5.0; LANES]);
        assert_eq!(d, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 5.0]);
    }
}
