//! The time loop of one recurrent layer over one batch chunk, forward and backward, generic
//! over the cell. Written once; cells only know a step.
//!
//! Forward does the input projection of all T steps in one GEMM (`[T*b, I] x [I, G]`), then one
//! `[b, H] x [H, G]` GEMM and the fused cell pointwise per step. Backward runs the steps in
//! reverse doing only the per-step work that the recurrence forces (cell pointwise and
//! `dh = da W_hh`), and accumulates all weight gradients afterwards in one GEMM each over all
//! steps: `dW_ih += da^T x`, `dW_hh += da^T h_prev`, which works because the hidden states are
//! stored as one `[T+1, b, H]` buffer whose first T slots are exactly the h_prev of every step.
//! When the caller applies the gradients with [`crate::model::Session::update`] and `dW_hh` is
//! a sum of only a few outer products of a large matrix (batch 1, as in the next-word
//! tutorial), backward leaves it as its factors and the optimizer forms it block by block.
//! Nothing is allocated inside the step loops; buffers are resized only when T or b change.
//!
//! Layout is time-major inside a chunk: row `t*b + r` is batch row r at step t.

use crate::cell::{CellKind, gru, lstm, rnn};
use crate::float::Float;
use crate::model::{LayerGrads, LayerParams};
use crate::ops::packed::{Packed, gemm_packed, gemm_packed_bias};
use crate::ops::{
    MatMut, MatRef, add_assign, add_colsum, add_colsum_weighted, fill_rows, gemm, gemm_bias, gemm_bias_sum,
};

/// Per-layer activations of one chunk, kept from forward for backward.
#[derive(Default, Debug)]
pub struct LayerCache<T> {
    pub steps: usize,
    pub rows: usize,
    pub hidden: usize,
    /// `[T, b, G]` preactivations -> activated gates -> preactivation gradients (dgx).
    pub gates: Vec<T>,
    /// `[T+1, b, H]` hidden states; slot 0 is h0, slot t+1 the output of step t.
    pub h: Vec<T>,
    /// `[T+1, b, H]` LSTM cell states, slot 0 is c0 (empty for other cells).
    pub c: Vec<T>,
    /// `[T, b, H]` LSTM: tanh(c'); GRU: gh_n = W_hn h + b_hn (empty for RNN).
    pub aux: Vec<T>,
    /// `[T, b, G]` GRU only: gradients of the hidden projection (differ from dgx in n).
    pub dgh: Vec<T>,
    /// `[b, G]` GRU only: this step's hidden projection.
    pub scratch: Vec<T>,
    /// `[T, b, H]` dL/dh from above (head or next layer), per step.
    pub dh_above: Vec<T>,
    /// `[b, H]` dL/dh through the recurrence; after backward, dL/dh0.
    pub dh_rec: Vec<T>,
    /// `[b, H]` LSTM dL/dc; after backward, dL/dc0.
    pub dc: Vec<T>,
    /// h0 is all zeros (no initial state given): step 0's `h W_hh^T` and its share of
    /// dW_hh are skipped, saving 1/T of the recurrent GEMM work.
    pub h0_zero: bool,
    /// dL/dh0 is wanted; if not, step 0's `da W_hh` is skipped.
    pub need_dh0: bool,
    /// The caller applies the gradients with [`crate::model::Session::update`], so `dW_hh` may
    /// be left as its factors when it is a sum of a few outer products of a large matrix.
    pub defer_allowed: bool,
    /// Set by backward when it left `dW_hh` unformed: it is `sum_q da_q^T h_q` over rows
    /// `first..T b` of the gate gradients (GRU: `dgh`) and of `h`, where this is `Some(first)`.
    pub deferred: Option<usize>,
    /// `[b]` real lengths of padded sequences (empty: none padded). At a step past its end a
    /// row keeps its state (h, c) and passes its gradient straight back, adding nothing.
    pub lengths: Vec<usize>,
    /// `[b, H]` scratch: the gradients padded rows pass back through a step.
    pub pass_h: Vec<T>,
    pub pass_c: Vec<T>,
    /// `[I, G]` and `[H, G]`: W_ih^T and W_hh^T copied row-major when small, so the step
    /// GEMMs run in [`crate::ops::small_gemm`] rather than through the crate's packing.
    pub w_ih_t: Vec<T>,
    pub w_hh_t: Vec<T>,
    /// `[I, G]` dW_ih^T summed step by step in backward, for inputs of few features.
    pub dw_ih_t: Vec<T>,
    /// `[G]` the bias folded into the input projection (b_ih + b_hh; GRU: b_ih).
    pub bias: Vec<T>,
    /// `W_hh^T` (forward) or `W_hh` (backward) packed once per pass for the step products
    /// when a chunk has several rows ([`crate::ops::packed`]); at one row the step is a
    /// matrix-vector product that reads W_hh in place faster than packing it.
    pub packed: Packed,
    /// `W_ih^T` packed for the input projection of all steps, when it has many rows.
    pub packed_ih: Packed,
    /// `[T, b]` token ids, when the input projection comes from [`LayerCache::table`]
    /// instead of a product (empty otherwise).
    pub ids: Vec<u32>,
    /// `[V, G]` every id's input projection with its bias, `E W_ih^T + b` ([`project_table`]).
    pub table: Vec<T>,
    /// `[V, G]` backward's gate gradients summed per id: dL/d`table`.
    pub dtable: Vec<T>,
}

/// `dW_hh` is left as its factors (when allowed) if it sums at most this many outer products
/// (batch rows times steps after the first) ...
const DEFER_MAX_ROWS: usize = 8;
/// ... of a matrix of at least this many elements (256 KiB in f32), where writing it and
/// reading it back costs more than forming it again inside the update.
const DEFER_MIN_SIZE: usize = 1 << 16;

/// Largest input size whose projection (forward) and weight gradient (backward) run step by
/// step (bitcount's 1, addition's 2), on gates in L1, rather than as one product over all
/// steps, which pays off when the products are long.
const STEP_PROJECTION_MAX_INPUT: usize = 8;

/// Fewest rows of an input projection (all steps) worth packing W_ih^T for.
const PACK_MIN_ROWS: usize = 64;

/// Smallest step matrix (elements) worth packing: 64 KiB in f32.
const PACK_MIN: usize = 1 << 14;

/// Largest weight matrix (elements) copied transposed for the step GEMMs: 64 KiB in f32.
const TRANSPOSE_MAX: usize = 1 << 14;

/// `w` (`[rows, cols]`, row-major) as a `[cols, rows]` view: a transposed copy in `buf` when
/// small, else a strided view of `w` itself.
fn transposed<'a, T: Float>(w: &'a [T], rows: usize, cols: usize, buf: &'a mut Vec<T>) -> MatRef<'a, T> {
    if rows * cols > TRANSPOSE_MAX {
        return MatRef::new(w, rows, cols).t();
    }
    buf.resize(rows * cols, T::ZERO);
    for (i, row) in w[..rows * cols].chunks_exact(cols).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            buf[j * rows + i] = v;
        }
    }
    MatRef::new(&buf[..], cols, rows)
}

/// Packs the matrix every step multiplies by, when the chunk has several rows, more than one
/// step will use it, and it is larger than the small matrices the unpacked kernel reads well
/// in place (bitcount's and addition's, where packing measured no faster and its cost
/// showed); otherwise leaves the pack empty (the products then run unpacked).
fn pack_step_matrix<T: Float>(packed: &mut Packed, w: MatRef<T>, rows: usize, steps: usize) {
    if rows > 1 && steps > 1 && w.rows() * w.cols() > PACK_MIN {
        packed.pack(w);
    } else {
        packed.clear();
    }
}

/// Sizes a buffer without touching the elements it keeps: every buffer is written before it
/// is read in a pass (a buffer reused at the same size keeps the last pass's values anyway),
/// so refilling it with zeros when a tile of 62 rows follows one of 63 would be wasted work.
fn resize<T: Float>(v: &mut Vec<T>, n: usize) {
    v.resize(n, T::ZERO);
}

impl<T: Float> LayerCache<T> {
    /// Sizes every buffer for `steps` x `rows` with hidden size `hidden`.
    pub fn prepare(&mut self, cell: CellKind, steps: usize, rows: usize, hidden: usize) {
        let g = cell.gates() * hidden;
        self.steps = steps;
        self.rows = rows;
        self.hidden = hidden;
        resize(&mut self.gates, steps * rows * g);
        resize(&mut self.h, (steps + 1) * rows * hidden);
        let lstm = cell == CellKind::Lstm;
        let gru = cell == CellKind::Gru;
        resize(&mut self.c, if lstm { (steps + 1) * rows * hidden } else { 0 });
        resize(&mut self.aux, if lstm || gru { steps * rows * hidden } else { 0 });
        resize(&mut self.dgh, if gru { steps * rows * g } else { 0 });
        resize(&mut self.scratch, if gru { rows * g } else { 0 });
        resize(&mut self.dh_above, steps * rows * hidden);
        resize(&mut self.dh_rec, rows * hidden);
        resize(&mut self.dc, if lstm { rows * hidden } else { 0 });
    }

    /// `[T, b, H]` outputs of every step (slots 1..=T of `h`).
    pub fn outputs(&self) -> &[T] {
        &self.h[self.rows * self.hidden..]
    }

    /// `[b, H]` output of the last step.
    pub fn last_output(&self) -> &[T] {
        &self.h[self.steps * self.rows * self.hidden..]
    }

    /// The factors of a `dW_hh` that backward left unformed: the gate gradients (GRU: of the
    /// hidden projection) `[K, G]` and the previous hidden states `[K, H]`, whose product
    /// `da^T h` it is.
    pub fn w_hh_factors(&self, cell: CellKind) -> Option<(&[T], &[T])> {
        let first = self.deferred?;
        let (g, tb) = (cell.gates() * self.hidden, self.steps * self.rows);
        let da = if cell == CellKind::Gru { &self.dgh } else { &self.gates };
        Some((&da[first * g..tb * g], &self.h[first * self.hidden..tb * self.hidden]))
    }

    /// [`LayerCache::w_hh_factors`]' gate-gradient factor, mutable (scaling it scales the
    /// pending `dW_hh`).
    pub fn w_hh_factor_da_mut(&mut self, cell: CellKind) -> Option<&mut [T]> {
        let first = self.deferred?;
        let (g, tb) = (cell.gates() * self.hidden, self.steps * self.rows);
        let da = if cell == CellKind::Gru { &mut self.dgh } else { &mut self.gates };
        Some(&mut da[first * g..tb * g])
    }

    /// `[b, H]` final cell state (LSTM).
    pub fn last_cell(&self) -> &[T] {
        &self.c[self.steps * self.rows * self.hidden..]
    }
}

/// The bias folded into the input projection: LSTM/RNN `b_ih + b_hh`; GRU `b_ih` (its
/// `b_hh` goes with the hidden projection, inside `r * (W_hn h + b_hn)`).
fn input_bias<T: Float>(cell: CellKind, p: &LayerParams<T>, bias: &mut Vec<T>) {
    bias.clear();
    if cell == CellKind::Gru {
        bias.extend_from_slice(p.b_ih);
    } else {
        bias.extend(p.b_ih.iter().zip(p.b_hh).map(|(&bi, &bh)| bi + bh));
    }
}

/// For a first layer reading token ids through an embedding `e` (`[V, I]`): every id's input
/// projection, `E W_ih^T + b` (`[V, G]`), into `cache.table`. With far fewer ids than
/// positions (a character model: 65 ids, 3,200 positions a batch), [`forward`] then looks
/// each step's projection up (set `cache.ids`) instead of multiplying, and [`backward`] sums
/// the gate gradients per id into `cache.dtable`, from which the caller forms
/// `dW_ih = dtable^T E` and `dE = dtable W_ih`: three `[T*b, I] x [I, G]`-sized products
/// become three `[V, I] x [I, G]` ones.
pub fn project_table<T: Float>(
    cell: CellKind,
    p: &LayerParams<T>,
    e: &[T],
    input_size: usize,
    cache: &mut LayerCache<T>,
) {
    let g = p.b_ih.len();
    let v = e.len() / input_size;
    input_bias(cell, p, &mut cache.bias);
    resize(&mut cache.table, v * g);
    let w = MatRef::new(p.w_ih, g, input_size).t();
    gemm_bias(MatRef::new(e, v, input_size), w, &cache.bias, MatMut::new(&mut cache.table, v, g));
}

/// Forward over all steps. `x`: `[T, b, I]`. The caller has written h0 (and c0) into slot 0
/// of `cache.h` (`cache.c`) after `prepare`.
pub fn forward<T: Float>(
    cell: CellKind,
    p: &LayerParams<T>,
    x: &[T],
    input_size: usize,
    cache: &mut LayerCache<T>,
) {
    let (steps, rows, hid) = (cache.steps, cache.rows, cache.hidden);
    let g = cell.gates() * hid;
    let tb = steps * rows;
    let bh = rows * hid;
    // Input projection (of all steps at once, or step by step); LSTM/RNN fold both biases in
    // here, GRU keeps b_hh for the hidden projection because r multiplies (W_hn h + b_hn).
    input_bias(cell, p, &mut cache.bias);
    let w_ih_t = transposed(p.w_ih, g, input_size, &mut cache.w_ih_t); // [I, G]
    let w_hh_t = transposed(p.w_hh, g, hid, &mut cache.w_hh_t); // [H, G]
    // Few input features: each step projects its own rows just before its product reads
    // them, from L1; in one pass over all steps, the gates would go out to L2 and back.
    let from_table = !cache.ids.is_empty();
    let per_step = input_size <= STEP_PROJECTION_MAX_INPUT && !from_table;
    if from_table {
        for (row, &id) in cache.gates.chunks_exact_mut(g).zip(&cache.ids) {
            row.copy_from_slice(&cache.table[id as usize * g..][..g]);
        }
    } else if !per_step {
        // W_ih^T packed for the 12-row kernel when there are many rows (mnist: 1792 rows of 28
        // features per thread), else read in place.
        if tb >= PACK_MIN_ROWS {
            cache.packed_ih.pack(w_ih_t);
        } else {
            cache.packed_ih.clear();
        }
        let (xm, out) = (MatRef::new(x, tb, input_size), MatMut::new(&mut cache.gates, tb, g));
        gemm_packed_bias(xm, w_ih_t, &cache.packed_ih, &cache.bias, out);
    }
    pack_step_matrix(&mut cache.packed, w_hh_t, rows, steps);
    let packed = &cache.packed;

    for t in 0..steps {
        let gates = &mut cache.gates[t * rows * g..(t + 1) * rows * g];
        let (h_prev, h_next) = cache.h[t * bh..(t + 2) * bh].split_at_mut(bh);
        let recur = t > 0 || !cache.h0_zero;
        // RNN and LSTM: gates += h W_hh^T (both biases are in the input projection).
        let mut hidden_product = recur && cell != CellKind::Gru;
        if per_step {
            let x_t = MatRef::new(&x[t * rows * input_size..(t + 1) * rows * input_size], rows, input_size);
            let out = MatMut::new(&mut *gates, rows, g);
            if hidden_product && packed.is_empty() {
                // Both products in one pass, the gates held in registers throughout.
                let h = MatRef::new(&*h_prev, rows, hid);
                gemm_bias_sum(x_t, w_ih_t, h, w_hh_t, &cache.bias, out);
                hidden_product = false;
            } else {
                gemm_bias(x_t, w_ih_t, &cache.bias, out);
            }
        }
        if hidden_product {
            let gates = MatMut::new(&mut *gates, rows, g);
            gemm_packed(MatRef::new(h_prev, rows, hid), w_hh_t, packed, T::ONE, gates);
        }
        match cell {
            CellKind::Rnn => rnn::forward_step(gates, h_next),
            CellKind::Lstm => {
                let (c_prev, c_next) = cache.c[t * bh..(t + 2) * bh].split_at_mut(bh);
                let tanh_c = &mut cache.aux[t * bh..(t + 1) * bh];
                lstm::forward_step(hid, gates, c_prev, c_next, tanh_c, h_next);
            }
            CellKind::Gru => {
                fill_rows(&mut cache.scratch, p.b_hh);
                if recur {
                    let scratch = MatMut::new(&mut cache.scratch, rows, g);
                    gemm_packed(MatRef::new(h_prev, rows, hid), w_hh_t, packed, T::ONE, scratch);
                }
                let ghn = &mut cache.aux[t * bh..(t + 1) * bh];
                gru::forward_step(hid, gates, &cache.scratch, ghn, h_prev, h_next);
            }
        }
        // Rows past their sequence's end keep their state.
        for (r, _) in cache.lengths.iter().enumerate().filter(|(_, n)| **n <= t) {
            let row = r * hid..(r + 1) * hid;
            cache.h.copy_within(t * bh + row.start..t * bh + row.end, (t + 1) * bh + row.start);
            if cell == CellKind::Lstm {
                cache.c.copy_within(t * bh + row.start..t * bh + row.end, (t + 1) * bh + row.start);
            }
        }
    }
}

/// Backward over all steps, after [`forward`] on the same cache. Reads `cache.dh_above`;
/// writes (not adds) this chunk's gradients into `grads`, each tensor once, summed over all
/// steps by the GEMMs; writes dL/dx (`[T, b, I]`) into `dx` when given. Afterwards
/// `cache.dh_rec` holds dL/dh0 and `cache.dc` dL/dc0. Destroys the forward cache.
pub fn backward<T: Float>(
    cell: CellKind,
    p: &LayerParams<T>,
    x: &[T],
    input_size: usize,
    cache: &mut LayerCache<T>,
    grads: &mut LayerGrads<T>,
    dx: Option<&mut [T]>,
) {
    let (steps, rows, hid) = (cache.steps, cache.rows, cache.hidden);
    let g = cell.gates() * hid;
    let tb = steps * rows;
    let bh = rows * hid;
    let bg = rows * g;
    let w_hh = MatRef::new(p.w_hh, g, hid); // [G, H]
    pack_step_matrix(&mut cache.packed, w_hh, rows, steps);
    let packed = &cache.packed;
    cache.dh_rec.fill(T::ZERO);
    cache.dc.fill(T::ZERO);
    // Bias gradients: each step's column sums, added while its gate gradients are in cache;
    // with few input features, dW_ih^T = sum_t x_t^T da_t likewise, one feature at a time.
    grads.b_ih.fill(T::ZERO);
    grads.b_hh.fill(T::ZERO);
    let from_table = !cache.ids.is_empty();
    let per_step = input_size <= STEP_PROJECTION_MAX_INPUT && !from_table;
    cache.dw_ih_t.clear();
    cache.dw_ih_t.resize(if per_step { input_size * g } else { 0 }, T::ZERO);

    for t in (0..steps).rev() {
        let gates = &mut cache.gates[t * bg..(t + 1) * bg];
        let dh_above = &cache.dh_above[t * bh..(t + 1) * bh];
        // dL/dh0 is only computed when asked for; otherwise dh_rec is stale after the loop.
        let recur = t > 0 || cache.need_dh0;
        // Padded rows at this step: save the gradient they pass straight back.
        let padded = cache.lengths.iter().any(|&n| n <= t);
        if padded {
            cache.pass_h.resize(bh, T::ZERO);
            cache.pass_c.resize(if cell == CellKind::Lstm { bh } else { 0 }, T::ZERO);
            for (r, _) in cache.lengths.iter().enumerate().filter(|(_, n)| **n <= t) {
                for j in r * hid..(r + 1) * hid {
                    cache.pass_h[j] = cache.dh_above[t * bh + j] + cache.dh_rec[j];
                    if cell == CellKind::Lstm {
                        cache.pass_c[j] = cache.dc[j];
                    }
                }
            }
        }
        match cell {
            CellKind::Rnn => {
                let h = &cache.h[(t + 1) * bh..(t + 2) * bh];
                rnn::backward_step(h, dh_above, &cache.dh_rec, gates);
                if recur {
                    let dh_rec = MatMut::new(&mut cache.dh_rec, rows, hid);
                    gemm_packed(MatRef::new(gates, rows, g), w_hh, packed, T::ZERO, dh_rec);
                }
            }
            CellKind::Lstm => {
                let c_prev = &cache.c[t * bh..(t + 1) * bh];
                let tanh_c = &cache.aux[t * bh..(t + 1) * bh];
                lstm::backward_step(hid, gates, c_prev, tanh_c, dh_above, &cache.dh_rec, &mut cache.dc);
                if recur {
                    let dh_rec = MatMut::new(&mut cache.dh_rec, rows, hid);
                    gemm_packed(MatRef::new(gates, rows, g), w_hh, packed, T::ZERO, dh_rec);
                }
            }
            CellKind::Gru => {
                let dgh = &mut cache.dgh[t * bg..(t + 1) * bg];
                let ghn = &cache.aux[t * bh..(t + 1) * bh];
                let h_prev = &cache.h[t * bh..(t + 1) * bh];
                gru::backward_step(hid, gates, dgh, ghn, h_prev, dh_above, &mut cache.dh_rec);
                if recur {
                    let dh_rec = MatMut::new(&mut cache.dh_rec, rows, hid);
                    gemm_packed(MatRef::new(dgh, rows, g), w_hh, packed, T::ONE, dh_rec);
                }
            }
        }
        if padded {
            // Padded rows: no gate gradients; dL/dh and dL/dc pass straight back.
            for (r, _) in cache.lengths.iter().enumerate().filter(|(_, n)| **n <= t) {
                cache.gates[t * bg + r * g..t * bg + (r + 1) * g].fill(T::ZERO);
                if cell == CellKind::Gru {
                    cache.dgh[t * bg + r * g..t * bg + (r + 1) * g].fill(T::ZERO);
                }
                let row = r * hid..(r + 1) * hid;
                cache.dh_rec[row.clone()].copy_from_slice(&cache.pass_h[row.clone()]);
                if cell == CellKind::Lstm {
                    cache.dc[row.clone()].copy_from_slice(&cache.pass_c[row]);
                }
            }
        }
        add_colsum(grads.b_ih, &cache.gates[t * bg..(t + 1) * bg]);
        if per_step {
            let x_t = &x[t * rows * input_size..(t + 1) * rows * input_size];
            for (i, dw) in cache.dw_ih_t.chunks_exact_mut(g).enumerate() {
                add_colsum_weighted(dw, &cache.gates[t * bg..(t + 1) * bg], &x_t[i..], input_size);
            }
        }
        if cell == CellKind::Gru {
            add_colsum(grads.b_hh, &cache.dgh[t * bg..(t + 1) * bg]);
        }
    }

    // Weight gradients over all steps at once.
    let dgx = MatRef::new(&cache.gates, tb, g);
    let dgh_buf: &[T] = if cell == CellKind::Gru { &cache.dgh } else { &cache.gates };
    if from_table {
        // dL/dtable[id] = the gate gradients of the positions holding that id; `dW_ih` and
        // `dx` are the caller's to form from it.
        cache.dtable.clear();
        cache.dtable.resize(cache.table.len(), T::ZERO);
        for (row, &id) in cache.gates.chunks_exact(g).zip(&cache.ids) {
            add_assign(&mut cache.dtable[id as usize * g..][..g], row);
        }
    } else if per_step {
        for (i, col) in cache.dw_ih_t.chunks_exact(g).enumerate() {
            for (j, &v) in col.iter().enumerate() {
                grads.w_ih[j * input_size + i] = v;
            }
        }
    } else {
        gemm(
            T::ONE,
            dgx.t(),
            MatRef::new(x, tb, input_size),
            T::ZERO,
            MatMut::new(grads.w_ih, g, input_size),
        );
    }
    // dW_hh = sum over steps of da_t^T h_{t-1}; with h0 = 0, step 0 adds nothing.
    let first = if cache.h0_zero { rows } else { 0 };
    cache.deferred = None;
    if cache.defer_allowed && tb - first <= DEFER_MAX_ROWS && g * hid >= DEFER_MIN_SIZE {
        cache.deferred = Some(first);
    } else {
        let dgh = MatRef::new(&dgh_buf[first * g..], tb - first, g);
        let h_prev = MatRef::new(&cache.h[first * hid..tb * hid], tb - first, hid);
        gemm(T::ONE, dgh.t(), h_prev, T::ZERO, MatMut::new(grads.w_hh, g, hid));
    }
    if cell != CellKind::Gru {
        // Both biases enter the same preactivation: their gradients are equal.
        grads.b_hh.copy_from_slice(grads.b_ih);
    }
    if let Some(dx) = dx.filter(|_| !from_table) {
        gemm(T::ONE, dgx, MatRef::new(p.w_ih, g, input_size), T::ZERO, MatMut::new(dx, tb, input_size));
    }
}
