//! Bidirectional layers (PyTorch's `bidirectional=True`): the reverse direction runs the same
//! time loop on each row's input reversed within its real length (padded steps stay in
//! place, where the state is kept), and a layer's output is `[forward | reverse]` at each step.
//! These are the index maps between the two directions' buffers.

use crate::float::Float;
use crate::ops::add_assign;

/// Calls `f(t, r, s)` for every step t and row r of a `[T, b, ..]` chunk, with `s` the
/// reverse direction's step that reads step t: a row of real length n runs t = n-1, ..., 0 as
/// s = 0, ..., n-1, and its padded steps t >= n stay in place (where the state is kept). The
/// map is its own inverse.
fn for_each_reversed(
    steps: usize,
    rows: usize,
    lens: Option<&[usize]>,
    mut f: impl FnMut(usize, usize, usize),
) {
    for r in 0..rows {
        let n = lens.map_or(steps, |l| l[r]);
        for t in 0..steps {
            f(t, r, if t < n { n - 1 - t } else { t });
        }
    }
}

/// `dst[s, r] = src[t, r]` over `[T, b, n]` time-major buffers: each row's real steps
/// reversed, so the reverse direction runs the same time loop (padding included).
pub(super) fn reverse_time<T: Float>(
    src: &[T],
    dst: &mut [T],
    steps: usize,
    rows: usize,
    n: usize,
    lens: Option<&[usize]>,
) {
    for_each_reversed(steps, rows, lens, |t, r, s| {
        dst[(s * rows + r) * n..][..n].copy_from_slice(&src[(t * rows + r) * n..][..n]);
    });
}

/// `dst[t, r] += src[s, r]`: the reverse direction's input gradient, back in time order,
/// added to the forward direction's.
pub(super) fn add_reversed<T: Float>(
    src: &[T],
    dst: &mut [T],
    steps: usize,
    rows: usize,
    n: usize,
    lens: Option<&[usize]>,
) {
    for_each_reversed(steps, rows, lens, |t, r, s| {
        add_assign(&mut dst[(t * rows + r) * n..][..n], &src[(s * rows + r) * n..][..n]);
    });
}

/// `cat[t, r] = [fwd[t, r] | rev[s, r]]`: `[T, b, 2H]` from two `[T, b, H]`.
pub(super) fn concat_directions<T: Float>(
    fwd: &[T],
    rev: &[T],
    cat: &mut [T],
    steps: usize,
    rows: usize,
    hid: usize,
    lens: Option<&[usize]>,
) {
    for_each_reversed(steps, rows, lens, |t, r, s| {
        let dst = &mut cat[(t * rows + r) * 2 * hid..][..2 * hid];
        dst[..hid].copy_from_slice(&fwd[(t * rows + r) * hid..][..hid]);
        dst[hid..].copy_from_slice(&rev[(s * rows + r) * hid..][..hid]);
    });
}

/// The inverse of [`concat_directions`], for gradients: `dcat` `[T, b, 2H]` into each
/// direction's `[T, b, H]` dL/dh in its own step order.
pub(super) fn split_directions<T: Float>(
    dcat: &[T],
    fwd: &mut [T],
    rev: &mut [T],
    steps: usize,
    rows: usize,
    hid: usize,
    lens: Option<&[usize]>,
) {
    for_each_reversed(steps, rows, lens, |t, r, s| {
        let src = &dcat[(t * rows + r) * 2 * hid..][..2 * hid];
        fwd[(t * rows + r) * hid..][..hid].copy_from_slice(&src[..hid]);
        rev[(s * rows + r) * hid..][..hid].copy_from_slice(&src[hid..]);
    });
}
