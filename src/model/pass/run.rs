//! How a [`Session`] cuts a batch: into one chunk per thread, or, when a training chunk's
//! activations would not stay in a core's L2 cache, into more tiles than threads, which the
//! threads take as they become free; and how the pieces' results are combined.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::chunk::{Job, Workspace, run_chunk};
use crate::float::Float;
use crate::model::loss::LossSum;
use crate::model::{Model, ModelConfig};
use crate::ops::add_assign;

use super::Session;

/// Bytes of one tile's activations (all layers and steps) meant to stay in a core's L2.
const TILE_CACHE_BYTES: usize = 1 << 20;

/// Fewest rows of a tile: shorter step products lose more than the cache saves.
const MIN_TILE_ROWS: usize = 64;

/// `rows` rows from `b0` cut into `n` contiguous spans `(first row, rows)` of sizes that
/// differ by at most one, the larger first.
fn even_spans(b0: usize, rows: usize, n: usize) -> Vec<(usize, usize)> {
    let (base, extra) = (rows / n, rows % n);
    (0..n).map(|i| (b0 + i * base + i.min(extra), base + (i < extra) as usize)).collect()
}

/// Most rows per tile whose activations stay in L2 from forward to backward and from one
/// tile to the next, so that neither backward nor the next tile's forward goes to memory.
/// Bitcount (T=20, H=24, f32) gets 67 rows: its 1000 rows run as 16 tiles of 62-63.
/// Larger models get [`MIN_TILE_ROWS`], which leaves e.g. mnist's 64 rows per thread whole.
fn tile_rows<T>(cfg: &ModelConfig, steps: usize) -> usize {
    // Per row and step: the gates, h, c, tanh(c) and dL/dh of every unit, and the input.
    let floats: usize = (0..cfg.num_layers())
        .map(|k| cfg.directions() * (cfg.cell.gates() + 4) * cfg.hidden_sizes[k] + cfg.layer_input(k))
        .sum();
    (TILE_CACHE_BYTES / (steps.max(1) * floats * size_of::<T>())).max(MIN_TILE_ROWS)
}

impl<T: Float> Session<T> {
    /// Cuts `batch` rows into chunks and runs `jobs` on them, in parallel when more than one.
    /// With `tiled`, for passes that keep only the loss and the parameter gradients, a batch
    /// whose chunks would not stay in cache runs as tiles instead ([`tile_rows`],
    /// [`Session::run_tiles`]).
    pub(super) fn run<'a>(
        &mut self,
        m: &Model<T>,
        mk: impl Fn(usize, usize) -> Job<'a, T> + Sync,
        batch: usize,
        tiled: bool,
    ) {
        if self.deferred {
            self.form_deferred(m);
        }
        let n = self.threads.min(batch.div_ceil(self.chunk_rows)).max(1);
        if self.work.len() < n {
            self.work.resize_with(n, Workspace::default);
        }
        self.chunks = n;
        let tile = match tiled {
            true => tile_rows::<T>(&m.config, mk(0, batch).steps).max(self.chunk_rows),
            false => usize::MAX,
        };
        let tiles = batch.div_ceil(tile);
        if tiles <= n {
            self.pieces = n;
            if n == 1 {
                run_chunk(m, &mut self.work[0], &mk(0, batch));
            } else {
                // Factored weight gradients of several chunks would need summing: never deferred.
                let job = |b0, rows| Job { defer_outer: false, ..mk(b0, rows) };
                let spans = even_spans(0, batch, n);
                self.work[..n]
                    .par_iter_mut()
                    .zip(spans)
                    .for_each(|(ws, (b0, rows))| run_chunk(m, ws, &job(b0, rows)));
            }
        } else {
            self.run_tiles(m, mk, even_spans(0, batch, tiles.div_ceil(n) * n));
        }
        self.deferred = self.work[..n].iter().any(|ws| ws.layers.iter().any(|c| c.deferred.is_some()));
    }

    /// Runs `tiles` (a cut of the batch) on the threads' workspaces, each thread taking the
    /// next tile when it finishes one, so a core slowed by other work takes fewer. Every
    /// tile's gradients go to a slot of their own and are summed in tile order into the
    /// first workspace, so the result does not depend on which thread ran what.
    fn run_tiles<'a>(
        &mut self,
        m: &Model<T>,
        mk: impl Fn(usize, usize) -> Job<'a, T> + Sync,
        tiles: Vec<(usize, usize)>,
    ) {
        let n = self.chunks;
        self.pieces = tiles.len();
        self.tile_out.resize_with(tiles.len(), Default::default);
        let slots: Vec<Mutex<&mut (Vec<T>, LossSum)>> = self.tile_out.iter_mut().map(Mutex::new).collect();
        let next = AtomicUsize::new(0);
        // Without gradients (evaluate) the workspaces' gradients, which may be the last
        // training pass's, waiting for `update`, are left alone.
        let with_grads = tiles.first().is_some_and(|&(b0, rows)| mk(b0, rows).scale.is_some());
        self.work[..n].par_iter_mut().for_each(|ws| {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(b0, rows)) = tiles.get(i) else { break };
                run_chunk(m, ws, &Job { defer_outer: false, ..mk(b0, rows) });
                // Each slot is locked once, by the thread that took its tile.
                let mut slot = slots[i].lock().unwrap_or_else(|e| e.into_inner());
                if with_grads {
                    std::mem::swap(&mut slot.0, &mut ws.grads);
                }
                slot.1 = ws.sum;
            }
        });
        drop(slots);
        let ws = &mut self.work[0];
        ws.sum = LossSum::default();
        for (i, (grads, sum)) in self.tile_out.iter().enumerate() {
            ws.sum += *sum;
            if with_grads {
                if i == 0 {
                    ws.grads.clone_from(grads);
                } else {
                    add_assign(&mut ws.grads, grads);
                }
            }
        }
        // The sums are all in the first workspace now.
        self.chunks = 1;
    }
}
