//! A model as an ONNX file of standard operators (`recur export`), for ONNX Runtime and any
//! other runtime: one `LSTM`/`GRU`/`RNN` node per layer, `Gather` for an embedding, `Gemm`
//! (last-step head) or `MatMul` + `Add` (per-step head), and `Softmax`/`Sigmoid` on request.
//!
//! PyTorch's tensors map onto ONNX's as `torch.onnx` maps them: the gate blocks are reordered
//! (LSTM i,f,g,o -> ONNX i,o,f,c; GRU r,z,n -> ONNX z,r,h, with `linear_before_reset=1`,
//! which is PyTorch's GRU), `B` is `b_ih` then `b_hh`, and a bidirectional layer is one node
//! with `direction="bidirectional"`, the forward then the reverse weights on its first axis.
//! ONNX's recurrent operators are time-major: the input is transposed to `[time, batch, ..]`
//! once, and each layer's `Y` `[time, dirs, batch, H]` becomes `[time, batch, dirs*H]` for the
//! next.
//!
//! With a `lengths` input (`sequence_lens`) a last-step head reads the top layer's `Y_h`,
//! which ONNX defines as each row's last real step forwards and step 0 backwards: recur's
//! `cat(h_n[-2], h_n[-1])`. A per-step head's outputs at padded steps are the head applied to
//! zeros (ONNX zeroes `Y` there), where recur repeats the last real step; neither counts.
//!
//! A learned initial state (`init.h0_l{k}`) is a constant `[dirs, 1, H]` expanded over the
//! batch. Dropout is training only and left out. Numeric inputs are not normalized in the
//! graph: the task metadata holds the mean and deviation (see the README's Deploy section).
//!
//! Deliberately not here: the protobuf messages (`onnx_proto.rs`), the graph-building
//! helpers (`onnx_builder.rs`) and the command line.

use std::path::Path;

use prost::Message;

use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::io::model_file::{ModelFile, config_json, describe};
use crate::io::onnx_builder::{Builder, Dim, int, ints, string, trim, value};
use crate::io::onnx_proto::{
    FLOAT, GraphProto, INT32, INT64, ModelProto, OperatorSetIdProto, StringStringEntryProto, ValueInfoProto,
};
use crate::model::{HeadKind, LossKind, ModelConfig, Split, split};

/// Version of the default ONNX operator set the graph uses (`Shape` with `start`/`end` needs
/// 15; ONNX Runtime has run 17 since 1.11).
pub const OPSET: i64 = 17;
/// The ONNX file format version that goes with [`OPSET`].
const IR_VERSION: i64 = 8;

/// What the graph takes and gives besides `input` and `logits`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// A `lengths` input, int64 `[batch]`: each sequence's real length (1..=time) in a padded
    /// batch.
    pub lengths: bool,
    /// Output `probs` (softmax for `ce`, elementwise sigmoid for `bce`) instead of `logits`.
    pub probs: bool,
    /// Inputs `h0` (and `c0` for LSTM) and outputs `h_n` (and `c_n`), `[layers*dirs, batch,
    /// H]` in PyTorch's order, to run a long sequence in pieces. Needs one hidden size. A
    /// learned initial state is then not in the graph: the first piece's `h0` is the caller's
    /// (zeros, or the `init.h0_l{k}` tensors repeated over the batch).
    pub stateful: bool,
}

/// Writes the ONNX graph of `file`'s model to `path` atomically (nothing is written on error).
pub fn export(file: &ModelFile, opts: ExportOptions, path: &Path) -> Result<()> {
    write_atomic(path, &to_onnx(file, opts)?)
}

/// The ONNX file of `file`'s model, as bytes; the same model and options give the same bytes.
pub fn to_onnx(file: &ModelFile, opts: ExportOptions) -> Result<Vec<u8>> {
    let cfg = &file.model.config;
    check(cfg, opts)?;
    let graph = build(cfg, &file.model.params, opts);
    let mut meta = vec![("config", config_json(cfg))];
    if let Some(task) = &file.task {
        meta.push(("task", task.to_string()));
    }
    let export = serde_json::json!({"lengths": opts.lengths, "probs": opts.probs, "stateful": opts.stateful});
    meta.push(("export", export.to_string()));
    let model = ModelProto {
        ir_version: Some(IR_VERSION),
        producer_name: Some("recur".into()),
        doc_string: Some(describe(cfg)),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
        metadata_props: meta
            .into_iter()
            .map(|(k, v)| StringStringEntryProto { key: Some(k.into()), value: Some(v) })
            .collect(),
    };
    Ok(model.encode_to_vec())
}

/// Refuses what the graph cannot express, naming it.
fn check(cfg: &ModelConfig, opts: ExportOptions) -> Result<()> {
    if opts.probs && cfg.loss == LossKind::Mse {
        return Err(Error::Export(
            "--probs: an mse model outputs values, not logits; there are no probabilities to add".into(),
        ));
    }
    if opts.stateful && cfg.hidden_sizes.windows(2).any(|w| w[0] != w[1]) {
        return Err(Error::Export(format!(
            "--stateful: h0 and h_n are one tensor [layers*dirs, batch, hidden] (as in PyTorch), \
             which needs one hidden size, but the layers have {:?}",
            cfg.hidden_sizes
        )));
    }
    Ok(())
}

/// The graph; `check` has passed.
fn build(cfg: &ModelConfig, params: &[f32], opts: ExportOptions) -> GraphProto {
    let p = split(cfg, params);
    let mut g = Builder::default();
    let mut x = "input".to_string();
    if let Some(v) = cfg.vocab_size {
        g.tensor("embedding.weight", &[v, cfg.input_size], p.embedding.to_vec());
        x = g.op("Gather", &["embedding.weight", &x], "embedded", vec![]);
    }
    x = g.op("Transpose", &[&x], "x_time_major", vec![ints("perm", &[1, 0, 2])]);
    let seq_lens = match opts.lengths {
        true => g.op("Cast", &["lengths"], "seq_lens", vec![int("to", INT32.into())]),
        false => String::new(),
    };
    // [1, batch, 1], to broadcast a learned initial state over the batch.
    let state_shape = (cfg.learn_init && !opts.stateful).then(|| {
        let b = g.op("Shape", &["input"], "batch", vec![int("start", 0), int("end", 1)]);
        g.ints_tensor("one", &[1]);
        g.op("Concat", &["one", &b, "one"], "state_shape", vec![int("axis", 0)])
    });
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    for k in 0..cfg.num_layers() {
        let ins = LayerInputs { x: &x, seq_lens: &seq_lens, state_shape: state_shape.as_deref() };
        let out = layer(&mut g, cfg, &p, k, ins, opts);
        h_n.extend(out.y_h);
        c_n.extend(out.y_c);
        x = out.y.unwrap_or_default();
    }
    let out_name = head(&mut g, cfg, &p, &x, opts);
    if opts.stateful {
        for (names, out) in [(&h_n, "h_n"), (&c_n, "c_n")].into_iter().filter(|(n, _)| !n.is_empty()) {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            g.op("Concat", &names, out, vec![int("axis", 0)]);
        }
    }
    let (input, output) = io_values(cfg, opts, out_name);
    GraphProto {
        node: g.nodes,
        name: Some("recur".into()),
        initializer: g.tensors,
        doc_string: Some(describe(cfg)),
        input,
        output,
    }
}

/// What a layer node reads besides its weights.
struct LayerInputs<'a> {
    /// `[T, B, I_k]`.
    x: &'a str,
    /// int32 `[B]`, or `""` for none.
    seq_lens: &'a str,
    /// `[1, B, 1]`, when a learned initial state is broadcast over the batch.
    state_shape: Option<&'a str>,
}

/// What a layer node gives that the graph reads.
struct LayerOutputs {
    /// `[T, B, D*H]`, unless the layer is the top one under a last-step head.
    y: Option<String>,
    /// `[D, B, H]`, for a last-step head or `h_n`.
    y_h: Option<String>,
    /// `[D, B, H]`, for `c_n`.
    y_c: Option<String>,
}

/// Layer `k`: one `LSTM`/`GRU`/`RNN` node with its weights in ONNX's layout, its initial
/// state, and its output reshaped for the next layer.
fn layer(
    g: &mut Builder,
    cfg: &ModelConfig,
    p: &Split<f32>,
    k: usize,
    ins: LayerInputs,
    opts: ExportOptions,
) -> LayerOutputs {
    let (dirs, h, i_k) = (cfg.directions(), cfg.hidden_sizes[k], cfg.layer_input(k));
    let g_h = cfg.cell.gates() * h;
    let units = &p.layers[k * dirs..(k + 1) * dirs];
    let order = |t: &[f32], cols| onnx_gate_order(cfg.cell, t, h, cols);
    let w = units.iter().flat_map(|u| order(u.w_ih, i_k)).collect();
    let w = g.tensor(&format!("W_l{k}"), &[dirs, g_h, i_k], w);
    let r = units.iter().flat_map(|u| order(u.w_hh, h)).collect();
    let r = g.tensor(&format!("R_l{k}"), &[dirs, g_h, h], r);
    let b = units.iter().flat_map(|u| [order(u.b_ih, 1), order(u.b_hh, 1)].concat()).collect();
    let b = g.tensor(&format!("B_l{k}"), &[dirs, 2 * g_h], b);
    let mut initial = |name: &str, learned: &[&[f32]]| -> String {
        let out = format!("{name}_l{k}");
        if opts.stateful {
            // Rows k*D..(k+1)*D of the h0/c0 input.
            let (start, end) = (format!("start_l{k}"), format!("end_l{k}"));
            g.ints_tensor(&start, &[(k * dirs) as i64]);
            g.ints_tensor(&end, &[((k + 1) * dirs) as i64]);
            g.ints_tensor("axis0", &[0]);
            g.op("Slice", &[name, &start, &end, "axis0"], &out, vec![])
        } else if let Some(shape) = ins.state_shape {
            let values = learned[k * dirs..(k + 1) * dirs].concat();
            let init = g.tensor(&format!("init.{name}_l{k}"), &[dirs, 1, h], values);
            g.op("Expand", &[&init, shape], &out, vec![])
        } else {
            String::new()
        }
    };
    let lstm = cfg.cell.has_cell_state();
    let init_h = initial("h0", &p.init_h);
    let init_c = if lstm { initial("c0", &p.init_c) } else { String::new() };
    let top = k + 1 == cfg.num_layers();
    let y = (!top || cfg.head == HeadKind::Step).then(|| format!("Y_l{k}"));
    let y_h = ((top && cfg.head == HeadKind::Last) || opts.stateful).then(|| format!("Y_h_l{k}"));
    let y_c = (lstm && opts.stateful).then(|| format!("Y_c_l{k}"));
    let mut inputs = vec![ins.x, &w, &r, &b, ins.seq_lens, &init_h, &init_c];
    trim(&mut inputs);
    let mut outputs: Vec<&str> = [&y, &y_h, &y_c].iter().map(|o| o.as_deref().unwrap_or("")).collect();
    trim(&mut outputs);
    let direction = if dirs == 2 { "bidirectional" } else { "forward" };
    let mut attrs = vec![int("hidden_size", h as i64), string("direction", direction)];
    let op = match cfg.cell {
        CellKind::Rnn => "RNN",
        CellKind::Lstm => "LSTM",
        CellKind::Gru => {
            attrs.push(int("linear_before_reset", 1));
            "GRU"
        }
    };
    g.node(op, &inputs, &outputs, attrs);
    // Y [T, D, B, H] -> [T, B, D*H]
    let y = y.map(|y| {
        let out = format!("out_l{k}");
        if dirs == 1 {
            g.ints_tensor("axis1", &[1]);
            g.op("Squeeze", &[&y, "axis1"], &out, vec![])
        } else {
            let t = g.op("Transpose", &[&y], &format!("Y_tbdh_l{k}"), vec![ints("perm", &[0, 2, 1, 3])]);
            g.ints_tensor("shape_0_0_m1", &[0, 0, -1]);
            g.op("Reshape", &[&t, "shape_0_0_m1"], &out, vec![])
        }
    });
    LayerOutputs { y, y_h, y_c }
}

/// The head on the top layer's output `x` `[T, B, D*H]` (per-step head) or its `Y_h`
/// (last-step head), then softmax or sigmoid with `--probs`; returns the output's name.
fn head(g: &mut Builder, cfg: &ModelConfig, p: &Split<f32>, x: &str, opts: ExportOptions) -> &'static str {
    let (c, width, dirs) = (cfg.output_size, cfg.top_output(), cfg.directions());
    g.tensor("head.weight", &[c, width], p.head_w.to_vec());
    g.tensor("head.bias", &[c], p.head_b.to_vec());
    let logits = match cfg.head {
        HeadKind::Last => {
            let y_h = format!("Y_h_l{}", cfg.num_layers() - 1);
            // [D, B, H] -> [B, D*H]: cat(h_n[-2], h_n[-1]) when bidirectional.
            let last = if dirs == 1 {
                g.ints_tensor("axis0", &[0]);
                g.op("Squeeze", &[&y_h, "axis0"], "last", vec![])
            } else {
                let t = g.op("Transpose", &[&y_h], "last_bdh", vec![ints("perm", &[1, 0, 2])]);
                g.ints_tensor("shape_0_m1", &[0, -1]);
                g.op("Reshape", &[&t, "shape_0_m1"], "last", vec![])
            };
            g.op("Gemm", &[&last, "head.weight", "head.bias"], "logits", vec![int("transB", 1)])
        }
        HeadKind::Step => {
            let wt = g.op("Transpose", &["head.weight"], "head.weight_t", vec![ints("perm", &[1, 0])]);
            let m = g.op("MatMul", &[x, &wt], "head_matmul", vec![]);
            let tm = g.op("Add", &[&m, "head.bias"], "logits_time_major", vec![]);
            g.op("Transpose", &[&tm], "logits", vec![ints("perm", &[1, 0, 2])])
        }
    };
    if !opts.probs {
        return "logits";
    }
    match cfg.loss {
        LossKind::CrossEntropy => g.op("Softmax", &[&logits], "probs", vec![int("axis", -1)]),
        _ => g.op("Sigmoid", &[&logits], "probs", vec![]),
    };
    "probs"
}

/// The graph's inputs and outputs, with their types, shapes and what they mean.
fn io_values(
    cfg: &ModelConfig,
    opts: ExportOptions,
    out_name: &str,
) -> (Vec<ValueInfoProto>, Vec<ValueInfoProto>) {
    use Dim::{Fixed, Named};
    let mut inputs = vec![match cfg.vocab_size {
        Some(v) => value(
            "input",
            INT64,
            &[Named("batch"), Named("time")],
            &format!("token ids 0..{v}, [batch, time]"),
        ),
        None => value(
            "input",
            FLOAT,
            &[Named("batch"), Named("time"), Fixed(cfg.input_size)],
            "features per step, [batch, time, features]; normalized as metadata `task.normalize` says",
        ),
    }];
    if opts.lengths {
        let doc = "real length (1..=time) of each sequence; the steps after it are padding";
        inputs.push(value("lengths", INT64, &[Named("batch")], doc));
    }
    let c = Fixed(cfg.output_size);
    let out_dims = match cfg.head {
        HeadKind::Last => vec![Named("batch"), c],
        HeadKind::Step => vec![Named("batch"), Named("time"), c],
    };
    let what = if opts.probs { "probabilities" } else { "logits" };
    let mut outputs = vec![value(out_name, FLOAT, &out_dims, &format!("the head's {what}"))];
    if opts.stateful {
        let state = [Fixed(cfg.num_layers() * cfg.directions()), Named("batch"), Fixed(cfg.hidden_sizes[0])];
        let states: &[_] =
            if cfg.cell.has_cell_state() { &[("h0", "h_n"), ("c0", "c_n")] } else { &[("h0", "h_n")] };
        for (i, o) in states {
            inputs.push(value(i, FLOAT, &state, "initial state per layer and direction (PyTorch's order)"));
            outputs.push(value(o, FLOAT, &state, "final state: the next piece's initial state"));
        }
    }
    (inputs, outputs)
}

/// The rows of a `[G*H, cols]` PyTorch tensor (or `[G*H]` with `cols` 1) with its gate blocks
/// in ONNX's order.
fn onnx_gate_order(cell: CellKind, t: &[f32], h: usize, cols: usize) -> Vec<f32> {
    let order: &[usize] = match cell {
        CellKind::Rnn => &[0],
        CellKind::Lstm => &[0, 3, 1, 2], // i, f, g, o -> i, o, f, c
        CellKind::Gru => &[1, 0, 2],     // r, z, n -> z, r, h
    };
    order.iter().flat_map(|&gate| &t[gate * h * cols..(gate + 1) * h * cols]).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    #[test]
    fn gate_blocks_go_to_onnx_order() {
        // Two rows per gate block (H = 2), one column: values name their PyTorch gate.
        let t: Vec<f32> = (0..4).flat_map(|g| [g as f32, g as f32]).collect();
        assert_eq!(onnx_gate_order(CellKind::Lstm, &t, 2, 1), [0., 0., 3., 3., 1., 1., 2., 2.]);
        assert_eq!(onnx_gate_order(CellKind::Gru, &t[..6], 2, 1), [1., 1., 0., 0., 2., 2.]);
        assert_eq!(onnx_gate_order(CellKind::Rnn, &t[..2], 2, 1), [0., 0.]);
    }

    #[test]
    fn a_bidirectional_two_layer_gru_is_two_gru_nodes_with_the_config_as_metadata() {
        let cfg = ModelConfig {
            bidirectional: true,
            learn_init: true,
            ..ModelConfig::new(CellKind::Gru, 3, vec![4, 4], 2, HeadKind::Last, LossKind::CrossEntropy)
        };
        let params = vec![0.5; crate::model::param_specs(&cfg).iter().map(|s| s.len()).sum()];
        let file = ModelFile {
            model: Model::from_params(cfg.clone(), params).unwrap(),
            task: None,
            inferred: false,
        };
        let opts = ExportOptions { lengths: true, probs: true, stateful: true };
        let bytes = to_onnx(&file, opts).unwrap();
        assert_eq!(bytes, to_onnx(&file, opts).unwrap());
        let m = ModelProto::decode(&bytes[..]).unwrap();
        let g = m.graph.unwrap();
        let grus: Vec<_> = g.node.iter().filter(|n| n.op_type.as_deref() == Some("GRU")).collect();
        assert_eq!(grus.len(), 2);
        for n in grus {
            let attr = |k: &str| n.attribute.iter().find(|a| a.name.as_deref() == Some(k)).unwrap();
            assert_eq!(attr("direction").s.as_deref(), Some(&b"bidirectional"[..]));
            assert_eq!(attr("linear_before_reset").i, Some(1));
        }
        let names = |v: &[ValueInfoProto]| v.iter().map(|i| i.name.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(&g.input), ["input", "lengths", "h0"]);
        assert_eq!(names(&g.output), ["probs", "h_n"]);
        let meta = &m.metadata_props[0];
        assert_eq!((meta.key.as_deref(), meta.value.clone()), (Some("config"), Some(config_json(&cfg))));
    }
}
