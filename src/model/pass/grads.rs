//! The parameter gradients a [`Session`] holds between `loss_and_grad` and the optimizer:
//! reading them, clipping them and applying them, including a weight gradient that a
//! [`super::GradOptions::fused_update`] pass left as its outer-product factors (formed here
//! only when something needs it whole, else inside the update).

use super::chunk::Workspace;
use crate::float::Float;
use crate::model::layer::LayerCache;
use crate::model::{Model, ModelConfig, w_hh_offset};
use crate::ops::grads::{ApplyGrads, OuterSum, clip_coef, clip_grad_norm, scale, sum_squares};
use crate::ops::{MatMut, MatRef, gemm};

use super::Session;

impl<T: Float> Session<T> {
    /// Forms the weight gradients the last pass left as factors into `param_grads`, before a
    /// new pass overwrites the buffers they live in (so `update` stays right after any pass).
    pub(super) fn form_deferred(&mut self, m: &Model<T>) {
        let cfg = &m.config;
        let Some(ws) = self.work.first_mut() else { return };
        let Workspace { layers, grads, .. } = ws;
        for o in pending(layers, cfg) {
            let dw = MatMut::new(&mut grads[o.offset..o.offset + o.rows * o.cols], o.rows, o.cols);
            let (u, w) = (MatRef::new(o.u, o.k, o.rows), MatRef::new(o.w, o.k, o.cols));
            gemm(T::ONE, u.t(), w, T::ZERO, dw);
        }
        for cache in layers.iter_mut() {
            cache.deferred = None;
        }
        self.deferred = false;
    }

    /// Parameter gradients of the last [`Session::loss_and_grad`], laid out like
    /// `Model::params`.
    ///
    /// # Panics
    /// After a pass with [`GradOptions::fused_update`] that left gradients unformed.
    pub fn param_grads(&self) -> &[T] {
        assert!(!self.deferred, "param_grads after a fused_update pass: apply it with Session::update");
        self.work.first().map_or(&[], |w| &w.grads)
    }

    /// Mutable parameter gradients, e.g. for clipping.
    ///
    /// # Panics
    /// As [`Session::param_grads`].
    pub fn param_grads_mut(&mut self) -> &mut [T] {
        assert!(!self.deferred, "param_grads_mut after a fused_update pass: apply it with Session::update");
        self.work.first_mut().map_or(&mut [], |w| &mut w.grads)
    }

    /// Whether the last pass left weight gradients as factors, to be formed in
    /// [`Session::update`] ([`GradOptions::fused_update`]); [`Session::param_grads`] is not
    /// available until then.
    pub fn grads_pending(&self) -> bool {
        self.deferred
    }

    /// Hands the gradients of the last [`Session::loss_and_grad`] to `opt` (an
    /// `Optimizer`) for one step on `m`: `opt.step(params, param_grads)`,
    /// with any weight gradient the pass left as factors ([`GradOptions::fused_update`])
    /// formed inside the update.
    pub fn update(&mut self, m: &mut Model<T>, opt: &mut impl ApplyGrads<T>) {
        let Some(ws) = self.work.first() else { return };
        let outer = if self.deferred { pending(&ws.layers, &m.config) } else { Vec::new() };
        opt.apply(&mut m.params, &ws.grads, &outer);
        self.deferred = false;
    }

    /// Clips the gradients of the last [`Session::loss_and_grad`] to global L2 norm
    /// `max_norm`, as [`clip_grad_norm`] on [`Session::param_grads`] would
    /// (PyTorch's `clip_grad_norm_`), also while some are pending after a
    /// [`GradOptions::fused_update`] pass: a pending `dW_hh = sum_q da_q^T h_q` has the squared
    /// norm [`OuterSum::sum_squares`], and scaling its `da` factors scales it.
    /// Returns the norm before clipping (infinite or NaN if a gradient is).
    pub fn clip_grad_norm(&mut self, m: &Model<T>, max_norm: f64) -> f64 {
        let cfg = &m.config;
        let Some(ws) = self.work.first_mut() else { return 0.0 };
        if !self.deferred {
            return clip_grad_norm(&mut ws.grads, max_norm);
        }
        // The pending tensors' squared norms from their factors, and the dense ranges
        // between them (the flat gradient holds stale values inside the pending ones).
        let outer = pending(&ws.layers, cfg);
        let mut sq: f64 = outer.iter().map(OuterSum::sum_squares).sum();
        let mut ranges: Vec<_> = outer.iter().map(|o| o.offset..o.offset + o.rows * o.cols).collect();
        ranges.sort_by_key(|r| r.start);
        let mut dense = Vec::new();
        let mut at = 0;
        for r in ranges {
            dense.push(at..r.start);
            at = r.end;
        }
        dense.push(at..ws.grads.len());
        sq += dense.iter().map(|r| sum_squares(&ws.grads[r.clone()])).sum::<f64>();
        let norm = sq.sqrt();
        if let Some(c) = clip_coef(norm, max_norm).map(T::from_f64) {
            for r in dense {
                scale(&mut ws.grads[r], c);
            }
            for cache in ws.layers.iter_mut() {
                if let Some(da) = cache.w_hh_factor_da_mut(cfg.cell) {
                    scale(da, c);
                }
            }
        }
        norm
    }
}

/// The weight gradients the last pass left as factors in `layers`, as outer-product sums at
/// their place in the flat parameter layout.
fn pending<'a, T: Float>(layers: &'a [LayerCache<T>], cfg: &ModelConfig) -> Vec<OuterSum<'a, T>> {
    let mut outer = Vec::new();
    for (u, cache) in layers.iter().enumerate() {
        let Some((da, h)) = cache.w_hh_factors(cfg.cell) else { continue };
        let (rows, cols) = (cfg.cell.gates() * cache.hidden, cache.hidden);
        let k = h.len() / cols;
        outer.push(OuterSum { offset: w_hh_offset(cfg, u), rows, cols, k, u: da, w: h });
    }
    outer
}
