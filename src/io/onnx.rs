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
//! graph: the task metadata holds the mean and deviation (see `docs/deploy.md`).
//!
//! Deliberately not here: the protobuf messages ([`super::onnx_proto`]) and the command line.

use std::path::Path;

use prost::Message;

use crate::cell::CellKind;
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::io::model_file::{ModelFile, config_json, describe};
use crate::io::onnx_proto::{
    AttributeProto, Dimension, FLOAT, GraphProto, INT32, INT64, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
    attr_type,
};
use crate::model::{HeadKind, LossKind, ModelConfig, split};

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
    /// H]` in PyTorch's order, to run a long sequence in pieces. Needs one hidden size.
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
    let (dirs, layers) = (cfg.directions(), cfg.num_layers());
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
    let lstm = cfg.cell.has_cell_state();
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    for k in 0..layers {
        let h = cfg.hidden_sizes[k];
        let units = &p.layers[k * dirs..(k + 1) * dirs];
        let (g_h, i_k) = (cfg.cell.gates() * h, cfg.layer_input(k));
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
                g.ints_tensor(&format!("start_l{k}"), &[(k * dirs) as i64]);
                g.ints_tensor(&format!("end_l{k}"), &[((k + 1) * dirs) as i64]);
                g.ints_tensor("axis0", &[0]);
                let ins = [name, &format!("start_l{k}"), &format!("end_l{k}"), "axis0"];
                g.op("Slice", &ins, &out, vec![])
            } else if let Some(shape) = &state_shape {
                let values = learned[k * dirs..(k + 1) * dirs].concat();
                let init = g.tensor(&format!("init.{name}_l{k}"), &[dirs, 1, h], values);
                g.op("Expand", &[&init, shape], &out, vec![])
            } else {
                String::new()
            }
        };
        let init_h = initial("h0", &p.init_h);
        let init_c = if lstm { initial("c0", &p.init_c) } else { String::new() };
        let top = k + 1 == layers;
        let y = (!top || cfg.head == HeadKind::Step).then(|| format!("Y_l{k}")).unwrap_or_default();
        let y_h = ((top && cfg.head == HeadKind::Last) || opts.stateful).then(|| format!("Y_h_l{k}"));
        let y_c = (lstm && opts.stateful).then(|| format!("Y_c_l{k}"));
        let mut inputs = vec![x.as_str(), &w, &r, &b, &seq_lens, &init_h, &init_c];
        trim(&mut inputs);
        let mut outputs = vec![y.as_str(), y_h.as_deref().unwrap_or(""), y_c.as_deref().unwrap_or("")];
        trim(&mut outputs);
        let direction = if dirs == 2 { "bidirectional" } else { "forward" };
        let mut attrs = vec![int("hidden_size", h as i64), string("direction", direction)];
        if cfg.cell == CellKind::Gru {
            attrs.push(int("linear_before_reset", 1));
        }
        let op = match cfg.cell {
            CellKind::Rnn => "RNN",
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        };
        g.node(op, &inputs, &outputs, attrs);
        h_n.extend(y_h);
        c_n.extend(y_c);
        if !y.is_empty() {
            // [T, D, B, H] -> [T, B, D*H]
            x = if dirs == 1 {
                g.ints_tensor("axis1", &[1]);
                g.op("Squeeze", &[&y, "axis1"], &format!("out_l{k}"), vec![])
            } else {
                let t = g.op("Transpose", &[&y], &format!("Y_tbdh_l{k}"), vec![ints("perm", &[0, 2, 1, 3])]);
                g.ints_tensor("shape_0_0_m1", &[0, 0, -1]);
                g.op("Reshape", &[&t, "shape_0_0_m1"], &format!("out_l{k}"), vec![])
            };
        }
    }
    let out_name = if opts.probs { "probs" } else { "logits" };
    let (c, width) = (cfg.output_size, cfg.top_output());
    g.tensor("head.weight", &[c, width], p.head_w.to_vec());
    g.tensor("head.bias", &[c], p.head_b.to_vec());
    let logits_name = if opts.probs { "logits" } else { out_name };
    let logits = match cfg.head {
        HeadKind::Last => {
            let y_h = format!("Y_h_l{}", layers - 1);
            // [D, B, H] -> [B, D*H]: cat(h_n[-2], h_n[-1]) when bidirectional.
            let last = if dirs == 1 {
                g.ints_tensor("axis0", &[0]);
                g.op("Squeeze", &[&y_h, "axis0"], "last", vec![])
            } else {
                let t = g.op("Transpose", &[&y_h], "last_bdh", vec![ints("perm", &[1, 0, 2])]);
                g.ints_tensor("shape_0_m1", &[0, -1]);
                g.op("Reshape", &[&t, "shape_0_m1"], "last", vec![])
            };
            g.op("Gemm", &[&last, "head.weight", "head.bias"], logits_name, vec![int("transB", 1)])
        }
        HeadKind::Step => {
            let wt = g.op("Transpose", &["head.weight"], "head.weight_t", vec![ints("perm", &[1, 0])]);
            let m = g.op("MatMul", &[&x, &wt], "head_matmul", vec![]);
            let tm = g.op("Add", &[&m, "head.bias"], "logits_time_major", vec![]);
            g.op("Transpose", &[&tm], logits_name, vec![ints("perm", &[1, 0, 2])])
        }
    };
    if opts.probs {
        match cfg.loss {
            LossKind::CrossEntropy => g.op("Softmax", &[&logits], out_name, vec![int("axis", -1)]),
            _ => g.op("Sigmoid", &[&logits], out_name, vec![]),
        };
    }
    if opts.stateful {
        g.op("Concat", &h_n.iter().map(String::as_str).collect::<Vec<_>>(), "h_n", vec![int("axis", 0)]);
        if lstm {
            g.op("Concat", &c_n.iter().map(String::as_str).collect::<Vec<_>>(), "c_n", vec![int("axis", 0)]);
        }
    }
    let graph_io = io_values(cfg, opts, out_name);
    GraphProto {
        node: g.nodes,
        name: Some("recur".into()),
        initializer: g.tensors,
        doc_string: Some(describe(cfg)),
        input: graph_io.0,
        output: graph_io.1,
    }
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

/// Drops trailing empty names: optional inputs and outputs left out at the end.
fn trim(names: &mut Vec<&str>) {
    while names.last().is_some_and(|n| n.is_empty()) {
        names.pop();
    }
}

/// A tensor axis: a fixed size or a named dynamic one.
enum Dim {
    Fixed(usize),
    Named(&'static str),
}

fn value(name: &str, elem_type: i32, dims: &[Dim], doc: &str) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => Dimension { dim_value: Some(*n as i64), dim_param: None },
            Dim::Named(s) => Dimension { dim_value: None, dim_param: Some((*s).into()) },
        })
        .collect();
    let tensor = TensorTypeProto { elem_type: Some(elem_type), shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto { tensor_type: Some(tensor) }),
        doc_string: Some(doc.into()),
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), i: Some(v), r#type: Some(attr_type::INT), ..Default::default() }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        ints: v.to_vec(),
        r#type: Some(attr_type::INTS),
        ..Default::default()
    }
}

fn string(name: &str, v: &str) -> AttributeProto {
    let s = Some(v.as_bytes().to_vec());
    AttributeProto { name: Some(name.into()), s, r#type: Some(attr_type::STRING), ..Default::default() }
}

/// Nodes and constant tensors, in the order they are added.
#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    tensors: Vec<TensorProto>,
}

impl Builder {
    fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: Some(format!("{op}_{}", self.nodes.len())),
            op_type: Some(op.into()),
            attribute,
        });
    }

    /// A node of one output, `out`; returns its name.
    fn op(&mut self, op: &str, inputs: &[&str], out: &str, attrs: Vec<AttributeProto>) -> String {
        self.node(op, inputs, &[out], attrs);
        out.to_string()
    }

    /// A float32 constant; returns its name.
    fn tensor(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push(name, dims.iter().map(|&d| d as i64).collect(), FLOAT, raw)
    }

    /// An int64 vector constant, added once per name (shared by every node that reads it).
    fn ints_tensor(&mut self, name: &str, values: &[i64]) {
        if !self.tensors.iter().any(|t| t.name.as_deref() == Some(name)) {
            let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.push(name, vec![values.len() as i64], INT64, raw);
        }
    }

    fn push(&mut self, name: &str, dims: Vec<i64>, data_type: i32, raw: Vec<u8>) -> String {
        self.tensors.push(TensorProto {
            dims,
            data_type: Some(data_type),
            name: Some(name.into()),
            raw_data: Some(raw),
        });
        name.to_string()
    }
}
