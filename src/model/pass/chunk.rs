//! One thread's share of a pass: forward through every layer, the head and the loss, and
//! backward through all of it, on a contiguous chunk of batch rows, with buffers that persist
//! from step to step. [`super::Session`] cuts batches into chunks and combines their results.

use super::bidirectional::{add_reversed, concat_directions, reverse_time, split_directions};
use crate::float::Float;
use crate::model::layer::{self, LayerCache};
use crate::model::loss::{self, LossKind, LossSum};
use crate::model::pass::{Seqs, State, Targets};
use crate::model::{HeadKind, Model, ModelConfig, split, split_mut};
use crate::ops::{MatMut, MatRef, add_assign, add_colsum, fill_rows, gemm, set_colsum};

/// One thread's buffers, reused from step to step.
#[derive(Default, Debug)]
pub struct Workspace<T> {
    pub(crate) x: Vec<T>,                  // [T, b, I] time-major input chunk
    pub(crate) layers: Vec<LayerCache<T>>, // one per unit (layer k, direction d: k * D + d)
    pub(crate) logits: Vec<T>,             // [b, C] or [T, b, C]; dlogits after the loss
    pub(crate) classes: Vec<u32>,          // [b] or [T, b] targets, time-major
    pub(crate) dense: Vec<T>,              // like logits, targets
    pub(crate) dx: Vec<T>,                 // [T, b, I] input gradient
    pub(crate) grads: Vec<T>,              // like Model::params
    pub(crate) mask: Vec<bool>,            // [T, b] per-step rows that count, for padded sequences
    pub(crate) drop_x: Vec<Vec<T>>,        // per layer k >= 1: [T, b, I_k] input after dropout
    pub(crate) drop_mask: Vec<Vec<T>>,     // per layer k >= 1: [T, b, I_k] 0 or 1/(1-p)
    pub(crate) sum: LossSum,
    // Bidirectional layers only.
    pub(crate) rev_x: Vec<Vec<T>>, // per layer: [T, b, I_k] input, each row in reversed order
    pub(crate) cat: Vec<Vec<T>>,   // per layer: [T, b, 2H_k] output [forward | reverse]
    pub(crate) dcat: Vec<Vec<T>>,  // per layer: [T, b, 2H_k] dL/d output
    pub(crate) rev_dx: Vec<T>,     // [T, b, I_k] dL/d rev_x of the layer in backward
    pub(crate) head_in: Vec<T>,    // [b, 2H_top] both final states; then their gradient
    // Head dropout (training) only.
    pub(crate) head_drop: Vec<T>, // what the head reads, after dropout
    pub(crate) head_mask: Vec<T>, // its mask: 0 or 1/(1-p)
}

/// One chunk's share of a pass: which rows, and what to compute.
pub(crate) struct Job<'a, T> {
    pub(crate) input: &'a [T],
    pub(crate) steps: usize,
    pub(crate) b0: usize,
    pub(crate) rows: usize,
    /// Per-class loss weights (cross-entropy only).
    pub(crate) class_weights: Option<&'a [f64]>,
    /// Seed of this pass's dropout masks (used when training with dropout).
    pub(crate) seed: u64,
    /// Real lengths of the whole batch's sequences, when padded.
    pub(crate) lengths: Option<&'a [usize]>,
    pub(crate) init: Option<&'a State<T>>,
    pub(crate) targets: Option<Targets<'a, T>>,
    /// Some(1/N): compute gradients.
    pub(crate) scale: Option<T>,
    pub(crate) want_dx: bool,
    pub(crate) want_dh0: bool,
    /// Weight gradients may be left as factors for [`crate::model::Session::update`].
    pub(crate) defer_outer: bool,
}

impl<'a, T> Job<'a, T> {
    /// A forward pass of rows `b0..b0 + rows` of `x`: no loss, no gradients, no dropout.
    pub(crate) fn forward(x: &Seqs<'a, T>, b0: usize, rows: usize, init: Option<&'a State<T>>) -> Self {
        Job {
            input: x.input,
            steps: x.steps,
            b0,
            rows,
            class_weights: None,
            seed: 0,
            lengths: x.lengths,
            init,
            targets: None,
            scale: None,
            want_dx: false,
            want_dh0: false,
            defer_outer: false,
        }
    }
}

/// Forward (and, for training, loss and backward) of one chunk of batch rows, in stages.
pub(crate) fn run_chunk<T: Float>(m: &Model<T>, ws: &mut Workspace<T>, job: &Job<T>) {
    embed(m, ws, job);
    forward_layers(m, ws, job);
    let n_rows = head_forward(m, ws, job);
    ws.sum = LossSum::default();
    if job.targets.is_none() {
        return;
    }
    loss(m, ws, job, n_rows);
    if job.scale.is_none() {
        return;
    }
    // `logits` now holds dL/dlogits. Every tensor's gradient is written exactly once below,
    // so no zeroing is needed.
    ws.grads.resize(m.params.len(), T::ZERO);
    head_backward(m, ws, job, n_rows);
    backward_layers(m, ws, job);
}

/// This chunk's rows of a batch-first `[b0.., steps]` buffer's lengths, when padded.
fn chunk_lengths<'a, T>(job: &Job<'a, T>) -> Option<&'a [usize]> {
    job.lengths.map(|l| &l[job.b0..job.b0 + job.rows])
}

/// Whether the first layer's input projection is looked up per id ([`layer::project_table`])
/// rather than multiplied: an embedding model, one direction, no gradient asked of the
/// embedded input, and a batch with at least 8 positions per id (decided for the whole batch,
/// so every chunk does the same).
fn from_table<T: Float>(cfg: &ModelConfig, job: &Job<T>) -> bool {
    cfg.vocab_size.is_some_and(|v| cfg.directions() == 1 && !job.want_dx && v * 8 <= job.input.len())
}

/// Stage 1: a time-major copy of this chunk's input, or of the embedding rows of its ids
/// (nothing, when the first layer looks its projection up).
fn embed<T: Float>(m: &Model<T>, ws: &mut Workspace<T>, job: &Job<T>) {
    let cfg = &m.config;
    let (steps, rows, isz) = (job.steps, job.rows, cfg.input_size);
    if from_table(cfg, job) {
        return;
    }
    let table = match cfg.vocab_size {
        Some(_) => split(cfg, &m.params).embedding,
        None => job.input,
    };
    ws.x.resize(steps * rows * isz, T::ZERO);
    for r in 0..rows {
        for t in 0..steps {
            let dst = (t * rows + r) * isz;
            let src = match cfg.vocab_size {
                // Ids were checked to be integers in 0..V.
                Some(_) => job.input[(job.b0 + r) * steps + t].to_f64() as usize * isz,
                None => ((job.b0 + r) * steps + t) * isz,
            };
            ws.x[dst..dst + isz].copy_from_slice(&table[src..src + isz]);
        }
    }
}

/// Stage 2: every layer forward, bottom up, from its initial state (given, learned or
/// zero), on the layer below's output after dropout; a bidirectional layer also runs its
/// reverse direction and concatenates the two.
fn forward_layers<T: Float>(m: &Model<T>, ws: &mut Workspace<T>, job: &Job<T>) {
    let cfg = &m.config;
    let (steps, rows) = (job.steps, job.rows);
    let (cell, dirs, num_layers) = (cfg.cell, cfg.directions(), cfg.num_layers());
    let params = split(cfg, &m.params);
    let lp = &params.layers;
    let lens = chunk_lengths(job);
    let Workspace { x: ws_x, layers, drop_x, drop_mask, rev_x, cat, dcat, .. } = ws;
    layers.resize_with(num_layers * dirs, LayerCache::default);
    if dirs == 2 {
        for v in [&mut *rev_x, &mut *cat, &mut *dcat] {
            v.resize_with(num_layers, Vec::new);
        }
    }
    for k in 0..num_layers {
        let hid = cfg.hidden_sizes[k];
        let in_k = cfg.layer_input(k);
        let (lower, upper) = layers.split_at_mut(k * dirs);
        for (d, cache) in upper[..dirs].iter_mut().enumerate() {
            let u = k * dirs + d;
            cache.prepare(cell, steps, rows, hid);
            cache.lengths.clear();
            if let Some(l) = lens {
                cache.lengths.extend_from_slice(l);
            }
            let learned = cfg.learn_init && job.init.is_none();
            cache.h0_zero = job.init.is_none() && !cfg.learn_init;
            cache.need_dh0 = job.want_dh0 || learned;
            cache.defer_allowed = job.defer_outer;
            let span = job.b0 * hid..(job.b0 + rows) * hid;
            match job.init {
                Some(s) => cache.h[..rows * hid].copy_from_slice(&s.h[u][span.clone()]),
                None if learned => fill_rows(&mut cache.h[..rows * hid], params.init_h[u]),
                None => cache.h[..rows * hid].fill(T::ZERO),
            }
            if cell.has_cell_state() {
                match job.init {
                    Some(s) => cache.c[..rows * hid].copy_from_slice(&s.c[u][span]),
                    None if learned => fill_rows(&mut cache.c[..rows * hid], params.init_c[u]),
                    None => cache.c[..rows * hid].fill(T::ZERO),
                }
            }
        }
        // The layer's input: the data, or the layer below's output (after dropout).
        let dropout = cfg.dropout > 0.0 && job.scale.is_some() && k > 0;
        let below: &[T] = match (k, dirs) {
            (0, _) => ws_x,
            (_, 1) => lower[k - 1].outputs(),
            _ => &cat[k - 1],
        };
        if dropout {
            drop_x.resize_with(num_layers, Vec::new);
            drop_mask.resize_with(num_layers, Vec::new);
            let (xd, dm) = (&mut drop_x[k], &mut drop_mask[k]);
            dropout_mask(dm, cfg.dropout, job.seed, k, job.b0, rows, steps, in_k);
            xd.clear();
            xd.extend(below.iter().zip(dm.iter()).map(|(&v, &m)| v * m));
        }
        let x: &[T] = if dropout { &drop_x[k] } else { below };
        let cache = &mut upper[0];
        cache.ids.clear();
        if k == 0 && from_table(cfg, job) {
            // Ids in the chunk's time-major order; they were checked to be in 0..V.
            cache.ids.extend((0..steps * rows).map(|i| {
                let (t, r) = (i / rows, i % rows);
                job.input[(job.b0 + r) * steps + t].to_f64() as u32
            }));
            layer::project_table(cell, &lp[0], params.embedding, in_k, cache);
        }
        layer::forward(cell, &lp[k * dirs], x, in_k, cache);
        if dirs == 2 {
            let rx = &mut rev_x[k];
            rx.resize(steps * rows * in_k, T::ZERO);
            reverse_time(x, rx, steps, rows, in_k, lens);
            layer::forward(cell, &lp[k * dirs + 1], rx, in_k, &mut upper[1]);
            cat[k].resize(steps * rows * 2 * hid, T::ZERO);
            concat_directions(upper[0].outputs(), upper[1].outputs(), &mut cat[k], steps, rows, hid, lens);
        }
    }
}

/// What the head reads, `[n_rows, width]`: the top layer's last output (last-step head) or
/// every output (per-step head); for a bidirectional last-step head, both directions' final
/// states (gathered into `head_in` by [`head_forward`]).
fn head_rows<'a, T: Float>(
    cfg: &ModelConfig,
    layers: &'a [LayerCache<T>],
    cat: &'a [Vec<T>],
    head_in: &'a [T],
) -> &'a [T] {
    let top = (cfg.num_layers() - 1) * cfg.directions();
    match (cfg.head, cfg.directions()) {
        (HeadKind::Last, 1) => layers[top].last_output(),
        (HeadKind::Step, 1) => layers[top].outputs(),
        (HeadKind::Last, _) => head_in,
        (HeadKind::Step, _) => &cat[cfg.num_layers() - 1],
    }
}

/// Whether this pass drops out what the head reads (training with `head_dropout`).
fn head_dropout<T>(cfg: &ModelConfig, job: &Job<T>) -> bool {
    cfg.head_dropout > 0.0 && job.scale.is_some()
}

/// Stage 3: the head, `logits = hs W^T + b` (hs after dropout, in training with
/// `head_dropout`). Returns the number of logit rows.
fn head_forward<T: Float>(m: &Model<T>, ws: &mut Workspace<T>, job: &Job<T>) -> usize {
    let cfg = &m.config;
    let params = split(cfg, &m.params);
    let Workspace { layers, cat, head_in, logits, head_drop, head_mask, .. } = ws;
    let (hid, width, c) = (cfg.top_hidden(), cfg.top_output(), cfg.output_size);
    if cfg.directions() == 2 && cfg.head == HeadKind::Last {
        let top = (cfg.num_layers() - 1) * 2;
        let (f, r) = (layers[top].last_output(), layers[top + 1].last_output());
        head_in.resize(f.len() / hid * width, T::ZERO);
        for (row, dst) in head_in.chunks_exact_mut(width).enumerate() {
            dst[..hid].copy_from_slice(&f[row * hid..(row + 1) * hid]);
            dst[hid..].copy_from_slice(&r[row * hid..(row + 1) * hid]);
        }
    }
    let mut hs = head_rows(cfg, layers, cat, head_in);
    let n_rows = hs.len() / width;
    if head_dropout(cfg, job) {
        // The mask of (step, row) depends on the global row, as between layers; the head
        // counts as layer `num_layers`.
        let steps = n_rows / job.rows;
        dropout_mask(head_mask, cfg.head_dropout, job.seed, cfg.num_layers(), job.b0, job.rows, steps, width);
        head_drop.clear();
        head_drop.extend(hs.iter().zip(head_mask.iter()).map(|(&v, &m)| v * m));
        hs = head_drop;
    }
    logits.resize(n_rows * c, T::ZERO);
    fill_rows(logits, params.head_b);
    gemm(
        T::ONE,
        MatRef::new(hs, n_rows, width),
        MatRef::new(params.head_w, c, width).t(),
        T::ONE,
        MatMut::new(logits, n_rows, c),
    );
    n_rows
}

/// Stage 4: the loss and its gradient over the logits (in place, scaled by 1/N when
/// training), padded steps masked out; the sums go to `ws.sum`.
fn loss<T: Float>(m: &Model<T>, ws: &mut Workspace<T>, job: &Job<T>, n_rows: usize) {
    let cfg = &m.config;
    let (steps, rows, c) = (job.steps, job.rows, cfg.output_size);
    let Some(targets) = job.targets else { return };
    let Workspace { logits, classes, dense, mask, sum, .. } = ws;
    // Targets in the logits' (time-major) row order.
    let row_of = |i: usize| match cfg.head {
        HeadKind::Last => job.b0 + i,
        HeadKind::Step => (job.b0 + i % rows) * steps + i / rows,
    };
    // Per-step heads on padded sequences: rows (t, r) past a sequence's end do not count.
    mask.clear();
    if let (HeadKind::Step, Some(l)) = (cfg.head, chunk_lengths(job)) {
        mask.extend((0..n_rows).map(|i| i / rows < l[i % rows]));
    }
    let mask = (!mask.is_empty()).then_some(&mask[..]);
    *sum = match targets {
        Targets::Classes(y) => {
            classes.clear();
            classes.extend((0..n_rows).map(|i| y[row_of(i)]));
            loss::cross_entropy(logits, c, classes, mask, job.class_weights, job.scale)
        }
        Targets::Dense(y) => {
            dense.clear();
            dense.extend((0..n_rows).flat_map(|i| y[row_of(i) * c..(row_of(i) + 1) * c].iter().copied()));
            match cfg.loss {
                LossKind::Mse => loss::mse(logits, dense, c, mask, job.scale),
                _ => loss::bce_with_logits(logits, dense, c, mask, job.scale),
            }
        }
    };
}

/// Stage 5: the head's gradients, and dL/d(head input) into the top layer's `dh_above` (or
/// `dcat`, split per direction by [`backward_layers`]).
fn head_backward<T: Float>(m: &Model<T>, ws: &mut Workspace<T>, job: &Job<T>, n_rows: usize) {
    let cfg = &m.config;
    let (steps, rows) = (job.steps, job.rows);
    let (hid, width, c) = (cfg.top_hidden(), cfg.top_output(), cfg.output_size);
    let (num_layers, dirs) = (cfg.num_layers(), cfg.directions());
    let top = (num_layers - 1) * dirs;
    let head_w = split(cfg, &m.params).head_w;
    let Workspace { layers, cat, dcat, head_in, logits, grads, head_drop, head_mask, .. } = ws;
    let g = split_mut(cfg, grads);
    let dlogits = MatRef::new(logits, n_rows, c);
    let w = MatRef::new(head_w, c, width);
    let dropped = head_dropout(cfg, job);
    let hs = if dropped { &head_drop[..] } else { head_rows(cfg, layers, cat, head_in) };
    // dL/d(head input) reaches only the kept elements, scaled as they were.
    let unmask = |d: &mut [T]| {
        if dropped {
            for (v, &m) in d.iter_mut().zip(head_mask.iter()) {
                *v *= m;
            }
        }
    };
    // A head tied to the embedding writes its part of the table's gradient first;
    // `backward_layers` adds the lookups' part.
    let g_head_w = if cfg.tie_weights { g.embedding } else { g.head_w };
    gemm(T::ONE, dlogits.t(), MatRef::new(hs, n_rows, width), T::ZERO, MatMut::new(g_head_w, c, width));
    set_colsum(g.head_b, logits);
    match (cfg.head, dirs) {
        (HeadKind::Last, 1) => {
            let (before, last) = layers[top].dh_above.split_at_mut((steps - 1) * rows * hid);
            before.fill(T::ZERO);
            gemm(T::ONE, dlogits, w, T::ZERO, MatMut::new(last, rows, hid));
            unmask(last);
        }
        (HeadKind::Step, 1) => {
            let d = &mut layers[top].dh_above[..n_rows * hid];
            gemm(T::ONE, dlogits, w, T::ZERO, MatMut::new(d, n_rows, hid));
            unmask(d);
        }
        (HeadKind::Last, _) => {
            gemm(T::ONE, dlogits, w, T::ZERO, MatMut::new(head_in, rows, width));
            unmask(head_in);
            for (d, cache) in layers[top..top + 2].iter_mut().enumerate() {
                let (before, last) = cache.dh_above.split_at_mut((steps - 1) * rows * hid);
                before.fill(T::ZERO);
                for (row, dst) in last.chunks_exact_mut(hid).enumerate() {
                    dst.copy_from_slice(&head_in[row * width + d * hid..][..hid]);
                }
            }
        }
        (HeadKind::Step, _) => {
            let dtop = &mut dcat[num_layers - 1];
            dtop.resize(n_rows * width, T::ZERO);
            gemm(T::ONE, dlogits, w, T::ZERO, MatMut::new(dtop, n_rows, width));
            unmask(dtop);
        }
    }
}

/// Stage 6: every layer backward, top down, through dropout; then the embedding's gradient
/// and a learned initial state's.
fn backward_layers<T: Float>(m: &Model<T>, ws: &mut Workspace<T>, job: &Job<T>) {
    let cfg = &m.config;
    let (steps, rows, isz) = (job.steps, job.rows, cfg.input_size);
    let (cell, dirs, num_layers) = (cfg.cell, cfg.directions(), cfg.num_layers());
    let params = split(cfg, &m.params);
    let (lp, emb) = (params.layers, params.embedding);
    let lens = chunk_lengths(job);
    let Workspace { x: ws_x, layers, dx, grads, drop_x, drop_mask, rev_x, cat, dcat, rev_dx, .. } = ws;
    let g = split_mut(cfg, grads);
    let (mut lg, gemb) = (g.layers, g.embedding);
    let (mut g_init_h, mut g_init_c) = (g.init_h, g.init_c);
    let embedded = cfg.vocab_size.is_some();
    for k in (0..num_layers).rev() {
        let hid = cfg.hidden_sizes[k];
        let in_k = cfg.layer_input(k);
        let (lower, upper) = layers.split_at_mut(k * dirs);
        let dropout = cfg.dropout > 0.0 && k > 0;
        if dirs == 1 {
            let cache = &mut upper[0];
            if k == 0 {
                let dx = if (job.want_dx || embedded) && !from_table(cfg, job) {
                    dx.resize(steps * rows * isz, T::ZERO);
                    Some(&mut dx[..])
                } else {
                    None
                };
                layer::backward(cell, &lp[0], ws_x, isz, cache, &mut lg[0], dx);
            } else {
                let below = &mut lower[k - 1];
                let x: &[T] = if dropout { &drop_x[k] } else { &below.h[rows * below.hidden..] };
                layer::backward(cell, &lp[k], x, in_k, cache, &mut lg[k], Some(&mut below.dh_above));
            }
        } else {
            let (f, r) = upper.split_at_mut(1);
            let (fwd, rev) = (&mut f[0], &mut r[0]);
            if k < num_layers - 1 || cfg.head == HeadKind::Step {
                split_directions(&dcat[k], &mut fwd.dh_above, &mut rev.dh_above, steps, rows, hid, lens);
            }
            let x: &[T] = match k {
                0 => ws_x,
                _ if dropout => &drop_x[k],
                _ => &cat[k - 1],
            };
            let dst: Option<&mut Vec<T>> = match k {
                0 if job.want_dx || embedded => Some(dx),
                0 => None,
                _ => Some(&mut dcat[k - 1]),
            };
            let (gf, gr) = lg[k * 2..k * 2 + 2].split_at_mut(1);
            match dst {
                Some(dst) => {
                    dst.resize(steps * rows * in_k, T::ZERO);
                    rev_dx.resize(steps * rows * in_k, T::ZERO);
                    layer::backward(cell, &lp[k * 2], x, in_k, fwd, &mut gf[0], Some(&mut dst[..]));
                    layer::backward(cell, &lp[k * 2 + 1], &rev_x[k], in_k, rev, &mut gr[0], Some(rev_dx));
                    add_reversed(rev_dx, dst, steps, rows, in_k, lens);
                }
                None => {
                    layer::backward(cell, &lp[k * 2], x, in_k, fwd, &mut gf[0], None);
                    layer::backward(cell, &lp[k * 2 + 1], &rev_x[k], in_k, rev, &mut gr[0], None);
                }
            }
        }
        if dropout {
            // The gradient reaches only the kept elements, scaled as they were.
            let d_below: &mut [T] = if dirs == 1 { &mut lower[k - 1].dh_above } else { &mut dcat[k - 1] };
            for (d, &m) in d_below.iter_mut().zip(&drop_mask[k]) {
                *d *= m;
            }
        }
        if k == 0 && embedded && from_table(cfg, job) {
            // From dL/dtable (`[V, G]`, table = E W_ih^T + b): dW_ih = dtable^T E, and
            // dE = dtable W_ih (added to the head's part when tied).
            let (cache, g) = (&upper[0], cell.gates() * cfg.hidden_sizes[0]);
            let v = cache.dtable.len() / g;
            let (dtable, e) = (MatRef::new(&cache.dtable, v, g), MatRef::new(emb, v, isz));
            gemm(T::ONE, dtable.t(), e, T::ZERO, MatMut::new(lg[0].w_ih, g, isz));
            let beta = if cfg.tie_weights { T::ONE } else { T::ZERO };
            gemm(T::ONE, dtable, MatRef::new(lp[0].w_ih, g, isz), beta, MatMut::new(gemb, v, isz));
        } else if k == 0 && embedded {
            // dL/dE[id] = sum of dL/dx over the positions holding that id (plus, when tied,
            // the head's part, written by `head_backward`).
            if !cfg.tie_weights {
                gemb.fill(T::ZERO);
            }
            for r in 0..rows {
                for t in 0..steps {
                    let id = job.input[(job.b0 + r) * steps + t].to_f64() as usize;
                    let src = (t * rows + r) * isz;
                    add_assign(&mut gemb[id * isz..(id + 1) * isz], &dx[src..src + isz]);
                }
            }
        }
        if cfg.learn_init {
            // The learned state is broadcast over the batch: its gradient is dL/dh0 summed
            // over rows (zero when a state was given instead).
            let learned = job.init.is_none();
            for (u, cache) in (k * dirs..).zip(&layers[k * dirs..(k + 1) * dirs]) {
                g_init_h[u].fill(T::ZERO);
                if learned {
                    add_colsum(g_init_h[u], &cache.dh_rec);
                }
                if let Some(gc) = g_init_c.get_mut(u) {
                    gc.fill(T::ZERO);
                    if learned {
                        add_colsum(gc, &cache.dc);
                    }
                }
            }
        }
    }
}

/// Fills `mask` (`[T, b, n]`, time-major) with 0 (dropped, probability p) or 1/(1-p). Each
/// batch row draws from its own stream seeded by (seed, layer, global row), so a mask never
/// depends on how the batch was cut into chunks.
#[allow(clippy::too_many_arguments)]
fn dropout_mask<T: Float>(
    mask: &mut Vec<T>,
    p: f64,
    seed: u64,
    layer: usize,
    b0: usize,
    rows: usize,
    steps: usize,
    n: usize,
) {
    use rand::{RngExt, SeedableRng};
    mask.clear();
    mask.resize(steps * rows * n, T::ZERO);
    let keep = T::from_f64(1.0 / (1.0 - p));
    for r in 0..rows {
        let stream = seed ^ ((layer as u64) << 56) ^ ((b0 + r) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(stream);
        for t in 0..steps {
            for j in 0..n {
                if rng.random::<f64>() >= p {
                    mask[(t * rows + r) * n + j] = keep;
                }
            }
        }
    }
}
