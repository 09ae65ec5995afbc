//! Building an ONNX graph: nodes and constant tensors in order, attributes, and typed graph
//! inputs and outputs, over the messages of [`super::onnx_proto`].

use crate::io::onnx_proto::{
    AttributeProto, Dimension, FLOAT, INT64, NodeProto, TensorProto, TensorShapeProto, TensorTypeProto,
    TypeProto, ValueInfoProto, attr_type,
};

/// Drops trailing empty names: optional inputs and outputs left out at the end.
pub fn trim(names: &mut Vec<&str>) {
    while names.last().is_some_and(|n| n.is_empty()) {
        names.pop();
    }
}

/// A tensor axis: a fixed size or a named dynamic one.
pub enum Dim {
    Fixed(usize),
    Named(&'static str),
}

/// A graph input or output of `elem_type` and shape `dims`, with a line on what it means.
pub fn value(name: &str, elem_type: i32, dims: &[Dim], doc: &str) -> ValueInfoProto {
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

/// An int attribute.
pub fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), i: Some(v), r#type: Some(attr_type::INT), ..Default::default() }
}

/// A list-of-ints attribute.
pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        ints: v.to_vec(),
        r#type: Some(attr_type::INTS),
        ..Default::default()
    }
}

/// A string attribute.
pub fn string(name: &str, v: &str) -> AttributeProto {
    let s = Some(v.as_bytes().to_vec());
    AttributeProto { name: Some(name.into()), s, r#type: Some(attr_type::STRING), ..Default::default() }
}

/// Nodes and constant tensors, in the order they are added.
#[derive(Default)]
pub struct Builder {
    pub nodes: Vec<NodeProto>,
    pub tensors: Vec<TensorProto>,
}

impl Builder {
    pub fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: Some(format!("{op}_{}", self.nodes.len())),
            op_type: Some(op.into()),
            attribute,
        });
    }

    /// A node of one output, `out`; returns its name.
    pub fn op(&mut self, op: &str, inputs: &[&str], out: &str, attrs: Vec<AttributeProto>) -> String {
        self.node(op, inputs, &[out], attrs);
        out.to_string()
    }

    /// A float32 constant; returns its name.
    pub fn tensor(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push(name, dims.iter().map(|&d| d as i64).collect(), FLOAT, raw)
    }

    /// An int64 vector constant, added once per name (shared by every node that reads it).
    pub fn ints_tensor(&mut self, name: &str, values: &[i64]) {
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
