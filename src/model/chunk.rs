//! One thread's share of a pass: forward through every layer, the head and the loss, and
//! backward through all of it, on a contiguous chunk of batch rows, with buffers that persist
//! from step to step. [`super::pass`] cuts batches into chunks and combines their results.

use crate::float::Float;
use crate::model::layer::{self, LayerCache};
use crate::model::loss::{self, LossKind, LossSum};
use crate::model::pass::{State, Targets};
use crate::model::{HeadKind, Model, split, split_mut};
use crate::ops::{MatMut, MatRef, add_assign, add_colsum, fill_rows, gemm, set_colsum};

/// One thread's buffers, reused from step to step.
#[derive(Default, Debug)]
pub struct Workspace<T> {
    pub(crate) x: Vec<T>,                  // [T, b, I] time-major input chunk
    pub(crate) layers: Vec<LayerCache<T>>, // one per layer
    pub(crate) logits: Vec<T>,             // [b, C] or [T, b, C]; dlogits after the loss
    pub(crate) classes: Vec<u32>,          // [b] or [T, b] targets, time-major
    pub(crate) dense: Vec<T>,              // like logits, targets
    pub(crate) dx: Vec<T>,                 // [T, b, I] input gradient
    pub(crate) grads: Vec<T>,
    pub(crate) mask: Vec<bool>, // [T, b] per-step rows that count, for padded sequences
    pub(crate) drop_x: Vec<Vec<T>>, // per layer k >= 1: [T, b, H_{k-1}] input after dropout
    pub(crate) drop_mask: Vec<Vec<T>>, // per layer k >= 1: [T, b, H_{k-1}] 0 or 1/(1-p)              // like Model::params
    pub(crate) sum: LossSum,
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
}

/// Forward (and, for training, loss and backward) of one chunk of batch rows.
pub(crate) fn run_chunk<T: Float>(m: &Model<T>, ws: &mut Workspace<T>, job: &Job<T>) {
    let cfg = &m.config;
    let (steps, rows, isz) = (job.steps, job.rows, cfg.input_size);
    let cell = cfg.cell;
    let params = split(cfg, &m.params);
    let (lp, head_w, head_b) = (&params.layers, params.head_w, params.head_b);

    // Time-major copy of this chunk's input, or of the embedding rows of its token ids.
    ws.x.resize(steps * rows * isz, T::ZERO);
    for r in 0..rows {
        for t in 0..steps {
            let dst = (t * rows + r) * isz;
            let src = match cfg.vocab_size {
                // Ids were checked to be integers in 0..V.
                Some(_) => job.input[(job.b0 + r) * steps + t].to_f64() as usize * isz,
                None => ((job.b0 + r) * steps + t) * isz,
            };
            let table = if cfg.vocab_size.is_some() { params.embedding } else { job.input };
            ws.x[dst..dst + isz].copy_from_slice(&table[src..src + isz]);
        }
    }
    ws.layers.resize_with(cfg.num_layers(), LayerCache::default);
    for k in 0..cfg.num_layers() {
        let hid = cfg.hidden_sizes[k];
        let (lower, upper) = ws.layers.split_at_mut(k);
        let cache = &mut upper[0];
        cache.prepare(cell, steps, rows, hid);
        cache.lengths.clear();
        if let Some(l) = job.lengths {
            cache.lengths.extend_from_slice(&l[job.b0..job.b0 + rows]);
        }
        let learned = cfg.learn_init && job.init.is_none();
        cache.h0_zero = job.init.is_none() && !cfg.learn_init;
        cache.need_dh0 = job.want_dh0 || learned;
        let span = job.b0 * hid..(job.b0 + rows) * hid;
        match job.init {
            Some(s) => cache.h[..rows * hid].copy_from_slice(&s.h[k][span.clone()]),
            None if learned => fill_rows(&mut cache.h[..rows * hid], params.init_h[k]),
            None => cache.h[..rows * hid].fill(T::ZERO),
        }
        if cell.has_cell_state() {
            match job.init {
                Some(s) => cache.c[..rows * hid].copy_from_slice(&s.c[k][span]),
                None if learned => fill_rows(&mut cache.c[..rows * hid], params.init_c[k]),
                None => cache.c[..rows * hid].fill(T::ZERO),
            }
        }
        let dropout = cfg.dropout > 0.0 && job.scale.is_some() && k > 0;
        if dropout {
            let below = lower[k - 1].outputs();
            ws.drop_x.resize_with(cfg.num_layers(), Vec::new);
            ws.drop_mask.resize_with(cfg.num_layers(), Vec::new);
            let (xd, mask) = (&mut ws.drop_x[k], &mut ws.drop_mask[k]);
            dropout_mask(mask, cfg.dropout, job.seed, k, job.b0, rows, steps, cfg.layer_input(k));
            xd.clear();
            xd.extend(below.iter().zip(mask.iter()).map(|(&v, &m)| v * m));
        }
        let x: &[T] = match (k, dropout) {
            (0, _) => &ws.x,
            (_, true) => &ws.drop_x[k],
            _ => lower[k - 1].outputs(),
        };
        layer::forward(cell, &lp[k], x, cfg.layer_input(k), cache);
    }

    // Head: logits = hs W^T + b.
    let top = ws.layers.last().expect("at least one layer");
    let hid = cfg.top_hidden();
    let c = cfg.output_size;
    let hs: &[T] = match cfg.head {
        HeadKind::Last => top.last_output(),
        HeadKind::Step => top.outputs(),
    };
    let n_rows = hs.len() / hid;
    ws.logits.resize(n_rows * c, T::ZERO);
    fill_rows(&mut ws.logits, head_b);
    gemm(
        T::ONE,
        MatRef::new(hs, n_rows, hid),
        MatRef::new(head_w, c, hid).t(),
        T::ONE,
        MatMut::new(&mut ws.logits, n_rows, c),
    );

    ws.sum = LossSum::default();
    let Some(targets) = job.targets else { return };
    // Targets in the logits' (time-major) row order.
    let row_of = |i: usize| match cfg.head {
        HeadKind::Last => job.b0 + i,
        HeadKind::Step => (job.b0 + i % rows) * steps + i / rows,
    };
    // Per-step heads on padded sequences: rows (t, r) past a sequence's end do not count.
    ws.mask.clear();
    if let (HeadKind::Step, Some(l)) = (cfg.head, job.lengths) {
        ws.mask.extend((0..n_rows).map(|i| i / rows < l[job.b0 + i % rows]));
    }
    let mask = (!ws.mask.is_empty()).then_some(&ws.mask[..]);
    ws.sum = match targets {
        Targets::Classes(y) => {
            ws.classes.clear();
            ws.classes.extend((0..n_rows).map(|i| y[row_of(i)]));
            loss::cross_entropy(&mut ws.logits, c, &ws.classes, mask, job.class_weights, job.scale)
        }
        Targets::Dense(y) => {
            ws.dense.clear();
            ws.dense.extend((0..n_rows).flat_map(|i| y[row_of(i) * c..(row_of(i) + 1) * c].iter().copied()));
            match cfg.loss {
                LossKind::Mse => loss::mse(&mut ws.logits, &ws.dense, c, mask, job.scale),
                _ => loss::bce_with_logits(&mut ws.logits, &ws.dense, c, mask, job.scale),
            }
        }
    };
    if job.scale.is_none() {
        return;
    }

    // Backward. ws.logits now holds dL/dlogits.
    // Every tensor's gradient is written exactly once below, so no zeroing is needed.
    ws.grads.resize(m.params.len(), T::ZERO);
    let grads = split_mut(cfg, &mut ws.grads);
    let (mut lg, gw, gb, gemb) = (grads.layers, grads.head_w, grads.head_b, grads.embedding);
    let (mut g_init_h, mut g_init_c) = (grads.init_h, grads.init_c);
    let dlogits = MatRef::new(&ws.logits, n_rows, c);
    let top_k = cfg.num_layers() - 1;
    {
        let top = &mut ws.layers[top_k];
        let hs: &[T] = match cfg.head {
            HeadKind::Last => &top.h[steps * rows * hid..],
            HeadKind::Step => &top.h[rows * hid..],
        };
        gemm(T::ONE, dlogits.t(), MatRef::new(hs, n_rows, hid), T::ZERO, MatMut::new(gw, c, hid));
        set_colsum(gb, &ws.logits);
        let w = MatRef::new(head_w, c, hid);
        match cfg.head {
            HeadKind::Last => {
                let (before, last) = top.dh_above.split_at_mut((steps - 1) * rows * hid);
                before.fill(T::ZERO);
                gemm(T::ONE, dlogits, w, T::ZERO, MatMut::new(last, rows, hid));
            }
            HeadKind::Step => gemm(T::ONE, dlogits, w, T::ZERO, MatMut::new(&mut top.dh_above, n_rows, hid)),
        }
    }
    for k in (0..cfg.num_layers()).rev() {
        let (lower, upper) = ws.layers.split_at_mut(k);
        let cache = &mut upper[0];
        if k == 0 {
            let embedded = cfg.vocab_size.is_some();
            let dx = if job.want_dx || embedded {
                ws.dx.resize(steps * rows * isz, T::ZERO);
                Some(&mut ws.dx[..])
            } else {
                None
            };
            layer::backward(cell, &lp[0], &ws.x, isz, cache, &mut lg[0], dx);
            if embedded {
                // dL/dE[id] = sum of dL/dx over the positions holding that id.
                gemb.fill(T::ZERO);
                for r in 0..rows {
                    for t in 0..steps {
                        let id = job.input[(job.b0 + r) * steps + t].to_f64() as usize;
                        let src = (t * rows + r) * isz;
                        add_assign(&mut gemb[id * isz..(id + 1) * isz], &ws.dx[src..src + isz]);
                    }
                }
            }
        } else {
            let below = &mut lower[k - 1];
            let dropout = cfg.dropout > 0.0;
            let x: &[T] = if dropout { &ws.drop_x[k] } else { &below.h[rows * below.hidden..] };
            layer::backward(
                cell,
                &lp[k],
                x,
                cfg.layer_input(k),
                cache,
                &mut lg[k],
                Some(&mut below.dh_above),
            );
            if dropout {
                // The gradient reaches only the kept elements, scaled as they were.
                for (d, &m) in below.dh_above.iter_mut().zip(&ws.drop_mask[k]) {
                    *d *= m;
                }
            }
        }
        if cfg.learn_init {
            // The learned state is broadcast over the batch: its gradient is dL/dh0 summed
            // over rows (zero when a state was given instead).
            let cache = &ws.layers[k];
            let learned = job.init.is_none();
            g_init_h[k].fill(T::ZERO);
            if learned {
                add_colsum(g_init_h[k], &cache.dh_rec);
            }
            if let Some(gc) = g_init_c.get_mut(k) {
                gc.fill(T::ZERO);
                if learned {
                    add_colsum(gc, &cache.dc);
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
